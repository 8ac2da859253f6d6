//! Backpressure on the md ring: conflation of top-of-book updates.
//!
//! Owns [`Conflator`], the feed's only way onto the md ring
//! ([`MdProducer`]). When the ring is full:
//!
//! * **top of book** (`bookTicker`) and **stale/fresh** status events are
//!   held in a fixed slot table indexed by [`InstrumentId`], one slot of each
//!   kind per instrument, latest wins: a newer event replaces a held one
//!   (counted in [`ConflateCounters::conflated`]). Both kinds describe a
//!   *state*, so the newest one is all the engine needs;
//! * **depth levels** are never conflated or dropped silently: the push is
//!   refused with [`ForcedResync`] (counted), and the feed must resync that
//!   instrument's book ([`crate::book::BookSync::reset`]), which the engine
//!   sees as a book that is no longer synced;
//! * **trades** are facts, not states: they cannot be conflated, so a refused
//!   trade is dropped and counted ([`Refused::TradeDropped`]).
//!
//! **Ordering.** Every push first [`Conflator::flush`]es the held slots, in
//! **arrival order** (the order in which each slot became occupied; a
//! replacement keeps its slot's place), so older state reaches the engine
//! first. An event for an instrument that still has a held slot after the
//! flush is never pushed ahead of it: a top-of-book or status event is held
//! too, a depth level or trade is refused. So per instrument the engine sees
//! events in arrival order, minus the conflated ones. (Across the two slot
//! kinds of one instrument, a replacement keeps its place: top, stale, top′
//! is delivered top′, stale; the stale detector's next `Fresh` then follows.)
//!
//! **Nothing is lost silently**: every event handed in is either pushed
//! (`pushed` + `flushed`), still held ([`Conflator::pending`]), replaced
//! (`conflated`) or refused (`depth_refused`, `trades_dropped`,
//! `unknown_dropped`), and those counts always add up to the events handed
//! in.
//!
//! What it never does: allocate after [`Conflator::new`], block, retry in a
//! loop, or do unbounded work (a flush touches at most two slots per
//! instrument). Single-threaded: the feed agent owns it.

use talon_core::event::{MarketEvent, MarketKind};
use talon_core::instrument::InstrumentId;
use talon_core::ring::MdProducer;

/// A depth level the full md ring refused: the book of `0` must be resynced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("md ring full: depth update for instrument {0} refused; its book must resync")]
pub struct ForcedResync(pub InstrumentId);

/// An event [`Conflator::push`] could neither push nor hold (counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Refused {
    /// A depth level: resync that instrument's book.
    #[error(transparent)]
    ForcedResync(#[from] ForcedResync),
    /// A trade (trades cannot be conflated).
    #[error("md ring full: trade for instrument {0} dropped")]
    TradeDropped(InstrumentId),
    /// A top-of-book or status event for an instrument outside the slot
    /// table (an id ≥ the count given to [`Conflator::new`]).
    #[error("md ring full: event for unknown instrument {0} dropped")]
    UnknownInstrument(InstrumentId),
}

/// What [`Conflator::push`] did with an event it accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// Pushed onto the md ring.
    Pushed,
    /// Held in its instrument's empty slot; a later flush pushes it.
    Held,
    /// Replaced an event held in its instrument's slot (latest wins; the
    /// older one is counted in [`ConflateCounters::conflated`]).
    Conflated,
}

/// Counters of one [`Conflator`] (plain `u64`s: owned by the feed thread).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConflateCounters {
    /// Events pushed straight onto the ring.
    pub pushed: u64,
    /// Events put into an empty slot.
    pub held: u64,
    /// Held events replaced by a newer one of the same instrument and kind
    /// (never delivered; superseded).
    pub conflated: u64,
    /// Held events later pushed by a flush.
    pub flushed: u64,
    /// Depth levels refused ([`ForcedResync`]).
    pub depth_refused: u64,
    /// Trades refused.
    pub trades_dropped: u64,
    /// Top-of-book/status events for unknown instruments refused.
    pub unknown_dropped: u64,
}

impl ConflateCounters {
    /// Events refused (never delivered, not conflated).
    pub const fn refused(&self) -> u64 {
        self.depth_refused + self.trades_dropped + self.unknown_dropped
    }

