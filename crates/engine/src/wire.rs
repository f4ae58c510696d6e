//! One batch of events as one byte buffer, so that a consumer across an FFI boundary gets a whole
//! batch with one call and one allocation instead of a few objects per event.
//!
//! The batch is in columns, so that a consumer reads a field of every event through one typed
//! array over the buffer (`Uint32Array` in JS) instead of parsing records one by one. Every integer
//! is a little-endian u32 (whatever the host), and every column starts on a multiple of 4 bytes:
//!
//! ```text
//! header   u32 event_count (N), u32 path_count (P), u32 names_offset, u32 paths_offset,
//!          u32 batch_flags
//! columns  at 20, N × u32 each, in this order: wd (i32), mask, cookie, len, path_index, flags,
//!          name_end
//! names    at names_offset (= 20 + 28 N): every name, one after the other; name i is the bytes
//!          from name_end[i - 1] (0 for the first) to name_end[i], relative to names_offset;
//!          zero bytes up to a multiple of 4
//! paths    at paths_offset: P × u32 path_end, then the paths' bytes, one after the other (path j
//!          from path_end[j - 1] to path_end[j], relative to the end of path_end)
//! ```
//!
//! `batch_flags` holds [`BATCH_SETTLED`] and [`BATCH_ANSWER`]. `path_index` is [`NO_PATH`] for an
//! event with no watch path (`IN_Q_OVERFLOW`). A path used by many events of a batch is stored
//! once. [`FLAG_ASCII_NAME`] marks a name whose bytes are all ASCII, so that a consumer can decode
//! every such name of a batch at once.
//!
//! The constants below are the format's only definition: `src/format-constants.ts` is generated
//! from them, and `__test__/fixtures/golden/` holds batches this encoder wrote, which the
//! TypeScript reader (`src/wire.ts`) is tested on (`crates/engine/tests/formats.rs` keeps both
//! fresh).

use std::collections::HashMap;

use crate::event::RawEvent;
use crate::sink::Sink;

/// `path_index` of an event that has no path.
pub const NO_PATH: u32 = u32::MAX;
/// Event flag: made by the engine (a directory scan), not read from the kernel.
pub const FLAG_SYNTHETIC: u32 = 1;
/// Event flag (trees): an `IN_MOVED_TO` onto a name the directory already held, which it replaced.
pub const FLAG_REPLACED: u32 = 2;
/// Event flag set by the encoder (not by [`BatchEncoder::push`]'s callers, and left out by
/// [`decode`]): every byte of the name is ASCII, so it decodes the same as Latin-1 and as UTF-8.
pub const FLAG_ASCII_NAME: u32 = 4;

/// Batch flag: the reader read the kernel's queue to its end for this batch (a batch that does not
/// have it is a part, handed over while more was queued: see [`EncodedBatch::settled`]).
pub const BATCH_SETTLED: u32 = 1;

/// Batch flag: the batch ends the answer to a read-now request ([`crate::Session::read_now`]):
/// with it, the consumer has everything the kernel had queued when it asked. Always settled.
pub const BATCH_ANSWER: u32 = 2;

/// Bytes of the header; the first column starts there.
pub const HEADER_LEN: usize = 20;
/// Header field: the number of events.
pub const EVENT_COUNT_AT: usize = 0;
/// Header field: the number of distinct paths.
pub const PATH_COUNT_AT: usize = 4;
/// Header field: where the names start.
pub const NAMES_OFFSET_AT: usize = 8;
/// Header field: where the path table starts.
pub const PATHS_OFFSET_AT: usize = 12;
/// Header field: [`BATCH_SETTLED`] and [`BATCH_ANSWER`].
pub const BATCH_FLAGS_AT: usize = 16;
/// Number of columns; each holds one u32 per event, in the order of the `COLUMN_*` indexes.
pub const COLUMNS: usize = 7;
/// Column: the watch descriptor (an i32: -1 for `IN_Q_OVERFLOW`).
pub const COLUMN_WD: usize = 0;
/// Column: the kernel's mask.
pub const COLUMN_MASK: usize = 1;
/// Column: the kernel's cookie (pairs a rename's halves).
pub const COLUMN_COOKIE: usize = 2;
/// Column: the kernel's (padded) name length.
pub const COLUMN_LEN: usize = 3;
/// Column: the index of the event's path in the path table, or [`NO_PATH`].
pub const COLUMN_PATH_INDEX: usize = 4;
/// Column: the event's flags (`FLAG_*`).
pub const COLUMN_FLAGS: usize = 5;
/// Column: where the event's name ends, relative to the names' start.
pub const COLUMN_NAME_END: usize = 6;

