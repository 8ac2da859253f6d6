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
//! A step is **sustained with zero loss** when the median lost count is 0,
//! no connection was lost (a simulator closing a slow consumer discards
//! what it had not written yet), and the median delivered rate during the
//! window is at least [`KEEP_UP`] of the sent rate (the feed kept up in real
//! time instead of draining a backlog after the pause).
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
//! # Machine and layout
//!
//! On this 2-core machine the simulator, the feed and the consumer cannot
//! each own a core. By default ([`FeedCores::auto`]) the simulator's
//! threads (source, acceptor, one reader and one writer per connection) are
//! confined to the first core — they inherit the affinity of a short-lived
//! launcher thread — and the feed agent and the consumer share the second,
//! as in Talon's `shared` layout preset (feed + engine on one core). Neither
//! busy-spins: both wait with a backoff (spin → yield → park ≤ 50 µs,
//! [`SHARED_CORE_IDLE`]), so the one that has work gets the core. The
//! report prints the layout, the idle strategies and each party's CPU share
//! during the window, so a ceiling can be attributed: the feed thread near
//! 100 % of a core is the feed's limit; the simulator near 100 % is the
//! simulator's.

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
    /// Where the simulator, the feed and the consumer run. `None`: chosen
    /// from this process's affinity mask (see [`FeedCores::auto`]).
    pub cores: Option<FeedCores>,
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
            rates: vec![250_000, 1_000_000, 2_000_000, 4_000_000, 6_000_000],
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

/// Core placement of the three parties (`None` = that party's threads are
/// not pinned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedCores {
    /// Every simulator thread (source, acceptor, per-connection reader and
    /// writer): they are spawned from a short-lived launcher thread pinned
    /// here and inherit its affinity.
    pub sim: Option<usize>,
    /// The feed agent's runner.
    pub feed: Option<usize>,
    /// The md ring's consumer.
    pub consumer: Option<usize>,
}

impl FeedCores {
    /// The layout for this machine: with ≥ 2 cores the simulator is confined
    /// to the first, the feed and the consumer share the second (Talon's
    /// `shared` preset: feed + engine on one core, nothing else there); with
    /// one core everything is pinned to it; with none, nothing is pinned.
    pub fn auto() -> FeedCores {
        match core_ids().as_slice() {
            [] => FeedCores {
                sim: None,
                feed: None,
                consumer: None,
            },
            [only] => FeedCores {
                sim: Some(*only),
                feed: Some(*only),
                consumer: Some(*only),
            },
            [first, second, ..] => FeedCores {
                sim: Some(*first),
                feed: Some(*second),
                consumer: Some(*second),
            },
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

/// Thread names (as `/proc` shows them: at most 15 bytes).
const FEED_THREAD: &str = "bench-feed";
const CONSUMER_THREAD: &str = "bench-consumer";
/// Every simulator thread's name starts with this.
const SIM_THREAD_PREFIX: &str = "sim-";

/// `USER_HZ`: the unit of `utime`/`stime` in `/proc/*/stat` (100 on every
/// Linux architecture that exposes it to user space).
const USER_HZ: f64 = 100.0;

/// CPU time (user + system, in `USER_HZ` ticks) of this process's threads
/// by thread id, with each thread's name. Empty where `/proc` is missing.
fn thread_cpu() -> Vec<(u64, String, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let tid: u64 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        // Fields after the parenthesised name: state (3), …, utime (14),
        // stime (15).
        let rest = stat.rsplit_once(')')?.1;
        let mut f = rest.split_whitespace().skip(11);
        let utime: u64 = f.next()?.parse().ok()?;
        let stime: u64 = f.next()?.parse().ok()?;
        Some((tid, comm.trim().to_owned(), utime + stime))
    })
    .collect()
}

/// `(busy, all)` CPU ticks of the whole machine (`cpu` line of
/// `/proc/stat`; busy = all − idle − iowait), and this process's ticks
/// (user + system of `/proc/self/stat`, all its threads, finished ones
/// included). Zeros where `/proc` is missing.
fn machine_cpu() -> (u64, u64, u64) {
    let machine = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let line = s.lines().next()?.strip_prefix("cpu ")?.to_owned();
            let v: Vec<u64> = line
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            let all: u64 = v.iter().sum();
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            Some((all - idle, all))
        })
        .unwrap_or((0, 0));
    let process = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_owned();
            let mut f = rest.split_whitespace().skip(11);
            let utime: u64 = f.next()?.parse().ok()?;
            let stime: u64 = f.next()?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0);
    (machine.0, machine.1, process)
}

