// The progress panel: the large stacked bar with its processed share and a legend.

import { h, setText } from "../../dom.js";
import { statusMeta } from "../../format.js";
import { ProgressBar, processedText } from "../../progressbar.js";

const LEGEND = ["read", "delivered", "sent", "failed", "skipped", "pending"];

export class ProgressPanel {
  constructor() {
    this.bar = new ProgressBar({ large: true, label: "Campaign progress" });
    this.percent = h("strong", { class: "progress-percent", id: "progress-percent" });
    this.element = h(
      "section",
      { class: "card progress-card", "aria-label": "Progress" },
      h("div", { class: "progress-head" }, this.percent, h("span", { class: "muted" }, "processed (sent, failed or skipped)")),
      this.bar.element,
      h(
        "ul",
        { class: "legend" },
        LEGEND.map((status) => h("li", {}, h("span", { class: `swatch bar-${status}`, "aria-hidden": "true" }), statusMeta(status).label)),
      ),
    );
  }

  // Returns the computed progress, which also decides the campaign's phase.
  update(stats) {
    const p = this.bar.update(stats);
    setText(this.percent, processedText(p), { flash: false });
    return p;
  }
}
