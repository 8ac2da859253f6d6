//! `talon sim` and `talon watch`, run as an operator would.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn sim_prints_its_address_and_serves_rest_until_its_duration_ends() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_talon"))
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--rate",
            "500",
            "--duration-secs",
            "3",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("talon sim listening on ws://127.0.0.1:"),
        "{first}"
    );
    let http = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap();
    let addr = http.trim_start_matches("http://");

    // A plain HTTP/1.1 request to the REST API, as any Binance client would send.
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /api/v3/ping HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("{}"), "{response}");

    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(child.wait().unwrap().success());
    assert!(
        rest.iter().any(|l| l.starts_with("talon sim stopped")),
        "{rest:?}"
    );
}

#[test]
fn watch_shows_synced_books_and_top_of_book_from_the_embedded_simulator() {
    let out = Command::new(env!("CARGO_BIN_EXE_talon"))
        .args([
            "watch",
            "--symbols",
            "BTCUSDT,ETHUSDT",
            "--duration",
            "4",
            "--refresh-ms",
            "1000",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // Not a terminal: plain frames, no escape codes.
    assert!(!text.contains('\x1b'), "{text}");
    let last_frame = text.rsplit("talon watch").next().unwrap();
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        let row = last_frame
            .lines()
            .find(|l| l.starts_with(symbol))
            .unwrap_or_else(|| panic!("{symbol} row in {last_frame}"));
        assert!(row.contains("Synced"), "{row}");
        assert!(row.contains("fresh"), "{row}");
        assert!(!row.contains(" - "), "top of book filled: {row}");
    }
    assert!(last_frame.contains("messages="), "{last_frame}");
}

#[test]
fn watch_names_a_bad_symbol() {
    let out = Command::new(env!("CARGO_BIN_EXE_talon"))
        .args(["watch", "--symbols", "btc-usdt", "--duration", "1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("btc-usdt"), "{err}");
}
