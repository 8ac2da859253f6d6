//! A paper session places and fills orders against the embedded simulator,
//! and the engine's books equal the simulator's to the last unit.
//!
//! The scenario, narrated:
//! 1. A default paper session (`quote` on BTCUSDT and ETHUSDT, demo
//!    account) starts and trades until both instruments have fills. Run
//!    once per market seed in [`SEEDS`], one after the other.
//! 2. The operator halt is thrown: the engine sends no new order and
//!    cancels the rest. We wait until nothing is open anywhere: the engine's
//!    open-order table is empty (every order it sent has its terminal
//!    report, so every fill report has arrived) and the simulator shows no
//!    open order and nothing locked for the account.
//! 3. The simulator's balances are read (free + locked, per asset); the
//!    session is stopped.
//! 4. Compared exactly, in raw 1e-8 units:
//!    * per instrument, the engine's published position quantity (stats and
//!      the stop summary) equals the journaled fills replayed through a
//!      fresh `PositionBook` (and so do the fill counts);
//!    * per asset, the simulator's balance change (final − initial, free +
//!      locked) equals what the journaled fills imply: for the base asset
//!      the engine's `Position::net_base` (Σ signed fill quantities − fees
//!      charged in base), for the quote asset Σ over both instruments of
//!      `∓ ⌊price × qty⌋` per fill (the venue's truncation) − fees charged in
//!      quote; every other asset unchanged;
//!    * every order the simulator received was journaled with an approved
//!      verdict right before it.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

mod paper_support;

use std::collections::BTreeMap;

use paper_support::*;
use talon_core::halt::HaltReason;

/// Market seeds: each gives the session a different sequence of fills
/// (sides, partial fills, both fee assets).
const SEEDS: [u64; 3] = [1, 7, 42];

#[test]
fn paper_session_fills_and_engine_positions_equal_simulator_balances() {
    for seed in SEEDS {
        one_session(seed);
    }
}

fn one_session(seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = paper_config(&format!("[sim]\nseed = {seed}\n"), dir.path());
    let initial = initial_balances(&cfg);
    let s = start_ready(cfg);
    let instruments = s.instruments().clone();
    assert_eq!(instruments.len(), 2);

    // 1. Trade until every instrument has fills.
    let filled_everywhere = || {
        let stats = s.engine().stats();
        instruments
            .iter()
            .all(|(id, _)| stats.position(id).is_some_and(|p| p.fills >= 1))
    };
    assert!(
        eventually(60, filled_everywhere),
        "not every instrument filled: {}",
        s.status()
    );

    // 2. Halt and wait until nothing is open or locked anywhere.
    s.halt_flag().halt(HaltReason::Operator);
    let sim = sim(&s);
    assert!(
        eventually(20, || s.engine().summary().open_orders == 0
            && sim_open_orders(sim) == 0
            && sim_locked(sim) == 0),
        "orders still open after the halt: engine {}, sim {:?}, locked {}",
        s.engine().summary().open_orders,
        sim.open_orders(API_KEY),
        sim_locked(sim)
    );

    // 3. The venue's books, and the engine's positions, then stop.
    let final_balances = sim_balances(sim);
    let venue_ids = sim_order_ids(sim);
    let engine_positions: BTreeMap<String, (i64, u64)> = instruments
        .iter()
        .map(|(id, spec)| {
            let p = s.engine().stats().position(id).unwrap();
            (spec.symbol.as_str().to_owned(), (p.qty.raw(), p.fills))
        })
        .collect();
    let summary = s.stop().unwrap();
    assert!(summary.clean, "{summary}");
    assert_eq!(summary.open_orders_at_stop, 0, "{summary}");
    assert!(summary.fills >= 2, "{summary}");
    for line in &summary.positions {
        assert_eq!(
            engine_positions[&line.symbol],
            (line.qty.raw(), line.fills),
            "{}: nothing changed after the halt settled",
            line.symbol
        );
    }

    // 4. Journal replay vs engine vs simulator.
    let recs = read_journal(dir.path().join("journal").as_path());
    let audit = audit_orders(&recs);
    assert_venue_orders_journaled(&audit, &venue_ids);
    assert!(!venue_ids.is_empty());

    let replay = replay_fills(&recs, &instruments);
    for (id, spec) in instruments.iter() {
        let sym = spec.symbol.as_str();
        let p = replay.book.get(id).unwrap();
        let (qty, fills) = engine_positions[sym];
        assert_eq!(
            p.qty().raw(),
            qty,
            "{sym}: engine position = journaled fills"
        );
        assert_eq!(
            replay.fills.get(&id).copied().unwrap_or(0),
            fills,
            "{sym}: fill count"
        );
        let base = spec.base_asset.as_str();
        let net_base = i128::from(p.net_base().unwrap().raw());
        assert_eq!(
            net_base, replay.deltas[base],
            "{sym}: net_base is the base balance change the fills imply"
        );
    }
    let mut compared = Vec::new();
    for (asset, (total, locked)) in &final_balances {
        assert_eq!(*locked, 0, "{asset}: nothing locked at the end");
        let start = initial.get(asset).copied().unwrap_or(0);
        let venue_delta = total - start;
        let engine_delta = replay.deltas.get(asset).copied().unwrap_or(0);
        assert_eq!(
            venue_delta, engine_delta,
            "{asset}: simulator balance change (final {total} − initial {start}) \
             vs the engine's fills (raw 1e-8 units)"
        );
        compared.push(format!("{asset} Δ{venue_delta}"));
    }
    for asset in replay.deltas.keys() {
        assert!(
            final_balances.contains_key(asset),
            "{asset} unknown to the sim"
        );
    }
    eprintln!(
        "paper session (seed {seed}): {} orders, {} fills; positions {engine_positions:?}; \
         balances equal to the unit: {}",
        summary.orders_sent,
        summary.fills,
        compared.join(", ")
    );
}
