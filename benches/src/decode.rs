//! `decode`: nanoseconds per venue message for Talon's zero-allocation
//! decoder (`talon_feed::decode`) beside the usual alternative, serde_json,
//! in the same run, per message kind.
//!
//! Owns [`DecodeBenchConfig`] and [`run_decode_bench`].
//!
//! Inputs are combined-stream frames exactly as the feed receives them
//! (`{"stream":…,"data":{…}}`): the 84 real `bookTicker` frames of the
//! cryptofeed capture (embedded from `feed/tests/fixtures/binance/`), and
//! for `trade`, `aggTrade`, `depthUpdate` (10 levels, 5 per side) and
//! partial depth `depth20` (20 + 20 levels) 64 frames each, generated in the
//! capture's format with varying ids, prices and quantities. All of these
//! are in the venue's exact layout, so `decode` takes its venue-layout fast
//! path on them (the real case). One more case, `bookTicker, keys
//! reordered`, is the same 84 frames with the payload's keys reversed: the
//! fast path declines and the general scanner does the work.
//!
//! Each case has three rows: `talon decode` (`decode`: fast path, general
//! scanner on a decline), `talon general scanner only` (`decode_general`,
//! what `decode` costs on a frame outside the venue layout) and serde_json.
//!
//! The alternative is serde_json into typed `#[derive(Deserialize)]` structs
//! borrowing `&str` fields (no copies of the text), then
//! `rust_decimal::Decimal::from_str` for every price and quantity — what a
//! typical Rust client does (rust_decimal's serde feature is not enabled
//! here; it would parse the same strings the same way). Depth levels go into
//! a `Vec<(&str, &str)>` and then a `Vec<(Decimal, Decimal)>`, as such a
//! client would. Both sides produce the same values (checked once per case
//! before timing, so the two are known to do the same work).
//!
//! Method: each case cycles through its frames; one sample is the mean time
//! per message over a batch of [`BATCH`] messages (two clock reads per
//! batch, so the clock's cost is < 0.1 % of a sample); samples go into an
//! hdrhistogram; the rate column is messages over the summed batch time.
//! Runs alternate Talon and serde_json for each kind. The thread is pinned
//! to one core when one is available. Reports, never asserts.

use std::hint::black_box;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;
use talon_core::clock::{MonotonicClock, NanoClock};
use talon_core::num::{Price, Qty};
use talon_feed::decode::{DecodeError, Decoded, Envelope, decode, decode_general};

use crate::error::BenchError;
use crate::machine::{MachineInfo, core_ids, pin_current};
use crate::report::{BenchReport, CaseResult, Check, RunStats, Section, Target, new_histogram};

/// Messages per timed sample.
pub const BATCH: u64 = 1_000;

/// Settings of one `decode` run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeBenchConfig {
    /// Messages decoded per case per run (rounded up to whole batches).
    pub messages: u64,
    /// Messages decoded before recording (caches, branch predictors).
    pub warmup: u64,
    /// Runs; each column is the median across runs (≥ 1).
    pub runs: u32,
    /// Core to pin the benchmark thread to; `None`: the last core of this
    /// process's affinity mask (if any).
    pub core: Option<usize>,
}

impl Default for DecodeBenchConfig {
    /// 3 runs × 10 cases × 1 M messages: a few seconds in release.
    fn default() -> Self {
        Self {
            messages: 1_000_000,
            warmup: 100_000,
            runs: 3,
            core: None,
        }
    }
}

// ---------------------------------------------------------------------------
// Inputs.

const BOOK_TICKER_CAPTURE: &str =
    include_str!("../../feed/tests/fixtures/binance/bookTicker.jsonl");

/// A deterministic step (splitmix64) for the generated frames.
fn mix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `raw / 10^8` printed with 8 decimals, the venue's form.
fn dec8(raw: u64) -> String {
    format!("{}.{:08}", raw / 100_000_000, raw % 100_000_000)
}

fn levels(seed: &mut u64, n: usize, base: u64, down: bool) -> String {
    let mut out = String::from("[");
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        let step = (i as u64 + 1) * 1_000_000;
        let px = if down { base - step } else { base + step };
        let qty = mix(seed) % 500_000_000_000;
        out.push_str(&format!("[\"{}\",\"{}\"]", dec8(px), dec8(qty)));
    }
    out.push(']');
    out
}

/// Label of the bookTicker case with the payload's keys in another order
/// (the general scanner's case: the fast path declines on it).
const BOOK_SHUFFLED: &str = "bookTicker, keys reordered";

