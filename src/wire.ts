/**
 * Decoding a batch from the native engine: one `Buffer` per batch, the layout written by
 * `crates/engine/src/wire.rs` (every integer little-endian):
 *
 * ```text
 * header  u32 eventCount, u32 pathCount, u32 pathsOffset
 * events  eventCount × { i32 wd, u32 mask, u32 cookie, u32 len, u32 pathIndex, u32 flags,
 *                        u32 nameLen, nameLen bytes }
 * paths   pathCount × { u32 byteLen, byteLen bytes }
 * ```
 * @module
 */
import { maskToNames } from './constants'
import type { PathEncoding, PathOf } from './paths'
import type { InotifyEvent } from './event'

const NO_PATH = 0xffffffff
const FLAG_SYNTHETIC = 1
const HEADER_LEN = 12
const EVENT_FIXED_LEN = 28

function decodeBytes<E extends PathEncoding>(buf: Buffer, start: number, end: number, encoding: E): PathOf<E> {
  // A copy, so that an event kept by the user does not pin the whole batch in memory.
  return (encoding === 'buffer'
    ? Buffer.from(buf.subarray(start, end))
    : buf.toString('utf8', start, end)) as PathOf<E>
}

/** Decodes one batch into events. An empty array is a tick: a wait that ended with no event. */
export function decodeBatch<E extends PathEncoding>(buf: Buffer, encoding: E): InotifyEvent<PathOf<E>>[] {
  const count = buf.readUInt32LE(0)
  const pathCount = buf.readUInt32LE(4)
  let at = buf.readUInt32LE(8)
  const paths: PathOf<E>[] = []
  for (let i = 0; i < pathCount; i++) {
    const length = buf.readUInt32LE(at)
    paths.push(decodeBytes(buf, at + 4, at + 4 + length, encoding))
    at += 4 + length
  }
  const empty = decodeBytes(buf, 0, 0, encoding)
  const events: InotifyEvent<PathOf<E>>[] = new Array(count)
  at = HEADER_LEN
  for (let i = 0; i < count; i++) {
    const mask = buf.readUInt32LE(at + 4)
    const pathIndex = buf.readUInt32LE(at + 16)
    const flags = buf.readUInt32LE(at + 20)
    const nameLen = buf.readUInt32LE(at + 24)
    const nameStart = at + EVENT_FIXED_LEN
    const event: InotifyEvent<PathOf<E>> = {
      header: {
        wd: buf.readInt32LE(at),
        mask,
        cookie: buf.readUInt32LE(at + 8),
        len: buf.readUInt32LE(at + 12),
      },
      typeNames: maskToNames(mask),
      path: pathIndex === NO_PATH ? empty : (paths[pathIndex] as PathOf<E>),
      filename: nameLen === 0 ? empty : decodeBytes(buf, nameStart, nameStart + nameLen, encoding),
    }
    if (flags & FLAG_SYNTHETIC) event.synthetic = true
    events[i] = event
    at = nameStart + nameLen
  }
  return events
}
