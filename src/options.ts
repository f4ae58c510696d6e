/**
 * The options of every public entry, checked and given their defaults once, here, before anything
 * is opened: one function per entry (`Inotify`, the trees, `watch()`, `subscribe()`, the
 * generators) turns what the user passed into frozen settings that the classes use as they are.
 * Bad input is a `TypeError` (unknown option, wrong type) or a `RangeError` (a number out of range),
 * with Node's `code` where Node has one.
 * @module
 */
import { resolve as resolvePath } from 'node:path'
import { EVENT_NAMES, IN_ALL_EVENTS, type EventName } from './constants'
import { checkTreeMask, checkWatchMask } from './masks'
import type { InotifyError } from './errors'
import type { BlockDuration, EventBatchesOptions, EventGenOptions } from './event-source'
import type { InotifyOptions } from './inotify'
import { parcelIgnore, type ParcelIgnore } from './parcel-ignore'
import { absolutePath, checkPath, describe, type CheckedPath, type PathEncoding, type PathLike } from './paths'
import type { BackendType, SubscribeOptions } from './subscribe'
import type { IgnoreFunction, InotifyTreeOptions, TreeEventGenOptions } from './tree'
import type { WatchOptions } from './watch'

/** Throws a TypeError for an option name not in `known` (a typo would otherwise pass silently). */
function checkKeys(options: object, known: ReadonlySet<string>, what: string): void {
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw new TypeError(`${what}: unknown option "${key}"; known options are ${[...known].join(', ')}`)
    }
  }
}

/** An options argument: `undefined` (no options) or an object. */
function optionsObject<T extends object>(options: T | undefined, what: string): Partial<T> {
  if (options === undefined) return {}
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`${what} options must be an object, got ${describe(options)}`)
  }
  return options
}

