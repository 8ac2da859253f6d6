//! Non-blocking WebSocket client: tungstenite for the upgrade handshake, a
//! zero-copy RFC 6455 frame reader for the data path.
//!
//! Owns [`WsClient`] (a state machine `Idle → Connecting → Handshaking →
//! Open`, advanced by [`WsClient::poll`], which never blocks and does bounded
//! work), [`FrameReader`] (server→client frames parsed in place in one fixed
//! read buffer; fragmented messages reassembled into a second fixed buffer),
//! [`encode_frame`] (masked client→server frames) and [`WsConfig`].
//!
//! ## Why not tungstenite's `WebSocket::read` on the data path
//! tungstenite 0.30's `read()` returns an owned `Message` whose payload is a
//! `Bytes` split off its read buffer: each message costs at least one
//! allocation (plus reallocation of the buffer as it refills). The hot path
//! may not allocate, so after the upgrade the socket is taken back
//! (`WebSocket::into_inner`) and frames are parsed here: a complete,
//! unfragmented data frame is handed to the caller as a `&[u8]` into the read
//! buffer (no copy); fragments are copied once into the reassembly buffer.
//! The handshake (request, key, `Sec-WebSocket-Accept` check) stays
//! tungstenite's. To keep tungstenite from swallowing frames that arrive in
//! the same segment as the `101` response, the handshake reads through
//! [`HsStream`], which serves it bytes only up to the end of the response head
//! (`\r\n\r\n`) and keeps the rest in our read buffer. The read buffer is
//! lent to [`HsStream`] during the handshake and handed back on every exit:
//! on success, and on a timeout, `connect`, `close` or error while
//! handshaking (`drop_connection` takes it back out of the pending
//! handshake). Only when tungstenite itself fails the handshake (it consumes
//! the stream) is a new buffer allocated — a cold path.
//!
//! ## What allocates
//! * Per connection (cold): the tungstenite handshake (request, response
//!   headers), the TLS session; after an upgrade tungstenite refused, a new
//!   read buffer.
//! * Per message on `ws://`: nothing. Frames are read into the preallocated
//!   buffer; pongs, pings and close frames are encoded into a preallocated
//!   write buffer.
//! * On `wss://`: rustls allocates per TLS record (see [`crate::tls`]).
//!
//! ## Protocol notes
//! Server frames must be unmasked and use no RSV bits (no extension is
//! negotiated: we never offer permessage-deflate); control frames are at
//! most 125 bytes and unfragmented; text payloads are not UTF-8-checked here
//! (the JSON decoder rejects what it cannot read). Pings are answered with a
//! pong echoing the payload (only the latest if several are pending, as RFC
//! 6455 §5.5.3 allows); a close frame is echoed and ends the connection. Our
//! own pings (`ping_interval`) carry an empty payload. Masking keys come from
//! a seeded [`SplitMix64`]: masking protects intermediaries, not secrecy.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mio::net::TcpStream;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use talon_core::clock::{NanoClock, Nanos};
use tungstenite::HandshakeError;
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::MidHandshake;
use tungstenite::handshake::client::ClientHandshake;

use crate::backoff::SplitMix64;
use crate::error::{TransportError, WsProtocolError};
use crate::net::{Conn, connect_progress, io_err, start_connect};
use crate::tls::TlsStream;

/// Opcodes (RFC 6455 §5.2).
const OP_CONT: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Largest frame header: 2 + 8 (length) + 4 (mask).
pub const MAX_HEADER: usize = 14;

/// WebSocket client settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WsConfig {
    /// Read buffer bytes; a single frame must fit.
    pub read_buffer: usize,
    /// Largest (reassembled) message accepted.
    pub max_message: usize,
    /// Outgoing buffer for control frames and subscription messages.
    pub write_buffer: usize,
    /// Our ping period (zero = never).
    pub ping_interval: Duration,
    /// Drop the connection after this long without a byte.
    pub dead_after: Duration,
    /// Connect + TLS + upgrade must finish within this.
    pub connect_timeout: Duration,
    /// Reads per `poll` at most (bounded work).
    pub max_reads_per_poll: usize,
    /// Seed of the masking-key generator.
    pub seed: u64,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            read_buffer: 2 << 20,
            max_message: 1 << 20,
            write_buffer: 16 << 10,
            ping_interval: Duration::from_secs(30),
            dead_after: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_reads_per_poll: 4,
            seed: 1,
        }
    }
}

