//! How a tree reaches its directories: from each root's handle, never by path string (see
//! [`crate::tree::fs`]). Adding a root, scanning (watch first, then list, through one descriptor per
//! directory), listing again after an overflow, and following a root that was renamed.

use std::sync::Arc;

use super::names::{self, Entry};
use super::{join, push_synthetic, Probe, Scan, Tree, TreeReport, Watched};
use crate::error::Error;
use crate::event::RawEvent;
use crate::mask::*;
use crate::own_listings::{Listing, OwnListings};
use crate::sink::Sink;
use crate::tree::fs::{DirAt, DirListing, EntryKind, OpenDir, RootHandle, TreeFs};

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

/// Appends one half of a root's move as a rename pair (cookie 0, the root's own path, no name).
fn push_root_move_half(out: &mut dyn Sink, wd: i32, mask: u32, path: &[u8]) {
    let half = RawEvent {
        wd,
        mask: mask | IN_ISDIR,
        cookie: 0,
        len: 0,
        name: b"",
    };
    out.push(&half, Some(path), 0);
}

/// How many directories lie below `at` (for the watch limit's `needed`), listing without watching
/// and without following symlinks (with no watches there is no loop detection). `at` is unwatched;
/// its parent's watch, `seen_by` (wd, name), if any, sees its listing.
fn count_dirs(
    fs: &mut dyn TreeFs,
    own: &mut OwnListings,
    at: DirAt<'_, '_>,
    seen_by: Option<(i32, &[u8])>,
) -> u64 {
    let mut count = 0;
    let mut stack = vec![(at.path.to_vec(), at.rel.to_vec())];
    let mut seen_by = seen_by;
    while let Some((path, rel)) = stack.pop() {
        if fs.cancelled() {
            break;
        }
        let here = DirAt {
            root: at.root,
            rel: &rel,
            path: &path,
        };
        let first = seen_by.take();
        let Ok(listing) = fs
            .open_dir(here, false, true)
            .and_then(|dir| fs.list_dir(&dir))
        else {
            continue;
        };
        if let Some((parent, name)) = first {
            let reads = listing.reads;
            own.expect(
                parent,
                name,
                Listing {
                    opened: true,
                    reads,
                },
                fs.kernel_mask(parent),
            );
        }
        for entry in listing.entries {
            if entry.kind == EntryKind::Dir {
                count += 1;
                stack.push((join(&path, &entry.name), join_rel(&rel, &entry.name)));
            }
        }
    }
    count
}

