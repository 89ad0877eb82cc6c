// A/B variants side by side (one column each) and, under them, the gateway's comparison of their
// read rates in plain words: significant, or could be chance. Hidden without variants.

import { h } from "../../dom.js";
import { GROUP_FIELDS, fieldCell } from "../../group-table.js";
import { card } from "./card.js";

export class VariantsPanel {
  constructor() {
    this.body = h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Variants side by side" });
    this.comparisons = h("ul", { class: "comparisons", id: "variant-comparisons" });
    this.element = card("A/B variants", [this.body, this.comparisons], { id: "h-variants" });
    this.element.hidden = true;
  }

  // `report`: the gateway's /variants answer; null when the campaign has no variants.
  update(report) {
    const variants = report?.variants ?? [];
    this.element.hidden = variants.length === 0;
    this.body.replaceChildren(
      h(
        "table",
        { class: "variants", id: "variants" },
        h("thead", {}, h("tr", {}, h("td", {}), variants.map((v) => h("th", { scope: "col", class: "num" }, `Variant ${v.variant}`)))),
        h(
          "tbody",
          {},
          GROUP_FIELDS.map((field) =>
            h(
              "tr",
              {},
              h("th", { scope: "row" }, field.label),
              variants.map((v) => {
                const cell = fieldCell(field, v);
                cell.dataset.variant = v.variant;
                return cell;
              }),
            ),
          ),
        ),
      ),
    );
    this.comparisons.replaceChildren(...comparisonItems(report?.comparisons, variants.length));
  }
}

// null comparisons: fewer than two variants with delivered messages (a variant with none has no
// read rate and is left out of the comparisons).
function comparisonItems(comparisons, variantCount) {
  if (!comparisons) {
    return variantCount < 2 ? [] : [h("li", { class: "muted" }, "No comparison yet: at least two variants need delivered messages.")];
  }
  return comparisons.map((c) =>
    h(
      "li",
      { dataset: { a: c.a, b: c.b } },
      h("span", { class: `verdict verdict-${c.significant ? "significant" : "chance"}` }, c.significant ? "Significant" : "Could be chance"),
      " ",
      h("span", { class: "comparison-summary" }, c.summary),
    ),
  );
}
