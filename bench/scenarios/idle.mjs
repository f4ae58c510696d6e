// Scenario idle: every tree watcher on the same tree (150,000 directories by default) at once, each in
// its process, as far as their watches fit in max_user_watches together, in turns otherwise; after a
// settling pause, each one's CPU time over the same window, in which nothing happens.
import { setTimeout as sleep } from 'node:timers/promises'
import { expectMessage, expectOrTimeOut, failure, reap, startChild } from '../lib/children.mjs'
import { tmed, treeColumns, treeRow, tsum } from '../lib/columns.mjs'
import { TREE_IMPLS, WATCH } from '../lib/impls.mjs'
import { inotifyWatchesOf } from '../lib/proc.mjs'
import { median, ratio } from '../lib/stats.mjs'
import { fmt, sizeLabel } from '../lib/table.mjs'
import { overLimit, watchBudget, watchesNeeded } from '../lib/trees.mjs'

/** Started in this order: the cheapest first, so that the watch budget leaves out the most expensive. */
const IDLE_IMPLS = ['inotify-napi', WATCH, '@parcel/watcher', 'fs.watch', 'chokidar']
/** Issue #16: idle CPU below this many ms per second of the window (and at most @parcel/watcher's). */
const TARGET_IDLE_MS_PER_S = 1
/** Issue #16: the size its idle target is about. */
const TARGET_IDLE_DIRS = 150000

/**
 * One turn: the watchers `impls` on the tree at once, each in its process, started one after another
 * (each once the one before is ready) as long as their watches fit in what is left of
 * max_user_watches; then, after a settling pause, each process's CPU time over the same window, in
 * which nothing happens in the tree. Returns `{ result, deferred }`: the figures of those that ran
 * (and of those that cannot run even alone: 'limit'), and those left for a later turn.
 */
async function idleTurn(impls, turn, tree, config) {
  const result = {}
  const deferred = []
  const watchers = {}
  const budget = watchBudget()
  let left = budget.left
  try {
    // The floor: a node process that loads nothing and watches nothing, in the same window.
    watchers.idle = startChild('tree-watcher.mjs', ['--impl', 'idle', '--mode', 'startup', '--dir', tree.dir])
    await expectOrTimeOut(watchers.idle, 'ready', config.treeReadyTimeoutMs, 'the idle node to be ready')
    result.idle = {}
    for (const impl of impls) {
      // Too many even alone: 'limit'. Too many beside the ones running: the next turn.
      const alone = overLimit(impl, tree, budget.left, budget.why)
      if (alone) {
        result[impl] = alone
        continue
      }
      if (watchesNeeded(impl, tree) > left) {
        deferred.push(impl)
        continue
      }
      left -= watchesNeeded(impl, tree)
      watchers[impl] = startChild('tree-watcher.mjs', ['--impl', impl, '--mode', 'startup', '--dir', tree.dir])
      try {
        const ready = await expectOrTimeOut(watchers[impl], 'ready', config.treeReadyTimeoutMs, `${impl} to be ready`)
        result[impl] = {
          turn,
          startupMs: ready.startupMs,
          errors: ready.errors,
          fdinfoWatches: inotifyWatchesOf(watchers[impl].child.pid).watches,
        }
      } catch (error) {
        result[impl] = failure(impl, error)
        await reap(watchers[impl])
        delete watchers[impl]
      }
    }
    await sleep(config.idleSettleMs)
    const usage = () =>
      Promise.all(
        Object.entries(watchers).map(async ([impl, w]) => {
          w.send({ op: 'usage' })
          return [impl, await expectMessage(w, 'usage', 10_000, `${impl}'s CPU time`)]
        }),
      )
    const before = Object.fromEntries(await usage())
    await sleep(config.idleWindowMs)
    for (const [impl, after] of await usage()) {
      Object.assign(result[impl], {
        cpuMs: after.cpuMs - before[impl].cpuMs,
        windowMs: after.t - before[impl].t,
        events: after.events - before[impl].events,
        maxRssKiB: after.maxRssKiB,
      })
    }
    return { result, deferred }
  } finally {
    for (const w of Object.values(watchers)) await reap(w)
  }
}

