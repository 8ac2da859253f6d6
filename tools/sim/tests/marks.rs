//! Marked ticks over real sockets: a `@trade` client sees the generator's
//! trades, a WebSocket API client places orders tagged with their trade ids,
//! and the simulator matches each order to the write of its marked trade
//! (`SimHandle::marks`, `GET /sim/v1/marks[?reset=true]`).
#![allow(clippy::unwrap_used)]

mod order_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use clap::Parser;
use order_support::*;
use serde_json::{Value, json};
use talon_sim::{MarksReport, SimArgs, SimConfig};
use tungstenite::Message;

fn tick_id(t: u64) -> String {
    format!("tk{:010}-{:020}", 1, t)
}

/// Trade ids received on a `/ws/btcusdt@trade` connection until it has
/// been silent for a while (the generator is paused between steps).
fn drain_trade_ids(ws: &mut tungstenite::WebSocket<TcpStream>) -> Vec<u64> {
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let mut out = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                assert_eq!(v["e"], "trade", "{v}");
                out.push(v["t"].as_u64().unwrap());
            }
            Ok(Message::Close(_)) => panic!("closed"),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return out;
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

#[test]
fn orders_tagged_with_marked_ticks_are_matched_to_their_writes() {
    let h = start(SimConfig {
        symbols: vec![talon_sim::SymbolSpec::for_symbol("BTCUSDT").unwrap()],
        mark_every: Some(2),
        ..cfg()
    });
    let tcp = TcpStream::connect(h.local_addr()).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    let url = format!("{}/ws/btcusdt@trade", h.ws_base());
    let (mut trades, _) = tungstenite::client(url.as_str(), tcp).unwrap();
    let mut api = Api::connect(&h, "/ws-api/v3");

    // Step until some marked and unmarked trades went out.
    let mut ids = Vec::new();
    for _ in 0..50 {
        h.step(100);
        ids.extend(drain_trade_ids(&mut trades));
        if ids.iter().filter(|t| *t % 2 == 0).count() >= 3 && ids.iter().any(|t| t % 2 == 1) {
            break;
        }
    }
    let all_marked = ids.iter().filter(|t| *t % 2 == 0).count() as u64;
    let marked: Vec<u64> = ids.iter().copied().filter(|t| t % 2 == 0).take(8).collect();
    let unmarked: Vec<u64> = ids.iter().copied().filter(|t| t % 2 == 1).collect();
    assert!(marked.len() >= 3 && !unmarked.is_empty(), "{ids:?}");

    // One order per marked tick, one for an unmarked tick, one untagged.
    for &t in &marked {
        let r = api.call("order.place", resting_buy(&tick_id(t)));
        assert_eq!(r["status"], 200, "{r}");
    }
    let r = api.call("order.place", resting_buy(&tick_id(unmarked[0])));
    assert_eq!(r["status"], 200, "{r}");
    let r = api.call("order.place", resting_buy("plain-order-1"));
    assert_eq!(r["status"], 200, "{r}");
    // A second order for a tick already matched is unmatched.
    let r = api.call(
        "order.cancel",
        json!({"symbol":"BTCUSDT","origClientOrderId": tick_id(marked[0])}),
    );
    assert_eq!(r["status"], 200, "{r}");
    let r = api.call("order.place", resting_buy(&tick_id(marked[0])));
    assert_eq!(r["status"], 200, "{r}");

    let rep = h.marks();
    assert_eq!(rep.mark_every, Some(2));
    assert_eq!(rep.marks_written, all_marked);
    assert_eq!(rep.matched, marked.len() as u64);
    assert_eq!(rep.unmatched, 2);
    assert!(rep.min_ns > 0 && rep.min_ns <= rep.p50_ns && rep.p50_ns <= rep.max_ns);
    assert!(rep.p99_ns <= rep.max_ns);
    assert_eq!(rep.curve.last().unwrap().value_ns, rep.max_ns);

    // The same over REST, then reset.
    let (st, body) = get(h.local_addr(), "/sim/v1/marks");
    assert_eq!(st, 200, "{body}");
    let over_rest: MarksReport = serde_json::from_str(&body).unwrap();
    assert_eq!(over_rest, rep);
    let (st, body) = get(h.local_addr(), "/sim/v1/marks?reset=true");
    assert_eq!(st, 200);
    assert_eq!(serde_json::from_str::<MarksReport>(&body).unwrap(), rep);
    let after = h.marks();
    assert_eq!(
        (after.matched, after.unmatched, after.marks_written),
        (0, 0, 0)
    );
}

#[test]
fn marking_off_by_default_and_flag_parses() {
    let h = start(cfg());
    let mut api = Api::connect(&h, "/ws-api/v3");
    let r = api.call("order.place", resting_buy(&tick_id(1_000_000_000)));
    assert_eq!(r["status"], 200, "{r}");
    let rep = h.marks();
    assert_eq!(rep.mark_every, None);
    assert_eq!((rep.matched, rep.unmatched), (0, 0));

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }
    let cfg = Cli::parse_from(["x", "--mark-every", "100"])
        .sim
        .to_config()
        .unwrap();
    assert_eq!(cfg.mark_every, Some(100));
    assert!(
        Cli::parse_from(["x", "--mark-every", "0"])
            .sim
            .to_config()
            .is_err()
    );
    assert_eq!(
        Cli::parse_from(["x"]).sim.to_config().unwrap().mark_every,
        None
    );
}
