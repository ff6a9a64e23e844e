//! `upload --dry-run`: everything but the network. Batches are cut exactly as for a real
//! upload and counted; the first few events are shown, pretty, on stdout.

use std::io::{self, Write};
use std::sync::Arc;

use crate::output::RejectsFile;
use crate::report::thousands;
use crate::sink::batch::Batcher;
use crate::sink::{Sink, SinkError, SinkSummary};

pub struct DryRunSink {
    batcher: Batcher,
    preview_left: usize,
    batches: u64,
    events: u64,
    bytes: u64,
    destination: String,
}

impl DryRunSink {
    /// `destination` names where a real run would send (host and auth), for the summary.
    pub fn new(batch_events: usize, batch_bytes: usize, preview: usize, destination: String) -> DryRunSink {
        DryRunSink {
            batcher: Batcher::new(batch_events, batch_bytes),
            preview_left: preview,
            batches: 0,
            events: 0,
            bytes: 0,
            destination,
        }
    }

    fn preview(&mut self, lines: &[u8]) -> Result<(), SinkError> {
        let mut out = io::stdout().lock();
        for line in lines.split_inclusive(|b| *b == b'\n').take(self.preview_left) {
            let mut event: serde_json::Value = serde_json::from_slice(line).expect("the transform writes valid JSON");
            if let Some(token) = event.pointer_mut("/properties/token") {
                *token = serde_json::Value::String("***".into());
            }
            serde_json::to_writer_pretty(&mut out, &event).map_err(|e| SinkError::Write(e.into()))?;
            writeln!(out).map_err(SinkError::Write)?;
            self.preview_left -= 1;
        }
        out.flush().map_err(SinkError::Write)
    }
}

impl Sink for DryRunSink {
    fn write(
        &mut self,
        file: usize,
        event_type: &Arc<str>,
        lines: &[u8],
        count: usize,
        _rejects: &mut RejectsFile,
    ) -> Result<(), SinkError> {
        if self.preview_left > 0 {
            self.preview(lines)?;
        }
        self.events += count as u64;
        let (batches, bytes) = (&mut self.batches, &mut self.bytes);
        self.batcher.push(file, event_type, lines, &mut |batch| {
            *batches += 1;
            *bytes += batch.lines.len() as u64;
            Ok(())
        })
    }

    fn finish(mut self: Box<Self>, _rejects: &mut RejectsFile) -> Result<SinkSummary, SinkError> {
        if let Some(batch) = self.batcher.flush() {
            self.batches += 1;
            self.bytes += batch.lines.len() as u64;
        }
        let note = format!(
            "dry run: nothing was sent; a real run would send {} events in {} batches ({} bytes uncompressed) to {}",
            thousands(self.events),
            thousands(self.batches),
            thousands(self.bytes),
            self.destination
        );
        Ok(SinkSummary { notes: vec![note], ..SinkSummary::default() })
    }
}
