//! Both the shared and the dedicated topologies (and the single thread) run
//! real agents over real rings: a feed → engine → gateway → control pipeline
//! of test agents, wired from a `ThreadLayout` to `AgentRunner`s (pinned
//! where this machine allows it), must deliver every message exactly once and
//! in order. A failing agent in a running layout halts and is reported.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use talon_core::agent::{
    Agent, AgentError, AgentInvoker, AgentRole, AgentRunner, CompositeAgent, IdleConfig,
    MachineCores, RunnerExit, Runtime, ThreadLayout,
};
use talon_core::counters::CounterId;
use talon_core::halt::HaltReason;
use talon_core::ring::{RingConsumer, RingFull, RingProducer, RingSnapshot, ring};

/// Messages in each run: enough to fill the small rings many times over.
const N: u64 = 20_000;
/// Small rings so the full path is exercised.
const RING_CAPACITY: usize = 64;
/// Bounded work per duty cycle.
const BATCH: usize = 16;
/// Failure guard only (a run takes well under a second normally).
const DEADLINE: Duration = Duration::from_secs(20);

/// The test message: a sequence number and the stages it passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Msg {
    seq: u64,
    hops: u8,
}

/// Produces `0..N` onto the md ring, keeping a refused message for the next
/// cycle (never dropped) and counting refusals.
struct Source {
    out: RingProducer<Msg>,
    next: u64,
    pending: Option<Msg>,
    refused: Arc<AtomicU64>,
}

