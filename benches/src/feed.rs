//! `feed_throughput`: the market-data feed end to end on loopback — how many
//! messages per second go from the simulator (`talon_sim`) through the
//! [`FeedAgent`] into the md ring with nothing lost, what happens beyond that
//! rate (conflation, dropped trades), and the latency from the socket read to
//! the event coming out of the ring.
//!
//! Owns [`FeedBenchConfig`] and [`run_feed_bench`]. Never asserts on a
//! number: a missed target is printed. Fails only when it cannot measure (the
//! simulator or the feed does not start, the feed never connects, a thread
//! panics or the feed agent stops with an error).
//!
//! # Method (one *step* = one simulator rate, repeated `runs` times)
//!
//! 1. A fresh simulator is started in-process (`talon_sim::Simulator`,
//!    paused) at the step's `rate` — the simulator's own pacing unit: every
//!    generator step counts its depth diff, its bookTicker (if the top
//!    changed) and its trade + aggTrade (if it traded), whether or not
//!    anyone subscribed.
//! 2. A [`FeedAgent`] subscribes to `<s>@bookTicker`, `<s>@trade` and
//!    `<s>@aggTrade` of every symbol over one `ws://` combined stream. No
//!    depth stream: every message the feed receives then becomes exactly one
//!    event (`TopOfBook` or `Trade`), so "sent" and "delivered" count the
//!    same things. It runs on its own [`AgentRunner`] thread, pinned to one
//!    core; a consumer thread pinned to the other core drains the md ring.
//! 3. Once the feed is connected the simulator resumes; after `warmup` the
//!    counters are read (t0) and the consumer starts recording latencies;
//!    after `duration` they are read again (t1). Rates are deltas over
//!    t1 − t0: *generated* (simulator pacing units), *sent* (bookTicker +
//!    trade + aggTrade frames the simulator wrote to the feed's socket) and
//!    *delivered* (`TopOfBook` + `Trade` events the consumer popped).
//! 4. The simulator is paused and the feed drains whatever is still in
//!    flight; then totals since the start of the step are compared: *lost* =
//!    sent − delivered (conflated top-of-book updates, trades refused by a
//!    full ring, decode errors and anything lost with a dropped connection
//!    all show up here, and the first three are also reported separately).
//!
//! A step is **sustained with zero loss** when the median lost count is 0
//! and the median delivered rate during the window is at least
//! [`KEEP_UP`] of the sent rate (the feed kept up in real time instead of
//! draining a backlog after the pause).
//!
//! # What the latency is
//!
//! `stamps.recv` is set by the feed when the socket read that completed the
//! message returned; `stamps.decode` when the message was decoded. The
//! consumer reads the same [`MonotonicClock`] (copied, one origin) when it
//! pops the event, so **consumer now − recv** = rest of the read batch ahead
//! of the message + decode + conflator + ring push + one ring hop + the
//! consumer's polling delay, i.e. "socket read → event in ring" plus one hop.
//! **decode − recv** is the feed-internal part up to the decoded value. Time
//! the bytes spent in the kernel or the simulator is not included (the
//! simulator's frames carry no send stamp).
//!
//! # Machine
//!
//! The simulator's threads (source, acceptor, one reader and one writer per
//! connection) are not pinned and share the machine's cores with the feed
//! and consumer threads; on a 2-core machine nobody owns a core, so both the
//! feed and the consumer wait with a backoff strategy (spin → yield → park)
//! by default rather than busy-spinning, which would starve the simulator.
//! The report says which layout and idle strategies were used.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use talon_core::agent::{AgentRunner, IdleConfig, Runtime};
use talon_core::clock::{MonotonicClock, NanoClock};
use talon_core::event::{MarketEvent, MarketKind};
use talon_core::instrument::{Filters, InstrumentSpec, InstrumentTable, Symbol};
use talon_core::ring::{MdConsumer, ring};
use talon_feed::agent::FeedAgent;
use talon_feed::config::{FeedConfig, StreamSet, Venue};
use talon_feed::counters::{FeedCounter, FeedCounters};
use talon_sim::{SimConfig, SimHandle, SimStats, Simulator, SymbolSpec};

use crate::error::BenchError;
use crate::machine::{MachineInfo, check_core, core_ids, pin_current};
use crate::report::{
    BenchReport, CaseResult, Check, RunStats, Section, Target, median_f64, median_u64,
    new_histogram,
};

/// A step keeps up when its delivered rate during the window is at least
/// this fraction of the rate the simulator sent at.
pub const KEEP_UP: f64 = 0.95;

