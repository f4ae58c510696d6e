//! The consumer's handle on a session of an [`crate::instance`]: a raw watch set, a tree or a
//! change tree, with its own books, queue and doorbell.
//!
//! The consumer arms the reader ([`Session::request`]); while armed, the reader queues one encoded
//! batch per read and rings the session's [`Doorbell`]: nothing on the consumer's side wakes it
//! per batch. Rings are coalesced (one until the consumer takes), and the queue is bounded
//! ([`MAX_QUEUED_BYTES`]). Disarmed ([`Session::pause`]), nothing more is read for it unless
//! another session of its instance is armed. A wait that ends with no event and nothing queued
//! queues an empty batch: a tick.
//!
//! A read-now request ([`Session::read_now`]) has the reader read what the kernel has queued at
//! once, armed or not, without waiting for more: the consumer's "what is there now".

use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::books::{Books, Mode};
use crate::doorbell::Doorbell;
use crate::error::{Error, Result};
use crate::instance::{close_session, own_instance, shared_instance, InstanceCore, SessionCore};
use crate::mask::check_add_watch_mask;
use crate::session_queue::{Armed, State};
use crate::sync::{lock, wait_on};
use crate::tree::fs::RootHandle;
use crate::tree::TreeReport;
use crate::wire::EncodedBatch;

pub use crate::session_queue::MAX_QUEUED_BYTES;

/// A session of an inotify instance.
#[derive(Debug)]
pub struct Session {
    instance: Arc<InstanceCore>,
    core: Arc<SessionCore>,
}

/// A handle that can close a [`Session`] from elsewhere (an environment cleanup hook) without
/// keeping it alive: once the session is dropped, closing through this handle does nothing.
#[derive(Debug, Clone)]
pub struct Closer {
    instance: Weak<InstanceCore>,
    core: Weak<SessionCore>,
}

impl Closer {
    /// Same as [`Session::close`], if the session still exists.
    pub fn close(&self) {
        if let (Some(instance), Some(core)) = (self.instance.upgrade(), self.core.upgrade()) {
            close(&instance, &core);
        }
    }

    /// Same as [`Session::wait_released`]; true at once if the session no longer exists.
    pub fn wait_released(&self, timeout: Option<Duration>) -> bool {
        self.core
            .upgrade()
            .is_none_or(|core| wait_released(&core, timeout))
    }
}

/// Where a session lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// An instance of its own (always, for raw watch sets).
    Own,
    /// The instance the process's trees and change trees share.
    Shared,
}

impl Session {
    /// Opens a raw watch set (watches added with [`Session::add_watch`]) on an instance of its own.
    pub fn open(doorbell: impl Doorbell) -> Result<Self> {
        Self::open_with(doorbell, Mode::Plain)
    }

    /// Opens a session in `mode` on an instance of its own.
    pub fn open_with(doorbell: impl Doorbell, mode: Mode) -> Result<Self> {
        Self::open_in(doorbell, mode, Placement::Own)
    }

