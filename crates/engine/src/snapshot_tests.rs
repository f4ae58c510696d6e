use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use proptest::prelude::*;

use super::*;
use crate::snapshot_format::{MAGIC, VERSION};
use crate::tree::IgnoreRule;

fn stamp(n: u64) -> Stamp {
    Stamp {
        mtime_sec: 1_700_000_000 + n as i64,
        mtime_nsec: (n as u32 * 7919) % 1_000_000_000,
        size: n,
        ino: 1000 + n,
    }
}

/// A snapshot from a nested description: a name and either a file's stamp or a directory's
/// entries (given in any order; sorted here).
#[derive(Debug, Clone)]
enum Spec {
    File(Stamp),
    Dir(Vec<(String, Spec)>),
}

fn build(root: &str, entries: Vec<(String, Spec)>) -> Snapshot {
    let mut tree = Snapshot {
        root: root.as_bytes().to_vec(),
        dirs: vec![Listing::default()],
    };
    let mut stack = vec![(0usize, entries)];
    while let Some((index, entries)) = stack.pop() {
        let mut listing = Vec::new();
        for (name, spec) in entries {
            let node = match spec {
                Spec::File(stamp) => Node::File(stamp),
                Spec::Dir(children) => {
                    tree.dirs.push(Listing::default());
                    let child = tree.dirs.len() - 1;
                    stack.push((child, children));
                    Node::Dir(child as u32)
                }
            };
            listing.push(Entry {
                name: name.into_bytes().into_boxed_slice(),
                node,
            });
        }
        listing.sort_by(|a, b| a.name.cmp(&b.name));
        listing.dedup_by(|a, b| a.name == b.name);
        tree.dirs[index].entries = listing;
    }
    tree
}

fn file(name: &str, n: u64) -> (String, Spec) {
    (name.into(), Spec::File(stamp(n)))
}

fn dir(name: &str, entries: Vec<(String, Spec)>) -> (String, Spec) {
    (name.into(), Spec::Dir(entries))
}

/// Every path of a snapshot, absolute, with its stamp (`None` for a directory).
fn flatten(tree: &Snapshot) -> BTreeMap<Vec<u8>, Option<Stamp>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(0u32, tree.root.clone())];
    while let Some((index, path)) = stack.pop() {
        for entry in tree.listing(index) {
            let path = join(&path, &entry.name);
            match entry.node {
                Node::Dir(child) => {
                    out.insert(path.clone(), None);
                    stack.push((child, path));
                }
                Node::File(stamp) => {
                    out.insert(path, Some(stamp));
                }
            }
        }
    }
    out
}

