//! The config form of a parent order: [`AlgoConfig`] (serde,
//! `deny_unknown_fields`, exact decimal strings for amounts, times in
//! milliseconds), so the engine can take parent orders from TOML.
//!
//! Owns parsing and the checks that need no market data; errors name the
//! key. Turning a config into a [`ParentOrder`] allocates nothing, but
//! parsing does: this runs at startup or on the control path, never per
//! tick. Never reads a clock or touches a runner.

use serde::{Deserialize, Deserializer, Serialize};

use crate::event::Side;
use crate::instrument::InstrumentTable;
use crate::num::{Price, Qty};

use super::{AlgoError, AlgoKind, ParentOrder, Profile};

/// Nanoseconds per millisecond.
const MS: u64 = 1_000_000;

/// Why an algo config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AlgoConfigError {
    /// A key holds a value the algo cannot use.
    #[error(transparent)]
    Invalid(#[from] AlgoError),
    /// The TOML does not parse, has an unknown key or misses one (the
    /// message names it).
    #[error("algo config: {0}")]
    Toml(#[from] toml::de::Error),
    /// `symbol` is not in the instrument table.
    #[error("algo `symbol` {0:?} is not a configured instrument")]
    UnknownSymbol(String),
}

/// A parent order as written in config.
///
/// ```toml
/// symbol = "BTCUSDT"
/// side = "buy"              # or "sell"
/// qty = "0.5"
/// limit_price = "65000"     # optional; required for limit and iceberg
/// max_impact_bps = 50       # abort beyond 0.5 % adverse mid move
/// seed = 7                  # optional, default 0: iceberg randomness
/// kind = "market"           # or "limit", or one of the tables below
///
/// # [kind.iceberg]  display_qty = "0.05"  variance_bps = 2000  min_delay_ms = 100  max_delay_ms = 900
/// # [kind.twap]     duration_ms = 600000  slices = 20
/// # [kind.vwap]     duration_ms = 3600000 profile = [5, 3, 2, 2, 3, 5]
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlgoConfig {
    /// Venue symbol, resolved through the instrument table.
    pub symbol: String,
    /// `"buy"` or `"sell"`.
    #[serde(deserialize_with = "side_from_name")]
    pub side: Side,
    /// Total quantity.
    pub qty: Qty,
    /// Worst price for any child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<Price>,
    /// Price impact bound in basis points of the arrival mid.
    pub max_impact_bps: u32,
    /// RNG seed for iceberg sizes and delays.
    #[serde(default)]
    pub seed: u64,
    /// The algorithm and its parameters.
    pub kind: AlgoKindConfig,
}

/// The algorithm, by name, with its parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlgoKindConfig {
    /// `kind = "market"`.
    Market,
    /// `kind = "limit"`.
    Limit,
    /// `[kind.iceberg]`.
    Iceberg(IcebergConfig),
    /// `[kind.twap]`.
    Twap(TwapConfig),
    /// `[kind.vwap]`.
    Vwap(VwapConfig),
}

/// `[kind.iceberg]` parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcebergConfig {
    /// Mean slice size.
    pub display_qty: Qty,
    /// Slice size spread in bps of `display_qty` (default 2000 = ±20 %).
    #[serde(default = "default_variance_bps")]
    pub variance_bps: u32,
    /// Shortest wait between slices, ms.
    pub min_delay_ms: u64,
    /// Longest wait between slices, ms.
    pub max_delay_ms: u64,
}

/// `[kind.twap]` parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwapConfig {
    /// Schedule length, ms.
    pub duration_ms: u64,
    /// Number of slices.
    pub slices: u32,
}

/// `[kind.vwap]` parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VwapConfig {
    /// Schedule length, ms.
    pub duration_ms: u64,
    /// Relative volume per equal time bucket (1 ..= 48 buckets).
    pub profile: Vec<u32>,
}

const fn default_variance_bps() -> u32 {
    2_000
}

fn side_from_name<'de, D: Deserializer<'de>>(d: D) -> Result<Side, D::Error> {
    let name = String::deserialize(d)?;
    match name.as_str() {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        _ => Err(serde::de::Error::invalid_value(
            serde::de::Unexpected::Str(&name),
            &"\"buy\" or \"sell\"",
        )),
    }
}

fn ms_to_ns(ms: u64, key: &'static str) -> Result<u64, AlgoError> {
    ms.checked_mul(MS).ok_or(AlgoError::Invalid {
        key,
        reason: "is too large",
    })
}

impl AlgoConfig {
    /// Parses TOML (a table of exactly the keys above) and checks every
    /// parameter that needs no instrument or market data.
    pub fn from_toml(text: &str) -> Result<AlgoConfig, AlgoConfigError> {
        let cfg: AlgoConfig = toml::from_str(text)?;
        cfg.kind()?;
        cfg.parent_for(crate::instrument::InstrumentId(0))?
            .validate()?;
        Ok(cfg)
    }

