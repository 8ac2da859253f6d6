//! Strategies: what to trade, never how it is checked, journaled or sent.
//!
//! Owns the [`Strategy`] trait, what a strategy asks for ([`Intent`], written
//! into a fixed-capacity [`IntentBuf`]), what it sees ([`MarketView`]: per
//! instrument top of book, last trade, health, position and the strategy's
//! open orders), the built-in strategies selected by name ([`bench`],
//! [`quote`], [`momentum`]) with their typed parameters ([`StrategyConfig`],
//! serde, `deny_unknown_fields`) and [`build`].
//!
//! A strategy never assigns client order ids, never checks risk, never
//! journals, never sends, never reads a clock (time is in the view), and
//! never allocates in `on_market` / `on_exec` / `on_timer`: [`build`] is the
//! only place that allocates (the boxed strategy and its per-instrument
//! state). The engine ([`crate::engine::agent`]) does the rest.
//!
//! Config (TOML, the `name` key selects the strategy; the other keys are that
//! strategy's parameters):
//!
//! ```
//! use talon_core::engine::strategy::{build, StrategyConfig};
//! use talon_core::instrument::InstrumentTable;
//! let cfg: StrategyConfig = toml::from_str(r#"
//!     name = "quote"
//!     offset_bps = 5
//!     qty = "0.01"
//!     requote_bps = 2
//!     max_inventory = "0.05"
//!     skew_bps = 3
//! "#)?;
//! let strategy = build(&cfg, &InstrumentTable::new())?;
//! assert_eq!(strategy.name(), "quote");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod algo;
pub mod bench;
pub mod momentum;
pub mod quote;
mod view;

pub use view::{BookState, MarketView, OpenOrder, OpenOrders};

use serde::{Deserialize, Serialize};

use crate::clock::Nanos;
use crate::event::{ClientOrderId, ExecReport, MarketEvent, OrderType, Side, TimeInForce};
use crate::instrument::{Filters, InstrumentId, InstrumentTable};
use crate::num::{Price, Qty};

pub use algo::AlgoParams;
pub use bench::BenchParams;
pub use momentum::MomentumParams;
pub use quote::QuoteParams;

/// What a strategy asks for. The engine assigns client order ids, checks
/// risk, journals, and sends; a strategy never does any of that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// A new order.
    Place {
        /// Instrument.
        instrument: InstrumentId,
        /// Side.
        side: Side,
        /// Limit, market or limit-maker.
        order_type: OrderType,
        /// Time in force.
        tif: TimeInForce,
        /// Limit price (ignored for market orders).
        price: Price,
        /// Quantity.
        qty: Qty,
        /// The stop-loss trigger the strategy declares for the position this
        /// order opens or increases (risk's mandatory-stop check).
        stop: Option<Price>,
        /// `Some(tick)` = a bench order reacting to marked tick `tick` (the
        /// simulator's trade id); the engine then uses
        /// `ClientOrderId::for_tick(session, tick)`.
        tag: Option<u64>,
    },
    /// Cancel one open order.
    Cancel {
        /// Instrument of the order.
        instrument: InstrumentId,
        /// The order's id (from [`MarketView::open_orders`]).
        client_order_id: ClientOrderId,
    },
    /// Cancel every open order on an instrument.
    CancelAll {
        /// The instrument.
        instrument: InstrumentId,
    },
}

impl Intent {
    /// The instrument the intent is about.
    #[inline]
    pub const fn instrument(&self) -> InstrumentId {
        match *self {
            Intent::Place { instrument, .. }
            | Intent::Cancel { instrument, .. }
            | Intent::CancelAll { instrument } => instrument,
        }
    }
}

/// A fixed-capacity buffer of intents, filled by a strategy and drained by
/// the engine after each callback. Never allocates.
#[derive(Clone, Debug)]
pub struct IntentBuf {
    items: [Intent; IntentBuf::CAPACITY],
    len: usize,
    overflowed: u64,
}

impl Default for IntentBuf {
    fn default() -> Self {
        IntentBuf::new()
    }
}

