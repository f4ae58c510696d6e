// The watchers the scenarios compare, by the names the tables and the child processes use.
import { C_READER, C_WALKER } from './c-programs.mjs'

export { C_READER, C_WALKER }
/** The tooling API, `watch(dir, { recursive: true, debounceMs: 0 })`, compared with the raw API. */
export const WATCH = 'watch()'
/**
 * Inotify's batch path, `eventBatches()` (the `inotify-napi` column of the plain scenarios is its
 * per-event path, `eventGen`).
 */
export const BATCHES = 'eventBatches'
/** The raw recursive API with watch()'s mask (children/watcher.mjs, children/tree-watcher.mjs). */
export const TREE = 'InotifyTree'
/**
 * The tree scenarios' watchers; 'inotify-napi' there is InotifyTree with the mask of a "what changed"
 * watcher, and 'fs.watch' is `fs.watch(dir, { recursive: true })`.
 */
export const TREE_IMPLS = ['inotify-napi', WATCH, '@parcel/watcher', 'chokidar', 'fs.watch']
export const PEERS = ['@parcel/watcher', 'chokidar', 'fs.watch']
/** The tree watchers that watch every file as well as every directory. */
export const WATCH_PER_FILE = ['chokidar', 'fs.watch']

/** The watchers of a plain scenario, with the C reader last when it could be built. */
export const withC = (impls, cReader) => (cReader.binary ? [...impls, C_READER] : impls)

/** A different first watcher in each run. */
export function rotate(list, by) {
  const k = by % list.length
  return [...list.slice(k), ...list.slice(0, k)]
}
