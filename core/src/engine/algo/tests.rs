//! Tests for the execution algorithms, each on a manual clock.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::clock::{ManualClock, NanoClock, Nanos};
use crate::event::{OrderType, Side, TimeInForce};
use crate::instrument::{Filters, InstrumentId};
use crate::num::{Notional, Price, Qty};

fn px(s: &str) -> Price {
    Price::parse(s).unwrap()
}

fn q(s: &str) -> Qty {
    Qty::parse(s).unwrap()
}

/// Step 0.001, min qty 0.001, tick 0.01, min notional 1.
fn filters() -> Filters {
    Filters {
        tick_size: px("0.01"),
        step_size: q("0.001"),
        min_qty: q("0.001"),
        min_notional: Notional::parse("1").unwrap(),
        ..Filters::default()
    }
}

/// A touch one tick either side of `mid` (so `mid()` is `mid`).
fn touch(mid: &str) -> Touch {
    let m = px(mid);
    let t = px("0.01");
    Touch {
        bid: Price::from_raw(m.raw() - t.raw()),
        ask: Price::from_raw(m.raw() + t.raw()),
    }
}

fn parent(side: Side, qty: &str, limit: Option<&str>, kind: AlgoKind) -> ParentOrder {
    ParentOrder {
        instrument: InstrumentId(3),
        side,
        qty: q(qty),
        limit_price: limit.map(px),
        kind,
        max_impact_bps: 50,
    }
}

/// A runner on a manual clock with a buffer, recording what it emits.
struct Harness {
    algo: AlgoRunner,
    clock: ManualClock,
    buf: ChildBuf,
    placed: Vec<(Nanos, ChildOrder)>,
    cancels: Vec<ChildId>,
}

impl Harness {
    fn new(p: ParentOrder, seed: u64) -> Harness {
        Harness::with_filters(p, &filters(), seed)
    }

    fn with_filters(p: ParentOrder, f: &Filters, seed: u64) -> Harness {
        let clock = ManualClock::new(Nanos(1_000));
        let algo = AlgoRunner::start(p, f, px("100"), clock.now(), seed).unwrap();
        Harness {
            algo,
            clock,
            buf: ChildBuf::new(),
            placed: Vec::new(),
            cancels: Vec::new(),
        }
    }

    fn now(&self) -> Nanos {
        self.clock.now()
    }

    /// Ticks at the current time; returns the child placed, if any.
    fn tick_at(&mut self, mid: &str) -> Option<ChildOrder> {
        self.buf.clear();
        self.algo
            .on_tick(self.clock.now(), touch(mid), &mut self.buf);
        let mut placed = None;
        for i in self.buf.iter() {
            match *i {
                ChildIntent::Place(c) => {
                    assert!(placed.is_none(), "two children in one tick");
                    placed = Some(c);
                    self.placed.push((self.clock.now(), c));
                }
                ChildIntent::Cancel { id, .. } => self.cancels.push(id),
            }
        }
        placed
    }

    fn tick(&mut self) -> Option<ChildOrder> {
        self.tick_at("100")
    }

    fn fill(&mut self, c: &ChildOrder, qty: Qty) {
        self.algo.on_fill(c.id, qty, c.price, self.clock.now());
    }

    fn close(&mut self, c: &ChildOrder, end: ChildEnd) {
        self.algo.on_child_closed(c.id, end, self.clock.now());
    }

    fn advance(&self, ns: u64) {
        self.clock.advance(ns);
    }

    fn child_total(&self) -> Qty {
        Qty::from_raw(self.placed.iter().map(|(_, c)| c.qty.raw()).sum())
    }
}

// ---- market ----------------------------------------------------------------

#[test]
fn market_sends_one_ioc_child_for_the_whole_qty() {
    let mut h = Harness::new(parent(Side::Buy, "1", None, AlgoKind::Market), 1);
    let c = h.tick().unwrap();
    assert_eq!(c.order_type, OrderType::Market);
    assert_eq!(c.tif, TimeInForce::Ioc);
    assert_eq!((c.qty, c.price, c.side), (q("1"), px("100.01"), Side::Buy));
    assert_eq!(c.instrument, InstrumentId(3));
    assert_eq!(c.id, ChildId(1));
    assert!(h.tick().is_none(), "one child at a time");
    h.fill(&c, q("0.4"));
    assert_eq!(h.algo.state(), AlgoState::Working);
    h.algo.on_fill(c.id, q("0.6"), px("100.03"), h.now());
    assert_eq!(h.algo.state(), AlgoState::Done);
    assert_eq!(h.algo.filled(), q("1"));
    assert_eq!(h.algo.residual(), Qty::ZERO);
    assert_eq!(h.algo.avg_price(), Some(px("100.022")));
    assert!(h.tick().is_none());
    assert_eq!(h.algo.children_sent(), 1);
    assert_eq!(h.child_total(), q("1"));
}