    /// Opens a session in `mode`, placed as asked (a raw watch set always has its own instance).
    pub fn open_in(doorbell: impl Doorbell, mode: Mode, placement: Placement) -> Result<Self> {
        let doorbell: Box<dyn Doorbell> = Box::new(doorbell);
        let (instance, core) = match (placement, &mode) {
            (Placement::Shared, Mode::Tree(_) | Mode::Changes(_)) => {
                shared_instance(mode, doorbell)?
            }
            _ => own_instance(mode, doorbell)?,
        };
        Ok(Self { instance, core })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.core.state)
    }

    fn check_open(&self) -> Result<()> {
        let state = self.state();
        if state.stop {
            return Err(state.stopped_error());
        }
        Ok(())
    }

    /// `inotify_add_watch(2)`: watches `path` for `mask` and returns the kernel's wd (the same wd
    /// for an inode that is already watched). Raw watch sets only.
    pub fn add_watch(&self, path: &[u8], mask: u32) -> Result<i32> {
        self.check_open()?;
        check_add_watch_mask(mask).map_err(|bad_bits| Error::InvalidMask { mask, bad_bits })?;
        // Hold the books across the syscall: the reader routes by them, and an event of the new wd
        // read before the insert would be dropped as belonging to no watch.
        let mut books = lock(&self.core.books);
        let Books::Plain(table) = &mut *books else {
            return Err(Error::WrongMode);
        };
        let wd = self.instance.inotify.add_watch(path, mask)?;
        lock(&self.instance.shares).hold(wd, self.core.id, mask);
        table.insert(wd, path);
        self.core.watches.store(table.len(), Ordering::Relaxed);
        Ok(wd)
    }

    /// Stops watching `wd`. With `superficial`, only forgets it (the kernel already dropped it).
    /// A wd the kernel dropped before we asked (its IN_IGNORED still queued) is removed all the same.
    pub fn remove_watch(&self, wd: i32, superficial: bool) -> Result<()> {
        self.check_open()?;
        let mut books = lock(&self.core.books);
        let Books::Plain(table) = &mut *books else {
            return Err(Error::WrongMode);
        };
        if table.path_of(wd).is_none() {
            return Err(Error::NotWatched { wd });
        }
        if !superficial {
            match self.instance.inotify.rm_watch(wd) {
                Ok(()) => {}
                Err(Error::Sys { errno, .. }) if errno == crate::sys::EINVAL => {}
                Err(e) => return Err(e),
            }
        }
        lock(&self.instance.shares).release(wd, self.core.id);
        table.remove(wd);
        self.core.watches.store(table.len(), Ordering::Relaxed);
        Ok(())
    }

    /// Adds a tree root: the reader thread watches and scans it, then reports
    /// [`TreeReport::RootReady`] (or [`TreeReport::RootFailed`]). Trees only. The root is opened
    /// here, on the caller's thread, so that it means what it means now (a relative path against
    /// the current directory, a link to where it leads), whatever changes before the scan.
    pub fn add_root(&self, path: &[u8]) -> Result<()> {
        if !self.core.tree {
            return Err(Error::WrongMode);
        }
        let opened = RootHandle::open(path);
        let mut state = self.state();
        if state.stop {
            return Err(state.stopped_error());
        }
        state.roots.push_back((path.to_vec(), opened));
        drop(state);
        self.instance.poke();
        Ok(())
    }

    /// The wd `path` is watched as, if it is.
    pub fn wd_of(&self, path: &[u8]) -> Option<i32> {
        match &*lock(&self.core.books) {
            Books::Plain(table) => table.wd_of(path),
            Books::Tree(tree) => tree.wd_of(path),
        }
    }

    /// The path events of `wd` are reported under.
    pub fn path_of(&self, wd: i32) -> Option<Vec<u8>> {
        match &*lock(&self.core.books) {
            Books::Plain(table) => table.path_of(wd).map(<[u8]>::to_vec),
            Books::Tree(tree) => tree.path_of(wd),
        }
    }

    /// Number of watch descriptors this session holds (some may be shared with other sessions).
    pub fn watch_count(&self) -> usize {
        self.core.watches.load(Ordering::Relaxed)
    }

    /// Bounds what waits to be taken (encoded batches, or coalesced changes) to about `bytes`:
    /// past it nothing more is read for this session (see [`MAX_QUEUED_BYTES`]).
    pub fn set_max_queued_bytes(&self, bytes: usize) {
        self.state().max_queued_bytes = bytes.max(1);
        self.instance.poke();
    }

    /// The instance's inotify descriptor, for diagnostics.
    pub fn raw_fd(&self) -> RawFd {
        self.instance.raw_fd()
    }

    /// Whether this session shares its instance's descriptor with others.
    pub fn shared(&self) -> bool {
        !self.instance.own
    }

    /// Arms the reader: it reads as events come, and queues a tick after `tick` without events
    /// (`None`: no ticks). Returns `false` when it was armed already; a different `tick` then
    /// restarts the reader's current wait with it.
    pub fn request(&self, tick: Option<Duration>) -> Result<bool> {
        let mut state = self.state();
        if state.stop {
            return Err(state.stopped_error());
        }
        let before = state.armed.replace(Armed { tick });
        let changed = before != Some(Armed { tick });
        if changed {
            state.restart_tick();
        }
        drop(state);
        if changed {
            self.instance.poke();
        }
        Ok(before.is_none())
    }

    /// Asks the reader for what the kernel has queued now: it reads it at once (armed or not,
    /// without waiting for more events), runs it through the books (a tree's scans of new
    /// directories included), and queues it, the last batch marked as the answer
    /// ([`crate::wire::BATCH_ANSWER`]; queued even when empty). Returns how many answers will have
    /// been queued since the session opened once this request's is: the consumer has what was
    /// there when it asked once it has taken that many. Not for change trees.
    pub fn read_now(&self) -> Result<u64> {
        if self.core.changes {
            return Err(Error::WrongMode);
        }
        let mut state = self.state();
        if state.stop {
            return Err(state.stopped_error());
        }
        // A request being served may have read before this one was made: this one is the next.
        let read_now = &mut state.read_now;
        let target = read_now.answers + u64::from(read_now.serving) + 1;
        read_now.waiting = true;
        drop(state);
        self.instance.poke();
        Ok(target)
    }

    /// Disarms the reader for this session: nothing more is read for it, unless another session
    /// of its instance is armed.
    pub fn pause(&self) {
        let mut state = self.state();
        let was_armed = state.armed.take().is_some();
        state.tick_due = None;
        drop(state);
        if was_armed {
            self.instance.poke();
        }
    }

    /// Pops the oldest delivery; the reader is told when that made room, or when it was holding
    /// for this take.
    fn pop(&self, mut state: std::sync::MutexGuard<'_, State>) -> Option<Result<EncodedBatch>> {
        let holding = state.taken();
        let was_full = state.full();
        let delivery = state.pop();
        let made_room = was_full && !state.full();
        drop(state);
        if holding || made_room {
            self.instance.poke();
        }
        delivery
    }

    /// The oldest queued batch, if any. An error the reader met is returned here, in order.
    pub fn take(&self) -> Result<Option<EncodedBatch>> {
        let state = self.state();
        let stop = state.stop;
        match self.pop(state) {
            Some(delivery) => delivery.map(Some),
            None if stop => Err(Error::Closed),
            None => Ok(None),
        }
    }

    /// Change trees: what changed since the last call, at most `max` changes (the rest wait for
    /// the next call), encoded as [`crate::changes`] describes (`None`: nothing). An error the
    /// reader met is returned first.
    pub fn take_changes(&self, max: usize) -> Result<Option<Vec<u8>>> {
        if let Some(Err(error)) = self.pop(self.state()) {
            return Err(error);
        }
        let mut state = self.state();
        let was_full = state.full();
        let taken = state.changes.take_encoded(max);
        let made_room = was_full && !state.full();
        let stop = state.stop;
        drop(state);
        if made_room {
            self.instance.poke();
        }
        match taken {
            None if stop => Err(Error::Closed),
            taken => Ok(taken),
        }
    }

    /// What the tree has reported since the last call (scan results, skipped directories, the watch
    /// limit), in order.
    pub fn take_reports(&self) -> Vec<TreeReport> {
        std::mem::take(&mut self.state().reports)
    }

    /// Blocks the calling thread until a batch (or a tick) is queued, or until `timeout` passes
    /// (`Ok(None)`: not a tick, only the end of this wait). A disarmed session is armed, without
    /// ticks (but for a read-now request's answer, which it delivers armed or not); arm it with
    /// [`Session::request`] first for ticks.
    pub fn take_blocking(&self, timeout: Option<Duration>) -> Result<Option<EncodedBatch>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let mut state = self.state();
            if state.queue_len() > 0 {
                return match self.pop(state) {
                    Some(delivery) => delivery.map(Some),
                    None => Ok(None),
                };
            }
            if state.stop {
                return Err(Error::Closed);
            }
            let read_now = state.read_now;
            let mut poke = false;
            if state.armed.is_none() && !read_now.waiting && !read_now.serving {
                state.armed = Some(Armed { tick: None });
                poke = true;
            }
            if state.taken() {
                poke = true;
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Ok(None);
            }
            if poke {
                drop(state);
                self.instance.poke();
                state = self.state();
                if state.queue_len() > 0 || state.stop {
                    continue;
                }
            }
            state.blocked_takers += 1;
            state = wait_on(&self.core.changed, state, left);
            state.blocked_takers -= 1;
        }
    }

    /// Closes the session; idempotent, and it never waits for the reader thread or the kernel.
    /// Batches already queued can still be taken. The reader then lets the session's wds go (those
    /// no other session holds leave the kernel) and, the instance's last session gone (always,
    /// on an instance of its own), stops and closes the descriptors; then it rings
    /// [`Doorbell::released`] and [`Session::is_released`] turns true.
    pub fn close(&self) {
        close(&self.instance, &self.core);
    }

    /// Whether the session was released: closed, its wds gone and, if it was its instance's last
    /// session, the descriptors closed.
    pub fn is_released(&self) -> bool {
        self.core.released.load(Ordering::SeqCst)
    }

    /// Blocks the calling thread until the session is released (see [`Session::is_released`]) or
    /// `timeout` passes (`None`: no limit); true when it was. Only a closed session is released.
    pub fn wait_released(&self, timeout: Option<Duration>) -> bool {
        wait_released(&self.core, timeout)
    }

    /// Whether [`Session::close`] was called (or the session stopped: its consumer gone, or a
    /// panic of the reader).
    pub fn is_closed(&self) -> bool {
        self.state().stop
    }

    /// A handle that closes this session from elsewhere.
    pub fn closer(&self) -> Closer {
        Closer {
            instance: Arc::downgrade(&self.instance),
            core: Arc::downgrade(&self.core),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}

fn close(instance: &InstanceCore, core: &SessionCore) {
    close_session(core);
    if instance.own {
        // The reader closes the descriptors on its own thread as it exits.
        instance.stop();
    } else {
        // The reader removes the session and lets its wds go (a large tree's thousands of
        // `inotify_rm_watch` are not the closing thread's to pay), and, the last session gone,
        // closes the descriptor on its own thread.
        instance.poke();
    }
}

fn wait_released(core: &SessionCore, timeout: Option<Duration>) -> bool {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut state = lock(&core.state);
    loop {
        if core.released.load(Ordering::SeqCst) {
            return true;
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return false;
        }
        state = wait_on(&core.changed, state, left);
    }
}
