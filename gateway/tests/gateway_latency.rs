//! Per-order internal latency recorded by the real gateway against the
//! simulator: every market-triggered order written is in every stage
//! histogram, the stages add up to `internal`, untriggered orders are only
//! counted, and recording allocates nothing on the gateway thread.

#![allow(clippy::unwrap_used)]

mod gateway_support;

use std::time::{Duration, Instant};

use talon_core::clock::Nanos;
use talon_core::event::{OrderCommand, OrderType, Side, Stamps, TimeInForce};
use talon_core::num::{Price, Qty};
use talon_gateway::counters::GatewayCounter;
use talon_gateway::latency::OrderStage;
use talon_testkit::{CountingAllocator, allocations};

use gateway_support::*;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const N: u64 = 50;

#[test]
fn triggered_orders_are_recorded_per_stage_without_allocating() {
    let mut sc = sim_config();
    sc.rate_limits.orders_per_10s = 10_000;
    let sim = sim(sc);
    let mut h = Harness::start(gateway_config(&sim));
    let latency = h.inv.agent().latency();
    h.ready();
    let (_, ask) = top(&sim, "BTCUSDT");
    let px = Price::from_raw(ask.raw() + 100_000_000_000);
    let qty = Qty::parse("0.001").unwrap_or(Qty::ZERO);
    // Stamps far below the gateway clock's now (its origin is older), in
    // pipeline order: decode 1 ns, md ring + decide 2 ns, journal 3 ns.
    let order = |h: &mut Harness, triggered: bool| {
        let id = h.next_id();
        let mut cmd = OrderCommand::new_order(
            h.btc,
            Side::Buy,
            OrderType::Limit,
            TimeInForce::Ioc,
            px,
            qty,
            id,
        );
        if triggered {
            cmd.trigger = Stamps {
                recv: Nanos(10),
                decode: Nanos(11),
            };
            cmd.decide = Nanos(13);
            cmd.journal = Nanos(16);
        }
        h.push(cmd);
    };

    // Warm-up, untriggered: counted, not recorded.
    for _ in 0..5 {
        order(&mut h, false);
    }
    h.run_until("warm-up sent", Duration::from_secs(10), |h| {
        h.counters.get(GatewayCounter::OrdersSent) >= 5
    });
    assert_eq!(latency.untriggered(), 5);
    assert_eq!(latency.summary(OrderStage::Internal).count, 0);
    h.run_for(Duration::from_millis(50));
    h.reports.clear();
    h.reports.reserve(64 * N as usize);
    let sent_before = h.counters.get(GatewayCounter::OrdersSent);

    allocations::track_current_thread(true);
    allocations::start();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut pushed = 0;
    while h.counters.get(GatewayCounter::OrdersSent) - sent_before < N && Instant::now() < deadline
    {
        if pushed < N && pushed < h.counters.get(GatewayCounter::OrdersSent) - sent_before + 8 {
            order(&mut h, true);
            pushed += 1;
        }
        h.cycle();
    }
    let allocated = allocations::stop();
    allocations::track_current_thread(false);
    assert_eq!(allocated, 0, "{allocated} allocations over {N} orders");

    assert_eq!(h.counters.get(GatewayCounter::OrdersSent) - sent_before, N);
    for s in OrderStage::ALL {
        assert_eq!(latency.summary(s).count, N, "{}", s.as_str());
    }
    assert_eq!(latency.summary(OrderStage::Decode).max, 1);
    assert_eq!(latency.summary(OrderStage::MdRingDecideRisk).max, 2);
    assert_eq!(latency.summary(OrderStage::JournalDecision).max, 3);
    // recv → written = every stage; the gateway's own stage is real time.
    let internal = latency.summary(OrderStage::Internal);
    let ring = latency.summary(OrderStage::JournalOrderRing);
    assert!(internal.max >= ring.max && ring.max > 0);
    assert!(latency.summary(OrderStage::EncodeSign).max > 0);
    assert!(latency.summary(OrderStage::SocketWrite).max > 0);
    assert_eq!(latency.untriggered(), 5);

    // Switched off: nothing more is recorded.
    latency.set_recording(false);
    order(&mut h, true);
    let sent = h.counters.get(GatewayCounter::OrdersSent);
    h.run_until("one more sent", Duration::from_secs(10), |h| {
        h.counters.get(GatewayCounter::OrdersSent) > sent
    });
    assert_eq!(latency.summary(OrderStage::Internal).count, N);
    h.close();
    sim.stop();
}
