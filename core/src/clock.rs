//! Monotonic nanosecond time for the hot path.
//!
//! Owns [`Nanos`], the one timestamp type that crosses APIs, and the
//! [`NanoClock`] trait with a live [`MonotonicClock`] and a [`ManualClock`] for
//! tests and deterministic replay. Agents read the clock once per duty cycle
//! and pass `now` down; elapsed time is a saturating subtraction
//! ([`Nanos::saturating_elapsed_since`]), so stamps that race by a few ns
//! read as zero, never as a huge wrapped value. This module never allocates and
//! never blocks.

use std::cell::Cell;
use std::fmt;
use std::time::Instant;

/// A point on a monotonic nanosecond timeline, or a span of nanoseconds.
///
/// The epoch is whatever the clock that produced it chose (process start for
/// [`MonotonicClock`]); only differences between stamps of one clock mean
/// anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Nanos(pub u64);

impl Nanos {
    /// Zero: "not stamped yet" for stage stamps.
    pub const ZERO: Nanos = Nanos(0);

    /// The raw nanosecond count.
    #[inline]
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Nanoseconds from `earlier` to `self`, or zero if `earlier` is later
    /// (stamps from different threads may race by a few ns).
    #[inline]
    pub const fn saturating_elapsed_since(self, earlier: Nanos) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// `self + ns`, saturating at `u64::MAX`.
    #[inline]
    pub const fn saturating_add(self, ns: u64) -> Nanos {
        Nanos(self.0.saturating_add(ns))
    }
}

impl fmt::Display for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ns", self.0)
    }
}

/// A source of monotonic nanoseconds. Implementations never allocate or block.
pub trait NanoClock {
    /// The current time on this clock.
    fn now(&self) -> Nanos;
}

/// The live clock: `std::time::Instant` (CLOCK_MONOTONIC, served by the vDSO
/// on Linux, so no syscall) measured from the clock's creation.
///
/// Clones share the same origin, so stamps taken by different threads from
/// clones of one clock are comparable.
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl NanoClock for MonotonicClock {
    #[inline]
    fn now(&self) -> Nanos {
        // u64 nanoseconds cover 584 years of uptime; truncation is unreachable.
        Nanos(self.origin.elapsed().as_nanos() as u64)
    }
}

/// A clock that moves only when told: tests, replay and simulations.
///
/// Single-threaded by design (interior `Cell`): a replay drives every agent
/// from one thread.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Cell<u64>,
}

impl ManualClock {
    /// A manual clock reading `start`.
    pub fn new(start: Nanos) -> Self {
        Self {
            now: Cell::new(start.0),
        }
    }

    /// Sets the time. Going backwards is allowed (replay of a new segment).
    pub fn set(&self, t: Nanos) {
        self.now.set(t.0);
    }

    /// Moves the clock forward by `ns`, saturating.
    pub fn advance(&self, ns: u64) {
        self.now.set(self.now.get().saturating_add(ns));
    }
}

impl NanoClock for ManualClock {
    #[inline]
    fn now(&self) -> Nanos {
        Nanos(self.now.get())
    }
}

/// Wall-clock time in nanoseconds since the Unix epoch, for journal records
/// and reports that a human or another process must place in time. Cold path.
pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_never_goes_backwards() {
        let clock = MonotonicClock::new();
        let mut last = clock.now();
        for _ in 0..10_000 {
            let t = clock.now();
            assert!(t >= last);
            last = t;
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Nanos(100));
        assert_eq!(clock.now(), Nanos(100));
        clock.advance(50);
        assert_eq!(clock.now(), Nanos(150));
        clock.set(Nanos(10));
        assert_eq!(clock.now(), Nanos(10));
        clock.set(Nanos(u64::MAX - 1));
        clock.advance(10);
        assert_eq!(clock.now(), Nanos(u64::MAX));
    }

    #[test]
    fn elapsed_saturates_instead_of_wrapping() {
        assert_eq!(Nanos(5).saturating_elapsed_since(Nanos(10)), 0);
        assert_eq!(Nanos(15).saturating_elapsed_since(Nanos(10)), 5);
    }
}
