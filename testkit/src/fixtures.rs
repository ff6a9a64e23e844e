//! Currents fixture generator: Braze-shaped Avro object container files, deterministic per seed.
//!
//! - [`schema_json`]: the real writer schema of every Currents event type (embedded, exact text).
//! - [`gen_record`]: a realistic record of a type, as JSON (`["null", T]` fields may be `null`).
//! - [`write_file`] / [`write_json_file`]: one container file, any [`Codec`], a block every
//!   [`DEFAULT_RECORDS_PER_BLOCK`] records.
//! - [`write_container`] & co.: the hand-written container format, for Python-style deflate and
//!   for the [`broken`] corpus.
//! - [`generate_tree`]: a whole Braze export tree (real folder layout), plus every edge case of
//!   the spec when asked ([`EdgeFile`] lists what lands where and what the transform must do).
//!
//! All files go through the one hand-written container writer, with block payloads compressed by
//! `apache_avro::Codec::compress` (deflate, snappy, zstandard, bzip2, xz) or by zlib with the
//! Python framing. Going through `apache_avro::Writer` would re-serialise the schema (Braze
//! headers carry the exact schema text, docs and `owner` included) and cut blocks by bytes
//! rather than by record count.

pub mod broken;
mod edge;
mod records;
mod schemas;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use apache_avro::Schema;
use apache_avro::types::Value as AvroValue;
use apache_avro::writer::datum::GenericDatumWriter;
use serde_json::{Map, Value as Json, json};

pub use edge::{EDGE_HOUR, EDGE_PARTITION, EdgeFile, EdgeRecord, Expect, PLACEHOLDERS, write_edge_cases};
pub use records::{gen_record, json_f32};

/// The integration folder every generated Braze path starts with (S3 connector, cluster prod-01).
pub const INTEGRATION: &str = "dataexport.prod-01.S3.integration.5a1b2c3d4e5f";
/// Start of the generated time window: 2026-10-01T00:00:00Z.
pub const WINDOW_START: i64 = 1_790_812_800;
/// End (exclusive) of the generated time window: 2026-11-01T00:00:00Z.
pub const WINDOW_END: i64 = 1_793_491_200;
/// Records per container block, so files have several blocks and mid-file breaks are realistic.
pub const DEFAULT_RECORDS_PER_BLOCK: usize = 100;
/// The 4-byte magic at the start of every Avro object container file.
pub const MAGIC: &[u8; 4] = b"Obj\x01";

// ---------------------------------------------------------------------------------------------
// Deterministic PRNG
// ---------------------------------------------------------------------------------------------

/// SplitMix64: tiny, fast, and good enough for fixtures; no `rand` dependency, stable forever.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// An independent stream for a sub-task (e.g. one file), so adding files elsewhere does not
    /// change what this one contains.
    pub fn derive(seed: u64, salt: &str, index: u64) -> Self {
        let mut r = Rng::new(seed ^ fnv1a(salt.as_bytes()) ^ index.wrapping_mul(0xA24B_AED4_963E_E407));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`); multiply-shift, the tiny bias is irrelevant here.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..hi` (`lo < hi`).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        assert!(lo < hi, "Rng::range: empty range");
        lo + self.below(hi.abs_diff(lo)) as i64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A uniformly chosen element (`items` must not be empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// Lowercase hex string of `n` digits.
    pub fn hex(&mut self, n: usize) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        (0..n).map(|_| HEX[self.below(16) as usize] as char).collect()
    }

    /// A random (version 4) UUID, lowercase, 36 characters.
    pub fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0x0FFF,
            b >> 48,
            b & 0xFFFF_FFFF_FFFF
        )
    }

    pub fn bytes16(&mut self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        out[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        out
    }
}

/// FNV-1a: a stable hash for deriving seeds, schema ids and sync markers from names.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3))
}

// ---------------------------------------------------------------------------------------------
// Codecs
// ---------------------------------------------------------------------------------------------

/// Block compression of a generated file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Codec {
    /// No `avro.codec` header entry at all, like every real Braze file seen so far.
    Null,
    Deflate,
    /// `deflate` as Python's `avro` / `fastavro` write it: `zlib.compress(block)[2:-1]`, i.e. a raw
    /// deflate stream followed by the first 3 bytes of the zlib Adler-32 trailer.
    PythonDeflate,
    Snappy,
    Zstandard,
    Bzip2,
    Xz,
}

