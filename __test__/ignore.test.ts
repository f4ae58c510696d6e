/**
 * Ignore rules end to end: RegExps matched natively (relative to the root, as `@parcel/watcher`
 * matches them) in `InotifyTree`, `watch()` and `subscribe()`, with the ignored directories never
 * watched (counted in `/proc/self/fdinfo`); RegExps the native matcher of trees and `watch()` cannot
 * take refused before anything is opened; and ignore functions as a filter on the consumer's thread, which lets
 * `eventGenSync` run on any tree and never makes the native thread wait for JavaScript.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  IN_CREATE,
  subscribe,
  watch,
  type AsyncSubscription,
  type Change,
  type InotifyError,
  type SubscribeEvent,
  type Watcher,
} from '../src/index'
import { until } from './helpers'
import { sh, withinDeadline } from './inotify-fixture'
import {
  fullPath,
  inotifyDescriptorCount,
  kernelWatchCount,
  kernelWatchesInProcess,
  layout,
  useTreeFixture,
} from './tree-fixture'

const fx = useTreeFixture()
const watchers: Watcher[] = []
const subscriptions: AsyncSubscription[] = []
afterEach(async () => {
  for (const w of watchers.splice(0)) await w.close()
  for (const s of subscriptions.splice(0)) await s.unsubscribe()
})

/**
 * A tree where `node_modules` (anywhere) and `build` (at the root only: `src/build` is not) are
 * what `/node_modules/` and `/^build/` leave out, relative to the root. Seven directories: the
 * root, `src`, `src/build`, `lib` and `lib/deep` are watched, `node_modules`, `node_modules/pkg`,
 * `src/node_modules`, `build` and `build/out` are not.
 */
const LAYOUT = ['src/build/', 'lib/deep/', 'node_modules/pkg/', 'src/node_modules/', 'build/out/']
const REGEXES = [/node_modules/, /^build/]
const WATCHED = 5

/** Writes a file in each directory, kept and ignored, then `last` (which is kept). */
function touchEverywhere(root: string, last: string): void {
  for (const dir of ['src/build', 'lib/deep', 'node_modules/pkg', 'src/node_modules', 'build/out']) {
    writeFileSync(join(root, dir, 'f'), '')
  }
  writeFileSync(join(root, last), '')
}

const KEPT = ['src/build/f', 'lib/deep/f']

describe('a RegExp ignore, matched natively on the path relative to the root', () => {
  it('leaves the directories it matches unwatched in an InotifyTree, and their events out', async () => {
    const root = fx.tempDir()
    layout(root, LAYOUT)
    const tree = fx.tree(root, { mask: IN_CREATE, ignore: REGEXES })
    await withinDeadline(tree.ready, 'ready')
    expect(tree.watchCount).toBe(WATCHED)
    expect(kernelWatchCount(tree.fd)).toBe(WATCHED)
    const log = fx.log(tree)
    touchEverywhere(root, 'end')
    await log.untilPath(join(root, 'end'), 5000, () => true)
    expect(log.events.map(fullPath).sort()).toEqual([...KEPT, 'end'].map((p) => join(root, p)).sort())
    // A directory made later under an ignored name is not watched either.
    layout(root, ['lib/node_modules/x/', 'lib/built/'])
    await until(() => tree.watchCount === WATCHED + 1, `lib/built watched (${tree.watchCount})`)
    expect(kernelWatchCount(tree.fd)).toBe(WATCHED + 1)
  })

  it('leaves the directories it matches unwatched in watch(), and their changes out', async () => {
    const root = fx.tempDir()
    layout(root, LAYOUT)
    const w = watch(root, { ignore: REGEXES })
    watchers.push(w)
    const changes: Change[] = []
    w.on('events', (batch) => changes.push(...batch))
    await withinDeadline(w.ready, 'ready')
    expect(w.stats().watches).toBe(WATCHED)
    expect(kernelWatchesInProcess()).toBe(WATCHED)
    touchEverywhere(root, 'end')
    await until(() => changes.some((c) => c.path === join(root, 'end')), 'the change of end')
    expect([...new Set(changes.map((c) => c.path))].sort()).toEqual([...KEPT, 'end'].map((p) => join(root, p)).sort())
  })

  it('leaves the directories it matches unwatched in subscribe(), and their events out', async () => {
    const root = fx.tempDir()
    layout(root, LAYOUT)
    const before = kernelWatchesInProcess()
    const events: SubscribeEvent[] = []
    const sub = await subscribe(
      root,
      (error, batch) => {
        if (error) throw error
        events.push(...batch)
      },
      { ignore: REGEXES, debounceMs: 0 },
    )
    subscriptions.push(sub)
    expect(kernelWatchesInProcess() - before).toBe(WATCHED)
    touchEverywhere(root, 'end')
    await until(() => events.some((e) => e.path === join(root, 'end')), 'the event of end')
    expect([...new Set(events.map((e) => e.path))].sort()).toEqual([...KEPT, 'end'].map((p) => join(root, p)).sort())
  })
})

