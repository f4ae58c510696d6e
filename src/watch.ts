/**
 * The tooling API: `watch()` gives what bundlers, dev servers and monorepo tools want, "what changed,
 * under which path", in batches, with renames paired and changes coalesced per path by the engine.
 * @module
 */
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import { decodeChanges, type Change } from './changes'
import { closedError, fromNativeError, InotifyError, readInotifyLimit } from './errors'
import { CHANGES_MASK } from './format-constants'
import { IgnoreFilter } from './ignore-filter'
import { NativeSession, pinWhile, type ChangesHandle } from './native-session'
import { watchSettings, type WatchSettings } from './options'
import { inEncoding, type PathEncoding, type PathLike, type PathOf } from './paths'
import type { IgnoreFunction, InstanceKind } from './tree'
import { TreeSession } from './tree-session'

/**
 * A gitignore-style pattern, a RegExp (tested on the path relative to its root, natively), or a
 * function (a filter of what is delivered). See {@link WatchOptions.ignore}.
 */
export type WatchIgnore = string | RegExp | IgnoreFunction

/** Options of {@link watch}. */
export interface WatchOptions<E extends PathEncoding = 'utf8'> {
  /**
   * `'utf8'` (default): paths are strings, with U+FFFD for each byte sequence of a name that is not
   * UTF-8 (such a path does not exist on disk). `'buffer'`: paths are `Buffer`s holding the exact
   * bytes, which `fs` takes as they are. Ignore functions and RegExps see strings either way.
   */
  encoding?: E
  /**
   * Watch every directory below the roots (default true). With `false`, each root's own entries
   * are reported (a subdirectory's creation too) but nothing below them.
   */
  recursive?: boolean
  /**
   * What to leave out. Matched natively, before any watch is added (an ignored directory is never
   * watched): gitignore-style patterns relative to each root (`node_modules`, `*.log`,
   * `!keep.log`, `/build`, `dist/`) and RegExps, tested as `@parcel/watcher` tests them on the path
   * relative to its root (`src/app.log`, no leading `/`), matching anywhere in it as
   * `RegExp.prototype.test` does. A RegExp's source is compiled by Rust's `regex` crate: flags
   * (`(?i)` in the source instead of `i`), look-around and backreferences are a `TypeError` at
   * once. Functions of `(absolutePath, isDir)` filter what is delivered instead: a directory that
   * only a function ignores is still watched, and its changes and those below it are dropped (see
   * {@link IgnoreFunction}). A function that throws ignores nothing; the throw comes as an
   * `'error'` (`ERR_INOTIFY_IGNORE_FUNCTION`, naming the path).
   */
  ignore?: WatchIgnore | readonly WatchIgnore[]
  /** Also apply the `.gitignore` file at each root (read when the watch starts). Default false. */
  gitignore?: boolean
  /**
   * Wait this long after the first change before taking a batch, so that a burst (an editor's
   * save, a `git checkout`) comes as one coalesced batch. Default 0: take as soon as the native
   * thread has something. A listener added, or an iterator waiting, while changes wait gets them
   * once this long has passed since the first of them. At most 2^31-1 (the longest delay Node's
   * timers hold): a `RangeError` beyond.
   */
  debounceMs?: number
  /** Follow symbolic links to directories (default false); a link back up the tree ends there. */
  followSymlinks?: boolean
  /** Aborting closes the watcher. */
  signal?: AbortSignal
  /**
   * The bound of the queue of changes waiting to be taken, in bytes (default 16 MiB, some 400k
   * changes). Changes to one path take one place in it, however many events they coalesce. When a
   * consumer leaves it full, the native thread stops reading: events wait in the kernel's queue
   * (`fs.inotify.max_queued_events`), and past that the kernel drops them and says so; the watcher
   * then yields an `overflow` change and re-scans, reporting what changed as synthetic changes.
   * Nothing is dropped without an `overflow`. Not counted in it: while it scans directories, the
   * native thread moves the kernel's queue into memory (up to 64 MiB), so that a scan never
   * overflows the queue by itself.
   */
  maxQueuedBytes?: number
  /**
   * Batches an async iterator may hold while `'events'` listeners drive delivery and it does not
   * keep up (default 1000). Past it, its backlog is replaced by one `overflow` change: the
   * consumer is told to re-read what it needs, never left to believe it saw everything.
   */
  maxBacklog?: number
  /** Which inotify instance the watcher is a session of (see {@link InstanceKind}); default `'shared'`. */
  instance?: InstanceKind
}

