//! The risk checks, one pure function each.
//!
//! Owns the individual checks [`super::RiskCheck`] runs in order. Each takes
//! plain values and returns `Ok(())` or the [`RejectReason`] it rejects
//! with. They never read a clock, never allocate, never mutate anything and
//! never panic: sums and products are done in `i128` (which cannot overflow
//! for `i64` inputs) or checked, and a result out of range rejects with
//! [`RejectReason::ArithmeticOverflow`] (fail closed).

use crate::event::{OrderType, Side};
use crate::instrument::Filters;
use crate::num::{Notional, Price, Qty};

use super::{RejectReason, TradingState};

/// Basis points in one whole (100 %).
pub const BPS_ONE: u16 = 10_000;

/// True if the order **cannot increase |position|**, whatever fills first.
///
/// Precisely: the order is on the side opposite the position, and the
/// order's quantity plus every open order on the same side (all of which
/// could fill before it) is at most |position|; so even with all of them
/// filled the position is reduced or flattened, never flipped. A flat
/// position has nothing to reduce. Open orders on the other side are not
/// counted: this order does not change what they can do.
///
/// `same_side_open` is the unfilled quantity of open orders on `side`.
pub fn reduces_position(side: Side, qty: Qty, position: Qty, same_side_open: Qty) -> bool {
    let (pos, open, q) = (
        i128::from(position.raw()),
        i128::from(same_side_open.raw()),
        i128::from(qty.raw()),
    );
    // |each| < 2^63, so sums of two fit i128 trivially.
    match side {
        Side::Buy => pos < 0 && open + q <= -pos,
        Side::Sell => pos > 0 && open + q <= pos,
    }
}

/// Trading state: `Halted` rejects everything, `Reducing` lets only
/// risk-reducing orders ([`reduces_position`]) through, `Active` passes.
pub fn check_trading_state(state: TradingState, reduces: bool) -> Result<(), RejectReason> {
    match state {
        TradingState::Active => Ok(()),
        TradingState::Reducing if reduces => Ok(()),
        TradingState::Reducing => Err(RejectReason::NotReducing),
        TradingState::Halted => Err(RejectReason::Halted),
    }
}

/// Daily loss: rejects when `daily_pnl ≤ −limit` (a loss of exactly the
/// limit is a breach). The engine halts on this reason.
pub fn check_daily_loss(daily_pnl: Notional, limit: Notional) -> Result<(), RejectReason> {
    // Both within ±(2^96 − 1): the sum fits i128.
    if daily_pnl.raw() + limit.raw() <= 0 {
        Err(RejectReason::DailyLossLimit)
    } else {
        Ok(())
    }
}

/// Book health: a stale or unhealthy book rejects every new order (the
/// price band and market-order notional depend on it).
pub fn check_book(healthy: bool) -> Result<(), RejectReason> {
    if healthy {
        Ok(())
    } else {
        Err(RejectReason::BookStale)
    }
}

/// The price an order is valued at: its limit price, or the mid for a
/// market order (which needs one).
pub fn reference_price(
    order_type: OrderType,
    price: Price,
    mid: Option<Price>,
) -> Result<Price, RejectReason> {
    match order_type {
        OrderType::Limit | OrderType::LimitMaker => Ok(price),
        OrderType::Market => match mid {
            Some(m) if m.is_positive() => Ok(m),
            _ => Err(RejectReason::NoReferencePrice),
        },
    }
}

/// Exchange filters. A limit order's price must be valid and on tick, its
/// quantity within `[min_qty, max_qty]` and on step, its notional within
/// `[min_notional, max_notional]`; a market order's quantity likewise and
/// its notional at `reference` (the mid).
pub fn check_filters(
    filters: &Filters,
    order_type: OrderType,
    reference: Price,
    qty: Qty,
) -> Result<(), RejectReason> {
    let r = match order_type {
        OrderType::Limit | OrderType::LimitMaker => filters.check_order(reference, qty),
        OrderType::Market => filters
            .check_qty(qty)
            .and_then(|()| filters.check_notional(reference, qty)),
    };
    r.map_err(RejectReason::from)
}

