#![allow(clippy::unwrap_used)]

use super::*;
use talon_core::clock::{ManualClock, NanoClock};

const MS: u64 = NS_PER_MS;

fn limits(entries: &[(RateLimitKind, RateInterval, u32, u64)]) -> RateLimits {
    let mut l = RateLimits::new();
    for &(kind, interval, interval_num, limit) in entries {
        l.push(RateLimit {
            kind,
            interval,
            interval_num,
            limit,
            count: None,
        })
        .unwrap();
    }
    l
}

fn small_limits() -> RateLimits {
    limits(&[
        (RateLimitKind::RequestWeight, RateInterval::Minute, 1, 600),
        (RateLimitKind::Orders, RateInterval::Second, 10, 50),
        (RateLimitKind::Orders, RateInterval::Day, 1, 2_000),
        (RateLimitKind::RawRequests, RateInterval::Minute, 5, 1_500),
    ])
}

/// xorshift64*: a deterministic stream for the simulation.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The venue's view, independent of the limiter: each admitted request
/// counted by arrival time in windows aligned at `offset + k·W`.
fn venue_max_per_window(
    arrivals: &[(u64, RequestKind)],
    kind: RateLimitKind,
    window_ns: u64,
    offset: u64,
) -> u64 {
    let mut counts: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    for &(t, req) in arrivals {
        let n = match kind {
            RateLimitKind::RequestWeight => match req {
                RequestKind::NewOrder | RequestKind::Cancel => 1,
                RequestKind::Query(w) => u64::from(w),
            },
            RateLimitKind::RawRequests => 1,
            RateLimitKind::Orders => u64::from(req == RequestKind::NewOrder),
        };
        *counts
            .entry((t + window_ns - offset % window_ns) / window_ns)
            .or_default() += n;
    }
    counts.values().copied().max().unwrap_or(0)
}

#[test]
fn burst_of_10000_intents_never_exceeds_80_percent_of_any_venue_window() {
    for seed in [1u64, 0xdead_beef, 42] {
        let config = RateLimitConfig::default();
        let mut rl = RateLimiter::new(&small_limits(), config).unwrap();
        let clock = ManualClock::new(Nanos(5_000 * MS));
        let mut rng = Rng(seed);
        let mut arrivals = Vec::new();
        let mut cancels_passed_while_new_throttled = 0;
        let mut new_throttled = false;
        for _ in 0..10_000 {
            // Bursty arrivals: mostly back to back, sometimes a pause.
            clock.advance(match rng.below(10) {
                0 => rng.below(2_000) * MS,
                1..=3 => rng.below(20) * MS,
                _ => rng.below(1_000) * 1_000,
            });
            let kind = match rng.below(20) {
                0..=11 => RequestKind::NewOrder,
                12..=16 => RequestKind::Cancel,
                17 | 18 => RequestKind::Query(4),
                _ => RequestKind::Query(20),
            };
            let now = clock.now();
            match rl.try_acquire(kind, now) {
                Ok(()) => {
                    if kind == RequestKind::Cancel && new_throttled {
                        cancels_passed_while_new_throttled += 1;
                    }
                    // One-way delay with jitter up to the guard.
                    let delay = 200_000 + rng.below(config.guard_ms * MS);
                    arrivals.push((now.0 + delay, kind));
                }
                Err(t) => {
                    assert!(t.until > now);
                    if kind == RequestKind::NewOrder {
                        new_throttled = true;
                    }
                }
            }
        }
        assert!(arrivals.len() > 1_000, "admitted {}", arrivals.len());
        assert!(rl.counters().throttled_new > 0);
        assert!(cancels_passed_while_new_throttled > 0);
        for l in small_limits().iter() {
            let cap = l.limit * 8 / 10;
            let w = l.window_ms() * MS;
            for offset in [0, 1, w / 3, w / 2 + 7, w - 1, rng.below(w)] {
                let max = venue_max_per_window(&arrivals, l.kind, w, offset);
                assert!(
                    max <= cap,
                    "seed {seed} {:?}/{} ms offset {offset}: {max} > {cap}",
                    l.kind,
                    l.window_ms()
                );
            }
        }
    }
}

#[test]
fn the_limits_are_actually_reached() {
    // Without throttling in the way, the limiter admits up to the cap: a
    // test of the bound that passes by admitting nothing would be useless.
    let mut rl = RateLimiter::new(
        &limits(&[(RateLimitKind::Orders, RateInterval::Second, 10, 100)]),
        RateLimitConfig::default(),
    )
    .unwrap();
    let now = Nanos(1_000 * MS);
    let admitted = (0..200)
        .filter(|_| rl.try_acquire(RequestKind::NewOrder, now).is_ok())
        .count();
    assert_eq!(admitted, 80);
    // Still refused 10 s later (the guard), admitted again after W + G + a sub-bucket.
    let t = rl
        .try_acquire(RequestKind::NewOrder, Nanos(now.0 + 10_500 * MS))
        .unwrap_err();
    assert_eq!(t.reason, ThrottleReason::Limit(RateLimitKind::Orders));
    assert!(t.until.0 <= now.0 + 11_000 * MS + 10_000 * MS / 60 + 1);
    assert!(rl.try_acquire(RequestKind::NewOrder, t.until).is_ok());
}

