import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, posix, resolve } from 'node:path'
import semver from 'semver'
import { beforeAll, describe, expect, it } from 'vitest'

const ROOT = resolve(__dirname, '..')

function node(args: string[]): { status: number | null; stdout: string; stderr: string } {
  if (!existsSync(resolve(ROOT, 'dist/index.js')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
  // The package refers to itself by name through its "exports" map, as a user's code would.
  return spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 20_000 })
}

describe('the package entry points', () => {
  it('loads with require and with import, and both give the same classes', () => {
    const script = `
      const cjs = require('inotify-napi')
      import('inotify-napi').then((esm) => {
        const i = new esm.Inotify()
        console.log(JSON.stringify({
          same: esm.Inotify === cjs.Inotify && esm.InotifyError === cjs.InotifyError,
          create: esm.IN_CREATE, frozen: Object.isFrozen(esm.constants), fd: i.fd > 0,
        }))
        i.close()
      })`
    const result = node(['-e', script])
    expect(result.stderr).toBe('')
    expect(JSON.parse(result.stdout)).toEqual({ same: true, create: 256, frozen: true, fd: true })
  })

  it('runs as an ES module importing named exports', () => {
    const result = node([
      '--input-type=module',
      '-e',
      "import { Inotify, maskToNames } from 'inotify-napi'; const i = new Inotify(); console.log(maskToNames(0x40000100).join()); i.close()",
    ])
    expect(result.stderr).toBe('')
    expect(result.stdout.trim()).toBe('IN_ISDIR,IN_CREATE')
  })

  // The three ways tools load @parcel/watcher, which an `overrides` entry makes load this package.
  const PARCEL_API = ['subscribe', 'unsubscribe', 'writeSnapshot', 'getEventsSince']
  const PARCEL_MEMBERS = `const members = (m) => Object.fromEntries(${JSON.stringify(PARCEL_API)}.map((k) => [k, typeof m?.[k] === 'function' && m[k] === cjs[k]]))`
  const AS_PARCEL = Object.fromEntries(PARCEL_API.map((k) => [k, true]))

  it("gives @parcel/watcher's four functions to require, to named imports and to the default import", () => {
    const script = `
      import { createRequire } from 'node:module'
      import * as named from 'inotify-napi'
      import watcher from 'inotify-napi'
      const cjs = createRequire(process.cwd() + '/')('inotify-napi')
      ${PARCEL_MEMBERS}
      // Tailwind CSS 4's CLI: (await import('@parcel/watcher')).default
      const dynamicDefault = (await import('inotify-napi')).default
      console.log(JSON.stringify({ require: members(cjs), named: members(named), default: members(watcher), dynamicDefault: members(dynamicDefault) }))`
    const result = node(['--input-type=module', '-e', script])
    expect(result.stderr).toBe('')
    expect(JSON.parse(result.stdout)).toEqual({
      require: AS_PARCEL,
      named: AS_PARCEL,
      default: AS_PARCEL,
      dynamicDefault: AS_PARCEL,
    })
  })

  it("gives the same members through CommonJS interop that reads an __esModule module's default, as Parcel's bundle does", () => {
    const script = `
      const cjs = require('inotify-napi')
      ${PARCEL_MEMBERS}
      // Parcel's bundled require of @parcel/watcher, and TypeScript's esModuleInterop default import.
      const interop = cjs && cjs.__esModule ? cjs.default : cjs
      import('inotify-napi').then((esm) => console.log(JSON.stringify({
        esModule: cjs.__esModule, interop: members(interop), esmDefaultIsExports: esm.default === cjs,
      })))`
    const result = node(['-e', script])
    expect(result.stderr).toBe('')
    expect(JSON.parse(result.stdout)).toEqual({ esModule: true, interop: AS_PARCEL, esmDefaultIsExports: true })
  })

  it('bundles types that check for ES module and CommonJS consumers', () => {
    const tsc = resolve(ROOT, 'node_modules/typescript/bin/tsc')
    const result = node([
      tsc,
      '--noEmit',
      '--strict',
      '--module',
      'node16',
      '--moduleResolution',
      'node16',
      '--target',
      'es2022',
      '--types',
      'node',
      '--skipLibCheck',
      '__test__/fixtures/consumer.mts',
      '__test__/fixtures/consumer.cts',
    ])
    expect(result.stdout + result.stderr).toBe('')
    expect(result.status).toBe(0)
  })

  it('keeps the napi-generated binding.d.cts out of the public types, and exports no EventSource', () => {
    const { reached, imports } = declarationsReachedFrom(['dist/index.d.ts', 'dist/index.d.mts'])
    // The entries, the classes' modules and the types they name are reached (the walk works) ...
    expect(reached).toEqual(expect.arrayContaining(['dist/inotify.d.ts', 'dist/tree.d.ts', 'dist/watch.d.ts']))
    // ... and none of them imports the binding's types, directly or through the native session.
    expect(imports.filter((i) => /binding|native/.test(i.specifier))).toEqual([])
    expect(reached.filter((file) => /native/.test(file))).toEqual([])
    const result = node(['-e', "const m = require('inotify-napi'); console.log(JSON.stringify('EventSource' in m))"])
    expect(result.stderr).toBe('')
    expect(result.stdout.trim()).toBe('false')
  })
})

