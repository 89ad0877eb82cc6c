// Failures by error and skips by reason, both from the snapshot's insights: the same table of groups
// (code, text, count and share), most frequent first as given.

import { h } from "../../dom.js";
import { formatCount, formatShare } from "../../format.js";
import { card } from "./card.js";

class Breakdown {
  constructor({ id, title, empty, headings, text }) {
    this.id = id;
    this.empty = empty;
    this.headings = headings;
    this.text = text; // the field of a group that holds its text
    this.body = h("div", { id });
    this.element = card(title, [this.body], { id: `h-${id}` });
  }

  // `groups`: [{code, <text>, count}].
  update(groups) {
    if (groups.length === 0) {
      this.body.replaceChildren(h("p", { class: "empty-small" }, h("span", { "aria-hidden": "true" }, "✓ "), this.empty));
      return;
    }
    const total = groups.reduce((sum, g) => sum + g.count, 0);
    const [codeHead, textHead, countHead] = this.headings;
    this.body.replaceChildren(
      h(
        "table",
        { class: `breakdown ${this.id}` },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, codeHead), h("th", { scope: "col" }, textHead), h("th", { scope: "col", class: "num" }, countHead))),
        h(
          "tbody",
          {},
          groups.map((g) =>
            h(
              "tr",
              {},
              h("td", {}, h("code", {}, g.code || "–")),
              h(
                "td",
                {},
                g[this.text] || "no description",
                h("span", { class: "share-bar", "aria-hidden": "true" }, h("span", { style: { width: `${(g.count / total) * 100}%` } })),
              ),
              h("td", { class: "num" }, formatCount(g.count), h("span", { class: "muted small" }, ` ${formatShare(g.count, total)}`)),
            ),
          ),
        ),
      ),
    );
  }
}

export function failuresPanel() {
  return new Breakdown({
    id: "failures",
    title: "Failures by error",
    empty: "No failed messages.",
    headings: ["Code", "Error", "Messages"],
    text: "title",
  });
}

export function skipsPanel() {
  return new Breakdown({
    id: "skips",
    title: "Skips by reason",
    empty: "No skipped recipients.",
    headings: ["Code", "Reason", "Recipients"],
    text: "reason",
  });
}
