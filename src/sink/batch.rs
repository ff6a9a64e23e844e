//! Cutting the event stream into `/import` batches: at most N events and B uncompressed bytes,
//! remembering which input file each event came from.

use std::ops::Range;
use std::sync::Arc;

/// A run of consecutive events in a batch that came from one input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: usize,
    pub event_type: Arc<str>,
    pub count: usize,
}

/// NDJSON lines to send in one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub lines: Vec<u8>,
    pub events: usize,
    pub origins: Vec<Origin>,
}

impl Batch {
    fn push(&mut self, file: usize, event_type: &Arc<str>, line: &[u8]) {
        self.lines.extend_from_slice(line);
        self.events += 1;
        match self.origins.last_mut() {
            Some(last) if last.file == file => last.count += 1,
            _ => self.origins.push(Origin { file, event_type: Arc::clone(event_type), count: 1 }),
        }
    }

    /// Byte ranges of the lines, newline included.
    pub fn line_ranges(&self) -> Vec<Range<usize>> {
        let mut ranges = Vec::with_capacity(self.events);
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &self.lines) {
            ranges.push(start..end + 1);
            start = end + 1;
        }
        ranges
    }

    /// The origin of event `index`.
    pub fn origin_of(&self, index: usize) -> &Origin {
        let mut seen = 0;
        for origin in &self.origins {
            seen += origin.count;
            if index < seen {
                return origin;
            }
        }
        self.origins.last().expect("a batch has events")
    }

    /// Splits in two halves by event count (for 413). Needs at least two events.
    pub fn split(self) -> (Batch, Batch) {
        let half = self.events / 2;
        let ranges = self.line_ranges();
        let (mut first, mut second) = (Batch::default(), Batch::default());
        for (index, range) in ranges.into_iter().enumerate() {
            let origin = self.origin_of(index);
            let target = if index < half { &mut first } else { &mut second };
            target.push(origin.file, &origin.event_type, &self.lines[range]);
        }
        (first, second)
    }
}

/// Accumulates lines into batches.
#[derive(Debug)]
pub struct Batcher {
    max_events: usize,
    max_bytes: usize,
    current: Batch,
    /// The size of the last full batch: the next one starts with that much room.
    typical_bytes: usize,
}

impl Batcher {
    pub fn new(max_events: usize, max_bytes: usize) -> Batcher {
        Batcher {
            max_events: max_events.max(1),
            max_bytes: max_bytes.max(1),
            current: Batch::default(),
            typical_bytes: 0,
        }
    }

    /// Adds complete NDJSON lines; every batch that fills up goes to `ready`.
    pub fn push<E>(
        &mut self,
        file: usize,
        event_type: &Arc<str>,
        lines: &[u8],
        ready: &mut impl FnMut(Batch) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', lines) {
            let line = &lines[start..=end];
            start = end + 1;
            let full = self.current.events >= self.max_events || self.current.lines.len() + line.len() > self.max_bytes;
            if full && self.current.events > 0 {
                self.typical_bytes = self.current.lines.len();
                let next = Batch { lines: Vec::with_capacity(self.typical_bytes), ..Batch::default() };
                ready(std::mem::replace(&mut self.current, next))?;
            }
            self.current.push(file, event_type, line);
        }
        Ok(())
    }

    /// The partial batch, if any.
    pub fn flush(&mut self) -> Option<Batch> {
        (self.current.events > 0).then(|| std::mem::take(&mut self.current))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batches(max_events: usize, max_bytes: usize, input: &[(usize, &str)]) -> Vec<Batch> {
        let mut batcher = Batcher::new(max_events, max_bytes);
        let mut out = Vec::new();
        let t: Arc<str> = Arc::from("t");
        for (file, lines) in input {
            batcher
                .push(*file, &t, lines.as_bytes(), &mut |b| {
                    out.push(b);
                    Ok::<_, ()>(())
                })
                .unwrap();
        }
        out.extend(batcher.flush());
        out
    }

    #[test]
    fn cuts_by_event_count_and_by_bytes() {
        let b = batches(2, 100, &[(0, "a\nb\nc\n"), (1, "d\n")]);
        assert_eq!(b.iter().map(|b| b.events).collect::<Vec<_>>(), [2, 2]);
        assert_eq!(
            b[1].origins,
            [
                Origin { file: 0, event_type: "t".into(), count: 1 },
                Origin { file: 1, event_type: "t".into(), count: 1 }
            ]
        );
        let b = batches(10, 5, &[(0, "aa\nbb\ncc\n")]);
        assert_eq!(
            b.iter().map(|b| b.lines.clone()).collect::<Vec<_>>(),
            [b"aa\n".to_vec(), b"bb\n".to_vec(), b"cc\n".to_vec()]
        );
        // A line bigger than the byte limit still goes, alone.
        let b = batches(10, 2, &[(0, "long\nx\n")]);
        assert_eq!(b.iter().map(|b| b.events).collect::<Vec<_>>(), [1, 1]);
    }

    #[test]
    fn split_keeps_every_event_and_its_origin() {
        let b = batches(10, 100, &[(0, "a\nb\n"), (3, "c\n")]).remove(0);
        let (x, y) = b.split();
        assert_eq!((x.lines.as_slice(), y.lines.as_slice()), (&b"a\n"[..], &b"b\nc\n"[..]));
        assert_eq!(y.origins.iter().map(|o| (o.file, o.count)).collect::<Vec<_>>(), [(0, 1), (3, 1)]);
        assert_eq!(y.origin_of(1).file, 3);
    }
}
