//! EngineAgent end to end over real rings and a temp journal, driven by an
//! `AgentInvoker` on a test clock: orders out with their decisions
//! journaled first, risk rejections, the halted start, the daily-loss halt,
//! REDUCING, positions from exec reports, the halt flag and control
//! messages, and a full order ring.
#![allow(clippy::unwrap_used)]

mod engine_support;

use engine_support::*;
use talon_core::engine::agent::EngineCounter;
use talon_core::engine::risk::{RejectReason, TradingState, Verdict};
use talon_core::engine::strategy::Intent;
use talon_core::event::{
    ClientOrderId, ControlCommand, ControlMsg, DecisionOrigin, DecisionOutcome, ExecReport,
    OrderCommandKind, OrderStatus, Side,
};
use talon_core::halt::HaltReason;
use talon_core::instrument::InstrumentId;
use talon_core::num::Notional;
use talon_core::ring::RingConfig;

/// Every journaled command has a `decided` Decision with the same id (or,
/// for a cancel-all, the same instrument), approved, at a lower sequence.
fn assert_decided_before_sent(j: &[Rec]) {
    let ds = decisions(j);
    for (cseq, cmd) in orders(j) {
        let found = ds.iter().any(|(dseq, d)| {
            *dseq < cseq
                && d.outcome == DecisionOutcome::Decided
                && d.verdict == Verdict::Approved
                && d.action == cmd.kind
                && d.instrument == cmd.instrument
                && d.client_order_id == cmd.client_order_id
        });
        assert!(
            found,
            "command at seq {cseq} has no earlier decision: {cmd:?}"
        );
    }
}

fn bench_cfg() -> Strat {
    Strat::Config(toml::from_str("name = \"bench\"\nmark_every = 10\n").unwrap())
}

#[test]
fn market_events_in_orders_out_with_decision_before_command() {
    let mut h = Harness::new(bench_cfg());
    h.handle.set_ready(true);
    h.tob(0, "999.5", "1000.5");
    for t in 1..=50 {
        h.trade(0, t, "1000");
    }
    h.run();
    let sent = h.sent();
    assert_eq!(sent.len(), 5, "{sent:?}");
    for (cmd, tick) in sent.iter().zip([10u64, 20, 30, 40, 50]) {
        assert_eq!(cmd.kind, OrderCommandKind::New);
        assert_eq!(cmd.client_order_id, ClientOrderId::for_tick(7, tick));
        assert_eq!(cmd.client_order_id.tick(), Some(tick));
        assert!(cmd.trigger.recv.0 > 0 && cmd.decide >= cmd.trigger.recv);
        assert!(cmd.journal >= cmd.decide);
    }
    let j = h.journal();
    assert_eq!(orders(&j).len(), 5);
    assert_eq!(decisions(&j).len(), 5);
    assert_decided_before_sent(&j);
    // Journaled command == sent command (journal stamp included).
    for ((_, journaled), cmd) in orders(&j).iter().zip(&sent) {
        assert_eq!(journaled, cmd);
    }
    let s = h.handle.summary();
    assert_eq!(s.market_messages, 51);
    assert_eq!(s.orders_sent, 5);
    assert_eq!(s.state, TradingState::Active);
    assert_eq!(s.open_orders, 5);
    assert_eq!(s.tick_to_order.count, 5);
}

#[test]
fn halted_start_sends_nothing_until_ready() {
    let mut h = Harness::new(bench_cfg());
    h.tob(0, "999.5", "1000.5");
    for t in 1..=20 {
        h.trade(0, t, "1000");
    }
    h.run();
    assert!(h.sent().is_empty());
    assert_eq!(h.engine().state(), TradingState::Halted);
    let j = h.journal();
    assert!(orders(&j).is_empty());
    let ds = decisions(&j);
    assert_eq!(ds.len(), 2);
    assert!(ds.iter().all(
        |(_, d)| d.verdict == Verdict::Rejected(RejectReason::Halted)
            && d.state == TradingState::Halted
            && d.client_order_id.is_empty()
    ));
    assert_eq!(h.handle.stats().rejects().get(RejectReason::Halted), 2);

    h.handle.set_ready(true);
    h.run();
    assert_eq!(h.engine().state(), TradingState::Active);
    for t in 21..=30 {
        h.trade(0, t, "1000");
    }
    h.run();
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].client_order_id.tick(), Some(30));
    assert_decided_before_sent(&h.journal());
}

