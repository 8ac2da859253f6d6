//! Faults against the simulator: a socket dropped between send and ack,
//! reconnect + open-order resync (also across a gateway restart), the
//! circuit breaker opening and half-opening, the halt flag, session-level
//! rejections (wrong secret, unknown key), clock skew, duplicate client
//! order ids at the venue, and an Ed25519 session.

#![allow(clippy::unwrap_used)]

mod gateway_support;

use std::time::{Duration, Instant};

use talon_core::clock::{Nanos, unix_nanos};
use talon_core::event::{OrderCommand, OrderStatus, Side, TimeInForce};
use talon_core::halt::HaltReason;
use talon_gateway::agent::SessionState;
use talon_gateway::breaker::BreakerState;
use talon_gateway::config::{AuthSecret, Credentials, Secret};
use talon_gateway::counters::{GatewayCounter, VenueCode};
use talon_gateway::error::LocalReject;
use talon_sim::config::DEMO_API_KEY;

use gateway_support::*;

fn received(sim: &talon_sim::SimHandle, id: &talon_core::event::ClientOrderId) -> usize {
    sim.orders_received()
        .iter()
        .filter(|o| o.client_order_id == id.as_str())
        .count()
}

#[test]
fn socket_dropped_between_send_and_ack_resolves_to_exactly_one_live_order() {
    let sim = sim(sim_config());
    let mut h = Harness::start(gateway_config(&sim));
    h.ready();

    sim.drop_next_after_accept(1);
    let id = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    let sent = Instant::now();
    // Resolved = the connection was lost, the session came back, resynced,
    // and the engine has seen the order as New. (The simulator may or may
    // not have flushed the user-data NEW before dropping the socket; if
    // not, the resync's openOrders/order.status find the order.)
    h.run_until("reconnected, resynced, New", Duration::from_secs(10), |h| {
        h.counters.get(GatewayCounter::Reconnects) >= 1
            && h.counters.get(GatewayCounter::Resyncs) >= 2
            && h.inv.agent().is_ready()
            && h.reports_for(&id)
                .iter()
                .any(|r| r.status == OrderStatus::New)
    });
    let took = sent.elapsed();
    // The bound: resolved within 2 s.
    assert!(took < Duration::from_secs(2), "took {took:?}");
    // Exactly one order.place ever reached the venue with that id, and it
    // is live there.
    assert_eq!(received(&sim, &id), 1);
    h.run_for(Duration::from_millis(100));
    assert_eq!(received(&sim, &id), 1, "never resent");
    let reps = h.reports_for(&id);
    assert_eq!(
        reps.iter().filter(|r| r.status == OrderStatus::New).count(),
        1,
        "one New: {reps:?}"
    );
    assert!(
        reps.iter().all(|r| r.status != OrderStatus::Rejected),
        "{reps:?}"
    );
    assert_eq!(h.inv.agent().order_status(&id), Some(OrderStatus::New));

    // And it is the same live order: cancelling it works.
    h.push(OrderCommand::cancel(h.btc, id));
    assert_eq!(h.wait_terminal(&id).status, OrderStatus::Canceled);
    h.close();
    sim.stop();
}

#[test]
fn reconnect_resyncs_open_orders_and_a_restart_adopts_them() {
    let sim = sim(sim_config());
    let mut h = Harness::start(gateway_config(&sim));
    h.ready();
    let a = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    h.wait_status(&a, OrderStatus::New);
    let b = h.limit(h.eth, Side::Sell, TimeInForce::Gtc, "9000", "0.01");
    h.wait_status(&b, OrderStatus::New);
    // Let b's order.place response arrive (the user-data NEW can overtake
    // it) before arming the fault, so the drop hits c and nothing else.
    h.run_for(Duration::from_millis(50));

    // Drop the connection (after an order the venue accepts).
    sim.drop_next_after_accept(1);
    let c = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30001", "0.001");
    h.run_until("resynced", Duration::from_secs(10), |h| {
        h.counters.get(GatewayCounter::Resyncs) >= 2 && h.inv.agent().is_ready()
    });
    h.wait_status(&c, OrderStatus::New);
    for id in [a, b, c] {
        assert_eq!(h.inv.agent().order_status(&id), Some(OrderStatus::New));
        assert_eq!(received(&sim, &id), 1);
    }
    // Cancels still work on the new connection.
    h.push(OrderCommand::cancel(h.btc, a));
    assert_eq!(h.wait_terminal(&a).status, OrderStatus::Canceled);
    let seq_after = 3;
    h.close();

    // A new gateway process (same session id, later sequence) adopts the
    // orders it finds open at the venue.
    let mut h2 = Harness::start_seq(gateway_config(&sim), seq_after);
    h2.ready();
    h2.run_until("adopted", Duration::from_secs(5), |h| {
        h.reports_for(&b)
            .iter()
            .any(|r| r.status == OrderStatus::New)
            && h.reports_for(&c)
                .iter()
                .any(|r| r.status == OrderStatus::New)
    });
    assert!(h2.counters.get(GatewayCounter::OrdersAdopted) >= 2);
    assert_eq!(h2.inv.agent().order_status(&b), Some(OrderStatus::New));
    assert_eq!(
        h2.inv.agent().order_status(&a),
        None,
        "cancelled before the restart"
    );
    h2.push(OrderCommand::cancel(h2.eth, b));
    assert_eq!(h2.wait_terminal(&b).status, OrderStatus::Canceled);
    h2.push(OrderCommand::cancel_all(h2.btc));
    assert_eq!(h2.wait_terminal(&c).status, OrderStatus::Canceled);
    h2.close();
    sim.stop();
}

