//! `momentum`: a simple taker with a stop loss and a take profit on every
//! position.
//!
//! Owns [`MomentumParams`] and [`Momentum`]. Per selected instrument, flat and
//! out of its cool-down, with a healthy book and no order in flight, it
//! enters when either signal fires:
//!
//! * `consecutive = N`: N trades in a row each at a strictly higher (long) or
//!   lower (short) price than the one before;
//! * `lookback_ms` + `move_bps`: the mid moved at least `move_bps` from the
//!   oldest of eight mid samples taken across the last `lookback_ms` (a
//!   sliding window at 1/8 resolution; the oldest sample must be at least
//!   half a lookback old).
//!
//! Entries and exits are marketable IOC limit orders `slippage_bps` beyond
//! the opposite best. Every entry declares its stop (`stop_loss_bps` from
//! the entry reference) to risk. While a position is open, every market
//! event compares the mark (mid, else last trade) with the position's
//! average price: at `−stop_loss_bps` or `+take_profit_bps` it exits the
//! whole position, then waits `cooldown_ms` before the next entry. No
//! allocation after [`Momentum::new`].

use serde::{Deserialize, Serialize};

use super::{ConfigError, Intent, IntentBuf, MarketView, Strategy, pricing, select_instruments};
use crate::clock::Nanos;
use crate::event::{ExecReport, MarketData, MarketEvent, OrderType, Side, TimeInForce};
use crate::instrument::{InstrumentId, InstrumentTable};
use crate::num::{Price, Qty};

/// `momentum` parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MomentumParams {
    /// Entry size.
    pub qty: Qty,
    /// Trades in a row in one direction that trigger an entry; 0 = off.
    #[serde(default)]
    pub consecutive: u32,
    /// Lookback of the mid-move signal in milliseconds; 0 = off.
    #[serde(default)]
    pub lookback_ms: u64,
    /// Mid move over the lookback that triggers an entry, basis points.
    #[serde(default)]
    pub move_bps: u32,
    /// Stop loss distance from the average price, basis points. > 0.
    pub stop_loss_bps: u32,
    /// Take profit distance from the average price, basis points. > 0.
    pub take_profit_bps: u32,
    /// How far beyond the opposite best the IOC limit is placed. Default 10.
    #[serde(default = "default_slippage_bps")]
    pub slippage_bps: u32,
    /// Wait after an exit before the next entry. Default 1000 ms.
    #[serde(default = "default_cooldown_ms")]
    pub cooldown_ms: u64,
    /// Enter short on down signals. Default true.
    #[serde(default = "default_true")]
    pub allow_short: bool,
    /// Symbols to trade; empty = all.
    #[serde(default)]
    pub symbols: Vec<String>,
}

fn default_slippage_bps() -> u32 {
    10
}
fn default_cooldown_ms() -> u64 {
    1_000
}
fn default_true() -> bool {
    true
}

const SAMPLES: usize = 8;

/// Per-instrument signal state.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    last_trade: Option<Price>,
    /// > 0: rising trades in a row; < 0: falling.
    run: i64,
    samples: [(Nanos, Price); SAMPLES],
    head: usize,
    len: usize,
    last_exit: Option<Nanos>,
}

impl Slot {
    fn sample(&mut self, now: Nanos, mid: Price, every_ns: u64) {
        let last = self
            .len
            .checked_sub(1)
            .and_then(|_| self.samples.get((self.head + SAMPLES - 1) % SAMPLES))
            .map(|s| s.0);
        if last.is_some_and(|t| now.saturating_elapsed_since(t) < every_ns) {
            return;
        }
        if let Some(s) = self.samples.get_mut(self.head) {
            *s = (now, mid);
        }
        self.head = (self.head + 1) % SAMPLES;
        self.len = (self.len + 1).min(SAMPLES);
    }

    fn oldest(&self) -> Option<(Nanos, Price)> {
        if self.len == 0 {
            return None;
        }
        let i = (self.head + SAMPLES - self.len) % SAMPLES;
        self.samples.get(i).copied()
    }
}

/// The `momentum` strategy (see the module docs).
#[derive(Debug)]
pub struct Momentum {
    p: MomentumParams,
    lookback_ns: u64,
    cooldown_ns: u64,
    selected: Box<[bool]>,
    slots: Box<[Slot]>,
}

