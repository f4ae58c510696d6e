//! An inotify instance with a reader thread that reads on demand.
//!
//! The consumer arms the reader ([`Watcher::request`]); while armed, the thread waits in epoll for the
//! kernel to have events, reads until EAGAIN, queues one encoded batch and rings the consumer's
//! [`Doorbell`], then goes straight back to waiting: nothing on the consumer's side wakes it per
//! batch. Three exceptions, each to spend fewer wake-ups on more events: a read that fills the
//! buffer while more is queued ends the batch there, unsettled, and the rest is read at once into
//! the next (`hand_over_early`); woken within `STREAM_GAP` of its last settled batch, the reader
//! (but for `watch()`) first sleeps `LINGER`; and when the consumer has two batches or more to take
//! (`HOLD_MAX`), the reader waits for its take (2 ms at most) and reads what arrived meanwhile in
//! one go. Rings are coalesced
//! (one until the consumer takes), and the queue is bounded
//! ([`MAX_QUEUED_BYTES`]): a consumer that stalls longer than that leaves events in the kernel's
//! queue, where an overflow is reported by the kernel itself (`IN_Q_OVERFLOW`), never lost in a
//! buffer of ours. Disarmed ([`Watcher::pause`]), the reader reads nothing. A wait that ends with no
//! event and nothing queued queues an empty batch: a tick.
//!
//! A read-now request ([`Watcher::read_now`]) has the reader read what the kernel has queued at
//! once, armed or not, without waiting for more: the consumer's "what is there now".
//!
//! Tree roots are scanned on this thread too ([`Watcher::add_root`]), so a large initial scan never
//! blocks the consumer's thread; what the scan has to say arrives as [`TreeReport`]s.
//!
//! Closing sets a flag, wakes the thread through the eventfd and joins it; only then are the
//! descriptors dropped (closing an fd under a thread blocked in epoll does not reliably wake it).

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::backlog::Backlog;
use crate::books::{Books, Mode};
use crate::changes::ChangeSet;
use crate::error::{Error, Result};
use crate::mask::{check_add_watch_mask, IN_MOVED_FROM};
use crate::parse::parse_events;
use crate::sys::{InotifyFd, Poller, ReadOutcome, Readiness};
use crate::tree::TreeReport;
use crate::tree_fs::{KernelTreeFs, RootHandle};
use crate::wire::{BatchEncoder, EncodedBatch};

/// Size of the buffer one `read(2)` fills (inotify(7) asks for at least one event plus NAME_MAX).
const READ_BUFFER_LEN: usize = 128 * 1024;
/// A batch stops growing past this many encoded bytes, if more is to be read (see
/// [`more_to_read`]), which the next batch reads at once.
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// The largest event: a 16-byte header and a name of `NAME_MAX` bytes with its NUL, padded to 16.
/// A read that leaves less room than this in the buffer may have been cut by the buffer rather
/// than by the kernel's queue running dry (see [`hand_over_early`]).
const LARGEST_EVENT: usize = 16 + 256;
/// A tree's read that ends on an `IN_MOVED_FROM` waits this long for its `IN_MOVED_TO`: the kernel
/// queues a rename's two halves one after the other, not at once, so a reader can fall between
/// them; without the wait a rename would be taken for a move out of the tree.
const MOVE_PAIR_GRACE: Duration = Duration::from_millis(10);
/// A consumer with two batches or more queued is behind a stream and has work in hand: the reader
/// then holds off reading until it takes one, for at most this long, and reads what arrived
/// meanwhile in one go instead of in a wake-up every few events. With one batch still queued when
/// it takes, the consumer never runs dry for it, so its latency does not change; a consumer that
/// keeps up is never held for. Only after a read that emptied the kernel's queue (not one cut at
/// [`MAX_BATCH_BYTES`] or handed over early), so what accumulates during a hold is 2 ms of events,
/// far below what fills the kernel's queue (16,384 events by default). Changes mode (`watch()`) never holds: there
/// reading is coalescing, and a debounce takes what was read when it ends.
const HOLD_MAX: Duration = Duration::from_millis(2);
/// Events that wake the reader within this long of its last batch are a stream (a burst of file
/// operations), not a lone change: see [`LINGER`].
const STREAM_GAP: Duration = Duration::from_micros(500);
/// Woken within [`STREAM_GAP`] of its last settled batch, the reader sleeps this long before it
/// reads, so that one batch carries what a stream brings meanwhile instead of a wake-up of this
/// thread and of the consumer every few events (each costs some 6 us of CPU across the two threads
/// and JavaScript). A lone change, or the first of a stream, is read at once; the rest of a stream
/// arrives this much later, plus the kernel's timer slack (some 0.15 ms in all). A consumer blocked
/// in [`Watcher::take_blocking`] waits for it too (unlike the hold, which never makes it wait): the
/// delay is a fraction of a millisecond, and the saving the same. Not in changes mode (`watch()`),
/// as for the hold: the consumer takes the coalesced set while the reader lingers, and what should
/// have coalesced is split across two takes (a directory's `IN_DELETE_SELF` and its parent's
/// `IN_DELETE` came out as two deletes of it in a fresh-clone `.ci/run`).
const LINGER: Duration = Duration::from_micros(100);
/// The reader stops reading while this many encoded bytes wait to be taken (some 400k events): a
/// stalled consumer rides out bursts here, and past it the kernel's own queue takes over.
pub const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;
/// Test-only: with this environment variable set to `reader` when a watcher opens, its reader
/// thread panics the first time it is armed, so that tests can prove a panic there reaches the
/// consumer as [`Error::Panicked`] instead of aborting the process or stalling it. Read once per
/// open; never set it in production.
pub const TEST_PANIC_ENV: &str = "INOTIFY_NAPI_TEST_PANIC";

