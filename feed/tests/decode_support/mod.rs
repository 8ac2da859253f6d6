//! Shared by the decode integration tests: an owned, comparable normal form
//! of a decoded message, the conversion from the fast decoder's borrowed
//! view, and an independent REFERENCE decoder built on `serde_json::Value` +
//! `rust_decimal` (it does not use the fast scanner nor
//! `talon_core::num`'s parser). The reference implements the rules written
//! in `feed/src/decode/mod.rs` from their text.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::path::PathBuf;

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use talon_feed::decode::{ControlReply, Decoded, Envelope, Levels, ReplyId};

/// A decoded message, owned and comparable (decimals compare by value).
#[derive(Clone, Debug, PartialEq)]
pub enum Norm {
    BookTicker {
        symbol: String,
        update_id: u64,
        bid_price: Decimal,
        bid_qty: Decimal,
        ask_price: Decimal,
        ask_qty: Decimal,
    },
    Trade {
        symbol: String,
        event_time_ms: u64,
        trade_id: u64,
        price: Decimal,
        qty: Decimal,
        trade_time_ms: u64,
        buyer_is_maker: bool,
    },
    AggTrade {
        symbol: String,
        event_time_ms: u64,
        agg_trade_id: u64,
        price: Decimal,
        qty: Decimal,
        first_trade_id: u64,
        last_trade_id: u64,
        trade_time_ms: u64,
        buyer_is_maker: bool,
    },
    DepthUpdate {
        symbol: String,
        event_time_ms: u64,
        first_update_id: u64,
        last_update_id: u64,
        bids: Vec<(Decimal, Decimal)>,
        asks: Vec<(Decimal, Decimal)>,
    },
    DepthSnapshot {
        symbol: Option<String>,
        last_update_id: u64,
        bids: Vec<(Decimal, Decimal)>,
        asks: Vec<(Decimal, Decimal)>,
    },
    Result {
        id: RefId,
        result: Value,
    },
    Error {
        id: RefId,
        code: i64,
        msg: String,
    },
    ServerShutdown {
        event_time_ms: u64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum RefId {
    Absent,
    Null,
    Int(i64),
    Str(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct NormEnv {
    pub stream: Option<String>,
    pub msg: Norm,
}

fn utf8(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("decoder returned non-UTF-8")
}

/// Raw JSON string content → its value (via serde_json).
fn unescape(raw: &[u8]) -> String {
    let mut quoted = b"\"".to_vec();
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice(&quoted).expect("decoder returned an invalid JSON string")
}

fn levels(l: &Levels<'_>) -> Vec<(Decimal, Decimal)> {
    let v: Vec<_> = l
        .iter()
        .map(|(p, q)| (p.to_decimal(), q.to_decimal()))
        .collect();
    assert_eq!(v.len(), l.len(), "Levels::len disagrees with iteration");
    v
}

fn fast_id(id: ReplyId<'_>) -> RefId {
    match id {
        ReplyId::Absent => RefId::Absent,
        ReplyId::Null => RefId::Null,
        ReplyId::Int(i) => RefId::Int(i),
        ReplyId::Str(s) => RefId::Str(unescape(s)),
    }
}

/// The fast decoder's result in normal form.
pub fn from_fast(env: &Envelope<'_>) -> NormEnv {
    let msg = match env.message {
        Decoded::BookTicker(t) => Norm::BookTicker {
            symbol: utf8(t.symbol),
            update_id: t.update_id,
            bid_price: t.bid_price.to_decimal(),
            bid_qty: t.bid_qty.to_decimal(),
            ask_price: t.ask_price.to_decimal(),
            ask_qty: t.ask_qty.to_decimal(),
        },
        Decoded::Trade(t) => Norm::Trade {
            symbol: utf8(t.symbol),
            event_time_ms: t.event_time_ms,
            trade_id: t.trade_id,
            price: t.price.to_decimal(),
            qty: t.qty.to_decimal(),
            trade_time_ms: t.trade_time_ms,
            buyer_is_maker: t.buyer_is_maker,
        },
        Decoded::AggTrade(t) => Norm::AggTrade {
            symbol: utf8(t.symbol),
            event_time_ms: t.event_time_ms,
            agg_trade_id: t.agg_trade_id,
            price: t.price.to_decimal(),
            qty: t.qty.to_decimal(),
            first_trade_id: t.first_trade_id,
            last_trade_id: t.last_trade_id,
            trade_time_ms: t.trade_time_ms,
            buyer_is_maker: t.buyer_is_maker,
        },
        Decoded::DepthUpdate(d) => Norm::DepthUpdate {
            symbol: utf8(d.symbol),
            event_time_ms: d.event_time_ms,
            first_update_id: d.first_update_id,
            last_update_id: d.last_update_id,
            bids: levels(&d.bids),
            asks: levels(&d.asks),
        },
        Decoded::DepthSnapshot(d) => Norm::DepthSnapshot {
            symbol: d.symbol.map(utf8),
            last_update_id: d.last_update_id,
            bids: levels(&d.bids),
            asks: levels(&d.asks),
        },
        Decoded::Control(ControlReply::Result { id, result }) => Norm::Result {
            id: fast_id(id),
            result: serde_json::from_slice(result).expect("result is not JSON"),
        },
        Decoded::Control(ControlReply::Error { id, code, msg }) => Norm::Error {
            id: fast_id(id),
            code,
            msg: unescape(msg),
        },
        Decoded::Control(ControlReply::ServerShutdown { event_time_ms }) => {
            Norm::ServerShutdown { event_time_ms }
        }
    };
    NormEnv {
        stream: env.stream.map(utf8),
        msg,
    }
}

// ---------------------------------------------------------------------------
// The reference decoder.

/// Why the reference rejected (coarse: the differential compares Ok/Err and
/// Ok values; specific reasons are asserted in targeted tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefErr {
    Json,
    Shape,
    Missing,
    Type,
    Decimal,
    TooManyDecimals,
}

type R<T> = Result<T, RefErr>;

/// Largest Price/Qty: i64::MAX units of 10^-8.
fn max_decimal() -> Decimal {
    Decimal::from_i128_with_scale(i64::MAX as i128, 8)
}

/// A venue decimal string: `[0-9]+(\.[0-9]+)?`, at most 8 significant
/// decimals, at most i64::MAX × 10^-8. Exact, via `rust_decimal`.
pub fn ref_decimal(s: &str) -> R<Decimal> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return Err(RefErr::Decimal);
    }
    let frac = frac.unwrap_or("").trim_end_matches('0');
    if frac.len() > 8 {
        return Err(RefErr::TooManyDecimals);
    }
    let int = int.trim_start_matches('0');
    if int.len() > 11 {
        return Err(RefErr::Decimal);
    }
    let text = format!(
        "{}{}{}",
        if int.is_empty() { "0" } else { int },
        if frac.is_empty() { "" } else { "." },
        frac
    );
    let d = Decimal::from_str_exact(&text).map_err(|_| RefErr::Decimal)?;
    if d > max_decimal() {
        return Err(RefErr::Decimal);
    }
    Ok(d)
}

fn field<'v>(m: &'v Map<String, Value>, k: &str) -> R<&'v Value> {
    m.get(k).ok_or(RefErr::Missing)
}

