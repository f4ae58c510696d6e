/**
 * Finds the native binary for this system and loads it, or throws one error that says what is
 * missing and how to get it. Every input (platform, CPU, C library, environment, `require`) is a
 * parameter, so each decision is tested without the machine it describes (`__test__/loader.test.ts`).
 *
 * Order: an override path (`INOTIFY_NAPI_NATIVE_PATH`, or napi-rs's `NAPI_RS_NATIVE_LIBRARY_PATH`),
 * then a binary next to the package (`inotify-napi.linux-x64-gnu.node`, what `npm run build` leaves
 * in a clone), then the per-platform package (`inotify-napi-linux-x64-gnu`) that npm installs as an
 * optional dependency. Whatever loads is checked against {@link NATIVE_SURFACE} before it is used.
 * @module
 */
import { readFileSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import type * as Binding from '../binding.cjs'

/** The file and package names start with this (`napi.binaryName` and the package name agree). */
const NAME = 'inotify-napi'

/** Environment variables that name a `.node` file to load instead of the prebuilt one, first wins. */
export const OVERRIDE_VARIABLES = ['INOTIFY_NAPI_NATIVE_PATH', 'NAPI_RS_NATIVE_LIBRARY_PATH'] as const

/** The npm bug that leaves a platform package out of `node_modules`. */
export const NPM_OPTIONAL_DEPENDENCY_BUG = 'https://github.com/npm/cli/issues/4828'

/** The C library a Linux process runs on. */
export type Libc = 'glibc' | 'musl'

/**
 * The napi-rs platform name (`npm/<name>/`, `inotify-napi-<name>`) of each prebuilt Linux binary, by
 * Node's `process.arch` and the C library. Kept equal to `napi.targets` in package.json by a test.
 */
export const PREBUILT: Readonly<Record<string, Partial<Record<Libc, string>>>> = Object.freeze({
  x64: { glibc: 'linux-x64-gnu', musl: 'linux-x64-musl' },
  arm64: { glibc: 'linux-arm64-gnu', musl: 'linux-arm64-musl' },
  arm: { glibc: 'linux-arm-gnueabihf' },
  riscv64: { glibc: 'linux-riscv64-gnu' },
  ppc64: { glibc: 'linux-ppc64-gnu' },
  s390x: { glibc: 'linux-s390x-gnu' },
  loong64: { glibc: 'linux-loong64-gnu' },
})

/**
 * What a loaded binary must export before the loader hands it over: each export name, with the
 * members its prototype must have (methods or accessors; none for a plain function). A `.node` that
 * loads but lacks them (another addon, or ours from another version) is refused with the names, rather
 * than failing later with "NativeInotify is not a constructor".
 */
export type NativeSurface = Readonly<Record<string, readonly string[]>>

/** Every member of `T`, each marked once: the compiler checks the list is whole and has nothing extra. */
type Every<T> = Record<keyof T, true>

/** The members of the native class, checked against `binding.d.cts` by the compiler. */
const NATIVE_INOTIFY_MEMBERS: Every<Binding.NativeInotify> = {
  addWatch: true,
  removeWatch: true,
  addRoot: true,
  takeReports: true,
  wdOf: true,
  watchCount: true,
  fd: true,
  request: true,
  pause: true,
  take: true,
  takeChanges: true,
  takeBlocking: true,
  readNow: true,
  close: true,
  closed: true,
}

/**
 * What `binding.d.cts` declares (every export, every member of the class): what this package's binary
 * has. (`default` is the namespace's CommonJS view under esModuleInterop, not an export.)
 */
export const NATIVE_SURFACE: NativeSurface = Object.freeze({
  NativeInotify: Object.keys(NATIVE_INOTIFY_MEMBERS),
  judgeTreeMask: [],
  judgeWatchMask: [],
  writeSnapshot: [],
  getEventsSince: [],
} satisfies Record<Exclude<keyof typeof Binding, 'default'>, string[]>)

/** What the loader looks at; `native.ts` passes the real ones, tests pass fakes. */
export interface LoaderInputs {
  /** `process.platform`. */
  platform: string
  /** `process.arch`. */
  arch: string
  /** `process.env`. */
  env: Readonly<Record<string, string | undefined>>
  /** Where a relative override path is taken from. */
  cwd: string
  /** Whether this process runs on musl (called only on Linux). */
  isMusl: () => boolean
  /** Loads a module or a `.node` file, as Node's `require` from inside the package does. */
  require: (id: string) => unknown
  /** The package's own directory, where a locally built binary sits. */
  packageRoot: string
  /** The package's version: the platform package must have the same one. */
  version: string
  /**
   * The package's own `optionalDependencies` (empty when package.json has none): a package packed
   * from a checkout lists none, as the release adds them only at publish, so npm never installs a
   * platform package for it.
   */
  optionalDependencies: Readonly<Record<string, string>>
  /** What the loaded binary must export ({@link NATIVE_SURFACE} for the real one). */
  surface: NativeSurface
}

/** Error codes of a failed load. */
export type NativeLoadErrorCode =
  | 'ERR_INOTIFY_UNSUPPORTED_PLATFORM'
  | 'ERR_INOTIFY_NATIVE_NOT_FOUND'
  | 'ERR_INOTIFY_NATIVE_LOAD_FAILED'

/** The one error a failed load throws; `cause` holds the errors of each attempt. */
export class NativeLoadError extends Error {
  /** Which way the load failed. */
  readonly code: NativeLoadErrorCode

  /** Builds the error; `causes` are the attempts' errors, kept for debugging. */
  constructor(code: NativeLoadErrorCode, message: string, causes: unknown[] = []) {
    super(
      message,
      causes.length === 0 ? undefined : { cause: causes.length === 1 ? causes[0] : new AggregateError(causes) },
    )
    this.name = 'NativeLoadError'
    this.code = code
  }
}

/** A readable name for `process.platform`. */
function systemName(platform: string): string {
  const names: Record<string, string> = {
    linux: 'Linux',
    darwin: 'macOS',
    win32: 'Windows',
    freebsd: 'FreeBSD',
    openbsd: 'OpenBSD',
    sunos: 'SunOS',
    aix: 'AIX',
    android: 'Android',
  }
  return names[platform] ?? platform
}

/** The message of an error, or the thing itself as text. */
function messageOf(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error)
}

