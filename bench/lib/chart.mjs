// The run's chart (bench/results/chart.svg; docs/bench-chart.svg with --chart-docs): start-up time and
// memory against tree size for inotify-napi (InotifyTree, watch()), @parcel/watcher, chokidar,
// recursive fs.watch and the C walker, on log-log axes; the burst's CPU per event as bars; and under
// them the date, the machine and the command. A panel whose scenario was not run says so.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { linearScale, logScale, Svg, tickLabel } from './svg.mjs'
import { fmt, sizeLabel } from './table.mjs'

const WIDTH = 980
const HEIGHT = 780

/** How the chart names and draws each watcher of the startup panels. */
const TREE_SERIES = [
  ['inotify-napi', 'InotifyTree', '#d62728', null],
  ['watch()', 'watch()', '#ff7f0e', null],
  ['@parcel/watcher', '@parcel/watcher', '#1f77b4', null],
  ['chokidar', 'chokidar', '#2ca02c', null],
  ['fs.watch', 'fs.watch rec.', '#9467bd', null],
  ['C walker', 'C walker (limit)', '#333333', '6 4'],
]
/** The same for the burst's bars. */
const BURST_BARS = {
  'inotify-napi': ['Inotify eventGen', '#d62728'],
  eventBatches: ['Inotify eventBatches', '#e377c2'],
  InotifyTree: ['InotifyTree', '#8c564b'],
  'watch()': ['watch()', '#ff7f0e'],
  'fs.watch': ['fs.watch', '#9467bd'],
  'C reader': ['C reader (limit)', '#333333'],
}

const positive = (x) => Number.isFinite(x) && x > 0

/** Axes, grid and labels of a log-log panel at (x, y), `w` x `h`; returns the two scales. */
function logPanel(svg, { x, y, w, h, title, yLabel, xs, ys }) {
  svg.text(x + w / 2, y - 12, title, { size: 14, anchor: 'middle', weight: 'bold' })
  // A margin around the figures, so that no point sits on the frame.
  const sx = logScale(Math.min(...xs) / 1.3, Math.max(...xs) * 1.3, x, x + w)
  const sy = logScale(Math.min(...ys) / 1.3, Math.max(...ys) * 1.3, y + h, y)
  for (const t of sy.ticks) {
    const ty = sy.at(t)
    svg.line(x, ty, x + w, ty, { stroke: '#e6e6e6' })
    svg.text(x - 6, ty + 4, tickLabel(t), { size: 10, anchor: 'end' })
  }
  for (const t of sx.ticks) {
    const tx = sx.at(t)
    svg.line(tx, y, tx, y + h, { stroke: '#e6e6e6' })
    svg.text(tx, y + h + 15, tickLabel(t), { size: 10, anchor: 'middle' })
  }
  svg.rect(x, y, w, h, { stroke: '#888' })
  svg.text(x + w / 2, y + h + 32, 'directories watched (log)', { size: 11, anchor: 'middle' })
  svg.text(x - 44, y + h / 2, yLabel, { size: 11, anchor: 'middle', rotate: -90 })
  return { sx, sy }
}

/** Each watcher's line (broken where a figure is missing) and its points. */
function drawSeries(svg, { sx, sy }, series, key) {
  for (const [impl, , color, dash] of TREE_SERIES) {
    const points = (series[impl] ?? []).map((p) => (positive(p[key]) ? [sx.at(p.dirs), sy.at(p[key])] : null))
    let run = []
    for (const point of [...points, null]) {
      if (point) run.push(point)
      else {
        if (run.length > 1) svg.polyline(run, { stroke: color, width: impl === 'inotify-napi' ? 3 : 2, dash })
        run = []
      }
    }
    for (const point of points) if (point) svg.circle(point[0], point[1], 3.5, { fill: color })
  }
}

