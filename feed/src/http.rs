//! A non-blocking HTTP/1.1 GET client for the REST depth snapshot.
//!
//! Owns [`HttpGet`]: one request at a time to one fixed endpoint
//! ([`HttpTarget`]), as a state machine `Idle → Connecting → Sending →
//! Receiving → Done` advanced by [`HttpGet::poll`], which never blocks and
//! does a bounded number of reads per call. The response (head + body) is
//! read into one preallocated buffer (its size is the configured cap: a
//! 5000-level snapshot is ~250 KB); the head is parsed with `httparse`; the
//! body is delimited by `Content-Length`, by chunked transfer coding (decoded
//! in place, moving chunk data down over the chunk headers) or by EOF.
//! Every length the peer sends (`Content-Length`, chunk sizes) is used only
//! through checked arithmetic: a body larger than the buffer is refused as
//! [`HttpError::TooLarge`] (a `Content-Length` as soon as the head is parsed),
//! never an overflow or a panic.
//! Every request uses `Connection: close` and a fresh connection: snapshots
//! are rare (start-up, gaps, reconnects) and a new connection cannot inherit
//! a half-read response from a timed-out request.
//!
//! What allocates: over plain `http://`, nothing after [`HttpGet::new`]; over
//! `https://` a new TLS session per request (rustls) and rustls's record
//! buffers. Snapshots are fetched on the resync path, not per message.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mio::net::TcpStream;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use talon_core::clock::Nanos;

use crate::error::{HttpError, TransportError};
use crate::net::{Conn, connect_progress, io_err, start_connect};
use crate::tls::TlsStream;
use crate::ws::duration_nanos;

/// Most headers parsed in a response head.
const MAX_HEADERS: usize = 48;
/// Request buffer bytes (request line + headers).
const REQUEST_CAP: usize = 2048;
/// Reads per poll at most.
const MAX_READS_PER_POLL: usize = 8;

/// The REST endpoint: resolved address, `Host` header value and TLS settings.
#[derive(Clone, Debug)]
pub struct HttpTarget {
    /// The resolved socket address.
    pub addr: SocketAddr,
    /// `Host:` header value (`host[:port]`).
    pub host: String,
    /// TLS settings for `https://`.
    pub tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

/// What [`HttpGet::poll`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpPoll {
    /// No request in flight.
    Idle,
    /// In flight; poll again.
    Pending,
    /// Complete: read [`HttpGet::status`] and [`HttpGet::body`].
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Length(usize),
    /// Chunked: `raw` = next undecoded byte, `body_end` = end of decoded body.
    Chunked {
        raw: usize,
        body_end: usize,
    },
    Eof,
}

#[derive(Clone, Copy, Debug)]
struct Head {
    status: u16,
    body_start: usize,
    framing: Framing,
}

enum Phase {
    Idle,
    Connecting(TcpStream),
    Sending(Conn),
    Receiving(Conn),
    Done { body: (usize, usize) },
}

/// One-at-a-time non-blocking GET (see the module docs).
pub struct HttpGet {
    target: HttpTarget,
    timeout: u64,
    buf: Box<[u8]>,
    len: usize,
    req: Box<[u8]>,
    req_len: usize,
    req_pos: usize,
    head: Option<Head>,
    phase: Phase,
    since: Nanos,
}

impl std::fmt::Debug for HttpGet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpGet")
            .field("host", &self.target.host)
            .field("capacity", &self.buf.len())
            .field("received", &self.len)
            .finish()
    }
}

impl HttpGet {
    /// A client for `target` with a `capacity`-byte response buffer and a
    /// per-request `timeout`.
    pub fn new(target: HttpTarget, capacity: usize, timeout: Duration) -> HttpGet {
        HttpGet {
            target,
            timeout: duration_nanos(timeout),
            buf: vec![0u8; capacity.max(1024)].into_boxed_slice(),
            len: 0,
            req: vec![0u8; REQUEST_CAP].into_boxed_slice(),
            req_len: 0,
            req_pos: 0,
            head: None,
            phase: Phase::Idle,
            since: Nanos::ZERO,
        }
    }

    /// Whether a request is in flight.
    pub fn is_busy(&self) -> bool {
        matches!(
            self.phase,
            Phase::Connecting(_) | Phase::Sending(_) | Phase::Receiving(_)
        )
    }

