//! An inotify instance: one descriptor, one epoll, one reader thread, hosting any number of
//! sessions (a raw watch set, a tree, a `watch()` change tree), each with its own books, queue and
//! consumer.
//!
//! The reader waits in epoll while some session is armed ([`crate::Session::request`]) and has
//! room, reads until EAGAIN, routes each event to every session holding its wd
//! ([`crate::wd_shares`]), with that session's books (paths, mask, ignore rules), queues one batch
//! per session that got events and rings that session's [`Doorbell`], then goes straight back to
//! waiting. `IN_Q_OVERFLOW` reaches every session. When the hand-over policy says so
//! ([`crate::reader_policy`]) it ends a batch early, lingers, or holds for a behind consumer.
//! Nobody armed, it reads nothing: events wait in the kernel's queue.
//!
//! Tree roots are scanned on this thread too, so a large scan never blocks a consumer's thread;
//! what a scan has to say arrives as [`TreeReport`]s.
//!
//! Trees and change trees share one process-wide instance ([`shared_instance`]), so that a process
//! watching many roots holds one of the user's `max_user_instances`; a raw watch set has one of its
//! own, whose wds, queue and overflow are its user's to see.
//!
//! A session closing is removed by the reader, which lets its wds go (the kernel's watch goes with
//! the last session holding it). The last session gone (or an own instance's closed), the reader
//! stops and closes the descriptors itself as it exits: closing an inotify descriptor waits for the
//! kernel's grace period, which no consumer's thread is to pay, and nobody joins the reader. Then
//! each session it let go hears so on its doorbell ([`Doorbell::released`]).

use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Instant;

use crate::backlog::Backlog;
use crate::books::{Books, Mode};
use crate::changes::ChangeLog;
use crate::doorbell::{Doorbell, Ring};
use crate::error::{Error, Result};
use crate::event::RawEvent;
use crate::mask::{IN_DONT_FOLLOW, IN_IGNORED, IN_MOVED_FROM, IN_ONLYDIR, IN_Q_OVERFLOW};
use crate::own_listings::LISTING_EVENTS;
use crate::parse::parse_events;
use crate::reader_policy::{
    hand_over_early, more_to_read, LARGEST_EVENT, LINGER, MAX_BATCH_BYTES, MOVE_PAIR_GRACE,
    READ_BUFFER_LEN, STREAM_GAP,
};
use crate::session_queue::{PendingRoot, State};
use crate::sink::Sink;
use crate::sync::{lock, wait_on};
use crate::sys::{InotifyFd, Poller, ReadOutcome};
use crate::tree::fs::KernelTreeFs;
use crate::wd_shares::{SessionId, WdShares};
use crate::wire::{BatchEncoder, EncodedBatch};

/// Test-only: with this environment variable set to `reader` when an instance opens, its reader
/// thread panics the first time it serves, so that tests can prove a panic there reaches every
/// consumer as [`Error::Panicked`] instead of aborting the process or stalling it. Read once per
/// instance; never set it in production.
pub const TEST_PANIC_ENV: &str = "INOTIFY_NAPI_TEST_PANIC";

/// One session of an instance: what the reader and the session's handle share.
pub(crate) struct SessionCore {
    pub id: SessionId,
    pub books: Mutex<Books>,
    pub state: Mutex<State>,
    /// Threads blocked in a take wait on it.
    pub changed: Condvar,
    /// The books' watch count, readable without their lock (the reader holds it while it scans).
    pub watches: AtomicUsize,
    /// Set first thing on close, read without a lock by long scans so that they give up.
    pub stopping: AtomicBool,
    /// A tree (fixed at open).
    pub tree: bool,
    /// A change tree (`watch()`): batches go into `State::changes`, not the queue.
    pub changes: bool,
    /// Dropped when the session leaves its instance (a threadsafe function is released then).
    doorbell: Mutex<Option<Box<dyn Doorbell>>>,
    /// The session has left its instance: its wds are gone and, if it was the instance's last,
    /// the descriptors are closed. Set under the `state` lock, whose `changed` wakes its waiters.
    pub released: AtomicBool,
}

impl SessionCore {
    /// After its books changed (the reader holds them): publishes their watch count and queues
    /// what they report.
    fn publish(&self, books: &mut Books) {
        let reports = books.take_reports();
        self.watches.store(books.watch_count(), Ordering::Relaxed);
        if !reports.is_empty() {
            lock(&self.state).add_reports(reports);
        }
    }

    /// Rings the consumer, unless the session has left.
    fn ring(&self, reports: bool) -> Ring {
        match lock(&self.doorbell).as_ref() {
            Some(doorbell) => doorbell.ring(reports),
            None => Ring::Closed,
        }
    }
}

impl std::fmt::Debug for SessionCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCore")
            .field("id", &self.id)
            .field("tree", &self.tree)
            .field("changes", &self.changes)
            .finish_non_exhaustive()
    }
}

