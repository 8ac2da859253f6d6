//! The hot path allocates nothing in steady state: a count, not a timing.
//!
//! A counting `#[global_allocator]` counts every allocation made on a
//! *tracked* thread while measurement is on. The pipeline is the shape of
//! DESIGN.md §1 built from the real parts: a feed-like agent pushes
//! `MarketEvent`s onto the md ring; an engine-like agent drains the exec and
//! md rings (bounded), journals each market event, decides an
//! `OrderCommand`, journals it *before* pushing it to the order ring (write
//! ahead), and journals every `ExecReport`; a gateway-like agent turns orders
//! into fills on the exec ring. The journal uses small segments so the
//! measured window crosses segment rolls.
//!
//! Two placements are measured: everything on the caller's thread through an
//! `AgentInvoker` (replay / single-core), and feed+engine and gateway on two
//! `AgentRunner` threads (the shared layout). Agent threads mark themselves
//! tracked in `on_start`; the journal's background segment preparer and the
//! test's own bookkeeping are not hot-path threads and are not tracked.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use talon_core::agent::{
    Agent, AgentError, AgentInvoker, AgentRunner, CompositeAgent, IdleStrategy, Runtime,
};
use talon_core::clock::{MonotonicClock, NanoClock};
use talon_core::event::{
    ClientOrderId, ExecReport, JournalPayload, MarketData, MarketEvent, OrderCommand, OrderStatus,
    OrderType, Side, Stamps, TimeInForce, TopOfBook,
};
use talon_core::instrument::InstrumentId;
use talon_core::journal::{JournalConfig, JournalWriter, SyncPolicy};
use talon_core::num::{Price, Qty};
use talon_core::ring::{
    ExecConsumer, ExecProducer, MdConsumer, MdProducer, OrderConsumer, OrderProducer, RingConfig,
    RingFull, Rings,
};
use talon_testkit::{CountingAllocator, allocations};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn track_this_thread() {
    allocations::track_current_thread(true);
}

// ---------------------------------------------------------------------------
// The pipeline's agents.

const DRAIN_LIMIT: usize = 64;
const FEED_BATCH: usize = 16;

/// Produces top-of-book updates from a deterministic random walk.
struct FeedLike {
    md: MdProducer,
    clock: MonotonicClock,
    update_id: u64,
    /// An update the full ring refused; conflated (latest wins) and retried.
    pending: Option<MarketEvent>,
    conflated: u64,
}

impl FeedLike {
    fn next_event(&mut self) -> MarketEvent {
        self.update_id += 1;
        let wiggle = (self.update_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as i64;
        let bid = Price::from_raw(6_500_000_000_000 + wiggle * 1_000_000);
        let now = self.clock.now();
        MarketEvent::new(
            InstrumentId((self.update_id % 2) as u16),
            MarketData::TopOfBook(TopOfBook {
                update_id: self.update_id,
                bid_price: bid,
                bid_qty: Qty::from_raw(150_000_000),
                ask_price: Price::from_raw(bid.raw() + 1_000_000),
                ask_qty: Qty::from_raw(80_000_000),
            }),
            Stamps {
                recv: now,
                decode: now,
            },
        )
    }
}

impl Agent for FeedLike {
    fn on_start(&mut self) -> Result<(), AgentError> {
        track_this_thread();
        Ok(())
    }

    fn do_work(&mut self) -> Result<usize, AgentError> {
        let mut work = 0;
        for _ in 0..FEED_BATCH {
            let event = match self.pending.take() {
                Some(_stale) => {
                    // Conflate: a newer update replaces the refused one.
                    self.conflated += 1;
                    self.next_event()
                }
                None => self.next_event(),
            };
            match self.md.push(event) {
                Ok(()) => work += 1,
                Err(RingFull(event)) => {
                    self.pending = Some(event);
                    break;
                }
            }
        }
        Ok(work)
    }

    fn role_name(&self) -> &'static str {
        "feed"
    }
}

/// Decides, journals write-ahead and sends; journals exec reports.
struct EngineLike {
    md: MdConsumer,
    orders: OrderProducer,
    exec: ExecConsumer,
    journal: JournalWriter,
    clock: MonotonicClock,
    session: u32,
    next_order_seq: u64,
    /// An order journaled but refused by the full order ring, sent next cycle.
    unsent: Option<OrderCommand>,
    fills: Arc<AtomicU64>,
}

fn journal_event<T: JournalPayload>(
    journal: &mut JournalWriter,
    ts: talon_core::clock::Nanos,
    event: &T,
) -> Result<(), AgentError> {
    let mut encoded = Ok(());
    journal
        .append_with(T::KIND, T::VERSION, ts, T::ENCODED_LEN, |buf| {
            encoded = event.encode(buf);
        })
        .map_err(|_| AgentError::Journal)?;
    encoded.map_err(|_| AgentError::Invariant)
}

