//! [`AlgoRunner`]: the state machine that works one parent order.
//!
//! Owns the parent's progress (filled quantity, the one open child, the
//! schedule position, the RNG) and nothing else. Never reads a clock, never
//! allocates, never uses `f64`, never panics: malformed reports (unknown
//! child, non-positive quantity or price, a fill larger than the child) are
//! ignored or clamped and counted. See the parent module for the contract.

use crate::clock::Nanos;
use crate::event::{OrderType, Side, TimeInForce};
use crate::instrument::Filters;
use crate::num::{Price, Qty, SCALE};

use super::rng::SplitMix64;
use super::{
    AbortReason, AlgoError, AlgoKind, AlgoState, ChildBuf, ChildEnd, ChildId, ChildIntent,
    ChildOrder, MAX_CONSECUTIVE_REJECTS, MAX_PROFILE_BUCKETS, ParentOrder, Touch,
};

/// Basis points in one.
const BPS: i128 = 10_000;

/// The one child that may be outstanding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OpenChild {
    id: ChildId,
    qty: Qty,
    filled: Qty,
}

/// Works one [`ParentOrder`] through child orders. Plain data, fixed size,
/// no heap: create with [`AlgoRunner::start`], then drive with
/// [`on_tick`](AlgoRunner::on_tick), [`on_fill`](AlgoRunner::on_fill) and
/// [`on_child_closed`](AlgoRunner::on_child_closed).
#[derive(Clone, Debug)]
pub struct AlgoRunner {
    parent: ParentOrder,
    filters: Filters,
    arrival_mid: Price,
    start: Nanos,
    rng: SplitMix64,
    state: AlgoState,
    filled: Qty,
    /// Σ price_raw × qty_raw of fills.
    fill_value: i128,
    open: Option<OpenChild>,
    /// A cancel for `open` is owed to the engine (the buffer was full).
    cancel_owed: bool,
    /// The last child id handed out (ids start at 1).
    last_id: u32,
    children_sent: u32,
    consecutive_rejects: u32,
    /// Iceberg/limit: no new child before this time.
    next_at: Nanos,
    /// TWAP/VWAP: the next schedule slot not yet acted on.
    next_slot: u64,
    /// TWAP/VWAP: slots in the schedule (slices or profile buckets).
    slots: u64,
    /// TWAP/VWAP: the schedule length in ns.
    duration_ns: u64,
    /// VWAP: cumulative weights, `prefix[b] = W(0..=b)`; TWAP: unused.
    prefix: [u64; MAX_PROFILE_BUCKETS],
    ignored_reports: u64,
    clamped_fills: u64,
    bad_ticks: u64,
}

impl AlgoRunner {
    /// Validates `parent` against `filters` and starts working it at `now`.
    /// `arrival_mid` is the price impact reference; `seed` fixes the
    /// iceberg's random sizes and delays.
    ///
    /// Errors name the config key at fault, or say the parent is too small
    /// to form one valid child.
    pub fn start(
        parent: ParentOrder,
        filters: &Filters,
        arrival_mid: Price,
        now: Nanos,
        seed: u64,
    ) -> Result<AlgoRunner, AlgoError> {
        parent.validate()?;
        if let Some(limit) = parent.limit_price
            && filters.check_price(limit).is_err()
        {
            return Err(AlgoError::Invalid {
                key: "limit_price",
                reason: "breaks the instrument's price filter",
            });
        }
        if !arrival_mid.is_positive() {
            return Err(AlgoError::BadArrivalMid);
        }
        let mut runner = AlgoRunner {
            parent,
            filters: *filters,
            arrival_mid,
            start: now,
            rng: SplitMix64::new(seed),
            state: AlgoState::Working,
            filled: Qty::ZERO,
            fill_value: 0,
            open: None,
            cancel_owed: false,
            last_id: 0,
            children_sent: 0,
            consecutive_rejects: 0,
            next_at: now,
            next_slot: 0,
            slots: 0,
            duration_ns: 0,
            prefix: [0; MAX_PROFILE_BUCKETS],
            ignored_reports: 0,
            clamped_fills: 0,
            bad_ticks: 0,
        };
        let reference = parent.limit_price.unwrap_or(arrival_mid);
        match parent.kind {
            AlgoKind::Market | AlgoKind::Limit => {}
            AlgoKind::Iceberg {
                display_qty,
                variance_bps,
                ..
            } => {
                let smallest = scale_bps(display_qty, 10_000 - i64::from(variance_bps));
                if runner.child_qty(smallest, reference).is_none() {
                    return Err(AlgoError::Invalid {
                        key: "kind.iceberg.display_qty",
                        reason: "its smallest slice is below the instrument's minimum",
                    });
                }
            }
            AlgoKind::Twap {
                duration_ns,
                slices,
            } => {
                runner.slots = u64::from(slices);
                runner.duration_ns = duration_ns;
            }
            AlgoKind::Vwap {
                duration_ns,
                profile,
            } => {
                let weights = profile.weights();
                let mut sum = 0u64;
                for (slot, &w) in runner.prefix.iter_mut().zip(weights) {
                    sum += u64::from(w); // ≤ 48 × u32::MAX: no overflow
                    *slot = sum;
                }
                runner.slots = weights.len() as u64;
                runner.duration_ns = duration_ns;
            }
        }
        if runner.child_qty(parent.qty, reference).is_none() {
            return Err(AlgoError::BelowMinimum);
        }
        Ok(runner)
    }