#[test]
fn market_partial_expiry_is_done_with_a_residual_and_a_limit_caps_it() {
    let mut h = Harness::new(parent(Side::Sell, "1", None, AlgoKind::Market), 1);
    let c = h.tick().unwrap();
    assert_eq!(c.price, px("99.99"), "sell at the bid");
    h.fill(&c, q("0.4"));
    h.close(&c, ChildEnd::Expired);
    assert_eq!(h.algo.state(), AlgoState::Done);
    assert_eq!(h.algo.residual(), q("0.6"));
    assert!(h.tick().is_none(), "market never sends a second child");

    let mut h = Harness::new(parent(Side::Buy, "1", Some("100.5"), AlgoKind::Market), 1);
    let c = h.tick().unwrap();
    assert_eq!(
        (c.order_type, c.tif, c.price),
        (OrderType::Limit, TimeInForce::Ioc, px("100.5"))
    );

    let mut h = Harness::new(parent(Side::Buy, "1", None, AlgoKind::Market), 1);
    let c = h.tick().unwrap();
    h.close(&c, ChildEnd::Rejected);
    assert_eq!(h.algo.state(), AlgoState::Aborted(AbortReason::Rejected));
}

// ---- limit -----------------------------------------------------------------

#[test]
fn limit_rests_one_child_and_reposts_the_remainder_after_expiry() {
    let mut h = Harness::new(parent(Side::Buy, "1", Some("99.5"), AlgoKind::Limit), 1);
    let c1 = h.tick().unwrap();
    assert_eq!(
        (c1.order_type, c1.tif, c1.price, c1.qty),
        (OrderType::Limit, TimeInForce::Gtc, px("99.5"), q("1"))
    );
    for _ in 0..5 {
        h.advance(10);
        assert!(h.tick().is_none(), "one resting child");
    }
    h.fill(&c1, q("0.3"));
    h.close(&c1, ChildEnd::Expired);
    h.advance(1);
    let c2 = h.tick().unwrap();
    assert_eq!(
        (c2.qty, c2.price, c2.id),
        (q("0.7"), px("99.5"), ChildId(2))
    );
    h.fill(&c2, q("0.7"));
    assert_eq!(h.algo.state(), AlgoState::Done);
    assert_eq!(h.algo.filled(), q("1"));
}

#[test]
fn limit_aborts_after_consecutive_rejects_but_not_before() {
    let mut h = Harness::new(parent(Side::Sell, "1", Some("100.5"), AlgoKind::Limit), 1);
    for n in 1..=MAX_CONSECUTIVE_REJECTS {
        let c = h.tick().unwrap();
        h.close(&c, ChildEnd::Rejected);
        let want = if n == MAX_CONSECUTIVE_REJECTS {
            AlgoState::Aborted(AbortReason::Rejected)
        } else {
            AlgoState::Working
        };
        assert_eq!(h.algo.state(), want);
    }
    assert!(h.tick().is_none());
    // An accepted child in between resets the count.
    let mut h = Harness::new(parent(Side::Sell, "1", Some("100.5"), AlgoKind::Limit), 1);
    for _ in 0..5 {
        let c = h.tick().unwrap();
        h.close(&c, ChildEnd::Rejected);
        let c = h.tick().unwrap();
        h.close(&c, ChildEnd::Expired);
    }
    assert_eq!(h.algo.state(), AlgoState::Working);
}

// ---- iceberg ---------------------------------------------------------------

fn iceberg(qty: &str, seed: u64) -> Harness {
    let kind = AlgoKind::Iceberg {
        display_qty: q("1"),
        variance_bps: 2_000,
        min_delay_ns: 100,
        max_delay_ns: 500,
    };
    Harness::new(parent(Side::Buy, qty, Some("99.9"), kind), seed)
}

/// Works an iceberg to the end, filling each slice after a few ticks, ticking
/// every ns. Returns (slice sizes, delays from a fill to the next slice).
fn run_iceberg(h: &mut Harness) -> (Vec<Qty>, Vec<u64>) {
    let (mut sizes, mut delays) = (Vec::new(), Vec::new());
    let mut filled_at: Option<Nanos> = None;
    for _ in 0..100_000 {
        if h.algo.state().is_terminal() {
            break;
        }
        if let Some(c) = h.tick() {
            if let Some(t) = filled_at.take() {
                delays.push(h.now().0 - t.0);
            }
            sizes.push(c.qty);
            for _ in 0..3 {
                h.advance(1);
                assert!(
                    h.tick().is_none(),
                    "next slice only after the previous filled"
                );
            }
            // Two partial fills.
            let half = Qty::from_raw(c.qty.raw() / 2);
            h.fill(&c, half);
            assert!(h.tick().is_none());
            h.fill(&c, Qty::from_raw(c.qty.raw() - half.raw()));
            filled_at = Some(h.now());
        }
        h.advance(1);
    }
    (sizes, delays)
}

