/**
 * End-to-end: bad arguments get a typed error before any system call, and failed system calls an
 * `InotifyError` with Node's fields and the path as given.
 */
import { readdirSync, readlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { IN_CREATE, IN_ONLYDIR, IN_Q_OVERFLOW, InotifyError, type Inotify } from '../src/index'
import { until } from './helpers'
import { useFixture } from './inotify-fixture'

const fx = useFixture()

/** What `fn` threw (fails the test if it returned). */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

/** The descriptors of this process, by target (e.g. `anon_inode:inotify`). */
function openDescriptors(): string[] {
  const targets: string[] = []
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      targets.push(readlinkSync(`/proc/self/fd/${fd}`))
    } catch {
      // The descriptor readdir itself used is gone by now.
    }
  }
  return targets.sort()
}

/** Calls `fn` with an open instance watching nothing, so a syscall would have nothing to report. */
function withWatcher(fn: (inotify: Inotify) => void): void {
  const inotify = fx.open()
  fn(inotify)
  expect(inotify.watchCount).toBe(0)
}

describe('bad arguments to addWatch', () => {
  it('rejects mask bits inotify_add_watch does not take with a RangeError', () => {
    const dir = fx.tempDir()
    withWatcher((inotify) => {
      expect(() => inotify.addWatch(dir, 0x1000)).toThrow(RangeError)
      expect(() => inotify.addWatch(dir, IN_Q_OVERFLOW)).toThrow(RangeError)
      expect(() => inotify.addWatch(dir, IN_CREATE | IN_Q_OVERFLOW)).toThrow(RangeError)
    })
  })

  it('rejects a mask of 0 with a RangeError', () => {
    const dir = fx.tempDir()
    withWatcher((inotify) => expect(() => inotify.addWatch(dir, 0)).toThrow(RangeError))
  })

  it('rejects a mask that is not a number with a TypeError', () => {
    const dir = fx.tempDir()
    withWatcher((inotify) => {
      expect(() => inotify.addWatch(dir, '256' as unknown as number)).toThrow(TypeError)
      expect(() => inotify.addWatch(dir, null as unknown as number)).toThrow(TypeError)
    })
  })

  it('rejects a number, an object and null as a path with a TypeError ERR_INVALID_ARG_TYPE', () => {
    withWatcher((inotify) => {
      for (const notAPath of [42, {}, null]) {
        const error = thrownBy(() => inotify.addWatch(notAPath as unknown as string))
        expect(error).toBeInstanceOf(TypeError)
        expect(error).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' })
      }
    })
  })

  it('rejects a path with a NUL byte with a TypeError', () => {
    const dir = fx.tempDir()
    withWatcher((inotify) => {
      expect(() => inotify.addWatch(`${dir}\0/x`)).toThrow(TypeError)
      expect(() => inotify.addWatch(Buffer.from(`${dir}\0`))).toThrow(TypeError)
    })
  })
})

