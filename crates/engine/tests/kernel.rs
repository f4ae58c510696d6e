//! The engine against the real kernel: each test opens its own inotify instance on its own temp dir,
//! waits with deadlines (never a bare sleep) and closes the watcher before it ends.
//!
//! inotify limits are per user and shared by every process on the machine (`max_user_instances` is
//! 128 by default), so each test holds exactly one instance and closes it (a failing test's
//! watcher is closed by its `Drop` while the panic unwinds).

use std::ffi::OsStr;
use std::fs::{self, File, FileTimes};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant, SystemTime};

use inotify_engine::mask::*;
use inotify_engine::wire::{decode, DecodedEvent};
use inotify_engine::{ChannelDoorbell, EncodedBatch, Error, Session};

/// How long a test waits for something the kernel is expected to do promptly. Generous, so that a
/// loaded machine does not make a test fail; a passing test never waits this long.
const PATIENCE: Duration = Duration::from_secs(10);

/// A watcher, the receiving end of its doorbell and a fresh canonical temp dir. Bind every field
/// when destructuring (`_temp`, not `..`): an unbound `TempDir` is deleted at once.
struct Fixture {
    watcher: Session,
    rings: Receiver<()>,
    dir: PathBuf,
    _temp: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let temp = tempfile::tempdir().expect("create a temp dir");
    let dir = temp
        .path()
        .canonicalize()
        .expect("canonicalize the temp dir");
    let (sender, rings) = mpsc::channel();
    let watcher = Session::open(ChannelDoorbell(sender)).expect("open an inotify instance");
    Fixture {
        watcher,
        rings,
        dir,
        _temp: temp,
    }
}

fn bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

fn decoded(batch: &EncodedBatch) -> Vec<DecodedEvent> {
    let events = decode(&batch.bytes).expect("the engine encodes well-formed batches");
    assert_eq!(
        events.len(),
        batch.events as usize,
        "the count matches the events encoded"
    );
    events
}

/// Takes batches until `done` says the events so far are enough, or panics at the deadline.
fn collect_until(watcher: &Session, done: impl Fn(&[DecodedEvent]) -> bool) -> Vec<DecodedEvent> {
    let deadline = Instant::now() + PATIENCE;
    let mut events = Vec::new();
    while !done(&events) {
        let left = deadline.saturating_duration_since(Instant::now());
        let last = &events[events.len().saturating_sub(8)..];
        assert!(
            !left.is_zero(),
            "timed out waiting; {} events so far, the last: {last:#?}",
            events.len()
        );
        if let Some(batch) = watcher.take_blocking(Some(left)).expect("take a batch") {
            events.extend(decoded(&batch));
        }
    }
    events
}

/// Events whose mask has every bit of `mask`.
fn with_mask(events: &[DecodedEvent], mask: u32) -> Vec<&DecodedEvent> {
    events.iter().filter(|e| e.mask & mask == mask).collect()
}

fn has_name(events: &[DecodedEvent], mask: u32, name: &[u8]) -> bool {
    events.iter().any(|e| e.mask == mask && e.name == name)
}

