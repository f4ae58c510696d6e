// The race scenarios (mkdir, movein, stall; the stall also in watch-vs-tree): one watcher on a fresh
// empty root, the writer's work as fast as it can, and a count of the files the watcher reported.
import { setTimeout as sleep } from 'node:timers/promises'
import { expectMessage, expectOrTimeOut, failure, reap, startChild, TimedOut, waitExit } from './children.mjs'
import { tmed, treeColumns, treeRow, tsum, tworst } from './columns.mjs'
import { freshDir, removeDir } from './dirs.mjs'
import { PEERS, rotate, TREE_IMPLS, WATCH } from './impls.mjs'
import { median } from './stats.mjs'
import { fmt } from './table.mjs'

/** True when `path` or one of its parent directories (relative paths) was reported. */
function coveredBy(reported, path) {
  for (let at = path.length; at > 0; at = path.lastIndexOf('/', at - 1)) {
    if (Object.hasOwn(reported, path.slice(0, at))) return true
  }
  return false
}

/**
 * One watcher (children/tree-watcher.mjs `--impl impl`) through one race: it watches a fresh empty
 * root and is ready; the writer does the scenario's work; the watcher ends as soon as it has
 * reported every file the writer made, or 2 s after its last newly reported path. Counts the
 * expected files it reported (by path relative to the root). A watcher that fails or times out
 * gives a `failure` record.
 */
export async function raceRun(scenario, impl, config) {
  const dir = freshDir(scenario)
  const stage = scenario === 'movein' ? freshDir('stage') : null
  let watcher
  let writer
  try {
    // The writer first does its setup (the trees to move in, outside the root; the directories the
    // stall's files go to), then the watcher starts on the root as it is, and is ready.
    const writerArgs = {
      mkdir: ['--mode', 'mkdir', '--dir', dir, '--count', String(config.mkdirCount)],
      movein: ['--mode', 'movein', '--dir', dir, '--stage', stage, '--count', String(config.moveinTrees)],
      stall: [
        '--mode',
        'stall',
        '--dir',
        dir,
        '--count',
        String(config.stallFiles),
        '--dirs',
        String(config.stallDirs),
      ],
    }[scenario]
    writer = startChild('tree-writer.mjs', writerArgs)
    await expectMessage(writer, 'ready', 60_000, 'the writer')
    watcher = startChild('tree-watcher.mjs', ['--impl', impl, '--mode', 'count', '--dir', dir])
    await expectOrTimeOut(watcher, 'ready', 60_000, `${impl} watcher to be ready`)
    if (scenario === 'stall') {
      // Stall the watcher's event loop first (its JS thread busy-loops from the moment it reads this),
      // then start the writer, so that every create happens while the loop is stalled (checked below).
      watcher.send({ op: 'block', ms: config.stallBlockMs })
      await sleep(config.stallLeadMs)
    }
    writer.send({ op: 'go' })
    const done = await expectMessage(writer, 'done', 300_000, 'the writer to finish')
    watcher.send({ op: 'writer-done', expected: done.expected })
    // Generous: chokidar and recursive fs.watch can take long to catch up after a stall.
    await waitExit(watcher, config.countTimeoutMs, `${impl} watcher to report`).catch((error) => {
      throw new TimedOut(error.message)
    })
    const line = watcher.stdout.trim().split('\n').pop()
    if (!line) throw new Error(`${impl} watcher exited without results`)
    const r = JSON.parse(line)
    const missed = done.expected.filter((path) => !Object.hasOwn(r.reported, path))
    const seen = done.expected.length - missed.length
    const covered = done.expected.filter((path) => coveredBy(r.reported, path)).length
    const seenTimes = done.expected.map((path) => r.reported[path]).filter((t) => t !== undefined)
    const tLastFile = seenTimes.length ? Math.max(...seenTimes) : NaN
    return {
      expected: done.expected.length,
      seen,
      completeness: (100 * seen) / done.expected.length,
      // Files reported, or under a directory reported created or moved in (what a peer that reports a
      // new directory but not what it already holds leaves its user to scan).
      covered,
      coveredPct: (100 * covered) / done.expected.length,
      missedSample: missed.slice(0, 5),
      overflows: r.overflows.length,
      overflowReports: [...new Set(r.overflows)].slice(0, 3),
      events: r.events,
      endedBy: r.reason,
      writerMs: done.tLast - done.tFirst,
      // From the writer's end to the watcher's last newly reported expected file.
      lagMs: tLastFile - done.tLast,
      blockMs: r.blocked ? r.blocked.end - r.blocked.start : undefined,
      // The stall began before the writer's first create and ended after its last.
      stallCoveredWriter: r.blocked ? r.blocked.start <= done.tFirst && r.blocked.end >= done.tLast : undefined,
      stallLeadMs: r.blocked ? done.tFirst - r.blocked.start : undefined,
      stallTailMs: r.blocked ? r.blocked.end - done.tLast : undefined,
      // The watcher's CPU time from ready to its end, less the busy loop's.
      cpuMs: r.cpuMs - (r.blocked?.cpuMs ?? 0),
      maxRssKiB: r.maxRssKiB,
    }
  } catch (error) {
    return failure(impl, error)
  } finally {
    await reap(writer)
    await reap(watcher)
    removeDir(dir)
    if (stage) removeDir(stage)
  }
}

