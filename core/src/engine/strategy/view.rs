//! What a strategy sees: per-instrument book state, positions and the
//! engine's open orders, borrowed from the engine for one callback.
//!
//! Owns [`BookState`] (top of book, last trade, staleness, updated from
//! [`MarketEvent`]s), [`OpenOrder`] / [`OpenOrders`] (the engine's
//! fixed-capacity open-order table) and [`MarketView`]. Nothing here
//! allocates after [`OpenOrders::with_capacity`], reads a clock or decides.

use crate::clock::Nanos;
use crate::engine::position::{Position, PositionBook};
use crate::event::{
    ClientOrderId, MarketData, MarketEvent, OrderStatus, OrderType, Side, TimeInForce, Trade,
};
use crate::instrument::{Filters, InstrumentId, InstrumentTable};
use crate::num::{Price, Qty};

/// One instrument's market state as the engine last saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookState {
    /// Best bid price (zero if unknown).
    pub bid_price: Price,
    /// Quantity at the best bid.
    pub bid_qty: Qty,
    /// Best ask price (zero if unknown).
    pub ask_price: Price,
    /// Quantity at the best ask.
    pub ask_qty: Qty,
    /// The last public trade, if any.
    pub last_trade: Option<Trade>,
    /// The feed marked the instrument stale (and has not marked it fresh).
    pub stale: bool,
    /// A depth update removed a best level: the top is unknown until the
    /// next top-of-book update.
    pub top_unknown: bool,
    /// Engine time of the last update.
    pub updated: Nanos,
    /// Market events applied.
    pub events: u64,
}

impl BookState {
    /// Nothing known yet.
    pub const EMPTY: BookState = BookState {
        bid_price: Price::ZERO,
        bid_qty: Qty::ZERO,
        ask_price: Price::ZERO,
        ask_qty: Qty::ZERO,
        last_trade: None,
        stale: false,
        top_unknown: false,
        updated: Nanos::ZERO,
        events: 0,
    };

    /// Applies one market event at engine time `now`.
    pub fn apply(&mut self, ev: &MarketEvent, now: Nanos) {
        self.updated = now;
        self.events = self.events.saturating_add(1);
        match ev.data() {
            MarketData::TopOfBook(t) => {
                self.bid_price = t.bid_price;
                self.bid_qty = t.bid_qty;
                self.ask_price = t.ask_price;
                self.ask_qty = t.ask_qty;
                self.top_unknown = false;
            }
            MarketData::Trade(t) => self.last_trade = Some(t),
            MarketData::DepthLevel(d) => {
                let better = match d.side {
                    Side::Buy => d.price > self.bid_price,
                    Side::Sell => !self.ask_price.is_positive() || d.price < self.ask_price,
                };
                let (best, best_qty) = match d.side {
                    Side::Buy => (&mut self.bid_price, &mut self.bid_qty),
                    Side::Sell => (&mut self.ask_price, &mut self.ask_qty),
                };
                if d.qty.is_positive() && (better || d.price == *best) {
                    *best = d.price;
                    *best_qty = d.qty;
                } else if d.qty.is_zero() && d.price == *best {
                    self.top_unknown = true;
                }
            }
            MarketData::Stale => self.stale = true,
            MarketData::Fresh => self.stale = false,
        }
    }

    /// True if both sides are known, uncrossed, and the feed calls the
    /// instrument fresh.
    #[inline]
    pub fn healthy(&self) -> bool {
        !self.stale
            && !self.top_unknown
            && self.bid_price.is_positive()
            && self.ask_price.is_positive()
            && self.bid_price < self.ask_price
    }

    /// `(bid + ask) / 2`, truncated, when both sides are known and uncrossed.
    #[inline]
    pub fn mid(&self) -> Option<Price> {
        if !(self.bid_price.is_positive() && self.bid_price < self.ask_price) {
            return None;
        }
        let m = (i128::from(self.bid_price.raw()) + i128::from(self.ask_price.raw())) / 2;
        i64::try_from(m).ok().map(Price::from_raw)
    }
}

/// One order the engine sent and has not seen finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOrder {
    /// Its id.
    pub client_order_id: ClientOrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Time in force.
    pub tif: TimeInForce,
    /// Limit price.
    pub price: Price,
    /// Original quantity.
    pub qty: Qty,
    /// Filled so far.
    pub cum_qty: Qty,
    /// Last status reported (`PendingNew` until the venue answers).
    pub status: OrderStatus,
    /// A cancel (or cancel-all) for it has been sent.
    pub cancel_pending: bool,
}

