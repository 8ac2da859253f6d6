//! The feed agent: venue WebSocket → decoder → books → md ring.
//!
//! Owns [`FeedAgent`] (implements [`talon_core::agent::Agent`]): one combined
//! stream connection for all configured symbols ([`WsClient`]), the REST
//! snapshot client ([`HttpGet`]), one [`BookSync`] per symbol (when a depth
//! stream is configured), the [`Conflator`] in front of the md ring, the
//! [`StaleDetector`] and the shared [`FeedCounters`].
//!
//! One duty cycle ([`FeedAgent::do_work`]), bounded:
//! 1. flush conflated events the ring refused earlier;
//! 2. connect (after the backoff delay) or advance the connection; at most
//!    `max_messages_per_cycle` messages are decoded and routed:
//!    * `bookTicker` → `TopOfBook`, `trade`/`aggTrade` → `Trade`, through the
//!      conflator (latest wins per instrument for top of book when the ring
//!      is full; a refused trade is counted in `trades_dropped`);
//!    * `depthUpdate` → [`BookSync::on_diff`]; applied levels go to the ring
//!      as `DepthLevel` events; a refused level forces a counted resync of
//!      that book (never a silent drop); a gap queues a snapshot fetch;
//!    * decode failures are counted by reason and skipped;
//! 3. advance the snapshot request, if any (one at a time, FIFO over books,
//!    within the REST weight budget `snapshot_weight_per_min`: each request
//!    costs the venue's weight for `snapshot_limit`, and a request over
//!    budget waits, counted in `snapshots_throttled`, however often books
//!    resync);
//! 4. report health transitions as `Stale`/`Fresh` events (below).
//!
//! ## Instrument health (what `Stale` / `Fresh` mean)
//! An instrument is *unhealthy* when it is time-stale (no update for
//! `stale_after`, or its connection dropped: [`StaleDetector`]) **or**, when
//! a depth stream is configured, its [`BookSync`] is not
//! [`SyncState::Synced`](crate::book::SyncState::Synced) (awaiting or
//! bridging a snapshot after start, a gap, a forced resync or a reconnect)
//! or its book is crossed. The feed keeps one reported-health flag per
//! configured instrument, starting healthy (nothing reported), and each duty
//! cycle compares it with the current health: `MarketData::Stale` is sent
//! when an instrument becomes unhealthy and `MarketData::Fresh` when it is
//! healthy again, exactly once per transition (the detector's own
//! transitions only feed the time-stale part, so nothing is reported
//! twice). So an engine sees `Stale` before the first data of a book that is
//! not yet synced, and must not trade an instrument between `Stale` and the
//! next `Fresh`. The scan is O(configured instruments) per cycle (≤ 1024,
//! plain flags, no allocation).
//!
//! A failed or closed connection marks every instrument stale, schedules a
//! reconnect with exponential backoff and jitter, and on reopening every
//! book is resynced (its diff stream restarted). The backoff is reset only
//! once a connection has stayed open for `reconnect.reset_after_ms`
//! (checked each duty cycle), so a venue that accepts and at once drops
//! every connection sees growing delays; and every attempt must fit the
//! attempt budget (`reconnect.max_attempts` per
//! `reconnect.attempt_window_ms`, below the venue's 300 per 5 minutes per
//! IP): an attempt over budget is postponed and counted in
//! `connects_throttled`. Stamps: `recv` = the socket
//! read that completed the message returned, `decode` = the message was
//! decoded.
//!
//! What it never does in a duty cycle: block (DNS is resolved in
//! [`FeedAgent::new`]; connects, handshakes and requests are non-blocking
//! state machines), lock, or allocate on the `ws://` data path. Allocation
//! happens per connection (handshake) and on `wss://`/`https://` inside
//! rustls (see [`crate::tls`]).

use std::net::SocketAddr;
use std::sync::Arc;

use talon_core::agent::{Agent, AgentError};
use talon_core::clock::{MonotonicClock, NanoClock, Nanos};
use talon_core::event::{MarketData, MarketEvent, Stamps};
use talon_core::instrument::{InstrumentId, InstrumentTable, Symbol};
use talon_core::ring::MdProducer;

