// Time to send, deliver and read: how many messages each stage counts, their p50/p90/p99 as the
// bucket each falls in, one histogram of the three on the fixed buckets, and the counts per bucket
// as a table (the chart is a picture). Exact over all recipients: the worker's histograms from the
// snapshot's insights (docs/insights.md).

import { DistributionChart, chartsAvailable } from "../../charts.js";
import { h, setText, showBucket } from "../../dom.js";
import { formatCount } from "../../format.js";
import { bucketLabels, distribution } from "../../insights.js";
import { card } from "./card.js";

const STAGES = [
  { key: "time_to_sent", label: "Sent", series: "sent" },
  { key: "time_to_delivered", label: "Delivered", series: "delivered" },
  { key: "time_to_read", label: "Read", series: "read" },
];
const PERCENTILES = ["p50", "p90", "p99"];

export class DistributionsPanel {
  constructor() {
    this.labels = bucketLabels();
    this.rows = STAGES.map((stage) => ({
      ...stage,
      count: h("td", { class: "num", id: `dist-${stage.key}-count` }),
      percentiles: PERCENTILES.map((p) => h("td", { class: "num", id: `dist-${stage.key}-${p}` })),
    }));
    const summary = h(
      "div",
      { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Messages and percentiles per stage" },
      h(
      "table",
      { class: "distributions", id: "distributions" },
      h(
        "thead",
        {},
        h("tr", {}, h("th", { scope: "col" }, "Time to"), h("th", { scope: "col", class: "num" }, "Messages"), PERCENTILES.map((p) => h("th", { scope: "col", class: "num" }, p))),
      ),
      h(
        "tbody",
        {},
        this.rows.map((row) => h("tr", { dataset: { stage: row.key } }, h("th", { scope: "row" }, row.label), row.count, row.percentiles)),
      ),
      ),
    );
    this.bucketBody = h("tbody", {});
    const perBucket = h(
      "details",
      { class: "bucket-counts" },
      h("summary", {}, "Messages per bucket"),
      h(
        "div",
        { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Messages per time bucket" },
        h(
          "table",
          { id: "dist-buckets" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Bucket"), STAGES.map((s) => h("th", { scope: "col", class: "num" }, s.label)))),
          this.bucketBody,
        ),
      ),
    );
    this.canvas = h("canvas", { role: "img", "aria-label": "Distribution of the time to send, to deliver and to read" });
    const note = h(
      "p",
      { class: "muted small" },
      "Exact, over all recipients, timed from dispatch. A percentile is shown as the bucket it falls in. Buckets (from the lower bound up to, not including, the upper): ",
      this.labels.join(", "),
      ".",
    );
    this.element = card("Time to send, deliver and read", [summary, h("div", { class: "chart chart-short" }, this.canvas), perBucket, note], {
      id: "h-distributions",
    });
  }

  // `insights`: the snapshot's (null until the campaign has any).
  update(insights) {
    const dists = Object.fromEntries(STAGES.map((s) => [s.key, distribution(insights?.[s.key] ?? null)]));
    for (const row of this.rows) {
      const dist = dists[row.key];
      setText(row.count, formatCount(dist.count));
      row.percentiles.forEach((cell, i) => showBucket(cell, dist[PERCENTILES[i]]));
    }
    this.bucketBody.replaceChildren(
      ...this.labels.map((label, i) =>
        h("tr", {}, h("th", { scope: "row" }, label), STAGES.map((s) => h("td", { class: "num" }, formatCount(dists[s.key].buckets[i])))),
      ),
    );
    if (!chartsAvailable()) return;
    this.chart ??= new DistributionChart(this.canvas, STAGES);
    this.chart.update(this.labels, STAGES.map((s) => dists[s.key].buckets));
  }

  destroy() {
    this.chart?.destroy();
  }
}