    /// Starts `GET path` (path and query, e.g.
    /// `/api/v3/depth?symbol=BTCUSDT&limit=1000`). Returns at once.
    pub fn start(&mut self, path: &str, now: Nanos) -> Result<(), TransportError> {
        if self.is_busy() {
            return Err(HttpError::Busy.into());
        }
        let mut w = &mut self.req[..];
        let cap = w.len();
        write!(
            w,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: talon-feed\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
            self.target.host
        )
        .map_err(|_| TransportError::Http(HttpError::RequestTooLong))?;
        self.req_len = cap - w.len();
        self.req_pos = 0;
        self.len = 0;
        self.head = None;
        self.since = now;
        self.phase = Phase::Connecting(start_connect(self.target.addr)?);
        Ok(())
    }

    /// Abandons the request in flight, if any.
    pub fn cancel(&mut self) {
        self.phase = Phase::Idle;
    }

    /// The status of the completed response (0 before completion).
    pub fn status(&self) -> u16 {
        match (&self.phase, self.head) {
            (Phase::Done { .. }, Some(h)) => h.status,
            _ => 0,
        }
    }

    /// The body of the completed response (empty before completion).
    pub fn body(&self) -> &[u8] {
        match self.phase {
            Phase::Done { body: (a, b) } => &self.buf[a..b],
            _ => &[],
        }
    }

    /// Advances the request. On `Err` the request is abandoned (state idle).
    pub fn poll(&mut self, now: Nanos) -> Result<HttpPoll, TransportError> {
        let r = self.poll_inner(now);
        if r.is_err() {
            self.phase = Phase::Idle;
        }
        r
    }

