//! `writeSnapshot` and `getEventsSince` (`@parcel/watcher`'s): the engine's [`snapshot`] module run
//! on libuv's thread pool, its promise settled on the JS thread. Glue only: arguments in, events or
//! an error out.
//!
//! [`snapshot`]: inotify_engine::snapshot

use std::panic::AssertUnwindSafe;

use inotify_engine::ignore_parcel::ParcelRule;
use inotify_engine::ignore_rules::IgnoreRules;
use inotify_engine::snapshot::{
    events_since, write_snapshot, ChangeKind, SnapshotEvent, WalkOptions,
};
use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::{guard, panic_message, Failure, Outcome};

/// What a snapshot leaves out: `@parcel/watcher`'s `ignore`, as `subscribe()` takes it.
#[napi(object)]
pub struct SnapshotIgnore {
    /// Ignored paths (absolute): each leaves out itself and all below it.
    pub paths: Vec<String>,
    /// Expressions (ECMAScript sources), each matched whole, byte by byte, against the path
    /// relative to the directory.
    pub globs: Vec<String>,
}

/// A change since the snapshot, in `@parcel/watcher`'s shape.
#[napi(object)]
pub struct NativeSnapshotEvent {
    /// `'create'`, `'update'` or `'delete'`.
    #[napi(js_name = "type")]
    pub kind: String,
    /// The absolute path; a name that is not UTF-8 has U+FFFD for each invalid sequence.
    pub path: String,
}

impl From<SnapshotEvent> for NativeSnapshotEvent {
    fn from(event: SnapshotEvent) -> Self {
        let kind = match event.kind {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
        };
        NativeSnapshotEvent {
            kind: kind.to_string(),
            path: String::from_utf8_lossy(&event.path).into_owned(),
        }
    }
}

/// The ignore rules of `dir`, checked (a bad pattern is a `TypeError` before any work).
fn rules(dir: &[u8], ignore: &SnapshotIgnore) -> Outcome<Option<IgnoreRules>> {
    use inotify_engine::tree::IgnoreRule;
    if ignore.paths.is_empty() && ignore.globs.is_empty() {
        return Ok(None);
    }
    let paths = ignore.paths.iter().map(|p| p.as_bytes().to_vec()).collect();
    let parcel = ParcelRule::new(paths, &ignore.globs).map_err(Failure::InvalidArgument)?;
    let mut rules = IgnoreRules::new(Vec::new(), &[], false)
        .map_err(Failure::InvalidArgument)?
        .with_parcel(parcel);
    // With no ignore file to read, adding a root cannot fail.
    rules.add_root(dir)?;
    Ok(Some(rules))
}

/// Which of the two calls a task runs.
enum Call {
    Write,
    Since,
}

/// One call, run off the JS thread.
pub struct SnapshotTask {
    call: Call,
    dir: Vec<u8>,
    snapshot: Vec<u8>,
    ignore: Option<IgnoreRules>,
}

impl Task for SnapshotTask {
    type Output = Outcome<Vec<SnapshotEvent>>;
    type JsValue = Vec<NativeSnapshotEvent>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let options = WalkOptions {
            ignore: self.ignore.as_ref(),
            ..WalkOptions::default()
        };
        // A panic (a bug) rejects the promise; it never unwinds into libuv.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            crate::error::panic_if_asked_for_tests();
            match self.call {
                Call::Write => {
                    write_snapshot(&self.dir, &self.snapshot, options).map(|()| Vec::new())
                }
                Call::Since => events_since(&self.dir, &self.snapshot, options),
            }
        }));
        Ok(match outcome {
            Ok(result) => result.map_err(Failure::Engine),
            Err(payload) => Err(Failure::Panic(panic_message(payload.as_ref()))),
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        guard(env, || Ok(output?.into_iter().map(Into::into).collect()))
    }
}

fn task(
    env: Env,
    call: Call,
    dir: Buffer,
    snapshot: Buffer,
    ignore: SnapshotIgnore,
) -> napi::Result<AsyncTask<SnapshotTask>> {
    guard(env, || {
        let ignore = rules(&dir, &ignore)?;
        Ok(AsyncTask::new(SnapshotTask {
            call,
            dir: dir.to_vec(),
            snapshot: snapshot.to_vec(),
            ignore,
        }))
    })
}

/// Walks `dir` and writes what it holds to the file `snapshot` (written beside it and renamed over
/// it, so it is whole or untouched). Resolves with an empty array.
#[napi(
    js_name = "writeSnapshot",
    ts_return_type = "Promise<Array<NativeSnapshotEvent>>"
)]
pub fn write_snapshot_task(
    env: Env,
    dir: Buffer,
    snapshot: Buffer,
    ignore: SnapshotIgnore,
) -> napi::Result<AsyncTask<SnapshotTask>> {
    task(env, Call::Write, dir, snapshot, ignore)
}

/// What was created, updated and deleted under `dir` since `snapshot` was written, sorted by path.
#[napi(
    js_name = "getEventsSince",
    ts_return_type = "Promise<Array<NativeSnapshotEvent>>"
)]
pub fn events_since_task(
    env: Env,
    dir: Buffer,
    snapshot: Buffer,
    ignore: SnapshotIgnore,
) -> napi::Result<AsyncTask<SnapshotTask>> {
    task(env, Call::Since, dir, snapshot, ignore)
}
