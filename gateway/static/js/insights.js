// The fixed time buckets of the campaign insights and percentiles over them, as contract/insights.py
// defines them (docs/insights.md). The page computes the percentiles of every live snapshot's
// histograms itself instead of fetching them again; the browser test checks this function against
// the Python one on the same histograms, and these bounds against BOUNDS_SECONDS.

// Upper bounds (exclusive) in seconds; one more bucket than bounds: a day or more.
export const BOUNDS_SECONDS = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400];
export const BUCKETS = BOUNDS_SECONDS.length + 1;
const PERCENTILES = [
  ["p50", 0.5],
  ["p90", 0.9],
  ["p99", 0.99],
];

// {lower, upper} in seconds; upper null for the last bucket.
export function bucketBounds(index) {
  return {
    lower: index === 0 ? 0 : BOUNDS_SECONDS[index - 1],
    upper: index < BOUNDS_SECONDS.length ? BOUNDS_SECONDS[index] : null,
  };
}

// The bucket holding the q-quantile, the ⌈q·n⌉-th smallest duration; null for an empty histogram.
export function percentileBucket(buckets, q) {
  const total = buckets.reduce((sum, n) => sum + n, 0);
  if (total <= 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let index = 0; index < buckets.length; index += 1) {
    seen += buckets[index];
    if (seen >= rank) return index;
  }
  return buckets.length - 1;
}

// A histogram (null: none yet) as the gateway's /distributions gives it: count, buckets and
// p50/p90/p99 as bucket bounds.
export function distribution(buckets) {
  const counts = buckets ?? new Array(BUCKETS).fill(0);
  const result = { count: counts.reduce((sum, n) => sum + n, 0), buckets: counts };
  for (const [name, q] of PERCENTILES) {
    const index = percentileBucket(counts, q);
    result[name] = index == null ? null : bucketBounds(index);
  }
  return result;
}

const UNITS = [
  [86400, "d"],
  [3600, "h"],
  [60, "min"],
  [1, "s"],
];

// The largest unit both bounds are whole numbers of, so "30–60 s" and "1–2 min", never "0.5–1 h".
function unitFor(...seconds) {
  return UNITS.find(([size]) => seconds.every((s) => s % size === 0)) ?? UNITS[UNITS.length - 1];
}

// A bucket as a person reads it: "< 1 s", "1–2 s", "30–60 min", "≥ 1 d"; "–" for no bucket.
export function bucketLabel(bounds) {
  if (!bounds) return "–";
  const { lower, upper } = bounds;
  if (upper == null) {
    const [size, unit] = unitFor(lower);
    return `≥ ${lower / size} ${unit}`;
  }
  if (lower === 0) {
    const [size, unit] = unitFor(upper);
    return `< ${upper / size} ${unit}`;
  }
  const [size, unit] = unitFor(lower, upper);
  return `${lower / size}–${upper / size} ${unit}`;
}

// Every bucket's label, in order (the distribution chart's axis and the stated bounds).
export function bucketLabels() {
  return Array.from({ length: BUCKETS }, (_, i) => bucketLabel(bucketBounds(i)));
}
