import { describe, it, expect, expectTypeOf } from 'vitest'

import * as exported from '../src/constants'
import {
  constants,
  EVENT_NAMES,
  IN_ALL_EVENTS,
  IN_CLOEXEC,
  IN_CREATE,
  IN_NONBLOCK,
  IN_ONESHOT,
  maskToNames,
  namesToMask,
  type EventName,
  type MaskName,
} from '../src/constants'

// Values copied from include/uapi/linux/inotify.h and asm-generic/fcntl.h, not derived from the module.
const KERNEL_VALUES = {
  IN_ACCESS: 0x00000001,
  IN_MODIFY: 0x00000002,
  IN_ATTRIB: 0x00000004,
  IN_CLOSE_WRITE: 0x00000008,
  IN_CLOSE_NOWRITE: 0x00000010,
  IN_OPEN: 0x00000020,
  IN_MOVED_FROM: 0x00000040,
  IN_MOVED_TO: 0x00000080,
  IN_CREATE: 0x00000100,
  IN_DELETE: 0x00000200,
  IN_DELETE_SELF: 0x00000400,
  IN_MOVE_SELF: 0x00000800,
  IN_UNMOUNT: 0x00002000,
  IN_Q_OVERFLOW: 0x00004000,
  IN_IGNORED: 0x00008000,
  IN_CLOSE: 0x00000018,
  IN_MOVE: 0x000000c0,
  IN_ONLYDIR: 0x01000000,
  IN_DONT_FOLLOW: 0x02000000,
  IN_EXCL_UNLINK: 0x04000000,
  IN_MASK_CREATE: 0x10000000,
  IN_MASK_ADD: 0x20000000,
  IN_ISDIR: 0x40000000,
  IN_ONESHOT: 0x80000000,
  IN_ALL_EVENTS: 0x00000fff,
  IN_CLOEXEC: 0o2000000,
  IN_NONBLOCK: 0o4000,
} as const

const TWELVE_EVENTS_IN_BIT_ORDER = [
  'IN_ACCESS',
  'IN_MODIFY',
  'IN_ATTRIB',
  'IN_CLOSE_WRITE',
  'IN_CLOSE_NOWRITE',
  'IN_OPEN',
  'IN_MOVED_FROM',
  'IN_MOVED_TO',
  'IN_CREATE',
  'IN_DELETE',
  'IN_DELETE_SELF',
  'IN_MOVE_SELF',
]

describe('IN_* constants', () => {
  it.each(Object.entries(KERNEL_VALUES))('exports %s with the kernel value %i', (name, value) => {
    expect(exported[name as keyof typeof exported]).toBe(value)
  })

  it('exports no IN_* constant the kernel header does not define', () => {
    const exportedNames = Object.keys(exported).filter((key) => key.startsWith('IN_'))
    expect(exportedNames.sort()).toEqual(Object.keys(KERNEL_VALUES).sort())
  })

  it('defines the combinations as the OR of their parts', () => {
    expect(exported.IN_CLOSE).toBe(exported.IN_CLOSE_WRITE | exported.IN_CLOSE_NOWRITE)
    expect(exported.IN_MOVE).toBe(exported.IN_MOVED_FROM | exported.IN_MOVED_TO)
    const twelve = TWELVE_EVENTS_IN_BIT_ORDER.reduce(
      (mask, name) => mask | (exported[name as keyof typeof exported] as number),
      0,
    )
    expect(IN_ALL_EVENTS).toBe(twelve)
  })

  it('gives IN_CREATE the literal type 256 and IN_ONESHOT the literal type 0x80000000', () => {
    expectTypeOf(IN_CREATE).toEqualTypeOf<256>()
    expectTypeOf(constants.IN_CREATE).toEqualTypeOf<256>()
    expectTypeOf(constants.IN_ONESHOT).toEqualTypeOf<2147483648>()
  })
})

describe('constants', () => {
  it('is frozen', () => {
    expect(Object.isFrozen(constants)).toBe(true)
  })

  it('holds every IN_* export with the kernel value and nothing else', () => {
    expect({ ...constants }).toEqual(KERNEL_VALUES)
  })
})

describe('EVENT_NAMES', () => {
  it('lists the 22 single-bit names in ascending bit order', () => {
    expect(EVENT_NAMES).toEqual([
      ...TWELVE_EVENTS_IN_BIT_ORDER,
      'IN_UNMOUNT',
      'IN_Q_OVERFLOW',
      'IN_IGNORED',
      'IN_ONLYDIR',
      'IN_DONT_FOLLOW',
      'IN_EXCL_UNLINK',
      'IN_MASK_CREATE',
      'IN_MASK_ADD',
      'IN_ISDIR',
      'IN_ONESHOT',
    ])
  })

  it('is frozen', () => {
    expect(Object.isFrozen(EVENT_NAMES)).toBe(true)
  })
})

