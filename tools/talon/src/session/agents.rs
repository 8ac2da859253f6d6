//! The session's glue agents: readiness publishing around the feed and the
//! gateway, and the control agent.
//!
//! Owns [`Readiness`] (flags other threads read: gateway session ready,
//! feed connection open and receiving, per-instrument feed health),
//! [`WatchedFeed`] and [`WatchedGateway`] (wrap [`FeedAgent`] /
//! [`GatewayAgent`], delegate every call, and after each duty cycle publish
//! what changed into [`Readiness`] — a few plain loads of the agent's own
//! state and a store only on a change: no allocation, no lock, no syscall),
//! and [`ControlAgent`] (the `control` role of the layout: slow, unpinned in
//! every preset; forwards operator commands from a lock-free inbox to the
//! control ring, and flips [`EngineHandle::set_ready`] on when the gateway
//! is ready and every instrument's feed is healthy, off when either drops).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;
use talon_core::agent::{Agent, AgentError};
use talon_core::clock::{MonotonicClock, NanoClock, Nanos};
use talon_core::engine::agent::EngineHandle;
use talon_core::event::ControlMsg;
use talon_core::instrument::InstrumentId;
use talon_core::ring::ControlProducer;
use talon_feed::agent::FeedAgent;
use talon_feed::counters::{FeedCounter, FeedCounters};
use talon_feed::ws::WsState;
use talon_gateway::agent::GatewayAgent;

/// How often the control agent re-evaluates readiness.
const READINESS_PERIOD_NS: u64 = 5_000_000;

/// Readiness flags, written by the wrapped agents' threads, read by the
/// control agent (and the session's status).
#[derive(Debug)]
pub struct Readiness {
    gateway_ready: AtomicBool,
    feed_receiving: AtomicBool,
    healthy: Box<[AtomicBool]>,
    /// Times the engine was switched ready / not ready.
    ready_flips: AtomicU64,
}

impl Readiness {
    /// All flags down, for `instruments` instruments.
    pub fn new(instruments: usize) -> Readiness {
        Readiness {
            gateway_ready: AtomicBool::new(false),
            feed_receiving: AtomicBool::new(false),
            healthy: (0..instruments).map(|_| AtomicBool::new(false)).collect(),
            ready_flips: AtomicU64::new(0),
        }
    }

    /// The gateway's session is `Ready` (synced, subscribed).
    pub fn gateway_ready(&self) -> bool {
        // Acquire: pairs with the Release store in `WatchedGateway::publish`.
        self.gateway_ready.load(Ordering::Acquire)
    }

    /// The feed's connection is open and has delivered a message since it
    /// opened.
    pub fn feed_receiving(&self) -> bool {
        // Acquire: pairs with the Release store in `WatchedFeed::publish`.
        self.feed_receiving.load(Ordering::Acquire)
    }

    /// The feed reports `id` healthy (see `talon_feed::agent`).
    pub fn instrument_healthy(&self, id: InstrumentId) -> bool {
        self.healthy
            .get(id.index())
            // Acquire: pairs with the Release store in `WatchedFeed::publish`.
            .is_some_and(|f| f.load(Ordering::Acquire))
    }

    /// Every instrument healthy and the feed receiving.
    pub fn feed_ready(&self) -> bool {
        self.feed_receiving()
            // Acquire: as in `instrument_healthy`.
            && self.healthy.iter().all(|f| f.load(Ordering::Acquire))
    }

    /// Gateway ready and feed ready: what the engine needs to trade.
    pub fn all_ready(&self) -> bool {
        self.gateway_ready() && self.feed_ready()
    }

    /// Times the control agent switched the engine's readiness.
    pub fn ready_flips(&self) -> u64 {
        // Relaxed: a statistic; publishes nothing.
        self.ready_flips.load(Ordering::Relaxed)
    }
}

/// [`FeedAgent`] plus readiness publishing (role `feed`).
#[derive(Debug)]
pub struct WatchedFeed {
    inner: FeedAgent,
    ids: Box<[InstrumentId]>,
    counters: Arc<FeedCounters>,
    readiness: Arc<Readiness>,
    /// Messages counted when the connection was last seen opening.
    msgs_at_open: Option<u64>,
    last_receiving: bool,
    last_healthy: Box<[bool]>,
}

