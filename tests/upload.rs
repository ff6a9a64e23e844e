//! Integration tests of `currents2mixpanel upload` (SPEC §5, §6) against the in-process mock of
//! Mixpanel's `/import`: delivery exactly once, auth and query per credential, regions, every
//! failure mode (429, 5xx, resets, timeouts, 413, partial 400, 401/403, retries exhausted), the
//! accounting of every emitted event, no secret in any output, dry runs and exit codes.
//!
//! Every test builds its own inputs in a temp dir and runs its own mock. The expected events come
//! from `convert` on the same inputs with the same flags.

mod common;
#[path = "upload/support.rs"]
mod support;

use std::time::Duration;

use c2m_testkit::mock::{ExpectedAuth, Fault, InsertIdKey, MockConfig, MockMixpanel};
use serde_json::{Value, json};

use support::*;

fn mock(config: MockConfig) -> MockMixpanel {
    MockMixpanel::start(config)
}

fn any_auth() -> MockMixpanel {
    mock(MockConfig::default())
}

fn token_mock() -> MockMixpanel {
    mock(MockConfig { auth: ExpectedAuth::Token(TOKEN.into()), ..MockConfig::default() })
}

// ---------------------------------------------------------------------------------------------
// Happy path
// ---------------------------------------------------------------------------------------------

#[test]
fn happy_path_delivers_every_event_exactly_once_as_gzip_ndjson() {
    let fx = Fixture::small(1);
    let expected = fx.expected(&["--token", TOKEN]);
    let mock = token_mock();
    let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--batch-events", "100"], &[]);
    assert_eq!(up.code(), 0, "{}", up.context());
    assert!(up.out.stdout.is_empty(), "a real upload prints nothing on stdout");
    assert!(up.rejects.is_empty(), "nothing failed: {}", up.context());
    assert_accounted(&expected, &mock, &up, true);

    // Exactly once: no duplicate in what the mock received, and it is what convert emits.
    let events = mock.events();
    assert_eq!(events.len(), expected.len(), "no event sent twice");
    assert_eq!(ids(&events), ids(&expected));
    assert!(events.iter().all(|e| e["properties"]["token"] == TOKEN), "the token is in every event");

    let requests = mock.requests();
    assert_requests_wellformed(&requests, true);
    assert!(requests.iter().all(|r| r.status == Some(200)));
    assert!(requests.iter().all(|r| r.header("authorization") == Some(basic(TOKEN, "").as_str())));
    assert_eq!(requests.len(), expected.len().div_ceil(100), "batches of 100 events");
    assert_eq!(up.upload_counts()["batches"], requests.len(), "upload.batches = requests sent");
    assert_eq!(up.retries(), 0);
    assert_eq!(up.failed(), Default::default(), "upload.failed is empty");
    assert!(up.out.stderr.contains(&mock.url()), "the summary names the destination: {}", up.out.stderr);
}

#[test]
fn no_gzip_sends_identity_bodies() {
    let fx = Fixture::small(2);
    let expected = fx.expected(&["--token", TOKEN]);
    let mock = any_auth();
    let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--no-gzip", "--batch-events", "150"], &[]);
    assert_eq!(up.code(), 0, "{}", up.context());
    let requests = mock.requests();
    assert_requests_wellformed(&requests, false);
    assert!(requests.iter().all(|r| r.status == Some(200) && r.uncompressed_bytes.is_some()));
    let stored = mock.events();
    assert_eq!(stored.len(), expected.len());
    assert_eq!(ids(&stored), ids(&expected));
    assert_eq!(up.imported(), expected.len() as u64);
}

#[test]
fn workers_1_and_8_both_deliver_everything_exactly_once() {
    let fx = Fixture::small(3);
    let expected = fx.expected(&[]);
    for workers in ["1", "8"] {
        let mock = any_auth();
        if workers == "8" {
            // Slow answers, so that requests overlap when they can.
            mock.set_fault_every(1, Fault::Delay(Duration::from_millis(150)));
        }
        let up = upload(&fx, &mock.url(), &["--secret", API_SECRET, "--workers", workers, "--batch-events", "25"], &[]);
        assert_eq!(up.code(), 0, "--workers {workers}: {}", up.context());
        assert_accounted(&expected, &mock, &up, true);
        let events = mock.events();
        assert_eq!(events.len(), expected.len(), "--workers {workers}: each event sent once");
        assert_eq!(ids(&events), ids(&expected), "--workers {workers}");
        let requests = mock.requests();
        assert_eq!(requests.len(), expected.len().div_ceil(25), "--workers {workers}: one request per batch");
        assert!(requests.iter().all(|r| r.events <= 25), "--workers {workers}: at most --batch-events per request");
        let connections = mock.stats().connections;
        if workers == "1" {
            assert_eq!(connections, 1, "one worker: one kept-alive connection");
        } else {
            assert!(connections >= 4, "--workers 8 keeps several requests in flight: {connections} connections");
        }
    }
}

