//! Transport tests against tiny local servers: the WebSocket client
//! (tungstenite server in a thread, plain and TLS with an rcgen certificate)
//! and the HTTP GET client over TLS. Loopback only; every wait is bounded.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use talon_core::clock::{MonotonicClock, NanoClock, Nanos};
use talon_feed::error::TransportError;
use talon_feed::http::{HttpGet, HttpPoll, HttpTarget};
use talon_feed::tls::{client_config, server_name};
use talon_feed::ws::{WsClient, WsConfig, WsState, WsTarget};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::{Message, WebSocket};

const LIMIT: Duration = Duration::from_secs(15);

fn ws_cfg() -> WsConfig {
    WsConfig {
        read_buffer: 256 << 10,
        max_message: 200 << 10,
        ping_interval: Duration::ZERO,
        dead_after: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(10),
        ..WsConfig::default()
    }
}

struct TestCert {
    der: Vec<u8>,
    server: Arc<rustls::ServerConfig>,
}

fn test_cert() -> TestCert {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let der = ck.cert.der().to_vec();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der.clone().into()], key)
    .unwrap();
    TestCert {
        der,
        server: Arc::new(server),
    }
}

type TlsServerStream = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// Accepts one connection (optionally TLS), upgrades it and runs `script`.
fn ws_server<F>(tls: Option<Arc<rustls::ServerConfig>>, script: F) -> (SocketAddr, JoinHandle<()>)
where
    F: FnOnce(&mut dyn FnMut(Option<Message>) -> Option<Message>) + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        s.set_nodelay(true).unwrap();
        match tls {
            None => {
                let mut ws = tungstenite::accept(s).unwrap();
                script(&mut |m| exchange(&mut ws, m));
            }
            Some(cfg) => {
                let conn = rustls::ServerConnection::new(cfg).unwrap();
                let stream: TlsServerStream = rustls::StreamOwned::new(conn, s);
                let mut ws = tungstenite::accept(stream).unwrap();
                script(&mut |m| exchange(&mut ws, m));
            }
        }
    });
    (addr, h)
}

/// `Some(m)`: send m (returns None). `None`: read the next message.
fn exchange<S: Read + Write>(ws: &mut WebSocket<S>, m: Option<Message>) -> Option<Message> {
    match m {
        Some(m) => {
            ws.send(m).unwrap();
            None
        }
        None => ws.read().ok(),
    }
}

