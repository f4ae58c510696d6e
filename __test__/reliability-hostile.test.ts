/**
 * Reliability, hostile input (issue 6): names no text decoder likes, names and paths at the
 * kernel's length limits, watched directories that turn into files, roots that are symbolic
 * links, an unmounted file system (in a mount namespace) and a deleted root. Each gives a defined
 * event or error, for `Inotify`, trees and `watch()`, and the process goes on.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  IN_CREATE,
  Inotify,
  watch,
  type Change,
  type InotifyError,
  type InotifyEvent,
  type PathEncoding,
  type Watcher,
} from '../src/index'
import { until } from './helpers'
import { withinDeadline } from './inotify-fixture'
import { fullPath, kernelWatchCount, useTreeFixture, type ChildResult } from './tree-fixture'

const fx = useTreeFixture()
const CHILD = resolve(__dirname, 'fixtures/reliability-child.cjs')
const NEWLINE = 'line\nbreak'
/** `bad\xff\xfe` (not UTF-8) */
const INVALID = Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe])
const LONGEST = 'n'.repeat(255)

/** Inotify instances of this file, closed after each test with the trees. */
const opened: (Inotify<PathEncoding> | Watcher)[] = []
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close()
})
function open<E extends PathEncoding = 'utf8'>(options: ConstructorParameters<typeof Inotify<E>>[0]): Inotify<E> {
  const inotify = new Inotify<E>(options)
  opened.push(inotify as Inotify<PathEncoding>)
  return inotify
}
async function watching(path: string, onError?: (error: InotifyError) => void): Promise<Watcher> {
  const w = watch(path)
  opened.push(w)
  if (onError) w.on('error', onError)
  await withinDeadline(w.ready, 'ready')
  return w
}

/** Every change a watcher delivers, recorded. */
function changesOf(w: Watcher): Change[] {
  const changes: Change[] = []
  w.on('events', (batch) => changes.push(...batch))
  return changes
}

/**
 * `[type, path, isDir]` of what watch() said, without the `modify` that follows the `create` of the
 * same file when the file's write came after the batch holding its create was taken (changes
 * coalesce within what is not yet taken, by design).
 */
function said(changes: readonly Change[]): [string, string, boolean][] {
  const created = new Set<string>()
  const out: [string, string, boolean][] = []
  for (const c of changes) {
    if (c.type === 'modify' && !c.isDir && created.has(c.path)) continue
    if (c.type === 'create') created.add(c.path)
    out.push([c.type, c.path, c.isDir])
  }
  return out
}

/** Events of an Inotify, recorded by a generator that runs until the instance closes. */
function eventsOf<E extends PathEncoding>(inotify: Inotify<E>): InotifyEvent<E extends 'buffer' ? Buffer : string>[] {
  const events: InotifyEvent<E extends 'buffer' ? Buffer : string>[] = []
  void (async () => {
    try {
      for await (const event of inotify.eventGen({ yieldNones: false, terminalEvents: [] })) events.push(event as never)
    } catch {
      // Closed.
    }
  })()
  return events
}

describe('hostile names', () => {
  it('a newline, invalid UTF-8 and a 255-byte name are reported whole: exact bytes with encoding buffer, U+FFFD in strings, by Inotify, a tree and watch()', async () => {
    const dir = fx.tempDir()
    const bytes = open({ paths: [dir], mask: IN_CREATE, encoding: 'buffer' })
    const text = open({ paths: [dir], mask: IN_CREATE })
    const tree = fx.tree(dir, { mask: IN_CREATE, encoding: 'buffer' })
    await tree.ready
    const w = await watching(dir)
    const [byteEvents, textEvents, changes] = [eventsOf(bytes), eventsOf(text), changesOf(w)]
    const treeLog = fx.log(tree as never)
    writeFileSync(join(dir, NEWLINE), '')
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), INVALID]), '')
    writeFileSync(join(dir, LONGEST), '')
    writeFileSync(join(dir, 'end'), '')
    await until(
      () =>
        byteEvents.length >= 4 &&
        textEvents.length >= 4 &&
        changes.filter((c) => c.type === 'create').length >= 4 &&
        treeLog.events.length >= 4,
      'four creates everywhere',
    )
    const wanted = [Buffer.from(NEWLINE), INVALID, Buffer.from(LONGEST), Buffer.from('end')]
    expect(byteEvents.map((e) => e.filename)).toEqual(wanted)
    expect((treeLog.events as unknown as InotifyEvent<Buffer>[]).map((e) => e.filename)).toEqual(wanted)
    const lossy = [NEWLINE, 'bad\ufffd\ufffd', LONGEST, 'end']
    expect(textEvents.map((e) => e.filename)).toEqual(lossy)
    expect(byteEvents[2]!.header.len).toBe(256)
    // (A write after the create may come as a modify in a later batch.)
    expect(changes.filter((c) => c.type === 'create').map((c) => c.path)).toEqual(lossy.map((name) => join(dir, name)))
    expect(changes.filter((c) => c.type !== 'create' && c.type !== 'modify')).toEqual([])
    // A name one byte too long is the file system's error, before inotify sees anything.
    expect(() => writeFileSync(join(dir, `${LONGEST}x`), '')).toThrow(/ENAMETOOLONG/)
  })
})

