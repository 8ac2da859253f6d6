//! Per-order internal latency, measured where a new order's bytes leave.
//!
//! Owns [`GatewayLatency`] (shared through an `Arc`, readable from any
//! thread: [`crate::agent::GatewayAgent::latency`]) and [`OrderStage`].
//! When the gateway's socket write of an `order.place` returns, it records
//! for that order, from the [`OrderCommand`]'s stamps (all taken on clones
//! of one [`MonotonicClock`](talon_core::clock::MonotonicClock), so they are
//! comparable across threads):
//!
//! ```text
//!  trigger.recv ─ decode ─► trigger.decode ─ md ring, strategy, risk ─► decide
//!  ─ decision journaled ─► journal ─ command journaled, order ring ─► popped
//!  ─ encode, sign ─► encoded ─ write(2) ─► written
//! ```
//!
//! * `internal` = written − `trigger.recv` (socket read returned → order
//!   bytes written);
//! * `decode` = `trigger.decode` − `trigger.recv`;
//! * `md_ring_decide_risk` = `decide` − `trigger.decode` (md ring hop,
//!   engine book update, strategy, risk check);
//! * `journal_decision` = `journal` − `decide` (the Decision record append);
//! * `journal_order_ring` = popped − `journal` (the OrderCommand append, the
//!   order ring push and hop);
//! * `encode_sign` = encoded − popped (queueing in the gateway, rate
//!   limiter, encode, HMAC/Ed25519 signature, the frame into the write
//!   buffer);
//! * `socket_write` = written − encoded (the write system call: on loopback
//!   the kernel runs the receiver's TCP processing inside it, and on a
//!   shared core the thread may be preempted there).
//!
//! The six stages add up to `internal`; everything before `socket_write` is
//! Talon's own code. Orders not triggered by a market
//! event (`trigger.recv` zero) are counted, not recorded.
//!
//! Recording is a few relaxed atomic operations on fixed buckets
//! ([`LatencyHistogram`]): no allocation, no lock, single writer (the
//! gateway thread). It never reads a clock itself (the gateway passes the
//! pop and write stamps) and never touches the order.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use talon_core::clock::Nanos;
use talon_core::engine::agent::{LatencyHistogram, LatencySummary};
use talon_core::event::OrderCommand;

/// What one histogram of [`GatewayLatency`] measures (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderStage {
    /// Socket read returned → order bytes written.
    Internal,
    /// Frame read → typed market event.
    Decode,
    /// Md ring hop + engine book update + strategy + risk.
    MdRingDecideRisk,
    /// The Decision record journaled.
    JournalDecision,
    /// The OrderCommand journaled + order ring push and hop.
    JournalOrderRing,
    /// Gateway queue + encode + sign.
    EncodeSign,
    /// The socket write system call.
    SocketWrite,
}

impl OrderStage {
    /// Every stage, `Internal` first, then the breakdown in pipeline order.
    pub const ALL: [OrderStage; 7] = [
        OrderStage::Internal,
        OrderStage::Decode,
        OrderStage::MdRingDecideRisk,
        OrderStage::JournalDecision,
        OrderStage::JournalOrderRing,
        OrderStage::EncodeSign,
        OrderStage::SocketWrite,
    ];

    /// Machine name (`"internal"`, `"decode"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStage::Internal => "internal",
            OrderStage::Decode => "decode",
            OrderStage::MdRingDecideRisk => "md_ring_decide_risk",
            OrderStage::JournalDecision => "journal_decision",
            OrderStage::JournalOrderRing => "journal_order_ring",
            OrderStage::EncodeSign => "encode_sign",
            OrderStage::SocketWrite => "socket_write",
        }
    }

    /// Human label for reports.
    pub const fn label(self) -> &'static str {
        match self {
            OrderStage::Internal => "internal (read → order written)",
            OrderStage::Decode => "decode",
            OrderStage::MdRingDecideRisk => "md ring + decide + risk",
            OrderStage::JournalDecision => "journal (decision)",
            OrderStage::JournalOrderRing => "journal (order) + order ring",
            OrderStage::EncodeSign => "encode + sign",
            OrderStage::SocketWrite => "socket write (syscall)",
        }
    }

    const fn index(self) -> usize {
        match self {
            OrderStage::Internal => 0,
            OrderStage::Decode => 1,
            OrderStage::MdRingDecideRisk => 2,
            OrderStage::JournalDecision => 3,
            OrderStage::JournalOrderRing => 4,
            OrderStage::EncodeSign => 5,
            OrderStage::SocketWrite => 6,
        }
    }
}

/// The gateway's per-order latency histograms (see the module docs).
#[derive(Debug)]
pub struct GatewayLatency {
    stages: [LatencyHistogram; 7],
    recording: AtomicBool,
    untriggered: AtomicU64,
}

impl Default for GatewayLatency {
    fn default() -> Self {
        GatewayLatency::new()
    }
}

