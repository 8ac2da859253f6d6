//! Shared harness of the gateway's simulator tests: an in-process
//! `talon_sim::Simulator` on loopback, a `GatewayAgent` driven on the test
//! thread through an `AgentInvoker`, the order ring the test pushes into and
//! the exec ring it drains. Every wait is bounded (a bug fails the test
//! instead of hanging it); nothing asserts a timing except where the issue
//! states one.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use talon_core::agent::{AgentInvoker, Runtime};
use talon_core::clock::MonotonicClock;
use talon_core::event::{
    ClientOrderId, ExecReport, OrderCommand, OrderStatus, OrderType, Side, TimeInForce,
};
use talon_core::halt::HaltFlag;
use talon_core::instrument::{Filters, InstrumentId, InstrumentSpec, InstrumentTable, Symbol};
use talon_core::num::{Price, Qty};
use talon_core::ring::{ExecConsumer, OrderProducer, ring};
use talon_gateway::agent::GatewayAgent;
use talon_gateway::config::{AuthSecret, Credentials, Endpoint, GatewayConfig, Secret};
use talon_gateway::counters::GatewayCounters;
use talon_sim::config::{DEMO_API_KEY, DEMO_SECRET};
use talon_sim::{SimConfig, SimHandle, Simulator};

/// Session id of the harness's client order ids.
pub const SESSION: u32 = 42;

/// BTCUSDT and ETHUSDT, as the simulator lists them.
pub fn instruments() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    for (s, base) in [("BTCUSDT", "BTC"), ("ETHUSDT", "ETH")] {
        t.insert(InstrumentSpec {
            symbol: Symbol::new(s).unwrap(),
            base_asset: Symbol::new(base).unwrap(),
            quote_asset: Symbol::new("USDT").unwrap(),
            filters: Filters::default(),
        })
        .unwrap();
    }
    t
}

/// A simulator config for order tests: generator paused (the book stays
/// put: marketable orders fill against it, far orders rest untouched).
pub fn sim_config() -> SimConfig {
    SimConfig {
        start_paused: true,
        seed: 7,
        ..SimConfig::default()
    }
}

/// HMAC credentials (the simulator's demo account by default).
pub fn hmac(key: &str, secret: &str) -> Credentials {
    Credentials {
        api_key: key.into(),
        auth: AuthSecret::Hmac(Secret::new(secret.as_bytes().to_vec())),
    }
}

/// A gateway config for `sim` with test-friendly timers.
pub fn gateway_config(sim: &SimHandle) -> GatewayConfig {
    let mut cfg = GatewayConfig::new(
        Endpoint::Sim {
            ws_base: sim.ws_base(),
            tls_root_der: None,
        },
        &["BTCUSDT", "ETHUSDT"],
    );
    cfg.credentials = Some(hmac(DEMO_API_KEY, DEMO_SECRET));
    cfg.session_id = SESSION;
    cfg.reconnect.initial = Duration::from_millis(20);
    cfg.reconnect.max = Duration::from_millis(200);
    cfg.ack_timeout = Duration::from_millis(500);
    cfg
}

/// One gateway under test.
pub struct Harness {
    pub inv: AgentInvoker<GatewayAgent>,
    pub orders: OrderProducer,
    pub exec: ExecConsumer,
    pub halt: Arc<HaltFlag>,
    pub counters: Arc<GatewayCounters>,
    pub btc: InstrumentId,
    pub eth: InstrumentId,
    pub reports: Vec<ExecReport>,
    seq: u64,
}

impl Harness {
    /// Builds and starts a gateway with `cfg` (not yet connected).
    pub fn start(cfg: GatewayConfig) -> Harness {
        Harness::start_seq(cfg, 0)
    }

    /// As [`start`], client order ids continuing after `seq`.
    pub fn start_seq(cfg: GatewayConfig, seq: u64) -> Harness {
        let table = instruments();
        let (orders, orders_rx) = ring::<OrderCommand>("order", 1024);
        let (exec_tx, exec) = ring::<ExecReport>("exec", 1 << 14);
        let halt = Arc::new(HaltFlag::new());
        let agent = GatewayAgent::new(
            cfg,
            &table,
            orders_rx,
            exec_tx,
            Arc::clone(&halt),
            MonotonicClock::new(),
        )
        .expect("gateway builds");
        let counters = agent.counters();
        let mut inv = AgentInvoker::new(agent, &Runtime::new());
        inv.start().expect("gateway starts");
        Harness {
            inv,
            orders,
            exec,
            halt,
            counters,
            btc: table.id_of("BTCUSDT").unwrap(),
            eth: table.id_of("ETHUSDT").unwrap(),
            reports: Vec::new(),
            seq,
        }
    }

