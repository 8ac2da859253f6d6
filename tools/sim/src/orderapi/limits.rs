//! The venue's rate limits: REQUEST_WEIGHT per minute for the whole
//! simulator (the venue counts per IP; every client here is one IP),
//! ORDERS per 10 s and per day per account (the unfilled order count: every
//! accepted order adds one, an order's first fill takes one back), windows
//! aligned to clock boundaries, 429s and the 418 ban for clients that keep
//! sending while limited, with counters of what was served.
//!
//! This module owns counting and the limited/banned decision. It never
//! renders a response beyond the venue's error text and never reads a
//! clock (time comes in as ms).

use std::collections::HashMap;
use std::sync::Mutex;

use super::ApiErr;
use crate::config::RateLimitConfig;
use crate::exchange::AccountId;

/// Rate-limit responses served (for tests: "no 429 was drawn").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitStats {
    /// 429 responses (weight or orders).
    pub http_429: u64,
    /// 418 responses (banned).
    pub http_418: u64,
    /// -1015 (too many orders) responses.
    pub too_many_orders: u64,
    /// Bans imposed.
    pub bans: u64,
}

/// Current usage, for `rateLimits` and the `X-MBX-…` headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) weight: u64,
    pub(crate) orders_10s: u64,
    pub(crate) orders_day: u64,
}

#[derive(Debug, Default)]
struct OrderCount {
    win10: u64,
    n10: u64,
    day: u64,
    nday: u64,
}

impl OrderCount {
    fn roll(&mut self, now_ms: u64) {
        let w = now_ms / 10_000;
        if w != self.win10 {
            self.win10 = w;
            self.n10 = 0;
        }
        let d = now_ms / 86_400_000;
        if d != self.day {
            self.day = d;
            self.nday = 0;
        }
    }
}

#[derive(Debug, Default)]
struct State {
    minute: u64,
    weight: u64,
    banned_until_ms: u64,
    /// 429s served since a request last got through.
    strikes: u32,
    orders: HashMap<AccountId, OrderCount>,
    stats: RateLimitStats,
}

/// The limiter shared by every connection.
#[derive(Debug)]
pub(crate) struct Limiter {
    pub(crate) cfg: RateLimitConfig,
    st: Mutex<State>,
}

const BAN_MSG_TAIL: &str = "Please use WebSocket Streams for live updates to avoid bans.";

