/**
 * `EventBatch`: the events the reader thread handed over at once, for consumers that want every
 * event at the least cost (see `eventBatches`).
 * @module
 */
import { maskToNames, type EventName } from './constants'
import type { InotifyEvent } from './event'
import { describe, type PathEncoding, type PathOf } from './paths'
import type { WireBatch } from './wire'

/**
 * Events the reader thread handed over at once (what it read from the kernel's queue in one go, or
 * the rest of it that another generator left), in the kernel's order, read in place from the native
 * engine's buffer: a field of event `i` is one array read, and no name or path is made until it is
 * asked for. `P` is `string` (the default `'utf8'` encoding) or `Buffer` (`'buffer'`).
 *
 * Valid indices are the integers from 0 to `length - 1`; any other throws a `RangeError`. A batch
 * stays valid as long as it is referenced, and keeps its buffer (up to about 1 MiB) in memory
 * meanwhile, with `'utf8'` also one string of all its names (short names are cut from it); the
 * names and paths taken from it are copies (or short strings of their own) that keep nothing else
 * alive.
 *
 * @example
 * ```ts
 * for await (const batch of inotify.eventBatches()) {
 *   for (let i = 0; i < batch.length; i++) {
 *     if (batch.mask(i) & IN_CREATE) created.add(batch.filename(i))
 *   }
 * }
 * ```
 */
export interface EventBatch<P extends string | Buffer = string> extends Iterable<InotifyEvent<P>> {
  /** Number of events. */
  readonly length: number
  /** Watch descriptor of event `i`; -1 for `IN_Q_OVERFLOW`. */
  wd(i: number): number
  /** The kernel's mask of event `i` (see {@link maskToNames}). */
  mask(i: number): number
  /** The cookie of event `i`: pairs an `IN_MOVED_FROM` with its `IN_MOVED_TO`; 0 for other events. */
  cookie(i: number): number
  /** The kernel's name length of event `i`, NUL padding included (0 when it has no name). */
  len(i: number): number
  /** The names of event `i`'s mask bits, as {@link InotifyEvent.typeNames}. */
  typeNames(i: number): readonly EventName[]
  /** The watch's path of event `i`, as registered; empty for `IN_Q_OVERFLOW`. */
  path(i: number): P
  /** The name of the entry event `i` is about, inside a watched directory; empty for the watched object itself. */
  filename(i: number): P
  /** Whether event `i` was made by a directory scan (recursive trees), not read from the kernel. */
  synthetic(i: number): boolean
  /** Event `i` as the object `eventGen` yields. */
  event(i: number): InotifyEvent<P>
  /** The events as objects, in order. */
  [Symbol.iterator](): IterableIterator<InotifyEvent<P>>
}

/** The error for an index that is not an integer from 0 to `length - 1`. */
function badIndex(i: unknown, length: number): RangeError {
  return new RangeError(`EventBatch index must be an integer from 0 to ${length - 1}, got ${describe(i)}`)
}

/**
 * A batch as the user sees it: the rows of a {@link WireBatch}, all of them or some (`rows`: what a
 * generator left over, or what a tree's ignore function kept).
 *
 * `mask` and `filename`, what a loop over every event calls, check the index by what the column
 * read gives (`undefined` for a number that is not an index), with no call on their way but the
 * decoding of the name: a fresh process runs them thousands of times in V8's interpreter before
 * it optimizes them, and each call and check costs there.
 */
export class BatchView<E extends PathEncoding> implements EventBatch<PathOf<E>> {
  readonly length: number
  readonly #wire: WireBatch<E>
  readonly #rows: Uint32Array | null
  readonly #masks: Uint32Array

  constructor(wire: WireBatch<E>, rows: Uint32Array | null = null) {
    this.#wire = wire
    this.#rows = rows
    this.#masks = wire.masks
    this.length = rows === null ? wire.count : rows.length
  }

  /** The wire row of index `i`; a `RangeError` unless `i` is an integer from 0 to `length - 1`. */
  #row(i: number): number {
    // `i >>> 0 === i` holds for the integers from 0 to 2^32 - 1 only (not for NaN, -1, 1.5).
    if (typeof i !== 'number' || i >>> 0 !== i || i >= this.length) throw badIndex(i, this.length)
    const rows = this.#rows
    return rows === null ? i : rows[i]!
  }

  wd(i: number): number {
    return this.#wire.wd(this.#row(i))
  }

  mask(i: number): number {
    const rows = this.#rows
    // A typed array gives `undefined` for a number that is not one of its indices.
    const mask = typeof i === 'number' ? this.#masks[rows === null ? i : (rows[i] ?? -1)] : undefined
    if (mask === undefined) throw badIndex(i, this.length)
    return mask
  }

  cookie(i: number): number {
    return this.#wire.cookies[this.#row(i)]!
  }

  len(i: number): number {
    return this.#wire.lens[this.#row(i)]!
  }

  typeNames(i: number): readonly EventName[] {
    return maskToNames(this.mask(i))
  }

  path(i: number): PathOf<E> {
    return this.#wire.path(this.#row(i))
  }

  filename(i: number): PathOf<E> {
    const rows = this.#rows
    const name = typeof i === 'number' ? this.#wire.name(rows === null ? i : (rows[i] ?? -1)) : undefined
    if (name === undefined) throw badIndex(i, this.length)
    return name
  }

  synthetic(i: number): boolean {
    return this.#wire.synthetic(this.#row(i))
  }

  event(i: number): InotifyEvent<PathOf<E>> {
    return this.#wire.event(this.#row(i))
  }

  *[Symbol.iterator](): IterableIterator<InotifyEvent<PathOf<E>>> {
    for (let i = 0; i < this.length; i++) yield this.event(i)
  }
}
