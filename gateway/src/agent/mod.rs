//! The gateway agent: order ring → Binance WebSocket API → exec ring.
//!
//! Owns [`GatewayAgent`] (implements [`talon_core::agent::Agent`]): one WS
//! API connection ([`WsClient`], non-blocking, TLS via rustls for the real
//! venue), the session state machine ([`session`]), the send queues and the
//! pending-request table ([`outbound`]), and the glue between the encoder
//! ([`crate::request`]), the decoder ([`crate::response`]), the
//! [`crate::order_state::OrderTable`], the [`crate::rate_limit::RateLimiter`],
//! the [`crate::breaker::CircuitBreaker`] and [`crate::server_time`].
//!
//! ## One duty cycle ([`GatewayAgent::do_work`]), bounded
//! 1. move exec reports the full exec ring refused earlier onto it; while
//!    any is still held, take no input this cycle (backpressure: the socket
//!    and the order ring wait, no report is ever dropped);
//! 2. connect (after the backoff delay, within the attempt budget) or
//!    advance the connection; at most `max_messages_per_cycle` frames are
//!    decoded and handled (responses matched by request id; user-data
//!    `executionReport`s applied to the order table and forwarded);
//! 3. take at most `max_commands_per_cycle` order commands: new orders into
//!    the new-order queue (or refused locally: see [`crate::error`]),
//!    cancels and cancel-alls into the cancel queue (held while not ready; a
//!    full cancel queue stops popping the ring rather than drop one);
//! 4. drive the session sync (one request per step), then, when ready, send
//!    cancels, status queries and new orders, in that order, as the rate
//!    limiter allows;
//! 5. timers: ack deadlines (→ `Unknown` → `order.status`), request
//!    timeouts.
//!
//! ## Orders: what the engine sees
//! * `New` when the `order.place` response (or the user-data stream's
//!   `NEW`, whichever comes first) acknowledges it — once.
//! * Fills, cancels, expiries and venue-side rejections from the user-data
//!   stream (authoritative; duplicate trade ids dropped and counted; a
//!   cumulative quantity that goes backwards is dropped and counted).
//! * `Rejected` with the venue's code when `order.place` fails (`-1013`,
//!   `-2010`, `-1021`, `-1022`, `-2015`, `-1015` …), or with a Talon code
//!   `-9001..` when the gateway refused it (see [`crate::error`]).
//! * `Unknown` when no ack came within `ack_timeout_ms`, or the venue said
//!   5xx / `-1007` (outcome unknown); the gateway then asks `order.status`
//!   and reports what it finds: the venue's state (with any cumulative
//!   quantity increase as a fill at the order's average price, no trade id
//!   and no fee), or `Rejected` with `-2013` when the order never reached
//!   the venue. An order is **never resent**: a client order id goes out in
//!   one `order.place` at most.
//! * A refused cancel: a report carrying the venue's code (e.g. `-2011`)
//!   and the order's current status (unchanged; `Rejected` when the gateway
//!   holds no such open order).
//!
//! After a reconnect the session resyncs: `openOrders.status` per symbol
//! (an open order the table does not know, e.g. from an earlier run, is
//! adopted and reported) and `order.status` for every open order of the
//! table. Queued new orders are refused (`-9003`) when the connection
//! drops; cancels are held and sent once ready.
//!
//! Breaker failures: venue 5xx / `-1007`, ack timeouts, 429 / 418,
//! connection losses — never business rejects. A 429 / 418 blocks sending
//! until `retryAfter` (the limiter); it is never retried into a ban.
//!
//! ## What it never does in a duty cycle
//! Block (DNS is resolved in [`GatewayAgent::new`]; connect, TLS and the
//! upgrade are non-blocking state machines), lock, or allocate per order on
//! `ws://` (the encoder, decoder, tables and queues are fixed-size; a
//! `wss://` session allocates per TLS record inside rustls). Allocation
//! happens per connection (handshake, the `exchangeInfo` symbol list). It
//! never invents a client order id and never logs a secret.

mod cycle;
pub mod outbound;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use talon_core::agent::{Agent, AgentError};
use talon_core::clock::{MonotonicClock, NanoClock, Nanos};
use talon_core::event::{ClientOrderId, ExecReport, OrderCommand, OrderStatus};
use talon_core::halt::HaltFlag;
use talon_core::instrument::InstrumentTable;
use talon_core::ring::{ExecProducer, OrderConsumer};
use talon_feed::backoff::{AttemptBudget, BackoffState};
use talon_feed::error::TransportError;
use talon_feed::net::resolve;
use talon_feed::tls::{client_config, server_name};
use talon_feed::ws::{WsClient, WsConfig, WsState, WsTarget};