/// `b − a` when both are stamped and in order.
#[inline]
fn span(a: Nanos, b: Nanos) -> Option<u64> {
    (a.0 != 0 && b.0 >= a.0).then(|| b.0 - a.0)
}

impl GatewayLatency {
    /// Empty histograms, recording on. Allocates (once).
    pub fn new() -> GatewayLatency {
        GatewayLatency {
            stages: std::array::from_fn(|_| LatencyHistogram::new()),
            recording: AtomicBool::new(true),
            untriggered: AtomicU64::new(0),
        }
    }

    /// Turns recording on or off (a benchmark's warm-up records nothing).
    pub fn set_recording(&self, on: bool) {
        // Relaxed: a statistics switch; no data is published with it.
        self.recording.store(on, Ordering::Relaxed);
    }

    /// Whether orders are being recorded.
    pub fn is_recording(&self) -> bool {
        // Relaxed: see `set_recording`.
        self.recording.load(Ordering::Relaxed)
    }

    /// Records one order taken from the order ring at `popped`, encoded and
    /// signed by `encoded` (the write call began), written at `written` (the
    /// write call returned). Gateway thread only: single writer.
    #[inline]
    pub fn record_order(&self, cmd: &OrderCommand, popped: Nanos, encoded: Nanos, written: Nanos) {
        if !self.is_recording() {
            return;
        }
        let t = &cmd.trigger;
        let Some(internal) = span(t.recv, written) else {
            // Relaxed: a statistics counter.
            self.untriggered.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.stages[0].record(internal);
        let parts = [
            span(t.recv, t.decode),
            span(t.decode, cmd.decide),
            span(cmd.decide, cmd.journal),
            span(cmd.journal, popped),
            span(popped, encoded),
            span(encoded, written),
        ];
        for (h, v) in self.stages[1..].iter().zip(parts) {
            if let Some(v) = v {
                h.record(v);
            }
        }
    }

    /// The histogram of `stage`.
    pub fn histogram(&self, stage: OrderStage) -> &LatencyHistogram {
        &self.stages[stage.index()]
    }

    /// Count and percentiles of `stage`.
    pub fn summary(&self, stage: OrderStage) -> LatencySummary {
        self.histogram(stage).summary()
    }

    /// Orders written with no market trigger (not recorded).
    pub fn untriggered(&self) -> u64 {
        // Relaxed: a statistics counter.
        self.untriggered.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use talon_core::event::Stamps;

    fn cmd(recv: u64, decode: u64, decide: u64, journal: u64) -> OrderCommand {
        let mut c = OrderCommand::ZERO;
        c.trigger = Stamps {
            recv: Nanos(recv),
            decode: Nanos(decode),
        };
        c.decide = Nanos(decide);
        c.journal = Nanos(journal);
        c
    }

    #[test]
    fn stages_add_up_to_internal() {
        let l = GatewayLatency::new();
        l.record_order(
            &cmd(1_000, 1_010, 1_030, 1_040),
            Nanos(1_050),
            Nanos(1_056),
            Nanos(1_060),
        );
        let want = [60, 10, 20, 10, 10, 6, 4];
        for (s, w) in OrderStage::ALL.iter().zip(want) {
            let sum = l.summary(*s);
            assert_eq!((sum.count, sum.p50, sum.max), (1, w, w), "{}", s.as_str());
        }
        let parts: u64 = OrderStage::ALL[1..].iter().map(|s| l.summary(*s).p50).sum();
        assert_eq!(parts, l.summary(OrderStage::Internal).p50);
    }

    #[test]
    fn untriggered_and_paused_orders_are_not_recorded() {
        let l = GatewayLatency::new();
        l.record_order(&OrderCommand::ZERO, Nanos(5), Nanos(7), Nanos(9));
        assert_eq!(l.untriggered(), 1);
        l.set_recording(false);
        assert!(!l.is_recording());
        l.record_order(&cmd(1, 2, 3, 4), Nanos(5), Nanos(5), Nanos(6));
        assert_eq!(l.summary(OrderStage::Internal).count, 0);
        l.set_recording(true);
        // A missing stamp drops that stage only.
        l.record_order(&cmd(1, 0, 3, 4), Nanos(5), Nanos(5), Nanos(6));
        assert_eq!(l.summary(OrderStage::Internal).count, 1);
        assert_eq!(l.summary(OrderStage::Decode).count, 0);
        assert_eq!(l.summary(OrderStage::MdRingDecideRisk).count, 0);
        assert_eq!(l.summary(OrderStage::EncodeSign).count, 1);
        assert_eq!(l.summary(OrderStage::SocketWrite).count, 1);
    }

    #[test]
    fn names_are_distinct() {
        let mut names: Vec<&str> = OrderStage::ALL.iter().map(|s| s.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), OrderStage::ALL.len());
        assert!(OrderStage::ALL.iter().all(|s| !s.label().is_empty()));
    }
}
