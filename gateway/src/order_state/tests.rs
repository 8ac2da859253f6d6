#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use super::*;
use proptest::prelude::*;
use talon_core::event::Stamps;

use OrderEvent as E;
use OrderStatus as S;

/// Every legal (state, event) → state, written out independently of
/// `TABLE`. Anything not listed is illegal.
fn expected_legal() -> Vec<(S, E, S)> {
    let mut v = vec![
        // PendingNew
        (S::PendingNew, E::Acked, S::New),
        (S::PendingNew, E::PartialFill, S::PartiallyFilled),
        (S::PendingNew, E::Fill, S::Filled),
        (S::PendingNew, E::Canceled, S::Canceled),
        (S::PendingNew, E::Rejected, S::Rejected),
        (S::PendingNew, E::Expired, S::Expired),
        (S::PendingNew, E::AckTimeout, S::Unknown),
        (S::PendingNew, E::CancelSent, S::PendingNew),
        // New
        (S::New, E::Acked, S::New),
        (S::New, E::PartialFill, S::PartiallyFilled),
        (S::New, E::Fill, S::Filled),
        (S::New, E::Canceled, S::Canceled),
        (S::New, E::Expired, S::Expired),
        (S::New, E::AckTimeout, S::Unknown),
        (S::New, E::CancelSent, S::New),
        // PartiallyFilled
        (S::PartiallyFilled, E::Acked, S::PartiallyFilled),
        (S::PartiallyFilled, E::PartialFill, S::PartiallyFilled),
        (S::PartiallyFilled, E::Fill, S::Filled),
        (S::PartiallyFilled, E::Canceled, S::Canceled),
        (S::PartiallyFilled, E::Expired, S::Expired),
        (S::PartiallyFilled, E::AckTimeout, S::Unknown),
        (S::PartiallyFilled, E::CancelSent, S::PartiallyFilled),
        // Unknown
        (S::Unknown, E::Acked, S::New),
        (S::Unknown, E::PartialFill, S::PartiallyFilled),
        (S::Unknown, E::Fill, S::Filled),
        (S::Unknown, E::Canceled, S::Canceled),
        (S::Unknown, E::Rejected, S::Rejected),
        (S::Unknown, E::Expired, S::Expired),
        (S::Unknown, E::AckTimeout, S::Unknown),
        (S::Unknown, E::CancelSent, S::Unknown),
    ];
    // Status resolutions.
    for to in [
        S::PendingNew,
        S::New,
        S::PartiallyFilled,
        S::Filled,
        S::Canceled,
        S::Rejected,
        S::Expired,
    ] {
        v.push((S::PendingNew, E::StatusResolved(to), to));
        v.push((S::Unknown, E::StatusResolved(to), to));
    }
    for to in [
        S::New,
        S::PartiallyFilled,
        S::Filled,
        S::Canceled,
        S::Expired,
    ] {
        v.push((S::New, E::StatusResolved(to), to));
    }
    for to in [S::PartiallyFilled, S::Filled, S::Canceled, S::Expired] {
        v.push((S::PartiallyFilled, E::StatusResolved(to), to));
    }
    v
}

