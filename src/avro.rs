//! Reading one Currents file: Avro object container file → header facts + a stream of
//! [`Record`]s. The only module that knows the Avro crate.
//!
//! Records are decoded through apache-avro's serde path with a visitor that writes straight
//! into a reused [`Record`] (no `Value` tree per record). Each file is read with its own
//! embedded writer schema.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use apache_avro::Schema;
use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use thiserror::Error;

use crate::json;
use crate::record::{Record, Value, push_bytes_as_chars};

/// The largest single allocation a file may ask the decoder for (a block, a string). Corrupt
/// length fields fail the file instead of exhausting memory; real blocks are far smaller.
pub const MAX_ALLOCATION_BYTES: usize = 256 * 1024 * 1024;

const READ_BUFFER_BYTES: usize = 256 * 1024;

/// Why a file could not be read (or stopped being readable mid-way).
#[derive(Debug, Error)]
pub enum ReadError {
    #[error("cannot open: {0}")]
    Open(io::Error),
    #[error("the file is empty")]
    Empty,
    #[error("not an Avro object container file: {0}")]
    Header(String),
    #[error("the top-level schema is {0}, not a record")]
    NotARecord(String),
    #[error("the schema is recursive (record {0} contains itself), which Currents never uses")]
    RecursiveSchema(String),
    #[error("corrupt or truncated after {records} records: {message}")]
    Decode { records: u64, message: String },
}

/// Installs the decoder's allocation limit; call once before reading.
pub fn init() {
    apache_avro::util::max_allocation_bytes(MAX_ALLOCATION_BYTES);
}

/// An open Currents file, positioned at its first record.
pub struct AvroFile<R: Read = BufReader<File>> {
    /// The writer schema's record full name, e.g. `dataexport.S3.inner.users.messages.email.Send`.
    pub schema_name: String,
    /// Top-level field names in writer-schema order.
    pub field_names: Vec<String>,
    /// Each field's Avro type, written `string`, `string?` (nullable), `array<string>?`, …
    pub field_types: Vec<String>,
    /// The writer schema, as written in the file header.
    pub schema_json: String,
    /// `null`, `deflate`, `snappy`, `zstandard`, `bzip2` or `xz`.
    pub codec: String,
    records: apache_avro::reader::ReaderDeser<'static, R, DecodedRecord>,
    current: Option<Record>,
    decoded: u64,
}

impl<R: Read> fmt::Debug for AvroFile<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AvroFile").field("schema_name", &self.schema_name).field("codec", &self.codec).finish()
    }
}

impl AvroFile {
    pub fn open(path: &Path) -> Result<AvroFile, ReadError> {
        let file = File::open(path).map_err(ReadError::Open)?;
        if file.metadata().map_err(ReadError::Open)?.len() == 0 {
            return Err(ReadError::Empty);
        }
        AvroFile::from_reader(file)
    }

    /// Counts the remaining records from block headers alone, without decoding them.
    pub fn count_records(path: &Path) -> Result<u64, ReadError> {
        count_records(BufReader::with_capacity(READ_BUFFER_BYTES, File::open(path).map_err(ReadError::Open)?))
    }
}

impl<T: Read + Seek> AvroFile<BufReader<T>> {
    /// Reads a container from any seekable source (a file, bytes in memory).
    pub fn from_reader(mut input: T) -> Result<AvroFile<BufReader<T>>, ReadError> {
        let metadata = read_metadata(&mut BufReader::new(&mut input))?;
        input.seek(SeekFrom::Start(0)).map_err(ReadError::Open)?;
        let reader = apache_avro::Reader::new(BufReader::with_capacity(READ_BUFFER_BYTES, input))
            .map_err(|e| ReadError::Header(short(&e)))?;
        let Schema::Record(record) = reader.writer_schema() else {
            return Err(ReadError::NotARecord(schema_kind(reader.writer_schema()).to_string()));
        };
        if let Some(name) = recursive_record(reader.writer_schema(), &mut Vec::new()) {
            return Err(ReadError::RecursiveSchema(name));
        }
        Ok(AvroFile {
            schema_name: record.name.fullname(None),
            field_names: record.fields.iter().map(|f| f.name.clone()).collect(),
            field_types: record.fields.iter().map(|f| type_name(&f.schema)).collect(),
            schema_json: metadata.schema,
            codec: metadata.codec,
            records: reader.into_deser_iter(),
            current: None,
            decoded: 0,
        })
    }
}

