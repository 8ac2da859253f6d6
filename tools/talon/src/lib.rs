//! # `talon_cli`: the library half of the `talon` package
//!
//! Owns what `talon run` is made of, so that it can be driven in-process by
//! tests and benchmarks as well as by the binary:
//!
//! * [`run_config`]: the `talon run` configuration (TOML file + environment
//!   overrides + secrets from the environment), resolved into a
//!   [`session::SessionConfig`];
//! * [`metrics`]: the store projection thread, the Prometheus exposition
//!   and the optional loopback metrics endpoint;
//! * [`session`]: the assembly of a trading session (embedded simulator,
//!   instruments from `exchangeInfo`, rings, journal, feed/engine/gateway/
//!   control agents on runners per the thread layout, readiness, status,
//!   clean stop and summary);
//! * [`ctl`]: the control socket (`<data_dir>/talon.sock`) and its
//!   protocol, served by the session, used by `talon ctl`.
//!
//! This crate is cold-path glue: it allocates, blocks and spawns threads at
//! start-up and shutdown only; the duty cycles it schedules are the agents'
//! own (talon-core, talon-feed, talon-gateway). It never logs a secret.
#![forbid(unsafe_code)]

pub mod ctl;
pub mod metrics;
pub mod run_config;
pub mod session;