/// The same bookTicker frame with its payload keys in the order
/// `A a B b s u` (values unchanged): valid, equal, not the venue layout.
fn shuffle_book_ticker(m: &str) -> String {
    let Some((head, payload)) = m.split_once("\"data\":{") else {
        return m.to_owned();
    };
    let body = payload.trim_end_matches('}');
    let mut members: Vec<&str> = body.split(',').collect();
    members.reverse();
    format!("{head}\"data\":{{{}}}}}", members.join(","))
}

/// The frames of each case: (kind label, frames).
fn corpus() -> Vec<(&'static str, Vec<String>)> {
    let mut seed = 0x5EED_u64;
    let book: Vec<String> = BOOK_TICKER_CAPTURE
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let mut trade = Vec::new();
    let mut agg = Vec::new();
    let mut depth = Vec::new();
    let mut depth20 = Vec::new();
    for i in 0..64u64 {
        let px = 8_300_000_000_000 + mix(&mut seed) % 10_000_000_000;
        let qty = mix(&mut seed) % 100_000_000;
        let t = 1_790_649_901_913 + i * 7;
        trade.push(format!(
            r#"{{"stream":"btcusdt@trade","data":{{"e":"trade","E":{t},"s":"BTCUSDT","t":{},"p":"{}","q":"{}","T":{t},"m":{},"M":true}}}}"#,
            6_720_857_582 + i,
            dec8(px),
            dec8(qty),
            i % 2 == 0
        ));
        agg.push(format!(
            r#"{{"stream":"btcusdt@aggTrade","data":{{"e":"aggTrade","E":{t},"s":"BTCUSDT","a":{},"p":"{}","q":"{}","f":{},"l":{},"T":{t},"m":{},"M":true}}}}"#,
            15_683_430 + i,
            dec8(px),
            dec8(qty),
            19_862_790 + 2 * i,
            19_862_791 + 2 * i,
            i % 3 == 0
        ));
        depth.push(format!(
            r#"{{"stream":"btcusdt@depth@100ms","data":{{"e":"depthUpdate","E":{t},"s":"BTCUSDT","U":{},"u":{},"b":{},"a":{}}}}}"#,
            499_869_750 + 3 * i,
            499_869_752 + 3 * i,
            levels(&mut seed, 5, px, true),
            levels(&mut seed, 5, px, false),
        ));
        depth20.push(format!(
            r#"{{"stream":"btcusdt@depth20@100ms","data":{{"lastUpdateId":{},"bids":{},"asks":{}}}}}"#,
            11_655_824_136 + i,
            levels(&mut seed, 20, px, true),
            levels(&mut seed, 20, px, false),
        ));
    }
    let shuffled = book.iter().map(|m| shuffle_book_ticker(m)).collect();
    vec![
        ("bookTicker", book),
        (BOOK_SHUFFLED, shuffled),
        ("trade", trade),
        ("aggTrade", agg),
        ("depthUpdate (10 levels)", depth),
        ("depth20 (40 levels)", depth20),
    ]
}

// ---------------------------------------------------------------------------
// The serde_json alternative.

#[derive(Deserialize)]
struct Wrapper<'a, T> {
    #[serde(borrow)]
    stream: &'a str,
    data: T,
}

#[derive(Deserialize)]
struct SerdeBookTicker<'a> {
    u: u64,
    s: &'a str,
    b: &'a str,
    #[serde(rename = "B")]
    bq: &'a str,
    a: &'a str,
    #[serde(rename = "A")]
    aq: &'a str,
}

#[derive(Deserialize)]
struct SerdeTrade<'a> {
    #[serde(rename = "E")]
    event_time: u64,
    s: &'a str,
    t: u64,
    p: &'a str,
    q: &'a str,
    #[serde(rename = "T")]
    trade_time: u64,
    m: bool,
}

#[derive(Deserialize)]
struct SerdeAggTrade<'a> {
    #[serde(rename = "E")]
    event_time: u64,
    s: &'a str,
    a: u64,
    p: &'a str,
    q: &'a str,
    f: u64,
    l: u64,
    #[serde(rename = "T")]
    trade_time: u64,
    m: bool,
}

#[derive(Deserialize)]
struct SerdeDepthUpdate<'a> {
    #[serde(rename = "E")]
    event_time: u64,
    s: &'a str,
    #[serde(rename = "U")]
    first: u64,
    u: u64,
    #[serde(borrow)]
    b: Vec<(&'a str, &'a str)>,
    #[serde(borrow)]
    a: Vec<(&'a str, &'a str)>,
}