/// Polls `c` until `done(&messages)` or an error; returns messages and the
/// error that ended it (if any).
fn run_client(
    c: &mut WsClient,
    mut on_each: impl FnMut(&mut WsClient, &[Vec<u8>]),
    done: impl Fn(&[Vec<u8>]) -> bool,
) -> (Vec<Vec<u8>>, Option<TransportError>, bool) {
    let clock = MonotonicClock::new();
    let deadline = Instant::now() + LIMIT;
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut opened = false;
    while Instant::now() < deadline && !done(&got) {
        match c.poll(&clock, 64, |m, stamp| {
            assert!(stamp > Nanos::ZERO);
            got.push(m.to_vec());
        }) {
            Ok(p) => {
                opened |= p.opened;
                on_each(c, &got);
                if p.work() == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            Err(e) => return (got, Some(e), opened),
        }
    }
    (got, None, opened)
}

fn target(addr: SocketAddr, path: &str) -> WsTarget {
    WsTarget {
        addr,
        url: format!("ws://{addr}{path}"),
        tls: None,
    }
}

#[test]
fn feed_ws_messages_fragments_pings_and_close() {
    let (addr, server) = ws_server(None, |io| {
        for i in 0..10 {
            io(Some(Message::text(format!("m{i}"))));
        }
        io(Some(Message::binary(vec![b'B'; 100_000])));
        io(Some(Message::Frame(Frame::message(
            &b"frag"[..],
            OpCode::Data(Data::Text),
            false,
        ))));
        io(Some(Message::Frame(Frame::message(
            &b"-men"[..],
            OpCode::Data(Data::Continue),
            false,
        ))));
        io(Some(Message::Frame(Frame::message(
            &b"ted"[..],
            OpCode::Data(Data::Continue),
            true,
        ))));
        io(Some(Message::Ping(b"hello".to_vec().into())));
        // Expect our pong, our text and our own ping, in any order.
        let (mut pong, mut text, mut ping) = (false, false, false);
        while !(pong && text && ping) {
            match io(None).expect("client message") {
                Message::Pong(p) => pong |= &p[..] == b"hello",
                Message::Text(t) => text |= t.as_str() == "client-hello",
                Message::Ping(_) => ping = true,
                other => panic!("unexpected {other:?}"),
            }
        }
        io(Some(Message::text("last")));
        io(Some(Message::Close(None)));
        // Read until the client's close echo / EOF.
        while io(None).is_some() {}
    });
    let mut c = WsClient::new(ws_cfg());
    let clock = MonotonicClock::new();
    c.connect(target(addr, "/stream?streams=a@trade"), clock.now())
        .unwrap();
    assert_eq!(c.state(), WsState::Connecting);
    let mut sent = false;
    let (got, err, opened) = run_client(
        &mut c,
        |c, got| {
            if !sent && !got.is_empty() {
                c.send_text(b"client-hello").unwrap();
                c.send_ping(Nanos(1)).unwrap();
                sent = true;
            }
        },
        |_| false,
    );
    assert!(opened);
    assert_eq!(err, Some(TransportError::Closed));
    assert_eq!(c.state(), WsState::Idle);
    let mut want: Vec<Vec<u8>> = (0..10).map(|i| format!("m{i}").into_bytes()).collect();
    want.push(vec![b'B'; 100_000]);
    want.push(b"frag-mented".to_vec());
    want.push(b"last".to_vec());
    assert_eq!(got, want);
    server.join().unwrap();
}

#[test]
fn feed_ws_sends_periodic_pings() {
    let (addr, server) = ws_server(None, |io| {
        let mut pings = 0;
        while pings < 2 {
            if let Message::Ping(_) = io(None).expect("ping") {
                pings += 1;
            }
        }
        io(Some(Message::text("got pings")));
        while io(None).is_some() {}
    });
    let mut c = WsClient::new(WsConfig {
        ping_interval: Duration::from_millis(30),
        ..ws_cfg()
    });
    c.connect(target(addr, "/ws"), MonotonicClock::new().now())
        .unwrap();
    let (got, err, _) = run_client(&mut c, |_, _| {}, |g| !g.is_empty());
    assert_eq!(err, None);
    assert_eq!(got, vec![b"got pings".to_vec()]);
    c.close();
    assert_eq!(c.state(), WsState::Idle);
    server.join().unwrap();
}

#[test]
fn feed_ws_silent_peer_is_dead() {
    let (addr, server) = ws_server(None, |io| {
        // Say nothing; wait for the client to give up (EOF ends the read).
        while io(None).is_some() {}
    });
    let mut c = WsClient::new(WsConfig {
        dead_after: Duration::from_millis(200),
        ..ws_cfg()
    });
    c.connect(target(addr, "/ws"), MonotonicClock::new().now())
        .unwrap();
    let (_, err, opened) = run_client(&mut c, |_, _| {}, |_| false);
    assert!(opened);
    assert_eq!(err, Some(TransportError::Dead));
    server.join().unwrap();
}

#[test]
fn feed_ws_refused_upgrade_and_refused_connect() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).unwrap();
        s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
    });
    let mut c = WsClient::new(ws_cfg());
    c.connect(target(addr, "/nope"), MonotonicClock::new().now())
        .unwrap();
    let (_, err, opened) = run_client(&mut c, |_, _| {}, |_| false);
    assert!(!opened);
    assert_eq!(err, Some(TransportError::Handshake));
    server.join().unwrap();

    // The client is reusable after a failed upgrade; a closed port refuses.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let r = c.connect(target(closed, "/ws"), MonotonicClock::new().now());
    let err = match r {
        Err(e) => Some(e),
        Ok(()) => run_client(&mut c, |_, _| {}, |_| false).1,
    };
    assert!(matches!(err, Some(TransportError::Connect(_))), "{err:?}");
}

#[test]
fn feed_ws_over_tls_with_a_private_root() {
    let cert = test_cert();
    let (addr, server) = ws_server(Some(Arc::clone(&cert.server)), |io| {
        for i in 0..3 {
            io(Some(Message::text(format!("{{\"n\":{i}}}"))));
        }
        io(Some(Message::Ping(b"tls".to_vec().into())));
        loop {
            if let Message::Pong(p) = io(None).expect("pong") {
                assert_eq!(&p[..], b"tls");
                break;
            }
        }
        io(Some(Message::text(
            vec![b'x'; 50_000]
                .iter()
                .map(|&b| b as char)
                .collect::<String>(),
        )));
        io(Some(Message::Close(None)));
        while io(None).is_some() {}
    });
    let tls = client_config(false, Some(&cert.der)).unwrap();
    let mut c = WsClient::new(ws_cfg());
    let t = WsTarget {
        addr,
        url: format!("wss://localhost:{}/ws", addr.port()),
        tls: Some((tls, server_name("localhost").unwrap())),
    };
    c.connect(t, MonotonicClock::new().now()).unwrap();
    let (got, err, opened) = run_client(&mut c, |_, _| {}, |_| false);
    assert!(opened);
    assert_eq!(err, Some(TransportError::Closed));
    assert_eq!(got.len(), 4);
    assert_eq!(got[0], b"{\"n\":0}");
    assert_eq!(got[3], vec![b'x'; 50_000]);
    server.join().unwrap();
}

