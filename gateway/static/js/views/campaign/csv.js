// The CSV export: a plain link, since a download cannot carry an Authorization header (the URL
// carries the token instead, docs/dashboard.md); the gateway streams any campaign size.

import { h } from "../../dom.js";

export function csvLink(api, campaignId) {
  return h(
    "a",
    { class: "button button-primary", id: "csv-link", href: api.csvUrl(campaignId), download: `campaign-${campaignId}-recipients.csv` },
    h("span", { "aria-hidden": "true" }, "⤓ "),
    "Export CSV",
  );
}
