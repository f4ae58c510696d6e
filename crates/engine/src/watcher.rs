//! An inotify instance with a reader thread that reads on demand.
//!
//! The consumer asks for a batch ([`Watcher::request`]); the thread waits (epoll, with the request's
//! timeout) until the kernel has events, reads until EAGAIN, queues one encoded batch and rings the
//! consumer's [`Doorbell`]. It reads nothing that was not asked for, so a consumer that stops asking
//! leaves events in the kernel's queue, where an overflow is reported by the kernel itself
//! (`IN_Q_OVERFLOW`) instead of being lost in a buffer of ours. A wait that ends with no event queues an
//! empty batch: a tick.
//!
//! Closing sets a flag, wakes the thread through the eventfd and joins it; only then are the
//! descriptors dropped (closing an fd under a thread blocked in epoll does not reliably wake it).

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::event::RawEvent;
use crate::mask::{check_add_watch_mask, IN_IGNORED, IN_Q_OVERFLOW};
use crate::parse::parse_events;
use crate::sys::{InotifyFd, Poller, ReadOutcome};
use crate::watch_table::WatchTable;
use crate::wire::{BatchEncoder, EncodedBatch};

/// Size of the buffer one `read(2)` fills (inotify(7) asks for at least one event plus NAME_MAX).
const READ_BUFFER_LEN: usize = 128 * 1024;
/// A batch stops growing past this many encoded bytes; the rest waits for the next request.
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// How long past its deadline a blocking take waits for the tick its own request will deliver.
const TICK_GRACE: Duration = Duration::from_millis(250);

/// What ringing the consumer gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ring {
    /// The consumer was told.
    Rung,
    /// The consumer is gone (its environment is shutting down): the reader stops.
    Closed,
}

/// How the reader thread tells the consumer that a batch is queued. Called on the reader thread;
/// it must not block.
pub trait Doorbell: Send + 'static {
    /// Tells the consumer a batch is ready to [`Watcher::take`].
    fn ring(&self) -> Ring;
}

#[derive(Debug, Default)]
struct State {
    /// A request not yet picked up by the thread: its timeout (`None` = wait without end).
    request: Option<Option<Duration>>,
    /// The thread is serving a request.
    serving: bool,
    stop: bool,
    queue: VecDeque<Result<EncodedBatch>>,
}

