//! talon-sim: a Binance-compatible exchange simulator on loopback.
#![forbid(unsafe_code)]

mod bus;
pub mod config;
mod market;
mod rng;
pub mod streams;
mod text;

pub use config::{DeflateMode, FaultConfig, MalformedKind, SimArgs, SimConfig, SymbolSpec};
pub use market::BookView;

/// Simulator errors.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Invalid configuration.
    #[error("config: {0}")]
    Config(String),
    /// I/O.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}
