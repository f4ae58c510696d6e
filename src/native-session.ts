/**
 * One native session (a raw watch set, a tree, or a change tree) as TypeScript holds it: the
 * handle, the doorbell the reader thread rings, the keep-alive that makes an open session keep Node
 * alive (as `fs.watch` does), `ref`/`unref`, and `close`. Every public class composes one.
 *
 * The binding has one native class for every kind of session; the handle types below say what each
 * kind may call on it, so that a method of another kind is a compile error, not a run-time one.
 * @module
 */
import { RING } from './format-constants'
import { fromNativeError } from './errors'
import { native as binding, type NativeInotify, type NativeTreeConfig } from './native'

/** What every session can do. */
export type SessionHandle = Pick<NativeInotify, 'fd' | 'watchCount' | 'request' | 'pause' | 'close' | 'closed'>

/** A session whose raw events are read as batches (`Inotify`, the trees). */
export type EventsHandle = SessionHandle & Pick<NativeInotify, 'take' | 'takeBlocking' | 'readNow'>

/** `Inotify`'s session: its own instance, whose watches the user adds and removes. */
export type RawHandle = EventsHandle & Pick<NativeInotify, 'addWatch' | 'removeWatch' | 'wdOf'>

/** What a tree session has beyond every session's: roots, and reports of how the scans went. */
export type RootsHandle = SessionHandle & Pick<NativeInotify, 'addRoot' | 'takeReports'>

/** A tree's session (`InotifyTree(s)`): roots, and raw events as batches. */
export type TreeHandle = EventsHandle & RootsHandle

/** `watch()`'s session: roots, and per-path changes instead of raw events. */
export type ChangesHandle = RootsHandle & Pick<NativeInotify, 'takeChanges'>

/** A tree session's configuration, without the kind (raw events or changes), which the opener sets. */
export type TreeConfig = Omit<NativeTreeConfig, 'changes'>

/**
 * The reader thread's doorbell. What a ring says ({@link RING}): a batch can be taken, reports too,
 * or, the last ring, the session was released: its wds are gone and, if it was its instance's last
 * session, the descriptor is closed.
 */
type Doorbell = (signal: number) => void

/**
 * Sessions that must outlive their last reference: a ref()'d one is an open handle that keeps the
 * process alive (as `fs.watch`'s), and one that something waits on is how that wait resumes.
 * Anything else is the collector's once unreferenced: the reader thread holds the doorbell only
 * weakly, and collecting the native object ends the session and drops its watches.
 */
const pinned = new Set<object>()

/** Pins `owner` (see {@link pinned}) while `wanted`, unpins it otherwise. */
export function pinWhile(owner: object, wanted: boolean): void {
  if (wanted) pinned.add(owner)
  else pinned.delete(owner)
}

const noop = (): void => {}

/** Runs a callback of the doorbell; a throw (a user callback's) becomes an uncaught exception. */
function guarded(callback: (() => void) | undefined): void {
  if (callback === undefined) return
  try {
    callback()
  } catch (error) {
    process.nextTick(() => {
      throw error
    })
  }
}

/** A native session and its lifecycle on the JS side; `H` is what its kind may call. */
export class NativeSession<H extends SessionHandle> {
  /** The native handle, typed for the session's kind. */
  readonly handle: H
  readonly #onReports: (() => void) | undefined
  #onRing: (() => void) | undefined
  #keepAlive: NodeJS.Timeout | undefined
  #refd = true
  #waitedOn = false
  #closed = false
  /** The reader's last ring came (it can come before `close()`, when the reader panicked). */
  #released = false
  /** What `close()` returns, once called; it settles on the release. */
  #closing: Promise<void> | undefined
  #settleClosing: (() => void) | undefined

