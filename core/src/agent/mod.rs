//! Agents and the machinery that runs them (DESIGN.md §2, after Agrona).
//!
//! Owns the [`Agent`] trait (one stage of the pipeline: feed, engine,
//! gateway, control), [`AgentError`], and the ways to drive agents:
//!
//! * [`IdleStrategy`] ([`idle`]): how a thread waits when its agents had no
//!   work, a closed set built from [`IdleConfig`];
//! * [`AgentRunner`] ([`runner`]): a named thread, optionally pinned to a core,
//!   looping `idle.idle(agent.do_work())` until stopped;
//! * [`AgentInvoker`] ([`invoker`]): the same duty cycle on the caller's thread
//!   (tests, replay, one core);
//! * [`CompositeAgent`] ([`composite`]): several agents on one thread;
//! * [`ThreadLayout`] ([`layout`]): which agents run on which thread, core and
//!   idle strategy, from TOML or a preset, validated against the machine.
//!
//! The duty-cycle code never allocates, locks or logs: an agent error or
//! panic is counted ([`crate::counters`]), throws the [`crate::halt::HaltFlag`]
//! and is reported as a value ([`RunnerExit`]), never swallowed.

pub mod composite;
pub mod idle;
pub mod invoker;
pub mod layout;
pub mod runner;

pub use composite::CompositeAgent;
pub use idle::{BackoffIdle, IdleConfig, IdleConfigError, IdleStrategy};
pub use invoker::{AgentInvoker, InvokerState};
pub use layout::{
    AgentRole, LayoutConfig, LayoutError, LayoutErrorKind, MachineCores, ThreadConfig,
    ThreadLayout, ThreadSpec, UnknownRole,
};
pub use runner::{AgentRunner, RunnerError, RunnerExit, RunnerStats, Runtime};

use std::fmt;

/// A unit of work scheduled on a duty cycle. All methods run on the agent's
/// own thread (the runner's, or the invoker's caller).
///
/// ```
/// use talon_core::agent::{Agent, AgentError};
/// struct Counter { n: u64 }
/// impl Agent for Counter {
///     fn do_work(&mut self) -> Result<usize, AgentError> {
///         self.n += 1;
///         Ok(1)
///     }
///     fn role_name(&self) -> &'static str { "counter" }
/// }
/// ```
pub trait Agent: Send {
    /// Called once on the agent's thread before the first `do_work`; the last
    /// place allowed to allocate. An error stops the agent before it runs.
    fn on_start(&mut self) -> Result<(), AgentError> {
        Ok(())
    }

    /// One duty cycle: never blocks, does a bounded amount of work and returns
    /// how much (0 = idle, so the idle strategy may back off). An error stops
    /// the agent and halts trading.
    fn do_work(&mut self) -> Result<usize, AgentError>;

    /// Called once when the agent stops (on request, after an error, or after
    /// a caught panic). Releases what `on_start` acquired.
    fn on_close(&mut self) {}

    /// The agent's role, e.g. `"feed"`. Static: it goes into error reports.
    fn role_name(&self) -> &'static str;

    /// The role to blame for the last error or panic. The default is
    /// [`role_name`](Self::role_name); a [`CompositeAgent`] names the inner
    /// agent that failed.
    fn fault_role(&self) -> &'static str {
        self.role_name()
    }
}

/// Why an agent could not carry on. Small and `Copy`: it crosses the hot path
/// as a value, with no message string; details go to counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AgentError {
    /// A socket or other I/O failed in a way the agent cannot recover from.
    #[error("unrecoverable I/O failure")]
    Io,
    /// The audit journal could not be written.
    #[error("journal write failed")]
    Journal,
    /// The other end of one of the agent's rings was dropped.
    #[error("peer ring end abandoned")]
    PeerGone,
    /// Start-up configuration or resources were rejected in `on_start`.
    #[error("start-up failed")]
    Startup,
    /// An internal invariant was broken (a bug: stop rather than guess).
    #[error("invariant broken")]
    Invariant,
    /// The agent panicked (reported by an [`AgentInvoker`]).
    #[error("agent panicked")]
    Panicked,
    /// The invoker was asked to run an agent that is not running (not
    /// started, closed, or stopped by an earlier failure).
    #[error("agent not running")]
    NotRunning,
}