impl<R: Read> AvroFile<R> {
    /// The Currents event type named by the schema: its full name less any
    /// `dataexport.<anything>.inner.` prefix.
    pub fn event_type_from_schema(&self) -> &str {
        event_type_from_schema_name(&self.schema_name)
    }

    /// The next record, or the error that ended the file. The record is valid until the next call.
    pub fn next_record(&mut self) -> Option<Result<&Record, ReadError>> {
        if let Some(done) = self.current.take() {
            RECYCLED.with(|slot| *slot.borrow_mut() = done);
        }
        match self.records.next()? {
            Ok(DecodedRecord(record)) => {
                self.decoded += 1;
                Some(Ok(self.current.insert(record)))
            }
            Err(e) => Some(Err(ReadError::Decode { records: self.decoded, message: short(&e) })),
        }
    }
}

/// Counts records from block headers alone, without decoding them.
fn count_records(mut input: impl Read) -> Result<u64, ReadError> {
    read_metadata(&mut input)?;
    let mut sync = [0u8; 16];
    input.read_exact(&mut sync).map_err(|_| ReadError::Header("truncated header".into()))?;
    let mut records: u64 = 0;
    let broken = |records: u64, message: &str| ReadError::Decode { records, message: message.to_string() };
    loop {
        let count = match read_long(&mut input) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(records),
            Err(_) => return Err(broken(records, "bad block header")),
        };
        let size = read_long(&mut input).map_err(|_| broken(records, "truncated block header"))?;
        if count < 0 || size < 0 {
            return Err(broken(records, "negative block count or size"));
        }
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

pub fn event_type_from_schema_name(full_name: &str) -> &str {
    if let Some(rest) = full_name.strip_prefix("dataexport.")
        && let Some(at) = rest.find(".inner.")
    {
        return &rest[at + ".inner.".len()..];
    }
    full_name
}

/// Decoder errors can embed whole schemas; keep messages to a readable line.
fn short(error: &apache_avro::Error) -> String {
    let mut text = error
        .to_string()
        .replace('\n', " ")
        .replace(". Change the limit using `apache_avro::util::max_allocation_bytes`", ": a corrupt length?");
    if text.len() > 300 {
        let mut cut = 300;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// A compact type name for people: `string`, `string?` for `["null", "string"]`, `array<float>`.
pub fn type_name(schema: &Schema) -> String {
    match schema {
        Schema::Union(union) => {
            let variants = union.variants();
            let others: Vec<String> = variants.iter().filter(|v| **v != Schema::Null).map(type_name).collect();
            let nullable = others.len() < variants.len();
            match (others.len(), nullable) {
                (1, true) => format!("{}?", others[0]),
                _ => format!("union<{}>{}", others.join(","), if nullable { "?" } else { "" }),
            }
        }
        Schema::Array(array) => format!("array<{}>", type_name(&array.items)),
        Schema::Map(map) => format!("map<{}>", type_name(&map.types)),
        Schema::Record(record) => format!("record {}", record.name.name()),
        Schema::Enum(e) => format!("enum {}", e.name.name()),
        Schema::Fixed(f) => format!("fixed({})", f.size),
        Schema::Ref { name } => name.name().to_string(),
        other => schema_kind(other).to_string(),
    }
}

fn schema_kind(schema: &Schema) -> &'static str {
    match schema {
        Schema::Null => "null",
        Schema::Boolean => "boolean",
        Schema::Int => "int",
        Schema::Long => "long",
        Schema::Float => "float",
        Schema::Double => "double",
        Schema::Bytes => "bytes",
        Schema::String => "string",
        Schema::Array(_) => "an array",
        Schema::Map(_) => "a map",
        Schema::Union(_) => "a union",
        Schema::Enum(_) => "an enum",
        Schema::Fixed(_) => "fixed",
        Schema::Uuid(_) => "uuid",
        Schema::Date => "date",
        Schema::TimestampMillis | Schema::LocalTimestampMillis => "timestamp-millis",
        Schema::TimestampMicros | Schema::LocalTimestampMicros => "timestamp-micros",
        Schema::Decimal(_) | Schema::BigDecimal => "decimal",
        _ => "a logical type",
    }
}

/// The name of a record that (through its fields) contains itself, if any.
fn recursive_record(schema: &Schema, path: &mut Vec<String>) -> Option<String> {
    match schema {
        Schema::Ref { name } => {
            let name = name.fullname(None);
            path.contains(&name).then_some(name)
        }
        Schema::Record(record) => {
            path.push(record.name.fullname(None));
            let found = record.fields.iter().find_map(|f| recursive_record(&f.schema, path));
            path.pop();
            found
        }
        Schema::Array(array) => recursive_record(&array.items, path),
        Schema::Map(map) => recursive_record(&map.types, path),
        Schema::Union(union) => union.variants().iter().find_map(|v| recursive_record(v, path)),
        _ => None,
    }
}

/// The two header entries the Avro reader does not expose.
struct Metadata {
    schema: String,
    codec: String,
}

/// Reads the container header's metadata map (magic, then an Avro `map<bytes>`).
fn read_metadata(input: &mut impl Read) -> Result<Metadata, ReadError> {
    let bad = |what: &str| ReadError::Header(what.to_string());
    let mut magic = [0u8; 4];
    input.read_exact(&mut magic).map_err(|_| bad("shorter than the 4-byte magic"))?;
    if magic != *b"Obj\x01" {
        return Err(bad("bad magic bytes (expected \"Obj\\x01\")"));
    }
    let mut entries = HashMap::new();
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
            entries.insert(String::from_utf8_lossy(&key).into_owned(), value);
        }
    }
    let text = |key: &str| entries.get(key).map(|v| String::from_utf8_lossy(v).into_owned());
    Ok(Metadata {
        schema: text("avro.schema").ok_or_else(|| bad("no avro.schema in the header"))?,
        codec: text("avro.codec").filter(|c| !c.is_empty()).unwrap_or_else(|| "null".to_string()),
    })
}

