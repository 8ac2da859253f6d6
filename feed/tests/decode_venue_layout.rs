//! The venue-layout fast path (`decode_venue_layout`) against the general
//! scanner (`decode_general`):
//!
//! * it fires on every real fixture frame of the kinds it covers and on
//!   the simulator's own output over loopback (hit rate 100 %), with the
//!   same result as the general scanner;
//! * on generated venue-layout messages, valid and near-miss mutations
//!   (bad decimals, bad ids, escapes, non-ASCII, whitespace, duplicate or
//!   extra keys, trailing bytes, truncation, byte flips), whenever it
//!   returns `Some` the general scanner returns `Ok` with the same value, and
//!   on unmutated valid messages it always returns `Some`;
//! * `decode` (fast path first) equals `decode_general` on all of them.
#![allow(clippy::unwrap_used)]

mod decode_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use decode_support::fixture_messages;
use proptest::prelude::*;
use proptest::test_runner::Config;
use talon_core::num::{Price, Qty};
use talon_feed::decode::{decode, decode_general, decode_snapshot, decode_venue_layout};

/// The property: a fast-path answer is the general scanner's answer, and
/// `decode` agrees with `decode_general` whatever happens. Returns whether
/// the fast path fired.
fn check(input: &[u8]) -> bool {
    let general = decode_general(input);
    assert_eq!(
        decode(input),
        general,
        "decode != decode_general on {:?}",
        String::from_utf8_lossy(input)
    );
    match decode_venue_layout(input) {
        Some(fast) => {
            assert_eq!(
                Ok(fast),
                general,
                "fast path != general scanner on {:?}",
                String::from_utf8_lossy(input)
            );
            true
        }
        None => false,
    }
}

/// Every message of `file` takes the fast path; returns how many.
fn all_hit(file: &str) -> usize {
    let msgs = fixture_messages(file);
    assert!(!msgs.is_empty(), "{file}");
    for m in &msgs {
        assert!(
            check(m),
            "{file}: fast path declined {:?}",
            String::from_utf8_lossy(m)
        );
    }
    msgs.len()
}

#[test]
fn fast_path_fires_on_every_market_data_fixture() {
    assert_eq!(all_hit("bookTicker.jsonl"), 84);
    assert_eq!(all_hit("depthUpdate.jsonl"), 177);
    assert_eq!(all_hit("aggTrade.jsonl"), 2);
    for f in [
        "bookTicker.json",
        "trade.json",
        "aggTrade.json",
        "depthUpdate.json",
        "depth20.json",
        "depth_snapshot.json",
        "depth_snapshot_BLZETH.json",
        "depth_snapshot_LRCBTC.json",
        "depth_snapshot_RUNEEUR.json",
    ] {
        assert_eq!(all_hit(f), 1, "{f}");
    }
    // REST bodies through decode_snapshot as well.
    for f in ["depth_snapshot.json", "depth_snapshot_RUNEEUR.json"] {
        let m = &fixture_messages(f)[0];
        let s = decode_snapshot(m).unwrap();
        let Some(env) = decode_venue_layout(m) else {
            panic!("{f}")
        };
        assert_eq!(env.message, talon_feed::decode::Decoded::DepthSnapshot(s));
    }
    // The recorded session: every bookTicker, depth diff and aggTrade frame
    // hits; only the two klines (no fast layout) go to the general path.
    let mut hits = 0;
    let mut misses = Vec::new();
    for m in fixture_messages("stream_session_2021-10-12.jsonl") {
        if check(&m) {
            hits += 1;
        } else {
            misses.push(String::from_utf8_lossy(&m).into_owned());
        }
    }
    assert!(
        misses.iter().all(|m| m.contains("\"e\":\"kline\"")),
        "{misses:?}"
    );
    assert_eq!(misses.len(), 2);
    assert!(hits >= 260, "{hits}");
}

// ---------------------------------------------------------------------------
// The simulator's output over loopback.

const TIMEOUT: Duration = Duration::from_secs(10);

fn sim() -> talon_sim::SimHandle {
    talon_sim::Simulator::start(talon_sim::SimConfig {
        rate: 20_000,
        seed: 11,
        start_time_ms: Some(1_700_000_000_000),
        book_levels: 60,
        ..talon_sim::SimConfig::default()
    })
    .expect("simulator starts")
}

