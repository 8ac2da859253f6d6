//! # talon-feed: the market-data feed agent
//!
//! **Status: not built yet** (tracked by the simulator-and-feed issue). This
//! crate will own the `FeedAgent`: a non-blocking WebSocket client (mio +
//! tungstenite) for Binance combined streams, a zero-allocation decoder from
//! venue JSON to fixed-point `talon_core::event::MarketEvent`s, local order
//! books synced by snapshot + diff with gap detection, conflation of top of
//! book under backpressure and a stale-symbol guard.
//!
//! Contract it will keep: the feed never blocks its thread, never allocates
//! after start, and never drops a market update silently (conflations and
//! resyncs are counted). It is the single producer of the md ring.
#![forbid(unsafe_code)]

pub mod agent;
pub mod backoff;
pub mod book;
pub mod config;
pub mod conflate;
pub mod counters;
pub mod decode;
pub mod error;
pub mod http;
pub mod net;
pub mod stale;
pub mod tls;
pub mod ws;
