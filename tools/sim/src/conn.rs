//! One client connection: TLS sniffing, the HTTP/1.1 request head, REST
//! answers (keep-alive), and for WebSocket upgrades the reader thread
//! (control requests, pings, pongs, close) and the writer loop (market
//! messages filtered by subscription, control replies, server pings,
//! lifetime, and the configured faults).
//!
//! This module owns per-connection state: subscriptions, the `combined`
//! property, the outstanding ping and the fault counters. It never
//! generates market data (it reads formatted batches from the bus) and
//! never mutates another connection's state.

use std::collections::VecDeque;
use std::io::{self, BufWriter, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bus::Batch;
use crate::config::{DeflateMode, MalformedKind};
use crate::http::{self, parse_target, write_response, write_response_with};
use crate::orderapi::wsapi::{Action, Session};
use crate::orderapi::{self, Fault, Sink};
use crate::server::Shared;
use crate::stats::{add, dec, inc};
use crate::streams::StreamKind;
use crate::text::push_json_str;
use crate::transport::{self, ReadHalf, WriteHalf};
use crate::ws::{
    self, Deflate, FrameReader, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, ReadError,
};

/// Largest accepted request head.
const MAX_HEAD: usize = 16 * 1024;
/// Timeout for the TLS handshake and for reading a request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A blocked write longer than this closes the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Streams per connection (venue limit).
const MAX_STREAMS: usize = 1024;
/// Frames queued for a connection's writer (replies, pongs, user data)
/// before the connection is dropped as a slow consumer.
const MAX_QUEUED_OUT: usize = 1 << 16;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoning means a connection thread panicked; its state is still
    // plain data, keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Frames the reader hands to the writer.
#[derive(Debug)]
enum Out {
    Text(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, &'static str),
    /// Close the socket abruptly, no close frame (order fault).
    Abort,
}

/// User data for a WebSocket API connection goes into its writer queue.
#[derive(Debug)]
struct WsSink(Arc<ConnState>);

impl Sink for WsSink {
    fn send(&self, sh: &Shared, text: Vec<u8>) {
        push_out(sh, &self.0, Out::Text(text));
    }
}

#[derive(Debug, Default)]
struct Subs {
    /// Names in subscription order (unknown names included, as the venue
    /// acknowledges them too).
    names: Vec<String>,
    /// Stream id → subscribed.
    mask: Vec<bool>,
    combined: bool,
}

/// State shared by a connection's reader thread and writer loop.
#[derive(Debug)]
struct ConnState {
    subs: Mutex<Subs>,
    /// Bumped on every subscription change. Release on store, Acquire on
    /// load: the writer then sees the new `subs` (also under its mutex).
    subs_version: AtomicU64,
    out: Mutex<VecDeque<Out>>,
    /// Set (via `Bus::notify_flag`) when `out` has frames.
    flag: AtomicBool,
    /// The reader is gone (peer closed or protocol error). Release/Acquire:
    /// pairs the reader's final queue push with the writer's last drain.
    closing: AtomicBool,
    /// Outstanding server ping: payload and send time.
    ping: Mutex<Option<(Vec<u8>, Instant)>>,
}

/// Serves one accepted socket until it closes.
pub(crate) fn serve(sh: Arc<Shared>, tcp: TcpStream) {
    inc(&sh.stats.connections_total);
    inc(&sh.stats.connections_open);
    if let Err(e) = serve_inner(&sh, tcp)
        && e.kind() == io::ErrorKind::InvalidData
    {
        inc(&sh.stats.handshake_failures);
    }
    dec(&sh.stats.connections_open);
}

fn serve_inner(sh: &Arc<Shared>, tcp: TcpStream) -> io::Result<()> {
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(HEAD_TIMEOUT))?;
    tcp.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let tls = match &sh.tls {
        Some(cfg) => {
            let mut first = [0u8; 1];
            // 0x16: a TLS handshake record. Anything else is served in clear.
            if tcp.peek(&mut first)? == 1 && first[0] == 0x16 {
                inc(&sh.stats.tls_connections);
                Some(cfg.clone())
            } else {
                None
            }
        }
        None => None,
    };
    let (mut rd, mut wr) =
        transport::open(tcp, tls).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // Read one request head.
        let head_len = loop {
            let mut headers = [httparse::EMPTY_HEADER; 48];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => break n,
                Ok(httparse::Status::Partial) => {}
                Err(_) => {
                    write_response(
                        &mut wr,
                        400,
                        &http::error_body(-1000, "Malformed HTTP request."),
                        None,
                        false,
                    )?;
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "bad request"));
                }
            }
            if buf.len() > MAX_HEAD {
                write_response(
                    &mut wr,
                    431,
                    &http::error_body(-1000, "Request head too large."),
                    None,
                    false,
                )?;
                return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
            }
            let mut tmp = [0u8; 4096];
            let n = rd.read(&mut tmp)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&tmp[..n]);
        };
        let mut headers = [httparse::EMPTY_HEADER; 48];
        let mut req = httparse::Request::new(&mut headers);
        req.parse(&buf)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad request"))?;
        let method = req.method.unwrap_or("").to_string();
        let target = req.path.unwrap_or("/").to_string();
        let version = req.version.unwrap_or(1);
        let header = |name: &str| -> Vec<String> {
            req.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
                .collect()
        };
        let has_token = |name: &str, token: &str| {
            header(name)
                .iter()
                .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        };
        let upgrade = has_token("upgrade", "websocket");
        let close = version == 0 || has_token("connection", "close");
        let ws_key = header("sec-websocket-key").into_iter().next();
        let ws_version = header("sec-websocket-version").into_iter().next();
        let extensions = header("sec-websocket-extensions");
        let content_length: usize = header("content-length")
            .first()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let api_key = header("x-mbx-apikey").into_iter().next();
        let raw_query = target.split_once('?').map_or("", |(_, q)| q).to_string();
        let (path, query) = parse_target(&target);
        if upgrade {
            let leftover = buf.split_off(head_len);
            return serve_ws(
                sh,
                rd,
                wr,
                &method,
                &path,
                &query,
                ws_key,
                ws_version,
                &extensions,
                leftover,
            );
        }
        // Read the request body (order endpoints take form parameters).
        if content_length > 1 << 20 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request body too large",
            ));
        }
        while buf.len() < head_len + content_length {
            let mut tmp = [0u8; 4096];
            let n = rd.read(&mut tmp)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&tmp[..n]);
        }
        let body = String::from_utf8_lossy(&buf[head_len..head_len + content_length]).into_owned();
        buf.drain(..head_len + content_length);
        inc(&sh.stats.rest_requests);
        match orderapi::rest::route(&method, &path) {
            Some(Ok(m)) => {
                let r = orderapi::rest::handle(sh, m, &raw_query, &body, api_key.as_deref());
                match r.fault {
                    Fault::Drop => {
                        wr.shutdown();
                        return Ok(());
                    }
                    Fault::Delay(d) => std::thread::sleep(d),
                    Fault::None => {}
                }
                write_response_with(&mut wr, r.status, &r.body, &r.headers, !close)?;
            }
            Some(Err(())) => write_response(
                &mut wr,
                405,
                &http::error_body(
                    -1000,
                    &format!("Method {method} is not supported for {path}."),
                ),
                None,
                !close,
            )?,
            None => {
                let resp = http::rest(sh, &method, &path, &query);
                match sh.charge_weight(resp.weight) {
                    Ok(used) => {
                        write_response(&mut wr, resp.status, &resp.body, Some(used), !close)?
                    }
                    Err(e) => {
                        let r = orderapi::rest::limited(sh, &e);
                        write_response_with(&mut wr, r.status, &r.body, &r.headers, !close)?;
                    }
                }
            }
        }
        if close {
            wr.shutdown();
            return Ok(());
        }
    }
}

