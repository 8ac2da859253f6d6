//! Backpressure through the real feed agent: a full md ring loses nothing
//! silently.
//!
//! The scenario, narrated:
//! 1. The feed runs against the simulator (bookTicker + diff depth for two
//!    symbols) into a deliberately tiny md ring, drained by this thread, until
//!    both books are synced.
//! 2. The consumer stops draining while the feed keeps reading: the ring
//!    fills. Top-of-book updates are conflated per instrument (latest wins,
//!    counted); a depth level the ring refuses forces a counted resync of
//!    that book instead of leaving a gap in the engine's view.
//! 3. The consumer drains again. Every bookTicker the feed received is
//!    accounted for: delivered as a TopOfBook event, or counted as conflated.
//!    The books resync, and after the simulator is paused each equals the
//!    simulator's own book level for level.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use talon_core::agent::{AgentInvoker, Runtime};
use talon_core::clock::MonotonicClock;
use talon_core::event::{MarketData, MarketEvent};
use talon_core::instrument::{Filters, InstrumentId, InstrumentSpec, InstrumentTable, Symbol};
use talon_core::ring::{MdConsumer, ring};
use talon_feed::agent::FeedAgent;
use talon_feed::book::SyncState;
use talon_feed::config::{DepthSpeed, FeedConfig, Venue};
use talon_feed::counters::FeedCounter;
use talon_sim::{SimConfig, Simulator};

const LIMIT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Seen {
    top_of_book: u64,
    stale_or_fresh: u64,
    other: u64,
}

fn drain(rx: &mut MdConsumer, seen: &mut Seen) {
    rx.drain(usize::MAX, |e: MarketEvent| match e.data() {
        MarketData::TopOfBook(_) => seen.top_of_book += 1,
        MarketData::Stale | MarketData::Fresh => seen.stale_or_fresh += 1,
        _ => seen.other += 1,
    });
}

fn synced(agent: &FeedAgent, ids: &[InstrumentId]) -> bool {
    ids.iter().all(|id| {
        agent
            .book(*id)
            .is_some_and(|b| b.state() == SyncState::Synced)
    })
}

