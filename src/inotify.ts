/**
 * `Inotify`: the Python package's `inotify.adapters.Inotify`, in TypeScript, with the kernel read on a
 * native thread so that the event loop is never blocked.
 * @module
 */
import { IN_ALL_EVENTS } from './constants'
import { fromNativeError, InotifyError } from './errors'
import { RawEventSource, type BlockDuration } from './event-source'
import { checkWatchMask } from './masks'
import { NativeSession, type RawHandle } from './native-session'
import { inotifySettings } from './options'
import { checkPath, describe, type PathEncoding, type PathLike } from './paths'

/** Options of {@link Inotify}. */
export interface InotifyOptions<E extends PathEncoding = 'utf8'> {
  /** Paths to watch from the start, each with {@link InotifyOptions.mask}. */
  paths?: readonly PathLike[]
  /** Mask for `paths`; default `IN_ALL_EVENTS`. */
  mask?: number
  /**
   * Longest wait for events before a cycle ends with none (and `eventGen` yields `null`), in
   * seconds: a number, a function called before each wait, or `null` for no limit. Default 1.
   * Only generators that yield `null`s wait in such cycles; with `yieldNones: false` the reader
   * sleeps until the kernel has events (`timeoutS` still ends the generator on time).
   */
  blockDurationS?: BlockDuration
  /** `'utf8'` (default): paths and names are strings. `'buffer'`: the kernel's exact bytes. */
  encoding?: E
}

/**
 * One inotify instance of its own (its watch descriptors, queue and overflow are the user's to
 * see, as in the Python package; trees and watchers share another): add and remove watches, and read events as an async generator (or a
 * blocking one), with the Python `inotify` package's semantics.
 *
 * The instance keeps Node's event loop alive while it is open, as `fs.watch` does; call
 * {@link Inotify.unref} to let the process exit anyway, and {@link Inotify.close} when done.
 *
 * @example
 * ```ts
 * const i = new Inotify()
 * i.addWatch('/tmp')
 * for await (const event of i.eventGen()) {
 *   if (event === null) continue
 *   console.log(event.typeNames, event.path, event.filename)
 * }
 * ```
 */
export class Inotify<E extends PathEncoding = 'utf8'> extends RawEventSource<E> {
  readonly #session: NativeSession<RawHandle>

  /** Opens an inotify instance and watches `options.paths`. */
  constructor(options?: InotifyOptions<E>) {
    const settings = inotifySettings(options)
    const session = NativeSession.raw()
    super(session, settings)
    this.#session = session
    try {
      for (const path of settings.paths) this.#addChecked(path.bytes, path.given, settings.mask)
    } catch (error) {
      void this.close()
      throw error
    }
  }

  /**
   * Watches `path` for the events in `mask` (default `IN_ALL_EVENTS`) and returns the watch
   * descriptor. Watching an inode that is already watched returns its wd and replaces its mask
   * (unless `IN_MASK_ADD`), as the kernel does.
   */
  addWatch(path: PathLike, mask: number = IN_ALL_EVENTS): number {
    const checkedMask = checkWatchMask(mask)
    const checked = checkPath(path)
    return this.#addChecked(checked.bytes, checked.given, checkedMask)
  }

  #addChecked(bytes: Buffer, given: string | Buffer, mask: number): number {
    this.checkOpen('addWatch')
    try {
      return this.#session.handle.addWatch(bytes, mask)
    } catch (error) {
      throw fromNativeError(error, given)
    }
  }

  /**
   * Stops watching `path` (as it was given to {@link Inotify.addWatch}). With `superficial`, only
   * forgets it, for a watch the kernel already dropped: a path this instance no longer watches
   * (its `IN_IGNORED` was read, and the watch forgotten then) is left as it is, as the Python
   * package's trees expect. Without it, throws `EINVAL` if the path is not watched.
   */
  removeWatch(path: PathLike, superficial = false): void {
    const checked = checkPath(path)
    if (typeof superficial !== 'boolean')
      throw new TypeError(`superficial must be a boolean, got ${describe(superficial)}`)
    this.checkOpen('removeWatch')
    const wd = this.#session.handle.wdOf(checked.bytes)
    if (wd === null) {
      if (superficial) return
      throw notWatched(checked.given)
    }
    this.removeWatchWithId(wd, superficial)
  }

  /**
   * Stops watching the watch descriptor `wd` (only forgets it, with `superficial`). Throws
   * `EINVAL` if `wd` is not watched, superficial or not (the Python package raises `KeyError`).
   */
  removeWatchWithId(wd: number, superficial = false): void {
    if (typeof wd !== 'number') throw new TypeError(`wd must be an integer, got ${describe(wd)}`)
    if (!Number.isInteger(wd) || wd < -0x80000000 || wd > 0x7fffffff) {
      throw new RangeError(`wd must be a 32-bit integer watch descriptor, got ${describe(wd)}`)
    }
    if (typeof superficial !== 'boolean')
      throw new TypeError(`superficial must be a boolean, got ${describe(superficial)}`)
    this.checkOpen('removeWatchWithId')
    try {
      this.#session.handle.removeWatch(wd, superficial)
    } catch (error) {
      throw fromNativeError(error)
    }
  }
}

/** The error for a path that is not watched: what `inotify_rm_watch` would say of a wd it lacks. */
function notWatched(path: string | Buffer): InotifyError {
  return new InotifyError({
    code: 'EINVAL',
    syscall: 'inotify_rm_watch',
    path,
    message: `EINVAL: not watched by this Inotify instance, inotify_rm_watch '${String(path)}'`,
  })
}
