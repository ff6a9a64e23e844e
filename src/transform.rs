//! The pure transform: one Currents record in, one outcome out (SPEC §3).
//!
//! Everything that depends only on the file (event name, which fields are copied under which
//! names, collisions, `--drop-property`) is worked out once per file in a [`FilePlan`]; the
//! per-record work is then a few lookups and appends into a reused output buffer. No I/O and
//! no clock: the caller passes `now`.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::catalogue;
use crate::json;
use crate::record::{Record, Value};

pub const CUSTOM_EVENT: &str = "users.behaviors.CustomEvent";
pub const PURCHASE: &str = "users.behaviors.Purchase";

/// Mixpanel rejects events timed before 1971-01-01.
pub const MIN_TIME: i64 = 31_536_000;
/// Mixpanel rejects events timed more than an hour after its clock.
pub const MAX_FUTURE_SECS: i64 = 3600;
/// Mixpanel accepts fewer than 255 properties per event.
pub const MAX_PROPERTIES: usize = 254;
/// Mixpanel accepts events whose JSON is under 1 MB.
pub const MAX_EVENT_BYTES: usize = 999_999;

/// Properties that must never be dropped: they are Mixpanel's deduplication key.
pub const REQUIRED_PROPERTIES: [&str; 3] = ["distinct_id", "time", "$insert_id"];

/// `distinct_id` values Mixpanel refuses (compared ASCII case-insensitively, untrimmed).
const PLACEHOLDERS: [&str; 17] = [
    "00000000-0000-0000-0000-000000000000",
    "anon",
    "anonymous",
    "nil",
    "none",
    "null",
    "n/a",
    "na",
    "undefined",
    "unknown",
    "<nil>",
    "0",
    "-1",
    "true",
    "false",
    "[]",
    "{}",
];

/// Why an event was deliberately not converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    OutsideTimeWindow,
    NoExternalUserId,
}

impl SkipReason {
    pub const ALL: [SkipReason; 2] = [SkipReason::OutsideTimeWindow, SkipReason::NoExternalUserId];

    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::OutsideTimeWindow => "outside_time_window",
            SkipReason::NoExternalUserId => "no_external_user_id",
        }
    }
}

/// Why an event could not be converted into one Mixpanel accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    MissingTime,
    PlaceholderDistinctId,
    InvalidPropertiesJson,
    TimeOutOfRange,
    MissingId,
    TooManyProperties,
    EventTooLarge,
}

impl RejectReason {
    pub const ALL: [RejectReason; 7] = [
        RejectReason::MissingTime,
        RejectReason::PlaceholderDistinctId,
        RejectReason::InvalidPropertiesJson,
        RejectReason::TimeOutOfRange,
        RejectReason::MissingId,
        RejectReason::TooManyProperties,
        RejectReason::EventTooLarge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::MissingTime => "missing_time",
            RejectReason::PlaceholderDistinctId => "placeholder_distinct_id",
            RejectReason::InvalidPropertiesJson => "invalid_properties_json",
            RejectReason::TimeOutOfRange => "time_out_of_range",
            RejectReason::MissingId => "missing_id",
            RejectReason::TooManyProperties => "too_many_properties",
            RejectReason::EventTooLarge => "event_too_large",
        }
    }
}

/// The outcome of one record. On `Emit`, the NDJSON line (with its `\n`) was appended to the
/// output buffer; otherwise the buffer is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Emit,
    Skip(SkipReason),
    Reject(RejectReason, String),
}

/// User options that shape the transform.
#[derive(Debug, Clone, Default)]
pub struct TransformOptions {
    /// `--event-names`: Currents type → Mixpanel name template (overrides the catalogue).
    pub event_names: HashMap<String, String>,
    /// `--drop-property`: output property names removed from every event.
    pub drop_properties: HashSet<String>,
    /// `--token`: added to every event as `token`.
    pub token: Option<crate::secret::Secret>,
    /// `--since` (inclusive), Unix seconds.
    pub since: Option<i64>,
    /// `--until` (exclusive), Unix seconds.
    pub until: Option<i64>,
}

