/**
 * End-to-end: trees in the cases a hostile or unlucky user makes, against the real kernel: ignore
 * files that are not regular files, directories moved out of the tree and straight back in, file
 * systems unmounted inside the tree.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { watch, type Change } from '../src/index'
import { until } from './helpers'
import { withinDeadline } from './inotify-fixture'
import { describeEvents, fullPath, layout, REPO, useTreeFixture, type ChildResult } from './tree-fixture'

const fx = useTreeFixture()

/** The hostile-tree child: loads dist/, prints one JSON object. */
const HOSTILE_CHILD = join(REPO, '__test__/fixtures/hostile-child.cjs')

/** What the `gitignore` scenario of the child reports. */
interface GitignoreResult {
  ready: string
  errors: { code: string; path?: string; message: string }[]
  sawWrite: boolean
  closed: boolean
  rssMiB: number
}

/**
 * Runs `watch(dir, { gitignore: true })` in a child with a 1 GB data segment, killed after 15 s:
 * a hang or a runaway read fails the test instead of hanging vitest or the machine.
 */
async function watchWithGitignore(dir: string): Promise<GitignoreResult> {
  const result: ChildResult = await fx.run(
    'prlimit',
    ['--data=1000000000', process.execPath, HOSTILE_CHILD, 'gitignore', dir],
    { timeoutMs: 15_000 },
  )
  if (result.code !== 0)
    throw new Error(`the child failed (${result.code ?? result.signal}):\n${result.stderr}\n${result.stdout}`)
  return JSON.parse(result.stdout) as GitignoreResult
}

describe('ignore files', () => {
  /** A watched dir whose `.gitignore` is made by `make`. */
  function withGitignore(make: (path: string) => void): string {
    const dir = fx.tempDir()
    make(join(dir, '.gitignore'))
    return dir
  }

  function expectRefused(result: GitignoreResult, code: string, what: RegExp): void {
    expect(result.ready).toBe('resolved')
    expect(result.errors).toHaveLength(1)
    expect(result.errors[0]?.code).toBe(code)
    expect(result.errors[0]?.message).toMatch(/\.gitignore/)
    expect(result.errors[0]?.message).toMatch(what)
    expect(result.sawWrite, 'nothing is ignored: the file was not applied').toBe(true)
    expect(result.closed).toBe(true)
  }

  it('applies a regular .gitignore at the root, with no error', async () => {
    const result = await watchWithGitignore(withGitignore((path) => writeFileSync(path, '*.log\n')))
    expect(result.ready).toBe('resolved')
    expect(result.errors).toEqual([])
    expect(result.sawWrite, 'written.log is ignored').toBe(false)
  })

  it('refuses a .gitignore that is a FIFO without blocking: ready resolves, an error is reported, close returns', async () => {
    const result = await watchWithGitignore(withGitignore((path) => mkfifoSync(path)))
    expectRefused(result, 'EINVAL', /FIFO/)
  })

  it('refuses a .gitignore that is a symbolic link (to /dev/zero) without reading through it', async () => {
    const result = await watchWithGitignore(withGitignore((path) => symlinkSync('/dev/zero', path)))
    expectRefused(result, 'EINVAL', /symbolic link/)
    expect(result.rssMiB).toBeLessThan(500)
  })

  it('refuses a .gitignore larger than 1 MiB instead of reading it', async () => {
    const result = await watchWithGitignore(
      withGitignore((path) => writeFileSync(path, `${'#'.repeat(1023)}\n`.repeat(1025))),
    )
    expectRefused(result, 'EINVAL', /1 MiB/)
  })

  it('refuses a directory named .gitignore', async () => {
    const result = await watchWithGitignore(withGitignore((path) => mkdirSync(path)))
    expectRefused(result, 'EINVAL', /directory/)
  })
})

function mkfifoSync(path: string): void {
  execFileSync('mkfifo', [path])
}

