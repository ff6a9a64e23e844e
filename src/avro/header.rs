//! The object container framing the decoder does not expose: header metadata, block headers.

use std::io::{self, Read};

use super::{MAX_ALLOCATION_BYTES, ReadError};

const MAGIC: &[u8; 4] = b"Obj\x01";

/// A container header: its metadata entries (in file order) and sync marker.
#[derive(Debug, Clone)]
pub struct Header {
    entries: Vec<(String, Vec<u8>)>,
    pub sync: [u8; 16],
}

impl Header {
    /// Reads magic, metadata map and sync marker, leaving `input` at the first block.
    pub fn read(input: &mut impl Read) -> Result<Header, ReadError> {
        let bad = |what: &str| ReadError::Header(what.to_string());
        let mut magic = [0u8; 4];
        input.read_exact(&mut magic).map_err(|_| bad("shorter than the 4-byte magic"))?;
        if magic != *MAGIC {
            return Err(bad("bad magic bytes (expected \"Obj\\x01\")"));
        }
        let mut entries = Vec::new();
        loop {
            let count = read_long(input).map_err(|_| bad("truncated header"))?;
            if count == 0 {
                break;
            }
            if count < 0 {
                read_long(input).map_err(|_| bad("truncated header"))?; // block byte size
            }
            for _ in 0..count.unsigned_abs() {
                let key = read_bytes(input).map_err(|_| bad("truncated header"))?;
                let value = read_bytes(input).map_err(|_| bad("truncated header"))?;
                entries.push((String::from_utf8_lossy(&key).into_owned(), value));
            }
        }
        let mut sync = [0u8; 16];
        input.read_exact(&mut sync).map_err(|_| bad("truncated header (no sync marker)"))?;
        Ok(Header { entries, sync })
    }

    fn get(&self, key: &str) -> Option<&[u8]> {
        self.entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }

    pub fn schema(&self) -> Result<String, ReadError> {
        let schema = self.get("avro.schema").ok_or_else(|| ReadError::Header("no avro.schema in the header".into()))?;
        Ok(String::from_utf8_lossy(schema).into_owned())
    }

    /// `null` when absent, as the Avro specification says.
    pub fn codec(&self) -> String {
        match self.get("avro.codec") {
            Some(codec) if !codec.is_empty() => String::from_utf8_lossy(codec).into_owned(),
            _ => "null".to_string(),
        }
    }

    /// The header again, with another codec.
    pub fn encode_with_codec(&self, codec: &str) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        let entries: Vec<(&str, &[u8])> = self
            .entries
            .iter()
            .filter(|(k, _)| k != "avro.codec")
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .chain([("avro.codec", codec.as_bytes())])
            .collect();
        write_long(&mut out, entries.len() as i64);
        for (key, value) in entries {
            write_bytes(&mut out, key.as_bytes());
            write_bytes(&mut out, value);
        }
        write_long(&mut out, 0);
        out.extend_from_slice(&self.sync);
        out
    }
}

/// Counts records from block headers alone, without decoding them.
pub fn count_records(mut input: impl Read) -> Result<u64, ReadError> {
    let sync = Header::read(&mut input)?.sync;
    let mut records: u64 = 0;
    let broken = |records: u64, message: &str| ReadError::Decode { records, message: message.to_string() };
    loop {
        let Some((count, size)) = read_block_header(&mut input).map_err(|e| broken(records, &e.to_string()))? else {
            return Ok(records);
        };
        let skipped = io::copy(&mut (&mut input).take(size as u64), &mut io::sink())
            .map_err(|e| broken(records, &e.to_string()))?;
        let mut marker = [0u8; 16];
        if skipped != size as u64 || input.read_exact(&mut marker).is_err() {
            return Err(broken(records, "truncated block"));
        }
        if marker != sync {
            return Err(broken(records, "block sync marker does not match the header's"));
        }
        records += count as u64;
    }
}

/// A block's record count and byte size; `None` at a clean end of file.
pub fn read_block_header(input: &mut impl Read) -> io::Result<Option<(i64, i64)>> {
    let count = match read_long(input) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(_) => return Err(invalid("bad block header")),
    };
    let size = read_long(input).map_err(|_| invalid("truncated block header"))?;
    if count < 0 || size < 0 {
        return Err(invalid("negative block count or size"));
    }
    if size as u64 > MAX_ALLOCATION_BYTES as u64 {
        return Err(invalid("a block claims more bytes than any real block holds: a corrupt length?"));
    }
    Ok(Some((count, size)))
}

pub fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

pub fn read_long(input: &mut impl Read) -> io::Result<i64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let mut byte = [0u8];
        input.read_exact(&mut byte)?;
        value |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    Err(invalid("varint too long"))
}

pub fn write_long(out: &mut Vec<u8>, value: i64) {
    let mut n = ((value << 1) ^ (value >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn read_bytes(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let len = read_long(input)?;
    if !(0..=MAX_ALLOCATION_BYTES as i64).contains(&len) {
        return Err(invalid("bad length"));
    }
    let mut buf = Vec::new();
    input.take(len as u64).read_to_end(&mut buf)?;
    if buf.len() as i64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(buf)
}

fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_long(out, bytes.len() as i64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_zigzag() {
        for value in [0, -1, 1, 63, -64, 64, 150, i64::MAX, i64::MIN] {
            let mut bytes = Vec::new();
            write_long(&mut bytes, value);
            assert_eq!(read_long(&mut bytes.as_slice()).unwrap(), value);
        }
        assert_eq!(read_long(&mut &[0xac, 0x02][..]).unwrap(), 150);
        assert!(read_long(&mut &[0x80u8][..]).is_err());
    }

    #[test]
    fn a_header_reencodes_with_another_codec() {
        let header = Header {
            entries: vec![("avro.schema".into(), b"\"int\"".to_vec()), ("avro.codec".into(), b"deflate".to_vec())],
            sync: [7; 16],
        };
        let bytes = header.encode_with_codec("null");
        let again = Header::read(&mut bytes.as_slice()).unwrap();
        assert_eq!(
            (again.schema().unwrap().as_str(), again.codec().as_str(), again.sync),
            ("\"int\"", "null", [7; 16])
        );
    }
}
