/**
 * Trees reach their directories through descriptors, not path strings: each root is opened once
 * when the tree starts, every directory below is opened from it without following links, listed
 * through that descriptor and watched as that very inode (`/proc/self/fd/N`). These tests are the
 * cases where a path string lies: a directory swapped for a link by another user mid-scan, a root
 * renamed, a relative root after `process.chdir()`, a root link re-pointed.
 */
import {
  chmodSync,
  chownSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { IN_MOVE_SELF, watch, type Change, type InotifyError, type Watcher } from '../src/index'
import { until } from './helpers'
import { withinDeadline } from './inotify-fixture'
import { describeEvents, fullPath, isCreate, kernelWatchCount, REPO, useTreeFixture } from './tree-fixture'

const fx = useTreeFixture()

const watchers: Watcher[] = []
afterEach(async () => {
  for (const w of watchers.splice(0)) await w.close()
})

/** A `watch()` whose changes are recorded as they come. */
async function watching(
  root: string,
  onError?: (error: InotifyError) => void,
): Promise<{ w: Watcher; changes: Change[] }> {
  const w = watch(root)
  watchers.push(w)
  w.on('error', onError ?? (() => {}))
  const changes: Change[] = []
  w.on('events', (batch: Change[]) => changes.push(...batch))
  await withinDeadline(w.ready, 'watch() ready')
  return { w, changes }
}

const said = (changes: readonly Change[]): string[] =>
  changes.map((c) => `${c.type} ${c.oldPath !== undefined ? `${c.oldPath} -> ` : ''}${c.path}${c.isDir ? '/' : ''}`)

/** Waits until `changes` holds one for `path` that passes `match`. */
function untilChange(
  changes: readonly Change[],
  path: string,
  match: (c: Change) => boolean = () => true,
  timeoutMs = 5000,
): Promise<unknown> {
  return until(
    () => changes.some((c) => c.path === path && match(c)),
    `a change of ${path}; got:\n${said(changes).join('\n')}`,
    timeoutMs,
  )
}

/** The paths of this process's descriptors that are open on a directory (not sockets, pipes, anon inodes). */
function openDirectories(): string[] {
  const paths: string[] = []
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`)
      if (target.startsWith('/')) paths.push(target)
    } catch {
      // The descriptor readdir itself used is gone by now.
    }
  }
  return paths
}

describe('a symlink race from an unprivileged user inside the tree', () => {
  /**
   * base/tree (root's) holds box/ (nobody's, the attacker's playground); base/stage (nobody's) is
   * where the attacker prepares directories; base/secret (root's, mode 0700) holds names that must
   * never be seen, and a subdirectory `inner` a writer keeps writing in.
   */
  function battlefield(): { root: string; box: string; stage: string; secret: string } {
    const base = fx.tempDir()
    chmodSync(base, 0o755)
    const root = join(base, 'tree')
    const box = join(root, 'box')
    const stage = join(base, 'stage')
    const secret = join(base, 'secret')
    mkdirSync(box, { recursive: true })
    mkdirSync(stage)
    chownSync(box, 65534, 65534)
    chownSync(stage, 65534, 65534)
    mkdirSync(join(secret, 'inner'), { recursive: true })
    for (let i = 0; i < 20; i++) writeFileSync(join(secret, `secret-name-${i}`), '')
    for (let i = 0; i < 20; i++) writeFileSync(join(secret, 'inner', `secret-inner-${i}`), '')
    chmodSync(secret, 0o700)
    return { root, box, stage, secret }
  }

  /**
   * As nobody, for `ms` and at least `minRounds` rounds (15 s at most, for a machine under load):
   * moves a prepared directory (holding `inner/`) into the box (the tree scans it), then at once
   * moves it away and puts a link to the secret directory in its place, over and over. Prints how
   * many rounds it made.
   */
  const ATTACKER = `
    const fs = require('node:fs')
    const [box, stage, secret, ms, minRounds] = process.argv.slice(1)
    const start = Date.now()
    const going = (rounds) => Date.now() - start < 15000 && (Date.now() - start < Number(ms) || rounds < Number(minRounds))
    const work = stage + '/work'
    let rounds = 0
    for (; going(rounds); rounds++) {
      if (rounds % 200 === 0) fs.rmSync(work, { recursive: true, force: true }), fs.mkdirSync(work)
      const staged = work + '/s' + rounds
      fs.mkdirSync(staged + '/inner', { recursive: true })
      try {
        fs.renameSync(staged, box + '/d')
        fs.renameSync(box + '/d', work + '/away' + rounds)
        fs.symlinkSync(secret, box + '/d')
        fs.symlinkSync(secret + '/inner', box + '/e')
        fs.unlinkSync(box + '/d')
        fs.unlinkSync(box + '/e')
      } catch {}
    }
    process.stdout.write(String(rounds))
  `

  /** A root process writing into the secret directory until killed (the tree must never report it). */
  const WRITER = `echo started; exec ${JSON.stringify(process.execPath)} -e '
    const fs = require("node:fs")
    for (let i = 0; ; i++) fs.writeFileSync(process.env.D + "/inner/secret-written-" + (i % 64), "x")
  '`

  it('never lists nor reports anything of a root-only directory outside the tree while nobody swaps directories for links to it', async () => {
    const { root, box, stage, secret } = battlefield()
    const treeErrors: InotifyError[] = []
    const tree = fx.tree(root, { onError: (error) => treeErrors.push(error) })
    await withinDeadline(tree.ready, 'the tree ready')
    const log = fx.log(tree)
    const { changes } = await watching(root)
    await fx.background(secret, WRITER)
    const attack = await fx.run(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        '-e',
        ATTACKER,
        box,
        stage,
        secret,
        '2500',
        '150',
      ],
      { timeoutMs: 25_000 },
    )
    expect(attack.code, attack.stderr).toBe(0)
    // The attack made enough rounds to win races against trees that resolve path strings.
    expect(Number(attack.stdout)).toBeGreaterThanOrEqual(150)
    // Both keep working after it: a marker in the box is reported by each.
    const marker = join(box, 'after-the-attack')
    writeFileSync(marker, '')
    await log.untilPath(marker, 15_000)
    await untilChange(changes, marker, () => true, 15_000)
    const leaked = log.events.filter((e) => fullPath(e).includes('secret'))
    expect(leaked.length, describeEvents(leaked)).toBe(0)
    expect(said(changes.filter((c) => c.path.includes('secret') || (c.oldPath ?? '').includes('secret')))).toEqual([])
    // The tree did see the attacker's directories (the race was run against a live tree).
    expect(log.events.some((e) => e.path === box && e.filename === 'd' && e.typeNames.includes('IN_ISDIR'))).toBe(true)
    // What it could not watch (a directory turned link before it was opened) reads as vanished.
    expect(treeErrors.filter((e) => e.code !== 'ENOENT' && e.code !== 'ENOTDIR').map((e) => e.message)).toEqual([])
  }, 60_000)
})

