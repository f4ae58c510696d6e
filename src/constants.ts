/**
 * The inotify constants, with the values of the Linux kernel's `include/uapi/linux/inotify.h`, and the
 * conversions between event masks and event names.
 *
 * Descriptions follow inotify(7): https://man7.org/linux/man-pages/man7/inotify.7.html
 *
 * @packageDocumentation
 */

// Events that can be watched for, and that the kernel reports in an event mask.

/** File was accessed (e.g. read(2), execve(2)). */
export const IN_ACCESS = 0x00000001 as const
/** File was modified (e.g. write(2), truncate(2)). */
export const IN_MODIFY = 0x00000002 as const
/** Metadata changed: permissions, timestamps, extended attributes, link count, owner or group. */
export const IN_ATTRIB = 0x00000004 as const
/** File opened for writing was closed. */
export const IN_CLOSE_WRITE = 0x00000008 as const
/** File or directory not opened for writing was closed. */
export const IN_CLOSE_NOWRITE = 0x00000010 as const
/** File or directory was opened. */
export const IN_OPEN = 0x00000020 as const
/** Reported on the directory that held the old name when a file is renamed; pairs with IN_MOVED_TO by cookie. */
export const IN_MOVED_FROM = 0x00000040 as const
/** Reported on the directory that holds the new name when a file is renamed; pairs with IN_MOVED_FROM by cookie. */
export const IN_MOVED_TO = 0x00000080 as const
/** File or directory created in the watched directory (open(2) O_CREAT, mkdir(2), link(2), symlink(2), bind(2)). */
export const IN_CREATE = 0x00000100 as const
/** File or directory deleted from the watched directory. */
export const IN_DELETE = 0x00000200 as const
/** Watched file or directory was itself deleted (or moved to another filesystem). */
export const IN_DELETE_SELF = 0x00000400 as const
/** Watched file or directory was itself moved. */
export const IN_MOVE_SELF = 0x00000800 as const

// Events the kernel sends whether or not they were asked for.

/** Filesystem containing the watched object was unmounted; an IN_IGNORED follows. */
export const IN_UNMOUNT = 0x00002000 as const
/** Event queue overflowed; events were lost (the event's wd is -1). */
export const IN_Q_OVERFLOW = 0x00004000 as const
/** Watch was removed, explicitly by inotify_rm_watch(2) or because the object was deleted or unmounted. */
export const IN_IGNORED = 0x00008000 as const

// Combinations.

/** Either close event: IN_CLOSE_WRITE | IN_CLOSE_NOWRITE. */
export const IN_CLOSE = 0x00000018 as const
/** Either half of a rename: IN_MOVED_FROM | IN_MOVED_TO. */
export const IN_MOVE = 0x000000c0 as const
/** All twelve watchable events, IN_ACCESS through IN_MOVE_SELF. */
export const IN_ALL_EVENTS = 0x00000fff as const

// Flags of inotify_add_watch(2), and IN_ISDIR, which the kernel sets in event masks.

/** Watch the path only if it is a directory (ENOTDIR otherwise). */
export const IN_ONLYDIR = 0x01000000 as const
/** Do not dereference the path if it is a symbolic link. */
export const IN_DONT_FOLLOW = 0x02000000 as const
/** Stop reporting events for children once they are unlinked from the watched directory (since Linux 2.6.36). */
export const IN_EXCL_UNLINK = 0x04000000 as const
/** Watch the path only if it is not watched already (EEXIST otherwise; since Linux 4.18). */
export const IN_MASK_CREATE = 0x10000000 as const
/** OR the mask into an existing watch's mask instead of replacing it (EINVAL with IN_MASK_CREATE). */
export const IN_MASK_ADD = 0x20000000 as const
/** Subject of this event is a directory. */
export const IN_ISDIR = 0x40000000 as const
/** Report one event for the path, then remove the watch. */
export const IN_ONESHOT = 0x80000000 as const

// Flags of inotify_init1(2). They are O_CLOEXEC and O_NONBLOCK, whose values here are the asm-generic ones
// (x86, Arm, RISC-V, PowerPC, s390); Alpha, MIPS, PA-RISC and SPARC use others. They are not mask bits:
// IN_NONBLOCK has IN_MOVE_SELF's value, so maskToNames never reports them.

