import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CLI, runCli, startCli, tempDir, watching } from './cli-fixture'
import { until } from './helpers'

// Names a hostile user can give a file: a newline followed by a whole forged line, terminal escape
// sequences (ESC ] sets the window title, ESC [ colours, BEL rings), a C1 control (U+009B, CSI on
// terminals that take 8-bit controls) and a backslash, which must be escaped too for the output to be
// unambiguous.
const FORGED =
  "x\n2026-01-01 00:00:00,000 - inotify-napi - INFO - WD=(1) MASK=(256) COOKIE=(0) LEN=(16) MASK->NAMES=['IN_CREATE'] FILENAME=[forged]"
const ESCAPES = 'e\x1b]0;title\x07\x1b[31mred\u009b1m'
const BACKSLASH = 'back\\slash'

/** What must never reach a terminal raw: ESC, BEL, and U+009B as UTF-8. */
function rawControls(stdout: Buffer): string[] {
  const found: string[] = []
  if (stdout.includes(0x1b)) found.push('ESC')
  if (stdout.includes(0x07)) found.push('BEL')
  if (stdout.includes(Buffer.from('\u009b'))) found.push('U+009B')
  return found
}

describe('the command line escapes control characters in what it prints', () => {
  it('prints one log line per event in the seed format, with newlines, escapes and backslashes in names quoted', async () => {
    const dir = tempDir()
    const cli = startCli(['-e', 'IN_CREATE', dir])
    await watching(cli.child.pid)
    for (const name of [FORGED, ESCAPES, BACKSLASH, 'end']) writeFileSync(join(dir, name), '')
    await until(() => cli.lines.some((line) => line.endsWith('FILENAME=[end]')), 'the end marker')
    cli.child.kill('SIGINT')
    expect(await cli.exited).toBe(0)
    // Four creates, four lines: the newline in the first name forged none.
    expect(cli.lines).toHaveLength(4)
    expect(rawControls(cli.stdout())).toEqual([])
    for (const line of cli.lines)
      expect(line).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - inotify-napi - INFO - WD=\(1\) /)
    expect(cli.lines.map((line) => line.slice(line.indexOf('FILENAME=')))).toEqual([
      "FILENAME=[x\\n2026-01-01 00:00:00,000 - inotify-napi - INFO - WD=(1) MASK=(256) COOKIE=(0) LEN=(16) MASK->NAMES=['IN_CREATE'] FILENAME=[forged]]",
      'FILENAME=[e\\033]0;title\\a\\033[31mred\\302\\2331m]',
      'FILENAME=[back\\\\slash]',
      'FILENAME=[end]',
    ])
  })

  it('prints one line per change from watch, with control characters in paths quoted', async () => {
    const dir = tempDir()
    const cli = startCli(['watch', '--debounce', '0', dir])
    await watching(cli.child.pid)
    for (const name of ['y\ndelete forged', ESCAPES, 'end']) writeFileSync(join(dir, name), '')
    await until(() => cli.lines.includes(`create ${dir}/end`), 'the end marker')
    cli.child.kill('SIGINT')
    expect(await cli.exited).toBe(0)
    expect(cli.lines).not.toContain('delete forged')
    expect(rawControls(cli.stdout())).toEqual([])
    // A file's own later events may come in a batch of their own, as a modify after its create.
    expect(cli.lines.filter((line) => !line.startsWith('modify '))).toEqual([
      `create ${dir}/y\\ndelete forged`,
      `create ${dir}/e\\033]0;title\\a\\033[31mred\\302\\2331m`,
      `create ${dir}/end`,
    ])
  })

  it('prints JSON lines with no raw control character, from the event log and from watch, that parse back to the names', async () => {
    for (const args of [
      ['--json', '-e', 'IN_CREATE'],
      ['watch', '--json', '--debounce', '0'],
    ]) {
      const dir = tempDir()
      const cli = startCli([...args, dir])
      await watching(cli.child.pid)
      for (const name of [ESCAPES, 'del\x7f', 'end']) writeFileSync(join(dir, name), '')
      await until(() => cli.lines.some((line) => line.includes('end"')), 'the end marker')
      cli.child.kill('SIGINT')
      expect(await cli.exited).toBe(0)
      // JSON.stringify escapes C0 controls; DEL and C1 (U+009B is CSI) are escaped too.
      expect(rawControls(cli.stdout())).toEqual([])
      expect(cli.stdout().includes(0x7f)).toBe(false)
      const named = cli.lines.map((line) => JSON.parse(line) as { filename?: string; path?: string })
      const names = named.map((e) => e.filename ?? (e.path ?? '').slice(dir.length + 1))
      expect(names).toContain(ESCAPES)
      expect(names).toContain('del\x7f')
    }
  })

  it('lists a process whose command line holds control characters in doctor with them quoted', async () => {
    const dir = tempDir()
    // The holder's command line ends with this directory's name, given relative to keep the line short.
    const name = 'd\x1b]0;p\x07\nfake'
    mkdirSync(join(dir, name))
    const holder = startCli(['watch', name], { cwd: dir })
    await watching(holder.child.pid)
    const doctor = runCli(['doctor'])
    expect(doctor.status).toBe(0)
    const stdout = Buffer.from(doctor.stdout, 'utf8')
    expect(rawControls(stdout)).toEqual([])
    const lines = doctor.stdout.split('\n')
    const row = lines.find((line) => new RegExp(`^\\s*${holder.child.pid}\\s`).test(line))
    expect(row).toMatch(/ watch d\\033\]0;p\\a\\nfake$/)
    expect(lines.filter((line) => line.startsWith('fake'))).toEqual([])
    // The JSON report keeps the command line as it is: JSON escapes it.
    const json = JSON.parse(runCli(['doctor', '--json']).stdout) as { holders: { pid: number; command: string }[] }
    expect(json.holders.find((h) => h.pid === holder.child.pid)?.command).toBe(
      [process.execPath, CLI, 'watch', name].join(' '),
    )
    holder.child.kill('SIGINT')
    expect(await holder.exited).toBe(0)
  })
})
