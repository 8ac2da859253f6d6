//! The control socket of a running paper session: status, mode 0600, halt
//! (refused without the confirmation; when accepted, the flag is set, the
//! engine halts and no new order reaches the simulator), resume, and bad
//! input (garbage, binary, a huge line, unknown command, half-closed
//! sockets) answered with JSON errors while the server keeps serving.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use talon_cli::ctl::{self, CtlServerError, SOCKET_NAME};
use talon_cli::session::{Session, SessionConfig, SessionError};
use talon_core::engine::risk::TradingState;
use talon_gateway::counters::GatewayCounter;

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

fn call(path: &Path, req: Value) -> Value {
    ctl::request(path, &req, Duration::from_secs(10)).unwrap()
}

/// Writes raw bytes on one connection and reads one response line.
fn raw(stream: &mut BufReader<UnixStream>, bytes: &[u8]) -> Value {
    stream.get_mut().write_all(bytes).unwrap();
    let mut line = String::new();
    stream.read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

fn connect(path: &Path) -> BufReader<UnixStream> {
    let s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    BufReader::new(s)
}

#[test]
fn the_control_socket_serves_status_halts_resumes_and_survives_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SessionConfig::from_toml("[journal]\nsegment_size = 4194304\n", dir.path())
        .unwrap()
        .polite();
    let s = Session::start(cfg.clone()).unwrap();
    let sock = dir.path().join(SOCKET_NAME);
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");

    // A second server on the live socket is refused.
    let second = ctl::CtlServer::start(&sock, FakeNever);
    assert!(
        matches!(second, Err(CtlServerError::InUse(_))),
        "{second:?}"
    );

    s.wait_ready(Duration::from_secs(20)).unwrap();
    assert!(
        eventually(20, || s.status().orders_sent > 0),
        "no orders: {}",
        s.status()
    );

    // status
    let st = call(&sock, json!({"cmd": "status", "id": 1}));
    assert_eq!(st["ok"], true, "{st}");
    assert_eq!(st["id"], 1);
    let r = &st["result"];
    assert!(
        ["healthy", "degraded"].contains(&r["health"].as_str().unwrap()),
        "{r}"
    );
    assert_eq!(r["gateway"]["ready"], true, "{r}");
    assert_eq!(r["feed"]["connected"], true, "{r}");
    assert!(r["feed"]["instruments"]["BTCUSDT"].is_string(), "{r}");
    assert_eq!(r["rings"].as_array().unwrap().len(), 4, "{r}");
    assert!(r["journal"]["position"].as_u64().unwrap() > 0, "{r}");
    for cmd in ["positions", "orders", "metrics"] {
        let v = call(&sock, json!({"cmd": cmd}));
        assert_eq!(v["ok"], true, "{cmd}: {v}");
    }
    let m = call(&sock, json!({"cmd": "metrics"}));
    assert!(
        m["result"]["engine"]["orders_sent"].as_u64().unwrap() > 0,
        "{m}"
    );
    // The same Prometheus text as the HTTP endpoint, and the store's lag.
    let prom = m["result"]["prometheus"].as_str().unwrap_or_default();
    assert!(prom.contains("# TYPE talon_"), "{m}");
    assert!(m["result"]["store_lag"].is_u64(), "{m}");
    let o = call(&sock, json!({"cmd": "orders"}));
    assert!(o["result"]["orders_sent"].as_u64().unwrap() > 0, "{o}");

    // Bad input on one connection: each line answered, the connection kept.
    let mut c = connect(&sock);
    let v = raw(&mut c, b"this is not json\n");
    assert_eq!(v["error"]["code"], "bad_json", "{v}");
    let v = raw(&mut c, b"\x00\xff\xfe\x80garbage\n");
    assert_eq!(v["error"]["code"], "bad_json", "{v}");
    let v = raw(&mut c, b"{\"cmd\":\"explode\"}\n");
    assert_eq!(v["error"]["code"], "unknown_command", "{v}");
    assert_eq!(v["error"]["field"], "cmd", "{v}");
    let v = raw(&mut c, b"{\"cmd\":[1]}\n");
    assert_eq!(v["error"]["field"], "cmd", "{v}");
    let v = raw(&mut c, b"{\"cmd\":\"status\"}\n");
    assert_eq!(v["ok"], true, "{v}");
    // A huge line: an error, then the connection is closed.
    let mut big = vec![b'a'; 200 * 1024];
    big.push(b'\n');
    let v = raw(&mut c, &big);
    assert_eq!(v["error"]["code"], "line_too_long", "{v}");
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    // Half-closed and abandoned connections do not stall the server.
    let half = UnixStream::connect(&sock).unwrap();
    half.shutdown(std::net::Shutdown::Write).unwrap();
    let _partial = {
        let mut p = UnixStream::connect(&sock).unwrap();
        p.write_all(b"{\"cmd\":\"sta").unwrap();
        p
    };
    assert_eq!(call(&sock, json!({"cmd": "status"}))["ok"], true);

    // halt with a bad confirmation: refused, naming the field; nothing halts.
    let v = call(
        &sock,
        json!({"cmd": "halt", "reason": "integration test halt", "confirm": "yes please"}),
    );
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["error"]["field"], "confirm", "{v}");
    let v = call(
        &sock,
        json!({"cmd": "halt", "reason": "short", "confirm": "HALT TRADING NOW"}),
    );
    assert_eq!(v["error"]["field"], "reason", "{v}");
    assert!(!s.halt_flag().is_halted());

    // halt: acknowledged with the flag already set.
    let v = call(
        &sock,
        json!({"cmd": "halt", "reason": "integration test halt",
               "confirm": "HALT TRADING NOW", "idempotency_key": "h1"}),
    );
    assert_eq!(v["ok"], true, "{v}");
    assert!(s.halt_flag().is_halted());
    assert_eq!(v["result"]["halted"], true, "{v}");
    assert!(
        eventually(10, || s.engine().summary().state == TradingState::Halted),
        "{}",
        s.status()
    );
    let st = call(&sock, json!({"cmd": "status"}));
    assert_eq!(st["result"]["trading_state"], "HALTED", "{st}");
    assert_eq!(
        st["result"]["halt"]["operator"]["reason"], "integration test halt",
        "{st}"
    );
    assert!(
        st["result"]["halt"]["operator"]["at_unix_ns"]
            .as_u64()
            .unwrap()
            > 0
    );
    // No new order reaches the simulator after the acknowledgement (the
    // engine's cancels may still go out; new orders may not).
    // (A short settle lets a request that was already on the wire before
    // the flag was set arrive; the gateway's check-then-write is the only
    // window, see the ctl module docs.)
    let sim = s.sim().unwrap();
    let gw_sent = || s.gateway_counters().get(GatewayCounter::OrdersSent);
    std::thread::sleep(Duration::from_millis(100));
    let after_ack = sim.orders_received().len();
    let gw_after_ack = gw_sent();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sim.orders_received().len(), after_ack);
    assert_eq!(gw_sent(), gw_after_ack);
    let sent = s.engine().summary().orders_sent;
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.engine().summary().orders_sent, sent);
    // A retry with the same idempotency key returns the same result.
    let again = call(
        &sock,
        json!({"cmd": "halt", "reason": "integration test halt",
               "confirm": "HALT TRADING NOW", "idempotency_key": "h1"}),
    );
    assert_eq!(again["result"], v["result"]);

    // resume: trading again, flag cleared.
    let v = call(&sock, json!({"cmd": "resume"}));
    assert_eq!(v["ok"], true, "{v}");
    assert!(
        eventually(10, || !s.halt_flag().is_halted()
            && s.engine().summary().state == TradingState::Active),
        "{}",
        s.status()
    );
    assert!(
        eventually(20, || s.sim().unwrap().orders_received().len() > after_ack),
        "no new order after resume"
    );
    let st = call(&sock, json!({"cmd": "status"}));
    assert!(st["result"]["halt"]["operator"].is_null(), "{st}");

    // cancel-all for one symbol and for all; an unknown symbol is refused.
    let v = call(&sock, json!({"cmd": "cancel-all", "symbol": "BTCUSDT"}));
    assert_eq!(v["ok"], true, "{v}");
    let v = call(&sock, json!({"cmd": "cancel-all", "symbol": "NOPE"}));
    assert_eq!(v["error"]["field"], "symbol", "{v}");
    let v = call(&sock, json!({"cmd": "cancel-all"}));
    assert_eq!(v["ok"], true, "{v}");

    let summary = s.stop().unwrap();
    assert!(summary.clean, "{summary}");
    assert!(!sock.exists(), "the socket file is removed at stop");
}

