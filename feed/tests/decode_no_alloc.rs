//! The decoder allocates nothing: a count, not a timing.
//!
//! A counting `#[global_allocator]` counts allocations made on this test's
//! thread while measurement is on. Every fixture message (inputs loaded
//! before the window) and a set of malformed inputs are decoded, their
//! levels iterated and converted to `MarketEvent`s, and rejections counted,
//! all inside the window; the count must be zero.

use talon_core::event::Stamps;
use talon_core::instrument::InstrumentId;
use talon_feed::decode::{DecodeCounters, Decoded, decode, decode_snapshot};
use talon_testkit::{CountingAllocator, allocations};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn load_fixtures() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/binance");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("fixture dir") {
        let path = entry.expect("entry").path();
        let name = path.to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).expect("read fixture");
        if name.ends_with(".jsonl") {
            out.extend(bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec));
        } else if name.ends_with(".json") {
            out.push(bytes);
        }
    }
    out
}

#[test]
fn decoding_allocates_nothing() {
    let mut inputs = load_fixtures();
    for bad in [
        &b""[..],
        b"{",
        b"[1,2]",
        b"{\"u\":1,\"u\":2}",
        b"{\"e\":\"kline\",\"k\":{\"a\":[[[[1]]]]}}",
        b"{\"u\":1,\"s\":\"X\",\"b\":\"1.000000001\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}",
        b"\"\\ud800\"",
    ] {
        inputs.push(bad.to_vec());
    }
    inputs.push(b"[".repeat(10_000));
    assert!(inputs.len() > 500);

    let mut counters = DecodeCounters::new();
    let mut ok = 0u64;
    let mut events = 0u64;
    let mut checksum = 0i64;
    allocations::track_current_thread(true);
    allocations::start();
    for _ in 0..3 {
        for m in &inputs {
            match decode(m) {
                Ok(env) => {
                    ok += 1;
                    match env.message {
                        Decoded::BookTicker(t) => {
                            let ev = t.to_event(InstrumentId(1), Stamps::ZERO);
                            checksum = checksum.wrapping_add(ev.instrument.0 as i64);
                            events += 1;
                        }
                        Decoded::Trade(t) => {
                            let _ = t.to_event(InstrumentId(1), Stamps::ZERO);
                            events += 1;
                        }
                        Decoded::AggTrade(t) => {
                            let _ = t.to_event(InstrumentId(1), Stamps::ZERO);
                            events += 1;
                        }
                        Decoded::DepthUpdate(d) => {
                            for ev in d.events(InstrumentId(1), Stamps::ZERO) {
                                checksum = checksum.wrapping_add(ev.stamps.recv.0 as i64);
                                events += 1;
                            }
                        }
                        Decoded::DepthSnapshot(s) => {
                            for (p, q) in s.bids.iter().chain(s.asks.iter()) {
                                checksum = checksum.wrapping_add(p.raw() ^ q.raw());
                            }
                            let _ = s.symbol_upper();
                        }
                        Decoded::Control(_) => {}
                    }
                }
                Err(e) => counters.record(e),
            }
            if let Ok(s) = decode_snapshot(m) {
                events += s.bids.len() as u64;
            }
        }
    }
    let allocations = allocations::stop();
    allocations::track_current_thread(false);

    assert!(ok > 1_500, "{ok}");
    assert!(events > 1_000, "{events}");
    assert!(counters.total() > 0);
    std::hint::black_box(checksum);
    assert_eq!(allocations, 0, "decoder allocated {allocations} times");
}