impl Tree {
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
        if let Some(Err(error)) = self
            .options
            .ignore
            .as_mut()
            .map(|rule| rule.add_root(&root))
        {
            self.reports.push(TreeReport::IgnoreFileRefused {
                path: given.clone(),
                error,
            });
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
            Ok(Watched::New(wd)) => {
                self.roots.insert(wd, Arc::clone(&handle));
                let listing = fs.list_dir(&dir);
                drop(dir);
                // Opened before it was watched (but by another session sharing it): its watch sees
                // the listing and the close.
                let reads = listing.as_ref().map_or(0, |l| l.reads);
                let shared = fs.held_by_others(wd);
                self.expect_listing(fs, wd, shared, reads);
                let mut scan = Scan {
                    out: None,
                    start: given.clone(),
                    unwatched: 0,
                    pending: Vec::new(),
                    stale: Vec::new(),
                };
                self.take_listing(fs, wd, &root, listing, &mut scan);
                self.scan(fs, &mut scan);
                self.finish_scan(fs, scan);
                self.reports.push(TreeReport::RootReady { path: given });
            }
            Ok(Watched::Known(wd)) => {
                drop(dir);
                self.expect_listing(fs, wd, true, 0);
                self.reports.push(TreeReport::RootReady { path: given });
            }
            // Not even the root could be watched: the limit, with what the root would need.
            Err(Error::Sys { errno, .. }) if errno == crate::sys::ENOSPC => {
                drop(dir);
                let watched = self.dirs.len() as u64;
                let needed = watched + 1 + count_dirs(fs, &mut self.own, at, None);
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

    /// Adds a watch on a directory opened; [`Watched::Known`] when the kernel says the inode is
    /// already watched.
    pub(super) fn watch_opened(
        &mut self,
        fs: &mut dyn TreeFs,
        dir: &OpenDir<'_>,
        parent: Option<i32>,
        name: &[u8],
    ) -> Result<Watched, Error> {
        // A root the user named as a symlink is followed; symlinks met inside are not (unless asked).
        let mask = match parent {
            None => self.watch_mask & !IN_DONT_FOLLOW,
            Some(_) => self.watch_mask,
        };
        let wd = fs.add_watch(dir, mask)?;
        if self.dirs.contains(wd) {
            return Ok(Watched::Known(wd));
        }
        match parent {
            Some(parent) => self.dirs.insert(wd, parent, name),
            None => self.dirs.insert_root(wd, dir.path()),
        }
        fs.watches_changed(self.dirs.len());
        Ok(Watched::New(wd))
    }

    /// The root a watched directory was reached from, and [`rel_start`] of its paths.
    fn root_of(&self, wd: i32) -> Option<(Arc<RootHandle>, usize)> {
        let root = self.ancestry(wd).last()?;
        let handle = Arc::clone(self.roots.get(&root)?);
        let start = rel_start(self.dirs.root_path(root)?);
        Some((handle, start))
    }

    /// Opens `name` in the watched directory `parent`, from the root's descriptor.
    pub(super) fn open_child<'p>(
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
    pub(super) fn is_dir_behind_link(&self, fs: &mut dyn TreeFs, parent: i32, name: &[u8]) -> bool {
        let (Some(path), Some((root, start))) =
            (self.dirs.path_of_name(parent, name), self.root_of(parent))
        else {
            return false;
        };
        fs.is_dir_following_links(DirAt {
            root: &root,
            rel: rel_of(&path, start),
            path: &path,
        })
    }

    pub(super) fn is_dir_entry(
        &self,
        fs: &mut dyn TreeFs,
        kind: EntryKind,
        parent: i32,
        name: &[u8],
    ) -> bool {
        match kind {
            EntryKind::Dir => true,
            EntryKind::Symlink => {
                self.options.follow_symlinks && self.is_dir_behind_link(fs, parent, name)
            }
            EntryKind::File => false,
        }
    }

    /// Watches and lists the directories `scan` holds, and everything below them.
    pub(super) fn scan(&mut self, fs: &mut dyn TreeFs, scan: &mut Scan<'_>) {
        while let Some((parent, name)) = scan.pending.pop() {
            if fs.cancelled() {
                return;
            }
            self.watch_child(fs, parent, &name, scan);
        }
    }

    /// Records what a watched directory holds (reporting it, when the scan reports), and queues its
    /// subdirectories in `scan`.
    pub(super) fn take_listing(
        &mut self,
        fs: &mut dyn TreeFs,
        wd: i32,
        dir_path: &[u8],
        listing: crate::Result<DirListing>,
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
        let size = listing
            .entries
            .iter()
            .map(|entry| names::record_size(&entry.name, entry.kind != EntryKind::File))
            .sum();
        self.dirs.reserve(wd, size);
        for entry in listing.entries {
            let is_dir = self.is_dir_entry(fs, entry.kind, wd, &entry.name);
            if self.options.ignore.is_some() && self.ignored(&join(dir_path, &entry.name), is_dir) {
                continue;
            }
            let reported = scan.out.is_some() && self.options.mask & IN_CREATE != 0;
            let held = Entry {
                is_dir,
                synthetic_pending: reported,
            };
            self.dirs.set_entry(wd, &entry.name, held);
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
        self.dirs.fit(wd);
    }

    /// Watches a subdirectory found by a scan or an event, then lists it: opened from its root
    /// without following links, watched as the very inode opened, listed through the same
    /// descriptor (watch first, then list). Reports why not when it cannot.
    fn watch_child(&mut self, fs: &mut dyn TreeFs, parent: i32, name: &[u8], scan: &mut Scan<'_>) {
        if !self.options.recursive || self.dirs.subdir(parent, name).is_some() {
            return;
        }
        let Some(path) = self.dirs.path_of_name(parent, name) else {
            return;
        };
        let dir = match self.open_child(fs, parent, &path, true) {
            Some(Ok(dir)) => dir,
            Some(Err(error)) => {
                self.not_a_dir_any_more(parent, name, &error);
                self.reports.push(TreeReport::Skipped { path, error });
                return;
            }
            None => return,
        };
        // Open now, and closed when `dir` is dropped: the parent's watch sees both.
        let opened_and_closed = Listing {
            opened: true,
            reads: 0,
        };
        let (child, watched_when_opened) = match self.watch_opened(fs, &dir, Some(parent), name) {
            // A directory below one taken back keeps the watch the kernel kept: it saw the open.
            // Or watched by another session sharing the instance: that watch saw the open.
            Ok(Watched::New(child)) => (
                child,
                scan.stale.contains(&child) || fs.held_by_others(child),
            ),
            Ok(Watched::Known(wd)) if self.take_back(fs, wd, parent, name, scan) => (wd, true),
            Ok(Watched::Known(wd)) => {
                drop(dir);
                self.own
                    .expect(parent, name, opened_and_closed, fs.kernel_mask(parent));
                self.own
                    .expect(wd, b"", opened_and_closed, fs.kernel_mask(wd));
                return;
            }
            Err(Error::Sys { errno, .. }) if errno == crate::sys::ENOSPC => {
                drop(dir);
                self.own
                    .expect(parent, name, opened_and_closed, fs.kernel_mask(parent));
                if let Some((root, start)) = self.root_of(parent) {
                    let at = DirAt {
                        root: &root,
                        rel: rel_of(&path, start),
                        path: &path,
                    };
                    scan.unwatched += 1 + count_dirs(fs, &mut self.own, at, Some((parent, name)));
                }
                return;
            }
            Err(error) => {
                drop(dir);
                self.own
                    .expect(parent, name, opened_and_closed, fs.kernel_mask(parent));
                self.not_a_dir_any_more(parent, name, &error);
                self.reports.push(TreeReport::Skipped { path, error });
                return;
            }
        };
        self.dirs.set_subdir(parent, name, child);
        let listing = fs.list_dir(&dir);
        drop(dir);
        // Opened before it was watched (its own watch sees the listing and the close), or, taken
        // back or below one, after (the open too).
        let reads = listing.as_ref().map_or(0, |l| l.reads);
        self.expect_listing(fs, child, watched_when_opened, reads);
        self.take_listing(fs, child, &path, listing, scan);
    }

    /// `name` in `parent` could not be opened or watched as a directory: when nothing or no
    /// directory is there any more, whatever comes under the name later is new.
    fn not_a_dir_any_more(&mut self, parent: i32, name: &[u8], error: &Error) {
        if matches!(error, Error::Sys { errno, .. } if *errno == crate::sys::ENOENT || *errno == crate::sys::ENOTDIR)
        {
            self.dirs.remove_entry(parent, name);
        }
    }

    /// A directory the kernel says is watched already as `wd`, found as `name` in `parent`. It moved here when
    /// it lies in a subtree moved away whose `IN_MOVED_TO` has not come (moved out of the tree, so
    /// its move back in has another cookie), or when its old place no longer leads to it (a scan
    /// that met it before the events of its move were read, or after they were lost). Its watches
    /// were kept by the kernel, but its events since it left were dropped, so its books are stale:
    /// it is attached here afresh (true) and listed as new by the scan, reporting what it holds;
    /// the old watches below it that the scan does not find again are removed when the scan ends.
    /// Anything else (a loop through a followed symlink, a bind mount) is the same directory seen
    /// twice, and stays where it was first watched (false).
    fn take_back(
        &mut self,
        fs: &mut dyn TreeFs,
        wd: i32,
        parent: i32,
        name: &[u8],
        scan: &mut Scan<'_>,
    ) -> bool {
        if self.is_within(parent, wd) {
            // The books have the directory listed now below the one found in it: both moved
            // while their events wait to be read. Taken back here, it would become its own
            // ancestor; it stays where the books have it until those events (or a re-scan) say.
            return false;
        }
        let mut newcomer = None;
        if !self.pending_moves.is_empty() && self.in_pending_move(wd) {
            self.pending_moves.retain(|(_, moved)| *moved != wd);
        } else {
            let (Some(old_path), Some(old_parent), Some(old_name)) =
                (self.dirs.path(wd), self.dirs.parent(wd), self.dirs.name(wd))
            else {
                return false;
            };
            let old_name = old_name.to_vec();
            // Asking for a watch at the old place tells: the same wd (still there too), or another
            // directory in its place (`mkdir a; mv a b; mkdir a` read late finds the second `a`
            // under `b`), which the tree did not hold. That probe's watch is removed: after an
            // overflow the old parent's pass reports and watches that one; otherwise the scan
            // watches and lists it at the old place.
            let now = self.watch_again(fs, old_parent, &old_path);
            let other = match self.judge_probe(fs, now, wd) {
                Probe::Same => return false,
                Probe::Unheld => true,
                Probe::Else => false,
            };
            match self.moved_away.as_mut() {
                Some(moved_away) => moved_away.push((old_parent, old_name)),
                None if other => newcomer = Some((old_parent, old_name)),
                None => {
                    // Nothing of its own is at the old place: the old parent's entry for the name
                    // was this directory, so what is found there later (after an overflow) is new.
                    if self.dirs.subdir(old_parent, &old_name) == Some(wd) {
                        self.dirs.remove_entry(old_parent, &old_name);
                    }
                }
            }
        }
        scan.stale
            .extend(self.forget(wd).into_iter().filter(|old| *old != wd));
        if let Some(place) = newcomer {
            scan.pending.push(place);
        }
        self.dirs.insert(wd, parent, name);
        self.dirs.set_subdir(parent, name, wd);
        fs.watches_changed(self.dirs.len());
        true
    }

    /// Lists a watched directory again (a re-scan), opened from its root as a scan does.
    pub(super) fn list_again(
        &self,
        fs: &mut dyn TreeFs,
        wd: i32,
        path: &[u8],
    ) -> crate::Result<DirListing> {
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
    pub(super) fn watch_again(&self, fs: &mut dyn TreeFs, parent: i32, path: &[u8]) -> Option<i32> {
        let dir = self.open_child(fs, parent, path, false)?.ok()?;
        fs.add_watch(&dir, self.watch_mask).ok()
    }

    /// What a probe of a place the tree holds `held` at says (`now`: the wd the kernel gave for it,
    /// from [`Tree::watch_again`]). A watch on a directory the tree does not hold is the probe's own,
    /// and is removed here.
    pub(super) fn judge_probe(&self, fs: &mut dyn TreeFs, now: Option<i32>, held: i32) -> Probe {
        match now {
            Some(now) if now == held => Probe::Same,
            Some(now) if !self.dirs.contains(now) => {
                fs.rm_watch(now);
                Probe::Unheld
            }
            _ => Probe::Else,
        }
    }

    /// A root moved (`IN_MOVE_SELF` on its watch; no parent of it is watched). Renamed within the
    /// directory it was in, the tree follows it: every path below it changes with it, and the event
    /// is reported under the new path. Moved elsewhere (no descriptor is held on it to say where),
    /// it stops being watched, with [`Error::RootMoved`], rather than report paths that no longer
    /// lead to it.
    pub(super) fn root_moved(
        &mut self,
        fs: &mut dyn TreeFs,
        event: &RawEvent<'_>,
        out: &mut dyn Sink,
    ) {
        let wd = event.wd;
        let (Some(handle), Some(old)) = (self.roots.get(&wd).map(Arc::clone), self.dirs.path(wd))
        else {
            return;
        };
        let new = match fs.root_path(&handle) {
            Ok(Some(new)) => new,
            found => {
                if self.wants(event.mask) {
                    out.push(event, Some(&old), 0);
                }
                if self.for_changes {
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
            self.dirs.set_root_path(wd, &new);
        }
        if self.wants(event.mask) {
            out.push(event, Some(&new), 0);
        }
        if self.for_changes && new != old {
            push_root_move_half(out, wd, IN_MOVED_FROM, &old);
            push_root_move_half(out, wd, IN_MOVED_TO, &new);
        }
    }
}
