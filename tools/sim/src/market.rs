//! The deterministic market generator: per-symbol L2 books that evolve by
//! random level changes and trades, and the venue-shaped messages each change
//! produces.
//!
//! This module owns the books, the update/trade id counters, the virtual
//! clock and the aggregation windows (`@depth@100ms`, partial depth), and the
//! exact JSON text of `bookTicker`, `trade`, `aggTrade`, `depthUpdate` and
//! partial-depth payloads and of the REST depth snapshot.
//!
//! Determinism: everything is a function of the seed and the configuration.
//! Time is virtual: message number `n` happens at `n / rate` seconds after
//! the epoch, so pacing against the wall clock (done by the caller) never
//! changes the sequence. Only messages someone is subscribed to are
//! formatted, but every random draw and every id advance happens regardless,
//! so interest never changes the sequence either.
//!
//! It never reads the wall clock, never sleeps and never touches sockets;
//! it uses integer arithmetic only.

use std::collections::{BTreeMap, VecDeque};

use talon_core::num::{Price, Qty};

use crate::bus::Batch;
use crate::config::SymbolSpec;
use crate::rng::Rng;
use crate::streams::{Registry, SYMBOL_KINDS};
use crate::text::{push_json_str, push_qfixed8, push_u64};

/// A consistent copy of one simulated book (what `SimHandle::book` returns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookView {
    /// Upper-case symbol.
    pub symbol: String,
    /// Update id of the last change applied (the venue's `lastUpdateId`).
    pub last_update_id: u64,
    /// Bids, best (highest) first.
    pub bids: Vec<(Price, Qty)>,
    /// Asks, best (lowest) first.
    pub asks: Vec<(Price, Qty)>,
}

/// One trade the generator printed (the `@trade` event), handed to the
/// exchange core through [`Market::take_trades`] so resting orders can fill
/// when the simulated market trades through them
/// (`Exchange::on_market_trade(&t.symbol, t.price, t.qty, t.buyer_is_maker,
/// t.time_ms)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TradePrint {
    /// Upper-case symbol.
    pub(crate) symbol: String,
    /// Trade price.
    pub(crate) price: Price,
    /// Trade quantity (base).
    pub(crate) qty: Qty,
    /// `m`: the buyer is the maker (a sell aggressor hit the bid).
    pub(crate) buyer_is_maker: bool,
    /// `T` in ms (virtual time of the step).
    pub(crate) time_ms: u64,
    /// `t`: the venue trade id of the print.
    pub(crate) trade_id: u64,
}

/// Trade prints kept for [`Market::take_trades`] at most; when nobody takes
/// them the oldest are dropped (counted in [`Market::trades_dropped`]).
pub(crate) const MAX_PENDING_TRADES: usize = 65_536;

/// Book side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Bid,
    Ask,
}

/// Per-kind offsets inside a symbol's block of stream ids (order of
/// `SYMBOL_KINDS`).
const K_BOOK_TICKER: u32 = 0;
const K_TRADE: u32 = 1;
const K_AGG_TRADE: u32 = 2;
const K_DEPTH: u32 = 3;
const K_DEPTH_100: u32 = 4;
/// (offset, levels, is_100ms) of the partial-depth streams.
const PARTIALS: [(u32, usize, bool); 6] = [
    (5, 5, false),
    (6, 5, true),
    (7, 10, false),
    (8, 10, true),
    (9, 20, false),
    (10, 20, true),
];

const NS_PER_MS: u64 = 1_000_000;
const NS_PER_S: u128 = 1_000_000_000;

/// Pending changes of an aggregation window.
#[derive(Debug, Default)]
struct Agg {
    first: Option<u64>,
    last: u64,
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
}

impl Agg {
    fn record(&mut self, side: Side, ticks: i64, lots: i64, id: u64) {
        self.first.get_or_insert(id);
        self.last = id;
        match side {
            Side::Bid => self.bids.insert(ticks, lots),
            Side::Ask => self.asks.insert(ticks, lots),
        };
    }

