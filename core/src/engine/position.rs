//! Positions and PnL in fixed point.
//!
//! Owns [`Position`] (one instrument's signed quantity, cost basis, realised
//! PnL, fees and daily baseline) and [`PositionBook`] (one `Position` per
//! instrument, dense by [`InstrumentId`], allocated once in
//! [`PositionBook::new`]). The engine applies every fill
//! ([`ExecReport`] with `trade_id != 0`) here and reads positions and PnL for
//! its risk checks and status.
//!
//! This module never allocates after [`PositionBook::new`], never reads a
//! clock (the day boundary is an input), never uses `f64`, and never panics:
//! every sum is checked, and a fill whose arithmetic would leave the range is
//! refused with [`PositionError::Overflow`] and leaves the position unchanged.
//!
//! # Units and rounding
//!
//! Internally the cost basis and realised PnL are kept **exactly**, as `i128`
//! counts of 10^-16 quote units (raw price × raw quantity, no division). So
//! the identity
//!
//! ```text
//! realised + unrealised(mark) = Σ sell proceeds − Σ buy costs + position × mark
//! ```
//!
//! holds exactly in those units, for every fill sequence (tested with
//! proptest). The only divisions are:
//!
//! * the share of the cost basis a partial reduction closes,
//!   `cost × closed / |position|`, truncated toward zero. The truncation stays
//!   in the remaining cost basis (nothing is lost: it is realised when the
//!   rest closes), so the identity above stays exact;
//! * the public views in [`Notional`] / [`Price`] (10^-8 units): realised,
//!   unrealised and the average price are truncated toward zero. Each view is
//!   within one raw unit (10^-8) of the exact value, so
//!   `realised() + unrealised(mark)` differs from the cash-flow PnL truncated
//!   to 10^-8 by at most 2 raw units.
//!
//! # Average price rules
//!
//! * An increase (a fill on the side of the position, or from flat) adds
//!   `qty × price` to the cost basis: the average is re-weighted.
//! * A reduction realises `closed × price − closed × average` and removes the
//!   closed share of the cost basis: the average of the rest is unchanged
//!   (up to the truncation above).
//! * A close realises everything and leaves the position flat, cost zero.
//! * A flip realises the whole old position and opens the remainder at the
//!   fill price.
//!
//! # Fees
//!
//! Fees do not change the traded quantity (`qty()` is Σ signed fills). They
//! are accumulated by asset: base (`fees_base`, which also lowers
//! [`Position::net_base`], the balance change on a spot venue), quote, and
//! other (e.g. BNB: counted, not valued). [`Position::fees_in_quote`] is the
//! quote fees plus each base fee valued at its fill price (truncated); the
//! net and daily PnL subtract it.

use std::fmt;

use crate::event::{ExecReport, FeeAsset, Side};
use crate::instrument::{InstrumentId, InstrumentTable};
use crate::num::{Notional, Price, Qty, SCALE};

/// Why a fill could not be applied. The position is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[repr(u8)]
pub enum PositionError {
    /// The report's instrument is beyond the book's capacity.
    #[error("instrument outside the position book")]
    UnknownInstrument = 1,
    /// A fill (`trade_id != 0`) with a quantity or price that is not positive,
    /// or a negative fee.
    #[error("fill with non-positive quantity or price, or negative fee")]
    InvalidFill = 2,
    /// Applying the fill would leave the representable range.
    #[error("position arithmetic overflow")]
    Overflow = 3,
}

impl PositionError {
    /// A stable lower-case name for logs and exports.
    pub const fn as_str(self) -> &'static str {
        match self {
            PositionError::UnknownInstrument => "unknown_instrument",
            PositionError::InvalidFill => "invalid_fill",
            PositionError::Overflow => "overflow",
        }
    }
}

/// `raw16` (10^-16 units) as a `Notional` (10^-8), truncated toward zero.
#[inline]
fn to_notional(raw16: i128) -> Option<Notional> {
    Notional::from_raw(raw16 / i128::from(SCALE))
}