describe('bad options', () => {
  it('rejects an unknown option key of the constructor with a TypeError', () => {
    expect(() => fx.open({ path: ['/tmp'] } as never)).toThrow(TypeError)
    expect(() => fx.open({ blockDuration: 1 } as never)).toThrow(TypeError)
  })

  it('rejects a negative or NaN blockDurationS with a RangeError', () => {
    expect(() => fx.open({ blockDurationS: -1 })).toThrow(RangeError)
    expect(() => fx.open({ blockDurationS: Number.NaN })).toThrow(RangeError)
  })

  it('rejects an encoding other than utf8 and buffer with a TypeError', () => {
    expect(() => fx.open({ encoding: 'latin1' as 'utf8' })).toThrow(TypeError)
  })

  it('rejects bad eventGen options when eventGen is called, before any wait', () => {
    const inotify = fx.open()
    expect(() => inotify.eventGen({ timeoutS: -1 })).toThrow(RangeError)
    expect(() => inotify.eventGen({ timeoutS: Number.NaN })).toThrow(RangeError)
    expect(() => inotify.eventGen({ filter: 'yes' as never })).toThrow(TypeError)
    expect(() => inotify.eventGen({ filterPredicate: 1 as never })).toThrow(TypeError)
    expect(() => inotify.eventGen({ timeout: 1 } as never)).toThrow(TypeError)
    expect(() => inotify.eventGenSync({ timeoutS: -1 })).toThrow(RangeError)
    expect(() => inotify.eventGen({ terminalEvents: ['IN_OVERFLOW' as never] })).toThrow(/IN_OVERFLOW/)
    expect(() => inotify.eventGen({ terminalEvents: [0x4000 as never] })).toThrow(TypeError)
  })

  it('rejects a wd that is not a 32-bit integer with a RangeError, before any syscall', () => {
    const inotify = fx.open()
    expect(() => inotify.removeWatchWithId(2 ** 32 + 1)).toThrow(RangeError)
    expect(() => inotify.removeWatchWithId(1.5)).toThrow(RangeError)
    expect(() => inotify.removeWatchWithId('1' as never)).toThrow(TypeError)
  })

  it('rejects bad paths and masks given to the constructor before opening anything', () => {
    const before = openDescriptors()
    expect(() => fx.open({ paths: [42 as unknown as string] })).toThrow(TypeError)
    expect(() => fx.open({ paths: ['/tmp'], mask: 0 })).toThrow(RangeError)
    expect(openDescriptors()).toEqual(before)
  })
})

describe('failed system calls', () => {
  it('throws InotifyError ENOENT for a missing path, with syscall, path, errno and the path in the message', () => {
    const missing = join(fx.tempDir(), 'no such dir')
    withWatcher((inotify) => {
      const error = thrownBy(() => inotify.addWatch(missing))
      expect(error).toBeInstanceOf(InotifyError)
      expect(error).toMatchObject({ code: 'ENOENT', syscall: 'inotify_add_watch', path: missing, errno: -2 })
      expect((error as Error).message).toContain(missing)
    })
  })

  it('keeps a Buffer path as given in the error', () => {
    const missing = Buffer.from(join(fx.tempDir(), 'missing'))
    withWatcher((inotify) => {
      const error = thrownBy(() => inotify.addWatch(missing))
      expect(error).toMatchObject({ code: 'ENOENT' })
      expect((error as InotifyError).path).toBe(missing)
    })
  })

  it('throws InotifyError ENOTDIR for IN_ONLYDIR on a file', () => {
    const file = join(fx.tempDir(), 'file')
    writeFileSync(file, '')
    withWatcher((inotify) => {
      const error = thrownBy(() => inotify.addWatch(file, IN_CREATE | IN_ONLYDIR))
      expect(error).toBeInstanceOf(InotifyError)
      expect(error).toMatchObject({ code: 'ENOTDIR', syscall: 'inotify_add_watch', path: file })
    })
  })

  it('throws ENOENT from the constructor for a missing path in paths, and leaks no descriptor', async () => {
    const dir = fx.tempDir()
    const missing = join(dir, 'missing')
    const before = openDescriptors()
    const error = thrownBy(() => fx.open({ paths: [dir, missing] }))
    expect(error).toBeInstanceOf(InotifyError)
    expect(error).toMatchObject({ code: 'ENOENT', path: missing })
    // The instance the constructor opened is closed on its reader thread, without making it wait.
    await until(() => openDescriptors().length === before.length, 'the descriptor to close')
    expect(openDescriptors()).toEqual(before)
  })

  it('releases the inotify descriptor once close() settles', async () => {
    const inotifyDescriptors = (): number => openDescriptors().filter((t) => t === 'anon_inode:inotify').length
    const before = inotifyDescriptors()
    const inotify = fx.open({ paths: [fx.tempDir()] })
    expect(inotifyDescriptors()).toBe(before + 1)
    await inotify.close()
    expect(inotifyDescriptors()).toBe(before)
  })
})
