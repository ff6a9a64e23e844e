//! Files → transformed NDJSON, in parallel, delivered in order.
//!
//! Workers take files in sorted order and stream each file's output in chunks over a small
//! bounded channel of its own; the consumer drains the channels in file order. Output is thus
//! byte-identical whatever the thread count, and memory is bounded by
//! `threads × CHANNEL_CHUNKS × CHUNK_BYTES` however large the input.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use crate::avro::AvroFile;
use crate::input::InputFile;
use crate::json;
use crate::report::EventCounts;
use crate::selection::Selection;
use crate::transform::{self, FilePlan, Outcome, TransformOptions};

const CHUNK_BYTES: usize = 256 * 1024;
const CHANNEL_CHUNKS: usize = 4;

/// What every worker needs to convert a file.
#[derive(Debug)]
pub struct Settings {
    pub transform: TransformOptions,
    pub selection: Selection,
    pub now: i64,
    /// Write reject lines (only when a rejects file was asked for).
    pub collect_rejects: bool,
}

/// A piece of one file's output.
#[derive(Debug)]
pub struct Chunk {
    /// The file's Currents event type.
    pub event_type: Arc<str>,
    /// Complete NDJSON lines.
    pub lines: Vec<u8>,
    pub events: usize,
    /// Complete rejects-file lines.
    pub rejects: Vec<u8>,
}

impl Chunk {
    fn new(event_type: Arc<str>) -> Chunk {
        Chunk { event_type, lines: Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4), events: 0, rejects: Vec::new() }
    }
}

/// How a file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// Decoded to the end.
    Read,
    /// Could not be opened, or broke mid-way (records before the break are counted).
    Failed(String),
    /// Not decoded: its type is not selected.
    Unselected,
    /// Not decoded: its `date=` hour starts 2+ hours before `--since`.
    Pruned,
}

#[derive(Debug, Clone)]
pub struct FileResult {
    pub status: FileStatus,
    /// Known unless the file was unreadable before its header named a type.
    pub event_type: Option<String>,
    pub codec: Option<String>,
    pub counts: EventCounts,
}

#[derive(Debug)]
pub enum Message {
    Chunk(Chunk),
    Done(FileResult),
}

/// Converts `files` on `threads` workers and hands every message to `consume`, file by file in
/// order. A file whose channel closes without `Done` was never started (the run was stopped).
/// `stop` makes workers finish the file in hand and start no other; an error from `consume`
/// stops the run too.
pub fn run<E>(
    files: &[InputFile],
    settings: &Settings,
    threads: usize,
    stop: &AtomicBool,
    mut consume: impl FnMut(usize, Message) -> Result<(), E>,
) -> Result<(), E> {
    let (senders, receivers): (Vec<_>, Vec<_>) = files.iter().map(|_| mpsc::sync_channel(CHANNEL_CHUNKS)).unzip();
    let senders: Vec<Mutex<Option<SyncSender<Message>>>> = senders.into_iter().map(|s| Mutex::new(Some(s))).collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(slot) = senders.get(index) else { break };
                    let sender = slot.lock().expect("sender slot").take().expect("each file is taken once");
                    if stop.load(Ordering::Relaxed) || failed.load(Ordering::Relaxed) {
                        continue; // dropping the sender tells the consumer: not started
                    }
                    convert_file(&files[index], settings, &sender);
                }
            });
        }
        let result = drain(receivers, &mut consume);
        if result.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        result
    })
}

fn drain<E>(
    receivers: Vec<Receiver<Message>>,
    consume: &mut impl FnMut(usize, Message) -> Result<(), E>,
) -> Result<(), E> {
    for (index, receiver) in receivers.into_iter().enumerate() {
        for message in receiver {
            consume(index, message)?;
        }
    }
    Ok(())
}

/// Converts one file, streaming chunks then `Done`. Never panics: a decoder panic fails the file.
fn convert_file(input: &InputFile, settings: &Settings, sender: &SyncSender<Message>) {
    let mut out = FileOutput { sender, chunk: Chunk::new(Arc::from("")), closed: false };
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
    }
    out.flush();
    out.send(Message::Done(result));
}

fn convert_records(input: &InputFile, settings: &Settings, out: &mut FileOutput, result: &mut FileResult) {
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

/// One line of the rejects file: `{"reason","message","file","event_type","record"}`.
pub fn write_reject(
    out: &mut Vec<u8>,
    reason: &str,
    message: &str,
    file: &str,
    event_type: &str,
    record: impl FnOnce(&mut Vec<u8>),
) {
    out.extend_from_slice(b"{\"reason\":");
    json::write_str(out, reason.as_bytes());
    out.extend_from_slice(b",\"message\":");
    json::write_str(out, message.as_bytes());
    out.extend_from_slice(b",\"file\":");
    json::write_str(out, file.as_bytes());
    out.extend_from_slice(b",\"event_type\":");
    json::write_str(out, event_type.as_bytes());
    out.extend_from_slice(b",\"record\":");
    record(out);
    out.extend_from_slice(b"}\n");
}

struct FileOutput<'a> {
    sender: &'a SyncSender<Message>,
    chunk: Chunk,
    closed: bool,
}

impl FileOutput<'_> {
    fn flush(&mut self) {
        if self.chunk.lines.is_empty() && self.chunk.rejects.is_empty() {
            return;
        }
        let next = Chunk::new(Arc::clone(&self.chunk.event_type));
        let chunk = std::mem::replace(&mut self.chunk, next);
        self.send(Message::Chunk(chunk));
    }

    fn send(&mut self, message: Message) {
        if self.sender.send(message).is_err() {
            self.closed = true;
        }
    }
}
