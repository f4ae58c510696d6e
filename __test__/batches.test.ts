/**
 * End-to-end: `eventBatches`, the batch path, against the real kernel: the same events as
 * `eventGen`, a batch at a time, read in place from the engine's buffer.
 */
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  AbortError,
  IN_ATTRIB,
  IN_CREATE,
  IN_Q_OVERFLOW,
  InotifyTree,
  type EventBatch,
  type InotifyEvent,
} from '../src/index'
import { BATCH } from '../src/format-constants'
import { NativeSession, type RawHandle } from '../src/native-session'
import { WireBatch } from '../src/wire'
import { collectUntil } from './helpers'
import { brief, overflowKernelQueue, SEED_TYPE_NAMES, sh, useFixture, withinDeadline } from './inotify-fixture'

const fx = useFixture()

/** Every event of `batches`, through the index accessors (not `event(i)`), as `eventGen` would give it. */
function viaAccessors<P extends string | Buffer>(batches: readonly EventBatch<P>[]): InotifyEvent<P>[] {
  const events: InotifyEvent<P>[] = []
  for (const b of batches) {
    for (let i = 0; i < b.length; i++) {
      const event: InotifyEvent<P> = {
        header: { wd: b.wd(i), mask: b.mask(i), cookie: b.cookie(i), len: b.len(i) },
        typeNames: b.typeNames(i),
        path: b.path(i),
        filename: b.filename(i),
      }
      if (b.synthetic(i)) event.synthetic = true
      events.push(event)
    }
  }
  return events
}

const eventCount = (batches: readonly EventBatch<string | Buffer>[]): number =>
  batches.reduce((n, b) => n + b.length, 0)

