//! The one module that talks to the kernel about inotify, through `nix` (and `rustix` for
//! `FIONREAD`): the inotify descriptor, the epoll set the reader waits on, and the eventfd that wakes
//! it. Everything above works on bytes and numbers (directory listings are `tree::fs`'s).
//!
//! Closing an inotify descriptor waits for the kernel's SRCU grace period (`fsnotify_destroy_group`,
//! 0.2 to 19 ms measured), so it is done on the reader thread ([`InotifyFd::close`],
//! [`Poller::close`]) while other threads may still hold the instance. Every use of a descriptor
//! holds a read lock and finds it open, and closing takes the write lock: no use ever reaches a
//! closed descriptor, whose number the process may meanwhile have given to another file.

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::error::{Error, Result};

/// `EINVAL`, the errno a caller may give the engine's own conditions of a bad argument.
pub const EINVAL: i32 = Errno::EINVAL as i32;
pub(crate) const ENOSPC: i32 = Errno::ENOSPC as i32;
pub(crate) const EIO: i32 = Errno::EIO as i32;
pub(crate) const ENOENT: i32 = Errno::ENOENT as i32;
pub(crate) const ENOTDIR: i32 = Errno::ENOTDIR as i32;

/// The errno's symbolic name (`ENOENT`); `EIO` for one outside the few inotify and its callers meet.
pub fn errno_name(errno: i32) -> &'static str {
    let name = Errno::from_raw(errno);
    // nix's Debug of an Errno is its C name; keep a static copy for the few we expect.
    match name {
        Errno::ENOENT => "ENOENT",
        Errno::EACCES => "EACCES",
        Errno::ENOSPC => "ENOSPC",
        Errno::EMFILE => "EMFILE",
        Errno::ENFILE => "ENFILE",
        Errno::ENOTDIR => "ENOTDIR",
        Errno::EINVAL => "EINVAL",
        Errno::EEXIST => "EEXIST",
        Errno::EBADF => "EBADF",
        Errno::ENOMEM => "ENOMEM",
        Errno::ENAMETOOLONG => "ENAMETOOLONG",
        Errno::ELOOP => "ELOOP",
        Errno::EFAULT => "EFAULT",
        Errno::EPERM => "EPERM",
        Errno::EINTR => "EINTR",
        _ => "EIO",
    }
}

/// The C library's description of an errno.
pub fn errno_description(errno: i32) -> &'static str {
    Errno::from_raw(errno).desc()
}

fn sys_error(syscall: &'static str, errno: Errno, path: Option<&[u8]>) -> Error {
    Error::Sys {
        syscall,
        errno: errno as i32,
        path: path.map(<[u8]>::to_vec),
    }
}

/// What one non-blocking read of the inotify descriptor gave.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// This many bytes of whole records.
    Bytes(usize),
    /// Nothing queued (EAGAIN).
    Empty,
}

/// Descriptors that one thread closes while other threads may still be about to use them.
#[derive(Debug)]
struct Closable<T>(RwLock<Option<T>>);

impl<T> Closable<T> {
    fn new(open: T) -> Self {
        Self(RwLock::new(Some(open)))
    }

    /// The descriptors, open for as long as the guard lives; `None` once closed. A poisoned lock
    /// is taken all the same: no critical section leaves the option half-changed.
    fn open(&self) -> Option<OpenGuard<'_, T>> {
        let guard = self.0.read().unwrap_or_else(PoisonError::into_inner);
        guard.is_some().then_some(OpenGuard(guard))
    }

    /// Closes the descriptors (drops them) once no thread is using them; later uses find them
    /// closed. Must not be called by a thread holding an [`Closable::open`] guard.
    fn close(&self) {
        let taken = self
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // Outside the lock: close(2) of an inotify descriptor waits for the grace period.
        drop(taken);
    }

    fn get_mut(&mut self) -> Option<&mut T> {
        self.0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
    }
}

/// A read guard of a [`Closable`] found open.
struct OpenGuard<'a, T>(RwLockReadGuard<'a, Option<T>>);

impl<T> std::ops::Deref for OpenGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self.0.as_ref() {
            Some(open) => open,
            // `Closable::open` hands out a guard only over `Some`, and nothing can take it while
            // the read lock is held.
            None => unreachable!("a Closable guard over a closed descriptor"),
        }
    }
}

fn closed_error(syscall: &'static str) -> Error {
    sys_error(syscall, Errno::EBADF, None)
}

/// An inotify instance opened with `IN_CLOEXEC | IN_NONBLOCK`; closed by [`InotifyFd::close`] or
/// when dropped. Its calls fail with `EBADF` once it is closed.
#[derive(Debug)]
pub struct InotifyFd {
    inotify: Closable<Inotify>,
}

