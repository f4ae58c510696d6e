//! The books an instance keeps on its watches: a plain table (`Inotify`: one watch per path the user
//! added) or a recursive tree (`InotifyTree`). The reader routes every kernel event through them.

use crate::event::RawEvent;
use crate::mask::{IN_IGNORED, IN_Q_OVERFLOW};
use crate::sink::Sink;
use crate::tree::fs::TreeFs;
use crate::tree::{Tree, TreeOptions, TreeReport};
use crate::watch_table::WatchTable;

/// What an instance watches: paths one by one, or whole trees.
#[derive(Debug)]
pub enum Mode {
    /// Watches added one by one (`inotify_add_watch`).
    Plain,
    /// Recursive trees under roots added with `Session::add_root`.
    Tree(TreeOptions),
    /// Recursive trees whose events are turned into per-path changes (`Session::take_changes`).
    Changes(TreeOptions),
}

/// The bookkeeping of one instance.
#[derive(Debug)]
pub enum Books {
    /// wd ⇄ path.
    Plain(WatchTable),
    /// Directories of recursive trees.
    Tree(Box<Tree>),
}

impl Books {
    /// Empty books for `mode`.
    pub fn new(mode: Mode) -> Self {
        match mode {
            Mode::Plain => Books::Plain(WatchTable::default()),
            Mode::Tree(options) => Books::Tree(Box::new(Tree::new(options))),
            Mode::Changes(options) => Books::Tree(Box::new(Tree::new(options).for_changes())),
        }
    }

    /// Routes one kernel event into `out` (a tree acts on the file system through `fs`).
    pub fn route(&mut self, fs: &mut dyn TreeFs, event: &RawEvent<'_>, out: &mut dyn Sink) {
        match self {
            Books::Plain(table) => route_plain(table, event, out),
            Books::Tree(tree) => tree.route(fs, event, out),
        }
    }

    /// Called when the kernel queue has been read to EAGAIN.
    pub fn settle(&mut self, fs: &mut dyn TreeFs, out: &mut dyn Sink) {
        if let Books::Tree(tree) = self {
            if tree.needs_settle() {
                tree.settle(fs, out);
            }
        }
    }

    /// Whether a listing event (`IN_OPEN`, `IN_ACCESS`, `IN_CLOSE_NOWRITE`) is one this tree's own
    /// listing caused; it is then taken out of what it expects. Plain books list nothing.
    pub fn take_own_listing(&mut self, wd: i32, mask: u32, name: &[u8]) -> bool {
        match self {
            Books::Plain(_) => false,
            Books::Tree(tree) => tree.take_own_listing(wd, mask, name),
        }
    }

    /// Forgets every watch (the session closed; its holds on the wds are let go apart).
    pub fn clear(&mut self) {
        match self {
            Books::Plain(table) => *table = WatchTable::default(),
            Books::Tree(tree) => tree.clear(),
        }
    }

    /// Number of watch descriptors held.
    pub fn watch_count(&self) -> usize {
        match self {
            Books::Plain(table) => table.len(),
            Books::Tree(tree) => tree.watch_count(),
        }
    }

    /// What a tree has to report (nothing, for plain books).
    pub fn take_reports(&mut self) -> Vec<TreeReport> {
        match self {
            Books::Plain(_) => Vec::new(),
            Books::Tree(tree) => tree.take_reports(),
        }
    }
}

/// Puts one kernel event into the batch under its watch's path. The overflow (wd -1) is always
/// delivered; events of a wd this instance no longer holds (removed by the user, their IN_IGNORED
/// included) are dropped on purpose. IN_IGNORED is delivered, then the wd is forgotten.
pub fn route_plain(table: &mut WatchTable, event: &RawEvent<'_>, out: &mut dyn Sink) {
    if event.mask & IN_Q_OVERFLOW != 0 {
        out.push(event, None, 0);
        return;
    }
    let Some(path) = table.path_of(event.wd) else {
        return;
    };
    out.push(event, Some(path), 0);
    if event.mask & IN_IGNORED != 0 {
        table.remove(event.wd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::*;
    use crate::wire::{decode, BatchEncoder};

    fn raw(wd: i32, mask: u32, name: &[u8]) -> RawEvent<'_> {
        RawEvent {
            wd,
            mask,
            cookie: 0,
            len: 16,
            name,
        }
    }

    #[test]
    fn routes_overflow_without_a_watch_and_forgets_ignored_watches() {
        let mut table = WatchTable::default();
        table.insert(1, b"/w");
        let mut out = BatchEncoder::new();
        route_plain(&mut table, &raw(-1, IN_Q_OVERFLOW, b""), &mut out);
        route_plain(&mut table, &raw(1, IN_DELETE_SELF, b""), &mut out);
        route_plain(&mut table, &raw(1, IN_IGNORED, b""), &mut out);
        route_plain(&mut table, &raw(1, IN_CREATE, b"late"), &mut out);
        route_plain(&mut table, &raw(9, IN_CREATE, b"unknown"), &mut out);
        let events = decode(&out.finish().bytes).expect("well-formed");
        let masks: Vec<u32> = events.iter().map(|e| e.mask).collect();
        assert_eq!(masks, vec![IN_Q_OVERFLOW, IN_DELETE_SELF, IN_IGNORED]);
        assert_eq!(events[0].path, None);
        assert_eq!(events[2].path.as_deref(), Some(&b"/w"[..]));
        assert!(table.is_empty());
    }
}