/// Where to connect: resolved address, URL (for the request line and `Host`)
/// and, for `wss://`, the TLS config and server name.
#[derive(Clone, Debug)]
pub struct WsTarget {
    /// The resolved socket address.
    pub addr: SocketAddr,
    /// `ws://host:port/path?query` or `wss://…`.
    pub url: String,
    /// TLS settings for `wss://`.
    pub tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

/// The client's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsState {
    /// No connection.
    Idle,
    /// TCP connect in progress.
    Connecting,
    /// TLS and/or WebSocket upgrade in progress.
    Handshaking,
    /// Upgraded: messages flow.
    Open,
}

/// What one [`WsClient::poll`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WsProgress {
    /// The connection became open during this poll.
    pub opened: bool,
    /// Data messages handed to the callback.
    pub messages: usize,
    /// Bytes read from the socket.
    pub bytes: usize,
    /// Control frames handled or sent (pings, pongs).
    pub control: usize,
}

impl WsProgress {
    /// A work count for the agent's idle strategy (0 = nothing happened).
    pub fn work(&self) -> usize {
        self.messages + self.control + usize::from(self.opened) + usize::from(self.bytes > 0)
    }
}

/// One frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    fin: bool,
    opcode: u8,
    header_len: usize,
    payload_len: usize,
}

/// Parses a server frame header from `b`, or `None` if more bytes are needed.
fn parse_header(b: &[u8]) -> Result<Option<Header>, WsProtocolError> {
    if b.len() < 2 {
        return Ok(None);
    }
    let fin = b[0] & 0x80 != 0;
    if b[0] & 0x70 != 0 {
        return Err(WsProtocolError::ReservedBits);
    }
    let opcode = b[0] & 0x0F;
    if b[1] & 0x80 != 0 {
        return Err(WsProtocolError::MaskedFrame);
    }
    let (header_len, payload_len) = match b[1] & 0x7F {
        126 => {
            if b.len() < 4 {
                return Ok(None);
            }
            let n = usize::from(u16::from_be_bytes([b[2], b[3]]));
            if n < 126 {
                return Err(WsProtocolError::BadLength);
            }
            (4, n)
        }
        127 => {
            if b.len() < 10 {
                return Ok(None);
            }
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[2..10]);
            let n = u64::from_be_bytes(a);
            if n >> 63 != 0 || n <= 0xFFFF {
                return Err(WsProtocolError::BadLength);
            }
            (10, usize::try_from(n).unwrap_or(usize::MAX))
        }
        n => (2, usize::from(n)),
    };
    match opcode {
        OP_CONT | OP_TEXT | OP_BINARY => {}
        OP_CLOSE | OP_PING | OP_PONG => {
            if !fin || payload_len > 125 {
                return Err(WsProtocolError::BadControlFrame);
            }
        }
        _ => return Err(WsProtocolError::UnknownOpcode),
    }
    Ok(Some(Header {
        fin,
        opcode,
        header_len,
        payload_len,
    }))
}

/// Something [`FrameReader::next_event`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameEvent<'a> {
    /// A complete data message (text or binary).
    Message(&'a [u8]),
    /// A ping with its payload (answer with a pong echoing it).
    Ping(&'a [u8]),
    /// A pong.
    Pong,
    /// A close frame with its status code, if any.
    Close(Option<u16>),
}

/// Server→client frames, parsed in place in a fixed buffer.
pub struct FrameReader {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    frag: Box<[u8]>,
    frag_len: usize,
    frag_open: bool,
}

impl std::fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReader")
            .field("capacity", &self.buf.len())
            .field("buffered", &(self.end - self.start))
            .field("fragment", &self.frag_len)
            .finish()
    }
}

impl FrameReader {
    /// A reader with a `read_buffer`-byte buffer and messages up to
    /// `max_message` bytes (allocates both buffers now, never again).
    pub fn new(read_buffer: usize, max_message: usize) -> FrameReader {
        FrameReader {
            buf: vec![0u8; read_buffer.max(MAX_HEADER + 1)].into_boxed_slice(),
            start: 0,
            end: 0,
            frag: vec![0u8; max_message].into_boxed_slice(),
            frag_len: 0,
            frag_open: false,
        }
    }

