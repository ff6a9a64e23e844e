//! An in-process mock of Mixpanel's `POST /import` endpoint (see
//! `shared/reference/mixpanel-import-api.md` §1.2–1.7), for tests and benchmarks that run the
//! real binary against it.
//!
//! It is a small HTTP/1.1 server on `127.0.0.1` with one thread per connection and keep-alive.
//! It checks what Mixpanel checks (Basic auth, `strict=1`, `ip=0`, `project_id` for service
//! accounts, `Content-Type: application/x-ndjson`, optional gzip, size and count limits, strict
//! per-event validation) and answers with Mixpanel's documented JSON bodies. Faults (any status
//! with any body, connection resets, delays) can be queued for the next requests.
//!
//! Choices where Mixpanel's behaviour is not documented:
//! - A service account request without `project_id` gets 400; with the wrong `project_id`, 401.
//! - Missing `strict=1` or `ip=0`, another content type or content encoding, a body that claims
//!   gzip but is not, an empty body, or more than `max_events_per_request` events: 400 with
//!   `{"code":400,"error":...,"status":"Bad Request"}` and nothing stored.
//! - Unknown paths get 404, other methods on `/import` 405.
//! - `time` must be integer seconds (Mixpanel would also guess milliseconds; the tool sends
//!   seconds, so anything else is a bug worth catching). `$insert_id` may not be a placeholder
//!   value either, and the event name may not be empty.
//! - A line that is not JSON, or is 1,000,000 bytes or more, is a failed record with
//!   `field: "event"`.
//! - Events of a delayed request are stored even if the client gave up waiting, as a real server
//!   would: the client resends and Mixpanel deduplicates; compare with [`MockMixpanel::unique_events`].

mod http;
mod validate;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::{self, BufReader, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Value, json};

use http::{ReadError, Request};
pub use validate::PLACEHOLDER_IDS;

/// Credentials the mock accepts (HTTP Basic, reference §1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedAuth {
    /// `user:secret`, and `project_id` must be in the query.
    ServiceAccount { user: String, secret: String, project_id: String },
    /// The project API secret as username, empty password.
    Secret(String),
    /// The project token as username, empty password.
    Token(String),
    /// Anything, including no `Authorization` header.
    Any,
}

/// Which key `failed_records[]` entries use for the event id: Mixpanel's docs show both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InsertIdKey {
    /// `"insert_id"` (OpenAPI schema, real responses).
    #[default]
    InsertId,
    /// `"$insert_id"` (the prose example on the import-events page).
    DollarInsertId,
}

impl InsertIdKey {
    pub fn as_str(self) -> &'static str {
        match self {
            InsertIdKey::InsertId => "insert_id",
            InsertIdKey::DollarInsertId => "$insert_id",
        }
    }
}

#[derive(Debug, Clone)]
pub struct MockConfig {
    pub auth: ExpectedAuth,
    /// More events than this in one request → 400 (Mixpanel: 2000).
    pub max_events_per_request: usize,
    /// Limit on the uncompressed body; larger → 413 (Mixpanel: 10 MB).
    pub max_body_bytes: usize,
    /// Server clock in Unix seconds for the "at most 1 hour in the future" rule; `None` = now.
    pub now: Option<i64>,
    /// Events with one of these `distinct_id`s fail validation, to simulate Mixpanel-side rejects.
    pub reject_distinct_ids: Vec<String>,
    pub insert_id_key: InsertIdKey,
    /// Full validation and storage. `false` = benchmark mode: requests are still checked (auth,
    /// query, headers, limits) and the body gunzipped, but lines are only counted, all are
    /// reported imported and no event is stored.
    pub validate: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            auth: ExpectedAuth::Any,
            max_events_per_request: 2000,
            max_body_bytes: 10_000_000,
            now: None,
            reject_distinct_ids: Vec::new(),
            insert_id_key: InsertIdKey::InsertId,
            validate: true,
        }
    }
}

/// A misbehaviour applied to one request, before normal handling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Fault {
    /// Answer this status with this exact body (may be empty or non-JSON); store nothing.
    Status { code: u16, body: String },
    /// Read the request, then close the connection without answering.
    Reset,
    /// Sleep, then handle the request normally (the events are stored even if the client has
    /// given up by then, as a real server would).
    Delay(Duration),
    /// Normal handling; useful as a placeholder in a queue.
    Ok,
}

impl Fault {
    pub fn status(code: u16, body: impl Into<String>) -> Self {
        Fault::Status { code, body: body.into() }
    }