#[test]
fn reports_create_attrib_close_delete_and_directory_events_in_order_with_name_and_path() {
    let Fixture {
        watcher,
        dir,
        rings: _rings,
        _temp,
    } = fixture();
    let wd = watcher
        .add_watch(bytes(&dir), IN_ALL_EVENTS)
        .expect("watch the dir");

    let file = File::create(dir.join("f")).expect("create f");
    // Both times, as touch(1) sets them: the kernel reports a change of mtime alone as IN_MODIFY.
    let times = FileTimes::new()
        .set_accessed(SystemTime::UNIX_EPOCH)
        .set_modified(SystemTime::UNIX_EPOCH);
    file.set_times(times).expect("utimes f");
    drop(file);
    fs::remove_file(dir.join("f")).expect("rm f");
    fs::create_dir(dir.join("d")).expect("mkdir d");
    fs::remove_dir(dir.join("d")).expect("rmdir d");

    let events = collect_until(&watcher, |events| {
        has_name(events, IN_DELETE | IN_ISDIR, b"d")
    });
    // Events with no name are about the watched dir itself: another process listing the temp dir
    // would add IN_OPEN|IN_ISDIR and the like. Ours all name an entry.
    let seen: Vec<(u32, &[u8])> = events
        .iter()
        .filter(|e| !e.name.is_empty())
        .map(|e| (e.mask, e.name.as_slice()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (IN_CREATE, &b"f"[..]),
            (IN_OPEN, b"f"),
            (IN_ATTRIB, b"f"),
            (IN_CLOSE_WRITE, b"f"),
            (IN_DELETE, b"f"),
            (IN_CREATE | IN_ISDIR, b"d"),
            (IN_DELETE | IN_ISDIR, b"d"),
        ],
        "the kernel's events for touch f; rm f; mkdir d; rmdir d"
    );
    for event in &events {
        assert_eq!(event.wd, wd);
        assert_eq!(
            event.path.as_deref(),
            Some(bytes(&dir)),
            "each event carries the watched path"
        );
        assert_eq!(event.cookie, 0);
        assert_eq!(event.flags, 0, "read from the kernel, not synthetic");
        assert!(
            event.len as usize > event.name.len(),
            "len counts the NUL padding"
        );
    }
    watcher.close();
}

#[test]
fn an_armed_reader_ticks_when_idle_stays_armed_and_stops_reading_once_paused() {
    let Fixture {
        watcher,
        dir,
        rings,
        _temp,
    } = fixture();
    watcher
        .add_watch(bytes(&dir), IN_CREATE | IN_DELETE)
        .expect("watch the dir");

    assert_eq!(watcher.request(Some(Duration::from_millis(100))), Ok(true));
    assert_eq!(
        watcher.request(Some(Duration::from_millis(100))),
        Ok(false),
        "armed already: requests do not stack"
    );
    rings
        .recv_timeout(PATIENCE)
        .expect("the doorbell rings for the tick");
    let tick = watcher
        .take()
        .expect("take")
        .expect("a batch is queued after the ring");
    assert_eq!(tick.events, 0);
    assert_eq!(decoded(&tick), vec![]);
    assert_eq!(watcher.take(), Ok(None), "one tick per idle wait");
    assert_eq!(
        watcher.request(Some(Duration::from_millis(100))),
        Ok(false),
        "still armed after a delivery: the reader re-arms itself"
    );

    watcher.pause();
    // Whatever the wait in progress delivers (one more tick at most), then nothing while paused.
    let _ = rings.recv_timeout(Duration::from_millis(300));
    let _ = watcher.take();
    std::fs::write(dir.join("while-paused"), b"").expect("create a file");
    assert!(
        rings.recv_timeout(Duration::from_millis(300)).is_err(),
        "a paused reader reads nothing"
    );
    assert_eq!(watcher.take(), Ok(None));

    assert_eq!(
        watcher.request(Some(Duration::from_millis(1))),
        Ok(true),
        "paused, so armed anew"
    );
    rings
        .recv_timeout(PATIENCE)
        .expect("the doorbell rings for what waited in the kernel");
    let batch = watcher.take().expect("take").expect("a batch");
    let names: Vec<Vec<u8>> = decoded(&batch).into_iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        vec![b"while-paused".to_vec()],
        "nothing was lost while paused"
    );
    watcher.close();
}

