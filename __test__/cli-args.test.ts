import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli, startCli, tempDir, watching } from './cli-fixture'
import { until } from './helpers'

/** What node:util's parseArgs says in its own words; the CLI must never pass it on. */
const PARSE_ARGS_TEXT = /ambiguous|Did you forget|To specify a positional|place it at the end/

describe("the command line's arguments", () => {
  it('accepts event names in any case, with or without IN_', async () => {
    const dir = tempDir()
    const cli = startCli(['--json', '-e', 'in_create,Delete', '-e', 'IN_MOVED_TO', dir])
    await watching(cli.child.pid)
    writeFileSync(join(dir, 'a'), 'x')
    renameSync(join(dir, 'a'), join(dir, 'b'))
    unlinkSync(join(dir, 'b'))
    mkdirSync(join(dir, 'end'))
    await until(() => cli.lines.some((line) => line.includes('"filename":"end"')), 'the end marker')
    cli.child.kill('SIGINT')
    expect(await cli.exited).toBe(0)
    const events = cli.lines.map((line) => JSON.parse(line) as { typeNames: string[]; filename: string })
    expect(events.map((e) => [e.typeNames, e.filename])).toEqual([
      [['IN_CREATE'], 'a'],
      [['IN_MOVED_TO'], 'b'],
      [['IN_DELETE'], 'b'],
      [['IN_ISDIR', 'IN_CREATE'], 'end'],
    ])
  })

  it('takes a path that starts with a dash after --', async () => {
    const dir = tempDir()
    mkdirSync(join(dir, '-d'))
    const cli = startCli(['--json', '--', '-d'], { cwd: dir })
    await watching(cli.child.pid)
    writeFileSync(join(dir, '-d', 'inside'), '')
    await until(() => cli.lines.length > 0, 'an event')
    cli.child.kill('SIGINT')
    expect(await cli.exited).toBe(0)
    expect(JSON.parse(cli.lines[0] as string)).toMatchObject({
      path: '-d',
      filename: 'inside',
      typeNames: ['IN_CREATE'],
    })
  })

  it('names exactly what was typed when an event name is unknown', () => {
    for (const typed of ['in_crate', 'Crate', 'IN_NOPE']) {
      const result = runCli(['-e', `create,${typed}`, '.'])
      expect(result.status, typed).toBe(2)
      expect(result.stderr.split('\n')[0]).toMatch(
        new RegExp(`^inotify-napi: -e '${typed}' is not an inotify event; events: IN_ACCESS, `),
      )
      expect(result.stderr).not.toContain('IN_IN_')
      expect(result.stderr).toContain('\nUsage: inotify-napi ')
    }
  })

  it('exits 2 with a usage line, not 1 with a RangeError, for a watch flag or a reported-only bit given to -e', () => {
    for (const [typed, why] of [
      ['IN_ONLYDIR', 'IN_ONLYDIR is a watch flag, not an event'],
      ['oneshot', 'IN_ONESHOT is a watch flag, not an event'],
      ['IN_ISDIR', 'IN_ISDIR cannot be watched for'],
      ['q_overflow', 'IN_Q_OVERFLOW cannot be watched for'],
    ] as const) {
      const result = runCli(['-e', typed, '.'])
      expect(result.status, typed).toBe(2)
      expect(result.stderr.split('\n')[0]).toBe(
        `inotify-napi: -e '${typed}': ${why}${why.endsWith('event') ? '; -e names events, e.g. -e create,delete' : ', the kernel adds it on its own (IN_ISDIR to events on directories; IN_UNMOUNT, IN_Q_OVERFLOW and IN_IGNORED always show)'}`,
      )
      expect(result.stderr).not.toMatch(/RangeError|"mask"/)
      expect(result.stderr).toContain('\nUsage: inotify-napi ')
      expect(result.stdout).toBe('')
    }
  })

  it.each([
    [
      'inotify-napi',
      [
        [
          ['--timeout', '-1', '.'],
          "inotify-napi: --timeout takes a number of seconds, 0 or more (such as 2.5), got '-1'",
        ],
        [['--timeout', '', '.'], "inotify-napi: --timeout takes a number of seconds, 0 or more (such as 2.5), got ''"],
        [['--timeout'], 'inotify-napi: --timeout needs a value: --timeout S'],
        [['--bogus'], "inotify-napi: unknown option '--bogus'"],
        [['--bogus=1', '.'], "inotify-napi: unknown option '--bogus'"],
        [['-jz', '.'], "inotify-napi: unknown option '-j' (in '-jz')"],
        [['--json=yes', '.'], "inotify-napi: --json takes no value, got '--json=yes'"],
        [['-e', ''], 'inotify-napi: -e needs at least one event name, e.g. -e create'],
      ],
    ],
    [
      'inotify-napi watch',
      [
        [['watch', '--bogus', '.'], "inotify-napi watch: unknown option '--bogus'"],
        [
          ['watch', '--debounce', '-5', '.'],
          "inotify-napi watch: --debounce takes a whole number of milliseconds from 0 to 2147483647, got '-5'",
        ],
        [
          ['watch', '--debounce', '2147483648', '.'],
          "inotify-napi watch: --debounce takes a whole number of milliseconds from 0 to 2147483647, got '2147483648'",
        ],
        [['watch', '--restart', '.'], 'inotify-napi watch: --restart needs a command: -- COMMAND...'],
        [['watch', '.', '--'], 'inotify-napi watch: a command must follow --'],
        [['watch'], 'inotify-napi watch: name at least one directory to watch'],
      ],
    ],
    [
      'inotify-napi doctor',
      [
        [['doctor', '--bogus'], "inotify-napi doctor: unknown option '--bogus'"],
        [['doctor', 'extra'], "inotify-napi doctor: doctor takes no arguments, got 'extra'"],
      ],
    ],
  ] as [string, [string[], string][]][])(
    'says what is wrong in its own words, with status 2 and the usage of %s',
    (usage, cases) => {
      for (const [args, message] of cases) {
        const result = runCli(args)
        expect(result.status, args.join(' ')).toBe(2)
        expect(result.stderr.split('\n')[0], args.join(' ')).toBe(message)
        expect(result.stderr, args.join(' ')).toContain(`\nUsage: ${usage} [`)
        expect(result.stderr).not.toMatch(PARSE_ARGS_TEXT)
        expect(result.stdout).toBe('')
      }
    },
  )

  it('prints the usage of doctor and watch for their --help and -h, and exits 0', () => {
    for (const [args, usage] of [
      [['doctor', '--help'], 'Usage: inotify-napi doctor [--json]\n'],
      [['doctor', '-h'], 'Usage: inotify-napi doctor [--json]\n'],
      [['watch', '--help'], 'Usage: inotify-napi watch [-r]'],
      [['watch', '-h'], 'Usage: inotify-napi watch [-r]'],
      [['--help'], 'Usage: inotify-napi [-e NAME]'],
    ] as const) {
      const result = runCli([...args])
      expect(result.status, args.join(' ')).toBe(0)
      expect(result.stdout.startsWith(usage), args.join(' ')).toBe(true)
      expect(result.stderr).toBe('')
    }
  })
})

