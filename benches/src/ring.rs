//! `ring_hop_one_to_one`: one-way latency of a single message crossing an
//! SPSC queue from a producer thread to a consumer thread.
//!
//! Owns [`RingBenchConfig`] and [`run_ring_bench`]. Compares, in the same run
//! and interleaved run by run, Talon's ring (`talon_core::ring::ring`), raw
//! `rtrb`, crossbeam's `ArrayQueue` and `std::sync::mpsc::sync_channel`, in
//! two placements: producer and consumer pinned to separate cores, each
//! waiting with Talon's `IdleStrategy::BusySpin`, and both pinned to one
//! shared core, each waiting with `IdleStrategy::Yield` (`sched_yield`)
//! whenever it has nothing to do.
//!
//! Method: every message carries the producer's send stamp, read from one
//! `MonotonicClock` shared by both threads (`Instant`, CLOCK_MONOTONIC via the
//! vDSO; TSC-based and synchronised across cores on this machine). The
//! consumer records `receive stamp − send stamp` into an hdrhistogram, then
//! acknowledges through a `CachePadded<AtomicU64>` (after its stamp, so the
//! ack is outside the measured hop). The producer is paced: after each send
//! it waits (spinning on separate cores, yielding on a shared core) for that
//! ack **and** until `gap_ns` has passed since the send stamp. The queue is
//! therefore empty at every send and the number is the hop cost, not
//! queueing; a consumer descheduled by another process on this shared machine
//! inflates one sample, not the queue's worth behind it. A full queue (never
//! expected) is retried with a fresh stamp. The first `warmup` messages of
//! each case are not recorded.
//!
//! Never asserts on a timing. Allocates only before and after the timed loops.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use talon_core::agent::IdleStrategy;
use talon_core::clock::{MonotonicClock, NanoClock};

use crate::error::BenchError;
use crate::machine::{MachineInfo, check_core, core_ids, pin_current};
use crate::report::{BenchReport, CaseResult, Check, RunStats, Section, Target, new_histogram};

/// Settings of one `ring_hop_one_to_one` run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingBenchConfig {
    /// Recorded messages per case per run.
    pub messages: u64,
    /// Messages sent before recording starts (caches, branch predictors,
    /// page faults of the queue's slots).
    pub warmup: u64,
    /// Runs; each column of the table is the median across runs (≥ 1;
    /// the targets are stated for ≥ 3).
    pub runs: u32,
    /// `(producer core, consumer core)`. `None`: the first two cores of this
    /// process's affinity mask. The shared-core placement uses the first.
    pub cores: Option<(usize, usize)>,
    /// Queue capacity in messages, the same for every implementation.
    pub capacity: usize,
    /// Pacing: the producer sends the next message only once this many
    /// nanoseconds have passed since the previous send stamp.
    pub gap_ns: u64,
    /// A case that makes no progress for this long fails with
    /// [`BenchError::Stalled`] instead of hanging.
    pub stall_timeout: Duration,
}

impl Default for RingBenchConfig {
    /// 3 runs × 8 cases × 110 000 messages: about 10–20 s on a 2-core VM.
    fn default() -> Self {
        Self {
            messages: 100_000,
            warmup: 10_000,
            runs: 3,
            cores: None,
            capacity: 1024,
            gap_ns: 2_000,
            stall_timeout: Duration::from_secs(20),
        }
    }
}

/// The message that crosses each queue: 64 bytes, the size budget of
/// Talon's `MarketEvent`, so every queue copies a realistic payload.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
struct Msg {
    /// Producer's send stamp, ns on the shared clock.
    sent_ns: u64,
    /// Sequence number; messages below `warmup` are not recorded.
    seq: u64,
    /// Filler up to 64 bytes.
    pad: [u64; 6],
}

const _: () = assert!(size_of::<Msg>() == 64);

/// Where the two threads run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    /// Producer and consumer on different cores, busy-polling.
    Separate { producer: usize, consumer: usize },
    /// Both on one core, yielding when idle.
    Shared { core: usize },
}

impl Placement {
    fn cores(self) -> (usize, usize) {
        match self {
            Placement::Separate { producer, consumer } => (producer, consumer),
            Placement::Shared { core } => (core, core),
        }
    }

    /// Talon's own idle strategy for this placement: busy-spin when each
    /// thread owns a core, yield (`sched_yield`) when they share one.
    fn idle(self) -> IdleStrategy {
        match self {
            Placement::Separate { .. } => IdleStrategy::BusySpin,
            Placement::Shared { .. } => IdleStrategy::Yield,
        }
    }