/// The model: `@parcel/watcher`'s comparison of two path maps (`DirTree::getChanges`), with this
/// crate's two differences (a change of kind is an update; the stamp is more than the time).
fn model(before: &Snapshot, after: &Snapshot) -> Vec<(ChangeKind, Vec<u8>)> {
    let mut old = flatten(before);
    let mut new = flatten(after);
    old.insert(before.root.clone(), None);
    new.insert(after.root.clone(), None);
    let mut out = Vec::new();
    for (path, stamp) in &new {
        match old.get(path) {
            None => out.push((ChangeKind::Create, path.clone())),
            Some(was) if was != stamp => out.push((ChangeKind::Update, path.clone())),
            Some(_) => {}
        }
    }
    for path in old.keys() {
        if !new.contains_key(path) {
            out.push((ChangeKind::Delete, path.clone()));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

fn pairs(events: &[SnapshotEvent]) -> Vec<(ChangeKind, Vec<u8>)> {
    events.iter().map(|e| (e.kind, e.path.clone())).collect()
}

fn strs(events: &[SnapshotEvent]) -> Vec<(ChangeKind, String)> {
    events
        .iter()
        .map(|e| (e.kind, String::from_utf8_lossy(&e.path).into_owned()))
        .collect()
}

use ChangeKind::{Create, Delete, Update};

#[test]
fn reports_creates_updates_and_deletes_sorted_by_path_bytes() {
    let before = build(
        "/r",
        vec![
            file("same", 1),
            file("changed", 2),
            file("gone", 3),
            dir("d", vec![file("x", 4), dir("e", vec![file("y", 5)])]),
            dir("kept", vec![file("k", 6)]),
        ],
    );
    let after = build(
        "/r",
        vec![
            file("same", 1),
            file("changed", 20),
            file("a.txt", 7),
            dir("a", vec![file("b", 8)]),
            dir("kept", vec![file("k", 6), file("new", 9)]),
        ],
    );
    let events = changes_between(&before, &after);
    assert_eq!(
        strs(&events),
        vec![
            (Create, "/r/a".into()),
            // '.' sorts before '/': the order of the paths' bytes, not a walk's.
            (Create, "/r/a.txt".into()),
            (Create, "/r/a/b".into()),
            (Update, "/r/changed".into()),
            (Delete, "/r/d".into()),
            (Delete, "/r/d/e".into()),
            (Delete, "/r/d/e/y".into()),
            (Delete, "/r/d/x".into()),
            (Delete, "/r/gone".into()),
            (Create, "/r/kept/new".into()),
        ]
    );
    assert!(changes_between(&after, &after).is_empty());
}

#[test]
fn a_file_is_updated_by_its_size_or_inode_as_well_as_its_time() {
    let base = stamp(1);
    for changed in [
        Stamp { size: 99, ..base },
        Stamp { ino: 99, ..base },
        Stamp {
            mtime_nsec: base.mtime_nsec + 1,
            ..base
        },
    ] {
        let before = build("/r", vec![("f".into(), Spec::File(base))]);
        let after = build("/r", vec![("f".into(), Spec::File(changed))]);
        assert_eq!(
            strs(&changes_between(&before, &after)),
            vec![(Update, "/r/f".into())]
        );
    }
}

#[test]
fn a_path_that_changed_kind_is_updated_and_its_contents_created_or_deleted() {
    let before = build("/r", vec![file("p", 1), dir("q", vec![file("inner", 2)])]);
    let after = build("/r", vec![dir("p", vec![file("inner", 3)]), file("q", 4)]);
    assert_eq!(
        strs(&changes_between(&before, &after)),
        vec![
            (Update, "/r/p".into()),
            (Create, "/r/p/inner".into()),
            (Update, "/r/q".into()),
            (Delete, "/r/q/inner".into()),
        ]
    );
}

#[test]
fn another_root_deletes_every_old_path_and_creates_every_new_one() {
    let before = build("/old", vec![file("f", 1)]);
    let after = build("/new", vec![file("f", 1)]);
    assert_eq!(
        strs(&changes_between(&before, &after)),
        vec![
            (Create, "/new".into()),
            (Create, "/new/f".into()),
            (Delete, "/old".into()),
            (Delete, "/old/f".into()),
        ]
    );
}

#[test]
fn the_filesystem_root_joins_without_a_double_slash() {
    let before = build("/", vec![]);
    let after = build("/", vec![dir("a", vec![file("b", 1)])]);
    assert_eq!(
        strs(&changes_between(&before, &after)),
        vec![(Create, "/a".into()), (Create, "/a/b".into())]
    );
}

/// Trees of a few short names, so that two random trees share paths.
fn spec_entries(depth: u32) -> BoxedStrategy<Vec<(String, Spec)>> {
    let name = prop::sample::select(vec!["a", "a.b", "a-b", "b", "ab", "\u{e9}", "z"])
        .prop_map(String::from);
    let file = (0u64..4).prop_map(|n| Spec::File(stamp(n)));
    let leaf = if depth == 0 {
        file.boxed()
    } else {
        prop_oneof![3 => file, 1 => spec_entries(depth - 1).prop_map(Spec::Dir)].boxed()
    };
    prop::collection::vec((name, leaf), 0..6).boxed()
}

/// The properties (run at many cases by the stress suite, which selects them by `props`).
mod props {
    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: crate::props_cases(512),
            ..ProptestConfig::default()
        })]

        #[test]
        fn changes_between_agrees_with_a_comparison_of_path_maps(
            before in spec_entries(3),
            after in spec_entries(3),
        ) {
            let before = build("/r", before);
            let after = build("/r", after);
            prop_assert_eq!(pairs(&changes_between(&before, &after)), model(&before, &after));
        }

        #[test]
        fn a_snapshot_reads_back_as_it_was_written(entries in spec_entries(4)) {
            let tree = build("/some/root", entries);
            let bytes = crate::snapshot_format::encode(&tree);
            let read = crate::snapshot_format::decode(&bytes, b"/s").expect("decodes");
            prop_assert_eq!(&read.root, &tree.root);
            prop_assert_eq!(flatten(&read), flatten(&tree));
            prop_assert!(changes_between(&tree, &read).is_empty());
        }

        #[test]
        fn any_cut_or_altered_byte_is_a_corrupt_snapshot_never_a_panic_or_a_tree(
            entries in spec_entries(3),
            at in any::<prop::sample::Index>(),
            xor in 1u8..=255,
        ) {
            let bytes = crate::snapshot_format::encode(&build("/r", entries));
            let at = at.index(bytes.len());
            let mut altered = bytes.clone();
            altered[at] ^= xor;
            let altered = crate::snapshot_format::decode(&altered, b"/s");
            prop_assert!(matches!(altered, Err(Error::SnapshotCorrupt { .. })), "{:?}", altered);
            let cut = crate::snapshot_format::decode(&bytes[..at], b"/s");
            prop_assert!(matches!(cut, Err(Error::SnapshotCorrupt { .. })), "{:?}", cut);
        }

        #[test]
        fn garbage_is_never_a_snapshot(bytes in prop::collection::vec(any::<u8>(), 0..512), framed in any::<bool>()) {
            let bytes = if framed { with_frame(&bytes) } else { bytes };
            // Framed garbage passes the magic, the version and the checksum: the body's own checks
            // must refuse it (or it is, by chance, a valid body).
            match crate::snapshot_format::decode(&bytes, b"/s") {
                Err(Error::SnapshotCorrupt { .. }) => {}
                Ok(tree) => prop_assert_eq!(crate::snapshot_format::encode(&tree), bytes),
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }
    }
}

