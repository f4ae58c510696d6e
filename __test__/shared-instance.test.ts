/**
 * Trees and watchers are sessions of one inotify instance: they share its descriptor and its
 * watch descriptors (one wd per directory, whoever watches it), and each still gets exactly its
 * own events, under its own paths, filtered by its own mask. Closing one leaves the others whole;
 * the last one closed leaves nothing in the kernel. An overflow of the shared queue reaches every
 * session, and every tree re-scans.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { IN_CLOSE_WRITE, IN_CREATE, IN_DELETE, IN_MOVED_TO, type InotifyTreeEvent, watch } from '../src/index'
import { until } from './helpers'
import { fullPath, isCreate, kernelWatchCount, layout, useTreeFixture } from './tree-fixture'

const fx = useTreeFixture()

/** What a tree reported, as `TYPE path` lines (markers of the log left out). */
function lines(events: readonly InotifyTreeEvent[]): string[] {
  return events.filter((e) => !e.filename.startsWith('.mark')).map((e) => `${e.typeNames.join('|')} ${fullPath(e)}`)
}

describe('one instance shared by trees and watchers', () => {
  it('overlapping trees (a root inside another, the same root twice) share wds and each gets its own events, paths and mask', async () => {
    const root = fx.tempDir()
    const sub = join(root, 'sub')
    layout(root, ['sub/deep/'])
    const outer = fx.tree(root, { mask: IN_CREATE | IN_DELETE })
    const again = fx.tree(root, { mask: IN_CREATE | IN_MOVED_TO })
    const inner = fx.tree(sub, { mask: IN_CREATE | IN_CLOSE_WRITE })
    // Every event, listing events included: the others' listings of what they share are not its.
    const everything = fx.tree(sub)
    const watcher = watch(sub)
    try {
      await Promise.all([outer.ready, again.ready, inner.ready, everything.ready, watcher.ready])
      // One descriptor, and one wd per directory (3), not one per tree and directory (8).
      expect(new Set([outer.fd, again.fd, inner.fd, everything.fd]).size).toBe(1)
      expect(kernelWatchCount(outer.fd)).toBe(3)
      expect([outer.watchCount, again.watchCount, inner.watchCount, watcher.stats().watches]).toEqual([3, 3, 2, 2])

      const logs = [fx.log(outer), fx.log(again), fx.log(inner), fx.log(everything)]
      const changes: string[] = []
      watcher.on('events', (batch) => changes.push(...batch.map((c) => `${c.type} ${c.path}`)))
      mkdirSync(join(sub, 'new'))
      // Watched by every tree once each has seen it (what is written before is found by the scan).
      for (const log of logs) await log.untilPath(join(sub, 'new'), 5000, isCreate)
      writeFileSync(join(sub, 'new/f'), 'x')
      writeFileSync(join(root, 'top'), '')
      for (const log of logs) await log.untilPath(join(sub, 'new/f'), 5000, isCreate)
      const [o, a, i, e] = await Promise.all([
        logs[0]!.mark(root),
        logs[1]!.mark(root),
        logs[2]!.mark(sub),
        logs[3]!.mark(sub),
      ])
      expect(lines(o)).toEqual([`IN_ISDIR|IN_CREATE ${sub}/new`, `IN_CREATE ${sub}/new/f`, `IN_CREATE ${root}/top`])
      expect(lines(a)).toEqual([`IN_ISDIR|IN_CREATE ${sub}/new`, `IN_CREATE ${sub}/new/f`, `IN_CREATE ${root}/top`])
      expect(lines(i)).toEqual([
        `IN_ISDIR|IN_CREATE ${sub}/new`,
        `IN_CREATE ${sub}/new/f`,
        `IN_CLOSE_WRITE ${sub}/new/f`,
      ])
      // The file's own events, and no listing of a directory (IN_ISDIR with IN_OPEN, IN_ACCESS or
      // IN_CLOSE_NOWRITE) by any of the five sessions.
      expect(lines(e).filter((line) => line.startsWith('IN_ISDIR|') && !line.includes('IN_CREATE'))).toEqual([])
      expect(lines(e)).toEqual(
        expect.arrayContaining([
          `IN_ISDIR|IN_CREATE ${sub}/new`,
          `IN_CREATE ${sub}/new/f`,
          `IN_CLOSE_WRITE ${sub}/new/f`,
        ]),
      )
      await until(() => changes.includes(`create ${sub}/new/f`), 'watch() to see new/f')
      expect(changes).not.toContain(`create ${root}/top`)
      // The new directory is one more wd for everyone.
      expect(kernelWatchCount(outer.fd)).toBe(4)

      // Closing the outer tree leaves the others whole, and the wds they hold in place.
      const fd = outer.fd
      await outer.close()
      expect(kernelWatchCount(fd)).toBe(4)
      writeFileSync(join(sub, 'deep/after'), '')
      await logs[1]!.untilPath(join(sub, 'deep/after'), 5000, isCreate)
      await logs[2]!.untilPath(join(sub, 'deep/after'), 5000, isCreate)
      await until(() => changes.includes(`create ${sub}/deep/after`), 'watch() to see deep/after')

      // The same root twice: closing one of the two leaves the other's wds, root included.
      await again.close()
      expect(kernelWatchCount(fd)).toBe(3)
      await Promise.all([inner.close(), everything.close()])
      expect(kernelWatchCount(fd)).toBe(3)
      await watcher.close()
      // The last session gone, the descriptor closes (on the reader's thread, soon after).
      await until(() => !isInotify(fd), 'the shared descriptor to close')
    } finally {
      await watcher.close()
    }
  })

  it('an overflow of the shared queue reaches every tree, and each re-scans and goes on', async () => {
    const max = Number.parseInt(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'), 10)
    const root = fx.tempDir()
    layout(root, ['a/', 'b/'])
    const first = fx.tree(root)
    const second = fx.tree(join(root, 'a'))
    await Promise.all([first.ready, second.ready])
    expect(first.fd).toBe(second.fd)
    // Neither is read: the kernel's queue fills and overflows.
    const files = max + 1000
    const written = await fx.run(
      process.execPath,
      ['-e', `const fs=require('fs');for(let i=0;i<${files};i++)fs.writeFileSync(${JSON.stringify(root)}+'/a/f'+i,'')`],
      { timeoutMs: 60_000 },
    )
    expect(written.code).toBe(0)
    const logs = [fx.log(first, { terminalEvents: [] }), fx.log(second, { terminalEvents: [] })]
    const last = join(root, 'a', `f${files - 1}`)
    for (const log of logs) {
      await log.until((events) => events.some((e) => e.typeNames.includes('IN_Q_OVERFLOW')), 'IN_Q_OVERFLOW', 30_000)
      // The re-scan finds what the overflow lost.
      await log.untilPath(last, 30_000, isCreate)
    }
    // And both go on.
    writeFileSync(join(root, 'a/after'), '')
    for (const log of logs) await log.untilPath(join(root, 'a/after'), 10_000, (e) => e.synthetic === undefined)
  }, 90_000)
})

function isInotify(fd: number): boolean {
  try {
    return readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').includes('inotify')
  } catch {
    return false
  }
}
