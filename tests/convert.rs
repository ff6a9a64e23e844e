//! End-to-end tests of `convert` and `events`: the real binary on generated Currents files
//! (SPEC §2, §3, §4, §6). The transform's rule-by-rule unit tests live in src/transform/tests.rs;
//! these check what a user sees: NDJSON, report, rejects file, stderr and exit codes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use c2m_testkit::fixtures::{self, Codec, Rng, TreeOptions, WriteOptions, broken};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use common::{Output, assert_invariants, c2m, c2m_env, parse_ndjson, read_json};

const CE: &str = "users.behaviors.CustomEvent";
const PURCHASE: &str = "users.behaviors.Purchase";
const LOCATION: &str = "users.behaviors.Location";
const EMAIL_SEND: &str = "users.messages.email.Send";
const EMAIL_OPEN: &str = "users.messages.email.Open";
const CARD_CLICK: &str = "users.messages.contentcard.Click";
const SESSION_START: &str = "users.behaviors.app.SessionStart";
const RANDOM_BUCKET: &str = "users.RandomBucketNumberUpdate";
const USER_ORPHAN: &str = "users.UserOrphan";
const PARTNER: &str = "partner.custom.Thing";

/// 2026-10-15T12:00:00Z, the hour most test files are queued in.
const T0: i64 = 1_792_065_600;
const HOUR: &str = "2026-10-15-12";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn tempdir() -> TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp paths")
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// `00000000-0000-4000-8000-<n>`: a valid 36-character id, used as is for `$insert_id`.
fn uuid(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn schema(event_type: &str) -> String {
    fixtures::schema_json(event_type).unwrap_or_else(|| panic!("no schema for {event_type}"))
}

/// Values for required fields a test does not care about.
fn required_default(name: &str) -> Value {
    match name {
        "id" => panic!("give every record an id"),
        "user_id" => json!("5f1e2d3c4b5a697887766554"),
        "time" => json!(T0),
        "app_id" => json!("a1b2c3d4-app"),
        "email_address" => json!("jane@example.com"),
        "name" => json!("Viewed Product"),
        "properties" => json!(""),
        "latitude" | "longitude" | "price" => json!(1.5),
        "product_id" => json!("sku-1"),
        "currency" => json!("USD"),
        "content_card_id" => json!("card-1"),
        "random_bucket_number" => json!(7),
        "session_id" => json!("session-1"),
        "orphaned_by_id" => json!("orphan-1"),
        other => panic!("no default for the required field {other}"),
    }
}

/// A record with every field of the real Braze schema of `event_type`, in schema order: the
/// fields in `set` as given, other nullable fields null, other required fields a default.
fn record(event_type: &str, set: Value) -> Value {
    let schema = fixtures::schema_value(event_type).unwrap_or_else(|| panic!("no schema for {event_type}"));
    let fields = schema["fields"].as_array().unwrap();
    let set = set.as_object().expect("an object of field values");
    for key in set.keys() {
        assert!(fields.iter().any(|f| f["name"] == key.as_str()), "{event_type} has no field {key}");
    }
    let mut out = Map::new();
    for f in fields {
        let name = f["name"].as_str().unwrap();
        let value = match set.get(name) {
            Some(v) => v.clone(),
            None if f["type"].is_array() => Value::Null,
            None => required_default(name),
        };
        out.insert(name.to_string(), value);
    }
    Value::Object(out)
}

/// A CustomEvent record with id `uuid(n)` and the given `external_user_id`.
fn ce(n: u64, external_user_id: Value) -> Value {
    record(CE, json!({"id": uuid(n), "external_user_id": external_user_id}))
}

fn with(mut r: Value, key: &str, v: Value) -> Value {
    assert!(r.get(key).is_some(), "the record has no field {key}");
    r[key] = v;
    r
}

/// Writes `records` with the real schema of `event_type` at its Braze path (codec null).
fn write_type(root: &Path, event_type: &str, date_hour: &str, offset: u64, records: &[Value]) -> PathBuf {
    let path = fixtures::braze_path(root, event_type, date_hour, 0, offset);
    fixtures::write_json_file(&path, &schema(event_type), Codec::Null, records).expect("fixture written");
    path
}

/// Writes `records` with `schema_json` at `path` (codec null).
fn write_at(path: &Path, schema_json: &str, records: &[Value]) {
    fixtures::write_json_file(path, schema_json, Codec::Null, records).expect("fixture written");
}

/// Another writer's schema (not Braze's): optional `id`, nullable `time` and `external_user_id`.
fn partner_schema(with_id: bool) -> String {
    let mut fields = Vec::new();
    if with_id {
        fields.push(json!({"name": "id", "type": "string"}));
    }
    fields.push(json!({"name": "external_user_id", "type": ["null", "string"], "default": null}));
    fields.push(json!({"name": "time", "type": ["null", "long"], "default": null}));
    fields.push(json!({"name": "score", "type": "double"}));
    json!({"type": "record", "name": "Thing", "namespace": "com.partner.events", "fields": fields}).to_string()
}

fn partner_path(root: &Path, name: &str) -> PathBuf {
    root.join(format!("event_type={PARTNER}")).join(format!("date={HOUR}")).join(name)
}

/// What one finished `convert` run produced (stdout NDJSON, report, rejects file).
#[derive(Debug)]
struct Converted {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
    events: Vec<Value>,
    report: Value,
    rejects_raw: Vec<u8>,
    rejects: Vec<Value>,
    _dir: TempDir,
}

impl Converted {
    fn n(&self, pointer: &str) -> u64 {
        self.report.pointer(pointer).and_then(Value::as_u64).unwrap_or_else(|| panic!("{pointer} in {:#}", self.report))
    }

    fn stdout_text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("UTF-8 NDJSON")
    }
}

/// Runs `convert ARGS --report R --rejects J` (NDJSON on stdout) and checks what holds for every
/// run that finishes: exit 0 or 3 as the report says, report shape and invariants, one NDJSON
/// line per emitted event.
fn convert(args: &[&str]) -> Converted {
    convert_env(args, &[])
}

fn convert_env(args: &[&str], env: &[(&str, &str)]) -> Converted {
    let dir = tempdir();
    let report_path = dir.path().join("report.json");
    let rejects_path = dir.path().join("rejects.ndjson");
    let mut all = vec!["convert", "--no-progress"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--report", s(&report_path), "--rejects", s(&rejects_path)]);
    let out = c2m_env(&all, env);
    assert!(matches!(out.code, 0 | 3), "convert {args:?} exited {}:\n{}", out.code, out.stderr);
    let report = read_json(&report_path);
    check_report(&report);
    let failed = report["files"]["failed"].as_u64().unwrap();
    let rejected = !report["events"]["rejected"].as_object().unwrap().is_empty();
    let expected_code = if failed > 0 || rejected { 3 } else { 0 };
    assert_eq!(out.code, expected_code, "exit code vs report {report:#}\n{}", out.stderr);
    assert!(out.stdout.is_empty() || out.stdout.ends_with(b"\n"), "NDJSON lines end with \\n");
    let events = out.stdout_ndjson();
    assert_eq!(events.len() as u64, report["events"]["emitted"].as_u64().unwrap(), "one line per emitted event");
    for e in &events {
        check_event_shape(e);
    }
    let rejects_raw = fs::read(&rejects_path).expect("the rejects file is written");
    let rejects = parse_ndjson(&rejects_raw);
    Converted {
        code: out.code,
        stdout: out.stdout,
        stderr: out.stderr,
        events,
        report,
        rejects_raw,
        rejects,
        _dir: dir,
    }
}

/// The report's exact shape (SPEC §6) and invariants.
fn check_report(report: &Value) {
    assert_invariants(report);
    let keys = |v: &Value| -> Vec<String> { v.as_object().expect("an object").keys().cloned().collect() };
    assert_eq!(keys(report), ["files", "events", "upload", "by_event_type", "elapsed_seconds"], "{report:#}");
    assert_eq!(keys(&report["files"]), ["read", "failed", "skipped"]);
    assert!(report["files"].as_object().unwrap().values().all(Value::is_u64));
    assert_eq!(keys(&report["events"]), ["read", "emitted", "skipped", "rejected"]);
    let skips = ["no_external_user_id", "outside_time_window"];
    let rejects = [
        "missing_time",
        "placeholder_distinct_id",
        "invalid_properties_json",
        "time_out_of_range",
        "missing_id",
        "too_many_properties",
        "event_too_large",
    ];
    for reason in keys(&report["events"]["skipped"]) {
        assert!(skips.contains(&reason.as_str()), "unknown skip reason {reason}");
    }
    for reason in keys(&report["events"]["rejected"]) {
        assert!(rejects.contains(&reason.as_str()), "unknown reject reason {reason}");
    }
    assert!(report["upload"].is_null(), "convert has no upload: {report:#}");
    let mut emitted = 0;
    for (event_type, counts) in report["by_event_type"].as_object().unwrap() {
        assert_eq!(keys(counts), ["read", "emitted"], "{event_type}");
        let (r, e) = (counts["read"].as_u64().unwrap(), counts["emitted"].as_u64().unwrap());
        assert!(e <= r, "{event_type}: emitted {e} > read {r}");
        emitted += e;
    }
    assert_eq!(emitted, report["events"]["emitted"].as_u64().unwrap(), "by_event_type emitted add up");
    let elapsed = report["elapsed_seconds"].as_f64().expect("elapsed_seconds is a number");
    assert!((0.0..600.0).contains(&elapsed));
}

/// Every NDJSON event: `{"event", "properties"}` with the required properties, no Avro nulls.
fn check_event_shape(e: &Value) {
    let obj = e.as_object().expect("an event object");
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["event", "properties"], "{e}");
    assert!(e["event"].is_string(), "{e}");
    let p = e["properties"].as_object().expect("properties object");
    assert!(p["time"].is_i64(), "{e}");
    assert!(p["distinct_id"].as_str().is_some_and(|d| !d.is_empty()), "{e}");
    let insert_id = p["$insert_id"].as_str().expect("$insert_id");
    assert!(
        (1..=36).contains(&insert_id.len()) && insert_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
        "{e}"
    );
    for (key, value) in p {
        let from_properties_json =
            key.starts_with("[Custom event property] ") || key.starts_with("[Purchase property] ");
        assert!(from_properties_json || !value.is_null(), "Avro nulls are omitted ({key}): {e}");
    }
}