    /// Forgets everything buffered (a new connection).
    pub fn reset(&mut self) {
        self.start = 0;
        self.end = 0;
        self.frag_len = 0;
        self.frag_open = false;
    }

    /// Bytes buffered but not yet parsed.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Reads once from `src` into the free tail of the buffer (compacting
    /// first if needed). `Ok(0)` is EOF; `WouldBlock` passes through.
    pub fn read_from<R: Read + ?Sized>(&mut self, src: &mut R) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.buf.len() - self.end < self.buf.len() / 4 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Only reachable with start == 0: one frame larger than the buffer
            // (next_event reports TooLarge before we get here).
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        let n = src.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Lets tests and the handshake hand over bytes already read.
    fn take_buffer(&mut self) -> Box<[u8]> {
        std::mem::take(&mut self.buf)
    }

    fn restore_buffer(&mut self, buf: Box<[u8]>, start: usize, end: usize) {
        self.buf = buf;
        self.start = start;
        self.end = end;
    }

    /// The next event from the buffered bytes, or `None` if a frame is still
    /// incomplete (read more).
    pub fn next_event(&mut self) -> Result<Option<FrameEvent<'_>>, TransportError> {
        loop {
            let avail = &self.buf[self.start..self.end];
            let Some(h) = parse_header(avail)? else {
                return Ok(None);
            };
            let total = h.header_len.saturating_add(h.payload_len);
            if total > self.buf.len() || h.payload_len > self.frag.len() {
                return Err(TransportError::TooLarge);
            }
            if total > avail.len() {
                if self.start + total > self.buf.len() {
                    // Make room for the rest of this frame now.
                    self.buf.copy_within(self.start..self.end, 0);
                    self.end -= self.start;
                    self.start = 0;
                }
                return Ok(None);
            }
            let p0 = self.start + h.header_len;
            let p1 = p0 + h.payload_len;
            self.start += total;
            match h.opcode {
                OP_TEXT | OP_BINARY => {
                    if self.frag_open {
                        return Err(WsProtocolError::BadFragmentation.into());
                    }
                    if h.fin {
                        return Ok(Some(FrameEvent::Message(&self.buf[p0..p1])));
                    }
                    self.frag[..h.payload_len].copy_from_slice(&self.buf[p0..p1]);
                    self.frag_len = h.payload_len;
                    self.frag_open = true;
                }
                OP_CONT => {
                    if !self.frag_open {
                        return Err(WsProtocolError::BadFragmentation.into());
                    }
                    let new_len = self.frag_len + h.payload_len;
                    if new_len > self.frag.len() {
                        return Err(TransportError::TooLarge);
                    }
                    self.frag[self.frag_len..new_len].copy_from_slice(&self.buf[p0..p1]);
                    self.frag_len = new_len;
                    if h.fin {
                        self.frag_open = false;
                        return Ok(Some(FrameEvent::Message(&self.frag[..new_len])));
                    }
                }
                OP_PING => return Ok(Some(FrameEvent::Ping(&self.buf[p0..p1]))),
                OP_PONG => return Ok(Some(FrameEvent::Pong)),
                _ => {
                    // OP_CLOSE (parse_header admits no other opcode). A
                    // body is empty or starts with a 2-byte code: a 1-byte
                    // body is a protocol error (RFC 6455 §5.5.1, 1002).
                    if h.payload_len == 1 {
                        return Err(WsProtocolError::BadControlFrame.into());
                    }
                    let code = (h.payload_len >= 2)
                        .then(|| u16::from_be_bytes([self.buf[p0], self.buf[p0 + 1]]));
                    return Ok(Some(FrameEvent::Close(code)));
                }
            }
        }
    }
}

