//! Mixpanel's `/import` protocol (SPEC §5): where to send, how to authenticate, one request,
//! and what each answer means. The retry loop and batching live in [`crate::sink::mixpanel`].

use std::borrow::Cow;
use std::io::Write;
use std::time::Duration;

use base64::Engine;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Deserialize;
use thiserror::Error;

use crate::cli::Region;
use crate::secret::Secret;

/// Gzip is most of an upload's CPU; level 2 costs ~15% less than 3 for ~4% larger bodies (and
/// Mixpanel's limits count uncompressed bytes anyway).
const GZIP_LEVEL: u32 = 2;
/// Mixpanel's answers are small; anything bigger is not one of them.
const MAX_RESPONSE_BYTES: u64 = 1 << 20;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum EndpointError {
    #[error("--api-url {0:?} is not an http(s) URL")]
    NotHttp(String),
    #[error(
        "--api-url {0:?} uses plain http://, which is only allowed for a loopback host (127.0.0.1, localhost, [::1])"
    )]
    PlainHttp(String),
    #[error("--api-url must not carry credentials (user@host); use the auth flags")]
    UserInfo,
}

/// The base URL for a region, or the user's override (validated).
pub fn base_url(region: Region, api_url: Option<&str>) -> Result<String, EndpointError> {
    let Some(url) = api_url else {
        return Ok(match region {
            Region::Us => "https://api.mixpanel.com",
            Region::Eu => "https://api-eu.mixpanel.com",
            Region::In => "https://api-in.mixpanel.com",
        }
        .to_string());
    };
    let url = url.trim_end_matches('/');
    let authority =
        url.split_once("://").map_or("", |(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default());
    // `http://127.0.0.1@evil.example` is a request to evil.example.
    if authority.contains('@') {
        return Err(EndpointError::UserInfo);
    }
    if url.starts_with("http://") {
        let host = if authority.starts_with('[') {
            authority.split(']').next().map(|h| format!("{h}]")).unwrap_or_default()
        } else {
            authority.split(':').next().unwrap_or_default().to_string()
        };
        let loopback = host == "localhost"
            || host == "[::1]"
            || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
        return if loopback { Ok(url.to_string()) } else { Err(EndpointError::PlainHttp(url.to_string())) };
    }
    if url.starts_with("https://") && url.len() > "https://".len() {
        Ok(url.to_string())
    } else {
        Err(EndpointError::NotHttp(url.to_string()))
    }
}

/// How requests authenticate (HTTP Basic).
#[derive(Debug, Clone)]
pub enum Auth {
    /// Service account `user:secret`, with the project id in the query (recommended).
    ServiceAccount { user: String, secret: Secret, project_id: String },
    /// The project API secret as username (deprecated by Mixpanel).
    ApiSecret(Secret),
    /// The project token as username.
    Token(Secret),
}

impl Auth {
    pub fn describe(&self) -> &'static str {
        match self {
            Auth::ServiceAccount { .. } => "service account",
            Auth::ApiSecret(_) => "project API secret",
            Auth::Token(_) => "project token",
        }
    }

    fn header(&self) -> String {
        let credentials = match self {
            Auth::ServiceAccount { user, secret, .. } => format!("{user}:{}", secret.expose()),
            Auth::ApiSecret(secret) | Auth::Token(secret) => format!("{}:", secret.expose()),
        };
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
    }
}

/// The `/import` URL with its query.
pub fn import_url(base: &str, auth: &Auth) -> String {
    match auth {
        Auth::ServiceAccount { project_id, .. } => {
            let mut encoded = String::new();
            for b in project_id.bytes() {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    encoded.push(b as char);
                } else {
                    encoded.push_str(&format!("%{b:02X}"));
                }
            }
            format!("{base}/import?strict=1&ip=0&project_id={encoded}")
        }
        _ => format!("{base}/import?strict=1&ip=0"),
    }
}

/// A reusable HTTP client for `/import`.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    url: String,
    auth_header: String,
    gzip: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("url", &self.url).field("gzip", &self.gzip).finish_non_exhaustive()
    }
}

/// What came back for one request: an answer, or no answer at all.
#[derive(Debug)]
pub enum Reply {
    Answer {
        status: u16,
        body: String,
    },
    /// Connection refused/reset, timeout, a body that could not be read.
    NoAnswer(String),
}

