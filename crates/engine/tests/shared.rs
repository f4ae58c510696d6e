//! Sessions of one shared instance against the real kernel: a session that stops taking while
//! another reads is not allowed to hold the other up, and is told what it missed; a session told
//! of an event finds it in every other session that shares its watch.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use inotify_engine::changes_wire;
use inotify_engine::mask::*;
use inotify_engine::wire::{decode, DecodedEvent, FLAG_SYNTHETIC};
use inotify_engine::{
    ChannelDoorbell, Doorbell, Mode, Placement, Ring, Session, TreeOptions, TreeReport,
};

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

/// The kernel's mask of the watch on the directory with inode `ino`, from the instance's fdinfo.
fn kernel_mask_of(session: &Session, ino: u64) -> Option<u32> {
    let info = fs::read_to_string(format!("/proc/self/fdinfo/{}", session.raw_fd()))
        .expect("read the instance's fdinfo");
    let wanted = format!("ino:{ino:x} ");
    info.lines()
        .filter(|l| l.starts_with("inotify wd:") && l.contains(&wanted))
        .find_map(|l| {
            let hex = l.split(" mask:").nth(1)?.split(' ').next()?;
            u32::from_str_radix(hex, 16).ok()
        })
}

#[test]
fn a_session_leaving_narrows_the_shared_watch_to_what_the_others_need() {
    use std::os::unix::fs::MetadataExt;
    let temp = tempfile::tempdir().expect("a temp dir");
    let root = temp.path().join("shared");
    fs::create_dir(&root).expect("mkdir");
    let ino = fs::metadata(&root).expect("stat").ino();

    let narrow = tree_session(IN_CREATE);
    ready(&narrow, &root);
    let before = kernel_mask_of(&narrow, ino).expect("the root is watched");
    assert_eq!(
        before & IN_ACCESS,
        0,
        "a create-only tree does not ask for reads"
    );

    let wide = tree_session(IN_ALL_EVENTS);
    ready(&wide, &root);
    let widened = kernel_mask_of(&narrow, ino).expect("still one watch");
    assert_eq!(
        widened & IN_ALL_EVENTS,
        IN_ALL_EVENTS,
        "the union of both trees' masks"
    );

    wide.close();
    assert!(wide.wait_released(Some(PATIENCE)), "released");

    // The narrowing follows the release on the reader thread: wait for it with a deadline.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = kernel_mask_of(&narrow, ino).expect("the remaining tree keeps its watch");
        if now == before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "mask {now:#x} never narrowed back to {before:#x}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }

    // And the remaining tree still gets its own events under its own path.
    fs::write(root.join("after"), b"x").expect("write");
    let events = take_until(&narrow, |events| created(events, "after"));
    assert!(events
        .iter()
        .all(|e| e.mask & (IN_ACCESS | IN_MODIFY | IN_OPEN) == 0));
    narrow.close();
}

/// A change session's doorbell that, on its first ring once `other` is set, takes what the other
/// session holds and tells the test whether `path` is in it.
struct Witness {
    name: &'static str,
    other: Arc<OnceLock<Session>>,
    path: Vec<u8>,
    looked: AtomicBool,
    heard: mpsc::Sender<(&'static str, bool)>,
}

impl Doorbell for Witness {
    fn ring(&self, _reports: bool) -> Ring {
        let Some(other) = self.other.get() else {
            return Ring::Rung;
        };
        if !self.looked.swap(true, Ordering::SeqCst) {
            let held = other
                .take_changes(1024)
                .expect("take the other's changes")
                .and_then(|bytes| changes_wire::decode(&bytes))
                .unwrap_or_default();
            let _ = self
                .heard
                .send((self.name, held.iter().any(|c| c.path == self.path)));
        }
        Ring::Rung
    }
}

#[test]
fn a_session_rung_for_an_event_finds_it_held_by_every_other_session_sharing_the_watch() {
    let temp = tempfile::tempdir().expect("a temp dir");
    let root = fs::canonicalize(temp.path()).expect("canonical");
    let path = root.join("f").as_os_str().as_bytes().to_vec();
    let (heard, hearing) = mpsc::channel();
    let (first_slot, second_slot) = (Arc::new(OnceLock::new()), Arc::new(OnceLock::new()));
    let open = |name, other: &Arc<OnceLock<Session>>| {
        let doorbell = Witness {
            name,
            other: Arc::clone(other),
            path: path.clone(),
            looked: AtomicBool::new(false),
            heard: heard.clone(),
        };
        let mode = Mode::Changes(TreeOptions {
            mask: IN_ALL_EVENTS,
            follow_symlinks: false,
            recursive: true,
            ignore: None,
        });
        let session =
            Session::open_in(doorbell, mode, Placement::Shared).expect("open a change session");
        ready(&session, &root);
        assert_eq!(session.request(None), Ok(true));
        session
    };
    // Each looks at the other when rung: whichever the reader rings first, the other must hold
    // the event by then.
    let first = open("first", &second_slot);
    let second = open("second", &first_slot);
    assert_eq!(first.raw_fd(), second.raw_fd(), "one shared instance");
    assert!(first_slot.set(first).is_ok());
    assert!(second_slot.set(second).is_ok());

    fs::write(root.join("f"), b"x").expect("write");
    let mut looks: Vec<_> = (0..2)
        .map(|_| hearing.recv_timeout(PATIENCE).expect("both sessions rung"))
        .collect();
    looks.sort_unstable();
    assert_eq!(looks, [("first", true), ("second", true)]);

    for slot in [&first_slot, &second_slot] {
        let session = slot.get().expect("opened");
        session.close();
        assert!(session.wait_released(Some(PATIENCE)), "released");
    }
}