/// Encodes one masked client frame (FIN set) into `out`; returns its length,
/// or `None` if `out` is too small.
pub fn encode_frame(out: &mut [u8], opcode: u8, payload: &[u8], mask: [u8; 4]) -> Option<usize> {
    let n = payload.len();
    let hl = if n < 126 {
        6
    } else if n <= 0xFFFF {
        8
    } else {
        14
    };
    let total = hl + n;
    if out.len() < total {
        return None;
    }
    out[0] = 0x80 | (opcode & 0x0F);
    match hl {
        6 => out[1] = 0x80 | n as u8,
        8 => {
            out[1] = 0x80 | 126;
            out[2..4].copy_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out[1] = 0x80 | 127;
            out[2..10].copy_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out[hl - 4..hl].copy_from_slice(&mask);
    for (i, (o, p)) in out[hl..total].iter_mut().zip(payload).enumerate() {
        *o = p ^ mask[i & 3];
    }
    Some(total)
}

/// The stream the tungstenite handshake reads through: it serves bytes only
/// up to the end of the HTTP response head, so any frames that arrived with
/// the `101` stay in our buffer.
struct HsStream {
    conn: Conn,
    buf: Box<[u8]>,
    filled: usize,
    served: usize,
    head_end: Option<usize>,
}

impl std::fmt::Debug for HsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsStream")
            .field("filled", &self.filled)
            .field("served", &self.served)
            .finish()
    }
}

impl Read for HsStream {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let limit = self.head_end.unwrap_or(self.filled);
            if self.served < limit {
                let n = out.len().min(limit - self.served);
                out[..n].copy_from_slice(&self.buf[self.served..self.served + n]);
                self.served += n;
                return Ok(n);
            }
            if self.head_end.is_some() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if self.filled == self.buf.len() {
                return Err(io::Error::other(
                    "handshake response larger than the buffer",
                ));
            }
            let n = self.conn.read(&mut self.buf[self.filled..])?;
            if n == 0 {
                return Ok(0);
            }
            let from = self.filled.saturating_sub(3);
            self.filled += n;
            if let Some(i) = self.buf[from..self.filled]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
            {
                self.head_end = Some(from + i + 4);
            }
        }
    }
}

impl Write for HsStream {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.conn.write(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.conn.flush()
    }
}

enum Phase {
    Idle,
    Connecting(TcpStream),
    Handshaking(Box<MidHandshake<ClientHandshake<HsStream>>>),
    Open(Conn),
}

/// A non-blocking WebSocket client (see the module docs).
pub struct WsClient {
    cfg: WsConfig,
    phase: Phase,
    target: Option<WsTarget>,
    reader: FrameReader,
    wbuf: Box<[u8]>,
    wstart: usize,
    wend: usize,
    rng: SplitMix64,
    phase_since: Nanos,
    last_rx: Nanos,
    last_ping: Nanos,
    last_read_stamp: Nanos,
    pending_pong: [u8; 125],
    pending_pong_len: Option<usize>,
}

impl std::fmt::Debug for WsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsClient")
            .field("state", &self.state())
            .field("reader", &self.reader)
            .finish()
    }
}

fn handshake_error(e: tungstenite::Error) -> TransportError {
    match e {
        tungstenite::Error::Io(e) => io_err(&e),
        tungstenite::Error::Tls(_) => TransportError::Tls,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            TransportError::Closed
        }
        _ => TransportError::Handshake,
    }
}

impl WsClient {
    /// A client with its buffers allocated (the last allocation of the data
    /// path).
    pub fn new(cfg: WsConfig) -> WsClient {
        WsClient {
            reader: FrameReader::new(cfg.read_buffer, cfg.max_message),
            wbuf: vec![0u8; cfg.write_buffer.max(256)].into_boxed_slice(),
            wstart: 0,
            wend: 0,
            rng: SplitMix64::new(cfg.seed),
            cfg,
            phase: Phase::Idle,
            target: None,
            phase_since: Nanos::ZERO,
            last_rx: Nanos::ZERO,
            last_ping: Nanos::ZERO,
            last_read_stamp: Nanos::ZERO,
            pending_pong: [0u8; 125],
            pending_pong_len: None,
        }
    }

    /// The current phase.
    pub fn state(&self) -> WsState {
        match self.phase {
            Phase::Idle => WsState::Idle,
            Phase::Connecting(_) => WsState::Connecting,
            Phase::Handshaking(_) => WsState::Handshaking,
            Phase::Open(_) => WsState::Open,
        }
    }

    /// Starts connecting to `target` (drops any current connection). Returns
    /// at once; [`poll`](Self::poll) carries the connection forward.
    pub fn connect(&mut self, target: WsTarget, now: Nanos) -> Result<(), TransportError> {
        self.drop_connection();
        let tcp = start_connect(target.addr)?;
        self.target = Some(target);
        self.phase = Phase::Connecting(tcp);
        self.phase_since = now;
        Ok(())
    }

