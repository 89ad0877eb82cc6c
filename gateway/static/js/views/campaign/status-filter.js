// The recipients' status filter: a radio group, so arrow keys move between the statuses.

import { h, statusIcon } from "../../dom.js";
import { STATUSES } from "../../format.js";

// `name` groups the radios; `onChange` gets the chosen status, "" for all.
export function statusFilter(name, selected, onChange) {
  const option = (value, text, icon) =>
    h(
      "label",
      { class: `pill${value ? ` pill-${value}` : ""}` },
      h("input", { type: "radio", name, value, checked: value === selected, onchange: () => onChange(value) }),
      icon ? statusIcon(icon) : null,
      text,
    );
  return h(
    "fieldset",
    { class: "pills", id: "status-filter" },
    h("legend", { class: "visually-hidden" }, "Show recipients with status"),
    option("", "All"),
    Object.entries(STATUSES).map(([status, meta]) => option(status, meta.label, meta.icon)),
  );
}
