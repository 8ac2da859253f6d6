//! # Order state machine and the gateway's table of live orders
//!
//! Owns the per-order lifecycle of DESIGN §6 ([`OrderState::apply`], one
//! lookup in a constant transition table) and [`OrderTable`], the
//! fixed-capacity open-addressing map from [`ClientOrderId`] to
//! [`OrderEntry`] the gateway keeps for every order it has sent. Nothing here
//! allocates after [`OrderTable::new`], panics on any input, reads a clock
//! (times are passed in) or performs I/O.
//!
//! ## States and events
//!
//! States are [`OrderStatus`]. An order enters the table as `PendingNew`
//! when its `order.place` is sent. Events ([`OrderEvent`]):
//!
//! ```text
//!  PendingNew ──Acked──▶ New ──PartialFill──▶ PartiallyFilled ──Fill──▶ Filled
//!      │                  │                       │
//!      ├──Fill/PartialFill┘  Canceled / Expired ──┴──▶ Canceled / Expired
//!      ├──Rejected──▶ Rejected
//!      └──AckTimeout──▶ Unknown ──StatusResolved(s) or any venue event──▶ s
//!  New / PartiallyFilled ──AckTimeout (a cancel went unanswered)──▶ Unknown
//! ```
//!
//! * Terminal states (`Filled`, `Canceled`, `Rejected`, `Expired`) accept no
//!   event: anything arriving after them is an [`IllegalTransition`], which
//!   the gateway counts and drops (a stale or duplicated venue message).
//! * `Acked` in `New` or `PartiallyFilled` is legal and changes nothing: the
//!   venue sends both the `order.place` response and the `executionReport`
//!   `NEW`, in no guaranteed order relative to fills.
//! * `Rejected` is legal only before the venue accepted the order
//!   (`PendingNew`, `Unknown`): a rejected *cancel* does not reject the order.
//! * `StatusResolved(s)` (an `order.status` answer, or a resync after
//!   reconnect) moves `PendingNew`/`Unknown` to any known venue state, and
//!   `New`/`PartiallyFilled` only forward (never back to `PendingNew`/`New`
//!   from a fill, never to `Rejected`); `s` = `Unknown` is never legal.
//! * "Cancel requested" is a flag on the entry ([`OrderEntry::cancel_pending`]),
//!   not a state: while a cancel is in flight the order can still fill, and
//!   the fill must move it to `PartiallyFilled`/`Filled` exactly as without
//!   the cancel; a state would double every open state. [`OrderEvent::CancelSent`]
//!   is legal in every open state and leaves the state unchanged.
//!
//! ## Table
//!
//! Linear probing over a power-of-two slot array at most half full, FNV-1a
//! over the id bytes, backward-shift deletion (no tombstones, so probe
//! lengths never degrade). Each entry keeps the last
//! [`TRADE_IDS_KEPT`] trade ids it applied; a fill whose trade id is among
//! them is a duplicate (the same fill from the response's `fills` and the
//! user-data stream, or a replay after reconnect): dropped and counted.

use talon_core::clock::Nanos;
use talon_core::event::{ClientOrderId, ExecReport, OrderStatus, OrderType, Side};
use talon_core::instrument::InstrumentId;
use talon_core::num::{Price, Qty};

/// Something that happens to an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderEvent {
    /// The venue accepted the order (`NEW`).
    Acked,
    /// A fill that leaves quantity open.
    PartialFill,
    /// The fill that completes the order.
    Fill,
    /// Cancelled (by us or the venue).
    Canceled,
    /// Refused by the venue.
    Rejected,
    /// Expired (IOC/FOK remainder, self-trade prevention, venue expiry).
    Expired,
    /// No answer within the ack timeout (to the place or to a cancel).
    AckTimeout,
    /// A status query (or resync) says the order is in this state.
    StatusResolved(OrderStatus),
    /// A cancel was sent for the order (sets the flag; state unchanged).
    CancelSent,
}

