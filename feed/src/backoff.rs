//! Reconnect delays: exponential backoff with jitter, deterministic.
//!
//! Owns [`Backoff`] (the config: initial and maximum delay, jitter fraction),
//! [`BackoffState`] (the attempt counter and the next delay) and [`SplitMix64`]
//! (a tiny PRNG seeded from config, so a test or a replay sees the same delays;
//! also the source of WebSocket masking keys). Never allocates, never reads a
//! clock (callers pass `now`), never sleeps: it only says *when* the next
//! attempt may start.
//!
//! Delay of attempt `n` (0-based): `d = min(initial · 2ⁿ, max)`, then jitter
//! removes a random part of up to `jitter_pct`% of `d` ("equal jitter" style:
//! the delay stays in `[d·(1−j), d]`), so a fleet of clients reconnecting after
//! a venue outage spreads out instead of stampeding.
//!
//! The backoff is reset only once a connection has proved healthy (open for
//! [`Backoff::reset_after`], checked by the feed's duty cycle), never merely
//! because an upgrade succeeded: a venue that accepts and at once drops
//! every connection must see growing delays, not ~10 attempts a second.
//! On top of the delays, [`AttemptBudget`] caps attempts per sliding window
//! ([`Backoff::max_attempts`] per [`Backoff::attempt_window`], default 250
//! per 5 minutes) below the venue's limit of 300 connection attempts per
//! 5 minutes per IP, whatever the backoff settings. Its ring of attempt
//! times is allocated once, at construction.

use std::time::Duration;

use serde::Deserialize;

use crate::error::ConfigError;
use talon_core::clock::Nanos;

/// SplitMix64 (Steele, Lea, Flood 2014): one `u64` of state, full period,
/// good enough for jitter and masking keys (not for secrets).
#[derive(Clone, Copy, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next pseudo-random `u64`.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A pseudo-random value in `0..=bound` (`bound` = 0 gives 0).
    #[inline]
    pub fn up_to(&mut self, bound: u64) -> u64 {
        if bound == u64::MAX {
            self.next_u64()
        } else {
            self.next_u64() % (bound + 1)
        }
    }
}

/// Reconnect backoff settings (`[feed.reconnect]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backoff {
    /// First delay, in milliseconds (`initial_ms`).
    #[serde(rename = "initial_ms", with = "crate::config::millis")]
    pub initial: Duration,
    /// Largest delay, in milliseconds (`max_ms`).
    #[serde(rename = "max_ms", with = "crate::config::millis")]
    pub max: Duration,
    /// Up to this percentage of each delay is removed at random (0–100).
    pub jitter_pct: u8,
    /// A connection open for this long proves healthy and resets the
    /// backoff (`reset_after_ms`, default 30 s).
    #[serde(rename = "reset_after_ms", with = "crate::config::millis")]
    pub reset_after: Duration,
    /// At most this many connection attempts per `attempt_window`
    /// (`max_attempts`, default 250; the venue allows 300 per 5 min per IP).
    pub max_attempts: u32,
    /// The sliding window of `max_attempts` (`attempt_window_ms`, default
    /// 5 min).
    #[serde(rename = "attempt_window_ms", with = "crate::config::millis")]
    pub attempt_window: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            jitter_pct: 50,
            reset_after: Duration::from_secs(30),
            max_attempts: 250,
            attempt_window: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// Checks the settings; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.initial.is_zero() {
            return Err(ConfigError::new(
                "reconnect.initial_ms",
                "must be at least 1 ms",
            ));
        }
        if self.max < self.initial {
            return Err(ConfigError::new(
                "reconnect.max_ms",
                "must be at least reconnect.initial_ms",
            ));
        }
        if self.jitter_pct > 100 {
            return Err(ConfigError::new(
                "reconnect.jitter_pct",
                "must be between 0 and 100",
            ));
        }
        if self.reset_after.is_zero() {
            return Err(ConfigError::new(
                "reconnect.reset_after_ms",
                "must be at least 1 ms",
            ));
        }
        if self.max_attempts == 0 || self.max_attempts > MAX_ATTEMPTS_LIMIT {
            return Err(ConfigError::new(
                "reconnect.max_attempts",
                "must be between 1 and 4096",
            ));
        }
        if self.attempt_window.is_zero() {
            return Err(ConfigError::new(
                "reconnect.attempt_window_ms",
                "must be at least 1 ms",
            ));
        }
        Ok(())
    }
}

