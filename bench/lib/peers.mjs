// The peers of the tree scenarios (@parcel/watcher, chokidar), from bench/'s own package.json and
// package-lock.json: they are the benchmark's dependencies, never the published package's.
//
// ensurePeers() installs them with `npm ci` in bench/ when one is missing or is not the version the
// lockfile pins, so that `npm run bench` works from a fresh clone; loadPeer() loads one in a watcher
// process.
//
// No network surprises: when bench/node_modules matches the lockfile, nothing is run at all. Otherwise
// it is one `npm ci` (exact versions and integrity hashes from bench/package-lock.json, fetched from
// the registry npm is configured with), with no install scripts (--ignore-scripts: @parcel/watcher's
// prebuilt binary comes as an optional dependency; its own install script would only build from
// source, which needs node-gyp and Node's headers from the network), no audit and no funding calls.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { benchDir } from './load.mjs'

export const PEERS = ['@parcel/watcher', 'chokidar']

/** The installed version of a peer, or null when it is not installed. */
export function peerVersion(name, dir = benchDir) {
  try {
    return JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')).version
  } catch {
    return null
  }
}

/** The version bench/package-lock.json pins for a peer (null without a lockfile). */
function lockedVersion(name, dir) {
  try {
    return (
      JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')).packages[`node_modules/${name}`]?.version ?? null
    )
  } catch {
    return null
  }
}

/**
 * Installs bench/'s dependencies from its lockfile when a peer is missing or differs from the
 * lockfile; returns their versions. `dir` is for testing (default bench/).
 */
export function ensurePeers(dir = benchDir) {
  const stale = PEERS.filter((name) => {
    const installed = peerVersion(name, dir)
    const locked = lockedVersion(name, dir)
    return installed === null || (locked !== null && installed !== locked)
  })
  if (stale.length > 0) {
    const lock = existsSync(join(dir, 'package-lock.json'))
    const argv = [lock ? 'ci' : 'install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefix', dir]
    process.stderr.write(
      `bench: installing the peers (${stale.join(', ')} missing or not as locked): npm ${argv.join(' ')}\n`,
    )
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    try {
      execFileSync(npm, argv, { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] })
    } catch (error) {
      throw new Error(
        `npm ${argv.join(' ')} failed (${error.message.split('\n')[0]}). The tree scenarios need @parcel/watcher ` +
          `and chokidar in ${join(dir, 'node_modules')}: install them there yourself (npm ci --prefix ${dir}), ` +
          'or run only the plain scenarios (--scenario latency --scenario burst)',
      )
    }
  }
  const versions = {}
  for (const name of PEERS) {
    versions[name] = peerVersion(name, dir)
    if (versions[name] === null) throw new Error(`${name} is still missing after npm ci in ${dir}`)
  }
  return versions
}

/** Loads a peer by package name (bench/node_modules is found from this file's directory). */
export async function loadPeer(name) {
  const module = await import(name)
  // @parcel/watcher is CommonJS: its exports are the default export.
  return name === '@parcel/watcher' ? (module.default ?? module) : module
}
