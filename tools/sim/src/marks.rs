//! Marked ticks and the wire-to-wire latency they measure.
//!
//! With [`SimConfig::mark_every`](crate::SimConfig::mark_every) = `Some(n)`,
//! every generated trade whose trade id `t` satisfies `t % n == 0` is
//! *marked*. When a connection writer writes the `@trade` frame of a marked
//! trade, it stamps the simulator's monotonic clock for `t` (just before the
//! write syscall that puts the frame on the socket, so an order caused by
//! the frame can never be read before its mark exists), keeping the first
//! write of each tick in a bounded ring of recent marks ([`RING`] slots;
//! older ticks are overwritten). When a WebSocket API `order.place` arrives
//! whose `newClientOrderId` has the `ClientOrderId::for_tick` form
//! (`tk` + session, 10 digits + `-` + tick, 20 digits), the reader stamps the
//! clock as the frame's read returned and records *read − write* of that
//! tick in an HDR histogram: simulator clock at both ends, so it is the
//! whole path a marked tick takes outside the simulator — socket, kernel,
//! the client's decode, decision, risk, journal, encode, sign and the write
//! back.
//!
//! Results: [`crate::SimHandle::marks`] in process, `GET /sim/v1/marks`
//! (JSON [`MarksReport`]; `?reset=true` clears the histogram and counters
//! after answering) for a separate process.
//!
//! This module owns the mark ring, the histogram, the counters and the
//! parsing of the two texts involved (the trade id of a `@trade` payload,
//! the client order id of an `order.place` request). It never formats or
//! writes a frame and never touches a socket; it is simulator tooling (it
//! locks a mutex and the histogram may allocate while it grows).

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Recent marks kept (a marked tick whose order arrives after this many
/// newer marks were written is counted as unmatched).
pub const RING: usize = 4096;

/// `ClientOrderId::for_tick` form: `tk` + 10 digits + `-` + 20 digits.
const TICK_ID_LEN: usize = 33;

/// One point of the percentile curve: `percentile` in 0..=100.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Percentile (0..=100).
    pub percentile: f64,
    /// Latency at that percentile, ns.
    pub value_ns: u64,
}

/// The wire-to-wire measurement so far (JSON of `GET /sim/v1/marks`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MarksReport {
    /// The configured period (`None`: marking is off).
    pub mark_every: Option<u64>,
    /// Marked trades written to a connection (first write of each tick).
    pub marks_written: u64,
    /// Tick-tagged orders matched to their mark (= histogram count).
    pub matched: u64,
    /// Tick-tagged orders with no mark in the ring (never marked, evicted,
    /// or a second order for the same tick).
    pub unmatched: u64,
    /// Smallest wire-to-wire latency, ns.
    pub min_ns: u64,
    /// Median, ns.
    pub p50_ns: u64,
    /// 90th percentile, ns.
    pub p90_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// 99.9th percentile, ns.
    pub p999_ns: u64,
    /// Largest, ns.
    pub max_ns: u64,
    /// Mean, ns.
    pub mean_ns: u64,
    /// Percentile curve (HDR plot): quantiles 1 − 10^(−k/10) while the
    /// sample count resolves them, then 100 (the max).
    pub curve: Vec<CurvePoint>,
}

#[derive(Debug)]
struct Inner {
    /// `(tick, written ns)` by `(tick / every) % RING`; `tick == u64::MAX`:
    /// empty or already matched.
    ring: Vec<(u64, u64)>,
    hist: Histogram<u64>,
    marks_written: u64,
    unmatched: u64,
}

/// Marks and the wire-to-wire histogram (see the module docs).
#[derive(Debug)]
pub struct Marks {
    every: Option<u64>,
    epoch: Instant,
    inner: Mutex<Inner>,
}

impl Marks {
    /// Marking every `every`th trade id (`None` or `Some(0)`: off).
    pub fn new(every: Option<u64>) -> Marks {
        // Proven invariant: 3 significant figures is within 0..=5.
        let hist = Histogram::new(3).expect("3 significant figures is valid");
        Marks {
            every: every.filter(|&n| n > 0),
            epoch: Instant::now(),
            inner: Mutex::new(Inner {
                ring: vec![(u64::MAX, 0); RING],
                hist,
                marks_written: 0,
                unmatched: 0,
            }),
        }
    }

    /// Whether marking is on.
    pub fn enabled(&self) -> bool {
        self.every.is_some()
    }

