//! Gateway configuration: venue endpoint presets, credentials, timers,
//! limits and capacities.
//!
//! Owns [`GatewayConfig`] (serde `Deserialize` with defaults; unknown keys
//! are refused), [`Endpoint`] (the `binance`, `testnet` and `sim` presets of
//! the WebSocket API address), [`Credentials`] / [`AuthSecret`] / [`Secret`]
//! (the API key and the HMAC secret or Ed25519 PKCS#8 key).
//! [`GatewayConfig::validate`] names the offending key in every error. Cold
//! path only: this module allocates freely and is never called from a duty
//! cycle.
//!
//! Secrets never come from the config file: [`GatewayConfig::credentials`]
//! is skipped by serde and set by the caller (the binary reads environment
//! variables). They are never logged: [`Secret`] and [`Credentials`] have
//! hand-written `Debug` impls that print only lengths, and a [`Secret`]'s
//! bytes are overwritten with zeros when it is dropped.
//!
//! Durations are written in milliseconds with an `_ms` suffix
//! (`ack_timeout_ms = 500`) and held as [`Duration`]s.
//!
//! ```
//! use talon_gateway::config::{AuthSecret, Credentials, Endpoint, GatewayConfig, Secret};
//! let mut cfg = GatewayConfig::new(Endpoint::Testnet, &["BTCUSDT"]);
//! cfg.credentials = Some(Credentials {
//!     api_key: "key".into(),
//!     auth: AuthSecret::Hmac(Secret::new(b"secret".to_vec())),
//! });
//! cfg.validate().unwrap();
//! assert_eq!(cfg.ws_url().unwrap(), "wss://ws-api.testnet.binance.vision:443/ws-api/v3");
//! assert!(!format!("{cfg:?}").contains("secret\""));
//! ```

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use talon_feed::backoff::Backoff;

use crate::breaker::BreakerConfig;
use crate::error::ConfigError;
use crate::rate_limit::RateLimitConfig;

/// Binance Spot WebSocket API (production).
pub const BINANCE_WS_API: &str = "wss://ws-api.binance.com:443/ws-api/v3";
/// Binance Spot testnet WebSocket API.
pub const TESTNET_WS_API: &str = "wss://ws-api.testnet.binance.vision:443/ws-api/v3";
/// The WebSocket API path (appended to a simulator's base address).
pub const WS_API_PATH: &str = "/ws-api/v3";

/// Where the gateway connects.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Endpoint {
    /// Binance Spot production ([`BINANCE_WS_API`]), TLS with the bundled
    /// webpki roots.
    Binance,
    /// Binance Spot testnet ([`TESTNET_WS_API`]).
    #[serde(alias = "binance_testnet")]
    Testnet,
    /// The loopback simulator (`talon sim`) or any compatible server.
    Sim {
        /// `ws://host:port` or `wss://host:port` (the API path
        /// [`WS_API_PATH`] is appended).
        ws_base: String,
        /// DER certificate to trust (the simulator's self-signed one for
        /// `wss://`).
        #[serde(default)]
        tls_root_der: Option<Vec<u8>>,
    },
}

impl Endpoint {
    /// The full WebSocket API URL.
    pub fn url(&self) -> String {
        match self {
            Endpoint::Binance => BINANCE_WS_API.to_owned(),
            Endpoint::Testnet => TESTNET_WS_API.to_owned(),
            Endpoint::Sim { ws_base, .. } => {
                format!("{}{}", ws_base.trim_end_matches('/'), WS_API_PATH)
            }
        }
    }

    /// An extra root certificate to trust, if any.
    pub fn extra_root_der(&self) -> Option<&[u8]> {
        match self {
            Endpoint::Sim { tls_root_der, .. } => tls_root_der.as_deref(),
            _ => None,
        }
    }
}

/// Secret bytes: never printed, zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    /// The secret bytes (for the signer; never for logs).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Best effort: overwrite before the allocator gets the memory back.
        for b in self.0.iter_mut() {
            *b = 0;
        }
        std::hint::black_box(&self.0);
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

/// How requests are authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthSecret {
    /// HMAC-SHA256 with this secret: every signed request carries `apiKey`
    /// and `signature`; user data via `userDataStream.subscribe.signature`.
    Hmac(Secret),
    /// Ed25519 with this PKCS#8 key (PEM text or DER bytes): one
    /// `session.logon`, then unsigned requests and
    /// `userDataStream.subscribe`.
    Ed25519(Secret),
}

/// The API key and its secret. Set by the caller, never read from a file
/// by this crate.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The API key (not secret, but not printed in full either).
    pub api_key: String,
    /// The signing secret.
    pub auth: AuthSecret,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.api_key.chars().take(4).collect();
        f.debug_struct("Credentials")
            .field(
                "api_key",
                &format_args!("{shown}…({} chars)", self.api_key.len()),
            )
            .field("auth", &self.auth)
            .finish()
    }
}

