// The page head: the campaign's name and phase badge, the identity line, and the actions.

import { h, setText } from "../../dom.js";
import { formatDateTime } from "../../format.js";

export class CampaignHeader {
  constructor(title, actions) {
    this.heading = h("h1", { id: "campaign-title" }, title);
    this.phase = h("span", { class: "phase" });
    this.meta = h("p", { class: "muted campaign-meta" });
    this.element = h(
      "div",
      { class: "page-head" },
      h("div", {}, h("div", { class: "title-row" }, this.heading, this.phase), this.meta),
      h("div", { class: "actions" }, actions),
    );
  }

  setTitle(title) {
    setText(this.heading, title, { flash: false });
    document.title = `${title} · tickstream`;
  }

  // The badge gets its id with the first figures, so waiting for #campaign-phase waits for them.
  setPhase({ key, text }) {
    this.phase.className = `phase phase-${key}`;
    this.phase.id = "campaign-phase";
    setText(this.phase, text, { flash: false });
  }

  setMeta(campaignId, uuid, updatedAt) {
    const bits = [`#${campaignId}`];
    if (uuid) bits.push(uuid);
    if (updatedAt) bits.push(`updated ${formatDateTime(updatedAt)}`);
    setText(this.meta, bits.join(" · "), { flash: false });
  }

  setWaiting() {
    setText(this.meta, "Registered, waiting for the first snapshot", { flash: false });
  }
}