impl Codec {
    pub fn all() -> &'static [Codec] {
        &[Codec::Null, Codec::Deflate, Codec::PythonDeflate, Codec::Snappy, Codec::Zstandard, Codec::Bzip2, Codec::Xz]
    }

    /// The name used on the command line (`python-deflate` for [`Codec::PythonDeflate`]).
    pub fn name(self) -> &'static str {
        match self {
            Codec::Null => "null",
            Codec::Deflate => "deflate",
            Codec::PythonDeflate => "python-deflate",
            Codec::Snappy => "snappy",
            Codec::Zstandard => "zstandard",
            Codec::Bzip2 => "bzip2",
            Codec::Xz => "xz",
        }
    }

    /// The `avro.codec` header value; `None` for null, which Braze leaves out of the header.
    pub fn header_name(self) -> Option<&'static str> {
        match self {
            Codec::Null => None,
            Codec::PythonDeflate => Some("deflate"),
            other => Some(other.name()),
        }
    }

    /// Compress one block's concatenated datums.
    pub fn compress(self, raw: &[u8]) -> io::Result<Vec<u8>> {
        use apache_avro::{Bzip2Settings, DeflateSettings, XzSettings, ZstandardSettings};
        let avro_codec = match self {
            Codec::Null => return Ok(raw.to_vec()),
            Codec::PythonDeflate => return Ok(python_deflate(raw)),
            Codec::Deflate => apache_avro::Codec::Deflate(DeflateSettings::default()),
            Codec::Snappy => apache_avro::Codec::Snappy,
            Codec::Zstandard => apache_avro::Codec::Zstandard(ZstandardSettings::default()),
            // Low levels: apache_avro's defaults (bzip2 9, xz 9) cost up to ~0.7 GB and a
            // noticeable delay per block, and the level does not matter to a reader.
            Codec::Bzip2 => apache_avro::Codec::Bzip2(Bzip2Settings::new(1)),
            Codec::Xz => apache_avro::Codec::Xz(XzSettings::new(1)),
        };
        let mut buf = raw.to_vec();
        avro_codec.compress(&mut buf).map_err(avro_err)?;
        Ok(buf)
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Codec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        Codec::all()
            .iter()
            .copied()
            .find(|c| c.name() == s)
            .or(match s.as_str() {
                "none" => Some(Codec::Null),
                "zstd" => Some(Codec::Zstandard),
                "bzip" => Some(Codec::Bzip2),
                "python_deflate" | "pydeflate" => Some(Codec::PythonDeflate),
                _ => None,
            })
            .ok_or_else(|| {
                let names: Vec<_> = Codec::all().iter().map(|c| c.name()).collect();
                format!("unknown codec {s:?} (known: {})", names.join(", "))
            })
    }
}

/// `zlib.compress(raw)[2:-1]`: strip the 2-byte zlib header and the last Adler-32 byte, leaving
/// 3 stray bytes after the deflate stream (readers must stop at the end of the deflate stream).
pub fn python_deflate(raw: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(raw).expect("writing to a Vec cannot fail");
    let zlib = enc.finish().expect("writing to a Vec cannot fail");
    zlib[2..zlib.len() - 1].to_vec()
}

fn avro_err(e: apache_avro::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

// ---------------------------------------------------------------------------------------------
// Container format, by hand
// ---------------------------------------------------------------------------------------------

/// Append an Avro `long` (zig-zag varint).
pub fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Append an Avro `bytes`/`string` (length, then the bytes).
pub fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

/// Write the file header: magic, the metadata map (`map<bytes>`, in the given order), sync marker.
pub fn write_header<W: Write>(out: &mut W, metadata: &[(&str, &[u8])], sync: &[u8; 16]) -> io::Result<()> {
    let mut buf = MAGIC.to_vec();
    if !metadata.is_empty() {
        write_long(&mut buf, metadata.len() as i64);
        for (k, v) in metadata {
            write_bytes(&mut buf, k.as_bytes());
            write_bytes(&mut buf, v);
        }
    }
    write_long(&mut buf, 0);
    buf.extend_from_slice(sync);
    out.write_all(&buf)
}

/// Write one data block with an honest size: record count, byte size, payload, sync marker.
pub fn write_block<W: Write>(out: &mut W, count: i64, data: &[u8], sync: &[u8; 16]) -> io::Result<()> {
    write_block_raw(out, count, data.len() as i64, data, sync)
}

/// Write one data block claiming any `count` and `size` (for broken files).
pub fn write_block_raw<W: Write>(out: &mut W, count: i64, size: i64, data: &[u8], sync: &[u8; 16]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(data.len() + 36);
    write_long(&mut buf, count);
    write_long(&mut buf, size);
    buf.extend_from_slice(data);
    buf.extend_from_slice(sync);
    out.write_all(&buf)
}

/// A whole container file from already-compressed block payloads `(record count, payload)`.
///
/// `codec_name` is written verbatim as `avro.codec` (`None` leaves the entry out, meaning null),
/// so a test can declare a codec that does not exist, or one that does not match the payloads.
pub fn write_container<W: Write>(
    out: &mut W,
    schema_json: &str,
    codec_name: Option<&str>,
    blocks: &[(i64, Vec<u8>)],
    sync: &[u8; 16],
) -> io::Result<()> {
    let mut meta: Vec<(&str, &[u8])> = vec![("avro.schema", schema_json.as_bytes())];
    if let Some(c) = codec_name {
        meta.push(("avro.codec", c.as_bytes()));
    }
    write_header(out, &meta, sync)?;
    for (count, data) in blocks {
        write_block(out, *count, data, sync)?;
    }
    Ok(())
}

/// How [`encode_file`] lays a file out.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    pub codec: Codec,
    /// Records per block (at least 1).
    pub records_per_block: usize,
    /// Sync marker; `None` derives one from the content, so output is reproducible.
    pub sync: Option<[u8; 16]>,
}