/// The gateway's configuration (`[gateway]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Where to connect.
    pub endpoint: Endpoint,
    /// Symbols as the venue spells them (`BTCUSDT`); each must be in the
    /// instrument table.
    pub symbols: Vec<String>,
    /// API key and secret: never from the file (see the module docs).
    #[serde(skip)]
    pub credentials: Option<Credentials>,
    /// `recvWindow` sent with every signed request (1–60000 ms, default
    /// 5000).
    pub recv_window_ms: u32,
    /// An order with no ack after this long becomes Unknown and is queried
    /// by client order id (default 500 ms).
    #[serde(rename = "ack_timeout_ms", with = "millis")]
    pub ack_timeout: Duration,
    /// A non-order request (time, exchangeInfo, status, logon) with no
    /// response after this long is given up (default 10 s, the venue's own
    /// request timeout); during the session sync it forces a reconnect.
    #[serde(rename = "request_timeout_ms", with = "millis")]
    pub request_timeout: Duration,
    /// The local rate limiter (`[gateway.rate_limit]`): `share_bps` of each
    /// venue limit read from `exchangeInfo` (default 8000 = 80 %), the
    /// cancel reserve, the delay guard, the 429/418 default blocks.
    pub rate_limit: RateLimitConfig,
    /// The circuit breaker.
    pub breaker: BreakerConfig,
    /// Reconnect backoff (`[gateway.reconnect]`, same keys as the feed's).
    pub reconnect: Backoff,
    /// Orders the order table holds at once (open + awaiting ack).
    pub order_table_capacity: usize,
    /// New orders waiting for the rate limiter.
    pub new_queue_capacity: usize,
    /// Cancels and cancel-alls waiting (held while disconnected).
    pub cancel_queue_capacity: usize,
    /// Requests awaiting a response at once (id slots).
    pub pending_capacity: usize,
    /// The session id in client order ids (`tl<session>-<seq>`): the
    /// gateway validates that new orders carry it, it never invents ids.
    pub session_id: u32,
    /// `time` round trips at session start (1–8).
    pub time_samples: u32,
    /// Interval of our own WebSocket pings (0 = never; the venue pings every
    /// 20 s and we answer).
    #[serde(rename = "ping_interval_ms", with = "millis")]
    pub ping_interval: Duration,
    /// A connection silent for this long is dropped and reconnected.
    #[serde(rename = "dead_after_ms", with = "millis")]
    pub dead_after: Duration,
    /// TCP connect + TLS + WebSocket upgrade must finish within this.
    #[serde(rename = "connect_timeout_ms", with = "millis")]
    pub connect_timeout: Duration,
    /// WebSocket read buffer, bytes (at least `max_message + 14`).
    pub read_buffer: usize,
    /// Largest WebSocket message accepted, bytes (an `openOrders.status`
    /// answer with 200 orders is ~120 KB).
    pub max_message: usize,
    /// Outgoing buffer, bytes (requests are < 1 KB each).
    pub write_buffer: usize,
    /// Frames handled per duty cycle at most (bounded work).
    pub max_messages_per_cycle: usize,
    /// Order commands taken from the order ring per duty cycle at most.
    pub max_commands_per_cycle: usize,
    /// Seed of the jitter and masking-key generator.
    pub seed: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            endpoint: Endpoint::Binance,
            symbols: Vec::new(),
            credentials: None,
            recv_window_ms: 5000,
            ack_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_secs(10),
            rate_limit: RateLimitConfig::default(),
            breaker: BreakerConfig::default(),
            reconnect: Backoff::default(),
            order_table_capacity: 4096,
            new_queue_capacity: 1024,
            cancel_queue_capacity: 4096,
            pending_capacity: 1024,
            session_id: 0,
            time_samples: 3,
            ping_interval: Duration::from_secs(30),
            dead_after: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            read_buffer: (1 << 20) + 64,
            max_message: 1 << 20,
            write_buffer: 64 << 10,
            max_messages_per_cycle: 64,
            max_commands_per_cycle: 64,
            seed: 0x6a7e_3a11,
        }
    }
}

impl GatewayConfig {
    /// Defaults for `endpoint` and `symbols` (credentials still to set).
    pub fn new(endpoint: Endpoint, symbols: &[&str]) -> GatewayConfig {
        GatewayConfig {
            endpoint,
            symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
            ..GatewayConfig::default()
        }
    }

