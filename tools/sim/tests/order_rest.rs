//! REST order endpoints over real sockets: signing over query-only,
//! body-only and mixed parameters (incl. the venue docs' known-answer
//! vectors), the venue's shapes and headers, auth errors, and the rate
//! limits (429 with Retry-After, then 418; -1015).
#![allow(clippy::unwrap_used)]

mod order_support;

use std::time::Duration;

use order_support::*;
use serde_json::Value;
use talon_sim::RateLimitConfig;

const DOC_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

fn order_query(cid: &str) -> String {
    format!(
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=30000.0&newClientOrderId={cid}&timestamp={}",
        now_ms()
    )
}

#[test]
fn query_body_and_mixed_signing_with_venue_shapes_and_headers() {
    let h = start(cfg());
    let addr = h.local_addr();
    // Query only (as the official SDK sends it).
    let (st, head, v) = rest_signed(
        addr,
        "POST",
        "/api/v3/order",
        &order_query("q-only"),
        "",
        KEY,
        SECRET,
    )
    .unwrap();
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["clientOrderId"], "q-only");
    assert_eq!(v["status"], "NEW");
    assert_eq!(v["price"], "30000.00000000");
    assert_eq!(v["origQty"], "0.01000000");
    assert_eq!(v["fills"], serde_json::json!([]));
    let want = fixture("ws_api_order_place_response.json");
    let mut k = keys(&v);
    k.retain(|k| k != "fills");
    assert_eq!(k, keys(&want["result"]));
    assert_eq!(header(&head, "X-MBX-ORDER-COUNT-10S").as_deref(), Some("1"));
    assert_eq!(header(&head, "X-MBX-ORDER-COUNT-1D").as_deref(), Some("1"));
    assert!(header(&head, "X-MBX-USED-WEIGHT-1M").is_some());
    // Body only.
    let (st, _, v) = rest_signed(
        addr,
        "POST",
        "/api/v3/order",
        "",
        &order_query("b-only"),
        KEY,
        SECRET,
    )
    .unwrap();
    assert_eq!(st, 200, "{v}");
    // Mixed: query then body, signed as query+body with no '&'.
    let q = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC";
    let b = format!(
        "quantity=0.01&price=30000&newClientOrderId=mixed&recvWindow=5000&timestamp={}",
        now_ms()
    );
    let (st, _, v) = rest_signed(addr, "POST", "/api/v3/order", q, &b, KEY, SECRET).unwrap();
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["clientOrderId"], "mixed");
    // Signing with '&' between query and body is wrong.
    let sig = hmac_hex(SECRET, &format!("{q}&{b}"));
    let (st, _, body) = http(
        addr,
        "POST",
        &format!("/api/v3/order?{q}"),
        &format!("{b}&signature={sig}"),
        Some(KEY),
    )
    .unwrap();
    assert_eq!(st, 400);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], -1022);
    // Percent-encoding is signed as sent.
    let q = format!(
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=30000&newClientOrderId=pct%2D1&timestamp={}",
        now_ms()
    );
    let (st, _, v) = rest_signed(addr, "POST", "/api/v3/order", &q, "", KEY, SECRET).unwrap();
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["clientOrderId"], "pct-1");

    // GET order, GET openOrders, DELETE order, DELETE openOrders, account.
    let q = format!(
        "symbol=BTCUSDT&origClientOrderId=q-only&timestamp={}",
        now_ms()
    );
    let (st, _, v) = rest_signed(addr, "GET", "/api/v3/order", &q, "", KEY, SECRET).unwrap();
    assert_eq!(st, 200);
    for k in [
        "time",
        "updateTime",
        "isWorking",
        "stopPrice",
        "icebergQty",
        "workingTime",
    ] {
        assert!(v.get(k).is_some(), "GET order lacks {k}");
    }
    let q = format!("timestamp={}", now_ms());
    let (st, _, v) = rest_signed(addr, "GET", "/api/v3/openOrders", &q, "", KEY, SECRET).unwrap();
    assert_eq!(st, 200);
    assert_eq!(v.as_array().unwrap().len(), 4);
    let q = format!(
        "symbol=BTCUSDT&origClientOrderId=b-only&timestamp={}",
        now_ms()
    );
    let (st, _, v) = rest_signed(addr, "DELETE", "/api/v3/order", &q, "", KEY, SECRET).unwrap();
    assert_eq!(st, 200);
    assert_eq!(v["status"], "CANCELED");
    assert_eq!(v["origClientOrderId"], "b-only");
    assert!(v["clientOrderId"].as_str().unwrap().len() >= 10);
    let q = format!("symbol=BTCUSDT&timestamp={}", now_ms());
    let (st, _, v) =
        rest_signed(addr, "DELETE", "/api/v3/openOrders", &q, "", KEY, SECRET).unwrap();
    assert_eq!(st, 200);
    assert_eq!(v.as_array().unwrap().len(), 3);
    let q = format!("timestamp={}", now_ms());
    let (st, _, v) = rest_signed(addr, "GET", "/api/v3/account", &q, "", KEY, SECRET).unwrap();
    assert_eq!(st, 200);
    let want = fixture("ws_api_account_status_response.json");
    assert_eq!(keys(&v), keys(&want["result"]));
    // Existing market endpoints still work.
    let (st, _, _) = http(addr, "GET", "/api/v3/time", "", None).unwrap();
    assert_eq!(st, 200);
    h.stop();
}