/// What the reader and the sessions' handles change under one lock.
#[derive(Debug, Default)]
struct Control {
    stop: bool,
    /// A session asked the reader to look again (armed, a root, a read-now, a take that made
    /// room, a close).
    dirty: bool,
    /// The reader serves, waiting in epoll (an eventfd write wakes it), not on the condvar.
    in_epoll: bool,
    next_id: SessionId,
    /// In id order.
    sessions: Vec<Arc<SessionCore>>,
    /// Sessions let go by the reader that hear of it once the descriptors are closed.
    leaving: Vec<Arc<SessionCore>>,
}

/// An inotify instance and its reader thread.
#[derive(Debug)]
pub(crate) struct InstanceCore {
    pub inotify: InotifyFd,
    pub poller: Poller,
    pub shares: Mutex<WdShares>,
    control: Mutex<Control>,
    /// The reader waits on it when nobody is armed, or while it holds for a consumer.
    wake: Condvar,
    /// Test-only ([`TEST_PANIC_ENV`]): the reader panics when it first serves.
    panic_for_tests: bool,
    /// An instance of one session's own (a raw watch set, or a tree asked to have one).
    pub own: bool,
}

/// The instance trees and change trees share, while any of them is open.
static SHARED: Mutex<Option<Weak<InstanceCore>>> = Mutex::new(None);

impl InstanceCore {
    /// Opens an instance and starts its reader thread; `trees`: it will host trees (it watches the
    /// mount table for them).
    fn open(own: bool, trees: bool) -> Result<Arc<Self>> {
        let inotify = InotifyFd::open()?;
        let mut poller = Poller::new(&inotify)?;
        if trees {
            // Without /proc a mount over a watched directory goes unnoticed (README: limits).
            poller.watch_mount_table();
        }
        let core = Arc::new(Self {
            inotify,
            poller,
            shares: Mutex::new(WdShares::default()),
            control: Mutex::new(Control::default()),
            wake: Condvar::new(),
            panic_for_tests: std::env::var_os(TEST_PANIC_ENV).is_some_and(|v| v == "reader"),
            own,
        });
        let for_thread = Arc::clone(&core);
        // Detached: the reader closes the descriptors and lets its sessions know as it exits, and
        // nobody waits for it (see `reader_thread`).
        std::thread::Builder::new()
            .name("inotify-reader".into())
            .spawn(move || reader_thread(&for_thread))
            .map_err(|e| Error::Sys {
                syscall: "pthread_create",
                errno: e.raw_os_error().unwrap_or(crate::sys::EINVAL),
                path: None,
            })?;
        Ok(core)
    }

    /// Adds a session in `mode`; gives the doorbell back when the instance has stopped, or has
    /// numbered as many sessions as a [`SessionId`] can tell apart (ids are never reused: the
    /// sessions are kept in id order). Either way the session belongs on a new instance.
    fn register(
        &self,
        mode: Mode,
        doorbell: Box<dyn Doorbell>,
    ) -> std::result::Result<Arc<SessionCore>, (Mode, Box<dyn Doorbell>)> {
        let mut control = lock(&self.control);
        let id = match control.next_id.checked_add(1) {
            Some(id) if !control.stop => id,
            _ => return Err((mode, doorbell)),
        };
        control.next_id = id;
        let tree = matches!(mode, Mode::Tree(_) | Mode::Changes(_));
        let changes = matches!(mode, Mode::Changes(_));
        let session = Arc::new(SessionCore {
            id,
            books: Mutex::new(Books::new(mode)),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            watches: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            tree,
            changes,
            doorbell: Mutex::new(Some(doorbell)),
            released: AtomicBool::new(false),
        });
        control.sessions.push(Arc::clone(&session));
        Ok(session)
    }

    /// Asks the reader to look at its sessions again: it is waiting for a session to be armed, or
    /// in epoll, or holding for a consumer.
    pub fn poke(&self) {
        let in_epoll = {
            let mut control = lock(&self.control);
            control.dirty = true;
            control.in_epoll
        };
        // Only where it waits: an eventfd left unread by a reader woken on the condvar would wake
        // its next epoll wait for nothing.
        if in_epoll {
            // A failed wake (it cannot fail on a live eventfd) leaves the reader to look at the end
            // of its current wait.
            let _ = self.poller.wake();
        } else {
            self.wake.notify_all();
        }
    }

    /// Tells the reader to stop, and returns: the reader closes the descriptors as it exits and
    /// then rings each session's [`Doorbell::released`]. The sessions get [`Error::Closed`] once
    /// their queues are empty.
    pub fn stop(&self) {
        let mut control = lock(&self.control);
        control.stop = true;
        control.dirty = true;
        for session in &control.sessions {
            close_session(session);
        }
        drop(control);
        self.wake.notify_all();
        let _ = self.poller.wake();
    }

