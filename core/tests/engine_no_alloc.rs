//! The engine allocates nothing in steady state: a count, not a timing.
//!
//! A counting `#[global_allocator]` (talon-testkit) counts allocations on
//! this test's thread while the window is open. First each strategy's
//! `on_market`/`on_exec` over synthetic events without an engine; then the
//! whole `EngineAgent` (control, exec, md rings, strategy, risk, journal,
//! order ring) for each built-in strategy, with a gateway-like loop turning
//! orders into acks, fills and cancels. Everything is built and warmed up
//! before the window opens.
#![allow(clippy::unwrap_used)]

mod engine_support;

use engine_support::*;
use talon_core::clock::Nanos;
use talon_core::engine::position::PositionBook;
use talon_core::engine::strategy::{
    BookState, IntentBuf, MarketView, OpenOrders, StrategyConfig, build,
};
use talon_core::event::{
    ExecReport, MarketData, MarketEvent, OrderCommandKind, OrderStatus, OrderType, Side, Stamps,
    TimeInForce, TopOfBook, Trade,
};
use talon_core::instrument::InstrumentId;
use talon_core::num::{Price, Qty};
use talon_testkit::{CountingAllocator, allocations};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const QUOTE: &str = "name = \"quote\"\noffset_bps = 5\nqty = \"0.01\"\nrequote_bps = 2\nmax_inventory = \"0.05\"\nskew_bps = 2\nmin_quote_interval_ms = 0\n";
const MOMENTUM: &str = "name = \"momentum\"\nqty = \"0.01\"\nconsecutive = 2\nstop_loss_bps = 5\ntake_profit_bps = 5\ncooldown_ms = 0\n";
const BENCH: &str = "name = \"bench\"\nmark_every = 3\n";

/// A deterministic walk of market events over two instruments.
struct Walk {
    n: u64,
}

impl Walk {
    fn next(&mut self, now: Nanos) -> MarketEvent {
        self.n += 1;
        let wiggle = (self.n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 59) as i64 - 16;
        let bid = Price::from_raw(100_000_000_000 + wiggle * 5_000_000);
        // Trades alternate instruments every other trade, so the bench
        // strategy's buy/sell parity alternates per instrument too.
        let id = if self.n.is_multiple_of(3) {
            InstrumentId(((self.n / 6) % 2) as u16)
        } else {
            InstrumentId((self.n % 2) as u16)
        };
        let data = if self.n.is_multiple_of(3) {
            MarketData::Trade(Trade {
                trade_id: self.n,
                price: bid,
                qty: Qty::from_raw(1_000_000),
                buyer_is_maker: self.n.is_multiple_of(2),
                trade_time_ms: 0,
            })
        } else {
            MarketData::TopOfBook(TopOfBook {
                update_id: self.n,
                bid_price: bid,
                bid_qty: Qty::ONE,
                ask_price: Price::from_raw(bid.raw() + 1_000_000),
                ask_qty: Qty::ONE,
            })
        };
        MarketEvent::new(
            id,
            data,
            Stamps {
                recv: now,
                decode: now,
            },
        )
    }
}

#[test]
fn strategies_allocate_nothing_per_event() {
    allocations::track_current_thread(true);
    for cfg in [QUOTE, MOMENTUM, BENCH] {
        let cfg: StrategyConfig = toml::from_str(cfg).unwrap();
        let t = table();
        let mut s = build(&cfg, &t).unwrap();
        let mut books = vec![BookState::EMPTY; t.len()];
        let mut positions = PositionBook::new(t.len(), 0);
        let orders = OpenOrders::with_capacity(64);
        let mut out = IntentBuf::new();
        let mut walk = Walk { n: 0 };
        let mut emitted = 0usize;
        let mut round = |count: u64, emitted: &mut usize| {
            for i in 0..count {
                let now = Nanos(1 + i * 1_000_000);
                let ev = walk.next(now);
                if let Some(b) = books.get_mut(ev.instrument.index()) {
                    b.apply(&ev, now);
                }
                let view = MarketView::new(&t, &books, &positions, &orders, now);
                s.on_market(&ev, &view, &mut out);
                *emitted += out.len();
                out.clear();
                let rep = ExecReport {
                    instrument: ev.instrument,
                    side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
                    trade_id: i + 1,
                    last_price: Price::from_raw(100_000_000_000),
                    last_qty: Qty::from_raw(1_000_000),
                    status: OrderStatus::Filled,
                    ..ExecReport::ZERO
                };
                let _ = positions.apply(&rep);
                let view = MarketView::new(&t, &books, &positions, &orders, now);
                s.on_exec(&rep, &view, &mut out);
                s.on_timer(now, &view, &mut out);
                out.clear();
            }
        };
        round(200, &mut emitted);
        allocations::start();
        round(5_000, &mut emitted);
        let n = allocations::stop();
        assert_eq!(n, 0, "{}: {n} allocations", cfg.name());
        assert!(emitted > 0, "{} never emitted an intent", cfg.name());
    }
}