/// Number of plain (non-`StatusResolved`) events.
const PLAIN_EVENTS: usize = 8;

impl OrderEvent {
    /// Every event, `StatusResolved` with each status.
    pub fn all() -> impl Iterator<Item = OrderEvent> {
        [
            OrderEvent::Acked,
            OrderEvent::PartialFill,
            OrderEvent::Fill,
            OrderEvent::Canceled,
            OrderEvent::Rejected,
            OrderEvent::Expired,
            OrderEvent::AckTimeout,
            OrderEvent::CancelSent,
        ]
        .into_iter()
        .chain(
            OrderStatus::ALL
                .iter()
                .map(|s| OrderEvent::StatusResolved(*s)),
        )
    }

    /// The event a venue report with status `s` stands for.
    pub const fn from_status(s: OrderStatus) -> OrderEvent {
        match s {
            OrderStatus::New => OrderEvent::Acked,
            OrderStatus::PartiallyFilled => OrderEvent::PartialFill,
            OrderStatus::Filled => OrderEvent::Fill,
            OrderStatus::Canceled => OrderEvent::Canceled,
            OrderStatus::Rejected => OrderEvent::Rejected,
            OrderStatus::Expired => OrderEvent::Expired,
            OrderStatus::PendingNew | OrderStatus::Unknown => OrderEvent::StatusResolved(s),
        }
    }

    /// Column in [`TABLE`].
    const fn column(self) -> usize {
        match self {
            OrderEvent::Acked => 0,
            OrderEvent::PartialFill => 1,
            OrderEvent::Fill => 2,
            OrderEvent::Canceled => 3,
            OrderEvent::Rejected => 4,
            OrderEvent::Expired => 5,
            OrderEvent::AckTimeout => 6,
            OrderEvent::CancelSent => 7,
            OrderEvent::StatusResolved(s) => PLAIN_EVENTS + s as usize - 1,
        }
    }
}

/// An event not allowed in a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("illegal order transition: {event:?} in state {from}")]
pub struct IllegalTransition {
    /// The state the order was in (it stays there).
    pub from: OrderStatus,
    /// The refused event.
    pub event: OrderEvent,
}

const COLUMNS: usize = PLAIN_EVENTS + 8;

use OrderStatus as S;

/// `TABLE[state - 1][column]`: the next state, `None` = illegal. Columns:
/// Acked, PartialFill, Fill, Canceled, Rejected, Expired, AckTimeout,
/// CancelSent, then StatusResolved(PendingNew, New, PartiallyFilled,
/// Filled, Canceled, Rejected, Expired, Unknown).
const TABLE: [[Option<OrderStatus>; COLUMNS]; 8] = {
    const N: Option<OrderStatus> = None;
    const PN: Option<OrderStatus> = Some(S::PendingNew);
    const NW: Option<OrderStatus> = Some(S::New);
    const PF: Option<OrderStatus> = Some(S::PartiallyFilled);
    const FL: Option<OrderStatus> = Some(S::Filled);
    const CX: Option<OrderStatus> = Some(S::Canceled);
    const RJ: Option<OrderStatus> = Some(S::Rejected);
    const EX: Option<OrderStatus> = Some(S::Expired);
    const UK: Option<OrderStatus> = Some(S::Unknown);
    [
        //  Ack PFil Fill Canc Rej  Exp  TOut CSnt | PN  NW  PF  FL  CX  RJ  EX  UK
        [
            NW, PF, FL, CX, RJ, EX, UK, PN, PN, NW, PF, FL, CX, RJ, EX, N,
        ], // PendingNew
        [NW, PF, FL, CX, N, EX, UK, NW, N, NW, PF, FL, CX, N, EX, N], // New
        [PF, PF, FL, CX, N, EX, UK, PF, N, N, PF, FL, CX, N, EX, N],  // PartiallyFilled
        [N, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N],             // Filled
        [N, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N],             // Canceled
        [N, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N],             // Rejected
        [N, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N],             // Expired
        [
            NW, PF, FL, CX, RJ, EX, UK, UK, PN, NW, PF, FL, CX, RJ, EX, N,
        ], // Unknown
    ]
};

