/**
 * The binding's errors cross as data: what a native call throws is an `Error` with `code`, `errno`,
 * `syscall` and `path` as properties, and `fromNativeError` wraps it without reading its message.
 * These tests call the native handle directly, below the public API.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { IN_ALL_EVENTS } from '../src/constants'
import { fromNativeError, InotifyError } from '../src/errors'
import { native, type NativeInotify } from '../src/native'
import { makeTempDir } from './helpers'

const opened: NativeInotify[] = []
const cleanups: (() => void)[] = []
afterEach(() => {
  for (const handle of opened.splice(0)) handle.close()
  for (const cleanup of cleanups.splice(0)) cleanup()
})

/** A raw native instance (plain mode), closed after the test. */
function openNative(): NativeInotify {
  const handle = new native.NativeInotify(() => {})
  opened.push(handle)
  return handle
}

function tempDir(): string {
  const { dir, cleanup } = makeTempDir()
  cleanups.push(cleanup)
  return dir
}

/** What `fn` threw (fails the test if it returned). */
function thrownBy(fn: () => unknown): Error & Record<string, unknown> {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(Error)
    return error as Error & Record<string, unknown>
  }
  throw new Error('expected a throw')
}

describe('an error thrown by the native binding', () => {
  it('from a failed system call carries code, errno, syscall and path as properties', () => {
    const missing = join(tempDir(), 'no such dir')
    const handle = openNative()
    const error = thrownBy(() => handle.addWatch(Buffer.from(missing), IN_ALL_EVENTS))
    expect(error).not.toBeInstanceOf(InotifyError)
    expect({ code: error.code, errno: error.errno, syscall: error.syscall, path: error.path }).toEqual({
      code: 'ENOENT',
      errno: -2,
      syscall: 'inotify_add_watch',
      path: missing,
    })
    expect(error.message).toContain('No such file or directory')
  })

  it('keeps a path that is not UTF-8 as its bytes', () => {
    const bytes = Buffer.concat([Buffer.from(`${tempDir()}/`), Buffer.from([0xff, 0xfe])])
    const handle = openNative()
    const error = thrownBy(() => handle.addWatch(bytes, IN_ALL_EVENTS))
    expect(error.code).toBe('ENOENT')
    expect(error.path).toEqual(bytes)
  })

  it('for a closed instance (a condition of the engine) is ERR_INOTIFY_CLOSED, without errno or syscall', () => {
    const handle = openNative()
    handle.close()
    const error = thrownBy(() => handle.addWatch(Buffer.from(tempDir()), IN_ALL_EVENTS))
    expect({ code: error.code, errno: error.errno, syscall: error.syscall, path: error.path }).toEqual({
      code: 'ERR_INOTIFY_CLOSED',
      errno: undefined,
      syscall: undefined,
      path: undefined,
    })
    expect(error.message).toBe('the inotify instance is closed')
  })

  it('for a watch descriptor the instance does not hold is EINVAL with its errno and no syscall', () => {
    const handle = openNative()
    const error = thrownBy(() => handle.removeWatch(12345, false))
    expect({ code: error.code, errno: error.errno, syscall: error.syscall }).toEqual({
      code: 'EINVAL',
      errno: -22,
      syscall: undefined,
    })
    expect(error.message).toContain('watch descriptor 12345')
  })
})

describe('fromNativeError', () => {
  it('makes an InotifyError of the native properties, keeping the path as the caller gave it', () => {
    const missing = join(tempDir(), 'missing')
    const handle = openNative()
    const raw = thrownBy(() => handle.addWatch(Buffer.from(missing), IN_ALL_EVENTS))
    const given = Buffer.from(missing)
    expect(fromNativeError(raw, given)).toMatchObject({
      name: 'InotifyError',
      code: 'ENOENT',
      errno: -2,
      syscall: 'inotify_add_watch',
      path: given,
    })
    const withoutGiven = fromNativeError(raw)
    expect(withoutGiven).toBeInstanceOf(InotifyError)
    expect(withoutGiven).toMatchObject({ path: missing, message: expect.stringContaining(missing) })
  })

  it('returns an error that the binding did not make (a napi argument check) unchanged', () => {
    const handle = openNative()
    const raw = thrownBy(() => handle.addWatch('not a Buffer' as never, IN_ALL_EVENTS))
    expect(raw.code).toBe('InvalidArg')
    expect(fromNativeError(raw)).toBe(raw)
  })
})
