//! The engine's observable state: counters, positions, PnL and latency
//! histograms, written by the engine thread and read by any other.
//!
//! Owns [`EngineStats`] (shared by `Arc`), [`EngineCounter`],
//! [`LatencyHistogram`] / [`LatencyStage`] / [`LatencySummary`],
//! [`PositionSnapshot`], [`RejectCounts`], [`EngineSummary`] and
//! [`EngineHandle`] (the cross-thread switches: ready and reducing).
//!
//! Every slot has exactly one writer, the engine thread, which publishes
//! with a `Relaxed` load + store (no read-modify-write); readers use
//! `Relaxed` loads. No value here publishes other memory, so nothing needs
//! ordering: a reader sees each value at most a moment stale, and a summary
//! is not an atomic snapshot across values. The two switches in
//! [`EngineHandle`] are written by other threads (see there). Nothing here
//! allocates after construction or blocks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU16, AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use serde::Serialize;

use crate::engine::position::Position;
use crate::engine::risk::{RejectReason, TradingState};
use crate::halt::HaltReason;
use crate::instrument::InstrumentId;
use crate::num::{Notional, Price, Qty};

/// Adds one on a single-writer slot: a `Relaxed` load and store, no RMW.
#[inline]
fn bump(a: &AtomicU64, n: u64) {
    // Relaxed: single writer (the engine thread); a statistic that
    // publishes nothing else.
    a.store(a.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

macro_rules! engine_counters {
    ($( $(#[$doc:meta])* $name:ident => $text:literal, )+) => {
        /// One engine counter (see each variant).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum EngineCounter { $( $(#[$doc])* $name, )+ }

        impl EngineCounter {
            /// Every counter, in index order.
            pub const ALL: &'static [EngineCounter] = &[$(EngineCounter::$name,)+];
            /// Number of counters.
            pub const COUNT: usize = EngineCounter::ALL.len();
            /// Stable snake_case name.
            pub const fn as_str(self) -> &'static str {
                match self { $( EngineCounter::$name => $text, )+ }
            }
        }
    };
}

engine_counters! {
    /// Duty cycles run.
    Cycles => "cycles",
    /// Market events taken from the md ring.
    MarketEvents => "market_events",
    /// Execution reports taken from the exec ring.
    ExecReports => "exec_reports",
    /// Control messages taken from the control ring.
    ControlMsgs => "control_msgs",
    /// Control messages not applied (invalid limits, per-instrument limits).
    ControlRejected => "control_rejected",
    /// Intents the strategy emitted (and the engine's own cancel-alls).
    Intents => "intents",
    /// Intents lost because the strategy's buffer was full.
    IntentsDropped => "intents_dropped",
    /// Decision records journaled.
    Decisions => "decisions",
    /// New orders pushed to the order ring.
    OrdersSent => "orders_sent",
    /// Cancels and cancel-alls pushed to the order ring.
    CancelsSent => "cancels_sent",
    /// Approved commands the full order ring refused (journaled as not sent).
    OrdersNotSent => "orders_not_sent",
    /// New orders rejected by risk (by reason in [`RejectCounts`]).
    RiskRejects => "risk_rejects",
    /// Fills applied to positions.
    Fills => "fills",
    /// Fills skipped because their trade id was already applied.
    DuplicateFills => "duplicate_fills",
    /// Fills the position book refused (invalid or overflowing).
    PositionErrors => "position_errors",
    /// Orders the venue rejected.
    VenueRejects => "venue_rejects",
    /// Reports for an order not in the open-order table.
    UnknownOrderReports => "unknown_order_reports",
    /// Events or intents for an instrument outside the table.
    UnknownInstrument => "unknown_instrument",
    /// Cancels of orders that are unknown or already being cancelled.
    CancelsSkipped => "cancels_skipped",
    /// Automatic halts (daily loss breach).
    AutoHalts => "auto_halts",
    /// Journal records appended by the engine.
    JournalRecords => "journal_records",
}

/// A pipeline stage whose latency the engine records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum LatencyStage {
    /// Market event decoded by the feed → seen by the engine's duty cycle
    /// (ring hop plus queueing).
    MdRing = 0,
    /// Exec report decoded by the gateway → seen by the engine.
    ExecRing = 1,
    /// Duty-cycle clock → risk verdict (strategy + risk).
    Decide = 2,
    /// Risk verdict → command pushed to the order ring (journal + push).
    JournalPush = 3,
    /// Triggering market event received by the feed → order pushed
    /// (internal tick-to-order, before the gateway).
    TickToOrder = 4,
}

impl LatencyStage {
    /// Every stage.
    pub const ALL: [LatencyStage; 5] = [
        LatencyStage::MdRing,
        LatencyStage::ExecRing,
        LatencyStage::Decide,
        LatencyStage::JournalPush,
        LatencyStage::TickToOrder,
    ];

    /// Stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            LatencyStage::MdRing => "md_ring",
            LatencyStage::ExecRing => "exec_ring",
            LatencyStage::Decide => "decide",
            LatencyStage::JournalPush => "journal_push",
            LatencyStage::TickToOrder => "tick_to_order",
        }
    }
}

