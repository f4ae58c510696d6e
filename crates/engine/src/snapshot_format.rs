//! The snapshot file: a [`Snapshot`] as bytes, and back. The format is this crate's own (not
//! `@parcel/watcher`'s text lines of absolute paths), about an eighth of their size.
//!
//! ```text
//! magic    8 bytes  "\x89INSNAP\n"
//! version  u16 LE   1
//! root     varint length, then the root's absolute path
//! count    varint   entries below the root
//! body     the root's listing (below)
//! crc      u32 LE   CRC-32 (IEEE) of every byte before it
//! ```
//!
//! A listing is a varint count of entries, then each entry in name order. An entry is a varint
//! `shared` (bytes its name shares with the previous name of the same listing), a varint
//! `suffix_len << 1 | is_dir`, and the `suffix_len` bytes that follow the shared ones. A directory's
//! own listing follows its entry at once (depth first). A file then has three varints, each a
//! difference from the previous file's in the file, zigzag-encoded where it can be negative: its
//! inode (zigzag), its size (plain), its modification time in nanoseconds (zigzag). Varints are
//! LEB128 (7 bits a byte, low first, at most 10 bytes, 19 for the time).
//!
//! Decoding checks everything before it trusts a byte: the magic, the version, the CRC, every
//! length against what is left, names (not empty, no `/` or NUL, not `.` or `..`, strictly
//! increasing in a listing), the count, and that nothing follows the body. Any failure is
//! [`Error::SnapshotCorrupt`]; nothing in a file can make it panic, allocate more than the file's
//! size allows, or recurse.

use crate::error::{Error, Result};
use crate::snapshot::{Entry, Listing, Node, Snapshot, Stamp};

/// The first bytes of every snapshot file (`\x89` keeps it from reading as text, `\n` shows a
/// line-ending conversion).
pub const MAGIC: &[u8; 8] = b"\x89INSNAP\n";
/// The version this module writes and reads.
pub const VERSION: u16 = 1;
/// Bytes of the CRC at the end.
const CRC_LEN: usize = 4;
/// Nanoseconds in a second.
const NANOS: i128 = 1_000_000_000;

fn put_varint(out: &mut Vec<u8>, mut value: u128) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn zigzag(value: i128) -> u128 {
    ((value << 1) ^ (value >> 127)) as u128
}

fn unzigzag(value: u128) -> i128 {
    ((value >> 1) as i128) ^ -((value & 1) as i128)
}

fn nanos(stamp: &Stamp) -> i128 {
    i128::from(stamp.mtime_sec) * NANOS + i128::from(stamp.mtime_nsec)
}

