//! Which sessions of an instance hold each watch descriptor.
//!
//! The kernel gives one wd per inode and instance, whoever asks: two sessions watching the same
//! directory share it. Each event of a wd goes to every session holding it; a session that lets a
//! wd go only drops its hold, and the kernel's watch is removed with the last hold. Watches are
//! added with `IN_MASK_ADD`, so the kernel's mask is the union of the holders'; when a session
//! leaves, the instance narrows it again to what the others need ([`Released::narrowed`]).
//!
//! These books cost a slot per watched directory, so a wd's slot is its first holder alone (8
//! bytes, 12 with the key), with no allocation of its own; only a wd that several sessions hold
//! (trees that overlap) lists the others apart, and only a wd whose kernel mask is not its first
//! holder's mask (shared, or not yet narrowed after a holder left) keeps that mask apart.

use std::collections::HashMap;

/// A session of an instance, as the instance numbers them.
pub type SessionId = u32;

/// A session holding a wd, with the union of the masks it added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Holder {
    session: SessionId,
    mask: u32,
}

/// What letting a session's hold of a wd go did.
#[derive(Debug, PartialEq, Eq)]
enum LetGo {
    /// The session did not hold it.
    NotHeld,
    /// The session held it; others still do.
    Held,
    /// The session was its last holder.
    Freed,
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
    /// Each wd's first holder (of those still holding it).
    slots: HashMap<i32, Holder>,
    /// The kernel's mask of the wds where it is not their first holder's mask: every mask added
    /// since it was last set ([`WdShares::narrowed`]).
    wider: HashMap<i32, u32>,
    /// The holders after the first, in the order they took it, of the wds several sessions hold
    /// (never an empty list).
    others: HashMap<i32, Vec<Holder>>,
}

impl WdShares {
    /// `session` holds `wd`, added with `mask` (again: holding twice is holding once).
    pub fn hold(&mut self, wd: i32, session: SessionId, mask: u32) {
        let kernel = self.kernel_mask(wd) | mask;
        let holder = Holder { session, mask };
        let first = self.slots.entry(wd).or_insert(holder);
        if first.session == session {
            first.mask |= mask;
        } else {
            let others = self.others.entry(wd).or_default();
            match others.iter_mut().find(|h| h.session == session) {
                Some(held) => held.mask |= mask,
                None => others.push(holder),
            }
        }
        self.set_kernel(wd, kernel);
    }

    /// Books `kernel` as `wd`'s kernel mask: apart only when it is not the first holder's.
    fn set_kernel(&mut self, wd: i32, kernel: u32) {
        set_kernel(&self.slots, &mut self.wider, wd, kernel);
    }

    /// The kernel's watch `wd` now carries exactly `mask` (re-added without `IN_MASK_ADD`).
    pub fn narrowed(&mut self, wd: i32, mask: u32) {
        self.set_kernel(wd, mask);
    }

    /// The mask the kernel's watch `wd` carries (0 for a wd nobody holds).
    pub fn kernel_mask(&self, wd: i32) -> u32 {
        kernel_mask(&self.slots, &self.wider, wd)
    }

    /// `session` lets `wd` go. True when nobody holds it any more and it was held (the kernel's
    /// watch is then the caller's to remove); false while another session holds it, or when this
    /// instance did not know it (a wd the kernel dropped, forgotten on its `IN_IGNORED`).
    pub fn release(&mut self, wd: i32, session: SessionId) -> bool {
        let kernel = self.kernel_mask(wd);
        let Some(first) = self.slots.get_mut(&wd) else {
            return false;
        };
        match let_go(wd, first, &mut self.others, session) {
            LetGo::Freed => {
                self.slots.remove(&wd);
                self.wider.remove(&wd);
                true
            }
            LetGo::Held => {
                self.set_kernel(wd, kernel);
                false
            }
            LetGo::NotHeld => false,
        }
    }

