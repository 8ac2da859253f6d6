//! What a running session reports: the one-line [`SessionStatus`] and the
//! end-of-session [`SessionSummary`] (serialisable to JSON).
//!
//! Owns the two report types, [`PositionLine`], [`LatencyLine`] and their
//! human renderings. Built from the engine's, feed's and gateway's shared
//! counters by [`super::Session`]; pure data, no I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use talon_core::engine::agent::LatencySummary;
use talon_core::engine::risk::TradingState;
use talon_core::num::{Notional, Price, Qty};

/// One instrument's position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PositionLine {
    /// The symbol.
    pub symbol: String,
    /// Signed quantity.
    pub qty: Qty,
    /// Average entry price (zero when flat).
    pub avg_price: Price,
    /// Realised PnL in the quote asset.
    pub realised_pnl: Notional,
    /// Fees in the quote asset.
    pub fees: Notional,
    /// Fills applied.
    pub fills: u64,
}

/// Percentiles of a latency histogram in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LatencyLine {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

impl From<LatencySummary> for LatencyLine {
    fn from(s: LatencySummary) -> Self {
        LatencyLine {
            count: s.count,
            p50: s.p50,
            p99: s.p99,
            p999: s.p999,
            max: s.max,
        }
    }
}

/// A snapshot for the live status line (not atomic across counters).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionStatus {
    /// Time since the session started.
    pub elapsed: Duration,
    /// The engine's trading state.
    pub state: TradingState,
    /// Feed and gateway ready (as the control agent last saw them).
    pub ready: bool,
    /// Market messages received by the feed.
    pub market_messages: u64,
    /// Market messages per second since the previous status.
    pub market_messages_per_sec: u64,
    /// New orders sent by the engine.
    pub orders_sent: u64,
    /// Cancels sent by the engine.
    pub cancels_sent: u64,
    /// Fills applied.
    pub fills: u64,
    /// Open orders.
    pub open_orders: u64,
    /// Rejections by reason: risk reasons by name, `venue` for the venue's,
    /// `gateway` for the gateway's local refusals.
    pub rejects: BTreeMap<String, u64>,
    /// Positions per symbol.
    pub positions: Vec<PositionLine>,
    /// Realised PnL over all symbols.
    pub realised_pnl: Notional,
    /// Daily PnL (realised + unrealised − fees) at the engine's last check.
    pub daily_pnl: Notional,
    /// Internal tick-to-order latency (feed socket read → order pushed).
    pub tick_to_trade: LatencyLine,
}

fn fmt_ns(ns: u64) -> String {
    match ns {
        0..=9_999 => format!("{ns}ns"),
        10_000..=9_999_999 => format!("{}us", ns / 1_000),
        _ => format!("{}ms", ns / 1_000_000),
    }
}

fn fmt_rejects(r: &BTreeMap<String, u64>) -> String {
    if r.is_empty() {
        return "0".to_owned();
    }
    let parts: Vec<String> = r.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(",")
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:>4}s] {:<8} md {:>6}/s  orders {} cancels {} fills {} open {}  rejects {}  pos",
            self.elapsed.as_secs(),
            self.state.as_str(),
            self.market_messages_per_sec,
            self.orders_sent,
            self.cancels_sent,
            self.fills,
            self.open_orders,
            fmt_rejects(&self.rejects),
        )?;
        for p in &self.positions {
            write!(f, " {}={}", p.symbol, p.qty)?;
        }
        write!(
            f,
            "  pnl {} (day {})  t2t p50 {} p99 {}",
            self.realised_pnl,
            self.daily_pnl,
            fmt_ns(self.tick_to_trade.p50),
            fmt_ns(self.tick_to_trade.p99),
        )
    }
}

