/**
 * `inotify-napi watch`: prints what changes under directories, one line per change, and optionally
 * runs a command after each settled batch (never two at once), as `watchexec` does.
 * @module
 */
import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import type { Change } from './changes'
import { InotifyError } from './errors'
import { escapeForTerminal } from './terminal-text'
import { watch, type Watcher } from './watch'

export const WATCH_USAGE = `Usage: inotify-napi watch [-r] [--exclude GLOB]... [--json] [--debounce MS] PATH... [-- COMMAND...]

Prints one line per change under each PATH (a directory): "create PATH", "modify PATH", "delete PATH",
"rename OLD -> NEW", "overflow PATH" (a trailing / marks a directory). With -- COMMAND, runs COMMAND
after each settled batch of changes; a batch that comes while it runs starts it once more afterwards.

Options:
  -r, --recursive      watch every directory below each PATH (default: each PATH's own entries)
  -x, --exclude GLOB   leave out what matches (gitignore syntax; repeatable), e.g. -x node_modules -x '*.log'
      --gitignore      also apply each PATH's .gitignore
      --json           print one JSON object per change
      --debounce MS    gather changes this long before a batch (default 50)
  -h, --help           show this help`

/** Exit codes. */
const EXIT_OK = 0
const EXIT_WATCH_FAILED = 1
const EXIT_USAGE = 2

function line(change: Change, json: boolean): string {
  if (json) return JSON.stringify(change)
  const slash = change.isDir ? '/' : ''
  const path = `${escapeForTerminal(change.path)}${slash}`
  const what = change.oldPath !== undefined ? `${escapeForTerminal(change.oldPath)}${slash} -> ${path}` : path
  return `${change.type} ${what}${change.synthetic === true ? ' (found by scan)' : ''}`
}

/** Runs `command` after batches, never two at once: a batch during a run asks for one more run. */
function commandRunner(command: string[]): { batch: () => void; idle: () => Promise<void> } {
  let running = false
  let again = false
  let idle: Promise<void> = Promise.resolve()
  const run = (): void => {
    running = true
    again = false
    idle = new Promise<void>((resolve) => {
      const child = spawn(command[0] ?? 'true', command.slice(1), { stdio: 'inherit' })
      const done = (): void => {
        running = false
        if (again) run()
        resolve()
      }
      child.once('error', (error) => {
        process.stderr.write(`inotify-napi: cannot run '${command.join(' ')}': ${error.message}\n`)
        done()
      })
      child.once('exit', done)
    })
  }
  return {
    batch: () => {
      if (running) again = true
      else run()
    },
    idle: () => idle,
  }
}

/** `inotify-napi watch ...`; resolves with the exit code. */
export async function watchMain(argv: string[]): Promise<number> {
  const split = argv.indexOf('--')
  const args = split === -1 ? argv : argv.slice(0, split)
  const command = split === -1 ? [] : argv.slice(split + 1)
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        recursive: { type: 'boolean', short: 'r' },
        exclude: { type: 'string', short: 'x', multiple: true },
        gitignore: { type: 'boolean' },
        json: { type: 'boolean' },
        debounce: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (error) {
    process.stderr.write(`inotify-napi watch: ${(error as Error).message}\n\n${WATCH_USAGE}\n`)
    return EXIT_USAGE
  }
  const { values, positionals } = parsed
  if (values.help) {
    process.stdout.write(`${WATCH_USAGE}\n`)
    return EXIT_OK
  }
  const debounceMs = Number(values.debounce ?? 50)
  const usage = (message: string): number => {
    process.stderr.write(`inotify-napi watch: ${message}\n\n${WATCH_USAGE}\n`)
    return EXIT_USAGE
  }
  if (!Number.isInteger(debounceMs) || debounceMs < 0) return usage(`--debounce must be an integer >= 0, got '${values.debounce}'`)
  if (positionals.length === 0) return usage('name at least one directory to watch')
  if (split !== -1 && command.length === 0) return usage('a command must follow --')

  let watcher: Watcher
  try {
    watcher = watch(positionals, {
      recursive: values.recursive ?? false,
      ignore: values.exclude ?? [],
      gitignore: values.gitignore ?? false,
      debounceMs,
    })
    await watcher.ready
  } catch (error) {
    const reason = error instanceof InotifyError || error instanceof Error ? error.message : String(error)
    process.stderr.write(`inotify-napi watch: ${reason}\n`)
    return EXIT_WATCH_FAILED
  }
  watcher.on('error', (error) => process.stderr.write(`inotify-napi watch: ${error.message}\n`))
  const runner = command.length > 0 ? commandRunner(command) : undefined
  const stop = (): void => void watcher.close()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') stop()
  })
  try {
    for await (const batch of watcher) {
      process.stdout.write(batch.map((c) => `${line(c, values.json ?? false)}\n`).join(''))
      runner?.batch()
    }
  } finally {
    await watcher.close()
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
  await runner?.idle()
  return EXIT_OK
}
