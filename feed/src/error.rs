//! Errors of the feed's transport and set-up.
//!
//! Owns [`TransportError`] (hot path: small, `Copy`, no strings — one value per
//! failed connection, read, write or HTTP exchange), [`WsProtocolError`] and
//! [`HttpError`] (its reasons), [`ConfigError`] (cold: names the config key
//! and why it was refused) and [`FeedError`] (construction-time failures).
//!
//! Never allocates on the hot path: the `Copy` enums carry an
//! [`std::io::ErrorKind`] at most. Only [`ConfigError`] and [`FeedError`],
//! built before the first duty cycle, hold `String`s.

use std::io;

/// Why the WebSocket peer's byte stream was refused (RFC 6455 violations).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum WsProtocolError {
    /// A server frame was masked (servers must not mask, RFC 6455 §5.1).
    #[error("masked server frame")]
    MaskedFrame,
    /// RSV bits set without a negotiated extension.
    #[error("reserved bits set")]
    ReservedBits,
    /// An opcode outside the RFC's set.
    #[error("unknown opcode")]
    UnknownOpcode,
    /// A control frame longer than 125 bytes or fragmented, or a close
    /// frame with a 1-byte body.
    #[error("bad control frame")]
    BadControlFrame,
    /// A continuation frame with no message in progress, or a new data frame
    /// in the middle of a fragmented message.
    #[error("bad fragmentation")]
    BadFragmentation,
    /// A 64-bit length with the top bit set, or a non-minimal length.
    #[error("bad frame length")]
    BadLength,
}

/// Why a REST (HTTP/1.1 GET) exchange failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum HttpError {
    /// The response status line or headers did not parse.
    #[error("malformed response head")]
    BadHead,
    /// A chunk header of a chunked body did not parse.
    #[error("malformed chunked body")]
    BadChunk,
    /// The response did not fit the preallocated buffer.
    #[error("response larger than the buffer")]
    TooLarge,
    /// The request line did not fit the request buffer.
    #[error("request too long")]
    RequestTooLong,
    /// The peer closed before the body was complete.
    #[error("truncated response")]
    Truncated,
    /// `start` was called while a request was in flight, or `body` before done.
    #[error("request not in the right state")]
    Busy,
}

/// A transport failure: connection, TLS, WebSocket or HTTP. The connection
/// (or request) it happened on is finished; the caller reconnects with
/// backoff. Small and `Copy` so it crosses the duty cycle as a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TransportError {
    /// The TCP connection could not be established.
    #[error("connect failed: {0:?}")]
    Connect(io::ErrorKind),
    /// A read or write on an established connection failed.
    #[error("i/o error: {0:?}")]
    Io(io::ErrorKind),
    /// TLS failed (certificate, alert, protocol).
    #[error("tls failure")]
    Tls,
    /// The WebSocket upgrade was refused or malformed.
    #[error("websocket handshake failed")]
    Handshake,
    /// The peer broke RFC 6455.
    #[error("websocket protocol: {0}")]
    Protocol(WsProtocolError),
    /// The peer closed the connection (EOF or a close frame).
    #[error("connection closed by peer")]
    Closed,
    /// No byte arrived for longer than the configured dead-connection time.
    #[error("connection silent for too long")]
    Dead,
    /// A message (or frame) larger than the configured maximum.
    #[error("message larger than the configured maximum")]
    TooLarge,
    /// Our outgoing buffer had no room for a frame (we send little: only
    /// control frames and subscriptions, so this is a bug or a stuck peer).
    #[error("write buffer full")]
    WriteBufferFull,
    /// Connect, handshake or request took longer than allowed.
    #[error("timed out")]
    Timeout,
    /// The HTTP exchange failed.
    #[error("http: {0}")]
    Http(HttpError),
    /// Called in a state where the operation makes no sense (not connected).
    #[error("not connected")]
    NotConnected,
}

impl TransportError {
    /// A stable snake_case name for counters and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            TransportError::Connect(_) => "connect",
            TransportError::Io(_) => "io",
            TransportError::Tls => "tls",
            TransportError::Handshake => "handshake",
            TransportError::Protocol(_) => "protocol",
            TransportError::Closed => "closed",
            TransportError::Dead => "dead",
            TransportError::TooLarge => "too_large",
            TransportError::WriteBufferFull => "write_buffer_full",
            TransportError::Timeout => "timeout",
            TransportError::Http(_) => "http",
            TransportError::NotConnected => "not_connected",
        }
    }
}

impl From<HttpError> for TransportError {
    fn from(e: HttpError) -> Self {
        TransportError::Http(e)
    }
}

impl From<WsProtocolError> for TransportError {
    fn from(e: WsProtocolError) -> Self {
        TransportError::Protocol(e)
    }
}

/// A configuration value was refused. Cold path: built once at start-up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("feed config `{key}`: {reason}")]
pub struct ConfigError {
    /// The offending key, dotted (`reconnect.initial_ms`).
    pub key: &'static str,
    /// Why it was refused.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(key: &'static str, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            key,
            reason: reason.into(),
        }
    }
}

/// A feed could not be built (before the first duty cycle).
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A TLS client configuration could not be built (bad root certificate).
    #[error("tls set-up: {0}")]
    TlsSetup(String),
    /// A host name did not resolve.
    #[error("cannot resolve `{host}`: {reason}")]
    Resolve {
        /// The host.
        host: String,
        /// The resolver's answer.
        reason: String,
    },
    /// A configured symbol is not in the instrument table.
    #[error("symbol `{0}` is not in the instrument table")]
    UnknownSymbol(String),
}
