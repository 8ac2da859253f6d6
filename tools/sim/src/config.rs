//! Simulator configuration: the `talon sim` flags ([`SimArgs`]) and the
//! resolved [`SimConfig`] that [`crate::Simulator::start`] takes.
//!
//! This module owns option parsing, defaults and validation, and the table of
//! symbol specifications (tick, step, min notional, starting price). It never
//! opens a socket or starts a thread; everything it produces is plain data.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use talon_core::num::{Notional, Price, Qty};

use crate::SimError;
use crate::exchange::{AccountSpec, FeeSchedule};

/// API key of the demo account used when no account is configured.
pub const DEMO_API_KEY: &str = "talon-demo-key";
/// HMAC secret of the demo account.
pub const DEMO_SECRET: &str = "talon-demo-secret";

/// The demo account (`talon-demo-key` / `talon-demo-secret`, 100000 USDT,
/// 10 BTC, 100 ETH): what the simulator serves when no `--account` is
/// given, so `talon run` works against it with no configuration.
pub fn demo_account() -> AccountSpec {
    AccountSpec {
        api_key: DEMO_API_KEY.to_string(),
        secret: DEMO_SECRET.to_string(),
        ed25519_public: None,
        balances: vec![
            ("USDT".to_string(), Qty::from_raw(100_000 * 100_000_000)),
            ("BTC".to_string(), Qty::from_raw(10 * 100_000_000)),
            ("ETH".to_string(), Qty::from_raw(100 * 100_000_000)),
        ],
    }
}

/// Parses `ASSET=AMOUNT,ASSET=AMOUNT` (amounts as decimals, ≤ 8 places).
pub fn parse_balances(s: &str) -> Result<Vec<(String, Qty)>, SimError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (a, v) = p
                .split_once('=')
                .ok_or_else(|| SimError::Config(format!("balance {p:?}: expected ASSET=AMOUNT")))?;
            let asset = a.trim().to_ascii_uppercase();
            if asset.is_empty() || !asset.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(SimError::Config(format!("balance {p:?}: bad asset")));
            }
            let q = Qty::parse(v.trim())
                .map_err(|e| SimError::Config(format!("balance {p:?}: {e}")))?;
            Ok((asset, q))
        })
        .collect()
}

/// Parses `--account API_KEY:SECRET[:ASSET=AMOUNT,...]`.
pub fn parse_account(s: &str) -> Result<AccountSpec, SimError> {
    let mut it = s.splitn(3, ':');
    let key = it.next().unwrap_or("").trim();
    let secret = it.next().unwrap_or("").trim();
    if key.is_empty() || secret.is_empty() {
        return Err(SimError::Config(format!(
            "account {s:?}: expected API_KEY:SECRET[:ASSET=AMOUNT,...]"
        )));
    }
    let balances = match it.next() {
        Some(b) => parse_balances(b)?,
        None => Vec::new(),
    };
    Ok(AccountSpec {
        api_key: key.to_string(),
        secret: secret.to_string(),
        ed25519_public: None,
        balances,
    })
}

/// The 32-byte Ed25519 public key in a PEM `PUBLIC KEY` (SPKI) text.
pub fn ed25519_public_from_pem(pem: &str) -> Result<[u8; 32], SimError> {
    use ed25519_dalek::pkcs8::DecodePublicKey;
    ed25519_dalek::VerifyingKey::from_public_key_pem(pem.trim())
        .map(|k| k.to_bytes())
        .map_err(|e| SimError::Config(format!("Ed25519 public key: {e}")))
}