fn ref_u64(m: &Map<String, Value>, k: &str) -> R<u64> {
    match field(m, k)? {
        Value::Number(n) => n.as_u64().ok_or(RefErr::Type),
        _ => Err(RefErr::Type),
    }
}

fn ref_str<'v>(m: &'v Map<String, Value>, k: &str) -> R<&'v str> {
    field(m, k)?.as_str().ok_or(RefErr::Type)
}

fn ref_dec(m: &Map<String, Value>, k: &str) -> R<Decimal> {
    ref_decimal(ref_str(m, k)?)
}

fn ref_bool(m: &Map<String, Value>, k: &str) -> R<bool> {
    field(m, k)?.as_bool().ok_or(RefErr::Type)
}

fn ref_levels(m: &Map<String, Value>, k: &str) -> R<Vec<(Decimal, Decimal)>> {
    let Value::Array(a) = field(m, k)? else {
        return Err(RefErr::Type);
    };
    a.iter()
        .map(|l| match l.as_array().map(Vec::as_slice) {
            Some([Value::String(p), Value::String(q)]) => Ok((ref_decimal(p)?, ref_decimal(q)?)),
            _ => Err(RefErr::Shape),
        })
        .collect()
}

fn ref_id(m: &Map<String, Value>) -> R<RefId> {
    match m.get("id") {
        None => Ok(RefId::Absent),
        Some(Value::Null) => Ok(RefId::Null),
        Some(Value::Number(n)) => n.as_i64().map(RefId::Int).ok_or(RefErr::Type),
        Some(Value::String(s)) => Ok(RefId::Str(s.clone())),
        Some(_) => Err(RefErr::Type),
    }
}

