//! The engine's error type: a system call's errno, or a condition of the engine's own. What a
//! caller shows for each (a Node-style `code`, say) is the caller's to decide, once.

use std::fmt;

/// Result with the engine's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong: a failed system call with its errno, or one of the engine's own conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A system call failed.
    Sys {
        /// The call, e.g. `inotify_add_watch`.
        syscall: &'static str,
        /// The raw errno.
        errno: i32,
        /// The path involved, if any.
        path: Option<Vec<u8>>,
    },
    /// A mask with unknown bits, or with no event bit.
    InvalidMask {
        /// The mask as given.
        mask: u32,
        /// The bits that are not valid here (0 when the mask names no event).
        bad_bits: u32,
    },
    /// A watch descriptor that this instance does not hold.
    NotWatched {
        /// The watch descriptor.
        wd: i32,
    },
    /// The watcher was closed.
    Closed,
    /// A plain-mode call on a tree, or a tree call on a plain instance.
    WrongMode,
    /// The kernel returned bytes that do not parse as whole `inotify_event` records.
    Malformed {
        /// How many bytes were left over.
        leftover: usize,
    },
    /// An ignore file that is not read: not a regular file (a FIFO, a device, a directory, a
    /// symbolic link, which is never followed), or larger than the bound.
    IgnoreFileRefused {
        /// The file.
        path: Vec<u8>,
        /// Why, as words that follow the path: "is a FIFO (only a regular file is read)".
        reason: String,
    },
    /// The reader thread panicked (a bug): the watcher stopped.
    Panicked {
        /// The panic's message.
        message: String,
    },
    /// A snapshot file could not be opened, read or written.
    SnapshotFile {
        /// What was being done: `open`, `read` or `write`, as `@parcel/watcher`'s message says it.
        action: &'static str,
        /// The call that failed.
        syscall: &'static str,
        /// The raw errno.
        errno: i32,
        /// The snapshot file.
        path: Vec<u8>,
    },
    /// A snapshot file that is not one this version wrote, whole and unaltered.
    SnapshotCorrupt {
        /// The snapshot file.
        path: Vec<u8>,
        /// What is wrong with it.
        reason: String,
    },
    /// A tree's root is no longer where it was (moved out of the directory it was in, or replaced
    /// by another directory): the tree stopped watching it.
    RootMoved {
        /// The root.
        path: Vec<u8>,
    },
}

impl Error {
    /// The kernel's errno, for a system call that failed.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Sys { errno, .. } | Error::SnapshotFile { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// The system call that failed, if one did.
    pub fn syscall(&self) -> Option<&'static str> {
        match self {
            Error::Sys { syscall, .. } | Error::SnapshotFile { syscall, .. } => Some(syscall),
            _ => None,
        }
    }

    /// The path involved, if any.
    pub fn path(&self) -> Option<&[u8]> {
        match self {
            Error::Sys { path, .. } => path.as_deref(),
            Error::IgnoreFileRefused { path, .. }
            | Error::RootMoved { path }
            | Error::SnapshotFile { path, .. }
            | Error::SnapshotCorrupt { path, .. } => Some(path),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sys {
                syscall,
                errno,
                path,
            } => {
                write!(
                    f,
                    "{syscall} failed: {}",
                    crate::sys::errno_description(*errno)
                )?;
                if let Some(path) = path {
                    write!(f, " ({})", String::from_utf8_lossy(path))?;
                }
                Ok(())
            }
            Error::InvalidMask { mask, bad_bits: 0 } => {
                write!(f, "mask {mask:#x} names no inotify event")
            }
            Error::InvalidMask { mask, bad_bits } => {
                write!(
                    f,
                    "mask {mask:#x} has bits {bad_bits:#x} that inotify_add_watch does not accept"
                )
            }
            Error::NotWatched { wd } => {
                write!(f, "watch descriptor {wd} is not watched by this instance")
            }
            Error::Closed => write!(f, "the inotify instance is closed"),
            Error::WrongMode => write!(f, "this call is not available on this kind of instance"),
            Error::Panicked { message } => {
                write!(
                    f,
                    "the inotify reader thread panicked (a bug; please report it): {message}"
                )
            }
            Error::RootMoved { path } => {
                write!(
                    f,
                    "the root {} was moved out of the directory it was in, or replaced; the tree \
                     no longer watches it",
                    String::from_utf8_lossy(path)
                )
            }
            Error::IgnoreFileRefused { path, reason } => {
                write!(
                    f,
                    "the ignore file {} {reason}; it is not applied",
                    String::from_utf8_lossy(path)
                )
            }
            Error::SnapshotFile {
                action,
                errno,
                path,
                ..
            } => {
                // @parcel/watcher's words, then the path.
                write!(
                    f,
                    "Unable to {action} snapshot file: {} ('{}')",
                    crate::sys::errno_description(*errno),
                    String::from_utf8_lossy(path)
                )
            }
            Error::SnapshotCorrupt { path, reason } => {
                write!(
                    f,
                    "the snapshot file '{}' cannot be read: {reason}; write a new one with writeSnapshot()",
                    String::from_utf8_lossy(path)
                )
            }
            Error::Malformed { leftover } => {
                write!(
                    f,
                    "the kernel returned {leftover} bytes that are not a whole inotify_event"
                )
            }
        }
    }
}

impl std::error::Error for Error {}