impl AgentError {
    /// A stable snake_case name for display at the edge.
    pub const fn as_str(self) -> &'static str {
        match self {
            AgentError::Io => "io",
            AgentError::Journal => "journal",
            AgentError::PeerGone => "peer_gone",
            AgentError::Startup => "startup",
            AgentError::Invariant => "invariant",
            AgentError::Panicked => "panicked",
            AgentError::NotRunning => "not_running",
        }
    }
}

impl<A: Agent + ?Sized> Agent for Box<A> {
    fn on_start(&mut self) -> Result<(), AgentError> {
        (**self).on_start()
    }
    fn do_work(&mut self) -> Result<usize, AgentError> {
        (**self).do_work()
    }
    fn on_close(&mut self) {
        (**self).on_close()
    }
    fn role_name(&self) -> &'static str {
        (**self).role_name()
    }
    fn fault_role(&self) -> &'static str {
        (**self).fault_role()
    }
}

impl fmt::Debug for dyn Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("role", &self.role_name())
            .finish()
    }
}

/// Test agents shared by the unit tests of this module tree.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Agent, AgentError};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// What a [`Scripted`] agent does on its `fail_at`-th call.
    #[derive(Clone, Copy, Debug)]
    pub(crate) enum Fault {
        Error(AgentError),
        Panic,
        StartError(AgentError),
    }

    /// Counts calls; optionally fails or panics on a given `do_work` call.
    #[derive(Debug)]
    pub(crate) struct Scripted {
        pub(crate) role: &'static str,
        pub(crate) work_per_call: usize,
        pub(crate) fail_at: Option<(u64, Fault)>,
        pub(crate) calls: Arc<AtomicU64>,
        pub(crate) started: Arc<AtomicU64>,
        pub(crate) closed: Arc<AtomicU64>,
    }

    impl Scripted {
        pub(crate) fn new(role: &'static str) -> Scripted {
            Scripted {
                role,
                work_per_call: 1,
                fail_at: None,
                calls: Arc::default(),
                started: Arc::default(),
                closed: Arc::default(),
            }
        }
        pub(crate) fn failing(mut self, at: u64, fault: Fault) -> Scripted {
            self.fail_at = Some((at, fault));
            self
        }
    }

    impl Agent for Scripted {
        fn on_start(&mut self) -> Result<(), AgentError> {
            self.started.fetch_add(1, Ordering::Relaxed);
            match self.fail_at {
                Some((_, Fault::StartError(e))) => Err(e),
                _ => Ok(()),
            }
        }
        fn do_work(&mut self) -> Result<usize, AgentError> {
            let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
            match self.fail_at {
                Some((at, Fault::Error(e))) if at == n => Err(e),
                Some((at, Fault::Panic)) if at == n => panic!("scripted panic in {}", self.role),
                _ => Ok(self.work_per_call),
            }
        }
        fn on_close(&mut self) {
            self.closed.fetch_add(1, Ordering::Relaxed);
        }
        fn role_name(&self) -> &'static str {
            self.role
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_distinct_and_boxed_agents_delegate() {
        let all = [
            AgentError::Io,
            AgentError::Journal,
            AgentError::PeerGone,
            AgentError::Startup,
            AgentError::Invariant,
            AgentError::Panicked,
            AgentError::NotRunning,
        ];
        let names: std::collections::HashSet<_> = all.iter().map(|e| e.as_str()).collect();
        assert_eq!(names.len(), all.len());
        let mut b: Box<dyn Agent> = Box::new(testing::Scripted::new("feed"));
        assert_eq!(b.role_name(), "feed");
        assert_eq!(b.fault_role(), "feed");
        assert_eq!(b.do_work(), Ok(1));
        assert!(format!("{b:?}").contains("feed"));
    }
}