/// Largest [`Backoff::max_attempts`] (bounds the ring of attempt times).
pub const MAX_ATTEMPTS_LIMIT: u32 = 4096;

/// A sliding-window cap on attempts: at most `max` attempts in any
/// `window` (a ring of the last `max` attempt times, allocated once).
#[derive(Clone, Debug)]
pub struct AttemptBudget {
    window: u64,
    times: Box<[Nanos]>,
    head: usize,
    len: usize,
    delayed: u64,
}

impl AttemptBudget {
    /// At most `max` (at least 1) attempts per `window`.
    pub fn new(max: u32, window: Duration) -> AttemptBudget {
        let max = usize::try_from(max.max(1)).unwrap_or(1);
        AttemptBudget {
            window: u64::try_from(window.as_nanos()).unwrap_or(u64::MAX),
            times: vec![Nanos::ZERO; max].into_boxed_slice(),
            head: 0,
            len: 0,
            delayed: 0,
        }
    }

    /// The earliest instant ≥ `now` at which one more attempt stays within
    /// the budget.
    pub fn earliest(&self, now: Nanos) -> Nanos {
        if self.len < self.times.len() {
            return now;
        }
        // Full: the oldest of the last `max` attempts must leave the window.
        let oldest = self.times[self.head];
        oldest.saturating_add(self.window).max(now)
    }

    /// Asks to attempt at `now`: `Ok(())` records the attempt; `Err(at)`
    /// says the budget is spent until `at` (counted in
    /// [`AttemptBudget::delayed`]).
    pub fn try_attempt(&mut self, now: Nanos) -> Result<(), Nanos> {
        let at = self.earliest(now);
        if at > now {
            self.delayed += 1;
            return Err(at);
        }
        let n = self.times.len();
        if self.len < n {
            self.times[(self.head + self.len) % n] = now;
            self.len += 1;
        } else {
            self.times[self.head] = now;
            self.head = (self.head + 1) % n;
        }
        Ok(())
    }

    /// Attempts the budget delayed so far.
    pub fn delayed(&self) -> u64 {
        self.delayed
    }
}

/// The backoff of one connection: how many attempts failed in a row and
/// when the next may start.
#[derive(Clone, Debug)]
pub struct BackoffState {
    cfg: Backoff,
    rng: SplitMix64,
    failures: u32,
}