impl Limiter {
    pub(crate) fn new(cfg: RateLimitConfig) -> Limiter {
        Limiter {
            cfg,
            st: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain counters: usable after a panic elsewhere.
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn strike(&self, st: &mut State, now_ms: u64) {
        st.stats.http_429 += 1;
        st.strikes += 1;
        if st.strikes >= self.cfg.ban_after_429s.max(1) {
            st.strikes = 0;
            st.stats.bans += 1;
            let d = u64::try_from(self.cfg.ban_duration.as_millis()).unwrap_or(u64::MAX);
            st.banned_until_ms = now_ms.saturating_add(d.max(1));
        }
    }

    fn banned(st: &mut State, now_ms: u64) -> Option<ApiErr> {
        if now_ms < st.banned_until_ms {
            st.stats.http_418 += 1;
            let until = st.banned_until_ms;
            return Some(
                ApiErr::new(
                    418,
                    -1003,
                    format!(
                        "Way too much request weight used; IP banned until {until}. {BAN_MSG_TAIL}"
                    ),
                )
                .retry_at(until),
            );
        }
        None
    }

    /// Charges `w` weight for a request at `now_ms`: a 418 while banned,
    /// a 429 (-1003) when the minute's weight goes over the limit (the
    /// weight still counts, as on the venue); otherwise the minute's total.
    pub(crate) fn charge(&self, w: u64, now_ms: u64) -> Result<u64, ApiErr> {
        let mut st = self.lock();
        if let Some(e) = Self::banned(&mut st, now_ms) {
            return Err(e);
        }
        let minute = now_ms / 60_000;
        if st.minute != minute {
            st.minute = minute;
            st.weight = 0;
        }
        st.weight = st.weight.saturating_add(w);
        if st.weight > self.cfg.weight_per_minute {
            self.strike(&mut st, now_ms);
            let limit = self.cfg.weight_per_minute;
            return Err(ApiErr::new(
                429,
                -1003,
                format!(
                    "Too much request weight used; current limit is {limit} request weight per 1 MINUTE. {BAN_MSG_TAIL}"
                ),
            )
            .retry_at((minute + 1) * 60_000));
        }
        st.strikes = 0;
        Ok(st.weight)
    }

    /// Counts one new order of `account`: a 429 (-1015) if either ORDERS
    /// window is full (nothing counted then).
    pub(crate) fn charge_order(&self, account: AccountId, now_ms: u64) -> Result<(), ApiErr> {
        let mut st = self.lock();
        let c = st.orders.entry(account).or_default();
        c.roll(now_ms);
        let over = if c.n10 >= self.cfg.orders_per_10s {
            Some((
                self.cfg.orders_per_10s,
                "10 SECOND",
                (now_ms / 10_000 + 1) * 10_000,
            ))
        } else if c.nday >= self.cfg.orders_per_day {
            Some((
                self.cfg.orders_per_day,
                "1 DAY",
                (now_ms / 86_400_000 + 1) * 86_400_000,
            ))
        } else {
            c.n10 += 1;
            c.nday += 1;
            None
        };
        match over {
            None => Ok(()),
            Some((limit, per, until)) => {
                st.stats.too_many_orders += 1;
                self.strike(&mut st, now_ms);
                Err(ApiErr::new(
                    429,
                    -1015,
                    format!("Too many new orders; current limit is {limit} orders per {per}."),
                )
                .retry_at(until))
            }
        }
    }

    /// An order of `account` traded for the first time: it no longer counts
    /// as unfilled.
    pub(crate) fn order_filled(&self, account: AccountId, now_ms: u64) {
        let mut st = self.lock();
        let c = st.orders.entry(account).or_default();
        c.roll(now_ms);
        c.n10 = c.n10.saturating_sub(1);
        c.nday = c.nday.saturating_sub(1);
    }

    /// Usage now (weight in the current minute, the account's order counts).
    pub(crate) fn usage(&self, account: Option<AccountId>, now_ms: u64) -> Usage {
        let mut st = self.lock();
        let weight = if st.minute == now_ms / 60_000 {
            st.weight
        } else {
            0
        };
        let (orders_10s, orders_day) = match account {
            Some(a) => {
                let c = st.orders.entry(a).or_default();
                c.roll(now_ms);
                (c.n10, c.nday)
            }
            None => (0, 0),
        };
        Usage {
            weight,
            orders_10s,
            orders_day,
        }
    }

    pub(crate) fn stats(&self) -> RateLimitStats {
        self.lock().stats
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    fn lim() -> Limiter {
        Limiter::new(RateLimitConfig {
            weight_per_minute: 10,
            orders_per_10s: 3,
            orders_per_day: 5,
            ban_after_429s: 3,
            ban_duration: Duration::from_secs(2),
        })
    }

    #[test]
    fn weight_window_is_aligned_and_429_then_418() {
        let l = lim();
        let t = 60_000 * 1000 + 59_000;
        assert_eq!(l.charge(6, t).unwrap(), 6);
        assert_eq!(l.charge(4, t).unwrap(), 10);
        let e = l.charge(1, t).unwrap_err();
        assert_eq!((e.status, e.code), (429, -1003));
        assert_eq!(e.retry_after_ms, Some(60_000 * 1001));
        assert!(
            e.msg
                .contains("current limit is 10 request weight per 1 MINUTE")
        );
        // The next minute resets (aligned to :00).
        assert_eq!(l.charge(1, 60_000 * 1001).unwrap(), 1);
        let t = 60_000 * 1001 + 5;
        l.charge(9, t).unwrap();
        assert_eq!(l.charge(1, t).unwrap_err().status, 429);
        assert_eq!(l.charge(1, t).unwrap_err().status, 429);
        // Third 429 in a row bans.
        assert_eq!(l.charge(1, t).unwrap_err().status, 429);
        let e = l.charge(1, t + 1).unwrap_err();
        assert_eq!((e.status, e.code), (418, -1003));
        assert_eq!(e.retry_after_ms, Some(t + 2000));
        assert!(e.msg.contains(&format!("IP banned until {}", t + 2000)));
        // Banned until the end of the ban, then limited by weight again
        // until the minute ends.
        assert_eq!(l.charge(1, t + 1999).unwrap_err().status, 418);
        assert_eq!(l.charge(1, 60_000 * 1002).unwrap(), 1);
        let s = l.stats();
        assert_eq!((s.http_429, s.http_418, s.bans), (4, 2, 1));
    }

    #[test]
    fn orders_count_per_account_and_fills_give_back() {
        let l = lim();
        let a = AccountId(0);
        let t = 1_000_000_000;
        for _ in 0..3 {
            l.charge_order(a, t).unwrap();
        }
        let e = l.charge_order(a, t + 1).unwrap_err();
        assert_eq!((e.status, e.code), (429, -1015));
        assert_eq!(
            e.msg,
            "Too many new orders; current limit is 3 orders per 10 SECOND."
        );
        // Another account is independent.
        l.charge_order(AccountId(1), t).unwrap();
        l.order_filled(a, t + 2);
        l.charge_order(a, t + 3).unwrap();
        let u = l.usage(Some(a), t + 3);
        assert_eq!((u.orders_10s, u.orders_day), (3, 3));
        // Next 10 s window; the day fills up at 5.
        l.charge_order(a, t + 10_000).unwrap();
        l.charge_order(a, t + 10_000).unwrap();
        let e = l.charge_order(a, t + 10_000).unwrap_err();
        assert!(e.msg.ends_with("per 1 DAY."));
        assert_eq!(l.stats().too_many_orders, 2);
    }
}