use crate::backoff::{AttemptBudget, BackoffState};
use crate::book::{BookSync, BufferCapacity, SyncAction, SyncCounters};
use crate::config::FeedConfig;
use crate::conflate::{ConflateCounters, Conflator, Delivery, Refused};
use crate::counters::{FeedCounter, FeedCounters};
use crate::decode::{ControlReply, DecodeError, Decoded, decode, decode_snapshot};
use crate::error::{FeedError, TransportError};
use crate::http::{HttpGet, HttpPoll, HttpTarget};
use crate::net::resolve;
use crate::stale::{StaleCounters, StaleDetector, Transition};
use crate::tls::{client_config, server_name};
use crate::ws::{WsClient, WsConfig, WsState, WsTarget};

/// One configured symbol.
struct Slot {
    id: InstrumentId,
    symbol: Symbol,
    sync: Option<BookSync>,
    /// Last counters mirrored into [`FeedCounters`].
    seen: SyncCounters,
    snapshot_path: String,
}

/// Everything a message touches (split from the socket so the socket's
/// callback can borrow it).
struct Router {
    clock: MonotonicClock,
    slots: Vec<Slot>,
    /// (symbol bytes, slot index), sorted by symbol.
    lookup: Vec<(Symbol, usize)>,
    /// Slot index by instrument id.
    by_id: Vec<Option<usize>>,
    md: MdProducer,
    conflator: Conflator,
    stale: StaleDetector,
    counters: Arc<FeedCounters>,
    /// FIFO of slots waiting for a snapshot (each at most once).
    fetch_queue: Vec<usize>,
    fetch_head: usize,
    fetch_len: usize,
    queued: Vec<bool>,
    /// The venue announced a shutdown: reconnect.
    reconnect_requested: bool,
    /// Per slot: the stale detector last reported it stale. The detector
    /// tracks slots, not instrument ids (key [`slot_key`]): only configured
    /// instruments are tracked, forced stale or reported.
    time_stale: Vec<bool>,
    /// Per slot: the health last reported to the engine (true = healthy,
    /// the initial assumption).
    reported_healthy: Vec<bool>,
}

/// The market-data feed agent (see the module docs).
pub struct FeedAgent {
    ws: WsClient,
    ws_target: WsTarget,
    ws_addrs: Vec<SocketAddr>,
    next_addr: usize,
    http: HttpGet,
    http_retry_at: Nanos,
    http_backoff: BackoffState,
    /// Snapshot requests per minute the REST weight budget allows.
    snapshot_budget: AttemptBudget,
    fetching: Option<usize>,
    backoff: BackoffState,
    /// Caps connection attempts per sliding window.
    budget: AttemptBudget,
    /// An open connection older than this resets the backoff.
    reset_after: u64,
    connect_at: Nanos,
    ever_opened: bool,
    conn_opened: bool,
    /// When the current connection opened.
    opened_at: Nanos,
    max_messages: usize,
    r: Router,
}

impl std::fmt::Debug for FeedAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedAgent")
            .field("ws", &self.ws)
            .field("symbols", &self.r.slots.len())
            .field("counters", &self.r.counters)
            .finish()
    }
}

