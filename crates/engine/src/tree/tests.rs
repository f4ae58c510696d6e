//! The tree's bookkeeping on synthetic event sequences, against a fake file system.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::*;
use crate::tree::fs::{DirAt, DirListing, EntryKind, ListedEntry, OpenDir};
use crate::wire::{decode, BatchEncoder, DecodedEvent};

#[derive(Debug, Clone)]
enum Node {
    Dir(u64),
    File,
    Link(Vec<u8>),
}

/// An in-memory file system with inotify's watch semantics (one wd per inode, IN_ONLYDIR,
/// IN_DONT_FOLLOW, a watch limit).
#[derive(Debug, Default)]
struct FakeFs {
    nodes: BTreeMap<Vec<u8>, Node>,
    watches: HashMap<u64, i32>,
    next_wd: i32,
    next_ino: u64,
    limit: Option<usize>,
    unreadable: HashSet<Vec<u8>>,
    removed: Vec<i32>,
    /// Listings done so far.
    listings: usize,
    /// `cancelled()` turns true once this many listings were done.
    cancel_after: Option<usize>,
    /// Every watch count published through `watches_changed`.
    progress: Vec<usize>,
    /// Where `root_path` says a root (by the path it was opened at) is now; the path itself if not
    /// set, not found for a path set to `None`.
    root_moves: HashMap<Vec<u8>, Option<Vec<u8>>>,
}

fn sys(errno: i32, path: &[u8]) -> Error {
    Error::Sys {
        syscall: "fake",
        errno,
        path: Some(path.to_vec()),
    }
}

const ENOENT: i32 = 2;
const EACCES: i32 = 13;
const ENOTDIR: i32 = 20;

impl FakeFs {
    fn new(root: &str) -> Self {
        let mut fs = Self::default();
        fs.mkdir(root);
        fs
    }
    fn mkdir(&mut self, path: &str) {
        self.next_ino += 1;
        self.nodes
            .insert(path.as_bytes().to_vec(), Node::Dir(self.next_ino));
    }
    fn touch(&mut self, path: &str) {
        self.nodes.insert(path.as_bytes().to_vec(), Node::File);
    }
    fn symlink(&mut self, path: &str, target: &str) {
        self.nodes.insert(
            path.as_bytes().to_vec(),
            Node::Link(target.as_bytes().to_vec()),
        );
    }
    fn under(path: &[u8], prefix: &[u8]) -> bool {
        path == prefix || (path.starts_with(prefix) && path.get(prefix.len()) == Some(&b'/'))
    }
    fn rm(&mut self, path: &str) {
        self.nodes.retain(|p, _| !Self::under(p, path.as_bytes()));
    }
    fn mv(&mut self, from: &str, to: &str) {
        let moved: Vec<(Vec<u8>, Node)> = self
            .nodes
            .iter()
            .filter(|(p, _)| Self::under(p, from.as_bytes()))
            .map(|(p, n)| (p.clone(), n.clone()))
            .collect();
        self.rm(from);
        for (p, n) in moved {
            let mut new = to.as_bytes().to_vec();
            new.extend_from_slice(&p[from.len()..]);
            self.nodes.insert(new, n);
        }
    }
    /// Resolves symlinks in every component (the last one too, unless `no_follow_last`).
    fn resolve(&self, path: &[u8], no_follow_last: bool) -> Option<Vec<u8>> {
        let parts: Vec<&[u8]> = path
            .split(|b| *b == b'/')
            .filter(|p| !p.is_empty())
            .collect();
        let mut current = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            current.push(b'/');
            current.extend_from_slice(part);
            let last = i + 1 == parts.len();
            for _ in 0..40 {
                match self.nodes.get(&current)? {
                    Node::Link(target) if !(last && no_follow_last) => {
                        current = if target.starts_with(b"/") {
                            target.clone()
                        } else {
                            // Relative to the link's directory; only ".." is used by the tests.
                            let mut parent = current.clone();
                            let cut = parent.iter().rposition(|b| *b == b'/').unwrap_or(0);
                            parent.truncate(cut);
                            if target == b".." {
                                let cut = parent.iter().rposition(|b| *b == b'/').unwrap_or(0);
                                parent.truncate(cut);
                                parent
                            } else {
                                join(&parent, target)
                            }
                        };
                    }
                    _ => break,
                }
            }
        }
        Some(current)
    }
    fn wd_of_path(&self, path: &str) -> Option<i32> {
        let resolved = self.resolve(path.as_bytes(), false)?;
        match self.nodes.get(&resolved)? {
            Node::Dir(ino) => self.watches.get(ino).copied(),
            _ => None,
        }
    }
}

impl TreeFs for FakeFs {
    fn open_root(&mut self, path: &[u8]) -> crate::Result<RootHandle> {
        Ok(RootHandle::unopened(path))
    }
    fn open_dir<'p>(
        &mut self,
        at: DirAt<'_, 'p>,
        _follow_links: bool,
        _for_listing: bool,
    ) -> crate::Result<OpenDir<'p>> {
        Ok(OpenDir::unopened(at.path))
    }
    fn add_watch(&mut self, dir: &OpenDir<'_>, mask: u32) -> crate::Result<i32> {
        let path = dir.path();
        let resolved = self
            .resolve(path, mask & IN_DONT_FOLLOW != 0)
            .ok_or_else(|| sys(ENOENT, path))?;
        let ino = match self.nodes.get(&resolved) {
            Some(Node::Dir(ino)) => *ino,
            Some(_) if mask & IN_ONLYDIR != 0 => return Err(sys(ENOTDIR, path)),
            Some(_) => return Err(sys(ENOTDIR, path)),
            None => return Err(sys(ENOENT, path)),
        };
        if let Some(wd) = self.watches.get(&ino) {
            return Ok(*wd);
        }
        if self.limit.is_some_and(|l| self.watches.len() >= l) {
            return Err(sys(crate::sys::ENOSPC, path));
        }
        self.next_wd += 1;
        self.watches.insert(ino, self.next_wd);
        Ok(self.next_wd)
    }
    fn rm_watch(&mut self, wd: i32) {
        self.watches.retain(|_, w| *w != wd);
        self.removed.push(wd);
    }
    fn list_dir(&mut self, dir: &OpenDir<'_>) -> crate::Result<DirListing> {
        let path = dir.path();
        self.listings += 1;
        let dir = self.resolve(path, false).ok_or_else(|| sys(ENOENT, path))?;
        if self.unreadable.contains(&dir) {
            return Err(sys(EACCES, path));
        }
        match self.nodes.get(&dir) {
            Some(Node::Dir(_)) => {}
            _ => return Err(sys(ENOENT, path)),
        }
        let entries: Vec<ListedEntry> = self
            .nodes
            .iter()
            .filter_map(|(p, n)| {
                let rest = p.strip_prefix(dir.as_slice())?.strip_prefix(b"/")?;
                (!rest.is_empty() && !rest.contains(&b'/')).then(|| ListedEntry {
                    name: rest.to_vec(),
                    kind: match n {
                        Node::Dir(_) => EntryKind::Dir,
                        Node::File => EntryKind::File,
                        Node::Link(_) => EntryKind::Symlink,
                    },
                })
            })
            .collect();
        // As getdents64 into a buffer of 4 entries: a call per 4 entries, then the empty one.
        let reads = entries.len() as u32 / 4 + 1;
        Ok(DirListing { entries, reads })
    }
    fn is_dir_following_links(&mut self, at: DirAt<'_, '_>) -> bool {
        self.resolve(at.path, false)
            .is_some_and(|p| matches!(self.nodes.get(&p), Some(Node::Dir(_))))
    }
    fn root_path(&mut self, root: &RootHandle) -> crate::Result<Option<Vec<u8>>> {
        match self.root_moves.get(root.path()) {
            None => Ok(Some(root.path().to_vec())),
            Some(Some(now)) => Ok(Some(now.clone())),
            Some(None) => Ok(None),
        }
    }
    fn cancelled(&self) -> bool {
        self.cancel_after.is_some_and(|n| self.listings >= n)
    }
    fn watches_changed(&mut self, count: usize) {
        self.progress.push(count);
    }
}

