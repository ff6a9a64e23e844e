//! Tests through real sockets with a minimal raw HTTP client (no HTTP crate in the testkit).

use super::*;
use std::io::{BufRead, Write};

const NOW: i64 = 1_800_000_000;

fn config(auth: ExpectedAuth) -> MockConfig {
    MockConfig { auth, now: Some(NOW), ..MockConfig::default() }
}

fn token() -> ExpectedAuth {
    ExpectedAuth::Token("tok".into())
}

fn line(i: usize) -> String {
    format!(r#"{{"event":"e{i}","properties":{{"time":1700000000,"distinct_id":"user-{i}","$insert_id":"id-{i}"}}}}"#)
}

fn ndjson(lines: &[String]) -> Vec<u8> {
    lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn basic(user: &str, pass: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!("Basic {b64}")
}

/// A request to build and send by hand.
struct Req {
    method: &'static str,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    /// A valid token-authenticated import of `body` (gzipped when `gz`).
    fn import(body: &[u8], gz: bool) -> Self {
        let mut headers = vec![
            ("Authorization".to_string(), basic("tok", "")),
            ("Content-Type".to_string(), "application/x-ndjson".to_string()),
        ];
        let body = if gz {
            headers.push(("Content-Encoding".into(), "gzip".into()));
            gzip(body)
        } else {
            body.to_vec()
        };
        Req { method: "POST", target: "/import?strict=1&ip=0".into(), headers, body }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }

    fn target(mut self, target: &str) -> Self {
        self.target = target.into();
        self
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\nHost: localhost\r\n", self.method, self.target);
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if !self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding")) {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

struct Client {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(mock: &MockMixpanel) -> Self {
        let stream = TcpStream::connect(mock.addr()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client { writer: stream.try_clone().unwrap(), reader: BufReader::new(stream) }
    }

    fn send(&mut self, req: &Req) -> Option<Resp> {
        self.send_raw(&req.to_bytes())
    }

    /// Writes bytes and reads one response; `None` when the server closed instead.
    fn send_raw(&mut self, bytes: &[u8]) -> Option<Resp> {
        self.writer.write_all(bytes).ok()?;
        self.read_response()
    }

    fn read_response(&mut self) -> Option<Resp> {
        let mut status_line = String::new();
        if self.reader.read_line(&mut status_line).ok()? == 0 {
            return None;
        }
        let status = status_line.split(' ').nth(1)?.parse().ok()?;
        let mut headers = Vec::new();
        loop {
            let mut l = String::new();
            self.reader.read_line(&mut l).ok()?;
            let l = l.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':')?;
            headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
        }
        let len: usize = http::header_in(&headers, "content-length")?.parse().ok()?;
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).ok()?;
        Some(Resp { status, headers, body: String::from_utf8(body).ok()? })
    }

    fn at_eof(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0) | Err(_))
    }
}

fn send_once(mock: &MockMixpanel, req: &Req) -> Option<Resp> {
    Client::connect(mock).send(req)
}

#[test]
fn happy_path_with_gzip() {
    let mock = MockMixpanel::start(config(token()));
    let raw = ndjson(&[line(0), line(1), line(2)]);
    let req = Req::import(&raw, true);
    let resp = send_once(&mock, &req).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, r#"{"code":200,"num_records_imported":3,"status":"OK"}"#);
    assert_eq!(http::header_in(&resp.headers, "content-type"), Some("application/json"));

    let events = mock.events();
    assert_eq!(events.len(), 3);
    assert_eq!(events[1]["properties"]["distinct_id"], "user-1");
    let rec = &mock.requests()[0];
    assert_eq!((rec.method.as_str(), rec.path.as_str()), ("POST", "/import"));
    assert_eq!(rec.query_param("strict"), Some("1"));
    assert_eq!(rec.header("content-encoding"), Some("gzip"));
    assert!(rec.headers.iter().all(|(k, _)| *k == k.to_ascii_lowercase()));
    assert_eq!(rec.body_bytes, req.body.len() as u64);
    assert_eq!(rec.uncompressed_bytes, Some(raw.len() as u64));
    assert_eq!((rec.status, rec.events, rec.imported), (Some(200), 3, 3));
    let stats = mock.stats();
    assert_eq!((stats.requests, stats.imported, stats.by_status[&200]), (1, 3, 1));
}

#[test]
fn wrong_or_missing_credentials_get_401() {
    const BODY_401: &str = r#"{"code":401,"error":"Invalid credentials","status":"Unauthorized"}"#;
    let mock = MockMixpanel::start(config(token()));
    let body = ndjson(&[line(0)]);
    let cases = [
        Req::import(&body, false).header("Authorization", &basic("other", "")),
        Req::import(&body, false).header("Authorization", &basic("tok", "pw")),
        Req::import(&body, false).header("Authorization", "Bearer tok"),
        Req::import(&body, false).header("Authorization", "Basic !!!"),
    ];
    for req in &cases {
        let resp = send_once(&mock, req).unwrap();
        assert_eq!((resp.status, resp.body.as_str()), (401, BODY_401));
    }
    let mut missing = Req::import(&body, false);
    missing.headers.retain(|(k, _)| k != "Authorization");
    assert_eq!(send_once(&mock, &missing).unwrap().status, 401);
    assert!(mock.events().is_empty());
}

#[test]
fn secret_and_service_account_auth() {
    let body = ndjson(&[line(0)]);
    let mock = MockMixpanel::start(config(ExpectedAuth::Secret("sec".into())));
    let req = Req::import(&body, false).header("Authorization", &basic("sec", ""));
    assert_eq!(send_once(&mock, &req).unwrap().status, 200);

    let sa = ExpectedAuth::ServiceAccount { user: "sa.user".into(), secret: "s3cret".into(), project_id: "42".into() };
    let mock = MockMixpanel::start(config(sa));
    let good = Req::import(&body, false).header("Authorization", &basic("sa.user", "s3cret"));
    let with = |target: &str| send_once(&mock, &good.clone_with_target(target)).unwrap();
    assert_eq!(with("/import?strict=1&ip=0&project_id=42").status, 200);
    assert_eq!(with("/import?strict=1&ip=0&project_id=43").status, 401);
    assert_eq!(with("/import?strict=1&ip=0").status, 400);
    let bad = Req::import(&body, false).header("Authorization", &basic("sa.user", "nope"));
    let bad = bad.target("/import?strict=1&ip=0&project_id=42");
    assert_eq!(send_once(&mock, &bad).unwrap().status, 401);
    assert_eq!(mock.events().len(), 1);
}

impl Req {
    fn clone_with_target(&self, target: &str) -> Self {
        Req { method: self.method, target: target.into(), headers: self.headers.clone(), body: self.body.clone() }
    }
}

#[test]
fn oversized_body_gets_413_and_connection_survives() {
    let mock = MockMixpanel::start(MockConfig { max_body_bytes: 200, ..config(token()) });
    let big = ndjson(&[line(0), line(1), line(2)]);
    assert!(big.len() > 200);
    let expected =
        r#"{"code":413,"error":"request exceeds max limit of 200 bytes","status":"Request Entity Too Large"}"#;
    let mut client = Client::connect(&mock);
    for gz in [false, true] {
        let resp = client.send(&Req::import(&big, gz)).unwrap();
        assert_eq!((resp.status, resp.body.as_str()), (413, expected));
    }
    // Far beyond the kept limit: drained, still answered on the same connection.
    let huge = Req::import(&vec![b'x'; 200_000], false);
    assert_eq!(client.send(&huge).unwrap().status, 413);
    let small = client.send(&Req::import(&ndjson(&[line(0)]), true)).unwrap();
    assert_eq!(small.status, 200);
    assert_eq!(mock.events().len(), 1);
}

#[test]
fn too_many_events_get_400_and_nothing_is_stored() {
    let mock = MockMixpanel::start(MockConfig { max_events_per_request: 2, ..config(token()) });
    let resp = send_once(&mock, &Req::import(&ndjson(&[line(0), line(1), line(2)]), true)).unwrap();
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["code"], 400);
    assert!(resp.json().get("failed_records").is_none());
    assert!(mock.events().is_empty());
}

