//! The journal of a session exports every order with its risk verdict
//! before its send.
//!
//! The scenario, narrated:
//! 1. A paper session runs with `max_open_orders = 3` (the `quote` strategy
//!    wants four quotes on two instruments, so risk both approves and
//!    refuses) until it has sent orders, had fills and refused some; then an
//!    operator `CancelAll` goes through the control agent, and the session
//!    stops.
//! 2. The journal is read back record by record and checked:
//!    * every order command (new, cancel, cancel-all) is immediately
//!      preceded by its decision: approved, same action, instrument, client
//!      order id, and for new orders the same side, type, price and
//!      quantity; every approved decision is immediately followed by its
//!      command; every refusal carries its reason and no command follows it
//!      (see `paper_support::audit_orders`);
//!    * each decision's exported JSON (the payload `talon journal export`
//!      prints: serde of the decoded record) names its verdict and code;
//!    * the counts match the engine's own counters exactly: decisions
//!      journaled, refusals by risk, refusals for `max_open_orders`, new
//!      orders sent;
//!    * every execution report of one of our orders comes after that
//!      order's command in the journal (nothing is acknowledged before it
//!      was journaled);
//!    * the operator's `CancelAll` is journaled as applied;
//!    * every order the simulator received is a journaled approved order.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

mod paper_support;

use std::collections::HashMap;

use paper_support::*;
use talon_core::engine::agent::EngineCounter;
use talon_core::engine::risk::{RejectReason, Verdict};
use talon_core::event::{ControlCommand, DecisionOutcome, OrderCommandKind};

#[test]
fn the_journal_exports_every_order_with_its_verdict_before_its_send() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = paper_config("[engine.risk]\nmax_open_orders = 3\n", dir.path());
    let s = start_ready(cfg);
    let engine = s.engine().clone();

    // 1. Trade, with approvals and refusals.
    assert!(
        eventually(60, || {
            let sum = engine.summary();
            sum.orders_sent >= 6
                && sum.fills >= 1
                && sum.rejects.get(RejectReason::MaxOpenOrders) >= 1
        }),
        "not enough activity: {}",
        s.status()
    );
    let control_msgs = engine.stats().get(EngineCounter::ControlMsgs);
    let command_id = s
        .send_control(ControlCommand::CancelAll { instrument: None })
        .unwrap();
    assert!(
        eventually(10, || engine.stats().get(EngineCounter::ControlMsgs)
            > control_msgs),
        "the control message reached the engine"
    );
    let venue_ids = sim_order_ids(sim(&s));
    let summary = s.stop().unwrap();
    assert!(summary.clean, "{summary}");
    let stats = engine.stats();

    // 2. The journal.
    let recs = read_journal(dir.path().join("journal").as_path());
    let audit = audit_orders(&recs);
    assert_venue_orders_journaled(&audit, &venue_ids);

    let decided = recs
        .iter()
        .filter(|r| matches!(r.entry, Entry::Decision(d) if d.outcome == DecisionOutcome::Decided))
        .count() as u64;
    assert_eq!(decided, stats.get(EngineCounter::Decisions), "decisions");
    assert_eq!(audit.rejected as u64, summary.risk_rejects, "risk refusals");
    let max_open = recs
        .iter()
        .filter(|r| {
            matches!(r.entry, Entry::Decision(d)
                if d.verdict == Verdict::Rejected(RejectReason::MaxOpenOrders))
        })
        .count() as u64;
    assert_eq!(
        max_open,
        summary
            .rejects_by_reason
            .get("max_open_orders")
            .copied()
            .unwrap_or(0)
    );
    assert!(max_open >= 1);
    let not_sent_new = recs
        .iter()
        .filter(|r| {
            matches!(r.entry, Entry::Decision(d)
                if d.outcome == DecisionOutcome::NotSent && d.action == OrderCommandKind::New)
        })
        .count() as u64;
    assert_eq!(
        audit.new_orders.len() as u64,
        summary.orders_sent + not_sent_new,
        "new orders journaled = sent + refused by the full ring"
    );
    assert_eq!(
        audit.cancels as u64,
        summary.cancels_sent
            + recs
                .iter()
                .filter(|r| matches!(r.entry, Entry::Decision(d)
                    if d.outcome == DecisionOutcome::NotSent
                        && d.action != OrderCommandKind::New))
                .count() as u64,
        "cancels journaled = sent + refused by the full ring"
    );

    // Reports come after their order's command.
    let placed_at: HashMap<_, usize> = recs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.entry {
            Entry::Order(c) if c.kind == OrderCommandKind::New => Some((c.client_order_id, i)),
            _ => None,
        })
        .collect();
    let mut reports = 0;
    for (i, r) in recs.iter().enumerate() {
        if let Entry::Exec(rep) = &r.entry
            && !rep.client_order_id.is_empty()
        {
            let placed = placed_at.get(&rep.client_order_id).unwrap_or_else(|| {
                panic!(
                    "record {}: report for {} that the journal never placed",
                    r.seq, rep.client_order_id
                )
            });
            assert!(*placed < i, "record {}: report before its order", r.seq);
            reports += 1;
        }
    }
    assert!(reports >= 1);

    // The operator's cancel-all is journaled, applied.
    assert!(
        recs.iter().any(|r| matches!(r.entry, Entry::Control(m)
            if m.command_id == command_id
                && matches!(m.command, ControlCommand::CancelAll { instrument: None })
                && m.apply.0 != 0)),
        "the operator's CancelAll is journaled as applied"
    );
    eprintln!(
        "journal: {} records, {} new orders and {} cancels each right after its approval, \
         {} refusals ({max_open} max_open_orders), {reports} reports after their orders, \
         {} orders at the venue",
        recs.len(),
        audit.new_orders.len(),
        audit.cancels,
        audit.rejected,
        venue_ids.len()
    );
}