impl WriteOptions {
    pub fn new(codec: Codec) -> Self {
        WriteOptions { codec, records_per_block: DEFAULT_RECORDS_PER_BLOCK, sync: None }
    }
}

/// Encode each record as one Avro datum (validated against the schema by `apache_avro`).
pub fn encode_datums(schema_json: &str, records: &[AvroValue]) -> io::Result<Vec<Vec<u8>>> {
    let schema = Schema::parse_str(schema_json).map_err(avro_err)?;
    let writer = GenericDatumWriter::builder(&schema).build().map_err(avro_err)?;
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut out = Vec::new();
            writer
                .write_value_ref(&mut out, r)
                .map_err(|e| invalid(format!("record {i} does not fit the schema: {e}")))?;
            Ok(out)
        })
        .collect()
}

/// A complete container file in memory.
pub fn encode_file(schema_json: &str, records: &[AvroValue], opts: &WriteOptions) -> io::Result<Vec<u8>> {
    let datums = encode_datums(schema_json, records)?;
    let sync = opts.sync.unwrap_or_else(|| {
        let mut r = Rng::new(fnv1a(schema_json.as_bytes()) ^ records.len() as u64);
        r.bytes16()
    });
    let mut blocks = Vec::new();
    for chunk in datums.chunks(opts.records_per_block.max(1)) {
        let raw = chunk.concat();
        blocks.push((chunk.len() as i64, opts.codec.compress(&raw)?));
    }
    let mut out = Vec::new();
    write_container(&mut out, schema_json, opts.codec.header_name(), &blocks, &sync)?;
    Ok(out)
}

/// [`encode_file`] from JSON records (see [`json_to_avro`]).
pub fn encode_json_file(schema_json: &str, records: &[Json], opts: &WriteOptions) -> io::Result<Vec<u8>> {
    encode_file(schema_json, &json_records_to_avro(schema_json, records)?, opts)
}

/// Write one container file (parent folders are created), a block every 100 records.
pub fn write_file(path: &Path, schema_json: &str, codec: Codec, records: &[AvroValue]) -> io::Result<()> {
    write_bytes_file(path, &encode_file(schema_json, records, &WriteOptions::new(codec))?)
}

/// [`write_file`] from JSON records, e.g. `json!({"id": "…", "external_user_id": null, …})`.
pub fn write_json_file(path: &Path, schema_json: &str, codec: Codec, records: &[Json]) -> io::Result<()> {
    write_bytes_file(path, &encode_json_file(schema_json, records, &WriteOptions::new(codec))?)
}

/// Write bytes to `path`, creating parent folders.
pub fn write_bytes_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, bytes)
}

// ---------------------------------------------------------------------------------------------
// JSON -> Avro value, against the schema
// ---------------------------------------------------------------------------------------------

/// Convert a JSON record into an `apache_avro` value of the schema, resolving unions.
///
/// - union: JSON `null` takes the `"null"` branch; anything else the first branch that accepts it;
/// - a record field missing from the object takes its schema default (`null` for Braze's unions);
/// - `float`/`double` also accept the strings `"NaN"`, `"Infinity"`, `"-Infinity"`;
/// - `bytes`/`fixed` (and `decimal`) take a string of one code point (U+0000..U+00FF) per byte,
///   Avro's JSON encoding, or an array of byte values;
/// - `enum` takes its symbol; `map` an object; logical types take their underlying value.
pub fn json_to_avro(schema_json: &str, record: &Json) -> io::Result<AvroValue> {
    let schema: Json = serde_json::from_str(schema_json).map_err(|e| invalid(format!("schema JSON: {e}")))?;
    let conv = Converter::new(&schema);
    conv.convert(&schema, None, record, "$").map_err(invalid)
}

/// [`json_to_avro`] for many records (the schema is parsed once).
pub fn json_records_to_avro(schema_json: &str, records: &[Json]) -> io::Result<Vec<AvroValue>> {
    let schema: Json = serde_json::from_str(schema_json).map_err(|e| invalid(format!("schema JSON: {e}")))?;
    let conv = Converter::new(&schema);
    records
        .iter()
        .enumerate()
        .map(|(i, r)| conv.convert(&schema, None, r, &format!("record {i}")).map_err(invalid))
        .collect()
}

