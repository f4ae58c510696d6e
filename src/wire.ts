/**
 * Reading a batch from the native engine: one `Buffer` per batch, in columns, the format
 * `crates/engine/src/wire.rs` defines and documents (every integer a little-endian u32, every column
 * on a multiple of 4 bytes): a header, then one column per field (wd, mask, cookie, len, path
 * index, flags, name end), then the names, then the path table. Its constants come from
 * `format-constants.ts`, generated from the engine's.
 *
 * The columns are read through typed arrays over the batch's own memory (no copy, nothing parsed
 * per event); a name or a path becomes a string or a `Buffer` only when asked for.
 * @module
 */
import { endianness } from 'node:os'
import { maskToNames } from './constants'
import { BATCH } from './format-constants'
import type { InotifyEvent } from './event'
import type { PathEncoding, PathOf } from './paths'

const {
  HEADER_LEN,
  EVENT_COUNT_AT,
  PATH_COUNT_AT,
  NAMES_OFFSET_AT,
  PATHS_OFFSET_AT,
  BATCH_FLAGS_AT,
  COLUMNS,
  NO_PATH,
  FLAG_SYNTHETIC,
  FLAG_ASCII_NAME,
  BATCH_SETTLED,
  BATCH_ANSWER,
} = BATCH
/**
 * V8 makes a slice of this many characters or more a view of the string it was cut from, which
 * the slice then keeps alive: such names are copied out of the buffer instead, so that a name kept
 * by the user never keeps its batch's names in memory.
 */
const SHARED_SLICE_MIN = 13

/** Whether this host's typed arrays read little-endian, as the batch is written. */
export const HOST_LITTLE_ENDIAN = endianness() === 'LE'

/**
 * The `n` u32 values at `offset` of `buf`: a view when the host is little-endian and the column is
 * aligned in memory (as the engine's buffers are in practice: offsets are multiples of 4 from the
 * start of an allocation), else a copy read field by field.
 */
export function u32Column(buf: Buffer, offset: number, n: number, littleEndianHost = HOST_LITTLE_ENDIAN): Uint32Array {
  if (littleEndianHost && (buf.byteOffset + offset) % 4 === 0) {
    return new Uint32Array(buf.buffer, buf.byteOffset + offset, n)
  }
  const column = new Uint32Array(n)
  for (let i = 0; i < n; i++) column[i] = buf.readUInt32LE(offset + 4 * i)
  return column
}

/**
 * Bytes `start` to `end` of `buf` as a path or name in `encoding`: a copy either way, so that what
 * the user keeps does not keep the batch in memory.
 */
export function decodeBytes<E extends PathEncoding>(buf: Buffer, start: number, end: number, encoding: E): PathOf<E> {
  return (encoding === 'buffer' ? Buffer.from(buf.subarray(start, end)) : buf.toString('utf8', start, end)) as PathOf<E>
}

/** A malformed batch: a bug in the engine or in this decoder, never the kernel's doing. */
function malformed(why: string): Error {
  return new Error(`inotify-napi: malformed batch from the native engine (${why})`)
}

/**
 * One batch, read in place. Rows are the batch's events in the kernel's order; nothing here checks
 * a row number (callers loop from 0 to `count`, or check user input first).
 */
export class WireBatch<E extends PathEncoding> {
  /** Number of events. */
  readonly count: number
  /**
   * The reader read the kernel's queue to its end for this batch; a batch without it is a part of a
   * backlog, handed over while the rest was being read (its end is not the end of a cycle).
   */
  readonly settled: boolean
  /**
   * The batch ends the answer to a read-now request: with it, everything the kernel had queued
   * when `readNow` was called has been handed over.
   */
  readonly answer: boolean
  /** The columns, one value per event. `wd` is read as unsigned: see {@link WireBatch.wd}. */
  readonly wds: Uint32Array
  readonly masks: Uint32Array
  readonly cookies: Uint32Array
  readonly lens: Uint32Array
  readonly pathIndexes: Uint32Array
  readonly flags: Uint32Array
  readonly nameEnds: Uint32Array
  readonly #buf: Buffer
  readonly #encoding: E
  readonly #namesOffset: number
  readonly #pathsOffset: number
  readonly #pathCount: number
  /** The paths, decoded when first asked for. */
  readonly #paths: (PathOf<E> | undefined)[]
  /** Bytes of names (the last name's end). */
  readonly #namesLen: number
  /**
   * With the `'utf8'` encoding, every name of the batch as one Latin-1 string, made with the batch:
   * short ASCII names are cut from it (see {@link WireBatch.name}).
   */
  readonly #ascii: string | undefined

