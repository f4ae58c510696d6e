/**
 * End-to-end: recursive trees against the real kernel (README, "Recursive trees"): new directories and
 * their content, trees moved in, renamed and moved out, deleted and re-created directories, the
 * user's mask, and the errors a bad root gets at once.
 */
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  IN_CLOSE_WRITE,
  IN_CREATE,
  InotifyError,
  type InotifyTree,
  type InotifyTreeEvent,
  type InotifyTrees,
} from '../src/index'
import { collectUntil, until } from './helpers'
import { sh, withinDeadline } from './inotify-fixture'
import { fullPath, inotifyDescriptorCount, isCreate, kernelWatchCount, layout, useTreeFixture } from './tree-fixture'

const fx = useTreeFixture()

/** The IN_CREATE events (real or synthetic) about each path. */
function createsByPath(events: readonly InotifyTreeEvent[]): Map<string, InotifyTreeEvent[]> {
  const byPath = new Map<string, InotifyTreeEvent[]>()
  for (const event of events) {
    if (!isCreate(event)) continue
    const path = fullPath(event)
    byPath.set(path, [...(byPath.get(path) ?? []), event])
  }
  return byPath
}

/** Waits until the tree's and the kernel's watch counts are both `count`. */
async function untilWatches(tree: InotifyTree | InotifyTrees, count: number, what: string): Promise<void> {
  await until(
    () => tree.watchCount === count && kernelWatchCount(tree.fd) === count,
    `${what}: ${count} watches (tree says ${tree.watchCount}, kernel ${kernelWatchCount(tree.fd)})`,
  )
}

describe('new directories', () => {
  it('reports what a directory held before its watch existed as synthetic IN_CREATE events, in order', async () => {
    const root = fx.tempDir()
    const tree = fx.tree(root)
    await tree.ready
    // No generator runs yet, so nothing is read: the kernel queues only the IN_CREATE of a, and
    // b, c and f already exist when the tree watches a.
    sh(root, 'mkdir -p "$D/a/b/c" && touch "$D/a/b/c/f"')
    const log = fx.log(tree, { filter: isCreate })
    const events = await log.mark(root)
    expect(events.map((e) => [e.typeNames, fullPath(e), e.synthetic ?? false])).toEqual([
      [['IN_ISDIR', 'IN_CREATE'], join(root, 'a'), false],
      [['IN_ISDIR', 'IN_CREATE'], join(root, 'a/b'), true],
      [['IN_ISDIR', 'IN_CREATE'], join(root, 'a/b/c'), true],
      [['IN_CREATE'], join(root, 'a/b/c/f'), true],
    ])
    const synthetic = events.slice(1)
    for (const event of synthetic) expect(event.header).toMatchObject({ cookie: 0, len: 16 })
    // Each is reported under the wd of the directory it is in: three different watches.
    expect(new Set(synthetic.map((e) => e.header.wd)).size).toBe(3)
    expect(tree.watchCount).toBe(4)
    expect(kernelWatchCount(tree.fd)).toBe(4)
  })

  it('watches every directory of `mkdir -p a/b/c && touch a/b/c/f` run right after ready, and reports each entry once', async () => {
    const root = fx.tempDir()
    const tree = fx.tree(root)
    await tree.ready
    const log = fx.log(tree)
    sh(root, 'mkdir -p "$D/a/b/c" && touch "$D/a/b/c/f"')
    const expected: [string, boolean][] = [
      ['a', true],
      ['a/b', true],
      ['a/b/c', true],
      ['a/b/c/f', false],
    ]
    await log.until((events) => expected.every(([p]) => createsByPath(events).has(join(root, p))), 'the four creates')
    await log.mark(root)
    const creates = createsByPath(log.events)
    for (const [path, isDir] of expected) {
      const events = creates.get(join(root, path)) ?? []
      expect(events, path).toHaveLength(1)
      const [event] = events
      expect(event!.typeNames).toEqual(isDir ? ['IN_ISDIR', 'IN_CREATE'] : ['IN_CREATE'])
      // Real (no flag) or made by the scan (true), never anything else.
      expect([undefined, true]).toContain(event!.synthetic)
    }
    expect(tree.watchCount).toBe(4)
    expect(kernelWatchCount(tree.fd)).toBe(4)
    // The directory made last is watched: a write in it is a real event.
    appendFileSync(join(root, 'a/b/c/f'), 'x')
    await log.untilPath(
      join(root, 'a/b/c/f'),
      5000,
      (e) => e.typeNames.includes('IN_MODIFY') && e.synthetic === undefined,
    )
  })

  it('reports every file and directory of 50 deep and wide mkdir -p chains made while it reads', async () => {
    const root = fx.tempDir()
    const tree = fx.tree(root, { mask: IN_CREATE })
    await tree.ready
    const log = fx.log(tree)
    const writer = await fx.background(
      root,
      `echo go; i=0; while [ $i -lt 50 ]; do i=$((i+1));
      mkdir -p "$D/c$i/d/e/f" "$D/c$i/d/g" "$D/c$i/h" &&
      touch "$D/c$i/d/e/f/leaf" "$D/c$i/d/g/file" "$D/c$i/h/file" "$D/c$i/top"; done`,
    )
    expect((await writer.ended).code).toBe(0)
    const files: string[] = []
    const dirs: string[] = []
    for (let i = 1; i <= 50; i++) {
      files.push(...['d/e/f/leaf', 'd/g/file', 'h/file', 'top'].map((p) => join(root, `c${i}`, p)))
      dirs.push(...['', 'd', 'd/e', 'd/e/f', 'd/g', 'h'].map((p) => join(root, `c${i}`, p)))
    }
    await log.until(
      (events) => {
        const creates = createsByPath(events)
        return [...files, ...dirs].every((p) => creates.has(p))
      },
      'every file and directory',
      20_000,
    )
    await log.mark(root)
    const creates = createsByPath(log.events)
    const missing = [...files, ...dirs].filter((p) => creates.get(p)?.length !== 1)
    expect(missing).toEqual([])
    expect(creates.size).toBe(files.length + dirs.length + 1) // and the marker
    expect(tree.watchCount).toBe(1 + dirs.length)
    expect(kernelWatchCount(tree.fd)).toBe(1 + dirs.length)
  })
})

