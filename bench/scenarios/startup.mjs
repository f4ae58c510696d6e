// Scenario startup: each tree watcher, alone in a fresh process, on trees of 1,000, 10,000 and
// 50,000 directories (10 files in each): time and CPU to ready, peak RSS (and over an idle node),
// watches in fdinfo; then how those grow with the tree. InotifyTree and watch() against
// @parcel/watcher, chokidar and recursive fs.watch.
import { expectOrTimeOut, failure, reap, startChild, waitExit } from '../lib/children.mjs'
import { tmed, treeColumns, treeRow, tsum } from '../lib/columns.mjs'
import { rotate, TREE_IMPLS, WATCH } from '../lib/impls.mjs'
import { inotifyWatchesOf } from '../lib/proc.mjs'
import { median, ratio, slope } from '../lib/stats.mjs'
import { fmt, sizeLabel } from '../lib/table.mjs'
import { maxUserWatches, overLimit } from '../lib/trees.mjs'
import { TARGET_WATCH_RATIO } from '../lib/report.mjs'

const TARGET_STARTUP_RATIO = 0.5
/** Startup linearity: ms per directory at the largest tree at most this times the middle tree's. */
const TARGET_LINEARITY = 1.25

/** One watcher (or the idle baseline) on `dir`: constructor to ready, peak RSS, watches. */
async function startupOne(impl, dir, config) {
  const watcher = startChild('tree-watcher.mjs', ['--impl', impl, '--mode', 'startup', '--dir', dir])
  try {
    const ready = await expectOrTimeOut(watcher, 'ready', config.treeReadyTimeoutMs, `${impl} to be ready`)
    // Read while the watcher is ready and still watching.
    const fdinfo = inotifyWatchesOf(watcher.child.pid)
    watcher.send({ op: 'stop' })
    const stopped = await expectOrTimeOut(watcher, 'stopped', 60_000, `${impl} to stop`)
    await waitExit(watcher, 60_000, `${impl} watcher`)
    return {
      startupMs: ready.startupMs,
      cpuMs: ready.cpuMs,
      maxRssKiB: ready.maxRssKiB,
      maxRssAtStopKiB: stopped.maxRssKiB,
      ownWatchCount: ready.watchCount,
      fdinfoWatches: fdinfo.watches,
      inotifyInstances: fdinfo.instances,
      eventsAtReady: ready.events,
      eventsAtStop: stopped.events,
      errors: ready.errors,
      firstErrors: ready.firstErrors,
    }
  } catch (error) {
    if (impl === 'idle') throw error
    return failure(impl, error)
  } finally {
    await reap(watcher)
  }
}

async function startupRun(run, tree, config) {
  const result = { idle: await startupOne('idle', tree.dir, config) }
  for (const impl of rotate(TREE_IMPLS, run)) {
    process.stderr.write(`startup ${tree.dirs} dirs, run ${run + 1}/${config.runs}: ${impl}...\n`)
    result[impl] = overLimit(impl, tree, maxUserWatches) ?? (await startupOne(impl, tree.dir, config))
    if (!result[impl].failed) result[impl].rssDeltaKiB = result[impl].maxRssKiB - result.idle.maxRssKiB
  }
  return result
}

