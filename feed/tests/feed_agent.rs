//! FeedAgent against scripted local servers (a tungstenite WebSocket server
//! and a one-shot HTTP snapshot server), driven by an AgentInvoker on the
//! test thread: routing, stamps, depth sync with a REST snapshot, decode
//! errors counted, stale/fresh events, reconnect and resync. Loopback only,
//! bounded waits.
#![allow(clippy::unwrap_used, clippy::result_large_err)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use talon_core::agent::{AgentInvoker, Runtime};
use talon_core::clock::MonotonicClock;
use talon_core::event::{MarketData, MarketEvent};
use talon_core::instrument::{Filters, InstrumentSpec, InstrumentTable, Symbol};
use talon_core::num::{Price, Qty};
use talon_core::ring::{MdConsumer, ring};
use talon_feed::agent::FeedAgent;
use talon_feed::book::SyncState;
use talon_feed::config::{FeedConfig, Venue};
use talon_feed::counters::FeedCounter;
use tungstenite::Message;

const LIMIT: Duration = Duration::from_secs(15);

fn table() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    for s in ["BTCUSDT", "ETHUSDT"] {
        t.insert(InstrumentSpec {
            symbol: Symbol::new(s).unwrap(),
            base_asset: Symbol::new(&s[..3]).unwrap(),
            quote_asset: Symbol::new("USDT").unwrap(),
            filters: Filters::default(),
        })
        .unwrap();
    }
    t
}

/// Answers every HTTP request with the same snapshot body, until `stop`.
fn snapshot_server(body: &'static str, stop: Arc<AtomicBool>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(LIMIT)).unwrap();
                    let mut r = BufReader::new(s.try_clone().unwrap());
                    let mut line = String::new();
                    while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                        line.clear();
                    }
                    let mut s = s;
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
                        body.len(),
                        body
                    );
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    format!("http://{addr}")
}

fn bt(sym: &str, u: u64, bid: &str) -> String {
    format!(
        r#"{{"stream":"{}@bookTicker","data":{{"u":{u},"s":"{sym}","b":"{bid}","B":"1.5","a":"101.00","A":"2"}}}}"#,
        sym.to_lowercase()
    )
}

fn depth(sym: &str, first: u64, last: u64, bids: &str) -> String {
    format!(
        r#"{{"stream":"{}@depth@100ms","data":{{"e":"depthUpdate","E":1,"s":"{sym}","U":{first},"u":{last},"b":{bids},"a":[]}}}}"#,
        sym.to_lowercase()
    )
}