/// Walks the schema JSON (not `apache_avro::Schema`, so named-type references stay simple).
struct Converter<'s> {
    named: HashMap<String, &'s Json>,
}

const PRIMITIVES: &[&str] = &["null", "boolean", "int", "long", "float", "double", "bytes", "string"];
const COMPLEX: &[&str] = &["record", "error", "enum", "array", "map", "fixed"];

impl<'s> Converter<'s> {
    fn new(schema: &'s Json) -> Self {
        let mut c = Converter { named: HashMap::new() };
        c.collect(schema, None);
        c
    }

    fn full_name(name: &str, ns: Option<&str>) -> String {
        match ns {
            Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
            _ => name.to_string(),
        }
    }

    /// The namespace a named type defines for its children.
    fn own_namespace<'a>(obj: &'a Map<String, Json>, ns: Option<&'a str>) -> Option<&'a str> {
        let name = obj.get("name").and_then(Json::as_str).unwrap_or("");
        if let Some((space, _)) = name.rsplit_once('.') {
            return Some(space);
        }
        obj.get("namespace").and_then(Json::as_str).or(ns)
    }

    fn collect(&mut self, schema: &'s Json, ns: Option<&'s str>) {
        match schema {
            Json::Array(branches) => branches.iter().for_each(|b| self.collect(b, ns)),
            Json::Object(obj) => {
                let own_ns = Self::own_namespace(obj, ns);
                if let Some(name) = obj.get("name").and_then(Json::as_str) {
                    let full = Self::full_name(name, own_ns.filter(|_| !name.contains('.')));
                    self.named.insert(full, schema);
                    // Also by short name: references inside other namespaces are rare in tests.
                    let short = name.rsplit('.').next().unwrap_or(name);
                    self.named.entry(short.to_string()).or_insert(schema);
                }
                match obj.get("type") {
                    Some(Json::String(t)) if t == "record" || t == "error" => {
                        if let Some(Json::Array(fields)) = obj.get("fields") {
                            for f in fields {
                                if let Some(t) = f.get("type") {
                                    self.collect(t, own_ns);
                                }
                            }
                        }
                    }
                    Some(Json::String(t)) if t == "array" => {
                        if let Some(items) = obj.get("items") {
                            self.collect(items, own_ns);
                        }
                    }
                    Some(Json::String(t)) if t == "map" => {
                        if let Some(values) = obj.get("values") {
                            self.collect(values, own_ns);
                        }
                    }
                    Some(t @ (Json::Object(_) | Json::Array(_))) => self.collect(t, own_ns),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn resolve(&self, name: &str, ns: Option<&str>) -> Result<&'s Json, String> {
        self.named
            .get(&Self::full_name(name, ns))
            .or_else(|| self.named.get(name))
            .copied()
            .ok_or_else(|| format!("unknown type name {name:?}"))
    }

    /// Does `schema` accept `v` (used to pick a union branch)?
    fn accepts(&self, schema: &Json, ns: Option<&str>, v: &Json) -> bool {
        let kind = match schema {
            Json::String(s) if PRIMITIVES.contains(&s.as_str()) => s.as_str(),
            Json::Object(obj) => match obj.get("type") {
                Some(Json::String(t)) if PRIMITIVES.contains(&t.as_str()) || COMPLEX.contains(&t.as_str()) => {
                    t.as_str()
                }
                Some(inner) => return self.accepts(inner, ns, v),
                None => return false,
            },
            // A named type (possibly wrapped as `{"type": "Name"}`, handled above).
            Json::String(name) => return self.resolve(name, ns).is_ok_and(|s| self.accepts(s, ns, v)),
            _ => return false,
        };
        match (kind, v) {
            ("null", Json::Null) => true,
            ("boolean", Json::Bool(_)) => true,
            ("int", Json::Number(n)) => n.as_i64().is_some_and(|x| i32::try_from(x).is_ok()),
            ("long", Json::Number(n)) => n.as_i64().is_some(),
            ("float" | "double", Json::Number(_)) => true,
            ("float" | "double", Json::String(s)) => matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity"),
            ("string" | "bytes" | "fixed", Json::String(_)) => true,
            ("enum", Json::String(s)) => schema
                .get("symbols")
                .and_then(Json::as_array)
                .is_some_and(|syms| syms.iter().any(|x| x.as_str() == Some(s))),
            ("array", Json::Array(_)) => true,
            ("bytes" | "fixed", Json::Array(_)) => true,
            ("record" | "error" | "map", Json::Object(_)) => true,
            _ => false,
        }
    }

    fn convert(&self, schema: &Json, ns: Option<&str>, v: &Json, at: &str) -> Result<AvroValue, String> {
        match schema {
            Json::String(name) if PRIMITIVES.contains(&name.as_str()) => primitive(name, None, v, at),
            Json::String(name) => {
                let target = self.resolve(name, ns).map_err(|e| format!("{at}: {e}"))?;
                self.convert(target, ns, v, at)
            }
            Json::Array(branches) => {
                if v.is_null()
                    && let Some(i) = branches.iter().position(|b| b.as_str() == Some("null"))
                {
                    return Ok(AvroValue::Union(i as u32, Box::new(AvroValue::Null)));
                }
                for (i, b) in branches.iter().enumerate() {
                    if b.as_str() != Some("null") && self.accepts(b, ns, v) {
                        let inner = self.convert(b, ns, v, at)?;
                        return Ok(AvroValue::Union(i as u32, Box::new(inner)));
                    }
                }
                Err(format!("{at}: no branch of union {schema} accepts {}", short(v)))
            }
            Json::Object(obj) => self.convert_complex(obj, ns, v, at),
            other => Err(format!("{at}: not a schema: {other}")),
        }
    }

    fn convert_complex(
        &self,
        obj: &Map<String, Json>,
        ns: Option<&str>,
        v: &Json,
        at: &str,
    ) -> Result<AvroValue, String> {
        let t = match obj.get("type") {
            Some(Json::String(t)) => t.as_str(),
            Some(inner) => return self.convert(inner, ns, v, at),
            None => return Err(format!("{at}: schema object without \"type\"")),
        };
        let own_ns = Self::own_namespace(obj, ns);
        match t {
            "record" | "error" => {
                let Json::Object(fields_in) = v else {
                    return Err(format!("{at}: expected an object, got {}", short(v)));
                };
                let fields =
                    obj.get("fields").and_then(Json::as_array).ok_or(format!("{at}: record without fields"))?;
                let mut out = Vec::with_capacity(fields.len());
                for f in fields {
                    let name = f.get("name").and_then(Json::as_str).ok_or(format!("{at}: field without name"))?;
                    let ftype = f.get("type").ok_or(format!("{at}.{name}: field without type"))?;
                    let fat = format!("{at}.{name}");
                    let value = match (fields_in.get(name), f.get("default")) {
                        (Some(x), _) => self.convert(ftype, own_ns, x, &fat)?,
                        // Avro: a union's default belongs to its first branch.
                        (None, Some(d)) => match ftype {
                            Json::Array(b) if !b.is_empty() => {
                                AvroValue::Union(0, Box::new(self.convert(&b[0], own_ns, d, &fat)?))
                            }
                            _ => self.convert(ftype, own_ns, d, &fat)?,
                        },
                        (None, None) => return Err(format!("{fat}: missing and has no default")),
                    };
                    out.push((name.to_string(), value));
                }
                Ok(AvroValue::Record(out))
            }
            "enum" => {
                let s = v.as_str().ok_or(format!("{at}: enum wants a symbol string"))?;
                let syms = obj.get("symbols").and_then(Json::as_array).ok_or(format!("{at}: enum without symbols"))?;
                let i =
                    syms.iter().position(|x| x.as_str() == Some(s)).ok_or(format!("{at}: {s:?} is not a symbol"))?;
                Ok(AvroValue::Enum(i as u32, s.to_string()))
            }
            "array" => {
                let items = obj.get("items").ok_or(format!("{at}: array without items"))?;
                let arr = v.as_array().ok_or(format!("{at}: expected an array, got {}", short(v)))?;
                arr.iter()
                    .enumerate()
                    .map(|(i, x)| self.convert(items, own_ns, x, &format!("{at}[{i}]")))
                    .collect::<Result<_, _>>()
                    .map(AvroValue::Array)
            }
            "map" => {
                let values = obj.get("values").ok_or(format!("{at}: map without values"))?;
                let m = v.as_object().ok_or(format!("{at}: expected an object, got {}", short(v)))?;
                m.iter()
                    .map(|(k, x)| Ok((k.clone(), self.convert(values, own_ns, x, &format!("{at}.{k}"))?)))
                    .collect::<Result<_, String>>()
                    .map(AvroValue::Map)
            }
            "fixed" => {
                let size = obj.get("size").and_then(Json::as_u64).ok_or(format!("{at}: fixed without size"))? as usize;
                let b = json_bytes(v, at)?;
                if b.len() != size {
                    return Err(format!("{at}: fixed({size}) got {} bytes", b.len()));
                }
                Ok(if obj.get("logicalType").and_then(Json::as_str) == Some("decimal") {
                    AvroValue::Decimal(apache_avro::Decimal::from(b))
                } else {
                    AvroValue::Fixed(size, b)
                })
            }
            p if PRIMITIVES.contains(&p) => primitive(p, obj.get("logicalType").and_then(Json::as_str), v, at),
            // `{"type": "SomeNamedType"}`: a reference wrapped in an object.
            other => {
                let target = self.resolve(other, own_ns).map_err(|e| format!("{at}: {e}"))?;
                self.convert(target, own_ns, v, at)
            }
        }
    }
}

fn primitive(kind: &str, logical: Option<&str>, v: &Json, at: &str) -> Result<AvroValue, String> {
    let bad = || format!("{at}: {kind} cannot hold {}", short(v));
    Ok(match kind {
        "null" if v.is_null() => AvroValue::Null,
        "boolean" => AvroValue::Boolean(v.as_bool().ok_or_else(bad)?),
        "int" => AvroValue::Int(v.as_i64().and_then(|x| i32::try_from(x).ok()).ok_or_else(bad)?),
        "long" => AvroValue::Long(v.as_i64().ok_or_else(bad)?),
        "float" => AvroValue::Float(json_f64(v).ok_or_else(bad)? as f32),
        "double" => AvroValue::Double(json_f64(v).ok_or_else(bad)?),
        "string" => AvroValue::String(v.as_str().ok_or_else(bad)?.to_string()),
        "bytes" if logical == Some("decimal") => AvroValue::Decimal(apache_avro::Decimal::from(json_bytes(v, at)?)),
        "bytes" => AvroValue::Bytes(json_bytes(v, at)?),
        _ => return Err(bad()),
    })
}

fn json_f64(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

fn json_bytes(v: &Json, at: &str) -> Result<Vec<u8>, String> {
    match v {
        Json::String(s) => s
            .chars()
            .map(|c| u8::try_from(u32::from(c)).map_err(|_| format!("{at}: {c:?} is not a byte (U+0000..U+00FF)")))
            .collect(),
        Json::Array(a) => a
            .iter()
            .map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()).ok_or(format!("{at}: not a byte: {x}")))
            .collect(),
        _ => Err(format!("{at}: bytes want a string or an array, got {}", short(v))),
    }
}

/// A value, abbreviated for error messages (fixtures can hold megabyte strings).
fn short(v: &Json) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        let cut = (0..=80).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        format!("{}…", &s[..cut])
    } else {
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------

/// A field type in Braze's schemas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    String,
    Int,
    Long,
    Boolean,
    Float,
    /// `array<string>`
    Strings,
    /// `array<["null","string"]>`
    NullableStrings,
}

#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub nullable: bool,
    pub doc: &'static str,
}

