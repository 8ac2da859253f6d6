//! `algo`: execution algorithms as a strategy, so `talon run` can work
//! parent orders.
//!
//! Owns [`AlgoParams`] (the parent orders, one [`AlgoConfig`] each) and
//! [`AlgoStrategy`], which drives one [`AlgoRunner`] per parent through the
//! engine: it starts a parent when its instrument first has a healthy touch
//! (the arrival mid is that touch's mid), ticks the runner from `on_market`
//! (the instrument's top of book in the [`MarketView`]) and `on_timer`
//! (time-driven TWAP/VWAP slices, iceberg delays), turns
//! [`ChildIntent::Place`] into [`Intent::Place`] and [`ChildIntent::Cancel`]
//! into [`Intent::Cancel`] of that child's client order id, and feeds fills
//! and closes from `on_exec` back into the runner.
//!
//! It never assigns client order ids, checks risk, journals or sends (the
//! engine does), never reads a clock (time is [`MarketView::now`]), and
//! never allocates after [`AlgoStrategy::new`]: one fixed slot per parent,
//! each holding its runner, its one outstanding child and that child's id.
//!
//! # Config
//!
//! ```toml
//! [engine.strategy]
//! name = "algo"
//! start_delay_ms = 1000        # optional (default 1000): see "Start" below
//!
//! [[engine.strategy.parents]]  # 1 ..= 8 parents; keys as in AlgoConfig
//! symbol = "BTCUSDT"
//! side = "buy"
//! qty = "0.003"
//! max_impact_bps = 50          # abort beyond 0.5 % adverse mid move
//! [engine.strategy.parents.kind.twap]
//! duration_ms = 3000
//! slices = 3
//!
//! [[engine.strategy.parents]]
//! symbol = "ETHUSDT"
//! side = "sell"
//! qty = "0.5"
//! limit_price = "3300"         # required for limit and iceberg
//! max_impact_bps = 100
//! seed = 7                     # iceberg randomness (default 0)
//! [engine.strategy.parents.kind.iceberg]
//! display_qty = "0.05"
//! variance_bps = 2000          # ±20 % (default)
//! min_delay_ms = 100
//! max_delay_ms = 900
//! # other kinds: kind = "market" | kind = "limit" |
//! # [engine.strategy.parents.kind.vwap] duration_ms = 60000, profile = [5, 3, 2, 3, 5]
//! ```
//!
//! Unknown keys are errors naming the key (`deny_unknown_fields` on the
//! params and on each parent); a bad value is a [`ConfigError`] naming the
//! parent's key (`kind.twap.slices`, `limit_price`, ...), an unknown symbol
//! names `parents.symbol`.
//!
//! # Start
//!
//! A parent starts at the first callback at least `start_delay_ms` after
//! the strategy's first callback at which its instrument's book is healthy
//! (both sides, uncrossed, not stale); the arrival mid is that book's mid.
//! The delay exists because the engine starts `Halted` until the feed and
//! the gateway are ready, and a strategy cannot see the trading state: a
//! child sent before that is refused by risk and counts as a rejected child
//! (three in a row, or the one child of a market parent, abort the parent).
//! A parent that cannot start (e.g. its quantity is below the minimum
//! notional at the arrival mid) is [`ParentPhase::Failed`] and never sends.
//! Ticks are skipped while the book is unhealthy.
//!
//! # Child ↔ client order id
//!
//! The engine assigns the client order id after the callback returns, so the
//! strategy learns it later. The engine handles a callback's intents
//! synchronously, before the next callback, and inserts every approved and
//! sent order into its open-order table (which only ever holds this
//! strategy's orders); it removes an order only just before the `on_exec`
//! of that order's terminal report. So at the start of each later callback
//! an unbound child is bound by, in order:
//!
//! 1. **the open-order table**: the order on the child's instrument with
//!    the same side, type, time in force, price and quantity whose id is
//!    not bound to another parent;
//! 2. **the exec report** being delivered (`on_exec` only): a report whose
//!    order is no longer in the table (a terminal report, e.g. an IOC that
//!    filled at once) binds to the unbound child on the same instrument and
//!    side whose quantity covers the report's `cum_qty`;
//! 3. otherwise the engine did not send it (risk reject, full open-order
//!    table or order ring): the child is closed as
//!    [`ChildEnd::Rejected`] and counted in
//!    [`ParentStatus::children_refused`].
//!
//! Limits: two parents that place identical children (instrument, side,
//! type, tif, price, qty) in the same callback may get each other's ids;
//! each still sees one order of exactly its child's size, so neither can
//! over-fill, but their fills may be attributed crosswise. Fills are taken
//! from `cum_qty` increases (duplicate and out-of-order reports add
//! nothing); a fill that arrives only folded into a later report's
//! `cum_qty` is priced at that report's `last_price`. A report for an id
//! no parent holds is ignored and counted
//! ([`AlgoStrategy::unmatched_reports`]). Children carry no stop, so a
//! risk config with a mandatory stop refuses them.
//!
//! At most [`MAX_PARENTS`] parents: each callback emits at most two intents
//! per parent (a place and a cancel), so the engine's
//! [`IntentBuf::CAPACITY`] can never overflow.

