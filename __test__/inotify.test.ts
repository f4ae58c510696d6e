/**
 * End-to-end: `Inotify` events against the real kernel (what is reported, in which order, under
 * which path and name).
 */
import { mkdirSync, readFileSync, renameSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { IN_ATTRIB, IN_CREATE, IN_MOVE, TerminalEventError, type InotifyEvent } from '../src/index'
import { collectUntil } from './helpers'
import {
  brief,
  eventsOf,
  firstFilename,
  overflowKernelQueue,
  SEED_TYPE_NAMES,
  sh,
  useFixture,
  withinDeadline,
} from './inotify-fixture'

const fx = useFixture()

/** The seed's README example, as `sh` runs it. */
const SEED_SCRIPT = 'touch "$D/aa"; rm "$D/aa"; mkdir "$D/dir1"; rmdir "$D/dir1"'
const SEED_FILENAMES = ['aa', 'aa', 'aa', 'aa', 'aa', 'dir1', 'dir1']

/** Collects until the seed's seven events arrived and a `null` (the cycle's end) followed them. */
function seedDone(items: (InotifyEvent | null)[]): boolean {
  return eventsOf(items).length >= SEED_TYPE_NAMES.length && items.at(-1) === null
}

function expectSeedEvents(events: InotifyEvent[], dir: string, wd: number): void {
  expect(events.map((e) => e.typeNames)).toEqual(SEED_TYPE_NAMES)
  expect(events.map((e) => e.filename)).toEqual(SEED_FILENAMES)
  for (const event of events) {
    expect(event.header).toMatchObject({ wd, cookie: 0, len: 16 })
    expect(event.path).toBe(dir)
  }
}

describe('the seed example', () => {
  it('reports touch, rm, mkdir and rmdir in order, with the wd, path and names, and a null after the cycle', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open()
    const wd = inotify.addWatch(dir)
    sh(dir, SEED_SCRIPT)
    const items = await collectUntil(inotify.eventGen(), seedDone, 'the seed events and a null')
    expectSeedEvents(eventsOf(items), dir, wd)
    expect(items.at(-1)).toBeNull()
  })

  it('reports the same events for a directory given in the paths option', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ paths: [dir] })
    sh(dir, SEED_SCRIPT)
    const items = await collectUntil(inotify.eventGen(), seedDone, 'the seed events and a null')
    // A second addWatch of a watched path returns its wd: the one the constructor's watch got.
    expectSeedEvents(eventsOf(items), dir, inotify.addWatch(dir))
  })

  it('yields no null at all when yieldNones is false', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open()
    const wd = inotify.addWatch(dir)
    sh(dir, SEED_SCRIPT)
    // Runs to the generator's own end (0.3 s without an event), so every cycle end was passed.
    const items = await collectUntil(inotify.eventGen({ yieldNones: false, timeoutS: 0.3 }), () => false, 'the end')
    expect(items).not.toContain(null)
    expectSeedEvents(items, dir, wd)
  })
})