fn partial_batch() -> Vec<String> {
    vec![
        line(0),
        r#"{"event":"e","properties":{"time":1,"distinct_id":"u","$insert_id":"bad-time"}}"#.into(),
        r#"{"event":"e","properties":{"time":1700000000,"distinct_id":"Undefined","$insert_id":"ph"}}"#.into(),
        r#"{"event":"e","properties":{"time":1700000000,"distinct_id":"blocked","$insert_id":"blk"}}"#.into(),
        r#"{"event":"e","properties":{"time":1700000000,"distinct_id":"u","$insert_id":"a:b"}}"#.into(),
        "this is not json".into(),
        line(6),
    ]
}

#[test]
fn strict_partial_failure_body_with_both_insert_id_keys() {
    for key in [InsertIdKey::InsertId, InsertIdKey::DollarInsertId] {
        let mock = MockMixpanel::start(MockConfig {
            insert_id_key: key,
            reject_distinct_ids: vec!["blocked".into()],
            ..config(token())
        });
        let resp = send_once(&mock, &Req::import(&ndjson(&partial_batch()), true)).unwrap();
        assert_eq!(resp.status, 400);
        let body = resp.json();
        let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["code", "error", "status", "num_records_imported", "failed_records"]);
        assert_eq!(body["error"], "some data points in the request failed validation");
        assert_eq!(body["status"], "Bad Request");
        assert_eq!(body["num_records_imported"], 2);
        let failed = body["failed_records"].as_array().unwrap();
        let summary: Vec<(u64, &str, &str)> = failed
            .iter()
            .map(|f| {
                let fkeys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
                assert_eq!(fkeys, ["index", key.as_str(), "field", "message"]);
                (f["index"].as_u64().unwrap(), f[key.as_str()].as_str().unwrap(), f["field"].as_str().unwrap())
            })
            .collect();
        assert_eq!(
            summary,
            [
                (1, "bad-time", "properties.time"),
                (2, "ph", "properties.distinct_id"),
                (3, "blk", "properties.distinct_id"),
                (4, "a:b", "properties.$insert_id"),
                (5, "", "event"),
            ]
        );
        assert_eq!(
            failed[3]["message"],
            "'properties.$insert_id' is invalid: must only contain alphanumeric or hyphen '-' characters"
        );
        let stored: Vec<Value> = mock.events().iter().map(|e| e["event"].clone()).collect();
        assert_eq!(stored, [json!("e0"), json!("e6")]);
        assert_eq!(mock.stats().failed_records, 5);
    }
}

