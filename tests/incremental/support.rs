//! Helpers for the `--state` / interruption tests: small Currents trees whose every record is
//! emitted and names its file in `distinct_id` (`f03-u017` is record 17 of file 3), runs of the
//! binary (waited for, or spawned to be signalled), and readers for the state file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use c2m_testkit::fixtures::{self, Codec, Rng, WINDOW_START, braze_path, date_hour, gen_record};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::common::{self, Output};

pub const TOKEN: &str = "tok-incremental-7";
pub const EMAIL_SEND: &str = "users.messages.email.Send";
pub const CUSTOM_EVENT: &str = "users.behaviors.CustomEvent";

/// One input file written by a test.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub index: usize,
    pub path: PathBuf,
    /// `distinct_id`s of its records (all emitted: every record has an external_user_id).
    pub users: Vec<String>,
}

/// A temp dir with the inputs under `currents/` and the outputs beside it.
pub struct Tree {
    pub dir: TempDir,
    pub input: PathBuf,
    pub files: Vec<InputFile>,
}

impl Tree {
    /// `n` files of `events` records each; types alternate between email Send and CustomEvent
    /// unless `one_type`, and file `k` sits in the `date=` folder of hour `k` of the window.
    pub fn new(n: usize, events: usize, one_type: bool) -> Tree {
        let dir = tempfile::tempdir().expect("temp dir");
        let input = dir.path().join("currents");
        let mut tree = Tree { dir, input, files: Vec::new() };
        for _ in 0..n {
            let event_type = if one_type || tree.files.len().is_multiple_of(2) { EMAIL_SEND } else { CUSTOM_EVENT };
            tree.add_file(event_type, events);
        }
        tree
    }

    /// Writes the next file (index = number of files so far).
    pub fn add_file(&mut self, event_type: &str, events: usize) -> InputFile {
        let k = self.files.len();
        let hour = WINDOW_START + k as i64 * 3_600;
        let mut rng = Rng::derive(0xC2A7, event_type, k as u64);
        let users: Vec<String> = (0..events).map(|i| user(k, i)).collect();
        let records: Vec<Value> = users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let mut r = gen_record(event_type, &mut rng, hour + 10 * i as i64);
                r["external_user_id"] = json!(u);
                r
            })
            .collect();
        let path = braze_path(&self.input, event_type, &date_hour(hour), 0, 1_000 * k as u64);
        write(&path, event_type, &records);
        let file = InputFile { index: k, path, users };
        self.files.push(file.clone());
        file
    }

    pub fn input(&self) -> &str {
        self.input.to_str().expect("UTF-8 temp path")
    }

    pub fn out(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn out_str(&self, name: &str) -> String {
        self.out(name).to_str().expect("UTF-8 temp path").to_string()
    }

    /// What `convert` emits for the whole tree (with `--token`, as the uploads send it).
    pub fn expected(&self) -> Vec<Value> {
        let out = common::c2m(&["convert", self.input(), "--no-progress", "--token", TOKEN]);
        assert_eq!(out.code, 0, "convert of the clean tree exits 0: {}", out.stderr);
        let events = out.stdout_ndjson();
        let total: usize = self.files.iter().map(|f| f.users.len()).sum();
        assert_eq!(events.len(), total, "every record of the tree is emitted");
        assert_eq!(ids(&events).len(), events.len(), "$insert_ids are unique");
        events
    }

    /// The file index of each canonical path of the tree.
    pub fn index_of(&self, canonical: &str) -> usize {
        self.files
            .iter()
            .find(|f| canonical_str(&f.path) == canonical)
            .unwrap_or_else(|| panic!("the state names a file that is not an input: {canonical}"))
            .index
    }
}

pub fn user(file: usize, record: usize) -> String {
    format!("f{file:02}-u{record:03}")
}

pub fn write(path: &Path, event_type: &str, records: &[Value]) {
    let schema = fixtures::schema_json(event_type).expect("known type");
    fixtures::write_json_file(path, &schema, Codec::Null, records).expect("write a fixture file");
}

pub fn canonical_str(path: &Path) -> String {
    std::fs::canonicalize(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).display().to_string()
}

/// The file index an event came from, by its `distinct_id`.
pub fn file_of(event: &Value) -> usize {
    let user = event["properties"]["distinct_id"].as_str().unwrap_or_else(|| panic!("no distinct_id: {event}"));
    user[1..3].parse().unwrap_or_else(|_| panic!("not a test user: {user}"))
}

pub fn insert_id(event: &Value) -> String {
    event["properties"]["$insert_id"].as_str().unwrap_or_else(|| panic!("no $insert_id: {event}")).to_string()
}

pub fn ids(events: &[Value]) -> BTreeSet<String> {
    events.iter().map(insert_id).collect()
}