    /// Events that reached the ring.
    pub const fn delivered(&self) -> u64 {
        self.pushed + self.flushed
    }
}

/// Which slot of an instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotKind {
    Top,
    Status,
}

#[derive(Clone, Copy, Debug)]
struct QueueEntry {
    instrument: u16,
    kind: SlotKind,
}

/// Per-instrument latest-wins slots in front of the md ring (see the module
/// docs).
///
/// ```
/// use talon_core::{event::{MarketData, MarketEvent, Stamps, TopOfBook}, instrument::InstrumentId, ring::ring};
/// use talon_feed::conflate::{Conflator, Delivery};
/// let (mut md, mut rx) = ring::<MarketEvent>("md", 1);
/// let top = |id| MarketEvent::new(InstrumentId(0), MarketData::TopOfBook(TopOfBook { update_id: id, ..Default::default() }), Stamps::ZERO);
/// let mut c = Conflator::new(4);
/// assert_eq!(c.push(&mut md, top(1)), Ok(Delivery::Pushed));
/// assert_eq!(c.push(&mut md, top(2)), Ok(Delivery::Held));      // ring full
/// assert_eq!(c.push(&mut md, top(3)), Ok(Delivery::Conflated)); // 2 superseded
/// rx.pop();
/// assert_eq!(c.flush(&mut md), 1);
/// assert_eq!(rx.pop().map(|e| e.data()), Some(top(3).data()));
/// assert_eq!(c.counters().conflated, 1);
/// ```
#[derive(Debug)]
pub struct Conflator {
    top: Box<[Option<MarketEvent>]>,
    status: Box<[Option<MarketEvent>]>,
    /// Occupied slots in arrival order (ring buffer of `2 × instruments`:
    /// each occupied slot has exactly one entry).
    queue: Box<[QueueEntry]>,
    head: usize,
    len: usize,
    counters: ConflateCounters,
}

impl Conflator {
    /// Slots for instruments `0..instruments` (ids from the instrument
    /// table; at most `u16::MAX + 1`). All memory is allocated here.
    pub fn new(instruments: usize) -> Conflator {
        let n = instruments.min(usize::from(u16::MAX) + 1);
        Conflator {
            top: vec![None; n].into_boxed_slice(),
            status: vec![None; n].into_boxed_slice(),
            queue: vec![
                QueueEntry {
                    instrument: 0,
                    kind: SlotKind::Top,
                };
                2 * n
            ]
            .into_boxed_slice(),
            head: 0,
            len: 0,
            counters: ConflateCounters::default(),
        }
    }

    /// Events held, waiting for room in the ring.
    #[inline]
    pub fn pending(&self) -> usize {
        self.len
    }

    /// The counters.
    #[inline]
    pub fn counters(&self) -> ConflateCounters {
        self.counters
    }

    /// Whether `instrument` has a held event (so nothing of it may be pushed
    /// ahead).
    #[inline]
    pub fn is_pending(&self, instrument: InstrumentId) -> bool {
        let i = instrument.index();
        matches!(self.top.get(i), Some(Some(_))) || matches!(self.status.get(i), Some(Some(_)))
    }

    /// Pushes held events in arrival order until the ring is full or none
    /// is left; returns how many were pushed. At most `2 × instruments`
    /// pushes. Call once per duty cycle even with nothing new to send.
    pub fn flush(&mut self, md: &mut MdProducer) -> usize {
        let mut pushed = 0;
        while self.len > 0 {
            let entry = self.queue[self.head];
            let slot = match self.slot_mut(entry.instrument, entry.kind) {
                Some(slot) => slot,
                None => {
                    // Unreachable: entries are only made for in-range ids.
                    self.pop_front();
                    continue;
                }
            };
            let Some(ev) = *slot else {
                // Unreachable: an entry exists only while its slot is full.
                self.pop_front();
                continue;
            };
            if md.push(ev).is_err() {
                break;
            }
            *slot = None;
            self.pop_front();
            self.counters.flushed += 1;
            pushed += 1;
        }
        pushed
    }

