/**
 * Text that reaches a terminal: names and command lines escaped so that no byte in them can end a line
 * or drive the terminal.
 * @module
 */

// The C escapes GNU `ls -b` (and a shell's $'...') use for these controls; every other one is octal.
const NAMED: Readonly<Record<string, string>> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\t': '\\t',
  '\n': '\\n',
  '\v': '\\v',
  '\f': '\\f',
  '\r': '\\r',
  '\\': '\\\\',
}

// C0 controls, DEL, C1 controls (U+0080..U+009F; some terminals take U+009B as CSI) and the backslash.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this pattern's job
const NEEDS_ESCAPE = /[\x00-\x1f\x7f-\x9f\\]/g

function escapeOne(char: string): string {
  const named = NAMED[char]
  if (named !== undefined) return named
  // Octal per UTF-8 byte, as `ls -b` prints a control it cannot name: `\033` for ESC, `\302\233` for
  // U+009B. `printf '%b'` and $'...' turn it back into the same bytes.
  return [...Buffer.from(char, 'utf8')].map((byte) => `\\${byte.toString(8).padStart(3, '0')}`).join('')
}

/**
 * `text` with every control character escaped the way `ls -b` does (`\n`, `\t`, `\a`, ESC as `\033`,
 * U+009B as `\302\233`), and the backslash doubled, so that a name printed on a line can neither end
 * that line nor send the terminal a command, and the escaped text reads back unambiguously.
 */
export function escapeForTerminal(text: string): string {
  return text.replace(NEEDS_ESCAPE, escapeOne)
}

// DEL and the C1 controls, which `JSON.stringify` leaves as they are (it escapes only U+0000..U+001F).
const RAW_IN_JSON = /[\x7f-\x9f]/g

/**
 * `value` as one line of JSON in which no character can drive a terminal: `JSON.stringify`, with DEL
 * and the C1 controls (U+009B is CSI to some terminals) written as `\u` escapes too. It parses back
 * to the same value.
 */
export function jsonForTerminal(value: unknown): string {
  return JSON.stringify(value).replace(RAW_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
