/**
 * Shared by the reliability suites and the stress suite: what this process holds (descriptors,
 * threads, inotify instances and their kernel watches, all from /proc/self), and open/close cycles
 * of every kind of watcher.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { Inotify, InotifyTree, watch } from '../src/index'

/** Descriptors, threads, inotify instances and the kernel watches in them, of this process. */
export interface Holdings {
  fds: number
  threads: number
  inotify: number
  watches: number
}

/** What this process holds now. */
export function holdings(): Holdings {
  let inotify = 0
  let watches = 0
  const fds = readdirSync('/proc/self/fd')
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) !== 'anon_inode:inotify') continue
      inotify += 1
      watches += readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('inotify wd:')).length
    } catch {
      // The descriptor readdir itself used is gone by now.
    }
  }
  return { fds: fds.length, threads: readdirSync('/proc/self/task').length, inotify, watches }
}

/** Threads of this process named as the engine names its reader threads. */
function readerThreads(): number {
  let count = 0
  for (const task of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim() === 'inotify-reader') count += 1
    } catch {
      // Gone meanwhile.
    }
  }
  return count
}

/**
 * What {@link holdings} says once every instance closed has finished closing: the shared
 * instance's reader closes its descriptor and ends on its own thread, soon after the last session
 * closes. Waits (with a deadline) until no inotify descriptor and no reader thread is left, then counts.
 */
export async function holdingsOnceClosed(timeoutMs = 5000): Promise<Holdings> {
  const deadline = Date.now() + timeoutMs
  while ((holdings().inotify > 0 || readerThreads() > 0) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return holdings()
}

/**
 * Opens and closes `cycles` watchers on `dir` (which should hold a directory `a`), in turn: an
 * Inotify closed while a generator waits (its reader armed), a bare Inotify, an InotifyTree once
 * ready, and a watch() once ready.
 */
export async function openCloseCycles(dir: string, cycles: number): Promise<void> {
  for (let i = 0; i < cycles; i++) {
    switch (i % 4) {
      case 0: {
        const inotify = new Inotify({ paths: [dir, join(dir, 'a')] })
        const pending = inotify.eventGen().next()
        await inotify.close()
        await pending
        break
      }
      case 1: {
        const inotify = new Inotify({ paths: [dir] })
        await inotify.close()
        break
      }
      case 2: {
        const tree = new InotifyTree(dir)
        await tree.ready
        await tree.close()
        break
      }
      default: {
        const w = watch(dir)
        await w.ready
        await w.close()
      }
    }
  }
}