describe('maskToNames', () => {
  it('puts IN_ISDIR first, as the Python inotify package prints a directory creation', () => {
    expect(maskToNames(0x40000100)).toEqual(['IN_ISDIR', 'IN_CREATE'])
  })

  it('names a single bit', () => {
    expect(maskToNames(256)).toEqual(['IN_CREATE'])
  })

  it('returns an empty list for a mask of 0', () => {
    expect(maskToNames(0)).toEqual([])
  })

  it('names the twelve events of IN_ALL_EVENTS in bit order', () => {
    expect(maskToNames(IN_ALL_EVENTS)).toEqual(TWELVE_EVENTS_IN_BIT_ORDER)
  })

  it('handles masks above 0x7fffffff, such as IN_ONESHOT | IN_CREATE', () => {
    expect(maskToNames((IN_ONESHOT | IN_CREATE) >>> 0)).toEqual(['IN_CREATE', 'IN_ONESHOT'])
    expect(maskToNames(0xffffffff)).toEqual(['IN_ISDIR', ...EVENT_NAMES.filter((n) => n !== 'IN_ISDIR')])
  })

  it('returns the same frozen array object for the same mask', () => {
    const first = maskToNames(0x40000200)
    expect(maskToNames(0x40000200)).toBe(first)
    expect(Object.isFrozen(first)).toBe(true)
  })

  it('keeps answering correctly after its cache has been cleared', () => {
    for (let mask = 0x10000; mask < 0x10000 + 5000; mask++) maskToNames(mask)
    expect(maskToNames(0x40000100)).toEqual(['IN_ISDIR', 'IN_CREATE'])
  })

  it('ignores bits no event name stands for', () => {
    expect(maskToNames(0x00001000 | 0x00010000 | 0x08000000 | IN_CREATE)).toEqual(['IN_CREATE'])
    expect(maskToNames(0x00001000)).toEqual([])
  })

  it('never reports IN_NONBLOCK or IN_CLOEXEC', () => {
    expect(maskToNames(IN_NONBLOCK)).toEqual(['IN_MOVE_SELF'])
    expect(maskToNames(IN_CLOEXEC)).toEqual([])
    expect(maskToNames(0xffffffff)).not.toContain('IN_NONBLOCK')
    expect(maskToNames(0xffffffff)).not.toContain('IN_CLOEXEC')
  })

  it.each([-1, 1.5, 2 ** 32, NaN, Infinity])('throws a RangeError for %s', (mask) => {
    expect(() => maskToNames(mask)).toThrow(RangeError)
    expect(() => maskToNames(mask)).toThrow(/integer from 0 to 0xffffffff/)
  })

  it('throws a TypeError for a value that is not a number', () => {
    expect(() => maskToNames('256' as unknown as number)).toThrow(TypeError)
  })

  it('is typed to return a readonly list of event names', () => {
    expectTypeOf(maskToNames).returns.toEqualTypeOf<readonly EventName[]>()
    expectTypeOf(maskToNames).parameter(0).toEqualTypeOf<number>()
  })
})

describe('namesToMask', () => {
  it('ORs the named bits into an unsigned mask', () => {
    expect(namesToMask(['IN_ISDIR', 'IN_CREATE'])).toBe(0x40000100)
    expect(namesToMask(['IN_ONESHOT', 'IN_CREATE'])).toBe(0x80000100)
    expect(namesToMask([])).toBe(0)
  })

  it('accepts the combinations IN_CLOSE, IN_MOVE and IN_ALL_EVENTS', () => {
    expect(namesToMask(['IN_CLOSE'])).toBe(0x18)
    expect(namesToMask(['IN_MOVE', 'IN_DELETE'])).toBe(0x2c0)
    expect(namesToMask(['IN_ALL_EVENTS', 'IN_ONESHOT'])).toBe(0x80000fff)
  })

  it('round-trips with maskToNames for every single name and for all of them', () => {
    for (const name of EVENT_NAMES) expect(maskToNames(namesToMask([name]))).toEqual([name])
    expect([...maskToNames(namesToMask(EVENT_NAMES))].sort()).toEqual([...EVENT_NAMES].sort())
    expect(namesToMask(maskToNames(0xc0000fff))).toBe(0xc0000fff)
  })

  it('throws a TypeError naming an unknown name', () => {
    expect(() => namesToMask(['IN_CREATE', 'IN_CRATE' as MaskName])).toThrow(TypeError)
    expect(() => namesToMask(['IN_CRATE' as MaskName])).toThrow(/"IN_CRATE"/)
  })

  it('rejects the inotify_init1 flags IN_CLOEXEC and IN_NONBLOCK', () => {
    expect(() => namesToMask(['IN_NONBLOCK' as MaskName])).toThrow(/inotify_init1 flag/)
    expect(() => namesToMask(['IN_CLOEXEC' as MaskName])).toThrow(TypeError)
  })

  it('rejects names of Object.prototype properties and non-string entries', () => {
    expect(() => namesToMask(['toString' as MaskName])).toThrow(TypeError)
    expect(() => namesToMask([256 as unknown as MaskName])).toThrow(TypeError)
  })

  it('is typed to accept only event names and the three combinations', () => {
    expectTypeOf(namesToMask).parameter(0).toEqualTypeOf<readonly MaskName[]>()
    // @ts-expect-error IN_NONBLOCK is not a mask name
    expect(() => namesToMask(['IN_NONBLOCK'])).toThrow(TypeError)
  })
})
