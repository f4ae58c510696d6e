/**
 * The API used as a hostile or careless user would (issue 12): ignore functions that throw,
 * instances dropped without `close()`, names that are not UTF-8, odd `file:` URLs and out-of-range
 * numbers. What would end the process or can only be seen from outside runs in a child process
 * (`fixtures/hostile-api-child.cjs`, on the CommonJS build).
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  subscribe,
  watch,
  type Change,
  type PathEncoding,
  type PathLike,
  type SubscribeEvent,
  type Watcher,
  type WatchOptions,
} from '../src/index'
import { until } from './helpers'
import { withinDeadline } from './inotify-fixture'
import { inotifyDescriptorCount, useTreeFixture } from './tree-fixture'

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
      expect(
        paths.some((p) => p.endsWith('/boomdir')),
        `${kind}: ${JSON.stringify(errors[kind])}`,
      ).toBe(true)
      expect(
        paths.some((p) => p.endsWith('/boomfile')),
        `${kind}: ${JSON.stringify(errors[kind])}`,
      ).toBe(true)
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
        'collected',
        ['--expose-gc'],
        kind,
      )
      if (kind === 'Inotify') {
        // Each raw watch set holds an inotify descriptor and a reader thread of its own until collected.
        expect(opened.inotify).toBe(baseline.inotify + 50)
        expect(opened.threads).toBeGreaterThanOrEqual(baseline.threads + 50)
      } else {
        // Trees and watchers are sessions of the one shared instance: one descriptor, one thread.
        expect(opened.inotify).toBe(baseline.inotify + 1)
        expect(opened.threads).toBeGreaterThanOrEqual(baseline.threads + 1)
      }
      // Collected, every session leaves; the last one gone, the shared instance closes too.
      expect(after).toEqual(baseline)
    },
  )

  it('keeps what is referenced, waited on, listened to or ref()d working through any number of collections', async () => {
    const { counts, missing, heldEvents } = await child<{ counts: Resources; missing: string[]; heldEvents: string[] }>(
      'pinned',
      ['--expose-gc'],
    )
    // Six objects: one referenced, a generator, a tree's iterator, a watcher's iterator and
    // listener, and a ref()'d one that nothing references. The three Inotify hold a descriptor
    // each; the tree and the two watchers are sessions of the shared one.
    expect(counts.inotify).toBe(4)
    expect(missing).toEqual([])
    expect(heldEvents).toContain('after-gc')
  })
})

const watchers: Watcher<PathEncoding>[] = []
afterEach(async () => {
  for (const w of watchers.splice(0)) await w.close()
})

async function open<E extends PathEncoding = 'utf8'>(
  paths: PathLike | readonly PathLike[],
  options?: WatchOptions<E>,
): Promise<Watcher<E>> {
  const w = watch(paths, options)
  watchers.push(w as Watcher<PathEncoding>)
  await withinDeadline(w.ready, 'ready')
  return w
}

/** Takes batches from `w` until one of its changes passes `match`; returns every change taken. */
async function changesUntil<P extends string | Buffer>(
  w: AsyncIterable<Change<P>[]>,
  match: (change: Change<P>) => boolean,
  what: string,
): Promise<Change<P>[]> {
  const seen: Change<P>[] = []
  const iterator = w[Symbol.asyncIterator]()
  await withinDeadline(
    (async () => {
      while (!seen.some(match)) {
        const next = await iterator.next()
        if (next.done === true) throw new Error(`the watcher ended before ${what}`)
        seen.push(...next.value)
      }
    })(),
    what,
  )
  await iterator.return?.()
  return seen
}