#[test]
fn iceberg_slices_vary_within_20_percent_and_wait_a_random_delay() {
    let mut h = iceberg("25", 42);
    let (sizes, delays) = run_iceberg(&mut h);
    assert_eq!(h.algo.state(), AlgoState::Done);
    assert_eq!(h.algo.filled(), q("25"));
    assert_eq!(h.child_total(), q("25"));
    let (last, full) = sizes.split_last().unwrap();
    assert!(full.len() >= 20, "{} slices", sizes.len());
    for s in full {
        assert!(*s >= q("0.8") && *s <= q("1.2"), "slice {s}");
        assert_eq!(filters().check_qty(*s), Ok(()));
    }
    assert!(*last <= q("1.2") && last.is_positive());
    let distinct: std::collections::BTreeSet<_> = full.iter().collect();
    assert!(distinct.len() > 5, "sizes are randomised: {distinct:?}");
    assert_eq!(delays.len(), sizes.len() - 1);
    for d in &delays {
        assert!((100..=500).contains(d), "delay {d}");
    }
    assert!(
        delays.iter().any(|&d| d != delays[0]),
        "delays are randomised"
    );
    // Same seed, same slices; another seed, others.
    let mut again = iceberg("25", 42);
    assert_eq!(run_iceberg(&mut again), (sizes.clone(), delays));
    let mut other = iceberg("25", 43);
    assert_ne!(run_iceberg(&mut other).0, sizes);
}

#[test]
fn iceberg_reports_a_remainder_below_the_step_instead_of_sending_it() {
    let mut h = iceberg("3.0005", 7);
    let (sizes, _) = run_iceberg(&mut h);
    assert_eq!(h.algo.state(), AlgoState::Done);
    assert_eq!(h.algo.residual(), q("0.0005"));
    assert_eq!(h.algo.filled(), q("3"));
    for s in &sizes {
        assert_eq!(filters().check_qty(*s), Ok(()), "never an invalid child");
    }
}

#[test]
fn iceberg_slice_closed_early_returns_its_remainder() {
    let mut h = iceberg("5", 3);
    let c1 = h.tick().unwrap();
    h.fill(&c1, q("0.1"));
    h.close(&c1, ChildEnd::Cancelled);
    let closed = h.now();
    let c2 = loop {
        h.advance(1);
        if let Some(c) = h.tick() {
            break c;
        }
    };
    assert!((100..=500).contains(&(h.now().0 - closed.0)));
    assert_eq!(h.algo.filled(), q("0.1"));
    assert!(c2.qty <= q("1.2"));
    assert_eq!(h.algo.unfilled(), q("4.9"));
}

// ---- TWAP ------------------------------------------------------------------

fn twap(qty: &str, duration_ns: u64, slices: u32) -> Harness {
    let kind = AlgoKind::Twap {
        duration_ns,
        slices,
    };
    Harness::new(parent(Side::Sell, qty, None, kind), 1)
}

#[test]
fn twap_slices_follow_duration_over_slices() {
    let mut h = twap("1", 1_000, 4);
    let start = h.now().0;
    for _ in 0..1_500 {
        if let Some(c) = h.tick() {
            assert_eq!(
                (c.tif, c.order_type, c.price),
                (TimeInForce::Ioc, OrderType::Limit, px("99.99"))
            );
            h.fill(&c, c.qty);
        }
        h.advance(1);
    }
    let times: Vec<u64> = h.placed.iter().map(|(t, _)| t.0 - start).collect();
    assert_eq!(times, vec![0, 250, 500, 750]);
    assert!(h.placed.iter().all(|(_, c)| c.qty == q("0.25")));
    assert_eq!(h.algo.state(), AlgoState::Done);
    assert_eq!(h.algo.filled(), q("1"));
}

#[test]
fn twap_cumulative_targets_stay_within_one_step() {
    let mut h = twap("1", 3_000, 7);
    for _ in 0..3_100 {
        if let Some(c) = h.tick() {
            h.fill(&c, c.qty);
        }
        h.advance(1);
    }
    assert_eq!(h.placed.len(), 7);
    let step = filters().step_size.raw();
    let mut cum = 0i64;
    for (k, (_, c)) in h.placed.iter().enumerate() {
        cum += c.qty.raw();
        let ideal = q("1").raw() * (k as i64 + 1) / 7;
        assert!(
            cum <= ideal && ideal - cum < step,
            "slice {k}: {cum} vs {ideal}"
        );
    }
    assert_eq!(cum, q("1").raw());
}

