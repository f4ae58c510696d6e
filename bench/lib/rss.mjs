// Peak RSS of this process, for the watchers' reports.
//
// `process.resourceUsage().maxRSS` (getrusage's ru_maxrss) is not this process's own peak: Linux
// carries the high-water mark across fork and exec, so a child spawned by run.mjs reports at least
// run.mjs's RSS at the time (a 40 MiB node spawned by a 240 MiB one reports 208 MiB). VmHWM in
// /proc/self/status is the peak of this process's own memory since its exec.
import { readFileSync } from 'node:fs'

/** Peak resident set size of this process since it started, in KiB (VmHWM). */
export function peakRssKiB() {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))
  if (match === null) throw new Error('bench: no VmHWM line in /proc/self/status')
  return Number(match[1])
}
