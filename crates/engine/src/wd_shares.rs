//! Which sessions of an instance hold each watch descriptor.
//!
//! The kernel gives one wd per inode and instance, whoever asks: two sessions watching the same
//! directory share it. Each event of a wd goes to every session holding it; a session that lets a
//! wd go only drops its hold, and the kernel's watch is removed with the last hold.

use std::collections::HashMap;

/// A session of an instance, as the instance numbers them.
pub type SessionId = u64;

/// One wd: who holds it, and the mask the kernel's watch carries.
#[derive(Debug, Default)]
struct Shared {
    holders: Vec<SessionId>,
    /// Every mask added to it (with `IN_MASK_ADD`, so the kernel's mask is their union: a holder
    /// leaving does not narrow it).
    mask: u32,
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
        if !shared.holders.contains(&session) {
            shared.holders.push(session);
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
        shared.holders.retain(|s| *s != session);
        if shared.holders.is_empty() {
            self.holders.remove(&wd);
            return true;
        }
        false
    }

    /// The sessions holding `wd`, in the order they took it.
    pub fn holders(&self, wd: i32) -> &[SessionId] {
        self.holders.get(&wd).map_or(&[], |s| s.holders.as_slice())
    }

    /// The kernel dropped `wd` (its `IN_IGNORED` was read): nobody holds it now.
    pub fn dropped(&mut self, wd: i32) {
        self.holders.remove(&wd);
    }

    /// Drops every hold of `session`; returns the wds nobody holds any more.
    pub fn release_all(&mut self, session: SessionId) -> Vec<i32> {
        let mut freed = Vec::new();
        self.holders.retain(|wd, shared| {
            shared.holders.retain(|s| *s != session);
            if shared.holders.is_empty() {
                freed.push(*wd);
                return false;
            }
            true
        });
        freed
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

    #[test]
    fn a_wd_is_freed_with_its_last_holder_only() {
        let mut shares = WdShares::default();
        shares.hold(4, 1, 0x100);
        shares.hold(4, 2, 0x200);
        shares.hold(4, 2, 0x200);
        assert_eq!(shares.holders(4), &[1, 2]);
        assert_eq!(shares.kernel_mask(4), 0x300);
        assert!(!shares.release(4, 1));
        assert_eq!(shares.kernel_mask(4), 0x300, "IN_MASK_ADD never narrows");
        assert_eq!(shares.holders(4), &[2]);
        assert!(shares.release(4, 2));
        assert!(shares.holders(4).is_empty());
        assert!(!shares.release(4, 2), "released twice");
    }

    #[test]
    fn a_session_leaving_frees_only_what_it_held_alone() {
        let mut shares = WdShares::default();
        shares.hold(1, 7, 1);
        shares.hold(2, 7, 1);
        shares.hold(2, 8, 1);
        shares.hold(3, 8, 1);
        let mut freed = shares.release_all(7);
        freed.sort_unstable();
        assert_eq!(freed, vec![1]);
        assert_eq!(shares.holders(2), &[8]);
        shares.dropped(3);
        assert_eq!(shares.len(), 1);
    }
}
