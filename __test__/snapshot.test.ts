/**
 * `writeSnapshot` and `getEventsSince`, against real files: the expectations of `@parcel/watcher`'s
 * own suite (test/since.js, written anew), its errors, and what a corrupt snapshot does.
 */
import { promises as fs, existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  getEventsSince,
  InotifyError,
  subscribe,
  writeSnapshot,
  type AsyncSubscription,
  type Options,
  type SubscribeEvent,
} from '../src/index'
import { makeTempDir, until } from './helpers'

const subscriptions: AsyncSubscription[] = []
const cleanups: (() => void)[] = []
afterEach(async () => {
  for (const s of subscriptions.splice(0)) await s.unsubscribe()
  for (const cleanup of cleanups.splice(0)) cleanup()
})

/** A fresh directory to snapshot (`dir`), and a snapshot path beside it, outside it. */
function setup(): { dir: string; snap: string; base: string; at: (...names: string[]) => string } {
  const { dir: base, cleanup } = makeTempDir('inotify-napi-snapshot-')
  cleanups.push(cleanup)
  const dir = join(base, 'tree')
  mkdirSync(dir)
  return { dir, snap: join(base, 'snapshot'), base, at: (...names) => join(dir, ...names) }
}

/** Writes the snapshot, runs `change`, and returns the events since. */
async function since(
  { dir, snap }: { dir: string; snap: string },
  change: () => Promise<void> | void,
  options?: Options,
): Promise<SubscribeEvent[]> {
  await writeSnapshot(dir, snap, options)
  await change()
  return getEventsSince(dir, snap, options)
}