    /// Sends a close frame (best effort) and drops the connection.
    pub fn close(&mut self) {
        if let Phase::Open(_) = self.phase {
            let code = 1000u16.to_be_bytes();
            if self.queue_frame(OP_CLOSE, &code).is_ok() {
                let _ = self.flush_writes();
            }
        }
        self.drop_connection();
    }

    fn drop_connection(&mut self) {
        match &mut self.phase {
            Phase::Open(conn) => {
                let _ = conn.tcp().shutdown(std::net::Shutdown::Both);
            }
            // The read buffer is lent to the handshake stream: take it back
            // (no allocation) before the handshake is dropped.
            Phase::Handshaking(mid) => {
                let buf = std::mem::take(&mut mid.get_mut().get_mut().buf);
                self.reader.restore_buffer(buf, 0, 0);
            }
            Phase::Idle | Phase::Connecting(_) => {}
        }
        self.phase = Phase::Idle;
        self.ensure_buffer();
        self.reader.reset();
        self.wstart = 0;
        self.wend = 0;
        self.pending_pong_len = None;
    }

    /// Gives the reader a new buffer if a handshake that failed inside
    /// tungstenite (which consumes its stream) took ours down with it. Cold
    /// path (a failed upgrade): allocating here is acceptable; every other
    /// exit path hands the buffer back without allocating.
    fn ensure_buffer(&mut self) {
        if self.reader.buf.is_empty() {
            self.reader = FrameReader::new(self.cfg.read_buffer, self.cfg.max_message);
        }
    }

    /// Queues a text message (e.g. a `SUBSCRIBE` request) and tries to send it.
    pub fn send_text(&mut self, text: &[u8]) -> Result<(), TransportError> {
        if !matches!(self.phase, Phase::Open(_)) {
            return Err(TransportError::NotConnected);
        }
        self.queue_frame(OP_TEXT, text)?;
        self.flush_writes().map(|_| ())
    }

    /// Sends a ping now (empty payload).
    pub fn send_ping(&mut self, now: Nanos) -> Result<(), TransportError> {
        if !matches!(self.phase, Phase::Open(_)) {
            return Err(TransportError::NotConnected);
        }
        self.queue_frame(OP_PING, &[])?;
        self.last_ping = now;
        self.flush_writes().map(|_| ())
    }

    fn queue_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<(), TransportError> {
        if self.wstart == self.wend {
            self.wstart = 0;
            self.wend = 0;
        }
        let need = payload.len() + MAX_HEADER;
        if self.wbuf.len() - self.wend < need && self.wstart > 0 {
            self.wbuf.copy_within(self.wstart..self.wend, 0);
            self.wend -= self.wstart;
            self.wstart = 0;
        }
        let mask = self.rng.next_u64().to_le_bytes();
        let mask = [mask[0], mask[1], mask[2], mask[3]];
        let n = encode_frame(&mut self.wbuf[self.wend..], opcode, payload, mask)
            .ok_or(TransportError::WriteBufferFull)?;
        self.wend += n;
        Ok(())
    }

    /// Writes queued frames until the socket would block. Returns bytes written.
    fn flush_writes(&mut self) -> Result<usize, TransportError> {
        let Phase::Open(conn) = &mut self.phase else {
            return Ok(0);
        };
        let mut written = 0;
        while self.wstart < self.wend {
            match conn.write(&self.wbuf[self.wstart..self.wend]) {
                Ok(0) => return Err(TransportError::Closed),
                Ok(n) => {
                    self.wstart += n;
                    written += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(&e)),
            }
        }
        match conn.flush_pending() {
            Ok(_) => Ok(written),
            Err(e) => Err(io_err(&e)),
        }
    }

    /// Advances the connection: connect, handshake, or read frames, answer
    /// pings, send our pings and detect a dead peer. The poll that completes
    /// the handshake returns `opened` and delivers no message (they follow
    /// from the next poll), so the caller can reset per-connection state
    /// first.
    ///
    /// Data messages go to
    /// `on_message(payload, recv_stamp)` (at most `max_messages` per call),
    /// where `recv_stamp` is the clock right after the socket read that
    /// completed the message. On `Err` the connection is gone (state
    /// [`WsState::Idle`]); reconnect with backoff.
    pub fn poll<C: NanoClock, F: FnMut(&[u8], Nanos)>(
        &mut self,
        clock: &C,
        max_messages: usize,
        on_message: F,
    ) -> Result<WsProgress, TransportError> {
        let r = self.poll_inner(clock, max_messages, on_message);
        if r.is_err() {
            self.drop_connection();
        }
        r
    }

