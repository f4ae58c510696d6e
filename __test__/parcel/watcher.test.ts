/**
 * `@parcel/watcher` 2.6's test/watcher.js, written anew for inotify-napi: one test per behaviour it
 * tests on Linux, each on a directory of its own, against the package as a tool loads it. Names are
 * chosen so that parcel's expected order (a batch sorted by path) is explicit. Where inotify-napi
 * differs on purpose, the last block asserts what it does.
 */
import { mkdirSync, promises as fs, renameSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Worker } from 'node:worker_threads'
import { afterEach, describe, expect, it } from 'vitest'
import type { Event } from '../../src/index'
import { withinDeadline } from '../inotify-fixture'
import { closeAll, freshDir, subscribed, track, watcher } from './parcel-fixture'

afterEach(closeAll)

const create = (path: string): Event => ({ type: 'create', path })
const update = (path: string): Event => ({ type: 'update', path })
const remove = (path: string): Event => ({ type: 'delete', path })

describe('files', () => {
  it('should emit when a file is created', async () => {
    const { dir, nextEvent } = await subscribed()
    const f = join(dir, 'test.txt')
    await fs.writeFile(f, 'hello world')
    expect(await nextEvent()).toEqual([create(f)])
  })

  it('should emit when a file is updated', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const f = join(dir, 'test.txt')
    await fs.writeFile(f, 'hello world')
    await settled()
    await fs.writeFile(f, 'hi')
    expect(await nextEvent()).toEqual([update(f)])
  })

  it('should emit when a file is renamed', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const [f1, f2] = [join(dir, 'a-first.txt'), join(dir, 'b-second.txt')]
    await fs.writeFile(f1, 'hello world')
    await settled()
    await fs.rename(f1, f2)
    expect(await nextEvent()).toEqual([remove(f1), create(f2)])
  })

  it('should emit when an existing file is renamed', async () => {
    const { dir, nextEvent } = await subscribed(undefined, (d) => writeFileSync(join(d, 'a-existing.txt'), 'hi'))
    const [f1, f2] = [join(dir, 'a-existing.txt'), join(dir, 'b-renamed.txt')]
    await fs.rename(f1, f2)
    expect(await nextEvent()).toEqual([remove(f1), create(f2)])
  })

  it('should emit when a file is renamed only changing case', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const [f1, f2] = [join(dir, 'test-file.txt'), join(dir, 'TEST-FILE.TXT')]
    await fs.writeFile(f1, 'hello world')
    await settled()
    await fs.rename(f1, f2)
    expect(await nextEvent()).toEqual([create(f2), remove(f1)])
  })

  it('should emit when a file is deleted', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const f = join(dir, 'test.txt')
    await fs.writeFile(f, 'hello world')
    await settled()
    await fs.unlink(f)
    expect(await nextEvent()).toEqual([remove(f)])
  })
})

describe('directories', () => {
  it('should emit when a directory is created', async () => {
    const { dir, nextEvent } = await subscribed()
    const d = join(dir, 'dir')
    await fs.mkdir(d)
    expect(await nextEvent()).toEqual([create(d)])
  })

  it('should emit when a directory is renamed', async () => {
    const { dir, nextEvent } = await subscribed()
    const [d1, d2] = [join(dir, 'a-dir'), join(dir, 'b-dir')]
    await fs.mkdir(d1)
    expect(await nextEvent()).toEqual([create(d1)])
    await fs.rename(d1, d2)
    expect(await nextEvent()).toEqual([remove(d1), create(d2)])
  })

  it('should emit when an existing directory is renamed', async () => {
    const { dir, nextEvent } = await subscribed(undefined, (d) => mkdirSync(join(d, 'z-existing')))
    const [d1, d2] = [join(dir, 'z-existing'), join(dir, 'a-renamed')]
    await fs.rename(d1, d2)
    expect(await nextEvent()).toEqual([create(d2), remove(d1)])
  })

  it('should emit when a directory is deleted', async () => {
    const { dir, nextEvent } = await subscribed()
    const d = join(dir, 'dir')
    await fs.mkdir(d)
    expect(await nextEvent()).toEqual([create(d)])
    await fs.rm(d, { recursive: true })
    expect(await nextEvent()).toEqual([remove(d)])
  })

  it('should handle when the directory to watch is deleted', async () => {
    const { dir, nextEvent, quietFor } = await subscribed()
    await fs.rm(dir, { recursive: true })
    expect(await nextEvent()).toEqual([remove(dir)])
    // A new directory at the same path is another directory: nothing of it is reported.
    await fs.mkdir(dir)
    await fs.writeFile(join(dir, 'new.txt'), 'x')
    expect(await quietFor(200)).toBe(true)
  })
})

