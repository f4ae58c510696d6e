// The temporary directories the scenarios watch: fresh `mkdtemp` directories under one base, named
// after the driver's pid (`inotify-napi-bench-<pid>-<tag>-XXXXXX`), so that those of a run that was
// killed outright (SIGKILL: no handler runs) are recognised and removed by the next run.
import { accessSync, constants, mkdtempSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'

const liveDirs = new Set()
let base = null

/**
 * Where the watched directories go by default: tmpfs (/dev/shm) when there is one, so that the writer
 * is limited by the kernel rather than by a disk filesystem's inode allocator (on an aged ext4, a
 * create can take 0.5 ms, which turns a "burst" into a trickle); `--base DIR` chooses another place.
 */
export function defaultBase() {
  try {
    accessSync('/dev/shm', constants.W_OK)
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm'
  } catch {}
  return os.tmpdir()
}

/** Sets the base directory and removes what runs that were killed left in it. */
export function useBase(dir) {
  base = dir
  let names = []
  try {
    names = readdirSync(base)
  } catch {}
  for (const name of names) {
    const match = /^inotify-napi-bench-(\d+)-/.exec(name)
    if (!match || Number(match[1]) === process.pid) continue
    try {
      process.kill(Number(match[1]), 0)
      continue // that run is still going
    } catch (error) {
      if (error.code !== 'ESRCH') continue
    }
    process.stderr.write(`bench: removing ${join(base, name)}, left by an earlier run that was killed\n`)
    rmSync(join(base, name), { recursive: true, force: true })
  }
}

/** A new empty directory under the base (through realpath), removed by removeDir or at an interruption. */
export function freshDir(tag) {
  if (base === null) throw new Error('bench: freshDir before useBase')
  const dir = realpathSync(mkdtempSync(join(base, `inotify-napi-bench-${process.pid}-${tag}-`)))
  liveDirs.add(dir)
  return dir
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true })
  liveDirs.delete(dir)
}

/** Removes every directory not yet removed (the run was interrupted). */
export function removeLiveDirs() {
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true })
}