    fn clear(&mut self) {
        self.first = None;
        self.bids.clear();
        self.asks.clear();
    }
}

/// One symbol's state.
#[derive(Debug)]
struct Sym {
    symbol: String,
    /// Raw units (1e-8) per tick / per lot.
    tick: i64,
    step: i64,
    typical_lots: u64,
    /// Price in ticks → quantity in lots.
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
    update_id: u64,
    trade_id: u64,
    agg_id: u64,
    /// Aggregation for `@depth` when its interval is not 0.
    agg_raw: Agg,
    agg_100: Agg,
    stream_base: u32,
    /// Changes of the current step: (side, ticks, lots), one update id each.
    changes: Vec<(Side, i64, i64)>,
}

type Top = (Option<(i64, i64)>, Option<(i64, i64)>);

impl Sym {
    fn best_bid(&self) -> Option<(i64, i64)> {
        self.bids.iter().next_back().map(|(&p, &q)| (p, q))
    }
    fn best_ask(&self) -> Option<(i64, i64)> {
        self.asks.iter().next().map(|(&p, &q)| (p, q))
    }
    fn top(&self) -> Top {
        (self.best_bid(), self.best_ask())
    }
    fn side(&self, side: Side) -> &BTreeMap<i64, i64> {
        match side {
            Side::Bid => &self.bids,
            Side::Ask => &self.asks,
        }
    }
    /// Price (ticks) of the level `depth` places from the top of `side`.
    fn nth(&self, side: Side, depth: usize) -> Option<i64> {
        match side {
            Side::Bid => self.bids.keys().rev().nth(depth).copied(),
            Side::Ask => self.asks.keys().nth(depth).copied(),
        }
    }
    fn worst(&self, side: Side) -> Option<i64> {
        match side {
            Side::Bid => self.bids.keys().next().copied(),
            Side::Ask => self.asks.keys().next_back().copied(),
        }
    }
    /// Sets a level (0 lots removes it) and records the change.
    fn set(&mut self, side: Side, ticks: i64, lots: i64) {
        let map = match side {
            Side::Bid => &mut self.bids,
            Side::Ask => &mut self.asks,
        };
        if lots == 0 {
            map.remove(&ticks);
        } else {
            map.insert(ticks, lots);
        }
        self.changes.push((side, ticks, lots));
    }
    fn rand_lots(&self, rng: &mut Rng) -> i64 {
        let t = self.typical_lots.max(1);
        let lots = match rng.below(100) {
            0..60 => rng.range(1, t),
            60..90 => rng.range(t, 4 * t),
            _ => rng.range(4 * t, 20 * t),
        };
        i64::try_from(lots).unwrap_or(i64::MAX)
    }
    fn view(&self, limit: usize) -> BookView {
        BookView {
            symbol: self.symbol.clone(),
            last_update_id: self.update_id,
            bids: self
                .bids
                .iter()
                .rev()
                .take(limit)
                .map(|(&p, &q)| (Price::from_raw(p * self.tick), Qty::from_raw(q * self.step)))
                .collect(),
            asks: self
                .asks
                .iter()
                .take(limit)
                .map(|(&p, &q)| (Price::from_raw(p * self.tick), Qty::from_raw(q * self.step)))
                .collect(),
        }
    }
    /// Appends `[["p","q"],…]` for `levels` (ticks, lots).
    fn push_levels<'a>(&self, out: &mut Vec<u8>, levels: impl Iterator<Item = (&'a i64, &'a i64)>) {
        out.push(b'[');
        for (i, (&p, &q)) in levels.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'[');
            push_qfixed8(out, p * self.tick);
            out.push(b',');
            push_qfixed8(out, q * self.step);
            out.push(b']');
        }
        out.push(b']');
    }
    /// `{"lastUpdateId":…,"bids":[…],"asks":[…]}` with at most `limit` levels.
    fn push_snapshot(&self, out: &mut Vec<u8>, limit: usize) {
        out.extend_from_slice(b"{\"lastUpdateId\":");
        push_u64(out, self.update_id);
        out.extend_from_slice(b",\"bids\":");
        self.push_levels(out, self.bids.iter().rev().take(limit));
        out.extend_from_slice(b",\"asks\":");
        self.push_levels(out, self.asks.iter().take(limit));
        out.push(b'}');
    }
    fn push_depth_update(&self, out: &mut Vec<u8>, e_ms: u64, first: u64, last: u64, agg: &Agg) {
        out.extend_from_slice(b"{\"e\":\"depthUpdate\",\"E\":");
        push_u64(out, e_ms);
        out.extend_from_slice(b",\"s\":");
        push_json_str(out, &self.symbol);
        out.extend_from_slice(b",\"U\":");
        push_u64(out, first);
        out.extend_from_slice(b",\"u\":");
        push_u64(out, last);
        out.extend_from_slice(b",\"b\":");
        self.push_levels(out, agg.bids.iter().rev());
        out.extend_from_slice(b",\"a\":");
        self.push_levels(out, agg.asks.iter());
        out.push(b'}');
    }
}