#[test]
fn cancels_pass_when_new_orders_are_throttled() {
    let mut rl = RateLimiter::new(
        &limits(&[
            (RateLimitKind::RequestWeight, RateInterval::Minute, 1, 100),
            (RateLimitKind::Orders, RateInterval::Second, 10, 10),
        ]),
        RateLimitConfig::default(),
    )
    .unwrap();
    let now = Nanos(0);
    // ORDERS: 8 new orders, then throttled; cancels still go.
    for _ in 0..8 {
        rl.try_acquire(RequestKind::NewOrder, now).unwrap();
    }
    assert_eq!(
        rl.try_acquire(RequestKind::NewOrder, now)
            .unwrap_err()
            .reason,
        ThrottleReason::Limit(RateLimitKind::Orders)
    );
    rl.try_acquire(RequestKind::Cancel, now).unwrap();
    // Weight: cap 80, new/queries may use 72 (10 % reserved for cancels).
    // Used 9 so far; queries take it to 72.
    for _ in 0..63 {
        rl.try_acquire(RequestKind::Query(1), now).unwrap();
    }
    assert_eq!(
        rl.try_acquire(RequestKind::Query(1), now)
            .unwrap_err()
            .reason,
        ThrottleReason::Limit(RateLimitKind::RequestWeight)
    );
    for _ in 0..8 {
        rl.try_acquire(RequestKind::Cancel, now).unwrap();
    }
    assert_eq!(
        rl.try_acquire(RequestKind::Cancel, now).unwrap_err().reason,
        ThrottleReason::Limit(RateLimitKind::RequestWeight)
    );
    let c = rl.counters();
    assert_eq!(
        (
            c.admitted,
            c.throttled_new,
            c.throttled_query,
            c.throttled_cancel
        ),
        (80, 1, 1, 1)
    );
}

#[test]
fn a_429_blocks_until_retry_after_then_a_418_longer() {
    let mut rl = RateLimiter::binance_defaults(RateLimitConfig::default()).unwrap();
    let now = Nanos(1_000 * MS);
    // The venue's retryAfter 1659146400000 with its clock at 1659146395000.
    let until = retry_after_local(1_659_146_400_000, 1_659_146_395_000, now);
    assert_eq!(until, Nanos(now.0 + 5_000 * MS));
    rl.on_429(Some(until), now);
    assert_eq!(rl.blocked_until(now), Some(until));
    for kind in [
        RequestKind::NewOrder,
        RequestKind::Cancel,
        RequestKind::Query(1),
    ] {
        let t = rl.try_acquire(kind, Nanos(until.0 - 1)).unwrap_err();
        assert_eq!(
            (t.until, t.reason),
            (until, ThrottleReason::TooManyRequests)
        );
    }
    assert_eq!(rl.blocked_until(until), None);
    rl.try_acquire(RequestKind::NewOrder, until).unwrap();
    // A 418 without retryAfter: the default ban block.
    rl.on_418(None, until);
    let t = rl.try_acquire(RequestKind::Cancel, until).unwrap_err();
    assert_eq!(t.reason, ThrottleReason::Banned);
    assert_eq!(t.until, until.saturating_add(120_000 * MS));
    // An earlier 429 deadline does not shorten the ban.
    rl.on_429(Some(until.saturating_add(MS)), until);
    assert_eq!(
        rl.blocked_until(until),
        Some(until.saturating_add(120_000 * MS))
    );
    let c = rl.counters();
    assert_eq!((c.venue_429, c.venue_418), (2, 1));
}

#[test]
fn venue_usage_raises_counts_never_lowers() {
    let mut rl = RateLimiter::new(
        &limits(&[(RateLimitKind::Orders, RateInterval::Second, 10, 50)]),
        RateLimitConfig::default(),
    )
    .unwrap();
    let now = Nanos(0);
    for _ in 0..10 {
        rl.try_acquire(RequestKind::NewOrder, now).unwrap();
    }
    let usage = |count| {
        let mut u = RateLimits::new();
        u.push(RateLimit {
            kind: RateLimitKind::Orders,
            interval: RateInterval::Second,
            interval_num: 10,
            limit: 50,
            count: Some(count),
        })
        .unwrap();
        u
    };
    rl.on_venue_usage(&usage(3), now);
    assert_eq!(rl.counters().venue_corrections, 0);
    rl.on_venue_usage(&usage(35), now);
    assert_eq!(rl.counters().venue_corrections, 1);
    // 35 used of a cap of 40: five more.
    let ok = (0..10)
        .filter(|_| rl.try_acquire(RequestKind::NewOrder, now).is_ok())
        .count();
    assert_eq!(ok, 5);
}

#[test]
fn config_validation_names_the_key() {
    let bad = RateLimitConfig {
        share_bps: 0,
        ..RateLimitConfig::default()
    };
    let e = RateLimiter::binance_defaults(bad).unwrap_err();
    assert!(e.to_string().contains("rate_limit.share_bps"), "{e}");
    let bad = RateLimitConfig {
        cancel_reserve_bps: 10_000,
        ..RateLimitConfig::default()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("cancel_reserve_bps")
    );
    let parsed: RateLimitConfig = serde_json::from_str(r#"{"share_bps":7000}"#).unwrap();
    assert_eq!(parsed.share_bps, 7000);
    assert_eq!(parsed.guard_ms, RateLimitConfig::default().guard_ms);
    assert!(serde_json::from_str::<RateLimitConfig>(r#"{"shares":1}"#).is_err());
    let zero = limits(&[(RateLimitKind::Orders, RateInterval::Second, 0, 50)]);
    assert_eq!(
        RateLimiter::new(&zero, RateLimitConfig::default()).unwrap_err(),
        RateLimitError::Window(0)
    );
}
