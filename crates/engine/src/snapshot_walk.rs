//! The walk a snapshot is made of: every directory under a root listed with `getdents64`, every
//! other entry `lstat`ed, on a pool of threads (`rayon`'s work stealing: a wide directory and a deep
//! one spread alike), then put together as a [`Snapshot`].
//!
//! - Directories are opened relative to their parent's descriptor, without following a link
//!   (`O_NOFOLLOW`), so a directory swapped for a link mid-walk is never left for; the root itself
//!   is opened as given (a link to a directory is followed, as `@parcel/watcher` follows it).
//! - A directory is `stat`ed never: its modification time says nothing `@parcel/watcher` reports.
//! - What vanishes between its listing and its `stat` or `open` is left out (it is gone); an entry
//!   that turned from a directory into something else is taken as it is now. A directory that
//!   cannot be opened (`EACCES`) is kept, empty; a file that cannot be `stat`ed (`EACCES`, a
//!   directory without search permission) is kept with an empty stamp. Any other failure fails the
//!   walk, with the path.
//! - Ignore rules are matched on the absolute path before anything is opened or `stat`ed.
//! - Nothing recurses on a thread's stack: each directory is a task of its own, so a tree of any
//!   depth is walked.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir};
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::paths::join;
use crate::snapshot::{Entry, Listing, Node, Snapshot, Stamp, WalkOptions};
use crate::tree::fs::errno_error;
use crate::tree::IgnoreRule;

/// How a directory is opened to be listed: never blocking, never inherited.
const LIST_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NONBLOCK);
/// The buffer each thread lists into.
const DIR_BUF_LEN: usize = 32 * 1024;

thread_local! {
    static DIR_BUF: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(DIR_BUF_LEN));
}

/// What became of a directory found in a listing.
enum Outcome {
    /// Listed.
    Listed(Listing),
    /// Gone before it could be opened.
    Gone,
    /// No longer a directory: what it is now.
    Became(Stamp),
}

/// What the walk's tasks share.
struct Walk<'a> {
    options: WalkOptions<'a>,
    /// The next directory index to give out (0 is the root).
    next_index: AtomicU32,
    /// What each directory came to, by index.
    outcomes: Mutex<Vec<(u32, Outcome)>>,
    /// The first failure; once set, the remaining tasks return at once.
    failure: Mutex<Option<Error>>,
    failed: AtomicBool,
}

impl Walk<'_> {
    fn fail(&self, error: Error) {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        failure.get_or_insert(error);
        self.failed.store(true, Ordering::Relaxed);
    }

    fn record(&self, index: u32, outcome: Outcome) {
        self.outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((index, outcome));
    }

    fn ignored(&self, path: &[u8], is_dir: bool) -> bool {
        self.options
            .ignore
            .is_some_and(|rules| rules.is_ignored(path, is_dir))
    }
}

/// What an `lstat` found.
struct Found {
    is_dir: bool,
    stamp: Stamp,
}

// The fields' types vary with the target (32-bit ones have narrower `st_mtime` and `st_size`).
#[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions)]
fn found(stat: &rustix::fs::Stat) -> Found {
    Found {
        is_dir: FileType::from_raw_mode(stat.st_mode) == FileType::Directory,
        stamp: Stamp {
            mtime_sec: i64::from(stat.st_mtime),
            // The kernel keeps it below 10^9.
            mtime_nsec: u32::try_from(stat.st_mtime_nsec).unwrap_or_default(),
            size: u64::try_from(stat.st_size).unwrap_or_default(),
            ino: u64::from(stat.st_ino),
        },
    }
}

/// `lstat` of `name` in `dir`: `Ok(None)` when it is gone; an empty stamp when it may not be
/// `stat`ed (a directory without search permission lists its names, and no more).
fn lstat(dir: BorrowedFd<'_>, name: &[u8], path: &dyn Fn() -> Vec<u8>) -> Result<Option<Found>> {
    match rustix::fs::statat(dir, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(found(&stat))),
        Err(Errno::NOENT) => Ok(None),
        Err(Errno::ACCESS) => Ok(Some(Found {
            is_dir: false,
            stamp: Stamp::default(),
        })),
        Err(errno) => Err(errno_error("lstat", errno, &path())),
    }
}

