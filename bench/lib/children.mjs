// The processes a scenario starts (watchers, writers, the C reader): each with an inbox of its
// messages, a clock checked against this process's, and a guaranteed end (killed and waited for in
// the scenario's `finally`, or by killLiveChildren() when the run is interrupted). Every child also
// exits by itself when its IPC channel (the C reader: its stdin) closes, so even a `kill -9` of the
// driver leaves no watcher holding inotify watches.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { spawnC } from './c-programs.mjs'
import { nowMs, timeOriginOffsetMs } from './clock.mjs'
import { benchDir } from './load.mjs'

const liveChildren = new Set()

/** Starts `node bench/children/<script> ...argv` with an IPC channel; stdout is captured, stderr shown. */
export function startChild(script, argv) {
  const child = spawn(process.execPath, [join(benchDir, 'children', script), ...argv], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  })
  return adopt(child, script, (message) => {
    if (child.connected) child.send(message, () => {})
  })
}

/**
 * Starts the C program of column `name` (the C reader: `argv` MODE DIR MASK [EXPECT] [PREFIX]; the C
 * walker: DIR MASK): its stdout's JSON lines are its messages, and what it is sent goes to its stdin
 * as a line.
 */
export function startC(name, argv) {
  const { child, send } = spawnC(name, argv)
  return adopt(child, name, send)
}

/** Wraps a child process: an inbox of its messages, `send` to answer, its stdout, its exit. */
function adopt(child, script, send) {
  const inbox = []
  let wake = () => {}
  let stdout = ''
  let exit = null
  // 'exit' may come before the last of stdout is read (the C reader's last message is a line on it).
  let stdoutClosed = false
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stdout.on('close', () => {
    stdoutClosed = true
    wake()
  })
  child.on('message', (message) => {
    inbox.push(message)
    wake()
  })
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      liveChildren.delete(proc)
      exit = { code, signal }
      wake()
      resolve(exit)
    })
  })
  const proc = {
    child,
    exited,
    get stdout() {
      return stdout
    },
    send,
    /** The first message that `match` accepts, waiting at most `timeoutMs`; null on timeout. */
    async next(match, timeoutMs) {
      const test = typeof match === 'string' ? (m) => m.op === match : match
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const at = inbox.findIndex(test)
        if (at >= 0) return inbox.splice(at, 1)[0]
        if (exit !== null && stdoutClosed)
          throw new Error(`${script} exited (${JSON.stringify(exit)}) before the expected message`)
        const left = deadline - Date.now()
        if (left <= 0) return null
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, left)
          wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
      }
    },
    kill() {
      if (exit === null) child.kill('SIGKILL')
    },
  }
  liveChildren.add(proc)
  return proc
}

/** Kills every child still running (the run was interrupted). */
export function killLiveChildren() {
  for (const proc of liveChildren) proc.kill()
}

/** The first message `op` from `proc`; throws after `timeoutMs` without one. */
export async function expectMessage(proc, op, timeoutMs, what) {
  const message = await proc.next(op, timeoutMs)
  if (message === null) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
  return message
}

/** A peer that did not get there in time: recorded (and printed as "timed out"), not fatal to the run. */
export class TimedOut extends Error {}

/** As expectMessage, but a timeout is a TimedOut (a watcher too slow, not a broken run). */
export async function expectOrTimeOut(proc, op, timeoutMs, what) {
  const message = await proc.next(op, timeoutMs)
  if (message === null) throw new TimedOut(`timed out after ${timeoutMs / 1000} s waiting for ${what}`)
  return message
}

/** The record of a watcher that failed or timed out: `failed` is what the table shows. */
export function failure(impl, error) {
  const failed = error instanceof TimedOut ? 'timed out' : 'failed'
  process.stderr.write(`bench: ${impl}: ${failed}: ${error.message}\n`)
  return { failed, error: error.message }
}

/** Waits for a child to exit, at most `timeoutMs`; throws on timeout. */
export async function waitExit(proc, timeoutMs, what) {
  let timer
  const exit = await Promise.race([
    proc.exited,
    new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs, null))),
  ])
  clearTimeout(timer)
  if (exit === null) throw new Error(`${what} did not exit within ${timeoutMs / 1000} s`)
  return exit
}

/** Kills a child (if it still runs) and waits for it to be gone, so that its inotify watches are freed. */
export async function reap(proc) {
  if (!proc) return
  proc.kill()
  await waitExit(proc, 10_000, 'a killed child').catch((error) => process.stderr.write(`bench: ${error.message}\n`))
}

/** Largest clock disagreement seen by checkClock, in ms (a child's stamp outside [sent, received]). */
let clockSkewMs = 0
/** Each process's timeorigin-minus-monotonic offset (ms), this one's first. */
const originOffsetsMs = [timeOriginOffsetMs()]

/**
 * Checks that a child's clock is this process's clock: its answer to a ping must fall between the
 * ping's send and the answer's receipt. The best of a few pings is kept (scheduling only widens the
 * window).
 */
export async function checkClock(proc, what) {
  let best = Infinity
  for (let i = 0; i < 5; i++) {
    const sent = nowMs()
    proc.send({ op: 'clock' })
    const { t, originOffsetMs } = await expectMessage(proc, 'clock', 10_000, `${what}'s clock`)
    // The C reader has no performance.timeOrigin.
    if (i === 0 && originOffsetMs !== undefined) originOffsetsMs.push(originOffsetMs)
    const received = nowMs()
    const outside = t < sent ? sent - t : t > received ? t - received : 0
    best = Math.min(best, outside)
  }
  clockSkewMs = Math.max(clockSkewMs, best)
}

/**
 * What the clock checks found: the worst ping-pong disagreement (ms), and the spread of the
 * timeorigin clock's error over the processes checked (us).
 */
export function clockChecks() {
  const spreadUs = (Math.max(...originOffsetsMs) - Math.min(...originOffsetsMs)) * 1000
  return { pingPongSkewMs: clockSkewMs, timeOriginSpreadUs: spreadUs, processes: originOffsetsMs.length }
}