#[test]
fn close_while_the_reader_waits_without_a_timeout_returns_promptly_and_the_reader_releases_it() {
    let Fixture {
        watcher,
        dir,
        rings,
        _temp,
    } = fixture();
    watcher
        .add_watch(bytes(&dir), IN_CREATE | IN_DELETE)
        .expect("watch the dir");
    assert_eq!(watcher.request(None), Ok(true));
    // Nothing happens, so nothing rings; the bounded wait also lets the reader reach epoll_wait.
    assert_eq!(
        rings.recv_timeout(Duration::from_millis(100)),
        Err(RecvTimeoutError::Timeout),
        "a request without a timeout does not tick"
    );

    let started = Instant::now();
    watcher.close();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "close took {took:?}");
    // The reader drops the doorbell when it releases the session.
    assert!(watcher.wait_released(Some(PATIENCE)), "released");
    assert_eq!(
        rings.try_recv(),
        Err(TryRecvError::Disconnected),
        "the reader thread is gone"
    );

    assert!(watcher.is_closed());
    assert_eq!(
        watcher.add_watch(bytes(&dir), IN_CREATE),
        Err(Error::Closed)
    );
    assert_eq!(watcher.request(None), Err(Error::Closed));
    assert_eq!(watcher.take(), Err(Error::Closed));
    assert_eq!(
        watcher.take_blocking(Some(Duration::from_millis(10))),
        Err(Error::Closed)
    );
    watcher.close();
    assert!(watcher.is_closed(), "closing twice is fine");
}

#[test]
fn remove_watch_stops_events_for_that_wd_and_rejects_unknown_wds() {
    let Fixture {
        watcher,
        dir,
        rings: _rings,
        _temp,
    } = fixture();
    let wd = watcher
        .add_watch(bytes(&dir), IN_CREATE)
        .expect("watch the dir");
    File::create(dir.join("before")).expect("create before");
    collect_until(&watcher, |events| has_name(events, IN_CREATE, b"before"));

    watcher.remove_watch(wd, false).expect("remove the watch");
    assert_eq!(watcher.watch_count(), 0);
    assert_eq!(watcher.path_of(wd), None);
    File::create(dir.join("after")).expect("create after");

    // The kernel's IN_IGNORED for the removed wd and anything else of it must not come through.
    let window_end = Instant::now() + Duration::from_millis(300);
    loop {
        let left = window_end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        if let Some(batch) = watcher.take_blocking(Some(left)).expect("take") {
            assert_eq!(decoded(&batch), vec![], "no event after remove_watch");
        }
    }

    assert_eq!(
        watcher.remove_watch(wd, false),
        Err(Error::NotWatched { wd })
    );
    assert_eq!(
        watcher.remove_watch(9999, false),
        Err(Error::NotWatched { wd: 9999 })
    );
    assert_eq!(
        watcher.remove_watch(-1, true),
        Err(Error::NotWatched { wd: -1 })
    );
    watcher.close();
}

#[test]
fn deleting_a_watched_directory_yields_delete_self_then_ignored_and_forgets_the_watch() {
    let Fixture {
        watcher,
        dir,
        rings: _rings,
        _temp,
    } = fixture();
    let sub = dir.join("sub");
    fs::create_dir(&sub).expect("mkdir sub");
    let wd = watcher
        .add_watch(bytes(&sub), IN_ALL_EVENTS)
        .expect("watch sub");
    assert_eq!(watcher.watch_count(), 1);

    fs::remove_dir(&sub).expect("rmdir sub");
    let events = collect_until(&watcher, |events| !with_mask(events, IN_IGNORED).is_empty());
    let masks: Vec<u32> = events.iter().map(|e| e.mask).collect();
    let delete_self = masks
        .iter()
        .position(|&m| m == IN_DELETE_SELF)
        .expect("IN_DELETE_SELF");
    assert_eq!(
        masks.last(),
        Some(&IN_IGNORED),
        "IN_IGNORED ends the watch: {masks:#x?}"
    );
    assert!(delete_self < masks.len() - 1);
    for event in &events {
        assert_eq!(event.wd, wd);
        assert_eq!(event.path.as_deref(), Some(bytes(&sub)));
    }

    assert_eq!(watcher.watch_count(), 0);
    assert_eq!(watcher.path_of(wd), None);
    assert_eq!(watcher.wd_of(bytes(&sub)), None);
    watcher.close();
}

