// The raw C reader of inotify (bench/c/inotify-reader.c): the physical limit, beside inotify-napi.
//
// buildCReader() compiles it at each run with the system C compiler (`$CC`, else `cc`, with -O2) into
// bench/.build/ (git-ignored); without a compiler, or when the compile fails, it says why and the
// C reader's column is left out. spawnCReader() starts it: it is not a Node process, so it speaks
// in lines (commands on its stdin, one JSON message a line on its stdout), which are handed to
// run.mjs's child wrapper as if they were IPC messages.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { benchDir } from './load.mjs'

export const C_READER = 'C reader'
const source = join(benchDir, 'c', 'inotify-reader.c')
const buildDir = join(benchDir, '.build')
const binary = join(buildDir, 'inotify-reader')

/**
 * Compiles the C reader; returns `{ binary, compiler }` (the compiler's first `--version` line), or
 * `{ skipped }`, the reason it could not be built.
 */
export function buildCReader() {
  const cc = process.env.CC || 'cc'
  let compiler
  try {
    compiler = execFileSync(cc, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')[0]
      .trim()
  } catch (error) {
    return { skipped: `no C compiler (${cc}: ${error.code ?? error.message})` }
  }
  try {
    mkdirSync(buildDir, { recursive: true })
    execFileSync(cc, ['-O2', '-Wall', '-o', binary, source], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (error) {
    return {
      skipped: `${cc} -O2 ${source} failed: ${
        String(error.stderr || error.message)
          .trim()
          .split('\n')[0]
      }`,
      compiler,
    }
  }
  return { binary, compiler }
}

/**
 * Starts the C reader (`argv`: MODE DIR MASK [EXPECT] [PREFIX]). Its stdout lines are emitted as the
 * child's 'message' events; `send({ op })` writes the op as a line to its stdin.
 */
export function spawnCReader(argv) {
  const child = spawn(binary, argv, { stdio: ['pipe', 'pipe', 'inherit'] })
  // A reader that exited (or was killed) makes the write fail: run.mjs learns of the exit anyway.
  child.stdin.on('error', () => {})
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('{"op":')) child.emit('message', JSON.parse(line))
  })
  const send = (message) => {
    if (child.exitCode === null && child.signalCode === null) child.stdin.write(`${message.op}\n`)
  }
  return { child, send }
}
