//! Which agents run on which thread, core and idle strategy.
//!
//! Owns [`AgentRole`] (the four stages of DESIGN.md §1), [`ThreadSpec`],
//! [`ThreadLayout`] (presets, TOML form, validation against the machine,
//! a readable table), [`LayoutConfig`] (the serde form, embeddable in a larger
//! config), [`MachineCores`] (the core ids this process may run on) and
//! [`LayoutError`] (names the key and the reason). It only describes a
//! mapping; the binary wires agents to [`super::AgentRunner`]s from it. It
//! never spawns threads, never pins, and runs only at start-up (it allocates).
//!
//! ## Presets
//!
//! | preset          | threads (core, idle)                                                        | needs  |
//! |-----------------|-----------------------------------------------------------------------------|--------|
//! | `dedicated`     | feed (1, busy-spin), engine (2, busy-spin), gateway (3, busy-spin), control (-, backoff) | 4 cores |
//! | `shared`        | hot = feed+engine (1, busy-spin), gateway (2, busy-spin), control (-, backoff) | 3 cores |
//! | `single-thread` | main = feed+engine+gateway+control (-, backoff)                             | 1 core |
//!
//! Core 0 is left to the OS, interrupts and the control thread. The table
//! shows the presets' fixed shapes ([`ThreadLayout::preset`]); an operator's
//! `preset = "…"` is fitted to the machine it runs on
//! ([`ThreadLayout::preset_for`], [`ThreadLayout::from_toml_str_for`]): on a
//! 2-core machine `shared` keeps feed+engine busy-spinning on core 1 and puts
//! the gateway on core 0 yielding (`sched_yield` between polls: it gives the
//! core to anything else runnable, and wakes in microseconds instead of a
//! parked thread's up-to-1 ms); `dedicated` still needs 4 cores.
//! [`ThreadLayout::default_for`] picks the layout that fits a machine: the
//! dedicated shape on ≥ 4 cores, the shared shape on 3, the shared shape with
//! the gateway yielding on the OS core on 2, and a single backing-off
//! thread on 1.
//!
//! ## TOML format
//!
//! Either a preset:
//!
//! ```toml
//! preset = "shared"            # "dedicated" | "shared" | "single-thread"
//! ```
//!
//! or explicit `[[thread]]` tables, one per thread, in spawn order:
//!
//! ```toml
//! [[thread]]
//! name = "hot"                        # unique, non-empty; the OS thread name
//! agents = ["feed", "engine"]         # roles run in this order each duty cycle
//! core = 1                            # optional: pin to this core id
//! idle = { strategy = "busy-spin" }   # optional: default backoff (see `idle`)
//!
//! [[thread]]
//! name = "gateway"
//! agents = ["gateway"]
//! core = 0
//! idle = { strategy = "backoff", max_park_ns = 100_000 }
//!
//! [[thread]]
//! name = "control"
//! agents = ["control"]
//! idle = { strategy = "sleep", period_ns = 1_000_000 }
//! ```
//!
//! ## Validation rules ([`ThreadLayout::validate`])
//!
//! Every role is placed exactly once; thread names are unique and non-empty;
//! no thread is empty; idle parameters are in range; a pinned core exists on
//! this machine; a busy-spinning pinned thread owns its core (no other
//! thread pinned to it); and at most `cores - 1` threads busy-spin (one core
//! is left for the OS, so never three busy-spinning threads on two cores).
//!
//! ```
//! use talon_core::agent::{MachineCores, ThreadLayout};
//! let layout = ThreadLayout::from_toml_str(r#"preset = "dedicated""#)?;
//! assert!(layout.validate(&MachineCores::with_count(8)).is_ok());
//! let err = layout.validate(&MachineCores::with_count(2)).unwrap_err();
//! assert_eq!(err.key, "thread[1].core"); // core 2 is not on a 2-core machine
//! # Ok::<(), talon_core::agent::LayoutError>(())
//! ```

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::idle::{IdleConfig, IdleConfigError};

/// One stage of the pipeline (DESIGN.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AgentRole {
    /// Market-data ingest → md ring.
    Feed,
    /// Strategy + risk + journal writer → order ring.
    Engine,
    /// Order entry → exec ring.
    Gateway,
    /// Persistence, tilt, tiers, control socket (slow, never hot).
    Control,
}

impl AgentRole {
    /// Every role, in pipeline order.
    pub const ALL: [AgentRole; 4] = [
        AgentRole::Feed,
        AgentRole::Engine,
        AgentRole::Gateway,
        AgentRole::Control,
    ];

    /// The config name (`"feed"`, …), also the agents' `role_name`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AgentRole::Feed => "feed",
            AgentRole::Engine => "engine",
            AgentRole::Gateway => "gateway",
            AgentRole::Control => "control",
        }
    }
}

impl fmt::Display for AgentRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an [`AgentRole`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown agent (expected feed, engine, gateway or control)")]
pub struct UnknownRole;

impl FromStr for AgentRole {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<AgentRole, UnknownRole> {
        AgentRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(UnknownRole)
    }
}

/// The core ids this process may run on (sorted, distinct).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MachineCores {
    ids: Vec<usize>,
}

