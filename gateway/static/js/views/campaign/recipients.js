// The recipients table, filtered by status and paged by the API's cursor (a stack of cursors for
// Previous). Only the first page follows a live campaign; later pages stay put while read.

import { h, setText } from "../../dom.js";
import { formatCount } from "../../format.js";
import { emptyRow, headerRow, recipientRow } from "./recipient-rows.js";
import { statusFilter } from "./status-filter.js";

const PAGE_SIZES = [25, 50, 100];

export class RecipientsTable {
  constructor(api, campaignId, onError) {
    this.api = api;
    this.id = campaignId;
    this.onError = onError;
    this.status = "";
    this.pageSize = 50;
    this.cursors = [null];
    this.nextCursor = null;
    const pageSizeSelect = h(
      "select",
      {
        "aria-label": "Rows per page",
        onchange: (event) => {
          this.pageSize = Number(event.target.value);
          this.firstPage();
        },
      },
      PAGE_SIZES.map((n) => h("option", { value: n, selected: n === this.pageSize }, `${n} per page`)),
    );
    const filter = statusFilter(`status-filter-${campaignId}`, this.status, (status) => {
      this.status = status;
      this.firstPage();
    });
    this.tbody = h("tbody", {});
    this.prevButton = h("button", { type: "button", class: "button", id: "page-prev", onclick: () => this.page(-1) }, "← Previous");
    this.nextButton = h("button", { type: "button", class: "button", id: "page-next", onclick: () => this.page(1) }, "Next →");
    this.pageInfo = h("span", { class: "muted", id: "page-info", "aria-live": "polite" });
    this.element = h(
      "section",
      { class: "card", "aria-labelledby": "h-recipients" },
      h("div", { class: "card-header" }, h("h2", { id: "h-recipients" }, "Recipients"), pageSizeSelect),
      filter,
      h(
        "div",
        { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": "h-recipients" },
        h("table", { class: "recipients", id: "recipients" }, h("thead", {}, headerRow()), this.tbody),
      ),
      h("div", { class: "pager" }, this.prevButton, this.pageInfo, this.nextButton),
    );
  }

  firstPage() {
    this.cursors = [null];
    this.load().catch(this.onError);
  }

  page(direction) {
    if (direction > 0 && this.nextCursor) this.cursors.push(this.nextCursor);
    else if (direction < 0 && this.cursors.length > 1) this.cursors.pop();
    else return;
    this.load().catch(this.onError);
  }

  // A live update's failure is not worth a message: the next snapshot tries again.
  followLive() {
    if (this.cursors.length === 1) this.load().catch(() => {});
  }

  async load() {
    const request = (this.request = Symbol("request"));
    const after = this.cursors[this.cursors.length - 1];
    const page = await this.api.recipients(this.id, { status: this.status, after, limit: this.pageSize });
    if (request !== this.request) return; // a newer filter or page won
    this.nextCursor = page.next;
    this.render(page.recipients);
  }

  render(rows) {
    if (rows.length === 0) {
      const which = this.status ? ` with status ${this.status}` : "";
      this.tbody.replaceChildren(emptyRow(`No recipients${which}.`));
    } else {
      this.tbody.replaceChildren(...rows.map(recipientRow));
    }
    const first = (this.cursors.length - 1) * this.pageSize + 1;
    setText(this.pageInfo, rows.length ? `Rows ${formatCount(first)}–${formatCount(first + rows.length - 1)}` : "No rows", { flash: false });
    this.prevButton.disabled = this.cursors.length <= 1;
    this.nextButton.disabled = !this.nextCursor;
  }
}
