//! `gateway` (encode part): nanoseconds to encode and sign one `order.place`
//! with Talon's [`RequestEncoder`] + [`HmacSigner`], beside the usual
//! alternative in the same run.
//!
//! Owns [`GatewayEncodeConfig`], [`encode_sign_section`] and
//! [`run_gateway_encode_bench`] (what `talon bench gateway` and
//! `cargo bench -p talon-benches --bench gateway` print today). The report
//! is built from [`Section`]s so the order → ack round trip against
//! `talon sim` (issue part 6, second half) is added as a second section of
//! the same report by a sibling function, not by changing this one.
//!
//! Both sides build the same request: a signed WS API `order.place`
//! (LIMIT GTC / MARKET / LIMIT_MAKER, `newClientOrderId`,
//! `newOrderRespType=RESULT`, `recvWindow`, `timestamp`, `apiKey`,
//! `signature`) for a corpus of 64 orders with varying side, type, price,
//! quantity, id and timestamp. Before anything is timed, every order's two
//! frames are parsed with serde_json and must be equal, signature included.
//!
//! * **talon**: `RequestEncoder::order_place` into its pre-sized buffer: the
//!   params written once in sorted order with the `k=v&…` payload built in
//!   the same pass, HMAC from the precomputed keyed state, hex by table. No
//!   allocation.
//! * **serde_json + format! + hmac**: what a typical Rust client does: price
//!   and quantity via `to_string()`, the sorted payload via `format!`, a
//!   fresh `Hmac::<Sha256>::new_from_slice(secret)` per request, hex via
//!   `format!("{:x}")`, then a `#[derive(Serialize)]` request struct through
//!   `serde_json::to_vec`.
//!
//! Method: each sample is one order, timed with a clock read before and
//! after (the clock's own cost is printed as a row); samples go into an
//! hdrhistogram. The rate column comes from a separate loop of
//! [`THROUGHPUT_BATCH`]-order batches without per-order clock reads. Runs
//! alternate talon and the alternative; the thread is pinned to one core
//! when one is available. Reports, never asserts.

use std::hint::black_box;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use talon_core::clock::{MonotonicClock, NanoClock};
use talon_core::event::{ClientOrderId, OrderCommand, OrderType, Side, TimeInForce};
use talon_core::instrument::InstrumentId;
use talon_core::num::{Price, Qty};
use talon_gateway::request::{Auth, RequestEncoder};
use talon_gateway::sign::HmacSigner;

use crate::error::BenchError;
use crate::gateway_roundtrip::{GatewayRoundTripConfig, roundtrip_section};
use crate::machine::{MachineInfo, core_ids, pin_current};
use crate::report::{BenchReport, CaseResult, Check, RunStats, Section, Target, new_histogram};
use crate::ring::{CLOCK_ROW, clock_overhead};

/// Orders per timed batch of the throughput loop.
pub const THROUGHPUT_BATCH: u64 = 1_000;

/// The venue's documented example secret and API key (binance-protocol.md §2).
const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const SYMBOL: &str = "BTCUSDT";
const RECV_WINDOW: u32 = 5000;
const TS0: u64 = 1_700_000_000_000;

/// Settings of one encode + sign run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayEncodeConfig {
    /// Orders timed per case per run.
    pub orders: u64,
    /// Orders encoded before recording (caches, branch predictors).
    pub warmup: u64,
    /// Runs; each column is the median across runs (≥ 1).
    pub runs: u32,
    /// Core to pin the benchmark thread to; `None`: the last core of this
    /// process's affinity mask (if any).
    pub core: Option<usize>,
    /// The order → ack round trip against the simulator (second table);
    /// `None` skips it.
    pub roundtrip: Option<GatewayRoundTripConfig>,
}

impl Default for GatewayEncodeConfig {
    /// 3 runs × 2 cases × 200 k orders (+ the throughput loop): a few
    /// seconds in release.
    fn default() -> Self {
        Self {
            orders: 200_000,
            warmup: 20_000,
            runs: 3,
            core: None,
            roundtrip: Some(GatewayRoundTripConfig::default()),
        }
    }
}

