/**
 * `src/options.ts`: each public entry's options checked once, with their defaults, into frozen
 * settings; bad input refused with a typed error that names the option. (The entries' behaviour with
 * these settings is tested against the kernel in the other suites.)
 */
import picomatch from 'picomatch'
import { describe, expect, it } from 'vitest'
import { IN_ALL_EVENTS, IN_CREATE, IN_ISDIR } from '../src/constants'
import {
  eventBatchesSettings,
  eventGenSettings,
  inotifySettings,
  subscribeSettings,
  treeSettings,
  watchSettings,
  withoutPythonOption,
} from '../src/options'

describe('options', () => {
  it('fills in every default, and freezes what it returns', () => {
    const inotify = inotifySettings(undefined)
    expect(inotify).toMatchObject({ encoding: 'utf8', blockDuration: 1, paths: [], mask: IN_ALL_EVENTS })
    const tree = treeSettings(['/tmp'], {})
    expect(tree).toMatchObject({
      encoding: 'utf8',
      mask: IN_ALL_EVENTS,
      followSymlinks: false,
      ignore: { patterns: [], regexes: [], functions: [] },
      readGitignore: false,
      recursive: true,
      ownInstance: false,
    })
    const watch = watchSettings('/tmp', undefined)
    expect(watch).toMatchObject({ encoding: 'utf8', recursive: true, debounceMs: 0, maxBacklog: 1000 })
    expect(watch.maxQueuedBytes).toBe(16 * 1024 * 1024)
    for (const settings of [inotify, tree, tree.ignore, watch, watch.roots])
      expect(Object.isFrozen(settings)).toBe(true)
  })

  it('splits ignores into patterns, RegExp sources and functions, wherever they are given', () => {
    const fn = (): boolean => false
    const tree = treeSettings(['/tmp'], { ignore: ['*.log', /\.tmp$/, fn], mask: IN_CREATE | IN_ISDIR })
    expect(tree.ignore).toEqual({
      patterns: ['*.log'],
      regexes: ['\\.tmp$'],
      functions: [fn],
      parcel: { paths: [], globs: [] },
    })
    expect(tree.mask).toBe(IN_CREATE)
    expect(watchSettings(['/a', '/b'], { ignore: /x\/y/ }).ignore.regexes).toEqual(['x\\/y'])
  })

  it("reads @parcel/watcher's ignore as its index.js does: paths resolved, globs through picomatch, RegExps wrapped", () => {
    const { root, watch, key } = subscribeSettings('/proj', {
      ignore: ['dist', '/proj/out', './tmp', '?.txt', '*.map', /\.log$/],
    })
    expect(root).toBe('/proj')
    expect(watch.ignore).toEqual({
      patterns: [],
      regexes: [],
      functions: [],
      parcel: {
        paths: ['/proj/dist', '/proj/out', '/proj/tmp', '/proj/?.txt'],
        globs: [picomatch.makeRe('*.map', { dot: true }).source, '^[\\s\\S]*(?:\\.log$)[\\s\\S]*$'],
      },
    })
    expect(watch.debounceMs).toBe(50)
    // As @parcel/watcher compares them: the directory, and the ignores as sets.
    const same = ['/proj/tmp', /\.log$/, '*.map', 'out', 'dist', 'dist', '?.txt']
    expect(subscribeSettings('/proj/', { ignore: same }).key).toBe(key)
    expect(subscribeSettings('/proj/', { ignore: ['dist', 'out', 'tmp', '*.map', /\.log$/] }).key).not.toBe(key)
    expect(() => subscribeSettings('/proj', { ignore: [(() => true) as never] })).toThrow(
      /The "paths\[1\]" argument must be of type string\. Received function/,
    )
  })

  it('refuses unknown options by name, for every entry', () => {
    const unknown = { bogus: 1 } as never
    expect(() => inotifySettings(unknown)).toThrow(/Inotify: unknown option "bogus"/)
    expect(() => treeSettings(['/tmp'], unknown)).toThrow(/InotifyTrees: unknown option "bogus"/)
    expect(() => watchSettings('/tmp', unknown)).toThrow(/watch: unknown option "bogus"/)
    expect(() => subscribeSettings('/tmp', unknown)).toThrow(/subscribe: unknown option "bogus"/)
    expect(() => eventGenSettings(unknown, 'eventGenSync')).toThrow(/eventGenSync: unknown option "bogus"/)
    expect(() => eventBatchesSettings({ yieldNones: true } as never)).toThrow(
      /eventBatches: unknown option "yieldNones"/,
    )
  })

  it('refuses wrong types with a TypeError and bad numbers with a RangeError', () => {
    expect(() => inotifySettings(null as never)).toThrow(TypeError)
    expect(() => treeSettings(['/tmp'], { followSymlinks: 'yes' as never })).toThrow(TypeError)
    expect(() => treeSettings([], {})).toThrow(TypeError)
    expect(() => treeSettings(['/tmp'], { ignore: [42 as never] })).toThrow(/ignore\[0\] must be/)
    expect(() => watchSettings([], {})).toThrow(/at least one directory/)
    expect(() => watchSettings('/tmp', { signal: {} as never })).toThrow(TypeError)
    expect(() => subscribeSettings(42, {})).toThrow(/dir must be a string/)
    expect(() => subscribeSettings('/tmp', { backend: 'kqueue' as never })).toThrow(TypeError)
    expect(() => withoutPythonOption({ ignoreMissingNewFolders: 1 as never }, 'eventGen')).toThrow(TypeError)
    for (const bad of [-1, 0.5, Number.NaN, 2 ** 53]) {
      expect(() => watchSettings('/tmp', { maxBacklog: bad })).toThrow(RangeError)
    }
    expect(() => watchSettings('/tmp', { debounceMs: 2 ** 31 })).toThrow(RangeError)
    expect(() => treeSettings(['/tmp'], { mask: 0 })).toThrow(RangeError)
    expect(() => inotifySettings({ blockDurationS: -1 })).toThrow(RangeError)
    expect(() => eventGenSettings({ timeoutS: Number.POSITIVE_INFINITY }, 'eventGen')).toThrow(RangeError)
  })

  it('refuses a RegExp with flags, naming each flag and what to write instead', () => {
    expect(() => treeSettings(['/tmp'], { ignore: ['ok', /a/iu] })).toThrow(
      /ignore\[1\]: the RegExp \/a\/iu has the flags 'i' and 'u'.*i: start the source with \(\?i\)/,
    )
    // subscribe() gives @parcel/watcher's error (an Error, not a TypeError), word for word.
    expect(() => subscribeSettings('/tmp', { ignore: [/a/s] })).toThrow(
      new Error(
        'RegExp ignore patterns must not have flags (got /a/s). Flags are not supported by the native matcher.',
      ),
    )
  })
})