    /// The sessions holding `wd`, in the order they took it.
    pub fn holders(&self, wd: i32) -> impl Iterator<Item = SessionId> + '_ {
        let first = self.slots.get(&wd).map(|first| first.session);
        let others = self.others.get(&wd).into_iter().flatten();
        first.into_iter().chain(others.map(|h| h.session))
    }

    /// Whether `wd` is held by a session other than `session`.
    pub fn held_by_other_than(&self, wd: i32, session: SessionId) -> bool {
        self.holders(wd).any(|s| s != session)
    }

    /// The kernel dropped `wd` (its `IN_IGNORED` was read): nobody holds it now.
    pub fn dropped(&mut self, wd: i32) {
        self.slots.remove(&wd);
        self.others.remove(&wd);
        self.wider.remove(&wd);
    }

    /// Drops every hold of `session`: the wds nobody holds any more, and those the others need
    /// less of than the kernel's mask carries.
    pub fn release_all(&mut self, session: SessionId) -> Released {
        let mut released = Released::default();
        let others = &mut self.others;
        let wider = &mut self.wider;
        let mut moved_up: Vec<(i32, u32)> = Vec::new();
        self.slots.retain(|&wd, first| {
            let kernel = wider.get(&wd).copied().unwrap_or(first.mask);
            match let_go(wd, first, others, session) {
                LetGo::NotHeld => true,
                LetGo::Freed => {
                    released.freed.push(wd);
                    wider.remove(&wd);
                    false
                }
                LetGo::Held => {
                    let needed = others
                        .get(&wd)
                        .into_iter()
                        .flatten()
                        .fold(first.mask, |acc, h| acc | h.mask);
                    if needed != kernel {
                        released.narrowed.push((wd, needed));
                    }
                    moved_up.push((wd, kernel));
                    true
                }
            }
        });
        for (wd, kernel) in moved_up {
            self.set_kernel(wd, kernel);
        }
        // A large session gone (a tree of 100,000 directories) leaves its table's room behind.
        if self.slots.len() < self.slots.capacity() / 4 {
            self.slots.shrink_to_fit();
            self.wider.shrink_to_fit();
        }
        released
    }

    /// Number of wds held by anyone.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no wd is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// Takes `session`'s hold of `wd` (whose slot is `slot`) off the books: a later holder moves up
/// when the first leaves, and the list of others goes with its last entry.
fn let_go(
    wd: i32,
    first: &mut Holder,
    others: &mut HashMap<i32, Vec<Holder>>,
    session: SessionId,
) -> LetGo {
    let Some(list) = others.get_mut(&wd) else {
        return if first.session == session {
            LetGo::Freed
        } else {
            LetGo::NotHeld
        };
    };
    if first.session == session {
        if list.is_empty() {
            // Never kept; were one there, the first holder was the last.
            others.remove(&wd);
            return LetGo::Freed;
        }
        *first = list.remove(0);
    } else if let Some(i) = list.iter().position(|h| h.session == session) {
        list.remove(i);
    } else {
        return LetGo::NotHeld;
    }
    if list.is_empty() {
        others.remove(&wd);
    }
    LetGo::Held
}

/// The kernel's mask of `wd`: kept apart, or its first holder's (0 for a wd nobody holds).
fn kernel_mask(slots: &HashMap<i32, Holder>, wider: &HashMap<i32, u32>, wd: i32) -> u32 {
    match wider.get(&wd) {
        Some(kernel) => *kernel,
        None => slots.get(&wd).map_or(0, |first| first.mask),
    }
}

