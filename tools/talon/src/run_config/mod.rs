//! The `talon run` configuration: one TOML file, environment overrides, and
//! secrets from the environment only.
//!
//! Owns [`RunConfig`] (the parsed, typed configuration), [`VenueSection`],
//! [`JournalSection`], [`SimSection`], [`StoreSection`],
//! [`MetricsSection`], [`LayoutSetting`], [`EnvVars`] (a snapshot of the environment, so tests never touch the process's) and
//! [`ConfigError`] (every error names the key, and the environment variable
//! when the value came from one). [`RunConfig::into_session_config`]
//! resolves it into a [`SessionConfig`] (layout fitted to and validated
//! against this machine, credentials read, embedded simulator configured).
//! Cold path only: parsing happens once before any thread starts. It never
//! logs or prints a secret, and never reads one from the file.
//!
//! # File format (every key optional; the defaults are a paper session)
//!
//! ```toml
//! data_dir = "./talon-data"            # journal in <data_dir>/journal, session counter in <data_dir>/session
//! symbols = ["BTCUSDT", "ETHUSDT"]
//! layout = "shared"                    # a preset name, or a [layout] table (below); default: fitted to the machine
//!
//! [venue]
//! kind = "sim"                         # "sim" (embedded simulator on 127.0.0.1, port 0) | "binance" | "testnet" | "external"
//! # ws_base = "ws://127.0.0.1:9001"    # kind = "external": a running `talon sim` (or compatible server)
//! # http_base = "http://127.0.0.1:9001"
//!
//! [engine]                             # talon_core::engine::config::EngineConfig, minus `session` (assigned per run)
//! timer_interval_ms = 100
//! [engine.strategy]                    # replaces the default strategy when `name` differs; else merges into it
//! name = "quote"
//! offset_ticks = 1
//! qty = "0.01"
//! requote_bps = 2
//! max_inventory = "0.05"
//! [engine.risk]                        # merges key by key into the paper defaults
//! daily_loss_limit = "500"
//!
//! [feed]                               # talon_feed::config::FeedConfig (venue, symbols: set above)
//! stale_after_ms = 5000
//!
//! [gateway]                            # talon_gateway::config::GatewayConfig (endpoint, symbols, session_id: set for you)
//! ack_timeout_ms = 500
//!
//! [layout]                             # talon_core::agent::LayoutConfig: `preset = "…"` or [[layout.thread]] tables
//! preset = "single-thread"
//!
//! [rings]                              # talon_core::ring::RingConfig
//! md = 4096
//!
//! [journal]
//! segment_size = 67108864              # bytes, a multiple of the page size
//! sync = "none"                        # "none" | "periodic" | "every-record"
//! sync_interval_ms = 1000              # with sync = "periodic"
//! prefault = true
//!
//! [store]
//! # path = "./talon-data/talon.db"     # the SQLite state store projected from the journal; default <data_dir>/talon.db
//!
//! [metrics]
//! # listen = "127.0.0.1:9100"          # Prometheus `GET /metrics` on a loopback address; default off
//!
//! [sim]                                # the embedded simulator (venue.kind = "sim")
//! rate = 2000                          # market messages per second, all streams
//! seed = 1
//! book_levels = 200
//! [[sim.account]]                      # default: the demo account (talon-demo-key)
//! api_key = "k"
//! secret = "s"
//! balances = { USDT = "100000", BTC = "10", ETH = "100" }
//! ```
//!
//! # Environment
//!
//! * **Overrides**: `TALON_<KEY>` where `<KEY>` is the key path in upper
//!   case with `__` (two underscores) between levels:
//!   `TALON_ENGINE__RISK__MAX_POSITION=0.1` sets `engine.risk.max_position`,
//!   `TALON_FEED__STALE_AFTER_MS=3000` sets `feed.stale_after_ms`,
//!   `TALON_DATA_DIR=/var/talon` sets `data_dir`. A variable is an override
//!   when its name contains `__` or is one of the top-level keys
//!   (`TALON_DATA_DIR`, `TALON_SYMBOLS`, `TALON_LAYOUT`). The value is read
//!   as a TOML value when it is one (`3000`, `true`, `"x"`, `["A", "B"]`),
//!   else as a string; a decimal (`0.25`) stays a string (amounts are
//!   parsed exactly, never through a float); `TALON_SYMBOLS` also takes
//!   `BTCUSDT,ETHUSDT`.
//!   Overrides win over the file. An error in an overridden value names the
//!   variable.
//! * **Secrets** (never in the file, never printed): `TALON_API_KEY` with
//!   either `TALON_API_SECRET` (HMAC-SHA256) or `TALON_ED25519_KEY_FILE`
//!   (path to a PKCS#8 Ed25519 key, PEM or DER). Required for `binance` and
//!   `testnet`; for `sim` and `external` the first `[[sim.account]]` or the
//!   simulator's demo account is used when none is given.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use talon_core::agent::{LayoutConfig, MachineCores, ThreadLayout};
use talon_core::engine::config::{EngineConfig, EngineConfigError};
use talon_core::journal::{JournalConfig, SyncPolicy};
use talon_core::num::Qty;
use talon_core::ring::RingConfig;
use talon_feed::config::FeedConfig;
use talon_gateway::config::{AuthSecret, Credentials, GatewayConfig, Secret};
use talon_sim::exchange::AccountSpec;
use talon_sim::{SimConfig, SymbolSpec};

