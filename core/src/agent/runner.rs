//! [`AgentRunner`]: one named thread driving one agent on a duty cycle.
//!
//! Owns the thread's life: spawn (named), optional pin to a core
//! (core_affinity), `on_start`, the loop `idle.idle(agent.do_work())` until
//! the stop flag is set, then `on_close`. Owns [`RunnerExit`] (why a runner
//! stopped), [`RunnerStats`] (duty-cycle counters readable from any thread)
//! and [`Runtime`] (the halt flag and counters every runner shares).
//!
//! Never silent: an agent error or a panic (caught with `catch_unwind`; the
//! release profile keeps `panic = "unwind"` for this) is counted in
//! [`Counters`], throws the [`HaltFlag`], stops the runner cleanly (`on_close`
//! still runs) and comes back from [`AgentRunner::join`] as a [`RunnerExit`].
//! A pin that cannot be honoured is an error from [`AgentRunner::start`]
//! (core not present) or a [`RunnerExit::PinFailed`] (the OS refused), never
//! a silent fallback to an unpinned thread. The loop never allocates, locks
//! or logs (there is no logging in core: reports are values and counters).
//!
//! ```
//! use std::sync::Arc;
//! use talon_core::agent::{Agent, AgentError, AgentRunner, IdleStrategy, RunnerExit, Runtime};
//! struct Ticker;
//! impl Agent for Ticker {
//!     fn do_work(&mut self) -> Result<usize, AgentError> { Ok(0) }
//!     fn role_name(&self) -> &'static str { "ticker" }
//! }
//! let rt = Runtime::new();
//! let runner = AgentRunner::start("ticker", Ticker, IdleStrategy::Yield, None, &rt)?;
//! assert_eq!(runner.close(), RunnerExit::Stopped);
//! # Ok::<(), talon_core::agent::RunnerError>(())
//! ```

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam_utils::CachePadded;

use super::idle::IdleStrategy;
use super::layout::MachineCores;
use super::{Agent, AgentError};
use crate::counters::{CounterId, Counters};
use crate::halt::{HaltFlag, HaltReason};

/// What every runner and invoker shares: the process-wide halt flag and
/// counters. Cheap to clone (two `Arc`s); passed in, never global.
#[derive(Clone, Debug, Default)]
pub struct Runtime {
    /// The halt switch thrown on agent failure.
    pub halt: Arc<HaltFlag>,
    /// Where failures are counted.
    pub counters: Arc<Counters>,
}

impl Runtime {
    /// A fresh halt flag (running) and zeroed counters.
    pub fn new() -> Runtime {
        Runtime::default()
    }

    /// Counts an agent error and halts (shared with the invoker).
    pub(crate) fn report_error(&self) {
        self.counters.increment(CounterId::AgentErrors);
        self.halt_with(HaltReason::AgentError);
    }

    /// Counts a panic and halts (shared with the invoker).
    pub(crate) fn report_panic(&self) {
        self.counters.increment(CounterId::AgentPanics);
        self.halt_with(HaltReason::AgentPanic);
    }

    pub(crate) fn halt_with(&self, reason: HaltReason) {
        if self.halt.halt(reason) {
            self.counters.increment(CounterId::Halts);
        }
    }
}

/// Why a runner's thread ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunnerExit {
    /// [`AgentRunner::stop`] was called; the agent closed normally.
    Stopped,
    /// `on_start` returned an error; `do_work` never ran.
    StartFailed {
        /// The role that failed (the inner role for a composite).
        role: &'static str,
        /// Its error.
        error: AgentError,
    },
    /// `do_work` returned an error.
    AgentError {
        /// The role that failed (the inner role for a composite).
        role: &'static str,
        /// Its error.
        error: AgentError,
    },
    /// `on_start`, `do_work` or `on_close` panicked.
    Panicked {
        /// The role that was running.
        role: &'static str,
    },
    /// The OS refused to pin the thread to `core`; the agent never started.
    PinFailed {
        /// The requested core id.
        core: usize,
    },
}

