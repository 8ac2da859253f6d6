//! # Local rate limiter: stay under the venue's limits, cancels first
//!
//! Owns [`RateLimiter`]: one counter per venue limit taken from
//! `exchangeInfo.rateLimits` (`REQUEST_WEIGHT` per minute, `ORDERS` per 10 s
//! and per day, `RAW_REQUESTS` when present), each capped at
//! `share_bps` of the venue's limit (default 80 %). [`RateLimiter::try_acquire`]
//! says yes (and counts the request) or [`Throttled`] with a time to retry.
//! It never allocates after construction, never blocks, never reads a clock
//! (the caller passes a monotonic `now`) and never panics.
//!
//! ## Windows: rolling, with a guard — why it can never exceed the venue's count
//!
//! The venue counts requests by *arrival* time in windows aligned to its
//! clock (10 s windows reset at :00, :10, …; the day at 00:00 UTC). Aligning
//! our windows to the venue's would still not be safe: a request sent at
//! :09.999 in our window may arrive at :10.001 in the venue's next one. So the
//! limiter is **rolling** and boundary-agnostic:
//!
//! > A request is admitted at time `s` only if the requests admitted in
//! > `[s − (W + G), s]`, plus this one, are at most `cap`.
//!
//! Claim: then every interval of send times of length `W + G` holds at most
//! `cap` requests. Take any such interval and its last admitted request `s`:
//! every other request in the interval lies in `[s − (W + G), s]`, which the
//! check at `s` counted. Now let the one-way delay (plus any clock skew
//! between our monotonic clock and the venue's) vary by at most `G` (it lies
//! in `[d, d + G]`). Requests arriving in one venue window `[kW, (k+1)W)`
//! were sent in `(kW − d − G, (k+1)W − d)`, an interval of length `W + G`:
//! at most `cap < limit` of them — whatever the venue's boundaries, so no
//! server-time offset is needed. `G` is [`RateLimitConfig::guard_ms`]
//! (default 1 s, far above loopback or colocated jitter; a connection whose
//! delay swings more than that needs a larger guard).
//!
//! Counts are kept in 60 sub-buckets per window (plus the guard's; at most
//! 256 in all, coarser when the guard is long against the window), so the
//! check over-counts by at most the oldest partial sub-bucket — never
//! under-counts, which is what the proof needs. Cost: one pass over ≤ 70
//! small counters per limit.
//!
//! ## Cancels ahead of new orders
//!
//! Binance's `ORDERS` limits count new orders only; cancels cost request
//! weight. New orders and queries may use only `cap × (1 − cancel_reserve)`
//! of every weight/raw-request limit; cancels may use all of `cap`. So when
//! new orders are throttled (by `ORDERS` or by their share of weight), a
//! cancel still passes.
//!
//! ## Venue feedback
//!
//! * [`RateLimiter::on_venue_usage`] raises a counter to the venue's reported
//!   count when the venue saw more (another process on the same IP or
//!   account); it never lowers one (that could break the bound above).
//! * [`RateLimiter::on_429`] / [`RateLimiter::on_418`] block *every* request
//!   until the venue's `retryAfter` (or a default when none was given), and
//!   are counted: a blocked limiter is never retried into a ban.

use talon_core::clock::Nanos;

use crate::response::{RateInterval, RateLimit, RateLimitKind, RateLimits};

const NS_PER_MS: u64 = 1_000_000;
/// Sub-buckets per window.
const SUBS_PER_WINDOW: u64 = 60;
/// Most sub-buckets per limit.
const MAX_RING: u64 = 256;
/// Basis points in 100 %.
const BPS: u64 = 10_000;

/// Limiter settings (`[gateway.rate_limit]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Share of each venue limit used, in basis points (8000 = 80 %).
    pub share_bps: u16,
    /// Share of each weight limit's cap kept for cancels, in basis points.
    pub cancel_reserve_bps: u16,
    /// Guard added to every window (ms): the jitter of delay + clock skew it
    /// absorbs (see the module docs).
    pub guard_ms: u64,
    /// Block after a 429 that gave no `retryAfter` (ms).
    pub default_429_block_ms: u64,
    /// Block after a 418 that gave no `retryAfter` (ms).
    pub default_418_block_ms: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            share_bps: 8_000,
            cancel_reserve_bps: 1_000,
            guard_ms: 1_000,
            default_429_block_ms: 60_000,
            default_418_block_ms: 120_000,
        }
    }
}

