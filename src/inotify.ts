/**
 * `Inotify`: the Python package's `inotify.adapters.Inotify`, in TypeScript, with the kernel read on a
 * native thread so that the event loop is never blocked.
 * @module
 */
import { performance } from 'node:perf_hooks'
import { checkWatchMask, IN_ALL_EVENTS, type EventName } from './constants'
import { AbortError, closedError, fromNativeError, TerminalEventError } from './errors'
import type { InotifyEvent } from './event'
import { native, type NativeInotify } from './native'
import { checkPath, describe, type PathEncoding, type PathLike, type PathOf } from './paths'
import { decodeBatch } from './wire'

/** How long one wait for events lasts, in seconds; `null` waits without end (no ticks). */
export type BlockDuration = number | (() => number) | null

/** Options of {@link Inotify}. */
export interface InotifyOptions<E extends PathEncoding = 'utf8'> {
  /** Paths to watch from the start, each with {@link InotifyOptions.mask}. */
  paths?: readonly PathLike[]
  /** Mask for `paths`; default `IN_ALL_EVENTS`. */
  mask?: number
  /**
   * Longest wait for events before a cycle ends with none (and `eventGen` yields `null`), in
   * seconds: a number, a function called before each wait, or `null` for no limit. Default 1.
   */
  blockDurationS?: BlockDuration
  /** `'utf8'` (default): paths and names are strings. `'buffer'`: the kernel's exact bytes. */
  encoding?: E
}

/** Options of {@link Inotify.eventGen} and {@link Inotify.eventGenSync}. */
export interface EventGenOptions<P extends string | Buffer = string> {
  /** End the generator after this many seconds without an event (monotonic clock). */
  timeoutS?: number
  /** Yield `null` at the end of each cycle (all pending events delivered, or a wait with none). Default true. */
  yieldNones?: boolean
  /**
   * Called for each type name of each event; returning exactly `false` ends the generator and
   * sets {@link Inotify.lastSuccessReturn} to `[typeName, event]` (the Python package's semantics).
   */
  filterPredicate?: (typeName: EventName, event: InotifyEvent<P>) => boolean
  /** Drops the events for which it returns `false`. */
  filter?: (event: InotifyEvent<P>) => boolean
  /** Type names that throw {@link TerminalEventError}; default `['IN_Q_OVERFLOW', 'IN_UNMOUNT']`. */
  terminalEvents?: readonly EventName[]
  /** Aborting ends the generator with an `AbortError`. */
  signal?: AbortSignal
}

/** The default terminal events, as the Python package's. */
export const DEFAULT_TERMINAL_EVENTS: readonly EventName[] = Object.freeze(['IN_Q_OVERFLOW', 'IN_UNMOUNT'])

/** Marks the end of a cycle (one batch, or a wait that ended with none) in the queue. */
const CYCLE_END = Symbol('cycle end')

const noop = (): void => {}

interface GenSettings<P extends string | Buffer> {
  timeoutMs: number | undefined
  yieldNones: boolean
  filterPredicate: EventGenOptions<P>['filterPredicate']
  filter: EventGenOptions<P>['filter']
  terminal: ReadonlySet<EventName>
  signal: AbortSignal | undefined
}

const GEN_OPTION_KEYS = new Set(['timeoutS', 'yieldNones', 'filterPredicate', 'filter', 'terminalEvents', 'signal'])
const OPTION_KEYS = new Set(['paths', 'mask', 'blockDurationS', 'encoding'])

function checkKeys(options: object, known: ReadonlySet<string>, what: string): void {
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw new TypeError(`${what}: unknown option "${key}"; known options are ${[...known].join(', ')}`)
    }
  }
}

