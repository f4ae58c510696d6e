//! A taken set of changes as one byte buffer: what crosses to the tooling API (`watch()`), one
//! buffer per take. Every integer is little-endian:
//!
//! ```text
//! header   u32 change_count
//! changes  change_count × { u8 kind, u8 flags, u32 path_len, path, u32 old_len, old_path }
//! ```
//!
//! `kind` is a [`ChangeKind`]'s code (its place in [`ChangeKind::ALL`]); `flags` holds
//! [`CHANGE_IS_DIR`] and [`CHANGE_SYNTHETIC`]; `old_len` is [`NO_OLD_PATH`] when there is no old
//! path (anything but a rename). An overflow's path is empty: it concerns the whole instance.
//!
//! The constants below are the format's only definition: `src/format-constants.ts` is generated
//! from them, and `__test__/fixtures/golden/` holds sets this encoder wrote, which the TypeScript
//! reader (`src/changes.ts`) is tested on (`crates/engine/tests/formats.rs` keeps both fresh).

/// Bytes of the header (the change count).
pub const HEADER_LEN: usize = 4;
/// In a change: the kind's code (a u8).
pub const KIND_AT: usize = 0;
/// In a change: the flags (a u8).
pub const FLAGS_AT: usize = 1;
/// In a change: the path's length (a u32).
pub const PATH_LEN_AT: usize = 2;
/// In a change: the path's bytes; the old path's length (a u32) and bytes follow them.
pub const PATH_AT: usize = 6;
/// Change flag: the path is a directory.
pub const CHANGE_IS_DIR: u8 = 1;
/// Change flag: found by a scan (a new directory's content, or a re-scan after an overflow).
pub const CHANGE_SYNTHETIC: u8 = 2;
/// `old_len` of a change without an old path.
pub const NO_OLD_PATH: u32 = u32::MAX;

/// What happened to a path. Its discriminant is its code in the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ChangeKind {
    /// It appears (created, or moved in from outside the tree).
    Create = 0,
    /// Its content or metadata changed (or it was replaced).
    Modify = 1,
    /// It is gone (deleted, or moved out of the tree).
    Delete = 2,
    /// It moved from `old_path`, inside the tree.
    Rename = 3,
    /// The kernel dropped events: a re-scan's synthetic changes follow.
    Overflow = 4,
}

impl ChangeKind {
    /// Every kind, in the order of their codes.
    pub const ALL: [ChangeKind; 5] = [
        ChangeKind::Create,
        ChangeKind::Modify,
        ChangeKind::Delete,
        ChangeKind::Rename,
        ChangeKind::Overflow,
    ];

    /// The kind of a code, if it is one.
    pub fn from_code(code: u8) -> Option<ChangeKind> {
        ChangeKind::ALL.get(usize::from(code)).copied()
    }

    /// Its name in the JavaScript API (a change's `type`).
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Modify => "modify",
            ChangeKind::Delete => "delete",
            ChangeKind::Rename => "rename",
            ChangeKind::Overflow => "overflow",
        }
    }
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What happened.
    pub kind: ChangeKind,
    /// The path (empty for an overflow).
    pub path: Vec<u8>,
    /// Where a rename came from.
    pub old_path: Option<Vec<u8>>,
    /// A directory.
    pub is_dir: bool,
    /// Found by a scan, not reported by the kernel.
    pub synthetic: bool,
}

/// Builds one encoded set, change after change.
#[derive(Debug)]
pub struct ChangesEncoder {
    bytes: Vec<u8>,
    count: u32,
}

impl ChangesEncoder {
    /// An empty set, with room for about `capacity` bytes of changes.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut bytes = Vec::with_capacity(HEADER_LEN + capacity);
        bytes.resize(HEADER_LEN, 0);
        Self { bytes, count: 0 }
    }

    /// Appends one change.
    pub fn push(&mut self, change: &Change) {
        let mut flags = 0;
        if change.is_dir {
            flags |= CHANGE_IS_DIR;
        }
        if change.synthetic {
            flags |= CHANGE_SYNTHETIC;
        }
        let mut head = [0u8; PATH_AT];
        head[KIND_AT] = change.kind as u8;
        head[FLAGS_AT] = flags;
        head[PATH_LEN_AT..PATH_AT].copy_from_slice(&(change.path.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(&head);
        self.bytes.extend_from_slice(&change.path);
        match &change.old_path {
            Some(old) => {
                self.bytes
                    .extend_from_slice(&(old.len() as u32).to_le_bytes());
                self.bytes.extend_from_slice(old);
            }
            None => self.bytes.extend_from_slice(&NO_OLD_PATH.to_le_bytes()),
        }
        self.count += 1;
    }

    /// The encoded set.
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes[..HEADER_LEN].copy_from_slice(&self.count.to_le_bytes());
        self.bytes
    }
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([field[0], field[1], field[2], field[3]]))
}