impl InotifyFd {
    /// `inotify_init1(IN_CLOEXEC | IN_NONBLOCK)`.
    pub fn open() -> Result<Self> {
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .map_err(|e| sys_error("inotify_init1", e, None))?;
        Ok(Self {
            inotify: Closable::new(inotify),
        })
    }

    /// `close(2)`, once no other thread is in a call on the descriptor: it waits for the kernel's
    /// grace period, so the reader thread does it. Idempotent.
    pub fn close(&self) {
        self.inotify.close();
    }

    /// `inotify_add_watch(2)`; returns the watch descriptor.
    pub fn add_watch(&self, path: &[u8], mask: u32) -> Result<i32> {
        let inotify = self
            .inotify
            .open()
            .ok_or_else(|| closed_error("inotify_add_watch"))?;
        inotify
            .add_watch(path, AddWatchFlags::from_bits_retain(mask))
            .map(|wd| wd.as_raw())
            .map_err(|e| sys_error("inotify_add_watch", e, Some(path)))
    }

    /// `inotify_rm_watch(2)` by number. nix only removes a `WatchDescriptor` it handed out, and the
    /// wd here may come from the kernel's own events, so the call goes to libc directly.
    pub fn rm_watch(&self, wd: i32) -> Result<()> {
        let inotify = self
            .inotify
            .open()
            .ok_or_else(|| closed_error("inotify_rm_watch"))?;
        // SAFETY: inotify_rm_watch takes two integers and touches no memory of ours; the descriptor
        // is open while `inotify` (a read guard) lives, since closing takes the write lock.
        let rc = unsafe { nix::libc::inotify_rm_watch(inotify.as_fd().as_raw_fd(), wd) };
        Errno::result(rc)
            .map(drop)
            .map_err(|e| sys_error("inotify_rm_watch", e, None))
    }

    /// One `read(2)` into `buf`, retrying EINTR.
    pub fn read(&self, buf: &mut [u8]) -> Result<ReadOutcome> {
        let inotify = self.inotify.open().ok_or_else(|| closed_error("read"))?;
        loop {
            match nix::unistd::read(inotify.as_fd(), buf) {
                Ok(n) => return Ok(ReadOutcome::Bytes(n)),
                Err(Errno::EAGAIN) => return Ok(ReadOutcome::Empty),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(sys_error("read", e, None)),
            }
        }
    }

    /// Bytes of events waiting in the kernel's queue (`FIONREAD`).
    pub fn queued_bytes(&self) -> Result<u64> {
        let inotify = self
            .inotify
            .open()
            .ok_or_else(|| closed_error("ioctl(FIONREAD)"))?;
        rustix::io::ioctl_fionread(inotify.as_fd())
            .map_err(|e| sys_error("ioctl(FIONREAD)", Errno::from_raw(e.raw_os_error()), None))
    }

    /// The raw descriptor, for diagnostics (`/proc/self/fdinfo`); -1 once closed.
    pub fn raw_fd(&self) -> RawFd {
        self.inotify
            .open()
            .map_or(-1, |inotify| inotify.as_fd().as_raw_fd())
    }
}

const TOKEN_INOTIFY: u64 = 1;
const TOKEN_WAKE: u64 = 2;
const TOKEN_MOUNTS: u64 = 3;
/// Polls `EPOLLPRI` (and `EPOLLERR`) once for each change of the mount table since it was opened
/// or last polled.
const MOUNT_TABLE: &str = "/proc/self/mountinfo";

/// What woke a [`Poller::wait`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// The inotify descriptor has events to read.
    pub readable: bool,
    /// Another thread called [`Poller::wake`].
    pub woken: bool,
    /// The mount table changed (only with [`Poller::watch_mount_table`]).
    pub mounts_changed: bool,
}

/// The descriptors of a [`Poller`].
#[derive(Debug)]
struct PollerFds {
    epoll: Epoll,
    wake: EventFd,
    /// `/proc/self/mountinfo`, held open so that its changes wake the wait.
    mount_table: Option<std::fs::File>,
}

/// An epoll set holding one inotify descriptor and an eventfd that other threads use to wake it;
/// closed by [`Poller::close`] or when dropped.
#[derive(Debug)]
pub struct Poller {
    fds: Closable<PollerFds>,
    /// A wait saw the mount table change and nobody has taken it yet: the kernel flags a change
    /// once, so a wait that returns for another reason must not lose it.
    mounts_pending: AtomicBool,
}

