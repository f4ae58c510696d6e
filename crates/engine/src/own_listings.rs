//! The events a tree's own directory listings cause on its own watches, and taking them out.
//!
//! A tree watches a directory before it lists it (so nothing made meanwhile is missed), so the
//! listing is seen by the tree's own watches: one `IN_OPEN` when the directory is opened, one
//! `IN_ACCESS` per `getdents64` call (the last, empty one too: `iterate_dir` notifies on every
//! call), one `IN_CLOSE_NOWRITE` when it is closed, each with `IN_ISDIR`, on the directory's own
//! watch (no name) and on its parent's (the directory's name). They are the tree's doing, not the
//! user's, and a user watching `IN_ALL_EVENTS` would otherwise see a dozen of them per new directory.
//!
//! The tree records what each listing did ([`OwnListings::expect`]) and drops that many matching
//! events, by watch, name and kind, in the order they arrive, and never more: another process
//! listing the same directory makes the same events, and whatever is left over after ours are
//! taken is theirs. The kernel merges an event identical to the last unread one in its queue (two
//! `getdents64` calls on a root whose parent is not watched arrive as one `IN_ACCESS`), so fewer
//! can arrive than were caused: once a listing's `IN_CLOSE_NOWRITE` is taken, what it still
//! expected was merged, and is dropped from the books rather than taken from someone else's
//! listing later.

use std::collections::HashMap;

use crate::mask::{IN_ACCESS, IN_CLOSE_NOWRITE, IN_ISDIR, IN_OPEN};

/// The kinds of event a listing causes.
pub const LISTING_EVENTS: u32 = IN_OPEN | IN_ACCESS | IN_CLOSE_NOWRITE;

/// Events still expected from the tree's own listings under one watch and name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Expected {
    opens: u32,
    accesses: u32,
    closes: u32,
}

/// What one listing did, as the watches saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listing {
    /// The directory was opened while this watch was in place (its `IN_OPEN` is queued).
    pub opened: bool,
    /// `getdents64` calls made.
    pub reads: u32,
}

/// The events the tree's own listings caused that have not arrived yet, by wd and name.
#[derive(Debug, Default)]
pub struct OwnListings {
    /// The listing events the tree's watches ask the kernel for (none: nothing to expect).
    kinds: u32,
    pending: HashMap<i32, Vec<(Vec<u8>, Expected)>>,
}

impl OwnListings {
    /// Books for watches that carry `watch_mask`: only the listing events it asks for arrive.
    pub fn new(watch_mask: u32) -> Self {
        Self {
            kinds: watch_mask & LISTING_EVENTS,
            pending: HashMap::new(),
        }
    }

    /// A listing seen by watch `wd` under `name` (empty: the directory's own watch). `kinds`: the
    /// listing events the kernel's watch carries when other sessions share it (their masks widen
    /// it); `None`, those of this tree's mask.
    pub fn expect(&mut self, wd: i32, name: &[u8], listing: Listing, kinds: Option<u32>) {
        let kinds = kinds.map_or(self.kinds, |k| k & LISTING_EVENTS);
        if kinds == 0 {
            return;
        }
        let names = self.pending.entry(wd).or_default();
        let index = match names.iter().position(|(n, _)| n.as_slice() == name) {
            Some(index) => index,
            None => {
                names.push((name.to_vec(), Expected::default()));
                names.len() - 1
            }
        };
        if let Some((_, expected)) = names.get_mut(index) {
            if kinds & IN_OPEN != 0 && listing.opened {
                expected.opens += 1;
            }
            if kinds & IN_ACCESS != 0 {
                expected.accesses += listing.reads;
            }
            if kinds & IN_CLOSE_NOWRITE != 0 {
                expected.closes += 1;
            }
        }
    }

    /// Whether this event is one of the tree's own listing events; if so it is counted off.
    pub fn take(&mut self, wd: i32, mask: u32, name: &[u8]) -> bool {
        if mask & IN_ISDIR == 0 || mask & LISTING_EVENTS == 0 {
            return false;
        }
        let Some(names) = self.pending.get_mut(&wd) else {
            return false;
        };
        let Some(index) = names.iter().position(|(n, _)| n.as_slice() == name) else {
            return false;
        };
        let Some((_, expected)) = names.get_mut(index) else {
            return false;
        };
        let counter = if mask & IN_OPEN != 0 {
            &mut expected.opens
        } else if mask & IN_ACCESS != 0 {
            &mut expected.accesses
        } else {
            &mut expected.closes
        };
        if *counter == 0 {
            return false;
        }
        *counter -= 1;
        let done = if mask & IN_CLOSE_NOWRITE != 0 && expected.closes == 0 {
            // The last listing is closed: what it still expected was merged by the kernel.
            true
        } else {
            *expected == Expected::default()
        };
        if done {
            names.swap_remove(index);
            if names.is_empty() {
                self.pending.remove(&wd);
            }
        }
        true
    }

    /// A watch is gone: nothing more arrives under it.
    pub fn forget(&mut self, wd: i32) {
        self.pending.remove(&wd);
    }

    /// The kernel's queue overflowed: what was expected may be among the events it dropped.
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// Whether anything is still expected (for tests and diagnostics).
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::{IN_ALL_EVENTS, IN_CREATE};

