//! Typed, counted SPSC rings: the arrows between agents in DESIGN.md §1.
//!
//! Owns [`ring`] (a named [`RingProducer`]/[`RingConsumer`] pair over
//! [`rtrb`]), [`RingFull`] (a refused push hands the value back), [`RingStats`]
//! (`CachePadded` counters readable from any thread) and [`RingConfig`] (the
//! capacities of the md, order, exec and control rings, from config).
//!
//! What it never does: allocate after [`ring`] returns, block, take a lock,
//! or drop a value silently. A full ring is an `Err(RingFull(value))` at the
//! push site, counted in [`RingStats`]; the caller decides (conflate, refuse,
//! retry) and counts its decision.
//!
//! ## Counters and their cost
//!
//! Each counter has exactly one writer: `pushed` and `full` the producer,
//! `popped` and `high_water` the consumer. Each end keeps its own plain `u64`
//! and publishes it with a `Relaxed` **store** (no read-modify-write, no
//! fence; a plain `mov` on x86): `Relaxed` is enough because a counter never
//! publishes other memory (the values themselves travel through rtrb's own
//! `Release`/`Acquire` on its head and tail), and a reader on another thread
//! only needs *some* recent value, which coherence guarantees it eventually
//! sees. Every counter slot is `CachePadded`, so the producer's stores never
//! invalidate the line the consumer's stores live on.
//!
//! **High-water mark.** An exact maximum occupancy would need the producer to
//! load the consumer's head (a cross-core cache miss) on every push. Instead
//! the consumer updates it from what it already knows: after each `pop` it
//! reads rtrb's *cached* occupancy (`Consumer::cached_slots`, two local
//! `Cell` reads, no atomic) and `drain` uses the one `slots()` load it needs
//! anyway to size the batch. The consumer's view of the tail is refreshed
//! whenever it runs out of known items, and at that moment the count is exact,
//! so the mark is the largest occupancy the consumer *observed*: a lower bound
//! of the true maximum, exact whenever the backlog peaks at a refresh (the
//! case that matters: a consumer falling behind sees its whole backlog at its
//! next refresh). Whenever a push was refused, the ring was provably full, so
//! [`RingStats::snapshot`] reports `high_water = capacity` once `full > 0`.
//!
//! Measured (release build with the workspace's release profile, this noisy
//! 2-core VM shared with other builds, threads pinned to cores 0 and 1, a
//! `u64` ping-pong over two rings of 64 slots, 1 000 000 round trips, one-way
//! p50 = round-trip p50 / 2, 5 rounds): raw rtrb 75–80 ns, this ring 80 ns
//! (1.00–1.07×). A variant that also loaded the consumer's head after every
//! push for an exact mark was not measurably slower in that ping-pong
//! (70 ns: there the head line moves between cores anyway), and in a
//! streaming test (10 M pushes through 4096 slots) all three were within
//! this machine's noise (5.5–22 ns per message, run to run). The consumer-side
//! mark is kept because by construction it adds no load of the other end's
//! index (no extra cache-line transfer), whatever the machine.
//!
//! The `talon bench ring` benchmark is the reference measurement.
//!
//! ```
//! use talon_core::ring::{ring, RingFull};
//! let (mut tx, mut rx) = ring::<u64>("md", 2);
//! assert!(tx.push(1).is_ok());
//! assert!(tx.push(2).is_ok());
//! assert_eq!(tx.push(3), Err(RingFull(3))); // the value comes back
//! assert_eq!(rx.pop(), Some(1));
//! let mut seen = Vec::new();
//! assert_eq!(rx.drain(16, |v| seen.push(v)), 1);
//! assert_eq!(seen, [2]);
//! let s = tx.stats().snapshot();
//! assert_eq!((s.pushed, s.full, s.popped, s.high_water), (2, 1, 2, 2));
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use serde::{Deserialize, Serialize};

use crate::event::{ControlMsg, ExecReport, MarketEvent, OrderCommand};

