//! # talon-gateway: the order gateway agent
//!
//! **Status: not built yet** (tracked by the order-gateway issue). This crate
//! will own the `GatewayAgent`: Binance WebSocket API order entry with
//! HMAC-SHA256 / Ed25519 signing into pre-sized buffers, the order state
//! machine, local rate limits below the venue's, a circuit breaker, reconnect
//! and open-order resync, and zero-allocation decoding of exec reports.
//!
//! Contract it will keep: the gateway never blocks its thread, checks the halt
//! flag before every send, and is the single consumer of the order ring and
//! single producer of the exec ring.
#![forbid(unsafe_code)]

pub mod breaker;
pub mod order_state;
pub mod rate_limit;
pub mod request;
pub mod response;
pub mod server_time;
pub mod sign;