/**
 * Every watcher on the tree, in as few turns as the watch budget allows (one, when they all fit at
 * once). Each watcher's record says its turn; `idle` is the idle node of each turn, by turn, and each
 * watcher's `overIdleMs` is its CPU time less that of its turn's idle node.
 */
async function idleRun(tree, config) {
  const result = { idle: {} }
  let pending = IDLE_IMPLS
  for (let turn = 1; pending.length; turn++) {
    const { result: got, deferred } = await idleTurn(pending, turn, tree, config)
    result.idle[turn] = got.idle
    for (const impl of pending) if (got[impl]) result[impl] = got[impl]
    for (const impl of pending) {
      if (result[impl]?.turn === turn && Number.isFinite(result[impl].cpuMs))
        result[impl].overIdleMs = result[impl].cpuMs - got.idle.cpuMs
    }
    // A turn that started nothing would be followed by the same one.
    if (deferred.length === pending.length) {
      for (const impl of deferred) result[impl] = { failed: 'limit', error: 'no room in max_user_watches' }
      break
    }
    pending = deferred
  }
  return result
}

/**
 * The size to watch: `config.idleDirs` when one watcher of it fits in what is left of max_user_watches,
 * else the largest startup size under it that does (null when none does). `{ dirs, note }`.
 */
function chooseSize(config) {
  const budget = watchBudget()
  const candidates = [config.idleDirs, ...config.treeSizes.filter((d) => d < config.idleDirs).sort((a, b) => b - a)]
  const dirs = candidates.find((d) => d + 1 <= budget.left) ?? null
  const note =
    dirs === config.idleDirs
      ? null
      : `${sizeLabel(config.idleDirs)} needs ${config.idleDirs + 1} watches, over ${budget.why} (${budget.left} left): ` +
        (dirs === null ? 'no size fits, not run' : `measured at ${sizeLabel(dirs)}, the largest size that fits`)
  if (note) process.stderr.write(`bench: idle: ${note}\n`)
  return { dirs, note }
}

