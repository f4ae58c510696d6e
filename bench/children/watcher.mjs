// One watcher, alone in its process so that its CPU time and RSS are its own.
//
//   node bench/children/watcher.mjs --impl inotify-napi|eventBatches|fs.watch --mode latency --dir D --prefix P
//       sends {op:'event', name, t} over IPC for each created name that starts with P, t being the
//       time (bench/lib/clock.mjs) at which user code got it.
//   node bench/children/watcher.mjs --impl inotify-napi|eventBatches|InotifyTree|fs.watch|watch() --mode burst --dir D --expect N [--rounds R]
//       watches D through R bursts (3 by default), in rounds: on {op:'round', round} it starts the
//       round's count (and CPU time) and answers {op:'round-ready'}; it counts the distinct created
//       names of the round (the writer's: f000000... in round 1, f1000000... in round 2); the round
//       ends when it has seen N, or 2 s after {op:'writer-done'} with no new event, and its
//       results go back as {op:'burst', round, ...}. It ends after round R.
//
//   node bench/children/watcher.mjs --impl inotify-napi|eventBatches|watch()|fs.watch --mode drain --dir D --expect N [--rounds R]
//       sets its watch and reads nothing, so that the writer's events wait in the kernel's queue; on
//       {op:'go'} it starts reading (fs.watch: {op:'block', goFile}, see drainWatcher) and counts the
//       events named f... until it has N; then it stops reading (pauses) and sends the round's
//       results, {op:'drained', round, ...}, and waits for the next go. It ends after round R (2 by
//       default), or after a round that ended 2 s after its last event without all N.
//
// Every watcher does the same per-event work: read the clock, add the name to a Set (in the drain:
// read the clock, count the name, as the C reader does).
// `inotify-napi` and `eventBatches` are the same `Inotify` read two ways: `eventGen` (the per-event
// path: one InotifyEvent object per event) and `eventBatches` (the batch path: one EventBatch per read
// of the kernel's queue, read with its index API, `batch.mask(i)` and `batch.filename(i)`).
// `watch()` (the tooling API: `watch(dir, { recursive: true, debounceMs: 0 })`, iterated with
// `for await (const batch of watcher)`) is in the burst and the drain (see drainWatcher); its
// 'create' changes count, by their absolute path (one per file: the engine coalesces a file's
// IN_CREATE and IN_CLOSE_WRITE), and an 'overflow' change counts as an overflow. Its 'modify' changes (a file written after its batch was
// taken) are not creates and are skipped.
import { existsSync, watch } from 'node:fs'
import { basename } from 'node:path'
import { parseArgs } from 'node:util'
import { answerClockChecks, nowMs } from '../lib/clock.mjs'
import { peakRssKiB } from '../lib/rss.mjs'
import { loadInotifyNapi } from '../lib/load.mjs'
import { watchMask } from '../lib/watch-mask.mjs'

const QUIET_MS = 2000

const { values: args } = parseArgs({
  options: {
    impl: { type: 'string' },
    mode: { type: 'string' },
    dir: { type: 'string' },
    prefix: { type: 'string', default: '' },
    expect: { type: 'string', default: '0' },
    rounds: { type: 'string' },
  },
})

if (typeof process.send !== 'function') {
  console.error('bench/children/watcher.mjs is started by bench/run.mjs (it needs an IPC channel)')
  process.exit(2)
}

answerClockChecks()
// No child outlives run.mjs (its IPC channel closes when run.mjs goes away, killed or not).
process.on('disconnect', () => process.exit(0))

// Loaded up front, so that loading the module is not part of the CPU time measured.
const inotifyNapi = ['inotify-napi', 'eventBatches', 'InotifyTree', 'watch()'].includes(args.impl)
  ? loadInotifyNapi()
  : null
/**
 * What `watch()` or `eventBatches` delivered: batches, every change or event of any type in them, and
 * the largest batch (for the batch-size figures).
 */
const batchStats = { batches: 0, changes: 0, largest: 0 }
/** The impls that deliver batches, and report `batchStats`. */
const BATCHED = ['watch()', 'eventBatches']

/**
 * Runs the async loop `read` (a consumer of one generator); a failure ends the process. Returns the
 * loop's promise, which resolves when the loop is left.
 */
function consume(what, read) {
  return read().catch((error) => {
    console.error(`watcher: ${what} iteration failed:`, error)
    process.exit(1)
  })
}

