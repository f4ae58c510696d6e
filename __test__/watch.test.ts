/**
 * The tooling API, `watch()`, end to end against the kernel: batches of per-path changes, renames
 * paired, coalescing, ignores, stats, lifecycle, and a stalled consumer during 30k creates.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { watch, type Change, type Watcher, type WatchOptions } from '../src/index'
import { makeTempDir, until } from './helpers'
import { withinDeadline } from './inotify-fixture'

const watchers: Watcher[] = []
const cleanups: (() => void)[] = []
afterEach(async () => {
  for (const w of watchers.splice(0)) await w.close()
  for (const cleanup of cleanups.splice(0)) cleanup()
})

function tempDir(): string {
  const { dir, cleanup } = makeTempDir('inotify-napi-watch-')
  cleanups.push(cleanup)
  return dir
}

async function open(dir: string, options?: WatchOptions): Promise<Watcher> {
  const w = watch(dir, options)
  watchers.push(w)
  await withinDeadline(w.ready, 'ready')
  return w
}

/** Runs `script` in a shell with `$D` set to `dir` (file activity from another process). */
function sh(dir: string, script: string): void {
  execFileSync('sh', ['-c', script], { env: { ...process.env, D: dir } })
}

/** Collects changes from the iterator until `done(changes)` or the deadline. */
async function collect(w: Watcher, done: (changes: Change[]) => boolean, timeoutMs = 5000): Promise<Change[]> {
  const changes: Change[] = []
  const iterator = w[Symbol.asyncIterator]()
  const deadline = Date.now() + timeoutMs
  while (!done(changes)) {
    const left = deadline - Date.now()
    if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms; got ${JSON.stringify(changes.slice(-10))}`)
    let timer: NodeJS.Timeout | undefined
    const next = await Promise.race([
      iterator.next(),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(resolve, left, 'timeout')
      }),
    ])
    clearTimeout(timer)
    if (next === 'timeout') continue
    if (next.done === true) break
    changes.push(...next.value)
  }
  await iterator.return?.()
  return changes
}

/**
 * Does `act` (which ends by touching the marker `dir/<name>`) while nobody takes from `w`, and
 * returns what `w` then holds before the marker, taken at once: the exact per-path coalescing of
 * one take, whatever the reader's pace. The reader reads the kernel's queue as events come, so a
 * take during `act`, or right after it, may find it partway through (a file's `IN_CREATE` read, its
 * `IN_CLOSE_WRITE` not yet) and split a path's changes across two batches, as the API allows. So a
 * witness, a second watcher of `dir` on the same instance, waits for the marker: the reader hands
 * each read to every session before it rings any, so `w` holds everything up to the marker by
 * then. A test with several steps gives each its own marker (a marker's own late changes come
 * after it, into the next step's take).
 */
async function heldAfter(w: Watcher, dir: string, act: () => void, name = '.end'): Promise<Change[]> {
  const marker = join(dir, name)
  const witness = await open(dir)
  const seen: Change[] = []
  witness.on('events', (batch) => seen.push(...batch))
  act()
  await until(() => seen.some((c) => c.path === marker), `the witness to see ${name}`)
  const iterator = w[Symbol.asyncIterator]()
  try {
    const first = await withinDeadline(iterator.next(), 'the first take')
    const batch = first.done === true ? [] : first.value
    const end = batch.findIndex((c) => c.path === marker)
    if (end < 0) throw new Error(`${name} is not in the first take: ${JSON.stringify(brief(batch))}`)
    return batch.slice(0, end)
  } finally {
    await iterator.return?.()
  }
}

const brief = (changes: Change[]): string[] =>
  changes.map((c) => `${c.type} ${c.oldPath !== undefined ? `${c.oldPath} -> ` : ''}${c.path}${c.isDir ? '/' : ''}`)

describe('watch()', () => {
  it('reports a rename inside the tree as one rename event with both paths', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'a'), 'x')
    const w = await open(dir)
    const held = await heldAfter(w, dir, () => sh(dir, 'mv "$D/a" "$D/b"; touch "$D/.end"'))
    expect(brief(held)).toEqual([`rename ${dir}/a -> ${dir}/b`])
  })

  it('reports a directory renamed with content as one rename, and later changes below it at the new path', async () => {
    const dir = tempDir()
    mkdirSync(join(dir, 'd/e'), { recursive: true })
    const w = await open(dir)
    const renamed = await heldAfter(w, dir, () => sh(dir, 'mv "$D/d" "$D/n"; touch "$D/.end"'))
    expect(brief(renamed)).toEqual([`rename ${dir}/d -> ${dir}/n/`])
    const later = await heldAfter(w, dir, () => sh(dir, 'touch "$D/n/e/f"; touch "$D/.end2"'), '.end2')
    expect(brief(later).filter((c) => !c.includes('/.end'))).toEqual([`create ${dir}/n/e/f`])
  })

  it('reports an editor-style atomic save (write a temp file, rename it over) as one modify', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'doc.txt'), 'old')
    const w = await open(dir, { debounceMs: 200 })
    const script = 'printf new > "$D/.doc.txt.swp"; mv "$D/.doc.txt.swp" "$D/doc.txt"; touch "$D/.end"'
    expect(brief(await heldAfter(w, dir, () => sh(dir, script)))).toEqual([`modify ${dir}/doc.txt`])
  })

  it('coalesces per path: create then writes is one create, create then delete is nothing', async () => {
    const dir = tempDir()
    const w = await open(dir, { debounceMs: 200 })
    const script = 'echo 1 > "$D/f"; echo 2 >> "$D/f"; touch "$D/gone"; rm "$D/gone"; touch "$D/.end"'
    expect(brief(await heldAfter(w, dir, () => sh(dir, script)))).toEqual([`create ${dir}/f`])
  })

  it('reports a move out of the tree as a delete and a move in as a create with its content', async () => {
    const dir = tempDir()
    const outside = tempDir()
    mkdirSync(join(dir, 'leaving'))
    mkdirSync(join(outside, 'coming/deep'), { recursive: true })
    writeFileSync(join(outside, 'coming/deep/f'), '')
    const w = await open(dir)
    const changes = await heldAfter(w, dir, () =>
      execFileSync('sh', ['-c', 'mv "$D/leaving" "$O/"; mv "$O/coming" "$D/"; touch "$D/.end"'], {
        env: { ...process.env, D: dir, O: outside },
      }),
    )
    expect(brief(changes)).toEqual([
      `delete ${dir}/leaving/`,
      `create ${dir}/coming/`,
      `create ${dir}/coming/deep/`,
      `create ${dir}/coming/deep/f`,
    ])
    expect(changes.slice(2).every((c) => c.synthetic === true)).toBe(true)
  })

  it('applies gitignore patterns before watching: negation re-includes, directory-only patterns skip directories', async () => {
    const dir = tempDir()
    mkdirSync(join(dir, 'build'))
    mkdirSync(join(dir, 'src'))
    const w = await open(dir, { ignore: ['*.log', '!keep.log', 'build/', 'tmp/'] })
    expect(w.stats().watches).toBe(2) // the root and src; build is never watched
    const held = await heldAfter(w, dir, () =>
      sh(
        dir,
        'touch "$D/a.log" "$D/keep.log" "$D/build/x" "$D/src/y"; touch "$D/tmp"; mkdir "$D/src/tmp"; touch "$D/src/tmp/z"; touch "$D/.end"',
      ),
    )
    expect(brief(held).sort()).toEqual(
      [
        `create ${dir}/keep.log`,
        `create ${dir}/src/y`,
        `create ${dir}/tmp`, // a file named tmp: `tmp/` is for directories only
      ].sort(),
    )
  })

  it('reads the root .gitignore when asked, and takes RegExp and function ignores', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, '.gitignore'), 'dist/\n*.tmp\n')
    mkdirSync(join(dir, 'dist'))
    const w = await open(dir, { gitignore: true, ignore: [/\.bak$/, (path) => path.endsWith('.skip')] })
    expect(w.stats().watches).toBe(1)
    const script = 'touch "$D/dist/a" "$D/b.tmp" "$D/c.bak" "$D/d.skip" "$D/e.txt"; touch "$D/.end"'
    expect(brief(await heldAfter(w, dir, () => sh(dir, script)))).toEqual([`create ${dir}/e.txt`])
  })

  it("delivers batches to 'events' listeners too, and counts them in stats()", async () => {
    const dir = tempDir()
    const w = await open(dir)
    const seen: Change[] = []
    w.on('events', (batch) => seen.push(...batch))
    sh(dir, 'touch "$D/one" "$D/two"')
    await withinDeadline(
      (async () => {
        while (seen.length < 2) await new Promise((resolve) => setTimeout(resolve, 5))
      })(),
      'two changes',
    )
    const stats = w.stats()
    expect(stats.changes).toBeGreaterThanOrEqual(2)
    expect(stats.batches).toBeGreaterThanOrEqual(1)
    expect(stats.queueHighWater).toBeGreaterThanOrEqual(1)
    expect(stats.overflows).toBe(0)
    expect(stats.crawlMs).toBeGreaterThanOrEqual(0)
    expect(stats.limits.maxUserWatches).toBeGreaterThan(0)
    expect(stats.watches).toBe(1)
  })

  it('with debounceMs, takes nothing before the debounce is over, for a listener or an iterator that comes while changes wait too', async () => {
    const dir = tempDir()
    // Longer than the test: whatever is taken comes from elsewhere than the debounce's end.
    const w = await open(dir, { debounceMs: 2 ** 31 - 1 })
    // Once a watcher of the same directory has seen the file, `w` holds it too: the reader hands
    // each read to every session of the instance before it rings any.
    const witness = await open(dir)
    const seen: Change[] = []
    witness.on('events', (batch) => seen.push(...batch))
    sh(dir, 'touch "$D/f"')
    await until(() => seen.some((c) => c.path === join(dir, 'f')), 'the witness to see f')
    const batches: Change[][] = []
    w.on('events', (batch) => batches.push(batch))
    const iterator = w[Symbol.asyncIterator]()
    const next = iterator.next()
    // A listener's arrival would take in a microtask, an iterator's at once: a turn of the loop
    // is room for both.
    await new Promise((resolve) => setImmediate(resolve))
    expect(batches).toEqual([])
    await w.close()
    // Closed with nothing taken, the iterator ends without a batch.
    expect(await withinDeadline(next, 'the iterator to end')).toEqual({ done: true, value: undefined })
  })

  it('close() returns the same promise every time, ends a waiting iterator, and drops every watch', async () => {
    const dir = tempDir()
    const w = await open(dir)
    const iterator = w[Symbol.asyncIterator]()
    const pending = iterator.next()
    const first = w.close()
    expect(w.close()).toBe(first)
    await first
    expect(w.closed).toBe(true)
    expect(w.stats().watches).toBe(0)
    expect(await withinDeadline(pending, 'the waiting iterator to end')).toEqual({ done: true, value: undefined })
  })

  it('with recursive: false, reports the root entries (a new subdirectory too) and nothing below them', async () => {
    const dir = tempDir()
    mkdirSync(join(dir, 'old'))
    const w = await open(dir, { recursive: false })
    expect(w.stats().watches).toBe(1)
    const script = 'mkdir "$D/new"; touch "$D/new/f" "$D/old/g" "$D/top"; touch "$D/.end"'
    expect(brief(await heldAfter(w, dir, () => sh(dir, script)))).toEqual([`create ${dir}/new/`, `create ${dir}/top`])
  })

  it('closes when its AbortSignal aborts', async () => {
    const dir = tempDir()
    const controller = new AbortController()
    const w = await open(dir, { signal: controller.signal })
    const closed = new Promise<void>((resolve) => w.once('close', resolve))
    controller.abort()
    await withinDeadline(closed, 'close on abort')
    expect(w.closed).toBe(true)
  })

  it('rejects bad options with typed errors before watching anything', () => {
    const dir = tempDir()
    expect(() => watch(dir, { debounceMs: -1 })).toThrow(RangeError)
    expect(() => watch(dir, { maxBacklog: 0 })).toThrow(RangeError)
    expect(() => watch(dir, { maxQueuedBytes: 0.5 })).toThrow(RangeError)
    expect(() => watch(dir, { ignore: [42 as never] })).toThrow(TypeError)
    expect(() => watch(dir, { recursive: 'no' } as never)).toThrow(TypeError)
    expect(() => watch(dir, { recurse: true } as never)).toThrow(/unknown option "recurse"/)
    expect(() => watch([])).toThrow(TypeError)
    expect(() => watch(join(dir, 'missing'))).toThrow(/ENOENT/)
  })

  it('with a small maxQueuedBytes and nobody reading, yields an overflow then a re-scan that reports every file', async () => {
    const dir = tempDir()
    for (let i = 0; i < 10; i++) mkdirSync(join(dir, `d${i}`))
    const w = await open(dir, { maxQueuedBytes: 4096 })
    // Nobody iterates or listens: changes wait natively, the 4 KiB bound fills, the reader stops,
    // and some 90k events overflow the kernel's queue (max_queued_events is 16384 here).
    execFileSync(
      'sh',
      [
        '-c',
        `
      i=0; while [ $i -lt 10 ]; do (cd "$D/d$i" && seq 1 3000 | sed 's/^/f/' | xargs touch) & i=$((i+1)); done; wait`,
      ],
      { env: { ...process.env, D: dir } },
    )
    const want = new Set<string>()
    for (let i = 0; i < 10; i++) for (let n = 1; n <= 3000; n++) want.add(join(dir, `d${i}`, `f${n}`))
    const seen = new Set<string>()
    const kinds: string[] = []
    await collect(
      w,
      (changes) => {
        for (const c of changes.splice(0)) {
          if (kinds.at(-1) !== c.type) kinds.push(c.type)
          if (c.type === 'create' || c.type === 'modify') seen.add(c.path)
        }
        return seen.size >= want.size
      },
      60_000,
    )
    expect(kinds).toContain('overflow')
    expect(w.stats().overflows).toBeGreaterThanOrEqual(1)
    expect([...want].filter((p) => !seen.has(p))).toEqual([])
  }, 90_000)

  it('ends with every file reported, or an overflow and a re-scan that reports them, when the consumer stops reading for 4 s during 30k creates', async () => {
    const dir = tempDir()
    for (let i = 0; i < 10; i++) mkdirSync(join(dir, `d${i}`))
    const w = await open(dir)
    // Nobody reads for 4 s: the writer runs in another process meanwhile.
    const writer = execFileSync(
      'sh',
      [
        '-c',
        `
      i=0; while [ $i -lt 10 ]; do (cd "$D/d$i" && seq 1 3000 | sed 's/^/f/' | xargs touch) & i=$((i+1)); done; wait; echo done`,
      ],
      { env: { ...process.env, D: dir }, encoding: 'utf8' },
    )
    expect(writer.trim()).toBe('done')
    const blockedUntil = Date.now() + 4000
    while (Date.now() < blockedUntil) {
      /* the event loop is stalled */
    }
    const want = new Set<string>()
    for (let i = 0; i < 10; i++) for (let n = 1; n <= 3000; n++) want.add(join(dir, `d${i}`, `f${n}`))
    const seen = new Set<string>()
    const others: Change[] = []
    let overflows = 0
    await collect(
      w,
      (changes) => {
        for (const c of changes.splice(0)) {
          if (c.type === 'overflow') overflows += 1
          else if (c.type === 'create') seen.add(c.path)
          else others.push(c)
        }
        return seen.size >= want.size
      },
      60_000,
    ).catch((error: unknown) => {
      const some = JSON.stringify(others.slice(0, 5))
      throw new Error(`${seen.size} of ${want.size} files created, ${overflows} overflow(s), other changes: ${some}`, {
        cause: error,
      })
    })
    expect([...want].filter((p) => !seen.has(p))).toEqual([])
    expect(w.stats().overflows).toBe(overflows)
  }, 90_000)

  it("hands a consumer far behind its changes in parts of at most 1,024, 'events' listeners included", async () => {
    const dir = tempDir()
    // Two watchers of one directory share the instance's reads, each handed to both before
    // either is rung: once `pace` has seen the last entry, `behind`, which nobody has asked for
    // anything yet, holds every change natively. The last entry is a directory: its creation is
    // one event, with nothing of it to come after (a file's IN_CLOSE_WRITE could, as a change
    // of its own once the file's creation is taken).
    const pace = await open(dir)
    const behind = await open(dir)
    let paced = false
    pace.on('events', (changes) => {
      if (changes.some((c) => c.path.endsWith('/last'))) paced = true
    })
    const files = 6000
    for (let i = 0; i < files; i++) writeFileSync(join(dir, `f${i}`), '')
    mkdirSync(join(dir, 'last'))
    await until(() => paced, 'the pacing watcher saw the last entry')

    const sizes: number[] = []
    const seen = new Set<string>()
    behind.on('events', (changes) => {
      sizes.push(changes.length)
      for (const c of changes) if (c.type === 'create') seen.add(c.path)
    })
    await until(() => seen.size === files + 1, `all ${files + 1} creates`, 10_000)
    expect(sizes[0]).toBe(1024)
    expect(Math.max(...sizes)).toBe(1024)
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(files + 1)
  })
})