use serde::{Deserialize, Serialize};

use super::{ConfigError, Intent, IntentBuf, MarketView, OpenOrder, Strategy};
use crate::clock::Nanos;
use crate::engine::algo::{
    AbortReason, AlgoConfig, AlgoConfigError, AlgoError, AlgoRunner, AlgoState, ChildBuf, ChildEnd,
    ChildIntent, ChildOrder, ParentOrder, Touch,
};
use crate::event::{ClientOrderId, ExecReport, MarketEvent, OrderStatus};
use crate::instrument::{InstrumentId, InstrumentTable};
use crate::num::{Price, Qty};

/// Most parent orders one `algo` strategy works.
pub const MAX_PARENTS: usize = IntentBuf::CAPACITY / 2;

const MS: u64 = 1_000_000;

/// `algo` parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlgoParams {
    /// The parent orders (1 ..= [`MAX_PARENTS`]).
    pub parents: Vec<AlgoConfig>,
    /// Wait at least this long after the strategy's first callback before
    /// starting any parent (default 1000; see the module docs).
    #[serde(default = "default_start_delay_ms")]
    pub start_delay_ms: u64,
}

const fn default_start_delay_ms() -> u64 {
    1_000
}

/// Where one parent is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParentPhase {
    /// Not started: waiting for the start delay and a healthy book.
    Waiting,
    /// The runner is working it.
    Working,
    /// Finished (filled, or a residual no valid child can carry).
    Done,
    /// Stopped early.
    Aborted(AbortReason),
    /// Could not start (the runner refused the parent at the arrival mid).
    Failed(AlgoError),
}

/// A snapshot of one parent (tests, replay, reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParentStatus {
    /// The parent as configured.
    pub parent: ParentOrder,
    /// Its phase.
    pub phase: ParentPhase,
    /// Quantity filled.
    pub filled: Qty,
    /// When done: what will never be worked.
    pub residual: Qty,
    /// The arrival mid, once started.
    pub arrival_mid: Option<Price>,
    /// Children the runner emitted.
    pub children_sent: u32,
    /// Children the engine did not send (risk reject, full table or ring).
    pub children_refused: u32,
    /// The outstanding child's client order id, once known.
    pub open_child: Option<ClientOrderId>,
}

/// What the strategy knows of a child's engine order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// Place emitted during callback `epoch`; id not known yet.
    Pending { epoch: u64 },
    /// The engine's client order id.
    Bound(ClientOrderId),
}

/// A parent's one outstanding child.
#[derive(Clone, Copy, Debug)]
struct Child {
    order: ChildOrder,
    link: Link,
    /// Highest `cum_qty` reported.
    cum: Qty,
    /// The runner asked to cancel it.
    cancel_wanted: bool,
    /// The cancel intent was emitted.
    cancel_sent: bool,
}

impl Child {
    fn bound_to(&self, id: &ClientOrderId) -> bool {
        self.link == Link::Bound(*id)
    }
}

#[derive(Clone, Debug)]
struct Slot {
    parent: ParentOrder,
    seed: u64,
    runner: Option<AlgoRunner>,
    failed: Option<AlgoError>,
    child: Option<Child>,
    refused: u32,
}

/// The `algo` strategy (see the module docs).
#[derive(Debug)]
pub struct AlgoStrategy {
    slots: Box<[Slot]>,
    start_delay_ns: u64,
    first_seen: Option<Nanos>,
    /// Callback counter (binds children placed in earlier callbacks).
    epoch: u64,
    buf: ChildBuf,
    unmatched_reports: u64,
    intents_dropped: u64,
}

fn invalid(key: &'static str, reason: &'static str) -> ConfigError {
    ConfigError::Invalid {
        strategy: "algo",
        key,
        reason,
    }
}

fn from_algo_error(e: AlgoError) -> ConfigError {
    match e {
        AlgoError::Invalid { key, reason } => invalid(key, reason),
        AlgoError::BadArrivalMid => invalid("parents", "arrival mid must be positive"),
        AlgoError::BelowMinimum => invalid("qty", "is below the instrument's minimum"),
    }
}

impl AlgoStrategy {
    /// Validates every parent against `instruments` (allocates the slots).
    pub fn new(p: &AlgoParams, instruments: &InstrumentTable) -> Result<AlgoStrategy, ConfigError> {
        if p.parents.is_empty() {
            return Err(invalid("parents", "must hold at least one parent order"));
        }
        if p.parents.len() > MAX_PARENTS {
            return Err(invalid("parents", "must hold at most 8 parent orders"));
        }
        let start_delay_ns = p
            .start_delay_ms
            .checked_mul(MS)
            .ok_or_else(|| invalid("start_delay_ms", "is too large"))?;
        let mut slots = Vec::with_capacity(p.parents.len());
        for cfg in &p.parents {
            let parent = cfg.to_parent(instruments).map_err(|e| match e {
                AlgoConfigError::Invalid(e) => from_algo_error(e),
                AlgoConfigError::UnknownSymbol(symbol) => ConfigError::UnknownSymbol {
                    strategy: "algo",
                    key: "parents.symbol",
                    symbol,
                },
                AlgoConfigError::Toml(_) => invalid("parents", "does not parse"),
            })?;
            if let (Some(limit), Some(spec)) =
                (parent.limit_price, instruments.get(parent.instrument))
                && spec.filters.check_price(limit).is_err()
            {
                return Err(invalid(
                    "limit_price",
                    "breaks the instrument's price filter",
                ));
            }
            slots.push(Slot {
                parent,
                seed: cfg.seed,
                runner: None,
                failed: None,
                child: None,
                refused: 0,
            });
        }
        Ok(AlgoStrategy {
            slots: slots.into_boxed_slice(),
            start_delay_ns,
            first_seen: None,
            epoch: 0,
            buf: ChildBuf::new(),
            unmatched_reports: 0,
            intents_dropped: 0,
        })
    }

