//! How the reader thread tells a session's consumer that a batch or a report is ready.

/// A ring, as a number for a doorbell that crosses into another language (the binding's): a batch
/// can be taken.
pub const RING_READY: u32 = 0;
/// A ring: a batch, or a tree's reports, can be taken.
pub const RING_REPORTS: u32 = 1;
/// The last ring ([`Doorbell::released`]): the session was released (its wds are gone, and the
/// descriptor closed if it was its instance's last session).
pub const RING_RELEASED: u32 = 2;

/// What ringing the consumer gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ring {
    /// The consumer was told.
    Rung,
    /// The consumer is gone (its environment is shutting down): its session closes.
    Closed,
}

/// How the reader thread tells the consumer that a batch or a report is ready. Called on the reader
/// thread; it must not block.
pub trait Doorbell: Send + Sync + 'static {
    /// Tells the consumer to [`crate::Session::take`], and with `reports` to
    /// [`crate::Session::take_reports`] too (there are some).
    fn ring(&self, reports: bool) -> Ring;

    /// Tells the consumer that its session was released: its wds are gone and, if it was its
    /// instance's last session, the descriptors are closed. Called once, on the reader thread,
    /// after every ring; the doorbell is dropped right after.
    fn released(&self) {}
}

/// A doorbell that sends `()` down a channel, for Rust consumers (the engine's tests and its drain
/// example): the receiver going away closes the session.
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
