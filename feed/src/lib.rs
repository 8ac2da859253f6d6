//! # talon-feed: the market-data feed agent
//!
//! Owns the first hot thread of DESIGN.md §1: [`agent::FeedAgent`] connects
//! to Binance Spot market streams (or the loopback simulator), decodes every
//! message without allocation into fixed-point `MarketEvent`s, keeps a local
//! L2 book per instrument by the venue's snapshot + diff procedure, and
//! pushes events onto the md ring.
//!
//! | module | owns |
//! |---|---|
//! | [`agent`] | `FeedAgent`: the duty cycle that ties everything below together |
//! | [`config`] | `FeedConfig`, venue presets (binance, testnet, sim), validation naming the key |
//! | [`net`], [`tls`], [`ws`], [`http`] | non-blocking TCP, rustls, the WebSocket client (tungstenite handshake, zero-copy frame reader) and the REST snapshot client |
//! | [`backoff`] | reconnect delays: exponential with jitter |
//! | [`decode`] | the zero-allocation venue-JSON scanner and its error reasons |
//! | [`book`] | `OrderBook` and `BookSync` (snapshot + diff, gap → counted resync, health) |
//! | [`conflate`] | latest-wins top of book under md-ring backpressure, counted |
//! | [`stale`] | the stale-symbol guard (Stale / Fresh transitions) |
//! | [`counters`], [`error`] | feed counters readable from any thread; typed errors |
//!
//! Contract: the feed never blocks its thread (connect, TLS, WebSocket and
//! HTTP are state machines driven from `do_work`, with bounded work per
//! cycle), never allocates per message on `ws://` after start (a `wss://`
//! session allocates per TLS record inside rustls; see [`ws`]), and never
//! drops a market update silently: conflations, refused trades, resyncs and
//! decode errors by reason are counted. It is the single producer of the md
//! ring.
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
