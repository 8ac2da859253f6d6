//! WebSocket market streams: paths, payload shapes, control methods.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};

fn is_dec8(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.split_once('.')
            .is_some_and(|(i, f)| !i.is_empty() && f.len() == 8)
    })
}

#[test]
fn raw_streams_carry_the_venue_fields() {
    let h = start(cfg(2000));
    let mut bt = ws(&h, "/ws/btcusdt@bookTicker");
    let v = recv(&mut bt);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 6, "{v}");
    assert!(v["u"].as_u64().unwrap() > 1 << 32);
    assert_eq!(v["s"], "BTCUSDT");
    for k in ["b", "B", "a", "A"] {
        assert!(is_dec8(&v[k]), "{v}");
    }
    let mut last_u = v["u"].as_u64().unwrap();
    for _ in 0..20 {
        let v = recv(&mut bt);
        assert!(v["u"].as_u64().unwrap() > last_u);
        last_u = v["u"].as_u64().unwrap();
        assert!(
            v["b"].as_str().unwrap().parse::<f64>().unwrap()
                < v["a"].as_str().unwrap().parse::<f64>().unwrap()
        );
    }

    let mut tr = ws(&h, "/ws/ethusdt@trade");
    let t = recv(&mut tr);
    assert_eq!(t["e"], "trade");
    assert_eq!(t["s"], "ETHUSDT");
    assert!(t["E"].as_u64().unwrap() >= 1_700_000_000_000);
    assert!(t["t"].as_u64().is_some() && t["T"].as_u64().is_some());
    assert!(is_dec8(&t["p"]) && is_dec8(&t["q"]));
    assert!(t["m"].is_boolean() && t["M"] == true);

    let mut ag = ws(&h, "/ws/btcusdt@aggTrade");
    let a = recv(&mut ag);
    assert_eq!(a["e"], "aggTrade");
    for k in ["a", "f", "l", "T", "E"] {
        assert!(a[k].as_u64().is_some(), "{a}");
    }
    assert!(a["f"] == a["l"]);

    let mut dp = ws(&h, "/ws/btcusdt@depth");
    let d = recv(&mut dp);
    assert_eq!(d["e"], "depthUpdate");
    assert!(d["U"].as_u64().unwrap() <= d["u"].as_u64().unwrap());
    assert!(d["b"].is_array() && d["a"].is_array());
    assert!(d.get("pu").is_none());

    let mut p5 = ws(&h, "/ws/btcusdt@depth5@100ms");
    let p = recv(&mut p5);
    let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(p["bids"].as_array().unwrap().len(), 5);
    assert_eq!(p["asks"].as_array().unwrap().len(), 5);
    assert!(p["lastUpdateId"].as_u64().is_some());
    assert!(is_dec8(&p["asks"][0][1]));

    let mut d100 = ws(&h, "/ws/ethusdt@depth@100ms");
    let a = recv(&mut d100);
    let b = recv(&mut d100);
    assert_eq!(b["U"].as_u64().unwrap(), a["u"].as_u64().unwrap() + 1);
    assert_eq!(
        (b["E"].as_u64().unwrap() - a["E"].as_u64().unwrap()) % 100,
        0
    );

    let s = h.stats();
    assert!(
        s.book_ticker_sent >= 21 && s.trade_sent >= 1 && s.depth_partial_sent >= 1,
        "{s:?}"
    );
    h.stop();
}

#[test]
fn subscribe_unsubscribe_list_with_every_id_type() {
    let h = start(cfg(2000));
    let mut c = ws(&h, "/ws");
    send(
        &mut c,
        &json!({"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth"],"id":1}),
    );
    assert_eq!(reply(&mut c, &json!(1)), json!({"result":null,"id":1}));
    // Market data flows, raw (no wrapper).
    let mut kinds = std::collections::HashSet::new();
    while kinds.len() < 2 {
        let v = recv(&mut c);
        assert!(v.get("stream").is_none());
        kinds.insert(v["e"].as_str().unwrap().to_string());
    }
    send(
        &mut c,
        &json!({"method":"LIST_SUBSCRIPTIONS","id":"abc-123"}),
    );
    assert_eq!(
        reply(&mut c, &json!("abc-123")),
        json!({"result":["btcusdt@aggTrade","btcusdt@depth"],"id":"abc-123"})
    );
    send(
        &mut c,
        &json!({"method":"UNSUBSCRIBE","params":["btcusdt@depth"],"id":null}),
    );
    assert_eq!(
        reply(&mut c, &Value::Null),
        json!({"result":null,"id":null})
    );
    send(&mut c, &json!({"method":"LIST_SUBSCRIPTIONS","id":-5}));
    assert_eq!(
        reply(&mut c, &json!(-5)),
        json!({"result":["btcusdt@aggTrade"],"id":-5})
    );
    // After the reply, no more depth updates.
    for _ in 0..20 {
        let v = recv(&mut c);
        assert_eq!(v["e"], "aggTrade", "{v}");
    }
    // Unknown stream: acknowledged, then silent.
    send(
        &mut c,
        &json!({"method":"SUBSCRIBE","params":["nosuch@trade"],"id":9}),
    );
    assert_eq!(reply(&mut c, &json!(9)), json!({"result":null,"id":9}));
    // Properties.
    send(
        &mut c,
        &json!({"method":"GET_PROPERTY","params":["combined"],"id":10}),
    );
    assert_eq!(reply(&mut c, &json!(10)), json!({"result":false,"id":10}));
    send(
        &mut c,
        &json!({"method":"SET_PROPERTY","params":["combined",true],"id":11}),
    );
    assert_eq!(reply(&mut c, &json!(11)), json!({"result":null,"id":11}));
    let v = recv(&mut c);
    assert_eq!(v["stream"], "btcusdt@aggTrade", "{v}");
    assert_eq!(v["data"]["e"], "aggTrade");
    send(
        &mut c,
        &json!({"method":"SET_PROPERTY","params":["combined","yes"],"id":12}),
    );
    assert_eq!(
        reply(&mut c, &json!(12)),
        json!({"error":{"code":1,"msg":"Invalid value type: expected Boolean"},"id":12})
    );
    send(
        &mut c,
        &json!({"method":"SET_PROPERTY","params":["colour",true],"id":13}),
    );
    assert_eq!(
        reply(&mut c, &json!(13)),
        json!({"error":{"code":0,"msg":"Unknown property"},"id":13})
    );
    assert!(h.stats().control_replies >= 9);
    h.stop();
}