impl OpenOrder {
    /// A just-sent order.
    pub const fn new(
        client_order_id: ClientOrderId,
        instrument: InstrumentId,
        side: Side,
        order_type: OrderType,
        tif: TimeInForce,
        price: Price,
        qty: Qty,
    ) -> OpenOrder {
        OpenOrder {
            client_order_id,
            instrument,
            side,
            order_type,
            tif,
            price,
            qty,
            cum_qty: Qty::ZERO,
            status: OrderStatus::PendingNew,
            cancel_pending: false,
        }
    }

    /// Unfilled quantity (never negative).
    #[inline]
    pub fn remaining(&self) -> Qty {
        self.qty
            .checked_sub(self.cum_qty)
            .filter(|r| r.is_positive())
            .unwrap_or(Qty::ZERO)
    }
}

/// The engine's open orders: a fixed-capacity table, scanned linearly
/// (capacity is tens to hundreds). Allocates once.
#[derive(Clone, Debug)]
pub struct OpenOrders {
    orders: Vec<OpenOrder>,
    capacity: usize,
}

/// The open-order table is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("open-order table full")]
pub struct TableFull;

impl OpenOrders {
    /// An empty table for at most `capacity` orders (the only allocation).
    pub fn with_capacity(capacity: usize) -> OpenOrders {
        OpenOrders {
            orders: Vec::with_capacity(capacity),
            capacity,
        }
    }

    /// Orders held.
    #[inline]
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    /// True when no order can be added.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.orders.len() >= self.capacity
    }

    /// Adds an order (never grows past the capacity: no reallocation).
    pub fn insert(&mut self, order: OpenOrder) -> Result<(), TableFull> {
        if self.is_full() {
            return Err(TableFull);
        }
        self.orders.push(order);
        Ok(())
    }

    /// The order with id `id`.
    pub fn get(&self, id: &ClientOrderId) -> Option<&OpenOrder> {
        self.orders.iter().find(|o| o.client_order_id == *id)
    }

    /// The order with id `id`, mutable.
    pub fn get_mut(&mut self, id: &ClientOrderId) -> Option<&mut OpenOrder> {
        self.orders.iter_mut().find(|o| o.client_order_id == *id)
    }

    /// Removes and returns the order with id `id`.
    pub fn remove(&mut self, id: &ClientOrderId) -> Option<OpenOrder> {
        let i = self.orders.iter().position(|o| o.client_order_id == *id)?;
        Some(self.orders.swap_remove(i))
    }

    /// Marks the order's cancel as sent.
    pub fn mark_cancel_pending(&mut self, id: &ClientOrderId) {
        if let Some(o) = self.get_mut(id) {
            o.cancel_pending = true;
        }
    }

    /// Marks every order on `instrument` as cancel-pending.
    pub fn mark_all_cancel_pending(&mut self, instrument: InstrumentId) {
        for o in self
            .orders
            .iter_mut()
            .filter(|o| o.instrument == instrument)
        {
            o.cancel_pending = true;
        }
    }

    /// Every open order.
    pub fn iter(&self) -> impl Iterator<Item = &OpenOrder> + '_ {
        self.orders.iter()
    }

    /// Open orders on `instrument`.
    pub fn on(&self, instrument: InstrumentId) -> impl Iterator<Item = &OpenOrder> + '_ {
        self.orders
            .iter()
            .filter(move |o| o.instrument == instrument)
    }

    /// Unfilled quantity of open orders on `instrument` and `side`.
    pub fn open_qty(&self, instrument: InstrumentId, side: Side) -> Qty {
        self.on(instrument)
            .filter(|o| o.side == side)
            .fold(Qty::ZERO, |acc, o| {
                acc.checked_add(o.remaining()).unwrap_or(Qty::MAX)
            })
    }

    /// True if `instrument` has an order with no cancel pending.
    pub fn has_cancellable(&self, instrument: InstrumentId) -> bool {
        self.on(instrument).any(|o| !o.cancel_pending)
    }
}

/// A read-only view of the engine's state for one strategy callback.
#[derive(Clone, Copy, Debug)]
pub struct MarketView<'a> {
    instruments: &'a InstrumentTable,
    books: &'a [BookState],
    positions: &'a PositionBook,
    orders: &'a OpenOrders,
    now: Nanos,
}

