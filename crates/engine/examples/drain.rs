//! The engine's own drain benchmark, for profiling the reader thread apart from JS (`perf record`,
//! `valgrind --tool=callgrind`): fills the kernel's queue of a fresh watcher with symbolic links
//! while its reader is not armed, then times arming it and taking every event (doorbell, take and
//! decode, as the binding does, without JS), next to a plain `read(2)` loop over the same kind of
//! backlog (the C reader's work) in the same run.
//!
//! ```text
//! cargo run --release -p inotify-engine --example drain [EVENTS] [ROUNDS]
//! ```
//!
//! `EVENTS` defaults to 95% of `max_queued_events`, `ROUNDS` to 5; it prints the median of each.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use inotify_engine::mask::IN_CREATE;
use inotify_engine::parse::parse_events;
use inotify_engine::sys::{InotifyFd, ReadOutcome};
use inotify_engine::{ChannelDoorbell, Session};

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn fill(dir: &Path, count: usize) -> Fallible<()> {
    for i in 0..count {
        symlink("target", dir.join(format!("f{i:06}")))?;
    }
    Ok(())
}

/// The engine: arm, then take on each ring until `count` events came. Returns the time and the
/// number of batches.
fn engine_round(count: usize) -> Fallible<(Duration, usize)> {
    let temp = tempfile::tempdir()?;
    let (sender, rings) = mpsc::channel();
    let watcher = Session::open(ChannelDoorbell(sender))?;
    watcher.add_watch(temp.path().as_os_str().as_encoded_bytes(), IN_CREATE)?;
    fill(temp.path(), count)?;
    let start = Instant::now();
    watcher.request(None)?;
    let (mut seen, mut batches) = (0, 0);
    while seen < count {
        rings.recv_timeout(Duration::from_secs(10))?;
        while let Some(batch) = watcher.take()? {
            let events = inotify_engine::wire::decode(&batch.bytes).ok_or("malformed batch")?;
            seen += events
                .iter()
                .filter(|e| e.name.first() == Some(&b'f'))
                .count();
            batches += 1;
        }
    }
    let elapsed = start.elapsed();
    watcher.close();
    Ok((elapsed, batches))
}

/// The physical limit: `read(2)` into 256 KiB until `count` events are read, and a walk over
/// the records (the engine's parser, which copies nothing), as the C reader of `bench/` does.
fn raw_round(count: usize) -> Fallible<Duration> {
    let temp = tempfile::tempdir()?;
    let inotify = InotifyFd::open()?;
    inotify.add_watch(temp.path().as_os_str().as_encoded_bytes(), IN_CREATE)?;
    fill(temp.path(), count)?;
    let mut buf = vec![0u8; 256 * 1024];
    let start = Instant::now();
    let mut seen = 0;
    while seen < count {
        let ReadOutcome::Bytes(n) = inotify.read(&mut buf)? else {
            return Err(
                format!("the kernel's queue ran dry after {seen} of {count} events").into(),
            );
        };
        seen += parse_events(buf.get(..n).unwrap_or_default())
            .filter(|event| event.name.first() == Some(&b'f'))
            .count();
    }
    Ok(start.elapsed())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> Fallible<()> {
    let args: Vec<String> = std::env::args().collect();
    let max_queued: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")?
        .trim()
        .parse()?;
    let count = match args.get(1) {
        Some(n) => n.parse()?,
        None => max_queued * 95 / 100,
    };
    let rounds: usize = match args.get(2) {
        Some(n) => n.parse::<usize>()?.max(1),
        None => 5,
    };
    let (mut engine, mut raw, mut batches) = (Vec::new(), Vec::new(), 0);
    for _ in 0..rounds {
        let (elapsed, b) = engine_round(count)?;
        engine.push(elapsed.as_secs_f64() * 1e3);
        batches = b;
        raw.push(raw_round(count)?.as_secs_f64() * 1e3);
    }
    let (engine, raw) = (median(engine), median(raw));
    println!(
        "{count} events, median of {rounds}: engine {engine:.2} ms ({:.0}k events/s, {batches} batches), read(2) {raw:.2} ms ({:.0}k events/s); engine/read {:.2}",
        count as f64 / engine,
        count as f64 / raw,
        engine / raw
    );
    Ok(())
}
