/**
 * Stress: the engine's property tests (parser, tree bookkeeping, a tree's packed names and
 * directory table, the shared holders of each wd, change coalescing, the change log against the
 * batch path, snapshots; see crates/engine/src/tree/props.rs) with PROPTEST_CASES cases each (default 100,000; `.ci/run`
 * gives 5,000), instead of the few hundred `cargo test` runs. A failure's minimal case is saved in
 * crates/engine/proptest-regressions/ (commit it: it is re-run first from then on).
 */
import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { expect, it } from 'vitest'

const CASES = Number(process.env.PROPTEST_CASES ?? 100_000)
const REPO = resolve(__dirname, '../..')

it(
  `the engine's property tests hold over ${CASES} cases each`,
  () => {
    const started = performance.now()
    const run = spawnSync('cargo', ['test', '--locked', '-p', 'inotify-engine', '--lib', 'props'], {
      cwd: REPO,
      env: { ...process.env, PROPTEST_CASES: String(CASES) },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    })
    const summary = run.stdout.split('\n').filter((line) => line.startsWith('test ') || line.startsWith('test result'))
    console.log(
      `proptest, ${CASES} cases each, ${((performance.now() - started) / 1000).toFixed(1)} s:\n${summary.join('\n')}`,
    )
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0)
    // Every property ran (a filter that matches nothing would pass silently).
    expect(summary.filter((line) => line.endsWith(' ... ok'))).toHaveLength(16)
  },
  60 * 60 * 1000,
)
