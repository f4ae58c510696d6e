import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli, startCli, tempDir, watching } from './cli-fixture'
import { until } from './helpers'

describe('the inotify-napi command', () => {
  it('prints the seed example sequence in the seed log format for touch, rm, mkdir, rmdir', async () => {
    const dir = tempDir()
    const cli = startCli([dir])
    await watching(cli.child.pid)
    spawnSync('sh', ['-c', 'touch aa && rm aa && mkdir dir1 && rmdir dir1'], { cwd: dir })
    await until(() => cli.lines.length >= 7, 'seven event lines')
    const names = cli.lines.map((line) => /MASK->NAMES=(\[.*\]) FILENAME/.exec(line)?.[1])
    expect(names).toEqual([
      "['IN_CREATE']",
      "['IN_OPEN']",
      "['IN_ATTRIB']",
      "['IN_CLOSE_WRITE']",
      "['IN_DELETE']",
      "['IN_ISDIR', 'IN_CREATE']",
      "['IN_ISDIR', 'IN_DELETE']",
    ])
    expect(cli.lines[0]).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - inotify-napi - INFO - WD=\(1\) MASK=\(256\) COOKIE=\(0\) LEN=\(16\) MASK->NAMES=\['IN_CREATE'\] FILENAME=\[aa\]$/,
    )
    expect(cli.lines[5]).toContain('MASK=(1073742080)')
    expect(cli.lines[5]).toContain('FILENAME=[dir1]')
    cli.child.kill('SIGINT')
    expect(await cli.exited).toBe(0)
  })

  it('prints JSON lines restricted to the events named with -e, and exits after --timeout', async () => {
    const dir = tempDir()
    const cli = startCli(['--json', '-e', 'IN_CREATE,IN_DELETE', '--timeout', '1', dir])
    await watching(cli.child.pid)
    writeFileSync(join(dir, 'a'), 'x')
    unlinkSync(join(dir, 'a'))
    mkdirSync(join(dir, 'd'))
    rmdirSync(join(dir, 'd'))
    expect(await cli.exited).toBe(0)
    const events = cli.lines.map((line) => JSON.parse(line) as { typeNames: string[]; filename: string; path: string })
    expect(events.map((e) => [e.typeNames, e.filename])).toEqual([
      [['IN_CREATE'], 'a'],
      [['IN_DELETE'], 'a'],
      [['IN_ISDIR', 'IN_CREATE'], 'd'],
      [['IN_ISDIR', 'IN_DELETE'], 'd'],
    ])
    expect(events[0]?.path).toBe(dir)
  })

  it('exits with 2 and prints usage for bad arguments', () => {
    for (const args of [['--bogus'], ['-e', 'IN_NOPE', '.'], ['--timeout', 'soon', '.'], ['-e', '']]) {
      const result = runCli(args)
      expect(result.status, args.join(' ')).toBe(2)
      expect(result.stderr).toContain('Usage: inotify-napi')
    }
  })

  it('exits with 1 and names the path and the reason when a path cannot be watched', () => {
    const missing = join(tempDir(), 'missing')
    const result = runCli([missing])
    expect(result.status).toBe(1)
    expect(result.stderr).toContain(missing)
    expect(result.stderr).toContain('ENOENT')
    expect(result.stdout).toBe('')
  })

  it('watches the current directory when no path is given', async () => {
    const dir = tempDir()
    const cli = startCli(['--json', '--timeout', '1'], { cwd: dir })
    await watching(cli.child.pid)
    writeFileSync(join(dir, 'here'), '')
    expect(await cli.exited).toBe(0)
    expect(cli.lines.map((line) => (JSON.parse(line) as { filename: string }).filename)).toContain('here')
  })
})

