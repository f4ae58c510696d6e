/**
 * End-to-end: how `Inotify` waits, ends and lets go (watch removal, timeouts, ticks, close, abort,
 * disposal, process exit, the blocking generator).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { IN_CREATE, InotifyError, type Inotify, type InotifyEvent } from '../src/index'
import { collectUntil } from './helpers'
import { eventsOf, firstFilename, sh, useFixture, withinDeadline } from './inotify-fixture'

const fx = useFixture()

const ROOT = resolve(__dirname, '..')

/** Collects what a generator yields until it ends by itself (the generator must have a timeoutS). */
function drain<T>(gen: AsyncGenerator<T>): Promise<T[]> {
  return collectUntil(gen, () => false, 'the generator to end', 10_000)
}

/** Milliseconds a `for await` over `gen` takes to end by itself. */
async function msUntilEnd(gen: AsyncGenerator<unknown>): Promise<number> {
  const start = performance.now()
  await withinDeadline(
    (async () => {
      for await (const _item of gen) {
        // Nothing happens in the directory: only the generator's own end matters.
      }
    })(),
    'the generator to end',
  )
  return performance.now() - start
}

/** Thread ids of this process's inotify reader threads. */
function readerThreads(): string[] {
  return readdirSync('/proc/self/task').filter((tid) => {
    try {
      return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === 'inotify-reader'
    } catch {
      return false // the thread ended meanwhile
    }
  })
}

/** How many times a thread went to sleep by itself (each wait it woke from). */
function voluntarySwitches(tid: string): number {
  const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8')
  return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)?.[1])
}

describe('removing watches', () => {
  it('reports nothing more for a path after removeWatch', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open()
    inotify.addWatch(dir)
    inotify.removeWatch(dir)
    expect(inotify.watchCount).toBe(0)
    sh(dir, 'touch "$D/after"; rm "$D/after"')
    expect(await drain(inotify.eventGen({ timeoutS: 0.3, yieldNones: false }))).toEqual([])
  })

  it('reports nothing more for a wd after removeWatchWithId, while another watch still reports', async () => {
    const removed = fx.tempDir()
    const kept = fx.tempDir()
    const inotify = fx.open()
    const wd = inotify.addWatch(removed)
    inotify.addWatch(kept, IN_CREATE)
    inotify.removeWatchWithId(wd)
    writeFileSync(join(removed, 'ignored'), '')
    writeFileSync(join(kept, 'seen'), '')
    const events = await drain(inotify.eventGen({ timeoutS: 0.3, yieldNones: false }))
    expect(events.map((e) => [e.path, e.filename])).toEqual([[kept, 'seen']])
  })

  it('throws InotifyError EINVAL when removing a path that is not watched', () => {
    const dir = fx.tempDir()
    const inotify = fx.open()
    let thrown: unknown
    try {
      inotify.removeWatch(dir)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(InotifyError)
    expect(thrown).toMatchObject({ code: 'EINVAL', path: dir })
  })
})