#[test]
fn a_rename_inside_a_watched_directory_pairs_moved_from_and_moved_to_by_cookie() {
    let Fixture {
        watcher,
        dir,
        rings: _rings,
        _temp,
    } = fixture();
    File::create(dir.join("old")).expect("create old");
    watcher
        .add_watch(bytes(&dir), IN_ALL_EVENTS)
        .expect("watch the dir");

    fs::rename(dir.join("old"), dir.join("new")).expect("rename old to new");
    let events = collect_until(&watcher, |events| {
        !with_mask(events, IN_MOVED_TO).is_empty()
    });
    let from = with_mask(&events, IN_MOVED_FROM);
    let to = with_mask(&events, IN_MOVED_TO);
    assert_eq!((from.len(), to.len()), (1, 1), "{events:#?}");
    assert_eq!(from[0].name, b"old");
    assert_eq!(to[0].name, b"new");
    assert_ne!(from[0].cookie, 0);
    assert_eq!(from[0].cookie, to[0].cookie, "one rename, one cookie");
    watcher.close();
}

fn max_queued_events() -> usize {
    fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .expect("read max_queued_events")
        .trim()
        .parse()
        .expect("max_queued_events is a number")
}

#[test]
fn a_consumer_that_stops_asking_gets_the_kernels_queue_overflow_with_no_wd_and_no_path() {
    let Fixture {
        watcher,
        dir,
        rings: _rings,
        _temp,
    } = fixture();
    // Read before the first watch: the kernel sizes each instance's queue when it is created, and
    // this instance was created just now.
    let max_queued = max_queued_events();
    watcher
        .add_watch(bytes(&dir), IN_CREATE | IN_DELETE)
        .expect("watch the dir");

    // Create and delete alternate, so no two consecutive events are identical and none merge.
    let file = dir.join("f");
    for _ in 0..(2 * max_queued + 1000) {
        File::create(&file).expect("create f");
        fs::remove_file(&file).expect("rm f");
    }

    let events = collect_until(&watcher, |events| {
        events.last().is_some_and(|e| e.mask & IN_Q_OVERFLOW != 0)
    });
    let overflow = events.last().expect("the overflow event");
    assert_eq!(overflow.mask, IN_Q_OVERFLOW);
    assert_eq!(overflow.wd, -1);
    assert_eq!(overflow.path, None);
    assert_eq!(overflow.name, b"");
    let before = events.len() - 1;
    assert!(
        before <= max_queued,
        "{before} events before the overflow, queue holds {max_queued}"
    );
    // What came before is the kernel's queue read whole, across many reads: create and delete of
    // "f" alternating from the first operation on, none dropped or reordered between reads.
    for (i, event) in events[..before].iter().enumerate() {
        let expected = if i % 2 == 0 { IN_CREATE } else { IN_DELETE };
        assert_eq!(
            (event.mask, event.name.as_slice()),
            (expected, &b"f"[..]),
            "event {i}"
        );
    }
    watcher.close();
}

#[test]
fn add_watch_reports_kernel_errors_with_path_and_rejects_bad_masks_before_any_syscall() {
    let Fixture {
        watcher,
        dir,
        rings: _rings,
        _temp,
    } = fixture();
    let missing = dir.join("missing");
    let error = watcher
        .add_watch(bytes(&missing), IN_CREATE)
        .expect_err("missing path");
    assert_eq!(
        error,
        Error::Sys {
            syscall: "inotify_add_watch",
            errno: nix::libc::ENOENT,
            path: Some(bytes(&missing).to_vec()),
        }
    );
    assert_eq!(error.errno(), Some(nix::libc::ENOENT));
    assert_eq!(error.syscall(), Some("inotify_add_watch"));
    assert_eq!(error.path(), Some(bytes(&missing)));
    assert!(
        error.to_string().contains("missing"),
        "the message names the path: {error}"
    );

    let file = dir.join("file");
    File::create(&file).expect("create file");
    let error = watcher
        .add_watch(bytes(&file), IN_CREATE | IN_ONLYDIR)
        .expect_err("not a dir");
    assert_eq!(error.errno(), Some(nix::libc::ENOTDIR));

    // On a missing path a syscall would say ENOENT: InvalidMask means none was made.
    assert_eq!(
        watcher.add_watch(bytes(&missing), 0),
        Err(Error::InvalidMask {
            mask: 0,
            bad_bits: 0
        })
    );
    assert_eq!(
        watcher.add_watch(bytes(&missing), IN_CREATE | 0x1000),
        Err(Error::InvalidMask {
            mask: IN_CREATE | 0x1000,
            bad_bits: 0x1000
        })
    );
    assert_eq!(watcher.watch_count(), 0);
    watcher.close();
}