    /// Number of parents.
    pub fn parents(&self) -> usize {
        self.slots.len()
    }

    /// The state of parent `i` (config order).
    pub fn status(&self, i: usize) -> Option<ParentStatus> {
        let s = self.slots.get(i)?;
        let phase = match (&s.runner, s.failed) {
            (_, Some(e)) => ParentPhase::Failed(e),
            (None, None) => ParentPhase::Waiting,
            (Some(r), None) => match r.state() {
                AlgoState::Working => ParentPhase::Working,
                AlgoState::Done => ParentPhase::Done,
                AlgoState::Aborted(a) => ParentPhase::Aborted(a),
            },
        };
        Some(ParentStatus {
            parent: s.parent,
            phase,
            filled: s.runner.as_ref().map_or(Qty::ZERO, AlgoRunner::filled),
            residual: s.runner.as_ref().map_or(Qty::ZERO, AlgoRunner::residual),
            arrival_mid: s.runner.as_ref().map(AlgoRunner::arrival_mid),
            children_sent: s.runner.as_ref().map_or(0, AlgoRunner::children_sent),
            children_refused: s.refused,
            open_child: s.child.and_then(|c| match c.link {
                Link::Bound(id) => Some(id),
                Link::Pending { .. } => None,
            }),
        })
    }

    /// Exec reports no parent's child could be matched to.
    pub fn unmatched_reports(&self) -> u64 {
        self.unmatched_reports
    }

    /// Child places dropped because the intent buffer was full (cannot
    /// happen with at most [`MAX_PARENTS`] parents; kept as a guard).
    pub fn intents_dropped(&self) -> u64 {
        self.intents_dropped
    }