/// Initial subscriptions and wrapper mode from the upgrade path, or `None`
/// for an unknown path.
fn route(path: &str, query: &[(String, String)]) -> Option<(Vec<String>, bool)> {
    if path == "/ws" || path == "/ws/" {
        return Some((Vec::new(), false));
    }
    if let Some(name) = path.strip_prefix("/ws/") {
        return Some((
            name.split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            false,
        ));
    }
    if path == "/stream" || path == "/stream/" {
        let names = query
            .iter()
            .filter(|(k, _)| k == "streams")
            .flat_map(|(_, v)| v.split('/'))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        return Some((names, true));
    }
    None
}

#[allow(clippy::too_many_arguments)]
fn serve_ws(
    sh: &Arc<Shared>,
    rd: ReadHalf,
    mut wr: WriteHalf,
    method: &str,
    path: &str,
    query: &[(String, String)],
    key: Option<String>,
    version: Option<String>,
    extensions: &[String],
    leftover: Vec<u8>,
) -> io::Result<()> {
    let api_mode = path == "/ws-api/v3" || path == "/ws-api/v3/";
    let routed = if api_mode {
        Some((Vec::new(), false))
    } else {
        route(path, query)
    };
    let Some((initial, combined)) = routed else {
        write_response(
            &mut wr,
            404,
            &http::error_body(-1000, &format!("Unknown stream path {path}")),
            None,
            false,
        )?;
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "unknown ws path",
        ));
    };
    let key = match (method, key, version.as_deref()) {
        ("GET", Some(k), Some("13")) => k,
        _ => {
            write_response(
                &mut wr,
                400,
                &http::error_body(-1000, "Bad WebSocket handshake."),
                None,
                false,
            )?;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad ws handshake",
            ));
        }
    };
    if api_mode {
        // Connecting to the WebSocket API costs 2 weight; a banned or
        // limited client is refused with the venue's error.
        if let Err(e) = sh.charge_weight(2) {
            let r = orderapi::rest::limited(sh, &e);
            write_response_with(&mut wr, r.status, &r.body, &r.headers, false)?;
            return Err(io::Error::other("rate limited"));
        }
    }
    let offer = ws::parse_deflate_offer(extensions.iter().map(String::as_str));
    let deflate = match sh.cfg.deflate {
        DeflateMode::Accept if offer.acceptable => {
            inc(&sh.stats.deflate_negotiated);
            Some(Deflate::new(offer.client_no_context_takeover))
        }
        _ => {
            if offer.offered {
                inc(&sh.stats.deflate_rejected);
            }
            None
        }
    };
    let mut head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        ws::accept_key(key.trim().as_bytes())
    );
    if deflate.is_some() {
        head.push_str("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover");
        if offer.client_no_context_takeover {
            head.push_str("; client_no_context_takeover");
        }
        head.push_str("\r\n");
    }
    head.push_str("\r\n");

    // Subscribe and take the bus cursor before answering, so everything
    // generated after the client sees 101 reaches it.
    let st = Arc::new(ConnState {
        subs: Mutex::new(Subs {
            names: Vec::new(),
            mask: vec![false; sh.reg.len()],
            combined,
        }),
        subs_version: AtomicU64::new(0),
        out: Mutex::new(VecDeque::new()),
        flag: AtomicBool::new(false),
        closing: AtomicBool::new(false),
        ping: Mutex::new(None),
    });
    subscribe(sh, &st, &initial);
    let cursor = sh.bus.head();
    if let Err(e) = wr.write_all(head.as_bytes()).and_then(|()| wr.flush()) {
        release(sh, &st);
        return Err(e);
    }
    inc(&sh.stats.ws_connections);

    // The reader blocks until data or shutdown; the writer has the timeouts.
    rd.tcp().set_read_timeout(None)?;
    let reader_inflate = deflate
        .as_ref()
        .map(|d| Deflate::new(d.client_no_context_takeover()));
    let session = api_mode.then(|| {
        let rl = !query
            .iter()
            .any(|(k, v)| k == "returnRateLimits" && v == "false");
        Session::new(sh.api.conn_id(), rl, Arc::new(WsSink(st.clone())))
    });
    let conn_id = session.as_ref().map(|s| s.conn);
    let reader = {
        let sh = sh.clone();
        let st = st.clone();
        std::thread::Builder::new()
            .name("sim-ws-read".into())
            .spawn(move || {
                read_loop(
                    &sh,
                    &st,
                    FrameReader::new(rd, leftover),
                    reader_inflate,
                    session,
                )
            })?
    };
    let result = write_loop(sh, &st, wr, deflate, cursor);
    let _ = reader.join();
    if let Some(c) = conn_id {
        sh.api.unsubscribe(c, None);
    }
    release(sh, &st);
    result
}