    /// Mixpanel's documented 429 answer.
    pub fn rate_limited() -> Self {
        Fault::status(
            429,
            error_body(429, "Project exceeded rate limits. Please retry the request with exponential backoff."),
        )
    }
}

/// One request as the mock saw it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    /// 1-based arrival order (the order faults are applied in).
    pub seq: usize,
    pub method: String,
    pub path: String,
    /// Percent-decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// Lowercased names, in order.
    pub headers: Vec<(String, String)>,
    /// Body size as received (compressed when gzip; after de-chunking).
    pub body_bytes: u64,
    /// Size after gunzip, when the body got that far.
    pub uncompressed_bytes: Option<u64>,
    /// `None` when the connection was reset instead of answered.
    pub status: Option<u16>,
    /// Non-empty lines in the body, when it got that far.
    pub events: usize,
    pub imported: usize,
    pub response_body: String,
    pub fault: Option<Fault>,
}

impl RequestRecord {
    pub fn header(&self, name: &str) -> Option<&str> {
        http::header_in(&self.headers, name)
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub connections: usize,
    /// Requests fully read (malformed ones excluded).
    pub requests: usize,
    /// Answered statuses, malformed-request answers included.
    pub by_status: BTreeMap<u16, usize>,
    pub resets: usize,
    /// Requests that could not be parsed as HTTP.
    pub malformed: usize,
    /// Event lines received in requests that reached the body checks.
    pub events_received: usize,
    pub imported: usize,
    pub failed_records: usize,
    pub body_bytes: u64,
    pub uncompressed_bytes: u64,
}

/// The running mock. Dropping it stops the server and joins its threads.
pub struct MockMixpanel {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

impl MockMixpanel {
    /// Starts on `127.0.0.1:0`. Panics if no port can be bound (a test environment failure).
    pub fn start(config: MockConfig) -> Self {
        Self::start_on("127.0.0.1:0", config).expect("bind the mock Mixpanel server")
    }

    /// Starts on a given address, e.g. `127.0.0.1:8080`.
    pub fn start_on(addr: &str, config: MockConfig) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let for_thread = Arc::clone(&shared);
        let accept =
            thread::Builder::new().name("c2m-mock-accept".into()).spawn(move || accept_loop(&listener, &for_thread))?;
        Ok(MockMixpanel { shared, addr, accept: Some(accept) })
    }

    /// `http://127.0.0.1:PORT`, to pass as the tool's `--api-url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues faults for the next requests, one per request, in order.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.state().faults.extend(faults);
    }

    /// Applies `fault` to every `n`-th request (by arrival order, counting all requests) whose
    /// turn has no queued fault. `n == 0` turns it off.
    pub fn set_fault_every(&self, n: usize, fault: Fault) {
        self.shared.state().every = (n > 0).then_some((n, fault));
    }

    /// Forgets queued and periodic faults.
    pub fn clear_faults(&self) {
        let mut state = self.shared.state();
        state.faults.clear();
        state.every = None;
    }

    /// Every accepted event, in arrival order (duplicates included).
    pub fn events(&self) -> Vec<Value> {
        self.shared.state().events.clone()
    }

    /// Accepted events deduplicated like Mixpanel: by (`$insert_id`, event, time, distinct_id),
    /// first occurrence kept.
    pub fn unique_events(&self) -> Vec<Value> {
        let mut seen = HashSet::new();
        self.events().into_iter().filter(|e| seen.insert(dedup_key(e))).collect()
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.state().records.clone()
    }

    pub fn stats(&self) -> Stats {
        self.shared.state().stats.clone()
    }
}

impl Drop for MockMixpanel {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.close_connections();
        // Wake the blocking accept(); if that fails, leave the thread detached rather than hang.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(accept) = self.accept.take()
            && woke
        {
            let _ = accept.join();
        }
        let handles = std::mem::take(&mut *lock(&self.shared.handles));
        for handle in handles {
            let _ = handle.join();
        }
    }
}

fn dedup_key(event: &Value) -> (String, String, String, String) {
    let prop = |k: &str| {
        event
            .pointer(&format!("/properties/{}", k.replace('~', "~0").replace('/', "~1")))
            .map(Value::to_string)
            .unwrap_or_default()
    };
    let name = event.get("event").map(Value::to_string).unwrap_or_default();
    (prop("$insert_id"), name, prop("time"), prop("distinct_id"))
}

/// Everything the threads share.
struct Shared {
    config: MockConfig,
    shutdown: AtomicBool,
    state: Mutex<State>,
    registry: Mutex<Registry>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Default)]