/// An order's state, with the transition function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrderState(pub OrderStatus);

impl OrderState {
    /// The state after `event`, or why not.
    #[inline]
    pub fn apply(self, event: OrderEvent) -> Result<OrderStatus, IllegalTransition> {
        let row = (self.0 as usize).wrapping_sub(1);
        TABLE
            .get(row)
            .and_then(|r| r.get(event.column()))
            .copied()
            .flatten()
            .ok_or(IllegalTransition {
                from: self.0,
                event,
            })
    }
}

/// Trade ids remembered per order for duplicate detection.
pub const TRADE_IDS_KEPT: usize = 16;

/// What the gateway knows about one order it sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderEntry {
    /// Key.
    pub client_order_id: ClientOrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Limit price (zero for MARKET).
    pub price: Price,
    /// Ordered quantity.
    pub qty: Qty,
    /// Filled so far.
    pub cum_qty: Qty,
    /// The venue's `orderId`, 0 until known.
    pub venue_order_id: u64,
    /// When `order.place` was sent.
    pub sent_at: Nanos,
    /// Current state.
    pub status: OrderStatus,
    /// A cancel is in flight.
    pub cancel_pending: bool,
    /// When the cancel was sent (valid while `cancel_pending`).
    pub cancel_sent_at: Nanos,
    trade_ids: [u64; TRADE_IDS_KEPT],
    trade_len: u8,
    trade_next: u8,
}

impl OrderEntry {
    /// A new `PendingNew` entry.
    pub fn pending(
        client_order_id: ClientOrderId,
        instrument: InstrumentId,
        side: Side,
        order_type: OrderType,
        price: Price,
        qty: Qty,
        sent_at: Nanos,
    ) -> OrderEntry {
        OrderEntry {
            client_order_id,
            instrument,
            side,
            order_type,
            price,
            qty,
            cum_qty: Qty::ZERO,
            venue_order_id: 0,
            sent_at,
            status: OrderStatus::PendingNew,
            cancel_pending: false,
            cancel_sent_at: Nanos::ZERO,
            trade_ids: [0; TRADE_IDS_KEPT],
            trade_len: 0,
            trade_next: 0,
        }
    }

    /// True if `trade_id` was already applied to this order.
    pub fn seen_trade(&self, trade_id: u64) -> bool {
        self.trade_ids
            .iter()
            .take(usize::from(self.trade_len))
            .any(|&t| t == trade_id)
    }

    fn remember_trade(&mut self, trade_id: u64) {
        if let Some(slot) = self.trade_ids.get_mut(usize::from(self.trade_next)) {
            *slot = trade_id;
        }
        self.trade_next = (self.trade_next + 1) % TRADE_IDS_KEPT as u8;
        if usize::from(self.trade_len) < TRADE_IDS_KEPT {
            self.trade_len += 1;
        }
    }

    /// Applies `event` to the state (and the cancel flag).
    pub fn apply(&mut self, event: OrderEvent) -> Result<OrderStatus, IllegalTransition> {
        let next = OrderState(self.status).apply(event)?;
        self.status = next;
        match event {
            OrderEvent::CancelSent => {}
            // A cancel went unanswered: the order is unknown, the flag stays
            // until something resolves it.
            OrderEvent::AckTimeout => {}
            _ if next.is_terminal() => self.cancel_pending = false,
            _ => {}
        }
        Ok(next)
    }
}

/// Why a table operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TableError {
    /// The table holds `capacity` orders.
    #[error("order table full")]
    Full,
    /// An order with this client id is already in the table.
    #[error("duplicate client order id")]
    Duplicate,
    /// No order with this client id.
    #[error("unknown client order id")]
    NotFound,
    /// The state machine refused the event.
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
}

