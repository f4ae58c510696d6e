/**
 * End-to-end: `timeoutS: 0` is "what is there now, then end" (issue 15.1), as the Python package's
 * `event_gen(timeout_s=0)`: one non-blocking read of what the kernel has queued (for a tree, with
 * what its bookkeeping makes of it), delivered, then the end, without a `null` after it. The
 * instances wait without end between ticks (`blockDurationS: null`), so a generator that waited
 * for anything would run into the test's deadline instead of ending.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { IN_CREATE, type EventBatch, type Inotify, type InotifyEvent, type InotifyTrees } from '../src/index'
import { collectUntil } from './helpers'
import { sh, useFixture, withinDeadline } from './inotify-fixture'
import { useTreeFixture } from './tree-fixture'

const fx = useFixture()
const tfx = useTreeFixture()

/** What a generator yields until it ends by itself (bounded by a deadline). */
function drain<T>(gen: AsyncGenerator<T>): Promise<T[]> {
  return collectUntil(gen, () => false, 'the generator to end')
}

/** What a blocking generator yields until it ends by itself (bounded by a deadline). */
function drainSync<T>(gen: Generator<T>, timeoutMs = 5000): T[] {
  const items: T[] = []
  const deadline = performance.now() + timeoutMs
  for (const item of gen) {
    items.push(item)
    if (performance.now() > deadline) throw new Error(`the blocking generator did not end in ${timeoutMs} ms`)
  }
  return items
}

/** An event, or a cycle's `null`, as the tests compare them. */
function shown(item: InotifyEvent | null): string | null {
  return item === null
    ? null
    : `${item.typeNames.join('|')} ${item.path}/${item.filename}${item.synthetic ? ' (synthetic)' : ''}`
}

/** The events of batches, as {@link shown} gives them. */
function shownBatches(batches: readonly EventBatch[]): string[] {
  return batches.flatMap((batch) => [...batch].map((event) => shown(event)!))
}

/** What has the three generators: an `Inotify` or a tree. */
type Source = Inotify | InotifyTrees

/** The three generators, each run with `timeoutS: 0` to its end, their items as {@link shown} gives them. */
const generators: [string, (source: Source) => Promise<(string | null)[]>][] = [
  ['eventGen', async (source) => (await drain(source.eventGen({ timeoutS: 0 }))).map(shown)],
  ['eventGenSync', async (source) => drainSync(source.eventGenSync({ timeoutS: 0 })).map(shown)],
  ['eventBatches', async (source) => shownBatches(await drain(source.eventBatches({ timeoutS: 0 })))],
]

describe.each(generators)('%s with timeoutS 0', (_name, run) => {
  it('yields the events already queued on an Inotify, no null, and ends', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ blockDurationS: null })
    inotify.addWatch(dir, IN_CREATE)
    sh(dir, 'touch "$D/a"; mkdir "$D/sub"')
    expect(await withinDeadline(run(inotify), 'the end')).toEqual([
      `IN_CREATE ${dir}/a`,
      `IN_ISDIR|IN_CREATE ${dir}/sub`,
    ])
  })

  it('ends at once with nothing when nothing is queued, and leaves later events to the next generator', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ blockDurationS: null })
    inotify.addWatch(dir, IN_CREATE)
    expect(await withinDeadline(run(inotify), 'the end')).toEqual([])
    sh(dir, 'touch "$D/later"')
    expect(await withinDeadline(run(inotify), 'the end')).toEqual([`IN_CREATE ${dir}/later`])
  })

  it('yields every queued event when they take more than one read of the kernel', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ blockDurationS: null })
    inotify.addWatch(dir, IN_CREATE)
    // Names of 200 bytes: each event takes 224, 1,000 of them more than the reader's 128 KiB read.
    const names = Array.from({ length: 1000 }, (_, i) => String(i).padStart(200, '0'))
    for (const name of names) writeFileSync(join(dir, name), '')
    const items = await withinDeadline(run(inotify), 'the end')
    expect(items).toEqual(names.map((name) => `IN_CREATE ${dir}/${name}`))
  })

  it('yields what a tree makes of what is queued: a new directory and, found by its scan, what it holds', async () => {
    const root = fx.tempDir()
    const tree = tfx.tree(root, { mask: IN_CREATE, blockDurationS: null })
    await tree.ready
    sh(root, 'mkdir -p "$D/n/m" && touch "$D/n/m/f"')
    const items = await withinDeadline(run(tree), 'the end')
    // The kernel may report n/m itself too (if the tree watched n before m was made): then the
    // scan does not report it again. Either way each path is reported once, in this order.
    expect(items).toEqual([
      `IN_ISDIR|IN_CREATE ${root}/n`,
      expect.stringMatching(new RegExp(`^IN_ISDIR\\|IN_CREATE ${root}/n/m( \\(synthetic\\))?$`)),
      expect.stringMatching(new RegExp(`^IN_CREATE ${root}/n/m/f( \\(synthetic\\))?$`)),
    ])
  })
})

describe('timeoutS 0 beside another generator', () => {
  it('ends after its answer even when a generator waiting on the same instance takes it', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ blockDurationS: null })
    inotify.addWatch(dir, IN_CREATE)
    const other: InotifyEvent[] = []
    const running = (async () => {
      for await (const event of inotify.eventGen({ yieldNones: false })) other.push(event)
    })()
    sh(dir, 'touch "$D/a"')
    const mine = await withinDeadline(drain(inotify.eventGen({ timeoutS: 0, yieldNones: false })), 'the end')
    inotify.close()
    await withinDeadline(running, 'the other generator to end')
    // Whichever generator took the event, it was taken once.
    expect([...mine, ...other].map(shown)).toEqual([`IN_CREATE ${dir}/a`])
  })
})
