//! A trading session: the assembly of `talon run`, usable in-process.
//!
//! Owns [`SessionConfig`] (a resolved [`crate::run_config::RunConfig`]),
//! [`VenueChoice`], [`Session`] (the running threads and their shared
//! state), [`SessionError`], and, in submodules, the glue agents
//! ([`agents`]), the exchangeInfo loader ([`instruments`]), the session
//! number ([`id`]) and the reports ([`status`]). It runs only on the cold
//! path: start-up and shutdown block and allocate; the duty cycles it
//! schedules belong to the agents. It never prints (the CLI does) and never
//! logs a secret.
//!
//! # Start ([`Session::start`])
//!
//! 1. the journal in `<data_dir>/journal` (or `[journal] dir`), recovering
//!    a torn tail; its writer lock refuses a second session on it;
//! 2. the session number: past both `<data_dir>/session` and every session
//!    number in the journal's client order ids, fsynced ([`id`]);
//! 3. `venue = sim`: the embedded simulator ([`talon_sim::Simulator`]) on
//!    127.0.0.1, port 0;
//! 4. the instrument table with filters from `GET /api/v3/exchangeInfo`
//!    (blocking, before any hot thread);
//! 5. the four rings;
//! 6. the engine (`session` = the session number; next order sequence = the
//!    journal's next sequence, so ids never repeat even within a reused
//!    session number), the feed and the gateway (`session_id` = the session
//!    number; the simulator's `ws_base`), and the control agent;
//! 7. one [`AgentRunner`] per layout thread (a [`CompositeAgent`] when a
//!    thread runs several roles), pinned and idling as the layout says;
//! 8. the store projection thread (journal → `<data_dir>/talon.db`) and,
//!    with `[metrics] listen`, the loopback `/metrics` endpoint
//!    ([`crate::metrics`]).
//!
//! The engine starts `Halted`. The control agent switches it ready when the
//! gateway's session is ready and every instrument's feed is healthy, and
//! back when either drops ([`agents::Readiness`]).
//!
//! # Stop ([`Session::stop`])
//!
//! Throw the halt flag (`operator`): the engine sends no new order, cancels
//! every open order (the gateway still sends cancels while halted); wait up
//! to `stop_timeout` (2 s) for the open-order count to reach zero; stop the
//! runners in order engine, gateway, feed, control (a thread running
//! several roles stops with its first); the engine syncs the journal in its
//! `on_close`; stop the metrics endpoint and let the store projection catch
//! up with the whole journal; stop the simulator; return the [`SessionSummary`].
//!
//! ```no_run
//! use talon_cli::session::{Session, SessionConfig};
//! let cfg = SessionConfig::paper("./talon-data")?;
//! let session = Session::start(cfg)?;
//! session.wait_ready(std::time::Duration::from_secs(10))?;
//! std::thread::sleep(std::time::Duration::from_secs(3));
//! println!("{}", session.status());
//! let summary = session.stop()?;
//! println!("{summary}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod agents;
pub mod id;
pub mod instruments;
pub mod status;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use talon_core::agent::{
    Agent, AgentError, AgentRole, AgentRunner, CompositeAgent, IdleConfigError, MachineCores,
    RunnerError, RunnerExit, Runtime, ThreadLayout,
};
use talon_core::clock::MonotonicClock;
use talon_core::engine::agent::{
    EngineAgent, EngineError, EngineHandle, EngineRings, LatencyStage,
};
use talon_core::engine::config::EngineConfig;
use talon_core::event::{ControlCommand, ControlMsg};
use talon_core::halt::{HaltFlag, HaltReason};
use talon_core::instrument::{InstrumentId, InstrumentTable};
use talon_core::journal::{JournalConfig, JournalError, JournalWriter, RecoveryReport};
use talon_core::ring::{RingConfig, RingConfigError, RingSnapshot, RingStats, Rings};
use talon_feed::agent::FeedAgent;
use talon_feed::config::{FeedConfig, Venue};
use talon_feed::counters::{FeedCounter, FeedCounters};
use talon_feed::error::FeedError;
use talon_gateway::agent::GatewayAgent;
use talon_gateway::config::{Endpoint, GatewayConfig};
use talon_gateway::counters::{GatewayCounter, GatewayCounters};
use talon_gateway::error::GatewayError;
use talon_gateway::latency::GatewayLatency;
use talon_sim::{SimConfig, SimError, SimHandle, Simulator};

