// The C programs beside inotify-napi, the physical limits: the raw reader of inotify
// (bench/c/inotify-reader.c) and the walker that watches every directory of a tree
// (bench/c/inotify-walker.c).
//
// buildC() compiles one at each run with the system C compiler (`$CC`, else `cc`, with -O2) into
// bench/.build/ (git-ignored); without a compiler, or when the compile fails, it says why and the
// program's column is left out. spawnC() starts one: it is not a Node process, so it speaks in lines
// (commands on its stdin, one JSON message a line on its stdout), which are handed to run.mjs's
// child wrapper as if they were IPC messages.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { benchDir } from './load.mjs'

export const C_READER = 'C reader'
export const C_WALKER = 'C walker'
/** Each program's source (bench/c/<name>.c) and binary (bench/.build/<name>), by column name. */
const PROGRAMS = { [C_READER]: 'inotify-reader', [C_WALKER]: 'inotify-walker' }
const buildDir = join(benchDir, '.build')

/**
 * Compiles the C program of column `name` (C_READER, C_WALKER); returns `{ binary, compiler }` (the
 * compiler's first `--version` line), or `{ skipped }`, the reason it could not be built.
 */
export function buildC(name) {
  const source = join(benchDir, 'c', `${PROGRAMS[name]}.c`)
  const binary = binaryOf(name)
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

/** Where buildC() puts the program of column `name`. */
const binaryOf = (name) => join(buildDir, PROGRAMS[name])

/**
 * Starts the C program of column `name`, built by buildC(). Its stdout lines are emitted as the child's 'message' events;
 * `send({ op })` writes the op as a line to its stdin.
 */
export function spawnC(name, argv) {
  const child = spawn(binaryOf(name), argv, { stdio: ['pipe', 'pipe', 'inherit'] })
  // A program that exited (or was killed) makes the write fail: run.mjs learns of the exit anyway.
  child.stdin.on('error', () => {})
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('{"op":')) child.emit('message', JSON.parse(line))
  })
  const send = (message) => {
    if (child.exitCode === null && child.signalCode === null) child.stdin.write(`${message.op}\n`)
  }
  return { child, send }
}
