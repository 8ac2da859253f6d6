//! `quote`: two-sided quoting (spread capture) with inventory skew.
//!
//! Owns [`QuoteParams`] and [`Quote`]. On each market event for a selected
//! instrument with a healthy book, the strategy computes a bid and an ask
//! around the mid:
//!
//! ```text
//! offset = offset_ticks × tick            (or mid × offset_bps / 10 000)
//! skew   = mid × skew_bps / 10 000 × clamp(position / max_inventory, −1, 1)
//! bid    = floor_tick(mid − skew − offset)   ask = ceil_tick(mid − skew + offset)
//! ```
//!
//! (a long position lowers both quotes, so the ask gets hit sooner and the
//! bid later), kept strictly inside `(…, best ask)` / `(best bid, …)` so they
//! never cross the book. When the mid has moved more than `requote_bps` from
//! the mid the live quotes were made at, each live quote is cancelled and a
//! new pair placed (cancel/replace). A side missing (filled, rejected,
//! expired) is re-placed, at most every `min_quote_interval_ms`. At
//! `|position| ≥ max_inventory` the side that would add to it is not quoted.
//! A stale or unhealthy book cancels the instrument's quotes.
//!
//! No allocation after [`Quote::new`]; quantities and prices respect the
//! instrument's step and tick.

use serde::{Deserialize, Serialize};

use super::{ConfigError, Intent, IntentBuf, MarketView, Strategy, pricing, select_instruments};
use crate::clock::Nanos;
use crate::event::{ExecReport, MarketData, MarketEvent, OrderType, Side, TimeInForce};
use crate::instrument::{Filters, InstrumentId, InstrumentTable};
use crate::num::{Price, Qty};

/// `quote` parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteParams {
    /// Half-spread in basis points of the mid (exactly one of `offset_bps`,
    /// `offset_ticks`).
    #[serde(default)]
    pub offset_bps: Option<u32>,
    /// Half-spread in ticks.
    #[serde(default)]
    pub offset_ticks: Option<u32>,
    /// Size of each quote (floored onto the step grid).
    pub qty: Qty,
    /// Cancel/replace when the mid moved more than this from the quoted mid.
    pub requote_bps: u32,
    /// Position at which the increasing side stops quoting and the skew is
    /// full. > 0.
    pub max_inventory: Qty,
    /// Skew at full inventory, basis points of the mid. Default 0.
    #[serde(default)]
    pub skew_bps: u32,
    /// Least time between placements of a missing side. Default 100 ms.
    #[serde(default = "default_interval_ms")]
    pub min_quote_interval_ms: u64,
    /// Quote post-only (`LIMIT_MAKER`). Default false (GTC limit).
    #[serde(default)]
    pub post_only: bool,
    /// Symbols to quote; empty = all.
    #[serde(default)]
    pub symbols: Vec<String>,
}

fn default_interval_ms() -> u64 {
    100
}

/// Half-spread, in one of two units.
#[derive(Clone, Copy, Debug)]
enum Offset {
    Bps(u32),
    Ticks(u32),
}

/// Per-instrument quoting state.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// The mid the live quotes were computed at.
    quoted_mid: Option<Price>,
    /// When a quote was last placed.
    last_quote: Nanos,
}

/// The `quote` strategy (see the module docs).
#[derive(Debug)]
pub struct Quote {
    offset: Offset,
    qty: Qty,
    requote_bps: u32,
    max_inventory: Qty,
    skew_bps: u32,
    interval_ns: u64,
    order_type: OrderType,
    selected: Box<[bool]>,
    slots: Box<[Slot]>,
}

/// Most cancels one callback emits one by one; beyond, a cancel-all.
const MAX_SINGLE_CANCELS: usize = 8;

