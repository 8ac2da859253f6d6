//! `talon decode` end to end: the built binary on real fixture captures.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../feed/tests/fixtures/binance")
        .join(name)
}

fn talon() -> Command {
    Command::new(env!("CARGO_BIN_EXE_talon"))
}

fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn book_ticker_capture_decodes_cleanly() {
    let out = talon()
        .args(["decode"])
        .arg(fixture("bookTicker.jsonl"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = lines(&out.stdout);
    assert_eq!(v.len(), 84);
    assert!(v.iter().all(|l| l["kind"] == "book_ticker"));
    // The first frame of the capture, exactly.
    assert_eq!(
        v[0],
        serde_json::json!({
            "kind": "book_ticker",
            "stream": "nknusdt@bookTicker",
            "symbol": "NKNUSDT",
            "update_id": 499869768u64,
            "bid_price": "0.3521",
            "bid_qty": "672",
            "ask_price": "0.3526",
            "ask_qty": "3199",
        })
    );
}

#[test]
fn session_capture_reports_the_klines_and_exits_non_zero() {
    let out = talon()
        .arg("decode")
        .arg(fixture("stream_session_2021-10-12.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v = lines(&out.stdout);
    assert_eq!(v.len(), 265);
    let errors: Vec<&Value> = v.iter().filter(|l| l.get("error").is_some()).collect();
    assert_eq!(errors.len(), 2);
    for e in &errors {
        assert_eq!(e["error"], "unknown_event");
        let n = e["line"].as_u64().unwrap() as usize;
        // The line number points at the kline frame.
        let text = std::fs::read_to_string(fixture("stream_session_2021-10-12.jsonl")).unwrap();
        assert!(text.lines().nth(n - 1).unwrap().contains("@kline_1m"));
    }
    let depth = v.iter().find(|l| l["kind"] == "depth_update").unwrap();
    assert_eq!(depth["symbol"], "NKNUSDT");
    assert_eq!(depth["first_update_id"], 499_869_750u64);
    assert_eq!(depth["last_update_id"], 499_869_752u64);
    assert_eq!(depth["bids"][0], serde_json::json!(["0.3513", "6195"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2 of 265 messages failed (unknown_event 2)"),
        "{stderr}"
    );
}

#[test]
fn reads_stdin_with_dash() {
    let mut child = talon()
        .args(["decode", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let trade = std::fs::read(fixture("trade.json")).unwrap();
    stdin.write_all(&trade).unwrap();
    stdin.write_all(b"\n").unwrap();
    stdin
        .write_all(&std::fs::read(fixture("depth_snapshot.json")).unwrap())
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v = lines(&out.stdout);
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["kind"], "trade");
    assert_eq!(v[0]["trade_id"], 6_720_857_582u64);
    assert_eq!(v[0]["price"], "83034.29");
    assert_eq!(v[0]["buyer_is_maker"], true);
    assert_eq!(v[1]["kind"], "depth_snapshot");
    assert_eq!(v[1]["last_update_id"], 499_869_752u64);
    assert_eq!(v[1]["bids"].as_array().unwrap().len(), 609);
    assert!(v[1].get("symbol").is_none());
}
