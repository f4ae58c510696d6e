/**
 * `close()` returns at once and settles once the native thread has let everything go: the session's
 * watches (fdinfo) and, when it was its instance's last session, the inotify descriptor
 * (`/proc/self/fd`). Every call returns the same promise.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Inotify, InotifyTree, IN_CLOSE_WRITE, subscribe, watch } from '../src/index'
import { makeTempDir, until } from './helpers'
import { holdings } from './reliability-fixture'
import { kernelWatchCount } from './tree-fixture'

let dir: string
let cleanup: () => void

beforeEach(() => {
  ;({ dir, cleanup } = makeTempDir())
})
afterEach(() => cleanup())

/** `n` directories under `dir`, each with a subdirectory `a`. */
function roots(n: number, prefix: string): string[] {
  return Array.from({ length: n }, (_, i) => {
    const root = join(dir, `${prefix}${i}`)
    mkdirSync(join(root, 'a'), { recursive: true })
    return root
  })
}

describe('close()', () => {
  it('returns the same promise on every call, and an Inotify settles with its descriptor closed', async () => {
    const before = holdings()
    const inotify = new Inotify({ paths: [dir], blockDurationS: null })
    writeFileSync(join(dir, 'f'), 'x')
    const seen: string[] = []
    for await (const event of inotify.eventGen({ yieldNones: false })) {
      if (event.header.mask & IN_CLOSE_WRITE) seen.push(event.filename)
      if (seen.length > 0) break
    }
    expect(holdings().inotify).toBe(before.inotify + 1)
    const closing = inotify.close()
    expect(inotify.close()).toBe(closing)
    expect(closing).toBeInstanceOf(Promise)
    await closing
    expect(holdings()).toMatchObject({ inotify: before.inotify, watches: before.watches })
    expect(inotify.close()).toBe(closing)
  })

  it('a tree sharing its instance settles with its own watches gone and the other tree intact', async () => {
    const [one, two] = roots(2, 'r') as [string, string]
    const before = holdings()
    const first = new InotifyTree(one, { blockDurationS: null })
    const second = new InotifyTree(two, { blockDurationS: null })
    try {
      await Promise.all([first.ready, second.ready])
      expect(first.fd).toBe(second.fd)
      const fd = first.fd
      expect(kernelWatchCount(fd)).toBe(4)
      writeFileSync(join(one, 'a/f'), 'x')
      for await (const event of first.eventGen({ yieldNones: false })) {
        if (event.filename === 'f' && event.header.mask & IN_CLOSE_WRITE) break
      }
      await first.close()
      // Settled: the first tree's two watches are gone, the second's two are in place.
      expect(kernelWatchCount(fd)).toBe(2)
      expect(second.watchCount).toBe(2)
      writeFileSync(join(two, 'a/g'), 'x')
      for await (const event of second.eventGen({ yieldNones: false })) {
        if (event.filename === 'g' && event.header.mask & IN_CLOSE_WRITE) break
      }
      await second.close()
      // The instance's last session: its descriptor is closed too.
      expect(holdings()).toMatchObject({ inotify: before.inotify, watches: before.watches })
    } finally {
      await Promise.all([first.close(), second.close()])
    }
  })

  it('watch() and unsubscribe() settle with every watch and the descriptor gone', async () => {
    const [one, two] = roots(2, 'w') as [string, string]
    const before = holdings()
    const watcher = watch(one, { debounceMs: 0 })
    const created: string[] = []
    watcher.on('events', (changes) => {
      for (const change of changes) created.push(change.path)
    })
    const subscribed: string[] = []
    const subscription = await subscribe(two, (_error, events) => {
      for (const event of events) subscribed.push(event.path)
    })
    try {
      await watcher.ready
      writeFileSync(join(one, 'f'), 'x')
      writeFileSync(join(two, 'g'), 'x')
      await until(() => created.includes(join(one, 'f')), 'the watcher reports f')
      await until(() => subscribed.includes(join(two, 'g')), 'the subscription reports g')
      expect(holdings().inotify).toBe(before.inotify + 1)
      const closing = watcher.close()
      expect(watcher.close()).toBe(closing)
      await closing
      expect(holdings().watches).toBe(before.watches + 2)
      await subscription.unsubscribe()
      expect(holdings()).toMatchObject({ inotify: before.inotify, watches: before.watches })
    } finally {
      await Promise.all([watcher.close(), subscription.unsubscribe()])
    }
  })

  it('closing 200 sessions that had events, without waiting between them, leaves nothing', async () => {
    const before = holdings()
    const treeRoots = roots(100, 't')
    const watchRoots = roots(90, 'w')
    const rawRoots = roots(10, 'i')
    const trees = treeRoots.map((root) => new InotifyTree(root, { blockDurationS: null }))
    const watchers = watchRoots.map((root) => watch(root, { debounceMs: 0 }))
    const raws = rawRoots.map((root) => new Inotify({ paths: [root], blockDurationS: null }))
    const reported = new Set<string>()
    for (const watcher of watchers) {
      watcher.on('events', (changes) => {
        for (const change of changes) reported.add(change.path)
      })
    }
    const readers = [...trees, ...raws].map(async (source) => {
      for await (const event of source.eventGen({ yieldNones: false })) {
        if (event.header.mask & IN_CLOSE_WRITE) reported.add(join(event.path, event.filename))
      }
    })
    try {
      await Promise.all([...trees.map((t) => t.ready), ...watchers.map((w) => w.ready)])
      const files = [...treeRoots, ...watchRoots].map((root) => join(root, 'a/f'))
      files.push(...rawRoots.map((root) => join(root, 'f')))
      for (const file of files) writeFileSync(file, 'x')
      await until(() => files.every((f) => reported.has(f)), 'every session reports its file', 20_000)
      // One shared instance for the trees and watchers, one each for the raw sets.
      expect(holdings().inotify).toBe(before.inotify + 1 + raws.length)
      const closings = [...trees, ...watchers, ...raws].map((session) => session.close())
      await Promise.all(closings)
      expect(holdings()).toMatchObject({ inotify: before.inotify, watches: before.watches })
      await Promise.all(readers)
    } finally {
      await Promise.all([...trees, ...watchers, ...raws].map((session) => session.close()))
    }
  }, 60_000)
})