/// Reads `n` text frames from `path`; each must take the fast path.
fn sim_frames_hit(h: &talon_sim::SimHandle, path: &str, n: usize) -> Vec<String> {
    let tcp = TcpStream::connect(h.local_addr()).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    let url = format!("{}{}", h.ws_base(), path);
    let (mut ws, _) = tungstenite::client(url.as_str(), tcp).expect("ws handshake");
    let deadline = Instant::now() + TIMEOUT * 2;
    let mut seen = Vec::new();
    while seen.len() < n {
        assert!(
            Instant::now() < deadline,
            "{path}: only {} frames",
            seen.len()
        );
        if let tungstenite::Message::Text(t) = ws.read().expect("read") {
            let t = t.to_string();
            assert!(check(t.as_bytes()), "{path}: fast path declined {t}");
            seen.push(t);
        }
    }
    seen
}

#[test]
fn fast_path_fires_on_every_simulator_frame() {
    let h = sim();
    let combined = sim_frames_hit(
        &h,
        "/stream?streams=btcusdt@bookTicker/btcusdt@trade/btcusdt@aggTrade/btcusdt@depth@100ms/ethusdt@depth/ethusdt@depth10@100ms",
        1_500,
    );
    for kind in [
        "@bookTicker\"",
        "@trade\"",
        "@aggTrade\"",
        "@depth@100ms\"",
        "@depth\"",
        "@depth10@100ms\"",
    ] {
        assert!(
            combined.iter().any(|m| m.contains(kind)),
            "no {kind} frame in the sample"
        );
    }
    // Raw (not combined) streams: bare payloads.
    sim_frames_hit(&h, "/ws/ethusdt@bookTicker", 100);
    sim_frames_hit(&h, "/ws/btcusdt@depth@100ms", 20);

    // The REST snapshot body.
    let mut s = TcpStream::connect(h.local_addr()).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        s,
        "GET /api/v3/depth?symbol=BTCUSDT&limit=100 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let body = &raw[at..];
    assert!(check(body), "{}", String::from_utf8_lossy(body));
    assert_eq!(
        decode_snapshot(body).map(|s| s.bids.len() + s.asks.len()),
        decode_venue_layout(body)
            .map(|e| match e.message {
                talon_feed::decode::Decoded::DepthSnapshot(s) => s.bids.len() + s.asks.len(),
                _ => 0,
            })
            .ok_or(talon_feed::decode::DecodeError::Malformed)
    );
    h.stop();
}

// ---------------------------------------------------------------------------
// Generated venue-layout messages and near misses.

/// The venue's decimal form (8 fixed decimals), full range, plus shorter
/// but valid forms the fast path hands to `fixed` (`"1.5"`, `"672"`,
/// 11 integer digits, trailing zeros past 8 decimals, leading zeros).
fn decimal(r: u64, mode: u8) -> String {
    let raw = (r >> 1) as i64;
    match mode % 16 {
        0 => Qty::from_raw(raw).to_string(),
        1 => [
            "0.5",
            "672",
            "1.10000000000",
            "00012.5",
            "0",
            "12345678901.5",
        ][(r % 6) as usize]
            .to_owned(),
        2 => Price::from_raw(raw % 100_000_000_000_000_000)
            .fixed()
            .to_string(),
        _ => Price::from_raw(raw % 10_000_000_000_000)
            .fixed()
            .to_string(),
    }
}

fn levels(seed: u64, n: usize) -> String {
    let mut s = seed;
    let mut out = String::from("[");
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let p = decimal(s, (s >> 60) as u8);
        let q = decimal(s.rotate_left(17), (s >> 56) as u8);
        out.push_str(&format!("[\"{p}\",\"{q}\"]"));
    }
    out.push(']');
    out
}

#[derive(Clone, Debug)]
struct Msg {
    kind: u8,
    ids: [u64; 5],
    decs: [(u64, u8); 4],
    sym: usize,
    flags: (bool, bool),
    nlev: (usize, usize),
    wrapped: bool,
}

const SYMBOLS: &[&str] = &[
    "BTCUSDT",
    "ETHBTC",
    "1000SATSUSDT",
    "A",
    "",
    "X~Y",
    "NKN USDT",
];

fn msg() -> impl Strategy<Value = Msg> {
    (
        0u8..6,
        any::<[u64; 5]>(),
        any::<[(u64, u8); 4]>(),
        0..SYMBOLS.len(),
        any::<(bool, bool)>(),
        (0usize..6, 0usize..6),
        any::<bool>(),
    )
        .prop_map(|(kind, ids, decs, sym, flags, nlev, wrapped)| Msg {
            kind,
            ids,
            decs,
            sym,
            flags,
            nlev,
            wrapped,
        })
}