fn spec(event_type: &str) -> Option<&'static schemas::Spec> {
    schemas::SPECS.iter().find(|s| s.event_type == event_type)
}

pub(crate) fn fields(event_type: &str) -> Option<Vec<Field>> {
    let spec = spec(event_type)?;
    let parsed = spec
        .fields
        .split(' ')
        .map(|f| {
            let mut parts = f.split(':');
            let (name, ty, doc) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
            let (ty, nullable) = match ty.strip_suffix('?') {
                Some(t) => (t, true),
                None => (ty, false),
            };
            let ty = match ty {
                "string" => Ty::String,
                "int" => Ty::Int,
                "long" => Ty::Long,
                "boolean" => Ty::Boolean,
                "float" => Ty::Float,
                "array<string>" => Ty::Strings,
                "array<string?>" => Ty::NullableStrings,
                other => unreachable!("unknown type code {other} in the embedded schemas"),
            };
            Field { name, ty, nullable, doc: schemas::DOCS[doc.parse::<usize>().unwrap()] }
        })
        .collect();
    Some(parsed)
}

/// Every Currents event type with an embedded schema (all 100 known types), sorted.
pub fn known_types() -> Vec<&'static str> {
    schemas::SPECS.iter().map(|s| s.event_type).collect()
}

/// The types Braze's Mixpanel connector converts by default (`converted_by_default` = `yes`).
pub fn default_types() -> &'static [&'static str] {
    static DEFAULTS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    DEFAULTS.get_or_init(|| schemas::SPECS.iter().filter(|s| s.default_on).map(|s| s.event_type).collect())
}

