//! Just enough HTTP/1.1 for the mock: request parsing (Content-Length and chunked bodies,
//! keep-alive, `Expect: 100-continue`) and response writing. Every malformed input becomes an
//! error value, never a panic, so garbage from a test cannot take the server down.

use std::io::{self, BufRead, Read, Write};

/// Longest request line or header line we accept (Mixpanel's query strings are short).
const MAX_LINE: u64 = 16 * 1024;
/// Total size of the header section.
const MAX_HEADER_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;

/// One parsed request. Header names are lowercased; the body is de-chunked but still encoded
/// (gzip or identity) as the client sent it.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body was longer than the caller's keep limit: it was read and discarded, so the
    /// connection stays usable and the caller can answer 413.
    pub body_overflow: bool,
    /// Bytes of body received (also counts discarded bytes).
    pub body_len: u64,
    pub http10: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// Whether the connection must be closed after the response.
    pub fn wants_close(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        let tokens = || conn.split(',').map(str::trim);
        if self.http10 { !tokens().any(|t| t == "keep-alive") } else { tokens().any(|t| t == "close") }
    }
}

pub(crate) fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed (or the socket failed) between requests: just stop.
    Closed,
    /// Malformed request: answer 400 and close, since framing can no longer be trusted.
    Bad(String),
    /// Header section too large: answer 431 and close.
    HeadersTooLarge,
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Closed
    }
}

/// Reads one request. `keep_limit` caps how many body bytes are kept in memory; the rest is
/// drained so a 413 can still be answered on a live connection.
pub(crate) fn read_request<R: BufRead, W: Write>(
    reader: &mut R,
    writer: &mut W,
    keep_limit: usize,
) -> Result<Request, ReadError> {
    let request_line = loop {
        match read_line(reader)? {
            None => return Err(ReadError::Closed),
            // RFC 9112 §2.2: ignore empty lines before the request line (stray CRLF after a body).
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let (method, target, http10) = parse_request_line(&request_line)?;
    let headers = read_headers(reader)?;
    let (path, query) = split_target(&target);
    let mut req = Request { method, path, query, headers, body: Vec::new(), body_overflow: false, body_len: 0, http10 };
    if req.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        writer.flush()?;
    }
    let mut sink = BodySink::new(keep_limit);
    read_body(reader, &req, &mut sink)?;
    req.body = sink.kept;
    req.body_overflow = sink.overflow;
    req.body_len = sink.total;
    Ok(req)
}

/// Reads a CRLF- or LF-terminated line; `None` on a clean EOF before any byte.
fn read_line<R: BufRead>(reader: &mut R) -> Result<Option<String>, ReadError> {
    let mut buf = Vec::new();
    let n = reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(if n as u64 >= MAX_LINE {
            ReadError::HeadersTooLarge
        } else {
            ReadError::Closed // EOF in the middle of a line
        });
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map(Some).map_err(|_| ReadError::Bad("request line or header is not UTF-8".into()))
}

fn parse_request_line(line: &str) -> Result<(String, String, bool), ReadError> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad(format!("malformed request line: {line:?}")));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(ReadError::Bad(format!("unsupported version {version:?}"))),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) || target.is_empty() {
        return Err(ReadError::Bad(format!("malformed request line: {line:?}")));
    }
    Ok((method.to_string(), target.to_string(), http10))
}

fn read_headers<R: BufRead>(reader: &mut R) -> Result<Vec<(String, String)>, ReadError> {
    let mut headers = Vec::new();
    let mut total = 0usize;
    loop {
        let line = read_line(reader)?.ok_or(ReadError::Closed)?;
        if line.is_empty() {
            return Ok(headers);
        }
        total += line.len();
        if total > MAX_HEADER_BYTES || headers.len() >= MAX_HEADERS {
            return Err(ReadError::HeadersTooLarge);
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Bad(format!("malformed header line: {line:?}")));
        };
        // No whitespace before the colon and no obsolete line folding (RFC 9112 §5).
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(ReadError::Bad(format!("malformed header name: {name:?}")));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
}

