//! `gateway` (round-trip part): order → ack through Talon's gateway against
//! the simulator over loopback, beside a bare loopback TCP round trip of the
//! same size measured in the same run.
//!
//! Owns [`GatewayRoundTripConfig`] and [`roundtrip_section`] (a [`Section`]
//! to put beside the encode table of [`crate::gateway_encode`] in the
//! `gateway` report).
//!
//! * **talon gateway → sim**: an in-process `talon_sim::Simulator` (the
//!   generator paused, ORDERS limits raised so the limiter never holds a
//!   sample back; the gateway reads them from `exchangeInfo`) and a
//!   `GatewayAgent` driven on this thread by an `AgentInvoker`. One sample =
//!   an `OrderCommand` (LIMIT GTC BUY far below the market) pushed onto the
//!   order ring → duty cycles → the `New` exec report popped from the exec
//!   ring. It covers ring hops, encode + HMAC, the socket write, the
//!   simulator's parse, signature check, matching and reply (the simulator
//!   runs threads with blocking sockets and allocates: it is the venue, not
//!   Talon), the read, decode and the exec-ring push. Each acked order is
//!   cancelled, untimed, so the book never fills up.
//! * **bare TCP echo**: a blocking echo server thread on 127.0.0.1; one
//!   sample = write `frame_bytes` (the size of a signed `order.place`
//!   frame), read them back. The floor any loopback round trip pays.
//!
//! Reports, never asserts.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use talon_core::agent::{AgentInvoker, Runtime};
use talon_core::clock::{MonotonicClock, NanoClock};
use talon_core::event::{
    ClientOrderId, ExecReport, OrderCommand, OrderStatus, OrderType, Side, TimeInForce,
};
use talon_core::halt::HaltFlag;
use talon_core::instrument::{Filters, InstrumentSpec, InstrumentTable, Symbol};
use talon_core::num::{Price, Qty};
use talon_core::ring::ring;
use talon_gateway::agent::GatewayAgent;
use talon_gateway::config::{AuthSecret, Credentials, Endpoint, GatewayConfig, Secret};
use talon_sim::config::{DEMO_API_KEY, DEMO_SECRET};
use talon_sim::{SimConfig, Simulator};

use crate::error::BenchError;
use crate::report::{CaseResult, RunStats, Section, new_histogram};

/// Case names.
pub const GATEWAY_CASE: &str = "talon gateway → sim (order → ack)";
/// The bare loopback TCP case.
pub const TCP_CASE: &str = "bare loopback TCP echo";

/// Settings of the round-trip section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatewayRoundTripConfig {
    /// Timed round trips per case per run.
    pub samples: u64,
    /// Untimed round trips first.
    pub warmup: u64,
    /// Runs (the table shows the median of runs).
    pub runs: usize,
    /// Bytes per TCP echo (a signed order.place frame is ~450–600 B).
    pub frame_bytes: usize,
}

impl Default for GatewayRoundTripConfig {
    fn default() -> Self {
        GatewayRoundTripConfig {
            samples: 2_000,
            warmup: 200,
            runs: 3,
            frame_bytes: 512,
        }
    }
}