/// A push refused because the ring was full; the value comes back so the
/// caller can conflate, refuse or retry it, and count that.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RingFull<T>(pub T);

impl<T> RingFull<T> {
    /// The value that was not pushed.
    #[inline]
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for RingFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RingFull(..)")
    }
}

impl<T> fmt::Display for RingFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ring full")
    }
}

impl<T> std::error::Error for RingFull<T> {}

/// Counters of one ring, shared by both ends (and any reader) by `Arc`.
#[derive(Debug)]
pub struct RingStats {
    name: &'static str,
    capacity: usize,
    /// Written by the producer only.
    pushed: CachePadded<AtomicU64>,
    /// Written by the producer only.
    full: CachePadded<AtomicU64>,
    /// Written by the consumer only.
    popped: CachePadded<AtomicU64>,
    /// Written by the consumer only (see the module doc).
    high_water: CachePadded<AtomicU64>,
}

/// A point-in-time copy of a ring's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RingSnapshot {
    /// The ring's name (`"md"`, `"order"`, …).
    pub name: &'static str,
    /// Slots in the ring.
    pub capacity: usize,
    /// Values accepted.
    pub pushed: u64,
    /// Pushes refused because the ring was full.
    pub full: u64,
    /// Values taken by the consumer.
    pub popped: u64,
    /// Largest occupancy seen (see the module doc); `capacity` once `full > 0`.
    pub high_water: u64,
}

impl RingSnapshot {
    /// Values in flight at snapshot time (approximate while both ends run:
    /// the two counters are read one after the other).
    pub fn in_flight(&self) -> u64 {
        self.pushed.saturating_sub(self.popped)
    }
}

impl RingStats {
    fn new(name: &'static str, capacity: usize) -> RingStats {
        RingStats {
            name,
            capacity,
            pushed: CachePadded::new(AtomicU64::new(0)),
            full: CachePadded::new(AtomicU64::new(0)),
            popped: CachePadded::new(AtomicU64::new(0)),
            high_water: CachePadded::new(AtomicU64::new(0)),
        }
    }

    /// The ring's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The ring's capacity in slots.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Reads every counter (each `Relaxed`: statistics that publish nothing;
    /// they pair with no store, see the module doc).
    pub fn snapshot(&self) -> RingSnapshot {
        let pushed = self.pushed.load(Ordering::Relaxed);
        let full = self.full.load(Ordering::Relaxed);
        let popped = self.popped.load(Ordering::Relaxed);
        let observed = self.high_water.load(Ordering::Relaxed);
        let high_water = if full > 0 {
            self.capacity as u64
        } else {
            observed
        };
        RingSnapshot {
            name: self.name,
            capacity: self.capacity,
            pushed,
            full,
            popped,
            high_water,
        }
    }
}

/// The writing end of a ring. `Send`, not `Clone`: one producer.
#[derive(Debug)]
pub struct RingProducer<T> {
    inner: rtrb::Producer<T>,
    stats: Arc<RingStats>,
    pushed: u64,
    full: u64,
}

/// The reading end of a ring. `Send`, not `Clone`: one consumer.
#[derive(Debug)]
pub struct RingConsumer<T> {
    inner: rtrb::Consumer<T>,
    stats: Arc<RingStats>,
    popped: u64,
    high_water: u64,
}

/// Creates a named SPSC ring of `capacity` slots (allocated here, once).
///
/// A capacity of 0 gives a ring that refuses every push; [`RingConfig`]
/// validation keeps configured rings at ≥ 1.
pub fn ring<T: Copy + Send>(
    name: &'static str,
    capacity: usize,
) -> (RingProducer<T>, RingConsumer<T>) {
    let (p, c) = rtrb::RingBuffer::new(capacity);
    let stats = Arc::new(RingStats::new(name, capacity));
    (
        RingProducer {
            inner: p,
            stats: Arc::clone(&stats),
            pushed: 0,
            full: 0,
        },
        RingConsumer {
            inner: c,
            stats,
            popped: 0,
            high_water: 0,
        },
    )
}

