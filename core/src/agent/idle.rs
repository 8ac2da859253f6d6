//! How a thread waits when its agents found no work.
//!
//! Owns [`IdleStrategy`], a closed set (an enum, not `dyn`, so the duty loop
//! has no virtual call), and [`IdleConfig`], its serde form in the thread
//! layout TOML:
//!
//! ```toml
//! idle = { strategy = "busy-spin" }
//! idle = { strategy = "yield" }
//! idle = { strategy = "backoff" }      # Agrona's defaults, below
//! idle = { strategy = "backoff", max_spins = 100, max_yields = 10, min_park_ns = 1_000, max_park_ns = 1_000_000 }
//! idle = { strategy = "sleep", period_ns = 1_000_000 }
//! ```
//!
//! [`IdleStrategy::idle`] never allocates. It may yield or park the thread —
//! that is its purpose — but never for longer than [`MAX_PARK_NS`]; parking
//! uses `thread::park_timeout`, so [`crate::agent::AgentRunner::stop`] wakes a
//! parked runner at once by unparking it.
//!
//! ## Tuning constants and their sources
//!
//! * Backoff defaults are Agrona's `BackoffIdleStrategy` defaults
//!   (`DEFAULT_MAX_SPINS = 10`, `DEFAULT_MAX_YIELDS = 5`,
//!   `DEFAULT_MIN_PARK_PERIOD_NS = 1_000`, `DEFAULT_MAX_PARK_PERIOD_NS =
//!   1_000_000`): spin a little (the next message is often nanoseconds
//!   away), then yield, then park with a period doubling from 1 µs to 1 ms.
//! * Spinning uses `std::hint::spin_loop` (x86 `pause`), as crossbeam's
//!   `Backoff::spin` does; like crossbeam's `Backoff::snooze` each spin step
//!   issues `1 << min(step, SPIN_LIMIT)` hints with `SPIN_LIMIT = 6` (crossbeam's
//!   value), so the spin phase stretches exponentially before yielding.
//! * The sleep default (1 ms) is Agrona's `SleepingMillisIdleStrategy` default.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest park or sleep period accepted from config (1 s): bounds how
/// late an idle agent notices new work when nothing wakes it.
pub const MAX_PARK_NS: u64 = 1_000_000_000;

/// crossbeam `Backoff`'s `SPIN_LIMIT`: the spin phase issues at most
/// `1 << SPIN_LIMIT` `spin_loop` hints per idle call.
const SPIN_LIMIT: u32 = 6;

/// Agrona `BackoffIdleStrategy.DEFAULT_MAX_SPINS`.
pub const DEFAULT_MAX_SPINS: u64 = 10;
/// Agrona `BackoffIdleStrategy.DEFAULT_MAX_YIELDS`.
pub const DEFAULT_MAX_YIELDS: u64 = 5;
/// Agrona `BackoffIdleStrategy.DEFAULT_MIN_PARK_PERIOD_NS` (1 µs).
pub const DEFAULT_MIN_PARK_NS: u64 = 1_000;
/// Agrona `BackoffIdleStrategy.DEFAULT_MAX_PARK_PERIOD_NS` (1 ms).
pub const DEFAULT_MAX_PARK_NS: u64 = 1_000_000;
/// Agrona `SleepingMillisIdleStrategy` default (1 ms).
pub const DEFAULT_SLEEP_NS: u64 = 1_000_000;

/// How a thread waits after a duty cycle that did no work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdleStrategy {
    /// Never gives up the core: lowest latency, burns 100% of a core. Only
    /// for a thread that owns a core (layout validation enforces it).
    BusySpin,
    /// `thread::yield_now` on every idle cycle: lets another runnable thread
    /// on the same core go, otherwise spins.
    Yield,
    /// Spin → yield → park with a doubling, bounded period (Agrona's backoff).
    Backoff(BackoffIdle),
    /// Park for a fixed period on every idle cycle (slow, non-latency agents).
    Sleep {
        /// How long to park.
        period: Duration,
    },
}

