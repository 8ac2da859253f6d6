//! FeedAgent under hostile venues (talon-sim fault injection and scripted
//! servers): reconnect pacing (backoff that only resets after a healthy
//! connection, attempt budget), book-health events, events only for the
//! configured instruments, snapshot throttling. Count-based bounds with wide
//! margins, never timings; every loop has a deadline.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use talon_core::agent::{AgentInvoker, Runtime};
use talon_core::clock::MonotonicClock;
use talon_core::event::{MarketData, MarketEvent};
use talon_core::instrument::{Filters, InstrumentId, InstrumentSpec, InstrumentTable, Symbol};
use talon_core::ring::{MdConsumer, ring};
use talon_feed::agent::FeedAgent;
use talon_feed::config::{DepthSpeed, FeedConfig, Venue};
use talon_feed::counters::{FeedCounter, FeedCounters};
use talon_sim::{FaultConfig, SimConfig, SimHandle, Simulator};

/// SOLUSDT is id 0 and never configured; BTCUSDT 1, ETHUSDT 2.
fn table() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    for (s, b) in [("SOLUSDT", "SOL"), ("BTCUSDT", "BTC"), ("ETHUSDT", "ETH")] {
        t.insert(InstrumentSpec {
            symbol: Symbol::new(s).unwrap(),
            base_asset: Symbol::new(b).unwrap(),
            quote_asset: Symbol::new("USDT").unwrap(),
            filters: Filters::default(),
        })
        .unwrap();
    }
    t
}

fn sim(rate: u64, faults: FaultConfig) -> SimHandle {
    Simulator::start(SimConfig {
        rate,
        seed: 3,
        faults,
        ..SimConfig::default()
    })
    .unwrap()
}

fn feed_cfg(sim: &SimHandle, symbols: &[&str]) -> FeedConfig {
    FeedConfig::new(
        Venue::Sim {
            ws_base: sim.ws_base(),
            http_base: sim.http_base(),
            tls_root_der: None,
        },
        symbols,
    )
}

struct Run {
    inv: AgentInvoker<FeedAgent>,
    rx: MdConsumer,
    c: std::sync::Arc<FeedCounters>,
}

fn start(cfg: FeedConfig) -> Run {
    let t = table();
    let (md, rx) = ring::<MarketEvent>("md", 1 << 14);
    let agent = FeedAgent::new(cfg, &t, md, MonotonicClock::new()).unwrap();
    let c = agent.counters();
    let mut inv = AgentInvoker::new(agent, &Runtime::new());
    inv.start().unwrap();
    Run { inv, rx, c }
}

impl Run {
    /// Drives the agent for `d` (or until `stop` says so), handing every event to `f`.
    fn drive(
        &mut self,
        d: Duration,
        mut f: impl FnMut(&MarketEvent),
        mut stop: impl FnMut(&FeedAgent) -> bool,
    ) {
        let start = Instant::now();
        while start.elapsed() < d {
            if self.inv.invoke().unwrap() == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
            self.rx.drain(usize::MAX, |e: MarketEvent| f(&e));
            if stop(self.inv.agent()) {
                return;
            }
        }
    }
}

/// F1: the simulator accepts every connection and drops it after one
/// message. A backoff reset by each successful upgrade reconnects ~13×/s
/// (40+ connects in 3 s); a backoff reset only by a healthy connection grows
/// (100, 200, 400, … ms: under 10 connects in 3 s).
#[test]
fn connections_dropped_at_once_back_off() {
    let sim = sim(
        2_000,
        FaultConfig {
            drop_after: Some(1),
            ..FaultConfig::default()
        },
    );
    let mut cfg = feed_cfg(&sim, &["BTCUSDT"]);
    cfg.streams.depth = Some(DepthSpeed::Ms1000);
    let mut run = start(cfg);
    run.drive(Duration::from_secs(3), |_| {}, |_| false);
    let connects = run.c.get(FeedCounter::Connects);
    eprintln!("connects in 3 s: {connects}");
    assert!(
        connects >= 2,
        "the feed must keep reconnecting ({connects})"
    );
    assert!(connects < 15, "reconnect storm: {connects} connects in 3 s");
    run.inv.close();
    sim.stop();
}

