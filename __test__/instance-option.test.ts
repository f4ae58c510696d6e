/**
 * The `instance` option: trees, `watch()` and `subscribe()` are sessions of the process's one
 * shared inotify instance by default, and of one of their own with `instance: 'own'`; an `Inotify`
 * always has its own. Counted in the kernel: descriptors in `/proc/self/fd`, wds in fdinfo.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Inotify, subscribe, watch, type SubscribeEvent } from '../src/index'
import { until } from './helpers'
import { inotifyDescriptorCount, kernelWatchCount, layout, useTreeFixture } from './tree-fixture'

const fx = useTreeFixture()

describe('the instance option', () => {
  it("gives two trees with instance 'own' descriptors of their own, and two without one shared descriptor", async () => {
    const root = fx.tempDir()
    layout(root, ['a/', 'b/'])
    const shared = [fx.tree(join(root, 'a')), fx.tree(join(root, 'b'), { instance: 'shared' })]
    const own = [fx.tree(join(root, 'a'), { instance: 'own' }), fx.tree(join(root, 'b'), { instance: 'own' })]
    await Promise.all([...shared, ...own].map((tree) => tree.ready))
    const [s1, s2] = shared.map((tree) => tree.fd)
    const [o1, o2] = own.map((tree) => tree.fd)
    expect(s1).toBe(s2)
    expect(new Set([s1, o1, o2]).size).toBe(3)
    // The shared descriptor holds both trees' wds; each own one only its tree's.
    expect([kernelWatchCount(s1!), kernelWatchCount(o1!), kernelWatchCount(o2!)]).toEqual([2, 1, 1])
    // An Inotify has an instance of its own, whatever the trees share.
    const inotify = new Inotify()
    try {
      expect([s1, o1, o2]).not.toContain(inotify.fd)
    } finally {
      inotify.close()
    }
  })

  it("opens a descriptor for watch() and subscribe() with instance 'own' only, and each reports its changes", async () => {
    const root = fx.tempDir()
    layout(root, ['w/', 's/'])
    // The shared instance open (held by a tree), so that counting descriptors sees what each adds.
    await fx.tree(root).ready
    const before = inotifyDescriptorCount()
    const sharedWatcher = watch(join(root, 'w'))
    const sharedSub = await subscribe(join(root, 's'), () => {}, { instance: 'shared' })
    try {
      await sharedWatcher.ready
      expect(inotifyDescriptorCount()).toBe(before)
      const ownWatcher = watch(join(root, 'w'), { instance: 'own' })
      const seen: SubscribeEvent[] = []
      const ownSub = await subscribe(join(root, 's'), (_err, events) => seen.push(...events), {
        instance: 'own',
        debounceMs: 0,
      })
      try {
        await ownWatcher.ready
        expect(inotifyDescriptorCount()).toBe(before + 2)
        const changes: string[] = []
        ownWatcher.on('events', (batch) => changes.push(...batch.map((c) => `${c.type} ${c.path}`)))
        writeFileSync(join(root, 'w/f'), 'x')
        writeFileSync(join(root, 's/g'), 'x')
        await until(() => changes.includes(`create ${join(root, 'w/f')}`), 'the own watcher to see w/f')
        await until(
          () => seen.some((e) => e.type === 'create' && e.path === join(root, 's/g')),
          'the own subscription to see s/g',
        )
      } finally {
        await ownWatcher.close()
        await ownSub.unsubscribe()
      }
      await until(() => inotifyDescriptorCount() === before, 'the own descriptors to close')
    } finally {
      await sharedWatcher.close()
      await sharedSub.unsubscribe()
    }
  })

  it("refuses an instance other than 'shared' or 'own' with a TypeError, before anything is watched", () => {
    const root = fx.tempDir()
    const bad = { instance: 'private' } as unknown as { instance: 'own' }
    expect(() => fx.tree(root, bad)).toThrow(/instance must be 'shared' or 'own', got type string \(private\)/)
    expect(() => watch(root, bad)).toThrow(TypeError)
    return expect(subscribe(root, () => {}, bad)).rejects.toThrow(/instance must be 'shared' or 'own'/)
  })
})