    /// Start of a callback: count it, note the first time, bind pending
    /// children through the open-order table.
    fn begin(&mut self, view: &MarketView<'_>) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.first_seen.is_none() {
            self.first_seen = Some(view.now());
        }
        for i in 0..self.slots.len() {
            let Some(child) = self.slots.get(i).and_then(|s| s.child) else {
                continue;
            };
            let Link::Pending { epoch } = child.link else {
                continue;
            };
            if epoch == self.epoch {
                continue;
            }
            let found = view
                .open_orders(child.order.instrument)
                .find(|o| same_order(o, &child.order) && !self.is_bound(&o.client_order_id))
                .map(|o| o.client_order_id);
            if let (Some(id), Some(slot)) = (found, self.slots.get_mut(i))
                && let Some(c) = slot.child.as_mut()
            {
                c.link = Link::Bound(id);
            }
        }
    }

    fn is_bound(&self, id: &ClientOrderId) -> bool {
        self.slots
            .iter()
            .any(|s| s.child.is_some_and(|c| c.bound_to(id)))
    }

    /// Children still unbound after binding: the engine refused them.
    fn close_refused(&mut self, now: Nanos) {
        let epoch = self.epoch;
        for s in self.slots.iter_mut() {
            let Some(c) = s.child else { continue };
            if !matches!(c.link, Link::Pending { epoch: g } if g != epoch) {
                continue;
            }
            s.child = None;
            s.refused = s.refused.saturating_add(1);
            if let Some(r) = s.runner.as_mut() {
                r.on_child_closed(c.order.id, ChildEnd::Rejected, now);
            }
        }
    }

    /// The slot whose child `rep` is about, binding it if need be.
    fn route(&mut self, rep: &ExecReport, view: &MarketView<'_>) -> Option<usize> {
        if rep.client_order_id.is_empty() {
            return None;
        }
        let id = rep.client_order_id;
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.child.is_some_and(|c| c.bound_to(&id)))
        {
            return Some(i);
        }
        if view.all_open_orders().get(&id).is_some() {
            // Still open yet matched no pending child by its attributes.
            return None;
        }
        let epoch = self.epoch;
        let i = self.slots.iter().position(|s| {
            s.child.is_some_and(|c| {
                matches!(c.link, Link::Pending { epoch: g } if g != epoch)
                    && c.order.instrument == rep.instrument
                    && c.order.side == rep.side
                    && c.order.qty >= rep.cum_qty
            })
        })?;
        if let Some(c) = self.slots.get_mut(i).and_then(|s| s.child.as_mut()) {
            c.link = Link::Bound(id);
        }
        Some(i)
    }

    /// Applies `rep` to slot `i`'s child and runner.
    fn apply_report(&mut self, i: usize, rep: &ExecReport, now: Nanos) {
        let Some(s) = self.slots.get_mut(i) else {
            return;
        };
        let (Some(mut c), Some(r)) = (s.child, s.runner.as_mut()) else {
            return;
        };
        if rep.cum_qty > c.cum {
            let delta = Qty::from_raw(rep.cum_qty.raw().saturating_sub(c.cum.raw()));
            c.cum = rep.cum_qty;
            let price = if rep.last_price.is_positive() {
                rep.last_price
            } else {
                c.order.price
            };
            r.on_fill(c.order.id, delta, price, now);
        }
        if rep.status.is_terminal() {
            if r.open_child().is_some_and(|(id, _)| id == c.order.id) {
                let end = match rep.status {
                    OrderStatus::Rejected => ChildEnd::Rejected,
                    OrderStatus::Canceled => ChildEnd::Cancelled,
                    _ => ChildEnd::Expired,
                };
                r.on_child_closed(c.order.id, end, now);
            }
            s.child = None;
        } else if c.cum >= c.order.qty {
            // Filled in full: the runner is done with it; a later report
            // for the id is unmatched.
            s.child = None;
        } else {
            s.child = Some(c);
        }
    }

    /// Starts (if due) and ticks slot `i`, then emits its intents.
    fn drive(&mut self, i: usize, view: &MarketView<'_>, out: &mut IntentBuf) {
        let now = view.now();
        let due = self
            .first_seen
            .is_some_and(|t| now.as_u64() >= t.as_u64().saturating_add(self.start_delay_ns));
        let Some(s) = self.slots.get_mut(i) else {
            return;
        };
        let touch = view
            .book(s.parent.instrument)
            .filter(|b| b.healthy())
            .map(|b| Touch {
                bid: b.bid_price,
                ask: b.ask_price,
            });
        self.buf.clear();
        if let Some(touch) = touch {
            if s.runner.is_none() && s.failed.is_none() && due {
                match view.filters(s.parent.instrument) {
                    Some(f) => match AlgoRunner::start(s.parent, f, touch.mid(), now, s.seed) {
                        Ok(r) => s.runner = Some(r),
                        Err(e) => s.failed = Some(e),
                    },
                    None => s.failed = Some(AlgoError::BelowMinimum),
                }
            }
            if let Some(r) = s.runner.as_mut() {
                r.on_tick(now, touch, &mut self.buf);
            }
        }
        let epoch = self.epoch;
        let mut k = 0;
        while let Some(&ci) = self.buf.as_slice().get(k) {
            k += 1;
            match ci {
                ChildIntent::Place(c) => {
                    let intent = Intent::Place {
                        instrument: c.instrument,
                        side: c.side,
                        order_type: c.order_type,
                        tif: c.tif,
                        price: c.price,
                        qty: c.qty,
                        stop: None,
                        tag: None,
                    };
                    if out.push(intent).is_ok() {
                        s.child = Some(Child {
                            order: c,
                            link: Link::Pending { epoch },
                            cum: Qty::ZERO,
                            cancel_wanted: false,
                            cancel_sent: false,
                        });
                    } else {
                        self.intents_dropped = self.intents_dropped.saturating_add(1);
                        if let Some(r) = s.runner.as_mut() {
                            r.on_child_closed(c.id, ChildEnd::Expired, now);
                        }
                    }
                }
                ChildIntent::Cancel { id, .. } => {
                    if let Some(c) = s.child.as_mut().filter(|c| c.order.id == id) {
                        c.cancel_wanted = true;
                    }
                }
            }
        }
        flush_cancel(s, out);
    }
}

/// Emits the cancel the runner asked for once the child's id is known.
fn flush_cancel(s: &mut Slot, out: &mut IntentBuf) {
    let Some(c) = s.child.as_mut() else { return };
    let Link::Bound(client_order_id) = c.link else {
        return;
    };
    if c.cancel_wanted && !c.cancel_sent {
        let intent = Intent::Cancel {
            instrument: c.order.instrument,
            client_order_id,
        };
        // A full buffer: retried on the next callback.
        c.cancel_sent = out.push(intent).is_ok();
    }
}

/// The engine's order is this child (same instrument is implied).
fn same_order(o: &OpenOrder, c: &ChildOrder) -> bool {
    o.instrument == c.instrument
        && o.side == c.side
        && o.order_type == c.order_type
        && o.tif == c.tif
        && o.price == c.price
        && o.qty == c.qty
}

