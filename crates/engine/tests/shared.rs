//! Sessions of one shared instance against the real kernel: a session that stops taking while
//! another reads is not allowed to hold the other up, and is told what it missed.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use inotify_engine::mask::*;
use inotify_engine::wire::{decode, DecodedEvent, FLAG_SYNTHETIC};
use inotify_engine::{ChannelDoorbell, Mode, Placement, Session, TreeOptions, TreeReport};

/// How long a test waits for what it expects before it fails; a passing test never waits this long.
const PATIENCE: Duration = Duration::from_secs(10);

fn tree_session(mask: u32) -> Session {
    let (sender, rings) = mpsc::channel();
    // The rings are not waited on here: takes poll with deadlines. The receiver must live on.
    std::mem::forget(rings);
    let options = TreeOptions {
        mask,
        follow_symlinks: false,
        recursive: true,
        ignore: None,
    };
    Session::open_in(
        ChannelDoorbell(sender),
        Mode::Tree(options),
        Placement::Shared,
    )
    .expect("open a tree session")
}

fn ready(session: &Session, root: &Path) {
    session
        .add_root(root.as_os_str().as_bytes())
        .expect("add the root");
    let deadline = Instant::now() + PATIENCE;
    loop {
        if session
            .take_reports()
            .iter()
            .any(|r| matches!(r, TreeReport::RootReady { .. }))
        {
            return;
        }
        assert!(Instant::now() < deadline, "no RootReady for {root:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Takes batches until `done`, or panics at the deadline.
fn take_until(session: &Session, done: impl Fn(&[DecodedEvent]) -> bool) -> Vec<DecodedEvent> {
    let deadline = Instant::now() + PATIENCE;
    let mut events = Vec::new();
    while !done(&events) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out; {} events so far, the last: {:?}",
            events.len(),
            events.last()
        );
        if let Some(batch) = session.take_blocking(Some(left)).expect("take") {
            events.extend(decode(&batch.bytes).expect("a well-formed batch"));
        }
    }
    events
}

fn created(events: &[DecodedEvent], name: &str) -> bool {
    events
        .iter()
        .any(|e| e.mask & IN_CREATE != 0 && e.name == name.as_bytes())
}

#[test]
fn a_session_full_while_another_reads_misses_events_and_gets_an_overflow_then_a_rescan() {
    let temp = tempfile::tempdir().expect("a temp dir");
    let root = fs::canonicalize(temp.path()).expect("canonical");
    let stalled = tree_session(IN_CREATE);
    let reading = tree_session(IN_CREATE);
    ready(&stalled, &root);
    ready(&reading, &root);
    assert_eq!(stalled.raw_fd(), reading.raw_fd(), "one shared instance");
    assert!(stalled.shared());
    // Room for about one batch: the stalled session fills at once, and takes nothing.
    stalled.set_max_queued_bytes(64);
    assert_eq!(stalled.request(None), Ok(true));

    let files = 300;
    for i in 0..files {
        fs::write(root.join(format!("f{i}")), b"").expect("write");
    }
    // The reading session is not held up: it sees every file as the kernel says.
    let last = format!("f{}", files - 1);
    let seen = take_until(&reading, |events| created(events, &last));
    assert_eq!(
        seen.iter()
            .filter(|e| e.mask & IN_CREATE != 0 && e.flags & FLAG_SYNTHETIC == 0)
            .count(),
        files
    );

    // The stalled one, taking at last: what fit, then an overflow of its own, then a re-scan that
    // finds every file it missed.
    let events = take_until(&stalled, |events| {
        events.iter().any(|e| e.mask & IN_Q_OVERFLOW != 0) && created(events, &last)
    });
    let overflow = events
        .iter()
        .position(|e| e.mask & IN_Q_OVERFLOW != 0)
        .expect("an overflow");
    assert_eq!(events[overflow].wd, -1);
    let mut names: Vec<&[u8]> = events
        .iter()
        .filter(|e| e.mask & IN_CREATE != 0)
        .map(|e| e.name.as_slice())
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), files, "every file, by event or by the re-scan");
    assert!(
        events[overflow + 1..]
            .iter()
            .any(|e| e.flags & FLAG_SYNTHETIC != 0),
        "the re-scan reports what it found"
    );
    stalled.close();
    reading.close();
}