impl Quote {
    /// Validates `p` against `instruments`.
    pub fn new(p: &QuoteParams, instruments: &InstrumentTable) -> Result<Quote, ConfigError> {
        let bad = |key, reason| ConfigError::Invalid {
            strategy: "quote",
            key,
            reason,
        };
        let offset = match (p.offset_bps, p.offset_ticks) {
            (Some(b), None) if b > 0 && b <= 5_000 => Offset::Bps(b),
            (None, Some(t)) if t > 0 => Offset::Ticks(t),
            (Some(_), None) => return Err(bad("offset_bps", "must be in 1..=5000")),
            (None, Some(_)) => return Err(bad("offset_ticks", "must be at least 1")),
            _ => {
                return Err(bad(
                    "offset_bps",
                    "exactly one of offset_bps and offset_ticks must be set",
                ));
            }
        };
        if !p.qty.is_positive() {
            return Err(bad("qty", "must be positive"));
        }
        if p.requote_bps == 0 {
            return Err(bad("requote_bps", "must be at least 1"));
        }
        if !p.max_inventory.is_positive() {
            return Err(bad("max_inventory", "must be positive"));
        }
        if p.skew_bps > 5_000 {
            return Err(bad("skew_bps", "must be at most 5000"));
        }
        if let Offset::Ticks(_) = offset
            && instruments
                .iter()
                .any(|(_, s)| !s.filters.tick_size.is_positive())
        {
            return Err(bad(
                "offset_ticks",
                "needs every instrument to have a tick size",
            ));
        }
        Ok(Quote {
            offset,
            qty: p.qty,
            requote_bps: p.requote_bps,
            max_inventory: p.max_inventory,
            skew_bps: p.skew_bps,
            interval_ns: p.min_quote_interval_ms.saturating_mul(1_000_000),
            order_type: if p.post_only {
                OrderType::LimitMaker
            } else {
                OrderType::Limit
            },
            selected: select_instruments("quote", &p.symbols, instruments)?,
            slots: vec![Slot::default(); instruments.len()].into_boxed_slice(),
        })
    }

    /// The bid and ask to quote at `mid` with position `pos` (each `None`
    /// when that side is not quoted).
    fn prices(
        &self,
        filters: &Filters,
        mid: Price,
        pos: Qty,
        best_bid: Price,
        best_ask: Price,
    ) -> (Option<Price>, Option<Price>) {
        let tick = filters.tick_size.raw();
        let offset = match self.offset {
            Offset::Bps(b) => pricing::bps_of(mid, b).map_or(0, Price::raw),
            Offset::Ticks(t) => tick.saturating_mul(i64::from(t)),
        };
        let full_skew = i128::from(pricing::bps_of(mid, self.skew_bps).map_or(0, Price::raw));
        let inv = i128::from(self.max_inventory.raw());
        let ratio_num = i128::from(pos.raw()).clamp(-inv, inv);
        let skew = full_skew * ratio_num / inv;
        let center = i128::from(mid.raw()) - skew;
        let to_price = |v: i128| i64::try_from(v).ok().map(Price::from_raw);
        let mut bid =
            to_price(center - i128::from(offset)).map(|b| pricing::floor_tick(filters, b));
        let mut ask = to_price(center + i128::from(offset)).map(|a| pricing::ceil_tick(filters, a));
        let step = tick.max(1);
        if best_ask.is_positive() {
            bid = bid.map(|b| b.min(Price::from_raw(best_ask.raw().saturating_sub(step))));
        }
        if best_bid.is_positive() {
            ask = ask.map(|a| a.max(Price::from_raw(best_bid.raw().saturating_add(step))));
        }
        if let (Some(b), Some(a)) = (bid, ask)
            && b >= a
        {
            ask = Some(Price::from_raw(b.raw().saturating_add(step)));
        }
        let long_full = pos >= self.max_inventory;
        let short_full = pos.raw() <= self.max_inventory.raw().saturating_neg();
        (
            bid.filter(|b| b.is_positive() && !long_full),
            ask.filter(|a| a.is_positive() && !short_full),
        )
    }

    fn place(&self, id: InstrumentId, side: Side, price: Price, qty: Qty, out: &mut IntentBuf) {
        // A full buffer is counted by the buffer and reported by the engine.
        let _ = out.push(Intent::Place {
            instrument: id,
            side,
            order_type: self.order_type,
            tif: TimeInForce::Gtc,
            price,
            qty,
            stop: None,
            tag: None,
        });
    }
}

/// True if `a` and `b` differ by more than `bps` of `b`.
fn moved_beyond(a: Price, b: Price, bps: u32) -> bool {
    let diff = (i128::from(a.raw()) - i128::from(b.raw())).abs();
    diff * 10_000 > i128::from(b.raw()) * i128::from(bps)
}

