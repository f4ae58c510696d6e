//! What a directory tree held at one moment, and what changed in it since: `@parcel/watcher`'s
//! `writeSnapshot` and `getEventsSince`, as its brute-force backend (the one it uses for them on
//! Linux) does them: a walk of the tree, kept in a file, compared with a later walk.
//!
//! - [`crate::snapshot_walk`] walks a tree (in parallel) into a [`Snapshot`].
//! - [`crate::snapshot_format`] writes a [`Snapshot`] to bytes and reads it back, refusing any byte
//!   it did not write.
//! - This module holds the model and [`changes_between`] two snapshots, and the two entry points,
//!   [`write_snapshot`] and [`events_since`].
//!
//! What counts as a change follows `@parcel/watcher`: a path that is new is created, a path that
//! is gone is deleted (a directory with everything below it), a file (anything but a directory: a
//! symbolic link is not followed) whose modification time differs is updated, and a directory
//! itself is never updated. Two differences, both so that a change is not missed: a file is also
//! updated when its size or its inode differs with the same modification time (a write within
//! the clock's granularity, a file replaced by another one with its time kept), and a path that
//! turned from a file into a directory or back is updated (`@parcel/watcher` reports nothing for
//! the path itself; its `subscribe()` reports such a replacement as an update).

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{Mode, OFlags};

use crate::error::{Error, Result};
use crate::ignore_rules::IgnoreRules;
use crate::paths::join;
use crate::snapshot_format::{decode, encode};
use crate::snapshot_walk::walk;

/// What a file's metadata says about its content: a change to any of it is an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    /// Modification time, seconds since the epoch.
    pub mtime_sec: i64,
    /// Modification time, nanoseconds within the second (below 10^9).
    pub mtime_nsec: u32,
    /// Size in bytes.
    pub size: u64,
    /// Inode number.
    pub ino: u64,
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// A directory: the index of its listing in [`Snapshot::dirs`].
    Dir(u32),
    /// Anything else (a file, a symbolic link, a FIFO, a socket, a device), with its stamp.
    File(Stamp),
}

/// One name in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name (bytes, never empty, no `/`, not `.` or `..`).
    pub name: Box<[u8]>,
    /// What it is.
    pub node: Node,
}

/// A directory's entries, sorted by name (bytes), each name once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// The entries.
    pub entries: Vec<Entry>,
}

/// A tree: its root's absolute path, and the listing of each directory; `dirs[0]` is the root's,
/// and each other listing is reached through exactly one [`Node::Dir`]. A listing no entry refers
/// to (a directory that vanished while it was walked) is never read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The root, absolute, as given (not resolved).
    pub root: Vec<u8>,
    /// The listings.
    pub dirs: Vec<Listing>,
}

impl Snapshot {
    /// The listing of directory `index`; an empty one for an index out of range (which neither
    /// the walk nor the decoder ever makes).
    pub fn listing(&self, index: u32) -> &[Entry] {
        self.dirs
            .get(index as usize)
            .map_or(&[][..], |listing| &listing.entries)
    }

    /// Number of entries below the root (the root not counted), each reached from the root.
    pub fn entry_count(&self) -> usize {
        let mut count = 0;
        let mut stack = vec![0u32];
        while let Some(index) = stack.pop() {
            let entries = self.listing(index);
            count += entries.len();
            stack.extend(entries.iter().filter_map(|entry| match entry.node {
                Node::Dir(child) => Some(child),
                Node::File(_) => None,
            }));
        }
        count
    }
}

/// What happened to a path, as `@parcel/watcher` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// The path is new.
    Create,
    /// The file at the path changed.
    Update,
    /// The path is gone.
    Delete,
}

/// A change to one absolute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotEvent {
    /// What happened.
    pub kind: ChangeKind,
    /// The absolute path.
    pub path: Vec<u8>,
}

