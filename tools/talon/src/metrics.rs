//! Session observability: the SQLite store projection thread, the
//! Prometheus text exposition of a session's counters, and the optional
//! loopback `GET /metrics` endpoint.
//!
//! Owns [`render`] / [`render_view`] ([`MetricsView`]: borrowed references to
//! the lock-free statistics the hot threads publish: [`EngineStats`],
//! [`GatewayCounters`], [`GatewayLatency`], [`FeedCounters`], ring
//! snapshots), [`StoreStatus`] (what the projection thread publishes), and
//! the two cold threads a [`Session`] runs next to its agents:
//!
//! * the **store projection**: a plain (unpinned) thread that opens the
//!   store ([`Store::open`]) and polls a [`Projector`] on the session's
//!   journal every [`PROJECT_INTERVAL`] (a failed open is retried every
//!   second), with a final `catch_up` once the
//!   session stops (after the engine synced the journal). Errors are logged
//!   and counted in [`StoreStatus`], never fatal to the session;
//! * the **metrics endpoint** (`[metrics] listen`): a plain thread serving
//!   `GET /metrics` (`text/plain; version=0.0.4`) on a loopback address,
//!   one bounded request at a time (8 KiB, 2 s timeouts), 404 for any
//!   other path.
//!
//! It only reads the hot threads' statistics (Relaxed atomic loads, see
//! their modules); it never takes a lock the hot path takes, never writes
//! the journal, and never talks to the venue.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use talon_control::store::{DEFAULT_BATCH, Projector, Store};
use talon_core::engine::agent::{EngineCounter, EngineHandle, EngineStats, LatencyStage};
use talon_core::engine::agent::{LatencyHistogram, LatencySummary};
use talon_core::engine::risk::{RejectReason, TradingState};
use talon_core::halt::{HaltFlag, HaltReason};
use talon_core::ring::{RingSnapshot, RingStats};
use talon_feed::counters::{FeedCounter, FeedCounters};
use talon_feed::decode::DecodeError;
use talon_gateway::counters::{GatewayCounter, GatewayCounters, VenueCode};
use talon_gateway::error::LocalReject;
use talon_gateway::latency::{GatewayLatency, OrderStage};

use crate::session::Session;

/// How often the projection thread polls the journal.
pub const PROJECT_INTERVAL: Duration = Duration::from_millis(50);

/// How often a store that failed to open is retried.
const OPEN_RETRY: Duration = Duration::from_secs(1);

/// Largest HTTP request head the endpoint reads.
const MAX_REQUEST: usize = 8 * 1024;

/// Read/write timeout per connection.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the endpoint's accept loop checks its stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// The Prometheus text format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// What the store projection thread publishes (any thread reads it).
#[derive(Debug, Default)]
pub struct StoreStatus {
    last_applied: AtomicU64,
    applied: AtomicU64,
    errors: AtomicU64,
    open: AtomicBool,
}

impl StoreStatus {
    /// The last journal sequence the store holds.
    pub fn last_applied_seq(&self) -> u64 {
        // Relaxed: a statistic; the store file itself is the truth.
        self.last_applied.load(Ordering::Relaxed)
    }

    /// Records projected by this session's thread.
    pub fn applied(&self) -> u64 {
        // Relaxed: a statistic.
        self.applied.load(Ordering::Relaxed)
    }

    /// Store errors (open, poll, apply) seen by the thread.
    pub fn errors(&self) -> u64 {
        // Relaxed: a statistic.
        self.errors.load(Ordering::Relaxed)
    }

    /// Whether the store is open.
    pub fn is_open(&self) -> bool {
        // Relaxed: a statistic.
        self.open.load(Ordering::Relaxed)
    }