/// Parses `--ed25519-account API_KEY:PUBLIC_KEY_PEM_FILE[:ASSET=AMOUNT,...]`
/// (reads the file). Such an account has no HMAC secret: its requests are
/// signed with Ed25519 (base64), and it may `session.logon`.
pub fn parse_ed25519_account(s: &str) -> Result<AccountSpec, SimError> {
    let mut it = s.splitn(3, ':');
    let key = it.next().unwrap_or("").trim();
    let file = it.next().unwrap_or("").trim();
    if key.is_empty() || file.is_empty() {
        return Err(SimError::Config(format!(
            "ed25519 account {s:?}: expected API_KEY:PUBLIC_KEY_PEM_FILE[:ASSET=AMOUNT,...]"
        )));
    }
    let pem = std::fs::read_to_string(file)
        .map_err(|e| SimError::Config(format!("ed25519 account key file {file}: {e}")))?;
    let balances = match it.next() {
        Some(b) => parse_balances(b)?,
        None => Vec::new(),
    };
    Ok(AccountSpec {
        api_key: key.to_string(),
        secret: String::new(),
        ed25519_public: Some(ed25519_public_from_pem(&pem)?),
        balances,
    })
}

/// The venue's rate limits as the simulator enforces them (defaults = the
/// venue's published values for Spot). Windows are aligned to clock
/// boundaries like the venue's: the minute, 10-second and UTC-day windows
/// reset at :00.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// REQUEST_WEIGHT per 1 MINUTE, counted per "IP" (the whole simulator).
    pub weight_per_minute: u64,
    /// ORDERS per 10 SECOND per account (unfilled order count).
    pub orders_per_10s: u64,
    /// ORDERS per 1 DAY per account.
    pub orders_per_day: u64,
    /// After this many 429s without a request getting through in between,
    /// the "IP" is banned (418). The venue does not publish its threshold.
    pub ban_after_429s: u32,
    /// Length of a ban (the venue: 2 minutes to 3 days).
    pub ban_duration: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            weight_per_minute: 6000,
            orders_per_10s: 100,
            orders_per_day: 200_000,
            ban_after_429s: 50,
            ban_duration: Duration::from_secs(120),
        }
    }
}

/// Order-side fault injection (start flags; changeable at run time through
/// [`crate::SimHandle`]). Counters count accepted orders (an `order.place` /
/// `POST /api/v3/order` the exchange took), over the simulator's life.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderFaults {
    /// Drop the connection (no reply, no close frame) after accepting every
    /// Nth order.
    pub drop_after_accept_every: Option<u64>,
    /// Drop the connection after accepting each of the next N orders.
    pub drop_after_accept_next: u64,
    /// Delay every order reply (`order.place`, `order.cancel`, REST order
    /// endpoints) by this long after the exchange processed the order.
    pub ack_delay: Duration,
    /// Reject the next N orders (before the exchange sees them) with
    /// `reject_code` / `reject_msg`.
    pub reject_next: u64,
    /// Code of the injected rejections (e.g. -1007, -2010).
    pub reject_code: i32,
    /// Message of the injected rejections.
    pub reject_msg: String,
}

/// What the simulator does with a client's `permessage-deflate` offer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DeflateMode {
    /// Never negotiate the extension (the handshake answer omits it).
    #[default]
    Reject,
    /// Negotiate it (with `server_no_context_takeover`) and send every data
    /// frame compressed (RFC 7692); compressed client frames are inflated.
    Accept,
}

/// How a malformed-message fault corrupts the message it replaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MalformedKind {
    /// Cut the JSON text in half (a truncated message).
    #[default]
    Truncate,
    /// Keep the length but break the syntax (quotes and braces replaced).
    Garbage,
}

/// Fault injection. Every counter is per connection and counts market
/// messages (not control replies, pings or pongs) in the order they are
/// written to that connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultConfig {
    /// Close the TCP connection abruptly (no close frame) once this many
    /// market messages have been written to it.
    pub drop_after: Option<u64>,
    /// At most this many connections are dropped by `drop_after` over the
    /// simulator's life (`None`: every connection).
    pub drop_limit: Option<u64>,
    /// Skip every Nth diff-depth message (`@depth`, `@depth@100ms`) of a
    /// connection: the client sees `U > previous u + 1`.
    pub gap_every: Option<u64>,
    /// Skip the Nth diff-depth message of a connection, once.
    pub gap_at: Option<u64>,
    /// Replace every Nth market message with malformed JSON.
    pub malformed_every: Option<u64>,
    /// How malformed messages are broken.
    pub malformed_kind: MalformedKind,
    /// Length of a stall (the connection writes nothing, pings included).
    pub stall: Duration,
    /// Stall once after this many market messages.
    pub stall_after: Option<u64>,
    /// Stall after every N market messages.
    pub stall_every: Option<u64>,
}

