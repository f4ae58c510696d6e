//! What the recursive tree needs from the kernel and the file system, as a trait, so that the tree's
//! bookkeeping is unit-tested on a fake and runs on the real thing in [`KernelTreeFs`].

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rustix::fs::{FileType, Mode, OFlags, RawDir};

use crate::backlog::Backlog;
use crate::error::{Error, Result};
use crate::sys::InotifyFd;
use crate::tree::join;

/// Directories listed between two moves of the kernel's queue into the backlog (each listing makes
/// about six events; an empty read costs one syscall).
const LISTINGS_PER_READ_AHEAD: usize = 16;
/// The buffer one `getdents64` fills (a directory takes as many calls as it needs), allocated once
/// per [`KernelTreeFs`] and reused by every listing.
const DIR_BUF_LEN: usize = 32 * 1024;

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

/// A directory's entries, and what listing it took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirListing {
    /// The entries, without `.` and `..`.
    pub entries: Vec<ListedEntry>,
    /// `getdents64` calls made (each one an `IN_ACCESS` on the directory's watches).
    pub reads: u32,
}

/// The kernel and file-system operations a tree performs.
pub trait TreeFs {
    /// `inotify_add_watch(2)`.
    fn add_watch(&mut self, path: &[u8], mask: u32) -> Result<i32>;
    /// `inotify_rm_watch(2)`; a wd the kernel already dropped is not an error.
    fn rm_watch(&mut self, wd: i32);
    /// Lists a directory (`getdents`), without `.` and `..`.
    fn list_dir(&mut self, path: &[u8]) -> Result<DirListing>;
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

/// [`TreeFs`] on the real kernel: the instance's inotify descriptor, and listings with `getdents64`
/// into one reused buffer (`rustix`'s `RawDir`), the kind from `d_type` (an `lstat` only where the
/// file system reports none). Not `std::fs::read_dir`: glibc's `opendir` adds an `fstat` and a
/// 32 KiB allocation per directory, a quarter of a scan's time on tmpfs.
/// Every few listings it moves what the kernel has queued into the [`Backlog`], so that a long scan
/// does not overflow the kernel's queue (with, among others, the events its own listings make).
#[derive(Debug)]
pub struct KernelTreeFs<'a> {
    inotify: &'a InotifyFd,
    stopping: &'a AtomicBool,
    watches: &'a AtomicUsize,
    backlog: &'a Backlog,
    listed: usize,
    /// `getdents64`'s buffer (its capacity; empty until the first listing).
    dir_buf: Vec<u8>,
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
            dir_buf: Vec::new(),
        }
    }
}

fn errno_error(syscall: &'static str, errno: rustix::io::Errno, path: &[u8]) -> Error {
    Error::Sys {
        syscall,
        errno: errno.raw_os_error(),
        path: Some(path.to_vec()),
    }
}

/// The entry kind of a file type; `None` for `Unknown` (a file system whose `getdents` gives no
/// `d_type`).
fn kind_of(file_type: FileType) -> Option<EntryKind> {
    match file_type {
        FileType::Directory => Some(EntryKind::Dir),
        FileType::Symlink => Some(EntryKind::Symlink),
        FileType::Unknown => None,
        _ => Some(EntryKind::File),
    }
}

/// The kind of `dir/name` from `lstat`; `None` when the entry vanished since it was listed (it is
/// then simply not listed).
fn lstat_kind(dir: &[u8], name: &[u8]) -> Option<EntryKind> {
    let stat = rustix::fs::lstat(OsStr::from_bytes(&join(dir, name))).ok()?;
    kind_of(FileType::from_raw_mode(stat.st_mode))
}