/// What ringing the consumer gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ring {
    /// The consumer was told.
    Rung,
    /// The consumer is gone (its environment is shutting down): the reader stops.
    Closed,
}

/// How the reader thread tells the consumer that a batch or a report is ready. Called on the reader
/// thread; it must not block.
pub trait Doorbell: Send + 'static {
    /// Tells the consumer to [`Watcher::take`], and with `reports` to [`Watcher::take_reports`]
    /// too (there are some).
    fn ring(&self, reports: bool) -> Ring;
}

/// A doorbell that sends `()` down a channel, for Rust consumers (the engine's tests and its drain
/// example): the receiver going away closes the reader.
#[derive(Debug)]
pub struct ChannelDoorbell(pub std::sync::mpsc::Sender<()>);

impl Doorbell for ChannelDoorbell {
    fn ring(&self, _reports: bool) -> Ring {
        match self.0.send(()) {
            Ok(()) => Ring::Rung,
            Err(_) => Ring::Closed,
        }
    }
}

/// Where the read-now requests ([`Watcher::read_now`]) are.
#[derive(Debug, Default, Clone, Copy)]
struct ReadNow {
    /// A request waits for the reader (any number of requests made meanwhile are one).
    waiting: bool,
    /// The reader is reading for a request: its answer is not queued yet.
    serving: bool,
    /// Answers queued since the watcher opened.
    answers: u64,
}

/// The reader is armed: it reads, and delivers a tick after `tick` without events (`None`: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Armed {
    tick: Option<Duration>,
}

/// A root given to [`Watcher::add_root`], opened there, waiting for the reader to scan it.
type PendingRoot = (Vec<u8>, Result<RootHandle>);

#[derive(Debug)]
struct State {
    /// The queue's bound ([`MAX_QUEUED_BYTES`] unless set with [`Watcher::set_max_queued_bytes`]).
    max_queued_bytes: usize,
    armed: Option<Armed>,
    /// Roots to add (tree mode), in order: each as given, and as opened when it was given.
    roots: VecDeque<PendingRoot>,
    read_now: ReadNow,
    stop: bool,
    queue: VecDeque<Result<EncodedBatch>>,
    queued_bytes: usize,
    /// A ring was sent and nothing was taken since: the consumer will look anyway.
    ring_pending: bool,
    /// The reader holds off reading until the consumer takes ([`HOLD_MAX`]): a take wakes it.
    reader_holding: bool,
    /// Threads blocked in `take_blocking`: only they need the condvar when a batch is queued.
    blocked_takers: usize,
    reports: Vec<TreeReport>,
    /// Changes mode: what changed since the consumer last took.
    changes: ChangeSet,
    /// Reports were added since the last ring (they ring whatever `ring_pending` says: the
    /// consumer takes reports on a ring, not on a take).
    fresh_reports: bool,
}

