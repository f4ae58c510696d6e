// Printing the results: figures, the tables (each figure followed by its ratio columns), and the
// per-round lines of the scenarios that run in rounds.
import { median } from './stats.mjs'

/** A figure as the tables print it: a string as it is, a number with `digits`, anything else n/a. */
export const fmt = (x, digits = 2) => (typeof x === 'string' ? x : Number.isFinite(x) ? x.toFixed(digits) : 'n/a')

/** 1000 -> '1k', 2500 -> '2500'. */
export const sizeLabel = (dirs) => (dirs % 1000 === 0 ? `${dirs / 1000}k` : String(dirs))

/** A round's name in the results: cold (round 1), warm (the last), round N between. */
export const roundName = (k, rounds) => (k === 0 ? 'cold' : k === rounds - 1 ? 'warm' : `round ${k + 1}`)

/** The same in a table's metric: the warm round says which it is. */
export const roundLabel = (k, rounds) => (k === rounds - 1 ? `warm (round ${rounds})` : roundName(k, rounds))

/**
 * Prints rows `{ scenario, metric, values: [...], ratios: [...], digits }` under `columns`: every
 * column but the first is followed by its ratio column, headed 'ratio' unless the column is given as
 * `{ name, ratio }`; `ratio` may also be a list of headings (none, or several ratio columns), and the
 * row's `ratios[i - 1]` is then a list of as many values.
 */
export function printTable(columns, rows) {
  const labels = columns.map((c, i) => (i === 0 ? [] : typeof c === 'string' ? ['ratio'] : [c.ratio].flat()))
  const header = ['scenario', 'metric']
  for (const [i, c] of columns.entries()) header.push(typeof c === 'string' ? c : c.name, ...labels[i])
  const cells = rows.map((r) => {
    const row = [r.scenario, r.metric]
    r.values.forEach((value, i) => {
      row.push(fmt(value, r.digits))
      const ratios = i > 0 ? [r.ratios[i - 1]].flat() : []
      for (const k of labels[i].keys()) row.push(ratios[k] === undefined ? '' : fmt(ratios[k]))
    })
    return row
  })
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c].length)))
  const line = (row) =>
    row
      .map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('   ')
      .trimEnd()
  console.log(line(header))
  for (const row of cells) console.log(line(row))
}

/**
 * A line with one figure of every round, each watcher's median over the runs (the table shows only
 * the cold and the warm round): `what` is the figure, `key` its field in each round's record.
 */
export function roundsLine(scenario, scenarioRuns, impls, rounds, what, key, { digits = 2, scale = 1 } = {}) {
  const m = (impl, k) => median(scenarioRuns.map((r) => r[impl].rounds[k]?.[key])) / scale
  const each = impls.map(
    (impl) => `${impl} ${Array.from({ length: rounds }, (_, k) => fmt(m(impl, k), digits)).join(' ')}`,
  )
  return `${scenario.padEnd(8)}: ${what} in rounds 1 to ${rounds} (median of the runs): ${each.join('; ')}`
}

/**
 * One run's rounds of one watcher as text, `show(round)` for each ('cold X, round 2 Y, ..., warm Z'),
 * or '... in each round' when it is the same in all.
 */
export function eachRound(rounds, show, count) {
  const texts = rounds.map(show)
  if (texts.length === count && texts.every((text) => text === texts[0])) return `${texts[0]} in each round`
  return texts.map((text, k) => `${roundName(k, count)} ${text}`).join(', ')
}
