//! What changed, per path: a tree's kernel events turned into the high-level changes tooling wants
//! (`create`, `modify`, `delete`, `rename`, `overflow`), renames paired by cookie, and coalesced per
//! path until the consumer takes them (create then modify is one create, create then delete is
//! nothing, an editor's write-temp-then-rename-over is one modify).
//!
//! The reader routes a change tree's events into a [`ChangeLog`] (its [`Sink`]) while it reads, off
//! the session's lock, and applies the log to the session's [`ChangeSet`] once per read, under it:
//! coalescing is then exactly what it would be event by event, and a consumer never takes a set
//! that holds half of one read (a directory's `IN_DELETE_SELF` apart from its parent's `IN_DELETE`).
//! A taken set crosses as bytes in the format of [`crate::changes_wire`].

use crate::event::RawEvent;
use crate::mask::{
    IN_ATTRIB, IN_CLOSE_WRITE, IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_ISDIR, IN_MODIFY,
    IN_MOVED_FROM, IN_MOVED_TO, IN_Q_OVERFLOW,
};
use crate::path_index::PathIndex;
use crate::paths::{is_below, join};
use crate::sink::Sink;
use crate::wire::{DecodedEvent, COLUMNS, FLAG_REPLACED, FLAG_SYNTHETIC};

use crate::changes_wire::ChangesEncoder;
pub use crate::changes_wire::{Change, ChangeKind};

/// The events a tree watched for changes asks the kernel for.
pub const CHANGES_MASK: u32 = IN_CREATE
    | IN_MODIFY
    | IN_CLOSE_WRITE
    | IN_ATTRIB
    | IN_DELETE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_DELETE_SELF;

/// A rename's first half, waiting for its `IN_MOVED_TO`.
#[derive(Debug)]
struct PendingMove {
    cookie: u32,
    path: Vec<u8>,
    is_dir: bool,
}

/// Changes not yet taken, coalesced per path, in the order each path first changed.
#[derive(Debug, Default)]
pub struct ChangeSet {
    changes: Vec<Option<Change>>,
    /// The live change of each path.
    by_path: PathIndex,
    moves: Vec<PendingMove>,
    live: usize,
    bytes: usize,
}

/// One event a change tree reported, as a [`ChangeSet`] takes it: its path joined already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    /// The kernel's mask.
    pub mask: u32,
    /// The kernel's cookie (pairs a rename's halves).
    pub cookie: u32,
    /// The engine's flags ([`FLAG_SYNTHETIC`], [`FLAG_REPLACED`]).
    pub flags: u32,
    /// The watch's path joined with the event's name; `None` for an event without a watch path
    /// (`IN_Q_OVERFLOW`).
    pub path: Option<Vec<u8>>,
    /// The event has a name: it is about an entry of the watched directory, not the directory.
    pub named: bool,
}

impl ChangeEvent {
    /// `event`, reported under the watch's path `dir`, with `flags`.
    pub fn new(event: &RawEvent<'_>, dir: Option<&[u8]>, flags: u32) -> Self {
        let named = !event.name.is_empty();
        Self {
            mask: event.mask,
            cookie: event.cookie,
            flags,
            path: dir.map(|dir| {
                if named {
                    join(dir, event.name)
                } else {
                    dir.to_vec()
                }
            }),
            named,
        }
    }
}

/// What routing reported for a change tree during one read, in order, waiting to be applied to its
/// [`ChangeSet`] ([`ChangeLog::apply_to`]).
#[derive(Debug, Default)]
pub struct ChangeLog {
    events: Vec<ChangeEvent>,
    bytes: usize,
}

impl ChangeLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of events logged.
    pub fn event_count(&self) -> u32 {
        self.events.len() as u32
    }

    /// About as many bytes as the same events take in a batch ([`crate::wire`]), so that a read
    /// for a change tree ends where one for a raw tree would.
    pub fn byte_len(&self) -> usize {
        self.bytes
    }

    /// Applies every logged event to `set`, in order.
    pub fn apply_to(self, set: &mut ChangeSet) {
        for event in self.events {
            set.apply(event);
        }
    }
}