impl FeedAgent {
    /// Builds the agent: validates `cfg`, maps each symbol to its id in
    /// `instruments`, resolves the venue's hosts (may block on DNS: call at
    /// start-up, never from a duty cycle) and allocates every buffer.
    pub fn new(
        cfg: FeedConfig,
        instruments: &InstrumentTable,
        md: MdProducer,
        clock: MonotonicClock,
    ) -> Result<FeedAgent, FeedError> {
        cfg.validate()?;
        let ws_ep = cfg.ws_endpoint()?;
        let http_ep = cfg.http_endpoint()?;
        let tls = if ws_ep.tls || http_ep.tls {
            let bundled = !matches!(cfg.venue, crate::config::Venue::Sim { .. })
                || cfg.venue.extra_root_der().is_none();
            Some(client_config(bundled, cfg.venue.extra_root_der())?)
        } else {
            None
        };
        let ws_addrs = resolve(&ws_ep.host, ws_ep.port)?;
        let http_addrs = resolve(&http_ep.host, http_ep.port)?;
        let ws_tls = match (&tls, ws_ep.tls) {
            (Some(t), true) => Some((Arc::clone(t), server_name(&ws_ep.host)?)),
            _ => None,
        };
        let http_tls = match (&tls, http_ep.tls) {
            (Some(t), true) => Some((Arc::clone(t), server_name(&http_ep.host)?)),
            _ => None,
        };
        let ws_target = WsTarget {
            addr: ws_addrs[0],
            url: cfg.ws_url()?,
            tls: ws_tls,
        };
        let http_host = if http_ep.port == if http_ep.tls { 443 } else { 80 } {
            http_ep.host.clone()
        } else {
            http_ep.authority()
        };
        let http = HttpGet::new(
            HttpTarget {
                addr: http_addrs[0],
                host: http_host,
                tls: http_tls,
            },
            cfg.http_buffer,
            cfg.snapshot_timeout,
        );

        let mut slots = Vec::with_capacity(cfg.symbols.len());
        let mut max_id = 0usize;
        for s in &cfg.symbols {
            let upper = s.to_ascii_uppercase();
            let id = instruments
                .id_of(&upper)
                .ok_or_else(|| FeedError::UnknownSymbol(s.clone()))?;
            let symbol = Symbol::new(&upper).map_err(|_| FeedError::UnknownSymbol(s.clone()))?;
            max_id = max_id.max(id.index());
            slots.push(Slot {
                id,
                symbol,
                sync: cfg.streams.depth.map(|_| {
                    BookSync::new(
                        cfg.book_levels,
                        BufferCapacity {
                            diffs: cfg.diff_buffer,
                            levels: cfg.diff_buffer.saturating_mul(64),
                        },
                    )
                }),
                seen: SyncCounters::default(),
                snapshot_path: cfg.snapshot_path(&upper)?,
            });
        }
        let mut lookup: Vec<(Symbol, usize)> = slots
            .iter()
            .enumerate()
            .map(|(i, s)| (s.symbol, i))
            .collect();
        lookup.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut by_id = vec![None; max_id + 1];
        for (i, s) in slots.iter().enumerate() {
            by_id[s.id.index()] = Some(i);
        }
        let n = slots.len();
        let now = clock.now();
        let ws_cfg = WsConfig {
            read_buffer: cfg.read_buffer,
            max_message: cfg.max_message,
            write_buffer: 16 << 10,
            ping_interval: cfg.ping_interval,
            dead_after: cfg.dead_after,
            connect_timeout: cfg.connect_timeout,
            max_reads_per_poll: 4,
            seed: cfg.seed,
        };
        Ok(FeedAgent {
            ws: WsClient::new(ws_cfg),
            ws_target,
            ws_addrs,
            next_addr: 0,
            http,
            http_retry_at: Nanos::ZERO,
            http_backoff: BackoffState::new(cfg.reconnect, cfg.seed ^ 0x5eed),
            snapshot_budget: AttemptBudget::new(
                cfg.snapshot_weight_per_min / crate::config::snapshot_weight(cfg.snapshot_limit),
                std::time::Duration::from_secs(60),
            ),
            fetching: None,
            backoff: BackoffState::new(cfg.reconnect, cfg.seed),
            budget: AttemptBudget::new(cfg.reconnect.max_attempts, cfg.reconnect.attempt_window),
            reset_after: crate::ws::duration_nanos(cfg.reconnect.reset_after),
            connect_at: Nanos::ZERO,
            ever_opened: false,
            conn_opened: false,
            opened_at: Nanos::ZERO,
            max_messages: cfg.max_messages_per_cycle,
            r: Router {
                clock,
                slots,
                lookup,
                by_id,
                md,
                conflator: Conflator::new(max_id + 1),
                stale: StaleDetector::new(n, cfg.stale_after, now),
                counters: Arc::new(FeedCounters::new(DecodeError::COUNT)),
                fetch_queue: vec![0; n],
                fetch_head: 0,
                fetch_len: 0,
                queued: vec![false; n],
                reconnect_requested: false,
                time_stale: vec![false; n],
                reported_healthy: vec![true; n],
            },
        })
    }