#[test]
fn a_full_md_ring_conflates_top_of_book_and_forces_depth_resyncs_without_silent_loss() {
    let sim = Simulator::start(SimConfig {
        rate: 20_000,
        seed: 5,
        book_levels: 50,
        ..SimConfig::default()
    })
    .unwrap();
    let mut cfg = FeedConfig::new(
        Venue::Sim {
            ws_base: sim.ws_base(),
            http_base: sim.http_base(),
            tls_root_der: None,
        },
        &["BTCUSDT", "ETHUSDT"],
    );
    cfg.streams.trade = false;
    cfg.streams.depth = Some(DepthSpeed::Ms1000);
    cfg.reconnect.initial = Duration::from_millis(20);
    // While the consumer stalls, every snapshot is followed by a refused
    // depth level and another forced resync: on loopback ~100 snapshots in
    // the 400 ms stall. The REST weight budget allows that only with cheap
    // snapshots (limit 100, weight 5: 1200 per minute at the venue's 6000),
    // so the simulator keeps books of ~50 levels a 100-level snapshot holds
    // whole.
    cfg.snapshot_limit = 100;
    cfg.snapshot_weight_per_min = 6000;
    let mut table = InstrumentTable::new();
    for (s, base) in [("BTCUSDT", "BTC"), ("ETHUSDT", "ETH")] {
        table
            .insert(InstrumentSpec {
                symbol: Symbol::new(s).unwrap(),
                base_asset: Symbol::new(base).unwrap(),
                quote_asset: Symbol::new("USDT").unwrap(),
                filters: Filters::default(),
            })
            .unwrap();
    }
    let ids = [
        table.id_of("BTCUSDT").unwrap(),
        table.id_of("ETHUSDT").unwrap(),
    ];
    // A tiny ring: a consumer that pauses fills it within a few messages.
    let (md, mut rx) = ring::<MarketEvent>("md", 16);
    let agent = FeedAgent::new(cfg, &table, md, MonotonicClock::new()).unwrap();
    let counters = agent.counters();
    let mut inv = AgentInvoker::new(agent, &Runtime::new());
    inv.start().unwrap();
    let mut seen = Seen::default();

    // 1. Synced, with the consumer keeping up.
    let deadline = Instant::now() + LIMIT;
    while !synced(inv.agent(), &ids) {
        assert!(Instant::now() < deadline, "never synced: {counters:?}");
        inv.invoke().unwrap();
        drain(&mut rx, &mut seen);
    }

    // 2. The consumer stalls; the feed keeps reading.
    let forced_before = counters.get(FeedCounter::ForcedResyncs);
    let stall = Instant::now();
    while stall.elapsed() < Duration::from_millis(400) {
        if inv.invoke().unwrap() == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let during = inv.agent().conflate_counters();
    assert!(
        during.conflated > 0,
        "top of book was conflated: {during:?}"
    );
    assert!(
        during.depth_refused > 0,
        "depth was refused by the full ring: {during:?}"
    );
    assert!(
        counters.get(FeedCounter::ForcedResyncs) > forced_before,
        "a refused depth level forced a counted resync: {counters:?}"
    );

    // 3. The consumer drains again; the books recover.
    let deadline = Instant::now() + LIMIT;
    loop {
        inv.invoke().unwrap();
        drain(&mut rx, &mut seen);
        if synced(inv.agent(), &ids)
            && inv.agent().conflate_counters().held == inv.agent().conflate_counters().flushed
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never recovered: {counters:?} {:?} {:?}",
            inv.agent().conflate_counters(),
            ids.map(|id| inv.agent().book(id).map(|b| b.state()))
        );
    }

    // Freeze the venue and let everything it sent arrive.
    sim.pause();
    for (symbol, id) in [("BTCUSDT", ids[0]), ("ETHUSDT", ids[1])] {
        let want = sim.book(symbol).unwrap();
        let deadline = Instant::now() + LIMIT;
        while inv.agent().book(id).is_none_or(|b| {
            b.state() != SyncState::Synced || b.book().last_update_id() != want.last_update_id
        }) {
            assert!(
                Instant::now() < deadline,
                "{symbol} never reached the simulator's book"
            );
            if inv.invoke().unwrap() == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
            drain(&mut rx, &mut seen);
        }
        let book = inv.agent().book(id).unwrap().book();
        assert_eq!(book.bids().collect::<Vec<_>>(), want.bids, "{symbol} bids");
        assert_eq!(book.asks().collect::<Vec<_>>(), want.asks, "{symbol} asks");
    }
    // Drain what is left, then account for every bookTicker received.
    for _ in 0..100 {
        inv.invoke().unwrap();
        drain(&mut rx, &mut seen);
    }
    let c = inv.agent().conflate_counters();
    assert_eq!(
        c.held, c.flushed,
        "nothing is still pending in the conflator"
    );
    // A forced resync voids a book until it is synced again: the engine is
    // told (Stale, then Fresh), once per transition, through the same
    // latest-wins slots as top of book.
    let status_sent = counters.get(FeedCounter::StaleMarks) + counters.get(FeedCounter::FreshMarks);
    assert!(
        status_sent >= 2,
        "forced resyncs were reported: {counters:?}"
    );
    let received = counters.get(FeedCounter::BookTickers);
    assert_eq!(
        received + status_sent,
        seen.top_of_book + seen.stale_or_fresh + counters.get(FeedCounter::Conflated),
        "every bookTicker and status event is delivered or counted as conflated: {counters:?}, {c:?}"
    );
    for id in ids {
        assert!(inv.agent().is_healthy(id), "synced again, reported Fresh");
    }
    inv.close();
    sim.stop();
}