impl RunnerExit {
    /// Whether the runner stopped because it was asked to.
    pub fn is_clean(&self) -> bool {
        matches!(self, RunnerExit::Stopped)
    }
}

impl fmt::Display for RunnerExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunnerExit::Stopped => f.write_str("stopped by request"),
            RunnerExit::StartFailed { role, error } => {
                write!(f, "agent `{role}` failed to start: {error}")
            }
            RunnerExit::AgentError { role, error } => write!(f, "agent `{role}` failed: {error}"),
            RunnerExit::Panicked { role } => write!(f, "agent `{role}` panicked"),
            RunnerExit::PinFailed { core } => write!(f, "could not pin thread to core {core}"),
        }
    }
}

/// A runner that could not be started.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The requested core id is not among this process's cores.
    #[error("core {core} is not present on this machine (available: {available})")]
    CoreNotPresent {
        /// The requested core id.
        core: usize,
        /// The cores that are present.
        available: MachineCores,
    },
    /// The OS could not create the thread.
    #[error("could not spawn runner thread `{name}`: {source}")]
    Spawn {
        /// The thread name.
        name: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Duty-cycle counters of one runner, readable from any thread.
#[derive(Debug, Default)]
pub struct RunnerStats {
    cycles: CachePadded<AtomicU64>,
    work: CachePadded<AtomicU64>,
}

impl RunnerStats {
    /// Duty cycles completed (`do_work` calls that returned `Ok`).
    pub fn cycles(&self) -> u64 {
        // `Relaxed`: statistic, pairs with the `Relaxed` store in the loop;
        // publishes nothing.
        self.cycles.load(Ordering::Relaxed)
    }

    /// Sum of the work counts returned by `do_work`.
    pub fn work(&self) -> u64 {
        // `Relaxed`: as in `cycles`.
        self.work.load(Ordering::Relaxed)
    }
}

/// The stop request, set once by any thread, polled once per duty cycle.
type StopFlag = Arc<CachePadded<AtomicBool>>;

/// A named thread running one agent (use [`super::CompositeAgent`] for
/// several). Dropping it stops and joins the thread.
#[derive(Debug)]
pub struct AgentRunner {
    name: String,
    role: &'static str,
    core: Option<usize>,
    stop: StopFlag,
    stats: Arc<RunnerStats>,
    handle: Option<JoinHandle<RunnerExit>>,
}

impl AgentRunner {
    /// Spawns thread `name` running `agent` with `idle`, pinned to `core` if
    /// given. Fails, without spawning, if `core` is not present on this
    /// machine; if the OS then refuses the pin, the thread ends at once with
    /// [`RunnerExit::PinFailed`] (counted, halt thrown) before `on_start`.
    pub fn start<A: Agent + 'static>(
        name: &str,
        agent: A,
        idle: IdleStrategy,
        core: Option<usize>,
        rt: &Runtime,
    ) -> Result<AgentRunner, RunnerError> {
        if let Some(core) = core {
            let available = MachineCores::detect();
            if !available.contains(core) {
                rt.counters.increment(CounterId::PinFailures);
                return Err(RunnerError::CoreNotPresent { core, available });
            }
        }
        let role = agent.role_name();
        let stop: StopFlag = Arc::default();
        let stats: Arc<RunnerStats> = Arc::default();
        let handle = {
            let (stop, stats, rt) = (Arc::clone(&stop), Arc::clone(&stats), rt.clone());
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || run(agent, idle, core, &stop, &stats, &rt))
                .map_err(|source| RunnerError::Spawn {
                    name: name.to_owned(),
                    source,
                })?
        };
        Ok(AgentRunner {
            name: name.to_owned(),
            role,
            core,
            stop,
            stats,
            handle: Some(handle),
        })
    }

    /// The thread's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The agent's role name.
    pub fn role(&self) -> &'static str {
        self.role
    }

    /// The core the thread is pinned to, if any.
    pub fn core(&self) -> Option<usize> {
        self.core
    }

    /// The runner's duty-cycle counters.
    pub fn stats(&self) -> &Arc<RunnerStats> {
        &self.stats
    }

    /// Asks the runner to stop after its current duty cycle (and wakes it if
    /// parked). Returns at once; [`join`](Self::join) waits.
    pub fn stop(&self) {
        // `Release`: pairs with the `Acquire` load at the top of each duty
        // cycle, so whatever the caller wrote before asking to stop is visible
        // to the agent's `on_close`.
        self.stop.store(true, Ordering::Release);
        if let Some(h) = &self.handle {
            h.thread().unpark();
        }
    }

    /// Whether the thread has ended (stopped, failed or panicked).
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the thread to end by itself (after [`stop`](Self::stop), an
    /// error or a panic) and says why it ended.
    pub fn join(mut self) -> RunnerExit {
        self.join_inner()
    }

    /// [`stop`](Self::stop) then [`join`](Self::join).
    pub fn close(self) -> RunnerExit {
        self.stop();
        self.join()
    }

    fn join_inner(&mut self) -> RunnerExit {
        match self.handle.take() {
            Some(h) => h.join().unwrap_or(
                // Unreachable in practice: `run` catches every unwind it
                // can; a panic escaping it still reports as a panic.
                RunnerExit::Panicked { role: self.role },
            ),
            None => RunnerExit::Stopped,
        }
    }
}

