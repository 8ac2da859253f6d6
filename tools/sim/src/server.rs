//! The running simulator: the listener and acceptor thread, the market
//! source thread (generator paced by `rate`, or tape replay), pause/step
//! control, and [`SimHandle`] / [`Simulator`].
//!
//! This module owns thread lifecycles and the state shared by every
//! connection ([`Shared`]). Pacing lives here: the generator is asked for
//! "messages up to now × rate" and sleeps in between; the message sequence
//! itself is decided by `market` alone. It never formats a message and
//! never parses a request.

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::ServerConfig;

use crate::bus::{Batch, Bus};
use crate::config::OrderFaults;
use crate::config::SimConfig;
use crate::exchange::{AccountId, Balance, OrderView};
use crate::http::now_ms;
use crate::market::{BookView, Market};
use crate::marks::{Marks, MarksReport};
use crate::orderapi::limits::RateLimitStats;
use crate::orderapi::{OrderApi, ReceivedOrder};
use crate::replay::{Tape, TapeItem};
use crate::stats::{Counters, SimStats, add, inc};
use crate::streams::Registry;
use crate::{SimError, conn, tls};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoning means some thread panicked while holding the lock; the
    // protected data is plain state that stays usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Steps per published batch, at most.
const MAX_STEPS_PER_BATCH: u64 = 4096;

/// Generator control (pause, single steps, stop).
#[derive(Debug, Default)]
struct CtlState {
    paused: bool,
    /// The source thread is parked (nothing in flight).
    parked: bool,
    step_req: u64,
    steps_done: u64,
    stop: bool,
}

/// State shared by the acceptor, the source and every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) cfg: SimConfig,
    pub(crate) reg: Registry,
    pub(crate) bus: Bus,
    /// The generated market (`None` in replay mode).
    pub(crate) market: Option<Mutex<Market>>,
    /// Replay mode: the current REST depth body per symbol.
    pub(crate) tape_snapshots: Mutex<HashMap<String, Vec<u8>>>,
    pub(crate) stats: Counters,
    pub(crate) tls: Option<Arc<ServerConfig>>,
    /// The order side: exchange, rate limits, faults, user data.
    pub(crate) api: OrderApi,
    /// Marked ticks and the wire-to-wire histogram.
    pub(crate) marks: Marks,
    stop: AtomicBool,
    drops_done: AtomicU64,
    ctl: Mutex<CtlState>,
    ctl_cv: Condvar,
    /// Open sockets, to shut them down on stop.
    sockets: Mutex<HashMap<u64, TcpStream>>,
}

impl Shared {
    /// True once `stop` was requested.
    pub(crate) fn stopping(&self) -> bool {
        // Relaxed: a flag polled in loops; the bus close and socket shutdowns
        // done by `stop` carry the wake-ups.
        self.stop.load(Ordering::Relaxed)
    }

    /// Consumes one allowed fault drop (`drop_limit`); false when used up.
    pub(crate) fn take_drop(&self) -> bool {
        match self.cfg.faults.drop_limit {
            None => true,
            // Relaxed: a counter; the CAS makes the limit exact.
            Some(limit) => self
                .drops_done
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                    (d < limit).then_some(d + 1)
                })
                .is_ok(),
        }
    }

    /// Charges request weight in the current minute (the venue's
    /// REQUEST_WEIGHT limit, shared by REST and the WebSocket API): the
    /// minute's total (the `X-MBX-USED-WEIGHT-1M` header), or the 429/418.
    pub(crate) fn charge_weight(&self, w: u64) -> Result<u64, crate::orderapi::ApiErr> {
        self.api.limiter.charge(w, now_ms())
    }
}

/// Starts simulators.
#[derive(Debug)]
pub struct Simulator;