/// `body` between a valid header and a valid checksum.
fn with_frame(body: &[u8]) -> Vec<u8> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(body);
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

fn reason(result: Result<Snapshot>) -> String {
    match result {
        Err(Error::SnapshotCorrupt { reason, path }) => {
            assert_eq!(path, b"/s");
            reason
        }
        other => panic!("expected a corrupt snapshot, got {other:?}"),
    }
}

#[test]
fn each_kind_of_corruption_is_named() {
    let good = crate::snapshot_format::encode(&build(
        "/r",
        vec![file("a", 1), dir("d", vec![file("b", 2)])],
    ));
    let decode = |bytes: &[u8]| crate::snapshot_format::decode(bytes, b"/s");
    assert!(decode(&good).is_ok());
    for cut in 0..good.len() {
        let text = reason(decode(&good[..cut]));
        assert!(
            text.contains("cut short") || text.contains("checksum"),
            "{cut}: {text}"
        );
    }
    let mut magic = good.clone();
    magic[1] = b'X';
    assert!(reason(decode(&magic)).contains("not a snapshot"));
    assert!(reason(decode(b"3\n22/tmp/x/a1796612580269000914 0\n")).contains("not a snapshot"));
    let mut version = good.clone();
    version[MAGIC.len()] = 2;
    assert!(reason(decode(&version)).contains("version is 2"));
    let mut flipped = good.clone();
    let last = flipped.len() - 6;
    flipped[last] ^= 0x10;
    assert!(reason(decode(&flipped)).contains("checksum"));
    let mut trailing = good[..good.len() - 4].to_vec();
    trailing.push(0);
    let crc = crc32fast::hash(&trailing);
    trailing.extend_from_slice(&crc.to_le_bytes());
    assert!(reason(decode(&trailing)).contains("bytes follow"));
}