/// Releases a closing connection's interest in its streams.
fn release(sh: &Shared, st: &ConnState) {
    let mut subs = lock(&st.subs);
    for (id, on) in subs.mask.iter_mut().enumerate() {
        if *on {
            *on = false;
            sh.reg.remove_interest(id as u32);
        }
    }
}

/// Applies SUBSCRIBE for `names`.
fn subscribe(sh: &Shared, st: &ConnState, names: &[String]) {
    let mut subs = lock(&st.subs);
    for n in names {
        if !subs.names.contains(n) {
            subs.names.push(n.clone());
        }
        if let Some(id) = sh.reg.id(n)
            && let Some(slot) = subs.mask.get_mut(id as usize)
            && !*slot
        {
            *slot = true;
            sh.reg.add_interest(id);
        }
    }
    drop(subs);
    // Release: pairs with the writer's Acquire load (it then locks `subs`).
    st.subs_version.fetch_add(1, Ordering::Release);
}

/// Applies UNSUBSCRIBE for `names`.
fn unsubscribe(sh: &Shared, st: &ConnState, names: &[String]) {
    let mut subs = lock(&st.subs);
    subs.names.retain(|n| !names.contains(n));
    for n in names {
        if let Some(id) = sh.reg.id(n)
            && let Some(slot) = subs.mask.get_mut(id as usize)
            && *slot
        {
            *slot = false;
            sh.reg.remove_interest(id);
        }
    }
    drop(subs);
    // Release: see `subscribe`.
    st.subs_version.fetch_add(1, Ordering::Release);
}