    /// One duty cycle; exec reports are collected.
    pub fn cycle(&mut self) -> usize {
        let work = self.inv.invoke().expect("gateway cycle");
        let reports = &mut self.reports;
        self.exec.drain(usize::MAX, |r| reports.push(r));
        if work == 0 {
            std::thread::yield_now();
        }
        work
    }

    /// Cycles until `done` holds; panics with `what` after `timeout`.
    pub fn run_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&Harness) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: state {:?}, counters {:?}",
                self.inv.agent().session_state(),
                self.counters
            );
            self.cycle();
        }
    }

    /// Cycles for `d` (lets in-flight traffic settle).
    pub fn run_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.cycle();
        }
    }

    /// Waits until the session is ready.
    pub fn ready(&mut self) {
        self.run_until("session ready", Duration::from_secs(15), |h| {
            h.inv.agent().is_ready()
        });
    }

    /// The next client order id of this session.
    pub fn next_id(&mut self) -> ClientOrderId {
        self.seq += 1;
        ClientOrderId::from_session_seq(SESSION, self.seq)
    }

    /// Pushes a command onto the order ring (cycling while it is full).
    pub fn push(&mut self, cmd: OrderCommand) {
        let mut cmd = cmd;
        loop {
            match self.orders.push(cmd) {
                Ok(()) => return,
                Err(full) => {
                    cmd = full.into_inner();
                    self.cycle();
                }
            }
        }
    }

    /// A LIMIT order.
    pub fn limit(
        &mut self,
        inst: InstrumentId,
        side: Side,
        tif: TimeInForce,
        price: &str,
        qty: &str,
    ) -> ClientOrderId {
        let id = self.next_id();
        self.push(OrderCommand::new_order(
            inst,
            side,
            OrderType::Limit,
            tif,
            Price::parse(price).unwrap(),
            Qty::parse(qty).unwrap(),
            id,
        ));
        id
    }

    /// Reports for `id`, in arrival order.
    pub fn reports_for(&self, id: &ClientOrderId) -> Vec<ExecReport> {
        self.reports
            .iter()
            .filter(|r| r.client_order_id == *id)
            .copied()
            .collect()
    }

    /// The last report for `id`, if any.
    pub fn last(&self, id: &ClientOrderId) -> Option<ExecReport> {
        self.reports
            .iter()
            .rev()
            .find(|r| r.client_order_id == *id)
            .copied()
    }

    /// Waits for a report for `id` with status `status`.
    pub fn wait_status(&mut self, id: &ClientOrderId, status: OrderStatus) -> ExecReport {
        let id = *id;
        self.run_until(&format!("{id} {status:?}"), Duration::from_secs(10), |h| {
            h.reports_for(&id).iter().any(|r| r.status == status)
        });
        *self
            .reports_for(&id)
            .iter()
            .find(|r| r.status == status)
            .unwrap()
    }

    /// Waits for a terminal report for `id`.
    pub fn wait_terminal(&mut self, id: &ClientOrderId) -> ExecReport {
        let id = *id;
        self.run_until(&format!("{id} terminal"), Duration::from_secs(10), |h| {
            h.last(&id).is_some_and(|r| r.status.is_terminal())
        });
        self.last(&id).unwrap()
    }

    /// Closes the agent.
    pub fn close(mut self) {
        self.inv.close();
    }
}

/// Starts a simulator with `cfg`.
pub fn sim(cfg: SimConfig) -> SimHandle {
    Simulator::start(cfg).expect("simulator starts")
}

/// Best bid and ask of `symbol` at the simulator.
pub fn top(sim: &SimHandle, symbol: &str) -> (Price, Price) {
    let b = sim.book(symbol).expect("book");
    (b.bids[0].0, b.asks[0].0)
}
