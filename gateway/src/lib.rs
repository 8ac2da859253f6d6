//! # talon-gateway: the order gateway agent
//!
//! Owns the third hot thread of DESIGN.md §1: [`agent::GatewayAgent`] takes
//! `OrderCommand`s from the order ring, places, cancels and queries orders
//! over the Binance Spot WebSocket API (or the loopback simulator), and
//! pushes `ExecReport`s (acks, fills, cancels, rejects, unknowns) onto the
//! exec ring.
//!
//! | module | owns |
//! |---|---|
//! | [`agent`] | `GatewayAgent`: the duty cycle, the session state machine (connect → time sync → limits → logon/subscribe → resync → ready), send queues (cancels ahead of new orders), pending requests by id, ack timeouts, reconnect with backoff |
//! | [`config`] | `GatewayConfig`, endpoint presets (binance, testnet, sim), credentials that never print, validation naming the key |
//! | [`counters`] | gateway counters readable from any thread (sent, acks, fills, rejects by venue code and by local reason, 429/418, throttling, reconnects, resyncs, duplicates, timeouts, breaker opens) |
//! | [`error`] | start-up errors and the Talon-local reject codes (`-9001..`) |
//! | [`sign`], [`request`], [`server_time`] | HMAC-SHA256 / Ed25519 signing, zero-allocation request encoding, server-time offset |
//! | [`response`] | zero-allocation decoding of responses and user-data events |
//! | [`latency`] | per-order internal latency (socket read → order written) with its stage breakdown |
//! | [`order_state`], [`rate_limit`], [`breaker`] | the order state machine and table, the local rate limiter, the circuit breaker |
//!
//! Contract: the gateway never blocks its thread (connect, TLS and the
//! WebSocket upgrade are state machines driven from `do_work`, DNS runs at
//! construction), never allocates per order on `ws://` after start, checks
//! the halt flag immediately before every new-order send, never resends an
//! order (an order whose fate is unknown is *queried* by client order id),
//! never invents a client order id (they come from the engine), never logs
//! a secret, and never drops an exec report (a full exec ring holds them in
//! a bounded overflow queue and stops taking input). It is the single
//! consumer of the order ring and the single producer of the exec ring.
#![forbid(unsafe_code)]

pub mod agent;
pub mod breaker;
pub mod config;
pub mod counters;
pub mod error;
pub mod latency;
pub mod order_state;
pub mod rate_limit;
pub mod request;
pub mod response;
pub mod server_time;
pub mod sign;
