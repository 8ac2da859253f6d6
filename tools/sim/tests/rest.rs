//! REST endpoints: bodies, venue error shapes and statuses, keep-alive.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::*;
use serde_json::json;

#[test]
fn ping_time_and_exchange_info_have_the_venue_shape() {
    let h = start(cfg(100));
    let addr = h.local_addr();
    assert_eq!(get_json(addr, "/api/v3/ping"), (200, json!({})));
    let (st, t) = get_json(addr, "/api/v3/time");
    assert_eq!(st, 200);
    assert!(t["serverTime"].as_u64().unwrap() > 1_600_000_000_000);

    let (st, head, body) = http_get(addr, "/api/v3/exchangeInfo");
    assert_eq!(st, 200);
    assert!(head.contains("Content-Type: application/json"));
    assert!(head.contains("X-MBX-USED-WEIGHT-1M: "));
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["timezone"], "UTC");
    let limits = info["rateLimits"].as_array().unwrap();
    assert!(limits.contains(
        &json!({"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000})
    ));
    assert!(
        limits
            .iter()
            .any(|l| l["rateLimitType"] == "ORDERS" && l["interval"] == "SECOND")
    );
    let syms = info["symbols"].as_array().unwrap();
    assert_eq!(syms.len(), 2);
    let btc = &syms[0];
    assert_eq!(btc["symbol"], "BTCUSDT");
    assert_eq!(btc["baseAsset"], "BTC");
    assert_eq!(btc["quoteAsset"], "USDT");
    assert_eq!(btc["status"], "TRADING");
    let f = |t: &str| {
        btc["filters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["filterType"] == t)
            .unwrap()
            .clone()
    };
    assert_eq!(f("PRICE_FILTER")["tickSize"], "0.01000000");
    assert_eq!(f("LOT_SIZE")["stepSize"], "0.00001000");
    assert_eq!(f("LOT_SIZE")["minQty"], "0.00001000");
    assert_eq!(f("NOTIONAL")["minNotional"], "5.00000000");
    assert_eq!(f("NOTIONAL")["applyMinToMarket"], true);

    let (st, one) = get_json(addr, "/api/v3/exchangeInfo?symbol=ETHUSDT");
    assert_eq!(st, 200);
    assert_eq!(one["symbols"].as_array().unwrap().len(), 1);
    assert_eq!(one["symbols"][0]["symbol"], "ETHUSDT");
    let (st, two) = get_json(
        addr,
        "/api/v3/exchangeInfo?symbols=%5B%22ETHUSDT%22,%22BTCUSDT%22%5D",
    );
    assert_eq!(st, 200);
    assert_eq!(two["symbols"].as_array().unwrap().len(), 2);
    assert_eq!(
        get_json(addr, "/api/v3/exchangeInfo?symbol=NOPE"),
        (400, json!({"code":-1121,"msg":"Invalid symbol."}))
    );
    h.stop();
}

#[test]
fn depth_snapshot_and_errors() {
    let h = start(cfg(500));
    let addr = h.local_addr();
    let (st, d) = get_json(addr, "/api/v3/depth?symbol=BTCUSDT&limit=5");
    assert_eq!(st, 200);
    assert!(d["lastUpdateId"].as_u64().unwrap() > 1 << 32);
    assert_eq!(d["bids"].as_array().unwrap().len(), 5);
    assert_eq!(d["asks"].as_array().unwrap().len(), 5);
    let bid0 = d["bids"][0][0].as_str().unwrap();
    let ask0 = d["asks"][0][0].as_str().unwrap();
    assert!(bid0.split('.').nth(1).unwrap().len() == 8, "{bid0}");
    assert!(bid0.parse::<f64>().unwrap() < ask0.parse::<f64>().unwrap());
    let (_, d) = get_json(addr, "/api/v3/depth?symbol=ETHUSDT");
    assert_eq!(d["bids"].as_array().unwrap().len(), 60); // default 100, book has ~60
    h.pause();
    let (_, d) = get_json(addr, "/api/v3/depth?symbol=BTCUSDT&limit=5000");
    let b = h.book("BTCUSDT").unwrap();
    assert_eq!(d["lastUpdateId"].as_u64().unwrap(), b.last_update_id);
    assert_eq!(d["bids"].as_array().unwrap().len(), b.bids.len());

    assert_eq!(
        get_json(addr, "/api/v3/depth"),
        (
            400,
            json!({"code":-1102,"msg":"Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."})
        )
    );
    assert_eq!(
        get_json(addr, "/api/v3/depth?symbol=XYZUSDT"),
        (400, json!({"code":-1121,"msg":"Invalid symbol."}))
    );
    assert_eq!(
        get_json(addr, "/api/v3/depth?symbol=btcusdt").1["code"],
        -1121
    );
    assert_eq!(
        get_json(addr, "/api/v3/depth?symbol=BTCUSDT&limit=abc").1["code"],
        -1100
    );
    let (st, v) = get_json(addr, "/api/v3/nothing");
    assert_eq!(st, 404);
    assert_eq!(v["code"], -1000);
    assert!(h.book("NOPE").is_none());
    assert!(h.stats().rest_requests >= 8);
    h.stop();
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let h = start(cfg(10));
    let mut s = TcpStream::connect(h.local_addr()).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    // Two pipelined requests, then one that closes.
    write!(
        s,
        "GET /api/v3/ping HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v3/time HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    write!(
        s,
        "GET /api/v3/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    assert_eq!(all.matches("HTTP/1.1 200 OK").count(), 3, "{all}");
    assert!(all.contains("serverTime"));
    // Garbage request line → 400.
    let mut s = TcpStream::connect(h.local_addr()).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(b"\x01\x02 nonsense\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    assert!(String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 400"));
    h.stop();
}
