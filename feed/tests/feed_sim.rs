//! FeedAgent against the real simulator (talon-sim) on loopback, driven by
//! an AgentInvoker on the test thread: both symbols' top of book and
//! trades, a gap → counted resync and then the feed's book equals the
//! simulator's own, a dropped connection → reconnect and resync, a stall →
//! Stale then Fresh, malformed JSON counted and skipped, and wss:// trusting
//! the simulator's self-signed root. Every wait is bounded.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use talon_core::agent::{AgentInvoker, Runtime};
use talon_core::clock::MonotonicClock;
use talon_core::event::{MarketData, MarketEvent};
use talon_core::instrument::{Filters, InstrumentId, InstrumentSpec, InstrumentTable, Symbol};
use talon_core::ring::{MdConsumer, ring};
use talon_feed::agent::FeedAgent;
use talon_feed::book::SyncState;
use talon_feed::config::{DepthSpeed, FeedConfig, Venue};
use talon_feed::counters::{FeedCounter, FeedCounters};
use talon_sim::{FaultConfig, SimConfig, SimHandle, Simulator};

const LIMIT: Duration = Duration::from_secs(18);

fn table() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    for s in ["BTCUSDT", "ETHUSDT"] {
        t.insert(InstrumentSpec {
            symbol: Symbol::new(s).unwrap(),
            base_asset: Symbol::new(&s[..3]).unwrap(),
            quote_asset: Symbol::new("USDT").unwrap(),
            filters: Filters::default(),
        })
        .unwrap();
    }
    t
}

struct Rig {
    sim: SimHandle,
    inv: AgentInvoker<FeedAgent>,
    rx: MdConsumer,
    seen: Vec<MarketEvent>,
    counters: std::sync::Arc<FeedCounters>,
    btc: InstrumentId,
    eth: InstrumentId,
}

fn rig(sim_cfg: SimConfig, tune: impl FnOnce(&mut FeedConfig)) -> Rig {
    let sim = Simulator::start(sim_cfg).unwrap();
    let mut cfg = FeedConfig::new(
        Venue::Sim {
            ws_base: sim.ws_base(),
            http_base: sim.http_base(),
            tls_root_der: sim.tls_root_der(),
        },
        &["BTCUSDT", "ETHUSDT"],
    );
    // `@depth` with the simulator's depth_interval_ms = 0: one diff per book
    // event, so a paused simulator's diff stream ends at its book's id.
    cfg.streams.depth = Some(DepthSpeed::Ms1000);
    cfg.reconnect.initial = Duration::from_millis(20);
    cfg.reconnect.max = Duration::from_millis(200);
    tune(&mut cfg);
    let t = table();
    let (md, rx) = ring::<MarketEvent>("md", 1 << 14);
    let agent = FeedAgent::new(cfg, &t, md, MonotonicClock::new()).unwrap();
    let counters = agent.counters();
    let mut inv = AgentInvoker::new(agent, &Runtime::new());
    inv.start().unwrap();
    Rig {
        sim,
        inv,
        rx,
        seen: Vec::new(),
        counters,
        btc: t.id_of("BTCUSDT").unwrap(),
        eth: t.id_of("ETHUSDT").unwrap(),
    }
}

impl Rig {
    fn until(
        &mut self,
        what: &str,
        mut cond: impl FnMut(&FeedAgent, &[MarketEvent], &FeedCounters) -> bool,
    ) {
        let deadline = Instant::now() + LIMIT;
        while !cond(self.inv.agent(), &self.seen, &self.counters) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; counters {:?}",
                self.counters
            );
            let w = self.inv.invoke().unwrap();
            let seen = &mut self.seen;
            self.rx.drain(4096, |e| seen.push(e));
            if w == 0 {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
    }

    /// Pauses the simulator and waits until the feed's book of `symbol`
    /// reaches the simulator's update id, then compares every level.
    fn assert_book_equals_sim(&mut self, symbol: &str, id: InstrumentId) {
        // Synced on the current connection and moving, then freeze the
        // simulator at a consistent point.
        let mut first = None;
        self.until("book synced and moving", |a, _, _| {
            a.book(id).is_some_and(|b| {
                let u = b.book().last_update_id();
                b.state() == SyncState::Synced && *first.get_or_insert(u) < u
            })
        });
        self.sim.pause();
        let want = self.sim.book(symbol).unwrap();
        self.until("book to reach the simulator's update id", |a, _, _| {
            a.book(id).is_some_and(|b| {
                b.state() == SyncState::Synced && b.book().last_update_id() == want.last_update_id
            })
        });
        let b = self.inv.agent().book(id).unwrap().book();
        let bids: Vec<_> = b.bids().collect();
        let asks: Vec<_> = b.asks().collect();
        assert_eq!(bids, want.bids, "{symbol} bids");
        assert_eq!(asks, want.asks, "{symbol} asks");
        assert!(!b.is_crossed());
        self.sim.resume();
    }

