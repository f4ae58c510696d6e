/**
 * `subscribe()`'s `ignore` against `@parcel/watcher` itself: the table in
 * `fixtures/parcel-ignore-table.json` (written by `scripts/parcel-ignore-table.mjs`, which runs
 * parcel 2.6 over it) says, for each `ignore`, which of the paths made after subscribing parcel
 * reported, or which error it threw; our `subscribe()` must answer the same. Then: ignored
 * directories are never watched (counted in `/proc/self/fdinfo`), and bad entries are refused
 * before anything is opened.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { subscribe, type AsyncSubscription, type SubscribeOptions } from '../src/index'
import { makeTempDir, until } from './helpers'
import { kernelWatchesInProcess } from './tree-fixture'

/** An entry of `ignore` as the table writes it. */
type Entry = { string: string } | { regexp: string; flags: string } | { value: unknown }

interface Case {
  name: string
  ignore: Entry | Entry[]
  reported?: string[]
  error?: { name: string; message: string; code?: string }
}

interface Table {
  parcel: string
  dirs: string[]
  written: string[]
  cases: Case[]
}

const TABLE = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'parcel-ignore-table.json'), 'utf8')) as Table

/**
 * Where we answer otherwise on purpose: parcel's C++ matcher (`std::regex`) has no look-behind and
 * no named groups, and refuses them ("Invalid special open parenthesis."); JavaScript has both, and
 * so do we. There the expected answer is JavaScript's `RegExp#test` on the relative path (and on
 * the directories above it, whose ignoring leaves it unwatched), as parcel applies an expression.
 */
const JS_SEMANTICS = new Set(['regexp lookbehind', 'regexp negative lookbehind', 'regexp named group'])

function ignoreOf(entries: Entry | Entry[], dir: string): SubscribeOptions['ignore'] {
  const one = (entry: Entry): unknown => {
    if ('value' in entry) return entry.value
    if ('regexp' in entry) return new RegExp(entry.regexp, entry.flags)
    return entry.string.replaceAll('<dir>', dir).replaceAll('<base>', dir.split('/').at(-1)!)
  }
  return (Array.isArray(entries) ? entries.map(one) : one(entries)) as SubscribeOptions['ignore']
}

/** Makes `entries` under `root` (a name ending in `/` is a directory). */
function make(root: string, entries: readonly string[]): void {
  for (const entry of entries) {
    if (entry.endsWith('/')) mkdirSync(join(root, entry), { recursive: true })
    else writeFileSync(join(root, entry), '')
  }
}

const WRITTEN = TABLE.written.map((entry) => entry.replace(/\/$/, ''))

/** What JavaScript's RegExp leaves out of the written paths, applied as parcel applies an expression. */
function reportedUnderJavaScript(entries: Entry[]): string[] {
  const regexps = entries.map((e) => ('regexp' in e ? new RegExp(e.regexp, e.flags) : undefined))
  if (regexps.some((r) => r === undefined)) throw new Error('only RegExp entries')
  const ignored = (path: string): boolean => {
    const parts = path.split('/')
    return parts.some((_, i) => regexps.some((r) => r!.test(parts.slice(0, i + 1).join('/'))))
  }
  return WRITTEN.filter((path) => !ignored(path)).sort()
}

/** What a case must report: parcel's answer, or JavaScript's where we differ on purpose. */
function expectedReport(c: Case): string[] | undefined {
  return JS_SEMANTICS.has(c.name) ? reportedUnderJavaScript(c.ignore as Entry[]) : c.reported
}

/** What each case reported (relative paths), or the error its `subscribe()` threw. */
const answers = new Map<string, { reported: string[] } | { error: Error }>()
const { dir: parent, cleanup } = makeTempDir('inotify-napi-parcel-ignore-')

/**
 * Runs the cases side by side, as the script ran them on parcel: a directory each, laid out before
 * subscribing; a control subscription of the parent with no ignore. Once the control has every
 * path made and each case what it should report, a short quiet spell lets any event that should
 * not come, come.
 */
async function runBatch(cases: readonly Case[]): Promise<void> {
  const dirs = cases.map((_, i) => join(parent, `${answers.size + i}`))
  for (const dir of dirs) {
    mkdirSync(dir)
    make(dir, TABLE.dirs)
  }
  const control = new Set<string>()
  const subscriptions: AsyncSubscription[] = []
  const seen = new Map<string, Set<string>>()
  try {
    subscriptions.push(
      await subscribe(parent, (error, events) => {
        if (error) throw error
        for (const event of events) control.add(event.path)
      }),
    )
    const started: string[] = []
    for (const [i, c] of cases.entries()) {
      const dir = dirs[i]!
      const paths = new Set<string>()
      try {
        const callback = (error: Error | null, events: { path: string }[]): void => {
          if (error) throw error
          for (const event of events) paths.add(relative(dir, event.path))
        }
        subscriptions.push(await subscribe(dir, callback, { ignore: ignoreOf(c.ignore, dir) }))
        seen.set(c.name, paths)
        started.push(dir)
      } catch (error) {
        answers.set(c.name, { error: error as Error })
      }
    }
    for (const dir of started) make(dir, TABLE.written)
    const expected = started.flatMap((dir) => WRITTEN.map((path) => join(dir, path)))
    await until(() => expected.every((path) => control.has(path)), 'the control to see every path', 20_000)
    // Each case's expected events, then a short spell for any that should not come. A case still
    // short at the deadline fails below, with what it lacks.
    const complete = (): boolean =>
      cases.every((c) => !seen.has(c.name) || (expectedReport(c) ?? []).every((p) => seen.get(c.name)!.has(p)))
    await until(complete, 'every case to report what it should', 20_000).catch(() => undefined)
    await new Promise((resolve) => setTimeout(resolve, 300))
  } finally {
    for (const s of subscriptions) await s.unsubscribe()
  }
  for (const [name, paths] of seen) answers.set(name, { reported: [...paths].sort() })
}