impl BackoffState {
    /// Fresh state (no failures yet) with a jitter generator seeded by `seed`.
    pub fn new(cfg: Backoff, seed: u64) -> BackoffState {
        BackoffState {
            cfg,
            rng: SplitMix64::new(seed),
            failures: 0,
        }
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The delay before the next attempt after one more failure (and counts
    /// the failure).
    pub fn next_delay(&mut self) -> Duration {
        let initial = self.cfg.initial.as_nanos().min(u64::MAX as u128) as u64;
        let max = self.cfg.max.as_nanos().min(u64::MAX as u128) as u64;
        let shift = self.failures.min(63);
        let d = initial.checked_shl(shift).unwrap_or(u64::MAX);
        // checked_shl only refuses shifts ≥ 64; detect overflow by shifting back.
        let d = if d >> shift != initial {
            max
        } else {
            d.min(max)
        };
        self.failures = self.failures.saturating_add(1);
        let span = d / 100 * u64::from(self.cfg.jitter_pct);
        Duration::from_nanos(d - self.rng.up_to(span))
    }

    /// The instant of the next attempt after a failure at `now`.
    pub fn next_attempt_at(&mut self, now: Nanos) -> Nanos {
        let d = self.next_delay();
        now.saturating_add(d.as_nanos().min(u64::MAX as u128) as u64)
    }

    /// The connection proved healthy (see [`Backoff::reset_after`]): the
    /// next failure starts from `initial` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cfg(initial_ms: u64, max_ms: u64, jitter: u8) -> Backoff {
        Backoff {
            initial: Duration::from_millis(initial_ms),
            max: Duration::from_millis(max_ms),
            jitter_pct: jitter,
            ..Backoff::default()
        }
    }

    #[test]
    fn attempt_budget_caps_a_sliding_window() {
        const MS: u64 = 1_000_000;
        let mut b = AttemptBudget::new(3, Duration::from_millis(100));
        assert_eq!(b.try_attempt(Nanos(0)), Ok(()));
        assert_eq!(b.try_attempt(Nanos(10 * MS)), Ok(()));
        assert_eq!(b.try_attempt(Nanos(20 * MS)), Ok(()));
        // A 4th within 100 ms of the 1st must wait until the 1st leaves.
        assert_eq!(b.try_attempt(Nanos(30 * MS)), Err(Nanos(100 * MS)));
        assert_eq!(b.delayed(), 1);
        assert_eq!(b.try_attempt(Nanos(100 * MS)), Ok(()));
        assert_eq!(b.try_attempt(Nanos(101 * MS)), Err(Nanos(110 * MS)));
        // Over any long run: never more than 3 per 100 ms.
        let mut b = AttemptBudget::new(3, Duration::from_millis(100));
        let mut ok = Vec::new();
        for t in 0..1000u64 {
            if b.try_attempt(Nanos(t * MS)).is_ok() {
                ok.push(t);
            }
        }
        for w in ok.windows(4) {
            assert!(w[3] - w[0] >= 100, "{w:?}");
        }
        assert!(ok.len() >= 27);
    }

    #[test]
    fn new_keys_are_validated() {
        let with = |f: fn(&mut Backoff)| {
            let mut c = Backoff::default();
            f(&mut c);
            c.validate().unwrap_err().key
        };
        assert_eq!(with(|c| c.max_attempts = 0), "reconnect.max_attempts");
        assert_eq!(
            with(|c| c.max_attempts = MAX_ATTEMPTS_LIMIT + 1),
            "reconnect.max_attempts"
        );
        assert_eq!(
            with(|c| c.reset_after = Duration::ZERO),
            "reconnect.reset_after_ms"
        );
        assert_eq!(
            with(|c| c.attempt_window = Duration::ZERO),
            "reconnect.attempt_window_ms"
        );
    }

    #[test]
    fn doubles_up_to_the_cap_without_jitter() {
        let mut b = BackoffState::new(cfg(100, 1000, 0), 1);
        let got: Vec<u64> = (0..7).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(got, vec![100, 200, 400, 800, 1000, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn never_overflows_after_many_failures() {
        let mut b = BackoffState::new(cfg(1, 5000, 0), 1);
        for _ in 0..200 {
            assert!(b.next_delay() <= Duration::from_millis(5000));
        }
        assert_eq!(b.next_delay(), Duration::from_millis(5000));
    }

    #[test]
    fn jitter_stays_in_range_and_is_deterministic() {
        let mut a = BackoffState::new(cfg(1000, 1000, 50), 42);
        let mut b = BackoffState::new(cfg(1000, 1000, 50), 42);
        let mut distinct = std::collections::HashSet::new();
        for _ in 0..100 {
            let d = a.next_delay();
            assert_eq!(d, b.next_delay());
            assert!(d >= Duration::from_millis(500) && d <= Duration::from_millis(1000));
            distinct.insert(d);
        }
        assert!(distinct.len() > 10, "jitter varies the delay");
    }

    #[test]
    fn validation_names_the_key() {
        assert_eq!(
            cfg(0, 10, 0).validate().unwrap_err().key,
            "reconnect.initial_ms"
        );
        assert_eq!(
            cfg(10, 5, 0).validate().unwrap_err().key,
            "reconnect.max_ms"
        );
        assert_eq!(
            cfg(10, 50, 101).validate().unwrap_err().key,
            "reconnect.jitter_pct"
        );
        assert!(Backoff::default().validate().is_ok());
    }

    #[test]
    fn next_attempt_is_after_now() {
        let mut b = BackoffState::new(cfg(10, 10, 0), 0);
        assert_eq!(b.next_attempt_at(Nanos(5)), Nanos(5 + 10_000_000));
        assert_eq!(b.failures(), 1);
    }
}
