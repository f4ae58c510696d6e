// What /proc says: kernel settings, and the inotify instances and watches of a process, read from the
// outside (the same way for every watcher, whatever its own bookkeeping says).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'

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