    fn poll_inner(&mut self, now: Nanos) -> Result<HttpPoll, TransportError> {
        if self.is_busy() && now.saturating_elapsed_since(self.since) > self.timeout {
            return Err(TransportError::Timeout);
        }
        loop {
            match std::mem::replace(&mut self.phase, Phase::Idle) {
                Phase::Idle => return Ok(HttpPoll::Idle),
                Phase::Done { body } => {
                    self.phase = Phase::Done { body };
                    return Ok(HttpPoll::Done);
                }
                Phase::Connecting(tcp) => {
                    if !connect_progress(&tcp)? {
                        self.phase = Phase::Connecting(tcp);
                        return Ok(HttpPoll::Pending);
                    }
                    let _ = tcp.set_nodelay(true);
                    let conn = match &self.target.tls {
                        None => Conn::Plain(tcp),
                        Some((cfg, name)) => Conn::Tls(Box::new(
                            TlsStream::new(tcp, Arc::clone(cfg), name.clone())
                                .map_err(|_| TransportError::Tls)?,
                        )),
                    };
                    self.phase = Phase::Sending(conn);
                }
                Phase::Sending(mut conn) => {
                    while self.req_pos < self.req_len {
                        match conn.write(&self.req[self.req_pos..self.req_len]) {
                            Ok(0) => return Err(TransportError::Closed),
                            Ok(n) => self.req_pos += n,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                self.phase = Phase::Sending(conn);
                                return Ok(HttpPoll::Pending);
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(io_err(&e)),
                        }
                    }
                    conn.flush_pending().map_err(|e| io_err(&e))?;
                    self.phase = Phase::Receiving(conn);
                }
                Phase::Receiving(mut conn) => {
                    for _ in 0..MAX_READS_PER_POLL {
                        conn.flush_pending().map_err(|e| io_err(&e))?;
                        if self.len == self.buf.len() {
                            return Err(HttpError::TooLarge.into());
                        }
                        let eof = match conn.read(&mut self.buf[self.len..]) {
                            Ok(0) => true,
                            Ok(n) => {
                                self.len += n;
                                false
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                self.phase = Phase::Receiving(conn);
                                return Ok(HttpPoll::Pending);
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            // A TLS peer closing without close_notify after a
                            // complete Content-Length body is still complete.
                            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => true,
                            Err(e) => return Err(io_err(&e)),
                        };
                        if let Some(body) = self.progress(eof)? {
                            self.phase = Phase::Done { body };
                            return Ok(HttpPoll::Done);
                        }
                        if eof {
                            return Err(HttpError::Truncated.into());
                        }
                    }
                    self.phase = Phase::Receiving(conn);
                    return Ok(HttpPoll::Pending);
                }
            }
        }
    }

    /// Parses what has arrived; `Some(body range)` once complete.
    fn progress(&mut self, eof: bool) -> Result<Option<(usize, usize)>, HttpError> {
        if self.head.is_none() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            let hl = match resp.parse(&self.buf[..self.len]) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(_) => return Err(HttpError::BadHead),
            };
            let status = resp.code.ok_or(HttpError::BadHead)?;
            let mut framing = Framing::Eof;
            for h in resp.headers.iter() {
                if h.name.eq_ignore_ascii_case("transfer-encoding") {
                    if h.value.eq_ignore_ascii_case(b"chunked") {
                        framing = Framing::Chunked {
                            raw: hl,
                            body_end: hl,
                        };
                    }
                } else if h.name.eq_ignore_ascii_case("content-length")
                    && !matches!(framing, Framing::Chunked { .. })
                {
                    let n = std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|s| s.trim().parse::<usize>().ok())
                        .ok_or(HttpError::BadHead)?;
                    // A body that cannot fit is refused now (and a
                    // peer-supplied length never reaches unchecked maths).
                    if hl.checked_add(n).is_none_or(|end| end > self.buf.len()) {
                        return Err(HttpError::TooLarge);
                    }
                    framing = Framing::Length(n);
                }
            }
            self.head = Some(Head {
                status,
                body_start: hl,
                framing,
            });
        }
        let Some(head) = self.head.as_mut() else {
            return Ok(None);
        };
        let start = head.body_start;
        match &mut head.framing {
            Framing::Length(n) => {
                // `n` is the peer's: checked even though the head check
                // already bounded it by the buffer.
                let end = start.checked_add(*n).ok_or(HttpError::TooLarge)?;
                if end > self.buf.len() {
                    Err(HttpError::TooLarge)
                } else if self.len >= end {
                    Ok(Some((start, end)))
                } else {
                    Ok(None)
                }
            }
            Framing::Eof => Ok(eof.then_some((start, self.len))),
            Framing::Chunked { raw, body_end } => loop {
                match httparse::parse_chunk_size(&self.buf[*raw..self.len]) {
                    Ok(httparse::Status::Partial) => return Ok(None),
                    Err(_) => return Err(HttpError::BadChunk),
                    Ok(httparse::Status::Complete((used, size))) => {
                        if size == 0 {
                            // Trailers (if any) are ignored; the body is whole.
                            return Ok(Some((start, *body_end)));
                        }
                        let size = usize::try_from(size).map_err(|_| HttpError::TooLarge)?;
                        let data = *raw + used;
                        let Some(after) = data.checked_add(size).and_then(|v| v.checked_add(2))
                        else {
                            return Err(HttpError::TooLarge);
                        };
                        if after > self.len {
                            if after > self.buf.len() {
                                return Err(HttpError::TooLarge);
                            }
                            return Ok(None);
                        }
                        if &self.buf[data + size..after] != b"\r\n" {
                            return Err(HttpError::BadChunk);
                        }
                        // Decoded body end ≤ raw position: moving down is safe.
                        self.buf.copy_within(data..data + size, *body_end);
                        *body_end += size;
                        *raw = after;
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::BufRead;
    use std::net::TcpListener;
    use std::time::Instant;
    use talon_core::clock::{MonotonicClock, NanoClock};

    /// Serves one connection: reads the request head, then writes `parts`
    /// with short pauses between them, then closes.
    fn serve_once(parts: Vec<Vec<u8>>) -> (SocketAddr, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut r = io::BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let mut s = s;
            for p in parts {
                s.write_all(&p).unwrap();
                s.flush().unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
            head
        });
        (addr, h)
    }

    fn get(addr: SocketAddr, cap: usize) -> (Result<(u16, Vec<u8>), TransportError>, HttpGet) {
        let clock = MonotonicClock::new();
        let target = HttpTarget {
            addr,
            host: format!("{addr}"),
            tls: None,
        };
        let mut g = HttpGet::new(target, cap, Duration::from_secs(10));
        g.start("/api/v3/depth?symbol=BTCUSDT&limit=5", clock.now())
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        let r = loop {
            match g.poll(clock.now()) {
                Ok(HttpPoll::Done) => break Ok((g.status(), g.body().to_vec())),
                Ok(HttpPoll::Pending) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_micros(200))
                }
                Ok(other) => panic!("unexpected {other:?}"),
                Err(e) => break Err(e),
            }
        };
        (r, g)
    }

    #[test]
    fn content_length_split_across_writes() {
        let body = br#"{"lastUpdateId":7,"bids":[["1.0","2.0"]],"asks":[]}"#.to_vec();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let (addr, h) = serve_once(vec![
            head.as_bytes()[..10].to_vec(),
            head.as_bytes()[10..].to_vec(),
            body[..5].to_vec(),
            body[5..].to_vec(),
        ]);
        let (r, g) = get(addr, 4096);
        assert_eq!(r.unwrap(), (200, body));
        assert!(!g.is_busy());
        let req = h.join().unwrap();
        assert!(
            req.starts_with("GET /api/v3/depth?symbol=BTCUSDT&limit=5 HTTP/1.1\r\n"),
            "{req}"
        );
        assert!(req.contains(&format!("Host: {addr}\r\n")));
    }

    #[test]
    fn chunked_body_is_decoded_in_place() {
        let (addr, h) = serve_once(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".to_vec(),
            b"7;ext=1\r\n, world\r\n".to_vec(),
            b"1\r\n!\r\n0\r\n\r\n".to_vec(),
        ]);
        let (r, _) = get(addr, 4096);
        assert_eq!(r.unwrap(), (200, b"hello, world!".to_vec()));
        h.join().unwrap();
    }

    #[test]
    fn body_until_eof_and_error_status() {
        let (addr, h) = serve_once(vec![
            b"HTTP/1.1 418 I'm a teapot\r\n\r\nshort and stout".to_vec(),
        ]);
        let (r, _) = get(addr, 4096);
        assert_eq!(r.unwrap(), (418, b"short and stout".to_vec()));
        h.join().unwrap();
    }

    #[test]
    fn huge_peer_lengths_are_refused_without_overflow() {
        let cases: [(&[u8], HttpError); 4] = [
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nabc",
                HttpError::TooLarge,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\nabc",
                HttpError::BadHead,
            ),
            // Larger than the buffer: refused at the head, before any body.
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
                HttpError::TooLarge,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc",
                HttpError::TooLarge,
            ),
        ];
        for (resp, want) in cases {
            let (addr, h) = serve_once(vec![resp.to_vec()]);
            assert_eq!(
                get(addr, 4096).0.unwrap_err(),
                TransportError::Http(want),
                "{}",
                String::from_utf8_lossy(resp)
            );
            let _ = h.join();
        }
        // A chunk size just past the buffer, after a valid chunk.
        let (addr, h) = serve_once(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1000\r\nxy".to_vec(),
        ]);
        assert_eq!(
            get(addr, 4096).0.unwrap_err(),
            TransportError::Http(HttpError::TooLarge)
        );
        let _ = h.join();
    }

    #[test]
    fn too_large_truncated_and_malformed() {
        let big = vec![b'x'; 5000];
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", big.len());
        let (addr, h) = serve_once(vec![head.into_bytes(), big]);
        assert_eq!(
            get(addr, 1024).0.unwrap_err(),
            TransportError::Http(HttpError::TooLarge)
        );
        let _ = h.join();

        let (addr, h) = serve_once(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc".to_vec(),
        ]);
        assert_eq!(
            get(addr, 4096).0.unwrap_err(),
            TransportError::Http(HttpError::Truncated)
        );
        h.join().unwrap();

        let (addr, h) = serve_once(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        ]);
        assert_eq!(
            get(addr, 4096).0.unwrap_err(),
            TransportError::Http(HttpError::BadChunk)
        );
        h.join().unwrap();

        let (addr, h) = serve_once(vec![b"NOT HTTP AT ALL\r\n\r\n".to_vec()]);
        assert_eq!(
            get(addr, 4096).0.unwrap_err(),
            TransportError::Http(HttpError::BadHead)
        );
        h.join().unwrap();
    }

    #[test]
    fn times_out_and_refuses_overlap() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap(); // accepts (backlog) but never answers
        let addr = l.local_addr().unwrap();
        let target = HttpTarget {
            addr,
            host: "h".into(),
            tls: None,
        };
        let mut g = HttpGet::new(target, 4096, Duration::from_millis(50));
        g.start("/", Nanos(1)).unwrap();
        assert_eq!(
            g.start("/", Nanos(1)).unwrap_err(),
            TransportError::Http(HttpError::Busy)
        );
        assert_eq!(
            g.poll(Nanos(1 + 60_000_000)).unwrap_err(),
            TransportError::Timeout
        );
        assert!(!g.is_busy());
        assert_eq!(g.poll(Nanos(2)).unwrap(), HttpPoll::Idle);
        let long = "x".repeat(REQUEST_CAP);
        assert_eq!(
            g.start(&long, Nanos(3)).unwrap_err(),
            TransportError::Http(HttpError::RequestTooLong)
        );
    }
}