impl Default for State {
    fn default() -> Self {
        Self {
            max_queued_bytes: MAX_QUEUED_BYTES,
            armed: None,
            roots: VecDeque::new(),
            read_now: ReadNow::default(),
            stop: false,
            queue: VecDeque::new(),
            queued_bytes: 0,
            ring_pending: false,
            reader_holding: false,
            blocked_takers: 0,
            reports: Vec::new(),
            changes: ChangeSet::new(),
            fresh_reports: false,
        }
    }
}

impl State {
    fn add_reports(&mut self, reports: Vec<TreeReport>) {
        if !reports.is_empty() {
            self.reports.extend(reports);
            self.fresh_reports = true;
        }
    }

    fn push(&mut self, delivery: Result<EncodedBatch>) {
        if let Ok(batch) = &delivery {
            self.queued_bytes += batch.bytes.len();
        }
        self.queue.push_back(delivery);
    }

    /// Queues what the reader read for a read-now request. The batch that ends the reading (a
    /// settled one, or an error and then an empty batch) is the request's answer, queued even when
    /// empty: the consumer waits for exactly that batch.
    fn push_read_now(&mut self, delivery: Result<EncodedBatch>) {
        let answer = match delivery {
            Ok(batch) if !batch.settled() => return self.push(Ok(batch)),
            Ok(mut batch) => {
                batch.set_answer();
                batch
            }
            Err(error) => {
                self.push(Err(error));
                let mut empty = BatchEncoder::new().finish();
                empty.set_answer();
                empty
            }
        };
        self.push(Ok(answer));
        self.read_now.serving = false;
        self.read_now.answers += 1;
    }

    fn pop(&mut self) -> Option<Result<EncodedBatch>> {
        let delivery = self.queue.pop_front()?;
        if let Ok(batch) = &delivery {
            self.queued_bytes -= batch.bytes.len();
        }
        Some(delivery)
    }

    fn full(&self) -> bool {
        self.queued_bytes + self.changes.byte_len() >= self.max_queued_bytes
    }

    /// The consumer took (or looked): a ring is due for what comes next, and a holding reader
    /// re-checks its hold (it reads once fewer than two batches are left).
    fn taken(&mut self, changed: &Condvar) {
        self.ring_pending = false;
        if std::mem::take(&mut self.reader_holding) {
            changed.notify_all();
        }
    }

    /// How much longer the reader holds off reading: the consumer has had two batches or more to
    /// take since `behind_since` (a thread blocked in a take is waiting now: never held for).
    fn hold_left(&self, behind_since: Option<Instant>) -> Option<Duration> {
        if self.queue.len() < 2 || self.blocked_takers > 0 {
            return None;
        }
        let left = HOLD_MAX.saturating_sub(behind_since?.elapsed());
        (!left.is_zero()).then_some(left)
    }
}

#[derive(Debug)]
struct Shared {
    inotify: InotifyFd,
    poller: Poller,
    /// Tree mode (fixed at open).
    tree: bool,
    /// Changes mode (fixed at open): batches go into `State::changes`, not the queue.
    changes: bool,
    /// The books' watch count, readable without their lock (the reader may hold it for long, while
    /// it scans).
    watches: AtomicUsize,
    /// Set first thing on close, read without a lock by long scans so that they give up.
    stopping: AtomicBool,
    books: Mutex<Books>,
    state: Mutex<State>,
    changed: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Test-only ([`TEST_PANIC_ENV`]): the reader panics when first armed.
    panic_for_tests: bool,
}

/// Locks a mutex; a panic elsewhere while it was held does not make the data unusable here (every
/// critical section leaves it consistent), so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn wait_on<'a>(
    changed: &Condvar,
    guard: MutexGuard<'a, State>,
    timeout: Option<Duration>,
) -> MutexGuard<'a, State> {
    match timeout {
        None => changed.wait(guard).unwrap_or_else(PoisonError::into_inner),
        Some(timeout) => {
            changed
                .wait_timeout(guard, timeout)
                .unwrap_or_else(PoisonError::into_inner)
                .0
        }
    }
}