/// Splits `/path?a=1&b=2` into the path and the percent-decoded query pairs.
fn split_target(target: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    (path.to_string(), pairs)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Collects body bytes up to a limit and counts (but drops) the rest.
struct BodySink {
    kept: Vec<u8>,
    limit: usize,
    total: u64,
    overflow: bool,
}

impl BodySink {
    fn new(limit: usize) -> Self {
        BodySink { kept: Vec::new(), limit, total: 0, overflow: false }
    }

    /// Copies exactly `n` bytes from `reader`.
    fn take_from<R: Read>(&mut self, reader: &mut R, n: u64) -> Result<(), ReadError> {
        let mut remaining = n;
        let mut buf = [0u8; 64 * 1024];
        while remaining > 0 {
            let want = buf.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
            let got = reader.read(&mut buf[..want])?;
            if got == 0 {
                return Err(ReadError::Closed); // peer hung up mid-body
            }
            self.push(&buf[..got]);
            remaining -= got as u64;
        }
        Ok(())
    }

    fn push(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        if self.overflow {
            return;
        }
        if self.kept.len() + data.len() > self.limit {
            self.overflow = true;
            self.kept = Vec::new();
        } else {
            self.kept.extend_from_slice(data);
        }
    }
}

fn read_body<R: BufRead>(reader: &mut R, req: &Request, sink: &mut BodySink) -> Result<(), ReadError> {
    if let Some(te) = req.header("transfer-encoding") {
        if !te.eq_ignore_ascii_case("chunked") {
            return Err(ReadError::Bad(format!("unsupported transfer-encoding {te:?}")));
        }
        // RFC 9112 §6.3: chunked wins over any Content-Length.
        return read_chunked(reader, sink);
    }
    let lengths: Vec<&str> =
        req.headers.iter().filter(|(k, _)| k == "content-length").map(|(_, v)| v.as_str()).collect();
    let Some(first) = lengths.first() else {
        return Ok(()); // no body
    };
    if lengths.iter().any(|l| l != first) {
        return Err(ReadError::Bad("conflicting content-length headers".into()));
    }
    let len: u64 = first.parse().map_err(|_| ReadError::Bad(format!("invalid content-length {first:?}")))?;
    sink.take_from(reader, len)
}

fn read_chunked<R: BufRead>(reader: &mut R, sink: &mut BodySink) -> Result<(), ReadError> {
    loop {
        let line = read_line(reader)?.ok_or(ReadError::Closed)?;
        let size_str = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_str, 16)
            .map_err(|_| ReadError::Bad(format!("invalid chunk size {size_str:?}")))?;
        if size == 0 {
            // Trailer section: skip header lines up to the empty line.
            return read_headers(reader).map(|_| ());
        }
        sink.take_from(reader, size)?;
        match read_line(reader)? {
            Some(rest) if rest.is_empty() => {}
            _ => return Err(ReadError::Bad("chunk data not followed by CRLF".into())),
        }
    }
}

pub(crate) fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Writes a full response in one buffer (one syscall for small bodies; keeps Nagle out of it).
pub(crate) fn write_response<W: Write>(writer: &mut W, status: u16, body: &[u8], close: bool) -> io::Result<()> {
    let content_type = if body.first() == Some(&b'{') { "application/json" } else { "text/plain; charset=utf-8" };
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n",
        reason(status),
        body.len()
    )
    .into_bytes();
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    writer.write_all(&out)?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_partial_escapes() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%e2%82%ac"), "€");
    }

    #[test]
    fn chunked_body_is_reassembled() {
        let raw = b"POST /import HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nfoo: bar\r\n\r\n";
        let req = read_request(&mut &raw[..], &mut io::sink(), 100).unwrap();
        assert_eq!(req.body, b"abcde");
        assert_eq!(req.path, "/import");
    }

    #[test]
    fn oversized_body_is_drained_not_kept() {
        let raw = b"POST /x?a=1&b HTTP/1.1\r\ncontent-length: 10\r\n\r\n0123456789";
        let req = read_request(&mut &raw[..], &mut io::sink(), 4).unwrap();
        assert!(req.body_overflow);
        assert_eq!(req.body_len, 10);
        assert_eq!(req.query, vec![("a".into(), "1".into()), ("b".into(), String::new())]);
    }
}