/** Checks a number of seconds (finite, >= 0). */
export function checkSeconds(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${what} must be a finite number of seconds >= 0, got ${describe(value)}`)
  }
  return value
}

function checkFunction(value: unknown, what: string): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new TypeError(`${what} must be a function, got ${describe(value)}`)
  }
}

function checkBoolean(value: unknown, what: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw new TypeError(`${what} must be a boolean, got ${describe(value)}`)
  return value
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`signal must be an AbortSignal, got ${describe(signal)}`)
  }
  return signal
}

/**
 * Checks a number option, with Node's codes: a `TypeError` (`ERR_INVALID_ARG_TYPE`) for what is no
 * number, a `RangeError` (`ERR_OUT_OF_RANGE`) outside `min`..`max` (NaN and infinities included) or,
 * for an `integer` option, for a fraction.
 */
function checkNumber(value: unknown, what: string, min: number, max: number, integer: boolean): number {
  if (typeof value !== 'number') {
    throw Object.assign(new TypeError(`The "${what}" option must be a number, got ${describe(value)}`), {
      code: 'ERR_INVALID_ARG_TYPE',
    })
  }
  if (!(value >= min && value <= max) || (integer && !Number.isInteger(value))) {
    throw Object.assign(
      new RangeError(
        `The "${what}" option must be ${integer ? 'an integer' : 'a number'} >= ${min} and <= ${max}, got ${value}`,
      ),
      { code: 'ERR_OUT_OF_RANGE' },
    )
  }
  return value
}

/** Checks `instance` (`'shared'`, the default, or `'own'`): whether the session has an instance of its own. */
function checkInstance(instance: unknown): boolean {
  if (instance === undefined || instance === 'shared') return false
  if (instance === 'own') return true
  throw Object.assign(new TypeError(`instance must be 'shared' or 'own', got ${describe(instance)}`), {
    code: 'ERR_INVALID_ARG_VALUE',
  })
}

function checkEncoding<E extends PathEncoding>(encoding: unknown): E {
  const checked = encoding ?? 'utf8'
  if (checked !== 'utf8' && checked !== 'buffer') {
    throw Object.assign(new TypeError(`encoding must be 'utf8' or 'buffer', got ${describe(checked)}`), {
      code: 'ERR_INVALID_ARG_VALUE',
    })
  }
  return checked as E
}

function checkBlockDuration(blockDurationS: unknown): BlockDuration {
  const block = blockDurationS === undefined ? 1 : blockDurationS
  if (block !== null && typeof block !== 'function') checkSeconds(block, 'blockDurationS')
  return block as BlockDuration
}

/** The longest delay Node's timers hold: a longer one fires at once, with only a warning. */
const MAX_TIMER_MS = 0x7fffffff

/** `watch()`'s defaults, which `subscribe()` shares. */
const DEFAULT_MAX_BACKLOG = 1000
const DEFAULT_MAX_QUEUED_BYTES = 16 * 1024 * 1024

/** What a source of raw events is opened with. */
export interface SourceSettings<E extends PathEncoding> {
  /** Path encoding of events. */
  readonly encoding: E
  /** How long one wait for events lasts (see {@link BlockDuration}). */
  readonly blockDuration: BlockDuration
}

/** `new Inotify(options)`, checked. */
export interface InotifySettings<E extends PathEncoding> extends SourceSettings<E> {
  /** Paths to watch from the start. */
  readonly paths: readonly CheckedPath[]
  /** Their mask. */
  readonly mask: number
}

const INOTIFY_KEYS: ReadonlySet<string> = new Set(['paths', 'mask', 'blockDurationS', 'encoding'])

/** Checks the options of `new Inotify(options)` and fills in their defaults. */
export function inotifySettings<E extends PathEncoding>(options: InotifyOptions<E> | undefined): InotifySettings<E> {
  const o = optionsObject(options, 'Inotify')
  checkKeys(o, INOTIFY_KEYS, 'Inotify')
  const encoding = checkEncoding<E>(o.encoding)
  const blockDuration = checkBlockDuration(o.blockDurationS)
  const paths = o.paths ?? []
  if (!Array.isArray(paths)) throw new TypeError(`paths must be an array of paths, got ${describe(paths)}`)
  const mask = checkWatchMask(o.mask ?? IN_ALL_EVENTS)
  const checked = paths.map((p: unknown, i) => checkPath(p, `paths[${i}]`))
  return Object.freeze({ encoding, blockDuration, paths: Object.freeze(checked), mask })
}

/**
 * A tree's ignore rules, split by where they apply: gitignore patterns and RegExp sources are
 * matched natively before any watch is added; functions filter the output on the consumer's thread.
 */
export interface IgnoreSettings {
  /** Gitignore-style patterns, relative to each root. */
  readonly patterns: readonly string[]
  /** Sources of RegExps without flags, matched anywhere in the path relative to its root. */
  readonly regexes: readonly string[]
  /** Functions of `(absolutePath, isDir)`. */
  readonly functions: readonly IgnoreFunction[]
  /** `@parcel/watcher`'s paths and expressions (`subscribe()`'s `ignore`). */
  readonly parcel: ParcelIgnore
}

/** No `@parcel/watcher` rules. */
const NO_PARCEL_IGNORE: ParcelIgnore = Object.freeze({ paths: Object.freeze([]), globs: Object.freeze([]) })

/** What each RegExp flag would ask of the native matcher, and what to write instead. */
const FLAG_ADVICE: Readonly<Record<string, string>> = {
  i: 'start the source with (?i) to match without regard to case',
  m: 'start the source with (?m) for ^ and $ to match at line ends',
  s: 'start the source with (?s) for . to match a newline',
  g: 'a global search means nothing for a yes-or-no match: leave it out',
  y: 'a sticky search means nothing for a yes-or-no match: leave it out',
  d: 'match indices mean nothing for a yes-or-no match: leave it out',
  u: 'the native matcher reads the source as Unicode already: leave it out',
  v: 'the native matcher reads the source as Unicode already: leave it out',
}

/** A RegExp's source, which must have no flags: the native matcher takes the source alone. */
function regexSource(regexp: RegExp, what: string): string {
  const flags = [...regexp.flags]
  if (flags.length === 0) return regexp.source
  const named = flags.map((f) => `'${f}'`).join(' and ')
  const advice = flags.map((f) => `${f}: ${FLAG_ADVICE[f] ?? 'leave it out'}`).join('; ')
  throw Object.assign(
    new TypeError(
      `${what}: the RegExp ${String(regexp)} has the flag${flags.length > 1 ? 's' : ''} ${named}; ignore ` +
        `RegExps take no flags, as their source is matched natively (by Rust's regex crate) (${advice})`,
    ),
    { code: 'ERR_INVALID_ARG_VALUE' },
  )
}

