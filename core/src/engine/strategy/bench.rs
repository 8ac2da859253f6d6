//! `bench`: the deterministic latency-benchmark strategy.
//!
//! Owns [`BenchParams`] and [`Bench`]. The simulator marks every trade whose
//! trade id `t` satisfies `t % mark_every == 0`; for each marked trade on a
//! selected instrument this strategy emits one IOC limit order tagged with
//! `t` (the engine turns the tag into `ClientOrderId::for_tick(session, t)`,
//! which is how wire-to-wire latency is matched). The order crosses the book
//! by `cross_bps` so that it fills, with the smallest quantity the filters
//! allow (or `qty`). Sides alternate by marked-tick parity (even `t /
//! mark_every` buys, odd sells), so the position stays near flat. The same
//! events always give the same orders: no clock, no randomness, no state
//! besides the parameters.
//!
//! Trade ids are per symbol: with several instruments selected, two marked
//! ticks can share an id and so a client order id. Benchmarks select one
//! symbol (`symbols = ["BTCUSDT"]`).

use serde::{Deserialize, Serialize};

use super::{ConfigError, Intent, IntentBuf, MarketView, Strategy, pricing, select_instruments};
use crate::event::{ExecReport, MarketData, MarketEvent, OrderType, Side, TimeInForce};
use crate::instrument::InstrumentTable;
use crate::num::Qty;

/// `bench` parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchParams {
    /// React to trades whose id is a multiple of this (the simulator's
    /// `mark_every`). ≥ 1.
    pub mark_every: u64,
    /// Order quantity; default: the smallest the instrument's filters allow
    /// at the order price.
    #[serde(default)]
    pub qty: Option<Qty>,
    /// How far beyond the opposite best (or the trade price) the IOC limit
    /// is placed, in basis points. Default 10.
    #[serde(default = "default_cross_bps")]
    pub cross_bps: u32,
    /// Symbols to react on; empty = all.
    #[serde(default)]
    pub symbols: Vec<String>,
}

fn default_cross_bps() -> u32 {
    10
}

/// The `bench` strategy (see the module docs).
#[derive(Debug)]
pub struct Bench {
    mark_every: u64,
    qty: Option<Qty>,
    cross_bps: u32,
    selected: Box<[bool]>,
}

impl Bench {
    /// Validates `p` against `instruments`.
    pub fn new(p: &BenchParams, instruments: &InstrumentTable) -> Result<Bench, ConfigError> {
        let bad = |key, reason| ConfigError::Invalid {
            strategy: "bench",
            key,
            reason,
        };
        if p.mark_every == 0 {
            return Err(bad("mark_every", "must be at least 1"));
        }
        if p.qty.is_some_and(|q| !q.is_positive()) {
            return Err(bad("qty", "must be positive"));
        }
        if p.cross_bps > 1_000 {
            return Err(bad("cross_bps", "must be at most 1000 (10 %)"));
        }
        Ok(Bench {
            mark_every: p.mark_every,
            qty: p.qty,
            cross_bps: p.cross_bps,
            selected: select_instruments("bench", &p.symbols, instruments)?,
        })
    }
}