/// The Mixpanel event name for a Currents type, before `{name}` is filled in.
pub fn event_name_template<'a>(event_type: &'a str, options: &'a TransformOptions) -> &'a str {
    options
        .event_names
        .get(event_type)
        .map(String::as_str)
        .or_else(|| catalogue::lookup(event_type).map(|e| e.mixpanel_name))
        .unwrap_or(event_type)
}

/// Per-file work: which field feeds which property, worked out once from the writer schema.
#[derive(Debug, Clone)]
pub struct FilePlan {
    field_names: Vec<String>,
    /// The event name split at each `{name}`; one part when there is none.
    name_parts: Vec<String>,
    time: Option<usize>,
    id: Option<usize>,
    user: Option<usize>,
    name: Option<usize>,
    properties: Option<usize>,
    property_prefix: &'static str,
    /// `,"$partner_id":"braze"` and `,"token":"…"`, unless dropped.
    constants: Vec<u8>,
    constant_count: usize,
    /// Copied fields: index and the pre-escaped `,"key":`.
    copies: Vec<(usize, Vec<u8>)>,
    drop: HashSet<String>,
}

impl FilePlan {
    pub fn new(event_type: &str, field_names: &[&str], options: &TransformOptions) -> FilePlan {
        let position = |name: &str| field_names.iter().position(|f| *f == name);
        let property_prefix = match event_type {
            CUSTOM_EVENT => "[Custom event property] ",
            PURCHASE => "[Purchase property] ",
            _ => "",
        };
        let (time, id, user) = (position("time"), position("id"), position("external_user_id"));
        let name = position("name");
        let properties = if property_prefix.is_empty() { None } else { position("properties") };
        let mut consumed: Vec<usize> = [time, id, user, properties].into_iter().flatten().collect();
        if event_type == CUSTOM_EVENT {
            consumed.extend(name);
        }

        let drop = &options.drop_properties;
        let mut taken: HashSet<&str> = ["time", "distinct_id", "$insert_id", "$partner_id"].into();
        let mut constants = Vec::new();
        let mut constant_count = 0;
        let mut add_constant = |key: &str, value: &str| {
            if !drop.contains(key) {
                constants.push(b',');
                json::write_str(&mut constants, key.as_bytes());
                constants.push(b':');
                json::write_str(&mut constants, value.as_bytes());
                constant_count += 1;
            }
        };
        add_constant("$partner_id", "braze");
        if let Some(token) = &options.token {
            add_constant("token", token.expose());
            taken.insert("token");
        }

        // Renamed fields claim their names before same-named plain fields do.
        let mut claims: Vec<(usize, &str)> = Vec::new();
        for (i, field) in field_names.iter().enumerate() {
            if let Some(renamed) = rename(field) {
                claims.push((i, renamed));
            }
        }
        for (i, field) in field_names.iter().enumerate() {
            if rename(field).is_none() {
                claims.push((i, field));
            }
        }
        let mut copies = Vec::new();
        for (i, key) in claims {
            if consumed.contains(&i) || !taken.insert(key) || drop.contains(key) {
                continue;
            }
            let mut escaped = vec![b','];
            json::write_str(&mut escaped, key.as_bytes());
            escaped.push(b':');
            copies.push((i, escaped));
        }
        copies.sort_by_key(|(i, _)| *i);

        FilePlan {
            field_names: field_names.iter().map(|f| f.to_string()).collect(),
            name_parts: event_name_template(event_type, options).split("{name}").map(String::from).collect(),
            time,
            id,
            user,
            name,
            properties,
            property_prefix,
            constants,
            constant_count,
            copies,
            drop: drop.clone(),
        }
    }

    pub fn field_names(&self) -> &[String] {
        &self.field_names
    }
}

/// Braze's connector renames these fields.
fn rename(field: &str) -> Option<&'static str> {
    match field {
        "device_model" => Some("$device"),
        "os_version" => Some("$os"),
        "content_card_id" => Some("card_id"),
        _ => None,
    }
}

