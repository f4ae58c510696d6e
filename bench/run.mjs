// The side-by-side benchmark (DESIGN.md section 6): inotify-napi against Node's fs.watch, measured in
// the same run, reported as ratios (inotify-napi / fs.watch).
//
//   npm run bench              3 runs per scenario, medians reported
//   npm run bench -- --quick   1 short run
//
// Every file operation comes from a separate writer process (bench/writer.mjs); every watcher runs in
// a process of its own (bench/watcher.mjs), so that its CPU time and RSS are attributable. See
// bench/README.md for what each figure means.
import { spawn, execFileSync } from 'node:child_process'
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { benchDir, loadInotifyNapi, packageVersion, rootDir } from './load.mjs'

const IMPLS = ['inotify-napi', 'fs.watch']
const TARGET_P50_RATIO = 1.2

const { values: args } = parseArgs({
  options: {
    help: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    samples: { type: 'string' },
    files: { type: 'string' },
    'gap-ms': { type: 'string', default: '1' },
    scenario: { type: 'string', multiple: true },
    base: { type: 'string' },
    clock: { type: 'string', default: 'monotonic' },
    json: { type: 'string', default: join(benchDir, 'results', 'latest.json') },
  },
})
if (args.help) {
  console.log(`usage: npm run bench [-- options]
  --quick               1 run, 100 latency samples, 5,000 creates (default: 3 runs, 500, 20,000)
  --runs N              runs per scenario (medians are reported)
  --samples N           latency samples per watcher
  --files N             creates in the burst
  --gap-ms MS           pause between latency samples (default 1)
  --scenario NAME       latency or burst (repeatable; default both)
  --base DIR            where the watched directories go (default /dev/shm, else the tmpdir)
  --clock NAME          monotonic (default) or timeorigin (see bench/clock.mjs)
  --json FILE           results file (default bench/results/latest.json)`)
  process.exit(0)
}
const config = {
  quick: args.quick,
  runs: Number(args.runs ?? (args.quick ? 1 : 3)),
  latencySamples: Number(args.samples ?? (args.quick ? 100 : 500)),
  latencyWarmup: args.quick ? 10 : 20,
  latencyGapMs: Number(args['gap-ms']),
  burstFiles: Number(args.files ?? (args.quick ? 5000 : 20000)),
  scenarios: args.scenario ?? ['latency', 'burst'],
  base: args.base ?? defaultBase(),
  clock: args.clock,
}
if (!['monotonic', 'timeorigin'].includes(config.clock)) {
  console.error(`bench: --clock monotonic|timeorigin, got ${config.clock}`)
  process.exit(2)
}
// Children read BENCH_CLOCK (bench/clock.mjs); so does this process, for the clock check.
process.env.BENCH_CLOCK = config.clock
const { nowMs, timeOriginOffsetMs } = await import('./clock.mjs')

/**
 * Where the watched directories go: tmpfs (/dev/shm) when there is one, so that the writer is limited
 * by the kernel rather than by a disk filesystem's inode allocator (on an aged ext4, a create can take
 * 0.5 ms, which turns a "burst" into a trickle); `--base DIR` chooses another place.
 */
function defaultBase() {
  try {
    accessSync('/dev/shm', constants.W_OK)
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm'
  } catch {}
  return os.tmpdir()
}

// Fail early, and clearly, when the package is not built.
loadInotifyNapi()

// ---------------------------------------------------------------------------------------------
// Child processes with an IPC inbox