    const DIR_OPEN: u32 = IN_OPEN | IN_ISDIR;
    const DIR_ACCESS: u32 = IN_ACCESS | IN_ISDIR;
    const DIR_CLOSE: u32 = IN_CLOSE_NOWRITE | IN_ISDIR;

    /// Which of `events` (wd, mask, name) are left for the user.
    fn left(books: &mut OwnListings, events: &[(i32, u32, &str)]) -> Vec<(i32, u32, String)> {
        events
            .iter()
            .filter(|(wd, mask, name)| !books.take(*wd, *mask, name.as_bytes()))
            .map(|(wd, mask, name)| (*wd, *mask, (*name).to_owned()))
            .collect()
    }

    #[test]
    fn a_listing_seen_by_its_own_watch_and_its_parents_is_taken_out_whole() {
        let mut books = OwnListings::new(IN_ALL_EVENTS);
        let listing = Listing {
            opened: true,
            reads: 2,
        };
        books.expect(1, b"d", listing, None);
        books.expect(2, b"", listing, None);
        let events = [
            (1, DIR_OPEN, "d"),
            (2, DIR_OPEN, ""),
            (1, DIR_ACCESS, "d"),
            (2, DIR_ACCESS, ""),
            (1, DIR_ACCESS, "d"),
            (2, DIR_ACCESS, ""),
            (1, DIR_CLOSE, "d"),
            (2, DIR_CLOSE, ""),
        ];
        assert_eq!(left(&mut books, &events), vec![]);
        assert!(books.is_empty());
    }

    #[test]
    fn another_process_listing_the_same_directory_still_shows() {
        let mut books = OwnListings::new(IN_ALL_EVENTS);
        books.expect(
            2,
            b"",
            Listing {
                opened: true,
                reads: 2,
            },
            None,
        );
        // Ours and another process's listing, interleaved: theirs is left, whichever is which.
        let events = [
            (2, DIR_OPEN, ""),
            (2, DIR_OPEN, ""),
            (2, DIR_ACCESS, ""),
            (2, DIR_ACCESS, ""),
            (2, DIR_CLOSE, ""),
            (2, DIR_ACCESS, ""),
            (2, DIR_ACCESS, ""),
            (2, DIR_CLOSE, ""),
        ];
        assert_eq!(
            left(&mut books, &events),
            vec![
                (2, DIR_OPEN, String::new()),
                (2, DIR_ACCESS, String::new()),
                (2, DIR_ACCESS, String::new()),
                (2, DIR_CLOSE, String::new()),
            ]
        );
        // A listing after ours is all theirs.
        assert_eq!(
            left(&mut books, &[(2, DIR_OPEN, ""), (2, DIR_CLOSE, "")]).len(),
            2
        );
    }

    #[test]
    fn accesses_the_kernel_merged_are_not_taken_from_a_later_listing() {
        let mut books = OwnListings::new(IN_ALL_EVENTS);
        books.expect(
            1,
            b"",
            Listing {
                opened: true,
                reads: 3,
            },
            None,
        );
        // Three getdents64 calls, queued back to back: merged into one IN_ACCESS.
        let ours = [(1, DIR_OPEN, ""), (1, DIR_ACCESS, ""), (1, DIR_CLOSE, "")];
        assert_eq!(left(&mut books, &ours), vec![]);
        let theirs = [(1, DIR_OPEN, ""), (1, DIR_ACCESS, ""), (1, DIR_CLOSE, "")];
        assert_eq!(left(&mut books, &theirs).len(), 3);
    }

    #[test]
    fn a_directory_opened_before_its_watch_has_no_open_on_it() {
        let mut books = OwnListings::new(IN_ALL_EVENTS);
        books.expect(
            2,
            b"",
            Listing {
                opened: false,
                reads: 1,
            },
            None,
        );
        let events = [(2, DIR_OPEN, ""), (2, DIR_ACCESS, ""), (2, DIR_CLOSE, "")];
        assert_eq!(
            left(&mut books, &events),
            vec![(2, DIR_OPEN, String::new())]
        );
    }

    #[test]
    fn only_directory_events_of_the_kinds_the_watches_carry_are_expected() {
        let mut books = OwnListings::new(IN_CREATE | IN_CLOSE_NOWRITE);
        books.expect(
            1,
            b"d",
            Listing {
                opened: true,
                reads: 2,
            },
            None,
        );
        // A file of the same name, and kinds the watches do not carry, are not the listing's.
        assert!(!books.take(1, IN_CLOSE_NOWRITE, b"d"));
        assert!(!books.take(1, DIR_ACCESS, b"d"));
        assert!(books.take(1, DIR_CLOSE, b"d"));
        assert!(books.is_empty());
        let mut none = OwnListings::new(IN_CREATE);
        none.expect(
            1,
            b"d",
            Listing {
                opened: true,
                reads: 1,
            },
            None,
        );
        assert!(none.is_empty());
    }

    #[test]
    fn a_forgotten_watch_and_an_overflow_leave_nothing_expected() {
        let mut books = OwnListings::new(IN_ALL_EVENTS);
        let listing = Listing {
            opened: true,
            reads: 1,
        };
        books.expect(1, b"d", listing, None);
        books.expect(2, b"", listing, None);
        books.forget(2);
        assert!(!books.take(2, DIR_OPEN, b""));
        books.clear();
        assert!(books.is_empty());
        assert!(!books.take(1, DIR_OPEN, b"d"));
    }
}