/// `len` bytes of `bytes` at `at`, and where they end.
fn bytes_at(bytes: &[u8], at: usize, len: u32) -> Option<(Vec<u8>, usize)> {
    let end = at.checked_add(len as usize)?;
    Some((bytes.get(at..end)?.to_vec(), end))
}

/// Reads an encoded set back (for tests and Rust consumers); `None` if the bytes are not one.
pub fn decode(bytes: &[u8]) -> Option<Vec<Change>> {
    let count = u32_at(bytes, 0)? as usize;
    let mut changes = Vec::with_capacity(count.min(65536));
    let mut at = HEADER_LEN;
    for _ in 0..count {
        let kind = ChangeKind::from_code(*bytes.get(at + KIND_AT)?)?;
        let flags = *bytes.get(at + FLAGS_AT)?;
        let path_len = u32_at(bytes, at + PATH_LEN_AT)?;
        let (path, end) = bytes_at(bytes, at + PATH_AT, path_len)?;
        let old_len = u32_at(bytes, end)?;
        at = end + 4;
        let old_path = if old_len == NO_OLD_PATH {
            None
        } else {
            let (old, end) = bytes_at(bytes, at, old_len)?;
            at = end;
            Some(old)
        };
        changes.push(Change {
            kind,
            path,
            old_path,
            is_dir: flags & CHANGE_IS_DIR != 0,
            synthetic: flags & CHANGE_SYNTHETIC != 0,
        });
    }
    (at == bytes.len()).then_some(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/r/a` renamed to `/r/b`.
    fn rename() -> Change {
        Change {
            kind: ChangeKind::Rename,
            path: b"/r/b".to_vec(),
            old_path: Some(b"/r/a".to_vec()),
            is_dir: false,
            synthetic: false,
        }
    }

    #[test]
    fn codes_are_the_places_of_the_kinds() {
        for (code, kind) in ChangeKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, code);
            assert_eq!(ChangeKind::from_code(code as u8), Some(*kind));
        }
        assert_eq!(ChangeKind::from_code(ChangeKind::ALL.len() as u8), None);
    }

    #[test]
    fn lays_out_changes_as_documented() {
        let mut encoder = ChangesEncoder::with_capacity(0);
        encoder.push(&Change {
            kind: ChangeKind::Create,
            path: b"/r/d".to_vec(),
            old_path: None,
            is_dir: true,
            synthetic: false,
        });
        encoder.push(&rename());
        let bytes = encoder.finish();
        assert_eq!(&bytes[0..4], &2u32.to_le_bytes());
        assert_eq!(bytes[4 + KIND_AT], ChangeKind::Create as u8);
        assert_eq!(bytes[4 + FLAGS_AT], CHANGE_IS_DIR);
        assert_eq!(&bytes[6..10], &4u32.to_le_bytes());
        assert_eq!(&bytes[10..14], b"/r/d");
        assert_eq!(&bytes[14..18], &NO_OLD_PATH.to_le_bytes());
        assert_eq!(bytes[18], ChangeKind::Rename as u8);
        assert_eq!(
            &bytes[bytes.len() - 8..bytes.len() - 4],
            &4u32.to_le_bytes()
        );
        assert_eq!(&bytes[bytes.len() - 4..], b"/r/a");
        assert_eq!(decode(&bytes).map(|c| c.len()), Some(2));
    }

    #[test]
    fn refuses_unknown_kinds_truncations_and_trailing_bytes() {
        let mut encoder = ChangesEncoder::with_capacity(0);
        encoder.push(&rename());
        let bytes = encoder.finish();
        for cut in 1..bytes.len() {
            assert_eq!(decode(&bytes[..bytes.len() - cut]), None, "cut {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), None);
        let mut unknown = bytes.clone();
        unknown[HEADER_LEN + KIND_AT] = 5;
        assert_eq!(decode(&unknown), None);
        let mut huge = bytes;
        huge[HEADER_LEN + PATH_LEN_AT..HEADER_LEN + PATH_AT]
            .copy_from_slice(&(u32::MAX - 1).to_le_bytes());
        assert_eq!(decode(&huge), None);
    }
}