  /**
   * Opens the session with `open` (given the doorbell); `onReports` takes the tree reports a ring
   * announces, before the ring's listener runs.
   */
  private constructor(open: (doorbell: Doorbell) => H, onReports?: () => void) {
    this.#onReports = onReports
    try {
      this.handle = open(NativeSession.#doorbell(new WeakRef(this)))
    } catch (error) {
      throw fromNativeError(error)
    }
    this.#keepAlive = setInterval(noop, 0x7fffffff)
    this.#pin()
  }

  /** `Inotify`'s session: an inotify instance of its own. */
  static raw(): NativeSession<RawHandle> {
    return new NativeSession((doorbell) => new binding.NativeInotify(doorbell))
  }

  /** A tree's session (raw events); `onReports` takes its reports. */
  static tree(config: TreeConfig, onReports: () => void): NativeSession<TreeHandle> {
    return new NativeSession(
      (doorbell) => new binding.NativeInotify(doorbell, { ...config, changes: false }),
      onReports,
    )
  }

  /** `watch()`'s session (changes); `onReports` takes its reports. */
  static changes(config: TreeConfig, onReports: () => void): NativeSession<ChangesHandle> {
    return new NativeSession((doorbell) => new binding.NativeInotify(doorbell, { ...config, changes: true }), onReports)
  }

  /**
   * The reader thread's doorbell. It reaches the session through a `WeakRef` (and is made here,
   * away from any closure over `this`): the native side holds it for the session's life, and a
   * strong reference would make every session reachable from the thread, so never collected.
   */
  static #doorbell(session: WeakRef<NativeSession<SessionHandle>>): Doorbell {
    return (signal) => {
      const live = session.deref()
      if (live === undefined) return
      if (signal === RING.RELEASED) live.#onReleased()
      else live.#ring(signal === RING.REPORTS)
    }
  }

  #ring(reports: boolean): void {
    if (this.#closed) return
    if (reports) guarded(this.#onReports)
    guarded(this.#onRing)
  }

  /** The reader's last ring: `close()`'s promise settles, and nothing keeps the process alive. */
  #onReleased(): void {
    this.#released = true
    if (this.#closing === undefined) return
    this.#settleClosing?.()
    this.#settleClosing = undefined
    clearInterval(this.#keepAlive)
    this.#keepAlive = undefined
    this.#pin()
  }

  /** Sets what runs on each ring of the doorbell (after the reports are taken). */
  listen(onRing: () => void): void {
    this.#onRing = onRing
  }

  /** Whether something waits on the session: it is kept from the collector meanwhile. */
  set waitedOn(waited: boolean) {
    this.#waitedOn = waited
    this.#pin()
  }

  /**
   * Keeps this session from the collector while it is ref()'d or waited on, and while it closes
   * (its release is rung through a weak reference) (see {@link pinned}).
   */
  #pin(): void {
    const closing = this.#closing !== undefined && !this.#released
    pinWhile(this, closing || (!this.#closed && (this.#refd || this.#waitedOn)))
  }

  /** Number of watches the session holds (0 once closed). */
  get watchCount(): number {
    return this.#closed ? 0 : this.handle.watchCount()
  }

  /** The inotify file descriptor the session reads (-1 once closed). */
  get fd(): number {
    return this.#closed ? -1 : this.handle.fd
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed
  }

  /** The native thread stopped by itself (it panicked: a bug), not by `close()`. */
  get stopped(): boolean {
    return !this.#closed && this.handle.closed
  }

  /** Keeps the process alive while the session is open (the default). */
  ref(): void {
    this.#keepAlive?.ref()
    this.#refd = true
    this.#pin()
  }

  /** Lets the process exit even though the session is open. */
  unref(): void {
    this.#keepAlive?.unref()
    this.#refd = false
    this.#pin()
  }

  /**
   * Ends the session at once, without making this thread wait: its watches, and the descriptor if
   * no other session uses it, are let go on the native thread (closing a descriptor waits for the
   * kernel). Returns a promise that settles once they are; until then the process stays alive
   * (some milliseconds). Every call returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    this.#closed = true
    this.#closing = new Promise<void>((resolve) => {
      this.#settleClosing = resolve
    })
    // Kept (ref'd) until the release: a script that awaits close() last must see it settle.
    this.#keepAlive?.ref()
    try {
      this.handle.close()
    } catch (error) {
      // Nothing to wait for: the native side let go of what it could.
      this.#released = true
      throw fromNativeError(error)
    } finally {
      if (this.#released) this.#onReleased()
      this.#pin()
    }
    return this.#closing
  }
}
