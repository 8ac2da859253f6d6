//! WebSocket API at `/ws-api/v3` over real sockets: every method's happy
//! path against the venue fixtures' shapes, `id` echo types, the error
//! codes, signing of numeric vs string params, session logon (Ed25519),
//! user data events, rateLimits.
#![allow(clippy::unwrap_used)]

mod order_support;

use order_support::*;
use serde_json::{Value, json};
use talon_sim::exchange::AccountSpec;

fn ok(v: &Value) -> &Value {
    assert_eq!(v["status"], 200, "{v}");
    &v["result"]
}

fn err_code(v: &Value) -> i64 {
    v["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error in {v}"))
}

#[test]
fn every_method_answers_with_the_venue_shapes() {
    let h = start(cfg());
    let mut a = Api::connect(&h, "/ws-api/v3");

    let r = a.call_plain("ping", json!({}));
    assert_eq!(ok(&r), &json!({}));
    let r = a.call_raw(json!(2), "time", Value::Null);
    let want = fixture("ws_api_time_response_no_ratelimits.json");
    assert_eq!(keys(ok(&r)), keys(&want["result"]));
    assert!(r["rateLimits"].is_array());
    let rl = &r["rateLimits"][0];
    assert_eq!(rl["rateLimitType"], "REQUEST_WEIGHT");
    assert_eq!(rl["limit"], 6000);
    // v3/ prefix accepted; exchangeInfo weight 20; configured limits reported.
    let r = a.call_plain("v3/exchangeInfo", json!({"symbol":"BTCUSDT"}));
    let info = ok(&r);
    assert_eq!(info["symbols"][0]["symbol"], "BTCUSDT");
    assert_eq!(info["rateLimits"][1]["limit"], 100);
    assert_eq!(info["rateLimits"][2]["limit"], 200_000);

    // order.place RESULT / ACK / default FULL.
    let mut p = resting_buy("cid-result");
    p["newOrderRespType"] = json!("RESULT");
    let r = a.call("order.place", p);
    let want = fixture("ws_api_order_place_response.json");
    assert_eq!(keys(ok(&r)), keys(&want["result"]));
    assert_eq!(keys(&r), keys(&want));
    assert_eq!(r["result"]["status"], "NEW");
    assert_eq!(r["result"]["clientOrderId"], "cid-result");
    assert_eq!(r["result"]["price"], "30000.00000000");
    let order_id = r["result"]["orderId"].as_u64().unwrap();
    assert!(order_id > u64::from(u32::MAX));
    // ORDERS first, then REQUEST_WEIGHT, as the fixture.
    let types: Vec<&str> = r["rateLimits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rateLimitType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["ORDERS", "ORDERS", "REQUEST_WEIGHT"]);
    assert_eq!(r["rateLimits"][0]["count"], 1);
    assert_eq!(keys(&r["rateLimits"][0]), keys(&want["rateLimits"][0]));

    let mut p = resting_buy("cid-ack");
    p["newOrderRespType"] = json!("ACK");
    let r = a.call("order.place", p);
    let want = fixture("ws_api_order_place_response_ack.json");
    assert_eq!(keys(ok(&r)), keys(&want["result"]));
    assert_eq!(r["rateLimits"][0]["count"], 2);

    let r = a.call("order.place", resting_buy("cid-full"));
    let full = ok(&r);
    assert_eq!(full["fills"], json!([]));
    assert!(full["workingTime"].is_u64());

    // order.status by origClientOrderId and by orderId.
    let r = a.call(
        "order.status",
        json!({"symbol":"BTCUSDT","origClientOrderId":"cid-result"}),
    );
    let want = fixture("ws_api_order_status_response.json");
    let st = ok(&r);
    for k in keys(st) {
        assert!(
            want["result"].get(&k).is_some(),
            "status key {k} not in fixture"
        );
    }
    assert_eq!(st["orderId"], order_id);
    assert_eq!(st["isWorking"], true);
    let r = a.call(
        "order.status",
        json!({"symbol":"BTCUSDT","orderId":order_id}),
    );
    assert_eq!(ok(&r)["clientOrderId"], "cid-result");

    // openOrders.status with and without symbol (weights 6 / 80).
    let r = a.call("openOrders.status", json!({"symbol":"BTCUSDT"}));
    assert_eq!(ok(&r).as_array().unwrap().len(), 3);
    let w1 = r["rateLimits"][0]["count"].as_u64().unwrap();
    let r = a.call("openOrders.status", json!({}));
    assert_eq!(ok(&r).as_array().unwrap().len(), 3);
    let w2 = r["rateLimits"][0]["count"].as_u64().unwrap();
    // Same minute: +80 (a minute boundary in between can only lower it).
    assert!(w2 == w1 + 80 || w2 <= 80, "{w1} → {w2}");

    // order.cancel.
    let r = a.call(
        "order.cancel",
        json!({"symbol":"BTCUSDT","origClientOrderId":"cid-result","newClientOrderId":"cxl-1"}),
    );
    let c = ok(&r);
    let want = fixture("ws_api_order_cancel_response.json");
    for k in keys(c) {
        assert!(
            want["result"].get(&k).is_some(),
            "cancel key {k} not in fixture"
        );
    }
    assert_eq!(c["status"], "CANCELED");
    assert_eq!(c["origClientOrderId"], "cid-result");
    assert_eq!(c["clientOrderId"], "cxl-1");

    // order.cancelReplace (success).
    let mut p = resting_buy("cid-new");
    p["cancelReplaceMode"] = json!("STOP_ON_FAILURE");
    p["cancelOrigClientOrderId"] = json!("cid-ack");
    let r = a.call("order.cancelReplace", p);
    let cr = ok(&r);
    assert_eq!(cr["cancelResult"], "SUCCESS");
    assert_eq!(cr["newOrderResult"], "SUCCESS");
    assert_eq!(cr["cancelResponse"]["origClientOrderId"], "cid-ack");
    assert_eq!(cr["newOrderResponse"]["clientOrderId"], "cid-new");

    // STOP_ON_FAILURE with an unknown order: 400 -2022, new order not tried.
    let mut p = resting_buy("cid-never");
    p["cancelReplaceMode"] = json!("STOP_ON_FAILURE");
    p["cancelOrigClientOrderId"] = json!("nope");
    let r = a.call("order.cancelReplace", p);
    assert_eq!(r["status"], 400);
    assert_eq!(err_code(&r), -2022);
    assert_eq!(r["error"]["msg"], "Order cancel-replace failed.");
    let d = &r["error"]["data"];
    assert_eq!(d["cancelResult"], "FAILURE");
    assert_eq!(d["newOrderResult"], "NOT_ATTEMPTED");
    assert_eq!(d["cancelResponse"]["code"], -2011);
    assert_eq!(d["newOrderResponse"], Value::Null);

    // ALLOW_FAILURE with an unknown order: new order placed, 409 -2021.
    let mut p = resting_buy("cid-allowed");
    p["cancelReplaceMode"] = json!("ALLOW_FAILURE");
    p["cancelOrigClientOrderId"] = json!("nope");
    let r = a.call("order.cancelReplace", p);
    assert_eq!(r["status"], 409);
    assert_eq!(err_code(&r), -2021);
    assert_eq!(r["error"]["msg"], "Order cancel-replace partially failed.");
    let d = &r["error"]["data"];
    assert_eq!(d["cancelResult"], "FAILURE");
    assert_eq!(d["newOrderResult"], "SUCCESS");
    assert_eq!(d["newOrderResponse"]["clientOrderId"], "cid-allowed");

    // account.status.
    let r = a.call("account.status", json!({"omitZeroBalances": true}));
    let acc = ok(&r);
    let want = fixture("ws_api_account_status_response.json");
    assert_eq!(keys(acc), keys(&want["result"]));
    let usdt = acc["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == "USDT")
        .unwrap();
    // Three resting buys of 0.01 at 30000 lock 900 USDT.
    assert_eq!(usdt["locked"], "900.00000000");

    // openOrders.cancelAll.
    let r = a.call("openOrders.cancelAll", json!({"symbol":"BTCUSDT"}));
    let all = ok(&r).as_array().unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|o| o["status"] == "CANCELED"));
    let r = a.call("openOrders.status", json!({}));
    assert_eq!(ok(&r), &json!([]));
    let r = a.call("openOrders.cancelAll", json!({"symbol":"BTCUSDT"}));
    assert_eq!(err_code(&r), -2011);

    // cid-result, cid-ack, cid-full, cid-new, cid-allowed.
    let s = h.stats();
    assert_eq!(s.orders_placed, 5);
    h.stop();
}