    /// The algo kind in runner units (ns, fixed profile).
    pub fn kind(&self) -> Result<AlgoKind, AlgoError> {
        Ok(match &self.kind {
            AlgoKindConfig::Market => AlgoKind::Market,
            AlgoKindConfig::Limit => AlgoKind::Limit,
            AlgoKindConfig::Iceberg(c) => AlgoKind::Iceberg {
                display_qty: c.display_qty,
                variance_bps: c.variance_bps,
                min_delay_ns: ms_to_ns(c.min_delay_ms, "kind.iceberg.min_delay_ms")?,
                max_delay_ns: ms_to_ns(c.max_delay_ms, "kind.iceberg.max_delay_ms")?,
            },
            AlgoKindConfig::Twap(c) => AlgoKind::Twap {
                duration_ns: ms_to_ns(c.duration_ms, "kind.twap.duration_ms")?,
                slices: c.slices,
            },
            AlgoKindConfig::Vwap(c) => AlgoKind::Vwap {
                duration_ns: ms_to_ns(c.duration_ms, "kind.vwap.duration_ms")?,
                profile: Profile::new(&c.profile)?,
            },
        })
    }

    /// The parent order, with `symbol` resolved in `instruments`, checked.
    pub fn to_parent(&self, instruments: &InstrumentTable) -> Result<ParentOrder, AlgoConfigError> {
        let id = instruments
            .id_of(&self.symbol)
            .ok_or_else(|| AlgoConfigError::UnknownSymbol(self.symbol.clone()))?;
        let parent = self.parent_for(id)?;
        parent.validate()?;
        Ok(parent)
    }

