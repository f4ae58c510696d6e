// Scenario watch-vs-tree: watch() against an InotifyTree that asks the kernel for watch()'s mask, on
// the same work: the burst's three rounds of 20,000 creates (CPU per event, lag after the writer's
// last create) and the stall (4 s of a blocked event loop during 30,000 creates: files seen, peak
// RSS). What differs is only what each API does with the same events; issue #13 asks watch() within
// 1.1x of the tree in burst CPU, burst lag and stall peak RSS.
import { TREE, rotate, WATCH } from '../lib/impls.mjs'
import { raceLine, raceRun } from '../lib/races.mjs'
import { ratio } from '../lib/stats.mjs'
import { roundLabel } from '../lib/table.mjs'
import { tmed, tsum, tworst } from '../lib/columns.mjs'
import { BURST_ROUNDS, burstFigures, burstRun, KEPT_UP_LAG_MS, watchFigure } from './burst.mjs'

const IMPLS = [TREE, WATCH]
const COLUMNS = [TREE, { name: WATCH, ratio: 'watch/tree' }]
const RAW_NAME = "InotifyTree (with watch()'s mask)"

/** A row of the table: the tree's figure, watch()'s, and their ratio (when `withRatio`). */
const row = (scenario, metric, valueFor, { digits = 2, withRatio = true } = {}) => {
  const values = IMPLS.map(valueFor)
  return { scenario, metric, values, ratios: [withRatio ? ratio(values[1], values[0]) : undefined], digits }
}

export default {
  name: 'watch-vs-tree',
  summary: "watch() / InotifyTree with watch()'s mask: burst CPU and lag, stall peak RSS (issue #13)",
  needs: {},
  describe: (config) =>
    `burst ${config.burstFiles} creates x ${BURST_ROUNDS} rounds, stall ${config.stallBlockMs / 1000} s during ` +
    `${config.stallFiles} creates; InotifyTree asks the kernel for watch()'s mask`,

  async run(ctx) {
    const { config } = ctx
    const runs = []
    for (let run = 0; run < config.runs; run++) {
      const burst = {}
      const stall = {}
      for (const impl of rotate(IMPLS, run)) {
        process.stderr.write(`watch-vs-tree run ${run + 1}/${config.runs}: burst, ${impl}...\n`)
        burst[impl] = await burstRun(impl, ctx)
      }
      for (const impl of rotate(IMPLS, run)) {
        process.stderr.write(`watch-vs-tree run ${run + 1}/${config.runs}: stall, ${impl}...\n`)
        stall[impl] = await raceRun('stall', impl, config)
      }
      runs.push({ burst, stall })
    }
    return runs
  },

  report(runs, { config, report }) {
    const [COLD, WARM] = [0, BURST_ROUNDS - 1]
    const bursts = runs.map((r) => r.burst)
    const stalls = runs.map((r) => r.stall)
    const { worstSeen, lag, cpu, rss } = burstFigures(bursts)
    const coldWarm = (metric, valueFor, options) =>
      [COLD, WARM].map((k) => row('burst', `${metric} ${roundLabel(k, BURST_ROUNDS)}`, (i) => valueFor(i, k), options))
    report.section('watch-vs-tree', COLUMNS, [
      ...coldWarm('seen % (worst run)', worstSeen, { digits: 3 }),
      ...coldWarm('lag after last ms', lag),
      ...coldWarm('CPU us/event', cpu),
      row('burst', 'peak RSS MiB (at the end)', (impl) => rss(impl, WARM), { digits: 1 }),
      row('stall', `files seen (worst of ${config.stallFiles})`, (impl) => tworst(stalls, impl, 'seen'), {
        digits: 0,
      }),
      row('stall', 'errors/overflows reported', (impl) => tsum(stalls, impl, 'overflows'), {
        digits: 0,
        withRatio: false,
      }),
      row('stall', 'CPU ms (but the stall)', (impl) => tmed(stalls, impl, 'cpuMs'), { digits: 0 }),
      row('stall', 'peak RSS MiB', (impl) => tmed(stalls, impl, 'maxRssKiB', 1024), { digits: 1 }),
    ])
    report.watchTargets(
      'burstTree',
      [
        watchFigure('Seen', 'burst seen % (worst run)', worstSeen, { equal: true, digits: 3 }),
        watchFigure('Lag', 'burst lag after last ms', lag, { digits: 2, floor: KEPT_UP_LAG_MS }),
        watchFigure('Cpu', 'burst CPU us/event', cpu, { digits: 2 }),
      ],
      RAW_NAME,
    )
    report.watchTargets(
      'stallTree',
      [
        {
          key: 'Seen',
          figure: 'stall files seen',
          raw: tworst(stalls, TREE, 'seen'),
          watch: tworst(stalls, WATCH, 'seen'),
          equal: true,
          digits: 0,
        },
        {
          key: 'Rss',
          figure: 'stall peak RSS MiB',
          raw: tmed(stalls, TREE, 'maxRssKiB', 1024),
          watch: tmed(stalls, WATCH, 'maxRssKiB', 1024),
          digits: 1,
        },
      ],
      RAW_NAME,
    )
    console.log(raceLine('stall', stalls, IMPLS, config))
    console.log(
      `watch-vs-tree: issue #13's figures are burstTreeWatchCpu (warm), burstTreeWatchLag (warm) and stallTreeWatchRss; ` +
        `the lag counts any lag under ${KEPT_UP_LAG_MS} ms as ${KEPT_UP_LAG_MS} ms (a consumer that kept up)`,
    )
    console.log('')
  },
}