use self::cycle::{Core, Settings, Signer, Slot};
use self::outbound::{FixedQueue, PendingTable};
use self::session::Phase;
pub use self::session::SessionState;
use crate::breaker::{BreakerState, CircuitBreaker};
use crate::config::{AuthSecret, GatewayConfig};
use crate::counters::{GatewayCounter, GatewayCounters};
use crate::error::GatewayError;
use crate::latency::GatewayLatency;
use crate::order_state::OrderTable;
use crate::rate_limit::RateLimiter;
use crate::request::RequestEncoder;
use crate::server_time::ServerTime;
use crate::sign::{Ed25519Signer, HmacSigner};

/// Encoder buffer bytes (a signed order is < 600 bytes).
const ENCODER_CAPACITY: usize = 4096;

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The order gateway agent (see the module docs).
pub struct GatewayAgent<C: NanoClock + Clone + Send = MonotonicClock> {
    ws: WsClient,
    target: WsTarget,
    addrs: Vec<SocketAddr>,
    next_addr: usize,
    backoff: BackoffState,
    budget: AttemptBudget,
    /// An open connection older than this resets the backoff.
    reset_after: u64,
    connect_at: Nanos,
    conn_opened: bool,
    opened_at: Nanos,
    max_messages: usize,
    clock: C,
    core: Core<C>,
}

impl<C: NanoClock + Clone + Send> std::fmt::Debug for GatewayAgent<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayAgent")
            .field("state", &self.session_state())
            .field("ws", &self.ws)
            .field("counters", &self.core.counters)
            .finish()
    }
}