#[test]
fn batches_never_exceed_2000_events() {
    // 3 files × 1000 records, ~10% skipped: more than 2000 emitted events, small enough that
    // only the event count cuts batches.
    let fx = Fixture::tree(&["users.messages.email.Send"], 3, 1000, 4);
    let expected = fx.expected(&["--token", TOKEN]);
    assert!(expected.len() > 2000, "the fixture needs more than one full batch");
    let mock = any_auth();
    let up = upload(&fx, &mock.url(), &["--token", TOKEN], &[]);
    assert_eq!(up.code(), 0, "{}", up.context());
    assert_accounted(&expected, &mock, &up, true);
    let sizes: Vec<usize> = mock.requests().iter().map(|r| r.events).collect();
    assert!(sizes.iter().all(|n| *n <= 2000), "at most 2000 events per request: {sizes:?}");
    assert_eq!(sizes.iter().filter(|n| **n == 2000).count(), expected.len() / 2000, "full batches: {sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), expected.len());
}

#[test]
fn batches_never_exceed_batch_bytes_uncompressed() {
    // 60 events of ~21 KB: ~1.3 MB, more than one 1,000,000-byte batch.
    let fx = Fixture::big(&[20_000; 60], 5);
    let expected = fx.expected(&["--token", TOKEN]);
    let mock = any_auth();
    let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--batch-bytes", "1000000"], &[]);
    assert_eq!(up.code(), 0, "{}", up.context());
    assert_accounted(&expected, &mock, &up, true);
    let requests = mock.requests();
    let sizes: Vec<u64> = requests.iter().map(|r| r.uncompressed_bytes.expect("decoded")).collect();
    assert!(sizes.len() >= 2, "the byte limit cut the input into several batches: {sizes:?}");
    assert!(sizes.iter().all(|b| *b <= 1_000_000), "no body above --batch-bytes: {sizes:?}");
    assert!(sizes.iter().any(|b| *b > 900_000), "batches are filled up to the limit: {sizes:?}");
}

// ---------------------------------------------------------------------------------------------
// Authentication, query, regions
// ---------------------------------------------------------------------------------------------

struct AuthCase {
    name: &'static str,
    args: Vec<&'static str>,
    env: Vec<(&'static str, &'static str)>,
    expect: ExpectedAuth,
    token_in_events: bool,
}

#[test]
fn each_auth_mode_sends_the_right_header_and_query() {
    let fx = Fixture::small(6);
    let with_token = fx.expected(&["--token", TOKEN]);
    let sa = || ExpectedAuth::ServiceAccount {
        user: SA_USER.into(),
        secret: SA_SECRET.into(),
        project_id: PROJECT_ID.into(),
    };
    let sa_arg: &'static str = Box::leak(format!("{SA_USER}:{SA_SECRET}").into_boxed_str());
    let cases = vec![
        AuthCase {
            name: "service account (flags)",
            args: vec!["--service-account", sa_arg, "--project-id", PROJECT_ID],
            env: vec![],
            expect: sa(),
            token_in_events: false,
        },
        AuthCase {
            name: "service account (env)",
            args: vec![],
            env: vec![("MIXPANEL_SERVICE_ACCOUNT", sa_arg), ("MIXPANEL_PROJECT_ID", PROJECT_ID)],
            expect: sa(),
            token_in_events: false,
        },
        AuthCase {
            name: "secret (flag)",
            args: vec!["--secret", API_SECRET],
            env: vec![],
            expect: ExpectedAuth::Secret(API_SECRET.into()),
            token_in_events: false,
        },
        AuthCase {
            name: "secret (env)",
            args: vec![],
            env: vec![("MIXPANEL_API_SECRET", API_SECRET)],
            expect: ExpectedAuth::Secret(API_SECRET.into()),
            token_in_events: false,
        },
        AuthCase {
            name: "token (flag)",
            args: vec!["--token", TOKEN],
            env: vec![],
            expect: ExpectedAuth::Token(TOKEN.into()),
            token_in_events: true,
        },
        AuthCase {
            name: "token (env)",
            args: vec![],
            env: vec![("MIXPANEL_TOKEN", TOKEN)],
            expect: ExpectedAuth::Token(TOKEN.into()),
            token_in_events: true,
        },
        AuthCase {
            name: "all three: the service account wins, the token still goes into events",
            args: vec!["--service-account", sa_arg, "--project-id", PROJECT_ID, "--secret", API_SECRET],
            env: vec![("MIXPANEL_TOKEN", TOKEN)],
            expect: sa(),
            token_in_events: true,
        },
        AuthCase {
            name: "secret and token: the secret wins",
            args: vec!["--token", TOKEN],
            env: vec![("MIXPANEL_API_SECRET", API_SECRET)],
            expect: ExpectedAuth::Secret(API_SECRET.into()),
            token_in_events: true,
        },
    ];
    for case in cases {
        let mock = mock(MockConfig { auth: case.expect.clone(), ..MockConfig::default() });
        let mut args = case.args.clone();
        args.extend(["--batch-events", "200"]);
        let up = upload(&fx, &mock.url(), &args, &case.env);
        assert_eq!(up.code(), 0, "{}: {}", case.name, up.context());
        let requests = mock.requests();
        assert_requests_wellformed(&requests, true);
        let (header, project_id) = match &case.expect {
            ExpectedAuth::ServiceAccount { .. } => (basic(SA_USER, SA_SECRET), Some(PROJECT_ID)),
            ExpectedAuth::Secret(s) | ExpectedAuth::Token(s) => (basic(s, ""), None),
            ExpectedAuth::Any => unreachable!(),
        };
        for r in &requests {
            assert_eq!(r.header("authorization"), Some(header.as_str()), "{}: auth header", case.name);
            assert_eq!(r.query_param("project_id"), project_id, "{}: project_id in the query", case.name);
            assert_eq!(r.status, Some(200), "{}", case.name);
        }
        let stored = mock.events();
        assert_eq!(stored.len(), with_token.len(), "{}: every event once", case.name);
        assert_eq!(ids(&stored), ids(&with_token), "{}", case.name);
        for e in &stored {
            let token = &e["properties"]["token"];
            if case.token_in_events {
                assert_eq!(token, TOKEN, "{}: token property", case.name);
            } else {
                assert!(token.is_null(), "{}: no token property without --token", case.name);
            }
        }
        let warned = up.out.stderr.contains("2027-03-03");
        let secret_auth = matches!(case.expect, ExpectedAuth::Secret(_));
        assert_eq!(warned, secret_auth, "{}: the API secret retirement warning: {}", case.name, up.out.stderr);
        let describe = match case.expect {
            ExpectedAuth::ServiceAccount { .. } => "service account",
            ExpectedAuth::Secret(_) => "API secret",
            _ => "token",
        };
        assert!(up.out.stderr.contains(describe), "{}: the summary says how it authenticated", case.name);
    }
}

#[test]
fn service_account_project_id_is_percent_encoded_in_the_query() {
    let fx = Fixture::small(7);
    let project = "12 34&x=1";
    let mock = mock(MockConfig {
        auth: ExpectedAuth::ServiceAccount {
            user: SA_USER.into(),
            secret: SA_SECRET.into(),
            project_id: project.into(),
        },
        ..MockConfig::default()
    });
    let sa = format!("{SA_USER}:{SA_SECRET}");
    let up = upload(&fx, &mock.url(), &["--service-account", &sa, "--project-id", project], &[]);
    assert_eq!(up.code(), 0, "{}", up.context());
    for r in mock.requests() {
        assert_eq!(r.query_param("project_id"), Some(project), "{:?}", r.query);
        assert_eq!(r.query_param("x"), None, "the project id cannot inject query parameters: {:?}", r.query);
    }
}

#[test]
fn dry_run_summary_names_the_region_host() {
    let fx = Fixture::small(8);
    for (region, host) in [
        (None, "https://api.mixpanel.com"),
        (Some("eu"), "https://api-eu.mixpanel.com"),
        (Some("in"), "https://api-in.mixpanel.com"),
    ] {
        let report = fx.out("dry-region.json");
        let mut args = vec!["upload", fx.input(), "--dry-run", "--no-progress", "--report", report.to_str().unwrap()];
        if let Some(region) = region {
            args.extend(["--region", region]);
        }
        let out = common::c2m(&args);
        assert_eq!(out.code, 0, "--region {region:?}: {}", out.stderr);
        assert!(out.stderr.contains(host), "--region {region:?}: the summary names {host}: {}", out.stderr);
        for other in ["https://api.mixpanel.com", "https://api-eu.mixpanel.com", "https://api-in.mixpanel.com"] {
            if other != host {
                assert!(!out.stderr.contains(other), "--region {region:?} must not mention {other}");
            }
        }
        assert!(common::read_json(&report)["upload"].is_null(), "a dry run uploads nothing");
    }
}

#[test]
fn plain_http_to_a_non_loopback_host_is_refused() {
    let fx = Fixture::small(9);
    let mock = any_auth();
    for url in ["http://example.com", "http://127.0.0.1.example.com:80", "http://localhost.example.com"] {
        let up = upload(&fx, url, &["--token", TOKEN], &[]);
        assert_eq!(up.code(), 2, "--api-url {url}: {}", up.context());
        assert!(up.out.stderr.contains("http://"), "--api-url {url}: the error explains: {}", up.out.stderr);
        assert!(up.report.is_null(), "--api-url {url}: refused before any work");
    }
    // Loopback forms are fine (the mock listens on 127.0.0.1).
    let localhost = mock.url().replace("127.0.0.1", "localhost");
    let up = upload(&fx, &format!("{localhost}/"), &["--token", TOKEN], &[]);
    assert_eq!(up.code(), 0, "localhost with a trailing slash: {}", up.context());
    assert!(mock.requests().iter().all(|r| r.path == "/import"), "the trailing slash is not doubled");
}

#[test]
fn plain_http_with_a_loopback_userinfo_is_still_refused() {
    // `http://127.0.0.1:1@HOST/` is a request to HOST (127.0.0.1:1 is the userinfo), in clear
    // text with the credentials: it must be refused like any non-loopback http:// URL.
    let fx = Fixture::small(10);
    let mut accepted = Vec::new();
    for url in
        ["http://127.0.0.1:1@c2m-test.invalid", "http://[::1]@c2m-test.invalid", "http://localhost@c2m-test.invalid"]
    {
        let up = upload(&fx, url, &["--token", TOKEN, "--max-retries", "0", "--timeout", "1"], &[]);
        if up.code() != 2 {
            accepted.push(format!("{url} (exit {}, then: {:?})", up.code(), up.rejects.first().map(|r| &r["message"])));
        }
    }
    assert!(accepted.is_empty(), "plain http:// to a non-loopback host was accepted: {accepted:#?}");
}

// ---------------------------------------------------------------------------------------------
// Transient failures: retried until they pass
// ---------------------------------------------------------------------------------------------

#[test]
fn rate_limit_storm_then_success() {
    let fx = Fixture::small(11);
    let expected = fx.expected(&[]);
    let mock = any_auth();
    mock.push_faults(std::iter::repeat_n(Fault::rate_limited(), 6));
    let up = upload(&fx, &mock.url(), &["--secret", API_SECRET, "--workers", "2", "--batch-events", "100"], &[]);
    assert_eq!(up.code(), 0, "{}", up.context());
    assert_accounted(&expected, &mock, &up, true);
    assert_eq!(mock.stats().by_status.get(&429), Some(&6));
    assert_eq!(up.retries(), 6, "each 429 costs one retry");
    assert_eq!(mock.events().len(), expected.len(), "a 429 stores nothing, so no duplicates");
}

#[test]
fn server_errors_and_odd_bodies_are_retried() {
    let fx = Fixture::small(12);
    let expected = fx.expected(&["--token", TOKEN]);
    let mock = any_auth();
    mock.push_faults([
        Fault::status(500, r#"{"code":500,"error":"Internal Server Error","status":"Internal Server Error"}"#),
        Fault::status(502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
        Fault::status(503, ""),
        Fault::status(500, "upstream connect error or disconnect/reset before headers"),
        Fault::status(504, "\u{0}\u{1}garbage\u{7f}"),
        Fault::status(408, "timeout"),
        Fault::status(503, "x".repeat(1_500_000)), // bigger than any real answer
    ]);
    let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--workers", "1", "--batch-events", "100"], &[]);
    assert_eq!(up.code(), 0, "{}", up.context());
    assert_accounted(&expected, &mock, &up, true);
    assert_eq!(up.retries(), 7, "each of the 7 faults cost one retry");
    assert_eq!(mock.events().len(), expected.len());
}

#[test]
fn a_200_without_a_json_body_is_retried_not_counted_as_imported() {
    let fx = Fixture::small(13);
    let expected = fx.expected(&["--token", TOKEN]);
    let mock = any_auth();
    mock.push_faults([Fault::status(200, "OK"), Fault::status(200, "")]);
    let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--workers", "1", "--batch-events", "100"], &[]);
    assert_eq!(up.code(), 0, "{}", up.context());
    assert_accounted(&expected, &mock, &up, true);
    assert_eq!(up.retries(), 2);
}

#[test]
fn connection_resets_are_retried() {
    let fx = Fixture::small(14);
    let expected = fx.expected(&["--token", TOKEN]);
    let mock = any_auth();
    mock.push_faults([Fault::Reset, Fault::Reset, Fault::Reset]);
    let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--workers", "2", "--batch-events", "100"], &[]);
    assert_eq!(up.code(), 0, "{}", up.context());
    assert_accounted(&expected, &mock, &up, true);
    assert_eq!(mock.stats().resets, 3);
    assert_eq!(up.retries(), 3, "every reset costs one retry: {}", up.context());
    assert_eq!(mock.events().len(), expected.len(), "a reset request stores nothing");
}

#[test]
fn a_response_slower_than_the_timeout_is_retried() {
    let fx = Fixture::small(15);
    let expected = fx.expected(&["--token", TOKEN]);
    let mock = any_auth();
    mock.push_faults([Fault::Delay(Duration::from_secs(2))]);
    let started = std::time::Instant::now();
    let up =
        upload(&fx, &mock.url(), &["--token", TOKEN, "--timeout", "1", "--workers", "1", "--batch-events", "200"], &[]);
    let took = started.elapsed();
    assert_eq!(up.code(), 0, "{}", up.context());
    assert!(up.retries() >= 1, "the slow request was given up on and retried: {}", up.context());
    assert!(took < Duration::from_secs(10), "the client did not wait indefinitely: {took:?}");
    // The delayed request may have been stored too (as a real server would): Mixpanel dedupes.
    assert_eq!(ids(&mock.unique_events()), ids(&expected));
    assert_eq!(up.imported(), expected.len() as u64);
    assert_eq!(up.failed(), Default::default());
    common::assert_invariants(&up.report);
}

#[test]
fn a_short_import_count_is_resent() {
    let fx = Fixture::small(16);
    let expected = fx.expected(&["--token", TOKEN]);
    let mock = any_auth();
    // All events in one batch; the first answer claims fewer were imported.
    let short = json!({"code": 200, "num_records_imported": expected.len() - 3, "status": "OK"}).to_string();
    mock.push_faults([Fault::status(200, short)]);
    let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--workers", "1"], &[]);
    assert_eq!(up.code(), 0, "{}", up.context());
    assert_accounted(&expected, &mock, &up, true);
    assert_eq!(mock.requests().len(), 2, "the short batch is sent again");
    assert_eq!(up.retries(), 1);
}

// ---------------------------------------------------------------------------------------------
// Permanent failures: accounted, never lost
// ---------------------------------------------------------------------------------------------

#[test]
fn retries_exhausted_fail_as_gave_up_after_retries() {
    let fx = Fixture::small(17);
    let expected = fx.expected(&["--token", TOKEN]);
    let mock = any_auth();
    mock.set_fault_every(1, Fault::status(503, r#"{"error":"Service Unavailable"}"#));
    let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--max-retries", "2", "--batch-events", "50"], &[]);
    assert_eq!(up.code(), 3, "{}", up.context());
    assert_accounted(&expected, &mock, &up, true);
    let batches = expected.len().div_ceil(50);
    assert_eq!(mock.requests().len(), 3 * batches, "each batch: 1 try + 2 retries");
    assert_eq!(up.retries(), 2 * batches as u64);
    assert_eq!(up.imported(), 0);
    assert_eq!(up.failed(), [("gave_up_after_retries".to_string(), expected.len() as u64)].into());
    let gave_up = up.rejects_with("gave_up_after_retries");
    assert_eq!(gave_up.len(), expected.len());
    assert!(gave_up.iter().all(|r| r["message"].as_str().unwrap().contains("503")), "the message says why");
    assert!(up.out.stderr.contains("gave_up_after_retries"), "the summary says so: {}", up.out.stderr);
}

#[test]
fn retries_exhausted_after_resets_and_timeouts_too() {
    let fx = Fixture::small(18);
    let expected = fx.expected(&["--token", TOKEN]);
    let mock = any_auth();
    mock.set_fault_every(1, Fault::Reset);
    let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--max-retries", "1", "--batch-events", "100"], &[]);
    assert_eq!(up.code(), 3, "{}", up.context());
    assert_accounted(&expected, &mock, &up, true);
    assert_eq!(up.failed(), [("gave_up_after_retries".to_string(), expected.len() as u64)].into());
}

#[test]
fn nothing_listening_fails_as_gave_up_after_retries() {
    let fx = Fixture::small(19);
    let expected = fx.expected(&["--token", TOKEN]);
    let up = upload(&fx, &dead_url(), &["--token", TOKEN, "--max-retries", "1", "--batch-events", "100"], &[]);
    assert_eq!(up.code(), 3, "{}", up.context());
    common::assert_invariants(&up.report);
    assert_eq!(up.failed(), [("gave_up_after_retries".to_string(), expected.len() as u64)].into());
    assert_eq!(up.failed_ids(), ids(&expected));
}

#[test]
fn too_large_batches_are_split_until_they_fit() {
    // 120 events of ~21 KB; batches of up to 1,000,000 bytes; the mock takes at most 300,000.
    let fx = Fixture::big(&[20_000; 120], 20);
    let expected = fx.expected(&["--token", TOKEN]);
    let mock = mock(MockConfig { max_body_bytes: 300_000, ..MockConfig::default() });
    let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--batch-bytes", "1000000", "--workers", "3"], &[]);
    assert_eq!(up.code(), 0, "{}", up.context());
    assert_accounted(&expected, &mock, &up, true);
    let requests = mock.requests();
    let too_large = requests.iter().filter(|r| r.status == Some(413)).count();
    assert!(too_large >= 2, "the full batches were refused with 413: {too_large}");
    for r in requests.iter().filter(|r| r.status == Some(200)) {
        assert!(r.uncompressed_bytes.unwrap() <= 300_000, "accepted halves fit the limit");
    }
    assert_eq!(mock.events().len(), expected.len(), "a 413 stores nothing: no duplicates after the split");
    assert_eq!(up.retries(), 0, "a split is not a retry");
}

#[test]
fn a_single_event_too_large_for_the_server_is_rejected_not_split_forever() {
    let mut pads = vec![2_000; 30];
    pads[7] = 150_000;
    let fx = Fixture::big(&pads, 21);
    let expected = fx.expected(&["--token", TOKEN]);
    let big = insert_id(&expected[7]);
    let mock = mock(MockConfig { max_body_bytes: 100_000, ..MockConfig::default() });
    let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--workers", "1"], &[]);
    assert_eq!(up.code(), 3, "{}", up.context());
    assert_accounted(&expected, &mock, &up, true);
    let rejected = up.rejects_with("rejected_by_mixpanel");
    assert_eq!(rejected.len(), 1, "{}", up.context());
    assert_eq!(insert_id(&rejected[0]["record"]), big);
    assert!(rejected[0]["message"].as_str().unwrap().contains("413"), "{}", rejected[0]);
    assert_eq!(up.imported(), expected.len() as u64 - 1);
}

#[test]
fn partial_400_fails_only_the_named_events_and_is_never_resent() {
    let fx = Fixture::small(22);
    let expected = fx.expected(&["--token", TOKEN]);
    // Three users whose events Mixpanel refuses.
    let mut users: Vec<String> =
        expected.iter().map(|e| e["properties"]["distinct_id"].as_str().unwrap().to_string()).collect();
    users.sort();
    users.dedup();
    let refused: Vec<String> = users.iter().step_by(users.len() / 3).take(3).cloned().collect();
    let refused_ids: std::collections::BTreeSet<String> = expected
        .iter()
        .filter(|e| refused.iter().any(|u| e["properties"]["distinct_id"] == u.as_str()))
        .map(insert_id)
        .collect();
    assert!(!refused_ids.is_empty());
    for key in [InsertIdKey::InsertId, InsertIdKey::DollarInsertId] {
        let mock = mock(MockConfig {
            auth: ExpectedAuth::Token(TOKEN.into()),
            reject_distinct_ids: refused.clone(),
            insert_id_key: key,
            ..MockConfig::default()
        });
        let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--batch-events", "40"], &[]);
        assert_eq!(up.code(), 3, "{key:?}: {}", up.context());
        assert_accounted(&expected, &mock, &up, true);
        let rejected = up.rejects_with("rejected_by_mixpanel");
        let got: std::collections::BTreeSet<String> = rejected.iter().map(|r| insert_id(&r["record"])).collect();
        assert_eq!(got, refused_ids, "{key:?}: exactly the refused users' events");
        assert!(
            rejected.iter().all(|r| r["message"].as_str().unwrap().contains("distinct_id")),
            "{key:?}: Mixpanel's message is kept"
        );
        assert_eq!(up.failed(), [("rejected_by_mixpanel".to_string(), refused_ids.len() as u64)].into());
        assert_eq!(up.retries(), 0, "{key:?}: a partial 400 is not retried");
        assert_eq!(mock.requests().len(), expected.len().div_ceil(40), "{key:?}: no batch resent");
        assert_eq!(mock.events().len(), expected.len() - refused_ids.len(), "{key:?}: no duplicates");
    }
}

#[test]
fn partial_400_naming_events_only_by_insert_id_fails_those_events() {
    // Mixpanel's docs show `failed_records` entries keyed `insert_id` or `$insert_id`; without
    // an index the tool must find the event by its id.
    let fx = Fixture::small(23);
    let expected = fx.expected(&["--token", TOKEN]);
    for key in ["insert_id", "$insert_id"] {
        let (a, b) = (insert_id(&expected[5]), insert_id(&expected[expected.len() - 2]));
        let body = json!({
            "code": 400, "error": "some data points in the request failed validation", "status": "Bad Request",
            "num_records_imported": expected.len() - 2,
            "failed_records": [
                {(key): a, "field": "properties.time", "message": "msg-A"},
                {(key): b, "field": "properties.distinct_id", "message": "msg-B"},
            ],
        });
        let mock = any_auth();
        mock.push_faults([Fault::status(400, body.to_string())]);
        let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--workers", "1"], &[]);
        assert_eq!(up.code(), 3, "{key}: {}", up.context());
        common::assert_invariants(&up.report);
        assert_eq!(mock.requests().len(), 1, "{key}: all events fit one batch, never resent");
        let rejected = up.rejects_with("rejected_by_mixpanel");
        let got: Vec<(String, &str)> =
            rejected.iter().map(|r| (insert_id(&r["record"]), r["message"].as_str().unwrap())).collect();
        assert_eq!(got, [(a.clone(), "msg-A"), (b.clone(), "msg-B")], "{key}");
        let by = by_id(&expected);
        assert_eq!(rejected[0]["record"], without_token(&by[&a]), "{key}: the Mixpanel event, without token");
        assert_eq!(up.failed(), [("rejected_by_mixpanel".to_string(), 2)].into(), "{key}");
        assert_eq!(up.imported(), expected.len() as u64 - 2, "{key}");
    }
}

#[test]
fn a_short_import_count_after_the_last_retry_fails_as_import_count_mismatch() {
    let fx = Fixture::small(24);
    let expected = fx.expected(&["--token", TOKEN]);
    let mock = any_auth();
    let short = json!({"code": 200, "num_records_imported": expected.len() - 3, "status": "OK"}).to_string();
    mock.push_faults([Fault::status(200, short)]);
    let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--workers", "1", "--max-retries", "0"], &[]);
    assert_eq!(up.code(), 3, "{}", up.context());
    common::assert_invariants(&up.report);
    assert_eq!(up.failed(), [("import_count_mismatch".to_string(), 3)].into(), "the shortfall is counted");
    assert_eq!(up.imported(), expected.len() as u64 - 3);
    // Which 3 are missing is unknown: the whole batch is listed so it can be resent.
    let listed = up.rejects_with("import_count_mismatch");
    assert_eq!(listed.len(), expected.len(), "{}", up.context());
    assert_eq!(up.failed_ids(), ids(&expected));
    assert!(up.rejects.iter().all(|r| r["record"]["properties"]["token"].is_null()));
}

#[test]
fn unauthorized_stops_the_run_and_accounts_the_rest_as_not_sent() {
    let fx = Fixture::tree(&[CUSTOM_EVENT, "users.messages.email.Send"], 4, 60, 25);
    let expected = fx.expected(&["--token", TOKEN]);
    let mock = mock(MockConfig { auth: ExpectedAuth::Token("the-right-token".into()), ..MockConfig::default() });
    let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--batch-events", "20", "--workers", "2", "-j", "1"], &[]);
    assert_eq!(up.code(), 1, "{}", up.context());
    let stderr = up.out.stderr.to_lowercase();
    assert!(stderr.contains("credentials"), "the error names the credentials: {}", up.out.stderr);
    assert!(stderr.contains("401"), "and the status: {}", up.out.stderr);
    assert_accounted(&expected, &mock, &up, false);
    assert!(mock.events().is_empty());
    assert_eq!(up.imported(), 0);
    let emitted = up.emitted();
    assert!(emitted > 0, "{}", up.context());
    assert_eq!(up.failed(), [("not_sent".to_string(), emitted)].into());
    assert_eq!(up.rejects_with("not_sent").len() as u64, emitted);
    assert!(mock.requests().len() <= 4, "the run stops at once, not after every batch: {}", mock.requests().len());
    assert!(up.rejects.iter().all(|r| r["record"]["properties"]["token"].is_null()), "no token in rejects");
}

#[test]
fn forbidden_with_a_service_account_stops_the_run() {
    let fx = Fixture::small(26);
    let expected = fx.expected(&[]);
    let mock = any_auth();
    mock.push_faults([Fault::status(
        403,
        r#"{"code":403,"error":"service account lacks permission","status":"Forbidden"}"#,
    )]);
    let sa = format!("{SA_USER}:{SA_SECRET}");
    let up = upload(
        &fx,
        &mock.url(),
        &["--service-account", &sa, "--project-id", PROJECT_ID, "--batch-events", "30", "--workers", "1"],
        &[],
    );
    assert_eq!(up.code(), 1, "{}", up.context());
    assert!(up.out.stderr.contains("lacks permission"), "Mixpanel's reason is shown: {}", up.out.stderr);
    assert!(up.out.stderr.to_lowercase().contains("credentials"), "{}", up.out.stderr);
    assert_accounted(&expected, &mock, &up, false);
    assert_eq!(mock.requests().len(), 1, "one worker: nothing is sent after the 403");
    assert_eq!(up.failed(), [("not_sent".to_string(), up.emitted())].into());
}

// ---------------------------------------------------------------------------------------------
// Dry run
// ---------------------------------------------------------------------------------------------

#[test]
fn dry_run_needs_no_network_nor_credentials_and_previews_events() {
    let fx = Fixture::small(27);
    let expected = fx.expected(&[]);
    let url = dead_url();
    let report = fx.out("dry.json");
    let rejects = fx.out("dry-rejects.ndjson");
    let args = [
        "upload",
        fx.input(),
        "--dry-run",
        "--api-url",
        &url,
        "--preview",
        "3",
        "--batch-events",
        "100",
        "--no-progress",
        "--report",
        report.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
    ];
    let up = run_and_check(&args, &[], &report, &rejects);
    assert_eq!(up.code(), 0, "{}", up.context());
    let text = up.out.stdout_text();
    let previews: Vec<Value> =
        serde_json::Deserializer::from_str(&text).into_iter::<Value>().map(|v| v.expect("JSON")).collect();
    assert_eq!(previews.len(), 3, "--preview 3 prints 3 events:\n{text}");
    assert_eq!(previews, expected[..3], "the first 3 events, as convert emits them");
    assert!(text.starts_with("{\n  \"event\": "), "pretty-printed:\n{text}");
    let batches = expected.len().div_ceil(100);
    let summary = format!("would send {} events in {} batches", thousands(expected.len()), batches);
    assert!(up.out.stderr.contains(&summary), "expected {summary:?} in:\n{}", up.out.stderr);
    common::assert_invariants(&up.report);
    assert_eq!(up.emitted(), expected.len() as u64);
    assert!(up.report["upload"].is_null());
    assert!(up.rejects.is_empty());

    // The batch count is what a real upload with the same flags sends.
    let mock = any_auth();
    let real = upload(&fx, &mock.url(), &["--token", TOKEN, "--batch-events", "100"], &[]);
    assert_eq!(real.code(), 0, "{}", real.context());
    assert_eq!(mock.requests().len(), batches);
}

#[test]
fn dry_run_preview_hides_the_token() {
    let fx = Fixture::small(28);
    let url = dead_url();
    let report = fx.out("dry-token.json");
    let rejects = fx.out("dry-token-rejects.ndjson");
    let args = [
        "upload",
        fx.input(),
        "--dry-run",
        "--api-url",
        &url,
        "--preview",
        "2",
        "--no-progress",
        "--report",
        report.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
    ];
    // The token comes from the environment here; run_and_check asserts it appears nowhere.
    let up = run_and_check(&args, &[("MIXPANEL_TOKEN", TOKEN)], &report, &rejects);
    assert_eq!(up.code(), 0, "{}", up.context());
    let text = up.out.stdout_text();
    let previews: Vec<Value> =
        serde_json::Deserializer::from_str(&text).into_iter::<Value>().map(|v| v.expect("JSON")).collect();
    assert_eq!(previews.len(), 2);
    assert!(previews.iter().all(|e| e["properties"]["token"] == "***"), "the token is masked:\n{text}");
}

// ---------------------------------------------------------------------------------------------
// Exit codes and usage errors
// ---------------------------------------------------------------------------------------------

#[test]
fn usage_errors_exit_2_before_sending_anything() {
    let fx = Fixture::small(29);
    let mock = any_auth();
    let sa = format!("{SA_USER}:{SA_SECRET}");
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        ("no credentials", vec![], vec![], "credentials"),
        ("empty credentials", vec!["--token", ""], vec![("MIXPANEL_API_SECRET", "")], "credentials"),
        ("service account without project", vec!["--service-account", &sa], vec![], "--project-id"),
        ("service account (env) without project", vec![], vec![("MIXPANEL_SERVICE_ACCOUNT", &sa)], "--project-id"),
        (
            "service account without a colon",
            vec!["--service-account", SA_SECRET, "--project-id", PROJECT_ID],
            vec![],
            "USER:SECRET",
        ),
        ("--batch-events 2001", vec!["--token", TOKEN, "--batch-events", "2001"], vec![], "--batch-events"),
        ("--batch-events 0", vec!["--token", TOKEN, "--batch-events", "0"], vec![], "--batch-events"),
        ("--batch-bytes too small", vec!["--token", TOKEN, "--batch-bytes", "999999"], vec![], "--batch-bytes"),
        ("--batch-bytes too big", vec!["--token", TOKEN, "--batch-bytes", "10000001"], vec![], "--batch-bytes"),
        ("--workers 0", vec!["--token", TOKEN, "--workers", "0"], vec![], "--workers"),
        ("--timeout 0", vec!["--token", TOKEN, "--timeout", "0"], vec![], "--timeout"),
        ("bad region", vec!["--token", TOKEN, "--region", "mars"], vec![], "mars"),
        ("not a URL", vec!["--token", TOKEN, "--api-url", "ftp://127.0.0.1/"], vec![], "--api-url"),
    ];
    for (name, args, env, says) in cases {
        let up = upload(&fx, &mock.url(), &args, &env);
        assert_eq!(up.code(), 2, "{name}: {}", up.context());
        assert!(up.out.stderr.contains(says), "{name}: the error mentions {says:?}: {}", up.out.stderr);
        assert!(up.report.is_null(), "{name}: no run happened");
    }
    assert!(mock.requests().is_empty(), "nothing was sent");
}

#[test]
fn batch_events_2000_is_accepted_and_exit_0_when_clean() {
    let fx = Fixture::small(30);
    let mock = any_auth();
    let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--batch-events", "2000", "--batch-bytes", "10000000"], &[]);
    assert_eq!(up.code(), 0, "{}", up.context());
}

#[test]
fn transform_rejects_and_upload_failures_both_give_exit_3_and_land_in_the_rejects_file() {
    // Edge-case files contain records the transform rejects; the mock also refuses one user.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let opts = c2m_testkit::fixtures::TreeOptions {
        seed: 31,
        files_per_type: 1,
        events_per_file: 40,
        codecs: vec![c2m_testkit::fixtures::Codec::Null],
        types: vec![CUSTOM_EVENT.into()],
        edge_cases: true,
    };
    c2m_testkit::fixtures::generate_tree(&input, &opts).unwrap();
    let fx = Fixture { dir, input };
    let convert_report = fx.out("convert.json");
    let convert = common::c2m(&[
        "convert",
        fx.input(),
        "--no-progress",
        "--token",
        TOKEN,
        "--report",
        convert_report.to_str().unwrap(),
    ]);
    assert_eq!(convert.code, 3, "the edge cases contain rejects: {}", convert.stderr);
    let convert_report = common::read_json(&convert_report);
    let expected = convert.stdout_ndjson();
    let refused = expected[0]["properties"]["distinct_id"].as_str().unwrap().to_string();
    let mock = mock(MockConfig { reject_distinct_ids: vec![refused.clone()], ..MockConfig::default() });
    let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--batch-events", "50"], &[]);
    assert_eq!(up.code(), 3, "{}", up.context());
    common::assert_invariants(&up.report);
    assert_eq!(up.report["events"], convert_report["events"], "upload reads, skips and rejects like convert");
    assert_eq!(up.emitted(), expected.len() as u64);
    let transform_rejects: u64 =
        convert_report["events"]["rejected"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    let upload_failures = up.failed_ids().len() as u64;
    assert!(transform_rejects > 0 && upload_failures > 0);
    assert_eq!(up.rejects.len() as u64, transform_rejects + upload_failures, "one line per reject or failure");
    let stored = ids(&mock.unique_events());
    let failed = up.failed_ids();
    assert!(stored.is_disjoint(&failed));
    assert_eq!(stored.union(&failed).cloned().collect::<std::collections::BTreeSet<_>>(), ids(&expected));
    assert_eq!(up.imported(), stored.len() as u64);
}

#[test]
fn a_400_without_failed_records_rejects_the_whole_batch_without_resending() {
    let fx = Fixture::small(32);
    let expected = fx.expected(&["--token", TOKEN]);
    let mock = any_auth();
    mock.push_faults([Fault::status(
        400,
        r#"{"code":400,"error":"identity events are not allowed","status":"Bad Request"}"#,
    )]);
    let up = upload(&fx, &mock.url(), &["--token", TOKEN, "--workers", "1", "--batch-events", "100"], &[]);
    assert_eq!(up.code(), 3, "{}", up.context());
    assert_accounted(&expected, &mock, &up, true);
    let rejected = up.rejects_with("rejected_by_mixpanel");
    assert_eq!(rejected.len(), 100, "the first batch, whole");
    assert!(rejected.iter().all(|r| r["message"].as_str().unwrap().contains("identity events are not allowed")));
    assert_eq!(up.retries(), 0, "never resent");
    assert_eq!(mock.requests().len(), expected.len().div_ceil(100));
}

#[test]
fn interrupted_upload_accounts_unsent_events_as_not_sent() {
    let fx = Fixture::small(33);
    let expected = fx.expected(&["--token", TOKEN]);
    let mock = any_auth();
    // Slow answers: 17 batches one after the other would take over 4 s.
    mock.set_fault_every(1, Fault::Delay(Duration::from_millis(250)));
    let report = fx.out("interrupted.json");
    let rejects = fx.out("interrupted-rejects.ndjson");
    let url = mock.url();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_currents2mixpanel"));
    command
        .args(["upload", fx.input(), "--api-url", &url, "--token", TOKEN, "--workers", "1", "--batch-events", "20"])
        .args(["--retry-base-ms", "5", "--no-progress", "--report", report.to_str().unwrap()])
        .args(["--rejects", rejects.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for var in ["MIXPANEL_TOKEN", "MIXPANEL_API_SECRET", "MIXPANEL_SERVICE_ACCOUNT", "MIXPANEL_PROJECT_ID"] {
        command.env_remove(var);
    }
    let started = std::time::Instant::now();
    let child = command.spawn().expect("spawn the binary");
    while mock.stats().connections == 0 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    let out = common::Output {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let up = collect(out, &report, &rejects);
    assert_eq!(up.code(), 130, "SIGINT: {}", up.context());
    assert!(took < Duration::from_secs(3), "the run stopped early instead of sending everything: {took:?}");
    assert_accounted(&expected, &mock, &up, false);
    let not_sent = up.failed().get("not_sent").copied().unwrap_or(0);
    assert!(not_sent > 0, "what was not sent is accounted as not_sent: {}", up.context());
    assert!(up.imported() > 0, "the batches answered before the signal count as imported");
}