describe('a root that is renamed', () => {
  it('is followed by the tree: an IN_MOVE_SELF under the new path, every later event under the new path, and a directory made after the move watched', async () => {
    const base = fx.tempDir()
    const t = join(base, 't')
    const t2 = join(base, 't2')
    mkdirSync(join(t, 'old'), { recursive: true })
    const tree = fx.tree(t)
    await tree.ready
    const log = fx.log(tree)
    renameSync(t, t2)
    mkdirSync(join(t2, 'newdir'))
    writeFileSync(join(t2, 'newdir', 'deep'), '')
    writeFileSync(join(t2, 'old', 'f'), '')
    await log.untilPath(join(t2, 'newdir', 'deep'), 5000, isCreate)
    await log.untilPath(join(t2, 'old', 'f'), 5000, isCreate)
    const moves = log.events.filter((e) => e.typeNames.includes('IN_MOVE_SELF'))
    expect(moves.map((e) => [e.header.mask & IN_MOVE_SELF, e.path, e.filename])).toEqual([[IN_MOVE_SELF, t2, '']])
    // (What the first scan's listings made before the move is reported where it happened.)
    const afterMove = log.events.slice(log.events.findIndex((e) => e.typeNames.includes('IN_MOVE_SELF')))
    const stale = afterMove.filter((e) => e.path === t || e.path.startsWith(`${t}/`))
    expect(stale.length, describeEvents(stale)).toBe(0)
    // The new directory is watched: a write in it later is reported too.
    writeFileSync(join(t2, 'newdir', 'later'), '')
    await log.untilPath(join(t2, 'newdir', 'later'), 5000, (e) => isCreate(e) && e.synthetic !== true)
  })

  it('is followed by watch(): one rename of the root, then every change under the new path', async () => {
    const base = fx.tempDir()
    const t = join(base, 't')
    const t2 = join(base, 't2')
    mkdirSync(join(t, 'old'), { recursive: true })
    const { changes } = await watching(t)
    renameSync(t, t2)
    mkdirSync(join(t2, 'newdir'))
    writeFileSync(join(t2, 'newdir', 'deep'), '')
    writeFileSync(join(t2, 'old', 'f'), '')
    await untilChange(changes, join(t2, 'newdir', 'deep'))
    await untilChange(changes, join(t2, 'old', 'f'))
    expect(said(changes).filter((c) => c.startsWith('rename'))).toEqual([`rename ${t} -> ${t2}/`])
    expect(changes.filter((c) => c.path === t || c.path.startsWith(`${t}/`))).toEqual([])
    expect(said(changes.filter((c) => c.type === 'create')).sort()).toEqual([
      `create ${t2}/newdir/`,
      `create ${t2}/newdir/deep`,
      `create ${t2}/old/f`,
    ])
  })

  it('is followed when renamed twice, with the subtree renamed inside it on the way', async () => {
    const base = fx.tempDir()
    const t = join(base, 't')
    mkdirSync(join(t, 'a/b'), { recursive: true })
    const tree = fx.tree(t)
    await tree.ready
    const log = fx.log(tree)
    const { changes } = await watching(t)
    const t3 = join(base, 't3')
    renameSync(t, join(base, 't2'))
    renameSync(join(base, 't2', 'a'), join(base, 't2', 'a2'))
    renameSync(join(base, 't2'), t3)
    writeFileSync(join(t3, 'a2/b/f'), '')
    await log.untilPath(join(t3, 'a2/b/f'), 5000, isCreate)
    await untilChange(changes, join(t3, 'a2/b/f'))
    expect(log.events.filter((e) => e.typeNames.includes('IN_MOVE_SELF')).at(-1)?.path).toBe(t3)
    expect(log.events.filter((e) => e.typeNames.includes('IN_CREATE')).map(fullPath)).toEqual([join(t3, 'a2/b/f')])
    // watch(): however the moves were read, the changes end at the last place.
    expect(changes.filter((c) => c.type === 'create').map((c) => c.path)).toEqual([join(t3, 'a2/b/f')])
    expect(changes.some((c) => c.type === 'rename' && c.path === t3)).toBe(true)
  })

  it('moved into another directory, stops being watched with ERR_INOTIFY_ROOT_MOVED (the tree cannot know where it went), a delete from watch(), and reports nothing under its old path', async () => {
    const base = fx.tempDir()
    const t = join(base, 't')
    mkdirSync(join(t, 'a'), { recursive: true })
    mkdirSync(join(base, 'elsewhere'))
    const treeErrors: InotifyError[] = []
    const tree = fx.tree(t, { onError: (error) => treeErrors.push(error) })
    await tree.ready
    const log = fx.log(tree)
    const watchErrors: InotifyError[] = []
    const { w, changes } = await watching(t, (error) => watchErrors.push(error))
    renameSync(t, join(base, 'elsewhere/t'))
    await until(
      () => treeErrors.length > 0 && watchErrors.length > 0 && tree.watchCount === 0 && w.stats().watches === 0,
      'both to stop watching the root',
    )
    for (const errors of [treeErrors, watchErrors]) {
      expect(errors.map((e) => [e.code, e.path])).toEqual([['ERR_INOTIFY_ROOT_MOVED', t]])
    }
    expect(kernelWatchCount(tree.fd)).toBe(0)
    await untilChange(changes, t, (c) => c.type === 'delete')
    expect(said(changes)).toEqual([`delete ${t}/`])
    writeFileSync(join(base, 'elsewhere/t/a/f'), '')
    mkdirSync(t)
    writeFileSync(join(t, 'g'), '')
    expect(log.events.filter((e) => e.typeNames.includes('IN_MOVE_SELF')).map((e) => e.path)).toEqual([t])
    // Nothing more comes: a short window for what the writes above would have made.
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(log.events.filter((e) => isCreate(e)).map(fullPath)).toEqual([])
    expect(said(changes)).toEqual([`delete ${t}/`])
  })
})