/// The orders both sides encode.
fn corpus() -> Vec<OrderCommand> {
    (0..64u64)
        .map(|i| {
            let order_type = match i % 8 {
                0 => OrderType::Market,
                1 => OrderType::LimitMaker,
                _ => OrderType::Limit,
            };
            let price = if order_type == OrderType::Market {
                Price::ZERO
            } else {
                // 65 000 .. 65 630 in steps of 10.
                Price::from_raw(6_500_000_000_000 + (i as i64) * 1_000_000_000)
            };
            OrderCommand::new_order(
                InstrumentId(1),
                if i % 2 == 0 { Side::Buy } else { Side::Sell },
                order_type,
                TimeInForce::ALL[(i % 3) as usize],
                price,
                Qty::from_raw(100_000 + (i as i64) * 37_000),
                ClientOrderId::from_session_seq(7, 1_000 + i),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The usual alternative.

/// The request as a typical client declares it.
#[derive(Serialize)]
struct SerdeRequest<'a> {
    id: u64,
    method: &'static str,
    params: SerdeParams<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SerdeParams<'a> {
    api_key: &'a str,
    new_client_order_id: &'a str,
    new_order_resp_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<String>,
    quantity: String,
    recv_window: u32,
    side: &'static str,
    symbol: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_in_force: Option<&'static str>,
    timestamp: u64,
    #[serde(rename = "type")]
    order_type: &'static str,
    signature: String,
}

fn side_str(s: Side) -> &'static str {
    match s {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

fn type_str(t: OrderType) -> &'static str {
    match t {
        OrderType::Limit => "LIMIT",
        OrderType::Market => "MARKET",
        OrderType::LimitMaker => "LIMIT_MAKER",
    }
}

fn tif_str(t: TimeInForce) -> &'static str {
    match t {
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::Fok => "FOK",
    }
}

/// One `order.place` the usual way. `None` only if HMAC rejected the key
/// length (it never does) or serde_json failed.
fn serde_order_place(id: u64, cmd: &OrderCommand, timestamp: u64) -> Option<Vec<u8>> {
    let price = (cmd.order_type != OrderType::Market).then(|| cmd.price.to_string());
    let quantity = cmd.qty.to_string();
    let tif = (cmd.order_type == OrderType::Limit).then(|| tif_str(cmd.time_in_force));
    let client_id = cmd.client_order_id.as_str();
    let side = side_str(cmd.side);
    let order_type = type_str(cmd.order_type);
    let payload = format!(
        "apiKey={API_KEY}&newClientOrderId={client_id}&newOrderRespType=RESULT{}&quantity={quantity}&recvWindow={RECV_WINDOW}&side={side}&symbol={SYMBOL}{}&timestamp={timestamp}&type={order_type}",
        price
            .as_ref()
            .map_or(String::new(), |p| format!("&price={p}")),
        tif.map_or(String::new(), |t| format!("&timeInForce={t}")),
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).ok()?;
    mac.update(payload.as_bytes());
    let signature = format!("{:x}", mac.finalize().into_bytes());
    let req = SerdeRequest {
        id,
        method: "order.place",
        params: SerdeParams {
            api_key: API_KEY,
            new_client_order_id: client_id,
            new_order_resp_type: "RESULT",
            price,
            quantity,
            recv_window: RECV_WINDOW,
            side,
            symbol: SYMBOL,
            time_in_force: tif,
            timestamp,
            order_type,
            signature,
        },
    };
    serde_json::to_vec(&req).ok()
}

// ---------------------------------------------------------------------------
// Measurement.

const TALON: &str = "talon RequestEncoder + HmacSigner";
const SERDE: &str = "serde_json + format! + hmac";

/// One run of one case: per-order latency into a histogram, then the
/// throughput loop. `f(i)` encodes order `i` and returns a length to sink.
fn measure(
    cfg: &GatewayEncodeConfig,
    clock: &MonotonicClock,
    mut f: impl FnMut(u64) -> usize,
) -> Result<RunStats, BenchError> {
    let mut hist = new_histogram()?;
    let mut sink = 0usize;
    for i in 0..cfg.warmup {
        sink ^= f(i);
    }
    for i in 0..cfg.orders {
        let t0 = clock.now().0;
        sink ^= f(i);
        let dt = clock.now().0.saturating_sub(t0);
        hist.saturating_record(dt.max(1));
    }
    let batches = cfg.orders.div_ceil(THROUGHPUT_BATCH).max(1);
    let t0 = clock.now().0;
    for b in 0..batches {
        for j in 0..THROUGHPUT_BATCH {
            sink ^= f(b * THROUGHPUT_BATCH + j);
        }
    }
    let total = clock.now().0.saturating_sub(t0);
    black_box(sink);
    let rate = (total > 0).then(|| (batches * THROUGHPUT_BATCH) as f64 * 1e9 / total as f64);
    Ok(RunStats::from_histogram(&hist, rate))
}

/// Checks that both sides produce the same request for every order.
fn check_equal(
    enc: &mut RequestEncoder,
    auth: &Auth<'_>,
    orders: &[OrderCommand],
) -> Result<(), BenchError> {
    for (i, cmd) in orders.iter().enumerate() {
        let ts = TS0 + i as u64;
        let talon = enc
            .order_place(i as u64, SYMBOL, cmd, ts, RECV_WINDOW, auth)
            .map_err(|_| BenchError::InvalidConfig("talon could not encode a benchmark order"))?;
        let a: serde_json::Value = serde_json::from_slice(talon)
            .map_err(|_| BenchError::InvalidConfig("talon's request is not JSON"))?;
        let other = serde_order_place(i as u64, cmd, ts)
            .ok_or(BenchError::InvalidConfig("the serde alternative failed"))?;
        let b: serde_json::Value = serde_json::from_slice(&other)
            .map_err(|_| BenchError::InvalidConfig("the serde request is not JSON"))?;
        if a != b {
            return Err(BenchError::InvalidConfig(
                "talon and the serde alternative build different requests",
            ));
        }
    }
    Ok(())
}

/// The encode + sign table: talon beside the alternative (and the clock
/// row), with the targets as checks. The caller pins the thread.
pub fn encode_sign_section(cfg: &GatewayEncodeConfig) -> Result<Section, BenchError> {
    if cfg.runs == 0 {
        return Err(BenchError::InvalidConfig("runs must be at least 1"));
    }
    if cfg.orders == 0 {
        return Err(BenchError::InvalidConfig("orders must be at least 1"));
    }
    let clock = MonotonicClock::new();
    let orders = corpus();
    let n = orders.len() as u64;
    let signer = HmacSigner::new(SECRET.as_bytes());
    let auth = Auth::Hmac {
        api_key: API_KEY,
        signer: &signer,
    };
    let mut enc = RequestEncoder::new(1024);
    check_equal(&mut enc, &auth, &orders)?;

    let mut talon_runs = Vec::new();
    let mut serde_runs = Vec::new();
    let mut clock_runs = Vec::new();
    for _ in 0..cfg.runs {
        talon_runs.push(measure(cfg, &clock, |i| {
            let cmd = &orders[(i % n) as usize];
            enc.order_place(i, SYMBOL, cmd, TS0 + i, RECV_WINDOW, &auth)
                .map_or(0, <[u8]>::len)
        })?);
        serde_runs.push(measure(cfg, &clock, |i| {
            let cmd = &orders[(i % n) as usize];
            serde_order_place(i, cmd, TS0 + i).map_or(0, |v| v.len())
        })?);
        clock_runs.push(clock_overhead(cfg.orders)?);
    }
    let mut s = Section::new(
        "encode + sign one order.place (ns per order)",
        SERDE,
        vec![
            CaseResult::new(TALON, talon_runs),
            CaseResult::new(SERDE, serde_runs),
        ],
    );
    s.push_unrated(CaseResult::new(CLOCK_ROW, clock_runs));
    let talon_p50 = s.case(TALON).map(|c| c.median.p50 as f64);
    s.checks.push(Check::new(
        "talon p50 (encode + sign)",
        talon_p50,
        "ns",
        Some(Target::at_most(600.0)),
    ));
    s.checks.push(Check::new(
        "speedup (serde p50 / talon p50)",
        s.p50_ratio(SERDE, TALON),
        "x",
        Some(Target::at_least(2.0)),
    ));
    s.checks.push(Check::new(
        "speedup (talon rate / serde rate)",
        s.ops_ratio(TALON, SERDE),
        "x",
        None,
    ));
    Ok(s)
}

/// Method notes for the encode section.
fn encode_notes(cfg: &GatewayEncodeConfig, pinned: Option<usize>) -> Vec<String> {
    vec![
        format!(
            "request: signed WS API order.place for 64 orders (LIMIT/MARKET/LIMIT_MAKER, BUY/SELL, GTC/IOC/FOK), BTCUSDT, newOrderRespType=RESULT, recvWindow, HMAC-SHA256 with the venue's documented example key; both sides' frames parsed and checked equal (signature included) before timing; {} orders timed per case per run after {} warm-up",
            cfg.orders, cfg.warmup
        ),
        format!(
            "one sample = one order between two clock reads (the clock row is that cost alone; it is inside every sample); ops/s from a separate loop of {THROUGHPUT_BATCH}-order batches without per-order clock reads; thread pinned to core {}",
            pinned.map_or_else(|| "none".to_owned(), |c| c.to_string())
        ),
        "talon: RequestEncoder::order_place into a pre-sized buffer, params written once in sorted (signing) order with the k=v payload built in the same pass, HMAC cloned from a precomputed keyed state, hex by table; no allocation".to_owned(),
        "serde_json + format! + hmac: Price/Qty to_string, payload via format!, Hmac::<Sha256>::new_from_slice(secret) per request, hex via format!(\"{:x}\"), #[derive(Serialize)] request struct through serde_json::to_vec".to_owned(),
        "ratio column: p50 / serde p50 (lower is faster)".to_owned(),
    ]
}

/// Runs the encode + sign benchmark and returns its report (title
/// `gateway`), with the order → ack round trip beside it unless
/// `cfg.roundtrip` is `None`.
pub fn run_gateway_encode_bench(cfg: &GatewayEncodeConfig) -> Result<BenchReport, BenchError> {
    let machine = MachineInfo::collect();
    let pinned = match cfg.core.or_else(|| core_ids().last().copied()) {
        Some(core) => {
            pin_current(core)?;
            Some(core)
        }
        None => None,
    };
    let mut sections = vec![encode_sign_section(cfg)?];
    let mut notes = encode_notes(cfg, pinned);
    if let Some(rt) = &cfg.roundtrip {
        sections.push(roundtrip_section(rt)?);
        notes.push(format!(
            "round trip: an in-process talon_sim::Simulator (the same code as `talon sim`) on 127.0.0.1, its generator paused; the GatewayAgent driven on this thread by an AgentInvoker; one sample = OrderCommand on the order ring → New exec report off the exec ring (LIMIT GTC far from the market, cancelled untimed); beside a blocking TCP echo of {} B on 127.0.0.1 in the same run; {} samples per case per run after {} warm-up, {} runs",
            rt.frame_bytes, rt.samples, rt.warmup, rt.runs
        ));
    }
    Ok(BenchReport {
        title: "gateway".to_owned(),
        machine,
        runs: cfg.runs,
        notes,
        sections,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn both_sides_build_the_same_requests() {
        let signer = HmacSigner::new(SECRET.as_bytes());
        let auth = Auth::Hmac {
            api_key: API_KEY,
            signer: &signer,
        };
        let mut enc = RequestEncoder::new(1024);
        let orders = corpus();
        check_equal(&mut enc, &auth, &orders).unwrap();
        // The corpus covers every order type.
        for t in OrderType::ALL {
            assert!(orders.iter().any(|o| o.order_type == *t));
        }
    }

    #[test]
    fn a_tiny_run_produces_a_report_with_both_cases_and_the_checks() {
        let cfg = GatewayEncodeConfig {
            orders: 200,
            warmup: 10,
            runs: 1,
            core: None,
            roundtrip: None,
        };
        let s = encode_sign_section(&cfg).unwrap();
        assert_eq!(s.cases.len(), 3);
        assert!(s.case(TALON).unwrap().median.samples == 200);
        assert!(s.case(SERDE).unwrap().median.ops_per_sec.is_some());
        assert_eq!(s.checks.len(), 3);
        assert!(s.checks.iter().all(|c| c.value.is_some()));
        let bad = GatewayEncodeConfig { runs: 0, ..cfg };
        assert!(encode_sign_section(&bad).is_err());
    }
}