describe('eventBatches', () => {
  it('gives the seed example’s events, the same through the accessors, event(i) and iteration as eventGen gives them', async () => {
    const dir = fx.tempDir()
    const script = 'touch "$D/aa"; rm "$D/aa"; mkdir "$D/dir1"; rmdir "$D/dir1"'
    const viaGen = fx.open()
    const viaBatches = fx.open()
    const wd = viaGen.addWatch(dir)
    viaBatches.addWatch(dir)
    sh(dir, script)
    const expected = await collectUntil(
      viaGen.eventGen({ yieldNones: false }),
      (e) => e.length === 7,
      'the seed events',
    )
    const batches = await collectUntil(
      viaBatches.eventBatches(),
      (b) => eventCount(b) === 7,
      'the seed events in batches',
    )
    for (const batch of batches) expect(batch.length).toBeGreaterThan(0)
    expect(viaAccessors(batches)).toEqual(expected)
    expect(batches.flatMap((b) => [...b])).toEqual(expected)
    expect(batches.flatMap((b) => Array.from({ length: b.length }, (_, i) => b.event(i)))).toEqual(expected)
    expect(expected.map(brief).map((e) => e.typeNames)).toEqual(SEED_TYPE_NAMES)
    for (const event of expected) expect(event).toMatchObject({ path: dir, header: { wd } })
  })

  it('gives a backlog of 10,000 events once each, in order, in more than one batch (the reader hands over while it reads on)', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ paths: [dir], mask: IN_CREATE, blockDurationS: null })
    const names = Array.from({ length: 10_000 }, (_, i) => `link${String(i).padStart(5, '0')}`)
    for (const name of names) symlinkSync('target', join(dir, name))
    const batches = await collectUntil(
      inotify.eventBatches(),
      (b) => eventCount(b) >= names.length,
      'the backlog',
      10_000,
    )
    const seen = batches.flatMap((b) => Array.from({ length: b.length }, (_, i) => b.filename(i)))
    expect(seen).toEqual(names)
    expect(batches.length).toBeGreaterThan(1)
    expect(batches[0]!.length).toBeLessThan(names.length)
  })

  it('gives eventGen one null for a backlog handed over in parts: a part is not the end of a cycle', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ paths: [dir], mask: IN_CREATE, blockDurationS: null })
    const names = Array.from({ length: 10_000 }, (_, i) => `link${String(i).padStart(5, '0')}`)
    for (const name of names) symlinkSync('target', join(dir, name))
    const items = await collectUntil(
      inotify.eventGen(),
      (got) => got.at(-1) === null,
      'the backlog and its null',
      10_000,
    )
    expect(items.filter((item) => item === null)).toHaveLength(1)
    expect(items.slice(0, -1).map((e) => e!.filename)).toEqual(names)
  })

  it('gives eventGen its null after a backlog whose last read fills the reader’s buffer and empties the queue', async () => {
    // 8,192 events of 32 bytes: two reads that fill the reader's 128 KiB exactly, the second one
    // leaving nothing queued. It is handed over as a part, and the cycle's end comes after it.
    const dir = fx.tempDir()
    const inotify = fx.open({ paths: [dir], mask: IN_CREATE, blockDurationS: null })
    const names = Array.from({ length: 8192 }, (_, i) => `link${String(i).padStart(5, '0')}`)
    for (const name of names) symlinkSync('target', join(dir, name))
    const items = await collectUntil(
      inotify.eventGen(),
      (got) => got.at(-1) === null,
      'the backlog and its null',
      10_000,
    )
    expect(items.filter((item) => item === null)).toHaveLength(1)
    expect(items.slice(0, -1).map((e) => e!.filename)).toEqual(names)
  })

  it('decodes ASCII, CJK and non-UTF-8 names side by side in one batch, and gives exact bytes with encoding buffer', async () => {
    const dir = fx.tempDir()
    const utf8 = fx.open({ paths: [dir], mask: IN_CREATE, blockDurationS: null })
    const bytes = fx.open({ paths: [dir], mask: IN_CREATE, blockDurationS: null, encoding: 'buffer' })
    const names = [
      Buffer.from('plain-ascii-name'),
      Buffer.from('日本語の名前'),
      Buffer.from([0x66, 0xff, 0x6f]),
      Buffer.from('z'),
    ]
    for (const name of names) writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), name]), '')
    const text = await collectUntil(utf8.eventBatches(), (b) => eventCount(b) === names.length, 'the names')
    expect(text.flatMap((b) => Array.from({ length: b.length }, (_, i) => b.filename(i)))).toEqual([
      'plain-ascii-name',
      '日本語の名前',
      'f\ufffdo',
      'z',
    ])
    const raw = await collectUntil(bytes.eventBatches(), (b) => eventCount(b) === names.length, 'the names as bytes')
    const rawNames = raw.flatMap((b) => Array.from({ length: b.length }, (_, i) => b.filename(i)))
    expect(rawNames).toEqual(names)
    expect(raw[0]!.path(0)).toEqual(Buffer.from(dir))
  })

  it('shares the queue with eventGen: what one generator leaves, the other gets, nothing twice', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ paths: [dir], mask: IN_CREATE, blockDurationS: null })
    sh(dir, 'touch "$D/a" "$D/b" "$D/c"')
    const first = await collectUntil(inotify.eventGen({ yieldNones: false }), (e) => e.length === 1, 'one event')
    const rest = await collectUntil(inotify.eventBatches(), (b) => eventCount(b) + first.length === 3, 'the rest')
    writeFileSync(join(dir, 'd'), '')
    const after = await collectUntil(inotify.eventGen({ yieldNones: false }), (e) => e.length === 1, 'a later event')
    const names = [...first, ...rest.flatMap((b) => [...b]), ...after].map((e) => e.filename)
    expect(names).toEqual(['a', 'b', 'c', 'd'])
  })

  it('gives an eventGen that yields nulls one null per cycle that eventBatches took meanwhile, before what came after', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ paths: [dir], mask: IN_CREATE, blockDurationS: null })
    const withNulls = inotify.eventGen()
    writeFileSync(join(dir, 'a'), '')
    const first = await collectUntil(withNulls, (items) => items.length === 1, 'a')
    // The batch of 'a' is used up, its end not yet seen by withNulls; eventBatches takes that end
    // (an empty rest, not yielded) and the next batch, 'b': two cycles.
    const batches = inotify.eventBatches()
    writeFileSync(join(dir, 'b'), '')
    const [b] = await collectUntil(batches, (items) => items.length === 1, 'b')
    writeFileSync(join(dir, 'c'), '')
    const rest = await collectUntil(withNulls, (items) => items.length === 4, 'two nulls, c and its null')
    expect([...first, ...rest].map((e) => (e === null ? null : e.filename))).toEqual(['a', null, null, 'c', null])
    expect([...b!].map((e) => e.filename)).toEqual(['b'])
  })

  it('gives a kernel queue overflow as an IN_Q_OVERFLOW event with wd -1 at the end of the queue, and goes on', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ paths: [dir], mask: IN_CREATE | IN_ATTRIB, blockDurationS: null })
    const max = overflowKernelQueue(dir)
    const gen = inotify.eventBatches()
    const batches = await collectUntil(
      gen,
      (b) => b.some((x) => x.mask(x.length - 1) & IN_Q_OVERFLOW),
      'the overflow',
      10_000,
    )
    const last = batches.at(-1)!
    const i = last.length - 1
    expect(last.typeNames(i)).toEqual(['IN_Q_OVERFLOW'])
    expect([last.wd(i), last.path(i), last.filename(i)]).toEqual([-1, '', ''])
    expect(eventCount(batches) - 1).toBe(max)
    writeFileSync(join(dir, 'after'), '')
    const [after] = await collectUntil(gen, (b) => b.length === 1, 'an event after the overflow')
    expect(brief(after!.event(0))).toEqual({ typeNames: ['IN_CREATE'], filename: 'after' })
  })

  it('throws a RangeError for an index that is not an integer from 0 to length - 1', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ paths: [dir], mask: IN_CREATE })
    writeFileSync(join(dir, 'one'), '')
    const [batch] = await collectUntil(inotify.eventBatches(), (b) => b.length === 1, 'a batch')
    expect(batch!.length).toBe(1)
    for (const bad of [-1, 1, 0.5, Number.NaN, '0' as unknown as number, 2 ** 32]) {
      expect(() => batch!.filename(bad)).toThrow(RangeError)
      expect(() => batch!.mask(bad)).toThrow(/EventBatch index must be an integer from 0 to 0/)
    }
  })

  it('ends on timeoutS, on an aborted signal (AbortError) and on close, and refuses unknown options', async () => {
    const dir = fx.tempDir()
    const inotify = fx.open({ paths: [dir] })
    const timedOut = await withinDeadline(
      collectUntil(inotify.eventBatches({ timeoutS: 0.05 }), () => false, 'the end'),
      'timeoutS',
    )
    expect(timedOut).toEqual([])
    const controller = new AbortController()
    const aborted = collectUntil(inotify.eventBatches({ signal: controller.signal }), () => false, 'the abort')
    controller.abort()
    await expect(withinDeadline(aborted, 'the abort')).rejects.toBeInstanceOf(AbortError)
    const closing = collectUntil(inotify.eventBatches(), () => false, 'the close')
    inotify.close()
    expect(await withinDeadline(closing, 'close')).toEqual([])
    const other = fx.open()
    expect(() => other.eventBatches({ yieldNones: false } as never)).toThrow(
      /eventBatches: unknown option "yieldNones"/,
    )
    expect(() => other.eventBatches(42 as never)).toThrow(TypeError)
    expect(() => other.eventBatches({ timeoutS: -1 })).toThrow(RangeError)
  })
  it('leaves out, on a tree, the events of files its ignore function ignores, and yields no batch for them alone', async () => {
    const root = fx.tempDir()
    const tree = new InotifyTree(root, { mask: IN_CREATE, ignore: (path) => path.endsWith('.log') })
    try {
      await tree.ready
      // The generator arms the reader at once: a.log alone is read as a batch of its own (most
      // likely), which leaves nothing to yield.
      const collecting = collectUntil(tree.eventBatches(), (b) => eventCount(b) >= 2, 'the kept events')
      sh(root, 'touch "$D/a.log"')
      sh(root, 'touch "$D/b.txt" "$D/c.log" "$D/d.txt"')
      const batches = await collecting
      for (const batch of batches) expect(batch.length).toBeGreaterThan(0)
      expect(viaAccessors(batches).map((e) => e.filename)).toEqual(['b.txt', 'd.txt'])
    } finally {
      tree.close()
    }
  })
})

