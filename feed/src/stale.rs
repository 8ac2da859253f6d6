//! The stale-symbol guard.
//!
//! Owns [`StaleDetector`]: per-instrument time of the last market update
//! and a small state machine that reports each transition to stale (no
//! update for `stale_after`) exactly once, and back to fresh exactly once
//! after the next update. The feed folds each [`Transition`] into its
//! per-instrument health (time-stale, or book not synced or crossed: see
//! [`crate::agent`]) and reports changes of that health as
//! `MarketData::Stale` / `MarketData::Fresh` events (and sets
//! [`crate::book::BookSync::set_stale`]), so the engine stops opening risk on
//! an instrument whose data it can no longer trust.
//!
//! Time is the caller's `now` ([`Nanos`], read once per duty cycle), compared
//! with wrapping subtraction read as a signed span: correct across a `u64`
//! wrap, and a `now` slightly behind an update's stamp (a stamp from a
//! later clock read) counts as "just updated", never as stale.
//!
//! What it never does: allocate after [`StaleDetector::new`], read a clock,
//! block, or do unbounded work: [`StaleDetector::poll`] examines at most
//! [`StaleDetector::scan_limit`] instruments (all of them by default),
//! round-robin, so with a limit `k` over `n` instruments a silence is
//! reported at most `ceil(n / k) - 1` polls after `stale_after` elapsed.

use std::time::Duration;

use talon_core::clock::Nanos;
use talon_core::instrument::InstrumentId;

/// A change of an instrument's freshness, reported once by
/// [`StaleDetector::poll`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transition {
    /// No update for `stale_after` (or [`StaleDetector::force_stale`]).
    Stale,
    /// An update arrived after the instrument was reported stale.
    Fresh,
}

/// Per-instrument state. "Reported" = what the engine has been told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Freshness {
    /// Reported fresh (or never reported: instruments start fresh).
    Fresh,
    /// Reported stale.
    Stale,
    /// Reported stale, updated since: `Fresh` to report.
    Recovered,
    /// Reported fresh, forced stale: `Stale` to report.
    Forced,
}

/// Counters of one [`StaleDetector`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StaleCounters {
    /// Transitions to stale reported.
    pub went_stale: u64,
    /// Transitions back to fresh reported.
    pub went_fresh: u64,
}

/// Per-instrument last-update times and stale/fresh transitions (see the
/// module docs).
///
/// ```
/// use std::time::Duration;
/// use talon_core::{clock::Nanos, instrument::InstrumentId};
/// use talon_feed::stale::{StaleDetector, Transition};
/// let mut d = StaleDetector::new(2, Duration::from_secs(5), Nanos(0));
/// d.on_update(InstrumentId(0), Nanos(4_000_000_000));
/// let mut seen = Vec::new();
/// d.poll(Nanos(6_000_000_000), |id, t| seen.push((id.0, t)));
/// assert_eq!(seen, [(1, Transition::Stale)]); // 1 never updated
/// d.on_update(InstrumentId(1), Nanos(7_000_000_000));
/// seen.clear();
/// d.poll(Nanos(7_000_000_001), |id, t| seen.push((id.0, t)));
/// assert_eq!(seen, [(1, Transition::Fresh)]);
/// ```
#[derive(Clone, Debug)]
pub struct StaleDetector {
    stale_after: u64,
    last: Box<[Nanos]>,
    state: Box<[Freshness]>,
    cursor: usize,
    scan_limit: usize,
    counters: StaleCounters,
}

impl StaleDetector {
    /// Tracks instruments `0..instruments`, all fresh as of `now` (so one
    /// that never gets an update is reported stale `stale_after` from now).
    /// `stale_after` saturates at `i64::MAX` ns (~292 years). All memory is
    /// allocated here.
    pub fn new(instruments: usize, stale_after: Duration, now: Nanos) -> StaleDetector {
        StaleDetector {
            stale_after: span_ns(stale_after),
            last: vec![now; instruments].into_boxed_slice(),
            state: vec![Freshness::Fresh; instruments].into_boxed_slice(),
            cursor: 0,
            scan_limit: instruments,
            counters: StaleCounters::default(),
        }
    }

    /// Examine at most `limit` instruments per [`StaleDetector::poll`]
    /// (at least 1).
    pub fn set_scan_limit(&mut self, limit: usize) {
        self.scan_limit = limit.max(1);
    }

    /// Instruments examined per poll.
    pub fn scan_limit(&self) -> usize {
        self.scan_limit.min(self.last.len())
    }

    /// The silence after which an instrument is stale.
    pub fn stale_after(&self) -> Duration {
        Duration::from_nanos(self.stale_after)
    }

    /// Instruments tracked.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether no instrument is tracked.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    /// The counters.
    pub fn counters(&self) -> StaleCounters {
        self.counters
    }