impl IdleStrategy {
    /// Waits according to the strategy if `work_count == 0`; resets the
    /// backoff if work was done.
    #[inline]
    pub fn idle(&mut self, work_count: usize) {
        if work_count > 0 {
            self.reset();
            return;
        }
        match self {
            IdleStrategy::BusySpin => std::hint::spin_loop(),
            IdleStrategy::Yield => std::thread::yield_now(),
            IdleStrategy::Backoff(b) => b.idle(),
            IdleStrategy::Sleep { period } => std::thread::park_timeout(*period),
        }
    }

    /// Back to the most eager state (a backoff starts spinning again).
    #[inline]
    pub fn reset(&mut self) {
        if let IdleStrategy::Backoff(b) = self {
            b.reset();
        }
    }

    /// Whether this strategy never gives up its core.
    pub fn is_busy_spin(&self) -> bool {
        matches!(self, IdleStrategy::BusySpin)
    }
}

/// The phase a [`BackoffIdle`] is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackoffPhase {
    /// Busy-spinning with `spin_loop` hints.
    Spinning,
    /// Yielding the core.
    Yielding,
    /// Parking the thread with a doubling period.
    Parking,
}

/// Spin → yield → park state machine (Agrona's `BackoffIdleStrategy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackoffIdle {
    max_spins: u64,
    max_yields: u64,
    min_park: Duration,
    max_park: Duration,
    phase: BackoffPhase,
    /// Spins or yields done in the current phase.
    count: u64,
    /// The next park period.
    park: Duration,
}

impl BackoffIdle {
    /// A backoff with these limits, in the spinning phase. `min_park` is
    /// raised to at least 1 ns and `max_park` to at least `min_park`; use
    /// [`IdleConfig`] for validated input.
    pub fn new(max_spins: u64, max_yields: u64, min_park: Duration, max_park: Duration) -> Self {
        let min_park = min_park.max(Duration::from_nanos(1));
        let max_park = max_park.max(min_park);
        BackoffIdle {
            max_spins,
            max_yields,
            min_park,
            max_park,
            phase: BackoffPhase::Spinning,
            count: 0,
            park: min_park,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> BackoffPhase {
        self.phase
    }

    /// The period the next park would use.
    pub fn next_park(&self) -> Duration {
        self.park
    }

    /// Back to spinning with the shortest park period.
    #[inline]
    pub fn reset(&mut self) {
        self.phase = BackoffPhase::Spinning;
        self.count = 0;
        self.park = self.min_park;
    }

    /// One idle step: the state machine advances even when a limit is 0.
    #[inline]
    pub fn idle(&mut self) {
        if self.phase == BackoffPhase::Spinning {
            if self.count < self.max_spins {
                let step = u32::try_from(self.count)
                    .unwrap_or(SPIN_LIMIT)
                    .min(SPIN_LIMIT);
                for _ in 0..(1u32 << step) {
                    std::hint::spin_loop();
                }
                self.count += 1;
                return;
            }
            self.phase = BackoffPhase::Yielding;
            self.count = 0;
        }
        if self.phase == BackoffPhase::Yielding {
            if self.count < self.max_yields {
                std::thread::yield_now();
                self.count += 1;
                return;
            }
            self.phase = BackoffPhase::Parking;
            self.count = 0;
        }
        std::thread::park_timeout(self.park);
        self.park = self.park.saturating_mul(2).min(self.max_park);
    }
}

/// An idle strategy as written in config (TOML/JSON); see the module doc.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "kebab-case", deny_unknown_fields)]
pub enum IdleConfig {
    /// `{ strategy = "busy-spin" }`
    BusySpin,
    /// `{ strategy = "yield" }`
    Yield,
    /// `{ strategy = "backoff", max_spins, max_yields, min_park_ns, max_park_ns }`,
    /// each optional (Agrona's defaults).
    Backoff {
        /// Idle calls spent spinning before yielding.
        #[serde(default = "default_max_spins")]
        max_spins: u64,
        /// Idle calls spent yielding before parking.
        #[serde(default = "default_max_yields")]
        max_yields: u64,
        /// First park period, ns (≥ 1).
        #[serde(default = "default_min_park_ns")]
        min_park_ns: u64,
        /// Longest park period, ns (≥ `min_park_ns`, ≤ [`MAX_PARK_NS`]).
        #[serde(default = "default_max_park_ns")]
        max_park_ns: u64,
    },
    /// `{ strategy = "sleep", period_ns }` (default 1 ms).
    Sleep {
        /// Park period, ns (1..=[`MAX_PARK_NS`]).
        #[serde(default = "default_sleep_ns")]
        period_ns: u64,
    },
}

fn default_max_spins() -> u64 {
    DEFAULT_MAX_SPINS
}
fn default_max_yields() -> u64 {
    DEFAULT_MAX_YIELDS
}
fn default_min_park_ns() -> u64 {
    DEFAULT_MIN_PARK_NS
}
fn default_max_park_ns() -> u64 {
    DEFAULT_MAX_PARK_NS
}
fn default_sleep_ns() -> u64 {
    DEFAULT_SLEEP_NS
}

impl Default for IdleConfig {
    /// Backoff with Agrona's defaults: safe on any machine.
    fn default() -> IdleConfig {
        IdleConfig::backoff()
    }
}

/// An [`IdleConfig`] with out-of-range parameters; names the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdleConfigError {
    /// A park or sleep period of 0 would be a busy-spin in disguise.
    #[error("{field} must be at least 1 ns")]
    ZeroPeriod {
        /// The offending field.
        field: &'static str,
    },
    /// A period above [`MAX_PARK_NS`].
    #[error("{field} = {ns} ns exceeds the maximum {max} ns")]
    PeriodTooLong {
        /// The offending field.
        field: &'static str,
        /// The configured value.
        ns: u64,
        /// [`MAX_PARK_NS`].
        max: u64,
    },
    /// `min_park_ns > max_park_ns`.
    #[error("min_park_ns = {min} ns is above max_park_ns = {max} ns")]
    MinAboveMax {
        /// `min_park_ns`.
        min: u64,
        /// `max_park_ns`.
        max: u64,
    },
}

impl IdleConfigError {
    /// The config field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            IdleConfigError::ZeroPeriod { field }
            | IdleConfigError::PeriodTooLong { field, .. } => field,
            IdleConfigError::MinAboveMax { .. } => "min_park_ns",
        }
    }
}