/// Lists the directory open as `fd` (directory `index`, at `path`) and spawns a task for each
/// subdirectory.
fn list<'s>(scope: &rayon::Scope<'s>, walk: &'s Walk<'s>, fd: OwnedFd, index: u32, path: Vec<u8>) {
    if walk.failed.load(Ordering::Relaxed) {
        return;
    }
    let mut entries = Vec::new();
    let mut subdirs = Vec::new();
    let listed = DIR_BUF.with(|buf| -> Result<()> {
        let mut buf = buf.borrow_mut();
        let mut listing = RawDir::new(&fd, buf.spare_capacity_mut());
        while let Some(entry) = listing.next() {
            let entry = entry.map_err(|errno| errno_error("getdents64", errno, &path))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let child_path = || join(&path, name);
            let mut stamp = None;
            let is_dir = match entry.file_type() {
                FileType::Directory => true,
                FileType::Unknown => {
                    // A file system that gives no type in its listing: ask the inode.
                    let Some(found) = lstat(fd.as_fd(), name, &child_path)? else {
                        continue;
                    };
                    stamp = Some(found.stamp);
                    found.is_dir
                }
                _ => false,
            };
            if walk.options.ignore.is_some() && walk.ignored(&child_path(), is_dir) {
                continue;
            }
            let node = if is_dir {
                let child = walk.next_index.fetch_add(1, Ordering::Relaxed);
                subdirs.push((name.to_vec(), child));
                Node::Dir(child)
            } else {
                let stamp = match stamp {
                    Some(stamp) => stamp,
                    None => match lstat(fd.as_fd(), name, &child_path)? {
                        Some(found) => found.stamp,
                        None => continue,
                    },
                };
                Node::File(stamp)
            };
            entries.push(Entry {
                name: name.into(),
                node,
            });
        }
        Ok(())
    });
    if let Err(error) = listed {
        walk.fail(error);
        return;
    }
    entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    walk.record(index, Outcome::Listed(Listing { entries }));
    let parent = Arc::new(fd);
    for (name, child) in subdirs {
        let parent = Arc::clone(&parent);
        let child_path = join(&path, &name);
        scope.spawn(move |scope| open_and_list(scope, walk, &parent, &name, child, child_path));
    }
}

/// Opens subdirectory `name` of `parent` and lists it; records what it became when it is no
/// longer a directory one can open.
fn open_and_list<'s>(
    scope: &rayon::Scope<'s>,
    walk: &'s Walk<'s>,
    parent: &OwnedFd,
    name: &[u8],
    index: u32,
    path: Vec<u8>,
) {
    if walk.failed.load(Ordering::Relaxed) {
        return;
    }
    match rustix::fs::openat(
        parent,
        OsStr::from_bytes(name),
        LIST_FLAGS | OFlags::NOFOLLOW,
        Mode::empty(),
    ) {
        Ok(fd) => list(scope, walk, fd, index, path),
        Err(Errno::NOENT) => walk.record(index, Outcome::Gone),
        Err(Errno::ACCESS) => walk.record(index, Outcome::Listed(Listing::default())),
        // Replaced by a link (O_NOFOLLOW) or by another kind of file since it was listed.
        Err(Errno::LOOP | Errno::NOTDIR) => match lstat(parent.as_fd(), name, &|| path.clone()) {
            Ok(Some(found)) => walk.record(index, Outcome::Became(found.stamp)),
            Ok(None) => walk.record(index, Outcome::Gone),
            Err(error) => walk.fail(error),
        },
        Err(errno) => walk.fail(errno_error("open", errno, &path)),
    }
}

/// Walks the tree under `root` (an absolute path) into a [`Snapshot`].
pub fn walk(root: &[u8], options: WalkOptions<'_>) -> Result<Snapshot> {
    let fd = rustix::fs::open(OsStr::from_bytes(root), LIST_FLAGS, Mode::empty())
        .map_err(|errno| errno_error("open", errno, root))?;
    let walk = Walk {
        options,
        next_index: AtomicU32::new(1),
        outcomes: Mutex::new(Vec::new()),
        failure: Mutex::new(None),
        failed: AtomicBool::new(false),
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.max(1))
        .thread_name(|i| format!("inotify-snapshot-{i}"))
        .build_scoped(
            |thread| thread.run(),
            |pool| pool.scope(|scope| list(scope, &walk, fd, 0, root.to_vec())),
        )
        // rayon says only that a thread could not be made: the kernel's answer to that is EAGAIN.
        .map_err(|_| Error::Sys {
            syscall: "pthread_create",
            errno: Errno::AGAIN.raw_os_error(),
            path: None,
        })?;
    if let Some(error) = walk
        .failure
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        return Err(error);
    }
    let outcomes = walk
        .outcomes
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    Ok(assemble(root, walk.next_index.into_inner(), outcomes))
}

/// Puts the directories' outcomes together: each listing at its index, and each entry whose
/// directory vanished or changed kind replaced by what it became.
fn assemble(root: &[u8], count: u32, outcomes: Vec<(u32, Outcome)>) -> Snapshot {
    let mut dirs = Vec::new();
    dirs.resize_with(count as usize, Listing::default);
    let mut changed = std::collections::HashMap::new();
    for (index, outcome) in outcomes {
        match outcome {
            Outcome::Listed(listing) => {
                if let Some(slot) = dirs.get_mut(index as usize) {
                    *slot = listing;
                }
            }
            Outcome::Gone => {
                changed.insert(index, None);
            }
            Outcome::Became(stamp) => {
                changed.insert(index, Some(stamp));
            }
        }
    }
    if !changed.is_empty() {
        for listing in &mut dirs {
            listing.entries.retain_mut(|entry| match entry.node {
                Node::Dir(index) => match changed.get(&index) {
                    None => true,
                    Some(None) => false,
                    Some(Some(stamp)) => {
                        entry.node = Node::File(*stamp);
                        true
                    }
                },
                Node::File(_) => true,
            });
        }
    }
    Snapshot {
        root: root.to_vec(),
        dirs,
    }
}
