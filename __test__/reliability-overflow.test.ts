/**
 * Reliability, overflow (issue 6): events lost are said to be lost at every layer. The kernel
 * queue's overflow is already proven for `Inotify` (inotify.test.ts: TerminalEventError, or the
 * IN_Q_OVERFLOW event with wd -1), for trees (tree-overflow.test.ts: IN_Q_OVERFLOW then a re-scan)
 * and for `watch()` (watch.test.ts: an `overflow` change then a re-scan, with a small native
 * queue). Here: the two layers above those, `subscribe()` (the @parcel/watcher drop-in, whose own
 * Linux backend drops the overflow silently) and a `watch()` iterator that falls behind while
 * `'events'` listeners drive delivery.
 */
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { watch, type Change, type Watcher } from '../src/index'
import { makeTempDir, until } from './helpers'
import { withinDeadline } from './inotify-fixture'

const CHILD = resolve(__dirname, 'fixtures/reliability-child.cjs')
const watchers: Watcher[] = []
const cleanups: (() => void)[] = []
afterEach(async () => {
  for (const w of watchers.splice(0)) await w.close()
  for (const cleanup of cleanups.splice(0)) cleanup()
})

function tempDir(): string {
  const { dir, cleanup } = makeTempDir('inotify-napi-overflow-')
  cleanups.push(cleanup)
  return dir
}

describe('overflow above the kernel', () => {
  it('subscribe() tells its callback of a kernel queue overflow (an ERR_INOTIFY_OVERFLOW error), then delivers the re-scan: every file', async () => {
    const dir = tempDir()
    const files = 12_000
    // A subscription in a child process that is stopped (SIGSTOP) while 12,000 files are made:
    // its reader cannot read, and the kernel queue (16,384 events) overflows.
    const child = spawn(process.execPath, [CHILD, 'subscribeOverflow', dir, String(files)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const ended = new Promise<number | null>((resolveEnd) => child.on('close', resolveEnd))
    try {
      await until(() => stderr.includes('ready\n'), 'the subscription', 10_000)
      process.kill(child.pid!, 'SIGSTOP')
      for (let i = 0; i < files; i++) writeFileSync(join(dir, `f${i}`), '')
      process.kill(child.pid!, 'SIGCONT')
      expect(await withinDeadline(ended, 'the child to end', 40_000)).toBe(0)
    } finally {
      child.kill('SIGKILL')
    }
    const result = JSON.parse(stdout) as {
      calls: { error?: { code: string; message: string; isInotifyError: boolean } }[]
      seen: number
    }
    const errors = result.calls.filter((c) => c.error !== undefined).map((c) => c.error!)
    expect(errors.length).toBeGreaterThanOrEqual(1)
    expect(errors[0]).toMatchObject({ code: 'ERR_INOTIFY_OVERFLOW', isInotifyError: true })
    expect(errors[0]!.message).toContain('fs.inotify.max_queued_events')
    expect(result.seen).toBe(files)
  }, 60_000)

  it("a watch() iterator that falls more than maxBacklog batches behind 'events' listeners gets an overflow change, never a silent gap", async () => {
    const dir = tempDir()
    const w = watch(dir, { maxBacklog: 2 })
    watchers.push(w)
    await withinDeadline(w.ready, 'ready')
    const heard: Change[][] = []
    w.on('events', (batch) => heard.push(batch))
    const iterator = w[Symbol.asyncIterator]()
    // The iterator starts (and takes the first batch), then is not read while five more come.
    const first = iterator.next()
    for (let i = 0; i < 6; i++) {
      writeFileSync(join(dir, `b${i}`), '')
      await until(() => heard.length > i, `batch ${i} at the listener`)
    }
    expect((await first).value).toEqual(heard[0])
    const rest: Change[][] = []
    for (;;) {
      const next = await withinDeadline(
        Promise.race([iterator.next(), new Promise<'idle'>((r) => setTimeout(r, 200, 'idle'))]),
        'the backlog',
      )
      if (next === 'idle' || next.done === true) break
      rest.push(next.value)
    }
    // Five batches came while it held at most two: the backlog was cut and replaced by an overflow.
    expect(rest[0]).toEqual([{ type: 'overflow', path: dir, isDir: true }])
    expect(rest.length).toBeLessThanOrEqual(3)
    expect(w.stats().overflows).toBeGreaterThanOrEqual(1)
  })
})