/// Every path of a subtree (`index`'s listing, below `path`), depth first, as `kind` events.
fn whole_subtree(
    tree: &Snapshot,
    index: u32,
    path: &[u8],
    kind: ChangeKind,
    out: &mut Vec<SnapshotEvent>,
) {
    let mut stack = vec![(index, path.to_vec())];
    while let Some((index, dir)) = stack.pop() {
        for entry in tree.listing(index) {
            let path = join(&dir, &entry.name);
            if let Node::Dir(child) = entry.node {
                stack.push((child, path.clone()));
            }
            out.push(SnapshotEvent { kind, path });
        }
    }
}

/// One path and everything below it, as `kind` events.
fn whole_entry(
    tree: &Snapshot,
    entry: &Entry,
    path: Vec<u8>,
    kind: ChangeKind,
    out: &mut Vec<SnapshotEvent>,
) {
    if let Node::Dir(index) = entry.node {
        whole_subtree(tree, index, &path, kind, out);
    }
    out.push(SnapshotEvent { kind, path });
}

/// What changed from `before` to `after`, sorted by path (bytes), each path once: the order
/// `@parcel/watcher` gives (its events are a `std::map` keyed by path).
pub fn changes_between(before: &Snapshot, after: &Snapshot) -> Vec<SnapshotEvent> {
    let mut out = Vec::new();
    if before.root != after.root {
        // Paths are absolute: nothing of one root is a path of the other.
        whole_subtree(before, 0, &before.root, ChangeKind::Delete, &mut out);
        out.push(SnapshotEvent {
            kind: ChangeKind::Delete,
            path: before.root.clone(),
        });
        whole_subtree(after, 0, &after.root, ChangeKind::Create, &mut out);
        out.push(SnapshotEvent {
            kind: ChangeKind::Create,
            path: after.root.clone(),
        });
    } else {
        // Directories present in both, with their path; merged a listing at a time.
        let mut stack = vec![(0u32, 0u32, after.root.clone())];
        while let Some((old, new, dir)) = stack.pop() {
            merge_listings(before, after, (old, new), &dir, &mut stack, &mut out);
        }
    }
    out.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Compares one directory's two listings (both sorted by name), pushing the subdirectories present
/// in both onto `stack`.
fn merge_listings(
    before: &Snapshot,
    after: &Snapshot,
    (old, new): (u32, u32),
    dir: &[u8],
    stack: &mut Vec<(u32, u32, Vec<u8>)>,
    out: &mut Vec<SnapshotEvent>,
) {
    let (mut olds, mut news) = (
        before.listing(old).iter().peekable(),
        after.listing(new).iter().peekable(),
    );
    loop {
        let order = match (olds.peek(), news.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(o), Some(n)) => o.name.cmp(&n.name),
        };
        match order {
            std::cmp::Ordering::Less => {
                if let Some(o) = olds.next() {
                    whole_entry(before, o, join(dir, &o.name), ChangeKind::Delete, out);
                }
            }
            std::cmp::Ordering::Greater => {
                if let Some(n) = news.next() {
                    whole_entry(after, n, join(dir, &n.name), ChangeKind::Create, out);
                }
            }
            std::cmp::Ordering::Equal => {
                let (Some(o), Some(n)) = (olds.next(), news.next()) else {
                    break;
                };
                let path = join(dir, &n.name);
                match (o.node, n.node) {
                    (Node::Dir(o), Node::Dir(n)) => stack.push((o, n, path)),
                    (Node::File(o), Node::File(n)) => {
                        if o != n {
                            out.push(SnapshotEvent {
                                kind: ChangeKind::Update,
                                path,
                            });
                        }
                    }
                    (Node::Dir(o), Node::File(_)) => {
                        whole_subtree(before, o, &path, ChangeKind::Delete, out);
                        out.push(SnapshotEvent {
                            kind: ChangeKind::Update,
                            path,
                        });
                    }
                    (Node::File(_), Node::Dir(n)) => {
                        whole_subtree(after, n, &path, ChangeKind::Create, out);
                        out.push(SnapshotEvent {
                            kind: ChangeKind::Update,
                            path,
                        });
                    }
                }
            }
        }
    }
}

