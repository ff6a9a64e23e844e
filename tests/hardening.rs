//! Hostile and broken input, and unsafe outputs: whatever arrives, the tool keeps working,
//! loses nothing silently, explains itself, and never panics.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Cursor};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use c2m_testkit::fixtures::{self, Codec, Rng, broken};
use currents2mixpanel::avro::{self, AvroFile};
use currents2mixpanel::transform::{CUSTOM_EVENT, FilePlan, TransformOptions, transform};
use serde_json::{Value, json};

use common::{assert_invariants, c2m, read_json, read_ndjson};

const NOW: i64 = 1_800_000_000;
const T: i64 = 1_792_065_600;

fn custom_event_file(dir: &Path, name: &str, records: &[Value]) -> PathBuf {
    let path = dir.join(format!("event_type={CUSTOM_EVENT}")).join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fixtures::write_json_file(&path, &fixtures::schema_json(CUSTOM_EVENT).unwrap(), Codec::Null, records).unwrap();
    path
}

fn custom_event(id: &str, properties: &str) -> Value {
    json!({"id": id, "user_id": "u", "external_user_id": "user-1", "time": T, "name": "e", "properties": properties})
}

#[test]
fn every_broken_file_fails_alone_with_its_path_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = broken::write_corpus(&dir.path().join("broken")).unwrap();
    custom_event_file(dir.path(), "good.avro", &[custom_event("good-1", "{}")]);
    let report = dir.path().join("report.json");
    let out = c2m(&["convert", dir.path().to_str().unwrap(), "--report", report.to_str().unwrap(), "-o", "-"]);

    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let report = read_json(&report);
    assert_invariants(&report);
    // Junk after the last block fails the file too: it cannot be told apart from a corrupt block.
    let failing: Vec<_> = corpus.iter().filter(|(_, b)| b.name != "valid").collect();
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(report["files"]["failed"], failing.len() as u64, "{}", out.stderr);
    for (path, file) in &failing {
        let line = out.stderr.lines().find(|l| l.contains(path.to_str().unwrap()));
        let line =
            line.unwrap_or_else(|| panic!("{} ({}) is not named on stderr:\n{}", file.name, file.about, out.stderr));
        assert!(line.len() > path.to_str().unwrap().len() + 12, "a reason follows the path: {line}");
    }
    // The good file and every record before each break were converted.
    let events = out.stdout_ndjson();
    assert!(events.iter().any(|e| e["properties"]["$insert_id"] == "good-1"));
    let intact: u64 = corpus.iter().map(|(_, b)| b.intact_records).sum();
    assert!(report["events"]["read"].as_u64().unwrap() > intact, "records before the breaks count");
}

