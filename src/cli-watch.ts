/**
 * `inotify-napi watch`: prints what changes under directories, one line per change, and optionally
 * runs a command after each settled batch (never two at once), as `watchexec` does.
 * @module
 */
import { dirname } from 'node:path'
import { EXIT_OK, EXIT_USAGE, EXIT_WATCH_FAILED, parseArguments, UsageError, type OptionSpecs } from './cli-args'
import { CommandRunner } from './cli-command'
import type { Change } from './changes'
import { InotifyError } from './errors'
import { escapeForTerminal, jsonForTerminal } from './terminal-text'
import { watch, type Watcher } from './watch'

const OPTIONS = {
  recursive: { short: 'r' },
  exclude: { short: 'x', value: 'GLOB' },
  gitignore: {},
  json: {},
  debounce: { value: 'MS' },
  restart: {},
  help: { short: 'h' },
} as const satisfies OptionSpecs

/** The `watch` line of the usage: every option. */
export const WATCH_SYNOPSIS =
  'inotify-napi watch [-r] [-x GLOB]... [--gitignore] [--json] [--debounce MS] [--restart] DIR... [-- COMMAND...]'

const WATCH_USAGE = `Usage: ${WATCH_SYNOPSIS}

Prints one line per change under each DIR: "create PATH", "modify PATH", "delete PATH",
"rename OLD -> NEW", "overflow DIR" (a trailing / marks a directory; control characters in paths are
escaped as ls -b does). With -- COMMAND, runs COMMAND after each settled batch of changes, in a process
group of its own; a batch that comes while it runs starts it once more afterwards. Ctrl-C or SIGTERM
is passed on to the command's process group, and the watch ends once the command has.

Options:
  -r, --recursive      watch every directory below each DIR (default: each DIR's own entries)
  -x, --exclude GLOB   leave out what matches (gitignore syntax; repeatable), e.g. -x node_modules -x '*.log'
      --gitignore      also apply each DIR's .gitignore
      --json           print one JSON object per change ("synthetic": true when a scan found it)
      --debounce MS    gather changes this long before a batch (default 50)
      --restart        on a change while COMMAND runs, stop it (SIGTERM to its process group, SIGKILL
                       after 10 s) and start it again
  -h, --help           show this help`

const MAX_DEBOUNCE_MS = 2 ** 31 - 1

function line(change: Change, json: boolean): string {
  if (json) return jsonForTerminal(change)
  const slash = change.isDir ? '/' : ''
  const path = `${escapeForTerminal(change.path)}${slash}`
  return `${change.type} ${change.oldPath !== undefined ? `${escapeForTerminal(change.oldPath)}${slash} -> ${path}` : path}`
}

interface WatchCommandLine {
  dirs: string[]
  command: string[] | undefined
  recursive: boolean
  exclude: string[]
  gitignore: boolean
  json: boolean
  debounceMs: number
  restart: boolean
}

function parse(argv: string[]): WatchCommandLine | 'help' {
  const { options, positionals, afterDashes } = parseArguments(argv, OPTIONS)
  if (options.help) return 'help'
  const debounce = options.debounce?.at(-1) ?? '50'
  const debounceMs = Number(debounce)
  if (!/^\d+$/.test(debounce) || debounceMs > MAX_DEBOUNCE_MS) {
    throw new UsageError(
      `--debounce takes a whole number of milliseconds from 0 to ${MAX_DEBOUNCE_MS}, got '${debounce}'`,
    )
  }
  if (positionals.length === 0) throw new UsageError('name at least one directory to watch')
  if (afterDashes !== undefined && afterDashes.length === 0) throw new UsageError('a command must follow --')
  if (options.restart && afterDashes === undefined) throw new UsageError('--restart needs a command: -- COMMAND...')
  return {
    dirs: positionals,
    command: afterDashes,
    recursive: options.recursive ?? false,
    exclude: options.exclude ?? [],
    gitignore: options.gitignore ?? false,
    json: options.json ?? false,
    debounceMs,
    restart: options.restart ?? false,
  }
}

/** What to tell a CLI user whose watch could not start. */
function startFailure(error: unknown): string {
  if (error instanceof InotifyError && error.code === 'ENOTDIR' && error.path !== undefined) {
    const path = String(error.path)
    return (
      `'${path}' is not a directory. To see it change, watch the directory it is in ` +
      `(inotify-napi watch '${dirname(path)}'), or print the file's own events (inotify-napi '${path}')`
    )
  }
  return error instanceof Error ? error.message : String(error)
}

/** `inotify-napi watch ...`; resolves with the exit code. */
export async function watchMain(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parse>
  try {
    args = parse(argv)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    process.stderr.write(
      `inotify-napi watch: ${escapeForTerminal(error.message)}\n\nUsage: ${WATCH_SYNOPSIS}\nMore: inotify-napi watch --help\n`,
    )
    return EXIT_USAGE
  }
  if (args === 'help') {
    process.stdout.write(`${WATCH_USAGE}\n`)
    return EXIT_OK
  }

  let watcher: Watcher
  try {
    watcher = watch(args.dirs, {
      recursive: args.recursive,
      ignore: args.exclude,
      gitignore: args.gitignore,
      debounceMs: args.debounceMs,
    })
    await watcher.ready
  } catch (error) {
    process.stderr.write(`inotify-napi watch: ${escapeForTerminal(startFailure(error))}\n`)
    return EXIT_WATCH_FAILED
  }
  watcher.on('error', (error) => process.stderr.write(`inotify-napi watch: ${escapeForTerminal(error.message)}\n`))
  const runner = args.command === undefined ? undefined : new CommandRunner(args.command, { restart: args.restart })
  // A signal ends the watch and goes on to the command's process group; a second one kills the group.
  const onSignal = (signal: NodeJS.Signals): void => {
    void runner?.stop(signal)
    void watcher.close()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    // A closed pipe (`| head`) ends the watch quietly.
    if (error.code === 'EPIPE') void watcher.close()
  })
  try {
    for await (const batch of watcher) {
      process.stdout.write(batch.map((change) => `${line(change, args.json)}\n`).join(''))
      runner?.changed()
    }
  } finally {
    await watcher.close()
    await runner?.idle()
  }
  // The handlers stay until the process exits: a signal while it winds down (a user pressing Ctrl-C
  // again) is taken as one more stop, not left to kill the process with it.
  return EXIT_OK
}
