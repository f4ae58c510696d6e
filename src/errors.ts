/**
 * Error classes of inotify-napi, and the one function that turns a native error into one of them.
 * @module
 */
import { constants as osConstants } from 'node:os'
import { readdirSync, readFileSync } from 'node:fs'
import type { EventName } from './constants'

/** Node-style codes an {@link InotifyError} can carry besides errno names. */
export type InotifyErrorCode =
  | 'ENOENT'
  | 'EACCES'
  | 'ENOSPC'
  | 'EMFILE'
  | 'ENFILE'
  | 'ENOTDIR'
  | 'EINVAL'
  | 'EEXIST'
  | 'ENOMEM'
  | 'ENAMETOOLONG'
  | 'ELOOP'
  | 'EPERM'
  | 'EBADF'
  | 'EIO'
  | 'ERR_INOTIFY_CLOSED'
  | 'ERR_INOTIFY_NATIVE'
  | 'ERR_INOTIFY_PANIC'
  | 'ERR_INOTIFY_OVERFLOW'
  | 'ERR_INOTIFY_IGNORE_FUNCTION'
  | 'ERR_INOTIFY_ROOT_MOVED'
  | 'ERR_INOTIFY_SNAPSHOT_CORRUPT'

/** Details an {@link InotifyError} is built from. */
export interface InotifyErrorDetails {
  /** Node-style code: an errno name such as `ENOENT`, or an `ERR_INOTIFY_*` code. */
  code: InotifyErrorCode
  /** The system call that failed, e.g. `inotify_add_watch`. */
  syscall?: string
  /** The path involved, as the caller gave it. */
  path?: string | Buffer
  /** What happened and what to do, in one or two sentences. */
  message: string
  /** What caused it (the exception an ignore function threw). */
  cause?: unknown
}

/**
 * A failure of inotify itself: a system call that failed (with Node's `code`, negative `errno`,
 * `syscall` and `path`, as `fs` errors have them) or a closed instance (`ERR_INOTIFY_CLOSED`).
 */
export class InotifyError extends Error {
  /** Node-style code: `ENOENT`, `EACCES`, `ENOSPC`, `EMFILE`, `ENOTDIR`, `EINVAL`, ... */
  readonly code: InotifyErrorCode
  /** The errno as Node reports it (negative, e.g. -2 for ENOENT); undefined for `ERR_*` codes. */
  readonly errno: number | undefined
  /** The system call that failed. */
  readonly syscall: string | undefined
  /** The path involved. */
  readonly path: string | Buffer | undefined

  /** Builds the error from its details. */
  constructor(details: InotifyErrorDetails) {
    super(details.message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'InotifyError'
    this.code = details.code
    const errno = (osConstants.errno as Record<string, number | undefined>)[details.code]
    this.errno = errno === undefined ? undefined : -errno
    this.syscall = details.syscall
    this.path = details.path
  }
}

/**
 * Thrown by `eventGen` when an event of one of its `terminalEvents` arrives (by default
 * `IN_Q_OVERFLOW` and `IN_UNMOUNT`), as the Python package's `TerminalEventException`.
 */
export class TerminalEventError<E = unknown> extends Error {
  /** The terminal event's type name. */
  readonly typeName: EventName
  /** The event itself. */
  readonly event: E