use crate::session::{SessionConfig, VenueChoice};

/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./talon-data";
/// Default symbols.
pub const DEFAULT_SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];
/// Environment variable holding the API key.
pub const ENV_API_KEY: &str = "TALON_API_KEY";
/// Environment variable holding the HMAC secret.
pub const ENV_API_SECRET: &str = "TALON_API_SECRET";
/// Environment variable naming the Ed25519 private key file.
pub const ENV_ED25519_KEY_FILE: &str = "TALON_ED25519_KEY_FILE";
/// Prefix of every override variable.
pub const ENV_PREFIX: &str = "TALON_";

/// Top-level keys that take an override without `__`.
const TOP_LEVEL_ENV_KEYS: [&str; 3] = ["data_dir", "symbols", "layout"];

/// The default engine table: the `quote` strategy and paper risk limits.
/// Quotes one tick around the mid so the simulator's trades go through
/// them within seconds (a paper session shows fills at once); no skew (it
/// moves the quotes away from the trades), inventory capped by
/// `max_inventory` instead.
const DEFAULT_ENGINE_TOML: &str = r#"
timer_interval_ms = 100

[strategy]
name = "quote"
offset_ticks = 1
qty = "0.01"
requote_bps = 2
max_inventory = "0.05"
skew_bps = 0
min_quote_interval_ms = 50

[risk]
max_order_notional = "2000"
max_position = "0.1"
max_open_orders = 20
max_orders_per_sec = 50
order_burst = 50
price_band_bps = 100
daily_loss_limit = "1000"
"#;

/// Why a configuration could not be loaded. Names the key (and the
/// environment variable that set it, if one did).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML (the message shows the line).
    #[error("config file {path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message with the offending line.
        message: String,
    },
    /// A key has an invalid value, is unknown or is missing.
    #[error("config key `{key}`{}: {reason}", origin_suffix(.env))]
    Key {
        /// Dotted key path (`feed.stale_after_ms`).
        key: String,
        /// The environment variable that set it, if any.
        env: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// A required environment variable is missing or unusable.
    #[error("environment variable {var}: {reason}")]
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn origin_suffix(env: &Option<String>) -> String {
    match env {
        Some(v) => format!(" (set by environment variable {v})"),
        None => String::new(),
    }
}

impl ConfigError {
    /// The key the error is about, if it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Key { key, .. } => Some(key),
            _ => None,
        }
    }

    fn key_err(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            key: key.into(),
            env: None,
            reason: reason.into(),
        }
    }
}