impl IntentBuf {
    /// Intents one callback may emit.
    pub const CAPACITY: usize = 16;

    /// An empty buffer.
    pub const fn new() -> IntentBuf {
        IntentBuf {
            items: [Intent::CancelAll {
                instrument: InstrumentId(0),
            }; IntentBuf::CAPACITY],
            len: 0,
            overflowed: 0,
        }
    }

    /// Appends `intent`; when full, hands it back (and counts it: the engine
    /// reports the count as dropped intents).
    #[inline]
    pub fn push(&mut self, intent: Intent) -> Result<(), Intent> {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = intent;
                self.len += 1;
                Ok(())
            }
            None => {
                self.overflowed += 1;
                Err(intent)
            }
        }
    }

    /// The intents pushed since the last [`clear`](Self::clear).
    #[inline]
    pub fn as_slice(&self) -> &[Intent] {
        self.items.get(..self.len).unwrap_or_default()
    }

    /// Number of intents held.
    #[inline]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True when no intent is held.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The intent at `i`, if any.
    #[inline]
    pub fn get(&self, i: usize) -> Option<Intent> {
        self.as_slice().get(i).copied()
    }

    /// Forgets the intents (the overflow count is kept).
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Returns and resets the number of pushes refused because the buffer
    /// was full.
    #[inline]
    pub fn take_overflowed(&mut self) -> u64 {
        std::mem::take(&mut self.overflowed)
    }
}

/// A trading strategy: reacts to market events, execution reports and timer
/// ticks by pushing [`Intent`]s into `out`. Must not allocate, block or
/// panic in any callback.
pub trait Strategy: Send {
    /// The strategy's config name.
    fn name(&self) -> &'static str;
    /// A market event arrived; `view` already reflects it.
    fn on_market(&mut self, ev: &MarketEvent, view: &MarketView<'_>, out: &mut IntentBuf);
    /// An execution report arrived; `view` already reflects it (position,
    /// open orders).
    fn on_exec(&mut self, rep: &ExecReport, view: &MarketView<'_>, out: &mut IntentBuf);
    /// Called by the engine every `timer_interval_ms`.
    fn on_timer(&mut self, now: Nanos, view: &MarketView<'_>, out: &mut IntentBuf) {
        let _ = (now, view, out);
    }
}

/// A strategy by name with its typed parameters.
///
/// TOML: `name = "bench" | "quote" | "momentum"` plus that strategy's keys
/// (unknown keys are errors that name the key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum StrategyConfig {
    /// The deterministic latency-benchmark strategy ([`bench`]).
    Bench(BenchParams),
    /// Two-sided quoting with inventory skew ([`quote`]).
    Quote(QuoteParams),
    /// A simple momentum taker with stop loss and take profit ([`momentum`]).
    Momentum(MomentumParams),
    /// Parent orders worked by execution algorithms ([`algo`]).
    Algo(AlgoParams),
}

impl StrategyConfig {
    /// The strategy's name.
    pub const fn name(&self) -> &'static str {
        match self {
            StrategyConfig::Bench(_) => "bench",
            StrategyConfig::Quote(_) => "quote",
            StrategyConfig::Momentum(_) => "momentum",
            StrategyConfig::Algo(_) => "algo",
        }
    }
}

/// Why a strategy could not be built. Names the parameter.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A parameter holds a value the strategy cannot use.
    #[error("strategy {strategy}: parameter `{key}` {reason}")]
    Invalid {
        /// The strategy.
        strategy: &'static str,
        /// The parameter key.
        key: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A symbol parameter names an instrument that is not in the table.
    #[error("strategy {strategy}: parameter `{key}`: unknown symbol {symbol}")]
    UnknownSymbol {
        /// The strategy.
        strategy: &'static str,
        /// The parameter key.
        key: &'static str,
        /// The symbol as written.
        symbol: String,
    },
}

