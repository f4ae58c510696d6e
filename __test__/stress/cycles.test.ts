/**
 * Stress: open/close cycles of every kind of watcher, STRESS_CYCLES of them (default 20,000;
 * `.ci/run` gives 4,000), leave this process's descriptors, threads, inotify instances and kernel
 * watches as they were. (`npm test` runs 2,000 in reliability-lifecycle.test.ts.)
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { makeTempDir } from '../helpers'
import { holdingsOnceClosed, openCloseCycles } from '../reliability-fixture'

const CYCLES = Number(process.env.STRESS_CYCLES ?? 20_000)

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

it(
  `${CYCLES} open/close cycles of Inotify, InotifyTree and watch() leave nothing behind`,
  async () => {
    const { dir, cleanup } = makeTempDir('inotify-napi-cycles-')
    cleanups.push(cleanup)
    for (const sub of ['a/deeper', 'b/deeper', 'c/deeper']) mkdirSync(join(dir, sub), { recursive: true })
    // One cycle of each kind first: whatever Node or the binding start lazily is then running.
    await openCloseCycles(dir, 4)
    const before = await holdingsOnceClosed()
    const started = performance.now()
    await openCloseCycles(dir, CYCLES)
    const after = await holdingsOnceClosed()
    console.log(
      `cycles: ${CYCLES} in ${((performance.now() - started) / 1000).toFixed(1)} s; after ${JSON.stringify(after)}, before ${JSON.stringify(before)}`,
    )
    expect(after).toEqual(before)
  },
  Math.max(60_000, CYCLES * 10),
)