pub fn files_of(events: &[Value]) -> BTreeSet<usize> {
    events.iter().map(file_of).collect()
}

/// Every path the state file names (any string ending in `.avro`, key or value, at any depth),
/// so the tests do not depend on the ledger's exact layout. Panics if it is not JSON.
pub fn state_paths(state: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(state).unwrap_or_else(|e| panic!("{}: {e}", state.display()));
    let value: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("the state file is not valid JSON ({e}):\n{text}"));
    let mut out = BTreeSet::new();
    collect_paths(&value, &mut out);
    out
}

fn collect_paths(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(s) if s.ends_with(".avro") => {
            out.insert(s.clone());
        }
        Value::Array(items) => items.iter().for_each(|v| collect_paths(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                if k.ends_with(".avro") {
                    out.insert(k.clone());
                }
                collect_paths(v, out);
            }
        }
        _ => {}
    }
}

/// The file indexes the state file records.
pub fn state_files(tree: &Tree, state: &Path) -> BTreeSet<usize> {
    state_paths(state).iter().map(|p| tree.index_of(p)).collect()
}

fn next_id() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One finished run and what it wrote.
pub struct Run {
    pub out: Output,
    pub report: Value,
    pub rejects: Vec<Value>,
}

impl Run {
    pub fn context(&self) -> String {
        format!(
            "exit {}\n--- stderr\n{}\n--- report\n{:#}\n--- rejects: {} lines",
            self.out.code,
            self.out.stderr,
            self.report,
            self.rejects.len()
        )
    }

    pub fn files(&self) -> (u64, u64, u64) {
        let f = &self.report["files"];
        (f["read"].as_u64().unwrap(), f["failed"].as_u64().unwrap(), f["skipped"].as_u64().unwrap())
    }

    pub fn failed(&self) -> BTreeMap<String, u64> {
        self.report["upload"]["failed"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect())
            .unwrap_or_default()
    }

    pub fn rejects_with(&self, reason: &str) -> Vec<Value> {
        self.rejects.iter().filter(|r| r["reason"] == reason).map(|r| r["record"].clone()).collect()
    }
}

/// `upload TREE --api-url URL --token T --retry-base-ms 5 --no-progress --report R --rejects J
/// --state STATE ARGS`, run to the end.
pub fn upload(tree: &Tree, url: &str, state: &Path, args: &[&str]) -> Run {
    let (report, rejects) = outputs(tree);
    let mut all = upload_args(tree, url, state, &report, &rejects);
    all.extend(args.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    collect(common::c2m(&refs), &report, &rejects)
}

/// A fresh (report, rejects) pair of paths.
pub fn outputs(tree: &Tree) -> (PathBuf, PathBuf) {
    let n = next_id();
    (tree.out(&format!("report-{n}.json")), tree.out(&format!("rejects-{n}.ndjson")))
}

pub fn upload_args(tree: &Tree, url: &str, state: &Path, report: &Path, rejects: &Path) -> Vec<String> {
    [
        "upload",
        tree.input(),
        "--api-url",
        url,
        "--token",
        TOKEN,
        "--retry-base-ms",
        "5",
        "--no-progress",
        "--report",
        report.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

pub fn collect(out: Output, report: &Path, rejects: &Path) -> Run {
    let report_text = std::fs::read_to_string(report).unwrap_or_default();
    assert!(!report_text.contains(TOKEN), "the token leaked into the report");
    let report = if report_text.is_empty() { Value::Null } else { serde_json::from_str(&report_text).expect("report") };
    let rejects = std::fs::read(rejects).map(|b| common::parse_ndjson(&b)).unwrap_or_default();
    Run { out, report, rejects }
}

/// Starts the binary with `args` (no MIXPANEL_* variable), to be signalled.
pub fn spawn(args: &[String]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_currents2mixpanel"));
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for var in ["MIXPANEL_TOKEN", "MIXPANEL_API_SECRET", "MIXPANEL_SERVICE_ACCOUNT", "MIXPANEL_PROJECT_ID"] {
        command.env_remove(var);
    }
    command.spawn().expect("spawn the binary")
}

/// Sends `signal` (`-INT`, `-TERM`, `-KILL`) with kill(1).
pub fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill").args([signal, &child.id().to_string()]).status().expect("run kill");
    assert!(status.success(), "kill {signal} {}", child.id());
}

/// Waits for the child (at most `limit`; then kills it and fails the test).
pub fn wait(mut child: Child, limit: Duration) -> (Option<i32>, Output) {
    let started = Instant::now();
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!("the run did not end within {limit:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("wait");
    let code = out.status.code();
    let output = Output {
        code: code.unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (code, output)
}

/// Polls `done` every 10 ms for at most `limit`; true if it became true.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}
