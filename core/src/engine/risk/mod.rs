//! Pre-trade risk: every new order is checked here before it is journaled
//! and sent.
//!
//! Owns [`TradingState`], the order under test ([`OrderIntent`]), the engine
//! state it is checked against ([`RiskContext`]), [`RiskLimits`], the pure
//! checks in [`checks`], the order-rate [`TokenBucket`], [`RejectReason`] and
//! [`Verdict`], and [`RiskCheck`], which runs the checks in a fixed order and
//! returns the first rejection.
//!
//! Risk never reads a clock (`now` is in the context), never allocates,
//! never uses `f64`, never panics on any input (proptest), and never acts:
//! it returns a verdict. The engine journals the verdict, and on
//! [`RejectReason::DailyLossLimit`] ([`RejectReason::is_halt_trigger`]) halts
//! and cancels all open orders itself.
//!
//! # Order of the checks
//!
//! [`RiskCheck::check`] runs, and returns the first failure of:
//!
//! 1. trading state `Halted` → [`RejectReason::Halted`];
//! 2. daily loss (`daily_pnl ≤ −daily_loss_limit`) →
//!    [`RejectReason::DailyLossLimit`] (before anything order-specific, so a
//!    breach is seen on the first order after it);
//! 3. book stale or unhealthy → [`RejectReason::BookStale`];
//! 4. reference price: a market order needs a mid →
//!    [`RejectReason::NoReferencePrice`];
//! 5. trading state `Reducing` and the order can increase |position|
//!    ([`checks::reduces_position`]) → [`RejectReason::NotReducing`];
//! 6. exchange filters (price, qty, notional) → the filter's reason;
//! 7. price band against the mid → [`RejectReason::PriceBand`] /
//!    [`RejectReason::NoReferencePrice`];
//! 8. tilt multiplier 0 and the order can increase |position| →
//!    [`RejectReason::TiltBlocked`];
//! 9. max order notional, scaled by the tilt for risk-increasing orders →
//!    [`RejectReason::MaxOrderNotional`] / [`RejectReason::TiltSize`];
//! 10. max position (position + same-side open + order) →
//!     [`RejectReason::MaxPosition`];
//! 11. mandatory stop → [`RejectReason::StopRequired`] /
//!     [`RejectReason::StopInvalid`];
//! 12. max open orders → [`RejectReason::MaxOpenOrders`];
//! 13. order rate (token bucket) → [`RejectReason::RateLimited`]. Last, so a
//!     token is spent only by an order that is approved.

pub mod bucket;
pub mod checks;
pub mod limits;
pub mod reason;

pub use bucket::TokenBucket;
pub use limits::{InvalidLimit, RiskLimits, RiskLimitsError};
pub use reason::{RejectReason, Verdict};

use crate::clock::Nanos;
use crate::event::{OrderType, Side};
use crate::instrument::{Filters, InstrumentId};
use crate::num::{Notional, Price, Qty};

use checks::BPS_ONE;

/// Whether the engine may open risk. Starts [`TradingState::Halted`] until
/// feed and gateway are connected and state is reconciled.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum TradingState {
    /// Every check applies; new risk allowed.
    Active = 1,
    /// Only orders that cannot increase |position| pass.
    Reducing = 2,
    /// No new orders at all.
    #[default]
    Halted = 3,
}

impl TradingState {
    /// Every state, in code order.
    pub const ALL: [TradingState; 3] = [
        TradingState::Active,
        TradingState::Reducing,
        TradingState::Halted,
    ];

    /// Stable code.
    #[inline]
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The state for a code.
    pub const fn from_u8(code: u8) -> Option<TradingState> {
        match code {
            1 => Some(TradingState::Active),
            2 => Some(TradingState::Reducing),
            3 => Some(TradingState::Halted),
            _ => None,
        }
    }

    /// Stable lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TradingState::Active => "active",
            TradingState::Reducing => "reducing",
            TradingState::Halted => "halted",
        }
    }
}

/// A new order as risk sees it: what a strategy or execution algorithm
/// wants to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderIntent {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Limit, limit-maker or market.
    pub order_type: OrderType,
    /// Limit price (ignored for market orders, which are valued at the mid).
    pub price: Price,
    /// Quantity (positive).
    pub qty: Qty,
    /// The stop-loss trigger price the strategy declares for the position
    /// this order opens or increases, if any.
    pub stop: Option<Price>,
}

