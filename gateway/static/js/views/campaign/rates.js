// The delivery, read and success rates, each with a meter and how it is computed.

import { h, setText } from "../../dom.js";
import { formatPercent } from "../../format.js";

const RATES = [
  { key: "delivery", field: "delivery_rate", label: "Delivery rate", hint: "delivered ÷ sent" },
  { key: "read", field: "read_rate", label: "Read rate", hint: "read ÷ delivered" },
  { key: "success", field: "success_rate", label: "Success rate", hint: "sent ÷ messages" },
];

export class Rates {
  constructor() {
    this.rates = RATES.map((r) => ({
      ...r,
      value: h("span", { class: "rate-value", id: `rate-${r.key}` }, "–"),
      meter: h("span", { class: "meter-fill" }),
    }));
    this.element = h(
      "ul",
      { class: "rates", "aria-label": "Rates" },
      this.rates.map((r) =>
        h(
          "li",
          { class: `rate rate-${r.key}` },
          h("span", { class: "counter-label" }, r.label),
          r.value,
          h("span", { class: "meter", "aria-hidden": "true" }, r.meter),
          h("span", { class: "muted small" }, r.hint),
        ),
      ),
    );
  }

  update(stats) {
    for (const rate of this.rates) {
      const value = Number(stats?.[rate.field]) || 0;
      setText(rate.value, stats ? formatPercent(value) : "–");
      rate.meter.style.width = `${Math.min(100, value)}%`;
    }
  }
}
