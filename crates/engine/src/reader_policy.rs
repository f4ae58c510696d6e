//! When the reader reads, and how much into one batch: the hand-over policy of the reader loop
//! ([`crate::instance`]). Each rule spends fewer wake-ups (of the reader, and of each consumer) on
//! more events, without making a consumer that keeps up wait.

use std::time::Duration;

use crate::backlog::Backlog;
use crate::sys::InotifyFd;

/// Size of the buffer one `read(2)` fills (inotify(7) asks for at least one event plus NAME_MAX).
pub const READ_BUFFER_LEN: usize = 128 * 1024;
/// A batch stops growing past this many encoded bytes, if more is to be read (see
/// [`more_to_read`]), which the next batch reads at once.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// The largest event: a 16-byte header and a name of `NAME_MAX` bytes with its NUL, padded to 16.
/// A read that leaves less room than this in the buffer may have been cut by the buffer rather
/// than by the kernel's queue running dry (see [`hand_over_early`]).
pub const LARGEST_EVENT: usize = 16 + 256;
/// A tree's read that ends on an `IN_MOVED_FROM` waits this long for its `IN_MOVED_TO`: the kernel
/// queues a rename's two halves one after the other, not at once, so a reader can fall between
/// them; without the wait a rename would be taken for a move out of the tree.
pub const MOVE_PAIR_GRACE: Duration = Duration::from_millis(10);
/// A consumer with two batches or more queued is behind a stream and has work in hand: the reader
/// then holds off reading until it takes one, for at most this long, and reads what arrived
/// meanwhile in one go instead of in a wake-up every few events. With one batch still queued when
/// it takes, the consumer never runs dry for it, so its latency does not change; a consumer that
/// keeps up is never held for. Only after a read that emptied the kernel's queue (not one cut at
/// [`MAX_BATCH_BYTES`] or handed over early), so what accumulates during a hold is 2 ms of events,
/// far below what fills the kernel's queue (16,384 events by default). Changes mode (`watch()`) never holds: there
/// reading is coalescing, and a debounce takes what was read when it ends.
pub const HOLD_MAX: Duration = Duration::from_millis(2);
/// Events that wake the reader within this long of its last batch are a stream (a burst of file
/// operations), not a lone change: see [`LINGER`].
pub const STREAM_GAP: Duration = Duration::from_micros(500);
/// Woken within [`STREAM_GAP`] of its last settled batch, the reader sleeps this long before it
/// reads, so that one batch carries what a stream brings meanwhile instead of a wake-up of this
/// thread and of the consumer every few events (each costs some 6 us of CPU across the two threads
/// and JavaScript). A lone change, or the first of a stream, is read at once; the rest of a stream
/// arrives this much later, plus the kernel's timer slack (some 0.15 ms in all). A consumer blocked
/// in [`crate::Session::take_blocking`] waits for it too (unlike the hold, which never makes it wait): the
/// delay is a fraction of a millisecond, and the saving the same. In changes mode (`watch()`) too:
/// there it makes fewer, larger takes, and more of a file's events coalesce within one.
pub const LINGER: Duration = Duration::from_micros(100);
/// Whether to end the batch now, after a read that filled the buffer (not in changes mode, where the
/// consumer takes coalesced changes, not batches): the consumer then works through what was read
/// while this thread reads on, and a full kernel queue drains at the pace of the slower of the two
/// rather than of both in a row. The reader then reads on at once, without waiting in epoll
/// ([`crate::instance`]), and a read that finds the queue empty ends a settled batch, an empty one
/// if it read nothing, for each session that was handed a part: so a tree settles its books, and a
/// consumer sees the end of the cycle, although the kernel may have had nothing more after the
/// full read. The reader does not ask the kernel whether more is queued (`FIONREAD`) first: that
/// walks the whole queue, under the lock the kernel takes to queue an event, and cost a fifth of
/// the reader's time on a full queue. Handing over only when the consumer had nothing left to take
/// was tried: the consumer then took a first part, and the rest (three quarters of a full queue)
/// in one batch at the end, which it decoded alone after the reads were over (the drain's last
/// millisecond).
pub fn hand_over_early(changes: bool, events: u32) -> bool {
    !changes && events > 0
}

/// Whether the kernel's queue holds events (`FIONREAD`; it counts them under the queue's lock, a
/// walk of the queue, so it is asked only of a batch that grew to [`MAX_BATCH_BYTES`]). An error,
/// which a live inotify descriptor does not give, counts as "yes": reading on finds out.
pub fn kernel_has_more(inotify: &InotifyFd) -> bool {
    !matches!(inotify.queued_bytes(), Ok(0))
}

/// Whether a batch that reached [`MAX_BATCH_BYTES`] may end there: only with more to read (what a
/// scan read ahead, or the kernel's queue). With nothing more, the next read finds EAGAIN and the
/// batch ends settled, as it must for a tree's books (a batch that ended unsettled with nothing
/// queued would leave a re-scan waiting for the next event).
pub fn more_to_read(inotify: &InotifyFd, backlog: &Backlog) -> bool {
    !backlog.is_empty() || kernel_has_more(inotify)
}