fn push_out(sh: &Shared, st: &ConnState, out: Out) {
    queue_out(st, out);
    sh.bus.notify_flag(&st.flag);
}

/// Queues `out` for the writer. A client that sends requests (or is sent
/// user data) without reading would grow the queue without bound: at
/// [`MAX_QUEUED_OUT`] the frame is dropped, the connection marked closing
/// (the reader stops, the writer closes once it has drained) and `false`
/// returned.
fn queue_out(st: &ConnState, out: Out) -> bool {
    let mut q = lock(&st.out);
    if q.len() >= MAX_QUEUED_OUT {
        drop(q);
        // Release: pairs with the writer's Acquire load (as the reader's
        // final store does); the queue itself is under its mutex.
        st.closing.store(true, Ordering::Release);
        return false;
    }
    q.push_back(out);
    true
}

fn read_loop(
    sh: &Shared,
    st: &ConnState,
    mut fr: FrameReader<ReadHalf>,
    mut inflate: Option<Deflate>,
    mut api: Option<Session>,
) {
    let mut msg: Vec<u8> = Vec::new();
    let mut msg_op: Option<(u8, bool)> = None;
    let end = loop {
        // Acquire: pairs with the Release store in `queue_out` (slow consumer).
        if st.closing.load(Ordering::Acquire) {
            inc(&sh.stats.slow_consumer_closes);
            break None;
        }
        let f = match fr.read_frame() {
            Ok(f) => f,
            Err(ReadError::Io) => break None,
            Err(ReadError::Protocol(code, why)) => break Some(Out::Close(code, why)),
        };
        // When the frame's read returned (wire-to-wire: order read back).
        let read_ns = if api.is_some() && sh.marks.enabled() {
            sh.marks.now_ns()
        } else {
            0
        };
        match f.opcode {
            OP_TEXT | OP_BINARY | OP_CONT => {
                if f.opcode == OP_CONT {
                    if msg_op.is_none() {
                        break Some(Out::Close(1002, "unexpected continuation"));
                    }
                } else {
                    if msg_op.is_some() {
                        break Some(Out::Close(1002, "expected continuation"));
                    }
                    if f.rsv1 && inflate.is_none() {
                        break Some(Out::Close(
                            1002,
                            "compressed frame without permessage-deflate",
                        ));
                    }
                    msg_op = Some((f.opcode, f.rsv1));
                    msg.clear();
                }
                msg.extend_from_slice(&f.payload);
                if msg.len() > 1 << 20 {
                    break Some(Out::Close(1009, "message too big"));
                }
                if !f.fin {
                    continue;
                }
                let Some((op, compressed)) = msg_op.take() else {
                    continue;
                };
                let data = if compressed {
                    match inflate.as_mut().map(|d| d.decompress(&msg)) {
                        Some(Ok(d)) => d,
                        _ => break Some(Out::Close(1007, "bad compressed data")),
                    }
                } else {
                    std::mem::take(&mut msg)
                };
                if op == OP_TEXT {
                    if std::str::from_utf8(&data).is_err() {
                        break Some(Out::Close(1007, "invalid UTF-8"));
                    }
                    if let Some(session) = api.as_mut() {
                        if read_ns != 0 {
                            sh.marks.on_request(&data, read_ns);
                        }
                        match orderapi::wsapi::handle(sh, session, &data) {
                            Action::Reply(t) => push_out(sh, st, Out::Text(t)),
                            Action::Delayed(d, t) => {
                                std::thread::sleep(d);
                                push_out(sh, st, Out::Text(t));
                            }
                            Action::Drop => break Some(Out::Abort),
                        }
                        continue;
                    }
                    let reply = control_reply(sh, st, &data);
                    inc(&sh.stats.control_replies);
                    push_out(sh, st, Out::Text(reply));
                }
            }
            OP_PING => push_out(sh, st, Out::Pong(f.payload)),
            OP_PONG => {
                let mut p = lock(&st.ping);
                if p.as_ref().is_some_and(|(payload, _)| *payload == f.payload) {
                    *p = None;
                    inc(&sh.stats.pongs_received);
                }
            }
            OP_CLOSE => {
                let code = if f.payload.len() >= 2 {
                    u16::from_be_bytes([f.payload[0], f.payload[1]])
                } else {
                    1000
                };
                // Echo the peer's code when it is one we may send.
                let code = if matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999) {
                    code
                } else {
                    1000
                };
                break Some(Out::Close(code, ""));
            }
            _ => break Some(Out::Close(1002, "unknown opcode")),
        }
    };
    if let Some(out) = end {
        lock(&st.out).push_back(out);
    }
    // Release: the writer's Acquire load then sees the final push above.
    st.closing.store(true, Ordering::Release);
    sh.bus.notify_flag(&st.flag);
}

