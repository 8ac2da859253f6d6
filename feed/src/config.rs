//! Feed configuration: venue presets, symbols, streams, buffers and timers.
//!
//! Owns [`FeedConfig`] (serde `Deserialize` with defaults; unknown keys are
//! refused), [`Venue`] (the `binance`, `testnet` and `sim` presets),
//! [`StreamSet`], [`DepthSpeed`] and [`Endpoint`] (a parsed `ws://`, `wss://`,
//! `http://` or `https://` base address). [`FeedConfig::validate`] names the
//! offending key in every error. Cold path only: this module allocates freely
//! and is never called from a duty cycle.
//!
//! Durations are written in milliseconds with an `_ms` suffix in the config
//! (`stale_after_ms = 5000`) and held as [`Duration`]s.
//!
//! ```
//! use talon_feed::config::{FeedConfig, Venue};
//! let cfg = FeedConfig::new(Venue::Binance, &["BTCUSDT", "ETHUSDT"]);
//! cfg.validate().unwrap();
//! assert_eq!(cfg.ws_endpoint().unwrap().port, 9443);
//! assert_eq!(
//!     cfg.stream_path(),
//!     "/stream?streams=btcusdt@bookTicker/btcusdt@trade/btcusdt@depth@100ms/\
//!      ethusdt@bookTicker/ethusdt@trade/ethusdt@depth@100ms"
//! );
//! ```

use std::time::Duration;

use serde::Deserialize;

use crate::backoff::Backoff;
use crate::error::ConfigError;

/// Binance Spot market streams (production).
pub const BINANCE_WS: &str = "wss://stream.binance.com:9443";
/// Binance Spot REST (production).
pub const BINANCE_HTTP: &str = "https://api.binance.com";
/// Binance Spot testnet market streams.
pub const TESTNET_WS: &str = "wss://stream.testnet.binance.vision";
/// Binance Spot testnet REST.
pub const TESTNET_HTTP: &str = "https://testnet.binance.vision";

/// Where the feed connects.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Venue {
    /// Binance Spot production ([`BINANCE_WS`], [`BINANCE_HTTP`]), TLS with
    /// the bundled webpki roots.
    Binance,
    /// Binance Spot testnet ([`TESTNET_WS`], [`TESTNET_HTTP`]).
    #[serde(alias = "binance_testnet")]
    Testnet,
    /// The loopback simulator (`talon sim`) or any compatible server.
    Sim {
        /// `ws://host:port` or `wss://host:port`.
        ws_base: String,
        /// `http://host:port` or `https://host:port`.
        http_base: String,
        /// DER certificate to trust in addition to the bundled roots (the
        /// simulator's self-signed certificate for `wss://`).
        #[serde(default)]
        tls_root_der: Option<Vec<u8>>,
    },
}

impl Venue {
    /// The WebSocket base address.
    pub fn ws_base(&self) -> &str {
        match self {
            Venue::Binance => BINANCE_WS,
            Venue::Testnet => TESTNET_WS,
            Venue::Sim { ws_base, .. } => ws_base,
        }
    }

    /// The REST base address.
    pub fn http_base(&self) -> &str {
        match self {
            Venue::Binance => BINANCE_HTTP,
            Venue::Testnet => TESTNET_HTTP,
            Venue::Sim { http_base, .. } => http_base,
        }
    }

    /// An extra root certificate to trust, if any.
    pub fn extra_root_der(&self) -> Option<&[u8]> {
        match self {
            Venue::Sim { tls_root_der, .. } => tls_root_der.as_deref(),
            _ => None,
        }
    }
}

/// Update speed of the diff depth stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum DepthSpeed {
    /// `<s>@depth` (every 1000 ms).
    #[serde(rename = "1000ms")]
    Ms1000,
    /// `<s>@depth@100ms`.
    #[serde(rename = "100ms")]
    Ms100,
}

/// Which streams to subscribe to for every symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamSet {
    /// `<s>@bookTicker`.
    pub book_ticker: bool,
    /// `<s>@trade`.
    pub trade: bool,
    /// `<s>@aggTrade`.
    pub agg_trade: bool,
    /// `<s>@depth[@100ms]`, kept as a local book; `None` = no book.
    pub depth: Option<DepthSpeed>,
}

impl Default for StreamSet {
    fn default() -> Self {
        StreamSet {
            book_ticker: true,
            trade: true,
            agg_trade: false,
            depth: Some(DepthSpeed::Ms100),
        }
    }
}

