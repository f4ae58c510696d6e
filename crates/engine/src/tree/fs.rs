//! What the recursive tree needs from the kernel and the file system, as a trait, so that the tree's
//! bookkeeping is unit-tested on a fake and runs on the real thing in [`KernelTreeFs`].
//!
//! Directories are reached through descriptors, never through path strings someone else could
//! re-point. Each root is resolved once, when it is added ([`RootHandle`]: the directory it led to
//! then, by path and by device and inode). A scan opens the root again, checks that it is the same
//! directory, and opens every directory below it from the root's descriptor without following a
//! link (`openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`; `openat(2)`
//! with `O_NOFOLLOW` a component at a time where the kernel has no `openat2`), watches the very inode
//! opened (`inotify_add_watch` on `"."` with the thread's own working directory moved to it, see
//! `cwd_watch.rs`, or on `/proc/self/fd/N`), then lists it through the same descriptor. A directory
//! swapped for a symbolic link by another user mid-scan is then simply not there.
//!
//! No descriptor is held between scans, the roots' neither: an open descriptor on a root would
//! hold back its `IN_DELETE_SELF` until it is closed, and make `umount` of its file system fail with
//! `EBUSY`.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, ResolveFlags};
use rustix::io::Errno;

mod cwd_watch;

use cwd_watch::CwdWatch;

use crate::backlog::Backlog;
use crate::error::{Error, Result};
use crate::mask::{IN_DONT_FOLLOW, IN_MASK_ADD};
use crate::sys::InotifyFd;
use crate::wd_shares::{SessionId, WdShares};

/// Directories listed between two moves of the kernel's queue into the backlog (each listing makes
/// about five events; an empty read costs one syscall).
const LISTINGS_PER_READ_AHEAD: usize = 16;
/// The buffer one `getdents64` fills (a directory takes as many calls as it needs), allocated once
/// per [`KernelTreeFs`] and reused by every listing.
const DIR_BUF_LEN: usize = 32 * 1024;
/// How a directory is opened to be listed: for `getdents64`, never blocking, never inherited.
const LIST_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NONBLOCK);
/// How a directory is opened only to be watched, or to be gone through.
const PATH_FLAGS: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC);
/// `openat2` returns `EAGAIN` when a rename or mount raced its lookup; it is tried this many times.
const OPENAT2_TRIES: usize = 4;

/// Set once `openat2` answered `ENOSYS` (a kernel before 5.6, or a filter that hides it).
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);
/// Set once `/proc/self/fd` turned out not to be there (`/proc` not mounted): watches then go by path.
static NO_PROC_FD: AtomicBool = AtomicBool::new(false);

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

/// A tree root, resolved once when it is added: the absolute path it was given as (a relative
/// path made absolute against the working directory of that moment), the path of the directory it
/// led to then (a root named as a symbolic link is followed), and that directory's device and
/// inode. Scans reach the root by that path and check that it is still that directory, so a later
/// `chdir`, or a re-pointed root link, never makes the tree look elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootHandle {
    path: Vec<u8>,
    target: Vec<u8>,
    dev: u64,
    ino: u64,
}

impl RootHandle {
    /// Resolves `path` now: `open(O_PATH | O_DIRECTORY)`, following a link, then the descriptor's
    /// device, inode and path (`/proc/self/fd/N`; without `/proc`, `path` made absolute).
    pub fn open(path: &[u8]) -> Result<Self> {
        let fd = rustix::fs::open(path, PATH_FLAGS, Mode::empty())
            .map_err(|e| errno_error("open", e, path))?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| errno_error("fstat", e, path))?;
        let absolute = if path.starts_with(b"/") {
            path.to_vec()
        } else {
            // Lexically, as Node's path.resolve: "." components and doubled slashes go, ".." stays.
            std::path::absolute(OsStr::from_bytes(path))
                .map_err(|e| Error::Sys {
                    syscall: "getcwd",
                    errno: e.raw_os_error().unwrap_or(crate::sys::EIO),
                    path: Some(path.to_vec()),
                })?
                .into_os_string()
                .into_vec()
        };
        let target = rustix::fs::readlink(format!("/proc/self/fd/{}", fd.as_raw_fd()), Vec::new())
            .map(|p| p.into_bytes())
            .unwrap_or_else(|_| absolute.clone());
        Ok(Self {
            path: absolute,
            target,
            dev: stat.st_dev,
            ino: stat.st_ino,
        })
    }

    /// A root known by its path alone, for a [`TreeFs`] that resolves paths itself.
    #[cfg(test)]
    pub(crate) fn unopened(path: &[u8]) -> Self {
        Self {
            path: path.to_vec(),
            target: path.to_vec(),
            dev: 0,
            ino: 0,
        }
    }

    /// The absolute path the root was given as.
    pub fn path(&self) -> &[u8] {
        &self.path
    }

    /// The same root, found at `target` after a rename (and named by it from then on).
    pub fn moved_to(&self, target: &[u8]) -> Self {
        Self {
            path: target.to_vec(),
            target: target.to_vec(),
            ..self.clone()
        }
    }
}