/// A tradable symbol: filters for `exchangeInfo` and the generator's scales.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolSpec {
    /// Upper-case venue symbol (`BTCUSDT`).
    pub symbol: String,
    /// Base asset (`BTC`).
    pub base: String,
    /// Quote asset (`USDT`).
    pub quote: String,
    /// `PRICE_FILTER.tickSize`.
    pub tick_size: Price,
    /// `LOT_SIZE.stepSize`.
    pub step_size: Qty,
    /// `LOT_SIZE.minQty`.
    pub min_qty: Qty,
    /// `LOT_SIZE.maxQty`.
    pub max_qty: Qty,
    /// `NOTIONAL.minNotional`.
    pub min_notional: Notional,
    /// `NOTIONAL.maxNotional`.
    pub max_notional: Notional,
    /// Starting mid price of the random walk.
    pub start_price: Price,
    /// Typical resting level size (the generator draws around it).
    pub typical_qty: Qty,
}

/// Quote assets recognised when splitting an unknown symbol into base/quote.
const QUOTES: [&str; 9] = [
    "USDT", "USDC", "FDUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY",
];

impl SymbolSpec {
    /// The spec for `symbol` (case-insensitive): realistic values for
    /// BTCUSDT, ETHUSDT, BNBUSDT, SOLUSDT and XRPUSDT, generic ones (tick
    /// 0.01, step 0.001, price 100) for anything else.
    pub fn for_symbol(symbol: &str) -> Result<SymbolSpec, SimError> {
        let symbol = symbol.trim().to_ascii_uppercase();
        if symbol.is_empty()
            || symbol.len() > 20
            || !symbol
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(SimError::Config(format!("invalid symbol {symbol:?}")));
        }
        let (base, quote) = QUOTES
            .iter()
            .find(|q| symbol.len() > q.len() && symbol.ends_with(*q))
            .map(|q| {
                (
                    symbol[..symbol.len() - q.len()].to_string(),
                    (*q).to_string(),
                )
            })
            .unwrap_or_else(|| (symbol.clone(), "USDT".to_string()));
        // (tick, step, min_qty, max_qty, start price, typical qty) as raw 1e-8 units.
        let (tick, step, min_qty, max_qty, start, typical) = match symbol.as_str() {
            "BTCUSDT" => (
                1_000_000,
                1_000,
                1_000,
                900_000_000_000,
                6_500_000_000_000,
                5_000_000,
            ),
            "ETHUSDT" => (
                1_000_000,
                10_000,
                10_000,
                900_000_000_000,
                320_000_000_000,
                50_000_000,
            ),
            "BNBUSDT" => (
                1_000_000,
                100_000,
                100_000,
                900_000_000_000,
                60_000_000_000,
                100_000_000,
            ),
            "SOLUSDT" => (
                1_000_000,
                100_000,
                100_000,
                900_000_000_000,
                15_000_000_000,
                500_000_000,
            ),
            "XRPUSDT" => (
                10_000,
                10_000_000,
                10_000_000,
                900_000_000_000_000,
                50_000_000,
                50_000_000_000,
            ),
            _ => (
                1_000_000,
                100_000,
                100_000,
                900_000_000_000,
                10_000_000_000,
                1_000_000_000,
            ),
        };
        Ok(SymbolSpec {
            base,
            quote,
            tick_size: Price::from_raw(tick),
            step_size: Qty::from_raw(step),
            min_qty: Qty::from_raw(min_qty),
            max_qty: Qty::from_raw(max_qty),
            // 5 and 9,000,000 quote units, as on the venue's USDT pairs.
            min_notional: Notional::from_raw(500_000_000).unwrap_or(Notional::ZERO),
            max_notional: Notional::from_raw(900_000_000_000_000).unwrap_or(Notional::ZERO),
            start_price: Price::from_raw(start),
            typical_qty: Qty::from_raw(typical),
            symbol,
        })
    }

    /// Lower-case stream prefix (`btcusdt`).
    pub fn stream_prefix(&self) -> String {
        self.symbol.to_ascii_lowercase()
    }
}

