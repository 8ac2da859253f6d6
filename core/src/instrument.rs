//! Instruments: symbols interned to dense ids, with their exchange filters.
//!
//! This module owns [`InstrumentId`], [`Symbol`], [`Filters`] (with the pure
//! filter checks the risk layer calls), [`InstrumentSpec`] and
//! [`InstrumentTable`]. The table is built once at startup (it allocates
//! then) and is read-only afterwards: lookups by `&str` or `&[u8]` never
//! allocate, and ids are dense (`0..len`), so per-instrument state elsewhere
//! is a plain array indexed by [`InstrumentId::index`]. The hot path never
//! handles a symbol string except at the feed's and gateway's edges, where
//! it resolves it here. This module never does I/O.
//!
//! Filters follow Binance Spot's `PRICE_FILTER`, `LOT_SIZE` and
//! `NOTIONAL`/`MIN_NOTIONAL`: a zero `tick_size`, `step_size`, `min_price`,
//! `max_price` or `max_qty` disables that bound, as on the venue.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};

use crate::num::{Notional, Price, Qty};

/// A dense index of an instrument in its [`InstrumentTable`] (`0..len`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[repr(transparent)]
pub struct InstrumentId(pub u16);

impl InstrumentId {
    /// The id as an array index.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for InstrumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Why text is not a valid [`Symbol`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum SymbolError {
    /// Empty input.
    #[error("empty symbol")]
    Empty,
    /// Longer than [`Symbol::MAX_LEN`] bytes.
    #[error("symbol longer than {} bytes", Symbol::MAX_LEN)]
    TooLong,
    /// A byte that is not `A-Z` or `0-9`.
    #[error("invalid symbol byte at {pos} (only A-Z and 0-9)")]
    InvalidChar {
        /// Byte offset of the offending byte.
        pos: usize,
    },
}

/// A venue symbol or asset code (`BTCUSDT`, `USDT`, `1000SATS`): 1 to 20
/// bytes of upper-case ASCII letters and digits, stored inline (`Copy`, no
/// heap). Bytes past the length are always zero, so the derived equality,
/// ordering and hash are those of the text.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Symbol {
    bytes: [u8; Symbol::MAX_LEN],
    len: u8,
}

impl Symbol {
    /// The longest symbol, in bytes.
    pub const MAX_LEN: usize = 20;

    /// Validates and copies `s`.
    ///
    /// ```
    /// # use talon_core::instrument::Symbol;
    /// assert_eq!(Symbol::new("BTCUSDT")?.as_str(), "BTCUSDT");
    /// assert!(Symbol::new("btcusdt").is_err());
    /// # Ok::<(), talon_core::instrument::SymbolError>(())
    /// ```
    #[inline]
    pub fn new(s: &str) -> Result<Symbol, SymbolError> {
        Symbol::from_bytes(s.as_bytes())
    }

    /// Validates and copies raw bytes (no allocation).
    pub fn from_bytes(b: &[u8]) -> Result<Symbol, SymbolError> {
        if b.is_empty() {
            return Err(SymbolError::Empty);
        }
        if b.len() > Symbol::MAX_LEN {
            return Err(SymbolError::TooLong);
        }
        let mut bytes = [0u8; Symbol::MAX_LEN];
        for (i, &c) in b.iter().enumerate() {
            if !(c.is_ascii_uppercase() || c.is_ascii_digit()) {
                return Err(SymbolError::InvalidChar { pos: i });
            }
            bytes[i] = c;
        }
        Ok(Symbol {
            bytes,
            // len ≤ MAX_LEN = 20 was checked above.
            len: b.len() as u8,
        })
    }

    /// The symbol text.
    #[inline]
    pub fn as_str(&self) -> &str {
        // The constructor admits only ASCII, so this is always Ok.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The symbol bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({})", self.as_str())
    }
}