#[test]
fn a_stale_socket_file_is_replaced_and_a_non_socket_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join(SOCKET_NAME);
    // A stale socket: bound, then its listener dropped (file left behind).
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let server = ctl::CtlServer::start(&sock, FakeNever).unwrap();
    assert_eq!(
        std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let v = call(&sock, json!({"cmd": "orders"}));
    assert_eq!(v["result"]["open_orders"], 0, "{v}");
    server.stop();
    assert!(!sock.exists());
    std::fs::write(&sock, b"not a socket").unwrap();
    assert!(matches!(
        ctl::CtlServer::start(&sock, FakeNever),
        Err(CtlServerError::NotASocket(_))
    ));
    // And a session refuses to start on it, saying why.
    let cfg = SessionConfig::paper(dir.path()).unwrap().polite();
    assert!(matches!(Session::start(cfg), Err(SessionError::Ctl(_))));
}

#[test]
fn connections_beyond_the_limit_are_answered_busy() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join(SOCKET_NAME);
    let server = ctl::CtlServer::start(&sock, FakeNever).unwrap();
    // Hold the maximum number of connections open (each proven served).
    let mut held = Vec::new();
    for _ in 0..ctl::MAX_CONNECTIONS {
        let mut c = connect(&sock);
        assert_eq!(raw(&mut c, b"{\"cmd\":\"orders\"}\n")["ok"], true);
        held.push(c);
    }
    let mut extra = connect(&sock);
    let mut line = String::new();
    extra.read_line(&mut line).unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["error"]["code"], "busy", "{v}");
    drop(held);
    assert!(eventually(10, || {
        ctl::request(&sock, &json!({"cmd": "orders"}), Duration::from_secs(5))
            .is_ok_and(|v| v["ok"] == true)
    }));
    server.stop();
}