/// Everything the simulator needs; build it from [`SimArgs`] or directly in
/// tests (start from [`SimConfig::default`]).
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Listening address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Symbols to generate (ignored for market data in replay mode, still
    /// served by `exchangeInfo`).
    pub symbols: Vec<SymbolSpec>,
    /// Generator rate: market messages per second in total, counting one
    /// message per event on each real-time stream kind (see the crate docs).
    pub rate: u64,
    /// Seed of the generator: same seed and config ⇒ same message sequence.
    pub seed: u64,
    /// Virtual epoch for event times (`E`, `T`) in ms; `None`: wall clock at
    /// start. Fix it to make message bytes fully reproducible.
    pub start_time_ms: Option<u64>,
    /// Replay this tape instead of generating (format in [`crate::replay`]).
    pub replay: Option<PathBuf>,
    /// Serve TLS (wss://, https://) with a self-signed certificate; plain
    /// connections are still accepted on the same port.
    pub tls: bool,
    /// Write the generated certificate (PEM) here.
    pub cert_out: Option<PathBuf>,
    /// A WebSocket connection is closed after this long (venue: 24 h).
    pub connection_lifetime: Duration,
    /// Server ping period (venue: 20 s).
    pub ping_interval: Duration,
    /// A ping not answered by a pong echoing its payload within this time
    /// closes the connection (venue: 1 min).
    pub pong_timeout: Duration,
    /// Target number of levels per book side (the book keeps it ± a few).
    pub book_levels: usize,
    /// Aggregation interval of `<s>@depth` in ms; 0 sends every book event as
    /// its own diff (the venue aggregates over 1000 ms).
    pub depth_interval_ms: u64,
    /// A connection whose unread backlog exceeds this many bytes of
    /// generated messages is closed as a slow consumer.
    pub max_lag_bytes: usize,
    /// Start with the generator paused (tests: `SimHandle::resume`/`step`).
    pub start_paused: bool,
    /// Fault injection.
    pub faults: FaultConfig,
    /// permessage-deflate policy.
    pub deflate: DeflateMode,
    /// Trading accounts (order side). Default: [`demo_account`].
    pub accounts: Vec<AccountSpec>,
    /// Maker/taker commission rates.
    pub fees: FeeSchedule,
    /// Rate limits enforced on REST and the WebSocket API.
    pub rate_limits: RateLimitConfig,
    /// Order-side fault injection at start.
    pub order_faults: OrderFaults,
    /// Mark every trade whose trade id is a multiple of this and measure
    /// wire-to-wire latency to the tick-tagged orders it causes (see
    /// [`crate::marks`]); `None`: off.
    pub mark_every: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            symbols: ["BTCUSDT", "ETHUSDT"]
                .iter()
                .filter_map(|s| SymbolSpec::for_symbol(s).ok())
                .collect(),
            rate: 1_000,
            seed: 1,
            start_time_ms: None,
            replay: None,
            tls: false,
            cert_out: None,
            connection_lifetime: Duration::from_secs(24 * 3600),
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(60),
            book_levels: 200,
            depth_interval_ms: 0,
            max_lag_bytes: 64 << 20,
            start_paused: false,
            faults: FaultConfig::default(),
            deflate: DeflateMode::Reject,
            accounts: vec![demo_account()],
            fees: FeeSchedule {
                maker: Qty::from_raw(100_000),
                taker: Qty::from_raw(100_000),
            },
            rate_limits: RateLimitConfig::default(),
            order_faults: OrderFaults::default(),
            mark_every: None,
        }
    }
}