impl Strategy for Quote {
    fn name(&self) -> &'static str {
        "quote"
    }

    fn on_market(&mut self, ev: &MarketEvent, view: &MarketView<'_>, out: &mut IntentBuf) {
        let id = ev.instrument;
        if !self.selected.get(id.index()).copied().unwrap_or(false) {
            return;
        }
        let Some(mut slot) = self.slots.get(id.index()).copied() else {
            return;
        };
        let (Some(filters), Some(book)) = (view.filters(id), view.book(id)) else {
            return;
        };
        if matches!(ev.data(), MarketData::Stale) || !book.healthy() {
            if view.all_open_orders().has_cancellable(id) {
                let _ = out.push(Intent::CancelAll { instrument: id });
            }
            slot.quoted_mid = None;
            if let Some(s) = self.slots.get_mut(id.index()) {
                *s = slot;
            }
            return;
        }
        let Some(mid) = book.mid() else {
            return;
        };
        let now = view.now();
        let pos = view.position(id);
        let Some(qty) = pricing::floor_qty(filters, self.qty) else {
            return;
        };
        let (bid, ask) = self.prices(filters, mid, pos, book.bid_price, book.ask_price);
        let (mut has_bid, mut has_ask, mut live) = (false, false, 0usize);
        for o in view.open_orders(id).filter(|o| !o.cancel_pending) {
            live += 1;
            match o.side {
                Side::Buy => has_bid = true,
                Side::Sell => has_ask = true,
            }
        }
        let moved = slot
            .quoted_mid
            .is_none_or(|qm| moved_beyond(mid, qm, self.requote_bps));
        if moved {
            if live > MAX_SINGLE_CANCELS {
                let _ = out.push(Intent::CancelAll { instrument: id });
            } else {
                for o in view.open_orders(id).filter(|o| !o.cancel_pending) {
                    let _ = out.push(Intent::Cancel {
                        instrument: id,
                        client_order_id: o.client_order_id,
                    });
                }
            }
            if let Some(b) = bid {
                self.place(id, Side::Buy, b, qty, out);
            }
            if let Some(a) = ask {
                self.place(id, Side::Sell, a, qty, out);
            }
            slot.quoted_mid = Some(mid);
            slot.last_quote = now;
        } else if now.saturating_elapsed_since(slot.last_quote) >= self.interval_ns {
            let mut placed = false;
            if let (false, Some(b)) = (has_bid, bid) {
                self.place(id, Side::Buy, b, qty, out);
                placed = true;
            }
            if let (false, Some(a)) = (has_ask, ask) {
                self.place(id, Side::Sell, a, qty, out);
                placed = true;
            }
            if placed {
                slot.last_quote = now;
            }
        }
        if let Some(s) = self.slots.get_mut(id.index()) {
            *s = slot;
        }
    }

    fn on_exec(&mut self, _rep: &ExecReport, _view: &MarketView<'_>, _out: &mut IntentBuf) {}
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::testing::*;
    use super::*;

    fn quote(extra: &str) -> Quote {
        let p: QuoteParams = toml::from_str(&format!(
            "qty = \"0.01\"\nrequote_bps = 10\nmax_inventory = \"0.02\"\n{extra}"
        ))
        .unwrap();
        Quote::new(&p, &table()).unwrap()
    }

    fn places(v: &[Intent]) -> Vec<(Side, Price, Qty)> {
        v.iter()
            .filter_map(|i| match *i {
                Intent::Place {
                    side, price, qty, ..
                } => Some((side, price, qty)),
                _ => None,
            })
            .collect()
    }

    fn cancels(v: &[Intent]) -> usize {
        v.iter()
            .filter(|i| matches!(i, Intent::Cancel { .. }))
            .count()
    }

    #[test]
    fn quotes_both_sides_at_the_offset_on_the_grid() {
        let mut w = World::new();
        let mut s = quote("offset_bps = 10\n");
        let mut out = IntentBuf::new();
        let ev = w.tob(0, "999.5", "1000.5");
        s.on_market(&ev, &w.view(), &mut out);
        // mid 1000, offset 1.00 → 999 / 1001.
        assert_eq!(
            places(out.as_slice()),
            vec![
                (Side::Buy, p("999"), q("0.01")),
                (Side::Sell, p("1001"), q("0.01"))
            ]
        );
        // Ticks mode: 3 ticks of 0.01 around mid 1000.005 → floor/ceil.
        let mut s = quote("offset_ticks = 3\n");
        out.clear();
        let ev = w.tob(0, "1000", "1000.01");
        s.on_market(&ev, &w.view(), &mut out);
        // bid min(999.97, ask−tick=1000.00) ; ask max(1000.04, bid+tick)
        assert_eq!(
            places(out.as_slice()),
            vec![(Side::Buy, p("999.97")), (Side::Sell, p("1000.04"))]
                .into_iter()
                .map(|(s, p)| (s, p, q("0.01")))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn cancel_replace_only_when_the_mid_moves_beyond_the_threshold() {
        let mut w = World::new();
        let mut s = quote("offset_bps = 10\n");
        let mut out = IntentBuf::new();
        let mut seq = 0;
        let ev = w.tob(0, "999.5", "1000.5");
        s.on_market(&ev, &w.view(), &mut out);
        w.accept(&mut out, &mut seq);
        assert_eq!(w.orders.len(), 2);
        // 5 bps move: below the 10 bps threshold, both sides live → nothing.
        let ev = w.tob(0, "1000", "1001");
        s.on_market(&ev, &w.view(), &mut out);
        assert!(out.is_empty(), "{out:?}");
        // 20 bps move: cancel both, place a new pair around 1002.
        let ev = w.tob(0, "1001.5", "1002.5");
        s.on_market(&ev, &w.view(), &mut out);
        let v = w.accept(&mut out, &mut seq);
        assert_eq!(cancels(&v), 2);
        assert_eq!(
            places(&v),
            vec![
                (Side::Buy, p("1000.99"), q("0.01")),
                (Side::Sell, p("1003.01"), q("0.01"))
            ]
        );
        // Cancels are pending on the old ones: not cancelled twice.
        let ev = w.tob(0, "1010", "1011");
        s.on_market(&ev, &w.view(), &mut out);
        assert_eq!(cancels(out.as_slice()), 2, "only the two new quotes");
    }

    #[test]
    fn missing_side_is_replaced_after_the_interval() {
        let mut w = World::new();
        let mut s = quote("offset_bps = 10\nmin_quote_interval_ms = 100\n");
        let mut out = IntentBuf::new();
        let mut seq = 0;
        let ev = w.tob(0, "999.5", "1000.5");
        s.on_market(&ev, &w.view(), &mut out);
        w.accept(&mut out, &mut seq);
        // The ask fills and leaves the table.
        let ask = w
            .orders
            .iter()
            .find(|o| o.side == Side::Sell)
            .unwrap()
            .client_order_id;
        w.orders.remove(&ask);
        w.now = Nanos(50_000_000);
        let ev = w.tob(0, "999.5", "1000.5");
        s.on_market(&ev, &w.view(), &mut out);
        assert!(out.is_empty());
        w.now = Nanos(200_000_000);
        s.on_market(&ev, &w.view(), &mut out);
        assert_eq!(
            places(out.as_slice()),
            vec![(Side::Sell, p("1001"), q("0.01"))]
        );
    }

    #[test]
    fn inventory_skews_quotes_and_stops_the_increasing_side() {
        let mut w = World::new();
        let mut s = quote("offset_bps = 10\nskew_bps = 20\n");
        let mut out = IntentBuf::new();
        // Long half the max inventory: skew = 2.00 × 0.5 = 1.00 down.
        w.fill(0, Side::Buy, "0.01", "1000", 1);
        let ev = w.tob(0, "999.5", "1000.5");
        s.on_market(&ev, &w.view(), &mut out);
        assert_eq!(
            places(out.as_slice()),
            vec![
                (Side::Buy, p("998"), q("0.01")),
                (Side::Sell, p("1000"), q("0.01"))
            ]
        );
        // At max inventory: no bid; the ask skews by the full 2.00 to 999,
        // but never crosses the book: best bid 999.5 + one tick.
        let mut s = quote("offset_bps = 10\nskew_bps = 20\n");
        out.clear();
        w.fill(0, Side::Buy, "0.01", "1000", 2);
        s.on_market(&ev, &w.view(), &mut out);
        assert_eq!(
            places(out.as_slice()),
            vec![(Side::Sell, p("999.51"), q("0.01"))]
        );
        // Short beyond max: no ask.
        let mut s = quote("offset_bps = 10\n");
        out.clear();
        w.fill(0, Side::Sell, "0.05", "1000", 3);
        s.on_market(&ev, &w.view(), &mut out);
        assert_eq!(
            places(out.as_slice()),
            vec![(Side::Buy, p("999"), q("0.01"))]
        );
    }

    #[test]
    fn stale_book_cancels_quotes() {
        let mut w = World::new();
        let mut s = quote("offset_bps = 10\n");
        let mut out = IntentBuf::new();
        let mut seq = 0;
        let ev = w.tob(0, "999.5", "1000.5");
        s.on_market(&ev, &w.view(), &mut out);
        w.accept(&mut out, &mut seq);
        let stale = w.market(MarketEvent::new(
            InstrumentId(0),
            MarketData::Stale,
            crate::event::Stamps::ZERO,
        ));
        s.on_market(&stale, &w.view(), &mut out);
        assert_eq!(
            out.as_slice(),
            &[Intent::CancelAll {
                instrument: InstrumentId(0)
            }]
        );
        w.accept(&mut out, &mut seq);
        s.on_market(&stale, &w.view(), &mut out);
        assert!(out.is_empty(), "cancel already pending");
    }

    #[test]
    fn offsets_are_validated() {
        let p: QuoteParams = toml::from_str(
            "qty = \"0.01\"\nrequote_bps = 10\nmax_inventory = \"1\"\noffset_bps = 5\noffset_ticks = 2\n",
        )
        .unwrap();
        let e = Quote::new(&p, &table()).unwrap_err().to_string();
        assert!(e.contains("exactly one"), "{e}");
    }
}
