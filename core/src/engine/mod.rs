//! The engine's pure building blocks: positions and risk checks.
//!
//! Owns [`position`] (positions, average prices, realised/unrealised and daily
//! PnL in fixed point) and [`risk`] (risk limits, the pure checks, their
//! reasons and the [`risk::RiskCheck`] that runs them in order). The engine
//! agent (DESIGN.md §5) keeps one [`position::PositionBook`] and one
//! [`risk::RiskCheck`], applies every fill to the first and asks the second
//! about every new order before journaling and sending it.
//!
//! Nothing here reads a clock, allocates after construction, uses `f64` or
//! panics on any input; nothing here does I/O, journals or sends: these are
//! values in, values out.

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
pub mod config;
pub mod position;
pub mod risk;
pub mod strategy;
