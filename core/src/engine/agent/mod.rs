//! The engine agent: control → exec → market data → strategy → risk →
//! journal → order ring, once per duty cycle (DESIGN.md §5).
//!
//! Owns [`EngineAgent`] (the [`Agent`] on the engine thread), [`EngineRings`]
//! (the ring ends it takes), [`EngineError`], and the observable state in
//! [`stats`] ([`EngineStats`], [`EngineHandle`], [`EngineSummary`], latency
//! histograms). It never blocks, never locks and never allocates after
//! construction; every order it sends is journaled (its [`Decision`] with
//! the risk verdict, then its [`OrderCommand`]) *before* it is pushed.
//!
//! # Duty cycle
//!
//! Each `do_work` reads the clock once (`now`: all logic and risk use it;
//! orders additionally get `decide`/`journal` stamps and a latency sample
//! from extra clock reads), then:
//!
//! 1. **control ring** (at most `drain.control`): `Halt` → latched halt +
//!    process [`HaltFlag`] + cancel-all for every instrument with open
//!    orders; `Resume` → latched halt cleared (and the halt flag, if an
//!    operator, daily-loss or tilt halt set it), `Active` again only if
//!    ready; `CancelAll`; `SetLimits` (global only) via
//!    [`RiskLimits::with_control`](crate::engine::risk::RiskLimits::with_control);
//!    `SetTiltMultiplier`. Each message is journaled (`apply` stamp zero if
//!    it was not applied);
//! 2. **exec ring** (at most `drain.exec`): journal the report, apply fills
//!    to the [`PositionBook`] (a trade id seen before is skipped and
//!    counted), update the open-order table, `Strategy::on_exec`;
//! 3. **md ring** (at most `drain.md`): update the instrument's
//!    [`BookState`] (top of book, trades, depth, stale/fresh),
//!    `Strategy::on_market`;
//! 4. `Strategy::on_timer` every `timer_interval_ms`;
//! 5. daily PnL (realised + unrealised at the mids − fees) against the
//!    daily loss limit: a breach latches a `DailyLoss` halt, throws the
//!    halt flag and cancels all open orders (also recomputed before each
//!    new order's risk check, so an order reacting to the event that
//!    breaches the limit is checked at the new mids and never leaves);
//! 6. while `Halted`, a cancel-all for each instrument that still has open
//!    orders not being cancelled.
//!
//! Every intent becomes a [`Decision`] record: new orders are checked by
//! [`RiskCheck`] against a [`RiskContext`] built from the engine's state
//! (cancels are always approved). An approved order gets its client order
//! id (`ClientOrderId::from_session_seq(session, seq)`, or
//! `ClientOrderId::for_tick(session, tick)` for a tagged bench order), its
//! `OrderCommand` is journaled and pushed; a full order ring is counted and
//! journaled as a second `Decision` with outcome `not_sent`. A journal
//! failure throws the halt flag (`JournalFailure`) and fails the agent:
//! nothing leaves unjournaled.
//!
//! # Trading state
//!
//! Starts `Halted`. Each cycle: `Halted` if the process halt flag is set, a
//! halt is latched, or the engine is not ready; else `Reducing` if reducing
//! was requested; else `Active`. Ready and reducing are set from any thread
//! through the [`EngineHandle`] ([`EngineAgent::handle`]).
//!
//! # Wiring
//!
//! ```
//! use talon_core::agent::{AgentInvoker, Runtime};
//! use talon_core::clock::MonotonicClock;
//! use talon_core::engine::agent::{EngineAgent, EngineRings};
//! use talon_core::engine::config::EngineConfig;
//! use talon_core::instrument::InstrumentTable;
//! use talon_core::journal::{JournalConfig, JournalWriter};
//! use talon_core::ring::{RingConfig, Rings};
//!
//! let config = EngineConfig::from_toml(r#"
//!     session = 1
//!     [strategy]
//!     name = "bench"
//!     mark_every = 100
//!     [risk]
//!     max_order_notional = "1000"
//!     max_position = "1"
//!     max_open_orders = 10
//!     max_orders_per_sec = 100
//!     order_burst = 100
//!     price_band_bps = 100
//!     daily_loss_limit = "100"
//! "#)?;
//! let rings = Rings::new(&RingConfig::default())?;
//! let dir = tempfile::tempdir()?;
//! let (journal, _report) = JournalWriter::open(JournalConfig::new(dir.path()))?;
//! let runtime = Runtime::new();
//! let engine = EngineAgent::new(
//!     &config,
//!     InstrumentTable::new(),
//!     EngineRings {
//!         md: rings.md.1,
//!         exec: rings.exec.1,
//!         control: rings.control.1,
//!         orders: rings.order.0,
//!     },
//!     journal,
//!     &runtime,
//!     MonotonicClock::new(),
//! )?;
//! let handle = engine.handle(); // keep it: status line, summary, set_ready
//! let mut inv = AgentInvoker::new(engine, &runtime); // or an AgentRunner
//! inv.start()?;
//! inv.invoke()?;
//! handle.set_ready(true); // once feed + gateway are connected and reconciled
//! inv.invoke()?;
//! println!("{:?}", handle.summary());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod stats;