    /// The WebSocket API URL, checked.
    pub fn ws_url(&self) -> Result<String, ConfigError> {
        let url = self.endpoint.url();
        let e = self.parsed_endpoint()?;
        if e.scheme_is_http {
            return Err(ConfigError::new(
                "endpoint.ws_base",
                "must start with ws:// or wss://",
            ));
        }
        Ok(url)
    }

    /// The parsed endpoint (host, port, TLS).
    pub fn parsed_endpoint(&self) -> Result<talon_feed::config::Endpoint, ConfigError> {
        let url = self.endpoint.url();
        let base = url.strip_suffix(WS_API_PATH).unwrap_or(&url);
        talon_feed::config::Endpoint::parse(base, "endpoint.ws_base")
            .map_err(|e| ConfigError::new("endpoint.ws_base", e.reason))
    }

    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.ws_url()?;
        if self.symbols.is_empty() {
            return Err(ConfigError::new("symbols", "at least one symbol is needed"));
        }
        for (i, s) in self.symbols.iter().enumerate() {
            if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ConfigError::new(
                    "symbols",
                    format!("symbol #{i} `{s}` must be 1–20 ASCII letters or digits"),
                ));
            }
            if self.symbols[..i].iter().any(|o| o.eq_ignore_ascii_case(s)) {
                return Err(ConfigError::new(
                    "symbols",
                    format!("`{s}` is listed twice"),
                ));
            }
        }
        match &self.credentials {
            None => {
                return Err(ConfigError::new(
                    "credentials",
                    "an API key and secret are required (set by the caller, e.g. from env)",
                ));
            }
            Some(c) => {
                if c.api_key.is_empty()
                    || !c.api_key.bytes().all(|b| b.is_ascii_graphic())
                    || c.api_key.contains(['"', '\\', '&', '='])
                {
                    return Err(ConfigError::new(
                        "credentials.api_key",
                        "must be non-empty printable ASCII without quotes, `&` or `=`",
                    ));
                }
                let s = match &c.auth {
                    AuthSecret::Hmac(s) | AuthSecret::Ed25519(s) => s,
                };
                if s.is_empty() {
                    return Err(ConfigError::new("credentials.auth", "empty secret"));
                }
            }
        }
        if !(1..=60_000).contains(&self.recv_window_ms) {
            return Err(ConfigError::new(
                "recv_window_ms",
                "must be between 1 and 60000 (venue maximum)",
            ));
        }
        if self.ack_timeout.is_zero() {
            return Err(ConfigError::new("ack_timeout_ms", "must be at least 1 ms"));
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError::new(
                "request_timeout_ms",
                "must be at least 1 ms",
            ));
        }
        self.rate_limit
            .validate()
            .map_err(|e| ConfigError::new("rate_limit", e.to_string()))?;
        self.breaker
            .validate()
            .map_err(|e| ConfigError::new("breaker", e.to_string()))?;
        self.reconnect
            .validate()
            .map_err(|e| ConfigError::new(e.key, e.reason))?;
        for (key, v, max) in [
            ("order_table_capacity", self.order_table_capacity, 1 << 20),
            ("new_queue_capacity", self.new_queue_capacity, 1 << 20),
            ("cancel_queue_capacity", self.cancel_queue_capacity, 1 << 20),
            ("pending_capacity", self.pending_capacity, 1 << 16),
            (
                "max_messages_per_cycle",
                self.max_messages_per_cycle,
                1 << 16,
            ),
            (
                "max_commands_per_cycle",
                self.max_commands_per_cycle,
                1 << 16,
            ),
        ] {
            if v == 0 || v > max {
                return Err(ConfigError::new(
                    key,
                    format!("must be between 1 and {max}"),
                ));
            }
        }
        if !(1..=8).contains(&self.time_samples) {
            return Err(ConfigError::new("time_samples", "must be between 1 and 8"));
        }
        if !self.ping_interval.is_zero() && self.ping_interval < Duration::from_millis(200) {
            return Err(ConfigError::new(
                "ping_interval_ms",
                "0 (off) or at least 200 ms",
            ));
        }
        if self.dead_after.is_zero() {
            return Err(ConfigError::new("dead_after_ms", "must be at least 1 ms"));
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::new(
                "connect_timeout_ms",
                "must be at least 1 ms",
            ));
        }
        if self.max_message < 4096 {
            return Err(ConfigError::new(
                "max_message",
                "must be at least 4096 bytes",
            ));
        }
        if self.read_buffer < self.max_message + talon_feed::ws::MAX_HEADER {
            return Err(ConfigError::new(
                "read_buffer",
                "must hold one whole frame: at least max_message + 14 bytes",
            ));
        }
        if self.write_buffer < 4096 {
            return Err(ConfigError::new(
                "write_buffer",
                "must be at least 4096 bytes",
            ));
        }
        Ok(())
    }
}