impl MachineCores {
    /// The cores of this process's affinity mask, from
    /// `core_affinity::get_core_ids()`; empty if the platform cannot say.
    pub fn detect() -> MachineCores {
        MachineCores::from_ids(
            core_affinity::get_core_ids()
                .unwrap_or_default()
                .into_iter()
                .map(|c| c.id),
        )
    }

    /// A machine with exactly these core ids (for tests and tools).
    pub fn from_ids(ids: impl IntoIterator<Item = usize>) -> MachineCores {
        let set: BTreeSet<usize> = ids.into_iter().collect();
        MachineCores {
            ids: set.into_iter().collect(),
        }
    }

    /// A machine with cores `0..n`.
    pub fn with_count(n: usize) -> MachineCores {
        MachineCores {
            ids: (0..n).collect(),
        }
    }

    /// Whether core `id` is present.
    pub fn contains(&self, id: usize) -> bool {
        self.ids.binary_search(&id).is_ok()
    }

    /// Number of cores.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no core is known.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The core ids, ascending.
    pub fn ids(&self) -> &[usize] {
        &self.ids
    }

    /// How many threads may busy-spin: all cores but one.
    pub fn busy_spin_budget(&self) -> usize {
        self.ids.len().saturating_sub(1)
    }
}

impl fmt::Display for MachineCores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ids.is_empty() {
            return f.write_str("none");
        }
        for (i, id) in self.ids.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{id}")?;
        }
        Ok(())
    }
}

/// One thread of a layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadSpec {
    /// Thread name (unique within the layout).
    pub name: String,
    /// Roles run on this thread, in duty-cycle order.
    pub roles: Vec<AgentRole>,
    /// Core to pin to, if any.
    pub core: Option<usize>,
    /// How the thread idles.
    pub idle: IdleConfig,
}

impl ThreadSpec {
    /// A thread spec (convenience for presets and tests).
    pub fn new(name: &str, roles: &[AgentRole], core: Option<usize>, idle: IdleConfig) -> Self {
        ThreadSpec {
            name: name.to_owned(),
            roles: roles.to_vec(),
            core,
            idle,
        }
    }
}

/// Agents mapped to threads, cores and idle strategies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadLayout {
    /// The threads, in spawn order.
    pub threads: Vec<ThreadSpec>,
}

/// The reason part of a [`LayoutError`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutErrorKind {
    /// The TOML did not parse (syntax, types, unknown keys).
    #[error("invalid TOML: {message}")]
    Toml {
        /// The parser's message.
        message: String,
    },
    /// `preset` names no preset.
    #[error("unknown preset `{name}` (expected dedicated, shared or single-thread)")]
    UnknownPreset {
        /// The name given.
        name: String,
    },
    /// Both `preset` and `[[thread]]` tables were given.
    #[error("give either `preset` or `[[thread]]` tables, not both")]
    PresetAndThreads,
    /// Neither `preset` nor any `[[thread]]` table.
    #[error("no `preset` and no `[[thread]]` table")]
    NoThreads,
    /// An agent name that is not a role.
    #[error("unknown agent `{name}` (expected feed, engine, gateway or control)")]
    UnknownAgent {
        /// The name given.
        name: String,
    },
    /// A role placed on two threads (or twice on one).
    #[error("agent `{role}` is placed twice (first at {first})")]
    AgentPlacedTwice {
        /// The role.
        role: AgentRole,
        /// Key of its first placement.
        first: String,
    },
    /// A role placed on no thread.
    #[error("agent `{role}` is not placed on any thread")]
    AgentMissing {
        /// The role.
        role: AgentRole,
    },
    /// A thread with no agents.
    #[error("thread has no agents")]
    EmptyThread,
    /// A thread with an empty name.
    #[error("thread name is empty")]
    EmptyName,
    /// Two threads with the same name.
    #[error("duplicate thread name `{name}`")]
    DuplicateThreadName {
        /// The name.
        name: String,
    },
    /// The idle table did not parse.
    #[error("invalid idle strategy: {message}")]
    IdleSyntax {
        /// The parser's message.
        message: String,
    },
    /// Idle parameters out of range.
    #[error("{0}")]
    BadIdle(IdleConfigError),
    /// A pinned core that this machine does not have.
    #[error("core {core} is not present on this machine (cores: {available})")]
    CoreNotPresent {
        /// The core id.
        core: usize,
        /// The machine's cores.
        available: MachineCores,
    },
    /// A busy-spinning thread sharing its pinned core with another thread.
    #[error(
        "core {core} is shared with thread `{other}`; a busy-spinning thread must own its core"
    )]
    BusySpinCoreShared {
        /// The core id.
        core: usize,
        /// The other thread pinned there.
        other: String,
    },
    /// More busy-spinning threads than cores minus one.
    #[error(
        "{busy} busy-spinning threads on {cores} cores: at most {budget} may busy-spin (one core is left to the OS)"
    )]
    Oversubscribed {
        /// Busy-spinning threads so far, this one included.
        busy: usize,
        /// Cores on the machine.
        cores: usize,
        /// `cores - 1`.
        budget: usize,
    },
}

/// A layout that cannot run: the config key (`thread[1].core`,
/// `thread[0].agents[2]`, `preset`, …) and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {kind}")]
pub struct LayoutError {
    /// The offending key.
    pub key: String,
    /// The reason.
    pub kind: LayoutErrorKind,
}

