//! The `algo` strategy in a paper session: execution algorithms run by the
//! engine of `talon run`, against the embedded simulator.
//!
//! The scenarios, narrated:
//!
//! 1. **TWAP fills the parent.** A paper session on BTCUSDT runs `algo`
//!    with one parent: buy 0.003 BTC by TWAP over 3 s in 3 slices (default
//!    start delay, 1 s). We wait until the engine's position is the parent
//!    quantity and nothing is open, stop, and read the journal: every child
//!    is an IOC limit buy with its approved decision right before it (the
//!    journal-order audit), the journaled fills sum to exactly the parent
//!    quantity (never more), the engine position equals the replayed fills,
//!    and every order the simulator received was journaled. When no child
//!    was refused by risk, the schedule shows: at least 3 children, the
//!    first for a third of the parent, the last decided at least ~2 s (two
//!    slice periods) after the first.
//! 2. **Price impact aborts and cancels.** A paper session on XRPUSDT (one
//!    tick is about 2 bps there, so a one-tick move of the mid exceeds
//!    `max_impact_bps = 1`) runs two resting `limit` parents, a buy 2 %
//!    under and a sell 2 % over the start price. Whichever way the mid moves
//!    first, the parent it moves against aborts and cancels its child: we
//!    wait for a cancel, stop, and check in the journal that the cancel is
//!    a single-order `Cancel` (not the stop's cancel-all) of that parent's
//!    child id with its approved decision, the venue confirmed it, and that
//!    parent's side sent and decided nothing afterwards.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

mod paper_support;

use std::collections::HashSet;

use paper_support::*;
use talon_core::engine::agent::EngineCounter;
use talon_core::event::{OrderCommandKind, OrderStatus, OrderType, Side, TimeInForce};
use talon_core::num::Qty;

const TWAP_TOML: &str = r#"
symbols = ["BTCUSDT"]

[engine.strategy]
name = "algo"

[[engine.strategy.parents]]
symbol = "BTCUSDT"
side = "buy"
qty = "0.003"
max_impact_bps = 300

[engine.strategy.parents.kind.twap]
duration_ms = 3000
slices = 3
"#;

#[test]
fn twap_parent_fills_in_slices_with_approved_children() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_ready(paper_config(TWAP_TOML, dir.path()));
    let instruments = s.instruments().clone();
    let btc = instruments.id_of("BTCUSDT").unwrap();
    let parent_qty = Qty::parse("0.003").unwrap();
    let position = || {
        s.engine()
            .stats()
            .position(btc)
            .map_or(Qty::ZERO, |p| p.qty)
    };

    assert!(
        eventually(60, || position() == parent_qty
            && s.engine().summary().open_orders == 0),
        "the TWAP parent did not fill: position {}, {}",
        position(),
        s.status()
    );
    // Done: a further second adds nothing (the runner never over-fills).
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(position(), parent_qty);
    let venue_ids = sim_order_ids(sim(&s));
    let summary = s.stop().unwrap();
    assert!(summary.clean, "{summary}");

    let recs = read_journal(dir.path().join("journal").as_path());
    let audit = audit_orders(&recs);
    assert_venue_orders_journaled(&audit, &venue_ids);
    let mut children = Vec::new(); // (decide ns, qty)
    let mut last_decide = 0;
    for r in &recs {
        match &r.entry {
            Entry::Decision(d) if d.action == OrderCommandKind::New => last_decide = d.decide.0,
            Entry::Order(cmd) if cmd.kind == OrderCommandKind::New => {
                assert_eq!(
                    (cmd.instrument, cmd.side, cmd.order_type, cmd.time_in_force),
                    (btc, Side::Buy, OrderType::Limit, TimeInForce::Ioc),
                    "record {}: a TWAP child is an IOC limit buy",
                    r.seq
                );
                assert!(cmd.qty <= parent_qty, "record {}", r.seq);
                children.push((last_decide, cmd.qty));
            }
            Entry::Order(cmd) => {
                // Only the stop's cancel-all, never a single cancel.
                assert_eq!(cmd.kind, OrderCommandKind::CancelAll, "record {}", r.seq);
            }
            _ => {}
        }
    }
    assert!(!children.is_empty(), "no child orders journaled");

    let replay = replay_fills(&recs, &instruments);
    let filled = replay.book.get(btc).unwrap().qty();
    assert_eq!(filled, parent_qty, "journaled fills = the parent quantity");
    assert_eq!(
        summary
            .positions
            .iter()
            .find(|p| p.symbol == "BTCUSDT")
            .map(|p| p.qty),
        Some(parent_qty)
    );
    if audit.rejected == 0 {
        assert!(children.len() >= 3, "one child per slice: {children:?}");
        assert_eq!(children[0].1, Qty::parse("0.001").unwrap());
        let (first, last) = (children[0].0, children[children.len() - 1].0);
        assert!(
            last.saturating_sub(first) >= 1_900_000_000,
            "the last slice is two periods after the first: {children:?}"
        );
    }
    eprintln!(
        "algo twap: {} children ({} refused by risk), filled {filled}; {summary}",
        children.len(),
        audit.rejected
    );
}

