// The funnel audience → attempted → sent → delivered → read, each step a bar sized by its share of
// the audience, and beside a step who fell out there. It is an ordered list of text whose bars
// are decoration, so a screen reader reads every figure (docs/dashboard.md).

import { h, setText, statusIcon } from "../../dom.js";
import { STATUSES, formatCount, formatPercent, funnel } from "../../format.js";

// Each step is a subset of the one before.
const STEPS = [
  { key: "audience", label: "Audience", icon: "✉", beside: ["skipped", "queued"] },
  { key: "attempted", label: "Attempted", icon: "➚", beside: ["failed", "awaiting"] },
  { key: "sent", label: "Sent", icon: STATUSES.sent.icon, beside: [] },
  { key: "delivered", label: "Delivered", icon: STATUSES.delivered.icon, beside: [] },
  { key: "read", label: "Read", icon: STATUSES.read.icon, beside: [] },
];

const ASIDES = {
  skipped: { id: "funnel-skipped", label: "skipped", icon: STATUSES.skipped.icon, title: STATUSES.skipped.description },
  queued: { id: "count-queued", label: "queued", icon: "◷", title: "in the audience, neither dispatched nor skipped yet" },
  failed: { id: "funnel-failed", label: "failed", icon: STATUSES.failed.icon, title: STATUSES.failed.description },
  awaiting: { id: "count-awaiting", label: "awaiting update", icon: "◷", title: "dispatched, no acknowledgement beyond pending yet" },
};

export class Funnel {
  constructor() {
    this.figures = {}; // funnel() key → its value element, and for a step its share and bar
    const aside = (key) => {
      const a = ASIDES[key];
      const value = h("strong", { id: a.id }, "–");
      this.figures[key] = { value };
      return h("li", { class: `aside aside-${key}`, title: a.title }, statusIcon(a.icon), value, ` ${a.label}`);
    };
    const steps = STEPS.map((step) => {
      const value = h("strong", { class: "funnel-value", id: `funnel-${step.key}` }, "–");
      const share = h("span", { class: "funnel-share muted" });
      const bar = h("span", { class: `funnel-bar funnel-bar-${step.key}` });
      this.figures[step.key] = { value, share, bar };
      return h(
        "li",
        { class: `funnel-step funnel-step-${step.key}` },
        h("span", { class: "funnel-label" }, statusIcon(step.icon), ` ${step.label}`),
        h("span", { class: "funnel-track", "aria-hidden": "true" }, bar),
        h("span", { class: "funnel-figure" }, value, share),
        h("ul", { class: "funnel-aside" }, step.beside.map(aside)),
      );
    });
    this.element = h(
      "ol",
      { class: "funnel", id: "funnel", "aria-label": "Audience, attempted, sent, delivered, read, and who fell out at each step" },
      steps,
    );
  }

  update(stats) {
    const f = funnel(stats);
    for (const [key, figure] of Object.entries(this.figures)) {
      setText(figure.value, stats ? formatCount(f[key]) : "–");
      if (!figure.bar) continue;
      const percent = f.audience ? (f[key] / f.audience) * 100 : 0;
      figure.bar.style.width = `${Math.min(100, percent)}%`;
      setText(figure.share, stats && key !== "audience" ? formatPercent(percent.toFixed(1)) : "", { flash: false });
    }
  }
}
