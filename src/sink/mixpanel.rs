//! Uploads to Mixpanel's `/import`: batches go to `--workers` threads over a bounded queue
//! (backpressure: memory stays bounded whatever the input size); each worker gzips, sends and
//! retries its batch, and reports how every event of it ended. The main thread accounts for
//! the results: imported, or failed with a reason and a line in the rejects file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::import_api::{self, Client, Verdict};
use crate::output::{RejectsFile, write_reject};
use crate::report::{UploadCounts, UploadFailure};
use crate::sink::batch::{Batch, Batcher};
use crate::sink::{Sink, SinkError, SinkSummary};

#[derive(Debug, Clone)]
pub struct UploadSettings {
    pub client: Client,
    pub workers: usize,
    pub batch_events: usize,
    pub batch_bytes: usize,
    pub max_retries: u32,
    pub retry_base: Duration,
}

/// How one batch ended.
#[derive(Debug, Default)]
struct Settled {
    batches: u64,
    imported: u64,
    retries: u64,
    failed: BTreeMap<UploadFailure, u64>,
    failures: Vec<FailedEvent>,
    /// Every event of the batch, by file, now settled one way or the other.
    origins: Vec<(usize, usize)>,
    /// Files whose failures may not repeat on a rerun (a whole batch refused: a wrong URL, a
    /// proxy): kept out of the state ledger.
    retry_later: Vec<usize>,
    fatal: Option<String>,
}

/// One event that did not make it, for the rejects file.
#[derive(Debug)]
struct FailedEvent {
    reason: UploadFailure,
    message: String,
    file: usize,
    event_type: Arc<str>,
    /// The Mixpanel event (one NDJSON line, no newline); `None` if Mixpanel named an event we
    /// cannot find in the batch.
    line: Option<Vec<u8>>,
}

impl Settled {
    /// Nothing settled yet, for every event of `batch`.
    fn for_batch(batch: &Batch) -> Settled {
        Settled { origins: batch.origins.iter().map(|o| (o.file, o.count)).collect(), ..Settled::default() }
    }

    fn fail(&mut self, reason: UploadFailure, message: &str, batch: &Batch) {
        *self.failed.entry(reason).or_default() += batch.events as u64;
        for (index, range) in batch.line_ranges().into_iter().enumerate() {
            let origin = batch.origin_of(index);
            self.failures.push(FailedEvent {
                reason,
                message: message.to_string(),
                file: origin.file,
                event_type: Arc::clone(&origin.event_type),
                line: Some(batch.lines[range.start..range.end - 1].to_vec()),
            });
        }
    }
}

/// What workers share.
struct Worker {
    settings: UploadSettings,
    /// Set when Mixpanel refuses the credentials: nothing more is sent.
    unauthorized: Arc<AtomicBool>,
    /// Set by an interruption: batches waiting to be sent or retried are not sent.
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn halted(&self) -> bool {
        self.unauthorized.load(Ordering::Relaxed) || self.stop.load(Ordering::Relaxed)
    }

    fn run(&self, batch: Batch) -> Settled {
        let mut settled = Settled::for_batch(&batch);
        self.send(batch, &mut settled);
        settled
    }

