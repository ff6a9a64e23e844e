//! Mixpanel's strict-mode per-event validation (reference doc §1.5–1.6), as the mock applies it.

use serde_json::{Map, Value};

/// `distinct_id` (and `$insert_id`) values Mixpanel refuses, compared ASCII case-insensitively.
pub const PLACEHOLDER_IDS: &[&str] = &[
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

/// 1971-01-01T00:00:00Z: Mixpanel rejects anything earlier.
pub(crate) const MIN_TIME: i64 = 31_536_000;
/// Mixpanel rejects times more than an hour ahead of its clock.
pub(crate) const MAX_FUTURE_SECS: i64 = 3600;
/// An event's compact JSON must stay under 1 MB.
pub(crate) const MAX_LINE_BYTES: usize = 1_000_000;
/// Events must have fewer than 255 properties.
pub(crate) const MAX_PROPERTIES: usize = 255;
pub(crate) const MAX_INSERT_ID_LEN: usize = 36;

/// What the checks need to know besides the event.
pub(crate) struct Rules<'a> {
    pub now: i64,
    pub reject_distinct_ids: &'a [String],
}

/// Why one event failed: becomes one `failed_records[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The event's `$insert_id` when it is a string, else "".
    pub insert_id: String,
    pub field: String,
    pub message: String,
}

fn failure(insert_id: &str, field: &str, why: &str) -> Failure {
    Failure {
        insert_id: insert_id.to_string(),
        field: field.to_string(),
        message: format!("'{field}' is invalid: {why}"),
    }
}

/// Validates one NDJSON line; the first failing rule wins, like Mixpanel reports one per event.
pub(crate) fn validate_line(line: &[u8], rules: &Rules<'_>) -> Result<Value, Failure> {
    if line.len() >= MAX_LINE_BYTES {
        return Err(failure("", "event", &format!("event is {} bytes, must be under {MAX_LINE_BYTES}", line.len())));
    }
    let value: Value =
        serde_json::from_slice(line).map_err(|e| failure("", "event", &format!("not valid JSON: {e}")))?;
    check_event(&value, rules)?;
    Ok(value)
}

fn check_event(value: &Value, rules: &Rules<'_>) -> Result<(), Failure> {
    let Some(obj) = value.as_object() else {
        return Err(failure("", "event", "must be a JSON object"));
    };
    let props = obj.get("properties").and_then(Value::as_object);
    let insert_id = props.and_then(|p| p.get("$insert_id")).and_then(Value::as_str).unwrap_or("");
    check_shape(obj, insert_id)?;
    let Some(props) = props else {
        return Err(failure(insert_id, "properties", "must be an object"));
    };
    check_time(props, insert_id, rules.now)?;
    check_distinct_id(props, insert_id, rules.reject_distinct_ids)?;
    check_insert_id(props)?;
    if props.len() >= MAX_PROPERTIES {
        return Err(failure(
            insert_id,
            "properties",
            &format!("has {} properties, must have fewer than {MAX_PROPERTIES}", props.len()),
        ));
    }
    Ok(())
}

/// Exactly `event` (non-empty string) and `properties`: the OpenAPI schema forbids other keys.
fn check_shape(obj: &Map<String, Value>, insert_id: &str) -> Result<(), Failure> {
    if let Some(extra) = obj.keys().find(|k| *k != "event" && *k != "properties") {
        return Err(failure(insert_id, extra, "unknown top-level key"));
    }
    match obj.get("event") {
        None => Err(failure(insert_id, "event", "must be specified")),
        Some(Value::String(s)) if s.is_empty() => Err(failure(insert_id, "event", "must not be empty")),
        Some(Value::String(_)) => Ok(()),
        Some(_) => Err(failure(insert_id, "event", "must be a string")),
    }
}

/// Integer seconds only: the tool must send seconds (Mixpanel would also guess milliseconds).
fn check_time(props: &Map<String, Value>, insert_id: &str, now: i64) -> Result<(), Failure> {
    const FIELD: &str = "properties.time";
    let Some(time) = props.get("time").and_then(Value::as_i64) else {
        return Err(failure(insert_id, FIELD, "must be specified as seconds since epoch"));
    };
    if time < MIN_TIME {
        return Err(failure(insert_id, FIELD, "must be after 1971-01-01 (31536000)"));
    }
    if time > now.saturating_add(MAX_FUTURE_SECS) {
        return Err(failure(insert_id, FIELD, "must not be more than 1 hour in the future"));
    }
    Ok(())
}

fn check_distinct_id(props: &Map<String, Value>, insert_id: &str, rejected: &[String]) -> Result<(), Failure> {
    const FIELD: &str = "properties.distinct_id";
    let id = match props.get("distinct_id") {
        None => return Err(failure(insert_id, FIELD, "must be specified")),
        Some(Value::String(s)) => s,
        Some(_) => return Err(failure(insert_id, FIELD, "must be a string")),
    };
    if is_placeholder(id) {
        return Err(failure(insert_id, FIELD, &format!("{id:?} is a disallowed value")));
    }
    if rejected.iter().any(|r| r == id) {
        return Err(failure(insert_id, FIELD, "rejected by the mock (reject_distinct_ids)"));
    }
    Ok(())
}

