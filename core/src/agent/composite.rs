//! [`CompositeAgent`]: several agents sharing one thread's duty cycle.
//!
//! Owns the fan-out of `on_start`/`do_work`/`on_close` to its agents, in
//! order (Agrona's `CompositeAgent`). Each duty cycle gives every agent
//! exactly one `do_work` (bounded: one busy agent cannot starve the others)
//! and returns the sum of their work. An error from any agent ends the cycle
//! at once and becomes the composite's error; [`Agent::fault_role`] then names
//! the inner agent that failed (or panicked), so the runner's report says
//! `engine`, not the thread.
//!
//! The agents are boxed once at construction (they are heterogeneous); a
//! duty cycle never allocates.
//!
//! ```
//! use talon_core::agent::{Agent, AgentError, AgentInvoker, CompositeAgent, Runtime};
//! struct Fixed(&'static str, usize);
//! impl Agent for Fixed {
//!     fn do_work(&mut self) -> Result<usize, AgentError> { Ok(self.1) }
//!     fn role_name(&self) -> &'static str { self.0 }
//! }
//! let hot = CompositeAgent::new("hot", vec![Box::new(Fixed("feed", 2)), Box::new(Fixed("engine", 3))]);
//! let mut inv = AgentInvoker::new(hot, &Runtime::new());
//! inv.start()?;
//! assert_eq!(inv.invoke()?, 5);
//! # Ok::<(), AgentError>(())
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use super::{Agent, AgentError};

/// Several agents run in order on one thread.
#[derive(Debug)]
pub struct CompositeAgent {
    name: &'static str,
    agents: Vec<Box<dyn Agent>>,
    /// Index of the agent being (or last) called: the one to blame.
    current: usize,
    /// Agents whose `on_start` was attempted (these get `on_close`).
    attempted: usize,
}

impl CompositeAgent {
    /// A composite called `name` running `agents` in the given order.
    pub fn new(name: &'static str, agents: Vec<Box<dyn Agent>>) -> CompositeAgent {
        CompositeAgent {
            name,
            agents,
            current: 0,
            attempted: 0,
        }
    }

    /// The inner agents' role names, in order.
    pub fn roles(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.agents.iter().map(|a| a.role_name())
    }

    /// How many agents it runs.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether it runs no agent.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }
}

impl Agent for CompositeAgent {
    /// Starts the agents in order; stops at the first error (the runner then
    /// calls `on_close`, which closes every agent whose start was attempted).
    fn on_start(&mut self) -> Result<(), AgentError> {
        for (i, a) in self.agents.iter_mut().enumerate() {
            self.current = i;
            self.attempted = i + 1;
            a.on_start()?;
        }
        Ok(())
    }

    #[inline]
    fn do_work(&mut self) -> Result<usize, AgentError> {
        let mut total = 0usize;
        for (i, a) in self.agents.iter_mut().enumerate() {
            self.current = i;
            total = total.saturating_add(a.do_work()?);
        }
        Ok(total)
    }

    /// Closes the started agents in reverse order. Every one is closed even if
    /// one panics; the first panic is then resumed (and blamed on its agent).
    fn on_close(&mut self) {
        let mut first_panic = None;
        for i in (0..self.attempted).rev() {
            let Some(a) = self.agents.get_mut(i) else {
                continue;
            };
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| a.on_close()))
                && first_panic.is_none()
            {
                self.current = i;
                first_panic = Some(payload);
            }
        }
        self.attempted = 0;
        if let Some(payload) = first_panic {
            resume_unwind(payload);
        }
    }

    fn role_name(&self) -> &'static str {
        self.name
    }

    fn fault_role(&self) -> &'static str {
        self.agents
            .get(self.current)
            .map_or(self.name, |a| a.fault_role())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::agent::testing::{Fault, Scripted};
    use crate::agent::{AgentInvoker, InvokerState, Runtime};
    use std::sync::atomic::Ordering;

    #[test]
    fn sums_work_and_calls_each_once_per_cycle() {
        let mut a = Scripted::new("feed");
        a.work_per_call = 2;
        let mut b = Scripted::new("engine");
        b.work_per_call = 0;
        let c_ = Scripted::new("gateway");
        let calls = [a.calls.clone(), b.calls.clone(), c_.calls.clone()];
        let mut c = CompositeAgent::new("hot", vec![Box::new(a), Box::new(b), Box::new(c_)]);
        assert_eq!(c.roles().collect::<Vec<_>>(), ["feed", "engine", "gateway"]);
        assert_eq!(c.len(), 3);
        assert!(!c.is_empty());
        c.on_start().unwrap();
        for _ in 0..4 {
            assert_eq!(c.do_work(), Ok(3));
        }
        for k in &calls {
            assert_eq!(k.load(Ordering::Relaxed), 4);
        }
        assert_eq!(c.role_name(), "hot");
    }

    #[test]
    fn error_names_the_inner_role_and_skips_the_rest_of_the_cycle() {
        let a = Scripted::new("feed");
        let b = Scripted::new("engine").failing(2, Fault::Error(AgentError::Invariant));
        let c_ = Scripted::new("gateway");
        let gw_calls = c_.calls.clone();
        let closed = [a.closed.clone(), b.closed.clone(), c_.closed.clone()];
        let rt = Runtime::new();
        let comp = CompositeAgent::new("hot", vec![Box::new(a), Box::new(b), Box::new(c_)]);
        let mut inv = AgentInvoker::new(comp, &rt);
        inv.start().unwrap();
        assert_eq!(inv.invoke(), Ok(3));
        assert_eq!(inv.invoke(), Err(AgentError::Invariant));
        assert_eq!(
            inv.state(),
            InvokerState::Failed {
                role: "engine",
                error: AgentError::Invariant
            }
        );
        assert_eq!(
            gw_calls.load(Ordering::Relaxed),
            1,
            "gateway skipped after the error"
        );
        for k in &closed {
            assert_eq!(k.load(Ordering::Relaxed), 1);
        }
    }

    #[test]
    fn start_failure_closes_only_the_attempted_agents() {
        let a = Scripted::new("feed");
        let b = Scripted::new("engine").failing(1, Fault::StartError(AgentError::Startup));
        let c_ = Scripted::new("gateway");
        let started = [a.started.clone(), b.started.clone(), c_.started.clone()];
        let closed = [a.closed.clone(), b.closed.clone(), c_.closed.clone()];
        let mut comp = CompositeAgent::new("hot", vec![Box::new(a), Box::new(b), Box::new(c_)]);
        assert_eq!(comp.on_start(), Err(AgentError::Startup));
        assert_eq!(comp.fault_role(), "engine");
        comp.on_close();
        let s: Vec<u64> = started.iter().map(|k| k.load(Ordering::Relaxed)).collect();
        let c: Vec<u64> = closed.iter().map(|k| k.load(Ordering::Relaxed)).collect();
        assert_eq!(s, [1, 1, 0]);
        assert_eq!(c, [1, 1, 0]);
        comp.on_close();
        assert_eq!(
            closed[0].load(Ordering::Relaxed),
            1,
            "closing twice is a no-op"
        );
    }

    #[test]
    fn empty_composite_does_nothing() {
        let mut c = CompositeAgent::new("none", Vec::new());
        assert!(c.is_empty());
        c.on_start().unwrap();
        assert_eq!(c.do_work(), Ok(0));
        assert_eq!(c.fault_role(), "none");
        c.on_close();
    }
}
