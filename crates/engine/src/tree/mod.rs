//! Recursive trees: which directories are watched under which paths, kept right through creates,
//! renames, moves in and out, deletions and queue overflows. Pure bookkeeping over [`TreeFs`]:
//! unit-tested on synthetic event sequences against a fake file system.
//!
//! Rules:
//! - Watch first, then list: what a new directory already holds when its watch is in place is
//!   reported as synthetic `IN_CREATE`s, so `mkdir -p a/b/c && touch a/b/c/f` misses nothing. A real
//!   `IN_CREATE` that repeats a synthetic one is not reported twice.
//! - A directory renamed inside the tree keeps its wd and every path below it changes; one moved out
//!   (an `IN_MOVED_FROM` with no `IN_MOVED_TO` once the kernel queue is drained) loses its watches.
//! - The user's mask is what is reported; the bits the bookkeeping needs are added to the watches.
//! - After `IN_Q_OVERFLOW` the whole tree is listed again and the differences are reported as
//!   synthetic events.
//! - Directories are reached from their root's descriptor, never by path string (see
//!   [`crate::tree::fs`] and `tree/reach.rs`). A root renamed within its directory (`IN_MOVE_SELF`
//!   on its watch) is followed, every path below it changing with it; one moved elsewhere stops
//!   being watched, with [`Error::RootMoved`].
//!
//! Here: routing an event and keeping the books. `reach.rs`: adding roots, scanning, re-scanning
//! after an overflow, following a moved root. `mounts.rs`: file systems mounted and unmounted
//! inside. [`fs`]: the file system as the tree sees it, and its kernel implementation. `tests.rs`
//! and `props.rs`: the same against a fake file system, case by case and as properties.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::Error;
use crate::event::RawEvent;
use crate::mask::*;
use crate::own_listings::{Listing, OwnListings, LISTING_EVENTS};
use crate::parse::HEADER_LEN;
use crate::paths::join;
use crate::sink::Sink;
use crate::tree::dirs::Dirs;
use crate::tree::fs::{RootHandle, TreeFs};
use crate::tree::names::{Entry, Held};
use crate::wire::{FLAG_REPLACED, FLAG_SYNTHETIC};

/// Bits every tree watch carries for the bookkeeping, whatever the user asked for (`IN_MOVE_SELF`
/// for a root: nothing else tells the tree that it was renamed).
pub const BOOKKEEPING_MASK: u32 =
    IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF;
/// Kernel-status bits that are always reported.
const ALWAYS_REPORTED: u32 = IN_IGNORED | IN_UNMOUNT | IN_Q_OVERFLOW;

/// Decides which paths a tree leaves out (before any watch is added).
pub trait IgnoreRule: Send + std::fmt::Debug {
    /// A root was added (patterns may be relative to it). An error (an ignore file that cannot be
    /// read) is reported; the root is watched all the same.
    fn add_root(&mut self, _root: &[u8]) -> Result<(), Error> {
        Ok(())
    }
    /// A root was renamed from `from` to `to`: paths below it now start with `to`.
    fn move_root(&mut self, _from: &[u8], _to: &[u8]) {}
    /// Whether `path` (a directory when `is_dir`) is left out.
    fn is_ignored(&self, path: &[u8], is_dir: bool) -> bool;
}

/// How a tree watches.
#[derive(Debug)]
pub struct TreeOptions {
    /// The events the user wants (`IN_*` event bits; watch flags are ignored here).
    pub mask: u32,
    /// Follow symbolic links to directories (cycles end where the kernel reports an inode that is
    /// already watched).
    pub follow_symlinks: bool,
    /// Watch the directories below each root too (`false`: each root alone, its entries reported
    /// but its subdirectories not watched).
    pub recursive: bool,
    /// Paths to leave out.
    pub ignore: Option<Box<dyn IgnoreRule>>,
}