/// An invalid [`RateLimitConfig`] or limit set; names the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    /// `share_bps` not in 1..=10000.
    #[error("rate_limit.share_bps must be 1..=10000, got {0}")]
    Share(u16),
    /// `cancel_reserve_bps` not in 0..10000.
    #[error("rate_limit.cancel_reserve_bps must be 0..10000, got {0}")]
    CancelReserve(u16),
    /// `guard_ms` above one hour.
    #[error("rate_limit.guard_ms must be at most 3600000, got {0}")]
    Guard(u64),
    /// A limit with a zero window or a window longer than 7 days.
    #[error("rateLimits: window of {0} ms is out of range")]
    Window(u64),
    /// More limits than the limiter holds.
    #[error("rateLimits: more than {0} limits")]
    TooMany(usize),
}

impl RateLimitConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), RateLimitError> {
        if self.share_bps == 0 || u64::from(self.share_bps) > BPS {
            return Err(RateLimitError::Share(self.share_bps));
        }
        if u64::from(self.cancel_reserve_bps) >= BPS {
            return Err(RateLimitError::CancelReserve(self.cancel_reserve_bps));
        }
        if self.guard_ms > 3_600_000 {
            return Err(RateLimitError::Guard(self.guard_ms));
        }
        Ok(())
    }
}

/// What a request is, for the limiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// `order.place`: weight 1, one order.
    NewOrder,
    /// `order.cancel` / `openOrders.cancelAll`: weight 1, priority.
    Cancel,
    /// Anything else, with its weight (`order.status` 4, `time` 1, …).
    Query(u32),
}

impl RequestKind {
    fn weight(self) -> u64 {
        match self {
            RequestKind::NewOrder | RequestKind::Cancel => 1,
            RequestKind::Query(w) => u64::from(w),
        }
    }

    fn amount(self, kind: RateLimitKind) -> u64 {
        match kind {
            RateLimitKind::RequestWeight => self.weight(),
            RateLimitKind::RawRequests => 1,
            RateLimitKind::Orders => u64::from(self == RequestKind::NewOrder),
        }
    }
}

/// Why a request may not be sent now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThrottleReason {
    /// Blocked after a 429 until the venue's retry-after.
    TooManyRequests,
    /// Blocked after a 418 (IP ban).
    Banned,
    /// This local limit is used up.
    Limit(RateLimitKind),
}

/// A refusal: do not send before `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("throttled ({reason:?}) until {until:?}")]
pub struct Throttled {
    /// Earliest time a retry can succeed (for a limit: when enough old
    /// requests leave the window, assuming nothing else is admitted).
    pub until: Nanos,
    /// Why.
    pub reason: ThrottleReason,
}

/// Counters for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitCounters {
    /// Requests admitted.
    pub admitted: u64,
    /// New orders refused.
    pub throttled_new: u64,
    /// Cancels refused.
    pub throttled_cancel: u64,
    /// Queries refused.
    pub throttled_query: u64,
    /// 429 responses seen.
    pub venue_429: u64,
    /// 418 responses seen.
    pub venue_418: u64,
    /// Times the venue's usage raised a local count.
    pub venue_corrections: u64,
}

#[derive(Debug)]
struct Bucket {
    kind: RateLimitKind,
    window_ms: u64,
    span_ns: u64,
    sub_ns: u64,
    /// Cap for cancels (`limit × share`).
    cap: u64,
    /// Cap for everything else.
    cap_normal: u64,
    /// Ring of (sub-bucket index + 1, count); index 0 = empty.
    ring: Box<[(u64, u64)]>,
}