#[derive(Deserialize)]
struct SerdeDepth<'a> {
    #[serde(rename = "lastUpdateId")]
    last_update_id: u64,
    #[serde(borrow)]
    bids: Vec<(&'a str, &'a str)>,
    #[serde(borrow)]
    asks: Vec<(&'a str, &'a str)>,
}

fn dec(s: &str) -> Option<Decimal> {
    Decimal::from_str(s).ok()
}

fn dec_levels(v: &[(&str, &str)]) -> Option<Vec<(Decimal, Decimal)>> {
    v.iter().map(|(p, q)| Some((dec(p)?, dec(q)?))).collect()
}

/// What both decoders extract, for the one-time equality check and as the
/// value the timed loops consume: (ids, decimals).
type Extract = (Vec<u64>, Vec<Decimal>);

fn serde_extract(kind: &str, m: &str) -> Option<Extract> {
    Some(match kind {
        "bookTicker" | BOOK_SHUFFLED => {
            let w: Wrapper<'_, SerdeBookTicker<'_>> = serde_json::from_str(m).ok()?;
            let d = w.data;
            black_box((w.stream, d.s));
            (
                vec![d.u],
                vec![dec(d.b)?, dec(d.bq)?, dec(d.a)?, dec(d.aq)?],
            )
        }
        "trade" => {
            let w: Wrapper<'_, SerdeTrade<'_>> = serde_json::from_str(m).ok()?;
            let d = w.data;
            black_box((w.stream, d.s));
            (
                vec![d.event_time, d.t, d.trade_time, u64::from(d.m)],
                vec![dec(d.p)?, dec(d.q)?],
            )
        }
        "aggTrade" => {
            let w: Wrapper<'_, SerdeAggTrade<'_>> = serde_json::from_str(m).ok()?;
            let d = w.data;
            black_box((w.stream, d.s));
            (
                vec![d.event_time, d.a, d.f, d.l, d.trade_time, u64::from(d.m)],
                vec![dec(d.p)?, dec(d.q)?],
            )
        }
        k if k.starts_with("depthUpdate") => {
            let w: Wrapper<'_, SerdeDepthUpdate<'_>> = serde_json::from_str(m).ok()?;
            let d = w.data;
            black_box((w.stream, d.s));
            let mut v = Vec::new();
            for (p, q) in dec_levels(&d.b)?.into_iter().chain(dec_levels(&d.a)?) {
                v.push(p);
                v.push(q);
            }
            (vec![d.event_time, d.first, d.u], v)
        }
        _ => {
            let w: Wrapper<'_, SerdeDepth<'_>> = serde_json::from_str(m).ok()?;
            let d = w.data;
            black_box(w.stream);
            let mut v = Vec::new();
            for (p, q) in dec_levels(&d.bids)?.into_iter().chain(dec_levels(&d.asks)?) {
                v.push(p);
                v.push(q);
            }
            (vec![d.last_update_id], v)
        }
    })
}

fn talon_extract(m: &str) -> Option<Extract> {
    let env = decode(m.as_bytes()).ok()?;
    let pq = |p: Price, q: Qty| [p.to_decimal(), q.to_decimal()];
    Some(match env.message {
        Decoded::BookTicker(t) => (
            vec![t.update_id],
            [pq(t.bid_price, t.bid_qty), pq(t.ask_price, t.ask_qty)].concat(),
        ),
        Decoded::Trade(t) => (
            vec![
                t.event_time_ms,
                t.trade_id,
                t.trade_time_ms,
                u64::from(t.buyer_is_maker),
            ],
            pq(t.price, t.qty).to_vec(),
        ),
        Decoded::AggTrade(t) => (
            vec![
                t.event_time_ms,
                t.agg_trade_id,
                t.first_trade_id,
                t.last_trade_id,
                t.trade_time_ms,
                u64::from(t.buyer_is_maker),
            ],
            pq(t.price, t.qty).to_vec(),
        ),
        Decoded::DepthUpdate(d) => (
            vec![d.event_time_ms, d.first_update_id, d.last_update_id],
            d.bids
                .iter()
                .chain(d.asks.iter())
                .flat_map(|(p, q)| pq(p, q))
                .collect(),
        ),
        Decoded::DepthSnapshot(d) => (
            vec![d.last_update_id],
            d.bids
                .iter()
                .chain(d.asks.iter())
                .flat_map(|(p, q)| pq(p, q))
                .collect(),
        ),
        Decoded::Control(_) => return None,
    })
}

/// The timed work of one Talon decode: decode, and for depth, walk the
/// levels (as the feed does when applying them); returns a value to sink.
#[inline]
fn talon_once(m: &[u8]) -> i64 {
    consume(decode(m))
}

