//! Recursive trees against the real kernel, in the cases a hostile or unlucky user makes: ignore
//! files that are not regular files, directories moved out of the tree and straight back in, file
//! systems unmounted inside the tree.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use inotify_engine::ignore_rules::GitignoreRule;
use inotify_engine::mask::*;
use inotify_engine::tree::IgnoreRule;
use inotify_engine::wire::{decode, DecodedEvent};
use inotify_engine::{ChannelDoorbell, Mode, Session, TreeOptions, TreeReport};

/// How long a test waits for what it expects before it fails; a passing test never waits this long.
const PATIENCE: Duration = Duration::from_secs(10);

fn bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

/// A tree watcher (every event reported) with its doorbell's receiver, armed.
fn tree_session(ignore: Option<Box<dyn IgnoreRule>>) -> (Session, Receiver<()>) {
    let (sender, rings) = mpsc::channel();
    let options = TreeOptions {
        mask: IN_ALL_EVENTS,
        follow_symlinks: false,
        recursive: true,
        ignore,
    };
    let watcher =
        Session::open_with(ChannelDoorbell(sender), Mode::Tree(options)).expect("open a tree");
    assert_eq!(watcher.request(None), Ok(true));
    (watcher, rings)
}

/// Adds `root` and waits for its first scan to end; returns every report up to its `RootReady`.
fn add_root(watcher: &Session, root: &Path) -> Vec<TreeReport> {
    watcher.add_root(bytes(root)).expect("add the root");
    let deadline = Instant::now() + PATIENCE;
    let mut reports = Vec::new();
    loop {
        reports.extend(watcher.take_reports());
        if reports.iter().any(|r| {
            matches!(
                r,
                TreeReport::RootReady { .. } | TreeReport::RootFailed { .. }
            )
        }) {
            return reports;
        }
        assert!(
            Instant::now() < deadline,
            "no RootReady for {root:?}; reports so far: {reports:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A reported event as (mask, full path, synthetic).
type Seen = (u32, PathBuf, bool);

fn seen(event: &DecodedEvent) -> Seen {
    let mut path = PathBuf::from(OsStr::from_bytes(event.path.as_deref().unwrap_or_default()));
    if !event.name.is_empty() {
        path.push(OsStr::from_bytes(&event.name));
    }
    (
        event.mask,
        path,
        event.flags & inotify_engine::wire::FLAG_SYNTHETIC != 0,
    )
}

/// Takes batches until an event at `last` is reported (a marker made after what the test looks
/// for: events of one instance arrive in the order they happened), or panics at the deadline.
fn collect_until(watcher: &Session, last: &Path) -> Vec<Seen> {
    let deadline = Instant::now() + PATIENCE;
    let mut events: Vec<Seen> = Vec::new();
    while !events.iter().any(|(_, path, _)| path == last) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting for {last:?}; the events so far: {events:#?}"
        );
        if let Some(batch) = watcher.take_blocking(Some(left)).expect("take a batch") {
            let decoded = decode(&batch.bytes).expect("a well-formed batch");
            events.extend(decoded.iter().map(seen));
        }
    }
    events
}

/// Two sibling temp dirs on one file system (a rename between them is a move, not a copy): the
/// tree's root and somewhere outside it.
fn root_and_outside() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let temp = tempfile::tempdir().expect("temp dir");
    let base = temp.path().canonicalize().expect("canonical temp dir");
    let (root, outside) = (base.join("t"), base.join("elsewhere"));
    std::fs::create_dir(&root).expect("mkdir t");
    std::fs::create_dir(&outside).expect("mkdir elsewhere");
    (temp, root, outside)
}

#[test]
fn a_directory_moved_out_and_straight_back_in_is_watched_where_it_landed() {
    let (_temp, t, elsewhere) = root_and_outside();
    // Back into another parent, into the same parent, into a deeper directory, and out and back twice.
    let landings = ["C/m0", "A/m1", "C/deeper/m2", "C/m3"];
    for dir in ["A", "C", "C/deeper"] {
        std::fs::create_dir(t.join(dir)).expect("mkdir");
    }
    for i in 0..landings.len() {
        std::fs::create_dir_all(t.join(format!("A/m{i}/inner"))).expect("mkdir -p");
    }
    let (watcher, _rings) = tree_session(None);
    add_root(&watcher, &t);
    // Nothing is read until all is done: a loaded machine could otherwise let the reader settle
    // between a move out and its move back (after the 10 ms it waits for a rename's other half),
    // and a move out that settles is a directory gone, its watches with it.
    watcher.pause();
    for (i, landing) in landings.iter().enumerate() {
        let away = elsewhere.join(format!("m{i}"));
        std::fs::rename(t.join(format!("A/m{i}")), &away).expect("move out");
        if i == 3 {
            std::fs::rename(&away, t.join(format!("A/m{i}"))).expect("move back");
            std::fs::rename(t.join(format!("A/m{i}")), &away).expect("move out again");
        }
        std::fs::rename(&away, t.join(landing)).expect("move back in");
    }
    for landing in &landings {
        std::fs::write(t.join(landing).join("inner/written"), b"x").expect("write");
    }
    let marker = t.join("marker");
    std::fs::write(&marker, b"").expect("marker");
    let events = collect_until(&watcher, &marker);
    for landing in &landings {
        let written = t.join(landing).join("inner/written");
        assert!(
            events
                .iter()
                .any(|(mask, path, _)| *mask == IN_CLOSE_WRITE && *path == written),
            "the write in {landing}/inner is reported at its new path; events: {events:#?}"
        );
        assert_eq!(
            watcher.path_of(
                watcher
                    .wd_of(bytes(&t.join(landing).join("inner")))
                    .unwrap_or(-1)
            ),
            Some(bytes(&t.join(landing).join("inner")).to_vec()),
            "{landing}/inner is watched"
        );
    }
    watcher.close();
}

#[test]
fn a_gitignore_that_is_a_fifo_is_refused_at_once_and_the_tree_goes_on_without_it() {
    let (_temp, t, _elsewhere) = root_and_outside();
    nix::unistd::mkfifo(&t.join(".gitignore"), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let rule = GitignoreRule::new(vec!["*.tmp".into()])
        .expect("valid")
        .reading_gitignore(true);
    let (watcher, _rings) = tree_session(Some(Box::new(rule)));
    let reports = add_root(&watcher, &t);
    assert!(
        matches!(
            reports.as_slice(),
            [TreeReport::IgnoreFileRefused { path, error }, TreeReport::RootReady { .. }]
                if path == bytes(&t) && error.to_string().contains("is a FIFO")
        ),
        "{reports:?}"
    );
    std::fs::write(t.join("skipped.tmp"), b"x").expect("write");
    std::fs::write(t.join("kept"), b"x").expect("write");
    let marker = t.join("marker");
    std::fs::write(&marker, b"").expect("marker");
    let events = collect_until(&watcher, &marker);
    assert!(events.iter().any(|(_, path, _)| *path == t.join("kept")));
    assert!(
        !events
            .iter()
            .any(|(_, path, _)| *path == t.join("skipped.tmp")),
        "the user's patterns still apply"
    );
    watcher.close();
}