impl Serialize for Symbol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Symbol, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Symbol;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an upper-case symbol such as \"BTCUSDT\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Symbol, E> {
                Symbol::new(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// Why a price, quantity or notional breaks an instrument's filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[repr(u8)]
pub enum FilterViolation {
    /// Price ≤ 0.
    #[error("price must be positive")]
    PriceNotPositive = 1,
    /// Price below `min_price`.
    #[error("price below min_price")]
    PriceBelowMin = 2,
    /// Price above `max_price`.
    #[error("price above max_price")]
    PriceAboveMax = 3,
    /// `(price − min_price)` is not a multiple of `tick_size`.
    #[error("price not on tick")]
    PriceOffTick = 4,
    /// Quantity ≤ 0.
    #[error("quantity must be positive")]
    QtyNotPositive = 5,
    /// Quantity below `min_qty`.
    #[error("quantity below min_qty")]
    QtyBelowMin = 6,
    /// Quantity above `max_qty`.
    #[error("quantity above max_qty")]
    QtyAboveMax = 7,
    /// `(qty − min_qty)` is not a multiple of `step_size`.
    #[error("quantity not on step")]
    QtyOffStep = 8,
    /// `price × qty` below `min_notional`.
    #[error("notional below min_notional")]
    NotionalBelowMin = 9,
    /// `price × qty` above `max_notional`.
    #[error("notional above max_notional")]
    NotionalAboveMax = 10,
    /// `price × qty` is outside the `Notional` range.
    #[error("notional overflow")]
    NotionalOverflow = 11,
}

impl FilterViolation {
    /// A stable lower-case name for logs and exports.
    pub const fn as_str(self) -> &'static str {
        match self {
            FilterViolation::PriceNotPositive => "price_not_positive",
            FilterViolation::PriceBelowMin => "price_below_min",
            FilterViolation::PriceAboveMax => "price_above_max",
            FilterViolation::PriceOffTick => "price_off_tick",
            FilterViolation::QtyNotPositive => "qty_not_positive",
            FilterViolation::QtyBelowMin => "qty_below_min",
            FilterViolation::QtyAboveMax => "qty_above_max",
            FilterViolation::QtyOffStep => "qty_off_step",
            FilterViolation::NotionalBelowMin => "notional_below_min",
            FilterViolation::NotionalAboveMax => "notional_above_max",
            FilterViolation::NotionalOverflow => "notional_overflow",
        }
    }
}

/// An instrument's exchange filters. Zero disables `tick_size`, `step_size`,
/// `min_price`, `max_price` and `max_qty`; `None` disables `max_notional`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Filters {
    /// Price increment (`PRICE_FILTER.tickSize`).
    pub tick_size: Price,
    /// Quantity increment (`LOT_SIZE.stepSize`).
    pub step_size: Qty,
    /// Smallest quantity (`LOT_SIZE.minQty`).
    pub min_qty: Qty,
    /// Largest quantity (`LOT_SIZE.maxQty`).
    pub max_qty: Qty,
    /// Smallest price (`PRICE_FILTER.minPrice`).
    pub min_price: Price,
    /// Largest price (`PRICE_FILTER.maxPrice`).
    pub max_price: Price,
    /// Smallest `price × qty` (`NOTIONAL.minNotional`).
    pub min_notional: Notional,
    /// Largest `price × qty` (`NOTIONAL.maxNotional`), if any.
    #[serde(default)]
    pub max_notional: Option<Notional>,
}

impl Filters {
    /// Checks a limit price: positive, within `[min_price, max_price]`, and
    /// on the tick grid anchored at `min_price` (Binance's rule).
    pub fn check_price(&self, price: Price) -> Result<(), FilterViolation> {
        if !price.is_positive() {
            return Err(FilterViolation::PriceNotPositive);
        }
        if price < self.min_price {
            return Err(FilterViolation::PriceBelowMin);
        }
        if self.max_price.is_positive() && price > self.max_price {
            return Err(FilterViolation::PriceAboveMax);
        }
        if self.tick_size.is_positive()
            && grid_offset(price.raw(), self.min_price.raw(), self.tick_size.raw()) != 0
        {
            return Err(FilterViolation::PriceOffTick);
        }
        Ok(())
    }