impl<C: NanoClock + Clone + Send> GatewayAgent<C> {
    /// Builds the agent: validates `cfg`, maps each symbol to its id in
    /// `instruments`, loads the signing key, resolves the venue's host (may
    /// block on DNS: call at start-up, never from a duty cycle) and
    /// allocates every buffer and table.
    pub fn new(
        cfg: GatewayConfig,
        instruments: &InstrumentTable,
        orders: OrderConsumer,
        exec: ExecProducer,
        halt: Arc<HaltFlag>,
        clock: C,
    ) -> Result<GatewayAgent<C>, GatewayError> {
        cfg.validate()?;
        let ep = cfg.parsed_endpoint()?;
        let url = cfg.ws_url()?;
        let creds = cfg
            .credentials
            .as_ref()
            .ok_or_else(|| crate::error::ConfigError::new("credentials", "missing"))?;
        let signer = match &creds.auth {
            AuthSecret::Hmac(s) => Signer::Hmac(HmacSigner::new(s.expose())),
            AuthSecret::Ed25519(s) => {
                let k = s.expose();
                let r = if k.starts_with(b"-----BEGIN") {
                    std::str::from_utf8(k)
                        .map_err(|_| GatewayError::Key("PEM is not UTF-8".into()))
                        .and_then(|pem| {
                            Ed25519Signer::from_pkcs8_pem(pem)
                                .map_err(|e| GatewayError::Key(e.to_string()))
                        })
                } else {
                    Ed25519Signer::from_pkcs8_der(k).map_err(|e| GatewayError::Key(e.to_string()))
                };
                Signer::Ed25519(r?)
            }
        };
        let tls = if ep.tls {
            let bundled = cfg.endpoint.extra_root_der().is_none();
            let c = client_config(bundled, cfg.endpoint.extra_root_der())?;
            Some((c, server_name(&ep.host)?))
        } else {
            None
        };
        let addrs = resolve(&ep.host, ep.port)?;
        let first = *addrs
            .first()
            .ok_or_else(|| GatewayError::Transport(format!("`{}` resolved to nothing", ep.host)))?;

        let mut slots = Vec::with_capacity(cfg.symbols.len());
        let mut max_id = 0usize;
        for s in &cfg.symbols {
            let upper = s.to_ascii_uppercase();
            let id = instruments
                .id_of(&upper)
                .ok_or_else(|| GatewayError::UnknownSymbol(s.clone()))?;
            let spec = instruments
                .get(id)
                .ok_or_else(|| GatewayError::UnknownSymbol(s.clone()))?;
            max_id = max_id.max(id.index());
            slots.push(Slot {
                id,
                symbol: spec.symbol,
                base: spec.base_asset,
                quote: spec.quote_asset,
            });
        }
        let mut by_id = vec![None; max_id + 1];
        for (i, s) in slots.iter().enumerate() {
            by_id[s.id.index()] = Some(i);
        }
        let overflow = cfg.order_table_capacity
            + cfg.new_queue_capacity
            + cfg.max_messages_per_cycle
            + cfg.max_commands_per_cycle;
        let ws_cfg = WsConfig {
            read_buffer: cfg.read_buffer,
            max_message: cfg.max_message,
            write_buffer: cfg.write_buffer,
            ping_interval: cfg.ping_interval,
            dead_after: cfg.dead_after,
            connect_timeout: cfg.connect_timeout,
            max_reads_per_poll: 4,
            seed: cfg.seed,
        };
        let core = Core {
            clock: clock.clone(),
            s: Settings {
                recv_window_ms: cfg.recv_window_ms,
                ack_timeout_ns: nanos(cfg.ack_timeout),
                request_timeout_ns: nanos(cfg.request_timeout),
                session_id: cfg.session_id,
                time_samples: cfg.time_samples,
                max_commands: cfg.max_commands_per_cycle,
            },
            api_key: creds.api_key.clone(),
            signer,
            enc: RequestEncoder::new(ENCODER_CAPACITY),
            server_time: ServerTime::new(),
            // The venue's published limits until exchangeInfo tells.
            limiter: RateLimiter::binance_defaults(cfg.rate_limit)
                .map_err(|e| crate::error::ConfigError::new("rate_limit", e.to_string()))?,
            limiter_cfg: cfg.rate_limit,
            limits_seen: None,
            breaker: CircuitBreaker::new(cfg.breaker)
                .map_err(|e| crate::error::ConfigError::new("breaker", e.to_string()))?,
            table: OrderTable::new(cfg.order_table_capacity),
            pending: PendingTable::new(cfg.pending_capacity),
            next_id: 1,
            cancel_q: FixedQueue::new(cfg.cancel_queue_capacity, OrderCommand::ZERO),
            new_q: FixedQueue::new(cfg.new_queue_capacity, OrderCommand::ZERO),
            stash: None,
            deadlines: FixedQueue::new(
                cfg.order_table_capacity,
                (Nanos::ZERO, ClientOrderId::EMPTY),
            ),
            queries: FixedQueue::new(
                cfg.order_table_capacity,
                (
                    talon_core::instrument::InstrumentId(0),
                    ClientOrderId::EMPTY,
                ),
            ),
            orders,
            exec,
            overflow: FixedQueue::new(overflow, ExecReport::ZERO),
            halt,
            counters: Arc::new(GatewayCounters::new()),
            latency: Arc::new(GatewayLatency::new()),
            slots,
            by_id,
            phase: Phase::Down,
            in_flight: false,
            time_got: 0,
            open_left: 0,
            reconnect_requested: false,
            throttled: false,
            last_scan: Nanos::ZERO,
            breaker_opens_seen: 0,
        };
        Ok(GatewayAgent {
            ws: WsClient::new(ws_cfg),
            target: WsTarget {
                addr: first,
                url,
                tls,
            },
            addrs,
            next_addr: 0,
            backoff: BackoffState::new(cfg.reconnect, cfg.seed),
            budget: AttemptBudget::new(cfg.reconnect.max_attempts, cfg.reconnect.attempt_window),
            reset_after: nanos(cfg.reconnect.reset_after),
            connect_at: Nanos::ZERO,
            conn_opened: false,
            opened_at: Nanos::ZERO,
            max_messages: cfg.max_messages_per_cycle,
            clock,
            core,
        })
    }

    /// The shared counters (readable from any thread).
    pub fn counters(&self) -> Arc<GatewayCounters> {
        Arc::clone(&self.core.counters)
    }

    /// Per-order internal latency with its stage breakdown (readable from
    /// any thread; clone the `Arc` before the agent moves to its runner).
    /// Stamps are comparable only if the feed, engine and this gateway use
    /// clones of one clock.
    pub fn latency(&self) -> Arc<GatewayLatency> {
        Arc::clone(&self.core.latency)
    }

    /// What the connection is doing.
    pub fn session_state(&self) -> SessionState {
        match (self.core.phase, self.ws.state()) {
            (Phase::Down, WsState::Idle) => SessionState::Disconnected,
            (Phase::Down, _) => SessionState::Connecting,
            (p, _) => p.state(),
        }
    }

    /// Whether new orders are accepted now.
    pub fn is_ready(&self) -> bool {
        self.core.phase == Phase::Ready
    }

    /// The gateway's current view of an order (`None` once it is terminal
    /// and removed, or if it was never accepted).
    pub fn order_status(&self, id: &ClientOrderId) -> Option<OrderStatus> {
        self.core.t_status(id)
    }

