//! Fault injection: drops, gaps, malformed JSON, stalls, permessage-deflate,
//! ping/pong enforcement and connection lifetime.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::time::Duration;

use common::*;
use serde_json::Value;
use talon_sim::{DeflateMode, FaultConfig, MalformedKind, SimConfig};
use tungstenite::Message;

fn faults(f: FaultConfig) -> SimConfig {
    SimConfig {
        faults: f,
        ..cfg(5000)
    }
}

#[test]
fn drop_after_n_messages_closes_abruptly_within_the_limit() {
    let h = start(faults(FaultConfig {
        drop_after: Some(25),
        drop_limit: Some(1),
        ..FaultConfig::default()
    }));
    let mut c = ws(&h, "/ws/btcusdt@depth");
    let mut n = 0;
    let err = loop {
        match c.read() {
            Ok(Message::Text(_)) => n += 1,
            Ok(Message::Close(_)) => panic!("a drop sends no close frame"),
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(n, 25, "{err}");
    assert_eq!(h.stats().fault_drops, 1);
    // The limit is used up: the next connection is not dropped.
    let mut c = ws(&h, "/ws/btcusdt@depth");
    for _ in 0..60 {
        recv(&mut c);
    }
    assert_eq!(h.stats().fault_drops, 1);
    h.stop();
}

#[test]
fn gap_at_skips_exactly_one_diff() {
    let h = start(faults(FaultConfig {
        gap_at: Some(10),
        ..FaultConfig::default()
    }));
    let mut c = ws(&h, "/ws/ethusdt@depth");
    let mut prev: Option<u64> = None;
    let mut gaps = Vec::new();
    for i in 1..=40 {
        let d = recv(&mut c);
        let (first, last) = (d["U"].as_u64().unwrap(), d["u"].as_u64().unwrap());
        if let Some(p) = prev
            && first != p + 1
        {
            gaps.push(i);
        }
        prev = Some(last);
    }
    // The 10th diff was skipped: the 10th received one starts past a hole.
    assert_eq!(gaps, vec![10]);
    assert_eq!(h.stats().fault_gaps, 1);
    h.stop();
}

#[test]
fn malformed_messages_truncated_and_garbage() {
    for kind in [MalformedKind::Truncate, MalformedKind::Garbage] {
        let h = start(faults(FaultConfig {
            malformed_every: Some(5),
            malformed_kind: kind,
            ..FaultConfig::default()
        }));
        let mut c = ws(&h, "/stream?streams=btcusdt@depth");
        let mut bad = Vec::new();
        for i in 1..=20 {
            let t = recv_text(&mut c);
            match serde_json::from_str::<Value>(&t) {
                Ok(v) => assert_eq!(v["stream"], "btcusdt@depth"),
                Err(_) => {
                    bad.push(i);
                    if kind == MalformedKind::Truncate {
                        assert!(t.starts_with("{\"stream\":\"btcusdt@depth\""), "{t}");
                    }
                }
            }
        }
        assert_eq!(bad, vec![5, 10, 15, 20], "{kind:?}");
        assert!(h.stats().fault_malformed >= 4);
        h.stop();
    }
}

#[test]
fn stall_pauses_the_connection_then_resumes() {
    let h = start(faults(FaultConfig {
        stall: Duration::from_millis(400),
        stall_after: Some(10),
        ..FaultConfig::default()
    }));
    let mut c = ws(&h, "/ws/btcusdt@depth");
    for _ in 0..10 {
        recv(&mut c);
    }
    // Messages resume after the stall (no timing assertion: it is counted).
    let d = recv(&mut c);
    assert!(d["U"].as_u64().is_some());
    assert_eq!(h.stats().fault_stalls, 1);
    for _ in 0..50 {
        recv(&mut c);
    }
    assert_eq!(h.stats().fault_stalls, 1, "stall_after stalls once");
    h.stop();
}

#[test]
fn deflate_rejected_by_default() {
    let h = start(cfg(1000));
    let mut c = RawWs::connect(
        h.local_addr(),
        "/ws/btcusdt@depth",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
    );
    assert!(
        !c.response_head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions")
    );
    let (fin, rsv1, op, payload) = c.frame().unwrap();
    assert!(fin && !rsv1 && op == 1);
    serde_json::from_slice::<Value>(&payload).unwrap();
    assert_eq!(h.stats().deflate_rejected, 1);
    h.stop();
}

#[test]
fn deflate_accepted_sends_compressed_frames() {
    let h = start(SimConfig {
        deflate: DeflateMode::Accept,
        ..cfg(1000)
    });
    let mut c = RawWs::connect(
        h.local_addr(),
        "/ws/btcusdt@depth",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
    );
    assert!(
        c.response_head
            .contains("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"),
        "{}",
        c.response_head
    );
    let mut prev: Option<u64> = None;
    for _ in 0..20 {
        let (fin, rsv1, op, payload) = c.frame().unwrap();
        if op != 1 {
            continue;
        }
        assert!(fin && rsv1, "data frames are compressed");
        // Inflate as RFC 7692 says: append 00 00 ff ff, raw inflate; the
        // server resets its window per message, so a fresh inflater works.
        let mut data = payload.clone();
        data.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut text = Vec::new();
        let mut dec = flate2::read::DeflateDecoder::new(&data[..]);
        let _ = dec.read_to_end(&mut text);
        let v: Value = serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&text)));
        if let Some(p) = prev {
            assert_eq!(v["U"].as_u64().unwrap(), p + 1);
        }
        prev = Some(v["u"].as_u64().unwrap());
    }
    // A compressed client control message is inflated and answered.
    let mut comp = Vec::new();
    {
        use std::io::Write;
        let mut enc = flate2::write::DeflateEncoder::new(&mut comp, flate2::Compression::default());
        enc.write_all(br#"{"method":"LIST_SUBSCRIPTIONS","id":7}"#)
            .unwrap();
        enc.finish().unwrap();
    }
    // Send with RSV1 set (a final deflate block is valid per RFC 7692 §7.2.3.4).
    let mask = [1u8, 2, 3, 4];
    let mut f = vec![0xC1, 0x80 | comp.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(comp.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    std::io::Write::write_all(&mut c.tcp, &f).unwrap();
    let mut got = false;
    for _ in 0..10_000 {
        let (_, _, op, payload) = c.frame().unwrap();
        if op != 1 {
            continue;
        }
        let mut data = payload.clone();
        data.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut text = Vec::new();
        let _ = flate2::read::DeflateDecoder::new(&data[..]).read_to_end(&mut text);
        if text.starts_with(b"{\"result\"") {
            assert_eq!(text, br#"{"result":["btcusdt@depth"],"id":7}"#);
            got = true;
            break;
        }
    }
    assert!(got);
    assert_eq!(h.stats().deflate_negotiated, 1);
    h.stop();
}

#[test]
fn pings_are_sent_and_a_silent_client_is_closed() {
    let h = start(SimConfig {
        ping_interval: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(300),
        ..cfg(10)
    });
    // A client that answers: still open after several pings.
    let mut good = RawWs::connect(h.local_addr(), "/ws", "");
    let mut pings = 0;
    while pings < 5 {
        let (_, _, op, payload) = good.frame().unwrap();
        if op == 0x9 {
            pings += 1;
            good.send(0xA, &payload);
        }
        assert_ne!(op, 0x8, "an answering client is not closed");
    }
    // A client that never answers: a ping, then a close frame, then EOF.
    let mut bad = RawWs::connect(h.local_addr(), "/ws", "");
    let mut saw_ping = false;
    let code = loop {
        let (_, _, op, payload) = bad.frame().unwrap();
        match op {
            0x9 => saw_ping = true,
            0x8 => break u16::from_be_bytes([payload[0], payload[1]]),
            _ => {}
        }
    };
    assert!(saw_ping);
    assert_eq!(code, 1008);
    assert!(bad.frame().is_err(), "socket closed after the close frame");
    let s = h.stats();
    assert!(
        s.pings_sent >= 6 && s.pongs_received >= 5 && s.pong_timeouts >= 1,
        "{s:?}"
    );
    h.stop();
}

#[test]
fn connection_lifetime_closes_and_tungstenite_pongs_keep_alive() {
    let h = start(SimConfig {
        connection_lifetime: Duration::from_millis(600),
        ping_interval: Duration::from_millis(50),
        pong_timeout: Duration::from_millis(2000),
        ..cfg(200)
    });
    let mut c = ws(&h, "/ws/btcusdt@depth");
    let mut msgs = 0;
    let frame = loop {
        match c.read() {
            Ok(Message::Text(_)) => msgs += 1,
            Ok(Message::Close(f)) => break f,
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    };
    assert!(msgs > 0);
    assert_eq!(u16::from(frame.unwrap().code), 1000);
    let s = h.stats();
    assert_eq!(s.lifetime_closes, 1);
    assert_eq!(s.pong_timeouts, 0);
    h.stop();
}