#[test]
fn price_impact_aborts_a_parent_and_cancels_its_resting_child() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"
symbols = ["XRPUSDT"]

[engine.risk]
max_position = "100000"
price_band_bps = 500

[[sim.account]]
api_key = "{key}"
secret = "{secret}"
balances = {{ USDT = "100000", XRP = "100000" }}

[engine.strategy]
name = "algo"
start_delay_ms = 500

[[engine.strategy.parents]]
symbol = "XRPUSDT"
side = "buy"
qty = "20"
limit_price = "0.49"
max_impact_bps = 1
kind = "limit"

[[engine.strategy.parents]]
symbol = "XRPUSDT"
side = "sell"
qty = "20"
limit_price = "0.51"
max_impact_bps = 1
kind = "limit"
"#,
        key = API_KEY,
        secret = talon_sim::DEMO_SECRET,
    );
    let s = start_ready(paper_config(&toml, dir.path()));
    let xrp = s.instruments().id_of("XRPUSDT").unwrap();
    assert!(
        eventually(60, || s.engine().stats().get(EngineCounter::CancelsSent)
            >= 1),
        "no parent aborted: {}",
        s.status()
    );
    let sim = sim(&s);
    assert!(
        eventually(20, || s.engine().summary().open_orders <= 1),
        "the cancelled child is still open: {}",
        s.status()
    );
    let venue_ids = sim_order_ids(sim);
    let summary = s.stop().unwrap();
    assert!(summary.clean, "{summary}");

    let recs = read_journal(dir.path().join("journal").as_path());
    let audit = audit_orders(&recs);
    assert_venue_orders_journaled(&audit, &venue_ids);
    // The first two new orders: one resting child per parent.
    let news: Vec<_> = recs
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Order(c) if c.kind == OrderCommandKind::New => Some(*c),
            _ => None,
        })
        .collect();
    assert!(news.len() >= 2, "both parents placed: {news:?}");
    let sides: HashSet<Side> = news[..2].iter().map(|c| c.side).collect();
    assert_eq!(sides.len(), 2, "one buy and one sell child: {news:?}");
    for c in &news[..2] {
        assert_eq!(
            (c.instrument, c.order_type, c.time_in_force, c.qty),
            (
                xrp,
                OrderType::Limit,
                TimeInForce::Gtc,
                Qty::parse("20").unwrap()
            )
        );
    }

    // The abort's cancel: a single-order cancel of one of those children.
    let (pos, cancel) = recs
        .iter()
        .enumerate()
        .find_map(|(i, r)| match &r.entry {
            Entry::Order(c) if c.kind == OrderCommandKind::Cancel => Some((i, *c)),
            _ => None,
        })
        .expect("a single-order cancel is journaled");
    let child = news[..2]
        .iter()
        .find(|c| c.client_order_id == cancel.client_order_id)
        .expect("the cancel names a parent's child");
    assert!(
        recs[pos + 1..].iter().any(|r| matches!(
            &r.entry,
            Entry::Exec(e) if e.client_order_id == child.client_order_id
                && e.status == OrderStatus::Canceled
        )),
        "the venue confirmed the cancel of {}",
        child.client_order_id
    );
    // The aborted parent never works again: nothing decided on its side.
    for r in &recs[pos + 1..] {
        if let Entry::Decision(d) = &r.entry {
            assert!(
                !(d.action == OrderCommandKind::New && d.side == child.side),
                "record {}: the aborted {:?} parent decided again: {d:?}",
                r.seq,
                child.side
            );
        }
    }
    eprintln!(
        "algo impact abort: the {:?} parent cancelled {} ({} cancels, {} new orders); {summary}",
        child.side,
        child.client_order_id,
        audit.cancels,
        news.len()
    );
}
