/**
 * Reliability, lifecycles (issue 6): worker threads terminated mid-stream, process.exit() with
 * watchers open, 2,000 open/close cycles that leave nothing behind, processes that exit by
 * themselves, and signals that interrupt the reader threads' waits.
 */
import { spawn, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { until } from './helpers'
import { withinDeadline } from './inotify-fixture'
import { holdings, holdingsOnceClosed, openCloseCycles } from './reliability-fixture'
import { REPO, useTreeFixture } from './tree-fixture'

const fx = useTreeFixture()
const DIST = resolve(REPO, 'dist/index.js')
const CHILD = resolve(__dirname, 'fixtures/reliability-child.cjs')

/** The watcher each worker runs, consuming events and counting them back to the parent. */
const WORKER_SOURCES = {
  'an Inotify read by an async eventGen': `
    const inotify = new Inotify({ paths: [workerData.dir], blockDurationS: 0.01 })
    ;(async () => { for await (const e of inotify.eventGen({ yieldNones: false })) parentPort.postMessage(1) })()
    parentPort.postMessage('started')`,
  'an InotifyTree': `
    const tree = new InotifyTree(workerData.dir)
    tree.ready.then(() => parentPort.postMessage('started'))
    ;(async () => { for await (const e of tree.eventGen({ yieldNones: false })) parentPort.postMessage(1) })()`,
  'a watch()': `
    const w = watch(workerData.dir)
    w.ready.then(() => parentPort.postMessage('started'))
    ;(async () => { for await (const batch of w) parentPort.postMessage(batch.length) })()`,
} as const

describe('worker threads', () => {
  for (const [what, source] of Object.entries(WORKER_SOURCES)) {
    it(`terminate() of a worker running ${what} mid-stream ends it, joins its reader thread and releases its instance`, async () => {
      const dir = fx.tempDir()
      const before = holdings()
      const worker = new Worker(
        `
        const { parentPort, workerData } = require('node:worker_threads')
        const { Inotify, InotifyTree, watch } = require(workerData.dist)
        ${source}`,
        { eval: true, workerData: { dist: DIST, dir } },
      )
      const exited = new Promise<number>((resolveExit) => worker.once('exit', resolveExit))
      let received = 0
      let started = false
      worker.on('message', (message: unknown) => {
        if (message === 'started') started = true
        else received += Number(message)
      })
      const failed = new Promise<never>((_, reject) => worker.once('error', reject))
      await withinDeadline(
        Promise.race([until(() => started, 'the worker to start'), failed]),
        'the worker to start',
        10_000,
      )
      // Events flow: a file every millisecond, until the worker is gone.
      let i = 0
      const writer = setInterval(() => writeFileSync(join(dir, `f${i++ % 100}`), 'x'), 1)
      try {
        await until(() => received >= 200, `200 events in the worker (got ${received})`, 10_000)
        expect(holdings().inotify).toBe(before.inotify + 1)
        await withinDeadline(worker.terminate(), 'terminate()')
      } finally {
        clearInterval(writer)
      }
      expect(await withinDeadline(exited, 'the worker to exit')).toBe(1)
      // The env cleanup hook closed the instance and waited for its release: nothing is left of it.
      await until(
        () => {
          const now = holdings()
          return now.inotify === before.inotify && now.threads <= before.threads
        },
        `the worker's threads and instance to go (${JSON.stringify(holdings())} vs ${JSON.stringify(before)})`,
      )
    })
  }
})

describe('open/close cycles', () => {
  it('2,000 open/close cycles of Inotify, InotifyTree and watch() leave no descriptor, thread or inotify watch behind', async () => {
    const dir = fx.tempDir()
    for (const sub of ['a', 'b', 'c']) spawnSync('mkdir', ['-p', join(dir, sub, 'deeper')])
    // One cycle of each kind first: whatever Node or the binding start lazily (libuv's thread
    // pool, say) is then running before the count.
    await openCloseCycles(dir, 4)
    const before = await holdingsOnceClosed()
    const cycles = 2000
    await openCloseCycles(dir, cycles)
    const after = await holdingsOnceClosed()
    console.log(`after ${cycles} cycles: ${JSON.stringify(after)} (before: ${JSON.stringify(before)})`)
    // close() settled: every descriptor and watch is gone. A reader thread ends just after it
    // rings the release, and nobody joins it: the last one (or one counted in before) may still
    // be on its way out.
    expect({ ...after, threads: 0 }).toEqual({ ...before, threads: 0 })
    await until(() => holdings().threads <= before.threads, `threads back to ${before.threads}`)
  }, 60_000)
})

describe('process exit', () => {
  /** Runs `script` in a child node with the built package and a temp dir as `DIR`. */
  function runChild(script: string, timeoutMs: number): ReturnType<typeof spawnSync> {
    const prelude = `const { Inotify, InotifyTree, watch } = require(${JSON.stringify(DIST)}); const DIR = ${JSON.stringify(fx.tempDir())};`
    return spawnSync(process.execPath, ['-e', prelude + script], { cwd: REPO, encoding: 'utf8', timeout: timeoutMs })
  }

  it('process.exit() with an Inotify, a tree and a watch() open while events flow exits cleanly', () => {
    const result = spawnSync(process.execPath, [CHILD, 'exitWithOpenWatchers', fx.tempDir()], {
      encoding: 'utf8',
      timeout: 10_000,
    })
    expect(result.stderr).toBe('')
    expect(result).toMatchObject({ status: 0, signal: null })
    expect(JSON.parse(result.stdout)).toMatchObject({ exiting: true })
  })

  it.each([
    ['a closed tree', `const t = new InotifyTree(DIR); t.ready.then(() => { t.close(); console.log('done') })`],
    [
      'an unref()d tree with an eventGen waiting',
      `
      const t = new InotifyTree(DIR).unref()
      ;(async () => { for await (const e of t.eventGen()) {} })()
      console.log('done')`,
    ],
    ['a closed watch()', `const w = watch(DIR); w.ready.then(() => w.close()).then(() => console.log('done'))`],
    [
      'an unref()d watch() with an iterator waiting',
      `
      const w = watch(DIR).unref()
      ;(async () => { for await (const b of w) {} })()
      console.log('done')`,
    ],
  ])('exits by itself with %s', (_what, script) => {
    const result = runChild(script, 10_000)
    expect(result.stderr).toBe('')
    expect(result).toMatchObject({ status: 0, signal: null, stdout: 'done\n' })
  })

  // Once ready, an unref()'d timer fires only if something else keeps the process alive: it says
  // so and ends the process; a process with nothing to keep it would exit before, without a word.
  const stillAlive = `setTimeout(() => { console.log('still'); process.exit(0) }, 300).unref()`
  it.each([
    ['an open tree', `const t = new InotifyTree(DIR); t.ready.then(() => { console.log('open'); ${stillAlive} })`],
    ['an open watch()', `const w = watch(DIR); w.ready.then(() => { console.log('open'); ${stillAlive} })`],
  ])('stays alive with %s', (_what, script) => {
    const result = runChild(script, 10_000)
    expect(result.stderr).toBe('')
    expect(result).toMatchObject({ status: 0, signal: null, stdout: 'open\nstill\n' })
  })
})

describe('signals', () => {
  it('hundreds of signals sent at the reader threads (EINTR in epoll_wait and read) while 2,000 files are made lose no event', async () => {
    const dir = fx.tempDir()
    const files = 2000
    const child = spawn(process.execPath, [CHILD, 'signals', dir, String(files)], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const ended = new Promise<number | null>((resolveEnd) => child.on('close', resolveEnd))
    let sent = 0
    let timer: NodeJS.Timeout | undefined
    try {
      await until(() => stderr.includes('\n'), 'the child to list its reader threads', 10_000)
      let readers: number[] = []
      try {
        readers = (JSON.parse(stderr.split('\n')[0]!) as { readers: number[] }).readers
      } catch {
        throw new Error(`the child's first line on stderr is not its reader list:\n${stderr}`)
      }
      expect(readers, `reader threads listed by the child; its stderr: ${stderr}`).toHaveLength(2)
      // kill(2) on a thread id makes that thread the signal's preferred target: each signal lands
      // on a reader thread, in whatever system call it is waiting in (epoll_wait, mostly). One
      // per millisecond, in turn: a signal sent while the last is still pending would be merged.
      timer = setInterval(() => {
        try {
          process.kill(readers[sent % readers.length]!, 'SIGUSR1')
          sent += 1
        } catch {
          // The child is ending.
        }
      }, 1)
      await until(() => sent >= 90, 'signals to idle reader threads')
      child.stdin.write('go\n')
      expect(await withinDeadline(ended, 'the child to end', 30_000)).toBe(0)
    } finally {
      clearInterval(timer)
      child.kill('SIGKILL')
    }
    const result = JSON.parse(stdout) as {
      handled: number
      plain: number
      tree: number
      watch: number
      failures: string[]
    }
    console.log(`signals sent to reader threads: ${sent}; handled by the child: ${result.handled}`)
    expect(sent).toBeGreaterThanOrEqual(300)
    expect(result.handled).toBeGreaterThan(0)
    expect(result).toMatchObject({ plain: files, tree: files, watch: files, failures: [] })
  }, 60_000)
})