/// `{"result":…,"id":…}` or `{"error":{"code":…,"msg":…},"id":…}`.
fn control_reply(sh: &Shared, st: &ConnState, text: &[u8]) -> Vec<u8> {
    let ok =
        |result: &Value, id: &Value| format!("{{\"result\":{result},\"id\":{id}}}").into_bytes();
    let error = |code: i64, msg: &str, id: &Value| {
        let mut out = format!("{{\"error\":{{\"code\":{code},\"msg\":").into_bytes();
        push_json_str(&mut out, msg);
        out.extend_from_slice(format!("}},\"id\":{id}}}").as_bytes());
        out
    };
    let v: Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => return error(3, &format!("Invalid JSON: {e}"), &Value::Null),
    };
    let Some(obj) = v.as_object() else {
        return error(2, "Invalid request: expected an object", &Value::Null);
    };
    let id = obj.get("id").cloned();
    let id_ok = match &id {
        Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_i64().is_some(),
        Some(Value::String(s)) => {
            !s.is_empty()
                && s.len() <= 36
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
        _ => false,
    };
    if !id_ok {
        return error(
            2,
            "Invalid request: request ID must be an unsigned integer",
            &Value::Null,
        );
    }
    let id = id.unwrap_or(Value::Null);
    let Some(method) = obj.get("method") else {
        return error(2, "Invalid request: missing field `method`", &id);
    };
    let params = obj.get("params");
    let names = || -> Option<Vec<String>> {
        params?
            .as_array()?
            .iter()
            .map(|p| p.as_str().map(str::to_string))
            .collect()
    };
    match method.as_str() {
        Some("SUBSCRIBE") => match names() {
            Some(n) => {
                if lock(&st.subs).names.len() + n.len() > MAX_STREAMS {
                    return error(2, "Invalid request: too many streams (limit 1024)", &id);
                }
                subscribe(sh, st, &n);
                ok(&Value::Null, &id)
            }
            None => error(
                2,
                "Invalid request: params must be an array of stream names",
                &id,
            ),
        },
        Some("UNSUBSCRIBE") => match names() {
            Some(n) => {
                unsubscribe(sh, st, &n);
                ok(&Value::Null, &id)
            }
            None => error(
                2,
                "Invalid request: params must be an array of stream names",
                &id,
            ),
        },
        Some("LIST_SUBSCRIPTIONS") => {
            let list: Vec<Value> = lock(&st.subs)
                .names
                .iter()
                .cloned()
                .map(Value::String)
                .collect();
            ok(&Value::Array(list), &id)
        }
        Some("SET_PROPERTY") => {
            let p = params.and_then(Value::as_array);
            match p.map(|p| (p.first(), p.get(1))) {
                Some((Some(Value::String(name)), value)) => {
                    if name != "combined" {
                        return error(0, "Unknown property", &id);
                    }
                    match value {
                        Some(Value::Bool(b)) => {
                            lock(&st.subs).combined = *b;
                            // Release: see `subscribe`.
                            st.subs_version.fetch_add(1, Ordering::Release);
                            ok(&Value::Null, &id)
                        }
                        _ => error(1, "Invalid value type: expected Boolean", &id),
                    }
                }
                _ => error(2, "Invalid request: property name must be a string", &id),
            }
        }
        Some("GET_PROPERTY") => match params.and_then(Value::as_array).and_then(|p| p.first()) {
            Some(Value::String(name)) if name == "combined" => {
                ok(&Value::Bool(lock(&st.subs).combined), &id)
            }
            Some(Value::String(_)) => error(0, "Unknown property", &id),
            _ => error(2, "Invalid request: property name must be a string", &id),
        },
        Some(other) => error(
            2,
            &format!(
                "Invalid request: unknown variant `{other}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, \
                 `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"
            ),
            &id,
        ),
        None => error(2, "Invalid request: method must be a string", &id),
    }
}