/// The message in the venue's exact layout.
fn render(m: &Msg) -> String {
    let s = SYMBOLS[m.sym];
    let [i0, i1, i2, i3, i4] = m.ids.map(|v| v >> (v % 48));
    let d = m.decs.map(|(r, mode)| decimal(r, mode));
    let (m1, m2) = m.flags;
    let (payload, stream) = match m.kind {
        0 => (
            format!(
                r#"{{"u":{i0},"s":"{s}","b":"{}","B":"{}","a":"{}","A":"{}"}}"#,
                d[0], d[1], d[2], d[3]
            ),
            "btcusdt@bookTicker",
        ),
        1 => (
            format!(
                r#"{{"e":"trade","E":{i0},"s":"{s}","t":{i1},"p":"{}","q":"{}","T":{i2},"m":{m1},"M":{m2}}}"#,
                d[0], d[1]
            ),
            "btcusdt@trade",
        ),
        2 => (
            format!(
                r#"{{"e":"trade","E":{i0},"s":"{s}","t":{i1},"p":"{}","q":"{}","b":{i3},"a":{i4},"T":{i2},"m":{m1},"M":{m2}}}"#,
                d[0], d[1]
            ),
            "btcusdt@trade",
        ),
        3 => (
            format!(
                r#"{{"e":"aggTrade","E":{i0},"s":"{s}","a":{i1},"p":"{}","q":"{}","f":{i3},"l":{i4},"T":{i2},"m":{m1},"M":{m2}}}"#,
                d[0], d[1]
            ),
            "btcusdt@aggTrade",
        ),
        4 => (
            format!(
                r#"{{"e":"depthUpdate","E":{i0},"s":"{s}","U":{i1},"u":{i2},"b":{},"a":{}}}"#,
                levels(i3, m.nlev.0),
                levels(i4, m.nlev.1)
            ),
            "btcusdt@depth@100ms",
        ),
        _ => (
            format!(
                r#"{{"lastUpdateId":{i0},"bids":{},"asks":{}}}"#,
                levels(i3, m.nlev.0),
                levels(i4, m.nlev.1)
            ),
            "btcusdt@depth5@100ms",
        ),
    };
    if m.wrapped {
        format!(r#"{{"stream":"{stream}","data":{payload}}}"#)
    } else {
        payload
    }
}

/// Replacement texts for a value: each is either invalid where the venue
/// sends a number/decimal or a valid variant outside the fast layout.
const VALUE_SWAPS: &[&str] = &[
    "\"1.000000001\"",
    "\"0.123456789\"",
    "\"1.10000000\"",
    "\"1.\"",
    "\".5\"",
    "\"-1\"",
    "\"+1\"",
    "\"1e5\"",
    "\"\"",
    "\"92233720368.54775807\"",
    "\"92233720368.54775808\"",
    "\"99999999999.99999999\"",
    "\"1\\u0030\"",
    "\"1 \"",
    "01",
    "-1",
    "-0",
    "1.0",
    "1e3",
    "0",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "null",
    "true",
    "\"5\"",
    "[]",
    "{}",
    "1.5",
];

const STRING_SWAPS: &[&str] = &[
    "\"BTC\\u0055SDT\"",
    "\"BTC\\\"USDT\"",
    "\"BTCé\"",
    "\"BTC\u{1}\"",
    "\"BTC\u{7f}\"",
    "\"\"",
    "1",
];

/// Byte ranges of the values (after each `:`) in a rendered message.
fn value_spans(t: &str) -> Vec<(usize, usize)> {
    let b = t.as_bytes();
    let mut spans = Vec::new();
    for (i, &c) in b.iter().enumerate() {
        if c == b':' {
            let start = i + 1;
            let mut end = start;
            let mut in_str = false;
            let mut depth = 0i32;
            while end < b.len() {
                let x = b[end];
                if in_str {
                    if x == b'"' {
                        in_str = false;
                    }
                } else if x == b'"' {
                    in_str = true;
                } else if x == b'[' || x == b'{' {
                    depth += 1;
                } else if x == b']' || x == b'}' {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                } else if x == b',' && depth == 0 {
                    break;
                }
                end += 1;
            }
            spans.push((start, end));
        }
    }
    spans
}

/// One near-miss mutation, drawn as plain numbers.
fn mutate(t: &str, op: u8, a: usize, b: usize) -> Vec<u8> {
    let bytes = t.as_bytes();
    let len = bytes.len();
    let spans = value_spans(t);
    let mut v = bytes.to_vec();
    match op % 12 {
        0 | 1 => {
            let (s, e) = spans[a % spans.len()];
            let r = VALUE_SWAPS[b % VALUE_SWAPS.len()];
            v.splice(s..e, r.bytes());
        }
        2 => {
            let (s, e) = spans[a % spans.len()];
            let r = STRING_SWAPS[b % STRING_SWAPS.len()];
            v.splice(s..e, r.bytes());
        }
        3 => {
            let ws = [b" ".as_slice(), b"\n", b"\t", b"\r"][b % 4];
            let at = a % (len + 1);
            v.splice(at..at, ws.iter().copied());
        }
        4 => {
            // Duplicate a member (key and value) in place.
            let (s, e) = spans[a % spans.len()];
            let key_start = t[..s].rfind([',', '{']).map_or(0, |i| i + 1);
            let member = bytes[key_start..e].to_vec();
            v.splice(e..e, std::iter::once(b',').chain(member));
        }
        5 => {
            let extra = [
                b",\"x\":1".as_slice(),
                b",\"M\":true",
                b",\"e\":\"trade\"",
                b",\"stream\":\"a\"",
            ][b % 4];
            // Before the last closing brace(s).
            let at = len - 1 - (a % 2).min(len - 1);
            v.splice(at..at, extra.iter().copied());
        }
        6 => v.extend_from_slice([b"x".as_slice(), b" ", b"\n\r\t ", b"}", b"{}", b"\0"][b % 6]),
        7 => v.truncate(a % len),
        8 => v[a % len] ^= (b % 255 + 1) as u8,
        9 => {
            v.remove(a % len);
        }
        10 => {
            let ins = b"{}[]\":,\\0123456789.-eE \xc3\xa9\xff"[b % 24];
            v.insert(a % (len + 1), ins);
        }
        _ => {
            // Leading whitespace: valid JSON, not the fast layout.
            v.insert(0, b' ');
        }
    }
    v
}

proptest! {
    #![proptest_config(Config {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(2_000),
        failure_persistence: None,
        ..Config::default()
    })]

    /// Valid venue-layout messages: the fast path fires (symbols here are
    /// plain ASCII) and agrees; 8 near misses of each: `Some` ⇒ identical.
    #[test]
    fn fast_path_equals_general_scanner_on_venue_layout_and_near_misses(
        m in msg(),
        muts in prop::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 8),
    ) {
        let text = render(&m);
        let general_ok = decode_general(text.as_bytes()).is_ok();
        let hit = check(text.as_bytes());
        // Unmutated: the fast path fires exactly when the message is valid
        // (the only invalid ones drawn are decimals beyond i64 / ids … none:
        // every drawn value is valid, so both must hold).
        prop_assert!(general_ok, "generator produced an invalid message: {}", text);
        prop_assert!(hit, "fast path declined a venue-layout message: {}", text);
        for (op, a, b) in muts {
            check(&mutate(&text, op, a, b));
        }
    }
}