    fn poll_inner<C: NanoClock, F: FnMut(&[u8], Nanos)>(
        &mut self,
        clock: &C,
        max_messages: usize,
        mut on_message: F,
    ) -> Result<WsProgress, TransportError> {
        let mut progress = WsProgress::default();
        let now = clock.now();
        let timeout = duration_nanos(self.cfg.connect_timeout);
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Idle => return Ok(progress),
            Phase::Connecting(tcp) => {
                if !connect_progress(&tcp)? {
                    if now.saturating_elapsed_since(self.phase_since) > timeout {
                        return Err(TransportError::Timeout);
                    }
                    self.phase = Phase::Connecting(tcp);
                    return Ok(progress);
                }
                let _ = tcp.set_nodelay(true);
                let target = self.target.as_ref().ok_or(TransportError::NotConnected)?;
                let conn = match &target.tls {
                    None => Conn::Plain(tcp),
                    Some((cfg, name)) => Conn::Tls(Box::new(
                        TlsStream::new(tcp, Arc::clone(cfg), name.clone())
                            .map_err(|_| TransportError::Tls)?,
                    )),
                };
                let request = target
                    .url
                    .as_str()
                    .into_client_request()
                    .map_err(|_| TransportError::Handshake)?;
                let hs = HsStream {
                    conn,
                    buf: self.reader.take_buffer(),
                    filled: 0,
                    served: 0,
                    head_end: None,
                };
                match ClientHandshake::start(hs, request, None) {
                    Ok(mid) => self.advance_handshake(mid, now, &mut progress)?,
                    Err(_) => return Err(TransportError::Handshake),
                }
                return Ok(progress);
            }
            Phase::Handshaking(mid) => {
                if now.saturating_elapsed_since(self.phase_since) > timeout {
                    // Keep the handshake (and the read buffer it holds) for
                    // drop_connection, which takes the buffer back.
                    self.phase = Phase::Handshaking(mid);
                    return Err(TransportError::Timeout);
                }
                // Return on completion too: the caller sees `opened` before
                // any message of the new connection.
                self.advance_handshake(*mid, now, &mut progress)?;
                return Ok(progress);
            }
            Phase::Open(conn) => self.phase = Phase::Open(conn),
        }
        self.poll_open(clock, now, max_messages, &mut on_message, &mut progress)?;
        Ok(progress)
    }

    fn advance_handshake(
        &mut self,
        mid: MidHandshake<ClientHandshake<HsStream>>,
        now: Nanos,
        progress: &mut WsProgress,
    ) -> Result<(), TransportError> {
        match mid.handshake() {
            Ok((ws, _response)) => {
                let hs = ws.into_inner();
                let start = hs.head_end.unwrap_or(hs.filled);
                self.reader.restore_buffer(hs.buf, start, hs.filled);
                self.phase = Phase::Open(hs.conn);
                self.last_rx = now;
                self.last_ping = now;
                self.last_read_stamp = now;
                progress.opened = true;
                Ok(())
            }
            Err(HandshakeError::Interrupted(mid)) => {
                if !matches!(self.phase, Phase::Handshaking(_)) {
                    self.phase_since = self.phase_since.min(now);
                }
                self.phase = Phase::Handshaking(Box::new(mid));
                Ok(())
            }
            // The buffer went down with the failed handshake:
            // drop_connection (run on every error) gives the reader a new one.
            Err(HandshakeError::Failure(e)) => Err(handshake_error(e)),
        }
    }

    fn poll_open<C: NanoClock, F: FnMut(&[u8], Nanos)>(
        &mut self,
        clock: &C,
        now: Nanos,
        max_messages: usize,
        on_message: &mut F,
        progress: &mut WsProgress,
    ) -> Result<(), TransportError> {
        let mut reads = 0;
        loop {
            // Parse what is buffered.
            while progress.messages < max_messages {
                let stamp = self.last_read_stamp;
                match self.reader.next_event()? {
                    None => break,
                    Some(FrameEvent::Message(m)) => {
                        on_message(m, stamp);
                        progress.messages += 1;
                    }
                    Some(FrameEvent::Ping(p)) => {
                        self.pending_pong[..p.len()].copy_from_slice(p);
                        self.pending_pong_len = Some(p.len());
                        progress.control += 1;
                    }
                    Some(FrameEvent::Pong) => progress.control += 1,
                    Some(FrameEvent::Close(code)) => {
                        let c = code.unwrap_or(1000).to_be_bytes();
                        if self.queue_frame(OP_CLOSE, &c).is_ok() {
                            let _ = self.flush_writes();
                        }
                        return Err(TransportError::Closed);
                    }
                }
            }
            if progress.messages >= max_messages || reads >= self.cfg.max_reads_per_poll {
                break;
            }
            let Phase::Open(conn) = &mut self.phase else {
                return Err(TransportError::NotConnected);
            };
            reads += 1;
            match self.reader.read_from(conn) {
                Ok(0) => return Err(TransportError::Closed),
                Ok(n) => {
                    let t = clock.now();
                    self.last_read_stamp = t;
                    self.last_rx = t;
                    progress.bytes += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::OutOfMemory => {
                    return Err(TransportError::TooLarge);
                }
                Err(e) => return Err(io_err(&e)),
            }
        }
        if let Some(n) = self.pending_pong_len.take() {
            let payload = self.pending_pong;
            self.queue_frame(OP_PONG, &payload[..n])?;
        }
        if !self.cfg.ping_interval.is_zero()
            && now.saturating_elapsed_since(self.last_ping)
                >= duration_nanos(self.cfg.ping_interval)
        {
            self.queue_frame(OP_PING, &[])?;
            self.last_ping = now;
            progress.control += 1;
        }
        if self.wstart < self.wend || matches!(self.phase, Phase::Open(Conn::Tls(_))) {
            self.flush_writes()?;
        }
        if progress.bytes == 0
            && now.saturating_elapsed_since(self.last_rx) > duration_nanos(self.cfg.dead_after)
        {
            return Err(TransportError::Dead);
        }
        Ok(())
    }
}