    fn finish(mut self) {
        self.inv.close();
        self.sim.stop();
    }
}

fn sim_cfg(faults: FaultConfig) -> SimConfig {
    SimConfig {
        rate: 2_000,
        seed: 7,
        faults,
        ..SimConfig::default()
    }
}

fn has(seen: &[MarketEvent], id: InstrumentId, f: impl Fn(&MarketData) -> bool) -> bool {
    seen.iter().any(|e| e.instrument == id && f(&e.data()))
}

#[test]
fn feed_sim_top_of_book_trades_and_gap_resync() {
    let mut r = rig(
        sim_cfg(FaultConfig {
            gap_at: Some(150),
            ..FaultConfig::default()
        }),
        |_| {},
    );
    let (btc, eth) = (r.btc, r.eth);
    r.until("top of book and trades for both symbols", |_, s, _| {
        [btc, eth].iter().all(|&id| {
            has(s, id, |d| matches!(d, MarketData::TopOfBook(_)))
                && has(s, id, |d| matches!(d, MarketData::Trade(_)))
        })
    });
    let e = r
        .seen
        .iter()
        .find(|e| matches!(e.data(), MarketData::TopOfBook(_)))
        .unwrap();
    assert!(e.stamps.recv.0 > 0 && e.stamps.decode >= e.stamps.recv);
    r.until("the injected gap", |_, _, c| c.get(FeedCounter::Gaps) >= 1);
    assert!(r.counters.get(FeedCounter::Resyncs) >= 1);
    r.assert_book_equals_sim("BTCUSDT", btc);
    r.assert_book_equals_sim("ETHUSDT", eth);
    assert_eq!(r.counters.get(FeedCounter::DecodeErrors), 0);
    r.finish();
}

#[test]
fn feed_sim_reconnects_and_resyncs_after_a_drop() {
    let mut r = rig(
        sim_cfg(FaultConfig {
            drop_after: Some(300),
            drop_limit: Some(1),
            ..FaultConfig::default()
        }),
        |_| {},
    );
    r.until("the second connection", |_, _, c| {
        c.get(FeedCounter::Connects) >= 2
    });
    assert!(r.counters.get(FeedCounter::Reconnects) >= 1);
    let btc = r.btc;
    r.assert_book_equals_sim("BTCUSDT", btc);
    r.finish();
}

#[test]
fn feed_sim_stall_marks_stale_then_fresh() {
    let mut r = rig(
        sim_cfg(FaultConfig {
            stall_after: Some(100),
            stall: Duration::from_millis(1_500),
            ..FaultConfig::default()
        }),
        |c| c.stale_after = Duration::from_millis(300),
    );
    let btc = r.btc;
    r.until("stale then fresh", |_, s, _| {
        // After the start-up pair (Stale until the book first syncs, Fresh).
        let Some(first_fresh) = s
            .iter()
            .position(|e| e.instrument == btc && e.data() == MarketData::Fresh)
        else {
            return false;
        };
        let stale = s[first_fresh..]
            .iter()
            .position(|e| e.instrument == btc && e.data() == MarketData::Stale)
            .map(|i| i + first_fresh);
        stale.is_some_and(|i| {
            s[i..]
                .iter()
                .any(|e| e.instrument == btc && e.data() == MarketData::Fresh)
        })
    });
    assert!(r.counters.get(FeedCounter::StaleMarks) >= 2);
    assert!(r.counters.get(FeedCounter::FreshMarks) >= 2);
    r.finish();
}

#[test]
fn feed_sim_malformed_json_is_counted_and_skipped() {
    let mut r = rig(
        sim_cfg(FaultConfig {
            malformed_every: Some(25),
            ..FaultConfig::default()
        }),
        |c| c.streams.depth = None,
    );
    r.until("decode errors and later messages", |_, _, c| {
        c.get(FeedCounter::DecodeErrors) >= 3 && c.get(FeedCounter::Messages) >= 100
    });
    let c = &r.counters;
    assert!(c.get(FeedCounter::BookTickers) + c.get(FeedCounter::Trades) >= 80);
    assert_eq!(
        c.get(FeedCounter::Connects),
        1,
        "a bad message never costs the connection"
    );
    r.finish();
}

#[test]
fn feed_sim_over_tls_trusting_its_root() {
    let mut r = rig(
        SimConfig {
            tls: true,
            ..sim_cfg(FaultConfig::default())
        },
        |_| {},
    );
    assert!(r.sim.ws_base().starts_with("wss://"));
    let btc = r.btc;
    r.until("top of book over wss", |_, s, _| {
        has(s, btc, |d| matches!(d, MarketData::TopOfBook(_)))
    });
    r.assert_book_equals_sim("BTCUSDT", btc);
    r.finish();
}