fn tree(mask: u32) -> Tree {
    Tree::new(TreeOptions {
        mask,
        follow_symlinks: false,
        recursive: true,
        ignore: None,
    })
}

fn ev(wd: i32, mask: u32, name: &str) -> RawEvent<'_> {
    RawEvent {
        wd,
        mask,
        cookie: 0,
        len: 16,
        name: name.as_bytes(),
    }
}

fn moved(wd: i32, mask: u32, cookie: u32, name: &str) -> RawEvent<'_> {
    RawEvent {
        cookie,
        ..ev(wd, mask, name)
    }
}

/// Routes the events, settles, and returns what was reported as (mask, path/name, synthetic).
fn run(t: &mut Tree, fs: &mut FakeFs, events: &[RawEvent<'_>]) -> Vec<(u32, String, bool)> {
    let mut out = BatchEncoder::new();
    for event in events {
        t.route(fs, event, &mut out);
    }
    t.settle(fs, &mut out);
    decode(&out.finish().bytes)
        .expect("well-formed batch")
        .into_iter()
        .map(|e: DecodedEvent| {
            let dir = String::from_utf8(e.path.unwrap_or_default()).expect("utf8 path");
            let name = String::from_utf8(e.name).expect("utf8 name");
            let full = if name.is_empty() {
                dir
            } else {
                format!("{dir}/{name}")
            };
            (e.mask, full, e.flags & FLAG_SYNTHETIC != 0)
        })
        .collect()
}

fn wd(fs: &FakeFs, path: &str) -> i32 {
    fs.wd_of_path(path)
        .unwrap_or_else(|| panic!("{path} is not watched"))
}

#[test]
fn a_root_is_watched_to_its_leaves_and_its_content_is_not_reported() {
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/a");
    fs.mkdir("/r/a/b");
    fs.touch("/r/a/b/f");
    fs.mkdir("/r/c");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r/");
    assert_eq!(t.watch_count(), 4);
    assert_eq!(t.path_of(wd(&fs, "/r/a/b")), Some(b"/r/a/b".to_vec()));
    assert_eq!(
        t.take_reports(),
        vec![TreeReport::RootReady {
            path: b"/r".to_vec()
        }]
    );
    assert!(run(&mut t, &mut fs, &[]).is_empty());
}

#[test]
fn a_root_renamed_in_its_directory_is_followed_and_every_path_below_changes_with_it() {
    for changes in [false, true] {
        let mut fs = FakeFs::new("/r");
        fs.mkdir("/r/a");
        fs.mkdir("/r/a/b");
        let mut t = tree(IN_ALL_EVENTS);
        if changes {
            t = t.for_changes();
        }
        t.add_root(&mut fs, b"/r");
        let root = wd(&fs, "/r");
        fs.mv("/r", "/s");
        fs.root_moves.insert(b"/r".to_vec(), Some(b"/s".to_vec()));
        let b = wd(&fs, "/s/a/b");
        let reported = run(
            &mut t,
            &mut fs,
            &[ev(root, IN_MOVE_SELF, ""), ev(b, IN_CREATE, "f")],
        );
        let mut expected = vec![(IN_MOVE_SELF, "/s".to_string(), false)];
        if changes {
            expected.push((IN_MOVED_FROM | IN_ISDIR, "/r".into(), false));
            expected.push((IN_MOVED_TO | IN_ISDIR, "/s".into(), false));
        }
        expected.push((IN_CREATE, "/s/a/b/f".into(), false));
        assert_eq!(reported, expected);
        assert_eq!(t.path_of(b), Some(b"/s/a/b".to_vec()));
        // A directory made there later is reached at its new path.
        fs.mkdir("/s/a/new");
        let a = wd(&fs, "/s/a");
        run(&mut t, &mut fs, &[ev(a, IN_CREATE | IN_ISDIR, "new")]);
        assert_eq!(t.path_of(wd(&fs, "/s/a/new")), Some(b"/s/a/new".to_vec()));
    }
}

#[test]
fn a_root_that_cannot_be_found_after_a_move_stops_being_watched_with_an_error() {
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/a");
    let mut t = tree(IN_ALL_EVENTS).for_changes();
    t.add_root(&mut fs, b"/r");
    t.take_reports();
    let root = wd(&fs, "/r");
    fs.mv("/r", "/elsewhere");
    fs.root_moves.insert(b"/r".to_vec(), None);
    let reported = run(&mut t, &mut fs, &[ev(root, IN_MOVE_SELF, "")]);
    assert_eq!(
        reported,
        vec![
            (IN_MOVE_SELF, "/r".to_string(), false),
            (IN_MOVED_FROM | IN_ISDIR, "/r".into(), false),
        ]
    );
    assert_eq!(t.watch_count(), 0);
    assert!(fs.watches.is_empty(), "every watch removed");
    assert!(matches!(
        t.take_reports().as_slice(),
        [TreeReport::Skipped { path, .. }] if path == b"/r"
    ));
}

#[test]
fn mkdir_p_then_touch_reports_every_level_once_with_synthetic_creates() {
    let mut fs = FakeFs::new("/r");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let root = wd(&fs, "/r");
    // mkdir -p a/b/c && touch a/b/c/f, all before the tree read the IN_CREATE of a.
    fs.mkdir("/r/a");
    fs.mkdir("/r/a/b");
    fs.mkdir("/r/a/b/c");
    fs.touch("/r/a/b/c/f");
    let reported = run(&mut t, &mut fs, &[ev(root, IN_CREATE | IN_ISDIR, "a")]);
    assert_eq!(
        reported,
        vec![
            (IN_CREATE | IN_ISDIR, "/r/a".into(), false),
            (IN_CREATE | IN_ISDIR, "/r/a/b".into(), true),
            (IN_CREATE | IN_ISDIR, "/r/a/b/c".into(), true),
            (IN_CREATE, "/r/a/b/c/f".into(), true),
        ]
    );
    assert_eq!(t.watch_count(), 4);
    // The kernel's own IN_CREATE events for b (after a's watch existed) repeat the synthetic ones.
    let (a, c) = (wd(&fs, "/r/a"), wd(&fs, "/r/a/b/c"));
    let again = run(
        &mut t,
        &mut fs,
        &[ev(a, IN_CREATE | IN_ISDIR, "b"), ev(c, IN_CREATE, "f")],
    );
    assert!(again.is_empty(), "repeats are not reported: {again:?}");
    // A later, real re-creation is reported.
    let later = run(
        &mut t,
        &mut fs,
        &[ev(c, IN_DELETE, "f"), ev(c, IN_CREATE, "f")],
    );
    assert_eq!(later.len(), 2);
}

#[test]
fn a_directory_renamed_inside_the_tree_keeps_its_wd_and_repaths_every_level_below() {
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/a");
    fs.mkdir("/r/a/b");
    fs.mkdir("/r/a/b/c");
    fs.mkdir("/r/x");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let (root, x, a, c) = (
        wd(&fs, "/r"),
        wd(&fs, "/r/x"),
        wd(&fs, "/r/a"),
        wd(&fs, "/r/a/b/c"),
    );
    fs.mv("/r/a", "/r/x/z");
    let reported = run(
        &mut t,
        &mut fs,
        &[
            moved(root, IN_MOVED_FROM | IN_ISDIR, 7, "a"),
            moved(x, IN_MOVED_TO | IN_ISDIR, 7, "z"),
        ],
    );
    assert_eq!(reported.len(), 2);
    assert_eq!(t.path_of(a), Some(b"/r/x/z".to_vec()));
    assert_eq!(t.path_of(c), Some(b"/r/x/z/b/c".to_vec()));
    assert_eq!(t.watch_count(), 5);
    assert!(fs.removed.is_empty(), "no watch removed by a rename");
    // Events below now carry the new path.
    let below = run(&mut t, &mut fs, &[ev(c, IN_CREATE, "f")]);
    assert_eq!(below, vec![(IN_CREATE, "/r/x/z/b/c/f".into(), false)]);
}

#[test]
fn a_directory_moved_out_of_the_tree_loses_every_watch_below_it() {
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/a");
    fs.mkdir("/r/a/b");
    fs.mkdir("/outside");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let (root, a, b) = (wd(&fs, "/r"), wd(&fs, "/r/a"), wd(&fs, "/r/a/b"));
    fs.mv("/r/a", "/outside/a");
    let reported = run(
        &mut t,
        &mut fs,
        &[moved(root, IN_MOVED_FROM | IN_ISDIR, 9, "a")],
    );
    assert_eq!(
        reported,
        vec![(IN_MOVED_FROM | IN_ISDIR, "/r/a".into(), false)]
    );
    assert_eq!(t.watch_count(), 1);
    let mut removed = fs.removed.clone();
    removed.sort_unstable();
    assert_eq!(removed, vec![a, b]);
    // Late events of the removed watches are not reported.
    assert!(run(&mut t, &mut fs, &[ev(b, IN_CREATE, "late")]).is_empty());
}

#[test]
fn events_below_a_directory_moved_out_in_the_same_read_never_carry_its_old_path() {
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/a");
    fs.mkdir("/r/a/b");
    fs.mkdir("/outside");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let (root, b) = (wd(&fs, "/r"), wd(&fs, "/r/a/b"));
    fs.mv("/r/a", "/outside/a");
    // mv a /outside; touch /outside/a/b/x: both read before the tree could drop the watches.
    let reported = run(
        &mut t,
        &mut fs,
        &[
            moved(root, IN_MOVED_FROM | IN_ISDIR, 4, "a"),
            ev(b, IN_CREATE, "x"),
            ev(root, IN_CREATE, "y"),
        ],
    );
    assert_eq!(
        reported,
        vec![
            (IN_MOVED_FROM | IN_ISDIR, "/r/a".into(), false),
            (IN_CREATE, "/r/y".into(), false)
        ]
    );
    assert_eq!(t.watch_count(), 1);
}

#[test]
fn a_tree_moved_in_from_outside_is_watched_to_its_leaves_and_its_content_reported() {
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/outside");
    fs.mkdir("/outside/m");
    fs.mkdir("/outside/m/n");
    fs.touch("/outside/m/n/f");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let root = wd(&fs, "/r");
    fs.mv("/outside/m", "/r/m");
    let reported = run(
        &mut t,
        &mut fs,
        &[moved(root, IN_MOVED_TO | IN_ISDIR, 3, "m")],
    );
    assert_eq!(
        reported,
        vec![
            (IN_MOVED_TO | IN_ISDIR, "/r/m".into(), false),
            (IN_CREATE | IN_ISDIR, "/r/m/n".into(), true),
            (IN_CREATE, "/r/m/n/f".into(), true),
        ]
    );
    assert_eq!(t.watch_count(), 3);
}

#[test]
fn a_deleted_directory_is_forgotten_and_watched_again_when_recreated() {
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/d");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let (root, d) = (wd(&fs, "/r"), wd(&fs, "/r/d"));
    fs.rm("/r/d");
    fs.watches.retain(|_, w| *w != d);
    let reported = run(
        &mut t,
        &mut fs,
        &[
            ev(d, IN_DELETE_SELF, ""),
            ev(d, IN_IGNORED, ""),
            ev(root, IN_DELETE | IN_ISDIR, "d"),
        ],
    );
    assert_eq!(reported.len(), 3);
    assert_eq!(t.watch_count(), 1);
    fs.mkdir("/r/d");
    run(&mut t, &mut fs, &[ev(root, IN_CREATE | IN_ISDIR, "d")]);
    let new_d = wd(&fs, "/r/d");
    assert_ne!(new_d, d);
    assert_eq!(t.path_of(new_d), Some(b"/r/d".to_vec()));
    assert_eq!(t.watch_count(), 2);
}

#[test]
fn the_users_mask_is_what_is_reported_while_the_bookkeeping_still_runs() {
    let mut fs = FakeFs::new("/r");
    let mut t = tree(IN_CLOSE_WRITE);
    t.add_root(&mut fs, b"/r");
    let root = wd(&fs, "/r");
    fs.mkdir("/r/new");
    fs.touch("/r/new/f");
    let reported = run(&mut t, &mut fs, &[ev(root, IN_CREATE | IN_ISDIR, "new")]);
    assert!(reported.is_empty(), "{reported:?}");
    assert_eq!(
        t.watch_count(),
        2,
        "the new directory is watched all the same"
    );
    let new = wd(&fs, "/r/new");
    let closes = run(
        &mut t,
        &mut fs,
        &[ev(new, IN_CLOSE_WRITE, "f"), ev(new, IN_OPEN, "f")],
    );
    assert_eq!(closes, vec![(IN_CLOSE_WRITE, "/r/new/f".into(), false)]);
    assert_eq!(
        t.watch_mask & (IN_CREATE | IN_MOVED_FROM | IN_CLOSE_WRITE),
        IN_CREATE | IN_MOVED_FROM | IN_CLOSE_WRITE
    );
}

#[test]
fn after_an_overflow_the_tree_is_listed_again_and_the_differences_reported() {
    let mut fs = FakeFs::new("/r");
    fs.touch("/r/kept");
    fs.touch("/r/gone");
    fs.mkdir("/r/olddir");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let olddir = wd(&fs, "/r/olddir");
    // What happened while the kernel queue overflowed:
    fs.rm("/r/gone");
    fs.rm("/r/olddir");
    fs.touch("/r/added");
    fs.mkdir("/r/newdir");
    fs.touch("/r/newdir/inner");
    let overflow = RawEvent {
        wd: -1,
        mask: IN_Q_OVERFLOW,
        cookie: 0,
        len: 0,
        name: b"",
    };
    let reported = run(&mut t, &mut fs, &[overflow]);
    assert_eq!(
        reported,
        vec![
            (IN_Q_OVERFLOW, String::new(), false),
            (IN_DELETE, "/r/gone".into(), true),
            (IN_DELETE | IN_ISDIR, "/r/olddir".into(), true),
            (IN_CREATE, "/r/added".into(), true),
            (IN_CREATE | IN_ISDIR, "/r/newdir".into(), true),
            (IN_CREATE, "/r/newdir/inner".into(), true),
        ]
    );
    assert!(fs.removed.contains(&olddir));
    assert_eq!(t.watch_count(), 2);
}

#[test]
fn symlinks_are_not_followed_unless_asked_and_a_loop_ends() {
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/d");
    fs.mkdir("/elsewhere");
    fs.symlink("/r/d/link", "/elsewhere");
    fs.symlink("/r/d/loop", "..");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    assert_eq!(t.watch_count(), 2);

    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/d");
    fs.mkdir("/elsewhere");
    fs.symlink("/r/d/link", "/elsewhere");
    fs.symlink("/r/d/loop", "..");
    let mut followed = Tree::new(TreeOptions {
        mask: IN_ALL_EVENTS,
        follow_symlinks: true,
        recursive: true,
        ignore: None,
    });
    followed.add_root(&mut fs, b"/r");
    // /r, /r/d and /elsewhere (through the link); the loop back to /r is the same inode: no new watch.
    assert_eq!(followed.watch_count(), 3);
    assert_eq!(
        followed.take_reports(),
        vec![TreeReport::RootReady {
            path: b"/r".to_vec()
        }]
    );
}

#[test]
fn the_watch_limit_is_reported_with_the_numbers_and_what_is_watched_keeps_working() {
    let mut fs = FakeFs::new("/r");
    for d in ["/r/a", "/r/a/x", "/r/b", "/r/c", "/r/c/y", "/r/c/y/z"] {
        fs.mkdir(d);
    }
    fs.limit = Some(3);
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    assert_eq!(t.watch_count(), 3);
    let reports = t.take_reports();
    assert_eq!(
        reports[0],
        TreeReport::WatchLimit {
            path: b"/r".to_vec(),
            needed: 7,
            watched: 3
        }
    );
    assert!(matches!(reports[1], TreeReport::RootReady { .. }));
    let root = wd(&fs, "/r");
    let still = run(&mut t, &mut fs, &[ev(root, IN_CREATE, "f")]);
    assert_eq!(still, vec![(IN_CREATE, "/r/f".into(), false)]);
}

#[test]
fn an_unreadable_directory_is_reported_and_skipped_and_the_rest_is_watched() {
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/locked");
    fs.mkdir("/r/locked/inner");
    fs.mkdir("/r/open");
    fs.mkdir("/r/open/deep");
    fs.unreadable.insert(b"/r/locked".to_vec());
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let reports = t.take_reports();
    assert!(
        matches!(&reports[0], TreeReport::Skipped { path, error: Error::Sys { errno, .. } } if path == b"/r/locked" && *errno == EACCES)
    );
    assert_eq!(
        t.watch_count(),
        4,
        "/r, /r/locked (watchable, not listable), /r/open, /r/open/deep"
    );
}

#[test]
fn a_missing_root_or_a_file_root_fails_with_the_kernels_error() {
    let mut fs = FakeFs::new("/r");
    fs.touch("/r/file");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/missing");
    t.add_root(&mut fs, b"/r/file");
    let reports = t.take_reports();
    assert!(
        matches!(&reports[0], TreeReport::RootFailed { error: Error::Sys { errno, .. }, .. } if *errno == ENOENT)
    );
    assert!(
        matches!(&reports[1], TreeReport::RootFailed { error: Error::Sys { errno, .. }, .. } if *errno == ENOTDIR)
    );
    assert_eq!(t.watch_count(), 0);
}

#[derive(Debug)]
struct IgnoreNamed(&'static str);
impl IgnoreRule for IgnoreNamed {
    fn is_ignored(&self, path: &[u8], _is_dir: bool) -> bool {
        path.ends_with(self.0.as_bytes())
    }
}

#[test]
fn ignored_paths_get_no_watch_and_no_event() {
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/node_modules");
    fs.mkdir("/r/node_modules/pkg");
    fs.mkdir("/r/src");
    let mut t = Tree::new(TreeOptions {
        mask: IN_ALL_EVENTS,
        follow_symlinks: false,
        recursive: true,
        ignore: Some(Box::new(IgnoreNamed("node_modules"))),
    });
    t.add_root(&mut fs, b"/r");
    assert_eq!(t.watch_count(), 2);
    let root = wd(&fs, "/r");
    let reported = run(
        &mut t,
        &mut fs,
        &[
            ev(root, IN_CREATE | IN_ISDIR, "node_modules"),
            ev(root, IN_CREATE, "kept"),
        ],
    );
    assert_eq!(reported, vec![(IN_CREATE, "/r/kept".into(), false)]);
}

#[test]
fn a_scan_publishes_its_progress_and_gives_up_when_cancelled() {
    let mut fs = FakeFs::new("/r");
    for i in 0..50 {
        fs.mkdir(&format!("/r/d{i}"));
        fs.touch(&format!("/r/d{i}/f"));
    }
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    assert_eq!(t.watch_count(), 51);
    assert_eq!(fs.progress, (1..=51).collect::<Vec<_>>());

    // A chain /r/a/a/a/...: each listing finds one more directory.
    let mut fs = FakeFs::new("/r");
    let mut path = String::from("/r");
    for _ in 0..50 {
        path.push_str("/a");
        fs.mkdir(&path);
    }
    fs.cancel_after = Some(3);
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    assert_eq!(fs.listings, 3, "the scan stops listing once cancelled");
    // Each directory is watched when it is listed, not before: none is left watched unlisted.
    assert_eq!(t.watch_count(), 3);
}

#[test]
fn a_directory_moved_over_an_empty_one_replaces_it_and_stays_watched() {
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/a");
    fs.mkdir("/r/a/sub");
    fs.mkdir("/r/b");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let (root, a, sub, b) = (
        wd(&fs, "/r"),
        wd(&fs, "/r/a"),
        wd(&fs, "/r/a/sub"),
        wd(&fs, "/r/b"),
    );
    fs.rm("/r/b");
    fs.mv("/r/a", "/r/b");
    let reported = run(
        &mut t,
        &mut fs,
        &[
            moved(root, IN_MOVED_FROM | IN_ISDIR, 7, "a"),
            moved(root, IN_MOVED_TO | IN_ISDIR, 7, "b"),
        ],
    );
    assert_eq!(reported[1].0 & IN_MOVED_TO, IN_MOVED_TO);
    assert_eq!(
        t.path_of(a),
        Some(b"/r/b".to_vec()),
        "the moved directory keeps its wd"
    );
    assert_eq!(t.path_of(sub), Some(b"/r/b/sub".to_vec()));
    assert_eq!(t.path_of(b), None, "the replaced directory is forgotten");
    assert_eq!(t.watch_count(), 3);
    let below = run(&mut t, &mut fs, &[ev(sub, IN_CREATE, "f")]);
    assert_eq!(below, vec![(IN_CREATE, "/r/b/sub/f".into(), false)]);
}

#[test]
fn a_tree_that_is_not_recursive_watches_its_root_alone_and_reports_its_entries() {
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/a");
    fs.mkdir("/r/a/b");
    let mut t = Tree::new(TreeOptions {
        mask: IN_ALL_EVENTS,
        follow_symlinks: false,
        recursive: false,
        ignore: None,
    });
    t.add_root(&mut fs, b"/r");
    assert_eq!(t.watch_count(), 1);
    let root = wd(&fs, "/r");
    fs.mkdir("/r/n");
    fs.touch("/r/n/f");
    let reported = run(&mut t, &mut fs, &[ev(root, IN_CREATE | IN_ISDIR, "n")]);
    assert_eq!(reported, vec![(IN_CREATE | IN_ISDIR, "/r/n".into(), false)]);
    assert_eq!(
        t.watch_count(),
        1,
        "a new subdirectory is not watched either"
    );
}

#[test]
fn a_symlink_to_a_directory_made_later_is_followed_when_asked() {
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/other");
    fs.touch("/other/f");
    let mut t = Tree::new(TreeOptions {
        mask: IN_ALL_EVENTS,
        follow_symlinks: true,
        recursive: true,
        ignore: None,
    });
    t.add_root(&mut fs, b"/r");
    let root = wd(&fs, "/r");
    fs.symlink("/r/link", "/other");
    let reported = run(&mut t, &mut fs, &[ev(root, IN_CREATE, "link")]);
    assert_eq!(t.watch_count(), 2, "the link's target is watched");
    assert!(reported.contains(&(IN_CREATE, "/r/link/f".into(), true)));
}

#[test]
fn the_watch_limit_met_by_many_new_directories_is_one_report_with_the_total() {
    let mut fs = FakeFs::new("/r");
    fs.limit = Some(2);
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    t.take_reports();
    let root = wd(&fs, "/r");
    for name in ["a", "b", "c", "d"] {
        fs.mkdir(&format!("/r/{name}"));
    }
    let events: Vec<RawEvent<'_>> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| ev(root, IN_CREATE | IN_ISDIR, n))
        .collect();
    run(&mut t, &mut fs, &events);
    assert_eq!(
        t.take_reports(),
        vec![TreeReport::WatchLimit {
            path: b"/r/b".to_vec(),
            needed: 5,
            watched: 2
        }]
    );
}

#[test]
fn a_root_the_limit_leaves_no_watch_for_is_a_watch_limit_report() {
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/a");
    fs.limit = Some(0);
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    assert_eq!(
        t.take_reports(),
        vec![
            TreeReport::WatchLimit {
                path: b"/r".to_vec(),
                needed: 2,
                watched: 0
            },
            TreeReport::RootReady {
                path: b"/r".to_vec()
            }
        ]
    );
}

#[test]
fn a_directory_moved_out_and_straight_back_in_is_watched_where_it_landed_with_its_content() {
    // `mv r/A/m1 /o/ && touch /o/m1/inner/while-out && mv /o/m1 r/C/`, read in one go. The two
    // moves have different cookies; the kernel kept m1's watches while it was outside, so the
    // watch asked for at r/C/m1 is m1's own: it is taken back there, not dropped with the move out.
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/o");
    fs.mkdir("/r/A");
    fs.mkdir("/r/C");
    fs.mkdir("/r/A/m1");
    fs.mkdir("/r/A/m1/inner");
    fs.touch("/r/A/m1/inner/old");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let (a, c, m1, inner) = (
        wd(&fs, "/r/A"),
        wd(&fs, "/r/C"),
        wd(&fs, "/r/A/m1"),
        wd(&fs, "/r/A/m1/inner"),
    );
    fs.mv("/r/A/m1", "/o/m1");
    fs.touch("/o/m1/inner/while-out");
    fs.mv("/o/m1", "/r/C/m1");
    let reported = run(
        &mut t,
        &mut fs,
        &[
            moved(a, IN_MOVED_FROM | IN_ISDIR, 1, "m1"),
            ev(inner, IN_CREATE, "while-out"),
            moved(c, IN_MOVED_TO | IN_ISDIR, 2, "m1"),
        ],
    );
    assert_eq!(
        reported,
        vec![
            (IN_MOVED_FROM | IN_ISDIR, "/r/A/m1".into(), false),
            (IN_MOVED_TO | IN_ISDIR, "/r/C/m1".into(), false),
            (IN_CREATE | IN_ISDIR, "/r/C/m1/inner".into(), true),
            (IN_CREATE, "/r/C/m1/inner/old".into(), true),
            (IN_CREATE, "/r/C/m1/inner/while-out".into(), true),
        ]
    );
    assert_eq!(t.path_of(m1), Some(b"/r/C/m1".to_vec()));
    assert_eq!(t.path_of(inner), Some(b"/r/C/m1/inner".to_vec()));
    assert_eq!(
        wd(&fs, "/r/C/m1/inner"),
        inner,
        "the kernel's watches were kept"
    );
    assert_eq!(t.watch_count(), 5);
    assert_eq!(t.watch_count(), fs.watches.len());
    let write = run(&mut t, &mut fs, &[ev(inner, IN_CLOSE_WRITE, "old")]);
    assert_eq!(
        write,
        vec![(IN_CLOSE_WRITE, "/r/C/m1/inner/old".into(), false)]
    );
}

#[test]
fn a_directory_moved_out_and_back_twice_into_a_new_directory_is_watched_where_it_landed() {
    // `mv r/A/m1 /o/; mv /o/m1 r/A/; mv r/A/m1 /o/; mkdir r/N; mv /o/m1 r/N/`, read late: the
    // scan of N meets m1 before the IN_MOVED_TO that puts it there is read (in the next batch).
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/o");
    fs.mkdir("/r/A");
    fs.mkdir("/r/A/m1");
    fs.mkdir("/r/A/m1/inner");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let (root, a, m1, inner) = (
        wd(&fs, "/r"),
        wd(&fs, "/r/A"),
        wd(&fs, "/r/A/m1"),
        wd(&fs, "/r/A/m1/inner"),
    );
    fs.mv("/r/A/m1", "/o/m1");
    fs.mv("/o/m1", "/r/A/m1");
    fs.mv("/r/A/m1", "/o/m1");
    fs.mkdir("/r/N");
    fs.mv("/o/m1", "/r/N/m1");
    run(
        &mut t,
        &mut fs,
        &[
            moved(a, IN_MOVED_FROM | IN_ISDIR, 1, "m1"),
            moved(a, IN_MOVED_TO | IN_ISDIR, 2, "m1"),
            moved(a, IN_MOVED_FROM | IN_ISDIR, 3, "m1"),
            ev(root, IN_CREATE | IN_ISDIR, "N"),
        ],
    );
    let n = wd(&fs, "/r/N");
    let reported = run(
        &mut t,
        &mut fs,
        &[moved(n, IN_MOVED_TO | IN_ISDIR, 4, "m1")],
    );
    assert_eq!(
        reported,
        vec![(IN_MOVED_TO | IN_ISDIR, "/r/N/m1".into(), false)]
    );
    assert_eq!(t.path_of(m1), Some(b"/r/N/m1".to_vec()));
    assert_eq!(t.path_of(inner), Some(b"/r/N/m1/inner".to_vec()));
    assert_eq!(t.watch_count(), 5);
    assert_eq!(t.watch_count(), fs.watches.len());
}

#[test]
fn an_unmount_inside_the_tree_uncovers_the_mount_point_which_is_watched_and_listed_again() {
    // `mount -t tmpfs none r/mp` over r/mp (holding `covered`), then `umount r/mp`: every watch of
    // the tmpfs gets IN_UNMOUNT and IN_IGNORED, deepest first; r/mp is then the covered directory.
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/mp");
    fs.touch("/r/mp/on-tmpfs");
    fs.mkdir("/r/mp/sub");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let (mp, sub) = (wd(&fs, "/r/mp"), wd(&fs, "/r/mp/sub"));
    fs.rm("/r/mp");
    fs.watches.retain(|_, w| *w != mp && *w != sub);
    fs.mkdir("/r/mp");
    fs.touch("/r/mp/covered");
    fs.mkdir("/r/mp/old");
    let reported = run(
        &mut t,
        &mut fs,
        &[
            ev(sub, IN_UNMOUNT | IN_ISDIR, ""),
            ev(sub, IN_IGNORED, ""),
            ev(mp, IN_UNMOUNT | IN_ISDIR, ""),
            ev(mp, IN_IGNORED, ""),
        ],
    );
    assert_eq!(
        reported,
        vec![
            (IN_UNMOUNT | IN_ISDIR, "/r/mp/sub".into(), false),
            (IN_IGNORED, "/r/mp/sub".into(), false),
            (IN_UNMOUNT | IN_ISDIR, "/r/mp".into(), false),
            (IN_IGNORED, "/r/mp".into(), false),
            (IN_DELETE, "/r/mp/on-tmpfs".into(), true),
            (IN_DELETE | IN_ISDIR, "/r/mp/sub".into(), true),
            (IN_CREATE, "/r/mp/covered".into(), true),
            (IN_CREATE | IN_ISDIR, "/r/mp/old".into(), true),
        ]
    );
    let uncovered = wd(&fs, "/r/mp");
    assert_ne!(uncovered, mp);
    assert_eq!(t.path_of(uncovered), Some(b"/r/mp".to_vec()));
    assert_eq!(t.path_of(wd(&fs, "/r/mp/old")), Some(b"/r/mp/old".to_vec()));
    assert_eq!(t.watch_count(), 3);
    assert_eq!(t.watch_count(), fs.watches.len());
    assert!(t
        .take_reports()
        .iter()
        .all(|r| matches!(r, TreeReport::RootReady { .. })));
}

#[test]
fn an_unmount_read_in_two_drains_reports_the_same_and_no_error() {
    // The reader can drain the queue between the watches of one unmount: the directory below the
    // mount point is then uncovered alone, and is not there (its parent's file system went too).
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/mp");
    fs.touch("/r/mp/on-tmpfs");
    fs.mkdir("/r/mp/sub");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let (mp, sub) = (wd(&fs, "/r/mp"), wd(&fs, "/r/mp/sub"));
    fs.rm("/r/mp");
    fs.watches.retain(|_, w| *w != mp && *w != sub);
    fs.mkdir("/r/mp");
    fs.touch("/r/mp/covered");
    let mut reported = run(
        &mut t,
        &mut fs,
        &[ev(sub, IN_UNMOUNT | IN_ISDIR, ""), ev(sub, IN_IGNORED, "")],
    );
    reported.extend(run(
        &mut t,
        &mut fs,
        &[ev(mp, IN_UNMOUNT | IN_ISDIR, ""), ev(mp, IN_IGNORED, "")],
    ));
    let synthetic: Vec<_> = reported.into_iter().filter(|(_, _, s)| *s).collect();
    assert_eq!(
        synthetic,
        vec![
            (IN_DELETE | IN_ISDIR, "/r/mp/sub".into(), true),
            (IN_DELETE, "/r/mp/on-tmpfs".into(), true),
            (IN_CREATE, "/r/mp/covered".into(), true),
        ]
    );
    assert_eq!(t.path_of(wd(&fs, "/r/mp")), Some(b"/r/mp".to_vec()));
    assert_eq!(t.watch_count(), fs.watches.len());
    assert!(t
        .take_reports()
        .iter()
        .all(|r| matches!(r, TreeReport::RootReady { .. })));
}

#[test]
fn a_file_system_mounted_over_a_watched_directory_is_listed_in_its_place() {
    // `mount -t tmpfs none r/mp`: no inotify event; the watch of r/mp (and r/mp/sub) stays on the
    // covered inodes. The mount table's change makes the tree ask for a watch at each mount point.
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/mp");
    fs.touch("/r/mp/covered");
    fs.mkdir("/r/mp/sub");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let (mp, sub) = (wd(&fs, "/r/mp"), wd(&fs, "/r/mp/sub"));
    fs.rm("/r/mp");
    fs.mkdir("/r/mp");
    fs.touch("/r/mp/on-tmpfs");
    let mut out = BatchEncoder::new();
    t.mounts_changed(
        &mut fs,
        &[b"/".to_vec(), b"/r/mp".to_vec(), b"/elsewhere".to_vec()],
        &mut out,
    );
    let reported: Vec<(u32, Vec<u8>, bool)> = decode(&out.finish().bytes)
        .expect("well-formed batch")
        .into_iter()
        .map(|e| {
            let path = join(&e.path.unwrap_or_default(), &e.name);
            (e.mask, path, e.flags & FLAG_SYNTHETIC != 0)
        })
        .collect();
    assert_eq!(
        reported,
        vec![
            (IN_DELETE, b"/r/mp/covered".to_vec(), true),
            (IN_DELETE | IN_ISDIR, b"/r/mp/sub".to_vec(), true),
            (IN_CREATE, b"/r/mp/on-tmpfs".to_vec(), true),
        ]
    );
    let mounted = wd(&fs, "/r/mp");
    assert_ne!(mounted, mp);
    assert_eq!(t.path_of(mounted), Some(b"/r/mp".to_vec()));
    assert!(fs.removed.contains(&mp) && fs.removed.contains(&sub));
    assert_eq!(t.watch_count(), 2);
    assert_eq!(t.watch_count(), fs.watches.len());
    // Nothing changed at the mount points since: nothing more is reported.
    let mut again = BatchEncoder::new();
    t.mounts_changed(&mut fs, &[b"/r/mp".to_vec()], &mut again);
    assert_eq!(again.event_count(), 0);
}

#[test]
fn mkdir_mv_mkdir_read_late_watches_each_directory_under_its_real_path() {
    // Found by the property tests. `mkdir a; mv a b; mkdir a`, all before the tree reads: reading
    // IN_CREATE a, the tree watches what is at /r/a by then (the second a), and the rename files
    // that watch under b. The second IN_CREATE a finds that watch again: the kernel's answer for
    // /r/b (another inode) says it moved, so it is filed under a and the first a is watched under
    // b. Deleting b then takes b's own watch along, and none is left behind.
    let mut fs = FakeFs::new("/r");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let root = wd(&fs, "/r");
    fs.mkdir("/r/a");
    fs.touch("/r/a/in-first");
    fs.mv("/r/a", "/r/b");
    fs.mkdir("/r/a");
    let reported = run(
        &mut t,
        &mut fs,
        &[
            ev(root, IN_CREATE | IN_ISDIR, "a"),
            moved(root, IN_MOVED_FROM | IN_ISDIR, 5, "a"),
            moved(root, IN_MOVED_TO | IN_ISDIR, 5, "b"),
            ev(root, IN_CREATE | IN_ISDIR, "a"),
        ],
    );
    let (first, second) = (wd(&fs, "/r/b"), wd(&fs, "/r/a"));
    assert_eq!(t.path_of(second), Some(b"/r/a".to_vec()));
    assert_eq!(t.path_of(first), Some(b"/r/b".to_vec()));
    assert!(
        reported.contains(&(IN_CREATE, "/r/b/in-first".into(), true)),
        "the first a's content is reported where it is: {reported:?}"
    );
    assert_eq!(t.watch_count(), fs.watches.len());
    fs.rm("/r/b");
    fs.watches.retain(|_, w| *w != first);
    run(
        &mut t,
        &mut fs,
        &[
            ev(first, IN_DELETE_SELF, ""),
            ev(first, IN_IGNORED, ""),
            ev(root, IN_DELETE | IN_ISDIR, "b"),
        ],
    );
    assert_eq!(t.path_of(first), None);
    assert_eq!(t.watch_count(), 2);
    assert_eq!(t.watch_count(), fs.watches.len());
}

#[test]
fn after_an_overflow_a_directory_deleted_and_made_again_is_watched_anew() {
    // Found by the property tests: `rm -r d; mkdir d` while the queue overflowed (the IN_IGNORED
    // of d's watch lost with the rest). The names match, the inodes do not: the old watch goes, the
    // new directory is watched and reported, with its content.
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/d");
    fs.mkdir("/r/d/old");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let (old_d, old_inner) = (wd(&fs, "/r/d"), wd(&fs, "/r/d/old"));
    fs.rm("/r/d");
    fs.watches.retain(|_, w| *w != old_d && *w != old_inner);
    fs.mkdir("/r/d");
    fs.touch("/r/d/f");
    let overflow = RawEvent {
        wd: -1,
        mask: IN_Q_OVERFLOW,
        cookie: 0,
        len: 0,
        name: b"",
    };
    let reported = run(&mut t, &mut fs, &[overflow]);
    assert_eq!(
        reported,
        vec![
            (IN_Q_OVERFLOW, String::new(), false),
            (IN_DELETE | IN_ISDIR, "/r/d".into(), true),
            (IN_CREATE | IN_ISDIR, "/r/d".into(), true),
            (IN_CREATE, "/r/d/f".into(), true),
        ]
    );
    let new_d = wd(&fs, "/r/d");
    assert_ne!(new_d, old_d);
    assert_eq!(t.path_of(new_d), Some(b"/r/d".to_vec()));
    assert_eq!(t.path_of(old_d), None);
    assert_eq!(t.path_of(old_inner), None);
    assert_eq!(t.watch_count(), 2);
    assert_eq!(fs.watches.len(), 2);
}

#[test]
fn the_in_ignored_of_a_deleted_directory_takes_along_the_watches_of_what_moved_away_from_under_it()
{
    // Found by the property tests: `mv d/sub /elsewhere; rmdir d` while the queue overflowed (the
    // move lost): d's IN_IGNORED must not leave sub's watch, still alive, held by the kernel alone.
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/d");
    fs.mkdir("/r/d/sub");
    fs.mkdir("/elsewhere");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let (d, sub) = (wd(&fs, "/r/d"), wd(&fs, "/r/d/sub"));
    fs.mv("/r/d/sub", "/elsewhere/sub");
    fs.rm("/r/d");
    fs.watches.retain(|_, w| *w != d);
    let overflow = RawEvent {
        wd: -1,
        mask: IN_Q_OVERFLOW,
        cookie: 0,
        len: 0,
        name: b"",
    };
    run(
        &mut t,
        &mut fs,
        &[overflow, ev(d, IN_DELETE_SELF, ""), ev(d, IN_IGNORED, "")],
    );
    assert!(fs.removed.contains(&sub));
    assert_eq!(t.watch_count(), 1);
    assert_eq!(fs.watches.len(), 1);
}

#[path = "props.rs"]
mod props;

#[test]
fn the_trees_own_listings_are_taken_out_and_anyone_elses_are_reported() {
    let mut fs = FakeFs::new("/r");
    fs.mkdir("/r/a");
    let mut t = tree(IN_ALL_EVENTS);
    t.add_root(&mut fs, b"/r");
    let (r, a) = (wd(&fs, "/r"), wd(&fs, "/r/a"));
    // What the start-up scan made the kernel queue: each directory opened before its watch was
    // added (its open is seen by its parent's watch only), listed with one getdents64 call (the
    // fake's buffer holds four entries) and closed, seen from its own watch and its parent's.
    let open = IN_OPEN | IN_ISDIR;
    let access = IN_ACCESS | IN_ISDIR;
    let close = IN_CLOSE_NOWRITE | IN_ISDIR;
    let scan = [
        ev(r, access, ""),
        ev(r, close, ""),
        ev(r, open, "a"),
        ev(r, access, "a"),
        ev(a, access, ""),
        ev(r, close, "a"),
        ev(a, close, ""),
    ];
    assert_eq!(run(&mut t, &mut fs, &scan), vec![]);
    // Another process lists a: all of it is reported.
    let theirs = [ev(a, open, ""), ev(a, access, ""), ev(a, close, "")];
    assert_eq!(
        run(&mut t, &mut fs, &theirs),
        vec![
            (open, "/r/a".to_owned(), false),
            (access, "/r/a".to_owned(), false),
            (close, "/r/a".to_owned(), false),
        ]
    );
    // A new directory is listed by the tree as it is watched: only its IN_CREATE is reported.
    fs.mkdir("/r/new");
    let created = run(&mut t, &mut fs, &[ev(r, IN_CREATE | IN_ISDIR, "new")]);
    assert_eq!(
        created,
        vec![(IN_CREATE | IN_ISDIR, "/r/new".to_owned(), false)]
    );
    let n = wd(&fs, "/r/new");
    let listing = [
        ev(r, open, "new"),
        ev(r, access, "new"),
        ev(n, access, ""),
        ev(r, close, "new"),
        ev(n, close, ""),
    ];
    assert_eq!(run(&mut t, &mut fs, &listing), vec![]);
    // Theirs of the new directory, opened after its watch: all of it shows.
    assert_eq!(run(&mut t, &mut fs, &[ev(n, open, "")]).len(), 1);
}

#[test]
fn a_change_tree_reports_a_subdirectory_deleted_by_its_parent_only_and_a_root_by_itself() {
    for changes in [false, true] {
        let mut fs = FakeFs::new("/r");
        fs.mkdir("/r/a");
        let mut t = tree(IN_ALL_EVENTS);
        if changes {
            t = t.for_changes();
        }
        t.add_root(&mut fs, b"/r");
        let (root, a) = (wd(&fs, "/r"), wd(&fs, "/r/a"));
        // rmdir a, then the root: the directory's own IN_DELETE_SELF comes before its parent's
        // IN_DELETE (a read can fall between them), then the root's own.
        let reported = run(
            &mut t,
            &mut fs,
            &[
                ev(a, IN_DELETE_SELF, ""),
                ev(a, IN_IGNORED, ""),
                ev(root, IN_DELETE | IN_ISDIR, "a"),
                ev(root, IN_DELETE_SELF, ""),
            ],
        );
        let selves: Vec<&str> = reported
            .iter()
            .filter(|(mask, _, _)| mask & IN_DELETE_SELF != 0)
            .map(|(_, path, _)| path.as_str())
            .collect();
        assert_eq!(
            selves,
            if changes {
                vec!["/r"]
            } else {
                vec!["/r/a", "/r"]
            }
        );
        assert!(reported.contains(&(IN_DELETE | IN_ISDIR, "/r/a".to_string(), false)));
    }
}
