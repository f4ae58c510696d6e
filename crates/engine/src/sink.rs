//! Where routing writes what a session reports: the books ([`crate::books`], [`crate::tree`]) push
//! each event they report, under its watch's path, into a [`Sink`], and the session's kind decides
//! what the sink is. For the raw APIs it is a [`crate::wire::BatchEncoder`] (a batch for the
//! consumer); for a change tree (`watch()`) it is a [`crate::changes::ChangeLog`], which the reader
//! applies to the session's [`crate::changes::ChangeSet`] once per read: a change tree's events are
//! never encoded into a batch, nor read back from one.

use crate::event::RawEvent;

/// What routing writes into.
pub trait Sink {
    /// Takes one reported event, under `path` (the watch's path; `None` for `IN_Q_OVERFLOW`),
    /// with the engine's `flags` ([`crate::wire::FLAG_SYNTHETIC`], [`crate::wire::FLAG_REPLACED`]).
    fn push(&mut self, event: &RawEvent<'_>, path: Option<&[u8]>, flags: u32);
}