describe('paths and names', () => {
  it('round-trips a UTF-8 watch path and file name with CJK characters as strings', async () => {
    const dir = join(fx.tempDir(), '目录-テスト')
    mkdirSync(dir)
    const inotify = fx.open()
    inotify.addWatch(dir, IN_CREATE)
    writeFileSync(join(dir, '文件-ファイル.txt'), '')
    const [event] = await collectUntil(inotify.eventGen({ yieldNones: false }), (e) => e.length === 1, 'IN_CREATE')
    expect(event?.path).toBe(dir)
    expect(event?.filename).toBe('文件-ファイル.txt')
    expect(event?.typeNames).toEqual(['IN_CREATE'])
  })

  it('survives a file name that is not UTF-8: U+FFFD in the name, and later events still arrive', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open()
    inotify.addWatch(dir, IN_CREATE)
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x66, 0xff, 0x6f])]), '')
    const gen = inotify.eventGen({ yieldNones: false })
    const [bad] = await collectUntil(gen, (e) => e.length === 1, 'the non-UTF-8 name')
    expect(bad?.filename).toBe('f\uFFFDo')
    expect(bad?.path).toBe(dir)
    writeFileSync(join(dir, 'after'), '')
    const [after] = await collectUntil(gen, (e) => e.length === 1, 'the next event')
    expect(brief(after!)).toEqual({ typeNames: ['IN_CREATE'], filename: 'after' })
  })

  it('gives the exact bytes of a non-UTF-8 name, and the path, as Buffers with encoding buffer', async () => {
    const dir = fx.tempDir()
    const name = Buffer.from([0x66, 0xff, 0x6f])
    const inotify = fx.open({ encoding: 'buffer' })
    inotify.addWatch(dir, IN_CREATE)
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), name]), '')
    const [event] = await collectUntil(inotify.eventGen({ yieldNones: false }), (e) => e.length === 1, 'IN_CREATE')
    expect(Buffer.isBuffer(event?.filename)).toBe(true)
    expect(Buffer.isBuffer(event?.path)).toBe(true)
    expect(event?.filename.equals(name)).toBe(true)
    expect(event?.path.equals(Buffer.from(dir))).toBe(true)
  })

  it('accepts a file URL and a Buffer as watch paths, and reports under the path as a string', async () => {
    const base = fx.tempDir()
    const byUrl = join(base, 'by url')
    const byBuffer = join(base, 'by-buffer')
    mkdirSync(byUrl)
    mkdirSync(byBuffer)
    const inotify = fx.open()
    const urlWd = inotify.addWatch(pathToFileURL(byUrl), IN_CREATE)
    const bufferWd = inotify.addWatch(Buffer.from(byBuffer), IN_CREATE)
    expect(urlWd).not.toBe(bufferWd)
    writeFileSync(join(byUrl, 'u'), '')
    writeFileSync(join(byBuffer, 'b'), '')
    const events = await collectUntil(inotify.eventGen({ yieldNones: false }), (e) => e.length === 2, 'two IN_CREATE')
    expect(events.map((e) => [e.header.wd, e.path, e.filename])).toEqual([
      [urlWd, byUrl, 'u'],
      [bufferWd, byBuffer, 'b'],
    ])
  })

  it('returns the same wd when the same path is watched twice', () => {
    const dir = fx.tempDir()
    const inotify = fx.open()
    const wd = inotify.addWatch(dir)
    expect(inotify.addWatch(dir, IN_CREATE)).toBe(wd)
    expect(inotify.watchCount).toBe(1)
  })
})

describe('kernel events', () => {
  it('reports IN_DELETE_SELF then IN_IGNORED for a deleted watched directory, then holds one watch less', async () => {
    const base = fx.tempDir()
    const doomed = join(base, 'doomed')
    const kept = join(base, 'kept')
    mkdirSync(doomed)
    mkdirSync(kept)
    const inotify = fx.open()
    const wd = inotify.addWatch(doomed)
    inotify.addWatch(kept)
    expect(inotify.watchCount).toBe(2)
    rmdirSync(doomed)
    const events = await collectUntil(
      inotify.eventGen({ yieldNones: false, filter: (e) => e.header.wd === wd }),
      (e) => e.some((event) => event.typeNames.includes('IN_IGNORED')),
      'IN_IGNORED',
    )
    expect(events.map((e) => e.typeNames)).toEqual([['IN_DELETE_SELF'], ['IN_IGNORED']])
    for (const event of events) expect(event).toMatchObject({ path: doomed, filename: '' })
    expect(inotify.watchCount).toBe(1)
  })

  it('pairs IN_MOVED_FROM and IN_MOVED_TO of a rename with the same non-zero cookie', async () => {
    const dir = fx.tempDir()
    writeFileSync(join(dir, 'old'), '')
    const inotify = fx.open()
    inotify.addWatch(dir, IN_MOVE)
    renameSync(join(dir, 'old'), join(dir, 'new'))
    const [from, to] = await collectUntil(
      inotify.eventGen({ yieldNones: false }),
      (e) => e.length === 2,
      'the rename pair',
    )
    expect(brief(from!)).toEqual({ typeNames: ['IN_MOVED_FROM'], filename: 'old' })
    expect(brief(to!)).toEqual({ typeNames: ['IN_MOVED_TO'], filename: 'new' })
    expect(from?.header.cookie).not.toBe(0)
    expect(to?.header.cookie).toBe(from?.header.cookie)
  })

  it('throws TerminalEventError IN_Q_OVERFLOW with wd -1 when the kernel queue overflowed', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open()
    inotify.addWatch(dir, IN_CREATE | IN_ATTRIB)
    overflowKernelQueue(dir)
    const error = await withinDeadline(drainUntilError(inotify.eventGen({ yieldNones: false })), 'the overflow', 10_000)
    expect(error).toBeInstanceOf(TerminalEventError)
    const terminal = error as TerminalEventError<InotifyEvent>
    expect(terminal.typeName).toBe('IN_Q_OVERFLOW')
    expect(terminal.event.header.wd).toBe(-1)
    expect(terminal.event.typeNames).toEqual(['IN_Q_OVERFLOW'])
  })

  it('yields the IN_Q_OVERFLOW event and keeps going when terminalEvents is empty', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open()
    inotify.addWatch(dir, IN_CREATE | IN_ATTRIB)
    overflowKernelQueue(dir)
    const gen = inotify.eventGen({ yieldNones: false, terminalEvents: [] })
    const items = await collectUntil(gen, (e) => e.at(-1)?.typeNames[0] === 'IN_Q_OVERFLOW', 'the overflow', 10_000)
    const overflow = items.at(-1)!
    expect(overflow).toMatchObject({ typeNames: ['IN_Q_OVERFLOW'], path: '', filename: '' })
    expect(overflow.header.wd).toBe(-1)
    // The kernel queue holds max_queued_events events before the overflow marker.
    expect(items.length - 1).toBe(maxQueuedEvents())
    writeFileSync(join(dir, 'after-overflow'), '')
    const [after] = await collectUntil(gen, (e) => e.length === 1, 'an event after the overflow')
    expect(brief(after!)).toEqual({ typeNames: ['IN_CREATE'], filename: 'after-overflow' })
  })
})