/// Where a directory is: below which root, by which path relative to it (empty for the root
/// itself), and the path the tree reports it under (errors name it).
#[derive(Debug, Clone, Copy)]
pub struct DirAt<'r, 'p> {
    /// The root it was reached from.
    pub root: &'r RootHandle,
    /// Its path relative to the root, without a leading slash.
    pub rel: &'p [u8],
    /// The path the tree knows it by.
    pub path: &'p [u8],
}

/// A directory opened for a scan: watched and listed through the same descriptor, which is closed
/// when this is dropped.
#[derive(Debug)]
pub struct OpenDir<'a> {
    path: &'a [u8],
    /// `None` only in a [`TreeFs`] that resolves paths itself (the unit tests' fake).
    fd: Option<OwnedFd>,
}

impl<'a> OpenDir<'a> {
    /// A directory known by its path alone, for a [`TreeFs`] that resolves paths itself.
    #[cfg(test)]
    pub(crate) fn unopened(path: &'a [u8]) -> Self {
        Self { path, fd: None }
    }

    /// The path the tree knows it by.
    pub fn path(&self) -> &'a [u8] {
        self.path
    }
}

/// The kernel and file-system operations a tree performs.
pub trait TreeFs {
    /// Opens a root (see [`RootHandle::open`]).
    fn open_root(&mut self, path: &[u8]) -> Result<RootHandle>;
    /// Opens a directory below a root; through links only with `follow_links`. Without
    /// `for_listing` it is opened only to be watched (`O_PATH`: no read access checked, and
    /// nothing for inotify to report).
    fn open_dir<'p>(
        &mut self,
        at: DirAt<'_, 'p>,
        follow_links: bool,
        for_listing: bool,
    ) -> Result<OpenDir<'p>>;
    /// `inotify_add_watch(2)` on the directory opened (`IN_DONT_FOLLOW` in `mask` only matters
    /// where the watch has to go by path).
    fn add_watch(&mut self, dir: &OpenDir<'_>, mask: u32) -> Result<i32>;
    /// `inotify_rm_watch(2)`; a wd the kernel already dropped is not an error.
    fn rm_watch(&mut self, wd: i32);
    /// Lists the directory opened (`getdents`), without `.` and `..`.
    fn list_dir(&mut self, dir: &OpenDir<'_>) -> Result<DirListing>;
    /// Whether `at` resolves (following symlinks) to a directory.
    fn is_dir_following_links(&mut self, at: DirAt<'_, '_>) -> bool;
    /// Where a root is now, after the kernel said it moved (`IN_MOVE_SELF`): the same directory
    /// under a new name in the directory it was in; `Ok(None)` when it is not there (moved
    /// elsewhere, or deleted).
    fn root_path(&mut self, root: &RootHandle) -> Result<Option<Vec<u8>>>;
    /// Whether the work is to stop (the watcher is closing): a long scan gives up between
    /// directories, leaving the tree incomplete (it is being dropped anyway).
    fn cancelled(&self) -> bool {
        false
    }
    /// The tree now holds `count` watches: progress that others may read while a scan runs.
    fn watches_changed(&mut self, _count: usize) {}
    /// The mask the kernel's watch `wd` carries, when sessions share it (the union of theirs);
    /// `None`: only this tree's.
    fn kernel_mask(&self, _wd: i32) -> Option<u32> {
        None
    }
    /// Whether another session of the instance holds `wd` too: its watch was in place before this
    /// tree's (and saw what this tree did before it watched).
    fn held_by_others(&self, _wd: i32) -> bool {
        false
    }
}

/// [`TreeFs`] on the real kernel: the instance's inotify descriptor, directories opened from their
/// root's descriptor, and listings with `getdents64` into one reused buffer (`rustix`'s `RawDir`),
/// the kind from `d_type` (an `fstatat` only where the file system reports none). Not
/// `std::fs::read_dir`: glibc's `opendir` adds an `fstat` and a 32 KiB allocation per directory, a
/// quarter of a scan's time on tmpfs. Per directory: one open, one `fchdir` and one
/// `inotify_add_watch`, the `getdents64` calls, one close.
/// Every few listings it moves what the kernel has queued into the [`Backlog`], so that a long scan
/// does not overflow the kernel's queue (with, among others, the events its own listings make).
#[derive(Debug)]
pub struct KernelTreeFs<'a> {
    inotify: &'a InotifyFd,
    /// The instance's holds on its wds, and the session this tree is: a wd another session holds
    /// too is shared, its kernel mask the union of theirs (`IN_MASK_ADD`), and removed with the
    /// last hold.
    shares: &'a Mutex<WdShares>,
    session: SessionId,
    stopping: &'a AtomicBool,
    watches: &'a AtomicUsize,
    backlog: &'a Backlog,
    listed: usize,
    /// `getdents64`'s buffer (its capacity; empty until the first listing).
    dir_buf: Vec<u8>,
    /// `/proc/self/fd/N`, rewritten for each watch.
    fd_link: Vec<u8>,
    /// Watches through the thread's working directory (moved back to `/` when this is dropped).
    cwd: CwdWatch,
    /// The roots opened (and checked) so far, for the scans of this batch: `(dev, ino, fd)`.
    open_roots: Vec<(u64, u64, OwnedFd)>,
}

