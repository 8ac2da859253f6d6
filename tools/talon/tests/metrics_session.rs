//! A paper session with the store projection and the metrics endpoint:
//! `GET /metrics` over HTTP returns the Prometheus exposition, the SQLite
//! store fills with the session's orders while it trades, and after a stop
//! the store holds every journal record and passes `integrity_check`.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use talon_cli::session::{Session, SessionConfig};
use talon_control::store::Store;

/// Polls `f` every 20 ms for at most `secs` seconds.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// Sends `request` and returns (status line, headers, body).
fn http(addr: SocketAddr, request: &str) -> (String, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_owned(), headers.to_owned(), body.to_owned())
}

/// Every sample line is `name{labels} value` with a `talon_` name whose
/// family was typed before; no series twice.
fn check_lines(text: &str) -> usize {
    let mut typed = HashSet::new();
    let mut series = HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.insert(rest.split(' ').next().unwrap().to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series_key, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<u64>().is_ok(), "{line}");
        let name = series_key.split('{').next().unwrap();
        assert!(name.starts_with("talon_"), "{line}");
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        let family = name
            .strip_suffix("_count")
            .or(name.strip_suffix("_sum"))
            .unwrap_or(name);
        assert!(
            typed.contains(name) || typed.contains(family),
            "untyped {line}"
        );
        assert!(series.insert(series_key.to_owned()), "duplicate {line}");
    }
    series.len()
}

#[test]
fn metrics_endpoint_and_store_projection_in_a_trading_session() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SessionConfig::from_toml(
        "[journal]\nsegment_size = 4194304\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
        dir.path(),
    )
    .unwrap()
    .polite();
    assert_eq!(cfg.store_path, dir.path().join("talon.db"));
    let s = Session::start(cfg).unwrap();
    let addr = s.metrics_addr().unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    assert_eq!(s.store_path(), dir.path().join("talon.db"));
    s.wait_ready(Duration::from_secs(20)).unwrap();
    assert!(
        eventually(20, || {
            let st = s.status();
            st.orders_sent > 0 && st.fills > 0
        }),
        "no fills: {}",
        s.status()
    );

    // The projection follows the journal while the session trades.
    assert!(
        eventually(20, || s.store_status().last_applied_seq() > 0),
        "store never applied (errors: {})",
        s.store_status().errors()
    );
    let reader = Store::open(s.store_path()).unwrap();
    assert!(eventually(20, || {
        reader
            .conn()
            .query_row("SELECT count(*) FROM orders", [], |r| r.get::<_, i64>(0))
            .unwrap()
            > 0
    }));
    drop(reader);

    let (status, headers, body) = http(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers.contains("Content-Type: text/plain; version=0.0.4"),
        "{headers}"
    );
    assert!(check_lines(&body) > 100);
    for needle in [
        "talon_engine_orders_sent_total ",
        "talon_feed_messages_total ",
        "talon_gateway_orders_total{outcome=\"sent\"} ",
        "talon_trading_state{state=\"active\"} 1",
        "talon_ring_fill{ring=\"md\"} ",
        "talon_store_lag_records ",
        "talon_engine_latency_ns{stage=\"tick_to_order\",quantile=\"0.99\"} ",
        "talon_gateway_latency_ns_count{stage=",
    ] {
        assert!(body.contains(needle), "missing {needle}");
    }
    let orders: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix("talon_engine_orders_sent_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(orders > 0);
    // The same text as the in-process renderer's families.
    assert!(talon_cli::metrics::render(&s).contains("# TYPE talon_store_lag_records gauge"));

    let (status, _, _) = http(addr, "GET /other HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _, _) = http(addr, "POST /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
    let (status, _, _) = http(addr, &huge);
    assert!(status.starts_with("HTTP/1.1 431"), "{status}");

    let base = s.journal_recovery().next_seq;
    let path = s.store_path().to_path_buf();
    let summary = s.stop().unwrap();
    assert!(summary.clean, "{summary}");
    // The endpoint is gone with the session.
    assert!(TcpStream::connect(addr).is_err());

    // After the stop the store holds every journal record: lag 0.
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.last_applied_seq(),
        base + summary.journal_records - 1,
        "store lag after stop"
    );
    let orders: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .unwrap();
    assert!(orders > 0);
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn metrics_listen_must_be_loopback() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        "0.0.0.0:9100",
        "10.1.2.3:9100",
        "localhost:9100",
        "nonsense",
    ] {
        let toml = format!("[metrics]\nlisten = \"{bad}\"\n");
        let e = SessionConfig::from_toml(&toml, dir.path()).unwrap_err();
        assert!(e.to_string().contains("metrics.listen"), "{bad}: {e}");
    }
    let ok = SessionConfig::from_toml("[metrics]\nlisten = \"[::1]:9100\"\n", dir.path()).unwrap();
    assert_eq!(ok.metrics_listen, Some("[::1]:9100".parse().unwrap()));
    let off = SessionConfig::from_toml("", dir.path()).unwrap();
    assert_eq!(off.metrics_listen, None);
    let custom = SessionConfig::from_toml("[store]\npath = \"/tmp/x.db\"\n", dir.path()).unwrap();
    assert_eq!(custom.store_path, std::path::PathBuf::from("/tmp/x.db"));
}

#[test]
fn a_store_that_cannot_open_is_counted_and_the_session_still_trades() {
    let dir = tempfile::tempdir().unwrap();
    // The store path is a directory: every open fails.
    let bad = dir.path().join("not-a-file");
    std::fs::create_dir(&bad).unwrap();
    let toml = format!(
        "[journal]\nsegment_size = 4194304\n[store]\npath = {:?}\n",
        bad.display().to_string()
    );
    let s = Session::start(
        SessionConfig::from_toml(&toml, dir.path())
            .unwrap()
            .polite(),
    )
    .unwrap();
    assert!(s.metrics_addr().is_none());
    s.wait_ready(Duration::from_secs(20)).unwrap();
    assert!(eventually(20, || s.status().orders_sent > 0));
    assert!(eventually(20, || s.store_status().errors() > 0));
    assert!(!s.store_status().is_open());
    assert_eq!(s.store_status().last_applied_seq(), 0);
    assert!(s.store_lag() > 0);
    let text = talon_cli::metrics::render(&s);
    let errors: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("talon_store_errors_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(errors > 0);
    assert!(check_lines(&text) > 100);
    let summary = s.stop().unwrap();
    assert!(summary.clean, "{summary}");
}