use self::agents::{ControlAgent, Readiness, WatchedFeed, WatchedGateway};
use self::id::SessionIdError;
use self::instruments::InstrumentsError;
pub use self::status::{LatencyLine, PositionLine, SessionStatus, SessionSummary};
use crate::metrics::{MetricsSources, SessionMetrics, StoreStatus};
use crate::run_config::{ConfigError, EnvVars, RunConfig};

/// Where the session trades.
#[derive(Clone, Debug)]
pub enum VenueChoice {
    /// Start the simulator in-process with this config.
    EmbeddedSim(Box<SimConfig>),
    /// A simulator (or compatible server) already running.
    External {
        /// `ws://host:port`.
        ws_base: String,
        /// `http://host:port`.
        http_base: String,
    },
    /// Binance Spot production.
    Binance,
    /// Binance Spot testnet.
    Testnet,
}

/// Everything a session is built from: a resolved
/// [`RunConfig`](crate::run_config::RunConfig) (see there for the file
/// format). Fields are public so tests can adjust them.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Where to trade.
    pub venue: VenueChoice,
    /// Symbols as the venue spells them.
    pub symbols: Vec<String>,
    /// Engine config (`session` is replaced by the session number).
    pub engine: EngineConfig,
    /// Feed config (`venue`, `symbols` are set by the session).
    pub feed: FeedConfig,
    /// Gateway config with credentials (`endpoint`, `symbols`,
    /// `session_id` are set by the session).
    pub gateway: GatewayConfig,
    /// The thread layout (validated against this machine).
    pub layout: ThreadLayout,
    /// Ring capacities.
    pub rings: RingConfig,
    /// Data directory (session counter; journal by default).
    pub data_dir: PathBuf,
    /// Journal settings (its `dir` included).
    pub journal: JournalConfig,
    /// [`Session::wait_ready`]'s default bound, as used by the CLI.
    pub ready_timeout: Duration,
    /// How long [`Session::stop`] waits for the cancels to be acknowledged.
    pub stop_timeout: Duration,
    /// The SQLite state store projected from the journal (`[store] path`,
    /// default `<data_dir>/talon.db`).
    pub store_path: PathBuf,
    /// The loopback metrics endpoint (`[metrics] listen`), if any.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl SessionConfig {
    /// The default paper session (embedded simulator, BTCUSDT + ETHUSDT,
    /// `quote`) with its data in `data_dir`, for this machine, ignoring the
    /// process environment.
    pub fn paper(data_dir: impl Into<PathBuf>) -> Result<SessionConfig, ConfigError> {
        let mut cfg = RunConfig::from_toml("", EnvVars::default())?;
        cfg.data_dir = data_dir.into();
        cfg.into_session_config()
    }

    /// A config from TOML text (the `talon run --config` format) with data in
    /// `data_dir`, ignoring the process environment.
    pub fn from_toml(
        text: &str,
        data_dir: impl Into<PathBuf>,
    ) -> Result<SessionConfig, ConfigError> {
        let mut cfg = RunConfig::from_toml(text, EnvVars::default())?;
        let data_dir = data_dir.into();
        if cfg.journal.dir.is_none() {
            cfg.journal.dir = Some(data_dir.join("journal"));
        }
        cfg.data_dir = data_dir;
        cfg.into_session_config()
    }

    /// The same config with every busy-spinning thread idling with `yield`
    /// and no pinning (tests on a shared machine).
    pub fn polite(mut self) -> SessionConfig {
        self.layout = self
            .layout
            .without_pinning()
            .with_busy_spin_as(talon_core::agent::IdleConfig::Yield);
        self
    }
}

