/**
 * Reliability, panics (issue 6): a panic inside Rust, in a napi call or on a reader thread, reaches
 * JavaScript as an `InotifyError` with code `ERR_INOTIFY_PANIC`; the process never aborts and goes
 * on working. Panics are caused on purpose through the environment switch `INOTIFY_NAPI_TEST_PANIC`:
 * `call` makes the binding's `addWatch` and the work of `writeSnapshot` panic (read at each call), `reader` makes the engine's reader
 * thread panic (read once per open).
 */
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useTreeFixture, type ChildResult } from './tree-fixture'

const fx = useTreeFixture()
const CHILD = resolve(__dirname, 'fixtures/reliability-child.cjs')

interface ErrorInfo {
  name: string
  code: string
  message: string
  isInotifyError: boolean
}

function parsed<T>(result: ChildResult): T {
  if (result.code !== 0)
    throw new Error(`the child failed (${result.code ?? result.signal}):\n${result.stderr}\n${result.stdout}`)
  return JSON.parse(result.stdout) as T
}

describe('a panic in Rust', () => {
  it('inside a napi call is an InotifyError ERR_INOTIFY_PANIC, three times over, and the binding keeps working', async () => {
    const run = await fx.run(process.execPath, [CHILD, 'panicInCall', fx.tempDir()], {
      env: { ...process.env, INOTIFY_NAPI_TEST_PANIC: 'call' },
    })
    const result = parsed<{ errors: ErrorInfo[]; snapshotError: ErrorInfo; stillWorks: boolean }>(run)
    expect(result.errors).toHaveLength(3)
    for (const error of [...result.errors, result.snapshotError]) {
      expect(error).toMatchObject({ name: 'InotifyError', isInotifyError: true, code: 'ERR_INOTIFY_PANIC' })
      expect(error.message).toContain('a panic in the native binding')
      expect(error.message).toContain('INOTIFY_NAPI_TEST_PANIC=call: a panic on purpose')
    }
    expect(result.stillWorks).toBe(true)
    expect(run.stderr).toContain('panicked')
  })

  it('on the reader thread is an InotifyError ERR_INOTIFY_PANIC from an Inotify and a tree generator, and an error (and a throwing iterator) from watch()', async () => {
    const run = await fx.run(process.execPath, [CHILD, 'panicInReader', fx.tempDir()], {
      env: { ...process.env, INOTIFY_NAPI_TEST_PANIC: 'reader' },
    })
    const result = parsed<{ errors: Record<string, ErrorInfo>; threads: number; inotifyFds: number }>(run)
    expect(Object.keys(result.errors).sort()).toEqual(['inotify', 'tree', 'watch', 'watchIterator'])
    for (const error of Object.values(result.errors)) {
      expect(error).toMatchObject({ name: 'InotifyError', isInotifyError: true, code: 'ERR_INOTIFY_PANIC' })
      expect(error.message).toContain('the inotify reader thread panicked')
    }
    // Everything closed: no reader thread or instance is left.
    expect(result.inotifyFds).toBe(0)
  })
})
