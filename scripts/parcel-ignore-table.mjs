#!/usr/bin/env node
/**
 * Runs `@parcel/watcher` itself over a table of `ignore` entries x paths, and records what it
 * reports and what it leaves out, in `__test__/fixtures/parcel-ignore-table.json`, which
 * `__test__/parcel-ignore.test.ts` replays against our `subscribe()`.
 *
 *   node scripts/parcel-ignore-table.mjs          # writes the fixture
 *   node scripts/parcel-ignore-table.mjs --check  # exits 1 when parcel now answers otherwise
 *
 * Each case gets a directory laid out as `DIRS` (made before subscribing, so that parcel's own
 * `mkdir`-then-write race plays no part) and a subscription with the case's `ignore`; a control
 * subscription with none watches all the cases' directories. Then every entry of `WRITTEN` is made;
 * once the control has seen each of them, and a short quiet spell has passed, what the case's
 * subscription saw is its answer.
 */
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const parcel = require('@parcel/watcher')
const PARCEL_VERSION = require('@parcel/watcher/package.json').version
const PICOMATCH_VERSION = require('picomatch/package.json').version

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', '__test__', 'fixtures', 'parcel-ignore-table.json')

/** Directories that exist before the subscriptions start. */
const DIRS = [
  'src/deep/',
  'node_modules/pkg/',
  'node_modules/.bin/',
  '.git/',
  'foo/',
  'bar/',
  'baz/',
  'build/',
  'dist/',
  'lib/',
]

/** What is made once they are watched: files, and directories (ending in `/`). */
const WRITTEN = [
  'a.txt',
  'b.js',
  'ab.txt',
  'x.txt',
  '?.txt',
  'a?.txt',
  'file2.txt',
  '.env',
  'README.md',
  'é.md',
  'aéc.txt',
  'a(b).txt',
  '.git/config',
  'src/a.txt',
  'src/b.js',
  'src/deep/c.txt',
  'src/deep/.hidden.js',
  'node_modules/pkg/index.js',
  'node_modules/.bin/tool',
  'foo/a.txt',
  'bar/a.txt',
  'baz/a.txt',
  'build/out.js',
  'dist/x.map',
  'lib/foo.test.ts',
  'lib/foo.ts',
  'made/',
  'src/made.d/',
]

/**
 * An entry of `ignore`: a string (`<dir>` stands for the case's directory, `<base>` for its last
 * name), a RegExp, or any other value, passed as it is.
 */
const s = (string) => ({ string })
const re = (regexp, flags = '') => ({ regexp: regexp.source, flags })
const value = (json) => ({ value: json })

