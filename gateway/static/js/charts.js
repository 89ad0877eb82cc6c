// Chart.js (vendored by `make dashboard`, served from /static/vendor) behind three small views.

import { formatClock, formatCount } from "./format.js";

const SERIES = ["sent", "delivered", "read", "failed"];

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function palette() {
  return {
    sent: cssVar("--c-sent"),
    delivered: cssVar("--c-delivered"),
    read: cssVar("--c-read"),
    failed: cssVar("--c-failed"),
    grid: cssVar("--c-grid"),
    text: cssVar("--c-muted"),
  };
}

export function chartsAvailable() {
  return typeof window.Chart === "function";
}

function baseOptions(colors, { stacked = false, yTitle = "" } = {}) {
  const reduced = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: reduced ? false : { duration: 250 },
    interaction: { mode: "index", intersect: false },
    plugins: {
      legend: {
        position: "bottom",
        labels: { color: colors.text, usePointStyle: true, boxWidth: 8, boxHeight: 8 },
      },
      tooltip: {
        callbacks: { label: (ctx) => ` ${ctx.dataset.label}: ${formatCount(ctx.parsed.y)}` },
      },
    },
    scales: {
      x: {
        stacked,
        grid: { display: false },
        ticks: { color: colors.text, maxRotation: 0, autoSkip: true, autoSkipPadding: 12 },
      },
      y: {
        stacked,
        beginAtZero: true,
        grid: { color: colors.grid },
        ticks: { color: colors.text, precision: 0 },
        title: { display: Boolean(yTitle), text: yTitle, color: colors.text },
      },
    },
  };
}

function label(name) {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

// Per-window activity (bars) and the cumulative curves (lines) over the same buckets.
export class SeriesCharts {
  constructor(windowCanvas, cumulativeCanvas) {
    const colors = palette();
    this.window = new window.Chart(windowCanvas, {
      type: "bar",
      data: {
        labels: [],
        datasets: SERIES.map((key) => ({
          label: label(key),
          data: [],
          backgroundColor: colors[key],
          borderRadius: 2,
          categoryPercentage: 0.85,
          barPercentage: 0.95,
        })),
      },
      options: baseOptions(colors, { yTitle: "messages per interval" }),
    });
    this.cumulative = new window.Chart(cumulativeCanvas, {
      type: "line",
      data: {
        labels: [],
        datasets: SERIES.map((key) => ({
          label: label(key),
          data: [],
          borderColor: colors[key],
          backgroundColor: colors[key],
          pointRadius: 0,
          borderWidth: 2,
          tension: 0.25,
          stepped: false,
        })),
      },
      options: baseOptions(colors, { yTitle: "messages" }),
    });
  }

  update(buckets) {
    const labels = buckets.starts.map((ms) => formatClock(ms));
    for (const [chart, source] of [
      [this.window, buckets.window],
      [this.cumulative, buckets.cumulative],
    ]) {
      chart.data.labels = labels;
      SERIES.forEach((key, i) => {
        chart.data.datasets[i].data = source[key];
      });
      chart.update("none");
    }
  }

  destroy() {
    this.window.destroy();
    this.cumulative.destroy();
  }
}

// The time to sent, delivered and read as histograms on the one set of fixed buckets.
export class DistributionChart {
  constructor(canvas, stages) {
    const colors = palette();
    this.chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: [],
        datasets: stages.map((stage) => ({ label: stage.label, data: [], backgroundColor: colors[stage.series], borderRadius: 3 })),
      },
      options: baseOptions(colors, { yTitle: "messages" }),
    });
  }

  // `counts`: one list of bucket counts per stage, in the stages' order.
  update(labels, counts) {
    this.chart.data.labels = labels;
    counts.forEach((data, i) => {
      this.chart.data.datasets[i].data = data;
    });
    this.chart.update("none");
  }

  destroy() {
    this.chart.destroy();
  }
}