/** inotify_init1(2) flag: set close-on-exec on the new file descriptor (O_CLOEXEC). */
export const IN_CLOEXEC = 0o2000000 as const
/** inotify_init1(2) flag: make the new file descriptor non-blocking (O_NONBLOCK); not a mask bit. */
export const IN_NONBLOCK = 0o4000 as const

/** Every `IN_*` constant, frozen, each with its literal type. */
export const constants = Object.freeze({
  IN_ACCESS,
  IN_MODIFY,
  IN_ATTRIB,
  IN_CLOSE_WRITE,
  IN_CLOSE_NOWRITE,
  IN_OPEN,
  IN_MOVED_FROM,
  IN_MOVED_TO,
  IN_CREATE,
  IN_DELETE,
  IN_DELETE_SELF,
  IN_MOVE_SELF,
  IN_UNMOUNT,
  IN_Q_OVERFLOW,
  IN_IGNORED,
  IN_CLOSE,
  IN_MOVE,
  IN_ALL_EVENTS,
  IN_ONLYDIR,
  IN_DONT_FOLLOW,
  IN_EXCL_UNLINK,
  IN_MASK_CREATE,
  IN_MASK_ADD,
  IN_ISDIR,
  IN_ONESHOT,
  IN_CLOEXEC,
  IN_NONBLOCK,
} as const)

/**
 * The name of one bit that can appear in an event mask read from the kernel or in a watch mask.
 * Excludes the combinations (IN_CLOSE, IN_MOVE, IN_ALL_EVENTS) and the inotify_init1 flags
 * (IN_CLOEXEC, IN_NONBLOCK).
 */
export type EventName =
  | 'IN_ACCESS'
  | 'IN_MODIFY'
  | 'IN_ATTRIB'
  | 'IN_CLOSE_WRITE'
  | 'IN_CLOSE_NOWRITE'
  | 'IN_OPEN'
  | 'IN_MOVED_FROM'
  | 'IN_MOVED_TO'
  | 'IN_CREATE'
  | 'IN_DELETE'
  | 'IN_DELETE_SELF'
  | 'IN_MOVE_SELF'
  | 'IN_UNMOUNT'
  | 'IN_Q_OVERFLOW'
  | 'IN_IGNORED'
  | 'IN_ONLYDIR'
  | 'IN_DONT_FOLLOW'
  | 'IN_EXCL_UNLINK'
  | 'IN_MASK_CREATE'
  | 'IN_MASK_ADD'
  | 'IN_ISDIR'
  | 'IN_ONESHOT'

/** A name `namesToMask` accepts: an {@link EventName} or one of the combinations IN_CLOSE, IN_MOVE, IN_ALL_EVENTS. */
export type MaskName = EventName | 'IN_CLOSE' | 'IN_MOVE' | 'IN_ALL_EVENTS'

// `satisfies` makes the compiler check that this table names every EventName and nothing else.
const EVENT_BITS = {
  IN_ACCESS,
  IN_MODIFY,
  IN_ATTRIB,
  IN_CLOSE_WRITE,
  IN_CLOSE_NOWRITE,
  IN_OPEN,
  IN_MOVED_FROM,
  IN_MOVED_TO,
  IN_CREATE,
  IN_DELETE,
  IN_DELETE_SELF,
  IN_MOVE_SELF,
  IN_UNMOUNT,
  IN_Q_OVERFLOW,
  IN_IGNORED,
  IN_ONLYDIR,
  IN_DONT_FOLLOW,
  IN_EXCL_UNLINK,
  IN_MASK_CREATE,
  IN_MASK_ADD,
  IN_ISDIR,
  IN_ONESHOT,
} satisfies Record<EventName, number>

/** Every {@link EventName}, frozen, in ascending order of bit value (IN_ACCESS first, IN_ONESHOT last). */
export const EVENT_NAMES: readonly EventName[] = Object.freeze(
  (Object.keys(EVENT_BITS) as EventName[]).sort((a, b) => EVENT_BITS[a] - EVENT_BITS[b]),
)