#[test]
fn twap_catches_up_unfilled_slices_and_retries_after_the_end() {
    let mut h = twap("1", 1_000, 4);
    let c0 = h.tick().unwrap();
    h.close(&c0, ChildEnd::Expired); // nothing filled
    h.advance(250);
    let c1 = h.tick().unwrap();
    assert_eq!(c1.qty, q("0.5"), "slice 1 catches up slice 0");
    h.fill(&c1, q("0.2"));
    h.close(&c1, ChildEnd::Expired);
    h.advance(100);
    assert!(h.tick().is_none(), "no extra slice inside a period");
    h.advance(150);
    let c2 = h.tick().unwrap();
    assert_eq!(c2.qty, q("0.55"));
    h.fill(&c2, c2.qty);
    h.advance(250);
    let c3 = h.tick().unwrap();
    assert_eq!(c3.qty, q("0.25"));
    h.close(&c3, ChildEnd::Expired);
    h.advance(200);
    assert!(h.tick().is_none());
    h.advance(50); // t = 1000: one period after the last slice
    let c4 = h.tick().unwrap();
    assert_eq!(c4.qty, q("0.25"));
    h.fill(&c4, c4.qty);
    assert_eq!(h.algo.state(), AlgoState::Done);
    assert_eq!(h.algo.filled(), q("1"));
}

#[test]
fn twap_skips_missed_slots_after_a_gap_and_respects_the_limit() {
    let mut h = twap("1", 1_000, 4);
    h.advance(600); // no ticks during slots 0 and 1, now in slot 2
    let c = h.tick().unwrap();
    assert_eq!(c.qty, q("0.75"));
    h.fill(&c, c.qty);
    h.advance(100);
    assert!(h.tick().is_none(), "slot 3 starts at 750");

    // Sell with a limit above the bid: slices wait for the bid.
    let kind = AlgoKind::Twap {
        duration_ns: 1_000,
        slices: 4,
    };
    let mut h = Harness::new(parent(Side::Sell, "1", Some("100.2"), kind), 1);
    assert!(h.tick_at("100").is_none(), "bid 99.99 is below the limit");
    h.advance(250);
    let c = h.tick_at("100.25").unwrap();
    assert_eq!((c.price, c.qty), (px("100.24"), q("0.5")));
}

// ---- VWAP ------------------------------------------------------------------

fn vwap(qty: &str, duration_ns: u64, weights: &[u32]) -> Harness {
    let kind = AlgoKind::Vwap {
        duration_ns,
        profile: Profile::new(weights).unwrap(),
    };
    Harness::new(parent(Side::Buy, qty, None, kind), 1)
}

#[test]
fn vwap_slices_follow_the_profile() {
    let mut h = vwap("1", 500, &[1, 2, 0, 3, 4]);
    let start = h.now().0;
    for _ in 0..600 {
        if let Some(c) = h.tick() {
            assert_eq!((c.tif, c.price), (TimeInForce::Ioc, px("100.01")));
            h.fill(&c, c.qty);
        }
        h.advance(1);
    }
    let got: Vec<(u64, Qty)> = h.placed.iter().map(|(t, c)| (t.0 - start, c.qty)).collect();
    assert_eq!(
        got,
        vec![
            (0, q("0.1")),
            (100, q("0.2")),
            (300, q("0.3")),
            (400, q("0.4"))
        ]
    );
    assert_eq!(h.algo.state(), AlgoState::Done);
}

#[test]
fn vwap_cumulative_schedule_is_within_one_step_of_the_weights() {
    let weights = [3, 7, 1, 1, 9, 2, 5];
    let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
    let mut h = vwap("2.5", 7_000, &weights);
    for _ in 0..7_100 {
        if let Some(c) = h.tick() {
            h.fill(&c, c.qty);
        }
        h.advance(1);
    }
    let step = filters().step_size.raw();
    let mut cum = 0i64;
    let mut w = 0i64;
    for (b, (_, c)) in h.placed.iter().enumerate() {
        cum += c.qty.raw();
        w += i64::from(weights[b]);
        let ideal = q("2.5").raw() * w / total;
        assert!(
            cum <= ideal && ideal - cum < step,
            "bucket {b}: {cum} vs {ideal}"
        );
    }
    assert_eq!(cum, q("2.5").raw());
    assert_eq!(h.algo.filled(), q("2.5"));
}

#[test]
fn vwap_catches_up_an_unfilled_bucket() {
    let mut h = vwap("1", 300, &[1, 1, 2]);
    let c0 = h.tick().unwrap();
    assert_eq!(c0.qty, q("0.25"));
    h.close(&c0, ChildEnd::Expired);
    h.advance(100);
    let c1 = h.tick().unwrap();
    assert_eq!(c1.qty, q("0.5"));
}

// ---- price impact ----------------------------------------------------------

fn every_kind() -> Vec<(AlgoKind, Option<&'static str>)> {
    vec![
        (AlgoKind::Market, None),
        (AlgoKind::Limit, Some("99")),
        (
            AlgoKind::Iceberg {
                display_qty: q("0.2"),
                variance_bps: 2_000,
                min_delay_ns: 1,
                max_delay_ns: 5,
            },
            Some("99"),
        ),
        (
            AlgoKind::Twap {
                duration_ns: 1_000,
                slices: 10,
            },
            None,
        ),
        (
            AlgoKind::Vwap {
                duration_ns: 1_000,
                profile: Profile::new(&[1, 2, 3]).unwrap(),
            },
            None,
        ),
    ]
}

