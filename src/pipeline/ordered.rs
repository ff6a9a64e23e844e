//! File-order delivery: one channel per file, drained in order. The file the consumer is on
//! streams through memory; other files' chunks use memory up to a budget and are spilled to a
//! temporary file beyond it, so every worker keeps converting while memory stays bounded.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tempfile::NamedTempFile;

use super::worker::{self, Output};
use super::{Chunk, FileResult, Message, Settings, work};
use crate::input::InputFile;

/// How much output may wait in memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Output of the file being consumed.
    pub current: usize,
    /// Output of files ahead of it; beyond this it is spilled to disk.
    pub ahead: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { current: 1024 * 1024, ahead: 16 * 1024 * 1024 }
    }
}

enum Piece {
    /// `current` says which budget the chunk was counted in.
    Memory {
        chunk: Chunk,
        current: bool,
    },
    /// The chunk's bytes (lines, then rejects) were appended to the file's spill file.
    Spilled {
        event_type: Arc<str>,
        events: usize,
        lines: usize,
        rejects: usize,
    },
    /// Where this file's spilled chunks can be read back, in order; sent before the first one.
    SpillFile(File),
    Done(FileResult),
}

/// Bytes held in memory by the channels: those of the file being consumed, and those of files
/// ahead of it. Kept apart so that files ahead can never starve the current one.
struct Budget {
    limits: Limits,
    used: Mutex<Used>,
    freed: Condvar,
}

#[derive(Default)]
struct Used {
    current: usize,
    ahead: usize,
    /// The consumer has gone: nobody will give anything back, so nobody may wait.
    closed: bool,
}

impl Budget {
    fn try_take_ahead(&self, n: usize) -> bool {
        let mut used = self.used.lock().expect("budget lock");
        let fits = used.ahead + n <= self.limits.ahead;
        if fits {
            used.ahead += n;
        }
        fits
    }

    /// Waits for room (an oversized chunk passes when nothing else is held); false once the
    /// consumer has gone.
    fn take_current(&self, n: usize) -> bool {
        let mut used = self.used.lock().expect("budget lock");
        while !used.closed && used.current > 0 && used.current + n > self.limits.current {
            used = self.freed.wait(used).expect("budget lock");
        }
        used.current += n;
        !used.closed
    }

    /// Waits until the consumer reaches file `index`; false once the consumer has gone.
    fn wait_for_turn(&self, head: &AtomicUsize, index: usize) -> bool {
        let mut used = self.used.lock().expect("budget lock");
        while !used.closed && head.load(Ordering::Relaxed) != index {
            used = self.freed.wait_timeout(used, Duration::from_millis(50)).expect("budget lock").0;
        }
        !used.closed
    }

    fn close(&self) {
        self.used.lock().expect("budget lock").closed = true;
        self.freed.notify_all();
    }

    fn give_back(&self, n: usize, current: bool) {
        let mut used = self.used.lock().expect("budget lock");
        if current {
            used.current -= n
        } else {
            used.ahead -= n
        }
        drop(used);
        self.freed.notify_all();
    }
}

pub fn run<E: From<io::Error>>(
    files: &[InputFile],
    settings: &Settings,
    threads: usize,
    stop: &AtomicBool,
    limits: Limits,
    mut consume: impl FnMut(usize, Message) -> Result<(), E>,
) -> Result<(), E> {
    let (senders, receivers): (Vec<Sender<Piece>>, Vec<Receiver<Piece>>) =
        files.iter().map(|_| mpsc::channel()).unzip();
    let senders: Vec<Mutex<Option<Sender<Piece>>>> = senders.into_iter().map(|s| Mutex::new(Some(s))).collect();
    let budget = Budget { limits, used: Mutex::default(), freed: Condvar::new() };
    let head = AtomicUsize::new(0);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            let (senders, budget, head, next, failed) = (&senders, &budget, &head, &next, &failed);
            scope.spawn(move || {
                work(files, next, stop, |index| {
                    let Some(sender) = senders[index].lock().expect("sender slot").take() else { return };
                    if !failed.load(Ordering::Relaxed) {
                        let mut output = FileOrderOutput { index, sender, budget, head, spill: None };
                        worker::convert_file(&files[index], settings, &mut output);
                    }
                });
                // Stopped: end the streams of files nobody will start, so the consumer moves on.
                if stop.load(Ordering::Relaxed) {
                    senders.iter().for_each(|slot| drop(slot.lock().expect("sender slot").take()));
                }
            });
        }
        let result = drain(receivers, &budget, &head, &mut consume);
        if result.is_err() {
            failed.store(true, Ordering::Relaxed);
            budget.close();
        }
        result
    })
}

/// Reads each file's pieces in file order. A stream ends when its worker is done with the file
/// (or, when the run stops, when nobody will start it).
fn drain<E: From<io::Error>>(
    receivers: Vec<Receiver<Piece>>,
    budget: &Budget,
    head: &AtomicUsize,
    consume: &mut impl FnMut(usize, Message) -> Result<(), E>,
) -> Result<(), E> {
    for (index, receiver) in receivers.into_iter().enumerate() {
        head.store(index, Ordering::Relaxed);
        budget.freed.notify_all();
        let mut spill: Option<File> = None;
        for piece in receiver {
            let message = match piece {
                Piece::Memory { chunk, current } => {
                    budget.give_back(chunk.bytes(), current);
                    Message::Chunk(chunk)
                }
                Piece::SpillFile(file) => {
                    spill = Some(file);
                    continue;
                }
                Piece::Spilled { event_type, events, lines, rejects } => {
                    let file = spill.as_mut().expect("the spill file comes first");
                    Message::Chunk(read_back(file, event_type, events, lines, rejects)?)
                }
                Piece::Done(result) => {
                    let done = Message::Done(result);
                    consume(index, done)?;
                    break;
                }
            };
            consume(index, message)?;
        }
    }
    Ok(())
}