impl WatchedFeed {
    /// Wraps `inner`; `ids` are the instruments it serves.
    pub fn new(inner: FeedAgent, ids: Vec<InstrumentId>, readiness: Arc<Readiness>) -> Self {
        let n = ids.len();
        WatchedFeed {
            counters: inner.counters(),
            inner,
            ids: ids.into_boxed_slice(),
            readiness,
            msgs_at_open: None,
            last_receiving: false,
            last_healthy: vec![false; n].into_boxed_slice(),
        }
    }

    fn publish(&mut self) {
        let open = self.inner.ws_state() == WsState::Open;
        let msgs = self.counters.get(FeedCounter::Messages);
        let receiving = match (open, self.msgs_at_open) {
            (false, _) => {
                self.msgs_at_open = None;
                false
            }
            (true, None) => {
                self.msgs_at_open = Some(msgs);
                false
            }
            (true, Some(at)) => msgs > at,
        };
        if receiving != self.last_receiving {
            self.last_receiving = receiving;
            // Release: pairs with the Acquire load in `Readiness::feed_receiving`.
            self.readiness
                .feed_receiving
                .store(receiving, Ordering::Release);
        }
        for (i, id) in self.ids.iter().enumerate() {
            let h = receiving && self.inner.is_healthy(*id);
            if let (Some(last), Some(flag)) = (
                self.last_healthy.get_mut(i),
                self.readiness.healthy.get(id.index()),
            ) && *last != h
            {
                *last = h;
                // Release: pairs with the Acquire loads in `Readiness`.
                flag.store(h, Ordering::Release);
            }
        }
    }
}

impl Agent for WatchedFeed {
    fn on_start(&mut self) -> Result<(), AgentError> {
        self.inner.on_start()
    }

    fn do_work(&mut self) -> Result<usize, AgentError> {
        let work = self.inner.do_work()?;
        self.publish();
        Ok(work)
    }

    fn on_close(&mut self) {
        self.inner.on_close();
        self.last_receiving = false;
        // Release: as in `publish`.
        self.readiness
            .feed_receiving
            .store(false, Ordering::Release);
    }

    fn role_name(&self) -> &'static str {
        self.inner.role_name()
    }
}

/// [`GatewayAgent`] plus readiness publishing (role `gateway`).
#[derive(Debug)]
pub struct WatchedGateway {
    inner: GatewayAgent<MonotonicClock>,
    readiness: Arc<Readiness>,
    last: bool,
}

impl WatchedGateway {
    /// Wraps `inner`.
    pub fn new(inner: GatewayAgent<MonotonicClock>, readiness: Arc<Readiness>) -> Self {
        WatchedGateway {
            inner,
            readiness,
            last: false,
        }
    }

    fn publish(&mut self) {
        let ready = self.inner.is_ready();
        if ready != self.last {
            self.last = ready;
            // Release: pairs with the Acquire load in `Readiness::gateway_ready`.
            self.readiness.gateway_ready.store(ready, Ordering::Release);
        }
    }
}

impl Agent for WatchedGateway {
    fn on_start(&mut self) -> Result<(), AgentError> {
        self.inner.on_start()
    }

    fn do_work(&mut self) -> Result<usize, AgentError> {
        let work = self.inner.do_work()?;
        self.publish();
        Ok(work)
    }

    fn on_close(&mut self) {
        self.inner.on_close();
        self.last = false;
        // Release: as in `publish`.
        self.readiness.gateway_ready.store(false, Ordering::Release);
    }

    fn role_name(&self) -> &'static str {
        self.inner.role_name()
    }
}

/// The `control` role: operator commands → control ring, and the engine's
/// readiness switch.
#[derive(Debug)]
pub struct ControlAgent {
    engine: EngineHandle,
    readiness: Arc<Readiness>,
    inbox: Arc<ArrayQueue<ControlMsg>>,
    ring: ControlProducer,
    /// A command the full ring refused, retried first.
    held: Option<ControlMsg>,
    clock: MonotonicClock,
    next_check: Nanos,
    ready: bool,
}

impl ControlAgent {
    /// A control agent feeding `ring` from `inbox`, switching `engine`.
    pub fn new(
        engine: EngineHandle,
        readiness: Arc<Readiness>,
        inbox: Arc<ArrayQueue<ControlMsg>>,
        ring: ControlProducer,
        clock: MonotonicClock,
    ) -> ControlAgent {
        ControlAgent {
            engine,
            readiness,
            inbox,
            ring,
            held: None,
            clock,
            next_check: Nanos::ZERO,
            ready: false,
        }
    }
}