    fn error(&self, what: &str, e: &dyn std::fmt::Display) {
        tracing::warn!(target: "talon::store", "store {what}: {e}");
        // Relaxed: a statistic (single writer: the projection thread).
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    fn publish(&self, projector: &Projector, n: usize) {
        // Relaxed: statistics (single writer: the projection thread).
        self.last_applied
            .store(projector.store().last_applied_seq(), Ordering::Relaxed);
        self.applied.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// The store projection thread (see the module docs).
#[derive(Debug)]
pub(crate) struct StoreProjection {
    status: Arc<StoreStatus>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StoreProjection {
    /// Starts the thread projecting `journal_dir` into the store at `path`,
    /// publishing into `status`.
    pub(crate) fn start(
        path: &Path,
        journal_dir: &Path,
        status: Arc<StoreStatus>,
    ) -> std::io::Result<StoreProjection> {
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (Arc::clone(&status), Arc::clone(&stop));
        let (path, dir) = (path.to_path_buf(), journal_dir.to_path_buf());
        let thread = std::thread::Builder::new()
            .name("store".to_owned())
            .spawn(move || project_loop(&path, &dir, &st, &sp))?;
        Ok(StoreProjection {
            status,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread after a final catch-up and waits for it.
    pub(crate) fn finish(&mut self) {
        // Release: pairs with the thread's Acquire load; nothing else is
        // published through it, the flag only ends the loop.
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            self.status.error("thread", &"panicked");
        }
    }
}

impl Drop for StoreProjection {
    fn drop(&mut self) {
        self.finish();
    }
}

fn project_loop(path: &Path, dir: &Path, status: &StoreStatus, stop: &AtomicBool) {
    let mut projector: Option<Projector> = None;
    let mut next_open = Instant::now();
    loop {
        // Acquire: pairs with `finish`'s Release store.
        let stopping = stop.load(Ordering::Acquire);
        if projector.is_none() && (stopping || Instant::now() >= next_open) {
            // A failing open is retried every OPEN_RETRY (not every poll).
            next_open = Instant::now() + OPEN_RETRY;
            match Store::open(path) {
                Ok(store) => {
                    // Relaxed: statistics.
                    status
                        .last_applied
                        .store(store.last_applied_seq(), Ordering::Relaxed);
                    status.open.store(true, Ordering::Relaxed);
                    projector = Some(Projector::new(store, dir, DEFAULT_BATCH));
                }
                Err(e) => status.error("open", &e),
            }
        }
        if let Some(p) = projector.as_mut() {
            let result = if stopping { p.catch_up() } else { p.poll() };
            match result {
                Ok(n) => {
                    status.publish(p, n);
                    if n >= DEFAULT_BATCH && !stopping {
                        continue; // more is waiting: no sleep
                    }
                }
                Err(e) => status.error("projection", &e),
            }
        }
        if stopping {
            return;
        }
        std::thread::sleep(PROJECT_INTERVAL);
    }
}

/// The lock-free statistics a session's metrics are read from (shared by
/// the session and its metrics endpoint).
#[derive(Debug)]
pub struct MetricsSources {
    pub(crate) engine: EngineHandle,
    pub(crate) gateway: Arc<GatewayCounters>,
    pub(crate) gateway_latency: Arc<GatewayLatency>,
    pub(crate) feed: Arc<FeedCounters>,
    pub(crate) rings: [Arc<RingStats>; 4],
    pub(crate) store: Arc<StoreStatus>,
    pub(crate) halt: Arc<HaltFlag>,
    /// The journal sequence the engine's first append of this session got.
    pub(crate) journal_base: u64,
}

impl MetricsSources {
    /// The next journal sequence (the engine's appends this session past
    /// the recovered `next_seq`).
    pub fn journal_next_seq(&self) -> u64 {
        self.journal_base
            .saturating_add(self.engine.stats().get(EngineCounter::JournalRecords))
    }

    /// Journal records written but not yet in the store:
    /// `(journal next seq − 1) − last applied`.
    pub fn store_lag(&self) -> u64 {
        self.journal_next_seq()
            .saturating_sub(1)
            .saturating_sub(self.store.last_applied_seq())
    }

    /// The Prometheus exposition of these sources.
    pub fn render(&self) -> String {
        render_view(&MetricsView {
            engine: self.engine.stats(),
            gateway: &self.gateway,
            gateway_latency: &self.gateway_latency,
            feed: &self.feed,
            rings: self.rings.each_ref().map(|r| r.snapshot()),
            store_lag: self.store_lag(),
            store_last_applied: self.store.last_applied_seq(),
            store_errors: self.store.errors(),
            journal_next_seq: self.journal_next_seq(),
            halt: self.halt.reason(),
        })
    }
}

/// What [`render_view`] reads: borrowed statistics, plus values read once.
#[derive(Debug)]
pub struct MetricsView<'a> {
    /// The engine's statistics.
    pub engine: &'a EngineStats,
    /// The gateway's counters.
    pub gateway: &'a GatewayCounters,
    /// The gateway's per-stage latency.
    pub gateway_latency: &'a GatewayLatency,
    /// The feed's counters.
    pub feed: &'a FeedCounters,
    /// Ring snapshots (md, order, exec, control).
    pub rings: [RingSnapshot; 4],
    /// Journal records not yet in the store.
    pub store_lag: u64,
    /// The store's last applied sequence.
    pub store_last_applied: u64,
    /// Store errors.
    pub store_errors: u64,
    /// The journal's next sequence.
    pub journal_next_seq: u64,
    /// The halt flag's reason, if thrown.
    pub halt: Option<HaltReason>,
}

/// A session's metrics in the Prometheus text exposition format 0.0.4.
pub fn render(session: &Session) -> String {
    session.metrics_sources().render()
}

/// Builds the exposition text: `# HELP` and `# TYPE` once per family, then
/// its samples.
struct Expo {
    out: String,
}

impl Expo {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: u64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    fn summary(&mut self, name: &str, help: &str, rows: &[LatencyRow<'_>]) {
        self.family(name, "summary", help);
        for (label, value, s, _) in rows {
            for (q, v) in [
                ("0.5", s.p50),
                ("0.9", s.p90),
                ("0.99", s.p99),
                ("0.999", s.p999),
            ] {
                self.sample(name, &[(label, value), ("quantile", q)], v);
            }
        }
        let sum = format!("{name}_sum");
        for (label, value, _, h) in rows {
            self.sample(&sum, &[(label, value)], approx_sum(h));
        }
        let count = format!("{name}_count");
        for (label, value, s, _) in rows {
            self.sample(&count, &[(label, value)], s.count);
        }
    }
}

/// One summary row: label name, label value, percentiles, histogram.
type LatencyRow<'a> = (&'a str, &'a str, LatencySummary, &'a LatencyHistogram);

/// The histogram's sum, each bucket counted at its midpoint (within the
/// histogram's 1/32 relative error); saturating.
fn approx_sum(h: &LatencyHistogram) -> u64 {
    let mut sum: u64 = 0;
    h.for_each_bucket(|lo, hi, count| {
        let mid = lo + (hi.saturating_sub(lo)) / 2;
        sum = sum.saturating_add(mid.saturating_mul(count));
    });
    sum
}

/// A label value with `\`, `"` and newline escaped.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A metric-name fragment: `[a-z0-9_]`, anything else becomes `_`.
fn name_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The Prometheus exposition of `v` (see the module docs for the families).
pub fn render_view(v: &MetricsView<'_>) -> String {
    let mut e = Expo {
        out: String::with_capacity(32 * 1024),
    };

    // Engine counters.
    for &c in EngineCounter::ALL {
        let name = format!("talon_engine_{}_total", name_part(c.as_str()));
        e.single(
            &name,
            "counter",
            &format!("Engine counter `{}`.", c.as_str()),
            v.engine.get(c),
        );
    }
    let rejects = v.engine.rejects();
    e.family(
        "talon_engine_rejects_total",
        "counter",
        "New orders rejected by the engine's risk check, by reason.",
    );
    for r in RejectReason::ALL {
        e.sample(
            "talon_engine_rejects_total",
            &[("reason", r.as_str())],
            rejects.get(r),
        );
    }
    let summary = v.engine.summary();
    e.single(
        "talon_engine_open_orders",
        "gauge",
        "Orders open in the engine's table.",
        summary.open_orders,
    );
    let state = v.engine.state();
    e.family(
        "talon_trading_state",
        "gauge",
        "The engine's trading state (1 for the current one).",
    );
    for s in TradingState::ALL {
        e.sample(
            "talon_trading_state",
            &[("state", s.as_str())],
            u64::from(s == state),
        );
    }
    e.family(
        "talon_halted",
        "gauge",
        "1 while the process halt flag is thrown, with its reason.",
    );
    match v.halt {
        Some(r) => e.sample("talon_halted", &[("reason", r.as_str())], 1),
        None => e.sample("talon_halted", &[("reason", "none")], 0),
    }

    // Gateway.
    for c in GatewayCounter::ALL {
        let name = format!("talon_gateway_{}_total", name_part(c.as_str()));
        e.single(
            &name,
            "counter",
            &format!("Gateway counter `{}`.", c.as_str()),
            v.gateway.get(c),
        );
    }
    e.family(
        "talon_gateway_orders_total",
        "counter",
        "New orders by outcome at the gateway.",
    );
    for (outcome, c) in [
        ("sent", GatewayCounter::OrdersSent),
        ("acked", GatewayCounter::Acks),
        ("venue_rejected", GatewayCounter::VenueRejects),
        ("local_rejected", GatewayCounter::LocalRejects),
        ("ack_timeout", GatewayCounter::AckTimeouts),
    ] {
        e.sample(
            "talon_gateway_orders_total",
            &[("outcome", outcome)],
            v.gateway.get(c),
        );
    }
    e.family(
        "talon_gateway_venue_errors_total",
        "counter",
        "Venue error responses by code bucket.",
    );
    for b in VenueCode::ALL {
        e.sample(
            "talon_gateway_venue_errors_total",
            &[("code", b.as_str())],
            v.gateway.venue(b),
        );
    }
    e.family(
        "talon_gateway_local_rejects_by_reason_total",
        "counter",
        "New orders the gateway refused locally, by reason.",
    );
    for r in LocalReject::ALL {
        e.sample(
            "talon_gateway_local_rejects_by_reason_total",
            &[("reason", r.as_str())],
            v.gateway.local(r),
        );
    }

    // Feed.
    for c in FeedCounter::ALL {
        let name = format!("talon_feed_{}_total", name_part(c.as_str()));
        e.single(
            &name,
            "counter",
            &format!("Feed counter `{}`.", c.as_str()),
            v.feed.get(c),
        );
    }
    e.family(
        "talon_feed_decode_errors_by_reason_total",
        "counter",
        "Market messages the feed could not decode, by reason.",
    );
    for (i, r) in DecodeError::ALL.iter().enumerate() {
        e.sample(
            "talon_feed_decode_errors_by_reason_total",
            &[("reason", r.as_str())],
            v.feed.decode_errors_for(i),
        );
    }

    // Rings.
    type RingField = (
        &'static str,
        &'static str,
        &'static str,
        fn(&RingSnapshot) -> u64,
    );
    let ring_fields: [RingField; 6] = [
        ("talon_ring_capacity", "gauge", "Slots in the ring.", |r| {
            r.capacity as u64
        }),
        (
            "talon_ring_fill",
            "gauge",
            "Values in flight in the ring (fill level).",
            RingSnapshot::in_flight,
        ),
        (
            "talon_ring_high_water",
            "gauge",
            "Largest occupancy seen.",
            |r| r.high_water,
        ),
        (
            "talon_ring_pushed_total",
            "counter",
            "Values accepted.",
            |r| r.pushed,
        ),
        (
            "talon_ring_full_total",
            "counter",
            "Pushes refused because the ring was full.",
            |r| r.full,
        ),
        (
            "talon_ring_popped_total",
            "counter",
            "Values taken by the consumer.",
            |r| r.popped,
        ),
    ];
    for (name, kind, help, f) in ring_fields {
        e.family(name, kind, help);
        for r in &v.rings {
            e.sample(name, &[("ring", r.name)], f(r));
        }
    }

    // Journal and store.
    e.single(
        "talon_journal_next_seq",
        "gauge",
        "The sequence the journal's next record gets.",
        v.journal_next_seq,
    );
    e.single(
        "talon_store_last_applied_seq",
        "gauge",
        "The last journal sequence projected into the SQLite store.",
        v.store_last_applied,
    );
    e.single(
        "talon_store_lag_records",
        "gauge",
        "Journal records written but not yet projected into the store.",
        v.store_lag,
    );
    e.single(
        "talon_store_errors_total",
        "counter",
        "Store errors (open, projection) seen by the projection thread.",
        v.store_errors,
    );

    // Latency.
    let engine_rows: Vec<LatencyRow<'_>> = LatencyStage::ALL
        .iter()
        .map(|s| {
            let h = v.engine.histogram(*s);
            ("stage", s.as_str(), h.summary(), h)
        })
        .collect();
    e.summary(
        "talon_engine_latency_ns",
        "Engine pipeline stage latency in nanoseconds.",
        &engine_rows,
    );
    let gw_rows: Vec<LatencyRow<'_>> = OrderStage::ALL
        .iter()
        .map(|s| {
            let h = v.gateway_latency.histogram(*s);
            ("stage", s.as_str(), h.summary(), h)
        })
        .collect();
    e.summary(
        "talon_gateway_latency_ns",
        "Gateway per-order stage latency in nanoseconds (tick-to-trade and its stages).",
        &gw_rows,
    );
    e.out
}

/// The loopback `GET /metrics` endpoint (see the module docs).
#[derive(Debug)]
pub(crate) struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` (the caller checked it is loopback) and serves
    /// `sources` from a new thread.
    pub(crate) fn start(
        addr: SocketAddr,
        sources: Arc<MetricsSources>,
    ) -> std::io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let sp = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("metrics".to_owned())
            .spawn(move || serve(&listener, &sources, &sp))?;
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops and joins the thread.
    pub(crate) fn finish(&mut self) {
        // Release: pairs with the accept loop's Acquire load; only ends it.
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.finish();
    }
}

fn serve(listener: &TcpListener, sources: &MetricsSources, stop: &AtomicBool) {
    // Acquire: pairs with `finish`'s Release store.
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = handle(stream, sources) {
                    tracing::debug!(target: "talon::metrics", "metrics request: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(ACCEPT_POLL);
            }
            Err(e) => {
                tracing::warn!(target: "talon::metrics", "metrics accept: {e}");
                std::thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

/// Reads one bounded request head and answers it.
fn handle(mut stream: TcpStream, sources: &MetricsSources) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut len = 0;
    let complete = loop {
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break true;
        }
        if len == buf.len() {
            break false;
        }
        match stream.read(&mut buf[len..])? {
            0 => break buf[..len].windows(2).any(|w| w == b"\r\n"),
            n => len += n,
        }
    };
    let (status, ctype, body) = if !complete {
        (
            "431 Request Header Fields Too Large",
            "text/plain",
            String::from("request too large\n"),
        )
    } else {
        let line = buf[..len]
            .split(|&b| b == b'\r' || b == b'\n')
            .next()
            .unwrap_or_default();
        let mut parts = line.split(|&b| b == b' ');
        let method = parts.next().unwrap_or_default();
        let target = parts.next().unwrap_or_default();
        let path = target.split(|&b| b == b'?').next().unwrap_or_default();
        match (method, path) {
            (b"GET", b"/metrics") => ("200 OK", CONTENT_TYPE, sources.render()),
            (b"GET", _) => ("404 Not Found", "text/plain", String::from("not found\n")),
            _ => (
                "405 Method Not Allowed",
                "text/plain",
                String::from("method not allowed\n"),
            ),
        }
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()?;
    // Close gracefully: end our side, then discard (bounded) whatever the
    // client still sends, so unread input does not reset the connection
    // before the client read the response.
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut drained = 0;
    while drained < 8 * MAX_REQUEST {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    Ok(())
}

/// The session-side handles: the projection thread, the sources and the
/// optional endpoint.
#[derive(Debug)]
pub(crate) struct SessionMetrics {
    pub(crate) sources: Arc<MetricsSources>,
    pub(crate) projection: StoreProjection,
    pub(crate) server: Option<MetricsServer>,
    pub(crate) store_path: PathBuf,
}

impl SessionMetrics {
    /// Starts the projection of `journal_dir` into `store_path` (publishing
    /// into `sources.store`) and, with `listen`, the endpoint.
    pub(crate) fn start(
        sources: Arc<MetricsSources>,
        store_path: &Path,
        journal_dir: &Path,
        listen: Option<SocketAddr>,
    ) -> std::io::Result<SessionMetrics> {
        let projection =
            StoreProjection::start(store_path, journal_dir, Arc::clone(&sources.store))?;
        let server = match listen {
            Some(addr) => Some(MetricsServer::start(addr, Arc::clone(&sources))?),
            None => None,
        };
        Ok(SessionMetrics {
            sources,
            projection,
            server,
            store_path: store_path.to_path_buf(),
        })
    }

    /// The endpoint's bound address, if it runs.
    pub(crate) fn addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(MetricsServer::addr)
    }

    /// Stops the endpoint, then the projection after its final catch-up
    /// (call after the engine synced the journal).
    pub(crate) fn finish(&mut self) {
        if let Some(s) = self.server.as_mut() {
            s.finish();
        }
        self.projection.finish();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::{HashMap, HashSet};

    use super::*;

    fn view_text() -> String {
        let engine = EngineStats::new(2);
        engine.histogram(LatencyStage::TickToOrder).record(1_500);
        let gateway = GatewayCounters::new();
        gateway.increment(GatewayCounter::OrdersSent);
        gateway.venue_code(VenueCode::Filter);
        gateway.local_reject(LocalReject::ALL[0]);
        let latency = GatewayLatency::new();
        latency.histogram(OrderStage::ALL[0]).record(42);
        let feed = FeedCounters::new(DecodeError::COUNT);
        feed.add(FeedCounter::Messages, 7);
        feed.decode_error(1);
        let ring = |name| RingSnapshot {
            name,
            capacity: 1024,
            pushed: 10,
            full: 0,
            popped: 8,
            high_water: 5,
        };
        render_view(&MetricsView {
            engine: &engine,
            gateway: &gateway,
            gateway_latency: &latency,
            feed: &feed,
            rings: [ring("md"), ring("order"), ring("exec"), ring("control")],
            store_lag: 3,
            store_last_applied: 9,
            store_errors: 0,
            journal_next_seq: 13,
            halt: Some(HaltReason::Operator),
        })
    }

    fn valid_name(n: &str) -> bool {
        let mut chars = n.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }

    /// Parses `{k="v",…}`, honouring escapes; returns the labels and the
    /// rest of the line.
    fn parse_labels(s: &str) -> (Vec<(String, String)>, &str) {
        let Some(body) = s.strip_prefix('{') else {
            return (Vec::new(), s);
        };
        let mut labels = Vec::new();
        let mut rest = body;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                return (labels, r);
            }
            let eq = rest.find('=').expect("label =");
            let key = &rest[..eq];
            assert!(valid_name(key) && !key.contains(':'), "label name {key:?}");
            rest = rest[eq + 1..].strip_prefix('"').expect("label quote");
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                let (i, c) = chars.next().expect("unterminated label value");
                match c {
                    '\\' => match chars.next().expect("escape").1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => panic!("bad escape \\{other}"),
                    },
                    '"' => break i,
                    '\n' => panic!("raw newline in label value"),
                    c => value.push(c),
                }
            };
            labels.push((key.to_owned(), value));
            rest = &rest[end + 1..];
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            }
        }
    }

    /// Checks the exposition grammar line by line: HELP/TYPE once per
    /// family and before its samples, valid names and labels, integer
    /// values, no duplicate series. Returns the sample count.
    pub(crate) fn check_exposition(text: &str) -> usize {
        let mut typed: HashMap<String, String> = HashMap::new();
        let mut helped: HashSet<String> = HashSet::new();
        let mut series: HashSet<String> = HashSet::new();
        let mut samples = 0;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap();
                assert!(valid_name(name), "HELP name {name:?}");
                assert!(helped.insert(name.to_owned()), "HELP twice: {name}");
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut p = rest.split(' ');
                let (name, kind) = (p.next().unwrap(), p.next().unwrap());
                assert!(valid_name(name));
                assert!(helped.contains(name), "TYPE before HELP: {name}");
                assert!(["counter", "gauge", "summary"].contains(&kind), "{kind}");
                assert!(
                    typed.insert(name.to_owned(), kind.to_owned()).is_none(),
                    "TYPE twice: {name}"
                );
                continue;
            }
            assert!(!line.starts_with('#') && !line.is_empty(), "line {line:?}");
            let name_end = line.find(['{', ' ']).expect("sample name end");
            let name = &line[..name_end];
            assert!(valid_name(name), "sample name {name:?}");
            assert!(name.starts_with("talon_"), "{name}");
            let family = typed
                .get_key_value(name)
                .map(|(k, _)| k.clone())
                .or_else(|| {
                    let base = name.strip_suffix("_count").or(name.strip_suffix("_sum"))?;
                    (typed.get(base)? == "summary").then(|| base.to_owned())
                })
                .unwrap_or_else(|| panic!("sample before its TYPE: {name}"));
            if typed[&family] == "counter" {
                assert!(name.ends_with("_total"), "counter {name}");
            }
            let (mut labels, rest) = parse_labels(&line[name_end..]);
            let value = rest.strip_prefix(' ').expect("space before value");
            assert!(value.parse::<u64>().is_ok(), "value {value:?} in {line:?}");
            if typed[&family] == "summary" && name == family {
                assert!(labels.iter().any(|(k, _)| k == "quantile"), "{line}");
            }
            labels.sort();
            let keys: HashSet<&String> = labels.iter().map(|(k, _)| k).collect();
            assert_eq!(keys.len(), labels.len(), "duplicate label in {line}");
            assert!(
                series.insert(format!("{name}{labels:?}")),
                "duplicate {line}"
            );
            samples += 1;
        }
        samples
    }

    #[test]
    fn exposition_is_well_formed() {
        let text = view_text();
        let n = check_exposition(&text);
        assert!(n > 100, "{n} samples");
        assert!(text.contains("talon_feed_messages_total 7\n"));
        assert!(text.contains("talon_gateway_orders_total{outcome=\"sent\"} 1\n"));
        assert!(text.contains("talon_halted{reason=\"operator\"} 1\n"));
        assert!(text.contains("talon_ring_fill{ring=\"md\"} 2\n"));
        assert!(text.contains("talon_store_lag_records 3\n"));
        assert!(text.contains("talon_engine_latency_ns_count{stage=\"tick_to_order\"} 1\n"));
        assert!(text.contains("talon_trading_state{state=\"halted\"} 1\n"));
        // One value of 1500 ns: its bucket's midpoint, within 1/32.
        let sum: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("talon_engine_latency_ns_sum{stage=\"tick_to_order\"} "))
            .unwrap()
            .parse()
            .unwrap();
        assert!((1_450..=1_550).contains(&sum), "{sum}");
        let code = format!(
            "talon_gateway_venue_errors_total{{code=\"{}\"}} 1\n",
            VenueCode::Filter.as_str()
        );
        assert!(text.contains(&code), "{code}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let mut e = Expo { out: String::new() };
        e.family("talon_x", "gauge", "help with \\ and\nnewline");
        e.sample("talon_x", &[("k", "v\"\\\n")], 1);
        assert_eq!(check_exposition(&e.out), 1);
        let (labels, _) = parse_labels(
            e.out
                .lines()
                .nth(2)
                .unwrap()
                .strip_prefix("talon_x")
                .unwrap(),
        );
        assert_eq!(labels, vec![("k".to_owned(), "v\"\\\n".to_owned())]);
    }

    #[test]
    #[should_panic(expected = "duplicate")]
    fn checker_catches_duplicates() {
        check_exposition("# HELP talon_x h\n# TYPE talon_x gauge\ntalon_x 1\ntalon_x 2\n");
    }
}
