//! The engine (DESIGN.md §5): the strategy/risk thread and its parts.
//!
//! | module | owns |
//! |---|---|
//! | [`agent`] | `EngineAgent`: the duty cycle (control → exec → market data → strategy → risk → journal → order ring), trading state, open orders, counters and latency histograms readable from any thread |
//! | [`config`] | `EngineConfig` (session, strategy by name, risk limits, drain bounds), validation naming the key |
//! | [`strategy`] | the `Strategy` trait, `Intent`, `IntentBuf`, `MarketView`, and the `bench`, `quote` and `momentum` strategies |
//! | [`risk`] | risk limits, the pure checks with their reason codes, `RiskCheck` that runs them in order |
//! | [`position`] | positions, average prices, realised/unrealised and daily PnL in fixed point |
//! | [`algo`] | execution algorithms for parent orders: market, limit, iceberg, TWAP, VWAP, with a price-impact abort |
//!
//! The agent keeps one [`position::PositionBook`] and one
//! [`risk::RiskCheck`], applies every fill to the first and asks the second
//! about every new order before journaling and sending it.
//!
//! Nothing here blocks, locks, allocates after construction, uses `f64` or
//! panics on any input; the pure modules (`risk`, `position`, `algo`,
//! `strategy`) read no clock and do no I/O: values in, values out. Only the
//! agent touches rings and the journal, and it journals every decision
//! before the order leaves.

//! ```
//! use talon_core::clock::Nanos;
//! use talon_core::engine::position::PositionBook;
//! use talon_core::engine::risk::{OrderIntent, RiskCheck, RiskContext, RiskLimits, TradingState, Verdict};
//! use talon_core::event::{ExecReport, OrderType, Side};
//! use talon_core::instrument::{Filters, InstrumentId};
//! use talon_core::num::{Notional, Price, Qty};
//!
//! let limits = RiskLimits::from_toml(r#"
//!     max_order_notional = "1000"
//!     max_position = "1"
//!     max_open_orders = 4
//!     max_orders_per_sec = 5
//!     order_burst = 5
//!     price_band_bps = 50
//!     daily_loss_limit = "100"
//! "#)?;
//! let mut risk = RiskCheck::new(limits, Nanos(0))?;
//! let mut book = PositionBook::new(1, 0);
//! let btc = InstrumentId(0);
//! let mid = Price::parse("100")?;
//!
//! // A fill: long 0.6 at 100.
//! book.apply(&ExecReport {
//!     instrument: btc, side: Side::Buy, trade_id: 7,
//!     last_price: mid, last_qty: Qty::parse("0.6")?,
//!     ..ExecReport::ZERO
//! })?;
//! let pos = *book.get(btc).unwrap();
//! let ctx = RiskContext {
//!     state: TradingState::Active,
//!     position: pos.qty(),
//!     open_buy_qty: Qty::ZERO,
//!     open_sell_qty: Qty::ZERO,
//!     open_orders: 0,
//!     mid: Some(mid),
//!     book_healthy: true,
//!     daily_pnl: book.daily_pnl(|_| Some(mid)).unwrap_or(Notional::MIN),
//!     now: Nanos(1),
//! };
//! let buy = |qty: &str| -> Result<OrderIntent, talon_core::num::NumError> {
//!     Ok(OrderIntent { instrument: btc, side: Side::Buy, order_type: OrderType::Limit,
//!                      price: mid, qty: Qty::parse(qty)?, stop: None })
//! };
//! // 0.6 + 0.4 = the max position: approved; 0.6 + 0.5 is not.
//! assert_eq!(risk.check(&buy("0.4")?, &ctx, &Filters::default()), Verdict::Approved);
//! assert_eq!(risk.check(&buy("0.5")?, &ctx, &Filters::default()).as_str(), "max_position");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod agent;
pub mod algo;
pub mod config;
pub mod position;
pub mod risk;
pub mod strategy;
