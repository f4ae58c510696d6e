// The snapshot scenario's runner: one API, alone in its process, calls writeSnapshot or
// getEventsSince on a tree a few times in a row and times each call.
//
//   node bench/children/snapshot-runner.mjs --impl IMPL --op write|since --dir D --snapshot S --calls N
//
// Each call is timed with performance.now() around its promise (wall clock: the walk runs on other
// threads) and with process.cpuUsage() (the CPU of every thread of the process). Loading the
// package is not timed. Sends {op:'timed', calls: [{ ms, cpuMs }], events (since: the last call's,
// as `type path` strings)} and exits.
//
// IMPL is `inotify-napi` (the package's writeSnapshot/getEventsSince) or `@parcel/watcher`.
import { parseArgs } from 'node:util'
import { loadInotifyNapi } from '../lib/load.mjs'
import { loadPeer } from '../lib/peers.mjs'

const { values: args } = parseArgs({
  options: {
    impl: { type: 'string' },
    op: { type: 'string' },
    dir: { type: 'string' },
    snapshot: { type: 'string' },
    calls: { type: 'string' },
  },
})

if (typeof process.send !== 'function') {
  console.error('bench/children/snapshot-runner.mjs is started by bench/run.mjs (it needs an IPC channel)')
  process.exit(2)
}
process.on('disconnect', () => process.exit(0))

const api = args.impl === '@parcel/watcher' ? await loadPeer('@parcel/watcher') : loadInotifyNapi()
const call =
  args.op === 'write'
    ? () => api.writeSnapshot(args.dir, args.snapshot)
    : () => api.getEventsSince(args.dir, args.snapshot)
const calls = []
let events = []
for (let i = 0; i < Number(args.calls); i++) {
  const cpu = process.cpuUsage()
  const t0 = performance.now()
  const result = await call()
  const ms = performance.now() - t0
  const used = process.cpuUsage(cpu)
  calls.push({ ms, cpuMs: (used.user + used.system) / 1000 })
  if (args.op === 'since') events = result.map((e) => `${e.type} ${e.path}`)
}
process.send({ op: 'timed', calls, events }, () => process.disconnect())
