//! File systems mounted and unmounted inside a tree. inotify says when a file system under a
//! watch is unmounted (`IN_UNMOUNT`, then `IN_IGNORED`), not when one is mounted over a watched
//! directory (the watch stays on the covered inode, which no path leads to any more); the reader
//! hears of mounts from `/proc/self/mountinfo` (`EPOLLPRI` on every change of the mount table).
//! Either way the directory now at the path is listed in place of the one the tree watched, and
//! what differs is reported as synthetic events.

use std::sync::Arc;

use super::{push_synthetic, Probe, Scan, Tree, TreeReport, Watched};
use crate::error::Error;
use crate::mask::*;
use crate::own_listings::Listing;
use crate::sink::Sink;
use crate::tree::fs::{DirAt, TreeFs};

impl Tree {
    /// Directories whose file system was unmounted: the kernel dropped their watches, but the path
    /// of the topmost one (the mount point) still leads to a directory, the one the mount covered.
    /// That one is watched and listed: what the file system held at the top is reported deleted,
    /// what the uncovered directory holds created (synthetic events), and it is watched from then
    /// on. The mount point itself is not reported deleted: it is still there.
    pub(super) fn uncover(&mut self, fs: &mut dyn TreeFs, out: &mut dyn Sink) {
        let unmounted = std::mem::take(&mut self.unmounted);
        let below_another = |tree: &Self, wd: i32| {
            tree.ancestry(wd)
                .skip(1)
                .any(|parent| unmounted.contains(&parent))
        };
        let tops: Vec<i32> = unmounted
            .iter()
            .copied()
            .filter(|wd| self.dirs.contains(*wd) && !below_another(self, *wd))
            .collect();
        for wd in tops {
            self.relist_in_place(fs, wd, out);
        }
    }

    /// The mount table changed. Each mount point that is the path of a watched directory is asked
    /// for a watch: another wd than the tree's means another directory is there now (a file
    /// system mounted over it), which is listed in place of the covered one.
    pub fn mounts_changed(
        &mut self,
        fs: &mut dyn TreeFs,
        mount_points: &[Vec<u8>],
        out: &mut dyn Sink,
    ) {
        let watched: Vec<i32> = mount_points
            .iter()
            .filter_map(|point| self.dirs.wd_at(point))
            .collect();
        for wd in watched {
            // A mount point below another one listed first was listed with it.
            let Some(path) = self.dirs.path(wd) else {
                continue;
            };
            let parent = self.dirs.parent(wd);
            let now = match parent {
                Some(parent) => self.watch_again(fs, parent, &path),
                None => self.watch_root_again(fs, &path),
            };
            // The probe's watch goes; the directory is watched anew as it is listed.
            if self.judge_probe(fs, now, wd) == Probe::Unheld {
                self.relist_in_place(fs, wd, out);
            }
        }
    }

    /// The wd the kernel gives the directory now at a root's path (opened afresh: the root's
    /// handle leads to the directory it was).
    fn watch_root_again(&self, fs: &mut dyn TreeFs, path: &[u8]) -> Option<i32> {
        let handle = fs.open_root(path).ok()?;
        let at = DirAt {
            root: &handle,
            rel: b"",
            path,
        };
        let dir = fs.open_dir(at, true, false).ok()?;
        fs.add_watch(&dir, self.watch_mask & !IN_DONT_FOLLOW).ok()
    }