/**
 * The declaration files reached from `entries` by following relative imports (`from './x'`,
 * `import('./x')`), as a consumer's compiler does, with every import seen on the way.
 */
function declarationsReachedFrom(entries: readonly string[]): {
  reached: string[]
  imports: { file: string; specifier: string }[]
} {
  const reached = new Set<string>()
  const imports: { file: string; specifier: string }[] = []
  const todo = [...entries]
  for (let file = todo.pop(); file !== undefined; file = todo.pop()) {
    if (reached.has(file)) continue
    reached.add(file)
    const text = readFileSync(join(ROOT, file), 'utf8')
    for (const [, specifier] of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)['"]([^'"]+)['"]/g)) {
      if (specifier === undefined || !specifier.startsWith('.')) continue
      imports.push({ file, specifier })
      const base = posix.join(posix.dirname(file), specifier.replace(/\.[cm]?js$/, ''))
      const found = ['.d.ts', '.d.mts', '.d.cts'].map((ext) => base + ext).find((f) => existsSync(join(ROOT, f)))
      if (found === undefined) throw new Error(`${file} imports ${specifier}, which has no declaration file`)
      todo.push(found)
    }
  }
  return { reached: [...reached].sort(), imports }
}

/** package.json, as parsed. */
function manifest(): Record<string, unknown> & { engines: { node: string } } {
  return JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown> & {
    engines: { node: string }
  }
}

/** One entry of package-lock.json's `packages` table. */
interface LockEntry {
  version?: string
  engines?: { node?: string } | string[]
  [field: string]: unknown
}

function lockPackages(): Record<string, LockEntry> {
  return (JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> })
    .packages
}