fn props(e: &Value) -> &Map<String, Value> {
    e["properties"].as_object().expect("properties")
}

fn assert_finished_and_empty(out: &Output, dir: &Path) {
    let left: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "nothing may be left behind in {}: {left:?}\n{}", dir.display(), out.stderr);
}

/// Hash rule for ids Mixpanel would not take as they are (SPEC §3.2).
fn hashed_insert_id(id: &str) -> String {
    Sha256::digest(id.as_bytes())[..16].iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Skips, rejects, the rejects file
// ---------------------------------------------------------------------------------------------

#[test]
fn every_reject_reason_is_counted_and_written_to_the_rejects_file_with_the_original_record() {
    let dir = tempdir();
    let root = dir.path().join("in");
    let many_keys: Map<String, Value> = (0..260).map(|i| (format!("k{i:03}"), json!(i))).collect();
    let ce_records = vec![
        ce(1, json!("user-1")),
        ce(2, Value::Null),
        ce(3, json!("")),
        ce(4, json!("null")),
        ce(5, json!("N/A")),
        with(ce(6, json!("user-6")), "properties", json!("[1]")),
        with(ce(7, json!("user-7")), "properties", json!("{\"a\":")),
        with(ce(8, json!("user-8")), "time", json!(0)),
        with(ce(9, json!("user-9")), "time", json!(now() + 2 * 86_400)),
        with(ce(10, json!("user-10")), "properties", json!(Value::Object(many_keys).to_string())),
        with(ce(11, json!("user-11")), "properties", json!(json!({"blob": "x".repeat(1_000_000)}).to_string())),
    ];
    let ce_path = write_type(&root, CE, HOUR, 100, &ce_records);
    let with_id = partner_path(&root, "with-id.avro");
    let partner_with_id = vec![
        json!({"id": uuid(12), "external_user_id": "user-12", "time": null, "score": 0.5}),
        json!({"id": uuid(13), "external_user_id": "user-13", "time": T0, "score": 1.25}),
    ];
    write_at(&with_id, &partner_schema(true), &partner_with_id);
    let without_id = partner_path(&root, "without-id.avro");
    let partner_without_id = vec![
        json!({"external_user_id": "user-14", "time": T0, "score": 2.0}),
        json!({"external_user_id": "user-15", "time": T0 + 1, "score": -3.5}),
    ];
    write_at(&without_id, &partner_schema(false), &partner_without_id);

    let run = convert(&[s(&root), "--events", "*"]);
    assert_eq!(run.code, 3, "rejects make exit 3");
    assert_eq!(
        run.report["events"],
        json!({
            "read": 15,
            "emitted": 2,
            "skipped": {"no_external_user_id": 2},
            "rejected": {
                "event_too_large": 1,
                "invalid_properties_json": 2,
                "missing_id": 2,
                "missing_time": 1,
                "placeholder_distinct_id": 2,
                "time_out_of_range": 2,
                "too_many_properties": 1,
            },
        })
    );
    assert_eq!(run.report["files"], json!({"read": 3, "failed": 0, "skipped": 0}));
    assert_eq!(
        run.report["by_event_type"],
        json!({CE: {"read": 11, "emitted": 1}, PARTNER: {"read": 4, "emitted": 1}})
    );
    let ids: Vec<&str> = run.events.iter().map(|e| e["properties"]["distinct_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["user-1", "user-13"]);
    assert!(run.stderr.contains("rejected"), "the summary shows rejects: {}", run.stderr);

    // One rejects line per rejected record (skips are not rejects), in file order.
    let expected: Vec<(&str, &Path, &str, &Value)> = vec![
        ("placeholder_distinct_id", &ce_path, CE, &ce_records[3]),
        ("placeholder_distinct_id", &ce_path, CE, &ce_records[4]),
        ("invalid_properties_json", &ce_path, CE, &ce_records[5]),
        ("invalid_properties_json", &ce_path, CE, &ce_records[6]),
        ("time_out_of_range", &ce_path, CE, &ce_records[7]),
        ("time_out_of_range", &ce_path, CE, &ce_records[8]),
        ("too_many_properties", &ce_path, CE, &ce_records[9]),
        ("event_too_large", &ce_path, CE, &ce_records[10]),
        ("missing_time", &with_id, PARTNER, &partner_with_id[0]),
        ("missing_id", &without_id, PARTNER, &partner_without_id[0]),
        ("missing_id", &without_id, PARTNER, &partner_without_id[1]),
    ];
    assert_eq!(
        run.rejects.len(),
        expected.len(),
        "{}",
        String::from_utf8_lossy(&run.rejects_raw[..2000.min(run.rejects_raw.len())])
    );
    for (line, (reason, file, event_type, original)) in run.rejects.iter().zip(&expected) {
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["reason", "message", "file", "event_type", "record"]);
        assert_eq!(line["reason"], *reason);
        assert!(line["message"].as_str().is_some_and(|m| !m.is_empty()), "a message for {reason}");
        assert_eq!(line["file"], s(file));
        assert_eq!(line["event_type"], *event_type);
        assert_eq!(&line["record"], *original, "{reason}: the original record, nulls included");
        let record_keys: Vec<&String> = line["record"].as_object().unwrap().keys().collect();
        let original_keys: Vec<&String> = original.as_object().unwrap().keys().collect();
        assert_eq!(record_keys, original_keys, "all fields, in schema order");
    }
    // Nulls are written as null, not left out.
    assert!(run.rejects[0]["record"]["timezone"].is_null());
    assert!(run.rejects[8]["record"]["time"].is_null());
}

#[test]
fn time_window_skips_with_dates_and_rfc3339_since_inclusive_until_exclusive() {
    let dir = tempdir();
    let since = 1_792_022_400; // 2026-10-15
    let until = 1_792_108_800; // 2026-10-16
    let times = [since - 1, since, since + 5, until - 1, until, until + 100];
    let mut records: Vec<Value> =
        times.iter().enumerate().map(|(i, t)| with(ce(i as u64, json!(format!("u{i}"))), "time", json!(t))).collect();
    // Precedence: outside the window wins over no user and over a placeholder.
    records.push(with(ce(10, Value::Null), "time", json!(since - 10)));
    records.push(with(ce(11, json!("anonymous")), "time", json!(until + 10)));
    records.push(with(ce(12, Value::Null), "time", json!(since + 10)));
    write_type(dir.path(), CE, "2026-10-15-00", 1, &records);

    let run = convert(&[s(dir.path()), "--since", "2026-10-15", "--until", "2026-10-16"]);
    assert_eq!(run.code, 0, "skips alone are not failures");
    assert_eq!(
        run.report["events"],
        json!({"read": 9, "emitted": 3, "skipped": {"no_external_user_id": 1, "outside_time_window": 5}, "rejected": {}})
    );
    let emitted: Vec<i64> = run.events.iter().map(|e| e["properties"]["time"].as_i64().unwrap()).collect();
    assert_eq!(emitted, [since, since + 5, until - 1]);
    assert!(run.stderr.contains("outside_time_window"), "{}", run.stderr);

    // RFC 3339, with Z and with an offset: 11:30:00Z ..< 14:00:00+01:00 (= 13:00:00Z).
    let t = |h: i64, m: i64, sec: i64| T0 - 12 * 3600 + h * 3600 + m * 60 + sec;
    let times = [t(11, 29, 59), t(11, 30, 0), t(12, 59, 59), t(13, 0, 0), t(13, 30, 0)];
    let dir = tempdir();
    let records: Vec<Value> =
        times.iter().enumerate().map(|(i, t)| with(ce(i as u64, json!(format!("u{i}"))), "time", json!(t))).collect();
    write_type(dir.path(), CE, "2026-10-15-11", 1, &records);
    let run = convert(&[s(dir.path()), "--since", "2026-10-15T11:30:00Z", "--until", "2026-10-15T14:00:00+01:00"]);
    let emitted: Vec<i64> = run.events.iter().map(|e| e["properties"]["time"].as_i64().unwrap()).collect();
    assert_eq!(emitted, [t(11, 30, 0), t(12, 59, 59)]);
    assert_eq!(run.report["events"]["skipped"], json!({"outside_time_window": 3}));
}

#[test]
fn fractional_seconds_in_since_and_until_are_compared_exactly() {
    // Event times are whole seconds; the bounds are instants. --since 12:00:00.5Z (inclusive)
    // excludes an event at 12:00:00 and includes 12:00:01; --until 12:00:02.5Z (exclusive)
    // includes an event at 12:00:02 and excludes 12:00:03.
    let dir = tempdir();
    let records: Vec<Value> =
        (0..4).map(|i| with(ce(i, json!(format!("u{i}"))), "time", json!(T0 + i as i64))).collect();
    write_type(dir.path(), CE, HOUR, 1, &records);
    let run = convert(&[s(dir.path()), "--since", "2026-10-15T12:00:00.5Z", "--until", "2026-10-15T12:00:02.5Z"]);
    let emitted: Vec<i64> = run.events.iter().map(|e| e["properties"]["time"].as_i64().unwrap()).collect();
    assert_eq!(
        emitted,
        [T0 + 1, T0 + 2],
        "12:00:00 is before --since 12:00:00.5; 12:00:02 is before --until 12:00:02.5"
    );
}

#[test]
fn unselected_types_are_skipped_without_decoding_and_listed_in_the_summary() {
    let dir = tempdir();
    let root = dir.path();
    let send: Vec<Value> =
        (0..3).map(|i| record(EMAIL_SEND, json!({"id": uuid(i), "external_user_id": "u"}))).collect();
    let open: Vec<Value> =
        (0..2).map(|i| record(EMAIL_OPEN, json!({"id": uuid(i), "external_user_id": "u"}))).collect();
    let bucket: Vec<Value> =
        (0..2).map(|i| record(RANDOM_BUCKET, json!({"id": uuid(i), "external_user_id": "u"}))).collect();
    let custom: Vec<Value> = (0..2).map(|i| ce(i, json!("u"))).collect();
    write_type(root, EMAIL_SEND, HOUR, 1, &send);
    write_type(root, EMAIL_OPEN, HOUR, 1, &open);
    write_type(root, RANDOM_BUCKET, HOUR, 1, &bucket);
    write_type(root, CE, HOUR, 1, &custom);
    // Off by default, and not Avro at all: were it opened, it would fail.
    fixtures::write_bytes_file(&fixtures::braze_path(root, USER_ORPHAN, HOUR, 0, 1), &broken::not_avro()).unwrap();
    // No event_type= folder: the type comes from the schema, and it is off by default.
    write_at(&root.join("loose").join("bucket.avro"), &schema(RANDOM_BUCKET), &bucket);

    let run = convert(&[s(root)]);
    assert_eq!(run.code, 0);
    assert_eq!(run.report["files"], json!({"read": 3, "failed": 0, "skipped": 3}));
    assert_eq!(run.n("/events/read"), 7, "skipped files' events are not counted");
    let types: Vec<&String> = run.report["by_event_type"].as_object().unwrap().keys().collect();
    assert_eq!(types, [CE, EMAIL_OPEN, EMAIL_SEND]);
    assert!(
        run.stderr.contains(&format!("skipped 2 file(s) of unselected type {RANDOM_BUCKET}")),
        "the summary lists skipped types with their file counts:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains(&format!("skipped 1 file(s) of unselected type {USER_ORPHAN}")), "{}", run.stderr);

    let run = convert(&[s(root), "--events", "users.messages.email.*"]);
    assert_eq!(run.report["files"], json!({"read": 2, "failed": 0, "skipped": 4}));
    assert_eq!(run.n("/events/read"), 5);
    let names: BTreeSet<&str> = run.events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(names, BTreeSet::from(["Email Open", "Email Send"]));
    assert!(run.stderr.contains(&format!("skipped 1 file(s) of unselected type {CE}")), "{}", run.stderr);

    let run = convert(&[s(root), "--events", "*", "--exclude-events", "*.Open", "--exclude-events", USER_ORPHAN]);
    assert_eq!(run.report["files"], json!({"read": 4, "failed": 0, "skipped": 2}));
    assert_eq!(run.report["by_event_type"][RANDOM_BUCKET], json!({"read": 4, "emitted": 4}));
    assert!(run.report["by_event_type"].get(EMAIL_OPEN).is_none());
    // A selected type outside the catalogue keeps its Currents type as its name.
    assert!(run.events.iter().any(|e| e["event"] == RANDOM_BUCKET));

    let run = convert(&[s(root), "--exclude-events", "users.messages.*"]);
    assert_eq!(run.report["files"], json!({"read": 1, "failed": 0, "skipped": 5}));
    assert_eq!(run.report["by_event_type"], json!({CE: {"read": 2, "emitted": 2}}));
}

#[test]
fn date_folders_two_hours_before_since_are_pruned_but_until_never_prunes() {
    let dir = tempdir();
    let root = dir.path();
    let since = T0; // 2026-10-15T12:00:00Z
    let mut n = 0;
    let mut file = |date_hour: &str| {
        let records: Vec<Value> = (0..2)
            .map(|_| {
                n += 1;
                with(ce(n, json!(format!("u{n}"))), "time", json!(since + 60))
            })
            .collect();
        write_type(root, CE, date_hour, n, &records)
    };
    file("2026-10-15-09"); // 3 h before: pruned
    file("2026-10-15-10"); // exactly 2 h before: pruned
    let one_hour = file("2026-10-15-11"); // 1 h before: read
    file("2026-10-15-12");
    file("2026-10-20-00"); // after --until: still read
    // Pruned without being opened: not Avro, yet not failed.
    fixtures::write_bytes_file(&fixtures::braze_path(root, CE, "2026-10-15-08", 0, 99), &broken::not_avro()).unwrap();

    // The same instant as RFC 3339 with Z and with a negative offset.
    for since in ["2026-10-15T12:00:00Z", "2026-10-15T07:00:00-05:00"] {
        let run = convert(&[s(root), "--since", since, "--until", "2026-10-16"]);
        assert_eq!(run.code, 0, "{since}: {}", run.stderr);
        assert_eq!(run.report["files"], json!({"read": 3, "failed": 0, "skipped": 3}), "{since}");
        assert_eq!(run.report["events"], json!({"read": 6, "emitted": 6, "skipped": {}, "rejected": {}}), "{since}");
        assert!(
            run.stderr.contains("skipped 3 file(s) whose date= hour is 2+ hours before --since"),
            "{since}: {}",
            run.stderr
        );
        assert!(run.rejects.is_empty());
    }
    // A date means 00:00 UTC: every date= hour here starts after it, so nothing is pruned and
    // the non-Avro file is opened (and fails).
    let run = convert(&[s(root), "--since", "2026-10-15"]);
    assert_eq!(run.report["files"], json!({"read": 5, "failed": 1, "skipped": 0}));

    // The 1 h-before file is read even when it is the only input.
    let run = convert(&[s(&one_hour), "--since", "2026-10-15T12:00:00Z"]);
    assert_eq!(run.report["files"], json!({"read": 1, "failed": 0, "skipped": 0}));
    assert_eq!(run.n("/events/emitted"), 2);

    // --until alone prunes nothing: every Avro file is read, its events skipped by time.
    let run = convert(&[s(root), "--until", "2026-10-15T12:00:00Z"]);
    assert_eq!(run.report["files"], json!({"read": 5, "failed": 1, "skipped": 0}));
    assert_eq!(run.report["events"]["read"], 10);
    assert_eq!(run.report["events"]["skipped"], json!({"outside_time_window": 10}));
}

// ---------------------------------------------------------------------------------------------
// Codecs, broken files, threads
// ---------------------------------------------------------------------------------------------

#[test]
fn every_codec_converts_to_identical_ndjson() {
    let mut rng = Rng::new(7);
    let records: Vec<Value> = (0..250).map(|i| fixtures::gen_record(CE, &mut rng, T0 + i)).collect();
    let schema = schema(CE);
    let all = tempdir();
    let mut outputs = Vec::new();
    let mut files = BTreeMap::new();
    for &codec in Codec::all() {
        let root = all.path().join(codec.name());
        let path = fixtures::braze_path(&root, CE, HOUR, 0, 1);
        let opts = WriteOptions { codec, records_per_block: 40, sync: None };
        let bytes = fixtures::encode_json_file(&schema, &records, &opts).unwrap();
        fixtures::write_bytes_file(&path, &bytes).unwrap();
        files.insert(codec, bytes);
        let run = convert(&[s(&root)]);
        assert_eq!(run.code, 0, "{codec}: {}", run.stderr);
        assert_eq!(run.report["files"], json!({"read": 1, "failed": 0, "skipped": 0}), "{codec}");
        assert_eq!(run.n("/events/read"), 250, "{codec}");
        outputs.push((codec, run.stdout));
    }
    assert_ne!(files[&Codec::Deflate], files[&Codec::PythonDeflate], "python-style deflate differs on disk");
    assert!(files.values().collect::<BTreeSet<_>>().len() == Codec::all().len(), "every codec writes other bytes");
    let (_, reference) = &outputs[0];
    assert!(!reference.is_empty());
    for (codec, out) in &outputs {
        assert!(out == reference, "{codec} output differs from the null codec's");
    }
    // Other writers spell the null codec out in the header: the same output.
    let values = fixtures::json_records_to_avro(&schema, &records).unwrap();
    let datums = fixtures::encode_datums(&schema, &values).unwrap();
    let blocks: Vec<(i64, Vec<u8>)> = datums.chunks(40).map(|c| (c.len() as i64, c.concat())).collect();
    let mut bytes = Vec::new();
    fixtures::write_container(&mut bytes, &schema, Some("null"), &blocks, b"0123456789abcdef").unwrap();
    let explicit = all.path().join("explicit-null");
    fixtures::write_bytes_file(&fixtures::braze_path(&explicit, CE, HOUR, 0, 1), &bytes).unwrap();
    let run = convert(&[s(&explicit)]);
    assert!(run.stdout == *reference, "an explicit \"null\" codec entry reads like an absent one");
    // All codecs in one run: the same lines, once per file.
    let run = convert(&[s(all.path())]);
    assert_eq!(run.stdout, reference.repeat(Codec::all().len() + 1));
}

#[test]
fn a_truncated_file_and_a_non_avro_file_fail_alone() {
    let dir = tempdir();
    let root = dir.path();
    let folder = root.join(format!("event_type={CE}")).join(format!("date={HOUR}"));
    let good_a: Vec<Value> = (0..30).map(|i| ce(i, json!(format!("a{i}")))).collect();
    let good_d: Vec<Value> = (100..140).map(|i| ce(i, json!(format!("d{i}")))).collect();
    let a = folder.join("a-good.avro");
    let b = folder.join("b-not-avro.avro");
    let c = folder.join("c-truncated.avro");
    let d = folder.join("d-good.avro");
    write_at(&a, &schema(CE), &good_a);
    fixtures::write_bytes_file(&b, &broken::not_avro()).unwrap();
    fixtures::write_bytes_file(&c, &broken::truncated_block()).unwrap();
    write_at(&d, &schema(CE), &good_d);

    // Reference outputs, each file alone.
    let alone = |p: &Path| convert(&[s(p)]);
    let (ra, rd) = (alone(&a), alone(&d));
    let full = tempdir();
    let valid = full.path().join("valid.avro");
    fixtures::write_bytes_file(&valid, &broken::valid()).unwrap();
    let rvalid = convert(&[s(&valid)]);
    assert_eq!(rvalid.n("/events/read"), 250);

    let rc = alone(&c);
    assert_eq!(rc.code, 3);
    assert_eq!(rc.report["files"], json!({"read": 0, "failed": 1, "skipped": 0}));
    assert_eq!(rc.n("/events/read"), 100, "the records of the intact first block are counted");
    assert_eq!(rc.report["by_event_type"][CE]["read"], 100);
    // What was decoded before the break is converted exactly as from the intact file: the
    // intact file's first lines (emitted lines keep record order).
    assert!(rvalid.events.len() > rc.events.len() && !rc.events.is_empty());
    let first_100_emitted: Vec<String> =
        rvalid.stdout_text().lines().take(rc.events.len()).map(str::to_string).collect();
    assert_eq!(rc.stdout_text().lines().map(str::to_string).collect::<Vec<_>>(), first_100_emitted);
    assert_eq!(rc.n("/events/emitted") + rc.n("/events/skipped/no_external_user_id"), 100);
    assert!(rc.stderr.contains(s(&c)) && rc.stderr.contains("truncated"), "{}", rc.stderr);

    let run = convert(&[s(root)]);
    assert_eq!(run.code, 3);
    assert_eq!(run.report["files"], json!({"read": 2, "failed": 2, "skipped": 0}));
    assert_eq!(run.n("/events/read"), 30 + 100 + 40);
    let mut expected = ra.stdout.clone();
    expected.extend_from_slice(&rc.stdout);
    expected.extend_from_slice(&rd.stdout);
    assert!(run.stdout == expected, "good files in full, the truncated one up to its break, in path order");
    for (path, why) in [(&b, "not an Avro"), (&c, "truncated")] {
        let line = run.stderr.lines().find(|l| l.contains(s(path))).unwrap_or_else(|| {
            panic!("stderr names the failed file {}:\n{}", path.display(), run.stderr);
        });
        assert!(line.contains(why), "stderr gives the reason ({why}): {line}");
    }
    assert!(!run.stderr.contains(s(&a)) && !run.stderr.contains(s(&d)), "good files are not reported as failed");
    assert!(run.rejects.is_empty(), "failed files are in the summary, not event rejects");
}

#[test]
fn every_broken_file_fails_alone_without_a_crash() {
    let dir = tempdir();
    let corpus = broken::write_corpus(dir.path()).unwrap();
    let good: Vec<Value> = (0..10).map(|i| ce(i, json!(format!("zz-good-{i}")))).collect();
    let good_path = dir.path().join(format!("event_type={CE}")).join(format!("date={HOUR}")).join("zz-good.avro");
    write_at(&good_path, &schema(CE), &good);

    let run = convert(&[s(dir.path()), "--threads", "2"]);
    assert_eq!(run.code, 3);
    assert_eq!(run.report["files"], json!({"read": 1, "failed": corpus.len(), "skipped": 0}));
    let intact: u64 = corpus.iter().map(|(_, b)| b.intact_records).sum();
    assert!(run.n("/events/read") >= intact + 10, "records before each break are counted: {:#}", run.report);
    for (path, b) in &corpus {
        assert!(
            run.stderr.contains(&format!("FAILED {}: ", s(path))),
            "{} ({}) is named:\n{}",
            b.name,
            b.about,
            run.stderr
        );
    }
    assert!(!run.stderr.contains("internal"), "no panics or internal errors:\n{}", run.stderr);
    let good_ids: Vec<&str> = run
        .events
        .iter()
        .filter_map(|e| e["properties"]["distinct_id"].as_str().filter(|d| d.starts_with("zz-good-")))
        .collect();
    assert_eq!(good_ids, (0..10).map(|i| format!("zz-good-{i}")).collect::<Vec<_>>(), "the good file in full");
}

#[test]
fn many_files_convert_identically_with_one_and_four_threads_and_match_the_expected_outcomes() {
    let dir = tempdir();
    let opts = TreeOptions {
        seed: 11,
        files_per_type: 2,
        events_per_file: 12,
        codecs: Codec::all().to_vec(),
        types: Vec::new(),
        edge_cases: true,
    };
    let summary = fixtures::generate_tree(dir.path(), &opts).unwrap();
    assert!(summary.files_written > 150, "a tree with many files");

    let one = convert(&[s(dir.path()), "--events", "*", "--threads", "1"]);
    let four = convert(&[s(dir.path()), "--events", "*", "--threads", "4"]);
    assert!(one.stdout == four.stdout, "NDJSON bytes differ between --threads 1 and 4");
    // Rejects lines are identical too, except that a future-time message quotes the clock.
    let clockless = |raw: &[u8]| -> Vec<Vec<u8>> {
        raw.split(|b| *b == b'\n')
            .map(|line| match std::str::from_utf8(line).unwrap().find("after now (") {
                Some(at) => line[..at].to_vec(),
                None => line.to_vec(),
            })
            .collect()
    };
    assert!(!one.rejects_raw.is_empty());
    assert!(
        clockless(&one.rejects_raw) == clockless(&four.rejects_raw),
        "rejects bytes differ between --threads 1 and 4"
    );
    let without_time = |r: &Value| {
        let mut r = r.clone();
        r.as_object_mut().unwrap().remove("elapsed_seconds");
        r
    };
    assert_eq!(without_time(&one.report), without_time(&four.report));

    let expected = summary.expected(|_| true);
    let events = &one.report["events"];
    assert_eq!(events["read"], expected.read);
    assert_eq!(events["emitted"], expected.emitted);
    assert_eq!(events["skipped"], json!(expected.skipped));
    assert_eq!(events["rejected"], json!(expected.rejected));
    assert_eq!(one.report["files"], json!({"read": summary.files_written, "failed": 0, "skipped": 0}));
    for (event_type, counts) in &summary.per_type {
        assert_eq!(one.report["by_event_type"][event_type]["read"], counts.events, "{event_type}");
    }
    assert_eq!(one.rejects.len() as u64, expected.rejected.values().sum::<u64>());
    // Default selection: the catalogue's default types only.
    let default = convert(&[s(dir.path()), "--threads", "4"]);
    let defaults = fixtures::default_types();
    let expected = summary.expected(|t| defaults.contains(&t));
    assert_eq!(default.report["events"]["read"], expected.read);
    assert_eq!(default.report["events"]["emitted"], expected.emitted);
}

// ---------------------------------------------------------------------------------------------
// Report and output files
// ---------------------------------------------------------------------------------------------

#[test]
fn a_clean_run_reports_exactly_what_it_did() {
    let dir = tempdir();
    let custom: Vec<Value> = (0..4).map(|i| ce(i, if i == 3 { Value::Null } else { json!(format!("u{i}")) })).collect();
    let send: Vec<Value> =
        (0..2).map(|i| record(EMAIL_SEND, json!({"id": uuid(i), "external_user_id": "u"}))).collect();
    write_type(dir.path(), CE, HOUR, 1, &custom);
    write_type(dir.path(), EMAIL_SEND, HOUR, 1, &send);
    // An empty file (header only) is read, with no events.
    write_type(dir.path(), SESSION_START, HOUR, 1, &[]);
    let run = convert(&[s(dir.path())]);
    assert_eq!(run.code, 0);
    let mut report = run.report.clone();
    report["elapsed_seconds"] = json!(0);
    assert_eq!(
        report,
        json!({
            "files": {"read": 3, "failed": 0, "skipped": 0},
            "events": {"read": 6, "emitted": 5, "skipped": {"no_external_user_id": 1}, "rejected": {}},
            "upload": null,
            "by_event_type": {
                CE: {"read": 4, "emitted": 3},
                SESSION_START: {"read": 0, "emitted": 0},
                EMAIL_SEND: {"read": 2, "emitted": 2},
            },
            "elapsed_seconds": 0,
        })
    );
    assert!(run.rejects_raw.is_empty(), "no rejects: an empty rejects file");
    let names: Vec<&str> = run.events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["[Braze Custom Event] Viewed Product"; 3].iter().chain(&["Email Send"; 2]).copied().collect::<Vec<_>>()
    );
}

#[test]
fn gz_output_is_the_stdout_output_gzipped_and_file_output_is_atomic() {
    let dir = tempdir();
    let input = dir.path().join("in");
    let mut rng = Rng::new(3);
    let records: Vec<Value> = (0..60).map(|i| fixtures::gen_record(PURCHASE, &mut rng, T0 + i)).collect();
    write_type(&input, PURCHASE, HOUR, 1, &records);
    let stdout = convert(&[s(&input)]);
    assert!(!stdout.stdout.is_empty());

    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let gz = out.join("events.ndjson.gz");
    let plain = out.join("events.ndjson");
    for (path, extra) in [(&gz, None), (&plain, None), (&plain, Some("again: replaces the file"))] {
        let run = c2m(&["convert", "--no-progress", s(&input), "-o", s(path)]);
        assert_eq!(run.code, 0, "{extra:?} {}", run.stderr);
        assert!(run.stdout.is_empty(), "-o FILE writes nothing on stdout");
    }
    let bytes = fs::read(&gz).unwrap();
    assert_eq!(&bytes[..2], [0x1f, 0x8b], "gzip magic");
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut text).unwrap();
    assert!(text == stdout.stdout, "gunzipped output equals stdout output");
    assert!(fs::read(&plain).unwrap() == stdout.stdout, "-o out.ndjson equals stdout output");
    let mut left: Vec<String> =
        fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    left.sort();
    assert_eq!(left, ["events.ndjson", "events.ndjson.gz"], "no temporary file is left next to the output");

    let dash = c2m(&["convert", "--no-progress", s(&input), "-o", "-"]);
    assert!(dash.stdout == stdout.stdout, "-o - is stdout");
}

#[test]
fn a_failed_run_leaves_no_output_behind() {
    let dir = tempdir();
    let input = dir.path().join("in");
    write_type(&input, CE, HOUR, 1, &[ce(1, json!("u"))]);
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();

    // The output folder does not exist.
    let missing = out.join("missing").join("events.ndjson");
    let run = c2m(&["convert", s(&input), "-o", s(&missing)]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(s(&missing)), "the error names the output: {}", run.stderr);
    assert_finished_and_empty(&run, &out);

    // The output can be created, the rejects file cannot: the started output is removed.
    let target = out.join("events.ndjson");
    let run = c2m(&["convert", s(&input), "-o", s(&target), "--rejects", s(&out.join("nope").join("r.ndjson"))]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_finished_and_empty(&run, &out);

    // A missing input fails before any work: no output, report or rejects file.
    let run = c2m(&[
        "convert",
        s(&input),
        s(&dir.path().join("no-such-input")),
        "-o",
        s(&target),
        "--report",
        s(&out.join("report.json")),
        "--rejects",
        s(&out.join("rejects.ndjson")),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("no-such-input"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert_finished_and_empty(&run, &out);
}

// ---------------------------------------------------------------------------------------------
// events
// ---------------------------------------------------------------------------------------------

#[test]
fn events_lists_the_catalogue_as_a_table_and_as_json() {
    let table = c2m(&["events"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    let text = table.stdout_text();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.contains("CURRENTS EVENT TYPE") && header.contains("MIXPANEL NAME"), "{header}");
    let rows: Vec<(String, String, String)> = lines
        .map(|l| {
            let mut words = l.split_whitespace();
            let (t, d) = (words.next().unwrap().to_string(), words.next().unwrap().to_string());
            (t, d, words.collect::<Vec<_>>().join(" "))
        })
        .collect();
    assert_eq!(rows.len(), 100);
    let row = |t: &str| rows.iter().find(|r| r.0 == t).unwrap_or_else(|| panic!("{t} is listed"));
    assert_eq!(row(EMAIL_SEND), &(EMAIL_SEND.into(), "on".into(), "Email Send".into()));
    assert_eq!(row(RANDOM_BUCKET).1, "off");
    assert_eq!(row(CE), &(CE.into(), "on".into(), "[Braze Custom Event] {name}".into()));
    assert_eq!(row("users.messages.pushnotification.IosForeground").2, "Push Notification iOS Foreground Open");

    let out = c2m(&["events", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let entries = json.as_array().expect("an array");
    assert_eq!(entries.len(), 100);
    for e in entries {
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["event_type", "mixpanel_name", "default"]);
    }
    let types: Vec<&str> = entries.iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, fixtures::known_types(), "the 100 known types, sorted");
    let defaults: Vec<&str> =
        entries.iter().filter(|e| e["default"] == true).map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(defaults, fixtures::default_types());
    let find = |t: &str| entries.iter().find(|e| e["event_type"] == t).unwrap();
    assert_eq!(find(EMAIL_SEND)["mixpanel_name"], "Email Send");
    assert_eq!(find(EMAIL_SEND)["default"], true);
    assert_eq!(find(RANDOM_BUCKET)["default"], false);
    assert_eq!(find(CE)["mixpanel_name"], "[Braze Custom Event] {name}");
    for (t, d, name) in &rows {
        assert_eq!(find(t)["mixpanel_name"], name.as_str(), "table and JSON agree on {t}");
        assert_eq!(find(t)["default"], d == "on", "table and JSON agree on {t}");
    }
}

// ---------------------------------------------------------------------------------------------
// The mapping, end to end
// ---------------------------------------------------------------------------------------------

/// The golden input: one or two records of a few types, every value fixed.
#[allow(clippy::approx_constant)] // 3.14 is the classic shortest-float case, not pi
fn golden_tree(root: &Path) {
    let t = T0 + 17;
    let send = vec![
        record(
            EMAIL_SEND,
            json!({
                "id": "0b7b7c2e-6b1e-4c55-9b8f-2f0e4a1c9d01",
                "user_id": "5f1e2d3c4b5a697887766554",
                "dispatch_id": "dispatch-0001",
                "external_user_id": "user-001",
                "time": t,
                "timezone": "Europe/Berlin",
                "campaign_id": "camp-1",
                "campaign_name": "Welcome Series – Day 1",
                "message_variation_id": "mv-1",
                "email_address": "jane@example.com",
                "send_id": "send-1",
                "app_group_id": "ag-1",
            }),
        ),
        // An id Mixpanel would not take as is: hashed into $insert_id.
        record(
            EMAIL_SEND,
            json!({"id": "evt_123:abc", "external_user_id": "user-002", "time": t + 1, "email_address": "o'brien@example.com"}),
        ),
    ];
    write_type(root, EMAIL_SEND, HOUR, 1, &send);
    let custom = vec![record(
        CE,
        json!({
            "id": "7d3f1a2b-1111-4222-8333-444455556666",
            "user_id": "60aa11bb22cc33dd44ee55ff",
            "external_user_id": "user-003",
            "app_id": "app-ios",
            "time": t + 2,
            "timezone": "America/New_York",
            "platform": "ios",
            "os_version": "iOS 17.4.1",
            "device_model": "iPhone15,2",
            "device_id": "device-3",
            "name": "Viewed Product",
            "properties": "{\"plan\":\"pro\",\"item_count\":3,\"price\":9.99,\"tags\":[\"a\",\"b\"],\"nested\":{\"k\":null},\"trial\":false,\"big\":12345678901234567890123}",
            "ad_tracking_enabled": true,
        }),
    )];
    write_type(root, CE, HOUR, 1, &custom);
    let purchase = vec![record(
        PURCHASE,
        json!({
            "id": "8e4f2b3c-2222-4333-8444-555566667777",
            "user_id": "60aa11bb22cc33dd44ee5600",
            "external_user_id": "user-004",
            "time": t + 3,
            "platform": "android",
            "os_version": "Android 14",
            "device_model": "Pixel 8",
            "product_id": "sku-42",
            "price": 9.99,
            "currency": "EUR",
            "properties": "{\"coupon\":\"SAVE10\",\"qty\":2}",
        }),
    )];
    write_type(root, PURCHASE, HOUR, 1, &purchase);
    let location = vec![record(
        LOCATION,
        json!({
            "id": "9f5a3c4d-3333-4444-8555-666677778888",
            "user_id": "60aa11bb22cc33dd44ee5601",
            "external_user_id": "user-005",
            "app_id": "app-android",
            "time": t + 4,
            "latitude": 3.14,
            "longitude": -122.4194,
            "altitude": "NaN",
            "ll_accuracy": 0.1,
            "platform": "android",
            "os_version": "14",
            "device_model": "Pixel 8",
        }),
    )];
    write_type(root, LOCATION, HOUR, 1, &location);
    let click = vec![record(
        CARD_CLICK,
        json!({
            "id": "a06b4d5e-4444-4555-8666-777788889999",
            "user_id": "60aa11bb22cc33dd44ee5602",
            "external_user_id": "user-006",
            "content_card_id": "card-77",
            "time": t + 5,
            "app_id": "app-web",
            "campaign_id": "camp-9",
            "campaign_name": "Spring Sale — 20% off",
            "platform": "web",
        }),
    )];
    write_type(root, CARD_CLICK, HOUR, 1, &click);
}

#[test]
fn golden_ndjson_for_a_few_types() {
    let dir = tempdir();
    golden_tree(dir.path());
    let run = convert(&[s(dir.path()), "--threads", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let golden_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/convert/golden/few-types.ndjson");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::create_dir_all(golden_path.parent().unwrap()).unwrap();
        fs::write(&golden_path, &run.stdout).unwrap();
    }
    let golden = fs::read(&golden_path).expect("the golden file (UPDATE_GOLDEN=1 writes it)");
    assert!(
        run.stdout == golden,
        "output differs from {}:\n--- got\n{}\n--- golden\n{}",
        golden_path.display(),
        run.stdout_text(),
        String::from_utf8_lossy(&golden)
    );
    // A few facts the golden must hold, checked on their own.
    let text = run.stdout_text();
    assert!(text.contains("\"latitude\":3.14,"), "f32 printed shortest");
    assert!(text.contains("\"price\":9.99,"), "f32 printed shortest");
    assert!(!text.contains("altitude"), "NaN floats are omitted");
    let by_name = |n: &str| run.events.iter().find(|e| e["event"] == n).unwrap_or_else(|| panic!("{n}"));
    assert_eq!(props(by_name("Email Send"))["$insert_id"], "0b7b7c2e-6b1e-4c55-9b8f-2f0e4a1c9d01");
    let hashed = run.events.iter().find(|e| e["properties"]["distinct_id"] == "user-002").unwrap();
    assert_eq!(props(hashed)["$insert_id"], hashed_insert_id("evt_123:abc"));
    let custom = by_name("[Braze Custom Event] Viewed Product");
    assert_eq!(props(custom)["$device"], "iPhone15,2");
    assert_eq!(props(custom)["$os"], "iOS 17.4.1");
    assert!(text.contains("\"[Custom event property] big\":12345678901234567890123"), "big integers exactly");
    assert_eq!(props(by_name("Content Card Click"))["card_id"], "card-77");
    assert!(run.events.iter().all(|e| props(e)["$partner_id"] == "braze"));
}

#[test]
fn event_names_file_overrides_the_catalogue_and_fills_in_name() {
    let dir = tempdir();
    let root = dir.path().join("in");
    write_type(&root, CE, HOUR, 1, &[ce(1, json!("u1")), with(ce(2, json!("u2")), "name", json!("Zoë 😀"))]);
    write_type(&root, EMAIL_SEND, HOUR, 1, &[record(EMAIL_SEND, json!({"id": uuid(3), "external_user_id": "u3"}))]);
    write_type(&root, EMAIL_OPEN, HOUR, 1, &[record(EMAIL_OPEN, json!({"id": uuid(4), "external_user_id": "u4"}))]);
    write_at(
        &partner_path(&root, "p.avro"),
        &partner_schema(true),
        &[json!({"id": uuid(5), "external_user_id": "u5", "time": T0, "score": 1.0})],
    );
    let names = dir.path().join("names.json");
    fs::write(
        &names,
        json!({EMAIL_SEND: "Sent an email", CE: "Custom: {name} ({name})", "partner.custom.Other": "Other"})
            .to_string(),
    )
    .unwrap();

    let run = convert(&[s(&root), "--events", "*", "--event-names", s(&names)]);
    let got: Vec<(&str, &str)> = run
        .events
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), e["properties"]["distinct_id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("Custom: Viewed Product (Viewed Product)", "u1"),
            ("Custom: Zoë 😀 (Zoë 😀)", "u2"),
            ("Email Open", "u4"), // not in the map: the catalogue name
            ("Sent an email", "u3"),
            (PARTNER, "u5"), // unknown type, selected, not in the map: its Currents type
        ]
    );

    // Without the map: the catalogue.
    let run = convert(&[s(&root), "--events", "*"]);
    let catalogue_names: Vec<&str> = run.events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        catalogue_names,
        ["[Braze Custom Event] Viewed Product", "[Braze Custom Event] Zoë 😀", "Email Open", "Email Send", PARTNER]
    );

    // A file that is not a JSON object of strings is refused before any work.
    fs::write(&names, "[\"not a map\"]").unwrap();
    let out = c2m(&["convert", s(&root), "--event-names", s(&names)]);
    assert!(matches!(out.code, 1 | 2), "{}: {}", out.code, out.stderr);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("names.json"), "{}", out.stderr);
}

#[test]
fn drop_property_removes_properties_but_not_the_required_ones() {
    let dir = tempdir();
    let root = dir.path().join("in");
    let r = record(
        CE,
        json!({
            "id": uuid(1), "external_user_id": "u1", "device_model": "Pixel 8", "os_version": "14",
            "platform": "android", "properties": "{\"plan\":\"pro\",\"seats\":3}",
        }),
    );
    write_type(&root, CE, HOUR, 1, &[r]);
    let keys = |run: &Converted| -> Vec<String> { props(&run.events[0]).keys().cloned().collect() };

    let run = convert(&[s(&root)]);
    assert_eq!(
        keys(&run),
        [
            "time",
            "distinct_id",
            "$insert_id",
            "$partner_id",
            "user_id",
            "platform",
            "$os",
            "$device",
            "[Custom event property] plan",
            "[Custom event property] seats"
        ]
    );
    let run = convert(&[
        s(&root),
        "--drop-property",
        "$device",
        "--drop-property",
        "user_id",
        "--drop-property",
        "[Custom event property] plan",
        "--drop-property",
        "$partner_id",
        "--drop-property",
        "device_model", // an input name, not an output name: drops nothing
    ]);
    assert_eq!(keys(&run), ["time", "distinct_id", "$insert_id", "platform", "$os", "[Custom event property] seats"]);

    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    for required in ["distinct_id", "time", "$insert_id"] {
        let out = c2m(&["convert", s(&root), "--drop-property", required, "-o", s(&out_dir.join("x.ndjson"))]);
        assert_eq!(out.code, 2, "dropping {required} is a usage error: {}", out.stderr);
        assert!(out.stderr.contains(required), "{}", out.stderr);
        assert_finished_and_empty(&out, &out_dir);
    }
}

#[test]
fn token_is_added_to_every_event() {
    let dir = tempdir();
    write_type(dir.path(), CE, HOUR, 1, &[ce(1, json!("u1")), ce(2, json!("u2"))]);
    write_type(dir.path(), LOCATION, HOUR, 1, &[record(LOCATION, json!({"id": uuid(3), "external_user_id": "u3"}))]);
    let run = convert(&[s(dir.path()), "--token", "tok-123"]);
    assert_eq!(run.events.len(), 3);
    assert!(run.events.iter().all(|e| props(e)["token"] == "tok-123"), "{:?}", run.events);
    let run = convert(&[s(dir.path())]);
    assert!(run.events.iter().all(|e| props(e).get("token").is_none()), "no token unless given");
    let run = convert_env(&[s(dir.path())], &[("MIXPANEL_TOKEN", "env-tok")]);
    assert!(run.events.iter().all(|e| props(e)["token"] == "env-tok"), "MIXPANEL_TOKEN is --token");
    assert!(!run.stderr.contains("env-tok"), "the token is not printed");
}

#[test]
fn schema_evolution_reads_each_file_with_its_own_schema() {
    let dir = tempdir();
    let root = dir.path();
    let old: Vec<Value> = (0..2)
        .map(|i| {
            record(EMAIL_SEND, json!({"id": uuid(i), "external_user_id": format!("old{i}"), "dispatch_id": "d-1"}))
        })
        .collect();
    write_type(root, EMAIL_SEND, HOUR, 1, &old);
    // Newer schema: dispatch_id removed, email_address made nullable, time now a long,
    // locale_key (nullable) and send_attempt (required int) added at the end.
    let mut evolved = fixtures::schema_value(EMAIL_SEND).unwrap();
    {
        let fields = evolved["fields"].as_array_mut().unwrap();
        fields.retain(|f| f["name"] != "dispatch_id");
        for f in fields.iter_mut() {
            if f["name"] == "email_address" {
                f["type"] = json!(["null", "string"]);
                f["default"] = Value::Null;
            }
            if f["name"] == "time" {
                f["type"] = json!("long");
            }
        }
        fields.push(json!({"name": "locale_key", "type": ["null", "string"], "default": null}));
        fields.push(json!({"name": "send_attempt", "type": "int"}));
    }
    let new_records = vec![
        json!({"id": uuid(10), "user_id": "x", "external_user_id": "new0", "time": T0 + 10, "email_address": null, "locale_key": "de-de", "send_attempt": 2}),
        json!({"id": uuid(11), "user_id": "x", "external_user_id": "new1", "time": T0 + 11, "email_address": "b@example.com", "locale_key": null, "send_attempt": 1}),
    ];
    let new_path = fixtures::braze_path_with_schema(root, EMAIL_SEND, HOUR, fixtures::schema_id(EMAIL_SEND) + 1, 0, 2);
    write_at(&new_path, &evolved.to_string(), &new_records);

    let run = convert(&[s(root)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.report["files"], json!({"read": 2, "failed": 0, "skipped": 0}));
    assert_eq!(run.events.len(), 4);
    for e in &run.events {
        let p = props(e);
        let id = p["distinct_id"].as_str().unwrap();
        assert_eq!(e["event"], "Email Send");
        if id.starts_with("old") {
            assert_eq!(p["dispatch_id"], "d-1", "{e}");
            assert_eq!(p["email_address"], "jane@example.com", "{e}");
            assert!(p.get("locale_key").is_none() && p.get("send_attempt").is_none(), "{e}");
        } else {
            assert!(p.get("dispatch_id").is_none(), "{e}");
            assert!(p.get("send_attempt").is_some_and(Value::is_i64), "{e}");
        }
    }
    let find = |id: &str| run.events.iter().find(|e| e["properties"]["distinct_id"] == id).unwrap();
    assert!(props(find("new0")).get("email_address").is_none(), "a null in a newly nullable field is omitted");
    assert_eq!(props(find("new0"))["locale_key"], "de-de");
    assert_eq!(props(find("new0"))["send_attempt"], 2);
    assert_eq!(props(find("new0"))["time"], T0 + 10, "time as a long");
    assert_eq!(props(find("new1"))["email_address"], "b@example.com");
    assert!(props(find("new1")).get("locale_key").is_none());
}

#[test]
fn event_type_comes_from_the_innermost_event_type_folder_else_the_schema_name() {
    let dir = tempdir();
    let root = dir.path();
    let loose = root.join("loose");
    let rec = |t: &str, n: u64| record(t, json!({"id": uuid(n), "external_user_id": format!("u{n}")}));
    write_at(&loose.join("a.avro"), &schema(CE), &[rec(CE, 1)]);
    let mut gcs = fixtures::schema_value(PURCHASE).unwrap();
    gcs["namespace"] = json!("dataexport.GCS.inner.users.behaviors");
    write_at(&loose.join("b.avro"), &gcs.to_string(), &[rec(PURCHASE, 2)]);
    let mut bare = fixtures::schema_value(EMAIL_OPEN).unwrap();
    bare["namespace"] = json!("users.messages.email");
    write_at(&loose.join("c.avro"), &bare.to_string(), &[rec(EMAIL_OPEN, 3)]);
    write_at(
        &loose.join("d.avro"),
        &partner_schema(true),
        &[json!({"id": uuid(4), "external_user_id": "u4", "time": T0, "score": 0.0})],
    );
    // The folder says email.Open; the schema says email.Send: the folder wins.
    let open_folder = fixtures::braze_path(root, EMAIL_OPEN, HOUR, 0, 5);
    write_at(&open_folder, &schema(EMAIL_SEND), &[rec(EMAIL_SEND, 5)]);
    // Two event_type= segments: the innermost names the type.
    let nested = root
        .join("replays")
        .join(format!("event_type={EMAIL_SEND}"))
        .join("rerun")
        .join(format!("event_type={SESSION_START}"))
        .join(format!("date={HOUR}"))
        .join("x.avro");
    write_at(&nested, &schema(SESSION_START), &[rec(SESSION_START, 6)]);

    let run = convert(&[s(root)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let by_id: BTreeMap<&str, &str> = run
        .events
        .iter()
        .map(|e| (e["properties"]["distinct_id"].as_str().unwrap(), e["event"].as_str().unwrap()))
        .collect();
    assert_eq!(
        by_id,
        BTreeMap::from([
            ("u1", "[Braze Custom Event] Viewed Product"),
            ("u2", "Purchase"),
            ("u3", "Email Open"),
            ("u5", "Email Open"),
            ("u6", "Session Start"),
        ])
    );
    assert_eq!(run.report["files"]["skipped"], 1, "com.partner.events.Thing is not selected by default");
    assert!(run.stderr.contains("unselected type com.partner.events.Thing"), "{}", run.stderr);
    let types: Vec<&String> = run.report["by_event_type"].as_object().unwrap().keys().collect();
    assert_eq!(types, [CE, PURCHASE, SESSION_START, EMAIL_OPEN]);
    assert_eq!(run.report["by_event_type"][EMAIL_OPEN], json!({"read": 2, "emitted": 2}));

    let run = convert(&[s(root), "--events", "*"]);
    let thing = run.events.iter().find(|e| e["properties"]["distinct_id"] == "u4").unwrap();
    assert_eq!(thing["event"], "com.partner.events.Thing", "a name without the dataexport prefix is taken as is");
    assert_eq!(run.report["by_event_type"]["com.partner.events.Thing"], json!({"read": 1, "emitted": 1}));
}

#[test]
fn other_writers_maps_enums_records_and_bytes_become_json() {
    let dir = tempdir();
    let schema = json!({"type": "record", "name": "Thing", "namespace": "com.partner", "fields": [
        {"name": "id", "type": "string"},
        {"name": "external_user_id", "type": ["null", "string"], "default": null},
        {"name": "time", "type": "long"},
        {"name": "attrs", "type": {"type": "map", "values": "string"}},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["ACTIVE", "PAUSED"]}},
        {"name": "device", "type": {"type": "record", "name": "Device", "fields": [
            {"name": "model", "type": "string"}, {"name": "w", "type": "int"}]}},
        {"name": "payload", "type": "bytes"},
        {"name": "checksum", "type": {"type": "fixed", "name": "Two", "size": 2}},
        {"name": "created_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "extra", "type": ["null", "string", "long"], "default": null},
        {"name": "score", "type": "double"},
    ]})
    .to_string();
    let rec = json!({
        "id": uuid(1), "external_user_id": "u1", "time": T0,
        "attrs": {"plan": "pro", "région": "Île"}, "status": "PAUSED",
        "device": {"model": "Pixel 8", "w": 1080}, "payload": "\u{0}\u{7f}\u{80}\u{ff}A",
        "checksum": "\u{d4}\u{1d}", "created_at": 1_792_065_600_123i64, "tags": ["a", "ü"], "extra": 42, "score": 0.1,
    });
    write_at(&partner_path(dir.path(), "t.avro"), &schema, std::slice::from_ref(&rec));
    let run = convert(&[s(dir.path()), "--events", "*"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let p = props(&run.events[0]);
    assert_eq!(p["attrs"], rec["attrs"]);
    assert_eq!(p["status"], "PAUSED");
    assert_eq!(p["device"], rec["device"]);
    assert_eq!(p["payload"], rec["payload"], "bytes: one code point per byte");
    assert_eq!(p["checksum"], rec["checksum"]);
    assert_eq!(p["created_at"], rec["created_at"], "logical types: the raw value");
    assert_eq!(p["tags"], rec["tags"]);
    assert_eq!(p["extra"], 42);
    assert_eq!(p["score"], rec["score"]);
}

#[test]
fn unicode_control_characters_and_long_strings_survive_exactly() {
    let dir = tempdir();
    let texts = [
        "Zoë 😀 测试",
        "שלום עולם مرحبا",
        "e\u{301}\u{301} n\u{303} Å",
        "tab\tnl\ncr\rnul\u{0}bell\u{7}esc\u{1b}del\u{7f}",
        "say \"hi\" \\ C:\\path\\ '",
        "\u{2028}\u{2029}\u{feff}x\u{85}\u{a0}",
        "﷽ 𝄞 \u{10ffff}",
    ];
    let long_ascii = "ab".repeat(150_000);
    let long_emoji = "😀".repeat(50_000);
    let mut records = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let mut properties = Map::new();
        properties.insert("text".into(), json!(t));
        properties.insert(t.to_string(), json!([t, {"k": t}]));
        properties.insert("n".into(), json!(i));
        let properties = Value::Object(properties).to_string();
        records.push(record(
            CE,
            json!({
                "id": uuid(i as u64), "external_user_id": format!("{t}-{i}"), "name": t, "timezone": t,
                "device_model": t, "properties": properties,
            }),
        ));
    }
    records.push(record(
        CE,
        json!({
            "id": uuid(100), "external_user_id": long_emoji, "name": "long", "device_id": long_ascii,
            "properties": json!({"long": long_emoji}).to_string(),
        }),
    ));
    write_type(dir.path(), CE, HOUR, 1, &records);
    let run = convert(&[s(dir.path())]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.iter().filter(|b| **b == b'\n').count(),
        records.len(),
        "one line per event, no raw newlines"
    );
    assert_eq!(run.events.len(), records.len());
    for (e, r) in run.events.iter().zip(&records) {
        let p = props(e);
        assert_eq!(e["event"], format!("[Braze Custom Event] {}", r["name"].as_str().unwrap()));
        assert_eq!(p["distinct_id"], r["external_user_id"]);
        for (field, prop) in [("timezone", "timezone"), ("device_model", "$device"), ("device_id", "device_id")] {
            if !r[field].is_null() {
                assert_eq!(p[prop], r[field], "{prop}");
            }
        }
        let given: Map<String, Value> = serde_json::from_str(r["properties"].as_str().unwrap()).unwrap();
        for (k, v) in &given {
            assert_eq!(&p[&format!("[Custom event property] {k}")], v, "{k:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs and exit codes
// ---------------------------------------------------------------------------------------------

#[test]
fn inputs_given_twice_are_read_once() {
    let dir = tempdir();
    let a = write_type(dir.path(), CE, HOUR, 1, &[ce(1, json!("u1")), ce(2, json!("u2"))]);
    write_type(
        dir.path(),
        EMAIL_SEND,
        HOUR,
        1,
        &[record(EMAIL_SEND, json!({"id": uuid(3), "external_user_id": "u3"}))],
    );
    let glob = format!("{}/*/event_type=*/date=*/*/*/*.avro", s(dir.path()));
    let run = convert(&[s(dir.path()), s(&a), &glob, s(&a)]);
    assert_eq!(run.report["files"], json!({"read": 2, "failed": 0, "skipped": 0}));
    assert_eq!(run.n("/events/read"), 3);
    let ids: Vec<&str> = run.events.iter().map(|e| e["properties"]["distinct_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["u1", "u2", "u3"], "sorted by path, each once");
    // A glob alone finds the same files.
    let only_glob = convert(&[&glob]);
    assert_eq!(only_glob.stdout, run.stdout);
}

#[test]
fn no_input_files_is_a_warning_and_exit_0() {
    let dir = tempdir();
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let nothing = format!("{}/*.avro", s(dir.path()));
    for args in [vec![], vec![s(&empty)], vec![nothing.as_str()]] {
        let run = convert(&args);
        assert_eq!(run.code, 0, "{args:?}");
        assert!(run.stdout.is_empty());
        assert!(run.stderr.contains("warning"), "{args:?}: {}", run.stderr);
        assert_eq!(run.report["files"], json!({"read": 0, "failed": 0, "skipped": 0}));
        assert_eq!(run.report["events"], json!({"read": 0, "emitted": 0, "skipped": {}, "rejected": {}}));
        assert_eq!(run.report["by_event_type"], json!({}));
    }
}

#[test]
fn usage_errors_exit_2_before_any_work() {
    let dir = tempdir();
    let input = dir.path().join("in");
    write_type(&input, CE, HOUR, 1, &[ce(1, json!("u1"))]);
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let o = out.join("events.ndjson");
    let cases: Vec<Vec<&str>> = vec![
        vec!["--since", "2026-13-01"],
        vec!["--since", "yesterday"],
        vec!["--until", "2026-10-15T25:00:00Z"],
        vec!["--since", "2026-10-16", "--until", "2026-10-15"],
        vec!["--events", "users.[messages"],
        vec!["--exclude-events", "["],
        vec!["--threads", "0"],
        vec!["--no-such-flag"],
    ];
    for extra in cases {
        let mut args = vec!["convert", s(&input), "-o", s(&o)];
        args.extend(&extra);
        let run = c2m(&args);
        assert_eq!(run.code, 2, "{extra:?} is a usage error: {}", run.stderr);
        assert!(!run.stderr.is_empty());
        assert_finished_and_empty(&run, &out);
    }
}

#[test]
fn an_invalid_input_glob_is_a_usage_error() {
    let dir = tempdir();
    let pattern = format!("{}/[x.avro", s(dir.path()));
    let run = c2m(&["convert", &pattern]);
    assert!(run.stderr.contains("[x.avro"), "{}", run.stderr);
    assert_eq!(run.code, 2, "an invalid glob pattern is a usage error (SPEC §6: 2 usage error): {}", run.stderr);
}

#[test]
fn exit_codes_clean_run_0_rejects_3_failed_file_3() {
    let dir = tempdir();
    let clean = dir.path().join("clean");
    write_type(&clean, CE, HOUR, 1, &[ce(1, json!("u1")), ce(2, Value::Null)]);
    assert_eq!(convert(&[s(&clean)]).code, 0, "skips alone exit 0");
    let rejected = dir.path().join("rejected");
    write_type(&rejected, CE, HOUR, 1, &[ce(1, json!("u1")), ce(2, json!("undefined"))]);
    let run = convert(&[s(&rejected)]);
    assert_eq!(run.code, 3);
    assert_eq!(run.report["events"]["rejected"], json!({"placeholder_distinct_id": 1}));
    let failed = dir.path().join("failed");
    write_type(&failed, CE, HOUR, 1, &[ce(1, json!("u1"))]);
    fixtures::write_bytes_file(&failed.join("empty.avro"), &broken::empty()).unwrap();
    let run = convert(&[s(&failed)]);
    assert_eq!(run.code, 3);
    assert_eq!(run.report["files"], json!({"read": 1, "failed": 1, "skipped": 0}));
    assert!(run.rejects.is_empty());
}