    /// Records a market update for `id` at `now` (ids out of range are
    /// ignored). A stale instrument's `Fresh` is reported by the next poll.
    #[inline]
    pub fn on_update(&mut self, id: InstrumentId, now: Nanos) {
        let i = id.index();
        if let (Some(last), Some(state)) = (self.last.get_mut(i), self.state.get_mut(i)) {
            *last = now;
            *state = match *state {
                Freshness::Stale | Freshness::Recovered => Freshness::Recovered,
                // A forced stale that was never reported: still fresh.
                Freshness::Fresh | Freshness::Forced => Freshness::Fresh,
            };
        }
    }

    /// Marks `id` stale now, whatever its last update (e.g. its connection
    /// dropped); reported by the next poll unless an update comes first.
    pub fn force_stale(&mut self, id: InstrumentId) {
        if let Some(state) = self.state.get_mut(id.index()) {
            *state = match *state {
                Freshness::Fresh | Freshness::Forced => Freshness::Forced,
                // Already reported stale: stays stale, no new report.
                Freshness::Stale | Freshness::Recovered => Freshness::Stale,
            };
        }
    }

    /// [`StaleDetector::force_stale`] for every instrument.
    pub fn force_all_stale(&mut self) {
        for i in 0..self.state.len() {
            // `i < len ≤ u16::MAX + 1` for ids from an instrument table; a
            // larger table is simply not forced beyond the u16 range.
            if let Ok(raw) = u16::try_from(i) {
                self.force_stale(InstrumentId(raw));
            }
        }
    }

    /// Whether `id` is stale as far as this detector knows (reported or
    /// about to be); false for an id out of range.
    pub fn is_stale(&self, id: InstrumentId) -> bool {
        matches!(
            self.state.get(id.index()),
            Some(Freshness::Stale | Freshness::Forced)
        )
    }

    /// Examines up to [`StaleDetector::scan_limit`] instruments
    /// round-robin and calls `f` once per transition (an instrument can
    /// report `Fresh` then `Stale` in one poll if its one update is already
    /// old). Returns the number of transitions reported.
    pub fn poll(&mut self, now: Nanos, mut f: impl FnMut(InstrumentId, Transition)) -> usize {
        let n = self.last.len();
        let mut reported = 0;
        for _ in 0..self.scan_limit() {
            let i = self.cursor;
            self.cursor = if i + 1 >= n { 0 } else { i + 1 };
            let (Some(&last), Some(state)) = (self.last.get(i), self.state.get_mut(i)) else {
                continue;
            };
            let Ok(raw) = u16::try_from(i) else {
                continue;
            };
            let id = InstrumentId(raw);
            if *state == Freshness::Recovered {
                *state = Freshness::Fresh;
                self.counters.went_fresh += 1;
                reported += 1;
                f(id, Transition::Fresh);
            }
            let timed_out =
                *state == Freshness::Fresh && elapsed_at_least(now, last, self.stale_after);
            if timed_out || *state == Freshness::Forced {
                *state = Freshness::Stale;
                self.counters.went_stale += 1;
                reported += 1;
                f(id, Transition::Stale);
            }
        }
        reported
    }
}

/// `d` in ns, saturating at `i64::MAX` so the signed compare below holds.
fn span_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos())
        .unwrap_or(u64::MAX)
        .min(i64::MAX as u64)
}