describe('getEventsSince reports what changed since writeSnapshot, as @parcel/watcher', () => {
  it('reports a file created, updated, renamed and deleted', async () => {
    const t = setup()
    expect(await since(t, () => fs.writeFile(t.at('new'), 'hello world'))).toEqual([
      { type: 'create', path: t.at('new') },
    ])
    writeFileSync(t.at('f'), 'hello world')
    expect(await since(t, () => fs.writeFile(t.at('f'), 'hi'))).toEqual([{ type: 'update', path: t.at('f') }])
    expect(await since(t, () => fs.rename(t.at('f'), t.at('g')))).toEqual([
      { type: 'delete', path: t.at('f') },
      { type: 'create', path: t.at('g') },
    ])
    expect(await since(t, () => fs.unlink(t.at('g')))).toEqual([{ type: 'delete', path: t.at('g') }])
    expect(await since(t, () => {})).toEqual([])
  })

  it('reports directories created, renamed and deleted with their content', async () => {
    const t = setup()
    expect(await since(t, () => fs.mkdir(t.at('d')))).toEqual([{ type: 'create', path: t.at('d') }])
    writeFileSync(t.at('d', 'f'), 'x')
    expect(await since(t, () => fs.rename(t.at('d'), t.at('e')))).toEqual([
      { type: 'delete', path: t.at('d') },
      { type: 'delete', path: t.at('d', 'f') },
      { type: 'create', path: t.at('e') },
      { type: 'create', path: t.at('e', 'f') },
    ])
    expect(await since(t, () => fs.rm(t.at('e'), { recursive: true }))).toEqual([
      { type: 'delete', path: t.at('e') },
      { type: 'delete', path: t.at('e', 'f') },
    ])
  })

  it('reports sub-files and sub-directories', async () => {
    const t = setup()
    mkdirSync(t.at('d'))
    expect(await since(t, () => fs.writeFile(t.at('d', 'f'), 'hello world'))).toEqual([
      { type: 'create', path: t.at('d', 'f') },
    ])
    expect(await since(t, () => fs.writeFile(t.at('d', 'f'), 'hi'))).toEqual([{ type: 'update', path: t.at('d', 'f') }])
    expect(await since(t, () => fs.rename(t.at('d', 'f'), t.at('d', 'g')))).toEqual([
      { type: 'delete', path: t.at('d', 'f') },
      { type: 'create', path: t.at('d', 'g') },
    ])
    expect(await since(t, () => fs.mkdir(t.at('d', 'sub')))).toEqual([{ type: 'create', path: t.at('d', 'sub') }])
    expect(await since(t, () => fs.rename(t.at('d', 'sub'), t.at('d', 'sub2')))).toEqual([
      { type: 'delete', path: t.at('d', 'sub') },
      { type: 'create', path: t.at('d', 'sub2') },
    ])
    expect(await since(t, () => fs.unlink(t.at('d', 'g')))).toEqual([{ type: 'delete', path: t.at('d', 'g') }])
  })

  it('takes a symbolic link as itself: created, renamed, deleted; a write through it updates its target', async () => {
    const t = setup()
    writeFileSync(t.at('target'), 'hello world')
    expect(await since(t, () => fs.symlink(t.at('target'), t.at('link')))).toEqual([
      { type: 'create', path: t.at('link') },
    ])
    expect(await since(t, () => fs.writeFile(t.at('link'), 'hi'))).toEqual([{ type: 'update', path: t.at('target') }])
    expect(await since(t, () => fs.rename(t.at('link'), t.at('link2')))).toEqual([
      { type: 'delete', path: t.at('link') },
      { type: 'create', path: t.at('link2') },
    ])
    expect(await since(t, () => fs.unlink(t.at('link2')))).toEqual([{ type: 'delete', path: t.at('link2') }])
    // A link to a directory is not followed: what is under the directory is reported once.
    mkdirSync(t.at('real'))
    expect(
      await since(t, async () => {
        await fs.symlink(t.at('real'), t.at('dirlink'))
        await fs.writeFile(t.at('real', 'x'), 'x')
      }),
    ).toEqual([
      { type: 'create', path: t.at('dirlink') },
      { type: 'create', path: t.at('real', 'x') },
    ])
  })

  it('coalesces rapid changes into what the tree shows now', async () => {
    const t = setup()
    const created = await since(t, async () => {
      await fs.writeFile(t.at('a'), 'hello world')
      await fs.writeFile(t.at('b'), 'hello world')
      await fs.unlink(t.at('b'))
      await fs.writeFile(t.at('a'), 'updated')
      await fs.writeFile(t.at('c'), 'c')
      await fs.rename(t.at('c'), t.at('c2'))
      await fs.rename(t.at('c2'), t.at('c3'))
    })
    expect(created).toEqual([
      { type: 'create', path: t.at('a') },
      { type: 'create', path: t.at('c3') },
    ])
    writeFileSync(t.at('u'), 'hello world')
    const updated = await since(t, async () => {
      for (const text of ['update', 'update2', 'update3']) await fs.writeFile(t.at('u'), text)
      await fs.writeFile(t.at('a'), 'update')
      await fs.unlink(t.at('a'))
    })
    expect(updated).toEqual([
      { type: 'delete', path: t.at('a') },
      { type: 'update', path: t.at('u') },
    ])
  })

  it('reports a file replaced with its time and size kept, which a comparison of times alone misses', async () => {
    const t = setup()
    // A whole second, which utimes sets exactly (as `cp -p`, `rsync -t` or `tar x` keep a time).
    const second = 1_700_000_000
    writeFileSync(t.at('f'), 'same size')
    await fs.utimes(t.at('f'), second, second)
    const events = await since(t, async () => {
      await fs.writeFile(t.at('f.new'), 'SAME SIZE')
      await fs.utimes(t.at('f.new'), second, second)
      await fs.rename(t.at('f.new'), t.at('f'))
    })
    expect(events).toEqual([{ type: 'update', path: t.at('f') }])
  })

  it('reports a path that turned from a file into a directory, and back, as updated', async () => {
    const t = setup()
    writeFileSync(t.at('p'), 'x')
    expect(
      await since(t, async () => {
        await fs.unlink(t.at('p'))
        await fs.mkdir(t.at('p'))
        await fs.writeFile(t.at('p', 'inner'), 'y')
      }),
    ).toEqual([
      { type: 'update', path: t.at('p') },
      { type: 'create', path: t.at('p', 'inner') },
    ])
    expect(
      await since(t, () => fs.rm(t.at('p'), { recursive: true }).then(() => fs.writeFile(t.at('p'), 'z'))),
    ).toEqual([
      { type: 'update', path: t.at('p') },
      { type: 'delete', path: t.at('p', 'inner') },
    ])
  })

  it('sorts events by the bytes of their paths, as @parcel/watcher orders a batch', async () => {
    const t = setup()
    const names = ['a', 'a.txt', 'b', '\u{ffff}', '\u{10000}', 'Z']
    const events = await since(t, async () => {
      await fs.mkdir(t.at('a'))
      for (const name of names.slice(1)) await fs.writeFile(t.at(name), '')
      await fs.writeFile(t.at('a', 'b'), '')
    })
    // '.' (0x2e) sorts before '/' (0x2f); U+FFFF (ef bf bf) before U+10000 (f0 90 80 80),
    // although UTF-16 order puts the surrogate pair first.
    expect(events.map((e) => relative(t.dir, e.path))).toEqual(['Z', 'a', 'a.txt', 'a/b', 'b', '\u{ffff}', '\u{10000}'])
    expect(events.every((e) => e.type === 'create')).toBe(true)
  })

  it('reports every change in a tree of a thousand files, with what is created, updated and deleted', async () => {
    const t = setup()
    for (let d = 0; d < 20; d++) {
      mkdirSync(t.at(`d${d}`))
      for (let f = 0; f < 50; f++) writeFileSync(t.at(`d${d}`, `f${f}`), 'x')
    }
    const expected: SubscribeEvent[] = []
    const events = await since(t, () => {
      for (let d = 0; d < 20; d += 3) {
        writeFileSync(t.at(`d${d}`, 'f1'), 'changed')
        expected.push({ type: 'update', path: t.at(`d${d}`, 'f1') })
        writeFileSync(t.at(`d${d}`, 'new'), '')
        expected.push({ type: 'create', path: t.at(`d${d}`, 'new') })
        unlinkSync(t.at(`d${d}`, 'f2'))
        expected.push({ type: 'delete', path: t.at(`d${d}`, 'f2') })
      }
    })
    expected.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
    expect(events).toEqual(expected)
  })
})