/** Whether `error` is Node's "module not found" for `id` itself (not for something `id` needs). */
function isNotFound(error: unknown, id: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown }
  return code === 'MODULE_NOT_FOUND' && typeof message === 'string' && message.includes(`'${id}'`)
}

/** The platform name for `arch` and `libc`, or undefined when there is no prebuilt binary. */
export function prebuiltName(arch: string, libc: Libc): string | undefined {
  return PREBUILT[arch]?.[libc]
}

/**
 * Loads the native binding, or throws a {@link NativeLoadError} that names the package that should
 * have been installed, this system, and the fix.
 */
export function loadNative<T>(inputs: LoaderInputs): T {
  const { platform, arch, env } = inputs
  if (platform !== 'linux' && platform !== 'android') {
    throw new NativeLoadError(
      'ERR_INOTIFY_UNSUPPORTED_PLATFORM',
      `inotify-napi works on Linux only: inotify is a Linux kernel interface, and this is ${systemName(platform)} ` +
        `(${platform} ${arch}). On other systems use fs.watch, chokidar or @parcel/watcher.`,
    )
  }

  for (const variable of OVERRIDE_VARIABLES) {
    const value = env[variable]
    if (value) return loadOverride<T>(inputs, variable, value)
  }

  const libc: Libc = inputs.isMusl() ? 'musl' : 'glibc'
  const system = `${systemName(platform)} ${arch} with ${libc}`
  const name = platform === 'linux' ? prebuiltName(arch, libc) : undefined
  if (name === undefined) {
    throw new NativeLoadError(
      'ERR_INOTIFY_UNSUPPORTED_PLATFORM',
      `inotify-napi has no prebuilt binary for ${system} (${platform}-${arch}-${libc}). Prebuilt: Linux x64 and ` +
        'arm64 with glibc or musl; arm (armv7 hard-float), riscv64, ppc64le, s390x and loong64 with glibc. ' +
        `Build the addon from source (\`npm run build\` in a clone, with Rust) and set ${OVERRIDE_VARIABLES[0]} to the .node file.`,
    )
  }

  const packageName = `${NAME}-${name}`
  const file = join(inputs.packageRoot, `${NAME}.${name}.node`)
  const failures: unknown[] = []

  // A binary next to the package: a clone after `npm run build`. Installed packages never ship one.
  try {
    return requireChecked<T>(inputs, file, `${file} is`, 'Rebuild it with `npm run build`, or delete it.')
  } catch (error) {
    if (!isNotFound(error, file)) failures.push(error)
  }

  let installedVersion: string | undefined
  try {
    installedVersion = (inputs.require(`${packageName}/package.json`) as { version?: string }).version
  } catch (error) {
    if (!isNotFound(error, `${packageName}/package.json`)) failures.push(error)
  }

  const header = `inotify-napi: the native binary for this system (${system}) is the package ${packageName}`
  const reinstall =
    `This is usually npm's bug with optional dependencies (${NPM_OPTIONAL_DEPENDENCY_BUG}): a package-lock.json ` +
    "written on another system (macOS, or glibc when this is musl) leaves this system's package out. " +
    `Fix: delete node_modules and package-lock.json and run \`npm install\` again, or add the package yourself: ` +
    `\`npm install ${packageName}@${inputs.version}\`. Installing with --omit=optional (or --no-optional) also leaves it out.`

  const local = failures.length > 0 ? `failed to load: ${failures.map(messageOf).join('; ')}` : 'none'
  if (installedVersion === undefined && inputs.optionalDependencies[packageName] === undefined) {
    throw new NativeLoadError(
      'ERR_INOTIFY_NATIVE_NOT_FOUND',
      `${header}, and it is not installed. npm was never asked for it: this inotify-napi@${inputs.version} lists no ` +
        'optionalDependencies, as a tarball made with `npm pack` from a source checkout does (the published package ' +
        `lists one per platform). Fix: install the platform package next to it (\`npm install ${packageName}@${inputs.version}\`, ` +
        `or its own tarball), or install inotify-napi from the registry. Looked for: ${file} (${local}), ${packageName} (not installed).`,
      failures,
    )
  }
  if (installedVersion === undefined) {
    throw new NativeLoadError(
      'ERR_INOTIFY_NATIVE_NOT_FOUND',
      `${header}, an optional dependency of inotify-napi that npm should have installed, and it is not installed. ` +
        `${reinstall} Looked for: ${file} (${local}), ${packageName} (not installed).`,
      failures,
    )
  }
  if (installedVersion !== inputs.version) {
    throw new NativeLoadError(
      'ERR_INOTIFY_NATIVE_LOAD_FAILED',
      `${header}@${inputs.version}, and ${packageName}@${installedVersion} is installed: the two must have the ` +
        `same version (a stale lock file does this). ${reinstall}`,
      failures,
    )
  }
  try {
    return requireChecked<T>(inputs, packageName, `${packageName}@${installedVersion} is`, 'Reinstall it.')
  } catch (error) {
    if (error instanceof NativeLoadError) throw error
    failures.push(error)
    throw new NativeLoadError(
      'ERR_INOTIFY_NATIVE_LOAD_FAILED',
      `${header}@${inputs.version}; it is installed, and loading it failed: ${messageOf(error)}. ` +
        (/GLIBC_|GLIBCXX_/.test(messageOf(error))
          ? 'The C library of this system is older than the binary needs (see "Install" in the README for the floor). '
          : '') +
        `If node_modules was copied from another system, reinstall. ${OVERRIDE_VARIABLES[0]} can name a binary built from source.`,
      failures,
    )
  }
}