/// Why a session could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The session counter could not be advanced.
    #[error("session number: {0}")]
    SessionId(#[from] SessionIdError),
    /// The embedded simulator did not start.
    #[error("embedded simulator: {0}")]
    Sim(#[from] SimError),
    /// The instrument table could not be loaded.
    #[error("instruments: {0}")]
    Instruments(#[from] InstrumentsError),
    /// Ring capacities are invalid.
    #[error(transparent)]
    Rings(#[from] RingConfigError),
    /// The journal could not be opened.
    #[error("journal {dir}: {source}")]
    Journal {
        /// Its directory.
        dir: String,
        /// Why.
        source: JournalError,
    },
    /// The engine could not be built.
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    /// The feed could not be built.
    #[error("feed: {0}")]
    Feed(#[from] FeedError),
    /// The gateway could not be built.
    #[error("gateway: {0}")]
    Gateway(#[from] GatewayError),
    /// A layout thread's idle strategy is invalid.
    #[error("layout thread `{thread}`: {source}")]
    Idle {
        /// The thread.
        thread: String,
        /// Why.
        source: IdleConfigError,
    },
    /// A runner thread could not start.
    #[error(transparent)]
    Runner(#[from] RunnerError),
    /// The store projection or the metrics endpoint could not start.
    #[error("metrics/store: {0}")]
    Metrics(std::io::Error),
    /// The session did not become ready in time.
    #[error("not ready after {waited:?}: {why}")]
    NotReady {
        /// How long it waited.
        waited: Duration,
        /// What was missing.
        why: String,
    },
    /// A thread stopped while the session was running.
    #[error("session failed: {0}")]
    Failed(String),
    /// The control socket could not start.
    #[error(transparent)]
    Ctl(#[from] crate::ctl::CtlServerError),
}

/// One runner thread of the session.
#[derive(Debug)]
struct Thread {
    name: String,
    roles: Vec<AgentRole>,
    runner: AgentRunner,
}

/// A running session (see the module docs). Dropping it without
/// [`Session::stop`] stops the threads (runners stop on drop) but skips the
/// orderly cancel-all.
#[derive(Debug)]
pub struct Session {
    session_id: u32,
    layout: ThreadLayout,
    layout_name: String,
    venue_label: String,
    symbols: Vec<String>,
    strategy: &'static str,
    instruments: InstrumentTable,
    threads: Vec<Thread>,
    sim: Option<SimHandle>,
    engine: EngineHandle,
    gateway_counters: Arc<GatewayCounters>,
    gateway_latency: Arc<GatewayLatency>,
    feed_counters: Arc<FeedCounters>,
    readiness: Arc<Readiness>,
    runtime: Runtime,
    inbox: Arc<ArrayQueue<ControlMsg>>,
    next_command: std::sync::atomic::AtomicU64,
    rings: [Arc<RingStats>; 4],
    recovery: RecoveryReport,
    journal_dir: PathBuf,
    started: Instant,
    stop_timeout: Duration,
    last_rate: Mutex<(Instant, u64)>,
    metrics: crate::metrics::SessionMetrics,
    /// The control socket (`<data_dir>/talon.sock`); stopped first in
    /// [`Session::stop`].
    ctl: Option<crate::ctl::CtlServer>,
}

/// A static name for a composite thread (agents' names are `&'static str`).
fn composite_name(roles: &[AgentRole]) -> &'static str {
    match roles {
        [AgentRole::Feed, AgentRole::Engine] => "feed+engine",
        r if r.len() == AgentRole::ALL.len() => "all",
        _ => "composite",
    }
}

/// The preset a layout equals on this machine, or `custom`.
fn layout_name(layout: &ThreadLayout, cores: &MachineCores) -> String {
    if *layout == ThreadLayout::default_for(cores) {
        let preset = ThreadLayout::PRESETS
            .into_iter()
            .find(|p| ThreadLayout::preset_for(p, cores).as_ref() == Some(layout));
        return format!("default ({})", preset.unwrap_or("fitted"));
    }
    ThreadLayout::PRESETS
        .into_iter()
        .find(|p| ThreadLayout::preset_for(p, cores).as_ref() == Some(layout))
        .map_or_else(|| "custom".to_owned(), str::to_owned)
}

impl Session {
    /// Starts a session (see the module docs). Prints nothing; returns once
    /// every thread runs. The engine is `Halted` until ready.
    pub fn start(cfg: SessionConfig) -> Result<Session, SessionError> {
        // The journal first: its writer lock refuses a second session on
        // the same journal before anything else (the session counter
        // included) is touched.
        let journal_dir = cfg.journal.dir.clone();
        let journal_err = |source| SessionError::Journal {
            dir: journal_dir.display().to_string(),
            source,
        };
        let (journal, recovery) = JournalWriter::open(cfg.journal.clone()).map_err(journal_err)?;
        // Past every session number the journal's orders carry, whatever the
        // counter file says (lost, restored from an older backup).
        let used = id::highest_journal_session(&journal_dir).map_err(journal_err)?;
        let session_id = id::next_session_id_after(&cfg.data_dir, used)?;
        let sim = match &cfg.venue {
            VenueChoice::EmbeddedSim(sc) => Some(Simulator::start((**sc).clone())?),
            _ => None,
        };
        // On any error below, `sim` is dropped, which stops it.
        let (feed_venue, endpoint, venue_label) = match (&cfg.venue, &sim) {
            (VenueChoice::EmbeddedSim(_), Some(h)) => (
                Venue::Sim {
                    ws_base: h.ws_base(),
                    http_base: h.http_base(),
                    tls_root_der: h.tls_root_der(),
                },
                Endpoint::Sim {
                    ws_base: h.ws_base(),
                    tls_root_der: h.tls_root_der(),
                },
                format!("sim {}", h.ws_base()),
            ),
            (VenueChoice::External { ws_base, http_base }, _) => (
                Venue::Sim {
                    ws_base: ws_base.clone(),
                    http_base: http_base.clone(),
                    tls_root_der: None,
                },
                Endpoint::Sim {
                    ws_base: ws_base.clone(),
                    tls_root_der: None,
                },
                format!("external {ws_base}"),
            ),
            (VenueChoice::Testnet, _) => (Venue::Testnet, Endpoint::Testnet, "testnet".into()),
            _ => (Venue::Binance, Endpoint::Binance, "binance".into()),
        };

        let instruments = instruments::fetch_instruments(
            feed_venue.http_base(),
            feed_venue.extra_root_der(),
            &cfg.symbols,
            Duration::from_secs(10),
        )?;
        let ids: Vec<InstrumentId> = cfg
            .symbols
            .iter()
            .filter_map(|s| instruments.id_of(s))
            .collect();

        let rings = Rings::new(&cfg.rings)?;
        let ring_stats = rings.stats();

        let runtime = Runtime::new();
        let clock = MonotonicClock::new();
        let mut engine_cfg = cfg.engine.clone();
        engine_cfg.session = session_id;
        let strategy = engine_cfg.strategy.name();
        let Rings {
            md,
            order,
            exec,
            control,
        } = rings;
        let mut engine = EngineAgent::new(
            &engine_cfg,
            instruments.clone(),
            EngineRings {
                md: md.1,
                exec: exec.1,
                control: control.1,
                orders: order.0,
            },
            journal,
            &runtime,
            clock,
        )?;
        engine.set_next_seq(recovery.next_seq.max(1));
        let engine_handle = engine.handle();

        let symbol_refs: Vec<&str> = cfg.symbols.iter().map(String::as_str).collect();
        let mut feed_cfg = cfg.feed.clone();
        feed_cfg.venue = feed_venue;
        feed_cfg.symbols = cfg.symbols.clone();
        let feed = FeedAgent::new(feed_cfg, &instruments, md.0, clock)?;
        let feed_counters = feed.counters();

        let mut gw_cfg = cfg.gateway.clone();
        gw_cfg.endpoint = endpoint;
        gw_cfg.symbols = symbol_refs.iter().map(|s| (*s).to_owned()).collect();
        gw_cfg.session_id = session_id;
        let gateway = GatewayAgent::new(
            gw_cfg,
            &instruments,
            order.1,
            exec.0,
            Arc::clone(&runtime.halt),
            clock,
        )?;
        let gateway_counters = gateway.counters();
        let gateway_latency = gateway.latency();

        let readiness = Arc::new(Readiness::new(instruments.len()));
        let inbox = Arc::new(ArrayQueue::new(256));
        let control_agent = ControlAgent::new(
            engine_handle.clone(),
            Arc::clone(&readiness),
            Arc::clone(&inbox),
            control.0,
            clock,
        );

        let mut pending: BTreeMap<AgentRole, Box<dyn Agent>> = BTreeMap::new();
        pending.insert(AgentRole::Engine, Box::new(engine));
        pending.insert(
            AgentRole::Feed,
            Box::new(WatchedFeed::new(feed, ids, Arc::clone(&readiness))),
        );
        pending.insert(
            AgentRole::Gateway,
            Box::new(WatchedGateway::new(gateway, Arc::clone(&readiness))),
        );
        pending.insert(AgentRole::Control, Box::new(control_agent));

        let mut threads = Vec::with_capacity(cfg.layout.threads.len());
        for spec in &cfg.layout.threads {
            let idle = spec.idle.build().map_err(|source| SessionError::Idle {
                thread: spec.name.clone(),
                source,
            })?;
            let mut agents: Vec<Box<dyn Agent>> = spec
                .roles
                .iter()
                .filter_map(|r| pending.remove(r))
                .collect();
            let agent: Box<dyn Agent> = if agents.len() == 1 {
                agents.remove(0)
            } else {
                Box::new(CompositeAgent::new(composite_name(&spec.roles), agents))
            };
            let runner = AgentRunner::start(&spec.name, agent, idle, spec.core, &runtime)?;
            threads.push(Thread {
                name: spec.name.clone(),
                roles: spec.roles.clone(),
                runner,
            });
        }
        if let Some(role) = pending.keys().next() {
            // A validated layout places every role; never run without one.
            return Err(SessionError::Failed(format!(
                "the layout does not place the `{role}` agent"
            )));
        }

        let metrics = start_metrics(
            &cfg,
            &journal_dir,
            recovery.next_seq,
            MetricsSources {
                engine: engine_handle.clone(),
                gateway: Arc::clone(&gateway_counters),
                gateway_latency: Arc::clone(&gateway_latency),
                feed: Arc::clone(&feed_counters),
                rings: ring_stats.clone(),
                store: Arc::new(StoreStatus::default()),
                halt: Arc::clone(&runtime.halt),
                journal_base: 0,
            },
        )?;
        // ---- control socket (crate::ctl): last, once every thread runs;
        // on failure the runners and the simulator stop on drop.
        let started = Instant::now();
        let ctl = crate::ctl::CtlServer::start(
            &cfg.data_dir.join(crate::ctl::SOCKET_NAME),
            crate::ctl::SessionBackend {
                engine: engine_handle.clone(),
                halt: Arc::clone(&runtime.halt),
                readiness: Arc::clone(&readiness),
                feed: Arc::clone(&feed_counters),
                gateway: Arc::clone(&gateway_counters),
                inbox: Arc::clone(&inbox),
                rings: ring_stats.clone(),
                instruments: instruments.clone(),
                symbols: cfg.symbols.clone(),
                journal_dir: journal_dir.clone(),
                journal_start_seq: recovery.next_seq,
                started,
                next_command: crate::ctl::SessionBackend::FIRST_COMMAND_ID.into(),
                metrics: Some(Arc::clone(&metrics.sources)),
            },
        )?;
        // ---- end control socket

        let cores = MachineCores::detect();
        Ok(Session {
            session_id,
            layout_name: layout_name(&cfg.layout, &cores),
            layout: cfg.layout,
            venue_label,
            symbols: cfg.symbols,
            strategy,
            instruments,
            threads,
            sim,
            engine: engine_handle,
            gateway_counters,
            gateway_latency,
            feed_counters,
            readiness,
            runtime,
            inbox,
            next_command: std::sync::atomic::AtomicU64::new(1),
            rings: ring_stats,
            recovery,
            journal_dir,
            started,
            stop_timeout: cfg.stop_timeout,
            last_rate: Mutex::new((Instant::now(), 0)),
            metrics,
            ctl: Some(ctl),
        })
    }

    /// The session number.
    pub fn session_id(&self) -> u32 {
        self.session_id
    }

    /// The thread layout the session runs.
    pub fn layout(&self) -> &ThreadLayout {
        &self.layout
    }

    /// The layout's name (a preset's, `default (…)`, or `custom`).
    pub fn layout_name(&self) -> &str {
        &self.layout_name
    }

    /// The layout as text: one line per thread (agents → core → idle).
    pub fn layout_table(&self) -> String {
        let mut out = format!("thread layout: {}\n", self.layout_name);
        for t in &self.layout.threads {
            let roles: Vec<&str> = t.roles.iter().map(|r| r.as_str()).collect();
            let core = t
                .core
                .map_or_else(|| "unpinned".to_owned(), |c| format!("core {c}"));
            out.push_str(&format!(
                "  {:<10} agents {:<28} {:<9} idle {}\n",
                t.name,
                roles.join("+"),
                core,
                t.idle.to_toml_inline()
            ));
        }
        out
    }

    /// The venue label (`sim ws://…`, `testnet`, …).
    pub fn venue(&self) -> &str {
        &self.venue_label
    }

    /// The instrument table.
    pub fn instruments(&self) -> &InstrumentTable {
        &self.instruments
    }

    /// The embedded simulator (balances, order log, faults), if any.
    pub fn sim(&self) -> Option<&SimHandle> {
        self.sim.as_ref()
    }

    /// The engine's handle (stats, summary, `set_reducing`).
    pub fn engine(&self) -> &EngineHandle {
        &self.engine
    }

    /// The gateway's counters.
    pub fn gateway_counters(&self) -> &Arc<GatewayCounters> {
        &self.gateway_counters
    }

    /// The gateway's per-order stage latency (internal tick-to-trade and
    /// its stages; recording switchable, see [`GatewayLatency`]).
    pub fn gateway_latency(&self) -> &Arc<GatewayLatency> {
        &self.gateway_latency
    }

    /// The feed's counters.
    pub fn feed_counters(&self) -> &Arc<FeedCounters> {
        &self.feed_counters
    }

    /// Readiness flags (gateway ready, feed health per instrument).
    pub fn readiness(&self) -> &Arc<Readiness> {
        &self.readiness
    }

    /// The process halt flag shared by every agent.
    pub fn halt_flag(&self) -> &Arc<HaltFlag> {
        &self.runtime.halt
    }

    /// The runtime (halt flag and failure counters).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Ring counters (md, order, exec, control).
    pub fn ring_snapshots(&self) -> [RingSnapshot; 4] {
        self.rings.each_ref().map(|r| r.snapshot())
    }

    /// What the journal's recovery found at start.
    pub fn journal_recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The journal directory.
    pub fn journal_dir(&self) -> &Path {
        &self.journal_dir
    }

    /// The control socket's path (`talon ctl --socket PATH`), while it runs.
    pub fn control_socket(&self) -> Option<&Path> {
        self.ctl.as_ref().map(|c| c.path())
    }

    /// Sends a command to the engine through the control agent; returns its
    /// command id, or `None` if the inbox is full.
    pub fn send_control(&self, command: ControlCommand) -> Option<u64> {
        // Relaxed: a unique id is all that is needed.
        let id = self
            .next_command
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inbox
            .push(ControlMsg::new(id, command))
            .ok()
            .map(|()| id)
    }

    /// Waits (polling every 10 ms) until the engine is ready, at most
    /// `timeout`; fails early if a thread stopped.
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), SessionError> {
        let start = Instant::now();
        loop {
            if self.engine.is_ready() {
                return Ok(());
            }
            if let Some(why) = self.fault() {
                return Err(SessionError::Failed(why));
            }
            if start.elapsed() >= timeout {
                let r = &self.readiness;
                let why = format!(
                    "gateway ready: {}, feed receiving: {}, healthy: {}",
                    r.gateway_ready(),
                    r.feed_receiving(),
                    self.symbols
                        .iter()
                        .filter_map(|s| self.instruments.id_of(s).map(|id| (s, id)))
                        .map(|(s, id)| format!("{s}={}", r.instrument_healthy(id)))
                        .collect::<Vec<_>>()
                        .join(",")
                );
                return Err(SessionError::NotReady {
                    waited: start.elapsed(),
                    why,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A description of what failed, if a runner thread ended or an agent
    /// threw the halt flag (an operator halt is not a fault).
    pub fn fault(&self) -> Option<String> {
        if let Some(t) = self.threads.iter().find(|t| t.runner.is_finished()) {
            return Some(format!("thread `{}` ended", t.name));
        }
        match self.runtime.halt.reason() {
            Some(
                r @ (HaltReason::AgentError
                | HaltReason::AgentPanic
                | HaltReason::StartupFailed
                | HaltReason::JournalFailure),
            ) => Some(format!("halted: {}", r.as_str())),
            _ => None,
        }
    }

    fn rejects(&self) -> BTreeMap<String, u64> {
        let s = self.engine.summary();
        let mut out: BTreeMap<String, u64> = s
            .rejects
            .iter()
            .map(|(r, n)| (r.as_str().to_owned(), n))
            .collect();
        if s.venue_rejects > 0 {
            out.insert("venue".to_owned(), s.venue_rejects);
        }
        let local = self.gateway_counters.get(GatewayCounter::LocalRejects);
        if local > 0 {
            out.insert("gateway".to_owned(), local);
        }
        out
    }

    fn positions(&self) -> Vec<PositionLine> {
        let stats = self.engine.stats();
        self.instruments
            .iter()
            .filter_map(|(id, spec)| {
                let p = stats.position(id)?;
                Some(PositionLine {
                    symbol: spec.symbol.as_str().to_owned(),
                    qty: p.qty,
                    avg_price: p.avg_price,
                    realised_pnl: p.realised,
                    fees: p.fees,
                    fills: p.fills,
                })
            })
            .collect()
    }

    /// The live status (market messages per second since the previous
    /// call).
    pub fn status(&self) -> SessionStatus {
        let s = self.engine.summary();
        let msgs = self.feed_counters.get(FeedCounter::Messages);
        let now = Instant::now();
        let rate = match self.last_rate.lock() {
            Ok(mut last) => {
                let ms = now.duration_since(last.0).as_millis().max(1);
                let r = u64::try_from(u128::from(msgs.saturating_sub(last.1)) * 1000 / ms)
                    .unwrap_or(u64::MAX);
                *last = (now, msgs);
                r
            }
            Err(_) => 0,
        };
        SessionStatus {
            elapsed: self.started.elapsed(),
            state: s.state,
            ready: self.engine.is_ready(),
            market_messages: msgs,
            market_messages_per_sec: rate,
            orders_sent: s.orders_sent,
            cancels_sent: s.cancels_sent,
            fills: s.fills,
            open_orders: s.open_orders,
            rejects: self.rejects(),
            positions: self.positions(),
            realised_pnl: s.realised_pnl,
            daily_pnl: s.daily_pnl,
            tick_to_trade: s.tick_to_order.into(),
        }
    }

    /// Stops the session cleanly (see the module docs) and summarises it.
    pub fn stop(mut self) -> Result<SessionSummary, SessionError> {
        // The control socket first: no operator command races the shutdown.
        if let Some(ctl) = self.ctl.take() {
            ctl.stop();
        }
        self.runtime.halt.halt(HaltReason::Operator);
        let deadline = Instant::now() + self.stop_timeout;
        // The engine cancels every open order once halted; wait for the
        // venue's acks (bounded), unless a thread already died.
        while self.engine.summary().open_orders > 0
            && Instant::now() < deadline
            && self.fault().is_none()
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let open_at_stop = self.engine.summary().open_orders;
        // Stop requests go out in role order (engine, gateway, feed,
        // control), then each thread is joined in the same order. A thread
        // whose ring peer stopped first may end with `peer_gone` instead of
        // seeing its own stop request: that is part of this shutdown, not a
        // failure.
        let mut order: Vec<Thread> = Vec::with_capacity(self.threads.len());
        for role in STOP_ORDER {
            while let Some(i) = self.threads.iter().position(|t| t.roles.contains(&role)) {
                order.push(self.threads.remove(i));
            }
        }
        order.append(&mut self.threads);
        for t in &order {
            t.runner.stop();
        }
        let mut exits = Vec::with_capacity(order.len());
        for t in order {
            let exit = match t.runner.join() {
                RunnerExit::AgentError {
                    error: AgentError::PeerGone,
                    ..
                } => RunnerExit::Stopped,
                e => e,
            };
            exits.push((t.name, exit));
        }
        // The engine synced the journal in its `on_close`: project the rest.
        self.metrics.finish();
        if let Some(sim) = self.sim.take() {
            sim.stop();
        }
        let s = self.engine.summary();
        let clean = exits.iter().all(|(_, e)| e.is_clean());
        Ok(SessionSummary {
            session_id: self.session_id,
            venue: self.venue_label.clone(),
            symbols: self.symbols.clone(),
            strategy: self.strategy.to_owned(),
            layout: self.layout_name.clone(),
            duration_s: self.started.elapsed().as_secs_f64(),
            market_messages: self.feed_counters.get(FeedCounter::Messages),
            engine_market_events: s.market_messages,
            orders_sent: s.orders_sent,
            cancels_sent: s.cancels_sent,
            fills: s.fills,
            exec_reports: s.exec_reports,
            rejects_by_reason: self.rejects(),
            risk_rejects: s.risk_rejects,
            venue_rejects: s.venue_rejects,
            open_orders_at_stop: open_at_stop,
            positions: self.positions(),
            realised_pnl: s.realised_pnl,
            daily_pnl: s.daily_pnl,
            tick_to_trade_ns: self
                .engine
                .stats()
                .histogram(LatencyStage::TickToOrder)
                .summary()
                .into(),
            halt_reason: s.halt_reason.map(str::to_owned),
            journal_dir: self.journal_dir.display().to_string(),
            journal_records: self
                .engine
                .stats()
                .get(talon_core::engine::agent::EngineCounter::JournalRecords),
            runner_exits: exits
                .iter()
                .map(|(n, e): &(String, RunnerExit)| format!("{n}: {e}"))
                .collect(),
            clean,
        })
    }
}

// ---- store projection and metrics (see `crate::metrics`) ----

/// Starts the store projection thread and the optional metrics endpoint.
/// `journal_next_seq` is the recovered journal's next sequence.
fn start_metrics(
    cfg: &SessionConfig,
    journal_dir: &Path,
    journal_next_seq: u64,
    mut sources: MetricsSources,
) -> Result<SessionMetrics, SessionError> {
    sources.journal_base = journal_next_seq;
    SessionMetrics::start(
        Arc::new(sources),
        &cfg.store_path,
        journal_dir,
        cfg.metrics_listen,
    )
    .map_err(SessionError::Metrics)
}

impl Session {
    /// The statistics [`crate::metrics::render`] reads.
    pub fn metrics_sources(&self) -> &Arc<MetricsSources> {
        &self.metrics.sources
    }

    /// Journal records written but not yet projected into the store.
    pub fn store_lag(&self) -> u64 {
        self.metrics.sources.store_lag()
    }

    /// The store projection's status (last applied sequence, errors).
    pub fn store_status(&self) -> &Arc<StoreStatus> {
        &self.metrics.sources.store
    }

    /// The SQLite store file.
    pub fn store_path(&self) -> &Path {
        &self.metrics.store_path
    }

    /// The metrics endpoint's bound address, if `[metrics] listen` is set.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics.addr()
    }
}

/// Stop order of the roles: the engine first so nothing new is decided,
/// then the gateway, the feed, and control last.
const STOP_ORDER: [AgentRole; 4] = [
    AgentRole::Engine,
    AgentRole::Gateway,
    AgentRole::Feed,
    AgentRole::Control,
];
