/**
 * `@parcel/watcher` 2.6's test/since.js, written anew for inotify-napi: `writeSnapshot`, changes, then
 * `getEventsSince`, one test per behaviour it tests on Linux, each on a directory of its own with the
 * snapshot file outside it. Where parcel's suite sleeps so that an update gets a new modification
 * time, these wait for the file system's clock to move (`clockPast`).
 */
import { promises as fs, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Event, Options } from '../../src/index'
import { clockPast, closeAll, freshDir, watcher } from './parcel-fixture'

afterEach(closeAll)

const create = (path: string): Event => ({ type: 'create', path })
const update = (path: string): Event => ({ type: 'update', path })
const remove = (path: string): Event => ({ type: 'delete', path })

/** A fresh directory, `prepare(dir)` done in it, and its snapshot written to a file outside it. */
async function snapshotted(
  prepare?: (dir: string) => void,
  options?: Options,
): Promise<{ dir: string; since: () => Promise<Event[]>; elsewhere: string }> {
  const dir = freshDir()
  const elsewhere = freshDir()
  const snapshot = join(elsewhere, 'snapshot.txt')
  prepare?.(dir)
  await watcher.writeSnapshot(dir, snapshot, options)
  return { dir, elsewhere, since: () => watcher.getEventsSince(dir, snapshot, options) }
}

describe('files', () => {
  it('should emit when a file is created', async () => {
    const { dir, since } = await snapshotted()
    const f = join(dir, 'test.txt')
    await fs.writeFile(f, 'hello world')
    expect(await since()).toEqual([create(f)])
  })

  it('should emit when a file is updated', async () => {
    const { dir, since, elsewhere } = await snapshotted((d) => writeFileSync(join(d, 'test.txt'), 'hello world'))
    const f = join(dir, 'test.txt')
    await clockPast(f, elsewhere)
    await fs.writeFile(f, 'hi')
    expect(await since()).toEqual([update(f)])
  })

  it('should emit when a file is renamed', async () => {
    const { dir, since } = await snapshotted((d) => writeFileSync(join(d, 'a-first.txt'), 'hello world'))
    const [f1, f2] = [join(dir, 'a-first.txt'), join(dir, 'b-second.txt')]
    await fs.rename(f1, f2)
    expect(await since()).toEqual([remove(f1), create(f2)])
  })

  it('should emit when a file is deleted', async () => {
    const { dir, since } = await snapshotted((d) => writeFileSync(join(d, 'test.txt'), 'hello world'))
    const f = join(dir, 'test.txt')
    await fs.unlink(f)
    expect(await since()).toEqual([remove(f)])
  })
})

describe('directories', () => {
  it('should emit when a directory is created', async () => {
    const { dir, since } = await snapshotted()
    const d = join(dir, 'dir')
    await fs.mkdir(d)
    expect(await since()).toEqual([create(d)])
  })

  it('should emit when a directory is renamed', async () => {
    const { dir, since } = await snapshotted((d) => mkdirSync(join(d, 'a-dir')))
    const [d1, d2] = [join(dir, 'a-dir'), join(dir, 'b-dir')]
    await fs.rename(d1, d2)
    expect(await since()).toEqual([remove(d1), create(d2)])
  })

  it('should emit when a directory is deleted', async () => {
    const { dir, since } = await snapshotted((d) => mkdirSync(join(d, 'dir')))
    const d = join(dir, 'dir')
    await fs.rm(d, { recursive: true })
    expect(await since()).toEqual([remove(d)])
  })
})

