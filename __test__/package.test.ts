import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = resolve(__dirname, '..')

function node(args: string[]): { status: number | null; stdout: string; stderr: string } {
  if (!existsSync(resolve(ROOT, 'dist/index.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
  // The package refers to itself by name through its "exports" map, as a user's code would.
  return spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 20_000 })
}

describe('the package entry points', () => {
  it('loads with require and with import, and both give the same classes', () => {
    const script = `
      const cjs = require('inotify-napi')
      import('inotify-napi').then((esm) => {
        const i = new esm.Inotify()
        console.log(JSON.stringify({
          same: esm.Inotify === cjs.Inotify && esm.InotifyError === cjs.InotifyError,
          create: esm.IN_CREATE, frozen: Object.isFrozen(esm.constants), fd: i.fd > 0,
        }))
        i.close()
      })`
    const result = node(['-e', script])
    expect(result.stderr).toBe('')
    expect(JSON.parse(result.stdout)).toEqual({ same: true, create: 256, frozen: true, fd: true })
  })

  it('runs as an ES module importing named exports', () => {
    const result = node(['--input-type=module', '-e',
      "import { Inotify, maskToNames } from 'inotify-napi'; const i = new Inotify(); console.log(maskToNames(0x40000100).join()); i.close()"])
    expect(result.stderr).toBe('')
    expect(result.stdout.trim()).toBe('IN_ISDIR,IN_CREATE')
  })

  it('bundles types that check for ES module and CommonJS consumers', () => {
    const tsc = resolve(ROOT, 'node_modules/typescript/bin/tsc')
    const result = node([tsc, '--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16',
      '--target', 'es2022', '--types', 'node', '--skipLibCheck',
      '__test__/fixtures/consumer.mts', '__test__/fixtures/consumer.cts'])
    expect(result.stdout + result.stderr).toBe('')
    expect(result.status).toBe(0)
  })
})
