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
//! - Directories are reached from their root's descriptor, never by path string (see
//!   [`crate::tree_fs`]); a root that is renamed is followed there (`IN_MOVE_SELF` on its watch),
//!   and every path below it changes with it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::Error;
use crate::event::RawEvent;
use crate::mask::*;
use crate::parse::HEADER_LEN;
use crate::tree_fs::{DirAt, EntryKind, ListedEntry, OpenDir, RootHandle, TreeFs};
use crate::wire::{BatchEncoder, FLAG_REPLACED, FLAG_SYNTHETIC};

/// Bits every tree watch carries for the bookkeeping, whatever the user asked for (`IN_MOVE_SELF`
/// for a root: nothing else tells the tree that it was renamed).
pub const BOOKKEEPING_MASK: u32 =
    IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF;
/// Kernel-status bits that are always reported.
const ALWAYS_REPORTED: u32 = IN_IGNORED | IN_UNMOUNT | IN_Q_OVERFLOW;

/// Decides which paths a tree leaves out (before any watch is added).
pub trait IgnoreRule: Send + std::fmt::Debug {
    /// A root was added (patterns may be relative to it).
    fn add_root(&mut self, _root: &[u8]) {}
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
    /// Each root's handle, by the root's wd: every directory below it is opened from it.
    roots: HashMap<i32, Arc<RootHandle>>,
    /// A root's move is also reported as an `IN_MOVED_FROM`/`IN_MOVED_TO` pair of its old and new
    /// path (for the per-path changes of `watch()`, which pair them into one rename).
    root_moves_as_renames: bool,
    /// Directories moved away whose `IN_MOVED_TO` has not been seen: (cookie, wd).
    pending_moves: Vec<(u32, i32)>,
    rescan: bool,
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

/// Where the paths below a root at `root_path` start to be relative to it.
fn rel_start(root_path: &[u8]) -> usize {
    if root_path.ends_with(b"/") {
        root_path.len()
    } else {
        root_path.len() + 1
    }
}

/// `path` relative to its root, given [`rel_start`] of the root (empty for the root itself).
fn rel_of(path: &[u8], start: usize) -> &[u8] {
    path.get(start..).unwrap_or_default()
}

/// `rel/name`, or `name` below the root itself.
fn join_rel(rel: &[u8], name: &[u8]) -> Vec<u8> {
    if rel.is_empty() {
        name.to_vec()
    } else {
        join(rel, name)
    }
}

/// A path without its trailing slashes (but `/` itself).
fn trimmed(path: &[u8]) -> Vec<u8> {
    let mut path = path.to_vec();
    while path.len() > 1 && path.ends_with(b"/") {
        path.pop();
    }
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
/// directories still to watch and list (each as its parent's wd and its name).
struct Scan<'o> {
    out: Option<&'o mut BatchEncoder>,
    start: Vec<u8>,
    unwatched: u64,
    pending: Vec<(i32, Vec<u8>)>,
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
            roots: HashMap::new(),
            root_moves_as_renames: false,
            pending_moves: Vec::new(),
            rescan: false,
            reports: Vec::new(),
        }
    }

    /// Also reports a root's move as an `IN_MOVED_FROM`/`IN_MOVED_TO` pair (cookie 0, no name) of
    /// its old and new path, which per-path changes pair into one rename.
    pub fn with_root_moves_as_renames(mut self) -> Self {
        self.root_moves_as_renames = true;
        self
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
        self.rescan || !self.pending_moves.is_empty()
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
        let opened = fs.open_root(&trimmed(path));
        self.add_opened_root(fs, path, opened);
    }

    /// [`Tree::add_root`] with the root already opened (when it was given, so that what it means
    /// does not depend on when the scan runs). Reports name it as `given`; events, by the absolute
    /// path it was opened at.
    pub fn add_opened_root(
        &mut self,
        fs: &mut dyn TreeFs,
        given: &[u8],
        opened: crate::Result<RootHandle>,
    ) {
        let given = trimmed(given);
        let handle = match opened {
            Ok(handle) => Arc::new(handle),
            Err(error) => {
                self.reports
                    .push(TreeReport::RootFailed { path: given, error });
                return;
            }
        };
        let root = trimmed(handle.path());
        if let Some(rule) = self.options.ignore.as_mut() {
            rule.add_root(&root);
        }
        let at = DirAt {
            root: &handle,
            rel: b"",
            path: &root,
        };
        let dir = match fs.open_dir(at, true, true) {
            Ok(dir) => dir,
            Err(error) => {
                self.reports
                    .push(TreeReport::RootFailed { path: given, error });
                return;
            }
        };
        match self.watch_opened(fs, &dir, None, b"") {
            Ok(Some(wd)) => {
                self.roots.insert(wd, Arc::clone(&handle));
                let listing = fs.list_dir(&dir);
                drop(dir);
                let mut scan = Scan {
                    out: None,
                    start: given.clone(),
                    unwatched: 0,
                    pending: Vec::new(),
                };
                self.take_listing(fs, wd, &root, listing, &mut scan);
                self.scan(fs, &mut scan);
                self.finish_scan(&scan);
                self.reports.push(TreeReport::RootReady { path: given });
            }
            Ok(None) => self.reports.push(TreeReport::RootReady { path: given }),
            // Not even the root could be watched: the limit, with what the root would need.
            Err(Error::Sys { errno, .. }) if errno == crate::sys::ENOSPC => {
                drop(dir);
                let watched = self.dirs.len() as u64;
                let needed = watched + 1 + count_dirs(fs, at);
                self.reports.push(TreeReport::WatchLimit {
                    path: given.clone(),
                    needed,
                    watched,
                });
                self.reports.push(TreeReport::RootReady { path: given });
            }
            Err(error) => self
                .reports
                .push(TreeReport::RootFailed { path: given, error }),
        }
    }

    /// Adds a watch on a directory opened; `Ok(None)` when the kernel says the inode is already
    /// watched (a symlink loop, a bind mount, a root inside another root).
    fn watch_opened(
        &mut self,
        fs: &mut dyn TreeFs,
        dir: &OpenDir<'_>,
        parent: Option<i32>,
        name: &[u8],
    ) -> Result<Option<i32>, Error> {
        // A root the user named as a symlink is followed; symlinks met inside are not (unless asked).
        let mask = match parent {
            None => self.watch_mask & !IN_DONT_FOLLOW,
            Some(_) => self.watch_mask,
        };
        let wd = fs.add_watch(dir, mask)?;
        if self.dirs.contains_key(&wd) {
            return Ok(None);
        }
        self.dirs.insert(
            wd,
            Dir {
                path: dir.path().to_vec(),
                parent,
                name: name.to_vec(),
                entries: HashMap::new(),
                subdirs: HashMap::new(),
            },
        );
        fs.watches_changed(self.dirs.len());
        Ok(Some(wd))
    }

    /// The root a watched directory was reached from, and [`rel_start`] of its paths.
    fn root_of(&self, wd: i32) -> Option<(Arc<RootHandle>, usize)> {
        let mut current = wd;
        // Bounded: the parent links of the books never loop, and a bug must not hang the reader.
        for _ in 0..=self.dirs.len() {
            match self.dirs.get(&current)?.parent {
                Some(parent) => current = parent,
                None => {
                    let handle = Arc::clone(self.roots.get(&current)?);
                    let start = rel_start(&self.dirs.get(&current)?.path);
                    return Some((handle, start));
                }
            }
        }
        None
    }

    /// Opens `name` in the watched directory `parent`, from the root's descriptor.
    fn open_child<'p>(
        &self,
        fs: &mut dyn TreeFs,
        parent: i32,
        path: &'p [u8],
        for_listing: bool,
    ) -> Option<crate::Result<OpenDir<'p>>> {
        let (root, start) = self.root_of(parent)?;
        let at = DirAt {
            root: &root,
            rel: rel_of(path, start),
            path,
        };
        Some(fs.open_dir(at, self.options.follow_symlinks, for_listing))
    }

    /// Whether `name` in the watched directory `parent` is a link to a directory (when links are
    /// followed).
    fn is_dir_behind_link(&self, fs: &mut dyn TreeFs, parent: i32, name: &[u8]) -> bool {
        let (Some(dir), Some((root, start))) = (self.dirs.get(&parent), self.root_of(parent))
        else {
            return false;
        };
        let path = join(&dir.path, name);
        fs.is_dir_following_links(DirAt {
            root: &root,
            rel: rel_of(&path, start),
            path: &path,
        })
    }

    fn is_dir_entry(&self, fs: &mut dyn TreeFs, kind: EntryKind, parent: i32, name: &[u8]) -> bool {
        match kind {
            EntryKind::Dir => true,
            EntryKind::Symlink => {
                self.options.follow_symlinks && self.is_dir_behind_link(fs, parent, name)
            }
            EntryKind::File => false,
        }
    }

    /// Watches and lists the directories `scan` holds, and everything below them.
    fn scan(&mut self, fs: &mut dyn TreeFs, scan: &mut Scan<'_>) {
        while let Some((parent, name)) = scan.pending.pop() {
            if fs.cancelled() {
                return;
            }
            self.watch_child(fs, parent, &name, scan);
        }
    }

    /// Records what a watched directory holds (reporting it, when the scan reports), and queues its
    /// subdirectories in `scan`.
    fn take_listing(
        &mut self,
        fs: &mut dyn TreeFs,
        wd: i32,
        dir_path: &[u8],
        listing: crate::Result<Vec<ListedEntry>>,
        scan: &mut Scan<'_>,
    ) {
        let listing = match listing {
            Ok(listing) => listing,
            Err(error) => {
                self.reports.push(TreeReport::Skipped {
                    path: dir_path.to_vec(),
                    error,
                });
                return;
            }
        };
        for entry in listing {
            let is_dir = self.is_dir_entry(fs, entry.kind, wd, &entry.name);
            if self.options.ignore.is_some() && self.ignored(&join(dir_path, &entry.name), is_dir) {
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
                    push_synthetic(out, wd, mask, dir_path, &entry.name);
                }
            }
            if is_dir {
                scan.pending.push((wd, entry.name));
            }
        }
    }

    /// Watches a subdirectory found by a scan or an event, then lists it: opened from its root
    /// without following links, watched as the very inode opened, listed through the same
    /// descriptor (watch first, then list). Reports why not when it cannot.
    fn watch_child(&mut self, fs: &mut dyn TreeFs, parent: i32, name: &[u8], scan: &mut Scan<'_>) {
        let path = match self.dirs.get(&parent) {
            Some(dir) if self.options.recursive && !dir.subdirs.contains_key(name) => {
                join(&dir.path, name)
            }
            _ => return,
        };
        let dir = match self.open_child(fs, parent, &path, true) {
            Some(Ok(dir)) => dir,
            Some(Err(error)) => {
                self.reports.push(TreeReport::Skipped { path, error });
                return;
            }
            None => return,
        };
        let child = match self.watch_opened(fs, &dir, Some(parent), name) {
            Ok(Some(child)) => child,
            Ok(None) => return,
            Err(Error::Sys { errno, .. }) if errno == crate::sys::ENOSPC => {
                drop(dir);
                if let Some((root, start)) = self.root_of(parent) {
                    let at = DirAt {
                        root: &root,
                        rel: rel_of(&path, start),
                        path: &path,
                    };
                    scan.unwatched += 1 + count_dirs(fs, at);
                }
                return;
            }
            Err(error) => {
                self.reports.push(TreeReport::Skipped { path, error });
                return;
            }
        };
        if let Some(dir) = self.dirs.get_mut(&parent) {
            dir.subdirs.insert(name.to_vec(), child);
        }
        let listing = fs.list_dir(&dir);
        drop(dir);
        self.take_listing(fs, child, &path, listing, scan);
    }

    fn finish_scan(&mut self, scan: &Scan<'_>) {
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
            start: path,
            unwatched: 0,
            pending: vec![(parent, name.to_vec())],
        };
        self.scan(fs, &mut scan);
        self.finish_scan(&scan);
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
        if event.mask & IN_MOVE_SELF != 0 && dir.parent.is_none() {
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
        if mask & IN_IGNORED != 0 {
            // The kernel dropped this watch, not those below it: a directory moved away from under
            // it before it was deleted (the move lost in an overflow) still holds its watch. They
            // are removed too (EINVAL for those the kernel dropped already), never leaked.
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
        let Some(dir) = self.dirs.get_mut(&wd) else {
            return;
        };
        if mask & (IN_CREATE | IN_MOVED_TO) != 0 {
            let entry = Entry {
                is_dir,
                synthetic_pending: false,
            };
            if mask & IN_MOVED_TO != 0 {
                // Moved over what the name held: that is gone (a directory's watch with it).
                dir.entries.insert(name.to_vec(), entry);
                if let Some(replaced) = dir.subdirs.remove(name) {
                    self.unwatch(fs, replaced);
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
                self.roots.remove(&wd);
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
        if std::mem::take(&mut self.rescan) {
            self.rescan_all(fs, out);
        }
    }

    /// Lists a watched directory again (a re-scan), opened from its root as a scan does.
    fn list_again(
        &self,
        fs: &mut dyn TreeFs,
        wd: i32,
        path: &[u8],
    ) -> crate::Result<Vec<ListedEntry>> {
        let Some((root, start)) = self.root_of(wd) else {
            return Err(Error::NotWatched { wd });
        };
        let at = DirAt {
            root: &root,
            rel: rel_of(path, start),
            path,
        };
        let dir = fs.open_dir(at, self.options.follow_symlinks, true)?;
        fs.list_dir(&dir)
    }

    /// The wd the kernel gives the directory now at `path` in the watched directory `parent`.
    fn watch_again(&self, fs: &mut dyn TreeFs, parent: i32, path: &[u8]) -> Option<i32> {
        let dir = self.open_child(fs, parent, path, false)?.ok()?;
        fs.add_watch(&dir, self.watch_mask).ok()
    }

    /// A root moved (`IN_MOVE_SELF` on its watch; no parent of it is watched). Renamed within the
    /// directory it was in, the tree follows it: every path below it changes with it, and the event
    /// is reported under the new path. Moved elsewhere (no descriptor is held on it to say where),
    /// it stops being watched, with [`Error::RootMoved`], rather than report paths that no longer
    /// lead to it.
    fn root_moved(&mut self, fs: &mut dyn TreeFs, event: &RawEvent<'_>, out: &mut BatchEncoder) {
        let wd = event.wd;
        let (Some(handle), Some(old)) = (
            self.roots.get(&wd).map(Arc::clone),
            self.dirs.get(&wd).map(|d| d.path.clone()),
        ) else {
            return;
        };
        let new = match fs.root_path(&handle) {
            Ok(Some(new)) => new,
            found => {
                if self.wants(event.mask) {
                    out.push(event, Some(&old), 0);
                }
                if self.root_moves_as_renames {
                    // An unpaired first half: the root left what is watched (a delete).
                    push_root_move_half(out, wd, IN_MOVED_FROM, &old);
                }
                let error = found
                    .err()
                    .unwrap_or(Error::RootMoved { path: old.clone() });
                self.unwatch(fs, wd);
                self.reports.push(TreeReport::Skipped { path: old, error });
                return;
            }
        };
        if new != old {
            self.roots.insert(wd, Arc::new(handle.moved_to(&new)));
            if let Some(rule) = self.options.ignore.as_mut() {
                rule.move_root(&old, &new);
            }
            let subdirs: Vec<(Vec<u8>, i32)> = match self.dirs.get_mut(&wd) {
                Some(root) => {
                    root.path.clone_from(&new);
                    root.subdirs.iter().map(|(n, w)| (n.clone(), *w)).collect()
                }
                None => Vec::new(),
            };
            for (name, child) in subdirs {
                self.reattach(child, wd, &name);
            }
        }
        if self.wants(event.mask) {
            out.push(event, Some(&new), 0);
        }
        if self.root_moves_as_renames && new != old {
            push_root_move_half(out, wd, IN_MOVED_FROM, &old);
            push_root_move_half(out, wd, IN_MOVED_TO, &new);
        }
    }

    fn rescan_all(&mut self, fs: &mut dyn TreeFs, out: &mut BatchEncoder) {
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
            let listing = match self.list_again(fs, wd, &path) {
                Ok(listing) => listing,
                Err(_) => {
                    // Gone while events were lost: its parent's listing reports the deletion.
                    self.unwatch(fs, wd);
                    continue;
                }
            };
            let mut present: HashMap<Vec<u8>, bool> = HashMap::with_capacity(listing.len());
            for entry in listing {
                let is_dir = self.is_dir_entry(fs, entry.kind, wd, &entry.name);
                if !self.ignored(&join(&path, &entry.name), is_dir) {
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
            // watch on what is there now tells: the same wd, or another one (a watch on the newcomer).
            let mut replaced: Vec<Vec<u8>> = Vec::new();
            for (name, child) in subdirs {
                if self.watch_again(fs, wd, &join(&path, &name)) != Some(child) {
                    replaced.push(name);
                }
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

/// Appends one half of a root's move as a rename pair (cookie 0, the root's own path, no name).
fn push_root_move_half(out: &mut BatchEncoder, wd: i32, mask: u32, path: &[u8]) {
    let half = RawEvent {
        wd,
        mask: mask | IN_ISDIR,
        cookie: 0,
        len: 0,
        name: b"",
    };
    out.push(&half, Some(path), 0);
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

/// How many directories lie below `at` (for the watch limit's `needed`), listing without watching
/// and without following symlinks (with no watches there is no loop detection).
fn count_dirs(fs: &mut dyn TreeFs, at: DirAt<'_, '_>) -> u64 {
    let mut count = 0;
    let mut stack = vec![(at.path.to_vec(), at.rel.to_vec())];
    while let Some((path, rel)) = stack.pop() {
        if fs.cancelled() {
            break;
        }
        let here = DirAt {
            root: at.root,
            rel: &rel,
            path: &path,
        };
        let Ok(listing) = fs
            .open_dir(here, false, true)
            .and_then(|dir| fs.list_dir(&dir))
        else {
            continue;
        };
        for entry in listing {
            if entry.kind == EntryKind::Dir {
                count += 1;
                stack.push((join(&path, &entry.name), join_rel(&rel, &entry.name)));
            }
        }
    }
    count
}

#[cfg(test)]
#[path = "tree_tests.rs"]
mod tests;