/**
 * Reads an `eventGen` (the per-event path): `onCreate(filename)` for each `IN_CREATE`, `onOverflow()`
 * for `IN_Q_OVERFLOW` (the generators run with no terminal events: an overflow is counted, not
 * thrown, so that the results still print). When `onCreate` returns `true`, the loop is left (which
 * ends the generator: with none running, the reader stops reading). Returns the loop's promise.
 */
function readCreates(events, onCreate, onOverflow, what) {
  const { IN_CREATE, IN_Q_OVERFLOW } = inotifyNapi
  return consume(what, async () => {
    for await (const event of events) {
      const mask = event.header.mask
      if (mask & IN_Q_OVERFLOW) onOverflow()
      else if (mask & IN_CREATE && onCreate(event.filename) === true) return
    }
  })
}

/**
 * Reads an `eventBatches` (the batch path) with the batch's index API: the same calls as
 * `readCreates`, per event. `IN_Q_OVERFLOW` comes as an event of the batch (wd -1); nothing throws.
 */
function readBatchCreates(batches, onCreate, onOverflow) {
  const { IN_CREATE, IN_Q_OVERFLOW } = inotifyNapi
  return consume('eventBatches', async () => {
    for await (const batch of batches) {
      batchStats.batches++
      batchStats.changes += batch.length
      batchStats.largest = Math.max(batchStats.largest, batch.length)
      for (let i = 0; i < batch.length; i++) {
        const mask = batch.mask(i)
        if (mask & IN_Q_OVERFLOW) onOverflow()
        else if (mask & IN_CREATE && onCreate(batch.filename(i)) === true) return
      }
    }
  })
}

/**
 * Reads `watch()`'s batches: `onCreate(path)` for each `create` change (its absolute path),
 * `onOverflow()` for an `overflow` one; as readCreates, `true` from `onCreate` leaves the loop (which
 * closes nothing: the watcher's thread goes on reading into its bounded queue).
 */