    /// The shared counters (readable from any thread).
    pub fn counters(&self) -> Arc<FeedCounters> {
        Arc::clone(&self.r.counters)
    }

    /// The book of `id`, if it is configured with a depth stream.
    pub fn book(&self, id: InstrumentId) -> Option<&BookSync> {
        let i = (*self.r.by_id.get(id.index())?)?;
        self.r.slots.get(i)?.sync.as_ref()
    }

    /// Every configured instrument with its book (if any).
    pub fn books(&self) -> impl Iterator<Item = (InstrumentId, Option<&BookSync>)> + '_ {
        self.r.slots.iter().map(|s| (s.id, s.sync.as_ref()))
    }

    /// The market-data connection's phase.
    pub fn ws_state(&self) -> WsState {
        self.ws.state()
    }

    /// The conflator's counters.
    pub fn conflate_counters(&self) -> ConflateCounters {
        self.r.conflator.counters()
    }

    /// The stale detector's counters.
    pub fn stale_counters(&self) -> StaleCounters {
        self.r.stale.counters()
    }

    /// Whether `id` is currently time-stale (no update for `stale_after`, or
    /// its connection dropped).
    pub fn is_stale(&self, id: InstrumentId) -> bool {
        match self.r.by_id.get(id.index()) {
            Some(Some(i)) => self.r.stale.is_stale(slot_key(*i)),
            _ => false,
        }
    }

    /// The health last reported to the engine for `id` (see the module
    /// docs): `false` after a `Stale` event until the next `Fresh`; `false`
    /// for an instrument the feed does not subscribe to.
    pub fn is_healthy(&self, id: InstrumentId) -> bool {
        match self.r.by_id.get(id.index()) {
            Some(Some(i)) => self.r.reported_healthy[*i],
            _ => false,
        }
    }

    fn connect(&mut self, now: Nanos) {
        let addr = self.ws_addrs[self.next_addr % self.ws_addrs.len()];
        self.next_addr = self.next_addr.wrapping_add(1);
        let mut target = self.ws_target.clone();
        target.addr = addr;
        if let Err(e) = self.ws.connect(target, now) {
            self.connection_lost(e, now);
        }
    }

    /// The connection ended (or never opened): stale everything, back off.
    fn connection_lost(&mut self, e: TransportError, now: Nanos) {
        let c = &self.r.counters;
        if !self.conn_opened {
            c.increment(FeedCounter::ConnectFailures);
        }
        self.conn_opened = false;
        let _ = e; // the reason is visible in the counters' pattern; kept for logging hooks
        c.increment(FeedCounter::Reconnects);
        self.r.stale.force_all_stale();
        self.connect_at = self.backoff.next_attempt_at(now);
    }

    /// The connection (re)opened: every book restarts its procedure. The
    /// backoff is not reset here (see [`FeedAgent::check_healthy`]).
    fn on_opened(&mut self, now: Nanos) {
        self.r.counters.increment(FeedCounter::Connects);
        self.conn_opened = true;
        self.opened_at = now;
        if self.ever_opened {
            self.http.cancel();
            self.fetching = None;
            self.r.fetch_len = 0;
            self.r.queued.iter_mut().for_each(|q| *q = false);
            for i in 0..self.r.slots.len() {
                if let Some(sync) = self.r.slots[i].sync.as_mut() {
                    sync.reset();
                    self.r.mirror_sync_counters(i);
                }
            }
        }
        self.ever_opened = true;
    }

    /// Resets the backoff once the open connection has lasted
    /// `reconnect.reset_after_ms`: only a connection that proved healthy
    /// earns a fast reconnect.
    fn check_healthy(&mut self, now: Nanos) {
        if self.conn_opened
            && self.backoff.failures() > 0
            && now.saturating_elapsed_since(self.opened_at) >= self.reset_after
        {
            self.backoff.reset();
        }
    }

    /// Advances the snapshot request; starts the next one when idle.
    fn poll_snapshots(&mut self, now: Nanos) -> usize {
        let mut work = 0;
        if let Some(slot) = self.fetching {
            match self.http.poll(now) {
                Ok(HttpPoll::Pending) => return 0,
                Ok(HttpPoll::Done) => {
                    work += 1;
                    self.fetching = None;
                    let action = if self.http.status() == 200 {
                        self.r.on_snapshot_body(slot, self.http.body())
                    } else {
                        None
                    };
                    match action {
                        None => self.snapshot_failed(slot, now),
                        // Refused as too old (or invalid): it is queued again;
                        // back off so a lagging REST mirror is not hammered.
                        Some(SyncAction::FetchSnapshot(_)) => {
                            self.http_retry_at = self.http_backoff.next_attempt_at(now);
                        }
                        Some(_) => self.http_backoff.reset(),
                    }
                }
                Ok(HttpPoll::Idle) | Err(_) => {
                    work += 1;
                    self.fetching = None;
                    self.snapshot_failed(slot, now);
                }
            }
        }
        if self.fetching.is_none()
            && now >= self.http_retry_at
            && self.ws.state() == WsState::Open
            && self.r.fetch_len > 0
        {
            if let Err(at) = self.snapshot_budget.try_attempt(now) {
                self.r.counters.increment(FeedCounter::SnapshotsThrottled);
                self.http_retry_at = at;
                return work + 1;
            }
            let Some(slot) = self.r.pop_fetch() else {
                return work;
            };
            match self.http.start(&self.r.slots[slot].snapshot_path, now) {
                Ok(()) => {
                    self.fetching = Some(slot);
                    work += 1;
                }
                Err(_) => self.snapshot_failed(slot, now),
            }
        }
        work
    }

    fn snapshot_failed(&mut self, slot: usize, now: Nanos) {
        self.r.counters.increment(FeedCounter::SnapshotFailures);
        self.http_retry_at = self.http_backoff.next_attempt_at(now);
        if let Some(sync) = self.r.slots[slot].sync.as_mut() {
            sync.on_snapshot_failed();
            if sync.take_fetch_request().is_some() {
                self.r.push_fetch(slot);
            }
        }
    }
}

