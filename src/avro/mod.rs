//! Reading one Currents file: Avro object container file → header facts + a stream of
//! [`Record`]s. The only module that knows the Avro crate.
//!
//! Records are decoded through apache-avro's serde path with a visitor that writes straight
//! into a reused [`Record`] (no `Value` tree per record). Each file is read with its own
//! embedded writer schema.

mod decode;
mod header;
mod inflate;

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use apache_avro::Schema;
use thiserror::Error;

use crate::record::Record;
use decode::{DecodedRecord, RECYCLED};
use header::Header;

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
    #[error(
        "records (or array items) of this schema take no bytes at all, so a corrupt count could claim \
         billions of them (Currents never writes such schemas)"
    )]
    EmptyRecords,
    #[error("corrupt or truncated after {records} records: {message}")]
    Decode { records: u64, message: String },
}

/// Installs the decoder's allocation limit; call once before reading.
pub fn init() {
    apache_avro::util::max_allocation_bytes(MAX_ALLOCATION_BYTES);
}

/// An open Currents file, positioned at its first record.
pub struct AvroFile {
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
    records: apache_avro::reader::ReaderDeser<'static, BufReader<Box<dyn Read>>, DecodedRecord>,
    current: Option<Record>,
    decoded: u64,
}

impl fmt::Debug for AvroFile {
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
        header::count_records(BufReader::with_capacity(READ_BUFFER_BYTES, File::open(path).map_err(ReadError::Open)?))
    }

    /// Reads a container from any seekable source (a file, bytes in memory).
    pub fn from_reader<T: Read + Seek + 'static>(mut input: T) -> Result<AvroFile, ReadError> {
        let header = Header::read(&mut BufReader::new(&mut input))?;
        let (schema_json, codec) = (header.schema()?, header.codec());
        input.seek(SeekFrom::Start(0)).map_err(ReadError::Open)?;
        let stream: Box<dyn Read> = if codec == "deflate" {
            let mut buffered = BufReader::with_capacity(READ_BUFFER_BYTES, input);
            Header::read(&mut buffered)?;
            Box::new(inflate::Inflating::new(&header, buffered))
        } else {
            Box::new(input)
        };
        let reader = apache_avro::Reader::new(BufReader::with_capacity(READ_BUFFER_BYTES, stream))
            .map_err(|e| ReadError::Header(short(&e)))?;
        let Schema::Record(record) = reader.writer_schema() else {
            return Err(ReadError::NotARecord(schema_kind(reader.writer_schema()).to_string()));
        };
        if let Some(name) = recursive_record(reader.writer_schema(), &mut Vec::new()) {
            return Err(ReadError::RecursiveSchema(name));
        }
        let mut named = HashMap::new();
        collect_named(reader.writer_schema(), &mut named);
        if min_encoded_size(reader.writer_schema(), &named) == 0
            || has_empty_array_items(reader.writer_schema(), &named)
        {
            return Err(ReadError::EmptyRecords);
        }
        Ok(AvroFile {
            schema_name: record.name.fullname(None),
            field_names: record.fields.iter().map(|f| f.name.clone()).collect(),
            field_types: record.fields.iter().map(|f| type_name(&f.schema)).collect(),
            schema_json,
            codec,
            records: reader.into_deser_iter(),
            current: None,
            decoded: 0,
        })
    }

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

/// Named types by full name, to follow references.
fn collect_named<'a>(schema: &'a Schema, named: &mut HashMap<String, &'a Schema>) {
    match schema {
        Schema::Record(record) => {
            named.insert(record.name.fullname(None), schema);
            record.fields.iter().for_each(|f| collect_named(&f.schema, named));
        }
        Schema::Enum(e) => {
            named.insert(e.name.fullname(None), schema);
        }
        Schema::Fixed(f) => {
            named.insert(f.name.fullname(None), schema);
        }
        Schema::Array(array) => collect_named(&array.items, named),
        Schema::Map(map) => collect_named(&map.types, named),
        Schema::Union(union) => union.variants().iter().for_each(|v| collect_named(v, named)),
        _ => {}
    }
}

/// The fewest bytes a value of `schema` can take (recursive schemas are refused before this).
fn min_encoded_size(schema: &Schema, named: &HashMap<String, &Schema>) -> u64 {
    match schema {
        Schema::Null => 0,
        Schema::Float => 4,
        Schema::Double => 8,
        Schema::Fixed(f) | Schema::Duration(f) => f.size as u64,
        Schema::Decimal(d) => match &d.inner {
            apache_avro::schema::InnerDecimalSchema::Fixed(f) => f.size as u64,
            _ => 1,
        },
        Schema::Uuid(apache_avro::schema::UuidSchema::Fixed(f)) => f.size as u64,
        Schema::Record(record) => record.fields.iter().map(|f| min_encoded_size(&f.schema, named)).sum(),
        Schema::Ref { name } => named.get(&name.fullname(None)).map_or(1, |s| min_encoded_size(s, named)),
        // Everything else starts with at least one varint (length, count, index, number).
        _ => 1,
    }
}

/// Whether some array's items can take no bytes (a count could then claim billions for free).
fn has_empty_array_items(schema: &Schema, named: &HashMap<String, &Schema>) -> bool {
    match schema {
        Schema::Array(array) => {
            min_encoded_size(&array.items, named) == 0 || has_empty_array_items(&array.items, named)
        }
        Schema::Map(map) => has_empty_array_items(&map.types, named),
        Schema::Union(union) => union.variants().iter().any(|v| has_empty_array_items(v, named)),
        Schema::Record(record) => record.fields.iter().any(|f| has_empty_array_items(&f.schema, named)),
        _ => false,
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
}