/// The engine state an order is checked against, for its instrument.
/// Built by the engine per order; plain values, no references.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskContext {
    /// The engine's trading state.
    pub state: TradingState,
    /// Signed position on the instrument.
    pub position: Qty,
    /// Unfilled quantity of open buy orders on the instrument.
    pub open_buy_qty: Qty,
    /// Unfilled quantity of open sell orders on the instrument.
    pub open_sell_qty: Qty,
    /// Open orders counted against `max_open_orders` (the engine chooses
    /// the scope; it passes the account-wide count).
    pub open_orders: u32,
    /// Mid price of the instrument's book, if known.
    pub mid: Option<Price>,
    /// False if the book is stale or unhealthy.
    pub book_healthy: bool,
    /// Daily PnL (realised + unrealised − fees) across the account.
    pub daily_pnl: Notional,
    /// This duty cycle's clock value.
    pub now: Nanos,
}

impl RiskContext {
    /// Unfilled open quantity on `side`.
    #[inline]
    pub const fn open_on(&self, side: Side) -> Qty {
        match side {
            Side::Buy => self.open_buy_qty,
            Side::Sell => self.open_sell_qty,
        }
    }
}

/// Runs every check in the documented order (module docs) and owns the
/// little state they need: the limits, the tilt multiplier and the
/// order-rate bucket. Fixed size; never allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskCheck {
    limits: RiskLimits,
    tilt_bps: u16,
    bucket: TokenBucket,
}

impl RiskCheck {
    /// A checker with `limits` (validated), tilt 1× and a full rate bucket
    /// at `now`.
    pub fn new(limits: RiskLimits, now: Nanos) -> Result<RiskCheck, InvalidLimit> {
        limits.validate()?;
        Ok(RiskCheck {
            limits,
            tilt_bps: BPS_ONE,
            bucket: TokenBucket::new(limits.max_orders_per_sec, limits.order_burst, now),
        })
    }

    /// The limits in force.
    #[inline]
    pub const fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    /// Replaces the limits (validated first; unchanged on error). Tokens
    /// already earned are kept, clamped to the new burst.
    pub fn set_limits(&mut self, limits: RiskLimits) -> Result<(), InvalidLimit> {
        limits.validate()?;
        self.limits = limits;
        self.bucket
            .reconfigure(limits.max_orders_per_sec, limits.order_burst);
        Ok(())
    }

    /// The tilt multiplier in basis points (10 000 = 1×).
    #[inline]
    pub const fn tilt_bps(&self) -> u16 {
        self.tilt_bps
    }

    /// Sets the tilt multiplier (`ControlCommand::SetTiltMultiplier`).
    /// Values above 10 000 act as 1×: the tilt only ever shrinks size.
    #[inline]
    pub fn set_tilt_bps(&mut self, bps: u16) {
        self.tilt_bps = bps;
    }

    /// Checks `order` against `ctx` and the instrument's `filters`, in the
    /// documented order, and returns the first rejection. Takes an
    /// order-rate token only when approving.
    pub fn check(&mut self, order: &OrderIntent, ctx: &RiskContext, filters: &Filters) -> Verdict {
        match self.evaluate(order, ctx, filters) {
            Err(r) => Verdict::Rejected(r),
            Ok(()) if self.bucket.try_take(ctx.now) => Verdict::Approved,
            Ok(()) => Verdict::Rejected(RejectReason::RateLimited),
        }
    }

    /// Every check but the rate bucket; changes nothing.
    fn evaluate(
        &self,
        order: &OrderIntent,
        ctx: &RiskContext,
        filters: &Filters,
    ) -> Result<(), RejectReason> {
        let l = &self.limits;
        let reduces =
            checks::reduces_position(order.side, order.qty, ctx.position, ctx.open_on(order.side));
        let increases = !reduces;
        if ctx.state == TradingState::Halted {
            return Err(RejectReason::Halted);
        }
        checks::check_daily_loss(ctx.daily_pnl, l.daily_loss_limit)?;
        checks::check_book(ctx.book_healthy)?;
        let reference = checks::reference_price(order.order_type, order.price, ctx.mid)?;
        checks::check_trading_state(ctx.state, reduces)?;
        checks::check_filters(filters, order.order_type, reference, order.qty)?;
        checks::check_price_band(reference, ctx.mid, l.price_band_bps)?;
        checks::check_tilt(self.tilt_bps, increases)?;
        let notional = checks::order_notional(reference, order.qty)?;
        let tilt = if increases { self.tilt_bps } else { BPS_ONE };
        checks::check_order_notional(notional, l.max_order_notional, tilt)?;
        checks::check_position(
            order.side,
            order.qty,
            ctx.position,
            ctx.open_on(order.side),
            l.max_position,
        )?;
        checks::check_stop(l.require_stop, increases, order.side, reference, order.stop)?;
        checks::check_open_orders(ctx.open_orders, l.max_open_orders)?;
        Ok(())
    }

