/**
 * Path arguments: `string | Buffer | URL`, as `fs` takes them, checked before any system call.
 * @module
 */
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** A path as `fs` takes it: a string, a `Buffer` of raw bytes, or a `file:` URL. */
export type PathLike = string | Buffer | URL

/** How paths and names come out of events: strings (UTF-8, lossy) or raw bytes. */
export type PathEncoding = 'utf8' | 'buffer'

/** What a path or name is under an encoding: `string` for `'utf8'`, `Buffer` for `'buffer'`. */
export type PathOf<E extends PathEncoding> = E extends 'buffer' ? Buffer : string

/** A checked path: the bytes for the kernel and the value to show the user. */
export interface CheckedPath {
  /** What the kernel gets. */
  readonly bytes: Buffer
  /** The path as given (a URL becomes its file path). */
  readonly given: string | Buffer
}

/**
 * Checks `path` and returns its bytes. Throws a `TypeError` with Node's codes for anything that is
 * not a path, and for a path with a NUL byte (the kernel would see a shorter path).
 */
export function checkPath(path: unknown, argument = 'path'): CheckedPath {
  let given: string | Buffer
  if (typeof path === 'string') {
    given = path
  } else if (Buffer.isBuffer(path)) {
    given = path
  } else if (path instanceof URL) {
    given = fileURLToPath(path)
  } else {
    throw Object.assign(
      new TypeError(
        `The "${argument}" argument must be of type string or an instance of Buffer or URL. ` +
          `Received ${describe(path)}`,
      ),
      { code: 'ERR_INVALID_ARG_TYPE' },
    )
  }
  const bytes = typeof given === 'string' ? Buffer.from(given, 'utf8') : given
  if (bytes.includes(0)) {
    throw Object.assign(new TypeError(`The "${argument}" argument must not contain null bytes`), {
      code: 'ERR_INVALID_ARG_VALUE',
    })
  }
  return { bytes, given }
}

/**
 * A checked path made absolute against the working directory, as `path.resolve` does: a string (a
 * URL's path too) stays a string, a `Buffer` keeps its exact bytes (Latin-1 maps each byte to one
 * character and back, so `path.resolve` reads only the `/` and `.` bytes and copies the rest).
 */
export function absolutePath(path: CheckedPath): string | Buffer {
  if (typeof path.given === 'string') return resolve(path.given)
  const bytes = path.given[0] === 0x2f ? path.given : Buffer.concat([Buffer.from(`${process.cwd()}/`), path.given])
  return Buffer.from(resolve(bytes.toString('latin1')), 'latin1')
}

/**
 * `dir/name`, without doubling a trailing slash: a root of `/` and `x` give `/x`. The engine joins
 * its paths the same way (`crates/engine/src/paths.rs`); this one serves what only JavaScript sees
 * joined, an event's watch path and name given to an ignore function.
 */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`
}

/** A short description of a wrong value, for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'function') return 'a function'
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`
  return `type ${typeof value} (${String(value).slice(0, 40)})`
}

/** A path in `encoding`: a string as it is (a `Buffer` decoded as UTF-8), or its bytes. */
export function inEncoding<E extends PathEncoding>(path: string | Buffer, encoding: E): PathOf<E> {
  if (encoding === 'buffer') return (typeof path === 'string' ? Buffer.from(path) : path) as PathOf<E>
  return (typeof path === 'string' ? path : path.toString('utf8')) as PathOf<E>
}
