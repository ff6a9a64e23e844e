//! Where emitted events go. One module per destination, behind one trait (as hyperfine's
//! exporters): NDJSON to a file or stdout, Mixpanel's `/import`, or a dry run of it.

pub mod batch;
pub mod dry_run;
pub mod mixpanel;
pub mod ndjson;

use std::io;
use std::sync::Arc;

use thiserror::Error;

use crate::output::RejectsFile;
use crate::report::UploadCounts;

#[derive(Debug, Error)]
pub enum SinkError {
    #[error("writing the output failed")]
    Write(#[source] io::Error),
    #[error("writing the rejects file failed")]
    Rejects(#[source] io::Error),
    #[error("{0}")]
    Upload(String),
    #[error("reading back output held in a temporary file failed")]
    Spill(#[from] io::Error),
}

/// What a sink tells the report when it finishes.
#[derive(Debug, Default)]
pub struct SinkSummary {
    pub upload: Option<UploadCounts>,
    /// Complete files settled at the very end (output committed).
    pub settled: Vec<usize>,
    /// A reason the run must end as a failure (exit 1) once everything is written.
    pub fatal: Option<String>,
    pub notes: Vec<String>,
}

pub trait Sink {
    /// Takes `count` events, complete NDJSON lines, that came from input file number `file`
    /// (of Currents type `event_type`).
    fn write(
        &mut self,
        file: usize,
        event_type: &Arc<str>,
        lines: &[u8],
        count: usize,
        rejects: &mut RejectsFile,
    ) -> Result<(), SinkError>;

    /// Every event of input file number `file` has been handed over; `complete` is false when
    /// the file failed mid-way (such a file is never entered in the state ledger).
    fn file_done(&mut self, _file: usize, _complete: bool, _rejects: &mut RejectsFile) -> Result<(), SinkError> {
        Ok(())
    }

    /// Files whose every event is settled (written for good, imported or recorded as failed)
    /// since the last call; the state ledger records them.
    fn take_settled(&mut self) -> Vec<usize> {
        Vec::new()
    }

    /// True once the sink cannot go on (e.g. Mixpanel refused the credentials).
    fn wants_stop(&self) -> bool {
        false
    }

    /// Flushes, waits for work in flight and commits.
    fn finish(self: Box<Self>, rejects: &mut RejectsFile) -> Result<SinkSummary, SinkError>;
}