describe('a tree moved in from outside the root', () => {
  it('is watched to its leaves, its content reported as synthetic creates, and later writes deep inside report', async () => {
    const outside = fx.tempDir()
    layout(outside, ['t/a/b/deep.txt', 't/a/mid.txt', 't/top.txt', 't/empty/'])
    const root = fx.tempDir()
    const tree = fx.tree(root)
    await tree.ready
    const log = fx.log(tree)
    renameSync(join(outside, 't'), join(root, 't'))
    const content = ['t/a', 't/a/b', 't/a/b/deep.txt', 't/a/mid.txt', 't/top.txt', 't/empty'].map((p) => join(root, p))
    await log.until((events) => content.every((p) => createsByPath(events).has(p)), 'the moved-in content')
    const creates = createsByPath(log.events)
    for (const path of content) {
      expect(
        creates.get(path)?.map((e) => e.synthetic),
        path,
      ).toEqual([true])
    }
    const movedTo = log.events.filter((e) => e.typeNames.includes('IN_MOVED_TO'))
    expect(movedTo.map((e) => [e.typeNames, fullPath(e)])).toEqual([[['IN_ISDIR', 'IN_MOVED_TO'], join(root, 't')]])
    await untilWatches(tree, 5, 'root, t, t/a, t/a/b, t/empty')
    writeFileSync(join(root, 't/a/b/later.txt'), '')
    await log.untilPath(join(root, 't/a/b/later.txt'), 5000, (e) => isCreate(e) && e.synthetic === undefined)
    const later = log.events.find((e) => e.filename === 'later.txt')!
    expect(later.path).toBe(join(root, 't/a/b'))
  })
})