/// The generator: all symbols, one RNG, one virtual clock.
#[derive(Debug)]
pub(crate) struct Market {
    syms: Vec<Sym>,
    rng: Rng,
    rate: u64,
    start_ms: u64,
    book_levels: usize,
    /// Real-time messages counted so far (drives virtual time).
    msgs: u64,
    next_100_ns: u64,
    next_1000_ns: u64,
    depth_interval_ns: u64,
    next_depth_ns: u64,
    /// Scratch for the current step's `@depth` diff.
    scratch: Agg,
    /// Trades printed and not yet taken (bounded by `MAX_PENDING_TRADES`).
    trades: VecDeque<TradePrint>,
    /// Trades dropped because nobody took them in time.
    trades_dropped: u64,
}

impl Market {
    /// Builds the initial books (not sent as diffs: clients take the REST
    /// snapshot, as on the venue).
    pub(crate) fn new(
        specs: &[SymbolSpec],
        seed: u64,
        rate: u64,
        start_ms: u64,
        book_levels: usize,
        depth_interval_ms: u64,
    ) -> Market {
        let mut rng = Rng::new(seed);
        let mut syms = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let tick = spec.tick_size.raw().max(1);
            let step = spec.step_size.raw().max(1);
            let mut s = Sym {
                symbol: spec.symbol.clone(),
                tick,
                step,
                typical_lots: u64::try_from(spec.typical_qty.raw() / step)
                    .unwrap_or(1)
                    .max(1),
                bids: BTreeMap::new(),
                asks: BTreeMap::new(),
                // Ids beyond 2^32, like the venue's.
                update_id: 10_000_000_000 + rng.below(80_000_000_000),
                trade_id: 1_000_000_000 + rng.below(4_000_000_000),
                agg_id: 500_000_000 + rng.below(2_000_000_000),
                agg_raw: Agg::default(),
                agg_100: Agg::default(),
                stream_base: (i * SYMBOL_KINDS.len()) as u32,
                changes: Vec::new(),
            };
            let mid = (spec.start_price.raw() / tick).max(book_levels as i64 * 5 + 10);
            let (mut b, mut a) = (mid, mid + 1);
            for _ in 0..book_levels {
                let lots = s.rand_lots(&mut rng);
                s.bids.insert(b, lots);
                let lots = s.rand_lots(&mut rng);
                s.asks.insert(a, lots);
                b -= 1 + gap(&mut rng);
                a += 1 + gap(&mut rng);
            }
            syms.push(s);
        }
        Market {
            syms,
            rng,
            rate: rate.max(1),
            start_ms,
            book_levels,
            msgs: 0,
            next_100_ns: 100 * NS_PER_MS,
            next_1000_ns: 1000 * NS_PER_MS,
            depth_interval_ns: depth_interval_ms * NS_PER_MS,
            next_depth_ns: depth_interval_ms * NS_PER_MS,
            scratch: Agg::default(),
            trades: VecDeque::new(),
            trades_dropped: 0,
        }
    }

    /// Real-time messages generated so far (the pacing unit).
    pub(crate) fn msgs(&self) -> u64 {
        self.msgs
    }

    /// Takes every trade printed since the last call, oldest first (every
    /// step that prints a `@trade` event records it here, whether or not
    /// anyone subscribed to the stream). Call it after each
    /// [`Market::step`] (or batch of steps) and feed each print to
    /// `Exchange::on_market_trade`.
    pub(crate) fn take_trades(&mut self) -> Vec<TradePrint> {
        self.trades.drain(..).collect()
    }

    /// Trade prints dropped because more than [`MAX_PENDING_TRADES`]
    /// accumulated without [`Market::take_trades`].
    #[allow(
        dead_code,
        reason = "the wire layer (server.rs/stats.rs) reads it; allowed until that lands"
    )]
    pub(crate) fn trades_dropped(&self) -> u64 {
        self.trades_dropped
    }

    /// Virtual time of message number `n`, in ns since the epoch.
    fn vt_ns(&self, n: u64) -> u64 {
        u64::try_from(u128::from(n) * NS_PER_S / u128::from(self.rate)).unwrap_or(u64::MAX)
    }

    /// Index of an upper-case symbol.
    pub(crate) fn symbol_index(&self, symbol: &str) -> Option<usize> {
        self.syms.iter().position(|s| s.symbol == symbol)
    }

    /// A copy of a book with at most `limit` levels per side.
    pub(crate) fn view(&self, index: usize, limit: usize) -> Option<BookView> {
        self.syms.get(index).map(|s| s.view(limit))
    }

    /// The REST `/api/v3/depth` body.
    pub(crate) fn snapshot_json(&self, index: usize, limit: usize, out: &mut Vec<u8>) -> bool {
        match self.syms.get(index) {
            Some(s) => {
                s.push_snapshot(out, limit);
                true
            }
            None => false,
        }
    }

    /// Emits the window messages due at or before virtual time `vt`.
    fn close_windows(&mut self, vt: u64, reg: &Registry, batch: &mut Batch) {
        loop {
            // The earliest pending boundary.
            let mut t = self.next_100_ns.min(self.next_1000_ns);
            if self.depth_interval_ns > 0 {
                t = t.min(self.next_depth_ns);
            }
            if t > vt {
                return;
            }
            let e_ms = self.start_ms + t / NS_PER_MS;
            let at_100 = self.next_100_ns == t;
            let at_1000 = self.next_1000_ns == t;
            let at_depth = self.depth_interval_ns > 0 && self.next_depth_ns == t;
            for s in &mut self.syms {
                if at_depth {
                    let mut agg = take_agg(s, false);
                    emit_agg(s, &mut agg, e_ms, s.stream_base + K_DEPTH, reg, batch);
                }
                if at_100 {
                    let mut agg = take_agg(s, true);
                    emit_agg(s, &mut agg, e_ms, s.stream_base + K_DEPTH_100, reg, batch);
                }
                for (off, levels, fast) in PARTIALS {
                    let id = s.stream_base + off;
                    if ((fast && at_100) || (!fast && at_1000)) && reg.wanted(id) {
                        let start = batch.begin();
                        s.push_snapshot(&mut batch.data, levels);
                        batch.finish(id, start);
                    }
                }
            }
            if at_100 {
                self.next_100_ns += 100 * NS_PER_MS;
            }
            if at_1000 {
                self.next_1000_ns += 1000 * NS_PER_MS;
            }
            if at_depth {
                self.next_depth_ns += self.depth_interval_ns;
            }
        }
    }

    /// Closes the open `@depth` (when aggregated) and `@depth@100ms` windows
    /// now: their pending changes go out as diffs stamped with the current
    /// virtual time, and new windows start empty. After this (with the
    /// generator paused) every diff stream ends at the book's update id.
    pub(crate) fn flush_windows(&mut self, reg: &Registry, batch: &mut Batch) {
        let vt = self.vt_ns(self.msgs);
        let e_ms = self.start_ms + vt / NS_PER_MS;
        let aggregated_raw = self.depth_interval_ns > 0;
        for s in &mut self.syms {
            if aggregated_raw {
                let mut agg = take_agg(s, false);
                emit_agg(s, &mut agg, e_ms, s.stream_base + K_DEPTH, reg, batch);
            }
            let mut agg = take_agg(s, true);
            emit_agg(s, &mut agg, e_ms, s.stream_base + K_DEPTH_100, reg, batch);
        }
    }

    /// One generator step: one market event on one symbol, its messages
    /// appended to `batch` (only streams with interest are formatted).
    /// Returns the number of real-time messages the step counts.
    pub(crate) fn step(&mut self, reg: &Registry, batch: &mut Batch) -> u64 {
        let vt = self.vt_ns(self.msgs);
        self.close_windows(vt, reg, batch);
        let e_ms = self.start_ms + vt / NS_PER_MS;
        let book_levels = self.book_levels;
        let n_syms = self.syms.len() as u64;
        let rng = &mut self.rng;
        let si = rng.below(n_syms) as usize;
        let Some(s) = self.syms.get_mut(si) else {
            return 0;
        };
        s.changes.clear();
        let before = s.top();
        let mut trade: Option<(i64, i64, bool)> = None;

        let spread = match before {
            (Some((b, _)), Some((a, _))) => a - b,
            _ => 0,
        };
        if spread > 1 && rng.chance(1, 3) {
            // Spread repair: a new level inside the spread (the mid moves).
            let lots = s.rand_lots(rng);
            if let (Some((b, _)), Some((a, _))) = before {
                if rng.chance(1, 2) {
                    s.set(Side::Bid, b + 1, lots);
                } else {
                    s.set(Side::Ask, a - 1, lots);
                }
            }
        } else if rng.below(1000) < 100 {
            // A trade: the taker hits the best level on the other side.
            let taker_sells = rng.chance(1, 2);
            let side = if taker_sells { Side::Bid } else { Side::Ask };
            let lots = s.rand_lots(rng).max(1) / 2 + 1;
            let best = if taker_sells {
                s.best_bid()
            } else {
                s.best_ask()
            };
            if let Some((p, q)) = best {
                let fill = lots.min(q);
                s.set(side, p, q - fill);
                // m: the buyer is the maker when the taker sells.
                trade = Some((p, fill, taker_sells));
            }
        } else {
            let side = if rng.chance(1, 2) {
                Side::Bid
            } else {
                Side::Ask
            };
            let len = s.side(side).len();
            let mut depth = 0usize;
            while depth + 1 < len && depth < 50 && rng.chance(7, 10) {
                depth += 1;
            }
            let action = rng.below(100);
            let lots = s.rand_lots(rng);
            let away = i64::try_from(rng.range(1, 3)).unwrap_or(1);
            if let Some(p) = s.nth(side, depth) {
                let cur = s.side(side).get(&p).copied().unwrap_or(0);
                let away_p = match side {
                    Side::Bid => p - away,
                    Side::Ask => p + away,
                };
                if action < 60 {
                    s.set(side, p, if lots == cur { lots + 1 } else { lots });
                } else if action < 80 && away_p > 0 && !s.side(side).contains_key(&away_p) {
                    s.set(side, away_p, lots);
                } else if action >= 80 && len > book_levels / 2 {
                    s.set(side, p, 0);
                } else {
                    s.set(side, p, if lots == cur { lots + 1 } else { lots });
                }
            }
        }
        // Keep each side near the target depth.
        for side in [Side::Bid, Side::Ask] {
            while s.side(side).len() + 10 < book_levels {
                let worst = s.worst(side);
                let g = 1 + gap(rng);
                let p = match (side, worst) {
                    (Side::Bid, Some(w)) => w - g,
                    (Side::Ask, Some(w)) => w + g,
                    (Side::Bid, None) => s.best_ask().map_or(1, |(a, _)| a - 1),
                    (Side::Ask, None) => s.best_bid().map_or(2, |(b, _)| b + 1),
                };
                if p <= 0 {
                    break;
                }
                let lots = s.rand_lots(rng);
                s.set(side, p, lots);
            }
            while s.side(side).len() > book_levels + 10 {
                match s.worst(side) {
                    Some(w) => s.set(side, w, 0),
                    None => break,
                }
            }
        }

        if s.changes.is_empty() {
            return 0;
        }
        let first = s.update_id + 1;
        for (i, &(side, p, q)) in s.changes.iter().enumerate() {
            let id = first + i as u64;
            s.agg_100.record(side, p, q, id);
            if self.depth_interval_ns > 0 {
                s.agg_raw.record(side, p, q, id);
            }
        }
        s.update_id += s.changes.len() as u64;
        let last = s.update_id;
        let mut counted = 1; // the @depth diff event
        if self.depth_interval_ns == 0 && reg.wanted(s.stream_base + K_DEPTH) {
            self.scratch.clear();
            for (i, &(side, p, q)) in s.changes.iter().enumerate() {
                self.scratch.record(side, p, q, first + i as u64);
            }
            let start = batch.begin();
            s.push_depth_update(&mut batch.data, e_ms, first, last, &self.scratch);
            batch.finish(s.stream_base + K_DEPTH, start);
        }
        let after = s.top();
        if after != before {
            counted += 1;
            let id = s.stream_base + K_BOOK_TICKER;
            if reg.wanted(id) {
                let start = batch.begin();
                let out = &mut batch.data;
                out.extend_from_slice(b"{\"u\":");
                push_u64(out, last);
                out.extend_from_slice(b",\"s\":");
                push_json_str(out, &s.symbol);
                let (b, a) = after;
                let (bp, bq) = b.unwrap_or((0, 0));
                let (ap, aq) = a.unwrap_or((0, 0));
                out.extend_from_slice(b",\"b\":");
                push_qfixed8(out, bp * s.tick);
                out.extend_from_slice(b",\"B\":");
                push_qfixed8(out, bq * s.step);
                out.extend_from_slice(b",\"a\":");
                push_qfixed8(out, ap * s.tick);
                out.extend_from_slice(b",\"A\":");
                push_qfixed8(out, aq * s.step);
                out.push(b'}');
                batch.finish(id, start);
            }
        }
        if let Some((p, q, m)) = trade {
            counted += 2;
            s.trade_id += 1;
            s.agg_id += 1;
            if self.trades.len() >= MAX_PENDING_TRADES {
                self.trades.pop_front();
                self.trades_dropped += 1;
            }
            self.trades.push_back(TradePrint {
                symbol: s.symbol.clone(),
                price: Price::from_raw(p * s.tick),
                qty: Qty::from_raw(q * s.step),
                buyer_is_maker: m,
                time_ms: e_ms,
                trade_id: s.trade_id,
            });
            for (off, agg) in [(K_TRADE, false), (K_AGG_TRADE, true)] {
                let id = s.stream_base + off;
                if !reg.wanted(id) {
                    continue;
                }
                let start = batch.begin();
                let out = &mut batch.data;
                out.extend_from_slice(if agg {
                    b"{\"e\":\"aggTrade\",\"E\":"
                } else {
                    b"{\"e\":\"trade\",\"E\":"
                });
                push_u64(out, e_ms);
                out.extend_from_slice(b",\"s\":");
                push_json_str(out, &s.symbol);
                if agg {
                    out.extend_from_slice(b",\"a\":");
                    push_u64(out, s.agg_id);
                } else {
                    out.extend_from_slice(b",\"t\":");
                    push_u64(out, s.trade_id);
                }
                out.extend_from_slice(b",\"p\":");
                push_qfixed8(out, p * s.tick);
                out.extend_from_slice(b",\"q\":");
                push_qfixed8(out, q * s.step);
                if agg {
                    out.extend_from_slice(b",\"f\":");
                    push_u64(out, s.trade_id);
                    out.extend_from_slice(b",\"l\":");
                    push_u64(out, s.trade_id);
                }
                out.extend_from_slice(b",\"T\":");
                push_u64(out, e_ms);
                out.extend_from_slice(if m {
                    b",\"m\":true,\"M\":true}"
                } else {
                    b",\"m\":false,\"M\":true}"
                });
                batch.finish(id, start);
            }
        }
        self.msgs += counted;
        counted
    }
}

