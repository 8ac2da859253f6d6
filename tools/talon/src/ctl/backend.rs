//! The control socket's view of a running session.
//!
//! Owns [`SessionBackend`]: clones of the session's shared handles (engine
//! stats, halt flag, readiness, feed/gateway counters, ring stats, the
//! control inbox) from which it answers `status`, `positions`, `orders`
//! and `metrics`, and through which it hands commands to the engine. It
//! only reads shared atomics and pushes onto the lock-free control inbox;
//! it never blocks a hot thread and holds no lock a hot thread takes.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crossbeam_queue::ArrayQueue;
use serde_json::{Map, Value, json};
use talon_core::engine::agent::{EngineCounter, EngineHandle, LatencyStage};
use talon_core::event::{ControlCommand, ControlMsg};
use talon_core::halt::HaltFlag;
use talon_core::instrument::{InstrumentId, InstrumentTable};
use talon_core::ring::RingStats;
use talon_feed::counters::{FeedCounter, FeedCounters};
use talon_gateway::counters::GatewayCounters;

use super::protocol::{Backend, RingLevel, StatusParts};
use crate::session::agents::Readiness;
use crate::session::{LatencyLine, PositionLine};

/// Command ids of the control socket start here, apart from the session's
/// own [`crate::session::Session::send_control`] ids (which count from 1).
const FIRST_COMMAND_ID: u64 = 1 << 62;

/// What the control socket reads and drives (built by the session).
#[derive(Debug)]
pub struct SessionBackend {
    /// The engine's shared stats.
    pub engine: EngineHandle,
    /// The process halt flag.
    pub halt: Arc<HaltFlag>,
    /// Readiness flags.
    pub readiness: Arc<Readiness>,
    /// Feed counters.
    pub feed: Arc<FeedCounters>,
    /// Gateway counters.
    pub gateway: Arc<GatewayCounters>,
    /// The control agent's inbox.
    pub inbox: Arc<ArrayQueue<ControlMsg>>,
    /// Ring stats (md, order, exec, control).
    pub rings: [Arc<RingStats>; 4],
    /// Instruments.
    pub instruments: InstrumentTable,
    /// Symbols traded.
    pub symbols: Vec<String>,
    /// Journal directory.
    pub journal_dir: PathBuf,
    /// The journal's next sequence at start.
    pub journal_start_seq: u64,
    /// Session start.
    pub started: Instant,
    /// Next command id.
    pub next_command: AtomicU64,
    /// The Prometheus exposition's sources (`metrics` returns the same text
    /// as the `/metrics` endpoint) and the store's lag.
    pub metrics: Option<Arc<crate::metrics::MetricsSources>>,
}

impl SessionBackend {
    /// The first command id to use (see `FIRST_COMMAND_ID`).
    pub const FIRST_COMMAND_ID: u64 = FIRST_COMMAND_ID;

    fn positions_list(&self) -> Vec<PositionLine> {
        let stats = self.engine.stats();
        self.instruments
            .iter()
            .filter_map(|(id, spec)| {
                let p = stats.position(id)?;
                Some(PositionLine {
                    symbol: spec.symbol.as_str().to_owned(),
                    qty: p.qty,
                    avg_price: p.avg_price,
                    realised_pnl: p.realised,
                    fees: p.fees,
                    fills: p.fills,
                })
            })
            .collect()
    }
}

impl Backend for SessionBackend {
    fn halt_flag(&self) -> &HaltFlag {
        &self.halt
    }

    fn send_control(&self, command: ControlCommand) -> bool {
        // Relaxed: a unique id is all that is needed.
        let id = self.next_command.fetch_add(1, Ordering::Relaxed);
        self.inbox.push(ControlMsg::new(id, command)).is_ok()
    }

    fn instrument(&self, symbol: &str) -> Option<InstrumentId> {
        self.instruments.id_of(symbol)
    }