describe('sub-files', () => {
  it('should emit when a sub-file is created', async () => {
    const { dir, nextEvent } = await subscribed()
    const [d, f] = [join(dir, 'dir'), join(dir, 'dir', 'test.txt')]
    await fs.mkdir(d)
    expect(await nextEvent()).toEqual([create(d)])
    await fs.writeFile(f, 'hello world')
    expect(await nextEvent()).toEqual([create(f)])
  })

  it('should emit when a sub-file is updated', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const f = join(dir, 'dir', 'test.txt')
    await fs.mkdir(join(dir, 'dir'))
    await settled()
    await fs.writeFile(f, 'hello world')
    await settled()
    await fs.writeFile(f, 'hi')
    expect(await nextEvent()).toEqual([update(f)])
  })

  it('should emit when a sub-file is renamed', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const [f1, f2] = [join(dir, 'dir', 'a-first.txt'), join(dir, 'dir', 'b-second.txt')]
    await fs.mkdir(join(dir, 'dir'))
    await settled()
    await fs.writeFile(f1, 'hello world')
    await settled()
    await fs.rename(f1, f2)
    expect(await nextEvent()).toEqual([remove(f1), create(f2)])
  })

  it('should emit when a sub-file is deleted', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const f = join(dir, 'dir', 'test.txt')
    await fs.mkdir(join(dir, 'dir'))
    await settled()
    await fs.writeFile(f, 'hello world')
    await settled()
    await fs.unlink(f)
    expect(await nextEvent()).toEqual([remove(f)])
  })
})

describe('sub-directories', () => {
  it('should emit when a sub-directory is created', async () => {
    const { dir, nextEvent } = await subscribed()
    const [d1, d2] = [join(dir, 'dir'), join(dir, 'dir', 'sub')]
    await fs.mkdir(d1)
    expect(await nextEvent()).toEqual([create(d1)])
    await fs.mkdir(d2)
    expect(await nextEvent()).toEqual([create(d2)])
  })

  it('should emit when a sub-directory is renamed', async () => {
    const { dir, nextEvent } = await subscribed()
    const [d1, d2, d3] = [join(dir, 'dir'), join(dir, 'dir', 'a-sub'), join(dir, 'dir', 'b-sub')]
    await fs.mkdir(d1)
    expect(await nextEvent()).toEqual([create(d1)])
    await fs.mkdir(d2)
    expect(await nextEvent()).toEqual([create(d2)])
    await fs.rename(d2, d3)
    expect(await nextEvent()).toEqual([remove(d2), create(d3)])
  })

  it('should emit when a sub-directory is deleted with files inside', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const [d, f] = [join(dir, 'dir'), join(dir, 'dir', 'test.txt')]
    await fs.mkdir(d)
    await settled()
    await fs.writeFile(f, 'hello world')
    await settled()
    await fs.rm(d, { recursive: true })
    expect(await nextEvent()).toEqual([remove(d), remove(f)])
  })

  it('should emit when a sub-directory is deleted with directories inside', async () => {
    const { dir, nextEvent } = await subscribed()
    const base = join(dir, 'base')
    const at = (p: string): string => join(base, p)
    await fs.mkdir(base)
    expect(await nextEvent()).toEqual([create(base)])
    await fs.mkdir(at('dir'))
    expect(await nextEvent()).toEqual([create(at('dir'))])
    await fs.mkdir(at('dir/subdir'))
    expect(await nextEvent()).toEqual([create(at('dir/subdir'))])
    await fs.rename(at('dir'), at('dir2'))
    await fs.rename(at('dir2/subdir'), at('dir2/subdir2'))
    expect(await nextEvent()).toEqual([
      remove(at('dir')),
      create(at('dir2')),
      remove(at('dir2/subdir')),
      create(at('dir2/subdir2')),
    ])
  })
})