impl<T> RingProducer<T> {
    /// Pushes `v`, or hands it back in [`RingFull`] (counted) if the ring is
    /// full. Never blocks, never allocates.
    #[inline]
    pub fn push(&mut self, v: T) -> Result<(), RingFull<T>> {
        match self.inner.push(v) {
            Ok(()) => {
                self.pushed += 1;
                // `Relaxed` store, single writer: see the module doc.
                self.stats.pushed.store(self.pushed, Ordering::Relaxed);
                Ok(())
            }
            Err(rtrb::PushError::Full(v)) => {
                self.full += 1;
                // `Relaxed` store, single writer: see the module doc.
                self.stats.full.store(self.full, Ordering::Relaxed);
                Err(RingFull(v))
            }
        }
    }

    /// Whether a push would currently be refused (may load the consumer's
    /// position; the ring can stop being full at any moment).
    #[inline]
    pub fn is_full(&self) -> bool {
        self.inner.is_full()
    }

    /// Free slots right now (loads the consumer's position).
    pub fn free_slots(&self) -> usize {
        self.inner.slots()
    }

    /// Whether the consumer has been dropped.
    pub fn is_abandoned(&self) -> bool {
        self.inner.is_abandoned()
    }

    /// This ring's counters.
    pub fn stats(&self) -> &Arc<RingStats> {
        &self.stats
    }
}

impl<T> RingConsumer<T> {
    /// Takes the oldest value, if any. Never blocks, never allocates.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        let v = self.inner.pop().ok()?;
        self.popped += 1;
        // `Relaxed` store, single writer: see the module doc.
        self.stats.popped.store(self.popped, Ordering::Relaxed);
        // Occupancy just before this pop, from rtrb's cached indices (local
        // `Cell`s, no atomic load; see the module doc).
        self.note_occupancy(self.inner.cached_slots() + 1);
        Some(v)
    }

    /// Takes up to `limit` values in order, calling `f` on each; returns how
    /// many. Bounded so one busy ring cannot starve the other work of a duty
    /// cycle (STYLE.md rule 3). One atomic load of the producer's position.
    #[inline]
    pub fn drain(&mut self, limit: usize, mut f: impl FnMut(T)) -> usize {
        let available = self.inner.slots();
        if available == 0 {
            return 0;
        }
        self.note_occupancy(available);
        let n = available.min(limit);
        let mut taken = 0;
        while taken < n {
            // `slots()` refreshed rtrb's cached tail, so these pops read no
            // atomic; `pop` cannot fail for the first `available` items.
            match self.inner.pop() {
                Ok(v) => {
                    f(v);
                    taken += 1;
                }
                Err(rtrb::PopError::Empty) => break,
            }
        }
        self.popped += taken as u64;
        // `Relaxed` store, single writer: see the module doc.
        self.stats.popped.store(self.popped, Ordering::Relaxed);
        taken
    }

    /// Values ready to pop right now (loads the producer's position).
    pub fn len(&self) -> usize {
        self.inner.slots()
    }

    /// Whether nothing is ready to pop.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Whether the producer has been dropped.
    pub fn is_abandoned(&self) -> bool {
        self.inner.is_abandoned()
    }

    /// This ring's counters.
    pub fn stats(&self) -> &Arc<RingStats> {
        &self.stats
    }

    #[inline]
    fn note_occupancy(&mut self, occupancy: usize) {
        let occupancy = occupancy as u64;
        if occupancy > self.high_water {
            self.high_water = occupancy;
            // `Relaxed` store, single writer: see the module doc.
            self.stats
                .high_water
                .store(self.high_water, Ordering::Relaxed);
        }
    }
}

/// The largest capacity a configured ring may have (slots, not bytes).
pub const MAX_RING_CAPACITY: usize = 1 << 22;

