//! Recursive trees: which directories are watched under which paths, kept right through creates,
//! renames, moves in and out, deletions and queue overflows. Pure bookkeeping over [`TreeFs`]:
//! unit-tested on synthetic event sequences against a fake file system.
//!
//! Rules (DESIGN.md section 4):
//! - Watch first, then list: what a new directory already holds when its watch is in place is
//!   reported as synthetic `IN_CREATE`s, so `mkdir -p a/b/c && touch a/b/c/f` misses nothing. A real
//!   `IN_CREATE` that repeats a synthetic one is not reported twice.
//! - A directory renamed inside the tree keeps its wd and every path below it changes; one moved out
//!   (an `IN_MOVED_FROM` with no `IN_MOVED_TO` once the kernel queue is drained) loses its watches.
//! - The user's mask is what is reported; the bits the bookkeeping needs are added to the watches.
//! - After `IN_Q_OVERFLOW` the whole tree is listed again and the differences are reported as
//!   synthetic events.

use std::collections::HashMap;

use crate::error::Error;
use crate::event::RawEvent;
use crate::mask::*;
use crate::parse::HEADER_LEN;
use crate::tree_fs::{EntryKind, TreeFs};
use crate::wire::{BatchEncoder, FLAG_REPLACED, FLAG_SYNTHETIC};

/// Bits every tree watch carries for the bookkeeping, whatever the user asked for.
pub const BOOKKEEPING_MASK: u32 =
    IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF;
/// Kernel-status bits that are always reported.
const ALWAYS_REPORTED: u32 = IN_IGNORED | IN_UNMOUNT | IN_Q_OVERFLOW;

/// Decides which paths a tree leaves out (before any watch is added).
pub trait IgnoreRule: Send + std::fmt::Debug {
    /// A root was added (patterns may be relative to it). An error (an ignore file that cannot be
    /// read) is reported; the root is watched all the same.
    fn add_root(&mut self, _root: &[u8]) -> Result<(), Error> {
        Ok(())
    }
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

#[derive(Debug, Clone, Copy)]
struct Entry {
    is_dir: bool,
    /// Reported by a scan; the kernel's own IN_CREATE for it may still be queued.
    synthetic_pending: bool,
}

#[derive(Debug)]
struct Dir {
    path: Vec<u8>,
    parent: Option<i32>,
    name: Vec<u8>,
    entries: HashMap<Vec<u8>, Entry>,
    subdirs: HashMap<Vec<u8>, i32>,
}

/// The watched directories of one or more roots.
#[derive(Debug)]
pub struct Tree {
    options: TreeOptions,
    watch_mask: u32,
    dirs: HashMap<i32, Dir>,
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
}

/// `dir/name`, without doubling a trailing slash.
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(dir.len() + 1 + name.len());
    path.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

fn padded_len(name: &[u8]) -> u32 {
    if name.is_empty() {
        0
    } else {
        ((name.len() + 1).div_ceil(HEADER_LEN) * HEADER_LEN) as u32
    }
}

/// A scan's bookkeeping: whether it reports what it finds, what the watch limit left out, and the
/// watches of directories taken back whose old subdirectories the scan may not find again.
struct Scan<'o> {
    out: Option<&'o mut BatchEncoder>,
    start: Vec<u8>,
    unwatched: u64,
    stale: Vec<i32>,
    /// Directories the scan watched at a place it did not start from, to be listed too.
    adopted: Vec<i32>,
}

