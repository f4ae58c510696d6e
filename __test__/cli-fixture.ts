/**
 * Test fixture for the command line: the built CLI (`dist/cli.js`) run as a child process, its output
 * collected as it comes, and waits with deadlines.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams, type SpawnSyncReturns } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { afterEach } from 'vitest'
import { makeTempDir, until } from './helpers'

export const CLI = resolve(__dirname, '../dist/cli.js')

export function requireBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`)
}

/** A running CLI: stdout as raw bytes and as lines, stderr as text, and its exit. */
export interface RunningCli {
  child: ChildProcessWithoutNullStreams
  /** Complete stdout lines so far (a line ends at a newline byte). */
  lines: string[]
  /** Every stdout byte so far, undecoded. */
  stdout: () => Buffer
  stderr: () => string
  /** The exit code, or the signal's name when a signal ended it. */
  exited: Promise<number | string | null>
}

/** Starts the CLI with `args`; it is SIGKILLed after the test if still running. */
export function startCli(args: string[], options: { cwd?: string } = {}): RunningCli {
  requireBuilt()
  const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd })
  const chunks: Buffer[] = []
  const lines: string[] = []
  let partial = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    chunks.push(chunk)
    const parts = (partial + chunk.toString('utf8')).split('\n')
    partial = parts.pop() ?? ''
    lines.push(...parts)
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8')
  })
  const exited = new Promise<number | string | null>((done) => child.on('exit', (code, signal) => done(code ?? signal)))
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return { child, lines, stdout: () => Buffer.concat(chunks), stderr: () => stderr, exited }
}

/** Runs the CLI to its end (10 s at most). */
export function runCli(args: string[]): SpawnSyncReturns<string> {
  requireBuilt()
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 10_000 })
}

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup()
})

/** Runs `cleanup` after the current test. */
export function afterThisTest(cleanup: () => void): void {
  cleanups.push(cleanup)
}

/** A fresh directory, removed after the test. */
export function tempDir(): string {
  const { dir, cleanup } = makeTempDir()
  cleanups.push(cleanup)
  return dir
}

/** The number of inotify watches `pid` holds, from its /proc fdinfo. */
function watchesHeldBy(pid: number): number {
  const out = spawnSync('sh', ['-c', `cat /proc/${pid}/fdinfo/* 2>/dev/null | grep -c '^inotify wd:'`], {
    encoding: 'utf8',
  })
  return Number.parseInt(out.stdout, 10) || 0
}

/** The CLI is ready once it holds `count` inotify watches (at least one). */
export async function watching(pid: number | undefined, count = 1): Promise<void> {
  if (pid === undefined) throw new Error('the CLI did not start')
  await until(() => watchesHeldBy(pid) >= count, `the CLI to hold ${count} watch(es)`)
}

/** Whether `pid` is gone or a zombie (dead, not yet reaped). */
export function isDead(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The state follows the command name in parentheses, which may itself hold ') '.
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
  } catch {
    return true
  }
}
