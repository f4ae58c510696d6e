//! The engine's own event type: one `struct inotify_event`, with the name as bytes.

/// One event as the kernel reported it. The name borrows from the read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEvent<'a> {
    /// Watch descriptor; -1 for `IN_Q_OVERFLOW`.
    pub wd: i32,
    /// The kernel's mask, including `IN_ISDIR`, `IN_IGNORED`, `IN_Q_OVERFLOW`, `IN_UNMOUNT`.
    pub mask: u32,
    /// Pairs `IN_MOVED_FROM` with `IN_MOVED_TO`; 0 otherwise.
    pub cookie: u32,
    /// The kernel's `len`: the size of the name field including its NUL padding.
    pub len: u32,
    /// The name without its padding; empty for an event on the watched object itself.
    pub name: &'a [u8],
}