describe('timeouts and ticks', () => {
  // The one timing assertion the contract makes: timeoutS is kept on a monotonic clock, not
  // rounded up to the block duration.
  it('ends the generator within 100 ms after timeoutS 0.3 even with blockDurationS 5', async () => {
    const inotify = fx.open({ blockDurationS: 5 })
    inotify.addWatch(fx.tempDir())
    const elapsed = await msUntilEnd(inotify.eventGen({ timeoutS: 0.3 }))
    expect(elapsed).toBeGreaterThanOrEqual(295)
    expect(elapsed).toBeLessThan(400)
  })

  it('ends the generator within 100 ms after timeoutS 0.3 even with blockDurationS null', async () => {
    const inotify = fx.open({ blockDurationS: null })
    inotify.addWatch(fx.tempDir())
    const elapsed = await msUntilEnd(inotify.eventGen({ timeoutS: 0.3 }))
    expect(elapsed).toBeGreaterThanOrEqual(295)
    expect(elapsed).toBeLessThan(400)
  })

  it('yields several nulls with a short blockDurationS and no activity', async () => {
    const inotify = fx.open({ blockDurationS: 0.05 })
    inotify.addWatch(fx.tempDir())
    const items = await collectUntil(inotify.eventGen(), (i) => i.length >= 3, 'three nulls')
    expect(items).toEqual([null, null, null])
  })

  it('yields no null with yieldNones false, though ticks pass', async () => {
    const inotify = fx.open({ blockDurationS: 0.05 })
    inotify.addWatch(fx.tempDir())
    expect(await drain(inotify.eventGen({ timeoutS: 0.4, yieldNones: false }))).toEqual([])
  })

  it('wakes its reader thread at each tick only while a generator yields nulls: an idle yieldNones false generator leaves it asleep', async () => {
    const before = new Set(readerThreads())
    const inotify = fx.open({ blockDurationS: 0.02 })
    inotify.addWatch(fx.tempDir())
    // With nulls: a tick (a wake-up of the reader thread) every 20 ms. This also starts the thread.
    const ticking = await drain(inotify.eventGen({ timeoutS: 0.5 }))
    expect(ticking.length).toBeGreaterThanOrEqual(5)
    const [reader] = readerThreads().filter((tid) => !before.has(tid))
    expect(reader).toBeDefined()
    const wakeUps = async (gen: AsyncGenerator<unknown>): Promise<number> => {
      const start = voluntarySwitches(reader!)
      await drain(gen)
      return voluntarySwitches(reader!) - start
    }
    const withNones = await wakeUps(inotify.eventGen({ timeoutS: 0.5 }))
    // Without nulls, for as long: the thread wakes to be armed and to be paused, not 25 times.
    const withoutNones = await wakeUps(inotify.eventGen({ timeoutS: 0.5, yieldNones: false }))
    console.log(
      `reader thread wake-ups over 0.5 s at blockDurationS 0.02: ${withNones} yielding nulls, ${withoutNones} not`,
    )
    expect(withNones).toBeGreaterThanOrEqual(5)
    expect(withoutNones).toBeLessThanOrEqual(3)
  })

  it('gives a generator that yields nulls its nulls while another, yielding none, waits on the same instance', async () => {
    const inotify = fx.open({ blockDurationS: 0.05 })
    inotify.addWatch(fx.tempDir())
    // Started first, so woken first by every tick: it takes each cycle's end off the shared queue.
    const quiet = inotify.eventGen({ yieldNones: false })
    const pending = quiet.next()
    await new Promise((resolve) => setTimeout(resolve, 30))
    const ticking = inotify.eventGen()
    try {
      const items = await collectUntil(ticking, (i) => i.length >= 3, 'three nulls')
      expect(items).toEqual([null, null, null])
    } finally {
      await ticking.return()
      inotify.close()
      expect(await withinDeadline(pending, 'the quiet generator to end')).toEqual({ done: true, value: undefined })
    }
  })

  it('restarts the timeout at each event', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ blockDurationS: 0.05 })
    inotify.addWatch(dir, IN_CREATE)
    // 'second' comes more than 0.3 s after the start but less than 0.3 s after 'first' arrived:
    // only a timeout counted from the last event sees it.
    const timers: NodeJS.Timeout[] = [setTimeout(() => writeFileSync(join(dir, 'first'), ''), 200)]
    const seen: string[] = []
    try {
      await withinDeadline(
        (async () => {
          for await (const event of inotify.eventGen({ timeoutS: 0.3, yieldNones: false })) {
            seen.push(event.filename)
            if (event.filename === 'first') timers.push(setTimeout(() => writeFileSync(join(dir, 'second'), ''), 150))
          }
        })(),
        'the generator to end',
      )
    } finally {
      for (const timer of timers) clearTimeout(timer)
    }
    expect(seen).toEqual(['first', 'second'])
  })
})