impl<'a> KernelTreeFs<'a> {
    /// Operations on `inotify` for `session`, whose holds `shares` keeps; scans give up once
    /// `stopping` is set, publish their progress in `watches`, and read the kernel's queue into
    /// `backlog` as they go.
    pub fn new(
        inotify: &'a InotifyFd,
        (shares, session): (&'a Mutex<WdShares>, SessionId),
        stopping: &'a AtomicBool,
        watches: &'a AtomicUsize,
        backlog: &'a Backlog,
    ) -> Self {
        Self {
            inotify,
            shares,
            session,
            stopping,
            watches,
            backlog,
            listed: 0,
            dir_buf: Vec::new(),
            fd_link: Vec::new(),
            cwd: CwdWatch::default(),
            open_roots: Vec::new(),
        }
    }

    /// `inotify_add_watch(2)` on the directory opened: as the thread's working directory where
    /// it can be ([`CwdWatch`]), else through its `/proc/self/fd` link where there is one.
    fn add_kernel_watch(&mut self, dir: &OpenDir<'_>, mask: u32) -> Result<i32> {
        if let Some(fd) = dir.fd.as_ref() {
            // "." is the directory entered, whatever its name has become: never IN_DONT_FOLLOW.
            if let Some(watched) =
                self.cwd
                    .add_watch(self.inotify, fd.as_fd(), mask & !IN_DONT_FOLLOW)
            {
                return watched.map_err(|error| named(error, dir.path));
            }
            if !NO_PROC_FD.load(Ordering::Relaxed) {
                // The magic link leads to the inode opened, whatever its path has become; it must
                // be followed, so never with IN_DONT_FOLLOW.
                use std::io::Write;
                self.fd_link.clear();
                let _ = write!(self.fd_link, "/proc/self/fd/{}", fd.as_raw_fd());
                match self
                    .inotify
                    .add_watch(&self.fd_link, mask & !IN_DONT_FOLLOW)
                {
                    Err(Error::Sys { errno, .. }) if errno == Errno::NOENT.raw_os_error() => {
                        NO_PROC_FD.store(true, Ordering::Relaxed);
                    }
                    result => return result.map_err(|error| named(error, dir.path)),
                }
            }
        }
        // No /proc: by path, not following a final link (the tree's mask says so below a root).
        self.inotify.add_watch(dir.path, mask)
    }

    /// The root's descriptor for this batch's scans: opened by the path it led to when it was
    /// added, and checked to be the same directory ([`Error::RootMoved`] when it is not).
    fn root_fd(&mut self, root: &RootHandle) -> Result<BorrowedFd<'_>> {
        let index = match self
            .open_roots
            .iter()
            .position(|(dev, ino, _)| (*dev, *ino) == (root.dev, root.ino))
        {
            Some(index) => index,
            None => {
                let moved = || Error::RootMoved {
                    path: root.path.clone(),
                };
                let fd = match rustix::fs::open(root.target.as_slice(), PATH_FLAGS, Mode::empty()) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT | Errno::NOTDIR) => return Err(moved()),
                    Err(e) => return Err(errno_error("open", e, &root.path)),
                };
                let stat =
                    rustix::fs::fstat(&fd).map_err(|e| errno_error("fstat", e, &root.path))?;
                if (stat.st_dev, stat.st_ino) != (root.dev, root.ino) {
                    return Err(moved());
                }
                self.open_roots.push((root.dev, root.ino, fd));
                self.open_roots.len() - 1
            }
        };
        match self.open_roots.get(index) {
            Some((_, _, fd)) => Ok(fd.as_fd()),
            None => Err(Error::RootMoved {
                path: root.path.clone(),
            }),
        }
    }
}