impl SimConfig {
    /// Checks ranges: rate 1..=10,000,000, book levels 10..=5000, at least
    /// one symbol, non-zero ping interval and pong timeout.
    pub fn validate(&self) -> Result<(), SimError> {
        if !(1..=10_000_000).contains(&self.rate) {
            return Err(SimError::Config(format!(
                "rate {} not in 1..=10000000",
                self.rate
            )));
        }
        if !(10..=5000).contains(&self.book_levels) {
            return Err(SimError::Config(format!(
                "book levels {} not in 10..=5000",
                self.book_levels
            )));
        }
        if self.symbols.is_empty() {
            return Err(SimError::Config("no symbols".into()));
        }
        if self.ping_interval.is_zero() || self.pong_timeout.is_zero() {
            return Err(SimError::Config(
                "ping interval and pong timeout must be > 0".into(),
            ));
        }
        if self.faults.drop_after == Some(0)
            || self.faults.gap_every == Some(0)
            || self.faults.malformed_every == Some(0)
            || self.faults.stall_every == Some(0)
        {
            return Err(SimError::Config("fault periods must be ≥ 1".into()));
        }
        if self.accounts.is_empty() {
            return Err(SimError::Config("no accounts".into()));
        }
        for (i, a) in self.accounts.iter().enumerate() {
            if self.accounts[..i].iter().any(|b| b.api_key == a.api_key) {
                return Err(SimError::Config(format!("duplicate API key {}", a.api_key)));
            }
        }
        let r = &self.rate_limits;
        if r.weight_per_minute == 0 || r.orders_per_10s == 0 || r.orders_per_day == 0 {
            return Err(SimError::Config("rate limits must be ≥ 1".into()));
        }
        if self.order_faults.drop_after_accept_every == Some(0) {
            return Err(SimError::Config("fault periods must be ≥ 1".into()));
        }
        if self.mark_every == Some(0) {
            return Err(SimError::Config("mark every must be ≥ 1".into()));
        }
        Ok(())
    }
}

