import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  detectMusl,
  loadNative,
  NATIVE_SURFACE,
  NativeLoadError,
  NPM_OPTIONAL_DEPENDENCY_BUG,
  PREBUILT,
  type Libc,
  type LoaderInputs,
} from '../src/loader'
import { makeTempDir } from './helpers'

const ROOT = resolve(__dirname, '..')
const PACKAGE_ROOT = '/app/node_modules/inotify-napi'

/** What Node's require throws for a module that is not there. */
function notFound(id: string): Error {
  return Object.assign(new Error(`Cannot find module '${id}'\nRequire stack:\n- ${PACKAGE_ROOT}/dist/native.js`), {
    code: 'MODULE_NOT_FOUND',
  })
}

/** A fake `require` over a table of module ids: a value loads, an Error is thrown, a miss is MODULE_NOT_FOUND. */
function fakeRequire(modules: Record<string, unknown>): { require: (id: string) => unknown; asked: string[] } {
  const asked: string[] = []
  return {
    asked,
    require: (id: string) => {
      asked.push(id)
      if (!(id in modules)) throw notFound(id)
      const value = modules[id]
      if (value instanceof Error) throw value
      return value
    },
  }
}

/** Loader inputs for Linux x64 glibc with nothing installed; `overrides` change any of them. */
function inputs(
  overrides: Partial<LoaderInputs> & { libc?: Libc; modules?: Record<string, unknown> } = {},
): LoaderInputs & { asked: string[] } {
  const { libc = 'glibc', modules = {}, ...rest } = overrides
  const fake = fakeRequire(modules)
  return {
    platform: 'linux',
    arch: 'x64',
    env: {},
    cwd: '/home/user/project',
    isMusl: () => libc === 'musl',
    packageRoot: PACKAGE_ROOT,
    version: '1.2.3',
    // As published: one optional dependency per platform package.
    optionalDependencies: Object.fromEntries(
      Object.values(PREBUILT)
        .flatMap((byLibc) => Object.values(byLibc))
        .map((name) => [`inotify-napi-${name}`, '1.2.3']),
    ),
    surface: { NativeInotify: ['addWatch', 'fd'], fakeFunction: [] },
    ...fake,
    ...rest,
  }
}

/** The error `loadNative` throws with these inputs. */
function loadError(given: LoaderInputs): NativeLoadError {
  try {
    loadNative(given)
  } catch (error) {
    expect(error).toBeInstanceOf(NativeLoadError)
    return error as NativeLoadError
  }
  throw new Error('loadNative did not throw')
}

/** A binding with what the fake surface above asks for: a method, a getter, a function. */
const binding = {
  NativeInotify: class {
    addWatch(): number {
      return 1
    }
    get fd(): number {
      return 3
    }
  },
  fakeFunction: () => [],
}