/// Something the tree has to tell its user that is not an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeReport {
    /// A directory could not be watched or listed (unreadable, or gone mid-scan); it is skipped and
    /// the rest of the tree keeps working.
    Skipped {
        /// The directory.
        path: Vec<u8>,
        /// Why.
        error: Error,
    },
    /// The watch limit was reached: `needed` watches would cover everything found, `watched` are in
    /// place and keep working.
    WatchLimit {
        /// Where the scan that hit the limit started.
        path: Vec<u8>,
        /// Watches the tree needs.
        needed: u64,
        /// Watches in place.
        watched: u64,
    },
    /// A root's first scan is complete.
    RootReady {
        /// The root.
        path: Vec<u8>,
    },
    /// A root's ignore file could not be read (not a regular file, too large, unreadable): the
    /// root is watched with the other patterns alone.
    IgnoreFileRefused {
        /// The root.
        path: Vec<u8>,
        /// Why.
        error: Error,
    },
    /// A root could not be watched at all.
    RootFailed {
        /// The root.
        path: Vec<u8>,
        /// Why.
        error: Error,
    },
}

/// The watched directories of one or more roots.
#[derive(Debug)]
pub struct Tree {
    options: TreeOptions,
    watch_mask: u32,
    dirs: Dirs,
    /// Each root's handle, by the root's wd: every directory below it is opened from it.
    roots: HashMap<i32, Arc<RootHandle>>,
    /// Routes for per-path changes (`watch()`): a root's move is also reported as an
    /// `IN_MOVED_FROM`/`IN_MOVED_TO` pair of its old and new path, which they pair into one
    /// rename; a subdirectory's `IN_DELETE_SELF` is not reported (its parent's `IN_DELETE` is its
    /// change, and a read can fall between the two, which would make it two deletes).
    for_changes: bool,
    /// Directories moved away whose `IN_MOVED_TO` has not been seen: (cookie, wd).
    pending_moves: Vec<(u32, i32)>,
    rescan: bool,
    /// While the tree is listed again after an overflow: (parent wd, name) of directories found
    /// moved to a place listed earlier, whose old place must report them gone.
    moved_away: Option<Vec<(i32, Vec<u8>)>>,
    /// Directories whose file system was unmounted (`IN_UNMOUNT` read): their books are kept until
    /// the queue is drained, when every watch of that file system has said so.
    unmounted: Vec<i32>,
    reports: Vec<TreeReport>,
    /// The events the tree's own listings caused that are still to arrive (taken out, not reported).
    own: OwnListings,
    /// Room for the path of the directory an event is routed in.
    route_path: Vec<u8>,
}

fn padded_len(name: &[u8]) -> u32 {
    if name.is_empty() {
        0
    } else {
        ((name.len() + 1).div_ceil(HEADER_LEN) * HEADER_LEN) as u32
    }
}

/// A scan's bookkeeping: whether it reports what it finds, what the watch limit left out, the
/// directories still to watch and list (each as its parent's wd and its name), and the watches of
/// directories taken back whose old subdirectories the scan may not find again.
struct Scan<'o> {
    out: Option<&'o mut dyn Sink>,
    start: Vec<u8>,
    unwatched: u64,
    pending: Vec<(i32, Vec<u8>)>,
    stale: Vec<i32>,
}

/// What asking the kernel for a watch at a place the tree holds a directory at said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// The directory the tree holds there is still there.
    Same,
    /// Another directory, one the tree does not hold (the probe's watch on it is removed).
    Unheld,
    /// Nothing there, or a directory the tree holds elsewhere.
    Else,
}

/// What adding a watch on an opened directory gave.
enum Watched {
    /// A new watch: the directory joins the tree.
    New(i32),
    /// The wd of an inode the tree watches already (a symlink loop, a bind mount, a root inside
    /// another root, a directory moved out and back in).
    Known(i32),
}