/// Per-connection fault counters.
#[derive(Debug, Default)]
struct FaultState {
    /// Market messages written (or replaced by malformed ones).
    msgs: u64,
    /// Diff-depth messages seen (sent or skipped).
    diffs: u64,
}

/// What the writer does after a message.
enum After {
    Continue,
    Drop,
}

struct Writer<'a> {
    sh: &'a Shared,
    w: BufWriter<WriteHalf>,
    deflate: Option<Deflate>,
    scratch: Vec<u8>,
    zbuf: Vec<u8>,
    faults: FaultState,
    bytes: u64,
}

impl Writer<'_> {
    /// Writes one data/control frame, compressing data frames when
    /// permessage-deflate is on.
    fn frame(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        match (&mut self.deflate, opcode) {
            (Some(d), OP_TEXT | OP_BINARY) => {
                d.compress(payload, &mut self.zbuf)?;
                ws::write_frame(&mut self.w, opcode, true, &self.zbuf)?;
                self.bytes += self.zbuf.len() as u64 + 2;
            }
            _ => {
                ws::write_frame(&mut self.w, opcode, false, payload)?;
                self.bytes += payload.len() as u64 + 2;
            }
        }
        Ok(())
    }

    /// Delivers one market message with the configured faults.
    fn market(
        &mut self,
        name: &str,
        combined: bool,
        diff: bool,
        kind_index: usize,
        text: &[u8],
        mark: Option<u64>,
    ) -> io::Result<After> {
        let f = &self.sh.cfg.faults;
        if diff {
            self.faults.diffs += 1;
            let d = self.faults.diffs;
            if f.gap_at == Some(d) || f.gap_every.is_some_and(|n| d.is_multiple_of(n)) {
                inc(&self.sh.stats.fault_gaps);
                return Ok(After::Continue);
            }
        }
        self.faults.msgs += 1;
        let n = self.faults.msgs;
        let malformed = f.malformed_every.is_some_and(|k| n.is_multiple_of(k));
        if !malformed && self.deflate.is_none() {
            // Fast path: header and pieces straight into the buffer.
            if combined {
                self.scratch.clear();
                self.scratch.extend_from_slice(b"{\"stream\":");
                push_json_str(&mut self.scratch, name);
                self.scratch.extend_from_slice(b",\"data\":");
                let len = self.scratch.len() + text.len() + 1;
                ws::write_header(&mut self.w, OP_TEXT, false, len)?;
                self.w.write_all(&self.scratch)?;
                self.w.write_all(text)?;
                self.w.write_all(b"}")?;
                self.bytes += len as u64 + 4;
            } else {
                ws::write_header(&mut self.w, OP_TEXT, false, text.len())?;
                self.w.write_all(text)?;
                self.bytes += text.len() as u64 + 4;
            }
        } else {
            let mut payload = std::mem::take(&mut self.scratch);
            payload.clear();
            if combined {
                payload.extend_from_slice(b"{\"stream\":");
                push_json_str(&mut payload, name);
                payload.extend_from_slice(b",\"data\":");
                payload.extend_from_slice(text);
                payload.push(b'}');
            } else {
                payload.extend_from_slice(text);
            }
            if malformed {
                inc(&self.sh.stats.fault_malformed);
                corrupt(&mut payload, f.malformed_kind);
            }
            let r = self.frame(OP_TEXT, &payload);
            self.scratch = payload;
            r?;
        }
        if let Some(t) = mark {
            // A marked tick: stamp it, then put it on the socket now (the
            // stamp comes first so its order cannot be read before it).
            self.sh.marks.on_written(t);
            self.w.flush()?;
        }
        if let Some(c) = self.sh.stats.sent_by_kind.get(kind_index) {
            inc(c);
        }
        if f.drop_after == Some(n) && self.sh.take_drop() {
            inc(&self.sh.stats.fault_drops);
            return Ok(After::Drop);
        }
        if !f.stall.is_zero()
            && (f.stall_after == Some(n) || f.stall_every.is_some_and(|k| n.is_multiple_of(k)))
        {
            inc(&self.sh.stats.fault_stalls);
            self.w.flush()?;
            std::thread::sleep(f.stall);
        }
        Ok(After::Continue)
    }
}