impl Strategy for AlgoStrategy {
    fn name(&self) -> &'static str {
        "algo"
    }

    fn on_market(&mut self, ev: &MarketEvent, view: &MarketView<'_>, out: &mut IntentBuf) {
        self.begin(view);
        self.close_refused(view.now());
        let id: InstrumentId = ev.instrument;
        for i in 0..self.slots.len() {
            if self.slots.get(i).is_some_and(|s| s.parent.instrument == id) {
                self.drive(i, view, out);
            } else if let Some(s) = self.slots.get_mut(i) {
                flush_cancel(s, out);
            }
        }
    }

    fn on_exec(&mut self, rep: &ExecReport, view: &MarketView<'_>, out: &mut IntentBuf) {
        self.begin(view);
        let routed = self.route(rep, view);
        match routed {
            Some(i) => self.apply_report(i, rep, view.now()),
            None => self.unmatched_reports = self.unmatched_reports.saturating_add(1),
        }
        self.close_refused(view.now());
        for i in 0..self.slots.len() {
            if routed == Some(i) {
                self.drive(i, view, out);
            } else if let Some(s) = self.slots.get_mut(i) {
                flush_cancel(s, out);
            }
        }
    }

    fn on_timer(&mut self, now: Nanos, view: &MarketView<'_>, out: &mut IntentBuf) {
        let _ = now; // the same instant as view.now()
        self.begin(view);
        self.close_refused(view.now());
        for i in 0..self.slots.len() {
            self.drive(i, view, out);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::testing::*;
    use super::super::{StrategyConfig, build};
    use super::*;
    use crate::event::{OrderType, Side, TimeInForce};

    const SEC: u64 = 1_000_000_000;

    fn params(text: &str) -> AlgoParams {
        match toml::from_str::<StrategyConfig>(&format!("name = \"algo\"\n{text}")) {
            Ok(StrategyConfig::Algo(p)) => p,
            other => panic!("not algo params: {other:?}"),
        }
    }

    fn strategy(text: &str) -> AlgoStrategy {
        AlgoStrategy::new(&params(text), &table()).unwrap()
    }

    /// One TWAP buy of 0.3 BTCUSDT in 3 slices over 3 s, no start delay.
    const TWAP: &str = r#"
        start_delay_ms = 0
        [[parents]]
        symbol = "BTCUSDT"
        side = "buy"
        qty = "0.3"
        max_impact_bps = 50
        [parents.kind.twap]
        duration_ms = 3000
        slices = 3
    "#;

    /// A report for `id` as the engine delivers it: the order's entry is
    /// updated, and removed when the status is terminal.
    fn report(
        w: &mut World,
        id: ClientOrderId,
        status: OrderStatus,
        cum: &str,
        last: Option<(&str, &str)>,
    ) -> ExecReport {
        let o = *w.orders.get(&id).expect("the order is open");
        let (last_qty, last_price) =
            last.map_or((Qty::ZERO, Price::ZERO), |(lq, lp)| (q(lq), p(lp)));
        let rep = ExecReport {
            instrument: o.instrument,
            side: o.side,
            status,
            cum_qty: q(cum),
            last_qty,
            last_price,
            trade_id: u64::from(last.is_some()) * (w.now.as_u64() + 1),
            client_order_id: id,
            ..ExecReport::ZERO
        };
        if let Some(e) = w.orders.get_mut(&id) {
            e.cum_qty = rep.cum_qty;
            e.status = status;
        }
        if status.is_terminal() {
            w.orders.remove(&id);
        }
        rep
    }

    fn places(intents: &[Intent]) -> Vec<(Side, OrderType, TimeInForce, Price, Qty)> {
        intents
            .iter()
            .filter_map(|i| match *i {
                Intent::Place {
                    side,
                    order_type,
                    tif,
                    price,
                    qty,
                    stop: None,
                    tag: None,
                    ..
                } => Some((side, order_type, tif, price, qty)),
                _ => None,
            })
            .collect()
    }

    fn id(seq: u64) -> ClientOrderId {
        ClientOrderId::from_session_seq(1, seq)
    }

    #[test]
    fn config_by_name_with_every_error_named() {
        let cfg: StrategyConfig = toml::from_str(&format!("name = \"algo\"\n{TWAP}")).unwrap();
        assert_eq!(cfg.name(), "algo");
        assert_eq!(build(&cfg, &table()).unwrap().name(), "algo");
        assert_eq!(params("[[parents]]\nsymbol = \"BTCUSDT\"\nside = \"buy\"\nqty = \"1\"\nmax_impact_bps = 5\nkind = \"market\"\n").start_delay_ms, 1000);

        let unknown = |text: &str, key: &str| {
            let e = toml::from_str::<StrategyConfig>(&format!("name = \"algo\"\n{text}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{key}: {e}");
        };
        unknown(&format!("jitter = 1\n{TWAP}"), "jitter");
        unknown(
            &TWAP.replace("slices = 3", "slices = 3\nspeed = 2"),
            "speed",
        );
        unknown(
            &TWAP.replace("qty = \"0.3\"", "qty = \"0.3\"\ncolour = 1"),
            "colour",
        );
        unknown(&TWAP.replace("max_impact_bps = 50", ""), "max_impact_bps");
        unknown("start_delay_ms = 0\n", "parents");

        let named = |text: String, key: &str| {
            let e = AlgoStrategy::new(&params(&text), &table()).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(key) && msg.contains("algo"), "{key}: {msg}");
        };
        named(TWAP.replace("slices = 3", "slices = 0"), "kind.twap.slices");
        named(
            TWAP.replace("max_impact_bps = 50", "max_impact_bps = 0"),
            "max_impact_bps",
        );
        named(TWAP.replace("\"BTCUSDT\"", "\"DOGEUSDT\""), "DOGEUSDT");
        named(
            TWAP.replace("\"BTCUSDT\"", "\"DOGEUSDT\""),
            "parents.symbol",
        );
        named(
            TWAP.replace(
                "max_impact_bps = 50",
                "max_impact_bps = 50\nlimit_price = \"100.001\"",
            ),
            "limit_price",
        );
        named(
            TWAP.replace(
                "start_delay_ms = 0",
                "start_delay_ms = 18446744073709551615",
            ),
            "start_delay_ms",
        );
        named("parents = []\n".to_owned(), "parents");
        let nine = TWAP.replace("start_delay_ms = 0", "").repeat(9);
        named(nine, "parents");
        let eight = TWAP.replace("start_delay_ms = 0", "").repeat(8);
        assert_eq!(
            AlgoStrategy::new(&params(&eight), &table())
                .unwrap()
                .parents(),
            8
        );
    }

    #[test]
    fn twap_slices_ids_fills_and_done() {
        let mut w = World::new();
        let mut s = strategy(TWAP);
        let mut out = IntentBuf::new();
        let mut seq = 0;
        assert_eq!(s.status(0).unwrap().phase, ParentPhase::Waiting);

        // Slice 0 at the first healthy touch: an IOC buy at the ask.
        let ev = w.tob(0, "100", "100.02");
        s.on_market(&ev, &w.view(), &mut out);
        let st = s.status(0).unwrap();
        assert_eq!(st.phase, ParentPhase::Working);
        assert_eq!(st.arrival_mid, Some(p("100.01")));
        let placed = w.accept(&mut out, &mut seq);
        assert_eq!(
            places(&placed),
            vec![(
                Side::Buy,
                OrderType::Limit,
                TimeInForce::Ioc,
                p("100.02"),
                q("0.1")
            )]
        );
        assert_eq!(s.status(0).unwrap().open_child, None, "id not known yet");

        // It fills at once: the engine removed the order before on_exec,
        // so the report itself binds the child.
        let rep = report(
            &mut w,
            id(1),
            OrderStatus::Filled,
            "0.1",
            Some(("0.1", "100.02")),
        );
        s.on_exec(&rep, &w.view(), &mut out);
        assert!(out.is_empty(), "slice 1 is not due: {out:?}");
        let st = s.status(0).unwrap();
        assert_eq!(
            (st.filled, st.open_child, st.children_refused),
            (q("0.1"), None, 0)
        );
        // A duplicate of that report adds nothing and matches nothing.
        s.on_exec(&rep, &w.view(), &mut out);
        assert_eq!(s.status(0).unwrap().filled, q("0.1"));
        assert_eq!(s.unmatched_reports(), 1);

        // Slice 1 from the timer; bound through the open-order table on the
        // next callback; it fills half and expires.
        w.now = Nanos(SEC + 1);
        s.on_timer(w.now, &w.view(), &mut out);
        assert_eq!(places(&w.accept(&mut out, &mut seq)).len(), 1);
        let ev = w.tob(0, "100", "100.02");
        s.on_market(&ev, &w.view(), &mut out);
        assert!(out.is_empty());
        assert_eq!(s.status(0).unwrap().open_child, Some(id(2)));
        let rep = report(
            &mut w,
            id(2),
            OrderStatus::PartiallyFilled,
            "0.05",
            Some(("0.05", "100.02")),
        );
        s.on_exec(&rep, &w.view(), &mut out);
        let rep = report(&mut w, id(2), OrderStatus::Expired, "0.05", None);
        s.on_exec(&rep, &w.view(), &mut out);
        let st = s.status(0).unwrap();
        assert_eq!(
            (st.filled, st.open_child, st.phase),
            (q("0.15"), None, ParentPhase::Working)
        );

        // Slice 2 catches up to the whole parent; it fills; done.
        w.now = Nanos(2 * SEC + 1);
        s.on_timer(w.now, &w.view(), &mut out);
        let placed = places(&w.accept(&mut out, &mut seq));
        assert_eq!(placed.len(), 1);
        assert_eq!(placed[0].4, q("0.15"));
        let rep = report(
            &mut w,
            id(3),
            OrderStatus::Filled,
            "0.15",
            Some(("0.15", "100.03")),
        );
        s.on_exec(&rep, &w.view(), &mut out);
        let st = s.status(0).unwrap();
        assert_eq!(
            (st.phase, st.filled, st.residual),
            (ParentPhase::Done, q("0.3"), Qty::ZERO)
        );
        assert_eq!(st.children_sent, 3);
        w.now = Nanos(5 * SEC);
        s.on_timer(w.now, &w.view(), &mut out);
        assert!(out.is_empty(), "nothing after done");
        assert_eq!(s.intents_dropped(), 0);
    }

    #[test]
    fn an_order_the_engine_refused_is_a_rejected_child() {
        let mut w = World::new();
        let mut s = strategy(
            "start_delay_ms = 0\n[[parents]]\nsymbol = \"BTCUSDT\"\nside = \"sell\"\nqty = \"0.2\"\nmax_impact_bps = 50\nkind = \"market\"\n",
        );
        let mut out = IntentBuf::new();
        let ev = w.tob(0, "100", "100.02");
        s.on_market(&ev, &w.view(), &mut out);
        assert_eq!(
            places(out.as_slice()),
            vec![(
                Side::Sell,
                OrderType::Market,
                TimeInForce::Ioc,
                p("100"),
                q("0.2")
            )]
        );
        out.clear(); // risk refused it: no open order appears
        let ev = w.tob(0, "100", "100.02");
        s.on_market(&ev, &w.view(), &mut out);
        let st = s.status(0).unwrap();
        assert_eq!(st.children_refused, 1);
        assert_eq!(st.phase, ParentPhase::Aborted(AbortReason::Rejected));
        assert!(out.is_empty());
    }

    #[test]
    fn twap_aborts_after_three_refusals_and_catches_up_after_one() {
        let mut w = World::new();
        let mut s = strategy(TWAP);
        let mut out = IntentBuf::new();
        let mut seq = 0;
        let ev = w.tob(0, "100", "100.02");
        s.on_market(&ev, &w.view(), &mut out);
        out.clear(); // slice 0 refused
        w.now = Nanos(SEC + 1);
        s.on_timer(w.now, &w.view(), &mut out);
        assert_eq!(s.status(0).unwrap().children_refused, 1);
        // Slice 1 catches up slices 0 and 1.
        let placed = places(&w.accept(&mut out, &mut seq));
        assert_eq!(placed[0].4, q("0.2"));
        let rep = report(&mut w, id(1), OrderStatus::Rejected, "0", None);
        s.on_exec(&rep, &w.view(), &mut out);
        assert_eq!(s.status(0).unwrap().phase, ParentPhase::Working);
        w.now = Nanos(2 * SEC + 1);
        s.on_timer(w.now, &w.view(), &mut out);
        out.clear(); // refused again: the third rejection in a row
        w.now = Nanos(2 * SEC + 2);
        s.on_timer(w.now, &w.view(), &mut out);
        let st = s.status(0).unwrap();
        assert_eq!(st.phase, ParentPhase::Aborted(AbortReason::Rejected));
        assert_eq!((st.children_refused, st.filled), (2, Qty::ZERO));
    }

    #[test]
    fn price_impact_cancels_the_resting_child_by_its_client_id() {
        let mut w = World::new();
        let mut s = strategy(
            "start_delay_ms = 0\n[[parents]]\nsymbol = \"BTCUSDT\"\nside = \"buy\"\nqty = \"0.1\"\nlimit_price = \"99.5\"\nmax_impact_bps = 10\nkind = \"limit\"\n",
        );
        let mut out = IntentBuf::new();
        let mut seq = 0;
        let ev = w.tob(0, "100", "100.02");
        s.on_market(&ev, &w.view(), &mut out);
        assert_eq!(
            places(&w.accept(&mut out, &mut seq)),
            vec![(
                Side::Buy,
                OrderType::Limit,
                TimeInForce::Gtc,
                p("99.5"),
                q("0.1")
            )]
        );
        // An unrelated report (not ours) is counted, nothing else.
        let mut other = ExecReport::ZERO;
        other.client_order_id = id(99);
        s.on_exec(&other, &w.view(), &mut out);
        assert_eq!(s.unmatched_reports(), 1);
        assert_eq!(s.status(0).unwrap().open_child, Some(id(1)));
        // 10 bps up is still within the bound …
        let ev = w.tob(0, "100.1", "100.12");
        s.on_market(&ev, &w.view(), &mut out);
        assert!(out.is_empty(), "{out:?}");
        // … beyond it: abort and cancel exactly that child.
        let ev = w.tob(0, "100.12", "100.14");
        s.on_market(&ev, &w.view(), &mut out);
        assert_eq!(
            out.as_slice(),
            &[Intent::Cancel {
                instrument: InstrumentId(0),
                client_order_id: id(1)
            }]
        );
        w.accept(&mut out, &mut seq);
        assert_eq!(
            s.status(0).unwrap().phase,
            ParentPhase::Aborted(AbortReason::PriceImpact)
        );
        // Never twice; a fill racing the cancel still counts.
        let ev = w.tob(0, "100.2", "100.22");
        s.on_market(&ev, &w.view(), &mut out);
        assert!(out.is_empty());
        let rep = report(
            &mut w,
            id(1),
            OrderStatus::PartiallyFilled,
            "0.04",
            Some(("0.04", "99.5")),
        );
        s.on_exec(&rep, &w.view(), &mut out);
        let rep = report(&mut w, id(1), OrderStatus::Canceled, "0.04", None);
        s.on_exec(&rep, &w.view(), &mut out);
        let st = s.status(0).unwrap();
        assert_eq!((st.filled, st.open_child), (q("0.04"), None));
        assert!(out.is_empty());
    }

    #[test]
    fn start_waits_for_the_delay_and_a_healthy_book() {
        let mut w = World::new();
        let mut s = strategy(&TWAP.replace("start_delay_ms = 0", "start_delay_ms = 500"));
        let mut out = IntentBuf::new();
        let ev = w.tob(0, "100", "100.02");
        s.on_market(&ev, &w.view(), &mut out);
        assert_eq!(s.status(0).unwrap().phase, ParentPhase::Waiting);
        // Other instruments do not start it; a crossed book does not.
        w.now = Nanos(SEC);
        let ev = w.tob(1, "10", "10.01");
        s.on_market(&ev, &w.view(), &mut out);
        let ev = w.tob(0, "100.05", "100.02");
        s.on_market(&ev, &w.view(), &mut out);
        s.on_timer(w.now, &w.view(), &mut out);
        assert_eq!(s.status(0).unwrap().phase, ParentPhase::Waiting);
        assert!(out.is_empty());
        let ev = w.tob(0, "101", "101.02");
        s.on_market(&ev, &w.view(), &mut out);
        let st = s.status(0).unwrap();
        assert_eq!(
            (st.phase, st.arrival_mid),
            (ParentPhase::Working, Some(p("101.01")))
        );
        assert_eq!(places(out.as_slice()).len(), 1);
    }

    #[test]
    fn a_parent_below_the_minimum_at_arrival_fails_without_sending() {
        let mut w = World::new();
        // 0.04 × 100 = 4 < min notional 5.
        let mut s = strategy(&TWAP.replace("\"0.3\"", "\"0.04\""));
        let mut out = IntentBuf::new();
        let ev = w.tob(0, "100", "100.02");
        s.on_market(&ev, &w.view(), &mut out);
        assert_eq!(
            s.status(0).unwrap().phase,
            ParentPhase::Failed(AlgoError::BelowMinimum)
        );
        assert!(out.is_empty());
    }

    #[test]
    fn parents_on_one_book_get_their_own_ids_and_fills() {
        let mut w = World::new();
        let two = r#"
            start_delay_ms = 0
            [[parents]]
            symbol = "BTCUSDT"
            side = "buy"
            qty = "0.2"
            max_impact_bps = 50
            kind = "market"
            [[parents]]
            symbol = "BTCUSDT"
            side = "buy"
            qty = "0.3"
            max_impact_bps = 50
            kind = "market"
            [[parents]]
            symbol = "ETHUSDT"
            side = "sell"
            qty = "3"
            limit_price = "10.5"
            max_impact_bps = 50
            [parents.kind.iceberg]
            display_qty = "0.6"
            min_delay_ms = 0
            max_delay_ms = 0
        "#;
        let mut s = strategy(two);
        let mut out = IntentBuf::new();
        let mut seq = 0;
        let ev = w.tob(1, "10", "10.02");
        s.on_market(&ev, &w.view(), &mut out);
        let mut placed = w.accept(&mut out, &mut seq);
        let ev = w.tob(0, "100", "100.02");
        s.on_market(&ev, &w.view(), &mut out);
        placed.extend(w.accept(&mut out, &mut seq));
        // ETH iceberg slice (ids 1), then both BTC market children (2, 3).
        assert_eq!(placed.len(), 3);
        assert_eq!(places(&placed)[0].0, Side::Sell);
        assert_eq!(places(&placed)[1].4, q("0.2"));
        assert_eq!(places(&placed)[2].4, q("0.3"));
        // The 0.3 child's terminal report comes first (its entry is gone,
        // the 0.2 child is bound through the table).
        let rep = report(
            &mut w,
            id(3),
            OrderStatus::Filled,
            "0.3",
            Some(("0.3", "100.02")),
        );
        s.on_exec(&rep, &w.view(), &mut out);
        assert_eq!(s.status(0).unwrap().open_child, Some(id(2)));
        assert_eq!(s.status(1).unwrap().filled, q("0.3"));
        assert_eq!(s.status(1).unwrap().phase, ParentPhase::Done);
        let rep = report(
            &mut w,
            id(2),
            OrderStatus::Expired,
            "0.15",
            Some(("0.15", "100.02")),
        );
        s.on_exec(&rep, &w.view(), &mut out);
        let st = s.status(0).unwrap();
        assert_eq!(
            (st.phase, st.filled, st.residual),
            (ParentPhase::Done, q("0.15"), q("0.05"))
        );
        assert_eq!(s.status(2).unwrap().open_child, Some(id(1)));
        // The iceberg slice (0.6 ± 20 %) fills; the next one follows at
        // once (zero delay).
        let first = places(&placed)[0].4;
        assert!(first >= q("0.48") && first <= q("0.72"), "{first}");
        let cum = first.to_string();
        let rep = report(
            &mut w,
            id(1),
            OrderStatus::Filled,
            &cum,
            Some((&cum, "10.5")),
        );
        s.on_exec(&rep, &w.view(), &mut out);
        let sliced = places(&w.accept(&mut out, &mut seq));
        assert_eq!(s.status(2).unwrap().filled, first);
        assert_eq!(sliced.len(), 1, "{sliced:?}");
        assert!(sliced[0].4 >= q("0.48") && sliced[0].4 <= q("0.72"));
        assert_eq!(
            s.status(2).unwrap().open_child,
            None,
            "bound on the next callback"
        );
        let ev = w.tob(1, "10", "10.02");
        s.on_market(&ev, &w.view(), &mut out);
        assert_eq!(s.status(2).unwrap().open_child, Some(id(4)));
        assert_eq!(s.unmatched_reports(), 0);
    }
}
