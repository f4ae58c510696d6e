/**
 * End-to-end: a tree whose kernel queue overflowed reports `IN_Q_OVERFLOW`, then re-scans and
 * reports what it missed (README, "Overflow is recovered"), so a consumer ends with a correct picture.
 */
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { IN_ATTRIB, IN_CREATE, IN_Q_OVERFLOW, TerminalEventError, type InotifyTreeEvent } from '../src/index'
import { collectUntil } from './helpers'
import { withinDeadline } from './inotify-fixture'
import { fullPath, isCreate, isDirectoryListing, kernelWatchCount, layout, useTreeFixture } from './tree-fixture'

const fx = useTreeFixture()

const FILES = 30_000

/**
 * Makes `fresh` directories, then `perDir` files in each of `dirs`, round-robin; then (once the
 * queue has long overflowed) removes the files `unlink` and the directories `rmdir`.
 */
const WRITER = `
const { mkdirSync, rmdirSync, unlinkSync, writeFileSync } = require('node:fs')
const { join } = require('node:path')
const { root, fresh, dirs, perDir, unlink, rmdir } = JSON.parse(process.argv[1])
for (const dir of fresh) mkdirSync(join(root, dir))
for (let i = 0; i < perDir; i++) for (const dir of dirs) writeFileSync(join(root, dir, 'f' + i), '')
for (const file of unlink) unlinkSync(join(root, file))
for (const dir of rmdir) rmdirSync(join(root, dir))
`