/**
 * `subscribe()` reads RegExps as `@parcel/watcher` does, with an ECMAScript matcher (look-around
 * included) and its error for flags: `parcel-ignore.test.ts`.
 */
describe('a RegExp the native matcher cannot take, in a tree or watch()', () => {
  /** What each entry point throws for `ignore`, and the inotify descriptors it left. */
  async function refusals(ignore: RegExp): Promise<unknown[]> {
    const root = fx.tempDir()
    const before = inotifyDescriptorCount()
    const thrown: unknown[] = []
    const attempts: (() => unknown)[] = [
      () => fx.tree(root, { ignore: [/ok/, ignore] }),
      () => watchers.push(watch(root, { ignore: [/ok/, ignore] })),
    ]
    for (const attempt of attempts) {
      try {
        await attempt()
      } catch (error) {
        thrown.push(error)
      }
    }
    expect(inotifyDescriptorCount()).toBe(before)
    return thrown
  }

  it.each([
    [/x/i, "the flag 'i'", '(?i)'],
    [/x/gm, "the flags 'g' and 'm'", '(?m)'],
  ])(
    'refuses %s with a TypeError naming its flags and what to write instead, before anything is opened',
    async (regexp, named, advice) => {
      const thrown = await refusals(regexp)
      expect(thrown).toHaveLength(2)
      for (const error of thrown) {
        expect(error).toBeInstanceOf(TypeError)
        expect(error).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' })
        expect((error as Error).message).toContain('ignore[1]')
        expect((error as Error).message).toContain(named)
        expect((error as Error).message).toContain(advice)
      }
    },
  )

  it.each([
    [/(?<!\.)env/, 'look-around'],
    [/a(?=b)/, 'look-around'],
    [/(a)\1/, 'backreferences'],
  ])(
    "refuses %s, which Rust's regex crate cannot compile, with a TypeError naming it, before anything is opened",
    async (regexp, why) => {
      const thrown = await refusals(regexp)
      expect(thrown).toHaveLength(2)
      for (const error of thrown) {
        expect(error).toBeInstanceOf(TypeError)
        expect(error).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' })
        expect((error as Error).message).toContain(`/${regexp.source}/`)
        expect((error as Error).message).toContain(why)
      }
    },
  )
})