impl Drop for AgentRunner {
    fn drop(&mut self) {
        if self.handle.is_some() {
            self.stop();
            // The exit is also in the counters and the halt flag.
            let _exit = self.join_inner();
        }
    }
}

/// The runner thread's body.
fn run<A: Agent>(
    mut agent: A,
    mut idle: IdleStrategy,
    core: Option<usize>,
    stop: &CachePadded<AtomicBool>,
    stats: &RunnerStats,
    rt: &Runtime,
) -> RunnerExit {
    let exit = run_inner(&mut agent, &mut idle, core, stop, stats, rt);
    rt.counters.increment(CounterId::RunnerStops);
    exit
}

fn run_inner<A: Agent>(
    agent: &mut A,
    idle: &mut IdleStrategy,
    core: Option<usize>,
    stop: &CachePadded<AtomicBool>,
    stats: &RunnerStats,
    rt: &Runtime,
) -> RunnerExit {
    if let Some(core) = core
        && !core_affinity::set_for_current(core_affinity::CoreId { id: core })
    {
        rt.counters.increment(CounterId::PinFailures);
        rt.halt_with(HaltReason::StartupFailed);
        return RunnerExit::PinFailed { core };
    }

    match catch_unwind(AssertUnwindSafe(|| agent.on_start())) {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            rt.report_error();
            let role = agent.fault_role();
            return close_agent(agent, rt, RunnerExit::StartFailed { role, error });
        }
        Err(_) => {
            rt.report_panic();
            let role = agent.fault_role();
            return close_agent(agent, rt, RunnerExit::Panicked { role });
        }
    }

    let exit = match catch_unwind(AssertUnwindSafe(|| duty_loop(agent, idle, stop, stats))) {
        Ok(Ok(())) => RunnerExit::Stopped,
        Ok(Err(error)) => {
            rt.report_error();
            RunnerExit::AgentError {
                role: agent.fault_role(),
                error,
            }
        }
        Err(_) => {
            rt.report_panic();
            RunnerExit::Panicked {
                role: agent.fault_role(),
            }
        }
    };
    close_agent(agent, rt, exit)
}