    /// Lets go the wds `session` holds: a wd nobody else holds is removed from the kernel. Returns
    /// the wds the others need less of (`(wd, mask)`), for [`narrow`].
    fn release(&self, session: &SessionCore) -> Vec<(i32, u32)> {
        let released = lock(&self.shares).release_all(session.id);
        for wd in released.freed {
            // EINVAL: the kernel dropped it already.
            let _ = self.inotify.rm_watch(wd);
        }
        released.narrowed
    }

    /// The inotify descriptor, for diagnostics.
    pub fn raw_fd(&self) -> RawFd {
        self.inotify.raw_fd()
    }
}

/// Opens a session in `mode` on an instance of its own.
pub(crate) fn own_instance(
    mode: Mode,
    doorbell: Box<dyn Doorbell>,
) -> Result<(Arc<InstanceCore>, Arc<SessionCore>)> {
    let trees = !matches!(mode, Mode::Plain);
    let instance = InstanceCore::open(true, trees)?;
    match instance.register(mode, doorbell) {
        Ok(session) => Ok((instance, session)),
        // Nothing stops a new instance but a panic of its reader before any session.
        Err(_) => Err(Error::Closed),
    }
}

/// Opens a session in `mode` on the process's shared instance (opened now if there is none).
pub(crate) fn shared_instance(
    mode: Mode,
    doorbell: Box<dyn Doorbell>,
) -> Result<(Arc<InstanceCore>, Arc<SessionCore>)> {
    let mut shared = lock(&SHARED);
    let current = shared.as_ref().and_then(Weak::upgrade);
    let (instance, session) = join_or_open(current, mode, doorbell)?;
    *shared = Some(Arc::downgrade(&instance));
    Ok((instance, session))
}

/// Opens a session in `mode` on `current`, or on a new shared instance when there is none or it
/// takes no more sessions (it stopped, or ran out of session ids).
fn join_or_open(
    current: Option<Arc<InstanceCore>>,
    mode: Mode,
    doorbell: Box<dyn Doorbell>,
) -> Result<(Arc<InstanceCore>, Arc<SessionCore>)> {
    let (mut mode, mut doorbell) = (mode, doorbell);
    if let Some(instance) = current {
        match instance.register(mode, doorbell) {
            Ok(session) => {
                instance.poke();
                return Ok((instance, session));
            }
            Err(back) => (mode, doorbell) = back,
        }
    }
    let instance = InstanceCore::open(false, true)?;
    let session = instance
        .register(mode, doorbell)
        .map_err(|_| Error::Closed)?;
    Ok((instance, session))
}

/// Marks a session closed: its scans give up, its takers wake.
pub(crate) fn close_session(session: &SessionCore) {
    session.stopping.store(true, Ordering::Relaxed);
    lock(&session.state).stop = true;
    session.changed.notify_all();
}

/// What the reader thread is to do next.
enum Work {
    /// A session's roots to scan.
    Roots(Arc<SessionCore>, Vec<PendingRoot>),
    /// Read at once, without waiting (a read-now request, or a session owed an overflow).
    ReadNow,
    /// Wait for events and read them; deliver ticks when due (`Some`: the earliest).
    Serve(Option<Instant>),
}

/// The reader thread. A panic in it (a bug) is not left to stall the consumers: the instance
/// stops, and every session's next take gets [`Error::Panicked`].
///
/// However it ends, the reader closes the descriptors itself: they live in the instance, which
/// handles on other threads may hold for longer, but every use of them goes through a lock that
/// closing waits for and that finds them closed afterwards ([`crate::sys`]), so no thread ever
/// uses a closed descriptor (or one whose number was given to another file since), and none but
/// this one waits for the kernel's grace period. Only then does each session hear it was released.
fn reader_thread(instance: &Arc<InstanceCore>) {
    let outcome = catch_unwind(AssertUnwindSafe(|| run(instance)));
    if let Err(payload) = outcome {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let sessions = {
            let mut control = lock(&instance.control);
            control.stop = true;
            control.sessions.clone()
        };
        for session in sessions {
            session.stopping.store(true, Ordering::Relaxed);
            let mut state = lock(&session.state);
            let panicked = Error::Panicked {
                message: message.clone(),
            };
            state.push(Err(panicked.clone()));
            state.failure = Some(panicked);
            state.stop = true;
            drop(state);
            session.changed.notify_all();
            let _ = session.ring(false);
        }
    }
    exit(instance);
}

/// The reader's last act: forgets every session still there, closes the descriptors (the kernel
/// drops their watches with them), then tells each session let go since the last announcement.
fn exit(instance: &InstanceCore) {
    let leaving = {
        let mut control = lock(&instance.control);
        control.stop = true;
        let mut leaving = std::mem::take(&mut control.leaving);
        leaving.append(&mut control.sessions);
        leaving
    };
    for session in &leaving {
        close_session(session);
        forget(session);
    }
    *lock(&instance.shares) = WdShares::default();
    instance.poller.close();
    instance.inotify.close();
    for session in &leaving {
        announce_released(session);
    }
}

