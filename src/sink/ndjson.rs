//! NDJSON to stdout or a file (`.gz` gzips), committed atomically at the end.

use std::io::Write;
use std::sync::Arc;

use crate::output::{Output, RejectsFile};
use crate::sink::{Sink, SinkError, SinkSummary};

pub struct NdjsonSink {
    output: Output,
    complete: Vec<usize>,
}

impl NdjsonSink {
    pub fn new(output: Output) -> NdjsonSink {
        NdjsonSink { output, complete: Vec::new() }
    }
}

impl Sink for NdjsonSink {
    fn write(
        &mut self,
        _file: usize,
        _event_type: &Arc<str>,
        lines: &[u8],
        _count: usize,
        _rejects: &mut RejectsFile,
    ) -> Result<(), SinkError> {
        self.output.write_all(lines).map_err(SinkError::Write)
    }

    fn file_done(&mut self, file: usize, complete: bool, _rejects: &mut RejectsFile) -> Result<(), SinkError> {
        if complete {
            self.complete.push(file);
        }
        Ok(())
    }

    /// Files count as settled only once the output is committed.
    fn finish(self: Box<Self>, _rejects: &mut RejectsFile) -> Result<SinkSummary, SinkError> {
        self.output.commit().map_err(SinkError::Write)?;
        Ok(SinkSummary { settled: self.complete, ..SinkSummary::default() })
    }
}
