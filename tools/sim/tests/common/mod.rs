//! Shared helpers for the simulator's integration tests: a tungstenite
//! client over std TcpStream (with read timeouts so a bug fails instead of
//! hanging), a raw HTTP/1.1 GET, a raw WebSocket client that does not
//! answer pings, and a reference order book applying the venue's procedure.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use talon_core::num::{Price, Qty};
use talon_sim::{BookView, SimConfig, SimHandle, Simulator};
use tungstenite::{Message, WebSocket};

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub type Ws = WebSocket<TcpStream>;

/// A config for tests: fixed epoch, small book, given rate.
pub fn cfg(rate: u64) -> SimConfig {
    SimConfig {
        rate,
        seed: 7,
        start_time_ms: Some(1_700_000_000_000),
        book_levels: 60,
        ..SimConfig::default()
    }
}

pub fn start(cfg: SimConfig) -> SimHandle {
    Simulator::start(cfg).expect("simulator starts")
}

/// Connects a WebSocket client to `path` (e.g. `/ws/btcusdt@trade`).
pub fn ws(h: &SimHandle, path: &str) -> Ws {
    let tcp = TcpStream::connect(h.local_addr()).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    let url = format!("{}{}", h.ws_base(), path);
    let (ws, resp) = tungstenite::client(url.as_str(), tcp).expect("ws handshake");
    assert_eq!(resp.status().as_u16(), 101);
    ws
}

/// Next text message as JSON (pings answered by tungstenite, skipped).
pub fn recv(ws: &mut Ws) -> Value {
    let text = recv_text(ws);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad json {text}: {e}"))
}

/// Next text message.
pub fn recv_text(ws: &mut Ws) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "no message in time");
        match ws.read().expect("read") {
            Message::Text(t) => return t.to_string(),
            Message::Binary(_) => panic!("binary frame"),
            _ => {}
        }
    }
}

/// Sends a control request.
pub fn send(ws: &mut Ws, v: &Value) {
    ws.send(Message::Text(v.to_string().into())).unwrap();
}

/// Reads until a reply with `"id"` equal to `id` (market data skipped).
pub fn reply(ws: &mut Ws, id: &Value) -> Value {
    for _ in 0..100_000 {
        let v = recv(ws);
        if v.get("id") == Some(id) && (v.get("result").is_some() || v.get("error").is_some()) {
            return v;
        }
    }
    panic!("no reply for id {id}");
}

/// Raw HTTP/1.1 GET with `Connection: close`: (status, head, body).
pub fn http_get(addr: SocketAddr, target: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    split_response(&raw)
}

pub fn split_response(raw: &[u8]) -> (u16, String, String) {
    let text = String::from_utf8(raw.to_vec()).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

pub fn get_json(addr: SocketAddr, target: &str) -> (u16, Value) {
    let (st, _, body) = http_get(addr, target);
    (st, serde_json::from_str(&body).unwrap())
}

fn levels(v: &Value) -> Vec<(Price, Qty)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                Price::parse(l[0].as_str().unwrap()).unwrap(),
                Qty::parse(l[1].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

/// Reference book implementing the venue's snapshot + diff procedure.
#[derive(Default, Debug)]
pub struct RefBook {
    pub bids: BTreeMap<Price, Qty>,
    pub asks: BTreeMap<Price, Qty>,
    pub last: u64,
    pub synced: bool,
    pub gaps: u64,
}

/// What applying a diff did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Stale,
    Done,
    Gap,
}

impl RefBook {
    pub fn load_snapshot(&mut self, snap: &Value) {
        self.bids = levels(&snap["bids"]).into_iter().collect();
        self.asks = levels(&snap["asks"]).into_iter().collect();
        self.last = snap["lastUpdateId"].as_u64().unwrap();
        self.synced = true;
    }

    /// Applies a `depthUpdate`; the first after a snapshot must straddle it.
    pub fn apply(&mut self, d: &Value) -> Applied {
        let (u_first, u_last) = (d["U"].as_u64().unwrap(), d["u"].as_u64().unwrap());
        if u_last <= self.last {
            return Applied::Stale;
        }
        if u_first > self.last + 1 {
            self.gaps += 1;
            self.synced = false;
            return Applied::Gap;
        }
        for (key, side) in [("b", &mut self.bids), ("a", &mut self.asks)] {
            for (p, q) in levels(&d[key]) {
                if q.is_zero() {
                    side.remove(&p);
                } else {
                    side.insert(p, q);
                }
            }
        }
        self.last = u_last;
        Applied::Done
    }

    pub fn matches(&self, v: &BookView) -> bool {
        v.last_update_id == self.last
            && v.bids
                == self
                    .bids
                    .iter()
                    .rev()
                    .map(|(p, q)| (*p, *q))
                    .collect::<Vec<_>>()
            && v.asks == self.asks.iter().map(|(p, q)| (*p, *q)).collect::<Vec<_>>()
    }
}

/// A minimal raw WebSocket client (never answers pings by itself).
pub struct RawWs {
    pub tcp: TcpStream,
    pub buf: Vec<u8>,
    pub response_head: String,
}

/// A raw frame: (fin, rsv1, opcode, payload).
pub type RawFrame = (bool, bool, u8, Vec<u8>);

impl RawWs {
    pub fn connect(addr: SocketAddr, path: &str, extra_headers: &str) -> RawWs {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
        write!(
            tcp,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra_headers}\r\n"
        )
        .unwrap();
        let mut buf = Vec::new();
        let mut tmp = [0u8; 4096];
        let pos = loop {
            let n = tcp.read(&mut tmp).unwrap();
            assert!(n > 0, "closed during handshake");
            buf.extend_from_slice(&tmp[..n]);
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
        };
        let head = String::from_utf8(buf[..pos].to_vec()).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "{head}"
        );
        RawWs {
            tcp,
            buf: buf[pos..].to_vec(),
            response_head: head,
        }
    }

    fn fill(&mut self, n: usize) -> std::io::Result<()> {
        let mut tmp = [0u8; 65536];
        while self.buf.len() < n {
            let k = self.tcp.read(&mut tmp)?;
            if k == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&tmp[..k]);
        }
        Ok(())
    }

    /// Reads one server frame; Err on EOF/reset.
    pub fn frame(&mut self) -> std::io::Result<RawFrame> {
        self.fill(2)?;
        let (b0, b1) = (self.buf[0], self.buf[1]);
        assert_eq!(b1 & 0x80, 0, "server frames are unmasked");
        let (len, hl) = match b1 & 0x7f {
            126 => {
                self.fill(4)?;
                (
                    usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])),
                    4,
                )
            }
            127 => {
                self.fill(10)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(&self.buf[2..10]);
                (u64::from_be_bytes(a) as usize, 10)
            }
            n => (usize::from(n), 2),
        };
        self.fill(hl + len)?;
        let payload = self.buf[hl..hl + len].to_vec();
        self.buf.drain(..hl + len);
        Ok((b0 & 0x80 != 0, b0 & 0x40 != 0, b0 & 0x0f, payload))
    }

    /// Sends a masked client frame.
    pub fn send(&mut self, opcode: u8, payload: &[u8]) {
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        let mut f = vec![0x80 | opcode];
        assert!(payload.len() < 126);
        f.push(0x80 | payload.len() as u8);
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        self.tcp.write_all(&f).unwrap();
    }
}