/// Tells a session it was released, once: its wds are gone and, if it was its instance's last,
/// the descriptors are closed. Its doorbell goes then (a threadsafe function is released).
fn announce_released(session: &SessionCore) {
    // The doorbell first: whoever waits for the release finds it rung and dropped.
    let doorbell = lock(&session.doorbell).take();
    if let Some(doorbell) = doorbell {
        doorbell.released();
    }
    let state = lock(&session.state);
    session.released.store(true, Ordering::SeqCst);
    drop(state);
    session.changed.notify_all();
}

/// What the reader keeps between rounds.
struct Reader {
    buf: Vec<u8>,
    backlog: Backlog,
    /// When the last push left two batches or more queued for a session alone on its instance,
    /// after a read that emptied the kernel's queue (see [`crate::reader_policy::HOLD_MAX`]).
    behind_since: Option<Instant>,
    /// When the reader last read a batch of events (see [`STREAM_GAP`]).
    last_batch: Option<Instant>,
    /// The last drain handed over a full read ([`hand_over_early`]): the next one reads at once,
    /// without waiting in epoll, until a read finds the queue empty and the batch ends settled.
    read_on: bool,
    /// Shared wds whose kernel mask is wider than their holders need since a session left.
    to_narrow: Vec<(i32, u32)>,
}

/// Scans roots and serves the sessions until the instance stops or its last session leaves.
fn run(instance: &InstanceCore) {
    let mut reader = Reader {
        buf: vec![0u8; READ_BUFFER_LEN],
        backlog: Backlog::new(),
        behind_since: None,
        last_batch: None,
        read_on: false,
        to_narrow: Vec::new(),
    };
    loop {
        let Some((sessions, work)) = next_work(instance, &mut reader) else {
            return;
        };
        if !reader.to_narrow.is_empty() {
            narrow(instance, &sessions, std::mem::take(&mut reader.to_narrow));
        }
        match work {
            Work::Roots(session, roots) => add_roots(instance, &session, roots, &reader.backlog),
            Work::ReadNow => {
                let drained = drain(instance, &sessions, &mut reader);
                deliver(instance, &sessions, drained, &mut reader);
            }
            Work::Serve(_) if instance.panic_for_tests => {
                panic!("{TEST_PANIC_ENV}=reader: the reader thread panics on purpose (a test hook)")
            }
            Work::Serve(tick_due) => serve(instance, &sessions, tick_due, &mut reader),
        }
    }
}

/// Waits until there is work, removing the sessions that closed meanwhile; `None` once the
/// instance stops (closed, or its last session gone).
fn next_work(
    instance: &InstanceCore,
    reader: &mut Reader,
) -> Option<(Vec<Arc<SessionCore>>, Work)> {
    let mut control = lock(&instance.control);
    loop {
        if control.stop {
            return None;
        }
        control.dirty = false;
        control.in_epoll = false;
        let before = control.sessions.len();
        let mut closed = Vec::new();
        control.sessions.retain(|s| {
            let open = !lock(&s.state).stop;
            if !open {
                closed.push(Arc::clone(s));
            }
            open
        });
        if !closed.is_empty() {
            reader.to_narrow.extend(release(instance, &closed));
            if control.sessions.is_empty() && before > 0 {
                // The last one: they hear of it once the descriptors are closed.
                control.stop = true;
                control.leaving.append(&mut closed);
                return None;
            }
            for session in &closed {
                announce_released(session);
            }
        }
        let alone = control.sessions.len() == 1;
        let mut read_now = false;
        let mut serve = false;
        let mut tick_due: Option<Instant> = None;
        let mut hold: Option<std::time::Duration> = None;
        for session in &control.sessions {
            let mut state = lock(&session.state);
            if !state.roots.is_empty() {
                let roots = state.roots.drain(..).collect();
                return Some((
                    control.sessions.clone(),
                    Work::Roots(Arc::clone(session), roots),
                ));
            }
            if !state.read_now.serving && std::mem::take(&mut state.read_now.waiting) {
                state.read_now.serving = true;
            }
            let room = !state.full();
            read_now |= room && (state.read_now.serving || state.overflowed);
            if state.armed.is_some() && room {
                if alone {
                    hold = state.hold_left(reader.behind_since);
                    state.reader_holding = hold.is_some();
                }
                serve = true;
                if let Some(due) = state.tick_due {
                    tick_due = Some(tick_due.map_or(due, |t| t.min(due)));
                }
            }
        }
        if read_now {
            return Some((control.sessions.clone(), Work::ReadNow));
        }
        match (serve, hold) {
            (true, None) => {
                control.in_epoll = true;
                return Some((control.sessions.clone(), Work::Serve(tick_due)));
            }
            (true, Some(left)) => {
                control = wait_on(&instance.wake, control, Some(left));
                if !control.dirty {
                    // Held long enough: serve now.
                    for session in &control.sessions {
                        lock(&session.state).reader_holding = false;
                    }
                    control.in_epoll = true;
                    return Some((control.sessions.clone(), Work::Serve(tick_due)));
                }
            }
            (false, _) => {
                if !control.dirty {
                    control = wait_on(&instance.wake, control, None);
                }
            }
        }
    }
}

