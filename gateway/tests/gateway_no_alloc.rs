//! The gateway allocates nothing per order on `ws://`: a count, not a
//! timing.
//!
//! The real `GatewayAgent` (command intake, rate limiter, breaker, order
//! table, request encoding and HMAC signing, socket writes and reads, the
//! response and user-data decoder, exec-ring pushes) runs on this thread
//! through an `AgentInvoker` against the simulator on loopback. After a
//! warm-up, a counting global allocator counts every allocation made on
//! this thread while N marketable IOC orders go through place → ack → fill
//! (→ exec reports). The simulator's threads are the venue: not counted.

#![allow(clippy::unwrap_used)]

mod gateway_support;

use std::time::{Duration, Instant};

use talon_core::event::{OrderCommand, OrderType, Side, TimeInForce};
use talon_core::num::{Price, Qty};
use talon_gateway::counters::GatewayCounter;
use talon_testkit::{CountingAllocator, allocations};

use gateway_support::*;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const N: u64 = 200;

#[test]
fn place_ack_fill_allocates_nothing_on_the_gateway_thread() {
    // ORDERS limits above the venue's 100/10 s, so 220 orders need no
    // throttling (the limiter's waiting path is allocation-free too, but
    // would only make the test slow).
    let mut sc = sim_config();
    sc.rate_limits.orders_per_10s = 10_000;
    let sim = sim(sc);
    let mut h = Harness::start(gateway_config(&sim));
    h.ready();
    let (_, ask) = top(&sim, "BTCUSDT");
    let px = Price::from_raw(ask.raw() + 100_000_000_000);
    let qty = Qty::parse("0.001").unwrap_or(Qty::ZERO);
    let order = |h: &mut Harness| {
        let id = h.next_id();
        h.push(OrderCommand::new_order(
            h.btc,
            Side::Buy,
            OrderType::Limit,
            TimeInForce::Ioc,
            px,
            qty,
            id,
        ));
    };

    // Warm-up: a few full round trips (first-use paths, buffers).
    for _ in 0..20 {
        order(&mut h);
    }
    h.run_until("warm-up fills", Duration::from_secs(10), |h| {
        h.counters.get(GatewayCounter::Fills) >= 20
            && h.reports.iter().filter(|r| r.status.is_terminal()).count() >= 20
    });
    h.run_for(Duration::from_millis(50));
    h.reports.clear();
    h.reports.reserve(64 * N as usize);
    let fills_before = h.counters.get(GatewayCounter::Fills);
    let sent_before = h.counters.get(GatewayCounter::OrdersSent);

    allocations::track_current_thread(true);
    allocations::start();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut pushed = 0;
    while (h.counters.get(GatewayCounter::Fills) - fills_before < N
        || h.reports.iter().filter(|r| r.status.is_terminal()).count() < N as usize)
        && Instant::now() < deadline
    {
        if pushed < N && pushed < h.counters.get(GatewayCounter::OrdersSent) - sent_before + 8 {
            order(&mut h);
            pushed += 1;
        }
        h.cycle();
    }
    let allocated = allocations::stop();
    allocations::track_current_thread(false);

    let fills = h.counters.get(GatewayCounter::Fills) - fills_before;
    let sent = h.counters.get(GatewayCounter::OrdersSent) - sent_before;
    assert_eq!(sent, N, "{:?}", h.counters);
    assert!(
        fills >= N,
        "every order filled: {fills} fills, {:?}",
        h.counters
    );
    assert_eq!(h.counters.get(GatewayCounter::Reconnects), 0);
    assert_eq!(
        allocated, 0,
        "{allocated} allocations on the gateway thread over {N} orders ({fills} fills)"
    );
    h.close();
    sim.stop();
}