    fn send(&self, batch: Batch, settled: &mut Settled) {
        if self.halted() {
            return settled.fail(UploadFailure::NotSent, NOT_SENT, &batch);
        }
        let body = self.settings.client.encode(&batch.lines);
        settled.batches += 1;
        let mut attempt = 0;
        loop {
            let verdict = import_api::classify(&self.settings.client.send(&body));
            let (why, short_count) = match verdict {
                Verdict::Imported(n) if n >= batch.events as u64 => {
                    settled.imported += batch.events as u64;
                    return;
                }
                // Mixpanel has been known to answer 200 and drop events; resending is safe.
                Verdict::Imported(n) => (format!("Mixpanel imported {n} of {} events", batch.events), Some(n)),
                Verdict::Partial(records) => return partial(&batch, records, settled),
                Verdict::Refused(message) => {
                    settled.retry_later.extend(batch.origins.iter().map(|o| o.file));
                    return settled.fail(UploadFailure::RejectedByMixpanel, &message, &batch);
                }
                Verdict::Unauthorized(message) => {
                    self.unauthorized.store(true, Ordering::Relaxed);
                    settled.fatal = Some(message);
                    return settled.fail(UploadFailure::NotSent, NOT_SENT, &batch);
                }
                Verdict::TooLarge(message) if batch.events < 2 => {
                    return settled.fail(UploadFailure::RejectedByMixpanel, &message, &batch);
                }
                Verdict::TooLarge(_) => {
                    let (first, second) = batch.split();
                    self.send(first, settled);
                    return self.send(second, settled);
                }
                Verdict::Retry(why) => (why, None),
            };
            if self.halted() {
                return settled.fail(UploadFailure::NotSent, NOT_SENT, &batch);
            }
            if attempt >= self.settings.max_retries {
                let message = format!("{why} (gave up after {attempt} retries)");
                return match short_count {
                    Some(imported) => count_mismatch(&batch, imported, &message, settled),
                    None => settled.fail(UploadFailure::GaveUpAfterRetries, &message, &batch),
                };
            }
            self.sleep(import_api::backoff(self.settings.retry_base, attempt, fastrand::f64()));
            if self.halted() {
                return settled.fail(UploadFailure::NotSent, NOT_SENT, &batch);
            }
            attempt += 1;
            settled.retries += 1;
        }
    }

    /// Sleeps, waking early if the run is halted.
    fn sleep(&self, delay: Duration) {
        let until = Instant::now() + delay;
        while !self.halted() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
    }
}

/// Mixpanel kept importing fewer events than sent: count the shortfall as failed, and list the
/// whole batch in the rejects file since which events are missing is unknown.
fn count_mismatch(batch: &Batch, imported: u64, message: &str, settled: &mut Settled) {
    let message = format!("{message}; which events are missing is unknown, resending this batch is safe");
    settled.fail(UploadFailure::ImportCountMismatch, &message, batch);
    let counted = settled.failed.entry(UploadFailure::ImportCountMismatch).or_default();
    *counted -= imported;
    settled.imported += imported;
}

const NOT_SENT: &str = "not sent: the run stopped before this event was sent";

/// A strict-mode 400: the named events failed, the rest were imported.
fn partial(batch: &Batch, records: Vec<import_api::FailedRecord>, settled: &mut Settled) {
    let ranges = batch.line_ranges();
    let mut seen = HashSet::new();
    let mut failed = 0u64;
    for record in records {
        let index = record.index.filter(|i| *i < batch.events).or_else(|| {
            let id = record.insert_id.as_deref()?;
            ranges.iter().position(|r| insert_id(&batch.lines[r.clone()]).as_deref() == Some(id))
        });
        if let Some(i) = index
            && !seen.insert(i)
        {
            continue; // the same event named twice
        }
        failed += 1;
        let origin = batch.origin_of(index.unwrap_or(0));
        settled.failures.push(FailedEvent {
            reason: UploadFailure::RejectedByMixpanel,
            message: record.message,
            file: origin.file,
            event_type: Arc::clone(&origin.event_type),
            line: index.map(|i| batch.lines[ranges[i].start..ranges[i].end - 1].to_vec()),
        });
    }
    let failed = failed.min(batch.events as u64);
    *settled.failed.entry(UploadFailure::RejectedByMixpanel).or_default() += failed;
    settled.imported += batch.events as u64 - failed;
}

fn insert_id(line: &[u8]) -> Option<String> {
    let event: serde_json::Value = serde_json::from_slice(line).ok()?;
    event["properties"]["$insert_id"].as_str().map(String::from)
}

