/**
 * A drop-in for `@parcel/watcher`'s `subscribe`/`unsubscribe` on Linux: the same signature and event
 * shape, on top of {@link watch}, so a user switches by changing one import.
 * @module
 */
import type { Change } from './changes'
import { InotifyError, readInotifyLimit } from './errors'
import { subscribeSettings } from './options'
import { describe } from './paths'
import type { InstanceKind } from './tree'
import { Watcher } from './watch'

/** What happened to a path, as `@parcel/watcher` names it. */
export type EventType = 'create' | 'update' | 'delete'

/** `@parcel/watcher`'s event: what happened to an absolute path. */
export interface SubscribeEvent {
  /** `create`, `update` or `delete` (a rename is a delete of the old path and a create of the new). */
  type: EventType
  /**
   * The absolute path, a string as in `@parcel/watcher`. A name that is not valid UTF-8 is lossy
   * here: each invalid byte sequence becomes U+FFFD (as `Buffer#toString('utf8')` decodes), so such
   * a path does not exist on disk. `watch(dir, { encoding: 'buffer' })` gives the exact bytes.
   */
  path: string
}

/** `@parcel/watcher`'s name for {@link SubscribeEvent}, so code written for it compiles unchanged. */
export type Event = SubscribeEvent

/**
 * `@parcel/watcher`'s callback: an error, or a batch of events. A batch is sorted by path (by its
 * UTF-8 bytes), as `@parcel/watcher` orders it, not in the order things happened.
 */
export type SubscribeCallback = (err: Error | null, events: SubscribeEvent[]) => unknown

/** The backends `@parcel/watcher` can be asked for; on Linux every one of them means inotify here. */
export type BackendType = 'fs-events' | 'watchman' | 'inotify' | 'windows' | 'brute-force'

/** `@parcel/watcher`'s options (the ones that mean something here). */
export interface SubscribeOptions {
  /**
   * Paths, globs and RegExps to leave out, read exactly as `@parcel/watcher` 2.6 reads them and
   * matched natively before any watch is added (an ignored directory is never watched):
   *
   * - a string that `is-glob` calls a glob (`*.log`, `src/**`, `{a,b}/**`, `@(a|b)`, `!(x)`,
   *   `(a|b).txt`) becomes picomatch's regular expression, matched whole against the path relative
   *   to the directory (`dot: true`: `*` takes dotfiles too). Any glob that matches ignores: a
   *   `!negation` does not bring back what another entry ignored.
   * - any other string is a path, absolute or resolved against the directory (`src`, `./src`,
   *   `?.txt`: a lone `?` makes no glob), leaving out itself and everything below it;
   * - a RegExp is tested on the relative path (`src/app.log`), matching anywhere in it; it takes no
   *   flags (an `Error`, as there). Look-around and backreferences work; as with any backtracking
   *   matcher (`@parcel/watcher`'s and JavaScript's), an expression written to backtrack without
   *   end (`(a+)+$`) stalls the thread that matches it.
   *
   * Expressions read the path byte by byte, as `@parcel/watcher`'s C++ matcher does: `?` or `.`
   * is one byte, so `/^.\.md$/` does not match `é.md`. An `ignore` that is not an array (a
   * string, a lone RegExp) ignores nothing, as there, and is warned about once.
   */
  ignore?: readonly (string | RegExp)[] | string
  /**
   * Accepted for compatibility and ignored: Linux has one backend here, inotify. Any other value
   * is a `TypeError`.
   */
  backend?: BackendType
  /**
   * How long changes gather before the callback runs (default 50, `@parcel/watcher`'s fixed
   * window, so that code written for it sees the same coalescing); 0 delivers at once. At most
   * 2^31-1, as `watch()`'s: a `RangeError` beyond.
   */
  debounceMs?: number
  /**
   * Which inotify instance the subscription is a session of (not an option of `@parcel/watcher`,
   * which serves every subscription from one instance too): `'shared'` (default), the process's
   * one, or `'own'`. See {@link InstanceKind}.
   */
  instance?: InstanceKind
}

/** `@parcel/watcher`'s name for {@link SubscribeOptions}. */
export type Options = SubscribeOptions

/** `@parcel/watcher`'s subscription. */
export interface AsyncSubscription {
  /** Stops the subscription (resolves once every watch is dropped). */
  unsubscribe(): Promise<void>
}

const subscriptions = new Map<string, { fn: SubscribeCallback; watcher: Watcher }[]>()

