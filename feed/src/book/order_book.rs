//! [`OrderBook`]: one instrument's L2 price ladder with a fixed capacity per
//! side, and [`BookError`].
//!
//! Each side is two parallel arrays (prices, quantities) of `capacity` slots,
//! allocated once in [`OrderBook::new`], kept sorted best-first (bids
//! descending, asks ascending) with a live length. A level update is a binary
//! search (`O(log n)`) plus, for an insert or delete, a shift of the levels
//! behind it (`O(n)` `memmove` of 8-byte words). For the few thousand levels
//! a venue snapshot holds that shift is a few microseconds at worst and
//! near-zero at the top of the book, where almost all updates land, so no
//! tree or hash map (each with allocation or pointer chasing) is worth it.
//!
//! This module never allocates after [`OrderBook::new`], never performs I/O,
//! never blocks and never panics on any input: invalid levels are typed
//! [`BookError`]s.

use talon_core::event::Side;
use talon_core::num::{Price, Qty};

/// A level the book refused. The book is unchanged by the refused level
/// (but see [`OrderBook::apply_snapshot`], which clears on error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    /// A level price of zero or below.
    #[error("{side} level price {price} is not positive")]
    NonPositivePrice {
        /// Side of the level.
        side: Side,
        /// The refused price.
        price: Price,
    },
    /// A level quantity below zero (zero deletes; below zero is nonsense).
    #[error("{side} level {price} has negative quantity {qty}")]
    NegativeQty {
        /// Side of the level.
        side: Side,
        /// Level price.
        price: Price,
        /// The refused quantity.
        qty: Qty,
    },
}

/// What [`OrderBook::apply_level`] did with a valid level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelChange {
    /// A new price level was inserted.
    Inserted,
    /// A new level was inserted at a full side, so the side's worst level
    /// fell off the far end (counted in [`OrderBook::levels_dropped`]).
    InsertedDroppingWorst,
    /// An existing level's quantity was replaced.
    Updated,
    /// An existing level was removed (quantity zero).
    Removed,
    /// Quantity zero for a price the book does not hold: nothing to do.
    AbsentRemoval,
    /// A new level worse than every level of a full side: not stored
    /// (counted in [`OrderBook::levels_dropped`]).
    DroppedBeyondCapacity,
}

/// One side: parallel sorted arrays, best first.
#[derive(Clone, Debug)]
struct Ladder {
    prices: Box<[Price]>,
    qtys: Box<[Qty]>,
    len: usize,
    /// Bids: best = highest price first.
    descending: bool,
}

impl Ladder {
    fn new(capacity: usize, descending: bool) -> Ladder {
        Ladder {
            prices: vec![Price::ZERO; capacity].into_boxed_slice(),
            qtys: vec![Qty::ZERO; capacity].into_boxed_slice(),
            len: 0,
            descending,
        }
    }

    #[inline]
    fn capacity(&self) -> usize {
        self.prices.len()
    }

    /// `Ok(index)` of `price`, or `Err(index)` where it would be inserted to
    /// keep best-first order.
    #[inline]
    fn search(&self, price: Price) -> Result<usize, usize> {
        let live = self.prices.get(..self.len).unwrap_or(&[]);
        if self.descending {
            // Sorted descending: an element "comes before" `price` when it is
            // greater, i.e. `price.cmp(elem) == Less`.
            live.binary_search_by(|p| price.cmp(p))
        } else {
            live.binary_search(&price)
        }
    }

