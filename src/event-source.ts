/**
 * What `Inotify` and the recursive trees share: the Python package's generators over the raw events
 * of a native session (`eventGen`, `eventGenSync`), the batch path (`eventBatches`), and the
 * session's lifecycle (`close`, `ref`/`unref`, disposal). `watch()` reads changes, not raw events,
 * and composes a session without these.
 * @module
 */
import { performance } from 'node:perf_hooks'
import type { EventName } from './constants'
import { AbortError, closedError, fromNativeError, TerminalEventError } from './errors'
import type { InotifyEvent } from './event'
import type { EventsHandle, NativeSession } from './native-session'
import { checkSeconds, eventBatchesSettings, eventGenSettings, type GenSettings, type SourceSettings } from './options'
import type { PathEncoding, PathOf } from './paths'
import { BatchView, type EventBatch } from './batch'
import { WireBatch } from './wire'

/** How long one wait for events lasts, in seconds; `null` waits without end (no ticks). */
export type BlockDuration = number | (() => number) | null

/** Options of `eventGen` and `eventGenSync`. */
export interface EventGenOptions<P extends string | Buffer = string> {
  /**
   * End the generator after this many seconds without an event (monotonic clock). `0`: what is
   * there now, then the end: the events the kernel has queued (for a tree, with what its
   * bookkeeping makes of them) are read at once and yielded, without a `null` after them.
   */
  timeoutS?: number
  /** Yield `null` at the end of each cycle (all pending events delivered, or a wait with none). Default true. */
  yieldNones?: boolean
  /**
   * Called for each type name of each event; returning exactly `false` ends the generator and
   * sets `lastSuccessReturn` to `[typeName, event]` (the Python package's semantics).
   */
  filterPredicate?: (typeName: EventName, event: InotifyEvent<P>) => boolean
  /** Drops the events for which it returns `false`. */
  filter?: (event: InotifyEvent<P>) => boolean
  /** Type names that throw {@link TerminalEventError}; default `['IN_Q_OVERFLOW', 'IN_UNMOUNT']`. */
  terminalEvents?: readonly EventName[]
  /** Aborting ends the generator with an `AbortError`. */
  signal?: AbortSignal
}

/** Options of `eventBatches`. */
export interface EventBatchesOptions {
  /**
   * End the generator after this many seconds without an event (monotonic clock). `0`: the
   * batches of what the kernel has queued now, then the end.
   */
  timeoutS?: number
  /** Aborting ends the generator with an `AbortError`. */
  signal?: AbortSignal
}

/** Marks the end of a cycle (one batch, or a wait that ended with none) in the queue. */
const CYCLE_END = Symbol('cycle end')

/**
 * The longest a blocking generator holds its thread in native code at once: between waits it
 * checks its deadline, its signal and `close()`, and `worker.terminate()`/`process.exit()` can
 * stop the thread.
 */
const SYNC_SLICE_MS = 100

/** What a generator's step says instead of an item to yield. */
const WAIT = Symbol('wait')
const END = Symbol('end')
const SKIP = Symbol('skip')
type Step = typeof WAIT | typeof END | typeof SKIP

/**
 * Where one generator is: when it last had an event, how many cycle ends it has seen, and (with
 * `timeoutS: 0`) how many read-now answers must have been taken before it may end.
 */
interface GenPosition {
  lastHit: number
  cycles: number
  answer: number | undefined
}

/** `setTimeout` fires at once for delays past 2^31-1 ms; longer waits are re-armed at wake-up. */
const MAX_TIMER_MS = 0x7fffffff

/** Whether using up `batch` ends a cycle: it was read to the kernel queue's end, or is a tick. */
function endsCycle(batch: WireBatch<PathEncoding>): boolean {
  return batch.settled || batch.count === 0
}

/** Why a wait for events ended. */
type WakeReason = 'ready' | 'deadline' | 'aborted'

/**
 * A native session's raw events and the generators over them. The session keeps Node's event loop
 * alive while it is open, as `fs.watch` does; `unref()` lets the process exit anyway, and `close()`
 * releases it.
 */
