//! Helpers for the `upload` integration tests: input fixtures in a temp dir, the expected events
//! (from `convert` on the same inputs), one upload run with its report and rejects file, and the
//! accounting checks every test shares.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use c2m_testkit::fixtures::{
    self, Codec, Rng, TreeOptions, WINDOW_START, braze_path, date_hour, gen_record, schema_json, write_json_file,
};
use c2m_testkit::mock::{MockMixpanel, RequestRecord};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::common::{self, Output};

pub const SA_USER: &str = "sa-user.bot";
pub const SA_SECRET: &str = "sa-SECRET-9f3k";
pub const PROJECT_ID: &str = "4242";
pub const API_SECRET: &str = "api-SECRET-77x";
pub const TOKEN: &str = "tok-SECRET-q1";
/// What must never show in stdout, stderr, the report or the rejects file.
pub const SECRETS: [&str; 3] = [SA_SECRET, API_SECRET, TOKEN];

/// The reasons an emitted event can fail during upload (SPEC §5).
pub const UPLOAD_REASONS: [&str; 4] =
    ["rejected_by_mixpanel", "gave_up_after_retries", "not_sent", "import_count_mismatch"];

pub const CUSTOM_EVENT: &str = "users.behaviors.CustomEvent";

/// Input files in their own temp dir (outputs of the runs go there too, outside the input folder).
pub struct Fixture {
    pub dir: TempDir,
    pub input: PathBuf,
}

impl Fixture {
    /// A Braze-shaped tree: `files_per_type` files of `events_per_file` realistic records for
    /// each type (about 10% have no `external_user_id` and are skipped; none is rejected).
    pub fn tree(types: &[&str], files_per_type: usize, events_per_file: usize, seed: u64) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let input = dir.path().join("currents");
        let opts = TreeOptions {
            seed,
            files_per_type,
            events_per_file,
            codecs: vec![Codec::Null, Codec::Deflate, Codec::Snappy],
            types: types.iter().map(|t| t.to_string()).collect(),
            edge_cases: false,
        };
        fixtures::generate_tree(&input, &opts).expect("generate the fixture tree");
        Fixture { dir, input }
    }

    /// The default small input: three default-on types, two files each, 60 records per file.
    pub fn small(seed: u64) -> Fixture {
        Fixture::tree(&[CUSTOM_EVENT, "users.messages.email.Send", "users.behaviors.Purchase"], 2, 60, seed)
    }

    /// CustomEvent records whose `properties` carry `pad` bytes of hex each, in one file; every
    /// record has an `external_user_id`, so all of them are emitted.
    pub fn big(pads: &[usize], seed: u64) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let input = dir.path().join("currents");
        let mut rng = Rng::new(seed);
        let records: Vec<Value> = pads
            .iter()
            .enumerate()
            .map(|(i, pad)| {
                let time = WINDOW_START + 3_600 + i as i64;
                let mut record = gen_record(CUSTOM_EVENT, &mut rng, time);
                record["external_user_id"] = json!(format!("big_user_{i:04}"));
                record["properties"] = json!(json!({"pad": rng.hex(*pad), "n": i}).to_string());
                record
            })
            .collect();
        let path = braze_path(&input, CUSTOM_EVENT, &date_hour(WINDOW_START + 3_600), 0, 1_000);
        let schema = schema_json(CUSTOM_EVENT).expect("known type");
        write_json_file(&path, &schema, Codec::Null, &records).expect("write the big fixture");
        Fixture { dir, input }
    }

    pub fn input(&self) -> &str {
        self.input.to_str().expect("UTF-8 temp path")
    }

    pub fn out(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The events `convert` emits for these inputs with `flags` (e.g. `--token T`): what an
    /// upload with the same flags must account for, event by event.
    pub fn expected(&self, flags: &[&str]) -> Vec<Value> {
        let report = self.out(&format!("convert-{}.json", next_id()));
        let report_arg = report.to_str().unwrap();
        let mut args = vec!["convert", self.input(), "--no-progress", "--report", report_arg];
        args.extend_from_slice(flags);
        let out = common::c2m(&args);
        assert_eq!(out.code, 0, "convert of a clean fixture exits 0: {}", out.stderr);
        let report = common::read_json(&report);
        assert_eq!(report["events"]["rejected"], json!({}), "the fixture is clean (no transform rejects)");
        let events = out.stdout_ndjson();
        assert!(!events.is_empty(), "the fixture emits events");
        assert_eq!(ids(&events).len(), events.len(), "the fixture's $insert_ids are unique");
        events
    }
}

fn next_id() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub fn insert_id(event: &Value) -> String {
    event["properties"]["$insert_id"]
        .as_str()
        .unwrap_or_else(|| panic!("event without $insert_id: {event}"))
        .to_string()
}

pub fn ids(events: &[Value]) -> BTreeSet<String> {
    events.iter().map(insert_id).collect()
}

pub fn by_id(events: &[Value]) -> BTreeMap<String, Value> {
    events.iter().map(|e| (insert_id(e), e.clone())).collect()
}