    fn parent_for(
        &self,
        instrument: crate::instrument::InstrumentId,
    ) -> Result<ParentOrder, AlgoError> {
        Ok(ParentOrder {
            instrument,
            side: self.side,
            qty: self.qty,
            limit_price: self.limit_price,
            kind: self.kind()?,
            max_impact_bps: self.max_impact_bps,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::instrument::{Filters, InstrumentSpec, Symbol};

    const TWAP: &str = r#"
        symbol = "BTCUSDT"
        side = "sell"
        qty = "0.5"
        max_impact_bps = 50
        [kind.twap]
        duration_ms = 60000
        slices = 12
    "#;

    fn key_of(err: AlgoConfigError) -> &'static str {
        match err {
            AlgoConfigError::Invalid(AlgoError::Invalid { key, .. }) => key,
            other => panic!("not an invalid key: {other}"),
        }
    }

    #[test]
    fn parses_every_kind() {
        let t = AlgoConfig::from_toml(TWAP).unwrap();
        assert_eq!(t.side, Side::Sell);
        assert_eq!(t.seed, 0);
        assert_eq!(
            t.kind().unwrap(),
            AlgoKind::Twap {
                duration_ns: 60_000 * MS,
                slices: 12
            }
        );
        let m = AlgoConfig::from_toml(&TWAP.replace(
            "[kind.twap]\n        duration_ms = 60000\n        slices = 12",
            "kind = \"market\"",
        ))
        .unwrap();
        assert_eq!(m.kind().unwrap(), AlgoKind::Market);
        let l = AlgoConfig::from_toml(
            "symbol = \"X\"\nside = \"buy\"\nqty = \"1\"\nlimit_price = \"10\"\nmax_impact_bps = 5\nkind = \"limit\"\n",
        )
        .unwrap();
        assert_eq!(l.kind().unwrap(), AlgoKind::Limit);
        assert_eq!(l.limit_price, Some(Price::parse("10").unwrap()));
        let i = AlgoConfig::from_toml(
            "symbol = \"X\"\nside = \"buy\"\nqty = \"1\"\nlimit_price = \"10\"\nmax_impact_bps = 5\nseed = 9\n\
             [kind.iceberg]\ndisplay_qty = \"0.1\"\nmin_delay_ms = 1\nmax_delay_ms = 3\n",
        )
        .unwrap();
        assert_eq!(i.seed, 9);
        assert_eq!(
            i.kind().unwrap(),
            AlgoKind::Iceberg {
                display_qty: Qty::parse("0.1").unwrap(),
                variance_bps: 2000,
                min_delay_ns: MS,
                max_delay_ns: 3 * MS,
            }
        );
        let v = AlgoConfig::from_toml(
            "symbol = \"X\"\nside = \"buy\"\nqty = \"1\"\nmax_impact_bps = 5\n\
             [kind.vwap]\nduration_ms = 6\nprofile = [1, 0, 3]\n",
        )
        .unwrap();
        let AlgoKind::Vwap {
            duration_ns,
            profile,
        } = v.kind().unwrap()
        else {
            panic!("not vwap");
        };
        assert_eq!(duration_ns, 6 * MS);
        assert_eq!(profile.weights(), &[1, 0, 3]);
    }

    #[test]
    fn round_trips_through_toml() {
        let t = AlgoConfig::from_toml(TWAP).unwrap();
        let text = toml::to_string(&t).unwrap();
        assert_eq!(AlgoConfig::from_toml(&text).unwrap(), t);
    }

    #[test]
    fn unknown_missing_and_bad_keys_are_named() {
        let err = AlgoConfig::from_toml(&format!("{TWAP}jitter = 3\n")).unwrap_err();
        assert!(err.to_string().contains("jitter"), "{err}");
        let err = AlgoConfig::from_toml(&TWAP.replace("slices = 12", "slices = 12\nspeed = 1"))
            .unwrap_err();
        assert!(err.to_string().contains("speed"), "{err}");
        let err = AlgoConfig::from_toml(&TWAP.replace("max_impact_bps = 50", "")).unwrap_err();
        assert!(err.to_string().contains("max_impact_bps"), "{err}");
        let err = AlgoConfig::from_toml(&TWAP.replace("\"sell\"", "\"short\"")).unwrap_err();
        assert!(err.to_string().contains("short"), "{err}");
        let err = AlgoConfig::from_toml(&TWAP.replace("\"0.5\"", "\"0.000000001\"")).unwrap_err();
        assert!(err.to_string().contains("qty"), "{err}");

        let cases = [
            (TWAP.replace("slices = 12", "slices = 0"), "kind.twap.slices"),
            (TWAP.replace("duration_ms = 60000", "duration_ms = 0"), "kind.twap.duration_ms"),
            (TWAP.replace("\"0.5\"", "\"0\""), "qty"),
            (TWAP.replace("max_impact_bps = 50", "max_impact_bps = 0"), "max_impact_bps"),
            (TWAP.replace("max_impact_bps = 50", "max_impact_bps = 10001"), "max_impact_bps"),
            (
                TWAP.replace("duration_ms = 60000", "duration_ms = 9223372036854775807"),
                "kind.twap.duration_ms",
            ),
            (
                TWAP.replace(
                    "[kind.twap]\n        duration_ms = 60000\n        slices = 12",
                    "kind = \"limit\"",
                ),
                "limit_price",
            ),
            (
                TWAP.replace(
                    "[kind.twap]\n        duration_ms = 60000\n        slices = 12",
                    "[kind.vwap]\nduration_ms = 10\nprofile = []",
                ),
                "kind.vwap.profile",
            ),
            (
                TWAP.replace(
                    "[kind.twap]\n        duration_ms = 60000\n        slices = 12",
                    "[kind.vwap]\nduration_ms = 10\nprofile = [0, 0]",
                ),
                "kind.vwap.profile",
            ),
            (
                TWAP.replace(
                    "max_impact_bps = 50",
                    "max_impact_bps = 50\nlimit_price = \"9\"",
                )
                .replace(
                    "[kind.twap]\n        duration_ms = 60000\n        slices = 12",
                    "[kind.iceberg]\ndisplay_qty = \"0.1\"\nmin_delay_ms = 5\nmax_delay_ms = 4",
                ),
                "kind.iceberg.max_delay_ms",
            ),
            (
                TWAP.replace(
                    "max_impact_bps = 50",
                    "max_impact_bps = 50\nlimit_price = \"9\"",
                )
                .replace(
                    "[kind.twap]\n        duration_ms = 60000\n        slices = 12",
                    "[kind.iceberg]\ndisplay_qty = \"0.1\"\nvariance_bps = 6000\nmin_delay_ms = 1\nmax_delay_ms = 4",
                ),
                "kind.iceberg.variance_bps",
            ),
        ];
        for (text, key) in cases {
            let err = AlgoConfig::from_toml(&text).unwrap_err();
            assert!(err.to_string().contains(key), "{key}: {err}");
            assert_eq!(key_of(err), key);
        }
        let too_many = format!("[{}]", vec!["1"; 49].join(", "));
        let text = TWAP.replace(
            "[kind.twap]\n        duration_ms = 60000\n        slices = 12",
            &format!("[kind.vwap]\nduration_ms = 100\nprofile = {too_many}"),
        );
        assert_eq!(
            key_of(AlgoConfig::from_toml(&text).unwrap_err()),
            "kind.vwap.profile"
        );
    }

    #[test]
    fn resolves_the_symbol() {
        let mut table = InstrumentTable::new();
        let spec = InstrumentSpec {
            symbol: Symbol::new("BTCUSDT").unwrap(),
            base_asset: Symbol::new("BTC").unwrap(),
            quote_asset: Symbol::new("USDT").unwrap(),
            filters: Filters::default(),
        };
        let id = table.insert(spec).unwrap();
        let cfg = AlgoConfig::from_toml(TWAP).unwrap();
        let parent = cfg.to_parent(&table).unwrap();
        assert_eq!(parent.instrument, id);
        assert_eq!(parent.qty, Qty::parse("0.5").unwrap());
        let other = AlgoConfig {
            symbol: "ETHUSDT".to_owned(),
            ..cfg
        };
        assert!(matches!(
            other.to_parent(&table),
            Err(AlgoConfigError::UnknownSymbol(s)) if s == "ETHUSDT"
        ));
    }
}