/// The [`StaleDetector`] key of slot `i` (slots are ≤ 1024, validated by
/// the config's stream limit, so the key always fits).
fn slot_key(i: usize) -> InstrumentId {
    InstrumentId(u16::try_from(i).unwrap_or(u16::MAX))
}

impl Router {
    /// The slot and instrument of a message's `symbol`, marking the slot
    /// updated at `recv`; an unconfigured symbol is counted and `None`.
    fn route(&mut self, symbol: &[u8], recv: Nanos) -> Option<(usize, InstrumentId)> {
        let Some(slot) = self.slot_of(symbol) else {
            self.counters.increment(FeedCounter::UnknownSymbol);
            return None;
        };
        self.stale.on_update(slot_key(slot), recv);
        Some((slot, self.slots[slot].id))
    }

    fn slot_of(&self, symbol: &[u8]) -> Option<usize> {
        self.lookup
            .binary_search_by(|(s, _)| s.as_bytes().cmp(symbol))
            .ok()
            .map(|i| self.lookup[i].1)
    }

    fn push_fetch(&mut self, slot: usize) {
        if self.queued[slot] || self.fetch_len == self.fetch_queue.len() {
            return;
        }
        let n = self.fetch_queue.len();
        self.fetch_queue[(self.fetch_head + self.fetch_len) % n] = slot;
        self.fetch_len += 1;
        self.queued[slot] = true;
    }

    fn pop_fetch(&mut self) -> Option<usize> {
        if self.fetch_len == 0 {
            return None;
        }
        let slot = self.fetch_queue[self.fetch_head];
        self.fetch_head = (self.fetch_head + 1) % self.fetch_queue.len();
        self.fetch_len -= 1;
        self.queued[slot] = false;
        Some(slot)
    }