    fn title(self) -> String {
        match self {
            Placement::Separate { producer, consumer } => {
                format!(
                    "ring hop, separate cores (producer core {producer} → consumer core {consumer}, busy-poll)"
                )
            }
            Placement::Shared { core } => {
                format!("ring hop, one shared core (both on core {core}, yield when idle)")
            }
        }
    }
}

/// One queue implementation under test: a bounded SPSC-capable channel of
/// [`Msg`] with non-blocking send and receive.
trait HopQueue {
    const NAME: &'static str;
    type Tx: Send;
    type Rx: Send;
    fn channel(capacity: usize) -> (Self::Tx, Self::Rx);
    /// Sends without blocking; `false` if the queue is full.
    fn try_send(tx: &mut Self::Tx, m: Msg) -> bool;
    /// Receives without blocking.
    fn try_recv(rx: &mut Self::Rx) -> Option<Msg>;
}

/// Talon's ring: `talon_core::ring::ring`, rtrb plus pushed/full/high-water
/// counters.
struct TalonRing;

impl HopQueue for TalonRing {
    const NAME: &'static str = TALON_RING;
    type Tx = talon_core::ring::RingProducer<Msg>;
    type Rx = talon_core::ring::RingConsumer<Msg>;
    fn channel(capacity: usize) -> (Self::Tx, Self::Rx) {
        talon_core::ring::ring("bench", capacity)
    }
    #[inline]
    fn try_send(tx: &mut Self::Tx, m: Msg) -> bool {
        // A full ring is counted by the ring itself; the caller retries.
        tx.push(m).is_ok()
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<Msg> {
        rx.pop()
    }
}

/// Raw `rtrb::RingBuffer`, the floor Talon's ring is built on.
struct RawRtrb;

impl HopQueue for RawRtrb {
    const NAME: &'static str = "rtrb (raw)";
    type Tx = rtrb::Producer<Msg>;
    type Rx = rtrb::Consumer<Msg>;
    fn channel(capacity: usize) -> (Self::Tx, Self::Rx) {
        rtrb::RingBuffer::new(capacity)
    }
    #[inline]
    fn try_send(tx: &mut Self::Tx, m: Msg) -> bool {
        tx.push(m).is_ok()
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<Msg> {
        rx.pop().ok()
    }
}

/// crossbeam's bounded MPMC `ArrayQueue`, shared through an `Arc`.
struct CrossbeamArrayQueue;

impl HopQueue for CrossbeamArrayQueue {
    const NAME: &'static str = "crossbeam ArrayQueue";
    type Tx = Arc<crossbeam_queue::ArrayQueue<Msg>>;
    type Rx = Arc<crossbeam_queue::ArrayQueue<Msg>>;
    fn channel(capacity: usize) -> (Self::Tx, Self::Rx) {
        let q = Arc::new(crossbeam_queue::ArrayQueue::new(capacity));
        (Arc::clone(&q), q)
    }
    #[inline]
    fn try_send(tx: &mut Self::Tx, m: Msg) -> bool {
        tx.push(m).is_ok()
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<Msg> {
        rx.pop()
    }
}

/// `std::sync::mpsc::sync_channel` (bounded), with `try_send`/`try_recv`.
struct StdSyncChannel;

impl HopQueue for StdSyncChannel {
    const NAME: &'static str = "std mpsc sync_channel";
    type Tx = mpsc::SyncSender<Msg>;
    type Rx = mpsc::Receiver<Msg>;
    fn channel(capacity: usize) -> (Self::Tx, Self::Rx) {
        mpsc::sync_channel(capacity)
    }
    #[inline]
    fn try_send(tx: &mut Self::Tx, m: Msg) -> bool {
        tx.try_send(m).is_ok()
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<Msg> {
        rx.try_recv().ok()
    }
}

/// How many idle iterations pass between two stall/abort checks (each check
/// reads the clock).
const CHECK_EVERY: u32 = 4096;

/// Watches for a stall (no progress within the timeout) or an abort raised
/// by the other thread.
struct Watchdog<'a> {
    clock: MonotonicClock,
    last_progress: u64,
    idle_polls: u32,
    timeout_ns: u64,
    abort: &'a AtomicBool,
    case: &'static str,
    timeout_secs: u64,
}

impl<'a> Watchdog<'a> {
    fn new(
        clock: MonotonicClock,
        timeout: Duration,
        abort: &'a AtomicBool,
        case: &'static str,
    ) -> Self {
        Self {
            clock,
            last_progress: clock.now().0,
            idle_polls: 0,
            timeout_ns: u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX),
            abort,
            case,
            timeout_secs: timeout.as_secs(),
        }
    }