    /// Checks a quantity: positive, within `[min_qty, max_qty]`, and on the
    /// step grid anchored at `min_qty`.
    pub fn check_qty(&self, qty: Qty) -> Result<(), FilterViolation> {
        if !qty.is_positive() {
            return Err(FilterViolation::QtyNotPositive);
        }
        if qty < self.min_qty {
            return Err(FilterViolation::QtyBelowMin);
        }
        if self.max_qty.is_positive() && qty > self.max_qty {
            return Err(FilterViolation::QtyAboveMax);
        }
        if self.step_size.is_positive()
            && grid_offset(qty.raw(), self.min_qty.raw(), self.step_size.raw()) != 0
        {
            return Err(FilterViolation::QtyOffStep);
        }
        Ok(())
    }

    /// Checks `price × qty` (truncated, see [`Price::checked_notional`])
    /// against `[min_notional, max_notional]`.
    pub fn check_notional(&self, price: Price, qty: Qty) -> Result<(), FilterViolation> {
        let notional = price
            .checked_notional(qty)
            .ok_or(FilterViolation::NotionalOverflow)?;
        if notional < self.min_notional {
            return Err(FilterViolation::NotionalBelowMin);
        }
        if let Some(max) = self.max_notional
            && notional > max
        {
            return Err(FilterViolation::NotionalAboveMax);
        }
        Ok(())
    }

    /// All three checks for a limit order, price first.
    pub fn check_order(&self, price: Price, qty: Qty) -> Result<(), FilterViolation> {
        self.check_price(price)?;
        self.check_qty(qty)?;
        self.check_notional(price, qty)
    }

    /// `qty` rounded down onto the step grid (unchanged if `step_size` is 0
    /// or `qty < min_qty`). For sizing child orders.
    pub fn floor_qty(&self, qty: Qty) -> Qty {
        if !self.step_size.is_positive() || qty < self.min_qty {
            return qty;
        }
        let off = grid_offset(qty.raw(), self.min_qty.raw(), self.step_size.raw());
        // 0 ≤ off ≤ qty − min_qty, so the result lies in [min_qty, qty]: fits i64.
        Qty::from_raw(i64::try_from(i128::from(qty.raw()) - off).unwrap_or(qty.raw()))
    }

    /// `price` rounded down onto the tick grid (unchanged if `tick_size` is 0
    /// or `price < min_price`).
    pub fn floor_price(&self, price: Price) -> Price {
        if !self.tick_size.is_positive() || price < self.min_price {
            return price;
        }
        let off = grid_offset(price.raw(), self.min_price.raw(), self.tick_size.raw());
        // 0 ≤ off ≤ price − min_price, so the result lies in [min_price, price].
        Price::from_raw(i64::try_from(i128::from(price.raw()) - off).unwrap_or(price.raw()))
    }

    /// Which field makes the filters themselves unusable: a negative value,
    /// a max below its min, or a negative min notional.
    fn invalid_field(&self) -> Option<&'static str> {
        let negative = [
            ("tick_size", self.tick_size.raw()),
            ("step_size", self.step_size.raw()),
            ("min_qty", self.min_qty.raw()),
            ("max_qty", self.max_qty.raw()),
            ("min_price", self.min_price.raw()),
            ("max_price", self.max_price.raw()),
        ];
        if let Some((name, _)) = negative.iter().find(|(_, v)| *v < 0) {
            return Some(name);
        }
        if self.max_qty.is_positive() && self.max_qty < self.min_qty {
            return Some("max_qty");
        }
        if self.max_price.is_positive() && self.max_price < self.min_price {
            return Some("max_price");
        }
        if self.min_notional.is_negative() {
            return Some("min_notional");
        }
        match self.max_notional {
            Some(max) if max < self.min_notional => Some("max_notional"),
            _ => None,
        }
    }
}

/// `(value − anchor) mod step` in `i128`, so no input can overflow. Callers
/// pass `value ≥ anchor` and `step > 0`, making the result `0..step`.
fn grid_offset(value: i64, anchor: i64, step: i64) -> i128 {
    (i128::from(value) - i128::from(anchor)) % i128::from(step)
}

