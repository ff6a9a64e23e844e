//! Avro datum → [`Record`], through apache-avro's serde path with visitors that write straight
//! into a reused record (no `Value` tree per record).

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};

use crate::json;
use crate::record::{Record, Value, push_bytes_as_chars};

thread_local! {
    /// The previous record's buffers, reused by the next decode on this thread.
    pub(super) static RECYCLED: RefCell<Record> = RefCell::new(Record::default());
}

/// A record decoded by [`RecordVisitor`]; `into_deser_iter` needs an owned type.
pub(super) struct DecodedRecord(pub Record);

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
