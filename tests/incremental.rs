//! Incremental runs (README "Nightly backfill with cron", "Reliability"): the `--state` ledger
//! for `upload` and `convert`, what is and is not recorded in it (settled files only; files with
//! events that failed for a passing reason are retried), interruption by SIGKILL / SIGINT /
//! SIGTERM followed by a rerun that finishes the job, a corrupt state file, relative
//! `--since`/`--until` (`36h`, `7d`), and the generated shell completions and man page.
//!
//! Every test writes its own inputs in a temp dir and runs its own mock `/import`.

mod common;
#[path = "incremental/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use c2m_testkit::fixtures::{Rng, braze_path, date_hour, gen_record};
use c2m_testkit::mock::{Fault, MockConfig, MockMixpanel};
use serde_json::{Value, json};

use common::{assert_invariants, c2m, read_json, read_ndjson};
use support::*;

fn healthy_mock() -> MockMixpanel {
    MockMixpanel::start(MockConfig::default())
}

/// The mock stored each expected event (deduplicated on `$insert_id` like Mixpanel), nothing else,
/// and no two different events under one `$insert_id`.
fn assert_all_delivered_once(mock: &MockMixpanel, expected: &[Value], ctx: &str) {
    let unique = mock.unique_events();
    let stored = ids(&unique);
    assert_eq!(stored.len(), unique.len(), "one event per $insert_id in the mock\n{ctx}");
    let want = ids(expected);
    let missing: Vec<_> = want.difference(&stored).take(5).collect();
    let extra: Vec<_> = stored.difference(&want).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, unexpected {extra:?}\n{ctx}");
}

// ---------------------------------------------------------------------------------------------
// upload --state
// ---------------------------------------------------------------------------------------------

#[test]
fn a_second_upload_with_the_same_state_sends_nothing_and_skips_every_file() {
    let tree = Tree::new(4, 15, false);
    let expected = tree.expected();
    let mock = healthy_mock();
    let state = tree.out("state.json");

    let first = upload(&tree, &mock.url(), &state, &[]);
    assert_eq!(first.out.code, 0, "{}", first.context());
    assert_invariants(&first.report);
    assert_eq!(first.files(), (4, 0, 0), "{}", first.context());
    assert_all_delivered_once(&mock, &expected, &first.context());
    assert_eq!(state_files(&tree, &state), (0..4).collect(), "every file is recorded");
    let requests = mock.requests().len();
    assert!(requests > 0);

    let second = upload(&tree, &mock.url(), &state, &[]);
    assert_eq!(second.out.code, 0, "{}", second.context());
    assert_invariants(&second.report);
    assert_eq!(mock.requests().len(), requests, "the second run sends no request");
    assert_eq!(second.files(), (0, 0, 4), "files.skipped counts the files already done\n{}", second.context());
    assert_eq!(second.report["events"]["read"], 0);
    assert_eq!(second.report["upload"]["imported"], 0);
    assert_eq!(second.report["upload"]["batches"], 0);
    assert!(
        second.out.stderr.contains("4 file(s) already done in the state file"),
        "the summary says why the files were skipped: {}",
        second.out.stderr
    );
    assert!(second.rejects.is_empty());
    assert_eq!(state_files(&tree, &state), (0..4).collect(), "the state is unchanged");

    // The same files named another way (a glob instead of the folder) are the same files.
    let (report, rejects) = outputs(&tree);
    let glob = format!("{}/**/*.avro", tree.input());
    let mut args = upload_args(&tree, &mock.url(), &state, &report, &rejects);
    args[1] = glob;
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let third = collect(c2m(&refs), &report, &rejects);
    assert_eq!(third.out.code, 0, "{}", third.context());
    assert_eq!(third.files(), (0, 0, 4), "{}", third.context());
    assert_eq!(mock.requests().len(), requests, "a glob naming the same files sends nothing either");
}

