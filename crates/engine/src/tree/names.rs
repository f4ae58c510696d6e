//! What one watched directory holds, packed into a single allocation: the directory's own name, then
//! one record per name it holds, `[length][name]` for a file, `[0x80][length][flags][name][wd]` for
//! the rest (the wd only for a directory entry or a watched subdirectory). A directory with ten files
//! of nine-byte names costs one allocation of some 110 bytes, where a map of names would cost a table
//! and an allocation per name.
//!
//! A name's record says whether the directory holds the name as an entry (a file or a directory, and
//! whether a scan reported it and the kernel's own `IN_CREATE` may still come), and which watched
//! subdirectory it leads to, if any: the two are kept apart, as a name can be one without the other
//! for a while (a subdirectory watched again before its entry is listed, an entry whose directory
//! could not be watched).
//!
//! Lookups walk the records, which is quick for the directories most trees are made of; a directory
//! that grows past [`INDEXED_AT`] names is given a [`NameIndex`] (kept by the caller), a hash table
//! of record offsets, and its removed records become tombstones, swept when they are half the buffer.
//! Names are never empty (the kernel's are not), so a zero length byte ends the records: the buffer's
//! tail past the last record is zeroed slack for records to come.

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// A name held as an entry of its directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// A directory (or a symlink to one, when links are followed).
    pub is_dir: bool,
    /// Reported by a scan; the kernel's own `IN_CREATE` for it may still be queued.
    pub synthetic_pending: bool,
}

/// Everything known of one name: its entry, and the watched subdirectory it leads to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// The name as an entry of the directory.
    pub entry: Option<Entry>,
    /// The wd of the watched subdirectory under the name.
    pub subdir: Option<i32>,
}

const HAS_ENTRY: u8 = 1;
const IS_DIR: u8 = 2;
const SYNTHETIC: u8 = 4;
const HAS_SUBDIR: u8 = 8;

/// The first byte of a record in full, `[FULL][length][flags][name][wd]`. A plain file's record
/// (an entry that is not a directory, not waiting for its `IN_CREATE`, with a name of at most
/// [`PLAIN_MAX`] bytes) is `[length][name]`.
const FULL: u8 = 0x80;
const PLAIN_MAX: usize = 0x7F;

/// Names at which a directory gets a [`NameIndex`].
pub const INDEXED_AT: usize = 48;

impl Held {
    fn flags(&self) -> u8 {
        let mut flags = 0;
        if let Some(entry) = self.entry {
            flags |= HAS_ENTRY;
            if entry.is_dir {
                flags |= IS_DIR;
            }
            if entry.synthetic_pending {
                flags |= SYNTHETIC;
            }
        }
        if self.subdir.is_some() {
            flags |= HAS_SUBDIR;
        }
        flags
    }

    fn is_empty(&self) -> bool {
        self.entry.is_none() && self.subdir.is_none()
    }
}

/// Whether a record with `flags` carries a wd (room for it is kept for every directory entry, so
/// that watching it does not move the record).
fn has_wd(flags: u8) -> bool {
    flags & (IS_DIR | HAS_SUBDIR) != 0
}

fn is_plain(name_len: usize, flags: u8) -> bool {
    flags == HAS_ENTRY && name_len <= PLAIN_MAX
}

fn header_len(name_len: usize, flags: u8) -> usize {
    if is_plain(name_len, flags) {
        1
    } else {
        3
    }
}

fn record_len(name_len: usize, flags: u8) -> usize {
    header_len(name_len, flags) + name_len + if has_wd(flags) { 4 } else { 0 }
}

/// One record as stored. A removed record of an indexed directory stays as a tombstone: its name's
/// first byte is zero (no name holds a zero byte).
#[derive(Debug, Clone, Copy)]
struct Record<'a> {
    offset: usize,
    flags: u8,
    name: &'a [u8],
    wd: i32,
}

impl Record<'_> {
    fn len(&self) -> usize {
        record_len(self.name.len(), self.flags)
    }

    fn name_at(&self) -> usize {
        self.offset + header_len(self.name.len(), self.flags)
    }

    fn is_dead(&self) -> bool {
        self.name.first() == Some(&0)
    }

    fn held(&self) -> Held {
        Held {
            entry: (self.flags & HAS_ENTRY != 0).then_some(Entry {
                is_dir: self.flags & IS_DIR != 0,
                synthetic_pending: self.flags & SYNTHETIC != 0,
            }),
            subdir: (self.flags & HAS_SUBDIR != 0).then_some(self.wd),
        }
    }
}

