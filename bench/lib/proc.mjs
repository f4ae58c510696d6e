// What /proc says: kernel settings, and the inotify instances and watches of a process, read from the
// outside (the same way for every watcher, whatever its own bookkeeping says).
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'

/** A number from a /proc file (a sysctl), or null when it cannot be read. */
export function readProc(path) {
  try {
    return Number(readFileSync(path, 'utf8').trim())
  } catch {
    return null
  }
}

/**
 * The inotify instances and watches a process holds: every inotify descriptor in /proc/<pid>/fd and
 * its `inotify wd:` lines in /proc/<pid>/fdinfo. `pid` may be `'self'`.
 */
export function inotifyWatchesOf(pid) {
  let watches = 0
  let instances = 0
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let link
    let info
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`)
      if (link !== 'anon_inode:inotify') continue
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8')
    } catch {
      // Closed between the listing and the read (readdir's own descriptor, or a watcher's).
      continue
    }
    instances++
    for (let at = info.indexOf('inotify wd:'); at >= 0; at = info.indexOf('inotify wd:', at + 1)) watches++
  }
  return { watches, instances }
}

/**
 * The inotify watches this user's processes hold now, as far as /proc shows them: `{ watches,
 * processes, unreadable }`. max_user_watches counts per user, across the machine, so the room left
 * for a watcher is the limit less these. A descriptor shared by several processes (inherited across
 * fork) is counted once (instances with the same fdinfo text count as one); `unreadable` counts this
 * user's processes whose descriptors could not be read (then the figure is a floor).
 */
export function userWatchesInUse() {
  const uid = process.getuid?.()
  const seen = new Set()
  let watches = 0
  let processes = 0
  let unreadable = 0
  let pids = []
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name))
  } catch {
    return { watches: null, processes: 0, unreadable: 0 }
  }
  for (const pid of pids) {
    let fds
    try {
      if (uid !== undefined && statSync(`/proc/${pid}`).uid !== uid) continue
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch (error) {
      // Gone meanwhile (ENOENT), or not ours to read.
      if (error.code === 'EACCES' || error.code === 'EPERM') unreadable++
      continue
    }
    let holds = false
    for (const fd of fds) {
      let info
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:inotify') continue
        info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8')
      } catch {
        continue
      }
      holds = true
      if (seen.has(info)) continue
      seen.add(info)
      for (let at = info.indexOf('inotify wd:'); at >= 0; at = info.indexOf('inotify wd:', at + 1)) watches++
    }
    if (holds) processes++
  }
  return { watches, processes, unreadable }
}
