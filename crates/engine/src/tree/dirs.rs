//! The watched directories of a tree, by wd: each with its parent's wd and its names (its own name
//! and what it holds, [`crate::tree::names`]). Paths are not stored: a directory's path is built
//! from the names up to its root when an event needs one, so a rename re-paths a whole subtree by
//! changing one name.
//!
//! The directories sit in one vector, found by wd through a hash table of their positions, and
//! their names in one [`Arena`]: some 25 bytes a directory besides its names.

use std::collections::HashMap;

use hashbrown::HashTable;

use super::arena::{Arena, Region};
use super::names::{self, Entry, Held, NameIndex};
use crate::paths::{is_below, join};

/// The parent of a root: a wd the kernel never gives (its overflow event's).
const NO_PARENT: i32 = -1;

#[derive(Debug)]
struct Dir {
    wd: i32,
    parent: i32,
    names: Region,
}

fn hash(wd: i32) -> u64 {
    u64::from(wd as u32).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The watched directories of a tree.
#[derive(Debug, Default)]
pub struct Dirs {
    slots: Vec<Dir>,
    by_wd: HashTable<u32>,
    /// The indexes of the directories that hold many names.
    indexes: HashMap<i32, NameIndex>,
    /// Each root's path (trimmed), by its wd.
    root_paths: HashMap<i32, Vec<u8>>,
    /// The directories' names.
    arena: Arena,
}

impl Dirs {
    fn slot(&self, wd: i32) -> Option<usize> {
        let slots = &self.slots;
        self.by_wd
            .find(hash(wd), |&at| {
                slots.get(at as usize).is_some_and(|d| d.wd == wd)
            })
            .map(|&at| at as usize)
    }

    fn dir(&self, wd: i32) -> Option<&Dir> {
        self.slot(wd).and_then(|at| self.slots.get(at))
    }

    /// The buffer of a directory's names.
    fn bytes(&self, dir: &Dir) -> &[u8] {
        self.arena.get(dir.names)
    }

    /// Makes `slot`'s buffer `len` bytes long; false when the arena is full.
    fn resize_names(&mut self, slot: usize, len: usize) -> bool {
        let Some(dir) = self.slots.get_mut(slot) else {
            return false;
        };
        match self.arena.resize(dir.names, len) {
            Some(region) => {
                dir.names = region;
                true
            }
            None => false,
        }
    }

    /// Squeezes the garbage out of the arena once there is enough of it.
    fn tidy(&mut self) {
        if self.arena.wants_squeeze() {
            self.arena
                .squeeze(self.slots.iter_mut().map(|dir| &mut dir.names));
        }
    }

    /// How many directories are watched.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether `wd` is one of the tree's.
    pub fn contains(&self, wd: i32) -> bool {
        self.slot(wd).is_some()
    }

    /// Every wd held, in no particular order.
    pub fn wds(&self) -> impl Iterator<Item = i32> + '_ {
        self.slots.iter().map(|d| d.wd)
    }

    /// Files `wd` as a root at `path`, holding nothing yet.
    pub fn insert_root(&mut self, wd: i32, path: &[u8]) {
        self.insert_dir(wd, NO_PARENT, b"");
        self.root_paths.insert(wd, path.to_vec());
    }

    /// Files `wd` as the subdirectory `name` of `parent`, holding nothing yet (the parent's record
    /// of the name is the caller's).
    pub fn insert(&mut self, wd: i32, parent: i32, name: &[u8]) {
        self.insert_dir(wd, parent, name);
    }

    fn insert_dir(&mut self, wd: i32, parent: i32, name: &[u8]) {
        self.remove(wd);
        let Ok(at) = u32::try_from(self.slots.len()) else {
            return;
        };
        let Some(names) = self.arena.alloc(&names::buffer(name)) else {
            return;
        };
        self.slots.push(Dir { wd, parent, names });
        let slots = &self.slots;
        self.by_wd.insert_unique(hash(wd), at, |&other| {
            slots.get(other as usize).map_or(0, |d| hash(d.wd))
        });
    }

    /// Forgets `wd` (not what lies below it); true when it was held.
    pub fn remove(&mut self, wd: i32) -> bool {
        let Some(at) = self.slot(wd) else {
            return false;
        };
        let Ok(entry) = self
            .by_wd
            .find_entry(hash(wd), |&other| other as usize == at)
        else {
            return false;
        };
        entry.remove();
        let gone = self.slots.swap_remove(at);
        self.arena.free(gone.names);
        self.tidy();
        // The last directory moved into the hole: its position changes.
        if let Some(moved) = self.slots.get(at).map(|d| d.wd) {
            let last = self.slots.len();
            if let Some(position) = self
                .by_wd
                .find_mut(hash(moved), |&other| other as usize == last)
            {
                *position = at as u32;
            }
        }
        self.indexes.remove(&wd);
        self.root_paths.remove(&wd);
        true
    }

    /// Forgets every directory.
    pub fn clear(&mut self) {
        self.slots.clear();
        self.by_wd.clear();
        self.indexes.clear();
        self.root_paths.clear();
        self.arena.clear();
    }

    /// The parent of `wd` (none for a root, or a wd not held).
    pub fn parent(&self, wd: i32) -> Option<i32> {
        self.dir(wd)
            .map(|d| d.parent)
            .filter(|parent| *parent != NO_PARENT)
    }

    /// Whether `wd` is held as a root.
    pub fn is_root(&self, wd: i32) -> bool {
        self.dir(wd).is_some_and(|d| d.parent == NO_PARENT)
    }

    /// The name `wd` has in its parent (empty for a root).
    pub fn name(&self, wd: i32) -> Option<&[u8]> {
        self.dir(wd).map(|d| names::own_name(self.bytes(d)))
    }

    /// The path events of `wd` report under: its root's path and the names below it.
    pub fn path(&self, wd: i32) -> Option<Vec<u8>> {
        let mut path = Vec::new();
        self.path_into(wd, &mut path).then_some(path)
    }

    /// [`Dirs::path`] into `path` (cleared first); false when `wd` is not held.
    pub fn path_into(&self, wd: i32, path: &mut Vec<u8>) -> bool {
        path.clear();
        let mut chain: Vec<&[u8]> = Vec::new();
        let mut current = wd;
        // Bounded: the parent links never loop, and a bug must not hang the reader.
        for _ in 0..=self.slots.len() {
            let Some(dir) = self.dir(current) else {
                return false;
            };
            if dir.parent == NO_PARENT {
                let Some(root) = self.root_paths.get(&current) else {
                    return false;
                };
                path.extend_from_slice(root);
                for name in chain.iter().rev() {
                    if !path.ends_with(b"/") {
                        path.push(b'/');
                    }
                    path.extend_from_slice(name);
                }
                return true;
            }
            chain.push(names::own_name(self.bytes(dir)));
            current = dir.parent;
        }
        false
    }

    /// A root's path.
    pub fn root_path(&self, wd: i32) -> Option<&[u8]> {
        self.root_paths.get(&wd).map(Vec::as_slice)
    }

    /// The wd watched at `path`, found from the roots name by name.
    pub fn wd_at(&self, path: &[u8]) -> Option<i32> {
        self.root_paths.iter().find_map(|(&root, root_path)| {
            if path == root_path.as_slice() {
                return Some(root);
            }
            if !is_below(path, root_path) {
                return None;
            }
            let rest = path.get(root_path.len()..)?;
            let rest = rest.strip_prefix(b"/").unwrap_or(rest);
            rest.split(|b| *b == b'/')
                .try_fold(root, |wd, name| self.subdir(wd, name))
        })
    }

    /// The path of `name` in `wd`.
    pub fn path_of_name(&self, wd: i32, name: &[u8]) -> Option<Vec<u8>> {
        self.path(wd).map(|path| join(&path, name))
    }

    /// A root's path changed (it was renamed): every path below it changes with it.
    pub fn set_root_path(&mut self, wd: i32, path: &[u8]) {
        if let Some(root) = self.root_paths.get_mut(&wd) {
            root.clear();
            root.extend_from_slice(path);
        }
    }

    /// `wd` is now the subdirectory `name` of `parent` (the records of the name in the old and the
    /// new parent are the caller's).
    pub fn reparent(&mut self, wd: i32, parent: i32, name: &[u8]) {
        let Some(at) = self.slot(wd) else {
            return;
        };
        let Some(dir) = self.slots.get(at) else {
            return;
        };
        let bytes = self.arena.get(dir.names);
        let renamed = (names::own_name(bytes) != name)
            .then(|| names::renamed(bytes, self.indexes.get(&wd), name));
        if let Some(dir) = self.slots.get_mut(at) {
            dir.parent = parent;
        }
        let Some(renamed) = renamed else {
            return;
        };
        if !self.resize_names(at, renamed.len()) {
            return;
        }
        if let Some(dir) = self.slots.get(at) {
            let bytes = self.arena.get_mut(dir.names);
            bytes.copy_from_slice(&renamed);
            if let Some(index) = self.indexes.get_mut(&wd) {
                *index = names::index(bytes);
            }
        }
        self.tidy();
    }

    /// What `wd` knows of `name`.
    pub fn held(&self, wd: i32, name: &[u8]) -> Held {
        self.dir(wd)
            .map(|d| names::get(self.bytes(d), self.indexes.get(&wd), name))
            .unwrap_or_default()
    }

    /// Sets what `wd` knows of `name` to what `change` makes of it; returns what it knew before
    /// (nothing when `wd` is not held). The directory's buffer grows by half when it is full.
    pub fn update(&mut self, wd: i32, name: &[u8], change: impl FnOnce(Held) -> Held) -> Held {
        let Some(at) = self.slot(wd) else {
            return Held::default();
        };
        let Some(region) = self.slots.get(at).map(|dir| dir.names) else {
            return Held::default();
        };
        let bytes = self.arena.get_mut(region);
        let mut attempt = names::set(bytes, self.indexes.get_mut(&wd), name, change);
        loop {
            match attempt {
                Ok(done) => {
                    if done.wants_index {
                        if let Some(region) = self.slots.get(at).map(|dir| dir.names) {
                            let index = names::index(self.arena.get(region));
                            self.indexes.insert(wd, index);
                        }
                    }
                    return done.old;
                }
                Err(short) => {
                    let Some(size) = self.slots.get(at).map(|dir| dir.names.size()) else {
                        return Held::default();
                    };
                    if !self.resize_names(at, short.size.max(size + size / 2)) {
                        return Held::default();
                    }
                    self.tidy();
                    let Some(region) = self.slots.get(at).map(|dir| dir.names) else {
                        return Held::default();
                    };
                    let bytes = self.arena.get_mut(region);
                    attempt = names::set(bytes, self.indexes.get_mut(&wd), name, |_| short.new);
                }
            }
        }
    }

    /// Every name `wd` holds, with what is known of it.
    pub fn names(&self, wd: i32) -> impl Iterator<Item = (&[u8], Held)> {
        self.dir(wd)
            .into_iter()
            .flat_map(|d| names::iter(self.bytes(d)))
    }

    /// Makes room for `bytes` more bytes of records in `wd` (see [`names::record_size`]).
    pub fn reserve(&mut self, wd: i32, bytes: usize) {
        let Some(at) = self.slot(wd) else {
            return;
        };
        let Some(dir) = self.slots.get(at) else {
            return;
        };
        let used = names::used(self.bytes(dir), self.indexes.get(&wd));
        if used + bytes > dir.names.size() {
            self.resize_names(at, used + bytes);
            self.tidy();
        }
    }

    /// Gives back the room `wd`'s names do not use (after a listing filled it).
    pub fn fit(&mut self, wd: i32) {
        let Some(at) = self.slot(wd) else {
            return;
        };
        let Some(dir) = self.slots.get(at) else {
            return;
        };
        let used = names::used(self.bytes(dir), self.indexes.get(&wd));
        if used < dir.names.size() {
            self.resize_names(at, used);
        }
    }

    /// `name` as an entry of `wd`.
    pub fn entry(&self, wd: i32, name: &[u8]) -> Option<Entry> {
        self.held(wd, name).entry
    }

    /// The watched subdirectory `name` of `wd`.
    pub fn subdir(&self, wd: i32, name: &[u8]) -> Option<i32> {
        self.held(wd, name).subdir
    }

    /// Records `name` as an entry of `wd` (in place of what it was).
    pub fn set_entry(&mut self, wd: i32, name: &[u8], entry: Entry) {
        self.update(wd, name, |held| Held {
            entry: Some(entry),
            ..held
        });
    }

    /// Records `name` as an entry of `wd` unless it is one already.
    pub fn add_entry(&mut self, wd: i32, name: &[u8], entry: Entry) {
        self.update(wd, name, |held| Held {
            entry: held.entry.or(Some(entry)),
            ..held
        });
    }

    /// `name` is no longer an entry of `wd`; returns what it was.
    pub fn remove_entry(&mut self, wd: i32, name: &[u8]) -> Option<Entry> {
        self.update(wd, name, |held| Held {
            entry: None,
            ..held
        })
        .entry
    }

    /// `name` in `wd` leads to the watched subdirectory `child`.
    pub fn set_subdir(&mut self, wd: i32, name: &[u8], child: i32) {
        self.update(wd, name, |held| Held {
            subdir: Some(child),
            ..held
        });
    }

    /// `name` in `wd` no longer leads to a watched subdirectory; returns the one it led to.
    pub fn remove_subdir(&mut self, wd: i32, name: &[u8]) -> Option<i32> {
        self.update(wd, name, |held| Held {
            subdir: None,
            ..held
        })
        .subdir
    }

    /// The entries of `wd`.
    pub fn entries(&self, wd: i32) -> impl Iterator<Item = (&[u8], Entry)> {
        self.names(wd)
            .filter_map(|(name, held)| held.entry.map(|entry| (name, entry)))
    }

    /// The watched subdirectories of `wd`, with their names.
    pub fn subdirs(&self, wd: i32) -> impl Iterator<Item = (&[u8], i32)> {
        self.names(wd)
            .filter_map(|(name, held)| held.subdir.map(|child| (name, child)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: Entry = Entry {
        is_dir: false,
        synthetic_pending: false,
    };

    /// `/w` (wd 1) with `a` (2) below it and `a/b` (3) below that.
    fn three() -> Dirs {
        let mut dirs = Dirs::default();
        dirs.insert_root(1, b"/w");
        dirs.insert(2, 1, b"a");
        dirs.set_subdir(1, b"a", 2);
        dirs.insert(3, 2, b"b");
        dirs.set_subdir(2, b"b", 3);
        dirs
    }

    #[test]
    fn paths_are_built_from_the_names_up_to_the_root() {
        let mut dirs = three();
        assert_eq!(dirs.path(3), Some(b"/w/a/b".to_vec()));
        assert_eq!(dirs.path_of_name(3, b"f"), Some(b"/w/a/b/f".to_vec()));
        assert_eq!(dirs.wd_at(b"/w/a/b"), Some(3));
        assert_eq!(dirs.wd_at(b"/w"), Some(1));
        assert_eq!(dirs.wd_at(b"/w/a/c"), None);
        assert_eq!(dirs.wd_at(b"/wa"), None);
        // Renaming `a` re-paths everything below it.
        dirs.remove_subdir(1, b"a");
        dirs.set_subdir(1, b"z", 2);
        dirs.reparent(2, 1, b"z");
        assert_eq!(dirs.path(3), Some(b"/w/z/b".to_vec()));
        assert_eq!(dirs.subdir(2, b"b"), Some(3), "what `a` held goes with it");
        dirs.set_root_path(1, b"/");
        assert_eq!(dirs.path(3), Some(b"/z/b".to_vec()));
        assert_eq!(dirs.wd_at(b"/z/b"), Some(3));
    }

    #[test]
    fn removing_a_directory_keeps_the_others_found() {
        let mut dirs = three();
        dirs.set_entry(3, b"f", FILE);
        assert!(dirs.remove(1));
        assert!(!dirs.remove(1));
        assert_eq!(dirs.len(), 2);
        // 3 was moved into 1's place in the vector: still found, with what it holds.
        assert_eq!(dirs.entry(3, b"f"), Some(FILE));
        assert_eq!(dirs.parent(3), Some(2));
        assert_eq!(dirs.path(3), None, "no root above it any more");
        assert!(dirs.contains(2) && !dirs.contains(1));
        let mut wds: Vec<i32> = dirs.wds().collect();
        wds.sort_unstable();
        assert_eq!(wds, [2, 3]);
    }

    #[test]
    fn a_directory_with_many_names_gets_an_index_that_follows_its_renames() {
        let mut dirs = three();
        let name = |i: usize| format!("f{i}").into_bytes();
        for i in 0..200 {
            dirs.set_entry(2, &name(i), FILE);
        }
        assert!(dirs.indexes.contains_key(&2));
        dirs.reparent(2, 1, b"renamed");
        for i in 0..200 {
            assert_eq!(dirs.entry(2, &name(i)), Some(FILE), "{i}");
        }
        assert_eq!(dirs.subdir(2, b"b"), Some(3));
        assert_eq!(dirs.name(2), Some(&b"renamed"[..]));
        dirs.remove(2);
        assert!(dirs.indexes.is_empty());
    }
}

#[cfg(test)]
mod props {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Step {
        Set(i32, usize, Held),
        Remove(i32),
        Insert(i32, usize),
        Rename(i32, usize),
    }

    fn name(n: usize) -> Vec<u8> {
        let mut name = format!("name{n}").into_bytes();
        if n.is_multiple_of(5) {
            name.resize(40 + n % 200, b'z');
        }
        name
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            8 => (2i32..8, 0usize..120, names::any_held(0..100)).prop_map(|(wd, n, h)| Step::Set(wd, n, h)),
            3 => (2i32..8, 0usize..120).prop_map(|(wd, n)| Step::Set(wd, n, Held::default())),
            1 => (2i32..8).prop_map(Step::Remove),
            1 => (2i32..8, 0usize..120).prop_map(|(wd, n)| Step::Insert(wd, n)),
            1 => (2i32..8, 0usize..120).prop_map(|(wd, n)| Step::Rename(wd, n)),
        ]
    }

    /// Each directory's own name and names, by wd.
    type Model = HashMap<i32, (Vec<u8>, HashMap<Vec<u8>, Held>)>;

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: crate::props_cases(256),
            ..ProptestConfig::default()
        })]

        /// Directories growing, shrinking, renamed, removed and made again, in an arena squeezed
        /// often: each holds its own name and what a map of names would.
        #[test]
        fn every_directory_holds_what_a_map_would(steps in proptest::collection::vec(step(), 0..400)) {
            let mut dirs = Dirs { arena: Arena::squeezed_from(256), ..Dirs::default() };
            dirs.insert_root(1, b"/r");
            let mut model: Model = HashMap::new();
            for wd in 2..8 {
                dirs.insert(wd, 1, &name(wd as usize));
                model.insert(wd, (name(wd as usize), HashMap::new()));
            }
            for step in &steps {
                match step {
                    Step::Set(wd, n, new) if model.contains_key(wd) => {
                        let new = *new;
                        let names = &mut model.get_mut(wd).expect("held").1;
                        let was = names.get(&name(*n)).copied().unwrap_or_default();
                        prop_assert_eq!(dirs.update(*wd, &name(*n), |_| new), was);
                        if new == Held::default() {
                            names.remove(&name(*n));
                        } else {
                            names.insert(name(*n), new);
                        }
                    }
                    Step::Remove(wd) => {
                        prop_assert_eq!(dirs.remove(*wd), model.remove(wd).is_some());
                    }
                    Step::Insert(wd, n) if !model.contains_key(wd) => {
                        dirs.insert(*wd, 1, &name(*n));
                        model.insert(*wd, (name(*n), HashMap::new()));
                    }
                    Step::Rename(wd, n) if model.contains_key(wd) => {
                        dirs.reparent(*wd, 1, &name(*n));
                        if let Some(dir) = model.get_mut(wd) {
                            dir.0 = name(*n);
                        }
                    }
                    _ => {}
                }
                for (wd, (own, names)) in &model {
                    prop_assert_eq!(dirs.name(*wd), Some(own.as_slice()));
                    let held: HashMap<Vec<u8>, Held> =
                        dirs.names(*wd).map(|(name, held)| (name.to_vec(), held)).collect();
                    prop_assert_eq!(&held, names);
                }
            }
            prop_assert_eq!(dirs.len(), model.len() + 1);
        }
    }
}
