// Loads the BUILT package (dist/), the way a user's `require('inotify-napi')` would, and says what
// to do when it is not built.
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** bench/ (this file is in bench/lib/). */
export const benchDir = dirname(dirname(fileURLToPath(import.meta.url)))
export const rootDir = dirname(benchDir)
const entry = join(rootDir, 'dist', 'index.js')

/** The package's exports from dist/index.js; exits with a clear message when it is not built. */
export function loadInotifyNapi() {
  if (!existsSync(entry)) {
    console.error(`bench: ${entry} is missing: run npm run build first`)
    process.exit(1)
  }
  try {
    return createRequire(import.meta.url)(entry)
  } catch (error) {
    console.error(`bench: loading ${entry} failed (${error.message}): run npm run build first`)
    process.exit(1)
  }
}

/** The package's version, from package.json. */
export function packageVersion() {
  return JSON.parse(readFileSync(join(rootDir, 'package.json'), 'utf8')).version
}