describe('closing', () => {
  it('ends a pending for-await loop promptly when close() is called, and close() can be called twice', async () => {
    const inotify = fx.open({ blockDurationS: null })
    inotify.addWatch(fx.tempDir())
    let closedBeforeEnd = false
    const timer = setTimeout(() => {
      inotify.close()
      closedBeforeEnd = true
    }, 100)
    try {
      const seen: (InotifyEvent | null)[] = []
      await withinDeadline(
        (async () => {
          for await (const item of inotify.eventGen()) seen.push(item)
        })(),
        'the loop to end after close()',
        3000,
      )
      expect(closedBeforeEnd).toBe(true)
      expect(seen).toEqual([])
    } finally {
      clearTimeout(timer)
    }
    expect(() => inotify.close()).not.toThrow()
    expect(inotify.closed).toBe(true)
    expect(inotify.fd).toBe(-1)
    expect(inotify.watchCount).toBe(0)
  })

  it('throws InotifyError ERR_INOTIFY_CLOSED from addWatch after close()', () => {
    const inotify = fx.open()
    inotify.close()
    expect(() => inotify.addWatch(fx.tempDir())).toThrow(InotifyError)
    expect(() => inotify.addWatch(fx.tempDir())).toThrow(expect.objectContaining({ code: 'ERR_INOTIFY_CLOSED' }))
  })

  it('closes on Symbol.dispose and on Symbol.asyncDispose', async () => {
    const syncDisposed = fx.open()
    syncDisposed[Symbol.dispose]()
    expect(syncDisposed.closed).toBe(true)
    expect(() => syncDisposed.addWatch(fx.tempDir())).toThrow(expect.objectContaining({ code: 'ERR_INOTIFY_CLOSED' }))
    const asyncDisposed = fx.open()
    await asyncDisposed[Symbol.asyncDispose]()
    expect(asyncDisposed.closed).toBe(true)
  })

  it('rejects a pending eventGen with an AbortError when its signal aborts', async () => {
    const inotify = fx.open({ blockDurationS: null })
    inotify.addWatch(fx.tempDir())
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), 100)
    try {
      const loop = (async () => {
        for await (const _item of inotify.eventGen({ signal: controller.signal })) {
          // Nothing happens: only the abort ends the wait.
        }
      })()
      await expect(withinDeadline(loop, 'the abort', 3000)).rejects.toMatchObject({ name: 'AbortError' })
      expect(controller.signal.aborted).toBe(true)
    } finally {
      clearTimeout(timer)
    }
  })
})

describe('process exit', () => {
  /** Runs `script` in a child node with the built package as `Inotify` and a temp dir as `DIR`. */
  function runChild(script: string, timeoutMs: number): ReturnType<typeof spawnSync> {
    const dist = resolve(ROOT, 'dist/index.js')
    if (!existsSync(dist)) throw new Error(`${dist} is missing: run \`npm run build\` first (npm test does)`)
    const prelude = `const { Inotify } = require(${JSON.stringify(dist)}); const DIR = ${JSON.stringify(fx.tempDir())};`
    return spawnSync(process.execPath, ['-e', prelude + script], { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs })
  }

  it('exits by itself once its watcher is closed', () => {
    const result = runChild(`const i = new Inotify({ paths: [DIR] }); i.close(); console.log('closed')`, 10_000)
    expect(result.stderr).toBe('')
    expect(result).toMatchObject({ status: 0, signal: null, stdout: 'closed\n' })
  })

  it('exits by itself with an open unref()d watcher, even with an eventGen waiting', () => {
    const result = runChild(
      `
      const i = new Inotify({ paths: [DIR] }).unref()
      ;(async () => { for await (const e of i.eventGen()) {} })()
      console.log('waiting')`,
      10_000,
    )
    expect(result.stderr).toBe('')
    expect(result).toMatchObject({ status: 0, signal: null, stdout: 'waiting\n' })
  })

  it('stays alive while a ref()d watcher is open', () => {
    const result = runChild(`new Inotify({ paths: [DIR] }); console.log('open')`, 1500)
    expect(result.stdout).toBe('open\n')
    expect(result.signal).toBe('SIGTERM')
  })
})

