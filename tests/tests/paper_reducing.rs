//! In `REDUCING`, only risk-reducing orders get through.
//!
//! The scenario, narrated:
//! 1. A paper session (`quote`, 0.002 per quote on BTCUSDT and ETHUSDT)
//!    trades until one instrument holds at least three quote sizes.
//! 2. The operator switches the engine to `REDUCING`
//!    (`EngineHandle::set_reducing(true)`) and cancels what was open
//!    (`ControlCommand::CancelAll`): the switch governs new orders only, so
//!    a resting order on the increasing side placed before it must be
//!    cancelled for the position to stop growing.
//! 3. The strategy keeps quoting both sides: the side that would add to the
//!    position is refused (`not_reducing`), the side that reduces it is
//!    sent; we wait until both happened and a position shrank.
//! 4. The journal, replayed in order (positions rebuilt from its fills with
//!    the engine's own `PositionBook`):
//!    * from the first decision taken `Reducing` on, no decision is taken
//!      `Active`;
//!    * every new order approved in `Reducing` is on the side opposite the
//!      position at that point and no larger than it;
//!    * every `not_reducing` refusal was taken in `Reducing`;
//!    * every fill of an order approved in `Reducing` leaves |position| no
//!      larger and on the same side (or flat);
//!    * once the last report of any order placed before the switch is in,
//!      no fill makes |position| grow on any instrument;
//!    * every order the simulator received was journaled as approved.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

mod paper_support;

use std::collections::{HashMap, HashSet};

use paper_support::*;
use talon_core::engine::position::PositionBook;
use talon_core::engine::risk::{RejectReason, TradingState, Verdict};
use talon_core::event::{ControlCommand, DecisionOutcome, OrderCommandKind, Side};
use talon_core::instrument::InstrumentId;
use talon_core::num::Qty;

fn abs_positions(s: &talon_cli::session::Session) -> HashMap<InstrumentId, i64> {
    s.instruments()
        .iter()
        .map(|(id, _)| {
            let q = s.engine().stats().position(id).map_or(0, |p| p.qty.raw());
            (id, q.abs())
        })
        .collect()
}