describe('a directory moved out of the tree and straight back in', () => {
  /**
   * Where each moved directory lands: another parent, the same parent, a deeper directory, and
   * (the last) the same directory moved out and back twice first.
   */
  const landings = ['C/m0', 'A/m1', 'C/deeper/m2', 'C/m3', 'C/m4', 'A/m5', 'C/deeper/m6', 'C/m7', 'C/m8', 'A/m9']
  const twice = new Set([3, 7])

  /** `base/{t/{A/m0..m9/inner/, C/deeper/}, elsewhere/}`: the root and an outside directory on one file system. */
  function moveTree(): { t: string; elsewhere: string } {
    const base = fx.tempDir()
    layout(base, ['t/C/deeper/', 'elsewhere/', ...landings.map((_, i) => `t/A/m${i}/inner/`)])
    return { t: join(base, 't'), elsewhere: join(base, 'elsewhere') }
  }

  /** `mv t/A/m<i> elsewhere/ && mv elsewhere/m<i> t/<landing>` (out and back twice for some). */
  function outAndBack(t: string, elsewhere: string, i: number, landing: string): string {
    const away = join(elsewhere, `m${i}`)
    renameSync(join(t, `A/m${i}`), away)
    if (twice.has(i)) {
      renameSync(away, join(t, `A/m${i}`))
      renameSync(join(t, `A/m${i}`), away)
    }
    renameSync(away, join(t, landing))
    return join(t, landing, 'inner/written')
  }

  it('InotifyTree reports a write in it at its new path, each of 10 times', async () => {
    const { t, elsewhere } = moveTree()
    const tree = fx.tree(t)
    await withinDeadline(tree.ready, 'ready')
    const log = fx.log(tree)
    for (const [i, landing] of landings.entries()) {
      const written = outAndBack(t, elsewhere, i, landing)
      writeFileSync(written, 'x')
      const window = await log.mark(t)
      // IN_CLOSE_WRITE; or, when the reader saw the move out before the move back in (new
      // watches, then a listing that can come after the write), a synthetic IN_CREATE.
      expect(
        window.some((e) => fullPath(e) === written),
        `the write in ${landing}/inner is reported at its new path; ${describeEvents(window)}`,
      ).toBe(true)
    }
  })

  it('watch() reports a write in it at its new path, each of 10 times', async () => {
    const { t, elsewhere } = moveTree()
    const watcher = watch(t)
    try {
      const changes: Change[] = []
      watcher.on('events', (batch) => changes.push(...batch))
      await withinDeadline(watcher.ready, 'ready')
      for (const [i, landing] of landings.entries()) {
        const written = outAndBack(t, elsewhere, i, landing)
        writeFileSync(written, 'x')
        const marker = join(t, `marker${i}`)
        writeFileSync(marker, '')
        await until(() => changes.some((c) => c.path === marker), `the marker after ${landing}`)
        expect(
          changes.filter((c) => c.path === written).map((c) => c.type),
          `the write in ${landing}/inner is reported at its new path`,
        ).not.toEqual([])
      }
    } finally {
      await watcher.close()
    }
  })
})