describe('renamed and moved-out directories', () => {
  it('reports events below a renamed directory under the new path at every depth, never the old one, with the same wd', async () => {
    const root = fx.tempDir()
    layout(root, ['p/q/r/s/', 'dest/'])
    const tree = fx.tree(root)
    await tree.ready
    const log = fx.log(tree)
    writeFileSync(join(root, 'p/q/r/s/before'), '')
    await log.untilPath(join(root, 'p/q/r/s/before'))
    const deepWd = log.events.find((e) => e.filename === 'before')!.header.wd
    const old = join(root, 'p')
    const renamed = join(root, 'dest/p2')
    renameSync(old, renamed)
    const start = log.events.length
    const written = ['f0', 'q/f1', 'q/r/f2', 'q/r/s/f3'].map((p) => join(renamed, p))
    for (const path of written) writeFileSync(path, '')
    await log.until((events) => written.every((p) => events.some((e) => fullPath(e) === p)), 'the four writes')
    await log.mark(root)
    const after = log.events.slice(start)
    expect(after.filter((e) => e.path === old || e.path.startsWith(`${old}/`)).map(fullPath)).toEqual([])
    expect(after.find((e) => e.filename === 'f3')).toMatchObject({
      path: join(renamed, 'q/r/s'),
      header: { wd: deepWd },
    })
    // The rename itself, as a pair.
    const pair = log.events.filter((e) => e.typeNames.includes('IN_MOVED_FROM') || e.typeNames.includes('IN_MOVED_TO'))
    expect(pair.map((e) => [e.typeNames, fullPath(e)])).toEqual([
      [['IN_ISDIR', 'IN_MOVED_FROM'], old],
      [['IN_ISDIR', 'IN_MOVED_TO'], renamed],
    ])
    expect(pair[0]!.header.cookie).not.toBe(0)
    expect(pair[1]!.header.cookie).toBe(pair[0]!.header.cookie)
    expect(tree.watchCount).toBe(6)
    // No stale path blocks a new directory at the old path.
    mkdirSync(old)
    await untilWatches(tree, 7, 'the new directory at the old path')
    writeFileSync(join(old, 'new'), '')
    await log.untilPath(join(old, 'new'), 5000, (e) => isCreate(e) && e.synthetic === undefined)
  })

  it('keeps watching a directory renamed over an existing empty directory, whose own watch goes', async () => {
    const root = fx.tempDir()
    layout(root, ['a/sub/', 'b/'])
    const tree = fx.tree(root)
    await tree.ready
    const log = fx.log(tree)
    expect(tree.watchCount).toBe(4)
    await log.mark(root)
    renameSync(join(root, 'a'), join(root, 'b'))
    writeFileSync(join(root, 'b/sub/f'), '')
    writeFileSync(join(root, 'b/g'), '')
    const events = await log.mark(root)
    const created = events.filter(isCreate).map((e) => [fullPath(e), e.synthetic ?? false])
    expect(created).toEqual([
      [join(root, 'b/sub/f'), false],
      [join(root, 'b/g'), false],
    ])
    expect(events.filter((e) => e.path === join(root, 'a') || e.path.startsWith(join(root, 'a/')))).toEqual([])
    await untilWatches(tree, 3, 'root, b (was a) and b/sub')
  })

  it('stops reporting a directory moved out of the tree, and removes the watches of its whole subtree', async () => {
    const root = fx.tempDir()
    const outside = fx.tempDir()
    layout(root, ['m/n/o/', 'stay/'])
    const tree = fx.tree(root)
    await tree.ready
    const log = fx.log(tree)
    expect(tree.watchCount).toBe(5)
    expect(kernelWatchCount(tree.fd)).toBe(5)
    renameSync(join(root, 'm'), join(outside, 'm'))
    await untilWatches(tree, 2, 'root and stay')
    const moves = await log.mark(root)
    expect(
      moves.filter((e) => e.typeNames.some((n) => n.startsWith('IN_MOVED'))).map((e) => [e.typeNames, fullPath(e)]),
    ).toEqual([[['IN_ISDIR', 'IN_MOVED_FROM'], join(root, 'm')]])
    for (const dir of ['m', 'm/n', 'm/n/o']) {
      writeFileSync(join(outside, dir, 'x'), '')
      appendFileSync(join(outside, dir, 'x'), 'more')
    }
    mkdirSync(join(outside, 'm/n/o/new'))
    // Whatever the moved-out tree made would come before the marker.
    expect(await log.mark(root)).toEqual([])
    expect(tree.watchCount).toBe(2)
    expect(kernelWatchCount(tree.fd)).toBe(2)
    writeFileSync(join(root, 'stay/still'), '')
    await log.untilPath(join(root, 'stay/still'))
  })
})

