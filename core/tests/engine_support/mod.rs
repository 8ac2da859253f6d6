//! Shared harness for the `engine_*` integration tests: an `EngineAgent`
//! over real rings and a temp journal, driven by an `AgentInvoker`, with a
//! settable clock, a scripted strategy and journal readers.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use talon_core::agent::{AgentInvoker, Runtime};
use talon_core::clock::{NanoClock, Nanos};
use talon_core::engine::agent::{EngineAgent, EngineHandle, EngineRings};
use talon_core::engine::config::EngineConfig;
use talon_core::engine::risk::RiskLimits;
use talon_core::engine::strategy::{
    Intent, IntentBuf, MarketView, Strategy, StrategyConfig, build,
};
use talon_core::event::{
    ControlMsg, Decision, ExecReport, JournalPayload, MarketData, MarketEvent, OrderCommand,
    OrderStatus, Side, Stamps, TopOfBook, Trade,
};
use talon_core::instrument::{Filters, InstrumentId, InstrumentSpec, InstrumentTable, Symbol};
use talon_core::journal::{JournalConfig, JournalReader, JournalWriter, RecordKind};
use talon_core::num::{Notional, Price, Qty};
use talon_core::ring::{
    ControlProducer, ExecProducer, MdProducer, OrderConsumer, RingConfig, Rings,
};

pub fn p(s: &str) -> Price {
    Price::parse(s).unwrap()
}
pub fn q(s: &str) -> Qty {
    Qty::parse(s).unwrap()
}

/// A clock the test sets; clones share the time.
#[derive(Clone, Debug, Default)]
pub struct TestClock(pub Arc<AtomicU64>);

impl NanoClock for TestClock {
    fn now(&self) -> Nanos {
        // Relaxed: one test thread drives everything.
        Nanos(self.0.load(Ordering::Relaxed))
    }
}

impl TestClock {
    pub fn advance(&self, ns: u64) {
        self.0.fetch_add(ns, Ordering::Relaxed);
    }
}

/// Emits the intents queued by the test, on the next market event.
#[derive(Clone, Default)]
pub struct Scripted(pub Arc<Mutex<Vec<Intent>>>);

impl Strategy for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }
    fn on_market(&mut self, _ev: &MarketEvent, _view: &MarketView<'_>, out: &mut IntentBuf) {
        for i in self.0.lock().unwrap().drain(..) {
            let _ = out.push(i);
        }
    }
    fn on_exec(&mut self, _rep: &ExecReport, _view: &MarketView<'_>, _out: &mut IntentBuf) {}
}

pub fn table() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    for (sym, base) in [("BTCUSDT", "BTC"), ("ETHUSDT", "ETH")] {
        t.insert(InstrumentSpec {
            symbol: Symbol::new(sym).unwrap(),
            base_asset: Symbol::new(base).unwrap(),
            quote_asset: Symbol::new("USDT").unwrap(),
            filters: Filters {
                tick_size: p("0.01"),
                step_size: q("0.0001"),
                min_qty: q("0.0001"),
                min_notional: Notional::parse("5").unwrap(),
                ..Filters::default()
            },
        })
        .unwrap();
    }
    t
}

pub fn limits() -> RiskLimits {
    RiskLimits::from_toml(
        r#"
        max_order_notional = "1000"
        max_position = "0.1"
        max_open_orders = 20
        max_orders_per_sec = 1000
        order_burst = 1000
        price_band_bps = 100
        daily_loss_limit = "50"
    "#,
    )
    .unwrap()
}

pub struct Harness {
    pub inv: AgentInvoker<EngineAgent<TestClock>>,
    pub handle: EngineHandle,
    pub runtime: Runtime,
    pub clock: TestClock,
    pub md: MdProducer,
    pub exec: ExecProducer,
    pub control: ControlProducer,
    pub orders: OrderConsumer,
    pub script: Scripted,
    pub dir: tempfile::TempDir,
}

pub enum Strat {
    Config(StrategyConfig),
    Scripted,
}

impl Harness {
    pub fn new(strategy: Strat) -> Harness {
        Harness::with_rings(strategy, RingConfig::default())
    }

    pub fn with_rings(strategy: Strat, rings: RingConfig) -> Harness {
        let rings = Rings::new(&rings).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = JournalWriter::open(JournalConfig::new(dir.path())).unwrap();
        let runtime = Runtime::new();
        let clock = TestClock(Arc::new(AtomicU64::new(1_000_000_000)));
        let script = Scripted::default();
        let (strategy, strat_cfg): (Box<dyn Strategy>, StrategyConfig) = match strategy {
            Strat::Config(c) => (build(&c, &table()).unwrap(), c),
            Strat::Scripted => (
                Box::new(script.clone()),
                toml::from_str("name = \"bench\"\nmark_every = 1\n").unwrap(),
            ),
        };
        let mut config = EngineConfig::new(7, strat_cfg, limits());
        config.timer_interval_ms = 0;
        let engine = EngineAgent::with_strategy(
            &config,
            strategy,
            table(),
            EngineRings {
                md: rings.md.1,
                exec: rings.exec.1,
                control: rings.control.1,
                orders: rings.order.0,
            },
            journal,
            &runtime,
            clock.clone(),
        )
        .unwrap();
        let handle = engine.handle();
        let mut inv = AgentInvoker::new(engine, &runtime);
        inv.start().unwrap();
        Harness {
            inv,
            handle,
            runtime,
            clock,
            md: rings.md.0,
            exec: rings.exec.0,
            control: rings.control.0,
            orders: rings.order.1,
            script,
            dir,
        }
    }