describe('symlinks', () => {
  it('should emit when a symlink is created', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const [target, link] = [join(dir, 'a-target.txt'), join(dir, 'b-link')]
    await fs.writeFile(target, 'hello world')
    await settled()
    await fs.symlink(target, link)
    expect(await nextEvent()).toEqual([create(link)])
  })

  it('should emit when a symlink is updated', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const [target, link] = [join(dir, 'a-target.txt'), join(dir, 'b-link')]
    await fs.writeFile(target, 'hello world')
    await settled()
    await fs.symlink(target, link)
    await settled()
    // A write through the link changes its target: the target is what was updated.
    await fs.writeFile(link, 'hi')
    expect(await nextEvent()).toEqual([update(target)])
  })

  it('should emit when a symlink is renamed', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const [target, l1, l2] = [join(dir, 'a-target.txt'), join(dir, 'b-link'), join(dir, 'c-link')]
    await fs.writeFile(target, 'hello world')
    await settled()
    await fs.symlink(target, l1)
    await settled()
    await fs.rename(l1, l2)
    expect(await nextEvent()).toEqual([remove(l1), create(l2)])
  })

  it('should emit when a symlink is deleted', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const [target, link] = [join(dir, 'a-target.txt'), join(dir, 'b-link')]
    await fs.writeFile(target, 'hello world')
    await settled()
    await fs.symlink(target, link)
    await settled()
    await fs.unlink(link)
    expect(await nextEvent()).toEqual([remove(link)])
  })

  it('should not crash when a folder symlink is created', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const [target, link] = [join(dir, 'a-dir'), join(dir, 'b-link')]
    await fs.mkdir(target)
    await settled()
    await fs.symlink(target, link)
    expect(await nextEvent()).toEqual([create(link)])
    await fs.unlink(link)
    expect(await nextEvent()).toEqual([remove(link)])
  })
})

describe('rapid changes', () => {
  it('should coalesce create and update events', async () => {
    const { dir, nextEvent } = await subscribed()
    const f = join(dir, 'test.txt')
    await fs.writeFile(f, 'hello world')
    await fs.writeFile(f, 'updated')
    expect(await nextEvent()).toEqual([create(f)])
  })

  it('should coalesce delete and create events into a single update event', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const f = join(dir, 'test.txt')
    await fs.writeFile(f, 'hello world')
    await settled()
    await fs.unlink(f)
    await fs.writeFile(f, 'hello world again')
    expect(await nextEvent()).toEqual([update(f)])
  })

  it('should ignore files that are created and deleted rapidly', async () => {
    const { dir, nextEvent } = await subscribed()
    const [f1, f2] = [join(dir, 'a-kept.txt'), join(dir, 'b-gone.txt')]
    await fs.writeFile(f1, 'hello world')
    await fs.writeFile(f2, 'hello world')
    await fs.unlink(f2)
    expect(await nextEvent()).toEqual([create(f1)])
  })

  it('should coalesce create and rename events', async () => {
    const { dir, nextEvent } = await subscribed()
    const [f1, f2] = [join(dir, 'a-first.txt'), join(dir, 'b-second.txt')]
    await fs.writeFile(f1, 'hello world')
    await fs.rename(f1, f2)
    expect(await nextEvent()).toEqual([create(f2)])
  })

  it('should coalesce multiple rename events', async () => {
    const { dir, nextEvent } = await subscribed()
    const [f1, f2, f3, f4] = ['a', 'b', 'c', 'd'].map((n) => join(dir, `${n}.txt`)) as [string, string, string, string]
    await fs.writeFile(f1, 'hello world')
    await fs.rename(f1, f2)
    await fs.rename(f2, f3)
    await fs.rename(f3, f4)
    expect(await nextEvent()).toEqual([create(f4)])
  })

  it('should coalesce multiple update events', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const f = join(dir, 'test.txt')
    await fs.writeFile(f, 'hello world')
    await settled()
    await fs.writeFile(f, 'update')
    await fs.writeFile(f, 'update2')
    await fs.writeFile(f, 'update3')
    expect(await nextEvent()).toEqual([update(f)])
  })

  it('should coalesce update and delete events', async () => {
    const { dir, nextEvent, settled } = await subscribed()
    const f = join(dir, 'test.txt')
    await fs.writeFile(f, 'hello world')
    await settled()
    await fs.writeFile(f, 'update')
    await fs.unlink(f)
    expect(await nextEvent()).toEqual([remove(f)])
  })
})

/** Subscribes to `dir` and resolves with the first batch, unsubscribing then (as parcel's `listen`). */
function firstBatch(dir: string, ignore?: string[]): { ready: Promise<void>; batch: Promise<Event[]> } {
  let ready!: () => void
  const readyPromise = new Promise<void>((resolve) => {
    ready = resolve
  })
  const batch = new Promise<Event[]>((resolve, reject) => {
    const fn = (err: Error | null, events: Event[]): void => {
      if (err) reject(err)
      else void watcher.unsubscribe(dir, fn, { ignore }).then(() => resolve(events), reject)
    }
    track(watcher.subscribe(dir, fn, { ignore })).then(() => ready(), reject)
  })
  return { ready: readyPromise, batch }
}

