// The activity charts: what changed in each interval, and the running totals. Both start from
// /series and grow with every live snapshot's window.

import { SeriesCharts, chartsAvailable } from "../../charts.js";
import { h, setText } from "../../dom.js";
import { bucketSeries, formatDuration } from "../../format.js";
import { card } from "./card.js";

export class ActivityCharts {
  constructor() {
    this.points = new Map(); // window start → series point
    this.windowCanvas = h("canvas", { role: "img", "aria-label": "Messages that changed status in each interval" });
    this.cumulativeCanvas = h("canvas", { role: "img", "aria-label": "Cumulative sent, delivered, read and failed counts" });
    this.note = h("p", { class: "muted small", id: "series-note" });
    this.element = h(
      "div",
      { class: "grid-2" },
      card("Activity per interval", h("div", { class: "chart" }, this.windowCanvas), { id: "h-window", extra: this.note }),
      card("Cumulative", h("div", { class: "chart" }, this.cumulativeCanvas), { id: "h-cumulative" }),
    );
  }

  reset(points) {
    this.points.clear();
    for (const point of points) this.points.set(point.start, point);
  }

  // A snapshot's window is one more point; the cumulative curves take the snapshot's totals.
  add(snapshot) {
    if (!snapshot.window?.start) return;
    const stats = snapshot.statistics;
    this.points.set(snapshot.window.start, {
      ...snapshot.window,
      total_sent_count: stats.total_sent_count,
      total_delivered_count: stats.total_delivered_count,
      total_read_count: stats.total_read_count,
      total_played_count: stats.total_played_count,
      total_failed_count: stats.total_failed_count,
    });
  }

  render() {
    const buckets = bucketSeries([...this.points.values()]);
    const step = buckets.stepSeconds;
    setText(this.note, step ? `${formatDuration(step)} intervals` : "no activity yet", { flash: false });
    if (!chartsAvailable()) {
      setText(this.note, "charts unavailable: run make dashboard", { flash: false });
      return;
    }
    this.charts ??= new SeriesCharts(this.windowCanvas, this.cumulativeCanvas);
    this.charts.update(buckets);
  }

  destroy() {
    this.charts?.destroy();
  }
}
