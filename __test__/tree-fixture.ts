/**
 * Shared setup of the end-to-end recursive-tree suites: per-test temp dirs, trees and child
 * processes released in `afterEach` (trees first: inotify limits are per user and shared by the
 * machine), an event log that keeps a generator running (a tree keeps its books only while one
 * runs), and counts of the kernel's own watches.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterEach } from 'vitest'
import {
  InotifyTree,
  InotifyTrees,
  type EventGenOptions,
  type InotifyTreeEvent,
  type InotifyTreeOptions,
  type PathEncoding,
  type PathLike,
} from '../src/index'
import { makeTempDir, until } from './helpers'

/** The repository root (children load `dist/index.js` and the addon from here). */
export const REPO = resolve(__dirname, '..')
/** The child script of the suites that need another uid or a user namespace. */
export const CHILD_SCRIPT = resolve(__dirname, 'fixtures/tree-child.cjs')

/** What a finished child process gave. */
export interface ChildResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** What a test can allocate; everything is released after the test. */
export interface TreeFixture {
  /** A fresh realpath'd directory of this test. */
  tempDir(): string
  /** An `InotifyTree`, closed after the test. */
  tree<E extends PathEncoding = 'utf8'>(root: PathLike, options?: InotifyTreeOptions<E>): InotifyTree<E>
  /** An `InotifyTrees`, closed after the test. */
  trees<E extends PathEncoding = 'utf8'>(roots: readonly PathLike[], options?: InotifyTreeOptions<E>): InotifyTrees<E>
  /** Starts a generator on `source` that records every event (ends when the tree closes). */
  log(source: InotifyTrees, options?: EventGenOptions): EventLog
  /** Runs a command to its end (killed after `timeoutMs`, and after the test). */
  run(
    command: string,
    args: readonly string[],
    options?: { env?: NodeJS.ProcessEnv; timeoutMs?: number },
  ): Promise<ChildResult>
  /**
   * Starts a shell script with `$D` set to `dir`, concurrently with the test; resolves once it
   * printed its first line (so the test knows it is running), with a promise of its end.
   */
  background(dir: string, script: string): Promise<{ ended: Promise<ChildResult> }>
}

/** The full path an event is about: `path/filename`, or `path` for an event on the watch itself. */
export function fullPath(event: InotifyTreeEvent): string {
  return event.filename === '' ? event.path : join(event.path, event.filename)
}

/** Whether the event is an `IN_CREATE` (real or made by a scan). */
export function isCreate(event: InotifyTreeEvent): boolean {
  return event.typeNames.includes('IN_CREATE')
}

/** One line per event, for failure messages. */
export function describeEvents(events: readonly InotifyTreeEvent[], last = 30): string {
  const shown = events
    .slice(-last)
    .map((e) => `  ${e.typeNames.join('|')} ${fullPath(e)} wd=${e.header.wd}${e.synthetic ? ' (synthetic)' : ''}`)
  return `${events.length} events${events.length > last ? `, the last ${last}` : ''}:\n${shown.join('\n')}`
}

/** The number of `inotify wd:` lines in `/proc/self/fdinfo/<fd>`: the watches the kernel holds. */
export function kernelWatchCount(fd: number): number {
  if (fd < 0) throw new Error(`no inotify descriptor (fd ${fd})`)
  return readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('inotify wd:')).length
}

/** The inotify descriptors this process holds. */
export function inotifyDescriptors(): number[] {
  const found: number[] = []
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:inotify') found.push(Number(fd))
    } catch {
      // The descriptor readdir itself used is gone by now.
    }
  }
  return found
}

/** How many inotify descriptors this process holds. */
export function inotifyDescriptorCount(): number {
  return inotifyDescriptors().length
}

/** Every watch this process's inotify descriptors hold, as the kernel counts them. */
export function kernelWatchesInProcess(): number {
  let count = 0
  for (const fd of inotifyDescriptors()) {
    try {
      count += kernelWatchCount(fd)
    } catch {
      // Closed since it was listed.
    }
  }
  return count
}

/**
 * Creates entries under `root`: a name ending in `/` is a directory (with its parents), anything
 * else an empty file (its parents created as needed).
 */
export function layout(root: string, entries: readonly string[]): void {
  for (const entry of entries) {
    if (entry.endsWith('/')) {
      mkdirSync(join(root, entry), { recursive: true })
    } else {
      mkdirSync(join(root, entry, '..'), { recursive: true })
      writeFileSync(join(root, entry), '')
    }
  }
}

/** The listing a tree does of a directory it watches: `IN_OPEN`/`IN_ACCESS`/`IN_CLOSE_NOWRITE` on directories. */
export function isDirectoryListing(event: InotifyTreeEvent): boolean {
  return (
    event.typeNames.includes('IN_ISDIR') &&
    event.typeNames.some((name) => name === 'IN_OPEN' || name === 'IN_ACCESS' || name === 'IN_CLOSE_NOWRITE')
  )
}

const MARK_PREFIX = '.mark-'

/**
 * Every event a tree yields, recorded by a generator that keeps running (so the tree keeps its
 * books), with deadline-based waits over what was recorded.
 */