#[test]
fn every_algo_aborts_beyond_the_impact_bound_and_not_within_it() {
    for (kind, limit) in every_kind() {
        for side in [Side::Buy, Side::Sell] {
            let limit = limit.map(|l| if side == Side::Sell { "101" } else { l });
            let mut h = Harness::new(parent(side, "1", limit, kind), 5);
            let c = h.tick().unwrap();
            let (at, beyond, favourable) = match side {
                Side::Buy => ("100.5", "100.51", "90"),
                Side::Sell => ("99.5", "99.49", "110"),
            };
            // Exactly at the bound (50 bps) and far in our favour: still working.
            h.advance(1);
            h.tick_at(at);
            h.tick_at(favourable);
            assert_eq!(
                h.algo.state(),
                AlgoState::Working,
                "{} {side}",
                kind.as_str()
            );
            assert_eq!(h.algo.impact_bps(px(at)), 50);
            h.advance(1);
            assert!(h.tick_at(beyond).is_none());
            assert_eq!(
                h.algo.state(),
                AlgoState::Aborted(AbortReason::PriceImpact),
                "{} {side}",
                kind.as_str()
            );
            assert_eq!(h.cancels, vec![c.id], "the outstanding child is cancelled");
            // Late fill of the cancelled child still counts; nothing new is sent.
            h.fill(&c, Qty::from_raw(c.qty.raw() / 2));
            h.close(&c, ChildEnd::Cancelled);
            for _ in 0..50 {
                h.advance(100);
                assert!(h.tick_at("100").is_none());
            }
            assert_eq!(h.algo.state(), AlgoState::Aborted(AbortReason::PriceImpact));
            assert_eq!(h.algo.filled(), Qty::from_raw(c.qty.raw() / 2));
            assert_eq!(h.algo.residual(), Qty::ZERO);
        }
    }
}

#[test]
fn impact_abort_without_an_open_child_sends_no_cancel() {
    let mut h = twap("1", 1_000, 4);
    let c = h.tick().unwrap();
    h.fill(&c, c.qty);
    h.advance(10);
    h.tick_at("99.4"); // sell: mid down 60 bps
    assert_eq!(h.algo.state(), AlgoState::Aborted(AbortReason::PriceImpact));
    assert!(h.cancels.is_empty());
}

// ---- filters, buffers, bad input -------------------------------------------

#[test]
fn children_respect_max_qty_and_min_notional() {
    let f = Filters {
        max_qty: q("0.4"),
        ..filters()
    };
    let p = parent(Side::Buy, "1", Some("99"), AlgoKind::Limit);
    let mut h = Harness::with_filters(p, &f, 1);
    let mut total = Qty::ZERO;
    while let Some(c) = h.tick() {
        assert!(c.qty <= q("0.4"));
        total = total.checked_add(c.qty).unwrap();
        h.fill(&c, c.qty);
    }
    assert_eq!(total, q("1"));
    assert_eq!(h.algo.state(), AlgoState::Done);

    // min notional 30 at ~100: TWAP slices of 0.25 are too small and roll
    // into later ones.
    let f = Filters {
        min_notional: Notional::parse("30").unwrap(),
        ..filters()
    };
    let kind = AlgoKind::Twap {
        duration_ns: 1_000,
        slices: 4,
    };
    let mut h = Harness::with_filters(parent(Side::Buy, "1", None, kind), &f, 1);
    for _ in 0..1_100 {
        if let Some(c) = h.tick() {
            h.fill(&c, c.qty);
        }
        h.advance(1);
    }
    let sizes: Vec<Qty> = h.placed.iter().map(|(_, c)| c.qty).collect();
    assert_eq!(sizes, vec![q("0.5"), q("0.5")]);
}