fn drive_until(
    inv: &mut AgentInvoker<FeedAgent>,
    rx: &mut MdConsumer,
    seen: &mut Vec<MarketEvent>,
    mut cond: impl FnMut(&FeedAgent, &[MarketEvent]) -> bool,
) {
    let deadline = Instant::now() + LIMIT;
    while !cond(inv.agent(), seen) {
        assert!(
            Instant::now() < deadline,
            "timed out; counters {:?}",
            inv.agent().counters()
        );
        let w = inv.invoke().unwrap();
        rx.drain(1024, |e| seen.push(e));
        if w == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

#[test]
fn feed_agent_routes_syncs_counts_and_reconnects() {
    let stop = Arc::new(AtomicBool::new(false));
    let http_base = snapshot_server(
        r#"{"lastUpdateId":100,"bids":[["99.00","1"],["98.00","2"]],"asks":[["101.00","3"]]}"#,
        Arc::clone(&stop),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let ws_addr = l.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        // Connection 1: data, garbage, then an abrupt drop.
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        let mut path = String::new();
        let mut ws =
            tungstenite::accept_hdr(s, |req: &tungstenite::handshake::server::Request, resp| {
                path = req.uri().to_string();
                Ok(resp)
            })
            .unwrap();
        let msgs = [
            bt("BTCUSDT", 1, "100.00"),
            r#"{"stream":"ethusdt@trade","data":{"e":"trade","E":5,"s":"ETHUSDT","t":77,"p":"2000.5","q":"0.1","T":4,"m":true,"M":true}}"#.to_owned(),
            depth("BTCUSDT", 95, 101, r#"[["99.00","5"]]"#),
            "{\"stream\":\"btcusdt@bookTicker\",\"data\":{\"u\":2,".to_owned(),
            bt("XRPUSDT", 1, "1.0"),
            depth("BTCUSDT", 102, 102, r#"[["97.00","1"]]"#),
        ];
        for m in &msgs {
            ws.send(Message::text(m.clone())).unwrap();
        }
        // Wait for the book to sync (snapshot at 100, diffs 95–101 then 102),
        // then: a live diff (103) and a gap (105 after 103).
        std::thread::sleep(Duration::from_millis(300));
        ws.send(Message::text(depth(
            "BTCUSDT",
            103,
            103,
            r#"[["96.00","1"]]"#,
        )))
        .unwrap();
        ws.send(Message::text(depth(
            "BTCUSDT",
            105,
            105,
            r#"[["95.00","1"]]"#,
        )))
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        drop(ws); // abrupt close: no close frame
        // Connection 2 (reconnect): resubscribed to the same path.
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        let mut path2 = String::new();
        let mut ws =
            tungstenite::accept_hdr(s, |req: &tungstenite::handshake::server::Request, resp| {
                path2 = req.uri().to_string();
                Ok(resp)
            })
            .unwrap();
        ws.send(Message::text(bt("BTCUSDT", 3, "100.50"))).unwrap();
        ws.send(Message::text(depth("BTCUSDT", 99, 101, "[]")))
            .unwrap();
        // Then silence until the client leaves (stale, then closed).
        while ws.read().is_ok() {}
        (path, path2)
    });

    let mut cfg = FeedConfig::new(
        Venue::Sim {
            ws_base: format!("ws://{ws_addr}"),
            http_base,
            tls_root_der: None,
        },
        &["BTCUSDT", "ETHUSDT"],
    );
    cfg.stale_after = Duration::from_millis(400);
    cfg.reconnect.initial = Duration::from_millis(20);
    cfg.reconnect.max = Duration::from_millis(100);
    cfg.read_buffer = 1 << 16;
    cfg.max_message = 1 << 15;
    let t = table();
    let btc = t.id_of("BTCUSDT").unwrap();
    let eth = t.id_of("ETHUSDT").unwrap();
    let (md, mut rx) = ring::<MarketEvent>("md", 1024);
    let agent = FeedAgent::new(cfg, &t, md, MonotonicClock::new()).unwrap();
    let counters = agent.counters();
    let mut inv = AgentInvoker::new(agent, &Runtime::new());
    inv.start().unwrap();
    let mut seen = Vec::new();

    // Routing and stamps.
    drive_until(&mut inv, &mut rx, &mut seen, |a, _| {
        a.book(btc)
            .is_some_and(|b| b.state() == SyncState::Synced && b.book().last_update_id() == 102)
    });
    let top = seen
        .iter()
        .find(|e| e.instrument == btc && matches!(e.data(), MarketData::TopOfBook(_)))
        .unwrap();
    let MarketData::TopOfBook(tob) = top.data() else {
        unreachable!()
    };
    assert_eq!(
        (tob.update_id, tob.bid_price, tob.bid_qty),
        (1, Price::parse("100").unwrap(), Qty::parse("1.5").unwrap())
    );
    assert!(top.stamps.recv.0 > 0 && top.stamps.decode >= top.stamps.recv);
    // (ETH's first event is its Stale: its book is not synced yet.)
    let trade = seen
        .iter()
        .find(|e| e.instrument == eth && matches!(e.data(), MarketData::Trade(_)))
        .unwrap();
    let MarketData::Trade(tr) = trade.data() else {
        panic!("{trade:?}")
    };
    assert_eq!(
        (tr.trade_id, tr.price, tr.buyer_is_maker),
        (77, Price::parse("2000.5").unwrap(), true)
    );
    // The book: snapshot 100 + diff 95..101 (99 → 5) + diff 102 (97 → 1).
    let book = inv.agent().book(btc).unwrap().book();
    let bids: Vec<_> = book.bids().collect();
    assert_eq!(
        bids,
        vec![
            (Price::parse("99").unwrap(), Qty::parse("5").unwrap()),
            (Price::parse("98").unwrap(), Qty::parse("2").unwrap()),
            (Price::parse("97").unwrap(), Qty::parse("1").unwrap()),
        ]
    );
    assert_eq!(counters.get(FeedCounter::DecodeErrors), 1);
    assert_eq!(counters.get(FeedCounter::UnknownSymbol), 1);
    assert!(counters.get(FeedCounter::Snapshots) >= 1);

    // A live diff becomes a DepthLevel event; the gap (105 after 103) is
    // counted and starts a resync.
    drive_until(&mut inv, &mut rx, &mut seen, |_, _| {
        counters.get(FeedCounter::Gaps) == 1
    });
    let lvl = seen.iter().find_map(|e| match e.data() {
        MarketData::DepthLevel(d) => Some(d),
        _ => None,
    });
    let lvl = lvl.unwrap();
    assert_eq!(
        (lvl.update_id, lvl.price, lvl.qty),
        (103, Price::parse("96").unwrap(), Qty::parse("1").unwrap())
    );
    assert!(counters.get(FeedCounter::Resyncs) >= 1);

    // The drop: everything goes stale, the feed reconnects, resyncs the book.
    drive_until(&mut inv, &mut rx, &mut seen, |_, _| {
        counters.get(FeedCounter::Connects) == 2
    });
    assert!(counters.get(FeedCounter::Reconnects) >= 1);
    drive_until(&mut inv, &mut rx, &mut seen, |a, _| {
        a.book(btc)
            .is_some_and(|b| b.state() == SyncState::Synced && b.book().last_update_id() == 101)
    });
    assert!(
        seen.iter()
            .any(|e| e.instrument == btc && e.data() == MarketData::Stale)
    );
    assert!(
        seen.iter()
            .any(|e| e.instrument == btc && e.data() == MarketData::Fresh)
    );
    // Silence → stale again (ETH never recovered after the drop).
    let before = seen
        .iter()
        .filter(|e| e.instrument == btc && e.data() == MarketData::Stale)
        .count();
    drive_until(&mut inv, &mut rx, &mut seen, |_, s| {
        s.iter()
            .filter(|e| e.instrument == btc && e.data() == MarketData::Stale)
            .count()
            > before
    });
    assert!(inv.agent().is_stale(btc) && inv.agent().is_stale(eth));
    inv.close();
    stop.store(true, Ordering::Relaxed);
    let (p1, p2) = server.join().unwrap();
    assert_eq!(
        p1,
        "/stream?streams=btcusdt@bookTicker/btcusdt@trade/btcusdt@depth@100ms/ethusdt@bookTicker/ethusdt@trade/ethusdt@depth@100ms"
    );
    assert_eq!(p1, p2);
}
