//! Changes from synthetic event sequences: pairing, coalescing, re-pathing.

use super::*;
use crate::changes_wire::decode as decode_changes;
use crate::mask::IN_CLOSE_WRITE;

fn ev(mask: u32, dir: &str, name: &str, cookie: u32, flags: u32) -> DecodedEvent {
    DecodedEvent {
        wd: 1,
        mask,
        cookie,
        len: 16,
        path: Some(dir.as_bytes().to_vec()),
        flags,
        name: name.as_bytes().to_vec(),
    }
}

fn e(mask: u32, name: &str) -> DecodedEvent {
    ev(mask, "/r", name, 0, 0)
}

fn moved(mask: u32, name: &str, cookie: u32) -> DecodedEvent {
    ev(mask, "/r", name, cookie, 0)
}

/// (kind, path, old path) of what the set holds after `events` and a settle.
fn changes(events: &[DecodedEvent]) -> Vec<(ChangeKind, String, Option<String>)> {
    let mut set = ChangeSet::new();
    for event in events {
        set.add(event);
    }
    set.settle();
    let len = set.len();
    let taken = set.take();
    assert_eq!(taken.len(), len, "len() counts what take() gives");
    taken
        .into_iter()
        .map(|c| {
            (
                c.kind,
                String::from_utf8(c.path).expect("utf8"),
                c.old_path.map(|p| String::from_utf8(p).expect("utf8")),
            )
        })
        .collect()
}

fn one(kind: ChangeKind, path: &str) -> (ChangeKind, String, Option<String>) {
    (kind, path.to_owned(), None)
}

#[test]
fn create_then_writes_is_one_create_and_create_then_delete_is_nothing() {
    assert_eq!(
        changes(&[e(IN_CREATE, "a"), e(IN_MODIFY, "a"), e(IN_CLOSE_WRITE, "a")]),
        vec![one(ChangeKind::Create, "/r/a")]
    );
    assert_eq!(
        changes(&[e(IN_CREATE, "a"), e(IN_MODIFY, "a"), e(IN_DELETE, "a")]),
        vec![]
    );
}

#[test]
fn modify_then_delete_is_a_delete_and_delete_then_create_is_a_modify() {
    assert_eq!(
        changes(&[e(IN_MODIFY, "a"), e(IN_DELETE, "a")]),
        vec![one(ChangeKind::Delete, "/r/a")]
    );
    assert_eq!(
        changes(&[e(IN_DELETE, "a"), e(IN_CREATE, "a"), e(IN_CLOSE_WRITE, "a")]),
        vec![one(ChangeKind::Modify, "/r/a")]
    );
}

#[test]
fn a_move_inside_the_tree_is_one_rename_with_both_paths() {
    assert_eq!(
        changes(&[moved(IN_MOVED_FROM, "a", 7), moved(IN_MOVED_TO, "b", 7)]),
        vec![(ChangeKind::Rename, "/r/b".into(), Some("/r/a".into()))]
    );
}

#[test]
fn a_move_out_is_a_delete_and_a_move_in_is_a_create() {
    assert_eq!(
        changes(&[moved(IN_MOVED_FROM, "a", 7)]),
        vec![one(ChangeKind::Delete, "/r/a")]
    );
    assert_eq!(
        changes(&[moved(IN_MOVED_TO, "b", 8)]),
        vec![one(ChangeKind::Create, "/r/b")]
    );
}

#[test]
fn an_atomic_save_is_one_modify() {
    // The editor writes a temp file and renames it over the target, which the tree knew.
    assert_eq!(
        changes(&[
            e(IN_CREATE, ".a.swp"),
            e(IN_MODIFY, ".a.swp"),
            e(IN_CLOSE_WRITE, ".a.swp"),
            moved(IN_MOVED_FROM, ".a.swp", 9),
            ev(IN_MOVED_TO, "/r", "a", 9, FLAG_REPLACED),
        ]),
        vec![one(ChangeKind::Modify, "/r/a")]
    );
}

#[test]
fn a_new_file_saved_atomically_is_one_create() {
    assert_eq!(
        changes(&[
            e(IN_CREATE, "tmp"),
            moved(IN_MOVED_FROM, "tmp", 9),
            moved(IN_MOVED_TO, "a", 9),
        ]),
        vec![one(ChangeKind::Create, "/r/a")]
    );
}

#[test]
fn a_renamed_directory_carries_the_changes_below_it_to_the_new_path() {
    assert_eq!(
        changes(&[
            e(IN_CREATE | IN_ISDIR, "d"),
            ev(IN_CREATE, "/r/d", "f", 0, FLAG_SYNTHETIC),
            moved(IN_MOVED_FROM | IN_ISDIR, "d", 3),
            moved(IN_MOVED_TO | IN_ISDIR, "e", 3),
            ev(IN_MODIFY, "/r/e", "f", 0, 0),
        ]),
        vec![
            one(ChangeKind::Create, "/r/e"),
            one(ChangeKind::Create, "/r/e/f")
        ]
    );
}

