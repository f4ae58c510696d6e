/**
 * Reliability, limits (issue 6): the per-user inotify limits reached, in user namespaces with
 * small values (never by changing the machine's sysctls): typed errors with the numbers and the
 * sysctl to raise, partial watching that keeps working, nothing leaked, no CPU burnt at the limit.
 *
 * Design decision, tested here: every `Inotify`, `InotifyTree`/`InotifyTrees` and `watch()` holds
 * one kernel inotify instance of its own (as the Python package's adapters do), so its watch
 * descriptors, queue and overflow are its own and closing it releases everything at once. 200
 * objects therefore need 200 instances: past `fs.inotify.max_user_instances` the next one throws
 * `EMFILE` naming that sysctl, and closing any of them makes room again.
 */
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useTreeFixture, type ChildResult } from './tree-fixture'

const fx = useTreeFixture()
const CHILD = resolve(__dirname, 'fixtures/reliability-child.cjs')

function parsed<T>(result: ChildResult): T {
  if (result.code !== 0)
    throw new Error(`the child failed (${result.code ?? result.signal}):\n${result.stderr}\n${result.stdout}`)
  return JSON.parse(result.stdout) as T
}

/** Runs a scenario of the child script in a user namespace where `file` holds `value`. */
async function inNamespace<T>(
  file: 'max_inotify_instances' | 'max_inotify_watches',
  value: number,
  scenario: string,
  dir: string,
  ...args: string[]
): Promise<T> {
  return parsed<T>(
    await fx.run(
      'unshare',
      [
        '-U',
        '-r',
        'sh',
        '-c',
        `echo ${value} > /proc/sys/user/${file} && exec "$0" "$@"`,
        process.execPath,
        CHILD,
        scenario,
        dir,
        String(value),
        ...args,
      ],
      { timeoutMs: 30_000 },
    ),
  )
}

interface ErrorInfo {
  name: string
  code: string
  syscall?: string
  path?: string
  message: string
  isInotifyError: boolean
  isWatchLimitError: boolean
  needed?: number
  watched?: number
  limit?: number
}

describe('max_user_instances', () => {
  it('200 Inotify and watch() objects with room for 6: 6 open, the rest throw EMFILE naming fs.inotify.max_user_instances, and closing makes room', async () => {
    const result = await inNamespace<{
      limitFile: number
      error: ErrorInfo
      failures: { count: number; codes: string[] }
      treeError: ErrorInfo
      atLimit: { opened: number; inotifyFds: number; threads: number }
      reopened: number
      reopenError: ErrorInfo
      before: { fds: number; threads: number }
      after: { fds: number; threads: number; inotifyFds: number }
    }>('max_inotify_instances', 6, 'instances', fx.tempDir())
    expect(result.limitFile).toBe(6)
    expect(result.atLimit).toMatchObject({ opened: 6, inotifyFds: 6 })
    expect(result.failures).toEqual({ count: 194, codes: ['EMFILE'] })
    for (const error of [result.error, result.treeError, result.reopenError]) {
      expect(error).toMatchObject({
        name: 'InotifyError',
        isInotifyError: true,
        code: 'EMFILE',
        syscall: 'inotify_init1',
      })
      expect(error.message).toContain('fs.inotify.max_user_instances = 6')
      expect(error.message).toContain('sudo sysctl fs.inotify.max_user_instances=')
    }
    // Three of the six closed: three open again, and no more.
    expect(result.reopened).toBe(3)
    // Failed opens leave nothing; closing everything releases every descriptor and thread.
    expect(result.after).toEqual({ ...result.before, inotifyFds: 0 })
  })
})

describe('max_user_watches', () => {
  it('Inotify, a tree and watch() at a limit of 10: typed errors with the numbers, what is watched reports, nothing leaks, and no CPU is used while stuck', async () => {
    const dir = fx.tempDir()
    // The tree needs 6 watches; the Inotify gets the 4 left; watch() and new directories get none.
    for (const sub of ['tree/a', 'tree/b/x', 'tree/c/y', 'd0', 'd1', 'd2', 'd3', 'd4', 'd5']) {
      mkdirSync(join(dir, sub), { recursive: true })
    }
    const result = await inNamespace<{
      limitFile: number
      treeReady: string | ErrorInfo
      treeWatchCount: number
      watched: number
      addWatchError: ErrorInfo
      reporting: string[]
      treeErrors: ErrorInfo[]
      treeReporting: string[]
      watcherReady: string | ErrorInfo
      watcherErrors: ErrorInfo[]
      watcherWatches: number
      cpuMs: number
      failures: string[]
      threadsOpen: number
      threadsAfterClose: number
      inotifyFdsAfterClose: number
    }>('max_inotify_watches', 10, 'watches', dir, '1000')
    expect(result.limitFile).toBe(10)
    expect(result.treeReady).toBe('resolved')
    expect(result.treeWatchCount).toBe(6)
    // Inotify: the 5th addWatch throws ENOSPC with the limit and the sysctl; the first 4 report.
    expect(result.watched).toBe(4)
    expect(result.addWatchError).toMatchObject({
      name: 'InotifyError',
      code: 'ENOSPC',
      syscall: 'inotify_add_watch',
      path: join(dir, 'd4'),
    })
    expect(result.addWatchError.message).toContain('fs.inotify.max_user_watches = 10')
    expect(result.addWatchError.message).toContain('sudo sysctl fs.inotify.max_user_watches=')
    expect(result.reporting).toEqual(['d0', 'd1', 'd2', 'd3'].map((d) => join(dir, d)))
    // The tree: 5 new directories it cannot watch, each counted once (in one WatchLimitError per
    // read that met them); it still reports.
    expect(result.treeErrors.length).toBeGreaterThanOrEqual(1)
    for (const error of result.treeErrors) {
      expect(error).toMatchObject({ name: 'WatchLimitError', code: 'ENOSPC', watched: 6, limit: 10 })
    }
    expect(result.treeErrors.reduce((sum, e) => sum + e.needed! - e.watched!, 0)).toBe(5)
    expect(result.treeReporting).toEqual([join(dir, 'tree/a')])
    // watch(): ready rejects with the same typed error it emits, and nothing is watched.
    expect(result.watcherReady).toMatchObject({
      name: 'WatchLimitError',
      code: 'ENOSPC',
      needed: 6,
      watched: 0,
      limit: 10,
    })
    expect(result.watcherErrors).toHaveLength(1)
    expect(result.watcherWatches).toBe(0)
    expect(result.failures).toEqual([])
    // Three generators wait at the limit: CPU time over one second of wall time stays near zero
    // (a retry loop would take the whole second).
    console.log(`CPU used in 1 s while stuck at the watch limit: ${result.cpuMs.toFixed(1)} ms`)
    expect(result.cpuMs).toBeLessThan(100)
    expect(result.inotifyFdsAfterClose).toBe(0)
    expect(result.threadsAfterClose).toBe(result.threadsOpen - 3)
  })
})
