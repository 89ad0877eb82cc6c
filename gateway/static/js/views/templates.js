// The workspace's message templates (#/templates): each one's counters, rates and median time to
// read summed over the campaigns that used it (the gateway's /api/templates). Snapshots on the
// workspace channel make it read them again, at most every 5 s.

import { h, setText } from "../dom.js";
import { formatCount } from "../format.js";
import { groupTable } from "../group-table.js";
import { Pacer } from "../pacer.js";

const CAMPAIGNS = { key: "campaigns", label: "Campaigns", text: (t) => formatCount(t.campaigns) };

export class TemplatesView {
  constructor(app) {
    this.app = app;
    this.body = h("div", { class: "card" });
    this.summary = h("p", { class: "muted", id: "templates-summary" });
    this.pacer = new Pacer(() => this.load().catch(() => {}), 5000); // the next snapshot retries
    this.element = h(
      "div",
      { class: "view view-templates" },
      h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "← All campaigns")),
      h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Templates"), this.summary)),
      this.body,
    );
  }

  title() {
    return "Templates";
  }

  async load() {
    const { templates } = await this.app.api.templates();
    const count = templates.length;
    setText(this.summary, `${formatCount(count)} template${count === 1 ? "" : "s"}, the most dispatched first`, { flash: false });
    this.body.replaceChildren(
      count === 0
        ? h("p", { class: "empty-small" }, "No campaign of this workspace names a template yet (the dispatch's template field).")
        : groupTable({ id: "templates", heading: "Template", name: (t) => t.template, groups: templates, columns: [CAMPAIGNS] }),
    );
    if (this.app.workspaceId) this.app.live.setChannels([`workspace.${this.app.workspaceId}`]);
  }

  resync() {
    return this.load();
  }

  onSnapshot() {
    this.pacer.request();
  }

  destroy() {
    this.pacer.stop();
  }
}