/// The record at `offset`, if one starts there (not the end of the records).
fn record_at(bytes: &[u8], offset: usize) -> Option<Record<'_>> {
    let (name_len, flags, header) = match *bytes.get(offset)? {
        0 => return None,
        FULL => (
            usize::from(*bytes.get(offset + 1)?),
            *bytes.get(offset + 2)?,
            3,
        ),
        len if len < FULL => (usize::from(len), HAS_ENTRY, 1),
        _ => return None,
    };
    let name = bytes.get(offset + header..offset + header + name_len)?;
    let wd = if has_wd(flags) {
        let at = offset + header + name_len;
        let raw: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        i32::from_le_bytes(raw)
    } else {
        0
    };
    Some(Record {
        offset,
        flags,
        name,
        wd,
    })
}

/// Where a directory's records start (after its own name).
fn records_start(bytes: &[u8]) -> usize {
    1 + bytes.first().map_or(0, |len| usize::from(*len))
}

/// Every record from `start`, tombstones included, up to the end of the records.
fn records(bytes: &[u8]) -> impl Iterator<Item = Record<'_>> {
    let mut offset = records_start(bytes);
    std::iter::from_fn(move || {
        let record = record_at(bytes, offset)?;
        offset += record.len();
        Some(record)
    })
}

fn live(bytes: &[u8]) -> impl Iterator<Item = Record<'_>> {
    records(bytes).filter(|r| !r.is_dead())
}

/// Offset past the last record.
fn end_of(bytes: &[u8]) -> usize {
    records(bytes)
        .last()
        .map_or(records_start(bytes), |r| r.offset + r.len())
}

/// The record offsets of a large directory, by name, and the bookkeeping of its tombstones.
#[derive(Default)]
pub struct NameIndex {
    table: HashTable<u32>,
    hasher: std::hash::RandomState,
    end: usize,
    dead: usize,
}

impl std::fmt::Debug for NameIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameIndex")
            .field("names", &self.table.len())
            .field("dead", &self.dead)
            .finish()
    }
}

impl NameIndex {
    fn build(bytes: &[u8]) -> Self {
        let mut index = NameIndex::default();
        index.rebuild(bytes);
        index
    }

    fn rebuild(&mut self, bytes: &[u8]) {
        self.table.clear();
        self.dead = 0;
        self.end = records_start(bytes);
        for record in records(bytes) {
            self.end = record.offset + record.len();
            if record.is_dead() {
                self.dead += record.len();
            } else {
                self.add(bytes, record.name, record.offset);
            }
        }
    }

    fn find(&self, bytes: &[u8], name: &[u8]) -> Option<usize> {
        let hash = self.hasher.hash_one(name);
        self.table
            .find(hash, |&at| {
                record_at(bytes, at as usize).is_some_and(|r| r.name == name)
            })
            .map(|&at| at as usize)
    }

    fn add(&mut self, bytes: &[u8], name: &[u8], offset: usize) {
        let hasher = &self.hasher;
        let hash = hasher.hash_one(name);
        let Ok(at) = u32::try_from(offset) else {
            return;
        };
        self.table.insert_unique(hash, at, |&other| {
            record_at(bytes, other as usize).map_or(0, |r| hasher.hash_one(r.name))
        });
    }

    fn remove(&mut self, name: &[u8], offset: usize) {
        let hash = self.hasher.hash_one(name);
        if let Ok(entry) = self.table.find_entry(hash, |&at| at as usize == offset) {
            entry.remove();
        }
    }
}

/// A directory's buffer holding its own name `name` (empty for a root, whose path is kept
/// elsewhere) and no records. A name longer than a byte can say (the kernel's never are) is cut.
pub fn buffer(name: &[u8]) -> Vec<u8> {
    let name = &name[..name.len().min(255)];
    let mut bytes = Vec::with_capacity(1 + name.len());
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes
}

/// The directory's own name.
pub fn own_name(bytes: &[u8]) -> &[u8] {
    bytes.get(1..records_start(bytes)).unwrap_or_default()
}

/// What is known of `name`.
pub fn get(bytes: &[u8], index: Option<&NameIndex>, name: &[u8]) -> Held {
    find(bytes, index, name)
        .and_then(|at| record_at(bytes, at))
        .map(|r| r.held())
        .unwrap_or_default()
}

