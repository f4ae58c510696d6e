//! Engine and napi errors as JS errors, mapped here once: the JS `code` is the errno name
//! (`ENOENT`, `ENOSPC`, ...) and the message is the engine's. `src/errors.ts` adds errno, syscall,
//! path and advice.

use inotify_engine::Error;
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
    fn from(status: Status) -> Self {
        // napi-rs turns a caught panic into GenericFailure with the panic's text as the reason.
        match status {
            Status::GenericFailure => ErrorCode("ERR_INOTIFY_PANIC"),
            _ => ErrorCode("ERR_INOTIFY_NATIVE"),
        }
    }
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