/// A snapshot of environment variables (name → value). Built from the
/// process ([`EnvVars::from_process`]) or from pairs in tests.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EnvVars(BTreeMap<String, String>);

impl fmt::Debug for EnvVars {
    /// Names only: values may be secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.keys().filter(|k| k.starts_with(ENV_PREFIX)))
            .finish()
    }
}

impl EnvVars {
    /// The process's `TALON_*` variables (others are not kept).
    pub fn from_process() -> EnvVars {
        EnvVars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .filter(|(k, _)| k.starts_with(ENV_PREFIX))
                .collect(),
        )
    }

    /// From `(name, value)` pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> EnvVars {
        EnvVars(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `(variable, dotted key path, value)` for every override variable.
    fn overrides(&self) -> Vec<(String, Vec<String>, String)> {
        let secret = [ENV_API_KEY, ENV_API_SECRET, ENV_ED25519_KEY_FILE];
        self.0
            .iter()
            .filter(|(k, _)| !secret.contains(&k.as_str()))
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
                let is_override = rest.contains("__") || TOP_LEVEL_ENV_KEYS.contains(&&*rest);
                is_override.then(|| {
                    let path = rest.split("__").map(str::to_owned).collect();
                    (k.clone(), path, v.clone())
                })
            })
            .collect()
    }
}

/// Where the session trades (`[venue]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum VenueSection {
    /// The embedded simulator on loopback (configured by `[sim]`).
    #[default]
    Sim,
    /// Binance Spot production.
    Binance,
    /// Binance Spot testnet.
    Testnet,
    /// A running simulator (`talon sim`) or any compatible server.
    External {
        /// `ws://host:port` (streams and WebSocket API).
        ws_base: String,
        /// `http://host:port` (REST: exchangeInfo, depth snapshots).
        http_base: String,
    },
}

/// Journal durability policy name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncName {
    /// Leave flushing to the OS.
    #[default]
    None,
    /// `msync` every `sync_interval_ms` on a helper thread.
    Periodic,
    /// `msync` every record (slow; blocking on the engine thread).
    EveryRecord,
}

/// `[journal]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalSection {
    /// Journal directory; default `<data_dir>/journal`.
    pub dir: Option<PathBuf>,
    /// Segment size in bytes (a multiple of the page size). Default 64 MiB.
    pub segment_size: u64,
    /// Durability policy.
    pub sync: SyncName,
    /// Flush period with `sync = "periodic"`, ms.
    pub sync_interval_ms: u64,
    /// Pre-fault segment pages when mapping them.
    pub prefault: bool,
}

impl Default for JournalSection {
    fn default() -> Self {
        let d = JournalConfig::new("journal");
        JournalSection {
            dir: None,
            segment_size: d.segment_size,
            sync: SyncName::None,
            sync_interval_ms: 1000,
            prefault: d.prefault,
        }
    }
}

/// `[store]`: the SQLite state store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// Database file; default `<data_dir>/talon.db`.
    pub path: Option<PathBuf>,
}

/// `[metrics]`: the optional Prometheus endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Loopback `ip:port` to serve `GET /metrics` on; `None` = off.
    pub listen: Option<String>,
}

impl MetricsSection {
    /// The listen address, checked: it must parse and be a loopback
    /// address (errors name `metrics.listen`).
    pub fn listen_addr(&self) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        let Some(text) = &self.listen else {
            return Ok(None);
        };
        let addr: std::net::SocketAddr = text.trim().parse().map_err(|_| {
            ConfigError::key_err("metrics.listen", format!("{text:?} is not an ip:port"))
        })?;
        if !addr.ip().is_loopback() {
            return Err(ConfigError::key_err(
                "metrics.listen",
                format!("{addr} is not a loopback address (use 127.0.0.1 or ::1)"),
            ));
        }
        Ok(Some(addr))
    }
}

/// One `[[sim.account]]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimAccount {
    /// API key.
    pub api_key: String,
    /// HMAC secret (a simulator account: not a real secret).
    pub secret: String,
    /// Starting balances, asset → amount.
    #[serde(default)]
    pub balances: BTreeMap<String, Qty>,
}