/**
 * The line under a race's table: the writer's time, for the stall whether the stall covered every
 * create (from the timestamps), and a sample of what was missed. `runs` are the scenario's runs
 * (`{ [impl]: record }`), `impls` the watchers in them.
 */
export function raceLine(scenario, runs, impls, config) {
  const ok = runs.flatMap((r) => impls.map((impl) => r[impl])).filter((x) => !x.failed)
  let line = `${scenario.padEnd(8)}: writer ${fmt(median(ok.map((x) => x.writerMs)), 1)} ms (median)`
  if (scenario === 'stall') {
    const covered = ok.filter((x) => x.stallCoveredWriter).length
    const leads = ok.map((x) => x.stallLeadMs)
    const tails = ok.map((x) => x.stallTailMs)
    line +=
      `; the ${config.stallBlockMs / 1000} s stall covered the writer in ${covered} of ${ok.length} watcher runs ` +
      `(began ${fmt(Math.min(...leads), 1)} to ${fmt(Math.max(...leads), 1)} ms before its first create, ` +
      `ended ${fmt(Math.min(...tails), 0)} to ${fmt(Math.max(...tails), 0)} ms after its last)`
  }
  const missed = impls.flatMap((impl) =>
    runs.flatMap((r) => (r[impl].missedSample ?? []).slice(0, 1).map((p) => `${impl}: ${p}`)),
  )
  if (missed.length) line += `; missed e.g. ${missed.slice(0, 4).join(', ')}`
  return line
}

/**
 * A race scenario (mkdir, movein, stall): every tree watcher in turn (a different one first in each
 * run) through `raceRun`, then the table, the completeness target and issue #4's watch() targets.
 */
export function raceScenario(name, { summary, describe }) {
  return {
    name,
    summary,
    needs: { peers: true },
    describe,

    async run({ config }) {
      const runs = []
      for (let run = 0; run < config.runs; run++) {
        const result = {}
        for (const impl of rotate(TREE_IMPLS, run)) {
          process.stderr.write(`${name} run ${run + 1}/${config.runs}: ${impl}...\n`)
          result[impl] = await raceRun(name, impl, config)
        }
        runs.push(result)
      }
      return runs
    },

    report(runs, { config, report }) {
      const expected = config.expected[name]
      report.section(name, treeColumns, [
        treeRow(name, `files seen (worst of ${expected})`, (impl) => tworst(runs, impl, 'seen'), { digits: 0 }),
        treeRow(name, 'seen % (worst run)', (impl) => tworst(runs, impl, 'completeness'), { digits: 1 }),
        ...(name === 'stall'
          ? []
          : [
              treeRow(name, 'seen or under a new dir seen %', (impl) => tworst(runs, impl, 'coveredPct'), {
                digits: 1,
              }),
            ]),
        treeRow(name, 'errors/overflows reported', (impl) => tsum(runs, impl, 'overflows'), {
          digits: 0,
          withRatio: false,
        }),
        treeRow(name, 'last file after writer ms', (impl) => tmed(runs, impl, 'lagMs'), {
          digits: 0,
          withRatio: false,
        }),
        treeRow(name, name === 'stall' ? 'CPU ms (but the stall)' : 'CPU ms', (impl) => tmed(runs, impl, 'cpuMs'), {
          digits: 0,
        }),
        treeRow(name, 'peak RSS MiB', (impl) => tmed(runs, impl, 'maxRssKiB', 1024), { digits: 1 }),
      ])
      const napiRuns = runs.map((r) => r['inotify-napi'])
      const seen = napiRuns.map((r) => (r.failed ? r.failed : `${r.seen}/${r.expected}`))
      const peersMissing = PEERS.filter((impl) => runs.some((r) => r[impl].failed || r[impl].seen < r[impl].expected))
      report.target(`${name}Complete`, {
        target: '100% of the files reported, in every run',
        seen,
        peersMissing,
        holds: napiRuns.every((r) => !r.failed && r.seen === r.expected),
        detail:
          `inotify-napi ${seen.join(', ')}` +
          (napiRuns.some((r) => r.overflows)
            ? `, errors/overflows ${napiRuns.map((r) => r.overflows).join(', ')}`
            : '') +
          `; peers that missed some: ${peersMissing.join(', ') || 'none'}`,
      })
      report.watchTargets(name, [
        {
          key: 'Seen',
          figure: 'files seen',
          raw: tworst(runs, 'inotify-napi', 'seen'),
          watch: tworst(runs, WATCH, 'seen'),
          equal: true,
          digits: 0,
        },
        ...(name === 'stall'
          ? [
              {
                key: 'Rss',
                figure: 'peak RSS MiB',
                raw: tmed(runs, 'inotify-napi', 'maxRssKiB', 1024),
                watch: tmed(runs, WATCH, 'maxRssKiB', 1024),
                digits: 1,
              },
            ]
          : []),
      ])
      console.log(raceLine(name, runs, TREE_IMPLS, config))
      console.log('')
    },
  }
}