/// The worker wrote these bytes before sending the piece; a failure here is a disk fault.
fn read_back(file: &mut File, event_type: Arc<str>, events: usize, lines: usize, rejects: usize) -> io::Result<Chunk> {
    let mut chunk = Chunk { event_type, lines: vec![0; lines], events, rejects: vec![0; rejects] };
    file.read_exact(&mut chunk.lines)?;
    file.read_exact(&mut chunk.rejects)?;
    Ok(chunk)
}

struct FileOrderOutput<'a> {
    index: usize,
    sender: Sender<Piece>,
    budget: &'a Budget,
    head: &'a AtomicUsize,
    spill: Option<NamedTempFile>,
}

impl FileOrderOutput<'_> {
    /// Appends the chunk to the spill file, creating it first if needed.
    fn spill(&mut self, chunk: &Chunk) -> io::Result<Option<File>> {
        let mut reader = None;
        if self.spill.is_none() {
            let file = NamedTempFile::new()?;
            reader = Some(file.reopen()?);
            self.spill = Some(file);
        }
        let file = self.spill.as_mut().expect("created above");
        file.write_all(&chunk.lines)?;
        file.write_all(&chunk.rejects)?;
        file.flush()?;
        Ok(reader)
    }
}

impl Output for FileOrderOutput<'_> {
    fn send(&mut self, chunk: Chunk) -> bool {
        let bytes = chunk.bytes();
        let mut current = self.head.load(Ordering::Relaxed) == self.index;
        if current {
            if !self.budget.take_current(bytes) {
                return false;
            }
        } else if !self.budget.try_take_ahead(bytes) {
            match self.spill(&chunk) {
                Ok(reader) => {
                    if let Some(reader) = reader
                        && self.sender.send(Piece::SpillFile(reader)).is_err()
                    {
                        return false;
                    }
                    let Chunk { event_type, events, lines, rejects } = chunk;
                    let piece = Piece::Spilled { event_type, events, lines: lines.len(), rejects: rejects.len() };
                    return self.sender.send(piece).is_ok();
                }
                // No room on disk either: wait for this file's turn, then go through memory.
                Err(_) => {
                    current = true;
                    if !self.budget.wait_for_turn(self.head, self.index) || !self.budget.take_current(bytes) {
                        return false;
                    }
                }
            }
        }
        self.sender.send(Piece::Memory { chunk, current }).is_ok()
    }

    fn done(&mut self, result: FileResult) {
        let _ = self.sender.send(Piece::Done(result));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selection::Selection;
    use crate::transform::TransformOptions;
    use c2m_testkit::fixtures::{self, Codec, Rng};

    /// Everything the consumer saw, in order.
    fn convert(files: &[InputFile], threads: usize, limits: Limits) -> Vec<u8> {
        let settings = Settings {
            transform: TransformOptions::default(),
            selection: Selection::default(),
            now: 1_800_000_000,
            collect_rejects: true,
        };
        let mut seen = Vec::new();
        run(files, &settings, threads, &AtomicBool::new(false), limits, |index, message| {
            match message {
                Message::Chunk(chunk) => {
                    seen.extend_from_slice(format!("{index}:{}:", chunk.events).as_bytes());
                    seen.extend_from_slice(&chunk.lines);
                    seen.extend_from_slice(&chunk.rejects);
                }
                Message::Done(result) => {
                    seen.extend_from_slice(format!("done {index} {:?}\n", result.counts).as_bytes())
                }
            }
            Ok::<_, io::Error>(())
        })
        .unwrap();
        seen
    }

    #[test]
    fn spilling_keeps_file_order_and_every_byte() {
        crate::avro::init();
        let dir = tempfile::tempdir().unwrap();
        let event_type = "users.messages.email.Send";
        let schema = fixtures::schema_json(event_type).unwrap();
        let files: Vec<InputFile> = (0..6)
            .map(|i| {
                let mut rng = Rng::new(i);
                let records: Vec<_> =
                    (0..3000).map(|n| fixtures::gen_record(event_type, &mut rng, 1_792_000_000 + n)).collect();
                let path = dir.path().join(format!("event_type={event_type}/{i}.avro"));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                fixtures::write_json_file(&path, &schema, Codec::Null, &records).unwrap();
                let size = std::fs::metadata(&path).unwrap().len();
                InputFile { path, event_type: Some(event_type.into()), date_hour: None, size }
            })
            .collect();
        let expected = convert(&files, 1, Limits::default());
        assert!(expected.len() > 6 * 1_000_000, "several chunks per file");
        // Tiny budgets: files ahead spill to disk, the current one waits for the consumer.
        let tiny = Limits { current: 64 * 1024, ahead: 64 * 1024 };
        for threads in [2, 4] {
            assert!(convert(&files, threads, tiny) == expected, "{threads} threads");
        }
    }
}
