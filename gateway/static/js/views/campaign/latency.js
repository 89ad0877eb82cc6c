// Time to deliver and time to read: medians, 90th percentiles and one histogram of both, from the
// recipients read so far (the note says when that is not all of them).

import { LatencyChart, chartsAvailable } from "../../charts.js";
import { h, setText } from "../../dom.js";
import { formatCount, formatDuration, latencyDistributions } from "../../format.js";
import { card } from "./card.js";

export class LatencyPanel {
  constructor() {
    this.canvas = h("canvas", { role: "img", "aria-label": "Distribution of time to deliver and time to read" });
    this.stats = h("dl", { class: "latency-stats", id: "latency-stats" });
    this.note = h("p", { class: "muted small" });
    this.element = card("Time to deliver and to read", [this.stats, h("div", { class: "chart chart-short" }, this.canvas), this.note], {
      id: "h-latency",
    });
  }

  update(rows, complete) {
    const dist = latencyDistributions(rows);
    const stat = (label, value) => [h("dt", {}, label), h("dd", {}, value)];
    this.stats.replaceChildren(
      ...stat("Median to deliver", formatDuration(dist.deliver.median)),
      ...stat("90% delivered within", formatDuration(dist.deliver.p90)),
      ...stat("Median to read", formatDuration(dist.read.median)),
      ...stat("90% read within", formatDuration(dist.read.p90)),
    );
    const n = rows.length;
    const source = complete ? `all ${formatCount(n)} recipients` : `the first ${formatCount(n)} recipients`;
    setText(this.note, `From ${source}: ${formatCount(dist.deliver.n)} delivered, ${formatCount(dist.read.n)} read, timed from dispatch.`, {
      flash: false,
    });
    if (!chartsAvailable()) return;
    this.chart ??= new LatencyChart(this.canvas);
    this.chart.update(dist);
  }

  destroy() {
    this.chart?.destroy();
  }
}
