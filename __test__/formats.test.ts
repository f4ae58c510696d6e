/**
 * The two byte formats, read by the TypeScript decoders from golden files the engine's encoders
 * wrote (`crates/engine/tests/formats.rs` writes them and fails when they are stale), and compared
 * with the JSON of what they mean.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { decodeChanges } from '../src/changes'
import { maskToNames } from '../src/constants'
import { BATCH } from '../src/format-constants'
import type { PathEncoding, PathOf } from '../src/paths'
import { WireBatch } from '../src/wire'

const GOLDEN = join(__dirname, 'fixtures', 'golden')

/** A byte string as the golden JSON writes it: a string when it is UTF-8, else its bytes in hex. */
type Text = string | { hex: string }

interface GoldenEvent {
  wd: number
  mask: number
  cookie: number
  len: number
  path: Text | null
  flags: number
  name: Text
}

interface GoldenBatch {
  file: string
  settled: boolean
  answer: boolean
  events: GoldenEvent[]
}

interface GoldenChange {
  type: string
  path: Text
  oldPath: Text | null
  isDir: boolean
  synthetic: boolean
}

function golden<T>(file: string): T {
  return JSON.parse(readFileSync(join(GOLDEN, file), 'utf8')) as T
}

function bytes(text: Text): Buffer {
  return typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text.hex, 'hex')
}

/** What a decoder gives for `text` in `encoding`: the exact bytes, or their (lossy) UTF-8 reading. */
function inEncoding<E extends PathEncoding>(text: Text, encoding: E): PathOf<E> {
  const exact = bytes(text)
  return (encoding === 'buffer' ? exact : exact.toString('utf8')) as PathOf<E>
}

const batches = golden<{ batches: GoldenBatch[] }>('batches.json').batches
const { changes: goldenChanges, file: changesFile } = golden<{ changes: GoldenChange[]; file: string }>('changes.json')

/** `buf` copied to an address that is not a multiple of 4, as a pooled or sliced Buffer may be. */
function atOddOffset(buf: Buffer): Buffer {
  const odd = Buffer.alloc(buf.length + 1).subarray(1)
  buf.copy(odd)
  return odd
}

describe('golden batches', () => {
  it('cover a part, a settled answer and a tick, an overflow, a rename pair and every event flag', () => {
    expect(batches.map((b) => [b.settled, b.answer])).toEqual([
      [false, false],
      [true, true],
      [true, false],
    ])
    const events = batches.flatMap((b) => b.events)
    expect(events.some((e) => e.wd === -1 && e.path === null)).toBe(true)
    const cookies = events.filter((e) => e.cookie !== 0).map((e) => maskToNames(e.mask))
    expect(cookies).toEqual([['IN_MOVED_FROM'], ['IN_MOVED_TO']])
    for (const flag of [BATCH.FLAG_SYNTHETIC, BATCH.FLAG_REPLACED, BATCH.FLAG_ASCII_NAME]) {
      expect(events.some((e) => (e.flags & flag) !== 0)).toBe(true)
    }
    expect(events.some((e) => typeof e.name !== 'string')).toBe(true)
    expect(events.some((e) => e.path !== null && typeof e.path !== 'string')).toBe(true)
  })

  for (const batch of batches) {
    for (const encoding of ['utf8', 'buffer'] as const) {
      it(`reads ${batch.file} (${batch.events.length} events) as the engine meant it, paths as ${encoding}`, () => {
        const buf = readFileSync(join(GOLDEN, batch.file))
        const readers = [
          new WireBatch(buf, encoding),
          new WireBatch(atOddOffset(buf), encoding),
          new WireBatch(buf, encoding, false),
        ]
        for (const wire of readers) {
          expect([wire.count, wire.settled, wire.answer]).toEqual([batch.events.length, batch.settled, batch.answer])
          batch.events.forEach((e, row) => {
            expect({
              wd: wire.wd(row),
              mask: wire.masks[row],
              cookie: wire.cookies[row],
              len: wire.lens[row],
              flags: wire.flags[row],
              path: wire.path(row),
              name: wire.name(row),
              synthetic: wire.synthetic(row),
            }).toEqual({
              wd: e.wd,
              mask: e.mask,
              cookie: e.cookie,
              len: e.len,
              flags: e.flags,
              path: e.path === null ? inEncoding('', encoding) : inEncoding(e.path, encoding),
              name: inEncoding(e.name, encoding),
              synthetic: (e.flags & BATCH.FLAG_SYNTHETIC) !== 0,
            })
            expect(wire.event(row).typeNames).toEqual(maskToNames(e.mask))
          })
        }
      })
    }
  }
})

describe('golden change sets', () => {
  it('cover every change type, both flags, a rename with an old path and odd bytes', () => {
    const types = new Set(goldenChanges.map((c) => c.type))
    expect([...types].sort()).toEqual(['create', 'delete', 'modify', 'overflow', 'rename'])
    expect(goldenChanges.some((c) => c.isDir)).toBe(true)
    expect(goldenChanges.some((c) => c.synthetic)).toBe(true)
    expect(goldenChanges.some((c) => c.oldPath !== null && typeof c.oldPath !== 'string')).toBe(true)
  })

  for (const encoding of ['utf8', 'buffer'] as const) {
    it(`reads ${changesFile} as the engine meant it, paths as ${encoding}, an overflow under the root given`, () => {
      const root = inEncoding('/the/root', encoding)
      const decoded = decodeChanges(readFileSync(join(GOLDEN, changesFile)), root, encoding)
      const expected = goldenChanges.map((c) => {
        // The engine's overflow concerns the whole instance: the watcher names it by its root.
        if (c.type === 'overflow') return { type: 'overflow', path: root, isDir: true }
        return {
          type: c.type,
          path: inEncoding(c.path, encoding),
          ...(c.oldPath === null ? {} : { oldPath: inEncoding(c.oldPath, encoding) }),
          isDir: c.isDir,
          ...(c.synthetic ? { synthetic: true } : {}),
        }
      })
      expect(decoded).toEqual(expected)
    })
  }
})
