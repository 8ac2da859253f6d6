//! [`AgentInvoker`]: the runner's duty cycle on the caller's thread.
//!
//! Owns the start → invoke* → close life of one agent without a thread, for
//! tests, deterministic replay ([`super::ThreadLayout::single_thread`] plus a
//! `ManualClock`) and one-core runs where the caller owns the loop and the
//! idle strategy. Failure handling is the runner's: an error or a panic in
//! `on_start` or `do_work` is counted, throws the [`crate::halt::HaltFlag`],
//! closes the agent and moves the invoker to [`InvokerState::Failed`]; further
//! `invoke` calls return [`AgentError::NotRunning`]. It never spawns, never
//! allocates per `invoke`, never retries a failed agent.
//!
//! ```
//! use talon_core::agent::{Agent, AgentError, AgentInvoker, Runtime};
//! struct Once(bool);
//! impl Agent for Once {
//!     fn do_work(&mut self) -> Result<usize, AgentError> {
//!         Ok(usize::from(!std::mem::replace(&mut self.0, true)))
//!     }
//!     fn role_name(&self) -> &'static str { "once" }
//! }
//! let mut inv = AgentInvoker::new(Once(false), &Runtime::new());
//! inv.start()?;
//! assert_eq!(inv.invoke()?, 1);
//! assert_eq!(inv.invoke()?, 0);
//! inv.close();
//! assert_eq!(inv.invoke(), Err(AgentError::NotRunning));
//! # Ok::<(), AgentError>(())
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::runner::Runtime;
use super::{Agent, AgentError};

/// Where an invoker is in its agent's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvokerState {
    /// `start` not called yet.
    Idle,
    /// Started; `invoke` runs duty cycles.
    Running,
    /// Closed on request.
    Closed,
    /// Stopped by an error or panic; the agent has been closed.
    Failed {
        /// The role to blame (the inner role for a composite).
        role: &'static str,
        /// The error (`Panicked` for a panic).
        error: AgentError,
    },
}

/// Drives one agent on the caller's thread.
#[derive(Debug)]
pub struct AgentInvoker<A: Agent> {
    agent: A,
    rt: Runtime,
    state: InvokerState,
    cycles: u64,
    work: u64,
}

impl<A: Agent> AgentInvoker<A> {
    /// Wraps `agent`; nothing runs until [`start`](Self::start).
    pub fn new(agent: A, rt: &Runtime) -> AgentInvoker<A> {
        AgentInvoker {
            agent,
            rt: rt.clone(),
            state: InvokerState::Idle,
            cycles: 0,
            work: 0,
        }
    }

    /// Runs `on_start`. Idempotent while running; an error (or panic) fails
    /// the invoker as described in the module doc.
    pub fn start(&mut self) -> Result<(), AgentError> {
        match self.state {
            InvokerState::Running => return Ok(()),
            InvokerState::Idle => {}
            InvokerState::Closed | InvokerState::Failed { .. } => {
                return Err(AgentError::NotRunning);
            }
        }
        match catch_unwind(AssertUnwindSafe(|| self.agent.on_start())) {
            Ok(Ok(())) => {
                self.state = InvokerState::Running;
                Ok(())
            }
            Ok(Err(e)) => Err(self.fail(e, false)),
            Err(_) => Err(self.fail(AgentError::Panicked, true)),
        }
    }

    /// One duty cycle: `do_work` once. `Err(NotRunning)` if not started or
    /// already closed/failed (nothing is counted for that misuse).
    #[inline]
    pub fn invoke(&mut self) -> Result<usize, AgentError> {
        if self.state != InvokerState::Running {
            return Err(AgentError::NotRunning);
        }
        match catch_unwind(AssertUnwindSafe(|| self.agent.do_work())) {
            Ok(Ok(n)) => {
                self.cycles += 1;
                self.work += n as u64;
                Ok(n)
            }
            Ok(Err(e)) => Err(self.fail(e, false)),
            Err(_) => Err(self.fail(AgentError::Panicked, true)),
        }
    }

    /// Runs `on_close` if the agent is running; afterwards the invoker is
    /// [`InvokerState::Closed`] (or stays `Failed`). A panic in `on_close` is
    /// counted and halts, as in the runner.
    pub fn close(&mut self) {
        if self.state == InvokerState::Running {
            self.close_agent();
            if self.state == InvokerState::Running {
                self.state = InvokerState::Closed;
            }
        } else if self.state == InvokerState::Idle {
            self.state = InvokerState::Closed;
        }
    }