/** Loads the file an override variable names; a failure is final (no quiet fallback). */
function loadOverride<T>(inputs: LoaderInputs, variable: string, value: string): T {
  const file = isAbsolute(value) ? value : resolve(inputs.cwd, value)
  let loaded: unknown
  try {
    loaded = inputs.require(file)
  } catch (error) {
    throw new NativeLoadError(
      'ERR_INOTIFY_NATIVE_LOAD_FAILED',
      `inotify-napi: ${variable} names ${file}, and loading it failed: ${messageOf(error)}. ` +
        `Point it at a .node file built for this system, or unset it to use the prebuilt binary.`,
      [error],
    )
  }
  checkSurface(
    loaded,
    inputs.surface,
    `${variable} names ${file}, which is`,
    'Point it at a binary built from inotify-napi ' +
      `${inputs.version} (\`npm run build\` in a clone), or unset it to use the prebuilt binary.`,
  )
  return loaded as T
}

/** Loads `id` and checks it with {@link checkSurface}; a load failure is rethrown as it came. */
function requireChecked<T>(inputs: LoaderInputs, id: string, subject: string, fix: string): T {
  const loaded = inputs.require(id)
  checkSurface(loaded, inputs.surface, subject, fix)
  return loaded as T
}

/**
 * Throws a {@link NativeLoadError} unless `loaded` has every export and member of `surface`. The
 * message starts with `subject` (what was loaded, from where) and names what is missing.
 */