export default {
  name: 'startup',
  summary: 'trees of 1k/10k/50k dirs: time to ready, CPU, RSS, watches (InotifyTree, watch(), peers)',
  needs: { peers: true },
  describe: (config) => `${config.treeSizes.join(', ')} dirs (${config.treeFilesPerDir} files in each)`,
  /** The tree sizes it watches (built once, shared with idle). */
  trees: (config) => config.treeSizes,

  async run({ config, trees }) {
    const sizes = []
    for (const dirs of config.treeSizes) {
      const tree = await trees.get(dirs)
      const size = { dirs: tree.dirs, files: tree.files, buildMs: tree.ms, runs: [] }
      for (let run = 0; run < config.runs; run++) size.runs.push(await startupRun(run, tree, config))
      sizes.push(size)
      trees.release(dirs)
    }
    return sizes
  },

  /**
   * The startup table: each tree size's figures, then how they grow (least-squares slopes per 1,000
   * directories, and ms per directory at the largest tree over the next largest: 1 is linear). Each
   * target line holds only if it holds at every size.
   */
  report(sizes, { report }) {
    const rows = []
    for (const { dirs, runs } of sizes) {
      const label = `startup ${sizeLabel(dirs)}`
      rows.push(
        treeRow(label, 'ready ms', (impl) => tmed(runs, impl, 'startupMs'), { digits: 0 }),
        treeRow(label, 'CPU ms to ready', (impl) => tmed(runs, impl, 'cpuMs'), { digits: 0 }),
        treeRow(label, 'peak RSS MiB', (impl) => tmed(runs, impl, 'maxRssKiB', 1024), { digits: 1 }),
        treeRow(label, 'peak RSS - idle MiB', (impl) => tmed(runs, impl, 'rssDeltaKiB', 1024), { digits: 1 }),
        treeRow(label, 'watches (fdinfo)', (impl) => tmed(runs, impl, 'fdinfoWatches'), { digits: 0 }),
        treeRow(
          label,
          'watches (own count)',
          (impl) => (impl === 'inotify-napi' || impl === WATCH ? tmed(runs, impl, 'ownWatchCount') : 'n/a'),
          { digits: 0, withRatio: false },
        ),
        treeRow(label, 'errors', (impl) => tsum(runs, impl, 'errors'), { digits: 0, withRatio: false }),
      )
    }
    const ks = sizes.map((size) => size.dirs / 1000)
    const series = (impl, key, scale = 1) => sizes.map((size) => tmed(size.runs, impl, key, scale))
    /** ms per directory at the largest tree over the same at the next largest. */
    const linearity = (impl) => {
      const ms = series(impl, 'startupMs')
      const [m, l] = [ms.length - 2, ms.length - 1]
      return ratio(ms[l] / sizes[l].dirs, ms[m] / sizes[m].dirs)
    }
    if (sizes.length > 1) {
      const big = sizes.at(-1).dirs
      const mid = sizes.at(-2).dirs
      rows.push(
        treeRow('startup', 'ready ms per 1k dirs (slope)', (impl) => slope(ks, series(impl, 'startupMs')), {
          digits: 1,
        }),
        treeRow('startup', 'RSS - idle MiB per 1k dirs', (impl) => slope(ks, series(impl, 'rssDeltaKiB', 1024)), {
          digits: 2,
        }),
        treeRow('startup', `ms/dir ${sizeLabel(big)} / ms/dir ${sizeLabel(mid)}`, linearity, {
          digits: 2,
          withRatio: false,
        }),
      )
    }
    report.section('startup', treeColumns, rows)

    /** A target over every size: `judge(runs, dirs)` gives `{ holds, text }` for one. */
    const everySize = (name, target, judge) => {
      const verdicts = sizes.map(({ dirs, runs }) => ({ dirs, ...judge(runs, dirs) }))
      report.target(name, {
        target: `${target}, at every size`,
        perSize: verdicts,
        holds: verdicts.some((v) => v.holds === null) ? null : verdicts.every((v) => v.holds),
        detail: verdicts.map((v) => `${sizeLabel(v.dirs)}: ${v.text}`).join('; '),
      })
    }
    const finite = (...xs) => xs.every(Number.isFinite)
    everySize('startupTime', `ready in <= ${TARGET_STARTUP_RATIO}x @parcel/watcher's time`, (runs) => {
      const [napi, parcel] = [tmed(runs, 'inotify-napi', 'startupMs'), tmed(runs, '@parcel/watcher', 'startupMs')]
      const r = ratio(napi, parcel)
      return {
        holds: finite(r) ? r <= TARGET_STARTUP_RATIO : null,
        text: `${fmt(napi, 0)} vs ${fmt(parcel, 0)} ms, ${fmt(r)}`,
      }
    })
    everySize('startupRss', 'peak RSS <= @parcel/watcher (over an idle node and whole process)', (runs) => {
      const [napi, parcel] = [
        tmed(runs, 'inotify-napi', 'rssDeltaKiB', 1024),
        tmed(runs, '@parcel/watcher', 'rssDeltaKiB', 1024),
      ]
      const [napiRaw, parcelRaw] = [
        tmed(runs, 'inotify-napi', 'maxRssKiB', 1024),
        tmed(runs, '@parcel/watcher', 'maxRssKiB', 1024),
      ]
      return {
        holds: finite(napi, parcel) ? napi <= parcel && napiRaw <= parcelRaw : null,
        text: `${fmt(napi, 1)} vs ${fmt(parcel, 1)} MiB, ${fmt(ratio(napi, parcel))} (whole ${fmt(napiRaw, 1)} vs ${fmt(parcelRaw, 1)})`,
      }
    })
    everySize('startupWatches', 'one watch per directory (dirs + the root, in fdinfo)', (runs, dirs) => {
      const watches = tmed(runs, 'inotify-napi', 'fdinfoWatches')
      return { holds: finite(watches) ? watches === dirs + 1 : false, text: `${fmt(watches, 0)} for ${dirs + 1}` }
    })
    if (sizes.length > 1) {
      const r = linearity('inotify-napi')
      report.target('startupLinear', {
        target: `linear: ms per directory at ${sizeLabel(sizes.at(-1).dirs)} <= ${TARGET_LINEARITY}x that at ${sizeLabel(sizes.at(-2).dirs)}`,
        ratio: r,
        holds: Number.isFinite(r) ? r <= TARGET_LINEARITY : null,
        detail: `ratio ${fmt(r)}; slope ${fmt(slope(ks, series('inotify-napi', 'startupMs')), 1)} ms per 1k dirs (@parcel/watcher ${fmt(slope(ks, series('@parcel/watcher', 'startupMs')), 1)})`,
      })
    }
    const within = (raw, watch) =>
      finite(raw, watch) ? watch <= TARGET_WATCH_RATIO * raw : Number.isFinite(raw) ? false : null
    everySize(
      'startupWatchReady',
      `watch() within 10% of InotifyTree: ready ms (ratio <= ${fmt(TARGET_WATCH_RATIO)})`,
      (runs) => {
        const [raw, watch] = [tmed(runs, 'inotify-napi', 'startupMs'), tmed(runs, WATCH, 'startupMs')]
        return { holds: within(raw, watch), text: `${fmt(watch, 0)} vs ${fmt(raw, 0)}, ${fmt(ratio(watch, raw))}` }
      },
    )
    everySize(
      'startupWatchRss',
      `watch() within 10% of InotifyTree: peak RSS MiB (ratio <= ${fmt(TARGET_WATCH_RATIO)})`,
      (runs) => {
        const [raw, watch] = [tmed(runs, 'inotify-napi', 'maxRssKiB', 1024), tmed(runs, WATCH, 'maxRssKiB', 1024)]
        return { holds: within(raw, watch), text: `${fmt(watch, 1)} vs ${fmt(raw, 1)}, ${fmt(ratio(watch, raw))}` }
      },
    )
    for (const { dirs, files, buildMs, runs } of sizes) {
      const limited = TREE_IMPLS.map((impl) => [
        impl,
        runs.map((r) => r[impl]).find((x) => x.failed === 'limit'),
      ]).filter(([, x]) => x)
      console.log(
        `tree ${sizeLabel(dirs).padEnd(4)}: ${dirs} dirs / ${files} files (+ the root), built in ${fmt(buildMs / 1000, 1)} s; ` +
          `idle node peak RSS ${fmt(median(runs.map((r) => r.idle.maxRssKiB)) / 1024, 1)} MiB` +
          limited.map(([impl, x]) => `; ${impl} not run: ${x.error}`).join(''),
      )
    }
    console.log('')
  },
}