/// A finished batch: the bytes and how many events they hold. An empty batch is a "tick": the wait
/// ended with no event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBatch {
    /// The encoded batch.
    pub bytes: Vec<u8>,
    /// Number of events in it.
    pub events: u32,
}

impl EncodedBatch {
    /// Whether the kernel's queue was read to its end for this batch ([`BATCH_SETTLED`] in the
    /// header; a rename's halves are never split across batches that end settled).
    pub fn settled(&self) -> bool {
        u32_at(&self.bytes, BATCH_FLAGS_AT).is_some_and(|flags| flags & BATCH_SETTLED != 0)
    }

    /// Marks the batch settled or not, in its header.
    pub fn set_settled(&mut self, settled: bool) {
        self.set_flag(BATCH_SETTLED, settled);
    }

    /// Whether the batch ends the answer to a read-now request ([`BATCH_ANSWER`] in the header).
    pub fn answer(&self) -> bool {
        u32_at(&self.bytes, BATCH_FLAGS_AT).is_some_and(|flags| flags & BATCH_ANSWER != 0)
    }

    /// Marks the batch as the end of a read-now request's answer (and so settled), in its header.
    pub fn set_answer(&mut self) {
        self.set_flag(BATCH_SETTLED | BATCH_ANSWER, true);
    }

    fn set_flag(&mut self, flag: u32, on: bool) {
        let old = u32_at(&self.bytes, BATCH_FLAGS_AT).unwrap_or(0);
        let new = if on { old | flag } else { old & !flag };
        if let Some(field) = self.bytes.get_mut(BATCH_FLAGS_AT..BATCH_FLAGS_AT + 4) {
            field.copy_from_slice(&new.to_le_bytes());
        }
    }
}

/// Builds an [`EncodedBatch`]: the columns grow apart and are laid out by [`BatchEncoder::finish`].
#[derive(Debug)]
pub struct BatchEncoder {
    /// `COLUMNS` values per event, event after event (transposed into columns at the end).
    rows: Vec<u32>,
    names: Vec<u8>,
    paths: Vec<Vec<u8>>,
    paths_len: usize,
    /// Last path index used for each wd, to store a watch's path once per batch.
    by_wd: HashMap<i32, u32>,
}

impl Default for BatchEncoder {
    fn default() -> Self {
        Self::new()
    }
}

/// `n` rounded up to a multiple of 4.
fn aligned(n: usize) -> usize {
    n.next_multiple_of(4)
}

impl BatchEncoder {
    /// An empty batch.
    pub fn new() -> Self {
        Self {
            rows: Vec::with_capacity(COLUMNS * 64),
            names: Vec::with_capacity(1024),
            paths: Vec::new(),
            paths_len: 0,
            by_wd: HashMap::new(),
        }
    }

    /// Bytes the finished batch will take, to bound a batch's size.
    pub fn byte_len(&self) -> usize {
        HEADER_LEN
            + 4 * self.rows.len()
            + aligned(self.names.len())
            + 4 * self.paths.len()
            + self.paths_len
    }

    /// Number of events so far.
    pub fn event_count(&self) -> u32 {
        (self.rows.len() / COLUMNS) as u32
    }

    fn intern(&mut self, wd: i32, path: &[u8]) -> u32 {
        if let Some(&index) = self.by_wd.get(&wd) {
            if self.paths[index as usize] == path {
                return index;
            }
        }
        let index = self.paths.len() as u32;
        self.paths.push(path.to_vec());
        self.paths_len += path.len();
        self.by_wd.insert(wd, index);
        index
    }

    /// Appends one event, reported under `path` (the watch's path), with `flags`.
    pub fn push(&mut self, event: &RawEvent<'_>, path: Option<&[u8]>, flags: u32) {
        let path_index = match path {
            Some(path) => self.intern(event.wd, path),
            None => NO_PATH,
        };
        let ascii = if event.name.is_ascii() {
            FLAG_ASCII_NAME
        } else {
            0
        };
        self.names.extend_from_slice(event.name);
        let mut row = [0; COLUMNS];
        row[COLUMN_WD] = event.wd as u32;
        row[COLUMN_MASK] = event.mask;
        row[COLUMN_COOKIE] = event.cookie;
        row[COLUMN_LEN] = event.len;
        row[COLUMN_PATH_INDEX] = path_index;
        row[COLUMN_FLAGS] = (flags & !FLAG_ASCII_NAME) | ascii;
        row[COLUMN_NAME_END] = self.names.len() as u32;
        self.rows.extend_from_slice(&row);
    }