describe('deleted directories', () => {
  it('forgets a deleted directory and its subtree, and watches one re-created at the same path', async () => {
    const root = fx.tempDir()
    layout(root, ['d/e/f/', 'stay/'])
    const tree = fx.tree(root)
    await tree.ready
    const log = fx.log(tree)
    expect(tree.watchCount).toBe(5)
    sh(root, 'rm -r "$D/d"')
    await untilWatches(tree, 2, 'root and stay')
    await log.mark(root)
    sh(root, 'mkdir -p "$D/d/e" && touch "$D/d/e/again"')
    await log.untilPath(join(root, 'd/e/again'), 5000, isCreate)
    await untilWatches(tree, 4, 'root, stay, d and d/e')
    appendFileSync(join(root, 'd/e/again'), 'x')
    await log.untilPath(join(root, 'd/e/again'), 5000, (e) => e.typeNames.includes('IN_MODIFY'))
    const modify = log.events.find((e) => e.typeNames.includes('IN_MODIFY'))!
    expect(modify.path).toBe(join(root, 'd/e'))
  })
})

describe("the user's mask", () => {
  it('yields only IN_CLOSE_WRITE with that mask, while new and renamed directories are still kept track of', async () => {
    const root = fx.tempDir()
    const tree = fx.tree(root, { mask: IN_CLOSE_WRITE })
    await tree.ready
    const log = fx.log(tree)
    sh(root, 'mkdir -p "$D/a/b" "$D/c"')
    await untilWatches(tree, 4, 'root, a, a/b and c')
    renameSync(join(root, 'a'), join(root, 'A2'))
    writeFileSync(join(root, 'A2/b/f'), 'hi')
    writeFileSync(join(root, 'c/g'), 'hi')
    sh(root, 'mkdir -p "$D/n/m"')
    await untilWatches(tree, 6, 'n and n/m as well')
    writeFileSync(join(root, 'n/m/h'), 'hi')
    const events = await log.mark(root)
    expect(events.map((e) => [e.typeNames, fullPath(e)])).toEqual([
      [['IN_CLOSE_WRITE'], join(root, 'A2/b/f')],
      [['IN_CLOSE_WRITE'], join(root, 'c/g')],
      [['IN_CLOSE_WRITE'], join(root, 'n/m/h')],
    ])
    // The markers too came only as IN_CLOSE_WRITE.
    for (const event of log.events) expect(event.typeNames).toEqual(['IN_CLOSE_WRITE'])
  })
})

describe('several roots', () => {
  it('re-paths a directory moved from one root to another of the same InotifyTrees, keeping its watches', async () => {
    const first = fx.tempDir()
    const second = fx.tempDir()
    layout(first, ['d/sub/'])
    const trees = fx.trees([first, second])
    await trees.ready
    expect(trees.watchCount).toBe(4)
    const log = fx.log(trees)
    writeFileSync(join(first, 'd/sub/before'), '')
    await log.untilPath(join(first, 'd/sub/before'))
    const subWd = log.events.find((e) => e.filename === 'before')!.header.wd
    renameSync(join(first, 'd'), join(second, 'd'))
    writeFileSync(join(second, 'd/sub/after'), '')
    await log.untilPath(join(second, 'd/sub/after'), 5000, isCreate)
    expect(log.events.find((e) => e.filename === 'after')!.header.wd).toBe(subWd)
    await log.mark(second)
    expect(trees.watchCount).toBe(4)
    expect(kernelWatchCount(trees.fd)).toBe(4)
  })
})

describe('names that are not UTF-8', () => {
  it('watches a directory whose name is not UTF-8, with its exact bytes as Buffers with encoding buffer', async () => {
    const root = fx.tempDir()
    const name = Buffer.from([0x64, 0xff, 0x72])
    const dir = Buffer.concat([Buffer.from(`${root}/`), name])
    const tree = fx.tree(root, { encoding: 'buffer', mask: IN_CREATE })
    const lossy = fx.tree(root, { mask: IN_CREATE })
    await Promise.all([tree.ready, lossy.ready])
    const gen = tree.eventGen({ yieldNones: false })
    const log = fx.log(lossy)
    mkdirSync(dir)
    const [created] = await collectUntil(gen, (e) => e.length === 1, 'the IN_CREATE of the directory')
    expect(created!.path.equals(Buffer.from(root))).toBe(true)
    expect(created!.filename.equals(name)).toBe(true)
    writeFileSync(Buffer.concat([dir, Buffer.from('/inner')]), '')
    const [inner] = await collectUntil(gen, (e) => e.length === 1, 'the IN_CREATE inside it')
    expect(inner!.path.equals(dir)).toBe(true)
    expect(inner!.filename.equals(Buffer.from('inner'))).toBe(true)
    expect(inner!.synthetic).toBeUndefined()
    // As strings the name is lossy (U+FFFD), and the directory is watched all the same.
    await log.untilPath(join(root, 'd\uFFFDr', 'inner'))
  })
})