/// The rejects file gets the Mixpanel event without its `token` (a credential).
fn redacted(line: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(mut event) => {
            if let Some(properties) = event.get_mut("properties").and_then(|p| p.as_object_mut()) {
                properties.remove("token");
            }
            serde_json::to_vec(&event).expect("serialisable")
        }
        Err(_) => b"null".to_vec(),
    }
}

/// Which input files are fully settled, for the state ledger.
#[derive(Debug, Default)]
struct FileTracker {
    pending: HashMap<usize, u64>,
    complete: HashSet<usize>,
    /// Files with events that failed for a passing reason (not sent, gave up): a rerun should
    /// try them again, so they never enter the ledger.
    retry_later: HashSet<usize>,
    settled: Vec<usize>,
}

impl FileTracker {
    fn add(&mut self, file: usize, events: usize) {
        *self.pending.entry(file).or_default() += events as u64;
    }

    fn settle(&mut self, file: usize, events: usize) {
        let pending = self.pending.entry(file).or_default();
        *pending = pending.saturating_sub(events as u64);
        self.check(file);
    }

    fn file_done(&mut self, file: usize) {
        self.complete.insert(file);
        self.check(file);
    }

    fn check(&mut self, file: usize) {
        let idle = self.pending.get(&file).is_none_or(|n| *n == 0);
        if idle && self.complete.contains(&file) && !self.retry_later.contains(&file) {
            self.complete.remove(&file);
            self.settled.push(file);
        }
    }
}

pub struct MixpanelSink {
    batcher: Batcher,
    jobs: Option<SyncSender<Batch>>,
    results: Receiver<Settled>,
    workers: Vec<JoinHandle<()>>,
    unauthorized: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    counts: UploadCounts,
    files: FileTracker,
    paths: Vec<String>,
    fatal: Option<String>,
}

impl MixpanelSink {
    /// `paths` are the input files' display paths, by file index (for the rejects file).
    pub fn start(settings: UploadSettings, paths: Vec<String>, stop: Arc<AtomicBool>) -> MixpanelSink {
        // A short queue is enough to keep the workers busy; more would only hold memory.
        let (jobs, queue) = mpsc::sync_channel::<Batch>(2);
        let (results_tx, results) = mpsc::channel();
        let queue = Arc::new(Mutex::new(queue));
        let unauthorized = Arc::new(AtomicBool::new(false));
        let worker = Arc::new(Worker {
            settings: settings.clone(),
            unauthorized: Arc::clone(&unauthorized),
            stop: Arc::clone(&stop),
        });
        let workers = (0..settings.workers.max(1))
            .map(|i| {
                let (queue, results_tx, worker) = (Arc::clone(&queue), results_tx.clone(), Arc::clone(&worker));
                std::thread::Builder::new()
                    .name(format!("upload-{i}"))
                    .spawn(move || work(&queue, &results_tx, &worker))
                    .expect("spawning an upload worker")
            })
            .collect();
        MixpanelSink {
            batcher: Batcher::new(settings.batch_events, settings.batch_bytes),
            jobs: Some(jobs),
            results,
            workers,
            unauthorized,
            stop,
            counts: UploadCounts::default(),
            files: FileTracker::default(),
            paths,
            fatal: None,
        }
    }

    fn halted(&self) -> bool {
        self.unauthorized.load(Ordering::Relaxed) || self.stop.load(Ordering::Relaxed)
    }

    /// Accounts for finished batches without waiting.
    fn drain(&mut self, rejects: &mut RejectsFile) -> Result<(), SinkError> {
        while let Ok(settled) = self.results.try_recv() {
            self.account(settled, rejects)?;
        }
        Ok(())
    }