    /// Lays out the header, the columns, the names and the path table, and hands the batch over.
    pub fn finish(self) -> EncodedBatch {
        let events = self.rows.len() / COLUMNS;
        let names_offset = HEADER_LEN + 4 * self.rows.len();
        let paths_offset = names_offset + aligned(self.names.len());
        let mut bytes = Vec::with_capacity(self.byte_len());
        bytes.resize(HEADER_LEN, 0);
        for (at, value) in [
            (EVENT_COUNT_AT, events),
            (PATH_COUNT_AT, self.paths.len()),
            (NAMES_OFFSET_AT, names_offset),
            (PATHS_OFFSET_AT, paths_offset),
        ] {
            bytes[at..at + 4].copy_from_slice(&(value as u32).to_le_bytes());
        }
        for column in 0..COLUMNS {
            for row in self.rows.chunks_exact(COLUMNS) {
                bytes.extend_from_slice(&row[column].to_le_bytes());
            }
        }
        bytes.extend_from_slice(&self.names);
        bytes.resize(paths_offset, 0);
        let mut end = 0u32;
        for path in &self.paths {
            end += path.len() as u32;
            bytes.extend_from_slice(&end.to_le_bytes());
        }
        for path in &self.paths {
            bytes.extend_from_slice(path);
        }
        EncodedBatch {
            bytes,
            events: events as u32,
        }
    }
}

impl Sink for BatchEncoder {
    fn push(&mut self, event: &RawEvent<'_>, path: Option<&[u8]>, flags: u32) {
        BatchEncoder::push(self, event, path, flags);
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

/// Splits `bytes` at the cumulative `ends` (each at least the one before, the last at most
/// `bytes.len()`); `None` otherwise.
fn split_at_ends(bytes: &[u8], ends: &[u32]) -> Option<Vec<Vec<u8>>> {
    let mut start = 0usize;
    ends.iter()
        .map(|&end| {
            let end = end as usize;
            let part = bytes.get(start..end)?.to_vec();
            start = end;
            Some(part)
        })
        .collect()
}

/// Reads a batch back. `None` if the bytes are not a well-formed batch.
pub fn decode(bytes: &[u8]) -> Option<Vec<DecodedEvent>> {
    let events = u32_at(bytes, EVENT_COUNT_AT)? as usize;
    let path_count = u32_at(bytes, PATH_COUNT_AT)? as usize;
    let names_offset = u32_at(bytes, NAMES_OFFSET_AT)? as usize;
    let paths_offset = u32_at(bytes, PATHS_OFFSET_AT)? as usize;
    if names_offset != HEADER_LEN.checked_add(events.checked_mul(4 * COLUMNS)?)? {
        return None;
    }
    let column = |c: usize| -> Option<Vec<u32>> {
        (0..events)
            .map(|i| u32_at(bytes, HEADER_LEN + 4 * (c * events + i)))
            .collect()
    };
    let name_ends = column(COLUMN_NAME_END)?;
    let names_len = name_ends.last().map_or(0, |&end| end as usize);
    if paths_offset != names_offset.checked_add(names_len.checked_next_multiple_of(4)?)? {
        return None;
    }
    let names = split_at_ends(
        bytes.get(names_offset..names_offset.checked_add(names_len)?)?,
        &name_ends,
    )?;
    let path_ends: Vec<u32> = (0..path_count)
        .map(|j| u32_at(bytes, paths_offset.checked_add(j.checked_mul(4)?)?))
        .collect::<Option<_>>()?;
    let paths_start = paths_offset.checked_add(path_count.checked_mul(4)?)?;
    let paths_len = path_ends.last().map_or(0, |&end| end as usize);
    if bytes.len() != paths_start.checked_add(paths_len)? {
        return None;
    }
    let paths = split_at_ends(bytes.get(paths_start..)?, &path_ends)?;
    let (wds, masks, cookies, lens, path_indexes, flags) = (
        column(COLUMN_WD)?,
        column(COLUMN_MASK)?,
        column(COLUMN_COOKIE)?,
        column(COLUMN_LEN)?,
        column(COLUMN_PATH_INDEX)?,
        column(COLUMN_FLAGS)?,
    );
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            Some(DecodedEvent {
                wd: wds[i] as i32,
                mask: masks[i],
                cookie: cookies[i],
                len: lens[i],
                path: match path_indexes[i] {
                    NO_PATH => None,
                    j => Some(paths.get(j as usize)?.clone()),
                },
                flags: flags[i] & !FLAG_ASCII_NAME,
                name,
            })
        })
        .collect()
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
    fn lays_out_the_documented_columns_on_four_byte_boundaries() {
        let mut encoder = BatchEncoder::new();
        encoder.push(&event(7, IN_CREATE, b"abc"), Some(b"/w"), FLAG_SYNTHETIC);
        encoder.push(&event(-1, IN_Q_OVERFLOW, b""), None, 0);
        encoder.push(
            &event(7, IN_DELETE, "\u{e9}t\u{e9}".as_bytes()),
            Some(b"/w"),
            0,
        );
        let expected_len = encoder.byte_len();
        let bytes = encoder.finish().bytes;
        assert_eq!(
            bytes.len(),
            expected_len,
            "byte_len() foretells the finished size"
        );
        let n = 3;
        let names_offset = HEADER_LEN + 4 * COLUMNS * n;
        let col = |c: usize, i: usize| u32_at(&bytes, HEADER_LEN + 4 * (c * n + i));
        assert_eq!(u32_at(&bytes, 0), Some(3));
        assert_eq!(u32_at(&bytes, 8), Some(names_offset as u32));
        assert_eq!(col(0, 1), Some(u32::MAX), "wd -1");
        assert_eq!(col(1, 2), Some(IN_DELETE));
        assert_eq!(col(4, 1), Some(NO_PATH));
        assert_eq!(
            col(5, 0),
            Some(FLAG_SYNTHETIC | FLAG_ASCII_NAME),
            "ASCII name"
        );
        assert_eq!(col(5, 1), Some(FLAG_ASCII_NAME), "an empty name is ASCII");
        assert_eq!(col(5, 2), Some(0), "not ASCII");
        assert_eq!(
            [col(6, 0), col(6, 1), col(6, 2)],
            [Some(3), Some(3), Some(8)]
        );
        assert_eq!(&bytes[names_offset..names_offset + 3], b"abc");
        let paths_offset = u32_at(&bytes, 12).expect("header") as usize;
        assert_eq!(paths_offset, names_offset + 8, "names padded to 4 bytes");
        assert_eq!(paths_offset % 4, 0);
        assert_eq!(u32_at(&bytes, paths_offset), Some(2));
        assert_eq!(&bytes[paths_offset + 4..], b"/w");
        let events = decode(&bytes).expect("well-formed");
        assert_eq!(
            events[0].flags, FLAG_SYNTHETIC,
            "the encoder's own flag is not decoded"
        );
    }