/// Percentiles of one histogram, in nanoseconds (each within 1/32 above
/// the true value; exact below 64 ns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value.
    pub max: u64,
}

/// A log-linear latency histogram of atomic buckets: exact below 64 ns,
/// then 32 sub-buckets per power of two (≤ 3.2 % relative error), up to
/// `u64::MAX`. Recording is two `Relaxed` load/stores (single writer); any
/// thread may read. Allocates once.
#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: Box<[AtomicU64]>,
    max: AtomicU64,
}

const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
const LINEAR: usize = 64;

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram::new()
    }
}

impl LatencyHistogram {
    /// Number of buckets.
    pub const BUCKETS: usize = LINEAR + (64 - 6) * SUB;

    /// An empty histogram.
    pub fn new() -> LatencyHistogram {
        LatencyHistogram {
            buckets: (0..Self::BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
        }
    }

    #[inline]
    fn index(v: u64) -> usize {
        if v < LINEAR as u64 {
            return v as usize;
        }
        let e = 63 - v.leading_zeros(); // ≥ 6
        let sub = ((v >> (e - SUB_BITS)) as usize) & (SUB - 1);
        LINEAR + (e as usize - 6) * SUB + sub
    }

    /// `[low, high]` of bucket `i`.
    fn bounds(i: usize) -> (u64, u64) {
        if i < LINEAR {
            return (i as u64, i as u64);
        }
        let k = i - LINEAR;
        let e = (k / SUB) as u32 + 6;
        let sub = (k % SUB) as u64;
        let width = 1u64 << (e - SUB_BITS);
        let low = (SUB as u64 + sub) << (e - SUB_BITS);
        (low, low.saturating_add(width - 1))
    }

    /// Records one value (engine thread only: single writer).
    #[inline]
    pub fn record(&self, ns: u64) {
        if let Some(b) = self.buckets.get(Self::index(ns)) {
            bump(b, 1);
        }
        // Relaxed: single writer; see the module docs.
        if ns > self.max.load(Ordering::Relaxed) {
            self.max.store(ns, Ordering::Relaxed);
        }
    }

    /// Values recorded (sums the buckets).
    pub fn count(&self) -> u64 {
        // Relaxed: statistics, see the module docs.
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The value at quantile `ppm` (parts per million, 500 000 = median):
    /// the upper bound of the bucket holding that rank, capped at the max.
    pub fn value_at_ppm(&self, ppm: u32) -> u64 {
        let counts = || self.buckets.iter().map(|b| b.load(Ordering::Relaxed));
        let total: u64 = counts().sum();
        if total == 0 {
            return 0;
        }
        let rank = (u128::from(total) * u128::from(ppm.min(1_000_000))).div_ceil(1_000_000);
        let rank = u64::try_from(rank).unwrap_or(total).max(1);
        let max = self.max.load(Ordering::Relaxed);
        let mut seen = 0u64;
        for (i, c) in counts().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::bounds(i).1.min(max);
            }
        }
        max
    }

