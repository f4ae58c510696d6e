/**
 * `@parcel/watcher`'s `ignore`, read as its `index.js` (2.6) reads it, so that `subscribe()` leaves
 * out exactly what it would: each entry of an array becomes an absolute path or a regular
 * expression, which the engine then matches natively, before any watch is added.
 *
 * - A RegExp with flags is an `Error` with `@parcel/watcher`'s text; one without is matched
 *   anywhere in the path (its source wrapped as `^[\s\S]*(?:source)[\s\S]*$`).
 * - A string that `is-glob` calls a glob becomes picomatch's regular expression for it, with
 *   `@parcel/watcher`'s options (`dot: true`; POSIX paths). `is-glob` does not count a lone `?`:
 *   `?.txt` is a path.
 * - Anything else is a path, resolved against the directory with `path.resolve` (whose
 *   `TypeError` a number or an object gets, as there). `''` and `'.'` are the directory itself.
 * - An `ignore` that is not an array ignores nothing, as there (with a warning here).
 * @module
 */
import { resolve } from 'node:path'
import isGlob from 'is-glob'
import picomatch from 'picomatch'

/** What the engine matches: `@parcel/watcher`'s `ignorePaths` and `ignoreGlobs`. */
export interface ParcelIgnore {
  /** Absolute paths; each leaves out itself and everything below it. */
  readonly paths: readonly string[]
  /** ECMAScript regular expressions, each matched whole against the path relative to the directory. */
  readonly globs: readonly string[]
}

/** The warning a non-array `ignore` gets (once per process: a tool may subscribe often). */
let warnedNotArray = false

/** `@parcel/watcher`'s reading of `ignore` for the directory `dir` (absolute). */
export function parcelIgnore(dir: string, ignore: unknown): ParcelIgnore {
  const paths: string[] = []
  const globs: string[] = []
  if (ignore !== undefined && !Array.isArray(ignore)) {
    if (!warnedNotArray) {
      warnedNotArray = true
      process.emitWarning(
        'subscribe(): `ignore` is not an array, so it ignores nothing (as in @parcel/watcher, which reads ' +
          'only an array); pass [entry] to ignore entry',
        { code: 'INOTIFY_NAPI_IGNORE_NOT_ARRAY' },
      )
    }
  }
  if (!Array.isArray(ignore)) return Object.freeze({ paths: Object.freeze(paths), globs: Object.freeze(globs) })
  for (const value of ignore as unknown[]) {
    if (value instanceof RegExp) {
      if (value.flags !== '') {
        throw new Error(
          `RegExp ignore patterns must not have flags (got /${value.source}/${value.flags}). ` +
            'Flags are not supported by the native matcher.',
        )
      }
      globs.push(`^[\\s\\S]*(?:${value.source})[\\s\\S]*$`)
    } else if (typeof value === 'string' && isGlob(value)) {
      globs.push(picomatch.makeRe(value, { dot: true, windows: false }).source)
    } else {
      // Not a string: path.resolve's own TypeError, as @parcel/watcher gives.
      paths.push(resolve(dir, value as string))
    }
  }
  return Object.freeze({ paths: Object.freeze(paths), globs: Object.freeze(globs) })
}