/// Plays the gateway: acks every new order, fills IOC orders and every
/// third GTC order, confirms cancels.
struct GatewayLike {
    trade_id: u64,
    orders: u64,
}

impl GatewayLike {
    fn serve(&mut self, h: &mut Harness) {
        while let Some(cmd) = h.orders.pop() {
            self.orders += 1;
            let report = match cmd.kind {
                OrderCommandKind::New => {
                    let fill =
                        cmd.time_in_force == TimeInForce::Ioc || self.orders.is_multiple_of(3);
                    if fill && cmd.order_type != OrderType::LimitMaker {
                        self.trade_id += 1;
                        ExecReport {
                            instrument: cmd.instrument,
                            status: OrderStatus::Filled,
                            side: cmd.side,
                            trade_id: self.trade_id,
                            last_price: cmd.price,
                            last_qty: cmd.qty,
                            cum_qty: cmd.qty,
                            client_order_id: cmd.client_order_id,
                            ..ExecReport::ZERO
                        }
                    } else {
                        ExecReport {
                            instrument: cmd.instrument,
                            status: OrderStatus::New,
                            side: cmd.side,
                            client_order_id: cmd.client_order_id,
                            ..ExecReport::ZERO
                        }
                    }
                }
                OrderCommandKind::Cancel => ExecReport {
                    instrument: cmd.instrument,
                    status: OrderStatus::Canceled,
                    client_order_id: cmd.client_order_id,
                    ..ExecReport::ZERO
                },
                OrderCommandKind::CancelAll => continue,
            };
            if h.exec.push(report).is_err() {
                return;
            }
        }
    }
}

fn steady_state(cfg: &str) -> (u64, u64) {
    let cfg: StrategyConfig = toml::from_str(cfg).unwrap();
    let name = cfg.name();
    let mut h = Harness::new(Strat::Config(cfg));
    h.handle.set_ready(true);
    let mut walk = Walk { n: 0 };
    let mut gw = GatewayLike {
        trade_id: 0,
        orders: 0,
    };
    let mut cycle = |h: &mut Harness, count: usize| {
        for _ in 0..count {
            h.clock.advance(1_000_000);
            for _ in 0..4 {
                let ev = walk.next(talon_core::clock::NanoClock::now(&h.clock));
                let _ = h.md.push(ev);
            }
            h.inv.invoke().unwrap();
            gw.serve(h);
            h.inv.invoke().unwrap();
        }
    };
    cycle(&mut h, 300);
    allocations::track_current_thread(true);
    allocations::start();
    cycle(&mut h, 3_000);
    let n = allocations::stop();
    allocations::track_current_thread(false);
    assert_eq!(n, 0, "{name}: {n} allocations in the engine's steady state");
    let s = h.handle.summary();
    assert!(
        s.state == talon_core::engine::risk::TradingState::Active,
        "{name}: {s:?}"
    );
    (s.orders_sent, s.fills)
}

#[test]
fn engine_steady_state_allocates_nothing_quote() {
    let (orders, fills) = steady_state(QUOTE);
    assert!(
        orders > 100 && fills > 10,
        "quote: {orders} orders, {fills} fills"
    );
}

#[test]
fn engine_steady_state_allocates_nothing_momentum() {
    let (orders, fills) = steady_state(MOMENTUM);
    assert!(
        orders > 10 && fills > 10,
        "momentum: {orders} orders, {fills} fills"
    );
}

#[test]
fn engine_steady_state_allocates_nothing_bench() {
    let (orders, fills) = steady_state(BENCH);
    assert!(
        orders > 100 && fills > 100,
        "bench: {orders} orders, {fills} fills"
    );
}