    /// Count and the usual percentiles.
    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            count: self.count(),
            p50: self.value_at_ppm(500_000),
            p90: self.value_at_ppm(900_000),
            p99: self.value_at_ppm(990_000),
            p999: self.value_at_ppm(999_000),
            // Relaxed: statistics.
            max: self.max.load(Ordering::Relaxed),
        }
    }

    /// Calls `f(low, high, count)` for every non-empty bucket, in order (to
    /// export into an HDR histogram or a plot).
    pub fn for_each_bucket(&self, mut f: impl FnMut(u64, u64, u64)) {
        for (i, b) in self.buckets.iter().enumerate() {
            // Relaxed: statistics.
            let c = b.load(Ordering::Relaxed);
            if c > 0 {
                let (lo, hi) = Self::bounds(i);
                f(lo, hi, c);
            }
        }
    }
}

/// One instrument's position as last published by the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PositionSnapshot {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Signed quantity.
    pub qty: Qty,
    /// Average entry price (zero when flat).
    pub avg_price: Price,
    /// Realised PnL (quote units).
    pub realised: Notional,
    /// Fees valued in quote units.
    pub fees: Notional,
    /// Fills applied.
    pub fills: u64,
}

#[derive(Debug, Default)]
struct PositionSlot {
    qty: AtomicI64,
    avg_price: AtomicI64,
    realised: AtomicI64,
    fees: AtomicI64,
    fills: AtomicU64,
}

/// Rejections by reason: `[count; RejectReason::ALL.len()]` in
/// `RejectReason::ALL` order. Serialises as `{reason: count}` for non-zero
/// counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RejectCounts(pub [u64; RejectReason::ALL.len()]);

impl RejectCounts {
    /// The count for `reason`.
    pub fn get(&self, reason: RejectReason) -> u64 {
        reject_index(reason)
            .and_then(|i| self.0.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// `(reason, count)` for every non-zero count.
    pub fn iter(&self) -> impl Iterator<Item = (RejectReason, u64)> + '_ {
        RejectReason::ALL
            .iter()
            .zip(self.0.iter())
            .filter(|(_, c)| **c > 0)
            .map(|(r, c)| (*r, *c))
    }

    /// Sum of all counts.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

impl Serialize for RejectCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for (r, c) in self.iter() {
            m.serialize_entry(r.as_str(), &c)?;
        }
        m.end()
    }
}

fn reject_index(reason: RejectReason) -> Option<usize> {
    RejectReason::ALL.iter().position(|r| *r == reason)
}

/// Saturates an `i128` raw amount into an `i64` slot.
fn sat(raw: i128) -> i64 {
    i64::try_from(raw).unwrap_or(if raw < 0 { i64::MIN } else { i64::MAX })
}

/// Everything a status line or an end-of-session summary needs. `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EngineSummary {
    /// Trading state.
    pub state: TradingState,
    /// Why the engine is halted by a halt it latched (operator, daily loss…),
    /// if it is.
    pub halt_reason: Option<&'static str>,
    /// Market events taken.
    pub market_messages: u64,
    /// Execution reports taken.
    pub exec_reports: u64,
    /// Control messages taken.
    pub control_msgs: u64,
    /// Intents emitted.
    pub intents: u64,
    /// Intents lost to a full buffer.
    pub intents_dropped: u64,
    /// New orders sent.
    pub orders_sent: u64,
    /// Cancels sent.
    pub cancels_sent: u64,
    /// Approved commands the full ring refused.
    pub orders_not_sent: u64,
    /// Fills applied.
    pub fills: u64,
    /// Duplicate fills skipped.
    pub duplicate_fills: u64,
    /// Venue rejections.
    pub venue_rejects: u64,
    /// Risk rejections in total.
    pub risk_rejects: u64,
    /// Risk rejections by reason.
    pub rejects: RejectCounts,
    /// Open orders.
    pub open_orders: u64,
    /// Realised PnL over all instruments.
    pub realised_pnl: Notional,
    /// Daily PnL (realised + unrealised − fees) at the last check.
    pub daily_pnl: Notional,
    /// Internal tick-to-order latency.
    pub tick_to_order: LatencySummary,
}

