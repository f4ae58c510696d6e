// The side-by-side benchmark: runs the scenarios named on the command line (all by default), each
// with its peers in the same run, then prints one table per scenario with ratios and the targets
// under it, and writes every figure to a results file.
//
//   npm run bench                        every scenario, 3 runs each, medians reported
//   npm run bench -- --quick             1 short run
//   npm run bench -- burst close         some scenarios only
//   npm run bench -- --help              sizes, timeouts, where the directories go
//
// Each scenario is one module in bench/scenarios/ (`run(ctx)` measures, `report(results, ctx)`
// prints); what they share is in bench/lib/; the processes they start (watchers, writers) are in
// bench/children/. Every file operation comes from a writer process and every watcher runs in a
// process of its own, so that its CPU time and RSS are attributable. bench/README.md says what each
// figure means.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { buildC, C_READER, C_WALKER } from './lib/c-programs.mjs'
import { writeChart } from './lib/chart.mjs'
import { clockChecks, killLiveChildren } from './lib/children.mjs'
import { useClock } from './lib/clock.mjs'
import { parseConfig } from './lib/config.mjs'
import { removeLiveDirs, useBase } from './lib/dirs.mjs'
import { machine, machineLine, printHeader, versions } from './lib/header.mjs'
import { loadInotifyNapi } from './lib/load.mjs'
import { ensurePeers } from './lib/peers.mjs'
import { Report } from './lib/report.mjs'
import { fmt } from './lib/table.mjs'
import { TreeCache } from './lib/trees.mjs'
import burst from './scenarios/burst.mjs'
import close from './scenarios/close.mjs'
import drain from './scenarios/drain.mjs'
import idle from './scenarios/idle.mjs'
import latency from './scenarios/latency.mjs'
import mkdir from './scenarios/mkdir.mjs'
import movein from './scenarios/movein.mjs'
import snapshot from './scenarios/snapshot.mjs'
import stall from './scenarios/stall.mjs'
import startup from './scenarios/startup.mjs'
import watchVsTree from './scenarios/watch-vs-tree.mjs'

/** Every scenario, in the order they run. */
const SCENARIOS = [latency, burst, watchVsTree, drain, close, startup, idle, mkdir, movein, stall, snapshot]

const config = parseConfig(process.argv.slice(2), SCENARIOS)
const selected = SCENARIOS.filter((s) => config.scenarios.includes(s.name))
useClock(config.clock)
useBase(config.base)

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
]) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}: killing the watchers and writers, removing the temporary trees\n`)
    killLiveChildren()
    removeLiveDirs()
    process.exit(code)
  })
}

// Fail early, and clearly, when the package is not built, and install the peers when they are missing.
const napi = loadInotifyNapi()
let peerVersions = {}
if (selected.some((s) => s.needs.peers)) {
  try {
    peerVersions = ensurePeers()
  } catch (error) {
    console.error(`bench: ${error.message}`)
    process.exit(1)
  }
}
// The C programs are compiled for the scenarios that compare with them; without a compiler their
// columns are left out (the header says why).
const unneeded = { skipped: 'no scenario needs it' }
const cReader = selected.some((s) => s.needs.cReader) ? buildC(C_READER) : unneeded
const cWalker = selected.some((s) => s.needs.cWalker) ? buildC(C_WALKER) : unneeded

async function main() {
  const m = machine(config)
  const v = versions(cReader.compiler ?? cWalker.compiler, peerVersions)
  printHeader({ config, selected, cReader, cWalker }, m, v)
  const trees = new TreeCache(
    config.treeFilesPerDir,
    selected.flatMap((s) => s.trees?.(config) ?? []),
  )
  const report = new Report()
  const ctx = { config, napi, cReader, cWalker, trees, report }
  const results = {}
  try {
    for (const s of selected) results[s.name] = await s.run(ctx)
  } finally {
    trees.clear()
  }
  // One table per scenario, each followed by its targets and notes.
  for (const s of selected) s.report(results[s.name], ctx)

  const clock = { name: config.clock, ...clockChecks() }
  if (clock.processes > 1) {
    console.log(
      `clock   : ${config.clock}; children's stamps within ${fmt(clock.pingPongSkewMs * 1000, 1)} us of the ping-pong window; ` +
        `performance.timeOrigin error spread over ${clock.processes} processes: ${fmt(clock.timeOriginSpreadUs, 1)} us`,
    )
  }
  const date = new Date().toISOString()
  const json = {
    date,
    machine: m,
    versions: v,
    config,
    clock,
    summary: report.tables,
    targets: report.targets,
    runs: results,
  }
  mkdirSync(join(config.json, '..'), { recursive: true })
  writeFileSync(config.json, `${JSON.stringify(json, null, 2)}\n`)
  console.log(`results : ${relative(process.cwd(), config.json) || config.json}`)
  // The picture of the run: start-up and memory against tree size, and burst CPU per event.
  const chart = {
    date,
    machine: machineLine(m),
    command: config.command,
    startup: results.startup && startup.chartData(results.startup, ctx),
    burst: results.burst && burst.chartData(results.burst, ctx),
  }
  for (const file of [config.chart, config.chartDocs].filter(Boolean)) {
    writeChart(file, chart)
    console.log(`chart   : ${relative(process.cwd(), file) || file}`)
  }
}

main().catch((error) => {
  console.error(`bench: ${error.stack ?? error}`)
  killLiveChildren()
  removeLiveDirs()
  process.exit(1)
})