#[test]
fn reducing_lets_only_risk_reducing_orders_through() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = paper_config("[engine.strategy]\nqty = \"0.002\"\n", dir.path());
    let s = start_ready(cfg);
    let sim = sim(&s);
    let three_sizes = Qty::parse("0.006").unwrap().raw();

    // 1. Build a position.
    assert!(
        eventually(90, || abs_positions(&s).values().any(|q| *q >= three_sizes)),
        "no position of three quote sizes built: {}",
        s.status()
    );

    // 2. Switch to REDUCING and cancel what was resting.
    s.engine().set_reducing(true);
    assert!(
        eventually(10, || s.engine().stats().state() == TradingState::Reducing),
        "engine not reducing: {}",
        s.status()
    );
    let at_switch = abs_positions(&s);
    let sent_at_switch = s.engine().summary().orders_sent;
    let refused_at_switch = s.engine().summary().rejects.get(RejectReason::NotReducing);
    assert!(
        s.send_control(ControlCommand::CancelAll { instrument: None })
            .is_some()
    );

    // 3. Refusals on the increasing side, reducing orders sent, a position
    //    shrinks.
    assert!(
        eventually(60, || {
            let sum = s.engine().summary();
            let now = abs_positions(&s);
            sum.orders_sent > sent_at_switch
                && sum.rejects.get(RejectReason::NotReducing) >= refused_at_switch + 3
                && now.iter().any(|(id, q)| *q < at_switch[id])
        }),
        "reducing orders not sent / refused / filled: {}",
        s.status()
    );
    assert_eq!(s.engine().stats().state(), TradingState::Reducing);
    let venue_ids = sim_order_ids(sim);
    let instruments = s.instruments().clone();
    let summary = s.stop().unwrap();
    assert!(summary.clean, "{summary}");

    // 4. The journal.
    let recs = read_journal(dir.path().join("journal").as_path());
    let audit = audit_orders(&recs);
    assert_venue_orders_journaled(&audit, &venue_ids);

    let switch = recs
        .iter()
        .position(|r| matches!(r.entry, Entry::Decision(d) if d.state == TradingState::Reducing))
        .expect("decisions taken while reducing");
    let mut decided_in: HashMap<_, TradingState> = HashMap::new();
    for r in &recs {
        if let Entry::Decision(d) = &r.entry
            && d.action == OrderCommandKind::New
            && d.verdict == Verdict::Approved
        {
            decided_in.insert(d.client_order_id, d.state);
        }
    }
    // After this index no order placed before the switch reports anything.
    let pre_switch_settled = recs
        .iter()
        .rposition(|r| {
            matches!(r.entry, Entry::Exec(rep)
                if decided_in.get(&rep.client_order_id) == Some(&TradingState::Active))
        })
        .unwrap_or(0)
        .max(switch);

    let mut book = PositionBook::new(instruments.len(), 0);
    let mut seen = HashSet::new();
    let (mut approved, mut refused, mut reducing_fills, mut late_fills) = (0, 0, 0, 0);
    for (i, r) in recs.iter().enumerate() {
        match &r.entry {
            Entry::Decision(d) => {
                if i >= switch {
                    assert_ne!(
                        d.state,
                        TradingState::Active,
                        "record {}: active again after the switch",
                        r.seq
                    );
                }
                if d.action != OrderCommandKind::New || d.outcome != DecisionOutcome::Decided {
                    continue;
                }
                match d.verdict {
                    Verdict::Approved if d.state == TradingState::Reducing => {
                        let pos = book.get(d.instrument).unwrap().qty().raw();
                        let q = d.qty.raw();
                        let reduces = match d.side {
                            Side::Sell => pos > 0 && q <= pos,
                            Side::Buy => pos < 0 && q <= -pos,
                        };
                        assert!(
                            reduces,
                            "record {}: approved in REDUCING but not reducing: {:?} {} at position {}",
                            r.seq,
                            d.side,
                            d.qty,
                            Qty::from_raw(pos)
                        );
                        approved += 1;
                    }
                    Verdict::Rejected(RejectReason::NotReducing) => {
                        assert_eq!(d.state, TradingState::Reducing, "record {}", r.seq);
                        refused += 1;
                    }
                    _ => {}
                }
            }
            Entry::Exec(rep) if rep.trade_id != 0 => {
                if !seen.insert((rep.instrument, rep.trade_id)) {
                    continue;
                }
                let before = book.get(rep.instrument).unwrap().qty().raw();
                assert_eq!(book.apply(rep), Ok(true), "record {}", r.seq);
                let after = book.get(rep.instrument).unwrap().qty().raw();
                if decided_in.get(&rep.client_order_id) == Some(&TradingState::Reducing) {
                    assert!(
                        after == 0 || (after.abs() <= before.abs() && (before > 0) == (after > 0)),
                        "record {}: a REDUCING order's fill took the position from {} to {}",
                        r.seq,
                        Qty::from_raw(before),
                        Qty::from_raw(after)
                    );
                    reducing_fills += 1;
                }
                if i > pre_switch_settled {
                    assert!(
                        after.abs() <= before.abs(),
                        "record {}: |position| grew from {} to {} after the switch settled",
                        r.seq,
                        Qty::from_raw(before),
                        Qty::from_raw(after)
                    );
                    late_fills += 1;
                }
            }
            _ => {}
        }
    }
    assert!(approved >= 1, "reducing orders were approved");
    assert!(refused >= 3, "increasing orders were refused: {refused}");
    eprintln!(
        "reducing: switch at record {}, pre-switch orders settled at record {}; \
         {approved} reducing orders approved, {refused} refused not_reducing, \
         {reducing_fills} fills of reducing orders, {late_fills} fills after settling",
        recs[switch].seq, recs[pre_switch_settled].seq
    );
}
