// The kernel's side of a watch: the slab objects an inotify watch allocates, counted before a watcher
// starts and once it is ready, so that the table can say what a watch costs in kernel memory.
//
// A watch is one `inotify_inode_mark` (the mark: mask, wd, the group it belongs to) and, for an inode
// that had no mark before, one `fsnotify_mark_connector` (the inode's list of marks). Their counts are
// read from /sys/kernel/slab/<cache>/objects (SLUB: objects in use) and object_size, else from
// /proc/slabinfo (active objects, object size); both are readable by root only (mode 0400), so another
// user's run says the kernel's side is unreadable, and why. SLUB merges caches of the
// same size and flags into one: then the count is the merged cache's, and every cache merged with it
// is named (`mergedWith`), since what those allocate meanwhile is counted too. Not counted: the wd's
// slot in the instance's IDR (a radix-tree node per 64 wds, shared with the page cache), and the inode
// and dentry a watch pins in memory (on tmpfs they are pinned anyway).
import { readdirSync, readFileSync, realpathSync } from 'node:fs'
import { basename } from 'node:path'

/** The caches a watch allocates from. */
export const WATCH_CACHES = ['inotify_inode_mark', 'fsnotify_mark_connector']

const SYSFS = '/sys/kernel/slab'

/** Every cache name in sysfs by the directory it links to (merged caches share one). */
function sysfsAliases() {
  const byTarget = new Map()
  for (const name of readdirSync(SYSFS)) {
    let target
    try {
      target = basename(realpathSync(`${SYSFS}/${name}`))
    } catch {
      continue
    }
    if (!byTarget.has(target)) byTarget.set(target, [])
    byTarget.get(target).push(name)
  }
  return byTarget
}

function fromSysfs(name, aliases) {
  const target = basename(realpathSync(`${SYSFS}/${name}`))
  const objects = Number(readFileSync(`${SYSFS}/${name}/objects`, 'utf8').split(' ')[0])
  const objectSize = Number(readFileSync(`${SYSFS}/${name}/object_size`, 'utf8'))
  const mergedWith = (aliases.get(target) ?? []).filter((alias) => alias !== name && !alias.startsWith(':'))
  return { objects, objectSize, mergedWith }
}

function fromSlabinfo(name) {
  const line = readFileSync('/proc/slabinfo', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name} `))
  if (line === undefined) throw new Error(`no ${name} line in /proc/slabinfo (merged into another cache)`)
  const [, active, , objsize] = line.split(/\s+/)
  return { objects: Number(active), objectSize: Number(objsize), mergedWith: [] }
}

/**
 * The objects in use in each of WATCH_CACHES now: `{ caches: { name: { objects, objectSize,
 * mergedWith } }, source }`, or `{ unreadable }` (why they could not be read).
 */
export function readWatchSlabs() {
  let aliases = null
  try {
    aliases = sysfsAliases()
  } catch {}
  const caches = {}
  const reasons = []
  for (const name of WATCH_CACHES) {
    try {
      caches[name] = aliases?.size ? fromSysfs(name, aliases) : fromSlabinfo(name)
    } catch (error) {
      try {
        caches[name] = fromSlabinfo(name)
      } catch (slabinfoError) {
        reasons.push(
          `${name}: ${error.code ?? error.message}; /proc/slabinfo: ${slabinfoError.code ?? slabinfoError.message}`,
        )
      }
    }
  }
  if (reasons.length) return { unreadable: reasons.join('; ') }
  return { caches, source: aliases?.size ? SYSFS : '/proc/slabinfo' }
}

/**
 * What changed between two readings of readWatchSlabs(): `{ objects: { name: delta }, bytes }` (bytes:
 * the deltas times their object sizes, summed), or `{ unreadable }`.
 */
export function slabDelta(before, after) {
  if (before.unreadable || after.unreadable) return { unreadable: before.unreadable ?? after.unreadable }
  const objects = {}
  let bytes = 0
  for (const name of WATCH_CACHES) {
    objects[name] = after.caches[name].objects - before.caches[name].objects
    bytes += objects[name] * after.caches[name].objectSize
  }
  return { objects, bytes }
}

/** One line on how the kernel's side was read, for the notes under the startup table. */
export function describeSlabs(reading) {
  if (reading.unreadable) return `kernel  : slab counts not readable (${reading.unreadable}): no kernel rows`
  const each = WATCH_CACHES.map((name) => {
    const c = reading.caches[name]
    return `${name} ${c.objectSize} B${c.mergedWith.length ? ` (merged with ${c.mergedWith.join(', ')}: counted with them)` : ''}`
  })
  return `kernel  : slab objects in use from ${reading.source}, before each watcher and at ready: ${each.join('; ')}`
}
