// One watcher, alone in its process so that its CPU time and RSS are its own.
//
//   node bench/watcher.mjs --impl inotify-napi|fs.watch --mode latency --dir D --prefix P
//       sends {op:'event', name, t} over IPC for each created name that starts with P, t being the
//       time (bench/clock.mjs) at which user code got it.
//   node bench/watcher.mjs --impl inotify-napi|fs.watch --mode burst --dir D --expect N
//       counts distinct created names; ends when it has seen N, or 2 s after {op:'writer-done'}
//       with no new event; prints one JSON line of results on stdout.
//
// Both sides do the same per-event work: read the clock, add the name to a Set.
import { watch } from 'node:fs'
import { parseArgs } from 'node:util'
import { answerClockChecks, nowMs } from './clock.mjs'
import { loadInotifyNapi } from './load.mjs'

const QUIET_MS = 2000

const { values: args } = parseArgs({
  options: {
    impl: { type: 'string' },
    mode: { type: 'string' },
    dir: { type: 'string' },
    prefix: { type: 'string', default: '' },
    expect: { type: 'string', default: '0' },
  },
})

if (typeof process.send !== 'function') {
  console.error('bench/watcher.mjs is started by bench/run.mjs (it needs an IPC channel)')
  process.exit(2)
}

answerClockChecks()
// No child outlives run.mjs (its IPC channel closes when run.mjs goes away, killed or not).
process.on('disconnect', () => process.exit(0))

// Loaded up front, so that loading the module is not part of the CPU time measured.
const inotifyNapi = args.impl === 'inotify-napi' ? loadInotifyNapi() : null

/**
 * Starts watching `dir` for created names and calls `onCreate(name)` for each; returns a function that
 * stops watching. `onOverflow` is called for a kernel queue overflow (only inotify-napi can see one).
 */
function startWatcher(impl, dir, onCreate, onOverflow) {
  if (impl === 'fs.watch') {
    const watcher = watch(dir, { persistent: true, recursive: false }, (eventType, filename) => {
      if (eventType === 'rename' && filename !== null) onCreate(filename)
    })
    return () => watcher.close()
  }
  if (impl === 'inotify-napi') {
    const { Inotify, IN_CREATE, IN_Q_OVERFLOW } = inotifyNapi
    // blockDurationS null: no ticks, the reader waits for the kernel without a timeout.
    const inotify = new Inotify({ paths: [dir], mask: IN_CREATE, blockDurationS: null })
    // No terminal events: an overflow is counted, not thrown, so that the results still print.
    const events = inotify.eventGen({ yieldNones: false, terminalEvents: [] })
    ;(async () => {
      for await (const event of events) {
        if (event.header.mask & IN_Q_OVERFLOW) onOverflow()
        else onCreate(event.filename)
      }
    })().catch((error) => {
      console.error('watcher: inotify-napi generator failed:', error)
      process.exit(1)
    })
    return () => inotify.close()
  }
  console.error(`bench/watcher.mjs: --impl inotify-napi|fs.watch, got ${impl}`)
  process.exit(2)
}

if (args.mode === 'latency') {
  const prefix = args.prefix
  const stop = startWatcher(
    args.impl,
    args.dir,
    (name) => {
      const t = nowMs()
      if (name.startsWith(prefix)) process.send({ op: 'event', name, t })
    },
    () => process.send({ op: 'overflow' }),
  )
  process.on('message', (message) => {
    if (message.op === 'stop') {
      stop()
      const usage = process.resourceUsage()
      process.send({ op: 'stopped', maxRssKiB: usage.maxRSS }, () => process.disconnect())
    }
  })
  process.send({ op: 'ready' })
} else if (args.mode === 'burst') {
  const expected = Number(args.expect)
  const names = new Set()
  let events = 0
  let overflows = 0
  let tFirstEvent = null
  let tLastEvent = null
  let quietTimer
  let writerDone = false
  let finished = false
  let cpuStart
  let stop = () => {}

  const finish = (reason) => {
    if (finished) return
    finished = true
    const cpu = process.cpuUsage(cpuStart)
    clearTimeout(quietTimer)
    stop()
    const result = {
      impl: args.impl,
      reason,
      expected,
      seen: names.size,
      events,
      overflows,
      tFirstEvent,
      tLastEvent,
      cpuUs: cpu.user + cpu.system,
      cpuUserUs: cpu.user,
      cpuSystemUs: cpu.system,
      maxRssKiB: process.resourceUsage().maxRSS,
    }
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.disconnect())
  }
  const armQuietTimer = () => {
    clearTimeout(quietTimer)
    quietTimer = setTimeout(() => finish('quiet'), QUIET_MS)
  }

  stop = startWatcher(
    args.impl,
    args.dir,
    (name) => {
      const t = nowMs()
      events++
      tFirstEvent ??= t
      if (names.has(name)) return
      names.add(name)
      tLastEvent = t
      if (names.size === expected) finish('complete')
      else if (writerDone) armQuietTimer()
    },
    () => {
      overflows++
      if (writerDone) armQuietTimer()
    },
  )
  // From here on, CPU time is the burst's (the watch itself is set up).
  cpuStart = process.cpuUsage()
  process.on('message', (message) => {
    if (message.op === 'writer-done') {
      writerDone = true
      if (!finished) armQuietTimer()
    }
  })
  process.send({ op: 'ready' })
} else {
  console.error(`bench/watcher.mjs: --mode latency|burst, got ${args.mode}`)
  process.exit(2)
}
