/**
 * The API used as a hostile or careless user would (issue 12): ignore functions that throw,
 * instances dropped without `close()`, names that are not UTF-8, odd `file:` URLs and out-of-range
 * numbers. What would end the process or can only be seen from outside runs in a child process
 * (`fixtures/hostile-api-child.cjs`, on the CommonJS build).
 */
import { describe, expect, it } from 'vitest'
import { useTreeFixture } from './tree-fixture'
import { resolve } from 'node:path'

const CHILD = resolve(__dirname, 'fixtures/hostile-api-child.cjs')
const fx = useTreeFixture()

/** Runs a scenario of the child script on a fresh directory and returns what it printed. */
async function child<T>(scenario: string, nodeFlags: readonly string[] = [], kind?: string): Promise<T> {
  const args = [...nodeFlags, CHILD, scenario, fx.tempDir(), ...(kind === undefined ? [] : [kind])]
  const result = await fx.run(process.execPath, args, { timeoutMs: 60_000 })
  expect(result.stderr, `the child's stderr (exit code ${result.code})`).toBe('')
  expect(result.code).toBe(0)
  return JSON.parse(result.stdout) as T
}

interface ReportedError {
  name: string
  code: string
  path: string
  message: string
  cause?: string
}

describe('an ignore function that throws (12.7)', () => {
  it('reports the throw with the path to onError and the error event, ignores nothing, and the process lives', async () => {
    const { errors, seen } = await child<{
      errors: Record<'tree' | 'watch', ReportedError[]>
      seen: Record<'tree' | 'watch', string[]>
    }>('ignore-throws')
    for (const kind of ['tree', 'watch'] as const) {
      const paths = errors[kind].map((e) => e.path)
      // The directory was asked about by the native scan, the file when its events came.
      expect(paths.some((p) => p.endsWith('/boomdir')), `${kind}: ${JSON.stringify(errors[kind])}`).toBe(true)
      expect(paths.some((p) => p.endsWith('/boomfile')), `${kind}: ${JSON.stringify(errors[kind])}`).toBe(true)
      for (const error of errors[kind]) {
        expect(error).toMatchObject({ name: 'InotifyError', code: 'ERR_INOTIFY_IGNORE_FUNCTION' })
        expect(error.message).toContain(error.path)
        expect(error.cause).toBe(`the ignore function failed on ${error.path}`)
      }
      expect(seen[kind].some((p) => p.endsWith('/boomdir/inner'))).toBe(true)
      expect(seen[kind].some((p) => p.endsWith('/boomfile'))).toBe(true)
    }
  })
})

interface Resources {
  inotify: number
  fds: number
  threads: number
}

describe('instances dropped without close() (12.8)', () => {
  it.each(['Inotify', 'InotifyTree', 'watch'])(
    'releases the descriptors and the thread of 50 unreferenced unref()d %s instances once collected',
    async (kind) => {
      const { baseline, opened, after } = await child<Record<'baseline' | 'opened' | 'after', Resources>>(
        'collected', ['--expose-gc'], kind)
      // Each instance holds its inotify descriptor and a reader thread until collected.
      expect(opened.inotify).toBe(baseline.inotify + 50)
      expect(opened.threads).toBeGreaterThanOrEqual(baseline.threads + 50)
      expect(after).toEqual(baseline)
    },
  )

  it('keeps what is referenced, waited on, listened to or ref()d working through any number of collections', async () => {
    const { counts, missing, heldEvents } = await child<{ counts: Resources; missing: string[]; heldEvents: string[] }>(
      'pinned', ['--expose-gc'])
    // Six instances: one referenced, a generator, a tree's iterator, a watcher's iterator and
    // listener, and a ref()'d one that nothing references.
    expect(counts.inotify).toBe(6)
    expect(missing).toEqual([])
    expect(heldEvents).toContain('after-gc')
  })
})