    /// Watches and lists the directory now at `wd`'s path in place of `wd` (and what was below
    /// it): what `wd` held is reported deleted, what the newcomer holds created.
    fn relist_in_place(&mut self, fs: &mut dyn TreeFs, wd: i32, out: &mut dyn Sink) {
        let (Some(path), Some(name)) = (self.dirs.path(wd), self.dirs.name(wd)) else {
            return;
        };
        let (parent, name) = (self.dirs.parent(wd), name.to_vec());
        let mut gone: Vec<(Vec<u8>, bool)> = self
            .dirs
            .entries(wd)
            .map(|(name, entry)| (name.to_vec(), entry.is_dir))
            .collect();
        gone.sort();
        // After an unmount every watch below went with the file system (EINVAL), but for what
        // another mount inside it may still hold; after a mount the covered ones are still there.
        // They are removed, and what is still to be watched is found again by the listing.
        self.unwatch(fs, wd);
        let mut scan = Scan {
            out: Some(&mut *out),
            start: path.clone(),
            unwatched: 0,
            pending: Vec::new(),
            stale: Vec::new(),
        };
        // A root is opened afresh by its path: its handle leads to the directory it was.
        let mut handle = None;
        let opened = match parent {
            Some(parent) => self.open_child(fs, parent, &path, true),
            None => Some(fs.open_root(&path).and_then(|root| {
                let root = handle.insert(Arc::new(root));
                let at = DirAt {
                    root,
                    rel: b"",
                    path: &path,
                };
                fs.open_dir(at, true, true)
            })),
        };
        // Open now, and closed when dropped: the parent's watch sees both.
        let opened_and_closed = Listing {
            opened: true,
            reads: 0,
        };
        let watched = match opened {
            None => return,
            Some(Err(error)) => Err((error, false)),
            Some(Ok(dir)) => match self.watch_opened(fs, &dir, parent, &name) {
                Ok(Watched::New(newcomer)) => {
                    let listing = fs.list_dir(&dir);
                    drop(dir);
                    Ok(Some((newcomer, listing)))
                }
                Ok(Watched::Known(known)) => {
                    drop(dir);
                    self.own
                        .expect(known, b"", opened_and_closed, fs.kernel_mask(known));
                    Ok(None)
                }
                Err(error) => Err((error, true)),
            },
        };
        if let (Some(parent), Err((_, true)) | Ok(None)) = (parent, &watched) {
            self.own
                .expect(parent, &name, opened_and_closed, fs.kernel_mask(parent));
        }
        let newcomer = match watched {
            Ok(Some((newcomer, listing))) => {
                match (parent, handle) {
                    (Some(parent), _) => {
                        self.dirs.set_subdir(parent, &name, newcomer);
                    }
                    (None, Some(handle)) => {
                        self.roots.insert(newcomer, handle);
                    }
                    (None, None) => {}
                }
                // Opened before it was watched: its own watch sees the listing and the close.
                let reads = listing.as_ref().map_or(0, |l| l.reads);
                let shared = fs.held_by_others(newcomer);
                self.expect_listing(fs, newcomer, shared, reads);
                Some((newcomer, listing))
            }
            Ok(None) => None,
            // No directory there any more: the unmount took a file system its parent is on
            // too (whose watch reports it in the next read), or the mount point was removed.
            Err((error, _))
                if matches!(&error, Error::Sys { errno, .. }
                    if *errno == crate::sys::ENOENT || *errno == crate::sys::ENOTDIR) =>
            {
                if parent.is_none() {
                    // The root itself went with the file system it was on: say so, it is no
                    // longer watched.
                    self.reports.push(TreeReport::Skipped {
                        path: path.clone(),
                        error,
                    });
                    return;
                }
                let parent_path = parent.and_then(|p| {
                    self.dirs.remove_entry(p, &name);
                    self.dirs.path(p)
                });
                if let (Some(parent_path), Some(out)) = (parent_path, scan.out.as_deref_mut()) {
                    if self.options.mask & IN_DELETE != 0 {
                        push_synthetic(out, wd, IN_DELETE | IN_ISDIR, &parent_path, &name);
                    }
                }
                return;
            }
            Err((Error::Sys { errno, .. }, _)) if errno == crate::sys::ENOSPC => {
                scan.unwatched += 1;
                None
            }
            Err((error, _)) => {
                self.reports.push(TreeReport::Skipped {
                    path: path.clone(),
                    error,
                });
                None
            }
        };
        if self.options.mask & IN_DELETE != 0 {
            if let Some(out) = scan.out.as_deref_mut() {
                let by = newcomer.as_ref().map_or(wd, |(newcomer, _)| *newcomer);
                for (name, is_dir) in gone {
                    let mask = IN_DELETE | if is_dir { IN_ISDIR } else { 0 };
                    push_synthetic(out, by, mask, &path, &name);
                }
            }
        }
        if let Some((newcomer, listing)) = newcomer {
            self.take_listing(fs, newcomer, &path, listing, &mut scan);
            self.scan(fs, &mut scan);
        }
        self.finish_scan(fs, scan);
    }
}

/// The mount points of `/proc/self/mountinfo` (its fifth field, with the kernel's octal escapes of
/// space, tab, newline and backslash undone).
pub fn mount_points(mountinfo: &[u8]) -> Vec<Vec<u8>> {
    mountinfo
        .split(|b| *b == b'\n')
        .filter_map(|line| line.split(|b| *b == b' ').nth(4))
        .map(unescape)
        .collect()
}

fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|digits| field[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                let value = digits
                    .iter()
                    .fold(0u32, |value, d| value * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod mount_table_tests {
    use super::*;

    #[test]
    fn reads_each_mount_point_with_its_escapes_undone() {
        let table = b"22 1 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n\
            36 35 98:0 /mnt1 /a\\040b\\134c\\012d rw,noatime master:1 - ext3 /dev/root rw\n\
            \n";
        assert_eq!(
            mount_points(table),
            vec![b"/proc".to_vec(), b"/a b\\c\nd".to_vec()]
        );
    }
}
