/**
 * Masks checked before any system call. Whether a number is a usable mask is the engine's
 * judgement (`crates/engine/src/mask.rs`, asked through the binding); this module checks that the
 * value is a number at all and words the error.
 * @module
 */
import { maskToNames } from './constants'
import { native } from './native'
import { describe } from './paths'

/** The engine's verdict on a mask: the mask to use, or why not. */
type Verdict = ReturnType<typeof native.judgeWatchMask>

function outOfRange(message: string): RangeError {
  return Object.assign(new RangeError(message), { code: 'ERR_OUT_OF_RANGE' })
}

function isUint32(mask: number): boolean {
  return Number.isInteger(mask) && mask >= 0 && mask <= 0xffffffff
}

/** Why the engine refused a watch mask, in words. */
function refusal(verdict: Verdict, mask: number): string {
  const bits = verdict.bits ?? 0
  switch (verdict.problem) {
    case 'unknownBits': {
      const named = maskToNames(bits)
      return (
        `has bits inotify_add_watch does not accept: 0x${bits.toString(16)}` +
        (named.length > 0 ? ` (${named.join(', ')} can only be reported, not watched)` : '')
      )
    }
    case 'addWithCreate':
      return 'cannot combine IN_MASK_ADD with IN_MASK_CREATE'
    default:
      return `names no event (0x${mask.toString(16)}); include at least one of IN_ACCESS ... IN_MOVE_SELF, or IN_ALL_EVENTS`
  }
}

/**
 * Checks a watch mask for `inotify_add_watch`: a number, an unsigned 32-bit integer, and what the
 * engine accepts (at least one event bit, no bit the kernel does not take, IN_ISDIR accepted and
 * ignored, not IN_MASK_ADD with IN_MASK_CREATE).
 *
 * @returns the mask as an unsigned number.
 * @throws TypeError if `mask` is not a number; RangeError naming the offending bits otherwise.
 */
export function checkWatchMask(mask: unknown, argument = 'mask'): number {
  if (typeof mask !== 'number') {
    throw Object.assign(
      new TypeError(
        `The "${argument}" argument must be of type number (an inotify mask such as IN_ALL_EVENTS), got ${typeof mask}`,
      ),
      { code: 'ERR_INVALID_ARG_TYPE' },
    )
  }
  if (!isUint32(mask)) throw outOfRange(`The "${argument}" argument must be an unsigned 32-bit integer, got ${mask}`)
  const verdict = native.judgeWatchMask(mask)
  if (verdict.mask === undefined) {
    throw outOfRange(`The "${argument}" argument ${refusal(verdict, mask)}`)
  }
  return verdict.mask >>> 0
}

/**
 * Checks a tree's mask: a number, and what the engine accepts of a tree (at least one event bit,
 * nothing but event bits; IN_ISDIR is accepted, as the Python package's trees set it, and left out).
 *
 * @returns the events to watch for.
 * @throws TypeError if `mask` is not a number; RangeError otherwise.
 */
export function checkTreeMask(mask: unknown): number {
  if (typeof mask !== 'number') {
    throw Object.assign(new TypeError(`The "mask" option must be a number (IN_* event bits), got ${describe(mask)}`), {
      code: 'ERR_INVALID_ARG_TYPE',
    })
  }
  const verdict = isUint32(mask) ? native.judgeTreeMask(mask) : undefined
  if (verdict?.mask === undefined) {
    throw outOfRange(
      `The "mask" option of a tree must be a non-empty set of IN_* event bits (within IN_ALL_EVENTS = 0xfff; ` +
        `IN_ISDIR is accepted and ignored), got ${mask}; watch flags are the tree's own business`,
    )
  }
  return verdict.mask >>> 0
}
