//! Process-wide event counters: the first observability tool.
//!
//! Owns [`CounterId`] (one documented variant per counter, Aeron's
//! `SystemCounterDescriptor`) and [`Counters`], a fixed array of
//! `CachePadded<AtomicU64>` slots shared by `Arc` and readable from any thread
//! (`talon stat`, the control agent's metrics), and [`CounterSlot`], the
//! single-writer padded slot the feed's and the gateway's counter blocks are
//! built from. Per-ring counters live in
//! [`crate::ring::RingStats`] and the journal's in its `WriterStats` and
//! `RecoveryReport`; these are the runtime's. The enum grows with the agents
//! that count into it: a variant exists only once something increments it.
//!
//! Never allocates, never blocks, never panics; no counter is ever used to
//! publish other data, so every access is `Relaxed` (see [`Counters::add`]).
//!
//! ```
//! use talon_core::counters::{CounterId, Counters};
//! let c = Counters::new();
//! c.increment(CounterId::AgentErrors);
//! c.add(CounterId::Halts, 17);
//! assert_eq!(c.get(CounterId::AgentErrors), 1);
//! assert_eq!(c.get(CounterId::Halts), 17);
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

/// One counter of a single-writer counter block (the feed's, the
/// gateway's), on its own pair of cache lines (128 B: adjacent-line prefetch
/// pulls lines in pairs on x86), so the writer's stores never invalidate a
/// neighbour a reader is polling. Exactly one thread may call
/// [`add`](Self::add); any thread may [`get`](Self::get).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct CounterSlot(AtomicU64);

impl CounterSlot {
    /// Adds `n` (wrapping). Single writer only.
    #[inline]
    pub fn add(&self, n: u64) {
        // Single writer (the owning agent's thread): a Relaxed load of our
        // own last store and a Relaxed store, cheaper than a locked RMW; no
        // other memory is published through the counter, so no ordering is
        // needed (pairs with the Relaxed load in `get`).
        let v = self.0.load(Ordering::Relaxed);
        self.0.store(v.wrapping_add(n), Ordering::Relaxed);
    }

    /// The current value.
    #[inline]
    pub fn get(&self) -> u64 {
        // Relaxed: any recent value will do (see `add`).
        self.0.load(Ordering::Relaxed)
    }
}

/// One process-wide counter. The set grows with the system; codes are the
/// variant order and index [`Counters`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum CounterId {
    /// Errors returned by an agent's `on_start` or `do_work` (runner or invoker).
    AgentErrors = 0,
    /// Panics caught around an agent's `on_start`, `do_work` or `on_close`.
    AgentPanics,
    /// Runners that exited, for any reason (a clean stop included).
    RunnerStops,
    /// Runner threads whose core pin could not be honoured at start.
    PinFailures,
    /// Times the halt flag was thrown by the runtime (first halt only; an
    /// already-halted flag is not counted again).
    Halts,
}

impl CounterId {
    /// The number of counters.
    pub const COUNT: usize = 5;

    /// Every counter, in code order (`ALL[i].index() == i`).
    pub const ALL: [CounterId; CounterId::COUNT] = [
        CounterId::AgentErrors,
        CounterId::AgentPanics,
        CounterId::RunnerStops,
        CounterId::PinFailures,
        CounterId::Halts,
    ];

    /// The slot index of this counter.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A stable snake_case name for display at the edge.
    pub const fn as_str(self) -> &'static str {
        match self {
            CounterId::AgentErrors => "agent_errors",
            CounterId::AgentPanics => "agent_panics",
            CounterId::RunnerStops => "runner_stops",
            CounterId::PinFailures => "pin_failures",
            CounterId::Halts => "halts",
        }
    }
}

impl fmt::Display for CounterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The process-wide counters: one cache-line-padded `AtomicU64` per
/// [`CounterId`], so two threads bumping different counters never share a
/// line. Shared by `Arc`.
#[derive(Debug, Default)]
pub struct Counters {
    slots: [CachePadded<AtomicU64>; CounterId::COUNT],
}

impl Counters {
    /// All counters at zero.
    pub fn new() -> Counters {
        Counters::default()
    }

    /// Adds `n` to `id` (wrapping at `u64::MAX`, which no counter reaches).
    #[inline]
    pub fn add(&self, id: CounterId, n: u64) {
        // `Relaxed`: the RMW is atomic whatever the ordering, so concurrent
        // writers (several runners counting `AgentErrors`) never lose a count;
        // no reader infers anything about other memory from a counter value, so
        // nothing needs to be ordered before or after it.
        self.slots[id.index()].fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one to `id`.
    #[inline]
    pub fn increment(&self, id: CounterId) {
        self.add(id, 1);
    }

    /// The current value of `id` (may be a moment stale; see [`Counters::add`]).
    #[inline]
    pub fn get(&self, id: CounterId) -> u64 {
        // `Relaxed`: a statistic; pairs with nothing (see `add`).
        self.slots[id.index()].load(Ordering::Relaxed)
    }

    /// Every counter with its value, in code order. Not an atomic snapshot
    /// across counters (each is read independently); never allocates.
    pub fn snapshot(&self) -> [(CounterId, u64); CounterId::COUNT] {
        CounterId::ALL.map(|id| (id, self.get(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn all_is_in_index_order_and_names_unique() {
        let mut names = std::collections::HashSet::new();
        for (i, id) in CounterId::ALL.iter().enumerate() {
            assert_eq!(id.index(), i);
            assert!(names.insert(id.as_str()), "duplicate name {id}");
        }
    }

    #[test]
    fn add_get_snapshot() {
        let c = Counters::new();
        c.increment(CounterId::Halts);
        c.add(CounterId::Halts, 4);
        c.add(CounterId::AgentErrors, 1 << 40);
        let snap = c.snapshot();
        for (id, v) in snap {
            let want = match id {
                CounterId::Halts => 5,
                CounterId::AgentErrors => 1 << 40,
                _ => 0,
            };
            assert_eq!(v, want, "{id}");
        }
    }

    #[test]
    fn concurrent_increments_are_not_lost() {
        let c = Arc::new(Counters::new());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let c = Arc::clone(&c);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        c.increment(CounterId::AgentErrors);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("incrementing thread");
        }
        assert_eq!(c.get(CounterId::AgentErrors), 40_000);
    }
}