impl Momentum {
    /// Validates `p` against `instruments`.
    pub fn new(p: &MomentumParams, instruments: &InstrumentTable) -> Result<Momentum, ConfigError> {
        let bad = |key, reason| ConfigError::Invalid {
            strategy: "momentum",
            key,
            reason,
        };
        if !p.qty.is_positive() {
            return Err(bad("qty", "must be positive"));
        }
        if (p.lookback_ms == 0) != (p.move_bps == 0) {
            return Err(bad("move_bps", "lookback_ms and move_bps go together"));
        }
        if p.consecutive == 0 && p.lookback_ms == 0 {
            return Err(bad(
                "consecutive",
                "enable a signal: consecutive, or lookback_ms with move_bps",
            ));
        }
        if p.stop_loss_bps == 0 || p.stop_loss_bps >= 10_000 {
            return Err(bad("stop_loss_bps", "must be in 1..10000"));
        }
        if p.take_profit_bps == 0 {
            return Err(bad("take_profit_bps", "must be positive"));
        }
        if p.slippage_bps > 1_000 {
            return Err(bad("slippage_bps", "must be at most 1000"));
        }
        Ok(Momentum {
            p: p.clone(),
            lookback_ns: p.lookback_ms.saturating_mul(1_000_000),
            cooldown_ns: p.cooldown_ms.saturating_mul(1_000_000),
            selected: select_instruments("momentum", &p.symbols, instruments)?,
            slots: vec![Slot::default(); instruments.len()].into_boxed_slice(),
        })
    }

    /// The entry signal, if any.
    fn signal(&self, slot: &Slot, mid: Price, now: Nanos) -> Option<Side> {
        let n = i64::from(self.p.consecutive);
        if n > 0 && slot.run >= n {
            return Some(Side::Buy);
        }
        if n > 0 && slot.run <= -n {
            return Some(Side::Sell);
        }
        if self.lookback_ns > 0
            && let Some((t, old)) = slot.oldest()
            && now.saturating_elapsed_since(t) >= self.lookback_ns / 2
            && old.is_positive()
        {
            let d = i128::from(mid.raw()) - i128::from(old.raw());
            let thr = i128::from(old.raw()) * i128::from(self.p.move_bps);
            if d * 10_000 >= thr {
                return Some(Side::Buy);
            }
            if -d * 10_000 >= thr {
                return Some(Side::Sell);
            }
        }
        None
    }

    fn ioc(
        &self,
        id: InstrumentId,
        side: Side,
        price: Price,
        qty: Qty,
        stop: Option<Price>,
        out: &mut IntentBuf,
    ) {
        // A full buffer is counted by the buffer and reported by the engine.
        let _ = out.push(Intent::Place {
            instrument: id,
            side,
            order_type: OrderType::Limit,
            tif: TimeInForce::Ioc,
            price,
            qty,
            stop,
            tag: None,
        });
    }
}

/// `price × (1 ± bps)` (`up` chooses the sign), truncated.
fn shifted(price: Price, bps: u32, up: bool) -> Option<Price> {
    let d = pricing::bps_of(price, bps)?;
    if up {
        price.checked_add(d)
    } else {
        price.checked_sub(d)
    }
}

impl Strategy for Momentum {
    fn name(&self) -> &'static str {
        "momentum"
    }

    fn on_market(&mut self, ev: &MarketEvent, view: &MarketView<'_>, out: &mut IntentBuf) {
        let id = ev.instrument;
        if !self.selected.get(id.index()).copied().unwrap_or(false) {
            return;
        }
        let Some(mut slot) = self.slots.get(id.index()).copied() else {
            return;
        };
        let now = view.now();
        if let MarketData::Trade(t) = ev.data() {
            if let Some(last) = slot.last_trade {
                if t.price > last {
                    slot.run = slot.run.max(0).saturating_add(1);
                } else if t.price < last {
                    slot.run = slot.run.min(0).saturating_sub(1);
                }
            }
            slot.last_trade = Some(t.price);
        }
        let book = view.book(id).copied();
        let mid = view.mid(id);
        if let (Some(m), true) = (mid, self.lookback_ns > 0) {
            slot.sample(now, m, self.lookback_ns / SAMPLES as u64);
        }
        self.decide(id, &mut slot, book, mid, view, out);
        if let Some(s) = self.slots.get_mut(id.index()) {
            *s = slot;
        }
    }

    fn on_exec(&mut self, _rep: &ExecReport, _view: &MarketView<'_>, _out: &mut IntentBuf) {}
}

