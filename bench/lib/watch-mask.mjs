// watch()'s kernel mask (CHANGES_MASK in src/watch.ts and crates/engine/src/changes.rs), for the
// InotifyTree that watch() is measured against: the same events asked of the kernel, so that what
// differs is what each API does with them.

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