impl Poller {
    /// Registers `inotify` (level-triggered) and a fresh eventfd.
    pub fn new(inotify: &InotifyFd) -> Result<Self> {
        let inotify = inotify
            .inotify
            .open()
            .ok_or_else(|| closed_error("epoll_ctl"))?;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .map_err(|e| sys_error("epoll_create1", e, None))?;
        let wake = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map_err(|e| sys_error("eventfd", e, None))?;
        epoll
            .add(
                inotify.as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_INOTIFY),
            )
            .map_err(|e| sys_error("epoll_ctl", e, None))?;
        epoll
            .add(
                wake.as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_WAKE),
            )
            .map_err(|e| sys_error("epoll_ctl", e, None))?;
        Ok(Self {
            fds: Closable::new(PollerFds {
                epoll,
                wake,
                mount_table: None,
            }),
            mounts_pending: AtomicBool::new(false),
        })
    }

    /// Closes the epoll set, the eventfd and the mount table, once no other thread is in a call on
    /// them; a later [`Poller::wake`] does nothing. Idempotent.
    pub fn close(&self) {
        self.fds.close();
    }

    /// Also ends a wait when the mount table changes (a file system mounted or unmounted
    /// anywhere): inotify says nothing of a mount over a watched directory. Returns false where
    /// `/proc` is not mounted (nothing is watched then).
    pub fn watch_mount_table(&mut self) -> bool {
        let Some(fds) = self.fds.get_mut() else {
            return false;
        };
        let Ok(table) = std::fs::File::open(MOUNT_TABLE) else {
            return false;
        };
        let interest = EpollEvent::new(EpollFlags::EPOLLPRI | EpollFlags::EPOLLERR, TOKEN_MOUNTS);
        if fds.epoll.add(table.as_fd(), interest).is_err() {
            return false;
        }
        fds.mount_table = Some(table);
        true
    }

    /// The mount table as it is now (empty if it cannot be read).
    pub fn read_mount_table(&self) -> Vec<u8> {
        std::fs::read(MOUNT_TABLE).unwrap_or_default()
    }

    /// Waits until the inotify descriptor is readable, [`Poller::wake`] is called, or `timeout`
    /// passes (`None` waits without end). EINTR is retried with the time that is left, so a signal
    /// neither ends the wait early nor stretches it. A wake is consumed here.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<Readiness> {
        let fds = self.fds.open().ok_or_else(|| closed_error("epoll_wait"))?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut events = [EpollEvent::empty(); 3];
        loop {
            let epoll_timeout = match deadline {
                None => EpollTimeout::NONE,
                Some(deadline) => {
                    to_epoll_timeout(deadline.saturating_duration_since(Instant::now()))
                }
            };
            let n = match fds.epoll.wait(&mut events, epoll_timeout) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(sys_error("epoll_wait", e, None)),
            };
            let mut ready = Readiness::default();
            for event in &events[..n] {
                match event.data() {
                    TOKEN_INOTIFY => ready.readable = true,
                    TOKEN_WAKE => ready.woken = true,
                    TOKEN_MOUNTS => {
                        ready.mounts_changed = true;
                        self.mounts_pending.store(true, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
            if ready.woken {
                // Reset the counter; EAGAIN only means another wait already consumed it.
                let _ = fds.wake.read();
            }
            if ready.readable || ready.woken || ready.mounts_changed {
                return Ok(ready);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(ready);
            }
        }
    }

    /// Whether a wait saw the mount table change since the last call (whatever that wait returned
    /// for, and whoever made it).
    pub fn take_mounts_changed(&self) -> bool {
        self.mounts_pending.swap(false, Ordering::Relaxed)
    }

    /// Wakes a thread blocked in [`Poller::wait`] (or makes its next wait return at once). Once
    /// closed, there is nobody to wake.
    pub fn wake(&self) -> Result<()> {
        let Some(fds) = self.fds.open() else {
            return Ok(());
        };
        match fds.wake.write(1) {
            // EAGAIN: the counter is saturated, so a wake is pending anyway.
            Ok(_) | Err(Errno::EAGAIN) => Ok(()),
            Err(e) => Err(sys_error("eventfd write", e, None)),
        }
    }
}

/// Milliseconds for epoll, rounded up so that a wait never ends before its deadline.
fn to_epoll_timeout(left: Duration) -> EpollTimeout {
    let millis = left.as_micros().div_ceil(1000);
    EpollTimeout::try_from(millis).unwrap_or(EpollTimeout::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_timeouts_up_and_clamps_long_ones() {
        assert_eq!(i32::from(to_epoll_timeout(Duration::from_micros(1))), 1);
        assert_eq!(i32::from(to_epoll_timeout(Duration::from_micros(1500))), 2);
        assert_eq!(i32::from(to_epoll_timeout(Duration::ZERO)), 0);
        assert_eq!(
            i32::from(to_epoll_timeout(Duration::from_secs(u64::MAX / 4))),
            i32::MAX
        );
    }

    #[test]
    fn names_the_errnos_node_uses() {
        assert_eq!(errno_name(Errno::ENOSPC as i32), "ENOSPC");
        assert_eq!(errno_name(Errno::ENOTDIR as i32), "ENOTDIR");
        assert!(errno_description(Errno::ENOENT as i32).contains("No such file"));
    }
}