#[derive(Debug)]
struct Shared {
    inotify: InotifyFd,
    poller: Poller,
    table: Mutex<WatchTable>,
    state: Mutex<State>,
    changed: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Locks a mutex; a panic elsewhere while it was held does not make the data unusable here (every
/// critical section leaves it consistent), so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One inotify instance, its watch table and its reader thread.
#[derive(Debug)]
pub struct Watcher {
    shared: Arc<Shared>,
}

/// A handle that can close a [`Watcher`] from elsewhere (an environment cleanup hook) without
/// keeping it alive: once the watcher is dropped, closing through this handle does nothing.
#[derive(Debug, Clone)]
pub struct Closer {
    shared: Weak<Shared>,
}

impl Closer {
    /// Same as [`Watcher::close`], if the watcher still exists.
    pub fn close(&self) {
        if let Some(shared) = self.shared.upgrade() {
            close(&shared);
        }
    }
}

impl Watcher {
    /// Opens an inotify instance and starts its reader thread, which rings `doorbell` for each batch.
    pub fn open(doorbell: impl Doorbell) -> Result<Self> {
        let inotify = InotifyFd::open()?;
        let poller = Poller::new(&inotify)?;
        let shared = Arc::new(Shared {
            inotify,
            poller,
            table: Mutex::new(WatchTable::default()),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            thread: Mutex::new(None),
        });
        let for_thread = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("inotify-reader".into())
            .spawn(move || run(&for_thread, &doorbell))
            .map_err(|e| Error::Sys {
                syscall: "pthread_create",
                errno: e.raw_os_error().unwrap_or(crate::sys::EINVAL),
                path: None,
            })?;
        *lock(&shared.thread) = Some(handle);
        Ok(Self { shared })
    }

    fn check_open(&self) -> Result<()> {
        if lock(&self.shared.state).stop {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// `inotify_add_watch(2)`: watches `path` for `mask` and returns the kernel's wd (the same wd
    /// for an inode that is already watched).
    pub fn add_watch(&self, path: &[u8], mask: u32) -> Result<i32> {
        self.check_open()?;
        check_add_watch_mask(mask).map_err(|bad_bits| Error::InvalidMask { mask, bad_bits })?;
        // Hold the table across the syscall: the reader routes by this table, and an event of the
        // new wd read before the insert would be dropped as belonging to no watch.
        let mut table = lock(&self.shared.table);
        let wd = self.shared.inotify.add_watch(path, mask)?;
        table.insert(wd, path);
        Ok(wd)
    }

    /// Stops watching `wd`. With `superficial`, only forgets it (the kernel already dropped it).
    /// A wd the kernel dropped before we asked (its IN_IGNORED still queued) is removed all the same.
    pub fn remove_watch(&self, wd: i32, superficial: bool) -> Result<()> {
        self.check_open()?;
        let mut table = lock(&self.shared.table);
        if table.path_of(wd).is_none() {
            return Err(Error::NotWatched { wd });
        }
        if !superficial {
            match self.shared.inotify.rm_watch(wd) {
                Ok(()) => {}
                Err(Error::Sys { errno, .. }) if errno == crate::sys::EINVAL => {}
                Err(e) => return Err(e),
            }
        }
        table.remove(wd);
        Ok(())
    }

    /// The wd `path` is watched as, if it is.
    pub fn wd_of(&self, path: &[u8]) -> Option<i32> {
        lock(&self.shared.table).wd_of(path)
    }

    /// The path events of `wd` are reported under.
    pub fn path_of(&self, wd: i32) -> Option<Vec<u8>> {
        lock(&self.shared.table).path_of(wd).map(<[u8]>::to_vec)
    }

    /// Number of watch descriptors held.
    pub fn watch_count(&self) -> usize {
        lock(&self.shared.table).len()
    }

    /// The inotify descriptor, for diagnostics.
    pub fn raw_fd(&self) -> RawFd {
        self.shared.inotify.raw_fd()
    }

    /// Asks the thread for one batch, waiting at most `timeout` for events (`None`: no limit).
    /// Returns `false` when a request is already pending or being served (it will deliver).
    pub fn request(&self, timeout: Option<Duration>) -> Result<bool> {
        let mut state = lock(&self.shared.state);
        if state.stop {
            return Err(Error::Closed);
        }
        if state.serving || state.request.is_some() {
            return Ok(false);
        }
        state.request = Some(timeout);
        drop(state);
        self.shared.changed.notify_all();
        Ok(true)
    }

    /// The oldest queued batch, if any. An error the reader met is returned here, in order.
    pub fn take(&self) -> Result<Option<EncodedBatch>> {
        let mut state = lock(&self.shared.state);
        match state.queue.pop_front() {
            Some(delivery) => delivery.map(Some),
            None if state.stop => Err(Error::Closed),
            None => Ok(None),
        }
    }

    /// Blocks the calling thread until a batch is queued (asking for one if nobody has), or until
    /// `timeout` passes (`Ok(None)`). When this call made the request, the reader itself delivers a
    /// tick at the deadline, so the wait ends on that tick rather than racing it (which would leave a
    /// second, stale tick queued); [`TICK_GRACE`] only bounds the wait should the reader be late.
    pub fn take_blocking(&self, timeout: Option<Duration>) -> Result<Option<EncodedBatch>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut own_request = false;
        let mut state = lock(&self.shared.state);
        loop {
            if let Some(delivery) = state.queue.pop_front() {
                return delivery.map(Some);
            }
            if state.stop {
                return Err(Error::Closed);
            }
            let now = Instant::now();
            if !state.serving && state.request.is_none() {
                state.request = Some(deadline.map(|d| d.saturating_duration_since(now)));
                own_request = true;
                self.shared.changed.notify_all();
            }
            let wait_until = match deadline {
                Some(d) if own_request => Some(d + TICK_GRACE),
                other => other,
            };
            let left = wait_until.map(|d| d.saturating_duration_since(now));
            if left == Some(Duration::ZERO) {
                return Ok(None);
            }
            state = match left {
                None => self
                    .shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(left) => {
                    self.shared
                        .changed
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// Stops and joins the reader thread; idempotent. Batches already queued can still be taken.
    pub fn close(&self) {
        close(&self.shared);
    }

    /// Whether [`Watcher::close`] was called.
    pub fn is_closed(&self) -> bool {
        lock(&self.shared.state).stop
    }

    /// A handle that closes this watcher from elsewhere.
    pub fn closer(&self) -> Closer {
        Closer {
            shared: Arc::downgrade(&self.shared),
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.close();
    }
}

fn close(shared: &Shared) {
    lock(&shared.state).stop = true;
    shared.changed.notify_all();
    // A failed wake (it cannot fail on a live eventfd) would leave the thread to notice `stop` at the
    // end of its current wait; there is nothing better to do with the error here.
    let _ = shared.poller.wake();
    let handle = lock(&shared.thread).take();
    if let Some(handle) = handle {
        if handle.thread().id() != std::thread::current().id() {
            // A panic in the reader is already over; the watcher is closed either way.
            let _ = handle.join();
        }
    }
}

/// The reader thread: serve requests until stopped or until the consumer is gone.
fn run(shared: &Shared, doorbell: &dyn Doorbell) {
    let mut buf = vec![0u8; READ_BUFFER_LEN];
    loop {
        let timeout = {
            let mut state = lock(&shared.state);
            loop {
                if state.stop {
                    return;
                }
                if let Some(timeout) = state.request.take() {
                    state.serving = true;
                    break timeout;
                }
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let Some(delivery) = serve(shared, &mut buf, timeout) else {
            return;
        };
        {
            let mut state = lock(&shared.state);
            state.serving = false;
            state.queue.push_back(delivery);
        }
        shared.changed.notify_all();
        if doorbell.ring() == Ring::Closed {
            lock(&shared.state).stop = true;
            shared.changed.notify_all();
            return;
        }
    }
}

fn stopping(shared: &Shared) -> bool {
    lock(&shared.state).stop
}

/// Waits for events and reads them into one batch; a tick when `timeout` passes first. `None` when
/// the watcher is closing.
fn serve(
    shared: &Shared,
    buf: &mut [u8],
    timeout: Option<Duration>,
) -> Option<Result<EncodedBatch>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let ready = match shared.poller.wait(left) {
            Ok(ready) => ready,
            Err(e) => return Some(Err(e)),
        };
        if stopping(shared) {
            return None;
        }
        if ready.readable {
            match drain(shared, buf) {
                Ok(batch) if batch.events > 0 => return Some(Ok(batch)),
                Ok(_) => {} // only events of removed watches: keep waiting
                Err(e) => return Some(Err(e)),
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(Ok(BatchEncoder::new().finish()));
        }
    }
}

/// Reads until EAGAIN (or until the batch is large) and encodes what was read.
fn drain(shared: &Shared, buf: &mut [u8]) -> Result<EncodedBatch> {
    let mut encoder = BatchEncoder::new();
    while encoder.byte_len() < MAX_BATCH_BYTES {
        let n = match shared.inotify.read(buf)? {
            ReadOutcome::Empty => break,
            ReadOutcome::Bytes(n) => n,
        };
        let mut table = lock(&shared.table);
        let mut events = parse_events(&buf[..n]);
        for event in events.by_ref() {
            route(&mut table, &event, &mut encoder);
        }
        if events.leftover() != 0 {
            return Err(Error::Malformed {
                leftover: events.leftover(),
            });
        }
    }
    Ok(encoder.finish())
}

/// Puts one kernel event into the batch under its watch's path. The overflow (wd -1) is always
/// delivered; events of a wd this instance no longer holds (removed by the user, their IN_IGNORED
/// included) are dropped on purpose. IN_IGNORED is delivered, then the wd is forgotten.
pub fn route(table: &mut WatchTable, event: &RawEvent<'_>, encoder: &mut BatchEncoder) {
    if event.mask & IN_Q_OVERFLOW != 0 {
        encoder.push(event, None, 0);
        return;
    }
    let Some(path) = table.path_of(event.wd) else {
        return;
    };
    encoder.push(event, Some(path), 0);
    if event.mask & IN_IGNORED != 0 {
        table.remove(event.wd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::*;
    use crate::wire::decode;

    fn raw(wd: i32, mask: u32, name: &[u8]) -> RawEvent<'_> {
        RawEvent {
            wd,
            mask,
            cookie: 0,
            len: 16,
            name,
        }
    }

    #[test]
    fn routes_overflow_without_a_watch_and_forgets_ignored_watches() {
        let mut table = WatchTable::default();
        table.insert(1, b"/w");
        let mut encoder = BatchEncoder::new();
        route(&mut table, &raw(-1, IN_Q_OVERFLOW, b""), &mut encoder);
        route(&mut table, &raw(1, IN_DELETE_SELF, b""), &mut encoder);
        route(&mut table, &raw(1, IN_IGNORED, b""), &mut encoder);
        route(&mut table, &raw(1, IN_CREATE, b"late"), &mut encoder);
        route(&mut table, &raw(9, IN_CREATE, b"unknown"), &mut encoder);
        let events = decode(&encoder.finish().bytes).expect("well-formed");
        let masks: Vec<u32> = events.iter().map(|e| e.mask).collect();
        assert_eq!(masks, vec![IN_Q_OVERFLOW, IN_DELETE_SELF, IN_IGNORED]);
        assert_eq!(events[0].path, None);
        assert_eq!(events[2].path.as_deref(), Some(&b"/w"[..]));
        assert!(table.is_empty());
    }
}