describe('multiple', () => {
  it('should support multiple watchers for the same directory', async () => {
    const dir = freshDir()
    const [l1, l2] = [firstBatch(dir), firstBatch(dir)]
    await Promise.all([l1.ready, l2.ready])
    await fs.writeFile(join(dir, 'test1.txt'), 'test1')
    const batches = await withinDeadline(Promise.all([l1.batch, l2.batch]), 'both batches')
    expect(batches).toEqual([[create(join(dir, 'test1.txt'))], [create(join(dir, 'test1.txt'))]])
  })

  it('should support multiple watchers for the same directory with different ignore paths', async () => {
    const dir = freshDir()
    const [l1, l2] = [firstBatch(dir, [join(dir, 'test1.txt')]), firstBatch(dir, [join(dir, 'test2.txt')])]
    await Promise.all([l1.ready, l2.ready])
    await fs.writeFile(join(dir, 'test1.txt'), 'test1')
    await fs.writeFile(join(dir, 'test2.txt'), 'test1')
    const batches = await withinDeadline(Promise.all([l1.batch, l2.batch]), 'both batches')
    expect(batches).toEqual([[create(join(dir, 'test2.txt'))], [create(join(dir, 'test1.txt'))]])
  })

  it('should support multiple watchers for different directories', async () => {
    const [dir1, dir2] = [freshDir(), freshDir()]
    const [l1, l2] = [firstBatch(dir1), firstBatch(dir2)]
    await Promise.all([l1.ready, l2.ready])
    await fs.writeFile(join(dir1, 'test1.txt'), 'test1')
    await fs.writeFile(join(dir2, 'test1.txt'), 'test1')
    const batches = await withinDeadline(Promise.all([l1.batch, l2.batch]), 'both batches')
    expect(batches).toEqual([[create(join(dir1, 'test1.txt'))], [create(join(dir2, 'test1.txt'))]])
  })

  it('should work when getting events since a snapshot on an already watched directory', async () => {
    const { dir, nextEvent } = await subscribed()
    const snapshot = join(freshDir(), 'snapshot')
    await fs.writeFile(join(dir, 'test1.txt'), 'hello1')
    expect(await nextEvent()).toEqual([create(join(dir, 'test1.txt'))])
    await watcher.writeSnapshot(dir, snapshot)
    await fs.writeFile(join(dir, 'test2.txt'), 'hello2')
    expect(await nextEvent()).toEqual([create(join(dir, 'test2.txt'))])
    expect(await watcher.getEventsSince(dir, snapshot)).toEqual([create(join(dir, 'test2.txt'))])
  })
})

describe('errors', () => {
  it('should error if the watched directory does not exist', async () => {
    const missing = join(freshDir(), 'missing')
    await expect(watcher.subscribe(missing, () => {})).rejects.toThrow(/ENOENT/)
  })

  it('should error if the watched path is not a directory', async () => {
    const file = join(freshDir(), 'file')
    writeFileSync(file, 'test')
    await expect(watcher.subscribe(file, () => {})).rejects.toThrow(/ENOTDIR/)
  })
})

