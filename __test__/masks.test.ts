/**
 * Masks checked before any system call: what a watch and a tree accept is the engine's judgement,
 * asked through the binding; the TypeScript side words the errors.
 */
import { describe, expect, it } from 'vitest'
import {
  IN_ALL_EVENTS,
  IN_CREATE,
  IN_DONT_FOLLOW,
  IN_EXCL_UNLINK,
  IN_IGNORED,
  IN_ISDIR,
  IN_MASK_ADD,
  IN_MASK_CREATE,
  IN_ONESHOT,
  IN_ONLYDIR,
  IN_Q_OVERFLOW,
  IN_UNMOUNT,
} from '../src/constants'
import { checkTreeMask, checkWatchMask } from '../src/masks'
import { joinPath } from '../src/paths'

const EVENT_BITS = Array.from({ length: 12 }, (_, i) => 1 << i)
const WATCH_FLAGS = [IN_ONLYDIR, IN_DONT_FOLLOW, IN_EXCL_UNLINK, IN_MASK_CREATE, IN_MASK_ADD, IN_ONESHOT]
const REPORTED_ONLY = [IN_UNMOUNT, IN_Q_OVERFLOW, IN_IGNORED]
/** Bits inotify does not define. */
const UNDEFINED_BITS = [0x1000, 0x10000, 0x800000, 0x8000000]

function refusal(check: () => unknown): RangeError | undefined {
  try {
    check()
  } catch (error) {
    if (error instanceof RangeError) return error
    throw error
  }
  return undefined
}

describe('a watch mask', () => {
  it('may be any event bit alone, and holds a watch flag or IN_ISDIR only beside an event', () => {
    for (const bit of EVENT_BITS) expect(checkWatchMask(bit)).toBe(bit)
    for (const bit of [...WATCH_FLAGS, IN_ISDIR]) {
      const mask = (IN_CREATE | bit) >>> 0
      expect(checkWatchMask(mask)).toBe(mask)
      expect(refusal(() => checkWatchMask(bit))?.message).toMatch(/names no event/)
    }
    expect(refusal(() => checkWatchMask(0))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' })
  })

  it('refuses the bits the kernel only reports and the bits inotify does not define, naming them', () => {
    for (const bit of [...REPORTED_ONLY, ...UNDEFINED_BITS]) {
      const error = refusal(() => checkWatchMask(IN_CREATE | bit))
      expect(error?.message).toContain(`does not accept: 0x${bit.toString(16)}`)
    }
    expect(refusal(() => checkWatchMask(IN_CREATE | IN_Q_OVERFLOW))?.message).toMatch(
      /IN_Q_OVERFLOW can only be reported/,
    )
  })

  it('refuses IN_MASK_ADD with IN_MASK_CREATE, which the kernel would refuse with EINVAL', () => {
    expect(refusal(() => checkWatchMask(IN_CREATE | IN_MASK_ADD | IN_MASK_CREATE))?.message).toMatch(
      /cannot combine IN_MASK_ADD with IN_MASK_CREATE/,
    )
  })

  it('is a number and an unsigned 32-bit integer, or a TypeError or RangeError says so', () => {
    expect(() => checkWatchMask('256')).toThrow(TypeError)
    for (const wrong of [-1, 1.5, 2 ** 32, Number.NaN]) {
      expect(refusal(() => checkWatchMask(wrong))?.message).toMatch(/unsigned 32-bit integer/)
    }
  })
})

describe("a tree's mask", () => {
  it('takes event bits, and IN_ISDIR beside them, which it leaves out', () => {
    expect(checkTreeMask(IN_ALL_EVENTS)).toBe(IN_ALL_EVENTS)
    expect(checkTreeMask(IN_CREATE | IN_ISDIR)).toBe(IN_CREATE)
  })

  it('refuses IN_ISDIR alone, watch flags, reported-only bits and undefined bits', () => {
    const refused = [0, IN_ISDIR, ...WATCH_FLAGS.map((f) => (IN_CREATE | f) >>> 0), ...REPORTED_ONLY, ...UNDEFINED_BITS]
    for (const mask of refused) {
      expect(refusal(() => checkTreeMask(mask))?.message, `0x${mask.toString(16)}`).toMatch(
        /non-empty set of IN_\* event bits/,
      )
    }
    expect(() => checkTreeMask(null)).toThrow(TypeError)
  })
})

describe('joinPath', () => {
  it('joins a name below a root of / without a double slash, and below any other directory with one slash', () => {
    expect(joinPath('/', 'x')).toBe('/x')
    expect(joinPath('/a', 'x')).toBe('/a/x')
    expect(joinPath('/a/', 'x')).toBe('/a/x')
  })
})