/// Lets the wds of closed sessions go: a wd nobody else holds is removed from the kernel. Returns
/// the wds the others need less of.
fn release(instance: &InstanceCore, closed: &[Arc<SessionCore>]) -> Vec<(i32, u32)> {
    let mut to_narrow = Vec::new();
    for session in closed {
        to_narrow.extend(instance.release(session));
        forget(session);
    }
    to_narrow
}

/// Re-adds each shared wd with only the mask its holders still need (without `IN_MASK_ADD`, so
/// the kernel's mask narrows and the events nobody asked for stop being queued). inotify knows a
/// watch by path only: the path is a holder's, and a directory moved since (its events not yet
/// read) is left as it is, and what the call did to another directory at that path is undone.
fn narrow(instance: &InstanceCore, sessions: &[Arc<SessionCore>], to_narrow: Vec<(i32, u32)>) {
    for (wd, mask) in to_narrow {
        let Some(path) = path_held(instance, sessions, wd) else {
            continue;
        };
        // Never through a link: the path must still name the directory itself.
        match instance
            .inotify
            .add_watch(&path, mask | IN_ONLYDIR | IN_DONT_FOLLOW)
        {
            Ok(same) if same == wd => lock(&instance.shares).narrowed(wd, mask),
            // The path leads to another directory now: undo what the call did to it.
            Ok(other) => {
                let carried = lock(&instance.shares).kernel_mask(other);
                if carried == 0 {
                    let _ = instance.inotify.rm_watch(other);
                } else {
                    let _ = instance.inotify.add_watch(&path, carried | IN_DONT_FOLLOW);
                }
            }
            Err(_) => {}
        }
    }
}

/// The path under which a session holding `wd` knows it.
fn path_held(instance: &InstanceCore, sessions: &[Arc<SessionCore>], wd: i32) -> Option<Vec<u8>> {
    let holders: Vec<SessionId> = lock(&instance.shares).holders(wd).collect();
    holders.into_iter().find_map(|id| {
        let i = sessions.binary_search_by_key(&id, |s| s.id).ok()?;
        match &*lock(&sessions[i].books) {
            Books::Tree(tree) => tree.path_of(wd),
            Books::Plain(table) => table.path_of(wd).map(<[u8]>::to_vec),
        }
    })
}

/// The books go now, not when the last handle does.
fn forget(session: &SessionCore) {
    lock(&session.books).clear();
    session.watches.store(0, Ordering::Relaxed);
}

fn add_roots(
    instance: &InstanceCore,
    session: &Arc<SessionCore>,
    roots: Vec<PendingRoot>,
    backlog: &Backlog,
) {
    let mut books = lock(&session.books);
    if let Books::Tree(tree) = &mut *books {
        let mut fs = fs_for(instance, session, backlog);
        for (given, opened) in roots {
            tree.add_opened_root(&mut fs, &given, opened);
        }
    }
    session.publish(&mut books);
    drop(books);
    let mut state = lock(&session.state);
    let fresh = std::mem::take(&mut state.fresh_reports);
    drop(state);
    if fresh {
        ring(instance, session, true);
    }
}

fn fs_for<'a>(
    instance: &'a InstanceCore,
    session: &'a SessionCore,
    backlog: &'a Backlog,
) -> KernelTreeFs<'a> {
    KernelTreeFs::new(
        &instance.inotify,
        (&instance.shares, session.id),
        &session.stopping,
        &session.watches,
        backlog,
    )
}

/// Rings a session's doorbell; a consumer gone closes the session.
fn ring(instance: &InstanceCore, session: &SessionCore, reports: bool) {
    if session.ring(reports) == Ring::Closed {
        close_session(session);
        lock(&instance.control).dirty = true;
    }
}

/// Waits for events (those a scan read ahead first) and reads them; delivers ticks that come due
/// first. Returns when something was delivered, or when a session asks the reader to look again.
fn serve(
    instance: &InstanceCore,
    sessions: &[Arc<SessionCore>],
    tick_due: Option<Instant>,
    reader: &mut Reader,
) {
    loop {
        // Also a change seen by a wait that returned for something else (a wake, or the grace
        // wait for a rename's second half in `drain`).
        if instance.poller.take_mounts_changed() && recheck_mounts(instance, sessions, reader) {
            return;
        }
        let left = tick_due.map(|d| d.saturating_duration_since(Instant::now()));
        let ready = if reader.backlog.is_empty() && !reader.read_on {
            match instance.poller.wait(left) {
                Ok(ready) => ready,
                Err(e) => return deliver_error(instance, sessions, e),
            }
        } else {
            crate::sys::Readiness {
                readable: true,
                ..crate::sys::Readiness::default()
            }
        };
        if ready.woken && lock(&instance.control).dirty {
            return;
        }
        if ready.mounts_changed && !ready.readable {
            continue; // taken at the top of the loop
        }
        if ready.readable {
            let streaming = reader.last_batch.is_some_and(|t| t.elapsed() < STREAM_GAP);
            if streaming && reader.backlog.is_empty() {
                std::thread::sleep(LINGER);
            }
            let drained = drain(instance, sessions, reader);
            if deliver(instance, sessions, drained, reader) {
                return;
            }
        }
        if tick_due.is_some_and(|d| Instant::now() >= d) {
            deliver_ticks(instance, sessions);
            return;
        }
    }
}