/// The real Braze writer schema of `event_type`, as a JSON value (record name, namespace, docs,
/// field order, `"default": null` on every `["null", T]` union, and `owner` where Braze has it).
pub fn schema_value(event_type: &str) -> Option<Json> {
    let spec = spec(event_type)?;
    let (namespace, name) = event_type.rsplit_once('.').unwrap_or(("", event_type));
    let fields: Vec<Json> = fields(event_type)?
        .into_iter()
        .map(|f| {
            let base = match f.ty {
                Ty::String => json!("string"),
                Ty::Int => json!("int"),
                Ty::Long => json!("long"),
                Ty::Boolean => json!("boolean"),
                Ty::Float => json!("float"),
                Ty::Strings => json!({"type": "array", "items": "string"}),
                Ty::NullableStrings => json!({"type": "array", "items": ["null", "string"]}),
            };
            if f.nullable {
                json!({"name": f.name, "type": ["null", base], "doc": f.doc, "default": null})
            } else {
                json!({"name": f.name, "type": base, "doc": f.doc})
            }
        })
        .collect();
    let mut schema = json!({
        "type": "record",
        "name": name,
        "namespace": format!("dataexport.S3.inner.{namespace}"),
        "doc": spec.doc,
        "fields": fields,
    });
    if let Some(owner) = spec.owner {
        schema["owner"] = json!(owner);
    }
    Some(schema)
}