#[test]
fn start_rejects_what_cannot_work_and_names_the_key() {
    let f = filters();
    let mid = px("100");
    let start = |p: ParentOrder| AlgoRunner::start(p, &f, mid, Nanos(0), 0).err();
    let key = |p: ParentOrder| match start(p) {
        Some(AlgoError::Invalid { key, .. }) => key,
        other => panic!("{other:?}"),
    };
    assert_eq!(key(parent(Side::Buy, "0", None, AlgoKind::Market)), "qty");
    assert_eq!(
        key(parent(Side::Buy, "1", None, AlgoKind::Limit)),
        "limit_price"
    );
    assert_eq!(
        key(parent(Side::Buy, "1", Some("99.999"), AlgoKind::Limit)),
        "limit_price"
    );
    let mut p = parent(Side::Buy, "1", None, AlgoKind::Market);
    p.limit_price = Some(Price::from_raw(-100));
    assert_eq!(key(p), "limit_price");
    let mut p = parent(Side::Buy, "1", None, AlgoKind::Market);
    p.max_impact_bps = 0;
    assert_eq!(key(p), "max_impact_bps");
    let ice = |display: &str, variance_bps| AlgoKind::Iceberg {
        display_qty: q(display),
        variance_bps,
        min_delay_ns: 0,
        max_delay_ns: 0,
    };
    // Smallest slice 0.008 × 99 < 1 min notional.
    assert_eq!(
        key(parent(Side::Buy, "1", Some("99"), ice("0.01", 2_000))),
        "kind.iceberg.display_qty"
    );
    assert_eq!(
        key(parent(Side::Buy, "1", Some("99"), ice("0", 2_000))),
        "kind.iceberg.display_qty"
    );
    assert!(start(parent(Side::Buy, "1", Some("99"), ice("0.02", 2_000))).is_none());
    let tw = AlgoKind::Twap {
        duration_ns: 3,
        slices: 4,
    };
    assert_eq!(
        key(parent(Side::Buy, "1", None, tw)),
        "kind.twap.duration_ms"
    );
    // Below min notional as a whole.
    assert_eq!(
        start(parent(Side::Buy, "0.005", None, AlgoKind::Market)),
        Some(AlgoError::BelowMinimum)
    );
    assert_eq!(
        AlgoRunner::start(
            parent(Side::Buy, "1", None, AlgoKind::Market),
            &f,
            Price::ZERO,
            Nanos(0),
            0
        )
        .err(),
        Some(AlgoError::BadArrivalMid)
    );
    assert!(Profile::new(&[1; MAX_PROFILE_BUCKETS + 1]).is_err());
    assert!(Profile::new(&[]).is_err());
    assert!(Profile::new(&[0, 0]).is_err());
}

#[test]
fn a_full_buffer_delays_the_child_and_the_cancel_without_losing_them() {
    let mut h = twap("1", 1_000, 4);
    let mut full = ChildBuf::new();
    for _ in 0..CHILD_BUF_CAPACITY {
        full.push(ChildIntent::Cancel {
            instrument: InstrumentId(0),
            id: ChildId(99),
        })
        .unwrap();
    }
    h.algo.on_tick(h.now(), touch("100"), &mut full);
    assert_eq!(full.refused(), 1);
    assert_eq!(h.algo.open_child(), None);
    assert_eq!(h.algo.children_sent(), 0);
    let c = h.tick().unwrap();
    assert_eq!((c.id, c.qty), (ChildId(1), q("0.25")));
    // Abort into a full buffer: the cancel is owed and paid on the next tick.
    h.algo.on_tick(h.now(), touch("99"), &mut full);
    assert_eq!(h.algo.state(), AlgoState::Aborted(AbortReason::PriceImpact));
    assert!(h.tick().is_none());
    assert_eq!(h.cancels, vec![c.id]);
    assert!(h.tick().is_none());
    assert_eq!(h.cancels, vec![c.id], "paid once");
}

#[test]
fn bad_reports_and_ticks_are_ignored_and_counted() {
    let mut h = Harness::new(parent(Side::Buy, "1", Some("99"), AlgoKind::Limit), 1);
    let crossed = Touch {
        bid: px("101"),
        ask: px("100"),
    };
    h.algo.on_tick(h.now(), crossed, &mut h.buf);
    h.algo.on_tick(h.now(), Touch::default(), &mut h.buf);
    assert_eq!(h.algo.bad_ticks(), 2);
    assert!(h.buf.is_empty());
    let c = h.tick().unwrap();
    h.algo.on_fill(ChildId(7), q("1"), px("99"), h.now());
    h.algo.on_fill(c.id, Qty::ZERO, px("99"), h.now());
    h.algo.on_fill(c.id, q("0.1"), Price::ZERO, h.now());
    h.algo
        .on_child_closed(ChildId(7), ChildEnd::Expired, h.now());
    assert_eq!(h.algo.ignored_reports(), 4);
    assert_eq!(h.algo.filled(), Qty::ZERO);
    h.fill(&c, q("5")); // more than the child: clamped
    assert_eq!(h.algo.clamped_fills(), 1);
    assert_eq!(h.algo.filled(), q("1"));
    assert_eq!(h.algo.state(), AlgoState::Done);
    h.fill(&c, q("1")); // the child is gone
    assert_eq!(h.algo.filled(), q("1"));
}

#[test]
fn cancel_aborts_and_cancels_the_open_child_once() {
    let mut h = Harness::new(parent(Side::Buy, "1", Some("99"), AlgoKind::Limit), 1);
    let c = h.tick().unwrap();
    h.buf.clear();
    h.algo.cancel(&mut h.buf);
    assert_eq!(h.algo.state(), AlgoState::Aborted(AbortReason::Cancelled));
    assert_eq!(
        h.buf.as_slice(),
        &[ChildIntent::Cancel {
            instrument: InstrumentId(3),
            id: c.id
        }]
    );
    h.buf.clear();
    h.algo.cancel(&mut h.buf);
    assert!(h.buf.is_empty());
    assert_eq!(h.algo.state(), AlgoState::Aborted(AbortReason::Cancelled));
}

