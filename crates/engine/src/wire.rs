//! One batch of events as one byte buffer, so that a consumer across an FFI boundary gets a whole
//! batch with one call and one allocation instead of a few objects per event.
//!
//! Layout, every integer little-endian (whatever the host), nothing aligned:
//!
//! ```text
//! header  u32 event_count, u32 path_count, u32 paths_offset
//! events  event_count × { i32 wd, u32 mask, u32 cookie, u32 len, u32 path_index, u32 flags,
//!                         u32 name_len, name_len bytes of name }
//! paths   (at paths_offset) path_count × { u32 byte_len, byte_len bytes }
//! ```
//!
//! `path_index` is [`NO_PATH`] for an event with no watch path (`IN_Q_OVERFLOW`). A path used by many
//! events of a batch is stored once. `src/wire.ts` is the other half of this format.

use std::collections::HashMap;

use crate::event::RawEvent;

/// `path_index` of an event that has no path.
pub const NO_PATH: u32 = u32::MAX;
/// Event flag: made by the engine (a directory scan), not read from the kernel.
pub const FLAG_SYNTHETIC: u32 = 1;
/// Event flag (trees): an `IN_MOVED_TO` onto a name the directory already held, which it replaced.
pub const FLAG_REPLACED: u32 = 2;

const HEADER_LEN: usize = 12;
const EVENT_FIXED_LEN: usize = 28;

/// A finished batch: the bytes and how many events they hold. An empty batch is a "tick": the wait
/// ended with no event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBatch {
    /// The encoded batch.
    pub bytes: Vec<u8>,
    /// Number of events in it.
    pub events: u32,
    /// The kernel's queue was read to its end (a rename's halves are never split across batches
    /// that end settled).
    pub settled: bool,
}

/// Builds an [`EncodedBatch`].
#[derive(Debug)]
pub struct BatchEncoder {
    bytes: Vec<u8>,
    events: u32,
    paths: Vec<Vec<u8>>,
    /// Last path index used for each wd, to store a watch's path once per batch.
    by_wd: HashMap<i32, u32>,
}

impl Default for BatchEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchEncoder {
    /// An empty batch.
    pub fn new() -> Self {
        let mut bytes = Vec::with_capacity(4096);
        bytes.resize(HEADER_LEN, 0);
        Self {
            bytes,
            events: 0,
            paths: Vec::new(),
            by_wd: HashMap::new(),
        }
    }

    /// Bytes so far, to bound a batch's size.
    pub fn byte_len(&self) -> usize {
        self.bytes.len() + self.paths.iter().map(|p| p.len() + 4).sum::<usize>()
    }

    /// Number of events so far.
    pub fn event_count(&self) -> u32 {
        self.events
    }

    fn intern(&mut self, wd: i32, path: &[u8]) -> u32 {
        if let Some(&index) = self.by_wd.get(&wd) {
            if self.paths[index as usize] == path {
                return index;
            }
        }
        let index = self.paths.len() as u32;
        self.paths.push(path.to_vec());
        self.by_wd.insert(wd, index);
        index
    }

    /// Appends one event, reported under `path` (the watch's path), with `flags`.
    pub fn push(&mut self, event: &RawEvent<'_>, path: Option<&[u8]>, flags: u32) {
        let path_index = match path {
            Some(path) => self.intern(event.wd, path),
            None => NO_PATH,
        };
        let bytes = &mut self.bytes;
        bytes.reserve(EVENT_FIXED_LEN + event.name.len());
        bytes.extend_from_slice(&event.wd.to_le_bytes());
        bytes.extend_from_slice(&event.mask.to_le_bytes());
        bytes.extend_from_slice(&event.cookie.to_le_bytes());
        bytes.extend_from_slice(&event.len.to_le_bytes());
        bytes.extend_from_slice(&path_index.to_le_bytes());
        bytes.extend_from_slice(&flags.to_le_bytes());
        bytes.extend_from_slice(&(event.name.len() as u32).to_le_bytes());
        bytes.extend_from_slice(event.name);
        self.events += 1;
    }

    /// Writes the path table and header and hands the batch over.
    pub fn finish(mut self) -> EncodedBatch {
        let paths_offset = self.bytes.len() as u32;
        for path in &self.paths {
            self.bytes
                .extend_from_slice(&(path.len() as u32).to_le_bytes());
            self.bytes.extend_from_slice(path);
        }
        self.bytes[0..4].copy_from_slice(&self.events.to_le_bytes());
        self.bytes[4..8].copy_from_slice(&(self.paths.len() as u32).to_le_bytes());
        self.bytes[8..12].copy_from_slice(&paths_offset.to_le_bytes());
        EncodedBatch {
            bytes: self.bytes,
            events: self.events,
            settled: false,
        }
    }
}