/// A running simulator. Dropping it stops it like [`SimHandle::stop`].
#[derive(Debug)]
pub struct SimHandle {
    sh: Arc<Shared>,
    addr: SocketAddr,
    cert_der: Option<Vec<u8>>,
    cert_pem: Option<String>,
    acceptor: Option<JoinHandle<()>>,
    source: Option<JoinHandle<()>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Simulator {
    /// Binds the listener, generates the certificate (with `tls`), builds
    /// the market (or loads the tape) and starts the threads.
    pub fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        cfg.validate()?;
        let tape = match &cfg.replay {
            Some(p) => Some(Tape::load(p)?),
            None => None,
        };
        let tls = if cfg.tls { Some(tls::setup()?) } else { None };
        if let (Some(t), Some(path)) = (&tls, &cfg.cert_out) {
            std::fs::write(path, &t.cert_pem)?;
        }
        let listener = TcpListener::bind(cfg.listen)?;
        let addr = listener.local_addr()?;
        let start_ms = cfg.start_time_ms.unwrap_or_else(now_ms);
        let (reg, market, snaps) = match &tape {
            Some(t) => (
                Registry::for_names(t.stream_names()),
                None,
                t.first_snapshots(),
            ),
            None => {
                let prefixes: Vec<String> = cfg.symbols.iter().map(|s| s.stream_prefix()).collect();
                let m = Market::new(
                    &cfg.symbols,
                    cfg.seed,
                    cfg.rate,
                    start_ms,
                    cfg.book_levels,
                    cfg.depth_interval_ms,
                );
                (
                    Registry::for_symbols(&prefixes),
                    Some(Mutex::new(m)),
                    HashMap::new(),
                )
            }
        };
        let sh = Arc::new(Shared {
            bus: Bus::new(cfg.max_lag_bytes.max(1 << 16)),
            reg,
            market,
            tape_snapshots: Mutex::new(snaps),
            stats: Counters::default(),
            tls: tls.as_ref().map(|t| t.config.clone()),
            api: OrderApi::new(&cfg),
            marks: Marks::new(cfg.mark_every),
            stop: AtomicBool::new(false),
            drops_done: AtomicU64::new(0),
            ctl: Mutex::new(CtlState {
                paused: cfg.start_paused,
                ..CtlState::default()
            }),
            ctl_cv: Condvar::new(),
            sockets: Mutex::new(HashMap::new()),
            cfg,
        });
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::new(Mutex::new(Vec::new()));
        let source = {
            let sh = sh.clone();
            std::thread::Builder::new()
                .name("sim-source".into())
                .spawn(move || match tape {
                    Some(t) => run_replay(&sh, t),
                    None => run_generator(&sh),
                })?
        };
        let acceptor = {
            let sh = sh.clone();
            let conns = conns.clone();
            std::thread::Builder::new()
                .name("sim-accept".into())
                .spawn(move || accept_loop(&sh, listener, &conns))?
        };
        Ok(SimHandle {
            sh,
            addr,
            cert_der: tls.as_ref().map(|t| t.cert_der.clone()),
            cert_pem: tls.map(|t| t.cert_pem),
            acceptor: Some(acceptor),
            source: Some(source),
            conns,
        })
    }
}

fn accept_loop(sh: &Arc<Shared>, listener: TcpListener, conns: &Mutex<Vec<JoinHandle<()>>>) {
    let mut next_id: u64 = 0;
    for stream in listener.incoming() {
        if sh.stopping() {
            break;
        }
        let Ok(tcp) = stream else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        next_id += 1;
        let id = next_id;
        if let Ok(clone) = tcp.try_clone() {
            lock(&sh.sockets).insert(id, clone);
        }
        let sh2 = sh.clone();
        let spawned = std::thread::Builder::new()
            .name("sim-conn".into())
            .spawn(move || {
                conn::serve(sh2.clone(), tcp);
                lock(&sh2.sockets).remove(&id);
            });
        let mut c = lock(conns);
        c.retain(|h| !h.is_finished());
        if let Ok(h) = spawned {
            c.push(h);
        }
    }
}

/// Waits while paused, serving `step` requests. Returns false on stop.
/// `Some(n)`: run n steps now (paused stepping); `None`: run paced.
fn control_point(sh: &Shared) -> Option<Option<u64>> {
    let mut st = lock(&sh.ctl);
    loop {
        if st.stop {
            st.parked = true;
            sh.ctl_cv.notify_all();
            return None;
        }
        if !st.paused {
            st.parked = false;
            return Some(None);
        }
        if st.step_req > 0 {
            let n = std::mem::take(&mut st.step_req);
            st.parked = false;
            return Some(Some(n));
        }
        st.parked = true;
        sh.ctl_cv.notify_all();
        st = sh.ctl_cv.wait(st).unwrap_or_else(|e| e.into_inner());
    }
}

