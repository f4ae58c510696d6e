// One watcher, alone in its process so that its CPU time and RSS are its own.
//
//   node bench/watcher.mjs --impl inotify-napi|eventBatches|fs.watch --mode latency --dir D --prefix P
//       sends {op:'event', name, t} over IPC for each created name that starts with P, t being the
//       time (bench/clock.mjs) at which user code got it.
//   node bench/watcher.mjs --impl inotify-napi|eventBatches|InotifyTree|fs.watch|watch() --mode burst --dir D --expect N
//       counts distinct created names; ends when it has seen N, or 2 s after {op:'writer-done'}
//       with no new event; prints one JSON line of results on stdout.
//
//   node bench/watcher.mjs --impl inotify-napi|eventBatches|watch()|fs.watch --mode drain --dir D --expect N [--go-file F]
//       sets its watch and reads nothing, so that the writer's events wait in the kernel's queue; on
//       {op:'go'} it starts reading (fs.watch: see drainWatcher) and counts the events named f...
//       until it has N; ends then, or 2 s after its last one; prints one JSON line of results.
//
// Every watcher does the same per-event work: read the clock, add the name to a Set.
// `inotify-napi` and `eventBatches` are the same `Inotify` read two ways: `eventGen` (the per-event
// path: one InotifyEvent object per event) and `eventBatches` (the batch path: one EventBatch per read
// of the kernel's queue, read with its index API, `batch.mask(i)` and `batch.filename(i)`).
// `watch()` (the tooling API: `watch(dir, { recursive: true, debounceMs: 0 })`, iterated with
// `for await (const batch of watcher)`) is in the burst only; its 'create' changes count, by their
// absolute path (one per file: the engine coalesces a file's IN_CREATE and IN_CLOSE_WRITE), and an
// 'overflow' change counts as an overflow. Its 'modify' changes (a file written after its batch was
// taken) are not creates and are skipped.
import { existsSync, watch } from 'node:fs'
import { basename } from 'node:path'
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
    'go-file': { type: 'string' },
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
const inotifyNapi = ['inotify-napi', 'eventBatches', 'InotifyTree', 'watch()'].includes(args.impl) ? loadInotifyNapi() : null
/**
 * What `watch()` or `eventBatches` delivered: batches, and every change or event of any type in them
 * (for the batch-size figures).
 */
const batchStats = { batches: 0, changes: 0 }
/** The impls that deliver batches, and report `batchStats`. */
const BATCHED = ['watch()', 'eventBatches']

/** Runs the async loop `read` (a consumer of one generator); a failure ends the process. */
function consume(what, read) {
  read().catch((error) => {
    console.error(`watcher: ${what} iteration failed:`, error)
    process.exit(1)
  })
}

/**
 * Reads an `eventGen` (the per-event path): `onCreate(filename)` for each `IN_CREATE`, `onOverflow()`
 * for `IN_Q_OVERFLOW` (the generators run with no terminal events: an overflow is counted, not
 * thrown, so that the results still print).
 */
function readCreates(events, onCreate, onOverflow, what) {
  const { IN_CREATE, IN_Q_OVERFLOW } = inotifyNapi
  consume(what, async () => {
    for await (const event of events) {
      const mask = event.header.mask
      if (mask & IN_Q_OVERFLOW) onOverflow()
      else if (mask & IN_CREATE) onCreate(event.filename)
    }
  })
}

/**
 * Reads an `eventBatches` (the batch path) with the batch's index API: the same calls as
 * `readCreates`, per event. `IN_Q_OVERFLOW` comes as an event of the batch (wd -1); nothing throws.
 */
function readBatchCreates(batches, onCreate, onOverflow) {
  const { IN_CREATE, IN_Q_OVERFLOW } = inotifyNapi
  consume('eventBatches', async () => {
    for await (const batch of batches) {
      batchStats.batches++
      batchStats.changes += batch.length
      for (let i = 0; i < batch.length; i++) {
        const mask = batch.mask(i)
        if (mask & IN_Q_OVERFLOW) onOverflow()
        else if (mask & IN_CREATE) onCreate(batch.filename(i))
      }
    }
  })
}

/**
 * Reads `watch()`'s batches: `onCreate(path)` for each `create` change (its absolute path),
 * `onOverflow()` for an `overflow` one.
 */
function readChanges(watcher, onCreate, onOverflow) {
  consume('watch()', async () => {
    for await (const batch of watcher) {
      batchStats.batches++
      batchStats.changes += batch.length
      for (const change of batch) {
        if (change.type === 'create') onCreate(change.path)
        else if (change.type === 'overflow') onOverflow()
      }
    }
  })
}