/// The venue's request weight of `GET /api/v3/depth` with `limit` (Binance
/// spot REST table: 1–100 → 5, 101–500 → 25, 501–1000 → 50, 1001–5000 →
/// 250).
pub const fn snapshot_weight(limit: u32) -> u32 {
    match limit {
        0..=100 => 5,
        101..=500 => 25,
        501..=1000 => 50,
        _ => 250,
    }
}

/// The feed's configuration (`[feed]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedConfig {
    /// Where to connect.
    pub venue: Venue,
    /// Symbols as the venue spells them (`BTCUSDT`); each must be in the
    /// instrument table.
    pub symbols: Vec<String>,
    /// Streams per symbol.
    pub streams: StreamSet,
    /// Price levels kept per book side.
    pub book_levels: usize,
    /// `limit` of the REST depth snapshot (1–5000).
    pub snapshot_limit: u32,
    /// REST request weight the snapshot fetches may use per minute (sliding
    /// window; default 2400, the venue allows 6000 per IP for all requests).
    /// Each snapshot costs [`snapshot_weight`] of `snapshot_limit`; a fetch
    /// over budget waits (counted in `snapshots_throttled`).
    pub snapshot_weight_per_min: u32,
    /// Diffs buffered per instrument while its snapshot is fetched.
    pub diff_buffer: usize,
    /// Reconnect backoff.
    pub reconnect: Backoff,
    /// An instrument with no update for this long is marked stale.
    #[serde(rename = "stale_after_ms", with = "millis")]
    pub stale_after: Duration,
    /// Interval of our own WebSocket pings (0 = never ping; the venue pings
    /// us every 20 s and we answer).
    #[serde(rename = "ping_interval_ms", with = "millis")]
    pub ping_interval: Duration,
    /// A connection that delivers no byte for this long is dropped and
    /// reconnected (the venue pings every 20 s, so 60 s of silence is dead).
    #[serde(rename = "dead_after_ms", with = "millis")]
    pub dead_after: Duration,
    /// Time allowed for TCP connect + TLS + WebSocket handshake.
    #[serde(rename = "connect_timeout_ms", with = "millis")]
    pub connect_timeout: Duration,
    /// Time allowed for one REST snapshot request.
    #[serde(rename = "snapshot_timeout_ms", with = "millis")]
    pub snapshot_timeout: Duration,
    /// WebSocket read buffer, bytes (holds at least one whole frame:
    /// `max_message + 14`).
    pub read_buffer: usize,
    /// Largest WebSocket message accepted, bytes (fragmented messages are
    /// reassembled into a buffer of this size).
    pub max_message: usize,
    /// REST response buffer, bytes (a 5000-level snapshot is ~250 KB).
    pub http_buffer: usize,
    /// Messages handled per duty cycle at most (bounded work).
    pub max_messages_per_cycle: usize,
    /// Seed of the jitter and masking-key generator.
    pub seed: u64,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            venue: Venue::Binance,
            symbols: Vec::new(),
            streams: StreamSet::default(),
            book_levels: 1000,
            snapshot_limit: 1000,
            snapshot_weight_per_min: 2400,
            diff_buffer: 1024,
            reconnect: Backoff::default(),
            stale_after: Duration::from_secs(5),
            ping_interval: Duration::from_secs(30),
            dead_after: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            snapshot_timeout: Duration::from_secs(10),
            read_buffer: 2 << 20,
            max_message: 1 << 20,
            http_buffer: 4 << 20,
            max_messages_per_cycle: 256,
            seed: 0x7a10_f33d,
        }
    }
}