describe('paths at PATH_MAX', () => {
  it('a chain of directories past PATH_MAX (4096): watched as deep as the kernel allows, ENAMETOOLONG for the rest, and events at the deepest watchable level', async () => {
    const base = fx.tempDir()
    const component = 'p'.repeat(200)
    // mkdir with relative paths, one level at a time: the last levels' absolute paths exceed PATH_MAX.
    execFileSync(process.execPath, [
      '-e',
      `const fs = require('node:fs'); process.chdir(process.argv[1])
      for (let i = 0; i < 22; i++) { fs.mkdirSync(process.argv[2]); process.chdir(process.argv[2]) }`,
      base,
      component,
    ])
    try {
      await deepChain(base, component)
    } finally {
      // rm(1) descends with relative paths (Node's rmSync would fail with ENAMETOOLONG).
      execFileSync('rm', ['-rf', join(base, component)])
    }
  })
})

async function deepChain(base: string, component: string): Promise<void> {
  {
    let deepest = base
    const levels: string[] = []
    while ((deepest + '/' + component).length < 4096) {
      deepest = join(deepest, component)
      levels.push(deepest)
    }
    expect(levels.length).toBeGreaterThanOrEqual(19)
    const tooLong = join(deepest, component)
    // Inotify: a path past PATH_MAX is an InotifyError ENAMETOOLONG; the deepest one that fits works.
    const inotify = open({ mask: IN_CREATE })
    expect(() => inotify.addWatch(tooLong)).toThrow(
      expect.objectContaining({ name: 'InotifyError', code: 'ENAMETOOLONG' }),
    )
    inotify.addWatch(deepest, IN_CREATE)
    const plain = eventsOf(inotify)
    // A tree and watch(): the levels that fit are watched, the others go to onError.
    const treeErrors: InotifyError[] = []
    const tree = fx.tree(base, { mask: IN_CREATE, onError: (error) => treeErrors.push(error) })
    await withinDeadline(tree.ready, 'the tree ready')
    expect(tree.watchCount).toBe(1 + levels.length)
    expect(kernelWatchCount(tree.fd)).toBe(1 + levels.length)
    expect(treeErrors.map((e) => [e.code, e.path])).toEqual([['ENAMETOOLONG', tooLong]])
    const watcherErrors: InotifyError[] = []
    const w = await watching(base, (error) => watcherErrors.push(error))
    expect(watcherErrors.map((e) => e.code)).toEqual(['ENAMETOOLONG'])
    const changes = changesOf(w)
    const log = fx.log(tree)
    writeFileSync(join(deepest, 'f'), '')
    await until(
      () => plain.length > 0 && changes.length > 0 && log.events.length > 0,
      'the create at the deepest level',
    )
    expect(plain.map((e) => [e.path, e.filename])).toEqual([[deepest, 'f']])
    expect(log.events.map(fullPath)).toEqual([join(deepest, 'f')])
    expect(said(changes)).toEqual([['create', join(deepest, 'f'), false]])
  }
}

