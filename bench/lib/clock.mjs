// The clock every bench process stamps events with, in milliseconds (float).
//
// Default: `process.hrtime.bigint()`. Node documents it as relative to "an arbitrary time in the past",
// but on Linux libuv reads CLOCK_MONOTONIC, which is one clock for the whole machine (time since boot),
// so stamps from different processes compare exactly; the driver checks this with a ping-pong
// against each child before it trusts them.
//
// BENCH_CLOCK=timeorigin: `performance.timeOrigin + performance.now()` instead. It is comparable
// across processes too, but only to within the error of pairing the wall clock with the monotonic
// clock at each process's start: measured here (Node 20), that pairing differs between two processes
// by up to ~30 us, as much as the latencies being measured (15-80 us on tmpfs).
import { performance } from 'node:perf_hooks'

const clocks = {
  monotonic: () => Number(process.hrtime.bigint()) / 1e6,
  timeorigin: () => performance.timeOrigin + performance.now(),
}

/** The clock's name: BENCH_CLOCK, or what the driver chose with useClock(). */
export let clockName = process.env.BENCH_CLOCK === 'timeorigin' ? 'timeorigin' : 'monotonic'

/** Now, in ms, comparable between processes on this machine. */
export let nowMs = clocks[clockName]

/**
 * Makes `name` this process's clock and, through BENCH_CLOCK, the clock of every child it starts
 * from now on (the driver calls it once, before it starts any).
 */
export function useClock(name) {
  if (!Object.hasOwn(clocks, name)) throw new Error(`bench: --clock monotonic|timeorigin, got ${name}`)
  clockName = name
  nowMs = clocks[name]
  process.env.BENCH_CLOCK = name
}

/**
 * This process's `performance.timeOrigin + performance.now()` minus CLOCK_MONOTONIC, in ms: the same
 * for every process if the timeorigin clock were exact; its spread across processes is that clock's
 * error.
 */
export function timeOriginOffsetMs() {
  const before = process.hrtime.bigint()
  const wall = performance.timeOrigin + performance.now()
  const after = process.hrtime.bigint()
  return wall - Number((before + after) / 2n) / 1e6
}

/** Answers the parent's clock check: `{op:'clock'}` gets `{op:'clock', t, originOffsetMs}` back. */
export function answerClockChecks() {
  process.on('message', (message) => {
    if (message?.op === 'clock') process.send({ op: 'clock', t: nowMs(), originOffsetMs: timeOriginOffsetMs() })
  })
}