impl IdleConfig {
    /// Backoff with Agrona's defaults.
    pub const fn backoff() -> IdleConfig {
        IdleConfig::Backoff {
            max_spins: DEFAULT_MAX_SPINS,
            max_yields: DEFAULT_MAX_YIELDS,
            min_park_ns: DEFAULT_MIN_PARK_NS,
            max_park_ns: DEFAULT_MAX_PARK_NS,
        }
    }

    /// Sleep with the 1 ms default.
    pub const fn sleep() -> IdleConfig {
        IdleConfig::Sleep {
            period_ns: DEFAULT_SLEEP_NS,
        }
    }

    /// Whether this is `busy-spin`.
    pub fn is_busy_spin(&self) -> bool {
        matches!(self, IdleConfig::BusySpin)
    }

    /// The strategy's config name.
    pub fn as_str(&self) -> &'static str {
        match self {
            IdleConfig::BusySpin => "busy-spin",
            IdleConfig::Yield => "yield",
            IdleConfig::Backoff { .. } => "backoff",
            IdleConfig::Sleep { .. } => "sleep",
        }
    }

    /// The inline-table TOML form, `strategy` first, e.g.
    /// `{ strategy = "sleep", period_ns = 1000000 }`.
    pub fn to_toml_inline(&self) -> String {
        let strategy = self.as_str();
        match *self {
            IdleConfig::BusySpin | IdleConfig::Yield => format!("{{ strategy = \"{strategy}\" }}"),
            IdleConfig::Backoff {
                max_spins,
                max_yields,
                min_park_ns,
                max_park_ns,
            } => format!(
                "{{ strategy = \"{strategy}\", max_spins = {max_spins}, max_yields = {max_yields}, \
                 min_park_ns = {min_park_ns}, max_park_ns = {max_park_ns} }}"
            ),
            IdleConfig::Sleep { period_ns } => {
                format!("{{ strategy = \"{strategy}\", period_ns = {period_ns} }}")
            }
        }
    }

    /// Checks the parameters; the error names the field.
    pub fn validate(&self) -> Result<(), IdleConfigError> {
        let check = |field: &'static str, ns: u64| {
            if ns == 0 {
                Err(IdleConfigError::ZeroPeriod { field })
            } else if ns > MAX_PARK_NS {
                Err(IdleConfigError::PeriodTooLong {
                    field,
                    ns,
                    max: MAX_PARK_NS,
                })
            } else {
                Ok(())
            }
        };
        match *self {
            IdleConfig::BusySpin | IdleConfig::Yield => Ok(()),
            IdleConfig::Backoff {
                min_park_ns,
                max_park_ns,
                ..
            } => {
                check("min_park_ns", min_park_ns)?;
                check("max_park_ns", max_park_ns)?;
                if min_park_ns > max_park_ns {
                    return Err(IdleConfigError::MinAboveMax {
                        min: min_park_ns,
                        max: max_park_ns,
                    });
                }
                Ok(())
            }
            IdleConfig::Sleep { period_ns } => check("period_ns", period_ns),
        }
    }

    /// Validates and builds the strategy.
    pub fn build(&self) -> Result<IdleStrategy, IdleConfigError> {
        self.validate()?;
        Ok(match *self {
            IdleConfig::BusySpin => IdleStrategy::BusySpin,
            IdleConfig::Yield => IdleStrategy::Yield,
            IdleConfig::Backoff {
                max_spins,
                max_yields,
                min_park_ns,
                max_park_ns,
            } => IdleStrategy::Backoff(BackoffIdle::new(
                max_spins,
                max_yields,
                Duration::from_nanos(min_park_ns),
                Duration::from_nanos(max_park_ns),
            )),
            IdleConfig::Sleep { period_ns } => IdleStrategy::Sleep {
                period: Duration::from_nanos(period_ns),
            },
        })
    }
}