    /// Copies the deltas of a book's counters into the shared counters.
    fn mirror_sync_counters(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        let Some(sync) = s.sync.as_ref() else { return };
        let now = sync.counters();
        let c = &self.counters;
        c.add(FeedCounter::Resyncs, now.resyncs - s.seen.resyncs);
        c.add(FeedCounter::Gaps, now.gaps - s.seen.gaps);
        c.add(
            FeedCounter::Snapshots,
            now.snapshots_loaded - s.seen.snapshots_loaded,
        );
        s.seen = now;
    }

    /// Acts on a book's answer: a wanted snapshot is queued (and the
    /// book's resync/gap counts, which only move then, are mirrored).
    fn act(&mut self, slot: usize, action: SyncAction) {
        if let SyncAction::FetchSnapshot(_) = action {
            self.push_fetch(slot);
            self.mirror_sync_counters(slot);
        }
    }

    /// Hands a snapshot body to its book; `None` if it did not decode.
    fn on_snapshot_body(&mut self, slot: usize, body: &[u8]) -> Option<SyncAction> {
        let snap = match decode_snapshot(body) {
            Ok(s) => s,
            Err(e) => {
                self.counters.decode_error(e.index());
                return None;
            }
        };
        let sync = self.slots[slot].sync.as_mut()?;
        let action = sync.on_snapshot(snap.last_update_id, snap.bids, snap.asks);
        self.mirror_sync_counters(slot);
        self.act(slot, action);
        Some(action)
    }

    fn deliver(&mut self, ev: MarketEvent) {
        let c = &self.counters;
        match self.conflator.push(&mut self.md, ev) {
            Ok(Delivery::Pushed) => c.increment(FeedCounter::EventsPushed),
            Ok(Delivery::Held) => {}
            Ok(Delivery::Conflated) => c.increment(FeedCounter::Conflated),
            Err(Refused::TradeDropped(_)) => c.increment(FeedCounter::TradesDropped),
            Err(Refused::ForcedResync(_) | Refused::UnknownInstrument(_)) => {}
        }
    }

    /// Routes one WebSocket message.
    fn on_message(&mut self, bytes: &[u8], recv: Nanos) {
        // Counters are reached through `self.counters` (a borrow of the
        // Arc's contents), never cloned per message.
        self.counters.increment(FeedCounter::Messages);
        let env = match decode(bytes) {
            Ok(env) => env,
            Err(e) => {
                self.counters.decode_error(e.index());
                return;
            }
        };
        let stamps = Stamps {
            recv,
            decode: self.clock.now(),
        };
        match env.message {
            Decoded::BookTicker(t) => {
                self.counters.increment(FeedCounter::BookTickers);
                if let Some((_, id)) = self.route(t.symbol, recv) {
                    self.deliver(t.to_event(id, stamps));
                }
            }
            Decoded::Trade(t) => {
                self.counters.increment(FeedCounter::Trades);
                if let Some((_, id)) = self.route(t.symbol, recv) {
                    self.deliver(t.to_event(id, stamps));
                }
            }
            Decoded::AggTrade(t) => {
                self.counters.increment(FeedCounter::Trades);
                if let Some((_, id)) = self.route(t.symbol, recv) {
                    self.deliver(t.to_event(id, stamps));
                }
            }
            Decoded::DepthUpdate(d) => {
                self.counters.increment(FeedCounter::DepthUpdates);
                let Some((slot, id)) = self.route(d.symbol, recv) else {
                    return;
                };
                let Some(sync) = self.slots[slot].sync.as_mut() else {
                    return;
                };
                let action = sync.on_diff(d.first_update_id, d.last_update_id, d.bids, d.asks);
                if action == SyncAction::Applied {
                    for ev in d.events(id, stamps) {
                        match self.conflator.push_depth(&mut self.md, ev) {
                            Ok(()) => self.counters.increment(FeedCounter::EventsPushed),
                            Err(_) => {
                                // The engine missed a level: its view of this
                                // book is void. Resync (counted), never drop
                                // silently.
                                self.counters.increment(FeedCounter::ForcedResyncs);
                                if let Some(sync) = self.slots[slot].sync.as_mut() {
                                    sync.reset();
                                    if sync.take_fetch_request().is_some() {
                                        self.push_fetch(slot);
                                    }
                                }
                                self.mirror_sync_counters(slot);
                                break;
                            }
                        }
                    }
                } else {
                    self.act(slot, action);
                }
            }
            Decoded::DepthSnapshot(_) => self.counters.increment(FeedCounter::ControlMessages),
            Decoded::Control(reply) => {
                self.counters.increment(FeedCounter::ControlMessages);
                if let ControlReply::ServerShutdown { .. } = reply {
                    self.reconnect_requested = true;
                }
            }
        }
    }