#[test]
fn a_clock_going_backwards_is_harmless() {
    let mut h = twap("1", 1_000, 4);
    let c = h.tick().unwrap();
    h.fill(&c, c.qty);
    h.clock.set(Nanos(0));
    assert!(h.tick().is_none());
    h.clock.set(Nanos(1_250));
    assert_eq!(h.tick().unwrap().qty, q("0.25"));
}

#[test]
fn extreme_times_and_sizes_do_not_overflow() {
    let kind = AlgoKind::Twap {
        duration_ns: u64::MAX,
        slices: MAX_TWAP_SLICES,
    };
    let p = parent(Side::Buy, "90000000000", None, kind);
    let mut algo = AlgoRunner::start(p, &filters(), px("100"), Nanos(0), 0).unwrap();
    let mut buf = ChildBuf::new();
    for t in [0, 1, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
        buf.clear();
        algo.on_tick(Nanos(t), touch("100"), &mut buf);
        if let Some(ChildIntent::Place(c)) = buf.as_slice().first() {
            algo.on_fill(c.id, Qty::MAX, Price::MAX, Nanos(t));
        }
    }
    assert!(algo.filled() <= q("90000000000"));
    let _ = algo.avg_price();
    assert_eq!(
        algo.impact_bps(Price::MAX),
        (i64::MAX - px("100").raw()) / 1_000_000
    );
    // Start late: the first tick already sits in the last slot.
    let kind = AlgoKind::Twap {
        duration_ns: 10,
        slices: 10,
    };
    let p = parent(Side::Buy, "1", None, kind);
    let mut algo = AlgoRunner::start(p, &filters(), px("100"), Nanos(u64::MAX - 5), 0).unwrap();
    buf.clear();
    algo.on_tick(Nanos(u64::MAX), touch("100"), &mut buf);
    let Some(ChildIntent::Place(c)) = buf.as_slice().first() else {
        panic!("no child");
    };
    assert_eq!(c.qty, q("0.6"));
}

// ---- properties ------------------------------------------------------------

#[derive(Clone, Debug)]
enum Step {
    Tick { dt: u64, mid_bps: i64 },
    Fill { permille: u16 },
    Close { end: u8 },
    Cancel,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u64..400, -80i64..80).prop_map(|(dt, mid_bps)| Step::Tick { dt, mid_bps }),
        3 => (0u16..1_500).prop_map(|permille| Step::Fill { permille }),
        1 => (0u8..3).prop_map(|end| Step::Close { end }),
        1 => Just(Step::Cancel),
    ]
}

