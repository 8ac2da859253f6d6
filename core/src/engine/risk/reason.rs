//! Why risk refused an order, and the journaled verdict.
//!
//! Owns [`RejectReason`] (stable `u16` codes, never reused or renumbered: they
//! are written to the journal and exported) and [`Verdict`]. Plain `Copy`
//! values; this module never allocates and never formats on the hot path
//! (`as_str` returns a static name for the edge).

use crate::instrument::FilterViolation;

/// Why a risk check rejected an order. `#[repr(u16)]`; codes are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u16)]
pub enum RejectReason {
    /// Trading state is `Halted`.
    Halted = 1,
    /// Trading state is `Reducing` and the order could increase |position|.
    NotReducing = 2,
    /// The daily loss limit is breached (realised + unrealised − fees). The
    /// engine turns this into an automatic halt and cancels all orders.
    DailyLossLimit = 3,
    /// The instrument's book is stale or unhealthy.
    BookStale = 4,
    /// No mid price to check the order against.
    NoReferencePrice = 5,
    /// Exchange filter: price not positive.
    PriceNotPositive = 10,
    /// Exchange filter: price outside `[min_price, max_price]`.
    PriceOutOfRange = 11,
    /// Exchange filter: price not on the tick grid.
    PriceOffTick = 12,
    /// Exchange filter: quantity not positive.
    QtyNotPositive = 13,
    /// Exchange filter: quantity below `min_qty`.
    QtyBelowMin = 14,
    /// Exchange filter: quantity above `max_qty`.
    QtyAboveMax = 15,
    /// Exchange filter: quantity not on the step grid.
    QtyOffStep = 16,
    /// Exchange filter: notional below `min_notional`.
    NotionalBelowMin = 17,
    /// Exchange filter: notional above the venue's `max_notional`.
    NotionalAboveMax = 18,
    /// Limit price further from the mid than the price band (fat finger).
    PriceBand = 20,
    /// Order notional above the configured `max_order_notional`.
    MaxOrderNotional = 21,
    /// Position + same-side open orders + this order above `max_position`.
    MaxPosition = 22,
    /// Already `max_open_orders` open.
    MaxOpenOrders = 23,
    /// Order rate above the token bucket's rate and burst.
    RateLimited = 24,
    /// The order opens or increases a position without a stop.
    StopRequired = 25,
    /// The declared stop is on the wrong side of the order's price.
    StopInvalid = 26,
    /// Tilt multiplier is 0: no new risk.
    TiltBlocked = 27,
    /// Order notional above `max_order_notional` scaled by the tilt
    /// multiplier (but within the unscaled limit).
    TiltSize = 28,
    /// An amount in the check left the representable range: refused (fail
    /// closed).
    ArithmeticOverflow = 90,
}

impl RejectReason {
    /// Every reason, in code order.
    pub const ALL: [RejectReason; 24] = [
        RejectReason::Halted,
        RejectReason::NotReducing,
        RejectReason::DailyLossLimit,
        RejectReason::BookStale,
        RejectReason::NoReferencePrice,
        RejectReason::PriceNotPositive,
        RejectReason::PriceOutOfRange,
        RejectReason::PriceOffTick,
        RejectReason::QtyNotPositive,
        RejectReason::QtyBelowMin,
        RejectReason::QtyAboveMax,
        RejectReason::QtyOffStep,
        RejectReason::NotionalBelowMin,
        RejectReason::NotionalAboveMax,
        RejectReason::PriceBand,
        RejectReason::MaxOrderNotional,
        RejectReason::MaxPosition,
        RejectReason::MaxOpenOrders,
        RejectReason::RateLimited,
        RejectReason::StopRequired,
        RejectReason::StopInvalid,
        RejectReason::TiltBlocked,
        RejectReason::TiltSize,
        RejectReason::ArithmeticOverflow,
    ];

    /// The stable journal/export code (never 0).
    #[inline]
    pub const fn as_u16(self) -> u16 {
        self as u16
    }

    /// The reason for a code; `None` for 0 or an unknown code.
    pub const fn from_u16(code: u16) -> Option<RejectReason> {
        let mut i = 0;
        while i < RejectReason::ALL.len() {
            if RejectReason::ALL[i] as u16 == code {
                return Some(RejectReason::ALL[i]);
            }
            i += 1;
        }
        None
    }

    /// A stable lower-case name for logs, status lines and exports.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::Halted => "halted",
            RejectReason::NotReducing => "not_reducing",
            RejectReason::DailyLossLimit => "daily_loss_limit",
            RejectReason::BookStale => "book_stale",
            RejectReason::NoReferencePrice => "no_reference_price",
            RejectReason::PriceNotPositive => "price_not_positive",
            RejectReason::PriceOutOfRange => "price_out_of_range",
            RejectReason::PriceOffTick => "price_off_tick",
            RejectReason::QtyNotPositive => "qty_not_positive",
            RejectReason::QtyBelowMin => "qty_below_min",
            RejectReason::QtyAboveMax => "qty_above_max",
            RejectReason::QtyOffStep => "qty_off_step",
            RejectReason::NotionalBelowMin => "notional_below_min",
            RejectReason::NotionalAboveMax => "notional_above_max",
            RejectReason::PriceBand => "price_band",
            RejectReason::MaxOrderNotional => "max_order_notional",
            RejectReason::MaxPosition => "max_position",
            RejectReason::MaxOpenOrders => "max_open_orders",
            RejectReason::RateLimited => "rate_limited",
            RejectReason::StopRequired => "stop_required",
            RejectReason::StopInvalid => "stop_invalid",
            RejectReason::TiltBlocked => "tilt_blocked",
            RejectReason::TiltSize => "tilt_size",
            RejectReason::ArithmeticOverflow => "arithmetic_overflow",
        }
    }

    /// True for the reason the engine must turn into an automatic halt and
    /// a cancel-all ([`RejectReason::DailyLossLimit`]).
    #[inline]
    pub const fn is_halt_trigger(self) -> bool {
        matches!(self, RejectReason::DailyLossLimit)
    }
}

