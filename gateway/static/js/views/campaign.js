// One campaign, live: progress, the funnel, counters and rates, charts, latency, failures and
// skips, recipients.

import { LatencyChart, SeriesCharts, chartsAvailable } from "../charts.js";
import { h, setText, statusBadge, toast } from "../dom.js";
import {
  STATUSES,
  bucketSeries,
  failureBreakdown,
  formatCount,
  formatDateTime,
  formatDuration,
  formatPercent,
  funnel,
  latencyDistributions,
  lifecycle,
  parseTime,
  skipBreakdown,
  statusMeta,
} from "../format.js";
import { ProgressBar } from "../progressbar.js";

const RECIPIENT_CAP = 20000; // rows fetched for the latency and failure panels
// Recipient-derived panels follow snapshots at most this often: 5 s, longer for big campaigns
// (2 s per thousand recipients read) so that a live campaign does not load the gateway.
const PANEL_REFRESH_MS = 5000;
const PANEL_MS_PER_THOUSAND = 2000;
const PAGE_SIZES = [25, 50, 100];

const COUNTERS = [
  { key: "total", field: "total_message_count", label: "Messages", icon: "✉" },
  { key: "sent", field: "total_sent_count", label: "Sent", status: "sent" },
  { key: "delivered", field: "total_delivered_count", label: "Delivered", status: "delivered" },
  { key: "read", field: "total_read_count", label: "Read", status: "read" },
  { key: "failed", field: "total_failed_count", label: "Failed", status: "failed" },
  { key: "skipped", field: "skipped_count", label: "Skipped", status: "skipped" },
  { key: "pending", field: "pending_count", label: "Pending", status: "pending" },
];

// The funnel's steps (each a subset of the one before) and, beside a step, who fell out there.
const FUNNEL_STEPS = [
  { key: "audience", label: "Audience", icon: "✉", beside: ["skipped", "queued"] },
  { key: "attempted", label: "Attempted", icon: "➚", beside: ["failed", "awaiting"] },
  { key: "sent", label: "Sent", status: "sent", beside: [] },
  { key: "delivered", label: "Delivered", status: "delivered", beside: [] },
  { key: "read", label: "Read", status: "read", beside: [] },
];
const FUNNEL_ASIDE = {
  skipped: { id: "funnel-skipped", label: "skipped", status: "skipped" },
  queued: { id: "count-queued", label: "queued", icon: "◷", title: "in the audience, neither dispatched nor skipped yet" },
  failed: { id: "funnel-failed", label: "failed", status: "failed" },
  awaiting: { id: "count-awaiting", label: "awaiting update", icon: "◷", title: "dispatched, no acknowledgement beyond pending yet" },
};

const RATES = [
  { key: "delivery", field: "delivery_rate", label: "Delivery rate", hint: "delivered ÷ sent" },
  { key: "read", field: "read_rate", label: "Read rate", hint: "read ÷ delivered" },
  { key: "success", field: "success_rate", label: "Success rate", hint: "sent ÷ messages" },
];

function bellIcon() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.innerHTML =
    '<path d="M6 16V11a6 6 0 1 1 12 0v5l2 2H4z M10 20a2 2 0 0 0 4 0" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round"/>';
  return svg;
}

function card(title, body, { id, extra } = {}) {
  return h(
    "section",
    { class: "card", "aria-labelledby": id },
    h("div", { class: "card-header" }, h("h2", { id }, title), extra),
    body,
  );
}

// The error of a failed message, or the reason a skipped recipient was never attempted.
function reasonOf(row) {
  const [code, text, kind] =
    row.status === "skipped" ? [row.skip_reason_code, row.skip_reason, "skip-code"] : [row.error_code, row.error_title, "error-code"];
  return code || text ? [h("code", { class: kind }, code || "–"), " ", text || ""] : "";
}

export class CampaignView {
  constructor(app, campaignId) {
    this.app = app;
    this.id = campaignId;
    this.snapshot = null;
    this.points = new Map(); // window start → series point
    this.filterStatus = "";
    this.pageSize = 50;
    this.cursors = [null];
    this.lastPanelRefresh = 0;
    this.panelInterval = PANEL_REFRESH_MS;
    this.completed = null; // null until the first figures arrive
    this.build();
  }

