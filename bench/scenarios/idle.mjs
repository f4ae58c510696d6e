// Scenario idle: every tree watcher on the same 50,000-directory tree at once, each in its process;
// after a settling pause, each one's CPU time over the same window, in which nothing happens.
import { setTimeout as sleep } from 'node:timers/promises'
import { expectMessage, expectOrTimeOut, failure, reap, startChild } from '../lib/children.mjs'
import { tmed, treeColumns, treeRow, tsum } from '../lib/columns.mjs'
import { TREE_IMPLS, WATCH } from '../lib/impls.mjs'
import { inotifyWatchesOf } from '../lib/proc.mjs'
import { median, ratio } from '../lib/stats.mjs'
import { fmt } from '../lib/table.mjs'
import { maxUserWatches, overLimit, watchesNeeded } from '../lib/trees.mjs'

/** Started in this order: the cheapest first, so that the watch budget leaves out the most expensive. */
const IDLE_IMPLS = ['inotify-napi', WATCH, '@parcel/watcher', 'fs.watch', 'chokidar']

/**
 * Every watcher on the same tree at once, each in its process, started one after another (each once
 * the one before is ready) as long as their watches fit in max_user_watches together; then, after a
 * settling pause, each process's CPU time over the same window, in which nothing happens in the tree.
 */
async function idleRun(tree, config) {
  const result = {}
  const watchers = {}
  let budget = maxUserWatches
  try {
    // The floor: a node process that loads nothing and watches nothing, in the same window.
    watchers.idle = startChild('tree-watcher.mjs', ['--impl', 'idle', '--mode', 'startup', '--dir', tree.dir])
    await expectOrTimeOut(watchers.idle, 'ready', config.treeReadyTimeoutMs, 'the idle node to be ready')
    result.idle = {}
    for (const impl of IDLE_IMPLS) {
      const limit = overLimit(
        impl,
        tree,
        budget,
        `max_user_watches less the watchers already running (${maxUserWatches} in all)`,
      )
      if (limit) {
        result[impl] = limit
        continue
      }
      budget -= watchesNeeded(impl, tree)
      watchers[impl] = startChild('tree-watcher.mjs', ['--impl', impl, '--mode', 'startup', '--dir', tree.dir])
      try {
        const ready = await expectOrTimeOut(watchers[impl], 'ready', config.treeReadyTimeoutMs, `${impl} to be ready`)
        result[impl] = {
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
    return result
  } finally {
    for (const w of Object.values(watchers)) await reap(w)
  }
}

export default {
  name: 'idle',
  summary: 'CPU while nothing happens, all watchers at once on a 50k-dir tree (InotifyTree, watch(), peers)',
  needs: { peers: true },
  describe: (config) => `${config.idleDirs} dirs for ${config.idleWindowMs / 1000} s`,
  /** The tree size it watches (startup's tree of that size when both run). */
  trees: (config) => [config.idleDirs],

  async run({ config, trees }) {
    const tree = await trees.get(config.idleDirs)
    const runs = []
    for (let run = 0; run < config.runs; run++) {
      process.stderr.write(`idle ${tree.dirs} dirs, run ${run + 1}/${config.runs}...\n`)
      runs.push(await idleRun(tree, config))
    }
    trees.release(config.idleDirs)
    return { tree: { dirs: tree.dirs, files: tree.files }, runs }
  },

  /** The idle table: each watcher's CPU time over the same window with nothing happening. */
  report({ tree, runs: idleRuns }, { config, report }) {
    const seconds = config.idleWindowMs / 1000
    report.section('idle', treeColumns, [
      treeRow('idle', `CPU ms in ${seconds} s`, (impl) => tmed(idleRuns, impl, 'cpuMs'), { digits: 1 }),
      treeRow(
        'idle',
        `CPU ms over an idle node`,
        (impl) => tmed(idleRuns, impl, 'cpuMs') - median(idleRuns.map((r) => r.idle.cpuMs)),
        { digits: 1, withRatio: false },
      ),
      treeRow('idle', 'CPU % of a core', (impl) => (tmed(idleRuns, impl, 'cpuMs') / config.idleWindowMs) * 100, {
        digits: 3,
        withRatio: false,
      }),
      treeRow('idle', 'events while idle', (impl) => tsum(idleRuns, impl, 'events'), { digits: 0, withRatio: false }),
      treeRow('idle', 'watches (fdinfo)', (impl) => tmed(idleRuns, impl, 'fdinfoWatches'), { digits: 0 }),
      treeRow('idle', 'peak RSS MiB', (impl) => tmed(idleRuns, impl, 'maxRssKiB', 1024), { digits: 1 }),
      treeRow('idle', 'errors', (impl) => tsum(idleRuns, impl, 'errors'), { digits: 0, withRatio: false }),
    ])
    const napi = tmed(idleRuns, 'inotify-napi', 'cpuMs')
    const parcel = tmed(idleRuns, '@parcel/watcher', 'cpuMs')
    report.target('idleCpu', {
      target: "CPU time while idle <= @parcel/watcher's",
      ratio: ratio(napi, parcel),
      holds: Number.isFinite(napi) && Number.isFinite(parcel) ? napi <= parcel : null,
      detail: `${fmt(napi, 1)} vs ${fmt(parcel, 1)} ms in ${seconds} s`,
    })
    const limited = TREE_IMPLS.map((impl) => [
      impl,
      idleRuns.map((r) => r[impl]).find((x) => x.failed === 'limit'),
    ]).filter(([, x]) => x)
    console.log(
      `idle    : ${tree.dirs} dirs / ${tree.files} files; the watchers run at once (each started when the one before was ready), ` +
        `then ${config.idleSettleMs} ms to settle and a ${seconds} s window; ` +
        `an idle node (loads nothing, watches nothing) used ${fmt(median(idleRuns.map((r) => r.idle.cpuMs)), 1)} ms in it` +
        limited.map(([impl, x]) => `; ${impl} not run: ${x.error}`).join(''),
    )
    console.log('')
  },
}