/// CPU counters at one instant.
#[derive(Clone, Debug, Default)]
struct CpuSample {
    threads: Vec<(u64, String, u64)>,
    machine_busy: u64,
    machine_all: u64,
    process: u64,
}

fn cpu_sample() -> CpuSample {
    let (machine_busy, machine_all, process) = machine_cpu();
    CpuSample {
        threads: thread_cpu(),
        machine_busy,
        machine_all,
        process,
    }
}

/// Share of one core each party used between two [`thread_cpu`] samples
/// (threads present in both), over `secs` of wall time.
/// (threads present in both), over `secs` of wall time; plus the whole
/// machine's busy cores and the part of it that was not this process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct CpuShare {
    feed: f64,
    consumer: f64,
    sim: f64,
    /// Cores the whole machine kept busy.
    machine: f64,
    /// Cores busy with other processes (machine − this process).
    others: f64,
}

fn cpu_share(a: &CpuSample, b: &CpuSample, secs: f64) -> CpuShare {
    let mut share = CpuShare::default();
    if secs <= 0.0 {
        return share;
    }
    let all = b.machine_all.saturating_sub(a.machine_all) as f64;
    if all > 0.0 {
        // /proc/stat ticks are summed over every core: scale busy/all back
        // to cores.
        let cores = core_ids().len().max(1) as f64;
        let busy = b.machine_busy.saturating_sub(a.machine_busy) as f64;
        share.machine = busy / all * cores;
        let process = b.process.saturating_sub(a.process) as f64 / USER_HZ / secs;
        share.others = (share.machine - process).max(0.0);
    }
    for (tid, name, ticks) in &b.threads {
        let Some((_, _, before)) = a.threads.iter().find(|(t, _, _)| t == tid) else {
            continue;
        };
        let used = ticks.saturating_sub(*before) as f64 / USER_HZ / secs;
        if name == FEED_THREAD {
            share.feed += used;
        } else if name == CONSUMER_THREAD {
            share.consumer += used;
        } else if name.starts_with(SIM_THREAD_PREFIX) {
            share.sim += used;
        }
    }
    share
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
    /// CPU used during the window, in cores.
    cpu: CpuShare,
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

    /// Connections lost during the step (the simulator closing a slow
    /// consumer, or the feed reconnecting): whatever the simulator had not
    /// written yet is gone, so the step is not loss-free even if every
    /// written message arrived.
    fn connection_losses(&self) -> u64 {
        self.slow_consumer_closes.max(self.reconnects)
    }

    /// Subscribed messages sent per generated pacing unit.
    fn sent_share(&self) -> f64 {
        if self.generated_per_sec > 0.0 {
            self.sent_per_sec / self.generated_per_sec
        } else {
            0.0
        }
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

/// Starts the simulator from a launcher thread pinned to `core` (if any),
/// so every thread the simulator spawns inherits that affinity; the
/// caller's own thread is never re-pinned.
fn start_sim(cfg: SimConfig, core: Option<usize>) -> Result<SimHandle, BenchError> {
    let launcher = std::thread::Builder::new()
        .name("bench-sim-launch".to_owned())
        .spawn(move || -> Result<SimHandle, BenchError> {
            if let Some(core) = core {
                pin_current(core)?;
            }
            Simulator::start(cfg).map_err(|e| setup_error("start talon-sim", "127.0.0.1:0", e))
        })
        .map_err(|e| BenchError::io("spawn the simulator launcher", "127.0.0.1:0", e))?;
    launcher.join().map_err(|_| BenchError::ThreadPanicked {
        case: "simulator launcher",
    })?
}

/// Runs one step (one simulator rate) once.
fn run_step(rate: u64, cfg: &FeedBenchConfig, layout: FeedCores) -> Result<StepRun, BenchError> {
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
    let sim = start_sim(sim_cfg, layout.sim)?;
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
            .name(CONSUMER_THREAD.to_owned())
            .spawn(move || consume(rx, clock, &shared, idle, layout.consumer))
            .map_err(|e| BenchError::io("spawn the consumer thread", &addr, e))?
    };
    let feed_idle = cfg
        .feed_idle
        .build()
        .map_err(|_| BenchError::InvalidConfig("feed_idle is not a valid idle strategy"))?;
    let rt = Runtime::new();
    let runner = AgentRunner::start(FEED_THREAD, agent, feed_idle, layout.feed, &rt)
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
    let cpu0 = cpu_sample();
    let s0 = snapshot(&sim, &feed, &shared);
    std::thread::sleep(cfg.duration);
    let s1 = snapshot(&sim, &feed, &shared);
    let cpu1 = cpu_sample();
    // Relaxed: see `consume` (a latency sample at the window's edge is harmless).
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
        cpu: cpu_share(&cpu0, &cpu1, window),
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
    connection_losses: u64,
    sent_share: f64,
    cpu: CpuShare,
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
            connection_losses: u(StepRun::connection_losses),
            sent_share: f(StepRun::sent_share),
            cpu: CpuShare {
                feed: f(|r| r.cpu.feed),
                consumer: f(|r| r.cpu.consumer),
                sim: f(|r| r.cpu.sim),
                machine: f(|r| r.cpu.machine),
                others: f(|r| r.cpu.others),
            },
            runs,
        }
    }

    /// Zero loss and kept up in real time (see the module docs).
    fn sustained(&self) -> bool {
        self.lost == 0 && self.connection_losses == 0 && self.sent_per_sec > 0.0 && self.kept_up()
    }

    fn kept_up(&self) -> bool {
        self.delivered_per_sec >= KEEP_UP * self.sent_per_sec
    }
}