#[test]
fn a_run_after_new_files_arrive_uploads_only_those() {
    let mut tree = Tree::new(3, 12, false);
    let mock = healthy_mock();
    let state = tree.out("state.json");
    let first = upload(&tree, &mock.url(), &state, &[]);
    assert_eq!(first.out.code, 0, "{}", first.context());
    let before = mock.events().len();
    assert_eq!(before, 36);

    tree.add_file(CUSTOM_EVENT, 9);
    tree.add_file(EMAIL_SEND, 7);
    let expected = tree.expected();
    let second = upload(&tree, &mock.url(), &state, &[]);
    assert_eq!(second.out.code, 0, "{}", second.context());
    assert_invariants(&second.report);
    assert_eq!(second.files(), (2, 0, 3), "{}", second.context());
    assert_eq!(second.report["events"]["read"], 16);
    assert_eq!(second.report["upload"]["imported"], 16);
    let sent = mock.events()[before..].to_vec();
    assert_eq!(sent.len(), 16, "only the new files' events are sent");
    assert_eq!(files_of(&sent), BTreeSet::from([3, 4]));
    assert_all_delivered_once(&mock, &expected, &second.context());
    assert_eq!(mock.events().len(), expected.len(), "no event was sent twice");
    assert_eq!(state_files(&tree, &state), (0..5).collect());
}

#[test]
fn a_settled_file_whose_size_changed_is_read_again() {
    let tree = Tree::new(2, 10, true);
    let mock = healthy_mock();
    let state = tree.out("state.json");
    assert_eq!(upload(&tree, &mock.url(), &state, &[]).out.code, 0);
    let before = mock.events().len();

    // Rewrite file 1 with more records: same path, another size.
    let mut rng = Rng::new(77);
    let records: Vec<Value> = (0..14)
        .map(|i| {
            let mut r = gen_record(EMAIL_SEND, &mut rng, c2m_testkit::fixtures::WINDOW_START + i);
            r["external_user_id"] = json!(user(1, 100 + i as usize));
            r
        })
        .collect();
    write(&tree.files[1].path, EMAIL_SEND, &records);
    let again = upload(&tree, &mock.url(), &state, &[]);
    assert_eq!(again.out.code, 0, "{}", again.context());
    assert_eq!(again.files(), (1, 0, 1), "only the changed file is read: {}", again.context());
    assert_eq!(mock.events().len() - before, 14);
    assert_eq!(files_of(&mock.events()[before..]), BTreeSet::from([1]));
    assert_eq!(state_files(&tree, &state), BTreeSet::from([0, 1]), "recorded again with its new size");
}

