//! The decoder allocates nothing: a count, not a timing.
//!
//! A counting `#[global_allocator]` counts allocations made on this test's
//! thread while measurement is on. Every fixture message (inputs loaded
//! before the window) and a set of malformed inputs are decoded, their
//! levels iterated and converted to `MarketEvent`s, and rejections counted,
//! all inside the window; the count must be zero.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use talon_core::event::Stamps;
use talon_core::instrument::InstrumentId;
use talon_feed::decode::{DecodeCounters, Decoded, decode, decode_snapshot};

struct CountingAllocator;

/// Allocations seen on the measuring thread inside the window.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set only on the test's thread while it measures. Const-initialised
    /// and without a destructor, so reading it never allocates.
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

fn count_if_measuring() {
    // Relaxed: the counter is read by the same thread that writes it.
    if MEASURING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; counting touches only an
// atomic and a const thread-local, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_if_measuring();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_if_measuring();
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_if_measuring();
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

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
    MEASURING.with(|m| m.set(true));
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
    MEASURING.with(|m| m.set(false));

    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    assert!(ok > 1_500, "{ok}");
    assert!(events > 1_000, "{events}");
    assert!(counters.total() > 0);
    std::hint::black_box(checksum);
    assert_eq!(allocations, 0, "decoder allocated {allocations} times");
}