/// Runs `on_close`; a panic there is counted, halts, and replaces a clean exit.
fn close_agent<A: Agent>(agent: &mut A, rt: &Runtime, exit: RunnerExit) -> RunnerExit {
    match catch_unwind(AssertUnwindSafe(|| agent.on_close())) {
        Ok(()) => exit,
        Err(_) => {
            rt.report_panic();
            if exit.is_clean() {
                RunnerExit::Panicked {
                    role: agent.fault_role(),
                }
            } else {
                exit
            }
        }
    }
}

/// The hot loop: no allocation, no lock, two `Relaxed` stores per cycle.
#[inline]
fn duty_loop<A: Agent>(
    agent: &mut A,
    idle: &mut IdleStrategy,
    stop: &CachePadded<AtomicBool>,
    stats: &RunnerStats,
) -> Result<(), AgentError> {
    let mut cycles: u64 = 0;
    let mut work: u64 = 0;
    // `Acquire`: pairs with the `Release` store in `AgentRunner::stop`.
    while !stop.load(Ordering::Acquire) {
        let n = agent.do_work()?;
        cycles += 1;
        work += n as u64;
        // `Relaxed` stores, single writer: statistics that publish nothing
        // (read by `RunnerStats::cycles`/`work`).
        stats.cycles.store(cycles, Ordering::Relaxed);
        stats.work.store(work, Ordering::Relaxed);
        idle.idle(n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::agent::CompositeAgent;
    use crate::agent::testing::{Fault, Scripted};
    use std::time::{Duration, Instant};

    fn wait_until(mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !f() {
            assert!(Instant::now() < deadline, "condition not reached in 5 s");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn runs_until_stopped_and_counts_cycles() {
        let rt = Runtime::new();
        let a = Scripted::new("feed");
        let (calls, started, closed) = (a.calls.clone(), a.started.clone(), a.closed.clone());
        let r = AgentRunner::start("t-feed", a, IdleStrategy::Yield, None, &rt).unwrap();
        assert_eq!(r.name(), "t-feed");
        assert_eq!(r.role(), "feed");
        wait_until(|| r.stats().cycles() >= 100);
        assert!(!r.is_finished());
        let stats = Arc::clone(r.stats());
        assert_eq!(r.close(), RunnerExit::Stopped);
        assert_eq!(started.load(Ordering::Relaxed), 1);
        assert_eq!(closed.load(Ordering::Relaxed), 1);
        assert_eq!(stats.cycles(), calls.load(Ordering::Relaxed));
        assert_eq!(stats.work(), stats.cycles());
        assert!(!rt.halt.is_halted());
        assert_eq!(rt.counters.get(CounterId::RunnerStops), 1);
        assert_eq!(rt.counters.get(CounterId::AgentErrors), 0);
    }

    #[test]
    fn stop_wakes_a_parked_runner() {
        let rt = Runtime::new();
        let idle = IdleStrategy::Sleep {
            period: Duration::from_secs(1),
        };
        let mut a = Scripted::new("control");
        a.work_per_call = 0;
        let r = AgentRunner::start("t-ctl", a, idle, None, &rt).unwrap();
        wait_until(|| r.stats().cycles() >= 1);
        // Without the unpark this would take up to a second per cycle; either
        // way it terminates, so no timing is asserted.
        assert_eq!(r.close(), RunnerExit::Stopped);
    }

    #[test]
    fn agent_error_halts_counts_and_is_reported() {
        let rt = Runtime::new();
        let a = Scripted::new("engine").failing(5, Fault::Error(AgentError::Journal));
        let closed = a.closed.clone();
        let r = AgentRunner::start("t-eng", a, IdleStrategy::BusySpin, None, &rt).unwrap();
        assert_eq!(
            r.join(),
            RunnerExit::AgentError {
                role: "engine",
                error: AgentError::Journal
            }
        );
        assert_eq!(closed.load(Ordering::Relaxed), 1, "on_close still runs");
        assert_eq!(rt.halt.reason(), Some(HaltReason::AgentError));
        assert_eq!(rt.counters.get(CounterId::AgentErrors), 1);
        assert_eq!(rt.counters.get(CounterId::Halts), 1);
        assert_eq!(rt.counters.get(CounterId::RunnerStops), 1);
    }

    #[test]
    fn panic_is_caught_halts_and_names_the_inner_role() {
        let rt = Runtime::new();
        let feed = Scripted::new("feed");
        let engine = Scripted::new("engine").failing(3, Fault::Panic);
        let (feed_closed, engine_closed) = (feed.closed.clone(), engine.closed.clone());
        let c = CompositeAgent::new("hot", vec![Box::new(feed), Box::new(engine)]);
        let r = AgentRunner::start("t-hot", c, IdleStrategy::Yield, None, &rt).unwrap();
        assert_eq!(r.join(), RunnerExit::Panicked { role: "engine" });
        assert_eq!(rt.halt.reason(), Some(HaltReason::AgentPanic));
        assert_eq!(rt.counters.get(CounterId::AgentPanics), 1);
        assert_eq!(feed_closed.load(Ordering::Relaxed), 1);
        assert_eq!(engine_closed.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn start_error_is_reported_and_do_work_never_runs() {
        let rt = Runtime::new();
        let a = Scripted::new("gateway").failing(1, Fault::StartError(AgentError::Startup));
        let calls = a.calls.clone();
        let r = AgentRunner::start("t-gw", a, IdleStrategy::Yield, None, &rt).unwrap();
        assert_eq!(
            r.join(),
            RunnerExit::StartFailed {
                role: "gateway",
                error: AgentError::Startup
            }
        );
        assert_eq!(calls.load(Ordering::Relaxed), 0);
        assert!(rt.halt.is_halted());
    }

    #[test]
    fn missing_core_is_a_start_error_not_a_fallback() {
        let rt = Runtime::new();
        let a = Scripted::new("feed");
        let started = a.started.clone();
        let err =
            AgentRunner::start("t-pin", a, IdleStrategy::Yield, Some(100_000), &rt).unwrap_err();
        assert!(matches!(
            err,
            RunnerError::CoreNotPresent { core: 100_000, .. }
        ));
        assert!(err.to_string().contains("core 100000 is not present"));
        assert_eq!(started.load(Ordering::Relaxed), 0);
        assert_eq!(rt.counters.get(CounterId::PinFailures), 1);
    }

    #[test]
    fn pins_to_a_present_core() {
        let rt = Runtime::new();
        let cores = MachineCores::detect();
        let Some(core) = cores.ids().last().copied() else {
            return; // platform without affinity support: nothing to pin
        };
        let r = AgentRunner::start(
            "t-pinned",
            Scripted::new("feed"),
            IdleStrategy::Yield,
            Some(core),
            &rt,
        )
        .unwrap();
        assert_eq!(r.core(), Some(core));
        wait_until(|| r.stats().cycles() >= 10 || r.is_finished());
        assert_eq!(r.close(), RunnerExit::Stopped);
    }

    #[test]
    fn drop_stops_the_thread() {
        let rt = Runtime::new();
        let a = Scripted::new("feed");
        let closed = a.closed.clone();
        let r = AgentRunner::start("t-drop", a, IdleStrategy::Yield, None, &rt).unwrap();
        drop(r);
        assert_eq!(closed.load(Ordering::Relaxed), 1);
        assert_eq!(rt.counters.get(CounterId::RunnerStops), 1);
    }

    #[test]
    fn exits_display() {
        assert_eq!(RunnerExit::Stopped.to_string(), "stopped by request");
        assert_eq!(
            RunnerExit::AgentError {
                role: "feed",
                error: AgentError::Io
            }
            .to_string(),
            "agent `feed` failed: unrecoverable I/O failure"
        );
        assert_eq!(
            RunnerExit::PinFailed { core: 3 }.to_string(),
            "could not pin thread to core 3"
        );
        assert!(!RunnerExit::Panicked { role: "x" }.is_clean());
    }
}