/**
 * The batch in @parcel/watcher's order: it gathers events in a `std::map` keyed by path, so they come
 * sorted by the path's bytes (UTF-8), not by time. UTF-16 order (`<` on strings) differs from it for
 * characters beyond U+FFFF, hence the bytes. The sort is stable: two events on one path keep their order.
 */
function sortedByPath(events: SubscribeEvent[]): SubscribeEvent[] {
  if (events.length < 2) return events
  const keyed = events.map((event) => ({ event, bytes: Buffer.from(event.path, 'utf8') }))
  keyed.sort((a, b) => Buffer.compare(a.bytes, b.bytes))
  return keyed.map(({ event }) => event)
}

function toParcel(changes: readonly Change[]): SubscribeEvent[] {
  const events: SubscribeEvent[] = []
  for (const change of changes) {
    switch (change.type) {
      case 'create':
        events.push({ type: 'create', path: change.path })
        break
      case 'modify':
        events.push({ type: 'update', path: change.path })
        break
      case 'delete':
        events.push({ type: 'delete', path: change.path })
        break
      case 'rename':
        if (change.oldPath !== undefined) events.push({ type: 'delete', path: change.oldPath })
        events.push({ type: 'create', path: change.path })
        break
      case 'overflow':
        // The re-scan that follows reports what changed, as creates and deletes.
        break
    }
  }
  return sortedByPath(events)
}

/** What the callback gets when the kernel dropped events under `dir`. */
function overflowError(dir: string): InotifyError {
  const limit = readInotifyLimit('max_queued_events')
  return new InotifyError({
    code: 'ERR_INOTIFY_OVERFLOW',
    path: dir,
    message:
      `ERR_INOTIFY_OVERFLOW: the kernel's event queue overflowed under '${dir}' ` +
      `(fs.inotify.max_queued_events = ${limit ?? 'unknown'}) and events were lost; the directory was ` +
      'scanned again, and what changed follows as events',
  })
}

/**
 * Calls `fn` with batches of changes under `dir` (recursively), as `@parcel/watcher`'s `subscribe`.
 * Resolves once every directory is watched. Each batch is sorted by path, as `@parcel/watcher`'s
 * (`watch()` delivers kernel order). Paths are strings, as `@parcel/watcher`'s: a name that
 * is not valid UTF-8 comes with U+FFFD for each invalid sequence (see {@link SubscribeEvent.path}).
 */
export async function subscribe(
  dir: string,
  fn: SubscribeCallback,
  options?: SubscribeOptions,
): Promise<AsyncSubscription> {
  const { root, key, watch } = subscribeSettings(dir, options)
  if (typeof fn !== 'function') throw new TypeError(`fn must be a function, got ${describe(fn)}`)
  const watcher = new Watcher(watch)
  watcher.on('events', (changes) => {
    // Never silent: events were lost (the re-scan's findings follow in this batch's events), and
    // the callback is told first, as @parcel/watcher tells of a lost buffer on Windows.
    if (changes.some((c) => c.type === 'overflow')) fn(overflowError(root), [])
    const events = toParcel(changes)
    if (events.length > 0) fn(null, events)
  })
  watcher.on('error', (error: InotifyError) => {
    if (error.code !== 'ENOENT' && error.code !== 'ENOTDIR') fn(error, [])
  })
  try {
    await watcher.ready
  } catch (error) {
    await watcher.close()
    throw error
  }
  const entry = { fn, watcher }
  subscriptions.set(key, [...(subscriptions.get(key) ?? []), entry])
  return {
    unsubscribe: async () => {
      const list = subscriptions.get(key)?.filter((e) => e !== entry) ?? []
      if (list.length > 0) subscriptions.set(key, list)
      else subscriptions.delete(key)
      await watcher.close()
    },
  }
}

/** Stops the subscription made with the same `dir`, `fn` and options, as `@parcel/watcher`'s. */
export async function unsubscribe(dir: string, fn: SubscribeCallback, options?: SubscribeOptions): Promise<void> {
  const { key } = subscribeSettings(dir, options)
  const list = subscriptions.get(key) ?? []
  const entry = list.find((e) => e.fn === fn)
  if (entry === undefined) return
  const rest = list.filter((e) => e !== entry)
  if (rest.length > 0) subscriptions.set(key, rest)
  else subscriptions.delete(key)
  await entry.watcher.close()
}