/// Price band (fat finger): `|price − mid| × 10 000 ≤ band_bps × mid`. A
/// price exactly at the band's edge passes. No (positive) mid rejects.
pub fn check_price_band(
    price: Price,
    mid: Option<Price>,
    band_bps: u32,
) -> Result<(), RejectReason> {
    let mid = match mid {
        Some(m) if m.is_positive() => i128::from(m.raw()),
        _ => return Err(RejectReason::NoReferencePrice),
    };
    // |diff| < 2^64, × 10^4 < 2^78; mid × 2^32 < 2^95: no overflow.
    let diff = (i128::from(price.raw()) - mid).abs();
    if diff * i128::from(BPS_ONE) <= i128::from(band_bps) * mid {
        Ok(())
    } else {
        Err(RejectReason::PriceBand)
    }
}

/// Tilt: a multiplier of 0 blocks every order that could increase risk.
pub fn check_tilt(tilt_bps: u16, increases: bool) -> Result<(), RejectReason> {
    if increases && tilt_bps == 0 {
        Err(RejectReason::TiltBlocked)
    } else {
        Ok(())
    }
}

/// The order's notional, `reference × qty` truncated; overflow rejects.
pub fn order_notional(reference: Price, qty: Qty) -> Result<Notional, RejectReason> {
    reference
        .checked_notional(qty)
        .ok_or(RejectReason::ArithmeticOverflow)
}

/// Max order notional: rejects `notional > max`
/// ([`RejectReason::MaxOrderNotional`]) and otherwise
/// `notional > max × min(tilt_bps, 10 000) / 10 000` (truncated;
/// [`RejectReason::TiltSize`]). The tilt never raises the limit. Pass
/// `BPS_ONE` for orders the tilt does not apply to (risk-reducing ones).
pub fn check_order_notional(
    notional: Notional,
    max: Notional,
    tilt_bps: u16,
) -> Result<(), RejectReason> {
    if notional > max {
        return Err(RejectReason::MaxOrderNotional);
    }
    let tilt = i128::from(tilt_bps.min(BPS_ONE));
    // |max| < 2^96, × 10^4 < 2^110: fits.
    let scaled = max.raw() * tilt / i128::from(BPS_ONE);
    if notional.raw() > scaled {
        Err(RejectReason::TiltSize)
    } else {
        Ok(())
    }
}

/// Max position: with every same-side open order filled and this order
/// filled, |position| ≤ `max`. For a buy `pos + open_buys + qty ≤ max`; for
/// a sell `pos − open_sells − qty ≥ −max`. An order that only reduces a
/// position already beyond the limit passes.
pub fn check_position(
    side: Side,
    qty: Qty,
    position: Qty,
    same_side_open: Qty,
    max: Qty,
) -> Result<(), RejectReason> {
    let (pos, open, q, max) = (
        i128::from(position.raw()),
        i128::from(same_side_open.raw()),
        i128::from(qty.raw()),
        i128::from(max.raw()),
    );
    // Three terms each < 2^63 in magnitude: fits i128.
    let ok = match side {
        Side::Buy => pos + open + q <= max,
        Side::Sell => pos - open - q >= -max,
    };
    if ok {
        Ok(())
    } else {
        Err(RejectReason::MaxPosition)
    }
}

/// Max open orders: this order would be one more, so `open < max` passes
/// (exactly `max` after it).
pub fn check_open_orders(open: u32, max: u32) -> Result<(), RejectReason> {
    if open < max {
        Ok(())
    } else {
        Err(RejectReason::MaxOpenOrders)
    }
}