impl Client {
    pub fn new(base: &str, auth: &Auth, gzip: bool, connections: usize, timeout: Duration) -> Client {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(10).min(timeout)))
            .timeout_send_body(Some(timeout))
            .timeout_recv_response(Some(timeout))
            .timeout_recv_body(Some(timeout))
            .http_status_as_error(false)
            .max_idle_connections(connections.max(1))
            .max_idle_connections_per_host(connections.max(1))
            .user_agent(concat!("currents2mixpanel/", env!("CARGO_PKG_VERSION")))
            .build();
        Client { agent: config.into(), url: import_url(base, auth), auth_header: auth.header(), gzip }
    }

    /// The request body for NDJSON `lines`: gzipped unless turned off.
    pub fn encode<'a>(&self, lines: &'a [u8]) -> Cow<'a, [u8]> {
        if !self.gzip {
            return Cow::Borrowed(lines);
        }
        let mut gz = GzEncoder::new(Vec::with_capacity(lines.len() / 4), Compression::new(GZIP_LEVEL));
        gz.write_all(lines).expect("writing to a Vec cannot fail");
        Cow::Owned(gz.finish().expect("writing to a Vec cannot fail"))
    }

    /// Sends one encoded body.
    pub fn send(&self, body: &[u8]) -> Reply {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Authorization", &self.auth_header)
            .header("Content-Type", "application/x-ndjson");
        if self.gzip {
            request = request.header("Content-Encoding", "gzip");
        }
        match request.send(body) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                match response.body_mut().with_config().limit(MAX_RESPONSE_BYTES).read_to_vec() {
                    Ok(bytes) => Reply::Answer { status, body: String::from_utf8_lossy(&bytes).into_owned() },
                    Err(e) => Reply::NoAnswer(format!("HTTP {status}, but reading the body failed: {e}")),
                }
            }
            Err(e) => Reply::NoAnswer(e.to_string()),
        }
    }
}

/// One entry of a strict-mode 400's `failed_records`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecord {
    pub index: Option<usize>,
    pub insert_id: Option<String>,
    pub message: String,
}

/// What an answer means for the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 200: `imported` of the batch were imported (checked against its size by the caller).
    Imported(u64),
    /// 400 strict mode: the others were imported; never resend.
    Partial(Vec<FailedRecord>),
    /// The whole batch was refused (400 without per-record detail, 404, …): do not retry.
    Refused(String),
    /// 401/403: stop everything.
    Unauthorized(String),
    /// 413: split the batch.
    TooLarge(String),
    /// 429, 408, 5xx, no answer: retry with backoff.
    Retry(String),
}

#[derive(Deserialize)]
struct Body {
    num_records_imported: Option<u64>,
    error: Option<String>,
    failed_records: Option<Vec<RawFailedRecord>>,
}

#[derive(Deserialize)]
struct RawFailedRecord {
    index: Option<usize>,
    insert_id: Option<String>,
    #[serde(rename = "$insert_id")]
    dollar_insert_id: Option<String>,
    field: Option<String>,
    message: Option<String>,
}

/// Classifies an answer. Bodies may be empty or not JSON; that never fails.
pub fn classify(reply: &Reply) -> Verdict {
    let (status, text) = match reply {
        Reply::NoAnswer(why) => return Verdict::Retry(why.clone()),
        Reply::Answer { status, body } => (*status, body.as_str()),
    };
    let mut body: Option<Body> = serde_json::from_str(text).ok();
    let detail = body.as_ref().and_then(|b| b.error.clone()).unwrap_or_else(|| snippet(text));
    let error = || format!("HTTP {status}: {detail}");
    match status {
        200..=299 => match body.as_ref().and_then(|b| b.num_records_imported) {
            Some(n) => Verdict::Imported(n),
            None => Verdict::Retry(format!("HTTP {status} without num_records_imported: {}", snippet(text))),
        },
        400 => match body.as_mut().and_then(|b| b.failed_records.take()) {
            Some(records) if !records.is_empty() => Verdict::Partial(records.into_iter().map(failed_record).collect()),
            _ => Verdict::Refused(error()),
        },
        401 | 403 => Verdict::Unauthorized(error()),
        413 => Verdict::TooLarge(error()),
        408 | 429 | 500..=599 => Verdict::Retry(error()),
        _ => Verdict::Refused(error()),
    }
}

fn failed_record(raw: RawFailedRecord) -> FailedRecord {
    let message = match (raw.field, raw.message) {
        (_, Some(m)) => m,
        (Some(f), None) => format!("{f} is invalid"),
        (None, None) => "rejected by Mixpanel".to_string(),
    };
    FailedRecord { index: raw.index, insert_id: raw.insert_id.or(raw.dollar_insert_id), message }
}

/// Short, single-line excerpt of a body for messages.
fn snippet(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_string();
    }
    let mut s: String = text.chars().take(200).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if text.chars().count() > 200 {
        s.push('…');
    }
    s
}