describe('directories that change nature', () => {
  it('a watched directory replaced by a file: its watch ends (IN_DELETE_SELF, IN_IGNORED), the tree drops it and reports the file, watch() says delete then create', async () => {
    const dir = fx.tempDir()
    const sub = join(dir, 'sub')
    mkdirSync(sub)
    const inotify = open({ paths: [sub] })
    const plain = eventsOf(inotify)
    const tree = fx.tree(dir)
    await tree.ready
    const log = fx.log(tree)
    const w = await watching(dir)
    const changes = changesOf(w)
    expect(tree.watchCount).toBe(2)
    rmSync(sub, { recursive: true })
    writeFileSync(sub, 'now a file')
    await until(
      () => inotify.watchCount === 0 && tree.watchCount === 1 && changes.some((c) => c.type === 'create'),
      'the directory to be dropped everywhere',
    )
    const ends = (events: InotifyEvent[]): string[][] =>
      events
        .map((e) => e.typeNames as string[])
        .filter((names) => names.includes('IN_DELETE_SELF') || names.includes('IN_IGNORED'))
    expect(ends(plain)).toEqual([['IN_DELETE_SELF'], ['IN_IGNORED']])
    expect(kernelWatchCount(tree.fd)).toBe(1)
    await log.untilPath(sub, 5000, (e) => e.typeNames.includes('IN_CREATE') && !e.typeNames.includes('IN_ISDIR'))
    expect(said(changes)).toEqual([
      ['delete', sub, true],
      ['create', sub, false],
    ])
    // The file can be watched in its turn.
    expect(inotify.addWatch(sub)).toBeGreaterThan(0)
  })

  it('a root that is a symbolic link is followed by Inotify and watch() (a tree: tree-faults.test.ts), reporting under the link', async () => {
    const real = fx.tempDir()
    const link = join(fx.tempDir(), 'link')
    symlinkSync(real, link)
    const inotify = open({ paths: [link], mask: IN_CREATE })
    const plain = eventsOf(inotify)
    const w = await watching(link)
    const changes = changesOf(w)
    writeFileSync(join(real, 'f'), '')
    await until(() => plain.length > 0 && changes.length > 0, 'the create')
    expect(plain.map((e) => [e.path, e.filename])).toEqual([[link, 'f']])
    expect(said(changes)).toEqual([['create', join(link, 'f'), false]])
    // A dangling link is an error at once.
    const dangling = join(fx.tempDir(), 'dangling')
    symlinkSync(join(real, 'missing'), dangling)
    expect(() => inotify.addWatch(dangling)).toThrow(expect.objectContaining({ code: 'ENOENT' }))
    expect(() => watch(dangling)).toThrow(expect.objectContaining({ code: 'ENOENT' }))
  })

  it('deleting the watched root: Inotify and the tree report IN_DELETE_SELF and IN_IGNORED and hold no watch, watch() says delete; the process goes on', async () => {
    const parent = fx.tempDir()
    const root = join(parent, 'root')
    mkdirSync(join(root, 'a/b'), { recursive: true })
    const inotify = open({ paths: [root] })
    const plain = eventsOf(inotify)
    const tree = fx.tree(root)
    await tree.ready
    const log = fx.log(tree)
    const w = await watching(root)
    const changes = changesOf(w)
    rmSync(root, { recursive: true })
    await until(
      () =>
        inotify.watchCount === 0 &&
        tree.watchCount === 0 &&
        w.stats().watches === 0 &&
        changes.some((c) => c.path === root) &&
        // The watch count drops when the reader reads IN_IGNORED; the generator yields it after.
        plain.some((e) => e.typeNames.includes('IN_IGNORED')),
      'every watch to end',
    )
    expect(plain.slice(-2).map((e) => e.typeNames)).toEqual([['IN_DELETE_SELF'], ['IN_IGNORED']])
    await log.until(
      (events) => events.some((e) => fullPath(e) === root && e.typeNames.includes('IN_IGNORED')),
      'the root IN_IGNORED',
    )
    expect(
      log.events
        .filter((e) => fullPath(e) === root)
        .map((e) => e.typeNames)
        .slice(-2),
    ).toEqual([['IN_DELETE_SELF'], ['IN_IGNORED']])
    expect(changes.at(-1)).toEqual({ type: 'delete', path: root, isDir: true })
    expect(kernelWatchCount(tree.fd)).toBe(0)
    // Made again, it is not watched by these (their watches ended), and nothing breaks.
    mkdirSync(root)
    writeFileSync(join(root, 'again'), '')
    expect(() => inotify.addWatch(root)).not.toThrow()
  })
})

describe('unmount', () => {
  it('unmounting a watched tmpfs (in a mount namespace): IN_UNMOUNT and IN_IGNORED (terminal by default) for Inotify, the same for a tree, which then watches the covered root; watch() reports what the tmpfs held deleted, not the root', async () => {
    const dir = fx.tempDir()
    const run: ChildResult = await fx.run('unshare', [
      '-U',
      '-r',
      '-m',
      'sh',
      '-c',
      'mount -t tmpfs none "$1" && exec "$0" "$2" unmount "$1"',
      process.execPath,
      dir,
      CHILD,
    ])
    if (run.code !== 0) throw new Error(`the child failed (${run.code ?? run.signal}):\n${run.stderr}\n${run.stdout}`)
    const result = JSON.parse(run.stdout) as {
      watchesBefore: { plain: number; tree: number; watch: number }
      plain: string[]
      thrown: { name: string; typeName: string }
      tree: string[]
      changes: Change[]
      alive: boolean
    }
    expect(result.watchesBefore).toEqual({ plain: 1, tree: 2, watch: 2 })
    const status = (lines: string[]): string[] => lines.filter((l) => /IN_UNMOUNT|IN_IGNORED/.test(l))
    expect(status(result.plain)).toEqual([`IN_ISDIR|IN_UNMOUNT ${dir}`, `IN_IGNORED ${dir}`])
    expect(result.thrown).toEqual({ name: 'TerminalEventError', typeName: 'IN_UNMOUNT' })
    expect(status(result.tree).sort()).toEqual(
      [
        `IN_ISDIR|IN_UNMOUNT ${dir}`,
        `IN_ISDIR|IN_UNMOUNT ${dir}/sub`,
        `IN_IGNORED ${dir}`,
        `IN_IGNORED ${dir}/sub`,
      ].sort(),
    )
    expect(
      result.tree.filter((l) => l.endsWith(` ${dir}/sub`) && l.includes('IN_DELETE') && l.includes('IN_ISDIR')),
    ).toHaveLength(1)
    expect(result.changes.map((c) => [c.type, c.path])).toEqual([['delete', join(dir, 'sub')]])
    expect(result.alive).toBe(true)
  })
})