#[test]
fn fault_queue_applies_in_order() {
    let mock = MockMixpanel::start(config(token()));
    mock.push_faults([
        Fault::status(503, "upstream <b>down</b>"),
        Fault::Reset,
        Fault::Delay(Duration::from_millis(50)),
        Fault::status(403, ""),
    ]);
    let req = Req::import(&ndjson(&[line(0)]), true);
    let mut client = Client::connect(&mock);
    let first = client.send(&req).unwrap();
    assert_eq!((first.status, first.body.as_str()), (503, "upstream <b>down</b>"));
    assert!(client.send(&req).is_none(), "reset: closed without an answer");

    let mut client = Client::connect(&mock);
    let started = Instant::now();
    assert_eq!(client.send(&req).unwrap().status, 200);
    assert!(started.elapsed() >= Duration::from_millis(50));
    let forbidden = client.send(&req).unwrap();
    assert_eq!((forbidden.status, forbidden.body.as_str()), (403, ""));
    assert_eq!(client.send(&req).unwrap().status, 200);

    let statuses: Vec<Option<u16>> = mock.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(503), None, Some(200), Some(403), Some(200)]);
    assert_eq!(mock.events().len(), 2, "only the delayed and the normal request stored");
    assert_eq!(mock.stats().resets, 1);
}

#[test]
fn periodic_fault() {
    let mock = MockMixpanel::start(config(token()));
    mock.set_fault_every(2, Fault::rate_limited());
    let mut client = Client::connect(&mock);
    let req = Req::import(&ndjson(&[line(0)]), false);
    let statuses: Vec<u16> = (0..4).map(|_| client.send(&req).unwrap().status).collect();
    assert_eq!(statuses, [200, 429, 200, 429]);
    mock.clear_faults();
    assert_eq!(client.send(&req).unwrap().status, 200);
}

#[test]
fn keep_alive_serves_many_requests_then_honours_close() {
    let mock = MockMixpanel::start(config(token()));
    let mut client = Client::connect(&mock);
    for i in 0..3 {
        let resp = client.send(&Req::import(&ndjson(&[line(i)]), i % 2 == 0)).unwrap();
        assert_eq!(resp.status, 200);
        assert!(http::header_in(&resp.headers, "connection").is_none());
    }
    let last = Req::import(&ndjson(&[line(3)]), true).header("Connection", "close");
    let resp = client.send(&last).unwrap();
    assert_eq!(http::header_in(&resp.headers, "connection"), Some("close"));
    assert!(client.at_eof());
    let stats = mock.stats();
    assert_eq!((stats.connections, stats.requests, stats.imported), (1, 4, 4));
}

