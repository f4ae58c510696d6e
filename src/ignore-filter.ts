/**
 * Ignore functions, applied in one place: as a filter of what a tree yields or a watcher delivers,
 * on the consumer's thread. Patterns and RegExps are matched natively before any watch is added;
 * a function cannot be (the reader thread never calls into JS, nor waits for it), so a directory
 * that only a function ignores is watched, and its events and everything below it are dropped here.
 * @module
 */
import { realpathSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { Change } from './changes'
import { IN_ISDIR } from './constants'
import { InotifyError } from './errors'
import type { InotifyEvent } from './event'
import { joinPath, type CheckedPath } from './paths'
import type { IgnoreFunction } from './tree'

/** Directory verdicts remembered at most; past it, they are forgotten and asked again. */
const MAX_REMEMBERED = 10_000

/** A path as the functions see it: a string (bytes that are not UTF-8 become U+FFFD). */
function text(path: string | Buffer): string {
  return typeof path === 'string' ? path : path.toString('utf8')
}

/**
 * Where a root's events are reported: the directory it leads to (the engine resolves a relative
 * root, and a link to a directory, once), or the path as given if it cannot be resolved now.
 */
function resolvedRoot(root: CheckedPath): string {
  try {
    return realpathSync(root.bytes, { encoding: 'buffer' }).toString('utf8')
  } catch {
    return resolve(text(root.given))
  }
}

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
 * The ignore functions of one tree or watcher. A path is ignored when a function returns `true` for
 * it, or for a directory between its root and it; a root is never asked about. A directory's
 * answer is remembered, so a function is asked about each directory once (it must depend on the
 * path alone). A function that throws ignores nothing: the throw goes to `onError` as an
 * `ERR_INOTIFY_IGNORE_FUNCTION` error naming the path.
 */
export class IgnoreFilter {
  readonly #functions: readonly IgnoreFunction[]
  /** The roots as their events name them, longest first (a root inside another is found first). */
  readonly #roots: readonly string[]
  readonly #onError: (error: InotifyError) => void
  readonly #directories = new Map<string, boolean>()

  private constructor(
    functions: readonly IgnoreFunction[],
    roots: readonly CheckedPath[],
    onError: (error: InotifyError) => void,
  ) {
    this.#functions = functions
    this.#roots = roots.map(resolvedRoot).sort((a, b) => b.length - a.length)
    this.#onError = onError
  }

  /** The filter of `functions` under `roots`; `undefined` when there is no function. */
  static of(
    functions: readonly IgnoreFunction[],
    roots: readonly CheckedPath[],
    onError: (error: InotifyError) => void,
  ): IgnoreFilter | undefined {
    return functions.length === 0 ? undefined : new IgnoreFilter(functions, roots, onError)
  }

  /** Whether `path` (a directory when `isDir`) is left out. */
  ignores(path: string, isDir: boolean): boolean {
    const root = this.#rootOf(path)
    // Under no root known here (a root renamed since): the path alone is asked about.
    if (root === undefined) return this.#ask(path, isDir)
    if (path.length === root.length) return false
    if (isDir) return this.#directoryIgnored(path, root)
    return this.#directoryIgnored(dirname(path), root) || this.#ask(path, false)
  }

  /** Whether a tree yields `event` (an event on an ignored directory or below one is dropped). */
  keeps(event: InotifyEvent<string | Buffer>): boolean {
    const dir = text(event.path)
    if (dir.length === 0) return true // IN_Q_OVERFLOW, which belongs to no watch
    const name = text(event.filename)
    if (name.length === 0) return !this.ignores(dir, true)
    return !this.ignores(joinPath(dir, name), (event.header.mask & IN_ISDIR) !== 0)
  }

  /** A watcher's changes without the ignored ones; a rename across the line is a create or a delete. */
  keptChanges<P extends string | Buffer>(changes: readonly Change<P>[]): Change<P>[] {
    const kept: Change<P>[] = []
    for (const change of changes) {
      if (change.type === 'overflow') {
        kept.push(change)
      } else if (change.type === 'rename' && change.oldPath !== undefined) {
        const from = this.ignores(text(change.oldPath), change.isDir)
        const to = this.ignores(text(change.path), change.isDir)
        if (!from && !to) kept.push(change)
        else if (from && !to) kept.push({ type: 'create', path: change.path, isDir: change.isDir })
        else if (!from && to) kept.push({ type: 'delete', path: change.oldPath, isDir: change.isDir })
      } else if (!this.ignores(text(change.path), change.isDir)) {
        kept.push(change)
      }
    }
    return kept
  }

  #rootOf(path: string): string | undefined {
    return this.#roots.find(
      (root) => path === root || (path.startsWith(root) && (root.endsWith('/') || path[root.length] === '/')),
    )
  }

  /** Whether `dir`, or a directory between `root` and it, is ignored (remembered per directory). */
  #directoryIgnored(dir: string, root: string): boolean {
    if (dir.length <= root.length) return false
    const known = this.#directories.get(dir)
    if (known !== undefined) return known
    const ignored = this.#directoryIgnored(dirname(dir), root) || this.#ask(dir, true)
    if (this.#directories.size >= MAX_REMEMBERED) this.#directories.clear()
    this.#directories.set(dir, ignored)
    return ignored
  }

  #ask(path: string, isDir: boolean): boolean {
    try {
      return this.#functions.some((f) => f(path, isDir) === true)
    } catch (error) {
      try {
        this.#onError(ignoreFunctionError(path, isDir, error))
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
