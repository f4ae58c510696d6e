/**
 * What the port of `@parcel/watcher`'s own suite (test/watcher.js, test/since.js) runs on: the package
 * as a tool loads it in place of `@parcel/watcher` (its default export), a fresh directory per test,
 * and waits with deadlines where parcel's suite sleeps.
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import inotifyNapi, { type AsyncSubscription, type Event, type Options, type SubscribeCallback } from '../../src/index'
import { makeTempDir, until } from '../helpers'
import { withinDeadline } from '../inotify-fixture'

/** `@parcel/watcher`'s four functions, with its signatures (its `index.d.ts`). */
export interface ParcelWatcher {
  subscribe(dir: string, fn: SubscribeCallback, opts?: Options): Promise<AsyncSubscription>
  unsubscribe(dir: string, fn: SubscribeCallback, opts?: Options): Promise<void>
  writeSnapshot(dir: string, snapshot: string, opts?: Options): Promise<string>
  getEventsSince(dir: string, snapshot: string, opts?: Options): Promise<Event[]>
}

/**
 * One of the default export's functions, looked up when a test calls it: one the package lacks is a
 * `TypeError` naming it in that test alone, as a tool calling it would get one.
 */
function member(name: keyof ParcelWatcher): (...args: unknown[]) => Promise<unknown> {
  const fn: unknown = Reflect.get(inotifyNapi, name)
  if (typeof fn !== 'function') throw new TypeError(`inotify-napi's default export has no ${name}()`)
  return fn as (...args: unknown[]) => Promise<unknown>
}

/** The package, as `(await import('@parcel/watcher')).default` gives it to a tool it stands in for. */
export const watcher: ParcelWatcher = {
  subscribe: (...args) => member('subscribe')(...args) as Promise<AsyncSubscription>,
  unsubscribe: (...args) => member('unsubscribe')(...args) as Promise<void>,
  writeSnapshot: (...args) => member('writeSnapshot')(...args) as Promise<string>,
  getEventsSince: (...args) => member('getEventsSince')(...args) as Promise<Event[]>,
}

const cleanups: (() => void | Promise<void>)[] = []

/** Runs what the test opened, last first: subscriptions, then directories. For `afterEach`. */
export async function closeAll(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
}

/** A fresh directory (through realpath), removed after the test. */
export function freshDir(prefix = 'inotify-napi-parcel-'): string {
  const { dir, cleanup } = makeTempDir(prefix)
  cleanups.push(cleanup)
  return dir
}

/** A subscription, unsubscribed after the test (an `unsubscribe()` of its own first is harmless). */
export async function track(subscription: Promise<AsyncSubscription>): Promise<AsyncSubscription> {
  const sub = await subscription
  cleanups.push(() => sub.unsubscribe())
  return sub
}

/** A subscription on a fresh directory, as parcel's suite drives one. */
export interface Subscribed {
  dir: string
  sub: AsyncSubscription
  /** The next batch the callback gets (parcel's `nextEvent`), within a deadline. */
  nextEvent: () => Promise<Event[]>
  /**
   * Takes batches until everything done so far has been delivered, and returns their events: a
   * directory made as a marker (one event, no close to trail it) comes after all that was queued
   * before it, and is left out. Where parcel's suite awaits one batch after a step, a loaded
   * machine can split a file's create and its close across two, and the late half would be taken
   * for the next step's.
   */
  settled: () => Promise<Event[]>
  /** {@link Subscribed.settled}, batch by batch (the marker left out, and a batch it was alone in). */
  settledBatches: () => Promise<Event[][]>
  /** Whether a batch came in the last `ms` (a short bounded window, for "nothing more comes"). */
  quietFor: (ms: number) => Promise<boolean>
}

/**
 * Subscribes to a fresh directory after `prepare(dir)` has made what must exist before (parcel's
 * suite makes its `fileToRename`, `dirToRename` and glob directories before subscribing). The
 * options may depend on the directory (parcel's suite ignores absolute paths in it).
 */
export async function subscribed(
  options?: Options | ((dir: string) => Options),
  prepare?: (dir: string) => void,
): Promise<Subscribed> {
  const dir = freshDir()
  prepare?.(dir)
  const batches: Event[][] = []
  let wake: (() => void) | undefined
  const sub = await track(
    watcher.subscribe(
      dir,
      (err, events) => {
        if (err) throw err
        batches.push(events)
        wake?.()
      },
      typeof options === 'function' ? options(dir) : options,
    ),
  )
  const nextEvent = async (): Promise<Event[]> => {
    while (batches.length === 0)
      await withinDeadline(
        new Promise<void>((resolve) => {
          wake = resolve
        }),
        'a batch',
      )
    return batches.shift() ?? []
  }
  let marks = 0
  const settledBatches = async (): Promise<Event[][]> => {
    const marker = join(dir, `.settled-${++marks}`)
    mkdirSync(marker)
    const batches: Event[][] = []
    for (;;) {
      const batch = await nextEvent()
      const events = batch.filter((e) => e.path !== marker)
      if (events.length > 0) batches.push(events)
      if (events.length < batch.length) return batches
    }
  }
  const settled = async (): Promise<Event[]> => (await settledBatches()).flat()
  const quietFor = async (ms: number): Promise<boolean> => {
    const before = batches.length
    await new Promise((resolve) => setTimeout(resolve, ms))
    return batches.length === before
  }
  return { dir, sub, nextEvent, settled, settledBatches, quietFor }
}

/**
 * What a consumer that applies batch after batch is told in all, per path (in the order the paths
 * first came): the coalescing of `@parcel/watcher` (a create then an update is a create, a delete
 * then a create an update, a create then a delete nothing) carried across batches. Where the
 * reader's pace splits one path's changes across two batches, the result is what one batch would
 * have held. Within a batch that coalescing is the promise: a batch naming a path twice throws.
 */
export function coalesced(batches: readonly (readonly Event[])[]): Event[] {
  const net = new Map<string, Event['type'] | undefined>()
  for (const batch of batches) {
    const paths = new Set(batch.map((e) => e.path))
    if (paths.size < batch.length) throw new Error(`a path twice in one batch: ${JSON.stringify(batch)}`)
    for (const { type, path } of batch) {
      const before = net.get(path)
      if (before === 'create') net.set(path, type === 'delete' ? undefined : 'create')
      else if (before === 'delete' && type === 'create') net.set(path, 'update')
      else net.set(path, type)
    }
  }
  const events: Event[] = []
  for (const [path, type] of net) if (type !== undefined) events.push({ type, path })
  return events
}

/**
 * Waits until the file system's clock has moved past `path`'s timestamps, so that a write now gives
 * it a modification time other than the one a snapshot recorded. Kernels stamp files with a coarse
 * clock (a tick of up to 10 ms), so a write right after another can carry the very same time;
 * parcel's suite sleeps for this. The clock is read by touching a file in `probeDir`.
 */
export async function clockPast(path: string, probeDir: string): Promise<void> {
  // ctime moves with every write that moves mtime, and with more: the later of the two.
  const last = statSync(path, { bigint: true }).ctimeNs
  const probe = join(probeDir, '.clock')
  await until(() => {
    writeFileSync(probe, '')
    return statSync(probe, { bigint: true }).mtimeNs > last
  }, `the file system's clock to pass ${path}'s timestamps`)
}
