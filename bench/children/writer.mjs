// The benchmark's writer: the only process that touches the watched directory
// (`node bench/children/writer.mjs --mode MODE ...`).
//
//   --mode latency                         creates one file per {op:'create', path} IPC message and
//                                          keeps the wall-clock time taken just before the syscall;
//                                          {op:'times'} sends them all back (sent only at the end, so
//                                          that no IPC message of ours competes with the watcher
//                                          for a CPU while a sample is in flight).
//   --mode burst --dir D --count N
//                                          on {op:'go', round}, creates N empty files in D as fast
//                                          as it can, D/f000000... in round 1, D/f1000000... in
//                                          round 2 (the drain's names: new ones each round), and
//                                          answers {op:'burst-done', round, ...}: when it began,
//                                          when it began the last create, and when it was done.
//                                          {op:'exit'} ends it.
//   --mode drain --dir D --count N
//                                          on {op:'go', round}, makes a symbolic link D/primer
//                                          (D/primer2 in round 2...), waits 100 ms (so that a
//                                          watcher whose bounded queue the primer fills stops
//                                          reading: watch() in the drain), then N symbolic links,
//                                          D/f000000... in round 1, D/f1000000... in round 2
//                                          (f followed by (round - 1) * 1,000,000 + i): one
//                                          IN_CREATE each, nothing else, so that N is the number of
//                                          events every watcher finds in the kernel's queue, and
//                                          every round's names are new and start with f. Answers
//                                          {op:'drain-done', round, ...}; {op:'exit'} ends it.
//
// Times come from bench/lib/clock.mjs (ms, float, comparable between processes on one machine).
import { closeSync, openSync, symlinkSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { answerClockChecks, nowMs } from '../lib/clock.mjs'

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string' },
    dir: { type: 'string' },
    count: { type: 'string' },
  },
})

if (typeof process.send !== 'function') {
  console.error('bench/children/writer.mjs is started by bench/run.mjs (it needs an IPC channel)')
  process.exit(2)
}

answerClockChecks()
// No child outlives run.mjs (its IPC channel closes when run.mjs goes away, killed or not).
process.on('disconnect', () => process.exit(0))

/** A round's N names in D: f followed by (round - 1) * 1,000,000 + i, at least 6 digits (f000000...). */
function roundPaths(round, count) {
  const first = (round - 1) * 1_000_000
  return Array.from({ length: count }, (_, i) => join(args.dir, `f${String(first + i).padStart(6, '0')}`))
}

function create(path) {
  closeSync(openSync(path, 'w'))
}

if (args.mode === 'latency') {
  const times = {}
  process.on('message', (message) => {
    if (message.op === 'create') {
      const t = nowMs()
      create(message.path)
      times[message.path] = t
    } else if (message.op === 'times') {
      process.send({ op: 'times', times })
    } else if (message.op === 'exit') {
      process.disconnect()
    }
  })
  process.send({ op: 'ready' })
} else if (args.mode === 'burst') {
  const count = Number(args.count)
  process.on('message', (message) => {
    if (message.op === 'exit') return process.disconnect()
    if (message.op !== 'go') return
    const round = message.round ?? 1
    const paths = roundPaths(round, count)
    const last = paths.pop()
    const tFirst = nowMs()
    for (const path of paths) create(path)
    const tLastStart = nowMs()
    create(last)
    const tLast = nowMs()
    process.send({ op: 'burst-done', round, count, tFirst, tLastStart, tLast })
  })
  process.send({ op: 'ready' })
} else if (args.mode === 'drain') {
  const count = Number(args.count)
  process.on('message', async (message) => {
    if (message.op === 'exit') return process.disconnect()
    if (message.op !== 'go') return
    const round = message.round ?? 1
    const paths = roundPaths(round, count)
    symlinkSync('nowhere', join(args.dir, round === 1 ? 'primer' : `primer${round}`))
    await sleep(100)
    const tFirst = nowMs()
    for (const path of paths) symlinkSync('nowhere', path)
    const tLast = nowMs()
    process.send({ op: 'drain-done', round, count, tFirst, tLast })
  })
  process.send({ op: 'ready' })
} else {
  console.error(`bench/children/writer.mjs: --mode latency|burst|drain, got ${args.mode}`)
  process.exit(2)
}