/// `talon sim` flags (embedded by the `talon` binary with `#[command(flatten)]`).
#[derive(clap::Args, Clone, Debug)]
pub struct SimArgs {
    /// Listening address; port 0 picks a free one (printed at start).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Comma-separated symbols to generate.
    #[arg(long, default_value = "BTCUSDT,ETHUSDT", value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// Total market messages per second (1 to 10,000,000).
    #[arg(long, default_value_t = 1_000)]
    pub rate: u64,
    /// Generator seed (same seed ⇒ same message sequence).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fixed virtual epoch (ms) for event times; default: wall clock at start.
    #[arg(long)]
    pub start_time_ms: Option<u64>,
    /// Replay a tape (JSON lines `{"t_ms":…,"stream":…,"data":…}`) instead of generating.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
    /// Serve wss:// and https:// (self-signed certificate for localhost/127.0.0.1).
    #[arg(long)]
    pub tls: bool,
    /// Write the generated certificate as PEM to this file.
    #[arg(long, value_name = "FILE")]
    pub cert_out: Option<PathBuf>,
    /// WebSocket connection lifetime in seconds (venue: 86400).
    #[arg(long, default_value_t = 86_400)]
    pub connection_lifetime_secs: u64,
    /// Server ping period in seconds (venue: 20).
    #[arg(long, default_value_t = 20)]
    pub ping_interval_secs: u64,
    /// Close a connection whose pong is this late, in seconds (venue: 60).
    #[arg(long, default_value_t = 60)]
    pub pong_timeout_secs: u64,
    /// Levels per book side.
    #[arg(long, default_value_t = 200)]
    pub book_levels: usize,
    /// `<s>@depth` aggregation in ms (0: one diff per book event; venue: 1000).
    #[arg(long, default_value_t = 0)]
    pub depth_interval_ms: u64,
    /// Close a client that falls this many MiB behind.
    #[arg(long, default_value_t = 64)]
    pub max_lag_mib: usize,
    /// Stop after this many seconds (default: run until killed).
    #[arg(long)]
    pub duration_secs: Option<u64>,
    /// Print a stats line to stderr every N seconds (0: only at exit).
    #[arg(long, default_value_t = 10)]
    pub stats_interval_secs: u64,
    /// Fault: drop each connection after N market messages.
    #[arg(long, value_name = "N")]
    pub drop_after: Option<u64>,
    /// Fault: drop at most K connections in total.
    #[arg(long, value_name = "K")]
    pub drop_limit: Option<u64>,
    /// Fault: skip every Nth diff-depth message (a gap).
    #[arg(long, value_name = "N")]
    pub gap_every: Option<u64>,
    /// Fault: skip the Nth diff-depth message of each connection, once.
    #[arg(long, value_name = "N")]
    pub gap_at: Option<u64>,
    /// Fault: replace every Nth market message with malformed JSON.
    #[arg(long, value_name = "N")]
    pub malformed_every: Option<u64>,
    /// Fault: how malformed messages are broken.
    #[arg(long, value_enum, default_value_t = MalformedKind::Truncate)]
    pub malformed_kind: MalformedKind,
    /// Fault: stall length in ms (with --stall-after and/or --stall-every).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub stall_ms: u64,
    /// Fault: stall once after N market messages.
    #[arg(long, value_name = "N")]
    pub stall_after: Option<u64>,
    /// Fault: stall after every N market messages.
    #[arg(long, value_name = "N")]
    pub stall_every: Option<u64>,
    /// permessage-deflate: reject (never negotiate) or accept (compress frames).
    #[arg(long, value_enum, default_value_t = DeflateMode::Reject)]
    pub deflate: DeflateMode,
    /// Trading account `API_KEY:SECRET[:ASSET=AMOUNT,...]` (repeatable). With
    /// none (and no --ed25519-account) the demo account `talon-demo-key` /
    /// `talon-demo-secret` with 100000 USDT, 10 BTC, 100 ETH is served.
    #[arg(long = "account", value_name = "KEY:SECRET[:BALANCES]")]
    pub accounts: Vec<String>,
    /// Ed25519 account `API_KEY:PUBLIC_KEY_PEM_FILE[:ASSET=AMOUNT,...]`
    /// (repeatable): signs with Ed25519, may `session.logon`.
    #[arg(long = "ed25519-account", value_name = "KEY:PEM_FILE[:BALANCES]")]
    pub ed25519_accounts: Vec<String>,
    /// Maker commission rate as a fraction (venue default 0.001 = 0.1 %).
    #[arg(long, default_value = "0.001")]
    pub maker_fee: String,
    /// Taker commission rate as a fraction.
    #[arg(long, default_value = "0.001")]
    pub taker_fee: String,
    /// REQUEST_WEIGHT limit per minute (whole simulator, like one IP).
    #[arg(long, default_value_t = 6000)]
    pub weight_per_minute: u64,
    /// ORDERS limit per 10 seconds per account (unfilled order count).
    #[arg(long, default_value_t = 100)]
    pub orders_per_10s: u64,
    /// ORDERS limit per day per account.
    #[arg(long, default_value_t = 200_000)]
    pub orders_per_day: u64,
    /// Ban (418) after this many 429s with no request getting through.
    #[arg(long, default_value_t = 50)]
    pub ban_after_429s: u32,
    /// Ban length in seconds.
    #[arg(long, default_value_t = 120)]
    pub ban_secs: u64,
    /// Order fault: drop the connection without replying after accepting every Nth order.
    #[arg(long, value_name = "N")]
    pub fault_drop_after_accept_every: Option<u64>,
    /// Order fault: drop the connection without replying after accepting each of the next N orders.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fault_drop_after_accept_next: u64,
    /// Order fault: delay order replies by this many ms.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub fault_ack_delay_ms: u64,
    /// Order fault: reject the next N orders with --fault-reject-code/-msg.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fault_reject_next: u64,
    /// Order fault: code of injected rejections.
    #[arg(long, value_name = "CODE", default_value_t = -1007, allow_hyphen_values = true)]
    pub fault_reject_code: i32,
    /// Order fault: message of injected rejections.
    #[arg(
        long,
        value_name = "MSG",
        default_value = "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
    )]
    pub fault_reject_msg: String,
    /// Mark every trade whose trade id is a multiple of N and measure
    /// wire-to-wire latency to the orders tagged with it
    /// (`GET /sim/v1/marks`; printed as JSON at exit).
    #[arg(long, value_name = "N")]
    pub mark_every: Option<u64>,
}