describe('roots resolved once, when the tree starts', () => {
  it('a relative root keeps meaning the directory it named when the tree started, after process.chdir(): the real new file reported, a decoy in the new working directory never', async () => {
    const real = fx.tempDir()
    const decoy = fx.tempDir()
    mkdirSync(join(real, 'rel/t'), { recursive: true })
    mkdirSync(join(decoy, 'rel/t/newdir'), { recursive: true })
    writeFileSync(join(decoy, 'rel/t/newdir/decoy-file'), '')
    const cwd = process.cwd()
    process.chdir(real)
    try {
      const tree = fx.tree('rel/t')
      const { changes } = await watching('rel/t')
      await tree.ready
      const log = fx.log(tree)
      process.chdir(decoy)
      mkdirSync(join(real, 'rel/t/newdir'))
      writeFileSync(join(real, 'rel/t/newdir/real-file'), '')
      const wanted = join(real, 'rel/t/newdir/real-file')
      const found = (path: string): boolean => path.endsWith('real-file') || path.includes('decoy')
      await log.until((events) => events.some((e) => found(fullPath(e))), 'the real file (or the decoy)')
      expect(log.events.filter((e) => fullPath(e).includes('decoy')).length, describeEvents(log.events)).toBe(0)
      await log.untilPath(wanted, 5000, isCreate)
      await untilChange(changes, wanted)
      expect(said(changes).filter((c) => c.includes('decoy'))).toEqual([])
      // Reported under the absolute path the root had when the tree started.
      expect(log.events.filter(isCreate).map(fullPath)).toEqual([join(real, 'rel/t/newdir'), wanted])
    } finally {
      process.chdir(cwd)
    }
  })

  it('a root given as a symbolic link keeps watching the directory it led to when the tree started, after the link is re-pointed', async () => {
    const base = fx.tempDir()
    const a = join(base, 'a')
    const b = join(base, 'b')
    mkdirSync(a)
    mkdirSync(join(b, 'newdir'), { recursive: true })
    writeFileSync(join(b, 'newdir/decoy-file'), '')
    const link = join(base, 'link')
    symlinkSync(a, link)
    const tree = fx.tree(link)
    await tree.ready
    const log = fx.log(tree)
    const { changes } = await watching(link)
    rmSync(link)
    symlinkSync(b, link)
    mkdirSync(join(a, 'newdir'))
    writeFileSync(join(a, 'newdir/real-file'), '')
    // Reported under the link's path, the name the root was given.
    const wanted = join(link, 'newdir/real-file')
    await log.until(
      (events) => events.some((e) => fullPath(e) === wanted || fullPath(e).includes('decoy')),
      'the real file (or the decoy)',
    )
    expect(log.events.filter((e) => fullPath(e).includes('decoy')).length, describeEvents(log.events)).toBe(0)
    await log.untilPath(wanted, 5000, isCreate)
    await untilChange(changes, wanted)
    expect(said(changes).filter((c) => c.includes('decoy'))).toEqual([])
  })

  it('holds no descriptor on a root or any directory below once ready, nor after scanning new directories', async () => {
    // (One held on a root would hold back its IN_DELETE_SELF and make umount fail with EBUSY.)
    const base = fx.tempDir()
    const roots = ['r1', 'r2', 'r3'].map((name) => join(base, name))
    for (const root of roots) {
      for (let i = 0; i < 20; i++) mkdirSync(join(root, `d${i}/e`), { recursive: true })
    }
    const inTree = (path: string): boolean => roots.some((root) => path === root || path.startsWith(`${root}/`))
    const tree = fx.trees(roots)
    await tree.ready
    const log = fx.log(tree)
    expect(tree.watchCount).toBe(3 * 41)
    expect(openDirectories().filter(inTree)).toEqual([])
    for (let i = 0; i < 20; i++) mkdirSync(join(roots[0]!, `new${i}/deeper`), { recursive: true })
    await log.untilPath(join(roots[0]!, 'new19/deeper'), 5000, isCreate)
    expect(openDirectories().filter(inTree)).toEqual([])
    expect(tree.watchCount).toBe(3 * 41 + 40)
  })
})