#[test]
fn renamed_and_renamed_back_is_nothing_and_renamed_twice_is_one_rename() {
    assert_eq!(
        changes(&[
            moved(IN_MOVED_FROM, "a", 1),
            moved(IN_MOVED_TO, "b", 1),
            moved(IN_MOVED_FROM, "b", 2),
            moved(IN_MOVED_TO, "a", 2),
        ]),
        vec![]
    );
    assert_eq!(
        changes(&[
            moved(IN_MOVED_FROM, "a", 1),
            moved(IN_MOVED_TO, "b", 1),
            moved(IN_MOVED_FROM, "b", 2),
            moved(IN_MOVED_TO, "c", 2),
        ]),
        vec![(ChangeKind::Rename, "/r/c".into(), Some("/r/a".into()))]
    );
}

#[test]
fn renamed_then_deleted_is_a_delete_of_the_old_path() {
    assert_eq!(
        changes(&[
            moved(IN_MOVED_FROM, "a", 1),
            moved(IN_MOVED_TO, "b", 1),
            e(IN_DELETE, "b"),
        ]),
        vec![one(ChangeKind::Delete, "/r/a")]
    );
}

#[test]
fn an_overflow_is_kept_in_order_and_synthetic_creates_are_marked() {
    let mut set = ChangeSet::new();
    set.add(&DecodedEvent {
        wd: -1,
        mask: IN_Q_OVERFLOW,
        cookie: 0,
        len: 0,
        path: None,
        flags: 0,
        name: Vec::new(),
    });
    set.add(&ev(IN_CREATE, "/r", "x", 0, FLAG_SYNTHETIC));
    let taken = set.take();
    assert_eq!(taken[0].kind, ChangeKind::Overflow);
    assert_eq!(taken[1].kind, ChangeKind::Create);
    assert!(taken[1].synthetic);
}

#[test]
fn a_write_then_a_rescan_finding_the_file_is_a_synthetic_create() {
    // The kernel dropped the file's IN_CREATE (a queue overflow) but not its IN_CLOSE_WRITE, read
    // before the re-scan listed the directory and found the name new: the consumer hears `create`.
    let mut set = ChangeSet::new();
    set.add(&e(IN_CLOSE_WRITE, "x"));
    set.add(&ev(IN_CREATE, "/r", "x", 0, FLAG_SYNTHETIC));
    let taken = set.take();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].kind, ChangeKind::Create);
    assert!(taken[0].synthetic);
    assert!(!taken[0].is_dir);
    // Replaced by a directory in a second overflow: what the scan found is what is reported.
    let mut set = ChangeSet::new();
    set.add(&e(IN_CLOSE_WRITE, "x"));
    set.add(&ev(IN_CREATE | IN_ISDIR, "/r", "x", 0, FLAG_SYNTHETIC));
    let taken = set.take();
    assert_eq!((taken[0].kind, taken[0].is_dir), (ChangeKind::Create, true));
}

#[test]
fn names_what_changed_below_a_root_of_slash_without_a_double_slash() {
    assert_eq!(
        changes(&[
            ev(IN_CREATE, "/", "x", 0, 0),
            ev(IN_MOVED_FROM | IN_ISDIR, "/", "a", 2, 0),
            ev(IN_MOVED_TO | IN_ISDIR, "/", "b", 2, 0),
        ]),
        vec![
            (ChangeKind::Create, "/x".into(), None),
            (ChangeKind::Rename, "/b".into(), Some("/a".into())),
        ]
    );
}

#[test]
fn a_rename_half_waits_for_its_pair_until_settled() {
    let mut set = ChangeSet::new();
    set.add(&moved(IN_MOVED_FROM, "a", 5));
    assert!(set.is_empty(), "an unpaired half is not a change yet");
    set.add(&moved(IN_MOVED_TO, "b", 5));
    assert_eq!(set.len(), 1);
}

#[test]
fn a_move_out_is_reported_in_its_place_in_the_order() {
    assert_eq!(
        changes(&[moved(IN_MOVED_FROM, "a", 7), e(IN_CREATE, "b")]),
        vec![
            one(ChangeKind::Delete, "/r/a"),
            one(ChangeKind::Create, "/r/b")
        ]
    );
}

