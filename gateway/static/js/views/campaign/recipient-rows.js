// The columns of the recipients table: its header, and one row per recipient with its status,
// first-seen times and why it failed or was skipped.

import { h, statusBadge, timeOf } from "../../dom.js";
import { parseTime, statusMeta } from "../../format.js";

const COLUMNS = [
  { title: "Recipient" },
  { title: "Status" },
  { title: "Sent", class: "col-time" },
  { title: "Delivered", class: "col-time" },
  { title: "Read", class: "col-time" },
  { title: "Error or skip reason" },
];

export function headerRow() {
  return h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col", class: c.class }, c.title)));
}

export function emptyRow(text) {
  return h("tr", {}, h("td", { colspan: COLUMNS.length, class: "empty-small" }, text));
}

function time(value) {
  return parseTime(value) == null ? h("span", { class: "muted" }, "–") : timeOf(value);
}

// The error of a failed message, or the reason a skipped recipient was never attempted.
function reasonOf(row) {
  const [code, text, kind] =
    row.status === "skipped" ? [row.skip_reason_code, row.skip_reason, "skip-code"] : [row.error_code, row.error_title, "error-code"];
  return code || text ? [h("code", { class: kind }, code || "–"), " ", text || ""] : "";
}

export function recipientRow(r) {
  return h(
    "tr",
    { dataset: { status: r.status } },
    h("td", { class: "recipient" }, r.recipient || r.message_id),
    h("td", {}, statusBadge(statusMeta(r.status), r.status)),
    h("td", { class: "col-time" }, time(r.sent_at)),
    h("td", { class: "col-time" }, time(r.delivered_at)),
    h("td", { class: "col-time" }, time(r.read_at)),
    h("td", { class: "error-cell" }, reasonOf(r)),
  );
}