impl Tree {
    /// An empty tree.
    pub fn new(options: TreeOptions) -> Self {
        let mut watch_mask = (options.mask & IN_ALL_EVENTS) | BOOKKEEPING_MASK | IN_ONLYDIR;
        if !options.follow_symlinks {
            watch_mask |= IN_DONT_FOLLOW;
        }
        Self {
            options,
            watch_mask,
            dirs: Dirs::default(),
            roots: HashMap::new(),
            for_changes: false,
            pending_moves: Vec::new(),
            rescan: false,
            moved_away: None,
            unmounted: Vec::new(),
            reports: Vec::new(),
            own: OwnListings::new(watch_mask),
            route_path: Vec::new(),
        }
    }

    /// Routes for per-path changes: a root's move is also reported as an `IN_MOVED_FROM`/
    /// `IN_MOVED_TO` pair (cookie 0, no name) of its old and new path, which they pair into one
    /// rename, and only a root's `IN_DELETE_SELF` is reported.
    pub fn for_changes(mut self) -> Self {
        self.for_changes = true;
        self
    }

    /// Number of watched directories.
    pub fn watch_count(&self) -> usize {
        self.dirs.len()
    }

    /// The path a wd reports under.
    pub fn path_of(&self, wd: i32) -> Option<Vec<u8>> {
        self.dirs.path(wd)
    }

    /// The wd of a watched directory, by path (a walk from the roots, name by name).
    pub fn wd_of(&self, path: &[u8]) -> Option<i32> {
        self.dirs.wd_at(path)
    }

    /// Takes what the tree has to report.
    /// Watch-limit reports since the last call are merged into one (a burst of `mkdir`s past the
    /// limit is one problem, with one total).
    pub fn take_reports(&mut self) -> Vec<TreeReport> {
        let mut reports = Vec::with_capacity(self.reports.len());
        let mut limit: Option<usize> = None;
        let mut unwatched = 0;
        for report in std::mem::take(&mut self.reports) {
            if let TreeReport::WatchLimit {
                needed, watched, ..
            } = &report
            {
                unwatched += needed.saturating_sub(*watched);
                if limit.is_some() {
                    continue;
                }
                limit = Some(reports.len());
            }
            reports.push(report);
        }
        if let Some(TreeReport::WatchLimit {
            needed, watched, ..
        }) = limit.and_then(|i| reports.get_mut(i))
        {
            *watched = self.dirs.len() as u64;
            *needed = *watched + unwatched;
        }
        reports
    }

    /// Whether work is waiting for [`Tree::settle`].
    pub fn needs_settle(&self) -> bool {
        self.rescan || !self.pending_moves.is_empty() || !self.unmounted.is_empty()
    }

    fn wants(&self, mask: u32) -> bool {
        mask & ALWAYS_REPORTED != 0 || mask & self.options.mask & IN_ALL_EVENTS != 0
    }

    fn ignored(&self, path: &[u8], is_dir: bool) -> bool {
        self.options
            .ignore
            .as_ref()
            .is_some_and(|rule| rule.is_ignored(path, is_dir))
    }

    fn finish_scan(&mut self, fs: &mut dyn TreeFs, scan: Scan<'_>) {
        for old in scan.stale {
            if !self.dirs.contains(old) {
                self.own.forget(old);
                fs.rm_watch(old);
            }
        }
        if scan.unwatched > 0 {
            let watched = self.dirs.len() as u64;
            self.reports.push(TreeReport::WatchLimit {
                path: scan.start.clone(),
                needed: watched + scan.unwatched,
                watched,
            });
        }
    }

    /// A new directory in the tree (created, or moved in from outside): watch it, then report what
    /// it already holds.
    fn add_new_dir(&mut self, fs: &mut dyn TreeFs, parent: i32, name: &[u8], out: &mut dyn Sink) {
        let Some(path) = self.dirs.path_of_name(parent, name) else {
            return;
        };
        let mut scan = Scan {
            out: Some(out),
            start: path,
            unwatched: 0,
            pending: vec![(parent, name.to_vec())],
            stale: Vec::new(),
        };
        self.scan(fs, &mut scan);
        self.finish_scan(fs, scan);
    }

