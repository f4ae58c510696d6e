/**
 * The command `inotify-napi watch ... -- COMMAND` runs on changes: one run at a time, each in a process
 * group of its own, so that a signal reaches everything the command started.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { escapeForTerminal } from './terminal-text'

/** How long a stopped command has to exit after its signal before its group gets SIGKILL. */
const STOP_TIMEOUT_MS = 10_000

/** How the runner treats changes while the command runs. */
export interface CommandRunnerOptions {
  /** Stop the running command (SIGTERM to its group) and start it again, instead of running it once more after it ends. */
  readonly restart: boolean
}

interface Run {
  readonly child: ChildProcess
  /** Set once we signalled it: its end is ours, not news. */
  stopping: boolean
  killTimer: NodeJS.Timeout | undefined
  readonly exited: Promise<void>
}

/**
 * Runs `command` on each settled batch, never two runs at once. A batch during a run asks for one more
 * run after it (or, with `restart`, stops the run and starts it again). A run that fails is reported on
 * stderr with its exit status or signal.
 */
export class CommandRunner {
  readonly #command: readonly string[]
  readonly #restart: boolean
  #current: Run | undefined
  #again = false
  #stopped = false

  constructor(command: readonly string[], options: CommandRunnerOptions) {
    this.#command = command
    this.#restart = options.restart
  }

  /** A settled batch of changes. */
  changed(): void {
    if (this.#stopped) return
    const run = this.#current
    if (run === undefined) {
      this.#start()
      return
    }
    this.#again = true
    if (this.#restart && !run.stopping) this.#terminate(run, 'SIGTERM')
  }

  /**
   * Runs no more: sends `signal` to the running command's process group (SIGKILL when it is already
   * being stopped, as for a second Ctrl-C) and resolves once it has exited.
   */
  stop(signal: NodeJS.Signals): Promise<void> {
    this.#stopped = true
    this.#again = false
    const run = this.#current
    if (run !== undefined) this.#terminate(run, run.stopping ? 'SIGKILL' : signal)
    return this.idle()
  }

  /** Resolves once no run is going and none is due. */
  async idle(): Promise<void> {
    while (this.#current !== undefined) await this.#current.exited
  }

  #start(): void {
    this.#again = false
    // detached: the command leads a new process group (and session), which a signal reaches as a whole.
    const child = spawn(this.#command[0] as string, this.#command.slice(1), { stdio: 'inherit', detached: true })
    let ended!: () => void
    const run: Run = {
      child,
      stopping: false,
      killTimer: undefined,
      exited: new Promise((resolve) => {
        ended = resolve
      }),
    }
    let settled = false
    const finish = (report: string | undefined): void => {
      if (settled) return
      settled = true
      clearTimeout(run.killTimer)
      if (report !== undefined) process.stderr.write(`inotify-napi watch: ${escapeForTerminal(report)}\n`)
      this.#current = undefined
      if (this.#again && !this.#stopped) this.#start()
      ended()
    }
    const shown = this.#command.join(' ')
    // Without a pid the spawn failed: 'error' follows, and maybe no 'exit'.
    child.once('error', (error) => finish(`cannot run '${shown}': ${error.message}`))
    child.once('exit', (code, signal) => {
      if (run.stopping) finish(undefined)
      else if (signal !== null) finish(`'${shown}' was ended by ${signal}`)
      else if (code !== 0) finish(`'${shown}' exited with status ${code}`)
      else finish(undefined)
    })
    this.#current = run
  }

  #terminate(run: Run, signal: NodeJS.Signals): void {
    run.stopping = true
    signalGroup(run.child, signal)
    if (signal !== 'SIGKILL' && run.killTimer === undefined) {
      run.killTimer = setTimeout(() => signalGroup(run.child, 'SIGKILL'), STOP_TIMEOUT_MS)
    }
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch (error) {
    // ESRCH: the group is gone already.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
}