/// The bytes of `tree`.
pub fn encode(tree: &Snapshot) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + tree.entry_count() * 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    put_varint(&mut out, tree.root.len() as u128);
    out.extend_from_slice(&tree.root);
    put_varint(&mut out, tree.entry_count() as u128);
    let mut previous = Stamp::default();
    // Each frame: a listing and how far it was written.
    let mut stack: Vec<(&[Entry], usize)> = vec![(tree.listing(0), 0)];
    put_varint(&mut out, tree.listing(0).len() as u128);
    while let Some((entries, at)) = stack.pop() {
        let Some(entry) = entries.get(at) else {
            continue;
        };
        stack.push((entries, at + 1));
        let before: &[u8] = at
            .checked_sub(1)
            .and_then(|i| entries.get(i))
            .map_or(&[], |e| &e.name);
        let shared = before
            .iter()
            .zip(entry.name.iter())
            .take_while(|(a, b)| a == b)
            .count();
        let suffix = &entry.name[shared..];
        put_varint(&mut out, shared as u128);
        let is_dir = matches!(entry.node, Node::Dir(_));
        put_varint(&mut out, (suffix.len() as u128) << 1 | u128::from(is_dir));
        out.extend_from_slice(suffix);
        match entry.node {
            Node::Dir(index) => {
                let listing = tree.listing(index);
                put_varint(&mut out, listing.len() as u128);
                stack.push((listing, 0));
            }
            Node::File(stamp) => {
                put_varint(
                    &mut out,
                    zigzag(i128::from(stamp.ino) - i128::from(previous.ino)),
                );
                put_varint(&mut out, u128::from(stamp.size));
                put_varint(&mut out, zigzag(nanos(&stamp) - nanos(&previous)));
                previous = stamp;
            }
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Reads the bytes of a snapshot, each read checked against what is left.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    path: &'a [u8],
}

impl<'a> Reader<'a> {
    fn corrupt(&self, reason: &str) -> Error {
        Error::SnapshotCorrupt {
            path: self.path.to_vec(),
            reason: format!("{reason} (at byte {})", self.at),
        }
    }

    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len());
        let Some(slice) = end.and_then(|end| self.bytes.get(self.at..end)) else {
            return Err(self.corrupt(&format!("{what} runs past the end")));
        };
        self.at += len;
        Ok(slice)
    }

    /// A varint of at most `max_bytes` bytes.
    fn varint(&mut self, max_bytes: usize, what: &str) -> Result<u128> {
        let mut value = 0u128;
        for i in 0..max_bytes {
            let Some(&byte) = self.bytes.get(self.at) else {
                return Err(self.corrupt(&format!("{what} runs past the end")));
            };
            self.at += 1;
            value |= u128::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.corrupt(&format!("{what} is longer than {max_bytes} bytes")))
    }

    /// A length or a count: a varint no larger than the bytes left.
    fn length(&mut self, what: &str) -> Result<usize> {
        let value = self.varint(10, what)?;
        let left = self.bytes.len() - self.at;
        usize::try_from(value)
            .ok()
            .filter(|value| *value <= left)
            .ok_or_else(|| {
                self.corrupt(&format!(
                    "{what} {value} is more than the {left} bytes left"
                ))
            })
    }

    fn u64_field(&mut self, what: &str) -> Result<u64> {
        let value = self.varint(10, what)?;
        u64::try_from(value).map_err(|_| self.corrupt(&format!("{what} is out of range")))
    }
}

/// Checks the frame (magic, version, CRC) and returns the bytes inside it.
fn unframe<'a>(bytes: &'a [u8], path: &[u8]) -> Result<&'a [u8]> {
    let corrupt = |reason: String| Error::SnapshotCorrupt {
        path: path.to_vec(),
        reason,
    };
    let head = bytes.get(..MAGIC.len()).unwrap_or(bytes);
    if !MAGIC.starts_with(head) {
        return Err(corrupt(
            "it is not a snapshot written by inotify-napi (its first bytes are not the snapshot magic)"
                .into(),
        ));
    }
    if bytes.len() < MAGIC.len() + 2 + CRC_LEN {
        return Err(corrupt(format!(
            "it is cut short ({} bytes, shorter than the smallest snapshot)",
            bytes.len()
        )));
    }
    let version = u16::from_le_bytes([bytes[MAGIC.len()], bytes[MAGIC.len() + 1]]);
    if version != VERSION {
        return Err(corrupt(format!(
            "its format version is {version}, and this inotify-napi reads version {VERSION}; write the snapshot again"
        )));
    }
    let (body, crc) = bytes.split_at(bytes.len() - CRC_LEN);
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32fast::hash(body) != stored {
        return Err(corrupt(
            "its checksum does not match its content (the file was cut short or altered)".into(),
        ));
    }
    Ok(body)
}

/// Whether `name` can be a directory entry's name: not empty, not `.` or `..`, no `/` or NUL.
fn is_file_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.iter().any(|b| *b == b'/' || *b == 0)
}

