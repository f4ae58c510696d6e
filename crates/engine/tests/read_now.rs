//! `Session::read_now` against the real kernel: "what is there now", read at once whether the
//! reader is armed or not, answered by exactly one batch marked as the answer. Each test holds one
//! inotify instance on its own temp dir and closes it (inotify limits are per user and shared).

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use inotify_engine::mask::*;
use inotify_engine::wire::decode;
use inotify_engine::{ChannelDoorbell, EncodedBatch, Error, Mode, Session, TreeOptions};

/// How long a test waits for what the engine is expected to do promptly (never reached when it works).
const PATIENCE: Duration = Duration::from_secs(10);
/// A bounded window in which nothing is to happen.
const QUIET: Duration = Duration::from_millis(200);

struct Fixture {
    watcher: Session,
    rings: Receiver<()>,
    dir: PathBuf,
    _temp: tempfile::TempDir,
}

fn fixture(mode: Mode) -> Fixture {
    let temp = tempfile::tempdir().expect("create a temp dir");
    let dir = temp
        .path()
        .canonicalize()
        .expect("canonicalize the temp dir");
    let (sender, rings) = mpsc::channel();
    let watcher = Session::open_with(ChannelDoorbell(sender), mode).expect("open an instance");
    Fixture {
        watcher,
        rings,
        dir,
        _temp: temp,
    }
}

fn watched(mask: u32) -> Fixture {
    let fx = fixture(Mode::Plain);
    fx.watcher
        .add_watch(fx.dir.as_os_str().as_bytes(), mask)
        .expect("watch the temp dir");
    fx
}

fn touch(dir: &Path, name: &str) {
    File::create(dir.join(name)).expect("create a file");
}

/// Takes batches until `answers` answers were taken; returns every batch taken, in order.
fn take_answers(watcher: &Session, answers: u64) -> Vec<EncodedBatch> {
    let deadline = Instant::now() + PATIENCE;
    let mut taken = Vec::new();
    let mut seen = 0;
    while seen < answers {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no answer in time; {} batches taken",
            taken.len()
        );
        if let Some(batch) = watcher.take_blocking(Some(left)).expect("take a batch") {
            seen += u64::from(batch.answer());
            taken.push(batch);
        }
    }
    taken
}

fn names(batches: &[EncodedBatch]) -> Vec<Vec<u8>> {
    batches
        .iter()
        .flat_map(|batch| decode(&batch.bytes).expect("well-formed"))
        .map(|event| event.name)
        .collect()
}

#[test]
fn a_disarmed_reader_answers_with_what_is_queued_and_reads_nothing_after_it() {
    let fx = watched(IN_CREATE);
    touch(&fx.dir, "a");
    touch(&fx.dir, "b");
    let target = fx.watcher.read_now().expect("read now");
    assert_eq!(target, 1, "the first answer");
    let batches = take_answers(&fx.watcher, target);
    assert_eq!(names(&batches), [b"a".to_vec(), b"b".to_vec()]);
    let last = batches.last().expect("an answer");
    assert!(last.answer() && last.settled());
    // The answer rang once, maybe only after the take returned it (the reader rings after it lets
    // go of the queue): wait for that ring, so that it is not taken for one of what comes next.
    fx.rings
        .recv_timeout(Duration::from_secs(10))
        .expect("the answer's ring");
    while fx.rings.try_recv().is_ok() {}
    // The reader was never armed: what comes next waits in the kernel, unread and unrung.
    touch(&fx.dir, "later");
    assert_eq!(fx.rings.recv_timeout(QUIET), Err(RecvTimeoutError::Timeout));
    assert_eq!(fx.watcher.take().expect("take"), None);
    let target = fx.watcher.read_now().expect("read now");
    assert_eq!(target, 2);
    assert_eq!(names(&take_answers(&fx.watcher, 1)), [b"later".to_vec()]);
    fx.watcher.close();
}

#[test]
fn with_nothing_queued_the_answer_is_one_empty_settled_batch() {
    let fx = watched(IN_CREATE);
    let target = fx.watcher.read_now().expect("read now");
    let batches = take_answers(&fx.watcher, target);
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].events, 0);
    assert!(batches[0].answer() && batches[0].settled());
    fx.watcher.close();
}

#[test]
fn an_armed_reader_waiting_for_events_answers_at_once_without_a_tick() {
    let fx = watched(IN_CREATE);
    fx.watcher.request(None).expect("arm without ticks");
    let target = fx.watcher.read_now().expect("read now");
    let batches = take_answers(&fx.watcher, target);
    assert_eq!(batches.len(), 1, "the answer alone: {batches:?}");
    assert!(batches[0].answer());
    fx.watcher.close();
}

#[test]
fn what_takes_several_reads_comes_in_parts_the_last_of_them_the_answer() {
    let fx = watched(IN_CREATE);
    // Names of 200 bytes: each event takes 224 bytes, 1,000 of them more than one 128 KiB read.
    let made: Vec<Vec<u8>> = (0..1000)
        .map(|i| format!("{i:0>200}").into_bytes())
        .collect();
    for name in &made {
        touch(&fx.dir, std::str::from_utf8(name).expect("ASCII"));
    }
    let target = fx.watcher.read_now().expect("read now");
    let batches = take_answers(&fx.watcher, target);
    assert!(batches.len() >= 2, "one read cannot hold them all");
    assert_eq!(names(&batches), made);
    let (last, parts) = batches.split_last().expect("an answer");
    assert!(last.answer() && last.settled());
    assert!(parts.iter().all(|b| !b.answer() && !b.settled()));
    fx.watcher.close();
}

#[test]
fn a_request_made_while_another_is_served_gets_its_own_later_answer() {
    let fx = watched(IN_CREATE);
    touch(&fx.dir, "first");
    let first = fx.watcher.read_now().expect("read now");
    touch(&fx.dir, "second");
    let second = fx.watcher.read_now().expect("read now");
    assert!(second >= first && second <= first + 1);
    let batches = take_answers(&fx.watcher, second);
    assert_eq!(names(&batches), [b"first".to_vec(), b"second".to_vec()]);
    fx.watcher.close();
}

#[test]
fn read_now_is_refused_in_changes_mode_and_once_closed() {
    let fx = fixture(Mode::Changes(TreeOptions {
        mask: IN_ALL_EVENTS,
        follow_symlinks: false,
        recursive: true,
        ignore: None,
    }));
    assert!(matches!(fx.watcher.read_now(), Err(Error::WrongMode)));
    fx.watcher.close();
    let fx = watched(IN_CREATE);
    fx.watcher.close();
    assert!(matches!(fx.watcher.read_now(), Err(Error::Closed)));
}
