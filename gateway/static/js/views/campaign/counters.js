// The counters: every total of the statistics, each with its share of the messages.

import { h, setText, statusIcon } from "../../dom.js";
import { STATUSES, formatCount, formatShare } from "../../format.js";

const COUNTERS = [
  { key: "total", field: "total_message_count", label: "Messages", icon: "✉" },
  { key: "sent", field: "total_sent_count", label: "Sent", icon: STATUSES.sent.icon },
  { key: "delivered", field: "total_delivered_count", label: "Delivered", icon: STATUSES.delivered.icon },
  { key: "read", field: "total_read_count", label: "Read", icon: STATUSES.read.icon },
  { key: "failed", field: "total_failed_count", label: "Failed", icon: STATUSES.failed.icon },
  { key: "skipped", field: "skipped_count", label: "Skipped", icon: STATUSES.skipped.icon },
  { key: "pending", field: "pending_count", label: "Pending", icon: STATUSES.pending.icon },
];

export class Counters {
  constructor() {
    this.counters = COUNTERS.map((c) => ({
      ...c,
      value: h("span", { class: "counter-value", id: `count-${c.key}` }, "–"),
      share: h("span", { class: "counter-share muted" }),
    }));
    this.element = h(
      "ul",
      { class: "counters", "aria-label": "Counters" },
      this.counters.map((c) =>
        h("li", { class: `counter counter-${c.key}` }, h("span", { class: "counter-label" }, statusIcon(c.icon), ` ${c.label}`), c.value, c.share),
      ),
    );
  }

  update(stats) {
    const total = Number(stats?.total_message_count) || 0;
    for (const counter of this.counters) {
      const value = Number(stats?.[counter.field]) || 0;
      setText(counter.value, stats ? formatCount(value) : "–");
      const share = counter.key === "total" ? "" : total ? `${formatShare(value, total)} of messages` : "";
      // played comes after read (voice and video messages), so it rides on the read counter
      const played = counter.key === "read" && stats?.total_played_count;
      setText(counter.share, played ? `${share} · ${formatCount(stats.total_played_count)} played` : share, { flash: false });
    }
  }
}
