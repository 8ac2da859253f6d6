//! Risk limits: the configuration the checks compare against.
//!
//! Owns [`RiskLimits`] (serde, `deny_unknown_fields`, amounts as exact
//! decimal strings) and its validation, whose errors name the key. Parsing
//! happens at startup or on the control path; validating a limits change
//! from the control ring ([`RiskLimits::with_control`]) is allocation-free
//! and returns a `Copy` error. This module never reads a clock and never
//! touches engine state.

use serde::{Deserialize, Serialize};

use crate::event::ControlCommand;
use crate::num::{Notional, Qty};

/// The most a price band may be: 100 % of the mid.
pub const MAX_PRICE_BAND_BPS: u32 = 10_000;

/// One rejected limit: which key and why. `Copy`, no heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("risk limit `{key}` {reason}")]
pub struct InvalidLimit {
    /// The config key (as spelled in TOML).
    pub key: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Why risk limits could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RiskLimitsError {
    /// A key holds a value the checks cannot use.
    #[error(transparent)]
    Invalid(#[from] InvalidLimit),
    /// The TOML does not parse, has an unknown key or misses one (the
    /// message names it).
    #[error("risk limits: {0}")]
    Toml(#[from] toml::de::Error),
}

/// The limits every new order is checked against (see
/// [`super::RiskCheck`] for the order of the checks).
///
/// ```toml
/// max_order_notional = "5000"     # quote units, per order
/// max_position = "0.5"            # base units, |position + same-side open + order|
/// max_open_orders = 20
/// max_orders_per_sec = 10         # token bucket refill rate
/// order_burst = 20                # token bucket capacity
/// price_band_bps = 50             # |limit − mid| ≤ 0.5 % of mid
/// daily_loss_limit = "250"        # halt when daily PnL ≤ −250
/// require_stop = true             # optional, default false
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskLimits {
    /// Largest `price × qty` of one order (market orders at the mid),
    /// before the tilt multiplier. > 0.
    pub max_order_notional: Notional,
    /// Largest |position| the order may lead to with every same-side open
    /// order filled. > 0.
    pub max_position: Qty,
    /// Most orders open at once (this order would be one more). ≥ 1.
    pub max_open_orders: u32,
    /// Token bucket refill rate, orders per second. ≥ 1.
    pub max_orders_per_sec: u32,
    /// Token bucket capacity: orders allowed back to back. ≥ 1.
    pub order_burst: u32,
    /// Largest distance of a limit price from the mid, in basis points of
    /// the mid. 1 ..= 10 000.
    pub price_band_bps: u32,
    /// Daily loss (a positive amount) at which trading halts: breached when
    /// daily PnL ≤ −limit. > 0.
    pub daily_loss_limit: Notional,
    /// Orders opening or increasing a position must declare a stop.
    #[serde(default)]
    pub require_stop: bool,
}

impl RiskLimits {
    /// Checks every key; the error names the first bad one.
    pub fn validate(&self) -> Result<(), InvalidLimit> {
        const POSITIVE: &str = "must be positive";
        let bad = |key| {
            Err(InvalidLimit {
                key,
                reason: POSITIVE,
            })
        };
        if !self.max_order_notional.raw().is_positive() {
            return bad("max_order_notional");
        }
        if !self.max_position.is_positive() {
            return bad("max_position");
        }
        if self.max_open_orders == 0 {
            return bad("max_open_orders");
        }
        if self.max_orders_per_sec == 0 {
            return bad("max_orders_per_sec");
        }
        if self.order_burst == 0 {
            return bad("order_burst");
        }
        if self.price_band_bps == 0 {
            return bad("price_band_bps");
        }
        if self.price_band_bps > MAX_PRICE_BAND_BPS {
            return Err(InvalidLimit {
                key: "price_band_bps",
                reason: "must be at most 10000 (100 %)",
            });
        }
        if !self.daily_loss_limit.raw().is_positive() {
            return bad("daily_loss_limit");
        }
        Ok(())
    }

    /// Parses TOML (a table of exactly the keys above) and validates it.
    pub fn from_toml(text: &str) -> Result<RiskLimits, RiskLimitsError> {
        let limits: RiskLimits = toml::from_str(text)?;
        limits.validate()?;
        Ok(limits)
    }

    /// These limits with the fields of a `ControlCommand::SetLimits`
    /// replaced, validated; `Ok(None)` for any other command. Burst, band
    /// and `require_stop` are not in the command and are kept.
    pub fn with_control(&self, cmd: &ControlCommand) -> Result<Option<RiskLimits>, InvalidLimit> {
        let ControlCommand::SetLimits {
            max_order_notional,
            daily_loss_limit,
            max_position,
            max_open_orders,
            max_orders_per_sec,
            instrument: _,
        } = *cmd
        else {
            return Ok(None);
        };
        let next = RiskLimits {
            max_order_notional,
            daily_loss_limit,
            max_position,
            max_open_orders,
            max_orders_per_sec,
            ..*self
        };
        next.validate()?;
        Ok(Some(next))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::halt::HaltReason;

    const GOOD: &str = r#"
        max_order_notional = "5000"
        max_position = "0.5"
        max_open_orders = 20
        max_orders_per_sec = 10
        order_burst = 20
        price_band_bps = 50
        daily_loss_limit = "250"
    "#;

    #[test]
    fn parses_and_defaults_require_stop() {
        let l = RiskLimits::from_toml(GOOD).unwrap();
        assert_eq!(l.max_order_notional, Notional::parse("5000").unwrap());
        assert_eq!(l.max_position, Qty::parse("0.5").unwrap());
        assert_eq!(l.max_open_orders, 20);
        assert_eq!(l.price_band_bps, 50);
        assert!(!l.require_stop);
        let with = format!("{GOOD}require_stop = true\n");
        assert!(RiskLimits::from_toml(&with).unwrap().require_stop);
    }

    #[test]
    fn round_trips_through_toml() {
        let l = RiskLimits::from_toml(GOOD).unwrap();
        let text = toml::to_string(&l).unwrap();
        assert_eq!(RiskLimits::from_toml(&text).unwrap(), l);
    }

    #[test]
    fn unknown_and_missing_keys_are_named() {
        let err = RiskLimits::from_toml(&format!("{GOOD}max_leverage = 3\n")).unwrap_err();
        assert!(matches!(err, RiskLimitsError::Toml(_)));
        assert!(err.to_string().contains("max_leverage"), "{err}");
        let err = RiskLimits::from_toml(&GOOD.replace("order_burst = 20", "")).unwrap_err();
        assert!(err.to_string().contains("order_burst"), "{err}");
        let err =
            RiskLimits::from_toml(&GOOD.replace("\"5000\"", "\"5000.000000001\"")).unwrap_err();
        assert!(err.to_string().contains("max_order_notional"), "{err}");
    }

    #[test]
    fn each_invalid_value_names_its_key() {
        let cases: [(&str, &str, &str); 9] = [
            (
                "max_order_notional = \"5000\"",
                "max_order_notional = \"0\"",
                "max_order_notional",
            ),
            (
                "max_order_notional = \"5000\"",
                "max_order_notional = \"-1\"",
                "max_order_notional",
            ),
            (
                "max_position = \"0.5\"",
                "max_position = \"0\"",
                "max_position",
            ),
            (
                "max_open_orders = 20",
                "max_open_orders = 0",
                "max_open_orders",
            ),
            (
                "max_orders_per_sec = 10",
                "max_orders_per_sec = 0",
                "max_orders_per_sec",
            ),
            ("order_burst = 20", "order_burst = 0", "order_burst"),
            (
                "price_band_bps = 50",
                "price_band_bps = 0",
                "price_band_bps",
            ),
            (
                "price_band_bps = 50",
                "price_band_bps = 10001",
                "price_band_bps",
            ),
            (
                "daily_loss_limit = \"250\"",
                "daily_loss_limit = \"0\"",
                "daily_loss_limit",
            ),
        ];
        for (from, to, key) in cases {
            let err = RiskLimits::from_toml(&GOOD.replace(from, to)).unwrap_err();
            match err {
                RiskLimitsError::Invalid(e) => assert_eq!(e.key, key),
                other => panic!("{to}: {other}"),
            }
            assert!(
                RiskLimits::from_toml(&GOOD.replace(from, to))
                    .unwrap_err()
                    .to_string()
                    .contains(key)
            );
        }
        // Boundaries that pass.
        assert!(
            RiskLimits::from_toml(&GOOD.replace("price_band_bps = 50", "price_band_bps = 10000"))
                .is_ok()
        );
        assert!(
            RiskLimits::from_toml(&GOOD.replace("price_band_bps = 50", "price_band_bps = 1"))
                .is_ok()
        );
        assert!(RiskLimits::from_toml(&GOOD.replace("\"250\"", "\"0.00000001\"")).is_ok());
    }

    #[test]
    fn control_set_limits_replaces_and_validates() {
        let l = RiskLimits::from_toml(GOOD).unwrap();
        let cmd = ControlCommand::SetLimits {
            max_order_notional: Notional::parse("100").unwrap(),
            daily_loss_limit: Notional::parse("10").unwrap(),
            max_position: Qty::parse("1").unwrap(),
            max_open_orders: 3,
            max_orders_per_sec: 2,
            instrument: None,
        };
        let n = l.with_control(&cmd).unwrap().unwrap();
        assert_eq!(n.max_open_orders, 3);
        assert_eq!(n.order_burst, l.order_burst);
        assert_eq!(n.price_band_bps, l.price_band_bps);
        let bad = ControlCommand::SetLimits {
            max_open_orders: 0,
            max_order_notional: Notional::parse("100").unwrap(),
            daily_loss_limit: Notional::parse("10").unwrap(),
            max_position: Qty::parse("1").unwrap(),
            max_orders_per_sec: 2,
            instrument: None,
        };
        assert_eq!(l.with_control(&bad).unwrap_err().key, "max_open_orders");
        let halt = ControlCommand::Halt {
            reason: HaltReason::Operator,
        };
        assert_eq!(l.with_control(&halt), Ok(None));
    }
}