#[test]
fn the_same_directory_twice_is_one_wd_and_names_arrive_byte_exact() {
    let Fixture {
        watcher,
        dir,
        rings: _rings,
        _temp,
    } = fixture();
    let wd = watcher
        .add_watch(bytes(&dir), IN_CREATE)
        .expect("watch the dir");
    assert_eq!(watcher.add_watch(bytes(&dir), IN_CREATE), Ok(wd));
    assert_eq!(watcher.watch_count(), 1);
    assert_eq!(watcher.wd_of(bytes(&dir)), Some(wd));

    let not_utf8: &[u8] = b"caf\xe9-\xff";
    let longest = vec![b'n'; 255];
    File::create(dir.join(OsStr::from_bytes(not_utf8))).expect("create a non-UTF-8 name");
    File::create(dir.join(OsStr::from_bytes(&longest))).expect("create a 255-byte name");

    let events = collect_until(&watcher, |events| has_name(events, IN_CREATE, &longest));
    let names: Vec<&[u8]> = events.iter().map(|e| e.name.as_slice()).collect();
    assert_eq!(names, vec![not_utf8, &longest[..]]);
    assert_eq!(events[1].len, 256, "255 bytes and a NUL, padded to 16");
    watcher.close();
}

#[test]
fn the_inotify_descriptor_is_close_on_exec_and_non_blocking() {
    let Fixture {
        watcher,
        rings: _rings,
        _temp,
        dir: _,
    } = fixture();
    let fdinfo = fs::read_to_string(format!("/proc/self/fdinfo/{}", watcher.raw_fd()))
        .expect("read fdinfo of the inotify descriptor");
    let flags = fdinfo
        .lines()
        .find_map(|line| line.strip_prefix("flags:"))
        .map(|octal| u32::from_str_radix(octal.trim(), 8).expect("octal flags"))
        .expect("a flags: line");
    assert_ne!(flags & 0o2000000, 0, "O_CLOEXEC in {flags:o}");
    assert_ne!(flags & 0o4000, 0, "O_NONBLOCK in {flags:o}");
    watcher.close();
}

#[test]
fn take_blocking_with_a_timeout_and_nothing_happening_returns_in_bounded_time() {
    let Fixture {
        watcher,
        dir,
        rings: _rings,
        _temp,
    } = fixture();
    watcher
        .add_watch(bytes(&dir), IN_CREATE | IN_DELETE)
        .expect("watch the dir");
    let started = Instant::now();
    let taken = watcher
        .take_blocking(Some(Duration::from_millis(200)))
        .expect("take");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "take_blocking took {took:?}");
    if let Some(batch) = taken {
        assert_eq!(
            batch.events, 0,
            "only a tick can come out of an idle directory"
        );
    }
    watcher.close();
}

#[test]
fn removing_a_watch_whose_directory_is_already_gone_succeeds_and_drops_its_queued_events() {
    let Fixture {
        watcher,
        dir,
        rings: _rings,
        _temp,
    } = fixture();
    let sub = dir.join("sub");
    fs::create_dir(&sub).expect("mkdir sub");
    let wd = watcher
        .add_watch(bytes(&sub), IN_ALL_EVENTS)
        .expect("watch sub");
    // Nobody asks yet: IN_DELETE_SELF and IN_IGNORED stay queued in the kernel, which has already
    // dropped the watch, so inotify_rm_watch answers EINVAL.
    fs::remove_dir(&sub).expect("rmdir sub");
    assert_eq!(watcher.remove_watch(wd, false), Ok(()));
    assert_eq!(watcher.watch_count(), 0);

    let window_end = Instant::now() + Duration::from_millis(300);
    loop {
        let left = window_end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        if let Some(batch) = watcher.take_blocking(Some(left)).expect("take") {
            assert_eq!(
                decoded(&batch),
                vec![],
                "the removed watch's events are dropped"
            );
        }
    }
    watcher.close();
}

