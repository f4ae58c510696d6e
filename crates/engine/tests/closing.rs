//! Closing against the real kernel: `close()` returns at once, and the reader thread lets the
//! session go, closes the descriptors when it was its instance's last, then rings `released`.
//!
//! One test, alone in this binary: it counts the process's inotify descriptors and watches in
//! `/proc/self`, which another test's instance would change.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use inotify_engine::mask::{IN_ALL_EVENTS, IN_CLOSE_WRITE};
use inotify_engine::sys::InotifyFd;
use inotify_engine::{Doorbell, Error, Mode, Placement, Ring, Session, TreeOptions, TreeReport};

/// `EBADF` on Linux.
const EBADF: i32 = 9;

/// How long the test waits for what the reader is expected to do promptly.
const PATIENCE: Duration = Duration::from_secs(10);

#[derive(Debug, PartialEq, Eq)]
enum Heard {
    Ring,
    Released,
}

/// A doorbell that tells the test each ring and the release, in order.
struct Recorder(Sender<Heard>);

impl Doorbell for Recorder {
    fn ring(&self, _reports: bool) -> Ring {
        match self.0.send(Heard::Ring) {
            Ok(()) => Ring::Rung,
            Err(_) => Ring::Closed,
        }
    }

    fn released(&self) {
        let _ = self.0.send(Heard::Released);
    }
}

/// The inotify descriptors of this process, each with its number of kernel watches.
fn inotify_fds() -> Vec<(i32, usize)> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc/self/fd").expect("list /proc/self/fd") {
        let Ok(entry) = entry else { continue };
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if fs::read_link(entry.path()).is_ok_and(|l| l.as_os_str() == "anon_inode:inotify") {
            let watches = fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).map_or(0, |info| {
                info.lines()
                    .filter(|l| l.starts_with("inotify wd:"))
                    .count()
            });
            found.push((fd, watches));
        }
    }
    found
}

/// Waits for the release, the last thing the doorbell hears; returns how many rings came before.
fn until_released(heard: &Receiver<Heard>) -> usize {
    let deadline = Instant::now() + PATIENCE;
    let mut rings = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match heard.recv_timeout(left) {
            Ok(Heard::Ring) => rings += 1,
            Ok(Heard::Released) => break,
            Err(e) => panic!("no release within {PATIENCE:?}: {e:?}"),
        }
    }
    // Nothing after it: the doorbell is gone.
    assert_eq!(
        heard.recv_timeout(Duration::from_millis(50)),
        Err(RecvTimeoutError::Disconnected)
    );
    rings
}

fn tree(heard: Sender<Heard>, placement: Placement) -> Session {
    let options = TreeOptions {
        mask: IN_ALL_EVENTS,
        follow_symlinks: false,
        recursive: true,
        ignore: None,
    };
    Session::open_in(Recorder(heard), Mode::Tree(options), placement).expect("open a tree")
}

fn ready(session: &Session, root: &Path) {
    session
        .add_root(root.as_os_str().as_bytes())
        .expect("add the root");
    let deadline = Instant::now() + PATIENCE;
    while !session
        .take_reports()
        .iter()
        .any(|r| matches!(r, TreeReport::RootReady { .. }))
    {
        assert!(Instant::now() < deadline, "no RootReady for {root:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_closed_session_is_released_by_the_reader_and_its_last_one_closes_the_descriptor() {
    let temp = tempfile::tempdir().expect("create a temp dir");
    let dir = temp.path().canonicalize().expect("canonicalize");
    for sub in ["one/a", "two/a"] {
        fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    a_closed_descriptor_is_never_used_again();
    assert_eq!(inotify_fds(), vec![]);

    // An instance of its own: a raw watch set that had events.
    let (sender, heard) = mpsc::channel();
    let raw = Session::open(Recorder(sender)).expect("open");
    raw.add_watch(dir.as_os_str().as_bytes(), IN_ALL_EVENTS)
        .expect("watch");
    raw.request(None).expect("arm");
    fs::write(dir.join("f"), b"x").expect("write");
    let deadline = Instant::now() + PATIENCE;
    let mut masks = Vec::new();
    while !masks.iter().any(|m| m & IN_CLOSE_WRITE != 0) {
        assert!(Instant::now() < deadline, "no IN_CLOSE_WRITE: {masks:?}");
        if let Some(batch) = raw
            .take_blocking(Some(Duration::from_millis(100)))
            .expect("take")
        {
            masks.extend(
                inotify_engine::wire::decode(&batch.bytes)
                    .unwrap_or_default()
                    .iter()
                    .map(|e| e.mask),
            );
        }
    }
    let fd = raw.raw_fd();
    assert_eq!(inotify_fds(), vec![(fd, 1)]);
    raw.close();
    assert!(raw.is_closed());
    assert_eq!(raw.add_watch(b"/", IN_ALL_EVENTS), Err(Error::Closed));
    until_released(&heard);
    // The ring comes first (the doorbell is dropped before anyone waiting hears), the flag right
    // after it.
    assert!(raw.wait_released(Some(PATIENCE)));
    assert_eq!(inotify_fds(), vec![]);
    drop(raw);

    // Two trees on the shared instance: the first to close lets its own watches go, the last
    // closes the descriptor.
    let (sender_one, heard_one) = mpsc::channel();
    let (sender_two, heard_two) = mpsc::channel();
    let one = tree(sender_one, Placement::Shared);
    let two = tree(sender_two, Placement::Shared);
    ready(&one, &dir.join("one"));
    ready(&two, &dir.join("two"));
    let fd = one.raw_fd();
    assert_eq!(two.raw_fd(), fd);
    assert_eq!(inotify_fds(), vec![(fd, 4)]);
    one.close();
    assert!(one.wait_released(Some(PATIENCE)));
    until_released(&heard_one);
    assert_eq!(inotify_fds(), vec![(fd, 2)]);
    assert_eq!(two.watch_count(), 2);
    assert!(!two.is_released());
    two.close();
    assert!(two.wait_released(Some(PATIENCE)));
    until_released(&heard_two);
    assert_eq!(inotify_fds(), vec![]);
}

/// An `InotifyFd` closed is never used again: a call finds it closed and makes no syscall, whatever
/// file took its number since.
fn a_closed_descriptor_is_never_used_again() {
    let inotify = InotifyFd::open().expect("inotify_init1");
    inotify.close();
    inotify.close();
    assert_eq!(inotify.raw_fd(), -1);
    let _taker = fs::File::open("/").expect("open /");
    assert!(matches!(
        inotify.add_watch(b"/", IN_ALL_EVENTS),
        Err(Error::Sys { errno, syscall: "inotify_add_watch", .. }) if errno == EBADF
    ));
    assert!(inotify.rm_watch(1).is_err());
    assert!(inotify.read(&mut [0u8; 64]).is_err());
}
