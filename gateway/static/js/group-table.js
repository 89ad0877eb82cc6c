// The figures of a group of messages (a variant, a tag, a template), as the gateway's /variants,
// /tags and /templates give them, and the table of groups one row each (tags, templates). The
// variants panel shows the same fields with the groups side by side.

import { h, showBucket } from "./dom.js";
import { formatCount, formatPercent } from "./format.js";

export const GROUP_FIELDS = [
  { key: "dispatched", label: "Dispatched", text: (g) => formatCount(g.counters.dispatched) },
  { key: "delivered", label: "Delivered", text: (g) => formatCount(g.counters.delivered) },
  { key: "read", label: "Read", text: (g) => formatCount(g.counters.read) },
  { key: "delivery_rate", label: "Delivery rate", text: (g) => formatPercent(g.delivery_rate) },
  { key: "read_rate", label: "Read rate", text: (g) => formatPercent(g.read_rate) },
  { key: "median_read", label: "Median time to read", bucket: (g) => g.time_to_read.p50 },
];

// One field of one group as a cell; data-field names it for whoever reads the page by machine.
export function fieldCell(field, group) {
  const cell = h("td", { class: "num", dataset: { field: field.key } });
  if (field.bucket) return showBucket(cell, field.bucket(group));
  cell.textContent = field.text(group);
  return cell;
}

// `name(group)` labels each row; `columns` are extra leading fields ({key, label, text}).
export function groupTable({ id, heading, name, groups, columns = [] }) {
  const fields = [...columns, ...GROUP_FIELDS];
  return h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-label": heading },
    h(
      "table",
      { class: "groups", id },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, heading), fields.map((f) => h("th", { scope: "col", class: "num" }, f.label)))),
      h(
        "tbody",
        {},
        groups.map((g) => h("tr", { dataset: { group: name(g) } }, h("th", { scope: "row" }, h("code", {}, name(g))), fields.map((f) => fieldCell(f, g)))),
      ),
    ),
  );
}