function readChanges(watcher, onCreate, onOverflow) {
  return consume('watch()', async () => {
    for await (const batch of watcher) {
      batchStats.batches++
      batchStats.changes += batch.length
      batchStats.largest = Math.max(batchStats.largest, batch.length)
      for (const change of batch) {
        if (change.type === 'create') {
          if (onCreate(change.path) === true) return
        } else if (change.type === 'overflow') onOverflow()
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
    const tree = new inotifyNapi.InotifyTree(dir, { mask: watchMask(inotifyNapi), blockDurationS: null })
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
  console.error(
    `bench/children/watcher.mjs: --impl inotify-napi|eventBatches|InotifyTree|fs.watch|watch(), got ${impl}`,
  )
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
      process.send({ op: 'stopped', maxRssKiB: peakRssKiB() }, () => process.disconnect())
    }
  })
  process.send({ op: 'ready' })
} else if (args.mode === 'burst') {
  await burst()
} else if (args.mode === 'drain') {
  await drain()
} else {
  console.error(`bench/children/watcher.mjs: --mode latency|burst|drain, got ${args.mode}`)
  process.exit(2)
}

/**
 * The burst, in rounds: one watcher (set up once, read by one loop, see startWatcher) through
 * `--rounds` bursts of N creates, each with new names, so that each round's completeness is its own.
 * Round 1 runs JavaScript that never ran (a fresh process: V8 compiles and optimises as it goes);
 * the later rounds, the same code warm. Each round's CPU time runs from its {op:'round'} (the watcher
 * idle, the writer not yet started) to its last new name.
 */
async function burst() {
  const expected = Number(args.expect)
  const rounds = Number(args.rounds ?? 3)
  // A round's names are f<digits>: f + 6 digits in round 1, f + (round - 1) + 6 digits after (the
  // writer's roundPaths; N < 1,000,000). watch() reports absolute paths: the name starts after D/.
  const nameAt = args.impl === 'watch()' ? args.dir.length + 1 : 0
  let round = 0
  let prefix
  let nameLength
  let names = new Set()
  let events = 0
  let overflows = 0
  let tFirstEvent = null
  let tLastEvent = null
  let quietTimer
  let writerDone
  /** True from the round's start to its results. */
  let running = false
  let cpuStart
  const finish = (reason) => {
    if (!running) return
    running = false
    const cpu = process.cpuUsage(cpuStart)
    clearTimeout(quietTimer)
    const last = round >= rounds
    if (last) watcher.stop()
    const result = {
      op: 'burst',
      impl: args.impl,
      round,
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
      maxRssKiB: peakRssKiB(),
      ...(BATCHED.includes(args.impl) ? { batches: batchStats.batches, changes: batchStats.changes } : {}),
    }
    process.send(result, () => {
      if (last) process.disconnect()
    })
  }
  const armQuietTimer = () => {
    clearTimeout(quietTimer)
    quietTimer = setTimeout(() => finish('quiet'), QUIET_MS)
  }
  // Per event: read the clock, add the round's new name to the Set (the C reader marks a bitmap).
  const watcher = startWatcher(
    args.impl,
    args.dir,
    (name) => {
      const t = nowMs()
      events++
      tFirstEvent ??= t
      if (!running || name.length !== nameLength || !name.startsWith(prefix, nameAt) || names.has(name)) return
      names.add(name)
      tLastEvent = t
      if (names.size === expected) finish('complete')
      else if (writerDone) armQuietTimer()
    },
    () => {
      overflows++
      if (writerDone && running) armQuietTimer()
    },
  )
  await watcher.ready
  process.on('message', (message) => {
    if (message.op === 'round') {
      round++
      prefix = round === 1 ? 'f' : `f${round - 1}`
      nameLength = nameAt + prefix.length + 6
      names = new Set()
      events = 0
      overflows = 0
      tFirstEvent = null
      tLastEvent = null
      writerDone = false
      Object.assign(batchStats, { batches: 0, changes: 0, largest: 0 })
      running = true
      // From here on, CPU time is the round's (the watch is set up, nothing happens until the writer goes).
      cpuStart = process.cpuUsage()
      process.send({ op: 'round-ready', round })
    } else if (message.op === 'writer-done') {
      writerDone = true
      if (running) armQuietTimer()
    }
  })
  process.send({ op: 'ready' })
}

/**
 * A watcher that reads nothing until it is told to. Returns `{ ready, read(onName, onOverflow), stop(),
 * stats() }`: `read` reads, calling `onName(name)` for each created name and `onOverflow()` for an
 * overflow, until `onName` returns `true`; it returns a promise that resolves once reading has
 * stopped, and may be called again for the next round (the same code path each time).
 *
 * - inotify-napi: `new Inotify({ paths: [dir], mask: IN_CREATE, blockDurationS: null })` with no
 *   generator running: its reader thread is not armed and reads nothing. read() runs
 *   `eventGen({ yieldNones: false, terminalEvents: [] })`, the per-event path, and leaves its
 *   `for await` at the last name: the generator ends, and with none running the reader is paused
 *   again (events wait in the kernel's queue).
 * - eventBatches: the same `Inotify`; read() runs `eventBatches()`, the batch path (one EventBatch per
 *   read of the kernel's queue, read with its index API), and leaves it the same way.
 * - watch(): `watch(dir, { recursive: true, debounceMs: 0, maxQueuedBytes: 1 })`. Its native thread
 *   reads for good (it is armed once, for every consumer), into its queue of coalesced changes: with
 *   the default bound (16 MiB) it would drain the kernel's queue whether anybody iterates or not.
 *   With the smallest bound, one change (the writer's primer) fills it and the thread stops
 *   reading, so the events wait in the kernel's queue as they do for the others; read() iterates
 *   `for await (const batch of watcher)`, the batch path, and each take lets the thread read again
 *   (up to 1 MiB of events a read loop). Leaving the loop takes nothing more: the next round's
 *   primer fills the queue again.
 * - fs.watch: it cannot be paused (libuv reads its inotify descriptor on the event loop whenever
 *   the loop runs), so its loop is blocked instead: `block(goFile)` busy-loops the JS thread until
 *   the file `goFile` exists (run.mjs makes it instead of sending 'go'), as a busy application
 *   would; read() then counts what its callback gets.
 */
function drainWatcher(impl, dir) {
  const batchStatsOf = () => ({ batches: batchStats.batches, changes: batchStats.changes, largest: batchStats.largest })
  if (impl === 'inotify-napi' || impl === 'eventBatches') {
    const { Inotify, IN_CREATE } = inotifyNapi
    const inotify = new Inotify({ paths: [dir], mask: IN_CREATE, blockDurationS: null })
    const read = (onName, onOverflow) =>
      impl === 'eventBatches'
        ? readBatchCreates(inotify.eventBatches(), onName, onOverflow)
        : readCreates(inotify.eventGen({ yieldNones: false, terminalEvents: [] }), onName, onOverflow, 'inotify-napi')
    const stats = () => (impl === 'eventBatches' ? batchStatsOf() : {})
    return { ready: Promise.resolve(), read, stop: () => inotify.close(), stats }
  }
  if (impl === 'watch()') {
    const watcher = inotifyNapi.watch(dir, { recursive: true, debounceMs: 0, maxQueuedBytes: 1 })
    const read = (onName, onOverflow) => readChanges(watcher, (path) => onName(basename(path)), onOverflow)
    return { ready: watcher.ready, read, stop: () => watcher.close(), stats: batchStatsOf }
  }
  if (impl === 'fs.watch') {
    /** The running read(): its callback, and what resolves it; null between rounds. */
    let reading = null
    const watcher = watch(dir, { persistent: true, recursive: false }, (eventType, filename) => {
      if (reading === null || eventType !== 'rename' || filename === null) return
      if (reading.onName(filename) === true) {
        reading.done()
        reading = null
      }
    })
    const read = (onName) => new Promise((done) => (reading = { onName, done }))
    const block = (goFile) => {
      while (!existsSync(goFile)) {}
    }
    return { ready: Promise.resolve(), read, block, stop: () => watcher.close(), stats: () => ({}) }
  }
  console.error(`bench/children/watcher.mjs: --impl inotify-napi|eventBatches|watch()|fs.watch, got ${impl}`)
  process.exit(2)
}

/**
 * The drain, in rounds (the same watcher, the same code path each round): wait, then time from the
 * start of reading to the last of the expected names; stop reading, report, wait for the next go.
 * Round 1 runs JavaScript that never ran (a consumer that fell behind before it ever ran); round 2,
 * the same after it has drained once and paused (a consumer that was paused).
 */
async function drain() {
  const expected = Number(args.expect)
  const rounds = Number(args.rounds ?? 2)
  const watcher = drainWatcher(args.impl, args.dir)
  let round = 0
  let seen
  let overflows
  let tGo
  let tLast
  let cpuStart
  /** When the last event (or go) came: the quiet end is 2 s after it. */
  let tProgress
  let quietCheck
  /** The round's results, made at its last event (or at its quiet end); null while it runs. */
  let result
  const resultOf = (reason) => {
    const cpu = process.cpuUsage(cpuStart)
    clearInterval(quietCheck)
    return {
      impl: args.impl,
      round,
      reason,
      expected,
      seen,
      overflows,
      tGo,
      tLastEvent: tLast,
      cpuUs: cpu.user + cpu.system,
      maxRssKiB: peakRssKiB(),
      ...watcher.stats(),
    }
  }
  /** Sends the round's results; after the last round, or a round that did not complete, the process ends. */
  const report = () => {
    const last = round >= rounds || result.reason !== 'complete'
    if (last) watcher.stop()
    process.send({ op: 'drained', ...result }, () => {
      if (last) process.disconnect()
    })
  }
  // The per-event work is the C reader's: take the clock, count the name. The quiet end is checked
  // every 100 ms against the last event's time, not re-armed per event (a setTimeout and a
  // clearTimeout per event cost a JS watcher some 1 us an event, three times the drain itself).
  const onName = (name) => {
    if (!name.startsWith('f')) return false
    tLast = nowMs()
    tProgress = tLast
    seen++
    if (seen !== expected) return false
    result ??= resultOf('complete')
    return true
  }
  const onOverflow = () => {
    overflows++
    tProgress = nowMs()
  }
  const startRound = () => {
    round++
    seen = 0
    overflows = 0
    tLast = null
    result = null
    Object.assign(batchStats, { batches: 0, changes: 0, largest: 0 })
    tGo = nowMs()
    tProgress = tGo
    cpuStart = process.cpuUsage()
    quietCheck = setInterval(() => {
      if (result !== null || nowMs() - tProgress < QUIET_MS) return
      // A round that did not get every event: report it and end (its loop may still be waiting).
      result = resultOf('quiet')
      report()
    }, 100)
    // Resolves once reading has stopped (the loop left at the last name): the round reports then.
    watcher.read(onName, onOverflow).then(() => {
      if (result.reason === 'complete') report()
    })
  }
  await watcher.ready
  process.on('message', (message) => {
    if (message.op === 'go') {
      startRound()
    } else if (message.op === 'block') {
      // Spins once the answer is written (run.mjs starts the writer when it has it).
      process.send({ op: 'blocking' }, () => {
        watcher.block(message.goFile)
        startRound()
      })
    }
  })
  process.send({ op: 'ready' })
}
