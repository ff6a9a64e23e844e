//! Integration tests of `currents2mixpanel inspect` (README "Inspecting an export"): per event
//! type the files, events, UTC time range, codecs, share without `external_user_id`, Mixpanel
//! names, default selection and the union of fields with their Avro types (fields in only some
//! files and changed types marked); `--fast`, `--schema TYPE`, broken and missing inputs.
//!
//! Every test writes its own files in a temp dir, with values chosen so that every figure can be
//! asserted exactly.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use c2m_testkit::fixtures::{
    self, Codec, Rng, braze_path, braze_path_with_schema, broken, gen_record, schema_id, schema_value,
};
use serde_json::{Value, json};
use tempfile::TempDir;

use common::c2m;

const EMAIL_SEND: &str = "users.messages.email.Send";
const CUSTOM_EVENT: &str = "users.behaviors.CustomEvent";
const BUCKET: &str = "users.RandomBucketNumberUpdate";

/// A record of `event_type` at `time` with this `external_user_id` (JSON null for none).
fn record(event_type: &str, rng: &mut Rng, time: i64, user: Value) -> Value {
    let mut r = gen_record(event_type, rng, time);
    r["external_user_id"] = user;
    r
}

fn write(path: &Path, schema: &Value, codec: Codec, records: &[Value]) {
    fixtures::write_json_file(path, &schema.to_string(), codec, records).expect("write a fixture file");
}

/// The email Send schema after a change: `email_address` became nullable and a field was added.
fn changed_email_schema() -> Value {
    let mut schema = schema_value(EMAIL_SEND).expect("known type");
    let fields = schema["fields"].as_array_mut().unwrap();
    let email = fields.iter_mut().find(|f| f["name"] == "email_address").expect("email_address field");
    assert_eq!(email["type"], "string", "email_address starts out required");
    email["type"] = json!(["null", "string"]);
    email["default"] = Value::Null;
    fields.push(json!({"name": "ip_warmup_stage", "type": ["null", "string"], "default": null}));
    schema
}

/// The export every test inspects:
/// - email Send: file A (null codec, original schema; 3 events, users "u-a", null, "") and file
///   B (deflate, changed schema; 2 events, users "u-b", null), times 2026-10-02T14:06:40Z ..
///   2026-10-04T05:00:00Z (B holds both ends, one a late event);
/// - CustomEvent: one snappy file, 4 events named search, added_to_cart, search, "Zoë 😀";
/// - RandomBucketNumberUpdate (off by default): one zstandard file outside the Braze layout
///   (its type comes from the schema name), 2 events without user.
struct Export {
    dir: TempDir,
    email_a: PathBuf,
    email_b: PathBuf,
}

impl Export {
    fn new() -> Export {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("currents");
        let mut rng = Rng::new(2026);

        let email = schema_value(EMAIL_SEND).unwrap();
        let email_a = braze_path(&root, EMAIL_SEND, "2026-10-03-04", 0, 100);
        let a = [
            record(EMAIL_SEND, &mut rng, 1_791_000_000, json!("u-a")),
            record(EMAIL_SEND, &mut rng, 1_791_000_500, Value::Null),
            record(EMAIL_SEND, &mut rng, 1_791_001_000, json!("")),
        ];
        write(&email_a, &email, Codec::Null, &a);

        let email_b = braze_path_with_schema(&root, EMAIL_SEND, "2026-10-04-05", schema_id(EMAIL_SEND) + 1, 1, 200);
        let mut b = [
            record(EMAIL_SEND, &mut rng, 1_791_090_000, json!("u-b")),
            record(EMAIL_SEND, &mut rng, 1_790_950_000, Value::Null),
        ];
        b[0]["email_address"] = Value::Null;
        b[0]["ip_warmup_stage"] = json!("stage-1");
        write(&email_b, &changed_email_schema(), Codec::Deflate, &b);

        let custom: Vec<Value> = ["search", "added_to_cart", "search", "Zoë 😀"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut r = record(CUSTOM_EVENT, &mut rng, 1_791_500_000 + 100 * i as i64, json!(format!("u-c{i}")));
                r["name"] = json!(name);
                r
            })
            .collect();
        let custom_path = braze_path(&root, CUSTOM_EVENT, "2026-10-08-22", 0, 300);
        write(&custom_path, &schema_value(CUSTOM_EVENT).unwrap(), Codec::Snappy, &custom);

        let bucket: Vec<Value> = (0..2).map(|i| record(BUCKET, &mut rng, 1_791_600_000 + i, Value::Null)).collect();
        write(&root.join("loose").join("bucket.avro"), &schema_value(BUCKET).unwrap(), Codec::Zstandard, &bucket);