/** Starts `node bench/<script> ...argv` with an IPC channel; stdout is captured, stderr shown. */
function startChild(script, argv) {
  const child = spawn(process.execPath, [join(benchDir, script), ...argv], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  })
  const inbox = []
  let wake = () => {}
  let stdout = ''
  let exit = null
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.on('message', (message) => {
    inbox.push(message)
    wake()
  })
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      liveChildren.delete(proc)
      exit = { code, signal }
      wake()
      resolve(exit)
    })
  })
  const proc = {
    child,
    exited,
    get stdout() {
      return stdout
    },
    send(message) {
      if (child.connected) child.send(message, () => {})
    },
    /** The first message that `match` accepts, waiting at most `timeoutMs`; null on timeout. */
    async next(match, timeoutMs) {
      const test = typeof match === 'string' ? (m) => m.op === match : match
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const at = inbox.findIndex(test)
        if (at >= 0) return inbox.splice(at, 1)[0]
        if (exit !== null) throw new Error(`${script} exited (${JSON.stringify(exit)}) before the expected message`)
        const left = deadline - Date.now()
        if (left <= 0) return null
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, left)
          wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
      }
    },
    kill() {
      if (exit === null) child.kill('SIGKILL')
    },
  }
  liveChildren.add(proc)
  return proc
}

/** Largest clock disagreement seen by checkClock, in ms (a child's stamp outside [sent, received]). */
let clockSkewMs = 0
/** Each process's timeorigin-minus-monotonic offset (ms), this one's first. */
const originOffsetsMs = [timeOriginOffsetMs()]

/**
 * Checks that a child's clock is this process's clock: its answer to a ping must fall between the
 * ping's send and the answer's receipt. The best of a few pings is kept (scheduling only widens the
 * window).
 */
async function checkClock(proc, what) {
  let best = Infinity
  for (let i = 0; i < 5; i++) {
    const sent = nowMs()
    proc.send({ op: 'clock' })
    const { t, originOffsetMs } = await expectMessage(proc, 'clock', 10_000, `${what}'s clock`)
    if (i === 0) originOffsetsMs.push(originOffsetMs)
    const received = nowMs()
    const outside = t < sent ? sent - t : t > received ? t - received : 0
    best = Math.min(best, outside)
  }
  clockSkewMs = Math.max(clockSkewMs, best)
}

async function expectMessage(proc, op, timeoutMs, what) {
  const message = await proc.next(op, timeoutMs)
  if (message === null) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
  return message
}

/** Directories and children to clean up if the run is interrupted (each run's `finally` does it otherwise). */
const liveDirs = new Set()
const liveChildren = new Set()
process.once('SIGINT', () => {
  for (const proc of liveChildren) proc.kill()
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true })
  process.exit(130)
})

function freshDir(tag) {
  const dir = realpathSync(mkdtempSync(join(config.base, `inotify-napi-bench-${tag}-`)))
  liveDirs.add(dir)
  return dir
}

function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true })
  liveDirs.delete(dir)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------
// Statistics

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const mid = v.length >> 1
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

function summarize(latencies) {
  const sorted = [...latencies].sort((a, b) => a - b)
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1],
    mean,
  }
}

// ---------------------------------------------------------------------------------------------
// Scenario 1: write-to-event latency, the two watchers sampled alternately