impl Momentum {
    fn decide(
        &self,
        id: InstrumentId,
        slot: &mut Slot,
        book: Option<super::BookState>,
        mid: Option<Price>,
        view: &MarketView<'_>,
        out: &mut IntentBuf,
    ) {
        let Some(filters) = view.filters(id) else {
            return;
        };
        if view.open_orders(id).next().is_some() {
            return; // an entry or exit is in flight
        }
        let now = view.now();
        let pos = view.position(id);
        let (bid, ask) = book.map_or((Price::ZERO, Price::ZERO), |b| (b.bid_price, b.ask_price));
        if !pos.is_zero() {
            let Some(mark) = mid.or(slot.last_trade) else {
                return;
            };
            let avg = view
                .position_detail(id)
                .map_or(Price::ZERO, |p| p.avg_price());
            let long = pos.is_positive();
            let (stop, target) = (
                shifted(avg, self.p.stop_loss_bps, !long),
                shifted(avg, self.p.take_profit_bps, long),
            );
            let (Some(stop), Some(target)) = (stop, target) else {
                return;
            };
            let exit = if long {
                mark <= stop || mark >= target
            } else {
                mark >= stop || mark <= target
            };
            if !exit {
                return;
            }
            let side = if long { Side::Sell } else { Side::Buy };
            let reference = match side {
                Side::Sell if bid.is_positive() => bid,
                Side::Buy if ask.is_positive() => ask,
                _ => mark,
            };
            let abs = Qty::from_raw(pos.raw().saturating_abs());
            if let Some(price) = pricing::crossing(filters, side, reference, self.p.slippage_bps) {
                self.ioc(id, side, price, abs, None, out);
                slot.last_exit = Some(now);
                slot.run = 0;
            }
            return;
        }
        if slot
            .last_exit
            .is_some_and(|t| now.saturating_elapsed_since(t) < self.cooldown_ns)
        {
            return;
        }
        let (Some(mid), true) = (mid, view.healthy(id)) else {
            return;
        };
        let Some(side) = self.signal(slot, mid, now) else {
            return;
        };
        if side == Side::Sell && !self.p.allow_short {
            return;
        }
        let reference = match side {
            Side::Buy => ask,
            Side::Sell => bid,
        };
        let Some(qty) = pricing::floor_qty(filters, self.p.qty) else {
            return;
        };
        let (Some(price), Some(stop)) = (
            pricing::crossing(filters, side, reference, self.p.slippage_bps),
            shifted(reference, self.p.stop_loss_bps, side == Side::Sell),
        ) else {
            return;
        };
        self.ioc(id, side, price, qty, Some(stop), out);
        slot.run = 0;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::testing::*;
    use super::*;

    fn momentum(extra: &str) -> Momentum {
        let p: MomentumParams = toml::from_str(&format!(
            "qty = \"0.1\"\nstop_loss_bps = 50\ntake_profit_bps = 100\ncooldown_ms = 1000\n{extra}"
        ))
        .unwrap();
        Momentum::new(&p, &table()).unwrap()
    }

    fn only(out: &IntentBuf) -> (Side, Price, Qty, Option<Price>, TimeInForce) {
        assert_eq!(out.len(), 1, "{out:?}");
        match out.get(0).unwrap() {
            Intent::Place {
                side,
                price,
                qty,
                stop,
                tif,
                ..
            } => (side, price, qty, stop, tif),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn enters_after_n_consecutive_trades_with_a_stop() {
        let mut w = World::new();
        let mut s = momentum("consecutive = 3\n");
        let mut out = IntentBuf::new();
        let ev = w.tob(0, "99.95", "100.05");
        s.on_market(&ev, &w.view(), &mut out);
        for (i, px) in ["100", "100.01", "100.02", "100.01", "100.02", "100.03"]
            .iter()
            .enumerate()
        {
            let ev = w.trade(0, i as u64 + 1, px);
            s.on_market(&ev, &w.view(), &mut out);
            assert!(out.is_empty(), "no signal yet at trade {i}");
        }
        let ev = w.trade(0, 7, "100.04");
        s.on_market(&ev, &w.view(), &mut out);
        let (side, price, qty, stop, tif) = only(&out);
        assert_eq!((side, tif), (Side::Buy, TimeInForce::Ioc));
        // ask 100.05 + 10 bps = 100.150.. → 100.16; stop 50 bps under the ask.
        assert_eq!(price, p("100.16"));
        assert_eq!(qty, q("0.1"));
        assert_eq!(stop, Some(p("99.54975")));
        // Falling run on ETH with shorts disabled: nothing.
        let mut s = momentum("consecutive = 2\nallow_short = false\n");
        out.clear();
        let ev = w.tob(1, "99.95", "100.05");
        s.on_market(&ev, &w.view(), &mut out);
        for (i, px) in ["100", "99.9", "99.8", "99.7"].iter().enumerate() {
            let ev = w.trade(1, i as u64 + 1, px);
            s.on_market(&ev, &w.view(), &mut out);
        }
        assert!(out.is_empty());
    }

    #[test]
    fn stop_loss_and_take_profit_exit_the_whole_position() {
        let mut w = World::new();
        let mut s = momentum("consecutive = 3\n");
        let mut out = IntentBuf::new();
        w.fill(0, Side::Buy, "0.1", "100", 1);
        // Within the band: hold.
        let ev = w.tob(0, "99.7", "99.8");
        s.on_market(&ev, &w.view(), &mut out);
        assert!(out.is_empty());
        // Mid 99.45 ≤ stop 99.5: sell 0.1 IOC under the bid.
        let ev = w.tob(0, "99.4", "99.5");
        s.on_market(&ev, &w.view(), &mut out);
        let (side, price, qty, stop, _) = only(&out);
        assert_eq!((side, qty, stop), (Side::Sell, q("0.1"), None));
        assert_eq!(price, p("99.30"));
        // Short 0.2 at 100; take profit at 99 (100 bps).
        let mut s = momentum("consecutive = 3\n");
        out.clear();
        w.fill(0, Side::Sell, "0.3", "100", 2);
        let ev = w.tob(0, "99.1", "99.2");
        s.on_market(&ev, &w.view(), &mut out);
        assert!(out.is_empty());
        let ev = w.tob(0, "98.9", "99.0");
        s.on_market(&ev, &w.view(), &mut out);
        let (side, _, qty, _, _) = only(&out);
        assert_eq!((side, qty), (Side::Buy, q("0.2")));
    }

    #[test]
    fn waits_for_orders_in_flight_and_the_cooldown() {
        let mut w = World::new();
        let mut s = momentum("consecutive = 1\n");
        let mut out = IntentBuf::new();
        let mut seq = 0;
        w.tob(0, "99.95", "100.05");
        let ev = w.trade(0, 1, "100");
        s.on_market(&ev, &w.view(), &mut out);
        let ev = w.trade(0, 2, "100.01");
        s.on_market(&ev, &w.view(), &mut out);
        assert_eq!(out.len(), 1);
        w.accept(&mut out, &mut seq);
        // Entry in flight: nothing more, whatever the trades.
        let ev = w.trade(0, 3, "100.02");
        s.on_market(&ev, &w.view(), &mut out);
        assert!(out.is_empty());
        // Filled; take profit reached → exit; flat again → cool-down.
        let id = w.orders.iter().next().unwrap().client_order_id;
        w.orders.remove(&id);
        w.fill(0, Side::Buy, "0.1", "100", 10);
        let ev = w.tob(0, "101.1", "101.2");
        s.on_market(&ev, &w.view(), &mut out);
        assert_eq!(only(&out).0, Side::Sell);
        out.clear();
        w.fill(0, Side::Sell, "0.1", "101.1", 11);
        w.now = Nanos(500_000_000);
        for t in 12..15 {
            let ev = w.trade(0, t, &format!("101.{t}"));
            s.on_market(&ev, &w.view(), &mut out);
        }
        assert!(out.is_empty(), "cool-down");
        w.now = Nanos(2_000_000_000);
        let ev = w.trade(0, 20, "101.5");
        s.on_market(&ev, &w.view(), &mut out);
        assert_eq!(only(&out).0, Side::Buy);
    }

    #[test]
    fn lookback_mid_move_signal() {
        let mut w = World::new();
        let mut s = momentum("lookback_ms = 800\nmove_bps = 20\n");
        let mut out = IntentBuf::new();
        for (ms, bid) in [
            (0u64, "100"),
            (100, "100.05"),
            (200, "100.1"),
            (300, "100.1"),
        ] {
            w.now = Nanos(ms * 1_000_000 + 1);
            let ask = Price::from_raw(p(bid).raw() + 1_000_000).to_string();
            let ev = w.tob(0, bid, &ask);
            s.on_market(&ev, &w.view(), &mut out);
            assert!(out.is_empty(), "at {ms} ms");
        }
        // 400 ms (half the lookback) and +25 bps from the oldest sample: buy.
        w.now = Nanos(400_000_001);
        let ev = w.tob(0, "100.25", "100.26");
        s.on_market(&ev, &w.view(), &mut out);
        assert_eq!(only(&out).0, Side::Buy);
    }

    #[test]
    fn a_signal_is_required() {
        let p: MomentumParams =
            toml::from_str("qty = \"0.1\"\nstop_loss_bps = 50\ntake_profit_bps = 100\n").unwrap();
        let e = Momentum::new(&p, &table()).unwrap_err().to_string();
        assert!(e.contains("consecutive"), "{e}");
    }
}
