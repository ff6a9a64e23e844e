//! The run loop shared by `convert` and `upload`: files → pipeline → sink, with the report,
//! the rejects file and progress kept up to date in file order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::input::InputFile;
use crate::output::RejectsFile;
use crate::pipeline::{self, Delivery, FileStatus, Message, Settings};
use crate::progress::Progress;
use crate::report::{Report, TypeCounts};
use crate::sink::{Sink, SinkError};
use crate::state::Ledger;

/// Everything one run needs besides its sink.
pub struct Run<'a> {
    pub files: &'a [InputFile],
    /// File order for NDJSON (deterministic output), arrival order for uploads.
    pub delivery: Delivery,
    pub settings: &'a Settings,
    pub threads: usize,
    pub stop: &'a AtomicBool,
    pub progress: &'a mut Progress,
    pub ledger: Option<&'a mut Ledger>,
}

/// Runs the files through the sink; the report covers everything read, even on error.
pub fn execute(run: Run<'_>, mut sink: Box<dyn Sink>, rejects: &mut RejectsFile) -> (Report, Result<(), SinkError>) {
    let started = Instant::now();
    let Run { files, delivery, settings, threads, stop, progress, mut ledger } = run;
    let mut report = Report::default();
    let mut finished = vec![false; files.len()];
    let result = pipeline::run(files, settings, threads, delivery, stop, |index, message| {
        match message {
            Message::Chunk(chunk) => {
                progress.add_events(chunk.events as u64);
                rejects.write(&chunk.rejects).map_err(SinkError::Rejects)?;
                sink.write(index, &chunk.event_type, &chunk.lines, chunk.events, rejects)?;
            }
            Message::Done(result) => {
                finished[index] = true;
                progress.file_done(files[index].size);
                let complete = result.status == FileStatus::Read;
                account_file(&mut report, &files[index], result);
                sink.file_done(index, complete, rejects)?;
            }
        }
        if let Some(ledger) = ledger.as_deref_mut() {
            ledger.settle(sink.take_settled().into_iter().map(|i| &files[i]));
        }
        if sink.wants_stop() {
            stop.store(true, Ordering::Relaxed);
        }
        Ok(())
    });
    report.files_not_started = finished.iter().filter(|f| !**f).count() as u64;
    let result = result.and_then(|()| {
        let summary = sink.finish(rejects)?;
        if let Some(ledger) = &mut ledger {
            ledger.settle(summary.settled.iter().map(|i| &files[*i]));
        }
        report.upload = summary.upload;
        report.fatal = summary.fatal;
        report.notes.extend(summary.notes);
        Ok(())
    });
    progress.finish();
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    (report, result)
}

fn account_file(report: &mut Report, input: &InputFile, result: pipeline::FileResult) {
    match &result.status {
        FileStatus::Read => report.files_read += 1,
        FileStatus::Failed(why) => report.files_failed.push((input.display(), why.clone())),
        FileStatus::Unselected => {
            let event_type = result.event_type.clone().unwrap_or_default();
            *report.skipped_types.entry(event_type).or_default() += 1;
        }
        FileStatus::Pruned => report.files_pruned += 1,
    }
    report.events.add(&result.counts);
    let decoded = result.status == FileStatus::Read || result.counts.read > 0;
    if let (true, Some(event_type)) = (decoded, result.event_type) {
        let entry: &mut TypeCounts = report.by_event_type.entry(event_type).or_default();
        entry.read += result.counts.read;
        entry.emitted += result.counts.emitted;
    }
}