/// The engine's shared statistics (see the module docs).
#[derive(Debug)]
pub struct EngineStats {
    counters: [AtomicU64; EngineCounter::COUNT],
    rejects: [AtomicU64; RejectReason::ALL.len()],
    state: AtomicU8,
    latched: AtomicU16,
    open_orders: AtomicU64,
    daily_pnl: AtomicI64,
    positions: Box<[PositionSlot]>,
    latency: [LatencyHistogram; LatencyStage::ALL.len()],
}

impl EngineStats {
    /// Zeroed stats for `instruments` instruments, state `Halted`.
    pub fn new(instruments: usize) -> EngineStats {
        EngineStats {
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            rejects: std::array::from_fn(|_| AtomicU64::new(0)),
            state: AtomicU8::new(TradingState::Halted.as_u8()),
            latched: AtomicU16::new(0),
            open_orders: AtomicU64::new(0),
            daily_pnl: AtomicI64::new(0),
            positions: (0..instruments).map(|_| PositionSlot::default()).collect(),
            latency: std::array::from_fn(|_| LatencyHistogram::new()),
        }
    }

    /// A counter's value.
    #[inline]
    pub fn get(&self, c: EngineCounter) -> u64 {
        // Relaxed: statistics, see the module docs.
        self.counters
            .get(c as usize)
            .map_or(0, |a| a.load(Ordering::Relaxed))
    }

    #[inline]
    pub(crate) fn add(&self, c: EngineCounter, n: u64) {
        if let Some(a) = self.counters.get(c as usize) {
            bump(a, n);
        }
    }

    #[inline]
    pub(crate) fn reject(&self, reason: RejectReason) {
        if let Some(a) = reject_index(reason).and_then(|i| self.rejects.get(i)) {
            bump(a, 1);
        }
        self.add(EngineCounter::RiskRejects, 1);
    }

    /// Rejections by reason.
    pub fn rejects(&self) -> RejectCounts {
        // Relaxed: statistics.
        RejectCounts(std::array::from_fn(|i| {
            self.rejects.get(i).map_or(0, |a| a.load(Ordering::Relaxed))
        }))
    }

    /// The trading state last published.
    pub fn state(&self) -> TradingState {
        // Relaxed: statistics.
        TradingState::from_u8(self.state.load(Ordering::Relaxed)).unwrap_or(TradingState::Halted)
    }

    pub(crate) fn set_state(&self, s: TradingState, latched: Option<HaltReason>) {
        // Relaxed: statistics; single writer.
        self.state.store(s.as_u8(), Ordering::Relaxed);
        self.latched
            .store(latched.map_or(0, HaltReason::as_u16), Ordering::Relaxed);
    }

    /// The halt the engine latched (control halt, daily loss), if any.
    pub fn latched_halt(&self) -> Option<HaltReason> {
        // Relaxed: statistics.
        HaltReason::from_u16(self.latched.load(Ordering::Relaxed))
    }

