//! Why a `#[napi]` call failed, and the one place where that becomes a JS error: an `Error` (a
//! `TypeError` for a bad argument) with a Node-style `code` and, where they apply, `errno`
//! (negative, as Node's), `syscall` and `path` as properties. `src/errors.ts` wraps it in the
//! public error classes and adds advice; it reads these properties, never the message.

use std::panic::AssertUnwindSafe;

use inotify_engine::instance::TEST_PANIC_ENV;
use inotify_engine::sys::{errno_name, EINVAL};
use napi::bindgen_prelude::{Buffer, JsError, JsTypeError};
use napi::{Env, JsValue, Status, Unknown};

/// What a call's body returns: its value, or why it failed.
pub type Outcome<T> = Result<T, Failure>;

/// Why a `#[napi]` call failed, before it is a JS error.
#[derive(Debug)]
pub enum Failure {
    /// The engine's error.
    Engine(inotify_engine::Error),
    /// An argument only the engine could judge (an ignore pattern that is not a valid glob).
    InvalidArgument(String),
    /// A failure of napi itself.
    Napi(napi::Error),
    /// A panic in the call (a bug), with its message.
    Panic(String),
}

impl From<inotify_engine::Error> for Failure {
    fn from(error: inotify_engine::Error) -> Self {
        Failure::Engine(error)
    }
}

/// What JS sees of an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// An errno name (`ENOENT`) or one of this module's `ERR_*` codes.
    pub code: &'static str,
    /// The kernel's errno (positive), where there is one.
    pub errno: Option<i32>,
    /// The system call that failed.
    pub syscall: Option<&'static str>,
    /// The path involved.
    pub path: Option<Vec<u8>>,
    /// What happened.
    pub message: String,
}

impl Description {
    /// An engine error as JS sees it: a failed system call by its errno, the engine's checks of
    /// an argument as `EINVAL`, and its other conditions by codes of this module.
    pub fn of(error: &inotify_engine::Error) -> Self {
        use inotify_engine::Error as E;
        let (code, errno) = match error {
            E::Sys { errno, .. } => (errno_name(*errno), Some(*errno)),
            E::InvalidMask { .. }
            | E::NotWatched { .. }
            | E::Malformed { .. }
            | E::IgnoreFileRefused { .. }
            | E::WrongMode => ("EINVAL", Some(EINVAL)),
            E::Closed => ("ERR_INOTIFY_CLOSED", None),
            E::Panicked { .. } => ("ERR_INOTIFY_PANIC", None),
            E::RootMoved { .. } => ("ERR_INOTIFY_ROOT_MOVED", None),
            E::SnapshotFile { errno, .. } => (errno_name(*errno), Some(*errno)),
            E::SnapshotCorrupt { .. } => ("ERR_INOTIFY_SNAPSHOT_CORRUPT", None),
        };
        Description {
            code,
            errno,
            syscall: error.syscall(),
            path: error.path().map(<[u8]>::to_vec),
            message: error.to_string(),
        }
    }

    fn plain(code: &'static str, message: String) -> Self {
        Description {
            code,
            errno: None,
            syscall: None,
            path: None,
            message,
        }
    }
}

impl Failure {
    /// The JS error to throw.
    fn into_js(self, env: Env) -> napi::Error {
        let (description, type_error) = match self {
            Failure::Engine(error) => (Description::of(&error), false),
            Failure::InvalidArgument(message) => {
                (Description::plain("ERR_INVALID_ARG_VALUE", message), true)
            }
            Failure::Napi(error) => (
                Description::plain("ERR_INOTIFY_NATIVE", error.reason),
                false,
            ),
            Failure::Panic(message) => (
                Description::plain(
                    "ERR_INOTIFY_PANIC",
                    format!("a panic in the native binding (a bug; please report it): {message}"),
                ),
                false,
            ),
        };
        js_error(env, &description, type_error).unwrap_or_else(|_| {
            // The environment could not make an object (it is going away): the code goes in
            // the message, as nothing is likely to read it.
            napi::Error::new(
                Status::GenericFailure,
                format!("{}: {}", description.code, description.message),
            )
        })
    }
}