fn ref_payload(m: &Map<String, Value>, stream: Option<&str>) -> R<Norm> {
    if let Some(e) = m.get("e") {
        let Value::String(e) = e else {
            return Err(RefErr::Type);
        };
        return match e.as_str() {
            "trade" => Ok(Norm::Trade {
                symbol: ref_str(m, "s")?.to_owned(),
                event_time_ms: ref_u64(m, "E")?,
                trade_id: ref_u64(m, "t")?,
                price: ref_dec(m, "p")?,
                qty: ref_dec(m, "q")?,
                trade_time_ms: ref_u64(m, "T")?,
                buyer_is_maker: ref_bool(m, "m")?,
            }),
            "aggTrade" => Ok(Norm::AggTrade {
                symbol: ref_str(m, "s")?.to_owned(),
                event_time_ms: ref_u64(m, "E")?,
                agg_trade_id: ref_u64(m, "a")?,
                price: ref_dec(m, "p")?,
                qty: ref_dec(m, "q")?,
                first_trade_id: ref_u64(m, "f")?,
                last_trade_id: ref_u64(m, "l")?,
                trade_time_ms: ref_u64(m, "T")?,
                buyer_is_maker: ref_bool(m, "m")?,
            }),
            "depthUpdate" => Ok(Norm::DepthUpdate {
                symbol: ref_str(m, "s")?.to_owned(),
                event_time_ms: ref_u64(m, "E")?,
                first_update_id: ref_u64(m, "U")?,
                last_update_id: ref_u64(m, "u")?,
                bids: ref_levels(m, "b")?,
                asks: ref_levels(m, "a")?,
            }),
            "bookTicker" => ref_book(m),
            "serverShutdown" => Ok(Norm::ServerShutdown {
                event_time_ms: ref_u64(m, "E")?,
            }),
            _ => Err(RefErr::Shape),
        };
    }
    if m.contains_key("lastUpdateId") {
        let symbol = stream
            .and_then(|s| s.split_once('@'))
            .map(|(p, _)| p)
            .filter(|p| !p.is_empty())
            .map(str::to_owned);
        return Ok(Norm::DepthSnapshot {
            symbol,
            last_update_id: ref_u64(m, "lastUpdateId")?,
            bids: ref_levels(m, "bids")?,
            asks: ref_levels(m, "asks")?,
        });
    }
    if let Some(r) = m.get("result") {
        return Ok(Norm::Result {
            id: ref_id(m)?,
            result: r.clone(),
        });
    }
    if let Some(e) = m.get("error") {
        let Value::Object(e) = e else {
            return Err(RefErr::Type);
        };
        let id = ref_id(m)?;
        let code = match field(e, "code")? {
            Value::Number(n) => n.as_i64().ok_or(RefErr::Type)?,
            _ => return Err(RefErr::Type),
        };
        let msg = ref_str(e, "msg")?.to_owned();
        return Ok(Norm::Error { id, code, msg });
    }
    if m.contains_key("u") {
        return ref_book(m);
    }
    Err(RefErr::Shape)
}