    pub(crate) fn set_open_orders(&self, n: usize) {
        // Relaxed: statistics; single writer.
        self.open_orders.store(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn set_daily_pnl(&self, pnl: Notional) {
        // Relaxed: statistics; single writer.
        self.daily_pnl.store(sat(pnl.raw()), Ordering::Relaxed);
    }

    /// Daily PnL at the engine's last check.
    pub fn daily_pnl(&self) -> Notional {
        // Relaxed: statistics. |i64| < the Notional bound: always Some.
        Notional::from_raw(i128::from(self.daily_pnl.load(Ordering::Relaxed)))
            .unwrap_or(Notional::ZERO)
    }

    pub(crate) fn publish_position(&self, id: InstrumentId, p: &Position) {
        if let Some(s) = self.positions.get(id.index()) {
            // Relaxed: statistics; single writer.
            s.qty.store(p.qty().raw(), Ordering::Relaxed);
            s.avg_price.store(p.avg_price().raw(), Ordering::Relaxed);
            s.realised.store(sat(p.realised().raw()), Ordering::Relaxed);
            s.fees
                .store(sat(p.fees_in_quote().raw()), Ordering::Relaxed);
            s.fills.store(p.fills(), Ordering::Relaxed);
        }
    }

    /// The last published position of `id`.
    pub fn position(&self, id: InstrumentId) -> Option<PositionSnapshot> {
        let s = self.positions.get(id.index())?;
        let n = |v: i64| Notional::from_raw(i128::from(v)).unwrap_or(Notional::ZERO);
        // Relaxed: statistics.
        Some(PositionSnapshot {
            instrument: id,
            qty: Qty::from_raw(s.qty.load(Ordering::Relaxed)),
            avg_price: Price::from_raw(s.avg_price.load(Ordering::Relaxed)),
            realised: n(s.realised.load(Ordering::Relaxed)),
            fees: n(s.fees.load(Ordering::Relaxed)),
            fills: s.fills.load(Ordering::Relaxed),
        })
    }

    /// Every instrument's last published position.
    pub fn positions(&self) -> impl Iterator<Item = PositionSnapshot> + '_ {
        (0..self.positions.len())
            .filter_map(|i| self.position(InstrumentId(u16::try_from(i).ok()?)))
    }

    /// The histogram of `stage`.
    pub fn histogram(&self, stage: LatencyStage) -> &LatencyHistogram {
        &self.latency[stage as usize]
    }

    #[inline]
    pub(crate) fn record(&self, stage: LatencyStage, ns: u64) {
        self.latency[stage as usize].record(ns);
    }

    /// Everything for a status line (not an atomic snapshot; see module docs).
    pub fn summary(&self) -> EngineSummary {
        use EngineCounter as C;
        let rejects = self.rejects();
        let realised = self.positions().fold(Notional::ZERO, |acc, p| {
            acc.checked_add(p.realised).unwrap_or(acc)
        });
        EngineSummary {
            state: self.state(),
            halt_reason: self.latched_halt().map(HaltReason::as_str),
            market_messages: self.get(C::MarketEvents),
            exec_reports: self.get(C::ExecReports),
            control_msgs: self.get(C::ControlMsgs),
            intents: self.get(C::Intents),
            intents_dropped: self.get(C::IntentsDropped),
            orders_sent: self.get(C::OrdersSent),
            cancels_sent: self.get(C::CancelsSent),
            orders_not_sent: self.get(C::OrdersNotSent),
            fills: self.get(C::Fills),
            duplicate_fills: self.get(C::DuplicateFills),
            venue_rejects: self.get(C::VenueRejects),
            risk_rejects: rejects.total(),
            rejects,
            // Relaxed: statistics.
            open_orders: self.open_orders.load(Ordering::Relaxed),
            realised_pnl: realised,
            daily_pnl: self.daily_pnl(),
            tick_to_order: self.histogram(LatencyStage::TickToOrder).summary(),
        }
    }
}

/// The engine's cross-thread handle: its stats, and the two switches other
/// threads flip.
///
/// * `set_ready(true)`: feed and gateway are connected and state is
///   reconciled; the engine may leave `Halted` (it still stays halted while
///   the process halt flag or a latched halt is set). `set_ready(false)`
///   halts it again (e.g. on a disconnect).
/// * `set_reducing(true)`: the engine runs `Reducing` instead of `Active`
///   (only risk-reducing orders pass); `false` returns to `Active`.
///
/// Both are `Release` stores read with `Acquire` once per duty cycle, so
/// whatever the caller wrote before flipping (reconciled state) is visible
/// to the engine when it sees the flip.
#[derive(Clone, Debug)]
pub struct EngineHandle {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) ready: CachePadded<AtomicBool>,
    pub(crate) reducing: CachePadded<AtomicBool>,
    pub(crate) stats: EngineStats,
}