describe('generator options', () => {
  it('ends when filterPredicate returns false and keeps the type name and event in lastSuccessReturn', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open()
    inotify.addWatch(dir, IN_CREATE)
    for (const name of ['a', 'stop', 'b']) writeFileSync(join(dir, name), '')
    const gen = inotify.eventGen({
      yieldNones: false,
      filterPredicate: (typeName, event) => !(typeName === 'IN_CREATE' && event.filename === 'stop'),
    })
    const events = await collectUntil(gen, () => false, 'the generator to end')
    expect(events.map((e) => e.filename)).toEqual(['a'])
    expect(inotify.lastSuccessReturn?.[0]).toBe('IN_CREATE')
    expect(inotify.lastSuccessReturn?.[1]).toMatchObject({ typeNames: ['IN_CREATE'], path: dir, filename: 'stop' })
  })

  it('drops the events filter rejects', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open()
    inotify.addWatch(dir)
    sh(dir, 'touch "$D/x"; rm "$D/x"; mkdir "$D/y"; rmdir "$D/y"')
    const gen = inotify.eventGen({ yieldNones: false, filter: (e) => e.typeNames.includes('IN_DELETE') })
    const events = await collectUntil(gen, (e) => e.length === 2, 'two IN_DELETE')
    expect(events.map(brief)).toEqual([
      { typeNames: ['IN_DELETE'], filename: 'x' },
      { typeNames: ['IN_ISDIR', 'IN_DELETE'], filename: 'y' },
    ])
  })

  it('iterates events without nulls with for await over the instance', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ blockDurationS: 0.05 })
    inotify.addWatch(dir, IN_CREATE)
    writeFileSync(join(dir, 'one'), '')
    writeFileSync(join(dir, 'two'), '')
    const seen: (InotifyEvent | null)[] = []
    await withinDeadline(
      (async () => {
        for await (const event of inotify) {
          seen.push(event)
          if (seen.length === 2) break
        }
      })(),
      'two events',
    )
    expect(seen.map((e) => e?.filename)).toEqual(['one', 'two'])
  })

  it('loses no pending event when a for-await loop is left and a new eventGen started', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open()
    inotify.addWatch(dir, IN_CREATE)
    const names = ['n1', 'n2', 'n3', 'n4', 'n5']
    for (const name of names) writeFileSync(join(dir, name), '')
    const first: string[] = []
    first.push(await firstFilename(inotify))
    const rest = await collectUntil(
      inotify.eventGen({ yieldNones: false }),
      (e) => first.length + e.length >= names.length,
      'the rest',
    )
    expect(first).toHaveLength(1)
    expect([...first, ...rest.map((e) => e.filename)]).toEqual(names)
    // And nothing comes twice afterwards.
    const late = await collectUntil(inotify.eventGen({ yieldNones: false, timeoutS: 0.3 }), () => false, 'the end')
    expect(late).toEqual([])
  })
})

function maxQueuedEvents(): number {
  return Number.parseInt(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'), 10)
}

/**
 * Makes more events than the kernel queue holds while nobody reads: creates and deletes files in
 * turn (two names, so that no two consecutive events are identical and merged).
 */
async function drainUntilError(gen: AsyncGenerator<InotifyEvent>): Promise<unknown> {
  try {
    for await (const _event of gen) {
      // Events queued before the overflow come first.
    }
  } catch (error) {
    return error
  }
  throw new Error('eventGen ended without an error')
}