/// The real Braze writer schema of `event_type`, exactly as Braze writes it into `avro.schema`
/// (compact JSON), e.g. record `Send` in namespace `dataexport.S3.inner.users.messages.email`.
pub fn schema_json(event_type: &str) -> Option<String> {
    schema_value(event_type).map(|v| v.to_string())
}

// ---------------------------------------------------------------------------------------------
// Braze layout
// ---------------------------------------------------------------------------------------------

/// The `<schema-id>` folder Braze uses for a type's current schema (stable per type).
pub fn schema_id(event_type: &str) -> u32 {
    10_000 + (fnv1a(event_type.as_bytes()) % 90_000) as u32
}

/// `<root>/dataexport.prod-01.S3.integration.5a1b2c3d4e5f/event_type=<type>/date=<date_hour>/
/// <schema-id>/0/dataexport.prod-01.S3.integration.5a1b2c3d4e5f+<partition>+<offset>.avro`.
pub fn braze_path(root: &Path, event_type: &str, date_hour: &str, partition: u32, offset: u64) -> PathBuf {
    braze_path_with_schema(root, event_type, date_hour, schema_id(event_type), partition, offset)
}

/// [`braze_path`] with an explicit `<schema-id>` folder (a changed schema gets a new id).
pub fn braze_path_with_schema(
    root: &Path,
    event_type: &str,
    date_hour: &str,
    schema_id: u32,
    partition: u32,
    offset: u64,
) -> PathBuf {
    root.join(INTEGRATION)
        .join(format!("event_type={event_type}"))
        .join(format!("date={date_hour}"))
        .join(schema_id.to_string())
        .join("0")
        .join(format!("{INTEGRATION}+{partition}+{offset:010}.avro"))
}

/// `YYYY-MM-DD-HH` of a Unix time (UTC), as in Braze's `date=` folders.
pub fn date_hour(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let hour = unix.rem_euclid(86_400) / 3_600;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}-{hour:02}")
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian, UTC).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

// ---------------------------------------------------------------------------------------------
// Trees
// ---------------------------------------------------------------------------------------------

/// What [`generate_tree`] writes.
#[derive(Clone, Debug)]
pub struct TreeOptions {
    pub seed: u64,
    pub files_per_type: usize,
    pub events_per_file: usize,
    /// Cycled across files (in order), so each appears once there are enough files.
    pub codecs: Vec<Codec>,
    /// Event types; empty means [`default_types`].
    pub types: Vec<String>,
    /// Also write the edge-case files ([`write_edge_cases`]).
    pub edge_cases: bool,
}

impl Default for TreeOptions {
    fn default() -> Self {
        TreeOptions {
            seed: 42,
            files_per_type: 2,
            events_per_file: 200,
            codecs: Codec::all().to_vec(),
            types: Vec::new(),
            edge_cases: false,
        }
    }
}

/// Per event type counts of a generated tree (regular files and edge-case files together).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TypeCounts {
    pub files: usize,
    pub events: u64,
    /// Regular records whose `external_user_id` is null (the transform skips them).
    pub without_external_user_id: u64,
}

/// Expected transform outcomes, as in the report's `events` object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub read: u64,
    pub emitted: u64,
    pub skipped: BTreeMap<String, u64>,
    pub rejected: BTreeMap<String, u64>,
}

/// One regular file of a generated tree.
#[derive(Clone, Debug)]
pub struct GeneratedFile {
    pub path: PathBuf,
    pub event_type: String,
    pub codec: Codec,
    /// The `date=` folder, `YYYY-MM-DD-HH`.
    pub date_hour: String,
    pub events: usize,
    /// Records whose `external_user_id` is null (the transform skips them).
    pub without_external_user_id: usize,
}

/// What [`generate_tree`] wrote.
#[derive(Clone, Debug, Default)]
pub struct TreeSummary {
    pub files_written: usize,
    pub events_written: u64,
    pub bytes_written: u64,
    /// Keyed by the event type the tool must determine for each file.
    pub per_type: BTreeMap<String, TypeCounts>,
    /// Files per codec name.
    pub codecs: BTreeMap<String, usize>,
    /// Regular (non-edge) files, in writing order.
    pub files: Vec<GeneratedFile>,
    /// Edge-case files, empty unless asked for.
    pub edge_cases: Vec<EdgeFile>,
}

