/**
 * `@parcel/watcher`'s `writeSnapshot` and `getEventsSince` on Linux: what a directory tree holds,
 * kept in a file, and what was created, updated and deleted under it since. The walk and the
 * comparison run natively, on threads of their own, off the event loop.
 * @module
 */
import { fromNativeSnapshotError } from './errors'
import { native } from './native'
import { snapshotSettings } from './options'
import type { EventType, Options, SubscribeEvent } from './subscribe'

/**
 * Walks `dir` and writes what it holds (every path not ignored, and each file's modification time,
 * size and inode) to the file `snapshot`, for {@link getEventsSince} to compare with later, as
 * `@parcel/watcher`'s `writeSnapshot`. The file is written beside `snapshot` and renamed over it,
 * so it is whole or untouched. Its format is this package's own (versioned, about an eighth of
 * `@parcel/watcher`'s size); a snapshot of one cannot be read by the other.
 *
 * `options` are `subscribe()`'s: `ignore` leaves paths out of the walk (an ignored directory is not
 * opened). Resolves with the snapshot's absolute path. Rejects with an `InotifyError`: the
 * directory's `ENOENT` or `ENOTDIR`, or, for the snapshot file, `@parcel/watcher`'s words
 * (`Unable to open snapshot file: No such file or directory`) with its `code` and `path`.
 */
export async function writeSnapshot(dir: string, snapshot: string, options?: Options): Promise<string> {
  const { root, snapshotPath, ignore } = snapshotSettings(dir, snapshot, options, 'writeSnapshot')
  try {
    await native.writeSnapshot(Buffer.from(root), Buffer.from(snapshotPath), ignore)
  } catch (error) {
    throw fromNativeSnapshotError(error, snapshotPath)
  }
  return snapshotPath
}

/**
 * What was created, updated and deleted under `dir` since {@link writeSnapshot} wrote `snapshot`,
 * as `@parcel/watcher`'s `getEventsSince`: one event per path, sorted by path (by its UTF-8 bytes),
 * as its batches are. A path that is new is a `create` (a new directory's content too), one that is
 * gone a `delete` (a deleted directory's content too), a file whose modification time, size or
 * inode differs an `update`; a directory itself is never updated, and a path that changed between
 * file and directory is an `update` (where `@parcel/watcher` reports nothing for the path itself).
 *
 * Pass the `ignore` the snapshot was written with: a path the snapshot holds and the walk now
 * ignores is reported deleted, one the snapshot left out and the walk now finds created. Rejects
 * with an `InotifyError`: the directory's `ENOENT` or `ENOTDIR`; for the snapshot file,
 * `@parcel/watcher`'s words when it cannot be opened (`ENOENT`, `EACCES`, ...), and
 * `ERR_INOTIFY_SNAPSHOT_CORRUPT` when it is not a whole snapshot written by this package (cut
 * short, altered, another format or version): never a wrong answer.
 */
export async function getEventsSince(dir: string, snapshot: string, options?: Options): Promise<SubscribeEvent[]> {
  const { root, snapshotPath, ignore } = snapshotSettings(dir, snapshot, options, 'getEventsSince')
  try {
    const events = await native.getEventsSince(Buffer.from(root), Buffer.from(snapshotPath), ignore)
    // The binding gives `type` as one of the three names of EventType.
    return events as { type: EventType; path: string }[]
  } catch (error) {
    throw fromNativeSnapshotError(error, snapshotPath)
  }
}
