// One recursive watcher, alone in its process so that its CPU time and RSS are its own (the tree
// scenarios; bench/children/watcher.mjs is the plain ones').
//
//   node bench/children/tree-watcher.mjs --impl IMPL --mode startup --dir D
//       watches D; sends {op:'ready', startupMs, cpuMs, maxRssKiB, loadedRssKiB, watchCount, events,
//       errors} when it is ready (timed from the constructor call to ready; loadedRssKiB is the peak RSS
//       before it, with the module loaded), then waits for {op:'stop'};
//       {op:'usage'} gets {op:'usage', t, cpuMs, events, maxRssKiB} back (the idle scenario's
//       window: the process's CPU time so far, and the events reported so far).
//   node bench/children/tree-watcher.mjs --impl IMPL --mode count --dir D
//       watches D; sends {op:'ready'}; records the path (relative to D) of every entry it reports
//       created or moved in (files and directories) and when it first did; {op:'block', ms}
//       busy-loops its JS thread for that long; {op:'writer-done', expected} ends it as soon as every
//       expected path is reported, or 2 s after the last newly reported path; prints one JSON line of
//       results on stdout.
//   --impl idle: loads nothing, watches nothing: the baseline RSS of a node process.
//
// IMPL is one of:
//   inotify-napi     new InotifyTree(D, { mask }) and eventGen({ yieldNones: false, terminalEvents: [] });
//                    an entry is reported by IN_CREATE, IN_CLOSE_WRITE or IN_MOVED_TO (synthetic ones
//                    included), ready is `await tree.ready`; IN_Q_OVERFLOW events and what onError
//                    gets (but vanished directories) are counted as errors
//   InotifyTree      the same, with watch()'s mask (bench/lib/watch-mask.mjs): what watch() is measured
//                    against
//   @parcel/watcher  `await subscribe(D, cb, { backend: 'inotify' })`; an entry is reported by a 'create'
//                    event; an error given to the callback is counted as an error (so is chokidar's and
//                    fs.watch's 'error' event)
//   chokidar         watch(D) with its defaults; 'ready' event; an entry is reported by 'add' or 'addDir'
//   fs.watch         fs.watch(D, { recursive: true }) (Node's JS implementation on Linux: one watch per
//                    directory and per file, set up synchronously); ready when the call returns; an entry
//                    is reported by a 'rename' event's filename
//   watch()          inotify-napi's tooling API: watch(D, { recursive: true, debounceMs: 0 }), iterated with
//                    `for await (const batch of watcher)`; ready is `await watcher.ready`; an entry is
//                    reported by a 'create' change (synthetic ones included: what a scan of a new
//                    directory found); the engine coalesces a file's IN_CREATE and IN_CLOSE_WRITE into one
//                    create, and the paths are counted distinct, as for every watcher; 'overflow' changes
//                    and 'error' events (but vanished directories) are counted as errors
//
// The process exits when run.mjs goes away (its IPC channel closes), so that no watcher outlives the
// run holding inotify watches.
import { watch } from 'node:fs'
import { isAbsolute, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { answerClockChecks, nowMs } from '../lib/clock.mjs'
import { peakRssKiB } from '../lib/rss.mjs'
import { loadInotifyNapi } from '../lib/load.mjs'
import { loadPeer } from '../lib/peers.mjs'
import { changeMask, watchMask } from '../lib/watch-mask.mjs'

const QUIET_MS = 2000

const { values: args } = parseArgs({
  options: {
    impl: { type: 'string' },
    mode: { type: 'string' },
    dir: { type: 'string' },
  },
})

if (typeof process.send !== 'function') {
  console.error('bench/children/tree-watcher.mjs is started by bench/run.mjs (it needs an IPC channel)')
  process.exit(2)
}
answerClockChecks()
process.on('disconnect', () => process.exit(0))

const root = args.dir
const impl = args.impl
// Loaded up front: loading a module is not part of the startup time (it is part of the RSS).
const inotifyNapi = ['inotify-napi', 'InotifyTree', 'watch()'].includes(impl) ? loadInotifyNapi() : null
const parcel = impl === '@parcel/watcher' ? await loadPeer('@parcel/watcher') : null
const chokidar = impl === 'chokidar' ? await loadPeer('chokidar') : null

/** A reported path, relative to the root. */
const rel = (path) => (isAbsolute(path) ? relative(root, path) : path)

/**
 * Starts watching the root; `onFile(relPath)` for each entry (file or directory) reported created or
 * moved in, `onOverflow(what)` for an overflow or error report. Resolves when the watcher is ready, to
 * `{ startupMs, stop(), watchCount() }`.
 */
async function startWatcher(onFile, onOverflow) {
  if (impl === 'inotify-napi' || impl === 'InotifyTree') {
    const { InotifyTree, IN_CREATE, IN_CLOSE_WRITE, IN_MOVED_TO, IN_Q_OVERFLOW } = inotifyNapi
    const reported = IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO
    const t0 = nowMs()
    const tree = new InotifyTree(root, {
      // What a "tell me what changed" watcher asks for: creates, writes, deletes, moves; or, for
      // the tree that watch() is measured against, what watch() asks for.
      mask: impl === 'InotifyTree' ? watchMask(inotifyNapi) : changeMask(inotifyNapi),
      // Counted like the peers' errors (the default only warns); a directory that vanished is normal churn.
      onError: (error) => {
        if (error.code !== 'ENOENT' && error.code !== 'ENOTDIR') onOverflow(error.code ?? error.message)
      },
    })
    // No terminal events: an overflow is counted, not thrown.
    const events = tree.eventGen({ yieldNones: false, terminalEvents: [] })
    ;(async () => {
      for await (const event of events) {
        const mask = event.header.mask
        if (mask & IN_Q_OVERFLOW) onOverflow('IN_Q_OVERFLOW')
        else if (mask & reported) onFile(rel(`${event.path}/${event.filename}`))
      }
    })().catch((error) => {
      console.error('tree-watcher: inotify-napi generator failed:', error)
      process.exit(1)
    })
    // A rejected ready (a root that cannot be watched, the watch limit) has been given to onError too;
    // what was watched keeps working, so the run goes on and the error is in the results.
    await tree.ready.catch(() => {})
    const startupMs = nowMs() - t0
    return { startupMs, stop: () => tree.close(), watchCount: () => tree.watchCount }
  }
  if (impl === '@parcel/watcher') {
    const t0 = nowMs()
    const subscription = await parcel.subscribe(
      root,
      (error, events) => {
        if (error) onOverflow(String(error.message ?? error))
        for (const event of events ?? []) if (event.type === 'create') onFile(rel(event.path))
      },
      { backend: 'inotify' },
    )
    const startupMs = nowMs() - t0
    return { startupMs, stop: () => subscription.unsubscribe(), watchCount: () => null }
  }
  if (impl === 'chokidar') {
    const t0 = nowMs()
    const watcher = chokidar.watch(root)
    watcher.on('add', (path) => onFile(rel(path)))
    watcher.on('addDir', (path) => onFile(rel(path)))
    watcher.on('error', (error) => onOverflow(String(error?.message ?? error)))
    await new Promise((resolve) => watcher.once('ready', resolve))
    const startupMs = nowMs() - t0
    return { startupMs, stop: () => watcher.close(), watchCount: () => null }
  }
  if (impl === 'fs.watch') {
    const t0 = nowMs()
    const watcher = watch(root, { recursive: true }, (eventType, filename) => {
      if (eventType === 'rename' && filename !== null) onFile(filename)
    })
    const startupMs = nowMs() - t0
    watcher.on('error', (error) => onOverflow(String(error?.message ?? error)))
    return { startupMs, stop: () => watcher.close(), watchCount: () => null }
  }
  if (impl === 'watch()') {
    const t0 = nowMs()
    const watcher = inotifyNapi.watch(root, { recursive: true, debounceMs: 0 })
    // Counted like InotifyTree's onError (without an 'error' listener, watch() would only warn).
    watcher.on('error', (error) => {
      if (error.code !== 'ENOENT' && error.code !== 'ENOTDIR') onOverflow(error.code ?? error.message)
    })
    ;(async () => {
      for await (const batch of watcher) {
        for (const change of batch) {
          if (change.type === 'create') onFile(rel(change.path))
          else if (change.type === 'overflow') onOverflow('overflow')
        }
      }
    })().catch((error) => {
      console.error('tree-watcher: watch() iteration failed:', error)
      process.exit(1)
    })
    // As for InotifyTree: a rejected ready has been reported as an 'error' too.
    await watcher.ready.catch(() => {})
    const startupMs = nowMs() - t0
    return { startupMs, stop: () => watcher.close(), watchCount: () => watcher.stats().watches }
  }
  if (impl === 'idle') {
    return { startupMs: 0, stop: () => {}, watchCount: () => null }
  }
  console.error(
    `bench/children/tree-watcher.mjs: --impl inotify-napi|InotifyTree|@parcel/watcher|chokidar|fs.watch|watch()|idle, got ${impl}`,
  )
  process.exit(2)
}

function cpuMs(since) {
  const cpu = process.cpuUsage(since)
  return (cpu.user + cpu.system) / 1000
}

if (args.mode === 'startup') {
  let events = 0
  const errors = []
  // A bare node process that loaded the module: the baseline of the memory a watch adds.
  const loadedRssKiB = peakRssKiB()
  const cpu0 = process.cpuUsage()
  const watcher = await startWatcher(
    () => events++,
    (what) => errors.push(what),
  )
  const cpu = cpuMs(cpu0)
  process.send({
    op: 'ready',
    startupMs: watcher.startupMs,
    cpuMs: cpu,
    maxRssKiB: peakRssKiB(),
    loadedRssKiB,
    watchCount: watcher.watchCount(),
    events,
    errors: errors.length,
    firstErrors: [...new Set(errors)].slice(0, 3),
  })
  process.on('message', async (message) => {
    if (message.op === 'usage') {
      process.send({ op: 'usage', t: nowMs(), cpuMs: cpuMs(), events, maxRssKiB: peakRssKiB() })
    }
    if (message.op !== 'stop') return
    await watcher.stop()
    process.send({ op: 'stopped', events, errors: errors.length, maxRssKiB: peakRssKiB() }, () => process.disconnect())
  })
} else if (args.mode === 'count') {
  /** Every reported path (relative to the root) and when it was first reported. */
  const firstSeen = new Map()
  const overflows = []
  let events = 0
  let tLastNew = null
  /** The paths the writer made, once it is done; the watcher ends when it has reported them all. */
  let missing = null
  let finished = false
  let quietTimer
  let blocked = null
  let watcher
  const cpu0 = process.cpuUsage()

  const finish = async (reason) => {
    if (finished) return
    finished = true
    clearTimeout(quietTimer)
    const cpu = cpuMs(cpu0)
    await watcher.stop()
    const result = {
      impl,
      reason,
      reported: Object.fromEntries(firstSeen),
      events,
      overflows,
      blocked,
      tLastNew,
      cpuMs: cpu,
      maxRssKiB: peakRssKiB(),
    }
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.disconnect())
  }
  const armQuietTimer = () => {
    clearTimeout(quietTimer)
    quietTimer = setTimeout(() => finish('quiet'), QUIET_MS)
  }
  watcher = await startWatcher(
    (path) => {
      events++
      if (firstSeen.has(path)) return
      const t = nowMs()
      firstSeen.set(path, t)
      tLastNew = t
      if (missing === null) return
      missing.delete(path)
      if (missing.size === 0) finish('all reported')
      else armQuietTimer()
    },
    (what) => {
      overflows.push(what)
      if (missing !== null) armQuietTimer()
    },
  )
  process.on('message', (message) => {
    if (message.op === 'block') {
      // The stalled event loop: this process's JS thread does nothing else for message.ms.
      const cpu = process.cpuUsage()
      const start = nowMs()
      const until = start + message.ms
      while (nowMs() < until) {}
      blocked = { start, end: nowMs(), cpuMs: cpuMs(cpu) }
    } else if (message.op === 'writer-done') {
      missing = new Set(message.expected.filter((path) => !firstSeen.has(path)))
      if (missing.size === 0) finish('all reported')
      else armQuietTimer()
    }
  })
  process.send({ op: 'ready', startupMs: watcher.startupMs })
} else {
  console.error(`bench/children/tree-watcher.mjs: --mode startup|count, got ${args.mode}`)
  process.exit(2)
}
