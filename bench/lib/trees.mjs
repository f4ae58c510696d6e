// The big trees of the startup and idle scenarios (built once per size, by the writer, and shared
// between the scenarios that watch them), and the per-user watch budget they are checked against.
import { expectMessage, reap, startChild, waitExit } from './children.mjs'
import { freshDir, removeDir } from './dirs.mjs'
import { WATCH_PER_FILE } from './impls.mjs'
import { readProc, userWatchesInUse } from './proc.mjs'

export const maxUserWatches = readProc('/proc/sys/fs/inotify/max_user_watches') ?? Infinity

/** Builds a tree of `dirs` directories (in the writer process, as all file-system activity). */
async function buildTree(dirs, filesPerDir) {
  process.stderr.write(`building a tree of ${dirs} dirs / ${dirs * filesPerDir} files...\n`)
  const dir = freshDir('tree')
  const writer = startChild('tree-writer.mjs', [
    '--mode',
    'build',
    '--dir',
    dir,
    '--dirs',
    String(dirs),
    '--files',
    String(filesPerDir),
  ])
  try {
    const built = await expectMessage(writer, 'built', 600_000, 'the writer to build the startup tree')
    await waitExit(writer, 10_000, 'the writer')
    return { dir, ...built }
  } catch (error) {
    removeDir(dir)
    throw error
  } finally {
    await reap(writer)
  }
}

/**
 * The trees by size, each built on first use and removed when the last scenario that asked for it
 * (`wanted`: one entry per use) releases it.
 */
export class TreeCache {
  #trees = new Map()
  #uses = new Map()

  constructor(filesPerDir, wanted) {
    this.filesPerDir = filesPerDir
    for (const dirs of wanted) this.#uses.set(dirs, (this.#uses.get(dirs) ?? 0) + 1)
  }

  /** The tree of `dirs` directories: `{ dir, dirs, files, ms }`. */
  async get(dirs) {
    if (!this.#trees.has(dirs)) this.#trees.set(dirs, await buildTree(dirs, this.filesPerDir))
    return this.#trees.get(dirs)
  }

  /** One use of the tree is over; the last removes it. */
  release(dirs) {
    const left = (this.#uses.get(dirs) ?? 1) - 1
    this.#uses.set(dirs, left)
    if (left <= 0 && this.#trees.has(dirs)) {
      removeDir(this.#trees.get(dirs).dir)
      this.#trees.delete(dirs)
    }
  }

  /** Removes every tree (the end of the run, or a failure). */
  clear() {
    for (const tree of this.#trees.values()) removeDir(tree.dir)
    this.#trees.clear()
  }
}

/** The inotify watches `impl` needs for `tree`: one per directory, and one per file for some. */
export function watchesNeeded(impl, tree) {
  return tree.dirs + 1 + (WATCH_PER_FILE.includes(impl) ? tree.files : 0)
}

/**
 * A watcher that would need more watches than `budget` is not started (it would fail with ENOSPC
 * after a long scan, and take the watches other processes of this user need): its record says
 * 'limit' and why. Null when it fits.
 */
export function overLimit(impl, tree, budget, why = 'max_user_watches') {
  const needed = watchesNeeded(impl, tree)
  if (needed <= budget) return null
  const error = `needs ${needed} watches (${WATCH_PER_FILE.includes(impl) ? 'one per directory and per file' : 'one per directory'}), over ${why} (${budget})`
  process.stderr.write(`bench: ${impl}: not run on ${tree.dirs} dirs: ${error}\n`)
  return { failed: 'limit', error }
}

/**
 * The watches this user may still add: `{ left, why }`, max_user_watches less what its processes hold
 * now (read from /proc: the limit counts per user, across the machine), and the words that say so.
 */
export function watchBudget() {
  const used = userWatchesInUse()
  const held = used.watches ?? 0
  const floor =
    used.watches === null
      ? ' (its use unknown: /proc unreadable)'
      : used.unreadable
        ? ` (at least: ${used.unreadable} of its processes unreadable)`
        : ''
  return {
    left: maxUserWatches - held,
    why: `max_user_watches (${maxUserWatches}) less the ${held} watches this user's processes hold now${floor}`,
  }
}
