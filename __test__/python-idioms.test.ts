/**
 * End-to-end: what a script ported from the Python package `inotify` 0.2.12 writes, and gets here
 * (issue 15.3 and 15.4): masks with `IN_ISDIR`, the tree's `inotify.add_watch`,
 * `event_gen(ignore_missing_new_folders=...)`, and `remove_watch(path, superficial=True)` of a
 * watch the kernel already dropped.
 */
import { describe, expect, it } from 'vitest'
import { IN_CREATE, IN_DELETE, IN_ISDIR, type InotifyError, type InotifyEvent } from '../src/index'
import { collectUntil, until } from './helpers'
import { sh, useFixture, withinDeadline } from './inotify-fixture'
import { useTreeFixture } from './tree-fixture'

const fx = useFixture()
const tfx = useTreeFixture()

/** What a generator yields until it ends by itself (bounded by a deadline). */
function drain<T>(gen: AsyncGenerator<T>): Promise<T[]> {
  return withinDeadline(
    collectUntil(gen, () => false, 'the generator to end'),
    'the end',
  )
}

/** An event as the tests compare them. */
function shown(event: InotifyEvent): string {
  return `${event.typeNames.join('|')} ${event.path}/${event.filename}`
}

/** The error `work` throws (fails the test if it throws none). */
function thrownBy(work: () => unknown): Error {
  try {
    work()
  } catch (error) {
    return error as Error
  }
  throw new Error('expected an error, got none')
}

describe('masks with IN_ISDIR (an output bit the kernel ignores on input)', () => {
  it('addWatch accepts IN_CREATE | IN_ISDIR, returns a wd and reports the creates of files and directories', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ blockDurationS: null })
    const wd = inotify.addWatch(dir, IN_CREATE | IN_ISDIR)
    expect(wd).toBeGreaterThan(0)
    sh(dir, 'touch "$D/f"; mkdir "$D/d"; rmdir "$D/d"')
    const events = await drain(inotify.eventGen({ timeoutS: 0, yieldNones: false }))
    expect(events.map(shown)).toEqual([`IN_CREATE ${dir}/f`, `IN_ISDIR|IN_CREATE ${dir}/d`])
    expect(events.every((e) => e.header.wd === wd)).toBe(true)
  })

  it('the constructor accepts it in its mask option, and a mask of IN_ISDIR alone is still refused', () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ paths: [dir], mask: IN_CREATE | IN_ISDIR })
    expect(inotify.watchCount).toBe(1)
    expect(() => inotify.addWatch(dir, IN_ISDIR)).toThrow(/names no event/)
  })

  it("a tree's mask accepts IN_CREATE | IN_DELETE | IN_ISDIR, as the Python package's trees build it", async () => {
    const root = fx.tempDir()
    const tree = tfx.tree(root, { mask: IN_CREATE | IN_DELETE | IN_ISDIR, blockDurationS: null })
    await tree.ready
    sh(root, 'mkdir "$D/d"')
    const made = await drain(tree.eventGen({ timeoutS: 0, yieldNones: false }))
    expect(made.map(shown)).toEqual([`IN_ISDIR|IN_CREATE ${root}/d`])
    sh(root, 'touch "$D/d/f"; rm "$D/d/f"')
    const events = await drain(tree.eventGen({ timeoutS: 0, yieldNones: false }))
    expect(events.map(shown)).toEqual([`IN_CREATE ${root}/d/f`, `IN_DELETE ${root}/d/f`])
    expect(() => tfx.tree(root, { mask: IN_ISDIR })).toThrow(RangeError)
  })
})

describe("the Python package's tree idioms", () => {
  it('tree.inotify.addWatch throws a TypeError that says the call is not needed here and what to write instead', () => {
    const root = fx.tempDir()
    const tree = tfx.tree(root)
    const error = thrownBy(() => tree.inotify.addWatch(root))
    expect(error).toBeInstanceOf(TypeError)
    expect(error.message).toMatch(/before it lists it/)
    expect(error.message).toMatch(/remove the call/)
    expect(error.message).toMatch(/new Inotify\(\)/)
  })

  it.each([true, false])(
    'eventGen accepts ignoreMissingNewFolders %s: a new folder gone before it was watched is reported made and deleted, and skipped',
    async (ignoreMissingNewFolders) => {
      const root = fx.tempDir()
      const errors: InotifyError[] = []
      const tree = tfx.tree(root, { mask: IN_CREATE | IN_DELETE, blockDurationS: null, onError: (e) => errors.push(e) })
      await tree.ready
      sh(root, 'mkdir "$D/gone"; rmdir "$D/gone"')
      const events = await drain(tree.eventGen({ timeoutS: 0, yieldNones: false, ignoreMissingNewFolders }))
      expect(events.map(shown)).toEqual([`IN_ISDIR|IN_CREATE ${root}/gone`, `IN_ISDIR|IN_DELETE ${root}/gone`])
      expect(tree.watchCount).toBe(1)
      // Reports reach onError on the reader's next ring, which may come after the generator ended.
      await until(() => errors.length > 0, 'the skipped folder reported to onError')
      expect(errors.map((e) => [e.code, e.path])).toEqual([['ENOENT', `${root}/gone`]])
      // The same through the blocking generator.
      sh(root, 'mkdir "$D/gone2"; rmdir "$D/gone2"')
      const sync = [...tree.eventGenSync({ timeoutS: 0, yieldNones: false, ignoreMissingNewFolders })]
      expect(sync.map(shown)).toEqual([`IN_ISDIR|IN_CREATE ${root}/gone2`, `IN_ISDIR|IN_DELETE ${root}/gone2`])
    },
  )

  it('refuses an ignoreMissingNewFolders that is not a boolean, and on an Inotify (not a tree option there either)', () => {
    const root = fx.tempDir()
    const tree = tfx.tree(root)
    expect(() => tree.eventGen({ ignoreMissingNewFolders: 1 as never })).toThrow(TypeError)
    expect(() => tree.eventGenSync({ ignoreMissingNewFolders: 'yes' as never })).toThrow(TypeError)
    const inotify = fx.open()
    expect(() => inotify.eventGen({ ignoreMissingNewFolders: true } as never)).toThrow(
      /unknown option "ignoreMissingNewFolders"/,
    )
  })

  it('removeWatch(path, true) of a watch the kernel dropped (IN_IGNORED read) does nothing; without superficial, or by wd, it is EINVAL', async () => {
    const dir = fx.tempDir()
    const sub = `${dir}/sub`
    sh(dir, 'mkdir "$D/sub"')
    const inotify = fx.open({ blockDurationS: null })
    const wd = inotify.addWatch(sub)
    sh(dir, 'rmdir "$D/sub"')
    const events = await drain(inotify.eventGen({ timeoutS: 0, yieldNones: false }))
    expect(events.map((e) => e.typeNames.join('|'))).toEqual(['IN_DELETE_SELF', 'IN_IGNORED'])
    expect(inotify.watchCount).toBe(0)
    inotify.removeWatch(sub, true)
    inotify.removeWatch(sub, true)
    expect(thrownBy(() => inotify.removeWatch(sub))).toMatchObject({ code: 'EINVAL', path: sub })
    // By wd it stays an error, superficial or not, as the Python package's KeyError.
    expect(thrownBy(() => inotify.removeWatchWithId(wd, true))).toMatchObject({ code: 'EINVAL' })
  })
})