/** Splits ignores into gitignore patterns, RegExp sources and functions. */
function ignoreSettings(ignore: unknown): IgnoreSettings {
  const patterns: string[] = []
  const regexes: string[] = []
  const functions: IgnoreFunction[] = []
  if (ignore !== undefined) {
    const list: unknown[] = Array.isArray(ignore) ? ignore : [ignore]
    list.forEach((entry, i) => {
      if (typeof entry === 'string') patterns.push(entry)
      else if (entry instanceof RegExp) regexes.push(regexSource(entry, `ignore[${i}]`))
      else if (typeof entry === 'function') functions.push(entry as IgnoreFunction)
      else
        throw new TypeError(
          `ignore[${i}] must be a gitignore-style pattern, a RegExp or a function, got ${describe(entry)}`,
        )
    })
  }
  return Object.freeze({
    patterns: Object.freeze(patterns),
    regexes: Object.freeze(regexes),
    functions: Object.freeze(functions),
    parcel: NO_PARCEL_IGNORE,
  })
}

/** The default `onError` of a tree: a warning, except for a directory that vanished mid-scan. */
function warnUnlessVanished(error: InotifyError): void {
  if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return
  process.emitWarning(error)
}

/** A recursive tree, checked: `InotifyTrees`' options, or what `watch()` asks of its tree. */
export interface TreeSettings<E extends PathEncoding> extends SourceSettings<E> {
  /** The roots (each must be an existing directory: the tree checks that, it is no option). */
  readonly roots: readonly CheckedPath[]
  /** The user's event bits. */
  readonly mask: number
  /** Follow symbolic links to directories. */
  readonly followSymlinks: boolean
  /** What to leave out. */
  readonly ignore: IgnoreSettings
  /** Where faults that do not end the tree go. */
  readonly onError: (error: InotifyError) => void
  /** Also apply each root's `.gitignore`. */
  readonly readGitignore: boolean
  /** Watch below the roots. */
  readonly recursive: boolean
  /** Bound of the native queue, in bytes (`undefined`: the engine's). */
  readonly maxQueuedBytes: number | undefined
  /** An inotify instance of its own, instead of the process's shared one. */
  readonly ownInstance: boolean
}

const TREE_KEYS: ReadonlySet<string> = new Set([
  'mask',
  'blockDurationS',
  'encoding',
  'followSymlinks',
  'ignore',
  'onError',
  'instance',
])

/** Checks the roots and options of `new InotifyTrees(paths, options)` and fills in their defaults. */
export function treeSettings<E extends PathEncoding>(
  paths: readonly PathLike[],
  options: InotifyTreeOptions<E> | undefined,
): TreeSettings<E> {
  const o = optionsObject(options, 'InotifyTrees')
  checkKeys(o, TREE_KEYS, 'InotifyTrees')
  const encoding = checkEncoding<E>(o.encoding)
  const blockDuration = checkBlockDuration(o.blockDurationS)
  if (!Array.isArray(paths) || paths.length === 0) {
    throw new TypeError(`paths must be a non-empty array of directories, got ${describe(paths)}`)
  }
  const mask = checkTreeMask(o.mask ?? IN_ALL_EVENTS)
  const ignore = ignoreSettings(o.ignore)
  const followSymlinks = checkBoolean(o.followSymlinks, 'followSymlinks', false)
  checkFunction(o.onError, 'onError')
  const ownInstance = checkInstance(o.instance)
  const roots = paths.map((p: unknown, i) => checkPath(p, `paths[${i}]`))
  return Object.freeze({
    encoding,
    blockDuration,
    roots: Object.freeze(roots),
    mask,
    followSymlinks,
    ignore,
    onError: o.onError ?? warnUnlessVanished,
    readGitignore: false,
    recursive: true,
    maxQueuedBytes: undefined,
    ownInstance,
  })
}