/// The event as the rejects file must show it: the Mixpanel event without its `token`.
pub fn without_token(event: &Value) -> Value {
    let mut event = event.clone();
    event["properties"].as_object_mut().expect("properties object").remove("token");
    event
}

/// One `upload` run and what it wrote.
pub struct Upload {
    pub out: Output,
    /// `Value::Null` when no report was written (e.g. a usage error).
    pub report: Value,
    pub rejects: Vec<Value>,
}

impl Upload {
    pub fn code(&self) -> i32 {
        self.out.code
    }

    pub fn upload_counts(&self) -> &Value {
        &self.report["upload"]
    }

    pub fn imported(&self) -> u64 {
        self.report["upload"]["imported"].as_u64().unwrap_or_else(|| panic!("no upload.imported: {:#}", self.report))
    }

    pub fn retries(&self) -> u64 {
        self.report["upload"]["retries"].as_u64().unwrap_or_else(|| panic!("no upload.retries: {:#}", self.report))
    }

    pub fn emitted(&self) -> u64 {
        self.report["events"]["emitted"].as_u64().unwrap_or_else(|| panic!("no events.emitted: {:#}", self.report))
    }

    /// `upload.failed` as a map (empty when absent).
    pub fn failed(&self) -> BTreeMap<String, u64> {
        self.report["upload"]["failed"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect())
            .unwrap_or_default()
    }

    pub fn rejects_with(&self, reason: &str) -> Vec<&Value> {
        self.rejects.iter().filter(|r| r["reason"] == reason).collect()
    }

    /// Rejects-file lines per reason.
    pub fn reject_reasons(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for r in &self.rejects {
            *m.entry(r["reason"].as_str().expect("reason is a string").to_string()).or_default() += 1;
        }
        m
    }

    /// `$insert_id`s of the upload failures in the rejects file.
    pub fn failed_ids(&self) -> BTreeSet<String> {
        self.rejects
            .iter()
            .filter(|r| UPLOAD_REASONS.contains(&r["reason"].as_str().unwrap_or("")))
            .map(|r| insert_id(&r["record"]))
            .collect()
    }

    pub fn context(&self) -> String {
        format!(
            "exit {}\n--- stderr\n{}\n--- report\n{:#}\n--- rejects ({} lines) first: {}",
            self.out.code,
            self.out.stderr,
            self.report,
            self.rejects.len(),
            self.rejects.first().map(Value::to_string).unwrap_or_default()
        )
    }
}