#[test]
fn breaker_opens_after_five_failures_and_half_opens_with_one_probe() {
    let sim = sim(sim_config());
    let mut cfg = gateway_config(&sim);
    cfg.breaker.failures = 5;
    cfg.breaker.window = Duration::from_secs(30);
    cfg.breaker.half_open_after = Duration::from_millis(300);
    let mut h = Harness::start(cfg);
    h.ready();

    // Five "outcome unknown" answers (-1007): each is a breaker failure,
    // each order becomes Unknown, is queried and found never placed.
    sim.reject_next_orders(
        5,
        -1007,
        "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
    );
    let mut failed = Vec::new();
    for _ in 0..5 {
        let id = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
        let end = h.wait_terminal(&id);
        assert_eq!(
            (end.status, end.reject_code),
            (OrderStatus::Rejected, -2013),
            "{:?}",
            h.reports_for(&id)
        );
        let reps = h.reports_for(&id);
        assert_eq!(reps[0].status, OrderStatus::Unknown, "{reps:?}");
        assert_eq!(reps[0].reject_code, -1007);
        failed.push(id);
    }
    assert_eq!(h.counters.venue(VenueCode::Timeout), 5);
    assert_eq!(h.counters.get(GatewayCounter::OrdersNeverPlaced), 5);
    assert_eq!(h.counters.get(GatewayCounter::BreakerOpens), 1);
    assert_eq!(h.inv.agent().breaker_state(), BreakerState::Open);

    // Open: refused locally, never sent.
    let refused = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    let r = h.wait_terminal(&refused);
    assert_eq!(
        (r.status, r.reject_code),
        (OrderStatus::Rejected, LocalReject::BreakerOpen.code())
    );
    assert_eq!(received(&sim, &refused), 0);

    // After half_open_after: exactly one probe goes out; a second order
    // while it is in flight is refused.
    std::thread::sleep(Duration::from_millis(350));
    let probe = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    let second = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    h.wait_status(&probe, OrderStatus::New);
    let r = h.wait_terminal(&second);
    assert_eq!(r.reject_code, LocalReject::BreakerOpen.code(), "{r:?}");
    assert_eq!(received(&sim, &probe), 1);
    assert_eq!(received(&sim, &second), 0);
    // The probe succeeded: closed again, orders flow.
    assert_eq!(h.inv.agent().breaker_state(), BreakerState::Closed);
    let after = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    h.wait_status(&after, OrderStatus::New);
    assert_eq!(h.counters.local(LocalReject::BreakerOpen), 2);
    h.close();
    sim.stop();
}

#[test]
fn halt_refuses_new_orders_locally_and_still_sends_cancels() {
    let sim = sim(sim_config());
    let mut h = Harness::start(gateway_config(&sim));
    h.ready();
    let live = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    h.wait_status(&live, OrderStatus::New);

    h.halt.halt(HaltReason::Operator);
    let blocked = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    let r = h.wait_terminal(&blocked);
    assert_eq!(
        (r.status, r.reject_code),
        (OrderStatus::Rejected, LocalReject::Halted.code())
    );
    assert_eq!(
        received(&sim, &blocked),
        0,
        "a halted gateway sends no new order"
    );
    h.push(OrderCommand::cancel(h.btc, live));
    assert_eq!(h.wait_terminal(&live).status, OrderStatus::Canceled);
    assert_eq!(h.counters.local(LocalReject::Halted), 1);

    h.halt.clear();
    let resumed = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    h.wait_status(&resumed, OrderStatus::New);
    h.close();
    sim.stop();
}

