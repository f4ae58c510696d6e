//! A tree's ignore rule that also asks a JS function, from the reader thread, before a directory's
//! watch is added (files are left to the JS side). The reader waits for the answer; it gives up (and watches) when the instance closes or
//! the environment goes away, so a JS thread that is busy or gone never hangs it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use inotify_engine::ignore_rules::GitignoreRule;
use inotify_engine::tree::IgnoreRule;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;

/// `(path, isDir) => boolean` on the JS thread.
pub type IgnoreFn = ThreadsafeFunction<(String, bool), bool, (String, bool), Status, false, true>;

/// How often a waiting reader looks at the closing flag.
const POLL: Duration = Duration::from_millis(10);

/// Gitignore patterns first (no JS call for what they already leave out), then the JS function.
pub struct JsIgnore {
    pub patterns: GitignoreRule,
    pub function: IgnoreFn,
    pub closing: Arc<AtomicBool>,
}

impl std::fmt::Debug for JsIgnore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsIgnore")
            .field("patterns", &self.patterns)
            .finish_non_exhaustive()
    }
}

impl IgnoreRule for JsIgnore {
    fn add_root(&mut self, root: &[u8]) -> Result<(), inotify_engine::Error> {
        self.patterns.add_root(root)
    }

    fn move_root(&mut self, from: &[u8], to: &[u8]) {
        self.patterns.move_root(from, to);
    }

    fn is_ignored(&self, path: &[u8], is_dir: bool) -> bool {
        if self.patterns.is_ignored(path, is_dir) {
            return true;
        }
        // Files are judged on the JS side, where their events are yielded (no round trip per file
        // of a scan); only a directory's answer decides whether a watch is added.
        if !is_dir || self.closing.load(Ordering::SeqCst) {
            return false;
        }
        let (answer, answered) = sync_channel(1);
        let status = self.function.call_with_return_value(
            (String::from_utf8_lossy(path).into_owned(), is_dir),
            ThreadsafeFunctionCallMode::NonBlocking,
            move |result, _env| {
                // A function that threw, or returned something else, ignores nothing (the JS side
                // catches a user function's throw and reports it with the path first).
                let _ = answer.send(result.unwrap_or(false));
                Ok(())
            },
        );
        if status != Status::Ok {
            return false;
        }
        loop {
            match answered.recv_timeout(POLL) {
                Ok(ignored) => return ignored,
                Err(RecvTimeoutError::Disconnected) => return false,
                Err(RecvTimeoutError::Timeout) if self.closing.load(Ordering::SeqCst) => {
                    return false
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }
}