/// `a × b / d`, truncated toward zero, for `|b| ≤ |d|` and `d != 0`, without
/// forming `a × b` (which may not fit `i128`).
///
/// `a = q·d + r` with `|r| < |d|` and `r` of `a`'s sign, so
/// `a·b/d = q·b + r·b/d`: `|q·b| ≤ |a|` and `|r·b| < 2^126` both fit, and
/// both terms have the same sign, so truncating the second truncates the sum.
#[inline]
fn mul_div_le(a: i128, b: i128, d: i128) -> Option<i128> {
    let q = a.checked_div(d)?;
    let r = a.checked_rem(d)?;
    q.checked_mul(b)?
        .checked_add(r.checked_mul(b)?.checked_div(d)?)
}

/// One instrument's position, cost basis, realised PnL and fees.
///
/// All amounts are quote units unless named otherwise. See the module docs
/// for units and rounding.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// Signed quantity: Σ buys − Σ sells.
    qty: i64,
    /// Cost basis of the open quantity, exact, 10^-16 quote units; has the
    /// sign of `qty` (zero when flat).
    cost16: i128,
    /// Realised PnL, exact, 10^-16 quote units; always within the
    /// `Notional` range once divided by `SCALE`.
    realised16: i128,
    /// Fees charged in the base asset.
    fees_base: Qty,
    /// Fees charged in the quote asset.
    fees_quote: Notional,
    /// Fees charged in another asset (counted, not valued).
    fees_other: Qty,
    /// Quote fees plus base fees valued at their fill price.
    fees_in_quote: Notional,
    /// Price of the last fill (zero before the first).
    last_fill_price: Price,
    /// Number of fills applied.
    fills: u64,
    /// Net PnL (realised + unrealised − fees) at the last day boundary.
    day_baseline: Notional,
}

impl fmt::Debug for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Position")
            .field("qty", &self.qty())
            .field("avg_price", &self.avg_price())
            .field("realised", &self.realised())
            .field("fees_base", &self.fees_base)
            .field("fees_quote", &self.fees_quote)
            .field("fees_other", &self.fees_other)
            .field("fills", &self.fills)
            .finish()
    }
}

impl Position {
    /// A flat position with no history.
    pub const FLAT: Position = Position {
        qty: 0,
        cost16: 0,
        realised16: 0,
        fees_base: Qty::ZERO,
        fees_quote: Notional::ZERO,
        fees_other: Qty::ZERO,
        fees_in_quote: Notional::ZERO,
        last_fill_price: Price::ZERO,
        fills: 0,
        day_baseline: Notional::ZERO,
    };

    /// Signed quantity (positive long, negative short): Σ signed fills.
    #[inline]
    pub const fn qty(&self) -> Qty {
        Qty::from_raw(self.qty)
    }

    /// True if the quantity is zero.
    #[inline]
    pub const fn is_flat(&self) -> bool {
        self.qty == 0
    }