/// The wait before retry number `attempt` (0-based): `base` doubling up to 60 s, plus random
/// jitter of up to half that.
pub fn backoff(base: Duration, attempt: u32, jitter: f64) -> Duration {
    let cap = Duration::from_secs(60);
    let delay = base.saturating_mul(2u32.saturating_pow(attempt.min(16))).min(cap);
    delay + delay.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Verdict {
        classify(&Reply::Answer { status, body: body.to_string() })
    }

    #[test]
    fn region_hosts_and_overrides() {
        assert_eq!(base_url(Region::Us, None).unwrap(), "https://api.mixpanel.com");
        assert_eq!(base_url(Region::Eu, None).unwrap(), "https://api-eu.mixpanel.com");
        assert_eq!(base_url(Region::In, None).unwrap(), "https://api-in.mixpanel.com");
        assert_eq!(base_url(Region::Us, Some("http://127.0.0.1:8080/")).unwrap(), "http://127.0.0.1:8080");
        assert_eq!(base_url(Region::Us, Some("http://localhost:1")).unwrap(), "http://localhost:1");
        assert_eq!(base_url(Region::Us, Some("http://[::1]:9")).unwrap(), "http://[::1]:9");
        assert!(matches!(base_url(Region::Us, Some("http://example.com")), Err(EndpointError::PlainHttp(_))));
        assert!(matches!(base_url(Region::Us, Some("http://127.0.0.1.evil.com")), Err(EndpointError::PlainHttp(_))));
        assert!(matches!(base_url(Region::Us, Some("ftp://x")), Err(EndpointError::NotHttp(_))));
        assert_eq!(base_url(Region::Us, Some("http://127.0.0.1:1@evil.example")), Err(EndpointError::UserInfo));
        assert_eq!(base_url(Region::Us, Some("http://[::1]@evil.example")), Err(EndpointError::UserInfo));
        assert_eq!(base_url(Region::Us, Some("https://u:p@proxy.internal")), Err(EndpointError::UserInfo));
        assert_eq!(base_url(Region::Us, Some("https://proxy.internal")).unwrap(), "https://proxy.internal");
    }

    #[test]
    fn query_and_auth_headers() {
        let sa =
            Auth::ServiceAccount { user: "bot.1".into(), secret: Secret::new("s3cr3t"), project_id: "12 3".into() };
        assert_eq!(import_url("https://h", &sa), "https://h/import?strict=1&ip=0&project_id=12%203");
        assert_eq!(sa.header(), format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("bot.1:s3cr3t")));
        let token = Auth::Token(Secret::new("tok"));
        assert_eq!(import_url("https://h", &token), "https://h/import?strict=1&ip=0");
        assert_eq!(token.header(), format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("tok:")));
        assert!(!format!("{sa:?}").contains("s3cr3t"));
    }

    #[test]
    fn answers_are_classified_by_the_documented_contract() {
        assert_eq!(answer(200, r#"{"code":200,"num_records_imported":7,"status":"OK"}"#), Verdict::Imported(7));
        assert!(matches!(answer(200, "OK"), Verdict::Retry(_)));
        let partial = answer(
            400,
            r#"{"code":400,"error":"some data points in the request failed validation","status":"Bad Request","num_records_imported":1,
               "failed_records":[{"index":0,"insert_id":"a","field":"properties.time","message":"'properties.time' is invalid"},
                                 {"index":2,"$insert_id":"b","field":"properties.distinct_id"}]}"#,
        );
        assert_eq!(
            partial,
            Verdict::Partial(vec![
                FailedRecord {
                    index: Some(0),
                    insert_id: Some("a".into()),
                    message: "'properties.time' is invalid".into()
                },
                FailedRecord {
                    index: Some(2),
                    insert_id: Some("b".into()),
                    message: "properties.distinct_id is invalid".into()
                },
            ])
        );
        assert!(
            matches!(answer(400, r#"{"error":"identity events are not allowed"}"#), Verdict::Refused(m) if m.contains("identity"))
        );
        assert!(
            matches!(answer(401, r#"{"code": 401, "error": "Invalid credentials"}"#), Verdict::Unauthorized(m) if m.contains("Invalid credentials"))
        );
        assert!(matches!(answer(403, ""), Verdict::Unauthorized(_)));
        assert!(matches!(answer(413, "{}"), Verdict::TooLarge(_)));
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(matches!(answer(status, "<html>oops</html>"), Verdict::Retry(m) if m.contains("oops")), "{status}");
        }
        assert!(matches!(answer(500, ""), Verdict::Retry(m) if m.contains("empty body")));
        assert!(matches!(answer(404, "nope"), Verdict::Refused(_)));
        assert!(matches!(classify(&Reply::NoAnswer("connection reset".into())), Verdict::Retry(_)));
    }

    #[test]
    fn backoff_doubles_to_a_cap_with_bounded_jitter() {
        let base = Duration::from_secs(2);
        assert_eq!(backoff(base, 0, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(base, 3, 0.0), Duration::from_secs(16));
        assert_eq!(backoff(base, 9, 0.0), Duration::from_secs(60));
        assert_eq!(backoff(base, 1, 1.0), Duration::from_secs(6));
        assert_eq!(backoff(Duration::from_millis(5), 3, 0.0), Duration::from_millis(40));
        assert_eq!(backoff(Duration::from_millis(5), 40, 0.0), Duration::from_secs(60));
    }
}