/// Capacities of the four named rings (DESIGN.md §1), from config:
///
/// ```toml
/// [rings]
/// md = 4096
/// order = 1024
/// exec = 1024
/// control = 256
/// ```
///
/// Any omitted key takes its default. Capacities need not be powers of two
/// (rtrb does not mask indices); they must be in `1..=MAX_RING_CAPACITY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RingConfig {
    /// Feed → engine market events. Deep: bursts of book updates.
    pub md: usize,
    /// Engine → gateway order commands.
    pub order: usize,
    /// Gateway → engine exec reports.
    pub exec: usize,
    /// Control → engine commands (rare, small).
    pub control: usize,
}

impl Default for RingConfig {
    fn default() -> RingConfig {
        RingConfig {
            md: 4096,
            order: 1024,
            exec: 1024,
            control: 256,
        }
    }
}

/// A ring capacity rejected by [`RingConfig::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingConfigError {
    /// Capacity 0 would refuse every push.
    #[error("rings.{key}: capacity must be at least 1")]
    Zero {
        /// The config key (`md`, `order`, `exec`, `control`).
        key: &'static str,
    },
    /// Capacity above [`MAX_RING_CAPACITY`].
    #[error("rings.{key}: capacity {capacity} exceeds the maximum {max}")]
    TooLarge {
        /// The config key.
        key: &'static str,
        /// The configured capacity.
        capacity: usize,
        /// [`MAX_RING_CAPACITY`].
        max: usize,
    },
}

impl RingConfig {
    /// `(key, capacity)` for each ring, in DESIGN.md order.
    pub fn entries(&self) -> [(&'static str, usize); 4] {
        [
            ("md", self.md),
            ("order", self.order),
            ("exec", self.exec),
            ("control", self.control),
        ]
    }

    /// Checks every capacity; the error names the key.
    pub fn validate(&self) -> Result<(), RingConfigError> {
        for (key, capacity) in self.entries() {
            if capacity == 0 {
                return Err(RingConfigError::Zero { key });
            }
            if capacity > MAX_RING_CAPACITY {
                return Err(RingConfigError::TooLarge {
                    key,
                    capacity,
                    max: MAX_RING_CAPACITY,
                });
            }
        }
        Ok(())
    }
}

/// Producer end of the md ring (feed → engine).
pub type MdProducer = RingProducer<MarketEvent>;
/// Consumer end of the md ring (feed → engine).
pub type MdConsumer = RingConsumer<MarketEvent>;
/// Producer end of the order ring (engine → gateway).
pub type OrderProducer = RingProducer<OrderCommand>;
/// Consumer end of the order ring (engine → gateway).
pub type OrderConsumer = RingConsumer<OrderCommand>;
/// Producer end of the exec ring (gateway → engine).
pub type ExecProducer = RingProducer<ExecReport>;
/// Consumer end of the exec ring (gateway → engine).
pub type ExecConsumer = RingConsumer<ExecReport>;
/// Producer end of the control ring (control → engine).
pub type ControlProducer = RingProducer<ControlMsg>;
/// Consumer end of the control ring (control → engine).
pub type ControlConsumer = RingConsumer<ControlMsg>;

/// The four rings of DESIGN.md §1, built once at startup from [`RingConfig`].
///
/// The wiring function takes the ends out (`rings.md.0` to the feed,
/// `rings.md.1` to the engine, …); each end moves to exactly one agent.
#[derive(Debug)]
pub struct Rings {
    /// Feed → engine market events.
    pub md: (MdProducer, MdConsumer),
    /// Engine → gateway order commands.
    pub order: (OrderProducer, OrderConsumer),
    /// Gateway → engine exec reports.
    pub exec: (ExecProducer, ExecConsumer),
    /// Control → engine commands.
    pub control: (ControlProducer, ControlConsumer),
}

impl Rings {
    /// Validates `config` and allocates the four rings (startup only).
    pub fn new(config: &RingConfig) -> Result<Rings, RingConfigError> {
        config.validate()?;
        Ok(Rings {
            md: ring("md", config.md),
            order: ring("order", config.order),
            exec: ring("exec", config.exec),
            control: ring("control", config.control),
        })
    }

