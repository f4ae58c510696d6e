// The run's header: the machine, what was measured (the package's commit and build times, the
// peers' versions) and the configuration, printed before the tables and kept in the results file.
import { execFileSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import os from 'node:os'
import { join, relative } from 'node:path'
import { packageVersion, rootDir } from './load.mjs'
import { readProc } from './proc.mjs'

/** The machine the run is on, and the inotify limits it has. */
export function machine(config) {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    os: `${os.type()} ${os.release()}`,
    kernel: os.release(),
    node: process.version,
    maxQueuedEvents: readProc('/proc/sys/fs/inotify/max_queued_events'),
    maxUserWatches: readProc('/proc/sys/fs/inotify/max_user_watches'),
    loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
    watchedFs: filesystemOf(config.base),
  }
}

function filesystemOf(dir) {
  try {
    return execFileSync('findmnt', ['-n', '-o', 'FSTYPE', '-T', dir], { encoding: 'utf8' }).trim().split('\n')[0]
  } catch {
    return 'unknown'
  }
}

/** The machine in one line, as the header and the chart print it. */
export const machineLine = (m) => `${m.cpu}, ${m.cores} cores, ${m.os}, Node ${m.node}, load ${m.loadAverage.join(' ')}`

/**
 * What was measured: the package (its commit, and when dist/ and the addon were built), the C compiler
 * (`cc`: its version line, or undefined) and the peers.
 */
export function versions(cc, peerVersions) {
  let commit = null
  let dirty = null
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: rootDir, encoding: 'utf8' }).trim()
    dirty =
      execFileSync('git', ['status', '--porcelain', '--', 'src', 'crates'], {
        cwd: rootDir,
        encoding: 'utf8',
      }).trim() !== ''
  } catch {}
  let distBuilt = null
  try {
    distBuilt = statSync(join(rootDir, 'dist', 'index.js')).mtime.toISOString()
  } catch {}
  // The native addon is built apart from dist/ (the newest *.node at the root, if any).
  let addonBuilt = null
  try {
    const times = readdirSync(rootDir)
      .filter((name) => name.endsWith('.node'))
      .map((name) => statSync(join(rootDir, name)).mtimeMs)
    if (times.length) addonBuilt = new Date(Math.max(...times)).toISOString()
  } catch {}
  return {
    'inotify-napi': packageVersion(),
    commit,
    srcDirty: dirty,
    distBuilt,
    addonBuilt,
    napi: process.versions.napi,
    libuv: process.versions.uv,
    cc: cc ?? null,
    ...peerVersions,
  }
}

/** Prints the header: `m` from machine(), `v` from versions(), one line per selected scenario. */
export function printHeader({ config, selected, cReader, cWalker }, m, v) {
  console.log(
    `inotify-napi benchmark: ${config.quick ? 'quick, ' : ''}${config.runs} run(s) per scenario, medians of runs`,
  )
  console.log(`machine : ${machineLine(m)}`)
  console.log(
    `versions: inotify-napi ${v['inotify-napi']} (git ${v.commit}${v.srcDirty ? ' + uncommitted src/crates changes' : ''}, dist built ${v.distBuilt}, addon built ${v.addonBuilt ?? 'n/a'}), ` +
      `N-API ${v.napi}, libuv ${v.libuv} (fs.watch), C programs ${v.cc ?? 'n/a'}` +
      (v['@parcel/watcher'] ? `, @parcel/watcher ${v['@parcel/watcher']}, chokidar ${v.chokidar}` : ''),
  )
  console.log(
    `config  : scenarios ${config.scenarios.join(', ')}; dirs in ${config.base} (${m.watchedFs}); ` +
      `max_queued_events ${m.maxQueuedEvents}, max_user_watches ${m.maxUserWatches}`,
  )
  for (const [name, program, need] of [
    ['C reader', cReader, 'cReader'],
    ['C walker', cWalker, 'cWalker'],
  ]) {
    if (!selected.some((s) => s.needs[need])) continue
    console.log(
      program.binary
        ? `${name}: ${relative(process.cwd(), program.binary)}, built now with cc -O2`
        : `${name}: left out: ${program.skipped}`,
    )
  }
  for (const s of selected) console.log(`${s.name.padEnd(8)}: ${s.describe(config)}`)
  console.log('')
}
