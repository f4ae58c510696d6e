//! The kernel's inotify mask bits (`<sys/inotify.h>`), as the engine needs them.

pub const IN_ACCESS: u32 = 0x0000_0001;
pub const IN_MODIFY: u32 = 0x0000_0002;
pub const IN_ATTRIB: u32 = 0x0000_0004;
pub const IN_CLOSE_WRITE: u32 = 0x0000_0008;
pub const IN_CLOSE_NOWRITE: u32 = 0x0000_0010;
pub const IN_OPEN: u32 = 0x0000_0020;
pub const IN_MOVED_FROM: u32 = 0x0000_0040;
pub const IN_MOVED_TO: u32 = 0x0000_0080;
pub const IN_CREATE: u32 = 0x0000_0100;
pub const IN_DELETE: u32 = 0x0000_0200;
pub const IN_DELETE_SELF: u32 = 0x0000_0400;
pub const IN_MOVE_SELF: u32 = 0x0000_0800;
pub const IN_UNMOUNT: u32 = 0x0000_2000;
pub const IN_Q_OVERFLOW: u32 = 0x0000_4000;
pub const IN_IGNORED: u32 = 0x0000_8000;
pub const IN_ONLYDIR: u32 = 0x0100_0000;
pub const IN_DONT_FOLLOW: u32 = 0x0200_0000;
pub const IN_EXCL_UNLINK: u32 = 0x0400_0000;
pub const IN_MASK_CREATE: u32 = 0x1000_0000;
pub const IN_MASK_ADD: u32 = 0x2000_0000;
pub const IN_ISDIR: u32 = 0x4000_0000;
pub const IN_ONESHOT: u32 = 0x8000_0000;

/// Every event a watch can ask for.
pub const IN_ALL_EVENTS: u32 = IN_ACCESS
    | IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_CLOSE_NOWRITE
    | IN_OPEN
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF;

/// Flags that change how a watch is added, rather than which events it reports.
pub const WATCH_FLAGS: u32 =
    IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK | IN_MASK_CREATE | IN_MASK_ADD | IN_ONESHOT;

/// Every bit `inotify_add_watch(2)` is given here. `IN_ISDIR` is only ever reported, and the kernel
/// ignores it in a watch's mask; it is let through because the kernel accepts it and the Python
/// package's trees set it in every mask they add.
pub const ADD_WATCH_BITS: u32 = IN_ALL_EVENTS | WATCH_FLAGS | IN_ISDIR;

/// Bits a tree's mask may hold: events only (the tree adds the watch flags and the bookkeeping
/// events it needs). `IN_ISDIR` is accepted for the Python package's sake and left out.
pub const TREE_MASK_BITS: u32 = IN_ALL_EVENTS | IN_ISDIR;

/// Why a mask is refused, before any system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskError {
    /// Bits that are not accepted here (reported-only bits such as `IN_Q_OVERFLOW`, unknown bits,
    /// or watch flags in a tree's mask).
    UnknownBits(u32),
    /// The mask names no event (`IN_ISDIR` alone included).
    NoEvent,
    /// `IN_MASK_ADD` with `IN_MASK_CREATE`, which the kernel refuses with `EINVAL`.
    AddWithCreate,
}

impl MaskError {
    /// The bits at fault (0 when the mask names no event).
    pub fn bits(self) -> u32 {
        match self {
            MaskError::UnknownBits(bits) => bits,
            MaskError::NoEvent => 0,
            MaskError::AddWithCreate => IN_MASK_ADD | IN_MASK_CREATE,
        }
    }
}

/// `mask` if it has no bit outside `allowed` and names at least one event.
fn check_bits(mask: u32, allowed: u32) -> std::result::Result<u32, MaskError> {
    let unknown = mask & !allowed;
    if unknown != 0 {
        return Err(MaskError::UnknownBits(unknown));
    }
    if mask & IN_ALL_EVENTS == 0 {
        return Err(MaskError::NoEvent);
    }
    Ok(mask)
}