impl Agent for EngineLike {
    fn on_start(&mut self) -> Result<(), AgentError> {
        track_this_thread();
        Ok(())
    }

    fn do_work(&mut self) -> Result<usize, AgentError> {
        let now = self.clock.now();
        let mut work = 0;

        if let Some(order) = self.unsent.take() {
            match self.orders.push(order) {
                Ok(()) => work += 1,
                Err(RingFull(order)) => {
                    self.unsent = Some(order);
                    return Ok(work);
                }
            }
        }

        let mut exec_result = Ok(());
        let journal = &mut self.journal;
        let fills = &self.fills;
        work += self.exec.drain(DRAIN_LIMIT, |mut report: ExecReport| {
            report.apply = now;
            if exec_result.is_ok() {
                exec_result = journal_event(journal, now, &report);
            }
            // Release: pairs with the test thread's Acquire, which then sees
            // every journal append made before this fill was counted.
            fills.fetch_add(1, Ordering::Release);
        });
        exec_result?;

        // One market event at a time, so a full order ring stops the drain
        // with the refused order parked in `unsent` (nothing lost).
        for _ in 0..DRAIN_LIMIT {
            if self.unsent.is_some() {
                break;
            }
            let Some(event) = self.md.pop() else { break };
            work += 1;
            journal_event(&mut self.journal, now, &event)?;
            let MarketData::TopOfBook(top) = event.data() else {
                continue;
            };
            self.next_order_seq += 1;
            let mut order = OrderCommand::new_order(
                event.instrument,
                if top.update_id % 2 == 0 {
                    Side::Buy
                } else {
                    Side::Sell
                },
                OrderType::Limit,
                TimeInForce::Ioc,
                top.bid_price,
                Qty::from_raw(1_000_000),
                ClientOrderId::from_session_seq(self.session, self.next_order_seq),
            );
            order.trigger = event.stamps;
            order.decide = self.clock.now();
            // Write-ahead: the order is in the journal before it can leave.
            journal_event(&mut self.journal, order.decide, &order)?;
            order.journal = self.clock.now();
            if let Err(RingFull(order)) = self.orders.push(order) {
                self.unsent = Some(order);
            }
        }
        Ok(work)
    }

    fn role_name(&self) -> &'static str {
        "engine"
    }
}

/// Fills every order it receives.
struct GatewayLike {
    orders: OrderConsumer,
    exec: ExecProducer,
    clock: MonotonicClock,
    venue_order_id: u64,
    unsent: Option<ExecReport>,
}

impl Agent for GatewayLike {
    fn on_start(&mut self) -> Result<(), AgentError> {
        track_this_thread();
        Ok(())
    }

    fn do_work(&mut self) -> Result<usize, AgentError> {
        let mut work = 0;
        if let Some(report) = self.unsent.take() {
            if let Err(RingFull(report)) = self.exec.push(report) {
                self.unsent = Some(report);
                return Ok(0);
            }
            work += 1;
        }
        for _ in 0..DRAIN_LIMIT {
            let Some(order) = self.orders.pop() else {
                break;
            };
            work += 1;
            self.venue_order_id += 1;
            let now = self.clock.now();
            let report = ExecReport {
                instrument: order.instrument,
                status: OrderStatus::Filled,
                side: order.side,
                venue_order_id: self.venue_order_id,
                trade_id: self.venue_order_id,
                last_price: order.price,
                last_qty: order.qty,
                cum_qty: order.qty,
                client_order_id: order.client_order_id,
                stamps: Stamps {
                    recv: now,
                    decode: now,
                },
                ..ExecReport::ZERO
            };
            if let Err(RingFull(report)) = self.exec.push(report) {
                self.unsent = Some(report);
                break;
            }
        }
        Ok(work)
    }

    fn role_name(&self) -> &'static str {
        "gateway"
    }
}

struct Pipeline {
    feed: FeedLike,
    engine: EngineLike,
    gateway: GatewayLike,
    fills: Arc<AtomicU64>,
    dir: tempfile::TempDir,
}

impl Pipeline {
    /// Segment files in the journal directory (active, sealed and the spare
    /// prepared ahead). Reads the directory, so call it outside a window.
    fn segment_files(dir: &tempfile::TempDir) -> usize {
        std::fs::read_dir(dir.path().join("journal"))
            .expect("journal dir")
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "journal"))
            .count()
    }
}

