// Scenario drain: a full kernel queue (95% of max_queued_events, one IN_CREATE each) read into user
// code, four rounds per watcher process (cold, then after each pause; the last is warm): events/s,
// CPU per event, RSS. Inotify (eventGen and eventBatches) and watch() against fs.watch and the C
// reader.
import { setTimeout as sleep } from 'node:timers/promises'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkClock, expectMessage, reap, startChild, startC, waitExit } from '../lib/children.mjs'
import { plainColumns, plainRow } from '../lib/columns.mjs'
import { DRAIN_FILL } from '../lib/config.mjs'
import { freshDir, removeDir } from '../lib/dirs.mjs'
import { BATCHES, C_READER, rotate, WATCH, withC } from '../lib/impls.mjs'
import { median, ratio } from '../lib/stats.mjs'
import { eachRound, fmt, roundLabel, roundName, roundsLine } from '../lib/table.mjs'

/** Issue #7: the batch path drains the kernel's queue at least this fraction of the C reader's rate. */
const TARGET_DRAIN_RATIO = 0.5
/**
 * Issue #16: the same in a fresh process's first drain (round 1, cold), against the C reader's round 1:
 * what a short-lived tool (a CLI, a test run, a build) only ever sees.
 */
const TARGET_COLD_DRAIN_RATIO = 0.4
/**
 * Drains per watcher process: round 1 cold (its JavaScript never ran), the last round warm (the same
 * watcher after it drained and paused); issue #7's drain target is judged on the warm round. Rounds
 * between are reported as `round N` (the `drain` line of events/s per round, and the results file).
 * Four: V8 is not done optimising after one drain of 15,564 events: a probe of six rounds gave
 * eventBatches 1.5M-2.1M, 2.0M-4.2M, then 4.3M-5.8M events/s in rounds 1, 2 and 3, and no faster
 * after.
 */
const DRAIN_ROUNDS = 4

/**
 * The watcher sets its watch and reads nothing (see drainWatcher in children/watcher.mjs); the writer
 * fills the kernel's queue to DRAIN_FILL of max_queued_events (one IN_CREATE per symbolic link);
 * then the watcher is told to go, and times from there to the last event in user code. Then it
 * pauses (reads nothing again) and the same is done again with new names, DRAIN_ROUNDS rounds in the
 * same process: round 1 cold (its JavaScript never ran), the last warm (a consumer that was paused).
 * Returns `{ rounds: [each round's figures], maxRssKiB }` (peak RSS of the process, at its end).
 */
async function drainRun(impl, { config, napi }) {
  const dir = freshDir('drain')
  const goDir = impl === 'fs.watch' ? freshDir('drain-go') : null
  const count = config.drainEvents
  let watcher
  let writer
  try {
    watcher =
      impl === C_READER
        ? startC(C_READER, ['drain', dir, String(napi.IN_CREATE), String(count), String(DRAIN_ROUNDS)])
        : startChild('watcher.mjs', [
            '--impl',
            impl,
            '--mode',
            'drain',
            '--dir',
            dir,
            '--expect',
            String(count),
            '--rounds',
            String(DRAIN_ROUNDS),
          ])
    await expectMessage(watcher, 'ready', 10_000, `${impl} watcher`)
    writer = startChild('writer.mjs', ['--mode', 'drain', '--dir', dir, '--count', String(count)])
    await expectMessage(writer, 'ready', 10_000, 'the writer')
    await checkClock(watcher, `${impl} watcher`)
    await checkClock(writer, 'the writer')
    const rounds = []
    for (let round = 1; round <= DRAIN_ROUNDS; round++) {
      const goFile = goDir && join(goDir, `go${round}`)
      if (goFile) {
        // Its event loop is the reader: blocked (until the go file exists), it reads nothing.
        watcher.send({ op: 'block', goFile })
        await expectMessage(watcher, 'blocking', 10_000, 'fs.watch to block its loop')
        await sleep(config.stallLeadMs)
      }
      writer.send({ op: 'go', round })
      const done = await expectMessage(writer, 'drain-done', 120_000, `the writer to fill the queue (round ${round})`)
      if (goFile) writeFileSync(goFile, '')
      else watcher.send({ op: 'go' })
      const r = await expectMessage(watcher, 'drained', 120_000, `${impl} watcher to drain (round ${round})`)
      const drainMs = r.tLastEvent === null ? NaN : r.tLastEvent - r.tGo
      rounds.push({
        round: r.round,
        expected: r.expected,
        seen: r.seen,
        overflows: r.overflows,
        endedBy: r.reason,
        drainMs,
        eventsPerS: r.seen === r.expected ? (1000 * r.seen) / drainMs : NaN,
        cpuUs: r.cpuUs,
        cpuUsPerEvent: r.seen > 0 ? r.cpuUs / r.seen : NaN,
        maxRssKiB: r.maxRssKiB,
        writerMs: done.tLast - done.tFirst,
        // From the writer's last link to go: the queue was full (and unread) this long.
        heldMs: r.tGo - done.tLast,
        // The C reader's FIONREAD at go; watch()'s and eventBatches' batches in the round.
        queuedBytes: r.queuedBytes,
        batches: r.batches,
        changes: r.changes,
        largest: r.largest,
      })
      // A round that did not get every event ends the watcher (see drain() in children/watcher.mjs).
      if (r.reason !== 'complete') break
    }
    await waitExit(watcher, 10_000, `${impl} watcher to end after its last round`)
    writer.send({ op: 'exit' })
    const maxRssKiB = rounds[rounds.length - 1].maxRssKiB
    while (rounds.length < DRAIN_ROUNDS) {
      rounds.push({
        round: rounds.length + 1,
        expected: count,
        seen: 0,
        overflows: 0,
        endedBy: 'not run (a round before did not complete)',
        drainMs: NaN,
        eventsPerS: NaN,
        cpuUsPerEvent: NaN,
      })
    }
    rounds.forEach((x, k) => {
      x.name = roundName(k, DRAIN_ROUNDS)
    })
    return { rounds, maxRssKiB }
  } finally {
    await reap(writer)
    await reap(watcher)
    removeDir(dir)
    if (goDir) removeDir(goDir)
  }
}

