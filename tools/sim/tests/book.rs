//! Books: diff continuity, the venue's snapshot + diff procedure reproducing
//! the simulator's own book exactly (also across injected gaps), and
//! determinism for a seed.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use talon_sim::{FaultConfig, SimConfig};
use tungstenite::Message;

/// Reads text messages until `timeout` passes with none (paused generator:
/// the backlog is finite).
fn drain(ws: &mut Ws, timeout: Duration) -> Vec<String> {
    ws.get_ref().set_read_timeout(Some(timeout)).unwrap();
    let mut out = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => out.push(t.to_string()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    ws.get_ref().set_read_timeout(Some(TIMEOUT)).unwrap();
    out
}

/// Syncs a reference book by the venue procedure, following `@depth`
/// until `steps` more generator steps were seen; resyncs on gaps. Returns
/// the book and the number of resyncs.
fn follow(h: &talon_sim::SimHandle, ws: &mut Ws, diffs_to_read: usize) -> (RefBook, u64) {
    let addr = h.local_addr();
    let mut book = RefBook::default();
    let mut buffered: Vec<Value> = Vec::new();
    let mut resyncs = 0;
    let mut prev_u: Option<u64> = None;
    let mut read = 0;
    let sync = |book: &mut RefBook, buffered: &mut Vec<Value>| {
        // Step 2–3: snapshot, refetch while older than the first buffered U.
        loop {
            let (st, snap) = get_json(addr, "/api/v3/depth?symbol=BTCUSDT&limit=5000");
            assert_eq!(st, 200);
            let first_u = buffered.first().map_or(0, |d| d["U"].as_u64().unwrap());
            if snap["lastUpdateId"].as_u64().unwrap() >= first_u {
                book.load_snapshot(&snap);
                break;
            }
        }
        // Step 4: drop stale, the first applicable one must straddle.
        let mut first = true;
        for d in buffered.drain(..) {
            if d["u"].as_u64().unwrap() <= book.last {
                continue;
            }
            if first {
                assert!(
                    d["U"].as_u64().unwrap() <= book.last + 1,
                    "first diff must straddle the snapshot"
                );
                first = false;
            }
            assert_ne!(book.apply(&d), Applied::Gap);
        }
    };
    while read < diffs_to_read {
        let d = recv(ws);
        read += 1;
        let (u_first, u_last) = (d["U"].as_u64().unwrap(), d["u"].as_u64().unwrap());
        assert!(u_first <= u_last);
        if let Some(p) = prev_u {
            // Continuity is strict unless the gap fault is on.
            if u_first != p + 1 {
                assert!(h.stats().fault_gaps > 0, "unexpected gap {p} → {u_first}");
            }
        }
        prev_u = Some(u_last);
        if !book.synced {
            buffered.push(d);
            if buffered.len() >= 3 {
                sync(&mut book, &mut buffered);
                resyncs += 1;
            }
            continue;
        }
        if book.apply(&d) == Applied::Gap {
            buffered.push(d);
        }
    }
    // Finish: pause, drain the backlog, resync if the tail had a gap.
    h.pause();
    for _ in 0..5 {
        let view = h.book("BTCUSDT").unwrap();
        for t in drain(ws, Duration::from_millis(300)) {
            let d: Value = serde_json::from_str(&t).unwrap();
            if !book.synced || book.apply(&d) == Applied::Gap {
                buffered.push(d);
            }
        }
        if !book.synced && !buffered.is_empty() {
            sync(&mut book, &mut buffered);
            resyncs += 1;
        }
        if book.synced && book.last == view.last_update_id {
            break;
        }
        // The very last diff was the skipped one: one more step reveals it.
        h.step(1);
    }
    (book, resyncs)
}

#[test]
fn snapshot_plus_diffs_reproduce_the_simulators_book() {
    let h = start(cfg(3000));
    let mut c = ws(&h, "/ws/btcusdt@depth");
    let (book, resyncs) = follow(&h, &mut c, 400);
    assert_eq!(resyncs, 1);
    assert_eq!(book.gaps, 0);
    let view = h.book("BTCUSDT").unwrap();
    assert!(
        book.matches(&view),
        "client book differs at {} vs {}",
        book.last,
        view.last_update_id
    );
    assert!(view.bids.len() > 30 && view.asks.len() > 30);
    // Resumed, the stream continues exactly where it stopped.
    h.resume();
    let d = recv(&mut c);
    assert_eq!(d["U"].as_u64().unwrap(), view.last_update_id + 1);
    h.stop();
}

#[test]
fn injected_gaps_are_recovered_and_the_book_matches() {
    let h = start(SimConfig {
        faults: FaultConfig {
            gap_every: Some(60),
            ..FaultConfig::default()
        },
        ..cfg(3000)
    });
    let mut c = ws(&h, "/ws/btcusdt@depth");
    let (book, resyncs) = follow(&h, &mut c, 400);
    assert!(book.gaps >= 3, "gaps seen: {}", book.gaps);
    assert!(resyncs >= 4);
    assert!(h.stats().fault_gaps >= 6);
    assert!(book.matches(&h.book("BTCUSDT").unwrap()));
    h.stop();
}

#[test]
fn aggregated_100ms_diffs_are_continuous() {
    let h = start(cfg(5000));
    let mut c = ws(&h, "/stream?streams=btcusdt@depth@100ms");
    let mut prev: Option<(u64, u64)> = None;
    for _ in 0..8 {
        let v = recv(&mut c);
        assert_eq!(v["stream"], "btcusdt@depth@100ms");
        let d = &v["data"];
        let (first, last, e) = (
            d["U"].as_u64().unwrap(),
            d["u"].as_u64().unwrap(),
            d["E"].as_u64().unwrap(),
        );
        assert!(
            first < last,
            "a 100 ms window at 5000 msg/s holds many updates"
        );
        if let Some((pu, pe)) = prev {
            assert_eq!(first, pu + 1);
            assert!(e > pe && (e - pe) % 100 == 0);
        }
        prev = Some((last, e));
    }
    h.stop();
}

fn record(seed: u64) -> Vec<String> {
    let h = start(SimConfig {
        seed,
        start_paused: true,
        ..cfg(2000)
    });
    let mut c = ws(
        &h,
        "/stream?streams=btcusdt@bookTicker/btcusdt@trade/btcusdt@depth/ethusdt@depth@100ms/ethusdt@aggTrade/ethusdt@depth5",
    );
    h.step(1500);
    let msgs = drain(&mut c, Duration::from_millis(500));
    h.stop();
    msgs
}

#[test]
fn same_seed_same_messages() {
    let a = record(11);
    let b = record(11);
    let c = record(12);
    assert!(a.len() > 1000, "{}", a.len());
    assert_eq!(a, b);
    assert_ne!(a, c);
    let streams: std::collections::HashSet<String> = a
        .iter()
        .map(|t| {
            serde_json::from_str::<Value>(t).unwrap()["stream"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(streams.len(), 6, "{streams:?}");
}