/** The kernel limits in force, from `/proc/sys/fs/inotify` (undefined where unreadable). */
export interface InotifyLimits {
  /** `fs.inotify.max_user_watches`: watches per user, across every process. */
  maxUserWatches: number | undefined
  /** `fs.inotify.max_user_instances`: inotify instances per user. */
  maxUserInstances: number | undefined
  /** `fs.inotify.max_queued_events`: the kernel's queue per instance, past which it overflows. */
  maxQueuedEvents: number | undefined
}

/** What {@link Watcher.stats} reports. */
export interface WatchStats {
  /** Watches held (one per directory). */
  watches: number
  /** Batches delivered. */
  batches: number
  /** Changes delivered. */
  changes: number
  /** The largest batch taken: how far the coalesced queue grew between takes. */
  queueHighWater: number
  /** `overflow` changes seen (kernel queue overflows, and iterator backlogs cut). */
  overflows: number
  /** Milliseconds from `watch()` to `ready`; undefined before. */
  crawlMs: number | undefined
  /** The kernel limits in force. */
  limits: InotifyLimits
}

/** The events of a {@link Watcher} as an `EventEmitter`; `P` is the type of paths. */
export interface WatcherEvents<P extends string | Buffer = string> {
  /** A batch of changes. */
  events: [changes: Change<P>[]]
  /** Something went wrong without ending the watcher (an unreadable directory, the watch limit). */
  error: [error: InotifyError]
  /** The watcher was closed. */
  close: []
}

/**
 * The most changes one batch holds; the rest wait natively, still coalescing, for the next. A
 * consumer far behind (a stalled event loop) then gets its changes in parts it can let go one by
 * one, instead of all of them alive at once.
 */
const CHANGES_PER_BATCH = 1024

/** An async iterator's state: its backlog and, while it waits, how to wake it. */
interface Reader<P extends string | Buffer> {
  backlog: Change<P>[][]
  wake: (() => void) | undefined
}

/**
 * Watches directory trees for changes. Iterate it (`for await (const batch of watcher)`) or listen
 * to `'events'`; each batch holds the changes since the last, coalesced per path: at most 1,024,
 * the rest in the batches that follow.
 */