/// One event read back from a batch (for tests and Rust consumers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedEvent {
    pub wd: i32,
    pub mask: u32,
    pub cookie: u32,
    pub len: u32,
    pub path: Option<Vec<u8>>,
    pub flags: u32,
    pub name: Vec<u8>,
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([field[0], field[1], field[2], field[3]]))
}

/// Reads a batch back. `None` if the bytes are not a well-formed batch.
pub fn decode(bytes: &[u8]) -> Option<Vec<DecodedEvent>> {
    let events = u32_at(bytes, 0)? as usize;
    let path_count = u32_at(bytes, 4)? as usize;
    let paths_offset = u32_at(bytes, 8)? as usize;
    let mut paths = Vec::with_capacity(path_count.min(1024));
    let mut at = paths_offset;
    for _ in 0..path_count {
        let len = u32_at(bytes, at)? as usize;
        paths.push(bytes.get(at + 4..at + 4 + len)?.to_vec());
        at += 4 + len;
    }
    let mut out = Vec::with_capacity(events.min(65536));
    let mut at = HEADER_LEN;
    for _ in 0..events {
        let name_len = u32_at(bytes, at + 24)? as usize;
        let path_index = u32_at(bytes, at + 16)?;
        out.push(DecodedEvent {
            wd: u32_at(bytes, at)? as i32,
            mask: u32_at(bytes, at + 4)?,
            cookie: u32_at(bytes, at + 8)?,
            len: u32_at(bytes, at + 12)?,
            path: match path_index {
                NO_PATH => None,
                i => Some(paths.get(i as usize)?.clone()),
            },
            flags: u32_at(bytes, at + 20)?,
            name: bytes
                .get(at + EVENT_FIXED_LEN..at + EVENT_FIXED_LEN + name_len)?
                .to_vec(),
        });
        at += EVENT_FIXED_LEN + name_len;
    }
    (at == paths_offset).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::*;

    fn event(wd: i32, mask: u32, name: &[u8]) -> RawEvent<'_> {
        RawEvent {
            wd,
            mask,
            cookie: 0,
            len: 16,
            name,
        }
    }

    #[test]
    fn an_empty_batch_is_a_tick() {
        let batch = BatchEncoder::new().finish();
        assert_eq!(batch.events, 0);
        assert_eq!(decode(&batch.bytes), Some(vec![]));
    }

    #[test]
    fn round_trips_events_and_stores_each_path_once() {
        let mut encoder = BatchEncoder::new();
        encoder.push(&event(1, IN_CREATE, b"a"), Some(b"/w"), 0);
        encoder.push(&event(1, IN_DELETE, b"b\xff"), Some(b"/w"), FLAG_SYNTHETIC);
        encoder.push(&event(-1, IN_Q_OVERFLOW, b""), None, 0);
        encoder.push(&event(2, IN_CREATE, b"c"), Some("/日本".as_bytes()), 0);
        let batch = encoder.finish();
        assert_eq!(u32_at(&batch.bytes, 4), Some(2), "two distinct paths");
        let events = decode(&batch.bytes).expect("well-formed");
        assert_eq!(events.len(), 4);
        assert_eq!(events[1].name, b"b\xff");
        assert_eq!(events[1].flags, FLAG_SYNTHETIC);
        assert_eq!(events[2].path, None);
        assert_eq!(events[2].wd, -1);
        assert_eq!(events[3].path.as_deref(), Some("/日本".as_bytes()));
    }

    #[test]
    fn a_watch_whose_path_changes_mid_batch_gets_a_second_entry() {
        let mut encoder = BatchEncoder::new();
        encoder.push(&event(1, IN_CREATE, b"a"), Some(b"/old"), 0);
        encoder.push(&event(1, IN_CREATE, b"b"), Some(b"/new"), 0);
        let events = decode(&encoder.finish().bytes).expect("well-formed");
        assert_eq!(events[0].path.as_deref(), Some(&b"/old"[..]));
        assert_eq!(events[1].path.as_deref(), Some(&b"/new"[..]));
    }

    #[test]
    fn rejects_truncated_batches() {
        let mut encoder = BatchEncoder::new();
        encoder.push(&event(1, IN_CREATE, b"name"), Some(b"/w"), 0);
        let bytes = encoder.finish().bytes;
        for cut in 1..bytes.len() {
            assert_eq!(decode(&bytes[..bytes.len() - cut]), None, "cut {cut}");
        }
    }
}