#[test]
fn every_state_event_pair_matches_the_expected_table() {
    let legal = expected_legal();
    let mut checked = 0;
    let mut legal_seen = 0;
    for &from in S::ALL {
        for ev in OrderEvent::all() {
            let want = legal
                .iter()
                .find(|(f, e, _)| *f == from && *e == ev)
                .map(|(_, _, to)| *to);
            let got = OrderState(from).apply(ev);
            match want {
                Some(to) => {
                    assert_eq!(got, Ok(to), "{from:?} + {ev:?}");
                    legal_seen += 1;
                }
                None => assert_eq!(
                    got,
                    Err(IllegalTransition { from, event: ev }),
                    "{from:?} + {ev:?} should be illegal"
                ),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 8 * 16);
    assert_eq!(legal_seen, legal.len());
    // Terminal states accept nothing.
    for &from in S::ALL.iter().filter(|s| s.is_terminal()) {
        assert!(OrderEvent::all().all(|e| OrderState(from).apply(e).is_err()));
    }
}

fn id(n: u64) -> ClientOrderId {
    ClientOrderId::from_session_seq(1, n)
}

fn entry(n: u64, at: u64) -> OrderEntry {
    OrderEntry::pending(
        id(n),
        InstrumentId(2),
        Side::Buy,
        OrderType::Limit,
        Price::from_raw(100),
        Qty::from_raw(10),
        Nanos(at),
    )
}

fn report(n: u64, status: S, trade: u64, last: i64, cum: i64) -> ExecReport {
    ExecReport {
        client_order_id: id(n),
        status,
        trade_id: trade,
        last_qty: Qty::from_raw(last),
        cum_qty: Qty::from_raw(cum),
        venue_order_id: 77,
        stamps: Stamps::ZERO,
        ..ExecReport::ZERO
    }
}

#[test]
fn lifecycle_dedupes_trades_and_counts() {
    let mut t = OrderTable::new(4);
    t.insert(entry(1, 10)).unwrap();
    assert_eq!(t.insert(entry(1, 11)).unwrap_err(), TableError::Duplicate);
    assert_eq!(
        t.on_report(&report(1, S::New, 0, 0, 0)),
        Ok(ReportOutcome::Applied(S::New))
    );
    assert_eq!(t.get(&id(1)).unwrap().venue_order_id, 77);
    assert_eq!(
        t.on_report(&report(1, S::PartiallyFilled, 500, 4, 4)),
        Ok(ReportOutcome::Applied(S::PartiallyFilled))
    );
    // Same trade again (from the other channel): dropped, counted.
    assert_eq!(
        t.on_report(&report(1, S::PartiallyFilled, 500, 4, 4)),
        Ok(ReportOutcome::DuplicateTrade)
    );
    assert_eq!(t.duplicate_trades(), 1);
    assert_eq!(t.get(&id(1)).unwrap().cum_qty, Qty::from_raw(4));
    t.apply(&id(1), E::CancelSent, Nanos(50)).unwrap();
    assert!(t.get(&id(1)).unwrap().cancel_pending);
    assert_eq!(
        t.on_report(&report(1, S::Filled, 501, 6, 10)),
        Ok(ReportOutcome::Applied(S::Filled))
    );
    let e = t.get(&id(1)).unwrap();
    assert_eq!((e.cum_qty, e.cancel_pending), (Qty::from_raw(10), false));
    // Anything after a terminal state is illegal and counted.
    assert!(matches!(
        t.on_report(&report(1, S::Canceled, 0, 0, 10)),
        Err(TableError::Illegal(_))
    ));
    assert_eq!(t.illegal_transitions(), 1);
    assert_eq!(
        t.on_report(&report(9, S::New, 0, 0, 0)),
        Err(TableError::NotFound)
    );
    assert_eq!(t.open_orders().count(), 0);
    assert_eq!(t.remove_terminal(), 1);
    assert!(t.is_empty());
}

#[test]
fn ack_timeout_scan_and_resolution() {
    let mut t = OrderTable::new(8);
    t.insert(entry(1, 100)).unwrap();
    t.insert(entry(2, 200)).unwrap();
    t.insert(entry(3, 300)).unwrap();
    t.apply(&id(3), E::Acked, Nanos(310)).unwrap();
    let due: Vec<_> = t
        .timed_out(Nanos(1_150), 1_000)
        .map(|e| e.client_order_id)
        .collect();
    assert_eq!(due, vec![id(1)]);
    t.apply(&id(1), E::AckTimeout, Nanos(1_150)).unwrap();
    assert_eq!(t.get(&id(1)).unwrap().status, S::Unknown);
    // A cancel for order 3 that goes unanswered.
    t.apply(&id(3), E::CancelSent, Nanos(400)).unwrap();
    let mut due: Vec<_> = t
        .timed_out(Nanos(1_401), 1_000)
        .map(|e| e.client_order_id)
        .collect();
    due.sort_by_key(|c| c.session_seq());
    assert_eq!(due, vec![id(2), id(3)]);
    t.apply(&id(3), E::AckTimeout, Nanos(1_401)).unwrap();
    // Status query answers.
    assert_eq!(
        t.apply(&id(1), E::StatusResolved(S::Rejected), Nanos(1_500)),
        Ok(S::Rejected)
    );
    assert_eq!(
        t.apply(&id(3), E::StatusResolved(S::Canceled), Nanos(1_500)),
        Ok(S::Canceled)
    );
    assert!(matches!(
        t.apply(&id(2), E::StatusResolved(S::Unknown), Nanos(1_500)),
        Err(TableError::Illegal(_))
    ));
    assert_eq!(t.open_orders().count(), 1);
}

#[test]
fn table_fills_to_capacity_without_growing() {
    let mut t = OrderTable::new(100);
    let slots = t.slots.len();
    for n in 0..100 {
        t.insert(entry(n, n)).unwrap();
    }
    assert_eq!(t.insert(entry(1000, 0)).unwrap_err(), TableError::Full);
    assert_eq!(t.slots.len(), slots);
    for n in (0..100).step_by(3) {
        assert!(t.remove(&id(n)).is_some());
    }
    for n in 0..100 {
        assert_eq!(t.get(&id(n)).is_some(), n % 3 != 0, "{n}");
    }
}

#[test]
fn more_than_kept_trades_forget_the_oldest() {
    let mut e = entry(1, 0);
    for t in 1..=(TRADE_IDS_KEPT as u64 + 1) {
        e.remember_trade(t);
    }
    assert!(!e.seen_trade(1));
    assert!((2..=TRADE_IDS_KEPT as u64 + 1).all(|t| e.seen_trade(t)));
}

#[derive(Clone, Debug)]
enum Op {
    Insert(u64),
    Remove(u64),
    Apply(u64, usize),
    Fill(u64, u64),
    RemoveTerminal,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..40).prop_map(Op::Insert),
        2 => (0u64..40).prop_map(Op::Remove),
        3 => (0u64..40, 0usize..16).prop_map(|(n, e)| Op::Apply(n, e)),
        2 => (0u64..40, 0u64..6).prop_map(|(n, t)| Op::Fill(n, t)),
        1 => Just(Op::RemoveTerminal),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn table_matches_a_hashmap_model(cap in 1usize..24, ops in proptest::collection::vec(op(), 1..300)) {
        let events: Vec<OrderEvent> = OrderEvent::all().collect();
        let mut t = OrderTable::new(cap);
        let mut model: HashMap<ClientOrderId, (S, Vec<u64>)> = HashMap::new();
        let mut dups = 0u64;
        for op in ops {
            match op {
                Op::Insert(n) => {
                    let got = t.insert(entry(n, 0)).map(|_| ());
                    let want = if model.contains_key(&id(n)) {
                        Err(TableError::Duplicate)
                    } else if model.len() >= cap {
                        Err(TableError::Full)
                    } else {
                        model.insert(id(n), (S::PendingNew, Vec::new()));
                        Ok(())
                    };
                    prop_assert_eq!(got, want);
                }
                Op::Remove(n) => {
                    prop_assert_eq!(t.remove(&id(n)).map(|e| e.status), model.remove(&id(n)).map(|m| m.0));
                }
                Op::Apply(n, e) => {
                    let ev = events[e];
                    let got = t.apply(&id(n), ev, Nanos(1));
                    let want = match model.get_mut(&id(n)) {
                        None => Err(TableError::NotFound),
                        Some(m) => match OrderState(m.0).apply(ev) {
                            Ok(s) => { m.0 = s; Ok(s) }
                            Err(x) => Err(TableError::Illegal(x)),
                        },
                    };
                    prop_assert_eq!(got, want);
                }
                Op::Fill(n, trade) => {
                    let r = report(n, S::PartiallyFilled, trade + 1, 1, 1);
                    let got = t.on_report(&r);
                    let want = match model.get_mut(&id(n)) {
                        None => Err(TableError::NotFound),
                        Some(m) if m.1.contains(&(trade + 1)) => { dups += 1; Ok(ReportOutcome::DuplicateTrade) }
                        Some(m) => match OrderState(m.0).apply(E::PartialFill) {
                            Ok(s) => { m.0 = s; m.1.push(trade + 1); Ok(ReportOutcome::Applied(s)) }
                            Err(x) => Err(TableError::Illegal(x)),
                        },
                    };
                    prop_assert_eq!(got, want);
                }
                Op::RemoveTerminal => {
                    let before = model.len();
                    model.retain(|_, m| !m.0.is_terminal());
                    prop_assert_eq!(t.remove_terminal(), before - model.len());
                }
            }
            prop_assert_eq!(t.len(), model.len());
            prop_assert_eq!(t.duplicate_trades(), dups);
            for (k, m) in &model {
                prop_assert_eq!(t.get(k).map(|e| e.status), Some(m.0));
            }
            prop_assert_eq!(t.iter().count(), model.len());
            prop_assert_eq!(
                t.open_orders().count(),
                model.values().filter(|m| !m.0.is_terminal()).count()
            );
        }
    }
}