// maskToNames order: IN_ISDIR qualifies the event, so it comes first (as the Python `inotify` package
// prints `['IN_ISDIR', 'IN_CREATE']`); the rest follow in ascending bit order.
const NAMES_IN_REPORT_ORDER: readonly EventName[] = ['IN_ISDIR', ...EVENT_NAMES.filter((name) => name !== 'IN_ISDIR')]
const BITS_IN_REPORT_ORDER: readonly number[] = NAMES_IN_REPORT_ORDER.map((name) => EVENT_BITS[name])

// maskToNames runs once per event and real streams use a handful of distinct masks, so a cache makes it
// allocation-free; the bound only guards against a caller feeding it arbitrary numbers.
const MAX_CACHED_MASKS = 4096
const namesByMask = new Map<number, readonly EventName[]>()

/**
 * The names of the bits set in `mask`, for example `['IN_ISDIR', 'IN_CREATE']` for `0x40000100`.
 *
 * Order: IN_ISDIR first (it qualifies the event), then every other name in ascending bit order.
 * Bits that no {@link EventName} stands for are ignored. The result is frozen and cached: the same mask
 * returns the same array object.
 *
 * @param mask - an unsigned 32-bit mask, an integer from 0 to 0xffffffff (IN_ONESHOT is 0x80000000).
 * @throws TypeError if `mask` is not a number; RangeError if it is not an integer from 0 to 0xffffffff.
 */
export function maskToNames(mask: number): readonly EventName[] {
  // Only validated masks are ever stored, so a hit needs no validation.
  const cached = namesByMask.get(mask)
  if (cached !== undefined) return cached

  if (typeof mask !== 'number') {
    throw new TypeError(`maskToNames: mask must be a number, got ${typeof mask}`)
  }
  if (!Number.isInteger(mask) || mask < 0 || mask > 0xffffffff) {
    throw new RangeError(
      `maskToNames: mask must be an integer from 0 to 0xffffffff (an unsigned 32-bit inotify mask), got ${mask}`,
    )
  }

  const names: EventName[] = []
  for (let i = 0; i < BITS_IN_REPORT_ORDER.length; i++) {
    if ((mask & BITS_IN_REPORT_ORDER[i]!) !== 0) names.push(NAMES_IN_REPORT_ORDER[i]!)
  }
  const frozen = Object.freeze(names)
  if (namesByMask.size >= MAX_CACHED_MASKS) namesByMask.clear()
  namesByMask.set(mask, frozen)
  return frozen
}

const MASK_BY_NAME: ReadonlyMap<string, number> = new Map<string, number>([
  ...EVENT_NAMES.map((name) => [name, EVENT_BITS[name]] as const),
  ['IN_CLOSE', IN_CLOSE],
  ['IN_MOVE', IN_MOVE],
  ['IN_ALL_EVENTS', IN_ALL_EVENTS],
])

/**
 * The mask that sets every named bit (the OR of their values), as an unsigned 32-bit number;
 * the inverse of {@link maskToNames}. An empty list gives 0.
 *
 * @param names - {@link EventName}s and the combinations IN_CLOSE, IN_MOVE, IN_ALL_EVENTS, e.g. from a CLI's `-e NAME`.
 * @throws TypeError naming the first entry that is not such a name (IN_CLOEXEC and IN_NONBLOCK are
 *   inotify_init1 flags, not mask bits, and are rejected too).
 */
export function namesToMask(names: readonly MaskName[]): number {
  if (!Array.isArray(names)) {
    throw new TypeError(`namesToMask: names must be an array of inotify event names, got ${typeof names}`)
  }
  let mask = 0
  for (const name of names as readonly unknown[]) {
    const bits = typeof name === 'string' ? MASK_BY_NAME.get(name) : undefined
    if (bits === undefined) {
      const shown = typeof name === 'string' ? JSON.stringify(name) : String(name)
      const why =
        name === 'IN_CLOEXEC' || name === 'IN_NONBLOCK'
          ? 'is an inotify_init1 flag, not a watch mask bit'
          : 'is not an inotify event name'
      throw new TypeError(`namesToMask: ${shown} ${why}; expected one of ${[...MASK_BY_NAME.keys()].join(', ')}`)
    }
    mask |= bits
  }
  return mask >>> 0
}