/// One inotify instance, its books and its reader thread.
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
    /// Opens a plain instance (watches added with [`Watcher::add_watch`]).
    pub fn open(doorbell: impl Doorbell) -> Result<Self> {
        Self::open_with(doorbell, Mode::Plain)
    }

    /// Opens an instance in `mode`, and starts its reader thread, which rings `doorbell`.
    pub fn open_with(doorbell: impl Doorbell, mode: Mode) -> Result<Self> {
        let inotify = InotifyFd::open()?;
        let mut poller = Poller::new(&inotify)?;
        let tree = matches!(mode, Mode::Tree(_) | Mode::Changes(_));
        if tree {
            // Without /proc a mount over a watched directory goes unnoticed (README: limits).
            poller.watch_mount_table();
        }
        let changes = matches!(mode, Mode::Changes(_));
        let shared = Arc::new(Shared {
            inotify,
            poller,
            tree,
            changes,
            watches: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            books: Mutex::new(Books::new(mode)),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            thread: Mutex::new(None),
            panic_for_tests: std::env::var_os(TEST_PANIC_ENV).is_some_and(|v| v == "reader"),
        });
        let for_thread = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("inotify-reader".into())
            .spawn(move || reader_thread(&for_thread, &doorbell))
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
    /// for an inode that is already watched). Plain mode only.
    pub fn add_watch(&self, path: &[u8], mask: u32) -> Result<i32> {
        self.check_open()?;
        check_add_watch_mask(mask).map_err(|bad_bits| Error::InvalidMask { mask, bad_bits })?;
        // Hold the books across the syscall: the reader routes by them, and an event of the new wd
        // read before the insert would be dropped as belonging to no watch.
        let mut books = lock(&self.shared.books);
        let Books::Plain(table) = &mut *books else {
            return Err(Error::WrongMode);
        };
        let wd = self.shared.inotify.add_watch(path, mask)?;
        table.insert(wd, path);
        self.shared.watches.store(table.len(), Ordering::Relaxed);
        Ok(wd)
    }

    /// Stops watching `wd`. With `superficial`, only forgets it (the kernel already dropped it).
    /// A wd the kernel dropped before we asked (its IN_IGNORED still queued) is removed all the same.
    pub fn remove_watch(&self, wd: i32, superficial: bool) -> Result<()> {
        self.check_open()?;
        let mut books = lock(&self.shared.books);
        let Books::Plain(table) = &mut *books else {
            return Err(Error::WrongMode);
        };
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
        self.shared.watches.store(table.len(), Ordering::Relaxed);
        Ok(())
    }

    /// Adds a tree root: the reader thread watches and scans it, then reports
    /// [`TreeReport::RootReady`] (or [`TreeReport::RootFailed`]). Tree mode only. The root is
    /// opened here, on the caller's thread, so that it means what it means now (a relative path
    /// against the current directory, a link to where it leads), whatever changes before the scan.
    pub fn add_root(&self, path: &[u8]) -> Result<()> {
        if !self.shared.tree {
            return Err(Error::WrongMode);
        }
        let opened = RootHandle::open(path);
        let mut state = lock(&self.shared.state);
        if state.stop {
            return Err(Error::Closed);
        }
        state.roots.push_back((path.to_vec(), opened));
        drop(state);
        self.shared.changed.notify_all();
        // The reader may be waiting in epoll for a request: the root is not to wait for an event.
        self.shared.poller.wake()
    }

    /// The wd `path` is watched as, if it is.
    pub fn wd_of(&self, path: &[u8]) -> Option<i32> {
        match &*lock(&self.shared.books) {
            Books::Plain(table) => table.wd_of(path),
            Books::Tree(tree) => tree.wd_of(path),
        }
    }

    /// The path events of `wd` are reported under.
    pub fn path_of(&self, wd: i32) -> Option<Vec<u8>> {
        match &*lock(&self.shared.books) {
            Books::Plain(table) => table.path_of(wd).map(<[u8]>::to_vec),
            Books::Tree(tree) => tree.path_of(wd).map(<[u8]>::to_vec),
        }
    }

    /// Number of watch descriptors held.
    pub fn watch_count(&self) -> usize {
        self.shared.watches.load(Ordering::Relaxed)
    }

    /// Bounds what waits to be taken (encoded batches, or coalesced changes) to about `bytes`:
    /// past it the reader stops reading, and the kernel's queue (and its overflow) takes over.
    /// What a scan reads ahead into its [`Backlog`] is bounded apart, by [`crate::backlog::MAX_BACKLOG_BYTES`].
    pub fn set_max_queued_bytes(&self, bytes: usize) {
        lock(&self.shared.state).max_queued_bytes = bytes.max(1);
        self.shared.changed.notify_all();
    }

    /// The inotify descriptor, for diagnostics.
    pub fn raw_fd(&self) -> RawFd {
        self.shared.inotify.raw_fd()
    }

    /// Arms the reader: it reads as events come, and queues a tick after `tick` without events
    /// (`None`: no ticks). Returns `false` when it was armed already; a different `tick` then
    /// restarts the reader's current wait with it.
    pub fn request(&self, tick: Option<Duration>) -> Result<bool> {
        let mut state = lock(&self.shared.state);
        if state.stop {
            return Err(Error::Closed);
        }
        let before = state.armed.replace(Armed { tick });
        drop(state);
        match before {
            None => self.shared.changed.notify_all(),
            Some(armed) if armed.tick != tick => self.shared.poller.wake()?,
            Some(_) => {}
        }
        Ok(before.is_none())
    }

    /// Asks the reader for what the kernel has queued now: it reads it at once (armed or not,
    /// without waiting for more events), runs it through the books (a tree's scans of new
    /// directories included), and queues it, the last batch marked as the answer
    /// ([`crate::wire::BATCH_ANSWER`]; queued even when empty). Returns how many answers will have
    /// been queued since the watcher opened once this request's is: the consumer has what was
    /// there when it asked once it has taken that many. Not in changes mode.
    pub fn read_now(&self) -> Result<u64> {
        if self.shared.changes {
            return Err(Error::WrongMode);
        }
        let mut state = lock(&self.shared.state);
        if state.stop {
            return Err(Error::Closed);
        }
        // A request being served may have read before this one was made: this one is the next.
        let read_now = &mut state.read_now;
        let target = read_now.answers + u64::from(read_now.serving) + 1;
        read_now.waiting = true;
        drop(state);
        self.shared.changed.notify_all();
        // The reader may be waiting in epoll for a request's events: this one is not to wait.
        self.shared.poller.wake()?;
        Ok(target)
    }

    /// Disarms the reader: its current wait ends and it reads nothing more until armed again, so
    /// events wait in the kernel's queue.
    pub fn pause(&self) {
        let was_armed = lock(&self.shared.state).armed.take().is_some();
        if was_armed {
            // A failed wake (it cannot fail on a live eventfd) leaves the reader to read one more
            // batch at most: harmless.
            let _ = self.shared.poller.wake();
        }
    }

    fn pop(&self, state: &mut State) -> Option<Result<EncodedBatch>> {
        let was_full = state.full();
        let delivery = state.pop()?;
        if was_full && !state.full() {
            self.shared.changed.notify_all();
        }
        Some(delivery)
    }

    /// The oldest queued batch, if any. An error the reader met is returned here, in order.
    pub fn take(&self) -> Result<Option<EncodedBatch>> {
        let mut state = lock(&self.shared.state);
        state.taken(&self.shared.changed);
        match self.pop(&mut state) {
            Some(delivery) => delivery.map(Some),
            None if state.stop => Err(Error::Closed),
            None => Ok(None),
        }
    }

    /// Changes mode: what changed since the last call, encoded as [`crate::changes`] describes
    /// (`None`: nothing). An error the reader met is returned first.
    pub fn take_changes(&self) -> Result<Option<Vec<u8>>> {
        let mut state = lock(&self.shared.state);
        state.taken(&self.shared.changed);
        if let Some(Err(error)) = self.pop(&mut state) {
            return Err(error);
        }
        let was_full = state.full();
        let taken = state.changes.take_encoded();
        if was_full && !state.full() {
            self.shared.changed.notify_all();
        }
        match taken {
            None if state.stop => Err(Error::Closed),
            taken => Ok(taken),
        }
    }

    /// What the tree has reported since the last call (scan results, skipped directories, the watch
    /// limit), in order.
    pub fn take_reports(&self) -> Vec<TreeReport> {
        std::mem::take(&mut lock(&self.shared.state).reports)
    }

    /// Blocks the calling thread until a batch (or a tick) is queued, or until `timeout` passes
    /// (`Ok(None)`: not a tick, only the end of this wait). A disarmed reader is armed, without
    /// ticks (but for a read-now request's answer, which it delivers armed or not); arm it with
    /// [`Watcher::request`] first for ticks.
    pub fn take_blocking(&self, timeout: Option<Duration>) -> Result<Option<EncodedBatch>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut state = lock(&self.shared.state);
        state.taken(&self.shared.changed);
        loop {
            if let Some(delivery) = self.pop(&mut state) {
                return delivery.map(Some);
            }
            if state.stop {
                return Err(Error::Closed);
            }
            let read_now = state.read_now;
            if state.armed.is_none() && !read_now.waiting && !read_now.serving {
                state.armed = Some(Armed { tick: None });
                self.shared.changed.notify_all();
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Ok(None);
            }
            state.blocked_takers += 1;
            state = wait_on(&self.shared.changed, state, left);
            state.blocked_takers -= 1;
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
    shared.stopping.store(true, Ordering::Relaxed);
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

/// What the reader thread is to do next.
enum Work {
    Roots(Vec<PendingRoot>),
    ReadNow,
    Serve(Option<Duration>),
}

/// The reader thread. A panic in it (a bug) is not left to stall the consumer: the watcher stops,
/// and the consumer's next take gets [`Error::Panicked`].
fn reader_thread(shared: &Shared, doorbell: &dyn Doorbell) {
    let outcome = catch_unwind(AssertUnwindSafe(|| run(shared, doorbell)));
    if let Err(payload) = outcome {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        shared.stopping.store(true, Ordering::Relaxed);
        let mut state = lock(&shared.state);
        state.push(Err(Error::Panicked { message }));
        state.stop = true;
        drop(state);
        shared.changed.notify_all();
        let _ = doorbell.ring(false);
    }
}

/// Add roots and serve requests until stopped or the consumer is gone.
fn run(shared: &Shared, doorbell: &dyn Doorbell) {
    let mut buf = vec![0u8; READ_BUFFER_LEN];
    let backlog = Backlog::new();
    // When the last push left two batches or more queued after a read that emptied the kernel's
    // queue (see [`HOLD_MAX`]); `None` after any other push.
    let mut behind_since: Option<Instant> = None;
    // When the reader last read a batch of events (see [`STREAM_GAP`]).
    let mut last_batch: Option<Instant> = None;
    loop {
        let work = {
            let mut state = lock(&shared.state);
            loop {
                if state.stop {
                    return;
                }
                if !state.roots.is_empty() {
                    break Work::Roots(state.roots.drain(..).collect());
                }
                let read_now = &mut state.read_now;
                if !read_now.serving && std::mem::take(&mut read_now.waiting) {
                    read_now.serving = true;
                }
                if state.read_now.serving && !state.full() {
                    break Work::ReadNow;
                }
                match state.armed {
                    Some(armed) if !state.full() => match state.hold_left(behind_since) {
                        None => break Work::Serve(armed.tick),
                        Some(left) => {
                            state.reader_holding = true;
                            state = wait_on(&shared.changed, state, Some(left));
                            state.reader_holding = false;
                        }
                    },
                    _ => state = wait_on(&shared.changed, state, None),
                }
            }
        };
        let reading_now = matches!(work, Work::ReadNow);
        let queued = match work {
            Work::Roots(roots) => {
                add_roots(shared, roots, &backlog);
                None
            }
            Work::ReadNow => Some(drain(shared, &mut buf, &backlog)),
            Work::Serve(_) if shared.panic_for_tests => {
                panic!("{TEST_PANIC_ENV}=reader: the reader thread panics on purpose (a test hook)")
            }
            Work::Serve(tick) => match serve(shared, &mut buf, &backlog, tick, last_batch) {
                Served::Batch(delivery) => {
                    // Only a read that emptied the kernel's queue starts the stream's clock: after
                    // a part handed over early, the rest is already queued and read at once.
                    last_batch = match &delivery {
                        Ok(batch) if batch.events > 0 && batch.settled() => Some(Instant::now()),
                        _ => None,
                    };
                    Some(delivery)
                }
                Served::Interrupted => continue,
            },
        };
        // Changes mode: the batch is decoded here, off the state's lock, and coalesced into it.
        let settled = matches!(&queued, Some(Ok(batch)) if batch.settled());
        let (queued, decoded) = match queued {
            Some(Ok(batch)) if shared.changes => {
                let events = crate::wire::decode(&batch.bytes).unwrap_or_default();
                (None, Some((events, batch.settled())))
            }
            other => (other, None),
        };
        let (notify, send, fresh) = {
            let mut state = lock(&shared.state);
            let mut pushed = false;
            if let Some((events, settled)) = decoded {
                for event in &events {
                    state.changes.add(event);
                }
                if settled {
                    state.changes.settle();
                }
                pushed = !state.changes.is_empty();
            }
            if let Some(delivery) = queued {
                let is_tick = matches!(&delivery, Ok(batch) if batch.events == 0);
                if reading_now {
                    state.push_read_now(delivery);
                    pushed = true;
                } else if !is_tick || state.queue.is_empty() {
                    // A tick only matters to a consumer with nothing to take.
                    state.push(delivery);
                    pushed = true;
                }
            }
            let fresh = std::mem::take(&mut state.fresh_reports);
            let newly_pending = pushed && !std::mem::replace(&mut state.ring_pending, true);
            if pushed {
                let behind = !shared.changes && settled && state.queue.len() >= 2;
                behind_since = behind.then(Instant::now);
            }
            let send = newly_pending || fresh;
            (state.blocked_takers > 0, send, fresh)
        };
        if notify {
            shared.changed.notify_all();
        }
        if send && doorbell.ring(fresh) == Ring::Closed {
            lock(&shared.state).stop = true;
            shared.changed.notify_all();
            return;
        }
    }
}

fn add_roots(shared: &Shared, roots: Vec<PendingRoot>, backlog: &Backlog) {
    let mut books = lock(&shared.books);
    if let Books::Tree(tree) = &mut *books {
        let mut fs = KernelTreeFs::new(&shared.inotify, &shared.stopping, &shared.watches, backlog);
        for (given, opened) in roots {
            tree.add_opened_root(&mut fs, &given, opened);
        }
    }
    let reports = books.take_reports();
    shared.watches.store(books.watch_count(), Ordering::Relaxed);
    drop(books);
    lock(&shared.state).add_reports(reports);
}

/// How serving a request ended.
enum Served {
    /// A batch (or a tick, or the error the reader met) to queue.
    Batch(Result<EncodedBatch>),
    /// Woken for something else (a root to add, or close): the request is still to be served.
    Interrupted,
}

/// Whether the reader is wanted elsewhere: closing, a root to add, a read-now request, or the
/// request it serves (armed with `tick`) withdrawn or changed.
fn interrupted(shared: &Shared, tick: Option<Duration>) -> bool {
    let state = lock(&shared.state);
    state.stop
        || !state.roots.is_empty()
        || state.read_now.waiting
        || state.armed != Some(Armed { tick })
}

/// Waits for events (those a scan read ahead first) and reads them into one batch; a tick when
/// `tick` passes first. Woken by the kernel within [`STREAM_GAP`] of `last_batch`, it lingers
/// ([`LINGER`]) before it reads.
fn serve(
    shared: &Shared,
    buf: &mut [u8],
    backlog: &Backlog,
    tick: Option<Duration>,
    last_batch: Option<Instant>,
) -> Served {
    let deadline = tick.map(|t| Instant::now() + t);
    loop {
        // Also a change seen by a wait that returned for something else (a wake, or the grace
        // wait for a rename's second half in `drain`).
        if shared.poller.take_mounts_changed() {
            let batch = recheck_mounts(shared, backlog);
            if batch.events > 0 {
                return Served::Batch(Ok(batch));
            }
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let ready = if backlog.is_empty() {
            match shared.poller.wait(left) {
                Ok(ready) => ready,
                Err(e) => return Served::Batch(Err(e)),
            }
        } else {
            Readiness {
                readable: true,
                ..Readiness::default()
            }
        };
        if ready.woken && interrupted(shared, tick) {
            return Served::Interrupted;
        }
        if ready.mounts_changed && !ready.readable {
            continue; // taken at the top of the loop
        }
        if ready.readable {
            let streaming = last_batch.is_some_and(|t| t.elapsed() < STREAM_GAP);
            if streaming && backlog.is_empty() && !shared.changes {
                std::thread::sleep(LINGER);
            }
            match drain(shared, buf, backlog) {
                Ok(batch) if batch.events > 0 => return Served::Batch(Ok(batch)),
                Ok(_) => {} // only events of removed watches: keep waiting
                Err(e) => return Served::Batch(Err(e)),
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let mut tick = BatchEncoder::new().finish();
            tick.set_settled(true);
            return Served::Batch(Ok(tick));
        }
    }
}

/// The mount table changed: a tree lists again each watched directory that a file system was
/// mounted over (inotify gives no event for that), reporting what differs. The batch is not
/// settled: the kernel's queue was not read.
fn recheck_mounts(shared: &Shared, backlog: &Backlog) -> EncodedBatch {
    let mount_points = crate::tree::mount_points(&shared.poller.read_mount_table());
    let mut encoder = BatchEncoder::new();
    let mut fs = KernelTreeFs::new(&shared.inotify, &shared.stopping, &shared.watches, backlog);
    let mut books = lock(&shared.books);
    if let Books::Tree(tree) = &mut *books {
        tree.mounts_changed(&mut fs, &mount_points, &mut encoder);
    }
    let reports = books.take_reports();
    shared.watches.store(books.watch_count(), Ordering::Relaxed);
    drop(books);
    lock(&shared.state).add_reports(reports);
    encoder.finish()
}

/// Whether to end the batch now, after a read that filled the buffer, because the kernel has more
/// for it (`FIONREAD`; not in changes mode, where the consumer takes coalesced changes, not
/// batches): the consumer then works through what was read while this thread reads the rest, and a
/// full kernel queue drains at the pace of the slower of the two rather than of both in a row. With
/// nothing more queued, reading on reaches EAGAIN at once and the batch ends settled, as any other
/// (a tree then settles its books: a re-scan or a move out of the tree never waits for a next
/// event).
/// Handing over only when the consumer had nothing left to take was tried: the consumer then took a
/// first part, and the rest (three quarters of a full queue) in one batch at the end, which it
/// decoded alone after the reads were over (the drain's last millisecond).
fn hand_over_early(shared: &Shared, encoder: &BatchEncoder) -> bool {
    !shared.changes && encoder.event_count() > 0 && kernel_has_more(shared)
}

/// Whether the kernel's queue holds events (`FIONREAD`; it counts them under the queue's lock, a
/// walk of the queue, so it is asked only when a batch is to end early). An error, which a live
/// inotify descriptor does not give, counts as "yes": reading on finds out.
fn kernel_has_more(shared: &Shared) -> bool {
    !matches!(shared.inotify.queued_bytes(), Ok(0))
}

/// Whether a batch that reached [`MAX_BATCH_BYTES`] may end there: only with more to read (what a
/// scan read ahead, or the kernel's queue). With nothing more, the next read finds EAGAIN and the
/// batch ends settled, as it must for a tree's books (a batch that ended unsettled with nothing
/// queued would leave a re-scan waiting for the next event).
fn more_to_read(shared: &Shared, backlog: &Backlog) -> bool {
    !backlog.is_empty() || kernel_has_more(shared)
}

/// Reads until EAGAIN (or until the batch is large, or until a read fills the buffer and more is
/// queued: [`hand_over_early`]) and routes what was read through the books: what a scan read ahead
/// into `backlog` first, in order, then the kernel's queue.
fn drain(shared: &Shared, buf: &mut [u8], backlog: &Backlog) -> Result<EncodedBatch> {
    let mut encoder = BatchEncoder::new();
    let mut fs = KernelTreeFs::new(&shared.inotify, &shared.stopping, &shared.watches, backlog);
    let mut settled = false;
    let mut last_mask = 0;
    let mut books = lock(&shared.books);
    loop {
        if encoder.byte_len() >= MAX_BATCH_BYTES && more_to_read(shared, backlog) {
            break;
        }
        let early = backlog.pop();
        let bytes = match &early {
            Some(chunk) => chunk.as_slice(),
            None => match shared.inotify.read(buf)? {
                ReadOutcome::Empty => {
                    if shared.tree && last_mask & IN_MOVED_FROM != 0 {
                        last_mask = 0;
                        if shared.poller.wait(Some(MOVE_PAIR_GRACE))?.readable {
                            continue;
                        }
                    }
                    books.settle(&mut fs, &mut encoder);
                    settled = true;
                    break;
                }
                ReadOutcome::Bytes(n) => buf.get(..n).unwrap_or_default(),
            },
        };
        let filled = early.is_none() && bytes.len() + LARGEST_EVENT > buf.len();
        let mut events = parse_events(bytes);
        for event in events.by_ref() {
            last_mask = event.mask;
            books.route(&mut fs, &event, &mut encoder);
        }
        if events.leftover() != 0 {
            return Err(Error::Malformed {
                leftover: events.leftover(),
            });
        }
        if filled && hand_over_early(shared, &encoder) {
            break;
        }
    }
    let reports = books.take_reports();
    shared.watches.store(books.watch_count(), Ordering::Relaxed);
    drop(books);
    lock(&shared.state).add_reports(reports);
    let mut batch = encoder.finish();
    batch.set_settled(settled);
    Ok(batch)
}
