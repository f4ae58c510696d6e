// Diagnostic, not part of `npm run bench`: where inotify-napi's write-to-event latency goes.
//
//   node bench/probe-latency.mjs [--samples 300] [--gap-ms 1]
//   taskset -c 1 node bench/probe-latency.mjs      (watcher and its reader thread on one CPU)
//
// One watcher at a time in this process (fs.watch, then inotify-napi, each on a fresh directory),
// bench/children/writer.mjs creating files. For inotify-napi it splits the latency with timestamps taken by
// wrapping the native class (an internal of dist/native.js: `new NativeInotify(onReady)`, `take()`,
// `request()`), so it may need updating when the binding changes:
//
//   write -> ring     kernel, reader thread wake-up, read, encode, TSFN call, main thread wake-up,
//                     until the doorbell callback runs in JS
//   ring -> take      waking the generator (promise resolution) until it takes the batch
//   take -> user      take(), decoding, the read-ahead request(), the async generator's yield
//   request()         time spent inside that read-ahead request() call alone
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, watch } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { nowMs as wallMs } from './lib/clock.mjs'
import { benchDir, loadInotifyNapi, rootDir } from './lib/load.mjs'

const { values: args } = parseArgs({
  options: {
    samples: { type: 'string', default: '300' },
    'gap-ms': { type: 'string', default: '1' },
    base: { type: 'string', default: '/dev/shm' },
  },
})
const samples = Number(args.samples)
const gapMs = Number(args['gap-ms'])
const warmup = 20
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Wrap the native class before dist/ constructs one (dist/native.js looks it up at each `new`).
const marks = {}
const binding = createRequire(import.meta.url)(join(rootDir, 'dist/native.js')).native
const NativeInotify = binding.NativeInotify
binding.NativeInotify = function ProbedNativeInotify(onReady, ...rest) {
  const native = new NativeInotify(
    (reports) => {
      marks.ring ??= wallMs()
      onReady(reports)
    },
    ...rest,
  )
  native.take = function take() {
    const batch = NativeInotify.prototype.take.call(this)
    if (batch) marks.take ??= wallMs()
    return batch
  }
  native.request = function request(ms) {
    const start = wallMs()
    const result = NativeInotify.prototype.request.call(this, ms)
    if (marks.take !== undefined && marks.request === undefined) marks.request = wallMs() - start
    return result
  }
  return native
}
const { Inotify, IN_CREATE } = loadInotifyNapi()

function startWriter() {
  const writer = spawn(process.execPath, [join(benchDir, 'children', 'writer.mjs'), '--mode', 'latency'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const ready = new Promise((resolve) => writer.once('message', resolve))
  return { writer, ready }
}

async function probe(impl) {
  const dir = realpathSync(mkdtempSync(join(args.base, 'inotify-napi-probe-')))
  let deliver = () => {}
  const onCreate = (name) => {
    const t = wallMs()
    deliver({ name, t, ...marks })
  }
  let stop
  if (impl === 'fs.watch') {
    const watcher = watch(dir, (type, name) => type === 'rename' && onCreate(name))
    stop = () => watcher.close()
  } else {
    const inotify = new Inotify({ paths: [dir], mask: IN_CREATE, blockDurationS: null })
    ;(async () => {
      for await (const event of inotify.eventGen({ yieldNones: false })) onCreate(event.filename)
    })()
    stop = () => inotify.close()
  }
  const { writer, ready } = startWriter()
  await ready
  if (impl === 'inotify-napi') {
    await sleep(50)
    console.log(
      `idle: the reader thread waits in ${readerWaitChannels().join(', ') || 'n/a'} (do_epoll_wait: a request is outstanding)`,
    )
  }
  const got = []
  for (let i = 0; i < warmup + samples; i++) {
    for (const key of Object.keys(marks)) delete marks[key]
    const event = new Promise((resolve) => (deliver = resolve))
    const path = join(dir, `p${i}`)
    writer.send({ op: 'create', path })
    const e = await event
    if (i >= warmup) got.push({ ...e, path })
    await sleep(gapMs)
  }
  writer.send({ op: 'times' })
  const { times } = await new Promise((resolve) => writer.on('message', (m) => m.op === 'times' && resolve(m)))
  writer.send({ op: 'exit' })
  stop()
  rmSync(dir, { recursive: true, force: true })
  return got.map((e) => ({ ...e, written: times[e.path] }))
}

/** Where this process's inotify-reader threads sleep (/proc/self/task/* /wchan). */
function readerWaitChannels() {
  const channels = []
  for (const task of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim() === 'inotify-reader') {
        channels.push(readFileSync(`/proc/self/task/${task}/wchan`, 'utf8').trim())
      }
    } catch {}
  }
  return channels
}

const us = (ms) => (Number.isFinite(ms) ? `${(ms * 1000).toFixed(1)} us` : 'n/a').padStart(9)
function pct(values, p) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b)
  return v.length ? v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)] : NaN
}

console.log(`probe: ${samples} samples per watcher, ${gapMs} ms apart, dirs in ${args.base}`)
for (const impl of ['fs.watch', 'inotify-napi']) {
  const got = await probe(impl)
  const total = got.map((e) => e.t - e.written)
  let line = `${impl.padEnd(13)} write->user p50 ${us(pct(total, 50))} p99 ${us(pct(total, 99))}`
  if (impl === 'inotify-napi') {
    line +=
      ` | p50s: write->ring ${us(
        pct(
          got.map((e) => e.ring - e.written),
          50,
        ),
      )}` +
      `, ring->take ${us(
        pct(
          got.map((e) => e.take - e.ring),
          50,
        ),
      )}` +
      `, take->user ${us(
        pct(
          got.map((e) => e.t - e.take),
          50,
        ),
      )}` +
      ` (request() ${us(
        pct(
          got.map((e) => e.request),
          50,
        ),
      )})`
  }
  console.log(line)
}
process.exit(0)