/// Builds the JS error and hands it to napi-rs as the value to throw (`from_unknown_without_coercion`
/// keeps the object itself, properties and all, and runs no JS to read it).
fn js_error(env: Env, description: &Description, type_error: bool) -> napi::Result<napi::Error> {
    let base = napi::Error::new(description.code, description.message.clone());
    let value: Unknown = if type_error {
        JsTypeError::from(base).into_unknown(env)
    } else {
        JsError::from(base).into_unknown(env)
    };
    let mut object = value.coerce_to_object()?;
    if let Some(errno) = description.errno {
        object.set("errno", -errno)?;
    }
    if let Some(syscall) = description.syscall {
        object.set("syscall", syscall)?;
    }
    if let Some(path) = &description.path {
        // A string when the bytes are UTF-8, as `fs` errors have it; else the bytes themselves.
        match std::str::from_utf8(path) {
            Ok(text) => object.set("path", text)?,
            Err(_) => object.set("path", Buffer::from(path.clone()))?,
        }
    }
    Ok(napi::Error::from_unknown_without_coercion(
        object.to_unknown(),
    ))
}

/// Runs the body of a `#[napi]` function and throws what it failed with as a JS error (see the
/// module's docs). A panic in it (a bug) becomes an `ERR_INOTIFY_PANIC` error with the panic's
/// message, never an unwind into Node (undefined behaviour) or an abort. napi-rs's own
/// `catch_unwind` attribute is not used: it reports a panic with the code `GenericFailure`, which
/// says nothing.
pub fn guard<T>(env: Env, body: impl FnOnce() -> Outcome<T>) -> napi::Result<T> {
    std::panic::catch_unwind(AssertUnwindSafe(body))
        .unwrap_or_else(|payload| Err(Failure::Panic(panic_message(payload.as_ref()))))
        .map_err(|failure| failure.into_js(env))
}

/// What a panic said, from its payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Test-only: panics when `INOTIFY_NAPI_TEST_PANIC=call` is in the environment, so that a test can
/// prove that a panic in a `#[napi]` call reaches JS as `ERR_INOTIFY_PANIC` and the process goes on.
/// Read at each call (a test turns it off again to see the binding still work); the reader
/// thread's own hook is the engine's `INOTIFY_NAPI_TEST_PANIC=reader`.
pub fn panic_if_asked_for_tests() {
    if std::env::var_os(TEST_PANIC_ENV).is_some_and(|value| value == "call") {
        panic!("{TEST_PANIC_ENV}=call: a panic on purpose in a napi call (a test hook)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inotify_engine::Error;

    #[test]
    fn a_failed_system_call_is_its_errno_name_errno_syscall_and_path() {
        let description = Description::of(&Error::Sys {
            syscall: "inotify_add_watch",
            errno: 2,
            path: Some(b"/x".to_vec()),
        });
        assert_eq!(
            (description.code, description.errno, description.syscall),
            ("ENOENT", Some(2), Some("inotify_add_watch"))
        );
        assert_eq!(description.path.as_deref(), Some(&b"/x"[..]));
    }

    #[test]
    fn the_engines_own_conditions_get_this_modules_codes_without_a_syscall() {
        let closed = Description::of(&Error::Closed);
        assert_eq!(
            (closed.code, closed.errno, closed.syscall),
            ("ERR_INOTIFY_CLOSED", None, None)
        );
        let panicked = Description::of(&Error::Panicked {
            message: "boom".into(),
        });
        assert_eq!(panicked.code, "ERR_INOTIFY_PANIC");
        assert!(panicked.message.contains("boom"));
        let moved = Description::of(&Error::RootMoved {
            path: b"/r".to_vec(),
        });
        assert_eq!(
            (moved.code, moved.path),
            ("ERR_INOTIFY_ROOT_MOVED", Some(b"/r".to_vec()))
        );
        let mask = Description::of(&Error::InvalidMask {
            mask: 0,
            bad_bits: 0,
        });
        assert_eq!(
            (mask.code, mask.errno, mask.syscall),
            ("EINVAL", Some(EINVAL), None)
        );
    }

    #[test]
    fn a_snapshot_file_error_keeps_its_errno_and_a_corrupt_one_gets_its_own_code() {
        let file = Description::of(&Error::SnapshotFile {
            action: "open",
            syscall: "open",
            errno: 2,
            path: b"/s".to_vec(),
        });
        assert_eq!(
            (file.code, file.errno, file.syscall, file.path),
            ("ENOENT", Some(2), Some("open"), Some(b"/s".to_vec()))
        );
        assert_eq!(
            file.message,
            "Unable to open snapshot file: No such file or directory ('/s')"
        );
        let corrupt = Description::of(&Error::SnapshotCorrupt {
            path: b"/s".to_vec(),
            reason: "it is cut short".into(),
        });
        assert_eq!(
            (corrupt.code, corrupt.errno, corrupt.path),
            ("ERR_INOTIFY_SNAPSHOT_CORRUPT", None, Some(b"/s".to_vec()))
        );
        assert!(corrupt.message.contains("it is cut short"));
    }
}