/// A failed system call's error naming `path` (not the `/proc/self/fd` link or `.` it went by).
fn named(error: Error, path: &[u8]) -> Error {
    match error {
        Error::Sys { syscall, errno, .. } => Error::Sys {
            syscall,
            errno,
            path: Some(path.to_vec()),
        },
        other => other,
    }
}

/// A failed system call on `path`, as the engine's error.
pub(crate) fn errno_error(syscall: &'static str, errno: Errno, path: &[u8]) -> Error {
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

/// The kind of `name` in `dir` from `fstatat` (not following a link); `None` when the entry vanished
/// since it was listed (it is then simply not listed).
fn stat_kind(dir: BorrowedFd<'_>, name: &[u8]) -> Option<EntryKind> {
    let stat = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    kind_of(FileType::from_raw_mode(stat.st_mode))
}

/// `rel` as a path to open from the root's descriptor.
fn rel_or_dot(rel: &[u8]) -> &[u8] {
    if rel.is_empty() {
        b"."
    } else {
        rel
    }
}

/// Opens the directory at `rel` below `root` for listing, following no link on the way: `openat2`
/// confined to the root, or, on a kernel without it, one component at a time.
fn open_beneath(
    root: BorrowedFd<'_>,
    rel: &[u8],
    flags: OFlags,
) -> std::result::Result<OwnedFd, (&'static str, Errno)> {
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        let mut tries = 0;
        loop {
            tries += 1;
            match rustix::fs::openat2(root, rel_or_dot(rel), flags, Mode::empty(), resolve) {
                Err(Errno::AGAIN) if tries < OPENAT2_TRIES => continue,
                Err(Errno::NOSYS) => {
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                    break;
                }
                result => return result.map_err(|e| ("openat2", e)),
            }
        }
    }
    open_component_wise(root, rel, flags).map_err(|e| ("openat", e))
}

/// `open_beneath` without `openat2`: each component opened from the last with `O_NOFOLLOW` (the
/// intermediate ones `O_PATH`, which the kernel neither checks for reading nor reports to inotify).
fn open_component_wise(
    root: BorrowedFd<'_>,
    rel: &[u8],
    flags: OFlags,
) -> rustix::io::Result<OwnedFd> {
    let mut parts = rel
        .split(|b| *b == b'/')
        .filter(|p| !p.is_empty())
        .peekable();
    let mut current: Option<OwnedFd> = None;
    while let Some(part) = parts.next() {
        let at = current.as_ref().map_or(root, |fd| fd.as_fd());
        let last = parts.peek().is_none();
        let flags = if last { flags } else { PATH_FLAGS };
        current = Some(rustix::fs::openat(
            at,
            part,
            flags | OFlags::NOFOLLOW,
            Mode::empty(),
        )?);
    }
    match current {
        Some(fd) => Ok(fd),
        None => rustix::fs::openat(root, ".", flags, Mode::empty()),
    }
}

