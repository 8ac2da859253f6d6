//! A daily-loss breach halts the session and cancels everything.
//!
//! The scenario, narrated:
//! 1. A paper session runs with a tiny daily loss limit (0.01 USDT): the
//!    first fills' fees alone take the daily PnL (realised + unrealised −
//!    fees) below it.
//! 2. The engine must latch a `DailyLoss` halt by itself: state `Halted`,
//!    halt reason `daily_loss`, the process halt flag thrown with reason
//!    `DailyLoss`, one automatic halt counted.
//! 3. Everything is cancelled: the engine's open-order table empties, the
//!    simulator shows no open order and nothing locked for the account.
//! 4. Nothing new reaches the venue: the simulator's order log does not
//!    grow while the strategy keeps asking (its intents are refused), and in
//!    the journal, from the first decision after the last one taken
//!    `Active`, every decision is taken `Halted`, every new order is
//!    rejected (reason `halted` or `daily_loss_limit`), no new order command
//!    is journaled, and an engine cancel is among the decisions. Every order
//!    the simulator ever received is one the journal approved.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

mod paper_support;

use std::time::Duration;

use paper_support::*;
use talon_core::engine::agent::EngineCounter;
use talon_core::engine::risk::{RejectReason, TradingState, Verdict};
use talon_core::event::{DecisionOrigin, OrderCommandKind};
use talon_core::halt::HaltReason;
use talon_core::num::Notional;

#[test]
fn a_daily_loss_breach_halts_the_session_and_cancels_every_order() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = paper_config("[engine.risk]\ndaily_loss_limit = \"0.01\"\n", dir.path());
    let s = start_ready(cfg);
    let sim = sim(&s);

    // 2. The engine halts itself.
    assert!(
        eventually(60, || s.engine().stats().latched_halt()
            == Some(HaltReason::DailyLoss)),
        "no daily-loss halt: {}",
        s.status()
    );
    let summary = s.engine().summary();
    assert_eq!(summary.state, TradingState::Halted);
    assert_eq!(summary.halt_reason, Some("daily_loss"));
    assert!(summary.fills >= 1, "a fill caused the loss: {summary:?}");
    assert!(
        summary.daily_pnl.raw() <= -Notional::parse("0.01").unwrap().raw(),
        "daily PnL {} is beyond the limit",
        summary.daily_pnl
    );
    assert_eq!(s.halt_flag().reason(), Some(HaltReason::DailyLoss));
    assert_eq!(s.engine().stats().get(EngineCounter::AutoHalts), 1);

    // 3. Everything is cancelled, at the engine and at the venue.
    assert!(
        eventually(20, || s.engine().summary().open_orders == 0
            && sim_open_orders(sim) == 0
            && sim_locked(sim) == 0),
        "orders still open after the breach: engine {}, sim {:?}, locked {}",
        s.engine().summary().open_orders,
        sim.open_orders(API_KEY),
        sim_locked(sim)
    );

    // 4a. The venue's order log stays put while the strategy keeps trying.
    let rejects_before = s.engine().summary().risk_rejects;
    let venue_before = sim_order_ids(sim);
    assert!(
        eventually(20, || s.engine().summary().risk_rejects
            >= rejects_before + 3),
        "the strategy kept quoting and was refused: {}",
        s.status()
    );
    std::thread::sleep(Duration::from_millis(300));
    let venue_after = sim_order_ids(sim);
    assert_eq!(
        venue_before, venue_after,
        "no order reached the simulator after the halt"
    );
    assert_eq!(
        s.engine().stats().state(),
        TradingState::Halted,
        "still halted"
    );

    let summary = s.stop().unwrap();
    assert!(summary.clean, "{summary}");
    assert_eq!(summary.halt_reason.as_deref(), Some("daily_loss"));
    assert_eq!(summary.open_orders_at_stop, 0);

    // 4b. The journal: approvals only before the halt, refusals after.
    let recs = read_journal(dir.path().join("journal").as_path());
    let audit = audit_orders(&recs);
    assert_venue_orders_journaled(&audit, &venue_after);
    let decisions: Vec<(usize, &talon_core::event::Decision)> = recs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.entry {
            Entry::Decision(d) => Some((i, d)),
            _ => None,
        })
        .collect();
    assert!(
        decisions
            .iter()
            .any(|(_, d)| d.action == OrderCommandKind::New && d.verdict == Verdict::Approved),
        "the session traded before the breach"
    );
    // The halt in the journal: the first decision after the last one taken
    // `Active` (a decision taken `Active` after the breach would fail the
    // live checks above; this anchors the check on the journal alone).
    let trip = decisions
        .iter()
        .rposition(|(_, d)| d.state == TradingState::Active)
        .expect("decisions taken while active")
        + 1;
    assert!(trip < decisions.len(), "decisions taken while halted");
    let trip_index = decisions[trip].0;
    let (mut refused, mut engine_cancels) = (0, 0);
    for (i, d) in &decisions[trip..] {
        let seq = recs[*i].seq;
        assert_eq!(d.state, TradingState::Halted, "record {seq}: never resumed");
        match (d.action, d.verdict) {
            (OrderCommandKind::New, Verdict::Rejected(r)) => {
                assert!(
                    matches!(r, RejectReason::Halted | RejectReason::DailyLossLimit),
                    "record {seq}: refused for {} while halted",
                    r.as_str()
                );
                refused += 1;
            }
            (OrderCommandKind::New, Verdict::Approved) => {
                panic!("record {seq}: a new order was approved after the halt: {d:?}")
            }
            (_, Verdict::Approved) => {
                if d.origin == DecisionOrigin::Engine {
                    engine_cancels += 1;
                }
            }
            (_, Verdict::Rejected(r)) => panic!("record {seq}: cancel rejected ({})", r.as_str()),
        }
    }
    for r in &recs[trip_index..] {
        if let Entry::Order(cmd) = &r.entry {
            assert_ne!(
                cmd.kind,
                OrderCommandKind::New,
                "record {}: a new order journaled after the halt",
                r.seq
            );
        }
    }
    assert!(
        refused >= 3,
        "the strategy's intents were refused: {refused}"
    );
    assert!(engine_cancels >= 1, "the engine cancelled on the breach");
    eprintln!(
        "daily loss: halted at journal record {}, {} orders approved before, \
         {refused} refused and {engine_cancels} engine cancels after; venue received {}",
        recs[trip_index].seq,
        audit.new_orders.len(),
        venue_after.len()
    );
}