fn read_long(input: &mut impl Read) -> io::Result<i64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let mut byte = [0u8];
        input.read_exact(&mut byte)?;
        value |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    Err(io::Error::new(io::ErrorKind::InvalidData, "varint too long"))
}

fn read_bytes(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let len = read_long(input)?;
    if !(0..=MAX_ALLOCATION_BYTES as i64).contains(&len) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad length"));
    }
    let mut buf = Vec::new();
    input.take(len as u64).read_to_end(&mut buf)?;
    if buf.len() as i64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(buf)
}

thread_local! {
    /// The previous record's buffers, reused by the next decode on this thread.
    static RECYCLED: RefCell<Record> = RefCell::new(Record::default());
}

/// A record decoded by [`RecordVisitor`]; `into_deser_iter` needs an owned type.
struct DecodedRecord(Record);

impl<'de> serde::Deserialize<'de> for DecodedRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut record = RECYCLED.with(|slot| std::mem::take(&mut *slot.borrow_mut()));
        record.clear();
        deserializer.deserialize_any(RecordVisitor(&mut record))?;
        Ok(DecodedRecord(record))
    }
}

/// Top level: one value per field, in schema order.
struct RecordVisitor<'a>(&'a mut Record);

impl<'de> Visitor<'de> for RecordVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(KeySeed(None))?.is_some() {
            map.next_value_seed(FieldSeed(&mut *self.0))?;
        }
        Ok(())
    }
}

/// A map or record key: written as a JSON string into the buffer, or ignored.
struct KeySeed<'a>(Option<&'a mut Vec<u8>>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<(), E> {
        if let Some(out) = self.0 {
            json::write_str(out, key.as_bytes());
        }
        Ok(())
    }

    fn visit_u32<E: de::Error>(self, _index: u32) -> Result<(), E> {
        Ok(())
    }
}

