/**
 * The ES module entry: the same objects as the CommonJS entry (one instance of each class, whichever
 * way the package is loaded).
 * @module
 */
export * from './index.js'
import inotifyNapi from './index.js'
/**
 * The same object `require('inotify-napi')` gives, so `(await import('inotify-napi')).default.subscribe`
 * works as on a CommonJS package (Tailwind CSS 4's CLI loads `@parcel/watcher` that way).
 */
export default inotifyNapi