function maxQueuedEvents(): number {
  return Number.parseInt(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'), 10)
}

describe('kernel queue overflow', () => {
  it('yields IN_Q_OVERFLOW, then rescan events: every one of 30,000 files made, and every entry removed, while nothing read is reported', async () => {
    // Half the files go to directories watched from the start, three events each (IN_CREATE,
    // IN_OPEN, IN_CLOSE_WRITE): more than the kernel queue holds.
    expect(maxQueuedEvents()).toBeLessThan((FILES / 2) * 3)
    const root = fx.tempDir()
    const existing = ['e0', 'e1', 'e2', 'e3', 'e4']
    const fresh = ['n0', 'n1', 'n2', 'n3', 'n4']
    const unlink = Array.from({ length: 50 }, (_, i) => `e0/old${i}`)
    const rmdir = ['e4/gone/deeper', 'e4/gone']
    layout(root, [...existing.map((d) => `${d}/`), ...unlink, 'e4/gone/deeper/'])
    const tree = fx.tree(root)
    await tree.ready
    expect(tree.watchCount).toBe(1 + existing.length + 2)
    // No generator runs: the tree reads nothing, and the kernel queue fills up and overflows.
    const dirs = [...existing, ...fresh]
    const perDir = FILES / dirs.length
    const writer = await fx.run(
      process.execPath,
      ['-e', WRITER, JSON.stringify({ root, fresh, dirs, perDir, unlink, rmdir })],
      { timeoutMs: 60_000 },
    )
    expect(writer.stderr).toBe('')
    expect(writer.code).toBe(0)

    const expected = new Set<string>()
    for (const dir of dirs) for (let i = 0; i < perDir; i++) expected.add(join(root, dir, `f${i}`))
    const seen = new Set<string>()
    const removed = new Set([...unlink, 'e4/gone'].map((p) => join(root, p)))
    const seenRemoved = new Set<string>()
    let scanned = 0
    const log = fx.log(tree, { terminalEvents: [] })
    await log.until(
      (events) => {
        for (; scanned < events.length; scanned++) {
          const event = events[scanned]!
          const path = fullPath(event)
          if (isCreate(event) && expected.has(path)) seen.add(path)
          if (event.typeNames.includes('IN_DELETE') && removed.has(path)) seenRemoved.add(path)
        }
        return seen.size === expected.size && seenRemoved.size === removed.size
      },
      `all ${FILES} files and ${removed.size} removals`,
      60_000,
    )

    const overflowAt = log.events.findIndex((e) => e.typeNames.includes('IN_Q_OVERFLOW'))
    expect(overflowAt).toBeGreaterThanOrEqual(0)
    expect(log.events[overflowAt]).toMatchObject({
      typeNames: ['IN_Q_OVERFLOW'],
      header: { wd: -1 },
      path: '',
      filename: '',
    })
    // A synthetic create in a directory watched from the start can only come from the rescan.
    const watchedFromStart = new Set(existing.map((d) => join(root, d)))
    const firstRescanned = log.events.findIndex((e) => e.synthetic === true && watchedFromStart.has(e.path))
    expect(firstRescanned).toBeGreaterThan(overflowAt)

    // The removals came after the overflow: only the rescan saw them.
    for (const path of removed) {
      const deletes = log.events.filter((e) => e.typeNames.includes('IN_DELETE') && fullPath(e) === path)
      expect(
        deletes.map((e) => e.synthetic),
        path,
      ).toEqual([true])
    }
    expect(
      log.events.find((e) => fullPath(e) === join(root, 'e4/gone') && e.typeNames.includes('IN_DELETE'))!.typeNames,
    ).toEqual(['IN_ISDIR', 'IN_DELETE'])

    // And the tree keeps working: every directory there is is watched (no more), and new writes report.
    expect(tree.watchCount).toBe(1 + dirs.length)
    expect(kernelWatchCount(tree.fd)).toBe(1 + dirs.length)
    writeFileSync(join(root, 'n4/after'), '')
    await log.untilPath(join(root, 'n4/after'), 10_000, (e) => isCreate(e) && e.synthetic === undefined)
  }, 90_000)

  it('does not overflow the queue with its own listings: a scan of 3,000 directories with IN_ALL_EVENTS reports none of them and no overflow', async () => {
    const root = fx.tempDir()
    const dirs = 3000
    for (let i = 0; i < dirs; i++) mkdirSync(join(root, `d${i}`))
    // Listing a directory queues IN_OPEN on its parent's watch (it is opened before its own watch
    // is added, through that descriptor), then IN_ACCESS (one per getdents64) and IN_CLOSE_NOWRITE on
    // both: the scan alone makes more events than the kernel's queue holds.
    expect(maxQueuedEvents()).toBeLessThan(dirs * 6)
    const tree = fx.tree(root)
    await tree.ready
    const log = fx.log(tree, { terminalEvents: [] })
    const scan = await log.mark(root, 30_000)
    expect(scan.filter((e) => e.typeNames.includes('IN_Q_OVERFLOW')).length).toBe(0)
    // The listings' events were read (none overflowed) and taken out as the tree's own.
    expect(scan.filter(isDirectoryListing)).toEqual([])
    expect(tree.watchCount).toBe(dirs + 1)
    // And no re-scan after it lists anything again.
    expect((await log.mark(root)).filter(isDirectoryListing)).toEqual([])
  }, 60_000)

  it('re-scans at once after an overflow whose last read filled the read buffer, with no further event to wake it', async () => {
    // The reader hands a read that fills its 128 KiB buffer over early when more is queued. Here
    // the last read of the full queue is 16 bytes short of the buffer (32-byte IN_CREATEs of
    // 'fNNNNN', `attribs` 16-byte IN_ATTRIBs of the root, the 16-byte IN_Q_OVERFLOW), and nothing
    // follows it: the re-scan that finds the two links the kernel dropped must come all the same.
    const max = maxQueuedEvents()
    const attribs = (2 * max + 2) % 8192
    const root = fx.tempDir()
    const tree = fx.tree(root, { mask: IN_CREATE | IN_ATTRIB, blockDurationS: null })
    await tree.ready
    let made = 0
    const link = (): void => symlinkSync('target', join(root, `f${String(made++).padStart(5, '0')}`))
    for (let i = 0; i < max - attribs; i++) {
      link()
      if (i >= max - 2 * attribs) chmodSync(root, i % 2 === 0 ? 0o755 : 0o775)
    }
    symlinkSync('target', join(root, 'lost-one'))
    symlinkSync('target', join(root, 'lost-two'))
    const batches = await collectUntil(
      tree.eventBatches(),
      (bs) => bs.flatMap((b) => [...b]).filter((e) => e.synthetic && e.filename.startsWith('lost')).length === 2,
      'the re-scan of the two dropped links',
      10_000,
    )
    const events = batches.flatMap((b) => [...b])
    expect(events.filter((e) => e.header.mask & IN_Q_OVERFLOW)).toHaveLength(1)
    expect(
      events
        .filter((e) => e.synthetic)
        .map((e) => e.filename)
        .sort(),
    ).toEqual(['lost-one', 'lost-two'])
  }, 90_000)

  it('throws TerminalEventError for IN_Q_OVERFLOW by default, and the next eventGen yields the rescan', async () => {
    const root = fx.tempDir()
    const existing = ['e0', 'e1']
    const fresh = ['n0']
    layout(
      root,
      existing.map((d) => `${d}/`),
    )
    const tree = fx.tree(root)
    await tree.ready
    const dirs = [...existing, ...fresh]
    const perDir = 3000
    // 6,000 files in directories watched from the start, three events each: the queue overflows.
    expect(maxQueuedEvents()).toBeLessThan(existing.length * perDir * 3)
    const writer = await fx.run(
      process.execPath,
      ['-e', WRITER, JSON.stringify({ root, fresh, dirs, perDir, unlink: [], rmdir: [] })],
      { timeoutMs: 60_000 },
    )
    expect(writer.code).toBe(0)

    const expected = new Set<string>()
    for (const dir of dirs) for (let i = 0; i < perDir; i++) expected.add(join(root, dir, `f${i}`))
    const seen = new Set<string>()
    const note = (event: InotifyTreeEvent): void => {
      if (isCreate(event) && expected.has(fullPath(event))) seen.add(fullPath(event))
    }
    const thrown = await withinDeadline(
      (async () => {
        try {
          for await (const event of tree.eventGen({ yieldNones: false })) note(event)
        } catch (error) {
          return error
        }
        throw new Error('eventGen ended without an error')
      })(),
      'the overflow',
      30_000,
    )
    expect(thrown).toBeInstanceOf(TerminalEventError)
    expect(thrown).toMatchObject({ typeName: 'IN_Q_OVERFLOW' })
    expect(seen.size).toBeLessThan(expected.size)

    let scanned = 0
    const log = fx.log(tree)
    await log.until(
      (events) => {
        for (; scanned < events.length; scanned++) note(events[scanned]!)
        return seen.size === expected.size
      },
      `all ${expected.size} files`,
      60_000,
    )
    expect(log.events.some((e) => e.synthetic === true && e.path === join(root, 'e0'))).toBe(true)
  }, 90_000)
})
