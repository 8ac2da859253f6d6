//! Order-side fault injection over real sockets: drop after accept (the
//! order stays live and visible by order.status), ack delay, reject with a
//! chosen code; set at run time through SimHandle and at start via flags.
#![allow(clippy::unwrap_used)]

mod order_support;

use std::time::{Duration, Instant};

use clap::Parser;
use order_support::*;
use serde_json::json;
use tungstenite::Message;

#[test]
fn drop_after_accept_leaves_the_order_live() {
    let h = start(cfg());
    let mut a = Api::connect(&h, "/ws-api/v3");
    assert_eq!(a.call("order.place", resting_buy("before"))["status"], 200);
    h.drop_next_after_accept(1);
    let p = a.signed(resting_buy("dropped-1"));
    a.send_text(&json!({"id":9,"method":"order.place","params":p}).to_string());
    // No reply: the connection ends (EOF / reset, no close frame needed).
    let end = loop {
        match a.ws.read() {
            Ok(Message::Text(t)) => panic!("got a reply: {t}"),
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert!(
        !matches!(end, tungstenite::Error::Io(ref e) if e.kind() == std::io::ErrorKind::WouldBlock)
    );
    // Reconnect: the order is live.
    let mut b = Api::connect(&h, "/ws-api/v3");
    let r = b.call(
        "order.status",
        json!({"symbol":"BTCUSDT","origClientOrderId":"dropped-1"}),
    );
    assert_eq!(r["result"]["status"], "NEW", "{r}");
    // A retry with the same client id is a duplicate, never a second order.
    let r = b.call("order.place", resting_buy("dropped-1"));
    assert_eq!(r["error"]["code"], -2010);
    let log = h.orders_received();
    let same: Vec<_> = log
        .iter()
        .filter(|o| o.client_order_id == "dropped-1")
        .collect();
    assert_eq!(same.len(), 2);
    assert_eq!(same.iter().filter(|o| o.accepted).count(), 1);
    assert_eq!(h.stats().order_fault_drops, 1);
    // The fault was used up: the next order is answered.
    assert_eq!(b.call("order.place", resting_buy("after"))["status"], 200);

    // REST: every 2nd accepted order dropped.
    h.drop_after_accept_every(Some(2));
    let addr = h.local_addr();
    let mut answered = 0;
    let mut dropped = 0;
    for i in 0..4 {
        let q = format!(
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=30000&newClientOrderId=r{i}&timestamp={}",
            now_ms()
        );
        match rest_signed(addr, "POST", "/api/v3/order", &q, "", KEY, SECRET) {
            Some((st, _, _)) => {
                assert_eq!(st, 200);
                answered += 1;
            }
            None => dropped += 1,
        }
    }
    assert_eq!((answered, dropped), (2, 2));
    h.drop_after_accept_every(None);
    let q = format!("symbol=BTCUSDT&timestamp={}", now_ms());
    let (_, _, v) = rest_signed(addr, "GET", "/api/v3/openOrders", &q, "", KEY, SECRET).unwrap();
    // before, dropped-1, after, r0..r3: all live.
    assert_eq!(v.as_array().unwrap().len(), 7);
    h.stop();
}

#[test]
fn ack_delay_and_injected_rejections() {
    let h = start(cfg());
    let mut a = Api::connect(&h, "/ws-api/v3");
    h.set_ack_delay(Duration::from_millis(300));
    let t = Instant::now();
    let r = a.call("order.place", resting_buy("slow"));
    // A lower bound only (a slow machine can only add time).
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(r["status"], 200);
    h.set_ack_delay(Duration::ZERO);

    h.reject_next_orders(2, -2010, "Injected rejection.");
    for cid in ["j1", "j2"] {
        let r = a.call("order.place", resting_buy(cid));
        assert_eq!(r["error"]["code"], -2010);
        assert_eq!(r["error"]["msg"], "Injected rejection.");
    }
    assert_eq!(a.call("order.place", resting_buy("j3"))["status"], 200);
    let codes: Vec<Option<i32>> = h
        .orders_received()
        .iter()
        .filter(|o| o.client_order_id.starts_with('j'))
        .map(|o| o.code)
        .collect();
    assert_eq!(codes, [Some(-2010), Some(-2010), None]);
    // The rejected ids never reached the exchange.
    let r = a.call(
        "order.status",
        json!({"symbol":"BTCUSDT","origClientOrderId":"j1"}),
    );
    assert_eq!(r["error"]["code"], -2013);
    h.stop();
}

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    sim: talon_sim::SimArgs,
}

#[test]
fn faults_and_accounts_from_flags() {
    let cli = Cli::parse_from([
        "x",
        "--account",
        "flag-key:flag-secret:USDT=500,BTC=0.5",
        "--fault-reject-next",
        "1",
        "--fault-reject-code=-1007",
        "--orders-per-10s",
        "50",
        "--start-time-ms",
        "1700000000000",
    ]);
    let mut c = cli.sim.to_config().unwrap();
    assert_eq!(c.accounts.len(), 1);
    assert_eq!(c.accounts[0].balances[1].1.to_string(), "0.5");
    assert_eq!(c.rate_limits.orders_per_10s, 50);
    c.start_paused = true;
    let h = start(c);
    let mut a = Api::connect_as(&h, "/ws-api/v3", "flag-key", "flag-secret");
    let r = a.call("order.place", resting_buy("f1"));
    assert_eq!(r["error"]["code"], -1007);
    let r = a.call("order.place", resting_buy("f2"));
    assert_eq!(r["status"], 200);
    let r = a.call_plain("exchangeInfo", json!({}));
    assert_eq!(r["result"]["rateLimits"][1]["limit"], 50);
    h.stop();

    // No account flags: the documented demo account.
    let cli = Cli::parse_from(["x"]);
    let c = cli.sim.to_config().unwrap();
    assert_eq!(c.accounts, vec![talon_sim::demo_account()]);
    assert_eq!(c.accounts[0].api_key, talon_sim::DEMO_API_KEY);
}
