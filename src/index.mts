/**
 * The ES module entry: the same objects as the CommonJS entry (one instance of each class, whichever
 * way the package is loaded).
 * @module
 */
export * from './index.js'
