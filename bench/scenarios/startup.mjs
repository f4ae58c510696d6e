// Scenario startup: each tree watcher, alone in a fresh process, on trees of 1,000, 10,000, 50,000 and
// 150,000 directories (10 files in each): time and CPU to ready, peak RSS (over an idle node, and over
// the same process with its module loaded, per watched directory), the kernel's slab objects per
// watch, watches in fdinfo; then how those grow with the tree. InotifyTree and watch() against
// @parcel/watcher, chokidar, recursive fs.watch, and the C walker (the limit: one thread, open +
// getdents64 + inotify_add_watch per directory).
import { expectOrTimeOut, failure, reap, startC, startChild, waitExit } from '../lib/children.mjs'
import { tmed, treeColumnsOf, treeRow, tsum } from '../lib/columns.mjs'
import { C_WALKER, rotate, TREE_IMPLS, WATCH } from '../lib/impls.mjs'
import { inotifyWatchesOf } from '../lib/proc.mjs'
import { TARGET_WATCH_RATIO } from '../lib/report.mjs'
import { describeSlabs, readWatchSlabs, slabDelta } from '../lib/slab.mjs'
import { median, ratio, slope } from '../lib/stats.mjs'
import { fmt, sizeLabel } from '../lib/table.mjs'
import { overLimit, watchBudget } from '../lib/trees.mjs'
import { changeMask } from '../lib/watch-mask.mjs'

const TARGET_STARTUP_RATIO = 0.5
/** Startup linearity: ms per directory at the largest tree at most this times the middle tree's. */
const TARGET_LINEARITY = 1.25
/** Issue #16: ready no later than the C walker (a ratio to its time). */
const TARGET_VS_C = 1.0
/** Issue #16: user-space bytes per watched directory, at most, at the sizes below. */
const TARGET_BYTES_PER_DIR = 200
/** Issue #16: the memory target is judged at these sizes (those of them the run measured). */
const MEMORY_SIZES = [50000, 150000]

/** The startup's watchers: the tree scenarios' and, when it could be built, the C walker. */
const impls = (cWalker) => (cWalker.binary ? [...TREE_IMPLS, C_WALKER] : TREE_IMPLS)

/**
 * One watcher (or the idle baseline) on `dir`: constructor to ready, peak RSS (and before the watch,
 * with the module loaded), watches in fdinfo, and the kernel's slab objects from just before the
 * process started to ready.
 */