/// What routing wrote for one session during a drain: a batch for the raw APIs, a log of changes
/// for a change tree (applied to its set when delivered).
enum Output {
    Batch(BatchEncoder),
    Changes(ChangeLog),
}

impl Output {
    fn for_session(session: &SessionCore) -> Self {
        if session.changes {
            Output::Changes(ChangeLog::new())
        } else {
            Output::Batch(BatchEncoder::new())
        }
    }

    fn sink(&mut self) -> &mut dyn Sink {
        match self {
            Output::Batch(encoder) => encoder,
            Output::Changes(log) => log,
        }
    }

    fn event_count(&self) -> u32 {
        match self {
            Output::Batch(encoder) => encoder.event_count(),
            Output::Changes(log) => log.event_count(),
        }
    }

    fn byte_len(&self) -> usize {
        match self {
            Output::Batch(encoder) => encoder.byte_len(),
            Output::Changes(log) => log.byte_len(),
        }
    }
}

/// The output of session `i`, made on first use.
fn output_of<'a>(
    outputs: &'a mut [Option<Output>],
    sessions: &[Arc<SessionCore>],
    i: usize,
) -> &'a mut dyn Sink {
    outputs[i]
        .get_or_insert_with(|| Output::for_session(&sessions[i]))
        .sink()
}

/// What one drain read, per session (in the order of the sessions given).
struct Drained {
    outputs: Vec<Option<Output>>,
    settled: bool,
    /// An error reading the kernel's queue, for every session.
    error: Option<Error>,
}

/// Reads until EAGAIN (or until a batch is large and more is queued, or a read fills the buffer:
/// [`hand_over_early`]) and routes each event to the sessions holding its wd: what a scan read
/// ahead into the backlog first, in order, then the kernel's queue.
fn drain(instance: &InstanceCore, sessions: &[Arc<SessionCore>], reader: &mut Reader) -> Drained {
    reader.read_on = false;
    let backlog = &reader.backlog;
    let mut books: Vec<_> = sessions.iter().map(|s| lock(&s.books)).collect();
    let mut room: Vec<bool> = Vec::with_capacity(sessions.len());
    let mut outputs: Vec<Option<Output>> = Vec::with_capacity(sessions.len());
    for (i, session) in sessions.iter().enumerate() {
        let mut state = lock(&session.state);
        let has_room = !state.full();
        room.push(has_room);
        outputs.push(None);
        if has_room && std::mem::take(&mut state.overflowed) {
            // Events were dropped for it while it was full: it hears of it as the kernel says it.
            drop(state);
            let mut fs = fs_for(instance, session, backlog);
            let out = output_of(&mut outputs, sessions, i);
            books[i].route(&mut fs, &overflow_event(), out);
        }
    }
    let mut fss: Vec<_> = sessions
        .iter()
        .map(|s| fs_for(instance, s, backlog))
        .collect();
    let has_trees = sessions.iter().any(|s| s.tree);
    let has_changes = sessions.iter().any(|s| s.changes);
    let mut settled = false;
    let mut error = None;
    let mut last_mask = 0;
    let mut holders: Vec<usize> = Vec::new();
    let events_so_far = |outputs: &[Option<Output>]| {
        outputs
            .iter()
            .flatten()
            .map(Output::event_count)
            .sum::<u32>()
    };
    let bytes_so_far = |outputs: &[Option<Output>]| {
        outputs
            .iter()
            .flatten()
            .map(Output::byte_len)
            .max()
            .unwrap_or(0)
    };
    loop {
        if bytes_so_far(&outputs) >= MAX_BATCH_BYTES && more_to_read(&instance.inotify, backlog) {
            break;
        }
        let early = backlog.pop();
        let bytes = match &early {
            Some(chunk) => chunk.as_slice(),
            None => match instance.inotify.read(&mut reader.buf) {
                Err(e) => {
                    error = Some(e);
                    break;
                }
                Ok(ReadOutcome::Empty) => {
                    if has_trees && last_mask & IN_MOVED_FROM != 0 {
                        last_mask = 0;
                        match instance.poller.wait(Some(MOVE_PAIR_GRACE)) {
                            Ok(ready) if ready.readable => continue,
                            Ok(_) => {}
                            Err(e) => {
                                error = Some(e);
                                break;
                            }
                        }
                    }
                    for (i, book) in books.iter_mut().enumerate() {
                        if room[i] {
                            let out = output_of(&mut outputs, sessions, i);
                            book.settle(&mut fss[i], out);
                        }
                    }
                    settled = true;
                    break;
                }
                Ok(ReadOutcome::Bytes(n)) => reader.buf.get(..n).unwrap_or_default(),
            },
        };
        let filled = early.is_none() && bytes.len() + LARGEST_EVENT > reader.buf.len();
        let mut events = parse_events(bytes);
        for event in events.by_ref() {
            last_mask = event.mask;
            holders.clear();
            if event.mask & IN_Q_OVERFLOW != 0 {
                holders.extend(0..sessions.len());
            } else {
                let shares = lock(&instance.shares);
                for id in shares.holders(event.wd) {
                    if let Ok(i) = sessions.binary_search_by_key(&id, |s| s.id) {
                        holders.push(i);
                    }
                }
            }
            // Another session's listing of a directory it shares is nobody's event.
            if holders.len() > 1
                && event.mask & LISTING_EVENTS != 0
                && holders
                    .iter()
                    .any(|&i| books[i].take_own_listing(event.wd, event.mask, event.name))
            {
                continue;
            }
            for &i in &holders {
                if !room[i] {
                    lock(&sessions[i].state).overflowed = true;
                    continue;
                }
                let out = output_of(&mut outputs, sessions, i);
                books[i].route(&mut fss[i], &event, out);
            }
            if event.mask & IN_IGNORED != 0 {
                lock(&instance.shares).dropped(event.wd);
            }
        }
        if events.leftover() != 0 {
            error = Some(Error::Malformed {
                leftover: events.leftover(),
            });
            break;
        }
        if filled && hand_over_early(has_changes, events_so_far(&outputs)) {
            reader.read_on = true;
            break;
        }
    }
    drop(fss);
    for (session, mut book) in sessions.iter().zip(books) {
        let reports = book.take_reports();
        session.watches.store(book.watch_count(), Ordering::Relaxed);
        drop(book);
        if !reports.is_empty() {
            lock(&session.state).add_reports(reports);
        }
    }
    Drained {
        outputs,
        settled,
        error,
    }
}