/** The cases: a name and what is passed as `ignore` (an array, or anything else). */
const CASES = [
  // Globs with * and **
  ['star', [s('*.txt')]],
  ['globstar', [s('**/*.txt')]],
  ['globstar directory', [s('src/**')]],
  ['globstar in the middle', [s('src/**/*.txt')]],
  ['globstar name', [s('**/node_modules')]],
  ['globstar name and below', [s('**/node_modules/**')]],
  ['star alone', [s('*')]],
  ['globstar alone', [s('**')]],
  ['star in a directory', [s('src/*')]],
  ['star and a dot', [s('*.*')]],
  ['prefix star', [s('a*')]],
  // ? (a lone ? is no glob for is-glob: a path)
  ['lone question mark', [s('?.txt')]],
  ['question mark after a letter', [s('a?.txt')]],
  ['question mark after a dot', [s('x.?xt')]],
  ['question mark with a star', [s('?*.txt')]],
  ['question mark in a glob', [s('**/?.txt')]],
  ['question mark and a two-byte character', [s('**/a?c.txt')]],
  ['two question marks and a two-byte character', [s('**/a??c.txt')]],
  // Classes
  ['class', [s('[ab].txt')]],
  ['negated class', [s('[!a].txt')]],
  ['range class', [s('[a-x].txt')]],
  ['posix class', [s('[[:alpha:]].txt')]],
  ['class in a directory', [s('ba[rz]/*')]],
  // Braces
  ['braces', [s('*.{js,md}')]],
  ['braces of directories', [s('{foo,bar}/**')]],
  ['braces with a path', [s('{src/deep,lib}/**')]],
  ['numeric range', [s('file{1..3}.txt')]],
  // Extglobs
  ['extglob at', [s('@(foo|bar)/**')]],
  ['extglob not', [s('!(foo)/**')]],
  ['extglob not a name', [s('!(*.txt)')]],
  ['extglob plus', [s('+(a|b).txt')]],
  ['extglob star', [s('*(a|b).txt')]],
  ['extglob question', [s('?(a).txt')]],
  ['extglob at with a star', [s('**/@(b|c).*')]],
  // Groups
  ['group of directories', [s('(foo|bar)/**')]],
  ['group of names', [s('(a|b).txt')]],
  ['group in a path', [s('src/(a|b).*')]],
  // Negation
  ['negated glob', [s('!*.txt')]],
  ['negated globstar', [s('!src/**')]],
  ['negation after a glob', [s('*.txt'), s('!a.txt')]],
  // Dotfiles
  ['dotfiles anywhere', [s('**/.*')]],
  ['dotfiles at the top', [s('.*')]],
  ['a dot directory', [s('.git/**')]],
  ['a dot directory by name', [s('**/.git')]],
  ['a dotfile by name', [s('**/.hidden.js')]],
  // Paths, relative and absolute
  ['a directory', [s('src')]],
  ['a nested directory', [s('src/deep')]],
  ['a file', [s('build/out.js')]],
  ['dot slash', [s('./src')]],
  ['dot slash glob', [s('./src/*.txt')]],
  ['trailing slash', [s('foo/')]],
  ['a name that exists nowhere', [s('nothing')]],
  ['a name with parentheses', [s('a(b).txt')]],
  ['an absolute directory', [s('<dir>/src')]],
  ['an absolute file', [s('<dir>/a.txt')]],
  ['an absolute glob', [s('<dir>/*.txt')]],
  ['parent and back', [s('../<base>/foo')]],
  ['the directory itself', [s('.')]],
  ['an empty string', [s('')]],
  ['the absolute directory itself', [s('<dir>')]],
  // RegExps
  ['regexp suffix', [re(/\.txt$/)]],
  ['regexp anywhere', [re(/node_modules/)]],
  ['regexp anchored', [re(/^src\//)]],
  ['regexp of a directory', [re(/^src$/)]],
  ['regexp alternation', [re(/foo|bar/)]],
  ['regexp empty alternative', [re(/zzz|/)]],
  ['regexp empty', [re(/(?:)/)]],
  ['regexp word boundary', [re(/\bb\b/)]],
  ['regexp lookahead', [re(/^(?!src).*\.txt$/)]],
  ['regexp positive lookahead', [re(/\.(?=js$)/)]],
  ['regexp lookbehind', [re(/(?<=\.)js$/)]],
  ['regexp negative lookbehind', [re(/(?<!test)\.ts$/)]],
  ['regexp named group', [re(/(?<name>foo)\//)]],
  ['regexp one character', [re(/^.\.md$/)]],
  ['regexp with flags', [re(/txt/, 'i')]],
  ['regexp with the global flag', [re(/txt/, 'g')]],
  // Entries that are neither
  ['a number', [value(5)]],
  ['null', [value(null)]],
  ['an object', [value({ path: 'src' })]],
  ['a boolean', [s('src'), value(true)]],
  // Several entries
  ['a path, a glob and a regexp', [s('src'), s('**/*.js'), re(/\.md$/)]],
  // Not an array
  ['a string', s('*.txt')],
  ['a regexp alone', re(/txt/)],
]

/** The `ignore` option a case passes. */
function ignoreOf(entries, dir) {
  const one = (entry) => {
    if ('value' in entry) return entry.value
    if (entry.regexp !== undefined) return new RegExp(entry.regexp, entry.flags)
    return entry.string.replaceAll('<dir>', dir).replaceAll('<base>', dir.split('/').at(-1))
  }
  return Array.isArray(entries) ? entries.map(one) : one(entries)
}

/** Makes `entries` under `root` (a name ending in `/` is a directory). */
function make(root, entries) {
  for (const entry of entries) {
    if (entry.endsWith('/')) mkdirSync(join(root, entry), { recursive: true })
    else writeFileSync(join(root, entry), '')
  }
}

/** Polls `check` until it is true, or throws after `ms` (naming what is `missing`). */
async function until(check, what, ms, missing) {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${missing ? `: ${missing()}` : ''}`)
    await sleep(5)
  }
}

/** Subscribes a case's directory: what parcel reported is gathered into `seen` (relative paths). */
async function start(dir, [name, entries]) {
  const seen = new Set()
  try {
    const subscription = await parcel.subscribe(
      dir,
      (error, events) => {
        if (error) throw error
        for (const event of events) seen.add(relative(dir, event.path))
      },
      { ignore: ignoreOf(entries, dir) },
    )
    return { name, entries, seen, subscription }
  } catch (error) {
    return { name, entries, error: { name: error.constructor.name, message: error.message, code: error.code } }
  }
}

/**
 * Runs cases side by side, each in a directory of its own under `parent`. The control is one
 * subscription of `parent` with no ignore: parcel serves it from the same inotify instance and
 * reader thread as the cases, and tells every subscription in one pass of its debouncer. (It must
 * not be a second subscription of a case's own directory: parcel caches one directory tree per
 * path, and the second subscription would watch only what the first one's ignore left in it.)
 */
async function runBatch(parent, cases) {
  const dirs = cases.map(() => mkdtempSync(join(parent, 'case-')))
  for (const dir of dirs) make(dir, DIRS)
  const control = new Set()
  const all = await parcel.subscribe(parent, (error, events) => {
    if (error) throw error
    for (const event of events) control.add(event.path)
  })
  const started = []
  try {
    for (const [i, c] of cases.entries()) started.push(await start(dirs[i], c))
    for (const [i, c] of started.entries()) if (c.subscription) make(dirs[i], WRITTEN)
    const expected = started.flatMap((c, i) =>
      c.subscription ? WRITTEN.map((entry) => join(dirs[i], entry.replace(/\/$/, ''))) : [],
    )
    await until(
      () => expected.every((path) => control.has(path)),
      'the control',
      20_000,
      () => expected.filter((p) => !control.has(p)).join(' '),
    )
    // The control and the cases are told in one pass of parcel's debouncer; give each its turn.
    await sleep(300)
  } finally {
    for (const c of started) await c.subscription?.unsubscribe()
    await all.unsubscribe()
  }
  return started.map(({ name, entries, seen, error }) =>
    error ? { name, ignore: entries, error } : { name, ignore: entries, reported: [...seen].sort() },
  )
}

async function main() {
  const parent = realpathSync(mkdtempSync(join(tmpdir(), 'parcel-ignore-')))
  const results = []
  try {
    for (let i = 0; i < CASES.length; i += 10) results.push(...(await runBatch(parent, CASES.slice(i, i + 10))))
  } finally {
    rmSync(parent, { recursive: true, force: true })
  }
  const table = {
    about:
      `What @parcel/watcher ${PARCEL_VERSION} (picomatch ${PICOMATCH_VERSION}) reports under each ignore, ` +
      'written by scripts/parcel-ignore-table.mjs: `dirs` exist before subscribing, `written` are made after; ' +
      'in `ignore`, <dir> is the directory subscribed to and <base> its last name.',
    parcel: PARCEL_VERSION,
    dirs: DIRS,
    written: WRITTEN,
    cases: results,
  }
  const text = `${JSON.stringify(table, null, 2)}\n`
  if (process.argv.includes('--check')) {
    const old = readFileSync(FIXTURE, 'utf8')
    if (old !== text) {
      console.error(`${FIXTURE} differs from what @parcel/watcher answers now`)
      process.exit(1)
    }
    console.log(`${results.length} cases: parcel answers as recorded`)
  } else {
    writeFileSync(FIXTURE, text)
    const errors = results.filter((r) => r.error).length
    console.log(`${results.length} cases x ${WRITTEN.length} paths (${errors} errors) written to ${FIXTURE}`)
  }
}

await main()
// A subscription that parcel refused (a RegExp its C++ matcher cannot compile) is left half made,
// and keeps the process alive.
process.exit(0)