    /// Folds the stale detector's transitions into the per-slot time-stale
    /// flags, then reports every change of health (see the module docs) as
    /// one `Stale` / `Fresh` event.
    fn poll_health(&mut self, now: Nanos) -> usize {
        let Router {
            stale,
            slots,
            conflator,
            md,
            counters,
            clock,
            time_stale,
            reported_healthy,
            ..
        } = self;
        stale.poll(now, |key, t| {
            if let Some(ts) = time_stale.get_mut(key.index()) {
                *ts = t == Transition::Stale;
            }
        });
        let mut reported = 0;
        for (i, slot) in slots.iter_mut().enumerate() {
            let healthy = match slot.sync.as_mut() {
                Some(sync) => {
                    sync.set_stale(time_stale[i]);
                    sync.health().is_tradeable()
                }
                None => !time_stale[i],
            };
            if healthy == reported_healthy[i] {
                continue;
            }
            reported_healthy[i] = healthy;
            reported += 1;
            let (data, counter) = if healthy {
                (MarketData::Fresh, FeedCounter::FreshMarks)
            } else {
                (MarketData::Stale, FeedCounter::StaleMarks)
            };
            counters.increment(counter);
            let stamps = Stamps {
                recv: now,
                decode: clock.now(),
            };
            match conflator.push(md, MarketEvent::new(slot.id, data, stamps)) {
                Ok(Delivery::Pushed) => counters.increment(FeedCounter::EventsPushed),
                Ok(Delivery::Conflated) => counters.increment(FeedCounter::Conflated),
                Ok(Delivery::Held) | Err(_) => {}
            }
        }
        reported
    }
}

impl Agent for FeedAgent {
    fn on_start(&mut self) -> Result<(), AgentError> {
        let now = self.r.clock.now();
        self.connect_at = now;
        Ok(())
    }

    fn do_work(&mut self) -> Result<usize, AgentError> {
        if self.r.md.is_abandoned() {
            return Err(AgentError::PeerGone);
        }
        let now = self.r.clock.now();
        let mut work = self.r.conflator.flush(&mut self.r.md);
        if self.r.reconnect_requested {
            self.r.reconnect_requested = false;
            self.ws.close();
            self.connection_lost(TransportError::Closed, now);
        }
        if self.ws.state() == WsState::Idle {
            if now >= self.connect_at {
                match self.budget.try_attempt(now) {
                    Ok(()) => self.connect(now),
                    Err(at) => {
                        self.r.counters.increment(FeedCounter::ConnectsThrottled);
                        self.connect_at = at;
                    }
                }
                work += 1;
            }
        } else {
            let clock = self.r.clock;
            let r = &mut self.r;
            match self
                .ws
                .poll(&clock, self.max_messages, |m, recv| r.on_message(m, recv))
            {
                Ok(p) => {
                    self.r.counters.add(FeedCounter::Bytes, p.bytes as u64);
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
        work += self.poll_snapshots(now);
        work += self.r.poll_health(now);
        Ok(work)
    }

    fn on_close(&mut self) {
        self.ws.close();
        self.http.cancel();
    }

    fn role_name(&self) -> &'static str {
        "feed"
    }
}