/// Converts one record. On `Emit` the Mixpanel NDJSON line is appended to `out`.
pub fn transform(record: &Record, plan: &FilePlan, options: &TransformOptions, now: i64, out: &mut Vec<u8>) -> Outcome {
    let time = match record.get(plan.time) {
        Some(Value::Int(t)) => t,
        None => return reject(RejectReason::MissingTime, "the record has no `time` field".into()),
        Some(Value::Null) => return reject(RejectReason::MissingTime, "`time` is null".into()),
        Some(_) => return reject(RejectReason::MissingTime, "`time` is not an integer".into()),
    };
    if options.since.is_some_and(|since| time < since) || options.until.is_some_and(|until| time >= until) {
        return Outcome::Skip(SkipReason::OutsideTimeWindow);
    }
    let mut user_scratch = Vec::new();
    let distinct_id = match record.get(plan.user).and_then(|v| scalar_text(record, v, &mut user_scratch)) {
        Some(text) if !text.is_empty() => text,
        _ => return Outcome::Skip(SkipReason::NoExternalUserId),
    };
    if is_placeholder(distinct_id) {
        let shown = String::from_utf8_lossy(distinct_id);
        return reject(
            RejectReason::PlaceholderDistinctId,
            format!("distinct_id {shown:?} is a placeholder value Mixpanel rejects"),
        );
    }
    let properties = match parse_properties(record, record.get(plan.properties)) {
        Ok(properties) => properties,
        Err(why) => {
            return reject(
                RejectReason::InvalidPropertiesJson,
                format!("`properties` is not a strict JSON object: {why}"),
            );
        }
    };
    if time < MIN_TIME {
        return reject(
            RejectReason::TimeOutOfRange,
            format!("time {time} ({}) is before 1971-01-01", crate::timestamp::format_utc(time)),
        );
    }
    if time > now.saturating_add(MAX_FUTURE_SECS) {
        return reject(
            RejectReason::TimeOutOfRange,
            format!(
                "time {time} ({}) is more than 1 hour after now ({})",
                crate::timestamp::format_utc(time),
                crate::timestamp::format_utc(now)
            ),
        );
    }
    let mut id_scratch = Vec::new();
    let id = match record.get(plan.id) {
        None => return reject(RejectReason::MissingId, "the record has no `id` field".into()),
        Some(Value::Null) => return reject(RejectReason::MissingId, "`id` is null".into()),
        Some(v) => scalar_text(record, v, &mut id_scratch).unwrap_or_default(),
    };

    let start = out.len();
    out.extend_from_slice(b"{\"event\":");
    write_event_name(record, plan, out);
    out.extend_from_slice(b",\"properties\":{\"time\":");
    json::write_i64(out, time);
    out.extend_from_slice(b",\"distinct_id\":");
    json::write_str(out, distinct_id);
    out.extend_from_slice(b",\"$insert_id\":");
    write_insert_id(id, out);
    out.extend_from_slice(&plan.constants);
    let mut count = REQUIRED_PROPERTIES.len() + plan.constant_count;
    for (index, key) in &plan.copies {
        let value = record.values()[*index];
        if is_absent(value) {
            continue;
        }
        out.extend_from_slice(key);
        record.write_value(value, out);
        count += 1;
    }
    count += write_custom_properties(&properties, plan, out);
    out.extend_from_slice(b"}}");

    let len = out.len() - start;
    if count > MAX_PROPERTIES {
        out.truncate(start);
        return reject(
            RejectReason::TooManyProperties,
            format!("the event has {count} properties; Mixpanel accepts at most {MAX_PROPERTIES}"),
        );
    }
    if len > MAX_EVENT_BYTES {
        out.truncate(start);
        return reject(
            RejectReason::EventTooLarge,
            format!("the event is {len} bytes of JSON; Mixpanel accepts less than 1000000"),
        );
    }
    out.push(b'\n');
    Outcome::Emit
}

fn reject(reason: RejectReason, message: String) -> Outcome {
    Outcome::Reject(reason, message)
}

/// Nulls and non-finite floats are left out of the event.
fn is_absent(value: Value) -> bool {
    match value {
        Value::Null => true,
        Value::Float(f) => !f.is_finite(),
        Value::Double(f) => !f.is_finite(),
        _ => false,
    }
}

