#!/usr/bin/env node
/**
 * The `inotify-napi` command: watches paths and prints every event, in the log format of the Python
 * package's example (`_main`), or as JSON lines.
 * @module
 */
import { DOCTOR_SYNOPSIS, doctorMain } from './cli-doctor'
import { EXIT_OK, EXIT_USAGE, EXIT_WATCH_FAILED, parseArguments, UsageError, type OptionSpecs } from './cli-args'
import { WATCH_SYNOPSIS, watchMain } from './cli-watch'
import { Inotify } from './inotify'
import { EVENT_NAMES, IN_ALL_EVENTS, IN_IGNORED, IN_ISDIR, IN_Q_OVERFLOW, IN_UNMOUNT, constants } from './constants'
import { InotifyError } from './errors'
import type { InotifyEvent } from './event'
import { escapeForTerminal, jsonForTerminal } from './terminal-text'

const OPTIONS = {
  event: { short: 'e', value: 'NAME' },
  json: {},
  timeout: { value: 'S' },
  help: { short: 'h' },
  version: { short: 'v' },
} as const satisfies OptionSpecs

const SYNOPSIS = `Usage: inotify-napi [-e NAME]... [--json] [--timeout S] [PATH...]
       ${WATCH_SYNOPSIS}
       ${DOCTOR_SYNOPSIS}`

const USAGE = `${SYNOPSIS}

Watches each PATH (a file or a directory; default: the current directory) and prints one line per
event, as the Python inotify package's example does:
  2015-04-24 05:02:06,667 - inotify-napi - INFO - WD=(1) MASK=(256) COOKIE=(0) LEN=(16) MASK->NAMES=['IN_CREATE'] FILENAME=[aa]
Control characters in names are escaped as ls -b does (\\n, \\033, and \\\\ for a backslash).

Options:
  -e, --event NAME   watch only this event (repeatable, or comma-separated; any case, IN_ optional),
                     e.g. -e create,delete or -e IN_CLOSE_WRITE
      --json         print one JSON object per line instead
      --timeout S    exit after S seconds without an event
  -h, --help         show this help
  -v, --version      show the version

Commands:
  watch    print what changes under directories; run a command on changes (watch --help)
  doctor   the inotify limits, who holds watches, how to raise the limits (doctor --help)
A path named like a command is given as ./watch or ./doctor.

Exit status: 0 on Ctrl-C, SIGTERM, --timeout or end; 1 when a path cannot be watched; 2 for bad arguments.`

interface CliOptions {
  paths: string[]
  mask: number
  json: boolean
  timeoutS: number | undefined
}

// What -e takes: the events a watch can ask for, and the kernel's combinations of them.
const WATCHABLE = new Map<string, number>([
  ...EVENT_NAMES.filter((name) => (constants[name] & IN_ALL_EVENTS) !== 0).map(
    (name) => [name, constants[name]] as const,
  ),
  ['IN_CLOSE', constants.IN_CLOSE],
  ['IN_MOVE', constants.IN_MOVE],
  ['IN_ALL_EVENTS', IN_ALL_EVENTS],
])
const REPORTED_ONLY = IN_ISDIR | IN_UNMOUNT | IN_Q_OVERFLOW | IN_IGNORED

/** The mask the -e values name: any case, with or without IN_, comma-separated or repeated. */
function eventMask(values: readonly string[]): number {
  let mask = 0
  for (const typed of values.flatMap((value) => value.split(','))) {
    const trimmed = typed.trim()
    if (trimmed === '') continue
    const upper = trimmed.toUpperCase()
    const name = upper.startsWith('IN_') ? upper : `IN_${upper}`
    const bits = WATCHABLE.get(name)
    if (bits !== undefined) {
      mask |= bits
      continue
    }
    const known = (EVENT_NAMES as readonly string[]).includes(name)
      ? constants[name as keyof typeof constants]
      : undefined
    if (known !== undefined && (known & REPORTED_ONLY) !== 0) {
      throw new UsageError(
        `-e '${typed}': ${name} cannot be watched for, the kernel adds it on its own ` +
          '(IN_ISDIR to events on directories; IN_UNMOUNT, IN_Q_OVERFLOW and IN_IGNORED always show)',
      )
    }
    if (known !== undefined) {
      throw new UsageError(
        `-e '${typed}': ${name} is a watch flag, not an event; -e names events, e.g. -e create,delete`,
      )
    }
    throw new UsageError(
      `-e '${typed}' is not an inotify event; events: ${[...WATCHABLE.keys()].join(', ')} ` +
        '(any case, IN_ optional)',
    )
  }
  if (mask === 0) throw new UsageError('-e needs at least one event name, e.g. -e create')
  return mask
}