/// `[sim]`: the embedded simulator.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimSection {
    /// Market messages per second over all streams.
    pub rate: u64,
    /// Generator seed.
    pub seed: u64,
    /// Levels per book side.
    pub book_levels: usize,
    /// Accounts; empty = the demo account.
    #[serde(rename = "account")]
    pub accounts: Vec<SimAccount>,
}

impl Default for SimSection {
    fn default() -> Self {
        SimSection {
            rate: 2_000,
            seed: 1,
            book_levels: 200,
            accounts: Vec::new(),
        }
    }
}

/// `layout = "name"` or a `[layout]` table.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum LayoutSetting {
    /// A preset name (`dedicated`, `shared`, `single-thread`) or `default`.
    Name(String),
    /// A `[layout]` table (`preset = …` or `[[layout.thread]]`).
    Table(LayoutConfig),
}

/// The typed file + overrides, before resolution.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunFile {
    #[serde(default)]
    data_dir: Option<PathBuf>,
    #[serde(default)]
    symbols: Option<Vec<String>>,
    #[serde(default)]
    venue: VenueSection,
    engine: EngineConfig,
    #[serde(default)]
    feed: FeedConfig,
    #[serde(default)]
    gateway: GatewayConfig,
    #[serde(default)]
    layout: Option<LayoutSetting>,
    #[serde(default)]
    rings: RingConfig,
    #[serde(default)]
    journal: JournalSection,
    #[serde(default)]
    sim: SimSection,
    #[serde(default)]
    store: StoreSection,
    #[serde(default)]
    metrics: MetricsSection,
}

/// The `talon run` configuration (see the module docs). Built with
/// [`RunConfig::load`] / [`RunConfig::from_toml`]; [`Default`] is the paper
/// session.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Data directory (journal, session counter).
    pub data_dir: PathBuf,
    /// Symbols as the venue spells them.
    pub symbols: Vec<String>,
    /// Where to trade.
    pub venue: VenueSection,
    /// Engine config; `session` is assigned when the session starts.
    pub engine: EngineConfig,
    /// Feed config; `venue` and `symbols` are set at resolution.
    pub feed: FeedConfig,
    /// Gateway config; `endpoint`, `symbols`, `session_id` and
    /// `credentials` are set at resolution.
    pub gateway: GatewayConfig,
    /// The layout setting; `None` = fitted to the machine.
    pub layout: Option<LayoutSetting>,
    /// Ring capacities.
    pub rings: RingConfig,
    /// Journal settings.
    pub journal: JournalSection,
    /// Embedded simulator settings.
    pub sim: SimSection,
    /// State store settings.
    pub store: StoreSection,
    /// Metrics endpoint settings.
    pub metrics: MetricsSection,
    /// The environment the config was loaded with (credentials are read
    /// from it at resolution).
    pub env: EnvVars,
}

impl Default for RunConfig {
    fn default() -> Self {
        // The defaults are a constant table; parsing it cannot fail (a unit
        // test proves it), but never panic: fall back to an error-free path.
        match RunConfig::from_toml("", EnvVars::default()) {
            Ok(c) => c,
            Err(e) => unreachable_default(e),
        }
    }
}

#[cold]
fn unreachable_default(e: ConfigError) -> RunConfig {
    // The built-in defaults failed to parse: a bug caught by the unit tests.
    panic!("built-in run config defaults are invalid: {e}")
}

/// Where a key was set from env: `path` (the error's key) is the
/// variable's path, a prefix of it, or extends it.
fn env_origin(overrides: &[(String, Vec<String>, String)], key: &str) -> Option<String> {
    let key_parts: Vec<&str> = key.split('.').collect();
    overrides
        .iter()
        .find(|(_, path, _)| {
            let n = path.len().min(key_parts.len());
            n > 0 && path[..n].iter().zip(&key_parts[..n]).all(|(a, b)| a == b)
        })
        .map(|(var, _, _)| var.clone())
}

