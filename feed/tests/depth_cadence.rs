//! The feed's books at the venue's own depth cadences equal the simulator's.
//!
//! The other end-to-end tests use one diff per book event. Here the
//! simulator aggregates like the venue: `@depth@100ms` (100 ms windows, the
//! feed's default) and `@depth` over 1000 ms windows. The feed syncs by
//! snapshot + diff; then the simulator is paused, its open windows are closed
//! (so the last diff ends at its book's update id), and both books of the
//! feed must equal the simulator's level for level.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use talon_core::agent::{AgentInvoker, Runtime};
use talon_core::clock::MonotonicClock;
use talon_core::event::MarketEvent;
use talon_core::instrument::{Filters, InstrumentId, InstrumentSpec, InstrumentTable, Symbol};
use talon_core::ring::ring;
use talon_feed::agent::FeedAgent;
use talon_feed::book::SyncState;
use talon_feed::config::{DepthSpeed, FeedConfig, Venue};
use talon_sim::{SimConfig, Simulator};

const LIMIT: Duration = Duration::from_secs(30);

fn run(speed: DepthSpeed, depth_interval_ms: u64) {
    let sim = Simulator::start(SimConfig {
        rate: 5_000,
        seed: 3,
        depth_interval_ms,
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
    cfg.streams.depth = Some(speed);
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
    let books: [(&str, InstrumentId); 2] = [
        ("BTCUSDT", table.id_of("BTCUSDT").unwrap()),
        ("ETHUSDT", table.id_of("ETHUSDT").unwrap()),
    ];
    let (md, mut rx) = ring::<MarketEvent>("md", 1 << 14);
    let agent = FeedAgent::new(cfg, &table, md, MonotonicClock::new()).unwrap();
    let counters = agent.counters();
    let mut inv = AgentInvoker::new(agent, &Runtime::new());
    inv.start().unwrap();
    let mut step = |inv: &mut AgentInvoker<FeedAgent>| {
        if inv.invoke().unwrap() == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
        rx.drain(usize::MAX, |_| {});
    };

    // Synced on both, and moving past the first aggregated window.
    let mut first: [Option<u64>; 2] = [None, None];
    let deadline = Instant::now() + LIMIT;
    loop {
        let moving = books.iter().zip(first.iter_mut()).all(|((_, id), f)| {
            inv.agent().book(*id).is_some_and(|b| {
                let u = b.book().last_update_id();
                b.state() == SyncState::Synced && *f.get_or_insert(u) < u
            })
        });
        if moving {
            break;
        }
        assert!(Instant::now() < deadline, "never synced: {counters:?}");
        step(&mut inv);
    }

    sim.pause_and_flush_windows();
    for (symbol, id) in books {
        let want = sim.book(symbol).unwrap();
        let deadline = Instant::now() + LIMIT;
        while inv.agent().book(id).is_none_or(|b| {
            b.state() != SyncState::Synced || b.book().last_update_id() != want.last_update_id
        }) {
            assert!(
                Instant::now() < deadline,
                "{symbol} never reached the simulator's update id {}: {counters:?}",
                want.last_update_id
            );
            step(&mut inv);
        }
        let book = inv.agent().book(id).unwrap().book();
        assert_eq!(book.bids().collect::<Vec<_>>(), want.bids, "{symbol} bids");
        assert_eq!(book.asks().collect::<Vec<_>>(), want.asks, "{symbol} asks");
        assert!(!book.is_crossed());
    }
    inv.close();
    sim.stop();
}

#[test]
fn books_at_depth_100ms_equal_the_simulators() {
    run(DepthSpeed::Ms100, 0);
}

#[test]
fn books_at_depth_1000ms_equal_the_simulators() {
    run(DepthSpeed::Ms1000, 1000);
}
