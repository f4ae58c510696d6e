/**
 * Test helpers: a private temp dir per test, and waiting with deadlines instead of sleeps.
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/** A fresh directory (through realpath, so kernel paths and ours agree); removed by the returned cleanup. */
export function makeTempDir(prefix = 'inotify-napi-'): { dir: string; cleanup: () => void } {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function until<T>(check: () => T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(5)
  }
}

/**
 * Pulls from an async iterator until `done(items)` says so, or throws when `timeoutMs` passes.
 * The iterator is not closed: the caller decides (so tests can check that nothing is lost).
 */
export async function collectUntil<T>(
  iterator: AsyncIterator<T>,
  done: (items: T[]) => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<T[]> {
  const items: T[] = []
  const deadline = Date.now() + timeoutMs
  while (!done(items)) {
    const left = deadline - Date.now()
    if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${items.length} items`)
    let timer: NodeJS.Timeout | undefined
    const result = await Promise.race([
      iterator.next(),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), left)
      }),
    ])
    clearTimeout(timer)
    if (result === 'timeout')
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${items.length} items`)
    if (result.done) break
    items.push(result.value)
  }
  return items
}