    #[test]
    fn set_settled_writes_the_batch_flag_into_the_header() {
        let mut batch = BatchEncoder::new().finish();
        assert_eq!(u32_at(&batch.bytes, BATCH_FLAGS_AT), Some(0));
        batch.set_settled(true);
        assert!(batch.settled());
        assert_eq!(u32_at(&batch.bytes, BATCH_FLAGS_AT), Some(BATCH_SETTLED));
        batch.set_settled(false);
        assert_eq!(u32_at(&batch.bytes, BATCH_FLAGS_AT), Some(0));
    }

    #[test]
    fn set_answer_marks_the_batch_answered_and_settled() {
        let mut batch = BatchEncoder::new().finish();
        assert!(!batch.answer());
        batch.set_answer();
        assert!(batch.answer() && batch.settled());
        assert_eq!(
            u32_at(&batch.bytes, BATCH_FLAGS_AT),
            Some(BATCH_SETTLED | BATCH_ANSWER)
        );
        batch.set_settled(false);
        assert_eq!(u32_at(&batch.bytes, BATCH_FLAGS_AT), Some(BATCH_ANSWER));
        assert_eq!(decode(&batch.bytes), Some(vec![]));
    }

    #[test]
    fn rejects_names_out_of_order() {
        let mut encoder = BatchEncoder::new();
        encoder.push(&event(1, IN_CREATE, b"ab"), Some(b"/w"), 0);
        encoder.push(&event(1, IN_CREATE, b"cd"), Some(b"/w"), 0);
        let mut bytes = encoder.finish().bytes;
        let first_end = HEADER_LEN + 4 * (6 * 2);
        bytes[first_end..first_end + 4].copy_from_slice(&3u32.to_le_bytes());
        assert!(decode(&bytes).is_some(), "ends 3, 4 are in order");
        bytes[first_end..first_end + 4].copy_from_slice(&5u32.to_le_bytes());
        assert_eq!(decode(&bytes), None, "ends 5, 4 are not");
    }

    #[test]
    fn rejects_offsets_and_ends_at_the_top_of_the_u32_range_without_overflowing() {
        let mut encoder = BatchEncoder::new();
        encoder.push(&event(1, IN_CREATE, b"ab"), Some(b"/w"), 0);
        let bytes = encoder.finish().bytes;
        let name_end = HEADER_LEN + 4 * 6;
        for hostile in [u32::MAX, u32::MAX - 2, u32::MAX - 3] {
            let mut name = bytes.clone();
            name[name_end..name_end + 4].copy_from_slice(&hostile.to_le_bytes());
            assert_eq!(decode(&name), None, "name end {hostile:#x}");
            for field in [4, 12] {
                let mut header = bytes.clone();
                header[field..field + 4].copy_from_slice(&hostile.to_le_bytes());
                assert_eq!(decode(&header), None, "header field {field} = {hostile:#x}");
            }
        }
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
