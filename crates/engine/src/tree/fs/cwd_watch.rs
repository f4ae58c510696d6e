//! Watching a directory opened by descriptor through a working directory of the thread's own.
//!
//! `inotify_add_watch(2)` takes a path. The way to name exactly the inode a descriptor holds is
//! `/proc/self/fd/N`, whose lookup goes through procfs (the task, its descriptor table, a
//! permission check, the magic link): on tmpfs about 2 us a watch, a fifth of a whole directory's
//! scan. `fchdir(2)` to the descriptor, then a watch on `"."`, names the same inode at a fraction
//! of that. The working directory is shared by a process's threads, so the thread first takes one
//! of its own (`unshare(CLONE_FS)`), and it moves back to `/` once its watches are added, so that
//! it pins no directory (an `umount` would fail with `EBUSY`, a deletion's `IN_DELETE_SELF` would
//! wait). Where the thread cannot have its own (a seccomp filter that refuses `unshare`), or the
//! directory cannot be entered (no search permission), the caller goes by `/proc/self/fd/N`.

use std::cell::Cell;
use std::os::fd::BorrowedFd;

use crate::error::Result;
use crate::sys::InotifyFd;

thread_local! {
    /// Whether this thread's working directory is its own: `None` until first asked.
    static OWN_CWD: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Whether this thread has a working directory of its own, taking one on first asking.
fn own_cwd() -> bool {
    OWN_CWD.with(|own| match own.get() {
        Some(known) => known,
        None => {
            // SAFETY: CLONE_FS only: the working directory, root and umask become this thread's
            // own. The descriptor table stays shared (CLONE_FILES, which the function's safety
            // contract is about, is not asked for). A thread that scans trees resolves no
            // relative path (a tree's paths are absolute: its roots are made so when given) and
            // creates no file (the umask is not used).
            let unshared =
                unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS) }.is_ok();
            own.set(Some(unshared));
            unshared
        }
    })
}

/// Watches added through the thread's working directory; moves it back to `/` when dropped.
#[derive(Debug, Default)]
pub(crate) struct CwdWatch {
    /// The working directory was moved (and is to go back to `/`).
    moved: bool,
}

impl CwdWatch {
    /// `inotify_add_watch(inotify, ".", mask)` with the thread's working directory moved to `dir`;
    /// `None` when it cannot be (then nothing was done, and the caller goes another way).
    pub(crate) fn add_watch(
        &mut self,
        inotify: &InotifyFd,
        dir: BorrowedFd<'_>,
        mask: u32,
    ) -> Option<Result<i32>> {
        if !own_cwd() || rustix::process::fchdir(dir).is_err() {
            return None;
        }
        self.moved = true;
        Some(inotify.add_watch(b".", mask))
    }
}

impl Drop for CwdWatch {
    fn drop(&mut self) {
        if self.moved {
            // Nothing to do when it fails (no "/" in a chroot): the directory stays pinned until
            // the thread's next scan moves it.
            let _ = rustix::process::chdir("/");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn cwd_of(task: &str) -> Vec<u8> {
        rustix::fs::readlink(format!("/proc/{task}/cwd"), Vec::new())
            .expect("readlink cwd")
            .into_bytes()
    }

    #[test]
    fn the_watch_is_on_the_directory_entered_and_only_this_thread_moved_and_moves_back() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().join("d");
        std::fs::create_dir(&dir).expect("mkdir");
        let process_cwd = cwd_of("self");
        let inotify = InotifyFd::open().expect("inotify_init1");
        let fd = rustix::fs::open(
            &dir,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .expect("open");
        // A test runs on a thread of its own: `self` is the process's main thread.
        let mut watch = CwdWatch::default();
        let wd = watch
            .add_watch(&inotify, fd.as_fd(), crate::mask::IN_CREATE)
            .expect("a private working directory on this thread")
            .expect("add_watch");
        assert_eq!(cwd_of("thread-self"), dir.as_os_str().as_encoded_bytes());
        assert_eq!(cwd_of("self"), process_cwd);
        let by_path = inotify
            .add_watch(dir.as_os_str().as_encoded_bytes(), crate::mask::IN_CREATE)
            .expect("add_watch by path");
        assert_eq!(wd, by_path);
        drop(watch);
        assert_eq!(cwd_of("thread-self"), b"/");
        assert_eq!(cwd_of("self"), process_cwd);
    }
}
