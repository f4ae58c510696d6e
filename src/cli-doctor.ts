/**
 * `inotify-napi doctor`: prints the report of {@link inotifyUsage} as text or JSON.
 * @module
 */
import { EXIT_OK, EXIT_USAGE, parseArguments, UsageError, type OptionSpecs } from './cli-args'
import { formatUsage, inotifyUsage } from './doctor'
import { escapeForTerminal } from './terminal-text'

const OPTIONS = {
  json: {},
  help: { short: 'h' },
} as const satisfies OptionSpecs

/** The `doctor` line of the usage. */
export const DOCTOR_SYNOPSIS = 'inotify-napi doctor [--json]'

const DOCTOR_USAGE = `Usage: ${DOCTOR_SYNOPSIS}

Prints the inotify limits in force, the instances and watches each process of this user holds (read
from /proc/*/fdinfo), and the sysctl lines that raise the limits.

Options:
      --json   print the report as one JSON object
  -h, --help   show this help`

/** `inotify-napi doctor ...`; returns the exit code. */
export function doctorMain(argv: string[]): number {
  let parsed
  try {
    parsed = parseArguments(argv, OPTIONS)
    const extra = parsed.positionals[0] ?? parsed.afterDashes?.[0]
    if (extra !== undefined) throw new UsageError(`doctor takes no arguments, got '${extra}'`)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    process.stderr.write(
      `inotify-napi doctor: ${escapeForTerminal(error.message)}\n\nUsage: ${DOCTOR_SYNOPSIS}\nMore: inotify-napi doctor --help\n`,
    )
    return EXIT_USAGE
  }
  if (parsed.options.help) {
    process.stdout.write(`${DOCTOR_USAGE}\n`)
    return EXIT_OK
  }
  const usage = inotifyUsage()
  process.stdout.write(parsed.options.json ? `${JSON.stringify(usage)}\n` : `${formatUsage(usage)}\n`)
  return EXIT_OK
}