describe('names that are not UTF-8 (12.11)', () => {
  // 'f', two bytes that are no UTF-8 sequence, '.txt': as a Latin-1 system would write "fÿþ.txt".
  const NAME = Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x74, 0x78, 0x74])

  it('reports them with their exact bytes from watch({ encoding: "buffer" }), as paths that exist', async () => {
    const dir = fx.tempDir()
    const w = await open(dir, { encoding: 'buffer' })
    const file = Buffer.concat([Buffer.from(`${dir}/`), NAME])
    writeFileSync(file, 'x')
    const created = await changesUntil(w, (c) => c.path.equals(file), 'the create')
    const change = created.find((c) => c.path.equals(file))!
    expect(change).toMatchObject({ type: 'create', isDir: false })
    expect(Buffer.isBuffer(change.path)).toBe(true)
    expect(existsSync(change.path)).toBe(true)

    const renamed = Buffer.concat([Buffer.from(`${dir}/`), NAME, Buffer.from([0x80])])
    renameSync(file, renamed)
    const moves = await changesUntil(w, (c) => c.type === 'rename', 'the rename')
    const rename = moves.find((c) => c.type === 'rename')!
    expect(rename.path.equals(renamed)).toBe(true)
    expect(rename.oldPath!.equals(file)).toBe(true)
    expect(existsSync(rename.path)).toBe(true)
    // The types follow the option: Buffer paths here, strings by default.
    const typed: Buffer = rename.path
    // @ts-expect-error: with encoding 'buffer', a path is not a string
    const notString: string = rename.path
    expect([typed, notString]).toHaveLength(2)
    expect(w.roots[0]!.equals(Buffer.from(dir))).toBe(true)
  })

  it('watches a root given as bytes that are not UTF-8', async () => {
    const base = fx.tempDir()
    const root = Buffer.concat([Buffer.from(`${base}/`), NAME])
    mkdirSync(root)
    const w = await open(root, { encoding: 'buffer' })
    const file = Buffer.concat([root, Buffer.from('/inside')])
    writeFileSync(file, 'x')
    const changes = await changesUntil(w, (c) => c.path.equals(file), 'the create under the root')
    expect(existsSync(changes.find((c) => c.path.equals(file))!.path)).toBe(true)
  })

  it('gives strings with U+FFFD for each invalid sequence by default, in watch() and subscribe()', async () => {
    const dir = fx.tempDir()
    const lossy = `${dir}/f\ufffd\ufffd.txt`
    const w = await open(dir)
    const events: SubscribeEvent[] = []
    const subscription = await subscribe(
      dir,
      (error, batch) => {
        if (error === null) events.push(...batch)
      },
      { debounceMs: 0 },
    )
    try {
      writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), NAME]), 'x')
      const changes = await changesUntil(w, (c) => c.path === lossy, 'the lossy create')
      const path: string = changes.find((c) => c.path === lossy)!.path
      expect(existsSync(path)).toBe(false)
      await until(() => events.some((e) => e.path === lossy && e.type === 'create'), 'the subscribe event')
    } finally {
      await subscription.unsubscribe()
    }
  })

  it('rejects an encoding it does not know', () => {
    expect(() => watch(fx.tempDir(), { encoding: 'latin1' as 'utf8' })).toThrow(TypeError)
  })
})

describe('file: URLs and numbers out of range (12.12)', () => {
  it('takes file: URLs through fileURLToPath: a host or an encoded slash is a TypeError before any watch', () => {
    const dir = fx.tempDir()
    const before = inotifyDescriptorCount()
    expect(() => watch(new URL(`file://elsewhere${dir}`))).toThrow(
      expect.objectContaining({
        name: 'TypeError',
        code: 'ERR_INVALID_FILE_URL_HOST',
      }),
    )
    expect(() => watch(new URL(`file://${dir}/a%2Fb`))).toThrow(
      expect.objectContaining({
        name: 'TypeError',
        code: 'ERR_INVALID_FILE_URL_PATH',
      }),
    )
    expect(() => watch([dir, new URL('https://example.com/')])).toThrow(
      expect.objectContaining({
        name: 'TypeError',
        code: 'ERR_INVALID_URL_SCHEME',
      }),
    )
    expect(inotifyDescriptorCount()).toBe(before)
  })

  it('watches what a file: URL names, with localhost and percent-encoding as fileURLToPath reads them', async () => {
    const base = fx.tempDir()
    const dir = join(base, 'a b%')
    mkdirSync(dir)
    const w = await open(new URL(`file://localhost${base}/a%20b%25`))
    expect(w.roots).toEqual([dir])
    writeFileSync(join(dir, 'f'), 'x')
    await changesUntil(w, (c) => c.path === join(dir, 'f'), 'the create')
  })

  it('bounds debounceMs as Node timers do, and checks every number option once', async () => {
    const dir = fx.tempDir()
    const before = inotifyDescriptorCount()
    const outOfRange = expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
    for (const debounceMs of [2 ** 31, -1, Infinity, NaN]) {
      expect(() => watch(dir, { debounceMs }), String(debounceMs)).toThrow(outOfRange)
    }
    for (const maxQueuedBytes of [0, 0.5, 2 ** 53, Infinity]) {
      expect(() => watch(dir, { maxQueuedBytes }), String(maxQueuedBytes)).toThrow(outOfRange)
    }
    for (const maxBacklog of [0, 1.5, 2 ** 53, Infinity]) {
      expect(() => watch(dir, { maxBacklog }), String(maxBacklog)).toThrow(outOfRange)
    }
    expect(() => watch(dir, { debounceMs: '5' as unknown as number })).toThrow(
      expect.objectContaining({
        name: 'TypeError',
        code: 'ERR_INVALID_ARG_TYPE',
      }),
    )
    await expect(subscribe(dir, () => {}, { debounceMs: 2 ** 31 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' })
    expect(inotifyDescriptorCount()).toBe(before)
  })

  it('accepts the largest delay a timer holds, and a fraction of a millisecond', async () => {
    const dir = fx.tempDir()
    await open(dir, { debounceMs: 2 ** 31 - 1 })
    const w = await open(dir, { debounceMs: 0.5 })
    writeFileSync(join(dir, 'f'), 'x')
    await changesUntil(w, (c) => c.path === join(dir, 'f'), 'the create')
  })
})