impl<'a> MarketView<'a> {
    /// A view over the engine's state at `now` (also used by tests and
    /// replay to drive a strategy without an engine).
    pub fn new(
        instruments: &'a InstrumentTable,
        books: &'a [BookState],
        positions: &'a PositionBook,
        orders: &'a OpenOrders,
        now: Nanos,
    ) -> MarketView<'a> {
        MarketView {
            instruments,
            books,
            positions,
            orders,
            now,
        }
    }

    /// The engine's clock value for this duty cycle.
    #[inline]
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// The instrument table.
    #[inline]
    pub fn instruments(&self) -> &'a InstrumentTable {
        self.instruments
    }

    /// The instrument's filters.
    #[inline]
    pub fn filters(&self, id: InstrumentId) -> Option<&'a Filters> {
        self.instruments.get(id).map(|s| &s.filters)
    }

    /// The instrument's book state.
    #[inline]
    pub fn book(&self, id: InstrumentId) -> Option<&'a BookState> {
        self.books.get(id.index())
    }

    /// The instrument's mid, if its book is two-sided.
    #[inline]
    pub fn mid(&self, id: InstrumentId) -> Option<Price> {
        self.book(id).and_then(BookState::mid)
    }

    /// True if the instrument's book is healthy (see [`BookState::healthy`]).
    #[inline]
    pub fn healthy(&self, id: InstrumentId) -> bool {
        self.book(id).is_some_and(BookState::healthy)
    }

    /// The signed position on the instrument.
    #[inline]
    pub fn position(&self, id: InstrumentId) -> Qty {
        self.positions.get(id).map_or(Qty::ZERO, Position::qty)
    }

    /// The full position record (average price, realised PnL, fees).
    #[inline]
    pub fn position_detail(&self, id: InstrumentId) -> Option<&'a Position> {
        self.positions.get(id)
    }

    /// The open orders on the instrument.
    #[inline]
    pub fn open_orders(&self, id: InstrumentId) -> impl Iterator<Item = &'a OpenOrder> + 'a {
        self.orders.on(id)
    }

    /// Every open order.
    #[inline]
    pub fn all_open_orders(&self) -> &'a OpenOrders {
        self.orders
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::event::{DepthLevel, Stamps, TopOfBook};

    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }

    fn ev(data: MarketData) -> MarketEvent {
        MarketEvent::new(InstrumentId(0), data, Stamps::ZERO)
    }

    #[test]
    fn book_state_follows_events() {
        let mut b = BookState::EMPTY;
        assert!(!b.healthy());
        assert_eq!(b.mid(), None);
        b.apply(
            &ev(MarketData::TopOfBook(TopOfBook {
                update_id: 1,
                bid_price: p("100"),
                bid_qty: Qty::ONE,
                ask_price: p("101"),
                ask_qty: Qty::ONE,
            })),
            Nanos(5),
        );
        assert!(b.healthy());
        assert_eq!(b.mid(), Some(p("100.5")));
        b.apply(&ev(MarketData::Stale), Nanos(6));
        assert!(!b.healthy());
        b.apply(&ev(MarketData::Fresh), Nanos(7));
        assert!(b.healthy());
        // A better bid level moves the top; removing the best bid makes it unknown.
        let lvl = |side, price: &str, qty| {
            ev(MarketData::DepthLevel(DepthLevel {
                update_id: 2,
                side,
                price: p(price),
                qty,
                event_time_ms: 0,
            }))
        };
        b.apply(&lvl(Side::Buy, "100.2", Qty::ONE), Nanos(8));
        assert_eq!(b.bid_price, p("100.2"));
        b.apply(&lvl(Side::Sell, "100.1", Qty::ZERO), Nanos(9));
        assert!(b.healthy());
        b.apply(&lvl(Side::Buy, "100.2", Qty::ZERO), Nanos(9));
        assert!(!b.healthy());
        assert_eq!(b.events, 6);
        assert_eq!(b.updated, Nanos(9));
    }

    #[test]
    fn open_orders_table_is_bounded() {
        let mut t = OpenOrders::with_capacity(2);
        let mk = |seq, side| {
            OpenOrder::new(
                ClientOrderId::from_session_seq(1, seq),
                InstrumentId(0),
                side,
                OrderType::Limit,
                TimeInForce::Gtc,
                p("1"),
                Qty::ONE,
            )
        };
        t.insert(mk(1, Side::Buy)).unwrap();
        t.insert(mk(2, Side::Sell)).unwrap();
        assert_eq!(t.insert(mk(3, Side::Buy)), Err(TableFull));
        t.get_mut(&ClientOrderId::from_session_seq(1, 1))
            .unwrap()
            .cum_qty = p("0.25").raw().into_qty();
        assert_eq!(
            t.open_qty(InstrumentId(0), Side::Buy),
            Qty::from_raw(75_000_000)
        );
        assert!(t.has_cancellable(InstrumentId(0)));
        t.mark_all_cancel_pending(InstrumentId(0));
        assert!(!t.has_cancellable(InstrumentId(0)));
        assert!(t.remove(&ClientOrderId::from_session_seq(1, 2)).is_some());
        assert_eq!(t.len(), 1);
    }

    trait IntoQty {
        fn into_qty(self) -> Qty;
    }
    impl IntoQty for i64 {
        fn into_qty(self) -> Qty {
            Qty::from_raw(self)
        }
    }
}