describe('the package metadata', () => {
  it('resolves no package in package-lock.json whose engines exclude a Node version the package claims', () => {
    const claimed = manifest().engines.node
    const excluding: string[] = []
    for (const [path, entry] of Object.entries(lockPackages())) {
      // Old lock entries may hold engines as an array of strings; npm reads only the object form.
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node
      if (path === '' || range === undefined) continue
      if (!semver.subset(claimed, range)) excluding.push(`${path}@${entry.version} wants node ${range}`)
    }
    expect(excluding, `npm ci warns EBADENGINE on part of ${claimed}`).toEqual([])
  })

  it("keeps package-lock.json's root entry equal to package.json, so npm leaves the lock file unchanged", () => {
    const pkg = manifest()
    const root = lockPackages()['']!
    // The fields npm copies from package.json into the lock's root entry (bin without its "./").
    const bin = Object.fromEntries(
      Object.entries((pkg.bin ?? {}) as Record<string, string>).map(([k, v]) => [k, v.replace(/^\.\//, '')]),
    )
    const fields = [
      'name',
      'version',
      'license',
      'os',
      'cpu',
      'libc',
      'engines',
      'dependencies',
      'devDependencies',
      'optionalDependencies',
      'peerDependencies',
    ]
    expect(Object.fromEntries(fields.map((f) => [f, root[f]]))).toEqual(
      Object.fromEntries(fields.map((f) => [f, pkg[f]])),
    )
    expect(root.bin).toEqual(bin)
  })

  it("gives an overrides recipe in the README and the CHANGELOG whose range takes this package's version", () => {
    const version = manifest().version as string
    for (const file of ['README.md', 'CHANGELOG.md']) {
      const text = readFileSync(join(ROOT, file), 'utf8')
      const ranges = [...text.matchAll(/"@parcel\/watcher":\s*"npm:inotify-napi@([^"]+)"/g)].map((m) => m[1]!)
      expect(ranges.length, file).toBeGreaterThan(0)
      for (const range of ranges)
        expect(semver.satisfies(version, range), `${file}: ${range} takes ${version}`).toBe(true)
    }
  })

  it('names the Node versions engines allows, in the README, wherever it names one', () => {
    // `^20.19.0 || ^22.13.0 || >=24.0.0` reads "Node 20.19+, 22.13+ or 24+".
    const floors = semver
      .validRange(manifest().engines.node)!
      .split('||')
      .map((part) => {
        const min = semver.minVersion(part.trim())!
        return min.minor === 0 && min.patch === 0 ? `${min.major}+` : `${min.major}.${min.minor}+`
      })
    const expected = `Node ${floors.slice(0, -1).join(', ')} or ${floors.at(-1)}`
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const named = [...readme.matchAll(/Node \d+(?:\.\d+)?\+(?:,? (?:or )?\d+(?:\.\d+)?\+)*/g)].map((m) => m[0])
    expect(named.length).toBeGreaterThan(0)
    for (const claim of named) expect(claim).toBe(expected)
  })
})

/** The files `npm pack` would put in the tarball, as it lists them. */
function packedFiles(): string[] {
  const result = spawnSync(
    'npm',
    ['pack', '--dry-run', '--json', '--ignore-scripts', '--offline', '--no-update-notifier'],
    {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    },
  )
  if (result.status !== 0)
    throw new Error(`npm pack --dry-run exited ${result.status ?? result.signal}: ${result.stderr}`)
  const packed = JSON.parse(result.stdout) as { files: { path: string }[] }[]
  expect(packed).toHaveLength(1)
  return packed[0]!.files.map((f) => f.path)
}

describe('the packed tarball', () => {
  let files: string[]
  beforeAll(() => {
    if (!existsSync(resolve(ROOT, 'dist/index.js')))
      throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
    files = packedFiles()
  })

  it('ships the MIT LICENSE that package.json names, and the CHANGELOG.md the README points at', () => {
    expect(files).toContain('LICENSE')
    expect(files).toContain('CHANGELOG.md')
    expect(manifest().license).toBe('MIT')
    const license = readFileSync(join(ROOT, 'LICENSE'), 'utf8')
    expect(license).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} inotify-napi contributors\n/)
    expect(license).toContain('Permission is hereby granted, free of charge, to any person obtaining a copy')
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain('CHANGELOG.md')
  })

  it('ships source maps that carry their sources, so each maps to readable TypeScript without src/', () => {
    const maps = files.filter((f) => f.endsWith('.map'))
    expect(maps.length).toBeGreaterThan(0)
    for (const map of maps) {
      const parsed = JSON.parse(readFileSync(join(ROOT, map), 'utf8')) as {
        file: string
        sourceRoot?: string
        sources: string[]
        sourcesContent?: (string | null)[]
      }
      expect(files, `${map} maps ${parsed.file}`).toContain(posix.join(posix.dirname(map), parsed.file))
      expect(parsed.sources.length, map).toBeGreaterThan(0)
      parsed.sources.forEach((source, i) => {
        const shipped = posix.join(posix.dirname(map), parsed.sourceRoot ?? '', source)
        if (files.includes(shipped)) return
        // Not in the tarball: the map must hold the text itself, and it must be today's source.
        const inlined = parsed.sourcesContent?.[i]
        expect(typeof inlined, `${map}: ${source} is neither shipped nor inlined`).toBe('string')
        expect(
          inlined === readFileSync(join(ROOT, shipped), 'utf8'),
          `${map}: the inlined ${source} is not today's`,
        ).toBe(true)
      })
    }
  })

  it('ships no compiled file whose TypeScript source is gone (a stale dist/)', () => {
    const sources = new Set(readdirSync(join(ROOT, 'src')).map((f) => f.replace(/\.(m?)ts$/, '.$1js')))
    const orphans = files
      .filter((f) => f.startsWith('dist/'))
      .map((f) =>
        f
          .slice('dist/'.length)
          .replace(/\.d\.(m?)ts$/, '.$1js')
          .replace(/\.map$/, ''),
      )
      .filter((f) => !sources.has(f))
    expect(orphans).toEqual([])
  })
})
