/**
 * The packages under test, packed as they would be published, and the projects that install the tools
 * from the npm registry: one with `@parcel/watcher` overridden by the packed inotify-napi, one with
 * `@parcel/watcher` itself.
 */
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** The tools, pinned so that a run is repeatable; the versions issue #14 was measured with. */
export const TOOLS = {
  tailwindcss: '4.3.5',
  '@tailwindcss/cli': '4.3.5',
  parcel: '2.16.4',
}

/** What each project's `@parcel/watcher` is. */
export const VARIANTS = ['inotify-napi', '@parcel/watcher']

/**
 * Packs the main package and this machine's platform package into `dir`. `npm pack` in a checkout
 * lists no optionalDependencies (the release adds them at publish), so the platform package is packed
 * from `npm/<platform>/` plus the binary `npm run build` made, as the release assembles it, and the
 * project installs it next to the override.
 * @param {string} root the checkout
 * @param {string} platform e.g. `linux-x64-gnu`
 * @param {string} dir where the tarballs go
 */
export async function packTarballs(root, platform, dir) {
  const binary = `inotify-napi.${platform}.node`
  for (const needed of [join(root, binary), join(root, 'dist', 'index.js')]) {
    if (!existsSync(needed)) throw new Error(`${needed} is missing: run \`npm run build\` first`)
  }
  mkdirSync(dir, { recursive: true })
  const platformDir = join(dir, `platform-${platform}`)
  mkdirSync(platformDir)
  for (const file of readdirSync(join(root, 'npm', platform)))
    copyFileSync(join(root, 'npm', platform, file), join(platformDir, file))
  copyFileSync(join(root, binary), join(platformDir, binary))
  return { main: await pack(root, dir), platform: await pack(platformDir, dir) }
}

async function pack(packageDir, destination) {
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', destination], { cwd: packageDir })
  const [packed] = JSON.parse(stdout)
  return join(destination, packed.filename)
}

/**
 * Writes and installs the project of one variant in `dir`, from the npm registry, without install
 * scripts (neither inotify-napi nor the tools' prebuilt binaries need one).
 * @param {string} dir
 * @param {string} variant one of {@link VARIANTS}
 * @param {{ main: string, platform: string, platformName: string }} tarballs
 */
export async function installProject(dir, variant, tarballs) {
  mkdirSync(dir, { recursive: true })
  const manifest = { name: `clients-${variant.replace(/\W/g, '')}`, version: '1.0.0', private: true }
  manifest.dependencies = { ...TOOLS }
  if (variant === 'inotify-napi') {
    manifest.dependencies[`inotify-napi-${tarballs.platformName}`] = `file:${tarballs.platform}`
    manifest.overrides = { '@parcel/watcher': `file:${tarballs.main}` }
  }
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  await run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--no-update-notifier'], {
    cwd: dir,
    maxBuffer: 16 * 1024 * 1024,
  })
  const found = watcherPackages(join(dir, 'node_modules'))
  const expected = variant === 'inotify-napi' ? 'inotify-napi' : '@parcel/watcher'
  const wrong = found.filter((p) => p.name !== expected)
  if (found.length === 0 || wrong.length > 0) {
    throw new Error(
      `${dir}: every node_modules/@parcel/watcher should be ${expected}, found ` +
        (found.map((p) => `${p.name}@${p.version} at ${p.dir}`).join(', ') || 'none'),
    )
  }
  return found
}

/** Every `@parcel/watcher` npm installed under `nodeModules`, however deep, with what it really is. */
function watcherPackages(nodeModules) {
  const found = []
  const visit = (modules) => {
    if (!existsSync(modules)) return
    const candidate = join(modules, '@parcel', 'watcher')
    if (existsSync(join(candidate, 'package.json'))) {
      const { name, version } = JSON.parse(readFileSync(join(candidate, 'package.json'), 'utf8'))
      found.push({ name, version, dir: candidate })
    }
    for (const entry of readdirSync(modules, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue
      const packages = entry.name.startsWith('@')
        ? readdirSync(join(modules, entry.name)).map((n) => join(modules, entry.name, n))
        : [join(modules, entry.name)]
      for (const pkg of packages) visit(join(pkg, 'node_modules'))
    }
  }
  visit(nodeModules)
  return found
}
