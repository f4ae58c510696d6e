//! The table of watches one inotify instance holds: watch descriptor to the path it was registered
//! with, and back. The kernel returns the same wd when one inode is watched under several paths, so a
//! wd may have several paths; events report the most recent one.

use std::collections::HashMap;

/// One watch as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    /// The path of the latest registration of this wd.
    pub path: Vec<u8>,
    /// Every path registered for this wd.
    pub aliases: Vec<Vec<u8>>,
}

/// wd ⇄ path bookkeeping. Pure: it never calls the kernel.
#[derive(Debug, Default)]
pub struct WatchTable {
    by_wd: HashMap<i32, Watch>,
    by_path: HashMap<Vec<u8>, i32>,
}

impl WatchTable {
    /// Records that `path` is watched as `wd`. A path that pointed at another wd (its old inode is
    /// gone, or was replaced) now points at this one.
    pub fn insert(&mut self, wd: i32, path: &[u8]) {
        if let Some(old_wd) = self.by_path.insert(path.to_vec(), wd) {
            if old_wd != wd {
                self.drop_alias(old_wd, path);
            }
        }
        let watch = self.by_wd.entry(wd).or_insert_with(|| Watch {
            path: path.to_vec(),
            aliases: Vec::new(),
        });
        watch.path = path.to_vec();
        if !watch.aliases.iter().any(|a| a == path) {
            watch.aliases.push(path.to_vec());
        }
    }

    fn drop_alias(&mut self, wd: i32, path: &[u8]) {
        let Some(watch) = self.by_wd.get_mut(&wd) else {
            return;
        };
        watch.aliases.retain(|a| a != path);
        // With no alias left the kernel still holds the watch (its inode lives on elsewhere), so
        // the wd keeps its last path until IN_IGNORED or an explicit removal.
        if let Some(last) = watch.aliases.last() {
            watch.path = last.clone();
        }
    }

    /// Forgets `wd` and every path registered for it; returns what was there.
    pub fn remove(&mut self, wd: i32) -> Option<Watch> {
        let watch = self.by_wd.remove(&wd)?;
        for alias in &watch.aliases {
            if self.by_path.get(alias) == Some(&wd) {
                self.by_path.remove(alias);
            }
        }
        Some(watch)
    }

    /// The wd a path is watched as.
    pub fn wd_of(&self, path: &[u8]) -> Option<i32> {
        self.by_path.get(path).copied()
    }

    /// The path events of `wd` report.
    pub fn path_of(&self, wd: i32) -> Option<&[u8]> {
        self.by_wd.get(&wd).map(|w| w.path.as_slice())
    }

    /// How many watch descriptors are held.
    pub fn len(&self) -> usize {
        self.by_wd.len()
    }

    /// Whether no watch is held.
    pub fn is_empty(&self) -> bool {
        self.by_wd.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_both_ways_and_forgets_on_remove() {
        let mut table = WatchTable::default();
        table.insert(1, b"/tmp/a");
        table.insert(2, b"/tmp/b");
        assert_eq!(table.wd_of(b"/tmp/a"), Some(1));
        assert_eq!(table.path_of(2), Some(&b"/tmp/b"[..]));
        assert_eq!(table.remove(1).map(|w| w.path), Some(b"/tmp/a".to_vec()));
        assert_eq!(table.wd_of(b"/tmp/a"), None);
        assert_eq!(table.path_of(1), None);
        assert_eq!(table.len(), 1);
        assert_eq!(table.remove(1), None);
    }

    #[test]
    fn one_inode_under_two_paths_keeps_one_wd_and_reports_the_latest_path() {
        let mut table = WatchTable::default();
        table.insert(1, b"/tmp/a");
        table.insert(1, b"/tmp/./a");
        assert_eq!(table.len(), 1);
        assert_eq!(table.path_of(1), Some(&b"/tmp/./a"[..]));
        assert_eq!(table.wd_of(b"/tmp/a"), Some(1));
        table.remove(1);
        assert!(table.is_empty());
        assert_eq!(table.wd_of(b"/tmp/a"), None);
        assert_eq!(table.wd_of(b"/tmp/./a"), None);
    }

    #[test]
    fn a_path_re_registered_to_a_new_inode_leaves_the_old_wd_without_it() {
        let mut table = WatchTable::default();
        table.insert(1, b"/tmp/a");
        table.insert(1, b"/tmp/link");
        // /tmp/a was deleted and re-created: a new inode, a new wd.
        table.insert(2, b"/tmp/a");
        assert_eq!(table.wd_of(b"/tmp/a"), Some(2));
        assert_eq!(table.path_of(1), Some(&b"/tmp/link"[..]));
        table.insert(3, b"/tmp/link");
        // The kernel still holds wd 1 until IN_IGNORED: it keeps reporting under its last path.
        assert_eq!(table.path_of(1), Some(&b"/tmp/link"[..]));
        assert_eq!(table.wd_of(b"/tmp/link"), Some(3));
        assert_eq!(table.len(), 3);
        assert!(table.remove(1).is_some());
        assert_eq!(
            table.wd_of(b"/tmp/link"),
            Some(3),
            "removing wd 1 leaves wd 3's path alone"
        );
    }
}