/** `watch(paths, options)`, checked. */
export interface WatchSettings<E extends PathEncoding> {
  /** The roots, absolute. */
  readonly roots: readonly CheckedPath[]
  /** How paths come out. */
  readonly encoding: E
  /** Watch below the roots. */
  readonly recursive: boolean
  /** What to leave out. */
  readonly ignore: IgnoreSettings
  /** Also apply each root's `.gitignore`. */
  readonly gitignore: boolean
  /** Delay before a batch is taken, in milliseconds. */
  readonly debounceMs: number
  /** Follow symbolic links to directories. */
  readonly followSymlinks: boolean
  /** Aborting closes the watcher. */
  readonly signal: AbortSignal | undefined
  /** Batches an async iterator may hold. */
  readonly maxBacklog: number
  /** Bound of the native queue, in bytes. */
  readonly maxQueuedBytes: number
  /** An inotify instance of its own, instead of the process's shared one. */
  readonly ownInstance: boolean
}

const WATCH_KEYS: ReadonlySet<string> = new Set([
  'recursive',
  'maxQueuedBytes',
  'ignore',
  'gitignore',
  'debounceMs',
  'followSymlinks',
  'signal',
  'maxBacklog',
  'encoding',
  'instance',
])

/** Checks the roots and options of `watch(paths, options)` and fills in their defaults. */
export function watchSettings<E extends PathEncoding>(
  paths: PathLike | readonly PathLike[],
  options: WatchOptions<E> | undefined,
): WatchSettings<E> {
  const list: readonly unknown[] = Array.isArray(paths) ? paths : [paths]
  if (list.length === 0) throw new TypeError('watch() needs at least one directory')
  const o = optionsObject(options, 'watch')
  checkKeys(o, WATCH_KEYS, 'watch')
  const ignore = ignoreSettings(o.ignore)
  const encoding = checkEncoding<E>(o.encoding)
  const debounceMs = checkNumber(o.debounceMs ?? 0, 'debounceMs', 0, MAX_TIMER_MS, false)
  const maxBacklog = checkNumber(o.maxBacklog ?? DEFAULT_MAX_BACKLOG, 'maxBacklog', 1, Number.MAX_SAFE_INTEGER, true)
  const maxQueuedBytes = checkNumber(
    o.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES,
    'maxQueuedBytes',
    1,
    Number.MAX_SAFE_INTEGER,
    true,
  )
  const gitignore = checkBoolean(o.gitignore, 'gitignore', false)
  const recursive = checkBoolean(o.recursive, 'recursive', true)
  const followSymlinks = checkBoolean(o.followSymlinks, 'followSymlinks', false)
  const signal = checkSignal(o.signal)
  const ownInstance = checkInstance(o.instance)
  // URLs through fileURLToPath, as fs does: Node's own TypeError for a host or an encoded `/`.
  const roots = list.map((p, i) => checkPath(absolutePath(checkPath(p, `paths[${i}]`)), `paths[${i}]`))
  return Object.freeze({
    roots: Object.freeze(roots),
    encoding,
    recursive,
    ignore,
    gitignore,
    debounceMs,
    followSymlinks,
    signal,
    maxBacklog,
    maxQueuedBytes,
    ownInstance,
  })
}