    /// The parent being worked.
    pub const fn parent(&self) -> &ParentOrder {
        &self.parent
    }

    /// Working, Done or Aborted.
    pub const fn state(&self) -> AlgoState {
        self.state
    }

    /// Quantity filled across all children (never above the parent qty).
    pub const fn filled(&self) -> Qty {
        self.filled
    }

    /// `parent.qty − filled`.
    pub fn unfilled(&self) -> Qty {
        Qty::from_raw(self.parent.qty.raw().saturating_sub(self.filled.raw()))
    }

    /// When `Done`: the quantity that will never be worked (a remainder
    /// below `min_qty`/`min_notional` or off the step grid, or what a market
    /// child left unfilled). Zero while working and when aborted.
    pub fn residual(&self) -> Qty {
        match self.state {
            AlgoState::Done => self.unfilled(),
            _ => Qty::ZERO,
        }
    }

    /// The open child and how much of it is unfilled, if any.
    pub fn open_child(&self) -> Option<(ChildId, Qty)> {
        self.open.map(|c| {
            (
                c.id,
                Qty::from_raw(c.qty.raw().saturating_sub(c.filled.raw())),
            )
        })
    }

    /// Volume-weighted average fill price (rounded down), if anything filled.
    pub fn avg_price(&self) -> Option<Price> {
        let q = i128::from(self.filled.raw());
        if q <= 0 {
            return None;
        }
        i64::try_from(self.fill_value / q).ok().map(Price::from_raw)
    }

    /// The price impact reference.
    pub const fn arrival_mid(&self) -> Price {
        self.arrival_mid
    }

    /// Children placed so far.
    pub const fn children_sent(&self) -> u32 {
        self.children_sent
    }

    /// Fills/closes ignored: unknown child, non-positive qty or price.
    pub const fn ignored_reports(&self) -> u64 {
        self.ignored_reports
    }

    /// Fills larger than the child's unfilled qty (clamped to it).
    pub const fn clamped_fills(&self) -> u64 {
        self.clamped_fills
    }

    /// Ticks ignored because the touch was not positive or was crossed.
    pub const fn bad_ticks(&self) -> u64 {
        self.bad_ticks
    }

    /// The adverse mid move from the arrival mid in basis points
    /// (positive = against the parent), rounded towards zero.
    pub fn impact_bps(&self, mid: Price) -> i64 {
        let adverse = self.adverse(mid);
        let bps = adverse * BPS / i128::from(self.arrival_mid.raw().max(1));
        i64::try_from(bps).unwrap_or(if bps > 0 { i64::MAX } else { i64::MIN })
    }

