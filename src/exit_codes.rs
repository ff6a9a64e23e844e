//! The process exit codes (SPEC §6).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// All good.
    Success = 0,
    /// Fatal: I/O, credentials, bad configuration.
    Fatal = 1,
    /// Usage error.
    Usage = 2,
    /// Finished, but some file failed or some event was rejected or failed.
    Partial = 3,
    /// Stopped by SIGINT (Ctrl-C).
    Interrupted = 130,
    /// Stopped by SIGTERM.
    Terminated = 143,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}
