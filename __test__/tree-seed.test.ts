/**
 * End-to-end: the Python package's own tree tests (dsoprea/PyInotify 0.2.12, `tests/test_inotify.py`,
 * classes `TestInotifyTree` and `TestInotifyTrees`), ported, compared event by event. The seed's
 * expectations include the `IN_OPEN`/`IN_ACCESS`/`IN_CLOSE_NOWRITE` its tree causes by listing
 * directories; this tree takes its own listings out, so none are expected here (and a listing by
 * anyone else still shows). Where the seed re-added a watch for a renamed directory (a new wd), this
 * tree keeps the wd.
 */
import { mkdirSync, renameSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { InotifyTreeEvent } from '../src/index'
import { fullPath, isDirectoryListing, kernelWatchCount, layout, useTreeFixture } from './tree-fixture'

const fx = useTreeFixture()

/** An event as the seed's tuples compare it: `(header, type_names, path, filename)`. */
function tuple(event: InotifyTreeEvent): [number, number, number, number, readonly string[], string, string] {
  const { wd, mask, cookie, len } = event.header
  return [wd, mask, cookie, len, event.typeNames, event.path, event.filename]
}

const IN_CREATE = 0x100
const IN_OPEN = 0x20
const IN_CLOSE_WRITE = 0x8
const IN_DELETE = 0x200
const IN_DELETE_SELF = 0x400
const IN_MOVE_SELF = 0x800
const IN_MOVED_FROM = 0x40
const IN_MOVED_TO = 0x80
const IN_IGNORED = 0x8000
const IN_ISDIR = 0x40000000

/** The seed's `open(path, 'w')` of a new file: IN_CREATE, IN_OPEN, IN_CLOSE_WRITE. */
function newFileEvents(wd: number, path: string, name: string): ReturnType<typeof tuple>[] {
  return [
    [wd, IN_CREATE, 0, 16, ['IN_CREATE'], path, name],
    [wd, IN_OPEN, 0, 16, ['IN_OPEN'], path, name],
    [wd, IN_CLOSE_WRITE, 0, 16, ['IN_CLOSE_WRITE'], path, name],
  ]
}

describe('TestInotifyTree (ported)', () => {
  it('test__cycle: reports files made and removed in the root and in existing subdirectories, then the subdirectories deleted', async () => {
    const path = fx.tempDir()
    const path1 = join(path, 'aa')
    const path2 = join(path, 'bb')
    mkdirSync(path1)
    mkdirSync(path2)
    const tree = fx.tree(path)
    await tree.ready
    const log = fx.log(tree)
    writeFileSync(join(path, 'seen_new_file1'), '')
    writeFileSync(join(path1, 'seen_new_file2'), '')
    writeFileSync(join(path2, 'seen_new_file3'), '')
    unlinkSync(join(path, 'seen_new_file1'))
    unlinkSync(join(path1, 'seen_new_file2'))
    unlinkSync(join(path2, 'seen_new_file3'))
    rmdirSync(path1)
    rmdirSync(path2)
    const events = await log.mark(path)
    const w1 = events[0]!.header.wd
    const w2 = events.find((e) => e.path === path1)?.header.wd ?? -1
    const w3 = events.find((e) => e.path === path2)?.header.wd ?? -1
    expect(new Set([w1, w2, w3]).size).toBe(3)
    expect(events.map(tuple)).toEqual([
      ...newFileEvents(w1, path, 'seen_new_file1'),
      ...newFileEvents(w2, path1, 'seen_new_file2'),
      ...newFileEvents(w3, path2, 'seen_new_file3'),
      [w1, IN_DELETE, 0, 16, ['IN_DELETE'], path, 'seen_new_file1'],
      [w2, IN_DELETE, 0, 16, ['IN_DELETE'], path1, 'seen_new_file2'],
      [w3, IN_DELETE, 0, 16, ['IN_DELETE'], path2, 'seen_new_file3'],
      [w2, IN_DELETE_SELF, 0, 0, ['IN_DELETE_SELF'], path1, ''],
      [w2, IN_IGNORED, 0, 0, ['IN_IGNORED'], path1, ''],
      [w1, IN_ISDIR | IN_DELETE, 0, 16, ['IN_ISDIR', 'IN_DELETE'], path, 'aa'],
      [w3, IN_DELETE_SELF, 0, 0, ['IN_DELETE_SELF'], path2, ''],
      [w3, IN_IGNORED, 0, 0, ['IN_IGNORED'], path2, ''],
      [w1, IN_ISDIR | IN_DELETE, 0, 16, ['IN_ISDIR', 'IN_DELETE'], path, 'bb'],
    ])
    expect(tree.watchCount).toBe(1)
  })

  it('test__renames: a renamed directory keeps its wd and reports under the new path', async () => {
    const path = fx.tempDir()
    const tree = fx.tree(path)
    await tree.ready
    const log = fx.log(tree)
    const oldPath = join(path, 'old_folder')
    const newPath = join(path, 'new_folder')

    mkdirSync(oldPath)
    const events1 = await log.mark(path)
    expect(events1.map(tuple)).toEqual([
      [1, IN_ISDIR | IN_CREATE, 0, 16, ['IN_ISDIR', 'IN_CREATE'], path, 'old_folder'],
    ])
    // The new directory's wd: the second this instance got, as in the seed.
    const w2 = 2
    expect(tree.watchCount).toBe(2)

    renameSync(oldPath, newPath)
    const events2 = await log.mark(path)
    const cookie = events2[0]?.header.cookie ?? 0
    expect(cookie).not.toBe(0)
    expect(events2.map(tuple)).toEqual([
      [1, IN_ISDIR | IN_MOVED_FROM, cookie, 16, ['IN_ISDIR', 'IN_MOVED_FROM'], path, 'old_folder'],
      [1, IN_ISDIR | IN_MOVED_TO, cookie, 16, ['IN_ISDIR', 'IN_MOVED_TO'], path, 'new_folder'],
      // The seed dropped this one (its watch was re-added); here it is reported, under the new path.
      [w2, IN_MOVE_SELF, 0, 0, ['IN_MOVE_SELF'], newPath, ''],
    ])

    writeFileSync(join(newPath, 'old_filename'), '')
    renameSync(join(newPath, 'old_filename'), join(newPath, 'new_filename'))
    unlinkSync(join(path, 'new_folder', 'new_filename'))
    rmdirSync(join(path, 'new_folder'))
    const events3 = await log.mark(path)
    const fileCookie = events3[3]?.header.cookie ?? 0
    expect(fileCookie).not.toBe(0)
    expect(events3.map(tuple)).toEqual([
      ...newFileEvents(w2, newPath, 'old_filename'),
      [w2, IN_MOVED_FROM, fileCookie, 16, ['IN_MOVED_FROM'], newPath, 'old_filename'],
      [w2, IN_MOVED_TO, fileCookie, 16, ['IN_MOVED_TO'], newPath, 'new_filename'],
      [w2, IN_DELETE, 0, 16, ['IN_DELETE'], newPath, 'new_filename'],
      [w2, IN_DELETE_SELF, 0, 0, ['IN_DELETE_SELF'], newPath, ''],
      [w2, IN_IGNORED, 0, 0, ['IN_IGNORED'], newPath, ''],
      [1, IN_ISDIR | IN_DELETE, 0, 16, ['IN_ISDIR', 'IN_DELETE'], path, 'new_folder'],
    ])
    expect(tree.watchCount).toBe(1)
  })

  it('test__automatic_new_watches_on_new_paths: new directories get watches', async () => {
    const path = fx.tempDir()
    const tree = fx.tree(path)
    await tree.ready
    const log = fx.log(tree)
    const path1 = join(path, 'folder1')
    const path2 = join(path1, 'folder2')

    mkdirSync(path1)
    expect((await log.mark(path)).map(tuple)).toEqual([
      [1, IN_ISDIR | IN_CREATE, 0, 16, ['IN_ISDIR', 'IN_CREATE'], path, 'folder1'],
    ])

    mkdirSync(path2)
    expect((await log.mark(path)).map(tuple)).toEqual([
      [2, IN_ISDIR | IN_CREATE, 0, 16, ['IN_ISDIR', 'IN_CREATE'], path1, 'folder2'],
    ])

    writeFileSync(join(path2, 'filename'), '')
    expect((await log.mark(path)).map(tuple)).toEqual(newFileEvents(3, path2, 'filename'))
    expect(kernelWatchCount(tree.fd)).toBe(3)
  })

  it('test__automatic_new_watches_on_existing_paths: existing nested directories are watched at start', async () => {
    const path = fx.tempDir()
    const path1 = join(path, 'folder1')
    const path2 = join(path1, 'folder2')
    mkdirSync(path1)
    mkdirSync(path2)
    const tree = fx.tree(path)
    await tree.ready
    const log = fx.log(tree)
    writeFileSync(join(path2, 'filename'), '')
    expect((await log.mark(path)).map(tuple)).toEqual(newFileEvents(3, path2, 'filename'))
  })

  it('test__exclude_subdirectories: ignored directories (here patterns anchored at the root) get no watch', async () => {
    const path = fx.tempDir()
    const all: string[] = []
    for (let a = 1; a < 5; a++) {
      for (let b = 1; b < 5; b++) {
        for (let c = 1; c < 3; c++) all.push(`folder${a}/subfolder${b}/subsubfolder${c}`)
      }
    }
    layout(
      path,
      all.map((p) => `${p}/`),
    )
    // The Python test's ignored paths; an ignore function would filter their events only, and
    // leave them watched.
    const ignoredDirs = [
      'folder1',
      'folder2/subfolder2',
      'folder2/subfolder3',
      'folder2/subfolder4/subsubfolder2',
      'folder3',
      'folder4',
    ]
    const expectedWatches = [
      path,
      ...[
        'folder2',
        'folder2/subfolder1',
        'folder2/subfolder1/subsubfolder1',
        'folder2/subfolder1/subsubfolder2',
        'folder2/subfolder4',
        'folder2/subfolder4/subsubfolder1',
      ].map((p) => join(path, p)),
    ]
    const tree = fx.tree(path, { ignore: ignoredDirs.map((p) => `/${p}/`) })
    await tree.ready
    expect(tree.watchCount).toBe(expectedWatches.length)
    expect(kernelWatchCount(tree.fd)).toBe(expectedWatches.length)
    // Which directories are watched: a file written in every directory reports from exactly those.
    const log = fx.log(tree)
    const everyDir = new Set([path])
    for (const p of all) {
      const parts = p.split('/')
      for (let i = 1; i <= parts.length; i++) everyDir.add(join(path, ...parts.slice(0, i)))
    }
    for (const dir of everyDir) writeFileSync(join(dir, 'probe'), '')
    const events = await log.mark(path)
    const reporting = new Set(events.filter((e) => e.filename === 'probe').map((e) => e.path))
    expect([...reporting].sort()).toEqual(expectedWatches.sort())
  })
})

describe('TestInotifyTrees (ported)', () => {
  it('test__cycle: two roots both report, each under its own wd', async () => {
    const path = fx.tempDir()
    const path1 = join(path, 'aa')
    const path2 = join(path, 'bb')
    mkdirSync(path1)
    mkdirSync(path2)
    const trees = fx.trees([path1, path2])
    await trees.ready
    expect(trees.roots).toEqual([path1, path2])
    const log = fx.log(trees)
    writeFileSync(join(path1, 'seen_new_file1'), '')
    writeFileSync(join(path2, 'seen_new_file2'), '')
    expect((await log.mark(path1)).map(tuple)).toEqual([
      ...newFileEvents(1, path1, 'seen_new_file1'),
      ...newFileEvents(2, path2, 'seen_new_file2'),
    ])
    expect(trees.inotify).toBe(trees)
  })
})

describe("the tree's own directory listings", () => {
  const listingNames = (events: readonly InotifyTreeEvent[]): string[] =>
    events
      .filter(isDirectoryListing)
      .map((e) => `${e.typeNames.filter((n) => n !== 'IN_ISDIR').join('|')} ${fullPath(e)}`)

  it('reports none of its own listings: nothing at start-up, and only the IN_CREATE after a mkdir', async () => {
    const path = fx.tempDir()
    layout(path, ['a/b/', 'c/', 'a/f'])
    const tree = fx.tree(path)
    await tree.ready
    const log = fx.log(tree)
    expect(await log.mark(path)).toEqual([])
    mkdirSync(join(path, 'new'))
    // The Python package reports its own listing of 'new' here too (IN_OPEN, IN_ACCESS, IN_CLOSE_NOWRITE).
    expect((await log.mark(path)).map(tuple)).toEqual([
      [1, IN_ISDIR | IN_CREATE, 0, 16, ['IN_ISDIR', 'IN_CREATE'], path, 'new'],
    ])
    // A tree moved in is listed to its leaves: none of that shows either, only what it holds.
    const outside = fx.tempDir()
    layout(outside, ['moved/x/y/', 'moved/x/f'])
    renameSync(join(outside, 'moved'), join(path, 'moved'))
    const moved = await log.mark(path)
    expect(listingNames(moved)).toEqual([])
    expect(moved.map(fullPath).sort()).toEqual(['moved', 'moved/x', 'moved/x/f', 'moved/x/y'].map((p) => join(path, p)))
  })

  it('still reports a listing by another process whole, also one made while the tree lists', async () => {
    const path = fx.tempDir()
    layout(path, ['d/'])
    const tree = fx.tree(path)
    await tree.ready
    const log = fx.log(tree)
    await fx.run('ls', [join(path, 'd')])
    const listing = listingNames(await log.mark(path))
    // Seen from d's own watch and from its parent's; a second getdents64 (the empty one) per watch.
    expect(listing.filter((e) => e.startsWith('IN_OPEN '))).toEqual([`IN_OPEN ${path}/d`, `IN_OPEN ${path}/d`])
    expect(listing.filter((e) => e.startsWith('IN_CLOSE_NOWRITE '))).toHaveLength(2)
    expect(listing.filter((e) => e.startsWith('IN_ACCESS '))).toHaveLength(4)

    // Another process lists the root over and over while the tree lists 300 directories moved in:
    // every one of its listings shows (on the root's own watch), none of the tree's.
    const outside = fx.tempDir()
    layout(
      outside,
      Array.from({ length: 300 }, (_, i) => `big/d${i}/`),
    )
    const runs = 20
    const lister = await fx.background(path, `echo started; for i in $(seq ${runs}); do ls "$D" > /dev/null; done`)
    renameSync(join(outside, 'big'), join(path, 'big'))
    expect((await lister.ended).code).toBe(0)
    const during = listingNames(await log.mark(path, 20_000))
    expect(during.filter((e) => e === `IN_OPEN ${path}`)).toHaveLength(runs)
    expect(during.filter((e) => e === `IN_CLOSE_NOWRITE ${path}`)).toHaveLength(runs)
    expect(during.filter((e) => e.includes(`${path}/big`))).toEqual([])
  })

  it('reports none of its own listings of a directory moved out and straight back in, each of 10 times', async () => {
    const path = fx.tempDir()
    layout(path, ['a/m/x/', 'a/m/f', 'c/'])
    const outside = fx.tempDir()
    const tree = fx.tree(path)
    await tree.ready
    const log = fx.log(tree)
    for (let i = 0; i < 10; i++) {
      const [from, to] = i % 2 === 0 ? ['a', 'c'] : ['c', 'a']
      // Both moves at once: read together, the tree takes m back where it landed; either way it lists m again.
      renameSync(join(path, from, 'm'), join(outside, 'm'))
      renameSync(join(outside, 'm'), join(path, to, 'm'))
      const events = await log.mark(path)
      expect(listingNames(events), `move ${i}`).toEqual([])
      expect(
        events.some((e) => e.typeNames.includes('IN_MOVED_TO') && fullPath(e) === join(path, to, 'm')),
        `move ${i}`,
      ).toBe(true)
    }
    writeFileSync(join(path, 'a', 'm', 'x', 'late'), '')
    expect((await log.mark(path)).map(fullPath)).toContain(join(path, 'a', 'm', 'x', 'late'))
  })
})