#[test]
fn an_unmount_is_no_change_by_itself_the_trees_synthetic_events_say_what_differs() {
    use crate::mask::{IN_IGNORED, IN_UNMOUNT};
    assert_eq!(
        changes(&[
            e(IN_CREATE, "f"),
            ev(IN_UNMOUNT | IN_ISDIR, "/r/sub", "", 0, 0),
            ev(IN_IGNORED, "/r/sub", "", 0, 0),
            ev(IN_DELETE, "/r/sub", "on-tmpfs", 0, FLAG_SYNTHETIC),
            ev(IN_CREATE, "/r/sub", "covered", 0, FLAG_SYNTHETIC),
        ]),
        vec![
            one(ChangeKind::Create, "/r/f"),
            one(ChangeKind::Delete, "/r/sub/on-tmpfs"),
            one(ChangeKind::Create, "/r/sub/covered"),
        ]
    );
}

#[test]
fn re_pathing_below_a_moved_directory_does_not_depend_on_the_maps_order() {
    // Moved into its own subdirectory (the kernel refuses it, a stale path may say it): both
    // waiting changes below move by the same prefix, whatever order the map lists them in. Each
    // set gets a new hash seed, so one order or the other comes up within a few runs.
    for _ in 0..32 {
        assert_eq!(
            changes(&[
                ev(IN_MODIFY, "/r/a", "c", 0, 0),
                ev(IN_MODIFY, "/r/a/b", "c", 0, 0),
                ev(IN_MOVED_FROM | IN_ISDIR, "/r", "a", 3, 0),
                ev(IN_MOVED_TO | IN_ISDIR, "/r/a", "b", 3, 0),
            ]),
            vec![
                one(ChangeKind::Modify, "/r/a/b/c"),
                one(ChangeKind::Modify, "/r/a/b/b/c"),
                (ChangeKind::Rename, "/r/a/b".into(), Some("/r/a".into())),
            ]
        );
    }
}

#[test]
fn a_change_below_a_directory_moved_over_a_path_that_had_changes_is_the_live_one() {
    // rm new/x; echo >> old/x; mv old new (new now empty): the delete of new/x stays reported in
    // its place, and the moved modify is what later events for new/x coalesce with.
    assert_eq!(
        changes(&[
            ev(IN_DELETE, "/r/new", "x", 0, 0),
            ev(IN_MODIFY, "/r/old", "x", 0, 0),
            ev(IN_MOVED_FROM | IN_ISDIR, "/r", "old", 4, 0),
            ev(IN_MOVED_TO | IN_ISDIR, "/r", "new", 4, FLAG_REPLACED),
            ev(IN_MODIFY, "/r/new", "x", 0, 0),
        ]),
        vec![
            one(ChangeKind::Delete, "/r/new/x"),
            one(ChangeKind::Modify, "/r/new/x"),
            (ChangeKind::Rename, "/r/new".into(), Some("/r/old".into())),
        ]
    );
}

/// Arbitrary event sequences (any mask, cookie, path and name, settled at any point): the set never
/// panics, its encoding reads back as exactly what `take` gives, and it is empty once taken.
/// Failing cases are kept in `proptest-regressions/changes_tests.txt`.
mod props {
    use super::*;
    use crate::mask::{IN_IGNORED, IN_UNMOUNT};
    use crate::wire::{decode, BatchEncoder};
    use proptest::prelude::*;

    const BITS: [u32; 13] = [
        IN_CREATE,
        IN_MODIFY,
        IN_CLOSE_WRITE,
        IN_ATTRIB,
        IN_DELETE,
        IN_DELETE_SELF,
        IN_MOVED_FROM,
        IN_MOVED_TO,
        IN_ISDIR,
        IN_Q_OVERFLOW,
        IN_IGNORED,
        IN_UNMOUNT,
        IN_ISDIR | IN_CREATE,
    ];

    #[derive(Debug, Clone)]
    enum Step {
        Add(DecodedEvent),
        Settle,
    }

    fn event() -> impl Strategy<Value = DecodedEvent> {
        let mask = prop_oneof![
            4 => proptest::sample::select(&BITS[..]),
            1 => any::<u32>(),
        ];
        let dir = proptest::option::weighted(
            0.95,
            proptest::sample::select(vec!["/r", "/r/a", "/r/a/b", "/r/b", "/"]),
        );
        let name = prop_oneof![
            4 => proptest::sample::select(vec!["", "a", "b", "c", "f"]).prop_map(|n| n.as_bytes().to_vec()),
            1 => proptest::collection::vec(any::<u8>(), 0..8),
        ];
        (mask, 0u32..4, dir, name, 0u32..4).prop_map(|(mask, cookie, dir, name, flags)| {
            DecodedEvent {
                wd: 1,
                mask,
                cookie,
                len: 16,
                path: dir.map(|d| d.as_bytes().to_vec()),
                flags,
                name,
            }
        })
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let step = prop_oneof![
            8 => event().prop_map(Step::Add),
            1 => Just(Step::Settle),
        ];
        proptest::collection::vec(step, 0..64)
    }