#[test]
fn feed_ws_tls_refuses_an_untrusted_certificate() {
    let cert = test_cert();
    let other = test_cert();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server_cfg = Arc::clone(&cert.server);
    let server = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        let conn = rustls::ServerConnection::new(server_cfg).unwrap();
        let mut stream = rustls::StreamOwned::new(conn, s);
        let mut buf = [0u8; 16];
        let _ = stream.read(&mut buf); // fails: the client aborts the handshake
    });
    let tls = client_config(false, Some(&other.der)).unwrap();
    let mut c = WsClient::new(ws_cfg());
    let t = WsTarget {
        addr,
        url: format!("wss://localhost:{}/ws", addr.port()),
        tls: Some((tls, server_name("localhost").unwrap())),
    };
    c.connect(t, MonotonicClock::new().now()).unwrap();
    let (_, err, opened) = run_client(&mut c, |_, _| {}, |_| false);
    assert!(!opened);
    assert_eq!(err, Some(TransportError::Tls));
    server.join().unwrap();
}

#[test]
fn feed_https_get_with_a_private_root() {
    let cert = test_cert();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server_cfg = Arc::clone(&cert.server);
    let body = vec![b'{'; 300_000];
    let body2 = body.clone();
    let server = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        let conn = rustls::ServerConnection::new(server_cfg).unwrap();
        let mut stream = rustls::StreamOwned::new(conn, s);
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0);
            req.extend_from_slice(&buf[..n]);
        }
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body2.len());
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body2).unwrap();
        stream.conn.send_close_notify();
        stream.flush().unwrap();
        String::from_utf8(req).unwrap()
    });
    let clock = MonotonicClock::new();
    let target = HttpTarget {
        addr,
        host: format!("localhost:{}", addr.port()),
        tls: Some((
            client_config(false, Some(&cert.der)).unwrap(),
            server_name("localhost").unwrap(),
        )),
    };
    let mut g = HttpGet::new(target, 1 << 20, Duration::from_secs(10));
    g.start("/api/v3/depth?symbol=ETHUSDT&limit=5000", clock.now())
        .unwrap();
    let deadline = Instant::now() + LIMIT;
    loop {
        match g.poll(clock.now()).unwrap() {
            HttpPoll::Done => break,
            HttpPoll::Pending => {
                assert!(Instant::now() < deadline, "timed out");
                std::thread::sleep(Duration::from_micros(200));
            }
            HttpPoll::Idle => panic!("idle"),
        }
    }
    assert_eq!(g.status(), 200);
    assert_eq!(g.body(), &body[..]);
    let req = server.join().unwrap();
    assert!(req.starts_with("GET /api/v3/depth?symbol=ETHUSDT&limit=5000 HTTP/1.1\r\n"));
}

fn poll_until_opened(c: &mut WsClient, clock: &MonotonicClock) -> Result<(), TransportError> {
    let deadline = Instant::now() + LIMIT;
    loop {
        match c.poll(clock, 16, |_, _| {}) {
            Ok(p) if p.opened => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
        assert!(Instant::now() < deadline, "stuck in {:?}", c.state());
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// F2: a handshake that times out (or is abandoned by `connect`/`close`)
/// must hand the read buffer back: the next attempt against a healthy
/// server opens at once (it failed with "handshake response larger than
/// the buffer" when the buffer went down with the handshake).
#[test]
fn feed_ws_handshake_timeout_keeps_the_read_buffer() {
    let clock = MonotonicClock::new();
    let mut c = WsClient::new(WsConfig {
        connect_timeout: Duration::from_millis(200),
        ..ws_cfg()
    });
    // Silent servers: accept, never answer the upgrade.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let saddr = silent.local_addr().unwrap();
    let hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        for _ in 0..3 {
            match silent.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_secs(3));
    });
    // 1. Timeout while handshaking.
    c.connect(target(saddr, "/ws"), clock.now()).unwrap();
    assert_eq!(
        poll_until_opened(&mut c, &clock),
        Err(TransportError::Timeout)
    );
    let (gaddr, srv) = ws_server(None, |x| {
        x(Some(Message::text("hi")));
    });
    c.connect(target(gaddr, "/ws"), clock.now()).unwrap();
    assert_eq!(poll_until_opened(&mut c, &clock), Ok(()));
    c.close();
    srv.join().unwrap();
    // 2. connect() and close() while handshaking.
    for abandon_by_connect in [true, false] {
        c.connect(target(saddr, "/ws"), clock.now()).unwrap();
        let deadline = Instant::now() + LIMIT;
        while c.state() != WsState::Handshaking {
            c.poll(&clock, 16, |_, _| {}).unwrap();
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(1));
        }
        if !abandon_by_connect {
            c.close();
        }
        let (gaddr, srv) = ws_server(None, |x| {
            x(Some(Message::text("hi")));
        });
        c.connect(target(gaddr, "/ws"), clock.now()).unwrap();
        assert_eq!(poll_until_opened(&mut c, &clock), Ok(()));
        c.close();
        srv.join().unwrap();
    }
    drop(hold);
}