describe('lifecycle', () => {
  it('rejects a pending ready with ERR_INOTIFY_CLOSED when closed during its first scan, without hanging on an ignore function', async () => {
    const root = fx.tempDir()
    layout(root, ['a/', 'b/', 'c/'])
    // The scan asks the ignore function on this thread, which is busy until close() has returned.
    const tree = fx.tree(root, { ignore: () => false })
    tree.close()
    await expect(withinDeadline(tree.ready, 'ready to settle')).rejects.toMatchObject({ code: 'ERR_INOTIFY_CLOSED' })
    expect(tree.closed).toBe(true)
    expect(tree.watchCount).toBe(0)
  })

  it('scans off the JS thread: the constructor returns at once, and the event loop turns while 3,000 directories are watched', async () => {
    const root = fx.tempDir()
    layout(
      root,
      Array.from({ length: 3000 }, (_, i) => `d${Math.floor(i / 50)}/e${i}/`),
    )
    let turns = 0
    const ticker = setInterval(() => {
      turns += 1
    }, 0)
    const tree = fx.tree(root)
    // The scan has not finished when the constructor returns, and timers keep firing meanwhile.
    expect(tree.watchCount).toBeLessThan(3061)
    let readyAfter = -1
    await withinDeadline(
      tree.ready.then(() => {
        readyAfter = turns
      }),
      'ready',
      20_000,
    )
    clearInterval(ticker)
    expect(tree.watchCount).toBe(3061)
    expect(readyAfter).toBeGreaterThan(0)
  })

  it('runs eventGenSync on a tree with an ignore function, which it applies on this thread', async () => {
    const root = fx.tempDir()
    const tree = fx.tree(root, { mask: IN_CREATE, ignore: (path) => path.endsWith('.skip') })
    await tree.ready
    sh(root, 'touch "$D/a.skip" "$D/b"')
    expect([...tree.eventGenSync({ timeoutS: 0, yieldNones: false })].map((e) => e.filename)).toEqual(['b'])
  })
})

describe('bad roots', () => {
  it('throws InotifyError ENOENT at once for a missing root, with the path as given, and opens nothing', () => {
    const missing = join(fx.tempDir(), 'missing')
    const before = inotifyDescriptorCount()
    let thrown: unknown
    try {
      fx.tree(missing)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(InotifyError)
    expect(thrown).toMatchObject({ code: 'ENOENT', path: missing, errno: -2 })
    expect((thrown as Error).message).toContain(missing)
    expect(inotifyDescriptorCount()).toBe(before)
  })

  it('throws InotifyError ENOTDIR at once for a file given as a root', () => {
    const file = join(fx.tempDir(), 'file')
    writeFileSync(file, '')
    const before = inotifyDescriptorCount()
    expect(() => fx.tree(file)).toThrow(InotifyError)
    expect(() => fx.tree(file)).toThrow(expect.objectContaining({ code: 'ENOTDIR', path: file }))
    expect(inotifyDescriptorCount()).toBe(before)
  })

  it('throws for a missing root among good ones in InotifyTrees, naming the missing one, and opens nothing', () => {
    const good = fx.tempDir()
    const missing = join(good, 'missing')
    const before = inotifyDescriptorCount()
    expect(() => fx.trees([good, missing])).toThrow(expect.objectContaining({ code: 'ENOENT', path: missing }))
    expect(inotifyDescriptorCount()).toBe(before)
  })

  it('rejects an empty root list and a mask with watch flags before opening anything', () => {
    const before = inotifyDescriptorCount()
    expect(() => fx.trees([])).toThrow(TypeError)
    expect(() => fx.tree(fx.tempDir(), { mask: 0 })).toThrow(RangeError)
    expect(() => fx.tree(fx.tempDir(), { mask: 0x01000000 })).toThrow(RangeError)
    expect(inotifyDescriptorCount()).toBe(before)
  })
})
