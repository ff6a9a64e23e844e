//! Errors that decide the exit code at the top.

use thiserror::Error;

/// A command line that cannot work as given (exit code 2).
#[derive(Debug, Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl UsageError {
    pub fn new(message: impl Into<String>) -> UsageError {
        UsageError(message.into())
    }
}

/// True when the error chain holds a broken pipe: the reader of stdout went away (`| head`),
/// which is not a failure.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    use std::io::{Error, ErrorKind};
    error.chain().any(|cause| {
        cause.downcast_ref::<Error>().is_some_and(|e| e.kind() == ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(ErrorKind::BrokenPipe))
    })
}