#[test]
fn ids_echo_with_their_json_type() {
    let h = start(cfg());
    let mut a = Api::connect(&h, "/ws-api/v3");
    for id in [json!(42), json!(u64::MAX), json!("abc-DEF_1"), Value::Null] {
        let r = a.call_raw(id.clone(), "ping", json!({}));
        assert_eq!(r["id"], id);
        assert_eq!(r["status"], 200);
    }
    // String ids stay strings even when they look numeric.
    let r = a.call_raw(json!("7"), "time", json!({}));
    assert!(r["id"].is_string());
    // Invalid ids: -1135 with id null.
    a.send_text(r#"{"id":1.5,"method":"ping"}"#);
    let r = a.recv();
    assert_eq!(r["id"], Value::Null);
    assert_eq!(err_code(&r), -1135);
    // Malformed JSON.
    a.send_text("{not json");
    let r = a.recv();
    assert_eq!(r["status"], 400);
    assert_eq!(err_code(&r), -1135);
    // Unknown method.
    let r = a.call_plain("order.fly", json!({}));
    assert_eq!(r["status"], 400);
    assert_eq!(err_code(&r), -1020);
    h.stop();
}

#[test]
fn errors_use_the_venue_codes() {
    let h = start(cfg());
    let mut a = Api::connect(&h, "/ws-api/v3");

    // -1022: wrong signature (and a signature by another account's secret).
    let mut p = a.signed(resting_buy("x1"));
    p["signature"] = json!("0".repeat(64));
    let r = a.call_raw(json!(1), "order.place", p);
    assert_eq!(err_code(&r), -1022);
    assert_eq!(
        r["error"]["msg"],
        "Signature for this request is not valid."
    );
    let mut b = Api::connect_as(&h, "/ws-api/v3", KEY, SECRET_B);
    let r = b.call("order.place", resting_buy("x1"));
    assert_eq!(err_code(&r), -1022);
    // Tampering after signing.
    let mut p = a.signed(resting_buy("x1"));
    p["quantity"] = json!("0.02000");
    assert_eq!(err_code(&a.call_raw(json!(2), "order.place", p)), -1022);

    // -1021: stale and future timestamps.
    let mut p = resting_buy("x2");
    p["timestamp"] = json!(now_ms() - 10_000);
    let r = a.call("order.place", p);
    assert_eq!(err_code(&r), -1021);
    assert_eq!(
        r["error"]["msg"],
        "Timestamp for this request is outside of the recvWindow."
    );
    let mut p = resting_buy("x2");
    p["timestamp"] = json!(now_ms() - 10_000);
    p["recvWindow"] = json!(60000);
    assert_eq!(ok(&a.call("order.place", p))["status"], "NEW");
    let mut p = resting_buy("x3");
    p["timestamp"] = json!(now_ms() + 5_000);
    assert_eq!(err_code(&a.call("order.place", p)), -1021);
    // Microsecond timestamps are accepted.
    let mut p = resting_buy("x3");
    p["timestamp"] = json!(now_ms() * 1000);
    assert_eq!(a.call("order.place", p)["status"], 200);

    // -2015: unknown key.
    let mut u = Api::connect_as(&h, "/ws-api/v3", "no-such-key", SECRET);
    let r = u.call("order.place", resting_buy("x4"));
    assert_eq!(err_code(&r), -2015);
    assert_eq!(
        r["error"]["msg"],
        "Invalid API-key, IP, or permissions for action."
    );

    // -1102: missing params.
    let mut p = resting_buy("x5");
    p.as_object_mut().unwrap().remove("price");
    let r = a.call("order.place", p);
    assert_eq!(err_code(&r), -1102);
    assert_eq!(
        r["error"]["msg"],
        "Mandatory parameter 'price' was not sent, was empty/null, or malformed."
    );
    let r = a.call_plain("order.place", resting_buy("x5"));
    assert_eq!(err_code(&r), -1102);

    // -1121 / -1116 / -1117 / -1111 / -1100.
    let cases = [
        ("symbol", json!("NOPEUSDT"), -1121),
        ("type", json!("SIDEWAYS"), -1116),
        ("side", json!("UP"), -1117),
        ("quantity", json!("0.000000001"), -1111),
        ("price", json!("12a"), -1100),
        ("newClientOrderId", json!("has space"), -1100),
    ];
    for (k, v, code) in cases {
        let mut p = resting_buy("x6");
        p[k] = v;
        assert_eq!(err_code(&a.call("order.place", p)), code, "{k}");
    }

    // -1013 filters.
    let mut p = resting_buy("x7");
    p["price"] = json!("30000.001");
    let r = a.call("order.place", p);
    assert_eq!(err_code(&r), -1013);
    assert_eq!(r["error"]["msg"], "Filter failure: PRICE_FILTER");
    let mut p = resting_buy("x7");
    p["quantity"] = json!("0.000001");
    let r = a.call("order.place", p);
    assert_eq!(r["error"]["msg"], "Filter failure: LOT_SIZE");

    // -2010: duplicate open client id, insufficient balance, LIMIT_MAKER.
    assert_eq!(a.call("order.place", resting_buy("dup"))["status"], 200);
    let r = a.call("order.place", resting_buy("dup"));
    assert_eq!(err_code(&r), -2010);
    assert_eq!(r["error"]["msg"], "Duplicate order sent.");
    let mut p = resting_buy("x8");
    p["quantity"] = json!("100.00000");
    let r = a.call("order.place", p);
    assert_eq!(err_code(&r), -2010);
    assert_eq!(
        r["error"]["msg"],
        "Account has insufficient balance for requested action."
    );
    let r = a.call(
        "order.place",
        json!({"symbol":"BTCUSDT","side":"BUY","type":"LIMIT_MAKER","price":"90000.00","quantity":"0.00100"}),
    );
    assert_eq!(err_code(&r), -2010);
    assert_eq!(r["error"]["msg"], "Order would immediately match and take.");

    // -2011 cancel unknown, -2013 status unknown.
    let r = a.call(
        "order.cancel",
        json!({"symbol":"BTCUSDT","origClientOrderId":"nope"}),
    );
    assert_eq!(err_code(&r), -2011);
    assert_eq!(r["error"]["msg"], "Unknown order sent.");
    let r = a.call("order.status", json!({"symbol":"BTCUSDT","orderId":1}));
    assert_eq!(err_code(&r), -2013);
    assert_eq!(r["error"]["msg"], "Order does not exist.");
    let r = a.call("order.status", json!({"symbol":"BTCUSDT"}));
    assert_eq!(err_code(&r), -1102);

    // The order log saw every order.place, with codes.
    let log = h.orders_received();
    assert!(log.iter().any(|o| o.code == Some(-1022)));
    assert!(
        log.iter()
            .any(|o| o.code == Some(-2015) && o.account.is_none())
    );
    assert_eq!(
        log.iter()
            .filter(|o| o.client_order_id == "dup" && o.accepted)
            .count(),
        1
    );
    assert!(h.stats().orders_rejected >= 15);
    h.stop();
}

#[test]
fn numeric_params_are_signed_in_their_textual_form() {
    let h = start(cfg());
    let mut a = Api::connect(&h, "/ws-api/v3");
    let ts = now_ms();
    // quantity and price as JSON numbers with trailing zeros, recvWindow as
    // a number: the payload carries them exactly as written.
    let text_params = format!(
        r#"{{"apiKey":"{KEY}","newClientOrderId":"num-1","price":30000.10,"quantity":0.01000,"recvWindow":5000,"side":"BUY","symbol":"BTCUSDT","timeInForce":"GTC","timestamp":{ts},"type":"LIMIT"}}"#
    );
    let payload = format!(
        "apiKey={KEY}&newClientOrderId=num-1&price=30000.10&quantity=0.01000&recvWindow=5000&side=BUY&symbol=BTCUSDT&timeInForce=GTC&timestamp={ts}&type=LIMIT"
    );
    let sig = hmac_hex(SECRET, &payload);
    let req = format!(
        r#"{{"id":1,"method":"order.place","params":{}}}"#,
        text_params.replacen('{', &format!(r#"{{"signature":"{sig}","#), 1)
    );
    a.send_text(&req);
    let r = a.recv();
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["result"]["price"], "30000.10000000");
    // The same request signed over a normalised number text fails.
    let bad_payload = payload.replace("quantity=0.01000", "quantity=0.01");
    let bad = hmac_hex(SECRET, &bad_payload);
    let req = format!(
        r#"{{"id":2,"method":"order.place","params":{}}}"#,
        text_params.replace("num-1", "num-2").replacen(
            '{',
            &format!(r#"{{"signature":"{bad}","#),
            1
        )
    );
    a.send_text(&req);
    assert_eq!(err_code(&a.recv()), -1022);
    // Upper-case hex signatures are accepted (HMAC is case-insensitive).
    let mut p = a.signed(resting_buy("upper"));
    p["signature"] = json!(p["signature"].as_str().unwrap().to_ascii_uppercase());
    assert_eq!(a.call_raw(json!(3), "order.place", p)["status"], 200);
    h.stop();
}

fn ed25519_account() -> (AccountSpec, ed25519_dalek::SigningKey) {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    let v = fixture("signature_vectors.json");
    let pem = v["ed25519"][0]["private_key_pem"].as_str().unwrap();
    let sk = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).unwrap();
    let mut spec = account("ed-key", "");
    spec.secret = String::new();
    spec.ed25519_public = Some(sk.verifying_key().to_bytes());
    (spec, sk)
}

fn ed_sign(sk: &ed25519_dalek::SigningKey, payload: &str) -> String {
    use base64::Engine as _;
    use ed25519_dalek::Signer;
    base64::engine::general_purpose::STANDARD.encode(sk.sign(payload.as_bytes()).to_bytes())
}

#[test]
fn session_logon_and_user_data_after_a_fill() {
    let (spec, sk) = ed25519_account();
    let mut c = cfg();
    c.accounts.push(spec);
    let h = start(c);
    let mut a = Api::connect(&h, "/ws-api/v3");

    // Not logged on yet: subscribe is refused, session.status has nulls.
    let r = a.call_plain("session.status", json!({}));
    assert_eq!(ok(&r)["apiKey"], Value::Null);
    assert!(a.call_plain("userDataStream.subscribe", json!({}))["error"].is_object());

    // A wrong Ed25519 signature, then the right one.
    let ts = now_ms();
    let payload = format!("apiKey=ed-key&timestamp={ts}");
    let mut p = json!({"apiKey":"ed-key","timestamp":ts,"signature": ed_sign(&sk, "other")});
    assert_eq!(
        err_code(&a.call_raw(json!("l0"), "session.logon", p.clone())),
        -1022
    );
    p["signature"] = json!(ed_sign(&sk, &payload));
    let r = a.call_raw(json!("l1"), "session.logon", p);
    let want = fixture("ws_api_session_logon_response.json");
    assert_eq!(keys(ok(&r)), keys(&want["result"]));
    assert_eq!(r["result"]["apiKey"], "ed-key");
    // HMAC accounts cannot log on.
    let ts = now_ms();
    let p = json!({"apiKey":KEY,"timestamp":ts,"signature": hmac_hex(SECRET, &format!("apiKey={KEY}&timestamp={ts}"))});
    let mut other = Api::connect(&h, "/ws-api/v3");
    assert_eq!(
        err_code(&other.call_raw(json!(1), "session.logon", p)),
        -1022
    );

    // Logged on: only timestamp needed.
    let r = a.call_plain("userDataStream.subscribe", json!({}));
    let want = fixture("ws_api_userDataStream_subscribe_response.json");
    assert_eq!(keys(ok(&r)), keys(&want["result"]));
    let sub = r["result"]["subscriptionId"].as_u64().unwrap();
    let r = a.call_plain("session.status", json!({}));
    assert_eq!(r["result"]["userDataStream"], true);

    // A marketable BUY fills against the simulated book: NEW, TRADE(s),
    // outboundAccountPosition arrive as {"subscriptionId":n,"event":…}.
    let p = json!({"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","timeInForce":"GTC",
                   "price":"90000.00","quantity":"0.00100","newClientOrderId":"take-1",
                   "timestamp": now_ms()});
    a.send_text(&json!({"id":"p1","method":"order.place","params":p}).to_string());
    let mut events = Vec::new();
    let r = a.response(&json!("p1"), &mut events);
    assert_eq!(r["result"]["status"], "FILLED", "{r}");
    let fills = r["result"]["fills"].as_array().unwrap();
    assert!(!fills.is_empty());
    // Events may trail the response: read until the account position.
    while !events
        .iter()
        .any(|e| e["event"]["e"] == "outboundAccountPosition")
    {
        events.push(a.recv());
    }
    assert!(events.iter().all(|e| e["subscriptionId"] == sub));
    let reports: Vec<&Value> = events
        .iter()
        .map(|e| &e["event"])
        .filter(|e| e["e"] == "executionReport")
        .collect();
    assert_eq!(reports[0]["x"], "NEW");
    assert_eq!(reports[0]["N"], Value::Null);
    let want = fixture("executionReport_fill.json");
    let last = reports.last().unwrap();
    assert_eq!(last["x"], "TRADE");
    assert_eq!(last["X"], "FILLED");
    assert_eq!(last["c"], "take-1");
    assert_eq!(last["N"], "BTC");
    for k in keys(&want) {
        assert!(last.get(&k).is_some(), "executionReport lacks {k}");
    }
    // The order's fill gave back its unfilled-order count.
    let r = a.call_plain(
        "order.status",
        json!({"symbol":"BTCUSDT","origClientOrderId":"take-1","timestamp":now_ms()}),
    );
    assert_eq!(r["result"]["status"], "FILLED");

    // balanceUpdate from a deposit.
    assert!(h.adjust_balance("ed-key", "USDT", 5_000_000_000));
    let ev = loop {
        let e = a.recv();
        if e["event"]["e"] == "balanceUpdate" {
            break e;
        }
    };
    let want = fixture("balanceUpdate.json");
    assert_eq!(keys(&ev["event"]), keys(&want["event"]));
    assert_eq!(ev["event"]["d"], "50.00000000");

    // Logout: signed requests need their own signature again.
    let r = a.call_plain("session.logout", json!({}));
    assert_eq!(ok(&r)["apiKey"], Value::Null);
    let r = a.call_plain("account.status", json!({"timestamp": now_ms()}));
    assert_eq!(err_code(&r), -1102);
    let r = a.call_plain("userDataStream.unsubscribe", json!({}));
    assert_eq!(ok(&r), &json!({}));
    assert!(h.stats().user_events_sent >= 4);
    h.stop();
}

#[test]
fn hmac_subscription_and_rate_limits_switch() {
    let h = start(cfg());
    // ?returnRateLimits=false on the URL, overridable per request.
    let mut a = Api::connect(&h, "/ws-api/v3?returnRateLimits=false");
    let r = a.call_plain("time", json!({}));
    assert!(r.get("rateLimits").is_none());
    let r = a.call_plain("time", json!({"returnRateLimits": true}));
    assert!(r["rateLimits"].is_array());
    let mut b = Api::connect(&h, "/ws-api/v3");
    let r = b.call_plain("time", json!({"returnRateLimits": false}));
    assert!(r.get("rateLimits").is_none());

    // userDataStream.subscribe.signature (HMAC, no logon) on a, an order
    // by b for the same account: a receives the events.
    let r = a.call("userDataStream.subscribe.signature", json!({}));
    let sub = ok(&r)["subscriptionId"].as_u64().unwrap();
    let r = b.call("order.place", resting_buy("from-b"));
    assert_eq!(r["status"], 200);
    let e = a.recv();
    assert_eq!(e["subscriptionId"], sub);
    assert_eq!(e["event"]["e"], "executionReport");
    assert_eq!(e["event"]["c"], "from-b");
    assert_eq!(e["event"]["x"], "NEW");
    // Another account's orders are not delivered to a.
    let mut c = Api::connect_as(&h, "/ws-api/v3", KEY_B, SECRET_B);
    assert_eq!(c.call("order.place", resting_buy("from-c"))["status"], 200);
    let r = a.call_plain("userDataStream.unsubscribe", json!({"subscriptionId": sub}));
    assert_eq!(ok(&r), &json!({}));
    let r = a.call_plain("userDataStream.unsubscribe", json!({"subscriptionId": sub}));
    assert_eq!(r["status"], 400);
    h.stop();
}

#[test]
fn resting_orders_fill_when_the_market_trades_through_them() {
    let h = start(cfg());
    let mut a = Api::connect(&h, "/ws-api/v3");
    let r = a.call("userDataStream.subscribe.signature", json!({}));
    assert_eq!(r["status"], 200);
    // A BUY joining the best bid: the generator's sell-aggressor prints at
    // (or through) that price fill it as a maker.
    let book = h.book("BTCUSDT").unwrap();
    let bid = book.bids[0].0;
    let p = json!({"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","timeInForce":"GTC",
                   "price": bid.to_string(),"quantity":"0.00100","newClientOrderId":"maker-1"});
    let r = a.call("order.place", p);
    assert_eq!(r["result"]["status"], "NEW", "{r}");
    let mut filled = false;
    for _ in 0..200 {
        h.step(200);
        let r = a.call(
            "order.status",
            json!({"symbol":"BTCUSDT","origClientOrderId":"maker-1"}),
        );
        if r["result"]["status"] == "FILLED" {
            filled = true;
            break;
        }
    }
    assert!(filled, "resting order never filled by market trades");
    assert!(h.stats().orders_filled >= 1);
    h.stop();
}