fn check_insert_id(props: &Map<String, Value>) -> Result<(), Failure> {
    const FIELD: &str = "properties.$insert_id";
    let id = match props.get("$insert_id") {
        None => return Err(failure("", FIELD, "must be specified")),
        Some(Value::String(s)) => s,
        Some(_) => return Err(failure("", FIELD, "must be a string")),
    };
    if id.is_empty() || id.len() > MAX_INSERT_ID_LEN {
        return Err(failure(id, FIELD, "must be between 1 and 36 characters"));
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(failure(id, FIELD, "must only contain alphanumeric or hyphen '-' characters"));
    }
    if is_placeholder(id) {
        return Err(failure(id, FIELD, &format!("{id:?} is a disallowed value")));
    }
    Ok(())
}

pub(crate) fn is_placeholder(id: &str) -> bool {
    PLACEHOLDER_IDS.iter().any(|p| p.eq_ignore_ascii_case(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn check(line: &str) -> Result<Value, Failure> {
        let reject = vec!["blocked".to_string()];
        validate_line(line.as_bytes(), &Rules { now: NOW, reject_distinct_ids: &reject })
    }

    fn event(time: &str, distinct: &str, insert: &str) -> String {
        format!(r#"{{"event":"e","properties":{{"time":{time},"distinct_id":{distinct},"$insert_id":{insert}}}}}"#)
    }

    fn field_of(line: &str) -> String {
        check(line).unwrap_err().field
    }

    #[test]
    fn valid_event_passes() {
        assert!(check(&event("1700000000", r#""u1""#, r#""abc-1""#)).is_ok());
        assert!(check(&event("1700000000", r#""""#, r#""abc-1""#)).is_ok(), "empty distinct_id is allowed");
        assert!(check(&event(&(NOW + 3600).to_string(), r#""u""#, r#""a""#)).is_ok());
    }

    #[test]
    fn time_rules() {
        for t in ["31535999", "1.7e9", r#""1700000000""#, "null", &(NOW + 3601).to_string(), "18446744073709551615"] {
            assert_eq!(field_of(&event(t, r#""u""#, r#""a""#)), "properties.time", "time {t}");
        }
        let f = check(r#"{"event":"e","properties":{"distinct_id":"u","$insert_id":"x1"}}"#).unwrap_err();
        assert_eq!(f.insert_id, "x1");
        assert_eq!(f.message, "'properties.time' is invalid: must be specified as seconds since epoch");
    }

    #[test]
    fn distinct_id_rules() {
        for d in [r#""NULL""#, r#""Anonymous""#, r#""<nil>""#, r#""-1""#, r#""{}""#, "5", r#""blocked""#] {
            assert_eq!(field_of(&event("1700000000", d, r#""a""#)), "properties.distinct_id", "distinct_id {d}");
        }
    }

    #[test]
    fn insert_id_rules() {
        let long = format!("\"{}\"", "a".repeat(37));
        for i in [r#""""#, long.as_str(), r#""a:b""#, r#""é""#, "7", r#""None""#] {
            assert_eq!(field_of(&event("1700000000", r#""u""#, i)), "properties.$insert_id", "insert_id {i}");
        }
        assert!(check(&event("1700000000", r#""u""#, &format!("\"{}\"", "a".repeat(36)))).is_ok());
    }

    #[test]
    fn shape_rules() {
        assert_eq!(field_of("[1]"), "event");
        assert_eq!(field_of("not json"), "event");
        assert_eq!(field_of(r#"{"event":"e"}"#), "properties");
        assert_eq!(field_of(r#"{"event":1,"properties":{}}"#), "event");
        assert_eq!(field_of(r#"{"event":"","properties":{}}"#), "event");
        assert_eq!(field_of(r#"{"event":"e","properties":{},"x":1}"#), "x");
    }

    #[test]
    fn property_count_and_size_limits() {
        let mut props: Vec<String> = (0..252).map(|i| format!(r#""p{i}":1"#)).collect();
        props.push(r#""time":1700000000,"distinct_id":"u","$insert_id":"a""#.into());
        let line = format!(r#"{{"event":"e","properties":{{{}}}}}"#, props.join(","));
        assert_eq!(field_of(&line), "properties", "255 properties");
        props.remove(0);
        let line = format!(r#"{{"event":"e","properties":{{{}}}}}"#, props.join(","));
        assert!(check(&line).is_ok(), "254 properties");
        let big = format!(r#"{{"event":"e","properties":{{"x":"{}"}}}}"#, "a".repeat(MAX_LINE_BYTES));
        assert!(check(&big).unwrap_err().message.contains("bytes"));
    }
}
