//! napi-rs glue: one native class that owns one engine [`Session`]. It maps types and errors and
//! nothing else; what inotify means lives in the engine, what the API means lives in `src/`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use inotify_engine::doorbell::{RING_READY, RING_RELEASED, RING_REPORTS};
use inotify_engine::ignore_parcel::ParcelRule;
use inotify_engine::ignore_rules::IgnoreRules;
use inotify_engine::{Closer, Doorbell, Mode, Placement, Ring, Session, TreeOptions, TreeReport};
use napi::bindgen_prelude::{Buffer, Function};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{CleanupEnvHook, Env, Status};
use napi_derive::napi;

mod error;
pub mod masks;
pub mod snapshot;

use error::{guard, Description, Failure, Outcome};
use napi::Result;

/// The JS callback the reader thread rings, with what the ring says ([`RING_READY`],
/// [`RING_REPORTS`], [`RING_RELEASED`]): not ref'd (the JS side holds the ref'd handle while a
/// watcher is open, and while it closes), errors not passed as a first argument. The threadsafe function
/// holds its JS function strongly for the session's life, so that function must not lead back to
/// the JS object that owns this instance: else neither is ever collected. `src/event-source.ts` rings its instance through a `WeakRef`.
type DoorbellFn = ThreadsafeFunction<u32, (), u32, Status, false, true>;

struct JsDoorbell(DoorbellFn);

impl JsDoorbell {
    fn call(&self, signal: u32) -> Ring {
        match self.0.call(signal, ThreadsafeFunctionCallMode::NonBlocking) {
            Status::Closing => Ring::Closed,
            // The queue is unbounded, so anything else means the call was queued.
            _ => Ring::Rung,
        }
    }
}

impl Doorbell for JsDoorbell {
    fn ring(&self, reports: bool) -> Ring {
        self.call(if reports { RING_REPORTS } else { RING_READY })
    }

    fn released(&self) {
        // Closing: the environment is going away, and nobody waits for this ring.
        let _ = self.call(RING_RELEASED);
    }
}

/// How long an environment's teardown waits for a session's release: the reader lets go of it at
/// its next look (a scan under way gives up when its session closes), and closing a descriptor
/// takes milliseconds. A bound, so that a bug can never hang `worker.terminate()`.
const TEARDOWN_WAIT: Duration = Duration::from_secs(10);

/// What the env cleanup hook needs: a way to close the watcher if it still exists.
struct Teardown {
    closer: Closer,
    fired: Arc<AtomicBool>,
}

/// Milliseconds from JS (a negative number means "no limit") as a timeout.
fn timeout_from_ms(ms: f64) -> Option<Duration> {
    if ms.is_nan() || ms < 0.0 {
        None
    } else {
        Some(Duration::from_secs_f64(ms.min(1e12) / 1000.0))
    }
}

/// Makes the instance a recursive tree (roots added with `addRoot`).
#[napi(object)]
pub struct TreeConfig {
    /// The events the user wants; the tree adds what its bookkeeping needs.
    pub mask: u32,
    /// Follow symbolic links to directories.
    pub follow_symlinks: bool,
    /// Gitignore-style patterns, relative to each root.
    pub ignore: Vec<String>,
    /// Regular expressions (JS `RegExp` sources without flags), matched anywhere in the path
    /// relative to its root.
    pub ignore_regexes: Vec<String>,
    /// `@parcel/watcher`'s ignored paths (absolute): each leaves out itself and all below it.
    pub ignore_paths: Option<Vec<String>>,
    /// `@parcel/watcher`'s ignore expressions (ECMAScript sources), each matched whole, byte by
    /// byte, against the path relative to its root.
    pub ignore_globs: Option<Vec<String>>,
    /// Also apply each root's `.gitignore` file.
    pub read_gitignore: Option<bool>,
    /// Turn events into per-path changes, taken with `takeChanges` (the tooling API).
    pub changes: Option<bool>,
    /// Watch below the roots (default true).
    pub recursive: Option<bool>,
    /// Bound of what waits to be taken, in bytes (default 16 MiB).
    pub max_queued_bytes: Option<f64>,
    /// An inotify instance of its own, instead of the one the process's trees share.
    pub own_instance: Option<bool>,
}

/// Something a tree reports that is not an event.
#[napi(object)]
pub struct NativeTreeReport {
    /// `'ready'`, `'rootFailed'`, `'skipped'`, `'ignoreFile'` or `'watchLimit'`.
    pub kind: String,
    /// The root or directory concerned.
    pub path: Buffer,
    /// For failures: the errno name.
    pub code: Option<String>,
    /// For failures: the system call.
    pub syscall: Option<String>,
    /// For failures: the engine's description.
    pub message: Option<String>,
    /// For `watchLimit`: watches the tree needs.
    pub needed: Option<f64>,
    /// For `watchLimit`: watches in place.
    pub watched: Option<f64>,
}