/// A `Duration` in nanoseconds, saturating.
pub(crate) fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    /// Serves `data` in the given chunk sizes, then WouldBlock.
    struct Chunks {
        data: Vec<u8>,
        pos: usize,
        sizes: Vec<usize>,
        i: usize,
    }

    impl Read for Chunks {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.pos == self.data.len() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let want = self.sizes.get(self.i).copied().unwrap_or(usize::MAX).max(1);
            self.i += 1;
            let n = want.min(out.len()).min(self.data.len() - self.pos);
            out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// An unmasked server frame.
    fn server_frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8]) {
        out.push(if fin { 0x80 } else { 0 } | opcode);
        let n = payload.len();
        if n < 126 {
            out.push(n as u8);
        } else if n <= 0xFFFF {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
        out.extend_from_slice(payload);
    }

    fn drain(r: &mut FrameReader, src: &mut Chunks) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        loop {
            while let Some(ev) = r.next_event().unwrap() {
                if let FrameEvent::Message(m) = ev {
                    got.push(m.to_vec());
                }
            }
            match r.read_from(src) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        got
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Any sequence of messages, fragmented at random, interleaved with
        /// pings, read in random chunk sizes, comes out whole and in order.
        #[test]
        fn reassembles_any_framing(
            msgs in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 0..70_000), 1usize..4, any::<bool>()),
                1..8),
            sizes in proptest::collection::vec(1usize..9000, 0..64),
        ) {
            let mut wire = Vec::new();
            for (m, parts, ping) in &msgs {
                let step = m.len().div_ceil(*parts).max(1);
                let chunks: Vec<&[u8]> = if m.is_empty() { vec![&m[..]] } else { m.chunks(step).collect() };
                for (i, c) in chunks.iter().enumerate() {
                    let op = if i == 0 { OP_TEXT } else { OP_CONT };
                    server_frame(&mut wire, i + 1 == chunks.len(), op, c);
                    if *ping && i == 0 {
                        server_frame(&mut wire, true, OP_PING, b"p");
                    }
                }
            }
            let mut src = Chunks { data: wire, pos: 0, sizes, i: 0 };
            let mut r = FrameReader::new(80_000, 80_000);
            let got = drain(&mut r, &mut src);
            let want: Vec<Vec<u8>> = msgs.iter().map(|(m, _, _)| m.clone()).collect();
            prop_assert_eq!(got, want);
        }

        /// Masked frames we encode decode back (unmasking by hand).
        #[test]
        fn encode_round_trips(payload in proptest::collection::vec(any::<u8>(), 0..70_000), mask in any::<[u8; 4]>()) {
            let mut out = vec![0u8; payload.len() + MAX_HEADER];
            let n = encode_frame(&mut out, OP_TEXT, &payload, mask).unwrap();
            prop_assert_eq!(out[0], 0x81);
            prop_assert!(out[1] & 0x80 != 0);
            let (hl, len) = match out[1] & 0x7F {
                126 => (8, usize::from(u16::from_be_bytes([out[2], out[3]]))),
                127 => (14, u64::from_be_bytes(out[2..10].try_into().unwrap()) as usize),
                l => (6, usize::from(l)),
            };
            prop_assert_eq!(len, payload.len());
            prop_assert_eq!(n, hl + len);
            prop_assert_eq!(&out[hl - 4..hl], &mask[..]);
            let un: Vec<u8> = out[hl..n].iter().enumerate().map(|(i, b)| b ^ mask[i & 3]).collect();
            prop_assert_eq!(un, payload);
        }

        /// Garbage never panics: every outcome is an event, "need more" or a typed error.
        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let mut src = Chunks { data, pos: 0, sizes: vec![], i: 0 };
            let mut r = FrameReader::new(1024, 1024);
            let _ = r.read_from(&mut src);
            for _ in 0..64 {
                match r.next_event() {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }

    #[test]
    fn control_frames_and_errors() {
        let mut wire = Vec::new();
        server_frame(&mut wire, true, OP_PING, b"abc");
        server_frame(&mut wire, true, OP_PONG, b"");
        server_frame(&mut wire, true, OP_CLOSE, &1001u16.to_be_bytes());
        let mut src = Chunks {
            data: wire,
            pos: 0,
            sizes: vec![],
            i: 0,
        };
        let mut r = FrameReader::new(1024, 1024);
        r.read_from(&mut src).unwrap();
        assert_eq!(r.next_event().unwrap(), Some(FrameEvent::Ping(b"abc")));
        assert_eq!(r.next_event().unwrap(), Some(FrameEvent::Pong));
        assert_eq!(r.next_event().unwrap(), Some(FrameEvent::Close(Some(1001))));
        assert_eq!(r.next_event().unwrap(), None);

        let cases: [(&[u8], TransportError); 7] = [
            (&[0x88, 0x01, 0x03], WsProtocolError::BadControlFrame.into()),
            (
                &[0x81, 0x81, 0, 0, 0, 0, b'x'],
                WsProtocolError::MaskedFrame.into(),
            ),
            (&[0xC1, 0x00], WsProtocolError::ReservedBits.into()),
            (&[0x83, 0x00], WsProtocolError::UnknownOpcode.into()),
            (&[0x09, 0x00], WsProtocolError::BadControlFrame.into()),
            (&[0x80, 0x00], WsProtocolError::BadFragmentation.into()),
            (&[0x81, 126, 0, 5], WsProtocolError::BadLength.into()),
        ];
        for (bytes, want) in cases {
            let mut src = Chunks {
                data: bytes.to_vec(),
                pos: 0,
                sizes: vec![],
                i: 0,
            };
            let mut r = FrameReader::new(1024, 1024);
            r.read_from(&mut src).unwrap();
            assert_eq!(r.next_event().unwrap_err(), want, "{bytes:?}");
        }
        // A frame larger than the maximum message.
        let mut wire = Vec::new();
        server_frame(&mut wire, true, OP_TEXT, &[b'a'; 2000]);
        let mut src = Chunks {
            data: wire,
            pos: 0,
            sizes: vec![],
            i: 0,
        };
        let mut r = FrameReader::new(4096, 1024);
        r.read_from(&mut src).unwrap();
        assert_eq!(r.next_event().unwrap_err(), TransportError::TooLarge);
    }
}