describe('where /proc is not mounted', () => {
  /** A tree in a child process that sees no /proc: the new directory and the file made in it. */
  const CHILD = `
    const fs = require('node:fs')
    const { InotifyTree, IN_CREATE } = require(process.argv[1] + '/dist/index.js')
    const [repo, base, outside] = process.argv.slice(1)
    ;(async () => {
      const tree = new InotifyTree(base, { mask: IN_CREATE })
      await tree.ready
      const seen = []
      const gen = tree.eventGen({ yieldNones: false, timeoutS: 5 })
      fs.mkdirSync(base + '/new')
      fs.writeFileSync(base + '/new/f', '')
      fs.symlinkSync(outside, base + '/link')
      for await (const e of gen) { seen.push(e.path + '/' + e.filename); if (seen.length >= 3) break }
      fs.writeFileSync(outside + '/behind-the-link', '')
      fs.writeFileSync(base + '/new/g', '')
      for await (const e of tree.eventGen({ yieldNones: false, timeoutS: 5 })) { seen.push(e.path + '/' + e.filename); break }
      process.stdout.write(JSON.stringify({ proc: fs.existsSync('/proc/self'), seen, watches: tree.watchCount }))
      tree.close()
    })().catch((e) => { console.error(e); process.exit(1) })
  `

  it('watches by path instead, and still reports new directories and never what lies behind a link', async () => {
    const base = join(fx.tempDir(), 'root')
    const outside = join(base, '../outside')
    mkdirSync(base)
    mkdirSync(outside)
    const run = await fx.run('unshare', [
      '-m',
      'sh',
      '-c',
      'umount -l /proc && exec "$0" -e "$1" "$2" "$3" "$4"',
      process.execPath,
      CHILD,
      REPO,
      base,
      outside,
    ])
    expect(run.code, run.stderr).toBe(0)
    const result = JSON.parse(run.stdout) as { proc: boolean; seen: string[]; watches: number }
    expect(result.proc).toBe(false)
    expect(result.seen).toEqual([join(base, 'new'), join(base, 'new/f'), join(base, 'link'), join(base, 'new/g')])
    expect(result.watches).toBe(2)
  })
})

describe('the tree with followSymlinks: true', () => {
  it('still follows links to directories outside, through handles, and stops at a loop', async () => {
    const base = fx.tempDir()
    mkdirSync(join(base, 'root/sub'), { recursive: true })
    mkdirSync(join(base, 'outside/inner'), { recursive: true })
    symlinkSync(join(base, 'outside'), join(base, 'root/ext'))
    symlinkSync('..', join(base, 'root/sub/loop'))
    const root = join(base, 'root')
    const tree = fx.tree(root, { followSymlinks: true })
    await tree.ready
    // root, sub, ext (outside), ext/inner; the loop back to root is the root's inode.
    expect(tree.watchCount).toBe(4)
    const log = fx.log(tree)
    mkdirSync(join(base, 'outside/inner/new'))
    writeFileSync(join(base, 'outside/inner/new/f'), '')
    await log.untilPath(join(root, 'ext/inner/new/f'), 5000, isCreate)
  })
})