/// A file's stamp, from its differences to the previous file's.
fn read_stamp(r: &mut Reader<'_>, previous: &Stamp) -> Result<Stamp> {
    let ino = i128::from(previous.ino)
        .checked_add(unzigzag(r.varint(19, "an inode")?))
        .and_then(|ino| u64::try_from(ino).ok())
        .ok_or_else(|| r.corrupt("an inode is out of range"))?;
    let size = r.u64_field("a size")?;
    let time = nanos(previous)
        .checked_add(unzigzag(r.varint(19, "a modification time")?))
        .ok_or_else(|| r.corrupt("a modification time is out of range"))?;
    let mtime_sec = i64::try_from(time.div_euclid(NANOS))
        .map_err(|_| r.corrupt("a modification time is out of range"))?;
    // The remainder of a positive divisor is in 0..NANOS, which fits.
    let mtime_nsec = u32::try_from(time.rem_euclid(NANOS)).unwrap_or_default();
    Ok(Stamp {
        mtime_sec,
        mtime_nsec,
        size,
        ino,
    })
}

/// The snapshot in `bytes` (read from `path`, which errors name).
pub fn decode(bytes: &[u8], path: &[u8]) -> Result<Snapshot> {
    let body = unframe(bytes, path)?;
    let mut r = Reader {
        bytes: body,
        at: MAGIC.len() + 2,
        path,
    };
    let root_len = r.length("the root's length")?;
    let root = r.take(root_len, "the root")?.to_vec();
    if !root.starts_with(b"/") || root.contains(&0) {
        return Err(r.corrupt("the root is not an absolute path"));
    }
    let count = r.length("the entry count")?;
    let mut dirs: Vec<Listing> = vec![Listing {
        entries: Vec::with_capacity(0),
    }];
    let mut seen = 0usize;
    let mut previous = Stamp::default();
    // Each frame: a listing's index and how many of its entries are still to read. The previous
    // name of a listing is its last entry (a subdirectory's entries go to its own listing).
    let first = r.length("a listing's count")?;
    let mut stack: Vec<(usize, usize)> = vec![(0, first)];
    while let Some((index, left)) = stack.pop() {
        if left == 0 {
            continue;
        }
        let shared = r.length("a name's shared length")?;
        let tagged = r.varint(10, "a name's length")?;
        let suffix_len = usize::try_from(tagged >> 1)
            .map_err(|_| r.corrupt("a name's length is out of range"))?;
        let is_dir = tagged & 1 == 1;
        let suffix = r.take(suffix_len, "a name")?;
        let last: &[u8] = dirs
            .get(index)
            .and_then(|listing| listing.entries.last())
            .map_or(&[], |entry| &entry.name);
        let Some(kept) = last.get(..shared) else {
            return Err(r.corrupt("a name shares more bytes than the previous name has"));
        };
        let mut name = Vec::with_capacity(shared + suffix.len());
        name.extend_from_slice(kept);
        name.extend_from_slice(suffix);
        if !is_file_name(&name) {
            return Err(r.corrupt("a name is not a valid file name"));
        }
        if !last.is_empty() && name.as_slice() <= last {
            return Err(r.corrupt("the names of a listing are not in increasing order"));
        }
        seen += 1;
        if seen > count {
            return Err(r.corrupt("there are more entries than the count says"));
        }
        stack.push((index, left - 1));
        let node = if is_dir {
            let child = dirs.len();
            let child_count = r.length("a listing's count")?;
            dirs.push(Listing {
                entries: Vec::with_capacity(child_count.min(1024)),
            });
            stack.push((child, child_count));
            Node::Dir(u32::try_from(child).map_err(|_| r.corrupt("too many directories"))?)
        } else {
            previous = read_stamp(&mut r, &previous)?;
            Node::File(previous)
        };
        if let Some(listing) = dirs.get_mut(index) {
            listing.entries.push(Entry {
                name: name.into_boxed_slice(),
                node,
            });
        }
    }
    if seen != count {
        return Err(r.corrupt(&format!(
            "the count says {count} entries, and {seen} were read"
        )));
    }
    if r.at != body.len() {
        return Err(r.corrupt("bytes follow the last listing"));
    }
    Ok(Snapshot { root, dirs })
}