#[test]
fn a_consumer_that_goes_away_stops_the_reader_after_its_last_batch() {
    let Fixture {
        watcher,
        dir,
        rings,
        _temp,
    } = fixture();
    watcher
        .add_watch(bytes(&dir), IN_CREATE | IN_DELETE)
        .expect("watch the dir");
    drop(rings);
    assert_eq!(watcher.request(Some(Duration::from_millis(1))), Ok(true));
    // The batch is queued before the doorbell is rung, so it can still be taken; then the ring
    // finds the receiver gone and the reader stops.
    let tick = watcher
        .take_blocking(Some(PATIENCE))
        .expect("the last batch")
        .expect("queued before the ring");
    assert_eq!(tick.events, 0);
    assert_eq!(watcher.take_blocking(Some(PATIENCE)), Err(Error::Closed));
    assert!(watcher.is_closed());
    assert_eq!(watcher.request(None), Err(Error::Closed));
    watcher.close();
}

#[test]
fn close_wakes_a_consumer_blocked_in_take_blocking_without_a_timeout() {
    let Fixture {
        watcher,
        dir,
        rings,
        _temp,
    } = fixture();
    watcher
        .add_watch(bytes(&dir), IN_CREATE | IN_DELETE)
        .expect("watch the dir");
    std::thread::scope(|scope| {
        let consumer = scope.spawn(|| watcher.take_blocking(None));
        // Whether or not the consumer is already waiting, it must come back with Closed; this
        // bounded wait (nothing rings: nothing happens) gives it time to block first.
        assert_eq!(
            rings.recv_timeout(Duration::from_millis(100)),
            Err(RecvTimeoutError::Timeout)
        );
        let started = Instant::now();
        watcher.close();
        let taken = consumer.join().expect("the consumer thread does not panic");
        let took = started.elapsed();
        assert_eq!(taken, Err(Error::Closed));
        assert!(
            took < Duration::from_secs(2),
            "close and wake-up took {took:?}"
        );
    });
}

#[test]
fn a_request_with_a_new_tick_restarts_the_readers_wait_with_it() {
    let Fixture {
        watcher,
        dir,
        rings: _rings,
        _temp,
    } = fixture();
    watcher
        .add_watch(bytes(&dir), IN_CREATE)
        .expect("watch the dir");
    // Armed with a tick far beyond PATIENCE: on its own, the reader would tick only after it.
    assert_eq!(watcher.request(Some(PATIENCE * 100)), Ok(true));
    assert_eq!(watcher.request(Some(Duration::from_millis(20))), Ok(false));
    let taken = watcher.take_blocking(Some(PATIENCE)).expect("take");
    let batch = taken.expect("the new 20 ms tick arrives well before PATIENCE");
    assert_eq!(batch.events, 0, "a tick, from an idle directory");
}

/// Takes batches only when rung, as the binding does, until `count` events came: their names, and
/// each batch's size. `work` runs on each batch before its events are counted.
fn take_when_rung(
    watcher: &Session,
    rings: &Receiver<()>,
    count: usize,
    work: impl Fn(),
) -> (Vec<Vec<u8>>, Vec<(u32, bool)>) {
    let (mut names, mut sizes) = (Vec::new(), Vec::new());
    while names.len() < count {
        // Every take that leaves nothing is followed by a ring for the next batch: a consumer that
        // waits for rings never waits in vain. The deadline is on each wait (a stall), not on the
        // whole stream, which a loaded machine can make slow.
        if let Err(e) = rings.recv_timeout(PATIENCE) {
            panic!(
                "no ring ({e:?}) with {} of {count} events taken",
                names.len()
            );
        }
        while let Some(batch) = watcher.take().expect("take") {
            work();
            sizes.push((batch.events, batch.settled()));
            for event in decoded(&batch) {
                assert_eq!(event.mask, IN_CREATE, "no overflow, only the creates");
                names.push(event.name);
            }
        }
    }
    (names, sizes)
}

