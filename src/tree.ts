/**
 * Recursive trees: the Python package's `InotifyTree` and `InotifyTrees`, with every directory
 * watched before it is listed, renames re-pathed, and overflows recovered, all on the native thread.
 * @module
 */
import { statSync } from 'node:fs'
import { IN_ALL_EVENTS, IN_ISDIR } from './constants'
import { InotifyError, WatchLimitError, type InotifyErrorCode } from './errors'
import type { InotifyEvent } from './event'
import {
  checkFunction,
  checkKeys,
  EventSource,
  sourceSettings,
  type BlockDuration,
  type EventGenOptions,
} from './event-source'
import { checkTreeMask } from './masks'
import type { NativeTreeReport } from './native'
import { checkPath, describe, joinPath, type CheckedPath, type PathEncoding, type PathLike, type PathOf } from './paths'

/**
 * What a tree leaves out: a gitignore-style glob (`node_modules`, `*.log`, `/build`, `dist/`,
 * `!keep.log`), matched relative to each root before any watch is added.
 */
export type IgnorePattern = string

/**
 * What a tree leaves out, decided by a function of the path (a string) and whether it is a
 * directory. For a directory it is asked from the native thread's scans (through the event loop)
 * before its watch is added; for a file, when one of its events is about to be yielded. It must be
 * quick and synchronous. A function that throws ignores nothing: the entry is watched and reported,
 * and the throw goes to `onError` (`watch()`: the `'error'` event) as an {@link InotifyError} with
 * code `ERR_INOTIFY_IGNORE_FUNCTION`, the entry's `path`, and what was thrown as its `cause`.
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
   * Paths to leave out: gitignore-style patterns, regular expressions (tested on the path) and
   * functions, applied before any watch is added
   * (an ignored directory is neither watched nor listed, and nothing below it is reported).
   */
  ignore?: IgnorePattern | RegExp | IgnoreFunction | readonly (IgnorePattern | RegExp | IgnoreFunction)[]
  /**
   * Called for what goes wrong without ending the tree: a directory that cannot be read, or that
   * vanished or was replaced by a file before it could be watched (`ENOENT`/`ENOTDIR`: it is skipped,
   * and its deletion or move is reported as an event), or the watch limit ({@link WatchLimitError}).
   * Default: `process.emitWarning`, except for directories that vanished (normal churn).
   */
  onError?: (error: InotifyError) => void
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

/** A tree generator's options without the Python package's own, which is checked and has no effect. */
function withoutPythonOption<P extends string | Buffer>(
  options: TreeEventGenOptions<P> | undefined,
  what: string,
): EventGenOptions<P> | undefined {
  if (options === null || typeof options !== 'object' || !('ignoreMissingNewFolders' in options)) return options
  const { ignoreMissingNewFolders, ...rest } = options
  if (ignoreMissingNewFolders !== undefined && typeof ignoreMissingNewFolders !== 'boolean') {
    throw new TypeError(`${what}: ignoreMissingNewFolders must be a boolean, got ${describe(ignoreMissingNewFolders)}`)
  }
  return rest
}

/**
 * Options only `watch()` gives a tree (a symbol key: not part of the public options).
 * @internal
 */
export const TREE_INTERNALS = Symbol('inotify-napi tree internals')

/** What {@link TREE_INTERNALS} carries. @internal */
export interface TreeInternals {
  /** Turn events into per-path changes (taken with `takeChanges`). */
  changes: boolean
  /** Also apply each root's `.gitignore`. */
  readGitignore: boolean
  /** Watch below the roots. */
  recursive: boolean
  /** Bound of the native queue, in bytes. */
  maxQueuedBytes?: number
}

const TREE_OPTION_KEYS = new Set(['mask', 'blockDurationS', 'encoding', 'followSymlinks', 'ignore', 'onError'])

/** Splits ignores into gitignore patterns and functions (a RegExp is tested on the path). */
export function checkIgnore(ignore: unknown): { patterns: string[]; functions: IgnoreFunction[] } {
  const patterns: string[] = []
  const functions: IgnoreFunction[] = []
  if (ignore === undefined) return { patterns, functions }
  const list: unknown[] = Array.isArray(ignore) ? ignore : [ignore]
  list.forEach((entry, i) => {
    if (typeof entry === 'string') patterns.push(entry)
    else if (entry instanceof RegExp) functions.push((path) => entry.test(path))
    else if (typeof entry === 'function') functions.push(entry as IgnoreFunction)
    else
      throw new TypeError(
        `ignore[${i}] must be a gitignore-style pattern, a RegExp or a function, got ${describe(entry)}`,
      )
  })
  return { patterns, functions }
}

/** The ignore functions as one, in the shape the native side calls: `([path, isDir]) => ignored`. */
export type IgnoreCall = (arg: [path: string, isDir: boolean]) => boolean