    /// Orders in the table (awaiting an ack, open, or unknown).
    pub fn open_orders(&self) -> usize {
        self.core.table.len()
    }

    /// The circuit breaker's state.
    pub fn breaker_state(&self) -> BreakerState {
        self.core.breaker.state(self.clock.now())
    }

    /// The estimated server-minus-local clock offset, ms.
    pub fn server_time_offset_ms(&self) -> i64 {
        self.core.server_time.offset_ms()
    }

    /// Feeds a server-time sample taken outside the session (e.g. a REST
    /// `GET /api/v3/time`), with wall-clock send and receive times. The
    /// lowest-round-trip sample of the recent window sets the offset, so a
    /// tight external sample overrides the session's own until it ages out
    /// (tests use it to skew the clock and draw `-1021`).
    pub fn add_time_sample(&mut self, local_send: Nanos, local_recv: Nanos, server_ms: u64) {
        self.core
            .server_time
            .on_sample(local_send, local_recv, server_ms);
    }

    /// Exec reports held because the exec ring was full.
    pub fn held_reports(&self) -> usize {
        self.core.overflow.len()
    }

    fn connect(&mut self, now: Nanos) {
        let addr = self.addrs[self.next_addr % self.addrs.len()];
        self.next_addr = self.next_addr.wrapping_add(1);
        let mut target = self.target.clone();
        target.addr = addr;
        if let Err(e) = self.ws.connect(target, now) {
            self.connection_lost(e, now);
        }
    }

    /// The connection ended (or never opened): back off, requeue, resync
    /// later.
    fn connection_lost(&mut self, e: TransportError, now: Nanos) {
        let c = &self.core.counters;
        if !self.conn_opened {
            c.increment(GatewayCounter::ConnectFailures);
        }
        c.increment(GatewayCounter::Reconnects);
        let _ = e; // the reason shows in the counters' pattern
        let was_open = self.conn_opened;
        self.conn_opened = false;
        self.core.on_connection_lost(now, was_open);
        self.connect_at = self.backoff.next_attempt_at(now);
    }

    fn on_opened(&mut self, now: Nanos) {
        self.core.counters.increment(GatewayCounter::Connects);
        self.conn_opened = true;
        self.opened_at = now;
        self.core.on_opened();
    }

    /// Resets the backoff once the open connection has lasted
    /// `reconnect.reset_after_ms`.
    fn check_healthy(&mut self, now: Nanos) {
        if self.conn_opened
            && self.backoff.failures() > 0
            && now.saturating_elapsed_since(self.opened_at) >= self.reset_after
        {
            self.backoff.reset();
        }
    }
}

impl<C: NanoClock + Clone + Send> Agent for GatewayAgent<C> {
    fn on_start(&mut self) -> Result<(), AgentError> {
        self.connect_at = self.clock.now();
        Ok(())
    }

    fn do_work(&mut self) -> Result<usize, AgentError> {
        if self.core.exec.is_abandoned() || self.core.orders.is_abandoned() {
            return Err(AgentError::PeerGone);
        }
        let now = self.clock.now();
        let mut work = self.core.flush_overflow();
        if !self.core.overflow.is_empty() {
            // Backpressure: nothing new until the engine drains the ring.
            return Ok(work);
        }
        if self.core.reconnect_requested {
            self.ws.close();
            self.connection_lost(TransportError::Closed, now);
            work += 1;
        }
        if self.ws.state() == WsState::Idle {
            if now >= self.connect_at {
                match self.budget.try_attempt(now) {
                    Ok(()) => self.connect(now),
                    Err(at) => self.connect_at = at,
                }
                work += 1;
            }
        } else {
            let clock = self.clock.clone();
            let core = &mut self.core;
            match self
                .ws
                .poll(&clock, self.max_messages, |m, recv| core.on_frame(m, recv))
            {
                Ok(p) => {
                    self.core
                        .counters
                        .add(GatewayCounter::Bytes, p.bytes as u64);
                    if p.opened {
                        self.on_opened(now);
                    }
                    self.check_healthy(now);
                    work += p.work();
                }
                Err(e) => {
                    self.connection_lost(e, now);
                    work += 1;
                }
            }
        }
        work += self.core.take_commands(now);
        if self.ws.state() == WsState::Open && !self.core.reconnect_requested {
            work += self.core.drive_session(&mut self.ws, now);
            work += self.core.pump(&mut self.ws, now);
        }
        work += self.core.check_ack_deadlines(now);
        work += self.core.check_request_timeouts(now);
        Ok(work)
    }

    fn on_close(&mut self) {
        self.ws.close();
    }

    fn role_name(&self) -> &'static str {
        "gateway"
    }
}