    #[inline]
    fn progressed(&mut self, now: u64) {
        self.last_progress = now;
        self.idle_polls = 0;
    }

    /// Called on every idle iteration; cheap except every `CHECK_EVERY`th.
    #[inline]
    fn idle_check(&mut self) -> Result<(), BenchError> {
        self.idle_polls += 1;
        if self.idle_polls < CHECK_EVERY {
            return Ok(());
        }
        self.idle_polls = 0;
        // Relaxed: the flag is only a stop hint; no data is published through
        // it (results travel through the scoped threads' join). Pairs with
        // the Relaxed store in `raise`.
        if self.abort.load(Ordering::Relaxed) {
            return Err(BenchError::ThreadPanicked { case: self.case });
        }
        if self.clock.now().0.saturating_sub(self.last_progress) > self.timeout_ns {
            self.raise();
            return Err(BenchError::Stalled {
                case: self.case,
                secs: self.timeout_secs,
            });
        }
        Ok(())
    }

    fn raise(&self) {
        // Relaxed: a stop hint for the other thread; see `idle_check`.
        self.abort.store(true, Ordering::Relaxed);
    }
}

/// One case of one run: returns the statistics of the recorded hops.
fn run_case<Q: HopQueue>(
    placement: Placement,
    cfg: &RingBenchConfig,
) -> Result<RunStats, BenchError> {
    let clock = MonotonicClock::new();
    let (mut tx, mut rx) = Q::channel(cfg.capacity);
    let hist = new_histogram()?;
    let (p_core, c_core) = placement.cores();
    let total = cfg.warmup + cfg.messages;
    let warmup = cfg.warmup;
    let gap = cfg.gap_ns;
    let barrier = Barrier::new(2);
    let abort = AtomicBool::new(false);
    // Sequence number + 1 of the last message the consumer has received.
    let acked = CachePadded::new(AtomicU64::new(0));

    let (prod, cons) = std::thread::scope(|s| {
        let cons = s.spawn(|| -> Result<Histogram<u64>, BenchError> {
            let mut hist = hist;
            let mut idle = placement.idle();
            let mut dog = Watchdog::new(clock, cfg.stall_timeout, &abort, Q::NAME);
            let pinned = pin_current(c_core);
            if pinned.is_err() {
                dog.raise();
            }
            barrier.wait();
            pinned?;
            let mut received = 0u64;
            while received < total {
                match Q::try_recv(&mut rx) {
                    Some(m) => {
                        let now = clock.now().0;
                        if m.seq >= warmup {
                            hist.saturating_record(now.saturating_sub(m.sent_ns));
                        }
                        received += 1;
                        // Relaxed: pacing only, no data is published through
                        // it; pairs with the Relaxed load in the producer's
                        // ack wait, which only needs to see it eventually.
                        acked.store(received, Ordering::Relaxed);
                        dog.progressed(now);
                    }
                    None => {
                        idle.idle(0);
                        dog.idle_check()?;
                    }
                }
            }
            Ok(hist)
        });
        let prod = s.spawn(|| -> Result<(), BenchError> {
            let mut dog = Watchdog::new(clock, cfg.stall_timeout, &abort, Q::NAME);
            let mut idle = placement.idle();
            let pinned = pin_current(p_core);
            if pinned.is_err() {
                dog.raise();
            }
            barrier.wait();
            pinned?;
            let mut msg = Msg::default();
            for seq in 0..total {
                msg.seq = seq;
                let sent = loop {
                    let now = clock.now().0;
                    msg.sent_ns = now;
                    if Q::try_send(&mut tx, msg) {
                        break now;
                    }
                    idle.idle(0);
                    dog.idle_check()?;
                };
                dog.progressed(sent);
                // Pacing, part 1: wait for the consumer's ack, so the queue is
                // empty when the next message goes in and a descheduled
                // consumer inflates one sample instead of a queue's worth.
                // Relaxed: see the store in the consumer.
                while acked.load(Ordering::Relaxed) <= seq {
                    idle.idle(0);
                    dog.idle_check()?;
                }
                // Pacing, part 2: let `gap_ns` pass since the send stamp, so
                // the consumer is back to polling an empty queue.
                while clock.now().0.saturating_sub(sent) < gap {
                    idle.idle(0);
                    dog.idle_check()?;
                }
            }
            Ok(())
        });
        let prod = prod
            .join()
            .map_err(|_| BenchError::ThreadPanicked { case: Q::NAME });
        let cons = cons
            .join()
            .map_err(|_| BenchError::ThreadPanicked { case: Q::NAME });
        (prod, cons)
    });
    // The consumer's own error (a stall it saw first) is the most specific.
    let hist = cons??;
    prod??;
    Ok(RunStats::from_histogram(&hist, None))
}

/// The cost of the timing itself: back-to-back reads of the shared clock
/// (`now → now`), recorded like a hop. Every hop sample contains one such
/// read on the consumer side.
pub(crate) fn clock_overhead(samples: u64) -> Result<RunStats, BenchError> {
    let clock = MonotonicClock::new();
    let mut hist = new_histogram()?;
    for _ in 0..samples {
        let a = clock.now().0;
        let b = clock.now().0;
        hist.saturating_record(b.saturating_sub(a));
    }
    Ok(RunStats::from_histogram(&hist, None))
}

/// Case name of Talon's ring in the tables.
pub const TALON_RING: &str = "talon ring";

/// Case name of the clock-overhead row.
pub const CLOCK_ROW: &str = "clock read (now → now)";

/// The queue implementations, in print order.
const CASES: [&str; 4] = [
    TALON_RING,
    RawRtrb::NAME,
    CrossbeamArrayQueue::NAME,
    StdSyncChannel::NAME,
];

fn run_named(
    name: &str,
    placement: Placement,
    cfg: &RingBenchConfig,
) -> Result<RunStats, BenchError> {
    match name {
        TALON_RING => run_case::<TalonRing>(placement, cfg),
        RawRtrb::NAME => run_case::<RawRtrb>(placement, cfg),
        CrossbeamArrayQueue::NAME => run_case::<CrossbeamArrayQueue>(placement, cfg),
        _ => run_case::<StdSyncChannel>(placement, cfg),
    }
}

fn validate(cfg: &RingBenchConfig) -> Result<Vec<Placement>, BenchError> {
    if cfg.messages == 0 {
        return Err(BenchError::InvalidConfig("messages must be at least 1"));
    }
    if cfg.runs == 0 {
        return Err(BenchError::InvalidConfig("runs must be at least 1"));
    }
    if cfg.capacity < 2 {
        return Err(BenchError::InvalidConfig("capacity must be at least 2"));
    }
    match cfg.cores {
        Some((p, c)) => {
            if p == c {
                return Err(BenchError::InvalidConfig(
                    "the producer and consumer cores must differ (the shared-core placement uses the first)",
                ));
            }
            check_core(p)?;
            check_core(c)?;
            Ok(vec![
                Placement::Separate {
                    producer: p,
                    consumer: c,
                },
                Placement::Shared { core: p },
            ])
        }
        None => {
            let ids = core_ids();
            match ids.as_slice() {
                [] => Err(BenchError::InvalidConfig("no core is available to pin to")),
                [only] => Ok(vec![Placement::Shared { core: *only }]),
                [p, c, ..] => Ok(vec![
                    Placement::Separate {
                        producer: *p,
                        consumer: *c,
                    },
                    Placement::Shared { core: *p },
                ]),
            }
        }
    }
}

/// Runs `ring_hop_one_to_one` and returns its report (never asserts on the
/// numbers). Runs are interleaved (run 1 of every case, then run 2, …) so
/// machine noise drifts over all cases alike.
pub fn run_ring_bench(cfg: &RingBenchConfig) -> Result<BenchReport, BenchError> {
    let placements = validate(cfg)?;
    let machine = MachineInfo::collect();
    // results[placement][case] = runs
    let mut results: Vec<Vec<Vec<RunStats>>> =
        vec![vec![Vec::new(); CASES.len()]; placements.len()];
    let mut clock_runs = Vec::new();
    for _ in 0..cfg.runs {
        clock_runs.push(clock_overhead(cfg.messages)?);
        for (pi, &placement) in placements.iter().enumerate() {
            for (ci, name) in CASES.iter().enumerate() {
                results[pi][ci].push(run_named(name, placement, cfg)?);
            }
        }
    }
    let mut sections = Vec::new();
    for (pi, &placement) in placements.iter().enumerate() {
        let cases: Vec<CaseResult> = CASES
            .iter()
            .zip(results[pi].drain(..))
            .map(|(name, runs)| CaseResult::new(*name, runs))
            .collect();
        let mut s = Section::new(placement.title(), TALON_RING, cases);
        s.push_unrated(CaseResult::new(CLOCK_ROW, clock_runs.clone()));
        let where_ = match placement {
            Placement::Separate { .. } => "separate cores",
            Placement::Shared { .. } => "shared core",
        };
        s.checks.push(Check::new(
            format!("talon / rtrb p50 ({where_})"),
            s.p50_ratio(TALON_RING, RawRtrb::NAME),
            "x",
            Some(Target::at_most(1.5)),
        ));
        for alt in [CrossbeamArrayQueue::NAME, StdSyncChannel::NAME] {
            s.checks.push(Check::new(
                format!("{alt} / talon p50 ({where_})"),
                s.p50_ratio(alt, TALON_RING),
                "x",
                None,
            ));
        }
        sections.push(s);
    }
    let mut notes = vec![
        format!(
            "one-way latency = consumer receive stamp − send stamp carried in a 64-byte message, one shared Instant-based clock; {} recorded messages per case per run after {} warm-up",
            cfg.messages, cfg.warmup
        ),
        format!(
            "producer paced: after each send it waits for the consumer's ack (an atomic written after the receive stamp) and until {} ns have passed since the send stamp (spin on separate cores, sched_yield on a shared core): the queue is empty at every send, so the number is the hop, not queueing",
            cfg.gap_ns
        ),
        format!(
            "capacity {} for every queue; non-blocking try_send/try_recv everywhere (std mpsc included); runs interleaved across cases; each column is the median across runs; ratio column = case p50 / talon p50",
            cfg.capacity
        ),
        "the clock row is two back-to-back clock reads: every hop sample includes one such read"
            .to_owned(),
    ];
    if placements.len() == 1 {
        notes.push(
            "only one core is available: the separate-cores placement was skipped".to_owned(),
        );
    }
    Ok(BenchReport {
        title: "ring_hop_one_to_one".to_owned(),
        machine,
        runs: cfg.runs,
        notes,
        sections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> RingBenchConfig {
        RingBenchConfig {
            messages: 200,
            warmup: 20,
            runs: 1,
            gap_ns: 0,
            ..RingBenchConfig::default()
        }
    }

    #[test]
    fn a_missing_core_is_a_clear_error_before_any_thread_starts() {
        let cfg = RingBenchConfig {
            cores: Some((0, 100_000)),
            ..tiny()
        };
        match run_ring_bench(&cfg) {
            Err(BenchError::CoreUnavailable { core, .. }) => assert_eq!(core, 100_000),
            other => panic!("expected CoreUnavailable, got {other:?}"),
        }
        let same = RingBenchConfig {
            cores: Some((0, 0)),
            ..tiny()
        };
        assert!(matches!(
            run_ring_bench(&same),
            Err(BenchError::InvalidConfig(_))
        ));
        let zero = RingBenchConfig {
            messages: 0,
            ..tiny()
        };
        assert!(matches!(
            run_ring_bench(&zero),
            Err(BenchError::InvalidConfig(_))
        ));
    }

    #[test]
    fn every_queue_delivers_every_message_in_both_placements() {
        // Structure only (no timing): each case records exactly `messages`
        // samples, the clock row is unrated, and the checks are present.
        let report = run_ring_bench(&tiny()).expect("tiny ring bench runs");
        let placements = validate(&tiny()).expect("valid");
        assert_eq!(report.sections.len(), placements.len());
        for s in &report.sections {
            assert_eq!(s.cases.len(), CASES.len() + 1);
            for (c, name) in s.cases.iter().zip(CASES) {
                assert_eq!(c.case, name);
                assert_eq!(c.runs.len(), 1);
                assert_eq!(c.median.samples, 200, "{name}");
                assert!(c.ratio_p50.is_some(), "{name}");
            }
            let clock = s.cases.last().expect("clock row");
            assert_eq!(clock.case, CLOCK_ROW);
            assert_eq!(clock.ratio_p50, None);
            assert!(s.checks[0].name.starts_with("talon / rtrb p50"));
            assert_eq!(s.checks[0].target, Some(Target::at_most(1.5)));
        }
    }
}