/// Judges a mask for `inotify_add_watch(2)`: at least one event, no bit it does not take, not
/// `IN_MASK_ADD` with `IN_MASK_CREATE`. Returns the mask as it is to be given.
pub fn check_watch_mask(mask: u32) -> std::result::Result<u32, MaskError> {
    let mask = check_bits(mask, ADD_WATCH_BITS)?;
    if mask & IN_MASK_ADD != 0 && mask & IN_MASK_CREATE != 0 {
        return Err(MaskError::AddWithCreate);
    }
    Ok(mask)
}

/// Judges a tree's mask (the events its user wants): at least one event and nothing but events
/// and `IN_ISDIR`. Returns the events, `IN_ISDIR` left out (it is only ever reported).
pub fn check_tree_mask(mask: u32) -> std::result::Result<u32, MaskError> {
    check_bits(mask, TREE_MASK_BITS).map(|mask| mask & IN_ALL_EVENTS)
}

/// [`check_watch_mask`], its error as the bits at fault (0 when the mask names no event).
pub fn check_add_watch_mask(mask: u32) -> std::result::Result<(), u32> {
    check_watch_mask(mask).map(drop).map_err(MaskError::bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_event_and_flag() {
        assert_eq!(check_add_watch_mask(IN_ALL_EVENTS | IN_ONLYDIR), Ok(()));
        assert_eq!(check_add_watch_mask(IN_CREATE | IN_MASK_CREATE), Ok(()));
    }

    #[test]
    fn accepts_in_isdir_beside_an_event_as_the_kernel_does_but_not_alone() {
        assert_eq!(check_add_watch_mask(IN_CREATE | IN_ISDIR), Ok(()));
        assert_eq!(check_add_watch_mask(IN_ISDIR), Err(0));
    }

    #[test]
    fn rejects_unknown_bits_and_empty_masks() {
        assert_eq!(
            check_add_watch_mask(IN_CREATE | 0x0000_1000),
            Err(0x0000_1000)
        );
        assert_eq!(check_add_watch_mask(IN_Q_OVERFLOW), Err(IN_Q_OVERFLOW));
        assert_eq!(check_add_watch_mask(IN_ONLYDIR), Err(0));
        assert_eq!(check_add_watch_mask(0), Err(0));
        assert_eq!(
            check_watch_mask(IN_CREATE | IN_MASK_ADD | IN_MASK_CREATE),
            Err(MaskError::AddWithCreate)
        );
        assert_eq!(
            check_add_watch_mask(IN_CREATE | IN_MASK_ADD | IN_MASK_CREATE),
            Err(IN_MASK_ADD | IN_MASK_CREATE)
        );
    }

    #[test]
    fn tells_why_a_watch_mask_is_refused() {
        assert_eq!(check_watch_mask(IN_ISDIR), Err(MaskError::NoEvent));
        assert_eq!(
            check_watch_mask(IN_CREATE | IN_IGNORED),
            Err(MaskError::UnknownBits(IN_IGNORED))
        );
        assert_eq!(
            check_watch_mask(IN_ONESHOT | IN_OPEN),
            Ok(IN_ONESHOT | IN_OPEN)
        );
    }

    #[test]
    fn a_tree_takes_events_and_in_isdir_and_leaves_in_isdir_out() {
        assert_eq!(check_tree_mask(IN_CREATE | IN_ISDIR), Ok(IN_CREATE));
        assert_eq!(check_tree_mask(IN_ALL_EVENTS), Ok(IN_ALL_EVENTS));
        assert_eq!(check_tree_mask(IN_ISDIR), Err(MaskError::NoEvent));
        assert_eq!(check_tree_mask(0), Err(MaskError::NoEvent));
    }

    #[test]
    fn a_tree_refuses_watch_flags_and_reported_only_bits() {
        assert_eq!(
            check_tree_mask(IN_CREATE | IN_ONLYDIR),
            Err(MaskError::UnknownBits(IN_ONLYDIR))
        );
        assert_eq!(
            check_tree_mask(IN_CREATE | IN_MASK_ADD | IN_Q_OVERFLOW),
            Err(MaskError::UnknownBits(IN_MASK_ADD | IN_Q_OVERFLOW))
        );
    }
}