impl LayoutError {
    fn new(key: impl Into<String>, kind: LayoutErrorKind) -> LayoutError {
        LayoutError {
            key: key.into(),
            kind,
        }
    }
}

/// The serde form of a layout (see the module doc), to embed in a larger
/// config; [`LayoutConfig::resolve`] turns it into a [`ThreadLayout`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutConfig {
    /// A preset name, exclusive with `thread`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Explicit threads.
    #[serde(default, rename = "thread", skip_serializing_if = "Vec::is_empty")]
    pub threads: Vec<ThreadConfig>,
}

/// One `[[thread]]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadConfig {
    /// Thread name.
    pub name: String,
    /// Agent names (`"feed"`, `"engine"`, `"gateway"`, `"control"`).
    pub agents: Vec<String>,
    /// Core to pin to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core: Option<usize>,
    /// Idle strategy table; parsed separately so errors name `thread[i].idle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<toml::Value>,
}

impl LayoutConfig {
    /// Resolves names into a [`ThreadLayout`], presets in their fixed shape
    /// ([`ThreadLayout::preset`]). Errors name the key; the machine-dependent
    /// checks are in [`ThreadLayout::validate`].
    pub fn resolve(&self) -> Result<ThreadLayout, LayoutError> {
        self.resolve_with(ThreadLayout::preset)
    }

    /// Like [`resolve`](Self::resolve), with presets fitted to `cores`
    /// ([`ThreadLayout::preset_for`]): what an operator's config means on the
    /// machine it runs on.
    pub fn resolve_for(&self, cores: &MachineCores) -> Result<ThreadLayout, LayoutError> {
        self.resolve_with(|name| ThreadLayout::preset_for(name, cores))
    }

    fn resolve_with(
        &self,
        preset: impl Fn(&str) -> Option<ThreadLayout>,
    ) -> Result<ThreadLayout, LayoutError> {
        match (&self.preset, self.threads.is_empty()) {
            (Some(_), false) => {
                return Err(LayoutError::new(
                    "preset",
                    LayoutErrorKind::PresetAndThreads,
                ));
            }
            (Some(name), true) => {
                return preset(name).ok_or_else(|| {
                    LayoutError::new(
                        "preset",
                        LayoutErrorKind::UnknownPreset { name: name.clone() },
                    )
                });
            }
            (None, true) => return Err(LayoutError::new("thread", LayoutErrorKind::NoThreads)),
            (None, false) => {}
        }
        let mut threads = Vec::with_capacity(self.threads.len());
        for (i, t) in self.threads.iter().enumerate() {
            let mut roles = Vec::with_capacity(t.agents.len());
            for (j, name) in t.agents.iter().enumerate() {
                let role = name.parse::<AgentRole>().map_err(|UnknownRole| {
                    LayoutError::new(
                        format!("thread[{i}].agents[{j}]"),
                        LayoutErrorKind::UnknownAgent { name: name.clone() },
                    )
                })?;
                roles.push(role);
            }
            let idle = match &t.idle {
                None => IdleConfig::default(),
                Some(v) => v.clone().try_into::<IdleConfig>().map_err(|e| {
                    LayoutError::new(
                        format!("thread[{i}].idle"),
                        LayoutErrorKind::IdleSyntax {
                            message: e.to_string().trim().to_owned(),
                        },
                    )
                })?,
            };
            threads.push(ThreadSpec {
                name: t.name.clone(),
                roles,
                core: t.core,
                idle,
            });
        }
        Ok(ThreadLayout { threads })
    }
}

fn parse_layout_config(s: &str) -> Result<LayoutConfig, LayoutError> {
    toml::from_str(s).map_err(|e| {
        LayoutError::new(
            "toml",
            LayoutErrorKind::Toml {
                message: e.to_string().trim().to_owned(),
            },
        )
    })
}