fn find(bytes: &[u8], index: Option<&NameIndex>, name: &[u8]) -> Option<usize> {
    match index {
        Some(index) => index.find(bytes, name),
        None => live(bytes).find(|r| r.name == name).map(|r| r.offset),
    }
}

/// Every name held, with what is known of it (in no particular order).
pub fn iter(bytes: &[u8]) -> impl Iterator<Item = (&[u8], Held)> {
    live(bytes).map(|r| (r.name, r.held()))
}

/// The bytes in use: the own name and the records (tombstones included).
pub fn used(bytes: &[u8], index: Option<&NameIndex>) -> usize {
    index.map_or_else(|| end_of(bytes), |index| index.end)
}

/// The bytes a record of `name` takes (`is_dir`: as a directory entry, with room for its wd).
pub fn record_size(name: &[u8], is_dir: bool) -> usize {
    record_len(name.len(), HAS_ENTRY | if is_dir { IS_DIR } else { 0 })
}

/// The same records under another own name (the index, if any, is to be built again).
pub fn renamed(bytes: &[u8], index: Option<&NameIndex>, name: &[u8]) -> Vec<u8> {
    let mut renamed = buffer(name);
    let records = bytes.get(records_start(bytes)..used(bytes, index));
    renamed.extend_from_slice(records.unwrap_or_default());
    renamed
}

/// What [`set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Set {
    /// What was known of the name before.
    pub old: Held,
    /// The directory holds enough names to want an index, and has none.
    pub wants_index: bool,
}

/// A change [`set`] had no room for: nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Short {
    /// The bytes the buffer must first grow to.
    pub size: usize,
    /// What the change made of the name (to set once there is room).
    pub new: Held,
}

/// Sets what is known of `name` to what `change` makes of it (nothing known: the name is
/// forgotten). `index` is the directory's index, if it has one.
pub fn set(
    bytes: &mut [u8],
    mut index: Option<&mut NameIndex>,
    name: &[u8],
    change: impl FnOnce(Held) -> Held,
) -> Result<Set, Short> {
    let unchanged = |old| Set {
        old,
        wants_index: false,
    };
    // No name is empty, longer than 255 bytes or holds a zero byte (the kernel's never do).
    if name.is_empty() || name.len() > 255 || name.first() == Some(&0) {
        return Ok(unchanged(Held::default()));
    }
    let found = find(bytes, index.as_deref(), name).and_then(|at| record_at(bytes, at));
    let old = found.map(|r| r.held()).unwrap_or_default();
    let new = change(old);
    if new == old {
        return Ok(unchanged(old));
    }
    let flags = new.flags();
    let len = record_len(name.len(), flags);
    if let Some((at, old_len)) = found.map(|r| (r.offset, r.len())) {
        if !new.is_empty() && len == old_len {
            write(bytes, at, name, flags, new.subdir);
            return Ok(unchanged(old));
        }
    }
    if !new.is_empty() {
        let end = used(bytes, index.as_deref());
        if end + len > bytes.len() {
            return Err(Short {
                size: end + len,
                new,
            });
        }
    }
    if let Some(at) = found.map(|r| r.offset) {
        remove_at(bytes, index.as_deref_mut(), at, name);
    }
    if new.is_empty() {
        return Ok(unchanged(old));
    }
    let wants_index = append(bytes, index, name, flags, new.subdir);
    Ok(Set { old, wants_index })
}

/// Writes a record of `name` at `at` (where one of the same length is, or room for it).
fn write(bytes: &mut [u8], at: usize, name: &[u8], flags: u8, subdir: Option<i32>) {
    let len = record_len(name.len(), flags);
    let Some(slot) = bytes.get_mut(at..at + len) else {
        return;
    };
    let header = header_len(name.len(), flags);
    if header == 1 {
        slot[0] = name.len() as u8;
    } else {
        slot[..3].copy_from_slice(&[FULL, name.len() as u8, flags]);
    }
    slot[header..header + name.len()].copy_from_slice(name);
    if has_wd(flags) {
        slot[header + name.len()..].copy_from_slice(&subdir.unwrap_or(0).to_le_bytes());
    }
}

fn remove_at(bytes: &mut [u8], index: Option<&mut NameIndex>, at: usize, name: &[u8]) {
    let Some((len, name_at)) = record_at(bytes, at).map(|r| (r.len(), r.name_at())) else {
        return;
    };
    match index {
        Some(index) => {
            index.remove(name, at);
            if let Some(first) = bytes.get_mut(name_at) {
                *first = 0;
            }
            index.dead += len;
            if index.dead * 2 > index.end {
                sweep(bytes);
                index.rebuild(bytes);
            }
        }
        None => {
            let end = end_of(bytes);
            bytes.copy_within(at + len..end, at);
            bytes[end - len..end].fill(0);
        }
    }
}