describe('ignore, as subscribe() takes it', () => {
  it('leaves out an ignored directory, file, glob and RegExp, in the snapshot and in the comparison', async () => {
    const t = setup()
    mkdirSync(t.at('ignored-dir'))
    mkdirSync(t.at('src'))
    const options: Options = { ignore: [t.at('ignored-dir'), t.at('ignored-file'), '**/*.log', /\.tmp$/] }
    const events = await since(
      t,
      async () => {
        await fs.writeFile(t.at('kept'), 'hello')
        await fs.writeFile(t.at('ignored-dir', 'inside'), 'sup')
        await fs.writeFile(t.at('ignored-file'), 'sup')
        await fs.writeFile(t.at('src', 'a.log'), 'log')
        await fs.writeFile(t.at('src', 'a.tmp'), 'tmp')
        await fs.writeFile(t.at('src', 'a.ts'), 'ts')
      },
      options,
    )
    expect(events).toEqual([
      { type: 'create', path: t.at('kept') },
      { type: 'create', path: t.at('src', 'a.ts') },
    ])
    // Without the ignores, what the snapshot left out is there now.
    expect((await getEventsSince(t.dir, t.snap)).map((e) => relative(t.dir, e.path))).toEqual([
      'ignored-dir',
      'ignored-dir/inside',
      'ignored-file',
      'kept',
      'src/a.log',
      'src/a.tmp',
      'src/a.ts',
    ])
  })

  it("refuses a bad ignore entry with @parcel/watcher's error before anything is written", async () => {
    const t = setup()
    await expect(writeSnapshot(t.dir, t.snap, { ignore: [/a/i] })).rejects.toThrow('Flags are not supported')
    await expect(writeSnapshot(t.dir, t.snap, { ignore: [42 as unknown as string] })).rejects.toThrow(TypeError)
    expect(existsSync(t.snap)).toBe(false)
  })
})