/// One instrument as configured or fetched from `exchangeInfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstrumentSpec {
    /// Venue symbol, e.g. `BTCUSDT`.
    pub symbol: Symbol,
    /// Base asset, e.g. `BTC`.
    pub base_asset: Symbol,
    /// Quote asset, e.g. `USDT`.
    pub quote_asset: Symbol,
    /// Exchange filters.
    pub filters: Filters,
}

/// Why an instrument could not be added to the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InstrumentError {
    /// The symbol is already in the table.
    #[error("duplicate instrument {0}")]
    Duplicate(Symbol),
    /// The table already holds its maximum number of instruments.
    #[error("too many instruments (max {max})")]
    TooMany {
        /// The table's limit.
        max: usize,
    },
    /// A filter value is unusable (negative, or a max below its min).
    #[error("instrument {symbol}: invalid filter {field}")]
    InvalidFilters {
        /// The instrument.
        symbol: Symbol,
        /// The offending `Filters` field.
        field: &'static str,
    },
}

/// Symbols interned to dense [`InstrumentId`]s, built at startup.
///
/// ```
/// # use talon_core::instrument::*;
/// let mut table = InstrumentTable::new();
/// let spec = InstrumentSpec {
///     symbol: Symbol::new("BTCUSDT")?,
///     base_asset: Symbol::new("BTC")?,
///     quote_asset: Symbol::new("USDT")?,
///     filters: Filters::default(),
/// };
/// let id = table.insert(spec).expect("fresh table");
/// assert_eq!(table.id_of_bytes(b"BTCUSDT"), Some(id));
/// assert_eq!(table.get(id).map(|s| s.symbol.as_str()), Some("BTCUSDT"));
/// # Ok::<(), SymbolError>(())
/// ```
#[derive(Clone, Debug)]
pub struct InstrumentTable {
    /// Specs by id.
    specs: Vec<InstrumentSpec>,
    /// `(symbol, id)` sorted by symbol bytes, for binary-search lookups.
    by_symbol: Vec<(Symbol, InstrumentId)>,
    /// Insertion limit.
    max: usize,
}

impl InstrumentTable {
    /// The most instruments any table holds: every `u16` id.
    pub const MAX_INSTRUMENTS: usize = u16::MAX as usize + 1;

    /// An empty table holding up to [`Self::MAX_INSTRUMENTS`].
    pub fn new() -> InstrumentTable {
        InstrumentTable::with_max(Self::MAX_INSTRUMENTS)
    }

    /// An empty table holding up to `max` instruments (capped at
    /// [`Self::MAX_INSTRUMENTS`]), so per-instrument arrays elsewhere can be
    /// sized from config.
    pub fn with_max(max: usize) -> InstrumentTable {
        InstrumentTable {
            specs: Vec::new(),
            by_symbol: Vec::new(),
            max: max.min(Self::MAX_INSTRUMENTS),
        }
    }

    /// Adds an instrument and returns its id (the next dense index).
    pub fn insert(&mut self, spec: InstrumentSpec) -> Result<InstrumentId, InstrumentError> {
        if let Some(field) = spec.filters.invalid_field() {
            return Err(InstrumentError::InvalidFilters {
                symbol: spec.symbol,
                field,
            });
        }
        let slot = match self.search(spec.symbol.as_bytes()) {
            Ok(_) => return Err(InstrumentError::Duplicate(spec.symbol)),
            Err(slot) => slot,
        };
        let too_many = InstrumentError::TooMany { max: self.max };
        if self.specs.len() >= self.max {
            return Err(too_many);
        }
        let id = InstrumentId(u16::try_from(self.specs.len()).map_err(|_| too_many)?);
        self.specs.push(spec);
        self.by_symbol.insert(slot, (spec.symbol, id));
        Ok(id)
    }

    fn search(&self, symbol: &[u8]) -> Result<usize, usize> {
        self.by_symbol
            .binary_search_by(|(s, _)| s.as_bytes().cmp(symbol))
    }

    /// The id of `symbol`, if present. No allocation.
    #[inline]
    pub fn id_of(&self, symbol: &str) -> Option<InstrumentId> {
        self.id_of_bytes(symbol.as_bytes())
    }

