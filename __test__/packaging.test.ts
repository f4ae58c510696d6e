/**
 * What a user gets from `npm install`: the main package and this machine's platform package are
 * packed as they would be published, installed into a fresh project with no compiler, no Rust and
 * no Python on PATH and with install scripts off, then used from there.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { delimiter, dirname, join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { detectMusl, prebuiltName } from '../src/loader'
import { makeTempDir } from './helpers'

const ROOT = resolve(__dirname, '..')
const PLATFORM = prebuiltName(process.arch, detectMusl() ? 'musl' : 'glibc')
const PLATFORM_PACKAGE = `inotify-napi-${PLATFORM}`
const BINARY = `inotify-napi.${PLATFORM}.node`
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
/** The tools a zero-toolchain install must not need. */
const TOOLCHAIN = ['cargo', 'rustc', 'rustup', 'cc', 'gcc', 'g++', 'clang', 'make', 'python', 'python3', 'node-gyp']

/** One packed file, as `npm pack --json` lists it. */
interface PackedFile {
  path: string
  size: number
}
/** What `npm pack --json` says of one tarball. */
interface Packed {
  filename: string
  size: number
  unpackedSize: number
  files: PackedFile[]
}

/** npm's own CLI script, run with this very node (`npm test` sets npm_execpath). */
function npmCli(): string {
  const fromEnv = process.env.npm_execpath
  if (fromEnv !== undefined && /npm-cli\.js$/.test(fromEnv)) return fromEnv
  return join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js')
}

let work: ReturnType<typeof makeTempDir>
/** The environment of every command below: PATH holds node and npm only. */
let env: NodeJS.ProcessEnv
let mainPack: Packed
let platformPack: Packed
/** The runtime dependencies, each packed from this checkout's node_modules (the install is offline). */
let dependencyPacks: Packed[]

/** Runs `command` with the stripped environment; throws with its output when it fails and `check` is set. */
function run(command: string, args: string[], cwd: string, check = true): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: 120_000 })
  if (check && result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.status ?? result.signal}:\n${result.stdout}\n${result.stderr}`,
    )
  }
  return result
}

/** `npm <args>` in `cwd`, never touching the network or the machine's npm config. */
function npm(args: string[], cwd: string): SpawnSyncReturns<string> {
  return run(
    'npm',
    [...args, '--offline', '--no-audit', '--no-fund', '--no-update-notifier', '--cache', join(work.dir, 'npm-cache')],
    cwd,
  )
}

/** Packs the package in `dir` into the work dir and returns what npm says of the tarball. */
function pack(dir: string): Packed {
  const result = npm(['pack', '--json', '--pack-destination', join(work.dir, 'tarballs')], dir)
  const packed = JSON.parse(result.stdout) as Packed[]
  expect(packed).toHaveLength(1)
  return packed[0]!
}

/** `dependencies` of the package.json in `dir`. */
function dependenciesOf(dir: string): string[] {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: object }
  return Object.keys(manifest.dependencies ?? {})
}

/** The runtime dependencies of this package, and theirs, as installed in its node_modules. */
function runtimeDependencies(): string[] {
  const found = new Set<string>()
  const visit = (dir: string): void => {
    for (const name of dependenciesOf(dir)) {
      if (found.has(name)) continue
      found.add(name)
      visit(join(ROOT, 'node_modules', name))
    }
  }
  visit(ROOT)
  return [...found].sort()
}

/**
 * A fresh project with the given tarballs installed the way a user without a toolchain would (with
 * the runtime dependencies, which the registry would bring).
 */
function project(name: string, tarballs: Packed[]): string {
  const dir = join(work.dir, name)
  mkdirSync(dir)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }))
  const all = [...dependencyPacks, ...tarballs]
  npm(['install', '--ignore-scripts', ...all.map((t) => join(work.dir, 'tarballs', t.filename))], dir)
  copyFileSync(join(__dirname, 'fixtures', 'installed-smoke.mjs'), join(dir, 'smoke.mjs'))
  return dir
}

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`