describe('sub-files', () => {
  it('should emit when a sub-file is created', async () => {
    const { dir, since } = await snapshotted((d) => mkdirSync(join(d, 'dir')))
    const f = join(dir, 'dir', 'test.txt')
    await fs.writeFile(f, 'hello world')
    expect(await since()).toEqual([create(f)])
  })

  it('should emit when a sub-file is updated', async () => {
    const { dir, since, elsewhere } = await snapshotted((d) => {
      mkdirSync(join(d, 'dir'))
      writeFileSync(join(d, 'dir', 'test.txt'), 'hello world')
    })
    const f = join(dir, 'dir', 'test.txt')
    await clockPast(f, elsewhere)
    await fs.writeFile(f, 'hi')
    expect(await since()).toEqual([update(f)])
  })

  it('should emit when a sub-file is renamed', async () => {
    const { dir, since } = await snapshotted((d) => {
      mkdirSync(join(d, 'dir'))
      writeFileSync(join(d, 'dir', 'a-first.txt'), 'hello world')
    })
    const [f1, f2] = [join(dir, 'dir', 'a-first.txt'), join(dir, 'dir', 'b-second.txt')]
    await fs.rename(f1, f2)
    expect(await since()).toEqual([remove(f1), create(f2)])
  })

  it('should emit when a sub-file is deleted', async () => {
    const { dir, since } = await snapshotted((d) => {
      mkdirSync(join(d, 'dir'))
      writeFileSync(join(d, 'dir', 'test.txt'), 'hello world')
    })
    const f = join(dir, 'dir', 'test.txt')
    await fs.unlink(f)
    expect(await since()).toEqual([remove(f)])
  })
})

describe('sub-directories', () => {
  it('should emit when a sub-directory is created', async () => {
    const { dir, since } = await snapshotted((d) => mkdirSync(join(d, 'dir')))
    const d = join(dir, 'dir', 'sub')
    await fs.mkdir(d)
    expect(await since()).toEqual([create(d)])
  })

  it('should emit when a sub-directory is renamed', async () => {
    const { dir, since } = await snapshotted((d) => mkdirSync(join(d, 'dir', 'a-sub'), { recursive: true }))
    const [d1, d2] = [join(dir, 'dir', 'a-sub'), join(dir, 'dir', 'b-sub')]
    await fs.rename(d1, d2)
    expect(await since()).toEqual([remove(d1), create(d2)])
  })

  it('should emit when a sub-directory is deleted with files inside', async () => {
    const { dir, since } = await snapshotted((d) => {
      mkdirSync(join(d, 'dir'))
      writeFileSync(join(d, 'dir', 'test.txt'), 'hello world')
    })
    const d = join(dir, 'dir')
    await fs.rm(d, { recursive: true })
    expect(await since()).toEqual([remove(d), remove(join(d, 'test.txt'))])
  })
})

describe('symlinks', () => {
  const target = (d: string): string => join(d, 'a-target.txt')
  const withTarget = (d: string): void => writeFileSync(target(d), 'hello world')
  const withLink = (d: string): void => {
    withTarget(d)
    symlinkSync(target(d), join(d, 'b-link'))
  }

  it('should emit when a symlink is created', async () => {
    const { dir, since } = await snapshotted(withTarget)
    await fs.symlink(target(dir), join(dir, 'b-link'))
    expect(await since()).toEqual([create(join(dir, 'b-link'))])
  })

  it('should emit when a symlink is updated', async () => {
    const { dir, since, elsewhere } = await snapshotted(withLink)
    await clockPast(target(dir), elsewhere)
    // A write through the link changes its target: the target is what was updated.
    await fs.writeFile(join(dir, 'b-link'), 'hi')
    expect(await since()).toEqual([update(target(dir))])
  })

  it('should emit when a symlink is renamed', async () => {
    const { dir, since } = await snapshotted(withLink)
    await fs.rename(join(dir, 'b-link'), join(dir, 'c-link'))
    expect(await since()).toEqual([remove(join(dir, 'b-link')), create(join(dir, 'c-link'))])
  })

  it('should emit when a symlink is deleted', async () => {
    const { dir, since } = await snapshotted(withLink)
    await fs.unlink(join(dir, 'b-link'))
    expect(await since()).toEqual([remove(join(dir, 'b-link'))])
  })
})

