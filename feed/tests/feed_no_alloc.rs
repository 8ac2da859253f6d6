//! The feed agent allocates nothing per message on `ws://`: a count, not a
//! timing.
//!
//! The real `FeedAgent` (socket reads, frame reader, decoder, books,
//! conflator, stale guard, md-ring pushes) runs on this thread through an
//! `AgentInvoker`, against the simulator on loopback with bookTicker, trade,
//! aggTrade and diff-depth streams for two symbols. Once both books are synced
//! and messages flow, a counting global allocator counts every allocation
//! made on this thread while tens of thousands of messages go through.
//! The simulator's threads are not counted: they are the venue.

use std::time::{Duration, Instant};

use talon_core::agent::{AgentInvoker, Runtime};
use talon_core::clock::MonotonicClock;
use talon_core::event::MarketEvent;
use talon_core::instrument::{Filters, InstrumentSpec, InstrumentTable, Symbol};
use talon_core::ring::ring;
use talon_feed::agent::FeedAgent;
use talon_feed::book::SyncState;
use talon_feed::config::{DepthSpeed, FeedConfig, Venue};
use talon_feed::counters::FeedCounter;
use talon_sim::{SimConfig, Simulator};
use talon_testkit::{CountingAllocator, allocations};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn table() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    for (s, base) in [("BTCUSDT", "BTC"), ("ETHUSDT", "ETH")] {
        t.insert(InstrumentSpec {
            symbol: Symbol::new(s).expect("symbol"),
            base_asset: Symbol::new(base).expect("base"),
            quote_asset: Symbol::new("USDT").expect("quote"),
            filters: Filters::default(),
        })
        .expect("instrument");
    }
    t
}

#[test]
fn feed_agent_allocates_nothing_per_message_on_ws() {
    let sim = Simulator::start(SimConfig {
        rate: 20_000,
        seed: 11,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let mut cfg = FeedConfig::new(
        Venue::Sim {
            ws_base: sim.ws_base(),
            http_base: sim.http_base(),
            tls_root_der: None,
        },
        &["BTCUSDT", "ETHUSDT"],
    );
    cfg.streams.agg_trade = true;
    cfg.streams.depth = Some(DepthSpeed::Ms1000);
    let instruments = table();
    let ids = [
        instruments.id_of("BTCUSDT").expect("btc"),
        instruments.id_of("ETHUSDT").expect("eth"),
    ];
    let (md, mut rx) = ring::<MarketEvent>("md", 1 << 14);
    let agent = FeedAgent::new(cfg, &instruments, md, MonotonicClock::new()).expect("feed");
    let counters = agent.counters();
    let mut inv = AgentInvoker::new(agent, &Runtime::new());
    inv.start().expect("feed starts");

    let mut events = 0u64;
    let mut cycle = |inv: &mut AgentInvoker<FeedAgent>, events: &mut u64| {
        let work = inv.invoke().expect("feed cycle");
        *events += rx.drain(4096, |_| {}) as u64;
        if work == 0 {
            // Not sleep(): a syscall, but the same allocation-free one the
            // runner's idle strategy would use.
            std::thread::yield_now();
        }
    };

    // Warm up: connected, both books synced, messages flowing.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(ids.iter().all(|id| {
        inv.agent()
            .book(*id)
            .is_some_and(|b| b.state() == SyncState::Synced)
    }) && events > 2_000)
    {
        assert!(Instant::now() < deadline, "feed never synced: {counters:?}");
        cycle(&mut inv, &mut events);
    }

    let messages_before = counters.get(FeedCounter::Messages);
    let depth_before = counters.get(FeedCounter::DepthUpdates);
    let resyncs_before = counters.get(FeedCounter::Resyncs);
    allocations::track_current_thread(true);
    allocations::start();
    let window = Instant::now();
    while counters.get(FeedCounter::Messages) - messages_before < 20_000 {
        if window.elapsed() > Duration::from_secs(60) {
            break;
        }
        cycle(&mut inv, &mut events);
    }
    let allocations = allocations::stop();
    allocations::track_current_thread(false);
    let messages = counters.get(FeedCounter::Messages) - messages_before;
    let depth = counters.get(FeedCounter::DepthUpdates) - depth_before;
    let resyncs = counters.get(FeedCounter::Resyncs) - resyncs_before;
    inv.close();
    sim.stop();

    assert!(
        messages >= 20_000,
        "the window saw real traffic: {messages}"
    );
    assert!(depth > 0, "depth diffs went through the books: {depth}");
    assert_eq!(
        resyncs, 0,
        "no resync (which fetches a snapshot) in the window"
    );
    assert_eq!(
        allocations, 0,
        "{allocations} allocations on the feed thread over {messages} messages"
    );
}
