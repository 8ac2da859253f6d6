//! Engine configuration: session, strategy, risk limits and duty-cycle
//! bounds.
//!
//! Owns [`EngineConfig`] and [`DrainLimits`] (serde, `deny_unknown_fields`;
//! errors name the key) and their validation. Parsed at startup only; this
//! module never runs on the hot path.
//!
//! ```toml
//! session = 7                       # client order ids: tl0000000007-…
//! timer_interval_ms = 100           # Strategy::on_timer period; 0 = never
//! open_order_capacity = 256         # open-order table size
//!
//! [strategy]
//! name = "quote"
//! offset_bps = 5
//! qty = "0.01"
//! requote_bps = 2
//! max_inventory = "0.05"
//!
//! [risk]
//! max_order_notional = "5000"
//! max_position = "0.5"
//! max_open_orders = 20
//! max_orders_per_sec = 10
//! order_burst = 20
//! price_band_bps = 50
//! daily_loss_limit = "250"
//!
//! [drain]                           # optional: per-cycle bounds
//! control = 16
//! exec = 64
//! md = 64
//! ```

use serde::{Deserialize, Serialize};

use crate::engine::risk::{InvalidLimit, RiskLimits};
use crate::engine::strategy::StrategyConfig;

/// How many messages one duty cycle takes from each ring at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrainLimits {
    /// Control messages per cycle. ≥ 1.
    pub control: usize,
    /// Execution reports per cycle. ≥ 1.
    pub exec: usize,
    /// Market events per cycle. ≥ 1.
    pub md: usize,
}

impl Default for DrainLimits {
    fn default() -> Self {
        DrainLimits {
            control: 16,
            exec: 64,
            md: 64,
        }
    }
}

/// Everything the engine agent is built from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Session number in every client order id (unique per session, so ids
    /// survive restarts).
    pub session: u32,
    /// The strategy by name with its parameters.
    pub strategy: StrategyConfig,
    /// Pre-trade risk limits.
    pub risk: RiskLimits,
    /// Per-cycle ring bounds.
    #[serde(default)]
    pub drain: DrainLimits,
    /// Period of `Strategy::on_timer`, milliseconds; 0 = never. Default 100.
    #[serde(default = "default_timer_ms")]
    pub timer_interval_ms: u64,
    /// Size of the open-order table (≥ `risk.max_open_orders`). Default 256.
    #[serde(default = "default_open_orders")]
    pub open_order_capacity: usize,
}

fn default_timer_ms() -> u64 {
    100
}

fn default_open_orders() -> usize {
    256
}

/// A config value the engine cannot use. Names the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineConfigError {
    /// A risk limit is invalid.
    #[error("risk.{0}")]
    Risk(#[from] InvalidLimit),
    /// Another key is invalid.
    #[error("engine config `{key}` {reason}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Why an engine config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum EngineConfigLoadError {
    /// The TOML does not parse, has an unknown key or misses one (the
    /// message names it).
    #[error("engine config: {0}")]
    Toml(#[from] toml::de::Error),
    /// A value is invalid.
    #[error(transparent)]
    Invalid(#[from] EngineConfigError),
}

impl EngineConfig {
    /// A config with default drain bounds, timer and table size.
    pub fn new(session: u32, strategy: StrategyConfig, risk: RiskLimits) -> EngineConfig {
        EngineConfig {
            session,
            strategy,
            risk,
            drain: DrainLimits::default(),
            timer_interval_ms: default_timer_ms(),
            open_order_capacity: default_open_orders(),
        }
    }

    /// Parses TOML (the table above) and validates it.
    pub fn from_toml(text: &str) -> Result<EngineConfig, EngineConfigLoadError> {
        let cfg: EngineConfig = toml::from_str(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every key; the error names the first bad one.
    pub fn validate(&self) -> Result<(), EngineConfigError> {
        self.risk.validate()?;
        let bad = |key, reason| Err(EngineConfigError::Invalid { key, reason });
        if self.drain.control == 0 {
            return bad("drain.control", "must be at least 1");
        }
        if self.drain.exec == 0 {
            return bad("drain.exec", "must be at least 1");
        }
        if self.drain.md == 0 {
            return bad("drain.md", "must be at least 1");
        }
        let need = usize::try_from(self.risk.max_open_orders).unwrap_or(usize::MAX);
        if self.open_order_capacity < need {
            return bad(
                "open_order_capacity",
                "must be at least risk.max_open_orders",
            );
        }
        if self.open_order_capacity > 65_536 {
            return bad("open_order_capacity", "must be at most 65536");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const TOML: &str = r#"
        session = 7
        [strategy]
        name = "bench"
        mark_every = 100
        [risk]
        max_order_notional = "5000"
        max_position = "0.5"
        max_open_orders = 20
        max_orders_per_sec = 10
        order_burst = 20
        price_band_bps = 50
        daily_loss_limit = "250"
    "#;

    #[test]
    fn parses_with_defaults() {
        let c = EngineConfig::from_toml(TOML).unwrap();
        assert_eq!(c.session, 7);
        assert_eq!(c.strategy.name(), "bench");
        assert_eq!(c.drain, DrainLimits::default());
        assert_eq!(c.timer_interval_ms, 100);
        assert_eq!(c.open_order_capacity, 256);
    }

    #[test]
    fn errors_name_the_key() {
        let e =
            EngineConfig::from_toml(&format!("{TOML}\n[drain]\ncontrol = 0\nexec = 1\nmd = 1\n"))
                .unwrap_err()
                .to_string();
        assert!(e.contains("drain.control"), "{e}");
        let e = EngineConfig::from_toml(&TOML.replace("session = 7", "session = 7\nsesion = 1"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("sesion"), "{e}");
        let e = EngineConfig::from_toml(
            &TOML.replace("session = 7", "session = 7\nopen_order_capacity = 3"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("open_order_capacity"), "{e}");
        let e = EngineConfig::from_toml(&TOML.replace("\"250\"", "\"0\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("daily_loss_limit"), "{e}");
    }
}