    /// Whole order-rate tokens available at `now`.
    #[inline]
    pub fn rate_tokens(&self, now: Nanos) -> u64 {
        self.bucket.available(now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

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

    fn limits() -> RiskLimits {
        RiskLimits {
            max_order_notional: n("1000"),
            max_position: q("10"),
            max_open_orders: 3,
            max_orders_per_sec: 2,
            order_burst: 2,
            price_band_bps: 100,
            daily_loss_limit: n("500"),
            require_stop: false,
        }
    }

    fn filters() -> Filters {
        Filters {
            tick_size: px("0.01"),
            step_size: q("0.001"),
            min_qty: q("0.001"),
            max_qty: q("1000"),
            min_price: px("0.01"),
            max_price: Price::ZERO,
            min_notional: n("5"),
            max_notional: None,
        }
    }

    fn buy(qty: &str, price: &str) -> OrderIntent {
        OrderIntent {
            instrument: InstrumentId(0),
            side: Side::Buy,
            order_type: OrderType::Limit,
            price: px(price),
            qty: q(qty),
            stop: None,
        }
    }

    fn ctx() -> RiskContext {
        RiskContext {
            state: TradingState::Active,
            position: Qty::ZERO,
            open_buy_qty: Qty::ZERO,
            open_sell_qty: Qty::ZERO,
            open_orders: 0,
            mid: Some(px("100")),
            book_healthy: true,
            daily_pnl: Notional::ZERO,
            now: Nanos(1_000_000_000),
        }
    }

    fn rc() -> RiskCheck {
        RiskCheck::new(limits(), Nanos(0)).unwrap()
    }

    fn verdict(order: OrderIntent, c: RiskContext) -> Verdict {
        rc().check(&order, &c, &filters())
    }

    fn rejected(r: RejectReason) -> Verdict {
        Verdict::Rejected(r)
    }

    #[test]
    fn trading_state_defaults_halted_and_codes_round_trip() {
        assert_eq!(TradingState::default(), TradingState::Halted);
        for s in TradingState::ALL {
            assert_eq!(TradingState::from_u8(s.as_u8()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(TradingState::from_u8(0), None);
    }

    #[test]
    fn new_validates_limits() {
        let bad = RiskLimits {
            order_burst: 0,
            ..limits()
        };
        assert_eq!(
            RiskCheck::new(bad, Nanos(0)).unwrap_err().key,
            "order_burst"
        );
        let mut r = rc();
        assert_eq!(r.set_limits(bad).unwrap_err().key, "order_burst");
        assert_eq!(r.limits(), &limits());
    }

    #[test]
    fn approves_a_plain_order() {
        assert_eq!(verdict(buy("1", "100"), ctx()), Verdict::Approved);
    }

    #[test]
    fn halted_rejects_everything() {
        let c = RiskContext {
            state: TradingState::Halted,
            position: q("1"),
            ..ctx()
        };
        let mut sell = buy("1", "100");
        sell.side = Side::Sell;
        assert_eq!(verdict(sell, c), rejected(RejectReason::Halted));
        assert_eq!(verdict(buy("1", "100"), c), rejected(RejectReason::Halted));
    }

    #[test]
    fn reducing_lets_only_reducing_orders_through() {
        let c = RiskContext {
            state: TradingState::Reducing,
            position: q("2"),
            open_sell_qty: q("0.5"),
            ..ctx()
        };
        let mut sell = buy("1.5", "100");
        sell.side = Side::Sell;
        assert_eq!(verdict(sell, c), Verdict::Approved);
        sell.qty = q("1.501");
        assert_eq!(verdict(sell, c), rejected(RejectReason::NotReducing));
        assert_eq!(
            verdict(buy("0.1", "100"), c),
            rejected(RejectReason::NotReducing)
        );
        // Flat: nothing can reduce.
        let flat = RiskContext {
            position: Qty::ZERO,
            open_sell_qty: Qty::ZERO,
            ..c
        };
        sell.qty = q("0.1");
        assert_eq!(verdict(sell, flat), rejected(RejectReason::NotReducing));
    }

    #[test]
    fn daily_loss_is_a_distinct_halt_trigger_before_order_checks() {
        let c = RiskContext {
            daily_pnl: n("-500"),
            book_healthy: false,
            ..ctx()
        };
        let v = verdict(buy("1", "100"), c);
        assert_eq!(v, rejected(RejectReason::DailyLossLimit));
        assert!(v.reason().unwrap().is_halt_trigger());
        let c = RiskContext {
            daily_pnl: n("-499.99999999"),
            ..ctx()
        };
        assert_eq!(verdict(buy("1", "100"), c), Verdict::Approved);
    }

    #[test]
    fn stale_book_rejects() {
        let c = RiskContext {
            book_healthy: false,
            ..ctx()
        };
        assert_eq!(
            verdict(buy("1", "100"), c),
            rejected(RejectReason::BookStale)
        );
    }

    #[test]
    fn market_orders_use_the_mid() {
        let mut m = buy("10", "0");
        m.order_type = OrderType::Market;
        // 10 × 100 = 1000: exactly the max order notional.
        assert_eq!(verdict(m, ctx()), Verdict::Approved);
        m.qty = q("10.001");
        assert_eq!(verdict(m, ctx()), rejected(RejectReason::MaxOrderNotional));
        let no_mid = RiskContext { mid: None, ..ctx() };
        assert_eq!(verdict(m, no_mid), rejected(RejectReason::NoReferencePrice));
        // Limit orders also need a mid, for the band.
        assert_eq!(
            verdict(buy("1", "100"), no_mid),
            rejected(RejectReason::NoReferencePrice)
        );
    }

    #[test]
    fn filters_run_through_check() {
        assert_eq!(
            verdict(buy("1", "100.001"), ctx()),
            rejected(RejectReason::PriceOffTick)
        );
        assert_eq!(
            verdict(buy("0.04", "100"), ctx()),
            rejected(RejectReason::NotionalBelowMin)
        );
        assert_eq!(verdict(buy("0.05", "100"), ctx()), Verdict::Approved);
    }

    #[test]
    fn price_band_through_check() {
        assert_eq!(verdict(buy("1", "101"), ctx()), Verdict::Approved);
        assert_eq!(
            verdict(buy("1", "101.01"), ctx()),
            rejected(RejectReason::PriceBand)
        );
        assert_eq!(verdict(buy("1", "99"), ctx()), Verdict::Approved);
        assert_eq!(
            verdict(buy("1", "98.99"), ctx()),
            rejected(RejectReason::PriceBand)
        );
    }

    #[test]
    fn max_order_notional_boundary() {
        assert_eq!(verdict(buy("10", "100"), ctx()), Verdict::Approved);
        assert_eq!(
            verdict(buy("10.001", "100"), ctx()),
            rejected(RejectReason::MaxOrderNotional)
        );
    }

    #[test]
    fn tilt_scales_and_blocks_new_risk_only() {
        let mut r = rc();
        r.set_tilt_bps(5_000);
        let f = filters();
        assert_eq!(r.check(&buy("5", "100"), &ctx(), &f), Verdict::Approved);
        assert_eq!(
            r.check(&buy("5.001", "100"), &ctx(), &f),
            rejected(RejectReason::TiltSize)
        );
        let mut r = rc();
        r.set_tilt_bps(0);
        assert_eq!(r.tilt_bps(), 0);
        assert_eq!(
            r.check(&buy("0.1", "100"), &ctx(), &f),
            rejected(RejectReason::TiltBlocked)
        );
        // Reducing a long of 10 is still allowed at full size.
        let long = RiskContext {
            position: q("10"),
            ..ctx()
        };
        let mut sell = buy("10", "100");
        sell.side = Side::Sell;
        assert_eq!(r.check(&sell, &long, &f), Verdict::Approved);
    }

    #[test]
    fn max_position_includes_open_same_side() {
        let c = RiskContext {
            position: q("8"),
            open_buy_qty: q("1"),
            open_sell_qty: q("100"),
            ..ctx()
        };
        assert_eq!(verdict(buy("1", "100"), c), Verdict::Approved);
        assert_eq!(
            verdict(buy("1.001", "100"), c),
            rejected(RejectReason::MaxPosition)
        );
    }

    #[test]
    fn stop_required_for_new_positions_only() {
        let mut r = RiskCheck::new(
            RiskLimits {
                require_stop: true,
                ..limits()
            },
            Nanos(0),
        )
        .unwrap();
        let f = filters();
        assert_eq!(
            r.check(&buy("1", "100"), &ctx(), &f),
            rejected(RejectReason::StopRequired)
        );
        let with_stop = OrderIntent {
            stop: Some(px("95")),
            ..buy("1", "100")
        };
        assert_eq!(r.check(&with_stop, &ctx(), &f), Verdict::Approved);
        let bad_stop = OrderIntent {
            stop: Some(px("105")),
            ..buy("1", "100")
        };
        assert_eq!(
            r.check(&bad_stop, &ctx(), &f),
            rejected(RejectReason::StopInvalid)
        );
        let short = RiskContext {
            position: q("-1"),
            ..ctx()
        };
        assert_eq!(r.check(&buy("1", "100"), &short, &f), Verdict::Approved);
    }

    #[test]
    fn max_open_orders_boundary() {
        let c = RiskContext {
            open_orders: 2,
            ..ctx()
        };
        assert_eq!(verdict(buy("1", "100"), c), Verdict::Approved);
        let c = RiskContext {
            open_orders: 3,
            ..ctx()
        };
        assert_eq!(
            verdict(buy("1", "100"), c),
            rejected(RejectReason::MaxOpenOrders)
        );
    }

    #[test]
    fn rate_limit_spends_tokens_only_on_approval() {
        let mut r = rc();
        let f = filters();
        let c = ctx();
        // Rejections spend nothing.
        for _ in 0..10 {
            assert_eq!(
                r.check(&buy("100", "100"), &c, &f),
                rejected(RejectReason::MaxOrderNotional)
            );
        }
        assert_eq!(r.rate_tokens(c.now), 2);
        assert_eq!(r.check(&buy("1", "100"), &c, &f), Verdict::Approved);
        assert_eq!(r.check(&buy("1", "100"), &c, &f), Verdict::Approved);
        assert_eq!(
            r.check(&buy("1", "100"), &c, &f),
            rejected(RejectReason::RateLimited)
        );
        // 2/s: one token after exactly 500 ms.
        let later = RiskContext {
            now: Nanos(c.now.0 + 499_999_999),
            ..c
        };
        assert_eq!(
            r.check(&buy("1", "100"), &later, &f),
            rejected(RejectReason::RateLimited)
        );
        let later = RiskContext {
            now: Nanos(c.now.0 + 500_000_000),
            ..c
        };
        assert_eq!(r.check(&buy("1", "100"), &later, &f), Verdict::Approved);
    }

    #[test]
    fn order_of_checks_is_as_documented() {
        // Everything wrong at once: each fix reveals the next reason.
        let mut o = OrderIntent {
            instrument: InstrumentId(0),
            side: Side::Buy,
            order_type: OrderType::Limit,
            price: px("150.001"),
            qty: q("20"),
            stop: Some(px("200")),
        };
        let mut c = RiskContext {
            state: TradingState::Halted,
            position: q("5"),
            open_buy_qty: Qty::ZERO,
            open_sell_qty: Qty::ZERO,
            open_orders: 3,
            mid: Some(px("100")),
            book_healthy: false,
            daily_pnl: n("-600"),
            now: Nanos(0),
        };
        let mut r = rc();
        r.set_tilt_bps(0);
        let f = filters();
        let mut seen = Vec::new();
        let mut step = |o: &OrderIntent, c: &RiskContext, r: &mut RiskCheck| {
            let v = r.check(o, c, &f);
            seen.push(v.reason());
            v
        };
        assert_eq!(step(&o, &c, &mut r), rejected(RejectReason::Halted));
        c.state = TradingState::Reducing;
        assert_eq!(step(&o, &c, &mut r), rejected(RejectReason::DailyLossLimit));
        c.daily_pnl = Notional::ZERO;
        assert_eq!(step(&o, &c, &mut r), rejected(RejectReason::BookStale));
        c.book_healthy = true;
        assert_eq!(step(&o, &c, &mut r), rejected(RejectReason::NotReducing));
        c.state = TradingState::Active;
        assert_eq!(step(&o, &c, &mut r), rejected(RejectReason::PriceOffTick));
        o.price = px("150");
        assert_eq!(step(&o, &c, &mut r), rejected(RejectReason::PriceBand));
        o.price = px("100");
        assert_eq!(step(&o, &c, &mut r), rejected(RejectReason::TiltBlocked));
        r.set_tilt_bps(5_000);
        assert_eq!(
            step(&o, &c, &mut r),
            rejected(RejectReason::MaxOrderNotional)
        );
        o.qty = q("6");
        assert_eq!(step(&o, &c, &mut r), rejected(RejectReason::TiltSize));
        r.set_tilt_bps(BPS_ONE);
        assert_eq!(step(&o, &c, &mut r), rejected(RejectReason::MaxPosition));
        c.position = Qty::ZERO;
        assert_eq!(step(&o, &c, &mut r), rejected(RejectReason::StopInvalid));
        o.stop = Some(px("90"));
        assert_eq!(step(&o, &c, &mut r), rejected(RejectReason::MaxOpenOrders));
        c.open_orders = 0;
        assert_eq!(step(&o, &c, &mut r), Verdict::Approved);
        assert_eq!(step(&o, &c, &mut r), Verdict::Approved);
        assert_eq!(step(&o, &c, &mut r), rejected(RejectReason::RateLimited));
        assert_eq!(seen.len(), 15);
    }

    fn arb_filters() -> impl Strategy<Value = Filters> {
        (
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            prop::option::of(any::<i64>()),
        )
            .prop_map(|(t, s, mq, xq, mp, xp, mn, xn)| Filters {
                tick_size: Price::from_raw(t),
                step_size: Qty::from_raw(s),
                min_qty: Qty::from_raw(mq),
                max_qty: Qty::from_raw(xq),
                min_price: Price::from_raw(mp),
                max_price: Price::from_raw(xp),
                min_notional: Notional::from_raw(i128::from(mn) * 1_000_000).unwrap(),
                max_notional: xn.map(|x| Notional::from_raw(i128::from(x) * 1_000_000).unwrap()),
            })
    }

    fn arb_notional() -> impl Strategy<Value = Notional> {
        prop_oneof![
            Just(Notional::MAX),
            Just(Notional::MIN),
            Just(Notional::ZERO),
            any::<i64>().prop_map(|v| Notional::from_raw(i128::from(v) * 4_000_000_000).unwrap()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn never_panics_for_any_input(
            (side, ot, price, qty, stop) in (any::<bool>(), 1u8..=3, any::<i64>(), any::<i64>(), prop::option::of(any::<i64>())),
            (st, pos, ob, os, oo, mid, healthy, pnl, now) in (
                1u8..=3, any::<i64>(), any::<i64>(), any::<i64>(), any::<u32>(),
                prop::option::of(any::<i64>()), any::<bool>(), arb_notional(), any::<u64>(),
            ),
            (mon, mp, moo, rate, burst, band, dll, stop_req) in (
                arb_notional(), any::<i64>(), any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>(), arb_notional(), any::<bool>(),
            ),
            tilt in any::<u16>(),
            f in arb_filters(),
        ) {
            let o = OrderIntent {
                instrument: InstrumentId(0),
                side: if side { Side::Buy } else { Side::Sell },
                order_type: OrderType::from_u8(ot).unwrap(),
                price: Price::from_raw(price),
                qty: Qty::from_raw(qty),
                stop: stop.map(Price::from_raw),
            };
            let c = RiskContext {
                state: TradingState::from_u8(st).unwrap(),
                position: Qty::from_raw(pos),
                open_buy_qty: Qty::from_raw(ob),
                open_sell_qty: Qty::from_raw(os),
                open_orders: oo,
                mid: mid.map(Price::from_raw),
                book_healthy: healthy,
                daily_pnl: pnl,
                now: Nanos(now),
            };
            let l = RiskLimits {
                max_order_notional: mon,
                max_position: Qty::from_raw(mp),
                max_open_orders: moo,
                max_orders_per_sec: rate,
                order_burst: burst,
                price_band_bps: band,
                daily_loss_limit: dll,
                require_stop: stop_req,
            };
            // Bypass validation to feed even invalid limits to the checks.
            let mut r = RiskCheck { limits: l, tilt_bps: tilt, bucket: TokenBucket::new(rate, burst, Nanos(now / 2)) };
            let v = r.check(&o, &c, &f);
            prop_assert_eq!(Verdict::from_code(v.code()), Some(v));
            // Approval implies the key invariants.
            if v.is_approved() {
                prop_assert_eq!(c.state != TradingState::Halted, true);
                prop_assert!(healthy);
                prop_assert!(c.open_orders < l.max_open_orders);
                prop_assert!(c.daily_pnl.raw() > -l.daily_loss_limit.raw());
            }
            let _ = l.validate();
        }
    }
}
