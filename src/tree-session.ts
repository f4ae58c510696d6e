/**
 * What every recursive tree is, whoever opened it (`InotifyTree(s)`, or `watch()`): a native tree
 * session over checked roots, its `ready` promise, and its reports turned into errors.
 * @module
 */
import { statSync } from 'node:fs'
import { InotifyError, WatchLimitError, type InotifyErrorCode } from './errors'
import type { NativeTreeReport } from './native'
import type { NativeSession, RootsHandle, TreeConfig } from './native-session'
import type { TreeSettings } from './options'
import type { CheckedPath, PathEncoding } from './paths'

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

/** Opens a tree's native session of one kind (raw events, or changes). */
export type TreeOpener<H extends RootsHandle> = (config: TreeConfig, onReports: () => void) => NativeSession<H>

const noop = (): void => {}

/** What a tree session is opened with: a tree's checked settings, but how its events are read. */
export type TreeSessionSettings = Omit<TreeSettings<PathEncoding>, 'blockDuration'>

/** A native tree session over checked roots, with `ready` and its reports turned into errors. */
export class TreeSession<H extends RootsHandle> {
  /** The native session. */
  readonly session: NativeSession<H>
  /**
   * Resolves once every root is watched to its leaves. Rejects (without ending the tree) with an
   * {@link InotifyError} if a root could not be watched, or a {@link WatchLimitError} if the watch
   * limit cut the first scan short; what was watched keeps working either way.
   */
  readonly ready: Promise<void>
  readonly #roots: readonly CheckedPath[]
  readonly #encoding: PathEncoding
  readonly #onError: (error: InotifyError) => void
  #pendingRoots: number
  #firstScanError: InotifyError | undefined
  #settle: { resolve: () => void; reject: (error: InotifyError) => void } | undefined

  /** Starts watching every root of checked `settings` (each must be an existing directory). */
  constructor(settings: TreeSessionSettings, open: TreeOpener<H>) {
    for (const root of settings.roots) checkRoot(root)
    this.#roots = settings.roots
    this.#encoding = settings.encoding
    this.#onError = settings.onError
    this.#pendingRoots = settings.roots.length
    this.ready = new Promise<void>((resolve, reject) => {
      this.#settle = { resolve, reject }
    })
    // Awaiting `ready` is optional: an unawaited rejection must not crash the process.
    this.ready.catch(noop)
    this.session = open(
      {
        mask: settings.mask,
        followSymlinks: settings.followSymlinks,
        ignore: [...settings.ignore.patterns],
        ignoreRegexes: [...settings.ignore.regexes],
        ignorePaths: [...settings.ignore.parcel.paths],
        ignoreGlobs: [...settings.ignore.parcel.globs],
        readGitignore: settings.readGitignore,
        recursive: settings.recursive,
        maxQueuedBytes: settings.maxQueuedBytes,
        ownInstance: settings.ownInstance,
      },
      () => this.#takeReports(),
    )
    try {
      for (const root of settings.roots) this.session.handle.addRoot(root.bytes)
    } catch (error) {
      void this.close()
      throw error
    }
  }

  /**
   * Ends the session (see {@link NativeSession.close}: the same promise every call); a `ready`
   * still pending rejects with `ERR_INOTIFY_CLOSED`.
   */
  close(): Promise<void> {
    const closing = this.session.close()
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
    return closing
  }

  #takeReports(): void {
    for (const report of this.session.handle.takeReports()) this.#handle(report)
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
}