/// Drops the tombstones.
fn sweep(bytes: &mut [u8]) {
    let kept: Vec<u8> = records(bytes)
        .filter(|r| !r.is_dead())
        .flat_map(|r| bytes[r.offset..r.offset + r.len()].iter().copied())
        .collect();
    let start = records_start(bytes);
    bytes[start..start + kept.len()].copy_from_slice(&kept);
    bytes[start + kept.len()..].fill(0);
}

/// Appends a record where there is room for it; true when the directory now holds enough names to
/// want an index and has none.
fn append(
    bytes: &mut [u8],
    index: Option<&mut NameIndex>,
    name: &[u8],
    flags: u8,
    subdir: Option<i32>,
) -> bool {
    let end = used(bytes, index.as_deref());
    write(bytes, end, name, flags, subdir);
    match index {
        Some(index) => {
            index.add(bytes, name, end);
            index.end = end + record_len(name.len(), flags);
            false
        }
        None => live(bytes).count() >= INDEXED_AT,
    }
}

/// An index of a directory's names (for [`set`] once it says it wants one).
pub fn index(bytes: &[u8]) -> NameIndex {
    NameIndex::build(bytes)
}

/// Anything known of a name, with a subdirectory's wd from `wds` (for property tests).
#[cfg(test)]
pub fn any_held(wds: std::ops::Range<i32>) -> impl proptest::strategy::Strategy<Value = Held> {
    use proptest::prelude::*;
    (
        proptest::option::of((any::<bool>(), any::<bool>())),
        proptest::option::of(wds),
    )
        .prop_map(|(entry, subdir)| Held {
            entry: entry.map(|(is_dir, synthetic_pending)| Entry {
                is_dir,
                synthetic_pending,
            }),
            subdir,
        })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    const FILE: Entry = Entry {
        is_dir: false,
        synthetic_pending: false,
    };
    const DIR: Entry = Entry {
        is_dir: true,
        synthetic_pending: false,
    };

    /// A directory's buffer with the index [`set`] asks for, grown as it asks, as
    /// [`crate::tree::dirs`] keeps them.
    struct Indexed {
        bytes: Vec<u8>,
        index: Option<NameIndex>,
    }

    impl Indexed {
        fn new(name: &[u8]) -> Self {
            Indexed {
                bytes: buffer(name),
                index: None,
            }
        }

        fn update(&mut self, name: &[u8], change: impl FnOnce(Held) -> Held) -> Held {
            let mut before = self.bytes.clone();
            let mut attempt = set(&mut self.bytes, self.index.as_mut(), name, change);
            loop {
                match attempt {
                    Ok(done) => {
                        if done.wants_index {
                            self.index = Some(index(&self.bytes));
                        }
                        return done.old;
                    }
                    Err(short) => {
                        assert_eq!(self.bytes, before, "nothing changes when room is short");
                        assert!(short.size > self.bytes.len());
                        self.bytes.resize(short.size, 0);
                        before = self.bytes.clone();
                        attempt = set(&mut self.bytes, self.index.as_mut(), name, |_| short.new);
                    }
                }
            }
        }

        fn get(&self, name: &[u8]) -> Held {
            get(&self.bytes, self.index.as_ref(), name)
        }

        fn all(&self) -> HashMap<Vec<u8>, Held> {
            iter(&self.bytes)
                .map(|(name, held)| (name.to_vec(), held))
                .collect()
        }
    }

    #[test]
    fn holds_entries_and_subdirectories_apart_and_forgets_a_name_known_as_neither() {
        let mut d = Indexed::new(b"src");
        assert_eq!(own_name(&d.bytes), b"src");
        d.update(b"main.rs", |h| Held {
            entry: Some(FILE),
            ..h
        });
        d.update(b"lib", |h| Held {
            entry: Some(DIR),
            ..h
        });
        let before = d.bytes.len();
        d.update(b"lib", |h| Held {
            subdir: Some(7),
            ..h
        });
        assert_eq!(
            d.bytes.len(),
            before,
            "a directory entry has room for its wd"
        );
        assert_eq!(
            d.get(b"lib"),
            Held {
                entry: Some(DIR),
                subdir: Some(7)
            }
        );
        let old = d.update(b"lib", |h| Held { entry: None, ..h });
        assert_eq!(old.entry, Some(DIR));
        assert_eq!(
            d.get(b"lib"),
            Held {
                entry: None,
                subdir: Some(7)
            }
        );
        d.update(b"lib", |h| Held { subdir: None, ..h });
        assert_eq!(d.get(b"lib"), Held::default());
        assert_eq!(d.all().len(), 1);
        assert_eq!(d.get(b"main.rs").entry, Some(FILE));
        assert_eq!(
            own_name(&d.bytes),
            b"src",
            "records never touch the own name"
        );
        assert_eq!(
            used(&d.bytes, None),
            1 + 3 + record_size(b"main.rs", false),
            "a plain file's record is its length and its name"
        );
    }

    #[test]
    fn a_large_directory_is_indexed_and_its_tombstones_swept() {
        let mut d = Indexed::new(b"");
        let name = |i: usize| format!("file{i}.txt").into_bytes();
        for i in 0..INDEXED_AT * 4 {
            d.update(&name(i), |h| Held {
                entry: Some(FILE),
                ..h
            });
        }
        assert!(d.index.is_some(), "indexed past {INDEXED_AT} names");
        for i in (0..INDEXED_AT * 4).filter(|i| !i.is_multiple_of(3)) {
            assert_eq!(d.update(&name(i), |_| Held::default()).entry, Some(FILE));
        }
        let index = d
            .index
            .as_ref()
            .map(|index| (index.table.len(), index.dead));
        assert_eq!(index.map(|(names, _)| names), Some(INDEXED_AT * 4 / 3));
        assert!(
            index.is_some_and(|(_, dead)| dead * 2 <= d.bytes.len()),
            "tombstones are swept once they are half the buffer"
        );
        for i in 0..INDEXED_AT * 4 {
            let expected = i.is_multiple_of(3).then_some(FILE);
            assert_eq!(d.get(&name(i)).entry, expected, "{i}");
        }
    }

    #[test]
    fn renamed_keeps_the_records_under_a_new_own_name() {
        let mut d = Indexed::new(b"old");
        d.update(b"f", |_| Held {
            entry: Some(FILE),
            subdir: None,
        });
        d.update(b"g", |_| Held {
            entry: Some(DIR),
            subdir: Some(3),
        });
        let renamed = renamed(&d.bytes, None, b"a-longer-name");
        assert_eq!(own_name(&renamed), b"a-longer-name");
        let all: HashMap<Vec<u8>, Held> = iter(&renamed)
            .map(|(name, held)| (name.to_vec(), held))
            .collect();
        assert_eq!(all, d.all());
    }

    #[derive(Debug, Clone)]
    enum Step {
        Set(usize, Held),
        Clear(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (0usize..160, any_held(-3..1000)).prop_map(|(n, h)| Step::Set(n, h)),
            2 => (0usize..160).prop_map(Step::Clear),
        ]
    }

    /// Names of one to 255 bytes, some sharing prefixes.
    fn name_of(n: usize) -> Vec<u8> {
        let mut name = format!("n{n}").into_bytes();
        if n.is_multiple_of(7) {
            name.resize(255, b'x');
        }
        name
    }

    /// The properties (the stress suite runs every test named `props`, with many more cases).
    mod props {
        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: crate::props_cases(256),
                ..ProptestConfig::default()
            })]

            /// Whatever is set and cleared, in a small directory or one indexed and swept, the names
            /// hold what a map of names would.
            #[test]
            fn names_hold_what_a_map_would(steps in proptest::collection::vec(step(), 0..600)) {
                let mut d = Indexed::new(b"own");
                let mut model: HashMap<Vec<u8>, Held> = HashMap::new();
                for step in &steps {
                    let (name, new) = match step {
                        Step::Set(n, h) => (name_of(*n), *h),
                        Step::Clear(n) => (name_of(*n), Held::default()),
                    };
                    let old = d.update(&name, |_| new);
                    let was = model.get(&name).copied().unwrap_or_default();
                    prop_assert_eq!(old, was);
                    if new == Held::default() {
                        model.remove(&name);
                    } else {
                        model.insert(name.clone(), new);
                    }
                    prop_assert_eq!(d.get(&name), new);
                }
                prop_assert_eq!(d.all(), model.clone());
                for (name, held) in &model {
                    prop_assert_eq!(d.get(name), *held);
                }
                prop_assert_eq!(own_name(&d.bytes), b"own");
            }
        }
    }
}