describe('the command line and its documentation', () => {
  const readme = readFileSync(resolve(__dirname, '../README.md'), 'utf8')

  it("lists every option of watch in the help's watch line, and the README shows the help's lines", () => {
    const help = runCli(['--help']).stdout.split('\n')
    const synopsis = help.slice(0, 3).map((line) => line.replace(/^(Usage:)?\s+/, ''))
    const watchLine = synopsis[1] as string
    expect(watchLine).toMatch(/^inotify-napi watch /)
    const options = runCli(['watch', '--help'])
      .stdout.split('\n')
      .map((line) => /^ {2}(?:(-\w), )?\s*(--[\w-]+)/.exec(line))
      .filter((match) => match !== null && match[2] !== '--help')
    expect(options.map((match) => match?.[2])).toEqual([
      '--recursive',
      '--exclude',
      '--gitignore',
      '--json',
      '--debounce',
      '--restart',
    ])
    for (const match of options) {
      const [, short, long] = match as RegExpExecArray
      expect(
        [`[${short}`, `[${long}`].some((form) => watchLine.includes(form)),
        long,
      ).toBe(true)
    }
    const section = readme.slice(readme.indexOf('## The command line'))
    const block = /```\n([\s\S]*?)```/.exec(section)?.[1]
    expect(block?.trim().split('\n')).toEqual(synopsis)
  })

  it('names the same sysctl file in doctor and in the README', () => {
    const files = (text: string): string[] => [...new Set(text.match(/\/etc\/sysctl\.d\/[\w.-]+/g))]
    const doctor = runCli(['doctor'])
    expect(files(doctor.stdout)).toEqual(['/etc/sysctl.d/60-inotify.conf'])
    expect(files(readme)).toEqual(['/etc/sysctl.d/60-inotify.conf'])
  })

  it('tells a CLI user who gives watch a file what to run instead', () => {
    const dir = tempDir()
    const file = join(dir, 'notes.txt')
    writeFileSync(file, '')
    const result = runCli(['watch', file])
    expect(result.status).toBe(1)
    expect(result.stderr).toBe(
      `inotify-napi watch: '${file}' is not a directory. To see it change, watch the directory it is in ` +
        `(inotify-napi watch '${dir}'), or print the file's own events (inotify-napi '${file}')\n`,
    )
  })

  it('prints what a scan found like any other change, and marks it synthetic only in --json', async () => {
    const dir = tempDir()
    const outside = tempDir()
    mkdirSync(join(outside, 'x', 'y'), { recursive: true })
    const text = startCli(['watch', '-r', '--debounce', '0', dir])
    const json = startCli(['watch', '-r', '--json', '--debounce', '0', dir])
    await watching(text.child.pid)
    await watching(json.child.pid)
    // Moved in from outside: the watch sees x arrive, and a scan of x finds y.
    renameSync(join(outside, 'x'), join(dir, 'x'))
    await until(() => text.lines.includes(`create ${dir}/x/y/`) && json.lines.length >= 2, 'both to report x/y')
    expect(text.lines).toEqual([`create ${dir}/x/`, `create ${dir}/x/y/`])
    expect(json.lines.map((line) => JSON.parse(line) as unknown)).toEqual([
      { type: 'create', path: `${dir}/x`, isDir: true },
      { type: 'create', path: `${dir}/x/y`, isDir: true, synthetic: true },
    ])
    for (const cli of [text, json]) {
      cli.child.kill('SIGINT')
      expect(await cli.exited).toBe(0)
    }
  })
})