export class EventLog {
  /** What the generator yielded, in order. */
  readonly events: InotifyTreeEvent[] = []
  #failure: unknown
  #ended = false
  #marks = 0
  /** Where the events not yet returned by {@link EventLog.mark} start. */
  #cursor = 0

  constructor(source: InotifyTrees, options: EventGenOptions = {}) {
    const gen = source.eventGen({ ...options, yieldNones: false })
    void (async () => {
      try {
        for await (const event of gen) this.events.push(event)
      } catch (error) {
        this.#failure = error
      } finally {
        this.#ended = true
      }
    })()
  }

  /** Waits (with a deadline) until `done(events)` holds; fails early if the generator failed or ended. */
  async until(
    done: (events: readonly InotifyTreeEvent[]) => boolean,
    what: string,
    timeoutMs = 5000,
  ): Promise<InotifyTreeEvent[]> {
    try {
      await until(
        () => {
          if (done(this.events)) return true
          if (this.#failure !== undefined) throw this.#failure
          if (this.#ended) throw new Error(`the generator ended before ${what}`)
          return false
        },
        what,
        timeoutMs,
      )
    } catch (error) {
      if (error instanceof Error) error.message += `\n${describeEvents(this.events)}`
      throw error
    }
    return this.events
  }

  /** Waits until an event about `path` (its full path) passes `match` (default: any). */
  untilPath(
    path: string,
    timeoutMs = 5000,
    match: (event: InotifyTreeEvent) => boolean = () => true,
  ): Promise<InotifyTreeEvent[]> {
    return this.until(
      (events) => events.some((e) => fullPath(e) === path && match(e)),
      `an event for ${path}`,
      timeoutMs,
    )
  }

  /**
   * Writes a marker file in `dir` (which must be watched, for events its mask reports on a file
   * write) and waits for it: every event the kernel queued before it has then been yielded. Returns
   * the events since the previous mark (markers left out): a bounded "nothing else came" window.
   */
  async mark(dir: string, timeoutMs = 5000): Promise<InotifyTreeEvent[]> {
    const name = `${MARK_PREFIX}${++this.#marks}`
    writeFileSync(join(dir, name), '')
    await this.until((events) => events.some((e) => e.filename === name), `the marker ${name}`, timeoutMs)
    const end = this.events.findIndex((e) => e.filename === name)
    const window = this.events.slice(this.#cursor, end).filter((e) => !e.filename.startsWith(MARK_PREFIX))
    this.#cursor = end
    return window
  }
}

/** Registers the `afterEach` that releases what the tests of this file allocate. */
export function useTreeFixture(): TreeFixture {
  const trees: InotifyTrees<PathEncoding>[] = []
  const children = new Set<ChildProcess>()
  const cleanups: (() => void)[] = []
  afterEach(async () => {
    // Awaited: each close ends on the native thread, and the next test counts descriptors.
    await Promise.allSettled(trees.splice(0).map((tree) => tree.close()))
    for (const child of children) child.kill('SIGKILL')
    children.clear()
    for (const cleanup of cleanups.splice(0)) cleanup()
  })

  function start(
    command: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv | undefined,
  ): {
    child: ChildProcess
    ended: Promise<ChildResult>
    out: { stdout: string; stderr: string }
  } {
    const child = spawn(command, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    const out = { stdout: '', stderr: '' }
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out.stdout += chunk
    })
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      out.stderr += chunk
    })
    const ended = new Promise<ChildResult>((resolveEnd, reject) => {
      child.on('error', reject)
      child.on('close', (code, signal) => {
        children.delete(child)
        resolveEnd({ code, signal, ...out })
      })
    })
    return { child, ended, out }
  }

  return {
    tempDir() {
      const { dir, cleanup } = makeTempDir('inotify-napi-tree-')
      cleanups.push(cleanup)
      return dir
    },
    tree<E extends PathEncoding = 'utf8'>(root: PathLike, options?: InotifyTreeOptions<E>): InotifyTree<E> {
      const tree = new InotifyTree<E>(root, options)
      trees.push(tree as InotifyTrees<PathEncoding>)
      return tree
    },
    trees<E extends PathEncoding = 'utf8'>(
      roots: readonly PathLike[],
      options?: InotifyTreeOptions<E>,
    ): InotifyTrees<E> {
      const tree = new InotifyTrees<E>(roots, options)
      trees.push(tree as InotifyTrees<PathEncoding>)
      return tree
    },
    log(source, options) {
      return new EventLog(source, options)
    },
    async run(command, args, options = {}) {
      const { child, ended } = start(command, args, options.env)
      const timeoutMs = options.timeoutMs ?? 20_000
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      try {
        const result = await ended
        if (result.signal === 'SIGKILL') {
          throw new Error(
            `${command} was killed after ${timeoutMs} ms\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
          )
        }
        return result
      } finally {
        clearTimeout(timer)
      }
    },
    async background(dir, script) {
      const { ended, out } = start('sh', ['-c', script], { ...process.env, D: dir })
      let finished = false
      void ended.then(
        () => {
          finished = true
        },
        () => {
          finished = true
        },
      )
      await until(() => out.stdout.includes('\n') || finished, 'the background script to start', 5000)
      return { ended }
    },
  }
}