impl From<FilterViolation> for RejectReason {
    fn from(v: FilterViolation) -> RejectReason {
        match v {
            FilterViolation::PriceNotPositive => RejectReason::PriceNotPositive,
            FilterViolation::PriceBelowMin | FilterViolation::PriceAboveMax => {
                RejectReason::PriceOutOfRange
            }
            FilterViolation::PriceOffTick => RejectReason::PriceOffTick,
            FilterViolation::QtyNotPositive => RejectReason::QtyNotPositive,
            FilterViolation::QtyBelowMin => RejectReason::QtyBelowMin,
            FilterViolation::QtyAboveMax => RejectReason::QtyAboveMax,
            FilterViolation::QtyOffStep => RejectReason::QtyOffStep,
            FilterViolation::NotionalBelowMin => RejectReason::NotionalBelowMin,
            FilterViolation::NotionalAboveMax => RejectReason::NotionalAboveMax,
            FilterViolation::NotionalOverflow => RejectReason::ArithmeticOverflow,
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of [`super::RiskCheck::check`]: small and `Copy`, for the
/// journal. Its journal code is [`Verdict::code`]: 0 approved, else the
/// reason's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every check passed.
    Approved,
    /// The first check that failed.
    Rejected(RejectReason),
}

const _: () = assert!(size_of::<Verdict>() <= 4);

impl Verdict {
    /// 0 for `Approved`, else the reason's code.
    #[inline]
    pub const fn code(self) -> u16 {
        match self {
            Verdict::Approved => 0,
            Verdict::Rejected(r) => r.as_u16(),
        }
    }

    /// The verdict for a journal code; `None` for an unknown code.
    pub const fn from_code(code: u16) -> Option<Verdict> {
        if code == 0 {
            return Some(Verdict::Approved);
        }
        match RejectReason::from_u16(code) {
            Some(r) => Some(Verdict::Rejected(r)),
            None => None,
        }
    }

    /// True if approved.
    #[inline]
    pub const fn is_approved(self) -> bool {
        matches!(self, Verdict::Approved)
    }

    /// The rejection reason, if any.
    #[inline]
    pub const fn reason(self) -> Option<RejectReason> {
        match self {
            Verdict::Approved => None,
            Verdict::Rejected(r) => Some(r),
        }
    }

    /// `"approved"` or the reason's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Approved => "approved",
            Verdict::Rejected(r) => r.as_str(),
        }
    }
}

impl From<Result<(), RejectReason>> for Verdict {
    fn from(r: Result<(), RejectReason>) -> Verdict {
        match r {
            Ok(()) => Verdict::Approved,
            Err(e) => Verdict::Rejected(e),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_round_trip() {
        let mut prev = 0u16;
        for r in RejectReason::ALL {
            assert!(r.as_u16() > prev, "{r:?} out of order");
            prev = r.as_u16();
            assert_eq!(RejectReason::from_u16(r.as_u16()), Some(r));
            assert_eq!(
                Verdict::from_code(Verdict::Rejected(r).code()),
                Some(Verdict::Rejected(r))
            );
        }
        assert_eq!(RejectReason::from_u16(0), None);
        assert_eq!(RejectReason::from_u16(999), None);
        assert_eq!(Verdict::from_code(0), Some(Verdict::Approved));
        assert_eq!(Verdict::from_code(6), None);
    }

    #[test]
    fn names_are_unique_snake_case_and_match_serde() {
        let mut names: Vec<&str> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        for (r, name) in RejectReason::ALL.iter().zip(&names) {
            assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert_eq!(serde_json::to_value(r).unwrap(), *name);
            assert_eq!(r.to_string(), *name);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RejectReason::ALL.len());
        assert_eq!(Verdict::Approved.as_str(), "approved");
    }

    #[test]
    fn stable_codes_pinned() {
        assert_eq!(RejectReason::Halted.as_u16(), 1);
        assert_eq!(RejectReason::DailyLossLimit.as_u16(), 3);
        assert_eq!(RejectReason::PriceBand.as_u16(), 20);
        assert_eq!(RejectReason::RateLimited.as_u16(), 24);
        assert_eq!(RejectReason::ArithmeticOverflow.as_u16(), 90);
    }

    #[test]
    fn only_daily_loss_halts() {
        let halting: Vec<_> = RejectReason::ALL
            .iter()
            .filter(|r| r.is_halt_trigger())
            .collect();
        assert_eq!(halting, [&RejectReason::DailyLossLimit]);
    }

    #[test]
    fn filter_violations_map() {
        assert_eq!(
            RejectReason::from(FilterViolation::PriceAboveMax),
            RejectReason::PriceOutOfRange
        );
        assert_eq!(
            RejectReason::from(FilterViolation::NotionalOverflow),
            RejectReason::ArithmeticOverflow
        );
        assert_eq!(
            RejectReason::from(FilterViolation::QtyOffStep),
            RejectReason::QtyOffStep
        );
    }

    #[test]
    fn verdict_helpers() {
        let v = Verdict::from(Err(RejectReason::MaxPosition));
        assert!(!v.is_approved());
        assert_eq!(v.reason(), Some(RejectReason::MaxPosition));
        assert_eq!(v.code(), 22);
        assert!(Verdict::from(Ok(())).is_approved());
        assert!(size_of::<Verdict>() <= 4);
    }
}