    /// Whether a listing event is one this tree's own listing caused (taken out of what it
    /// expects): another session sharing the directory's watch must not see it either.
    pub fn take_own_listing(&mut self, wd: i32, mask: u32, name: &[u8]) -> bool {
        self.own.take(wd, mask, name)
    }

    /// Forgets every directory (the session closed: its watches are let go by the instance).
    pub fn clear(&mut self) {
        self.dirs.clear();
        self.roots.clear();
        self.pending_moves.clear();
        self.unmounted.clear();
        self.own.clear();
    }

    /// Routes one kernel event: reports it (if the user's mask wants it and it is not a repeat of a
    /// synthetic event), then keeps the bookkeeping.
    pub fn route(&mut self, fs: &mut dyn TreeFs, event: &RawEvent<'_>, out: &mut dyn Sink) {
        if event.mask & IN_Q_OVERFLOW != 0 {
            out.push(event, None, 0);
            self.own.clear();
            self.rescan = true;
            return;
        }
        if event.mask & LISTING_EVENTS != 0 && self.own.take(event.wd, event.mask, event.name) {
            return; // the tree's own listing
        }
        if !self.dirs.contains(event.wd) {
            return; // a watch this tree dropped (moved out, or forgotten): its last events too
        }
        let is_root = self.dirs.is_root(event.wd);
        if event.mask & IN_MOVE_SELF != 0 && is_root {
            self.root_moved(fs, event, out);
            return;
        }
        if !self.pending_moves.is_empty() && self.in_pending_move(event.wd) {
            // Below a directory moved away whose IN_MOVED_TO has not come: the kernel queues a rename's
            // two events together, so this subtree has left the tree, and its old path would be a lie.
            return;
        }
        let mask = event.mask;
        let is_dir = mask & IN_ISDIR != 0;
        let name = event.name;
        let mut path = std::mem::take(&mut self.route_path);
        if !self.dirs.path_into(event.wd, &mut path) {
            self.route_path = path;
            return;
        }
        if !name.is_empty()
            && self.options.ignore.is_some()
            && self.ignored(&join(&path, name), is_dir)
        {
            self.route_path = path;
            return;
        }
        let mut report = self.wants(mask);
        if self.for_changes && mask & IN_DELETE_SELF != 0 && !is_root {
            report = false;
        }
        if mask & IN_CREATE != 0 {
            if let Some(entry) = self.dirs.entry(event.wd, name) {
                if entry.synthetic_pending {
                    let entry = Entry {
                        synthetic_pending: false,
                        ..entry
                    };
                    self.dirs.set_entry(event.wd, name, entry);
                    report = false;
                }
            }
        }
        if report {
            let replaced = mask & IN_MOVED_TO != 0 && self.dirs.entry(event.wd, name).is_some();
            out.push(event, Some(&path), if replaced { FLAG_REPLACED } else { 0 });
        }
        self.route_path = path;
        self.keep_books(fs, event, out);
    }

