//! One decoded Currents record, in a form that costs no allocation per field: values are
//! small enums whose text lives in one buffer reused from record to record.
//!
//! Fields are positional: value `i` belongs to field `i` of the file's writer schema (names
//! are held once per file, see [`crate::transform::FilePlan`]).

use crate::json;

/// A byte range in [`Record::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    start: u32,
    end: u32,
}

/// One field value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// Avro `float`: written as the shortest decimal that round-trips 32 bits.
    Float(f32),
    Double(f64),
    /// A string (UTF-8), also enum symbols and bytes (one code point per byte).
    Str(Span),
    /// Compact JSON for arrays, maps and nested records.
    Json(Span),
}

/// A decoded record: values in writer-schema order, text in one shared buffer.
#[derive(Debug, Default, Clone)]
pub struct Record {
    values: Vec<Value>,
    text: Vec<u8>,
}

impl Record {
    /// Empties the record, keeping its allocations for the next one.
    pub fn clear(&mut self) {
        self.values.clear();
        self.text.clear();
    }

    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The value of field `index`, or `None` when the schema has no such field.
    pub fn get(&self, index: Option<usize>) -> Option<Value> {
        index.and_then(|i| self.values.get(i).copied())
    }

    /// The bytes of a `Str` (UTF-8 text) or `Json` (compact JSON) span.
    pub fn text(&self, span: Span) -> &[u8] {
        &self.text[span.start as usize..span.end as usize]
    }

    pub fn push(&mut self, value: Value) {
        self.values.push(value);
    }

    pub fn push_str(&mut self, s: &str) {
        let span = self.append(s.as_bytes());
        self.values.push(Value::Str(span));
    }

    /// Bytes and fixed values, as Avro's JSON encoding writes them: one code point per byte.
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        let start = self.text.len();
        push_bytes_as_chars(&mut self.text, bytes);
        let span = self.span_from(start);
        self.values.push(Value::Str(span));
    }

    /// Starts a JSON value written straight into the text buffer; finish with [`Record::end_json`].
    pub fn begin_json(&mut self) -> usize {
        self.text.len()
    }

    /// The buffer a JSON value is being written into.
    pub fn json_buf(&mut self) -> &mut Vec<u8> {
        &mut self.text
    }

    pub fn end_json(&mut self, start: usize) {
        let span = self.span_from(start);
        self.values.push(Value::Json(span));
    }

    fn append(&mut self, bytes: &[u8]) -> Span {
        let start = self.text.len();
        self.text.extend_from_slice(bytes);
        self.span_from(start)
    }

    fn span_from(&self, start: usize) -> Span {
        // Avro's allocation limit keeps a record far below 4 GiB.
        Span { start: start as u32, end: self.text.len() as u32 }
    }

    /// Writes `value` as JSON; NaN and infinite floats become `null`.
    pub fn write_value(&self, value: Value, out: &mut Vec<u8>) {
        match value {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            Value::Int(i) => json::write_i64(out, i),
            Value::Float(f) => {
                if !json::write_f32(out, f) {
                    out.extend_from_slice(b"null")
                }
            }
            Value::Double(f) => {
                if !json::write_f64(out, f) {
                    out.extend_from_slice(b"null")
                }
            }
            Value::Str(span) => json::write_str(out, self.text(span)),
            Value::Json(span) => out.extend_from_slice(self.text(span)),
        }
    }

    /// The whole record as a JSON object, nulls included (for the rejects file).
    pub fn write_json<S: AsRef<str>>(&self, names: &[S], out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (name, value)) in names.iter().zip(&self.values).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::write_str(out, name.as_ref().as_bytes());
            out.push(b':');
            self.write_value(*value, out);
        }
        out.push(b'}');
    }
}

/// Appends each byte as the code point of the same value (U+0000..U+00FF), UTF-8 encoded.
pub fn push_bytes_as_chars(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        let mut utf8 = [0u8; 2];
        out.extend_from_slice(char::from(b).encode_utf8(&mut utf8).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_to_json_with_nulls_and_non_finite_floats() {
        let mut r = Record::default();
        r.push_str("a\"b");
        r.push(Value::Null);
        r.push(Value::Float(f32::NAN));
        r.push_bytes(&[0x00, 0xff]);
        let start = r.begin_json();
        r.json_buf().extend_from_slice(b"[1,2]");
        r.end_json(start);
        let mut out = Vec::new();
        r.write_json(&["s", "n", "f", "b", "j"], &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"s":"a\"b","n":null,"f":null,"b":"\u0000ÿ","j":[1,2]}"#);
    }
}
