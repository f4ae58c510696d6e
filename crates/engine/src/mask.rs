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

/// Checks a mask for `inotify_add_watch(2)`: it must name at least one event and no unknown bit.
/// Returns the offending bits on failure (or 0 when no event is named).
pub fn check_add_watch_mask(mask: u32) -> std::result::Result<(), u32> {
    let unknown = mask & !ADD_WATCH_BITS;
    if unknown != 0 {
        return Err(unknown);
    }
    if mask & IN_ALL_EVENTS == 0 {
        return Err(0);
    }
    if mask & IN_MASK_ADD != 0 && mask & IN_MASK_CREATE != 0 {
        // The kernel rejects this pair with EINVAL; say so before the syscall.
        return Err(IN_MASK_ADD | IN_MASK_CREATE);
    }
    Ok(())
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
        assert!(check_add_watch_mask(IN_CREATE | IN_MASK_ADD | IN_MASK_CREATE).is_err());
    }
}
