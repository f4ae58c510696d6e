//! Which sessions of an instance hold each watch descriptor.
//!
//! The kernel gives one wd per inode and instance, whoever asks: two sessions watching the same
//! directory share it. Each event of a wd goes to every session holding it; a session that lets a
//! wd go only drops its hold, and the kernel's watch is removed with the last hold. Watches are
//! added with `IN_MASK_ADD`, so the kernel's mask is the union of the holders'; when a session
//! leaves, the instance narrows it again to what the others need ([`Released::narrowed`]).

use std::collections::HashMap;

/// A session of an instance, as the instance numbers them.
pub type SessionId = u32;

/// One wd: who holds it for what, and the mask the kernel's watch carries.
#[derive(Debug, Default)]
struct Shared {
    /// Each holder with the union of the masks it added.
    holders: Vec<(SessionId, u32)>,
    /// The kernel's mask: every mask added since it was last set ([`WdShares::narrowed`]).
    mask: u32,
}

impl Shared {
    fn needed(&self) -> u32 {
        self.holders.iter().fold(0, |acc, (_, mask)| acc | mask)
    }
}

/// What a session leaving let go.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Released {
    /// wds nobody holds any more: the kernel's watches are the caller's to remove.
    pub freed: Vec<i32>,
    /// wds still held whose kernel mask is wider than what their holders need: `(wd, needed)`.
    pub narrowed: Vec<(i32, u32)>,
}

/// The holders of every wd an instance's sessions hold.
#[derive(Debug, Default)]
pub struct WdShares {
    holders: HashMap<i32, Shared>,
}

impl WdShares {
    /// `session` holds `wd`, added with `mask` (again: holding twice is holding once).
    pub fn hold(&mut self, wd: i32, session: SessionId, mask: u32) {
        let shared = self.holders.entry(wd).or_default();
        shared.mask |= mask;
        match shared.holders.iter_mut().find(|(s, _)| *s == session) {
            Some((_, held)) => *held |= mask,
            None => shared.holders.push((session, mask)),
        }
    }

    /// The kernel's watch `wd` now carries exactly `mask` (re-added without `IN_MASK_ADD`).
    pub fn narrowed(&mut self, wd: i32, mask: u32) {
        if let Some(shared) = self.holders.get_mut(&wd) {
            shared.mask = mask;
        }
    }

    /// The mask the kernel's watch `wd` carries (0 for a wd nobody holds).
    pub fn kernel_mask(&self, wd: i32) -> u32 {
        self.holders.get(&wd).map_or(0, |s| s.mask)
    }

    /// `session` lets `wd` go. True when nobody holds it any more and it was held (the kernel's
    /// watch is then the caller's to remove); false while another session holds it, or when this
    /// instance did not know it (a wd the kernel dropped, forgotten on its `IN_IGNORED`).
    pub fn release(&mut self, wd: i32, session: SessionId) -> bool {
        let Some(shared) = self.holders.get_mut(&wd) else {
            return false;
        };
        shared.holders.retain(|(s, _)| *s != session);
        if shared.holders.is_empty() {
            self.holders.remove(&wd);
            return true;
        }
        false
    }

    /// The sessions holding `wd`, in the order they took it.
    pub fn holders(&self, wd: i32) -> impl Iterator<Item = SessionId> + '_ {
        self.holders
            .get(&wd)
            .into_iter()
            .flat_map(|s| s.holders.iter().map(|(id, _)| *id))
    }

    /// Whether `wd` is held by a session other than `session`.
    pub fn held_by_other_than(&self, wd: i32, session: SessionId) -> bool {
        self.holders(wd).any(|s| s != session)
    }

    /// The kernel dropped `wd` (its `IN_IGNORED` was read): nobody holds it now.
    pub fn dropped(&mut self, wd: i32) {
        self.holders.remove(&wd);
    }

    /// Drops every hold of `session`: the wds nobody holds any more, and those the others need
    /// less of than the kernel's mask carries.
    pub fn release_all(&mut self, session: SessionId) -> Released {
        let mut released = Released::default();
        self.holders.retain(|wd, shared| {
            let before = shared.holders.len();
            shared.holders.retain(|(s, _)| *s != session);
            if shared.holders.is_empty() {
                released.freed.push(*wd);
                return false;
            }
            let needed = shared.needed();
            if shared.holders.len() != before && needed != shared.mask {
                released.narrowed.push((*wd, needed));
            }
            true
        });
        released
    }

    /// Number of wds held by anyone.
    pub fn len(&self) -> usize {
        self.holders.len()
    }

    /// Whether no wd is held.
    pub fn is_empty(&self) -> bool {
        self.holders.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holders(shares: &WdShares, wd: i32) -> Vec<SessionId> {
        shares.holders(wd).collect()
    }

    #[test]
    fn a_wd_is_freed_with_its_last_holder_only() {
        let mut shares = WdShares::default();
        shares.hold(4, 1, 0x100);
        shares.hold(4, 2, 0x200);
        shares.hold(4, 2, 0x200);
        assert_eq!(holders(&shares, 4), [1, 2]);
        assert_eq!(shares.kernel_mask(4), 0x300);
        assert!(shares.held_by_other_than(4, 1));
        assert!(!shares.release(4, 1));
        assert_eq!(shares.kernel_mask(4), 0x300, "IN_MASK_ADD never narrows");
        assert_eq!(holders(&shares, 4), [2]);
        assert!(!shares.held_by_other_than(4, 2));
        assert!(shares.release(4, 2));
        assert!(holders(&shares, 4).is_empty());
        assert!(!shares.release(4, 2), "released twice");
    }

    #[test]
    fn a_session_leaving_frees_only_what_it_held_alone() {
        let mut shares = WdShares::default();
        shares.hold(1, 7, 1);
        shares.hold(2, 7, 1);
        shares.hold(2, 8, 1);
        shares.hold(3, 8, 1);
        let released = shares.release_all(7);
        assert_eq!(released.freed, [1]);
        assert!(released.narrowed.is_empty(), "8 needs all that 7 did");
        assert_eq!(holders(&shares, 2), [8]);
        shares.dropped(3);
        assert_eq!(shares.len(), 1);
    }

    #[test]
    fn a_session_leaving_narrows_what_the_others_need_less_of() {
        let mut shares = WdShares::default();
        shares.hold(1, 7, 0b0011);
        shares.hold(1, 8, 0b0101);
        shares.hold(1, 8, 0b1000);
        shares.hold(2, 7, 0b0001);
        shares.hold(2, 8, 0b0001);
        shares.hold(3, 8, 0b0001);
        let released = shares.release_all(7);
        assert!(released.freed.is_empty());
        assert_eq!(
            released.narrowed,
            [(1, 0b1101)],
            "wd 2 needs no less; 3 was not 7's"
        );
        assert_eq!(
            shares.kernel_mask(1),
            0b1111,
            "until the kernel's watch is re-added"
        );
        shares.narrowed(1, 0b1101);
        assert_eq!(shares.kernel_mask(1), 0b1101);
        shares.narrowed(9, 1);
        assert_eq!(shares.kernel_mask(9), 0, "a wd nobody holds stays unknown");
    }
}
