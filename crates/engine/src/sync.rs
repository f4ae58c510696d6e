//! Locking as the engine does it: a panic while a lock was held (a bug, caught at the reader
//! thread's top) does not make the data unusable, since every critical section leaves it
//! consistent, so poisoning is ignored.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Locks `mutex`, poisoned or not.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `changed` with `guard`, for at most `timeout` (`None`: until notified).
pub fn wait_on<'a, T>(
    changed: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Option<Duration>,
) -> MutexGuard<'a, T> {
    match timeout {
        None => changed.wait(guard).unwrap_or_else(PoisonError::into_inner),
        Some(timeout) => {
            changed
                .wait_timeout(guard, timeout)
                .unwrap_or_else(PoisonError::into_inner)
                .0
        }
    }
}