    /// The id of `symbol` given as raw bytes (straight from a wire buffer).
    /// No allocation; `O(log n)`.
    #[inline]
    pub fn id_of_bytes(&self, symbol: &[u8]) -> Option<InstrumentId> {
        let slot = self.search(symbol).ok()?;
        self.by_symbol.get(slot).map(|&(_, id)| id)
    }

    /// The spec of `id`, if it belongs to this table.
    #[inline]
    pub fn get(&self, id: InstrumentId) -> Option<&InstrumentSpec> {
        self.specs.get(id.index())
    }

    /// Number of instruments.
    #[inline]
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// True if the table is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// All instruments in id order.
    pub fn iter(&self) -> impl Iterator<Item = (InstrumentId, &InstrumentSpec)> + '_ {
        // ids are dense and < MAX_INSTRUMENTS, so the index fits in u16.
        self.specs
            .iter()
            .enumerate()
            .map(|(i, s)| (InstrumentId(i as u16), s))
    }
}

impl Default for InstrumentTable {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }
    fn q(s: &str) -> Qty {
        Qty::parse(s).unwrap()
    }
    fn n(s: &str) -> Notional {
        Notional::parse(s).unwrap()
    }

    /// BTCUSDT's filters on Binance Spot.
    fn btcusdt_filters() -> Filters {
        Filters {
            tick_size: p("0.01"),
            step_size: q("0.00001"),
            min_qty: q("0.00001"),
            max_qty: q("9000"),
            min_price: p("0.01"),
            max_price: p("1000000"),
            min_notional: n("5"),
            max_notional: Some(n("9000000")),
        }
    }

    fn spec(symbol: &str) -> InstrumentSpec {
        InstrumentSpec {
            symbol: Symbol::new(symbol).unwrap(),
            base_asset: Symbol::new("BTC").unwrap(),
            quote_asset: Symbol::new("USDT").unwrap(),
            filters: btcusdt_filters(),
        }
    }

    #[test]
    fn symbol_validation() {
        assert_eq!(Symbol::new(""), Err(SymbolError::Empty));
        assert_eq!(
            Symbol::new("BTCUSDt"),
            Err(SymbolError::InvalidChar { pos: 6 })
        );
        assert_eq!(
            Symbol::new("BTC-USDT"),
            Err(SymbolError::InvalidChar { pos: 3 })
        );
        assert_eq!(Symbol::new(&"A".repeat(21)), Err(SymbolError::TooLong));
        let max = "A".repeat(20);
        assert_eq!(Symbol::new(&max).unwrap().as_str(), max);
        assert_eq!(Symbol::new("1000SATS").unwrap().as_str(), "1000SATS");
        assert_eq!(
            Symbol::from_bytes(&[0xC3, 0x80]),
            Err(SymbolError::InvalidChar { pos: 0 })
        );
        assert_eq!(format!("{:<8}|", Symbol::new("BTC").unwrap()), "BTC     |");
    }

    #[test]
    fn price_filter() {
        let f = btcusdt_filters();
        assert_eq!(f.check_price(p("27123.45")), Ok(()));
        assert_eq!(
            f.check_price(Price::ZERO),
            Err(FilterViolation::PriceNotPositive)
        );
        assert_eq!(
            f.check_price(Price::from_raw(-1)),
            Err(FilterViolation::PriceNotPositive)
        );
        assert_eq!(
            f.check_price(p("0.001")),
            Err(FilterViolation::PriceBelowMin)
        );
        assert_eq!(
            f.check_price(p("1000000.01")),
            Err(FilterViolation::PriceAboveMax)
        );
        assert_eq!(
            f.check_price(p("27123.455")),
            Err(FilterViolation::PriceOffTick)
        );
        assert_eq!(f.floor_price(p("27123.459")), p("27123.45"));
        let open = Filters::default();
        assert_eq!(open.check_price(p("0.00000001")), Ok(()));
        assert_eq!(open.check_price(Price::MAX), Ok(()));
    }

    #[test]
    fn tick_grid_is_anchored_at_min_price() {
        let f = Filters {
            tick_size: p("0.5"),
            min_price: p("0.2"),
            ..Filters::default()
        };
        assert_eq!(f.check_price(p("0.7")), Ok(()));
        assert_eq!(f.check_price(p("1")), Err(FilterViolation::PriceOffTick));
        assert_eq!(f.floor_price(p("1.1")), p("0.7"));
    }

    #[test]
    fn lot_size_filter() {
        let f = btcusdt_filters();
        assert_eq!(f.check_qty(q("0.00123")), Ok(()));
        assert_eq!(f.check_qty(Qty::ZERO), Err(FilterViolation::QtyNotPositive));
        assert_eq!(
            f.check_qty(q("0.000001")),
            Err(FilterViolation::QtyBelowMin)
        );
        assert_eq!(
            f.check_qty(q("9000.00001")),
            Err(FilterViolation::QtyAboveMax)
        );
        assert_eq!(f.check_qty(q("0.000015")), Err(FilterViolation::QtyOffStep));
        assert_eq!(f.floor_qty(q("0.0012345")), q("0.00123"));
        assert_eq!(f.floor_qty(q("0.000001")), q("0.000001"));
    }

    #[test]
    fn notional_filter() {
        let f = btcusdt_filters();
        assert_eq!(f.check_notional(p("27000"), q("0.001")), Ok(()));
        assert_eq!(
            f.check_notional(p("27000"), q("0.0001")),
            Err(FilterViolation::NotionalBelowMin)
        );
        // Exactly at the minimum passes.
        assert_eq!(f.check_notional(p("5"), q("1")), Ok(()));
        // 4.99999999 < 5: truncation never rounds a product up into the band.
        assert_eq!(
            f.check_notional(p("0.99999999"), q("5")),
            Err(FilterViolation::NotionalBelowMin)
        );
        assert_eq!(
            f.check_notional(p("1000000"), q("9000")),
            Err(FilterViolation::NotionalAboveMax)
        );
        assert_eq!(
            f.check_notional(Price::MAX, Qty::MAX),
            Err(FilterViolation::NotionalOverflow)
        );
        assert_eq!(
            f.check_order(p("27000.001"), q("1")),
            Err(FilterViolation::PriceOffTick)
        );
        assert_eq!(f.check_order(p("27000"), q("1")), Ok(()));
        assert_eq!(FilterViolation::QtyOffStep.as_str(), "qty_off_step");
    }

    #[test]
    fn table_interns_symbols_to_dense_ids() {
        let mut t = InstrumentTable::new();
        assert!(t.is_empty());
        let names = ["ETHUSDT", "BTCUSDT", "SOLUSDT", "BNBUSDT"];
        for (i, s) in names.iter().enumerate() {
            assert_eq!(t.insert(spec(s)), Ok(InstrumentId(i as u16)));
        }
        assert_eq!(t.len(), 4);
        for (i, s) in names.iter().enumerate() {
            assert_eq!(t.id_of(s), Some(InstrumentId(i as u16)));
            assert_eq!(t.id_of_bytes(s.as_bytes()), Some(InstrumentId(i as u16)));
            assert_eq!(t.get(InstrumentId(i as u16)).unwrap().symbol.as_str(), *s);
        }
        assert_eq!(t.id_of("XRPUSDT"), None);
        assert_eq!(t.id_of("btcusdt"), None);
        assert_eq!(t.id_of(""), None);
        assert_eq!(t.get(InstrumentId(4)), None);
        let order: Vec<_> = t
            .iter()
            .map(|(id, s)| (id.0, s.symbol.as_str().to_owned()))
            .collect();
        assert_eq!(order[1], (1, "BTCUSDT".to_owned()));
        assert_eq!(order.len(), 4);
    }

    #[test]
    fn table_errors() {
        let mut t = InstrumentTable::with_max(2);
        t.insert(spec("BTCUSDT")).unwrap();
        assert_eq!(
            t.insert(spec("BTCUSDT")),
            Err(InstrumentError::Duplicate(Symbol::new("BTCUSDT").unwrap()))
        );
        t.insert(spec("ETHUSDT")).unwrap();
        assert_eq!(
            t.insert(spec("SOLUSDT")),
            Err(InstrumentError::TooMany { max: 2 })
        );
        assert_eq!(t.len(), 2);

        let mut t = InstrumentTable::new();
        let mut bad = spec("BTCUSDT");
        bad.filters.max_qty = q("0.000001");
        assert_eq!(
            t.insert(bad),
            Err(InstrumentError::InvalidFilters {
                symbol: bad.symbol,
                field: "max_qty"
            })
        );
        bad.filters = btcusdt_filters();
        bad.filters.tick_size = Price::from_raw(-1);
        assert!(matches!(
            t.insert(bad),
            Err(InstrumentError::InvalidFilters {
                field: "tick_size",
                ..
            })
        ));
        bad.filters = btcusdt_filters();
        bad.filters.max_notional = Some(n("1"));
        assert!(matches!(
            t.insert(bad),
            Err(InstrumentError::InvalidFilters {
                field: "max_notional",
                ..
            })
        ));
        assert!(t.is_empty());
    }

    #[test]
    fn table_fills_every_u16_id() {
        let mut t = InstrumentTable::new();
        // Base-36 names give 65 536 distinct valid symbols.
        const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let name = |mut i: usize| {
            let mut s = [b'S'; 5];
            for b in s.iter_mut().skip(1) {
                *b = DIGITS[i % 36];
                i /= 36;
            }
            Symbol::from_bytes(&s).unwrap()
        };
        let mut spec = spec("X");
        for i in 0..InstrumentTable::MAX_INSTRUMENTS {
            spec.symbol = name(i);
            assert_eq!(t.insert(spec).unwrap().index(), i);
        }
        spec.symbol = name(InstrumentTable::MAX_INSTRUMENTS);
        assert_eq!(
            t.insert(spec),
            Err(InstrumentError::TooMany {
                max: InstrumentTable::MAX_INSTRUMENTS
            })
        );
        assert_eq!(
            t.id_of_bytes(name(65_535).as_bytes()),
            Some(InstrumentId(u16::MAX))
        );
    }

    #[test]
    fn spec_deserializes_from_config() {
        let json = r#"{"symbol":"BTCUSDT","base_asset":"BTC","quote_asset":"USDT",
            "filters":{"tick_size":"0.01","step_size":"0.00001","min_qty":"0.00001",
            "max_qty":"9000","min_price":"0.01","max_price":"1000000","min_notional":"5"}}"#;
        let s: InstrumentSpec = serde_json::from_str(json).unwrap();
        assert_eq!(s.filters.max_notional, None);
        assert_eq!(s.filters.tick_size, p("0.01"));
        assert!(serde_json::from_str::<InstrumentSpec>(&json.replace("BTCUSDT", "btc")).is_err());
    }

    proptest! {
        #[test]
        fn on_grid_quantities_pass_and_floor_is_idempotent(steps in 0i64..1_000_000, extra in 0i64..1000) {
            let f = btcusdt_filters();
            let qty = Qty::from_raw(f.min_qty.raw() + steps * f.step_size.raw());
            prop_assert!(f.check_qty(qty).is_ok() || qty > f.max_qty);
            let off = Qty::from_raw(qty.raw() + extra);
            let floored = f.floor_qty(off);
            prop_assert!(floored <= off);
            prop_assert_eq!(f.floor_qty(floored), floored);
            prop_assert!(f.check_qty(floored) != Err(FilterViolation::QtyOffStep));
        }

        #[test]
        fn checks_never_panic(pr in any::<i64>(), qr in any::<i64>(), tick in any::<i64>(), minp in any::<i64>()) {
            let f = Filters {
                tick_size: Price::from_raw(tick),
                min_price: Price::from_raw(minp),
                step_size: Qty::from_raw(tick),
                min_qty: Qty::from_raw(minp),
                ..Filters::default()
            };
            let _ = f.check_order(Price::from_raw(pr), Qty::from_raw(qr));
            let _ = f.floor_qty(Qty::from_raw(qr));
            let _ = f.floor_price(Price::from_raw(pr));
        }
    }
}