    /// Average entry price of the open quantity, truncated toward zero;
    /// zero when flat.
    pub fn avg_price(&self) -> Price {
        if self.qty == 0 {
            return Price::ZERO;
        }
        // cost16 / qty is a raw price near the fill prices (within one raw
        // unit per reduction); clamp rather than fail at the i64 edge.
        let avg = self.cost16 / i128::from(self.qty);
        Price::from_raw(avg.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    /// Realised PnL (gross of fees), truncated toward zero.
    #[inline]
    pub fn realised(&self) -> Notional {
        // apply() keeps realised16 / SCALE within the Notional range.
        to_notional(self.realised16).unwrap_or(Notional::ZERO)
    }

    /// Unrealised PnL of the open quantity marked at `mark`
    /// (`qty × mark − cost basis`), truncated toward zero; `None` if out of
    /// range.
    pub fn unrealised(&self, mark: Price) -> Option<Notional> {
        to_notional(self.unrealised16(mark)?)
    }

    fn unrealised16(&self, mark: Price) -> Option<i128> {
        // |i64 × i64| < 2^126: the product fits.
        (i128::from(self.qty) * i128::from(mark.raw())).checked_sub(self.cost16)
    }

    /// Realised + unrealised at `mark`, gross of fees, computed exactly and
    /// truncated once.
    pub fn gross_pnl(&self, mark: Price) -> Option<Notional> {
        to_notional(self.realised16.checked_add(self.unrealised16(mark)?)?)
    }

    /// Realised + unrealised at `mark` minus [`Position::fees_in_quote`].
    pub fn net_pnl(&self, mark: Price) -> Option<Notional> {
        self.gross_pnl(mark)?.checked_sub(self.fees_in_quote)
    }

    /// Net PnL since the last day boundary ([`Position::start_day`]).
    pub fn daily_pnl(&self, mark: Price) -> Option<Notional> {
        self.net_pnl(mark)?.checked_sub(self.day_baseline)
    }

    /// Starts a new day: the daily PnL becomes zero at `mark`. If the net
    /// PnL at `mark` is out of range the baseline is left unchanged and
    /// `false` is returned.
    pub fn start_day(&mut self, mark: Price) -> bool {
        match self.net_pnl(mark) {
            Some(n) => {
                self.day_baseline = n;
                true
            }
            None => false,
        }
    }

    /// Fees charged in the base asset.
    #[inline]
    pub const fn fees_base(&self) -> Qty {
        self.fees_base
    }

    /// Fees charged in the quote asset.
    #[inline]
    pub const fn fees_quote(&self) -> Notional {
        self.fees_quote
    }

    /// Fees charged in a third asset (not valued).
    #[inline]
    pub const fn fees_other(&self) -> Qty {
        self.fees_other
    }

    /// Quote fees plus base fees valued at their fill prices (truncated).
    #[inline]
    pub const fn fees_in_quote(&self) -> Notional {
        self.fees_in_quote
    }

    /// Base balance change on a spot venue: `qty − fees_base`; `None` if
    /// out of range.
    pub fn net_base(&self) -> Option<Qty> {
        self.qty().checked_sub(self.fees_base)
    }

    /// Price of the last fill, zero before the first.
    #[inline]
    pub const fn last_fill_price(&self) -> Price {
        self.last_fill_price
    }

    /// Number of fills applied.
    #[inline]
    pub const fn fills(&self) -> u64 {
        self.fills
    }

    /// Applies one execution report. Returns `Ok(false)` for a report that
    /// is not a fill (`trade_id == 0`), `Ok(true)` for an applied fill.
    ///
    /// On `Err` the position is unchanged.
    pub fn apply(&mut self, report: &ExecReport) -> Result<bool, PositionError> {
        if report.trade_id == 0 {
            return Ok(false);
        }
        let qty = report.last_qty.raw();
        let price = report.last_price.raw();
        if qty <= 0 || price <= 0 || report.fee.raw() < 0 {
            return Err(PositionError::InvalidFill);
        }
        let signed = match report.side {
            Side::Buy => qty,
            Side::Sell => -qty,
        };
        let mut next = *self;
        next.apply_trade(signed, price)?;
        next.apply_fee(report.fee, report.fee_asset, report.last_price)?;
        next.last_fill_price = report.last_price;
        next.fills = next.fills.saturating_add(1);
        *self = next;
        Ok(true)
    }

    /// Applies a signed fill `d` (≠ 0) at raw price `p` (> 0) to qty, cost
    /// basis and realised PnL.
    fn apply_trade(&mut self, d: i64, p: i64) -> Result<(), PositionError> {
        const OVF: PositionError = PositionError::Overflow;
        let (pos, d128, p128) = (i128::from(self.qty), i128::from(d), i128::from(p));
        let new_qty = self.qty.checked_add(d).ok_or(OVF)?;
        if pos == 0 || (pos > 0) == (d > 0) {
            // Open or increase: the average re-weights.
            self.cost16 = self.cost16.checked_add(d128 * p128).ok_or(OVF)?;
        } else if d128.unsigned_abs() < pos.unsigned_abs() {
            // Partial reduction: closed_signed = −d has the sign of pos.
            let closed = -d128;
            let share = mul_div_le(self.cost16, closed, pos).ok_or(OVF)?;
            let pnl = (closed * p128).checked_sub(share).ok_or(OVF)?;
            self.realised16 = self.realised16.checked_add(pnl).ok_or(OVF)?;
            self.cost16 = self.cost16.checked_sub(share).ok_or(OVF)?;
        } else {
            // Close (new_qty == 0) or flip: realise the whole old position,
            // open the remainder (new_qty, the sign of d) at p.
            let pnl = (pos * p128).checked_sub(self.cost16).ok_or(OVF)?;
            self.realised16 = self.realised16.checked_add(pnl).ok_or(OVF)?;
            self.cost16 = i128::from(new_qty) * p128;
        }
        to_notional(self.realised16).ok_or(OVF)?;
        self.qty = new_qty;
        Ok(())
    }

    fn apply_fee(&mut self, fee: Qty, asset: FeeAsset, price: Price) -> Result<(), PositionError> {
        const OVF: PositionError = PositionError::Overflow;
        if fee.is_zero() {
            return Ok(());
        }
        match asset {
            FeeAsset::None => {}
            FeeAsset::Base => {
                self.fees_base = self.fees_base.checked_add(fee).ok_or(OVF)?;
                let valued = price.checked_notional(fee).ok_or(OVF)?;
                self.fees_in_quote = self.fees_in_quote.checked_add(valued).ok_or(OVF)?;
            }
            FeeAsset::Quote => {
                // Qty and Notional share the 10^-8 scale.
                let q = Notional::from_raw(i128::from(fee.raw())).ok_or(OVF)?;
                self.fees_quote = self.fees_quote.checked_add(q).ok_or(OVF)?;
                self.fees_in_quote = self.fees_in_quote.checked_add(q).ok_or(OVF)?;
            }
            FeeAsset::Other => {
                self.fees_other = self.fees_other.checked_add(fee).ok_or(OVF)?;
            }
        }
        Ok(())
    }
}

/// Whole UTC days since the Unix epoch for a wall-clock time in Unix
/// nanoseconds: the usual day index for [`PositionBook::roll_day`].
#[inline]
pub const fn utc_day(unix_nanos: u64) -> u32 {
    const DAY_NS: u64 = 86_400 * 1_000_000_000;
    // u64::MAX / DAY_NS ≈ 213 503 < u32::MAX: the cast is lossless.
    (unix_nanos / DAY_NS) as u32
}

/// Every instrument's [`Position`], dense by [`InstrumentId`], with the
/// current day index.
///
/// Allocates once in [`PositionBook::new`]; never after.
#[derive(Debug)]
pub struct PositionBook {
    positions: Box<[Position]>,
    day: u32,
}

impl PositionBook {
    /// A book for instruments `0..capacity` (at most
    /// [`InstrumentTable::MAX_INSTRUMENTS`], the number of ids), all flat,
    /// on day `day`. The only allocation.
    pub fn new(capacity: usize, day: u32) -> PositionBook {
        let capacity = capacity.min(InstrumentTable::MAX_INSTRUMENTS);
        PositionBook {
            positions: vec![Position::FLAT; capacity].into_boxed_slice(),
            day,
        }
    }

    /// How many instruments the book holds.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.positions.len()
    }

    /// The current day index.
    #[inline]
    pub const fn day(&self) -> u32 {
        self.day
    }

    /// The position of `id`, or `None` beyond the capacity.
    #[inline]
    pub fn get(&self, id: InstrumentId) -> Option<&Position> {
        self.positions.get(id.index())
    }

    /// Applies a report to its instrument's position (see
    /// [`Position::apply`]).
    pub fn apply(&mut self, report: &ExecReport) -> Result<bool, PositionError> {
        self.positions
            .get_mut(report.instrument.index())
            .ok_or(PositionError::UnknownInstrument)?
            .apply(report)
    }

    /// Moves to day `day` if it is later than the current one, resetting
    /// every position's daily PnL at the mark `mark(id)` gives (or its last
    /// fill price when `None`). Returns true if the day changed. An earlier
    /// or equal day is ignored (a clock step backwards never resets).
    pub fn roll_day(
        &mut self,
        day: u32,
        mut mark: impl FnMut(InstrumentId) -> Option<Price>,
    ) -> bool {
        if day <= self.day {
            return false;
        }
        self.day = day;
        for (i, p) in self.positions.iter_mut().enumerate() {
            let id = InstrumentId(u16::try_from(i).unwrap_or(u16::MAX));
            let m = mark(id).unwrap_or(p.last_fill_price);
            p.start_day(m);
        }
        true
    }

    /// Σ daily PnL over every instrument (assumes one quote asset), each
    /// marked at `mark(id)` or its last fill price; `None` on overflow.
    pub fn daily_pnl(
        &self,
        mut mark: impl FnMut(InstrumentId) -> Option<Price>,
    ) -> Option<Notional> {
        let mut total = Notional::ZERO;
        for (i, p) in self.positions.iter().enumerate() {
            if p.fills == 0 && p.day_baseline.is_zero() {
                continue;
            }
            let id = InstrumentId(u16::try_from(i).ok()?);
            let m = mark(id).unwrap_or(p.last_fill_price);
            total = total.checked_add(p.daily_pnl(m)?)?;
        }
        Some(total)
    }

    /// Iterates `(id, position)` for every instrument.
    pub fn iter(&self) -> impl Iterator<Item = (InstrumentId, &Position)> + '_ {
        self.positions
            .iter()
            .enumerate()
            .map(|(i, p)| (InstrumentId(u16::try_from(i).unwrap_or(u16::MAX)), p))
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

    fn fill(side: Side, qty: Qty, price: Price) -> ExecReport {
        ExecReport {
            side,
            trade_id: 1,
            last_qty: qty,
            last_price: price,
            ..ExecReport::ZERO
        }
    }

    fn fill_fee(side: Side, qty: Qty, price: Price, fee: Qty, asset: FeeAsset) -> ExecReport {
        ExecReport {
            fee,
            fee_asset: asset,
            ..fill(side, qty, price)
        }
    }

    #[test]
    fn non_fill_is_ignored() {
        let mut p = Position::FLAT;
        let r = ExecReport {
            last_qty: q("1"),
            last_price: px("10"),
            ..ExecReport::ZERO
        };
        assert_eq!(p.apply(&r), Ok(false));
        assert_eq!(p, Position::FLAT);
    }

    #[test]
    fn invalid_fills_are_refused_and_change_nothing() {
        let mut p = Position::FLAT;
        p.apply(&fill(Side::Buy, q("1"), px("10"))).unwrap();
        let before = p;
        for r in [
            fill(Side::Buy, Qty::ZERO, px("10")),
            fill(Side::Buy, Qty::from_raw(-5), px("10")),
            fill(Side::Sell, q("1"), Price::ZERO),
            fill(Side::Sell, q("1"), Price::from_raw(-1)),
            fill_fee(
                Side::Sell,
                q("1"),
                px("1"),
                Qty::from_raw(-1),
                FeeAsset::Quote,
            ),
        ] {
            assert_eq!(p.apply(&r), Err(PositionError::InvalidFill));
            assert_eq!(p, before);
        }
    }

    #[test]
    fn increase_reaverages() {
        let mut p = Position::FLAT;
        p.apply(&fill(Side::Buy, q("1"), px("100"))).unwrap();
        assert_eq!(p.avg_price(), px("100"));
        p.apply(&fill(Side::Buy, q("3"), px("200"))).unwrap();
        assert_eq!(p.qty(), q("4"));
        assert_eq!(p.avg_price(), px("175"));
        assert_eq!(p.realised(), Notional::ZERO);
        assert_eq!(p.unrealised(px("180")).unwrap(), n("20"));
    }

    #[test]
    fn reduce_realises_against_average() {
        let mut p = Position::FLAT;
        p.apply(&fill(Side::Buy, q("2"), px("100"))).unwrap();
        p.apply(&fill(Side::Buy, q("2"), px("200"))).unwrap();
        p.apply(&fill(Side::Sell, q("1"), px("180"))).unwrap();
        assert_eq!(p.qty(), q("3"));
        assert_eq!(p.realised(), n("30"));
        assert_eq!(p.avg_price(), px("150"));
    }

    #[test]
    fn close_realises_all_and_goes_flat() {
        let mut p = Position::FLAT;
        p.apply(&fill(Side::Sell, q("2"), px("100"))).unwrap();
        assert_eq!(p.qty(), q("-2"));
        assert_eq!(p.avg_price(), px("100"));
        assert_eq!(p.unrealised(px("90")).unwrap(), n("20"));
        p.apply(&fill(Side::Buy, q("2"), px("90"))).unwrap();
        assert!(p.is_flat());
        assert_eq!(p.realised(), n("20"));
        assert_eq!(p.avg_price(), Price::ZERO);
        assert_eq!(p.unrealised(px("1")).unwrap(), Notional::ZERO);
    }

    #[test]
    fn flip_realises_closed_part_and_opens_rest_at_fill_price() {
        let mut p = Position::FLAT;
        p.apply(&fill(Side::Buy, q("1"), px("100"))).unwrap();
        p.apply(&fill(Side::Sell, q("3"), px("110"))).unwrap();
        assert_eq!(p.qty(), q("-2"));
        assert_eq!(p.realised(), n("10"));
        assert_eq!(p.avg_price(), px("110"));
        p.apply(&fill(Side::Buy, q("5"), px("100"))).unwrap();
        assert_eq!(p.qty(), q("3"));
        assert_eq!(p.realised(), n("30"));
        assert_eq!(p.avg_price(), px("100"));
    }

    #[test]
    fn truncation_stays_in_cost_basis() {
        // Cost 10 (raw16) for 4 raw units: each quarter is 2.5; reductions realise
        // truncated shares but the sum over the whole close is exact.
        let mut p = Position::FLAT;
        p.apply(&fill(Side::Buy, Qty::from_raw(3), Price::from_raw(3)))
            .unwrap();
        p.apply(&fill(Side::Buy, Qty::from_raw(1), Price::from_raw(1)))
            .unwrap();
        // cost16 = 10, qty 4
        for _ in 0..4 {
            p.apply(&fill(Side::Sell, Qty::from_raw(1), Price::from_raw(5)))
                .unwrap();
        }
        assert!(p.is_flat());
        assert_eq!(p.realised16, 20 - 10);
        assert_eq!(p.cost16, 0);
    }

    #[test]
    fn fees_by_asset() {
        let mut p = Position::FLAT;
        p.apply(&fill_fee(
            Side::Buy,
            q("1"),
            px("100"),
            q("0.001"),
            FeeAsset::Base,
        ))
        .unwrap();
        p.apply(&fill_fee(
            Side::Sell,
            q("0.5"),
            px("120"),
            q("0.06"),
            FeeAsset::Quote,
        ))
        .unwrap();
        p.apply(&fill_fee(
            Side::Sell,
            q("0.1"),
            px("120"),
            q("0.0001"),
            FeeAsset::Other,
        ))
        .unwrap();
        p.apply(&fill_fee(
            Side::Sell,
            q("0.1"),
            px("120"),
            q("5"),
            FeeAsset::None,
        ))
        .unwrap();
        assert_eq!(p.fees_base(), q("0.001"));
        assert_eq!(p.fees_quote(), n("0.06"));
        assert_eq!(p.fees_other(), q("0.0001"));
        assert_eq!(p.fees_in_quote(), n("0.16"));
        assert_eq!(p.qty(), q("0.3"));
        assert_eq!(p.net_base().unwrap(), q("0.299"));
        // realised 0.7 × 20 = 14; unrealised at 120: 0.3 × 20 = 6.
        assert_eq!(p.gross_pnl(px("120")).unwrap(), n("20"));
        assert_eq!(p.net_pnl(px("120")).unwrap(), n("19.84"));
        assert_eq!(p.fills(), 4);
        assert_eq!(p.last_fill_price(), px("120"));
    }

    #[test]
    fn overflow_is_refused_and_changes_nothing() {
        let mut p = Position::FLAT;
        p.apply(&fill(Side::Buy, Qty::MAX, Price::MAX)).unwrap();
        let before = p;
        assert_eq!(
            p.apply(&fill(Side::Buy, q("1"), px("1"))),
            Err(PositionError::Overflow)
        );
        assert_eq!(p, before);
        // Closing at 1 realises about −8.5e37 raw16 = −8.5e29: beyond Notional.
        assert_eq!(
            p.apply(&fill(Side::Sell, Qty::MAX, Price::from_raw(1))),
            Err(PositionError::Overflow)
        );
        assert_eq!(p, before);
        // Closing at the same price realises zero: fine.
        p.apply(&fill(Side::Sell, Qty::MAX, Price::MAX)).unwrap();
        assert!(p.is_flat());
        assert_eq!(p.realised(), Notional::ZERO);
    }

    #[test]
    fn book_is_dense_and_bounded() {
        let mut b = PositionBook::new(2, 10);
        assert_eq!(b.capacity(), 2);
        let mut r = fill(Side::Buy, q("1"), px("10"));
        r.instrument = InstrumentId(1);
        assert_eq!(b.apply(&r), Ok(true));
        assert_eq!(b.get(InstrumentId(1)).unwrap().qty(), q("1"));
        assert_eq!(b.get(InstrumentId(0)).unwrap().qty(), Qty::ZERO);
        r.instrument = InstrumentId(2);
        assert_eq!(b.apply(&r), Err(PositionError::UnknownInstrument));
        assert!(b.get(InstrumentId(2)).is_none());
        assert_eq!(b.iter().count(), 2);
    }

    #[test]
    fn daily_pnl_resets_at_the_given_day_boundary() {
        let mut b = PositionBook::new(2, 100);
        let mut r = fill(Side::Buy, q("2"), px("10"));
        b.apply(&r).unwrap();
        r.instrument = InstrumentId(1);
        r.side = Side::Sell;
        b.apply(&r).unwrap();
        let marks = |id: InstrumentId| Some(if id.0 == 0 { px("12") } else { px("11") });
        // +4 on the long, −2 on the short.
        assert_eq!(b.daily_pnl(marks).unwrap(), n("2"));
        // Same or earlier day: no reset.
        assert!(!b.roll_day(100, marks));
        assert!(!b.roll_day(99, marks));
        assert_eq!(b.daily_pnl(marks).unwrap(), n("2"));
        assert!(b.roll_day(101, marks));
        assert_eq!(b.day(), 101);
        assert_eq!(b.daily_pnl(marks).unwrap(), Notional::ZERO);
        // Next day: price moves, realise part.
        let marks2 = |id: InstrumentId| Some(if id.0 == 0 { px("13") } else { px("11") });
        assert_eq!(b.daily_pnl(marks2).unwrap(), n("2"));
        let mut s = fill(Side::Sell, q("1"), px("13"));
        s.fee = q("0.5");
        s.fee_asset = FeeAsset::Quote;
        b.apply(&s).unwrap();
        assert_eq!(b.daily_pnl(marks2).unwrap(), n("1.5"));
        // Missing marks fall back to the last fill price (13 and 10):
        // 0: 5.5 net − 4 baseline; 1: 0 − (−2) baseline.
        assert_eq!(b.daily_pnl(|_| None).unwrap(), n("3.5"));
    }

    #[test]
    fn capacity_is_bounded_by_the_id_space() {
        let b = PositionBook::new(usize::MAX >> 40, 0);
        assert_eq!(b.capacity(), InstrumentTable::MAX_INSTRUMENTS);
        assert_eq!(b.iter().last().unwrap().0, InstrumentId(u16::MAX));
    }

    #[test]
    fn avg_price_clamps_instead_of_failing() {
        let mut p = Position::FLAT;
        p.qty = 1;
        p.cost16 = i128::MAX;
        assert_eq!(p.avg_price(), Price::MAX);
        p.cost16 = i128::MIN;
        assert_eq!(p.avg_price().raw(), i64::MIN);
    }

    #[test]
    fn utc_day_boundaries() {
        const D: u64 = 86_400_000_000_000;
        assert_eq!(utc_day(0), 0);
        assert_eq!(utc_day(D - 1), 0);
        assert_eq!(utc_day(D), 1);
        assert_eq!(utc_day(u64::MAX), (u64::MAX / D) as u32);
    }

    #[test]
    fn mul_div_le_matches_exact_when_small() {
        for (a, b, d) in [
            (10i128, 1i128, 3i128),
            (-10, 1, 3),
            (10, -2, 3),
            (-10, 2, -3),
            (7, 7, 7),
        ] {
            assert_eq!(mul_div_le(a, b, d), Some(a * b / d));
        }
        assert_eq!(
            mul_div_le(i128::MAX, i128::from(i64::MAX), i128::from(i64::MAX)),
            Some(i128::MAX)
        );
        assert_eq!(mul_div_le(1, 1, 0), None);
    }

    fn arb_fill() -> impl Strategy<Value = (bool, i64, i64)> {
        // Realistic-to-large magnitudes: up to 10^6 units at up to 10^7.
        (
            any::<bool>(),
            1i64..100_000_000_000_000,
            1i64..1_000_000_000_000_000,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn pnl_equals_cash_flow(fills in prop::collection::vec(arb_fill(), 1..40), mark in 1i64..1_000_000_000_000_000) {
            let mut p = Position::FLAT;
            let mut cash16: i128 = 0;
            let mut net: i128 = 0;
            let mut last = 0i64;
            for &(buy, qty, price) in &fills {
                let side = if buy { Side::Buy } else { Side::Sell };
                prop_assert_eq!(p.apply(&fill(side, Qty::from_raw(qty), Price::from_raw(price))), Ok(true));
                let d = if buy { i128::from(qty) } else { -i128::from(qty) };
                cash16 -= d * i128::from(price);
                net += d;
                last = price;
            }
            prop_assert_eq!(i128::from(p.qty().raw()), net);
            for m in [last, mark] {
                let exact = cash16 + net * i128::from(m);
                // Exact in 10^-16 units.
                prop_assert_eq!(p.realised16 + p.unrealised16(Price::from_raw(m)).unwrap(), exact);
                // Within 2 raw units in the truncated public views.
                let views = p.realised().raw() + p.unrealised(Price::from_raw(m)).unwrap().raw();
                prop_assert!((views - exact / i128::from(SCALE)).abs() <= 2);
                prop_assert_eq!(p.gross_pnl(Price::from_raw(m)).unwrap().raw(), exact / i128::from(SCALE));
            }
            // The average lies within the range of fill prices, give or take
            // one raw unit per fill (truncated shares stay in the basis).
            if !p.is_flat() {
                let lo = fills.iter().map(|f| f.2).min().unwrap();
                let hi = fills.iter().map(|f| f.2).max().unwrap();
                let k = fills.len() as i64;
                prop_assert!(p.avg_price().raw() >= lo - k && p.avg_price().raw() <= hi + k);
            }
        }

        #[test]
        fn apply_never_panics(
            fills in prop::collection::vec((any::<bool>(), any::<i64>(), any::<i64>(), any::<i64>(), 1u8..=4, any::<u64>()), 1..20),
            mark in any::<i64>(),
        ) {
            let mut b = PositionBook::new(1, 0);
            for (buy, qty, price, fee, asset, trade) in fills {
                let before = *b.get(InstrumentId(0)).unwrap();
                let r = ExecReport {
                    side: if buy { Side::Buy } else { Side::Sell },
                    trade_id: trade,
                    last_qty: Qty::from_raw(qty),
                    last_price: Price::from_raw(price),
                    fee: Qty::from_raw(fee),
                    fee_asset: FeeAsset::from_u8(asset).unwrap(),
                    ..ExecReport::ZERO
                };
                match b.apply(&r) {
                    Ok(true) => {}
                    Ok(false) | Err(_) => prop_assert_eq!(*b.get(InstrumentId(0)).unwrap(), before),
                }
                let p = b.get(InstrumentId(0)).unwrap();
                let _ = (p.avg_price(), p.realised(), p.unrealised(Price::from_raw(mark)), p.net_pnl(Price::from_raw(mark)), p.net_base());
                let _ = b.daily_pnl(|_| Some(Price::from_raw(mark)));
            }
            let _ = b.roll_day(1, |_| Some(Price::from_raw(mark)));
        }
    }
}
