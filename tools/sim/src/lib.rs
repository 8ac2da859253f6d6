//! talon-sim: a Binance Spot–compatible exchange simulator on loopback, for
//! testing and benchmarking the feed without the internet.
//!
//! One listening address serves, routed by the venue's own paths:
//!
//! | path | what |
//! |---|---|
//! | `GET /api/v3/ping`, `/api/v3/time` | `{}`, `{"serverTime":ms}` |
//! | `GET /api/v3/exchangeInfo[?symbol=S \| ?symbols=["A","B"]]` | venue shape: `rateLimits`, symbols with `PRICE_FILTER`, `LOT_SIZE`, `NOTIONAL`, `MAX_NUM_ORDERS` |
//! | `GET /api/v3/depth?symbol=S[&limit=N]` | `{"lastUpdateId":…,"bids":[…],"asks":[…]}` (limit default 100, capped at 5000), consistent with the diff stream |
//! | WebSocket `/ws/<stream>`, `/ws`, `/stream?streams=a/b` | raw payloads (`/ws`) or `{"stream":…,"data":…}` (`/stream`); live `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`/`GET_PROPERTY combined` |
//! | WebSocket `/ws-api/v3[?returnRateLimits=false]` | the WebSocket API: `order.place`, `order.cancel`, `order.cancelReplace`, `openOrders.cancelAll`, `order.status`, `openOrders.status`, `account.status`, `time`, `ping`, `exchangeInfo`, `session.logon`/`status`/`logout`, `userDataStream.subscribe`, `userDataStream.subscribe.signature`, `userDataStream.unsubscribe`; user data as `{"subscriptionId":n,"event":…}` |
//! | `POST`/`DELETE`/`GET /api/v3/order`, `GET`/`DELETE /api/v3/openOrders`, `GET /api/v3/account`, `POST /api/v3/order/cancelReplace` | signed REST order endpoints (query string and/or form body, `X-MBX-APIKEY`) |
//!
//! Errors use the venue's shapes: REST `{"code":-1121,"msg":"Invalid symbol."}`
//! (400), `-1102` missing symbol, `-1100` bad limit, unknown endpoint 404
//! `{"code":-1000,…}`; stream control `{"error":{"code":0..3,"msg":…},"id":…}`.
//! An unknown stream name is acknowledged and then silent, as on the venue.
//!
//! Streams per symbol: `@bookTicker`, `@trade`, `@aggTrade`, `@depth`,
//! `@depth@100ms`, `@depth{5,10,20}[@100ms]`, with the venue's field names and
//! 8-decimal strings (`"0.00100000"`). Update ids exceed 2^32.
//!
//! # Generator ([`market`](crate) module) and rate
//!
//! Each step is one book event on one symbol (a level set/added/removed
//! near the top, a new level inside the spread, or a trade taking liquidity
//! at the best level), plus refills that keep ~`book_levels` per side. Each
//! level change takes one update id; the step's `@depth` diff carries
//! `U` = first, `u` = last id (so `U == previous u + 1` always), and
//! `@bookTicker` (sent when the best bid/ask price or size changed) carries
//! `u` = the book's id after the step. `@depth@100ms` merges the changes of
//! each 100 ms window (`U` = first id of the window). `@depth` is per event
//! by default (`depth_interval_ms` = 0); set 1000 for the venue's cadence.
//!
//! `rate` counts real-time messages: every step counts 1 (its diff) + 1 if
//! the top changed (bookTicker) + 2 for a trade (trade, aggTrade). A client
//! subscribed to all four kinds of every symbol receives ≈ `rate` msgs/s.
//! Time is virtual (message `n` is at `n / rate` s after the epoch), so
//! the sequence for a seed does not depend on pacing.
//!
//! # Determinism and consistent books
//!
//! Same seed + same config (+ `start_time_ms` for identical `E` fields) ⇒
//! identical message bytes per stream. [`SimHandle::pause`] parks the
//! generator with everything published; [`SimHandle::step`] runs exact
//! steps; [`SimHandle::book`] returns the book with its `last_update_id`.
//!
//! # Faults, TLS, replay
//!
//! See [`FaultConfig`] (drop after N, gaps, malformed/truncated JSON,
//! stalls), [`DeflateMode`] (reject, or accept with RFC 7692 compression),
//! `tls` (self-signed certificate for `localhost` + IP `127.0.0.1`, rustls
//! with the ring provider; plain connections still work on the same port,
//! TLS is recognised by its first byte) and [`replay`] for the tape format.
//!
//! # Order side
//!
//! Accounts come from [`SimConfig::accounts`] (`--account KEY:SECRET[:ASSET=AMT,…]`,
//! `--ed25519-account KEY:PEM_FILE[:…]`); with none configured the demo
//! account [`DEMO_API_KEY`] / [`DEMO_SECRET`] (100000 USDT, 10 BTC, 100 ETH)
//! is served. Requests are signed like the venue's (WS API: sorted params,
//! raw values, numbers in their textual form; REST: query string then body
//! as sent) with HMAC-SHA256 or Ed25519; `session.logon` takes Ed25519.
//! Rate limits ([`RateLimitConfig`]): REQUEST_WEIGHT per minute for the whole
//! simulator, ORDERS per 10 s and per day per account (unfilled order
//! count), 429 with `Retry-After` / `retryAfter`, then a 418 ban. Order
//! faults ([`OrderFaults`], also at run time on [`SimHandle`]): drop the
//! connection after accepting an order, delay acks, reject with a chosen
//! code. [`SimHandle::orders_received`] and [`SimHandle::rate_limit_stats`]
//! let tests prove "no duplicate" and "no 429". Matching is the
//! [`exchange`] core's: marketable orders take the simulated book (which
//! they do not consume), resting orders fill when the generator's trades
//! go through them.
//!
//! # Marked ticks
//!
//! `--mark-every N` ([`SimConfig::mark_every`]) marks trades whose id is a
//! multiple of N and measures wire-to-wire latency to the orders tagged with
//! them: [`SimHandle::marks`], `GET /sim/v1/marks[?reset=true]` (JSON
//! [`MarksReport`]), and a `talon sim marks {…}` line at a clean exit. See
//! [`marks`].
//!
//! Not implemented: `timeUnit=MICROSECOND`, the 5 messages/s client limit,
//! order lists (OCO/OTO), stop and take-profit orders, listenKey streams
//! (retired by the venue), RSA keys.
//!
//! This crate is test and benchmark tooling, not hot-path code: it uses
//! threads (an acceptor, one source thread, a reader and a writer thread
//! per WebSocket), blocking sockets and allocation. It never touches the
//! real venue and never installs process-wide TLS defaults.
#![forbid(unsafe_code)]

