// The workspace's campaigns, each with a live progress bar.

import { h, setText, statusIcon } from "../dom.js";
import { formatCount, formatDateTime, phase, statusMeta } from "../format.js";
import { ProgressBar, processedText } from "../progressbar.js";

class CampaignCard {
  constructor(campaign) {
    this.id = String(campaign.campaign_id);
    this.bar = new ProgressBar({ label: `Progress of ${campaign.name || this.id}` });
    this.phase = h("span", { class: "phase" });
    this.percent = h("span", { class: "card-percent" });
    this.counts = {};
    const countItem = (key, status) => {
      const meta = statusMeta(status);
      this.counts[key] = h("strong", {});
      return h(
        "li",
        { class: `mini mini-${status}` },
        statusIcon(meta.icon),
        this.counts[key],
        ` ${meta.label}`,
      );
    };
    this.updated = h("span", { class: "muted" });
    this.element = h(
      "li",
      { class: "campaign-item", dataset: { campaignId: this.id } },
      h(
        "a",
        { class: "campaign-card", href: `#/campaigns/${encodeURIComponent(this.id)}` },
        h(
          "div",
          { class: "card-head" },
          h("h2", { class: "card-title" }, campaign.name || `Campaign ${this.id}`),
          this.phase,
        ),
        h("div", { class: "card-sub muted" }, `#${this.id}`, campaign.total_recipients ? ` · ${formatCount(campaign.total_recipients)} recipients` : ""),
        h("div", { class: "card-progress" }, this.bar.element, this.percent),
        h(
          "ul",
          { class: "mini-counts" },
          countItem("sent", "sent"),
          countItem("delivered", "delivered"),
          countItem("read", "read"),
          countItem("failed", "failed"),
          countItem("pending", "pending"),
        ),
        h("div", { class: "card-foot" }, this.updated),
      ),
    );
    this.update(campaign.statistics);
  }

  update(stats) {
    const p = this.bar.update(stats);
    const ph = phase(stats, p);
    this.phase.className = `phase phase-${ph.key}`;
    setText(this.phase, ph.text, { flash: false });
    setText(this.percent, processedText(p), { flash: false });
    setText(this.counts.sent, formatCount(stats?.total_sent_count));
    setText(this.counts.delivered, formatCount(stats?.total_delivered_count));
    setText(this.counts.read, formatCount(stats?.total_read_count));
    setText(this.counts.failed, formatCount(stats?.total_failed_count));
    setText(this.counts.pending, formatCount(stats?.pending_count));
    setText(this.updated, stats?.updated_at ? `Updated ${formatDateTime(stats.updated_at)}` : "No snapshot yet", {
      flash: false,
    });
  }
}

export class ListView {
  constructor(app) {
    this.app = app;
    this.cards = new Map();
    this.campaigns = [];
    this.filter = "";
    this.grid = h("ul", { class: "campaign-grid", "aria-label": "Campaigns" });
    this.summary = h("p", { class: "muted", id: "list-summary" });
    const search = h("input", {
      type: "search",
      class: "search",
      placeholder: "Filter by name or id",
      "aria-label": "Filter campaigns by name or id",
      oninput: (event) => {
        this.filter = event.target.value.trim().toLowerCase();
        this.applyFilter();
      },
    });
    this.element = h(
      "div",
      { class: "view view-list" },
      h(
        "div",
        { class: "page-head" },
        h("div", {}, h("h1", {}, "Campaigns"), this.summary),
        h("div", { class: "actions" }, search, h("a", { class: "button", href: "#/templates", id: "templates-link" }, "Templates")),
      ),
      this.grid,
    );
  }

  title() {
    return "Campaigns";
  }

  async load() {
    const { campaigns } = await this.app.api.campaigns();
    this.campaigns = campaigns;
    this.app.rememberCampaigns(campaigns);
    this.render();
  }

  render() {
    this.grid.replaceChildren();
    this.cards.clear();
    if (this.campaigns.length === 0) {
      this.grid.append(
        h(
          "li",
          { class: "empty" },
          h("p", {}, "No campaigns in this workspace yet."),
          h("p", { class: "muted" }, "Register one with POST /v1/campaigns on ingest, or run tickstream simulate."),
        ),
      );
    }
    for (const campaign of this.campaigns) {
      const card = new CampaignCard(campaign);
      this.cards.set(card.id, card);
      this.grid.append(card.element);
    }
    this.updateSummary();
    this.applyFilter();
    this.app.live.setChannels(this.channels());
  }

  updateSummary() {
    const count = this.campaigns.length;
    const sending = this.campaigns.filter((c) => c.statistics && c.statistics.pending_count > 0).length;
    const text = `${formatCount(count)} campaign${count === 1 ? "" : "s"} · ${formatCount(sending)} sending`;
    setText(this.summary, text, { flash: false });
  }

  applyFilter() {
    for (const campaign of this.campaigns) {
      const card = this.cards.get(String(campaign.campaign_id));
      const text = `${campaign.name} ${campaign.campaign_id} ${campaign.campaign_uuid}`.toLowerCase();
      card.element.hidden = Boolean(this.filter) && !text.includes(this.filter);
    }
  }

  channels() {
    const workspaces = new Set(this.campaigns.map((c) => String(c.workspace_id)));
    if (this.app.workspaceId) workspaces.add(this.app.workspaceId);
    return [...workspaces].map((w) => `workspace.${w}`);
  }

  onSnapshot(_channel, snapshot) {
    const card = this.cards.get(String(snapshot.campaign_id));
    if (!card) {
      // a campaign this page has not listed yet: fetch the list again (at most once a second)
      clearTimeout(this.reloadTimer);
      this.reloadTimer = setTimeout(() => this.load().catch((e) => this.app.fail(e)), 1000);
      return;
    }
    const campaign = this.campaigns.find((c) => String(c.campaign_id) === card.id);
    campaign.statistics = snapshot.statistics;
    card.update(snapshot.statistics);
    this.updateSummary();
  }

  resync() {
    return this.load();
  }

  destroy() {
    clearTimeout(this.reloadTimer);
  }
}