impl From<TreeReport> for NativeTreeReport {
    fn from(report: TreeReport) -> Self {
        let plain = |kind: &str, path: Vec<u8>| NativeTreeReport {
            kind: kind.to_string(),
            path: Buffer::from(path),
            code: None,
            syscall: None,
            message: None,
            needed: None,
            watched: None,
        };
        let failed = |kind: &str, path: Vec<u8>, error: inotify_engine::Error| {
            let description = Description::of(&error);
            NativeTreeReport {
                code: Some(description.code.to_string()),
                syscall: description.syscall.map(str::to_string),
                message: Some(description.message),
                ..plain(kind, path)
            }
        };
        match report {
            TreeReport::RootReady { path } => plain("ready", path),
            TreeReport::RootFailed { path, error } => failed("rootFailed", path, error),
            TreeReport::Skipped { path, error } => failed("skipped", path, error),
            TreeReport::IgnoreFileRefused { path, error } => failed("ignoreFile", path, error),
            TreeReport::WatchLimit {
                path,
                needed,
                watched,
            } => NativeTreeReport {
                code: Some("ENOSPC".to_string()),
                needed: Some(needed as f64),
                watched: Some(watched as f64),
                ..plain("watchLimit", path)
            },
        }
    }
}

/// One inotify instance with its reader thread. `src/inotify.ts` is its only user.
#[napi]
pub struct NativeInotify {
    /// `None` once closed. Dropping it never closes a descriptor: the reader thread does.
    session: Option<Session>,
    env: Env,
    cleanup: Option<(CleanupEnvHook<Teardown>, Arc<AtomicBool>)>,
}

#[napi]
impl NativeInotify {
    /// Opens an inotify instance; `onReady` is called each time a batch can be taken (with 0, or 1
    /// when there are reports too), and a last time with 2 once `close()` has released everything.
    #[napi(constructor)]
    pub fn new(env: Env, on_ready: Function<u32, ()>, tree: Option<TreeConfig>) -> Result<Self> {
        guard(env, || Self::open(env, on_ready, tree))
    }

    /// `inotify_add_watch(2)`; returns the wd.
    #[napi]
    pub fn add_watch(&self, path: Buffer, mask: u32) -> Result<i32> {
        guard(self.env, || {
            error::panic_if_asked_for_tests();
            self.session()?
                .add_watch(&path, mask)
                .map_err(Failure::Engine)
        })
    }

    /// `inotify_rm_watch(2)` (or only forgets the wd, when `superficial`).
    #[napi]
    pub fn remove_watch(&self, wd: i32, superficial: bool) -> Result<()> {
        guard(self.env, || {
            self.session()?
                .remove_watch(wd, superficial)
                .map_err(Failure::Engine)
        })
    }

    /// Adds a tree root; the reader thread scans it and reports `ready` (or `rootFailed`).
    #[napi]
    pub fn add_root(&self, path: Buffer) -> Result<()> {
        guard(self.env, || {
            self.session()?.add_root(&path).map_err(Failure::Engine)
        })
    }

    /// What the tree reported since the last call.
    #[napi]
    pub fn take_reports(&self) -> Result<Vec<NativeTreeReport>> {
        guard(self.env, || {
            Ok(self
                .session
                .as_ref()
                .map(|w| w.take_reports().into_iter().map(Into::into).collect())
                .unwrap_or_default())
        })
    }

    /// The wd a path is watched as.
    #[napi]
    pub fn wd_of(&self, path: Buffer) -> Result<Option<i32>> {
        guard(self.env, || {
            Ok(self.session.as_ref().and_then(|w| w.wd_of(&path)))
        })
    }

    /// Number of watch descriptors held.
    #[napi]
    pub fn watch_count(&self) -> Result<u32> {
        guard(self.env, || {
            let count = self.session.as_ref().map_or(0, Session::watch_count);
            Ok(u32::try_from(count).unwrap_or(u32::MAX))
        })
    }

    /// The inotify file descriptor (for diagnostics and tests).
    #[napi(getter)]
    pub fn fd(&self) -> i32 {
        self.session.as_ref().map_or(-1, Session::raw_fd)
    }

    /// Arms the reader: it reads as events come and queues a tick after `timeoutMs` without events
    /// (negative: no ticks). `false` when it was armed already (the tick is updated).
    #[napi]
    pub fn request(&self, timeout_ms: f64) -> Result<bool> {
        guard(self.env, || {
            self.session()?
                .request(timeout_from_ms(timeout_ms))
                .map_err(Failure::Engine)
        })
    }

    /// Has the reader read what the kernel has queued now, armed or not, its last batch marked as
    /// the answer (queued even when empty). Returns how many answers will have been queued since
    /// the instance opened once this one is.
    #[napi]
    pub fn read_now(&self) -> Result<f64> {
        guard(self.env, || {
            let target = self.session()?.read_now().map_err(Failure::Engine)?;
            // A count of requests: far below 2^53.
            Ok(target as f64)
        })
    }

    /// Disarms the reader: it reads nothing more until `request` (events wait in the kernel).
    #[napi]
    pub fn pause(&self) -> Result<()> {
        guard(self.env, || {
            if let Some(session) = self.session.as_ref() {
                session.pause();
            }
            Ok(())
        })
    }