describe('eventGenSync', () => {
  /** Pulls from a blocking generator until `done`, bounded by a deadline checked at each tick. */
  function collectSync<T>(gen: Generator<T>, done: (items: T[]) => boolean, timeoutMs = 5000): T[] {
    const items: T[] = []
    const deadline = performance.now() + timeoutMs
    for (const item of gen) {
      items.push(item)
      if (done(items)) return items
      if (performance.now() > deadline)
        throw new Error(`eventGenSync gave no end in ${timeoutMs} ms; got ${items.length} items`)
    }
    return items
  }

  it('reports the seed example through the blocking generator', () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ blockDurationS: 0.05 })
    const wd = inotify.addWatch(dir)
    sh(dir, 'touch "$D/aa"; rm "$D/aa"; mkdir "$D/dir1"; rmdir "$D/dir1"')
    const events = eventsOf(collectSync(inotify.eventGenSync(), (items) => eventsOf(items).length >= 7))
    expect(events.map((e) => [e.typeNames, e.filename])).toEqual([
      [['IN_CREATE'], 'aa'],
      [['IN_OPEN'], 'aa'],
      [['IN_ATTRIB'], 'aa'],
      [['IN_CLOSE_WRITE'], 'aa'],
      [['IN_DELETE'], 'aa'],
      [['IN_ISDIR', 'IN_CREATE'], 'dir1'],
      [['IN_ISDIR', 'IN_DELETE'], 'dir1'],
    ])
    for (const event of events) expect(event).toMatchObject({ header: { wd, cookie: 0, len: 16 }, path: dir })
  })

  it('ends the blocking generator after timeoutS without events', () => {
    const inotify = fx.open({ blockDurationS: 0.05 })
    inotify.addWatch(fx.tempDir())
    const start = performance.now()
    const items = collectSync(inotify.eventGenSync({ timeoutS: 0.3 }), () => false)
    expect(performance.now() - start).toBeGreaterThanOrEqual(295)
    expect(eventsOf(items)).toEqual([])
  })

  it('yields no null with blockDurationS null (no ticks), though its waits are sliced', () => {
    const inotify = fx.open({ blockDurationS: null })
    inotify.addWatch(fx.tempDir())
    const items = collectSync(inotify.eventGenSync({ timeoutS: 0.35 }), () => false)
    expect(items).toEqual([])
  })

  it('lets worker.terminate() end a worker blocked in eventGenSync with blockDurationS null', async () => {
    const dist = resolve(ROOT, 'dist/index.js')
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads')
      const { Inotify } = require(workerData.dist)
      const inotify = new Inotify({ paths: [workerData.dir], blockDurationS: null })
      parentPort.postMessage('blocking')
      for (const event of inotify.eventGenSync()) parentPort.postMessage(String(event))
    `,
      { eval: true, workerData: { dist, dir: fx.tempDir() } },
    )
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve))
    await withinDeadline(
      new Promise((resolve, reject) => {
        worker.once('message', resolve)
        worker.once('error', reject)
      }),
      'the worker to start blocking',
    )
    await withinDeadline(worker.terminate(), 'terminate() of a worker blocked in eventGenSync')
    expect(await withinDeadline(exited, 'the worker to exit')).toBe(1)
  })

  it('loses nothing when an async loop is left and the blocking generator takes over', async () => {
    const dir = fx.tempDir()
    const inotify: Inotify = fx.open({ blockDurationS: 0.05 })
    inotify.addWatch(dir, IN_CREATE)
    const names = ['s1', 's2', 's3', 's4']
    for (const name of names) writeFileSync(join(dir, name), '')
    const first: string[] = []
    first.push(await firstFilename(inotify))
    const rest = collectSync(inotify.eventGenSync({ yieldNones: false, timeoutS: 0.3 }), () => false)
    expect([...first, ...rest.map((e) => e.filename)]).toEqual(names)
  })
})