impl Agent for Source {
    fn do_work(&mut self) -> Result<usize, AgentError> {
        let mut work = 0;
        for _ in 0..BATCH {
            let msg = match self.pending.take() {
                Some(m) => m,
                None if self.next < N => {
                    let m = Msg {
                        seq: self.next,
                        hops: 0,
                    };
                    self.next += 1;
                    m
                }
                None => break,
            };
            match self.out.push(msg) {
                Ok(()) => work += 1,
                Err(RingFull(m)) => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    self.pending = Some(m);
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

/// Moves messages from one ring to the next, checking order; fails with
/// `Invariant` on a gap, or on purpose at `fail_at`.
struct Relay {
    role: &'static str,
    input: RingConsumer<Msg>,
    out: RingProducer<Msg>,
    expect: u64,
    pending: Option<Msg>,
    fail_at: Option<u64>,
}

impl Agent for Relay {
    fn do_work(&mut self) -> Result<usize, AgentError> {
        let mut work = 0;
        if let Some(m) = self.pending.take() {
            if let Err(RingFull(m)) = self.out.push(m) {
                self.pending = Some(m);
                return Ok(0);
            }
            work += 1;
        }
        for _ in 0..BATCH {
            let Some(mut m) = self.input.pop() else { break };
            if m.seq != self.expect || Some(m.seq) == self.fail_at {
                return Err(AgentError::Invariant);
            }
            self.expect += 1;
            m.hops += 1;
            if let Err(RingFull(m)) = self.out.push(m) {
                self.pending = Some(m);
                break;
            }
            work += 1;
        }
        Ok(work)
    }
    fn role_name(&self) -> &'static str {
        self.role
    }
}

/// Consumes the exec ring, checking order and hop count; publishes how many
/// arrived.
struct Sink {
    input: RingConsumer<Msg>,
    expect: u64,
    delivered: Arc<AtomicU64>,
}

impl Agent for Sink {
    fn do_work(&mut self) -> Result<usize, AgentError> {
        let mut bad = false;
        let expect = &mut self.expect;
        let n = self.input.drain(BATCH, |m| {
            bad |= m.seq != *expect || m.hops != 2;
            *expect += 1;
        });
        if bad {
            return Err(AgentError::Invariant);
        }
        // `Release`: pairs with the test's `Acquire` load; the count is the
        // only thing published.
        self.delivered.store(self.expect, Ordering::Release);
        Ok(n)
    }
    fn role_name(&self) -> &'static str {
        "control"
    }
}

struct Pipeline {
    agents: HashMap<AgentRole, Box<dyn Agent>>,
    delivered: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    md_stats: Arc<talon_core::ring::RingStats>,
    ring_stats: Vec<Arc<talon_core::ring::RingStats>>,
}

fn pipeline(engine_fail_at: Option<u64>) -> Pipeline {
    let (md_tx, md_rx) = ring::<Msg>("md", RING_CAPACITY);
    let (order_tx, order_rx) = ring::<Msg>("order", RING_CAPACITY);
    let (exec_tx, exec_rx) = ring::<Msg>("exec", RING_CAPACITY);
    let ring_stats = vec![
        Arc::clone(md_tx.stats()),
        Arc::clone(order_tx.stats()),
        Arc::clone(exec_tx.stats()),
    ];
    let md_stats = Arc::clone(md_tx.stats());
    let delivered = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let mut agents: HashMap<AgentRole, Box<dyn Agent>> = HashMap::new();
    agents.insert(
        AgentRole::Feed,
        Box::new(Source {
            out: md_tx,
            next: 0,
            pending: None,
            refused: Arc::clone(&refused),
        }),
    );
    agents.insert(
        AgentRole::Engine,
        Box::new(Relay {
            role: "engine",
            input: md_rx,
            out: order_tx,
            expect: 0,
            pending: None,
            fail_at: engine_fail_at,
        }),
    );
    agents.insert(
        AgentRole::Gateway,
        Box::new(Relay {
            role: "gateway",
            input: order_rx,
            out: exec_tx,
            expect: 0,
            pending: None,
            fail_at: None,
        }),
    );
    agents.insert(
        AgentRole::Control,
        Box::new(Sink {
            input: exec_rx,
            expect: 0,
            delivered: Arc::clone(&delivered),
        }),
    );
    Pipeline {
        agents,
        delivered,
        refused,
        md_stats,
        ring_stats,
    }
}

/// Wires `layout` to runners: one `CompositeAgent` per thread, its roles in
/// layout order, the thread's idle strategy and core.
fn spawn(layout: &ThreadLayout, p: &mut Pipeline, rt: &Runtime) -> Vec<AgentRunner> {
    layout
        .threads
        .iter()
        .map(|t| {
            let agents: Vec<Box<dyn Agent>> = t
                .roles
                .iter()
                .map(|r| p.agents.remove(r).expect("each role placed once"))
                .collect();
            let idle = t.idle.build().unwrap();
            AgentRunner::start(
                &t.name,
                CompositeAgent::new("thread", agents),
                idle,
                t.core,
                rt,
            )
            .unwrap()
        })
        .collect()
}

fn wait_for(mut done: impl FnMut() -> bool, runners: &[AgentRunner]) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(
            runners.iter().all(|r| !r.is_finished()),
            "a runner ended early"
        );
        assert!(Instant::now() < deadline, "pipeline did not finish in time");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn check_rings(p: &Pipeline) {
    for s in &p.ring_stats {
        let snap: RingSnapshot = s.snapshot();
        assert_eq!(snap.pushed, N, "{}", snap.name);
        assert_eq!(snap.popped, N, "{}", snap.name);
        assert!(snap.high_water >= 1 && snap.high_water <= RING_CAPACITY as u64);
    }
    assert_eq!(
        p.md_stats.snapshot().full,
        p.refused.load(Ordering::Relaxed),
        "every refused push was seen by the agent and counted by the ring"
    );
}

/// Validates `layout` on this machine, runs the pipeline under it and checks
/// delivery, clean exits and counters.
fn run_layout(layout: &ThreadLayout) {
    layout
        .validate(&MachineCores::detect())
        .unwrap_or_else(|e| panic!("layout does not fit this machine: {e}\n{layout}"));
    let rt = Runtime::new();
    let mut p = pipeline(None);
    let runners = spawn(layout, &mut p, &rt);
    assert_eq!(runners.len(), layout.threads.len());
    for (r, t) in runners.iter().zip(&layout.threads) {
        assert_eq!(r.name(), t.name);
        assert_eq!(r.core(), t.core);
    }
    let delivered = Arc::clone(&p.delivered);
    // `Acquire`: pairs with the sink's `Release` store.
    wait_for(|| delivered.load(Ordering::Acquire) == N, &runners);
    for r in runners {
        let name = r.name().to_owned();
        assert_eq!(r.close(), RunnerExit::Stopped, "thread {name}");
    }
    check_rings(&p);
    assert!(!rt.halt.is_halted());
    assert_eq!(rt.counters.get(CounterId::AgentErrors), 0);
    assert_eq!(rt.counters.get(CounterId::AgentPanics), 0);
    assert_eq!(
        rt.counters.get(CounterId::RunnerStops),
        layout.threads.len() as u64
    );
}

/// The dedicated or shared shape for this machine: pinned as the preset says
/// if the machine has the cores, otherwise unpinned with busy-spin replaced
/// by yield (and the pinned form must then be refused, naming a core key).
fn runnable_here(preset: ThreadLayout) -> ThreadLayout {
    let here = MachineCores::detect();
    match preset.validate(&here) {
        Ok(()) => preset,
        Err(e) => {
            assert!(
                e.key.ends_with(".core") || e.key.ends_with(".idle"),
                "unexpected refusal {e}"
            );
            preset
                .without_pinning()
                .with_busy_spin_as(IdleConfig::Yield)
        }
    }
}

#[test]
fn dedicated_topology_validates_on_a_larger_machine_and_runs_here() {
    let dedicated = ThreadLayout::dedicated();
    for n in [4, 8, 16] {
        assert_eq!(dedicated.validate(&MachineCores::with_count(n)), Ok(()));
    }
    let e = dedicated
        .validate(&MachineCores::with_count(2))
        .unwrap_err();
    assert_eq!(e.key, "thread[1].core");
    run_layout(&runnable_here(dedicated));
}

#[test]
fn shared_topology_validates_on_three_cores_and_runs_here() {
    let shared = ThreadLayout::shared();
    assert_eq!(shared.validate(&MachineCores::with_count(3)), Ok(()));
    run_layout(&runnable_here(shared));
}

#[test]
fn default_layout_for_this_machine_runs_pinned() {
    let here = MachineCores::detect();
    let layout = ThreadLayout::default_for(&here);
    // On 2+ cores this pins the hot thread; the test runs it as chosen.
    if here.len() >= 2 {
        assert!(layout.threads.iter().any(|t| t.core.is_some()));
    }
    run_layout(&layout);
}

#[test]
fn single_thread_layout_runs_on_a_runner_and_on_an_invoker() {
    let layout = ThreadLayout::single_thread();
    run_layout(&layout);

    // Deterministic mode: the same single thread driven on this thread.
    let rt = Runtime::new();
    let mut p = pipeline(None);
    let agents: Vec<Box<dyn Agent>> = layout.threads[0]
        .roles
        .iter()
        .map(|r| p.agents.remove(r).unwrap())
        .collect();
    let mut inv = AgentInvoker::new(CompositeAgent::new("main", agents), &rt);
    inv.start().unwrap();
    let mut cycles = 0u64;
    while p.delivered.load(Ordering::Acquire) < N {
        inv.invoke().unwrap();
        cycles += 1;
        assert!(cycles < 10 * N, "no progress");
    }
    inv.close();
    check_rings(&p);
    assert!(!rt.halt.is_halted());
}

#[test]
fn a_failing_agent_in_a_running_layout_halts_and_is_reported() {
    let layout = runnable_here(ThreadLayout::shared());
    let rt = Runtime::new();
    let mut p = pipeline(Some(N / 2));
    let runners = spawn(&layout, &mut p, &rt);
    let (engine_thread, _) = layout.thread_of(AgentRole::Engine).unwrap();
    let deadline = Instant::now() + DEADLINE;
    while !runners[engine_thread].is_finished() {
        assert!(Instant::now() < deadline, "engine did not fail in time");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Only the failing thread stopped; the halt is visible to everyone.
    assert_eq!(rt.halt.reason(), Some(HaltReason::AgentError));
    let exits: Vec<RunnerExit> = runners.into_iter().map(AgentRunner::close).collect();
    assert_eq!(
        exits[engine_thread],
        RunnerExit::AgentError {
            role: "engine",
            error: AgentError::Invariant
        }
    );
    for (i, exit) in exits.iter().enumerate() {
        if i != engine_thread {
            assert_eq!(*exit, RunnerExit::Stopped);
        }
    }
    assert_eq!(rt.counters.get(CounterId::AgentErrors), 1);
    assert_eq!(rt.counters.get(CounterId::Halts), 1);
    assert!(p.delivered.load(Ordering::Acquire) < N);
}