export class Watcher<E extends PathEncoding = 'utf8'>
  extends EventEmitter<WatcherEvents<PathOf<E>>>
  implements AsyncIterable<Change<PathOf<E>>[]>
{
  /**
   * Resolves once every root is watched to its leaves; rejects (the watcher keeps working on what
   * it could watch) if a root failed or the watch limit cut the first scan short.
   */
  readonly ready: Promise<void>
  /** The native session, whose events the engine turns into per-path changes. */
  readonly #tree: TreeSession<ChangesHandle>
  readonly #roots: readonly PathOf<E>[]
  readonly #encoding: E
  readonly #debounceMs: number
  readonly #maxBacklog: number
  /** The ignore functions, applied to what is delivered. */
  readonly #ignoreFilter: IgnoreFilter | undefined
  /** Where faults go (the tree's `onError`, and the ignore functions' throws). */
  readonly #onFault = (error: InotifyError): void => this.#fault(error)
  readonly #readers = new Set<Reader<PathOf<E>>>()
  readonly #started = performance.now()
  #timer: NodeJS.Timeout | undefined
  /**
   * When the native thread first rang for the changes not yet taken (the debounce runs from it);
   * after a full batch, what was left behind is due at once.
   */
  #pendingSince: number | undefined
  #closing: Promise<void> | undefined
  /** Why the native thread stopped by itself, once it did: every consumer is told. */
  #failure: InotifyError | undefined
  #stats = { batches: 0, changes: 0, queueHighWater: 0, overflows: 0, crawlMs: undefined as number | undefined }

  /** Use {@link watch}: it checks the options this is made from. */
  constructor(settings: WatchSettings<E>) {
    super()
    this.#encoding = settings.encoding
    this.#debounceMs = settings.debounceMs
    this.#maxBacklog = settings.maxBacklog
    this.#roots = settings.roots.map((root) => inEncoding(root.given, this.#encoding))
    this.#tree = new TreeSession(
      {
        roots: settings.roots,
        encoding: 'utf8',
        mask: CHANGES_MASK,
        followSymlinks: settings.followSymlinks,
        // The functions are the watcher's, applied to changes; the tree's rules are the native ones.
        ignore: { ...settings.ignore, functions: [] },
        onError: this.#onFault,
        readGitignore: settings.gitignore,
        recursive: settings.recursive,
        maxQueuedBytes: settings.maxQueuedBytes,
        ownInstance: settings.ownInstance,
      },
      NativeSession.changes,
    )
    this.#ignoreFilter = IgnoreFilter.of(settings.ignore.functions, settings.roots, this.#onFault)
    this.#tree.session.listen(() => this.#onRing())
    try {
      // Armed for good, without ticks: changes coalesce natively until they are taken.
      this.#tree.session.handle.request(-1)
    } catch (error) {
      this.#tree.close()
      throw fromNativeError(error)
    }
    this.ready = this.#tree.ready.then(() => {
      this.#stats.crawlMs = performance.now() - this.#started
    })
    this.ready.catch(() => {})
    // Changes wait natively until someone wants them: a new 'events' listener may.
    ;(this as EventEmitter).on('newListener', (name: string | symbol) => {
      if (name !== 'events') return
      pinWhile(this, !this.closed)
      // Once the listener is added (it is not yet, here).
      queueMicrotask(() => this.#schedule())
    })
    ;(this as EventEmitter).on('removeListener', (name: string | symbol) => {
      if (name === 'events') this.#pin()
    })
    const signal = settings.signal
    if (signal !== undefined) {
      if (signal.aborted) void this.close()
      else signal.addEventListener('abort', () => void this.close(), { once: true })
    }
  }

  /** The roots, as absolute paths (`Buffer`s with `encoding: 'buffer'`). */
  get roots(): readonly PathOf<E>[] {
    return this.#roots
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closing !== undefined
  }

  /** Counters, the watch count and the kernel limits in force. */
  stats(): WatchStats {
    return {
      watches: this.#tree.session.watchCount,
      ...this.#stats,
      limits: {
        maxUserWatches: readInotifyLimit('max_user_watches'),
        maxUserInstances: readInotifyLimit('max_user_instances'),
        maxQueuedEvents: readInotifyLimit('max_queued_events'),
      },
    }
  }

  /** Keeps the process alive while the watcher is open (the default). Returns `this`. */
  ref(): this {
    this.#tree.session.ref()
    return this
  }

  /**
   * Lets the process exit even though the watcher is open. Returns `this`. An unref()'d watcher
   * with no `'events'` listener, no iterator waiting and nothing referencing it is collected, its
   * thread and descriptors with it.
   */
  unref(): this {
    this.#tree.session.unref()
    return this
  }

  /**
   * Stops watching at once, without making this thread wait; resolves once the native thread has
   * let every watch go (and closed the inotify descriptor, if nothing else used it). Every call
   * returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#closing = this.#tree.close()
    for (const reader of this.#readers) reader.wake?.()
    this.#pin()
    this.emit('close')
    return this.#closing
  }

  /** `await using w = watch(dir)` closes it at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** Batches of changes, until the watcher closes. Leaving the loop closes nothing. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Change<PathOf<E>>[], void, undefined> {
    const reader: Reader<PathOf<E>> = { backlog: [], wake: undefined }
    this.#readers.add(reader)
    try {
      for (;;) {
        const batch = reader.backlog.shift()
        if (batch !== undefined) {
          yield batch
          continue
        }
        if (this.closed) return
        if (this.#failure !== undefined) throw this.#failure
        await new Promise<void>((resolve) => {
          reader.wake = resolve
          this.#pin()
          this.#schedule()
        })
        reader.wake = undefined
        this.#pin()
      }
    } finally {
      this.#readers.delete(reader)
    }
  }

  #fault(error: InotifyError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error)
    else if (error.code !== 'ENOENT' && error.code !== 'ENOTDIR') process.emitWarning(error)
  }

  /**
   * The native thread stopped by itself (a panic, a bug): an `'error'`, and every iterator throws
   * it, instead of waiting forever on a watcher that reports nothing more.
   */
  #fail(error: unknown): void {
    if (this.closed || this.#failure !== undefined) return
    this.#failure = error instanceof InotifyError ? error : closedError('watch')
    this.#fault(this.#failure)
    for (const reader of this.#readers) reader.wake?.()
  }

  /**
   * Keeps the watcher from the collector while someone wants its changes (its tree is also kept
   * while ref()'d): an unref()'d watcher that nothing references or waits on is collected.
   */
  #pin(): void {
    pinWhile(this, !this.closed && this.#wanted())
  }

  /** Someone wants changes: an `'events'` listener, or an iterator waiting. */
  #wanted(): boolean {
    if (this.listenerCount('events') > 0) return true
    for (const reader of this.#readers) if (reader.wake !== undefined) return true
    return false
  }

  /** The native thread has changes: take them now, or after the debounce. */
  #onRing(): void {
    if (this.closed || this.#failure !== undefined) return
    if (this.#tree.session.stopped) return this.#pull()
    this.#pendingSince ??= performance.now()
    this.#schedule()
  }

  /**
   * Takes what waits if someone wants it: at once without a debounce, else once the debounce has
   * passed since the native thread first rang for it. A consumer that comes while a burst is
   * under way thus gets it whole, as one that was there when it began.
   */
  #schedule(): void {
    if (!this.#wanted()) return
    if (this.#debounceMs === 0) return this.#pull()
    if (this.#pendingSince === undefined || this.#timer !== undefined) return
    const left = this.#pendingSince + this.#debounceMs - performance.now()
    if (left <= 0) return this.#pull()
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#pull()
    }, left)
  }

  /** Takes what changed and delivers it (nothing waits: nothing is taken, changes coalesce). */
  #pull(): void {
    if (this.closed || this.#failure !== undefined || this.#timer !== undefined) return
    if (!this.#wanted() && !this.#tree.session.stopped) return
    let buf: Buffer | null
    try {
      buf = this.#tree.session.handle.takeChanges(CHANGES_PER_BATCH)
    } catch (error) {
      this.#fail(fromNativeError(error))
      return
    }
    if (buf === null) {
      this.#pendingSince = undefined
      return
    }
    const overflowPath = this.#roots[0] ?? inEncoding('', this.#encoding)
    const decoded = decodeChanges(buf, overflowPath, this.#encoding)
    this.#pendingSince =
      decoded.length === CHANGES_PER_BATCH ? (this.#pendingSince ?? Number.NEGATIVE_INFINITY) : undefined
    // A full batch may have more behind it: listeners get it once this one could be let go (an
    // iterator pulls it itself when it has taken this one).
    if (decoded.length === CHANGES_PER_BATCH && this.listenerCount('events') > 0) setImmediate(() => this.#pull())
    const changes = this.#ignoreFilter?.keptChanges(decoded) ?? decoded
    if (changes.length === 0) return
    this.#stats.batches += 1
    this.#stats.changes += changes.length
    this.#stats.queueHighWater = Math.max(this.#stats.queueHighWater, changes.length)
    for (const change of changes) if (change.type === 'overflow') this.#stats.overflows += 1
    this.emit('events', changes)
    for (const reader of this.#readers) {
      if (reader.backlog.length >= this.#maxBacklog) {
        this.#stats.overflows += 1
        reader.backlog = [[{ type: 'overflow', path: overflowPath, isDir: true }]]
      }
      reader.backlog.push(changes)
      reader.wake?.()
    }
  }
}

/**
 * Watches `paths` (directories: strings, `Buffer`s or `file:` URLs) recursively and reports what
 * changes under them, in batches: `{ type, path, oldPath?, isDir, synthetic? }`, paths as strings,
 * or as `Buffer`s with `encoding: 'buffer'`. See {@link WatchOptions}.
 *
 * ```ts
 * const watcher = watch('src', { ignore: ['node_modules', '*.log'] })
 * await watcher.ready
 * for await (const batch of watcher) for (const c of batch) console.log(c.type, c.path)
 * ```
 */
export function watch<E extends PathEncoding = 'utf8'>(
  paths: PathLike | readonly PathLike[],
  options?: WatchOptions<E>,
): Watcher<E> {
  return new Watcher<E>(watchSettings(paths, options))
}

export type { Change, ChangeType } from './changes'