    /// Sets `price` to `qty` (qty already validated ≥ 0; zero removes).
    fn set(&mut self, price: Price, qty: Qty) -> LevelChange {
        let cap = self.capacity();
        match self.search(price) {
            Ok(i) => {
                if qty.is_zero() {
                    // Shift the levels behind `i` one slot towards the top.
                    self.prices.copy_within(i + 1..self.len, i);
                    self.qtys.copy_within(i + 1..self.len, i);
                    self.len -= 1;
                    LevelChange::Removed
                } else {
                    self.qtys[i] = qty;
                    LevelChange::Updated
                }
            }
            Err(_) if qty.is_zero() => LevelChange::AbsentRemoval,
            Err(i) if i >= cap => LevelChange::DroppedBeyondCapacity,
            Err(i) => {
                let change = if self.len == cap {
                    // Full: the worst level (index cap-1) falls off.
                    self.len = cap - 1;
                    LevelChange::InsertedDroppingWorst
                } else {
                    LevelChange::Inserted
                };
                self.prices.copy_within(i..self.len, i + 1);
                self.qtys.copy_within(i..self.len, i + 1);
                self.prices[i] = price;
                self.qtys[i] = qty;
                self.len += 1;
                change
            }
        }
    }

    #[inline]
    fn best(&self) -> Option<(Price, Qty)> {
        if self.len == 0 {
            None
        } else {
            Some((self.prices[0], self.qtys[0]))
        }
    }

    #[inline]
    fn iter(&self) -> impl ExactSizeIterator<Item = (Price, Qty)> + DoubleEndedIterator + '_ {
        let n = self.len;
        self.prices[..n]
            .iter()
            .copied()
            .zip(self.qtys[..n].iter().copied())
    }
}

/// One instrument's L2 book: sorted price levels per side in fixed arrays.
///
/// The capacity per side is chosen at construction and never grows; nothing
/// allocates after [`OrderBook::new`].
///
/// **Levels beyond capacity.** A new level worse than every level of a full
/// side is not stored, and a new level better than the worst one of a full
/// side pushes the worst one out; both are counted in
/// [`OrderBook::levels_dropped`]. This mirrors the venue's own rule for its
/// snapshot depth (binance-protocol.md §1: "Levels beyond that stay unknown
/// until an update touches them"): the top of the book is exact, the far
/// end may have holes, and a later update to a dropped price re-inserts it
/// if it fits. Choose a capacity at least the snapshot depth requested.
///
/// ```
/// use talon_feed::book::OrderBook;
/// use talon_core::{event::Side, num::{Price, Qty}};
/// let p = |s| Price::parse(s).unwrap();
/// let q = |s| Qty::parse(s).unwrap();
/// let mut book = OrderBook::new(2);
/// book.apply_snapshot(10, [(p("100"), q("1")), (p("99"), q("2"))], [(p("101"), q("3"))])?;
/// book.apply_level(Side::Buy, p("100.5"), q("4"))?; // pushes 99 out (capacity 2)
/// assert_eq!(book.best_bid(), Some((p("100.5"), q("4"))));
/// assert_eq!(book.levels_dropped(), 1);
/// book.apply_level(Side::Sell, p("101"), Qty::ZERO)?; // qty 0 deletes
/// assert_eq!(book.best_ask(), None);
/// assert!(!book.is_crossed());
/// # Ok::<(), talon_feed::book::BookError>(())
/// ```
#[derive(Clone, Debug)]
pub struct OrderBook {
    bids: Ladder,
    asks: Ladder,
    last_update_id: u64,
    levels_dropped: u64,
}

impl OrderBook {
    /// An empty book holding at most `levels` price levels per side
    /// (allocated here, once). Zero is allowed and stores nothing (every
    /// level is counted as dropped).
    pub fn new(levels: usize) -> OrderBook {
        OrderBook {
            bids: Ladder::new(levels, true),
            asks: Ladder::new(levels, false),
            last_update_id: 0,
            levels_dropped: 0,
        }
    }

