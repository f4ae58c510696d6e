//! What the books of shared wds cost on the heap: a wd held by one session (nearly every wd) has
//! no allocation of its own, only its slot in the table (issue #16: a few bytes per directory).
//!
//! A counting allocator keeps the counts of each thread apart, and counts only while that thread
//! measures, so neither the harness nor the other test is counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use inotify_engine::wd_shares::WdShares;

struct Counting;

/// What the measuring thread allocated since it started measuring.
#[derive(Clone, Copy)]
struct Counts {
    live: isize,
    peak: isize,
    allocations: usize,
}

thread_local! {
    /// `Some` while this thread measures.
    static COUNTS: Cell<Option<Counts>> = const { Cell::new(None) };
}

/// Counts a change of `bytes` to the live heap, and an allocation when `allocated`.
fn count(bytes: isize, allocated: bool) {
    // `try_with`: an allocation while the thread's locals are torn down is not measured.
    let _ = COUNTS.try_with(|counts| {
        if let Some(mut c) = counts.get() {
            c.live += bytes;
            c.peak = c.peak.max(c.live);
            c.allocations += usize::from(allocated);
            counts.set(Some(c));
        }
    });
}

// SAFETY: every call is passed to the system allocator unchanged; the counters only watch.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize, true);
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize), false);
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as a new block beside the old: a move holds both at its peak.
        count(new_size as isize, true);
        count(-(layout.size() as isize), false);
        // SAFETY: the caller's contract for `realloc`, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What `work` allocated: the peak of live heap bytes above where it started, and the number of
/// allocations.
struct Usage {
    peak: usize,
    allocations: usize,
}

fn measure<T>(work: impl FnOnce() -> T) -> (T, Usage) {
    let zero = Counts {
        live: 0,
        peak: 0,
        allocations: 0,
    };
    COUNTS.with(|c| c.set(Some(zero)));
    let out = work();
    let counts = COUNTS.with(|c| c.take()).unwrap_or(zero);
    let usage = Usage {
        peak: counts.peak.max(0) as usize,
        allocations: counts.allocations,
    };
    (out, usage)
}

const WDS: i32 = 50_000;

#[test]
fn fifty_thousand_wds_of_one_session_cost_a_table_slot_each() {
    let (shares, usage) = measure(|| {
        let mut shares = WdShares::default();
        for wd in 1..=WDS {
            shares.hold(wd, 1, 0x0000_0fff);
        }
        shares
    });
    let per_wd = usage.peak as f64 / f64::from(WDS);
    println!(
        "{WDS} wds of one session: peak {} bytes, {per_wd:.1} bytes per wd, {} allocations",
        usage.peak, usage.allocations
    );
    assert_eq!(shares.len(), WDS as usize);
    // The table doubles as it grows (one allocation each time, ~17 doublings to 65,536 slots):
    // a wd with one holder allocates nothing of its own.
    assert!(
        usage.allocations <= 20,
        "{} allocations for {WDS} wds",
        usage.allocations
    );
    // 16-byte slots and a control byte each, in a table at most 8/7 full, with the table it grew
    // from still held while it moves: about 33 bytes per wd at 50,000.
    assert!(per_wd <= 40.0, "{per_wd:.1} bytes per wd");
}

#[test]
fn a_wd_shared_by_a_few_sessions_allocates_only_for_the_others() {
    let (shares, usage) = measure(|| {
        let mut shares = WdShares::default();
        for wd in 1..=1_000 {
            shares.hold(wd, 1, 0x1);
        }
        for session in 2..=4 {
            shares.hold(7, session, 0x2);
        }
        shares
    });
    assert_eq!(shares.holders(7).collect::<Vec<_>>(), [1, 2, 3, 4]);
    // The thousand single holds: a few doublings of the table; the wd of four holders: its entry
    // in the table of extra holders, and that entry's list growing.
    assert!(
        usage.allocations <= 16,
        "{} allocations for 1,000 wds, one of them shared",
        usage.allocations
    );
}