describe('a file system mounted or unmounted inside the tree', () => {
  /** What the unmount scenarios of the child report. */
  interface UnmountResult {
    events?: { types: string[]; path: string; synthetic: boolean }[]
    changes?: { type: string; path: string }[]
    sawCovered: boolean
    sawAfter: boolean
    errors: string[]
  }

  /** Runs an unmount scenario of the child in a private mount namespace: no mount outlives it. */
  async function inMountNamespace(scenario: string): Promise<UnmountResult> {
    const dir = fx.tempDir()
    const result = await fx.run(
      'unshare',
      ['-m', '--propagation', 'private', process.execPath, HOSTILE_CHILD, scenario, dir],
      { timeoutMs: 20_000 },
    )
    if (result.code !== 0)
      throw new Error(`the child failed (${result.code ?? result.signal}):\n${result.stderr}\n${result.stdout}`)
    return JSON.parse(result.stdout) as UnmountResult
  }

  it('InotifyTree reports the directory uncovered there and what is written in it later', async () => {
    const result = await inMountNamespace('unmountTree')
    // Listings of directories (IN_OPEN/IN_ACCESS/IN_CLOSE_NOWRITE): the tree's own are never reported.
    const listing = new Set(['IN_OPEN', 'IN_ACCESS', 'IN_CLOSE_NOWRITE'])
    const isListing = (e: { types: string[] }): boolean =>
      e.types.includes('IN_ISDIR') && e.types.some((t) => listing.has(t))
    expect((result.events ?? []).filter(isListing), 'the tree reports none of its own listings').toEqual([])
    const events = (result.events ?? []).filter((e) => !isListing(e))
    const at = (name: string): string[] =>
      events
        .filter((e) => e.path.endsWith(`/t/mp${name}`))
        .map((e) => `${[...e.types].sort().join('|')}${e.synthetic ? ' (synthetic)' : ''}`)
    const story = JSON.stringify(events, null, 1)
    // The kernel's own events, for the tmpfs's root and the directory below it (never a delete).
    expect(at(''), story).toEqual(['IN_ISDIR|IN_UNMOUNT', 'IN_IGNORED'])
    expect(at('/sub'), story).toEqual(['IN_ISDIR|IN_UNMOUNT', 'IN_IGNORED', 'IN_DELETE|IN_ISDIR (synthetic)'])
    expect(at('/on-tmpfs'), story).toEqual(['IN_DELETE (synthetic)'])
    expect(at('/covered'), story).toEqual(['IN_CREATE (synthetic)'])
    expect(result.sawAfter, `a write in the uncovered directory is reported; ${story}`).toBe(true)
    expect(result.errors).toEqual([])
  })

  it('InotifyTree tells onError when its root goes with the file system it was on', async () => {
    const result = await inMountNamespace('unmountUnderRoot')
    const root = (result as UnmountResult & { root: string }).root
    expect(result.errors, JSON.stringify(result.events)).toEqual([`ENOENT ${root}`])
  })

  it('watch() reports no delete of the mount point, the changes of its content, and later writes', async () => {
    const result = await inMountNamespace('unmountWatch')
    const changes = result.changes ?? []
    const story = JSON.stringify(changes, null, 1)
    const at = (name: string): string[] => changes.filter((c) => c.path.endsWith(`/t/mp${name}`)).map((c) => c.type)
    expect(at(''), `the mount point still exists; ${story}`).toEqual([])
    expect(at('/on-tmpfs'), story).toEqual(['delete'])
    expect(at('/sub'), story).toEqual(['delete'])
    expect(at('/sub/deep'), story).toEqual([])
    expect(at('/covered'), story).toEqual(['create'])
    expect(result.sawAfter, `a write in the uncovered directory is reported; ${story}`).toBe(true)
    expect(result.errors).toEqual([])
  })

  it('InotifyTree notices a file system mounted over a watched directory and reports what is written on it', async () => {
    const result = await inMountNamespace('mountTree')
    const isListing = (e: { types: string[] }): boolean =>
      e.types.includes('IN_ISDIR') && e.types.some((t) => ['IN_OPEN', 'IN_ACCESS', 'IN_CLOSE_NOWRITE'].includes(t))
    expect((result.events ?? []).filter(isListing), 'the tree reports none of its own listings').toEqual([])
    const events = (result.events ?? []).filter((e) => !isListing(e))
    const story = JSON.stringify(events, null, 1)
    const at = (name: string): string[] =>
      events
        .filter((e) => e.path.endsWith(`/t/mp${name}`))
        .map((e) => `${[...e.types].sort().join('|')}${e.synthetic ? ' (synthetic)' : ''}`)
    expect(at(''), `the mount point is not reported: it is still there; ${story}`).toEqual([])
    expect(at('/covered'), story).toEqual(['IN_DELETE (synthetic)'])
    expect(result.sawAfter, `a write on the mounted file system is reported; ${story}`).toBe(true)
    expect(result.errors).toEqual([])
  })

  it('watch() notices a file system mounted over a watched directory and reports what is written on it', async () => {
    const result = await inMountNamespace('mountWatch')
    const changes = result.changes ?? []
    const story = JSON.stringify(changes, null, 1)
    const at = (name: string): string[] => changes.filter((c) => c.path.endsWith(`/t/mp${name}`)).map((c) => c.type)
    expect(at(''), story).toEqual([])
    expect(at('/covered'), story).toEqual(['delete'])
    // Its create, and a modify when the write's events came in two batches.
    expect(at('/on-tmpfs')[0], story).toBe('create')
    expect(
      at('/on-tmpfs')
        .slice(1)
        .every((type) => type === 'modify'),
      story,
    ).toBe(true)
    expect(result.errors).toEqual([])
  })
})