async function latencyRun(run) {
  const dir = freshDir('latency')
  const prefix = { 'inotify-napi': 'n', 'fs.watch': 'f' }
  const watchers = {}
  let writer
  try {
    // Both watch the same directory, each in its own process; each reports only its own names.
    for (const impl of IMPLS) {
      watchers[impl] = startChild('watcher.mjs', ['--impl', impl, '--mode', 'latency', '--dir', dir, '--prefix', prefix[impl]])
    }
    writer = startChild('writer.mjs', ['--mode', 'latency'])
    for (const impl of IMPLS) await expectMessage(watchers[impl], 'ready', 10_000, `${impl} watcher`)
    await expectMessage(writer, 'ready', 10_000, 'the writer')
    for (const impl of IMPLS) await checkClock(watchers[impl], `${impl} watcher`)
    await checkClock(writer, 'the writer')

    const received = { 'inotify-napi': new Map(), 'fs.watch': new Map() }
    const lost = { 'inotify-napi': 0, 'fs.watch': 0 }
    const total = config.latencyWarmup + config.latencySamples
    for (let i = 0; i < total; i++) {
      // Alternate which goes first, so neither always follows the other.
      const order = (i + run) % 2 === 0 ? IMPLS : [...IMPLS].reverse()
      for (const impl of order) {
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
    for (const impl of IMPLS) {
      const latencies = [...received[impl]].map(([path, t]) => t - times[path])
      watchers[impl].send({ op: 'stop' })
      const stopped = await expectMessage(watchers[impl], 'stopped', 10_000, `${impl} watcher to stop`)
      result[impl] = { ...summarize(latencies), lost: lost[impl], maxRssKiB: stopped.maxRssKiB }
    }
    writer.send({ op: 'exit' })
    await Promise.all([writer.exited, ...Object.values(watchers).map((w) => w.exited)])
    return result
  } finally {
    writer?.kill()
    for (const w of Object.values(watchers)) w.kill()
    removeDir(dir)
  }
}

// ---------------------------------------------------------------------------------------------
// Scenario 2: a burst of creates, one watcher at a time

async function burstRun(impl) {
  const dir = freshDir('burst')
  const count = config.burstFiles
  let watcher
  let writer
  try {
    watcher = startChild('watcher.mjs', ['--impl', impl, '--mode', 'burst', '--dir', dir, '--expect', String(count)])
    await expectMessage(watcher, 'ready', 10_000, `${impl} watcher`)
    writer = startChild('writer.mjs', ['--mode', 'burst', '--dir', dir, '--count', String(count)])
    await expectMessage(writer, 'ready', 10_000, 'the writer')
    await checkClock(watcher, `${impl} watcher`)
    await checkClock(writer, 'the writer')
    writer.send({ op: 'go' })
    const done = await expectMessage(writer, 'burst-done', 120_000, 'the writer to finish the burst')
    watcher.send({ op: 'writer-done' })
    let timer
    const exit = await Promise.race([watcher.exited, new Promise((resolve) => (timer = setTimeout(resolve, 120_000, null)))])
    clearTimeout(timer)
    if (exit === null) throw new Error(`${impl} watcher did not finish within 120 s of the burst`)
    const line = watcher.stdout.trim().split('\n').pop()
    if (!line) throw new Error(`${impl} watcher exited (${JSON.stringify(exit)}) without results`)
    const r = JSON.parse(line)
    return {
      seen: r.seen,
      expected: r.expected,
      completeness: (100 * r.seen) / r.expected,
      events: r.events,
      overflows: r.overflows,
      endedBy: r.reason,
      // From the moment the writer started its last create (as in the latency scenario).
      lagMs: r.tLastEvent === null ? NaN : r.tLastEvent - done.tLastStart,
      writerMs: done.tLast - done.tFirst,
      cpuUs: r.cpuUs,
      cpuUsPerEvent: r.events > 0 ? r.cpuUs / r.events : NaN,
      maxRssKiB: r.maxRssKiB,
    }
  } finally {
    writer?.kill()
    watcher?.kill()
    removeDir(dir)
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function machine() {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    os: `${os.type()} ${os.release()}`,
    kernel: os.release(),
    node: process.version,
    maxQueuedEvents: readProc('/proc/sys/fs/inotify/max_queued_events'),
    loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
    watchedFs: filesystemOf(config.base),
  }
}

function filesystemOf(dir) {
  try {
    return execFileSync('findmnt', ['-n', '-o', 'FSTYPE', '-T', dir], { encoding: 'utf8' }).trim().split('\n')[0]
  } catch {
    return 'unknown'
  }
}

function readProc(path) {
  try {
    return Number(readFileSync(path, 'utf8').trim())
  } catch {
    return null
  }
}

function versions() {
  let commit = null
  let dirty = null
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: rootDir, encoding: 'utf8' }).trim()
    dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'crates'], { cwd: rootDir, encoding: 'utf8' }).trim() !== ''
  } catch {}
  let distBuilt = null
  try {
    distBuilt = statSync(join(rootDir, 'dist', 'index.js')).mtime.toISOString()
  } catch {}
  return {
    'inotify-napi': packageVersion(),
    commit,
    srcDirty: dirty,
    distBuilt,
    napi: process.versions.napi,
    libuv: process.versions.uv,
  }
}