describe('inotify-napi watch', () => {
  it('prints a rename inside the tree as one line with both paths, and leaves out what --exclude names', async () => {
    const dir = tempDir()
    mkdirSync(join(dir, 'sub'))
    writeFileSync(join(dir, 'a'), '')
    const cli = startCli(['watch', '-r', '--debounce', '0', '-x', '*.log', dir])
    await watching(cli.child.pid)
    spawnSync('sh', ['-c', 'touch skip.log; mv a sub/b; touch sub/end'], { cwd: dir })
    await until(() => cli.lines.includes(`create ${dir}/sub/end`), 'the end marker')
    // touch's later IN_ATTRIB/IN_CLOSE_WRITE may come in a batch of their own: a modify after the create.
    expect(cli.lines.filter((l) => l !== `modify ${dir}/sub/end`)).toEqual([
      `rename ${dir}/a -> ${dir}/sub/b`,
      `create ${dir}/sub/end`,
    ])
    cli.child.kill('SIGINT')
    expect(await cli.exited).toBe(0)
  })

  it('watches only the entries of each PATH without -r', async () => {
    const dir = tempDir()
    mkdirSync(join(dir, 'sub'))
    const cli = startCli(['watch', '--json', '--debounce', '0', dir])
    await watching(cli.child.pid)
    spawnSync('sh', ['-c', 'touch sub/below; touch top'], { cwd: dir })
    await until(() => cli.lines.length >= 1, 'a change')
    const changes = cli.lines.map((l) => JSON.parse(l) as { type: string; path: string })
    expect(changes[0]).toEqual({ type: 'create', path: `${dir}/top`, isDir: false })
    // Nothing from below sub; touch's own later events on top may come as a modify of their own.
    expect(changes.slice(1).filter((c) => !(c.type === 'modify' && c.path === `${dir}/top`))).toEqual([])
    cli.child.kill('SIGINT')
    expect(await cli.exited).toBe(0)
  })

  it('runs the command after each settled batch, never two at once', async () => {
    const dir = tempDir()
    const log = join(tempDir(), 'runs.log')
    // Each run logs its start and end; a run takes 300 ms, during which more changes come.
    const cli = startCli([
      'watch',
      '--debounce',
      '20',
      dir,
      '--',
      'sh',
      '-c',
      `echo start >> '${log}'; sleep 0.3; echo end >> '${log}'`,
    ])
    await watching(cli.child.pid)
    spawnSync('sh', ['-c', 'touch one; sleep 0.1; touch two; sleep 0.1; touch three'], { cwd: dir })
    const read = (): string[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [])
    await until(() => read().length >= 4 && read().at(-1) === 'end', 'two runs to end', 10_000)
    const runs = read()
    // Strictly alternating start/end: no run overlapped another.
    for (const [i, entry] of runs.entries()) expect(entry).toBe(i % 2 === 0 ? 'start' : 'end')
    expect(runs.length).toBeLessThanOrEqual(6)
    cli.child.kill('SIGINT')
    expect(await cli.exited).toBe(0)
  })

  it('exits 2 with usage for bad arguments, and 1 for a missing directory', () => {
    const bad = runCli(['watch', '--debounce', 'soon', '.'])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/--debounce takes a whole number of milliseconds/)
    expect(bad.stderr).toMatch(/Usage: inotify-napi watch/)
    const none = runCli(['watch'])
    expect(none.status).toBe(2)
    const missing = runCli(['watch', '/no/such/dir/inotify-napi'])
    expect(missing.status).toBe(1)
    expect(missing.stderr).toMatch(/ENOENT.*\/no\/such\/dir\/inotify-napi/)
  })
})

describe('inotify-napi doctor', () => {
  it('prints the limits, the watches this very process holds, and the sysctl lines to raise them', async () => {
    const dir = tempDir()
    mkdirSync(join(dir, 'a'))
    mkdirSync(join(dir, 'b'))
    const cli = startCli(['watch', '-r', dir])
    await watching(cli.child.pid)
    const json = runCli(['doctor', '--json'])
    expect(json.status).toBe(0)
    const usage = JSON.parse(json.stdout) as {
      limits: { maxUserWatches: number }
      holders: { pid: number; watches: number; instances: number }[]
    }
    expect(usage.limits.maxUserWatches).toBeGreaterThan(0)
    expect(usage.holders.find((h) => h.pid === cli.child.pid)).toMatchObject({ instances: 1, watches: 3 })
    const text = runCli(['doctor'])
    expect(text.stdout).toMatch(/fs\.inotify\.max_user_watches\s+= \d+/)
    expect(text.stdout).toContain('sudo sysctl fs.inotify.max_user_watches=')
    expect(text.stdout).toMatch(new RegExp(`\\b${cli.child.pid}\\s+1\\s+3\\s+\\S*node`))
    cli.child.kill('SIGINT')
    expect(await cli.exited).toBe(0)
  })
})