  constructor(buf: Buffer, encoding: E, littleEndianHost = HOST_LITTLE_ENDIAN) {
    if (buf.length < HEADER_LEN) throw malformed(`${buf.length} bytes`)
    const n = buf.readUInt32LE(EVENT_COUNT_AT)
    this.#pathCount = buf.readUInt32LE(PATH_COUNT_AT)
    this.#namesOffset = buf.readUInt32LE(NAMES_OFFSET_AT)
    this.#pathsOffset = buf.readUInt32LE(PATHS_OFFSET_AT)
    const shape = (): string =>
      `${n} events, ${this.#pathCount} paths, offsets ${this.#namesOffset} and ${this.#pathsOffset} in ${buf.length} bytes`
    if (this.#namesOffset !== HEADER_LEN + 4 * COLUMNS * n || this.#namesOffset > buf.length) throw malformed(shape())
    const column = (c: number): Uint32Array => u32Column(buf, HEADER_LEN + 4 * n * c, n, littleEndianHost)
    this.nameEnds = column(BATCH.COLUMN_NAME_END)
    this.#namesLen = n === 0 ? 0 : this.nameEnds[n - 1]!
    if (
      this.#pathsOffset !== this.#namesOffset + Math.ceil(this.#namesLen / 4) * 4 ||
      this.#pathsOffset + 4 * this.#pathCount > buf.length
    ) {
      throw malformed(shape())
    }
    this.count = n
    const batchFlags = buf.readUInt32LE(BATCH_FLAGS_AT)
    this.settled = (batchFlags & BATCH_SETTLED) !== 0
    this.answer = (batchFlags & BATCH_ANSWER) !== 0
    this.wds = column(BATCH.COLUMN_WD)
    this.masks = column(BATCH.COLUMN_MASK)
    this.cookies = column(BATCH.COLUMN_COOKIE)
    this.lens = column(BATCH.COLUMN_LEN)
    this.pathIndexes = column(BATCH.COLUMN_PATH_INDEX)
    this.flags = column(BATCH.COLUMN_FLAGS)
    this.#buf = buf
    this.#encoding = encoding
    this.#paths = new Array<PathOf<E> | undefined>(this.#pathCount)
    // One native call per batch rather than one per name, made here rather than when a name is
    // first asked for, so that name() has no call on its common path: a call reached once per
    // batch would have no type feedback when V8 optimizes name() during the first batch, and would
    // throw that code (and its callers' loops) away at the next batch's first name.
    this.#ascii =
      encoding === 'utf8' ? buf.toString('latin1', this.#namesOffset, this.#namesOffset + this.#namesLen) : undefined
  }

  /** The watch descriptor of row `row` (-1 for `IN_Q_OVERFLOW`). */
  wd(row: number): number {
    return this.wds[row]! | 0
  }

  /**
   * The file name of row `row`: empty for an event on the watched object itself; `undefined` when
   * `row` is not a row of the batch (callers that take an index from the user check it after).
   */
  name(row: number): PathOf<E> | undefined {
    const ends = this.nameEnds
    const end = ends[row]
    if (end === undefined) return undefined
    const start = row === 0 ? 0 : ends[row - 1]!
    const ascii = this.#ascii
    // The common case, with nothing to call but the slice: a short ASCII name (longer ones are
    // copied, see SHARED_SLICE_MIN), cut from the batch's names.
    if (
      ascii !== undefined &&
      start <= end &&
      end - start < SHARED_SLICE_MIN &&
      end <= ascii.length &&
      (this.flags[row]! & FLAG_ASCII_NAME) !== 0
    ) {
      return ascii.slice(start, end) as PathOf<E>
    }
    return this.#decodeName(row, start, end)
  }

  /** Name `row` (bytes `start` to `end` of the names), copied out of the buffer. */
  #decodeName(row: number, start: number, end: number): PathOf<E> {
    if (end < start || end > this.#namesLen) throw malformed(`name ${row} at ${start}..${end} of ${this.#namesLen}`)
    const at = this.#namesOffset
    if (this.#encoding === 'utf8' && (this.flags[row]! & FLAG_ASCII_NAME) !== 0) {
      return this.#buf.toString('latin1', at + start, at + end) as PathOf<E>
    }
    return decodeBytes(this.#buf, at + start, at + end, this.#encoding)
  }

  /** The watch path row `row` is reported under: empty for `IN_Q_OVERFLOW`, which has none. */
  path(row: number): PathOf<E> {
    const index = this.pathIndexes[row]!
    if (index === NO_PATH) return (this.#encoding === 'buffer' ? Buffer.alloc(0) : '') as PathOf<E>
    return this.#paths[index] ?? this.#decodePath(index)
  }

  #decodePath(index: number): PathOf<E> {
    if (index >= this.#pathCount) throw malformed(`path ${index} of ${this.#pathCount}`)
    const ends = this.#pathsOffset
    const bytesAt = ends + 4 * this.#pathCount
    const start = bytesAt + (index === 0 ? 0 : this.#buf.readUInt32LE(ends + 4 * (index - 1)))
    const end = bytesAt + this.#buf.readUInt32LE(ends + 4 * index)
    if (end < start || end > this.#buf.length) throw malformed(`path ${index} at ${start}..${end}`)
    const path = decodeBytes(this.#buf, start, end, this.#encoding)
    this.#paths[index] = path
    return path
  }

  /** Whether row `row` was made by a directory scan (trees), not read from the kernel. */
  synthetic(row: number): boolean {
    return (this.flags[row]! & FLAG_SYNTHETIC) !== 0
  }

  /** Row `row` as an event object. */
  event(row: number): InotifyEvent<PathOf<E>> {
    const mask = this.masks[row]!
    const event: InotifyEvent<PathOf<E>> = {
      header: { wd: this.wd(row), mask, cookie: this.cookies[row]!, len: this.lens[row]! },
      typeNames: maskToNames(mask),
      path: this.path(row),
      filename: this.name(row)!,
    }
    if (this.synthetic(row)) event.synthetic = true
    return event
  }
}
