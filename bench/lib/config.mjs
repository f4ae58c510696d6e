// The run's configuration, from the command line: which scenarios, their sizes, where the
// directories go and which clock stamps events. One object, filled in here and nowhere else.
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { defaultBase } from './dirs.mjs'
import { benchDir, rootDir } from './load.mjs'
import { readProc } from './proc.mjs'

/** The drain fills the kernel's queue to this fraction of max_queued_events. */
export const DRAIN_FILL = 0.95

const options = {
  help: { type: 'boolean', default: false },
  quick: { type: 'boolean', default: false },
  'snapshot-dirs': { type: 'string' },
  runs: { type: 'string' },
  samples: { type: 'string' },
  files: { type: 'string' },
  'tree-dirs': { type: 'string' },
  'idle-dirs': { type: 'string' },
  'idle-s': { type: 'string' },
  'tree-timeout': { type: 'string' },
  'gap-ms': { type: 'string', default: '1' },
  'close-sessions': { type: 'string' },
  scenario: { type: 'string', multiple: true },
  base: { type: 'string' },
  clock: { type: 'string', default: 'monotonic' },
  json: { type: 'string', default: join(benchDir, 'results', 'latest.json') },
  chart: { type: 'string', default: join(benchDir, 'results', 'chart.svg') },
  'chart-docs': { type: 'boolean', default: false },
}

function usage(scenarios) {
  const list = scenarios.map((s) => `  ${s.name.padEnd(14)}${s.summary}`).join('\n')
  return `usage: npm run bench [-- [options] [SCENARIO...]]
Runs the scenarios named (default: all), each side by side with its peers, and prints one table per
scenario with ratios. Scenarios:
${list}
Options:
  --quick               1 run and smaller sizes (default: 3 runs, the sizes below)
  --runs N              runs per scenario (medians are reported)
  --scenario NAME       the same as naming it (repeatable)
  --samples N           latency samples per watcher (500; quick 100)
  --files N             creates in each of the burst's 3 rounds (20,000; quick 5,000)
  --gap-ms MS           pause between latency samples (default 1)
  --tree-dirs N,N,N     the startup trees' sizes in directories, 10 files in each
                        (1000,10000,50000,150000; quick 500,1000,2000); a size whose watches do
                        not fit in max_user_watches, less what this user's processes hold, is
                        skipped, and the run says so
  --idle-dirs N         directories of the idle scenario's tree (150,000; quick 10,000); when they
                        do not fit, the largest startup size that does, and the run says so
  --idle-s S            the idle scenario's window, in seconds (10; quick 2)
  --tree-timeout S      how long a tree watcher may take to be ready, or to report after the writer
                        (default 180 s); one that takes longer is reported as "timed out"
  --close-sessions N    sessions opened and closed per watcher in the close scenario (200; quick 50)
  --snapshot-dirs N     directories of the snapshot scenario's tree, 10 files in each (10,000; quick 2,000)
  --base DIR            where the watched directories go (default /dev/shm, else the tmpdir)
  --clock NAME          monotonic (default) or timeorigin (see bench/lib/clock.mjs)
  --json FILE           results file (default bench/results/latest.json, which git ignores)
  --chart FILE          the SVG chart of the run (default bench/results/chart.svg, git-ignored)
  --chart-docs          also write it to docs/bench-chart.svg (the copy the README shows)
The C reader and the C walker are built with cc at each run (their columns are left out without a
compiler); the peers come from bench/package.json, installed with npm ci when missing.`
}

/** Exits with `message` and status 2 (a bad command line). */
function usageError(message) {
  console.error(`bench: ${message}`)
  process.exit(2)
}

/**
 * The configuration for `argv`; `scenarios` are the known ones (`{ name, summary }`, in run order).
 * Prints the usage and exits on --help, and exits with status 2 on a bad argument.
 */
