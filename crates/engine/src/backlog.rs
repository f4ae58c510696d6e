//! Events read from the kernel while the reader was busy scanning directories, waiting their turn.
//!
//! Listing a directory makes events of its own: `IN_OPEN`, `IN_ACCESS` and `IN_CLOSE_NOWRITE`, on
//! the directory's watch and on its parent's. A tree that asks for them (`IN_ALL_EVENTS`, the
//! default) and scans more than about 2,700 directories at once makes more than the kernel queue
//! holds (`max_queued_events`, 16,384 by default) before the reader, busy scanning, reads any of
//! them. The queue would overflow; the re-scan that follows an overflow would overflow it again,
//! and so on for ever, at full CPU. So while it scans, the reader moves what the kernel has queued
//! into this backlog every few directories, and routes it, in order, before it reads the kernel
//! again.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use crate::error::Result;
use crate::sys::{InotifyFd, ReadOutcome};

/// At most this many bytes wait here: some 250 bytes a directory scanned with every event type
/// asked for, so a scan of about 250,000 directories at once. Past it the kernel's queue fills,
/// and its overflow is reported as always (with every event type asked for, a tree that large can
/// still overflow again in each re-scan: a larger `max_queued_events`, or a mask without
/// `IN_OPEN`, `IN_ACCESS` and `IN_CLOSE_NOWRITE`, avoids it).
pub const MAX_BACKLOG_BYTES: usize = 64 * 1024 * 1024;

/// One `read(2)` at most; larger than any one event (16 bytes and a name of up to 256).
const READ_CHUNK: usize = 64 * 1024;

/// Events read ahead of their turn, as the chunks `read(2)` returned (each holds whole events).
#[derive(Debug, Default)]
pub struct Backlog {
    chunks: RefCell<VecDeque<Vec<u8>>>,
    bytes: Cell<usize>,
    scratch: RefCell<Vec<u8>>,
}

impl Backlog {
    /// An empty backlog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves what the kernel has queued on `inotify` into the backlog, up to
    /// [`MAX_BACKLOG_BYTES`].
    pub fn read_from(&self, inotify: &InotifyFd) -> Result<()> {
        let mut scratch = self.scratch.borrow_mut();
        if scratch.len() != READ_CHUNK {
            scratch.resize(READ_CHUNK, 0);
        }
        while self.bytes.get() < MAX_BACKLOG_BYTES {
            match inotify.read(&mut scratch)? {
                ReadOutcome::Bytes(n) if n > 0 => {
                    let chunk = scratch.get(..n).unwrap_or_default().to_vec();
                    self.bytes.set(self.bytes.get() + chunk.len());
                    self.chunks.borrow_mut().push_back(chunk);
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// The oldest chunk, if any.
    pub fn pop(&self) -> Option<Vec<u8>> {
        let chunk = self.chunks.borrow_mut().pop_front()?;
        self.bytes.set(self.bytes.get() - chunk.len());
        Some(chunk)
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.chunks.borrow().is_empty()
    }

    /// Bytes waiting.
    pub fn byte_len(&self) -> usize {
        self.bytes.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::IN_CREATE;
    use crate::parse::parse_events;

    fn temp_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "inotify-engine-backlog-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn moves_the_kernel_queue_into_chunks_of_whole_events_in_order() {
        let dir = temp_dir();
        let inotify = InotifyFd::open().expect("inotify_init1");
        inotify
            .add_watch(dir.as_os_str().as_encoded_bytes(), IN_CREATE)
            .expect("add_watch");
        // More than one read's worth: 5,000 events of 32 bytes.
        for i in 0..5000 {
            std::fs::write(dir.join(format!("f{i:05}")), b"").expect("create");
        }
        let backlog = Backlog::new();
        backlog.read_from(&inotify).expect("read");
        assert!(backlog.byte_len() > READ_CHUNK);
        let mut names = Vec::new();
        while let Some(chunk) = backlog.pop() {
            let mut events = parse_events(&chunk);
            names.extend(events.by_ref().map(|e| e.name.to_vec()));
            assert_eq!(events.leftover(), 0, "a chunk holds whole events");
        }
        assert!(backlog.is_empty());
        assert_eq!(backlog.byte_len(), 0);
        let want: Vec<Vec<u8>> = (0..5000).map(|i| format!("f{i:05}").into_bytes()).collect();
        assert_eq!(names, want);
        // Nothing left in the kernel: a second read finds the queue empty.
        backlog.read_from(&inotify).expect("read");
        assert!(backlog.is_empty());
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