/// The target: ≥ 500,000 messages/s into the md ring with zero loss.
pub const TARGET_MSGS_PER_SEC: f64 = 500_000.0;

/// Settings of one `feed_throughput` run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedBenchConfig {
    /// Simulator rates to step through (`talon sim --rate`, the simulator's
    /// pacing unit, see the module docs), in increasing order.
    pub rates: Vec<u64>,
    /// Measured window per step.
    pub duration: Duration,
    /// Time from resuming the simulator to the start of the window
    /// (connection warm, caches and page faults behind us).
    pub warmup: Duration,
    /// Runs; each number is the median across runs (≥ 1; the issue asks for
    /// ≥ 3).
    pub runs: u32,
    /// Capacity of the md ring, in events.
    pub ring_capacity: usize,
    /// Symbols the simulator generates and the feed subscribes to.
    pub symbols: Vec<String>,
    /// `(feed core, consumer core)`. `None`: the first two cores of this
    /// process's affinity mask (both on the first if there is only one).
    pub cores: Option<(usize, usize)>,
    /// Idle strategy of the feed agent's runner.
    pub feed_idle: IdleConfig,
    /// Idle strategy of the consumer thread.
    pub consumer_idle: IdleConfig,
    /// Generator seed (the same for every step and run).
    pub seed: u64,
    /// Longest wait for the feed to connect to the simulator.
    pub connect_timeout: Duration,
    /// Longest wait, after pausing the simulator, for the feed to drain
    /// what is in flight (a step that cannot drain reports the rest as lost).
    pub drain_timeout: Duration,
}

/// Backoff for a thread that shares its core with the simulator: spins
/// briefly, yields, then parks from 1 µs doubling up to 50 µs (so an idle
/// thread wakes within ~50 µs and a busy one never parks).
pub const SHARED_CORE_IDLE: IdleConfig = IdleConfig::Backoff {
    max_spins: 10,
    max_yields: 5,
    min_park_ns: 1_000,
    max_park_ns: 50_000,
};