/// A framed body: root `/r`, the count, then `listing`.
fn body(count: u8, listing: &[u8]) -> Vec<u8> {
    let mut body = vec![2, b'/', b'r', count];
    body.extend_from_slice(listing);
    with_frame(&body)
}

#[test]
fn a_well_framed_body_that_breaks_a_rule_is_refused() {
    let decode = |bytes: &[u8]| reason(crate::snapshot_format::decode(bytes, b"/s"));
    // One file "a": shared 0, length 1 << 1, "a", ino, size, time.
    let a = [1, 0, 2, b'a', 0, 0, 0];
    assert!(crate::snapshot_format::decode(&body(1, &a), b"/s").is_ok());
    assert!(decode(&body(2, &a)).contains("count says 2"));
    assert!(decode(&body(0, &a)).contains("more entries than the count"));
    assert!(
        decode(&body(2, &[2, 0, 2, b'b', 0, 0, 0, 0, 2, b'a', 0, 0, 0])).contains("increasing")
    );
    assert!(
        decode(&body(2, &[2, 0, 2, b'a', 0, 0, 0, 0, 2, b'a', 0, 0, 0])).contains("increasing")
    );
    assert!(
        decode(&body(2, &[2, 0, 2, b'a', 0, 0, 0, 5, 2, b'b', 0, 0, 0])).contains("shares more")
    );
    assert!(decode(&body(1, &[1, 0, 2, b'/', 0, 0, 0])).contains("valid file name"));
    assert!(decode(&body(1, &[1, 0, 4, b'.', b'.', 0, 0, 0])).contains("valid file name"));
    assert!(decode(&body(1, &[1, 0, 0, 0, 0, 0])).contains("valid file name"));
    assert!(decode(&body(1, &[1, 0, 200, 1, b'a'])).contains("past the end"));
    assert!(decode(&body(1, &[100])).contains("more than the"));
    // A size of 11 bytes, past the 10 a u64 takes.
    let mut long = vec![1, 0, 2, b'a', 0];
    long.extend_from_slice(&[0xff; 11]);
    long.push(0);
    assert!(decode(&body(1, &long)).contains("longer than"));
    let relative = with_frame(&[1, b'r', 0, 0]);
    assert!(decode(&relative).contains("absolute"));
}

#[test]
fn a_deep_nesting_in_a_crafted_file_is_read_without_recursion() {
    // 200,000 directories each holding the next: far deeper than any stack would take.
    let depth = 200_000usize;
    let mut listing = Vec::new();
    for _ in 0..depth {
        listing.extend_from_slice(&[1, 0, 3, b'd']);
    }
    listing.push(0);
    let mut bytes = vec![2, b'/', b'r'];
    let mut count = Vec::new();
    crate_put_varint(&mut count, depth as u64);
    bytes.extend_from_slice(&count);
    bytes.extend_from_slice(&listing);
    let tree = crate::snapshot_format::decode(&with_frame(&bytes), b"/s").expect("a valid tree");
    assert_eq!(tree.entry_count(), depth);
    let again = crate::snapshot_format::encode(&tree);
    assert_eq!(again, with_frame(&bytes));
}

fn crate_put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

// The walk, on real directories.

fn bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

fn walked(root: &Path, threads: usize) -> Snapshot {
    crate::snapshot_walk::walk(
        bytes(root),
        WalkOptions {
            ignore: None,
            threads,
        },
    )
    .expect("walks")
}