    /// One step: check price impact, then maybe place the next child or
    /// finish. Call on market data and on a timer; `now` may repeat.
    pub fn on_tick(&mut self, now: Nanos, touch: Touch, out: &mut ChildBuf) {
        self.pay_cancel(out);
        if self.state.is_terminal() {
            return;
        }
        if !touch.is_valid() {
            self.bad_ticks = self.bad_ticks.saturating_add(1);
            return;
        }
        if self.adverse(touch.mid()) * BPS
            > i128::from(self.parent.max_impact_bps) * i128::from(self.arrival_mid.raw())
        {
            self.abort(AbortReason::PriceImpact, out);
            return;
        }
        if self.open.is_some() {
            return;
        }
        if !self.unfilled().is_positive() {
            self.state = AlgoState::Done;
            return;
        }
        match self.parent.kind {
            AlgoKind::Market => self.step_market(touch, out),
            AlgoKind::Limit => self.step_limit(now, out),
            AlgoKind::Iceberg {
                display_qty,
                variance_bps,
                ..
            } => self.step_iceberg(now, display_qty, variance_bps, out),
            AlgoKind::Twap { .. } | AlgoKind::Vwap { .. } => self.step_schedule(now, touch, out),
        }
    }

    /// A fill of `qty` at `price` for `child` at `now`. Fills for other
    /// children or with non-positive values are ignored; a fill beyond the
    /// child's unfilled qty is clamped. Counts after Done/Aborted too.
    pub fn on_fill(&mut self, child: ChildId, qty: Qty, price: Price, now: Nanos) {
        let Some(mut open) = self.open.filter(|c| c.id == child) else {
            self.ignored_reports = self.ignored_reports.saturating_add(1);
            return;
        };
        if !qty.is_positive() || !price.is_positive() {
            self.ignored_reports = self.ignored_reports.saturating_add(1);
            return;
        }
        let left = open.qty.raw().saturating_sub(open.filled.raw());
        let take = if qty.raw() > left {
            self.clamped_fills = self.clamped_fills.saturating_add(1);
            left
        } else {
            qty.raw()
        };
        // filled + left ≤ parent qty (one child at a time, sized from the
        // unfilled qty), so these additions stay within i64.
        open.filled = Qty::from_raw(open.filled.raw().saturating_add(take));
        self.filled = Qty::from_raw(self.filled.raw().saturating_add(take));
        self.fill_value = self
            .fill_value
            .saturating_add(i128::from(take) * i128::from(price.raw()));
        if open.filled >= open.qty {
            self.open = None;
            self.cancel_owed = false;
            self.consecutive_rejects = 0;
            self.after_child(now);
        } else {
            self.open = Some(open);
        }
        if self.state == AlgoState::Working && !self.unfilled().is_positive() {
            self.state = AlgoState::Done;
        }
    }

    /// `child` ended with part of it unfilled (expired, cancelled or
    /// rejected) at `now`; that part goes back to later children.
    pub fn on_child_closed(&mut self, child: ChildId, end: ChildEnd, now: Nanos) {
        if self.open.is_none_or(|c| c.id != child) {
            self.ignored_reports = self.ignored_reports.saturating_add(1);
            return;
        }
        self.open = None;
        self.cancel_owed = false;
        if self.state.is_terminal() {
            return;
        }
        if end == ChildEnd::Rejected {
            self.consecutive_rejects = self.consecutive_rejects.saturating_add(1);
            if self.consecutive_rejects >= MAX_CONSECUTIVE_REJECTS
                || self.parent.kind == AlgoKind::Market
            {
                self.state = AlgoState::Aborted(AbortReason::Rejected);
                return;
            }
        } else {
            self.consecutive_rejects = 0;
        }
        if self.parent.kind == AlgoKind::Market {
            // One child only: what it left unfilled is the residual.
            self.state = AlgoState::Done;
            return;
        }
        self.after_child(now);
    }

    /// Gives up: `Aborted(Cancelled)` and a cancel for the open child.
    /// Nothing happens once Done or Aborted.
    pub fn cancel(&mut self, out: &mut ChildBuf) {
        if self.state == AlgoState::Working {
            self.abort(AbortReason::Cancelled, out);
        }
    }

    /// Adverse move of `mid` from the arrival mid, in raw price units.
    fn adverse(&self, mid: Price) -> i128 {
        let d = i128::from(mid.raw()) - i128::from(self.arrival_mid.raw());
        match self.parent.side {
            Side::Buy => d,
            Side::Sell => -d,
        }
    }

    fn abort(&mut self, reason: AbortReason, out: &mut ChildBuf) {
        self.state = AlgoState::Aborted(reason);
        self.cancel_owed = self.open.is_some();
        self.pay_cancel(out);
    }