/// What `inotify_add_watch` gave for a directory.
enum Watched {
    /// A watch the tree did not hold: the directory is in the tree now.
    New(i32),
    /// A watch the tree holds already, for this inode somewhere else.
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
            dirs: HashMap::new(),
            pending_moves: Vec::new(),
            rescan: false,
            moved_away: None,
            unmounted: Vec::new(),
            reports: Vec::new(),
        }
    }

    /// Number of watched directories.
    pub fn watch_count(&self) -> usize {
        self.dirs.len()
    }

    /// The path a wd reports under.
    pub fn path_of(&self, wd: i32) -> Option<&[u8]> {
        self.dirs.get(&wd).map(|d| d.path.as_slice())
    }

    /// The wd of a watched directory, by path (a walk from the roots; for tests and diagnostics).
    pub fn wd_of(&self, path: &[u8]) -> Option<i32> {
        self.dirs
            .iter()
            .find(|(_, d)| d.path == path)
            .map(|(wd, _)| *wd)
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

    /// Watches `path` and everything below it. Its present content is not reported (it is the
    /// starting picture); a [`TreeReport::RootReady`] or [`TreeReport::RootFailed`] says how it went.
    pub fn add_root(&mut self, fs: &mut dyn TreeFs, path: &[u8]) {
        let mut root = path.to_vec();
        while root.len() > 1 && root.ends_with(b"/") {
            root.pop();
        }
        if let Some(Err(error)) = self
            .options
            .ignore
            .as_mut()
            .map(|rule| rule.add_root(&root))
        {
            self.reports.push(TreeReport::IgnoreFileRefused {
                path: root.clone(),
                error,
            });
        }
        match self.watch_dir(fs, &root, None, b"") {
            Ok(Watched::New(wd)) => {
                let mut scan = Scan {
                    out: None,
                    start: root.clone(),
                    unwatched: 0,
                    stale: Vec::new(),
                    adopted: Vec::new(),
                };
                self.scan(fs, wd, &mut scan);
                self.finish_scan(fs, scan);
                self.reports.push(TreeReport::RootReady { path: root });
            }
            Ok(Watched::Known(_)) => self.reports.push(TreeReport::RootReady { path: root }),
            // Not even the root could be watched: the limit, with what the root would need.
            Err(Error::Sys { errno, .. }) if errno == crate::sys::ENOSPC => {
                let watched = self.dirs.len() as u64;
                let needed = watched + 1 + count_dirs(fs, &root);
                self.reports.push(TreeReport::WatchLimit {
                    path: root.clone(),
                    needed,
                    watched,
                });
                self.reports.push(TreeReport::RootReady { path: root });
            }
            Err(error) => self
                .reports
                .push(TreeReport::RootFailed { path: root, error }),
        }
    }

    /// Adds a watch; [`Watched::Known`] when the kernel says the inode is already watched (a
    /// symlink loop, a bind mount, a root inside another root, a directory moved back in).
    fn watch_dir(
        &mut self,
        fs: &mut dyn TreeFs,
        path: &[u8],
        parent: Option<i32>,
        name: &[u8],
    ) -> Result<Watched, Error> {
        // A root the user named as a symlink is followed; symlinks met inside are not (unless asked).
        let mask = match parent {
            None => self.watch_mask & !IN_DONT_FOLLOW,
            Some(_) => self.watch_mask,
        };
        let wd = fs.add_watch(path, mask)?;
        if self.dirs.contains_key(&wd) {
            return Ok(Watched::Known(wd));
        }
        self.dirs.insert(
            wd,
            Dir {
                path: path.to_vec(),
                parent,
                name: name.to_vec(),
                entries: HashMap::new(),
                subdirs: HashMap::new(),
            },
        );
        fs.watches_changed(self.dirs.len());
        Ok(Watched::New(wd))
    }

    fn is_dir_entry(&self, fs: &mut dyn TreeFs, kind: EntryKind, path: &[u8]) -> bool {
        match kind {
            EntryKind::Dir => true,
            EntryKind::Symlink => self.options.follow_symlinks && fs.is_dir_following_links(path),
            EntryKind::File => false,
        }
    }

    /// Lists `start` and everything below it, watching each directory before listing it.
    fn scan(&mut self, fs: &mut dyn TreeFs, start: i32, scan: &mut Scan<'_>) {
        let mut stack = vec![start];
        while let Some(wd) = stack.pop().or_else(|| scan.adopted.pop()) {
            if fs.cancelled() {
                return;
            }
            let Some(dir_path) = self.dirs.get(&wd).map(|d| d.path.clone()) else {
                continue;
            };
            let listing = match fs.list_dir(&dir_path) {
                Ok(listing) => listing,
                Err(error) => {
                    self.reports.push(TreeReport::Skipped {
                        path: dir_path,
                        error,
                    });
                    continue;
                }
            };
            for entry in listing {
                let child_path = join(&dir_path, &entry.name);
                let is_dir = self.is_dir_entry(fs, entry.kind, &child_path);
                if self.ignored(&child_path, is_dir) {
                    continue;
                }
                let reported = scan.out.is_some() && self.options.mask & IN_CREATE != 0;
                if let Some(dir) = self.dirs.get_mut(&wd) {
                    dir.entries.insert(
                        entry.name.clone(),
                        Entry {
                            is_dir,
                            synthetic_pending: reported,
                        },
                    );
                }
                if reported {
                    if let Some(out) = scan.out.as_deref_mut() {
                        let mask = IN_CREATE | if is_dir { IN_ISDIR } else { 0 };
                        push_synthetic(out, wd, mask, &dir_path, &entry.name);
                    }
                }
                if is_dir {
                    if let Some(child) = self.watch_child(fs, wd, &child_path, &entry.name, scan) {
                        stack.push(child);
                    }
                }
            }
        }
    }

    /// Watches a subdirectory found by a scan or an event; reports why not when it cannot.
    fn watch_child(
        &mut self,
        fs: &mut dyn TreeFs,
        parent: i32,
        path: &[u8],
        name: &[u8],
        scan: &mut Scan<'_>,
    ) -> Option<i32> {
        if !self.options.recursive
            || self
                .dirs
                .get(&parent)
                .is_some_and(|d| d.subdirs.contains_key(name))
        {
            return None;
        }
        match self.watch_dir(fs, path, Some(parent), name) {
            Ok(Watched::New(child)) => {
                if let Some(dir) = self.dirs.get_mut(&parent) {
                    dir.subdirs.insert(name.to_vec(), child);
                }
                Some(child)
            }
            Ok(Watched::Known(known)) => self.take_back(fs, known, parent, path, name, scan),
            Err(Error::Sys { errno, .. }) if errno == crate::sys::ENOSPC => {
                scan.unwatched += 1 + count_dirs(fs, path);
                None
            }
            Err(error) => {
                if matches!(error, Error::Sys { errno, .. } if errno == crate::sys::ENOENT || errno == crate::sys::ENOTDIR)
                {
                    // Not a directory there any more: whatever comes under the name later is new.
                    if let Some(dir) = self.dirs.get_mut(&parent) {
                        dir.entries.remove(name);
                    }
                }
                self.reports.push(TreeReport::Skipped {
                    path: path.to_vec(),
                    error,
                });
                None
            }
        }
    }

    /// A directory the kernel says is watched already as `wd`, found at `path`. It moved here when
    /// it lies in a subtree moved away whose `IN_MOVED_TO` has not come (moved out of the tree, so
    /// its move back in has another cookie), or when its old place no longer leads to it (a scan
    /// that met it before the events of its move were read, or after they were lost). Its watches were
    /// kept by the kernel, but its events since it left were dropped, so its books are stale: it is
    /// attached here afresh and listed as new by the scan, reporting what it holds; the old watches
    /// below it that the scan does not find again are removed when the scan ends. Anything else (a
    /// loop through a followed symlink, a bind mount) is the same directory seen twice, and stays
    /// where it was first watched.
    fn take_back(
        &mut self,
        fs: &mut dyn TreeFs,
        wd: i32,
        parent: i32,
        path: &[u8],
        name: &[u8],
        scan: &mut Scan<'_>,
    ) -> Option<i32> {
        let mut newcomer = None;
        if !self.pending_moves.is_empty() && self.in_pending_move(wd) {
            self.pending_moves.retain(|(_, moved)| *moved != wd);
        } else {
            let (old_path, old_parent, old_name) = self
                .dirs
                .get(&wd)
                .and_then(|d| Some((d.path.clone(), d.parent?, d.name.clone())))?;
            // Asking for a watch at the old path tells: the same wd (still there too), or another
            // directory in its place (`mkdir a; mv a b; mkdir a` read late files the second `a`
            // under `b`), which the tree did not hold. After an overflow the old parent's pass
            // reports and watches that one; otherwise the scan lists it at the old place.
            let other = match fs.add_watch(&old_path, self.watch_mask) {
                Ok(same) if same == wd => return None,
                Ok(other) if !self.dirs.contains_key(&other) => Some(other),
                _ => None,
            };
            match self.moved_away.as_mut() {
                Some(moved_away) => {
                    moved_away.push((old_parent, old_name));
                    if let Some(other) = other {
                        fs.rm_watch(other);
                    }
                }
                None => newcomer = other.map(|other| (other, old_parent, old_path, old_name)),
            }
        }
        scan.stale
            .extend(self.forget(wd).into_iter().filter(|old| *old != wd));
        if let Some((other, old_parent, old_path, old_name)) = newcomer {
            self.attach(other, old_parent, &old_path, &old_name);
            scan.adopted.push(other);
        }
        self.attach(wd, parent, path, name);
        fs.watches_changed(self.dirs.len());
        Some(wd)
    }

    /// Files `wd` as a new, not yet listed, subdirectory `name` of `parent`.
    fn attach(&mut self, wd: i32, parent: i32, path: &[u8], name: &[u8]) {
        self.dirs.insert(
            wd,
            Dir {
                path: path.to_vec(),
                parent: Some(parent),
                name: name.to_vec(),
                entries: HashMap::new(),
                subdirs: HashMap::new(),
            },
        );
        if let Some(dir) = self.dirs.get_mut(&parent) {
            dir.subdirs.insert(name.to_vec(), wd);
        }
    }

    fn finish_scan(&mut self, fs: &mut dyn TreeFs, scan: Scan<'_>) {
        for old in scan.stale {
            if !self.dirs.contains_key(&old) {
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
    fn add_new_dir(
        &mut self,
        fs: &mut dyn TreeFs,
        parent: i32,
        name: &[u8],
        out: &mut BatchEncoder,
    ) {
        let Some(path) = self.dirs.get(&parent).map(|d| join(&d.path, name)) else {
            return;
        };
        let mut scan = Scan {
            out: Some(out),
            start: path.clone(),
            unwatched: 0,
            stale: Vec::new(),
            adopted: Vec::new(),
        };
        if let Some(child) = self.watch_child(fs, parent, &path, name, &mut scan) {
            self.scan(fs, child, &mut scan);
        }
        self.finish_scan(fs, scan);
    }

    /// Routes one kernel event: reports it (if the user's mask wants it and it is not a repeat of a
    /// synthetic event), then keeps the bookkeeping.
    pub fn route(&mut self, fs: &mut dyn TreeFs, event: &RawEvent<'_>, out: &mut BatchEncoder) {
        if event.mask & IN_Q_OVERFLOW != 0 {
            out.push(event, None, 0);
            self.rescan = true;
            return;
        }
        let Some(dir) = self.dirs.get(&event.wd) else {
            return; // a watch this tree dropped (moved out, or forgotten): its last events too
        };
        if !self.pending_moves.is_empty() && self.in_pending_move(event.wd) {
            // Below a directory moved away whose IN_MOVED_TO has not come: the kernel queues a rename's
            // two events together, so this subtree has left the tree, and its old path would be a lie.
            return;
        }
        let mask = event.mask;
        let is_dir = mask & IN_ISDIR != 0;
        let name = event.name;
        if !name.is_empty()
            && self.options.ignore.is_some()
            && self.ignored(&join(&dir.path, name), is_dir)
        {
            return;
        }
        let mut report = self.wants(mask);
        if mask & IN_CREATE != 0 {
            if let Some(entry) = self
                .dirs
                .get_mut(&event.wd)
                .and_then(|d| d.entries.get_mut(name))
            {
                if entry.synthetic_pending {
                    entry.synthetic_pending = false;
                    report = false;
                }
            }
        }
        if report {
            if let Some(dir) = self.dirs.get(&event.wd) {
                let replaced = mask & IN_MOVED_TO != 0 && dir.entries.contains_key(name);
                out.push(
                    event,
                    Some(&dir.path),
                    if replaced { FLAG_REPLACED } else { 0 },
                );
            }
        }
        self.keep_books(fs, event, out);
    }

    fn keep_books(&mut self, fs: &mut dyn TreeFs, event: &RawEvent<'_>, out: &mut BatchEncoder) {
        let (wd, mask, name) = (event.wd, event.mask, event.name);
        if mask & IN_UNMOUNT != 0 {
            if self.dirs.contains_key(&wd) && !self.unmounted.contains(&wd) {
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
            // are removed too (EINVAL for those the kernel dropped already), never leaked. Its name
            // leaves its parent's entries: what is found there later (a directory made again while
            // the parent's IN_DELETE was lost, the directory an unmount uncovered) is new.
            if let Some((Some(parent), name)) =
                self.dirs.get(&wd).map(|d| (d.parent, d.name.clone()))
            {
                if let Some(p) = self.dirs.get_mut(&parent) {
                    if p.subdirs.get(&name) == Some(&wd) {
                        p.entries.remove(&name);
                    }
                }
            }
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
                && self
                    .dirs
                    .get(&wd)
                    .is_some_and(|d| fs.is_dir_following_links(&join(&d.path, name))));
        let Some(dir) = self.dirs.get_mut(&wd) else {
            return;
        };
        if mask & (IN_CREATE | IN_MOVED_TO) != 0 {
            let entry = Entry {
                is_dir,
                synthetic_pending: false,
            };
            if mask & IN_MOVED_TO != 0 {
                // Moved over what the name held: that is gone (a directory's watch with it), unless
                // a scan that ran after the move already watches the newcomer under this name.
                dir.entries.insert(name.to_vec(), entry);
                if let Some(&held) = dir.subdirs.get(name) {
                    let path = join(&dir.path, name);
                    if fs.add_watch(&path, self.watch_mask).ok() == Some(held) {
                        return;
                    }
                    if let Some(replaced) =
                        self.dirs.get_mut(&wd).and_then(|d| d.subdirs.remove(name))
                    {
                        self.unwatch(fs, replaced);
                    }
                }
            } else {
                dir.entries.entry(name.to_vec()).or_insert(entry);
            }
            let Some(dir) = self.dirs.get(&wd) else {
                return;
            };
            if !is_dir || dir.subdirs.contains_key(name) {
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
            dir.entries.remove(name);
            let Some(child) = dir.subdirs.remove(name) else {
                return;
            };
            if mask & IN_MOVED_FROM != 0 {
                self.pending_moves.push((event.cookie, child));
            } else {
                self.unwatch(fs, child);
            }
        }
    }

    /// Whether `wd` is, or lies below, a directory moved away and not (yet) moved back in.
    fn in_pending_move(&self, wd: i32) -> bool {
        let mut current = Some(wd);
        while let Some(wd) = current {
            if self.pending_moves.iter().any(|(_, moved)| *moved == wd) {
                return true;
            }
            current = self.dirs.get(&wd).and_then(|d| d.parent);
        }
        false
    }

    /// A directory renamed inside the tree: same wd, new parent and name, new paths below.
    fn reattach(&mut self, child: i32, parent: i32, name: &[u8]) {
        let Some(parent_path) = self.dirs.get_mut(&parent).map(|p| {
            p.subdirs.insert(name.to_vec(), child);
            p.path.clone()
        }) else {
            return;
        };
        if let Some(dir) = self.dirs.get_mut(&child) {
            dir.parent = Some(parent);
            dir.name = name.to_vec();
            dir.path = join(&parent_path, name);
        }
        let mut stack = vec![child];
        while let Some(wd) = stack.pop() {
            let Some((path, subdirs)) = self.dirs.get(&wd).map(|d| {
                (
                    d.path.clone(),
                    d.subdirs
                        .iter()
                        .map(|(n, w)| (n.clone(), *w))
                        .collect::<Vec<_>>(),
                )
            }) else {
                continue;
            };
            for (sub_name, sub) in subdirs {
                if let Some(d) = self.dirs.get_mut(&sub) {
                    d.path = join(&path, &sub_name);
                    stack.push(sub);
                }
            }
        }
    }

    /// Drops a directory and everything below it from the tree; returns their wds.
    fn forget(&mut self, wd: i32) -> Vec<i32> {
        if let Some((Some(parent), name)) = self.dirs.get(&wd).map(|d| (d.parent, d.name.clone())) {
            if let Some(p) = self.dirs.get_mut(&parent) {
                if p.subdirs.get(&name) == Some(&wd) {
                    p.subdirs.remove(&name);
                }
            }
        }
        let mut forgotten = Vec::new();
        let mut stack = vec![wd];
        while let Some(wd) = stack.pop() {
            if let Some(dir) = self.dirs.remove(&wd) {
                stack.extend(dir.subdirs.values().copied());
                forgotten.push(wd);
            }
        }
        forgotten
    }

    /// Drops a subtree that left the tree but still exists, removing its kernel watches.
    fn unwatch(&mut self, fs: &mut dyn TreeFs, wd: i32) {
        for gone in self.forget(wd) {
            fs.rm_watch(gone);
        }
    }

    /// Called once the kernel queue is drained: directories moved away with no `IN_MOVED_TO` in
    /// the tree have left it; after an overflow, the tree is listed again and what changed reported.
    pub fn settle(&mut self, fs: &mut dyn TreeFs, out: &mut BatchEncoder) {
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

    fn rescan_all(&mut self, fs: &mut dyn TreeFs, out: &mut BatchEncoder) {
        self.moved_away = Some(Vec::new());
        self.relist_all(fs, out);
        self.moved_away = None;
    }

    fn relist_all(&mut self, fs: &mut dyn TreeFs, out: &mut BatchEncoder) {
        // Parents before children (a parent's path is a prefix of its children's): a directory the
        // parent's pass finds replaced is dropped before its own pass would list the newcomer.
        let mut wds: Vec<(Vec<u8>, i32)> = self
            .dirs
            .iter()
            .map(|(wd, d)| (d.path.clone(), *wd))
            .collect();
        wds.sort_unstable();
        for (_, wd) in wds {
            if fs.cancelled() {
                return;
            }
            let Some(path) = self.dirs.get(&wd).map(|d| d.path.clone()) else {
                continue;
            };
            let listing = match fs.list_dir(&path) {
                Ok(listing) => listing,
                Err(_) => {
                    // Gone while events were lost: its parent's listing reports the deletion.
                    self.unwatch(fs, wd);
                    continue;
                }
            };
            let mut present: HashMap<Vec<u8>, bool> = HashMap::with_capacity(listing.len());
            for entry in listing {
                let child_path = join(&path, &entry.name);
                let is_dir = self.is_dir_entry(fs, entry.kind, &child_path);
                if !self.ignored(&child_path, is_dir) {
                    present.insert(entry.name, is_dir);
                }
            }
            let Some(dir) = self.dirs.get(&wd) else {
                continue;
            };
            let subdirs: Vec<(Vec<u8>, i32)> = dir
                .subdirs
                .iter()
                .filter(|(name, _)| present.get(*name) == Some(&true))
                .map(|(name, child)| (name.clone(), *child))
                .collect();
            // A directory deleted and made again under the same name while events were lost (its
            // IN_IGNORED lost too): the name is the same, the inode is not. Asking the kernel for a
            // watch on the path tells: the same wd, or another one (a watch on the newcomer).
            let mut replaced: Vec<Vec<u8>> = Vec::new();
            for (name, child) in subdirs {
                if fs.add_watch(&join(&path, &name), self.watch_mask).ok() != Some(child) {
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
            let Some(dir) = self.dirs.get(&wd) else {
                continue;
            };
            let mut gone: Vec<(Vec<u8>, bool)> = dir
                .entries
                .iter()
                .filter(|(name, entry)| {
                    present.get(*name) != Some(&entry.is_dir) || replaced.contains(name)
                })
                .map(|(name, entry)| (name.clone(), entry.is_dir))
                .collect();
            gone.sort();
            let mut added: Vec<(Vec<u8>, bool)> = present
                .into_iter()
                .filter(|(name, is_dir)| {
                    dir.entries.get(name).is_none_or(|e| e.is_dir != *is_dir)
                        || replaced.contains(name)
                })
                .collect();
            added.sort();
            for (name, is_dir) in gone {
                let child = self.dirs.get_mut(&wd).and_then(|d| {
                    d.entries.remove(&name);
                    d.subdirs.remove(&name)
                });
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
                let Some(dir) = self.dirs.get_mut(&wd) else {
                    break;
                };
                let reported = self.options.mask & IN_CREATE != 0;
                dir.entries.insert(
                    name.clone(),
                    Entry {
                        is_dir,
                        synthetic_pending: reported,
                    },
                );
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
fn push_synthetic(out: &mut BatchEncoder, wd: i32, mask: u32, dir: &[u8], name: &[u8]) {
    let event = RawEvent {
        wd,
        mask,
        cookie: 0,
        len: padded_len(name),
        name,
    };
    out.push(&event, Some(dir), FLAG_SYNTHETIC);
}

/// How many directories lie below `path` (for the watch limit's `needed`), listing without watching
/// and without following symlinks (with no watches there is no loop detection).
fn count_dirs(fs: &mut dyn TreeFs, path: &[u8]) -> u64 {
    let mut count = 0;
    let mut stack = vec![path.to_vec()];
    while let Some(dir) = stack.pop() {
        if fs.cancelled() {
            break;
        }
        let Ok(listing) = fs.list_dir(&dir) else {
            continue;
        };
        for entry in listing {
            if entry.kind == EntryKind::Dir {
                count += 1;
                stack.push(join(&dir, &entry.name));
            }
        }
    }
    count
}

#[path = "tree_mounts.rs"]
mod mounts;
pub use mounts::mount_points;

#[cfg(test)]
#[path = "tree_tests.rs"]
mod tests;
