//! Deflate containers, inflated with zlib-rs: the decoder's built-in inflater (miniz_oxide) was
//! the largest single cost of converting deflate files. This reader re-frames the file as an
//! uncompressed container (same schema, same sync marker) that the decoder reads as `null`.
//! Blocks may carry trailing bytes after the deflate stream (Python writers leave 3): ignored.

use std::io::{self, Read};

use flate2::{Decompress, FlushDecompress, Status};

use super::MAX_ALLOCATION_BYTES;
use super::header::{self, Header, invalid};

/// Output room added at a time, at least (an empty block must not leave the buffer without room).
const MIN_ROOM: usize = 64 * 1024;

pub struct Inflating<R> {
    input: R,
    /// Re-framed bytes not yet read.
    ready: Vec<u8>,
    at: usize,
    compressed: Vec<u8>,
    inflated: Vec<u8>,
    inflater: Decompress,
}

impl<R: Read> Inflating<R> {
    /// `input` is positioned after `header`.
    pub fn new(header: &Header, input: R) -> Inflating<R> {
        Inflating {
            input,
            ready: header.encode_with_codec("null"),
            at: 0,
            compressed: Vec::new(),
            inflated: Vec::new(),
            inflater: Decompress::new(false),
        }
    }

    /// Re-frames the next block; leaves `ready` empty at the end of the file.
    fn next_block(&mut self) -> io::Result<()> {
        self.ready.clear();
        self.at = 0;
        let Some((count, size)) = header::read_block_header(&mut self.input)? else { return Ok(()) };
        self.compressed.resize(size as usize, 0);
        self.input.read_exact(&mut self.compressed)?;
        let mut sync = [0u8; 16];
        self.input.read_exact(&mut sync)?;
        self.inflate()?;
        header::write_long(&mut self.ready, count);
        header::write_long(&mut self.ready, self.inflated.len() as i64);
        self.ready.extend_from_slice(&self.inflated);
        // Passed on unchecked: the decoder reports a wrong marker itself.
        self.ready.extend_from_slice(&sync);
        Ok(())
    }

    fn inflate(&mut self) -> io::Result<()> {
        self.inflater.reset(false);
        self.inflated.clear();
        self.inflated.reserve((self.compressed.len() * 4).max(MIN_ROOM));
        loop {
            if self.inflated.len() == self.inflated.capacity() {
                if self.inflated.len() >= MAX_ALLOCATION_BYTES {
                    return Err(invalid("a deflate block inflates beyond any real block: a corrupt file?"));
                }
                self.inflated.reserve(self.inflated.len().max(MIN_ROOM));
            }
            let (read, written) = (self.inflater.total_in(), self.inflater.total_out());
            let status = self
                .inflater
                .decompress_vec(&self.compressed[read as usize..], &mut self.inflated, FlushDecompress::Finish)
                .map_err(|e| invalid(&format!("corrupt deflate block: {e}")))?;
            if status == Status::StreamEnd {
                return Ok(());
            }
            // With room left for output, no progress means the stream is cut short.
            let stuck = self.inflater.total_in() == read && self.inflater.total_out() == written;
            if stuck && self.inflated.len() < self.inflated.capacity() {
                return Err(invalid("corrupt deflate block: the stream ends early"));
            }
        }
    }
}

impl<R: Read> Read for Inflating<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.ready.len() {
            self.next_block()?;
        }
        let n = buf.len().min(self.ready.len() - self.at);
        buf[..n].copy_from_slice(&self.ready[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn raw_deflate(data: &[u8], trailing: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        let mut out = e.finish().unwrap();
        out.extend_from_slice(trailing);
        out
    }

    fn container(blocks: &[(i64, Vec<u8>)]) -> Vec<u8> {
        let mut file = b"Obj\x01".to_vec();
        header::write_long(&mut file, 2);
        for (k, v) in [("avro.schema", "\"string\""), ("avro.codec", "deflate")] {
            header::write_long(&mut file, k.len() as i64);
            file.extend_from_slice(k.as_bytes());
            header::write_long(&mut file, v.len() as i64);
            file.extend_from_slice(v.as_bytes());
        }
        header::write_long(&mut file, 0);
        file.extend_from_slice(&[9; 16]);
        for (count, data) in blocks {
            header::write_long(&mut file, *count);
            header::write_long(&mut file, data.len() as i64);
            file.extend_from_slice(data);
            file.extend_from_slice(&[9; 16]);
        }
        file
    }

    fn reframe(file: &[u8]) -> io::Result<Vec<u8>> {
        let mut input = file;
        let header = Header::read(&mut input).unwrap();
        let mut out = Vec::new();
        Inflating::new(&header, input).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn blocks_are_inflated_and_reframed_trailing_bytes_ignored() {
        let big = vec![b'x'; 300_000];
        let file = container(&[(1, raw_deflate(b"\x06abc", b"\x01\x02\x03")), (2, raw_deflate(&big, b""))]);
        let out = reframe(&file).unwrap();
        let mut input = out.as_slice();
        let header = Header::read(&mut input).unwrap();
        assert_eq!((header.codec().as_str(), header.sync), ("null", [9; 16]));
        assert_eq!(header::read_block_header(&mut input).unwrap(), Some((1, 4)));
        assert_eq!(&input[..4 + 16], &[b"\x06abc".as_slice(), &[9; 16]].concat()[..]);
        input = &input[20..];
        assert_eq!(header::read_block_header(&mut input).unwrap(), Some((2, big.len() as i64)));
    }

    #[test]
    fn corrupt_or_cut_blocks_are_errors() {
        assert!(reframe(&container(&[(1, b"\xff\xff\xff garbage".to_vec())])).is_err());
        // Found by fuzzing: an empty block once looped for ever.
        assert!(reframe(&container(&[(0, Vec::new())])).is_err());
        let cut = raw_deflate(&vec![b'y'; 100_000], b"");
        assert!(reframe(&container(&[(1, cut[..cut.len() / 2].to_vec())])).is_err());
        let mut file = container(&[(1, raw_deflate(b"abc", b""))]);
        file.truncate(file.len() - 5);
        assert!(reframe(&file).is_err());
    }
}