    /// Emits the cancel owed for the open child, if the buffer has room.
    fn pay_cancel(&mut self, out: &mut ChildBuf) {
        if !self.cancel_owed {
            return;
        }
        let Some(open) = self.open else {
            self.cancel_owed = false;
            return;
        };
        let cancel = ChildIntent::Cancel {
            instrument: self.parent.instrument,
            id: open.id,
        };
        if out.push(cancel).is_ok() {
            self.cancel_owed = false;
        }
    }

    /// After a child is gone: when the next one may go.
    fn after_child(&mut self, now: Nanos) {
        if let AlgoKind::Iceberg {
            min_delay_ns,
            max_delay_ns,
            ..
        } = self.parent.kind
        {
            let delay = self.rng.range_u64(min_delay_ns, max_delay_ns);
            self.next_at = now.saturating_add(delay);
        } else {
            self.next_at = now;
        }
    }

    /// `want` made into a valid child qty at `price`: capped at `max_qty`
    /// and `max_notional`, rounded down onto the step grid, and `None` if
    /// that is below `min_qty`/`min_notional` or not positive.
    fn child_qty(&self, want: Qty, price: Price) -> Option<Qty> {
        let f = &self.filters;
        let mut q = want;
        if f.max_qty.is_positive() && q > f.max_qty {
            q = f.max_qty;
        }
        if let Some(max) = f.max_notional
            && price.is_positive()
        {
            let cap = max.raw().saturating_mul(i128::from(SCALE)) / i128::from(price.raw());
            if i128::from(q.raw()) > cap {
                q = Qty::from_raw(i64::try_from(cap).unwrap_or(0));
            }
        }
        let q = f.floor_qty(q);
        if !q.is_positive() || q < f.min_qty {
            return None;
        }
        match price.checked_notional(q) {
            Some(n) if n >= f.min_notional => Some(q),
            _ => None,
        }
    }

    /// Places a child (if the buffer has room) and records it as open.
    fn place(
        &mut self,
        order_type: OrderType,
        tif: TimeInForce,
        price: Price,
        qty: Qty,
        out: &mut ChildBuf,
    ) -> bool {
        let id = ChildId(self.last_id.wrapping_add(1));
        let child = ChildOrder {
            id,
            instrument: self.parent.instrument,
            side: self.parent.side,
            order_type,
            tif,
            price,
            qty,
        };
        if out.push(ChildIntent::Place(child)).is_err() {
            return false;
        }
        self.last_id = id.0;
        self.children_sent = self.children_sent.saturating_add(1);
        self.open = Some(OpenChild {
            id,
            qty,
            filled: Qty::ZERO,
        });
        true
    }

    /// The far touch (buy at the ask, sell at the bid).
    fn far_touch(&self, touch: Touch) -> Price {
        match self.parent.side {
            Side::Buy => touch.ask,
            Side::Sell => touch.bid,
        }
    }

    /// The far touch, or `None` when it is beyond the parent's limit.
    fn capped_far_touch(&self, touch: Touch) -> Option<Price> {
        let far = self.far_touch(touch);
        match (self.parent.limit_price, self.parent.side) {
            (Some(limit), Side::Buy) if far > limit => None,
            (Some(limit), Side::Sell) if far < limit => None,
            _ => Some(far),
        }
    }

    fn finish_with_residual(&mut self) {
        self.state = AlgoState::Done;
    }

    fn step_market(&mut self, touch: Touch, out: &mut ChildBuf) {
        if self.children_sent > 0 {
            // Only reachable if the one child vanished without a close.
            self.finish_with_residual();
            return;
        }
        let (order_type, price) = match self.parent.limit_price {
            Some(limit) => (OrderType::Limit, limit),
            None => (OrderType::Market, self.far_touch(touch)),
        };
        match self.child_qty(self.unfilled(), price) {
            Some(q) => {
                self.place(order_type, TimeInForce::Ioc, price, q, out);
            }
            None => self.finish_with_residual(),
        }
    }

    fn step_limit(&mut self, now: Nanos, out: &mut ChildBuf) {
        if now < self.next_at {
            return;
        }
        let Some(limit) = self.parent.limit_price else {
            return; // start() requires it
        };
        match self.child_qty(self.unfilled(), limit) {
            Some(q) => {
                self.place(OrderType::Limit, TimeInForce::Gtc, limit, q, out);
            }
            None => self.finish_with_residual(),
        }
    }