fn pipeline() -> Pipeline {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = JournalConfig::new(dir.path().join("journal"));
    // The default 64 MiB segments: the measured window writes several hundred
    // MiB, so it crosses several rolls (checked below), each served by the
    // background preparer. (A writer that outruns the preparer, e.g. with tiny
    // segments on a starved machine, creates the segment inline: a cold path
    // that allocates and makes syscalls, counted in `WriterStats::prepared_inline`.)
    config.segment_size = talon_core::journal::DEFAULT_SEGMENT_SIZE;
    config.sync = SyncPolicy::None;
    let (journal, _report) = JournalWriter::open(config).expect("journal opens");
    let rings = Rings::new(&RingConfig {
        md: 256,
        order: 64,
        exec: 64,
        control: 16,
    })
    .expect("ring config");
    let Rings {
        md, order, exec, ..
    } = rings;
    let clock = MonotonicClock::new();
    let fills = Arc::new(AtomicU64::new(0));
    Pipeline {
        feed: FeedLike {
            md: md.0,
            clock,
            update_id: 0,
            pending: None,
            conflated: 0,
        },
        engine: EngineLike {
            md: md.1,
            orders: order.0,
            exec: exec.1,
            journal,
            clock,
            session: 7,
            next_order_seq: 0,
            unsent: None,
            fills: Arc::clone(&fills),
        },
        gateway: GatewayLike {
            orders: order.1,
            exec: exec.0,
            clock,
            venue_order_id: 0,
            unsent: None,
        },
        fills,
        dir,
    }
}

/// Waits (without allocating) until `fills` reaches `target`, or panics after
/// a generous bound so a wedged pipeline fails instead of hanging CI.
fn wait_for_fills(fills: &AtomicU64, target: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    // Acquire: pairs with the engine's Release increment.
    while fills.load(Ordering::Acquire) < target {
        assert!(
            Instant::now() < deadline,
            "pipeline stalled below {target} fills"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// The two scenarios share the process-wide counter, so they run in sequence
/// inside one test.
#[test]
fn steady_state_pipeline_allocates_nothing() {
    single_thread_invoker_allocates_nothing();
    runner_threads_allocate_nothing();
}

fn single_thread_invoker_allocates_nothing() {
    let p = pipeline();
    let fills = Arc::clone(&p.fills);
    let dir = p.dir;
    let agents: Vec<Box<dyn Agent>> =
        vec![Box::new(p.feed), Box::new(p.engine), Box::new(p.gateway)];
    let rt = Runtime::new();
    let mut invoker = AgentInvoker::new(CompositeAgent::new("all", agents), &rt);
    invoker.start().expect("agents start");

    // Warm-up: first touches, lazily sized state, the first segment rolls.
    for _ in 0..2_000 {
        invoker.invoke().expect("warm-up cycle");
    }
    let before = fills.load(Ordering::Acquire);
    let segments_before = Pipeline::segment_files(&dir);

    const CYCLES: u64 = 50_000;
    allocations::start();
    let mut work = 0usize;
    for _ in 0..CYCLES {
        work += invoker.invoke().expect("steady-state cycle");
    }
    let allocations = allocations::stop();
    allocations::track_current_thread(false);
    let filled = fills.load(Ordering::Acquire) - before;
    invoker.close();
    let rolls = Pipeline::segment_files(&dir) - segments_before;

    assert!(
        work > 0 && filled > 100_000,
        "the pipeline did real work: {filled} fills"
    );
    assert!(rolls >= 2, "the window crossed segment rolls: {rolls}");
    assert_eq!(
        allocations, 0,
        "{allocations} allocations in {CYCLES} duty cycles ({filled} orders filled)"
    );
}

fn runner_threads_allocate_nothing() {
    let p = pipeline();
    let fills = Arc::clone(&p.fills);
    let dir = p.dir;
    let rt = Runtime::new();
    let hot: Vec<Box<dyn Agent>> = vec![Box::new(p.feed), Box::new(p.engine)];
    // The shared layout on a 2-core machine: two threads that yield when idle
    // (never two busy-spinners on two cores under a test runner).
    let feed_engine = AgentRunner::start(
        "feed+engine",
        CompositeAgent::new("feed+engine", hot),
        IdleStrategy::Yield,
        None,
        &rt,
    )
    .expect("feed+engine runner starts");
    let gateway = AgentRunner::start("gateway", p.gateway, IdleStrategy::Yield, None, &rt)
        .expect("gateway runner starts");

    wait_for_fills(&fills, 20_000);
    let before = fills.load(Ordering::Acquire);
    let segments_before = Pipeline::segment_files(&dir);
    allocations::start();
    wait_for_fills(&fills, before + 600_000);
    let allocations = allocations::stop();
    let filled = fills.load(Ordering::Acquire) - before;

    let exits = [feed_engine.close(), gateway.close()];
    let rolls = Pipeline::segment_files(&dir) - segments_before;
    assert!(!rt.halt.is_halted(), "no agent failed: {exits:?}");
    assert!(rolls >= 1, "the window crossed segment rolls: {rolls}");
    assert_eq!(
        allocations, 0,
        "{allocations} allocations on agent threads while {filled} orders went round"
    );
}
