/**
 * Shared setup of the end-to-end `Inotify` suites: per-test temp dirs and instances, released in
 * `afterEach` (instances first: the kernel's instance limit is per user and shared by the machine).
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach } from 'vitest'
import { Inotify, type InotifyEvent, type InotifyOptions, type PathEncoding } from '../src/index'
import { makeTempDir } from './helpers'

/** What a test can allocate; everything is released after the test. */
export interface Fixture {
  /** A fresh realpath'd directory of this test. */
  tempDir(): string
  /** An `Inotify` closed after the test. */
  open<E extends PathEncoding = 'utf8'>(options?: InotifyOptions<E>): Inotify<E>
}

/** Registers the `afterEach` that releases what the tests of this file allocate. */
export function useFixture(): Fixture {
  const instances: Inotify<PathEncoding>[] = []
  const cleanups: (() => void)[] = []
  afterEach(async () => {
    // Awaited: each close ends on the native thread, and the next test counts descriptors.
    await Promise.allSettled(instances.splice(0).map((inotify) => inotify.close()))
    for (const cleanup of cleanups.splice(0)) cleanup()
  })
  return {
    tempDir() {
      const { dir, cleanup } = makeTempDir()
      cleanups.push(cleanup)
      return dir
    },
    open<E extends PathEncoding = 'utf8'>(options?: InotifyOptions<E>): Inotify<E> {
      const inotify = new Inotify<E>(options)
      instances.push(inotify as Inotify<PathEncoding>)
      return inotify
    },
  }
}

/** Runs a shell script with `$D` set to `dir`: file activity from another process, as a user's would be. */
/** What the seed's example (`touch aa; rm aa; mkdir dir1; rmdir dir1`) reports, as type names, in order. */
export const SEED_TYPE_NAMES: readonly (readonly string[])[] = [
  ['IN_CREATE'],
  ['IN_OPEN'],
  ['IN_ATTRIB'],
  ['IN_CLOSE_WRITE'],
  ['IN_DELETE'],
  ['IN_ISDIR', 'IN_CREATE'],
  ['IN_ISDIR', 'IN_DELETE'],
]

export function sh(dir: string, script: string): void {
  execFileSync('sh', ['-c', script], { env: { ...process.env, D: dir }, stdio: 'ignore' })
}

/** The parts of an event most tests compare. */
export function brief(event: InotifyEvent): { typeNames: readonly string[]; filename: string } {
  return { typeNames: event.typeNames, filename: event.filename }
}

/** The events of a list that also holds the `null`s of cycle ends. */
export function eventsOf<T>(items: readonly (T | null)[]): T[] {
  return items.filter((item): item is T => item !== null)
}

/**
 * Settles with `work`, or rejects once `timeoutMs` passes: bounds a `for await` loop whose end is
 * the behaviour under test.
 */
export async function withinDeadline<T>(work: Promise<T>, what: string, timeoutMs = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs)
  })
  try {
    return await Promise.race([work, deadline])
  } finally {
    clearTimeout(timer)
  }
}

/** The name of the first event `inotify`'s async generator yields, leaving the loop then; within a deadline. */
export async function firstFilename(inotify: Inotify): Promise<string> {
  return withinDeadline(
    (async () => {
      for await (const event of inotify.eventGen({ yieldNones: false })) return event.filename
      throw new Error('the generator ended without an event')
    })(),
    'the first event',
  )
}

/**
 * Queues more events than the kernel holds, unread, so that it overflows (watch for `IN_ATTRIB`):
 * two files made, then `IN_ATTRIB` on each in turn, one syscall an event (the kernel merges an
 * event identical to the last one queued, hence two files). Returns `max_queued_events`.
 */
export function overflowKernelQueue(dir: string): number {
  const max = Number.parseInt(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'), 10)
  const names = [join(dir, 'even'), join(dir, 'odd')]
  for (const name of names) writeFileSync(name, '')
  for (let i = 0; i < max + 1000; i++) utimesSync(names[i % 2]!, i, i)
  return max
}
