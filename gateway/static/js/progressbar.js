// The stacked progress bar of a campaign (list cards and campaign page share it).

import { h } from "./dom.js";
import { formatPercent, progress } from "./format.js";

const PARTS = ["read", "delivered", "sent", "failed", "skipped"];

export class ProgressBar {
  constructor({ large = false, label = "Campaign progress" } = {}) {
    this.parts = Object.fromEntries(PARTS.map((part) => [part, h("span", { class: `bar-part bar-${part}` })]));
    this.element = h(
      "div",
      {
        class: `progress${large ? " progress-large" : ""}`,
        role: "progressbar",
        "aria-label": label,
        "aria-valuemin": "0",
        "aria-valuemax": "100",
        "aria-valuenow": "0",
      },
      PARTS.map((part) => this.parts[part]),
    );
  }

  // Returns the computed progress so callers can show the same figures as text.
  update(stats) {
    const p = progress(stats);
    for (const part of PARTS) this.parts[part].style.width = `${p.segments[part]}%`;
    this.element.setAttribute("aria-valuenow", Math.min(100, p.processedPercent).toFixed(1));
    this.element.setAttribute("aria-valuetext", `${processedText(p)} processed`);
    return p;
  }
}

// The processed share as the bar and its captions show it (capped: rounding may pass 100).
export function processedText(p) {
  return formatPercent(Math.min(100, p.processedPercent).toFixed(1));
}
