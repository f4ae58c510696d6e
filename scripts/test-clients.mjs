#!/usr/bin/env node
/**
 * Real tools on top of inotify-napi, end to end: Tailwind CSS 4's CLI and the Parcel bundler,
 * installed from the npm registry into a temporary project whose package.json overrides
 * `@parcel/watcher` with this package, packed as it would be published.
 *
 *   node scripts/test-clients.mjs                      each case once, with inotify-napi; fails on a miss
 *   node scripts/test-clients.mjs --compare --tries 10 each case 10 times with @parcel/watcher and with
 *                                                      inotify-napi, and the counts that reached the output
 *
 * Options: --deadline MS (how long a change may take to reach the output: 10000, 5000 with --compare),
 * --keep (leave the temporary directory, and say where).
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { detectMusl, prebuiltName } from '../dist/loader.js'
import { PARCEL_WATCH_CASES, parcelBuildTwice, startParcelWatch, stopParcelWatch } from './clients/parcel.mjs'
import { installProject, packTarballs, TOOLS, VARIANTS } from './clients/projects.mjs'
import { startTailwind, stopTailwind, TAILWIND_CASES } from './clients/tailwind.mjs'
import { describeExit } from './clients/tool-process.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
/** A tool's first build on a loaded 2-core machine, and a whole `parcel build`. */
const START_TIMEOUT_MS = 120_000

const USAGE = 'usage: node scripts/test-clients.mjs [--compare] [--tries N] [--deadline MS] [--keep]'
const args = parseOptions()
const tries = wholeNumber('--tries', args.tries ?? (args.compare ? '10' : '1'))
const deadlineMs = wholeNumber('--deadline', args.deadline ?? (args.compare ? '5000' : '10000'))
const variants = args.compare ? [...VARIANTS].reverse() : ['inotify-napi']

function parseOptions() {
  try {
    return parseArgs({
      options: {
        compare: { type: 'boolean', default: false },
        tries: { type: 'string' },
        deadline: { type: 'string' },
        keep: { type: 'boolean', default: false },
      },
    }).values
  } catch (error) {
    console.error(`test-clients: ${error.message}\n${USAGE}`)
    process.exit(2)
  }
}

function wholeNumber(name, text) {
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 1) {
    console.error(`test-clients: ${name} takes a whole number from 1, got '${text}'`)
    process.exit(2)
  }
  return value
}

/** The watch-mode tools: how each starts and stops, and its cases. */
const SUITES = [
  { tool: 'tailwindcss --watch', start: startTailwind, stop: stopTailwind, cases: TAILWIND_CASES },
  { tool: 'parcel watch', start: startParcelWatch, stop: stopParcelWatch, cases: PARCEL_WATCH_CASES },
]

/** Runs every case `tries` times in one process of each tool; returns rows of counts. */
async function runSuites(project, variant) {
  const rows = []
  for (const suite of SUITES) {
    const session = await suite.start({ project, variant, startTimeoutMs: START_TIMEOUT_MS })
    try {
      for (const kase of suite.cases) {
        const times = []
        for (let k = 0; k < tries; k++) times.push(await kase.attempt(session, k, deadlineMs))
        const reached = times.filter((ms) => ms !== undefined)
        rows.push({ what: `${suite.tool}: ${kase.name}`, variant, reached: reached.length, tries, times })
        console.log(
          `  [${variant}] ${suite.tool}: ${kase.name}: ${reached.length}/${tries} reached the output` +
            (reached.length > 0 ? ` (slowest ${Math.max(...reached)} ms)` : ''),
        )
      }
    } finally {
      const exit = await suite.stop(session)
      console.log(`  [${variant}] ${suite.tool} stopped (${describeExit(exit)})`)
    }
  }
  const failure = await parcelBuildTwice({ project, variant, timeoutMs: START_TIMEOUT_MS })
  rows.push({ what: 'parcel build twice, with its cache', variant, reached: failure ? 0 : 1, tries: 1, failure })
  console.log(`  [${variant}] parcel build twice, with its cache: ${failure ? `FAILED: ${failure}` : 'ok'}`)
  return rows
}

function printTable(rows) {
  const cases = [...new Set(rows.map((r) => r.what))]
  const width = Math.max(...cases.map((c) => c.length))
  console.log(`\n${'case'.padEnd(width)}  ${variants.map((v) => v.padStart(16)).join('  ')}`)
  for (const what of cases) {
    const cells = variants.map((variant) => {
      const row = rows.find((r) => r.what === what && r.variant === variant)
      return (row ? `${row.reached}/${row.tries}` : '-').padStart(16)
    })
    console.log(`${what.padEnd(width)}  ${cells.join('  ')}`)
  }
}

async function main() {
  const started = Date.now()
  const platformName = prebuiltName(process.arch, detectMusl() ? 'musl' : 'glibc')
  if (platformName === undefined) throw new Error(`no platform package for ${process.arch}`)
  const work = realpathSync(mkdtempSync(join(tmpdir(), 'inotify-napi-clients-')))
  try {
    console.log(`packing inotify-napi and inotify-napi-${platformName} into ${work}`)
    const tarballs = { ...(await packTarballs(ROOT, platformName, join(work, 'tarballs'))), platformName }
    const tools = Object.entries(TOOLS)
      .map(([name, version]) => `${name}@${version}`)
      .join(', ')
    console.log(`installing ${tools} for ${variants.join(' and ')} (npm registry)`)
    const projects = await Promise.all(
      variants.map(async (variant) => {
        const project = join(work, `project-${variant.replace(/\W/g, '')}`)
        const watchers = await installProject(project, variant, tarballs)
        console.log(`  [${variant}] @parcel/watcher is ${watchers.map((w) => `${w.name}@${w.version}`).join(', ')}`)
        return { variant, project }
      }),
    )
    const rows = []
    for (const { variant, project } of projects) rows.push(...(await runSuites(project, variant)))
    printTable(rows)
    const missed = rows.filter((r) => r.variant === 'inotify-napi' && r.reached < r.tries)
    console.log(`\n${((Date.now() - started) / 1000).toFixed(0)} s in all`)
    if (missed.length > 0) {
      console.error(`test-clients: with inotify-napi, ${missed.map((r) => r.what).join('; ')} did not pass every time`)
      process.exitCode = 1
    }
  } finally {
    if (args.keep) console.log(`kept ${work}`)
    else rmSync(work, { recursive: true, force: true })
  }
}

main().catch((error) => {
  console.error(`test-clients: ${error.stack ?? error}`)
  process.exitCode = 1
})
