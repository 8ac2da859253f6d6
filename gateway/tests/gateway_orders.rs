//! Order flow against the simulator: place → ack → fill → exec reports,
//! LIMIT GTC resting then cancelled, IOC marketable fill with fees, Ed25519
//! session logon, and the venue's rejections surfacing as exec reports and
//! counters.

#![allow(clippy::unwrap_used)]

mod gateway_support;

use talon_core::event::{FeeAsset, OrderCommand, OrderStatus, Side, TimeInForce};
use talon_gateway::counters::{GatewayCounter, VenueCode};
use talon_gateway::error::LocalReject;

use gateway_support::*;

#[test]
fn limit_gtc_rests_then_cancels_and_ioc_fills_with_fees() {
    let sim = sim(sim_config());
    let mut h = Harness::start(gateway_config(&sim));
    h.ready();

    // Far below the market: rests.
    let resting = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    let ack = h.wait_status(&resting, OrderStatus::New);
    assert_eq!(ack.reject_code, 0);
    assert!(ack.venue_order_id > 0);
    assert_eq!(ack.instrument, h.btc);
    assert_eq!(ack.side, Side::Buy);
    assert_eq!(
        h.reports_for(&resting).len(),
        1,
        "acked once: {:?}",
        h.reports_for(&resting)
    );
    assert_eq!(h.inv.agent().order_status(&resting), Some(OrderStatus::New));

    h.push(OrderCommand::cancel(h.btc, resting));
    let done = h.wait_terminal(&resting);
    assert_eq!(done.status, OrderStatus::Canceled);
    assert_eq!(
        h.inv.agent().order_status(&resting),
        None,
        "terminal orders leave the table"
    );

    // Marketable IOC buy: fills against the book, fee in the base asset.
    let (_, ask) = top(&sim, "BTCUSDT");
    let px = talon_core::num::Price::from_raw(ask.raw() + 100_000_000_000); // +1000 USDT
    let ioc = h.limit(h.btc, Side::Buy, TimeInForce::Ioc, &px.to_string(), "0.002");
    let end = h.wait_terminal(&ioc);
    let reps = h.reports_for(&ioc);
    assert_eq!(reps[0].status, OrderStatus::New, "{reps:?}");
    let fills: Vec<_> = reps.iter().filter(|r| r.is_fill()).collect();
    assert!(!fills.is_empty(), "{reps:?}");
    let sum: i64 = fills.iter().map(|r| r.last_qty.raw()).sum();
    assert_eq!(end.cum_qty.raw(), sum, "cum_qty is the sum of fills");
    for f in &fills {
        assert!(f.trade_id > 0);
        assert!(f.fee.is_positive(), "taker fee charged: {f:?}");
        assert_eq!(f.fee_asset, FeeAsset::Base, "a buy pays fees in BTC");
        assert!(f.last_price <= px);
    }
    assert!(matches!(
        end.status,
        OrderStatus::Filled | OrderStatus::Expired
    ));
    if end.status == OrderStatus::Filled {
        assert_eq!(end.cum_qty, talon_core::num::Qty::parse("0.002").unwrap());
    }
    assert!(h.counters.get(GatewayCounter::Fills) >= fills.len() as u64);
    assert_eq!(h.counters.get(GatewayCounter::VenueRejects), 0);
    assert_eq!(h.counters.get(GatewayCounter::LocalRejects), 0);
    h.close();
    sim.stop();
}

#[test]
fn venue_rejections_surface_as_reports_and_counters() {
    let sim = sim(sim_config());
    let mut h = Harness::start(gateway_config(&sim));
    h.ready();

    // Filter violation: price off the 0.01 tick.
    let off_tick = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000.001", "0.001");
    let r = h.wait_terminal(&off_tick);
    assert_eq!(
        (r.status, r.reject_code),
        (OrderStatus::Rejected, -1013),
        "{r:?}"
    );
    assert_eq!(h.counters.venue(VenueCode::Filter), 1);

    // Quantity below LOT_SIZE.minQty.
    let tiny = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.000001");
    let r = h.wait_terminal(&tiny);
    assert_eq!(
        (r.status, r.reject_code),
        (OrderStatus::Rejected, -1013),
        "{r:?}"
    );

    // Cancel of an order the venue does not know: -2011, reported.
    let ghost = h.next_id();
    h.push(OrderCommand::cancel(h.btc, ghost));
    h.run_until("cancel reject", std::time::Duration::from_secs(10), |h| {
        !h.reports_for(&ghost).is_empty()
    });
    let r = h.reports_for(&ghost)[0];
    assert_eq!(r.reject_code, -2011, "{r:?}");
    assert_eq!(h.counters.get(GatewayCounter::CancelRejects), 1);
    assert_eq!(h.counters.venue(VenueCode::CancelRejected), 1);

    // The simulator's reject-with-code fault.
    sim.reject_next_orders(
        1,
        -2010,
        "Account has insufficient balance for requested action.",
    );
    let faulted = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    let r = h.wait_terminal(&faulted);
    assert_eq!(
        (r.status, r.reject_code),
        (OrderStatus::Rejected, -2010),
        "{r:?}"
    );
    assert_eq!(h.counters.venue(VenueCode::NewOrderRejected), 1);

    // Business rejects never trip the breaker; nothing was refused locally.
    assert_eq!(h.counters.get(GatewayCounter::BreakerOpens), 0);
    assert_eq!(h.counters.get(GatewayCounter::VenueRejects), 3);
    assert_eq!(h.counters.get(GatewayCounter::LocalRejects), 0);

    // A duplicate client order id from the engine is refused locally.
    let dup = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    h.wait_status(&dup, OrderStatus::New);
    h.push(talon_core::event::OrderCommand::new_order(
        h.btc,
        Side::Buy,
        talon_core::event::OrderType::Limit,
        TimeInForce::Gtc,
        talon_core::num::Price::parse("30000").unwrap(),
        talon_core::num::Qty::parse("0.001").unwrap(),
        dup,
    ));
    h.run_until(
        "local duplicate reject",
        std::time::Duration::from_secs(5),
        |h| h.counters.local(LocalReject::InvalidOrder) == 1,
    );
    let sent: usize = sim
        .orders_received()
        .iter()
        .filter(|o| o.client_order_id == dup.as_str())
        .count();
    assert_eq!(sent, 1, "the duplicate never left the gateway");
    h.close();
    sim.stop();
}
