//! The waiting changes of a [`crate::changes::ChangeSet`], found by their path without storing the
//! path twice: a hash table of indices into the set's slots, hashed and compared by the path each
//! slot holds. A set of tens of thousands of changes (a consumer far behind) then costs a slot and
//! a table entry of 8 bytes per change, not a second copy of every path as a map's key.
//!
//! The table trusts the slots: an indexed slot's path must not change while it is indexed (take
//! it out, change the path, put it back), and an indexed slot is never emptied before it is taken
//! out.

use std::hash::BuildHasher;

use hashbrown::hash_table::{Entry, HashTable};

use crate::changes_wire::Change;

/// The path a slot holds (an empty slot, never indexed, has none).
fn path_at(slots: &[Option<Change>], index: usize) -> &[u8] {
    match slots.get(index) {
        Some(Some(change)) => &change.path,
        _ => &[],
    }
}

/// Indices of slots, by the slot's path; at most one per path.
#[derive(Default)]
pub struct PathIndex {
    table: HashTable<usize>,
    hasher: std::hash::RandomState,
}

impl std::fmt::Debug for PathIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PathIndex")
            .field("len", &self.table.len())
            .finish()
    }
}

impl PathIndex {
    /// The slot indexed under `path`.
    pub fn get(&self, slots: &[Option<Change>], path: &[u8]) -> Option<usize> {
        let hash = self.hasher.hash_one(path);
        self.table
            .find(hash, |&i| path_at(slots, i) == path)
            .copied()
    }

    /// Indexes slot `index` under the path it holds, in place of any slot indexed there.
    pub fn insert(&mut self, slots: &[Option<Change>], index: usize) {
        let path = path_at(slots, index);
        let hasher = &self.hasher;
        let hash = hasher.hash_one(path);
        match self.table.entry(
            hash,
            |&i| path_at(slots, i) == path,
            |&i| hasher.hash_one(path_at(slots, i)),
        ) {
            Entry::Occupied(mut entry) => *entry.get_mut() = index,
            Entry::Vacant(entry) => {
                entry.insert(index);
            }
        }
    }

    /// Takes `path` out of the index; the slot that was indexed under it.
    pub fn remove(&mut self, slots: &[Option<Change>], path: &[u8]) -> Option<usize> {
        let hash = self.hasher.hash_one(path);
        match self.table.find_entry(hash, |&i| path_at(slots, i) == path) {
            Ok(entry) => Some(entry.remove().0),
            Err(_) => None,
        }
    }

    /// Takes out every slot whose path `below` accepts; their indices.
    pub fn remove_where(
        &mut self,
        slots: &[Option<Change>],
        mut below: impl FnMut(&[u8]) -> bool,
    ) -> Vec<usize> {
        let mut removed = Vec::new();
        self.table.retain(|&mut i| {
            if below(path_at(slots, i)) {
                removed.push(i);
                return false;
            }
            true
        });
        removed
    }

    /// The first `count` slots leave the front of the list: they leave the index, and every other
    /// index moves down by `count`.
    pub fn drop_front(&mut self, count: usize) {
        self.table.retain(|index| {
            if *index < count {
                return false;
            }
            *index -= count;
            true
        });
    }

    /// Forgets every slot.
    pub fn clear(&mut self) {
        self.table.clear();
    }
}