const fmt = (x, digits = 2) => (typeof x === 'string' ? x : Number.isFinite(x) ? x.toFixed(digits) : 'n/a')

function printTable(rows) {
  const header = ['scenario', 'metric', 'inotify-napi', 'fs.watch', 'ratio']
  const cells = rows.map((r) => [r.scenario, r.metric, fmt(r.napi, r.digits), fmt(r.fs, r.digits), r.ratio === undefined ? '' : fmt(r.ratio)])
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c].length)))
  const line = (row) => row.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('   ')
  console.log(line(header))
  for (const row of cells) console.log(line(row))
}

function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN
}

async function main() {
  const m = machine()
  const v = versions()
  console.log(`inotify-napi benchmark: ${config.quick ? 'quick, ' : ''}${config.runs} run(s) per scenario, medians of runs`)
  console.log(`machine : ${m.cpu}, ${m.cores} cores, ${m.os}, Node ${m.node}, load ${m.loadAverage.join(' ')}`)
  console.log(
    `versions: inotify-napi ${v['inotify-napi']} (git ${v.commit}${v.srcDirty ? ' + uncommitted src/crates changes' : ''}, dist built ${v.distBuilt}), ` +
      `N-API ${v.napi}, libuv ${v.libuv} (fs.watch)`,
  )
  console.log(
    `config  : latency ${config.latencySamples} samples per watcher (+${config.latencyWarmup} warm-up, ${config.latencyGapMs} ms apart), ` +
      `burst ${config.burstFiles} creates; dirs in ${config.base} (${m.watchedFs}); max_queued_events ${m.maxQueuedEvents}`,
  )
  console.log('')

  const runs = { latency: [], burst: [] }
  if (config.scenarios.includes('latency')) {
    for (let run = 0; run < config.runs; run++) {
      process.stderr.write(`latency run ${run + 1}/${config.runs}...\n`)
      runs.latency.push(await latencyRun(run))
    }
  }
  if (config.scenarios.includes('burst')) {
    for (let run = 0; run < config.runs; run++) {
      const order = run % 2 === 0 ? IMPLS : [...IMPLS].reverse()
      const result = {}
      for (const impl of order) {
        process.stderr.write(`burst run ${run + 1}/${config.runs}: ${impl}...\n`)
        result[impl] = await burstRun(impl)
      }
      runs.burst.push(result)
    }
  }

  const med = (scenario, impl, key) => median(runs[scenario].map((r) => r[impl][key]))
  const worst = (scenario, impl, key) => Math.min(...runs[scenario].map((r) => r[impl][key]))
  const rows = []
  const add = (scenario, metric, napi, fs, { digits = 2, withRatio = true } = {}) =>
    rows.push({ scenario, metric, napi, fs, digits, ratio: withRatio ? ratio(napi, fs) : undefined })
  if (runs.latency.length) {
    add('latency', 'p50 ms', med('latency', 'inotify-napi', 'p50'), med('latency', 'fs.watch', 'p50'), { digits: 3 })
    add('latency', 'p90 ms', med('latency', 'inotify-napi', 'p90'), med('latency', 'fs.watch', 'p90'), { digits: 3 })
    add('latency', 'p99 ms', med('latency', 'inotify-napi', 'p99'), med('latency', 'fs.watch', 'p99'), { digits: 3 })
    add('latency', 'lost samples', sum(runs.latency, 'inotify-napi', 'lost'), sum(runs.latency, 'fs.watch', 'lost'), { digits: 0, withRatio: false })
  }
  if (runs.burst.length) {
    add('burst', 'seen % (worst run)', worst('burst', 'inotify-napi', 'completeness'), worst('burst', 'fs.watch', 'completeness'), { digits: 3 })
    add('burst', 'overflows', sum(runs.burst, 'inotify-napi', 'overflows'), 'n/a', { digits: 0, withRatio: false })
    add('burst', 'lag after last ms', med('burst', 'inotify-napi', 'lagMs'), med('burst', 'fs.watch', 'lagMs'))
    add('burst', 'CPU us/event', med('burst', 'inotify-napi', 'cpuUsPerEvent'), med('burst', 'fs.watch', 'cpuUsPerEvent'))
    add('burst', 'CPU ms total', med('burst', 'inotify-napi', 'cpuUs') / 1000, med('burst', 'fs.watch', 'cpuUs') / 1000, { digits: 1 })
    add('burst', 'peak RSS MiB', med('burst', 'inotify-napi', 'maxRssKiB') / 1024, med('burst', 'fs.watch', 'maxRssKiB') / 1024, { digits: 1 })
  }
  printTable(rows)

  const targets = {}
  if (runs.latency.length) {
    const r = ratio(med('latency', 'inotify-napi', 'p50'), med('latency', 'fs.watch', 'p50'))
    targets.latencyP50 = { target: `<= ${TARGET_P50_RATIO}x fs.watch`, ratio: r, holds: r <= TARGET_P50_RATIO }
  }
  if (runs.burst.length) {
    const napiRuns = runs.burst.map((b) => b['inotify-napi'])
    const holds = napiRuns.every((b) => b.seen === b.expected && b.overflows === 0)
    targets.burstNoLoss = {
      target: 'every created name seen, no overflow, in every run',
      seen: napiRuns.map((b) => `${b.seen}/${b.expected}`),
      overflows: napiRuns.map((b) => b.overflows),
      holds,
    }
  }
  console.log('')
  for (const [name, t] of Object.entries(targets)) {
    const detail = name === 'latencyP50' ? `p50 ratio ${fmt(t.ratio)}` : `seen ${t.seen.join(', ')}; overflows ${t.overflows.join(', ')}`
    console.log(`target ${name.padEnd(12)} ${t.target}: ${t.holds ? 'HOLDS' : 'MISSED'} (${detail})`)
  }
  if (runs.burst.length) {
    const writerMs = median(runs.burst.flatMap((b) => IMPLS.map((impl) => b[impl].writerMs)))
    console.log(`writer  : ${config.burstFiles} creates in ${fmt(writerMs, 1)} ms (median), ${fmt(config.burstFiles / writerMs, 0)} creates/ms`)
  }

  const originSpreadUs = (Math.max(...originOffsetsMs) - Math.min(...originOffsetsMs)) * 1000
  console.log(
    `clock   : ${config.clock}; children's stamps within ${fmt(clockSkewMs * 1000, 1)} us of the ping-pong window; ` +
      `performance.timeOrigin error spread over ${originOffsetsMs.length} processes: ${fmt(originSpreadUs, 1)} us`,
  )

  const clock = { name: config.clock, pingPongSkewMs: clockSkewMs, timeOriginSpreadUs: originSpreadUs }
  const json = { date: new Date().toISOString(), machine: m, versions: v, config, clock, summary: rows, targets, runs }
  mkdirSync(join(args.json, '..'), { recursive: true })
  writeFileSync(args.json, `${JSON.stringify(json, null, 2)}\n`)
  console.log(`results : ${relative(process.cwd(), args.json) || args.json}`)
}

function sum(scenarioRuns, impl, key) {
  return scenarioRuns.reduce((total, r) => total + r[impl][key], 0)
}

main().catch((error) => {
  console.error(`bench: ${error.stack ?? error}`)
  process.exit(1)
})