/// Everything a session did, for the human summary and `--summary-json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionSummary {
    /// The session number (client order ids `tl<session>-…`).
    pub session_id: u32,
    /// Venue label (`sim ws://127.0.0.1:…`, `binance`, …).
    pub venue: String,
    /// Symbols traded.
    pub symbols: Vec<String>,
    /// Strategy name.
    pub strategy: String,
    /// Layout name (a preset's, or `custom`).
    pub layout: String,
    /// Wall-clock duration in seconds.
    pub duration_s: f64,
    /// Market messages received by the feed.
    pub market_messages: u64,
    /// Market events the engine processed (incl. health events).
    pub engine_market_events: u64,
    /// New orders sent.
    pub orders_sent: u64,
    /// Cancels sent.
    pub cancels_sent: u64,
    /// Fills applied.
    pub fills: u64,
    /// Execution reports processed.
    pub exec_reports: u64,
    /// Rejections by reason (see [`SessionStatus::rejects`]).
    pub rejects_by_reason: BTreeMap<String, u64>,
    /// Risk rejections in total.
    pub risk_rejects: u64,
    /// Venue rejections.
    pub venue_rejects: u64,
    /// Open orders left when the session stopped (0 after a clean stop).
    pub open_orders_at_stop: u64,
    /// Positions per symbol.
    pub positions: Vec<PositionLine>,
    /// Realised PnL over all symbols.
    pub realised_pnl: Notional,
    /// Daily PnL at the engine's last check.
    pub daily_pnl: Notional,
    /// Internal tick-to-order latency (ns).
    pub tick_to_trade_ns: LatencyLine,
    /// The engine's latched halt reason, if it halted by itself.
    pub halt_reason: Option<String>,
    /// Journal directory and records written.
    pub journal_dir: String,
    /// Journal records the engine wrote this session.
    pub journal_records: u64,
    /// Each runner thread's exit (`name: stopped by request` when clean).
    pub runner_exits: Vec<String>,
    /// Every runner stopped by request and no agent failed.
    pub clean: bool,
}

impl fmt::Display for SessionSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "session {} summary ({} on {}, strategy {}, layout {}, {:.1} s)",
            self.session_id,
            self.symbols.join("+"),
            self.venue,
            self.strategy,
            self.layout,
            self.duration_s
        )?;
        writeln!(
            f,
            "  market messages  {} ({} engine events)",
            self.market_messages, self.engine_market_events
        )?;
        writeln!(
            f,
            "  orders sent      {} (cancels {}, exec reports {})",
            self.orders_sent, self.cancels_sent, self.exec_reports
        )?;
        writeln!(f, "  fills            {}", self.fills)?;
        writeln!(
            f,
            "  rejects          {}",
            fmt_rejects(&self.rejects_by_reason)
        )?;
        for p in &self.positions {
            writeln!(
                f,
                "  position {:<8} {} @ {} realised {} fees {} ({} fills)",
                p.symbol, p.qty, p.avg_price, p.realised_pnl, p.fees, p.fills
            )?;
        }
        writeln!(
            f,
            "  realised PnL     {} (daily {})",
            self.realised_pnl, self.daily_pnl
        )?;
        let t = &self.tick_to_trade_ns;
        writeln!(
            f,
            "  tick-to-trade    p50 {} p99 {} p99.9 {} max {} ({} orders)",
            fmt_ns(t.p50),
            fmt_ns(t.p99),
            fmt_ns(t.p999),
            fmt_ns(t.max),
            t.count
        )?;
        if let Some(h) = &self.halt_reason {
            writeln!(f, "  halted by        {h}")?;
        }
        writeln!(
            f,
            "  journal          {} ({} records this session)",
            self.journal_dir, self.journal_records
        )?;
        writeln!(
            f,
            "  open at stop     {}{}",
            self.open_orders_at_stop,
            if self.clean { "" } else { "  (NOT CLEAN)" }
        )?;
        for r in &self.runner_exits {
            writeln!(f, "  thread           {r}")?;
        }
        Ok(())
    }
}