/// Outcome of [`OrderTable::on_report`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportOutcome {
    /// Applied; the order's new state.
    Applied(OrderStatus),
    /// A fill whose trade id was already applied: dropped (and counted).
    DuplicateTrade,
}

/// Fixed-capacity map of live orders keyed by [`ClientOrderId`].
#[derive(Debug)]
pub struct OrderTable {
    slots: Box<[Option<OrderEntry>]>,
    mask: usize,
    len: usize,
    capacity: usize,
    duplicate_trades: u64,
    illegal_transitions: u64,
}

/// FNV-1a over the id's bytes.
fn hash(id: &ClientOrderId) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in id.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Fold high bits in: the mask keeps only the low ones.
    h ^ (h >> 29)
}

impl OrderTable {
    /// Room for `capacity` orders (at least 1); all memory is allocated here.
    pub fn new(capacity: usize) -> OrderTable {
        let capacity = capacity.max(1);
        let slots_len = capacity.saturating_mul(2).next_power_of_two();
        OrderTable {
            slots: vec![None; slots_len].into_boxed_slice(),
            mask: slots_len - 1,
            len: 0,
            capacity,
            duplicate_trades: 0,
            illegal_transitions: 0,
        }
    }

    /// Most orders held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Orders held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fills dropped as duplicates.
    pub fn duplicate_trades(&self) -> u64 {
        self.duplicate_trades
    }

    /// Events refused by the state machine through [`OrderTable::apply`] /
    /// [`OrderTable::on_report`].
    pub fn illegal_transitions(&self) -> u64 {
        self.illegal_transitions
    }

    fn home(&self, id: &ClientOrderId) -> usize {
        (hash(id) as usize) & self.mask
    }

    /// Slot index holding `id`.
    fn find(&self, id: &ClientOrderId) -> Option<usize> {
        let mut i = self.home(id);
        // At most half full: an empty slot is always reached.
        for _ in 0..self.slots.len() {
            match self.slots.get(i)? {
                None => return None,
                Some(e) if e.client_order_id == *id => return Some(i),
                Some(_) => i = (i + 1) & self.mask,
            }
        }
        None
    }

    /// Inserts a new order (normally [`OrderEntry::pending`]).
    pub fn insert(&mut self, entry: OrderEntry) -> Result<&mut OrderEntry, TableError> {
        if self.find(&entry.client_order_id).is_some() {
            return Err(TableError::Duplicate);
        }
        if self.len >= self.capacity {
            return Err(TableError::Full);
        }
        let mut i = self.home(&entry.client_order_id);
        for _ in 0..self.slots.len() {
            match self.slots.get(i) {
                Some(None) => break,
                Some(Some(_)) => i = (i + 1) & self.mask,
                None => return Err(TableError::Full),
            }
        }
        let slot = self.slots.get_mut(i).ok_or(TableError::Full)?;
        if slot.is_some() {
            return Err(TableError::Full);
        }
        self.len += 1;
        Ok(slot.insert(entry))
    }

    /// The order with this id.
    pub fn get(&self, id: &ClientOrderId) -> Option<&OrderEntry> {
        let i = self.find(id)?;
        self.slots.get(i)?.as_ref()
    }

    /// The order with this id, mutable.
    pub fn get_mut(&mut self, id: &ClientOrderId) -> Option<&mut OrderEntry> {
        let i = self.find(id)?;
        self.slots.get_mut(i)?.as_mut()
    }

    /// Applies `event` to the order `id`; counts a refusal.
    pub fn apply(
        &mut self,
        id: &ClientOrderId,
        event: OrderEvent,
        now: Nanos,
    ) -> Result<OrderStatus, TableError> {
        let entry = self.get_mut(id).ok_or(TableError::NotFound)?;
        match entry.apply(event) {
            Ok(s) => {
                if event == OrderEvent::CancelSent {
                    entry.cancel_pending = true;
                    entry.cancel_sent_at = now;
                }
                Ok(s)
            }
            Err(e) => {
                self.illegal_transitions += 1;
                Err(e.into())
            }
        }
    }

