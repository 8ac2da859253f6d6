//! # Circuit breaker for order entry
//!
//! Owns [`CircuitBreaker`] and its [`BreakerConfig`]. The breaker stops the
//! gateway from sending new orders while the venue keeps failing:
//! `Closed` → `Open` when `failures` failures fall within `window`;
//! `Open` → `HalfOpen` once `half_open_after` has passed, which allows
//! exactly one probe; the probe's success closes it, its failure re-opens it
//! (for another `half_open_after`). It never allocates (the failure times
//! live in a fixed ring), never reads a clock (callers pass `now`), never
//! blocks and never panics.
//!
//! What counts as a failure is the caller's decision (DESIGN §6 / the
//! issue): venue 5xx and -1007 timeouts, ack timeouts, connection losses,
//! 429/418 — never ordinary business rejects (-2010 insufficient balance, a
//! filter failure). A success is any answered request.

use std::time::Duration;

use talon_core::clock::Nanos;

/// Largest `failures` threshold (the ring of failure times is this long).
pub const MAX_FAILURES: u32 = 64;

/// Breaker settings (`[gateway.breaker]`); durations in milliseconds in
/// config files (`window_ms`, `half_open_after_ms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Failures within `window` that open the breaker (1..=64, default 5).
    pub failures: u32,
    /// The window failures are counted in (default 30 s).
    #[serde(rename = "window_ms", with = "duration_ms")]
    pub window: Duration,
    /// How long the breaker stays open before allowing one probe (default 60 s).
    #[serde(rename = "half_open_after_ms", with = "duration_ms")]
    pub half_open_after: Duration,
}

mod duration_ms {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Duration, D::Error> {
        let ms = <u64 as serde::Deserialize>::deserialize(d)?;
        Ok(Duration::from_millis(ms))
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 5,
            window: Duration::from_secs(30),
            half_open_after: Duration::from_secs(60),
        }
    }
}

/// An invalid [`BreakerConfig`]; the message names the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BreakerConfigError {
    /// `failures` outside 1..=64.
    #[error("breaker.failures must be 1..=64, got {0}")]
    Failures(u32),
    /// `window_ms` zero or above one day.
    #[error("breaker.window_ms must be 1..=86400000, got {0}")]
    Window(u128),
    /// `half_open_after_ms` zero or above one day.
    #[error("breaker.half_open_after_ms must be 1..=86400000, got {0}")]
    HalfOpenAfter(u128),
}

const DAY_MS: u128 = 86_400_000;

impl BreakerConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), BreakerConfigError> {
        if self.failures == 0 || self.failures > MAX_FAILURES {
            return Err(BreakerConfigError::Failures(self.failures));
        }
        let w = self.window.as_millis();
        if w == 0 || w > DAY_MS {
            return Err(BreakerConfigError::Window(w));
        }
        let h = self.half_open_after.as_millis();
        if h == 0 || h > DAY_MS {
            return Err(BreakerConfigError::HalfOpenAfter(h));
        }
        Ok(())
    }
}

/// Breaker state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Sending normally.
    Closed,
    /// Refusing until the given time.
    Open,
    /// One probe allowed (or in flight).
    HalfOpen,
}

impl BreakerState {
    /// Stable lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// Breaker counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BreakerCounters {
    /// Times it opened (from closed or from a failed probe).
    pub opens: u64,
    /// Probes allowed in half-open.
    pub probes: u64,
    /// Times a successful probe closed it.
    pub closes: u64,
    /// Failures reported.
    pub failures: u64,
    /// Requests refused.
    pub refused: u64,
}