    /// The configured period.
    pub fn every(&self) -> Option<u64> {
        self.every
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Poisoning only means a thread panicked mid-update of plain
        // counters; they stay usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Nanoseconds on the simulator's clock now.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether trade id `t` is marked.
    pub fn is_marked(&self, t: u64) -> bool {
        self.every.is_some_and(|n| t.is_multiple_of(n))
    }

    fn slot(&self, t: u64) -> usize {
        let n = self.every.unwrap_or(1);
        ((t / n) % RING as u64) as usize
    }

    /// The marked trade id of a `@trade` payload, if it is marked.
    pub fn marked_trade(&self, payload: &[u8]) -> Option<u64> {
        if !self.enabled() {
            return None;
        }
        trade_id(payload).filter(|&t| self.is_marked(t))
    }

    /// A frame carrying marked trade `t` is being written now (the first
    /// write of `t` counts; later writes, e.g. to other connections, are
    /// ignored).
    pub fn on_written(&self, t: u64) {
        self.on_written_at(t, self.now_ns());
    }

    /// [`on_written`](Self::on_written) at an explicit clock value (tests).
    pub fn on_written_at(&self, t: u64, written_ns: u64) {
        if !self.is_marked(t) {
            return;
        }
        let slot = self.slot(t);
        let mut g = self.lock();
        if g.ring.get(slot).is_some_and(|&(tick, _)| tick == t) {
            return;
        }
        if let Some(s) = g.ring.get_mut(slot) {
            *s = (t, written_ns);
            g.marks_written += 1;
        }
    }

    /// A WebSocket API request was read at `read_ns`: if it is an
    /// `order.place` whose `newClientOrderId` is a tick id, records read −
    /// write of that tick (or counts it unmatched). Returns the tick.
    pub fn on_request(&self, text: &[u8], read_ns: u64) -> Option<u64> {
        if !self.enabled() {
            return None;
        }
        let t = order_place_tick(text)?;
        self.on_order_at(t, read_ns);
        Some(t)
    }

    /// An order for tick `t` was read at `read_ns`.
    pub fn on_order_at(&self, t: u64, read_ns: u64) {
        let slot = self.slot(t);
        let mut g = self.lock();
        let hit = match g.ring.get_mut(slot) {
            Some(s) if s.0 == t => {
                let w = s.1;
                *s = (u64::MAX, 0);
                Some(read_ns.saturating_sub(w))
            }
            _ => None,
        };
        match hit {
            Some(ns) => {
                // Auto-resizing histogram: a value never fails to record.
                let _ = g.hist.record(ns.max(1));
            }
            None => g.unmatched += 1,
        }
    }

    /// The measurement so far.
    pub fn report(&self) -> MarksReport {
        let g = self.lock();
        build_report(self.every, &g)
    }

    /// The measurement so far, then clears the histogram and the counters
    /// (marks in flight stay, so an order already on its way still matches).
    pub fn take_report(&self) -> MarksReport {
        let mut g = self.lock();
        let r = build_report(self.every, &g);
        g.hist.reset();
        g.marks_written = 0;
        g.unmatched = 0;
        r
    }
}

#[allow(
    clippy::float_arithmetic,
    reason = "benchmark reporting: percentile levels of the HDR curve"
)]
fn build_report(every: Option<u64>, g: &Inner) -> MarksReport {
    let h = &g.hist;
    let n = h.len();
    let mut curve = Vec::new();
    if n > 0 {
        for k in 0..=70u32 {
            let tail = 10f64.powf(-f64::from(k) / 10.0);
            // A quantile is resolved once at least one sample lies beyond it.
            if k > 0 && tail * (n as f64) < 1.0 - 1e-9 {
                break;
            }
            let q = 1.0 - tail;
            curve.push(CurvePoint {
                percentile: q * 100.0,
                value_ns: h.value_at_quantile(q),
            });
        }
        curve.push(CurvePoint {
            percentile: 100.0,
            value_ns: h.max(),
        });
    }
    let at = |q: f64| if n == 0 { 0 } else { h.value_at_quantile(q) };
    MarksReport {
        mark_every: every,
        marks_written: g.marks_written,
        matched: n,
        unmatched: g.unmatched,
        min_ns: if n == 0 { 0 } else { h.min() },
        p50_ns: at(0.5),
        p90_ns: at(0.9),
        p99_ns: at(0.99),
        p999_ns: at(0.999),
        max_ns: if n == 0 { 0 } else { h.max() },
        mean_ns: if n == 0 { 0 } else { h.mean() as u64 },
        curve,
    }
}

/// The digits after `key` in `text`, as a number.
fn number_after(text: &[u8], key: &[u8]) -> Option<u64> {
    let at = text.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = text.get(at..)?;
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if len == 0 || len > 20 {
        return None;
    }
    std::str::from_utf8(digits.get(..len)?).ok()?.parse().ok()
}

/// The trade id (`"t":N`) of a venue `@trade` payload.
pub fn trade_id(payload: &[u8]) -> Option<u64> {
    number_after(payload, b"\"t\":")
}

/// The tick of a `ClientOrderId::for_tick` id (`tk` + 10 digits + `-` + 20
/// digits).
pub fn parse_tick_id(id: &[u8]) -> Option<u64> {
    if id.len() != TICK_ID_LEN || !id.starts_with(b"tk") || id.get(12) != Some(&b'-') {
        return None;
    }
    let session = id.get(2..12)?;
    let tick = id.get(13..)?;
    if !session.iter().chain(tick).all(u8::is_ascii_digit) {
        return None;
    }
    // The session must fit a u32, like ClientOrderId's own parser.
    std::str::from_utf8(session).ok()?.parse::<u32>().ok()?;
    std::str::from_utf8(tick).ok()?.parse().ok()
}