#[test]
fn risk_rejection_is_journaled_with_reason_and_nothing_sent() {
    let mut h = Harness::new(Strat::Scripted);
    h.handle.set_ready(true);
    h.script(
        &[
            buy(0, "1000", "0.2"),
            buy(0, "1100", "0.01"),
            buy(0, "1000", "0.00015"),
        ],
        0,
        "999.5",
        "1000.5",
    );
    assert!(h.sent().is_empty());
    let j = h.journal();
    assert!(orders(&j).is_empty());
    let reasons: Vec<_> = decisions(&j).iter().map(|(_, d)| d.verdict).collect();
    assert_eq!(
        reasons,
        [
            Verdict::Rejected(RejectReason::MaxPosition),
            Verdict::Rejected(RejectReason::PriceBand),
            Verdict::Rejected(RejectReason::QtyOffStep),
        ]
    );
    let s = h.handle.summary();
    assert_eq!(s.risk_rejects, 3);
    assert_eq!(s.rejects.get(RejectReason::PriceBand), 1);
    assert_eq!(s.orders_sent, 0);
    // A rejected order consumed no sequence: the next approved one is #1.
    h.script(&[buy(0, "1000", "0.01")], 0, "999.5", "1000.5");
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].client_order_id,
        ClientOrderId::from_session_seq(7, 1)
    );
}

#[test]
fn daily_loss_breach_halts_and_cancels_all() {
    let mut h = Harness::new(Strat::Scripted);
    h.handle.set_ready(true);
    h.tob(1, "999.5", "1000.5");
    h.run();
    h.script(
        &[buy(0, "1000", "0.1"), buy(1, "995", "0.01")],
        0,
        "999.5",
        "1000.5",
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 2);
    h.report(Harness::fill(
        &sent[0],
        "0.1",
        "1000",
        1,
        OrderStatus::Filled,
    ));
    assert_eq!(h.engine().state(), TradingState::Active);
    assert_eq!(h.engine().open_orders().len(), 1);
    // BTC mid 500: daily PnL = 0.1 × (500 − 1000) = −50 ≤ −limit.
    h.tob(0, "499.5", "500.5");
    h.run();
    assert_eq!(h.engine().state(), TradingState::Halted);
    assert_eq!(h.runtime.halt.reason(), Some(HaltReason::DailyLoss));
    assert_eq!(h.handle.stats().latched_halt(), Some(HaltReason::DailyLoss));
    assert_eq!(h.handle.stats().get(EngineCounter::AutoHalts), 1);
    assert_eq!(
        h.handle.stats().daily_pnl(),
        Notional::parse("-50").unwrap()
    );
    let cancels = h.sent();
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(cancels[0].kind, OrderCommandKind::CancelAll);
    assert_eq!(cancels[0].instrument, InstrumentId(1));
    let j = h.journal();
    assert_decided_before_sent(&j);
    assert!(decisions(&j).iter().any(
        |(_, d)| d.origin == DecisionOrigin::Engine && d.action == OrderCommandKind::CancelAll
    ));
    // Nothing new leaves; the cancel-all is not repeated.
    h.script(&[sell(0, "500", "0.01")], 0, "499.5", "500.5");
    assert!(h.sent().is_empty());
    let last = decisions(&h.journal()).last().unwrap().1;
    assert_eq!(last.verdict, Verdict::Rejected(RejectReason::Halted));
}

#[test]
fn reducing_lets_only_reducing_orders_through() {
    let mut h = Harness::new(Strat::Scripted);
    h.handle.set_ready(true);
    h.script(&[buy(0, "1000", "0.05")], 0, "999.5", "1000.5");
    let sent = h.sent();
    h.report(Harness::fill(
        &sent[0],
        "0.05",
        "1000",
        1,
        OrderStatus::Filled,
    ));
    h.handle.set_reducing(true);
    h.script(
        &[
            buy(0, "1000", "0.01"),
            sell(0, "1000", "0.02"),
            sell(0, "1000", "0.04"),
        ],
        0,
        "999.5",
        "1000.5",
    );
    assert_eq!(h.engine().state(), TradingState::Reducing);
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!((sent[0].side, sent[0].qty), (Side::Sell, q("0.02")));
    let ds = decisions(&h.journal());
    let tail: Vec<_> = ds
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(|(_, d)| d.verdict)
        .collect();
    // 0.02 open to sell + 0.04 would flip the 0.05 long: not reducing.
    assert_eq!(
        tail,
        [
            Verdict::Rejected(RejectReason::NotReducing),
            Verdict::Approved,
            Verdict::Rejected(RejectReason::NotReducing),
        ]
    );
    assert!(
        ds.iter()
            .rev()
            .take(3)
            .all(|(_, d)| d.state == TradingState::Reducing)
    );
    h.handle.set_reducing(false);
    h.script(&[buy(0, "1000", "0.01")], 0, "999.5", "1000.5");
    assert_eq!(h.sent().len(), 1);
}