impl Bucket {
    fn new(limit: &RateLimit, cfg: &RateLimitConfig) -> Result<Bucket, RateLimitError> {
        let window_ms = limit.window_ms();
        if window_ms == 0 || window_ms > 7 * RateInterval::Day.unit_ms() {
            return Err(RateLimitError::Window(window_ms));
        }
        let window_ns = window_ms * NS_PER_MS;
        let span_ns = window_ns + cfg.guard_ms * NS_PER_MS;
        // At most MAX_RING sub-buckets even for a guard much longer than
        // the window (coarser sub-buckets only over-count: still safe).
        let sub_ns = (window_ns / SUBS_PER_WINDOW).max(span_ns / MAX_RING).max(1);
        let ring_len = span_ns.div_ceil(sub_ns) + 2;
        let cap = limit.limit.saturating_mul(u64::from(cfg.share_bps)) / BPS;
        let cap_normal = match limit.kind {
            RateLimitKind::Orders => cap,
            _ => cap.saturating_mul(BPS - u64::from(cfg.cancel_reserve_bps)) / BPS,
        };
        Ok(Bucket {
            kind: limit.kind,
            window_ms,
            span_ns,
            sub_ns,
            cap,
            cap_normal,
            ring: vec![(0, 0); usize::try_from(ring_len).unwrap_or(usize::MAX)].into_boxed_slice(),
        })
    }

    /// Sub-bucket range counted at `now` (inclusive).
    fn range(&self, now: Nanos) -> (u64, u64) {
        (
            now.0.saturating_sub(self.span_ns) / self.sub_ns,
            now.0 / self.sub_ns,
        )
    }

    fn count_at(&self, k: u64) -> u64 {
        let len = self.ring.len() as u64;
        match self.ring.get((k % len) as usize) {
            Some(&(tag, c)) if tag == k + 1 => c,
            _ => 0,
        }
    }

    fn used(&self, now: Nanos) -> u64 {
        let (lo, hi) = self.range(now);
        self.ring
            .iter()
            .filter(|(tag, _)| *tag > lo && *tag <= hi + 1)
            .map(|(_, c)| *c)
            .fold(0u64, u64::saturating_add)
    }

    fn add(&mut self, now: Nanos, n: u64) {
        let k = now.0 / self.sub_ns;
        let len = self.ring.len() as u64;
        if let Some(slot) = self.ring.get_mut((k % len) as usize) {
            if slot.0 == k + 1 {
                slot.1 = slot.1.saturating_add(n);
            } else {
                *slot = (k + 1, n);
            }
        }
    }

    /// When `amount` more would fit under `allowed`, if nothing else is added.
    fn free_at(&self, now: Nanos, used: u64, amount: u64, allowed: u64) -> Nanos {
        let (lo, hi) = self.range(now);
        let mut left = used;
        for k in lo..=hi {
            left = left.saturating_sub(self.count_at(k));
            if left.saturating_add(amount) <= allowed {
                // Sub-bucket k is out of range once now − span ≥ (k+1)·sub.
                return Nanos(
                    (k + 1)
                        .saturating_mul(self.sub_ns)
                        .saturating_add(self.span_ns),
                );
            }
        }
        now.saturating_add(self.span_ns)
    }
}

/// Maximum number of venue limits tracked.
pub const MAX_LIMITS: usize = RateLimits::CAPACITY;

/// The local rate limiter (see the module docs).
#[derive(Debug)]
pub struct RateLimiter {
    buckets: Box<[Bucket]>,
    config: RateLimitConfig,
    blocked_until: Nanos,
    block_reason: ThrottleReason,
    counters: RateLimitCounters,
}