/** The warnings the table's run emitted. */
const warnings: Error[] = []
const onWarning = (warning: Error): void => {
  warnings.push(warning)
}

beforeAll(async () => {
  process.on('warning', onWarning)
  for (let i = 0; i < TABLE.cases.length; i += 10) await runBatch(TABLE.cases.slice(i, i + 10))
  // Warnings are emitted on the next tick.
  await new Promise((resolve) => setImmediate(resolve))
}, 120_000)
afterAll(() => {
  process.off('warning', onWarning)
  cleanup()
})

describe(`ignore, as @parcel/watcher ${TABLE.parcel} reads it (${TABLE.cases.length} cases x ${WRITTEN.length} paths)`, () => {
  it.each(TABLE.cases.filter((c) => !JS_SEMANTICS.has(c.name)))('$name', (c) => {
    const answer = answers.get(c.name)
    if (c.error) {
      expect(answer, 'parcel threw').toHaveProperty('error')
      const error = (answer as { error: Error }).error
      expect({ name: error.constructor.name, message: error.message, code: (error as { code?: string }).code }).toEqual(
        c.error,
      )
    } else {
      expect(answer, 'parcel subscribed').toHaveProperty('reported')
      expect((answer as { reported: string[] }).reported).toEqual(c.reported)
    }
  })

  it.each(TABLE.cases.filter((c) => JS_SEMANTICS.has(c.name)))(
    '$name: refused by parcel, matched here as JavaScript matches it',
    (c) => {
      expect(c.error?.message).toBe('Invalid special open parenthesis.')
      const answer = answers.get(c.name)
      expect(answer).toHaveProperty('reported')
      const reported = (answer as { reported: string[] }).reported
      expect(reported).toEqual(expectedReport(c))
      expect(reported.length, 'it ignores something').toBeLessThan(WRITTEN.length)
    },
  )
})

describe('directories that ignore leaves out', () => {
  it('are never watched, when there at the start or made later', async () => {
    const { dir, cleanup: remove } = makeTempDir('inotify-napi-parcel-ignore-')
    const subscriptions: AsyncSubscription[] = []
    try {
      make(dir, ['src/deep/', 'node_modules/pkg/', 'foo/x/', 'bar/', 'lib/dist/', 'build/', 'keep/'])
      const before = kernelWatchesInProcess()
      const events: string[] = []
      const ignore = ['node_modules', '**/dist', /^build$/, '@(foo|bar)']
      subscriptions.push(
        await subscribe(
          dir,
          (error, batch) => {
            if (error) throw error
            events.push(...batch.map((e) => relative(dir, e.path)))
          },
          { ignore },
        ),
      )
      // The root, src, src/deep, lib and keep; not node_modules (a path), lib/dist (a glob), build
      // (a RegExp), foo and bar (an extglob), nor foo/x and node_modules/pkg (below those).
      expect(kernelWatchesInProcess() - before).toBe(5)
      make(dir, ['src/node_modules/', 'lib/x/dist/', 'foo2/', 'bar/y/', 'made/'])
      await until(() => events.includes('made'), 'the create of made')
      // src/node_modules is not the path node_modules (resolved against the directory), lib/x/dist
      // is a dist, foo2 is no foo, bar/y is below bar (not watched: no event).
      await until(() => kernelWatchesInProcess() - before === 9, 'src/node_modules, lib/x, foo2 and made watched')
      expect(events.sort()).toEqual(['foo2', 'lib/x', 'made', 'src/node_modules'])
    } finally {
      for (const s of subscriptions) await s.unsubscribe()
      remove()
    }
  })
})

describe('bad entries', () => {
  it('are refused before anything is watched, with the errors parcel gives', async () => {
    const { dir, cleanup: remove } = makeTempDir('inotify-napi-parcel-ignore-')
    try {
      const before = kernelWatchesInProcess()
      const refused: [unknown[], string][] = [
        [
          [/x/i],
          'RegExp ignore patterns must not have flags (got /x/i). Flags are not supported by the native matcher.',
        ],
        [['src', 7], 'The "paths[1]" argument must be of type string. Received type number (7)'],
        [[undefined], 'The "paths[1]" argument must be of type string. Received undefined'],
      ]
      for (const [ignore, message] of refused) {
        await expect(subscribe(dir, () => {}, { ignore } as SubscribeOptions)).rejects.toThrow(message)
      }
      expect(kernelWatchesInProcess()).toBe(before)
    } finally {
      remove()
    }
  })

  it('warns once that an ignore which is not an array ignores nothing, as in parcel', () => {
    const notArray = TABLE.cases.filter((c) => !Array.isArray(c.ignore))
    expect(notArray.length, 'the table passes a string and a RegExp alone').toBe(2)
    for (const c of notArray) expect(answers.get(c.name)).toEqual({ reported: WRITTEN.toSorted() })
    const named = warnings.filter((w) => (w as { code?: string }).code === 'INOTIFY_NAPI_IGNORE_NOT_ARRAY')
    expect(named.map((w) => w.message)).toEqual([expect.stringContaining('ignores nothing')])
  })
})