describe('the native loader', () => {
  it('says inotify is Linux-only on macOS and on Windows, before looking for any binary', () => {
    for (const [platform, name] of [
      ['darwin', 'macOS'],
      ['win32', 'Windows'],
      ['freebsd', 'FreeBSD'],
    ] as const) {
      const given = inputs({ platform, arch: 'arm64', env: { INOTIFY_NAPI_NATIVE_PATH: '/x.node' } })
      const error = loadError(given)
      expect(error.code).toBe('ERR_INOTIFY_UNSUPPORTED_PLATFORM')
      expect(error.message).toContain('works on Linux only')
      expect(error.message).toContain('inotify is a Linux kernel interface')
      expect(error.message).toContain(`this is ${name} (${platform} arm64)`)
      expect(given.asked).toEqual([])
    }
  })

  it('loads a binary built next to the package first (a clone after npm run build)', () => {
    const local = join(PACKAGE_ROOT, 'inotify-napi.linux-x64-gnu.node')
    const given = inputs({ modules: { [local]: binding, 'inotify-napi-linux-x64-gnu': {} } })
    expect(loadNative(given)).toBe(binding)
    expect(given.asked).toEqual([local])
  })

  it('loads the platform package for glibc x64 when there is no local binary', () => {
    const given = inputs({
      modules: {
        'inotify-napi-linux-x64-gnu/package.json': { version: '1.2.3' },
        'inotify-napi-linux-x64-gnu': binding,
      },
    })
    expect(loadNative(given)).toBe(binding)
    expect(given.asked.at(-1)).toBe('inotify-napi-linux-x64-gnu')
  })

  it('picks the package for each CPU and C library', () => {
    const cases: [string, Libc, string][] = [
      ['x64', 'musl', 'linux-x64-musl'],
      ['arm64', 'glibc', 'linux-arm64-gnu'],
      ['arm64', 'musl', 'linux-arm64-musl'],
      ['arm', 'glibc', 'linux-arm-gnueabihf'],
      ['riscv64', 'glibc', 'linux-riscv64-gnu'],
      ['ppc64', 'glibc', 'linux-ppc64-gnu'],
      ['s390x', 'glibc', 'linux-s390x-gnu'],
      ['loong64', 'glibc', 'linux-loong64-gnu'],
    ]
    for (const [arch, libc, name] of cases) {
      const pkg = `inotify-napi-${name}`
      const given = inputs({ arch, libc, modules: { [`${pkg}/package.json`]: { version: '1.2.3' }, [pkg]: binding } })
      expect(loadNative(given), `${arch} ${libc}`).toBe(binding)
    }
  })

  it('has a loader entry for every generated npm/ package, with the same os, cpu and libc', () => {
    const targets = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { napi: { targets: string[] } })
      .napi.targets
    const dirs = readdirSync(join(ROOT, 'npm')).sort()
    expect(dirs).toHaveLength(targets.length)
    const known = Object.entries(PREBUILT).flatMap(([arch, byLibc]) =>
      Object.entries(byLibc).map(([libc, name]) => ({ arch, libc, name: name as string })),
    )
    expect(known.map((k) => k.name).sort()).toEqual(dirs)
    for (const { arch, libc, name } of known) {
      const manifest = JSON.parse(readFileSync(join(ROOT, 'npm', name, 'package.json'), 'utf8')) as Record<
        string,
        unknown
      >
      expect(manifest, name).toMatchObject({ name: `inotify-napi-${name}`, os: ['linux'], cpu: [arch] })
      // napi-rs writes `libc` for the `gnu` and `musl` ABIs only, not for `gnueabihf`: npm then also
      // installs the arm package on musl, where the loader reports that arm has no musl binary.
      expect(manifest.libc, name).toEqual(name.endsWith('-gnueabihf') ? undefined : [libc])
    }
  })

  it("names the missing package, this system, npm's optional-dependency bug and the fix", () => {
    const error = loadError(inputs({ arch: 'arm64', libc: 'musl' }))
    expect(error.code).toBe('ERR_INOTIFY_NATIVE_NOT_FOUND')
    expect(error.message).toContain('is the package inotify-napi-linux-arm64-musl')
    expect(error.message).toContain('Linux arm64 with musl')
    expect(error.message).toContain(NPM_OPTIONAL_DEPENDENCY_BUG)
    expect(error.message).toContain('delete node_modules and package-lock.json and run `npm install` again')
    expect(error.message).toContain('`npm install inotify-napi-linux-arm64-musl@1.2.3`')
    expect(error.message).toContain('--omit=optional')
    expect(error.message).toContain(
      `Looked for: ${PACKAGE_ROOT}/inotify-napi.linux-arm64-musl.node (none), inotify-napi-linux-arm64-musl (not installed).`,
    )
  })

  it("names the real cause, not npm's bug, when the package lists no optional dependencies (a tarball packed from a checkout)", () => {
    const error = loadError(inputs({ optionalDependencies: {} }))
    expect(error.code).toBe('ERR_INOTIFY_NATIVE_NOT_FOUND')
    expect(error.message).toContain('is the package inotify-napi-linux-x64-gnu, and it is not installed')
    expect(error.message).toContain('this inotify-napi@1.2.3 lists no optionalDependencies')
    expect(error.message).toContain('`npm install inotify-napi-linux-x64-gnu@1.2.3`')
    expect(error.message).not.toContain(NPM_OPTIONAL_DEPENDENCY_BUG)
  })

  it('reports a local binary that exists but fails to load, then still looks for the package', () => {
    const local = join(PACKAGE_ROOT, 'inotify-napi.linux-x64-gnu.node')
    const broken = new Error(`${local}: invalid ELF header`)
    const error = loadError(inputs({ modules: { [local]: broken } }))
    expect(error.code).toBe('ERR_INOTIFY_NATIVE_NOT_FOUND')
    expect(error.message).toContain('.node (failed to load: ')
    expect(error.message).toContain('invalid ELF header')
    expect(error.cause).toBe(broken)
  })

  it('refuses a platform package of another version (a stale lock file)', () => {
    const error = loadError(
      inputs({
        modules: {
          'inotify-napi-linux-x64-gnu/package.json': { version: '1.0.0' },
          'inotify-napi-linux-x64-gnu': binding,
        },
      }),
    )
    expect(error.code).toBe('ERR_INOTIFY_NATIVE_LOAD_FAILED')
    expect(error.message).toContain('inotify-napi-linux-x64-gnu@1.0.0 is installed')
    expect(error.message).toContain('inotify-napi-linux-x64-gnu@1.2.3')
    expect(error.message).toContain(NPM_OPTIONAL_DEPENDENCY_BUG)
  })

  it('says when the installed binary fails to load, and points at the C library for a GLIBC error', () => {
    const dlopen = new Error("/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.99' not found")
    const error = loadError(
      inputs({
        modules: {
          'inotify-napi-linux-x64-gnu/package.json': { version: '1.2.3' },
          'inotify-napi-linux-x64-gnu': dlopen,
        },
      }),
    )
    expect(error.code).toBe('ERR_INOTIFY_NATIVE_LOAD_FAILED')
    expect(error.message).toContain('it is installed, and loading it failed')
    expect(error.message).toContain('GLIBC_2.99')
    expect(error.message).toContain('older than the binary needs')
    expect(error.cause).toBe(dlopen)
  })

  it('has no prebuilt binary for other CPUs or for musl on arm, and says how to build one', () => {
    for (const [arch, libc] of [
      ['ia32', 'glibc'],
      ['arm', 'musl'],
      ['mips64el', 'glibc'],
    ] as const) {
      const given = inputs({ arch, libc })
      const error = loadError(given)
      expect(error.code).toBe('ERR_INOTIFY_UNSUPPORTED_PLATFORM')
      expect(error.message).toContain(`no prebuilt binary for Linux ${arch} with ${libc}`)
      expect(error.message).toContain('INOTIFY_NAPI_NATIVE_PATH')
      expect(given.asked).toEqual([])
    }
  })

  it('loads what INOTIFY_NAPI_NATIVE_PATH names first, relative to the current directory', () => {
    const local = join(PACKAGE_ROOT, 'inotify-napi.linux-x64-gnu.node')
    const given = inputs({
      env: { INOTIFY_NAPI_NATIVE_PATH: 'build/my.node', NAPI_RS_NATIVE_LIBRARY_PATH: '/other.node' },
      modules: { '/home/user/project/build/my.node': binding, [local]: {} },
    })
    expect(loadNative(given)).toBe(binding)
    expect(given.asked).toEqual(['/home/user/project/build/my.node'])
  })

  it("honours napi-rs's NAPI_RS_NATIVE_LIBRARY_PATH, also on a system with no prebuilt binary", () => {
    const given = inputs({
      platform: 'android',
      arch: 'arm64',
      env: { NAPI_RS_NATIVE_LIBRARY_PATH: '/opt/inotify.node' },
      modules: { '/opt/inotify.node': binding },
    })
    expect(loadNative(given)).toBe(binding)
  })

  it('fails with the variable and the path when the override does not load, without falling back', () => {
    const local = join(PACKAGE_ROOT, 'inotify-napi.linux-x64-gnu.node')
    const given = inputs({ env: { INOTIFY_NAPI_NATIVE_PATH: '/nope.node' }, modules: { [local]: binding } })
    const error = loadError(given)
    expect(error.code).toBe('ERR_INOTIFY_NATIVE_LOAD_FAILED')
    expect(error.message).toContain('INOTIFY_NAPI_NATIVE_PATH names /nope.node, and loading it failed')
    expect(error.message).toContain("Cannot find module '/nope.node'")
    expect(given.asked).toEqual(['/nope.node'])
  })
})