/** What an ignore function's throw becomes: an error naming the entry, which is not ignored. */
function ignoreFunctionError(path: string, isDir: boolean, thrown: unknown): InotifyError {
  const why = thrown instanceof Error ? thrown.message : String(thrown)
  return new InotifyError({
    code: 'ERR_INOTIFY_IGNORE_FUNCTION',
    path,
    message:
      `ERR_INOTIFY_IGNORE_FUNCTION: the ignore function threw on '${path}', so the ` +
      `${isDir ? 'directory' : 'file'} is not ignored: ${why}`,
    cause: thrown,
  })
}

/**
 * One function for the native side: true when any of `functions` says so. One that throws ignores
 * nothing: the error goes to `onError`, if it is still alive. It is held weakly because the native
 * side holds this function for the tree's life, and `onError` (the tree's, or a watcher's) may
 * lead back to the tree, which would then never be collected. Made here, at module level, so
 * that the closure holds nothing else of its caller.
 */
export function anyOf(
  functions: readonly IgnoreFunction[],
  onError: WeakRef<(error: InotifyError) => void>,
): IgnoreCall | undefined {
  if (functions.length === 0) return undefined
  return ([path, isDir]) => {
    try {
      return functions.some((f) => f(path, isDir) === true)
    } catch (error) {
      const report = onError.deref()
      try {
        report?.(ignoreFunctionError(path, isDir, error))
      } catch (failure) {
        // `onError` itself threw: an uncaught exception, as an event listener's would be.
        process.nextTick(() => {
          throw failure
        })
      }
      return false
    }
  }
}

/** A root must be an existing directory: said at once, not discovered later as an empty tree. */
function checkRoot(root: CheckedPath): void {
  let isDir: boolean
  try {
    isDir = statSync(root.bytes).isDirectory()
  } catch (error) {
    const code = ((error as NodeJS.ErrnoException).code ?? 'ENOENT') as InotifyErrorCode
    throw new InotifyError({
      code,
      syscall: 'stat',
      path: root.given,
      message: `${code}: cannot watch the tree at '${String(root.given)}': ${(error as Error).message}`,
    })
  }
  if (!isDir) {
    throw new InotifyError({
      code: 'ENOTDIR',
      syscall: 'stat',
      path: root.given,
      message: `ENOTDIR: cannot watch the tree at '${String(root.given)}': not a directory (watch a file with Inotify.addWatch)`,
    })
  }
}

const noop = (): void => {}