fn overflow_event() -> RawEvent<'static> {
    RawEvent {
        wd: -1,
        mask: IN_Q_OVERFLOW,
        cookie: 0,
        len: 0,
        name: b"",
    }
}

/// Queues what a drain read for each session, answers read-now requests, then rings. True when any
/// session got events.
///
/// Every session gets its part of the read before any is rung: a consumer told of an event can
/// count on each other session holding its wd to have it too (one watcher's batch is then a
/// witness of what another, not yet taking, holds).
fn deliver(
    instance: &InstanceCore,
    sessions: &[Arc<SessionCore>],
    drained: Drained,
    reader: &mut Reader,
) -> bool {
    let Drained {
        outputs,
        settled,
        error,
    } = drained;
    let alone = sessions.len() == 1;
    let mut any_events = false;
    let mut rings = Vec::with_capacity(sessions.len());
    reader.behind_since = None;
    for (session, output) in sessions.iter().zip(outputs) {
        let (batch, log) = match output {
            Some(Output::Batch(encoder)) => {
                let mut batch = encoder.finish();
                batch.set_settled(settled);
                (Some(batch), None)
            }
            Some(Output::Changes(log)) => (None, Some(log)),
            None => (None, None),
        };
        let events = batch.as_ref().map_or_else(
            || log.as_ref().map_or(0, ChangeLog::event_count),
            |b| b.events,
        );
        any_events |= events > 0;
        let mut state = lock(&session.state);
        let serving = state.read_now.serving;
        let mut pushed = false;
        let answered = if let Some(e) = error.clone() {
            if serving && !session.changes {
                // The request's answer: the error, then an empty batch.
                state.push_read_now(Err(e));
            } else {
                state.push(Err(e));
            }
            pushed = true;
            serving
        } else {
            false
        };
        if session.changes {
            if let Some(log) = log {
                // Coalesced here, off the consumer's thread, the whole read at once.
                log.apply_to(&mut state.changes);
                if settled {
                    state.changes.settle();
                }
                pushed |= !state.changes.is_empty();
            }
        } else if serving && !answered && (settled || events > 0) {
            // Only a settled read answers (even when empty); an unsettled one is read on at once.
            let batch = batch.unwrap_or_else(|| BatchEncoder::new().finish());
            let mut batch = batch;
            batch.set_settled(settled);
            state.push_read_now(Ok(batch));
            pushed = true;
        } else {
            // A read that ended settled ends the cycle of a consumer that was handed a part, even
            // with nothing more for it.
            let owed = settled && state.owes_settled();
            let batch = batch
                .filter(|b| b.events > 0 || owed)
                .or_else(|| owed.then(settled_empty_batch));
            if let Some(batch) = batch {
                state.push(Ok(batch));
                pushed = true;
            }
        }
        if pushed {
            state.restart_tick();
            if alone && !session.changes && settled && state.queue_len() >= 2 {
                reader.behind_since = Some(Instant::now());
            }
        }
        let fresh = std::mem::take(&mut state.fresh_reports);
        drop(state);
        rings.push((pushed, fresh));
    }
    for (session, (pushed, fresh)) in sessions.iter().zip(rings) {
        announce(instance, session, lock(&session.state), pushed, fresh);
    }
    if any_events {
        reader.last_batch = settled.then(Instant::now);
    }
    any_events
}