pub use stats::{
    EngineCounter, EngineHandle, EngineStats, EngineSummary, LatencyHistogram, LatencyStage,
    LatencySummary, PositionSnapshot, RejectCounts,
};

use std::sync::Arc;

use crate::agent::{Agent, AgentError, Runtime};
use crate::clock::{NanoClock, Nanos, unix_nanos};
use crate::engine::config::{DrainLimits, EngineConfig, EngineConfigError};
use crate::engine::position::{PositionBook, utc_day};
use crate::engine::risk::{
    OrderIntent, RejectReason, RiskCheck, RiskContext, TradingState, Verdict,
};
use crate::engine::strategy::{
    self, BookState, ConfigError, Intent, IntentBuf, MarketView, OpenOrder, OpenOrders, Strategy,
};
use crate::event::{
    ClientOrderId, ControlCommand, ControlMsg, Decision, DecisionOrigin, DecisionOutcome,
    ExecReport, JournalPayload, MarketEvent, OrderCommand, OrderCommandKind, OrderStatus,
    OrderType, Side, Stamps, TimeInForce,
};
use crate::halt::{HaltFlag, HaltReason};
use crate::instrument::{Filters, InstrumentId, InstrumentTable};
use crate::journal::JournalWriter;
use crate::num::{Notional, Price, Qty};
use crate::ring::{ControlConsumer, ExecConsumer, MdConsumer, OrderProducer, RingFull};
use stats::Shared;

/// The ring ends the engine owns.
#[derive(Debug)]
pub struct EngineRings {
    /// Feed → engine market events.
    pub md: MdConsumer,
    /// Gateway → engine execution reports.
    pub exec: ExecConsumer,
    /// Control → engine commands.
    pub control: ControlConsumer,
    /// Engine → gateway order commands.
    pub orders: OrderProducer,
}