    pub fn engine(&self) -> &EngineAgent<TestClock> {
        self.inv.agent()
    }

    /// Runs duty cycles until one does no work.
    pub fn run(&mut self) {
        for _ in 0..1000 {
            self.clock.advance(1_000);
            if self.inv.invoke().unwrap() == 0 {
                return;
            }
        }
        panic!("engine never went idle");
    }

    pub fn tob(&mut self, id: u16, bid: &str, ask: &str) {
        let now = self.clock.now();
        self.md
            .push(MarketEvent::new(
                InstrumentId(id),
                MarketData::TopOfBook(TopOfBook {
                    update_id: 1,
                    bid_price: p(bid),
                    bid_qty: q("1"),
                    ask_price: p(ask),
                    ask_qty: q("1"),
                }),
                Stamps {
                    recv: now,
                    decode: now,
                },
            ))
            .unwrap();
    }

    pub fn trade(&mut self, id: u16, trade_id: u64, price: &str) {
        let now = self.clock.now();
        self.md
            .push(MarketEvent::new(
                InstrumentId(id),
                MarketData::Trade(Trade {
                    trade_id,
                    price: p(price),
                    qty: q("0.1"),
                    buyer_is_maker: false,
                    trade_time_ms: 0,
                }),
                Stamps {
                    recv: now,
                    decode: now,
                },
            ))
            .unwrap();
    }

    /// Queues intents for the scripted strategy and feeds a book update on
    /// `instrument` so it emits them.
    pub fn script(&mut self, intents: &[Intent], instrument: u16, bid: &str, ask: &str) {
        self.script.0.lock().unwrap().extend_from_slice(intents);
        self.tob(instrument, bid, ask);
        self.run();
    }

    pub fn control(&mut self, msg: ControlMsg) {
        self.control.push(msg).unwrap();
        self.run();
    }

    pub fn report(&mut self, rep: ExecReport) {
        self.exec.push(rep).unwrap();
        self.run();
    }

    /// Everything on the order ring.
    pub fn sent(&mut self) -> Vec<OrderCommand> {
        let mut v = Vec::new();
        while let Some(c) = self.orders.pop() {
            v.push(c);
        }
        v
    }

    /// A fill report for `cmd` of `qty` at `price`.
    pub fn fill(
        cmd: &OrderCommand,
        qty: &str,
        price: &str,
        trade_id: u64,
        status: OrderStatus,
    ) -> ExecReport {
        ExecReport {
            instrument: cmd.instrument,
            status,
            side: cmd.side,
            trade_id,
            last_price: p(price),
            last_qty: q(qty),
            cum_qty: q(qty),
            client_order_id: cmd.client_order_id,
            ..ExecReport::ZERO
        }
    }

    pub fn journal(&self) -> Vec<Rec> {
        let mut r = JournalReader::open(self.dir.path()).unwrap();
        let mut out = Vec::new();
        while let Some(rec) = r.next() {
            let rec = rec.unwrap();
            let kind = rec.kind().unwrap();
            let v = match kind {
                RecordKind::Decision => {
                    J::Decision(Decision::decode(rec.payload, rec.version).unwrap())
                }
                RecordKind::OrderCommand => {
                    J::Order(OrderCommand::decode(rec.payload, rec.version).unwrap())
                }
                RecordKind::ExecReport => {
                    J::Exec(ExecReport::decode(rec.payload, rec.version).unwrap())
                }
                RecordKind::ControlMsg => {
                    J::Control(ControlMsg::decode(rec.payload, rec.version).unwrap())
                }
                other => panic!("unexpected {other:?}"),
            };
            out.push(Rec { seq: rec.seq, v });
        }
        out
    }
}

#[derive(Debug)]
pub struct Rec {
    pub seq: u64,
    pub v: J,
}

#[derive(Debug)]
pub enum J {
    Decision(Decision),
    Order(OrderCommand),
    Exec(ExecReport),
    Control(ControlMsg),
}

pub fn decisions(j: &[Rec]) -> Vec<(u64, Decision)> {
    j.iter()
        .filter_map(|r| match r.v {
            J::Decision(d) => Some((r.seq, d)),
            _ => None,
        })
        .collect()
}

pub fn orders(j: &[Rec]) -> Vec<(u64, OrderCommand)> {
    j.iter()
        .filter_map(|r| match r.v {
            J::Order(o) => Some((r.seq, o)),
            _ => None,
        })
        .collect()
}

pub fn buy(instrument: u16, price: &str, qty: &str) -> Intent {
    place(instrument, Side::Buy, price, qty)
}

pub fn sell(instrument: u16, price: &str, qty: &str) -> Intent {
    place(instrument, Side::Sell, price, qty)
}

pub fn place(instrument: u16, side: Side, price: &str, qty: &str) -> Intent {
    Intent::Place {
        instrument: InstrumentId(instrument),
        side,
        order_type: talon_core::event::OrderType::Limit,
        tif: talon_core::event::TimeInForce::Gtc,
        price: p(price),
        qty: q(qty),
        stop: None,
        tag: None,
    }
}
