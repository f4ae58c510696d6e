// The kernel masks of the tree scenarios: what a "tell me what changed" watcher asks for (the
// `inotify-napi` column's InotifyTree, and the C walker, so that both ask the kernel for the same), and
// watch()'s (CHANGES_MASK in src/watch.ts and crates/engine/src/changes.rs), for the InotifyTree that
// watch() is measured against: the same events asked of the kernel, so that what differs is what each
// API does with them.

/** Creates, writes, deletes, moves (`napi`: the package's exports, for its constants). */
export const changeMask = (napi) =>
  napi.IN_CREATE | napi.IN_CLOSE_WRITE | napi.IN_DELETE | napi.IN_MOVED_FROM | napi.IN_MOVED_TO

/** The mask, from the package's own constants (`napi`: its exports). */
export const watchMask = (napi) =>
  napi.IN_CREATE |
  napi.IN_MODIFY |
  napi.IN_CLOSE_WRITE |
  napi.IN_ATTRIB |
  napi.IN_DELETE |
  napi.IN_MOVED_FROM |
  napi.IN_MOVED_TO |
  napi.IN_DELETE_SELF