/// `now - last >= span`, with the difference taken modulo 2^64 and read as
/// signed: a `now` behind `last` is a negative span (never stale).
#[inline]
fn elapsed_at_least(now: Nanos, last: Nanos, span: u64) -> bool {
    let elapsed = now.0.wrapping_sub(last.0) as i64;
    // `span ≤ i64::MAX` (see `span_ns`), so the cast is lossless.
    elapsed >= span as i64
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const S: u64 = 1_000_000_000;

    fn poll(d: &mut StaleDetector, now: u64) -> Vec<(u16, Transition)> {
        let mut v = Vec::new();
        let n = d.poll(Nanos(now), |id, t| v.push((id.0, t)));
        assert_eq!(n, v.len());
        v
    }

    #[test]
    fn goes_stale_exactly_once_and_fresh_on_the_next_update() {
        let mut d = StaleDetector::new(3, Duration::from_secs(2), Nanos(0));
        d.on_update(InstrumentId(0), Nanos(S));
        d.on_update(InstrumentId(1), Nanos(S));
        d.on_update(InstrumentId(2), Nanos(S));
        assert_eq!(poll(&mut d, 2 * S), []);
        d.on_update(InstrumentId(1), Nanos(2 * S));
        // Exactly stale_after since 0's and 2's last update.
        assert_eq!(
            poll(&mut d, 3 * S),
            [(0, Transition::Stale), (2, Transition::Stale)]
        );
        assert!(d.is_stale(InstrumentId(0)));
        assert_eq!(poll(&mut d, 3 * S + 1), [], "reported once");
        assert_eq!(poll(&mut d, 100 * S), [(1, Transition::Stale)]);
        assert_eq!(poll(&mut d, 200 * S), []);
        d.on_update(InstrumentId(2), Nanos(200 * S));
        assert!(!d.is_stale(InstrumentId(2)));
        assert_eq!(poll(&mut d, 200 * S + 5), [(2, Transition::Fresh)]);
        assert_eq!(poll(&mut d, 201 * S), []);
        assert_eq!(
            d.counters(),
            StaleCounters {
                went_stale: 3,
                went_fresh: 1
            }
        );
    }

    #[test]
    fn an_instrument_that_never_updates_goes_stale() {
        let mut d = StaleDetector::new(1, Duration::from_secs(1), Nanos(10 * S));
        assert_eq!(poll(&mut d, 10 * S + 1), []);
        assert_eq!(poll(&mut d, 11 * S), [(0, Transition::Stale)]);
    }

    #[test]
    fn an_old_recovery_reports_fresh_then_stale_in_one_poll() {
        let mut d = StaleDetector::new(1, Duration::from_secs(1), Nanos(0));
        assert_eq!(poll(&mut d, 5 * S), [(0, Transition::Stale)]);
        d.on_update(InstrumentId(0), Nanos(6 * S));
        assert_eq!(
            poll(&mut d, 9 * S),
            [(0, Transition::Fresh), (0, Transition::Stale)]
        );
    }

    #[test]
    fn time_compare_is_wrapping_safe() {
        let near_end = u64::MAX - S / 2;
        let mut d = StaleDetector::new(1, Duration::from_secs(1), Nanos(near_end));
        // 0.6 s later, after the u64 wrap: not stale.
        assert_eq!(poll(&mut d, S / 10), []);
        // 1.5 s later: stale.
        assert_eq!(poll(&mut d, S), [(0, Transition::Stale)]);
        // A `now` behind the last update is "just updated", not stale.
        let mut d = StaleDetector::new(1, Duration::from_secs(1), Nanos(0));
        d.on_update(InstrumentId(0), Nanos(50 * S));
        assert_eq!(poll(&mut d, 49 * S), []);
        assert!(elapsed_at_least(Nanos(3), Nanos(u64::MAX), 4));
        assert!(!elapsed_at_least(Nanos(3), Nanos(u64::MAX), 5));
    }

    #[test]
    fn scan_limit_bounds_work_per_poll_round_robin() {
        let mut d = StaleDetector::new(5, Duration::from_secs(1), Nanos(0));
        d.set_scan_limit(2);
        assert_eq!(d.scan_limit(), 2);
        assert_eq!(
            poll(&mut d, 2 * S),
            [(0, Transition::Stale), (1, Transition::Stale)]
        );
        assert_eq!(
            poll(&mut d, 2 * S),
            [(2, Transition::Stale), (3, Transition::Stale)]
        );
        assert_eq!(poll(&mut d, 2 * S), [(4, Transition::Stale)]);
        assert_eq!(poll(&mut d, 2 * S), []);
        d.set_scan_limit(0);
        assert_eq!(d.scan_limit(), 1);
    }

    #[test]
    fn forced_stale_is_reported_once_and_cleared_by_an_update() {
        let mut d = StaleDetector::new(3, Duration::from_secs(60), Nanos(0));
        d.force_stale(InstrumentId(1));
        assert!(d.is_stale(InstrumentId(1)));
        assert_eq!(poll(&mut d, 1), [(1, Transition::Stale)]);
        assert_eq!(poll(&mut d, 2), []);
        d.force_stale(InstrumentId(1)); // already reported: no repeat
        assert_eq!(poll(&mut d, 3), []);
        d.on_update(InstrumentId(1), Nanos(4));
        assert_eq!(poll(&mut d, 5), [(1, Transition::Fresh)]);
        // Forced then updated before any poll: never reported.
        d.force_stale(InstrumentId(2));
        d.on_update(InstrumentId(2), Nanos(6));
        assert_eq!(poll(&mut d, 7), []);
        d.force_all_stale();
        assert_eq!(
            poll(&mut d, 8),
            [
                (0, Transition::Stale),
                (1, Transition::Stale),
                (2, Transition::Stale)
            ]
        );
    }

    #[test]
    fn out_of_range_and_empty_never_panic() {
        let mut d = StaleDetector::new(0, Duration::MAX, Nanos(0));
        d.on_update(InstrumentId(3), Nanos(1));
        d.force_stale(InstrumentId(3));
        assert!(!d.is_stale(InstrumentId(3)));
        assert!(d.is_empty());
        assert_eq!(poll(&mut d, u64::MAX), []);
        assert_eq!(d.stale_after(), Duration::from_nanos(i64::MAX as u64));
        let mut d = StaleDetector::new(1, Duration::MAX, Nanos(0));
        assert_eq!(poll(&mut d, u64::MAX / 2 - 1), []);
        assert_eq!(poll(&mut d, u64::MAX / 2), [(0, Transition::Stale)]);
    }
}