describe('worker threads', () => {
  it('should support worker threads', async () => {
    const { dir, nextEvent } = await subscribed()
    // The built package, as a worker of a tool would require it.
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads')
      const watcher = require(workerData.modulePath)
      watcher.subscribe(workerData.dir, async (err, events) => {
        await sub.unsubscribe()
        parentPort.postMessage(err ? 'error: ' + err.message : events)
      }).then((s) => { sub = s; parentPort.postMessage('ready') })
      let sub`,
      { eval: true, workerData: { dir, modulePath: resolve(__dirname, '..', '..') } },
    )
    try {
      const message = (): Promise<unknown> =>
        withinDeadline(
          new Promise((resolve, reject) => {
            worker.once('message', resolve)
            worker.once('error', reject)
          }),
          'a message from the worker',
        )
      expect(await message()).toBe('ready')
      const fromWorker = message()
      const f = join(dir, 'test.txt')
      await fs.writeFile(f, 'hello world')
      const [here, there] = await Promise.all([nextEvent(), fromWorker])
      expect(here).toEqual([create(f)])
      expect(there).toEqual([create(f)])
    } finally {
      await worker.terminate()
    }
  })
})

describe('ignore', () => {
  it('should ignore a directory', async () => {
    const { dir, nextEvent } = await subscribed((d) => ({ ignore: [join(d, 'ignored-dir')] }))
    const [f1, f2] = [join(dir, 'test.txt'), join(dir, 'ignored-dir', 'test.txt')]
    await fs.mkdir(join(dir, 'ignored-dir'))
    await fs.writeFile(f1, 'hello')
    await fs.writeFile(f2, 'sup')
    expect(await nextEvent()).toEqual([create(f1)])
  })

  it('should ignore a file', async () => {
    const { dir, nextEvent } = await subscribed((d) => ({ ignore: [join(d, 'ignored.txt')] }))
    const f1 = join(dir, 'test.txt')
    await fs.writeFile(f1, 'hello')
    await fs.writeFile(join(dir, 'ignored.txt'), 'sup')
    expect(await nextEvent()).toEqual([create(f1)])
  })

  it('should ignore globs', async () => {
    // parcel's three globs, relative to the watched directory: a wildcard, a globstar, and a
    // character class with a `?` and a picomatch group.
    const ignore = ['globs/*.ignore', 'globs/ignore/**', 'globs/[a-e]?on(g|l)i/**']
    const { dir, nextEvent } = await subscribed({ ignore }, (d) => {
      mkdirSync(join(d, 'globs', 'ignore'), { recursive: true })
      mkdirSync(join(d, 'globs', 'erongi', 'deep'), { recursive: true })
    })
    const at = (...parts: string[]): string => join(dir, 'globs', ...parts)
    await fs.writeFile(at('test.txt'), 'hello')
    await fs.writeFile(at('test.ignore'), 'hello')
    await fs.writeFile(at('ignore', 'test.txt'), 'hello')
    await fs.writeFile(at('ignore', 'test.ignore'), 'hello')
    await fs.writeFile(at('erongi', 'test.txt'), 'hello')
    await fs.writeFile(at('erongi', 'deep', 'test.txt'), 'hello')
    expect(await nextEvent()).toEqual([create(at('test.txt'))])
  })

  it('should ignore regex patterns', async () => {
    const { dir, settled } = await subscribed({ ignore: [/.*\.ignore$/, /node_modules/] })
    await fs.mkdir(join(dir, 'node_modules', 'pkg'), { recursive: true })
    await fs.writeFile(join(dir, 'test.txt'), 'hello')
    await fs.writeFile(join(dir, 'test.ignore'), 'hello')
    await fs.writeFile(join(dir, 'node_modules', 'pkg', 'index.js'), 'hello')
    expect(await settled()).toEqual([create(join(dir, 'test.txt'))])
  })

  it('should throw when a regex with flags is passed in ignore', async () => {
    const dir = freshDir()
    await expect(watcher.subscribe(dir, () => {}, { ignore: [/foo/i] })).rejects.toThrow(/Flags are not supported/)
  })
})

describe('where inotify-napi differs on purpose', () => {
  it('reports the files at the end of a mkdir -p chain, which @parcel/watcher misses on Linux', async () => {
    const { dir, settled } = await subscribed()
    const chain = join(dir, 'a', 'b', 'c')
    mkdirSync(chain, { recursive: true })
    writeFileSync(join(chain, 'leaf.txt'), 'x')
    expect(await settled()).toEqual([
      create(join(dir, 'a')),
      create(join(dir, 'a', 'b')),
      create(chain),
      create(join(chain, 'leaf.txt')),
    ])
  })

  it('reports what a directory moved in from outside holds, which @parcel/watcher never watches', async () => {
    const outside = freshDir()
    const { dir, settled } = await subscribed()
    mkdirSync(join(outside, 'moved', 'inner'), { recursive: true })
    writeFileSync(join(outside, 'moved', 'inner', 'file.txt'), 'x')
    renameSync(join(outside, 'moved'), join(dir, 'moved'))
    expect(await settled()).toEqual([
      create(join(dir, 'moved')),
      create(join(dir, 'moved', 'inner')),
      create(join(dir, 'moved', 'inner', 'file.txt')),
    ])
    // And watches it: a file made in it later is reported too.
    await fs.writeFile(join(dir, 'moved', 'inner', 'later.txt'), 'x')
    expect(await settled()).toEqual([create(join(dir, 'moved', 'inner', 'later.txt'))])
  })
})
