// The close scenario's watcher: one API, alone in its process, through N sessions one after
// another, each closed after it had events; what close() costs the JS thread is timed here.
//
//   node bench/children/close-watcher.mjs --impl IMPL --dir D --sessions N --dirs K --files F
//
// For each session i: a directory D/s<i> with K - 1 subdirectories, a session opened on it (and
// ready), F files written into its root and waited for until the session has delivered all of them
// to user code (at most 10 s); then `close()` (for subscribe() and @parcel/watcher, the
// subscription's `unsubscribe()`), timed with process.hrtime.bigint() around the call: the
// synchronous part, what the JS thread pays. If the call returns a promise, the time until it settles
// is taken too. Then /proc/self/fd and fdinfo are read: the inotify descriptors and watches left
// beyond what the process held before the session opened. Nothing is timed but close(): the files
// are written by this process (who writes them makes no difference to close()), and the reading of
// /proc comes after the clocks.
//
// Sends {op:'closed', impl, sessions: [{ syncUs, settleUs, seen, instancesLeft, watchesLeft }]}
// and exits.
//
// IMPL is one of:
//   Inotify          new Inotify({ paths: [root], blockDurationS: null }) (the default mask,
//                    IN_ALL_EVENTS), read with eventGen; a file counts on its IN_CLOSE_WRITE
//   InotifyTree      new InotifyTree(root, { blockDurationS: null }), read with eventGen; the same
//   watch()          watch(root, { recursive: true, debounceMs: 0 }), `for await` over its batches;
//                    a file counts on its 'create' change
//   subscribe()      subscribe(root, callback) (the @parcel/watcher drop-in); a 'create' event
//   @parcel/watcher  subscribe(root, callback, { backend: 'inotify' }); a 'create' event
//   chokidar         chokidar.watch(root, { ignoreInitial: true }), ready on 'ready'; an 'add' event
//   fs.watch         fs.watch(root, { recursive: true }); any event naming the file
import { mkdirSync, watch as fsWatch, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadInotifyNapi } from '../lib/load.mjs'
import { loadPeer } from '../lib/peers.mjs'
import { inotifyWatchesOf } from '../lib/proc.mjs'

const DELIVERY_TIMEOUT_MS = 10_000

const { values: args } = parseArgs({
  options: {
    impl: { type: 'string' },
    dir: { type: 'string' },
    sessions: { type: 'string' },
    dirs: { type: 'string' },
    files: { type: 'string' },
  },
})

if (typeof process.send !== 'function') {
  console.error('bench/children/close-watcher.mjs is started by bench/run.mjs (it needs an IPC channel)')
  process.exit(2)
}
process.on('disconnect', () => process.exit(0))

const impl = args.impl
const napi = ['Inotify', 'InotifyTree', 'watch()', 'subscribe()'].includes(impl) ? loadInotifyNapi() : null
const parcel = impl === '@parcel/watcher' ? await loadPeer('@parcel/watcher') : null
const chokidar = impl === 'chokidar' ? await loadPeer('chokidar') : null

/** Runs an async loop over a session's events; an error after close is the loop's end, not a failure. */
function consume(read) {
  read().catch(() => {})
}

/**
 * Opens a session on `root` that calls `onFile(name)` for each file it reports written; resolves,
 * once it is ready, to its close function (what the scenario times).
 */
async function open(root, onFile) {
  if (impl === 'Inotify') {
    const inotify = new napi.Inotify({ paths: [root], blockDurationS: null })
    consume(async () => {
      for await (const event of inotify.eventGen({ yieldNones: false })) {
        if (event.header.mask & napi.IN_CLOSE_WRITE) onFile(event.filename)
      }
    })
    return () => inotify.close()
  }
  if (impl === 'InotifyTree') {
    const tree = new napi.InotifyTree(root, { blockDurationS: null })
    consume(async () => {
      for await (const event of tree.eventGen({ yieldNones: false })) {
        if (event.header.mask & napi.IN_CLOSE_WRITE) onFile(event.filename)
      }
    })
    await tree.ready
    return () => tree.close()
  }
  if (impl === 'watch()') {
    const watcher = napi.watch(root, { recursive: true, debounceMs: 0 })
    consume(async () => {
      for await (const batch of watcher) {
        for (const change of batch) if (change.type === 'create') onFile(basename(change.path))
      }
    })
    await watcher.ready
    return () => watcher.close()
  }
  if (impl === 'subscribe()' || impl === '@parcel/watcher') {
    // An error (an overflow) would show as files not seen.
    const callback = (_error, events) => {
      for (const event of events) if (event.type === 'create') onFile(basename(event.path))
    }
    const subscription =
      impl === 'subscribe()'
        ? await napi.subscribe(root, callback)
        : await parcel.subscribe(root, callback, { backend: 'inotify' })
    return () => subscription.unsubscribe()
  }
  if (impl === 'chokidar') {
    const watcher = chokidar.watch(root, { ignoreInitial: true })
    watcher.on('add', (path) => onFile(basename(path)))
    await new Promise((resolve) => watcher.once('ready', resolve))
    return () => watcher.close()
  }
  if (impl === 'fs.watch') {
    const watcher = fsWatch(root, { recursive: true }, (_eventType, filename) => {
      if (filename !== null) onFile(basename(filename))
    })
    return () => watcher.close()
  }
  console.error(
    `bench/children/close-watcher.mjs: --impl Inotify|InotifyTree|watch()|subscribe()|@parcel/watcher|chokidar|fs.watch, got ${impl}`,
  )
  process.exit(2)
}

/** Resolves when `done()` is true, or after `timeoutMs` (polled every millisecond: no event is missed). */
async function until(done, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 1))
}

const us = (from, to) => Number(to - from) / 1000

const count = Number(args.sessions)
const dirs = Number(args.dirs)
const files = Number(args.files)
const sessions = []
for (let i = 0; i < count; i++) {
  const root = join(args.dir, `s${i}`)
  mkdirSync(root)
  for (let k = 1; k < dirs; k++) mkdirSync(join(root, `d${k}`))
  const before = inotifyWatchesOf('self')
  const seen = new Set()
  const close = await open(root, (name) => {
    if (name?.startsWith('f')) seen.add(name)
  })
  for (let f = 0; f < files; f++) writeFileSync(join(root, `f${f}`), 'x')
  await until(() => seen.size === files, DELIVERY_TIMEOUT_MS)

  const t0 = process.hrtime.bigint()
  const returned = close()
  const t1 = process.hrtime.bigint()
  let settleUs = null
  if (typeof returned?.then === 'function') {
    await returned
    settleUs = us(t0, process.hrtime.bigint())
  }
  const after = inotifyWatchesOf('self')
  sessions.push({
    syncUs: us(t0, t1),
    settleUs,
    seen: seen.size,
    instancesLeft: after.instances - before.instances,
    watchesLeft: after.watches - before.watches,
  })
}
process.send({ op: 'closed', impl, sessions }, () => process.disconnect())