/// Builds the configured strategy for `instruments` (allocation happens
/// here, once).
pub fn build(
    cfg: &StrategyConfig,
    instruments: &InstrumentTable,
) -> Result<Box<dyn Strategy>, ConfigError> {
    Ok(match cfg {
        StrategyConfig::Bench(p) => Box::new(bench::Bench::new(p, instruments)?),
        StrategyConfig::Quote(p) => Box::new(quote::Quote::new(p, instruments)?),
        StrategyConfig::Momentum(p) => Box::new(momentum::Momentum::new(p, instruments)?),
        StrategyConfig::Algo(p) => Box::new(algo::AlgoStrategy::new(p, instruments)?),
    })
}

/// Which instruments a strategy trades: `symbols` from its config (each must
/// be in the table) or every instrument when empty. One flag per id.
fn select_instruments(
    strategy: &'static str,
    symbols: &[String],
    instruments: &InstrumentTable,
) -> Result<Box<[bool]>, ConfigError> {
    let mut on = vec![symbols.is_empty(); instruments.len()];
    for s in symbols {
        let id = instruments
            .id_of(s)
            .ok_or_else(|| ConfigError::UnknownSymbol {
                strategy,
                key: "symbols",
                symbol: s.clone(),
            })?;
        if let Some(slot) = on.get_mut(id.index()) {
            *slot = true;
        }
    }
    Ok(on.into_boxed_slice())
}

/// Price arithmetic shared by the strategies: exact, `i128` intermediates,
/// rounded onto the tick grid, `None` instead of overflow.
pub mod pricing {
    use super::*;

    /// `price × bps / 10 000`, truncated toward zero.
    #[inline]
    pub fn bps_of(price: Price, bps: u32) -> Option<Price> {
        let v = i128::from(price.raw()) * i128::from(bps) / 10_000;
        i64::try_from(v).ok().map(Price::from_raw)
    }

    /// `price` rounded down to a multiple of `filters.tick_size` (anchored
    /// at `min_price`).
    #[inline]
    pub fn floor_tick(filters: &Filters, price: Price) -> Price {
        filters.floor_price(price)
    }

    /// `price` rounded up onto the tick grid.
    #[inline]
    pub fn ceil_tick(filters: &Filters, price: Price) -> Price {
        let down = filters.floor_price(price);
        if down == price || !filters.tick_size.is_positive() {
            return price;
        }
        down.checked_add(filters.tick_size).unwrap_or(down)
    }

    /// A price `bps` away from `reference` in the direction that makes an
    /// order on `side` marketable (above for a buy, below for a sell),
    /// rounded away from the reference onto the tick grid.
    pub fn crossing(filters: &Filters, side: Side, reference: Price, bps: u32) -> Option<Price> {
        let delta = bps_of(reference, bps)?;
        let p = match side {
            Side::Buy => ceil_tick(filters, reference.checked_add(delta)?),
            Side::Sell => floor_tick(filters, reference.checked_sub(delta)?),
        };
        p.is_positive().then_some(p)
    }

    /// The smallest quantity that meets the instrument's `min_qty`, step and
    /// `min_notional` at `price`; `None` if none fits below `max_qty`.
    pub fn min_order_qty(filters: &Filters, price: Price) -> Option<Qty> {
        if !price.is_positive() {
            return None;
        }
        let step = filters.step_size.raw().max(0);
        let mut q = i128::from(filters.min_qty.raw().max(if step > 0 { step } else { 1 }));
        // q × price / 10^8 ≥ min_notional  ⇔  q ≥ ceil(min_notional × 10^8 / price)
        let need = (filters.min_notional.raw().max(0) * i128::from(crate::num::SCALE)
            + i128::from(price.raw())
            - 1)
            / i128::from(price.raw());
        if need > q {
            q = need;
        }
        if step > 0 {
            let anchor = i128::from(filters.min_qty.raw());
            let off = (q - anchor).rem_euclid(i128::from(step));
            if off != 0 {
                q += i128::from(step) - off;
            }
        }
        let q = Qty::from_raw(i64::try_from(q).ok()?);
        if filters.max_qty.is_positive() && q > filters.max_qty {
            return None;
        }
        Some(q)
    }