impl fmt::Display for IdleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IdleConfig::BusySpin | IdleConfig::Yield => f.write_str(self.as_str()),
            IdleConfig::Backoff {
                max_spins,
                max_yields,
                min_park_ns,
                max_park_ns,
            } => write!(
                f,
                "backoff(spins={max_spins}, yields={max_yields}, park={min_park_ns}..{max_park_ns}ns)"
            ),
            IdleConfig::Sleep { period_ns } => write!(f, "sleep({period_ns}ns)"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct Wrap {
        idle: IdleConfig,
    }

    fn parse(s: &str) -> Result<IdleConfig, toml::de::Error> {
        toml::from_str::<Wrap>(s).map(|w| w.idle)
    }

    #[test]
    fn toml_forms_and_defaults() {
        assert_eq!(
            parse(r#"idle = { strategy = "busy-spin" }"#).unwrap(),
            IdleConfig::BusySpin
        );
        assert_eq!(
            parse(r#"idle = { strategy = "yield" }"#).unwrap(),
            IdleConfig::Yield
        );
        assert_eq!(
            parse(r#"idle = { strategy = "backoff" }"#).unwrap(),
            IdleConfig::backoff()
        );
        assert_eq!(
            parse(r#"idle = { strategy = "backoff", max_spins = 100, max_park_ns = 2_000_000 }"#)
                .unwrap(),
            IdleConfig::Backoff {
                max_spins: 100,
                max_yields: DEFAULT_MAX_YIELDS,
                min_park_ns: DEFAULT_MIN_PARK_NS,
                max_park_ns: 2_000_000
            }
        );
        assert_eq!(
            parse(r#"idle = { strategy = "sleep" }"#).unwrap(),
            IdleConfig::sleep()
        );
        assert!(parse(r#"idle = { strategy = "nap" }"#).is_err());
        assert!(parse(r#"idle = { strategy = "backoff", max_spin = 3 }"#).is_err());
        assert!(parse(r#"idle = { strategy = "sleep", period_ns = -1 }"#).is_err());
        for c in [
            IdleConfig::BusySpin,
            IdleConfig::Yield,
            IdleConfig::backoff(),
            IdleConfig::Sleep { period_ns: 5 },
        ] {
            let w = Wrap { idle: c };
            assert_eq!(
                toml::from_str::<Wrap>(&toml::to_string(&w).unwrap()).unwrap(),
                w
            );
            assert_eq!(parse(&format!("idle = {}", c.to_toml_inline())).unwrap(), c);
        }
        assert_eq!(
            IdleConfig::sleep().to_toml_inline(),
            r#"{ strategy = "sleep", period_ns = 1000000 }"#
        );
    }

    #[test]
    fn validation_names_the_field() {
        let bad = IdleConfig::Backoff {
            max_spins: 1,
            max_yields: 1,
            min_park_ns: 0,
            max_park_ns: 10,
        };
        assert_eq!(
            bad.validate(),
            Err(IdleConfigError::ZeroPeriod {
                field: "min_park_ns"
            })
        );
        let bad = IdleConfig::Backoff {
            max_spins: 1,
            max_yields: 1,
            min_park_ns: 100,
            max_park_ns: 10,
        };
        assert_eq!(bad.validate().unwrap_err().field(), "min_park_ns");
        let bad = IdleConfig::Backoff {
            max_spins: 1,
            max_yields: 1,
            min_park_ns: 1,
            max_park_ns: MAX_PARK_NS + 1,
        };
        assert_eq!(bad.validate().unwrap_err().field(), "max_park_ns");
        let bad = IdleConfig::Sleep { period_ns: 0 };
        assert_eq!(bad.build().unwrap_err().field(), "period_ns");
        assert!(IdleConfig::BusySpin.build().unwrap().is_busy_spin());
        assert!(!IdleConfig::Yield.build().unwrap().is_busy_spin());
        assert!(IdleConfig::BusySpin.is_busy_spin());
    }

    #[test]
    fn backoff_walks_spin_yield_park_and_resets() {
        let mut s = IdleConfig::Backoff {
            max_spins: 3,
            max_yields: 2,
            min_park_ns: 1_000,
            max_park_ns: 4_000,
        }
        .build()
        .unwrap();
        let phase = |s: &IdleStrategy| match s {
            IdleStrategy::Backoff(b) => (b.phase(), b.next_park()),
            _ => unreachable!(),
        };
        for _ in 0..3 {
            s.idle(0);
            assert_eq!(phase(&s).0, BackoffPhase::Spinning);
        }
        s.idle(0); // spins exhausted → first yield
        assert_eq!(phase(&s).0, BackoffPhase::Yielding);
        s.idle(0);
        s.idle(0); // yields exhausted → first park (1 µs), next 2 µs
        assert_eq!(
            phase(&s),
            (BackoffPhase::Parking, Duration::from_nanos(2_000))
        );
        s.idle(0);
        assert_eq!(phase(&s).1, Duration::from_nanos(4_000));
        s.idle(0);
        assert_eq!(
            phase(&s).1,
            Duration::from_nanos(4_000),
            "bounded by max_park"
        );
        s.idle(7); // work resets
        assert_eq!(
            phase(&s),
            (BackoffPhase::Spinning, Duration::from_nanos(1_000))
        );
    }

    #[test]
    fn zero_limits_go_straight_to_parking_and_other_strategies_return() {
        let mut b = BackoffIdle::new(0, 0, Duration::ZERO, Duration::ZERO);
        b.idle();
        assert_eq!(b.phase(), BackoffPhase::Parking);
        assert_eq!(b.next_park(), Duration::from_nanos(1));
        for mut s in [
            IdleStrategy::BusySpin,
            IdleStrategy::Yield,
            IdleStrategy::Sleep {
                period: Duration::from_micros(10),
            },
        ] {
            s.idle(0);
            s.idle(1);
            s.reset();
        }
        assert_eq!(IdleConfig::sleep().to_string(), "sleep(1000000ns)");
        assert_eq!(IdleConfig::BusySpin.to_string(), "busy-spin");
    }
}