    /// The four rings' shared counters, for metrics and `status`.
    pub fn stats(&self) -> [Arc<RingStats>; 4] {
        [
            Arc::clone(self.md.0.stats()),
            Arc::clone(self.order.0.stats()),
            Arc::clone(self.exec.0.stats()),
            Arc::clone(self.control.0.stats()),
        ]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    #[test]
    fn counters_exact_when_full_and_empty() {
        let (mut tx, mut rx) = ring::<u32>("t", 4);
        assert_eq!(rx.pop(), None);
        assert_eq!(rx.drain(10, |_| unreachable!()), 0);
        for i in 0..4 {
            tx.push(i).unwrap();
        }
        assert!(tx.is_full());
        assert_eq!(tx.push(9), Err(RingFull(9)));
        assert_eq!(tx.push(10).unwrap_err().into_inner(), 10);
        let s = tx.stats().snapshot();
        assert_eq!((s.pushed, s.full, s.popped, s.high_water), (4, 2, 0, 4));
        assert_eq!(s.name, "t");
        assert_eq!(s.capacity, 4);
        assert_eq!(s.in_flight(), 4);
        let mut got = vec![];
        assert_eq!(rx.drain(3, |v| got.push(v)), 3);
        assert_eq!(rx.pop(), Some(3));
        assert_eq!(rx.pop(), None);
        assert_eq!(got, [0, 1, 2]);
        let s = rx.stats().snapshot();
        assert_eq!((s.pushed, s.full, s.popped, s.high_water), (4, 2, 4, 4));
        assert_eq!(s.in_flight(), 0);
    }

    #[test]
    fn high_water_without_full_is_observed_occupancy() {
        let (mut tx, mut rx) = ring::<u8>("t", 8);
        for i in 0..3 {
            tx.push(i).unwrap();
        }
        assert_eq!(rx.pop(), Some(0)); // refresh sees 3
        assert_eq!(rx.stats().snapshot().high_water, 3);
        assert_eq!(rx.drain(usize::MAX, |_| {}), 2);
        for i in 0..6 {
            tx.push(i).unwrap();
        }
        assert_eq!(rx.drain(1, |_| {}), 1); // drain sees 6
        let s = rx.stats().snapshot();
        assert_eq!((s.full, s.high_water), (0, 6));
    }

    #[test]
    fn zero_capacity_refuses_everything() {
        let (mut tx, mut rx) = ring::<u8>("z", 0);
        assert_eq!(tx.push(1), Err(RingFull(1)));
        assert_eq!(rx.pop(), None);
        let s = tx.stats().snapshot();
        assert_eq!((s.pushed, s.full, s.high_water), (0, 1, 0));
    }

    #[test]
    fn abandoned_ends_are_visible() {
        let (tx, rx) = ring::<u8>("a", 2);
        assert!(!tx.is_abandoned());
        drop(rx);
        assert!(tx.is_abandoned());
    }

    #[test]
    fn cross_thread_order_is_preserved() {
        const N: u64 = 200_000;
        let (mut tx, mut rx) = ring::<u64>("x", 64);
        let producer = std::thread::spawn(move || {
            let mut next = 0;
            let mut refused = 0u64;
            while next < N {
                match tx.push(next) {
                    Ok(()) => next += 1,
                    Err(RingFull(v)) => {
                        assert_eq!(v, next);
                        refused += 1;
                        std::thread::yield_now();
                    }
                }
            }
            refused
        });
        let mut expect = 0u64;
        while expect < N {
            let n = rx.drain(17, |v| {
                assert_eq!(v, expect);
                expect += 1;
            });
            if n == 0 {
                std::thread::yield_now();
            }
        }
        let refused = producer.join().unwrap();
        let s = rx.stats().snapshot();
        assert_eq!(s.pushed, N);
        assert_eq!(s.popped, N);
        assert_eq!(s.full, refused);
        assert!(s.high_water >= 1 && s.high_water <= 64);
    }

    #[test]
    fn ring_config_defaults_toml_and_validation() {
        let c: RingConfig = toml::from_str("md = 8192\n").unwrap();
        assert_eq!(
            c,
            RingConfig {
                md: 8192,
                ..RingConfig::default()
            }
        );
        assert!(c.validate().is_ok());
        assert!(toml::from_str::<RingConfig>("mdd = 1").is_err());
        let zero = RingConfig {
            exec: 0,
            ..RingConfig::default()
        };
        assert_eq!(zero.validate(), Err(RingConfigError::Zero { key: "exec" }));
        assert_eq!(
            zero.validate().unwrap_err().to_string(),
            "rings.exec: capacity must be at least 1"
        );
        let big = RingConfig {
            control: MAX_RING_CAPACITY + 1,
            ..RingConfig::default()
        };
        assert!(matches!(
            big.validate(),
            Err(RingConfigError::TooLarge { key: "control", .. })
        ));
        let back: RingConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(u16),
        Pop,
        Drain(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            any::<u16>().prop_map(Op::Push),
            Just(Op::Pop),
            (0usize..6).prop_map(Op::Drain),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_bounded_vecdeque(cap in 1usize..9, ops in proptest::collection::vec(op(), 0..200)) {
            let (mut tx, mut rx) = ring::<u16>("p", cap);
            let mut model = VecDeque::new();
            let (mut pushed, mut full, mut popped, mut max_occ) = (0u64, 0u64, 0u64, 0u64);
            for op in ops {
                match op {
                    Op::Push(v) => {
                        let r = tx.push(v);
                        if model.len() < cap {
                            prop_assert!(r.is_ok());
                            model.push_back(v);
                            pushed += 1;
                            max_occ = max_occ.max(model.len() as u64);
                        } else {
                            prop_assert_eq!(r, Err(RingFull(v)));
                            full += 1;
                        }
                    }
                    Op::Pop => {
                        let want = model.pop_front();
                        prop_assert_eq!(rx.pop(), want);
                        popped += u64::from(want.is_some());
                    }
                    Op::Drain(limit) => {
                        let before = model.len() as u64;
                        let mut got = Vec::new();
                        let n = rx.drain(limit, |v| got.push(v));
                        let want: Vec<u16> = (0..limit.min(model.len())).filter_map(|_| model.pop_front()).collect();
                        prop_assert_eq!(n, want.len());
                        prop_assert_eq!(got, want);
                        popped += n as u64;
                        // A drain sees the exact occupancy.
                        if before > 0 {
                            prop_assert!(rx.stats().snapshot().high_water >= before);
                        }
                    }
                }
                let s = tx.stats().snapshot();
                prop_assert_eq!((s.pushed, s.full, s.popped), (pushed, full, popped));
                let bound = if full > 0 { cap as u64 } else { max_occ };
                prop_assert!(s.high_water <= bound);
                if full > 0 {
                    prop_assert_eq!(s.high_water, cap as u64);
                }
            }
        }
    }

    #[test]
    fn named_rings_are_built_from_config_and_validated() {
        let cfg = RingConfig {
            md: 8,
            order: 4,
            exec: 4,
            control: 2,
        };
        let rings = Rings::new(&cfg).unwrap();
        let names: Vec<_> = rings.stats().iter().map(|s| s.snapshot().name).collect();
        assert_eq!(names, ["md", "order", "exec", "control"]);
        assert_eq!(rings.md.0.stats().capacity(), 8);
        let bad = RingConfig { order: 0, ..cfg };
        assert_eq!(
            Rings::new(&bad).unwrap_err(),
            RingConfigError::Zero { key: "order" }
        );
    }
}