/**
 * Starts watching `dir` for created names and calls `onCreate(name)` for each; returns `{ stop, ready }`:
 * a function that stops watching, and a promise that resolves once the watch is in place (at once but
 * for `watch()`, whose tree scan runs on its native thread). `onOverflow` is called for a kernel queue
 * overflow (only inotify-napi can see one).
 */
function startWatcher(impl, dir, onCreate, onOverflow) {
  if (impl === 'fs.watch') {
    const watcher = watch(dir, { persistent: true, recursive: false }, (eventType, filename) => {
      if (eventType === 'rename' && filename !== null) onCreate(filename)
    })
    return { stop: () => watcher.close(), ready: Promise.resolve() }
  }
  if (impl === 'inotify-napi' || impl === 'eventBatches') {
    const { Inotify, IN_CREATE } = inotifyNapi
    // blockDurationS null: no ticks, the reader waits for the kernel without a timeout.
    const inotify = new Inotify({ paths: [dir], mask: IN_CREATE, blockDurationS: null })
    if (impl === 'eventBatches') readBatchCreates(inotify.eventBatches(), onCreate, onOverflow)
    // No terminal events: an overflow is counted, not thrown, so that the results still print.
    else readCreates(inotify.eventGen({ yieldNones: false, terminalEvents: [] }), onCreate, onOverflow, 'inotify-napi')
    return { stop: () => inotify.close(), ready: Promise.resolve() }
  }
  if (impl === 'InotifyTree') {
    // The raw recursive API that issue #4 measures watch() against, asking the kernel for what
    // watch() asks it for (so two events reach JavaScript per file here, IN_CREATE and
    // IN_CLOSE_WRITE, where watch() coalesces them into one create natively).
    const { InotifyTree, IN_CREATE, IN_MODIFY, IN_CLOSE_WRITE, IN_ATTRIB, IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO,
      IN_DELETE_SELF } = inotifyNapi
    const tree = new InotifyTree(dir, {
      mask: IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF,
      blockDurationS: null,
    })
    readCreates(tree.eventGen({ yieldNones: false, terminalEvents: [] }), onCreate, onOverflow, 'InotifyTree')
    return { stop: () => tree.close(), ready: tree.ready }
  }
  if (impl === 'watch()') {
    // The tooling API as a tool would use it: recursive, no debounce, async iteration over batches.
    const watcher = inotifyNapi.watch(dir, { recursive: true, debounceMs: 0 })
    readChanges(watcher, onCreate, onOverflow)
    // The burst starts once the watch is in place (run.mjs waits for 'ready').
    return { stop: () => watcher.close(), ready: watcher.ready }
  }
  console.error(`bench/watcher.mjs: --impl inotify-napi|eventBatches|InotifyTree|fs.watch|watch(), got ${impl}`)
  process.exit(2)
}

if (args.mode === 'latency') {
  const prefix = args.prefix
  const { stop, ready } = startWatcher(
    args.impl,
    args.dir,
    (name) => {
      const t = nowMs()
      if (name.startsWith(prefix)) process.send({ op: 'event', name, t })
    },
    () => process.send({ op: 'overflow' }),
  )
  await ready
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
      ...(BATCHED.includes(args.impl) ? { batches: batchStats.batches, changes: batchStats.changes } : {}),
    }
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.disconnect())
  }
  const armQuietTimer = () => {
    clearTimeout(quietTimer)
    quietTimer = setTimeout(() => finish('quiet'), QUIET_MS)
  }

  const watcher = startWatcher(
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
  stop = watcher.stop
  await watcher.ready
  // From here on, CPU time is the burst's (the watch itself is set up).
  cpuStart = process.cpuUsage()
  process.on('message', (message) => {
    if (message.op === 'writer-done') {
      writerDone = true
      if (!finished) armQuietTimer()
    }
  })
  process.send({ op: 'ready' })
} else if (args.mode === 'drain') {
  await drain()
} else {
  console.error(`bench/watcher.mjs: --mode latency|burst|drain, got ${args.mode}`)
  process.exit(2)
}