#[test]
fn control_errors_have_the_venue_shape() {
    let h = start(cfg(10));
    let mut c = ws(&h, "/ws");
    c.send(tungstenite::Message::Text("{not json".into()))
        .unwrap();
    let v = recv(&mut c);
    assert_eq!(v["error"]["code"], 3);
    assert!(
        v["error"]["msg"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JSON:")
    );
    assert_eq!(v["id"], Value::Null);
    send(
        &mut c,
        &json!({"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1.5}),
    );
    let v = recv(&mut c);
    assert_eq!(
        v,
        json!({"error":{"code":2,"msg":"Invalid request: request ID must be an unsigned integer"},"id":null})
    );
    send(
        &mut c,
        &json!({"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":"has space"}),
    );
    assert_eq!(recv(&mut c)["error"]["code"], 2);
    send(&mut c, &json!({"method":"FOO","id":4}));
    let v = recv(&mut c);
    assert_eq!(v["error"]["code"], 2);
    assert!(
        v["error"]["msg"]
            .as_str()
            .unwrap()
            .contains("unknown variant `FOO`")
    );
    assert_eq!(v["id"], 4);
    send(&mut c, &json!({"params":[],"id":5}));
    assert_eq!(
        recv(&mut c),
        json!({"error":{"code":2,"msg":"Invalid request: missing field `method`"},"id":5})
    );
    send(
        &mut c,
        &json!({"method":"SUBSCRIBE","params":"btcusdt@trade","id":6}),
    );
    assert_eq!(recv(&mut c)["error"]["code"], 2);
    h.stop();
}

#[test]
fn combined_streams_wrap_each_event() {
    let h = start(cfg(3000));
    let mut c = ws(
        &h,
        "/stream?streams=btcusdt@bookTicker/ethusdt@depth@100ms/btcusdt@depth10",
    );
    let mut seen = std::collections::HashSet::new();
    for _ in 0..2000 {
        let v = recv(&mut c);
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 2, "{v}");
        let stream = v["stream"].as_str().unwrap().to_string();
        match stream.as_str() {
            "btcusdt@bookTicker" => assert_eq!(v["data"]["s"], "BTCUSDT"),
            "ethusdt@depth@100ms" => assert_eq!(v["data"]["e"], "depthUpdate"),
            "btcusdt@depth10" => assert_eq!(v["data"]["bids"].as_array().unwrap().len(), 10),
            other => panic!("unexpected stream {other}"),
        }
        seen.insert(stream);
        if seen.len() == 3 {
            break;
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    // Live subscribe on /stream keeps the wrapper.
    send(
        &mut c,
        &json!({"method":"SUBSCRIBE","params":["ethusdt@trade"],"id":"x1"}),
    );
    assert_eq!(
        reply(&mut c, &json!("x1")),
        json!({"result":null,"id":"x1"})
    );
    loop {
        let v = recv(&mut c);
        if v["stream"] == "ethusdt@trade" {
            assert_eq!(v["data"]["e"], "trade");
            break;
        }
    }
    // Unknown paths are refused with 404 before the upgrade.
    let r = tungstenite::client(
        format!("{}/nope", h.ws_base()).as_str(),
        std::net::TcpStream::connect(h.local_addr()).unwrap(),
    );
    match r {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
            assert_eq!(resp.status().as_u16(), 404)
        }
        other => panic!("expected 404, got {:?}", other.map(|_| ())),
    }
    h.stop();
}
