// What a run reports: one table per scenario and one `target` line per target, printed as they come
// and kept (`tables`, `targets`) for the results file.
import { fmt, printTable } from './table.mjs'
import { ratio } from './stats.mjs'

/** watch() within 10% of the raw API: its ratio to it at most this (issue #4, and #13 for the tree). */
export const TARGET_WATCH_RATIO = 1.1

export class Report {
  /** Each table's rows, by scenario. */
  tables = {}
  /** Each target's verdict and figures, by name. */
  targets = {}

  /** Prints a scenario's table (`printTable`'s columns and rows) under `== scenario`. */
  section(scenario, columns, rows) {
    this.tables[scenario] = rows
    console.log(`== ${scenario}`)
    printTable(columns, rows)
  }

  /**
   * Prints a target's line: `t.target` says what is asked, `t.holds` true, false or null (a figure is
   * missing: n/a), `t.detail` the figures it was judged on; the rest of `t` goes to the results file.
   */
  target(name, t) {
    this.targets[name] = t
    const verdict = t.holds === null ? 'n/a' : t.holds ? 'HOLDS' : 'MISSED'
    console.log(`target ${name.padEnd(16)} ${t.target}: ${verdict} (${t.detail})`)
  }

  /**
   * One target line per figure: watch() within 10% of the raw API (its ratio to it at most
   * TARGET_WATCH_RATIO; a completeness figure must be equal). A figure that is not a number (a
   * watcher that failed or timed out) gives n/a, or MISSED when it is watch()'s and the raw API has
   * one. Each figure is `{ key, figure, raw, watch, digits, equal?, floor?, note? }`: under `floor`
   * both figures count as `floor` (a lag under it is a consumer that kept up).
   */
  watchTargets(scenario, figures, rawName = 'InotifyTree') {
    for (const f of figures) {
      const name = `${scenario}Watch${f.key}`
      const floor = f.floor ?? 0
      const r = ratio(Math.max(f.watch, floor), Math.max(f.raw, floor))
      const known = Number.isFinite(f.raw) && Number.isFinite(f.watch)
      const holds = known
        ? f.equal
          ? f.watch === f.raw
          : r <= TARGET_WATCH_RATIO
        : Number.isFinite(f.raw)
          ? false
          : null
      const rule = f.equal ? 'equal' : `ratio <= ${fmt(TARGET_WATCH_RATIO)}`
      this.target(name, {
        target: `watch() within 10% of ${rawName}: ${f.figure} (${rule})`,
        ratio: r,
        raw: f.raw,
        watch: f.watch,
        holds,
        detail:
          `${fmt(f.watch, f.digits)} vs ${fmt(f.raw, f.digits)}, ratio ${fmt(r)}` +
          `${floor > 0 && Math.min(f.watch, f.raw) < floor ? ` (each taken as at least ${fmt(floor)}: under it a consumer kept up)` : ''}` +
          `${f.note ? `; ${f.note}` : ''}`,
      })
    }
  }
}