    fn step_iceberg(&mut self, now: Nanos, display: Qty, variance_bps: u32, out: &mut ChildBuf) {
        if now < self.next_at {
            return;
        }
        let Some(limit) = self.parent.limit_price else {
            return; // start() requires it
        };
        let v = i64::from(variance_bps);
        let slice = scale_bps(display, 10_000 + self.rng.range_i64(-v, v));
        let want = slice.min(self.unfilled());
        match self.child_qty(want, limit) {
            Some(q) => {
                self.place(OrderType::Limit, TimeInForce::Gtc, limit, q, out);
            }
            None => {
                // want < slice only when it is the whole remainder; a full
                // slice is valid by start()'s check.
                if self.child_qty(self.unfilled(), limit).is_none() {
                    self.finish_with_residual();
                }
            }
        }
    }

    /// Start time of schedule slot `k` (may lie past the end: retries).
    fn slot_time(&self, k: u64) -> Nanos {
        let off = u128::from(k) * u128::from(self.duration_ns) / u128::from(self.slots.max(1));
        self.start
            .saturating_add(u64::try_from(off).unwrap_or(u64::MAX))
    }

    /// The latest slot whose start time is ≤ `now` (`None` before start).
    fn due_slot(&self, now: Nanos) -> Option<u64> {
        if now < self.start {
            return None;
        }
        // t_k = ⌊k·D/N⌋ ≤ e  ⇔  k·D < (e+1)·N  ⇔  k ≤ ⌊((e+1)·N − 1)/D⌋.
        let e = u128::from(now.as_u64() - self.start.as_u64());
        let n = u128::from(self.slots.max(1));
        let d = u128::from(self.duration_ns.max(1));
        let k = ((e + 1) * n - 1) / d;
        Some(u64::try_from(k).unwrap_or(u64::MAX))
    }

    /// Cumulative target after slot `k`: `qty × W(0..=k) / W`, raw floor.
    fn target(&self, k: u64) -> Qty {
        let p = i128::from(self.parent.qty.raw());
        if k.saturating_add(1) >= self.slots {
            return self.parent.qty;
        }
        let (num, den) = match self.parent.kind {
            AlgoKind::Vwap { .. } => {
                let last = usize::try_from(self.slots - 1).unwrap_or(0);
                let at = usize::try_from(k).unwrap_or(last);
                (
                    self.prefix.get(at).copied().unwrap_or(0),
                    self.prefix.get(last).copied().unwrap_or(1).max(1),
                )
            }
            _ => (k + 1, self.slots),
        };
        // num ≤ den, so the result ≤ p fits i64.
        let t = p * i128::from(num) / i128::from(den);
        Qty::from_raw(i64::try_from(t).unwrap_or(0))
    }

    fn step_schedule(&mut self, now: Nanos, touch: Touch, out: &mut ChildBuf) {
        if now < self.slot_time(self.next_slot) {
            return;
        }
        let Some(k) = self.due_slot(now) else {
            return;
        };
        let k = k.max(self.next_slot);
        let remaining = self.unfilled();
        let Some(price) = self.capped_far_touch(touch) else {
            self.next_slot = k.saturating_add(1); // caught up by a later slot
            return;
        };
        let want = Qty::from_raw(self.target(k).raw().saturating_sub(self.filled.raw()));
        let last = k.saturating_add(1) >= self.slots;
        if want.is_positive()
            && let Some(mut q) = self.child_qty(want, price)
        {
            // Never strand a remainder that no later child could carry:
            // absorb it now if the whole remainder is a valid child.
            let left = Qty::from_raw(remaining.raw().saturating_sub(q.raw()));
            if left.is_positive()
                && self.child_qty(left, price).is_none()
                && let Some(all) = self.child_qty(remaining, price)
            {
                q = all;
            }
            if self.place(OrderType::Limit, TimeInForce::Ioc, price, q, out) {
                self.next_slot = k.saturating_add(1);
            }
            return;
        }
        self.next_slot = k.saturating_add(1);
        if last && self.child_qty(remaining, price).is_none() {
            self.finish_with_residual();
        }
    }
}

/// `q × bps / 10 000`, raw floor, clamped to `0 ..= i64::MAX`.
fn scale_bps(q: Qty, bps: i64) -> Qty {
    let v = i128::from(q.raw()) * i128::from(bps) / BPS;
    Qty::from_raw(i64::try_from(v.max(0)).unwrap_or(i64::MAX))
}