/// Mandatory stop. A declared stop must be positive and on the losing side
/// of the order's reference price (below it for a buy, above for a sell)
/// or [`RejectReason::StopInvalid`]. If `required` and the order can
/// increase |position|, a missing stop is [`RejectReason::StopRequired`].
pub fn check_stop(
    required: bool,
    increases: bool,
    side: Side,
    reference: Price,
    stop: Option<Price>,
) -> Result<(), RejectReason> {
    match stop {
        Some(s) => {
            let ok = s.is_positive()
                && match side {
                    Side::Buy => s < reference,
                    Side::Sell => s > reference,
                };
            if ok {
                Ok(())
            } else {
                Err(RejectReason::StopInvalid)
            }
        }
        None if required && increases => Err(RejectReason::StopRequired),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn px(s: &str) -> Price {
        Price::parse(s).unwrap()
    }
    fn q(s: &str) -> Qty {
        match s.strip_prefix('-') {
            Some(abs) => Qty::from_raw(-Qty::parse(abs).unwrap().raw()),
            None => Qty::parse(s).unwrap(),
        }
    }
    fn n(s: &str) -> Notional {
        Notional::parse(s).unwrap()
    }
    fn neg(x: Qty) -> Qty {
        Qty::from_raw(-x.raw())
    }

    #[test]
    fn reducing_definition() {
        // Long 1: sells up to 1 (with open sells) reduce; buys never do.
        assert!(reduces_position(Side::Sell, q("1"), q("1"), Qty::ZERO));
        assert!(reduces_position(Side::Sell, q("0.4"), q("1"), q("0.6")));
        assert!(!reduces_position(
            Side::Sell,
            q("0.4"),
            q("1"),
            q("0.60000001")
        ));
        assert!(!reduces_position(
            Side::Sell,
            q("1.00000001"),
            q("1"),
            Qty::ZERO
        ));
        assert!(!reduces_position(Side::Buy, q("0.1"), q("1"), Qty::ZERO));
        // Short 2: buys up to 2 reduce.
        assert!(reduces_position(Side::Buy, q("2"), neg(q("2")), Qty::ZERO));
        assert!(!reduces_position(
            Side::Buy,
            q("2.00000001"),
            neg(q("2")),
            Qty::ZERO
        ));
        assert!(!reduces_position(
            Side::Sell,
            q("0.1"),
            neg(q("2")),
            Qty::ZERO
        ));
        // Flat: nothing reduces.
        assert!(!reduces_position(Side::Buy, q("1"), Qty::ZERO, Qty::ZERO));
        assert!(!reduces_position(Side::Sell, q("1"), Qty::ZERO, Qty::ZERO));
        // Extremes do not overflow.
        assert!(reduces_position(Side::Sell, Qty::MAX, Qty::MAX, Qty::ZERO));
        assert!(!reduces_position(Side::Sell, Qty::MAX, Qty::MAX, Qty::MAX));
        assert!(reduces_position(
            Side::Buy,
            Qty::MAX,
            Qty::from_raw(i64::MIN),
            Qty::ZERO
        ));
    }

    #[test]
    fn trading_state() {
        assert_eq!(check_trading_state(TradingState::Active, false), Ok(()));
        assert_eq!(check_trading_state(TradingState::Active, true), Ok(()));
        assert_eq!(check_trading_state(TradingState::Reducing, true), Ok(()));
        assert_eq!(
            check_trading_state(TradingState::Reducing, false),
            Err(RejectReason::NotReducing)
        );
        assert_eq!(
            check_trading_state(TradingState::Halted, true),
            Err(RejectReason::Halted)
        );
        assert_eq!(
            check_trading_state(TradingState::Halted, false),
            Err(RejectReason::Halted)
        );
    }

    #[test]
    fn daily_loss_boundary() {
        let limit = n("100");
        assert_eq!(check_daily_loss(n("-99.99999999"), limit), Ok(()));
        assert_eq!(
            check_daily_loss(n("-100"), limit),
            Err(RejectReason::DailyLossLimit)
        );
        assert_eq!(
            check_daily_loss(n("-100.00000001"), limit),
            Err(RejectReason::DailyLossLimit)
        );
        assert_eq!(check_daily_loss(n("1000"), limit), Ok(()));
        assert_eq!(
            check_daily_loss(Notional::MIN, Notional::MAX),
            Err(RejectReason::DailyLossLimit)
        );
        assert_eq!(check_daily_loss(Notional::MAX, Notional::MAX), Ok(()));
        assert_eq!(
            check_daily_loss(Notional::MIN, Notional::MIN),
            Err(RejectReason::DailyLossLimit)
        );
    }

    #[test]
    fn book_health() {
        assert_eq!(check_book(true), Ok(()));
        assert_eq!(check_book(false), Err(RejectReason::BookStale));
    }

    #[test]
    fn reference_prices() {
        assert_eq!(
            reference_price(OrderType::Limit, px("10"), None),
            Ok(px("10"))
        );
        assert_eq!(
            reference_price(OrderType::LimitMaker, px("10"), Some(px("11"))),
            Ok(px("10"))
        );
        assert_eq!(
            reference_price(OrderType::Market, px("10"), Some(px("11"))),
            Ok(px("11"))
        );
        assert_eq!(
            reference_price(OrderType::Market, px("10"), None),
            Err(RejectReason::NoReferencePrice)
        );
        assert_eq!(
            reference_price(OrderType::Market, px("10"), Some(Price::ZERO)),
            Err(RejectReason::NoReferencePrice)
        );
    }

    fn filters() -> Filters {
        Filters {
            tick_size: px("0.01"),
            step_size: q("0.001"),
            min_qty: q("0.001"),
            max_qty: q("100"),
            min_price: px("0.01"),
            max_price: px("1000000"),
            min_notional: n("5"),
            max_notional: None,
        }
    }

    #[test]
    fn exchange_filters() {
        let f = filters();
        let lim = OrderType::Limit;
        // Exactly min notional (100 × 0.05 = 5), min qty and max qty pass.
        assert_eq!(check_filters(&f, lim, px("100"), q("0.05")), Ok(()));
        assert_eq!(check_filters(&f, lim, px("5000"), q("0.001")), Ok(()));
        assert_eq!(check_filters(&f, lim, px("100"), q("100")), Ok(()));
        assert_eq!(
            check_filters(&f, lim, px("100.001"), q("1")),
            Err(RejectReason::PriceOffTick)
        );
        assert_eq!(
            check_filters(&f, lim, px("100"), q("1.0001")),
            Err(RejectReason::QtyOffStep)
        );
        assert_eq!(
            check_filters(&f, lim, px("100"), q("0.0009")),
            Err(RejectReason::QtyBelowMin)
        );
        assert_eq!(
            check_filters(&f, lim, px("100"), q("100.001")),
            Err(RejectReason::QtyAboveMax)
        );
        assert_eq!(
            check_filters(&f, lim, px("100"), q("0.049")),
            Err(RejectReason::NotionalBelowMin)
        );
        assert_eq!(
            check_filters(&f, lim, Price::ZERO, q("1")),
            Err(RejectReason::PriceNotPositive)
        );
        assert_eq!(
            check_filters(&f, lim, px("1000000.01"), q("1")),
            Err(RejectReason::PriceOutOfRange)
        );
        assert_eq!(
            check_filters(&f, lim, px("100"), Qty::ZERO),
            Err(RejectReason::QtyNotPositive)
        );
        let capped = Filters {
            max_notional: Some(n("1000")),
            ..f
        };
        assert_eq!(check_filters(&capped, lim, px("100"), q("10")), Ok(()));
        assert_eq!(
            check_filters(&capped, lim, px("100"), q("10.001")),
            Err(RejectReason::NotionalAboveMax)
        );
        // Market orders: qty and notional at the mid; the mid need not be on tick.
        let mkt = OrderType::Market;
        assert_eq!(check_filters(&f, mkt, px("100.005"), q("1")), Ok(()));
        assert_eq!(
            check_filters(&f, mkt, px("100"), q("0.049")),
            Err(RejectReason::NotionalBelowMin)
        );
        assert_eq!(
            check_filters(&f, mkt, px("100"), q("1.0001")),
            Err(RejectReason::QtyOffStep)
        );
        // Extreme values: an error, no panic.
        let open = Filters::default();
        assert_eq!(
            check_filters(&open, lim, Price::MAX, Qty::MAX),
            Err(RejectReason::ArithmeticOverflow)
        );
        assert_eq!(check_filters(&open, lim, Price::MAX, Qty::ONE), Ok(()));
        assert!(check_filters(&f, lim, Price::MAX, Qty::MAX).is_err());
    }

    #[test]
    fn price_band_boundaries() {
        // Mid 100, band 50 bps: [99.5, 100.5].
        let mid = Some(px("100"));
        assert_eq!(check_price_band(px("100"), mid, 50), Ok(()));
        assert_eq!(check_price_band(px("100.5"), mid, 50), Ok(()));
        assert_eq!(check_price_band(px("99.5"), mid, 50), Ok(()));
        assert_eq!(
            check_price_band(px("100.50000001"), mid, 50),
            Err(RejectReason::PriceBand)
        );
        assert_eq!(
            check_price_band(px("99.49999999"), mid, 50),
            Err(RejectReason::PriceBand)
        );
        assert_eq!(
            check_price_band(px("100"), None, 50),
            Err(RejectReason::NoReferencePrice)
        );
        assert_eq!(
            check_price_band(px("100"), Some(Price::ZERO), 50),
            Err(RejectReason::NoReferencePrice)
        );
        assert_eq!(
            check_price_band(Price::MAX, Some(Price::from_raw(1)), u32::MAX),
            Err(RejectReason::PriceBand)
        );
        assert_eq!(
            check_price_band(Price::from_raw(i64::MIN), Some(Price::MAX), u32::MAX),
            Ok(())
        );
        assert_eq!(
            check_price_band(Price::from_raw(i64::MIN), Some(Price::MAX), 10_000),
            Err(RejectReason::PriceBand)
        );
    }

    #[test]
    fn tilt_blocks_only_new_risk() {
        assert_eq!(check_tilt(0, true), Err(RejectReason::TiltBlocked));
        assert_eq!(check_tilt(0, false), Ok(()));
        assert_eq!(check_tilt(1, true), Ok(()));
        assert_eq!(check_tilt(BPS_ONE, true), Ok(()));
    }

    #[test]
    fn order_notional_and_tilt_scaling() {
        let max = n("1000");
        assert_eq!(check_order_notional(n("1000"), max, BPS_ONE), Ok(()));
        assert_eq!(
            check_order_notional(n("1000.00000001"), max, BPS_ONE),
            Err(RejectReason::MaxOrderNotional)
        );
        // Half size: 500 passes, above fails with TiltSize.
        assert_eq!(check_order_notional(n("500"), max, 5_000), Ok(()));
        assert_eq!(
            check_order_notional(n("500.00000001"), max, 5_000),
            Err(RejectReason::TiltSize)
        );
        // Above the unscaled limit the reason is the limit itself.
        assert_eq!(
            check_order_notional(n("2000"), max, 5_000),
            Err(RejectReason::MaxOrderNotional)
        );
        // Tilt above 1× never raises the limit.
        assert_eq!(
            check_order_notional(n("1000.00000001"), max, u16::MAX),
            Err(RejectReason::MaxOrderNotional)
        );
        assert_eq!(check_order_notional(n("1000"), max, u16::MAX), Ok(()));
        assert_eq!(
            check_order_notional(Notional::MAX, Notional::MAX, u16::MAX),
            Ok(())
        );
        assert_eq!(
            check_order_notional(Notional::MAX, Notional::MAX, 9_999),
            Err(RejectReason::TiltSize)
        );
        assert_eq!(
            check_order_notional(Notional::MIN, Notional::MIN, 0),
            Ok(())
        );
        assert_eq!(order_notional(px("100"), q("0.5")), Ok(n("50")));
        assert_eq!(
            order_notional(Price::MAX, Qty::MAX),
            Err(RejectReason::ArithmeticOverflow)
        );
        assert!(order_notional(Price::MAX, Qty::ONE).is_ok());
    }

    #[test]
    fn position_limit_counts_same_side_open() {
        let max = q("1");
        assert_eq!(
            check_position(Side::Buy, q("1"), Qty::ZERO, Qty::ZERO, max),
            Ok(())
        );
        assert_eq!(
            check_position(Side::Buy, q("1.00000001"), Qty::ZERO, Qty::ZERO, max),
            Err(RejectReason::MaxPosition)
        );
        assert_eq!(
            check_position(Side::Buy, q("0.4"), q("0.3"), q("0.3"), max),
            Ok(())
        );
        assert_eq!(
            check_position(Side::Buy, q("0.4"), q("0.3"), q("0.30000001"), max),
            Err(RejectReason::MaxPosition)
        );
        assert_eq!(
            check_position(Side::Sell, q("1"), Qty::ZERO, Qty::ZERO, max),
            Ok(())
        );
        assert_eq!(
            check_position(Side::Sell, q("0.5"), neg(q("0.2")), q("0.3"), max),
            Ok(())
        );
        assert_eq!(
            check_position(Side::Sell, q("0.5"), neg(q("0.2")), q("0.30000001"), max),
            Err(RejectReason::MaxPosition)
        );
        // A sell from a long of 3 (beyond the limit) reduces: passes.
        assert_eq!(
            check_position(Side::Sell, q("2"), q("3"), Qty::ZERO, max),
            Ok(())
        );
        // A sell that flips beyond the limit does not.
        assert_eq!(
            check_position(Side::Sell, q("4.00000001"), q("3"), Qty::ZERO, max),
            Err(RejectReason::MaxPosition)
        );
        // Extremes.
        assert_eq!(
            check_position(Side::Buy, Qty::MAX, Qty::MAX, Qty::MAX, Qty::MAX),
            Err(RejectReason::MaxPosition)
        );
        assert_eq!(
            check_position(
                Side::Sell,
                Qty::MAX,
                Qty::from_raw(i64::MIN),
                Qty::MAX,
                Qty::MAX
            ),
            Err(RejectReason::MaxPosition)
        );
    }

    #[test]
    fn open_orders_boundary() {
        assert_eq!(check_open_orders(0, 1), Ok(()));
        assert_eq!(check_open_orders(19, 20), Ok(()));
        assert_eq!(check_open_orders(20, 20), Err(RejectReason::MaxOpenOrders));
        assert_eq!(
            check_open_orders(u32::MAX, u32::MAX),
            Err(RejectReason::MaxOpenOrders)
        );
        assert_eq!(check_open_orders(0, 0), Err(RejectReason::MaxOpenOrders));
    }

    #[test]
    fn stop_rules() {
        let r = px("100");
        // Required, opening, no stop: rejected; with a valid stop: passes.
        assert_eq!(
            check_stop(true, true, Side::Buy, r, None),
            Err(RejectReason::StopRequired)
        );
        assert_eq!(
            check_stop(true, true, Side::Buy, r, Some(px("99.99"))),
            Ok(())
        );
        assert_eq!(
            check_stop(true, true, Side::Sell, r, Some(px("100.01"))),
            Ok(())
        );
        // Reducing orders need none.
        assert_eq!(check_stop(true, false, Side::Sell, r, None), Ok(()));
        // Not required: none is fine.
        assert_eq!(check_stop(false, true, Side::Buy, r, None), Ok(()));
        // A stop at or through the price, or not positive, is invalid.
        assert_eq!(
            check_stop(false, true, Side::Buy, r, Some(r)),
            Err(RejectReason::StopInvalid)
        );
        assert_eq!(
            check_stop(true, true, Side::Buy, r, Some(px("101"))),
            Err(RejectReason::StopInvalid)
        );
        assert_eq!(
            check_stop(true, true, Side::Sell, r, Some(px("99"))),
            Err(RejectReason::StopInvalid)
        );
        assert_eq!(
            check_stop(true, true, Side::Buy, r, Some(Price::ZERO)),
            Err(RejectReason::StopInvalid)
        );
    }
}
