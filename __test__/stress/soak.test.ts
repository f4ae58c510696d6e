/**
 * Stress: memory under a steady stream of events. Two Inotify (eventGen, eventBatches), a tree and a watch() consume some
 * 2,000 file operations a second for SOAK_MINUTES (default 10; `.ci/run` gives 1) in a child
 * process that samples its RSS after a full GC; the slope of a least-squares line through the
 * samples after the first fifth (warm-up: JIT, buffers reaching their size) must stay under
 * SOAK_MAX_SLOPE_MIB_PER_MIN: by default 1 MiB/min for a soak of 5 minutes or more, and 4 MiB/min
 * for shorter ones, whose fit is noisier (±1 MiB of sampling noise over a minute). At the soak's
 * rate (some 30,000 events a second across the three layers), 1 MiB/min is about 0.6 bytes per event.
 *
 * V8 grows its young generation in steps of several MiB as the allocation rate stays high (seen
 * here: RSS following heapTotal from 9 to 22 MiB within two minutes, then flat); the child runs
 * with the young generation at its full size from the start (--min/max-semi-space-size=16), so
 * that those steps are not taken for a leak. The slope of RSS minus heapTotal (native memory:
 * the engine, its threads and buffers) is reported too.
 */
import { spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { makeTempDir } from '../helpers'

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10)
const MAX_SLOPE = Number(process.env.SOAK_MAX_SLOPE_MIB_PER_MIN ?? (MINUTES >= 5 ? 1 : 4))
const CHILD = resolve(__dirname, '../fixtures/soak-child.cjs')
const MIB = 1024 * 1024

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

interface Sample {
  t: number
  rss: number
  heapTotal: number
  heapUsed: number
  external: number
  plain: number
  batched: number
  tree: number
  changes: number
}

/** Least-squares slope of `y` over `x`. */
function slope(points: readonly [number, number][]): number {
  const n = points.length
  const mx = points.reduce((s, [x]) => s + x, 0) / n
  const my = points.reduce((s, [, y]) => s + y, 0) / n
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0)
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0)
  return sxy / sxx
}

it(
  `holds RSS flat over a ${MINUTES}-minute soak with a steady stream of events`,
  async () => {
    const { dir, cleanup } = makeTempDir('inotify-napi-soak-')
    cleanups.push(cleanup)
    const seconds = MINUTES * 60
    const every = Math.max(1000, Math.round((seconds * 1000) / 120))
    const child = spawn(
      process.execPath,
      [
        '--expose-gc',
        '--min-semi-space-size=16',
        '--max-semi-space-size=16',
        CHILD,
        dir,
        String(seconds),
        String(every),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const code = await new Promise<number | null>((resolveEnd) => child.on('close', resolveEnd))
    expect(stderr).toBe('')
    expect(code).toBe(0)
    const { samples } = JSON.parse(stdout) as { samples: Sample[] }
    const steady = samples.slice(Math.floor(samples.length / 5))
    const perMinute = (pick: (s: Sample) => number): number => slope(steady.map((s) => [s.t / 60, pick(s) / MIB]))
    const last = samples.at(-1)!
    const rate = (n: number): number => Math.round(n / last.t)
    const report = {
      minutes: MINUTES,
      samples: samples.length,
      rssMiB: {
        first: +(samples[0]!.rss / MIB).toFixed(1),
        afterWarmUp: +(steady[0]!.rss / MIB).toFixed(1),
        last: +(last.rss / MIB).toFixed(1),
      },
      slopeMiBPerMin: {
        rss: +perMinute((s) => s.rss).toFixed(3),
        native: +perMinute((s) => s.rss - s.heapTotal).toFixed(3),
        heapUsed: +perMinute((s) => s.heapUsed).toFixed(3),
        external: +perMinute((s) => s.external).toFixed(3),
      },
      maxSlope: MAX_SLOPE,
      eventsPerSecond: {
        inotify: rate(last.plain),
        eventBatches: rate(last.batched),
        tree: rate(last.tree),
        watchChanges: rate(last.changes),
      },
    }
    console.log(`soak: ${JSON.stringify(report)}`)
    // Events flowed the whole time, at every layer.
    const half = samples[Math.floor(samples.length / 2)]!
    for (const layer of ['plain', 'batched', 'tree', 'changes'] as const) {
      expect(half[layer]).toBeGreaterThan(0)
      expect(last[layer]).toBeGreaterThan(half[layer] + (last.t - half.t) * 100)
    }
    expect(report.slopeMiBPerMin.rss).toBeLessThan(MAX_SLOPE)
  },
  (MINUTES * 60 + 120) * 1000,
)