/**
 * A watcher that reads nothing until it is told to, then calls `onName(name)` for each created name
 * and `onOverflow()` for an overflow. Returns `{ ready, start(), stop(), stats() }`; `start()` returns
 * when reading has begun.
 *
 * - inotify-napi: `new Inotify({ paths: [dir], mask: IN_CREATE, blockDurationS: null })` with no
 *   generator running: its reader thread is not armed and reads nothing; start() runs
 *   `eventGen({ yieldNones: false, terminalEvents: [] })`, the per-event path.
 * - eventBatches: the same `Inotify`; start() runs `eventBatches()`, the batch path (one EventBatch per
 *   read of the kernel's queue, read with its index API).
 * - watch(): `watch(dir, { recursive: true, debounceMs: 0, maxQueuedBytes: 1 })`. Its native thread
 *   reads for good (it is armed once, for every consumer), into its queue of coalesced changes: with
 *   the default bound (16 MiB) it would drain the kernel's queue whether anybody iterates or not.
 *   With the smallest bound, one change (the writer's primer) fills it and the thread stops
 *   reading, so the events wait in the kernel's queue as they do for the others; start() iterates
 *   `for await (const batch of watcher)`, the batch path, and each take lets the thread read again
 *   (up to 1 MiB of events a read loop).
 * - fs.watch: it cannot be paused (libuv reads its inotify descriptor on the event loop whenever
 *   the loop runs), so its loop is blocked instead: {op:'block'} busy-loops the JS thread until the
 *   file `goFile` exists (run.mjs makes it instead of sending 'go'), as a busy application would.
 */
function drainWatcher(impl, dir, onName, onOverflow, goFile) {
  if (impl === 'inotify-napi' || impl === 'eventBatches') {
    const { Inotify, IN_CREATE } = inotifyNapi
    const inotify = new Inotify({ paths: [dir], mask: IN_CREATE, blockDurationS: null })
    const start = () => {
      if (impl === 'eventBatches') readBatchCreates(inotify.eventBatches(), onName, onOverflow)
      else readCreates(inotify.eventGen({ yieldNones: false, terminalEvents: [] }), onName, onOverflow, 'inotify-napi')
    }
    const stats = () => (impl === 'eventBatches' ? { batches: batchStats.batches, changes: batchStats.changes } : {})
    return { ready: Promise.resolve(), start, stop: () => inotify.close(), stats }
  }
  if (impl === 'watch()') {
    const watcher = inotifyNapi.watch(dir, { recursive: true, debounceMs: 0, maxQueuedBytes: 1 })
    const start = () => readChanges(watcher, (path) => onName(basename(path)), onOverflow)
    const stats = () => ({ batches: batchStats.batches, changes: batchStats.changes, queueHighWater: watcher.stats().queueHighWater })
    return { ready: watcher.ready, start, stop: () => watcher.close(), stats }
  }
  if (impl === 'fs.watch') {
    const watcher = watch(dir, { persistent: true, recursive: false }, (eventType, filename) => {
      if (eventType === 'rename' && filename !== null) onName(filename)
    })
    const start = () => {
      while (!existsSync(goFile)) {}
    }
    return { ready: Promise.resolve(), start, stop: () => watcher.close(), stats: () => ({}) }
  }
  console.error(`bench/watcher.mjs: --impl inotify-napi|eventBatches|watch()|fs.watch, got ${impl}`)
  process.exit(2)
}

/** The drain: wait, then time from the start of reading to the last of the expected names. */
async function drain() {
  const expected = Number(args.expect)
  let seen = 0
  let overflows = 0
  let tGo = null
  let tLast = null
  let cpuStart
  let quietTimer
  let finished = false
  const finish = (reason) => {
    if (finished) return
    finished = true
    const cpu = process.cpuUsage(cpuStart)
    clearTimeout(quietTimer)
    const result = {
      impl: args.impl,
      reason,
      expected,
      seen,
      overflows,
      tGo,
      tLastEvent: tLast,
      cpuUs: cpu.user + cpu.system,
      maxRssKiB: process.resourceUsage().maxRSS,
      ...watcher.stats(),
    }
    watcher.stop()
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.disconnect())
  }
  const armQuietTimer = () => {
    clearTimeout(quietTimer)
    quietTimer = setTimeout(() => finish('quiet'), QUIET_MS)
  }
  const watcher = drainWatcher(
    args.impl,
    args.dir,
    (name) => {
      if (!name.startsWith('f')) return
      tLast = nowMs()
      seen++
      if (seen === expected) finish('complete')
      else armQuietTimer()
    },
    () => {
      overflows++
      armQuietTimer()
    },
    args['go-file'],
  )
  await watcher.ready
  const go = () => {
    tGo = nowMs()
    cpuStart = process.cpuUsage()
    armQuietTimer()
  }
  process.on('message', (message) => {
    if (message.op === 'go') {
      go()
      watcher.start()
    } else if (message.op === 'block') {
      // Spins once the answer is written (run.mjs starts the writer when it has it).
      process.send({ op: 'blocking' }, () => {
        watcher.start()
        go()
      })
    }
  })
  process.send({ op: 'ready' })
}