/// As [`talon_once`] with the general scanner only (no venue fast path).
#[inline]
fn general_once(m: &[u8]) -> i64 {
    consume(decode_general(m))
}

#[inline]
fn consume(r: Result<Envelope<'_>, DecodeError>) -> i64 {
    match r {
        Ok(env) => match env.message {
            Decoded::BookTicker(t) => t.bid_price.raw() ^ t.ask_qty.raw() ^ t.update_id as i64,
            Decoded::Trade(t) => t.price.raw() ^ t.trade_id as i64,
            Decoded::AggTrade(t) => t.price.raw() ^ t.agg_trade_id as i64,
            Decoded::DepthUpdate(d) => d
                .bids
                .iter()
                .chain(d.asks.iter())
                .fold(d.last_update_id as i64, |a, (p, q)| a ^ p.raw() ^ q.raw()),
            Decoded::DepthSnapshot(d) => d
                .bids
                .iter()
                .chain(d.asks.iter())
                .fold(d.last_update_id as i64, |a, (p, q)| a ^ p.raw() ^ q.raw()),
            Decoded::Control(_) => 0,
        },
        Err(e) => e as i64,
    }
}

#[inline]
fn serde_once(kind: &str, m: &str) -> i64 {
    match serde_extract(kind, m) {
        Some((ids, decs)) => ids.len() as i64 ^ decs.len() as i64,
        None => -1,
    }
}

// ---------------------------------------------------------------------------
// Measurement.