describe("the loader's check of what it loaded", () => {
  it("refuses an override that loads but is not inotify-napi's binary, naming the file and what it lacks", () => {
    for (const variable of ['INOTIFY_NAPI_NATIVE_PATH', 'NAPI_RS_NATIVE_LIBRARY_PATH']) {
      const given = inputs({
        env: { [variable]: '/opt/lzma.node' },
        modules: { '/opt/lzma.node': { xz: {}, compress: () => 0 } },
      })
      const error = loadError(given)
      expect(error.code).toBe('ERR_INOTIFY_NATIVE_LOAD_FAILED')
      expect(error.message).toContain(`${variable} names /opt/lzma.node, which is not inotify-napi's native binary`)
      expect(error.message).toContain('it has no NativeInotify, no fakeFunction')
      expect(error.message).toContain('it exports: compress, xz')
      expect(given.asked).toEqual(['/opt/lzma.node'])
    }
  })

  it('refuses a binary whose class lacks a method or whose export is not a function', () => {
    const stale = { NativeInotify: class {}, fakeFunction: [] }
    const error = loadError(
      inputs({ env: { INOTIFY_NAPI_NATIVE_PATH: '/opt/old.node' }, modules: { '/opt/old.node': stale } }),
    )
    expect(error.message).toContain('/opt/old.node')
    expect(error.message).toContain('NativeInotify has no addWatch, no fd')
    expect(error.message).toContain('fakeFunction is not a function')
  })

  it('refuses a platform package of the right version whose binary lacks what the package calls', () => {
    const stale = { NativeInotify: class {}, fakeFunction: () => [] }
    const modules = {
      'inotify-napi-linux-x64-gnu/package.json': { version: '1.2.3' },
      'inotify-napi-linux-x64-gnu': stale,
    }
    const error = loadError(inputs({ modules }))
    expect(error.code).toBe('ERR_INOTIFY_NATIVE_LOAD_FAILED')
    expect(error.message).toContain("inotify-napi-linux-x64-gnu@1.2.3 is not inotify-napi's native binary")
    expect(error.message).toContain('NativeInotify has no addWatch, no fd')
  })

  it('takes a stale local binary for a failed load, names it, and says to rebuild', () => {
    const local = join(PACKAGE_ROOT, 'inotify-napi.linux-x64-gnu.node')
    const stale = { NativeInotify: class {}, fakeFunction: () => [] }
    const error = loadError(inputs({ modules: { [local]: stale } }))
    expect(error.code).toBe('ERR_INOTIFY_NATIVE_NOT_FOUND')
    expect(error.message).toContain(
      `${local} (failed to load: inotify-napi: ${local} is not inotify-napi's native binary`,
    )
    expect(error.message).toContain('NativeInotify has no addWatch, no fd')
    expect(error.message).toContain('npm run build')
  })

  it('accepts the binary built from this tree, and names every export that binding.d.cts declares', () => {
    const declared = [
      ...readFileSync(join(ROOT, 'binding.d.cts'), 'utf8').matchAll(/^export declare (?:class|function|const) (\w+)/gm),
    ].map((m) => m[1])
    expect(Object.keys(NATIVE_SURFACE).sort()).toEqual(declared.sort())
    const file = join(ROOT, `inotify-napi.${PREBUILT[process.arch]![detectMusl() ? 'musl' : 'glibc']}.node`)
    if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first (npm test does)`)
    const given = inputs({ env: { INOTIFY_NAPI_NATIVE_PATH: file }, require, surface: NATIVE_SURFACE })
    expect(typeof (loadNative(given) as { NativeInotify: unknown }).NativeInotify).toBe('function')
  })
})

/** The directory Node's own C headers (`node_api.h`) are in: next to this node, or the system's. */
function nodeHeaders(): string {
  const candidates = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node']
  const found = candidates.find((dir) => existsSync(join(dir, 'node_api.h')))
  if (found === undefined)
    throw new Error(`node_api.h is in none of ${candidates.join(', ')}: the foreign-addon test needs Node's headers`)
  return found
}

describe('a foreign native addon named by the override variables', () => {
  let work: ReturnType<typeof makeTempDir>
  let foreign: string

  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist', 'index.js')))
      throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
    work = makeTempDir('inotify-napi-foreign-')
    foreign = join(work.dir, 'foreign.node')
    const cc = spawnSync(
      'cc',
      ['-shared', '-fPIC', '-O1', '-I', nodeHeaders(), '-o', foreign, join(__dirname, 'fixtures', 'foreign-addon.c')],
      { encoding: 'utf8' },
    )
    if (cc.status !== 0) throw new Error(`cc failed (${cc.error?.message ?? cc.status}): ${cc.stderr}`)
  })

  afterAll(() => work?.cleanup())

  it('is a real addon: it loads and its function answers', () => {
    expect((require(foreign) as { hello: () => string }).hello()).toBe('not inotify-napi')
  })

  it('fails at import with NativeLoadError naming the file and what it lacks, for either variable', () => {
    for (const variable of ['INOTIFY_NAPI_NATIVE_PATH', 'NAPI_RS_NATIVE_LIBRARY_PATH']) {
      const script = `const { Inotify } = require(${JSON.stringify(join(ROOT, 'dist', 'index.js'))}); new Inotify().close()`
      const result = spawnSync(process.execPath, ['-e', script], {
        env: { ...process.env, [variable]: foreign },
        encoding: 'utf8',
        timeout: 20_000,
      })
      expect(result.status, variable).not.toBe(0)
      expect(result.stderr).not.toContain('is not a constructor')
      expect(result.stderr).toContain('NativeLoadError')
      expect(result.stderr).toContain(`${variable} names ${foreign}, which is not inotify-napi's native binary`)
      expect(result.stderr).toContain('it has no NativeInotify')
      expect(result.stderr).toContain('it exports: hello')
    }
  })
})

describe('musl detection', () => {
  const alpineMaps = [
    '55d0c0a00000-55d0c0c00000 r--p 00000000 00:2f 1234  /usr/local/bin/node',
    '7f3a1c000000-7f3a1c015000 r--p 00000000 00:2f 5678  /usr/lib/libstdc++.so.6.0.32',
    '7f3a1c100000-7f3a1c114000 r--p 00000000 00:2f 9012  /lib/ld-musl-x86_64.so.1',
    '7ffd5e1f0000-7ffd5e211000 rw-p 00000000 00:00 0     [stack]',
  ].join('\n')
  const debianMaps = [
    '55d0c0a00000-55d0c0c00000 r--p 00000000 00:2f 1234  /usr/bin/node',
    '7f3a1c000000-7f3a1c028000 r--p 00000000 00:2f 5678  /usr/lib/x86_64-linux-gnu/libc.so.6',
    '7f3a1c100000-7f3a1c102000 r--p 00000000 00:2f 9012  /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
  ].join('\n')
  const noReport = (): never => {
    throw new Error('process.report must not be needed')
  }

  /** A fake file reader over a table of paths. */
  const files =
    (table: Record<string, string>) =>
    (path: string): string | undefined =>
      table[path]

  it("reads the process's own mappings: ld-musl means musl (Alpine), libc.so.6 means glibc", () => {
    expect(detectMusl(files({ '/proc/self/maps': alpineMaps, '/usr/bin/ldd': 'GNU C Library' }), noReport)).toBe(true)
    expect(detectMusl(files({ '/proc/self/maps': debianMaps, '/usr/bin/ldd': 'musl' }), noReport)).toBe(false)
  })

  it('falls back to /usr/bin/ldd without /proc', () => {
    const alpineLdd = '#!/bin/sh\nexec /lib/ld-musl-aarch64.so.1 --list "$@"\n'
    expect(detectMusl(files({ '/usr/bin/ldd': alpineLdd }), noReport)).toBe(true)
    expect(detectMusl(files({ '/usr/bin/ldd': readFileSync('/usr/bin/ldd', 'latin1') }), noReport)).toBe(false)
  })

  it('asks process.report last: a glibc Node reports glibcVersionRuntime', () => {
    expect(detectMusl(files({}), () => ({ header: { glibcVersionRuntime: '2.36' } }))).toBe(false)
    expect(detectMusl(files({}), () => ({ header: {} }))).toBe(true)
    expect(detectMusl(files({}), () => undefined)).toBe(false)
  })

  it("agrees with Node's own report on this machine", () => {
    const report = process.report.getReport() as { header: { glibcVersionRuntime?: string } }
    expect(detectMusl()).toBe(!report.header.glibcVersionRuntime)
  })
})