  /** Builds the error for `event`, whose type `typeName` is terminal. */
  constructor(typeName: EventName, event: E) {
    super(
      `terminal inotify event ${typeName}` +
        (typeName === 'IN_Q_OVERFLOW'
          ? ': the kernel queue overflowed and events were lost; read faster or raise fs.inotify.max_queued_events'
          : ''),
    )
    this.name = 'TerminalEventError'
    this.typeName = typeName
    this.event = event
  }
}

/** The error `eventGen` throws when its `signal` aborts it, like Node's own `AbortError`. */
export class AbortError extends Error {
  /** Always `'ABORT_ERR'`, as Node's. */
  readonly code = 'ABORT_ERR'
  /** Builds the error; `cause` is the signal's reason. */
  constructor(cause?: unknown) {
    super('The operation was aborted', { cause })
    this.name = 'AbortError'
  }
}

/**
 * Reads a kernel limit as it is in force here. In a user namespace two values apply, the
 * namespace's own (`/proc/sys/user/max_inotify_*`, INT_MAX unless set) and the machine's
 * (`/proc/sys/fs/inotify/*`, which every namespace also counts against): the smaller one binds.
 */
export function readInotifyLimit(
  name: 'max_user_watches' | 'max_user_instances' | 'max_queued_events',
): number | undefined {
  const files =
    name === 'max_queued_events'
      ? ['/proc/sys/fs/inotify/max_queued_events']
      : [`/proc/sys/user/max_inotify_${name.slice('max_user_'.length)}`, `/proc/sys/fs/inotify/${name}`]
  let limit: number | undefined
  for (const file of files) {
    try {
      const value = Number.parseInt(readFileSync(file, 'utf8'), 10)
      if (Number.isFinite(value)) limit = Math.min(limit ?? value, value)
    } catch {
      // Not readable here (no procfs, or a sandbox): the other source may be.
    }
  }
  return limit
}

/**
 * Whether this process's descriptor table is (nearly) full: `inotify_init1` says EMFILE for that
 * too, not only for the per-user instance limit.
 */
function descriptorTableFull(): boolean {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8')
    const soft = Number.parseInt(/^Max open files\s+(\d+)/m.exec(limits)?.[1] ?? '', 10)
    return Number.isFinite(soft) && readdirSync('/proc/self/fd').length >= soft - 1
  } catch {
    return false
  }
}

function describePath(path: string | Buffer | undefined): string {
  if (path === undefined) return ''
  return ` '${typeof path === 'string' ? path : path.toString('utf8')}'`
}

function advice(code: string, syscall: string | undefined): string {
  switch (code) {
    case 'ENOSPC': {
      const limit = readInotifyLimit('max_user_watches')
      return (
        `the inotify watch limit is reached (fs.inotify.max_user_watches = ${limit ?? 'unknown'}, ` +
        'shared by every process of this user); raise it with ' +
        '`sudo sysctl fs.inotify.max_user_watches=524288` (persist it in /etc/sysctl.d/)'
      )
    }
    case 'EMFILE':
      if (syscall === 'inotify_init1' && !descriptorTableFull()) {
        // Every Inotify, tree and watch() holds one inotify instance of its own.
        const limit = readInotifyLimit('max_user_instances')
        return (
          `the inotify instance limit is reached (fs.inotify.max_user_instances = ${limit ?? 'unknown'}, ` +
          'shared by every process of this user; each Inotify, InotifyTree and watch() holds one); ' +
          'close watchers you no longer need, or raise it with ' +
          '`sudo sysctl fs.inotify.max_user_instances=1024` (persist it in /etc/sysctl.d/)'
        )
      }
      return 'this process has too many open files; close some or raise `ulimit -n`'
    case 'ENFILE':
      return 'the system has too many open files'
    case 'ENOENT':
      return 'no such file or directory'
    case 'EACCES':
      return 'permission denied: the path must be readable by this process'
    case 'ENOTDIR':
      return 'not a directory (IN_ONLYDIR was given, or a path component is a file)'
    case 'EEXIST':
      return 'already watched, and IN_MASK_CREATE forbids changing the watch'
    case 'ENAMETOOLONG':
      return 'the path is too long'
    case 'ELOOP':
      return 'too many levels of symbolic links'
    default:
      return ''
  }
}

/** Codes the native binding gives errors besides errno names (`crates/binding/src/error.rs`). */
const NATIVE_CODES: ReadonlySet<string> = new Set<InotifyErrorCode>([
  'ERR_INOTIFY_CLOSED',
  'ERR_INOTIFY_NATIVE',
  'ERR_INOTIFY_PANIC',
  'ERR_INOTIFY_ROOT_MOVED',
  'ERR_INOTIFY_SNAPSHOT_CORRUPT',
])