impl ThreadLayout {
    /// Names accepted by `preset = "…"`.
    pub const PRESETS: [&'static str; 3] = ["dedicated", "shared", "single-thread"];

    /// One core per hot agent: feed, engine and gateway busy-spin on cores 1,
    /// 2 and 3; control unpinned with backoff. Needs 4 cores.
    pub fn dedicated() -> ThreadLayout {
        ThreadLayout::dedicated_on(1, 2, 3)
    }

    /// Feed+engine busy-spin on core 1, gateway busy-spins on core 2, control
    /// unpinned with backoff. Needs 3 cores.
    pub fn shared() -> ThreadLayout {
        ThreadLayout::shared_on(1, Some(2), IdleConfig::BusySpin)
    }

    /// Every agent on one unpinned backing-off thread (deterministic tests,
    /// replay, one-core machines).
    pub fn single_thread() -> ThreadLayout {
        ThreadLayout {
            threads: vec![ThreadSpec::new(
                "main",
                &AgentRole::ALL,
                None,
                IdleConfig::backoff(),
            )],
        }
    }

    /// The preset called `name`.
    pub fn preset(name: &str) -> Option<ThreadLayout> {
        match name {
            "dedicated" => Some(ThreadLayout::dedicated()),
            "shared" => Some(ThreadLayout::shared()),
            "single-thread" => Some(ThreadLayout::single_thread()),
            _ => None,
        }
    }

    /// The preset called `name`, fitted to `cores`: the same shape, on the
    /// cores this machine has, leaving the first to the OS.
    ///
    /// * `dedicated` needs four cores (one per hot agent plus the OS core);
    ///   on fewer it keeps cores 1–3, so validation names the missing core.
    /// * `shared` keeps feed+engine on one core and the gateway on another:
    ///   on ≥ 3 cores both busy-spin on cores 1 and 2; on 2 cores the
    ///   gateway shares the OS core and yields (never more busy-spinning
    ///   threads than cores − 1); on 1 core validation refuses it.
    /// * `single-thread` fits every machine.
    pub fn preset_for(name: &str, cores: &MachineCores) -> Option<ThreadLayout> {
        let ids = cores.ids();
        Some(match (name, ids) {
            ("dedicated", [_, a, b, c, ..]) => ThreadLayout::dedicated_on(*a, *b, *c),
            ("shared", [_, a, b, ..]) => {
                ThreadLayout::shared_on(*a, Some(*b), IdleConfig::BusySpin)
            }
            ("shared", [os, a]) => ThreadLayout::shared_on(*a, Some(*os), IdleConfig::Yield),
            _ => return ThreadLayout::preset(name),
        })
    }

    /// Parses the TOML form with presets fitted to `cores`
    /// ([`preset_for`](Self::preset_for)); run [`validate`](Self::validate)
    /// before using it.
    pub fn from_toml_str_for(s: &str, cores: &MachineCores) -> Result<ThreadLayout, LayoutError> {
        parse_layout_config(s)?.resolve_for(cores)
    }

    fn dedicated_on(feed: usize, engine: usize, gateway: usize) -> ThreadLayout {
        ThreadLayout {
            threads: vec![
                ThreadSpec::new("feed", &[AgentRole::Feed], Some(feed), IdleConfig::BusySpin),
                ThreadSpec::new(
                    "engine",
                    &[AgentRole::Engine],
                    Some(engine),
                    IdleConfig::BusySpin,
                ),
                ThreadSpec::new(
                    "gateway",
                    &[AgentRole::Gateway],
                    Some(gateway),
                    IdleConfig::BusySpin,
                ),
                ThreadSpec::new(
                    "control",
                    &[AgentRole::Control],
                    None,
                    IdleConfig::backoff(),
                ),
            ],
        }
    }

    fn shared_on(hot: usize, gateway: Option<usize>, gateway_idle: IdleConfig) -> ThreadLayout {
        ThreadLayout {
            threads: vec![
                ThreadSpec::new(
                    "hot",
                    &[AgentRole::Feed, AgentRole::Engine],
                    Some(hot),
                    IdleConfig::BusySpin,
                ),
                ThreadSpec::new("gateway", &[AgentRole::Gateway], gateway, gateway_idle),
                ThreadSpec::new(
                    "control",
                    &[AgentRole::Control],
                    None,
                    IdleConfig::backoff(),
                ),
            ],
        }
    }

    /// The layout for a machine with these cores; always passes
    /// [`validate`](Self::validate) on it. The lowest core id is left to the
    /// OS; ≥ 4 cores: dedicated; 3: shared; 2: shared with the gateway
    /// yielding on the OS core; ≤ 1: single thread.
    pub fn default_for(cores: &MachineCores) -> ThreadLayout {
        match *cores.ids() {
            [_, a, b, c, ..] => ThreadLayout::dedicated_on(a, b, c),
            [_, a, b] => ThreadLayout::shared_on(a, Some(b), IdleConfig::BusySpin),
            [os, a] => ThreadLayout::shared_on(a, Some(os), IdleConfig::Yield),
            _ => ThreadLayout::single_thread(),
        }
    }

    /// Parses the TOML form (see the module doc) and resolves names; run
    /// [`validate`](Self::validate) before using it.
    pub fn from_toml_str(s: &str) -> Result<ThreadLayout, LayoutError> {
        parse_layout_config(s)?.resolve()
    }

    /// The explicit serde form of this layout (`[[thread]]` tables).
    pub fn to_config(&self) -> LayoutConfig {
        LayoutConfig {
            preset: None,
            threads: self
                .threads
                .iter()
                .map(|t| ThreadConfig {
                    name: t.name.clone(),
                    agents: t.roles.iter().map(|r| r.as_str().to_owned()).collect(),
                    core: t.core,
                    idle: toml::Value::try_from(t.idle).ok(),
                })
                .collect(),
        }
    }

    /// The layout as `[[thread]]` TOML ([`from_toml_str`](Self::from_toml_str)
    /// reads it back to an equal layout).
    pub fn to_toml_string(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for (i, t) in self.threads.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let agents: Vec<&str> = t.roles.iter().map(|r| r.as_str()).collect();
            // `toml::Value`'s Display writes a correctly quoted TOML value;
            // writing into a `String` cannot fail.
            let _ = writeln!(out, "[[thread]]");
            let _ = writeln!(out, "name = {}", toml::Value::String(t.name.clone()));
            let _ = writeln!(out, "agents = {}", toml::Value::from(agents));
            if let Some(core) = t.core {
                let _ = writeln!(out, "core = {core}");
            }
            let _ = writeln!(out, "idle = {}", t.idle.to_toml_inline());
        }
        out
    }

    /// The same topology with no thread pinned (to run the dedicated shape on
    /// a smaller machine in tests; it then fails validation if it would
    /// oversubscribe busy-spinning threads, see
    /// [`with_busy_spin_as`](Self::with_busy_spin_as)).
    pub fn without_pinning(mut self) -> ThreadLayout {
        for t in &mut self.threads {
            t.core = None;
        }
        self
    }