export function parseConfig(argv, scenarios) {
  const { values: args, positionals } = parseArgs({ args: argv, options, allowPositionals: true })
  if (args.help) {
    console.log(usage(scenarios))
    process.exit(0)
  }
  const names = scenarios.map((s) => s.name)
  const asked = [...(args.scenario ?? []), ...positionals]
  for (const name of asked) if (!names.includes(name)) usageError(`scenarios are ${names.join(', ')}; got ${name}`)
  const quick = args.quick
  const config = {
    quick,
    runs: Number(args.runs ?? (quick ? 1 : 3)),
    // In run order, whatever the order they were named in.
    scenarios: asked.length ? names.filter((name) => asked.includes(name)) : names,
    latencySamples: Number(args.samples ?? (quick ? 100 : 500)),
    latencyWarmup: quick ? 10 : 20,
    latencyGapMs: Number(args['gap-ms']),
    burstFiles: Number(args.files ?? (quick ? 5000 : 20000)),
    treeSizes: (args['tree-dirs'] ?? (quick ? '500,1000,2000' : '1000,10000,50000,150000'))
      .split(',')
      .map(Number)
      .sort((a, b) => a - b),
    treeFilesPerDir: 10,
    mkdirCount: quick ? 100 : 500,
    moveinTrees: quick ? 10 : 50,
    // The same creates in a quick run; its cost is the block (once per watcher), so a quick run blocks
    // for 2 s, which still covers every create (the `stall :` line checks it).
    stallFiles: 30000,
    stallDirs: 100,
    stallBlockMs: quick ? 2000 : 4000,
    /** Between stalling the watcher's loop and starting the writer (so that the stall covers every create). */
    stallLeadMs: 100,
    /** How long a tree watcher may take to be ready (chokidar on 10k directories is slow). */
    treeReadyTimeoutMs: Number(args['tree-timeout'] ?? 180) * 1000,
    /** How long a count scenario's watcher may take to report, after the writer is done. */
    countTimeoutMs: Number(args['tree-timeout'] ?? 180) * 1000,
    idleDirs: Number(args['idle-dirs'] ?? (quick ? 10000 : 150000)),
    idleWindowMs: Number(args['idle-s'] ?? (quick ? 2 : 10)) * 1000,
    // After the last idle watcher is ready, before the window: what a watcher does just after ready
    // is not idle. V8's memory reducer runs full GCs some 8 s after a process's allocations (its
    // startup) stop: 10 to 17 ms of CPU in every Node watcher, the same whatever it watches; it
    // belongs to the startup, so the window waits it out.
    idleSettleMs: quick ? 8000 : 10000,
    /** Events in the kernel's queue for the drain (DRAIN_FILL of max_queued_events). */
    drainEvents: Math.floor(DRAIN_FILL * (readProc('/proc/sys/fs/inotify/max_queued_events') ?? 16384)),
    closeSessions: Number(args['close-sessions'] ?? (quick ? 50 : 200)),
    /** The snapshot scenario's tree (issue #14: 10,000 directories, 100,000 files) and its change. */
    snapshotDirs: Number(args['snapshot-dirs'] ?? (quick ? 2000 : 10000)),
    snapshotChangedPercent: 1,
    /** Directories in each closed session's tree (its root and these below it). */
    closeDirs: 10,
    /** Files each closed session is told of (and has delivered) before it is closed. */
    closeFiles: 10,
    base: args.base ?? defaultBase(),
    clock: args.clock,
    json: args.json,
    chart: args.chart,
    chartDocs: args['chart-docs'] ? join(rootDir, 'docs', 'bench-chart.svg') : null,
    /** The command line, as the chart prints it. */
    command: ['npm run bench', ...(argv.length ? ['--', ...argv] : [])].join(' '),
  }
  /** The files each race scenario's writer makes (tree-writer.mjs). */
  config.expected = { mkdir: config.mkdirCount, movein: config.moveinTrees * 15, stall: config.stallFiles }
  // A burst round's names are f + (round - 1) * 1,000,000 + i (children/writer.mjs): fewer than a million.
  if (!(config.burstFiles > 0 && config.burstFiles < 1_000_000))
    usageError(`--files between 1 and 999,999, got ${config.burstFiles}`)
  if (!(Number.isInteger(config.snapshotDirs) && config.snapshotDirs >= 100))
    usageError(`--snapshot-dirs must be an integer >= 100, got ${args['snapshot-dirs']}`)
  if (!(Number.isInteger(config.closeSessions) && config.closeSessions > 0))
    usageError(`--close-sessions must be a positive integer, got ${args['close-sessions']}`)
  if (!['monotonic', 'timeorigin'].includes(config.clock))
    usageError(`--clock monotonic|timeorigin, got ${config.clock}`)
  return config
}
