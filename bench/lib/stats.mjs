// The statistics of every table: percentiles, medians over runs, slopes, and the ratios the tables
// print beside each figure.

/** The p-th percentile (nearest rank) of values sorted in ascending order; NaN when there are none. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

/** The median of the values that are numbers; NaN when none is. */
export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const mid = v.length >> 1
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

/** Count, p50, p90, p99, max and mean of a list of samples. */
export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b)
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1],
    mean,
  }
}

/** The least-squares slope of ys over xs; NaN if a value is not a number. */
export function slope(xs, ys) {
  if (xs.length < 2 || ![...xs, ...ys].every(Number.isFinite)) return NaN
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length
  const my = ys.reduce((a, b) => a + b, 0) / ys.length
  const sxy = xs.reduce((total, x, i) => total + (x - mx) * (ys[i] - my), 0)
  const sxx = xs.reduce((total, x) => total + (x - mx) ** 2, 0)
  return sxy / sxx
}

/** a / b, or NaN when either is not a number or b is 0 (a table prints it as n/a). */
export function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN
}
