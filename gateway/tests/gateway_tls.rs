//! The gateway over `wss://`: the same order flow through rustls against the
//! simulator's self-signed certificate (the path the real venue takes).
#![allow(clippy::unwrap_used)]

mod gateway_support;

use talon_core::event::{OrderCommand, OrderStatus, Side, TimeInForce};
use talon_gateway::config::Endpoint;
use talon_sim::SimConfig;

use gateway_support::*;

#[test]
fn orders_flow_over_wss_with_the_simulators_certificate() {
    let sim = sim(SimConfig {
        tls: true,
        ..sim_config()
    });
    let root = sim
        .tls_root_der()
        .expect("the simulator made a certificate");
    let mut cfg = gateway_config(&sim);
    let ws_base = sim.ws_base().replacen("ws://", "wss://", 1);
    assert!(ws_base.starts_with("wss://"), "{ws_base}");
    cfg.endpoint = Endpoint::Sim {
        ws_base,
        tls_root_der: Some(root),
    };
    let mut h = Harness::start(cfg);
    h.ready();

    let resting = h.limit(h.btc, Side::Buy, TimeInForce::Gtc, "30000", "0.001");
    let ack = h.wait_status(&resting, OrderStatus::New);
    assert_eq!(ack.reject_code, 0);
    h.push(OrderCommand::cancel(h.btc, resting));
    assert_eq!(h.wait_terminal(&resting).status, OrderStatus::Canceled);

    let received = sim.orders_received();
    assert_eq!(
        received
            .iter()
            .filter(|o| o.client_order_id == resting.as_str())
            .count(),
        1,
        "the order reached the simulator once, over TLS"
    );
    h.close();
    sim.stop();
}

#[test]
fn an_untrusted_certificate_never_becomes_ready() {
    let sim = sim(SimConfig {
        tls: true,
        ..sim_config()
    });
    let mut cfg = gateway_config(&sim);
    // wss:// but no root for the self-signed certificate: the handshake must
    // fail (the bundled web roots do not trust it), so no order can leave.
    cfg.endpoint = Endpoint::Sim {
        ws_base: sim.ws_base().replacen("ws://", "wss://", 1),
        tls_root_der: None,
    };
    let mut h = Harness::start(cfg);
    h.run_for(std::time::Duration::from_millis(800));
    assert!(!h.inv.agent().is_ready());
    assert!(sim.orders_received().is_empty());
    h.close();
    sim.stop();
}