impl FeedConfig {
    /// Defaults for `venue` and `symbols`.
    pub fn new(venue: Venue, symbols: &[&str]) -> FeedConfig {
        FeedConfig {
            venue,
            symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
            ..FeedConfig::default()
        }
    }

    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.ws_endpoint()?;
        self.http_endpoint()?;
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
        let st = &self.streams;
        if !(st.book_ticker || st.trade || st.agg_trade || st.depth.is_some()) {
            return Err(ConfigError::new("streams", "no stream selected"));
        }
        if self.symbols.len() * self.streams_per_symbol() > 1024 {
            return Err(ConfigError::new(
                "symbols",
                "more than 1024 streams on one connection (venue limit)",
            ));
        }
        if self.book_levels == 0 || self.book_levels > 5000 {
            return Err(ConfigError::new(
                "book_levels",
                "must be between 1 and 5000",
            ));
        }
        if self.snapshot_limit == 0 || self.snapshot_limit > 5000 {
            return Err(ConfigError::new(
                "snapshot_limit",
                "must be between 1 and 5000",
            ));
        }
        if self.snapshot_weight_per_min < snapshot_weight(self.snapshot_limit)
            || self.snapshot_weight_per_min > 6000
        {
            return Err(ConfigError::new(
                "snapshot_weight_per_min",
                format!(
                    "must be between the weight of one snapshot of limit {} ({}) and the venue's 6000",
                    self.snapshot_limit,
                    snapshot_weight(self.snapshot_limit)
                ),
            ));
        }
        if self.diff_buffer == 0 {
            return Err(ConfigError::new("diff_buffer", "must be at least 1"));
        }
        self.reconnect.validate()?;
        if self.stale_after.is_zero() {
            return Err(ConfigError::new("stale_after_ms", "must be at least 1 ms"));
        }
        if self.dead_after.is_zero() {
            return Err(ConfigError::new("dead_after_ms", "must be at least 1 ms"));
        }
        if !self.ping_interval.is_zero() && self.ping_interval < Duration::from_millis(200) {
            return Err(ConfigError::new(
                "ping_interval_ms",
                "0 (off) or at least 200 ms (the venue allows 5 client messages/s)",
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::new(
                "connect_timeout_ms",
                "must be at least 1 ms",
            ));
        }
        if self.snapshot_timeout.is_zero() {
            return Err(ConfigError::new(
                "snapshot_timeout_ms",
                "must be at least 1 ms",
            ));
        }
        if self.read_buffer < 4096 {
            return Err(ConfigError::new(
                "read_buffer",
                "must be at least 4096 bytes",
            ));
        }
        if self.max_message < 1024 {
            return Err(ConfigError::new(
                "max_message",
                "must be at least 1024 bytes",
            ));
        }
        if self.read_buffer < self.max_message + crate::ws::MAX_HEADER {
            return Err(ConfigError::new(
                "read_buffer",
                "must hold one whole frame: at least max_message + 14 bytes",
            ));
        }
        if self.http_buffer < 4096 {
            return Err(ConfigError::new(
                "http_buffer",
                "must be at least 4096 bytes",
            ));
        }
        if self.max_messages_per_cycle == 0 {
            return Err(ConfigError::new(
                "max_messages_per_cycle",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    fn streams_per_symbol(&self) -> usize {
        let st = &self.streams;
        usize::from(st.book_ticker)
            + usize::from(st.trade)
            + usize::from(st.agg_trade)
            + usize::from(st.depth.is_some())
    }

    /// The parsed WebSocket base.
    pub fn ws_endpoint(&self) -> Result<Endpoint, ConfigError> {
        let e = Endpoint::parse(self.venue.ws_base(), "venue.ws_base")?;
        if e.scheme_is_http {
            return Err(ConfigError::new(
                "venue.ws_base",
                "must start with ws:// or wss://",
            ));
        }
        Ok(e)
    }

    /// The parsed REST base.
    pub fn http_endpoint(&self) -> Result<Endpoint, ConfigError> {
        let e = Endpoint::parse(self.venue.http_base(), "venue.http_base")?;
        if !e.scheme_is_http {
            return Err(ConfigError::new(
                "venue.http_base",
                "must start with http:// or https://",
            ));
        }
        Ok(e)
    }

    /// The combined-stream path: `/stream?streams=btcusdt@bookTicker/…`.
    pub fn stream_path(&self) -> String {
        let mut p = String::from("/stream?streams=");
        let mut first = true;
        for s in &self.symbols {
            let lower = s.to_ascii_lowercase();
            let mut add = |suffix: &str| {
                if !first {
                    p.push('/');
                }
                first = false;
                p.push_str(&lower);
                p.push_str(suffix);
            };
            if self.streams.book_ticker {
                add("@bookTicker");
            }
            if self.streams.trade {
                add("@trade");
            }
            if self.streams.agg_trade {
                add("@aggTrade");
            }
            match self.streams.depth {
                Some(DepthSpeed::Ms100) => add("@depth@100ms"),
                Some(DepthSpeed::Ms1000) => add("@depth"),
                None => {}
            }
        }
        p
    }

    /// The full WebSocket URL of the combined stream.
    pub fn ws_url(&self) -> Result<String, ConfigError> {
        let e = self.ws_endpoint()?;
        // `authority()` brackets an IPv6 host (`ws://[::1]:9000/…`).
        Ok(format!(
            "{}://{}{}{}",
            if e.tls { "wss" } else { "ws" },
            e.authority(),
            e.base_path,
            self.stream_path()
        ))
    }

    /// The REST depth snapshot path for `symbol`.
    pub fn snapshot_path(&self, symbol: &str) -> Result<String, ConfigError> {
        let e = self.http_endpoint()?;
        Ok(format!(
            "{}/api/v3/depth?symbol={}&limit={}",
            e.base_path,
            symbol.to_ascii_uppercase(),
            self.snapshot_limit
        ))
    }
}

/// A parsed base address: `scheme://host[:port][/base/path]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `wss` or `https`.
    pub tls: bool,
    /// `http`/`https` rather than `ws`/`wss`.
    pub scheme_is_http: bool,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port (default 80/443 by scheme).
    pub port: u16,
    /// Path prefix without a trailing `/` (usually empty).
    pub base_path: String,
}

impl Endpoint {
    /// Parses `url`; errors are reported against `key`.
    pub fn parse(url: &str, key: &'static str) -> Result<Endpoint, ConfigError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| ConfigError::new(key, format!("`{url}` has no scheme://")))?;
        let (tls, scheme_is_http) = match scheme.to_ascii_lowercase().as_str() {
            "ws" => (false, false),
            "wss" => (true, false),
            "http" => (false, true),
            "https" => (true, true),
            other => {
                return Err(ConfigError::new(
                    key,
                    format!("unsupported scheme `{other}` (ws, wss, http, https)"),
                ));
            }
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if path.contains('?') || path.contains('#') {
            return Err(ConfigError::new(
                key,
                "a base address has no query or fragment",
            ));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| ConfigError::new(key, "unclosed `[` in IPv6 address"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => parse_port(p, key)?,
                None if after.is_empty() => default_port,
                None => return Err(ConfigError::new(key, "junk after IPv6 address")),
            };
            (h, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, parse_port(p, key)?),
                None => (authority, default_port),
            }
        };
        if host.is_empty() {
            return Err(ConfigError::new(key, format!("`{url}` has no host")));
        }
        Ok(Endpoint {
            tls,
            scheme_is_http,
            host: host.to_owned(),
            port,
            base_path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// `host:port` (brackets around IPv6), for `Host:` headers and resolving.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn parse_port(p: &str, key: &'static str) -> Result<u16, ConfigError> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(ConfigError::new(key, format!("bad port `{p}`"))),
        Ok(v) => Ok(v),
    }
}

/// serde helper: a [`Duration`] written as integer milliseconds.
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sim() -> Venue {
        Venue::Sim {
            ws_base: "ws://127.0.0.1:9000".into(),
            http_base: "http://127.0.0.1:9000".into(),
            tls_root_der: None,
        }
    }

    #[test]
    fn presets_point_at_the_venue() {
        let b = FeedConfig::new(Venue::Binance, &["BTCUSDT"]);
        let ws = b.ws_endpoint().unwrap();
        assert!(ws.tls);
        assert_eq!((ws.host.as_str(), ws.port), ("stream.binance.com", 9443));
        let http = b.http_endpoint().unwrap();
        assert_eq!(
            (http.host.as_str(), http.port, http.tls),
            ("api.binance.com", 443, true)
        );
        let t = FeedConfig::new(Venue::Testnet, &["BTCUSDT"]);
        assert_eq!(
            t.ws_endpoint().unwrap().host,
            "stream.testnet.binance.vision"
        );
        assert_eq!(t.http_endpoint().unwrap().host, "testnet.binance.vision");
        assert_eq!(
            b.ws_url().unwrap(),
            "wss://stream.binance.com:9443/stream?streams=btcusdt@bookTicker/btcusdt@trade/btcusdt@depth@100ms"
        );
        assert_eq!(
            b.snapshot_path("btcusdt").unwrap(),
            "/api/v3/depth?symbol=BTCUSDT&limit=1000"
        );
        let mut v6 = FeedConfig::new(
            Venue::Sim {
                ws_base: "ws://[::1]:9000".into(),
                http_base: "http://[::1]:9000".into(),
                tls_root_der: None,
            },
            &["BTCUSDT"],
        );
        v6.streams.trade = false;
        v6.streams.depth = None;
        assert_eq!(
            v6.ws_url().unwrap(),
            "ws://[::1]:9000/stream?streams=btcusdt@bookTicker"
        );
    }

    #[test]
    fn deserializes_with_defaults_and_refuses_unknown_keys() {
        let cfg: FeedConfig = serde_json::from_str(
            r#"{"venue":{"sim":{"ws_base":"ws://127.0.0.1:1","http_base":"http://127.0.0.1:1"}},
                "symbols":["BTCUSDT","ETHUSDT"],
                "streams":{"agg_trade":true,"depth":"1000ms"},
                "stale_after_ms":250,"reconnect":{"initial_ms":5,"max_ms":50,"jitter_pct":10}}"#,
        )
        .unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.stale_after, Duration::from_millis(250));
        assert_eq!(cfg.reconnect.max, Duration::from_millis(50));
        assert!(cfg.streams.book_ticker && cfg.streams.agg_trade);
        assert_eq!(cfg.streams.depth, Some(DepthSpeed::Ms1000));
        assert!(
            cfg.stream_path().contains("ethusdt@depth/")
                || cfg.stream_path().ends_with("ethusdt@depth")
        );
        let preset: FeedConfig =
            serde_json::from_str(r#"{"venue":"testnet","symbols":["X"]}"#).unwrap();
        assert_eq!(preset.venue, Venue::Testnet);
        let err = serde_json::from_str::<FeedConfig>(r#"{"symbolz":[]}"#).unwrap_err();
        assert!(err.to_string().contains("symbolz"), "{err}");
    }

    #[test]
    fn snapshot_weights_follow_the_venue_table() {
        let w: Vec<u32> = [1, 100, 101, 500, 501, 1000, 1001, 5000]
            .into_iter()
            .map(snapshot_weight)
            .collect();
        assert_eq!(w, [5, 5, 25, 25, 50, 50, 250, 250]);
    }

    #[test]
    fn validation_names_the_key() {
        let base = FeedConfig::new(sim(), &["BTCUSDT"]);
        base.validate().unwrap();
        type Mutate = Box<dyn Fn(&mut FeedConfig)>;
        let cases: Vec<(&str, Mutate)> = vec![
            ("symbols", Box::new(|c| c.symbols.clear())),
            ("symbols", Box::new(|c| c.symbols.push("btcusdt".into()))),
            ("symbols", Box::new(|c| c.symbols.push("BTC/USDT".into()))),
            ("book_levels", Box::new(|c| c.book_levels = 0)),
            ("snapshot_limit", Box::new(|c| c.snapshot_limit = 5001)),
            (
                "snapshot_weight_per_min",
                Box::new(|c| c.snapshot_weight_per_min = 49),
            ),
            (
                "snapshot_weight_per_min",
                Box::new(|c| c.snapshot_weight_per_min = 6001),
            ),
            (
                "stale_after_ms",
                Box::new(|c| c.stale_after = Duration::ZERO),
            ),
            (
                "ping_interval_ms",
                Box::new(|c| c.ping_interval = Duration::from_millis(10)),
            ),
            ("read_buffer", Box::new(|c| c.read_buffer = 100)),
            (
                "reconnect.max_ms",
                Box::new(|c| c.reconnect.max = Duration::from_millis(1)),
            ),
            (
                "streams",
                Box::new(|c| {
                    c.streams = StreamSet {
                        book_ticker: false,
                        trade: false,
                        agg_trade: false,
                        depth: None,
                    }
                }),
            ),
            (
                "venue.ws_base",
                Box::new(|c| {
                    c.venue = Venue::Sim {
                        ws_base: "http://x:1".into(),
                        http_base: "http://x:1".into(),
                        tls_root_der: None,
                    }
                }),
            ),
            (
                "venue.http_base",
                Box::new(|c| {
                    c.venue = Venue::Sim {
                        ws_base: "ws://x:1".into(),
                        http_base: "ftp://x".into(),
                        tls_root_der: None,
                    }
                }),
            ),
        ];
        for (key, mutate) in cases {
            let mut c = base.clone();
            mutate(&mut c);
            assert_eq!(c.validate().unwrap_err().key, key);
        }
    }

    #[test]
    fn endpoints_parse() {
        let e = Endpoint::parse("wss://[::1]:9443/base/", "k").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.tls, e.base_path.as_str()),
            ("::1", 9443, true, "/base")
        );
        assert_eq!(e.authority(), "[::1]:9443");
        let e = Endpoint::parse("http://localhost", "k").unwrap();
        assert_eq!((e.port, e.tls, e.scheme_is_http), (80, false, true));
        for bad in [
            "localhost:80",
            "ws://:80",
            "ws://h:0",
            "ws://h:x",
            "gopher://h",
            "ws://h/p?q",
        ] {
            assert_eq!(Endpoint::parse(bad, "k").unwrap_err().key, "k", "{bad}");
        }
    }
}
