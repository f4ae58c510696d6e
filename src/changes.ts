/**
 * Per-path changes, as the engine coalesces them for the tooling API, and their decoding: one
 * `Buffer` per batch, in the format `crates/engine/src/changes_wire.rs` defines and documents (a
 * u32 count, then per change its kind's code, flags, path and old path, integers little-endian).
 * Its constants come from `format-constants.ts`, generated from the engine's.
 * @module
 */
import { CHANGE_KINDS, CHANGES } from './format-constants'
import type { PathEncoding, PathOf } from './paths'
import { decodeBytes } from './wire'

/** What happened to a path: `'create'`, `'modify'`, `'delete'`, `'rename'` or `'overflow'`. */
export type ChangeType = (typeof CHANGE_KINDS)[number]

/**
 * One change under a watched tree. Paths are strings (`P = string`, the default: UTF-8, with
 * U+FFFD for each byte sequence that is not UTF-8) or, with `encoding: 'buffer'`, `Buffer`s holding
 * the exact bytes.
 */
export interface Change<P extends string | Buffer = string> {
  /**
   * `create`: the path appeared (created, or moved in from outside the tree); `modify`: its content
   * or metadata changed, or it was replaced (an editor's atomic save); `delete`: it is gone
   * (deleted, moved out of the tree, or its file system unmounted); `rename`: it moved from
   * `oldPath`, inside the tree;
   * `overflow`: the kernel dropped events; the re-scan's findings follow as synthetic changes.
   */
  readonly type: ChangeType
  /** The absolute path (the root, for an `overflow`). */
  readonly path: P
  /** Where a `rename` came from. */
  readonly oldPath?: P
  /** Whether the path is a directory. */
  readonly isDir: boolean
  /** Present (true) when a scan found it: a new directory's content, or a re-scan after an overflow. */
  readonly synthetic?: true
}

const { HEADER_LEN, KIND_AT, FLAGS_AT, PATH_LEN_AT, PATH_AT, CHANGE_IS_DIR, CHANGE_SYNTHETIC, NO_OLD_PATH } = CHANGES

/**
 * The change that says events were lost under `root`: the kernel's queue overflowed (the engine's
 * overflow concerns the whole instance, so it carries no path of its own), or a consumer fell too
 * far behind. What a re-scan finds follows as synthetic changes.
 */
export function overflowChange<P extends string | Buffer>(root: P): Change<P> {
  return { type: 'overflow', path: root, isDir: true }
}

/** Decodes one batch of changes, paths in `encoding`; an overflow is reported under `overflowPath`. */
export function decodeChanges<E extends PathEncoding>(
  buf: Buffer,
  overflowPath: PathOf<E>,
  encoding: E,
): Change<PathOf<E>>[] {
  const count = buf.readUInt32LE(0)
  const changes: Change<PathOf<E>>[] = new Array(count)
  let at: number = HEADER_LEN
  for (let i = 0; i < count; i++) {
    const type = CHANGE_KINDS[buf[at + KIND_AT] ?? 0] ?? 'modify'
    const flags = buf[at + FLAGS_AT] ?? 0
    const start = at + PATH_AT
    const end = start + buf.readUInt32LE(at + PATH_LEN_AT)
    const oldLen = buf.readUInt32LE(end)
    const oldStart = end + 4
    at = oldLen === NO_OLD_PATH ? oldStart : oldStart + oldLen
    if (type === 'overflow') {
      changes[i] = overflowChange(overflowPath)
      continue
    }
    const change: { -readonly [K in keyof Change<PathOf<E>>]: Change<PathOf<E>>[K] } = {
      type,
      path: decodeBytes(buf, start, end, encoding),
      isDir: (flags & CHANGE_IS_DIR) !== 0,
    }
    if (oldLen !== NO_OLD_PATH) change.oldPath = decodeBytes(buf, oldStart, at, encoding)
    if (flags & CHANGE_SYNTHETIC) change.synthetic = true
    changes[i] = change
  }
  return changes
}