    fn keep_books(&mut self, fs: &mut dyn TreeFs, event: &RawEvent<'_>, out: &mut dyn Sink) {
        let (wd, mask, name) = (event.wd, event.mask, event.name);
        if mask & IN_UNMOUNT != 0 {
            if self.dirs.contains(wd) && !self.unmounted.contains(&wd) {
                self.unmounted.push(wd);
            }
            return;
        }
        if mask & IN_IGNORED != 0 && self.unmounted.contains(&wd) {
            return; // its place is listed again once the queue is drained (settle)
        }
        if mask & IN_IGNORED != 0 {
            // The kernel dropped this watch, not those below it: a directory moved away from under
            // it before it was deleted (the move lost in an overflow) still holds its watch. They
            // are removed too (EINVAL for those the kernel dropped already), never leaked.
            self.forget_entry_of(wd);
            self.unwatch(fs, wd);
            return;
        }
        if name.is_empty() {
            return;
        }
        // A symlink's events never carry IN_ISDIR: one that arrives is a directory to the tree if
        // it is followed and leads to one.
        let is_dir = mask & IN_ISDIR != 0
            || (self.options.follow_symlinks
                && mask & (IN_CREATE | IN_MOVED_TO) != 0
                && self.is_dir_behind_link(fs, wd, name));
        if !self.dirs.contains(wd) {
            return;
        }
        if mask & (IN_CREATE | IN_MOVED_TO) != 0 {
            let entry = Entry {
                is_dir,
                synthetic_pending: false,
            };
            if mask & IN_MOVED_TO != 0 {
                // Moved over what the name held: that is gone (a directory's watch with it), unless
                // a scan that ran after the move already watches the newcomer under this name.
                self.dirs.set_entry(wd, name, entry);
                if let Some(held) = self.dirs.subdir(wd, name) {
                    let Some(path) = self.dirs.path_of_name(wd, name) else {
                        return;
                    };
                    let now = self.watch_again(fs, wd, &path);
                    // A probe's watch on the newcomer is removed: the scan below watches it anew.
                    if self.judge_probe(fs, now, held) == Probe::Same {
                        return;
                    }
                    if let Some(replaced) = self.dirs.remove_subdir(wd, name) {
                        self.unwatch(fs, replaced);
                    }
                }
            } else {
                self.dirs.add_entry(wd, name, entry);
            }
            if !self.dirs.contains(wd) || !is_dir || self.dirs.subdir(wd, name).is_some() {
                return;
            }
            let moved = (mask & IN_MOVED_TO != 0)
                .then(|| {
                    self.pending_moves
                        .iter()
                        .position(|(c, _)| *c == event.cookie)
                })
                .flatten();
            match moved {
                Some(index) => {
                    let (_, child) = self.pending_moves.swap_remove(index);
                    self.reattach(child, wd, name);
                }
                None => self.add_new_dir(fs, wd, name, out),
            }
        } else if mask & (IN_DELETE | IN_MOVED_FROM) != 0 {
            let Some(child) = self.dirs.update(wd, name, |_| Held::default()).subdir else {
                return;
            };
            if mask & IN_MOVED_FROM != 0 {
                self.pending_moves.push((event.cookie, child));
            } else {
                self.unwatch(fs, child);
            }
        }
    }

    /// `wd` is gone: its name leaves its parent's entries, so that what is found there later (a
    /// directory made again while the parent's `IN_DELETE` was lost, the directory an unmount
    /// uncovered) is new.
    fn forget_entry_of(&mut self, wd: i32) {
        let (Some(parent), Some(name)) = (self.dirs.parent(wd), self.dirs.name(wd)) else {
            return;
        };
        let name = name.to_vec();
        if self.dirs.subdir(parent, &name) == Some(wd) {
            self.dirs.remove_entry(parent, &name);
        }
    }

    /// Whether `wd` is, or lies below, a directory moved away and not (yet) moved back in.
    fn in_pending_move(&self, wd: i32) -> bool {
        self.ancestry(wd)
            .any(|up| self.pending_moves.iter().any(|(_, moved)| *moved == up))
    }