/// Why the engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine config is invalid.
    #[error(transparent)]
    Config(#[from] EngineConfigError),
    /// The strategy's parameters are invalid.
    #[error(transparent)]
    Strategy(#[from] ConfigError),
}

/// Recently applied fills, for duplicate detection: a direct-mapped table of
/// `(instrument, trade id)`. A duplicate is caught unless 4 096 later fills
/// evicted its slot (duplicates arrive close together: a user-data-stream
/// report and an order-response report of the same fill).
#[derive(Debug)]
struct SeenTrades {
    slots: Box<[(u16, u64)]>,
}

impl SeenTrades {
    const SIZE: usize = 4096;

    fn new() -> SeenTrades {
        SeenTrades {
            slots: vec![(0, 0); Self::SIZE].into_boxed_slice(),
        }
    }

    /// True if `(instrument, trade_id)` was recorded; records it otherwise.
    fn check_insert(&mut self, instrument: InstrumentId, trade_id: u64) -> bool {
        let h = (trade_id ^ (u64::from(instrument.0) << 48)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let i = (h >> 52) as usize & (Self::SIZE - 1);
        match self.slots.get_mut(i) {
            Some(slot) if *slot == (instrument.0, trade_id) => true,
            Some(slot) => {
                *slot = (instrument.0, trade_id);
                false
            }
            None => false,
        }
    }
}

/// The engine agent (see the module docs).
pub struct EngineAgent<C: NanoClock + Send> {
    session: u32,
    next_seq: u64,
    strategy: Box<dyn Strategy>,
    risk: RiskCheck,
    positions: PositionBook,
    books: Box<[BookState]>,
    orders: OpenOrders,
    instruments: InstrumentTable,
    filters: Box<[Filters]>,
    rings: EngineRings,
    journal: JournalWriter,
    runtime: Runtime,
    halt: Arc<HaltFlag>,
    shared: Arc<Shared>,
    clock: C,
    intents: IntentBuf,
    seen: SeenTrades,
    drain: DrainLimits,
    timer_ns: u64,
    next_timer: Nanos,
    next_day_check: Nanos,
    now: Nanos,
    state: TradingState,
    latched: Option<HaltReason>,
    daily_pnl: Notional,
    pnl_dirty: bool,
}

impl<C: NanoClock + Send> std::fmt::Debug for EngineAgent<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineAgent")
            .field("session", &self.session)
            .field("strategy", &self.strategy.name())
            .field("state", &self.state)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

/// Nanoseconds from `a` to `b`, or `None` if `a` is unstamped or later.
#[inline]
fn since(a: Nanos, b: Nanos) -> Option<u64> {
    (a.0 != 0 && b.0 >= a.0).then(|| b.0 - a.0)
}

impl<C: NanoClock + Send> EngineAgent<C> {
    /// Builds the engine with the strategy named in `config` (all allocation
    /// happens here). Starts `Halted`, not ready.
    pub fn new(
        config: &EngineConfig,
        instruments: InstrumentTable,
        rings: EngineRings,
        journal: JournalWriter,
        runtime: &Runtime,
        clock: C,
    ) -> Result<EngineAgent<C>, EngineError> {
        let strategy = strategy::build(&config.strategy, &instruments)?;
        EngineAgent::with_strategy(
            config,
            strategy,
            instruments,
            rings,
            journal,
            runtime,
            clock,
        )
    }

    /// Builds the engine around a given strategy (`config.strategy` is not
    /// used): custom strategies, tests, replay.
    pub fn with_strategy(
        config: &EngineConfig,
        strategy: Box<dyn Strategy>,
        instruments: InstrumentTable,
        rings: EngineRings,
        journal: JournalWriter,
        runtime: &Runtime,
        clock: C,
    ) -> Result<EngineAgent<C>, EngineError> {
        config.validate()?;
        let now = clock.now();
        let n = instruments.len();
        let risk = RiskCheck::new(config.risk, now).map_err(EngineConfigError::from)?;
        let filters = instruments.iter().map(|(_, s)| s.filters).collect();
        Ok(EngineAgent {
            session: config.session,
            next_seq: 1,
            strategy,
            risk,
            positions: PositionBook::new(n, utc_day(unix_nanos())),
            books: vec![BookState::EMPTY; n].into_boxed_slice(),
            orders: OpenOrders::with_capacity(config.open_order_capacity),
            instruments,
            filters,
            rings,
            journal,
            runtime: runtime.clone(),
            halt: Arc::clone(&runtime.halt),
            shared: Arc::new(Shared::new(n)),
            clock,
            intents: IntentBuf::new(),
            seen: SeenTrades::new(),
            drain: config.drain,
            timer_ns: config.timer_interval_ms.saturating_mul(1_000_000),
            next_timer: now,
            next_day_check: now,
            now,
            state: TradingState::Halted,
            latched: None,
            daily_pnl: Notional::ZERO,
            pnl_dirty: false,
        })
    }

    /// The cross-thread handle: stats, summary, `set_ready`, `set_reducing`.
    pub fn handle(&self) -> EngineHandle {
        EngineHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Shorthand for `self.handle().set_ready(ready)`.
    pub fn set_ready(&self, ready: bool) {
        self.handle().set_ready(ready);
    }

    /// The statistics (also reachable through [`EngineAgent::handle`]).
    pub fn stats(&self) -> &EngineStats {
        &self.shared.stats
    }

    /// The sequence the next `from_session_seq` id gets (default 1). Set it
    /// past the highest sequence found in the journal on restart.
    pub fn set_next_seq(&mut self, seq: u64) {
        self.next_seq = seq;
    }

    /// The next order sequence.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The trading state as of the last duty cycle.
    pub fn state(&self) -> TradingState {
        self.state
    }

    /// The positions.
    pub fn positions(&self) -> &PositionBook {
        &self.positions
    }

    /// The open-order table.
    pub fn open_orders(&self) -> &OpenOrders {
        &self.orders
    }

    /// The book state of `id`.
    pub fn book(&self, id: InstrumentId) -> Option<&BookState> {
        self.books.get(id.index())
    }

    /// The risk checker (limits, tilt).
    pub fn risk(&self) -> &RiskCheck {
        &self.risk
    }

    /// The journal writer.
    pub fn journal(&self) -> &JournalWriter {
        &self.journal
    }

    /// Syncs the journal (cold path: shutdown).
    pub fn sync_journal(&mut self) -> Result<(), crate::journal::JournalError> {
        self.journal.sync()
    }

    /// Re-derives the trading state from the halt flag, latched halt, ready
    /// and reducing switches; publishes it.
    fn refresh_state(&mut self) -> TradingState {
        let s = if self.halt.is_halted() || self.latched.is_some() || !self.shared.ready() {
            TradingState::Halted
        } else if self.shared.reducing() {
            TradingState::Reducing
        } else {
            TradingState::Active
        };
        if s != self.state {
            self.state = s;
        }
        self.shared.stats.set_state(s, self.latched);
        s
    }

    /// Appends `v`; on failure throws the halt flag and fails the cycle.
    fn journal_write<T: JournalPayload>(&mut self, v: &T, ts: Nanos) -> Result<u64, AgentError> {
        let r = self
            .journal
            .append_with(T::KIND, T::VERSION, ts, T::ENCODED_LEN, |buf| {
                // Cannot fail: the slice is exactly ENCODED_LEN long.
                let _ = v.encode(buf);
            });
        match r {
            Ok(seq) => {
                self.shared.stats.add(EngineCounter::JournalRecords, 1);
                Ok(seq)
            }
            Err(_) => {
                self.runtime.halt_with(HaltReason::JournalFailure);
                Err(AgentError::Journal)
            }
        }
    }

    /// Latches a halt, throws the process flag, counts it.
    fn trip(&mut self, reason: HaltReason) {
        if self.latched != Some(reason) {
            self.latched = Some(reason);
            self.runtime.halt_with(reason);
            if reason == HaltReason::DailyLoss {
                self.shared.stats.add(EngineCounter::AutoHalts, 1);
            }
        }
        self.refresh_state();
    }

    // ---- control -------------------------------------------------------

    fn on_control(&mut self, mut msg: ControlMsg) -> Result<(), AgentError> {
        self.shared.stats.add(EngineCounter::ControlMsgs, 1);
        let mut applied = true;
        let mut cancel: Option<Option<InstrumentId>> = None;
        match msg.command {
            ControlCommand::Halt { reason } => {
                self.latched = Some(reason);
                self.runtime.halt_with(reason);
                cancel = Some(None);
            }
            ControlCommand::Resume => {
                self.latched = None;
                if matches!(
                    self.halt.reason(),
                    Some(HaltReason::Operator | HaltReason::DailyLoss | HaltReason::TiltLocked)
                ) {
                    self.halt.clear();
                }
            }
            ControlCommand::CancelAll { instrument } => cancel = Some(instrument),
            ControlCommand::SetLimits {
                instrument: None, ..
            } => match self.risk.limits().with_control(&msg.command) {
                Ok(Some(l)) => applied = self.risk.set_limits(l).is_ok(),
                _ => applied = false,
            },
            ControlCommand::SetLimits {
                instrument: Some(_),
                ..
            } => applied = false, // per-instrument limits: not supported yet
            ControlCommand::SetTiltMultiplier { bps } => self.risk.set_tilt_bps(bps),
        }
        if !applied {
            self.shared.stats.add(EngineCounter::ControlRejected, 1);
        }
        msg.apply = if applied { self.now } else { Nanos::ZERO };
        self.journal_write(&msg, self.now)?;
        self.refresh_state();
        match cancel {
            Some(Some(id)) => {
                self.cancel_all(id, DecisionOrigin::Control)?;
            }
            Some(None) => self.cancel_everything(DecisionOrigin::Control)?,
            None => {}
        }
        Ok(())
    }

    // ---- exec ----------------------------------------------------------

    fn on_exec(&mut self, mut rep: ExecReport) -> Result<(), AgentError> {
        let st = &self.shared.stats;
        st.add(EngineCounter::ExecReports, 1);
        if let Some(ns) = since(rep.stamps.decode, self.now) {
            st.record(LatencyStage::ExecRing, ns);
        }
        rep.apply = self.now;
        self.journal_write(&rep, self.now)?;
        let st = &self.shared.stats;
        let dup = rep.trade_id != 0 && self.seen.check_insert(rep.instrument, rep.trade_id);
        if dup {
            st.add(EngineCounter::DuplicateFills, 1);
        } else {
            match self.positions.apply(&rep) {
                Ok(true) => {
                    st.add(EngineCounter::Fills, 1);
                    if let Some(p) = self.positions.get(rep.instrument) {
                        st.publish_position(rep.instrument, p);
                    }
                    self.pnl_dirty = true;
                }
                Ok(false) => {}
                Err(_) => st.add(EngineCounter::PositionErrors, 1),
            }
        }
        if rep.status == OrderStatus::Rejected {
            st.add(EngineCounter::VenueRejects, 1);
        }
        if let Some(o) = self.orders.get_mut(&rep.client_order_id) {
            o.cum_qty = o.cum_qty.max(rep.cum_qty);
            o.status = rep.status;
            if rep.status.is_terminal() {
                self.orders.remove(&rep.client_order_id);
            }
        } else if !rep.client_order_id.is_empty() {
            st.add(EngineCounter::UnknownOrderReports, 1);
        }
        if dup {
            return Ok(());
        }
        self.intents.clear();
        {
            let view = MarketView::new(
                &self.instruments,
                &self.books,
                &self.positions,
                &self.orders,
                self.now,
            );
            self.strategy.on_exec(&rep, &view, &mut self.intents);
        }
        self.run_intents(Stamps::ZERO)
    }

    // ---- market data ---------------------------------------------------

    fn on_market(&mut self, ev: MarketEvent) -> Result<(), AgentError> {
        let st = &self.shared.stats;
        st.add(EngineCounter::MarketEvents, 1);
        let Some(book) = self.books.get_mut(ev.instrument.index()) else {
            st.add(EngineCounter::UnknownInstrument, 1);
            return Ok(());
        };
        if let Some(ns) = since(ev.stamps.decode, self.now) {
            st.record(LatencyStage::MdRing, ns);
        }
        book.apply(&ev, self.now);
        self.pnl_dirty = true;
        self.intents.clear();
        {
            let view = MarketView::new(
                &self.instruments,
                &self.books,
                &self.positions,
                &self.orders,
                self.now,
            );
            self.strategy.on_market(&ev, &view, &mut self.intents);
        }
        self.run_intents(ev.stamps)
    }

    // ---- intents -------------------------------------------------------

    fn run_intents(&mut self, trigger: Stamps) -> Result<(), AgentError> {
        let dropped = self.intents.take_overflowed();
        if dropped > 0 {
            self.shared
                .stats
                .add(EngineCounter::IntentsDropped, dropped);
        }
        let mut i = 0;
        while let Some(intent) = self.intents.get(i) {
            i += 1;
            self.shared.stats.add(EngineCounter::Intents, 1);
            match intent {
                Intent::Place { .. } => self.place(intent, trigger)?,
                Intent::Cancel {
                    instrument,
                    client_order_id,
                } => self.cancel_one(instrument, client_order_id, trigger)?,
                Intent::CancelAll { instrument } => {
                    self.cancel_all(instrument, DecisionOrigin::Strategy)?;
                }
            }
        }
        self.intents.clear();
        Ok(())
    }

    /// Risk-checks, journals and sends a new order.
    fn place(&mut self, intent: Intent, trigger: Stamps) -> Result<(), AgentError> {
        let Intent::Place {
            instrument,
            side,
            order_type,
            tif,
            price,
            qty,
            stop,
            tag,
        } = intent
        else {
            return Ok(());
        };
        let Some(filters) = self.filters.get(instrument.index()).copied() else {
            self.shared.stats.add(EngineCounter::UnknownInstrument, 1);
            return Ok(());
        };
        // The PnL at the mids of this cycle's events so far (a breach halts
        // here, before this order), not at the last cycle's.
        self.check_daily_loss();
        let state = self.refresh_state();
        let order = OrderIntent {
            instrument,
            side,
            order_type,
            price,
            qty,
            stop,
        };
        let verdict = if self.orders.is_full() {
            Verdict::Rejected(RejectReason::MaxOpenOrders)
        } else {
            let book = self
                .books
                .get(instrument.index())
                .copied()
                .unwrap_or(BookState::EMPTY);
            let ctx = RiskContext {
                state,
                position: self
                    .positions
                    .get(instrument)
                    .map_or(Qty::ZERO, |p| p.qty()),
                open_buy_qty: self.orders.open_qty(instrument, Side::Buy),
                open_sell_qty: self.orders.open_qty(instrument, Side::Sell),
                open_orders: u32::try_from(self.orders.len()).unwrap_or(u32::MAX),
                mid: book.mid(),
                book_healthy: book.healthy(),
                daily_pnl: self.daily_pnl,
                now: self.now,
            };
            self.risk.check(&order, &ctx, &filters)
        };
        let decide = self.clock.now();
        if let Some(ns) = since(self.now, decide) {
            self.shared.stats.record(LatencyStage::Decide, ns);
        }
        let client_order_id = if verdict.is_approved() {
            match tag {
                Some(t) => ClientOrderId::for_tick(self.session, t),
                None => {
                    let id = ClientOrderId::from_session_seq(self.session, self.next_seq);
                    self.next_seq = self.next_seq.wrapping_add(1);
                    id
                }
            }
        } else {
            ClientOrderId::EMPTY
        };
        let decision = Decision {
            instrument,
            action: OrderCommandKind::New,
            side,
            order_type,
            time_in_force: tif,
            state,
            origin: DecisionOrigin::Strategy,
            outcome: DecisionOutcome::Decided,
            verdict,
            price,
            qty,
            stop,
            tag,
            client_order_id,
            trigger,
            decide,
        };
        self.journal_write(&decision, self.now)?;
        self.shared.stats.add(EngineCounter::Decisions, 1);
        if let Verdict::Rejected(r) = verdict {
            self.shared.stats.reject(r);
            if r.is_halt_trigger() {
                self.trip(HaltReason::DailyLoss);
            }
            return Ok(());
        }
        let mut cmd = OrderCommand::new_order(
            instrument,
            side,
            order_type,
            tif,
            price,
            qty,
            client_order_id,
        );
        cmd.trigger = trigger;
        cmd.decide = decide;
        if self.send(cmd, &decision)? {
            self.shared.stats.add(EngineCounter::OrdersSent, 1);
            // Cannot fail: `is_full` was false at the check above.
            let _ = self.orders.insert(OpenOrder::new(
                client_order_id,
                instrument,
                side,
                order_type,
                tif,
                price,
                qty,
            ));
        }
        Ok(())
    }

    /// Journals `cmd` (stamped) and pushes it. Returns whether it was
    /// pushed; a full ring is counted and journaled as `not_sent`.
    fn send(&mut self, mut cmd: OrderCommand, decision: &Decision) -> Result<bool, AgentError> {
        cmd.journal = self.clock.now();
        self.journal_write(&cmd, self.now)?;
        match self.rings.orders.push(cmd) {
            Ok(()) => {
                let pushed = self.clock.now();
                let st = &self.shared.stats;
                if let Some(ns) = since(cmd.decide, pushed) {
                    st.record(LatencyStage::JournalPush, ns);
                }
                if let Some(ns) = since(cmd.trigger.recv, pushed) {
                    st.record(LatencyStage::TickToOrder, ns);
                }
                Ok(true)
            }
            Err(RingFull(_)) => {
                self.shared.stats.add(EngineCounter::OrdersNotSent, 1);
                let not_sent = Decision {
                    outcome: DecisionOutcome::NotSent,
                    ..*decision
                };
                self.journal_write(&not_sent, self.now)?;
                Ok(false)
            }
        }
    }

    /// An approved cancel decision for `cmd`, journaled.
    fn cancel_decision(
        &mut self,
        cmd: &OrderCommand,
        side: Side,
        origin: DecisionOrigin,
        trigger: Stamps,
    ) -> Result<Decision, AgentError> {
        let d = Decision {
            instrument: cmd.instrument,
            action: cmd.kind,
            side,
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Gtc,
            state: self.state,
            origin,
            outcome: DecisionOutcome::Decided,
            verdict: Verdict::Approved,
            price: Price::ZERO,
            qty: Qty::ZERO,
            stop: None,
            tag: None,
            client_order_id: cmd.client_order_id,
            trigger,
            decide: cmd.decide,
        };
        self.journal_write(&d, self.now)?;
        self.shared.stats.add(EngineCounter::Decisions, 1);
        Ok(d)
    }

    fn cancel_one(
        &mut self,
        instrument: InstrumentId,
        id: ClientOrderId,
        trigger: Stamps,
    ) -> Result<(), AgentError> {
        let Some(o) = self
            .orders
            .get(&id)
            .filter(|o| o.instrument == instrument && !o.cancel_pending)
            .copied()
        else {
            self.shared.stats.add(EngineCounter::CancelsSkipped, 1);
            return Ok(());
        };
        let mut cmd = OrderCommand::cancel(instrument, id);
        cmd.trigger = trigger;
        cmd.decide = self.clock.now();
        let d = self.cancel_decision(&cmd, o.side, DecisionOrigin::Strategy, trigger)?;
        if self.send(cmd, &d)? {
            self.shared.stats.add(EngineCounter::CancelsSent, 1);
            self.orders.mark_cancel_pending(&id);
        }
        Ok(())
    }

    /// Cancels every open order on `instrument` (if any is not already being
    /// cancelled). Returns false if the ring refused it.
    fn cancel_all(
        &mut self,
        instrument: InstrumentId,
        origin: DecisionOrigin,
    ) -> Result<bool, AgentError> {
        if !self.orders.has_cancellable(instrument) {
            if origin == DecisionOrigin::Strategy {
                self.shared.stats.add(EngineCounter::CancelsSkipped, 1);
            }
            return Ok(true);
        }
        let mut cmd = OrderCommand::cancel_all(instrument);
        cmd.decide = self.clock.now();
        let d = self.cancel_decision(&cmd, Side::Buy, origin, Stamps::ZERO)?;
        let sent = self.send(cmd, &d)?;
        if sent {
            self.shared.stats.add(EngineCounter::CancelsSent, 1);
            self.orders.mark_all_cancel_pending(instrument);
        }
        Ok(sent)
    }

    /// A cancel-all for each instrument with orders not being cancelled;
    /// stops at the first refused push (retried next cycle while halted).
    fn cancel_everything(&mut self, origin: DecisionOrigin) -> Result<(), AgentError> {
        let mut guard = self.orders.len();
        while guard > 0 {
            guard -= 1;
            let Some(id) = self
                .orders
                .iter()
                .find(|o| !o.cancel_pending)
                .map(|o| o.instrument)
            else {
                break;
            };
            if !self.cancel_all(id, origin)? {
                break;
            }
        }
        Ok(())
    }

    // ---- PnL -----------------------------------------------------------

    /// Recomputes daily PnL at the mids; a breach of the daily loss limit
    /// latches a `DailyLoss` halt.
    fn check_daily_loss(&mut self) {
        if !self.pnl_dirty {
            return;
        }
        self.pnl_dirty = false;
        let books = &self.books;
        let pnl = self
            .positions
            .daily_pnl(|id| books.get(id.index()).and_then(BookState::mid))
            .unwrap_or(Notional::MIN);
        self.daily_pnl = pnl;
        self.shared.stats.set_daily_pnl(pnl);
        let limit = self.risk.limits().daily_loss_limit.raw();
        if pnl.raw() <= -limit && self.latched != Some(HaltReason::DailyLoss) {
            self.trip(HaltReason::DailyLoss);
        }
    }

    fn roll_day(&mut self) {
        const CHECK_EVERY_NS: u64 = 1_000_000_000;
        if self.now < self.next_day_check {
            return;
        }
        self.next_day_check = self.now.saturating_add(CHECK_EVERY_NS);
        let books = &self.books;
        if self.positions.roll_day(utc_day(unix_nanos()), |id| {
            books.get(id.index()).and_then(BookState::mid)
        }) {
            self.pnl_dirty = true;
        }
    }
}

impl<C: NanoClock + Send> Agent for EngineAgent<C> {
    fn on_start(&mut self) -> Result<(), AgentError> {
        self.now = self.clock.now();
        self.refresh_state();
        Ok(())
    }

    fn do_work(&mut self) -> Result<usize, AgentError> {
        self.now = self.clock.now();
        self.shared.stats.add(EngineCounter::Cycles, 1);
        self.refresh_state();
        let mut work = 0;
        for _ in 0..self.drain.control {
            let Some(msg) = self.rings.control.pop() else {
                break;
            };
            work += 1;
            self.on_control(msg)?;
        }
        for _ in 0..self.drain.exec {
            let Some(rep) = self.rings.exec.pop() else {
                break;
            };
            work += 1;
            self.on_exec(rep)?;
        }
        self.check_daily_loss();
        for _ in 0..self.drain.md {
            let Some(ev) = self.rings.md.pop() else {
                break;
            };
            work += 1;
            self.on_market(ev)?;
        }
        if self.timer_ns > 0 && self.now >= self.next_timer {
            self.next_timer = self.now.saturating_add(self.timer_ns);
            self.intents.clear();
            {
                let view = MarketView::new(
                    &self.instruments,
                    &self.books,
                    &self.positions,
                    &self.orders,
                    self.now,
                );
                self.strategy.on_timer(self.now, &view, &mut self.intents);
            }
            if !self.intents.is_empty() {
                work += 1;
            }
            self.run_intents(Stamps::ZERO)?;
        }
        self.roll_day();
        self.check_daily_loss();
        if self.refresh_state() == TradingState::Halted
            && self.orders.iter().any(|o| !o.cancel_pending)
        {
            work += 1;
            self.cancel_everything(DecisionOrigin::Engine)?;
        }
        self.shared.stats.set_open_orders(self.orders.len());
        Ok(work)
    }

    fn on_close(&mut self) {
        // Best effort at shutdown: the records are already written; a sync
        // failure leaves them to the OS.
        let _ = self.journal.sync();
    }

    fn role_name(&self) -> &'static str {
        "engine"
    }
}
