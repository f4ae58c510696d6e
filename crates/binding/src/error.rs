//! Engine and napi errors as JS errors, mapped here once: the JS `code` is the errno name
//! (`ENOENT`, `ENOSPC`, ...) and the message is the engine's. `src/errors.ts` adds errno, syscall,
//! path and advice.

use inotify_engine::Error;
use std::panic::AssertUnwindSafe;

use napi::Status;

/// A JS error's `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

impl ErrorCode {
    /// Codes that are not errno names.
    pub const ALL: [&'static str; 2] = ["ERR_INOTIFY_NATIVE", "ERR_INOTIFY_PANIC"];
}

impl AsRef<str> for ErrorCode {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl From<Status> for ErrorCode {
    fn from(_status: Status) -> Self {
        ErrorCode("ERR_INOTIFY_NATIVE")
    }
}

/// Runs the body of a `#[napi]` function: a panic in it (a bug) becomes a JS error with code
/// `ERR_INOTIFY_PANIC` and the panic's message, never an unwind into Node (undefined behaviour)
/// or an abort. napi-rs's own `catch_unwind` attribute is not used: it reports a panic with the
/// code `GenericFailure`, which says nothing.
pub fn guard<T>(
    body: impl FnOnce() -> Result<T, napi::Error<ErrorCode>>,
) -> Result<T, napi::Error<ErrorCode>> {
    std::panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        Err(napi::Error::new(
            ErrorCode("ERR_INOTIFY_PANIC"),
            format!("|a panic in the native binding (a bug; please report it): {message}"),
        ))
    })
}

/// An engine error as a JS error.
pub fn engine_error(error: Error) -> napi::Error<ErrorCode> {
    let message = match error.syscall() {
        Some(syscall) => format!("{syscall}|{error}"),
        None => format!("|{error}"),
    };
    napi::Error::new(ErrorCode(error.code()), message)
}

/// A failure of napi itself.
pub fn napi_error(error: napi::Error) -> napi::Error<ErrorCode> {
    napi::Error::new(
        ErrorCode("ERR_INOTIFY_NATIVE"),
        format!("|{}", error.reason),
    )
}

/// A bad argument the engine found (an invalid ignore pattern).
pub fn invalid_argument(message: String) -> napi::Error<ErrorCode> {
    napi::Error::new(ErrorCode("ERR_INVALID_ARG_VALUE"), format!("|{message}"))
}