/// Turns a `toml` deserialization error into a key + reason. The `toml`
/// crate appends ``in `a.b` `` for a value's path; an unknown field names
/// itself in the message.
fn split_toml_error(e: &toml::de::Error) -> (String, String) {
    let text = e.to_string();
    let text = text.trim();
    let (reason, mut key) = match text.rsplit_once("\nin `") {
        Some((reason, rest)) => (
            reason.trim().to_owned(),
            rest.trim_end_matches('`').to_owned(),
        ),
        None => (text.to_owned(), String::new()),
    };
    if let Some(field) = reason
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        key = if key.is_empty() {
            field.to_owned()
        } else {
            format!("{key}.{field}")
        };
    }
    if key.is_empty() {
        key = "(top level)".to_owned();
    }
    (key, reason)
}

/// Parses an override value: a TOML value if it is one, else a string.
fn env_value(path: &[String], raw: &str) -> toml::Value {
    let parsed = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"));
    match parsed {
        // A decimal stays text: amounts are parsed exactly from strings,
        // never through a float.
        Some(toml::Value::Float(_)) => toml::Value::String(raw.trim().to_owned()),
        Some(v) => v,
        None if path == ["symbols"] => toml::Value::Array(
            raw.split(',')
                .map(|s| toml::Value::String(s.trim().to_owned()))
                .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
                .collect(),
        ),
        None => toml::Value::String(raw.to_owned()),
    }
}

/// Sets `path` in `table` to `value`, creating tables on the way.
fn set_path(
    table: &mut toml::Table,
    path: &[String],
    value: toml::Value,
    var: &str,
) -> Result<(), ConfigError> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut t = table;
    for (i, p) in parents.iter().enumerate() {
        let entry = t
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = match entry {
            toml::Value::Table(inner) => inner,
            _ => {
                return Err(ConfigError::Key {
                    key: path[..=i].join("."),
                    env: Some(var.to_owned()),
                    reason: "is not a table, so it has no sub-keys".to_owned(),
                });
            }
        };
    }
    t.insert(last.clone(), value);
    Ok(())
}

/// Merges `over` into `base` key by key (tables recursively).
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Builds the engine table: defaults, the user's table over them (a
/// strategy with another `name` replaces the default strategy), and a
/// placeholder `session` (assigned per run).
fn engine_table(user: Option<toml::Value>) -> Result<toml::Table, ConfigError> {
    let mut base: toml::Table = toml::from_str(DEFAULT_ENGINE_TOML)
        .map_err(|e| ConfigError::key_err("engine", format!("built-in defaults: {e}")))?;
    let mut user = match user {
        None => toml::Table::new(),
        Some(toml::Value::Table(t)) => t,
        Some(_) => return Err(ConfigError::key_err("engine", "must be a table")),
    };
    if user.contains_key("session") {
        return Err(ConfigError::key_err(
            "engine.session",
            "is assigned per run from <data_dir>/session; it cannot be configured",
        ));
    }
    if let Some(toml::Value::Table(s)) = user.get("strategy") {
        let default_name = base
            .get("strategy")
            .and_then(|s| s.get("name"))
            .and_then(toml::Value::as_str);
        let user_name = s.get("name").and_then(toml::Value::as_str);
        if user_name.is_some() && user_name != default_name {
            base.remove("strategy");
        }
    }
    if let Some(s) = user.remove("strategy") {
        match (base.get_mut("strategy"), s) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, s) => {
                base.insert("strategy".to_owned(), s);
            }
        }
    }
    merge(&mut base, user);
    base.insert("session".to_owned(), toml::Value::Integer(0));
    Ok(base)
}

/// Keys of `[feed]`/`[gateway]` that the session sets itself.
const RESERVED: [(&str, &str, &str); 5] = [
    ("feed", "venue", "set [venue] instead"),
    ("feed", "symbols", "set the top-level `symbols` instead"),
    ("gateway", "endpoint", "set [venue] instead"),
    ("gateway", "symbols", "set the top-level `symbols` instead"),
    (
        "gateway",
        "session_id",
        "is assigned per run from <data_dir>/session",
    ),
];

