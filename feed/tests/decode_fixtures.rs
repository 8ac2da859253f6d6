//! Every market-data fixture (real Binance captures and doc examples in
//! `tests/fixtures/binance/`) decodes to the expected kind, with spot checks
//! of exact values; the session capture syncs a book with no gaps using only
//! decoded update ids.
#![allow(clippy::unwrap_used)]

mod decode_support;

use std::collections::HashMap;

use decode_support::fixture_messages;
use talon_core::num::{Price, Qty};
use talon_feed::decode::{
    ControlReply, DecodeCounters, DecodeError, Decoded, ReplyId, decode, decode_snapshot,
};

fn p(s: &str) -> Price {
    Price::parse(s).unwrap()
}
fn q(s: &str) -> Qty {
    Qty::parse(s).unwrap()
}

/// The single message of a `.json` fixture, for the test's lifetime.
fn one(file: &str) -> &'static [u8] {
    Box::leak(fixture_messages(file).remove(0).into_boxed_slice())
}

/// Decodes every message of `file` and returns the kind names.
fn kinds(file: &str) -> Vec<&'static str> {
    fixture_messages(file)
        .iter()
        .map(|m| {
            decode(m)
                .unwrap_or_else(|e| panic!("{file}: {e}: {}", String::from_utf8_lossy(m)))
                .message
                .kind_name()
        })
        .collect()
}

#[test]
fn book_ticker_fixtures() {
    let k = kinds("bookTicker.jsonl");
    assert_eq!(k.len(), 84);
    assert!(k.iter().all(|&k| k == "book_ticker"));
    let m = one("bookTicker.json");
    let env = decode(m).unwrap();
    assert_eq!(env.stream, Some(&b"nknusdt@bookTicker"[..]));
    let Decoded::BookTicker(t) = env.message else {
        panic!()
    };
    assert_eq!(t.symbol, b"NKNUSDT");
    assert_eq!(t.update_id, 499_869_768);
    assert_eq!(
        (t.bid_price, t.bid_qty, t.ask_price, t.ask_qty),
        (p("0.3521"), q("672"), p("0.3526"), q("3199"))
    );
}

#[test]
fn trade_and_agg_trade_fixtures() {
    let Decoded::Trade(t) = decode(one("trade.json")).unwrap().message else {
        panic!()
    };
    assert_eq!(t.symbol, b"BTCUSDT");
    assert_eq!(t.trade_id, 6_720_857_582);
    assert_eq!(t.price, p("83034.29"));
    assert_eq!(t.qty, q("0.00062"));
    assert_eq!(t.event_time_ms, 1_790_649_901_913);
    assert!(t.buyer_is_maker);

    assert_eq!(kinds("aggTrade.jsonl"), ["agg_trade", "agg_trade"]);
    let Decoded::AggTrade(a) = decode(one("aggTrade.json")).unwrap().message else {
        panic!()
    };
    assert_eq!(a.agg_trade_id, 15_683_430);
    assert_eq!(
        (a.first_trade_id, a.last_trade_id),
        (19_862_790, 19_862_790)
    );
    assert_eq!((a.price, a.qty), (p("0.3528"), q("58")));
    assert!(!a.buyer_is_maker);
}

#[test]
fn depth_fixtures() {
    let k = kinds("depthUpdate.jsonl");
    assert_eq!(k.len(), 177);
    assert!(k.iter().all(|&k| k == "depth_update"));

    let Decoded::DepthUpdate(d) = decode(one("depthUpdate.json")).unwrap().message else {
        panic!()
    };
    assert_eq!(
        (d.first_update_id, d.last_update_id),
        (499_869_750, 499_869_752)
    );
    assert_eq!(d.bids.iter().next(), Some((p("0.3513"), q("6195"))));
    assert_eq!(d.bids.len(), 3);
    assert!(d.asks.is_empty());

    let env = decode(one("depth20.json")).unwrap();
    let Decoded::DepthSnapshot(s) = env.message else {
        panic!()
    };
    assert_eq!(s.symbol, Some(&b"btcusdt"[..]));
    assert_eq!(s.last_update_id, 11_655_824_136);
    assert_eq!((s.bids.len(), s.asks.len()), (20, 20));
    assert_eq!(s.asks.iter().last(), Some((p("35502.92"), q("0.307076"))));

    let body = one("depth_snapshot.json");
    let snap = decode_snapshot(body).unwrap();
    assert_eq!(snap.symbol, None);
    assert_eq!(snap.last_update_id, 499_869_752);
    assert_eq!((snap.bids.len(), snap.asks.len()), (609, 1000));
    assert_eq!(snap.bids.iter().next(), Some((p("0.3521"), q("672"))));
    assert_eq!(snap.asks.iter().last(), Some((p("0.5506"), q("14418"))));
    for f in [
        "depth_snapshot_BLZETH.json",
        "depth_snapshot_LRCBTC.json",
        "depth_snapshot_RUNEEUR.json",
    ] {
        let s = decode_snapshot(one(f)).unwrap();
        assert!(s.bids.len() > 100 && s.asks.len() > 100, "{f}");
        // Bids descend, asks ascend: the levels were read in order.
        let b: Vec<_> = s.bids.iter().map(|l| l.0).collect();
        assert!(b.windows(2).all(|w| w[0] > w[1]), "{f}");
        let a: Vec<_> = s.asks.iter().map(|l| l.0).collect();
        assert!(a.windows(2).all(|w| w[0] < w[1]), "{f}");
    }
}

