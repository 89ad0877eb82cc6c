// One campaign, live: the panels of views/campaign/, fed with the snapshot and its insights (REST,
// then the campaign's channel), the series, and what the snapshot cannot carry: the variants'
// comparison, the tags' rates and the recipients (docs/dashboard.md).

import { h } from "../dom.js";
import { phase } from "../format.js";
import { Pacer } from "../pacer.js";
import { ActivityCharts } from "./campaign/activity.js";
import { failuresPanel, skipsPanel } from "./campaign/breakdown.js";
import { card } from "./campaign/card.js";
import { CompletionNotice } from "./campaign/completion.js";
import { Counters } from "./campaign/counters.js";
import { csvLink } from "./campaign/csv.js";
import { DistributionsPanel } from "./campaign/distributions.js";
import { Funnel } from "./campaign/funnel.js";
import { GroupSource } from "./campaign/group-source.js";
import { CampaignHeader } from "./campaign/header.js";
import { Lifecycle } from "./campaign/lifecycle.js";
import { ProgressPanel } from "./campaign/progress.js";
import { Rates } from "./campaign/rates.js";
import { RecipientsTable } from "./campaign/recipients.js";
import { TagsPanel } from "./campaign/tags.js";
import { VariantsPanel } from "./campaign/variants.js";

// How often live snapshots may prompt the REST reads (variants, tags, the table's first page).
const FOLLOW_MS = 5000;

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
    this.distributions = new DistributionsPanel();
    this.failures = failuresPanel();
    this.skips = skipsPanel();
    this.variants = new VariantsPanel();
    this.tags = new TagsPanel();
    this.sources = [
      new GroupSource("variant", () => app.api.variants(campaignId), this.variants),
      new GroupSource("tag", () => app.api.tags(campaignId), this.tags),
    ];
    this.pacer = new Pacer(() => this.follow(), FOLLOW_MS);
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
      this.distributions.element,
      h("div", { class: "grid-2" }, this.failures.element, this.skips.element),
      this.variants.element,
      this.tags.element,
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
    for (const source of this.sources) source.reset();
    if (snapshot) this.applySnapshot(snapshot, { live: false });
    else this.renderWaiting();
    this.activity.render();
    this.app.live.setChannels([`campaign.${this.id}`]);
    await Promise.all([this.recipients.load(), this.refreshFetched()]);
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
    this.renderInsights(snapshot.insights ?? null);
    if (live) {
      this.activity.render();
      this.pacer.request();
    }
  }

  renderWaiting() {
    this.renderStats(null);
    this.renderInsights(null);
    this.header.setWaiting();
  }

  // Exact and complete in every snapshot: no fetch (docs/insights.md).
  renderInsights(insights) {
    this.distributions.update(insights);
    this.failures.update(insights?.failures ?? []);
    this.skips.update(insights?.skip_reasons ?? []);
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

  // What the snapshot only says is out of date: each part reads again only if it changed.
  async refreshFetched() {
    const insights = this.snapshot?.insights ?? null;
    await Promise.all(this.sources.map((s) => s.refresh(insights)));
  }

  // A live snapshot's reads, paced; a failure is left to the next snapshot rather than reported.
  follow() {
    this.refreshFetched().catch(() => {});
    this.recipients.followLive();
  }

  destroy() {
    this.pacer.stop();
    this.activity.destroy();
    this.distributions.destroy();
  }
}