export default {
  name: 'drain',
  summary: 'a full kernel queue read into user code x 4 rounds: events/s, CPU/event (Inotify, watch(), fs.watch, C)',
  needs: { cReader: true },
  describe: (config) => `${config.drainEvents} events x ${DRAIN_ROUNDS} rounds per watcher process`,
  /** The watchers, one at a time. */
  impls: (ctx) => withC(['inotify-napi', BATCHES, WATCH, 'fs.watch'], ctx.cReader),

  async run(ctx) {
    const runs = []
    for (let run = 0; run < ctx.config.runs; run++) {
      const result = {}
      for (const impl of rotate(this.impls(ctx), run)) {
        process.stderr.write(`drain run ${run + 1}/${ctx.config.runs}: ${impl}...\n`)
        result[impl] = await drainRun(impl, ctx)
      }
      runs.push(result)
    }
    return runs
  },

  /**
   * The drain's table and targets: events per second from go to the last event (every watcher
   * drains the same number of events), in the cold round (round 1) and the warm one (the last, the
   * same process; the rounds between in the `drain` line and the results file), and whether the
   * queue was filled without an overflow. issue #7's rate target is judged on the warm round.
   */
  report(drainRuns, ctx) {
    const { config, report, cReader } = ctx
    const impls = this.impls(ctx)
    const [COLD, WARM] = [0, DRAIN_ROUNDS - 1]
    const name = (k) => roundName(k, DRAIN_ROUNDS)
    const m = (impl, k, key, scale = 1) => median(drainRuns.map((r) => r[impl].rounds[k][key])) / scale
    const row = (metric, valueFor, options) => plainRow('drain', impls, metric, valueFor, options)
    /** Rows for the cold and the warm round: `metric` with its % replaced by the round. */
    const coldWarm = (metric, key, options, scale = 1) =>
      [COLD, WARM].map((k) =>
        row(metric.replace('%', roundLabel(k, DRAIN_ROUNDS)), (impl) => m(impl, k, key, scale), options),
      )
    const roundsOf = (impl) => drainRuns.flatMap((r) => r[impl].rounds)
    const everyRound = DRAIN_ROUNDS === 2 ? 'both rounds' : `all ${DRAIN_ROUNDS} rounds`
    report.section('drain', plainColumns(impls), [
      ...coldWarm('events/s % (thousands)', 'eventsPerS', { digits: 0 }, 1000),
      ...coldWarm('drain ms %', 'drainMs'),
      ...coldWarm('CPU us/event %', 'cpuUsPerEvent'),
      row('peak RSS MiB (at the end)', (impl) => median(drainRuns.map((r) => r[impl].maxRssKiB)) / 1024, {
        digits: 1,
      }),
      row(
        `seen (worst of ${config.drainEvents}, ${everyRound})`,
        (impl) => Math.min(...roundsOf(impl).map((x) => x.seen)),
        { digits: 0, withRatio: false },
      ),
      row(`overflows (${everyRound})`, (impl) => roundsOf(impl).reduce((total, x) => total + x.overflows, 0), {
        digits: 0,
        withRatio: false,
      }),
    ])
    const all = drainRuns.flatMap((r) =>
      impls.flatMap((impl) => r[impl].rounds.map((x, k) => ({ impl, name: name(k), ...x }))),
    )
    const short = all.filter((x) => x.seen !== x.expected || x.overflows > 0)
    report.target('drainNoOverflow', {
      target: `the queue filled to ${config.drainEvents} events without an overflow, every event drained, in every run and ${everyRound} (cold${DRAIN_ROUNDS > 2 ? ' to' : ' and'} warm)`,
      holds: short.length === 0,
      detail: short.length
        ? `short: ${short.map((x) => `${x.impl} ${x.name} ${x.seen}/${x.expected}, ${x.overflows} overflows (${x.endedBy})`).join('; ')}`
        : `${all.length} drains (${drainRuns.length * impls.length} processes x ${DRAIN_ROUNDS} rounds)`,
    })
    const rateTarget = `the batch path (eventBatches) drains at >= ${TARGET_DRAIN_RATIO}x the C reader's rate, warm (round ${DRAIN_ROUNDS}: a consumer that was paused)`
    const coldTarget = `the batch path (eventBatches) drains at >= ${TARGET_COLD_DRAIN_RATIO}x the C reader's rate, cold (round 1: a fresh process's first drain)`
    if (cReader.binary) {
      const rate = (impl, k) => m(impl, k, 'eventsPerS')
      const vsC = (impl, k) => ratio(rate(impl, k), rate(C_READER, k))
      const k1 = (x) => `${fmt(x / 1000, 0)}k`
      const r = vsC(BATCHES, WARM)
      report.target('drainBatchRate', {
        target: rateTarget,
        ratio: r,
        ratioCold: vsC(BATCHES, COLD),
        ratioEventGen: vsC('inotify-napi', WARM),
        ratioEventGenCold: vsC('inotify-napi', COLD),
        ratioWatch: vsC(WATCH, WARM),
        ratioWatchCold: vsC(WATCH, COLD),
        holds: Number.isFinite(r) ? r >= TARGET_DRAIN_RATIO : false,
        detail:
          `warm: eventBatches ${k1(rate(BATCHES, WARM))} vs C reader ${k1(rate(C_READER, WARM))} events/s (${fmt(r)}); ` +
          `cold ${fmt(vsC(BATCHES, COLD))} (${k1(rate(BATCHES, COLD))} vs ${k1(rate(C_READER, COLD))}); ` +
          `eventGen warm ${fmt(vsC('inotify-napi', WARM))} cold ${fmt(vsC('inotify-napi', COLD))}; ` +
          `watch() warm ${fmt(vsC(WATCH, WARM))} cold ${fmt(vsC(WATCH, COLD))}`,
      })
      const cold = vsC(BATCHES, COLD)
      report.target('drainColdBatchRate', {
        target: coldTarget,
        ratio: cold,
        holds: Number.isFinite(cold) ? cold >= TARGET_COLD_DRAIN_RATIO : false,
        detail:
          `cold: eventBatches ${k1(rate(BATCHES, COLD))} vs C reader ${k1(rate(C_READER, COLD))} events/s (${fmt(cold)}); ` +
          `eventGen ${fmt(vsC('inotify-napi', COLD))}, watch() ${fmt(vsC(WATCH, COLD))}`,
      })
    } else {
      report.target('drainBatchRate', { target: rateTarget, holds: null, detail: `no C reader: ${cReader.skipped}` })
      report.target('drainColdBatchRate', {
        target: coldTarget,
        holds: null,
        detail: `no C reader: ${cReader.skipped}`,
      })
    }
    const perRun = (impl, show) => drainRuns.map((r) => eachRound(r[impl].rounds, show, DRAIN_ROUNDS)).join('; ')
    console.log(
      roundsLine('drain', drainRuns, impls, DRAIN_ROUNDS, 'events/s (thousands)', 'eventsPerS', {
        digits: 0,
        scale: 1000,
      }),
    )
    const c = drainRuns.map((r) => r[C_READER]).filter(Boolean)
    console.log(
      `drain   : ${config.drainEvents} events (${DRAIN_FILL * 100}% of max_queued_events), one IN_CREATE (a symbolic link) each, ` +
        `new names each round; ${DRAIN_ROUNDS} rounds per watcher process (cold, then ${DRAIN_ROUNDS > 2 ? 'again after each pause, the last warm' : 'warm after a pause'}); ` +
        `writer ${fmt(median(all.map((x) => x.writerMs)), 1)} ms; unread for ${fmt(Math.min(...all.map((x) => x.heldMs).filter(Number.isFinite)), 1)} ms or more before go` +
        (c.length
          ? `; bytes in the kernel's queue at go (C reader, FIONREAD): ${perRun(C_READER, (x) => x.queuedBytes)}`
          : ''),
    )
    const batched = (x) => `${x.batches} batches, largest ${x.largest}`
    console.log(
      `drain   : inotify-napi is eventGen (per event); eventBatches ${perRun(BATCHES, batched)}; ` +
        `watch() iterates batches (maxQueuedBytes: 1) ${perRun(WATCH, batched)}; fs.watch with its event loop blocked until go`,
    )
    console.log('')
  },
}