/// The text of a scalar used as an identifier (`id`, `external_user_id`, `name`): strings as
/// they are, other values as their JSON text; `None` for null.
fn scalar_text<'a>(record: &'a Record, value: Value, scratch: &'a mut Vec<u8>) -> Option<&'a [u8]> {
    match value {
        Value::Null => None,
        Value::Str(span) => Some(record.text(span)),
        other => {
            scratch.clear();
            record.write_value(other, scratch);
            Some(scratch)
        }
    }
}

fn is_placeholder(text: &[u8]) -> bool {
    // Placeholders are short, or the all-zero UUID: most ids are ruled out by length alone.
    (text.len() <= 9 || text.len() == 36) && PLACEHOLDERS.iter().any(|p| p.as_bytes().eq_ignore_ascii_case(text))
}

/// `$insert_id`: the Currents id when Mixpanel accepts it as is, else a stable hash of it.
fn write_insert_id(id: &[u8], out: &mut Vec<u8>) {
    let usable = (1..=36).contains(&id.len())
        && id.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && !is_placeholder(id);
    if usable {
        json::write_str(out, id);
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(id);
    out.push(b'"');
    for byte in &digest[..16] {
        out.extend_from_slice(&[HEX[(byte >> 4) as usize], HEX[(byte & 0xf) as usize]]);
    }
    out.push(b'"');
}

fn write_event_name(record: &Record, plan: &FilePlan, out: &mut Vec<u8>) {
    if plan.name_parts.len() == 1 {
        return json::write_str(out, plan.name_parts[0].as_bytes());
    }
    let mut scratch = Vec::new();
    let name = record.get(plan.name).and_then(|v| scalar_text(record, v, &mut scratch)).unwrap_or_default();
    // Escaping is per character, so the escaped pieces concatenate to the escaped whole.
    out.push(b'"');
    for (i, part) in plan.name_parts.iter().enumerate() {
        if i > 0 {
            json::write_str_contents(out, name);
        }
        json::write_str_contents(out, part.as_bytes());
    }
    out.push(b'"');
}

type JsonObject = serde_json::Map<String, serde_json::Value>;

/// Parses CustomEvent/Purchase `properties`: a strict JSON object (RFC 8259), or "" for none.
fn parse_properties(record: &Record, value: Option<Value>) -> Result<JsonObject, String> {
    let text = match value {
        None | Some(Value::Null) => return Ok(JsonObject::new()),
        Some(Value::Str(span)) | Some(Value::Json(span)) => record.text(span),
        Some(_) => return Err("it is not a string".into()),
    };
    if text.is_empty() {
        return Ok(JsonObject::new());
    }
    match serde_json::from_slice::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => {
            check_numbers(&map)?;
            Ok(map)
        }
        Ok(other) => Err(format!("it is {}, not an object", json_kind(&other))),
        Err(e) => Err(e.to_string()),
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Numbers are kept as written (so big integers survive), but a fraction or exponent that
/// overflows a double is out of range.
fn check_numbers(map: &JsonObject) -> Result<(), String> {
    fn check(value: &serde_json::Value) -> Result<(), String> {
        match value {
            serde_json::Value::Number(n) => {
                let text = n.as_str();
                let is_float = text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
                if is_float && !text.parse::<f64>().is_ok_and(f64::is_finite) {
                    return Err(format!("number {text} is out of range"));
                }
                Ok(())
            }
            serde_json::Value::Array(items) => items.iter().try_for_each(check),
            serde_json::Value::Object(map) => map.values().try_for_each(check),
            _ => Ok(()),
        }
    }
    map.values().try_for_each(check)
}

/// Appends `,"<prefix><key>":<value>` for each top-level key; returns how many were written.
fn write_custom_properties(properties: &JsonObject, plan: &FilePlan, out: &mut Vec<u8>) -> usize {
    let mut written = 0;
    let mut key = String::new();
    for (name, value) in properties {
        key.clear();
        key.push_str(plan.property_prefix);
        key.push_str(name);
        if plan.drop.contains(&key) {
            continue;
        }
        out.push(b',');
        json::write_str(out, key.as_bytes());
        out.push(b':');
        serde_json::to_writer(&mut *out, value).expect("writing JSON to a Vec cannot fail");
        written += 1;
    }
    written
}

#[cfg(test)]
mod tests;