#[test]
fn hostile_values_are_converted_or_rejected_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let ten_mb = "x".repeat(10 * 1024 * 1024);
    let records = [
        custom_event("deep", &deep),
        json!({"id": "ten-mb", "user_id": "u", "external_user_id": "user-1", "time": T, "name": "e",
               "properties": "{}", "device_model": ten_mb}),
        custom_event("fine", "{\"ok\":1}"),
    ];
    custom_event_file(dir.path(), "hostile.avro", &records);
    let rejects = dir.path().join("rejects.ndjson");
    let out = c2m(&["convert", dir.path().to_str().unwrap(), "--rejects", rejects.to_str().unwrap()]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let rejected: Vec<(String, String)> = read_ndjson(&rejects)
        .iter()
        .map(|r| (r["record"]["id"].as_str().unwrap().to_string(), r["reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        rejected,
        [("deep".to_string(), "invalid_properties_json".to_string()), ("ten-mb".into(), "event_too_large".into())]
    );
    let events = out.stdout_ndjson();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["properties"]["[Custom event property] ok"], 1);
}

#[test]
fn invalid_utf8_in_a_string_fails_the_file_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let schema = r#"{"type":"record","name":"Thing","namespace":"dataexport.S3.inner.partner","fields":[
        {"name":"id","type":"string"},{"name":"external_user_id","type":"string"},{"name":"time","type":"long"}]}"#;
    let mut datum = Vec::new();
    fixtures::write_bytes(&mut datum, b"ok-1");
    fixtures::write_bytes(&mut datum, b"user");
    fixtures::write_long(&mut datum, T);
    fixtures::write_bytes(&mut datum, b"bad-1");
    fixtures::write_bytes(&mut datum, b"us\xff\xfeer");
    fixtures::write_long(&mut datum, T);
    let mut bytes = Vec::new();
    fixtures::write_container(&mut bytes, schema, None, &[(2, datum)], b"0123456789abcdef").unwrap();
    let path = dir.path().join("utf8.avro");
    fs::write(&path, bytes).unwrap();
    let out = c2m(&["convert", path.to_str().unwrap(), "--events", "partner.*"]);
    assert_eq!(out.code, 3);
    assert!(out.stderr.contains("utf8.avro") && out.stderr.to_lowercase().contains("utf"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"));
}

/// A tiny file whose records (or array items) take no bytes could claim billions of them: such
/// schemas fail the file at once instead of looping.
#[test]
fn zero_byte_records_cannot_claim_billions() {
    let dir = tempfile::tempdir().unwrap();
    let schemas = [
        r#"{"type":"record","name":"Z","fields":[{"name":"time","type":"null"}]}"#,
        r#"{"type":"record","name":"A","fields":[{"name":"id","type":"string"},{"name":"nothing","type":{"type":"array","items":"null"}}]}"#,
    ];
    for (i, schema) in schemas.iter().enumerate() {
        let mut data = Vec::new();
        if i == 1 {
            fixtures::write_bytes(&mut data, b"x");
            fixtures::write_long(&mut data, 3_000_000_000); // array items
            fixtures::write_long(&mut data, 0);
        }
        let mut bytes = Vec::new();
        fixtures::write_container(&mut bytes, schema, None, &[(3_000_000_000, data)], b"0123456789abcdef").unwrap();
        fs::write(dir.path().join(format!("zero-{i}.avro")), bytes).unwrap();
    }
    let started = std::time::Instant::now();
    let out = c2m(&["convert", dir.path().to_str().unwrap(), "--events", "*", "-o", "-"]);
    assert!(started.elapsed().as_secs() < 10, "no loop over billions of empty records");
    assert_eq!(out.code, 3);
    assert_eq!(out.stderr.matches("take no bytes").count(), 2, "{}", out.stderr);
}

/// Deterministic bit flips and truncations of valid files of every codec: reading never panics,
/// and every run's report is consistent.
#[test]
fn mutated_files_never_panic_and_reports_stay_consistent() {
    avro::init();
    let dir = tempfile::tempdir().unwrap();
    let schema = fixtures::schema_json(CUSTOM_EVENT).unwrap();
    let mut rng = Rng::new(20261129);
    let records: Vec<Value> = (0..120).map(|i| fixtures::gen_record(CUSTOM_EVENT, &mut rng, T + i)).collect();
    let options = TransformOptions::default();
    let mutants = dir.path().join("mutants");
    fs::create_dir_all(&mutants).unwrap();
    let mut written = 0;
    for codec in Codec::all() {
        let mut opts = fixtures::WriteOptions::new(*codec);
        opts.records_per_block = 40;
        let valid = fixtures::encode_json_file(&schema, &records, &opts).unwrap();
        for round in 0..40u64 {
            let mut bytes = valid.clone();
            let mut rng = Rng::derive(7, codec.name(), round);
            if round % 4 == 0 {
                bytes.truncate(rng.below(bytes.len() as u64) as usize);
            } else {
                for _ in 0..=rng.below(4) {
                    let at = rng.below(bytes.len() as u64) as usize;
                    bytes[at] ^= 1 << rng.below(8);
                }
            }
            let decoded = std::panic::catch_unwind(|| {
                let Ok(mut file) = AvroFile::from_reader(Cursor::new(bytes.clone())) else { return 0 };
                let names: Vec<String> = file.field_names.clone();
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                let plan = FilePlan::new(CUSTOM_EVENT, &names, &options);
                let mut out = Vec::new();
                let mut n = 0;
                while let Some(Ok(record)) = file.next_record() {
                    transform(record, &plan, &options, NOW, &mut out);
                    n += 1;
                }
                n
            });
            assert!(decoded.is_ok(), "{} round {round} panicked", codec.name());
            fs::write(mutants.join(format!("{}-{round}.avro", codec.name())), &bytes).unwrap();
            written += 1;
        }
    }
    let report = dir.path().join("report.json");
    let out = c2m(&[
        "convert",
        mutants.to_str().unwrap(),
        "--events",
        "*",
        "-o",
        "/dev/null",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(out.code == 0 || out.code == 3, "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"));
    let report = read_json(&report);
    assert_invariants(&report);
    let files = &report["files"];
    assert_eq!(
        files["read"].as_u64().unwrap() + files["failed"].as_u64().unwrap() + files["skipped"].as_u64().unwrap(),
        written
    );
}

#[test]
fn outputs_that_are_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = custom_event_file(dir.path(), "in.avro", &[custom_event("a", "{}")]);
    let before = fs::read(&input).unwrap();
    for flag in ["-o", "--rejects", "--report"] {
        let out = c2m(&["convert", dir.path().to_str().unwrap(), flag, input.to_str().unwrap()]);
        assert_eq!(out.code, 2, "{flag}: {}", out.stderr);
        assert!(out.stderr.contains("is an input file"), "{}", out.stderr);
    }
    assert_eq!(fs::read(&input).unwrap(), before);
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    custom_event_file(dir.path(), "in.avro", &[custom_event("a", "{}")]);
    let out = c2m(&["convert", dir.path().to_str().unwrap(), "-o", "/dev/full"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("No space left on device"), "{}", out.stderr);
    assert!(fs::metadata("/dev/full").unwrap().file_type().is_char_device_like(), "/dev/full is still a device");

    // An output folder that disappears: the error names it and no temporary file is left.
    let out_dir = dir.path().join("gone");
    let out = c2m(&["convert", dir.path().to_str().unwrap(), "-o", out_dir.join("x.ndjson").to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(!out_dir.exists());
}

trait DeviceLike {
    fn is_char_device_like(&self) -> bool;
}

impl DeviceLike for fs::FileType {
    fn is_char_device_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_char_device()
    }
}

#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Value> = (0..20_000).map(|i| custom_event(&format!("id-{i}"), "{\"k\":\"v\"}")).collect();
    custom_event_file(dir.path(), "many.avro", &records);
    let mut child = Command::new(env!("CARGO_BIN_EXE_currents2mixpanel"))
        .args(["convert", dir.path().to_str().unwrap(), "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("{\"event\""));
    let out = child.wait_with_output().unwrap(); // stdout dropped above: the pipe is closed
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// Every upload failure path, with every kind of credential: no secret in stdout, stderr, the
/// report, the rejects file, the state file, or anything else the run writes.
#[test]
fn secrets_never_leak_on_any_failure_path() {
    use c2m_testkit::mock::{ExpectedAuth, Fault, MockConfig, MockMixpanel};
    const SECRETS: [&str; 3] = ["sa-LEAK-4411", "api-LEAK-5522", "tok-LEAK-6633"];
    let credentials: [(&[&str], ExpectedAuth); 3] = [
        (
            &["--service-account", "bot:sa-LEAK-4411", "--project-id", "77"],
            ExpectedAuth::ServiceAccount { user: "bot".into(), secret: SECRETS[0].into(), project_id: "77".into() },
        ),
        (&["--secret", "api-LEAK-5522"], ExpectedAuth::Secret(SECRETS[1].into())),
        (&["--token", "tok-LEAK-6633"], ExpectedAuth::Token(SECRETS[2].into())),
    ];
    let faults: [(&str, Vec<Fault>); 5] = [
        ("ok", vec![]),
        ("401", vec![Fault::status(401, r#"{"error":"Invalid credentials"}"#)]),
        ("403", vec![Fault::status(403, "forbidden")]),
        ("503 forever", vec![Fault::status(503, "down"); 8]),
        ("reset", vec![Fault::Reset; 8]),
    ];
    for (flags, auth) in credentials {
        for (name, fault) in &faults {
            let dir = tempfile::tempdir().unwrap();
            let records: Vec<Value> = (0..30).map(|i| custom_event(&format!("id-{i}"), "{\"k\":1}")).collect();
            let mut records = records;
            records.push(custom_event("bad", "[not an object]"));
            custom_event_file(&dir.path().join("in"), "a.avro", &records);
            let mock = MockMixpanel::start(MockConfig {
                auth: auth.clone(),
                reject_distinct_ids: vec!["nobody".into()],
                ..MockConfig::default()
            });
            mock.push_faults(fault.clone());
            let out_dir = dir.path().join("out");
            fs::create_dir_all(&out_dir).unwrap();
            let file = |n: &str| out_dir.join(n).display().to_string();
            let mut args = vec![
                "upload".to_string(),
                dir.path().join("in").display().to_string(),
                "--api-url".into(),
                mock.url(),
                "--retry-base-ms".into(),
                "2".into(),
                "--max-retries".into(),
                "2".into(),
                "--report".into(),
                file("report.json"),
                "--rejects".into(),
                file("rejects.ndjson"),
                "--state".into(),
                file("state.json"),
            ];
            args.extend(flags.iter().map(|s| s.to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = c2m(&args);
            let mut written = String::new();
            for entry in fs::read_dir(&out_dir).unwrap() {
                written.push_str(&fs::read_to_string(entry.unwrap().path()).unwrap());
            }
            for secret in SECRETS {
                let shown = format!("{}{}{written}", out.stdout_text(), out.stderr);
                assert!(!shown.contains(secret), "{secret} leaked ({name}, {flags:?}):\n{shown}");
            }
            assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        }
    }
}

/// The reader goes away while several workers are busy and memory budgets are full: every worker
/// must notice and the run must end (it once waited for ever for room that was never freed).
#[test]
fn a_closed_pipe_ends_a_parallel_run_every_time() {
    let dir = tempfile::tempdir().unwrap();
    for file in 0..3 {
        let records: Vec<Value> = (0..12_000).map(|i| custom_event(&format!("f{file}-{i}"), "{\"k\":\"v\"}")).collect();
        custom_event_file(dir.path(), &format!("{file}.avro"), &records);
    }
    for _ in 0..4 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_currents2mixpanel"))
            .args(["convert", dir.path().to_str().unwrap(), "--quiet", "--threads", "3"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        // Let the workers fill every buffer while the reader dawdles, then leave.
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(reader);
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed().as_secs() > 20 {
                child.kill().unwrap();
                panic!("convert hung after its reader went away");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(0));
    }
}

/// A whole batch refused (a wrong URL path, a proxy answering 404) is not a verdict on the
/// events: their files stay out of the state, so the rerun sends them.
#[test]
fn refused_batches_keep_their_files_out_of_the_state() {
    use c2m_testkit::mock::{Fault, MockConfig, MockMixpanel};
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Value> = (0..20).map(|i| custom_event(&format!("r-{i}"), "{}")).collect();
    custom_event_file(&dir.path().join("in"), "a.avro", &records);
    let state = dir.path().join("state.json");
    let mock = MockMixpanel::start(MockConfig::default());
    let upload = |mock: &MockMixpanel| {
        c2m(&[
            "upload",
            dir.path().join("in").to_str().unwrap(),
            "--api-url",
            &mock.url(),
            "--token",
            "t",
            "--retry-base-ms",
            "2",
            "--state",
            state.to_str().unwrap(),
        ])
    };
    mock.push_faults([Fault::status(404, "no such route")]);
    assert_eq!(upload(&mock).code, 3);
    let ledger = fs::read_to_string(&state).unwrap_or_default();
    assert!(!ledger.contains("a.avro"), "{ledger}");
    let out = upload(&mock);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(mock.unique_events().len(), 20);
    assert!(fs::read_to_string(&state).unwrap().contains("a.avro"));
}