async function startupOne(impl, dir, { config, napi }) {
  const slabsBefore = impl === 'idle' ? null : readWatchSlabs()
  const watcher =
    impl === C_WALKER
      ? startC(C_WALKER, [dir, String(changeMask(napi))])
      : startChild('tree-watcher.mjs', ['--impl', impl, '--mode', 'startup', '--dir', dir])
  try {
    const ready = await expectOrTimeOut(watcher, 'ready', config.treeReadyTimeoutMs, `${impl} to be ready`)
    // Read while the watcher is ready and still watching.
    const fdinfo = inotifyWatchesOf(watcher.child.pid)
    const kernel = slabsBefore && slabDelta(slabsBefore, readWatchSlabs())
    watcher.send({ op: 'stop' })
    const stopped = await expectOrTimeOut(watcher, 'stopped', 60_000, `${impl} to stop`)
    await waitExit(watcher, 60_000, `${impl} watcher`)
    return {
      startupMs: ready.startupMs,
      cpuMs: ready.cpuMs,
      maxRssKiB: ready.maxRssKiB,
      loadedRssKiB: ready.loadedRssKiB,
      maxRssAtStopKiB: stopped.maxRssKiB,
      ownWatchCount: ready.watchCount,
      fdinfoWatches: fdinfo.watches,
      inotifyInstances: fdinfo.instances,
      kernel,
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

/** The memory figures derived from a watcher's record on a tree of `dirs` directories (and the root). */
function perDirectory(x, idle, dirs) {
  if (x.failed) return
  const watched = dirs + 1
  // The C walker is no node process: an idle node is no baseline for it (`idle` is null).
  if (idle) x.rssDeltaKiB = x.maxRssKiB - idle.maxRssKiB
  x.overLoadedKiB = x.maxRssKiB - x.loadedRssKiB
  x.userBytesPerDir = (x.overLoadedKiB * 1024) / watched
  if (x.kernel && !x.kernel.unreadable && x.fdinfoWatches > 0) {
    x.kernelMarksPerWatch = x.kernel.objects.inotify_inode_mark / x.fdinfoWatches
    x.kernelBytesPerWatch = x.kernel.bytes / x.fdinfoWatches
    x.allBytesPerDir = x.userBytesPerDir + x.kernel.bytes / watched
  }
}

async function startupRun(run, tree, ctx) {
  const { config } = ctx
  const result = { idle: await startupOne('idle', tree.dir, ctx) }
  for (const impl of rotate(impls(ctx.cWalker), run)) {
    process.stderr.write(`startup ${tree.dirs} dirs, run ${run + 1}/${config.runs}: ${impl}...\n`)
    const budget = watchBudget()
    result[impl] = overLimit(impl, tree, budget.left, budget.why) ?? (await startupOne(impl, tree.dir, ctx))
    if (impl === C_WALKER) perDirectory(result[impl], null, tree.dirs)
    else perDirectory(result[impl], result.idle, tree.dirs)
  }
  return result
}

export default {
  name: 'startup',
  summary:
    'trees of 1k/10k/50k/150k dirs: time to ready, CPU, RSS and kernel memory per dir, watches (InotifyTree, watch(), peers, C walker)',
  needs: { peers: true, cWalker: true },
  describe: (config) =>
    `${config.treeSizes.join(', ')} dirs (${config.treeFilesPerDir} files in each), a size skipped when its watches do not fit`,
  /** The tree sizes it watches (built once, shared with idle). */
  trees: (config) => config.treeSizes,

  /**
   * Each size in turn: skipped (not even built) when a watcher of it would not fit in what is left of
   * max_user_watches; else every watcher on it, `config.runs` times.
   */
  async run(ctx) {
    const { config, trees } = ctx
    const sizes = []
    for (const dirs of config.treeSizes) {
      const budget = watchBudget()
      if (dirs + 1 > budget.left) {
        const skipped = `needs ${dirs + 1} watches (one per directory), over ${budget.why} (${budget.left} left)`
        process.stderr.write(`bench: startup: ${sizeLabel(dirs)} skipped: ${skipped}\n`)
        sizes.push({ dirs, skipped, short: `needs ${dirs + 1} watches, ${budget.left} left under max_user_watches` })
        trees.release(dirs)
        continue
      }
      const tree = await trees.get(dirs)
      const size = { dirs: tree.dirs, files: tree.files, buildMs: tree.ms, runs: [] }
      for (let run = 0; run < config.runs; run++) size.runs.push(await startupRun(run, tree, ctx))
      sizes.push(size)
      trees.release(dirs)
    }
    return { sizes, slabs: readWatchSlabs() }
  },

  /** The chart's series: each watcher's medians at each size measured (startupMs, MiB over loaded). */
  chartData({ sizes }, { cWalker }) {
    const measured = sizes.filter((size) => !size.skipped)
    const series = {}
    for (const impl of impls(cWalker)) {
      series[impl] = measured.map(({ dirs, runs }) => ({
        dirs,
        readyMs: tmed(runs, impl, 'startupMs'),
        overLoadedMiB: tmed(runs, impl, 'overLoadedKiB', 1024),
      }))
    }
    return { sizes: measured.map((size) => size.dirs), skipped: sizes.filter((size) => size.skipped), series }
  },

  /**
   * The startup table: each tree size's figures, then how they grow (least-squares slopes per 1,000
   * directories, and ms per directory at the largest tree over the next largest: 1 is linear). Each
   * target line holds only if it holds at every size measured (a skipped size is named in it).
   */
  report({ sizes: all, slabs }, { report, cWalker }) {
    const columns = impls(cWalker)
    const sizes = all.filter((size) => !size.skipped)
    const skipped = all.filter((size) => size.skipped)
    const row = (label, metric, valueFor, options) => treeRow(label, metric, valueFor, { ...options, impls: columns })
    const rows = []
    const hasC = columns.includes(C_WALKER)
    for (const { dirs, runs } of sizes) {
      const label = `startup ${sizeLabel(dirs)}`
      const ready = (impl) => tmed(runs, impl, 'startupMs')
      rows.push(
        row(label, 'ready ms', ready, { digits: 0 }),
        ...(hasC
          ? [row(label, 'ready / C walker', (impl) => ratio(ready(impl), ready(C_WALKER)), { withRatio: false })]
          : []),
        row(label, 'CPU ms to ready', (impl) => tmed(runs, impl, 'cpuMs'), { digits: 0 }),
        row(label, 'peak RSS MiB', (impl) => tmed(runs, impl, 'maxRssKiB', 1024), { digits: 1 }),
        row(label, 'peak RSS - idle MiB', (impl) => tmed(runs, impl, 'rssDeltaKiB', 1024), { digits: 1 }),
        row(label, 'peak RSS - loaded MiB', (impl) => tmed(runs, impl, 'overLoadedKiB', 1024), { digits: 1 }),
        row(label, 'user B per dir', (impl) => tmed(runs, impl, 'userBytesPerDir'), { digits: 0 }),
        row(label, 'kernel marks per watch', (impl) => tmed(runs, impl, 'kernelMarksPerWatch'), {
          withRatio: false,
        }),
        row(label, 'kernel B per watch (slab)', (impl) => tmed(runs, impl, 'kernelBytesPerWatch'), { digits: 0 }),
        row(label, 'user + kernel B per dir', (impl) => tmed(runs, impl, 'allBytesPerDir'), { digits: 0 }),
        row(label, 'watches (fdinfo)', (impl) => tmed(runs, impl, 'fdinfoWatches'), { digits: 0 }),
        row(
          label,
          'watches (own count)',
          (impl) =>
            impl === 'inotify-napi' || impl === WATCH || impl === C_WALKER ? tmed(runs, impl, 'ownWatchCount') : 'n/a',
          { digits: 0, withRatio: false },
        ),
        row(label, 'errors', (impl) => tsum(runs, impl, 'errors'), { digits: 0, withRatio: false }),
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
        row('startup', 'ready ms per 1k dirs (slope)', (impl) => slope(ks, series(impl, 'startupMs')), {
          digits: 1,
        }),
        row('startup', 'RSS - idle MiB per 1k dirs', (impl) => slope(ks, series(impl, 'rssDeltaKiB', 1024)), {
          digits: 2,
        }),
        row('startup', `ms/dir ${sizeLabel(big)} / ms/dir ${sizeLabel(mid)}`, linearity, {
          digits: 2,
          withRatio: false,
        }),
      )
    }
    report.section('startup', treeColumnsOf(columns), rows)

    const skippedText = skipped.map((size) => `; ${sizeLabel(size.dirs)}: skipped (${size.short})`).join('')
    /**
     * A target over every size measured (or over `only.sizes`, named by `only.where`): `judge(runs,
     * dirs)` gives `{ holds, text }` for one.
     */
    const everySize = (name, target, judge, only = { sizes, where: 'at every size' }) => {
      const verdicts = only.sizes.map(({ dirs, runs }) => ({ dirs, ...judge(runs, dirs) }))
      report.target(name, {
        target: `${target}, ${only.where}`,
        perSize: verdicts,
        skipped: skipped.map(({ dirs, skipped: why }) => ({ dirs, why })),
        holds: verdicts.length === 0 || verdicts.some((v) => v.holds === null) ? null : verdicts.every((v) => v.holds),
        detail:
          (verdicts.length
            ? verdicts.map((v) => `${sizeLabel(v.dirs)}: ${v.text}`).join('; ')
            : 'no such size in this run') + skippedText,
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
    everySize(
      'startupVsC',
      `ready (InotifyTree) <= ${fmt(TARGET_VS_C, 1)}x the C walker's time (one thread: open + getdents64 + inotify_add_watch per directory)`,
      (runs) => {
        if (!hasC) return { holds: null, text: `no C walker (${cWalker.skipped})` }
        const [napi, watch, c] = ['inotify-napi', WATCH, C_WALKER].map((impl) => tmed(runs, impl, 'startupMs'))
        const r = ratio(napi, c)
        return {
          holds: finite(r) ? r <= TARGET_VS_C : null,
          text: `${fmt(napi, 0)} vs ${fmt(c, 0)} ms, ${fmt(r)} (watch() ${fmt(ratio(watch, c))})`,
        }
      },
    )
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
    const memorySizes = sizes.filter((size) => MEMORY_SIZES.includes(size.dirs))
    everySize(
      'memPerDir',
      `user-space memory per watched directory (peak RSS less the same process with the module loaded, over dirs + 1) <= ${TARGET_BYTES_PER_DIR} B, InotifyTree and watch()`,
      (runs) => {
        const [napi, watch, parcel] = ['inotify-napi', WATCH, '@parcel/watcher'].map((impl) =>
          tmed(runs, impl, 'userBytesPerDir'),
        )
        const kernel = tmed(runs, 'inotify-napi', 'kernelBytesPerWatch')
        return {
          holds: finite(napi, watch) ? napi <= TARGET_BYTES_PER_DIR && watch <= TARGET_BYTES_PER_DIR : null,
          text: `InotifyTree ${fmt(napi, 0)} B, watch() ${fmt(watch, 0)} B (@parcel/watcher ${fmt(parcel, 0)} B; kernel ${fmt(kernel, 0)} B a watch)`,
        }
      },
      { sizes: memorySizes, where: `at ${MEMORY_SIZES.map(sizeLabel).join(' and ')}` },
    )
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
      const limited = columns
        .map((impl) => [impl, runs.map((r) => r[impl]).find((x) => x.failed === 'limit')])
        .filter(([, x]) => x)
      console.log(
        `tree ${sizeLabel(dirs).padEnd(4)}: ${dirs} dirs / ${files} files (+ the root), built in ${fmt(buildMs / 1000, 1)} s; ` +
          `idle node peak RSS ${fmt(median(runs.map((r) => r.idle.maxRssKiB)) / 1024, 1)} MiB` +
          limited.map(([impl, x]) => `; ${impl} not run: ${x.error}`).join(''),
      )
    }
    for (const { dirs, skipped: why } of skipped) console.log(`tree ${sizeLabel(dirs).padEnd(4)}: skipped: ${why}`)
    console.log(describeSlabs(slabs))
    console.log(
      hasC
        ? `C walker: bench/c/inotify-walker.c, one thread, depth first: inotify_add_watch by path (the inotify-napi column's mask), then open + getdents64, per directory; no bookkeeping`
        : `C walker: left out: ${cWalker.skipped}`,
    )
    console.log('')
  },
}
