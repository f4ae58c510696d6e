import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { afterThisTest, isDead, startCli, tempDir, watching } from './cli-fixture'
import { until } from './helpers'
import { withinDeadline } from './inotify-fixture'

/** The pids a command wrote, one a line, to `file`. */
function pidsIn(file: string): number[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map(Number)
}

/**
 * The `sleep` the shell `pid` runs, once it runs it: a child that has not yet exec'd sleep is still a
 * copy of the shell, and dash (which catches SIGINT under -c) would take the signal in its place.
 */
async function sleepOf(pid: number): Promise<number> {
  const read = (): number | undefined => {
    try {
      for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')) {
        if (child !== '' && readFileSync(`/proc/${child}/comm`, 'utf8').trim() === 'sleep') return Number(child)
      }
    } catch {
      // Not there yet, or gone.
    }
    return undefined
  }
  return until(read, `the sleep of ${pid}`)
}

/** SIGKILLs `pid` and the process group it leads after the test, should the test fail half-way. */
function killGroupAfterTest(pid: number): void {
  afterThisTest(() => {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL')
      } catch {
        // Gone already.
      }
    }
  })
}

describe('inotify-napi watch -- COMMAND', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    "passes %s on to the command's process group and exits long before the command would end",
    async (signal) => {
      const dir = tempDir()
      const state = tempDir()
      const pids = join(state, 'pids')
      // sh waits for a sleep of its own: both are in the command's group, and only a group signal reaches both.
      const cli = startCli([
        'watch',
        '--debounce',
        '0',
        dir,
        '--',
        'sh',
        '-c',
        `echo $$ >> '${pids}'; sleep 30; echo survived > '${join(state, 'after')}'`,
      ])
      await watching(cli.child.pid)
      // mkdir is one event (IN_CREATE), so one batch and one run.
      mkdirSync(join(dir, 'go'))
      const [shell] = await until(() => (pidsIn(pids).length > 0 ? pidsIn(pids) : undefined), 'the command to start')
      killGroupAfterTest(shell as number)
      const sleep = await sleepOf(shell as number)

      cli.child.kill(signal)
      expect(await withinDeadline(cli.exited, "the watcher to exit, well before the command's 30 s", 10_000)).toBe(0)
      await until(() => isDead(shell as number) && isDead(sleep), "the command's shell and its sleep to be gone")
      expect(existsSync(join(state, 'after'))).toBe(false)
      expect(cli.stderr()).toBe('')
    },
  )

  it("kills the command's process group on a second signal when the command ignores the first", async () => {
    const dir = tempDir()
    const state = tempDir()
    const pids = join(state, 'pids')
    const cli = startCli([
      'watch',
      '--debounce',
      '0',
      dir,
      '--',
      'sh',
      '-c',
      `trap '' INT TERM; echo $$ >> '${pids}'; while :; do sleep 1; done`,
    ])
    await watching(cli.child.pid)
    mkdirSync(join(dir, 'go'))
    const [shell] = await until(() => (pidsIn(pids).length > 0 ? pidsIn(pids) : undefined), 'the command to start')
    killGroupAfterTest(shell as number)
    // As a user pressing Ctrl-C again: signals that come together may merge into one, so keep sending.
    const presses = setInterval(() => cli.child.kill('SIGINT'), 100)
    try {
      expect(await withinDeadline(cli.exited, 'the watcher to exit, before the 10 s stop timeout', 5000)).toBe(0)
    } finally {
      clearInterval(presses)
    }
    expect(isDead(shell as number)).toBe(true)
  })

  it('reports a command that exits with a non-zero status, on stderr, naming the status', async () => {
    const dir = tempDir()
    const cli = startCli(['watch', '--debounce', '0', dir, '--', 'sh', '-c', 'exit 3'])
    await watching(cli.child.pid)
    mkdirSync(join(dir, 'go'))
    await until(() => cli.stderr().includes('exited with status 3'), 'the status on stderr')
    expect(cli.stderr()).toBe("inotify-napi watch: 'sh -c exit 3' exited with status 3\n")
    expect(cli.lines).toEqual([`create ${dir}/go/`])
    cli.child.kill('SIGINT')
    expect(await withinDeadline(cli.exited, 'the watcher to exit')).toBe(0)
  })

  it("with --restart, stops the running command's process group on a change and starts it again, never two at once", async () => {
    const dir = tempDir()
    const state = tempDir()
    const pids = join(state, 'pids')
    const cli = startCli([
      'watch',
      '--debounce',
      '0',
      '--restart',
      dir,
      '--',
      'sh',
      '-c',
      `echo $$ >> '${pids}'; sleep 30`,
    ])
    await watching(cli.child.pid)
    mkdirSync(join(dir, 'one'))
    const [first] = await until(() => (pidsIn(pids).length > 0 ? pidsIn(pids) : undefined), 'the first run')
    killGroupAfterTest(first as number)
    const firstSleep = await sleepOf(first as number)

    mkdirSync(join(dir, 'two'))
    const [, second] = await until(() => (pidsIn(pids).length > 1 ? pidsIn(pids) : undefined), 'the second run')
    killGroupAfterTest(second as number)
    // The first run's shell was reaped before the second started; its sleep got the same SIGTERM.
    expect(isDead(first as number)).toBe(true)
    await until(() => isDead(firstSleep), "the first run's sleep to be gone")
    expect(pidsIn(pids)).toHaveLength(2)

    cli.child.kill('SIGTERM')
    expect(await withinDeadline(cli.exited, 'the watcher to exit', 10_000)).toBe(0)
    await until(() => isDead(second as number), 'the second run to be gone')
    // A run we stopped is not reported as a failure.
    expect(cli.stderr()).toBe('')
  })
})