fn names(tree: &Snapshot) -> Vec<String> {
    flatten(tree)
        .into_iter()
        .map(|(path, stamp)| {
            let rel = path.strip_prefix(tree.root.as_slice()).unwrap_or(&path);
            format!(
                "{}{}",
                String::from_utf8_lossy(rel),
                if stamp.is_none() { "/" } else { "" }
            )
        })
        .collect()
}

#[test]
fn a_walk_lists_every_entry_without_following_links() {
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path();
    std::fs::create_dir_all(root.join("a/b/c")).expect("mkdir");
    std::fs::write(root.join("a/b/c/f"), b"x").expect("write");
    std::fs::write(root.join("top"), b"hello").expect("write");
    std::os::unix::fs::symlink("a", root.join("link-to-dir")).expect("symlink");
    std::os::unix::fs::symlink("/nowhere", root.join("dangling")).expect("symlink");
    nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let name = std::ffi::OsStr::from_bytes(b"\xffnot-utf8\nname");
    std::fs::write(root.join(name), b"").expect("write");
    let tree = walked(root, 1);
    assert_eq!(
        names(&tree),
        vec![
            "/a/",
            "/a/b/",
            "/a/b/c/",
            "/a/b/c/f",
            "/dangling",
            "/fifo",
            "/link-to-dir",
            "/top",
            "/\u{fffd}not-utf8\nname",
        ]
    );
    let top = flatten(&tree)[&join(bytes(root), b"top")].expect("a file");
    let meta = std::fs::symlink_metadata(root.join("top")).expect("stat");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (top.size, top.ino, top.mtime_sec, i64::from(top.mtime_nsec)),
        (5, meta.ino(), meta.mtime(), meta.mtime_nsec())
    );
    assert_eq!(walked(root, 4), tree, "as many threads, the same snapshot");
}

#[test]
fn a_parallel_walk_of_a_wide_and_deep_tree_finds_what_one_thread_finds() {
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path();
    for i in 0..60 {
        let dir = root.join(format!("d{i}/e{}", i % 7));
        std::fs::create_dir_all(&dir).expect("mkdir");
        for j in 0..(i % 5) {
            std::fs::write(dir.join(format!("f{j}")), b"x").expect("write");
        }
    }
    // Deep: 1,500 levels (path length near PATH_MAX).
    let mut deep = root.join("deep");
    for _ in 0..1500 {
        deep.push("d");
    }
    std::fs::create_dir_all(&deep).expect("mkdir");
    std::fs::write(deep.join("leaf"), b"x").expect("write");
    let one = flatten(&walked(root, 1));
    let many = flatten(&walked(root, 8));
    assert_eq!(one.len(), 60 + 60 + 120 + 1500 + 1 + 1);
    assert_eq!(one, many);
}

#[test]
fn a_walk_leaves_out_what_the_ignore_rules_match_before_opening_it() {
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path();
    std::fs::create_dir_all(root.join("node_modules/pkg")).expect("mkdir");
    std::fs::create_dir_all(root.join("src")).expect("mkdir");
    std::fs::write(root.join("src/a.ts"), b"").expect("write");
    std::fs::write(root.join("src/a.log"), b"").expect("write");
    std::fs::write(root.join("node_modules/pkg/i.js"), b"").expect("write");
    let mut rules =
        IgnoreRules::new(vec!["/node_modules".into(), "*.log".into()], &[], false).expect("valid");
    rules.add_root(bytes(root)).expect("no file read");
    let tree = crate::snapshot_walk::walk(
        bytes(root),
        WalkOptions {
            ignore: Some(&rules),
            threads: 2,
        },
    )
    .expect("walks");
    assert_eq!(names(&tree), vec!["/src/", "/src/a.ts"]);
}