    /// The same layout with every busy-spinning thread idling with `idle`
    /// instead (e.g. `yield`, to share a small machine).
    pub fn with_busy_spin_as(mut self, idle: IdleConfig) -> ThreadLayout {
        for t in &mut self.threads {
            if t.idle.is_busy_spin() {
                t.idle = idle;
            }
        }
        self
    }

    /// The thread index and spec that runs `role`.
    pub fn thread_of(&self, role: AgentRole) -> Option<(usize, &ThreadSpec)> {
        self.threads
            .iter()
            .enumerate()
            .find(|(_, t)| t.roles.contains(&role))
    }

    /// Checks the layout against this machine's cores (rules in the module
    /// doc). The first problem found is returned, naming its key.
    pub fn validate(&self, cores: &MachineCores) -> Result<(), LayoutError> {
        self.validate_structure()?;
        self.validate_machine(cores)
    }

    /// The machine-independent checks: names, agents, idle parameters.
    pub fn validate_structure(&self) -> Result<(), LayoutError> {
        if self.threads.is_empty() {
            return Err(LayoutError::new("thread", LayoutErrorKind::NoThreads));
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut placed: HashMap<AgentRole, String> = HashMap::new();
        for (i, t) in self.threads.iter().enumerate() {
            if t.name.is_empty() {
                return Err(LayoutError::new(
                    format!("thread[{i}].name"),
                    LayoutErrorKind::EmptyName,
                ));
            }
            if names.insert(&t.name, i).is_some() {
                return Err(LayoutError::new(
                    format!("thread[{i}].name"),
                    LayoutErrorKind::DuplicateThreadName {
                        name: t.name.clone(),
                    },
                ));
            }
            if t.roles.is_empty() {
                return Err(LayoutError::new(
                    format!("thread[{i}].agents"),
                    LayoutErrorKind::EmptyThread,
                ));
            }
            for (j, role) in t.roles.iter().enumerate() {
                let key = format!("thread[{i}].agents[{j}]");
                if let Some(first) = placed.get(role) {
                    return Err(LayoutError::new(
                        key,
                        LayoutErrorKind::AgentPlacedTwice {
                            role: *role,
                            first: first.clone(),
                        },
                    ));
                }
                placed.insert(*role, key);
            }
            if let Err(e) = t.idle.validate() {
                return Err(LayoutError::new(
                    format!("thread[{i}].idle.{}", e.field()),
                    LayoutErrorKind::BadIdle(e),
                ));
            }
        }
        for role in AgentRole::ALL {
            if !placed.contains_key(&role) {
                return Err(LayoutError::new(
                    "thread[*].agents",
                    LayoutErrorKind::AgentMissing { role },
                ));
            }
        }
        Ok(())
    }

    fn validate_machine(&self, cores: &MachineCores) -> Result<(), LayoutError> {
        for (i, t) in self.threads.iter().enumerate() {
            if let Some(core) = t.core
                && !cores.contains(core)
            {
                return Err(LayoutError::new(
                    format!("thread[{i}].core"),
                    LayoutErrorKind::CoreNotPresent {
                        core,
                        available: cores.clone(),
                    },
                ));
            }
        }
        for (i, t) in self.threads.iter().enumerate() {
            let Some(core) = t.core else { continue };
            for (k, other) in self.threads.iter().enumerate() {
                if k != i
                    && other.core == Some(core)
                    && (t.idle.is_busy_spin() || other.idle.is_busy_spin())
                {
                    // Name the later of the two: the earlier claimed the core.
                    let (at, other_name) = if k > i {
                        (k, &t.name)
                    } else {
                        (i, &other.name)
                    };
                    return Err(LayoutError::new(
                        format!("thread[{at}].core"),
                        LayoutErrorKind::BusySpinCoreShared {
                            core,
                            other: other_name.clone(),
                        },
                    ));
                }
            }
        }
        let budget = cores.busy_spin_budget();
        let mut busy = 0;
        for (i, t) in self.threads.iter().enumerate() {
            if t.idle.is_busy_spin() {
                busy += 1;
                if busy > budget {
                    return Err(LayoutError::new(
                        format!("thread[{i}].idle"),
                        LayoutErrorKind::Oversubscribed {
                            busy,
                            cores: cores.len(),
                            budget,
                        },
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A readable table, as `talon layout --check FILE` prints it:
///
/// ```text
/// thread   core  idle       agents
/// feed     1     busy-spin  feed
/// control  -     backoff(spins=10, yields=5, park=1000..1000000ns)  control
/// ```
impl fmt::Display for ThreadLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<[String; 4]> = self
            .threads
            .iter()
            .map(|t| {
                [
                    t.name.clone(),
                    t.core.map_or_else(|| "-".to_owned(), |c| c.to_string()),
                    t.idle.to_string(),
                    t.roles
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join("+"),
                ]
            })
            .collect();
        let header = ["thread", "core", "idle", "agents"];
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.len());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: [&str; 4]| -> fmt::Result {
            writeln!(
                f,
                "{:<w0$}  {:<w1$}  {:<w2$}  {}",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
            )
        };
        line(f, header)?;
        for row in &rows {
            line(f, [&row[0], &row[1], &row[2], &row[3]])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn err(layout: &ThreadLayout, cores: usize) -> LayoutError {
        layout
            .validate(&MachineCores::with_count(cores))
            .unwrap_err()
    }

    #[test]
    fn roles_parse_and_print() {
        for r in AgentRole::ALL {
            assert_eq!(r.as_str().parse::<AgentRole>(), Ok(r));
            assert_eq!(r.to_string(), r.as_str());
        }
        assert_eq!("Feed".parse::<AgentRole>(), Err(UnknownRole));
    }

    #[test]
    fn presets_on_machines_of_various_sizes() {
        let d = ThreadLayout::dedicated();
        let s = ThreadLayout::shared();
        let one = ThreadLayout::single_thread();
        for n in [4, 8, 64] {
            assert_eq!(d.validate(&MachineCores::with_count(n)), Ok(()), "{n}");
        }
        for n in [3, 4, 64] {
            assert_eq!(s.validate(&MachineCores::with_count(n)), Ok(()), "{n}");
        }
        for n in [0, 1, 2, 64] {
            assert_eq!(one.validate(&MachineCores::with_count(n)), Ok(()), "{n}");
        }
        // Too small: the first missing core is named.
        let e = err(&d, 3);
        assert_eq!(e.key, "thread[2].core");
        assert!(matches!(
            e.kind,
            LayoutErrorKind::CoreNotPresent { core: 3, .. }
        ));
        let e = err(&s, 2);
        assert_eq!(e.key, "thread[1].core");
        // The dedicated shape unpinned on 2 cores oversubscribes.
        let e = err(&d.clone().without_pinning(), 2);
        assert_eq!(e.key, "thread[1].idle");
        assert_eq!(
            e.kind,
            LayoutErrorKind::Oversubscribed {
                busy: 2,
                cores: 2,
                budget: 1
            }
        );
        let relaxed = d.without_pinning().with_busy_spin_as(IdleConfig::Yield);
        assert_eq!(relaxed.validate(&MachineCores::with_count(2)), Ok(()));
        assert!(
            relaxed
                .threads
                .iter()
                .all(|t| t.core.is_none() && !t.idle.is_busy_spin())
        );
        for name in ThreadLayout::PRESETS {
            assert!(ThreadLayout::preset(name).is_some());
        }
    }

    #[test]
    fn default_for_small_machines() {
        assert_eq!(
            ThreadLayout::default_for(&MachineCores::with_count(4)),
            ThreadLayout::dedicated()
        );
        assert_eq!(
            ThreadLayout::default_for(&MachineCores::with_count(3)),
            ThreadLayout::shared()
        );
        assert_eq!(
            ThreadLayout::default_for(&MachineCores::with_count(1)),
            ThreadLayout::single_thread()
        );
        let two = ThreadLayout::default_for(&MachineCores::with_count(2));
        assert_eq!(
            two.threads.iter().filter(|t| t.idle.is_busy_spin()).count(),
            1
        );
        assert_eq!(two.thread_of(AgentRole::Feed).unwrap().1.core, Some(1));
        assert_eq!(two.thread_of(AgentRole::Gateway).unwrap().1.core, Some(0));
        // Sparse core ids (a cpuset): pins only to present cores.
        let sparse = MachineCores::from_ids([9, 3, 5, 3]);
        assert_eq!(sparse.ids(), [3, 5, 9]);
        let l = ThreadLayout::default_for(&sparse);
        assert_eq!(l.validate(&sparse), Ok(()));
        assert_eq!(l.thread_of(AgentRole::Gateway).unwrap().1.core, Some(9));
    }

    proptest! {
        #[test]
        fn default_for_always_validates(n in 0usize..=64) {
            let cores = MachineCores::with_count(n);
            let l = ThreadLayout::default_for(&cores);
            prop_assert_eq!(l.validate(&cores), Ok(()));
            let busy = l.threads.iter().filter(|t| t.idle.is_busy_spin()).count();
            prop_assert!(busy <= n.saturating_sub(1));
        }

        #[test]
        fn default_for_validates_on_any_core_set(ids in proptest::collection::btree_set(0usize..256, 0..16)) {
            let cores = MachineCores::from_ids(ids);
            prop_assert_eq!(ThreadLayout::default_for(&cores).validate(&cores), Ok(()));
        }
    }

    #[test]
    fn toml_preset_and_explicit_threads() {
        let l = ThreadLayout::from_toml_str(r#"preset = "shared""#).unwrap();
        assert_eq!(l, ThreadLayout::shared());
        let l = ThreadLayout::from_toml_str(r#"preset = "single-thread""#).unwrap();
        assert_eq!(l, ThreadLayout::single_thread());
        let text = r#"
            [[thread]]
            name = "hot"
            agents = ["feed", "engine"]
            core = 1
            idle = { strategy = "busy-spin" }

            [[thread]]
            name = "gateway"
            agents = ["gateway"]
            core = 0
            idle = { strategy = "backoff", max_park_ns = 100_000 }

            [[thread]]
            name = "control"
            agents = ["control"]
            idle = { strategy = "sleep", period_ns = 1_000_000 }
        "#;
        let l = ThreadLayout::from_toml_str(text).unwrap();
        assert_eq!(l.validate(&MachineCores::with_count(2)), Ok(()));
        assert_eq!(l.threads[0].roles, [AgentRole::Feed, AgentRole::Engine]);
        assert_eq!(
            l.threads[1].idle,
            IdleConfig::Backoff {
                max_spins: 10,
                max_yields: 5,
                min_park_ns: 1_000,
                max_park_ns: 100_000
            }
        );
        assert_eq!(l.threads[2].core, None);
        // Omitted idle → backoff defaults.
        let l = ThreadLayout::from_toml_str(
            "[[thread]]\nname = \"m\"\nagents = [\"feed\", \"engine\", \"gateway\", \"control\"]\n",
        )
        .unwrap();
        assert_eq!(l.threads[0].idle, IdleConfig::backoff());
    }

    #[test]
    fn toml_round_trips() {
        for l in [
            ThreadLayout::dedicated(),
            ThreadLayout::shared(),
            ThreadLayout::single_thread(),
            ThreadLayout::default_for(&MachineCores::with_count(2)),
            ThreadLayout {
                threads: vec![ThreadSpec::new(
                    "x \"quoted\" 'name'",
                    &[
                        AgentRole::Control,
                        AgentRole::Feed,
                        AgentRole::Engine,
                        AgentRole::Gateway,
                    ],
                    Some(7),
                    IdleConfig::Sleep { period_ns: 42 },
                )],
            },
        ] {
            let text = l.to_toml_string();
            assert_eq!(ThreadLayout::from_toml_str(&text).unwrap(), l, "{text}");
        }
    }

    #[test]
    fn parse_errors_name_the_key() {
        let e = ThreadLayout::from_toml_str(r#"preset = "quad""#).unwrap_err();
        assert_eq!(e.key, "preset");
        assert!(matches!(e.kind, LayoutErrorKind::UnknownPreset { .. }));
        let e = ThreadLayout::from_toml_str(
            "preset = \"shared\"\n[[thread]]\nname = \"a\"\nagents = [\"feed\"]\n",
        )
        .unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.kind),
            ("preset", LayoutErrorKind::PresetAndThreads)
        );
        let e = ThreadLayout::from_toml_str("").unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.kind),
            ("thread", LayoutErrorKind::NoThreads)
        );
        let e = ThreadLayout::from_toml_str(
            "[[thread]]\nname = \"a\"\nagents = [\"feed\", \"engine\", \"risk\"]\n",
        )
        .unwrap_err();
        assert_eq!(e.key, "thread[0].agents[2]");
        assert_eq!(
            e.kind,
            LayoutErrorKind::UnknownAgent {
                name: "risk".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "thread[0].agents[2]: unknown agent `risk` (expected feed, engine, gateway or control)"
        );
        let e = ThreadLayout::from_toml_str(
            "[[thread]]\nname = \"a\"\nagents = [\"feed\"]\n[[thread]]\nname = \"b\"\nagents = [\"engine\"]\nidle = { strategy = \"nap\" }\n",
        )
        .unwrap_err();
        assert_eq!(e.key, "thread[1].idle");
        assert!(matches!(e.kind, LayoutErrorKind::IdleSyntax { .. }));
        let e = ThreadLayout::from_toml_str("[[thread]]\nname = \"a\"\nagent = [\"feed\"]\n")
            .unwrap_err();
        assert_eq!(e.key, "toml");
        let e = ThreadLayout::from_toml_str(
            "[[thread]]\nname = \"a\"\nagents = [\"feed\"]\ncore = -1\n",
        )
        .unwrap_err();
        assert_eq!(e.key, "toml");
    }

    fn four(threads: Vec<ThreadSpec>) -> ThreadLayout {
        ThreadLayout { threads }
    }

    #[test]
    fn every_validation_error_names_its_key() {
        use AgentRole::*;
        let bo = IdleConfig::backoff();
        let spin = IdleConfig::BusySpin;

        // Placed twice (across threads).
        let l = four(vec![
            ThreadSpec::new("a", &[Feed, Engine], None, bo),
            ThreadSpec::new("b", &[Gateway, Control, Feed], None, bo),
        ]);
        let e = err(&l, 8);
        assert_eq!(e.key, "thread[1].agents[2]");
        assert_eq!(
            e.kind,
            LayoutErrorKind::AgentPlacedTwice {
                role: Feed,
                first: "thread[0].agents[0]".into()
            }
        );
        // Missing.
        let l = four(vec![ThreadSpec::new(
            "a",
            &[Feed, Engine, Control],
            None,
            bo,
        )]);
        let e = err(&l, 8);
        assert_eq!(
            (e.key.as_str(), e.kind),
            (
                "thread[*].agents",
                LayoutErrorKind::AgentMissing { role: Gateway }
            )
        );
        // Empty thread.
        let l = four(vec![
            ThreadSpec::new("a", &AgentRole::ALL, None, bo),
            ThreadSpec::new("b", &[], None, bo),
        ]);
        assert_eq!(
            err(&l, 8),
            LayoutError::new("thread[1].agents", LayoutErrorKind::EmptyThread)
        );
        // Duplicate and empty names.
        let l = four(vec![
            ThreadSpec::new("a", &[Feed, Engine], None, bo),
            ThreadSpec::new("a", &[Gateway, Control], None, bo),
        ]);
        assert_eq!(
            err(&l, 8),
            LayoutError::new(
                "thread[1].name",
                LayoutErrorKind::DuplicateThreadName { name: "a".into() }
            )
        );
        let l = four(vec![ThreadSpec::new("", &AgentRole::ALL, None, bo)]);
        assert_eq!(err(&l, 8).key, "thread[0].name");
        // Bad idle params.
        let l = four(vec![ThreadSpec::new(
            "a",
            &AgentRole::ALL,
            None,
            IdleConfig::Sleep { period_ns: 0 },
        )]);
        let e = err(&l, 8);
        assert_eq!(e.key, "thread[0].idle.period_ns");
        assert!(matches!(e.kind, LayoutErrorKind::BadIdle(_)));
        // Core not present.
        let l = four(vec![
            ThreadSpec::new("a", &[Feed, Engine, Gateway], Some(1), bo),
            ThreadSpec::new("b", &[Control], Some(5), bo),
        ]);
        let e = err(&l, 4);
        assert_eq!(e.key, "thread[1].core");
        assert_eq!(
            e.to_string(),
            "thread[1].core: core 5 is not present on this machine (cores: 0,1,2,3)"
        );
        // Busy-spinning thread sharing its core.
        let l = four(vec![
            ThreadSpec::new("a", &[Feed, Engine], Some(1), spin),
            ThreadSpec::new("b", &[Gateway], Some(2), spin),
            ThreadSpec::new("c", &[Control], Some(1), bo),
        ]);
        let e = err(&l, 8);
        assert_eq!(e.key, "thread[2].core");
        assert_eq!(
            e.kind,
            LayoutErrorKind::BusySpinCoreShared {
                core: 1,
                other: "a".into()
            }
        );
        // Two non-spinning threads may share a core.
        let l = four(vec![
            ThreadSpec::new("a", &[Feed, Engine], Some(1), bo),
            ThreadSpec::new("b", &[Gateway, Control], Some(1), IdleConfig::Yield),
        ]);
        assert_eq!(l.validate(&MachineCores::with_count(2)), Ok(()));
        // Never three busy-spinning threads on two cores (nor two).
        let l = four(vec![
            ThreadSpec::new("a", &[Feed], None, spin),
            ThreadSpec::new("b", &[Engine], None, spin),
            ThreadSpec::new("c", &[Gateway], None, spin),
            ThreadSpec::new("d", &[Control], None, bo),
        ]);
        let e = err(&l, 2);
        assert_eq!(e.key, "thread[1].idle");
        assert!(e.to_string().contains("at most 1 may busy-spin"));
        assert_eq!(err(&l, 3).key, "thread[2].idle");
        assert_eq!(l.validate(&MachineCores::with_count(4)), Ok(()));
        // No threads at all.
        assert_eq!(err(&four(vec![]), 4).key, "thread");
    }

    #[test]
    fn display_is_a_table() {
        let text = ThreadLayout::dedicated().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].starts_with("thread "));
        assert!(lines[1].starts_with("feed "));
        assert!(lines[1].contains("busy-spin"));
        assert!(lines[4].contains(" - "));
        assert!(lines[4].ends_with("control"));
        let shared = ThreadLayout::shared().to_string();
        assert!(shared.contains("feed+engine"));
        assert_eq!(MachineCores::from_ids([]).to_string(), "none");
    }

    #[test]
    fn presets_fitted_to_the_machine_keep_their_shape_and_validate_where_they_can() {
        let two = MachineCores::with_count(2);
        let shared = ThreadLayout::preset_for("shared", &two).unwrap();
        shared.validate(&two).unwrap();
        let (_, hot) = shared.thread_of(AgentRole::Feed).unwrap();
        assert_eq!(hot.roles, [AgentRole::Feed, AgentRole::Engine]);
        assert_eq!(hot.core, Some(1));
        assert!(hot.idle.is_busy_spin());
        let (_, gw) = shared.thread_of(AgentRole::Gateway).unwrap();
        assert_eq!(gw.core, Some(0));
        assert!(!gw.idle.is_busy_spin(), "one busy-spinner on two cores");

        let three = MachineCores::with_count(3);
        let shared3 = ThreadLayout::preset_for("shared", &three).unwrap();
        shared3.validate(&three).unwrap();
        assert_eq!(shared3, ThreadLayout::shared());

        // Dedicated needs four cores: on two, the error names the missing core.
        let dedicated = ThreadLayout::preset_for("dedicated", &two).unwrap();
        assert_eq!(dedicated.validate(&two).unwrap_err().key, "thread[1].core");
        let eight = MachineCores::with_count(8);
        ThreadLayout::preset_for("dedicated", &eight)
            .unwrap()
            .validate(&eight)
            .unwrap();

        // Every preset on every small machine either validates or names a key.
        for n in 1..=6 {
            let m = MachineCores::with_count(n);
            for name in ThreadLayout::PRESETS {
                let l =
                    ThreadLayout::from_toml_str_for(&format!("preset = \"{name}\""), &m).unwrap();
                if let Err(e) = l.validate(&m) {
                    assert!(!e.key.is_empty());
                    assert!(
                        name == "dedicated" && n < 4 || name == "shared" && n < 2,
                        "{name} on {n}: {e}"
                    );
                }
            }
        }
        assert!(ThreadLayout::preset_for("quad", &two).is_none());
    }
}