    /// Hands one event to the ring, after flushing held ones: top-of-book
    /// and stale/fresh are held or conflated when they cannot be pushed;
    /// depth levels and trades are refused (see the module docs).
    pub fn push(&mut self, md: &mut MdProducer, ev: MarketEvent) -> Result<Delivery, Refused> {
        match ev.kind() {
            MarketKind::TopOfBook => self.push_state(md, ev, SlotKind::Top),
            MarketKind::Stale | MarketKind::Fresh => self.push_state(md, ev, SlotKind::Status),
            MarketKind::DepthLevel => self
                .push_depth(md, ev)
                .map(|()| Delivery::Pushed)
                .map_err(Refused::from),
            MarketKind::Trade => {
                if self.push_ordered(md, ev) {
                    Ok(Delivery::Pushed)
                } else {
                    self.counters.trades_dropped += 1;
                    Err(Refused::TradeDropped(ev.instrument))
                }
            }
        }
    }

    /// Pushes one depth level, after flushing held events; if it cannot be
    /// pushed (ring full, or its instrument still has a held event it must
    /// not overtake) it is refused and counted, and the feed must resync
    /// that instrument's book. Never conflated.
    pub fn push_depth(&mut self, md: &mut MdProducer, ev: MarketEvent) -> Result<(), ForcedResync> {
        if self.push_ordered(md, ev) {
            Ok(())
        } else {
            self.counters.depth_refused += 1;
            Err(ForcedResync(ev.instrument))
        }
    }

    /// Flush, then push `ev` unless its instrument still has a held event.
    fn push_ordered(&mut self, md: &mut MdProducer, ev: MarketEvent) -> bool {
        if self.len > 0 {
            self.flush(md);
            if self.is_pending(ev.instrument) {
                return false;
            }
        }
        if md.push(ev).is_ok() {
            self.counters.pushed += 1;
            true
        } else {
            false
        }
    }

    fn push_state(
        &mut self,
        md: &mut MdProducer,
        ev: MarketEvent,
        kind: SlotKind,
    ) -> Result<Delivery, Refused> {
        if self.len > 0 {
            self.flush(md);
        }
        let instrument = ev.instrument.0;
        let Some(held) = self.slot_mut(instrument, kind).map(|s| s.is_some()) else {
            // No slot: push if possible, else refuse (counted).
            return if md.push(ev).is_ok() {
                self.counters.pushed += 1;
                Ok(Delivery::Pushed)
            } else {
                self.counters.unknown_dropped += 1;
                Err(Refused::UnknownInstrument(ev.instrument))
            };
        };
        if held {
            if let Some(slot) = self.slot_mut(instrument, kind) {
                *slot = Some(ev);
            }
            self.counters.conflated += 1;
            return Ok(Delivery::Conflated);
        }
        // The other slot of this instrument may be held: do not overtake it.
        if !self.is_pending(ev.instrument) && md.push(ev).is_ok() {
            self.counters.pushed += 1;
            return Ok(Delivery::Pushed);
        }
        if let Some(slot) = self.slot_mut(instrument, kind) {
            *slot = Some(ev);
        }
        self.push_back(QueueEntry { instrument, kind });
        self.counters.held += 1;
        Ok(Delivery::Held)
    }

    fn slot_mut(&mut self, instrument: u16, kind: SlotKind) -> Option<&mut Option<MarketEvent>> {
        let table = match kind {
            SlotKind::Top => &mut self.top,
            SlotKind::Status => &mut self.status,
        };
        table.get_mut(usize::from(instrument))
    }

    fn push_back(&mut self, entry: QueueEntry) {
        let cap = self.queue.len();
        // `len < cap` always: at most one entry per slot and `cap` = slots.
        if self.len < cap {
            self.queue[(self.head + self.len) % cap] = entry;
            self.len += 1;
        }
    }