mod bus;
pub mod config;
mod conn;
pub mod exchange;
mod http;
mod market;
pub mod marks;
mod orderapi;
pub mod replay;
mod rng;
mod server;
mod stats;
pub mod streams;
mod text;
mod tls;
mod transport;
mod ws;

use std::io::Write;
use std::time::{Duration, Instant};

pub use config::{
    DEMO_API_KEY, DEMO_SECRET, DeflateMode, FaultConfig, MalformedKind, OrderFaults,
    RateLimitConfig, SimArgs, SimConfig, SymbolSpec, demo_account,
};
pub use market::BookView;
pub use marks::MarksReport;
pub use orderapi::ReceivedOrder;
pub use orderapi::limits::RateLimitStats;
pub use server::{SimHandle, Simulator};
pub use stats::SimStats;

/// Simulator errors.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Invalid configuration (names the option).
    #[error("config: {0}")]
    Config(String),
    /// Socket or file I/O.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Certificate generation or TLS configuration.
    #[error("tls: {0}")]
    Tls(String),
    /// Unreadable or invalid replay tape (names the line).
    #[error("replay: {0}")]
    Replay(String),
}

/// What `talon sim` runs: starts the simulator, prints
/// `talon sim listening on ws://ADDR http://ADDR` (first stdout line, then
/// the certificate path with `--cert-out`), prints a stats line to stderr
/// every `--stats-interval-secs`, and runs until `--duration-secs` elapses
/// or the process is killed (Ctrl-C). Prints final stats at a clean exit.
pub fn run_cli(args: SimArgs) -> Result<(), SimError> {
    let cfg = args.to_config()?;
    let h = Simulator::start(cfg)?;
    let mut out = std::io::stdout();
    writeln!(
        out,
        "talon sim listening on {} {}",
        h.ws_base(),
        h.http_base()
    )?;
    if let Some(p) = &args.cert_out {
        writeln!(out, "certificate (PEM) written to {}", p.display())?;
    }
    out.flush()?;
    let start = Instant::now();
    let deadline = args.duration_secs.map(|s| start + Duration::from_secs(s));
    let interval = Duration::from_secs(args.stats_interval_secs);
    let mut next_stats = start + interval;
    loop {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        if !interval.is_zero() && now >= next_stats {
            eprintln!(
                "talon sim [{}s] {}",
                now.duration_since(start).as_secs(),
                h.stats()
            );
            next_stats += interval;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = h.stats();
    let marks = h.marks();
    h.stop();
    writeln!(out, "talon sim stopped: {stats}")?;
    if marks.mark_every.is_some() {
        let json = serde_json::to_string(&marks).map_err(|e| SimError::Io(e.into()))?;
        writeln!(out, "talon sim marks {json}")?;
    }
    Ok(())
}
