/**
 * Per-path changes, as the engine coalesces them for the tooling API, and their decoding: one
 * `Buffer` per batch, the layout written by `crates/engine/src/changes.rs` (integers little-endian):
 *
 * ```text
 * header   u32 changeCount
 * changes  changeCount × { u8 kind, u8 flags, u32 pathLen, path, u32 oldLen, oldPath }
 * ```
 * @module
 */
import type { PathEncoding, PathOf } from './paths'
import { decodeBytes } from './wire'

/** What happened to a path. */
export type ChangeType = 'create' | 'modify' | 'delete' | 'rename' | 'overflow'

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

const KINDS: readonly ChangeType[] = ['create', 'modify', 'delete', 'rename', 'overflow']
const CHANGE_IS_DIR = 1
const CHANGE_SYNTHETIC = 2
const NO_OLD_PATH = 0xffffffff

/** Decodes one batch of changes, paths in `encoding`; `overflowPath` names an overflow's path. */
export function decodeChanges<E extends PathEncoding>(
  buf: Buffer,
  overflowPath: PathOf<E>,
  encoding: E,
): Change<PathOf<E>>[] {
  const count = buf.readUInt32LE(0)
  const changes: Change<PathOf<E>>[] = new Array(count)
  let at = 4
  for (let i = 0; i < count; i++) {
    const type = KINDS[buf[at] ?? 0] ?? 'modify'
    const flags = buf[at + 1] ?? 0
    const pathLen = buf.readUInt32LE(at + 2)
    const start = at + 6
    const end = start + pathLen
    at = end
    const oldLen = buf.readUInt32LE(at)
    at += 4
    const change: { -readonly [K in keyof Change<PathOf<E>>]: Change<PathOf<E>>[K] } = {
      type,
      path: type === 'overflow' ? overflowPath : decodeBytes(buf, start, end, encoding),
      isDir: (flags & CHANGE_IS_DIR) !== 0,
    }
    if (oldLen !== NO_OLD_PATH) {
      change.oldPath = decodeBytes(buf, at, at + oldLen, encoding)
      at += oldLen
    }
    if (flags & CHANGE_SYNTHETIC) change.synthetic = true
    changes[i] = change
  }
  return changes
}