#[test]
fn doc_known_answer_vectors_pass_the_signature_check() {
    let mut c = cfg();
    c.accounts.push(account(DOC_KEY, DOC_SECRET));
    let h = start(c);
    let addr = h.local_addr();
    let v = fixture("signature_vectors.json");
    let cases = v["hmac_sha256"].as_array().unwrap();
    // rest_ascii: all in the query. The doc's timestamp is from 2017, so a
    // correct signature yields -1021 (a wrong one would be -1022 first).
    let rest_ascii = cases.iter().find(|c| c["id"] == "rest_ascii").unwrap();
    let payload = rest_ascii["payload"].as_str().unwrap();
    let sig = rest_ascii["signature_hex"].as_str().unwrap();
    let (st, _, body) = http(
        addr,
        "POST",
        &format!("/api/v3/order?{payload}&signature={sig}"),
        "",
        Some(DOC_KEY),
    )
    .unwrap();
    assert_eq!(st, 400);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], -1021);
    // The same with one bit of the signature changed: -1022.
    let bad = format!("{}0", &sig[..63]);
    let (_, _, body) = http(
        addr,
        "POST",
        &format!("/api/v3/order?{payload}&signature={bad}"),
        "",
        Some(DOC_KEY),
    )
    .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], -1022);
    // Legacy query + body vector (signed as query immediately followed by body).
    let legacy = cases
        .iter()
        .find(|c| c["id"] == "rest_query_plus_body_legacy")
        .unwrap();
    let sig = legacy["signature_hex"].as_str().unwrap();
    let (_, _, body) = http(
        addr,
        "POST",
        "/api/v3/order?symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
        &format!("quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature={sig}"),
        Some(DOC_KEY),
    )
    .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], -1021);
    // Non-ASCII percent-encoded vector.
    let na = cases.iter().find(|c| c["id"] == "rest_nonascii").unwrap();
    let (_, _, body) = http(
        addr,
        "POST",
        &format!(
            "/api/v3/order?{}&signature={}",
            na["payload"].as_str().unwrap(),
            na["signature_hex"].as_str().unwrap()
        ),
        "",
        Some(DOC_KEY),
    )
    .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], -1021);
    h.stop();
}

#[test]
fn auth_errors_over_rest() {
    let h = start(cfg());
    let addr = h.local_addr();
    let q = order_query("auth");
    // No key header: -2014; unknown key: -2015; no signature: -1102.
    let (st, _, body) = http(addr, "POST", &format!("/api/v3/order?{q}"), "", None).unwrap();
    assert_eq!(st, 401);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], -2014);
    let (st, _, v) = rest_signed(addr, "POST", "/api/v3/order", &q, "", "nobody", SECRET).unwrap();
    assert_eq!(st, 401);
    assert_eq!(v["code"], -2015);
    let (st, _, body) = http(addr, "POST", &format!("/api/v3/order?{q}"), "", Some(KEY)).unwrap();
    assert_eq!(st, 400);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["code"], -1102);
    assert_eq!(
        v["msg"],
        "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
    );
    // Stale timestamp, duplicate parameter, wrong method.
    let stale = format!(
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=30000&timestamp={}",
        now_ms() - 60_000
    );
    let (_, _, v) = rest_signed(addr, "POST", "/api/v3/order", &stale, "", KEY, SECRET).unwrap();
    assert_eq!(v["code"], -1021);
    let dup = format!("{}&side=SELL", order_query("dup"));
    let (_, _, v) = rest_signed(addr, "POST", "/api/v3/order", &dup, "", KEY, SECRET).unwrap();
    assert_eq!(v["code"], -1101);
    let (st, _, _) = http(addr, "PUT", "/api/v3/order", "", Some(KEY)).unwrap();
    assert_eq!(st, 405);
    h.stop();
}