struct State {
    events: Vec<Value>,
    records: Vec<RequestRecord>,
    stats: Stats,
    faults: VecDeque<Fault>,
    every: Option<(usize, Fault)>,
    seq: usize,
}

/// Open connections, so `drop` can unblock their reads.
#[derive(Default)]
struct Registry {
    next_id: u64,
    streams: HashMap<u64, TcpStream>,
    closed: bool,
}

/// Locks ignoring poison: a panicked connection thread must not take the mock down with it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn new(config: MockConfig) -> Self {
        Shared {
            config,
            shutdown: AtomicBool::new(false),
            state: Mutex::default(),
            registry: Mutex::default(),
            handles: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Registers a connection; `None` if the server is already closing.
    fn register(&self, stream: &TcpStream) -> Option<u64> {
        let mut reg = lock(&self.registry);
        if reg.closed {
            return None;
        }
        let id = reg.next_id;
        reg.next_id += 1;
        if let Ok(clone) = stream.try_clone() {
            reg.streams.insert(id, clone);
        }
        Some(id)
    }

    fn unregister(&self, id: u64) {
        lock(&self.registry).streams.remove(&id);
    }

    fn close_connections(&self) {
        let mut reg = lock(&self.registry);
        reg.closed = true;
        for stream in reg.streams.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Numbers the request and picks its fault: the queue first, then the periodic one.
    fn begin_request(&self) -> (usize, Option<Fault>) {
        let mut state = self.state();
        state.seq += 1;
        let seq = state.seq;
        let fault = state.faults.pop_front().or_else(|| match &state.every {
            Some((n, fault)) if seq.is_multiple_of(*n) => Some(fault.clone()),
            _ => None,
        });
        (seq, fault)
    }

    fn count_malformed(&self, status: u16) {
        let mut state = self.state();
        state.stats.malformed += 1;
        *state.stats.by_status.entry(status).or_default() += 1;
    }

    /// Records one handled request and stores its accepted events.
    fn finish(&self, seq: usize, req: Request, fault: Option<Fault>, out: Outcome) {
        let mut state = self.state();
        let stats = &mut state.stats;
        stats.requests += 1;
        match out.status {
            Some(code) => *stats.by_status.entry(code).or_default() += 1,
            None => stats.resets += 1,
        }
        stats.events_received += out.events;
        stats.imported += out.imported;
        stats.failed_records += out.failed;
        stats.body_bytes += req.body_len;
        stats.uncompressed_bytes += out.uncompressed.unwrap_or(0);
        state.events.extend(out.accepted);
        state.records.push(RequestRecord {
            seq,
            method: req.method,
            path: req.path,
            query: req.query,
            headers: req.headers,
            body_bytes: req.body_len,
            uncompressed_bytes: out.uncompressed,
            status: out.status,
            events: out.events,
            imported: out.imported,
            response_body: out.body,
            fault,
        });
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.is_shutdown() {
            break;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(_) => {
                // E.g. out of file descriptors: back off instead of spinning.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        shared.state().stats.connections += 1;
        let for_thread = Arc::clone(shared);
        let spawned =
            thread::Builder::new().name("c2m-mock-conn".into()).spawn(move || serve_connection(&for_thread, stream));
        if let Ok(handle) = spawned {
            let mut handles = lock(&shared.handles);
            handles.retain(|h| !h.is_finished());
            handles.push(handle);
        }
    }
}

fn serve_connection(shared: &Shared, stream: TcpStream) {
    let Some(id) = shared.register(&stream) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    if let Ok(writer) = stream.try_clone() {
        connection_loop(shared, BufReader::with_capacity(64 * 1024, stream), writer);
    }
    shared.unregister(id);
}

fn connection_loop(shared: &Shared, mut reader: BufReader<TcpStream>, mut writer: TcpStream) {
    let max = shared.config.max_body_bytes;
    // Keep a little more than the limit: gzip may slightly expand incompressible data.
    let keep_limit = max.saturating_add(max / 8).saturating_add(64 * 1024);
    while !shared.is_shutdown() {
        let req = match http::read_request(&mut reader, &mut writer, keep_limit) {
            Ok(req) => req,
            Err(ReadError::Closed) => break,
            Err(ReadError::Bad(why)) => {
                reply_malformed(shared, &mut writer, 400, &why);
                break;
            }
            Err(ReadError::HeadersTooLarge) => {
                reply_malformed(shared, &mut writer, 431, "request headers too large");
                break;
            }
        };
        let close = req.wants_close();
        let Some((status, body)) = process(shared, req) else {
            break; // Reset: drop the socket unanswered
        };
        if http::write_response(&mut writer, status, body.as_bytes(), close).is_err() || close {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

fn reply_malformed(shared: &Shared, writer: &mut TcpStream, status: u16, why: &str) {
    shared.count_malformed(status);
    let body = error_body(status, why);
    let _ = http::write_response(writer, status, body.as_bytes(), true);
}

/// Applies the fault, handles the request, records it; `None` means reset the connection.
fn process(shared: &Shared, req: Request) -> Option<(u16, String)> {
    let (seq, fault) = shared.begin_request();
    let out = match &fault {
        Some(Fault::Status { code, body }) => Outcome::answer(*code, body.clone()),
        Some(Fault::Reset) => Outcome::default(),
        Some(Fault::Delay(d)) if !sleep_unless_shutdown(shared, *d) => Outcome::default(),
        _ => handle_import(&shared.config, &req),
    };
    let reply = out.status.map(|s| (s, out.body.clone()));
    shared.finish(seq, req, fault, out);
    reply
}

/// Sleeps in short slices so dropping the server never waits for a long delay.
fn sleep_unless_shutdown(shared: &Shared, d: Duration) -> bool {
    let end = Instant::now() + d;
    loop {
        if shared.is_shutdown() {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        thread::sleep(left.min(Duration::from_millis(10)));
    }
}

/// The result of handling one request.
#[derive(Default)]
struct Outcome {
    /// `None` = reset the connection.
    status: Option<u16>,
    body: String,
    uncompressed: Option<u64>,
    events: usize,
    imported: usize,
    failed: usize,
    accepted: Vec<Value>,
}

impl Outcome {
    fn answer(status: u16, body: String) -> Self {
        Outcome { status: Some(status), body, ..Outcome::default() }
    }
}

/// `{"code":C,"error":E,"status":REASON}`, Mixpanel's shape for whole-request errors.
fn error_body(code: u16, error: &str) -> String {
    json!({"code": code, "error": error, "status": http::reason(code)}).to_string()
}

/// A whole-request rejection: status and body.
type Rejection = (u16, String);

fn reject(code: u16, error: &str) -> Rejection {
    (code, error_body(code, error))
}

fn handle_import(config: &MockConfig, req: &Request) -> Outcome {
    match check_request(config, req).and_then(|()| import_body(config, req)) {
        Ok(out) => out,
        Err((code, body)) => Outcome::answer(code, body),
    }
}

/// Route, auth, query and header checks: everything before the body.
fn check_request(config: &MockConfig, req: &Request) -> Result<(), Rejection> {
    if req.path != "/import" {
        return Err(reject(404, "not found"));
    }
    if req.method != "POST" {
        return Err(reject(405, "method not allowed: use POST"));
    }
    check_auth(&config.auth, req)?;
    let param = |name: &str| req.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if param("strict") != Some("1") {
        return Err(reject(400, "the mock requires strict=1"));
    }
    if param("ip") != Some("0") {
        return Err(reject(400, "the mock requires ip=0"));
    }
    let content_type = req.header("content-type").unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/x-ndjson") {
        return Err(reject(400, &format!("Content-Type must be application/x-ndjson, got {content_type:?}")));
    }
    Ok(())
}

fn check_auth(expected: &ExpectedAuth, req: &Request) -> Result<(), Rejection> {
    let unauthorized = || reject(401, "Invalid credentials");
    let (user, pass) = match expected {
        ExpectedAuth::Any => return Ok(()),
        _ => basic_credentials(req).ok_or_else(unauthorized)?,
    };
    match expected {
        ExpectedAuth::ServiceAccount { user: u, secret, project_id } => {
            if user != *u || pass != *secret {
                return Err(unauthorized());
            }
            match req.query.iter().find(|(k, _)| k == "project_id") {
                None => Err(reject(400, "project_id is required with service account authentication")),
                Some((_, p)) if p != project_id => Err(unauthorized()),
                Some(_) => Ok(()),
            }
        }
        ExpectedAuth::Secret(v) | ExpectedAuth::Token(v) if user == *v && pass.is_empty() => Ok(()),
        _ => Err(unauthorized()),
    }
}

/// `Authorization: Basic base64(user:pass)`; Mixpanel also takes the pair in plain text.
fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let header = req.header("authorization")?;
    let (scheme, cred) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let cred = cred.trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(cred)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| cred.to_string());
    let (user, pass) = decoded.split_once(':').unwrap_or((&decoded, ""));
    Some((user.to_string(), pass.to_string()))
}

fn too_large(max: usize) -> Rejection {
    reject(413, &format!("request exceeds max limit of {max} bytes"))
}

/// Picks the decoder from `Content-Encoding`.
fn body_reader<'a>(req: &'a Request) -> Result<Box<dyn Read + 'a>, Rejection> {
    match req.header("content-encoding").map(str::trim) {
        None | Some("") => Ok(Box::new(&req.body[..])),
        Some(e) if e.eq_ignore_ascii_case("identity") => Ok(Box::new(&req.body[..])),
        Some(e) if e.eq_ignore_ascii_case("gzip") => Ok(Box::new(flate2::read::MultiGzDecoder::new(&req.body[..]))),
        Some(e) => Err(reject(400, &format!("unsupported Content-Encoding {e:?}"))),
    }
}

/// Decodes the whole body, refusing more than `max` uncompressed bytes (gzip bombs included).
fn decode_body(req: &Request, max: usize) -> Result<Vec<u8>, Rejection> {
    let reader = body_reader(req)?;
    let mut out = Vec::with_capacity(req.body.len().min(max));
    reader
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| reject(400, &format!("could not decode the request body: {e}")))?;
    if out.len() > max {
        return Err(too_large(max));
    }
    Ok(out)
}

fn import_body(config: &MockConfig, req: &Request) -> Result<Outcome, Rejection> {
    let max = config.max_body_bytes;
    if req.body_overflow {
        return Err(too_large(max));
    }
    if !config.validate {
        return count_only(config, req);
    }
    let body = decode_body(req, max)?;
    let lines: Vec<&[u8]> = body
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    check_event_count(config, lines.len())?;
    let mut out = validate_lines(config, &lines);
    out.uncompressed = Some(body.len() as u64);
    Ok(out)
}

fn check_event_count(config: &MockConfig, n: usize) -> Result<(), Rejection> {
    if n == 0 {
        return Err(reject(400, "no events in the request body"));
    }
    if n > config.max_events_per_request {
        let max = config.max_events_per_request;
        return Err(reject(400, &format!("request has {n} events, max limit is {max}")));
    }
    Ok(())
}

/// Strict mode: valid events are imported even when others fail (partial success, 400).
fn validate_lines(config: &MockConfig, lines: &[&[u8]]) -> Outcome {
    let now = config.now.unwrap_or_else(unix_now);
    let rules = validate::Rules { now, reject_distinct_ids: &config.reject_distinct_ids };
    let key = config.insert_id_key.as_str();
    let mut accepted = Vec::with_capacity(lines.len());
    let mut failed = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        match validate::validate_line(line, &rules) {
            Ok(event) => accepted.push(event),
            Err(f) => failed.push(json!({
                "index": index, (key): f.insert_id, "field": f.field, "message": f.message,
            })),
        }
    }
    let imported = accepted.len();
    let (status, body) = if failed.is_empty() {
        (200, json!({"code": 200, "num_records_imported": imported, "status": "OK"}))
    } else {
        let body = json!({
            "code": 400,
            "error": "some data points in the request failed validation",
            "status": "Bad Request",
            "num_records_imported": imported,
            "failed_records": failed,
        });
        (400, body)
    };
    Outcome {
        status: Some(status),
        body: body.to_string(),
        uncompressed: None,
        events: lines.len(),
        imported,
        failed: failed.len(),
        accepted,
    }
}

/// Benchmark mode: stream-decode and count lines without keeping the body.
fn count_only(config: &MockConfig, req: &Request) -> Result<Outcome, Rejection> {
    let max = config.max_body_bytes;
    let (lines, bytes) = count_lines(body_reader(req)?, max)
        .map_err(|e| reject(400, &format!("could not decode the request body: {e}")))?
        .ok_or_else(|| too_large(max))?;
    check_event_count(config, lines)?;
    let body = json!({"code": 200, "num_records_imported": lines, "status": "OK"});
    Ok(Outcome {
        status: Some(200),
        body: body.to_string(),
        uncompressed: Some(bytes),
        events: lines,
        imported: lines,
        ..Outcome::default()
    })
}

/// Counts lines (a last line without `\n` counts too); `None` if more than `max` bytes.
fn count_lines(mut reader: impl Read, max: usize) -> io::Result<Option<(usize, u64)>> {
    let mut buf = vec![0u8; 256 * 1024];
    let (mut lines, mut total, mut last) = (0usize, 0u64, b'\n');
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        if total > max as u64 {
            return Ok(None);
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
        last = buf[n - 1];
    }
    if last != b'\n' {
        lines += 1;
    }
    Ok(Some((lines, total)))
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