#[test]
fn near_misses_decline_with_the_general_reason() {
    use talon_feed::decode::DecodeError as E;
    let base = r#"{"u":1,"s":"BTCUSDT","b":"1.00000000","B":"2.00000000","a":"3.00000000","A":"4.00000000"}"#;
    assert!(decode_venue_layout(base.as_bytes()).is_some());
    for (text, reason) in [
        (
            base.replace("\"1.00000000\"", "\"1.000000001\""),
            E::TooManyDecimals,
        ),
        (base.replace("\"1.00000000\"", "\"-1\""), E::BadDecimal),
        (base.replace("\"u\":1", "\"u\":01"), E::Malformed),
        (base.replace("\"u\":1", "\"u\":1.0"), E::WrongType),
        (
            base.replace("\"u\":1", "\"u\":18446744073709551616"),
            E::NumberOverflow,
        ),
        (base.replace("BTCUSDT", "BTC\\u0055SDT"), E::EscapedString),
        (base.replace("}", ",\"u\":2}"), E::DuplicateKey),
        (format!("{base}x"), E::TrailingData),
    ] {
        assert_eq!(decode_venue_layout(text.as_bytes()), None, "{text}");
        assert_eq!(decode(text.as_bytes()).map(|_| ()), Err(reason), "{text}");
    }
    let mut bad_utf8 = base.replace("BTCUSDT", "BTC__USDT").into_bytes();
    let at = bad_utf8.windows(2).position(|w| w == b"__").unwrap();
    bad_utf8[at] = 0xC3;
    bad_utf8[at + 1] = 0x28;
    assert_eq!(decode_venue_layout(&bad_utf8), None);
    assert_eq!(decode(&bad_utf8).map(|_| ()), Err(E::InvalidUtf8));
    // Valid variants outside the layout decline but decode the same.
    for text in [
        format!(" {base}"),
        base.replace(",\"s\"", ", \"s\""),
        base.replace("BTCUSDT", "BTCé"),
    ] {
        assert_eq!(decode_venue_layout(text.as_bytes()), None, "{text}");
        assert!(decode(text.as_bytes()).is_ok(), "{text}");
    }
    // Trailing whitespace stays in the layout.
    assert!(decode_venue_layout(format!("{base} \n").as_bytes()).is_some());
}
