//! Files → transformed NDJSON, converted in parallel by `threads` workers.
//!
//! Two ways to hand the output over:
//! - [`Delivery::FileOrder`] (convert): the consumer gets each file's messages in sorted file
//!   order, so the output is byte-identical whatever the thread count. Workers never wait for
//!   the consumer to reach their file: what does not fit a small memory budget is spilled to a
//!   temporary file and read back in order ([`ordered`]).
//! - [`Delivery::Arrival`] (upload): messages come as they are made, over one bounded queue, so
//!   a slow consumer (the network) holds the workers back instead of filling memory or disk.

mod ordered;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use crate::input::InputFile;
use crate::report::EventCounts;
use crate::selection::Selection;
use crate::transform::TransformOptions;

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
        let capacity = worker::CHUNK_BYTES + worker::CHUNK_BYTES / 4;
        Chunk { event_type, lines: Vec::with_capacity(capacity), events: 0, rejects: Vec::new() }
    }

    fn bytes(&self) -> usize {
        self.lines.len() + self.rejects.len()
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    FileOrder,
    Arrival,
}

/// Converts `files` and hands every message, with its file's index, to `consume`. A file that
/// never gets `Done` was never started (the run was stopped). `stop` makes workers finish the
/// file in hand and start no other; an error from `consume` stops the run too.
pub fn run<E: From<std::io::Error>>(
    files: &[InputFile],
    settings: &Settings,
    threads: usize,
    delivery: Delivery,
    stop: &AtomicBool,
    consume: impl FnMut(usize, Message) -> Result<(), E>,
) -> Result<(), E> {
    match delivery {
        Delivery::FileOrder => ordered::run(files, settings, threads, stop, ordered::Limits::default(), consume),
        Delivery::Arrival => run_arrival(files, settings, threads, stop, consume),
    }
}

/// Workers take the next file until none is left or the run stops.
fn work(files: &[InputFile], next: &AtomicUsize, stop: &AtomicBool, mut convert: impl FnMut(usize)) {
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        if index >= files.len() || stop.load(Ordering::Relaxed) {
            return;
        }
        convert(index);
    }
}

fn run_arrival<E>(
    files: &[InputFile],
    settings: &Settings,
    threads: usize,
    stop: &AtomicBool,
    mut consume: impl FnMut(usize, Message) -> Result<(), E>,
) -> Result<(), E> {
    let threads = threads.max(1);
    let (sender, receiver) = mpsc::sync_channel(threads * 4);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let sender = sender.clone();
            let (next, failed) = (&next, &failed);
            scope.spawn(move || {
                work(files, next, stop, |index| {
                    if !failed.load(Ordering::Relaxed) {
                        worker::convert_file(&files[index], settings, &mut Tagged { index, sender: &sender });
                    }
                })
            });
        }
        drop(sender); // the queue closes when the last worker is done
        for (index, message) in receiver {
            if let Err(e) = consume(index, message) {
                failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    })
}

/// Arrival order: messages tagged with their file.
struct Tagged<'a> {
    index: usize,
    sender: &'a mpsc::SyncSender<(usize, Message)>,
}

impl worker::Output for Tagged<'_> {
    fn send(&mut self, chunk: Chunk) -> bool {
        self.sender.send((self.index, Message::Chunk(chunk))).is_ok()
    }

    fn done(&mut self, result: FileResult) {
        let _ = self.sender.send((self.index, Message::Done(result)));
    }
}