/// serde helper: a [`Duration`] written as integer milliseconds.
mod millis {
    use super::{Deserialize, Deserializer, Duration};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            api_key: "demo-key".into(),
            auth: AuthSecret::Hmac(Secret::new(b"topsecretvalue".to_vec())),
        }
    }

    fn valid() -> GatewayConfig {
        let mut c = GatewayConfig::new(
            Endpoint::Sim {
                ws_base: "ws://127.0.0.1:9000".into(),
                tls_root_der: None,
            },
            &["BTCUSDT"],
        );
        c.credentials = Some(creds());
        c
    }

    #[test]
    fn presets_and_sim_urls() {
        assert_eq!(Endpoint::Binance.url(), BINANCE_WS_API);
        let v = valid();
        v.validate().unwrap();
        assert_eq!(v.ws_url().unwrap(), "ws://127.0.0.1:9000/ws-api/v3");
        let e = v.parsed_endpoint().unwrap();
        assert_eq!((e.host.as_str(), e.port, e.tls), ("127.0.0.1", 9000, false));
        let b = GatewayConfig {
            credentials: Some(creds()),
            ..GatewayConfig::new(Endpoint::Binance, &["BTCUSDT"])
        };
        let e = b.parsed_endpoint().unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.tls),
            ("ws-api.binance.com", 443, true)
        );
    }

    #[test]
    fn errors_name_the_key() {
        type Mutation = Box<dyn Fn(&mut GatewayConfig)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("symbols", Box::new(|c| c.symbols.clear())),
            ("symbols", Box::new(|c| c.symbols.push("btcusdt".into()))),
            ("credentials", Box::new(|c| c.credentials = None)),
            (
                "credentials.api_key",
                Box::new(|c| c.credentials.as_mut().unwrap().api_key = "a&b".into()),
            ),
            (
                "credentials.auth",
                Box::new(|c| {
                    c.credentials.as_mut().unwrap().auth = AuthSecret::Hmac(Secret::new(vec![]))
                }),
            ),
            ("recv_window_ms", Box::new(|c| c.recv_window_ms = 60_001)),
            ("recv_window_ms", Box::new(|c| c.recv_window_ms = 0)),
            (
                "ack_timeout_ms",
                Box::new(|c| c.ack_timeout = Duration::ZERO),
            ),
            ("rate_limit", Box::new(|c| c.rate_limit.share_bps = 10_001)),
            ("breaker", Box::new(|c| c.breaker.failures = 0)),
            (
                "order_table_capacity",
                Box::new(|c| c.order_table_capacity = 0),
            ),
            ("pending_capacity", Box::new(|c| c.pending_capacity = 0)),
            ("time_samples", Box::new(|c| c.time_samples = 0)),
            (
                "ping_interval_ms",
                Box::new(|c| c.ping_interval = Duration::from_millis(5)),
            ),
            ("read_buffer", Box::new(|c| c.read_buffer = c.max_message)),
            (
                "endpoint.ws_base",
                Box::new(|c| {
                    c.endpoint = Endpoint::Sim {
                        ws_base: "http://x:1".into(),
                        tls_root_der: None,
                    }
                }),
            ),
            (
                "reconnect.initial_ms",
                Box::new(|c| c.reconnect.initial = Duration::ZERO),
            ),
        ];
        for (key, mutate) in cases {
            let mut c = valid();
            mutate(&mut c);
            let e = c.validate().unwrap_err();
            assert_eq!(e.key, key, "{e}");
        }
    }

    #[test]
    fn secrets_never_printed() {
        let mut c = valid();
        c.credentials = Some(Credentials {
            api_key: "ABCDEFGHIJKL".into(),
            auth: AuthSecret::Ed25519(Secret::new(b"-----BEGIN PRIVATE KEY-----xyz".to_vec())),
        });
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("topsecretvalue"));
        assert!(!dbg.contains("BEGIN PRIVATE"));
        assert!(!dbg.contains("ABCDEFGHIJKL"), "{dbg}");
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn deserializes_with_defaults_and_refuses_unknown_keys() {
        // serde_json stands in for TOML here (same derive, same field names).
        let c: GatewayConfig = serde_json::from_str(
            r#"{"symbols":["BTCUSDT"],"ack_timeout_ms":250,"session_id":7,
                "endpoint":{"sim":{"ws_base":"ws://127.0.0.1:1234"}}}"#,
        )
        .unwrap();
        assert_eq!(c.ack_timeout, Duration::from_millis(250));
        assert_eq!(c.session_id, 7);
        assert_eq!(c.recv_window_ms, 5000);
        assert!(c.credentials.is_none());
        assert!(serde_json::from_str::<GatewayConfig>(r#"{"bogus":1}"#).is_err());
    }
}