#[test]
fn chunked_request_body() {
    let mock = MockMixpanel::start(config(token()));
    let body = gzip(&ndjson(&[line(0), line(1)]));
    let mut chunked = Vec::new();
    for part in body.chunks(7) {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let mut req = Req::import(&[], false).header("Content-Encoding", "gzip").header("Transfer-Encoding", "chunked");
    req.body = chunked;
    let resp = send_once(&mock, &req).unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(mock.events().len(), 2);
}

#[test]
fn bad_requests_are_answered_not_panicked_on() {
    let mock = MockMixpanel::start(config(token()));
    let raw_cases: [(&[u8], Option<u16>); 7] = [
        (b"\x00\x01\xffgarbage\r\n\r\n", Some(400)),
        (b"GET / HTTP/2.0\r\n\r\n", Some(400)),
        (b"POST /import HTTP/1.1\r\ncontent-length: abc\r\n\r\n", Some(400)),
        (b"POST /import HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab", Some(400)),
        (b"POST /import HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", Some(400)),
        (b"POST /import HTTP/1.1\r\n bad header\r\n\r\n", Some(400)),
        (b"POST /import HTTP/1.1\r\ncontent-length: 10\r\n\r\nabc", None), // hang-up mid-body
    ];
    for (bytes, expected) in raw_cases {
        let mut client = Client::connect(&mock);
        if expected.is_none() {
            client.writer.write_all(bytes).unwrap();
            client.writer.shutdown(Shutdown::Write).unwrap();
        }
        let status = if expected.is_some() {
            client.send_raw(bytes).map(|r| r.status)
        } else {
            client.read_response().map(|r| r.status)
        };
        assert_eq!(status, expected, "{:?}", String::from_utf8_lossy(bytes));
    }
    let mut client = Client::connect(&mock);
    assert_eq!(client.send_raw(&vec![b'a'; 40_000]).map(|r| r.status), Some(431));

    let body = ndjson(&[line(0)]);
    let bad_gzip = Req::import(&body, false).header("Content-Encoding", "gzip");
    let mut truncated = Req::import(&body, true);
    truncated.body.truncate(truncated.body.len() / 2);
    let cases = [
        (bad_gzip, 400),
        (truncated, 400),
        (Req::import(&body, false).header("Content-Encoding", "br"), 400),
        (Req::import(&body, false).header("Content-Type", "application/json"), 400),
        (Req::import(&body, false).target("/import?strict=0&ip=0"), 400),
        (Req::import(&body, false).target("/import?strict=1"), 400),
        (Req::import(&body, false).target("/track?strict=1&ip=0"), 404),
        (Req::import(&[], false), 400),
        (Req::import(b"\xff\xfe{\n", false), 400),
        (Req { method: "GET", ..Req::import(&[], false) }, 405),
    ];
    let mut client = Client::connect(&mock);
    for (req, status) in &cases {
        let resp = client.send(req).unwrap();
        assert_eq!(resp.status, *status, "{} {}", req.target, resp.body);
        assert_eq!(resp.json()["code"], *status);
    }
    assert_eq!(client.send(&Req::import(&body, true)).unwrap().status, 200);
    assert_eq!(mock.events().len(), 1);
    assert_eq!(mock.stats().malformed, 7);
}

#[test]
fn fast_mode_counts_without_storing() {
    let mock = MockMixpanel::start(MockConfig { validate: false, ..config(token()) });
    let mut body = ndjson(&[line(0), "not json".into(), line(2)]);
    body.extend_from_slice(b"{\"last\":\"line without newline\"}");
    let resp = send_once(&mock, &Req::import(&body, true)).unwrap();
    assert_eq!(resp.body, r#"{"code":200,"num_records_imported":4,"status":"OK"}"#);
    assert!(mock.events().is_empty());
    let stats = mock.stats();
    assert_eq!((stats.imported, stats.uncompressed_bytes), (4, body.len() as u64));
    let unauthorized = Req::import(&body, true).header("Authorization", &basic("x", ""));
    assert_eq!(send_once(&mock, &unauthorized).unwrap().status, 401);
}

#[test]
fn unique_events_dedupe_resends() {
    let mock = MockMixpanel::start(config(token()));
    let req = Req::import(&ndjson(&[line(0), line(1)]), true);
    let mut client = Client::connect(&mock);
    client.send(&req).unwrap();
    client.send(&req).unwrap();
    assert_eq!(mock.events().len(), 4);
    assert_eq!(mock.unique_events().len(), 2);
}

#[test]
fn drop_closes_idle_and_delayed_connections_promptly() {
    let mock = MockMixpanel::start(config(token()));
    let mut idle = Client::connect(&mock);
    assert_eq!(idle.send(&Req::import(&ndjson(&[line(0)]), true)).unwrap().status, 200);
    mock.push_faults([Fault::Delay(Duration::from_secs(60))]);
    let mut delayed = Client::connect(&mock);
    delayed.writer.write_all(&Req::import(&ndjson(&[line(1)]), true).to_bytes()).unwrap();
    thread::sleep(Duration::from_millis(50)); // let the delay start
    let addr = mock.addr();
    let started = Instant::now();
    drop(mock);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(idle.at_eof());
    assert!(delayed.read_response().is_none());
    assert!(TcpStream::connect(addr).is_err() || Client::connect_addr(addr).at_eof());
}

impl Client {
    fn connect_addr(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        Client { writer: stream.try_clone().unwrap(), reader: BufReader::new(stream) }
    }
}