fn run_steps(sh: &Shared, market: &Mutex<Market>, mut steps: u64, max_msgs: Option<u64>) {
    while steps > 0 {
        let mut batch = Batch::default();
        let mut m = lock(market);
        let msgs0 = m.msgs();
        let mut n = 0;
        while n < steps.min(MAX_STEPS_PER_BATCH) && max_msgs.is_none_or(|t| m.msgs() < t) {
            m.step(&sh.reg, &mut batch);
            n += 1;
        }
        let made = m.msgs() - msgs0;
        let trades = m.take_trades();
        drop(m);
        feed_trades(sh, trades);
        add(&sh.stats.generated_messages, made);
        add(&sh.stats.generator_steps, n);
        sh.bus.publish(batch);
        steps -= n;
        if n == 0 || max_msgs.is_some() {
            break;
        }
    }
}

/// Hands the generator's trade prints to the exchange (resting orders
/// priced through them fill) and delivers the events that causes. Times
/// are wall-clock ms, like every order-side time.
fn feed_trades(sh: &Shared, trades: Vec<crate::market::TradePrint>) {
    if trades.is_empty() {
        return;
    }
    let now = now_ms();
    sh.api.with_exchange(sh, |ex| {
        for t in &trades {
            ex.on_market_trade(&t.symbol, t.price, t.qty, t.buyer_is_maker, now);
        }
    });
}

fn run_generator(sh: &Shared) {
    let Some(market) = &sh.market else { return };
    let rate = u128::from(sh.cfg.rate);
    // (wall-clock anchor, message count at the anchor); reset after pauses.
    let mut anchor: Option<(Instant, u64)> = None;
    loop {
        match control_point(sh) {
            None => return,
            Some(Some(n)) => {
                anchor = None;
                run_steps(sh, market, n, None);
                let mut st = lock(&sh.ctl);
                st.steps_done += n;
                sh.ctl_cv.notify_all();
                continue;
            }
            Some(None) => {}
        }
        let now = Instant::now();
        let have = lock(market).msgs();
        let (t0, m0) = *anchor.get_or_insert((now, have));
        let elapsed = now.duration_since(t0).as_nanos();
        let due = m0 + u64::try_from(elapsed * rate / 1_000_000_000).unwrap_or(u64::MAX);
        if have < due {
            let behind = due - have;
            if u128::from(behind) > rate / 4 + 1000 {
                // Cannot keep up: re-anchor rather than burst forever.
                inc(&sh.stats.generator_overruns);
                anchor = Some((now, have));
            }
            let target = have + behind.min(MAX_STEPS_PER_BATCH);
            run_steps(sh, market, u64::MAX, Some(target));
        } else {
            // Sleep until the next message is due (at least 200 µs at high
            // rates so batches stay large), interruptible by pause/stop.
            let next_ns = u128::from(have + 1 - m0) * 1_000_000_000 / rate;
            let mut wait = Duration::from_nanos(
                u64::try_from(next_ns.saturating_sub(elapsed)).unwrap_or(u64::MAX),
            );
            if sh.cfg.rate > 5_000 {
                wait = wait.max(Duration::from_micros(200));
            }
            let wait = wait.min(Duration::from_millis(20));
            let st = lock(&sh.ctl);
            if !st.paused && !st.stop {
                let _ = sh.ctl_cv.wait_timeout(st, wait);
            }
        }
    }
}