describe('writeSnapshot', () => {
  it('resolves with the absolute snapshot path, resolving relative paths as @parcel/watcher', async () => {
    const t = setup()
    const cwd = process.cwd()
    process.chdir(t.base)
    try {
      expect(await writeSnapshot('tree', 'relative.snap')).toBe(join(t.base, 'relative.snap'))
      expect(await getEventsSince('tree', 'relative.snap')).toEqual([])
    } finally {
      process.chdir(cwd)
    }
  })

  it('replaces an existing snapshot whole and leaves no temporary file', async () => {
    const t = setup()
    writeFileSync(t.snap, 'an older snapshot')
    writeFileSync(t.at('f'), 'x')
    await writeSnapshot(t.dir, t.snap)
    expect(await getEventsSince(t.dir, t.snap)).toEqual([])
    expect(readdirSync(t.base).sort()).toEqual(['snapshot', 'tree'])
  })

  it('writes a snapshot smaller than @parcel/watcher writes for the same tree', async () => {
    const t = setup()
    for (let d = 0; d < 10; d++) {
      mkdirSync(t.at(`dir${d}`))
      for (let f = 0; f < 100; f++) writeFileSync(t.at(`dir${d}`, `file${f}.txt`), '')
    }
    await writeSnapshot(t.dir, t.snap)
    // @parcel/watcher's format: a line per path, `<length><absolute path><mtime ns> <isDir>`.
    const parcelSize = 1100 * (t.dir.length + '/dir0/file00.txt'.length + 4 + 19 + 3)
    expect(readFileSync(t.snap).length).toBeLessThan(parcelSize / 4)
  })

  it('works while subscribe() watches the same directory, and the subscription sees only real changes', async () => {
    const t = setup()
    const seen: SubscribeEvent[] = []
    const errors: Error[] = []
    const sub = await subscribe(t.dir, (err, events) => {
      if (err) errors.push(err)
      else seen.push(...events)
    })
    subscriptions.push(sub)
    writeFileSync(t.at('test1.txt'), 'hello1')
    await until(() => seen.some((e) => e.path === t.at('test1.txt')), 'the create of test1.txt')
    await writeSnapshot(t.dir, t.snap)
    writeFileSync(t.at('test2.txt'), 'hello2')
    await until(() => seen.some((e) => e.path === t.at('test2.txt')), 'the create of test2.txt')
    expect(await getEventsSince(t.dir, t.snap)).toEqual([{ type: 'create', path: t.at('test2.txt') }])
    expect(errors).toEqual([])
    expect(seen).toEqual([
      { type: 'create', path: t.at('test1.txt') },
      { type: 'create', path: t.at('test2.txt') },
    ])
  })
})

/** The error a promise rejects with. */
async function rejection(promise: Promise<unknown>): Promise<InotifyError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(InotifyError)
  return error as InotifyError
}