impl Sink for ChangeLog {
    fn push(&mut self, event: &RawEvent<'_>, path: Option<&[u8]>, flags: u32) {
        self.bytes += 4 * COLUMNS + event.name.len();
        self.events.push(ChangeEvent::new(event, path, flags));
    }
}

impl Sink for ChangeSet {
    fn push(&mut self, event: &RawEvent<'_>, path: Option<&[u8]>, flags: u32) {
        self.apply(ChangeEvent::new(event, path, flags));
    }
}

impl ChangeSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many changes wait.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether nothing waits (a rename's first half may, until [`ChangeSet::settle`]).
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// About how many bytes the waiting changes take, to bound the set.
    pub fn byte_len(&self) -> usize {
        self.bytes
    }

    /// Takes in one event read back from a batch (for tests and Rust consumers of batches).
    pub fn add(&mut self, event: &DecodedEvent) {
        let raw = RawEvent {
            wd: event.wd,
            mask: event.mask,
            cookie: event.cookie,
            len: event.len,
            name: &event.name,
        };
        self.apply(ChangeEvent::new(&raw, event.path.as_deref(), event.flags));
    }

    /// Takes in one event a tree reported.
    pub fn apply(&mut self, event: ChangeEvent) {
        let mask = event.mask;
        // The kernel queues a rename's halves next to each other: a first half followed by
        // anything but its second left the tree (a delete, in its place in the order).
        let pairs_a_move =
            mask & IN_MOVED_TO != 0 && self.moves.iter().any(|m| m.cookie == event.cookie);
        if !pairs_a_move {
            self.settle();
        }
        if mask & IN_Q_OVERFLOW != 0 {
            self.push(Change {
                kind: ChangeKind::Overflow,
                path: Vec::new(),
                old_path: None,
                is_dir: false,
                synthetic: false,
            });
            return;
        }
        let Some(path) = event.path else {
            return;
        };
        let is_dir = mask & IN_ISDIR != 0;
        let synthetic = event.flags & FLAG_SYNTHETIC != 0;
        if mask & IN_MOVED_FROM != 0 {
            self.moves.push(PendingMove {
                cookie: event.cookie,
                path,
                is_dir,
            });
        } else if mask & IN_MOVED_TO != 0 {
            let replaced = event.flags & FLAG_REPLACED != 0;
            match self.moves.iter().position(|m| m.cookie == event.cookie) {
                Some(i) => {
                    let from = self.moves.swap_remove(i);
                    self.rename(from.path, path, is_dir, replaced);
                }
                None if replaced => self.upsert(ChangeKind::Modify, path, is_dir, false),
                None => self.upsert(ChangeKind::Create, path, is_dir, false),
            }
        } else if mask & IN_CREATE != 0 {
            self.upsert(ChangeKind::Create, path, is_dir, synthetic);
        } else if mask & IN_DELETE != 0 {
            self.upsert(ChangeKind::Delete, path, is_dir, synthetic);
        } else if mask & IN_DELETE_SELF != 0 {
            // A root (a change tree reports no subdirectory's: its parent's IN_DELETE says it):
            // gone from what is watched (its watch went with it), and the consumer must hear of it.
            // Not IN_UNMOUNT: the mount point is still there, and the tree lists the directory it
            // uncovered, reporting what differs as synthetic deletes and creates.
            self.upsert(ChangeKind::Delete, path, true, false);
        } else if mask & (IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB) != 0 && event.named {
            self.upsert(ChangeKind::Modify, path, is_dir, false);
        }
    }

    /// The kernel's queue was read to its end: a rename's first half still alone left the tree
    /// (the kernel queues both halves together), so it is a delete.
    pub fn settle(&mut self) {
        for from in std::mem::take(&mut self.moves) {
            self.upsert(ChangeKind::Delete, from.path, from.is_dir, false);
        }
    }

    fn push(&mut self, change: Change) {
        self.bytes += weight(&change);
        let indexed = change.kind != ChangeKind::Overflow;
        self.changes.push(Some(change));
        if indexed {
            self.by_path.insert(&self.changes, self.changes.len() - 1);
        }
        self.live += 1;
    }

    fn remove(&mut self, path: &[u8]) -> Option<Change> {
        let index = self.by_path.remove(&self.changes, path)?;
        let change = self.changes.get_mut(index)?.take()?;
        self.live -= 1;
        Some(change)
    }

    fn live_kind(&self, path: &[u8]) -> Option<ChangeKind> {
        let index = self.by_path.get(&self.changes, path)?;
        self.changes.get(index)?.as_ref().map(|c| c.kind)
    }

    fn upsert(&mut self, kind: ChangeKind, path: Vec<u8>, is_dir: bool, synthetic: bool) {
        use ChangeKind::{Create, Delete, Modify, Rename};
        let existing = self
            .by_path
            .get(&self.changes, &path)
            .and_then(|i| self.changes.get_mut(i))
            .and_then(Option::as_mut);
        let Some(existing) = existing else {
            return self.push(Change {
                kind,
                path,
                old_path: None,
                is_dir,
                synthetic,
            });
        };
        match (existing.kind, kind) {
            (Create, Create | Modify) => existing.synthetic &= synthetic,
            // A file written, then found by a re-scan: its IN_CREATE was lost in an overflow (the
            // tree learns of a name only from IN_CREATE, IN_MOVED_TO or a scan), so the consumer
            // may never have heard of it. It is reported as what the scan says: new.
            (Modify, Create) => {
                existing.kind = Create;
                existing.is_dir = is_dir;
                existing.synthetic = synthetic;
            }
            (Modify, Modify) | (Delete, Modify) => {}
            (Modify | Delete, Delete) => existing.kind = Delete,
            (Delete, Create) if existing.is_dir == is_dir => {
                existing.kind = Modify;
                existing.synthetic = false;
            }
            // Born and gone within the set: nothing happened, as far as a consumer can tell.
            (Create, Delete) => {
                self.remove(&path);
            }
            // Renamed then deleted: the old path is what disappeared.
            (Rename, Delete) => {
                let old = existing.old_path.take().unwrap_or_default();
                self.remove(&path);
                self.upsert(Delete, old, is_dir, synthetic);
            }
            // A rename's target then modified or re-created: the rename stands, a modify follows; a
            // directory deleted and a file created in its place (or the reverse): both stand.
            _ => {
                let kind = if existing.kind == Rename {
                    Modify
                } else {
                    kind
                };
                self.by_path.remove(&self.changes, &path);
                self.push(Change {
                    kind,
                    path,
                    old_path: None,
                    is_dir,
                    synthetic,
                });
            }
        }
    }

    fn rename(&mut self, old: Vec<u8>, new: Vec<u8>, is_dir: bool, replaced: bool) {
        if is_dir {
            self.repath_below(&old, &new);
        }
        // What moved onto the target overrides what was said of it; what it means for the
        // consumer depends on whether the target existed before this set.
        let target_was = self.live_kind(&new);
        if target_was.is_some() {
            self.remove(&new);
        }
        let target_kind = match target_was {
            Some(ChangeKind::Create) => ChangeKind::Create,
            Some(ChangeKind::Delete | ChangeKind::Modify | ChangeKind::Rename) => {
                ChangeKind::Modify
            }
            _ if replaced => ChangeKind::Modify,
            _ => ChangeKind::Create,
        };
        match self.live_kind(&old) {
            // Created within the set (an editor's temp file): it appears at its new path, in the
            // place it was first reported.
            Some(ChangeKind::Create) => {
                if let Some(index) = self.by_path.remove(&self.changes, &old) {
                    if let Some(Some(change)) = self.changes.get_mut(index) {
                        change.path = new;
                        change.kind = target_kind;
                        change.synthetic = false;
                    }
                    self.by_path.insert(&self.changes, index);
                }
            }
            // Renamed twice: one rename from the first old path (none if it came back).
            Some(ChangeKind::Rename) => {
                let first = self
                    .remove(&old)
                    .and_then(|c| c.old_path)
                    .unwrap_or_default();
                if first != new {
                    self.push_rename(first, new, is_dir);
                }
            }
            Some(ChangeKind::Modify) => {
                self.remove(&old);
                self.push_rename(old, new.clone(), is_dir);
                self.upsert(ChangeKind::Modify, new, is_dir, false);
            }
            // A path the consumer knew, renamed (over another it knew, if `replaced`).
            _ => self.push_rename(old, new, is_dir),
        }
    }

    fn push_rename(&mut self, old: Vec<u8>, new: Vec<u8>, is_dir: bool) {
        self.remove(&new);
        self.push(Change {
            kind: ChangeKind::Rename,
            path: new,
            old_path: Some(old),
            is_dir,
            synthetic: false,
        });
    }

    /// A directory moved: changes below it that wait now carry its new path. Every moved change
    /// leaves the index before any re-pathed one enters it, so the result does not depend on the
    /// index's order (a re-pathed path may be one still to move when the target is below the
    /// source, as a stale path may say). A change already waiting at a re-pathed path stays
    /// reported in its place; the moved one is what later events there coalesce with.
    fn repath_below(&mut self, old: &[u8], new: &[u8]) {
        let moved = self
            .by_path
            .remove_where(&self.changes, |path| is_below(path, old));
        for &index in &moved {
            if let Some(Some(change)) = self.changes.get_mut(index) {
                let mut to = new.to_vec();
                to.extend_from_slice(change.path.get(old.len()..).unwrap_or_default());
                change.path = to;
            }
        }
        for index in moved {
            self.by_path.insert(&self.changes, index);
        }
    }

    /// Takes the first `max` waiting changes (at least one), encoded; `None` when there is none.
    /// The rest wait for the next take, still coalescing with what comes meanwhile: a consumer
    /// behind by tens of thousands of changes gets them in parts it can let go one by one.
    pub fn take_encoded(&mut self, max: usize) -> Option<Vec<u8>> {
        if self.live == 0 {
            // What coalesced away (created, then deleted) leaves nothing to take, nor to count.
            self.changes.clear();
            self.by_path.clear();
            self.bytes = 0;
            return None;
        }
        let max = max.max(1);
        let taken = self.live.min(max);
        // The slots that hold the first `taken` changes: all of them when that is every change.
        let mut end = self.changes.len();
        if taken < self.live {
            let mut counted = 0;
            end = 0;
            while counted < taken && end < self.changes.len() {
                if matches!(self.changes.get(end), Some(Some(_))) {
                    counted += 1;
                }
                end += 1;
            }
        }
        let mut encoder = ChangesEncoder::with_capacity(self.bytes / self.live * taken);
        for change in self.changes.drain(..end).flatten() {
            self.bytes = self.bytes.saturating_sub(weight(&change));
            encoder.push(&change);
        }
        self.live -= taken;
        if self.live == 0 {
            self.by_path.clear();
            self.bytes = 0;
        } else {
            self.by_path.drop_front(end);
        }
        Some(encoder.finish())
    }

    /// Takes every waiting change (for tests and Rust consumers).
    pub fn take(&mut self) -> Vec<Change> {
        let changes: Vec<Change> = self.changes.drain(..).flatten().collect();
        self.by_path.clear();
        self.live = 0;
        self.bytes = 0;
        changes
    }
}

/// About as many bytes as `change` takes encoded.
fn weight(change: &Change) -> usize {
    16 + change.path.len() + change.old_path.as_ref().map_or(0, Vec::len)
}

#[cfg(test)]
#[path = "changes_tests.rs"]
mod tests;