impl Agent for ControlAgent {
    fn do_work(&mut self) -> Result<usize, AgentError> {
        let mut work = 0;
        // At most 16 commands per cycle; a full ring keeps the command held
        // (never dropped) and retries next cycle.
        for _ in 0..16 {
            let Some(mut msg) = self.held.take().or_else(|| self.inbox.pop()) else {
                break;
            };
            if msg.stamps.recv.0 == 0 {
                msg.stamps.recv = self.clock.now();
            }
            if let Err(full) = self.ring.push(msg) {
                self.held = Some(full.into_inner());
                break;
            }
            work += 1;
        }
        let now = self.clock.now();
        if now >= self.next_check {
            self.next_check = now.saturating_add(READINESS_PERIOD_NS);
            let ready = self.readiness.all_ready();
            if ready != self.ready {
                self.ready = ready;
                self.engine.set_ready(ready);
                // Relaxed: a statistic.
                self.readiness.ready_flips.fetch_add(1, Ordering::Relaxed);
                work += 1;
            }
        }
        Ok(work)
    }

    fn on_close(&mut self) {
        if self.ready {
            self.ready = false;
            self.engine.set_ready(false);
        }
    }

    fn role_name(&self) -> &'static str {
        "control"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use talon_core::agent::Runtime;
    use talon_core::engine::agent::{EngineAgent, EngineRings};
    use talon_core::engine::config::EngineConfig;
    use talon_core::event::ControlCommand;
    use talon_core::instrument::InstrumentTable;
    use talon_core::journal::{JournalConfig, JournalWriter};
    use talon_core::ring::{RingConfig, Rings};

    fn set(flag: &AtomicBool, v: bool) {
        flag.store(v, Ordering::Release);
    }

    #[test]
    fn control_switches_readiness_both_ways_and_forwards_commands() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::run_config::RunConfig::default().engine;
        let cfg = EngineConfig { session: 1, ..cfg };
        let rings = Rings::new(&RingConfig::default()).unwrap();
        let (journal, _) = JournalWriter::open(JournalConfig::new(dir.path())).unwrap();
        let engine = EngineAgent::new(
            &cfg,
            InstrumentTable::new(),
            EngineRings {
                md: rings.md.1,
                exec: rings.exec.1,
                control: rings.control.1,
                orders: rings.order.0,
            },
            journal,
            &Runtime::new(),
            MonotonicClock::new(),
        )
        .unwrap();
        let handle = engine.handle();
        let (ctl_tx, mut ctl_rx) = talon_core::ring::ring::<ControlMsg>("control", 16);
        let readiness = Arc::new(Readiness::new(2));
        let inbox = Arc::new(ArrayQueue::new(4));
        let clock = MonotonicClock::new();
        let mut agent = ControlAgent::new(
            handle.clone(),
            Arc::clone(&readiness),
            Arc::clone(&inbox),
            ctl_tx,
            clock,
        );
        // Each check is at least READINESS_PERIOD_NS apart.
        let cycle = |agent: &mut ControlAgent| {
            std::thread::sleep(std::time::Duration::from_nanos(READINESS_PERIOD_NS + 1_000));
            agent.do_work().unwrap()
        };

        cycle(&mut agent);
        assert!(!handle.is_ready());
        set(&readiness.gateway_ready, true);
        set(&readiness.feed_receiving, true);
        set(&readiness.healthy[0], true);
        cycle(&mut agent);
        assert!(!handle.is_ready(), "one instrument still unhealthy");
        set(&readiness.healthy[1], true);
        cycle(&mut agent);
        assert!(handle.is_ready());
        assert!(readiness.all_ready());
        // The gateway drops: not ready; back: ready again.
        set(&readiness.gateway_ready, false);
        cycle(&mut agent);
        assert!(!handle.is_ready());
        set(&readiness.gateway_ready, true);
        cycle(&mut agent);
        assert!(handle.is_ready());
        // A feed instrument goes stale.
        set(&readiness.healthy[1], false);
        cycle(&mut agent);
        assert!(!handle.is_ready());
        assert_eq!(readiness.ready_flips(), 4);

        inbox
            .push(ControlMsg::new(
                9,
                ControlCommand::CancelAll { instrument: None },
            ))
            .unwrap();
        assert!(cycle(&mut agent) >= 1);
        let got = ctl_rx.pop().unwrap();
        assert_eq!(got.command_id, 9);
        assert_ne!(got.stamps.recv.0, 0);
        agent.on_close();
        assert!(!handle.is_ready());
        drop(engine);
    }
}
