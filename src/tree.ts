/**
 * Recursive trees: the Python package's `InotifyTree` and `InotifyTrees`, with every directory
 * watched before it is listed, renames re-pathed, and overflows recovered, all on the native thread.
 * @module
 */
import type { InotifyError } from './errors'
import type { InotifyEvent } from './event'
import { RawEventSource, type BlockDuration, type EventGenOptions } from './event-source'
import { IgnoreFilter } from './ignore-filter'
import { NativeSession, type TreeHandle } from './native-session'
import { treeSettings, withoutPythonOption } from './options'
import { inEncoding, type PathEncoding, type PathLike, type PathOf } from './paths'
import { TreeSession } from './tree-session'

/**
 * Which inotify instance a tree or watcher is a session of. `'shared'`: the one instance that the
 * process's trees, `watch()`es and `subscribe()`s share (one descriptor and one reader thread, and
 * one watch descriptor per directory however many of them watch it), so that any number of them
 * fit in `fs.inotify.max_user_instances` (128 by default, for all of a user's processes); each
 * still gets only its own events, and an overflow of the shared queue reaches every one. `'own'`:
 * an instance of its own, with its own watch descriptors, kernel queue (and so its own overflow)
 * and reader thread.
 */
export type InstanceKind = 'shared' | 'own'

/**
 * What a tree leaves out: a gitignore-style glob (`node_modules`, `*.log`, `/build`, `dist/`,
 * `!keep.log`), matched relative to each root before any watch is added.
 */
export type IgnorePattern = string

/**
 * What a tree leaves out, decided by a function of the path (absolute, a string) and whether it is
 * a directory. Unlike patterns and RegExps, a function filters what is delivered, on the thread
 * that takes the events (the native thread never waits for JavaScript): a directory that only a
 * function ignores is still watched and listed, and its events and those of everything below it
 * are dropped before they are yielded. It is asked about a path when an event on it (or below it)
 * is about to be delivered, and about each directory once (its answer is remembered: it must
 * depend on the path alone); it must be quick and synchronous. A function that throws ignores
 * nothing: the entry is reported, and the throw goes to `onError` (`watch()`: the `'error'` event)
 * as an {@link InotifyError} with code `ERR_INOTIFY_IGNORE_FUNCTION`, the entry's `path`, and what
 * was thrown as its `cause`.
 */
export type IgnoreFunction = (path: string, isDir: boolean) => boolean

/** Options of {@link InotifyTrees} and {@link InotifyTree}. */
export interface InotifyTreeOptions<E extends PathEncoding = 'utf8'> {
  /**
   * The events to report (`IN_*` event bits; default `IN_ALL_EVENTS`; `IN_ISDIR` is accepted and
   * ignored, as the kernel does). The tree adds the bits its own bookkeeping needs to every watch,
   * and reports only these.
   */
  mask?: number
  /** As {@link InotifyOptions.blockDurationS}. */
  blockDurationS?: BlockDuration
  /** As {@link InotifyOptions.encoding}. */
  encoding?: E
  /** Follow symbolic links to directories (default false); a link back up the tree ends there. */
  followSymlinks?: boolean
  /**
   * Paths to leave out. Gitignore-style patterns (relative to each root) and RegExps are matched
   * natively before any watch is added: an ignored directory is neither watched nor listed, and
   * nothing below it is reported. A RegExp is tested, as `@parcel/watcher` tests it, on the path
   * relative to its root (`src/app.log` under the root `/proj`, without a leading `/`), and
   * matches anywhere in it as `RegExp.prototype.test` does (`/^dist\//` for the root's `dist` only).
   * Its source is compiled by Rust's `regex` crate, so it takes no flags (`(?i)` in the source
   * for case-insensitive matching) and no look-around or backreferences: either is a `TypeError`
   * before anything is watched. Functions filter what is yielded (see {@link IgnoreFunction}).
   */
  ignore?: IgnorePattern | RegExp | IgnoreFunction | readonly (IgnorePattern | RegExp | IgnoreFunction)[]
  /**
   * Called for what goes wrong without ending the tree: a directory that cannot be read, or that
   * vanished or was replaced by a file before it could be watched (`ENOENT`/`ENOTDIR`: it is skipped,
   * and its deletion or move is reported as an event), or the watch limit ({@link WatchLimitError}).
   * Default: `process.emitWarning`, except for directories that vanished (normal churn).
   */
  onError?: (error: InotifyError) => void
  /** Which inotify instance the tree is a session of (see {@link InstanceKind}); default `'shared'`. */
  instance?: InstanceKind
}

/** Options of a tree's `eventGen` and `eventGenSync`: those of every source, and one of the Python package's. */
export interface TreeEventGenOptions<P extends string | Buffer = string> extends EventGenOptions<P> {
  /**
   * The Python package's `ignore_missing_new_folders`, accepted so that ported code runs: either
   * value behaves the same. A new folder gone before the tree could watch it is skipped, its
   * creation and deletion are reported, and `onError` gets an `ENOENT` for it (which the default
   * `onError` keeps quiet about). The Python package 0.2.12 never raises for such a folder
   * either: with `False` (its default) it logs a warning, with `True` nothing.
   */
  ignoreMissingNewFolders?: boolean
}

