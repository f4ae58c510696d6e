// Scenario latency: write to event, the watchers sampled in turn. Inotify (read with eventGen and
// with eventBatches), fs.watch and the C reader all watch the same directory, each in its own process
// and each reporting only its own names; the writer creates one file at a time for one watcher at a
// time (a different one first each round), and the latency runs from just before the writer's open()
// to the moment user code has the event.
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import { checkClock, expectMessage, reap, startChild, startC } from '../lib/children.mjs'
import { plainColumns, plainRow } from '../lib/columns.mjs'
import { freshDir, removeDir } from '../lib/dirs.mjs'
import { BATCHES, C_READER, rotate, withC } from '../lib/impls.mjs'
import { median, ratio, summarize } from '../lib/stats.mjs'
import { fmt } from '../lib/table.mjs'

const TARGET_P50_RATIO = 1.2

async function latencyRun(run, impls, { config, napi }) {
  const dir = freshDir('latency')
  const prefix = { 'inotify-napi': 'n', [BATCHES]: 'b', 'fs.watch': 'f', [C_READER]: 'c' }
  const watchers = {}
  let writer
  try {
    // All watch the same directory, each in its own process; each reports only its own names.
    for (const impl of impls) {
      watchers[impl] =
        impl === C_READER
          ? startC(C_READER, ['latency', dir, String(napi.IN_CREATE), '0', prefix[impl]])
          : startChild('watcher.mjs', ['--impl', impl, '--mode', 'latency', '--dir', dir, '--prefix', prefix[impl]])
    }
    writer = startChild('writer.mjs', ['--mode', 'latency'])
    for (const impl of impls) await expectMessage(watchers[impl], 'ready', 10_000, `${impl} watcher`)
    await expectMessage(writer, 'ready', 10_000, 'the writer')
    for (const impl of impls) await checkClock(watchers[impl], `${impl} watcher`)
    await checkClock(writer, 'the writer')

    const received = Object.fromEntries(impls.map((impl) => [impl, new Map()]))
    const lost = Object.fromEntries(impls.map((impl) => [impl, 0]))
    const total = config.latencyWarmup + config.latencySamples
    for (let i = 0; i < total; i++) {
      // A different one first each time, so none always follows another.
      for (const impl of rotate(impls, i + run)) {
        const name = `${prefix[impl]}${i}`
        const path = join(dir, name)
        writer.send({ op: 'create', path })
        const event = await watchers[impl].next((m) => m.op === 'event' && m.name === name, 5_000)
        if (event === null) lost[impl]++
        else if (i >= config.latencyWarmup) received[impl].set(path, event.t)
        if (config.latencyGapMs > 0) await sleep(config.latencyGapMs)
      }
    }
    writer.send({ op: 'times' })
    const { times } = await expectMessage(writer, 'times', 10_000, "the writer's timestamps")
    const result = {}
    for (const impl of impls) {
      const latencies = [...received[impl]].map(([path, t]) => t - times[path])
      watchers[impl].send({ op: 'stop' })
      const stopped = await expectMessage(watchers[impl], 'stopped', 10_000, `${impl} watcher to stop`)
      result[impl] = { ...summarize(latencies), lost: lost[impl], maxRssKiB: stopped.maxRssKiB }
    }
    writer.send({ op: 'exit' })
    await Promise.all([writer.exited, ...Object.values(watchers).map((w) => w.exited)])
    return result
  } finally {
    await reap(writer)
    for (const w of Object.values(watchers)) await reap(w)
    removeDir(dir)
  }
}

export default {
  name: 'latency',
  summary: 'write to event, p50/p90/p99 (Inotify eventGen and eventBatches, fs.watch, C reader)',
  needs: { cReader: true },
  describe: (config) =>
    `${config.latencySamples} samples per watcher (+${config.latencyWarmup} warm-up, ${config.latencyGapMs} ms apart)`,
  /** The watchers, all on one directory at once. */
  impls: (ctx) => withC(['inotify-napi', BATCHES, 'fs.watch'], ctx.cReader),

  async run(ctx) {
    const runs = []
    for (let run = 0; run < ctx.config.runs; run++) {
      process.stderr.write(`latency run ${run + 1}/${ctx.config.runs}...\n`)
      runs.push(await latencyRun(run, this.impls(ctx), ctx))
    }
    return runs
  },

  report(runs, ctx) {
    const impls = this.impls(ctx)
    const m = (impl, key) => median(runs.map((r) => r[impl][key]))
    const row = (metric, valueFor, options) => plainRow('latency', impls, metric, valueFor, options)
    ctx.report.section('latency', plainColumns(impls), [
      row('p50 ms', (impl) => m(impl, 'p50'), { digits: 3 }),
      row('p90 ms', (impl) => m(impl, 'p90'), { digits: 3 }),
      row('p99 ms', (impl) => m(impl, 'p99'), { digits: 3 }),
      row('lost samples', (impl) => runs.reduce((total, r) => total + r[impl].lost, 0), {
        digits: 0,
        withRatio: false,
      }),
    ])
    const [batch, gen, fs] = [m(BATCHES, 'p50'), m('inotify-napi', 'p50'), m('fs.watch', 'p50')]
    const [r, rGen] = [ratio(batch, fs), ratio(gen, fs)]
    ctx.report.target('latencyP50', {
      target: `p50 <= ${TARGET_P50_RATIO}x fs.watch's, judged on the batch path (eventBatches)`,
      ratio: r,
      ratioEventGen: rGen,
      holds: r <= TARGET_P50_RATIO,
      detail: `eventBatches ${fmt(batch, 3)} vs fs.watch ${fmt(fs, 3)} ms (${fmt(r)}); eventGen ${fmt(gen, 3)} (${fmt(rGen)})`,
    })
    console.log('')
  },
}