  title() {
    return this.snapshot?.campaign_name || this.app.campaignName(this.id) || `Campaign ${this.id}`;
  }

  build() {
    this.heading = h("h1", { id: "campaign-title" }, this.title());
    this.phase = h("span", { class: "phase" });
    this.meta = h("p", { class: "muted campaign-meta" });
    this.notifyButton = h(
      "button",
      { type: "button", class: "button", hidden: true, onclick: () => this.askNotificationPermission() },
      bellIcon(),
      "Notify me when done",
    );
    this.csvLink = h(
      "a",
      { class: "button button-primary", id: "csv-link", href: this.app.api.csvUrl(this.id), download: `campaign-${this.id}-recipients.csv` },
      h("span", { "aria-hidden": "true" }, "⤓ "),
      "Export CSV",
    );

    this.bar = new ProgressBar({ large: true, label: "Campaign progress" });
    this.progressText = h("strong", { class: "progress-percent", id: "progress-percent" });
    this.progressLegend = h(
      "ul",
      { class: "legend" },
      ["read", "delivered", "sent", "failed", "skipped", "pending"].map((status) =>
        h("li", {}, h("span", { class: `swatch bar-${status}`, "aria-hidden": "true" }), statusMeta(status).label),
      ),
    );

    this.counters = {};
    const counterCards = COUNTERS.map((c) => {
      const value = h("span", { class: "counter-value", id: `count-${c.key}` }, "–");
      const share = h("span", { class: "counter-share muted" });
      this.counters[c.key] = { value, share, field: c.field };
      const icon = c.status ? statusMeta(c.status).icon : c.icon;
      return h(
        "li",
        { class: `counter counter-${c.key}` },
        h("span", { class: "counter-label" }, h("span", { class: "status-icon", "aria-hidden": "true" }, icon), ` ${c.label}`),
        value,
        share,
      );
    });

    this.rates = {};
    const rateCards = RATES.map((r) => {
      const value = h("span", { class: "rate-value", id: `rate-${r.key}` }, "–");
      const meter = h("span", { class: "meter-fill" });
      this.rates[r.key] = { value, meter, field: r.field };
      return h(
        "li",
        { class: `rate rate-${r.key}` },
        h("span", { class: "counter-label" }, r.label),
        value,
        h("span", { class: "meter", "aria-hidden": "true" }, meter),
        h("span", { class: "muted small" }, r.hint),
      );
    });

    this.windowCanvas = h("canvas", { role: "img", "aria-label": "Messages that changed status in each interval" });
    this.cumulativeCanvas = h("canvas", { role: "img", "aria-label": "Cumulative sent, delivered, read and failed counts" });
    this.latencyCanvas = h("canvas", { role: "img", "aria-label": "Distribution of time to deliver and time to read" });
    this.chartNote = h("p", { class: "muted small", id: "series-note" });
    this.latencyStats = h("dl", { class: "latency-stats", id: "latency-stats" });
    this.latencyNote = h("p", { class: "muted small" });
    this.failures = h("div", { id: "failures" });
    this.skips = h("div", { id: "skips" });
    this.buildFunnel();

    this.buildRecipients();

    this.element = h(
      "div",
      { class: "view view-campaign" },
      h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "← All campaigns")),
      h(
        "div",
        { class: "page-head" },
        h("div", {}, h("div", { class: "title-row" }, this.heading, this.phase), this.meta),
        h("div", { class: "actions" }, this.notifyButton, this.csvLink),
      ),
      h(
        "section",
        { class: "card progress-card", "aria-label": "Progress" },
        h("div", { class: "progress-head" }, this.progressText, h("span", { class: "muted" }, "processed (sent, failed or skipped)")),
        this.bar.element,
        this.progressLegend,
      ),
      this.funnelCard,
      h("ul", { class: "counters", "aria-label": "Counters" }, counterCards),
      h("ul", { class: "rates", "aria-label": "Rates" }, rateCards),
      h(
        "div",
        { class: "grid-2" },
        card("Activity per interval", h("div", { class: "chart" }, this.windowCanvas), { id: "h-window", extra: this.chartNote }),
        card("Cumulative", h("div", { class: "chart" }, this.cumulativeCanvas), { id: "h-cumulative" }),
      ),
      card(
        "Time to deliver and to read",
        [this.latencyStats, h("div", { class: "chart chart-short" }, this.latencyCanvas), this.latencyNote],
        { id: "h-latency" },
      ),
      h(
        "div",
        { class: "grid-2" },
        card("Failures by error", this.failures, { id: "h-failures" }),
        card("Skips by reason", this.skips, { id: "h-skips" }),
      ),
      this.recipientsCard,
    );
  }

  buildFunnel() {
    this.funnelSteps = {};
    const aside = (key) => {
      const a = FUNNEL_ASIDE[key];
      const value = h("strong", { id: a.id }, "–");
      this.funnelSteps[key] = { value };
      const icon = a.status ? statusMeta(a.status).icon : a.icon;
      return h(
        "li",
        { class: `aside aside-${key}`, title: a.title ?? statusMeta(a.status).description },
        h("span", { class: "status-icon", "aria-hidden": "true" }, icon),
        value,
        ` ${a.label}`,
      );
    };
    const rows = FUNNEL_STEPS.map((step) => {
      const value = h("strong", { class: "funnel-value", id: `funnel-${step.key}` }, "–");
      const share = h("span", { class: "funnel-share muted" });
      const bar = h("span", { class: `funnel-bar funnel-bar-${step.key}` });
      this.funnelSteps[step.key] = { value, share, bar };
      const icon = step.status ? statusMeta(step.status).icon : step.icon;
      return h(
        "li",
        { class: `funnel-step funnel-step-${step.key}` },
        h("span", { class: "funnel-label" }, h("span", { class: "status-icon", "aria-hidden": "true" }, icon), ` ${step.label}`),
        h("span", { class: "funnel-track", "aria-hidden": "true" }, bar),
        h("span", { class: "funnel-figure" }, value, share),
        h("ul", { class: "funnel-aside" }, step.beside.map(aside)),
      );
    });
    this.started = h("dd", { id: "started-at" }, "–");
    this.finished = h("dd", { id: "completed-at" }, "–");
    this.duration = h("dd", { id: "duration" }, "–");
    this.funnelCard = card(
      "Funnel",
      [
        h("ol", { class: "funnel", id: "funnel", "aria-label": "Audience, attempted, sent, delivered, read, and who fell out at each step" }, rows),
        h(
          "dl",
          { class: "lifecycle" },
          h("div", {}, h("dt", {}, "Started"), this.started),
          h("div", {}, h("dt", {}, "Completed"), this.finished),
          h("div", {}, h("dt", {}, "Duration"), this.duration),
        ),
      ],
      { id: "h-funnel" },
    );
  }

  renderFunnel(stats) {
    const f = funnel(stats);
    for (const [key, step] of Object.entries(this.funnelSteps)) {
      setText(step.value, stats ? formatCount(f[key]) : "–");
      if (!step.bar) continue;
      const percent = f.audience ? (f[key] / f.audience) * 100 : 0;
      step.bar.style.width = `${Math.min(100, percent)}%`;
      setText(step.share, stats && key !== "audience" ? formatPercent(percent.toFixed(1)) : "", { flash: false });
    }
    const life = lifecycle(stats);
    const time = (value) => (value ? h("time", { datetime: value, title: value }, formatDateTime(value)) : "–");
    this.started.replaceChildren(time(life.started));
    this.finished.replaceChildren(life.completed ? time(life.completed) : life.started ? "not yet" : "–");
    const took = formatDuration(life.seconds);
    setText(this.duration, life.seconds == null ? "–" : life.completed ? took : `${took} so far`, { flash: false });
  }

  buildRecipients() {
    const name = `status-filter-${this.id}`;
    const option = (value, text, icon) =>
      h(
        "label",
        { class: `pill${value ? ` pill-${value}` : ""}` },
        h("input", {
          type: "radio",
          name,
          value,
          checked: value === this.filterStatus,
          onchange: () => this.setFilter(value),
        }),
        icon ? h("span", { class: "status-icon", "aria-hidden": "true" }, icon) : null,
        text,
      );
    this.filterGroup = h(
      "fieldset",
      { class: "pills", id: "status-filter" },
      h("legend", { class: "visually-hidden" }, "Show recipients with status"),
      option("", "All"),
      Object.entries(STATUSES).map(([status, meta]) => option(status, meta.label, meta.icon)),
    );
    this.pageSizeSelect = h(
      "select",
      {
        "aria-label": "Rows per page",
        onchange: (event) => {
          this.pageSize = Number(event.target.value);
          this.cursors = [null];
          this.loadRecipients();
        },
      },
      PAGE_SIZES.map((n) => h("option", { value: n, selected: n === this.pageSize }, `${n} per page`)),
    );
    this.tbody = h("tbody", {});
    this.prevButton = h("button", { type: "button", class: "button", id: "page-prev", onclick: () => this.page(-1) }, "← Previous");
    this.nextButton = h("button", { type: "button", class: "button", id: "page-next", onclick: () => this.page(1) }, "Next →");
    this.pageInfo = h("span", { class: "muted", id: "page-info", "aria-live": "polite" });
    this.recipientsCard = h(
      "section",
      { class: "card", "aria-labelledby": "h-recipients" },
      h("div", { class: "card-header" }, h("h2", { id: "h-recipients" }, "Recipients"), this.pageSizeSelect),
      this.filterGroup,
      h(
        "div",
        { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": "h-recipients" },
        h(
          "table",
          { class: "recipients", id: "recipients" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, "Recipient"),
              h("th", { scope: "col" }, "Status"),
              h("th", { scope: "col", class: "col-time" }, "Sent"),
              h("th", { scope: "col", class: "col-time" }, "Delivered"),
              h("th", { scope: "col", class: "col-time" }, "Read"),
              h("th", { scope: "col" }, "Error or skip reason"),
            ),
          ),
          this.tbody,
        ),
      ),
      h("div", { class: "pager" }, this.prevButton, this.pageInfo, this.nextButton),
    );
  }

  // ------------------------------------------------------------------ data

  async load() {
    const [snapshot, series] = await Promise.all([
      this.app.api.campaign(this.id).catch((error) => {
        if (error.code === "no_snapshot") return null; // registered, no statistics yet
        throw error;
      }),
      this.app.api.series(this.id).catch(() => ({ points: [] })),
    ]);
    this.points.clear();
    for (const point of series.points ?? []) this.points.set(point.start, point);
    if (snapshot) this.applySnapshot(snapshot, { live: false });
    else this.renderWaiting();
    this.renderSeries();
    this.app.live.setChannels([`campaign.${this.id}`]);
    await Promise.all([this.loadRecipients(), this.refreshPanels()]);
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
    const stats = snapshot.statistics;
    if (snapshot.window?.start) {
      this.points.set(snapshot.window.start, {
        ...snapshot.window,
        total_sent_count: stats.total_sent_count,
        total_delivered_count: stats.total_delivered_count,
        total_read_count: stats.total_read_count,
        total_played_count: stats.total_played_count,
        total_failed_count: stats.total_failed_count,
      });
    }
    this.renderStats(stats);
    if (live) {
      this.renderSeries();
      this.schedulePanels();
    }
  }

  renderWaiting() {
    this.renderStats(null);
    setText(this.meta, "Registered, waiting for the first snapshot", { flash: false });
  }

  renderStats(stats) {
    this.renderFunnel(stats);
    const title = this.title();
    setText(this.heading, title, { flash: false });
    document.title = `${title} · tickstream`;
    const p = this.bar.update(stats);
    setText(this.progressText, formatPercent(Math.min(100, p.processedPercent).toFixed(1)), { flash: false });
    const total = Number(stats?.total_message_count) || 0;
    for (const [key, counter] of Object.entries(this.counters)) {
      const value = Number(stats?.[counter.field]) || 0;
      setText(counter.value, stats ? formatCount(value) : "–");
      const share = key === "total" ? "" : total ? `${formatPercent(((value / total) * 100).toFixed(1))} of messages` : "";
      setText(counter.share, key === "read" && stats?.total_played_count ? `${share} · ${formatCount(stats.total_played_count)} played` : share, { flash: false });
    }
    for (const rate of Object.values(this.rates)) {
      const value = Number(stats?.[rate.field]) || 0;
      setText(rate.value, stats ? formatPercent(value) : "–");
      rate.meter.style.width = `${Math.min(100, value)}%`;
    }
    const snap = this.snapshot;
    const bits = [`#${this.id}`];
    if (snap?.campaign_uuid) bits.push(snap.campaign_uuid);
    if (stats?.updated_at) bits.push(`updated ${formatDateTime(stats.updated_at)}`);
    setText(this.meta, bits.join(" · "), { flash: false });
    this.renderPhase(stats, p);
  }

  renderPhase(stats, p) {
    const key = !stats ? "waiting" : p.done ? "done" : "running";
    this.phase.className = `phase phase-${key}`;
    this.phase.id = "campaign-phase";
    setText(this.phase, { waiting: "Waiting for data", done: "Completed", running: "Sending" }[key], { flash: false });
    const canNotify = "Notification" in window && Notification.permission === "default";
    this.notifyButton.hidden = !(canNotify && key === "running");
    if (!stats) return;
    const wasDone = this.completed;
    this.completed = p.done;
    if (p.done && wasDone === false && !this.announced) this.announceCompletion(stats);
  }

  // Only a campaign seen sending and then finishing is announced, never one that was done
  // already, and only once per view even if later snapshots reopen and close it again.
  announceCompletion(stats) {
    this.announced = true;
    const name = this.title();
    const seconds = lifecycle(stats).seconds;
    const took = stats.completed_at && seconds != null ? ` in ${formatDuration(seconds)}` : "";
    const text = `${name} completed${took}: ${formatCount(stats.total_delivered_count)} delivered, ${formatCount(stats.total_read_count)} read, ${formatCount(stats.total_failed_count)} failed, ${formatCount(stats.skipped_count)} skipped.`;
    toast(text, { kind: "success", timeout: 0 });
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        new Notification("Campaign completed", { body: text, tag: `campaign-${this.id}` });
      } catch {
        // some browsers allow notifications only from a service worker; the toast is enough
      }
    }
  }

  async askNotificationPermission() {
    const answer = await Notification.requestPermission();
    this.notifyButton.hidden = true;
    toast(answer === "granted" ? "You will be notified when this campaign completes." : "Notifications are blocked; the page will show a message instead.");
  }

  renderSeries() {
    const buckets = bucketSeries([...this.points.values()]);
    const step = buckets.stepSeconds;
    setText(this.chartNote, step ? `${formatDuration(step)} intervals` : "no activity yet", { flash: false });
    if (!chartsAvailable()) {
      setText(this.chartNote, "charts unavailable: run make dashboard", { flash: false });
      return;
    }
    this.seriesCharts ??= new SeriesCharts(this.windowCanvas, this.cumulativeCanvas);
    this.seriesCharts.update(buckets);
  }

  schedulePanels() {
    const wait = this.lastPanelRefresh + this.panelInterval - Date.now();
    if (this.panelTimer) return;
    this.panelTimer = setTimeout(() => {
      this.panelTimer = null;
      this.refreshPanels().catch(() => {});
      if (this.cursors.length === 1) this.loadRecipients().catch(() => {});
    }, Math.max(0, wait));
  }

  async refreshPanels() {
    this.lastPanelRefresh = Date.now();
    const [{ rows, complete }, skipped] = await Promise.all([
      this.app.api.allRecipients(this.id, RECIPIENT_CAP),
      this.app.api.allRecipients(this.id, RECIPIENT_CAP, { status: "skipped" }),
    ]);
    const read = rows.length + skipped.rows.length;
    this.panelInterval = Math.max(PANEL_REFRESH_MS, (read / 1000) * PANEL_MS_PER_THOUSAND);
    this.renderLatency(latencyDistributions(rows), rows.length, complete);
    this.renderBreakdown(this.failures, failureBreakdown(rows), {
      kind: "failures",
      empty: "No failed messages.",
      headings: ["Code", "Error", "Messages"],
    });
    this.renderBreakdown(this.skips, skipBreakdown(skipped.rows), {
      kind: "skips",
      empty: "No skipped recipients.",
      headings: ["Code", "Reason", "Recipients"],
    });
  }

  renderLatency(dist, n, complete) {
    const stat = (label, value) => [h("dt", {}, label), h("dd", {}, value)];
    this.latencyStats.replaceChildren(
      ...stat("Median to deliver", formatDuration(dist.deliver.median)),
      ...stat("90% delivered within", formatDuration(dist.deliver.p90)),
      ...stat("Median to read", formatDuration(dist.read.median)),
      ...stat("90% read within", formatDuration(dist.read.p90)),
    );
    const source = complete ? `all ${formatCount(n)} recipients` : `the first ${formatCount(n)} recipients`;
    setText(
      this.latencyNote,
      `From ${source}: ${formatCount(dist.deliver.n)} delivered, ${formatCount(dist.read.n)} read, timed from dispatch.`,
      { flash: false },
    );
    if (!chartsAvailable()) return;
    this.latencyChart ??= new LatencyChart(this.latencyCanvas);
    this.latencyChart.update(dist);
  }

  // Failures by error and skips by reason: one table of groups (code, text, count and share).
  renderBreakdown(container, groups, { kind, empty, headings }) {
    if (groups.length === 0) {
      container.replaceChildren(h("p", { class: "empty-small" }, h("span", { "aria-hidden": "true" }, "✓ "), empty));
      return;
    }
    const total = groups.reduce((sum, g) => sum + g.count, 0);
    const [codeHead, textHead, countHead] = headings;
    container.replaceChildren(
      h(
        "table",
        { class: `breakdown ${kind}` },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, codeHead), h("th", { scope: "col" }, textHead), h("th", { scope: "col", class: "num" }, countHead))),
        h(
          "tbody",
          {},
          groups.map((g) =>
            h(
              "tr",
              {},
              h("td", {}, h("code", {}, g.code || "–")),
              h(
                "td",
                {},
                g.title || "no description",
                h("span", { class: "share-bar", "aria-hidden": "true" }, h("span", { style: { width: `${(g.count / total) * 100}%` } })),
              ),
              h("td", { class: "num" }, formatCount(g.count), h("span", { class: "muted small" }, ` ${formatPercent(((g.count / total) * 100).toFixed(1))}`)),
            ),
          ),
        ),
      ),
    );
  }

  // ------------------------------------------------------------------ recipients

  setFilter(status) {
    this.filterStatus = status;
    this.cursors = [null];
    this.loadRecipients().catch((e) => this.app.fail(e));
  }

  page(direction) {
    if (direction > 0 && this.nextCursor) this.cursors.push(this.nextCursor);
    else if (direction < 0 && this.cursors.length > 1) this.cursors.pop();
    else return;
    this.loadRecipients().catch((e) => this.app.fail(e));
  }

  async loadRecipients() {
    const request = (this.recipientRequest = Symbol("request"));
    const after = this.cursors[this.cursors.length - 1];
    const page = await this.app.api.recipients(this.id, { status: this.filterStatus, after, limit: this.pageSize });
    if (request !== this.recipientRequest) return; // a newer filter or page won
    this.nextCursor = page.next;
    this.renderRecipients(page.recipients);
  }

  renderRecipients(rows) {
    const time = (value) => {
      const ms = parseTime(value);
      return ms == null ? h("span", { class: "muted" }, "–") : h("time", { datetime: value, title: value }, formatDateTime(value));
    };
    if (rows.length === 0) {
      const which = this.filterStatus ? ` with status ${this.filterStatus}` : "";
      this.tbody.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "empty-small" }, `No recipients${which}.`)));
    } else {
      this.tbody.replaceChildren(
        ...rows.map((r) =>
          h(
            "tr",
            { dataset: { status: r.status } },
            h("td", { class: "recipient" }, r.recipient || r.message_id),
            h("td", {}, statusBadge(statusMeta(r.status), r.status)),
            h("td", { class: "col-time" }, time(r.sent_at)),
            h("td", { class: "col-time" }, time(r.delivered_at)),
            h("td", { class: "col-time" }, time(r.read_at)),
            h("td", { class: "error-cell" }, reasonOf(r)),
          ),
        ),
      );
    }
    const first = (this.cursors.length - 1) * this.pageSize + 1;
    setText(
      this.pageInfo,
      rows.length ? `Rows ${formatCount(first)}–${formatCount(first + rows.length - 1)}` : "No rows",
      { flash: false },
    );
    this.prevButton.disabled = this.cursors.length <= 1;
    this.nextButton.disabled = !this.nextCursor;
  }

  destroy() {
    clearTimeout(this.panelTimer);
    this.seriesCharts?.window.destroy();
    this.seriesCharts?.cumulative.destroy();
    this.latencyChart?.chart.destroy();
  }
}