    fn status(&self) -> StatusParts {
        let s = self.engine.summary();
        StatusParts {
            trading_state: s.state.as_str().to_owned(),
            engine_halt_reason: s.halt_reason.map(str::to_owned),
            engine_ready: self.engine.is_ready(),
            feed_connected: self.readiness.feed_receiving(),
            market_messages: self.feed.get(FeedCounter::Messages),
            instruments: self
                .symbols
                .iter()
                .map(|sym| {
                    let ok = self
                        .instruments
                        .id_of(sym)
                        .is_some_and(|id| self.readiness.instrument_healthy(id));
                    (sym.clone(), ok)
                })
                .collect(),
            gateway_ready: self.readiness.gateway_ready(),
            open_orders: s.open_orders,
            journal_dir: self.journal_dir.display().to_string(),
            journal_records: self.engine.stats().get(EngineCounter::JournalRecords),
            journal_start_seq: self.journal_start_seq,
            rings: self
                .rings
                .iter()
                .map(|r| {
                    let s = r.snapshot();
                    RingLevel {
                        name: s.name.to_owned(),
                        capacity: u64::try_from(s.capacity).unwrap_or(u64::MAX),
                        in_flight: s.in_flight(),
                        high_water: s.high_water,
                        full: s.full,
                    }
                })
                .collect(),
            uptime_s: self.started.elapsed().as_secs(),
        }
    }

    fn positions(&self) -> Value {
        json!({ "positions": self.positions_list() })
    }

    fn orders(&self) -> Value {
        let s = self.engine.summary();
        let rejects: Map<String, Value> = s
            .rejects
            .iter()
            .map(|(r, n)| (r.as_str().to_owned(), Value::from(n)))
            .collect();
        json!({
            "open_orders": s.open_orders,
            "orders_sent": s.orders_sent,
            "cancels_sent": s.cancels_sent,
            "orders_not_sent": s.orders_not_sent,
            "fills": s.fills,
            "exec_reports": s.exec_reports,
            "venue_rejects": s.venue_rejects,
            "risk_rejects": s.risk_rejects,
            "rejects_by_reason": rejects,
        })
    }

    fn metrics(&self) -> Value {
        let stats = self.engine.stats();
        let engine: Map<String, Value> = EngineCounter::ALL
            .iter()
            .map(|c| (c.as_str().to_owned(), Value::from(stats.get(*c))))
            .collect();
        let feed: Map<String, Value> = self
            .feed
            .snapshot()
            .iter()
            .map(|(c, n)| (c.as_str().to_owned(), Value::from(*n)))
            .collect();
        let gateway: Map<String, Value> = self
            .gateway
            .snapshot()
            .iter()
            .map(|(c, n)| (c.as_str().to_owned(), Value::from(*n)))
            .collect();
        let latency: Map<String, Value> = LatencyStage::ALL
            .iter()
            .map(|st| {
                let l = LatencyLine::from(stats.histogram(*st).summary());
                (
                    st.as_str().to_owned(),
                    serde_json::to_value(l).unwrap_or(Value::Null),
                )
            })
            .collect();
        let rings: Vec<Value> = self
            .rings
            .iter()
            .map(|r| {
                let s = r.snapshot();
                json!({"name": s.name, "capacity": s.capacity, "pushed": s.pushed,
                       "popped": s.popped, "full": s.full, "high_water": s.high_water,
                       "in_flight": s.in_flight()})
            })
            .collect();
        let mut v = json!({
            "trading_state": self.engine.summary().state.as_str(),
            "halted": self.halt.is_halted(),
            "engine": engine,
            "feed": feed,
            "gateway": gateway,
            "rings": rings,
            "latency_ns": latency,
        });
        if let (Some(src), Value::Object(m)) = (&self.metrics, &mut v) {
            m.insert("store_lag".into(), Value::from(src.store_lag()));
            m.insert("prometheus".into(), Value::String(src.render()));
        }
        v
    }
}
