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

pub mod position;
pub mod risk;
