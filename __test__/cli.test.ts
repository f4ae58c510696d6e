import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync, mkdirSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs'
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