fn io(what: &'static str, e: impl std::fmt::Display) -> BenchError {
    BenchError::Io {
        what,
        path: "127.0.0.1".into(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// One run of the gateway case.
fn gateway_run(cfg: &GatewayRoundTripConfig, seq0: u64) -> Result<RunStats, BenchError> {
    let mut sc = SimConfig {
        start_paused: true,
        ..SimConfig::default()
    };
    sc.rate_limits.orders_per_10s = 1_000_000;
    sc.rate_limits.orders_per_day = 100_000_000;
    sc.rate_limits.weight_per_minute = 10_000_000;
    let sim = Simulator::start(sc).map_err(|e| io("simulator start", e))?;
    let mut table = InstrumentTable::new();
    let btc = table
        .insert(InstrumentSpec {
            symbol: Symbol::new("BTCUSDT").map_err(|e| io("symbol", e))?,
            base_asset: Symbol::new("BTC").map_err(|e| io("symbol", e))?,
            quote_asset: Symbol::new("USDT").map_err(|e| io("symbol", e))?,
            filters: Filters::default(),
        })
        .map_err(|e| io("instrument", e))?;
    let mut gc = GatewayConfig::new(
        Endpoint::Sim {
            ws_base: sim.ws_base(),
            tls_root_der: None,
        },
        &["BTCUSDT"],
    );
    gc.credentials = Some(Credentials {
        api_key: DEMO_API_KEY.into(),
        auth: AuthSecret::Hmac(Secret::new(DEMO_SECRET.as_bytes().to_vec())),
    });
    gc.session_id = 7;
    let (mut orders, orders_rx) = ring::<OrderCommand>("order", 1024);
    let (exec_tx, mut exec) = ring::<ExecReport>("exec", 1 << 12);
    let agent = GatewayAgent::new(
        gc,
        &table,
        orders_rx,
        exec_tx,
        Arc::new(HaltFlag::new()),
        MonotonicClock::new(),
    )
    .map_err(|e| io("gateway", e))?;
    let mut inv = AgentInvoker::new(agent, &Runtime::new());
    inv.start().map_err(|e| io("gateway start", e))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !inv.agent().is_ready() {
        if Instant::now() > deadline {
            return Err(io("gateway session", "not ready within 20 s"));
        }
        inv.invoke().map_err(|e| io("gateway cycle", e))?;
    }
    let clock = MonotonicClock::new();
    let mut hist = new_histogram()?;
    let price = Price::parse("30000").map_err(|e| io("price", e))?;
    let qty = Qty::parse("0.001").map_err(|e| io("qty", e))?;
    let total = cfg.warmup + cfg.samples;
    let started = Instant::now();
    for i in 0..total {
        let id = ClientOrderId::from_session_seq(7, seq0 + i);
        let cmd = OrderCommand::new_order(
            btc,
            Side::Buy,
            OrderType::Limit,
            TimeInForce::Gtc,
            price,
            qty,
            id,
        );
        let t0 = clock.now();
        if orders.push(cmd).is_err() {
            return Err(io("order ring", "full"));
        }
        let mut acked = false;
        let stop = Instant::now() + Duration::from_secs(5);
        while !acked {
            inv.invoke().map_err(|e| io("gateway cycle", e))?;
            while let Some(r) = exec.pop() {
                if r.client_order_id == id && r.status == OrderStatus::New {
                    acked = true;
                } else if r.client_order_id == id && r.status.is_terminal() {
                    return Err(io(
                        "order",
                        format!("{id} ended {:?} code {}", r.status, r.reject_code),
                    ));
                }
            }
            if !acked && Instant::now() > stop {
                return Err(io("order", "no ack within 5 s"));
            }
        }
        let t1 = clock.now();
        if i >= cfg.warmup {
            hist.record(t1.0.saturating_sub(t0.0).max(1))
                .map_err(|e| io("histogram", e))?;
        }
        // Untimed: cancel and wait for it, so orders never pile up.
        if orders.push(OrderCommand::cancel(btc, id)).is_err() {
            return Err(io("order ring", "full"));
        }
        let mut done = false;
        while !done {
            inv.invoke().map_err(|e| io("gateway cycle", e))?;
            while let Some(r) = exec.pop() {
                done |= r.client_order_id == id && r.status.is_terminal();
            }
            if !done && Instant::now() > stop {
                return Err(io("cancel", "no cancel within 5 s"));
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    inv.close();
    sim.stop();
    Ok(RunStats::from_histogram(&hist, Some(total as f64 / secs)))
}

/// One run of the bare TCP echo case.
fn tcp_run(cfg: &GatewayRoundTripConfig) -> Result<RunStats, BenchError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| io("tcp bind", e))?;
    let addr = listener.local_addr().map_err(|e| io("tcp addr", e))?;
    let n = cfg.frame_bytes;
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = vec![0u8; n];
        loop {
            match s.read_exact(&mut buf) {
                Ok(()) => s.write_all(&buf)?,
                Err(_) => return Ok(()),
            }
        }
    });
    let mut c = TcpStream::connect(addr).map_err(|e| io("tcp connect", e))?;
    c.set_nodelay(true).map_err(|e| io("tcp nodelay", e))?;
    let out = vec![b'x'; n];
    let mut back = vec![0u8; n];
    let clock = MonotonicClock::new();
    let mut hist = new_histogram()?;
    let total = cfg.warmup + cfg.samples;
    let started = Instant::now();
    for i in 0..total {
        let t0 = clock.now();
        c.write_all(&out).map_err(|e| io("tcp write", e))?;
        c.read_exact(&mut back).map_err(|e| io("tcp read", e))?;
        let t1 = clock.now();
        if i >= cfg.warmup {
            hist.record(t1.0.saturating_sub(t0.0).max(1))
                .map_err(|e| io("histogram", e))?;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    drop(c);
    let _ = server.join();
    Ok(RunStats::from_histogram(&hist, Some(total as f64 / secs)))
}

/// The round-trip table: the gateway's order → ack against the in-process
/// simulator beside a bare loopback TCP echo of `frame_bytes`, both
/// measured in this run (median of `runs`; ratio column against the TCP
/// floor).
pub fn roundtrip_section(cfg: &GatewayRoundTripConfig) -> Result<Section, BenchError> {
    if cfg.runs == 0 || cfg.samples == 0 {
        return Err(BenchError::InvalidConfig(
            "runs and samples must be at least 1",
        ));
    }
    if cfg.frame_bytes == 0 {
        return Err(BenchError::InvalidConfig("frame_bytes must be at least 1"));
    }
    let mut gw = Vec::new();
    let mut tcp = Vec::new();
    for r in 0..cfg.runs {
        let seq0 = 1 + (r as u64) * (cfg.warmup + cfg.samples);
        gw.push(gateway_run(cfg, seq0)?);
        tcp.push(tcp_run(cfg)?);
    }
    Ok(Section::new(
        "order → ack round trip over loopback (ns)",
        TCP_CASE,
        vec![
            CaseResult::new(TCP_CASE, tcp),
            CaseResult::new(GATEWAY_CASE, gw),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_run_measures_both_cases() {
        let cfg = GatewayRoundTripConfig {
            samples: 20,
            warmup: 5,
            runs: 1,
            frame_bytes: 512,
        };
        let s = roundtrip_section(&cfg).expect("section");
        for case in [TCP_CASE, GATEWAY_CASE] {
            let c = s.case(case).expect("case");
            assert_eq!(c.median.samples, 20, "{case}");
            assert!(c.median.p50 > 0, "{case}");
        }
        assert!(roundtrip_section(&GatewayRoundTripConfig { runs: 0, ..cfg }).is_err());
    }
}