describe('an ignore function, a filter of what is delivered', () => {
  /** Ignores directories named `skip` and files ending in `.tmp`, and records what it was asked. */
  function skipAndTmp(asked: string[]): (path: string, isDir: boolean) => boolean {
    return (path, isDir) => {
      asked.push(path)
      return (isDir && path.endsWith('/skip')) || path.endsWith('.tmp')
    }
  }

  it('lets eventGenSync run on the tree, and drops what it ignores and everything below an ignored directory', async () => {
    const root = fx.tempDir()
    layout(root, ['skip/inner/', 'keep/'])
    const asked: string[] = []
    const tree = fx.tree(root, { mask: IN_CREATE, ignore: skipAndTmp(asked) })
    await withinDeadline(tree.ready, 'ready')
    // The function filters output only: skip and skip/inner are watched.
    expect(tree.watchCount).toBe(4)
    expect(kernelWatchCount(tree.fd)).toBe(4)
    sh(root, 'touch "$D/skip/f" "$D/skip/inner/f" "$D/keep/a.tmp" "$D/keep/b.txt" "$D/c.txt"; mkdir "$D/keep/skip"')
    const events = [...tree.eventGenSync({ timeoutS: 0, yieldNones: false })]
    expect(events.map(fullPath)).toEqual(['keep/b.txt', 'c.txt'].map((p) => join(root, p)))
    expect(asked).toContain(join(root, 'skip'))
    expect(asked).toContain(join(root, 'keep/skip'))
  })

  it('never makes the native thread wait for JavaScript: a tree scans new directories while this thread is busy', async () => {
    const root = fx.tempDir()
    const asked: string[] = []
    const tree = fx.tree(root, { mask: IN_CREATE, ignore: skipAndTmp(asked) })
    await withinDeadline(tree.ready, 'ready')
    // A generator's first step arms the native reader before it awaits.
    const events = tree.eventGen({ yieldNones: false })
    const first = events.next()
    sh(root, 'mkdir -p "$D/a/b/c" "$D/skip/d"')
    // This thread does not return to its event loop until the scans are done: a native thread
    // that asked JavaScript about each directory would wait until the deadline.
    const deadline = Date.now() + 5000
    while (tree.watchCount < 6 && Date.now() < deadline) {
      // busy: the JS thread is held
    }
    // root, a, a/b, a/b/c, and skip and skip/d: the function filters output only.
    expect(tree.watchCount).toBe(6)
    expect(asked).toEqual([])
    const event = (await withinDeadline(first, 'the first event')).value
    expect(event === undefined ? undefined : fullPath(event)).toBe(join(root, 'a'))
    expect(asked).toEqual([join(root, 'a')])
  })

  it("reports a function's throw once per directory to onError, and ignores nothing for it", async () => {
    const root = fx.tempDir()
    layout(root, ['boom/'])
    const errors: InotifyError[] = []
    const tree = fx.tree(root, {
      mask: IN_CREATE,
      ignore: (path) => {
        if (path.includes('boom')) throw new Error(`no answer for ${path}`)
        return false
      },
      onError: (error) => errors.push(error),
    })
    await withinDeadline(tree.ready, 'ready')
    sh(root, 'touch "$D/boom/a" "$D/boom/b" "$D/c"')
    const events = [...tree.eventGenSync({ timeoutS: 0, yieldNones: false })]
    expect(events.map(fullPath).sort()).toEqual(['boom/a', 'boom/b', 'c'].map((p) => join(root, p)))
    expect(errors.map((e) => [e.code, e.path])).toEqual([
      ['ERR_INOTIFY_IGNORE_FUNCTION', join(root, 'boom')],
      ['ERR_INOTIFY_IGNORE_FUNCTION', join(root, 'boom/a')],
      ['ERR_INOTIFY_IGNORE_FUNCTION', join(root, 'boom/b')],
    ])
  })

  it('turns a rename across the line into a create or a delete in watch(), directories included', async () => {
    const root = fx.tempDir()
    layout(root, ['dir/', 'a.txt'])
    const w = watch(root, { ignore: (path) => path.endsWith('.tmp') || path.endsWith('/hidden') })
    watchers.push(w)
    const changes: Change[] = []
    w.on('events', (batch) => changes.push(...batch))
    await withinDeadline(w.ready, 'ready')
    const isMark = (c: Change): boolean => /\/m\d$/.test(c.path)
    let seen = 0
    /**
     * Runs `script`, then makes the file `mark`, and returns the changes from the previous mark to
     * this one, as `type relative-path` (the marks' own changes left out: a mark's modify may come
     * after it, in the next window).
     */
    const step = async (script: string, mark: string): Promise<string[]> => {
      sh(root, `${script}; touch "$D/${mark}"`)
      await until(() => changes.some((c) => c.path === join(root, mark)), `the change of ${mark}`)
      const end = changes.findIndex((c) => c.path === join(root, mark))
      const window = changes.slice(seen, end).filter((c) => !isMark(c))
      seen = end
      return window.map((c) => `${c.type} ${c.path.slice(root.length + 1)}`)
    }
    expect(await step('mv "$D/a.txt" "$D/a.tmp"', 'm1')).toEqual(['delete a.txt'])
    expect(await step('mv "$D/dir" "$D/hidden"; touch "$D/hidden/x"', 'm2')).toEqual(['delete dir'])
    expect(await step('mv "$D/hidden" "$D/back"; mv "$D/a.tmp" "$D/a.txt"', 'm3')).toEqual([
      'create back',
      'create a.txt',
    ])
  })
})