    /// Levels per side this book can hold.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.bids.capacity()
    }

    /// Empties both sides and sets the update id to 0. Keeps the counters.
    pub fn clear(&mut self) {
        self.bids.len = 0;
        self.asks.len = 0;
        self.last_update_id = 0;
    }

    /// Replaces the book with a snapshot (any level order; zero quantities
    /// are skipped; a repeated price keeps the last quantity) and sets the
    /// update id. On an invalid level the book is left **empty** (id 0) and
    /// the error returned: a half-loaded snapshot is never visible.
    ///
    /// Cost: `O(n log n)` for venue-sorted input (each level lands at the
    /// end of its side, no shift).
    pub fn apply_snapshot(
        &mut self,
        last_update_id: u64,
        bids: impl IntoIterator<Item = (Price, Qty)>,
        asks: impl IntoIterator<Item = (Price, Qty)>,
    ) -> Result<(), BookError> {
        self.clear();
        let loaded = self
            .apply_side(Side::Buy, bids)
            .and_then(|()| self.apply_side(Side::Sell, asks));
        match loaded {
            Ok(()) => {
                self.last_update_id = last_update_id;
                Ok(())
            }
            Err(e) => {
                self.clear();
                Err(e)
            }
        }
    }

    fn apply_side(
        &mut self,
        side: Side,
        levels: impl IntoIterator<Item = (Price, Qty)>,
    ) -> Result<(), BookError> {
        for (price, qty) in levels {
            self.apply_level(side, price, qty)?;
        }
        Ok(())
    }

    /// Sets one level: a positive quantity inserts or replaces, zero
    /// deletes. The update id is not changed (the caller sets it once per
    /// diff). `O(log n)` search plus an `O(n)` shift on insert or delete.
    #[inline]
    pub fn apply_level(
        &mut self,
        side: Side,
        price: Price,
        qty: Qty,
    ) -> Result<LevelChange, BookError> {
        if price.raw() <= 0 {
            return Err(BookError::NonPositivePrice { side, price });
        }
        if qty.raw() < 0 {
            return Err(BookError::NegativeQty { side, price, qty });
        }
        let ladder = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let change = ladder.set(price, qty);
        if matches!(
            change,
            LevelChange::InsertedDroppingWorst | LevelChange::DroppedBeyondCapacity
        ) {
            self.levels_dropped += 1;
        }
        Ok(change)
    }

    /// Highest bid, if any.
    #[inline]
    pub fn best_bid(&self) -> Option<(Price, Qty)> {
        self.bids.best()
    }

    /// Lowest ask, if any.
    #[inline]
    pub fn best_ask(&self) -> Option<(Price, Qty)> {
        self.asks.best()
    }

    /// Bid levels, best (highest) first.
    #[inline]
    pub fn bids(&self) -> impl ExactSizeIterator<Item = (Price, Qty)> + DoubleEndedIterator + '_ {
        self.bids.iter()
    }

    /// Ask levels, best (lowest) first.
    #[inline]
    pub fn asks(&self) -> impl ExactSizeIterator<Item = (Price, Qty)> + DoubleEndedIterator + '_ {
        self.asks.iter()
    }

    /// Levels of `side` (`Buy` = bids), best first.
    #[inline]
    pub fn levels(
        &self,
        side: Side,
    ) -> impl ExactSizeIterator<Item = (Price, Qty)> + DoubleEndedIterator + '_ {
        match side {
            Side::Buy => self.bids.iter(),
            Side::Sell => self.asks.iter(),
        }
    }

    /// Number of levels held on `side`.
    #[inline]
    pub fn depth(&self, side: Side) -> usize {
        match side {
            Side::Buy => self.bids.len,
            Side::Sell => self.asks.len,
        }
    }

    /// Whether both sides are empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.bids.len == 0 && self.asks.len == 0
    }

    /// The venue update id the book reflects (snapshot `lastUpdateId`, then
    /// the `u` of the last applied diff); 0 when cleared.
    #[inline]
    pub fn last_update_id(&self) -> u64 {
        self.last_update_id
    }

    /// Sets the update id (after a diff's levels were applied).
    #[inline]
    pub fn set_last_update_id(&mut self, id: u64) {
        self.last_update_id = id;
    }

    /// Best bid ≥ best ask. A locked book (equal prices) counts as crossed:
    /// a venue's matching engine never leaves either state resting, so
    /// either one means the local copy is wrong.
    #[inline]
    pub fn is_crossed(&self) -> bool {
        match (self.bids.best(), self.asks.best()) {
            (Some((bid, _)), Some((ask, _))) => bid >= ask,
            _ => false,
        }
    }

    /// Levels not stored because a side was full (since construction;
    /// [`OrderBook::clear`] keeps it).
    #[inline]
    pub fn levels_dropped(&self) -> u64 {
        self.levels_dropped
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn p(raw: i64) -> Price {
        Price::from_raw(raw)
    }
    fn q(raw: i64) -> Qty {
        Qty::from_raw(raw)
    }
    fn side(book: &OrderBook, s: Side) -> Vec<(i64, i64)> {
        book.levels(s).map(|(a, b)| (a.raw(), b.raw())).collect()
    }

    #[test]
    fn sorted_best_first_on_both_sides() {
        let mut b = OrderBook::new(8);
        for px in [5, 1, 9, 3, 7] {
            b.apply_level(Side::Buy, p(px), q(px * 10)).unwrap();
            b.apply_level(Side::Sell, p(px + 100), q(px)).unwrap();
        }
        assert_eq!(
            side(&b, Side::Buy),
            [(9, 90), (7, 70), (5, 50), (3, 30), (1, 10)]
        );
        assert_eq!(
            side(&b, Side::Sell),
            [(101, 1), (103, 3), (105, 5), (107, 7), (109, 9)]
        );
        assert_eq!(b.best_bid(), Some((p(9), q(90))));
        assert_eq!(b.best_ask(), Some((p(101), q(1))));
        assert_eq!(b.bids().len(), 5);
        assert_eq!(b.depth(Side::Sell), 5);
    }

    #[test]
    fn update_and_delete_and_absent_delete() {
        let mut b = OrderBook::new(4);
        assert_eq!(
            b.apply_level(Side::Buy, p(10), q(1)),
            Ok(LevelChange::Inserted)
        );
        assert_eq!(
            b.apply_level(Side::Buy, p(10), q(2)),
            Ok(LevelChange::Updated)
        );
        assert_eq!(
            b.apply_level(Side::Buy, p(11), q(0)),
            Ok(LevelChange::AbsentRemoval)
        );
        assert_eq!(
            b.apply_level(Side::Buy, p(10), q(0)),
            Ok(LevelChange::Removed)
        );
        assert!(b.is_empty());
        assert_eq!(b.best_bid(), None);
    }

    #[test]
    fn delete_in_the_middle_shifts() {
        let mut b = OrderBook::new(4);
        for px in [1, 2, 3, 4] {
            b.apply_level(Side::Sell, p(px), q(1)).unwrap();
        }
        b.apply_level(Side::Sell, p(2), q(0)).unwrap();
        assert_eq!(side(&b, Side::Sell), [(1, 1), (3, 1), (4, 1)]);
        b.apply_level(Side::Sell, p(1), q(0)).unwrap();
        b.apply_level(Side::Sell, p(4), q(0)).unwrap();
        assert_eq!(side(&b, Side::Sell), [(3, 1)]);
    }

    #[test]
    fn capacity_drops_far_levels_and_counts() {
        let mut b = OrderBook::new(3);
        for px in [10, 9, 8] {
            b.apply_level(Side::Buy, p(px), q(1)).unwrap();
        }
        // Worse than all of a full side: dropped.
        assert_eq!(
            b.apply_level(Side::Buy, p(7), q(1)),
            Ok(LevelChange::DroppedBeyondCapacity)
        );
        // Better than the worst: inserted, worst (8) falls off.
        assert_eq!(
            b.apply_level(Side::Buy, p(11), q(1)),
            Ok(LevelChange::InsertedDroppingWorst)
        );
        assert_eq!(side(&b, Side::Buy), [(11, 1), (10, 1), (9, 1)]);
        assert_eq!(b.levels_dropped(), 2);
        // Updating an existing level of a full side is not a drop.
        assert_eq!(
            b.apply_level(Side::Buy, p(9), q(5)),
            Ok(LevelChange::Updated)
        );
        assert_eq!(b.levels_dropped(), 2);
        // Deleting frees room for a far level again.
        b.apply_level(Side::Buy, p(10), q(0)).unwrap();
        assert_eq!(
            b.apply_level(Side::Buy, p(7), q(2)),
            Ok(LevelChange::Inserted)
        );
        assert_eq!(side(&b, Side::Buy), [(11, 1), (9, 5), (7, 2)]);
    }

    #[test]
    fn zero_capacity_never_panics() {
        let mut b = OrderBook::new(0);
        assert_eq!(
            b.apply_level(Side::Sell, p(1), q(1)),
            Ok(LevelChange::DroppedBeyondCapacity)
        );
        assert_eq!(
            b.apply_level(Side::Sell, p(1), q(0)),
            Ok(LevelChange::AbsentRemoval)
        );
        assert!(b.is_empty());
        assert_eq!(b.levels_dropped(), 1);
    }

    #[test]
    fn invalid_levels_are_typed_errors_and_leave_the_book_alone() {
        let mut b = OrderBook::new(2);
        b.apply_level(Side::Buy, p(5), q(1)).unwrap();
        assert_eq!(
            b.apply_level(Side::Buy, p(0), q(1)),
            Err(BookError::NonPositivePrice {
                side: Side::Buy,
                price: p(0)
            })
        );
        assert_eq!(
            b.apply_level(Side::Sell, p(-3), q(1)),
            Err(BookError::NonPositivePrice {
                side: Side::Sell,
                price: p(-3)
            })
        );
        assert_eq!(
            b.apply_level(Side::Buy, p(5), q(-1)),
            Err(BookError::NegativeQty {
                side: Side::Buy,
                price: p(5),
                qty: q(-1)
            })
        );
        assert_eq!(side(&b, Side::Buy), [(5, 1)]);
    }

    #[test]
    fn snapshot_replaces_and_invalid_snapshot_leaves_it_empty() {
        let mut b = OrderBook::new(2);
        b.apply_level(Side::Buy, p(50), q(1)).unwrap();
        // Unsorted, over capacity, with a zero and a repeat.
        b.apply_snapshot(
            7,
            [
                (p(1), q(1)),
                (p(3), q(3)),
                (p(2), q(0)),
                (p(4), q(4)),
                (p(3), q(33)),
            ],
            [(p(9), q(9))],
        )
        .unwrap();
        assert_eq!(b.last_update_id(), 7);
        assert_eq!(side(&b, Side::Buy), [(4, 4), (3, 33)]);
        assert_eq!(side(&b, Side::Sell), [(9, 9)]);
        assert_eq!(b.levels_dropped(), 1);
        let err = b.apply_snapshot(8, [(p(1), q(1))], [(p(2), q(-1))]);
        assert!(matches!(err, Err(BookError::NegativeQty { .. })));
        assert!(b.is_empty());
        assert_eq!(b.last_update_id(), 0);
    }

    #[test]
    fn crossed_and_locked_are_flagged() {
        let mut b = OrderBook::new(4);
        assert!(!b.is_crossed());
        b.apply_level(Side::Buy, p(10), q(1)).unwrap();
        assert!(!b.is_crossed());
        b.apply_level(Side::Sell, p(11), q(1)).unwrap();
        assert!(!b.is_crossed());
        b.apply_level(Side::Sell, p(10), q(1)).unwrap();
        assert!(b.is_crossed(), "locked counts as crossed");
        b.apply_level(Side::Sell, p(10), q(0)).unwrap();
        b.apply_level(Side::Buy, p(12), q(1)).unwrap();
        assert!(b.is_crossed());
        b.clear();
        assert!(!b.is_crossed());
        assert!(b.is_empty());
    }

    #[test]
    fn extreme_prices_do_not_panic() {
        let mut b = OrderBook::new(3);
        b.apply_level(Side::Buy, Price::MAX, Qty::MAX).unwrap();
        b.apply_level(Side::Buy, p(1), q(1)).unwrap();
        b.apply_level(Side::Sell, Price::MAX, q(1)).unwrap();
        assert_eq!(b.best_bid(), Some((Price::MAX, Qty::MAX)));
        assert!(b.is_crossed());
        let rev: Vec<_> = b.bids().rev().map(|(p, _)| p.raw()).collect();
        assert_eq!(rev, [1, i64::MAX]);
    }
}
