//! TLS (wss:// and https:// with the generated root), tape replay of the
//! real 2021 capture, rate honouring, and the CLI entry point.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rustls::pki_types::ServerName;
use serde_json::Value;
use talon_sim::SimConfig;

fn tls_stream(
    h: &talon_sim::SimHandle,
    name: &str,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            h.tls_root_der().unwrap(),
        ))
        .unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(h.local_addr()).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    let conn = rustls::ClientConnection::new(
        Arc::new(cfg),
        ServerName::try_from(name.to_string()).unwrap(),
    )
    .unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

#[test]
fn wss_and_https_with_the_generated_root() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("sim.pem");
    let h = start(SimConfig {
        tls: true,
        cert_out: Some(pem.clone()),
        ..cfg(2000)
    });
    assert!(h.ws_base().starts_with("wss://127.0.0.1:"));
    assert!(h.http_base().starts_with("https://"));
    assert_eq!(
        std::fs::read_to_string(&pem).unwrap(),
        h.tls_root_pem().unwrap()
    );

    // wss:// by DNS name.
    let s = tls_stream(&h, "localhost");
    let url = format!(
        "wss://localhost:{}/stream?streams=btcusdt@bookTicker",
        h.local_addr().port()
    );
    let (mut c, _) = tungstenite::client(url.as_str(), s).unwrap();
    for _ in 0..50 {
        let m = c.read().unwrap();
        if let tungstenite::Message::Text(t) = m {
            let v: Value = serde_json::from_str(&t).unwrap();
            assert_eq!(v["stream"], "btcusdt@bookTicker");
        }
    }
    c.send(tungstenite::Message::Text(
        r#"{"method":"LIST_SUBSCRIPTIONS","id":1}"#.into(),
    ))
    .unwrap();
    loop {
        if let tungstenite::Message::Text(t) = c.read().unwrap()
            && t.starts_with("{\"result\"")
        {
            assert_eq!(t.as_str(), r#"{"result":["btcusdt@bookTicker"],"id":1}"#);
            break;
        }
    }

    // https:// by IP address (the certificate has an IP SAN).
    let mut s = tls_stream(&h, "127.0.0.1");
    write!(s, "GET /api/v3/depth?symbol=ETHUSDT&limit=3 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let (st, _, body) = split_response(&raw);
    assert_eq!(st, 200);
    let d: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(d["bids"].as_array().unwrap().len(), 3);

    // A client that does not trust the root fails the handshake.
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(cfg), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let tcp = TcpStream::connect(h.local_addr()).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    assert!(
        s.write_all(b"GET /api/v3/ping HTTP/1.1\r\n\r\n")
            .and_then(|()| s.flush())
            .is_err()
    );

    // Plain connections still work on the TLS listener.
    assert_eq!(get_json(h.local_addr(), "/api/v3/ping").0, 200);
    assert!(h.stats().tls_connections >= 3);
    h.stop();
}

/// Parses `1633998512.063357` into microseconds without floats.
fn micros(s: &str) -> u64 {
    let (i, f) = s.split_once('.').unwrap();
    let f = format!("{f:0<6}");
    i.parse::<u64>().unwrap() * 1_000_000 + f[..6].parse::<u64>().unwrap()
}

#[test]
fn replay_of_the_real_capture_is_byte_exact() {
    let fx =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../feed/tests/fixtures/binance");
    let frames: Vec<String> = std::fs::read_to_string(fx.join("stream_session_2021-10-12.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let timeline =
        std::fs::read_to_string(fx.join("stream_session_2021-10-12.timeline.tsv")).unwrap();
    let mut tape = String::new();
    let mut t0 = None;
    for line in timeline.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let t = micros(cols[0]);
        let t0 = *t0.get_or_insert(t);
        // Compress the 30 s session into ~1 s.
        let t_ms = (t - t0) / 30_000;
        if cols[1] == "ws" {
            let n: usize = cols[2].rsplit(':').next().unwrap().parse().unwrap();
            let v: Value = serde_json::from_str(&frames[n - 1]).unwrap();
            let data = &frames[n - 1]
                [frames[n - 1].find("\"data\":").unwrap() + 7..frames[n - 1].len() - 1];
            tape.push_str(&format!(
                "{{\"t_ms\":{t_ms},\"stream\":{},\"data\":{data}}}\n",
                v["stream"]
            ));
        } else {
            let symbol = match cols[2] {
                "depth_snapshot.json" => "NKNUSDT".to_string(),
                f => f
                    .trim_start_matches("depth_snapshot_")
                    .trim_end_matches(".json")
                    .to_string(),
            };
            let body = std::fs::read_to_string(fx.join(cols[2])).unwrap();
            tape.push_str(&format!(
                "{{\"t_ms\":{t_ms},\"snapshot\":\"{symbol}\",\"data\":{}}}\n",
                body.trim()
            ));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tape.jsonl");
    std::fs::write(&path, tape).unwrap();
    let h = start(SimConfig {
        replay: Some(path),
        start_paused: true,
        ..cfg(1)
    });
    // Before the replay starts, the first snapshot is served.
    let (st, snap) = get_json(h.local_addr(), "/api/v3/depth?symbol=NKNUSDT");
    assert_eq!(st, 200);
    assert_eq!(snap["lastUpdateId"], 499869752);
    let mut streams: Vec<String> = frames
        .iter()
        .map(|f| {
            serde_json::from_str::<Value>(f).unwrap()["stream"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    streams.sort();
    streams.dedup();
    let mut c = ws(&h, &format!("/stream?streams={}", streams.join("/")));
    let mut raw = ws(&h, "/ws/nknusdt@bookTicker");
    h.resume();
    for want in &frames {
        assert_eq!(&recv_text(&mut c), want);
    }
    // Raw mode: a /ws subscriber gets the data member only, byte for byte.
    let first_bt = frames
        .iter()
        .find(|f| f.contains("\"nknusdt@bookTicker\""))
        .unwrap();
    let data = &first_bt[first_bt.find("\"data\":").unwrap() + 7..first_bt.len() - 1];
    assert_eq!(recv_text(&mut raw), data);
    assert_eq!(h.stats().replayed_messages, 265);
    // The finished source still honours pause/step (no hang).
    h.pause();
    h.step(1);
    assert!(h.book("NKNUSDT").is_none());
    h.stop();
}

#[test]
fn rate_is_roughly_honoured() {
    for rate in [1u64, 4000] {
        let h = start(cfg(rate));
        let mut c = ws(
            &h,
            "/stream?streams=btcusdt@bookTicker/btcusdt@trade/btcusdt@aggTrade/btcusdt@depth/ethusdt@bookTicker/ethusdt@trade/ethusdt@aggTrade/ethusdt@depth",
        );
        let t0 = Instant::now();
        let mut got = 0u64;
        while t0.elapsed() < Duration::from_millis(1200) {
            c.get_ref()
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            if let Ok(tungstenite::Message::Text(_)) = c.read() {
                got += 1;
            }
        }
        let secs = t0.elapsed().as_secs() + 1;
        let s = h.stats();
        // Never (much) faster than the rate; messages flow.
        assert!(
            s.generated_messages <= rate * (secs + 1) + 10,
            "rate {rate}: {s:?}"
        );
        assert!(got >= 1, "rate {rate}: nothing received");
        if rate > 1 {
            assert!(got > 50, "rate {rate}: only {got}");
        }
        h.stop();
    }
}

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    sim: talon_sim::SimArgs,
}

#[test]
fn cli_runs_for_its_duration() {
    use clap::Parser;
    let cli = Cli::parse_from([
        "talon-sim",
        "--duration-secs",
        "1",
        "--stats-interval-secs",
        "0",
        "--rate",
        "100",
    ]);
    talon_sim::run_cli(cli.sim).unwrap();
    let bad = Cli::parse_from(["talon-sim", "--rate", "0"]);
    assert!(talon_sim::run_cli(bad.sim).is_err());
}