/// One top-level field value → a [`Value`] pushed onto the record.
struct FieldSeed<'a>(&'a mut Record);

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an Avro value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.push(Value::Null);
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.0.push(Value::Bool(v));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.0.push(Value::Int(v));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => {
                let start = self.0.begin_json();
                self.0.json_buf().extend_from_slice(v.to_string().as_bytes());
                self.0.end_json(start);
                Ok(())
            }
        }
    }

    fn visit_f32<E: de::Error>(self, v: f32) -> Result<(), E> {
        self.0.push(Value::Float(v));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.0.push(Value::Double(v));
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.push_str(v);
        Ok(())
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<(), E> {
        self.0.push_bytes(v);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let start = self.0.begin_json();
        JsonSeed(self.0.json_buf()).visit_seq(seq)?;
        self.0.end_json(start);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let start = self.0.begin_json();
        JsonSeed(self.0.json_buf()).visit_map(map)?;
        self.0.end_json(start);
        Ok(())
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let mut symbol = Vec::new();
        let ((), variant) = data.variant_seed(KeySeed(Some(&mut symbol)))?;
        variant.unit_variant()?;
        // `symbol` is a JSON string literal; store its text.
        let text: String = serde_json::from_slice(&symbol).map_err(de::Error::custom)?;
        self.0.push_str(&text);
        Ok(())
    }
}

/// A nested value (array item, map value, nested record field) written as compact JSON.
struct JsonSeed<'a>(&'a mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for JsonSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an Avro value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.0.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        json::write_i64(self.0, v);
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.0.extend_from_slice(v.to_string().as_bytes());
        Ok(())
    }

    fn visit_f32<E: de::Error>(self, v: f32) -> Result<(), E> {
        if !json::write_f32(self.0, v) {
            self.0.extend_from_slice(b"null");
        }
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        if !json::write_f64(self.0, v) {
            self.0.extend_from_slice(b"null");
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        json::write_str(self.0, v.as_bytes());
        Ok(())
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<(), E> {
        let mut text = Vec::with_capacity(v.len());
        push_bytes_as_chars(&mut text, v);
        json::write_str(self.0, &text);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.push(b'[');
        let mut first = true;
        loop {
            let mark = self.0.len();
            if !first {
                self.0.push(b',');
            }
            if seq.next_element_seed(JsonSeed(&mut *self.0))?.is_none() {
                self.0.truncate(mark);
                break;
            }
            first = false;
        }
        self.0.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.push(b'{');
        let mut first = true;
        loop {
            let mark = self.0.len();
            if !first {
                self.0.push(b',');
            }
            if map.next_key_seed(KeySeed(Some(&mut *self.0)))?.is_none() {
                self.0.truncate(mark);
                break;
            }
            self.0.push(b':');
            map.next_value_seed(JsonSeed(&mut *self.0))?;
            first = false;
        }
        self.0.push(b'}');
        Ok(())
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let ((), variant) = data.variant_seed(KeySeed(Some(&mut *self.0)))?;
        variant.unit_variant()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_strips_the_dataexport_prefix_only() {
        assert_eq!(
            event_type_from_schema_name("dataexport.S3.inner.users.messages.email.Send"),
            "users.messages.email.Send"
        );
        assert_eq!(event_type_from_schema_name("dataexport.prod-03.GCS.inner.users.Foo"), "users.Foo");
        assert_eq!(event_type_from_schema_name("users.messages.email.Send"), "users.messages.email.Send");
        assert_eq!(event_type_from_schema_name("com.example.Thing"), "com.example.Thing");
    }

    #[test]
    fn varints_decode_zigzag() {
        for (bytes, value) in [(&[0x00][..], 0), (&[0x01], -1), (&[0x02], 1), (&[0xac, 0x02], 150)] {
            assert_eq!(read_long(&mut &bytes[..]).unwrap(), value);
        }
        assert!(read_long(&mut &[0x80u8][..]).is_err());
    }
}