impl Default for FeedBenchConfig {
    /// 5 steps × 3 runs × (0.25 s warm-up + 1 s window + start/drain):
    /// about 20–25 s on a 2-core VM.
    fn default() -> Self {
        Self {
            rates: vec![100_000, 250_000, 500_000, 1_000_000, 2_000_000],
            duration: Duration::from_millis(1_000),
            warmup: Duration::from_millis(250),
            runs: 3,
            ring_capacity: 1 << 16,
            symbols: vec!["BTCUSDT".to_owned(), "ETHUSDT".to_owned()],
            cores: None,
            feed_idle: SHARED_CORE_IDLE,
            consumer_idle: SHARED_CORE_IDLE,
            seed: 1,
            connect_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// Events the consumer drains per `drain` call at most.
const DRAIN_BATCH: usize = 1024;

/// What the consumer thread and the orchestrating thread share.
#[derive(Debug, Default)]
struct ConsumerShared {
    /// `TopOfBook` + `Trade` events popped so far.
    market: CachePadded<AtomicU64>,
    /// Any other event (stale/fresh, depth) popped so far.
    other: CachePadded<AtomicU64>,
    /// Record latencies of the events popped while set.
    recording: CachePadded<AtomicBool>,
    /// Stop after the next empty poll.
    stop: CachePadded<AtomicBool>,
}

/// What the consumer thread returns.
struct ConsumerOut {
    /// consumer now − stamps.recv, recorded window only.
    ring: Histogram<u64>,
    /// stamps.decode − stamps.recv, recorded window only.
    decode: Histogram<u64>,
}

/// Sets the consumer's stop flag when dropped, so an early return never
/// leaves the consumer thread polling forever.
struct StopOnDrop(Arc<ConsumerShared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        // Relaxed: a stop hint only; the consumer's results travel through
        // its join handle. Pairs with the Relaxed load in `consume`.
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

/// The consumer thread: drains the md ring, counts, records latencies.
fn consume(
    mut rx: MdConsumer,
    clock: MonotonicClock,
    shared: &ConsumerShared,
    idle: IdleConfig,
    core: Option<usize>,
) -> Result<ConsumerOut, BenchError> {
    if let Some(core) = core {
        pin_current(core)?;
    }
    let mut idle = idle
        .build()
        .map_err(|_| BenchError::InvalidConfig("consumer_idle is not a valid idle strategy"))?;
    let mut ring_hist = new_histogram()?;
    let mut decode_hist = new_histogram()?;
    let mut market = 0u64;
    let mut other = 0u64;
    loop {
        // Relaxed: a gate for recording, flipped by the orchestrating thread
        // (Relaxed store in `run_step`); an event or two recorded on either
        // side of the flip does not matter.
        let recording = shared.recording.load(Ordering::Relaxed);
        let n = rx.drain(DRAIN_BATCH, |ev: MarketEvent| match ev.kind() {
            MarketKind::TopOfBook | MarketKind::Trade => {
                market += 1;
                if recording {
                    let now = clock.now().0;
                    ring_hist.saturating_record(now.saturating_sub(ev.stamps.recv.0));
                    decode_hist
                        .saturating_record(ev.stamps.decode.0.saturating_sub(ev.stamps.recv.0));
                }
            }
            _ => other += 1,
        });
        if n > 0 {
            // Relaxed: single writer; the orchestrating thread only needs a
            // recent value (Relaxed loads in `snapshot`), and the final
            // values also travel through the join.
            shared.market.store(market, Ordering::Relaxed);
            shared.other.store(other, Ordering::Relaxed);
        } else if shared.stop.load(Ordering::Relaxed) {
            // Relaxed: see `StopOnDrop`. The ring was empty after the stop
            // was requested (the feed is already stopped by then).
            break;
        }
        idle.idle(n);
    }
    Ok(ConsumerOut {
        ring: ring_hist,
        decode: decode_hist,
    })
}

/// Counters read at one instant.
#[derive(Clone, Copy, Debug)]
struct Snap {
    at: Instant,
    sim: SimStats,
    feed_received: u64,
    delivered: u64,
}

/// Messages of the subscribed kinds the simulator wrote.
fn sent_of(s: &SimStats) -> u64 {
    s.book_ticker_sent + s.trade_sent + s.agg_trade_sent
}

fn snapshot(sim: &SimHandle, feed: &FeedCounters, shared: &ConsumerShared) -> Snap {
    Snap {
        at: Instant::now(),
        sim: sim.stats(),
        feed_received: feed.get(FeedCounter::BookTickers) + feed.get(FeedCounter::Trades),
        // Relaxed: see the store in `consume`.
        delivered: shared.market.load(Ordering::Relaxed),
    }
}

/// One step of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct StepRun {
    /// consumer now − recv (ops_per_sec = delivered/s).
    ring: RunStats,
    /// decode − recv.
    decode: RunStats,
    generated_per_sec: f64,
    sent_per_sec: f64,
    delivered_per_sec: f64,
    /// Totals since the step's start, after the drain.
    sent: u64,
    delivered: u64,
    conflated: u64,
    trades_dropped: u64,
    decode_errors: u64,
    reconnects: u64,
    slow_consumer_closes: u64,
    generator_overruns: u64,
    ring_full: u64,
    ring_high_water: u64,
}

impl StepRun {
    fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.delivered)
    }
}

/// Wraps a set-up failure of another crate (simulator, feed, runner) in the
/// bench's I/O error with the loopback address as the "path".
fn setup_error(what: &'static str, addr: &str, e: impl std::fmt::Display) -> BenchError {
    BenchError::Io {
        what,
        path: PathBuf::from(addr),
        source: io::Error::other(e.to_string()),
    }
}

fn instruments(symbols: &[String]) -> Result<InstrumentTable, BenchError> {
    let mut t = InstrumentTable::new();
    for s in symbols {
        let spec = SymbolSpec::for_symbol(s).map_err(|e| setup_error("symbol", s, e))?;
        let sym = |x: &str| Symbol::new(x).map_err(|e| setup_error("symbol", x, e));
        t.insert(InstrumentSpec {
            symbol: sym(&spec.symbol)?,
            base_asset: sym(&spec.base)?,
            quote_asset: sym(&spec.quote)?,
            filters: Filters::default(),
        })
        .map_err(|e| setup_error("instrument table", s, e))?;
    }
    Ok(t)
}

/// Which cores the feed and the consumer are pinned to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    feed: Option<usize>,
    consumer: Option<usize>,
}