#[test]
fn exec_reports_update_positions_and_skip_duplicate_fills() {
    let mut h = Harness::new(Strat::Scripted);
    h.handle.set_ready(true);
    h.script(&[buy(0, "1000", "0.05")], 0, "999.5", "1000.5");
    let order = h.sent()[0];
    let partial = ExecReport {
        status: OrderStatus::PartiallyFilled,
        ..Harness::fill(&order, "0.02", "1000", 11, OrderStatus::PartiallyFilled)
    };
    let rest = ExecReport {
        cum_qty: q("0.05"),
        ..Harness::fill(&order, "0.03", "999", 12, OrderStatus::Filled)
    };
    h.report(partial);
    assert_eq!(
        h.engine()
            .open_orders()
            .get(&order.client_order_id)
            .unwrap()
            .cum_qty,
        q("0.02")
    );
    h.report(rest);
    h.report(rest); // the same fill again (e.g. from the order response)
    h.script(&[sell(0, "1000", "0.01")], 0, "999.5", "1000.5");
    let s = h.sent()[0];
    h.report(Harness::fill(&s, "0.01", "1001", 13, OrderStatus::Filled));
    let pos = *h.engine().positions().get(InstrumentId(0)).unwrap();
    assert_eq!(pos.qty(), q("0.04")); // 0.02 + 0.03 − 0.01
    assert_eq!(pos.fills(), 3);
    let snap = h.handle.stats().position(InstrumentId(0)).unwrap();
    assert_eq!(snap.qty, q("0.04"));
    assert_eq!(snap.fills, 3);
    let st = h.handle.summary();
    assert_eq!((st.fills, st.duplicate_fills, st.exec_reports), (3, 1, 4));
    assert_eq!(st.open_orders, 0);
    // Every report was journaled with its apply stamp.
    let execs = h
        .journal()
        .iter()
        .filter(|r| matches!(r.v, J::Exec(e) if e.apply.0 > 0))
        .count();
    assert_eq!(execs, 4);
}

#[test]
fn halt_flag_and_control_messages_are_honoured() {
    let mut h = Harness::new(Strat::Scripted);
    h.handle.set_ready(true);
    h.runtime.halt.halt(HaltReason::Operator);
    h.script(&[buy(0, "1000", "0.01")], 0, "999.5", "1000.5");
    assert!(h.sent().is_empty());
    assert_eq!(h.engine().state(), TradingState::Halted);
    // Resume clears an operator halt; the engine is ready, so ACTIVE.
    h.control(ControlMsg::new(1, ControlCommand::Resume));
    assert!(!h.runtime.halt.is_halted());
    assert_eq!(h.engine().state(), TradingState::Active);
    h.script(&[buy(0, "1000", "0.01")], 0, "999.5", "1000.5");
    assert_eq!(h.sent().len(), 1);
    // Limits from control: max position 0.005 rejects the next buy.
    h.control(ControlMsg::new(
        2,
        ControlCommand::SetLimits {
            max_order_notional: Notional::parse("1000").unwrap(),
            daily_loss_limit: Notional::parse("50").unwrap(),
            max_position: q("0.005"),
            max_open_orders: 20,
            max_orders_per_sec: 1000,
            instrument: None,
        },
    ));
    h.script(&[buy(0, "1000", "0.01")], 0, "999.5", "1000.5");
    assert!(h.sent().is_empty());
    assert_eq!(h.handle.stats().rejects().get(RejectReason::MaxPosition), 1);
    // A control halt cancels what is open and latches.
    h.control(ControlMsg::new(
        3,
        ControlCommand::Halt {
            reason: HaltReason::Operator,
        },
    ));
    let cancels = h.sent();
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].kind, OrderCommandKind::CancelAll);
    assert_eq!(h.engine().state(), TradingState::Halted);
    let j = h.journal();
    let applied: Vec<u64> = j
        .iter()
        .filter_map(|r| match r.v {
            J::Control(c) if c.apply.0 > 0 => Some(c.command_id),
            _ => None,
        })
        .collect();
    assert_eq!(applied, [1, 2, 3]);
    assert_decided_before_sent(&j);
    // Per-instrument limits are not applied (and say so in the journal).
    h.control(ControlMsg::new(
        4,
        ControlCommand::SetLimits {
            max_order_notional: Notional::parse("1").unwrap(),
            daily_loss_limit: Notional::parse("1").unwrap(),
            max_position: q("1"),
            max_open_orders: 1,
            max_orders_per_sec: 1,
            instrument: Some(InstrumentId(0)),
        },
    ));
    assert_eq!(h.handle.stats().get(EngineCounter::ControlRejected), 1);
}