/// F1: whatever the backoff settings, attempts stay within the budget.
#[test]
fn attempt_budget_caps_reconnects() {
    let sim = sim(
        2_000,
        FaultConfig {
            drop_after: Some(1),
            ..FaultConfig::default()
        },
    );
    let mut cfg = feed_cfg(&sim, &["BTCUSDT"]);
    cfg.streams.depth = None;
    cfg.reconnect.initial = Duration::from_millis(1);
    cfg.reconnect.max = Duration::from_millis(1);
    cfg.reconnect.max_attempts = 5;
    cfg.reconnect.attempt_window = Duration::from_secs(60);
    let mut run = start(cfg);
    run.drive(Duration::from_millis(1500), |_| {}, |_| false);
    let connects = run.c.get(FeedCounter::Connects);
    let throttled = run.c.get(FeedCounter::ConnectsThrottled);
    eprintln!("connects {connects}, throttled {throttled}");
    assert!(connects <= 5, "{connects} connects over a budget of 5");
    assert!(throttled >= 1, "the budget delayed nothing");
    run.inv.close();
    sim.stop();
}

/// A `Stale`/`Fresh` event for BTCUSDT with the counters when it was seen.
#[derive(Clone, Copy, Debug)]
struct Status {
    fresh: bool,
    gaps: u64,
    snapshots: u64,
    connects: u64,
}

const BTC: InstrumentId = InstrumentId(1);

/// Drives until `done(statuses)` or 8 s; returns BTCUSDT's status events.
fn statuses(run: &mut Run, done: impl Fn(&[Status]) -> bool) -> Vec<Status> {
    let mut out = Vec::new();
    let c = std::sync::Arc::clone(&run.c);
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline && !done(&out) {
        run.drive(
            Duration::from_millis(1),
            |e| {
                if e.instrument == BTC && matches!(e.data(), MarketData::Stale | MarketData::Fresh)
                {
                    out.push(Status {
                        fresh: e.data() == MarketData::Fresh,
                        gaps: c.get(FeedCounter::Gaps),
                        snapshots: c.get(FeedCounter::Snapshots),
                        connects: c.get(FeedCounter::Connects),
                    });
                }
            },
            |_| false,
        );
    }
    out
}

/// Exactly once per transition: Stale and Fresh alternate, starting with
/// Stale.
fn assert_alternate(s: &[Status]) {
    for (i, st) in s.iter().enumerate() {
        assert_eq!(st.fresh, i % 2 == 1, "event {i} of {s:?}");
    }
}

/// F3: a gap in the diff stream makes the book unusable until it is
/// resynced: the engine sees Stale, then Fresh once the book is synced again.
#[test]
fn a_book_gap_reports_stale_then_fresh_after_resync() {
    let sim = sim(
        2_000,
        FaultConfig {
            gap_every: Some(40),
            ..FaultConfig::default()
        },
    );
    let mut cfg = feed_cfg(&sim, &["BTCUSDT"]);
    cfg.streams.depth = Some(DepthSpeed::Ms1000);
    let mut run = start(cfg);
    // Start: Stale (book not synced yet), Fresh (synced); then a gap: Stale,
    // and Fresh after the resync.
    let found = |s: &[Status]| {
        s.iter()
            .enumerate()
            .skip(2)
            .any(|(i, st)| !st.fresh && st.gaps >= 1 && s.get(i + 1).is_some_and(|n| n.fresh))
    };
    let s = statuses(&mut run, found);
    eprintln!("{s:?}");
    assert!(found(&s), "no Stale/Fresh around a gap: {s:?}; {:?}", run.c);
    assert_alternate(&s);
    assert!(run.inv.agent().book(BTC).is_some());
    run.inv.close();
    sim.stop();
}