/// Books `kernel` as `wd`'s kernel mask (nothing for a wd nobody holds).
fn set_kernel(slots: &HashMap<i32, Holder>, wider: &mut HashMap<i32, u32>, wd: i32, kernel: u32) {
    match slots.get(&wd) {
        Some(first) if first.mask != kernel => {
            wider.insert(wd, kernel);
        }
        _ => {
            wider.remove(&wd);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

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

    #[test]
    fn a_wd_goes_from_one_holder_to_three_and_back() {
        let mut shares = WdShares::default();
        shares.hold(5, 3, 0b001);
        shares.hold(5, 1, 0b010);
        shares.hold(5, 2, 0b100);
        shares.hold(5, 1, 0b1000);
        assert_eq!(holders(&shares, 5), [3, 1, 2], "in the order they took it");
        assert_eq!(shares.kernel_mask(5), 0b1111);
        assert!(!shares.release(5, 2));
        assert!(!shares.release(5, 1));
        assert_eq!(holders(&shares, 5), [3]);
        assert!(
            shares.others.is_empty(),
            "one holder again: nothing besides its slot"
        );
        assert!(!shares.held_by_other_than(5, 3));
        let released = shares.release_all(3);
        assert_eq!(released.freed, [5]);
        assert!(shares.is_empty());
    }

    #[test]
    fn the_first_holder_leaving_hands_the_slot_to_the_next() {
        let mut shares = WdShares::default();
        shares.hold(6, 1, 0b0001);
        shares.hold(6, 2, 0b0010);
        shares.hold(6, 3, 0b0100);
        shares.hold(6, 4, 0b0100);
        assert!(!shares.release(6, 1));
        assert_eq!(holders(&shares, 6), [2, 3, 4]);
        assert!(shares.held_by_other_than(6, 2));
        // 2 leaves in its turn: 3 and 4 need less than the kernel's watch carries.
        let released = shares.release_all(2);
        assert!(released.freed.is_empty());
        assert_eq!(released.narrowed, [(6, 0b0100)]);
        assert_eq!(holders(&shares, 6), [3, 4]);
        assert!(!shares.release(6, 4));
        assert!(shares.others.is_empty());
        assert!(shares.release(6, 3));
        assert!(shares.is_empty());
    }

    #[test]
    fn a_session_leaving_mixed_wds_lets_go_of_each_as_its_holders_need() {
        let mut shares = WdShares::default();
        shares.hold(1, 7, 0b01); // 7's alone
        shares.hold(2, 8, 0b01); // 8's alone
        shares.hold(3, 7, 0b01); // 7 first, then 8 for more
        shares.hold(3, 8, 0b10);
        shares.hold(4, 8, 0b01); // 8 first, then 7 for more
        shares.hold(4, 7, 0b10);
        shares.hold(5, 8, 0b11); // 8, 7 and 9, 7 for nothing 8 does not need
        shares.hold(5, 7, 0b01);
        shares.hold(5, 9, 0b01);
        shares.hold(6, 8, 0b01); // 8 and 9, not 7's
        shares.hold(6, 9, 0b10);
        let mut released = shares.release_all(7);
        released.narrowed.sort_unstable();
        assert_eq!(released.freed, [1]);
        assert_eq!(released.narrowed, [(3, 0b10), (4, 0b01)]);
        assert_eq!(holders(&shares, 2), [8]);
        assert_eq!(holders(&shares, 3), [8]);
        assert_eq!(holders(&shares, 4), [8]);
        assert_eq!(holders(&shares, 5), [8, 9]);
        assert_eq!(holders(&shares, 6), [8, 9]);
        assert_eq!(shares.len(), 5);
        assert_eq!(shares.others.len(), 2, "only 5 and 6 keep a list");
        assert_eq!(
            shares.release_all(7),
            Released::default(),
            "7 holds nothing now"
        );
    }

    #[test]
    fn a_narrowed_wd_widens_again_with_the_next_hold() {
        let mut shares = WdShares::default();
        shares.hold(2, 1, 0b0011);
        shares.hold(2, 2, 0b1100);
        let released = shares.release_all(1);
        assert_eq!(released.narrowed, [(2, 0b1100)]);
        shares.narrowed(2, 0b1100);
        assert_eq!(shares.kernel_mask(2), 0b1100);
        shares.hold(2, 3, 0b0001);
        assert_eq!(shares.kernel_mask(2), 0b1101);
        assert_eq!(holders(&shares, 2), [2, 3]);
        // 3 leaving leaves 2 with what the kernel's watch carries less 3's bit.
        assert_eq!(shares.release_all(3).narrowed, [(2, 0b1100)]);
    }

    #[test]
    fn a_session_leaving_most_wds_gives_the_table_room_back() {
        let mut shares = WdShares::default();
        for wd in 0..4_000 {
            shares.hold(wd, 1, 1);
        }
        shares.hold(4_000, 2, 1);
        let before = shares.slots.capacity();
        assert_eq!(shares.release_all(1).freed.len(), 4_000);
        assert!(shares.slots.capacity() < before / 4);
        assert_eq!(holders(&shares, 4_000), [2]);
    }

    /// The books as a plain list of holders per wd, to hold the split ones to.
    #[derive(Debug, Default)]
    struct Model {
        wds: BTreeMap<i32, (Vec<(SessionId, u32)>, u32)>,
    }

    impl Model {
        fn hold(&mut self, wd: i32, session: SessionId, mask: u32) {
            let (holders, kernel) = self.wds.entry(wd).or_default();
            *kernel |= mask;
            match holders.iter_mut().find(|(s, _)| *s == session) {
                Some((_, held)) => *held |= mask,
                None => holders.push((session, mask)),
            }
        }

        fn release(&mut self, wd: i32, session: SessionId) -> bool {
            let Some((holders, _)) = self.wds.get_mut(&wd) else {
                return false;
            };
            holders.retain(|(s, _)| *s != session);
            if holders.is_empty() {
                self.wds.remove(&wd);
                return true;
            }
            false
        }

        fn release_all(&mut self, session: SessionId) -> Released {
            let mut released = Released::default();
            self.wds.retain(|wd, (holders, kernel)| {
                let before = holders.len();
                holders.retain(|(s, _)| *s != session);
                if holders.is_empty() {
                    released.freed.push(*wd);
                    return false;
                }
                let needed = holders.iter().fold(0, |acc, (_, m)| acc | m);
                if holders.len() != before && needed != *kernel {
                    released.narrowed.push((*wd, needed));
                }
                true
            });
            released
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        Hold(i32, SessionId, u32),
        Release(i32, SessionId),
        ReleaseAll(SessionId),
        Dropped(i32),
        Narrowed(i32, u32),
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let wd = 0i32..6;
        let session = 0 as SessionId..4;
        let mask = 1u32..16;
        let step = prop_oneof![
            6 => (wd.clone(), session.clone(), mask.clone()).prop_map(|(w, s, m)| Step::Hold(w, s, m)),
            2 => (wd.clone(), session.clone()).prop_map(|(w, s)| Step::Release(w, s)),
            1 => session.prop_map(Step::ReleaseAll),
            1 => wd.clone().prop_map(Step::Dropped),
            1 => (wd, mask).prop_map(|(w, m)| Step::Narrowed(w, m)),
        ];
        proptest::collection::vec(step, 0..48)
    }

    /// The properties (the stress suite runs every test named `props`, with many more cases).
    mod props {
        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: crate::props_cases(512),
                ..ProptestConfig::default()
            })]

            #[test]
            fn the_split_books_answer_as_one_list_of_holders_per_wd_would(steps in steps()) {
                let mut shares = WdShares::default();
                let mut model = Model::default();
                for step in steps {
                    match step {
                        Step::Hold(wd, session, mask) => {
                            shares.hold(wd, session, mask);
                            model.hold(wd, session, mask);
                        }
                        Step::Release(wd, session) => {
                            prop_assert_eq!(shares.release(wd, session), model.release(wd, session));
                        }
                        Step::ReleaseAll(session) => {
                            let mut got = shares.release_all(session);
                            got.freed.sort_unstable();
                            got.narrowed.sort_unstable();
                            prop_assert_eq!(got, model.release_all(session));
                        }
                        Step::Dropped(wd) => {
                            shares.dropped(wd);
                            model.wds.remove(&wd);
                        }
                        Step::Narrowed(wd, mask) => {
                            shares.narrowed(wd, mask);
                            if let Some((_, kernel)) = model.wds.get_mut(&wd) {
                                *kernel = mask;
                            }
                        }
                    }
                    prop_assert_eq!(shares.len(), model.wds.len());
                    prop_assert_eq!(shares.is_empty(), model.wds.is_empty());
                    for wd in 0..6 {
                        let (expected, kernel) = model.wds.get(&wd).cloned().unwrap_or_default();
                        let expected: Vec<SessionId> = expected.iter().map(|(s, _)| *s).collect();
                        prop_assert_eq!(holders(&shares, wd), expected.clone());
                        prop_assert_eq!(shares.kernel_mask(wd), kernel);
                        for session in 0..4 {
                            prop_assert_eq!(
                                shares.held_by_other_than(wd, session),
                                expected.iter().any(|&s| s != session)
                            );
                        }
                        if let Some(list) = shares.others.get(&wd) {
                            prop_assert!(!list.is_empty(), "an empty list of others is never kept");
                        }
                    }
                }
            }
        }
    }
}
