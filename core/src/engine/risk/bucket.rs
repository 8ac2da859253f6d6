//! The order-rate token bucket.
//!
//! Owns [`TokenBucket`]: fixed-size state, integer maths, time passed in as
//! [`Nanos`] (the duty cycle's one clock read). It never reads a clock,
//! never allocates and never panics: every product saturates.
//!
//! Tokens are counted in units of 10^-9 token, so a rate of `r` orders per
//! second refills exactly `r` units per nanosecond (no division, no
//! rounding). A clock value earlier than the last one seen refills nothing
//! and does not move the bucket's time back.

use crate::clock::Nanos;

/// Units per whole token (one token = one order).
const UNIT: u64 = 1_000_000_000;

/// A token bucket: `burst` orders back to back, refilled at
/// `rate_per_sec` orders per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    /// Available units (≤ `capacity`).
    units: u64,
    /// `burst × UNIT`.
    capacity: u64,
    /// Units per nanosecond = orders per second.
    rate: u64,
    /// Time of the last refill.
    last: Nanos,
}

impl TokenBucket {
    /// A full bucket at time `now`.
    pub const fn new(rate_per_sec: u32, burst: u32, now: Nanos) -> TokenBucket {
        // u32::MAX × 10^9 < u64::MAX: no overflow.
        let capacity = burst as u64 * UNIT;
        TokenBucket {
            units: capacity,
            capacity,
            rate: rate_per_sec as u64,
            last: now,
        }
    }

    /// Changes rate and burst, keeping the tokens already earned (clamped
    /// to the new capacity).
    pub fn reconfigure(&mut self, rate_per_sec: u32, burst: u32) {
        self.capacity = u64::from(burst) * UNIT;
        self.rate = u64::from(rate_per_sec);
        self.units = self.units.min(self.capacity);
    }

    /// The units available at `now`, without changing the bucket.
    fn units_at(&self, now: Nanos) -> u64 {
        let elapsed = now.0.saturating_sub(self.last.0);
        self.units
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(self.capacity)
    }

    /// True if an order at `now` would be allowed. Changes nothing.
    #[inline]
    pub fn would_allow(&self, now: Nanos) -> bool {
        self.units_at(now) >= UNIT
    }

    /// Takes one token at `now` if there is one; true if taken.
    pub fn try_take(&mut self, now: Nanos) -> bool {
        let units = self.units_at(now);
        if now.0 > self.last.0 {
            self.last = now;
        }
        self.units = units;
        if units >= UNIT {
            self.units = units - UNIT;
            true
        } else {
            false
        }
    }

    /// Whole tokens available at `now`.
    #[inline]
    pub fn available(&self, now: Nanos) -> u64 {
        self.units_at(now) / UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn burst_then_refill_at_rate() {
        // 10/s, burst 3.
        let mut b = TokenBucket::new(10, 3, Nanos(1_000));
        let t = Nanos(1_000);
        assert_eq!(b.available(t), 3);
        assert!(b.try_take(t));
        assert!(b.try_take(t));
        assert!(b.try_take(t));
        assert!(!b.would_allow(t));
        assert!(!b.try_take(t));
        // One token per 100 ms: at 99.999999 ms not yet, at exactly 100 ms yes.
        assert!(!b.try_take(Nanos(1_000 + 100 * MS - 1)));
        assert!(b.try_take(Nanos(1_000 + 100 * MS)));
        assert!(!b.try_take(Nanos(1_000 + 100 * MS)));
    }

    #[test]
    fn refill_caps_at_burst() {
        let mut b = TokenBucket::new(1000, 2, Nanos(0));
        assert!(b.try_take(Nanos(0)));
        assert!(b.try_take(Nanos(0)));
        assert_eq!(b.available(Nanos(u64::MAX)), 2);
        assert!(b.try_take(Nanos(10_000 * MS)));
        assert!(b.try_take(Nanos(10_000 * MS)));
        assert!(!b.try_take(Nanos(10_000 * MS)));
    }

    #[test]
    fn clock_backwards_refills_nothing() {
        let mut b = TokenBucket::new(1, 1, Nanos(5_000 * MS));
        assert!(b.try_take(Nanos(5_000 * MS)));
        assert!(!b.try_take(Nanos(0)));
        // Time did not move back: a second after the first take refills.
        assert!(b.try_take(Nanos(6_000 * MS)));
    }

    #[test]
    fn would_allow_does_not_consume() {
        let b = TokenBucket::new(1, 1, Nanos(0));
        for _ in 0..5 {
            assert!(b.would_allow(Nanos(0)));
        }
    }

    #[test]
    fn reconfigure_clamps() {
        let mut b = TokenBucket::new(10, 10, Nanos(0));
        b.reconfigure(10, 2);
        assert_eq!(b.available(Nanos(0)), 2);
        b.reconfigure(10, 5);
        assert_eq!(b.available(Nanos(0)), 2);
    }

    proptest! {
        #[test]
        fn never_panics_and_never_exceeds_budget(
            rate in any::<u32>(), burst in any::<u32>(), start in any::<u64>(),
            steps in prop::collection::vec(any::<u64>(), 0..50),
        ) {
            let mut b = TokenBucket::new(rate, burst, Nanos(start));
            let mut taken: u128 = 0;
            let mut latest = start;
            for s in steps {
                if b.try_take(Nanos(s)) {
                    taken += 1;
                }
                latest = latest.max(s);
            }
            // Never more than burst + rate × elapsed seconds (rounded up).
            let elapsed = u128::from(latest - start);
            let budget = u128::from(burst) + (u128::from(rate) * elapsed).div_ceil(1_000_000_000);
            prop_assert!(taken <= budget);
        }
    }
}
