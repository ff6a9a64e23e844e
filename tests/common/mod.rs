//! Shared harness for the integration tests: run the real binary, read what it wrote.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8")
    }

    /// Every stdout line parsed as JSON.
    pub fn stdout_ndjson(&self) -> Vec<Value> {
        parse_ndjson(&self.stdout)
    }
}

/// Runs `currents2mixpanel ARGS` with no Mixpanel credentials in the environment.
pub fn c2m(args: &[&str]) -> Output {
    c2m_env(args, &[])
}

/// Runs `currents2mixpanel ARGS` with extra environment variables.
pub fn c2m_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_currents2mixpanel"));
    command.args(args).stdin(Stdio::null());
    for var in ["MIXPANEL_TOKEN", "MIXPANEL_API_SECRET", "MIXPANEL_SERVICE_ACCOUNT", "MIXPANEL_PROJECT_ID"] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let out = command.output().expect("the binary runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn parse_ndjson(bytes: &[u8]) -> Vec<Value> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l).unwrap_or_else(|e| panic!("bad NDJSON line {e}: {}", String::from_utf8_lossy(l)))
        })
        .collect()
}

pub fn read_ndjson(path: &Path) -> Vec<Value> {
    parse_ndjson(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).expect("JSON")
}

fn sum(map: &Value) -> u64 {
    map.as_object().map_or(0, |m| m.values().map(|v| v.as_u64().unwrap()).sum())
}

/// Checks the report's invariants (SPEC §6) and returns it.
pub fn assert_invariants(report: &Value) {
    let events = &report["events"];
    let read = events["read"].as_u64().unwrap();
    let emitted = events["emitted"].as_u64().unwrap();
    assert_eq!(
        read,
        emitted + sum(&events["skipped"]) + sum(&events["rejected"]),
        "events.read = emitted + skipped + rejected: {report:#}"
    );
    for reasons in [&events["skipped"], &events["rejected"]] {
        assert!(
            reasons.as_object().unwrap().values().all(|n| n.as_u64().unwrap() > 0),
            "only non-zero reasons: {report:#}"
        );
    }
    let by_type: u64 = report["by_event_type"].as_object().unwrap().values().map(|t| t["read"].as_u64().unwrap()).sum();
    assert_eq!(by_type, read, "by_event_type reads add up to events.read");
    if !report["upload"].is_null() {
        let upload = &report["upload"];
        assert_eq!(
            emitted,
            upload["imported"].as_u64().unwrap() + sum(&upload["failed"]),
            "emitted = imported + failed: {report:#}"
        );
    }
}