    /// `wd`, then its parent, and so on up to its root, as the books have them. Bounded by the
    /// number of directories: the books never hold a loop, and a walk never hangs if they did.
    fn ancestry(&self, wd: i32) -> impl Iterator<Item = i32> + '_ {
        std::iter::successors(Some(wd), |wd| self.dirs.parent(*wd)).take(self.dirs.len() + 1)
    }

    /// Whether `wd` is `ancestor` or lies below it in the books.
    fn is_within(&self, wd: i32, ancestor: i32) -> bool {
        self.ancestry(wd).any(|up| up == ancestor)
    }

    /// A directory renamed inside the tree: same wd, new parent and name, new paths below.
    fn reattach(&mut self, child: i32, parent: i32, name: &[u8]) {
        if self.is_within(parent, child) {
            // Into what the books have below it (their events not read yet): never a loop.
            return;
        }
        if !self.dirs.contains(parent) {
            return;
        }
        self.dirs.set_subdir(parent, name, child);
        self.dirs.reparent(child, parent, name);
    }

    /// Directory `wd` was opened and listed with `reads` `getdents64` calls (none: opened and
    /// closed), by a scan: what its own watch (which saw the open only if `watched_when_opened`) and
    /// its parent's watch see of that is the tree's own doing, taken out of what it reports.
    fn expect_listing(&mut self, fs: &dyn TreeFs, wd: i32, watched_when_opened: bool, reads: u32) {
        self.own.expect(
            wd,
            b"",
            Listing {
                opened: watched_when_opened,
                reads,
            },
            fs.kernel_mask(wd),
        );
        if let (Some(parent), Some(name)) = (self.dirs.parent(wd), self.dirs.name(wd)) {
            self.own.expect(
                parent,
                name,
                Listing {
                    opened: true,
                    reads,
                },
                fs.kernel_mask(parent),
            );
        }
    }

    /// Drops a directory and everything below it from the books; returns their wds (their kernel
    /// watches and the listing events still expected on them are the caller's).
    fn forget(&mut self, wd: i32) -> Vec<i32> {
        if let (Some(parent), Some(name)) = (self.dirs.parent(wd), self.dirs.name(wd)) {
            let name = name.to_vec();
            if self.dirs.subdir(parent, &name) == Some(wd) {
                self.dirs.remove_subdir(parent, &name);
            }
        }
        let mut forgotten = Vec::new();
        let mut stack = vec![wd];
        while let Some(wd) = stack.pop() {
            if !self.dirs.contains(wd) {
                continue;
            }
            stack.extend(self.dirs.subdirs(wd).map(|(_, child)| child));
            self.dirs.remove(wd);
            forgotten.push(wd);
            self.roots.remove(&wd);
        }
        forgotten
    }

    /// Drops a subtree that left the tree but still exists, removing its kernel watches.
    fn unwatch(&mut self, fs: &mut dyn TreeFs, wd: i32) {
        for gone in self.forget(wd) {
            self.own.forget(gone);
            fs.rm_watch(gone);
        }
    }

    /// Called once the kernel queue is drained: directories moved away with no `IN_MOVED_TO` in
    /// the tree have left it; after an overflow, the tree is listed again and what changed reported.
    pub fn settle(&mut self, fs: &mut dyn TreeFs, out: &mut dyn Sink) {
        for (_, wd) in std::mem::take(&mut self.pending_moves) {
            self.unwatch(fs, wd);
        }
        if !self.unmounted.is_empty() {
            self.uncover(fs, out);
        }
        if std::mem::take(&mut self.rescan) {
            self.rescan_all(fs, out);
        }
    }

    fn rescan_all(&mut self, fs: &mut dyn TreeFs, out: &mut dyn Sink) {
        self.moved_away = Some(Vec::new());
        self.relist_all(fs, out);
        self.moved_away = None;
    }

    fn relist_all(&mut self, fs: &mut dyn TreeFs, out: &mut dyn Sink) {
        // Parents before children (a parent's path is a prefix of its children's): a directory the
        // parent's pass finds replaced is dropped before its own pass would list the newcomer.
        let mut wds: Vec<(Vec<u8>, i32)> = self
            .dirs
            .wds()
            .filter_map(|wd| Some((self.dirs.path(wd)?, wd)))
            .collect();
        wds.sort_unstable();
        for (_, wd) in wds {
            if fs.cancelled() {
                return;
            }
            let Some(path) = self.dirs.path(wd) else {
                continue;
            };
            let listing = match self.list_again(fs, wd, &path) {
                Ok(listing) => listing,
                Err(_) => {
                    // Gone while events were lost: its parent's listing reports the deletion.
                    self.unwatch(fs, wd);
                    continue;
                }
            };
            // Watched before it was opened again: its own watch sees the whole listing.
            self.expect_listing(fs, wd, true, listing.reads);
            let mut present: HashMap<Vec<u8>, bool> = HashMap::with_capacity(listing.entries.len());
            for entry in listing.entries {
                let is_dir = self.is_dir_entry(fs, entry.kind, wd, &entry.name);
                if !self.ignored(&join(&path, &entry.name), is_dir) {
                    present.insert(entry.name, is_dir);
                }
            }
            if !self.dirs.contains(wd) {
                continue;
            }
            let subdirs: Vec<(Vec<u8>, i32)> = self
                .dirs
                .subdirs(wd)
                .filter(|(name, _)| present.get(*name) == Some(&true))
                .map(|(name, child)| (name.to_vec(), child))
                .collect();
            // A directory deleted and made again under the same name while events were lost (its
            // IN_IGNORED lost too): the name is the same, the inode is not. Asking the kernel for a
            // watch on what is there now tells: the same wd, or another one (a watch on the newcomer).
            let mut replaced: Vec<Vec<u8>> = Vec::new();
            for (name, child) in subdirs {
                if self.watch_again(fs, wd, &join(&path, &name)) != Some(child) {
                    replaced.push(name);
                }
            }
            // Directories found moved to a place listed earlier left from here.
            if let Some(moved_away) = self.moved_away.as_mut() {
                moved_away.retain(|(parent, name)| {
                    if *parent != wd {
                        return true;
                    }
                    replaced.push(name.clone());
                    false
                });
            }
            if !self.dirs.contains(wd) {
                continue;
            }
            let mut gone: Vec<(Vec<u8>, bool)> = self
                .dirs
                .entries(wd)
                .filter(|(name, entry)| {
                    present.get(*name) != Some(&entry.is_dir) || replaced.iter().any(|r| r == name)
                })
                .map(|(name, entry)| (name.to_vec(), entry.is_dir))
                .collect();
            gone.sort();
            let mut added: Vec<(Vec<u8>, bool)> = present
                .into_iter()
                .filter(|(name, is_dir)| {
                    self.dirs
                        .entry(wd, name)
                        .is_none_or(|e| e.is_dir != *is_dir)
                        || replaced.contains(name)
                })
                .collect();
            added.sort();
            for (name, is_dir) in gone {
                let child = self.dirs.update(wd, &name, |_| Held::default()).subdir;
                if self.options.mask & IN_DELETE != 0 {
                    push_synthetic(
                        out,
                        wd,
                        IN_DELETE | if is_dir { IN_ISDIR } else { 0 },
                        &path,
                        &name,
                    );
                }
                if let Some(child) = child {
                    self.unwatch(fs, child);
                }
            }
            for (name, is_dir) in added {
                if !self.dirs.contains(wd) {
                    break;
                }
                let reported = self.options.mask & IN_CREATE != 0;
                let entry = Entry {
                    is_dir,
                    synthetic_pending: reported,
                };
                self.dirs.set_entry(wd, &name, entry);
                if reported {
                    push_synthetic(
                        out,
                        wd,
                        IN_CREATE | if is_dir { IN_ISDIR } else { 0 },
                        &path,
                        &name,
                    );
                }
                if is_dir {
                    self.add_new_dir(fs, wd, &name, out);
                }
            }
        }
    }
}

/// Appends an event the tree made itself (not read from the kernel).
fn push_synthetic(out: &mut dyn Sink, wd: i32, mask: u32, dir: &[u8], name: &[u8]) {
    let event = RawEvent {
        wd,
        mask,
        cookie: 0,
        len: padded_len(name),
        name,
    };
    out.push(&event, Some(dir), FLAG_SYNTHETIC);
}

mod arena;
mod dirs;
pub mod fs;
mod names;
mod reach;

mod mounts;
pub use mounts::mount_points;

#[cfg(test)]
mod tests;