function checkSeconds(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${what} must be a finite number of seconds >= 0, got ${describe(value)}`)
  }
  return value
}

function checkFunction(value: unknown, what: string): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new TypeError(`${what} must be a function, got ${describe(value)}`)
  }
}

function genSettings<P extends string | Buffer>(options: EventGenOptions<P> | undefined): GenSettings<P> {
  const o = options ?? {}
  if (typeof o !== 'object') throw new TypeError(`eventGen options must be an object, got ${describe(o)}`)
  checkKeys(o, GEN_OPTION_KEYS, 'eventGen')
  checkFunction(o.filterPredicate, 'filterPredicate')
  checkFunction(o.filter, 'filter')
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new TypeError(`signal must be an AbortSignal, got ${describe(o.signal)}`)
  }
  if (o.yieldNones !== undefined && typeof o.yieldNones !== 'boolean') {
    throw new TypeError(`yieldNones must be a boolean, got ${describe(o.yieldNones)}`)
  }
  const terminal = o.terminalEvents ?? DEFAULT_TERMINAL_EVENTS
  if (!Array.isArray(terminal)) throw new TypeError(`terminalEvents must be an array of event names`)
  return {
    timeoutMs: o.timeoutS === undefined ? undefined : checkSeconds(o.timeoutS, 'timeoutS') * 1000,
    yieldNones: o.yieldNones ?? true,
    filterPredicate: o.filterPredicate,
    filter: o.filter,
    terminal: new Set(terminal),
    signal: o.signal,
  }
}

/** Why a wait for events ended. */
type WakeReason = 'ready' | 'deadline' | 'aborted'

/**
 * One inotify instance: add and remove watches, and read events as an async generator (or a
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
export class Inotify<E extends PathEncoding = 'utf8'> implements AsyncIterable<InotifyEvent<PathOf<E>>> {
  /** What the last generator's `filterPredicate` ended on: `[typeName, event]`, or `null`. */
  lastSuccessReturn: [EventName, InotifyEvent<PathOf<E>>] | null = null

  readonly #native: NativeInotify
  readonly #encoding: E
  readonly #blockDuration: BlockDuration
  /** Decoded events not yet yielded, with a CYCLE_END after each batch. */
  #queue: (InotifyEvent<PathOf<E>> | typeof CYCLE_END)[] = []
  #head = 0
  readonly #waiters = new Set<() => void>()
  #keepAlive: NodeJS.Timeout | undefined
  #closed = false

  /** Opens an inotify instance and watches `options.paths`. */
  constructor(options: InotifyOptions<E> = {}) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError(`Inotify options must be an object, got ${describe(options)}`)
    }
    checkKeys(options, OPTION_KEYS, 'Inotify')
    const encoding = options.encoding ?? ('utf8' as E)
    if (encoding !== 'utf8' && encoding !== 'buffer') {
      throw new TypeError(`encoding must be 'utf8' or 'buffer', got ${describe(encoding)}`)
    }
    const block = options.blockDurationS === undefined ? 1 : options.blockDurationS
    if (block !== null && typeof block !== 'function') checkSeconds(block, 'blockDurationS')
    const paths = options.paths ?? []
    if (!Array.isArray(paths)) throw new TypeError(`paths must be an array of paths, got ${describe(paths)}`)
    const mask = checkWatchMask(options.mask ?? IN_ALL_EVENTS)
    const checked = paths.map((p: unknown, i) => checkPath(p, `paths[${i}]`))

    this.#encoding = encoding
    this.#blockDuration = block
    try {
      this.#native = new native.NativeInotify(() => this.#ring())
    } catch (error) {
      throw fromNativeError(error)
    }
    this.#keepAlive = setInterval(noop, 0x7fffffff)
    try {
      for (const path of checked) this.#addChecked(path.bytes, path.given, mask)
    } catch (error) {
      this.close()
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
    this.#checkOpen('addWatch')
    try {
      return this.#native.addWatch(bytes, mask)
    } catch (error) {
      throw fromNativeError(error, given)
    }
  }

  /**
   * Stops watching `path` (as it was given to {@link Inotify.addWatch}). With `superficial`, only
   * forgets it, for a watch the kernel already dropped. Throws `EINVAL` if the path is not watched.
   */
  removeWatch(path: PathLike, superficial = false): void {
    const checked = checkPath(path)
    this.#checkOpen('removeWatch')
    const wd = this.#native.wdOf(checked.bytes)
    if (wd === null) throw fromNativeError(notWatched(), checked.given)
    this.removeWatchWithId(wd, superficial)
  }

  /** Stops watching the watch descriptor `wd` (only forgets it, with `superficial`). */
  removeWatchWithId(wd: number, superficial = false): void {
    if (!Number.isInteger(wd)) throw new TypeError(`wd must be an integer, got ${describe(wd)}`)
    if (typeof superficial !== 'boolean') throw new TypeError(`superficial must be a boolean, got ${describe(superficial)}`)
    this.#checkOpen('removeWatchWithId')
    try {
      this.#native.removeWatch(wd, superficial)
    } catch (error) {
      throw fromNativeError(error)
    }
  }

  /** Number of watches held. */
  get watchCount(): number {
    return this.#closed ? 0 : this.#native.watchCount()
  }

  /** The inotify file descriptor (for diagnostics, e.g. `/proc/self/fdinfo`); -1 once closed. */
  get fd(): number {
    return this.#closed ? -1 : this.#native.fd
  }

  /** Whether {@link Inotify.close} was called. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * Yields events one by one as they arrive, and `null` at the end of each cycle (all pending
   * events delivered, or `blockDurationS` passed with none), as the Python package's `event_gen`.
   * The kernel is read on a native thread; awaiting never blocks the event loop. Leaving the loop
   * loses nothing: events not yet yielded wait for the next generator.
   */
  eventGen(options: EventGenOptions<PathOf<E>> & { yieldNones: false }): AsyncGenerator<InotifyEvent<PathOf<E>>, void, undefined>
  eventGen(options?: EventGenOptions<PathOf<E>>): AsyncGenerator<InotifyEvent<PathOf<E>> | null, void, undefined>
  eventGen(options?: EventGenOptions<PathOf<E>>): AsyncGenerator<InotifyEvent<PathOf<E>> | null, void, undefined> {
    return this.#generate(genSettings(options))
  }

  /**
   * {@link Inotify.eventGen} as a blocking generator, for scripts and worker threads: each wait blocks
   * the calling thread. A `signal` is checked between waits.
   */
  eventGenSync(options: EventGenOptions<PathOf<E>> & { yieldNones: false }): Generator<InotifyEvent<PathOf<E>>, void, undefined>
  eventGenSync(options?: EventGenOptions<PathOf<E>>): Generator<InotifyEvent<PathOf<E>> | null, void, undefined>
  eventGenSync(options?: EventGenOptions<PathOf<E>>): Generator<InotifyEvent<PathOf<E>> | null, void, undefined> {
    return this.#generateSync(genSettings(options))
  }

  /** Iterates events without the `null`s: `for await (const event of inotify)`. */
  [Symbol.asyncIterator](): AsyncIterator<InotifyEvent<PathOf<E>>> {
    return this.eventGen({ yieldNones: false })
  }

  /** Keeps the process alive while this instance is open (the default). Returns `this`. */
  ref(): this {
    this.#keepAlive?.ref()
    return this
  }

  /** Lets the process exit even though this instance is open. Returns `this`. */
  unref(): this {
    this.#keepAlive?.unref()
    return this
  }

  /**
   * Stops the reader thread, closes the inotify descriptor (which drops every watch) and ends every
   * pending generator. Idempotent.
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#keepAlive)
    this.#keepAlive = undefined
    this.#queue = []
    this.#head = 0
    try {
      this.#native.close()
    } finally {
      this.#ring()
    }
  }

  /** `using i = new Inotify()` closes it at the end of the block. */
  [Symbol.dispose](): void {
    this.close()
  }

  /** `await using i = new Inotify()` closes it at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close()
  }

  #checkOpen(what: string): void {
    if (this.#closed) throw closedError(what)
  }

  /** The reader thread's doorbell: wakes every waiting generator. Must never throw. */
  #ring(): void {
    for (const wake of [...this.#waiters]) wake()
  }

  #blockMs(): number {
    const block = this.#blockDuration
    if (block === null) return -1
    const seconds = typeof block === 'function' ? checkSeconds(block(), 'blockDurationS()') : block
    return seconds * 1000
  }

  /** Asks the reader for a batch, waiting at most the block duration. */
  #request(waitMs = this.#blockMs()): void {
    try {
      this.#native.request(waitMs)
    } catch (error) {
      throw fromNativeError(error)
    }
  }

  #push(buf: Buffer): void {
    if (this.#head === this.#queue.length) {
      this.#queue = []
      this.#head = 0
    }
    const events = decodeBatch(buf, this.#encoding)
    for (const event of events) this.#queue.push(event)
    this.#queue.push(CYCLE_END)
  }

  /** The next queued item, taking a batch from the reader if the queue is empty. */
  #next(): InotifyEvent<PathOf<E>> | typeof CYCLE_END | undefined {
    if (this.#head === this.#queue.length) {
      let buf: Buffer | null
      try {
        buf = this.#native.take()
      } catch (error) {
        throw fromNativeError(error)
      }
      if (buf === null) return undefined
      this.#push(buf)
      // Read ahead while this batch is consumed; the reader reads nothing more than that.
      if (this.#head + 1 < this.#queue.length) this.#request()
    }
    return this.#queue[this.#head++]
  }

  #wait(deadline: number | undefined, signal: AbortSignal | undefined): Promise<WakeReason> {
    return new Promise<WakeReason>((resolve) => {
      let timer: NodeJS.Timeout | undefined
      const done = (reason: WakeReason): void => {
        this.#waiters.delete(onReady)
        if (timer !== undefined) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        resolve(reason)
      }
      const onReady = (): void => done('ready')
      const onAbort = (): void => done('aborted')
      this.#waiters.add(onReady)
      signal?.addEventListener('abort', onAbort, { once: true })
      if (deadline !== undefined) {
        // Not ref'd: only the instance's own handle keeps the process alive (see unref()).
        timer = setTimeout(() => done('deadline'), Math.max(0, deadline - performance.now())).unref()
      }
    })
  }

  /** What a generator does with one event: yield it, drop it, end, or throw. */
  #judge(event: InotifyEvent<PathOf<E>>, s: GenSettings<PathOf<E>>): 'yield' | 'drop' | 'end' {
    for (const typeName of event.typeNames) {
      if (s.filterPredicate !== undefined && s.filterPredicate(typeName, event) === false) {
        this.lastSuccessReturn = [typeName, event]
        return 'end'
      }
      if (s.terminal.has(typeName)) throw new TerminalEventError(typeName, event)
    }
    if (s.filter !== undefined && !s.filter(event)) return 'drop'
    return 'yield'
  }

  async *#generate(s: GenSettings<PathOf<E>>): AsyncGenerator<InotifyEvent<PathOf<E>> | null, void, undefined> {
    this.lastSuccessReturn = null
    let lastHit = performance.now()
    const deadline = (): number | undefined => (s.timeoutMs === undefined ? undefined : lastHit + s.timeoutMs)
    const expired = (): boolean => s.timeoutMs !== undefined && performance.now() >= lastHit + s.timeoutMs
    while (!this.#closed) {
      if (s.signal?.aborted) throw new AbortError(s.signal.reason)
      const item = this.#next()
      if (item === undefined) {
        if (expired()) return
        this.#request()
        if ((await this.#wait(deadline(), s.signal)) === 'deadline' && expired()) return
        continue
      }
      if (item === CYCLE_END) {
        if (expired()) return
        if (s.yieldNones) yield null
        continue
      }
      lastHit = performance.now()
      const verdict = this.#judge(item, s)
      if (verdict === 'end') return
      if (verdict === 'yield') yield item
    }
  }

  *#generateSync(s: GenSettings<PathOf<E>>): Generator<InotifyEvent<PathOf<E>> | null, void, undefined> {
    this.lastSuccessReturn = null
    let lastHit = performance.now()
    const expired = (): boolean => s.timeoutMs !== undefined && performance.now() >= lastHit + s.timeoutMs
    while (!this.#closed) {
      if (s.signal?.aborted) throw new AbortError(s.signal.reason)
      let item = this.#next()
      if (item === undefined) {
        if (expired()) return
        const block = this.#blockMs()
        const left = s.timeoutMs === undefined ? -1 : lastHit + s.timeoutMs - performance.now()
        const waitMs = block < 0 ? left : left < 0 ? block : Math.min(block, left)
        let buf: Buffer | null
        try {
          buf = this.#native.takeBlocking(waitMs)
        } catch (error) {
          if (this.#closed) return
          throw fromNativeError(error)
        }
        if (buf === null) {
          item = CYCLE_END
        } else {
          this.#push(buf)
          continue
        }
      }
      if (item === CYCLE_END) {
        if (expired()) return
        if (s.yieldNones) yield null
        continue
      }
      lastHit = performance.now()
      const verdict = this.#judge(item, s)
      if (verdict === 'end') return
      if (verdict === 'yield') yield item
    }
  }
}

/** The native-shaped error for a path that is not watched. */
function notWatched(): Error {
  return Object.assign(new Error('inotify_rm_watch|not watched by this Inotify instance'), { code: 'EINVAL' })
}