    fn account(&mut self, settled: Settled, rejects: &mut RejectsFile) -> Result<(), SinkError> {
        self.counts.batches += settled.batches;
        self.counts.imported += settled.imported;
        self.counts.retries += settled.retries;
        for (reason, n) in settled.failed {
            self.counts.add_failed(reason, n);
        }
        self.files.retry_later.extend(&settled.retry_later);
        let mut lines = Vec::new();
        for failure in &settled.failures {
            if failure.reason.is_transient() {
                self.files.retry_later.insert(failure.file);
            }
            let path = self.paths.get(failure.file).map_or("", String::as_str);
            write_reject(&mut lines, failure.reason.as_str(), &failure.message, path, &failure.event_type, |out| {
                out.extend_from_slice(&failure.line.as_deref().map_or_else(|| b"null".to_vec(), redacted))
            });
        }
        rejects.write(&lines).map_err(SinkError::Rejects)?;
        for (file, events) in settled.origins {
            self.files.settle(file, events);
        }
        if self.fatal.is_none() {
            self.fatal = settled.fatal.map(|m| format!("Mixpanel refused the credentials: {m}; check --service-account/--project-id, --secret or --token and the region"));
        }
        Ok(())
    }

    fn fail_here(&mut self, batch: Batch, rejects: &mut RejectsFile) -> Result<(), SinkError> {
        let mut settled = Settled::for_batch(&batch);
        settled.fail(UploadFailure::NotSent, NOT_SENT, &batch);
        self.account(settled, rejects)
    }
}

fn work(queue: &Mutex<Receiver<Batch>>, results: &Sender<Settled>, worker: &Worker) {
    loop {
        let next = queue.lock().expect("queue lock").recv();
        let Ok(batch) = next else { return };
        if results.send(worker.run(batch)).is_err() {
            return;
        }
    }
}

impl Sink for MixpanelSink {
    fn write(
        &mut self,
        file: usize,
        event_type: &Arc<str>,
        lines: &[u8],
        count: usize,
        rejects: &mut RejectsFile,
    ) -> Result<(), SinkError> {
        self.drain(rejects)?;
        self.files.add(file, count);
        let mut halted_batches = Vec::new();
        let halted = self.halted();
        let jobs = self.jobs.as_ref().expect("not finished");
        self.batcher.push(file, event_type, lines, &mut |batch| {
            if halted {
                halted_batches.push(batch);
                return Ok(());
            }
            jobs.send(batch).map_err(|_| SinkError::Upload("the upload workers stopped unexpectedly".into()))
        })?;
        if halted && let Some(batch) = self.batcher.flush() {
            halted_batches.push(batch);
        }
        for batch in halted_batches {
            self.fail_here(batch, rejects)?;
        }
        Ok(())
    }

    fn file_done(&mut self, file: usize, complete: bool, rejects: &mut RejectsFile) -> Result<(), SinkError> {
        if complete {
            self.files.file_done(file);
        }
        self.drain(rejects)
    }

    fn take_settled(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.files.settled)
    }

    fn wants_stop(&self) -> bool {
        self.unauthorized.load(Ordering::Relaxed)
    }

    fn finish(mut self: Box<Self>, rejects: &mut RejectsFile) -> Result<SinkSummary, SinkError> {
        if let Some(batch) = self.batcher.flush() {
            if self.halted() {
                self.fail_here(batch, rejects)?;
            } else if let Some(jobs) = &self.jobs {
                jobs.send(batch).map_err(|_| SinkError::Upload("the upload workers stopped unexpectedly".into()))?;
            }
        }
        self.jobs = None; // workers end once the queue is empty
        for worker in std::mem::take(&mut self.workers) {
            if worker.join().is_err() {
                return Err(SinkError::Upload("an upload worker crashed".into()));
            }
        }
        while let Ok(settled) = self.results.try_recv() {
            self.account(settled, rejects)?;
        }
        Ok(SinkSummary {
            upload: Some(std::mem::take(&mut self.counts)),
            settled: std::mem::take(&mut self.files.settled),
            fatal: self.fatal.take(),
            notes: Vec::new(),
        })
    }
}