    /// The oldest batch that is ready (see `src/wire.ts` for its layout), or `null`.
    #[napi]
    pub fn take(&self) -> Result<Option<Buffer>> {
        guard(self.env, || {
            Ok(self
                .session()?
                .take()
                .map_err(Failure::Engine)?
                .map(|batch| Buffer::from(batch.bytes)))
        })
    }

    /// Changes mode: what changed since the last call, at most `max_changes` of it (the rest
    /// waits for the next call), encoded (`null`: nothing).
    #[napi]
    pub fn take_changes(&self, max_changes: u32) -> Result<Option<Buffer>> {
        guard(self.env, || {
            Ok(self
                .session()?
                .take_changes(max_changes as usize)
                .map_err(Failure::Engine)?
                .map(Buffer::from))
        })
    }

    /// Blocks this thread until a batch is ready or `timeoutMs` passes (`null`).
    #[napi]
    pub fn take_blocking(&self, timeout_ms: f64) -> Result<Option<Buffer>> {
        guard(self.env, || {
            Ok(self
                .session()?
                .take_blocking(timeout_from_ms(timeout_ms))
                .map_err(Failure::Engine)?
                .map(|batch| Buffer::from(batch.bytes)))
        })
    }

    /// Closes the session without waiting: the reader thread lets its wds go and, if it was its
    /// instance's last session, closes the descriptors, then rings `onReady` with 2. Idempotent.
    #[napi]
    pub fn close(&mut self) -> Result<()> {
        guard(self.env, || {
            if let Some(session) = self.session.take() {
                session.close();
            }
            self.remove_cleanup_hook()
        })
    }

    /// Whether `close()` was called (or the environment is shutting down).
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.session.as_ref().is_none_or(Session::is_closed)
    }
}

impl NativeInotify {
    fn open(env: Env, on_ready: Function<u32, ()>, tree: Option<TreeConfig>) -> Outcome<Self> {
        let max_queued_bytes = tree.as_ref().and_then(|t| t.max_queued_bytes);
        let own = tree
            .as_ref()
            .is_none_or(|t| t.own_instance.unwrap_or(false));
        let placement = if own {
            Placement::Own
        } else {
            Placement::Shared
        };
        let mode = match tree {
            None => Mode::Plain,
            Some(config) => {
                let parcel = ParcelRule::new(
                    config
                        .ignore_paths
                        .unwrap_or_default()
                        .into_iter()
                        .map(String::into_bytes)
                        .collect(),
                    &config.ignore_globs.unwrap_or_default(),
                )
                .map_err(Failure::InvalidArgument)?;
                let ignore = IgnoreRules::new(
                    config.ignore,
                    &config.ignore_regexes,
                    config.read_gitignore.unwrap_or(false),
                )
                .map_err(Failure::InvalidArgument)?
                .with_parcel(parcel);
                let options = TreeOptions {
                    mask: config.mask,
                    follow_symlinks: config.follow_symlinks,
                    recursive: config.recursive.unwrap_or(true),
                    ignore: Some(Box::new(ignore)),
                };
                if config.changes.unwrap_or(false) {
                    Mode::Changes(options)
                } else {
                    Mode::Tree(options)
                }
            }
        };
        let doorbell = on_ready
            .build_threadsafe_function::<u32>()
            .weak::<true>()
            .callee_handled::<false>()
            .build_callback(|ctx| Ok(ctx.value))
            .map_err(Failure::Napi)?;
        let session = Session::open_in(JsDoorbell(doorbell), mode, placement)?;
        if let Some(bytes) = max_queued_bytes {
            // Checked in JS: a positive integer; beyond usize it is "no bound" anyway.
            session.set_max_queued_bytes(bytes as usize);
        }
        // `worker.terminate()` and process teardown do not run JS `close()`: close the session from
        // the environment's cleanup hook instead, and wait there until it is released.
        let fired = Arc::new(AtomicBool::new(false));
        let teardown = Teardown {
            closer: session.closer(),
            fired: Arc::clone(&fired),
        };
        let hook = env
            .add_env_cleanup_hook(teardown, |teardown| {
                teardown.fired.store(true, Ordering::SeqCst);
                teardown.closer.close();
                teardown.closer.wait_released(Some(TEARDOWN_WAIT));
            })
            .map_err(Failure::Napi)?;
        Ok(Self {
            session: Some(session),
            env,
            cleanup: Some((hook, fired)),
        })
    }
}

impl NativeInotify {
    fn session(&self) -> Outcome<&Session> {
        self.session
            .as_ref()
            .ok_or(Failure::Engine(inotify_engine::Error::Closed))
    }

    fn remove_cleanup_hook(&mut self) -> Outcome<()> {
        if let Some((hook, fired)) = self.cleanup.take() {
            if !fired.load(Ordering::SeqCst) {
                self.env
                    .remove_env_cleanup_hook(hook)
                    .map_err(Failure::Napi)?;
            }
        }
        Ok(())
    }
}

impl Drop for NativeInotify {
    fn drop(&mut self) {
        // Collected without close(): the engine's own Drop closes the session; the hook goes too.
        // A failure to remove it only leaves a no-op hook (its Closer is weak) until teardown.
        let _ = self.remove_cleanup_hook();
    }
}