/// `count` names made of `prefix` and a number, and the same as bytes, to compare with events.
fn numbered(prefix: &str, count: usize) -> (Vec<String>, Vec<Vec<u8>>) {
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}{i:05}")).collect();
    let bytes = names.iter().map(|n| n.as_bytes().to_vec()).collect();
    (names, bytes)
}

#[test]
fn a_consumer_that_falls_behind_a_stream_gets_every_event_once_and_in_order() {
    // The consumer takes only when rung and works on each batch (200 us, a busy loop), so it falls
    // behind the writer; the reader then holds off reading until a take (or 2 ms) and reads what
    // arrived meanwhile in one go. Nothing may be lost, doubled or reordered by that, and the last
    // events must arrive although the reader may be holding when the writer stops.
    let Fixture {
        watcher,
        dir,
        rings,
        _temp,
    } = fixture();
    watcher
        .add_watch(bytes(&dir), IN_CREATE)
        .expect("watch the dir");
    assert_eq!(watcher.request(None), Ok(true));
    const FILES: usize = 3000;
    let (names, expected) = numbered("f", FILES);
    let (seen, _) = std::thread::scope(|scope| {
        scope.spawn(|| {
            for name in &names {
                File::create(dir.join(name)).expect("create a file");
            }
        });
        take_when_rung(&watcher, &rings, FILES, || {
            let work = Instant::now();
            while work.elapsed() < Duration::from_micros(200) {
                std::hint::spin_loop();
            }
        })
    });
    assert_eq!(seen, expected, "every create once, in the order made");
    watcher.close();
}

/// `links` symbolic links wait in the kernel's queue (the reader is not armed); once armed, the
/// reader hands over each read that filled its buffer, and reads on: the consumer works on the
/// backlog while the rest is read. Returns each batch's size and whether it ended settled, up to the
/// settled one that ends the backlog, having checked that every event came once, in order.
fn backlog_in_parts(links: usize) -> Vec<(u32, bool)> {
    let Fixture {
        watcher,
        dir,
        rings,
        _temp,
    } = fixture();
    watcher
        .add_watch(bytes(&dir), IN_CREATE)
        .expect("watch the dir");
    let (names, expected) = numbered("link", links);
    for name in &names {
        std::os::unix::fs::symlink("target", dir.join(name)).expect("create a symbolic link");
    }
    assert_eq!(watcher.request(None), Ok(true));
    let (seen, mut sizes) = take_when_rung(&watcher, &rings, links, || {});
    assert_eq!(seen, expected, "every link once, in the order made");
    while !sizes.last().is_some_and(|&(_, settled)| settled) {
        if let Err(e) = rings.recv_timeout(PATIENCE) {
            panic!("no ring ({e:?}) for the settled end of the backlog, after {sizes:?}");
        }
        while let Some(batch) = watcher.take().expect("take") {
            sizes.push((batch.events, batch.settled()));
        }
    }
    watcher.close();
    sizes
}

// A read fills the 128 KiB buffer with 4,096 events of 32 bytes (16 + "linkNNNNN" padded to 16).

#[test]
fn a_backlog_is_handed_over_a_full_read_at_a_time_and_its_last_batch_ends_settled() {
    assert_eq!(
        backlog_in_parts(10_000),
        [(4096, false), (4096, false), (1808, true)]
    );
}

#[test]
fn a_full_read_that_empties_the_queue_is_handed_over_and_an_empty_settled_batch_ends_the_backlog() {
    // The second read fills the buffer exactly and leaves nothing: it is handed over as a part (the
    // reader does not ask the kernel whether more is queued), and the reader reads on at once to
    // EAGAIN, which ends the cycle with an empty settled batch (a tree settles its books there).
    assert_eq!(
        backlog_in_parts(8192),
        [(4096, false), (4096, false), (0, true)]
    );
}