    /// `qty` floored onto the step grid; `None` if that is below `min_qty`
    /// or not positive.
    pub fn floor_qty(filters: &Filters, qty: Qty) -> Option<Qty> {
        let q = filters.floor_qty(qty);
        (q.is_positive() && q >= filters.min_qty).then_some(q)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Synthetic instruments, books and events for strategy tests.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::engine::position::PositionBook;
    use crate::event::{MarketData, Stamps, TopOfBook, Trade};
    use crate::instrument::{InstrumentSpec, Symbol};
    use crate::num::Notional;

    pub(crate) fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }
    pub(crate) fn q(s: &str) -> Qty {
        Qty::parse(s).unwrap()
    }

    /// BTCUSDT (id 0) and ETHUSDT (id 1), tick 0.01, step 0.0001, min
    /// notional 5.
    pub(crate) fn table() -> InstrumentTable {
        let mut t = InstrumentTable::new();
        for (sym, base) in [("BTCUSDT", "BTC"), ("ETHUSDT", "ETH")] {
            t.insert(InstrumentSpec {
                symbol: Symbol::new(sym).unwrap(),
                base_asset: Symbol::new(base).unwrap(),
                quote_asset: Symbol::new("USDT").unwrap(),
                filters: Filters {
                    tick_size: p("0.01"),
                    step_size: q("0.0001"),
                    min_qty: q("0.0001"),
                    min_notional: Notional::parse("5").unwrap(),
                    ..Filters::default()
                },
            })
            .unwrap();
        }
        t
    }

    /// The engine-side state a view borrows, owned for a test.
    pub(crate) struct World {
        pub(crate) table: InstrumentTable,
        pub(crate) books: Vec<BookState>,
        pub(crate) positions: PositionBook,
        pub(crate) orders: OpenOrders,
        pub(crate) now: Nanos,
    }

    impl World {
        pub(crate) fn new() -> World {
            let table = table();
            World {
                books: vec![BookState::EMPTY; table.len()],
                positions: PositionBook::new(table.len(), 0),
                orders: OpenOrders::with_capacity(64),
                table,
                now: Nanos(1),
            }
        }

        pub(crate) fn view(&self) -> MarketView<'_> {
            MarketView::new(
                &self.table,
                &self.books,
                &self.positions,
                &self.orders,
                self.now,
            )
        }

        /// Applies `ev` to the books like the engine does and returns it.
        pub(crate) fn market(&mut self, ev: MarketEvent) -> MarketEvent {
            if let Some(b) = self.books.get_mut(ev.instrument.index()) {
                b.apply(&ev, self.now);
            }
            ev
        }

        pub(crate) fn tob(&mut self, id: u16, bid: &str, ask: &str) -> MarketEvent {
            self.market(MarketEvent::new(
                InstrumentId(id),
                MarketData::TopOfBook(TopOfBook {
                    update_id: 1,
                    bid_price: p(bid),
                    bid_qty: q("1"),
                    ask_price: p(ask),
                    ask_qty: q("1"),
                }),
                Stamps::ZERO,
            ))
        }

        pub(crate) fn trade(&mut self, id: u16, trade_id: u64, price: &str) -> MarketEvent {
            self.market(MarketEvent::new(
                InstrumentId(id),
                MarketData::Trade(Trade {
                    trade_id,
                    price: p(price),
                    qty: q("0.1"),
                    buyer_is_maker: false,
                    trade_time_ms: 0,
                }),
                Stamps::ZERO,
            ))
        }

        /// A fill of `qty` at `price` applied to the position book.
        pub(crate) fn fill(&mut self, id: u16, side: Side, qty: &str, price: &str, trade_id: u64) {
            self.positions
                .apply(&ExecReport {
                    instrument: InstrumentId(id),
                    side,
                    trade_id,
                    last_price: p(price),
                    last_qty: q(qty),
                    ..ExecReport::ZERO
                })
                .unwrap();
        }