impl RateLimiter {
    /// From `exchangeInfo` limits (see
    /// [`crate::response::decode_exchange_rate_limits`]).
    pub fn new(
        limits: &RateLimits,
        config: RateLimitConfig,
    ) -> Result<RateLimiter, RateLimitError> {
        config.validate()?;
        if limits.len() > MAX_LIMITS {
            return Err(RateLimitError::TooMany(MAX_LIMITS));
        }
        let buckets = limits
            .iter()
            .map(|l| Bucket::new(&l, &config))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RateLimiter {
            buckets: buckets.into_boxed_slice(),
            config,
            blocked_until: Nanos::ZERO,
            block_reason: ThrottleReason::TooManyRequests,
            counters: RateLimitCounters::default(),
        })
    }

    /// The venue's published spot limits (REQUEST_WEIGHT 6000/min, ORDERS
    /// 100/10 s and 200000/day, RAW_REQUESTS 61000/5 min), for when
    /// `exchangeInfo` has not been read yet.
    pub fn binance_defaults(config: RateLimitConfig) -> Result<RateLimiter, RateLimitError> {
        let mut l = RateLimits::new();
        for (kind, interval, interval_num, limit) in [
            (RateLimitKind::RequestWeight, RateInterval::Minute, 1, 6_000),
            (RateLimitKind::Orders, RateInterval::Second, 10, 100),
            (RateLimitKind::Orders, RateInterval::Day, 1, 200_000),
            (RateLimitKind::RawRequests, RateInterval::Minute, 5, 61_000),
        ] {
            l.push(RateLimit {
                kind,
                interval,
                interval_num,
                limit,
                count: None,
            })
            .map_err(|_| RateLimitError::TooMany(MAX_LIMITS))?;
        }
        RateLimiter::new(&l, config)
    }

    /// The settings.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// Counters.
    pub fn counters(&self) -> RateLimitCounters {
        self.counters
    }

    /// Until when every request is refused after a 429/418 (`None` if not blocked at `now`).
    pub fn blocked_until(&self, now: Nanos) -> Option<Nanos> {
        (now < self.blocked_until).then_some(self.blocked_until)
    }

    /// Admits and counts `kind` at `now`, or says why not and until when.
    pub fn try_acquire(&mut self, kind: RequestKind, now: Nanos) -> Result<(), Throttled> {
        if now < self.blocked_until {
            self.count_refusal(kind);
            return Err(Throttled {
                until: self.blocked_until,
                reason: self.block_reason,
            });
        }
        let cancel = kind == RequestKind::Cancel;
        let refused = self.buckets.iter().find_map(|b| {
            let amount = kind.amount(b.kind);
            let allowed = if cancel { b.cap } else { b.cap_normal };
            let used = b.used(now);
            (amount != 0 && used.saturating_add(amount) > allowed).then(|| Throttled {
                until: b.free_at(now, used, amount, allowed),
                reason: ThrottleReason::Limit(b.kind),
            })
        });
        if let Some(t) = refused {
            self.count_refusal(kind);
            return Err(t);
        }
        for b in self.buckets.iter_mut() {
            let amount = kind.amount(b.kind);
            if amount != 0 {
                b.add(now, amount);
            }
        }
        self.counters.admitted += 1;
        Ok(())
    }

    fn count_refusal(&mut self, kind: RequestKind) {
        let c = match kind {
            RequestKind::NewOrder => &mut self.counters.throttled_new,
            RequestKind::Cancel => &mut self.counters.throttled_cancel,
            RequestKind::Query(_) => &mut self.counters.throttled_query,
        };
        *c += 1;
    }

    /// Raises local counts to the venue's reported usage (never lowers).
    pub fn on_venue_usage(&mut self, usage: &RateLimits, now: Nanos) {
        for u in usage.iter() {
            let Some(count) = u.count else { continue };
            let window_ms = u.window_ms();
            for b in self.buckets.iter_mut() {
                if b.kind == u.kind && b.window_ms == window_ms {
                    let ours = b.used(now);
                    if count > ours {
                        b.add(now, count - ours);
                        self.counters.venue_corrections += 1;
                    }
                }
            }
        }
    }

    /// A 429: refuse everything until `retry_after` (local time), or the
    /// configured default from `now`.
    pub fn on_429(&mut self, retry_after: Option<Nanos>, now: Nanos) {
        self.counters.venue_429 += 1;
        let until = retry_after
            .unwrap_or_else(|| now.saturating_add(self.config.default_429_block_ms * NS_PER_MS));
        self.block(until, ThrottleReason::TooManyRequests);
    }

    /// A 418 (IP ban): as [`RateLimiter::on_429`], with the ban's default.
    pub fn on_418(&mut self, retry_after: Option<Nanos>, now: Nanos) {
        self.counters.venue_418 += 1;
        let until = retry_after
            .unwrap_or_else(|| now.saturating_add(self.config.default_418_block_ms * NS_PER_MS));
        self.block(until, ThrottleReason::Banned);
    }

    fn block(&mut self, until: Nanos, reason: ThrottleReason) {
        if until > self.blocked_until {
            self.blocked_until = until;
            self.block_reason = reason;
        }
    }
}

/// The local monotonic time matching the venue's `retryAfter` (epoch ms),
/// given the venue's current time `server_now_ms` (local wall time plus
/// the server-time offset) and the local monotonic `now`.
pub fn retry_after_local(retry_after_ms: u64, server_now_ms: u64, now: Nanos) -> Nanos {
    now.saturating_add(
        retry_after_ms
            .saturating_sub(server_now_ms)
            .saturating_mul(NS_PER_MS),
    )
}

#[cfg(test)]
mod tests;