/// The circuit breaker (see the module docs).
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    failures: usize,
    window_ns: u64,
    half_open_after_ns: u64,
    state: BreakerState,
    opened_at: Nanos,
    probe_in_flight: bool,
    ring: [Nanos; MAX_FAILURES as usize],
    ring_len: usize,
    ring_next: usize,
    counters: BreakerCounters,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl CircuitBreaker {
    /// A closed breaker; the config is validated.
    pub fn new(config: BreakerConfig) -> Result<CircuitBreaker, BreakerConfigError> {
        config.validate()?;
        Ok(CircuitBreaker {
            failures: config.failures as usize,
            window_ns: nanos(config.window),
            half_open_after_ns: nanos(config.half_open_after),
            state: BreakerState::Closed,
            opened_at: Nanos::ZERO,
            probe_in_flight: false,
            ring: [Nanos::ZERO; MAX_FAILURES as usize],
            ring_len: 0,
            ring_next: 0,
            counters: BreakerCounters::default(),
        })
    }

    /// The state at `now` (an open breaker past `half_open_after` reads as
    /// half-open).
    pub fn state(&self, now: Nanos) -> BreakerState {
        match self.state {
            BreakerState::Open if self.open_elapsed(now) => BreakerState::HalfOpen,
            s => s,
        }
    }

    /// Counters.
    pub fn counters(&self) -> BreakerCounters {
        self.counters
    }

    fn open_elapsed(&self, now: Nanos) -> bool {
        now.saturating_elapsed_since(self.opened_at) >= self.half_open_after_ns
    }

    /// May a request be sent at `now`? In half-open, `true` exactly once
    /// (the probe) until its outcome is reported.
    pub fn allow(&mut self, now: Nanos) -> bool {
        if self.state == BreakerState::Open && self.open_elapsed(now) {
            self.state = BreakerState::HalfOpen;
            self.probe_in_flight = false;
        }
        let ok = match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen if self.probe_in_flight => false,
            BreakerState::HalfOpen => {
                self.probe_in_flight = true;
                self.counters.probes += 1;
                true
            }
        };
        if !ok {
            self.counters.refused += 1;
        }
        ok
    }

    /// A request succeeded: closes a half-open breaker.
    pub fn on_success(&mut self, now: Nanos) {
        if self.state(now) == BreakerState::HalfOpen && self.probe_in_flight {
            self.state = BreakerState::Closed;
            self.probe_in_flight = false;
            self.ring_len = 0;
            self.counters.closes += 1;
        }
    }

    /// A request failed: counts it; opens when `failures` fall within
    /// `window`; a failed probe re-opens.
    pub fn on_failure(&mut self, now: Nanos) {
        self.counters.failures += 1;
        match self.state(now) {
            BreakerState::Open => {}
            // The probe (or any request) failed after the open period:
            // open for another `half_open_after`.
            BreakerState::HalfOpen => self.open(now),
            BreakerState::Closed => {
                if let Some(slot) = self.ring.get_mut(self.ring_next) {
                    *slot = now;
                }
                self.ring_next = (self.ring_next + 1) % self.failures;
                self.ring_len = (self.ring_len + 1).min(self.failures);
                // The oldest of the last `failures` failures.
                let oldest = self.ring.get(self.ring_next % self.failures).copied();
                if self.ring_len == self.failures
                    && oldest.is_some_and(|t| now.saturating_elapsed_since(t) <= self.window_ns)
                {
                    self.open(now);
                }
            }
        }
    }

    fn open(&mut self, now: Nanos) {
        self.state = BreakerState::Open;
        self.opened_at = now;
        self.probe_in_flight = false;
        self.ring_len = 0;
        self.ring_next = 0;
        self.counters.opens += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const S: u64 = 1_000_000_000;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig::default()).unwrap()
    }

    #[test]
    fn opens_after_five_failures_in_thirty_seconds() {
        let mut b = breaker();
        for i in 0..4 {
            b.on_failure(Nanos(i * 5 * S));
            assert_eq!(b.state(Nanos(i * 5 * S)), BreakerState::Closed);
            assert!(b.allow(Nanos(i * 5 * S)));
        }
        b.on_failure(Nanos(30 * S)); // 5th, the first was at 0: within 30 s
        assert_eq!(b.state(Nanos(30 * S)), BreakerState::Open);
        assert!(!b.allow(Nanos(30 * S)));
        assert!(!b.allow(Nanos(89 * S)));
        assert_eq!(b.counters().opens, 1);
        assert_eq!(b.counters().refused, 2);
    }

    #[test]
    fn old_failures_leave_the_window() {
        let mut b = breaker();
        for i in 0..4 {
            b.on_failure(Nanos(i * S));
        }
        // 5th failure 31 s after the first: only 4 within any 30 s.
        b.on_failure(Nanos(31 * S));
        assert_eq!(b.state(Nanos(31 * S)), BreakerState::Closed);
        // The last five span 31 s (1..32), 31 s (2..33), 30.5 s (3..33.5).
        for t in [32 * S, 33 * S, 33 * S + S / 2] {
            b.on_failure(Nanos(t));
            assert_eq!(b.state(Nanos(t)), BreakerState::Closed);
        }
        // 9th at 34 s: last five are 31, 32, 33, 33.5, 34 → 3 s span: open.
        b.on_failure(Nanos(34 * S));
        assert_eq!(b.state(Nanos(34 * S)), BreakerState::Open);
    }

    fn opened_at_10s() -> CircuitBreaker {
        let mut b = breaker();
        for _ in 0..5 {
            b.on_failure(Nanos(10 * S));
        }
        assert_eq!(b.state(Nanos(10 * S)), BreakerState::Open);
        b
    }

    #[test]
    fn half_open_allows_exactly_one_probe_and_success_closes() {
        let mut b = opened_at_10s();
        assert!(!b.allow(Nanos(69 * S)));
        assert_eq!(b.state(Nanos(70 * S)), BreakerState::HalfOpen);
        assert!(b.allow(Nanos(70 * S)));
        assert!(!b.allow(Nanos(70 * S)));
        assert!(!b.allow(Nanos(71 * S)));
        b.on_success(Nanos(72 * S));
        assert_eq!(b.state(Nanos(72 * S)), BreakerState::Closed);
        assert!(b.allow(Nanos(72 * S)));
        assert!(b.allow(Nanos(72 * S)));
        let c = b.counters();
        assert_eq!((c.opens, c.probes, c.closes), (1, 1, 1));
        // Closed again with a clean slate: four failures do not open it.
        for _ in 0..4 {
            b.on_failure(Nanos(73 * S));
        }
        assert_eq!(b.state(Nanos(73 * S)), BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_reopens_for_another_period() {
        let mut b = opened_at_10s();
        assert!(b.allow(Nanos(70 * S)));
        b.on_failure(Nanos(71 * S));
        assert_eq!(b.state(Nanos(71 * S)), BreakerState::Open);
        assert!(!b.allow(Nanos(130 * S)));
        assert_eq!(b.state(Nanos(131 * S)), BreakerState::HalfOpen);
        assert!(b.allow(Nanos(131 * S)));
        assert_eq!(b.counters().opens, 2);
        // A success outside half-open changes nothing.
        let mut closed = breaker();
        closed.on_success(Nanos(1));
        assert_eq!(closed.counters().closes, 0);
    }

    #[test]
    fn config_serde_and_validation() {
        let c: BreakerConfig =
            serde_json::from_str(r#"{"failures":3,"window_ms":1000,"half_open_after_ms":2000}"#)
                .unwrap();
        assert_eq!(c.failures, 3);
        assert_eq!(c.window, Duration::from_secs(1));
        assert_eq!(c.half_open_after, Duration::from_secs(2));
        let back: BreakerConfig =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        let d: BreakerConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(d, BreakerConfig::default());
        assert!(serde_json::from_str::<BreakerConfig>(r#"{"failure":3}"#).is_err());
        for (cfg, key) in [
            (BreakerConfig { failures: 0, ..d }, "breaker.failures"),
            (BreakerConfig { failures: 65, ..d }, "breaker.failures"),
            (
                BreakerConfig {
                    window: Duration::ZERO,
                    ..d
                },
                "breaker.window_ms",
            ),
            (
                BreakerConfig {
                    half_open_after: Duration::from_secs(86_401),
                    ..d
                },
                "breaker.half_open_after_ms",
            ),
        ] {
            let e = CircuitBreaker::new(cfg).unwrap_err();
            assert!(e.to_string().contains(key), "{e}");
        }
        // A threshold of one opens on the first failure.
        let mut one = CircuitBreaker::new(BreakerConfig { failures: 1, ..d }).unwrap();
        one.on_failure(Nanos(5));
        assert_eq!(one.state(Nanos(5)), BreakerState::Open);
        assert_eq!(BreakerState::HalfOpen.as_str(), "half_open");
    }
}
