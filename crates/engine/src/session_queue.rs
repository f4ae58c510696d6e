//! What a session has for its consumer: the queue of encoded batches (or, for `watch()`, the
//! coalesced change set), the reader's arming, read-now requests and reports, and the roots that
//! wait to be scanned. One lock guards it; the reader thread fills it, the consumer empties it.

use std::collections::VecDeque;
use std::sync::Condvar;
use std::time::{Duration, Instant};

use crate::changes::ChangeSet;
use crate::error::{Error, Result};
use crate::reader_policy::HOLD_MAX;
use crate::tree::fs::RootHandle;
use crate::tree::TreeReport;
use crate::wire::{BatchEncoder, EncodedBatch};

/// The reader stops reading for a session while this many encoded bytes wait to be taken (some
/// 400k events): a stalled consumer rides out bursts here. Past it, a session alone on its
/// instance leaves events in the kernel's queue (whose overflow the kernel reports); a session
/// sharing its instance misses them, and is told by an `IN_Q_OVERFLOW` of its own once it takes.
pub const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;

/// Where the read-now requests ([`crate::Session::read_now`]) are.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadNow {
    /// A request waits for the reader (any number of requests made meanwhile are one).
    pub waiting: bool,
    /// The reader is reading for a request: its answer is not queued yet.
    pub serving: bool,
    /// Answers queued since the session opened.
    pub answers: u64,
}

/// The reader is armed for this session: it reads, and delivers a tick after `tick` without
/// events (`None`: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Armed {
    pub tick: Option<Duration>,
}

/// A root given to [`crate::Session::add_root`], opened there, waiting for the reader to scan it.
pub type PendingRoot = (Vec<u8>, Result<RootHandle>);

/// One session's side of the reader.
#[derive(Debug)]
pub struct State {
    /// The queue's bound ([`MAX_QUEUED_BYTES`] unless set).
    pub max_queued_bytes: usize,
    pub armed: Option<Armed>,
    /// When the next tick is due (armed with a tick, nothing delivered since).
    pub tick_due: Option<Instant>,
    /// Roots to add (trees), in order: each as given, and as opened when it was given.
    pub roots: VecDeque<PendingRoot>,
    pub read_now: ReadNow,
    pub stop: bool,
    queue: VecDeque<Result<EncodedBatch>>,
    queued_bytes: usize,
    /// The last batch queued was a part, not settled: the reader owes the consumer a settled
    /// batch, an empty one if it reads nothing more for it (see
    /// [`crate::reader_policy::hand_over_early`]).
    owes_settled: bool,
    /// A ring was sent and nothing was taken since: the consumer will look anyway.
    pub ring_pending: bool,
    /// The reader holds off reading until the consumer takes ([`HOLD_MAX`]): a take wakes it.
    pub reader_holding: bool,
    /// Threads blocked in `take_blocking`: only they need the condvar when a batch is queued.
    pub blocked_takers: usize,
    pub reports: Vec<TreeReport>,
    /// `watch()`: what changed since the consumer last took.
    pub changes: ChangeSet,
    /// Reports were added since the last ring (they ring whatever `ring_pending` says: the
    /// consumer takes reports on a ring, not on a take).
    pub fresh_reports: bool,
    /// Events were read for this session while it was full and dropped: it is owed an overflow.
    pub overflowed: bool,
    /// Why the session stopped, when not closed by its consumer (the reader panicked): what a
    /// request made since is answered with, rather than "closed".
    pub failure: Option<Error>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            max_queued_bytes: MAX_QUEUED_BYTES,
            armed: None,
            tick_due: None,
            roots: VecDeque::new(),
            read_now: ReadNow::default(),
            stop: false,
            queue: VecDeque::new(),
            queued_bytes: 0,
            owes_settled: false,
            ring_pending: false,
            reader_holding: false,
            blocked_takers: 0,
            reports: Vec::new(),
            changes: ChangeSet::new(),
            fresh_reports: false,
            overflowed: false,
            failure: None,
        }
    }
}

impl State {
    /// The error a request to a stopped session gets.
    pub fn stopped_error(&self) -> Error {
        self.failure.clone().unwrap_or(Error::Closed)
    }

    pub fn add_reports(&mut self, reports: Vec<TreeReport>) {
        if !reports.is_empty() {
            self.reports.extend(reports);
            self.fresh_reports = true;
        }
    }

    pub fn push(&mut self, delivery: Result<EncodedBatch>) {
        if let Ok(batch) = &delivery {
            self.queued_bytes += batch.bytes.len();
            self.owes_settled = !batch.settled();
        }
        self.queue.push_back(delivery);
    }

    /// Whether the last batch queued was a part (see [`State::push`]): a settled read owes this
    /// consumer a settled batch even when it read nothing for it.
    pub fn owes_settled(&self) -> bool {
        self.owes_settled
    }

    /// Queues what the reader read for a read-now request. The batch that ends the reading (a
    /// settled one, or an error and then an empty batch) is the request's answer, queued even when
    /// empty: the consumer waits for exactly that batch.
    pub fn push_read_now(&mut self, delivery: Result<EncodedBatch>) {
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

    pub fn pop(&mut self) -> Option<Result<EncodedBatch>> {
        let delivery = self.queue.pop_front()?;
        if let Ok(batch) = &delivery {
            self.queued_bytes -= batch.bytes.len();
        }
        Some(delivery)
    }

    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    pub fn full(&self) -> bool {
        self.queued_bytes + self.changes.byte_len() >= self.max_queued_bytes
    }

    /// The consumer took (or looked): a ring is due for what comes next. True when the reader was
    /// holding for it (the caller wakes the reader, off this lock).
    pub fn taken(&mut self) -> bool {
        self.ring_pending = false;
        std::mem::take(&mut self.reader_holding)
    }

    /// How much longer the reader holds off reading: the consumer has had two batches or more to
    /// take since `behind_since` (a thread blocked in a take is waiting now: never held for).
    pub fn hold_left(&self, behind_since: Option<Instant>) -> Option<Duration> {
        if self.queue.len() < 2 || self.blocked_takers > 0 {
            return None;
        }
        let left = HOLD_MAX.saturating_sub(behind_since?.elapsed());
        (!left.is_zero()).then_some(left)
    }

    /// The next tick is due `tick` from now, when armed with one.
    pub fn restart_tick(&mut self) {
        self.tick_due = self
            .armed
            .and_then(|a| a.tick)
            .map(|tick| Instant::now() + tick);
    }

    /// Wakes threads blocked in a take, if any.
    pub fn notify_takers(&self, changed: &Condvar) {
        if self.blocked_takers > 0 {
            changed.notify_all();
        }
    }
}
