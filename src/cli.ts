#!/usr/bin/env node
/**
 * The `inotify-napi` command: watches paths and prints every event, in the log format of the Python
 * package's example (`_main`), or as JSON lines.
 * @module
 */
import { parseArgs } from 'node:util'
import { watchMain } from './cli-watch'
import { formatUsage, inotifyUsage } from './doctor'
import { Inotify } from './inotify'
import { IN_ALL_EVENTS, namesToMask, type MaskName } from './constants'
import { InotifyError } from './errors'
import type { InotifyEvent } from './event'
import { escapeForTerminal } from './terminal-text'

const USAGE = `Usage: inotify-napi [options] [path ...]
       inotify-napi watch [-r] [--exclude GLOB]... [--json] PATH... [-- COMMAND...]   (see watch --help)
       inotify-napi doctor [--json]   the inotify limits, who holds watches, how to raise the limits

Watches each path (default: the current directory) and prints one line per event, as the Python
inotify package's example does:
  2015-04-24 05:02:06,667 - inotify-napi - INFO - WD=(1) MASK=(256) COOKIE=(0) LEN=(16) MASK->NAMES=['IN_CREATE'] FILENAME=[aa]

Options:
  -e, --event NAME   watch only this event (repeatable, or comma-separated), e.g. -e IN_CREATE,IN_DELETE
      --json         print one JSON object per line instead
      --timeout S    exit after S seconds without an event
  -h, --help         show this help
  -v, --version      show the version

Exit status: 0 on Ctrl-C, --timeout or end; 1 when a path cannot be watched; 2 for bad arguments.`

/** Exit codes. */
const EXIT_OK = 0
const EXIT_WATCH_FAILED = 1
const EXIT_USAGE = 2

interface CliOptions {
  paths: string[]
  mask: number
  json: boolean
  timeoutS: number | undefined
}

class UsageError extends Error {}

function parse(argv: string[]): CliOptions | 'help' | 'version' {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        event: { type: 'string', short: 'e', multiple: true },
        json: { type: 'boolean' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help) return 'help'
  if (values.version) return 'version'
  let mask: number = IN_ALL_EVENTS
  if (values.event !== undefined) {
    const names = values.event.flatMap((v) => v.split(',')).map((n) => n.trim()).filter((n) => n !== '')
    const full = names.map((n) => (n.startsWith('IN_') ? n : `IN_${n.toUpperCase()}`)) as MaskName[]
    try {
      mask = namesToMask(full)
    } catch (error) {
      throw new UsageError((error as Error).message)
    }
    if (mask === 0) throw new UsageError('--event needs at least one event name')
  }
  let timeoutS: number | undefined
  if (values.timeout !== undefined) {
    timeoutS = Number(values.timeout)
    if (!Number.isFinite(timeoutS) || timeoutS < 0) {
      throw new UsageError(`--timeout must be a number of seconds >= 0, got '${values.timeout}'`)
    }
  }
  return { paths: positionals.length > 0 ? positionals : ['.'], mask, json: values.json ?? false, timeoutS }
}

/** The Python logging module's default time format: `2015-04-24 05:02:06,667`, local time. */
function logTime(date: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0')
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ` +
    `${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())},${p(date.getMilliseconds(), 3)}`
}

/** One event as the seed example's log line, its name escaped for the terminal. */
export function formatLogLine(event: InotifyEvent, date: Date): string {
  const { wd, mask, cookie, len } = event.header
  const names = `[${event.typeNames.map((n) => `'${n}'`).join(', ')}]`
  return `${logTime(date)} - inotify-napi - INFO - WD=(${wd}) MASK=(${mask}) COOKIE=(${cookie}) ` +
    `LEN=(${len}) MASK->NAMES=${names} FILENAME=[${escapeForTerminal(event.filename)}]`
}

/** One event as a JSON line. */
export function formatJsonLine(event: InotifyEvent, date: Date): string {
  return JSON.stringify({
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

function doctorMain(argv: string[]): number {
  const json = argv.includes('--json')
  const unknown = argv.filter((a) => a !== '--json')
  if (unknown.length > 0) {
    process.stderr.write(`inotify-napi doctor: unknown argument '${unknown[0]}'\n\n${USAGE}\n`)
    return EXIT_USAGE
  }
  const usage = inotifyUsage()
  process.stdout.write(json ? `${JSON.stringify(usage)}\n` : `${formatUsage(usage)}\n`)
  return EXIT_OK
}

async function main(argv: string[]): Promise<number> {
  // A path named like a subcommand is given as ./watch or ./doctor.
  if (argv[0] === 'watch') return watchMain(argv.slice(1))
  if (argv[0] === 'doctor') return doctorMain(argv.slice(1))
  let options: ReturnType<typeof parse>
  try {
    options = parse(argv)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    process.stderr.write(`inotify-napi: ${error.message}\n\n${USAGE}\n`)
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
      inotify.close()
      const reason = error instanceof InotifyError ? error.message : String(error)
      process.stderr.write(`inotify-napi: cannot watch '${path}': ${reason}\n`)
      return EXIT_WATCH_FAILED
    }
  }
  const stop = (): void => inotify.close()
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
    inotify.close()
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
  return EXIT_OK
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code },
    (error: unknown) => {
      process.stderr.write(`inotify-napi: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
      process.exitCode = EXIT_WATCH_FAILED
    },
  )
}