/// An empty batch that ends a cycle (a tick, or the end of a backlog handed over in parts).
fn settled_empty_batch() -> EncodedBatch {
    let mut batch = BatchEncoder::new().finish();
    batch.set_settled(true);
    batch
}

/// An error waiting in epoll: every session hears of it.
fn deliver_error(instance: &InstanceCore, sessions: &[Arc<SessionCore>], error: Error) {
    for session in sessions {
        let mut state = lock(&session.state);
        state.push(Err(error.clone()));
        announce(instance, session, state, true, false);
    }
}

/// Queues a tick (an empty, settled batch) for each armed session whose tick is due and that has
/// nothing to take: a tick only matters to a consumer with nothing to take.
fn deliver_ticks(instance: &InstanceCore, sessions: &[Arc<SessionCore>]) {
    let now = Instant::now();
    for session in sessions {
        let mut state = lock(&session.state);
        if state.tick_due.is_none_or(|d| d > now) {
            continue;
        }
        state.restart_tick();
        if state.queue_len() > 0 || session.changes {
            continue;
        }
        state.push(Ok(settled_empty_batch()));
        announce(instance, session, state, true, false);
    }
}

/// After the reader queued something for `session` (`pushed`) or it has `fresh` reports: its
/// takers wake, and its doorbell rings once until it takes (and for fresh reports).
fn announce(
    instance: &InstanceCore,
    session: &SessionCore,
    mut state: std::sync::MutexGuard<'_, State>,
    pushed: bool,
    fresh: bool,
) {
    let newly_pending = pushed && !std::mem::replace(&mut state.ring_pending, true);
    state.notify_takers(&session.changed);
    drop(state);
    if newly_pending || fresh {
        ring(instance, session, fresh);
    }
}

/// The mount table changed: each tree lists again each watched directory that a file system was
/// mounted over (inotify gives no event for that), reporting what differs. The batches are not
/// settled: the kernel's queue was not read. True when a session got events.
fn recheck_mounts(
    instance: &InstanceCore,
    sessions: &[Arc<SessionCore>],
    reader: &mut Reader,
) -> bool {
    let mount_points = crate::tree::mount_points(&instance.poller.read_mount_table());
    let mut outputs = Vec::with_capacity(sessions.len());
    for session in sessions {
        let mut output = None;
        if session.tree {
            let mut fs = fs_for(instance, session, &reader.backlog);
            let mut books = lock(&session.books);
            if let Books::Tree(tree) = &mut *books {
                let out = output.get_or_insert_with(|| Output::for_session(session));
                tree.mounts_changed(&mut fs, &mount_points, out.sink());
            }
            session.publish(&mut books);
        }
        outputs.push(output);
    }
    let drained = Drained {
        outputs,
        settled: false,
        error: None,
    };
    deliver(instance, sessions, drained, reader)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::ChannelDoorbell;

    /// How long the test waits for the readers to let their sessions go.
    const PATIENCE: Duration = Duration::from_secs(10);

    /// Stops an instance however the test ends.
    struct Stopping(Arc<InstanceCore>);

    impl Drop for Stopping {
        fn drop(&mut self) {
            self.0.stop();
        }
    }

    #[test]
    fn an_instance_out_of_session_ids_sends_the_next_session_to_a_new_one() {
        let (sender, _rings) = mpsc::channel();
        let doorbell = || Box::new(ChannelDoorbell(sender.clone())) as Box<dyn Doorbell>;
        let (first, a) = join_or_open(None, Mode::Plain, doorbell()).expect("an instance");
        let first = Stopping(first);
        lock(&first.0.control).next_id = SessionId::MAX - 1;
        let (same, b) =
            join_or_open(Some(Arc::clone(&first.0)), Mode::Plain, doorbell()).expect("the last id");
        let (fresh, c) =
            join_or_open(Some(Arc::clone(&first.0)), Mode::Plain, doorbell()).expect("a new one");
        let fresh = Stopping(fresh);
        assert!(Arc::ptr_eq(&same, &first.0));
        assert_eq!(b.id, SessionId::MAX);
        assert!(!Arc::ptr_eq(&fresh.0, &first.0));
        assert_eq!(c.id, 1);
        drop((first, fresh));
        let deadline = Instant::now() + PATIENCE;
        for session in [&a, &b, &c] {
            let mut state = lock(&session.state);
            while !session.released.load(Ordering::SeqCst) {
                let left = deadline.saturating_duration_since(Instant::now());
                assert!(!left.is_zero(), "session {} never released", session.id);
                state = wait_on(&session.changed, state, Some(left));
            }
        }
    }
}