export abstract class RawEventSource<E extends PathEncoding = 'utf8'>
  implements AsyncIterable<InotifyEvent<PathOf<E>>>
{
  /** What the last generator's `filterPredicate` ended on: `[typeName, event]`, or `null`. */
  lastSuccessReturn: [EventName, InotifyEvent<PathOf<E>>] | null = null

  readonly #session: NativeSession<EventsHandle>
  readonly #encoding: E
  readonly #blockDuration: BlockDuration
  /**
   * Batches taken from the native side and not used up yet; the first one's rows before `#row` were
   * yielded already. Using up a settled batch (or a tick) is the end of a cycle; a part of a backlog
   * handed over early is not.
   */
  #batches: WireBatch<E>[] = []
  #row = 0
  readonly #waiters = new Set<() => void>()
  /** Generators running; the reader is disarmed when the last one ends. */
  #active = 0
  /** Generators running that yield `null`s: only they need the reader's ticks. */
  #ticking = 0
  /**
   * Cycle ends taken off the shared queue, by any generator: one that yields `null`s yields one for
   * each, also when another generator took it (else a generator that yields no `null`, waiting on
   * the same instance, could take every tick and starve it).
   */
  #cycles = 0
  /**
   * Read-now answers taken off the shared queue, by any generator (see `readNow` in the engine):
   * a generator with `timeoutS: 0` ends once the answer to its own request has been taken.
   */
  #answers = 0

  /**
   * Reads the raw events of `session` (opened by the subclass, which keeps it typed for its kind).
   * @internal
   */
  protected constructor(session: NativeSession<EventsHandle>, settings: SourceSettings<E>) {
    this.#encoding = settings.encoding
    this.#blockDuration = settings.blockDuration
    this.#session = session
    session.listen(() => this.#wake())
  }

  /** Number of watches held. */
  get watchCount(): number {
    return this.#session.watchCount
  }

  /**
   * The inotify file descriptor (for diagnostics, e.g. `/proc/self/fdinfo`); -1 once closed. An
   * `Inotify`'s is its own; trees share the process's one unless opened with `instance: 'own'`.
   */
  get fd(): number {
    return this.#session.fd
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#session.closed
  }

  get #closed(): boolean {
    return this.#session.closed
  }

  /**
   * Yields events one by one as they arrive, and `null` at the end of each cycle (all pending
   * events delivered, or `blockDurationS` passed with none), as the Python package's `event_gen`.
   * The kernel is read on a native thread; awaiting never blocks the event loop. Leaving the loop
   * loses nothing: events not yet yielded wait for the next generator.
   */
  eventGen(
    options: EventGenOptions<PathOf<E>> & { yieldNones: false },
  ): AsyncGenerator<InotifyEvent<PathOf<E>>, void, undefined>
  eventGen(options?: EventGenOptions<PathOf<E>>): AsyncGenerator<InotifyEvent<PathOf<E>> | null, void, undefined>
  eventGen(options?: EventGenOptions<PathOf<E>>): AsyncGenerator<InotifyEvent<PathOf<E>> | null, void, undefined> {
    return this.#generate(eventGenSettings(options, 'eventGen'))
  }

  /**
   * `eventGen` as a blocking generator, for scripts and worker threads: each wait blocks
   * the calling thread. A `signal` is checked between waits.
   */
  eventGenSync(
    options: EventGenOptions<PathOf<E>> & { yieldNones: false },
  ): Generator<InotifyEvent<PathOf<E>>, void, undefined>
  eventGenSync(options?: EventGenOptions<PathOf<E>>): Generator<InotifyEvent<PathOf<E>> | null, void, undefined>
  eventGenSync(options?: EventGenOptions<PathOf<E>>): Generator<InotifyEvent<PathOf<E>> | null, void, undefined> {
    return this.#generateSync(eventGenSettings(options, 'eventGenSync'))
  }

  /**
   * Yields the events a batch at a time, as the reader thread handed them over: the fastest way to
   * take every event, with nothing made per event until it is asked for (see {@link EventBatch};
   * on a tree with an ignore function each event is looked at, to apply it). Every event is in a batch, `IN_Q_OVERFLOW` and `IN_UNMOUNT` included (they
   * end nothing here: check `mask(i)`); batches are never empty. It shares the queue with `eventGen`:
   * events one generator left are the next one's, and ending either loses nothing.
   *
   * @example
   * ```ts
   * for await (const batch of inotify.eventBatches()) {
   *   for (let i = 0; i < batch.length; i++) console.log(batch.mask(i), batch.filename(i))
   * }
   * ```
   */
  eventBatches(options?: EventBatchesOptions): AsyncGenerator<EventBatch<PathOf<E>>, void, undefined> {
    return this.#generateBatches(eventBatchesSettings<PathOf<E>>(options))
  }

  /** Iterates events without the `null`s: `for await (const event of inotify)`. */
  [Symbol.asyncIterator](): AsyncIterator<InotifyEvent<PathOf<E>>> {
    return this.eventGen({ yieldNones: false })
  }

  /** Keeps the process alive while this instance is open (the default). Returns `this`. */
  ref(): this {
    this.#session.ref()
    return this
  }

  /**
   * Lets the process exit even though this instance is open. Returns `this`. An unref()'d instance
   * that nothing references and no generator waits on is collected like any object, its thread and
   * descriptors with it (`close()` it all the same: when the collector runs is not known).
   */
  unref(): this {
    this.#session.unref()
    return this
  }

  /**
   * Stops watching and ends every pending generator at once, without making this thread wait: the
   * watches (and the inotify descriptor, if no other session uses it: every `Inotify` has one of
   * its own, the trees and watchers share one) are let go on the native thread. Returns a promise
   * that settles once they are; awaiting it is optional, and every call returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closed) return this.#session.close()
    this.#batches = []
    this.#row = 0
    try {
      return this.#session.close()
    } finally {
      this.#wake()
    }
  }

  /** `using i = new Inotify()` (or a tree) closes it at the end of the block, without waiting. */
  [Symbol.dispose](): void {
    void this.close()
  }

  /** `await using i = new Inotify()` (or a tree) closes it at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** Throws `ERR_INOTIFY_CLOSED` once closed. */
  protected checkOpen(what: string): void {
    if (this.#closed) throw closedError(what)
  }

  /** Whether {@link RawEventSource.keep} may drop events (else batches are yielded whole, unchecked). */
  protected get dropsEvents(): boolean {
    return false
  }

  /** Whether an event is yielded at all (trees drop what their ignore functions leave out). */
  protected keep(_event: InotifyEvent<PathOf<E>>): boolean {
    return true
  }

  /** Wakes every waiting generator (on each ring of the doorbell, and on close). */
  #wake(): void {
    for (const wake of [...this.#waiters]) wake()
  }

  /** Keeps the session from the collector while a generator waits on it. */
  #pin(): void {
    this.#session.waitedOn = this.#waiters.size > 0
  }

  #blockMs(): number {
    const block = this.#blockDuration
    if (block === null) return -1
    const seconds = typeof block === 'function' ? checkSeconds(block(), 'blockDurationS()') : block
    return seconds * 1000
  }

  /**
   * Arms the reader (it then reads as events come). It ticks after each block duration without
   * events only while a generator yields `null`s: a tick's only product is a `null`, so with
   * none wanted the reader waits for the kernel alone (an idle watcher costs no CPU).
   */
  #request(): void {
    try {
      this.#session.handle.request(this.#ticking > 0 ? this.#blockMs() : -1)
    } catch (error) {
      throw fromNativeError(error)
    }
  }

  #push(buf: Buffer): void {
    this.#batches.push(new WireBatch(buf, this.#encoding))
  }

  /** A batch from the reader, if one is ready. */
  #take(): WireBatch<E> | undefined {
    let buf: Buffer | null
    try {
      buf = this.#session.handle.take()
    } catch (error) {
      throw fromNativeError(error)
    }
    return buf === null ? undefined : new WireBatch(buf, this.#encoding)
  }

  /** The next event, or the end of a cycle, taking a batch from the reader if none is left. */
  #next(): InotifyEvent<PathOf<E>> | typeof CYCLE_END | undefined {
    for (;;) {
      let batch = this.#batches[0]
      if (batch === undefined) {
        batch = this.#take()
        if (batch === undefined) return undefined
        this.#batches.push(batch)
      }
      if (this.#row < batch.count) return batch.event(this.#row++)
      this.#batches.shift()
      this.#row = 0
      if (batch.answer) this.#answers += 1
      if (endsCycle(batch)) {
        this.#cycles += 1
        return CYCLE_END
      }
    }
  }

  /** What is left of the next batch (possibly nothing: a tick, or all of it dropped), as a cycle. */
  #nextBatch(): BatchView<E> | undefined {
    const queued = this.#batches.shift()
    const from = queued === undefined ? 0 : this.#row
    this.#row = 0
    const batch = queued ?? this.#take()
    if (batch === undefined) return undefined
    if (batch.answer) this.#answers += 1
    if (endsCycle(batch)) this.#cycles += 1
    const drops = this.dropsEvents
    if (from === 0 && !drops) return new BatchView(batch)
    const rows: number[] = []
    for (let row = from; row < batch.count; row++) {
      if (!drops || this.keep(batch.event(row))) rows.push(row)
    }
    return new BatchView(batch, Uint32Array.from(rows))
  }

  #wait(deadline: number | undefined, signal: AbortSignal | undefined): Promise<WakeReason> {
    return new Promise<WakeReason>((resolve) => {
      let timer: NodeJS.Timeout | undefined
      const done = (reason: WakeReason): void => {
        this.#waiters.delete(onReady)
        this.#pin()
        if (timer !== undefined) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        resolve(reason)
      }
      const onReady = (): void => done('ready')
      const onAbort = (): void => done('aborted')
      this.#waiters.add(onReady)
      this.#pin()
      signal?.addEventListener('abort', onAbort, { once: true })
      if (deadline !== undefined) {
        // Not ref'd: only the instance's own handle keeps the process alive (see unref()).
        const delay = Math.min(MAX_TIMER_MS, Math.max(0, deadline - performance.now()))
        timer = setTimeout(() => done('deadline'), delay).unref()
      }
    })
  }

  /** What a generator does with one event: yield it, drop it, end, or throw. */
  #judge(event: InotifyEvent<PathOf<E>>, s: GenSettings<PathOf<E>>): 'yield' | 'drop' | 'end' {
    if (!this.keep(event)) return 'drop'
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

  /** One more generator runs. */
  #enter(s: GenSettings<PathOf<E>>): void {
    this.#active += 1
    if (s.yieldNones) this.#ticking += 1
  }

  /** A generator ended: with none left, the reader stops reading (events wait in the kernel). */
  #leave(s: GenSettings<PathOf<E>>): void {
    this.#active -= 1
    if (s.yieldNones) this.#ticking -= 1
    if (this.#active === 0 && !this.#closed) this.#session.handle.pause()
  }

  *#generateSync(s: GenSettings<PathOf<E>>): Generator<InotifyEvent<PathOf<E>> | null, void, undefined> {
    this.#enter(s)
    try {
      yield* this.#eventsSync(s)
    } finally {
      this.#leave(s)
    }
  }

  /**
   * One step of a generator: the next item to yield (an event, or a `null` at a cycle's end), or
   * what to do instead (WAIT for the reader, END the generator, SKIP to the next step). The async
   * and the blocking generators differ only in how they wait.
   */
  #step(s: GenSettings<PathOf<E>>, at: GenPosition): InotifyEvent<PathOf<E>> | null | Step {
    if (s.signal?.aborted) throw new AbortError(s.signal.reason)
    if (s.yieldNones && at.cycles < this.#cycles) {
      // Other generators took cycle ends off the queue since this one's last: they are this one's
      // too, one null each, before anything that came after them.
      if (this.#expired(s, at)) return END
      at.cycles += 1
      return null
    }
    const item = this.#next()
    if (item === undefined) return this.#expired(s, at) ? END : WAIT
    if (item === CYCLE_END) {
      at.cycles += 1
      if (this.#expired(s, at)) return END
      return s.yieldNones ? null : SKIP
    }
    at.lastHit = performance.now()
    const verdict = this.#judge(item, s)
    return verdict === 'yield' ? item : verdict === 'end' ? END : SKIP
  }

  /**
   * One generator: counted in while it runs (see #leave). Its loop is here rather than in a
   * generator it delegates to with `yield*`: an async delegation costs a promise and an iterator
   * result more per event (a third more garbage, measured).
   */
  async *#generate(s: GenSettings<PathOf<E>>): AsyncGenerator<InotifyEvent<PathOf<E>> | null, void, undefined> {
    this.#enter(s)
    try {
      this.lastSuccessReturn = null
      const at = this.#position(s)
      while (!this.#closed) {
        const step = this.#step(s, at)
        if (step === END) return
        if (step === SKIP) continue
        if (step === WAIT) {
          if (await this.#awaitReader(s, at)) return
          continue
        }
        yield step
      }
    } finally {
      this.#leave(s)
    }
  }

  /**
   * An async generator's wait for the reader (armed first): true when it ended on `timeoutS`, and
   * the generator is to end; false on a ring, an abort (the next step throws) or a deadline that an
   * event meanwhile pushed back. A generator waiting for a read-now answer leaves the reader as it
   * is (it answers armed or not) and waits for it without a deadline.
   */
  async #awaitReader(s: GenSettings<PathOf<E>>, at: GenPosition): Promise<boolean> {
    if (this.#awaitsAnswer(at)) {
      await this.#wait(undefined, s.signal)
      return false
    }
    this.#request()
    const deadline = s.timeoutMs === undefined ? undefined : at.lastHit + s.timeoutMs
    return (await this.#wait(deadline, s.signal)) === 'deadline' && this.#expired(s, at)
  }

  /** `eventBatches`' generator: as `#generate`, a batch at a time (counted in while it runs). */
  async *#generateBatches(s: GenSettings<PathOf<E>>): AsyncGenerator<EventBatch<PathOf<E>>, void, undefined> {
    this.#enter(s)
    try {
      const at = this.#position(s)
      while (!this.#closed) {
        if (s.signal?.aborted) throw new AbortError(s.signal.reason)
        const batch = this.#nextBatch()
        if (batch === undefined || batch.length === 0) {
          if (this.#expired(s, at)) return
          if (batch === undefined && (await this.#awaitReader(s, at))) return
          continue
        }
        at.lastHit = performance.now()
        yield batch
      }
    } finally {
      this.#leave(s)
    }
  }

  *#eventsSync(s: GenSettings<PathOf<E>>): Generator<InotifyEvent<PathOf<E>> | null, void, undefined> {
    this.lastSuccessReturn = null
    const at = this.#position(s)
    while (!this.#closed) {
      const step = this.#step(s, at)
      if (step === END) return
      if (step === SKIP) continue
      if (step === WAIT) {
        // Armed with the block duration, the reader delivers a tick (an empty batch, so a null)
        // after each wait without events; this thread waits in slices, to stay interruptible. A
        // read-now answer comes armed or not, and is waited for without a deadline.
        const answering = this.#awaitsAnswer(at)
        if (!answering) this.#request()
        const left =
          s.timeoutMs === undefined || answering ? SYNC_SLICE_MS : at.lastHit + s.timeoutMs - performance.now()
        let buf: Buffer | null
        try {
          buf = this.#session.handle.takeBlocking(Math.max(0, Math.min(SYNC_SLICE_MS, left)))
        } catch (error) {
          if (this.#closed) return
          throw fromNativeError(error)
        }
        if (buf !== null) this.#push(buf)
        continue
      }
      yield step
    }
  }

  /**
   * A new generator's position: now, having seen the cycle ends taken so far. With `timeoutS: 0`
   * it asks the reader for what the kernel has queued now, and ends once that answer is taken.
   */
  #position(s: GenSettings<PathOf<E>>): GenPosition {
    let answer: number | undefined
    if (s.timeoutMs === 0 && !this.#closed) {
      try {
        answer = this.#session.handle.readNow()
      } catch (error) {
        throw fromNativeError(error)
      }
    }
    return { lastHit: performance.now(), cycles: this.#cycles, answer }
  }

  /** Whether a generator waits for the answer to its read-now request. */
  #awaitsAnswer(at: GenPosition): boolean {
    return at.answer !== undefined && this.#answers < at.answer
  }

  /** Whether a generator's `timeoutS` has passed since its last event (and its read-now is answered). */
  #expired(s: GenSettings<PathOf<E>>, at: GenPosition): boolean {
    return s.timeoutMs !== undefined && !this.#awaitsAnswer(at) && performance.now() >= at.lastHit + s.timeoutMs
  }
}