/// Runs one step (one simulator rate) once.
fn run_step(rate: u64, cfg: &FeedBenchConfig, layout: Layout) -> Result<StepRun, BenchError> {
    let sim_cfg = SimConfig {
        symbols: cfg
            .symbols
            .iter()
            .map(|s| SymbolSpec::for_symbol(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| setup_error("simulator symbols", "127.0.0.1:0", e))?,
        rate,
        seed: cfg.seed,
        start_paused: true,
        ..SimConfig::default()
    };
    let sim =
        Simulator::start(sim_cfg).map_err(|e| setup_error("start talon-sim", "127.0.0.1:0", e))?;
    let addr = sim.ws_base();
    let table = instruments(&cfg.symbols)?;
    let symbols: Vec<&str> = cfg.symbols.iter().map(String::as_str).collect();
    let mut feed_cfg = FeedConfig::new(
        Venue::Sim {
            ws_base: sim.ws_base(),
            http_base: sim.http_base(),
            tls_root_der: None,
        },
        &symbols,
    );
    feed_cfg.streams = StreamSet {
        book_ticker: true,
        trade: true,
        agg_trade: true,
        depth: None,
    };
    let clock = MonotonicClock::new();
    let (md, rx) = ring::<MarketEvent>("md", cfg.ring_capacity);
    let ring_stats = Arc::clone(md.stats());
    let agent = FeedAgent::new(feed_cfg, &table, md, clock)
        .map_err(|e| setup_error("create the feed agent", &addr, e))?;
    let feed = agent.counters();

    let shared = Arc::new(ConsumerShared::default());
    let _stop_guard = StopOnDrop(Arc::clone(&shared));
    let consumer: JoinHandle<Result<ConsumerOut, BenchError>> = {
        let shared = Arc::clone(&shared);
        let idle = cfg.consumer_idle;
        std::thread::Builder::new()
            .name("bench-md-consumer".to_owned())
            .spawn(move || consume(rx, clock, &shared, idle, layout.consumer))
            .map_err(|e| BenchError::io("spawn the consumer thread", &addr, e))?
    };
    let feed_idle = cfg
        .feed_idle
        .build()
        .map_err(|_| BenchError::InvalidConfig("feed_idle is not a valid idle strategy"))?;
    let rt = Runtime::new();
    let runner = AgentRunner::start("feed", agent, feed_idle, layout.feed, &rt)
        .map_err(|e| setup_error("start the feed runner", &addr, e))?;

    // Connected (the simulator registers the combined stream before its
    // 101 answer), then let the generator run.
    let deadline = Instant::now() + cfg.connect_timeout;
    while feed.get(FeedCounter::Connects) == 0 {
        if Instant::now() >= deadline || runner.is_finished() {
            let exit = runner.close();
            if !exit.is_clean() {
                return Err(setup_error("feed agent", &addr, exit));
            }
            return Err(BenchError::Stalled {
                case: "feed connect to talon-sim",
                secs: cfg.connect_timeout.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    sim.resume();
    std::thread::sleep(cfg.warmup);
    // Relaxed: see `consume`.
    shared.recording.store(true, Ordering::Relaxed);
    let s0 = snapshot(&sim, &feed, &shared);
    std::thread::sleep(cfg.duration);
    let s1 = snapshot(&sim, &feed, &shared);
    shared.recording.store(false, Ordering::Relaxed);

    // Drain: the generator parks with everything on the simulator's bus;
    // wait until the feed has received all of it and the consumer stops
    // moving (or nothing moves for a while: what is missing then is lost).
    sim.pause();
    let drain_deadline = Instant::now() + cfg.drain_timeout;
    let mut last = snapshot(&sim, &feed, &shared);
    let mut last_change = last.at;
    loop {
        std::thread::sleep(Duration::from_millis(2));
        let s = snapshot(&sim, &feed, &shared);
        let moved = sent_of(&s.sim) != sent_of(&last.sim)
            || s.feed_received != last.feed_received
            || s.delivered != last.delivered;
        if moved {
            last_change = s.at;
        }
        last = s;
        let quiet = s.at.duration_since(last_change);
        let caught_up = s.feed_received >= sent_of(&s.sim);
        if (caught_up && quiet >= Duration::from_millis(20))
            || quiet >= Duration::from_millis(500)
            || s.at >= drain_deadline
            || runner.is_finished()
        {
            break;
        }
    }
    let exit = runner.close();
    drop(_stop_guard);
    let out = consumer.join().map_err(|_| BenchError::ThreadPanicked {
        case: "md consumer",
    })??;
    if !exit.is_clean() {
        return Err(setup_error("feed agent", &addr, exit));
    }
    let end = sim.stats();
    sim.stop();
    let window = s1.at.duration_since(s0.at).as_secs_f64();
    let per_sec = |a: u64, b: u64| b.saturating_sub(a) as f64 / window;
    let delivered_per_sec = per_sec(s0.delivered, s1.delivered);
    let ring_snap = ring_stats.snapshot();
    Ok(StepRun {
        ring: RunStats::from_histogram(&out.ring, Some(delivered_per_sec)),
        decode: RunStats::from_histogram(&out.decode, None),
        generated_per_sec: per_sec(s0.sim.generated_messages, s1.sim.generated_messages),
        sent_per_sec: per_sec(sent_of(&s0.sim), sent_of(&s1.sim)),
        delivered_per_sec,
        sent: sent_of(&end),
        // Relaxed: the consumer has been joined; its last store is visible.
        delivered: shared.market.load(Ordering::Relaxed),
        conflated: feed.get(FeedCounter::Conflated),
        trades_dropped: feed.get(FeedCounter::TradesDropped),
        decode_errors: feed.get(FeedCounter::DecodeErrors),
        reconnects: feed.get(FeedCounter::Connects).saturating_sub(1),
        slow_consumer_closes: end.slow_consumer_closes,
        generator_overruns: end.generator_overruns,
        ring_full: ring_snap.full,
        ring_high_water: ring_snap.high_water,
    })
}

/// The medians of one step across runs.
#[derive(Clone, Debug, PartialEq)]
struct StepSummary {
    rate: u64,
    name: String,
    runs: Vec<StepRun>,
    generated_per_sec: f64,
    sent_per_sec: f64,
    delivered_per_sec: f64,
    lost: u64,
    conflated: u64,
    trades_dropped: u64,
    decode_errors: u64,
    reconnects: u64,
    slow_consumer_closes: u64,
    generator_overruns: u64,
    ring_full: u64,
    ring_high_water: u64,
}

impl StepSummary {
    fn new(rate: u64, runs: Vec<StepRun>) -> Self {
        let f = |g: fn(&StepRun) -> f64| median_f64(runs.iter().map(g).collect()).unwrap_or(0.0);
        let u = |g: fn(&StepRun) -> u64| median_u64(runs.iter().map(g).collect());
        Self {
            rate,
            name: step_name(rate),
            generated_per_sec: f(|r| r.generated_per_sec),
            sent_per_sec: f(|r| r.sent_per_sec),
            delivered_per_sec: f(|r| r.delivered_per_sec),
            lost: u(StepRun::lost),
            conflated: u(|r| r.conflated),
            trades_dropped: u(|r| r.trades_dropped),
            decode_errors: u(|r| r.decode_errors),
            reconnects: u(|r| r.reconnects),
            slow_consumer_closes: u(|r| r.slow_consumer_closes),
            generator_overruns: u(|r| r.generator_overruns),
            ring_full: u(|r| r.ring_full),
            ring_high_water: u(|r| r.ring_high_water),
            runs,
        }
    }

    /// Zero loss and kept up in real time (see the module docs).
    fn sustained(&self) -> bool {
        self.lost == 0 && self.sent_per_sec > 0.0 && self.kept_up()
    }

    fn kept_up(&self) -> bool {
        self.delivered_per_sec >= KEEP_UP * self.sent_per_sec
    }
}

/// `sim 500k/s`, `sim 1.5M/s`.
fn step_name(rate: u64) -> String {
    if rate >= 1_000_000 && rate % 100_000 == 0 {
        let tenths = rate / 100_000;
        if tenths % 10 == 0 {
            format!("sim {}M/s", tenths / 10)
        } else {
            format!("sim {}.{}M/s", tenths / 10, tenths % 10)
        }
    } else if rate >= 1_000 && rate % 1_000 == 0 {
        format!("sim {}k/s", rate / 1_000)
    } else {
        format!("sim {rate}/s")
    }
}

/// The highest step that was sustained with zero loss.
fn best_sustained(steps: &[StepSummary]) -> Option<&StepSummary> {
    steps
        .iter()
        .filter(|s| s.sustained())
        .max_by_key(|s| s.rate)
}

fn validate(cfg: &FeedBenchConfig) -> Result<Layout, BenchError> {
    if cfg.rates.is_empty() {
        return Err(BenchError::InvalidConfig(
            "rates must list at least one rate",
        ));
    }
    if cfg.rates.iter().any(|r| !(1..=10_000_000).contains(r)) {
        return Err(BenchError::InvalidConfig(
            "every rate must be between 1 and 10,000,000 messages/s (the simulator's range)",
        ));
    }
    if cfg.runs == 0 {
        return Err(BenchError::InvalidConfig("runs must be at least 1"));
    }
    if cfg.duration.is_zero() {
        return Err(BenchError::InvalidConfig("duration must be more than 0"));
    }
    if cfg.ring_capacity < 2 {
        return Err(BenchError::InvalidConfig(
            "ring_capacity must be at least 2",
        ));
    }
    if cfg.symbols.is_empty() {
        return Err(BenchError::InvalidConfig(
            "symbols must list at least one symbol",
        ));
    }
    cfg.feed_idle
        .validate()
        .map_err(|_| BenchError::InvalidConfig("feed_idle is not a valid idle strategy"))?;
    cfg.consumer_idle
        .validate()
        .map_err(|_| BenchError::InvalidConfig("consumer_idle is not a valid idle strategy"))?;
    match cfg.cores {
        Some((f, c)) => {
            check_core(f)?;
            check_core(c)?;
            Ok(Layout {
                feed: Some(f),
                consumer: Some(c),
            })
        }
        None => match core_ids().as_slice() {
            [] => Ok(Layout {
                feed: None,
                consumer: None,
            }),
            [only] => Ok(Layout {
                feed: Some(*only),
                consumer: Some(*only),
            }),
            [c, f, ..] => Ok(Layout {
                feed: Some(*f),
                consumer: Some(*c),
            }),
        },
    }
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1}k/s", r / 1e3)
    } else {
        format!("{r:.0}/s")
    }
}

fn fmt_core(c: Option<usize>) -> String {
    c.map_or_else(|| "unpinned".to_owned(), |c| format!("core {c}"))
}

/// Case name of the feed row in the latency sections.
fn sections(steps: &[StepSummary]) -> Vec<Section> {
    let reference = steps.first().map(|s| s.name.clone()).unwrap_or_default();
    let ring_cases = steps
        .iter()
        .map(|s| CaseResult::new(s.name.clone(), s.runs.iter().map(|r| r.ring).collect()))
        .collect();
    let mut ring = Section::new(
        "socket read → event popped from the md ring (consumer now − stamps.recv); ops/s = events delivered into the ring per second",
        reference.clone(),
        ring_cases,
    );
    for s in steps {
        ring.checks.push(Check::new(
            format!("{}: generated by the simulator (pacing units)", s.name),
            Some(s.generated_per_sec),
            " msg/s",
            None,
        ));
        ring.checks.push(Check::new(
            format!(
                "{}: sent to the feed (bookTicker + trade + aggTrade)",
                s.name
            ),
            Some(s.sent_per_sec),
            " msg/s",
            None,
        ));
        ring.checks.push(Check::new(
            format!("{}: delivered into the md ring", s.name),
            Some(s.delivered_per_sec),
            " msg/s",
            None,
        ));
        ring.checks.push(Check::new(
            format!("{}: lost (sent − delivered, whole step)", s.name),
            Some(s.lost as f64),
            " msgs",
            Some(Target::at_most(0.0)),
        ));
        ring.checks.push(Check::new(
            format!("{}: conflated top-of-book updates", s.name),
            Some(s.conflated as f64),
            " msgs",
            None,
        ));
    }
    let best = best_sustained(steps);
    ring.checks.push(Check::new(
        "highest sustained zero-loss rate into the md ring",
        Some(best.map_or(0.0, |s| s.delivered_per_sec)),
        " msg/s",
        Some(Target::at_least(TARGET_MSGS_PER_SEC)),
    ));
    let decode_cases = steps
        .iter()
        .map(|s| CaseResult::new(s.name.clone(), s.runs.iter().map(|r| r.decode).collect()))
        .collect();
    let decode = Section::new(
        "socket read → message decoded (stamps.decode − stamps.recv), inside the feed",
        reference,
        decode_cases,
    );
    vec![ring, decode]
}

fn notes(cfg: &FeedBenchConfig, layout: Layout, steps: &[StepSummary]) -> Vec<String> {
    let mut n = vec![
        format!(
            "method: per step a fresh talon-sim (in-process, loopback ws://, seed {}, symbols {}) at the step's rate; the FeedAgent subscribes to bookTicker + trade + aggTrade of every symbol on one combined stream (no depth: each message becomes exactly one TopOfBook/Trade event); {} warm-up, then a {} window; rates are counter deltas over the window",
            cfg.seed,
            cfg.symbols.join(","),
            fmt_duration(cfg.warmup),
            fmt_duration(cfg.duration),
        ),
        "the step's rate is the simulator's pacing unit (depth diff + bookTicker + trade + aggTrade per generator step, subscribed or not), so the feed receives only part of it: 'sent to the feed' is what the simulator actually wrote to the feed's socket".to_owned(),
        format!(
            "zero loss: after the window the simulator is paused and the feed drains; lost = sent − delivered over the whole step (conflated top-of-book, trades refused by a full ring, decode errors and anything lost with a dropped connection all count); a step is sustained when the median lost is 0 and the median delivered rate is ≥ {:.0}% of the sent rate",
            KEEP_UP * 100.0
        ),
        "latency: stamps.recv = the feed's socket read that completed the message returned; the consumer reads the same MonotonicClock when it pops the event, so now − recv = rest of the read batch + decode + conflator + ring push + one ring hop + the consumer's polling delay; kernel and simulator time are not included (frames carry no send stamp)".to_owned(),
        format!(
            "layout: feed agent (AgentRunner) on {}, md consumer on {}, idle {} / {}; md ring capacity {}; the simulator's threads (source, acceptor, per-connection reader and writer) are unpinned and share the machine's {} core(s) with them, so nobody busy-spins",
            fmt_core(layout.feed),
            fmt_core(layout.consumer),
            cfg.feed_idle.to_toml_inline(),
            cfg.consumer_idle.to_toml_inline(),
            cfg.ring_capacity,
            core_ids().len(),
        ),
        format!(
            "runs interleaved (run 1 of every step, then run 2, …); every number is the median across {} runs",
            cfg.runs
        ),
    ];
    for s in steps {
        n.push(format!(
            "{}: generated {}, sent {}, delivered {}; whole step: lost {}, conflated {}, trades dropped {}, decode errors {}, reconnects {}, slow-consumer closes {}, generator overruns {}, md ring full {} (high water {}) — {}",
            s.name,
            fmt_rate(s.generated_per_sec),
            fmt_rate(s.sent_per_sec),
            fmt_rate(s.delivered_per_sec),
            s.lost,
            s.conflated,
            s.trades_dropped,
            s.decode_errors,
            s.reconnects,
            s.slow_consumer_closes,
            s.generator_overruns,
            s.ring_full,
            s.ring_high_water,
            if s.sustained() {
                "sustained, zero loss"
            } else if s.lost > 0 {
                "LOSS"
            } else {
                "no loss but fell behind (drained after the pause)"
            },
        ));
    }
    match (best_sustained(steps), steps.last()) {
        (Some(b), Some(top)) if b.rate == top.rate => {
            let ceiling = steps.iter().map(|s| s.sent_per_sec).fold(0.0, f64::max);
            n.push(format!(
                "the feed kept up with every step: its limit was not reached; the highest rate the simulator delivered was {} (sim generated {} of the nominal {}) — the simulator, not the feed, is the ceiling of this run",
                fmt_rate(ceiling),
                fmt_rate(top.generated_per_sec),
                fmt_rate(top.rate as f64),
            ));
        }
        (Some(b), _) => n.push(format!(
            "highest sustained zero-loss step: {} ({} into the md ring); steps above it lost or fell behind",
            b.name,
            fmt_rate(b.delivered_per_sec)
        )),
        (None, _) => n.push("no step was sustained with zero loss".to_owned()),
    }
    for s in steps {
        if s.generated_per_sec < 0.9 * s.rate as f64 {
            n.push(format!(
                "{}: the simulator generated only {} of the nominal rate (its own ceiling on this machine)",
                s.name,
                fmt_rate(s.generated_per_sec)
            ));
        }
    }
    n
}

fn fmt_duration(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Runs `feed_throughput` and returns its report (never asserts on the
/// numbers).
pub fn run_feed_bench(cfg: &FeedBenchConfig) -> Result<BenchReport, BenchError> {
    let layout = validate(cfg)?;
    let machine = MachineInfo::collect();
    let mut runs: Vec<Vec<StepRun>> = vec![Vec::new(); cfg.rates.len()];
    for _ in 0..cfg.runs {
        for (i, &rate) in cfg.rates.iter().enumerate() {
            runs[i].push(run_step(rate, cfg, layout)?);
        }
    }
    let steps: Vec<StepSummary> = cfg
        .rates
        .iter()
        .zip(runs)
        .map(|(&rate, r)| StepSummary::new(rate, r))
        .collect();
    Ok(BenchReport {
        title: "feed_throughput".to_owned(),
        machine,
        runs: cfg.runs,
        notes: notes(cfg, layout, &steps),
        sections: sections(&steps),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lost: u64, sent_per_sec: f64, delivered_per_sec: f64) -> StepRun {
        StepRun {
            sent: 1000,
            delivered: 1000 - lost,
            sent_per_sec,
            delivered_per_sec,
            ..StepRun::default()
        }
    }

    #[test]
    fn step_names_are_short() {
        assert_eq!(step_name(100_000), "sim 100k/s");
        assert_eq!(step_name(1_000_000), "sim 1M/s");
        assert_eq!(step_name(1_500_000), "sim 1.5M/s");
        assert_eq!(step_name(2_500), "sim 2500/s");
        assert_eq!(step_name(2_000), "sim 2k/s");
    }

    #[test]
    fn the_best_step_is_the_highest_sustained_one() {
        let steps = vec![
            StepSummary::new(100, vec![run(0, 100.0, 100.0); 3]),
            // One lossy run out of three: the median is still zero loss.
            StepSummary::new(
                200,
                vec![
                    run(0, 200.0, 199.0),
                    run(5, 200.0, 190.0),
                    run(0, 200.0, 200.0),
                ],
            ),
            // No loss, but it only drained the backlog after the pause.
            StepSummary::new(400, vec![run(0, 400.0, 300.0); 3]),
            // Lossy.
            StepSummary::new(300, vec![run(7, 300.0, 300.0); 3]),
        ];
        assert!(steps[1].sustained());
        assert!(!steps[2].sustained() && steps[2].lost == 0);
        assert!(!steps[3].sustained());
        assert_eq!(best_sustained(&steps).map(|s| s.rate), Some(200));
        assert_eq!(best_sustained(&steps[2..]), None);
        let n = notes(
            &FeedBenchConfig::default(),
            Layout {
                feed: None,
                consumer: None,
            },
            &steps,
        );
        assert!(
            n.iter()
                .any(|l| l.starts_with("sim 300/s:") && l.ends_with("LOSS"))
        );
        assert!(
            n.iter()
                .any(|l| l.contains("highest sustained zero-loss step: sim 200/s"))
        );
    }

    #[test]
    fn invalid_configs_are_refused_before_anything_starts() {
        for bad in [
            FeedBenchConfig {
                rates: vec![],
                ..FeedBenchConfig::default()
            },
            FeedBenchConfig {
                rates: vec![0],
                ..FeedBenchConfig::default()
            },
            FeedBenchConfig {
                runs: 0,
                ..FeedBenchConfig::default()
            },
            FeedBenchConfig {
                ring_capacity: 1,
                ..FeedBenchConfig::default()
            },
            FeedBenchConfig {
                duration: Duration::ZERO,
                ..FeedBenchConfig::default()
            },
            FeedBenchConfig {
                symbols: vec![],
                ..FeedBenchConfig::default()
            },
        ] {
            assert!(
                matches!(run_feed_bench(&bad), Err(BenchError::InvalidConfig(_))),
                "{bad:?}"
            );
        }
        let missing_core = FeedBenchConfig {
            cores: Some((0, 100_000)),
            ..FeedBenchConfig::default()
        };
        assert!(matches!(
            run_feed_bench(&missing_core),
            Err(BenchError::CoreUnavailable { core: 100_000, .. })
        ));
    }

    #[test]
    fn a_tiny_run_goes_end_to_end_and_fills_every_section() {
        // Structure only (no timing): a low rate for a short window, one
        // run. The feed must have received and delivered something, and the
        // report must carry the expected sections, rows and checks.
        let cfg = FeedBenchConfig {
            rates: vec![2_000],
            duration: Duration::from_millis(300),
            warmup: Duration::from_millis(100),
            runs: 1,
            ring_capacity: 1024,
            ..FeedBenchConfig::default()
        };
        let report = run_feed_bench(&cfg).expect("tiny feed bench runs");
        assert_eq!(report.title, "feed_throughput");
        assert_eq!(report.runs, 1);
        assert_eq!(report.sections.len(), 2);
        let ring = &report.sections[0];
        assert_eq!(ring.cases.len(), 1);
        assert_eq!(ring.cases[0].case, "sim 2k/s");
        assert!(ring.cases[0].median.samples > 0, "{:?}", ring.cases[0]);
        assert!(ring.cases[0].median.ops_per_sec.is_some_and(|r| r > 0.0));
        assert_eq!(ring.checks.len(), 5 + 1);
        let best = ring.checks.last().expect("best-rate check");
        assert_eq!(best.target, Some(Target::at_least(TARGET_MSGS_PER_SEC)));
        let decode = &report.sections[1];
        assert_eq!(decode.cases[0].median.samples, ring.cases[0].median.samples);
        assert!(decode.cases[0].median.p50 <= ring.cases[0].median.p50);
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.starts_with("sim 2k/s: generated"))
        );
        let md = report.to_markdown();
        assert!(md.starts_with("## feed_throughput\n"));
        assert!(md.contains("| sim 2k/s |"));
    }
}