#[test]
fn control_fixtures() {
    assert_eq!(
        decode(one("stream_subscribe_response.json"))
            .unwrap()
            .message,
        Decoded::Control(ControlReply::Result {
            id: ReplyId::Int(1),
            result: b"null"
        })
    );
    let env = decode(one("stream_serverShutdown_combined.json")).unwrap();
    assert_eq!(env.stream, Some(&b"!serverShutdown"[..]));
    assert_eq!(
        env.message,
        Decoded::Control(ControlReply::ServerShutdown {
            event_time_ms: 1_770_123_456_789
        })
    );
    let Decoded::Control(ControlReply::Error { code, msg, .. }) =
        decode(one("ws_api_error.json")).unwrap().message
    else {
        panic!()
    };
    assert_eq!(code, -2010);
    assert!(!msg.is_empty());
}

#[test]
fn unhandled_events_are_counted_by_reason() {
    let mut counters = DecodeCounters::new();
    for f in [
        "kline.json",
        "kline.jsonl",
        "executionReport_new.json",
        "balanceUpdate.json",
    ] {
        for m in fixture_messages(f) {
            counters.record(decode(&m).unwrap_err());
        }
    }
    assert_eq!(counters.get(DecodeError::UnknownEvent), 4);
    assert_eq!(counters.get(DecodeError::UnknownMessage), 1);
    assert_eq!(counters.total(), 5);
}

/// The whole 265-frame session: everything but the two klines decodes, and
/// the depth diffs, taken from decoded fields only, sync with each REST
/// snapshot with no gap (binance-protocol.md §1).
#[test]
fn session_capture_decodes_and_syncs_without_gaps() {
    let frames = fixture_messages("stream_session_2021-10-12.jsonl");
    assert_eq!(frames.len(), 265);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut errors = DecodeCounters::new();
    let mut diffs: HashMap<Vec<u8>, Vec<(u64, u64)>> = HashMap::new();
    for f in &frames {
        match decode(f) {
            Ok(env) => {
                *counts.entry(env.message.kind_name()).or_default() += 1;
                if let Decoded::DepthUpdate(d) = env.message {
                    // The stream name and the payload agree on the symbol.
                    let stream = env.stream.unwrap();
                    assert!(stream.starts_with(&d.symbol.to_ascii_lowercase()));
                    diffs
                        .entry(d.symbol.to_vec())
                        .or_default()
                        .push((d.first_update_id, d.last_update_id));
                }
            }
            Err(e) => errors.record(e),
        }
    }
    assert_eq!(errors.get(DecodeError::UnknownEvent), 2, "the two klines");
    assert_eq!(errors.total(), 2);
    assert_eq!(counts["depth_update"], 177);
    assert_eq!(counts["book_ticker"], 84);
    assert_eq!(counts["agg_trade"], 2);

    let mut synced = 0;
    for (sym, file) in [
        (&b"NKNUSDT"[..], "depth_snapshot.json"),
        (b"BLZETH", "depth_snapshot_BLZETH.json"),
        (b"LRCBTC", "depth_snapshot_LRCBTC.json"),
        (b"RUNEEUR", "depth_snapshot_RUNEEUR.json"),
    ] {
        let snap = decode_snapshot(one(file)).unwrap();
        let id = snap.last_update_id;
        let ds = &diffs[sym];
        let live: Vec<_> = ds.iter().filter(|&&(_, u)| u > id).collect();
        if let Some(&&(first_u, first_last)) = live.first() {
            assert!(
                first_u <= id + 1 && id < first_last,
                "{file}: first applicable diff"
            );
            for w in live.windows(2) {
                assert_eq!(w[1].0, w[0].1 + 1, "{file}: gap");
            }
            synced += 1;
        }
    }
    assert!(synced >= 1, "no symbol had diffs after its snapshot");
}