#[test]
fn weight_limit_gives_429_with_retry_after_then_418() {
    let mut c = cfg();
    c.rate_limits = RateLimitConfig {
        weight_per_minute: 10,
        ban_after_429s: 3,
        ban_duration: Duration::from_secs(30),
        ..RateLimitConfig::default()
    };
    let h = start(c);
    let addr = h.local_addr();
    // GET /api/v3/account weighs 20 > 10: refused whatever the minute.
    let q = || format!("timestamp={}", now_ms());
    for _ in 0..3 {
        let (st, head, v) =
            rest_signed(addr, "GET", "/api/v3/account", &q(), "", KEY, SECRET).unwrap();
        assert_eq!(st, 429, "{v}");
        assert_eq!(v["code"], -1003);
        assert!(v["msg"].as_str().unwrap().starts_with(
            "Too much request weight used; current limit is 10 request weight per 1 MINUTE."
        ));
        let ra: u64 = header(&head, "Retry-After").unwrap().parse().unwrap();
        assert!((1..=60).contains(&ra));
    }
    // Kept going: banned.
    let (st, head, v) = rest_signed(addr, "GET", "/api/v3/account", &q(), "", KEY, SECRET).unwrap();
    assert_eq!(st, 418);
    assert_eq!(v["code"], -1003);
    assert!(v["msg"].as_str().unwrap().contains("IP banned until"));
    let ra: u64 = header(&head, "Retry-After").unwrap().parse().unwrap();
    assert!((1..=30).contains(&ra));
    // Everything is refused while banned, market data and WS API too.
    let (st, _, _) = http(addr, "GET", "/api/v3/time", "", None).unwrap();
    assert_eq!(st, 418);
    let s = h.rate_limit_stats();
    assert_eq!((s.http_429, s.bans), (3, 1));
    assert!(s.http_418 >= 2);
    h.stop();
}

#[test]
fn ws_api_429_carries_retry_after_and_orders_limit_is_1015() {
    let mut c = cfg();
    c.rate_limits = RateLimitConfig {
        weight_per_minute: 100,
        orders_per_day: 2,
        ..RateLimitConfig::default()
    };
    let h = start(c);
    let mut a = Api::connect(&h, "/ws-api/v3");
    // openOrders.status without symbol weighs 80; twice is over 100 in one
    // minute (or the minute changed in between, and the next one is).
    let mut limited = None;
    for _ in 0..3 {
        let r = a.call("openOrders.status", serde_json::json!({}));
        if r["status"] == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("a 429");
    assert_eq!(r["error"]["code"], -1003);
    let retry = r["error"]["data"]["retryAfter"].as_u64().unwrap();
    assert!(retry > now_ms() - 1000 && retry <= now_ms() + 60_000);
    assert_eq!(r["rateLimits"][0]["rateLimitType"], "REQUEST_WEIGHT");

    // ORDERS per day = 2 (no window boundary in a test run): the third
    // resting order is -1015, with the venue's wording and 429.
    let h = start({
        let mut c = cfg();
        c.rate_limits.orders_per_day = 2;
        c
    });
    let mut a = Api::connect(&h, "/ws-api/v3");
    assert_eq!(a.call("order.place", resting_buy("d1"))["status"], 200);
    let r = a.call("order.place", resting_buy("d2"));
    assert_eq!(r["rateLimits"][1]["count"], 2);
    assert_eq!(r["rateLimits"][1]["limit"], 2);
    let r = a.call("order.place", resting_buy("d3"));
    assert_eq!(r["status"], 429);
    assert_eq!(r["error"]["code"], -1015);
    assert_eq!(
        r["error"]["msg"],
        "Too many new orders; current limit is 2 orders per 1 DAY."
    );
    assert!(r["error"]["data"]["retryAfter"].as_u64().unwrap() > now_ms());
    assert_eq!(h.rate_limit_stats().too_many_orders, 1);
    // A filled order does not count: a marketable order still... is refused
    // up front (the count is full), as on the venue.
    let log = h.orders_received();
    assert_eq!(log.last().unwrap().code, Some(-1015));
    h.stop();
}
