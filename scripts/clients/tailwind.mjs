/**
 * Tailwind CSS 4's CLI in watch mode: a class written into a source file must reach the output CSS.
 * Each try uses a class of its own (`w-[<n>px]`, unique in the run), so a late rebuild from an
 * earlier try can never be counted for a later one.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ToolProcess } from './tool-process.mjs'

let nextWidth = 7000

/** A class no other try uses, and the text its rule puts in the CSS. */
function uniqueClass() {
  const width = ++nextWidth
  return { className: `w-[${width}px]`, css: `width: ${width}px` }
}

/**
 * Starts `tailwindcss --watch` in a fresh site in the project (where `@import "tailwindcss"` resolves)
 * and waits for its first build.
 * @param {{ project: string, variant: string, startTimeoutMs: number }} options
 */
export async function startTailwind({ project, variant, startTimeoutMs }) {
  const site = join(project, 'tailwind-site')
  mkdirSync(join(site, 'src'), { recursive: true })
  // The output goes outside the site: Tailwind watches the directory it runs in.
  const output = join(project, 'tailwind-output.css')
  const first = uniqueClass()
  writeFileSync(join(site, 'input.css'), '@import "tailwindcss";\n')
  writeFileSync(join(site, 'src', 'index.html'), `<div class="${first.className}"></div>\n`)
  const tool = new ToolProcess(
    `tailwindcss --watch (${variant})`,
    join(project, 'node_modules', '.bin', 'tailwindcss'),
    ['-i', 'input.css', '-o', output, '--watch'],
    { cwd: site },
  )
  const session = { tool, site, outside: join(project, 'tailwind-outside'), output }
  await tool
    .expect(() => cssHas(session, first.css), startTimeoutMs, 'the first build')
    .catch(async (error) => {
      await tool.stop('SIGINT').catch(() => {})
      throw error
    })
  return session
}

/** Stops `tailwindcss --watch` as Ctrl-C does. */
export function stopTailwind(session) {
  return session.tool.stop('SIGINT')
}

function cssHas(session, text) {
  return existsSync(session.output) && readFileSync(session.output, 'utf8').includes(text)
}

/** Writes a fresh class as `write(className)` says, and waits for it in the CSS (ms, or undefined). */
function classReaches(session, timeoutMs, write) {
  const { className, css } = uniqueClass()
  write(className)
  return session.tool.waitFor(() => cssHas(session, css), timeoutMs)
}

/** The cases, each `attempt(session, try, timeoutMs)` resolving to the ms it took or undefined. */
export const TAILWIND_CASES = [
  {
    name: 'a class added to an existing file',
    attempt: (session, _k, timeoutMs) =>
      classReaches(session, timeoutMs, (className) =>
        appendFileSync(join(session.site, 'src', 'index.html'), `<div class="${className}"></div>\n`),
      ),
  },
  {
    name: 'a class in a file at the end of a new mkdir -p chain',
    attempt: (session, k, timeoutMs) =>
      classReaches(session, timeoutMs, (className) => {
        const dir = join(session.site, 'src', `chain-${k}`, 'a', 'b', 'c')
        mkdirSync(dir, { recursive: true })
        writeFileSync(join(dir, 'page.html'), `<p class="${className}"></p>\n`)
      }),
  },
  {
    name: 'a class in a directory moved in from outside',
    attempt: (session, k, timeoutMs) =>
      classReaches(session, timeoutMs, (className) => {
        const made = join(session.outside, `moved-${k}`)
        mkdirSync(join(made, 'part'), { recursive: true })
        writeFileSync(join(made, 'part', 'page.html'), `<p class="${className}"></p>\n`)
        renameSync(made, join(session.site, 'src', `moved-${k}`))
      }),
  },
]
