//! Loopback throughput to one client (ignored by default: it measures, and
//! this machine is shared). Run:
//! `cargo test -p talon-sim --release --test throughput -- --ignored --nocapture`
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::*;
use talon_sim::SimConfig;

/// Counts text frames in a stream of server frames; returns (frames, bytes
/// consumed) and leaves a partial frame for the next call.
fn count_frames(buf: &[u8]) -> (u64, usize) {
    let mut pos = 0;
    let mut n = 0;
    loop {
        if buf.len() < pos + 2 {
            return (n, pos);
        }
        let (b0, b1) = (buf[pos], buf[pos + 1]);
        let (len, hl) = match b1 & 0x7f {
            126 if buf.len() >= pos + 4 => (
                usize::from(u16::from_be_bytes([buf[pos + 2], buf[pos + 3]])),
                4,
            ),
            127 if buf.len() >= pos + 10 => {
                let mut a = [0u8; 8];
                a.copy_from_slice(&buf[pos + 2..pos + 10]);
                (u64::from_be_bytes(a) as usize, 10)
            }
            126 | 127 => return (n, pos),
            l => (usize::from(l), 2),
        };
        if buf.len() < pos + hl + len {
            return (n, pos);
        }
        if b0 & 0x0f == 1 {
            n += 1;
        }
        pos += hl + len;
    }
}

#[test]
#[ignore = "measurement; run explicitly in release"]
#[allow(clippy::float_arithmetic, reason = "benchmark reporting only")]
fn one_client_throughput() {
    let rate: u64 = std::env::var("SIM_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let h = start(SimConfig { rate, ..cfg(rate) });
    let streams = "btcusdt@bookTicker/btcusdt@depth/btcusdt@trade/btcusdt@aggTrade/ethusdt@bookTicker/ethusdt@depth/ethusdt@trade/ethusdt@aggTrade";
    let mut c = RawWs::connect(h.local_addr(), &format!("/stream?streams={streams}"), "");
    let mut buf = std::mem::take(&mut c.buf);
    buf.reserve(4 << 20);
    let mut tmp = vec![0u8; 1 << 20];
    // Warm up 0.5 s, measure 3 s.
    let warm = Instant::now() + Duration::from_millis(500);
    let mut total = 0u64;
    let mut t0 = None;
    let mut bytes = 0u64;
    loop {
        let k = c.tcp.read(&mut tmp).unwrap();
        assert!(k > 0);
        buf.extend_from_slice(&tmp[..k]);
        let (n, used) = count_frames(&buf);
        buf.drain(..used);
        if Instant::now() >= warm {
            let t = *t0.get_or_insert_with(Instant::now);
            total += n;
            bytes += k as u64;
            if t.elapsed() >= Duration::from_secs(3) {
                break;
            }
        }
    }
    let secs = t0.unwrap().elapsed().as_secs_f64();
    let s = h.stats();
    println!(
        "rate {rate}: received {:.0} msgs/s, {:.1} MB/s (generated {}, sent {}, overruns {}, slow closes {})",
        total as f64 / secs,
        bytes as f64 / secs / 1e6,
        s.generated_messages,
        s.messages_sent,
        s.generator_overruns,
        s.slow_consumer_closes
    );
    h.stop();
}
