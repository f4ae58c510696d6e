//! What the recursive tree needs from the kernel and the file system, as a trait, so that the tree's
//! bookkeeping is unit-tested on a fake and runs on the real thing in [`KernelTreeFs`].

use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::backlog::Backlog;
use crate::error::{Error, Result};
use crate::sys::InotifyFd;

/// Directories listed between two moves of the kernel's queue into the backlog (each listing makes
/// about six events; an empty read costs one syscall).
const LISTINGS_PER_READ_AHEAD: usize = 16;

/// What a directory entry is, as `getdents` reports it (no `stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A symbolic link (followed only when the tree is asked to).
    Symlink,
    /// Anything else: a file, a fifo, a socket, a device.
    File,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEntry {
    /// The entry's name (bytes).
    pub name: Vec<u8>,
    /// Its kind.
    pub kind: EntryKind,
}

/// The kernel and file-system operations a tree performs.
pub trait TreeFs {
    /// `inotify_add_watch(2)`.
    fn add_watch(&mut self, path: &[u8], mask: u32) -> Result<i32>;
    /// `inotify_rm_watch(2)`; a wd the kernel already dropped is not an error.
    fn rm_watch(&mut self, wd: i32);
    /// Lists a directory (`getdents`), without `.` and `..`.
    fn list_dir(&mut self, path: &[u8]) -> Result<Vec<ListedEntry>>;
    /// Whether `path` resolves (following symlinks) to a directory.
    fn is_dir_following_links(&mut self, path: &[u8]) -> bool;
    /// Whether the work is to stop (the watcher is closing): a long scan gives up between
    /// directories, leaving the tree incomplete (it is being dropped anyway).
    fn cancelled(&self) -> bool {
        false
    }
    /// The tree now holds `count` watches: progress that others may read while a scan runs.
    fn watches_changed(&mut self, _count: usize) {}
}

/// [`TreeFs`] on the real kernel: the instance's inotify descriptor and `std::fs::read_dir` (which
/// is `getdents`, and reports the kind from `d_type` without a `stat` where the file system has it).
/// Every few listings it moves what the kernel has queued into the [`Backlog`], so that a long scan
/// does not overflow the kernel's queue (with, among others, the events its own listings make).
#[derive(Debug)]
pub struct KernelTreeFs<'a> {
    inotify: &'a InotifyFd,
    stopping: &'a AtomicBool,
    watches: &'a AtomicUsize,
    backlog: &'a Backlog,
    listed: usize,
}

impl<'a> KernelTreeFs<'a> {
    /// Operations on `inotify`; scans give up once `stopping` is set, publish their progress in
    /// `watches`, and read the kernel's queue into `backlog` as they go.
    pub fn new(
        inotify: &'a InotifyFd,
        stopping: &'a AtomicBool,
        watches: &'a AtomicUsize,
        backlog: &'a Backlog,
    ) -> Self {
        Self {
            inotify,
            stopping,
            watches,
            backlog,
            listed: 0,
        }
    }
}

fn io_error(syscall: &'static str, error: &std::io::Error, path: &[u8]) -> Error {
    Error::Sys {
        syscall,
        errno: error.raw_os_error().unwrap_or(crate::sys::EINVAL),
        path: Some(path.to_vec()),
    }
}

impl TreeFs for KernelTreeFs<'_> {
    fn add_watch(&mut self, path: &[u8], mask: u32) -> Result<i32> {
        self.inotify.add_watch(path, mask)
    }

    fn rm_watch(&mut self, wd: i32) {
        // EINVAL: the kernel dropped it already (deleted, or its IN_IGNORED is queued).
        let _ = self.inotify.rm_watch(wd);
    }

    fn list_dir(&mut self, path: &[u8]) -> Result<Vec<ListedEntry>> {
        self.listed += 1;
        if self.listed.is_multiple_of(LISTINGS_PER_READ_AHEAD) {
            // A read error here is met again, and reported, by the reader's next own read.
            let _ = self.backlog.read_from(self.inotify);
        }
        let dir = std::fs::read_dir(OsStr::from_bytes(path))
            .map_err(|e| io_error("opendir", &e, path))?;
        let mut entries = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|e| io_error("getdents64", &e, path))?;
            // d_type, or lstat where the file system reports DT_UNKNOWN; a failure means the entry
            // vanished between getdents and now: it is simply not listed.
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let kind = if file_type.is_dir() {
                EntryKind::Dir
            } else if file_type.is_symlink() {
                EntryKind::Symlink
            } else {
                EntryKind::File
            };
            entries.push(ListedEntry {
                name: entry.file_name().into_vec(),
                kind,
            });
        }
        Ok(entries)
    }

    fn is_dir_following_links(&mut self, path: &[u8]) -> bool {
        std::fs::metadata(OsStr::from_bytes(path)).is_ok_and(|m| m.is_dir())
    }

    fn cancelled(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    fn watches_changed(&mut self, count: usize) {
        self.watches.store(count, Ordering::Relaxed);
    }
}