#[test]
fn a_walk_of_a_missing_root_or_a_file_fails_with_the_errno_and_the_path() {
    let temp = tempfile::tempdir().expect("temp dir");
    let missing = temp.path().join("missing");
    let file = temp.path().join("file");
    std::fs::write(&file, b"").expect("write");
    for (path, errno) in [(&missing, libc_errno::ENOENT), (&file, libc_errno::ENOTDIR)] {
        match crate::snapshot_walk::walk(bytes(path), WalkOptions::default()) {
            Err(Error::Sys {
                syscall: "open",
                errno: got,
                path: Some(got_path),
            }) => {
                assert_eq!((got, got_path.as_slice()), (errno, bytes(path)));
            }
            other => panic!("expected an open error, got {other:?}"),
        }
    }
}

mod libc_errno {
    pub const ENOENT: i32 = 2;
    pub const ENOTDIR: i32 = 20;
}

#[test]
fn events_since_reports_what_changed_on_disk_since_write_snapshot() {
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path().join("root");
    let snap = temp.path().join("snap");
    std::fs::create_dir_all(root.join("d/sub")).expect("mkdir");
    std::fs::write(root.join("keep"), b"1").expect("write");
    std::fs::write(root.join("change"), b"1").expect("write");
    std::fs::write(root.join("d/sub/gone"), b"1").expect("write");
    std::fs::write(root.join("old-name"), b"1").expect("write");
    write_snapshot(bytes(&root), bytes(&snap), WalkOptions::default()).expect("written");
    assert!(changes_since(&root, &snap).is_empty());
    std::fs::write(root.join("change"), b"22").expect("write");
    std::fs::remove_dir_all(root.join("d")).expect("rm");
    std::fs::rename(root.join("old-name"), root.join("new-name")).expect("mv");
    std::fs::create_dir(root.join("made")).expect("mkdir");
    let events = changes_since(&root, &snap);
    let r = root.to_string_lossy().into_owned();
    assert_eq!(
        events,
        vec![
            (Update, format!("{r}/change")),
            (Delete, format!("{r}/d")),
            (Delete, format!("{r}/d/sub")),
            (Delete, format!("{r}/d/sub/gone")),
            (Create, format!("{r}/made")),
            (Create, format!("{r}/new-name")),
            (Delete, format!("{r}/old-name")),
        ]
    );
    let left: Vec<_> = std::fs::read_dir(temp.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        left.len(),
        2,
        "no temporary file left beside the snapshot: {left:?}"
    );
}

fn changes_since(root: &Path, snap: &Path) -> Vec<(ChangeKind, String)> {
    strs(&events_since(bytes(root), bytes(snap), WalkOptions::default()).expect("compared"))
}

#[test]
fn a_snapshot_file_that_cannot_be_opened_is_named_as_parcel_names_it() {
    let temp = tempfile::tempdir().expect("temp dir");
    let missing = temp.path().join("no/such/dir/snap");
    let error = write_snapshot(bytes(temp.path()), bytes(&missing), WalkOptions::default())
        .expect_err("no dir");
    assert!(
        matches!(error, Error::SnapshotFile { errno: 2, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "Unable to open snapshot file: No such file or directory ('{}')",
            missing.display()
        )
    );
    let error = events_since(bytes(temp.path()), bytes(&missing), WalkOptions::default())
        .expect_err("no file");
    assert!(error
        .to_string()
        .starts_with("Unable to open snapshot file: No such file or directory"));
    // The snapshot's error comes before the walk's, as in @parcel/watcher.
    let error = events_since(b"/no/such/root", bytes(&missing), WalkOptions::default())
        .expect_err("neither");
    assert!(matches!(error, Error::SnapshotFile { .. }), "{error:?}");
    let snap = temp.path().join("snap");
    std::fs::write(&snap, b"garbage").expect("write");
    let error = events_since(bytes(temp.path()), bytes(&snap), WalkOptions::default())
        .expect_err("garbage");
    assert!(matches!(error, Error::SnapshotCorrupt { .. }), "{error:?}");
    assert_eq!(error.path(), Some(bytes(&snap)));
}