fn run_replay(sh: &Shared, tape: Tape) {
    // The clock starts at the first subscription.
    loop {
        match control_point(sh) {
            None => return,
            Some(Some(n)) => {
                let mut st = lock(&sh.ctl);
                st.steps_done += n;
                sh.ctl_cv.notify_all();
                continue;
            }
            Some(None) => {}
        }
        if sh.reg.any_wanted() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut start = Instant::now();
    let mut i = 0;
    while i < tape.items.len() {
        // Pauses shift the tape's clock by their length.
        let before = Instant::now();
        match control_point(sh) {
            None => return,
            Some(Some(n)) => {
                let mut st = lock(&sh.ctl);
                st.steps_done += n;
                sh.ctl_cv.notify_all();
            }
            Some(None) => {}
        }
        start += before.elapsed();
        let due = start + Duration::from_millis(tape.items[i].0);
        let now = Instant::now();
        if due > now {
            std::thread::sleep((due - now).min(Duration::from_millis(20)));
            continue;
        }
        let mut batch = Batch::default();
        while i < tape.items.len() && start + Duration::from_millis(tape.items[i].0) <= now {
            match &tape.items[i].1 {
                TapeItem::Message { stream, data } => {
                    if let Some(id) = sh.reg.id(stream) {
                        batch.push(id, data);
                    }
                    inc(&sh.stats.replayed_messages);
                }
                TapeItem::Snapshot { symbol, data } => {
                    lock(&sh.tape_snapshots).insert(symbol.clone(), data.clone());
                }
            }
            i += 1;
        }
        sh.bus.publish(batch);
    }
    idle_until_stop(sh);
}

/// After the tape ends: stay parked (so `pause` and `step` return) until stop.
fn idle_until_stop(sh: &Shared) {
    let mut st = lock(&sh.ctl);
    loop {
        st.steps_done += std::mem::take(&mut st.step_req);
        st.parked = true;
        sh.ctl_cv.notify_all();
        if st.stop {
            return;
        }
        st = sh.ctl_cv.wait(st).unwrap_or_else(|e| e.into_inner());
    }
}

impl SimHandle {
    /// The bound address (the chosen port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT` (`wss://` with TLS).
    pub fn ws_base(&self) -> String {
        let scheme = if self.sh.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS).
    pub fn http_base(&self) -> String {
        let scheme = if self.sh.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// DER of the self-signed certificate to trust (TLS only).
    pub fn tls_root_der(&self) -> Option<Vec<u8>> {
        self.cert_der.clone()
    }

    /// PEM of the same certificate (TLS only).
    pub fn tls_root_pem(&self) -> Option<String> {
        self.cert_pem.clone()
    }

    /// The simulator's own book for `symbol` (any case), all levels, with
    /// its `last_update_id`; `None` for unknown symbols and in replay mode.
    /// Taken under the market lock, so it is consistent; to compare against
    /// a client at a known id, [`SimHandle::pause`] first.
    pub fn book(&self, symbol: &str) -> Option<BookView> {
        let m = lock(self.sh.market.as_ref()?);
        m.view(m.symbol_index(&symbol.to_ascii_uppercase())?, usize::MAX)
    }

    /// Pauses the generator and returns once it is parked: every message of
    /// every step taken so far is on the bus (the diff streams of
    /// `@depth` with interval 0 are complete up to `book().last_update_id`;
    /// aggregated streams hold back their open window).
    pub fn pause(&self) {
        let mut st = lock(&self.sh.ctl);
        st.paused = true;
        self.sh.ctl_cv.notify_all();
        while !st.parked && !st.stop {
            st = self.sh.ctl_cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Pauses (if running), then closes the open depth aggregation windows
    /// (`@depth@100ms`, and `@depth` when `depth_interval_ms` > 0) and
    /// publishes their pending diffs: every diff stream then ends at
    /// [`book`](Self::book)'s `last_update_id`, so a client's book can be
    /// compared with the simulator's at the venue's own cadences. Tests only;
    /// the venue never closes a window early.
    pub fn pause_and_flush_windows(&self) {
        self.pause();
        let Some(market) = &self.sh.market else {
            return;
        };
        let mut batch = Batch::default();
        lock(market).flush_windows(&self.sh.reg, &mut batch);
        self.sh.bus.publish(batch);
    }

    /// Resumes pacing (from the current virtual time; no catch-up burst).
    pub fn resume(&self) {
        let mut st = lock(&self.sh.ctl);
        st.paused = false;
        self.sh.ctl_cv.notify_all();
    }

    /// Pauses (if running) and runs exactly `n` generator steps
    /// synchronously; returns when their messages are on the bus.
    pub fn step(&self, n: u64) {
        self.pause();
        let mut st = lock(&self.sh.ctl);
        let target = st.steps_done + n;
        st.step_req += n;
        self.sh.ctl_cv.notify_all();
        while st.steps_done < target && !st.stop {
            st = self.sh.ctl_cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The wire-to-wire measurement of marked ticks so far (see
    /// [`crate::marks`]; empty with `mark_every` off).
    pub fn marks(&self) -> MarksReport {
        self.sh.marks.report()
    }

    /// Like [`marks`](Self::marks), then clears the histogram and counters
    /// (e.g. after a warm-up).
    pub fn take_marks(&self) -> MarksReport {
        self.sh.marks.take_report()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SimStats {
        self.sh.stats.snapshot()
    }

    /// Every order request received so far (`order.place`, `POST
    /// /api/v3/order`, cancel-replace new orders), in arrival order: the
    /// newest 262,144 of them, with the API key and client order id clipped
    /// to 64 bytes (see [`SimHandle::orders_dropped_from_log`]).
    pub fn orders_received(&self) -> Vec<ReceivedOrder> {
        self.sh.api.orders_received()
    }

    /// How many of the oldest order requests the full log dropped (0 until
    /// 262,144 were received).
    pub fn orders_dropped_from_log(&self) -> u64 {
        self.sh.api.orders_dropped_from_log()
    }

    /// 429s, 418s and -1015s served so far.
    pub fn rate_limit_stats(&self) -> RateLimitStats {
        self.sh.api.rate_limit_stats()
    }

    /// The current order-side faults.
    pub fn order_faults(&self) -> OrderFaults {
        self.sh.api.faults()
    }

    /// Replaces the order-side faults (takes effect for the next request).
    pub fn set_order_faults(&self, faults: OrderFaults) {
        self.sh.api.set_faults(faults);
    }

    /// Fault: drop the connection without replying after accepting each of
    /// the next `n` orders (adds to any pending count).
    pub fn drop_next_after_accept(&self, n: u64) {
        self.sh.api.update_faults(|f| f.drop_after_accept_next += n);
    }

    /// Fault: drop the connection after accepting every `n`th order
    /// (`None` turns it off).
    pub fn drop_after_accept_every(&self, n: Option<u64>) {
        self.sh
            .api
            .update_faults(|f| f.drop_after_accept_every = n.filter(|&k| k > 0));
    }

    /// Fault: delay order replies by `d` (zero turns it off).
    pub fn set_ack_delay(&self, d: Duration) {
        self.sh.api.update_faults(|f| f.ack_delay = d);
    }

    /// Fault: reject the next `n` orders with `code` and `msg` before the
    /// exchange sees them.
    pub fn reject_next_orders(&self, n: u64, code: i32, msg: &str) {
        self.sh.api.update_faults(|f| {
            f.reject_next = n;
            f.reject_code = code;
            f.reject_msg = msg.to_string();
        });
    }

    /// The account with this API key.
    pub fn account_id(&self, api_key: &str) -> Option<AccountId> {
        lock(&self.sh.api.exchange).account_by_key(api_key)
    }

    /// The balances (free and locked, every asset the account has or any
    /// symbol trades) of the account with this API key, read under the
    /// exchange lock (consistent across assets); `None` for an unknown key.
    /// For tests comparing a client's positions with the venue's books.
    pub fn account_balances(&self, api_key: &str) -> Option<Vec<Balance>> {
        let ex = lock(&self.sh.api.exchange);
        let id = ex.account_by_key(api_key)?;
        Some(ex.account(id).balances)
    }

    /// The open orders (all symbols, oldest first) of the account with this
    /// API key; `None` for an unknown key.
    pub fn open_orders(&self, api_key: &str) -> Option<Vec<OrderView>> {
        let ex = lock(&self.sh.api.exchange);
        let id = ex.account_by_key(api_key)?;
        Some(ex.open_orders(id, None))
    }

    /// Credits (or debits, negative) a free balance like a deposit: the
    /// account's subscribers get `balanceUpdate` and
    /// `outboundAccountPosition`. False for an unknown key.
    pub fn adjust_balance(&self, api_key: &str, asset: &str, delta: i64) -> bool {
        let sh = &self.sh;
        sh.api
            .with_exchange(sh, |ex| match ex.account_by_key(api_key) {
                Some(id) => {
                    ex.adjust_balance(id, asset, delta, now_ms());
                    true
                }
                None => false,
            })
    }

    /// Stops everything: connections get a close frame (1001) where
    /// possible, sockets are shut down, threads joined.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.acceptor.is_none() {
            return; // already stopped
        }
        // Relaxed: see `Shared::stopping`.
        self.sh.stop.store(true, Ordering::Relaxed);
        {
            let mut st = lock(&self.sh.ctl);
            st.stop = true;
            self.sh.ctl_cv.notify_all();
        }
        self.sh.bus.close();
        // Wake the acceptor.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
        if let Some(h) = self.source.take() {
            let _ = h.join();
        }
        // Writers notice `stop` within one wait (≤ 50 ms) and send a close
        // frame; then force the sockets shut.
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline && lock(&self.conns).iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(5));
        }
        for s in lock(&self.sh.sockets).values() {
            let _ = s.shutdown(Shutdown::Both);
        }
        let handles: Vec<_> = lock(&self.conns).drain(..).collect();
        for h in handles {
            let _ = h.join();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