fn kind_strategy() -> impl Strategy<Value = AlgoKind> {
    prop_oneof![
        Just(AlgoKind::Market),
        Just(AlgoKind::Limit),
        (1i64..3_000, 0u32..=5_000, 0u64..300, 0u64..300).prop_map(|(d, v, a, b)| {
            AlgoKind::Iceberg {
                display_qty: Qty::from_raw(d * 100_000 + 2_000_000),
                variance_bps: v,
                min_delay_ns: a.min(b),
                max_delay_ns: a.max(b),
            }
        }),
        (1u32..20, 0u64..5_000).prop_map(|(n, extra)| AlgoKind::Twap {
            duration_ns: u64::from(n) + extra,
            slices: n,
        }),
        (
            prop::collection::vec(0u32..10, 1..MAX_PROFILE_BUCKETS),
            0u64..5_000
        )
            .prop_map(|(mut w, extra)| {
                w.push(1);
                AlgoKind::Vwap {
                    duration_ns: w.len() as u64 + extra,
                    profile: Profile::new(&w).unwrap(),
                }
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_for_any_parent_fills_and_mids(
        kind in kind_strategy(),
        buy in any::<bool>(),
        qty_raw in 20_000_000i64..2_000_000_000,
        seed in any::<u64>(),
        steps in prop::collection::vec(step(), 0..200),
    ) {
        let side = if buy { Side::Buy } else { Side::Sell };
        let limit = match kind {
            AlgoKind::Limit | AlgoKind::Iceberg { .. } => Some(px("100")),
            _ => None,
        };
        let p = ParentOrder {
            instrument: InstrumentId(1),
            side,
            qty: Qty::from_raw(qty_raw),
            limit_price: limit,
            kind,
            max_impact_bps: 50,
        };
        let f = filters();
        let Ok(mut algo) = AlgoRunner::start(p, &f, px("100"), Nanos(0), seed) else {
            // Only a too-small iceberg display may be refused here.
            let is_iceberg = matches!(kind, AlgoKind::Iceberg { .. });
            prop_assert!(is_iceberg);
            return Ok(());
        };
        let mut now = 0u64;
        let mut buf = ChildBuf::new();
        let mut open: Option<ChildOrder> = None;
        let mut open_filled = 0i64;
        let mut state = algo.state();
        let mut impact_seen = false;
        for s in steps {
            buf.clear();
            match s {
                Step::Tick { dt, mid_bps } => {
                    now += dt;
                    let mid = 100 * crate::num::SCALE + mid_bps * crate::num::SCALE / 100;
                    let t = Touch { bid: Price::from_raw(mid - 1_000_000), ask: Price::from_raw(mid + 1_000_000) };
                    let adverse = if buy { mid_bps } else { -mid_bps };
                    algo.on_tick(Nanos(now), t, &mut buf);
                    if adverse > 50 && state == AlgoState::Working {
                        impact_seen = true;
                        prop_assert_eq!(algo.state(), AlgoState::Aborted(AbortReason::PriceImpact));
                    }
                }
                Step::Fill { permille } => {
                    if let Some(c) = open {
                        let fq = Qty::from_raw(c.qty.raw() * i64::from(permille) / 1_000);
                        algo.on_fill(c.id, fq, c.price, Nanos(now));
                        if fq.is_positive() {
                            open_filled = (open_filled + fq.raw()).min(c.qty.raw());
                        }
                        if open_filled == c.qty.raw() {
                            open = None;
                        }
                    }
                }
                Step::Close { end } => {
                    if let Some(c) = open.take() {
                        let end = [ChildEnd::Expired, ChildEnd::Cancelled, ChildEnd::Rejected][usize::from(end)];
                        algo.on_child_closed(c.id, end, Nanos(now));
                    }
                }
                Step::Cancel => algo.cancel(&mut buf),
            }
            for i in buf.iter() {
                match *i {
                    ChildIntent::Place(c) => {
                        prop_assert!(open.is_none(), "a second child while one is open");
                        prop_assert!(state == AlgoState::Working && algo.state() == AlgoState::Working);
                        prop_assert_eq!(f.check_qty(c.qty), Ok(()));
                        prop_assert_eq!(f.check_notional(c.price, c.qty), Ok(()));
                        prop_assert_eq!((c.side, c.instrument), (side, InstrumentId(1)));
                        prop_assert!(algo.filled().raw() + c.qty.raw() <= qty_raw);
                        if let Some(l) = limit {
                            prop_assert_eq!(c.price, l);
                        }
                        open = Some(c);
                        open_filled = 0;
                    }
                    ChildIntent::Cancel { id, .. } => {
                        prop_assert_eq!(Some(id), open.map(|c| c.id));
                    }
                }
            }
            let open_left = open.map_or(0, |c| c.qty.raw() - open_filled);
            prop_assert!(algo.filled().raw() + open_left <= qty_raw, "over-committed");
            prop_assert!(algo.filled().raw() >= 0);
            let next = algo.state();
            prop_assert!(state == AlgoState::Working || next == state, "{state:?} -> {next:?}");
            state = next;
        }
        if !impact_seen {
            prop_assert_ne!(state, AlgoState::Aborted(AbortReason::PriceImpact));
        }
    }

    #[test]
    fn fully_filled_children_sum_to_the_parent(
        kind in kind_strategy(),
        buy in any::<bool>(),
        qty_raw in 20_000_000i64..2_000_000_000,
        seed in any::<u64>(),
    ) {
        let side = if buy { Side::Buy } else { Side::Sell };
        let limit = match kind {
            AlgoKind::Limit | AlgoKind::Iceberg { .. } => Some(px("100")),
            _ => None,
        };
        let p = ParentOrder { instrument: InstrumentId(1), side, qty: Qty::from_raw(qty_raw), limit_price: limit, kind, max_impact_bps: 50 };
        let f = filters();
        let Ok(mut algo) = AlgoRunner::start(p, &f, px("100"), Nanos(0), seed) else {
            return Ok(());
        };
        let mut buf = ChildBuf::new();
        let mut sent = 0i64;
        let mut now = 0u64;
        for _ in 0..20_000 {
            if algo.state().is_terminal() {
                break;
            }
            buf.clear();
            algo.on_tick(Nanos(now), touch("100"), &mut buf);
            for i in buf.iter() {
                if let ChildIntent::Place(c) = *i {
                    sent += c.qty.raw();
                    algo.on_fill(c.id, c.qty, c.price, Nanos(now));
                }
            }
            now += 7;
        }
        prop_assert_eq!(algo.state(), AlgoState::Done);
        prop_assert_eq!(sent, algo.filled().raw());
        prop_assert_eq!(sent + algo.residual().raw(), qty_raw);
        // The residual is what no valid child can carry: for TWAP/VWAP (which
        // absorb a small remainder into the last slice), limit and market, only
        // what the step grid cannot express; for an iceberg (which never shows
        // more than its slice), anything below the minimum order.
        let r = algo.residual();
        if matches!(kind, AlgoKind::Iceberg { .. }) {
            prop_assert!(r.is_zero() || f.check_order(px("100"), f.floor_qty(r)).is_err());
        } else {
            prop_assert!(r < f.step_size, "residual {}", r);
        }
    }
}
