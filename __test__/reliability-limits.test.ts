/**
 * Reliability, limits (issue 6): the per-user inotify limits reached, in user namespaces with
 * small values (never by changing the machine's sysctls): typed errors with the numbers and the
 * sysctl to raise, partial watching that keeps working, nothing leaked, no CPU burnt at the limit.
 *
 * Design decision, tested here: trees, `watch()` and `subscribe()` are sessions of one inotify
 * instance the process shares, so a monorepo's worth of them holds one of the user's
 * `fs.inotify.max_user_instances`; each `Inotify` holds one of its own (as the Python package's
 * adapters do: its wds, queue and overflow are its user's), and past the limit the next one throws
 * `EMFILE` naming that sysctl.
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
  it('with room for 8: 1,000 subscribe(), 1,000 watch() and 200 trees share one instance; Inotify takes one each until EMFILE', async () => {
    const result = await inNamespace<{
      limitFile: number
      shared: { sessions: number; inotifyFds: number; threads: number; kernelWatches: number }
      delivered: { subscribe: number; watch: number; tree: number }
      atLimit: { inotify: number; inotifyFds: number }
      error: ErrorInfo
      failures: string[]
      before: { fds: number; threads: number }
      after: { fds: number; threads: number; inotifyFds: number }
    }>('max_inotify_instances', 8, 'instances', fx.tempDir())
    expect(result.limitFile).toBe(8)
    // 2,200 sessions, one inotify descriptor and one reader thread, a watch per directory.
    expect(result.shared).toEqual({ sessions: 2200, inotifyFds: 1, threads: 1, kernelWatches: 2200 })
    expect(result.delivered).toEqual({ subscribe: 1000, watch: 1000, tree: 200 })
    expect(result.failures).toEqual([])
    // Each Inotify has an instance of its own: 7 fit beside the shared one.
    expect(result.atLimit).toEqual({ inotify: 7, inotifyFds: 8 })
    expect(result.error).toMatchObject({
      name: 'InotifyError',
      isInotifyError: true,
      code: 'EMFILE',
      syscall: 'inotify_init1',
    })
    expect(result.error.message).toContain('fs.inotify.max_user_instances = 8')
    expect(result.error.message).toContain('sudo sysctl fs.inotify.max_user_instances=')
    // Closing everything releases every descriptor and thread.
    expect(result.after).toEqual({ ...result.before, inotifyFds: 0 })
  })
})

describe('max_user_watches', () => {
  it('Inotify, a tree and watch() at a limit of 10: typed errors with the numbers, what is watched reports, nothing leaks, and no CPU is used while stuck', async () => {
    const dir = fx.tempDir()
    // The tree needs 6 watches; the Inotify gets the 4 left; watch() of another tree of the same
    // shape and new directories get none.
    for (const sub of [
      'tree/a',
      'tree/b/x',
      'tree/c/y',
      'other/a',
      'other/b/x',
      'other/c/y',
      'd0',
      'd1',
      'd2',
      'd3',
      'd4',
      'd5',
    ]) {
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
    // Two reader threads: the Inotify's own, and the one the tree and the watcher share.
    expect(result.threadsAfterClose).toBe(result.threadsOpen - 2)
  })
})