export default {
  name: 'idle',
  summary: 'CPU while nothing happens, the watchers at once (in turns past the watch limit) on a 150k-dir tree',
  needs: { peers: true },
  describe: (config) =>
    `${config.idleDirs} dirs for ${config.idleWindowMs / 1000} s (a smaller startup size if they do not fit)`,
  /** The tree size it watches (startup's tree of that size when both run). */
  trees: (config) => [config.idleDirs],

  async run({ config, trees }) {
    const { dirs, note } = chooseSize(config)
    if (dirs === null) {
      trees.release(config.idleDirs)
      return { tree: null, note, runs: [] }
    }
    const tree = await trees.get(dirs)
    const runs = []
    for (let run = 0; run < config.runs; run++) {
      process.stderr.write(`idle ${tree.dirs} dirs, run ${run + 1}/${config.runs}...\n`)
      runs.push(await idleRun(tree, config))
    }
    trees.release(dirs)
    if (dirs !== config.idleDirs) trees.release(config.idleDirs)
    return { tree: { dirs: tree.dirs, files: tree.files }, note, runs }
  },

  /** The idle table: each watcher's CPU time over the same window with nothing happening. */
  report({ tree, note, runs: idleRuns }, { config, report }) {
    const seconds = config.idleWindowMs / 1000
    const msPerS = `below ${TARGET_IDLE_MS_PER_S} ms of CPU a second and <= @parcel/watcher's, with ${sizeLabel(TARGET_IDLE_DIRS)} dirs watched`
    if (tree === null) {
      console.log(`== idle\nidle    : not run: ${note}\n`)
      report.target('idleCpu', { target: "CPU time while idle <= @parcel/watcher's", holds: null, detail: note })
      report.target('idleCpu150k', { target: msPerS, holds: null, detail: note })
      return
    }
    report.section('idle', treeColumns, [
      treeRow('idle', `CPU ms in ${seconds} s`, (impl) => tmed(idleRuns, impl, 'cpuMs'), { digits: 1 }),
      treeRow('idle', `CPU ms over an idle node`, (impl) => tmed(idleRuns, impl, 'overIdleMs'), {
        digits: 1,
        withRatio: false,
      }),
      treeRow('idle', 'CPU % of a core', (impl) => (tmed(idleRuns, impl, 'cpuMs') / config.idleWindowMs) * 100, {
        digits: 3,
        withRatio: false,
      }),
      treeRow('idle', 'events while idle', (impl) => tsum(idleRuns, impl, 'events'), { digits: 0, withRatio: false }),
      treeRow('idle', 'watches (fdinfo)', (impl) => tmed(idleRuns, impl, 'fdinfoWatches'), { digits: 0 }),
      treeRow('idle', 'peak RSS MiB', (impl) => tmed(idleRuns, impl, 'maxRssKiB', 1024), { digits: 1 }),
      treeRow('idle', 'turn', (impl) => tmed(idleRuns, impl, 'turn'), { digits: 0, withRatio: false }),
      treeRow('idle', 'errors', (impl) => tsum(idleRuns, impl, 'errors'), { digits: 0, withRatio: false }),
    ])
    const napi = tmed(idleRuns, 'inotify-napi', 'cpuMs')
    const parcel = tmed(idleRuns, '@parcel/watcher', 'cpuMs')
    const known = Number.isFinite(napi) && Number.isFinite(parcel)
    report.target('idleCpu', {
      target: "CPU time while idle <= @parcel/watcher's",
      ratio: ratio(napi, parcel),
      holds: known ? napi <= parcel : null,
      detail: `${fmt(napi, 1)} vs ${fmt(parcel, 1)} ms in ${seconds} s, ${sizeLabel(tree.dirs)} dirs`,
    })
    const perS = napi / seconds
    report.target('idleCpu150k', {
      target: msPerS,
      msPerS: perS,
      dirs: tree.dirs,
      holds: tree.dirs !== TARGET_IDLE_DIRS || !known ? null : perS < TARGET_IDLE_MS_PER_S && napi <= parcel,
      detail:
        `${fmt(perS, 3)} ms a second (@parcel/watcher ${fmt(parcel / seconds, 3)}), at ${sizeLabel(tree.dirs)} dirs` +
        (note ? `; ${note}` : tree.dirs !== TARGET_IDLE_DIRS ? ' (the size asked for: --idle-dirs, or --quick)' : ''),
    })
    const limited = TREE_IMPLS.map((impl) => [
      impl,
      idleRuns.map((r) => r[impl]).find((x) => x.failed === 'limit'),
    ]).filter(([, x]) => x)
    const turns = Math.max(...idleRuns.flatMap((r) => Object.keys(r.idle).map(Number)))
    const idleCpu = median(idleRuns.flatMap((r) => Object.values(r.idle).map((x) => x.cpuMs)))
    console.log(
      `idle    : ${tree.dirs} dirs / ${tree.files} files; the watchers run at once (each started when the one before was ready)` +
        (turns > 1
          ? `, in ${turns} turns (those that do not fit in max_user_watches beside the others wait for a turn)`
          : '') +
        `, then ${config.idleSettleMs} ms to settle and a ${seconds} s window; ` +
        `an idle node (loads nothing, watches nothing) used ${fmt(idleCpu, 1)} ms in it` +
        limited.map(([impl, x]) => `; ${impl} not run: ${x.error}`).join('') +
        (note ? `; ${note}` : ''),
    )
    console.log('')
  },
}