// Seconds as people type them: 2, 0.5, .5; not 1e3, 0x10 or the empty string Number() also takes.
const SECONDS = /^(\d+(\.\d*)?|\.\d+)$/

function parse(argv: string[]): CliOptions | 'help' | 'version' {
  const { options, positionals, afterDashes } = parseArguments(argv, OPTIONS)
  if (options.help) return 'help'
  if (options.version) return 'version'
  const mask = options.event === undefined ? IN_ALL_EVENTS : eventMask(options.event)
  let timeoutS: number | undefined
  const timeout = options.timeout?.at(-1)
  if (timeout !== undefined) {
    if (!SECONDS.test(timeout))
      throw new UsageError(`--timeout takes a number of seconds, 0 or more (such as 2.5), got '${timeout}'`)
    timeoutS = Number(timeout)
  }
  const paths = [...positionals, ...(afterDashes ?? [])]
  return { paths: paths.length > 0 ? paths : ['.'], mask, json: options.json ?? false, timeoutS }
}

/** The Python logging module's default time format: `2015-04-24 05:02:06,667`, local time. */
function logTime(date: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0')
  return (
    `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ` +
    `${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())},${p(date.getMilliseconds(), 3)}`
  )
}

/** One event as the seed example's log line, its name escaped for the terminal. */
export function formatLogLine(event: InotifyEvent, date: Date): string {
  const { wd, mask, cookie, len } = event.header
  const names = `[${event.typeNames.map((n) => `'${n}'`).join(', ')}]`
  return (
    `${logTime(date)} - inotify-napi - INFO - WD=(${wd}) MASK=(${mask}) COOKIE=(${cookie}) ` +
    `LEN=(${len}) MASK->NAMES=${names} FILENAME=[${escapeForTerminal(event.filename)}]`
  )
}

/** One event as a JSON line. */
export function formatJsonLine(event: InotifyEvent, date: Date): string {
  return jsonForTerminal({
    time: date.toISOString(),
    wd: event.header.wd,
    mask: event.header.mask,
    cookie: event.header.cookie,
    len: event.header.len,
    typeNames: event.typeNames,
    path: event.path,
    filename: event.filename,
  })
}

async function main(argv: string[]): Promise<number> {
  // A path named like a command is given as ./watch or ./doctor.
  if (argv[0] === 'watch') return watchMain(argv.slice(1))
  if (argv[0] === 'doctor') return doctorMain(argv.slice(1))
  let options: ReturnType<typeof parse>
  try {
    options = parse(argv)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    process.stderr.write(
      `inotify-napi: ${escapeForTerminal(error.message)}\n\n${SYNOPSIS}\nMore: inotify-napi --help\n`,
    )
    return EXIT_USAGE
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return EXIT_OK
  }
  if (options === 'version') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    process.stdout.write(`${(require('../package.json') as { version: string }).version}\n`)
    return EXIT_OK
  }

  const inotify = new Inotify({ blockDurationS: null })
  for (const path of options.paths) {
    try {
      inotify.addWatch(path, options.mask)
    } catch (error) {
      void inotify.close()
      const reason = error instanceof InotifyError ? error.message : String(error)
      process.stderr.write(`inotify-napi: cannot watch '${escapeForTerminal(path)}': ${escapeForTerminal(reason)}\n`)
      return EXIT_WATCH_FAILED
    }
  }
  const stop = (): void => void inotify.close()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    // A closed pipe (`| head`) ends the watch quietly.
    if (error.code === 'EPIPE') stop()
  })
  const format = options.json ? formatJsonLine : formatLogLine
  try {
    // Overflow and unmount are printed like any event: a command-line watcher reports, it does not die.
    for await (const event of inotify.eventGen({ yieldNones: false, timeoutS: options.timeoutS, terminalEvents: [] })) {
      process.stdout.write(`${format(event, new Date())}\n`)
    }
  } finally {
    void inotify.close()
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
  return EXIT_OK
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (error: unknown) => {
      process.stderr.write(`inotify-napi: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
      process.exitCode = EXIT_WATCH_FAILED
    },
  )
}
