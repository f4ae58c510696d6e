/**
 * End-to-end: what a tree meets besides plain directories (README, "Recursive trees"): symbolic links and
 * their loops, unreadable directories and directories that vanish mid-scan, ignore rules, and the
 * watch limit (in a user namespace with a small limit, never by changing the machine's sysctls).
 */
import { chmodSync, chownSync, mkdirSync, readdirSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { IN_CLOSE_WRITE, IN_CREATE, IN_DELETE, IN_MOVED_TO, type InotifyError } from '../src/index'
import { until } from './helpers'
import { sh, withinDeadline } from './inotify-fixture'
import {
  CHILD_SCRIPT,
  fullPath,
  inotifyDescriptorCount,
  isCreate,
  kernelWatchCount,
  layout,
  useTreeFixture,
  type ChildResult,
} from './tree-fixture'

const fx = useTreeFixture()

/** The JSON a child printed; fails with its stderr when it did not finish well. */
function parsed<T>(result: ChildResult): T {
  if (result.code !== 0)
    throw new Error(`the child failed (${result.code ?? result.signal}):\n${result.stderr}\n${result.stdout}`)
  return JSON.parse(result.stdout) as T
}

/** An error as the child describes it. */
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

describe('symbolic links', () => {
  /** base/root/{sub/{deeper/, loop -> ..}, ext -> ../outside, self -> .}, base/outside/inner/. */
  function linkedTree(): { root: string; outside: string } {
    const base = fx.tempDir()
    layout(base, ['root/sub/deeper/', 'outside/inner/'])
    const root = join(base, 'root')
    symlinkSync('..', join(root, 'sub/loop'))
    symlinkSync('../outside', join(root, 'ext'))
    symlinkSync('.', join(root, 'self'))
    return { root, outside: join(base, 'outside') }
  }

  it('does not follow them by default: writes behind a link to an outside directory report nothing', async () => {
    const { root, outside } = linkedTree()
    const tree = fx.tree(root)
    await tree.ready
    expect(tree.watchCount).toBe(3)
    expect(kernelWatchCount(tree.fd)).toBe(3)
    const log = fx.log(tree)
    await log.mark(root)
    writeFileSync(join(outside, 'f'), '')
    writeFileSync(join(outside, 'inner/g'), '')
    writeFileSync(join(root, 'ext/through-the-link'), '')
    writeFileSync(join(root, 'sub/loop/sub/deeper/seen'), '')
    // Only the write through the loop, into a directory of the tree, reports (under its real path).
    const events = await log.mark(root)
    expect([...new Set(events.map(fullPath))]).toEqual([join(root, 'sub/deeper/seen')])
    expect(tree.watchCount).toBe(3)
  })

  it('follows them with followSymlinks: a `ln -s ..` loop ends, and a link to an outside directory reports', async () => {
    const { root, outside } = linkedTree()
    const tree = fx.tree(root, { followSymlinks: true })
    await withinDeadline(tree.ready, 'ready with a symlink loop')
    // root, sub, sub/deeper, ext (= outside), ext/inner: each directory once, whatever the links.
    expect(tree.watchCount).toBe(5)
    expect(kernelWatchCount(tree.fd)).toBe(5)
    const log = fx.log(tree)
    writeFileSync(join(outside, 'inner/behind-the-link'), '')
    await log.untilPath(join(root, 'ext/inner/behind-the-link'), 5000, isCreate)
    expect(tree.watchCount).toBe(5)
  })

  it('follows a link to a directory made after ready, with followSymlinks', async () => {
    const { root } = linkedTree()
    const later = fx.tempDir()
    mkdirSync(join(later, 'inside'))
    const tree = fx.tree(root, { followSymlinks: true })
    await tree.ready
    const log = fx.log(tree)
    symlinkSync(later, join(root, 'late-link'))
    await log.untilPath(join(root, 'late-link'), 5000, isCreate)
    await until(
      () => tree.watchCount === 7,
      `the linked directory and its subdirectory watched (watchCount ${tree.watchCount})`,
    )
    writeFileSync(join(later, 'inside/f'), '')
    await log.untilPath(join(root, 'late-link/inside/f'), 5000, isCreate)
  })

  it('follows a root given as a link, and reports under the path as given', async () => {
    const real = fx.tempDir()
    mkdirSync(join(real, 'sub'))
    const link = join(fx.tempDir(), 'link')
    symlinkSync(real, link)
    const tree = fx.tree(link)
    await tree.ready
    expect(tree.watchCount).toBe(2)
    const log = fx.log(tree)
    writeFileSync(join(real, 'sub/f'), '')
    await log.untilPath(join(link, 'sub/f'), 5000, isCreate)
  })
})

/** Gives `path` and everything below it to the unprivileged uid the child runs as. */
/** Runs the tree child in `mode` on `dir` as uid and gid 65534 (an unprivileged user). */
function runAsNobody(mode: string, dir: string): Promise<ChildResult> {
  return fx.run('setpriv', [
    '--reuid=65534',
    '--regid=65534',
    '--clear-groups',
    process.execPath,
    CHILD_SCRIPT,
    mode,
    dir,
  ])
}

function chownAll(path: string): void {
  chownSync(path, 65534, 65534)
  if (statSync(path).isDirectory()) for (const entry of readdirSync(path)) chownAll(join(path, entry))
}

describe('unreadable and vanishing directories', () => {
  it('reports an unreadable directory (mode 000, as an unprivileged uid) to onError and skips it; the rest works', async () => {
    const dir = fx.tempDir()
    layout(dir, ['root/ok/', 'root/locked/inner/', 'outside/box/locked2/inner/', 'outside/box/open/'])
    chownAll(dir)
    chmodSync(join(dir, 'root/locked'), 0o000)
    chmodSync(join(dir, 'outside/box/locked2'), 0o000)
    const root = join(dir, 'root')
    const result = parsed<{
      uid: number
      ready: string | ErrorInfo
      atReady: { watchCount: number; kernel: number; errors: ErrorInfo[] }
      errors: ErrorInfo[]
      watchCount: number
      kernel: number
      paths: string[]
    }>(await runAsNobody('unreadable', dir))
    expect(result.uid).toBe(65534)
    expect(result.ready).toBe('resolved')
    expect(result.atReady.watchCount).toBe(2)
    expect(result.atReady.kernel).toBe(2)
    expect(result.atReady.errors.map((e) => e.path)).toEqual([join(root, 'locked')])
    // The one found at start, then the one in the tree moved in later.
    expect(result.errors).toHaveLength(2)
    expect(result.errors.map((e) => [e.code, e.path])).toEqual([
      ['EACCES', join(root, 'locked')],
      ['EACCES', join(root, 'box/locked2')],
    ])
    for (const error of result.errors) {
      expect(error).toMatchObject({ name: 'InotifyError', isInotifyError: true, isWatchLimitError: false })
      expect(error.message).toContain(error.path)
    }
    // The moved-in tree's content is reported, the unreadable directory included (it exists), and
    // nothing below it.
    expect(result.paths).toEqual(
      expect.arrayContaining(['ok/f1', 'box', 'box/locked2', 'box/open', 'ok/f2'].map((p) => join(root, p))),
    )
    expect(
      result.paths.filter((p) => p.startsWith(join(root, 'locked/')) || p.startsWith(join(root, 'box/locked2/'))),
    ).toEqual([])
    // root, ok, box and box/open.
    expect(result.watchCount).toBe(4)
    expect(result.kernel).toBe(4)
  })

  it('watches a directory it may read but not enter (mode 400, as an unprivileged uid), and skips what is below it', async () => {
    const dir = fx.tempDir()
    layout(dir, ['root/ok/', 'root/noenter/inner/'])
    chownAll(dir)
    chmodSync(join(dir, 'root/noenter'), 0o400)
    const root = join(dir, 'root')
    const result = parsed<{
      uid: number
      ready: string | ErrorInfo
      atReady: { watchCount: number; kernel: number; errors: ErrorInfo[] }
      paths: string[]
    }>(await runAsNobody('noSearch', dir))
    expect(result.uid).toBe(65534)
    expect(result.ready).toBe('resolved')
    // root, ok and noenter: a watch needs read permission only.
    expect(result.atReady.watchCount).toBe(3)
    expect(result.atReady.kernel).toBe(3)
    expect(result.atReady.errors.map((e) => [e.code, e.path])).toEqual([['EACCES', join(root, 'noenter/inner')]])
    expect(result.paths).toContain(join(root, 'noenter/f'))
  })

  it('becomes ready while another process deletes directories under it, and keeps reporting in those that remain', async () => {
    const root = fx.tempDir()
    const churn: string[] = []
    for (let i = 0; i < 200; i++) churn.push(`churn/d${i}/x/y/`, `churn/d${i}/x/f`)
    layout(root, [...churn, 'keep/k1/', 'keep/k2/', 'keep/k3/', 'keep/k4/', 'keep/k5/'])
    const errors: InotifyError[] = []
    const deleter = await fx.background(root, 'echo go; for d in "$D"/churn/d*; do rm -rf "$d"; done')
    const tree = fx.tree(root, { onError: (error) => errors.push(error) })
    await withinDeadline(tree.ready, 'ready')
    const log = fx.log(tree)
    expect((await deleter.ended).code).toBe(0)
    writeFileSync(join(root, 'keep/k3/f'), '')
    await log.untilPath(join(root, 'keep/k3/f'), 5000, isCreate)
    // root, churn, keep and k1..k5: every watch of a deleted directory is gone, here and in the kernel.
    await until(
      () => tree.watchCount === 8 && kernelWatchCount(tree.fd) === 8,
      `8 watches (tree ${tree.watchCount}, kernel ${kernelWatchCount(tree.fd)})`,
    )
    // A directory that vanished mid-scan is normal churn: nothing else goes wrong.
    expect(errors.filter((e) => e.code !== 'ENOENT' && e.code !== 'ENOTDIR')).toEqual([])
  })
})

describe('ignore', () => {
  it('applies globs, negation and RegExps before any watch is added, functions to what it reports, and reports nothing below what it ignores', async () => {
    const root = fx.tempDir()
    layout(root, [
      'node_modules/pkg/',
      'a/node_modules/x/',
      'build/',
      'a/build/',
      'dist/',
      'src/dist',
      'logs/',
      'fn-ignored/sub/',
      'src/.cache/x/',
    ])
    const asked: [string, boolean][] = []
    const tree = fx.tree(root, {
      // Only what is needed for a file write: so the tree's own listing of directories shows nothing.
      mask: IN_CREATE | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_TO,
      ignore: [
        'node_modules',
        '*.log',
        '/build',
        'dist/',
        '!keep.log',
        /\/\.cache$/,
        (path, isDir) => {
          asked.push([path, isDir])
          return isDir && path.endsWith('/fn-ignored')
        },
      ],
    })
    await tree.ready
    // root, a, a/build, src, logs, and fn-ignored and fn-ignored/sub: a function filters output only.
    expect(tree.watchCount).toBe(7)
    expect(kernelWatchCount(tree.fd)).toBe(7)
    const log = fx.log(tree)
    sh(
      root,
      `touch "$D/node_modules/pkg/f" "$D/a/node_modules/x/f" "$D/build/f" "$D/dist/f" "$D/fn-ignored/f" \
      "$D/fn-ignored/sub/f" "$D/logs/a.log" "$D/logs/keep.log" "$D/a/build/f" "$D/src/dist" "$D/src/x.log" \
      "$D/src/.cache/f" "$D/src/.cache/x/f"
      mkdir -p "$D/new/node_modules/deep" "$D/new/fn-ignored" "$D/new/build" && touch "$D/new/node_modules/deep/f" "$D/new/build/f"`,
    )
    const events = await log.mark(root)
    expect([...new Set(events.map(fullPath))].sort()).toEqual(
      ['a/build/f', 'logs/keep.log', 'new', 'new/build', 'new/build/f', 'src/dist'].map((p) => join(root, p)),
    )
    // new, new/build (only /build at the root is ignored) and new/fn-ignored are watched; nothing
    // below them that a glob or a RegExp ignores.
    expect(tree.watchCount).toBe(10)
    expect(kernelWatchCount(tree.fd)).toBe(10)
    expect(asked).toContainEqual([join(root, 'fn-ignored'), true])
    expect(asked).toContainEqual([join(root, 'new/fn-ignored'), true])
    // Asked once per directory, and never about what the native rules left out.
    expect(asked.filter(([p]) => p === join(root, 'fn-ignored'))).toHaveLength(1)
    expect(asked.filter(([p]) => p.includes('node_modules') || p.includes('.cache'))).toEqual([])
  })

  it('drops the watches of a directory renamed to an ignored name, and watches one renamed from an ignored name', async () => {
    const root = fx.tempDir()
    layout(root, ['src2/deep/', 'box/', 'node_modules/pkg/lib/', 'node_modules/pkg/index.js'])
    const tree = fx.tree(root, { ignore: ['node_modules'] })
    await tree.ready
    // root, src2, src2/deep and box.
    expect(tree.watchCount).toBe(4)
    const log = fx.log(tree)
    // A rename to an ignored name is a move out of what is watched.
    renameSync(join(root, 'src2'), join(root, 'box/node_modules'))
    await until(
      () => tree.watchCount === 2 && kernelWatchCount(tree.fd) === 2,
      `root and box only (tree ${tree.watchCount}, kernel ${kernelWatchCount(tree.fd)})`,
    )
    await log.mark(root)
    writeFileSync(join(root, 'box/node_modules/hidden'), '')
    writeFileSync(join(root, 'box/node_modules/deep/hidden'), '')
    expect(await log.mark(root)).toEqual([])
    // A rename from an ignored name is a move in: watched, its content reported by a scan.
    renameSync(join(root, 'node_modules'), join(root, 'vendor'))
    await log.untilPath(join(root, 'vendor/pkg/index.js'), 5000, (e) => isCreate(e) && e.synthetic === true)
    await until(
      () => tree.watchCount === 5 && kernelWatchCount(tree.fd) === 5,
      `root, box, vendor, vendor/pkg and vendor/pkg/lib (tree ${tree.watchCount}, kernel ${kernelWatchCount(tree.fd)})`,
    )
    writeFileSync(join(root, 'vendor/pkg/lib/seen'), '')
    await log.untilPath(join(root, 'vendor/pkg/lib/seen'), 5000, (e) => isCreate(e) && e.synthetic === undefined)
  })

  it('rejects an invalid glob with a TypeError at once, naming the pattern, and opens nothing', () => {
    const root = fx.tempDir()
    const before = inotifyDescriptorCount()
    let thrown: unknown
    try {
      fx.tree(root, { ignore: ['ok', 'a{b'] })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(TypeError)
    expect(thrown).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' })
    expect((thrown as Error).message).toContain('a{b')
    expect(inotifyDescriptorCount()).toBe(before)
  })
})

describe('the watch limit (in a user namespace)', () => {
  /** Runs a scenario of the child script where at most `limit` watches can be held. */
  async function withWatchLimit<T>(limit: number, scenario: string, dir: string): Promise<T> {
    return parsed<T>(
      await fx.run('unshare', [
        '-U',
        '-r',
        'sh',
        '-c',
        `echo ${limit} > /proc/sys/user/max_inotify_watches && exec "$0" "$@"`,
        process.execPath,
        CHILD_SCRIPT,
        scenario,
        dir,
      ]),
    )
  }

  it('rejects ready with a WatchLimitError (needed, limit) also given to onError; what is watched reports, and nothing leaks', async () => {
    const dir = fx.tempDir()
    const entries: string[] = []
    for (let a = 0; a < 6; a++) for (let b = 0; b < 4; b++) entries.push(`root/top${a}/sub${b}/`)
    layout(dir, entries)
    const result = await withWatchLimit<{
      limitFile: number
      ready: string | ErrorInfo
      sameErrorAsOnError: boolean
      errors: ErrorInfo[]
      watchCount: number
      kernel: number
      reporting: string[]
      watchCountAfter: number
      kernelAfter: number
      inotifyDescriptorsAfterClose: number
    }>(20, 'limitAtStart', dir)
    expect(result.limitFile).toBe(20)
    expect(result.ready).toMatchObject({
      name: 'WatchLimitError',
      isWatchLimitError: true,
      isInotifyError: true,
      code: 'ENOSPC',
      path: join(dir, 'root'),
      needed: 31,
      watched: 20,
      limit: 20,
    })
    expect(result.sameErrorAsOnError).toBe(true)
    expect(result.errors).toHaveLength(1)
    expect(result.watchCount).toBe(20)
    expect(result.kernel).toBe(20)
    // Every directory got a file: exactly the watched ones reported it.
    expect(result.reporting).toHaveLength(20)
    expect(result.reporting).toContain(join(dir, 'root'))
    expect(result.watchCountAfter).toBe(20)
    expect(result.kernelAfter).toBe(20)
    expect(result.inotifyDescriptorsAfterClose).toBe(0)
  })

  it('reports the limit reached after ready by new directories to onError; what is watched reports, and nothing leaks', async () => {
    const dir = fx.tempDir()
    layout(dir, ['root/a/', 'root/b/', 'root/c/'])
    const result = await withWatchLimit<{
      ready: string | ErrorInfo
      watchCountAtReady: number
      reporting: string[]
      errors: ErrorInfo[]
      watchCount: number
      kernel: number
      inotifyDescriptorsAfterClose: number
    }>(20, 'limitLater', dir)
    expect(result.ready).toBe('resolved')
    expect(result.watchCountAtReady).toBe(4)
    expect(result.errors.length).toBeGreaterThan(0)
    for (const error of result.errors) {
      expect(error).toMatchObject({
        name: 'WatchLimitError',
        isWatchLimitError: true,
        code: 'ENOSPC',
        watched: 20,
        limit: 20,
      })
      expect(error.needed).toBeGreaterThan(20)
      expect(error.path?.startsWith(join(dir, 'root/new'))).toBe(true)
    }
    expect(result.watchCount).toBe(20)
    expect(result.kernel).toBe(20)
    expect(result.reporting).toHaveLength(20)
    expect(result.inotifyDescriptorsAfterClose).toBe(0)
  })

  it('rejects ready with a WatchLimitError when the limit leaves no watch even for the root', async () => {
    const dir = fx.tempDir()
    layout(dir, ['first/a/', 'first/b/', 'first/c/', 'first/d/', 'second/x/', 'second/y/'])
    const result = await withWatchLimit<{
      firstReady: string | ErrorInfo
      ready: string | ErrorInfo
      errors: ErrorInfo[]
      watchCount: number
      kernel: number
      firstWatchCount: number
      firstKernel: number
      firstReporting: string[]
      inotifyDescriptorsAfterClose: number
    }>(5, 'limitAtRoot', dir)
    // The first tree takes the whole budget, and keeps working.
    expect(result.firstReady).toBe('resolved')
    expect(result.firstWatchCount).toBe(5)
    expect(result.firstKernel).toBe(5)
    expect(result.firstReporting).toHaveLength(5)
    expect(result.watchCount).toBe(0)
    // Both trees are sessions of one instance: what the kernel holds is the first tree's.
    expect(result.kernel).toBe(result.firstKernel)
    expect(result.inotifyDescriptorsAfterClose).toBe(0)
    expect(result.errors).toHaveLength(1)
    expect(result.ready).toMatchObject({
      name: 'WatchLimitError',
      isWatchLimitError: true,
      code: 'ENOSPC',
      path: join(dir, 'second'),
      needed: 3,
      watched: 0,
      limit: 5,
    })
  })
})
