// The two table layouts and the ratios in them.
//
// Plain scenarios (latency, burst, drain): inotify-napi (Inotify, eventGen) first, then eventBatches
// (the same Inotify, the batch path: no ratio column of its own); then watch() with watch() /
// inotify-napi, and fs.watch and the C reader with inotify-napi / it and eventBatches / it (raw/fs and
// batch/fs, raw/C and batch/C). With InotifyTree in the table (the burst), watch() is given as a ratio
// to it, as issue #4 asks.
//
// Tree scenarios: inotify-napi (InotifyTree) / each peer (and / the C walker in the startup), and
// watch() / inotify-napi. A watcher that failed or timed out in any run shows "timed out" (or
// "failed", or "limit") instead of a figure.
import { BATCHES, C_READER, C_WALKER, TREE, TREE_IMPLS, WATCH } from './impls.mjs'
import { median, ratio } from './stats.mjs'

const peerLabels = { 'fs.watch': 'fs', [C_READER]: 'C' }
/** The tree scenarios' column headings, where they differ from the watcher's name. */
const treeHeadings = { 'fs.watch': 'fs.watch rec.' }

/** A plain scenario's columns for its watchers `impls`. */
export const plainColumns = (impls) =>
  impls.map((impl, i) => {
    if (i === 0) return impl
    if (impl === BATCHES) return { name: impl, ratio: [] }
    if (impl === WATCH) return { name: impl, ratio: impls.includes(TREE) ? 'watch/tree' : 'watch/raw' }
    if (impl === TREE) return { name: impl, ratio: 'tree/raw' }
    const peer = peerLabels[impl]
    return { name: impl, ratio: impls.includes(BATCHES) ? [`raw/${peer}`, `batch/${peer}`] : `raw/${peer}` }
  })

/** A plain scenario's row: `valueFor(impl)` for each watcher, and the ratios the columns say. */
export const plainRow = (scenario, impls, metric, valueFor, { digits = 2, withRatio = true } = {}) => {
  const values = impls.map(valueFor)
  const base = impls.includes(TREE) ? values[impls.indexOf(TREE)] : values[0]
  const batches = impls.includes(BATCHES) ? values[impls.indexOf(BATCHES)] : undefined
  const ratios = impls.slice(1).map((impl, i) => {
    if (!withRatio || impl === BATCHES) return undefined
    if (impl === WATCH) return ratio(values[i + 1], base)
    if (impl === TREE) return ratio(values[i + 1], values[0])
    const raw = ratio(values[0], values[i + 1])
    return batches === undefined ? raw : [raw, ratio(batches, values[i + 1])]
  })
  return { scenario, metric, values, ratios, digits }
}

/** A tree scenario's columns for its watchers `impls` (TREE_IMPLS' order, and the C walker last). */
export const treeColumnsOf = (impls) =>
  impls.map((impl) => {
    if (impl === WATCH) return { name: impl, ratio: 'watch/raw' }
    if (impl === C_WALKER) return { name: impl, ratio: 'raw/C' }
    return treeHeadings[impl] ?? impl
  })

/** The tree scenarios' columns (TREE_IMPLS). */
export const treeColumns = treeColumnsOf(TREE_IMPLS)

/** What a watcher's failure in any of the runs `list` shows instead of a figure; undefined if none. */
const failedIn = (list, impl) => list.map((r) => r[impl].failed).find(Boolean)
/** Median over the runs of `key`, divided by `scale`; or the failure. */
export const tmed = (list, impl, key, scale = 1) =>
  failedIn(list, impl) ?? median(list.map((r) => r[impl][key])) / scale
/** The smallest `key` over the runs (the worst completeness); or the failure. */
export const tworst = (list, impl, key) => failedIn(list, impl) ?? Math.min(...list.map((r) => r[impl][key]))
/** The sum of `key` over the runs; or the failure. */
export const tsum = (list, impl, key) => failedIn(list, impl) ?? list.reduce((total, r) => total + r[impl][key], 0)

/**
 * A tree scenario's row: watch() / InotifyTree for watch(); InotifyTree / peer for the peers and the C
 * walker. `impls` are the columns (TREE_IMPLS unless given).
 */
export const treeRow = (scenario, metric, valueFor, { digits = 2, withRatio = true, impls = TREE_IMPLS } = {}) => {
  const values = impls.map(valueFor)
  const ratios = impls
    .slice(1)
    .map((impl, i) =>
      withRatio ? (impl === WATCH ? ratio(values[i + 1], values[0]) : ratio(values[0], values[i + 1])) : undefined,
    )
  return { scenario, metric, values, ratios, digits }
}