describe('rapid changes', () => {
  it('should ignore files that are created and deleted rapidly', async () => {
    const { dir, since } = await snapshotted()
    const [f1, f2] = [join(dir, 'a-kept.txt'), join(dir, 'b-gone.txt')]
    await fs.writeFile(f1, 'hello world')
    await fs.writeFile(f2, 'hello world')
    await fs.unlink(f2)
    expect(await since()).toEqual([create(f1)])
  })

  it('should coalesce create and update events', async () => {
    const { dir, since } = await snapshotted()
    const f = join(dir, 'test.txt')
    await fs.writeFile(f, 'hello world')
    await fs.writeFile(f, 'updated')
    expect(await since()).toEqual([create(f)])
  })

  it('should coalesce create and rename events', async () => {
    const { dir, since } = await snapshotted()
    const [f1, f2] = [join(dir, 'a-first.txt'), join(dir, 'b-second.txt')]
    await fs.writeFile(f1, 'hello world')
    await fs.rename(f1, f2)
    expect(await since()).toEqual([create(f2)])
  })

  it('should coalesce multiple rename events', async () => {
    const { dir, since } = await snapshotted()
    const [f1, f2, f3, f4] = ['a', 'b', 'c', 'd'].map((n) => join(dir, `${n}.txt`)) as [string, string, string, string]
    await fs.writeFile(f1, 'hello world')
    await fs.rename(f1, f2)
    await fs.rename(f2, f3)
    await fs.rename(f3, f4)
    expect(await since()).toEqual([create(f4)])
  })

  it('should coalesce multiple update events', async () => {
    const { dir, since, elsewhere } = await snapshotted((d) => writeFileSync(join(d, 'test.txt'), 'hello world'))
    const f = join(dir, 'test.txt')
    await clockPast(f, elsewhere)
    await fs.writeFile(f, 'update')
    await fs.writeFile(f, 'update2')
    await fs.writeFile(f, 'update3')
    expect(await since()).toEqual([update(f)])
  })

  it('should coalesce update and delete events', async () => {
    const { dir, since } = await snapshotted((d) => writeFileSync(join(d, 'test.txt'), 'hello world'))
    const f = join(dir, 'test.txt')
    await fs.writeFile(f, 'update')
    await fs.unlink(f)
    expect(await since()).toEqual([remove(f)])
  })
})

describe('ignore', () => {
  it('should ignore a directory', async () => {
    const base = freshDir()
    const ignored = join(base, 'ignored-dir')
    const snapshot = join(freshDir(), 'snapshot.txt')
    mkdirSync(ignored)
    await watcher.writeSnapshot(base, snapshot, { ignore: [ignored] })
    const f1 = join(base, 'test.txt')
    await fs.writeFile(f1, 'hello')
    await fs.writeFile(join(ignored, 'test.txt'), 'sup')
    expect(await watcher.getEventsSince(base, snapshot, { ignore: [ignored] })).toEqual([create(f1)])
  })

  it('should ignore a file', async () => {
    const base = freshDir()
    const ignored = join(base, 'ignored.txt')
    const snapshot = join(freshDir(), 'snapshot.txt')
    await watcher.writeSnapshot(base, snapshot, { ignore: [ignored] })
    const f1 = join(base, 'test.txt')
    await fs.writeFile(f1, 'hello')
    await fs.writeFile(ignored, 'sup')
    expect(await watcher.getEventsSince(base, snapshot, { ignore: [ignored] })).toEqual([create(f1)])
  })
})

describe('errors', () => {
  it('should error if the watched directory does not exist', async () => {
    const elsewhere = freshDir()
    await expect(watcher.writeSnapshot(join(elsewhere, 'missing'), join(elsewhere, 'snapshot.txt'))).rejects.toThrow(
      /ENOENT/,
    )
  })

  it('should error if the watched path is not a directory', async () => {
    const elsewhere = freshDir()
    const file = join(elsewhere, 'file')
    writeFileSync(file, 'test')
    await expect(watcher.writeSnapshot(file, join(elsewhere, 'snapshot.txt'))).rejects.toThrow(/ENOTDIR/)
  })
})