function checkSurface(loaded: unknown, surface: NativeSurface, subject: string, fix: string): void {
  const exports =
    (typeof loaded === 'object' || typeof loaded === 'function') && loaded !== null
      ? (loaded as Record<string, unknown>)
      : {}
  const absent: string[] = []
  const wrong: string[] = []
  for (const [name, members] of Object.entries(surface)) {
    const value = exports[name]
    if (value === undefined) {
      absent.push(name)
      continue
    }
    if (typeof value !== 'function') {
      wrong.push(`${name} is not a function`)
      continue
    }
    const prototype = (value as { prototype?: object }).prototype
    const lacking = members.filter((member) => prototype === undefined || !(member in prototype))
    if (lacking.length > 0) wrong.push(`${name} has no ${lacking.join(', no ')}`)
  }
  if (absent.length === 0 && wrong.length === 0) return
  const found = Object.keys(exports).sort()
  const problems = [...(absent.length > 0 ? [`it has no ${absent.join(', no ')}`] : []), ...wrong].join('; ')
  throw new NativeLoadError(
    'ERR_INOTIFY_NATIVE_LOAD_FAILED',
    `inotify-napi: ${subject} not inotify-napi's native binary, or one from another version: ${problems} ` +
      `(it exports: ${found.length > 0 ? found.join(', ') : 'nothing'}). ${fix}`,
  )
}

/**
 * Whether this process runs on musl, judged from one small read each, in this order:
 *
 * 1. `/proc/self/maps`: the C library this very Node process has mapped. musl's loader and libc are
 *    one file, `ld-musl-<arch>.so.1` (Alpine: `/lib/ld-musl-x86_64.so.1`); glibc maps `libc.so.6`.
 *    Exact even where the system's tools would mislead (a glibc Node on Alpine through gcompat).
 * 2. `/usr/bin/ldd`: on Alpine a script that runs `ld-musl-*`; glibc's names "GNU C Library".
 * 3. `process.report`: a glibc Node reports `glibcVersionRuntime`. Exact but slow (milliseconds: it
 *    builds a whole diagnostic report), so it is the last resort.
 *
 * `read` returns a file's text, or undefined when it cannot be read.
 */
export function detectMusl(
  read: (path: string) => string | undefined = readText,
  report: () => { header?: { glibcVersionRuntime?: string } } | undefined = processReport,
): boolean {
  const maps = read('/proc/self/maps')
  if (maps !== undefined) {
    if (/\/(?:ld-musl-[^/\s]*|libc\.musl-[^/\s]*)$/m.test(maps)) return true
    if (/\/(?:libc\.so\.6|ld-linux[^/\s]*)$/m.test(maps)) return false
  }
  const ldd = read('/usr/bin/ldd')
  if (ldd !== undefined) {
    if (ldd.includes('musl')) return true
    if (/GNU C Library|glibc|GLIBC/.test(ldd)) return false
  }
  const header = report()?.header
  return header !== undefined && !header.glibcVersionRuntime
}

/** A file's text (latin1: `/usr/bin/ldd` may be a binary), or undefined. */
function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1')
  } catch {
    return undefined
  }
}

/** Node's diagnostic report without the slow network part, or undefined. */
function processReport(): { header?: { glibcVersionRuntime?: string } } | undefined {
  const report = process.report
  if (report === undefined || typeof report.getReport !== 'function') return undefined
  // Node 20.13+: skip the network part, the slowest (@types/node 20 does not know the flag yet).
  const settings = report as { excludeNetwork?: boolean }
  settings.excludeNetwork = true
  return report.getReport() as { header?: { glibcVersionRuntime?: string } }
}