impl SimArgs {
    /// Resolves the flags into a validated [`SimConfig`].
    pub fn to_config(&self) -> Result<SimConfig, SimError> {
        let symbols = self
            .symbols
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| SymbolSpec::for_symbol(s))
            .collect::<Result<Vec<_>, _>>()?;
        let cfg = SimConfig {
            listen: self.listen,
            symbols,
            rate: self.rate,
            seed: self.seed,
            start_time_ms: self.start_time_ms,
            replay: self.replay.clone(),
            tls: self.tls,
            cert_out: self.cert_out.clone(),
            connection_lifetime: Duration::from_secs(self.connection_lifetime_secs),
            ping_interval: Duration::from_secs(self.ping_interval_secs),
            pong_timeout: Duration::from_secs(self.pong_timeout_secs),
            book_levels: self.book_levels,
            depth_interval_ms: self.depth_interval_ms,
            max_lag_bytes: self.max_lag_mib.saturating_mul(1 << 20),
            start_paused: false,
            faults: FaultConfig {
                drop_after: self.drop_after,
                drop_limit: self.drop_limit,
                gap_every: self.gap_every,
                gap_at: self.gap_at,
                malformed_every: self.malformed_every,
                malformed_kind: self.malformed_kind,
                stall: Duration::from_millis(self.stall_ms),
                stall_after: self.stall_after,
                stall_every: self.stall_every,
            },
            deflate: self.deflate,
            accounts: self.resolve_accounts()?,
            fees: FeeSchedule {
                maker: parse_fee(&self.maker_fee)?,
                taker: parse_fee(&self.taker_fee)?,
            },
            rate_limits: RateLimitConfig {
                weight_per_minute: self.weight_per_minute,
                orders_per_10s: self.orders_per_10s,
                orders_per_day: self.orders_per_day,
                ban_after_429s: self.ban_after_429s,
                ban_duration: Duration::from_secs(self.ban_secs),
            },
            order_faults: OrderFaults {
                drop_after_accept_every: self.fault_drop_after_accept_every,
                drop_after_accept_next: self.fault_drop_after_accept_next,
                ack_delay: Duration::from_millis(self.fault_ack_delay_ms),
                reject_next: self.fault_reject_next,
                reject_code: self.fault_reject_code,
                reject_msg: self.fault_reject_msg.clone(),
            },
            mark_every: self.mark_every,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

impl SimArgs {
    fn resolve_accounts(&self) -> Result<Vec<AccountSpec>, SimError> {
        let mut out = Vec::new();
        for a in &self.accounts {
            out.push(parse_account(a)?);
        }
        for a in &self.ed25519_accounts {
            out.push(parse_ed25519_account(a)?);
        }
        if out.is_empty() {
            out.push(demo_account());
        }
        Ok(out)
    }
}

fn parse_fee(s: &str) -> Result<Qty, SimError> {
    let q = Qty::parse(s.trim()).map_err(|e| SimError::Config(format!("fee {s:?}: {e}")))?;
    if q.raw() > 100_000_000 {
        return Err(SimError::Config(format!("fee {s:?} above 1")));
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    #[test]
    fn defaults_and_flags_resolve() {
        let cli = Cli::parse_from(["x"]);
        let cfg = cli.sim.to_config().unwrap();
        assert_eq!(cfg.symbols.len(), 2);
        assert_eq!(cfg.symbols[0].symbol, "BTCUSDT");
        assert_eq!(cfg.symbols[0].tick_size.to_string(), "0.01");
        assert_eq!(cfg.symbols[0].step_size.to_string(), "0.00001");
        assert_eq!(cfg.ping_interval, Duration::from_secs(20));

        let cli = Cli::parse_from([
            "x",
            "--symbols",
            "solusdt,LINKBTC",
            "--rate",
            "200000",
            "--gap-every",
            "10",
            "--deflate",
            "accept",
            "--malformed-kind",
            "garbage",
        ]);
        let cfg = cli.sim.to_config().unwrap();
        assert_eq!(cfg.symbols[1].base, "LINK");
        assert_eq!(cfg.symbols[1].quote, "BTC");
        assert_eq!(cfg.rate, 200_000);
        assert_eq!(cfg.faults.gap_every, Some(10));
        assert_eq!(cfg.deflate, DeflateMode::Accept);
        assert_eq!(cfg.faults.malformed_kind, MalformedKind::Garbage);
    }

    #[test]
    fn accounts_fees_limits_and_order_faults_from_flags() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("ed.pem");
        std::fs::write(
            &pem,
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGUIKv9dSpWXBViXp2m6vAIb8QMFJYBgyFEQsFJlqgA0=\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        let ed = format!("ed-key:{}:BTC=1", pem.display());
        let cli = Cli::parse_from([
            "x",
            "--account",
            "k1:s1:USDT=1000.5,btc=0.00000001",
            "--account",
            "k2:s2",
            "--ed25519-account",
            ed.as_str(),
            "--maker-fee",
            "0.0002",
            "--taker-fee",
            "0.0004",
            "--weight-per-minute",
            "1200",
            "--ban-secs",
            "3",
            "--fault-drop-after-accept-every",
            "5",
            "--fault-ack-delay-ms",
            "20",
            "--fault-reject-next",
            "2",
            "--fault-reject-code",
            "-2010",
            "--fault-reject-msg",
            "no",
        ]);
        let cfg = cli.sim.to_config().unwrap();
        assert_eq!(cfg.accounts.len(), 3);
        assert_eq!(cfg.accounts[0].api_key, "k1");
        assert_eq!(cfg.accounts[0].secret, "s1");
        assert_eq!(
            cfg.accounts[0].balances,
            vec![
                ("USDT".to_string(), Qty::from_raw(100_050_000_000)),
                ("BTC".to_string(), Qty::from_raw(1)),
            ]
        );
        assert!(cfg.accounts[1].balances.is_empty());
        assert_eq!(cfg.accounts[2].secret, "");
        assert!(cfg.accounts[2].ed25519_public.is_some());
        assert_eq!(cfg.fees.maker, Qty::from_raw(20_000));
        assert_eq!(cfg.fees.taker, Qty::from_raw(40_000));
        assert_eq!(cfg.rate_limits.weight_per_minute, 1200);
        assert_eq!(cfg.rate_limits.ban_duration, Duration::from_secs(3));
        assert_eq!(cfg.order_faults.drop_after_accept_every, Some(5));
        assert_eq!(cfg.order_faults.ack_delay, Duration::from_millis(20));
        assert_eq!(cfg.order_faults.reject_next, 2);
        assert_eq!(cfg.order_faults.reject_code, -2010);
        assert_eq!(cfg.order_faults.reject_msg, "no");

        for bad in [
            "nokey",
            ":s",
            "k:s:USDT",
            "k:s:USDT=-1",
            "k:s:US-DT=1",
            "k:s:BTC=0.000000001",
        ] {
            assert!(parse_account(bad).is_err(), "{bad}");
        }
        assert!(parse_ed25519_account("k:/no/such/file.pem").is_err());
        let cli = Cli::parse_from(["x", "--account", "a:b", "--account", "a:c"]);
        assert!(cli.sim.to_config().is_err(), "duplicate keys");
        let cli = Cli::parse_from(["x", "--taker-fee", "1.5"]);
        assert!(cli.sim.to_config().is_err());
        let cli = Cli::parse_from(["x", "--orders-per-10s", "0"]);
        assert!(cli.sim.to_config().is_err());
    }

    #[test]
    fn validation_rejects_bad_values() {
        let cfg = SimConfig {
            rate: 0,
            ..SimConfig::default()
        };
        assert!(cfg.validate().is_err());
        assert!(SymbolSpec::for_symbol("btc-usdt").is_err());
        let cfg = SimConfig {
            symbols: vec![],
            ..SimConfig::default()
        };
        assert!(cfg.validate().is_err());
    }
}