/// `sim 500k/s`, `sim 1.5M/s`.
fn step_name(rate: u64) -> String {
    if rate >= 1_000_000 && rate.is_multiple_of(100_000) {
        let tenths = rate / 100_000;
        if tenths.is_multiple_of(10) {
            format!("sim {}M/s", tenths / 10)
        } else {
            format!("sim {}.{}M/s", tenths / 10, tenths % 10)
        }
    } else if rate >= 1_000 && rate.is_multiple_of(1_000) {
        format!("sim {}k/s", rate / 1_000)
    } else {
        format!("sim {rate}/s")
    }
}

/// The sustained zero-loss step that delivered the most messages per
/// second (on a shared machine a higher nominal step may deliver less).
fn best_sustained(steps: &[StepSummary]) -> Option<&StepSummary> {
    steps
        .iter()
        .filter(|s| s.sustained())
        .max_by(|a, b| a.delivered_per_sec.total_cmp(&b.delivered_per_sec))
}

fn validate(cfg: &FeedBenchConfig) -> Result<FeedCores, BenchError> {
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
    let cores = cfg.cores.unwrap_or_else(FeedCores::auto);
    for core in [cores.sim, cores.feed, cores.consumer]
        .into_iter()
        .flatten()
    {
        check_core(core)?;
    }
    Ok(cores)
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

fn notes(cfg: &FeedBenchConfig, layout: FeedCores, steps: &[StepSummary]) -> Vec<String> {
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
            "zero loss: after the window the simulator is paused and the feed drains; lost = sent − delivered over the whole step (conflated top-of-book, trades refused by a full ring and decode errors all count); a step is sustained when the median lost is 0, no connection was lost (a simulator closing a slow consumer discards what it had not yet written) and the median delivered rate is ≥ {:.0}% of the sent rate",
            KEEP_UP * 100.0
        ),
        "latency: stamps.recv = the feed's socket read that completed the message returned; the consumer reads the same MonotonicClock when it pops the event, so now − recv = rest of the read batch + decode + conflator + ring push + one ring hop + the consumer's polling delay; kernel and simulator time are not included (frames carry no send stamp)".to_owned(),
        format!(
            "layout on this {}-core machine: simulator threads (source, acceptor, per-connection reader and writer) on {}, feed agent (AgentRunner) on {}, md consumer on {}; idle feed {} / consumer {}; md ring capacity {}",
            core_ids().len(),
            fmt_core(layout.sim),
            fmt_core(layout.feed),
            fmt_core(layout.consumer),
            cfg.feed_idle.to_toml_inline(),
            cfg.consumer_idle.to_toml_inline(),
            cfg.ring_capacity,
        ),
        format!(
            "runs interleaved (run 1 of every step, then run 2, …); every number is the median across {} runs",
            cfg.runs
        ),
    ];
    // The share of generated pacing units that are subscribed messages is a
    // property of the generator; the lowest step shows it undisturbed.
    let base_share = steps.first().map_or(0.0, |s| s.sent_share);
    for s in steps {
        let writer_behind = base_share > 0.0 && s.sent_share < 0.9 * base_share;
        let verdict = if s.sustained() {
            "sustained, zero loss"
        } else if s.lost > 0 || s.connection_losses > 0 {
            "LOSS"
        } else {
            "no loss but fell behind (drained after the pause)"
        };
        n.push(format!(
            "{}: generated {}, sent {} ({:.1}% of generated{}), delivered {}; whole step: lost {}, conflated {}, trades dropped {}, decode errors {}, reconnects {}, slow-consumer closes {}, generator overruns {}, md ring full {} (high water {}); CPU in the window (% of one core): feed {:.0}%, consumer {:.0}%, simulator {:.0}%, other processes {:.0}%, machine {:.0}% of {} — {}",
            s.name,
            fmt_rate(s.generated_per_sec),
            fmt_rate(s.sent_per_sec),
            s.sent_share * 100.0,
            if writer_behind {
                ": the simulator's writer is behind its generator"
            } else {
                ""
            },
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
            s.cpu.feed * 100.0,
            s.cpu.consumer * 100.0,
            s.cpu.sim * 100.0,
            s.cpu.others * 100.0,
            s.cpu.machine * 100.0,
            core_ids().len() * 100,
            verdict,
        ));
    }
    let ceiling = steps.iter().map(|s| s.sent_per_sec).fold(0.0, f64::max);
    let all_sustained = steps.iter().all(StepSummary::sustained);
    match (best_sustained(steps), steps.last()) {
        (Some(_), Some(top)) if all_sustained => n.push(format!(
            "the feed kept up with every step, so its own limit was not reached: the most the simulator sent was {} — at that step the feed thread used {:.0}% and the simulator {:.0}% of a core",
            fmt_rate(ceiling),
            top.cpu.feed * 100.0,
            top.cpu.sim * 100.0,
        )),
        (Some(b), _) => n.push(format!(
            "best sustained zero-loss step: {} ({} into the md ring); other steps lost messages or fell behind (see their CPU shares for which side saturated: the feed thread near 100% = the feed's limit, the simulator near 100% = the simulator's)",
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
    n.push(
        "backpressure: the consumer drains faster than the feed fills the ring, so past the feed's limit the backlog builds in the socket and the simulator (which closes a client lagging by 64 MiB) rather than in the md ring: conflation (ring full) stays at 0 unless the ring's consumer is the slow side".to_owned(),
    );
    n.push(format!(
        "CPU shares: user + system time of each thread from /proc/self/task/*/stat over the window (10 ms resolution; the simulator's threads are those named {SIM_THREAD_PREFIX}*); machine = busy time from /proc/stat; other processes = machine − this process (this machine is shared: other work running during a step lowers its numbers)"
    ));
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
            FeedCores {
                sim: None,
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
                .any(|l| l.contains("best sustained zero-loss step: sim 200/s"))
        );
    }

    #[test]
    fn thread_cpu_sees_named_threads_and_attributes_them() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::Builder::new()
            .name("sim-cpu-probe".to_owned())
            .spawn(move || {
                // std names the thread from inside it: once this runs, /proc
                // shows the name.
                let _ = ready_tx.send(());
                rx.recv()
            })
            .expect("spawn probe");
        ready_rx.recv().expect("probe started");
        let a = cpu_sample();
        assert!(
            a.threads.iter().any(|(_, name, _)| name == "sim-cpu-probe"),
            "{:?}",
            a.threads
        );
        assert!(a.machine_all >= a.machine_busy);
        // The same sample twice: nothing elapsed, every share is zero.
        let none = cpu_share(&a, &a, 1.0);
        assert_eq!((none.feed, none.consumer, none.sim), (0.0, 0.0, 0.0));
        // One more tick on the probe is attributed to the simulator.
        let mut b = a.clone();
        for (_, name, ticks) in &mut b.threads {
            if name == "sim-cpu-probe" {
                *ticks += 10;
            }
        }
        let share = cpu_share(&a, &b, 1.0);
        assert!((share.sim - 0.1).abs() < 1e-9, "{share:?}");
        assert_eq!(share.feed, 0.0);
        drop(tx);
        t.join().expect("probe thread").ok();
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
            cores: Some(FeedCores {
                sim: None,
                feed: Some(0),
                consumer: Some(100_000),
            }),
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
