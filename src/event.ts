/**
 * The event type: the Python package's `(header, type_names, path, filename)` as an object.
 * @module
 */
import type { EventName } from './constants'

/** The kernel's `struct inotify_event` header. */
export interface InotifyHeader {
  /** Watch descriptor the event belongs to; -1 for `IN_Q_OVERFLOW`. */
  readonly wd: number
  /** The kernel's event mask (see {@link maskToNames}). */
  readonly mask: number
  /** Pairs an `IN_MOVED_FROM` with its `IN_MOVED_TO`; 0 for other events. */
  readonly cookie: number
  /** The kernel's name length, including its NUL padding (0 when there is no name). */
  readonly len: number
}

/**
 * One inotify event. `P` is `string` (the default `'utf8'` encoding) or `Buffer` (`'buffer'`).
 *
 * @example
 * ```ts
 * const { header: { wd, mask, cookie, len }, typeNames, path, filename } = event
 * ```
 */
export interface InotifyEvent<P extends string | Buffer = string> {
  /** The kernel's header. */
  readonly header: InotifyHeader
  /** The names of the mask's bits, `IN_ISDIR` first, then in bit order (see {@link maskToNames}). */
  readonly typeNames: readonly EventName[]
  /** The watch's path as registered; empty for `IN_Q_OVERFLOW`, which belongs to no watch. */
  readonly path: P
  /** The name of the entry inside a watched directory; empty for an event on the watched object itself. */
  readonly filename: P
  /** Set on events made by a directory scan (recursive trees), not read from the kernel. */
  synthetic?: true
}