#[test]
fn wrong_secret_and_unknown_key_never_reach_ready_and_are_counted() {
    let sim = sim(sim_config());
    for (creds, bucket) in [
        (hmac(DEMO_API_KEY, "not-the-secret"), VenueCode::Signature),
        (hmac("no-such-key", "whatever"), VenueCode::BadKey),
    ] {
        let mut cfg = gateway_config(&sim);
        cfg.credentials = Some(creds);
        let mut h = Harness::start(cfg);
        h.run_until("session refused", Duration::from_secs(10), |h| {
            h.counters.venue(bucket) >= 1
        });
        assert!(h.counters.get(GatewayCounter::SyncFailures) >= 1);
        assert!(!h.inv.agent().is_ready());
        // New orders are refused locally while the session cannot sync.
        let id = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
        let r = h.wait_terminal(&id);
        assert_eq!(r.reject_code, LocalReject::NotConnected.code(), "{r:?}");
        assert_eq!(received(&sim, &id), 0);
        h.close();
    }
    sim.stop();
}

#[test]
fn clock_skew_draws_invalid_timestamp() {
    let sim = sim(sim_config());
    let mut cfg = gateway_config(&sim);
    cfg.recv_window_ms = 1000;
    let mut h = Harness::start(cfg);
    h.ready();
    // A tight sample saying the server is 2 minutes behind us: our
    // timestamps fall outside recvWindow.
    let now = Nanos(unix_nanos());
    let server_ms = now.0 / 1_000_000 - 120_000;
    h.inv.agent_mut().add_time_sample(now, now, server_ms);
    assert!(h.inv.agent().server_time_offset_ms() < -100_000);
    let id = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    let r = h.wait_terminal(&id);
    assert_eq!(
        (r.status, r.reject_code),
        (OrderStatus::Rejected, -1021),
        "{r:?}"
    );
    assert_eq!(h.counters.venue(VenueCode::Timestamp), 1);
    h.close();
    sim.stop();
}

#[test]
fn duplicate_client_order_id_at_the_venue_is_rejected() {
    let sim = sim(sim_config());
    // Two gateways on one account, same session id: the second sends a
    // client order id the first already has open (an engine bug; the
    // venue's -2010). Both are up before the first order, so the second
    // never adopts it in a resync: it only sees the first's user-data
    // events, for an order it does not hold (counted, dropped).
    let mut a = Harness::start(gateway_config(&sim));
    let mut b = Harness::start(gateway_config(&sim));
    a.ready();
    b.ready();
    let id = a.limit(a.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    a.wait_status(&id, OrderStatus::New);
    b.run_until("foreign NEW counted", Duration::from_secs(5), |b| {
        b.counters.get(GatewayCounter::UnknownOrderEvents) >= 1
    });
    let same = b.limit(b.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    assert_eq!(same, id);
    let r = b.wait_terminal(&same);
    assert_eq!(
        (r.status, r.reject_code),
        (OrderStatus::Rejected, -2010),
        "{r:?}"
    );
    assert_eq!(b.counters.venue(VenueCode::NewOrderRejected), 1);
    assert_eq!(
        b.reports_for(&id).len(),
        1,
        "only its own reject: {:?}",
        b.reports
    );
    // The first gateway's order is untouched and still cancellable.
    a.run_for(Duration::from_millis(20));
    assert_eq!(a.inv.agent().order_status(&id), Some(OrderStatus::New));
    a.push(OrderCommand::cancel(a.btc, id));
    assert_eq!(a.wait_terminal(&id).status, OrderStatus::Canceled);
    a.close();
    b.close();
    sim.stop();
}

#[test]
fn ed25519_session_logs_on_and_trades() {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let der = key.to_pkcs8_der().unwrap();
    let mut sc = sim_config();
    sc.accounts = vec![talon_sim::exchange::AccountSpec {
        api_key: "ed-key".into(),
        secret: "unused-hmac-secret".into(),
        ed25519_public: Some(key.verifying_key().to_bytes()),
        balances: vec![(
            "USDT".into(),
            talon_core::num::Qty::parse("100000").unwrap(),
        )],
    }];
    let sim = sim(sc);
    let mut cfg = gateway_config(&sim);
    cfg.credentials = Some(Credentials {
        api_key: "ed-key".into(),
        auth: AuthSecret::Ed25519(Secret::new(der.as_bytes().to_vec())),
    });
    let mut h = Harness::start(cfg);
    h.ready();
    assert_eq!(h.inv.agent().session_state(), SessionState::Ready);
    let id = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    h.wait_status(&id, OrderStatus::New);
    h.push(OrderCommand::cancel(h.btc, id));
    assert_eq!(h.wait_terminal(&id).status, OrderStatus::Canceled);
    h.close();
    sim.stop();
}