impl Shared {
    pub(crate) fn new(instruments: usize) -> Shared {
        Shared {
            ready: CachePadded::new(AtomicBool::new(false)),
            reducing: CachePadded::new(AtomicBool::new(false)),
            stats: EngineStats::new(instruments),
        }
    }

    #[inline]
    pub(crate) fn ready(&self) -> bool {
        // Acquire: pairs with the Release store in `EngineHandle::set_ready`.
        self.ready.load(Ordering::Acquire)
    }

    #[inline]
    pub(crate) fn reducing(&self) -> bool {
        // Acquire: pairs with the Release store in `EngineHandle::set_reducing`.
        self.reducing.load(Ordering::Acquire)
    }
}

impl EngineHandle {
    /// Tells the engine feed and gateway are connected and reconciled (or
    /// not any more).
    pub fn set_ready(&self, ready: bool) {
        // Release: pairs with the Acquire load in `Shared::ready`.
        self.shared.ready.store(ready, Ordering::Release);
    }

    /// Switches between `Reducing` and `Active`.
    pub fn set_reducing(&self, reducing: bool) {
        // Release: pairs with the Acquire load in `Shared::reducing`.
        self.shared.reducing.store(reducing, Ordering::Release);
    }

    /// True once `set_ready(true)` was called (and not undone).
    pub fn is_ready(&self) -> bool {
        self.shared.ready()
    }

    /// The engine's statistics.
    pub fn stats(&self) -> &EngineStats {
        &self.shared.stats
    }

    /// [`EngineStats::summary`].
    pub fn summary(&self) -> EngineSummary {
        self.shared.stats.summary()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn histogram_buckets_cover_every_value_within_3_percent() {
        for v in [
            0u64,
            1,
            63,
            64,
            65,
            127,
            128,
            1000,
            12_345,
            1 << 40,
            u64::MAX,
        ] {
            let i = LatencyHistogram::index(v);
            assert!(i < LatencyHistogram::BUCKETS, "{v}");
            let (lo, hi) = LatencyHistogram::bounds(i);
            assert!(lo <= v && v <= hi, "{v} not in [{lo}, {hi}]");
            assert!((hi - lo) <= lo / 32, "{v}: bucket too wide");
        }
    }

    #[test]
    fn histogram_percentiles() {
        let h = LatencyHistogram::new();
        assert_eq!(h.summary(), LatencySummary::default());
        for v in 1..=1000u64 {
            h.record(v);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert_eq!(s.max, 1000);
        assert!((500..=516).contains(&s.p50), "{s:?}");
        assert!((990..=1000).contains(&s.p99), "{s:?}");
        assert_eq!(h.value_at_ppm(1_000_000), 1000);
        let mut n = 0;
        h.for_each_bucket(|lo, hi, c| {
            assert!(lo <= hi);
            n += c;
        });
        assert_eq!(n, 1000);
    }

    #[test]
    fn summary_reads_what_was_published() {
        let st = EngineStats::new(2);
        st.add(EngineCounter::OrdersSent, 3);
        st.reject(RejectReason::MaxPosition);
        st.reject(RejectReason::MaxPosition);
        st.reject(RejectReason::PriceBand);
        st.set_state(TradingState::Active, None);
        st.set_daily_pnl(Notional::parse("-12.5").unwrap());
        let s = st.summary();
        assert_eq!(s.orders_sent, 3);
        assert_eq!(s.risk_rejects, 3);
        assert_eq!(s.rejects.get(RejectReason::MaxPosition), 2);
        assert_eq!(s.state, TradingState::Active);
        assert_eq!(s.daily_pnl, Notional::parse("-12.5").unwrap());
        let v = serde_json::to_value(s).unwrap();
        assert_eq!(v["rejects"]["max_position"], 2);
        assert_eq!(v["rejects"]["price_band"], 1);
        assert_eq!(v["state"], "active");
        assert_eq!(st.positions().count(), 2);
        let names: std::collections::HashSet<_> =
            EngineCounter::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), EngineCounter::COUNT);
    }
}