/** The backends `@parcel/watcher` can be asked for; on Linux every one of them means inotify here. */
const BACKENDS: readonly BackendType[] = ['fs-events', 'watchman', 'inotify', 'windows', 'brute-force']

/** `@parcel/watcher`'s batching window. */
const PARCEL_DEBOUNCE_MS = 50

const SUBSCRIBE_KEYS: ReadonlySet<string> = new Set(['ignore', 'backend', 'debounceMs', 'instance'])

/** `subscribe(dir, fn, options)`, checked: the watcher it opens, and the key `unsubscribe` finds it by. */
export interface SubscribeSettings {
  /** The directory, absolute. */
  readonly root: string
  /** Same for the same directory and ignores, as `@parcel/watcher` compares them. */
  readonly key: string
  /** The watcher's settings. */
  readonly watch: WatchSettings<'utf8'>
}

/**
 * Checks the arguments of `subscribe(dir, fn, options)` (and `unsubscribe`'s) and fills in defaults;
 * `what` names the call in errors (`writeSnapshot` and `getEventsSince` take the same options).
 */
export function subscribeSettings(
  dir: unknown,
  options: SubscribeOptions | undefined,
  what = 'subscribe',
): SubscribeSettings {
  if (typeof dir !== 'string') throw new TypeError(`dir must be a string, got ${describe(dir)}`)
  const o = optionsObject(options, what)
  checkKeys(o, SUBSCRIBE_KEYS, what)
  if (o.backend !== undefined && !(BACKENDS as readonly unknown[]).includes(o.backend)) {
    throw new TypeError(`backend must be one of ${BACKENDS.join(', ')}, got ${describe(o.backend)}`)
  }
  const root = resolvePath(dir)
  const parcel = parcelIgnore(root, o.ignore)
  const ignore: IgnoreSettings = Object.freeze({ ...ignoreSettings(undefined), parcel })
  const debounceMs = checkNumber(o.debounceMs ?? PARCEL_DEBOUNCE_MS, 'debounceMs', 0, MAX_TIMER_MS, false)
  const ownInstance = checkInstance(o.instance)
  const watch: WatchSettings<'utf8'> = Object.freeze({
    roots: Object.freeze([checkPath(root, 'dir')]),
    encoding: 'utf8',
    recursive: true,
    ignore,
    gitignore: false,
    debounceMs,
    followSymlinks: false,
    signal: undefined,
    maxBacklog: DEFAULT_MAX_BACKLOG,
    maxQueuedBytes: DEFAULT_MAX_QUEUED_BYTES,
    ownInstance,
  })
  // @parcel/watcher compares a subscription's ignores as sets.
  const key = JSON.stringify([root, [...new Set(parcel.paths)].sort(), [...new Set(parcel.globs)].sort()])
  return Object.freeze({ root, key, watch })
}

/** `writeSnapshot(dir, snapshot, options)` and `getEventsSince`'s arguments, checked. */
export interface SnapshotSettings {
  /** The directory, absolute (resolved, not followed through links). */
  readonly root: string
  /** The snapshot file, absolute. */
  readonly snapshotPath: string
  /** What the walk leaves out, as `subscribe()` leaves it out. */
  readonly ignore: { readonly paths: string[]; readonly globs: string[] }
}

/**
 * Checks the arguments of `writeSnapshot` and `getEventsSince`: the same directory and options as
 * `subscribe()` (its `debounceMs` and `instance` are checked and mean nothing here), and a path for
 * the snapshot, resolved as `@parcel/watcher` resolves it.
 */
export function snapshotSettings(
  dir: unknown,
  snapshot: unknown,
  options: SubscribeOptions | undefined,
  what: string,
): SnapshotSettings {
  const { root, watch } = subscribeSettings(dir, options, what)
  if (typeof snapshot !== 'string') throw new TypeError(`snapshot must be a string, got ${describe(snapshot)}`)
  checkPath(snapshot, 'snapshot')
  return Object.freeze({
    root,
    snapshotPath: resolvePath(snapshot),
    ignore: Object.freeze({ paths: [...watch.ignore.parcel.paths], globs: [...watch.ignore.parcel.globs] }),
  })
}