/// One run of one case: per-batch mean ns/message into a histogram, and the
/// overall rate.
fn measure(
    cfg: &DecodeBenchConfig,
    clock: &MonotonicClock,
    frames: &[String],
    mut f: impl FnMut(&str) -> i64,
) -> Result<RunStats, BenchError> {
    let mut hist = new_histogram()?;
    let mut sink = 0i64;
    let n = frames.len();
    let mut i = 0usize;
    for _ in 0..cfg.warmup {
        sink ^= f(&frames[i]);
        i = if i + 1 == n { 0 } else { i + 1 };
    }
    let batches = cfg.messages.div_ceil(BATCH).max(1);
    let mut total_ns = 0u64;
    for _ in 0..batches {
        let t0 = clock.now().0;
        for _ in 0..BATCH {
            sink ^= f(&frames[i]);
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        let dt = clock.now().0.saturating_sub(t0);
        total_ns = total_ns.saturating_add(dt);
        // Mean per message in this batch, rounded to the nearest ns (≥ 1).
        hist.saturating_record(((dt + BATCH / 2) / BATCH).max(1));
    }
    black_box(sink);
    let msgs = batches * BATCH;
    let rate = if total_ns == 0 {
        None
    } else {
        Some(msgs as f64 * 1e9 / total_ns as f64)
    };
    Ok(RunStats::from_histogram(&hist, rate))
}

const TALON: &str = "talon decode";
const GENERAL: &str = "talon general scanner only";
const SERDE: &str = "serde_json + Decimal";

/// Runs the decode benchmark and returns its report.
pub fn run_decode_bench(cfg: &DecodeBenchConfig) -> Result<BenchReport, BenchError> {
    if cfg.runs == 0 {
        return Err(BenchError::InvalidConfig("runs must be at least 1"));
    }
    if cfg.messages == 0 {
        return Err(BenchError::InvalidConfig("messages must be at least 1"));
    }
    let machine = MachineInfo::collect();
    let pinned = match cfg.core.or_else(|| core_ids().last().copied()) {
        Some(core) => {
            pin_current(core)?;
            Some(core)
        }
        None => None,
    };
    let clock = MonotonicClock::new();
    let corpus = corpus();

    // Both decoders must agree on every frame before anything is timed.
    for (kind, frames) in &corpus {
        for m in frames {
            let t = talon_extract(m);
            if t.is_none() || t != serde_extract(kind, m) {
                return Err(BenchError::InvalidConfig(
                    "talon and serde_json disagree on a benchmark frame",
                ));
            }
            if decode(m.as_bytes()) != decode_general(m.as_bytes()) {
                return Err(BenchError::InvalidConfig(
                    "talon's fast path and general scanner disagree on a benchmark frame",
                ));
            }
        }
    }

    let mut sections = Vec::new();
    for (kind, frames) in &corpus {
        let mut talon_runs = Vec::new();
        let mut general_runs = Vec::new();
        let mut serde_runs = Vec::new();
        for _ in 0..cfg.runs {
            talon_runs.push(measure(cfg, &clock, frames, |m| talon_once(m.as_bytes()))?);
            general_runs.push(measure(cfg, &clock, frames, |m| {
                general_once(m.as_bytes())
            })?);
            serde_runs.push(measure(cfg, &clock, frames, |m| serde_once(kind, m))?);
        }
        let bytes: usize = frames.iter().map(String::len).sum::<usize>() / frames.len().max(1);
        let mut s = Section::new(
            format!(
                "{kind}: ns per message (mean frame {bytes} B, {} frames)",
                frames.len()
            ),
            SERDE,
            vec![
                CaseResult::new(TALON, talon_runs),
                CaseResult::new(GENERAL, general_runs),
                CaseResult::new(SERDE, serde_runs),
            ],
        );
        let speedup = s.ops_ratio(TALON, SERDE);
        let rate = s.case(TALON).and_then(|c| c.median.ops_per_sec);
        let is_book = *kind == "bookTicker";
        s.checks.push(Check::new(
            "fast path gain (talon rate / general scanner rate)",
            s.ops_ratio(TALON, GENERAL),
            "x",
            None,
        ));
        s.checks.push(Check::new(
            "speedup (talon rate / serde_json rate)",
            speedup,
            "x",
            is_book.then(|| Target::at_least(5.0)),
        ));
        s.checks.push(Check::new(
            "talon messages/s on one core (millions)",
            rate.map(|r| r / 1e6),
            " M/s",
            is_book.then(|| Target::at_least(10.0)),
        ));
        sections.push(s);
    }

    Ok(BenchReport {
        title: "decode".to_owned(),
        machine,
        runs: cfg.runs,
        notes: vec![
            format!(
                "inputs: combined-stream frames as received; bookTicker = the 84 real frames of the 2021-10-12 capture, other kinds 64 generated frames each; {} messages per case per run after {} warm-up",
                cfg.messages.div_ceil(BATCH).max(1) * BATCH,
                cfg.warmup
            ),
            format!(
                "one sample = mean ns/message over a batch of {BATCH} (two clock reads per batch); ops/s = messages / summed batch time; thread pinned to core {}",
                pinned.map_or_else(|| "none".to_owned(), |c| c.to_string())
            ),
            "talon decode: talon_feed::decode::decode (zero allocation, exact fixed point): the venue-layout fast path (keys matched literally in the venue's order, declines to the general scanner on any mismatch), else the general scanner; depth levels are iterated (parsed) as the feed does".to_owned(),
            "talon general scanner only: talon_feed::decode::decode_general (any key order, full JSON validation) on the same frames; 'keys reordered' = the bookTicker frames with payload keys reversed (fast path declines)".to_owned(),
            "serde_json + Decimal: serde_json::from_str into #[derive(Deserialize)] structs borrowing &str fields, then rust_decimal::Decimal::from_str per price/qty (depth: Vec<(&str,&str)> then Vec<(Decimal,Decimal)>); values checked equal to talon's before timing".to_owned(),
            "ratio column: p50 / serde_json p50 (lower is faster); speedup check: rate ratio".to_owned(),
        ],
        sections,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn both_decoders_agree_on_every_bench_frame() {
        for (kind, frames) in corpus() {
            assert!(!frames.is_empty());
            for m in &frames {
                let t = talon_extract(m).unwrap();
                assert_eq!(Some(t), serde_extract(kind, m), "{kind}: {m}");
            }
        }
    }

    #[test]
    fn venue_frames_take_the_fast_path_and_shuffled_ones_do_not() {
        use talon_feed::decode::decode_venue_layout;
        for (kind, frames) in corpus() {
            for m in &frames {
                let fast = decode_venue_layout(m.as_bytes());
                if kind == BOOK_SHUFFLED {
                    assert!(fast.is_none(), "{m}");
                } else {
                    assert_eq!(fast.map(Ok), Some(decode_general(m.as_bytes())), "{m}");
                }
            }
        }
    }

    #[test]
    fn tiny_run_produces_a_report_with_every_kind() {
        let cfg = DecodeBenchConfig {
            messages: 2_000,
            warmup: 100,
            runs: 1,
            core: None,
        };
        let r = run_decode_bench(&cfg).unwrap();
        assert_eq!(r.sections.len(), 6);
        for s in &r.sections {
            assert_eq!(s.cases.len(), 3);
            assert!(s.cases.iter().all(|c| c.median.samples == 2));
        }
        let md = r.to_markdown();
        assert!(md.contains("bookTicker"));
        assert!(md.contains("speedup"));
    }
}