/** A native session of `Inotify`'s kind watching `dir` for creates (closed after the test), read directly. */
function rawSession(dir: string): RawHandle {
  const session = NativeSession.raw()
  onTestFinished(() => session.close())
  session.handle.addWatch(Buffer.from(dir), IN_CREATE)
  return session.handle
}

describe('WireBatch', () => {
  it('reads a batch at an odd memory offset (or on a big-endian host) field by field, the same as in place', async () => {
    const dir = fx.tempDir()
    const native = rawSession(dir)
    sh(dir, 'touch "$D/a" "$D/名前"; mkdir "$D/dir"')
    // The native buffer, taken as eventBatches would take it.
    native.request(-1)
    const buf = await waitForBuffer(() => native.take())
    const odd = Buffer.alloc(buf.length + 1).subarray(1)
    buf.copy(odd)
    expect(odd.byteOffset % 4).not.toBe(0)
    const inPlace = new WireBatch(buf, 'utf8')
    const copied = new WireBatch(odd, 'utf8')
    const bigEndianHost = new WireBatch(buf, 'utf8', false)
    const all = (w: WireBatch<'utf8'>): InotifyEvent[] => Array.from({ length: w.count }, (_, i) => w.event(i))
    expect(all(inPlace).map((e) => e.filename)).toEqual(['a', '名前', 'dir'])
    expect(all(copied)).toEqual(all(inPlace))
    expect(all(bigEndianHost)).toEqual(all(inPlace))
    expect(() => new WireBatch(buf.subarray(0, 20), 'utf8')).toThrow(/malformed batch/)
  })

  it('refuses a buffer whose offsets or name ends do not fit its layout, with a clear error', () => {
    // Two events named 'f' (name ends 1 and 2), written by the engine (see formats.test.ts).
    const good = readFileSync(join(__dirname, 'fixtures', 'golden', 'batch-answer.bin'))
    expect(new WireBatch(good, 'utf8').name(1)).toBe('f')
    const corrupt = (at: number, value: number): Buffer => {
      const copy = Buffer.from(good)
      copy.writeUInt32LE(value, at)
      return copy
    }
    const nameEnd = (row: number): number => BATCH.HEADER_LEN + 4 * (BATCH.COLUMN_NAME_END * 2 + row)
    const namesOffset = BATCH.HEADER_LEN + 4 * BATCH.COLUMNS * 2
    // The events overrun a buffer cut short inside a larger allocation (a pooled or sliced Buffer).
    const pool = Buffer.alloc(4096)
    good.copy(pool)
    expect(() => new WireBatch(pool.subarray(0, namesOffset - 4), 'utf8')).toThrow(/malformed batch/)
    expect(() => new WireBatch(corrupt(BATCH.EVENT_COUNT_AT, 1000), 'utf8')).toThrow(/malformed batch/)
    expect(() => new WireBatch(corrupt(BATCH.PATHS_OFFSET_AT, 0), 'utf8')).toThrow(/malformed batch/)
    expect(() => new WireBatch(corrupt(nameEnd(1), 9), 'utf8')).toThrow(/malformed batch/)
    const backwards = new WireBatch(corrupt(nameEnd(0), 3), 'utf8')
    expect(() => backwards.name(1)).toThrow(/malformed batch.*name 1/)
  })

  it('keeps no batch alive through a long name it gave out (V8 would share a long slice)', async () => {
    const dir = fx.tempDir()
    const native = rawSession(dir)
    // 4096 ASCII names of 20 bytes (longer than SHARED_SLICE_MIN), queued before the reader reads.
    const files = 4096
    for (let i = 0; i < files; i++) writeFileSync(join(dir, `n${String(i).padStart(19, '0')}`), '')
    native.request(-1)
    const buffers = await takeEvents(() => native.take(), files)
    const largest = buffers.reduce((a, b) =>
      b.readUInt32LE(BATCH.EVENT_COUNT_AT) > a.readUInt32LE(BATCH.EVENT_COUNT_AT) ? b : a,
    )
    const namesBytes = 20 * largest.readUInt32LE(BATCH.EVENT_COUNT_AT)
    expect(namesBytes).toBeGreaterThanOrEqual(20 * 1024)
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const kept: string[] = []
    gc()
    const before = process.memoryUsage().heapUsed
    for (let k = 0; k < 100; k++) {
      const batch = new WireBatch(Buffer.from(largest), 'utf8')
      for (let i = 0; i < batch.count; i++) {
        const name = batch.name(i)!
        if (i === 0) kept.push(name)
      }
    }
    gc()
    const retained = process.memoryUsage().heapUsed - before
    expect(kept[99]).toMatch(/^n\d{19}$/)
    // 100 batches' names, kept alive by a shared slice each, would be 100 × namesBytes.
    expect(retained).toBeLessThan((100 * namesBytes) / 4)
  })
})

async function waitForBuffer(take: () => Buffer | null): Promise<Buffer> {
  const deadline = Date.now() + 5000
  for (;;) {
    const buf = take()
    if (buf !== null && buf.readUInt32LE(0) >= 3) return buf
    if (Date.now() > deadline) throw new Error('timed out waiting for a batch of 3 events')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Takes native batches until they hold `events` events in all. */
async function takeEvents(take: () => Buffer | null, events: number): Promise<Buffer[]> {
  const deadline = Date.now() + 10_000
  const taken: Buffer[] = []
  let count = 0
  while (count < events) {
    const buf = take()
    if (buf !== null) {
      taken.push(buf)
      count += buf.readUInt32LE(BATCH.EVENT_COUNT_AT)
    } else if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${events} events; ${count} came`)
    } else {
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
  return taken
}