    /// The current state.
    pub fn state(&self) -> InvokerState {
        self.state
    }

    /// Successful duty cycles so far.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }

    /// Sum of work counts so far.
    pub fn work(&self) -> u64 {
        self.work
    }

    /// The agent (to inspect it in tests and replay).
    pub fn agent(&self) -> &A {
        &self.agent
    }

    /// The agent, mutably.
    pub fn agent_mut(&mut self) -> &mut A {
        &mut self.agent
    }

    /// Gives the agent back (closing it first if it is running).
    pub fn into_agent(mut self) -> A {
        self.close();
        self.agent
    }

    fn fail(&mut self, error: AgentError, panicked: bool) -> AgentError {
        if panicked {
            self.rt.report_panic();
        } else {
            self.rt.report_error();
        }
        let role = self.agent.fault_role();
        self.state = InvokerState::Failed { role, error };
        self.close_agent();
        error
    }

    fn close_agent(&mut self) {
        if catch_unwind(AssertUnwindSafe(|| self.agent.on_close())).is_err() {
            self.rt.report_panic();
            if self.state == InvokerState::Running {
                self.state = InvokerState::Failed {
                    role: self.agent.fault_role(),
                    error: AgentError::Panicked,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::agent::testing::{Fault, Scripted};
    use crate::counters::CounterId;
    use crate::halt::HaltReason;
    use std::sync::atomic::Ordering;

    #[test]
    fn lifecycle_and_counts() {
        let rt = Runtime::new();
        let mut inv = AgentInvoker::new(Scripted::new("feed"), &rt);
        assert_eq!(inv.invoke(), Err(AgentError::NotRunning));
        inv.start().unwrap();
        inv.start().unwrap();
        assert_eq!(inv.agent().started.load(Ordering::Relaxed), 1);
        for _ in 0..10 {
            assert_eq!(inv.invoke(), Ok(1));
        }
        assert_eq!((inv.cycles(), inv.work()), (10, 10));
        inv.close();
        inv.close();
        assert_eq!(inv.state(), InvokerState::Closed);
        assert_eq!(inv.agent().closed.load(Ordering::Relaxed), 1);
        assert_eq!(inv.start(), Err(AgentError::NotRunning));
        assert!(!rt.halt.is_halted());
        assert_eq!(rt.counters.get(CounterId::AgentErrors), 0);
    }

    #[test]
    fn error_halts_counts_closes_and_sticks() {
        let rt = Runtime::new();
        let mut inv = AgentInvoker::new(
            Scripted::new("engine").failing(3, Fault::Error(AgentError::Io)),
            &rt,
        );
        inv.start().unwrap();
        assert_eq!(inv.invoke(), Ok(1));
        assert_eq!(inv.invoke(), Ok(1));
        assert_eq!(inv.invoke(), Err(AgentError::Io));
        assert_eq!(
            inv.state(),
            InvokerState::Failed {
                role: "engine",
                error: AgentError::Io
            }
        );
        assert_eq!(inv.invoke(), Err(AgentError::NotRunning));
        assert_eq!(rt.halt.reason(), Some(HaltReason::AgentError));
        assert_eq!(rt.counters.get(CounterId::AgentErrors), 1);
        let agent = inv.into_agent();
        assert_eq!(agent.closed.load(Ordering::Relaxed), 1);
        assert_eq!(agent.calls.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn panic_is_caught_like_the_runner() {
        let rt = Runtime::new();
        let mut inv = AgentInvoker::new(Scripted::new("gateway").failing(1, Fault::Panic), &rt);
        inv.start().unwrap();
        assert_eq!(inv.invoke(), Err(AgentError::Panicked));
        assert_eq!(rt.halt.reason(), Some(HaltReason::AgentPanic));
        assert_eq!(rt.counters.get(CounterId::AgentPanics), 1);
        assert_eq!(inv.agent().closed.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn start_error_fails_without_running() {
        let rt = Runtime::new();
        let mut inv = AgentInvoker::new(
            Scripted::new("control").failing(1, Fault::StartError(AgentError::Startup)),
            &rt,
        );
        assert_eq!(inv.start(), Err(AgentError::Startup));
        assert_eq!(inv.invoke(), Err(AgentError::NotRunning));
        assert_eq!(inv.agent().calls.load(Ordering::Relaxed), 0);
        assert!(rt.halt.is_halted());
    }
}
