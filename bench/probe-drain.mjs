// Diagnostic, not part of `npm run bench`: what the first drain of a fresh process pays for, split by
// thread and by stage (the drain scenario's round 1, see docs/bench-notes.md).
//
//   node bench/probe-drain.mjs [--samples 12] [--impl eventBatches|eventGen] [--base /dev/shm]
//
// Each sample is a fresh process (this script, started again with --sample) that watches a fresh
// directory with `Inotify` and reads nothing while 15,564 symbolic links are made (the drain's
// 95% of max_queued_events, by the drain's writer); then it reads them with the drain's consumer
// (the loop of children/watcher.mjs: per event, the clock and a count). It prints the medians of:
//
//   drain ms          go to the last event in user code
//   go->ring ms       go to the reader's first ring in JS (the generator's start, arming the reader,
//                     its first read, encoding, the threadsafe-function call, the main thread's wake-up)
//   first batch ms    eventBatches: from that ring to the end of the loop over the first batch (a
//                     read's worth of events, decoded and counted before V8 has optimized the loop)
//   CPU ms            over the drain: the process, the main thread, the inotify-reader thread, and
//                     the rest (V8's compiler and GC threads: /proc/self/task/*/schedstat). The main
//                     thread's is the process's less the others' (a running thread's own schedstat
//                     lags by up to a scheduler tick).
//
// The ring is timed by wrapping the native class (an internal of dist/native.js), as
// probe-latency.mjs does; it may need updating when the binding changes.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { DRAIN_FILL } from './lib/config.mjs'
import { benchDir, loadInotifyNapi, rootDir } from './lib/load.mjs'

const { values: args } = parseArgs({
  options: {
    samples: { type: 'string', default: '12' },
    impl: { type: 'string', default: 'eventBatches' },
    base: { type: 'string', default: '/dev/shm' },
    sample: { type: 'boolean', default: false },
  },
})
if (!['eventBatches', 'eventGen'].includes(args.impl)) {
  console.error(`bench/probe-drain.mjs: --impl eventBatches|eventGen, got ${args.impl}`)
  process.exit(2)
}
const nowMs = () => Number(process.hrtime.bigint()) / 1e6

if (args.sample) await sample()
else await main()

/** Starts one sample per process, one after another, and prints the medians. */
async function main() {
  const results = []
  for (let i = 0; i < Number(args.samples); i++) {
    const child = spawn(process.execPath, [process.argv[1], '--sample', '--impl', args.impl, '--base', args.base], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (chunk) => (out += chunk))
    const code = await new Promise((resolve) => child.on('exit', resolve))
    if (code !== 0) {
      console.error(`bench/probe-drain.mjs: a sample failed (exit ${code})`)
      process.exit(1)
    }
    results.push(JSON.parse(out))
  }
  const median = (key, digits = 2) => {
    const v = results.map((r) => r[key]).sort((a, b) => a - b)
    const m = v.length >> 1
    return (v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2).toFixed(digits)
  }
  const firstBatch =
    args.impl === 'eventBatches'
      ? `, first batch ${median('firstBatchMs')} ms (${median('firstBatchEvents', 0)} events)`
      : ''
  console.log(
    `probe-drain: ${args.impl}, ${results[0].events} events, ${results.length} fresh processes, medians: ` +
      `drain ${median('drainMs')} ms, go->ring ${median('ringMs')} ms${firstBatch}; CPU ms: process ` +
      `${median('cpuMs')}, main ${median('mainMs')}, inotify-reader ${median('readerMs')}, other threads ` +
      `${median('otherMs')}`,
  )
}

/** CPU ns of this process's threads other than the main one: the reader threads, and the rest. */
function threadsCpu() {
  const cpu = { reader: 0, other: 0 }
  for (const task of readdirSync('/proc/self/task')) {
    if (task === String(process.pid)) continue
    try {
      const ns = Number(readFileSync(`/proc/self/task/${task}/schedstat`, 'utf8').split(' ')[0])
      const comm = readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim()
      cpu[comm === 'inotify-reader' ? 'reader' : 'other'] += ns
    } catch {}
  }
  return cpu
}

/** One cold drain in this process; prints its figures as JSON. */
async function sample() {
  const marks = { ring: null }
  const binding = createRequire(import.meta.url)(join(rootDir, 'dist/native.js')).native
  const NativeInotify = binding.NativeInotify
  binding.NativeInotify = function ProbedNativeInotify(onReady, ...rest) {
    return new NativeInotify(
      (signal) => {
        marks.ring ??= nowMs()
        onReady(signal)
      },
      ...rest,
    )
  }
  const { Inotify, IN_CREATE, IN_Q_OVERFLOW } = loadInotifyNapi()
  const events = Math.floor(DRAIN_FILL * Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8')))
  const dir = realpathSync(mkdtempSync(join(args.base, 'inotify-napi-probe-')))
  const inotify = new Inotify({ paths: [dir], mask: IN_CREATE, blockDurationS: null })
  try {
    await fill(dir, events)
    let seen = 0
    let tLast = null
    let firstBatchEnd = null
    let firstBatchEvents = 0
    const onName = (name) => {
      if (!name.startsWith('f')) return false
      tLast = nowMs()
      seen++
      return seen === events
    }
    const before = threadsCpu()
    const cpuBefore = process.cpuUsage()
    const tGo = nowMs()
    marks.ring = null
    if (args.impl === 'eventBatches') {
      read: for await (const batch of inotify.eventBatches()) {
        for (let i = 0; i < batch.length; i++) {
          const mask = batch.mask(i)
          if (mask & IN_Q_OVERFLOW) throw new Error('the kernel queue overflowed')
          if (mask & IN_CREATE && onName(batch.filename(i)) === true) break read
        }
        firstBatchEnd ??= nowMs()
        firstBatchEvents ||= batch.length
      }
    } else {
      for await (const event of inotify.eventGen({ yieldNones: false, terminalEvents: [] })) {
        const mask = event.header.mask
        if (mask & IN_Q_OVERFLOW) throw new Error('the kernel queue overflowed')
        if (mask & IN_CREATE && onName(event.filename) === true) break
      }
    }
    const cpu = process.cpuUsage(cpuBefore)
    const after = threadsCpu()
    const cpuMs = (cpu.user + cpu.system) / 1000
    const readerMs = (after.reader - before.reader) / 1e6
    const otherMs = (after.other - before.other) / 1e6
    console.log(
      JSON.stringify({
        events,
        drainMs: tLast - tGo,
        ringMs: marks.ring - tGo,
        firstBatchMs: firstBatchEnd === null ? 0 : firstBatchEnd - marks.ring,
        firstBatchEvents,
        cpuMs,
        mainMs: cpuMs - readerMs - otherMs,
        readerMs,
        otherMs,
      }),
    )
  } finally {
    await inotify.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The drain's writer (children/writer.mjs, mode drain) makes `count` links in `dir`, round 1. */
async function fill(dir, count) {
  const writer = spawn(
    process.execPath,
    [join(benchDir, 'children', 'writer.mjs'), '--mode', 'drain', '--dir', dir, '--count', String(count)],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  )
  const next = (op) => new Promise((resolve) => writer.on('message', (m) => m.op === op && resolve(m)))
  await next('ready')
  const done = next('drain-done')
  writer.send({ op: 'go', round: 1 })
  await done
  writer.send({ op: 'exit' })
  await new Promise((resolve) => writer.on('exit', resolve))
}