/** The default `onError`: a warning, except for a directory that vanished mid-scan. */
function warnUnlessVanished(error: InotifyError): void {
  if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return
  process.emitWarning(error)
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
export class InotifyTrees<E extends PathEncoding = 'utf8'> extends EventSource<E> {
  /**
   * Resolves once every root is watched to its leaves. Rejects (without ending the tree) with an
   * {@link InotifyError} if a root could not be watched, or a {@link WatchLimitError} if the watch
   * limit cut the first scan short; what was watched keeps working either way.
   */
  readonly ready: Promise<void>
  readonly #roots: readonly CheckedPath[]
  readonly #encoding: E
  readonly #onError: (error: InotifyError) => void
  /** The native scans call back into JS (function ignores): a blocking generator would deadlock them. */
  readonly #asksJs: boolean
  /** The ignore functions, for files (the native side asks them about directories only). */
  readonly #ignoreFunction: IgnoreCall | undefined
  #pendingRoots: number
  #firstScanError: InotifyError | undefined
  #settle: { resolve: () => void; reject: (error: InotifyError) => void } | undefined

  /** Starts watching every root (each must be an existing directory). */
  constructor(paths: readonly PathLike[], options: InotifyTreeOptions<E> = {}) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError(`InotifyTrees options must be an object, got ${describe(options)}`)
    }
    checkKeys(options, TREE_OPTION_KEYS, 'InotifyTrees')
    const settings = sourceSettings(options.encoding, options.blockDurationS)
    if (!Array.isArray(paths) || paths.length === 0) {
      throw new TypeError(`paths must be a non-empty array of directories, got ${describe(paths)}`)
    }
    const mask = checkTreeMask(options.mask ?? IN_ALL_EVENTS)
    const ignore = checkIgnore(options.ignore)
    if (options.followSymlinks !== undefined && typeof options.followSymlinks !== 'boolean') {
      throw new TypeError(`followSymlinks must be a boolean, got ${describe(options.followSymlinks)}`)
    }
    checkFunction(options.onError, 'onError')
    const roots = paths.map((p: unknown, i) => checkPath(p, `paths[${i}]`))
    for (const root of roots) checkRoot(root)
    const onError = options.onError ?? warnUnlessVanished
    const ignoreFunction = anyOf(ignore.functions, new WeakRef(onError))
    const internals = (options as { [TREE_INTERNALS]?: TreeInternals })[TREE_INTERNALS]
    super({
      ...settings,
      tree: {
        mask,
        followSymlinks: options.followSymlinks ?? false,
        ignore: ignore.patterns,
        changes: internals?.changes ?? false,
        readGitignore: internals?.readGitignore ?? false,
        recursive: internals?.recursive ?? true,
        maxQueuedBytes: internals?.maxQueuedBytes,
      },
      ignoreFunction,
    })
    this.#asksJs = ignore.functions.length > 0
    this.#ignoreFunction = ignoreFunction
    this.#roots = roots
    this.#encoding = settings.encoding
    this.#onError = onError
    this.#pendingRoots = roots.length
    this.ready = new Promise<void>((resolve, reject) => {
      this.#settle = { resolve, reject }
    })
    // Awaiting `ready` is optional: an unawaited rejection must not crash the process.
    this.ready.catch(noop)
    try {
      for (const root of roots) this.native.addRoot(root.bytes)
    } catch (error) {
      this.close()
      throw error
    }
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
   * As {@link EventSource.eventGen}; also accepts the Python package's `ignoreMissingNewFolders`
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
   * As {@link EventSource.eventGenSync}; also accepts the Python package's
   * `ignoreMissingNewFolders` (see {@link TreeEventGenOptions}).
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

  /** The roots, as given (URLs as their paths). */
  get roots(): readonly PathOf<E>[] {
    return this.#roots.map((r) => this.#asPath(r.given))
  }

  #asPath(path: string | Buffer): PathOf<E> {
    if (this.#encoding === 'buffer') return (typeof path === 'string' ? Buffer.from(path) : path) as PathOf<E>
    return (typeof path === 'string' ? path : path.toString('utf8')) as PathOf<E>
  }

  protected override checkBlockingAllowed(): void {
    if (this.#asksJs) {
      throw new TypeError(
        'eventGenSync cannot be used on a tree with ignore functions: its scans call the ' +
          'functions on this thread, which a blocking generator holds; use eventGen, or glob patterns',
      )
    }
  }

  protected override get dropsEvents(): boolean {
    return this.#ignoreFunction !== undefined
  }

  /** Drops the events of files an ignore function leaves out (directories never got a watch). */
  protected override keep(event: InotifyTreeEvent<E>): boolean {
    const ignored = this.#ignoreFunction
    if (ignored === undefined || (event.header.mask & IN_ISDIR) !== 0 || event.filename.length === 0) return true
    return !ignored([joinPath(String(event.path), String(event.filename)), false])
  }

  protected override onRing(reports: boolean): void {
    if (!reports) return
    for (const report of this.native.takeReports()) this.#handle(report)
  }

  #given(path: Buffer): string | Buffer {
    const root = this.#roots.find((r) => r.bytes.equals(path))
    return root?.given ?? (this.#encoding === 'buffer' ? path : path.toString('utf8'))
  }

  #handle(report: NativeTreeReport): void {
    switch (report.kind) {
      case 'ready':
        this.#rootDone()
        return
      case 'rootFailed': {
        const error = this.#errorOf(report)
        this.#firstScanError ??= error
        this.#rootDone()
        this.#onError(error)
        return
      }
      case 'watchLimit': {
        const error = new WatchLimitError({
          path: this.#given(report.path),
          needed: report.needed ?? 0,
          watched: report.watched ?? 0,
        })
        if (this.#pendingRoots > 0) this.#firstScanError ??= error
        this.#onError(error)
        return
      }
      default:
        this.#onError(this.#errorOf(report))
    }
  }

  #errorOf(report: NativeTreeReport): InotifyError {
    const code = (report.code ?? 'EIO') as InotifyErrorCode
    const path = this.#given(report.path)
    const what =
      report.kind === 'skipped'
        ? 'skipped the directory'
        : report.kind === 'ignoreFile'
          ? 'did not apply the ignore file of the tree at'
          : 'cannot watch the tree at'
    return new InotifyError({
      code,
      syscall: report.syscall,
      path,
      message: `${code}: ${what} '${String(path)}': ${report.message ?? ''}`,
    })
  }

  #rootDone(): void {
    this.#pendingRoots -= 1
    if (this.#pendingRoots > 0 || this.#settle === undefined) return
    const { resolve, reject } = this.#settle
    this.#settle = undefined
    if (this.#firstScanError) reject(this.#firstScanError)
    else resolve()
  }

  /** Closes the tree; a `ready` still pending rejects with `ERR_INOTIFY_CLOSED`. */
  override close(): void {
    super.close()
    if (this.#settle !== undefined) {
      const { reject } = this.#settle
      this.#settle = undefined
      reject(
        new InotifyError({
          code: 'ERR_INOTIFY_CLOSED',
          message: 'ERR_INOTIFY_CLOSED: the tree was closed before it was ready',
        }),
      )
    }
  }
}

/** One tree: the Python package's `InotifyTree(path)`. See {@link InotifyTrees}. */
export class InotifyTree<E extends PathEncoding = 'utf8'> extends InotifyTrees<E> {
  /** Starts watching `path` and everything below it. */
  constructor(path: PathLike, options: InotifyTreeOptions<E> = {}) {
    super([path], options)
  }
}

/** A tree's events are {@link InotifyEvent}s; `synthetic` marks those made by a scan. */
export type InotifyTreeEvent<E extends PathEncoding = 'utf8'> = InotifyEvent<PathOf<E>>