#[test]
fn a_dry_run_never_records_files_as_done() {
    let tree = Tree::new(2, 8, false);
    let mock = healthy_mock();
    let state = tree.out("state.json");
    let (report, _) = outputs(&tree);
    let dry = c2m(&[
        "upload",
        tree.input(),
        "--dry-run",
        "--no-progress",
        "--state",
        state.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(!state.exists() || state_paths(&state).is_empty(), "a dry run sends nothing, so settles nothing");
    let real = upload(&tree, &mock.url(), &state, &[]);
    assert_eq!(real.out.code, 0, "{}", real.context());
    assert_eq!(real.files(), (2, 0, 0), "the real run reads everything: {}", real.context());
    assert_eq!(mock.events().len(), 16);
}

// ---------------------------------------------------------------------------------------------
// What enters the state
// ---------------------------------------------------------------------------------------------

/// Files of 10 events read one at a time (`--threads 1`: uploads take files in arrival order)
/// and sent one batch per file, one request at a time (`--workers 1`), so request N of the mock
/// is the N-th file in path order (plus its retries).
fn one_batch_per_file(tree: &Tree, url: &str, state: &std::path::Path, extra: &[&str]) -> Run {
    let mut args = vec!["--threads", "1", "--workers", "1", "--batch-events", "10"];
    args.extend_from_slice(extra);
    upload(tree, url, state, &args)
}

#[test]
fn files_that_gave_up_after_retries_are_not_recorded_and_a_rerun_retries_them() {
    let tree = Tree::new(4, 10, true);
    let expected = tree.expected();
    let mock = healthy_mock();
    // File 1's batch: 503, and 503 again on its only retry.
    let unavailable = Fault::status(503, "Service Unavailable");
    mock.push_faults([Fault::Ok, unavailable.clone(), unavailable]);
    let state = tree.out("state.json");
    let first = one_batch_per_file(&tree, &mock.url(), &state, &["--max-retries", "1"]);
    assert_eq!(first.out.code, 3, "{}", first.context());
    assert_invariants(&first.report);
    assert_eq!(first.failed(), [("gave_up_after_retries".to_string(), 10)].into(), "{}", first.context());
    let gave_up = first.rejects_with("gave_up_after_retries");
    assert_eq!(files_of(&gave_up), BTreeSet::from([1]), "the failed batch is file 1's");
    assert_eq!(state_files(&tree, &state), BTreeSet::from([0, 2, 3]), "file 1 is not settled");

    // Mixpanel is healthy again: the rerun reads file 1 only and delivers it.
    let before = mock.events().len();
    let second = one_batch_per_file(&tree, &mock.url(), &state, &["--max-retries", "1"]);
    assert_eq!(second.out.code, 0, "{}", second.context());
    assert_eq!(second.files(), (1, 0, 3), "{}", second.context());
    assert_eq!(files_of(&mock.events()[before..]), BTreeSet::from([1]));
    assert_all_delivered_once(&mock, &expected, &second.context());
    assert_eq!(state_files(&tree, &state), (0..4).collect());
}

#[test]
fn when_every_request_fails_no_file_is_recorded() {
    let tree = Tree::new(3, 6, false);
    let expected = tree.expected();
    let mock = healthy_mock();
    mock.set_fault_every(1, Fault::status(503, ""));
    let state = tree.out("state.json");
    let first = upload(&tree, &mock.url(), &state, &["--max-retries", "1"]);
    assert_eq!(first.out.code, 3, "{}", first.context());
    assert_invariants(&first.report);
    assert_eq!(first.failed(), [("gave_up_after_retries".to_string(), 18)].into());
    assert!(!state.exists() || state_paths(&state).is_empty(), "nothing settled, nothing recorded");

    mock.clear_faults();
    let second = upload(&tree, &mock.url(), &state, &["--max-retries", "1"]);
    assert_eq!(second.out.code, 0, "{}", second.context());
    assert_eq!(second.files(), (3, 0, 0));
    assert_all_delivered_once(&mock, &expected, &second.context());
}

#[test]
fn files_with_only_mixpanel_rejects_are_recorded() {
    let tree = Tree::new(4, 10, true);
    let mock =
        MockMixpanel::start(MockConfig { reject_distinct_ids: vec![user(1, 3), user(2, 0)], ..MockConfig::default() });
    let state = tree.out("state.json");
    let first = one_batch_per_file(&tree, &mock.url(), &state, &[]);
    assert_eq!(first.out.code, 3, "{}", first.context());
    assert_invariants(&first.report);
    assert_eq!(first.failed(), [("rejected_by_mixpanel".to_string(), 2)].into(), "{}", first.context());
    let rejected: BTreeSet<String> = first
        .rejects_with("rejected_by_mixpanel")
        .iter()
        .map(|e| e["properties"]["distinct_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rejected, BTreeSet::from([user(1, 3), user(2, 0)]));
    assert_eq!(state_files(&tree, &state), (0..4).collect(), "a Mixpanel reject is final: the files are settled");

    let requests = mock.requests().len();
    let second = one_batch_per_file(&tree, &mock.url(), &state, &[]);
    assert_eq!(second.out.code, 0, "{}", second.context());
    assert_eq!(second.files(), (0, 0, 4));
    assert_eq!(mock.requests().len(), requests, "nothing is resent");
}

/// README, "What to do with the rejects file": `import_count_mismatch` is transient, and a rerun
/// with `--state` reads the files concerned again.
#[test]
fn files_with_an_import_count_mismatch_are_not_recorded_and_a_rerun_retries_them() {
    let tree = Tree::new(4, 10, true);
    let expected = tree.expected();
    let mock = healthy_mock();
    // File 1's batch: Mixpanel says 200 but imported only 3 of 10, twice.
    let short = Fault::status(200, r#"{"code":200,"num_records_imported":3,"status":"OK"}"#);
    mock.push_faults([Fault::Ok, short.clone(), short]);
    let state = tree.out("state.json");
    let first = one_batch_per_file(&tree, &mock.url(), &state, &["--max-retries", "1"]);
    assert_eq!(first.out.code, 3, "{}", first.context());
    assert_invariants(&first.report);
    assert_eq!(first.failed(), [("import_count_mismatch".to_string(), 7)].into(), "{}", first.context());
    assert_eq!(files_of(&first.rejects_with("import_count_mismatch")), BTreeSet::from([1]));
    assert_eq!(
        state_files(&tree, &state),
        BTreeSet::from([0, 2, 3]),
        "file 1 has events Mixpanel may not have: it must be read again by the next run"
    );
    let second = one_batch_per_file(&tree, &mock.url(), &state, &["--max-retries", "1"]);
    assert_eq!(second.out.code, 0, "{}", second.context());
    assert_all_delivered_once(&mock, &expected, &second.context());
}

// ---------------------------------------------------------------------------------------------
// convert --state
// ---------------------------------------------------------------------------------------------

#[test]
fn convert_with_state_converts_each_file_once() {
    let mut tree = Tree::new(3, 10, false);
    let state = tree.out_str("state.json");
    let run = |input: &str, out: &str, report: &str| {
        let o = c2m(&["convert", input, "-o", out, "--state", &state, "--report", report, "--no-progress"]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        o
    };
    let input = tree.input().to_string();
    let (out1, rep1) = (tree.out_str("out1.ndjson"), tree.out_str("r1.json"));
    run(&input, &out1, &rep1);
    let first = read_ndjson(std::path::Path::new(&out1));
    assert_eq!(first.len(), 30);
    assert_eq!(read_json(std::path::Path::new(&rep1))["files"], json!({"read": 3, "failed": 0, "skipped": 0}));
    assert_eq!(state_files(&tree, std::path::Path::new(&state)), (0..3).collect());

    let (out2, rep2) = (tree.out_str("out2.ndjson"), tree.out_str("r2.json"));
    let second = run(&input, &out2, &rep2);
    assert_eq!(std::fs::read(&out2).unwrap(), b"", "nothing converted the second time");
    let report = read_json(std::path::Path::new(&rep2));
    assert_invariants(&report);
    assert_eq!(report["files"], json!({"read": 0, "failed": 0, "skipped": 3}));
    assert_eq!(report["events"]["read"], 0);
    assert!(second.stderr.contains("already done in the state file"), "{}", second.stderr);

    tree.add_file(EMAIL_SEND, 5);
    let (out3, rep3) = (tree.out_str("out3.ndjson"), tree.out_str("r3.json"));
    run(&input, &out3, &rep3);
    let third = read_ndjson(std::path::Path::new(&out3));
    assert_eq!(files_of(&third), BTreeSet::from([3]), "only the new file");
    assert_eq!(third.len(), 5);
    assert_eq!(read_json(std::path::Path::new(&rep3))["files"], json!({"read": 1, "failed": 0, "skipped": 3}));
}

#[test]
fn convert_state_without_an_output_file_is_a_usage_error() {
    let tree = Tree::new(1, 3, true);
    let state = tree.out_str("state.json");
    for extra in [&[][..], &["-o", "-"][..]] {
        let mut args = vec!["convert", tree.input(), "--state", &state];
        args.extend_from_slice(extra);
        let out = c2m(&args);
        assert_eq!(out.code, 2, "convert --state {extra:?}: {}", out.stderr);
        assert!(out.stderr.contains("--state"), "the message names the option: {}", out.stderr);
        assert!(out.stdout.is_empty(), "nothing converted");
        assert!(!tree.out("state.json").exists(), "no state written");
    }
}

#[test]
fn a_corrupt_state_file_is_a_clear_error() {
    let tree = Tree::new(2, 4, true);
    let mock = healthy_mock();
    for (i, garbage) in [&b"{ this is not json"[..], b"[1, 2, 3]", b"{\"files\": 7}", b""].iter().enumerate() {
        let state = tree.out(&format!("state-{i}.json"));
        std::fs::write(&state, garbage).unwrap();
        let up = upload(&tree, &mock.url(), &state, &[]);
        assert_eq!(up.out.code, 1, "{:?}: {}", String::from_utf8_lossy(garbage), up.context());
        assert!(up.out.stderr.contains(state.to_str().unwrap()), "the message names the state file: {}", up.out.stderr);
        assert_eq!(std::fs::read(&state).unwrap(), *garbage, "the bad state file is left as it was");

        let out = tree.out_str(&format!("convert-{i}.ndjson"));
        let conv = c2m(&["convert", tree.input(), "-o", &out, "--state", state.to_str().unwrap()]);
        assert_eq!(conv.code, 1, "convert: {}", conv.stderr);
        assert!(conv.stderr.contains(state.to_str().unwrap()), "{}", conv.stderr);
        assert!(!std::path::Path::new(&out).exists(), "no output written");
    }
    assert_eq!(mock.requests().len(), 0, "nothing was sent");
}

// ---------------------------------------------------------------------------------------------
// Interruptions
// ---------------------------------------------------------------------------------------------

#[test]
fn sigkill_mid_upload_leaves_a_valid_state_and_a_rerun_delivers_everything_once() {
    // 8 files x 50 events in batches of 10, one request at a time, 150 ms each: 6 s if left alone.
    let tree = Tree::new(8, 50, false);
    let expected = tree.expected();
    let mock = healthy_mock();
    mock.set_fault_every(1, Fault::Delay(Duration::from_millis(150)));
    let state = tree.out("state.json");
    let (report, rejects) = outputs(&tree);
    let mut args = upload_args(&tree, &mock.url(), &state, &report, &rejects);
    args.extend(["--workers", "1", "--batch-events", "10"].map(String::from));
    let child = spawn(&args);
    // The ledger is saved every 2 s while the run goes on: kill right after the first save.
    let saved = wait_until(Duration::from_secs(15), || state.exists());
    signal(&child, "-KILL");
    let (code, _) = wait(child, Duration::from_secs(10));
    assert!(saved, "the state was saved during the run");
    assert_eq!(code, None, "killed by the signal");
    let requests_before = mock.requests().len();
    assert!(requests_before < 40, "killed before the end ({requests_before} requests)");

    // The state parses (atomic writes), and names files whose events all reached Mixpanel.
    let recorded = state_files(&tree, &state);
    assert!(!recorded.is_empty() && recorded.len() < 8, "some files recorded: {recorded:?}");
    let delivered = ids(&mock.unique_events());
    for event in expected.iter().filter(|e| recorded.contains(&file_of(e))) {
        assert!(delivered.contains(&insert_id(event)), "file {} is in the state but not delivered", file_of(event));
    }
    assert!(!report.exists(), "no report from a killed run");

    // Rerun the same command (Mixpanel fast again): only the files not in the state are read.
    mock.clear_faults();
    let before = mock.events().len();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let rerun = collect(c2m(&refs), &report, &rejects);
    assert_eq!(rerun.out.code, 0, "{}", rerun.context());
    assert_invariants(&rerun.report);
    let n = recorded.len() as u64;
    assert_eq!(rerun.files(), (8 - n, 0, n), "{}", rerun.context());
    let resent = files_of(&mock.events()[before..]);
    assert!(resent.is_disjoint(&recorded), "files in the state are not sent again: {resent:?} vs {recorded:?}");
    assert!(rerun.rejects.is_empty(), "{}", rerun.context());
    assert_all_delivered_once(&mock, &expected, &rerun.context());
    assert_eq!(state_files(&tree, &state), (0..8).collect());
}

/// Sends `sig` mid-upload, checks the interrupted run's outputs, then reruns to the end.
fn interrupt_then_rerun(sig: &str, exit: i32) {
    // 6 files x 30 events in batches of 10, one request at a time, 100 ms each.
    let tree = Tree::new(6, 30, false);
    let expected = tree.expected();
    let mock = healthy_mock();
    mock.set_fault_every(1, Fault::Delay(Duration::from_millis(100)));
    let state = tree.out("state.json");
    let (report, rejects) = outputs(&tree);
    let mut args = upload_args(&tree, &mock.url(), &state, &report, &rejects);
    args.extend(["--workers", "1", "--batch-events", "10"].map(String::from));
    let child = spawn(&args);
    // A file is 3 batches: once 4 requests have been answered, a file has been settled.
    let landed = wait_until(Duration::from_secs(15), || mock.requests().len() >= 4);
    signal(&child, sig);
    let (code, out) = wait(child, Duration::from_secs(10));
    assert!(landed, "requests reached the mock before the signal");
    let run = collect(out, &report, &rejects);
    assert_eq!(code, Some(exit), "{sig}: {}", run.context());
    assert!(run.out.stderr.contains("stopped by a signal"), "{}", run.out.stderr);

    // The report: written, consistent, every input file accounted for.
    assert!(run.report.is_object(), "the report is written: {}", run.context());
    assert_invariants(&run.report);
    let (read, failed, skipped) = run.files();
    assert_eq!(read + failed + skipped, 6, "{}", run.context());
    assert!(read < 6 || !run.failed().is_empty(), "the run was cut short: {}", run.context());
    for reason in run.failed().keys() {
        assert_eq!(reason, "not_sent", "only not_sent failures: {}", run.context());
    }

    // Every emitted event is imported, or in the rejects file as not_sent; never both.
    let stored = ids(&mock.unique_events());
    let not_sent = run.rejects_with("not_sent");
    assert_eq!(not_sent.len(), run.rejects.len(), "only not_sent lines: {}", run.context());
    let unsent = ids(&not_sent);
    assert!(stored.is_disjoint(&unsent), "an event both imported and not_sent");
    let emitted = run.report["events"]["emitted"].as_u64().unwrap();
    assert_eq!(stored.len() + unsent.len(), emitted as usize, "imported + not_sent = emitted: {}", run.context());
    assert_eq!(run.report["upload"]["imported"].as_u64().unwrap(), stored.len() as u64);
    assert!(stored.union(&unsent).all(|id| ids(&expected).contains(id)));

    // The state holds exactly the files whose events all reached Mixpanel.
    let recorded = state_files(&tree, &state);
    assert!(!recorded.is_empty(), "a file was settled before the signal: {}", run.context());
    for file in &tree.files {
        let events: Vec<&Value> = expected.iter().filter(|e| file_of(e) == file.index).collect();
        let all_stored = events.iter().all(|e| stored.contains(&insert_id(e)));
        if recorded.contains(&file.index) {
            assert!(all_stored, "file {} is in the state but not all its events were imported", file.index);
        }
    }
    assert!(files_of(&not_sent).is_disjoint(&recorded), "files with not_sent events are not in the state");

    // Rerun: finishes the job.
    mock.clear_faults();
    let before = mock.events().len();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let rerun = collect(c2m(&refs), &report, &rejects);
    assert_eq!(rerun.out.code, 0, "{}", rerun.context());
    assert_invariants(&rerun.report);
    let n = recorded.len() as u64;
    assert_eq!(rerun.files(), (6 - n, 0, n), "{}", rerun.context());
    assert!(files_of(&mock.events()[before..]).is_disjoint(&recorded));
    assert_all_delivered_once(&mock, &expected, &rerun.context());
    assert_eq!(state_files(&tree, &state), (0..6).collect());
}

#[test]
fn sigint_mid_upload_exits_130_with_outputs_and_state_and_a_rerun_finishes() {
    interrupt_then_rerun("-INT", 130);
}

#[test]
fn sigterm_mid_upload_exits_143_with_outputs_and_state_and_a_rerun_finishes() {
    interrupt_then_rerun("-TERM", 143);
}

#[test]
fn a_second_sigint_exits_at_once() {
    let tree = Tree::new(2, 10, true);
    let mock = healthy_mock();
    // Each answer takes 3 s: a first SIGINT waits for the request in flight, a second does not.
    mock.set_fault_every(1, Fault::Delay(Duration::from_secs(3)));
    let state = tree.out("state.json");
    let (report, rejects) = outputs(&tree);
    let mut args = upload_args(&tree, &mock.url(), &state, &report, &rejects);
    args.extend(["--workers", "1"].map(String::from));
    let child = spawn(&args);
    assert!(wait_until(Duration::from_secs(10), || mock.stats().connections > 0), "the upload started");
    std::thread::sleep(Duration::from_millis(100));
    let started = std::time::Instant::now();
    signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, "-INT");
    let (code, out) = wait(child, Duration::from_secs(10));
    assert_eq!(code, Some(130), "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_millis(1500), "exited at once: {:?}", started.elapsed());
    if state.exists() {
        state_paths(&state); // still valid JSON
    }
}

// ---------------------------------------------------------------------------------------------
// Relative --since / --until
// ---------------------------------------------------------------------------------------------

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn relative_since_and_until_count_back_from_now() {
    const DAY: i64 = 86_400;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("currents");
    let now = now();
    // A recent file (queued an hour ago) with events 1, 2 and 10 days old; and an old file
    // (queued 10 days ago) with 10-day-old events.
    let ages = [("d1", DAY), ("d2", 2 * DAY), ("d10", 10 * DAY)];
    let mut rng = Rng::new(5);
    let recent: Vec<Value> = ages
        .iter()
        .flat_map(|(label, age)| (0..3).map(move |i| (label, now - age - i * 60)))
        .map(|(label, time)| {
            let mut r = gen_record(EMAIL_SEND, &mut rng, time);
            r["external_user_id"] = json!(format!("{label}-{time}"));
            r
        })
        .collect();
    write(&braze_path(&input, EMAIL_SEND, &date_hour(now - 3_600), 0, 1), EMAIL_SEND, &recent);
    let old: Vec<Value> = (0..4)
        .map(|i| {
            let mut r = gen_record(EMAIL_SEND, &mut rng, now - 10 * DAY - i);
            r["external_user_id"] = json!(format!("old-{i}"));
            r
        })
        .collect();
    write(&braze_path(&input, EMAIL_SEND, &date_hour(now - 10 * DAY), 0, 2), EMAIL_SEND, &old);

    let input = input.to_str().unwrap();
    let report = dir.path().join("report.json");
    let convert = |flags: &[&str]| {
        let mut args = vec!["convert", input, "--no-progress", "--report", report.to_str().unwrap()];
        args.extend_from_slice(flags);
        let out = c2m(&args);
        assert_eq!(out.code, 0, "{flags:?}: {}", out.stderr);
        let report = read_json(&report);
        assert_invariants(&report);
        let labels: BTreeSet<String> = out
            .stdout_ndjson()
            .iter()
            .map(|e| e["properties"]["distinct_id"].as_str().unwrap().split('-').next().unwrap().to_string())
            .collect();
        (out.stdout_ndjson().len(), labels, report)
    };
    let set = |labels: &[&str]| labels.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();

    let (n, labels, r) = convert(&["--since", "36h"]);
    assert_eq!((n, labels), (3, set(&["d1"])), "--since 36h keeps the day-old events only");
    assert_eq!(r["events"]["skipped"]["outside_time_window"], 6, "{r:#}");
    assert_eq!(r["files"], json!({"read": 1, "failed": 0, "skipped": 1}), "the 10-day-old folder is pruned");

    let (n, labels, r) = convert(&["--since", "7d"]);
    assert_eq!((n, labels), (6, set(&["d1", "d2"])), "--since 7d");
    assert_eq!(r["events"]["read"], 9, "the old file is not read: {r:#}");
    assert_eq!(r["files"]["skipped"], 1);

    let (n, labels, r) = convert(&["--since", "2w"]);
    assert_eq!((n, labels), (13, set(&["d1", "d2", "d10", "old"])), "--since 2w keeps everything");
    assert_eq!(r["files"]["read"], 2);

    let (n, labels, _) = convert(&["--since", "7d", "--until", "36h"]);
    assert_eq!((n, labels), (3, set(&["d2"])), "--since 7d --until 36h: the 2-day-old events");

    let (n, labels, _) = convert(&["--until", "7d"]);
    assert_eq!((n, labels), (7, set(&["d10", "old"])), "--until 7d: older than a week");

    let bad = c2m(&["convert", input, "--since", "7x"]);
    assert_eq!(bad.code, 2, "an unknown unit is a usage error: {}", bad.stderr);
    assert!(bad.stderr.contains("7x"), "{}", bad.stderr);
}

// ---------------------------------------------------------------------------------------------
// Completions and man page
// ---------------------------------------------------------------------------------------------

#[test]
fn completions_mention_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let out = c2m(&["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        let script = out.stdout_text();
        assert!(script.contains("currents2mixpanel"), "{shell}: names the program");
        for word in ["convert", "upload", "inspect", "events", "completions", "man"] {
            assert!(script.contains(word), "{shell} completion mentions {word}");
        }
        let option = if shell == "fish" { "-l state" } else { "--state" };
        assert!(script.contains(option), "{shell} completion knows the --state option");
    }
    let zsh = c2m(&["completions", "zsh"]).stdout_text();
    assert!(zsh.starts_with("#compdef currents2mixpanel"), "zsh: a compdef script");
    let fish = c2m(&["completions", "fish"]).stdout_text();
    assert!(fish.contains("complete -c currents2mixpanel"), "fish: complete commands");
    let bash = c2m(&["completions", "bash"]).stdout_text();
    assert!(bash.contains("complete -F"), "bash: registers a completion function");

    let bad = c2m(&["completions", "tcsh"]);
    assert_eq!(bad.code, 2, "an unknown shell is a usage error: {}", bad.stderr);
}

#[test]
fn man_prints_a_roff_page() {
    let out = c2m(&["man"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let page = out.stdout_text();
    assert!(page.starts_with(".TH") || page.contains(".SH NAME"), "roff: {}", &page[..page.len().min(200)]);
    assert!(page.contains(".TH currents2mixpanel") || page.contains(".TH \"currents2mixpanel\""), "title");
    assert!(page.contains(".SH NAME"));
    assert!(page.contains(".SH SUBCOMMANDS") || page.contains("upload"), "the subcommands are listed");
    for word in ["convert", "upload", "inspect", "events"] {
        assert!(page.contains(word), "the man page mentions {word}");
    }
}