/// Breaks a JSON text (keeps it valid UTF-8 so only the JSON layer fails).
fn corrupt(payload: &mut Vec<u8>, kind: MalformedKind) {
    match kind {
        MalformedKind::Truncate => {
            let mut cut = payload.len() / 2;
            while cut > 0 && std::str::from_utf8(&payload[..cut]).is_err() {
                cut -= 1;
            }
            payload.truncate(cut);
        }
        MalformedKind::Garbage => {
            for b in payload.iter_mut() {
                *b = match *b {
                    b'"' => b'\'',
                    b'{' => b'<',
                    b':' => b'=',
                    other => other,
                };
            }
        }
    }
}

fn write_loop(
    sh: &Shared,
    st: &ConnState,
    wr: WriteHalf,
    deflate: Option<Deflate>,
    mut cursor: u64,
) -> io::Result<()> {
    let start = Instant::now();
    let mut wrt = Writer {
        sh,
        w: BufWriter::with_capacity(256 * 1024, wr),
        deflate,
        scratch: Vec::with_capacity(1024),
        zbuf: Vec::new(),
        faults: FaultState::default(),
        bytes: 0,
    };
    let mut batches: Vec<Arc<Batch>> = Vec::new();
    let mut mask: Vec<bool> = Vec::new();
    let mut combined = false;
    let mut seen_version = u64::MAX;
    let mut next_ping = start + sh.cfg.ping_interval;
    let mut ping_seq: u64 = 0;
    let lifetime_end = start + sh.cfg.connection_lifetime;
    let result = loop {
        let now = Instant::now();
        if sh.stopping() {
            let _ = wrt.frame(OP_CLOSE, &ws::close_payload(1001, "server shutting down"));
            break Ok(());
        }
        if now >= lifetime_end {
            inc(&sh.stats.lifetime_closes);
            let _ = wrt.frame(
                OP_CLOSE,
                &ws::close_payload(1000, "connection lifetime reached"),
            );
            break Ok(());
        }
        // Pong deadline of the outstanding ping.
        let outstanding = lock(&st.ping).as_ref().map(|(_, t)| *t);
        if let Some(t) = outstanding
            && now >= t + sh.cfg.pong_timeout
        {
            inc(&sh.stats.pong_timeouts);
            let _ = wrt.frame(OP_CLOSE, &ws::close_payload(1008, "pong timeout"));
            break Ok(());
        }
        if now >= next_ping {
            ping_seq += 1;
            let payload = ping_seq.to_string().into_bytes();
            // A new ping replaces an unanswered one only if none is pending.
            let mut p = lock(&st.ping);
            if p.is_none() {
                *p = Some((payload.clone(), now));
            }
            drop(p);
            if let Err(e) = wrt.frame(OP_PING, &payload) {
                break Err(e);
            }
            inc(&sh.stats.pings_sent);
            next_ping = now + sh.cfg.ping_interval;
        }
        // Control replies, pongs and close from the reader.
        // Relaxed: clearing before the drain below; a reply pushed after the
        // drain sets it again (Release, under the bus lock) and `Bus::wait`
        // then returns at once, so no wake-up is lost.
        st.flag.store(false, Ordering::Relaxed);
        let outs: Vec<Out> = lock(&st.out).drain(..).collect();
        let mut close = false;
        for o in outs {
            let r = match o {
                Out::Text(t) => wrt.frame(OP_TEXT, &t),
                Out::Pong(p) => wrt.frame(OP_PONG, &p),
                Out::Close(code, why) => {
                    close = true;
                    wrt.frame(OP_CLOSE, &ws::close_payload(code, why))
                }
                Out::Abort => {
                    close = true;
                    Ok(())
                }
            };
            if r.is_err() {
                close = true;
                break;
            }
        }
        // Acquire: pairs with the reader's Release store after its last push.
        if close || st.closing.load(Ordering::Acquire) && lock(&st.out).is_empty() {
            break Ok(());
        }
        // Subscription changes.
        // Acquire: pairs with the Release increments in subscribe/unsubscribe.
        let v = st.subs_version.load(Ordering::Acquire);
        if v != seen_version {
            let s = lock(&st.subs);
            mask.clone_from(&s.mask);
            combined = s.combined;
            seen_version = v;
        }
        if let Err(e) = wrt.w.flush() {
            break Err(e);
        }
        // Wait for market data (or a reply, or the next ping).
        let mut wait = next_ping
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(50));
        if let Some(t) = outstanding {
            wait = wait.min((t + sh.cfg.pong_timeout).saturating_duration_since(Instant::now()));
        }
        batches.clear();
        if sh
            .bus
            .wait(&mut cursor, &mut batches, &st.flag, wait)
            .is_err()
        {
            inc(&sh.stats.slow_consumer_closes);
            break Ok(());
        }
        let mut dropped = false;
        'outer: for b in &batches {
            for e in &b.entries {
                if !mask.get(e.stream as usize).copied().unwrap_or(false) {
                    continue;
                }
                let Some(info) = sh.reg.get(e.stream) else {
                    continue;
                };
                let mark = if info.kind == StreamKind::Trade {
                    sh.marks.marked_trade(b.text(e))
                } else {
                    None
                };
                match wrt.market(
                    &info.name,
                    combined,
                    info.kind.is_diff(),
                    info.kind.stat_index(),
                    b.text(e),
                    mark,
                ) {
                    Ok(After::Continue) => {}
                    Ok(After::Drop) => {
                        dropped = true;
                        break 'outer;
                    }
                    Err(_) => {
                        dropped = true;
                        break 'outer;
                    }
                }
            }
        }
        if dropped {
            let _ = wrt.w.flush();
            break Ok(());
        }
        if let Err(e) = wrt.w.flush() {
            break Err(e);
        }
    };
    let _ = wrt.w.flush();
    add(&sh.stats.bytes_sent, wrt.bytes);
    wrt.w.get_ref().shutdown();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_queue_is_bounded_for_clients_that_never_read() {
        let st = ConnState {
            subs: Mutex::new(Subs::default()),
            subs_version: AtomicU64::new(0),
            out: Mutex::new(VecDeque::new()),
            flag: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            ping: Mutex::new(None),
        };
        for _ in 0..MAX_QUEUED_OUT {
            assert!(queue_out(&st, Out::Text(b"{}".to_vec())));
        }
        assert!(!st.closing.load(Ordering::Acquire));
        for _ in 0..5 {
            assert!(!queue_out(&st, Out::Pong(Vec::new())));
        }
        assert_eq!(lock(&st.out).len(), MAX_QUEUED_OUT);
        assert!(st.closing.load(Ordering::Acquire));
    }

    #[test]
    fn paths_route_like_the_venue() {
        assert_eq!(route("/ws", &[]), Some((vec![], false)));
        assert_eq!(
            route("/ws/btcusdt@trade", &[]),
            Some((vec!["btcusdt@trade".to_string()], false))
        );
        let q = vec![("streams".to_string(), "a@trade/b@depth".to_string())];
        assert_eq!(
            route("/stream", &q),
            Some((vec!["a@trade".to_string(), "b@depth".to_string()], true))
        );
        assert_eq!(route("/api/v3/ping", &[]), None);
        let mut p = b"{\"a\":\"b\"}".to_vec();
        corrupt(&mut p, MalformedKind::Truncate);
        assert_eq!(p, b"{\"a\"");
        let mut p = b"{\"a\":\"b\"}".to_vec();
        corrupt(&mut p, MalformedKind::Garbage);
        assert!(serde_json::from_slice::<Value>(&p).is_err());
    }
}