/// The tick of an `order.place` request whose `newClientOrderId` is a tick
/// id (the WS API's JSON text; `None` for anything else).
pub fn order_place_tick(text: &[u8]) -> Option<u64> {
    let method = b"\"method\":\"order.place\"";
    if !text.windows(method.len()).any(|w| w == method) {
        return None;
    }
    let key = b"\"newClientOrderId\":\"";
    let at = text.windows(key.len()).position(|w| w == key)? + key.len();
    let rest = text.get(at..)?;
    let end = rest.iter().position(|&b| b == b'"')?;
    parse_tick_id(rest.get(..end)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_trade_ids_and_tick_ids() {
        let t = br#"{"e":"trade","E":1,"s":"BTCUSDT","t":1000000300,"p":"1.0","q":"1","T":1,"m":true,"M":true}"#;
        assert_eq!(trade_id(t), Some(1_000_000_300));
        assert_eq!(trade_id(br#"{"e":"aggTrade","a":5}"#), None);
        assert_eq!(
            parse_tick_id(b"tk0000000003-00000000000000000077"),
            Some(77)
        );
        assert_eq!(
            parse_tick_id(b"tk4294967295-18446744073709551615"),
            Some(u64::MAX)
        );
        assert_eq!(parse_tick_id(b"tk4294967296-00000000000000000077"), None);
        assert_eq!(parse_tick_id(b"tk0000000003-0000000000000000007x"), None);
        assert_eq!(parse_tick_id(b"tk0000000003x00000000000000000077"), None);
        assert_eq!(parse_tick_id(b"0000000003-0000000000000000000077"), None);
        let req = br#"{"id":3,"method":"order.place","params":{"newClientOrderId":"tk0000000001-00000000001000000300","symbol":"BTCUSDT"}}"#;
        assert_eq!(order_place_tick(req), Some(1_000_000_300));
        let cancel = br#"{"id":3,"method":"order.cancel","params":{"origClientOrderId":"tk0000000001-00000000001000000300"}}"#;
        assert_eq!(order_place_tick(cancel), None);
        let plain = br#"{"id":3,"method":"order.place","params":{"newClientOrderId":"ss0000000001-00000000000000000001"}}"#;
        assert_eq!(order_place_tick(plain), None);
    }

    #[test]
    fn matches_orders_to_first_writes() {
        let m = Marks::new(Some(100));
        assert!(m.is_marked(300) && !m.is_marked(301));
        m.on_written_at(301, 5); // not marked: ignored
        m.on_written_at(300, 1_000);
        m.on_written_at(300, 2_000); // second connection: first write kept
        m.on_order_at(300, 1_900);
        m.on_order_at(300, 5_000); // no mark left: unmatched
        m.on_order_at(400, 5_000); // never written
        let r = m.report();
        assert_eq!(r.mark_every, Some(100));
        assert_eq!(r.marks_written, 1);
        assert_eq!(r.matched, 1);
        assert_eq!(r.unmatched, 2);
        // Below 2048 ns the histogram is exact.
        assert_eq!(r.p50_ns, 900);
        assert_eq!(r.max_ns, 900);
        assert_eq!(r.curve.last().unwrap().value_ns, 900);
        let taken = m.take_report();
        assert_eq!(taken, r);
        let empty = m.report();
        assert_eq!(
            (empty.matched, empty.unmatched, empty.marks_written),
            (0, 0, 0)
        );
        assert!(empty.curve.is_empty());
    }

    #[test]
    fn old_marks_are_evicted_by_newer_ones() {
        let m = Marks::new(Some(10));
        m.on_written_at(10, 1);
        m.on_written_at(10 + 10 * RING as u64, 2); // same slot
        m.on_order_at(10, 50);
        assert_eq!(m.report().unmatched, 1);
        m.on_order_at(10 + 10 * RING as u64, 52);
        assert_eq!(m.report().matched, 1);
        assert_eq!(m.report().p50_ns, 50);
    }

    #[test]
    fn disabled_marks_ignore_everything() {
        let m = Marks::new(None);
        assert!(!m.enabled());
        assert_eq!(m.marked_trade(br#"{"t":100}"#), None);
        let req = br#"{"method":"order.place","params":{"newClientOrderId":"tk0000000001-00000000000000000100"}}"#;
        assert_eq!(m.on_request(req, 10), None);
        assert_eq!(Marks::new(Some(0)).every(), None);
    }

    #[test]
    fn curve_is_monotonic_and_resolved_by_the_sample_count() {
        let m = Marks::new(Some(1));
        for t in 1..=1000u64 {
            m.on_written_at(t, 0);
            m.on_order_at(t, t * 100);
        }
        let r = m.report();
        assert_eq!(r.matched, 1000);
        // 1000 samples resolve up to 99.9 % (k = 30), then the max.
        assert_eq!(r.curve.len(), 32);
        assert!(r.curve.windows(2).all(|w| w[0].value_ns <= w[1].value_ns));
        assert!(
            r.curve
                .windows(2)
                .all(|w| w[0].percentile < w[1].percentile)
        );
        assert_eq!(r.curve.last().unwrap().percentile, 100.0);
    }
}