    fn fill(steps: &[Step]) -> ChangeSet {
        let mut set = ChangeSet::new();
        for step in steps {
            match step {
                Step::Add(event) => set.add(event),
                Step::Settle => set.settle(),
            }
        }
        set
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: crate::props_cases(512),
            ..ProptestConfig::default()
        })]

        #[test]
        fn any_event_sequence_coalesces_without_panic_and_its_encoding_round_trips(steps in steps()) {
            let mut taken = fill(&steps);
            let len = taken.len();
            prop_assert_eq!(taken.is_empty(), len == 0);
            let changes = taken.take();
            prop_assert_eq!(changes.len(), len);
            prop_assert!(taken.is_empty());
            prop_assert_eq!(taken.byte_len(), 0);
            for change in &changes {
                prop_assert_eq!(change.old_path.is_some(), change.kind == ChangeKind::Rename);
                if change.kind == ChangeKind::Overflow {
                    prop_assert!(change.path.is_empty());
                }
            }

            let mut encoded = fill(&steps);
            match encoded.take_encoded(usize::MAX) {
                None => prop_assert!(changes.is_empty()),
                Some(bytes) => prop_assert_eq!(decode_changes(&bytes), Some(changes)),
            }
            prop_assert_eq!(encoded.take_encoded(usize::MAX), None);
        }

        #[test]
        fn changes_taken_in_parts_are_the_changes_taken_at_once(steps in steps(), part in 1usize..6) {
            let whole = fill(&steps).take();
            let mut parts = fill(&steps);
            let mut taken = Vec::new();
            while let Some(bytes) = parts.take_encoded(part) {
                let changes = decode_changes(&bytes).expect("a well-formed part");
                prop_assert!(!changes.is_empty() && changes.len() <= part);
                prop_assert_eq!(parts.len(), whole.len() - taken.len() - changes.len());
                taken.extend(changes);
            }
            prop_assert_eq!(taken, whole);
            prop_assert!(parts.is_empty());
            prop_assert_eq!(parts.byte_len(), 0);
        }

        #[test]
        fn a_log_applied_once_per_read_coalesces_as_a_batch_read_back_event_by_event(steps in steps()) {
            // Each read ends at a settle: one log per read, applied then settled, as the reader
            // delivers a change tree's read; against the same events encoded and decoded.
            let mut by_log = ChangeSet::new();
            let mut by_batch = ChangeSet::new();
            for read in steps.split(|step| matches!(step, Step::Settle)) {
                let mut log = ChangeLog::new();
                let mut batch = BatchEncoder::new();
                for step in read {
                    let Step::Add(event) = step else { continue };
                    let raw = RawEvent {
                        wd: event.wd,
                        mask: event.mask,
                        cookie: event.cookie,
                        len: event.len,
                        name: &event.name,
                    };
                    Sink::push(&mut log, &raw, event.path.as_deref(), event.flags);
                    batch.push(&raw, event.path.as_deref(), event.flags);
                }
                prop_assert_eq!(log.event_count(), batch.event_count());
                log.apply_to(&mut by_log);
                for event in decode(&batch.finish().bytes).unwrap_or_default() {
                    by_batch.add(&event);
                }
                by_log.settle();
                by_batch.settle();
            }
            prop_assert_eq!(by_log.take(), by_batch.take());
        }
    }
}

#[test]
fn what_a_partial_take_leaves_still_coalesces_with_what_comes() {
    use crate::mask::{IN_CREATE, IN_DELETE};
    let mut set = ChangeSet::new();
    for name in ["a", "b", "c"] {
        set.add(&e(IN_CREATE, name));
    }
    let first = decode_changes(&set.take_encoded(1).expect("a part")).expect("well-formed");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].path, b"/r/a");
    // `b` was created and is deleted before anyone took it: nothing to report. `a` was taken:
    // its delete is news.
    set.add(&e(IN_DELETE, "b"));
    set.add(&e(IN_DELETE, "a"));
    let rest = decode_changes(&set.take_encoded(10).expect("the rest")).expect("well-formed");
    let rest: Vec<(ChangeKind, &[u8])> = rest.iter().map(|c| (c.kind, &c.path[..])).collect();
    assert_eq!(
        rest,
        [
            (ChangeKind::Create, &b"/r/c"[..]),
            (ChangeKind::Delete, &b"/r/a"[..])
        ]
    );
    assert_eq!(set.take_encoded(10), None);
}
