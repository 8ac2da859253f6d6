//! A burst of 10,000 order intents draws no 429 and no -1015 from the
//! simulator, and every one of them is eventually sent: the gateway reads
//! the limits from `exchangeInfo` (the simulator is configured with higher
//! ORDERS limits than the venue's so the test fits its time budget; the
//! gateway is not told them) and throttles at 80 % of each.

#![allow(clippy::unwrap_used)]

mod gateway_support;

use std::time::Duration;

use talon_core::event::{OrderStatus, Side, TimeInForce};
use talon_gateway::counters::GatewayCounter;
use talon_sim::config::RateLimitConfig;

use gateway_support::*;

const N: u64 = 10_000;

#[test]
fn ten_thousand_orders_draw_no_429_and_all_go_out() {
    let mut sc = sim_config();
    sc.rate_limits = RateLimitConfig {
        weight_per_minute: 30_000,
        orders_per_10s: 9_000,
        orders_per_day: 200_000,
        ..RateLimitConfig::default()
    };
    let sim = sim(sc);
    let mut cfg = gateway_config(&sim);
    cfg.ack_timeout = Duration::from_secs(5);
    let mut h = Harness::start(cfg);
    h.ready();

    // IOC buys far below the market: each is accepted, finds nothing to
    // match and expires (an unfilled order: it counts against ORDERS).
    let mut pushed = 0u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while h.counters.get(GatewayCounter::ExecReports) < 2 * N
        || h.reports.iter().filter(|r| r.status.is_terminal()).count() < N as usize
    {
        assert!(
            std::time::Instant::now() < deadline,
            "burst stalled: {:?} sim {:?} orders received {}",
            h.counters,
            sim.stats(),
            sim.orders_received().len()
        );
        // Keep at most 512 intents between the engine and the venue (the
        // gateway's new-order queue holds 1024).
        let in_flight = pushed - h.counters.get(GatewayCounter::OrdersSent);
        if pushed < N && in_flight < 512 && h.orders.free_slots() > 0 {
            h.limit(h.btc, Side::Buy, TimeInForce::Ioc, "30000", "0.001");
            pushed += 1;
            continue;
        }
        h.cycle();
    }
    let stats = sim.rate_limit_stats();
    assert_eq!(stats.http_429, 0, "{stats:?}");
    assert_eq!(stats.http_418, 0, "{stats:?}");
    assert_eq!(stats.too_many_orders, 0, "{stats:?}");
    assert_eq!(h.counters.get(GatewayCounter::OrdersSent), N);
    assert_eq!(h.counters.get(GatewayCounter::RateLimited429), 0);
    assert_eq!(
        h.counters.get(GatewayCounter::LocalRejects),
        0,
        "{:?}",
        h.counters
    );
    assert_eq!(sim.orders_received().len() as u64, N);
    // Every intent ended as the venue decided: New, then Expired.
    let expired = h
        .reports
        .iter()
        .filter(|r| r.status == OrderStatus::Expired)
        .count() as u64;
    assert_eq!(expired, N, "{:?}", h.counters);
    // 9000 × 80 % = 7200 per 10 s: 10,000 orders cannot all fit one window,
    // so the limiter must have held sends back at least once.
    assert!(
        h.counters.get(GatewayCounter::ThrottledWaits) >= 1,
        "{:?}",
        h.counters
    );
    eprintln!("burst: {:?} {stats:?}", h.counters);
    h.close();
    sim.stop();
}