describe('errors', () => {
  it('rejects a missing directory or a file with ENOENT or ENOTDIR, naming it', async () => {
    const t = setup()
    const missing = join(t.base, 'missing')
    for (const call of [writeSnapshot, getEventsSince]) {
      if (call === getEventsSince) await writeSnapshot(t.dir, t.snap)
      const error = await rejection(call(missing, t.snap))
      expect([error.code, error.syscall, error.path]).toEqual(['ENOENT', 'open', missing])
      expect(error.message).toContain(missing)
    }
    writeFileSync(t.at('file'), 'x')
    const error = await rejection(writeSnapshot(t.at('file'), join(t.base, 'other')))
    expect([error.code, error.path, error.message]).toEqual([
      'ENOTDIR',
      t.at('file'),
      `ENOTDIR: not a directory, open '${t.at('file')}'`,
    ])
    expect(existsSync(join(t.base, 'other'))).toBe(false)
  })

  it("rejects a snapshot that cannot be opened with @parcel/watcher's message", async () => {
    const t = setup()
    const missing = join(t.base, 'no-snapshot')
    const error = await rejection(getEventsSince(t.dir, missing))
    expect([error.code, error.path]).toEqual(['ENOENT', missing])
    expect(error.message).toBe(`Unable to open snapshot file: No such file or directory ('${missing}')`)
    const inMissingDir = join(t.base, 'no', 'dir', 'snap')
    const writeError = await rejection(writeSnapshot(t.dir, inMissingDir))
    expect(writeError.message).toMatch(/^Unable to open snapshot file: No such file or directory/)
    // Both missing: the snapshot's error, as @parcel/watcher opens it first.
    expect((await rejection(getEventsSince(join(t.base, 'nope'), missing))).path).toBe(missing)
  })

  it('rejects a corrupt snapshot with ERR_INOTIFY_SNAPSHOT_CORRUPT, never a wrong answer', async () => {
    const t = setup()
    mkdirSync(t.at('d'))
    for (let i = 0; i < 30; i++) writeFileSync(t.at('d', `f${i}`), `${i}`)
    await writeSnapshot(t.dir, t.snap)
    const good = readFileSync(t.snap)
    const corrupt = join(t.base, 'corrupt')
    const expectCorrupt = async (bytes: Buffer, reason: RegExp): Promise<void> => {
      writeFileSync(corrupt, bytes)
      const error = await rejection(getEventsSince(t.dir, corrupt))
      expect([error.code, error.path]).toEqual(['ERR_INOTIFY_SNAPSHOT_CORRUPT', corrupt])
      expect(error.message).toMatch(reason)
    }
    // Cut short at every offset.
    for (let cut = 0; cut < good.length; cut++) await expectCorrupt(good.subarray(0, cut), /cut short|checksum/)
    // Any byte of the body altered.
    for (let at = 10; at < good.length; at += 7) {
      const altered = Buffer.from(good)
      altered[at] = (altered[at] ?? 0) ^ 0x41
      await expectCorrupt(altered, /checksum/)
    }
    const badMagic = Buffer.from(good)
    badMagic[2] = 0
    await expectCorrupt(badMagic, /not a snapshot written by inotify-napi/)
    const badVersion = Buffer.from(good)
    badVersion[8] = 9
    await expectCorrupt(badVersion, /version is 9/)
    await expectCorrupt(Buffer.from('garbage\n'.repeat(100)), /not a snapshot/)
    await expectCorrupt(Buffer.from(`1\n${t.dir.length}${t.dir}1796612580269000914 1\n`), /not a snapshot/)
    await expectCorrupt(Buffer.alloc(0), /cut short/)
    // The good one still reads, and says nothing changed.
    expect(await getEventsSince(t.dir, t.snap)).toEqual([])
  })

  it('rejects bad arguments with a TypeError before any file is touched', async () => {
    const t = setup()
    const bad: [unknown, unknown, unknown][] = [
      [42, t.snap, undefined],
      [t.dir, 42, undefined],
      [t.dir, `${t.snap}\0x`, undefined],
      [t.dir, t.snap, { unknown: true }],
      [t.dir, t.snap, null],
      [t.dir, t.snap, { backend: 'kqueue' }],
    ]
    for (const [dir, snap, options] of bad) {
      const call = writeSnapshot as (...args: unknown[]) => Promise<string>
      await expect(call(dir, snap, options)).rejects.toThrow(TypeError)
    }
    expect(readdirSync(t.base)).toEqual(['tree'])
  })
})