/** A generator's options, checked. */
export interface GenSettings<P extends string | Buffer> {
  /** `timeoutS` in milliseconds. */
  timeoutMs: number | undefined
  /** Yield `null` at the end of each cycle. */
  yieldNones: boolean
  /** The Python package's predicate. */
  filterPredicate: EventGenOptions<P>['filterPredicate']
  /** Drops events. */
  filter: EventGenOptions<P>['filter']
  /** Type names that throw. */
  terminal: ReadonlySet<EventName>
  /** Aborting ends the generator. */
  signal: AbortSignal | undefined
}

/** The default terminal events, as the Python package's. */
export const DEFAULT_TERMINAL_EVENTS: readonly EventName[] = Object.freeze(['IN_Q_OVERFLOW', 'IN_UNMOUNT'])

const GEN_KEYS: ReadonlySet<string> = new Set([
  'timeoutS',
  'yieldNones',
  'filterPredicate',
  'filter',
  'terminalEvents',
  'signal',
])
const BATCH_KEYS: ReadonlySet<string> = new Set(['timeoutS', 'signal'])

function genSettings<P extends string | Buffer>(
  options: EventGenOptions<P> | undefined,
  what: string,
  known: ReadonlySet<string>,
): GenSettings<P> {
  const o = options ?? {}
  if (typeof o !== 'object' || o === null) throw new TypeError(`${what} options must be an object, got ${describe(o)}`)
  checkKeys(o, known, what)
  checkFunction(o.filterPredicate, 'filterPredicate')
  checkFunction(o.filter, 'filter')
  const signal = checkSignal(o.signal)
  const yieldNones = checkBoolean(o.yieldNones, 'yieldNones', true)
  const terminal = o.terminalEvents ?? DEFAULT_TERMINAL_EVENTS
  if (!Array.isArray(terminal)) throw new TypeError(`terminalEvents must be an array of event names`)
  for (const name of terminal as unknown[]) {
    if (typeof name !== 'string' || !EVENT_NAMES.includes(name as EventName)) {
      throw new TypeError(`terminalEvents: ${describe(name)} is not an IN_* event name`)
    }
  }
  return {
    timeoutMs: o.timeoutS === undefined ? undefined : checkSeconds(o.timeoutS, 'timeoutS') * 1000,
    yieldNones,
    filterPredicate: o.filterPredicate,
    filter: o.filter,
    terminal: new Set(terminal),
    signal,
  }
}

/** Checks the options of `eventGen` and `eventGenSync` and fills in their defaults. */
export function eventGenSettings<P extends string | Buffer>(
  options: EventGenOptions<P> | undefined,
  what: 'eventGen' | 'eventGenSync',
): GenSettings<P> {
  return genSettings(options, what, GEN_KEYS)
}

/** Checks the options of `eventBatches`: those of `eventGen` that mean something for batches. */
export function eventBatchesSettings<P extends string | Buffer>(
  options: EventBatchesOptions | undefined,
): GenSettings<P> {
  return { ...genSettings<P>(options, 'eventBatches', BATCH_KEYS), yieldNones: false }
}

/**
 * A tree generator's options without the Python package's own (`ignoreMissingNewFolders`), which
 * is checked here and has no effect (see {@link TreeEventGenOptions}); the rest are checked by
 * {@link eventGenSettings}.
 */
export function withoutPythonOption<P extends string | Buffer>(
  options: TreeEventGenOptions<P> | undefined,
  what: 'eventGen' | 'eventGenSync',
): EventGenOptions<P> | undefined {
  if (options === null || typeof options !== 'object' || !('ignoreMissingNewFolders' in options)) return options
  const { ignoreMissingNewFolders, ...rest } = options
  checkBoolean(ignoreMissingNewFolders, `${what}: ignoreMissingNewFolders`, false)
  return rest
}
