/**
 * `inotify-napi doctor`: the inotify limits in force, what each process of this user holds (read
 * from `/proc/<pid>/fdinfo`), and the sysctl lines that raise the limits.
 * @module
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { readInotifyLimit } from './errors'
import { escapeForTerminal } from './terminal-text'

/** The inotify instances and watches one process holds. */
export interface InotifyHolder {
  /** Process id. */
  pid: number
  /** Its command line (or name). */
  command: string
  /** inotify instances (descriptors). */
  instances: number
  /** Watches, over all its instances. */
  watches: number
}

/** What `doctor` reports. */
export interface InotifyUsage {
  /** The per-user limits (`/proc/sys/fs/inotify`). */
  limits: { maxUserWatches?: number; maxUserInstances?: number; maxQueuedEvents?: number }
  /** Processes of `uid` holding inotify instances, most watches first. */
  holders: InotifyHolder[]
  /** Totals over `holders`. */
  totals: { instances: number; watches: number }
  /** Processes that could not be read (gone, or not ours). */
  unreadable: number
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/** The inotify instances and watches of `pid`, or undefined when its descriptors cannot be read. */
export function inotifyHeldBy(pid: number | 'self'): { instances: number; watches: number } | undefined {
  let fds: string[]
  try {
    fds = readdirSync(`/proc/${pid}/fd`)
  } catch {
    return undefined
  }
  let instances = 0
  let watches = 0
  for (const fd of fds) {
    let target: string
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`)
    } catch {
      continue
    }
    if (target !== 'anon_inode:inotify') continue
    instances += 1
    const info = read(`/proc/${pid}/fdinfo/${fd}`) ?? ''
    for (const line of info.split('\n')) if (line.startsWith('inotify wd:')) watches += 1
  }
  return { instances, watches }
}

/** Reads every process of `uid` (default: this user) from `/proc`. */
export function inotifyUsage(uid = process.getuid?.() ?? 0): InotifyUsage {
  const holders: InotifyHolder[] = []
  let unreadable = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (statSync(`/proc/${entry}`).uid !== uid) continue
    } catch {
      continue
    }
    const held = inotifyHeldBy(Number(entry))
    if (held === undefined) {
      unreadable += 1
      continue
    }
    if (held.instances === 0) continue
    const cmdline = (read(`/proc/${entry}/cmdline`) ?? '')
      .split('\0')
      .filter((s) => s !== '')
      .join(' ')
    const command = cmdline !== '' ? cmdline : (read(`/proc/${entry}/comm`) ?? '?').trim()
    holders.push({ pid: Number(entry), command, ...held })
  }
  holders.sort((a, b) => b.watches - a.watches || b.instances - a.instances)
  const totals = holders.reduce((t, h) => ({ instances: t.instances + h.instances, watches: t.watches + h.watches }), {
    instances: 0,
    watches: 0,
  })
  return {
    limits: {
      maxUserWatches: readInotifyLimit('max_user_watches'),
      maxUserInstances: readInotifyLimit('max_user_instances'),
      maxQueuedEvents: readInotifyLimit('max_queued_events'),
    },
    holders,
    totals,
    unreadable,
  }
}

const RAISE = `To raise the limits now (root):
  sudo sysctl fs.inotify.max_user_watches=524288
  sudo sysctl fs.inotify.max_user_instances=1024
and for good, in /etc/sysctl.d/60-inotify.conf:
  fs.inotify.max_user_watches = 524288
  fs.inotify.max_user_instances = 1024
then: sudo sysctl --system`

const COMMAND_WIDTH = 100

/** A command line escaped for the terminal, cut to COMMAND_WIDTH characters (never inside an escape). */
function commandColumn(command: string): string {
  const escaped = escapeForTerminal(command)
  if (escaped.length <= COMMAND_WIDTH) return escaped
  let shown = ''
  for (const char of command) {
    const next = escapeForTerminal(char)
    if (shown.length + next.length > COMMAND_WIDTH - 1) break
    shown += next
  }
  return `${shown}…`
}

/** The report `inotify-napi doctor` prints (command lines escaped for the terminal). */
export function formatUsage(usage: InotifyUsage): string {
  const { limits, holders, totals } = usage
  const of = (used: number, limit: number | undefined): string =>
    limit === undefined ? `${used} (limit unknown)` : `${used} of ${limit} (${((100 * used) / limit).toFixed(1)}%)`
  const lines = [
    'inotify limits (per user, shared by every process of the user):',
    `  fs.inotify.max_user_watches   = ${limits.maxUserWatches ?? 'unknown'}`,
    `  fs.inotify.max_user_instances = ${limits.maxUserInstances ?? 'unknown'}`,
    `  fs.inotify.max_queued_events  = ${limits.maxQueuedEvents ?? 'unknown'}`,
    '',
    `in use by this user: watches ${of(totals.watches, limits.maxUserWatches)}, ` +
      `instances ${of(totals.instances, limits.maxUserInstances)}`,
    '',
    `${'PID'.padStart(8)} ${'INSTANCES'.padStart(9)} ${'WATCHES'.padStart(8)}  COMMAND`,
    ...holders.map(
      (h) =>
        `${String(h.pid).padStart(8)} ${String(h.instances).padStart(9)} ${String(h.watches).padStart(8)}  ${commandColumn(h.command)}`,
    ),
  ]
  if (usage.unreadable > 0) lines.push(`(${usage.unreadable} processes could not be read)`)
  lines.push('', RAISE)
  return lines.join('\n')
}
