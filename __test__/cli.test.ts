import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { makeTempDir, until } from './helpers'

const CLI = resolve(__dirname, '../dist/cli.js')

function requireBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`)
}

/** A running CLI whose stdout lines are collected as they come. */
function startCli(args: string[]): { child: ChildProcessWithoutNullStreams; lines: string[]; exited: Promise<number | null> } {
  requireBuilt()
  const child = spawn(process.execPath, [CLI, ...args])
  const lines: string[] = []
  let partial = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n')
    partial = parts.pop() ?? ''
    lines.push(...parts)
  })
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)))
  return { child, lines, exited }
}

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

function tempDir(): string {
  const { dir, cleanup } = makeTempDir()
  cleanups.push(cleanup)
  return dir
}

/** The CLI is ready once it holds an inotify watch: its /proc fdinfo shows one. */
async function watching(pid: number | undefined): Promise<void> {
  await until(() => {
    try {
      const out = spawnSync('sh', ['-c', `cat /proc/${pid}/fdinfo/* 2>/dev/null | grep -c '^inotify wd:'`], { encoding: 'utf8' })
      return Number.parseInt(out.stdout, 10) > 0
    } catch {
      return false
    }
  }, 'the CLI to add its watch')
}

describe('the inotify-napi command', () => {
  it('prints the seed example sequence in the seed log format for touch, rm, mkdir, rmdir', async () => {
    const dir = tempDir()
    const cli = startCli([dir])
    cleanups.push(() => cli.child.kill('SIGKILL'))
    await watching(cli.child.pid)
    spawnSync('sh', ['-c', 'touch aa && rm aa && mkdir dir1 && rmdir dir1'], { cwd: dir })
    await until(() => cli.lines.length >= 7, 'seven event lines')
    const names = cli.lines.map((line) => /MASK->NAMES=(\[.*\]) FILENAME/.exec(line)?.[1])
    expect(names).toEqual([
      "['IN_CREATE']", "['IN_OPEN']", "['IN_ATTRIB']", "['IN_CLOSE_WRITE']", "['IN_DELETE']",
      "['IN_ISDIR', 'IN_CREATE']", "['IN_ISDIR', 'IN_DELETE']",
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
    cleanups.push(() => cli.child.kill('SIGKILL'))
    await watching(cli.child.pid)
    writeFileSync(join(dir, 'a'), 'x')
    unlinkSync(join(dir, 'a'))
    mkdirSync(join(dir, 'd'))
    rmdirSync(join(dir, 'd'))
    expect(await cli.exited).toBe(0)
    const events = cli.lines.map((line) => JSON.parse(line) as { typeNames: string[]; filename: string; path: string })
    expect(events.map((e) => [e.typeNames, e.filename])).toEqual([
      [['IN_CREATE'], 'a'], [['IN_DELETE'], 'a'], [['IN_ISDIR', 'IN_CREATE'], 'd'], [['IN_ISDIR', 'IN_DELETE'], 'd'],
    ])
    expect(events[0]?.path).toBe(dir)
  })

  it('exits with 2 and prints usage for bad arguments', () => {
    requireBuilt()
    for (const args of [['--bogus'], ['-e', 'IN_NOPE', '.'], ['--timeout', 'soon', '.'], ['-e', '']]) {
      const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 10_000 })
      expect(result.status, args.join(' ')).toBe(2)
      expect(result.stderr).toContain('Usage: inotify-napi')
    }
  })

  it('exits with 1 and names the path and the reason when a path cannot be watched', () => {
    requireBuilt()
    const missing = join(tempDir(), 'missing')
    const result = spawnSync(process.execPath, [CLI, missing], { encoding: 'utf8', timeout: 10_000 })
    expect(result.status).toBe(1)
    expect(result.stderr).toContain(missing)
    expect(result.stderr).toContain('ENOENT')
    expect(result.stdout).toBe('')
  })

  it('watches the current directory when no path is given', async () => {
    const dir = tempDir()
    requireBuilt()
    const child = spawn(process.execPath, [CLI, '--json', '--timeout', '1'], { cwd: dir })
    cleanups.push(() => child.kill('SIGKILL'))
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString('utf8') })
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)))
    await watching(child.pid)
    writeFileSync(join(dir, 'here'), '')
    expect(await exited).toBe(0)
    expect(out).toContain('"filename":"here"')
  })
})

describe('inotify-napi watch', () => {
  it('prints a rename inside the tree as one line with both paths, and leaves out what --exclude names', async () => {
    const dir = tempDir()
    mkdirSync(join(dir, 'sub'))
    writeFileSync(join(dir, 'a'), '')
    const cli = startCli(['watch', '-r', '--debounce', '0', '-x', '*.log', dir])
    cleanups.push(() => cli.child.kill('SIGKILL'))
    await watching(cli.child.pid)
    spawnSync('sh', ['-c', 'touch skip.log; mv a sub/b; touch sub/end'], { cwd: dir })
    await until(() => cli.lines.includes(`create ${dir}/sub/end`), 'the end marker')
    // touch's later IN_ATTRIB/IN_CLOSE_WRITE may come in a batch of their own: a modify after the create.
    expect(cli.lines.filter((l) => l !== `modify ${dir}/sub/end`)).toEqual([`rename ${dir}/a -> ${dir}/sub/b`, `create ${dir}/sub/end`])
    cli.child.kill('SIGINT')
    expect(await cli.exited).toBe(0)
  })

  it('watches only the entries of each PATH without -r', async () => {
    const dir = tempDir()
    mkdirSync(join(dir, 'sub'))
    const cli = startCli(['watch', '--json', '--debounce', '0', dir])
    cleanups.push(() => cli.child.kill('SIGKILL'))
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
    const cli = startCli(['watch', '--debounce', '20', dir, '--', 'sh', '-c',
      `echo start >> '${log}'; sleep 0.3; echo end >> '${log}'`])
    cleanups.push(() => cli.child.kill('SIGKILL'))
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
    requireBuilt()
    const bad = spawnSync(process.execPath, [CLI, 'watch', '--debounce', 'soon', '.'], { encoding: 'utf8' })
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/--debounce must be an integer/)
    expect(bad.stderr).toMatch(/Usage: inotify-napi watch/)
    const none = spawnSync(process.execPath, [CLI, 'watch'], { encoding: 'utf8' })
    expect(none.status).toBe(2)
    const missing = spawnSync(process.execPath, [CLI, 'watch', '/no/such/dir/inotify-napi'], { encoding: 'utf8' })
    expect(missing.status).toBe(1)
    expect(missing.stderr).toMatch(/ENOENT.*\/no\/such\/dir\/inotify-napi/)
  })
})

describe('inotify-napi doctor', () => {
  it('prints the limits, the watches this very process holds, and the sysctl lines to raise them', async () => {
    requireBuilt()
    const dir = tempDir()
    mkdirSync(join(dir, 'a'))
    mkdirSync(join(dir, 'b'))
    const cli = startCli(['watch', '-r', dir])
    cleanups.push(() => cli.child.kill('SIGKILL'))
    await watching(cli.child.pid)
    const json = spawnSync(process.execPath, [CLI, 'doctor', '--json'], { encoding: 'utf8' })
    expect(json.status).toBe(0)
    const usage = JSON.parse(json.stdout) as { limits: { maxUserWatches: number }; holders: { pid: number; watches: number; instances: number }[] }
    expect(usage.limits.maxUserWatches).toBeGreaterThan(0)
    expect(usage.holders.find((h) => h.pid === cli.child.pid)).toMatchObject({ instances: 1, watches: 3 })
    const text = spawnSync(process.execPath, [CLI, 'doctor'], { encoding: 'utf8' })
    expect(text.stdout).toMatch(/fs\.inotify\.max_user_watches\s+= \d+/)
    expect(text.stdout).toContain('sudo sysctl fs.inotify.max_user_watches=')
    expect(text.stdout).toMatch(new RegExp(`\\b${cli.child.pid}\\s+1\\s+3\\s+\\S*node`))
    cli.child.kill('SIGINT')
    expect(await cli.exited).toBe(0)
  })
})
