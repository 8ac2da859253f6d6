//! The gateway's per-message state code allocates nothing: a count, not a
//! timing. Inputs and tables are built before the counting window; inside
//! it every fixture frame is decoded (responses, results, fills, array
//! results, execution reports → `ExecReport`s), malformed frames rejected
//! and counted, and the order table, rate limiter and breaker driven.

use talon_core::clock::Nanos;
use talon_core::event::{ClientOrderId, OrderStatus, OrderType, Side, Stamps};
use talon_core::instrument::InstrumentId;
use talon_core::num::{Price, Qty};
use talon_gateway::breaker::{BreakerConfig, CircuitBreaker};
use talon_gateway::order_state::{OrderEntry, OrderEvent, OrderTable};
use talon_gateway::rate_limit::{RateLimitConfig, RateLimiter, RequestKind};
use talon_gateway::response::{
    Inbound, OrderResults, ResponseCounters, decode_exchange_rate_limits, decode_inbound,
    decode_order_result, decode_server_time,
};
use talon_testkit::{CountingAllocator, allocations};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn fixtures() -> Vec<Vec<u8>> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../feed/tests/fixtures/binance");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("fixture dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            out.push(std::fs::read(&path).expect("read"));
        }
    }
    out
}

#[test]
fn decoding_and_state_updates_allocate_nothing() {
    let mut inputs = fixtures();
    for bad in [
        &b""[..],
        b"{",
        b"{\"id\":1,\"id\":2,\"status\":200}",
        b"{\"subscriptionId\":0,\"event\":{\"e\":\"executionReport\"}}",
        b"{\"id\":1,\"status\":200,\"result\":[[[[[[[[1]]]]]]]]}",
    ] {
        inputs.push(bad.to_vec());
    }
    inputs.push(b"[".repeat(10_000));
    let info = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../feed/tests/fixtures/binance/exchangeInfo_BTCUSDT.json"),
    )
    .expect("exchangeInfo");
    let limits = decode_exchange_rate_limits(&info).expect("limits");
    let mut table = OrderTable::new(1024);
    let mut limiter = RateLimiter::new(&limits, RateLimitConfig::default()).expect("limiter");
    let mut breaker = CircuitBreaker::new(BreakerConfig::default()).expect("breaker");
    let mut counters = ResponseCounters::new();
    let ids: Vec<ClientOrderId> = (0..512)
        .map(|n| ClientOrderId::from_session_seq(7, n))
        .collect();

    allocations::track_current_thread(true);
    allocations::start();
    let mut decoded = 0u64;
    let mut reports = 0u64;
    for input in &inputs {
        match decode_inbound(input) {
            Ok(Inbound::Response(r)) => {
                decoded += 1;
                if let Some(res) = r.result {
                    let _ = decode_server_time(res);
                    if let Ok(o) = decode_order_result(res) {
                        for f in o.fills() {
                            let _ = f.map(|f| f.trade_id);
                        }
                    }
                    for o in OrderResults::new(res) {
                        let _ = o.map(|o| o.order_status());
                    }
                }
                limiter.on_venue_usage(&r.rate_limits, Nanos(1));
            }
            Ok(Inbound::Execution(e)) => {
                let r = e.to_exec_report(InstrumentId(1), "BTC", "USDT", Stamps::ZERO);
                reports += u64::from(r.status != OrderStatus::Unknown);
            }
            Ok(_) => decoded += 1,
            Err(e) => counters.record(e),
        }
    }
    for (n, id) in ids.iter().enumerate() {
        let now = Nanos(n as u64 * 1_000);
        let _ = limiter.try_acquire(RequestKind::NewOrder, now);
        let _ = breaker.allow(now);
        let entry = OrderEntry::pending(
            *id,
            InstrumentId(1),
            Side::Buy,
            OrderType::Limit,
            Price::from_raw(1),
            Qty::from_raw(1),
            now,
        );
        let _ = table.insert(entry);
        let _ = table.apply(id, OrderEvent::Acked, now);
    }
    for id in ids.iter().step_by(2) {
        let _ = table.apply(id, OrderEvent::Canceled, Nanos(1));
    }
    let timed_out = table.timed_out(Nanos(10_000_000), 1).count();
    let open = table.open_orders().count();
    let removed = table.remove_terminal();
    breaker.on_failure(Nanos(1));
    let allocated = allocations::stop();
    allocations::track_current_thread(false);

    assert_eq!(allocated, 0, "allocations in the window");
    assert!(decoded >= 20, "decoded {decoded}");
    assert!(reports >= 4, "reports {reports}");
    assert!(counters.total() >= 6);
    assert_eq!((open, removed, timed_out), (256, 256, 0));
}
