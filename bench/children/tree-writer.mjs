// The tree scenarios' writer: the only process that touches the watched trees.
//
//   --mode build --dir D --dirs N --files F
//       builds the startup tree at once: N directories (N/100 at the top, 99 below each) with F empty
//       files in each; sends {op:'built', dirs, files, ms} and exits.
//   --mode change --dir D --count N --round R
//       changes N files of a tree built by `build` at once, a third each: creates new-R-$i.txt,
//       rewrites file$k.txt, deletes file$j.txt (k and j chosen by R, so that each round changes
//       files the earlier rounds left alone), in directories spread evenly over the tree; sends
//       {op:'changed', expected: ['create /abs/path', 'update ...', 'delete ...']} and exits.
//   --mode mkdir --dir D --count N
//       on {op:'go'}: N times `mkdir -p D/r$i/x/y/z` and write D/r$i/x/y/z/f (synchronously, as fast
//       as it can).
//   --mode movein --dir D --stage S --count N
//       first (before it says ready) builds N small trees in S, outside the watched root: t$i/ with 5
//       files, t$i/a/ with 5, t$i/a/b/ with 5 (3 levels, 15 files); on {op:'go'} renames each into D.
//   --mode stall --dir D --count N --dirs K
//       first (before it says ready, so before the watcher starts) makes K directories D/d$k; on
//       {op:'go'} (run.mjs has stalled the watcher's event loop just before) creates N empty files,
//       N/K in each of them, as fast as it can: every create lands in a directory already watched.
//
// Every mode but build answers {op:'go'} with {op:'done', expected: [relative paths of the files the
// watchers should report], tFirst, tLast} and exits.
import { closeSync, mkdirSync, openSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { answerClockChecks, nowMs } from '../lib/clock.mjs'

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string' },
    dir: { type: 'string' },
    stage: { type: 'string' },
    count: { type: 'string' },
    dirs: { type: 'string' },
    files: { type: 'string' },
    round: { type: 'string' },
  },
})

if (typeof process.send !== 'function') {
  console.error('bench/children/tree-writer.mjs is started by bench/run.mjs (it needs an IPC channel)')
  process.exit(2)
}
answerClockChecks()
// No writer outlives run.mjs.
process.on('disconnect', () => process.exit(0))

const root = args.dir
const count = Number(args.count ?? 0)

function touch(path) {
  closeSync(openSync(path, 'w'))
}

function done(expected, tFirst) {
  const tLast = nowMs()
  process.send({ op: 'done', expected, tFirst, tLast }, () => process.disconnect())
}

function onGo(run) {
  process.on('message', (message) => {
    if (message.op === 'go') run()
  })
  process.send({ op: 'ready' })
}

if (args.mode === 'build') {
  const dirs = Number(args.dirs)
  const files = Number(args.files)
  const top = Math.max(1, Math.round(dirs / 100))
  const below = Math.max(0, Math.floor((dirs - top) / top))
  const t0 = nowMs()
  let madeDirs = 0
  let madeFiles = 0
  const fill = (dir) => {
    for (let f = 0; f < files; f++) touch(join(dir, `file${f}.txt`))
    madeFiles += files
  }
  for (let t = 0; t < top; t++) {
    const a = join(root, `a${t}`)
    mkdirSync(a)
    madeDirs++
    fill(a)
    for (let b = 0; b < below; b++) {
      const dir = join(a, `b${b}`)
      mkdirSync(dir)
      madeDirs++
      fill(dir)
    }
  }
  process.send({ op: 'built', dirs: madeDirs, files: madeFiles, ms: nowMs() - t0 }, () => process.disconnect())
} else if (args.mode === 'change') {
  const round = Number(args.round ?? 0)
  const sorted = (dir) =>
    readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort()
  const dirs = []
  for (const top of sorted(root)) {
    dirs.push(join(root, top))
    for (const below of sorted(join(root, top))) dirs.push(join(root, top, below))
  }
  const expected = []
  const third = Math.ceil(count / 3)
  const step = Math.max(1, Math.floor(dirs.length / third))
  for (let i = 0; i < count; i++) {
    const dir = dirs[(Math.floor(i / 3) * step + round) % dirs.length]
    if (i % 3 === 0) {
      const path = join(dir, `new-${round}-${i}.txt`)
      writeFileSync(path, 'new')
      expected.push(`create ${path}`)
    } else if (i % 3 === 1) {
      const path = join(dir, `file${round * 2}.txt`)
      writeFileSync(path, `changed in round ${round}`)
      expected.push(`update ${path}`)
    } else {
      const path = join(dir, `file${round * 2 + 1}.txt`)
      unlinkSync(path)
      expected.push(`delete ${path}`)
    }
  }
  process.send({ op: 'changed', expected }, () => process.disconnect())
} else if (args.mode === 'mkdir') {
  onGo(() => {
    const expected = []
    const tFirst = nowMs()
    for (let i = 0; i < count; i++) {
      mkdirSync(join(root, `r${i}`, 'x', 'y', 'z'), { recursive: true })
      const rel = `r${i}/x/y/z/f`
      writeFileSync(join(root, rel), 'x')
      expected.push(rel)
    }
    done(expected, tFirst)
  })
} else if (args.mode === 'movein') {
  const expected = []
  for (let i = 0; i < count; i++) {
    for (const sub of ['', 'a', 'a/b']) {
      mkdirSync(join(args.stage, `t${i}`, sub), { recursive: true })
      for (let f = 0; f < 5; f++) {
        const rel = join(`t${i}`, sub, `f${f}`)
        writeFileSync(join(args.stage, rel), 'x')
        expected.push(rel)
      }
    }
  }
  onGo(() => {
    const tFirst = nowMs()
    for (let i = 0; i < count; i++) renameSync(join(args.stage, `t${i}`), join(root, `t${i}`))
    done(expected, tFirst)
  })
} else if (args.mode === 'stall') {
  const dirs = Number(args.dirs)
  for (let k = 0; k < dirs; k++) mkdirSync(join(root, `d${k}`))
  onGo(() => {
    const expected = []
    const tFirst = nowMs()
    const perDir = Math.ceil(count / dirs)
    for (let k = 0, made = 0; k < dirs; k++) {
      for (let i = 0; i < perDir && made < count; i++, made++) {
        const rel = `d${k}/f${String(i).padStart(5, '0')}`
        touch(join(root, rel))
        expected.push(rel)
      }
    }
    done(expected, tFirst)
  })
} else {
  console.error(`bench/children/tree-writer.mjs: --mode build|change|mkdir|movein|stall, got ${args.mode}`)
  process.exit(2)
}
