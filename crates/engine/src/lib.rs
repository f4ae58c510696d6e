//! The engine of `inotify-napi`: everything that is inotify, in pure Rust, with no knowledge of Node.
//! The repository's `ARCHITECTURE.md` says how it fits with the binding and the API.
//!
//! - [`sys`] is the only module that talks to the kernel (through `nix`): the inotify descriptor, epoll
//!   and the eventfd that wakes the reader on close.
//! - [`parse`] turns the bytes `read(2)` returns into [`RawEvent`]s; it is a pure function over bytes.
//! - [`watch_table`] maps watch descriptors to the paths they were registered with.
//! - [`wire`] encodes a batch of events into one byte buffer, so a consumer across an FFI boundary
//!   receives a whole batch in one call.
//! - [`sink`] is what routing writes into: a batch encoder, or a change tree's log of changes.
//! - [`changes`] turns a tree's events into per-path changes (create, modify, delete, rename), coalesced.
//! - [`changes_wire`] encodes a taken set of changes into one byte buffer.
//! - [`paths`] joins paths as bytes (a root may be `/`).
//! - [`ignore_rules`], [`ignore_regex`] and [`ignore_parcel`] decide what a tree leaves out, before any
//!   watch; [`byte_regex`] matches ECMAScript expressions over bytes, as `@parcel/watcher` does.
//! - [`snapshot`] is what a tree held at one moment and what changed since (`@parcel/watcher`'s
//!   `writeSnapshot` and `getEventsSince`), walked by [`snapshot_walk`] and kept in a file by
//!   [`snapshot_format`].
//! - [`own_listings`] takes out the events a tree's own directory listings cause on its watches.
//! - [`backlog`] holds what the kernel queued while the reader was scanning, so a scan never
//!   overflows the kernel's queue with the events its own listing makes.
//! - [`instance`] is one inotify descriptor with its reader thread, hosting sessions; [`wd_shares`]
//!   says which sessions hold each wd, and [`reader_policy`] when the reader reads and hands over.
//! - [`session`] is a consumer's handle on one session (a raw watch set, a tree, a change tree);
//!   [`session_queue`] is what waits for it, and [`doorbell`] how it hears of it.
//!
//! # inotify gotchas this crate handles
//!
//! - `IN_Q_OVERFLOW` arrives with wd = -1; it is delivered, never dropped as "unknown watch".
//! - Identical consecutive events are merged by the kernel: counts of repeated events are not exact.
//! - `IN_IGNORED` ends a watch (after `inotify_rm_watch`, deletion or unmount); the table forgets it.
//! - Names are bytes: a non-UTF-8 name is carried as it is, never an error.

pub mod backlog;
pub mod books;
pub mod byte_regex;
pub mod changes;
pub mod changes_wire;
pub mod doorbell;
pub mod error;
pub mod event;
pub mod ignore_parcel;
pub mod ignore_regex;
pub mod ignore_rules;
pub mod instance;
pub mod mask;
pub mod own_listings;
pub mod parse;
pub mod path_index;
pub mod paths;
pub mod reader_policy;
pub mod session;
pub mod session_queue;
pub mod sink;
pub mod snapshot;
pub mod snapshot_format;
pub mod snapshot_walk;
pub(crate) mod sync;
pub mod sys;
pub mod tree;
pub mod watch_table;
pub mod wd_shares;
pub mod wire;

pub use books::Mode;
pub use doorbell::{ChannelDoorbell, Doorbell, Ring};
pub use error::{Error, Result};
pub use event::RawEvent;
pub use session::{Closer, Placement, Session};
pub use tree::{TreeOptions, TreeReport};
pub use wire::EncodedBatch;

/// Cases per property test: `default`, or `PROPTEST_CASES` when set (the stress suite raises it).
#[cfg(test)]
pub(crate) fn props_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