describe.skipIf(PLATFORM === undefined)(`installing from the packed tarballs (${PLATFORM})`, () => {
  beforeAll(() => {
    if (!existsSync(join(ROOT, BINARY)) || !existsSync(join(ROOT, 'dist', 'index.js'))) {
      throw new Error(`${BINARY} or dist/ is missing: run \`npm run build\` first (npm test does)`)
    }
    work = makeTempDir('inotify-napi-packaging-')
    const bin = join(work.dir, 'bin')
    mkdirSync(bin)
    mkdirSync(join(work.dir, 'tarballs'))
    symlinkSync(process.execPath, join(bin, 'node'))
    symlinkSync(npmCli(), join(bin, 'npm'))
    writeFileSync(join(work.dir, 'npmrc'), '')
    env = { PATH: bin, HOME: work.dir, TMPDIR: work.dir, npm_config_userconfig: join(work.dir, 'npmrc') }

    // The platform package as the release workflow assembles it: the generated npm/<platform>/
    // directory plus the binary (what `napi artifacts` copies in), here the one `npm run build` made.
    const platformDir = join(work.dir, PLATFORM!)
    mkdirSync(platformDir)
    for (const file of readdirSync(join(ROOT, 'npm', PLATFORM!)))
      copyFileSync(join(ROOT, 'npm', PLATFORM!, file), join(platformDir, file))
    copyFileSync(join(ROOT, BINARY), join(platformDir, BINARY))
    mainPack = pack(ROOT)
    platformPack = pack(platformDir)
    dependencyPacks = runtimeDependencies().map((name) => pack(join(ROOT, 'node_modules', name)))
  })

  afterAll(() => work?.cleanup())

  it('runs npm with no compiler, Rust or Python on PATH', () => {
    for (const dir of env.PATH!.split(delimiter)) {
      for (const tool of TOOLCHAIN) expect(existsSync(join(dir, tool)), `${tool} in ${dir}`).toBe(false)
    }
    expect(readdirSync(env.PATH!).sort()).toEqual(['node', 'npm'])
  })

  it('packs the main package with the compiled JavaScript and types, and no sources or binaries', () => {
    const paths = mainPack.files.map((f) => f.path)
    console.log(
      `${mainPack.filename}: ${kb(mainPack.size)} packed, ${kb(mainPack.unpackedSize)} unpacked, ${paths.length} files`,
    )
    expect(paths).toContain('package.json')
    expect(paths).toContain('README.md')
    expect(paths).toContain('LICENSE')
    expect(paths).toContain('CHANGELOG.md')
    expect(paths).toContain('dist/index.js')
    expect(paths).toContain('dist/index.mjs')
    expect(paths).toContain('dist/index.d.ts')
    expect(paths).toContain('dist/index.d.mts')
    expect(paths).toContain('dist/loader.js')
    expect(paths).toContain('binding.d.cts')
    for (const path of paths) {
      expect(path, 'only package.json, README, LICENSE, CHANGELOG, binding.d.cts and dist/').toMatch(
        /^(package\.json|README\.md|LICENSE(\.md)?|CHANGELOG\.md|binding\.d\.cts|dist\/.+)$/,
      )
      expect(path, 'no TypeScript sources').not.toMatch(/(?<!\.d)\.(ts|mts|cts)$/)
      expect(path, 'no binary: it comes from the platform package').not.toMatch(/\.node$/)
    }
    // Two, both @parcel/watcher's own, for its `ignore` (subscribe() reads it exactly as it does).
    expect(dependenciesOf(ROOT), 'runtime dependencies').toEqual(['is-glob', 'picomatch'])
    expect(runtimeDependencies(), 'with theirs').toEqual(['is-extglob', 'is-glob', 'picomatch'])
  })

  it('packs the platform package with its binary, package.json and README only', () => {
    console.log(`${platformPack.filename}: ${kb(platformPack.size)} packed, ${kb(platformPack.unpackedSize)} unpacked`)
    expect(platformPack.files.map((f) => f.path).sort()).toEqual([BINARY, 'README.md', 'package.json'].sort())
  })

  it('reports the newest glibc symbol version the binary needs (its glibc floor)', () => {
    const versions = [...readFileSync(join(ROOT, BINARY), 'latin1').matchAll(/GLIBC_(\d+(?:\.\d+)+)\0/g)].map(
      (m) => m[1]!,
    )
    const newer = (a: string, b: string): number => {
      const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)]
      for (let i = 0; i < Math.max(x.length, y.length); i++)
        if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0)
      return 0
    }
    const floor = versions.sort(newer).at(-1)
    const runtime = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header
      .glibcVersionRuntime
    console.log(`${BINARY} needs glibc ${floor ?? '(none: musl)'}; this system has ${runtime ?? 'musl'}`)
    if (PLATFORM!.endsWith('-musl')) expect(floor).toBeUndefined()
    else expect(newer(floor!, runtime!)).toBeLessThanOrEqual(0)
  })

  it('installs both tarballs with --ignore-scripts, then require and import work and a watch sees an event', () => {
    const dir = project('with-platform-package', [mainPack, platformPack])
    expect(existsSync(join(dir, 'node_modules', PLATFORM_PACKAGE, BINARY))).toBe(true)
    const result = run('node', ['smoke.mjs'], dir, false)
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
    const report = JSON.parse(result.stdout) as { seen: string[]; binary: string[] }
    expect(report.seen).toEqual(expect.arrayContaining(['IN_CREATE', 'IN_CLOSE_WRITE']))
    expect(report.binary).toEqual([join(dir, 'node_modules', PLATFORM_PACKAGE, BINARY)])
  })

  it('packs a manifest with no optionalDependencies, as `npm pack` in a checkout does (the release adds them at publish)', () => {
    const dir = project('packed-manifest', [mainPack])
    const packed = JSON.parse(
      readFileSync(join(dir, 'node_modules', 'inotify-napi', 'package.json'), 'utf8'),
    ) as Record<string, unknown>
    expect(packed.version).toBe(VERSION)
    expect(packed.optionalDependencies).toBeUndefined()
  })

  it("fails with the loader's one error naming the real cause when only the main package, packed from a checkout, is installed", () => {
    const dir = project('without-platform-package', [mainPack])
    for (const args of [
      ['-e', "require('inotify-napi')"],
      ['--input-type=module', '-e', "import 'inotify-napi'"],
    ]) {
      const result = run('node', args, dir, false)
      expect(result.status).not.toBe(0)
      expect(result.stderr).toContain('NativeLoadError')
      expect(result.stderr).toContain(`is the package ${PLATFORM_PACKAGE}, and it is not installed`)
      expect(result.stderr).toContain(`this inotify-napi@${VERSION} lists no optionalDependencies`)
      expect(result.stderr).toContain(`npm install ${PLATFORM_PACKAGE}@${VERSION}`)
      // npm was never asked for the platform package, so its optional-dependency bug is not the cause.
      expect(result.stderr).not.toContain('https://github.com/npm/cli/issues/4828')
    }
  })
})