fn ref_book(m: &Map<String, Value>) -> R<Norm> {
    Ok(Norm::BookTicker {
        symbol: ref_str(m, "s")?.to_owned(),
        update_id: ref_u64(m, "u")?,
        bid_price: ref_dec(m, "b")?,
        bid_qty: ref_dec(m, "B")?,
        ask_price: ref_dec(m, "a")?,
        ask_qty: ref_dec(m, "A")?,
    })
}

/// The reference decoder: `serde_json::Value`, then the rules.
pub fn reference(input: &[u8]) -> R<NormEnv> {
    let v: Value = serde_json::from_slice(input).map_err(|_| RefErr::Json)?;
    let Value::Object(top) = v else {
        return Err(RefErr::Shape);
    };
    if let Some(data) = top.get("data") {
        let Value::Object(data) = data else {
            return Err(RefErr::Shape);
        };
        let stream = ref_str(&top, "stream")?;
        return Ok(NormEnv {
            stream: Some(stream.to_owned()),
            msg: ref_payload(data, Some(stream))?,
        });
    }
    Ok(NormEnv {
        stream: None,
        msg: ref_payload(&top, None)?,
    })
}

/// Whether serde_json rejects `input` only because a number overflows f64
/// (e.g. `1e400`). JSON's grammar allows such numbers; the fast decoder
/// checks skipped numbers against the grammar only (documented divergence).
pub fn serde_rejects_number_range(input: &[u8]) -> bool {
    serde_json::from_slice::<Value>(input)
        .err()
        .is_some_and(|e| e.to_string().starts_with("number out of range"))
}

// ---------------------------------------------------------------------------
// Fixtures.

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/binance")
}

/// Market-data fixture files: one message per `.json` file (may span lines),
/// one per line in `.jsonl`.
pub const MARKET_FIXTURES: &[&str] = &[
    "bookTicker.json",
    "bookTicker.jsonl",
    "trade.json",
    "aggTrade.json",
    "aggTrade.jsonl",
    "depthUpdate.json",
    "depthUpdate.jsonl",
    "depth20.json",
    "depth_snapshot.json",
    "depth_snapshot_BLZETH.json",
    "depth_snapshot_LRCBTC.json",
    "depth_snapshot_RUNEEUR.json",
    "stream_session_2021-10-12.jsonl",
    "stream_subscribe_response.json",
    "stream_serverShutdown_combined.json",
    "kline.json",
    "kline.jsonl",
];

/// Every message of a fixture file.
pub fn fixture_messages(name: &str) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(fixture_dir().join(name)).unwrap();
    if name.ends_with(".jsonl") {
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .map(<[u8]>::to_vec)
            .collect()
    } else {
        vec![bytes]
    }
}

/// Every message of every `.json`/`.jsonl` fixture in the directory (market
/// data or not), for the differential and fuzz corpora.
pub fn all_fixture_messages() -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json") || n.ends_with(".jsonl"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        for m in fixture_messages(&n) {
            out.push((n.clone(), m));
        }
    }
    out
}

/// Asserts the fast decoder and the reference agree on `input`: both
/// accept with equal results, or both reject. Returns whether it decoded.
pub fn check_agree(input: &[u8]) -> bool {
    let fast = talon_feed::decode::decode(input);
    let reference = reference(input);
    match (&fast, &reference) {
        (Ok(env), Ok(r)) => {
            assert_eq!(
                &from_fast(env),
                r,
                "input: {}",
                String::from_utf8_lossy(input)
            );
            true
        }
        (Err(_), Err(_)) => false,
        _ => panic!(
            "fast {:?} vs reference {:?} on input: {}",
            fast.map(|e| from_fast(&e)),
            reference,
            String::from_utf8_lossy(input)
        ),
    }
}