        Export { dir, email_a, email_b }
    }

    fn root(&self) -> String {
        self.dir.path().join("currents").to_str().expect("UTF-8 temp path").to_string()
    }
}

/// `inspect ARGS --json`: exit code and the parsed JSON.
fn inspect_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["inspect", "--json"];
    all.extend_from_slice(args);
    let out = c2m(&all);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("inspect --json prints JSON ({e}); exit {}: {}", out.code, out.stderr));
    (out.code, json)
}

/// The entry of `event_type` in `inspect --json` output.
fn type_entry<'a>(json: &'a Value, event_type: &str) -> &'a Value {
    json["event_types"]
        .as_array()
        .expect("event_types array")
        .iter()
        .find(|t| t["event_type"] == event_type)
        .unwrap_or_else(|| panic!("no entry for {event_type}: {json:#}"))
}

/// `(name, types, in_files, in_all_files)` of every field of a type entry, in order.
fn fields(entry: &Value) -> Vec<(String, Vec<String>, u64, bool)> {
    entry["fields"]
        .as_array()
        .expect("fields array")
        .iter()
        .map(|f| {
            let types = f["types"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
            (f["name"].as_str().unwrap().to_string(), types, f["in_files"].as_u64().unwrap(), f["in_all_files"] == true)
        })
        .collect()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array().expect("array").iter().map(|s| s.as_str().expect("string").to_string()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The field names of a Braze schema, in order.
fn schema_fields(event_type: &str) -> Vec<String> {
    schema_value(event_type).unwrap()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn json_reports_exact_facts_per_event_type() {
    let export = Export::new();
    let (code, json) = inspect_json(&[&export.root()]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["files_failed"], json!([]));
    let types: Vec<&str> =
        json["event_types"].as_array().unwrap().iter().map(|t| t["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, [BUCKET, CUSTOM_EVENT, EMAIL_SEND], "one entry per type, sorted");

    let email = type_entry(&json, EMAIL_SEND);
    assert_eq!(email["files"], 2);
    assert_eq!(email["events"], 5);
    assert_eq!(email["time_min"], "2026-10-02T14:06:40Z", "the late event of file B");
    assert_eq!(email["time_max"], "2026-10-04T05:00:00Z");
    assert_eq!(email["codecs"], json!({"deflate": 1, "null": 1}));
    assert_eq!(
        email["without_external_user_id_percent"].as_f64(),
        Some(60.0),
        "3 of 5 without a user (null, empty, null)"
    );
    assert_eq!(strings(&email["mixpanel_names"]), set(&["Email Send"]));
    assert_eq!(email["selected_by_default"], true);
    assert_eq!(email["schema_changes"], true);
    // The union of the fields: the original ones in schema order, then the added one.
    let email_fields = fields(email);
    let mut names = schema_fields(EMAIL_SEND);
    names.push("ip_warmup_stage".into());
    assert_eq!(email_fields.iter().map(|f| f.0.clone()).collect::<Vec<_>>(), names);
    for (name, types, in_files, in_all) in &email_fields {
        match name.as_str() {
            "email_address" => {
                assert_eq!(types, &["string", "string?"], "the type changed: both are listed");
                assert_eq!((*in_files, *in_all), (2, true));
            }
            "ip_warmup_stage" => {
                assert_eq!(types, &["string?"]);
                assert_eq!((*in_files, *in_all), (1, false), "in one file of two");
            }
            _ => {
                assert_eq!(types.len(), 1, "{name}: one type");
                assert_eq!((*in_files, *in_all), (2, true), "{name}: in both files");
            }
        }
    }
    let by_name = |n: &str| email_fields.iter().find(|f| f.0 == n).unwrap().1.clone();
    assert_eq!(by_name("time"), ["int"]);
    assert_eq!(by_name("id"), ["string"]);
    assert_eq!(by_name("external_user_id"), ["string?"]);

    let custom = type_entry(&json, CUSTOM_EVENT);
    assert_eq!(custom["files"], 1);
    assert_eq!(custom["events"], 4);
    assert_eq!(custom["time_min"], "2026-10-08T22:53:20Z");
    assert_eq!(custom["time_max"], "2026-10-08T22:58:20Z");
    assert_eq!(custom["codecs"], json!({"snappy": 1}));
    assert_eq!(custom["without_external_user_id_percent"].as_f64(), Some(0.0));
    assert_eq!(
        strings(&custom["mixpanel_names"]),
        set(&["[Braze Custom Event] search", "[Braze Custom Event] added_to_cart", "[Braze Custom Event] Zoë 😀"]),
        "one Mixpanel name per custom event name"
    );
    assert_eq!(custom["selected_by_default"], true);
    assert_eq!(custom["schema_changes"], false);
    let custom_fields = fields(custom);
    assert_eq!(custom_fields.iter().map(|f| f.0.clone()).collect::<Vec<_>>(), schema_fields(CUSTOM_EVENT));
    assert!(custom_fields.iter().all(|f| f.2 == 1 && f.3), "every field in the one file");
    assert_eq!(custom_fields.iter().find(|f| f.0 == "ad_tracking_enabled").unwrap().1, ["boolean?"]);

    let bucket = type_entry(&json, BUCKET);
    assert_eq!(bucket["files"], 1);
    assert_eq!(bucket["events"], 2);
    assert_eq!(bucket["time_min"], "2026-10-10T02:40:00Z");
    assert_eq!(bucket["time_max"], "2026-10-10T02:40:01Z");
    assert_eq!(bucket["codecs"], json!({"zstandard": 1}));
    assert_eq!(bucket["without_external_user_id_percent"].as_f64(), Some(100.0));
    assert_eq!(strings(&bucket["mixpanel_names"]), set(&[BUCKET]), "off-by-default types keep their type as name");
    assert_eq!(bucket["selected_by_default"], false);
    assert_eq!(bucket["schema_changes"], false);
    let bucket_fields = fields(bucket);
    assert_eq!(bucket_fields.iter().map(|f| f.0.clone()).collect::<Vec<_>>(), schema_fields(BUCKET));
    assert_eq!(bucket_fields.iter().find(|f| f.0 == "prev_random_bucket_number").unwrap().1, ["int?"]);
}

#[test]
fn the_table_shows_the_same_facts() {
    let export = Export::new();
    let out = c2m(&["inspect", &export.root()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = out.stdout_text();
    let block = |event_type: &str| -> Vec<String> {
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.iter().position(|l| l.starts_with(event_type)).unwrap_or_else(|| panic!("{text}"));
        lines[start..].iter().take(3).map(|l| l.to_string()).collect()
    };

    let email = block(EMAIL_SEND);
    assert!(email[0].contains("Email Send") && email[0].contains("converted by default"), "{}", email[0]);
    for part in ["2 files", "5 events", "deflate 1", "null 1", "2026-10-02T14:06:40Z", "2026-10-04T05:00:00Z", "60%"] {
        assert!(email[1].contains(part), "email Send summary has {part:?}: {}", email[1]);
    }
    let field = |line: &str, name: &str| -> String {
        let rest = line.split_once("fields: ").unwrap_or_else(|| panic!("a fields line: {line}")).1;
        rest.split(", ")
            .find(|f| f.starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("field {name} in {line}"))
            .to_string()
    };
    assert_eq!(field(&email[2], "id"), "id: string", "unchanged fields carry no mark");
    assert_eq!(field(&email[2], "time"), "time: int");
    let changed = field(&email[2], "email_address");
    assert!(changed.contains("string?") && changed.contains("changed"), "a changed type is marked: {changed}");
    let added = field(&email[2], "ip_warmup_stage");
    assert!(added.contains("string?") && added.contains("1 of 2"), "a field in some files is marked: {added}");

    let custom = block(CUSTOM_EVENT);
    for name in ["[Braze Custom Event] search", "[Braze Custom Event] added_to_cart", "[Braze Custom Event] Zoë 😀"]
    {
        assert!(custom[0].contains(name), "{name} in {}", custom[0]);
    }
    for part in ["1 files", "4 events", "snappy 1", "2026-10-08T22:53:20Z", "2026-10-08T22:58:20Z", " 0%"] {
        assert!(custom[1].contains(part), "CustomEvent summary has {part:?}: {}", custom[1]);
    }
    assert!(!custom[2].contains('['), "no schema change in CustomEvent: {}", custom[2]);

    let bucket = block(BUCKET);
    assert!(bucket[0].contains("not converted unless selected"), "{}", bucket[0]);
    for part in ["1 files", "2 events", "zstandard 1", "2026-10-10T02:40:00Z", "100%"] {
        assert!(bucket[1].contains(part), "bucket summary has {part:?}: {}", bucket[1]);
    }
}

#[test]
fn fast_gives_the_same_counts_without_times() {
    let export = Export::new();
    let (_, full) = inspect_json(&[&export.root()]);
    let (code, fast) = inspect_json(&["--fast", &export.root()]);
    assert_eq!(code, 0, "{fast:#}");
    for event_type in [EMAIL_SEND, CUSTOM_EVENT, BUCKET] {
        let (f, s) = (type_entry(&full, event_type), type_entry(&fast, event_type));
        for key in ["files", "events", "codecs", "fields", "schema_changes", "selected_by_default"] {
            assert_eq!(s[key], f[key], "{event_type} {key}: --fast agrees");
        }
        assert!(s["time_min"].is_null() && s["time_max"].is_null(), "no time range with --fast: {s:#}");
    }
    assert_eq!(type_entry(&fast, EMAIL_SEND)["events"], 5);

    let table = c2m(&["inspect", "--fast", &export.root()]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    let text = table.stdout_text();
    assert!(text.contains("5 events") && text.contains("4 events") && text.contains("2 events"), "{text}");
    assert!(!text.contains("2026-10-"), "no times with --fast: {text}");
}

#[test]
fn schema_prints_the_writer_schema_of_a_type() {
    let export = Export::new();
    for event_type in [EMAIL_SEND, CUSTOM_EVENT, BUCKET] {
        let out = c2m(&["inspect", &export.root(), "--schema", event_type]);
        assert_eq!(out.code, 0, "{event_type}: {}", out.stderr);
        let printed: Value = serde_json::from_slice(&out.stdout).expect("a JSON schema");
        let want: Value = serde_json::from_str(&fixtures::schema_json(event_type).unwrap()).unwrap();
        assert_eq!(printed, want, "{event_type}: the writer schema of its first file");
    }
    // Only file B carries the changed schema: asked for that file, it is the one printed.
    let out = c2m(&["inspect", export.email_b.to_str().unwrap(), "--schema", EMAIL_SEND]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), changed_email_schema());
    let out = c2m(&["inspect", export.email_a.to_str().unwrap(), "--schema", EMAIL_SEND]);
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), schema_value(EMAIL_SEND).unwrap());

    let missing = c2m(&["inspect", &export.root(), "--schema", "users.messages.sms.Send"]);
    assert_ne!(missing.code, 0, "a type with no file is an error");
    assert!(missing.stderr.contains("users.messages.sms.Send"), "{}", missing.stderr);
    assert!(missing.stdout.is_empty());
}

/// One good email Send file (3 events), a text file named `.avro` in the same folder, and a
/// CustomEvent file cut in its second block (100 records before the break).
fn export_with_broken_files() -> (TempDir, String, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("currents");
    let mut rng = Rng::new(7);
    let good = braze_path(&root, EMAIL_SEND, "2026-10-03-04", 0, 100);
    let records: Vec<Value> =
        (0..3).map(|i| record(EMAIL_SEND, &mut rng, 1_791_000_000 + i, json!(format!("u{i}")))).collect();
    write(&good, &schema_value(EMAIL_SEND).unwrap(), Codec::Null, &records);
    let not_avro = braze_path(&root, EMAIL_SEND, "2026-10-03-04", 0, 900);
    fixtures::write_bytes_file(&not_avro, &broken::not_avro()).unwrap();
    let truncated = braze_path(&root, CUSTOM_EVENT, "2026-10-08-22", 0, 300);
    fixtures::write_bytes_file(&truncated, &broken::truncated_block()).unwrap();
    let root = root.to_str().unwrap().to_string();
    (dir, root, not_avro, truncated)
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_str().unwrap().to_string()
}

#[test]
fn a_corrupt_file_is_listed_as_failed_and_inspect_exits_3() {
    let (_dir, root, not_avro, truncated) = export_with_broken_files();
    let (code, json) = inspect_json(&[&root]);
    assert_eq!(code, 3, "{json:#}");
    let failed = json["files_failed"].as_array().expect("files_failed");
    assert_eq!(failed.len(), 2, "{json:#}");
    let named = |path: &Path| {
        failed.iter().find(|f| f["file"].as_str().unwrap().ends_with(&file_name(path))).cloned().unwrap_or_else(|| {
            panic!("{} is listed: {json:#}", path.display());
        })
    };
    for path in [&not_avro, &truncated] {
        let entry = named(path);
        assert!(entry["error"].as_str().is_some_and(|e| !e.is_empty()), "with a reason: {entry}");
        assert!(entry["file"].as_str().unwrap().contains("event_type="), "the full path: {entry}");
    }
    assert!(named(&not_avro)["error"].as_str().unwrap().contains("Avro"), "{json:#}");
    let email = type_entry(&json, EMAIL_SEND);
    assert_eq!(email["events"], 3, "the good file is inspected as usual");
    assert_eq!(email["codecs"], json!({"null": 1}));
    assert_eq!(email["time_min"], "2026-10-03T04:00:00Z");
    assert_eq!(email["time_max"], "2026-10-03T04:00:02Z");
    let custom = type_entry(&json, CUSTOM_EVENT);
    assert_eq!(custom["events"], 100, "the records before the break are counted");

    let table = c2m(&["inspect", &root]);
    assert_eq!(table.code, 3, "{}", table.stderr);
    let text = table.stdout_text();
    assert!(text.contains("2 file(s) could not be read"), "{text}");
    assert!(text.contains(&file_name(&not_avro)) && text.contains(&file_name(&truncated)), "{text}");
    assert!(text.contains("Email Send"), "the good types are still shown: {text}");

    let fast = c2m(&["inspect", "--fast", &root]);
    assert_eq!(fast.code, 3, "--fast: {}", fast.stderr);
    assert!(fast.stdout_text().contains(&file_name(&not_avro)));
}

/// A file whose header cannot be read says nothing about the schema: it must not make every
/// field look as if it were "in only some files" (a schema change that did not happen).
#[test]
fn an_unreadable_file_does_not_look_like_a_schema_change() {
    let (_dir, root, _, _) = export_with_broken_files();
    let (code, json) = inspect_json(&[&root]);
    assert_eq!(code, 3);
    let email = type_entry(&json, EMAIL_SEND);
    let partial: Vec<String> = fields(email).into_iter().filter(|f| !f.3).map(|f| f.0).collect();
    assert!(partial.is_empty(), "fields marked as in only some files: {partial:?}\n{email:#}");
    assert_eq!(email["schema_changes"], false, "{email:#}");
    let table = c2m(&["inspect", &root]).stdout_text();
    let fields_line = table.lines().find(|l| l.contains("fields: id:")).expect("a fields line");
    assert!(!fields_line.contains(" of "), "no field marked as partial: {fields_line}");
}

#[test]
fn a_missing_input_is_an_error_before_any_work() {
    let export = Export::new();
    let missing = export.dir.path().join("no-such-folder");
    let missing = missing.to_str().unwrap();
    for args in [vec!["inspect", missing], vec!["inspect", &export.root(), missing, "--json"]] {
        let out = c2m(&args);
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("no-such-folder"), "the message names the path: {}", out.stderr);
        assert!(out.stdout.is_empty(), "nothing inspected: {}", out.stdout_text());
    }
    let out = c2m(&["inspect", missing, "--schema", EMAIL_SEND]);
    assert_eq!(out.code, 1, "{}", out.stderr);
}

#[test]
fn an_empty_folder_has_nothing_to_show() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let (code, json) = inspect_json(&[root]);
    assert_eq!(code, 0);
    assert_eq!(json, json!({"event_types": [], "files_failed": []}));
    let out = c2m(&["inspect", root]);
    assert_eq!(out.code, 0);
    assert!(out.stdout_text().contains("no Currents files found"), "{}", out.stdout_text());
}

#[test]
fn long_times_and_types_without_external_user_id_are_inspected_too() {
    // agentconsole.ToolInvocation has `time` as an Avro long (others have int) and no
    // external_user_id field at all.
    const TOOL: &str = "agentconsole.ToolInvocation";
    let schema = schema_value(TOOL).expect("known type");
    let time = schema["fields"].as_array().unwrap().iter().find(|f| f["name"] == "time").unwrap().clone();
    assert_eq!(time["type"], "long", "the fixture has a long time");
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(3);
    let records: Vec<Value> =
        [1_791_700_000, 1_791_690_000, 1_791_710_000].iter().map(|t| gen_record(TOOL, &mut rng, *t)).collect();
    write(&braze_path(dir.path(), TOOL, "2026-10-11-06", 0, 1), &schema, Codec::Xz, &records);
    let (code, json) = inspect_json(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{json:#}");
    let entry = type_entry(&json, TOOL);
    assert_eq!(entry["events"], 3);
    assert_eq!(entry["time_min"], "2026-10-11T03:40:00Z");
    assert_eq!(entry["time_max"], "2026-10-11T09:13:20Z");
    assert_eq!(
        entry["without_external_user_id_percent"].as_f64(),
        Some(100.0),
        "a type without the field has no user for any event"
    );
    assert_eq!(entry["codecs"], json!({"xz": 1}));
    assert_eq!(entry["selected_by_default"], false);
    assert_eq!(fields(entry).iter().find(|f| f.0 == "time").unwrap().1, ["long"]);
}
