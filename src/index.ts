/**
 * inotify-napi: the whole of Linux inotify for Node.js and TypeScript.
 *
 * A port of the Python package `inotify` (`inotify.adapters`), with the kernel read on a native
 * thread and events delivered in batches. Linux only.
 * @module
 */
export * from './constants'
export { Inotify } from './inotify'
export type { InotifyOptions } from './inotify'
export { DEFAULT_TERMINAL_EVENTS } from './options'
export type { EventGenOptions, EventBatchesOptions, BlockDuration } from './event-source'
export type { EventBatch } from './batch'
export type { InotifyEvent, InotifyHeader } from './event'
export type { PathLike, PathEncoding, PathOf } from './paths'
export { InotifyError, TerminalEventError, AbortError, WatchLimitError } from './errors'
export type { WatchLimitDetails } from './errors'
export { InotifyTree, InotifyTrees } from './tree'
export type {
  InotifyTreeOptions,
  InotifyTreeEvent,
  TreeEventGenOptions,
  IgnorePattern,
  IgnoreFunction,
  InstanceKind,
} from './tree'
export type { InotifyErrorCode, InotifyErrorDetails } from './errors'
export { watch, Watcher } from './watch'
export type { WatchOptions, WatchIgnore, WatchStats, InotifyLimits, WatcherEvents, Change, ChangeType } from './watch'
export { subscribe, unsubscribe } from './subscribe'
export { writeSnapshot, getEventsSince } from './snapshot'
export type { SubscribeEvent, SubscribeCallback, SubscribeOptions, AsyncSubscription } from './subscribe'
export type { Event, EventType, Options, BackendType } from './subscribe'

import * as self from './index'
/**
 * The package's own exports: `require('inotify-napi')` sets `__esModule`, and bundled code that reads
 * such a module as `m.__esModule ? m.default : m` (as Parcel's does for `@parcel/watcher`) then gets
 * them all, `subscribe`, `unsubscribe`, `writeSnapshot` and `getEventsSince` included.
 */
const inotifyNapi: typeof self = self
export default inotifyNapi