/// How a walk runs.
#[derive(Debug, Clone, Copy)]
pub struct WalkOptions<'a> {
    /// What to leave out (matched on the absolute path, before a directory is opened).
    pub ignore: Option<&'a IgnoreRules>,
    /// Threads that walk (at least 1).
    pub threads: usize,
}

impl Default for WalkOptions<'_> {
    /// No ignores; a thread per CPU, at most 8 (a walk is bound by system calls, and more threads
    /// than that contend in the kernel's directory locks without walking faster).
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            ignore: None,
            threads: cpus.clamp(1, 8),
        }
    }
}

/// A snapshot file's error, as `@parcel/watcher` words it.
fn file_error(action: &'static str, syscall: &'static str, errno: i32, path: &[u8]) -> Error {
    Error::SnapshotFile {
        action,
        syscall,
        errno,
        path: path.to_vec(),
    }
}

fn io_errno(error: &std::io::Error) -> i32 {
    error.raw_os_error().unwrap_or(crate::sys::EIO)
}

/// Walks `root` and writes what it holds to `snapshot_path`, whole or not at all: into a new file
/// beside it, renamed over it once written, so that a reader never sees half a snapshot.
pub fn write_snapshot(root: &[u8], snapshot_path: &[u8], options: WalkOptions<'_>) -> Result<()> {
    let tree = walk(root, options)?;
    let bytes = encode(&tree);
    write_whole(snapshot_path, &bytes)
}

/// The temporary name a snapshot is written under: beside it, so that the rename stays in one
/// file system, and unique to this process and call.
fn temporary_name(path: &[u8]) -> Vec<u8> {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.to_vec();
    name.extend_from_slice(format!(".{}.{call}.tmp", std::process::id()).as_bytes());
    name
}

fn write_whole(path: &[u8], bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let temporary = temporary_name(path);
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd: OwnedFd = rustix::fs::open(
        OsStr::from_bytes(&temporary),
        flags,
        Mode::from_raw_mode(0o666),
    )
    .map_err(|errno| file_error("open", "open", errno.raw_os_error(), path))?;
    let written = std::fs::File::from(fd)
        .write_all(bytes)
        .map_err(|e| file_error("write", "write", io_errno(&e), path))
        .and_then(|()| {
            rustix::fs::rename(OsStr::from_bytes(&temporary), OsStr::from_bytes(path))
                .map_err(|errno| file_error("write", "rename", errno.raw_os_error(), path))
        });
    if written.is_err() {
        let _ = rustix::fs::unlink(OsStr::from_bytes(&temporary));
    }
    written
}

/// Reads the whole snapshot file.
fn read_whole(path: &[u8]) -> Result<Vec<u8>> {
    use std::io::Read;
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd = rustix::fs::open(OsStr::from_bytes(path), flags, Mode::empty())
        .map_err(|errno| file_error("open", "open", errno.raw_os_error(), path))?;
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .read_to_end(&mut bytes)
        .map_err(|e| file_error("read", "read", io_errno(&e), path))?;
    Ok(bytes)
}

/// What changed under `root` since `snapshot_path` was written: the snapshot is read and decoded
/// while the tree is walked. The snapshot's errors come first (its file is opened before the walk
/// starts, as `@parcel/watcher` opens it), then the walk's.
pub fn events_since(
    root: &[u8],
    snapshot_path: &[u8],
    options: WalkOptions<'_>,
) -> Result<Vec<SnapshotEvent>> {
    let bytes = read_whole(snapshot_path)?;
    let (before, after) = std::thread::scope(|scope| {
        let decoding = scope.spawn(|| decode(&bytes, snapshot_path));
        let after = walk(root, options);
        let before = decoding.join().unwrap_or_else(|_| {
            Err(Error::Panicked {
                message: "the snapshot decoder panicked".into(),
            })
        });
        (before, after)
    });
    Ok(changes_between(&before?, &after?))
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