/**
 * Watches whole directory trees, as the Python package's `InotifyTrees`: every directory under each
 * root, including those created, moved in or renamed later. Events report the directory they
 * happened in (`path`) and the entry (`filename`); what a new directory already held when its watch
 * was put in place is reported as `IN_CREATE` events marked `synthetic: true`.
 *
 * The scan runs on the native thread: the constructor returns at once and {@link InotifyTrees.ready}
 * resolves when every root is watched to its leaves.
 */
export class InotifyTrees<E extends PathEncoding = 'utf8'> extends RawEventSource<E> {
  readonly #tree: TreeSession<TreeHandle>
  readonly #roots: readonly PathOf<E>[]
  readonly #ignoreFilter: IgnoreFilter | undefined

  /** Starts watching every root (each must be an existing directory). */
  constructor(paths: readonly PathLike[], options?: InotifyTreeOptions<E>) {
    const settings = treeSettings(paths, options)
    const tree = new TreeSession(settings, NativeSession.tree)
    super(tree.session, settings)
    this.#tree = tree
    this.#roots = Object.freeze(settings.roots.map((root) => inEncoding(root.given, settings.encoding)))
    this.#ignoreFilter = IgnoreFilter.of(settings.ignore.functions, settings.roots, settings.onError)
  }

  /**
   * Resolves once every root is watched to its leaves. Rejects (without ending the tree) with an
   * {@link InotifyError} if a root could not be watched, or a {@link WatchLimitError} if the watch
   * limit cut the first scan short; what was watched keeps working either way.
   */
  get ready(): Promise<void> {
    return this.#tree.ready
  }

  /** The roots, as given (URLs as their paths). */
  get roots(): readonly PathOf<E>[] {
    return this.#roots
  }

  protected override get dropsEvents(): boolean {
    return this.#ignoreFilter !== undefined
  }

  /** Drops the events that the ignore functions leave out. */
  protected override keep(event: InotifyTreeEvent<E>): boolean {
    return this.#ignoreFilter?.keeps(event) ?? true
  }

  /** Closes the tree (as `Inotify.close`); a `ready` still pending rejects with `ERR_INOTIFY_CLOSED`. */
  override close(): Promise<void> {
    const closing = super.close()
    void this.#tree.close()
    return closing
  }

  /** The object that owns the kernel instance: the tree itself (the Python package's `.inotify`). */
  get inotify(): this {
    return this
  }

  /**
   * Not needed on a tree, so not supported: always throws a `TypeError` that says what to write
   * instead. The Python package's README has code call `tree.inotify.add_watch(path)` for
   * directories its tree may have missed while starting (it lists a directory before it watches
   * it); this tree watches each directory before it lists it, and misses none. Remove the call
   * (`await tree.ready` to know that every directory is watched); to watch a path outside the
   * tree, use a separate `Inotify`, or make the path one of `InotifyTrees`' roots.
   * @deprecated The Python package's workaround for a race this tree does not have: remove the call.
   */
  addWatch(_path?: PathLike, _mask?: number): never {
    throw new TypeError(
      'A tree has no addWatch: it watches each new directory before it lists it, so there is no ' +
        'start-up race for tree.inotify.add_watch(path) to work around here; remove the call (await tree.ready to know ' +
        'that every directory is watched). To watch a path outside the tree, use a separate new Inotify(), or make it ' +
        "one of InotifyTrees' roots.",
    )
  }

  /**
   * As {@link Inotify.eventGen}; also accepts the Python package's `ignoreMissingNewFolders`
   * (see {@link TreeEventGenOptions}).
   */
  override eventGen(
    options: TreeEventGenOptions<PathOf<E>> & { yieldNones: false },
  ): AsyncGenerator<InotifyEvent<PathOf<E>>, void, undefined>
  override eventGen(
    options?: TreeEventGenOptions<PathOf<E>>,
  ): AsyncGenerator<InotifyEvent<PathOf<E>> | null, void, undefined>
  override eventGen(
    options?: TreeEventGenOptions<PathOf<E>>,
  ): AsyncGenerator<InotifyEvent<PathOf<E>> | null, void, undefined> {
    return super.eventGen(withoutPythonOption(options, 'eventGen'))
  }

  /**
   * As {@link Inotify.eventGenSync} (also on a tree with ignore functions: they are applied on
   * this thread, to what it takes); also accepts the Python package's `ignoreMissingNewFolders`
   * (see {@link TreeEventGenOptions}).
   */
  override eventGenSync(
    options: TreeEventGenOptions<PathOf<E>> & { yieldNones: false },
  ): Generator<InotifyEvent<PathOf<E>>, void, undefined>
  override eventGenSync(
    options?: TreeEventGenOptions<PathOf<E>>,
  ): Generator<InotifyEvent<PathOf<E>> | null, void, undefined>
  override eventGenSync(
    options?: TreeEventGenOptions<PathOf<E>>,
  ): Generator<InotifyEvent<PathOf<E>> | null, void, undefined> {
    return super.eventGenSync(withoutPythonOption(options, 'eventGenSync'))
  }
}

/** One tree: the Python package's `InotifyTree(path)`. See {@link InotifyTrees}. */
export class InotifyTree<E extends PathEncoding = 'utf8'> extends InotifyTrees<E> {
  /** Starts watching `path` and everything below it. */
  constructor(path: PathLike, options?: InotifyTreeOptions<E>) {
    super([path], options)
  }
}

/** A tree's events are {@link InotifyEvent}s; `synthetic` marks those made by a scan. */
export type InotifyTreeEvent<E extends PathEncoding = 'utf8'> = InotifyEvent<PathOf<E>>