        /// Records every `Place` of `out` as an open order and every cancel
        /// as pending, like the engine after sending; returns the intents.
        pub(crate) fn accept(&mut self, out: &mut IntentBuf, seq: &mut u64) -> Vec<Intent> {
            let v = out.as_slice().to_vec();
            for i in &v {
                match *i {
                    Intent::Place {
                        instrument,
                        side,
                        order_type,
                        tif,
                        price,
                        qty,
                        ..
                    } => {
                        *seq += 1;
                        let id = ClientOrderId::from_session_seq(1, *seq);
                        self.orders
                            .insert(OpenOrder::new(
                                id, instrument, side, order_type, tif, price, qty,
                            ))
                            .unwrap();
                    }
                    Intent::Cancel {
                        client_order_id, ..
                    } => self.orders.mark_cancel_pending(&client_order_id),
                    Intent::CancelAll { instrument } => {
                        self.orders.mark_all_cancel_pending(instrument);
                    }
                }
            }
            out.clear();
            v
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::testing::*;
    use super::*;
    use crate::num::Notional;

    #[test]
    fn intent_buf_is_bounded_and_counts_overflow() {
        let mut b = IntentBuf::new();
        let i = Intent::CancelAll {
            instrument: InstrumentId(3),
        };
        for _ in 0..IntentBuf::CAPACITY {
            b.push(i).unwrap();
        }
        assert_eq!(b.push(i), Err(i));
        assert_eq!(b.len(), IntentBuf::CAPACITY);
        assert_eq!(b.take_overflowed(), 1);
        assert_eq!(b.take_overflowed(), 0);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.get(0), None);
        assert_eq!(i.instrument(), InstrumentId(3));
    }

    #[test]
    fn config_selects_by_name_and_rejects_unknown_keys() {
        let b: StrategyConfig = toml::from_str("name = \"bench\"\nmark_every = 10\n").unwrap();
        assert_eq!(b.name(), "bench");
        let err = toml::from_str::<StrategyConfig>("name = \"bench\"\nmark_evry = 10\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("mark_evry"), "{err}");
        let err = toml::from_str::<StrategyConfig>("name = \"nope\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope"), "{err}");
        let m: StrategyConfig = toml::from_str(
            "name = \"momentum\"\nqty = \"0.01\"\nconsecutive = 3\nstop_loss_bps = 20\ntake_profit_bps = 40\n",
        )
        .unwrap();
        assert!(build(&m, &table()).is_ok());
    }

    #[test]
    fn unknown_symbols_are_named() {
        let b: StrategyConfig =
            toml::from_str("name = \"bench\"\nmark_every = 10\nsymbols = [\"DOGEUSDT\"]\n")
                .unwrap();
        let err = build(&b, &table()).err().unwrap().to_string();
        assert!(err.contains("DOGEUSDT") && err.contains("symbols"), "{err}");
    }

    #[test]
    fn pricing_rounds_onto_the_grid() {
        let f = table().get(InstrumentId(0)).unwrap().filters;
        assert_eq!(pricing::bps_of(p("100"), 25), Some(p("0.25")));
        assert_eq!(pricing::ceil_tick(&f, p("100.001")), p("100.01"));
        assert_eq!(pricing::floor_tick(&f, p("100.009")), p("100"));
        assert_eq!(
            pricing::crossing(&f, Side::Buy, p("100"), 15),
            Some(p("100.15"))
        );
        assert_eq!(
            pricing::crossing(&f, Side::Sell, p("100.005"), 10),
            Some(p("99.9"))
        );
        // min notional 5 at 100 → 0.05; on the 0.0001 step grid.
        assert_eq!(pricing::min_order_qty(&f, p("100")), Some(q("0.05")));
        assert_eq!(pricing::min_order_qty(&f, p("30000")), Some(q("0.0002")));
        let tight = Filters {
            max_qty: q("0.01"),
            min_notional: Notional::parse("5").unwrap(),
            ..f
        };
        assert_eq!(pricing::min_order_qty(&tight, p("100")), None);
        assert_eq!(pricing::floor_qty(&f, q("0.12345")), Some(q("0.1234")));
        assert_eq!(pricing::floor_qty(&f, q("0.00001")), None);
    }
}