    fn pop_front(&mut self) {
        let cap = self.queue.len();
        if self.len > 0 {
            self.head = (self.head + 1) % cap;
            self.len -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use talon_core::event::{DepthLevel, MarketData, Side, Stamps, TopOfBook, Trade};
    use talon_core::num::{Price, Qty};
    use talon_core::ring::{MdConsumer, ring};

    fn top(inst: u16, id: u64) -> MarketEvent {
        MarketEvent::new(
            InstrumentId(inst),
            MarketData::TopOfBook(TopOfBook {
                update_id: id,
                bid_price: Price::from_raw(100),
                bid_qty: Qty::from_raw(1),
                ask_price: Price::from_raw(101),
                ask_qty: Qty::from_raw(1),
            }),
            Stamps::ZERO,
        )
    }
    fn depth(inst: u16, id: u64) -> MarketEvent {
        MarketEvent::new(
            InstrumentId(inst),
            MarketData::DepthLevel(DepthLevel {
                update_id: id,
                side: Side::Buy,
                price: Price::from_raw(100),
                qty: Qty::from_raw(1),
                event_time_ms: 0,
            }),
            Stamps::ZERO,
        )
    }
    fn trade(inst: u16, id: u64) -> MarketEvent {
        MarketEvent::new(
            InstrumentId(inst),
            MarketData::Trade(Trade {
                trade_id: id,
                ..Trade::default()
            }),
            Stamps::ZERO,
        )
    }
    fn status(inst: u16, stale: bool) -> MarketEvent {
        let d = if stale {
            MarketData::Stale
        } else {
            MarketData::Fresh
        };
        MarketEvent::new(InstrumentId(inst), d, Stamps::ZERO)
    }
    /// (instrument, kind, id) of everything in the ring.
    fn drain(rx: &mut MdConsumer) -> Vec<(u16, MarketKind, u64)> {
        let mut out = Vec::new();
        while let Some(ev) = rx.pop() {
            let id = match ev.data() {
                MarketData::TopOfBook(t) => t.update_id,
                MarketData::DepthLevel(d) => d.update_id,
                MarketData::Trade(t) => t.trade_id,
                MarketData::Stale | MarketData::Fresh => 0,
            };
            out.push((ev.instrument.0, ev.kind(), id));
        }
        out
    }
    fn accounted(c: &Conflator) -> u64 {
        let k = c.counters();
        k.delivered() + k.conflated + k.refused() + c.pending() as u64
    }

    use MarketKind::{DepthLevel as D, Fresh as F, Stale as S, TopOfBook as T};

    #[test]
    fn pushes_straight_through_when_there_is_room() {
        let (mut md, mut rx) = ring("md", 8);
        let mut c = Conflator::new(2);
        assert_eq!(c.push(&mut md, top(0, 1)), Ok(Delivery::Pushed));
        assert_eq!(c.push(&mut md, depth(1, 2)), Ok(Delivery::Pushed));
        assert_eq!(c.push(&mut md, trade(0, 3)), Ok(Delivery::Pushed));
        assert_eq!(c.pending(), 0);
        assert_eq!(c.counters().pushed, 3);
        assert_eq!(
            drain(&mut rx),
            [(0, T, 1), (1, D, 2), (0, MarketKind::Trade, 3)]
        );
    }

    #[test]
    fn latest_wins_per_instrument_with_exact_counts() {
        let (mut md, mut rx) = ring("md", 2);
        let mut c = Conflator::new(3);
        c.push(&mut md, top(0, 1)).unwrap();
        c.push(&mut md, top(1, 1)).unwrap(); // ring now full
        assert_eq!(c.push(&mut md, top(0, 2)), Ok(Delivery::Held));
        assert_eq!(c.push(&mut md, top(2, 1)), Ok(Delivery::Held));
        for id in 3..=10 {
            assert_eq!(c.push(&mut md, top(0, id)), Ok(Delivery::Conflated));
        }
        assert_eq!(c.push(&mut md, top(2, 2)), Ok(Delivery::Conflated));
        assert_eq!(c.pending(), 2);
        let k = c.counters();
        assert_eq!((k.pushed, k.held, k.conflated, k.flushed), (2, 2, 9, 0));
        assert_eq!(drain(&mut rx), [(0, T, 1), (1, T, 1)]);
        // Arrival order of the slots: instrument 0 first, then 2.
        assert_eq!(c.flush(&mut md), 2);
        assert_eq!(drain(&mut rx), [(0, T, 10), (2, T, 2)]);
        assert_eq!(c.pending(), 0);
        assert_eq!(accounted(&c), 13, "every event handed in is accounted for");
    }

    #[test]
    fn flush_is_partial_when_the_ring_has_little_room() {
        let (mut md, mut rx) = ring("md", 1);
        let mut c = Conflator::new(4);
        c.push(&mut md, top(3, 1)).unwrap();
        for inst in [2, 1, 0] {
            assert_eq!(c.push(&mut md, top(inst, 5)), Ok(Delivery::Held));
        }
        assert_eq!(c.flush(&mut md), 0);
        assert_eq!(drain(&mut rx), [(3, T, 1)]);
        assert_eq!(c.flush(&mut md), 1);
        assert_eq!(c.pending(), 2);
        assert_eq!(drain(&mut rx), [(2, T, 5)]);
        // A push flushes first: the held 1 goes before the new event (3),
        // which is then held because the ring is full again.
        assert_eq!(c.push(&mut md, top(3, 2)), Ok(Delivery::Held));
        assert_eq!(drain(&mut rx), [(1, T, 5)]);
        assert_eq!(c.flush(&mut md), 1);
        assert_eq!(drain(&mut rx), [(0, T, 5)]);
        assert_eq!(c.flush(&mut md), 1);
        assert_eq!(drain(&mut rx), [(3, T, 2)]);
        assert_eq!(c.counters().flushed, 4);
        assert_eq!(accounted(&c), 5);
    }

    #[test]
    fn depth_is_never_conflated_but_refused_with_a_forced_resync() {
        let (mut md, mut rx) = ring("md", 1);
        let mut c = Conflator::new(2);
        c.push_depth(&mut md, depth(0, 1)).unwrap();
        assert_eq!(
            c.push_depth(&mut md, depth(0, 2)),
            Err(ForcedResync(InstrumentId(0)))
        );
        assert_eq!(
            c.push(&mut md, depth(1, 3)),
            Err(Refused::ForcedResync(ForcedResync(InstrumentId(1))))
        );
        assert_eq!(c.counters().depth_refused, 2);
        assert_eq!(c.counters().conflated, 0);
        assert_eq!(drain(&mut rx), [(0, D, 1)]);
        assert_eq!(c.push_depth(&mut md, depth(0, 4)), Ok(()));
        assert_eq!(accounted(&c), 4);
    }

    #[test]
    fn depth_and_trades_never_overtake_a_held_top_of_the_same_instrument() {
        let (mut md, mut rx) = ring("md", 2);
        let mut c = Conflator::new(2);
        c.push(&mut md, top(0, 1)).unwrap();
        c.push(&mut md, top(1, 1)).unwrap();
        assert_eq!(c.push(&mut md, top(0, 2)), Ok(Delivery::Held));
        assert_eq!(drain(&mut rx), [(0, T, 1), (1, T, 1)]);
        // Ring empty, but both 0 and 1 events: flush pushes top(0,2) first.
        assert_eq!(c.push_depth(&mut md, depth(0, 3)), Ok(()));
        assert_eq!(drain(&mut rx), [(0, T, 2), (0, D, 3)]);
        // Now hold a top for 0 with the ring full, then free one slot:
        c.push(&mut md, top(1, 2)).unwrap();
        c.push(&mut md, top(1, 3)).unwrap();
        assert_eq!(c.push(&mut md, top(0, 4)), Ok(Delivery::Held));
        rx.pop();
        // Flush takes the free slot for top(0,4); the depth cannot overtake.
        assert_eq!(
            c.push_depth(&mut md, depth(0, 5)),
            Err(ForcedResync(InstrumentId(0)))
        );
        assert_eq!(
            c.push(&mut md, trade(0, 6)),
            Err(Refused::TradeDropped(InstrumentId(0)))
        );
        assert_eq!(drain(&mut rx), [(1, T, 3), (0, T, 4)]);
        // An instrument with nothing held is not blocked by others' slots.
        assert_eq!(c.push_depth(&mut md, depth(1, 7)), Ok(()));
        let k = c.counters();
        assert_eq!((k.depth_refused, k.trades_dropped), (1, 1));
        assert_eq!(accounted(&c), 10);
    }

    #[test]
    fn status_events_have_their_own_slot_and_keep_per_instrument_order() {
        let (mut md, mut rx) = ring("md", 1);
        let mut c = Conflator::new(2);
        c.push(&mut md, top(1, 1)).unwrap();
        assert_eq!(c.push(&mut md, top(0, 1)), Ok(Delivery::Held));
        assert_eq!(c.push(&mut md, status(0, true)), Ok(Delivery::Held));
        assert_eq!(c.push(&mut md, status(0, false)), Ok(Delivery::Conflated));
        assert_eq!(c.push(&mut md, status(1, true)), Ok(Delivery::Held));
        drain(&mut rx);
        let mut seen = Vec::new();
        while c.pending() > 0 {
            c.flush(&mut md);
            seen.extend(drain(&mut rx));
        }
        assert_eq!(seen, [(0, T, 1), (0, F, 0), (1, S, 0)]);
        assert_eq!(accounted(&c), 5);
    }

    #[test]
    fn status_is_held_behind_a_held_top_even_with_room() {
        let (mut md, mut rx) = ring("md", 1);
        let mut c = Conflator::new(1);
        c.push(&mut md, top(0, 1)).unwrap();
        assert_eq!(c.push(&mut md, top(0, 2)), Ok(Delivery::Held));
        drain(&mut rx);
        // push() flushes top(0,2) into the single free slot, then the status
        // cannot go: held, not pushed ahead or dropped.
        assert_eq!(c.push(&mut md, status(0, true)), Ok(Delivery::Held));
        assert_eq!(drain(&mut rx), [(0, T, 2)]);
        c.flush(&mut md);
        assert_eq!(drain(&mut rx), [(0, S, 0)]);
    }

    #[test]
    fn unknown_instruments_are_pushed_or_refused_never_panic() {
        let (mut md, mut rx) = ring("md", 1);
        let mut c = Conflator::new(1);
        assert_eq!(c.push(&mut md, top(9, 1)), Ok(Delivery::Pushed));
        assert_eq!(
            c.push(&mut md, top(9, 2)),
            Err(Refused::UnknownInstrument(InstrumentId(9)))
        );
        assert_eq!(
            c.push(&mut md, status(u16::MAX, true)),
            Err(Refused::UnknownInstrument(InstrumentId(u16::MAX)))
        );
        assert_eq!(
            c.push(&mut md, trade(9, 3)),
            Err(Refused::TradeDropped(InstrumentId(9)))
        );
        assert_eq!(drain(&mut rx), [(9, T, 1)]);
        assert_eq!(c.counters().unknown_dropped, 2);
        let mut none = Conflator::new(0);
        assert_eq!(none.flush(&mut md), 0);
        assert_eq!(accounted(&c), 4);
    }

    #[test]
    fn random_traffic_loses_nothing_silently_and_keeps_order() {
        // Deterministic xorshift traffic through a tiny ring with a slow
        // consumer; checks the accounting identity and per-instrument order.
        let (mut md, mut rx) = ring("md", 3);
        let n = 4u16;
        let mut c = Conflator::new(usize::from(n));
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next_id = [1u64; 4];
        let mut last_seen = [0u64; 4];
        let mut handed = 0u64;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let inst = (x % u64::from(n)) as u16;
            let id = next_id[usize::from(inst)];
            next_id[usize::from(inst)] += 1;
            let ev = match (x >> 8) % 4 {
                0 => depth(inst, id),
                1 => trade(inst, id),
                _ => top(inst, id),
            };
            let _ = c.push(&mut md, ev);
            handed += 1;
            if step.is_multiple_of(3) {
                c.flush(&mut md);
            }
            if (x >> 20).is_multiple_of(2) {
                for (i, _, id) in drain(&mut rx) {
                    let i = usize::from(i);
                    assert!(
                        id > last_seen[i],
                        "instrument {i}: {id} after {}",
                        last_seen[i]
                    );
                    last_seen[i] = id;
                }
            }
            assert_eq!(accounted(&c), handed);
        }
        let k = c.counters();
        assert!(
            k.conflated > 0 && k.depth_refused > 0 && k.flushed > 0,
            "{k:?}"
        );
    }
}
