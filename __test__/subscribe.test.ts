/**
 * The `@parcel/watcher` drop-in: expectations ported from its own test suite (test/watcher.js, the
 * Linux/inotify parts): the event shapes and coalescing a user of it relies on.
 */
import { promises as fs, mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  subscribe,
  unsubscribe,
  type AsyncSubscription,
  type SubscribeEvent,
  type SubscribeOptions,
} from '../src/index'
import { makeTempDir } from './helpers'
import { withinDeadline } from './inotify-fixture'
import { closeAll, coalesced, subscribed } from './parcel/parcel-fixture'

const subscriptions: AsyncSubscription[] = []
const cleanups: (() => void)[] = []
afterEach(async () => {
  for (const s of subscriptions.splice(0)) await s.unsubscribe()
  for (const cleanup of cleanups.splice(0)) cleanup()
  await closeAll()
})

describe('subscribe (the @parcel/watcher drop-in)', () => {
  it('should emit when a file is created', async () => {
    const { dir, nextEvent } = await subscribed()
    const f = join(dir, 'test.txt')
    await fs.writeFile(f, 'hello world')
    expect(await nextEvent()).toEqual([{ type: 'create', path: f }])
  })

  it('should emit when a file is updated', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const f = join(dir, 'test.txt')
    await fs.writeFile(f, 'hello world')
    await settled()
    await fs.writeFile(f, 'hi')
    expect(await nextEvent()).toEqual([{ type: 'update', path: f }])
  })

  it('should emit when a file is renamed', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const f1 = join(dir, 'test1.txt')
    const f2 = join(dir, 'test2.txt')
    await fs.writeFile(f1, 'hello world')
    await settled()
    await fs.rename(f1, f2)
    expect(await nextEvent()).toEqual([
      { type: 'delete', path: f1 },
      { type: 'create', path: f2 },
    ])
  })

  it('should emit when a file is deleted', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const f = join(dir, 'test.txt')
    await fs.writeFile(f, 'hello world')
    await settled()
    await fs.unlink(f)
    expect(await nextEvent()).toEqual([{ type: 'delete', path: f }])
  })

  it('should emit when a directory is created, renamed and deleted', async () => {
    const { dir, nextEvent } = await subscribed()
    const d1 = join(dir, 'dir1')
    const d2 = join(dir, 'dir2')
    await fs.mkdir(d1)
    expect(await nextEvent()).toEqual([{ type: 'create', path: d1 }])
    await fs.rename(d1, d2)
    expect(await nextEvent()).toEqual([
      { type: 'delete', path: d1 },
      { type: 'create', path: d2 },
    ])
    await fs.rmdir(d2)
    expect(await nextEvent()).toEqual([{ type: 'delete', path: d2 }])
  })

  it('should emit when a file is created in a subdirectory, and in a renamed one at its new path', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const sub = join(dir, 'sub')
    await fs.mkdir(sub)
    await settled()
    await fs.writeFile(join(sub, 'a.txt'), 'x')
    expect(await nextEvent()).toEqual([{ type: 'create', path: join(sub, 'a.txt') }])
    const moved = join(dir, 'moved')
    await fs.rename(sub, moved)
    await settled()
    await fs.writeFile(join(moved, 'b.txt'), 'x')
    expect(await nextEvent()).toEqual([{ type: 'create', path: join(moved, 'b.txt') }])
  })

  it('should coalesce create and update events', async () => {
    const { dir, nextEvent } = await subscribed()
    const f = join(dir, 'test.txt')
    await fs.writeFile(f, 'hello world')
    await fs.writeFile(f, 'updated')
    expect(await nextEvent()).toEqual([{ type: 'create', path: f }])
  })

  it('should coalesce delete and create events into an update', async () => {
    const { dir, settled, settledBatches } = await subscribed()
    const f = join(dir, 'test.txt')
    await fs.writeFile(f, 'hello world')
    await settled()
    // Both at once, so that no batch is taken between them. The reader may still read the delete
    // alone and the debounce end before it reads the create (a loaded machine): they then come in
    // two batches, which coalesce to the same.
    unlinkSync(f)
    writeFileSync(f, 'again')
    expect(coalesced(await settledBatches())).toEqual([{ type: 'update', path: f }])
  })

  it('should ignore a directory given by path, and a glob', async () => {
    const { dir, nextEvent } = await subscribed({ ignore: ['ignored', '*.secret'] })
    await fs.mkdir(join(dir, 'ignored'), { recursive: true })
    await fs.writeFile(join(dir, 'ignored', 'a.txt'), 'x')
    await fs.writeFile(join(dir, 'k.secret'), 'x')
    await fs.writeFile(join(dir, 'seen.txt'), 'x')
    expect(await nextEvent()).toEqual([{ type: 'create', path: join(dir, 'seen.txt') }])
  })

  it('should support multiple subscriptions to the same directory', async () => {
    const { dir, nextEvent } = await subscribed()
    const second: SubscribeEvent[][] = []
    const sub2 = await subscribe(dir, (_err, events) => {
      second.push(events)
    })
    subscriptions.push(sub2)
    const f = join(dir, 'test.txt')
    await fs.writeFile(f, 'x')
    expect(await nextEvent()).toEqual([{ type: 'create', path: f }])
    await withinDeadline(
      (async () => {
        while (second.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
      })(),
      'the second subscription',
    )
    expect(second[0]).toEqual([{ type: 'create', path: f }])
  })

  it('should stop calling back after unsubscribe(dir, fn) and after subscription.unsubscribe()', async () => {
    const { dir } = makeTempDir('inotify-napi-parcel-')
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }))
    const calls: SubscribeEvent[][] = []
    const fn = (_err: Error | null, events: SubscribeEvent[]): void => {
      calls.push(events)
    }
    await subscribe(dir, fn)
    await unsubscribe(dir, fn)
    const sub = await subscribe(dir, fn, { ignore: ['nothing'] })
    await sub.unsubscribe()
    // A live subscription proves events flow; the unsubscribed ones stay silent.
    const probe: SubscribeEvent[][] = []
    const live = await subscribe(dir, (_e, events) => {
      probe.push(events)
    })
    subscriptions.push(live)
    await fs.writeFile(join(dir, 'after.txt'), 'x')
    await withinDeadline(
      (async () => {
        while (probe.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
      })(),
      'the live subscription',
    )
    expect(calls).toEqual([])
  })

  /** Batches until `count` events have arrived, each batch as its paths relative to `dir`. */
  async function batchesOf(
    nextEvent: () => Promise<SubscribeEvent[]>,
    dir: string,
    count: number,
  ): Promise<string[][]> {
    const batches: string[][] = []
    while (batches.flat().length < count)
      batches.push((await nextEvent()).map((e) => `${e.type} ${relative(dir, e.path)}`))
    return batches
  }
  /** Paths in @parcel/watcher's order: its std::map compares the UTF-8 bytes. */
  const byBytes = (a: string, b: string): number =>
    Buffer.compare(Buffer.from(a.slice(a.indexOf(' ') + 1)), Buffer.from(b.slice(b.indexOf(' ') + 1)))

  it('delivers each batch sorted by the UTF-8 bytes of its paths, as @parcel/watcher does, not in the order of the changes', async () => {
    const { dir, nextEvent } = await subscribed({ debounceMs: 200 })
    // One synchronous burst, so the changes gather in one batch. Kernel order is this order; byte
    // order puts 'B' before 'a', and U+FF21 before U+1F600 (which UTF-16 order would swap).
    const names = ['c', 'B', 'a', '\u{1F600}', '\uFF21', '\u00E9', 'a.b', 'a-b']
    for (const name of names) writeFileSync(join(dir, name), 'x')
    const batches = await batchesOf(nextEvent, dir, names.length)
    expect(batches.flat().sort()).toEqual(names.map((n) => `create ${n}`).sort())
    for (const batch of batches) expect(batch).toEqual([...batch].sort(byBytes))
    expect(batches[0]!.length, 'the burst arrived in one batch').toBeGreaterThan(1)
  })

  it('delivers a case-only rename as [create NEW, delete old], in path order', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    await fs.writeFile(join(dir, 'file'), 'x')
    await settled()
    await fs.rename(join(dir, 'file'), join(dir, 'FILE'))
    expect(await nextEvent()).toEqual([
      { type: 'create', path: join(dir, 'FILE') },
      { type: 'delete', path: join(dir, 'file') },
    ])
  })

  it('delivers a deleted directory before the files that were in it', async () => {
    const { dir, nextEvent } = await subscribed({ debounceMs: 200 })
    const d = join(dir, 'd')
    mkdirSync(d)
    for (const name of ['z', 'y', 'x']) writeFileSync(join(d, name), 'x')
    expect((await batchesOf(nextEvent, dir, 4)).flat().sort()).toEqual([
      'create d',
      'create d/x',
      'create d/y',
      'create d/z',
    ])
    rmSync(d, { recursive: true })
    const batches = await batchesOf(nextEvent, dir, 4)
    expect(batches.flat().sort()).toEqual(['delete d', 'delete d/x', 'delete d/y', 'delete d/z'])
    for (const batch of batches) expect(batch).toEqual([...batch].sort(byBytes))
  })

  it.each(['fs-events', 'watchman', 'inotify', 'windows', 'brute-force'] as const)(
    'accepts backend %s and watches with inotify',
    async (backend) => {
      const { dir, nextEvent } = await subscribed({ backend })
      await fs.writeFile(join(dir, 'a.txt'), 'x')
      expect(await nextEvent()).toEqual([{ type: 'create', path: join(dir, 'a.txt') }])
    },
  )

  it('rejects a backend @parcel/watcher does not name with a TypeError', async () => {
    const { dir, cleanup } = makeTempDir('inotify-napi-parcel-')
    cleanups.push(cleanup)
    const options = { backend: 'kqueue' } as unknown as SubscribeOptions
    await expect(subscribe(dir, () => {}, options)).rejects.toThrow(
      new TypeError(
        'backend must be one of fs-events, watchman, inotify, windows, brute-force, got type string (kqueue)',
      ),
    )
  })

  it('rejects an unknown option with a TypeError that names it, in subscribe and unsubscribe', async () => {
    const { dir, cleanup } = makeTempDir('inotify-napi-parcel-')
    cleanups.push(cleanup)
    const options = { ignored: ['node_modules'] } as unknown as SubscribeOptions
    await expect(subscribe(dir, () => {}, options)).rejects.toThrow(/subscribe: unknown option "ignored"/)
    await expect(unsubscribe(dir, () => {}, options)).rejects.toThrow(TypeError)
  })

  it('accepts a string ignore and, as @parcel/watcher (which reads only an array), ignores nothing with it', async () => {
    const { dir, nextEvent } = await subscribed({ ignore: 'skipped.txt' })
    await fs.writeFile(join(dir, 'skipped.txt'), 'x')
    expect(await nextEvent()).toEqual([{ type: 'create', path: join(dir, 'skipped.txt') }])
  })

  it('rejects a missing directory', async () => {
    await expect(subscribe('/no/such/dir/for/inotify-napi', () => {})).rejects.toThrow(/ENOENT/)
  })
})