/**
 * What the native binding throws: an `Error` with a Node-style `code` and, for a failed system
 * call, `errno`, `syscall` and `path` as properties. (An argument only the engine could judge, such
 * as an ignore pattern, is a `TypeError` with code `ERR_INVALID_ARG_VALUE`, ready as it is.)
 */
interface NativeError extends Error {
  code: InotifyErrorCode
  syscall?: string
  path?: string | Buffer
}

function isNativeError(error: unknown): error is NativeError {
  if (!(error instanceof Error) || error instanceof TypeError) return false
  const { code } = error as { code?: unknown }
  return typeof code === 'string' && (NATIVE_CODES.has(code) || Object.hasOwn(osConstants.errno, code))
}

/**
 * Turns an error thrown by the native binding into an {@link InotifyError}, with the path as the
 * caller gave it (else the binding's) and advice. Anything else (a napi argument check, which is a
 * bug here) is returned unchanged.
 */
export function fromNativeError(error: unknown, path?: string | Buffer): unknown {
  if (!isNativeError(error)) return error
  const { code, syscall } = error
  const given = path ?? error.path
  const what = advice(code, syscall)
  const message = `${code}: ${what || error.message}` + (syscall ? `, ${syscall}` : '') + describePath(given)
  return new InotifyError({ code, syscall, path: given, message })
}

/**
 * Turns an error of `writeSnapshot` or `getEventsSince` into an {@link InotifyError}. One about the
 * snapshot file keeps the binding's message, which starts as `@parcel/watcher`'s does (`Unable to
 * open snapshot file: No such file or directory`, then the path) or says what is wrong with its
 * content (`ERR_INOTIFY_SNAPSHOT_CORRUPT`); one about the directory is as any other call's.
 */
export function fromNativeSnapshotError(error: unknown, snapshotPath: string): unknown {
  if (!isNativeError(error)) return error
  const { code, syscall, message, path } = error
  if (path === snapshotPath) return new InotifyError({ code, syscall, path, message })
  if (code === 'ENOTDIR') {
    // fromNativeError's advice for ENOTDIR is about watches.
    return new InotifyError({ code, syscall, path, message: `ENOTDIR: not a directory, ${syscall} '${path}'` })
  }
  return fromNativeError(error)
}

/** The error for a call on a closed instance. */
export function closedError(what: string): InotifyError {
  return new InotifyError({
    code: 'ERR_INOTIFY_CLOSED',
    message: `ERR_INOTIFY_CLOSED: ${what} on a closed Inotify instance`,
  })
}

/** Details of a {@link WatchLimitError}. */
export interface WatchLimitDetails {
  /** Where the scan that hit the limit started. */
  path: string | Buffer
  /** Watches the tree needs (one per directory found). */
  needed: number
  /** Watches in place; they keep working. */
  watched: number
}

/**
 * The inotify watch limit (`fs.inotify.max_user_watches`) was reached while watching a tree: `needed`
 * watches would cover it, `watched` are in place (and keep working), `limit` is the limit in force.
 */
export class WatchLimitError extends InotifyError {
  /** Watches the tree needs. */
  readonly needed: number
  /** Watches in place. */
  readonly watched: number
  /** The per-user limit in force (from `/proc`), if it could be read. */
  readonly limit: number | undefined

  /** Builds the error from the tree's report. */
  constructor(details: WatchLimitDetails) {
    const limit = readInotifyLimit('max_user_watches')
    super({
      code: 'ENOSPC',
      syscall: 'inotify_add_watch',
      path: details.path,
      message:
        `ENOSPC: the inotify watch limit is reached under${describePath(details.path)}: the tree needs ` +
        `${details.needed} watches and ${details.watched} are in place; fs.inotify.max_user_watches = ` +
        `${limit ?? 'unknown'} (shared by every process of this user). Raise it with ` +
        '`sudo sysctl fs.inotify.max_user_watches=524288`, or ignore large directories',
    })
    this.name = 'WatchLimitError'
    this.needed = details.needed
    this.watched = details.watched
    this.limit = limit
  }
}
