//! Shared helpers for the order-side integration tests: a WebSocket API
//! client (tungstenite over std TcpStream, read timeouts so a bug fails
//! instead of hanging) that signs requests like the venue's docs, a raw
//! HTTP/1.1 client for the REST order endpoints, and a test config.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use talon_core::num::Qty;
use talon_sim::exchange::AccountSpec;
use talon_sim::{SimConfig, SimHandle, Simulator};
use tungstenite::{Message, WebSocket};

pub const TIMEOUT: Duration = Duration::from_secs(10);
pub const KEY: &str = "test-key-a";
pub const SECRET: &str = "test-secret-a";
pub const KEY_B: &str = "test-key-b";
pub const SECRET_B: &str = "test-secret-b";

pub fn account(key: &str, secret: &str) -> AccountSpec {
    AccountSpec {
        api_key: key.into(),
        secret: secret.into(),
        ed25519_public: None,
        balances: vec![
            ("USDT".into(), Qty::from_raw(100_000 * 100_000_000)),
            ("BTC".into(), Qty::from_raw(10 * 100_000_000)),
        ],
    }
}

/// Paused generator (a fixed book), two HMAC accounts.
pub fn cfg() -> SimConfig {
    SimConfig {
        seed: 7,
        start_time_ms: Some(1_700_000_000_000),
        book_levels: 60,
        start_paused: true,
        accounts: vec![account(KEY, SECRET), account(KEY_B, SECRET_B)],
        ..SimConfig::default()
    }
}

pub fn start(cfg: SimConfig) -> SimHandle {
    Simulator::start(cfg).expect("simulator starts")
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub fn hmac_hex(secret: &str, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The WS API signing payload of a params object: sorted keys, raw values.
pub fn ws_payload(params: &serde_json::Map<String, Value>) -> String {
    let mut keys: Vec<&String> = params.keys().collect();
    keys.sort();
    keys.iter()
        .filter(|k| k.as_str() != "signature")
        .map(|k| {
            let v = match &params[k.as_str()] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub type Ws = WebSocket<TcpStream>;

pub struct Api {
    pub ws: Ws,
    pub key: String,
    pub secret: String,
    next: u64,
}

impl Api {
    pub fn connect(h: &SimHandle, path: &str) -> Api {
        Api::connect_as(h, path, KEY, SECRET)
    }

    pub fn connect_as(h: &SimHandle, path: &str, key: &str, secret: &str) -> Api {
        let tcp = TcpStream::connect(h.local_addr()).unwrap();
        tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
        let url = format!("{}{}", h.ws_base(), path);
        let (ws, resp) = tungstenite::client(url.as_str(), tcp).expect("ws handshake");
        assert_eq!(resp.status().as_u16(), 101);
        Api {
            ws,
            key: key.into(),
            secret: secret.into(),
            next: 1,
        }
    }

    pub fn send_text(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).unwrap();
    }

    /// Next text frame as JSON.
    pub fn recv(&mut self) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            assert!(Instant::now() < deadline, "no message in time");
            match self.ws.read().expect("read") {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Close(_) => panic!("closed"),
                _ => {}
            }
        }
    }

    /// The response with this id (user data events before it are returned
    /// in `events`).
    pub fn response(&mut self, id: &Value, events: &mut Vec<Value>) -> Value {
        loop {
            let v = self.recv();
            if v.get("subscriptionId").is_some() {
                events.push(v);
                continue;
            }
            if v.get("id") == Some(id) {
                return v;
            }
            panic!("unexpected frame {v}");
        }
    }

    /// Adds apiKey + timestamp and signs (HMAC) the params.
    pub fn signed(&self, params: Value) -> Value {
        let mut p = params.as_object().cloned().unwrap_or_default();
        p.entry("apiKey").or_insert(json!(self.key));
        p.entry("timestamp").or_insert(json!(now_ms()));
        let sig = hmac_hex(&self.secret, &ws_payload(&p));
        p.insert("signature".into(), json!(sig));
        Value::Object(p)
    }

    /// Sends `{"id":…,"method":…,"params":…}` and returns the response.
    pub fn call_raw(&mut self, id: Value, method: &str, params: Value) -> Value {
        let req = json!({"id": id, "method": method, "params": params});
        self.send_text(&req.to_string());
        let mut ev = Vec::new();
        self.response(&id, &mut ev)
    }

    /// A signed call with an integer id.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let p = self.signed(params);
        self.call_raw(json!(self.next), method, p)
    }

    /// An unsigned call with an integer id.
    pub fn call_plain(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        self.call_raw(json!(self.next), method, params)
    }
}

/// A resting BUY LIMIT far below the market (BTCUSDT at ~65000).
pub fn resting_buy(cid: &str) -> Value {
    json!({"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","timeInForce":"GTC",
           "price":"30000.00","quantity":"0.01000","newClientOrderId":cid})
}

pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

pub fn fixture(name: &str) -> Value {
    let p = format!(
        "{}/../../feed/tests/fixtures/binance/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// One raw HTTP/1.1 request (`Connection: close`): (status, head, body), or
/// `None` if the server closed without answering.
pub fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: &str,
    key: Option<&str>,
) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(k) = key {
        req.push_str(&format!("X-MBX-APIKEY: {k}\r\n"));
    }
    if !body.is_empty() {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    if raw.is_empty() {
        return None;
    }
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Some((status, head.to_string(), body.to_string()))
}

pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// A signed REST request: `query` and `body` (either may be empty) are
/// signed as sent, `signature` appended to the body if it is not empty,
/// else to the query.
pub fn rest_signed(
    addr: SocketAddr,
    method: &str,
    path: &str,
    query: &str,
    body: &str,
    key: &str,
    secret: &str,
) -> Option<(u16, String, Value)> {
    let sig = hmac_hex(secret, &format!("{query}{body}"));
    let (target, body) = if body.is_empty() {
        (format!("{path}?{query}&signature={sig}"), String::new())
    } else if query.is_empty() {
        (path.to_string(), format!("{body}&signature={sig}"))
    } else {
        (format!("{path}?{query}"), format!("{body}&signature={sig}"))
    };
    http(addr, method, &target, &body, Some(key))
        .map(|(st, head, b)| (st, head, serde_json::from_str(&b).unwrap()))
}
