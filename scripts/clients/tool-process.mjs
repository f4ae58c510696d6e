/**
 * A tool run as the user runs it (`tailwindcss --watch`, `parcel watch`): its own process group, its
 * output kept, waits with deadlines, and a stop that leaves nothing of it running.
 */
import { spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'

/** How often a wait looks again at what it waits for. */
const POLL_MS = 20

/** A spawned tool and everything it printed. */
export class ToolProcess {
  /**
   * @param {string} name how the tool is named in messages
   * @param {string} command the executable
   * @param {string[]} args its arguments
   * @param {{ cwd: string, env?: NodeJS.ProcessEnv }} options
   */
  constructor(name, command, args, { cwd, env = process.env }) {
    this.name = name
    this.output = ''
    /** @type {{ code: number | null, signal: NodeJS.Signals | null } | undefined} */
    this.exit = undefined
    // A group of its own, so that a stop reaches the workers it forks, as Ctrl-C in a terminal does.
    this.child = spawn(command, args, { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stdout.setEncoding('utf8').on('data', (text) => {
      this.output += text
    })
    this.child.stderr.setEncoding('utf8').on('data', (text) => {
      this.output += text
    })
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal }
        resolve(this.exit)
      })
      this.child.on('error', (error) => {
        this.output += `\n[spawn failed: ${error.message}]\n`
        this.exit = { code: null, signal: null }
        resolve(this.exit)
      })
    })
  }

  /**
   * Polls `check` until it gives a value other than undefined/false and returns the milliseconds it
   * took, or undefined once `timeoutMs` passed. Throws when the tool exits meanwhile.
   * @param {() => unknown} check
   * @param {number} timeoutMs
   */
  async waitFor(check, timeoutMs) {
    const start = Date.now()
    for (;;) {
      const value = check()
      if (value !== undefined && value !== false) return Date.now() - start
      if (this.exit !== undefined) throw new Error(`${this.name} exited (${describeExit(this.exit)}):\n${this.tail()}`)
      if (Date.now() - start > timeoutMs) return undefined
      await sleep(POLL_MS)
    }
  }

  /**
   * Like {@link waitFor}, but a deadline passed is an error that shows what the tool printed.
   * @param {() => unknown} check
   * @param {number} timeoutMs
   * @param {string} what
   */
  async expect(check, timeoutMs, what) {
    const ms = await this.waitFor(check, timeoutMs)
    if (ms === undefined)
      throw new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}:\n${this.tail()}`)
    return ms
  }

  /**
   * Waits for the tool to end on its own: its exit, or undefined once `timeoutMs` passed.
   * @param {number} timeoutMs
   */
  async ended(timeoutMs) {
    let timer
    const late = new Promise((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs)
    })
    const exit = await Promise.race([this.exited, late])
    clearTimeout(timer)
    return exit
  }

  /** The last lines the tool printed, for error messages. */
  tail(lines = 30) {
    return this.output.split('\n').slice(-lines).join('\n')
  }

  /**
   * Stops the tool with `signal` sent to its whole group (SIGINT is Ctrl-C), then waits for the group
   * to be gone; what is still there after `timeoutMs` is killed, and that is an error.
   * @param {NodeJS.Signals} signal
   * @param {number} timeoutMs
   */
  async stop(signal, timeoutMs = 20_000) {
    const group = this.child.pid
    if (group === undefined) return this.exit
    if (this.exit === undefined) signalGroup(group, signal)
    this.child.stdin.end()
    const deadline = Date.now() + timeoutMs
    while (groupAlive(group) && Date.now() < deadline) await sleep(POLL_MS)
    if (groupAlive(group)) {
      signalGroup(group, 'SIGKILL')
      await this.exited
      throw new Error(`${this.name} was still running ${timeoutMs} ms after ${signal}: killed`)
    }
    return this.exited
  }
}

/** How a process ended, in words. */
export function describeExit(exit) {
  return exit.signal !== null ? `signal ${exit.signal}` : `status ${exit.code}`
}

function signalGroup(group, signal) {
  try {
    process.kill(-group, signal)
  } catch (error) {
    if (error.code !== 'ESRCH') throw error
  }
}

/** Whether any process of the group is left (signal 0 checks without sending). */
function groupAlive(group) {
  try {
    process.kill(-group, 0)
    return true
  } catch (error) {
    if (error.code === 'ESRCH') return false
    throw error
  }
}