/// Runs `upload INPUT --api-url URL --retry-base-ms 5 --no-progress --report R --rejects J ARGS`
/// with `env` (and no other MIXPANEL_* variable), and checks that no secret leaked into stdout,
/// stderr, the report or the rejects file.
pub fn upload(fx: &Fixture, url: &str, args: &[&str], env: &[(&str, &str)]) -> Upload {
    let n = next_id();
    let report = fx.out(&format!("report-{n}.json"));
    let rejects = fx.out(&format!("rejects-{n}.ndjson"));
    let mut all = vec![
        "upload",
        fx.input(),
        "--api-url",
        url,
        "--retry-base-ms",
        "5",
        "--no-progress",
        "--report",
        report.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    run_and_check(&all, env, &report, &rejects)
}

/// Runs the binary with exactly `args` (no --api-url added), reading `report`/`rejects` if written.
pub fn run_and_check(args: &[&str], env: &[(&str, &str)], report: &Path, rejects: &Path) -> Upload {
    collect(common::c2m_env(args, env), report, rejects)
}

/// What a finished run wrote, checked for leaked secrets.
pub fn collect(out: Output, report: &Path, rejects: &Path) -> Upload {
    let report_text = std::fs::read_to_string(report).unwrap_or_default();
    let rejects_text = std::fs::read_to_string(rejects).unwrap_or_default();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    for secret in SECRETS {
        assert!(!out.stderr.contains(secret), "{secret} leaked into stderr:\n{}", out.stderr);
        assert!(!stdout.contains(secret), "{secret} leaked into stdout:\n{stdout}");
        assert!(!report_text.contains(secret), "{secret} leaked into the report:\n{report_text}");
        assert!(!rejects_text.contains(secret), "{secret} leaked into the rejects file");
    }
    let report = if report_text.is_empty() { Value::Null } else { serde_json::from_str(&report_text).expect("report") };
    let rejects = common::parse_ndjson(rejects_text.as_bytes());
    Upload { out, report, rejects }
}

/// The accounting every upload must satisfy: the report's invariants; every emitted event
/// (`expected`, from `convert`) is either stored by the mock or in the rejects file with an
/// upload reason, never both; the rejects file's lines per reason match `upload.failed`; each
/// rejects line carries the Mixpanel event (without `token`), its file and type; and
/// `upload.imported` equals what the mock stored (`lossless`: no fault made the mock drop
/// events it reported as imported, or store events the tool counted as failed).
pub fn assert_accounted(expected: &[Value], mock: &MockMixpanel, up: &Upload, all_read: bool) {
    let ctx = up.context();
    assert!(up.report.is_object(), "a report was written\n{ctx}");
    common::assert_invariants(&up.report);
    assert!(up.report["upload"].is_object(), "upload counters in the report\n{ctx}");
    let expected_by_id = by_id(expected);
    let stored = ids(&mock.unique_events());
    let failed = up.failed_ids();
    assert!(stored.is_disjoint(&failed), "no event both stored and failed: {:?}\n{ctx}", stored.intersection(&failed));
    let settled: BTreeSet<String> = stored.union(&failed).cloned().collect();
    assert!(
        settled.is_subset(&ids(expected)),
        "only emitted events are stored or failed: {:?}\n{ctx}",
        settled.difference(&ids(expected)).take(5).collect::<Vec<_>>()
    );
    if all_read {
        assert_eq!(up.emitted(), expected.len() as u64, "the upload emits what convert emits\n{ctx}");
        assert_eq!(settled.len(), expected.len(), "stored + failed = every emitted event\n{ctx}");
    } else {
        assert_eq!(settled.len() as u64, up.emitted(), "stored + failed = events.emitted\n{ctx}");
    }
    // Failures: the rejects file and the counters agree reason by reason.
    let lines = up.reject_reasons();
    let counted = up.failed();
    for reason in UPLOAD_REASONS {
        let (l, c) = (lines.get(reason).copied().unwrap_or(0), counted.get(reason).copied().unwrap_or(0));
        if reason == "import_count_mismatch" {
            assert!(l >= c, "{reason}: the whole short batch is listed ({l} lines, {c} counted)\n{ctx}");
        } else {
            assert_eq!(l, c, "{reason}: rejects lines vs upload.failed\n{ctx}");
        }
    }
    for line in &up.rejects {
        let reason = line["reason"].as_str().unwrap();
        assert!(UPLOAD_REASONS.contains(&reason), "unexpected rejects reason {reason}\n{ctx}");
        assert!(line["message"].as_str().is_some_and(|m| !m.is_empty()), "a message: {line}");
        assert!(line["file"].as_str().is_some_and(|f| f.ends_with(".avro")), "the input file: {line}");
        assert!(line["event_type"].as_str().is_some_and(|t| t.starts_with("users.")), "the type: {line}");
        let want = &expected_by_id[&insert_id(&line["record"])];
        assert_same_event(&line["record"], &without_token(want), "rejects record = the Mixpanel event without token");
    }
    // What the mock stored is exactly what convert emitted.
    for event in mock.unique_events() {
        assert_same_event(&event, &expected_by_id[&insert_id(&event)], "stored event = convert's event");
    }
    if !counted.contains_key("import_count_mismatch") {
        assert_eq!(up.imported(), stored.len() as u64, "upload.imported = unique events stored\n{ctx}");
    }
}

/// `got == want`, naming the first differing property instead of dumping (possibly huge) events.
pub fn assert_same_event(got: &Value, want: &Value, what: &str) {
    if got == want {
        return;
    }
    let short = |v: &Value| {
        let s = v.to_string();
        if s.len() > 120 { format!("{}…", &s[..s.char_indices().nth(120).map_or(s.len(), |(i, _)| i)]) } else { s }
    };
    let id = got["properties"]["$insert_id"].clone();
    assert_eq!(got["event"], want["event"], "{what}: event name of {id}");
    let (g, w) = (got["properties"].as_object().unwrap(), want["properties"].as_object().unwrap());
    for key in g.keys().chain(w.keys()) {
        let (a, b) = (g.get(key), w.get(key));
        assert!(a == b, "{what}: {id} property {key}: got {:?}, want {:?}", a.map(short), b.map(short));
    }
    panic!("{what}: {id} differs (key order or top-level keys)");
}

/// Every request is a well-formed `/import` call: POST, strict=1, ip=0, NDJSON, gzip or not.
pub fn assert_requests_wellformed(requests: &[RequestRecord], gzip: bool) {
    assert!(!requests.is_empty(), "requests were made");
    for r in requests {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/import"), "{r:?}");
        assert_eq!(r.query_param("strict"), Some("1"), "strict=1: {:?}", r.query);
        assert_eq!(r.query_param("ip"), Some("0"), "ip=0: {:?}", r.query);
        assert_eq!(r.header("content-type"), Some("application/x-ndjson"), "content type: {:?}", r.headers);
        let encoding = r.header("content-encoding");
        if gzip {
            assert_eq!(encoding, Some("gzip"), "gzip body: {:?}", r.headers);
            if let Some(raw) = r.uncompressed_bytes {
                assert!(r.body_bytes < raw, "gzip compresses: {} sent for {raw}", r.body_bytes);
            }
        } else {
            assert!(encoding.is_none_or(|e| e.eq_ignore_ascii_case("identity")), "identity body: {:?}", r.headers);
            if let Some(raw) = r.uncompressed_bytes {
                assert_eq!(r.body_bytes, raw, "identity body is sent as is");
            }
        }
    }
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// An address where nothing listens: bind, take the port, drop the listener.
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// `1234567` → `1,234,567`, as the summary prints counts.
pub fn thousands(n: usize) -> String {
    currents2mixpanel::report::thousands(n as u64)
}