function startupPanels(svg, startup) {
  const top = 80
  const panel = { y: top, w: 380, h: 260 }
  const left = { ...panel, x: 80 }
  const right = { ...panel, x: 570 }
  if (!startup || startup.sizes.length === 0) {
    const why = startup ? 'every size was skipped' : 'the startup scenario was not run'
    svg.text(WIDTH / 2, top + 120, `start-up and memory against tree size: ${why}`, { size: 13, anchor: 'middle' })
    return top + panel.h + 60
  }
  const values = (key) =>
    Object.values(startup.series)
      .flat()
      .map((p) => p[key])
      .filter(positive)
  const xs = startup.sizes
  const ready = values('readyMs')
  const memory = values('overLoadedMiB')
  if (ready.length) {
    drawSeries(
      svg,
      logPanel(svg, { ...left, title: 'Start-up: ready (ms)', yLabel: 'ms to ready (log)', xs, ys: ready }),
      startup.series,
      'readyMs',
    )
  }
  if (memory.length) {
    drawSeries(
      svg,
      logPanel(svg, {
        ...right,
        title: 'Memory: peak RSS over the loaded module (MiB)',
        yLabel: 'MiB (log)',
        xs,
        ys: memory,
      }),
      startup.series,
      'overLoadedMiB',
    )
  }
  // The legend, in one row under the panels.
  let lx = 80
  const ly = top + panel.h + 58
  for (const [impl, label, color, dash] of TREE_SERIES) {
    if (!startup.series[impl]) continue
    svg.line(lx, ly - 4, lx + 26, ly - 4, { stroke: color, width: 3, dash })
    svg.text(lx + 32, ly, label, { size: 11 })
    lx += 40 + label.length * 6.5
  }
  let y = ly + 20
  for (const { dirs, skipped } of startup.skipped) {
    svg.text(80, y, `${sizeLabel(dirs)} dirs not measured: ${skipped}`, { size: 10, fill: '#a00' })
    y += 14
  }
  svg.text(
    80,
    y,
    'chokidar and fs.watch rec. watch every file too: where their lines stop, they need more watches than max_user_watches.',
    { size: 10, fill: '#555' },
  )
  return y + 30
}

function burstPanel(svg, burst, top) {
  svg.text(WIDTH / 2, top, 'Burst: CPU time per event (us), warm round; the thin bar under it is the cold round', {
    size: 14,
    anchor: 'middle',
    weight: 'bold',
  })
  if (!burst) {
    svg.text(WIDTH / 2, top + 40, 'the burst scenario was not run', { size: 13, anchor: 'middle' })
    return top + 70
  }
  const x = 230
  const w = 620
  const barH = 16
  const gap = 12
  const max = Math.max(...burst.bars.flatMap((b) => [b.warm, b.cold]).filter(Number.isFinite), 0.001)
  const scale = linearScale(max, x, x + w)
  const y0 = top + 18
  const h = burst.bars.length * (barH + 6 + gap)
  for (const t of scale.ticks) {
    svg.line(scale.at(t), y0, scale.at(t), y0 + h, { stroke: '#e6e6e6' })
    svg.text(scale.at(t), y0 + h + 14, tickLabel(t), { size: 10, anchor: 'middle' })
  }
  burst.bars.forEach((bar, i) => {
    const [label, color] = BURST_BARS[bar.impl] ?? [bar.impl, '#777']
    const y = y0 + i * (barH + 6 + gap)
    svg.text(x - 8, y + barH - 3, label, { size: 12, anchor: 'end' })
    if (Number.isFinite(bar.warm)) svg.rect(x, y, scale.at(bar.warm) - x, barH, { fill: color })
    if (Number.isFinite(bar.cold)) svg.rect(x, y + barH + 1, scale.at(bar.cold) - x, 4, { fill: color })
    svg.text(Number.isFinite(bar.warm) ? scale.at(bar.warm) + 6 : x + 6, y + barH - 3, fmt(bar.warm), { size: 11 })
  })
  svg.line(x, y0, x, y0 + h, { stroke: '#888' })
  svg.text(x + w / 2, y0 + h + 30, `us of CPU per event, ${burst.files} creates a round`, {
    size: 11,
    anchor: 'middle',
  })
  return y0 + h + 50
}

/** Writes the chart of `chart` ({ date, machine, command, startup, burst }) to `file`. */
export function writeChart(file, chart) {
  const svg = new Svg(WIDTH, HEIGHT)
  svg.text(WIDTH / 2, 30, 'inotify-napi beside its peers and the C limits', {
    size: 17,
    anchor: 'middle',
    weight: 'bold',
  })
  const next = startupPanels(svg, chart.startup)
  burstPanel(svg, chart.burst, next)
  svg.text(20, HEIGHT - 34, `${chart.date.slice(0, 10)} · ${chart.machine}`, { size: 11, fill: '#444' })
  svg.text(20, HEIGHT - 16, chart.command, { size: 11, fill: '#444' })
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, svg.toString())
}