impl TreeFs for KernelTreeFs<'_> {
    fn open_root(&mut self, path: &[u8]) -> Result<RootHandle> {
        RootHandle::open(path)
    }

    fn open_dir<'p>(
        &mut self,
        at: DirAt<'_, 'p>,
        follow_links: bool,
        for_listing: bool,
    ) -> Result<OpenDir<'p>> {
        let flags = if for_listing { LIST_FLAGS } else { PATH_FLAGS };
        let root = self.root_fd(at.root)?;
        let opened = if follow_links {
            rustix::fs::openat(root, rel_or_dot(at.rel), flags, Mode::empty())
                .map_err(|e| ("openat", e))
        } else {
            open_beneath(root, at.rel, flags).map_err(|(syscall, errno)| match errno {
                // A link where the directory was (swapped since it was listed): no directory here,
                // as `IN_ONLYDIR | IN_DONT_FOLLOW` on the path would say.
                Errno::LOOP => (syscall, Errno::NOTDIR),
                // Moved out of the root while the lookup ran: gone from the tree.
                Errno::XDEV => (syscall, Errno::NOENT),
                other => (syscall, other),
            })
        };
        let fd = opened.map_err(|(syscall, errno)| errno_error(syscall, errno, at.path))?;
        Ok(OpenDir {
            path: at.path,
            fd: Some(fd),
        })
    }

    fn add_watch(&mut self, dir: &OpenDir<'_>, mask: u32) -> Result<i32> {
        let wd = self.add_kernel_watch(dir, mask | IN_MASK_ADD)?;
        crate::sync::lock(self.shares).hold(wd, self.session, mask);
        Ok(wd)
    }

    fn rm_watch(&mut self, wd: i32) {
        if crate::sync::lock(self.shares).release(wd, self.session) {
            // EINVAL: the kernel dropped it already (deleted, or its IN_IGNORED is queued).
            let _ = self.inotify.rm_watch(wd);
        }
    }

    fn list_dir(&mut self, dir: &OpenDir<'_>) -> Result<DirListing> {
        self.listed += 1;
        if self.listed.is_multiple_of(LISTINGS_PER_READ_AHEAD) {
            // A read error here is met again, and reported, by the reader's next own read.
            let _ = self.backlog.read_from(self.inotify);
        }
        let Some(fd) = dir.fd.as_ref() else {
            return Err(errno_error("getdents64", Errno::BADF, dir.path));
        };
        if self.dir_buf.capacity() == 0 {
            self.dir_buf.reserve_exact(DIR_BUF_LEN);
        }
        let mut listing = RawDir::new(fd, self.dir_buf.spare_capacity_mut());
        let mut entries = Vec::new();
        let mut reads = 0;
        loop {
            // RawDir calls getdents64 when its buffer is used up, the last (empty) call included.
            if listing.is_buffer_empty() {
                reads += 1;
            }
            let Some(entry) = listing.next() else {
                break;
            };
            let entry = entry.map_err(|e| errno_error("getdents64", e, dir.path))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let Some(kind) = kind_of(entry.file_type()).or_else(|| stat_kind(fd.as_fd(), name))
            else {
                continue;
            };
            entries.push(ListedEntry {
                name: name.to_vec(),
                kind,
            });
        }
        Ok(DirListing { entries, reads })
    }

    fn is_dir_following_links(&mut self, at: DirAt<'_, '_>) -> bool {
        self.root_fd(at.root).is_ok_and(|root| {
            rustix::fs::statat(root, rel_or_dot(at.rel), AtFlags::empty())
                .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory)
        })
    }

    fn root_path(&mut self, root: &RootHandle) -> Result<Option<Vec<u8>>> {
        // Looked for by inode in the directory it was in (`d_ino`; a rename keeps the inode, and
        // a directory cannot be renamed across file systems).
        let Some(cut) = root.target.iter().rposition(|b| *b == b'/') else {
            return Ok(None);
        };
        let parent: &[u8] = if cut == 0 { b"/" } else { &root.target[..cut] };
        let fd = rustix::fs::open(parent, LIST_FLAGS, Mode::empty())
            .map_err(|e| errno_error("open", e, parent))?;
        if self.dir_buf.capacity() == 0 {
            self.dir_buf.reserve_exact(DIR_BUF_LEN);
        }
        let mut listing = RawDir::new(&fd, self.dir_buf.spare_capacity_mut());
        while let Some(entry) = listing.next() {
            let entry = entry.map_err(|e| errno_error("getdents64", e, parent))?;
            let name = entry.file_name().to_bytes();
            if entry.ino() != root.ino || name == b"." || name == b".." {
                continue;
            }
            let same = rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|s| (s.st_dev, s.st_ino) == (root.dev, root.ino));
            if same {
                return Ok(Some(crate::paths::join(parent, name)));
            }
        }
        Ok(None)
    }

    fn cancelled(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    fn watches_changed(&mut self, count: usize) {
        self.watches.store(count, Ordering::Relaxed);
    }

    fn kernel_mask(&self, wd: i32) -> Option<u32> {
        Some(crate::sync::lock(self.shares).kernel_mask(wd))
    }

    fn held_by_others(&self, wd: i32) -> bool {
        crate::sync::lock(self.shares).held_by_other_than(wd, self.session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::{IN_CREATE, IN_ONLYDIR};
    use crate::parse::parse_events;
    use crate::sys::ReadOutcome;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    fn sorted(mut entries: Vec<ListedEntry>) -> Vec<ListedEntry> {
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
    }

    fn bytes(path: &Path) -> &[u8] {
        path.as_os_str().as_bytes()
    }

    struct Kernel {
        inotify: InotifyFd,
        shares: Mutex<WdShares>,
        stopping: AtomicBool,
        watches: AtomicUsize,
        backlog: Backlog,
    }

    impl Kernel {
        fn new() -> Self {
            Self {
                inotify: InotifyFd::open().expect("inotify_init1"),
                shares: Mutex::new(WdShares::default()),
                stopping: AtomicBool::new(false),
                watches: AtomicUsize::new(0),
                backlog: Backlog::new(),
            }
        }
        fn fs(&self) -> KernelTreeFs<'_> {
            KernelTreeFs::new(
                &self.inotify,
                (&self.shares, 1),
                &self.stopping,
                &self.watches,
                &self.backlog,
            )
        }
        /// The names of the events queued now.
        fn names(&self) -> Vec<Vec<u8>> {
            let mut buf = vec![0u8; 64 * 1024];
            match self.inotify.read(&mut buf).expect("read") {
                ReadOutcome::Bytes(n) => parse_events(&buf[..n]).map(|e| e.name.to_vec()).collect(),
                ReadOutcome::Empty => Vec::new(),
            }
        }
    }

    fn at<'r, 'p>(root: &'r RootHandle, rel: &'p [u8], path: &'p [u8]) -> DirAt<'r, 'p> {
        DirAt { root, rel, path }
    }

    fn errno_of<T: std::fmt::Debug>(result: Result<T>) -> (&'static str, i32) {
        match result {
            Err(Error::Sys { syscall, errno, .. }) => (syscall, errno),
            other => panic!("expected a system error, got {other:?}"),
        }
    }

    #[test]
    fn the_fstatat_fallback_for_a_missing_d_type_tells_each_kind_and_skips_what_vanished() {
        // tmpfs and ext4 always give a d_type, so the listing test never reaches this fallback.
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        std::fs::create_dir(dir.join("sub")).expect("mkdir");
        symlink("sub", dir.join("link")).expect("symlink");
        std::fs::write(dir.join("file"), b"").expect("create");
        let fd = rustix::fs::open(dir, PATH_FLAGS, Mode::empty()).expect("open");
        assert_eq!(stat_kind(fd.as_fd(), b"sub"), Some(EntryKind::Dir));
        assert_eq!(stat_kind(fd.as_fd(), b"link"), Some(EntryKind::Symlink));
        assert_eq!(stat_kind(fd.as_fd(), b"file"), Some(EntryKind::File));
        assert_eq!(stat_kind(fd.as_fd(), b"gone"), None);
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
        let kernel = Kernel::new();
        let mut fs = kernel.fs();
        let root = fs.open_root(bytes(dir)).expect("open the root");
        let path = bytes(dir);
        let opened = fs
            .open_dir(at(&root, b"", path), false, true)
            .expect("open");
        let listing = fs.list_dir(&opened).expect("list");
        // 100 KB in a 32 KiB buffer: at least four calls, the last one empty.
        assert!(listing.reads >= 4, "{} getdents64 calls", listing.reads);
        assert_eq!(sorted(listing.entries), expected);
        // The buffer is reused: a second listing is the same.
        let again = fs
            .open_dir(at(&root, b"", path), false, true)
            .expect("open");
        assert_eq!(
            sorted(fs.list_dir(&again).expect("list again").entries),
            expected
        );
        let missing = dir.join("missing");
        match fs.open_dir(at(&root, b"missing", bytes(&missing)), false, true) {
            Err(Error::Sys {
                syscall,
                errno,
                path,
            }) => {
                assert_eq!(
                    (syscall, errno),
                    ("openat2", nix::errno::Errno::ENOENT as i32)
                );
                assert_eq!(path.as_deref(), Some(bytes(&missing)));
            }
            other => panic!("expected ENOENT from openat2, got {other:?}"),
        }
    }

    #[test]
    fn a_root_is_resolved_once_and_found_again_after_a_rename_in_its_directory_only() {
        let temp = tempfile::tempdir().expect("temp dir");
        let base = temp.path();
        std::fs::create_dir_all(base.join("t/sub")).expect("mkdir");
        std::fs::create_dir_all(base.join("decoy/sub")).expect("mkdir");
        std::fs::create_dir(base.join("elsewhere")).expect("mkdir");
        symlink(base.join("t"), base.join("link")).expect("symlink");
        let kernel = Kernel::new();
        let mut fs = kernel.fs();
        let root = fs.open_root(bytes(&base.join("link"))).expect("open");
        assert_eq!(root.path(), bytes(&base.join("link")));
        // The link re-pointed: the root is still the directory it led to.
        std::fs::remove_file(base.join("link")).expect("rm");
        symlink(base.join("decoy"), base.join("link")).expect("symlink");
        let sub = base.join("link/sub");
        assert!(fs
            .open_dir(at(&root, b"sub", bytes(&sub)), false, true)
            .is_ok());
        // Renamed in its directory: found under its new name.
        std::fs::rename(base.join("t"), base.join("t2")).expect("rename");
        assert_eq!(
            fs.root_path(&root).expect("list the parent"),
            Some(bytes(&base.join("t2")).to_vec())
        );
        let moved = root.moved_to(bytes(&base.join("t2")));
        let mut fs = kernel.fs();
        assert!(fs
            .open_dir(at(&moved, b"sub", bytes(&sub)), false, true)
            .is_ok());
        // The old name taken by another directory: never scanned as the root.
        std::fs::create_dir(base.join("t")).expect("mkdir");
        let mut fs = kernel.fs();
        match fs.open_dir(at(&root, b"", bytes(&base.join("t"))), false, true) {
            Err(Error::RootMoved { path }) => assert_eq!(path, bytes(&base.join("link"))),
            other => panic!("expected RootMoved, got {other:?}"),
        }
        // Moved to another directory: not found.
        std::fs::rename(base.join("t2"), base.join("elsewhere/t3")).expect("rename");
        assert_eq!(fs.root_path(&moved).expect("list the parent"), None);
        // A file is no root.
        std::fs::write(base.join("file"), b"").expect("create");
        assert_eq!(
            errno_of(fs.open_root(bytes(&base.join("file")))),
            ("open", nix::errno::Errno::ENOTDIR as i32)
        );
    }

    /// base/root/{real/inner/, link -> base/outside}, base/outside/inner/.
    fn with_a_link_out(base: &Path) -> RootHandle {
        std::fs::create_dir_all(base.join("root/real/inner")).expect("mkdir");
        std::fs::create_dir_all(base.join("outside/inner")).expect("mkdir");
        symlink(base.join("outside"), base.join("root/link")).expect("symlink");
        RootHandle::open(bytes(&base.join("root"))).expect("open the root")
    }

    #[test]
    fn directories_below_a_root_are_opened_without_following_a_link_anywhere_on_the_way() {
        let temp = tempfile::tempdir().expect("temp dir");
        let root = with_a_link_out(temp.path());
        let kernel = Kernel::new();
        let mut fs = kernel.fs();
        let enotdir = nix::errno::Errno::ENOTDIR as i32;
        assert!(fs
            .open_dir(at(&root, b"real/inner", b"p"), false, true)
            .is_ok());
        // The link itself, and a directory reached through it: no directory here.
        for rel in [&b"link"[..], b"link/inner"] {
            assert_eq!(
                errno_of(fs.open_dir(at(&root, rel, b"p"), false, true)),
                ("openat2", enotdir)
            );
            assert_eq!(
                errno_of(fs.open_dir(at(&root, rel, b"p"), false, false)),
                ("openat2", enotdir)
            );
            // Followed when asked to.
            assert!(fs.open_dir(at(&root, rel, b"p"), true, true).is_ok());
        }
        // The same without openat2, one component at a time.
        let fd = rustix::fs::open(root.target.as_slice(), PATH_FLAGS, Mode::empty()).expect("open");
        assert!(open_component_wise(fd.as_fd(), b"real/inner", LIST_FLAGS).is_ok());
        assert!(open_component_wise(fd.as_fd(), b"", LIST_FLAGS).is_ok());
        for rel in [&b"link"[..], b"link/inner"] {
            for flags in [LIST_FLAGS, PATH_FLAGS] {
                let errno = open_component_wise(fd.as_fd(), rel, flags).map(drop);
                assert!(
                    matches!(errno, Err(Errno::LOOP | Errno::NOTDIR)),
                    "{rel:?}: {errno:?}"
                );
            }
        }
        assert!(fs.is_dir_following_links(at(&root, b"link", b"p")));
        assert!(!fs.is_dir_following_links(at(&root, b"missing", b"p")));
    }

    #[test]
    fn the_watch_goes_on_the_inode_opened_even_when_its_name_now_leads_elsewhere() {
        let temp = tempfile::tempdir().expect("temp dir");
        let base = temp.path();
        let root = with_a_link_out(base);
        let kernel = Kernel::new();
        let mut fs = kernel.fs();
        let path = base.join("root/real");
        let opened = fs
            .open_dir(at(&root, b"real", bytes(&path)), false, true)
            .expect("open");
        // Swapped for a link to the outside between the open and the watch.
        std::fs::rename(&path, base.join("root/moved")).expect("rename");
        symlink(base.join("outside"), &path).expect("symlink");
        let wd = fs
            .add_watch(&opened, IN_CREATE | IN_ONLYDIR | IN_DONT_FOLLOW)
            .expect("add_watch");
        std::fs::write(base.join("outside/not-ours"), b"").expect("create");
        std::fs::write(base.join("root/moved/ours"), b"").expect("create");
        assert_eq!(kernel.names(), vec![b"ours".to_vec()]);
        let by_path = kernel
            .inotify
            .add_watch(bytes(&base.join("root/moved")), IN_CREATE)
            .expect("add_watch");
        assert_eq!(by_path, wd);
        // Opened only to be watched (O_PATH, as a re-scan does): the same inode, the same wd.
        let moved = base.join("root/moved");
        let watched_only = fs
            .open_dir(at(&root, b"moved", bytes(&moved)), false, false)
            .expect("open");
        assert_eq!(
            fs.add_watch(&watched_only, IN_CREATE | IN_ONLYDIR)
                .expect("add_watch"),
            wd
        );
        // An error names the directory, not the descriptor's link.
        drop(opened);
        let file = base.join("root/file");
        std::fs::write(&file, b"").expect("create");
        let opened = fs
            .open_dir(at(&root, b"file", bytes(&file)), false, false)
            .map(drop);
        assert_eq!(
            errno_of(opened),
            ("openat2", nix::errno::Errno::ENOTDIR as i32)
        );
    }
}