/// A window gap of 0 ticks (dense) most of the time, 1–3 sometimes.
fn gap(rng: &mut Rng) -> i64 {
    if rng.chance(1, 4) {
        i64::try_from(rng.range(1, 3)).unwrap_or(1)
    } else {
        0
    }
}

/// Takes a symbol's aggregation window (leaving an empty one in place).
fn take_agg(s: &mut Sym, fast: bool) -> Agg {
    std::mem::take(if fast { &mut s.agg_100 } else { &mut s.agg_raw })
}

/// Emits an aggregated diff for a closed window (if it has changes and the
/// stream is wanted).
fn emit_agg(s: &Sym, agg: &mut Agg, e_ms: u64, id: u32, reg: &Registry, batch: &mut Batch) {
    if let Some(first) = agg.first
        && reg.wanted(id)
    {
        let start = batch.begin();
        s.push_depth_update(&mut batch.data, e_ms, first, agg.last, agg);
        batch.finish(id, start);
    }
    agg.clear();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn market(seed: u64) -> (Market, Registry) {
        let specs: Vec<SymbolSpec> = ["BTCUSDT", "ETHUSDT"]
            .iter()
            .map(|s| SymbolSpec::for_symbol(s).unwrap())
            .collect();
        let m = Market::new(&specs, seed, 1000, 1_700_000_000_000, 100, 0);
        let reg = Registry::for_symbols(&["btcusdt".into(), "ethusdt".into()]);
        for id in 0..reg.len() as u32 {
            reg.add_interest(id);
        }
        (m, reg)
    }

    #[test]
    fn same_seed_same_bytes_and_books_stay_sane() {
        let (mut a, reg) = market(7);
        let (mut b, _) = market(7);
        let (mut c, _) = market(8);
        let (mut ba, mut bb, mut bc) = (Batch::default(), Batch::default(), Batch::default());
        for _ in 0..5000 {
            a.step(&reg, &mut ba);
            b.step(&reg, &mut bb);
            c.step(&reg, &mut bc);
        }
        assert_eq!(ba.data, bb.data);
        assert_ne!(ba.data, bc.data);
        for i in 0..2 {
            let v = a.view(i, usize::MAX).unwrap();
            assert!(
                v.bids.len() >= 40 && v.asks.len() >= 40,
                "{} {}",
                v.bids.len(),
                v.asks.len()
            );
            assert!(v.bids[0].0 < v.asks[0].0, "crossed");
            assert!(v.bids.windows(2).all(|w| w[0].0 > w[1].0));
            assert!(v.asks.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(v.bids.iter().chain(&v.asks).all(|l| l.1 > Qty::ZERO));
        }
        // Every message is valid JSON with the venue's fields.
        let mut kinds = std::collections::HashMap::new();
        for e in &ba.entries {
            let v: serde_json::Value = serde_json::from_slice(ba.text(e)).unwrap();
            let kind = reg.get(e.stream).unwrap().kind;
            *kinds.entry(kind.stat_index()).or_insert(0) += 1;
            if let Some(p) = v.get("p") {
                assert_eq!(p.as_str().unwrap().split('.').nth(1).unwrap().len(), 8);
            }
        }
        assert!(kinds.len() >= 5, "{kinds:?}");
    }

    #[test]
    fn depth_interval_aggregates_like_the_venue() {
        let specs = vec![SymbolSpec::for_symbol("BTCUSDT").unwrap()];
        let mut m = Market::new(&specs, 5, 1000, 0, 50, 1000);
        let reg = Registry::for_symbols(&["btcusdt".into()]);
        let depth = reg.id("btcusdt@depth").unwrap();
        let p10 = reg.id("btcusdt@depth10").unwrap();
        reg.add_interest(depth);
        reg.add_interest(p10);
        let first = m.view(0, 0).unwrap().last_update_id;
        let mut batch = Batch::default();
        while m.msgs() < 3500 {
            m.step(&reg, &mut batch);
        }
        let mut prev_u = first;
        let (mut diffs, mut partials) = (0, 0);
        for e in &batch.entries {
            let v: serde_json::Value = serde_json::from_slice(batch.text(e)).unwrap();
            if e.stream == depth {
                diffs += 1;
                assert_eq!(v["U"].as_u64().unwrap(), prev_u + 1);
                assert!(v["u"].as_u64().unwrap() > v["U"].as_u64().unwrap());
                assert_eq!(
                    v["E"].as_u64().unwrap() % 1000,
                    0,
                    "emitted on 1 s boundaries"
                );
                prev_u = v["u"].as_u64().unwrap();
            } else {
                assert_eq!(e.stream, p10);
                partials += 1;
                assert_eq!(v["bids"].as_array().unwrap().len(), 10);
            }
        }
        // 3.5 s of virtual time: three closed windows of each.
        assert_eq!((diffs, partials), (3, 3));
    }

    #[test]
    fn diffs_are_continuous_and_rebuild_the_book() {
        let (mut m, reg) = market(3);
        let start = m.view(0, usize::MAX).unwrap();
        let mut bids: BTreeMap<Price, Qty> = start.bids.iter().copied().collect();
        let mut asks: BTreeMap<Price, Qty> = start.asks.iter().copied().collect();
        let mut last = start.last_update_id;
        let mut batch = Batch::default();
        for _ in 0..3000 {
            m.step(&reg, &mut batch);
        }
        let depth_id = reg.id("btcusdt@depth").unwrap();
        let mut n100 = 0;
        for e in &batch.entries {
            let v: serde_json::Value = serde_json::from_slice(batch.text(e)).unwrap();
            if e.stream == reg.id("btcusdt@depth@100ms").unwrap() {
                n100 += 1;
            }
            if e.stream != depth_id {
                continue;
            }
            assert_eq!(v["U"].as_u64().unwrap(), last + 1);
            last = v["u"].as_u64().unwrap();
            for (key, book) in [("b", &mut bids), ("a", &mut asks)] {
                for l in v[key].as_array().unwrap() {
                    let p = Price::parse(l[0].as_str().unwrap()).unwrap();
                    let q = Qty::parse(l[1].as_str().unwrap()).unwrap();
                    if q.is_zero() {
                        book.remove(&p);
                    } else {
                        book.insert(p, q);
                    }
                }
            }
        }
        assert!(n100 > 5);
        let v = m.view(0, usize::MAX).unwrap();
        assert_eq!(v.last_update_id, last);
        assert_eq!(v.bids, bids.into_iter().rev().collect::<Vec<_>>());
        assert_eq!(v.asks, asks.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn every_trade_print_is_handed_to_take_trades() {
        let (mut m, reg) = market(11);
        let mut batch = Batch::default();
        for _ in 0..3000 {
            m.step(&reg, &mut batch);
        }
        let prints = m.take_trades();
        assert!(m.take_trades().is_empty(), "taken once");
        let trade_ids = [
            reg.id("btcusdt@trade").unwrap(),
            reg.id("ethusdt@trade").unwrap(),
        ];
        let streamed: Vec<TradePrint> = batch
            .entries
            .iter()
            .filter(|e| trade_ids.contains(&e.stream))
            .map(|e| {
                let v: serde_json::Value = serde_json::from_slice(batch.text(e)).unwrap();
                TradePrint {
                    symbol: v["s"].as_str().unwrap().to_string(),
                    price: Price::parse(v["p"].as_str().unwrap()).unwrap(),
                    qty: Qty::parse(v["q"].as_str().unwrap()).unwrap(),
                    buyer_is_maker: v["m"].as_bool().unwrap(),
                    time_ms: v["T"].as_u64().unwrap(),
                    trade_id: v["t"].as_u64().unwrap(),
                }
            })
            .collect();
        assert!(streamed.len() > 50, "{}", streamed.len());
        assert_eq!(prints, streamed);
        assert_eq!(m.trades_dropped(), 0);
    }
}