#[test]
fn full_order_ring_is_counted_and_journaled_as_not_sent() {
    let rings = RingConfig {
        order: 1,
        ..RingConfig::default()
    };
    let mut h = Harness::with_rings(Strat::Scripted, rings);
    h.handle.set_ready(true);
    h.script(
        &[buy(0, "1000", "0.01"), buy(0, "1000", "0.02")],
        0,
        "999.5",
        "1000.5",
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].qty, q("0.01"));
    let j = h.journal();
    let ds = decisions(&j);
    let not_sent: Vec<_> = ds
        .iter()
        .filter(|(_, d)| d.outcome == DecisionOutcome::NotSent)
        .collect();
    assert_eq!(not_sent.len(), 1);
    assert_eq!(not_sent[0].1.qty, q("0.02"));
    assert_eq!(h.handle.stats().get(EngineCounter::OrdersNotSent), 1);
    assert_eq!(h.engine().open_orders().len(), 1);
}

#[test]
fn strategy_cancels_reach_the_ring_once() {
    let mut h = Harness::new(Strat::Scripted);
    h.handle.set_ready(true);
    h.script(&[buy(0, "999", "0.01")], 0, "999.5", "1000.5");
    let id = h.sent()[0].client_order_id;
    let cancel = Intent::Cancel {
        instrument: InstrumentId(0),
        client_order_id: id,
    };
    h.script(&[cancel, cancel], 0, "999.5", "1000.5");
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].kind, sent[0].client_order_id),
        (OrderCommandKind::Cancel, id)
    );
    assert_eq!(h.handle.stats().get(EngineCounter::CancelsSkipped), 1);
    h.report(ExecReport {
        status: OrderStatus::Canceled,
        client_order_id: id,
        ..ExecReport::ZERO
    });
    assert!(h.engine().open_orders().is_empty());
    assert_decided_before_sent(&h.journal());
}

#[test]
fn no_new_order_leaves_in_the_cycle_whose_market_data_breaches_the_daily_loss() {
    let mut h = Harness::new(Strat::Scripted);
    h.handle.set_ready(true);
    h.tob(1, "999.5", "1000.5");
    h.run();
    h.script(&[buy(0, "1000", "0.1")], 0, "999.5", "1000.5");
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    h.report(Harness::fill(
        &sent[0],
        "0.1",
        "1000",
        1,
        OrderStatus::Filled,
    ));
    assert_eq!(h.engine().state(), TradingState::Active);
    // One market event moves BTC's mid to 500 (daily PnL −50 = −limit) and
    // the strategy reacts to it, in the same duty cycle, with a new order:
    // it must be checked against the PnL at the new mid, not the last
    // cycle's.
    h.script(&[buy(1, "995", "0.01")], 0, "499.5", "500.5");
    let sent = h.sent();
    assert!(
        sent.iter().all(|c| c.kind != OrderCommandKind::New),
        "a new order left after the breach: {sent:?}"
    );
    assert_eq!(h.runtime.halt.reason(), Some(HaltReason::DailyLoss));
    let last_new = decisions(&h.journal())
        .into_iter()
        .rev()
        .find(|(_, d)| d.action == OrderCommandKind::New && d.instrument == InstrumentId(1))
        .unwrap()
        .1;
    assert!(!last_new.verdict.is_approved(), "{last_new:?}");
}