    /// Applies a venue report (decoded `executionReport` or order result):
    /// drops a fill whose trade id this order already applied, else moves
    /// the state by the report's status and records `cum_qty`, the venue
    /// order id and the trade id.
    pub fn on_report(&mut self, report: &ExecReport) -> Result<ReportOutcome, TableError> {
        let entry = self
            .get_mut(&report.client_order_id)
            .ok_or(TableError::NotFound)?;
        let fill = report.trade_id != 0 && report.is_fill();
        if fill && entry.seen_trade(report.trade_id) {
            self.duplicate_trades += 1;
            return Ok(ReportOutcome::DuplicateTrade);
        }
        match entry.apply(OrderEvent::from_status(report.status)) {
            Ok(s) => {
                if fill {
                    entry.remember_trade(report.trade_id);
                }
                if report.cum_qty > entry.cum_qty {
                    entry.cum_qty = report.cum_qty;
                }
                if report.venue_order_id != 0 {
                    entry.venue_order_id = report.venue_order_id;
                }
                Ok(ReportOutcome::Applied(s))
            }
            Err(e) => {
                self.illegal_transitions += 1;
                Err(e.into())
            }
        }
    }

    /// Removes and returns the order `id` (backward-shift deletion).
    pub fn remove(&mut self, id: &ClientOrderId) -> Option<OrderEntry> {
        let mut hole = self.find(id)?;
        let removed = self.slots.get_mut(hole)?.take();
        self.len -= 1;
        // Shift later members of the probe run back into the hole when the
        // hole lies on their probe path (between their home and their slot).
        let mut j = hole;
        for _ in 0..self.slots.len() {
            j = (j + 1) & self.mask;
            let Some(Some(e)) = self.slots.get(j) else {
                break;
            };
            let home = self.home(&e.client_order_id);
            let dist_j = j.wrapping_sub(home) & self.mask;
            let dist_hole = hole.wrapping_sub(home) & self.mask;
            if dist_hole < dist_j {
                let moved = self.slots.get_mut(j).and_then(Option::take);
                if let Some(slot) = self.slots.get_mut(hole) {
                    *slot = moved;
                }
                hole = j;
            }
        }
        removed
    }

    /// Removes every order in a terminal state; returns how many.
    pub fn remove_terminal(&mut self) -> usize {
        let mut removed = 0;
        let mut i = 0;
        while i < self.slots.len() {
            let id = match self.slots.get(i) {
                Some(Some(e)) if e.status.is_terminal() => e.client_order_id,
                _ => {
                    i += 1;
                    continue;
                }
            };
            self.remove(&id);
            removed += 1;
            // Slot i may now hold a shifted entry: look at it again.
        }
        removed
    }

    /// Every order held.
    pub fn iter(&self) -> impl Iterator<Item = &OrderEntry> {
        self.slots.iter().filter_map(Option::as_ref)
    }

    /// Orders not in a terminal state.
    pub fn open_orders(&self) -> impl Iterator<Item = &OrderEntry> {
        self.iter().filter(|e| !e.status.is_terminal())
    }

    /// Orders whose ack is overdue at `now`: `PendingNew` sent more than
    /// `timeout_ns` ago, or an open (not yet `Unknown`) order with a cancel
    /// in flight for more than `timeout_ns` (both go to `Unknown` with
    /// [`OrderEvent::AckTimeout`], then a status query). Allocation-free; a
    /// full scan of the slot array.
    pub fn timed_out(&self, now: Nanos, timeout_ns: u64) -> impl Iterator<Item = &OrderEntry> {
        self.iter().filter(move |e| {
            let overdue = |t: Nanos| now.0 > t.0.saturating_add(timeout_ns);
            (e.status == OrderStatus::PendingNew && overdue(e.sent_at))
                || (e.cancel_pending
                    && !e.status.is_terminal()
                    && e.status != OrderStatus::Unknown
                    && overdue(e.cancel_sent_at))
        })
    }
}

#[cfg(test)]
mod tests;