impl TreeFs for KernelTreeFs<'_> {
    fn add_watch(&mut self, path: &[u8], mask: u32) -> Result<i32> {
        self.inotify.add_watch(path, mask)
    }

    fn rm_watch(&mut self, wd: i32) {
        // EINVAL: the kernel dropped it already (deleted, or its IN_IGNORED is queued).
        let _ = self.inotify.rm_watch(wd);
    }

    fn list_dir(&mut self, path: &[u8]) -> Result<DirListing> {
        self.listed += 1;
        if self.listed.is_multiple_of(LISTINGS_PER_READ_AHEAD) {
            // A read error here is met again, and reported, by the reader's next own read.
            let _ = self.backlog.read_from(self.inotify);
        }
        let fd = rustix::fs::open(
            OsStr::from_bytes(path),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )
        .map_err(|e| errno_error("open", e, path))?;
        if self.dir_buf.capacity() == 0 {
            self.dir_buf.reserve_exact(DIR_BUF_LEN);
        }
        let mut dir = RawDir::new(&fd, self.dir_buf.spare_capacity_mut());
        let mut entries = Vec::new();
        let mut reads = 0;
        loop {
            // RawDir calls getdents64 when its buffer is used up, the last (empty) call included.
            if dir.is_buffer_empty() {
                reads += 1;
            }
            let Some(entry) = dir.next() else {
                break;
            };
            let entry = entry.map_err(|e| errno_error("getdents64", e, path))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let Some(kind) = kind_of(entry.file_type()).or_else(|| lstat_kind(path, name)) else {
                continue;
            };
            entries.push(ListedEntry {
                name: name.to_vec(),
                kind,
            });
        }
        Ok(DirListing { entries, reads })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn sorted(mut entries: Vec<ListedEntry>) -> Vec<ListedEntry> {
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
    }

    #[test]
    fn the_lstat_fallback_for_a_missing_d_type_tells_each_kind_and_skips_what_vanished() {
        // tmpfs and ext4 always give a d_type, so the listing test never reaches this fallback.
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        std::fs::create_dir(dir.join("sub")).expect("mkdir");
        symlink("sub", dir.join("link")).expect("symlink");
        std::fs::write(dir.join("file"), b"").expect("create");
        let at = dir.as_os_str().as_bytes();
        assert_eq!(lstat_kind(at, b"sub"), Some(EntryKind::Dir));
        assert_eq!(lstat_kind(at, b"link"), Some(EntryKind::Symlink));
        assert_eq!(lstat_kind(at, b"file"), Some(EntryKind::File));
        assert_eq!(lstat_kind(at, b"gone"), None);
    }

    #[test]
    fn lists_every_entry_with_its_kind_and_exact_name_across_several_getdents_calls() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        let mut expected = vec![
            ListedEntry {
                name: b"sub".to_vec(),
                kind: EntryKind::Dir,
            },
            ListedEntry {
                name: b"link".to_vec(),
                kind: EntryKind::Symlink,
            },
            ListedEntry {
                name: b"bad\xffname\nwith a newline".to_vec(),
                kind: EntryKind::File,
            },
            ListedEntry {
                name: vec![b'n'; 255],
                kind: EntryKind::File,
            },
        ];
        std::fs::create_dir(dir.join("sub")).expect("mkdir");
        symlink("sub", dir.join("link")).expect("symlink");
        // Some 100 KB of entries: several getdents64 calls into the 32 KiB buffer.
        for i in 0..400 {
            expected.push(ListedEntry {
                name: format!("{i:04}{}", "x".repeat(200)).into_bytes(),
                kind: EntryKind::File,
            });
        }
        for entry in &expected[2..] {
            std::fs::write(dir.join(OsStr::from_bytes(&entry.name)), b"").expect("create");
        }
        let expected = sorted(expected);
        let inotify = InotifyFd::open().expect("inotify_init1");
        let (stopping, watches, backlog) =
            (AtomicBool::new(false), AtomicUsize::new(0), Backlog::new());
        let mut fs = KernelTreeFs::new(&inotify, &stopping, &watches, &backlog);
        let path = dir.as_os_str().as_bytes();
        let listing = fs.list_dir(path).expect("list");
        // 100 KB in a 32 KiB buffer: at least four calls, the last one empty.
        assert!(listing.reads >= 4, "{} getdents64 calls", listing.reads);
        assert_eq!(sorted(listing.entries), expected);
        // The buffer is reused: a second listing is the same.
        assert_eq!(
            sorted(fs.list_dir(path).expect("list again").entries),
            expected
        );
        let missing = dir.join("missing");
        match fs.list_dir(missing.as_os_str().as_bytes()) {
            Err(Error::Sys {
                syscall,
                errno,
                path,
            }) => {
                assert_eq!((syscall, errno), ("open", nix::errno::Errno::ENOENT as i32));
                assert_eq!(path.as_deref(), Some(missing.as_os_str().as_bytes()));
            }
            other => panic!("expected ENOENT from open, got {other:?}"),
        }
    }
}