impl Strategy for Bench {
    fn name(&self) -> &'static str {
        "bench"
    }

    fn on_market(&mut self, ev: &MarketEvent, view: &MarketView<'_>, out: &mut IntentBuf) {
        let MarketData::Trade(t) = ev.data() else {
            return;
        };
        if t.trade_id == 0 || !t.trade_id.is_multiple_of(self.mark_every) {
            return;
        }
        let id = ev.instrument;
        if !self.selected.get(id.index()).copied().unwrap_or(false) {
            return;
        }
        let Some(filters) = view.filters(id) else {
            return;
        };
        let side = if (t.trade_id / self.mark_every).is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        };
        let book = view.book(id);
        let opposite = match side {
            Side::Buy => book.map(|b| b.ask_price),
            Side::Sell => book.map(|b| b.bid_price),
        };
        let reference = opposite.filter(|p| p.is_positive()).unwrap_or(t.price);
        let Some(price) = pricing::crossing(filters, side, reference, self.cross_bps) else {
            return;
        };
        let Some(qty) = self.qty.or_else(|| pricing::min_order_qty(filters, price)) else {
            return;
        };
        // A full buffer is counted by the buffer and reported by the engine.
        let _ = out.push(Intent::Place {
            instrument: id,
            side,
            order_type: OrderType::Limit,
            tif: TimeInForce::Ioc,
            price,
            qty,
            stop: None,
            tag: Some(t.trade_id),
        });
    }

    fn on_exec(&mut self, _rep: &ExecReport, _view: &MarketView<'_>, _out: &mut IntentBuf) {}
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::testing::*;
    use super::*;
    use crate::instrument::InstrumentId;

    fn bench(extra: &str) -> Bench {
        let p: BenchParams = toml::from_str(&format!("mark_every = 10\n{extra}")).unwrap();
        Bench::new(&p, &table()).unwrap()
    }

    #[test]
    fn reacts_only_to_marked_trades_with_a_tagged_crossing_ioc() {
        let mut w = World::new();
        let mut s = bench("");
        let mut out = IntentBuf::new();
        let tob = w.tob(0, "100", "100.1");
        s.on_market(&tob, &w.view(), &mut out);
        for tid in [1, 9, 11, 15] {
            let ev = w.trade(0, tid, "100.05");
            s.on_market(&ev, &w.view(), &mut out);
        }
        assert!(out.is_empty());
        // 20 / 10 = 2, even: a buy crossing the ask by 10 bps, rounded up.
        let ev = w.trade(0, 20, "100.05");
        s.on_market(&ev, &w.view(), &mut out);
        let Some(Intent::Place {
            side,
            order_type,
            tif,
            price,
            qty,
            tag,
            ..
        }) = out.get(0)
        else {
            panic!("no order: {out:?}")
        };
        assert_eq!(
            (side, order_type, tif),
            (Side::Buy, OrderType::Limit, TimeInForce::Ioc)
        );
        assert_eq!(price, p("100.21"));
        assert_eq!(tag, Some(20));
        // min notional 5 at 100.21 → 0.0499.. → 0.0499 rounded up on the grid.
        assert_eq!(qty, q("0.0499"));
        assert!(price.checked_notional(qty).unwrap() >= crate::num::Notional::parse("5").unwrap());
        // 30 / 10 = 3, odd: a sell under the bid.
        out.clear();
        let ev = w.trade(0, 30, "100.05");
        s.on_market(&ev, &w.view(), &mut out);
        assert!(
            matches!(out.get(0), Some(Intent::Place { side: Side::Sell, price, tag: Some(30), .. }) if price == p("99.9"))
        );
    }

    #[test]
    fn is_deterministic_and_respects_symbols_and_qty() {
        let run = |s: &mut Bench| {
            let mut w = World::new();
            let mut out = IntentBuf::new();
            let mut all = Vec::new();
            for tid in 1..=100u64 {
                let inst = (tid % 2) as u16;
                let ev = w.trade(inst, tid, "2000");
                s.on_market(&ev, &w.view(), &mut out);
                all.extend_from_slice(out.as_slice());
                out.clear();
            }
            all
        };
        let a = run(&mut bench(""));
        assert_eq!(a.len(), 10);
        assert_eq!(a, run(&mut bench("")));
        let only_eth = run(&mut bench("symbols = [\"ETHUSDT\"]\nqty = \"0.5\"\n"));
        // Marked ids are even, so all land on instrument 0 (BTC): none for ETH.
        assert!(only_eth.is_empty());
        let only_btc = run(&mut bench("symbols = [\"BTCUSDT\"]\nqty = \"0.5\"\n"));
        assert_eq!(only_btc.len(), 10);
        assert!(only_btc.iter().all(|i| matches!(i, Intent::Place { qty, instrument: InstrumentId(0), .. } if *qty == q("0.5"))));
    }

    #[test]
    fn invalid_params_are_named() {
        let p = BenchParams {
            mark_every: 0,
            qty: None,
            cross_bps: 10,
            symbols: vec![],
        };
        let e = Bench::new(&p, &table()).unwrap_err().to_string();
        assert!(e.contains("mark_every"), "{e}");
    }
}
