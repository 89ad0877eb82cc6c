// The frame of a titled panel: its heading labels the section, so screen readers name it.

import { h } from "../../dom.js";

export function card(title, body, { id, extra } = {}) {
  return h(
    "section",
    { class: "card", "aria-labelledby": id },
    h("div", { class: "card-header" }, h("h2", { id }, title), extra),
    body,
  );
}
