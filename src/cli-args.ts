/**
 * The command line's argument parser: GNU-style options (`--name VALUE`, `--name=VALUE`, `-n VALUE`,
 * `-nVALUE`, grouped flags `-rh`), positionals anywhere, `--` ending the options. Every mistake is a
 * {@link UsageError} in our own words.
 * @module
 */

/** Exit status: success (also Ctrl-C, a timeout, the end of the input). */
export const EXIT_OK = 0
/** Exit status: a path could not be watched. */
export const EXIT_WATCH_FAILED = 1
/** Exit status: bad arguments (the usage is printed). */
export const EXIT_USAGE = 2

/** A mistake in the arguments: printed with the usage, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** One option: a flag, or (with `value`) an option that takes a value. */
export interface OptionSpec {
  /** The one-letter form, without the dash. */
  readonly short?: string
  /** The value's placeholder in messages (`S` in `--timeout S`); absent for a flag. */
  readonly value?: string
}

/** The options of one command, by long name (without the dashes). */
export type OptionSpecs = Readonly<Record<string, OptionSpec>>

/** Each option given: every value, in order, for an option with a value; `true` for a flag. */
export type ParsedOptions<S extends OptionSpecs> = {
  -readonly [K in keyof S]?: S[K] extends { readonly value: string } ? string[] : true
}

/** What {@link parseArguments} found. */
export interface ParsedArguments<S extends OptionSpecs> {
  readonly options: ParsedOptions<S>
  readonly positionals: string[]
  /** The arguments after `--`, or undefined when there is no `--`. */
  readonly afterDashes: string[] | undefined
}

/**
 * Parses `argv` against `specs`. A value is taken as given, even when it starts with a dash
 * (`--timeout -1` is the value -1, which the caller then rejects with its own message).
 *
 * @throws UsageError naming the unknown option, the missing value or the unwanted one.
 */
export function parseArguments<S extends OptionSpecs>(argv: readonly string[], specs: S): ParsedArguments<S> {
  const options: Record<string, string[] | true> = {}
  const positionals: string[] = []
  const byShort = new Map<string, string>()
  for (const [name, spec] of Object.entries(specs)) if (spec.short !== undefined) byShort.set(spec.short, name)

  const set = (name: string, value: string | undefined): void => {
    const values = options[name]
    if (value === undefined) options[name] = true
    else if (Array.isArray(values)) values.push(value)
    else options[name] = [value]
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') return { options: options as ParsedOptions<S>, positionals, afterDashes: argv.slice(i + 1) }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      const name = arg.slice(2, eq === -1 ? undefined : eq)
      const spec = Object.hasOwn(specs, name) ? specs[name] : undefined
      if (spec === undefined) throw new UsageError(`unknown option '${eq === -1 ? arg : arg.slice(0, eq)}'`)
      if (spec.value === undefined) {
        if (eq !== -1) throw new UsageError(`--${name} takes no value, got '${arg}'`)
        set(name, undefined)
      } else if (eq !== -1) {
        set(name, arg.slice(eq + 1))
      } else {
        if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value: --${name} ${spec.value}`)
        set(name, argv[++i])
      }
    } else if (arg.startsWith('-') && arg !== '-') {
      // -rh (grouped flags), -e NAME, -eNAME.
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j] as string
        const name = byShort.get(letter)
        if (name === undefined)
          throw new UsageError(`unknown option '-${letter}'${arg.length > 2 ? ` (in '${arg}')` : ''}`)
        const spec = specs[name] as OptionSpec
        if (spec.value === undefined) {
          set(name, undefined)
          continue
        }
        if (j + 1 < arg.length) set(name, arg.slice(j + 1))
        else if (i + 1 < argv.length) set(name, argv[++i])
        else throw new UsageError(`-${letter} needs a value: -${letter} ${spec.value}`)
        break
      }
    } else {
      positionals.push(arg)
    }
  }
  return { options: options as ParsedOptions<S>, positionals, afterDashes: undefined }
}