impl TreeSummary {
    /// Expected `events` outcome for the whole tree when the types for which `selected` is true
    /// are converted, with no `--since/--until`, `--token` or `--drop-property`, and a clock
    /// after 2026-11-01T01:00Z and before 2034. Regular records emit unless their
    /// `external_user_id` is null; edge records follow their [`Expect`].
    pub fn expected(&self, selected: impl Fn(&str) -> bool) -> Outcomes {
        let mut o = Outcomes::default();
        let mut skipped = 0;
        for f in self.files.iter().filter(|f| selected(&f.event_type)) {
            o.read += f.events as u64;
            skipped += f.without_external_user_id as u64;
        }
        o.emitted = o.read - skipped;
        if skipped > 0 {
            o.skipped.insert("no_external_user_id".into(), skipped);
        }
        for f in &self.edge_cases {
            if !selected(&f.event_type) {
                continue;
            }
            for r in &f.records {
                o.read += 1;
                match r.expect {
                    Expect::Emit => o.emitted += 1,
                    Expect::Skip(reason) => *o.skipped.entry(reason.into()).or_default() += 1,
                    Expect::Reject(reason) => *o.rejected.entry(reason.into()).or_default() += 1,
                }
            }
        }
        o
    }

    fn add(&mut self, event_type: &str, codec: Codec, events: usize, bytes: usize) {
        self.files_written += 1;
        self.events_written += events as u64;
        self.bytes_written += bytes as u64;
        let c = self.per_type.entry(event_type.to_string()).or_default();
        c.files += 1;
        c.events += events as u64;
        *self.codecs.entry(codec.name().to_string()).or_default() += 1;
    }
}

/// Write a Braze-shaped export tree under `root` (see the module docs).
///
/// Each type gets `files_per_type` files of `events_per_file` realistic records. A file's `date=`
/// hour is the hour its records were queued: record times fall in that hour, except about 2%
/// "late" records up to 3 days older. Codecs cycle across files in `opts.codecs` order.
pub fn generate_tree(root: &Path, opts: &TreeOptions) -> io::Result<TreeSummary> {
    let types: Vec<String> = if opts.types.is_empty() {
        default_types().iter().map(|s| s.to_string()).collect()
    } else {
        opts.types.clone()
    };
    if let Some(bad) = types.iter().find(|t| spec(t).is_none()) {
        return Err(invalid(format!("no embedded schema for event type {bad:?}")));
    }
    let codecs = if opts.codecs.is_empty() { vec![Codec::Null] } else { opts.codecs.clone() };
    let mut summary = TreeSummary::default();
    let mut file_no = 0usize;
    for ty in &types {
        let schema = schema_json(ty).expect("checked above");
        // Offsets grow per partition, like Kafka offsets in Braze's file names.
        let mut offsets = [0u64; 4];
        for i in 0..opts.files_per_type {
            let mut rng = Rng::derive(opts.seed, ty, i as u64);
            let codec = codecs[file_no % codecs.len()];
            file_no += 1;
            let hour = WINDOW_START + rng.below(((WINDOW_END - WINDOW_START) / 3_600) as u64) as i64 * 3_600;
            let mut times: Vec<i64> = (0..opts.events_per_file)
                .map(|_| if rng.chance(0.02) { hour - rng.range(60, 3 * 86_400) } else { hour + rng.range(0, 3_600) })
                .collect();
            times.sort_unstable();
            let recs: Vec<Json> = times.iter().map(|&t| gen_record(ty, &mut rng, t)).collect();
            let nulls = recs.iter().filter(|r| r.get("external_user_id").is_some_and(Json::is_null)).count();
            let partition = rng.below(offsets.len() as u64) as u32;
            let offset = offsets[partition as usize] + rng.below(50_000);
            offsets[partition as usize] = offset + recs.len() as u64;
            let folder = date_hour(hour);
            let path = braze_path(root, ty, &folder, partition, offset);
            let bytes = encode_json_file(&schema, &recs, &WriteOptions::new(codec))?;
            write_bytes_file(&path, &bytes)?;
            summary.add(ty, codec, recs.len(), bytes.len());
            summary.per_type.get_mut(ty.as_str()).expect("just added").without_external_user_id += nulls as u64;
            summary.files.push(GeneratedFile {
                path,
                event_type: ty.clone(),
                codec,
                date_hour: folder,
                events: recs.len(),
                without_external_user_id: nulls,
            });
        }
    }
    if opts.edge_cases {
        let edges = write_edge_cases(root)?;
        for e in &edges {
            let len = fs::metadata(&e.path)?.len() as usize;
            summary.add(&e.event_type, e.codec, e.records.len(), len);
        }
        summary.edge_cases = edges;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests;
