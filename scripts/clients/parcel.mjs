/**
 * The Parcel bundler: `parcel watch` must bundle a module that appears where an import waits for it
 * (in a new `mkdir -p` chain, in a directory moved in), and `parcel build` run twice with its cache
 * must see, through `writeSnapshot` and `getEventsSince`, what changed between the runs.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describeExit, ToolProcess } from './tool-process.mjs'

/** Parcel's CLI as the project installed it. */
const parcelBin = (project) => join(project, 'node_modules', '.bin', 'parcel')

/** A site Parcel takes as a project: a package.json, and `src/index.js` with `entry`. */
function writeSite(site, entry) {
  mkdirSync(join(site, 'src'), { recursive: true })
  writeFileSync(join(site, 'package.json'), `${JSON.stringify({ name: 'site', version: '1.0.0', private: true })}\n`)
  writeFileSync(join(site, 'src', 'index.js'), entry)
}

/**
 * Starts `parcel watch` in a fresh site in the project (without its cache, so that this part does not depend on `writeSnapshot`) and
 * waits for its first build.
 * @param {{ project: string, variant: string, startTimeoutMs: number }} options
 */
export async function startParcelWatch({ project, variant, startTimeoutMs }) {
  const site = join(project, 'parcel-site')
  const dist = join(project, 'parcel-dist')
  writeSite(site, "console.log('clients: start')\n")
  const tool = new ToolProcess(
    `parcel watch (${variant})`,
    parcelBin(project),
    ['watch', 'src/index.js', '--dist-dir', dist, '--no-cache', '--no-hmr'],
    { cwd: site },
  )
  const session = { tool, site, dist, outside: join(project, 'parcel-outside') }
  await tool
    .expect(() => /Built in/.test(tool.output), startTimeoutMs, 'the first build')
    .catch(async (error) => {
      await tool.stop('SIGINT').catch(() => {})
      throw error
    })
  return session
}

/** Stops `parcel watch` as Ctrl-C does. */
export function stopParcelWatch(session) {
  return session.tool.stop('SIGINT')
}

function bundleHas(dist, text) {
  const bundle = join(dist, 'index.js')
  return existsSync(bundle) && readFileSync(bundle, 'utf8').includes(text)
}

/**
 * Points the entry at `specifier`, a module that does not exist yet, and waits for Parcel to say it
 * cannot resolve it: from then on Parcel waits for that file to be created. Then `create()` makes
 * the module, and the result is how long until the bundle holds its mark (undefined past the deadline).
 */
async function moduleReaches(session, specifier, mark, timeoutMs, create) {
  const { tool } = session
  const since = tool.output.length
  writeFileSync(join(session.site, 'src', 'index.js'), `import mark from '${specifier}'\nconsole.log(mark)\n`)
  await tool.expect(
    () => tool.output.slice(since).includes(`Failed to resolve '${specifier}'`),
    timeoutMs,
    `the build that cannot resolve ${specifier}`,
  )
  create(`export default '${mark}'\n`)
  return tool.waitFor(() => bundleHas(session.dist, mark), timeoutMs)
}

/** The cases, each `attempt(session, try, timeoutMs)` resolving to the ms it took or undefined. */
export const PARCEL_WATCH_CASES = [
  {
    name: 'a module in a new mkdir -p chain',
    attempt: (session, k, timeoutMs) =>
      moduleReaches(session, `./chain-${k}/a/b/c/mod.js`, `clients-chain-${k}`, timeoutMs, (source) => {
        const dir = join(session.site, 'src', `chain-${k}`, 'a', 'b', 'c')
        mkdirSync(dir, { recursive: true })
        writeFileSync(join(dir, 'mod.js'), source)
      }),
  },
  {
    name: 'a module in a directory moved in from outside',
    attempt: (session, k, timeoutMs) =>
      moduleReaches(session, `./moved-${k}/mod.js`, `clients-moved-${k}`, timeoutMs, (source) => {
        const made = join(session.outside, `moved-${k}`)
        mkdirSync(made, { recursive: true })
        writeFileSync(join(made, 'mod.js'), source)
        renameSync(made, join(session.site, 'src', `moved-${k}`))
      }),
  },
]

/**
 * `parcel build` twice with its cache on. The first run writes the cache and a snapshot of the
 * project (`writeSnapshot`); between the runs a module is updated and another is added in a new
 * `mkdir -p` chain; the second run loads the cache and asks what changed since the snapshot
 * (`getEventsSince`). It passes when both runs succeed, the second loads its cache without error,
 * and its bundle holds both changes (a change `getEventsSince` missed leaves the cached, stale one).
 * Returns undefined when it passes, else what went wrong.
 * @param {{ project: string, variant: string, timeoutMs: number }} options
 */
export async function parcelBuildTwice({ project, variant, timeoutMs }) {
  const site = join(project, 'parcel-build-site')
  const dist = join(project, 'parcel-build-dist')
  writeSite(site, "import v from './lib/mod.js'\nconsole.log(v)\n")
  mkdirSync(join(site, 'src', 'lib'))
  writeFileSync(join(site, 'src', 'lib', 'mod.js'), "export default 'clients-build-first'\n")
  const build = async (run) => {
    const tool = new ToolProcess(
      `parcel build #${run} (${variant})`,
      parcelBin(project),
      [
        'build',
        'src/index.js',
        '--dist-dir',
        dist,
        '--cache-dir',
        join(project, 'parcel-build-cache'),
        '--no-optimize',
      ],
      { cwd: site },
    )
    if ((await tool.ended(timeoutMs)) === undefined) {
      await tool.stop('SIGKILL').catch(() => {})
      return `${tool.name} did not end within ${timeoutMs} ms:\n${tool.tail()}`
    }
    // Workers it left behind are stopped, and that is a failure.
    await tool.stop('SIGTERM')
    if (tool.exit.code !== 0) return `${tool.name} exited with ${describeExit(tool.exit)}:\n${tool.tail()}`
    if (/error/i.test(tool.output)) return `${tool.name} printed an error:\n${tool.tail()}`
    return undefined
  }
  const first = await build(1)
  if (first !== undefined) return first
  if (!bundleHas(dist, 'clients-build-first')) return 'the first build bundled no clients-build-first'
  writeFileSync(join(site, 'src', 'lib', 'mod.js'), "export default 'clients-build-second'\n")
  mkdirSync(join(site, 'src', 'later', 'deep'), { recursive: true })
  writeFileSync(join(site, 'src', 'later', 'deep', 'extra.js'), "export default 'clients-build-added'\n")
  writeFileSync(
    join(site, 'src', 'index.js'),
    "import v from './lib/mod.js'\nimport w from './later/deep/extra.js'\nconsole.log(v, w)\n",
  )
  const second = await build(2)
  if (second !== undefined) return second
  for (const mark of ['clients-build-second', 'clients-build-added'])
    if (!bundleHas(dist, mark)) return `the second build, from the cache, bundled no ${mark}`
  return undefined
}