/// F3: after a reconnect the instrument is Stale until its book is synced
/// again (not merely until the first message of the new connection).
#[test]
fn a_reconnect_reports_stale_then_fresh_once_the_book_is_resynced() {
    let sim = sim(
        2_000,
        FaultConfig {
            drop_after: Some(300),
            drop_limit: Some(1),
            ..FaultConfig::default()
        },
    );
    let mut cfg = feed_cfg(&sim, &["BTCUSDT"]);
    cfg.streams.depth = Some(DepthSpeed::Ms1000);
    cfg.reconnect.initial = Duration::from_millis(20);
    let mut run = start(cfg);
    let fresh_on_second = |s: &[Status]| s.iter().any(|st| st.fresh && st.connects >= 2);
    let s = statuses(&mut run, fresh_on_second);
    eprintln!("{s:?}");
    assert!(fresh_on_second(&s), "no Fresh after the reconnect: {s:?}");
    assert_alternate(&s);
    // The Fresh of the second connection came only once its snapshot was
    // loaded (the first connection loaded one, the second another).
    let fresh = s.iter().find(|st| st.fresh && st.connects >= 2).unwrap();
    assert!(
        fresh.snapshots >= 2,
        "Fresh before the book was resynced: {s:?}"
    );
    run.inv.close();
    sim.stop();
}

/// F5: the table has SOLUSDT (id 0), BTCUSDT and ETHUSDT; the feed
/// subscribes BTCUSDT only. Instruments it does not subscribe to are not
/// tracked: no event, never stale, not even after a dropped connection.
#[test]
fn unsubscribed_instruments_get_no_status_events() {
    let sim = sim(
        2_000,
        FaultConfig {
            drop_after: Some(200),
            drop_limit: Some(1),
            ..FaultConfig::default()
        },
    );
    let mut cfg = feed_cfg(&sim, &["BTCUSDT"]);
    cfg.streams.depth = None;
    cfg.stale_after = Duration::from_millis(300);
    cfg.reconnect.initial = Duration::from_millis(20);
    let mut run = start(cfg);
    let mut others = Vec::new();
    let mut btc_status = 0;
    run.drive(
        Duration::from_millis(1200),
        |e| {
            if e.instrument != BTC {
                others.push(*e);
            } else if matches!(e.data(), MarketData::Stale | MarketData::Fresh) {
                btc_status += 1;
            }
        },
        |_| false,
    );
    let (sol, eth) = (InstrumentId(0), InstrumentId(2));
    assert!(others.is_empty(), "events for unsubscribed ids: {others:?}");
    let a = run.inv.agent();
    assert!(!a.is_stale(sol) && !a.is_stale(eth));
    assert!(!a.is_healthy(sol) && !a.is_healthy(eth));
    assert!(run.c.get(FeedCounter::Connects) >= 2, "{:?}", run.c);
    // The drop was reported for BTCUSDT (Stale, Fresh): one tracked instrument.
    assert!(btc_status >= 2, "{btc_status}");
    assert_eq!(
        a.stale_counters().went_stale,
        run.c.get(FeedCounter::StaleMarks)
    );
    run.inv.close();
    sim.stop();
}

/// F6: a diff stream with a gap every 3rd diff makes the book resync over and
/// over; the snapshot requests stay within the REST weight budget (here 20
/// weight per minute at weight 5 per snapshot: 4 requests), the rest wait.
#[test]
fn repeated_resyncs_stay_within_the_snapshot_weight_budget() {
    let sim = sim(
        2_000,
        FaultConfig {
            gap_every: Some(3),
            ..FaultConfig::default()
        },
    );
    let mut cfg = feed_cfg(&sim, &["BTCUSDT"]);
    cfg.streams.depth = Some(DepthSpeed::Ms1000);
    cfg.snapshot_limit = 100;
    cfg.snapshot_weight_per_min = 20;
    cfg.reconnect.initial = Duration::from_millis(1);
    cfg.reconnect.max = Duration::from_millis(1);
    let mut run = start(cfg);
    run.drive(Duration::from_secs(2), |_| {}, |_| false);
    let requests = sim.stats().rest_requests;
    let throttled = run.c.get(FeedCounter::SnapshotsThrottled);
    eprintln!(
        "rest requests {requests}, throttled {throttled}, gaps {}",
        run.c.get(FeedCounter::Gaps)
    );
    assert!(run.c.get(FeedCounter::Gaps) >= 3, "{:?}", run.c);
    assert!(
        requests <= 4,
        "{requests} snapshot requests over a budget of 4"
    );
    assert!(throttled >= 1, "the budget delayed nothing");
    run.inv.close();
    sim.stop();
}
