// One campaign, live: the panels of views/campaign/, fed with the snapshot (REST, then the
// campaign's channel), the series and the recipients (docs/dashboard.md).

import { h } from "../dom.js";
import { phase } from "../format.js";
import { ActivityCharts } from "./campaign/activity.js";
import { failuresPanel, skipsPanel } from "./campaign/breakdown.js";
import { card } from "./campaign/card.js";
import { CompletionNotice } from "./campaign/completion.js";
import { Counters } from "./campaign/counters.js";
import { csvLink } from "./campaign/csv.js";
import { Funnel } from "./campaign/funnel.js";
import { CampaignHeader } from "./campaign/header.js";
import { LatencyPanel } from "./campaign/latency.js";
import { Lifecycle } from "./campaign/lifecycle.js";
import { ProgressPanel } from "./campaign/progress.js";
import { Rates } from "./campaign/rates.js";
import { RecipientSample } from "./campaign/recipient-sample.js";
import { RecipientsTable } from "./campaign/recipients.js";

export class CampaignView {
  constructor(app, campaignId) {
    this.app = app;
    this.id = campaignId;
    this.snapshot = null;
    this.completion = new CompletionNotice(campaignId);
    this.header = new CampaignHeader(this.title(), [this.completion.button, csvLink(app.api, campaignId)]);
    this.progress = new ProgressPanel();
    this.funnel = new Funnel();
    this.lifecycle = new Lifecycle();
    this.counters = new Counters();
    this.rates = new Rates();
    this.activity = new ActivityCharts();
    this.latency = new LatencyPanel();
    this.failures = failuresPanel();
    this.skips = skipsPanel();
    this.sample = new RecipientSample(app.api, campaignId);
    this.recipients = new RecipientsTable(app.api, campaignId, (error) => app.fail(error));
    this.element = h(
      "div",
      { class: "view view-campaign" },
      h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "← All campaigns")),
      this.header.element,
      this.progress.element,
      card("Funnel", [this.funnel.element, this.lifecycle.element], { id: "h-funnel" }),
      this.counters.element,
      this.rates.element,
      this.activity.element,
      this.latency.element,
      h("div", { class: "grid-2" }, this.failures.element, this.skips.element),
      this.recipients.element,
    );
  }

  title() {
    return this.snapshot?.campaign_name || this.app.campaignName(this.id) || `Campaign ${this.id}`;
  }

  async load() {
    const [snapshot, series] = await Promise.all([
      this.app.api.campaign(this.id).catch((error) => {
        if (error.code === "no_snapshot") return null; // registered, no statistics yet
        throw error;
      }),
      this.app.api.series(this.id).catch(() => ({ points: [] })),
    ]);
    this.activity.reset(series.points ?? []);
    if (snapshot) this.applySnapshot(snapshot, { live: false });
    else this.renderWaiting();
    this.activity.render();
    this.app.live.setChannels([`campaign.${this.id}`]);
    await Promise.all([this.recipients.load(), this.refreshPanels()]);
  }

  resync() {
    return this.load();
  }

  onSnapshot(_channel, snapshot) {
    if (String(snapshot.campaign_id) !== String(this.id)) return;
    this.applySnapshot(snapshot, { live: true });
  }

  applySnapshot(snapshot, { live }) {
    if (this.snapshot && snapshot.seq < this.snapshot.seq) return; // an older one, already shown
    this.snapshot = snapshot;
    this.activity.add(snapshot);
    this.renderStats(snapshot.statistics);
    if (live) {
      this.activity.render();
      this.schedulePanels();
    }
  }

  renderWaiting() {
    this.renderStats(null);
    this.header.setWaiting();
  }

  renderStats(stats) {
    this.funnel.update(stats);
    this.lifecycle.update(stats);
    const title = this.title();
    this.header.setTitle(title);
    const p = this.progress.update(stats);
    this.counters.update(stats);
    this.rates.update(stats);
    this.header.setMeta(this.id, this.snapshot?.campaign_uuid, stats?.updated_at);
    const current = phase(stats, p);
    this.header.setPhase(current);
    this.completion.update(stats, current.key, title);
  }

  // The recipient-derived panels, and the table's first page, follow snapshots only as often as
  // the sample allows; a failed refresh is left to the next snapshot rather than reported.
  schedulePanels() {
    if (this.panelTimer) return;
    this.panelTimer = setTimeout(() => {
      this.panelTimer = null;
      this.refreshPanels().catch(() => {});
      this.recipients.followLive();
    }, this.sample.dueIn());
  }

  async refreshPanels() {
    const { rows, complete, skipped } = await this.sample.read();
    this.latency.update(rows, complete);
    this.failures.update(rows);
    this.skips.update(skipped);
  }

  destroy() {
    clearTimeout(this.panelTimer);
    this.activity.destroy();
    this.latency.destroy();
  }
}