/// A backend with no session behind it (socket-level tests).
struct FakeNever;

impl ctl::protocol::Backend for FakeNever {
    fn halt_flag(&self) -> &talon_core::halt::HaltFlag {
        static FLAG: std::sync::OnceLock<talon_core::halt::HaltFlag> = std::sync::OnceLock::new();
        FLAG.get_or_init(talon_core::halt::HaltFlag::new)
    }
    fn send_control(&self, _: talon_core::event::ControlCommand) -> bool {
        false
    }
    fn instrument(&self, _: &str) -> Option<talon_core::instrument::InstrumentId> {
        None
    }
    fn status(&self) -> ctl::protocol::StatusParts {
        ctl::protocol::StatusParts {
            trading_state: "halted".into(),
            engine_halt_reason: None,
            engine_ready: false,
            feed_connected: false,
            market_messages: 0,
            instruments: vec![],
            gateway_ready: false,
            open_orders: 0,
            journal_dir: String::new(),
            journal_records: 0,
            journal_start_seq: 0,
            rings: vec![],
            uptime_s: 0,
        }
    }
    fn positions(&self) -> Value {
        json!({"positions": []})
    }
    fn orders(&self) -> Value {
        json!({"open_orders": 0})
    }
    fn metrics(&self) -> Value {
        json!({})
    }
}
