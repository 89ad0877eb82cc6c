// Pure helpers of the dashboard: formatting, status presentation, series bucketing.
// No DOM and no network here, so the browser test can check them through page.evaluate.

const numberFormat = new Intl.NumberFormat(undefined);
const percentFormat = new Intl.NumberFormat(undefined, {
  minimumFractionDigits: 0,
  maximumFractionDigits: 2,
});

export function formatCount(value) {
  return numberFormat.format(Number(value) || 0);
}

export function formatPercent(value) {
  return `${percentFormat.format(Number(value) || 0)}%`;
}

// `part` as a percentage of `whole`, to one decimal.
export function formatShare(part, whole) {
  return formatPercent(((part / whole) * 100).toFixed(1));
}

// Status is never told by colour alone: each one has an icon and a word (docs/dashboard.md).
export const STATUSES = {
  pending: { icon: "◷", label: "pending", description: "not yet sent" },
  sent: { icon: "✓", label: "sent", description: "reached WhatsApp's server" },
  delivered: { icon: "✓✓", label: "delivered", description: "reached the phone" },
  read: { icon: "✓✓", label: "read", description: "opened by the recipient" },
  played: { icon: "✓✓", label: "played", description: "voice or video message played" },
  failed: { icon: "✗", label: "failed", description: "could not be delivered" },
  skipped: { icon: "⊘", label: "skipped", description: "never attempted, with a reason" },
};

export function statusMeta(status) {
  return STATUSES[status] ?? { icon: "?", label: String(status || "unknown"), description: "" };
}

export function parseTime(value) {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

export function formatClock(ms) {
  if (ms == null) return "";
  return new Date(ms).toLocaleTimeString(undefined, {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

export function formatDateTime(value) {
  const ms = parseTime(value);
  if (ms == null) return "";
  const date = new Date(ms);
  const sameDay = new Date().toDateString() === date.toDateString();
  return sameDay
    ? formatClock(ms)
    : date.toLocaleString(undefined, {
        month: "short",
        day: "numeric",
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
      });
}

export function formatDuration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

// Where a campaign stands, from its statistics; `done` once the worker stamped completed_at
// (snapshots written before the funnel fields existed have none: then once nothing is pending).
export function progress(stats) {
  const total = Math.max(0, Number(stats?.total_message_count) || 0);
  const sent = Number(stats?.total_sent_count) || 0;
  const delivered = Number(stats?.total_delivered_count) || 0;
  const read = Number(stats?.total_read_count) || 0;
  const failed = Number(stats?.total_failed_count) || 0;
  const skipped = Math.max(0, Number(stats?.skipped_count) || 0);
  const pending = Math.max(0, Number(stats?.pending_count) || 0);
  const base = Math.max(total, sent + failed + skipped + pending, 1);
  const share = (n) => (Math.max(0, n) / base) * 100;
  return {
    total,
    processedPercent: share(sent + failed + skipped),
    segments: {
      read: share(read),
      delivered: share(delivered - read),
      sent: share(sent - delivered),
      failed: share(failed),
      skipped: share(skipped),
      pending: share(pending),
    },
    done: Boolean(stats?.completed_at) || (total > 0 && pending === 0),
  };
}

// The phase badge of a campaign (list cards and campaign page), from its statistics and progress().
export function phase(stats, p) {
  if (!stats) return { key: "waiting", text: "Waiting for data" };
  if (p.done) return { key: "done", text: "Completed" };
  return { key: "running", text: "Sending" };
}

// The funnel audience → attempted → sent → delivered → read, and who fell out where: an audience
// member is skipped, still queued or attempted; an attempted one is sent, failed or still
// awaiting its first update (total = queued + awaiting + sent + failed + skipped).
export function funnel(stats) {
  const n = (field) => Math.max(0, Number(stats?.[field]) || 0);
  const audience = n("total_message_count");
  const skipped = n("skipped_count");
  const queued = n("queued_count");
  return {
    audience,
    attempted: Math.max(0, audience - queued - skipped),
    sent: n("total_sent_count"),
    delivered: n("total_delivered_count"),
    read: n("total_read_count"),
    failed: n("total_failed_count"),
    skipped,
    queued,
    awaiting: n("awaiting_update_count"),
  };
}

// Start, completion and how long it took (or has taken so far, at `nowMs`), in seconds.
export function lifecycle(stats, nowMs = Date.now()) {
  const started = parseTime(stats?.started_at);
  const completed = parseTime(stats?.completed_at);
  const end = completed ?? nowMs;
  return {
    started: stats?.started_at ?? null,
    completed: stats?.completed_at ?? null,
    seconds: started == null || end < started ? null : (end - started) / 1000,
  };
}

// Bucket widths the window chart may use, in seconds: "nice" steps a person reads at a glance.
const NICE_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];

// Merge per-window points into at most `maxBuckets` evenly spaced buckets, filling idle gaps
// with zeros (windows exist only when something changed) and carrying cumulative totals forward.
export function bucketSeries(points, maxBuckets = 90) {
  const rows = points
    .map((p) => ({ ...p, t: parseTime(p.start), e: parseTime(p.end) }))
    .filter((p) => p.t != null)
    .sort((a, b) => a.t - b.t);
  const empty = {
    starts: [],
    stepSeconds: 0,
    window: { sent: [], delivered: [], read: [], failed: [] },
    cumulative: { sent: [], delivered: [], read: [], failed: [] },
  };
  if (rows.length === 0) return empty;
  const first = rows[0].t;
  const last = rows[rows.length - 1].t;
  const windowSeconds = Math.max(1, Math.round(((rows[0].e ?? first + 1000) - first) / 1000));
  const spanSeconds = (last - first) / 1000 + windowSeconds;
  const wanted = Math.max(windowSeconds, spanSeconds / maxBuckets);
  const step = NICE_STEPS.find((s) => s >= wanted) ?? Math.ceil(wanted / 86400) * 86400;
  const stepMs = step * 1000;
  const origin = Math.floor(first / stepMs) * stepMs;
  const count = Math.floor((last - origin) / stepMs) + 1;
  const out = structuredClone(empty);
  out.stepSeconds = step;
  for (let i = 0; i < count; i += 1) {
    out.starts.push(origin + i * stepMs);
    for (const key of ["sent", "delivered", "read", "failed"]) out.window[key].push(0);
  }
  const lastTotals = new Array(count).fill(null);
  for (const row of rows) {
    const i = Math.floor((row.t - origin) / stepMs);
    for (const key of ["sent", "delivered", "read", "failed"]) {
      out.window[key][i] += Number(row[key]) || 0;
    }
    lastTotals[i] = row;
  }
  let carry = { total_sent_count: 0, total_delivered_count: 0, total_read_count: 0, total_failed_count: 0 };
  for (let i = 0; i < count; i += 1) {
    if (lastTotals[i]) carry = lastTotals[i];
    for (const key of ["sent", "delivered", "read", "failed"]) {
      out.cumulative[key].push(Number(carry[`total_${key}_count`]) || 0);
    }
  }
  return out;
}