impl RunConfig {
    /// Reads `path` (or nothing: the defaults) and applies `env`.
    pub fn load(path: Option<&Path>, env: EnvVars) -> Result<RunConfig, ConfigError> {
        let Some(path) = path else {
            return RunConfig::from_toml("", env);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        RunConfig::parse(&text, &path.display().to_string(), env)
    }

    /// Parses TOML text and applies `env`.
    pub fn from_toml(text: &str, env: EnvVars) -> Result<RunConfig, ConfigError> {
        RunConfig::parse(text, "(inline)", env)
    }

    fn parse(text: &str, origin: &str, env: EnvVars) -> Result<RunConfig, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: origin.to_owned(),
            message: e.to_string().trim().to_owned(),
        })?;
        let overrides = env.overrides();
        for (var, path, raw) in &overrides {
            set_path(&mut table, path, env_value(path, raw), var)?;
        }
        let with_origin = |key: String, reason: String| ConfigError::Key {
            env: env_origin(&overrides, &key),
            key,
            reason,
        };
        for (section, key, reason) in RESERVED {
            if table
                .get(section)
                .and_then(toml::Value::as_table)
                .is_some_and(|t| t.contains_key(key))
            {
                return Err(with_origin(format!("{section}.{key}"), reason.to_owned()));
            }
        }
        let engine = engine_table(table.remove("engine")).map_err(|e| match e {
            ConfigError::Key { key, reason, .. } => with_origin(key, reason),
            other => other,
        })?;
        table.insert("engine".to_owned(), toml::Value::Table(engine));
        let file: RunFile = toml::Value::Table(table).try_into().map_err(|e| {
            let (key, reason) = split_toml_error(&e);
            with_origin(key, reason)
        })?;
        let cfg = RunConfig {
            data_dir: file
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            symbols: file
                .symbols
                .unwrap_or_else(|| DEFAULT_SYMBOLS.iter().map(|s| (*s).to_owned()).collect()),
            venue: file.venue,
            engine: file.engine,
            feed: file.feed,
            gateway: file.gateway,
            layout: file.layout,
            rings: file.rings,
            journal: file.journal,
            sim: file.sim,
            store: file.store,
            metrics: file.metrics,
            env,
        };
        cfg.check().map_err(|e| match e {
            ConfigError::Key { key, reason, .. } => with_origin(key, reason),
            other => other,
        })?;
        Ok(cfg)
    }

    /// Machine-independent checks of every section; errors name the key.
    fn check(&self) -> Result<(), ConfigError> {
        if self.symbols.is_empty() {
            return Err(ConfigError::key_err("symbols", "give at least one symbol"));
        }
        for (i, s) in self.symbols.iter().enumerate() {
            if talon_core::instrument::Symbol::new(s).is_err() {
                return Err(ConfigError::key_err(
                    format!("symbols[{i}]"),
                    format!("{s:?} is not a symbol (upper-case letters and digits)"),
                ));
            }
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::key_err("data_dir", "empty path"));
        }
        self.engine
            .validate()
            .map_err(|e| ConfigError::key_err(engine_key(&e), e.to_string()))?;
        self.rings.validate().map_err(|e| {
            let msg = e.to_string();
            let key = msg.split(':').next().unwrap_or("rings").to_owned();
            ConfigError::key_err(key, msg)
        })?;
        let j = self.journal_config(Path::new("journal"));
        j.validate().map_err(|e| {
            let key = match &e {
                talon_core::journal::JournalError::InvalidConfig { key, .. } => {
                    format!("journal.{key}")
                }
                _ => "journal".to_owned(),
            };
            ConfigError::key_err(key, e.to_string())
        })?;
        self.metrics.listen_addr()?;
        if let VenueSection::External { ws_base, http_base } = &self.venue {
            for (k, v) in [("venue.ws_base", ws_base), ("venue.http_base", http_base)] {
                if !v.contains("://") {
                    return Err(ConfigError::key_err(
                        k,
                        format!("`{v}` is not a URL (ws://host:port)"),
                    ));
                }
            }
        }
        if self.venue == VenueSection::Sim {
            self.sim_config()?;
        }
        Ok(())
    }

    /// The journal config for `dir`.
    fn journal_config(&self, dir: &Path) -> JournalConfig {
        let mut j = JournalConfig::new(dir);
        j.segment_size = self.journal.segment_size;
        j.prefault = self.journal.prefault;
        j.sync = match self.journal.sync {
            SyncName::None => SyncPolicy::None,
            SyncName::EveryRecord => SyncPolicy::EveryRecord,
            SyncName::Periodic => SyncPolicy::Periodic {
                interval: Duration::from_millis(self.journal.sync_interval_ms),
            },
        };
        j
    }

    /// The embedded simulator's config (`[sim]` + symbols).
    fn sim_config(&self) -> Result<SimConfig, ConfigError> {
        let mut symbols = Vec::with_capacity(self.symbols.len());
        for (i, s) in self.symbols.iter().enumerate() {
            symbols.push(
                SymbolSpec::for_symbol(s)
                    .map_err(|e| ConfigError::key_err(format!("symbols[{i}]"), e.to_string()))?,
            );
        }
        let mut cfg = SimConfig {
            symbols,
            rate: self.sim.rate,
            seed: self.sim.seed,
            book_levels: self.sim.book_levels,
            ..SimConfig::default()
        };
        if !self.sim.accounts.is_empty() {
            cfg.accounts = self
                .sim
                .accounts
                .iter()
                .map(|a| AccountSpec {
                    api_key: a.api_key.clone(),
                    secret: a.secret.clone(),
                    ed25519_public: None,
                    balances: a
                        .balances
                        .iter()
                        .map(|(k, v)| (k.to_ascii_uppercase(), *v))
                        .collect(),
                })
                .collect();
        }
        cfg.validate().map_err(|e| {
            let msg = e.to_string();
            let key = ["rate", "book_levels", "seed"]
                .into_iter()
                .find(|k| msg.contains(&k.replace('_', " ")) || msg.contains(k))
                .map_or_else(|| "sim".to_owned(), |k| format!("sim.{k}"));
            ConfigError::key_err(key, msg)
        })?;
        Ok(cfg)
    }

    /// The layout for `cores`: the setting fitted to the machine, or
    /// [`ThreadLayout::default_for`]; validated against `cores`.
    pub fn layout_for(&self, cores: &MachineCores) -> Result<ThreadLayout, ConfigError> {
        let layout = match &self.layout {
            None => ThreadLayout::default_for(cores),
            Some(LayoutSetting::Name(n)) if n == "default" => ThreadLayout::default_for(cores),
            Some(LayoutSetting::Name(n)) => {
                ThreadLayout::preset_for(n, cores).ok_or_else(|| {
                    ConfigError::key_err(
                        "layout",
                        format!(
                            "unknown preset `{n}` (expected default, {})",
                            ThreadLayout::PRESETS.join(", ")
                        ),
                    )
                })?
            }
            Some(LayoutSetting::Table(t)) => t
                .resolve_for(cores)
                .map_err(|e| ConfigError::key_err(format!("layout.{}", e.key), e.to_string()))?,
        };
        layout
            .validate(cores)
            .map_err(|e| ConfigError::key_err(format!("layout.{}", e.key), e.to_string()))?;
        Ok(layout)
    }

    /// The credentials: from the environment, else (simulators only) the
    /// first configured simulator account or the demo account.
    fn credentials(&self) -> Result<Credentials, ConfigError> {
        let key = self.env.get(ENV_API_KEY);
        let secret = self.env.get(ENV_API_SECRET);
        let key_file = self.env.get(ENV_ED25519_KEY_FILE);
        let simulated = matches!(
            self.venue,
            VenueSection::Sim | VenueSection::External { .. }
        );
        match (key, secret, key_file) {
            (Some(_), Some(_), Some(_)) => Err(ConfigError::Env {
                var: ENV_API_SECRET,
                reason: format!("set either it or {ENV_ED25519_KEY_FILE}, not both"),
            }),
            (Some(k), Some(s), None) => Ok(Credentials {
                api_key: k.to_owned(),
                auth: AuthSecret::Hmac(Secret::new(s.as_bytes().to_vec())),
            }),
            (Some(k), None, Some(f)) => {
                let bytes = std::fs::read(f).map_err(|e| ConfigError::Env {
                    var: ENV_ED25519_KEY_FILE,
                    reason: format!("cannot read the key file: {e}"),
                })?;
                Ok(Credentials {
                    api_key: k.to_owned(),
                    auth: AuthSecret::Ed25519(Secret::new(bytes)),
                })
            }
            (Some(_), None, None) => Err(ConfigError::Env {
                var: ENV_API_SECRET,
                reason: format!("not set (set it or {ENV_ED25519_KEY_FILE} with {ENV_API_KEY})"),
            }),
            (None, Some(_), _) | (None, _, Some(_)) => Err(ConfigError::Env {
                var: ENV_API_KEY,
                reason: "not set (a secret was given without its key)".to_owned(),
            }),
            (None, None, None) if simulated => {
                let (k, s) = match self.sim.accounts.first() {
                    Some(a) if self.venue == VenueSection::Sim => {
                        (a.api_key.clone(), a.secret.clone())
                    }
                    _ => (
                        talon_sim::DEMO_API_KEY.to_owned(),
                        talon_sim::DEMO_SECRET.to_owned(),
                    ),
                };
                Ok(Credentials {
                    api_key: k,
                    auth: AuthSecret::Hmac(Secret::new(s.into_bytes())),
                })
            }
            (None, None, None) => Err(ConfigError::Env {
                var: ENV_API_KEY,
                reason: "not set: the real venue needs TALON_API_KEY and TALON_API_SECRET (or TALON_ED25519_KEY_FILE)".to_owned(),
            }),
        }
    }

    /// Resolves into a [`SessionConfig`] for this machine
    /// ([`MachineCores::detect`]).
    pub fn into_session_config(self) -> Result<SessionConfig, ConfigError> {
        self.into_session_config_for(&MachineCores::detect())
    }

    /// Resolves into a [`SessionConfig`] for a machine with `cores`.
    pub fn into_session_config_for(
        self,
        cores: &MachineCores,
    ) -> Result<SessionConfig, ConfigError> {
        let layout = self.layout_for(cores)?;
        let credentials = self.credentials()?;
        let venue = match &self.venue {
            VenueSection::Sim => VenueChoice::EmbeddedSim(Box::new(self.sim_config()?)),
            VenueSection::Binance => VenueChoice::Binance,
            VenueSection::Testnet => VenueChoice::Testnet,
            VenueSection::External { ws_base, http_base } => VenueChoice::External {
                ws_base: ws_base.clone(),
                http_base: http_base.clone(),
            },
        };
        let journal_dir = self
            .journal
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("journal"));
        let journal = self.journal_config(&journal_dir);
        let metrics_listen = self.metrics.listen_addr()?;
        let store_path = self
            .store
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("talon.db"));
        let mut gateway = self.gateway;
        gateway.credentials = Some(credentials);
        Ok(SessionConfig {
            venue,
            journal,
            symbols: self.symbols,
            engine: self.engine,
            feed: self.feed,
            gateway,
            layout,
            rings: self.rings,
            data_dir: self.data_dir,
            ready_timeout: Duration::from_secs(30),
            stop_timeout: Duration::from_secs(2),
            store_path,
            metrics_listen,
        })
    }
}

/// The dotted key an engine config error is about.
fn engine_key(e: &EngineConfigError) -> String {
    match e {
        EngineConfigError::Risk(l) => format!("engine.risk.{}", l.key),
        EngineConfigError::Invalid { key, .. } => format!("engine.{key}"),
    }
}

#[cfg(test)]
mod tests;
