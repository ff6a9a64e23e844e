//! One worker's job: convert one file into chunks of NDJSON lines (and rejects lines), then
//! say how the file ended.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use crate::avro::AvroFile;
use crate::input::InputFile;
use crate::output::write_reject;
use crate::pipeline::{Chunk, FileResult, FileStatus, Settings};
use crate::report::EventCounts;
use crate::transform::{self, FilePlan, Outcome};

/// A chunk is handed over once it holds this much.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// Where a worker's output goes.
pub trait Output {
    /// Hands over a chunk; false once nobody listens any more.
    fn send(&mut self, chunk: Chunk) -> bool;
    fn done(&mut self, result: FileResult);
}

/// Converts one file, streaming chunks then its result. Never panics: a decoder panic fails the
/// file.
pub fn convert_file(input: &InputFile, settings: &Settings, output: &mut dyn Output) {
    let mut out = Buffer { output, chunk: Chunk::new(Arc::from("")), closed: false };
    let mut result = FileResult {
        status: FileStatus::Read,
        event_type: input.event_type.clone(),
        codec: None,
        counts: EventCounts::default(),
    };
    let caught = panic::catch_unwind(AssertUnwindSafe(|| convert_records(input, settings, &mut out, &mut result)));
    if let Err(payload) = caught {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        result.status =
            FileStatus::Failed(format!("internal decoder error after {} records: {what}", result.counts.read));
        // A panic mid-record may have left half a line behind: keep whole lines only.
        for buffer in [&mut out.chunk.lines, &mut out.chunk.rejects] {
            let whole = buffer.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            buffer.truncate(whole);
        }
    }
    out.flush();
    out.output.done(result);
}

fn convert_records(input: &InputFile, settings: &Settings, out: &mut Buffer, result: &mut FileResult) {
    let prune_before = settings.transform.since.map(|since| since - 2 * 3600);
    if let (Some(limit), Some(hour)) = (prune_before, input.date_hour)
        && hour <= limit
    {
        result.status = FileStatus::Pruned;
        return;
    }
    if let Some(event_type) = &input.event_type
        && !settings.selection.selects(event_type)
    {
        result.status = FileStatus::Unselected;
        return;
    }
    let mut file = match AvroFile::open(&input.path) {
        Ok(file) => file,
        Err(e) => {
            result.status = FileStatus::Failed(e.to_string());
            return;
        }
    };
    result.codec = Some(file.codec.clone());
    let event_type = input.event_type.clone().unwrap_or_else(|| file.event_type_from_schema().to_string());
    result.event_type = Some(event_type.clone());
    out.chunk.event_type = Arc::from(event_type.as_str());
    if !settings.selection.selects(&event_type) {
        result.status = FileStatus::Unselected;
        return;
    }
    let names: Vec<&str> = file.field_names.iter().map(String::as_str).collect();
    let plan = FilePlan::new(&event_type, &names, &settings.transform);
    let path = input.display();
    while let Some(next) = file.next_record() {
        let record = match next {
            Ok(record) => record,
            Err(e) => {
                result.status = FileStatus::Failed(e.to_string());
                return;
            }
        };
        let outcome = transform::transform(record, &plan, &settings.transform, settings.now, &mut out.chunk.lines);
        result.counts.count(&outcome);
        match &outcome {
            Outcome::Emit => out.chunk.events += 1,
            Outcome::Reject(reason, message) if settings.collect_rejects => {
                write_reject(&mut out.chunk.rejects, reason.as_str(), message, &path, &event_type, |buf| {
                    record.write_json(plan.field_names(), buf)
                });
            }
            _ => {}
        }
        if out.chunk.lines.len() >= CHUNK_BYTES || out.chunk.rejects.len() >= CHUNK_BYTES {
            if out.closed {
                return; // the consumer has gone; nobody will read the rest
            }
            out.flush();
        }
    }
}

/// The chunk being filled, and where it goes when full.
struct Buffer<'a> {
    output: &'a mut dyn Output,
    chunk: Chunk,
    closed: bool,
}

impl Buffer<'_> {
    fn flush(&mut self) {
        if self.chunk.lines.is_empty() && self.chunk.rejects.is_empty() {
            return;
        }
        let next = Chunk::new(Arc::clone(&self.chunk.event_type));
        let chunk = std::mem::replace(&mut self.chunk, next);
        if !self.output.send(chunk) {
            self.closed = true;
        }
    }
}
