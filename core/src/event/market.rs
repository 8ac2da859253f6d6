//! Market data events from the feed to the engine.
//!
//! Owns [`MarketEvent`], one 64-byte cache line per top-of-book update,
//! trade, depth level or staleness change, and [`MarketData`], the typed view
//! the engine matches on. The feed builds events with [`MarketEvent::new`]
//! and stamps them; nothing here parses wire text, allocates or reads a
//! clock.
//!
//! Layout (`#[repr(C, align(64))]`, exactly 64 bytes). The four value slots
//! mean different things per kind, as in hftbacktest's `Event`; use
//! [`MarketEvent::data`] rather than reading them directly:
//!
//! ```text
//!  0       2      3       4           8
//!  +-------+------+-------+-----------+
//!  | instr | kind | flags | (padding) |
//!  +-------+------+-------+-----------+
//!  8  id      u64    update id `u` (top_of_book, depth_level) | trade id `t` | 0
//! 16  price   Price  bid price | trade price | level price | 0
//! 24  qty     Qty    bid qty   | trade qty   | level qty (0 = level removed) | 0
//! 32  price2  Price  ask price | 0           | 0           | 0
//! 40  aux     u64    ask qty (raw i64 bits) | trade time ms `T` | event time ms `E` | 0
//! 48  stamps  Stamps recv (48), decode (56)
//! 64
//! flags: bit 0 = buyer is maker (trade), bit 1 = ask side (depth_level)
//! ```
//!
//! Binance Spot's `bookTicker` carries no event time, which is why the
//! top-of-book kind can use the time slot for its ask quantity.

use serde::Serialize;

use crate::event::order::Side;
use crate::event::stamp::Stamps;
use crate::instrument::InstrumentId;
use crate::num::{Price, Qty};

wire_enum! {
    /// What a [`MarketEvent`] holds.
    MarketKind {
        /// Best bid and ask (`bookTicker`).
        TopOfBook = 1 => "top_of_book",
        /// A public trade (`trade`).
        Trade = 2 => "trade",
        /// One changed price level of a depth diff (`depth@100ms`).
        DepthLevel = 3 => "depth_level",
        /// The feed marked the instrument stale (no update for the
        /// configured time, or the connection dropped): stop opening risk.
        Stale = 4 => "stale",
        /// The instrument is fresh again.
        Fresh = 5 => "fresh",
    }
}

/// Flag: the trade's buyer was the maker (Binance `m`; the aggressor sold).
pub(super) const FLAG_BUYER_IS_MAKER: u8 = 1 << 0;
/// Flag: the depth level is on the ask side.
pub(super) const FLAG_ASK_SIDE: u8 = 1 << 1;

/// Best bid and ask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct TopOfBook {
    /// Order book update id (`u`).
    #[serde(serialize_with = "super::json::u64_str")]
    pub update_id: u64,
    /// Best bid price.
    pub bid_price: Price,
    /// Quantity at the best bid.
    pub bid_qty: Qty,
    /// Best ask price.
    pub ask_price: Price,
    /// Quantity at the best ask.
    pub ask_qty: Qty,
}

/// A public trade.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Trade {
    /// Venue trade id (`t`).
    #[serde(serialize_with = "super::json::u64_str")]
    pub trade_id: u64,
    /// Trade price.
    pub price: Price,
    /// Trade quantity.
    pub qty: Qty,
    /// The buyer was the maker (`m`), i.e. the aggressor sold.
    pub buyer_is_maker: bool,
    /// Venue trade time in Unix milliseconds (`T`).
    pub trade_time_ms: u64,
}

impl Trade {
    /// The side that crossed the spread.
    #[inline]
    pub const fn aggressor(&self) -> Side {
        if self.buyer_is_maker {
            Side::Sell
        } else {
            Side::Buy
        }
    }
}

/// One changed price level of a depth diff.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct DepthLevel {
    /// Final update id of the diff message (`u`).
    #[serde(serialize_with = "super::json::u64_str")]
    pub update_id: u64,
    /// `Buy` for a bid level, `Sell` for an ask level.
    pub side: Side,
    /// Level price.
    pub price: Price,
    /// New quantity at the level; zero removes the level.
    pub qty: Qty,
    /// Venue event time in Unix milliseconds (`E`).
    pub event_time_ms: u64,
}

/// The typed content of a [`MarketEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MarketData {
    /// Best bid and ask.
    TopOfBook(TopOfBook),
    /// A public trade.
    Trade(Trade),
    /// One depth level change.
    DepthLevel(DepthLevel),
    /// The instrument went stale.
    Stale,
    /// The instrument is fresh again.
    Fresh,
}

/// A market data event: one cache line, `Copy`, no heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C, align(64))]
pub struct MarketEvent {
    /// Instrument the event is about.
    pub instrument: InstrumentId,
    pub(super) kind: MarketKind,
    pub(super) flags: u8,
    pub(super) id: u64,
    pub(super) price: Price,
    pub(super) qty: Qty,
    pub(super) price2: Price,
    pub(super) aux: u64,
    /// Receive and decode stamps.
    pub stamps: Stamps,
}

const _: () = assert!(size_of::<MarketEvent>() <= 64);
const _: () = assert!(size_of::<MarketEvent>() == 64);
const _: () = assert!(align_of::<MarketEvent>() == 64);

impl MarketEvent {
    /// An all-zero top of book on instrument 0, for tests and benches.
    pub const ZERO: MarketEvent = MarketEvent::new(
        InstrumentId(0),
        MarketData::TopOfBook(TopOfBook {
            update_id: 0,
            bid_price: Price::ZERO,
            bid_qty: Qty::ZERO,
            ask_price: Price::ZERO,
            ask_qty: Qty::ZERO,
        }),
        Stamps::ZERO,
    );

    /// Packs `data` into the slot layout in the module docs.
    pub const fn new(instrument: InstrumentId, data: MarketData, stamps: Stamps) -> MarketEvent {
        let mut ev = MarketEvent {
            instrument,
            kind: MarketKind::Stale,
            flags: 0,
            id: 0,
            price: Price::ZERO,
            qty: Qty::ZERO,
            price2: Price::ZERO,
            aux: 0,
            stamps,
        };
        match data {
            MarketData::TopOfBook(t) => {
                ev.kind = MarketKind::TopOfBook;
                ev.id = t.update_id;
                ev.price = t.bid_price;
                ev.qty = t.bid_qty;
                ev.price2 = t.ask_price;
                // Bit-for-bit: read back with `as i64` in `data()`.
                ev.aux = t.ask_qty.raw() as u64;
            }
            MarketData::Trade(t) => {
                ev.kind = MarketKind::Trade;
                ev.flags = if t.buyer_is_maker {
                    FLAG_BUYER_IS_MAKER
                } else {
                    0
                };
                ev.id = t.trade_id;
                ev.price = t.price;
                ev.qty = t.qty;
                ev.aux = t.trade_time_ms;
            }
            MarketData::DepthLevel(d) => {
                ev.kind = MarketKind::DepthLevel;
                ev.flags = match d.side {
                    Side::Buy => 0,
                    Side::Sell => FLAG_ASK_SIDE,
                };
                ev.id = d.update_id;
                ev.price = d.price;
                ev.qty = d.qty;
                ev.aux = d.event_time_ms;
            }
            MarketData::Stale => ev.kind = MarketKind::Stale,
            MarketData::Fresh => ev.kind = MarketKind::Fresh,
        }
        ev
    }

    /// What the event holds.
    #[inline]
    pub const fn kind(&self) -> MarketKind {
        self.kind
    }

    /// The typed content.
    #[inline]
    pub const fn data(&self) -> MarketData {
        match self.kind {
            MarketKind::TopOfBook => MarketData::TopOfBook(TopOfBook {
                update_id: self.id,
                bid_price: self.price,
                bid_qty: self.qty,
                ask_price: self.price2,
                ask_qty: Qty::from_raw(self.aux as i64),
            }),
            MarketKind::Trade => MarketData::Trade(Trade {
                trade_id: self.id,
                price: self.price,
                qty: self.qty,
                buyer_is_maker: self.flags & FLAG_BUYER_IS_MAKER != 0,
                trade_time_ms: self.aux,
            }),
            MarketKind::DepthLevel => MarketData::DepthLevel(DepthLevel {
                update_id: self.id,
                side: if self.flags & FLAG_ASK_SIDE != 0 {
                    Side::Sell
                } else {
                    Side::Buy
                },
                price: self.price,
                qty: self.qty,
                event_time_ms: self.aux,
            }),
            MarketKind::Stale => MarketData::Stale,
            MarketKind::Fresh => MarketData::Fresh,
        }
    }

    /// The venue's time for this event in Unix milliseconds, if it has one
    /// (trades and depth levels; `bookTicker` carries none).
    #[inline]
    pub const fn venue_time_ms(&self) -> Option<u64> {
        match self.kind {
            MarketKind::Trade | MarketKind::DepthLevel => Some(self.aux),
            _ => None,
        }
    }
}

impl Default for MarketEvent {
    fn default() -> Self {
        MarketEvent::ZERO
    }
}

/// The export shape: `{"instrument":…, "kind":…, <kind fields>, "recv_ns":…, "decode_ns":…}`.
#[derive(Serialize)]
struct MarketEventJson {
    instrument: InstrumentId,
    #[serde(flatten)]
    data: MarketData,
    #[serde(flatten)]
    stamps: Stamps,
}

impl Serialize for MarketEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MarketEventJson {
            instrument: self.instrument,
            data: self.data(),
            stamps: self.stamps,
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::clock::Nanos;

    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }
    fn q(s: &str) -> Qty {
        Qty::parse(s).unwrap()
    }

    #[test]
    fn every_kind_round_trips_through_the_slots() {
        let cases = [
            MarketData::TopOfBook(TopOfBook {
                update_id: 400_900_217,
                bid_price: p("25.35190000"),
                bid_qty: q("31.21000000"),
                ask_price: p("25.36520000"),
                ask_qty: Qty::from_raw(i64::MIN),
            }),
            MarketData::Trade(Trade {
                trade_id: 12345,
                price: p("0.001"),
                qty: q("100"),
                buyer_is_maker: true,
                trade_time_ms: 1_672_515_782_136,
            }),
            MarketData::DepthLevel(DepthLevel {
                update_id: 160,
                side: Side::Sell,
                price: p("0.0026"),
                qty: Qty::ZERO,
                event_time_ms: u64::MAX,
            }),
            MarketData::Stale,
            MarketData::Fresh,
        ];
        for data in cases {
            let stamps = Stamps {
                recv: Nanos(5),
                decode: Nanos(9),
            };
            let ev = MarketEvent::new(InstrumentId(7), data, stamps);
            assert_eq!(ev.data(), data);
            assert_eq!(ev.instrument, InstrumentId(7));
            assert_eq!(ev.stamps, stamps);
        }
    }

    #[test]
    fn venue_time_only_where_the_venue_sends_one() {
        assert_eq!(MarketEvent::ZERO.venue_time_ms(), None);
        let t = MarketEvent::new(
            InstrumentId(0),
            MarketData::Trade(Trade {
                trade_time_ms: 42,
                ..Trade::default()
            }),
            Stamps::ZERO,
        );
        assert_eq!(t.venue_time_ms(), Some(42));
        assert_eq!(t.kind(), MarketKind::Trade);
        if let MarketData::Trade(tr) = t.data() {
            assert_eq!(tr.aggressor(), Side::Buy);
        }
    }

    #[test]
    fn kinds_round_trip_through_u8() {
        for k in MarketKind::ALL {
            assert_eq!(MarketKind::from_u8(k.as_u8()), Some(*k));
        }
        assert_eq!(MarketKind::from_u8(0), None);
        assert_eq!(MarketKind::from_u8(6), None);
    }

    #[test]
    fn serializes_for_export() {
        let ev = MarketEvent::new(
            InstrumentId(1),
            MarketData::TopOfBook(TopOfBook {
                update_id: u64::MAX,
                bid_price: p("1.5"),
                bid_qty: q("2"),
                ask_price: p("1.6"),
                ask_qty: q("0.00100000"),
            }),
            Stamps {
                recv: Nanos(100),
                decode: Nanos(150),
            },
        );
        let v: serde_json::Value = serde_json::to_value(ev).unwrap();
        assert_eq!(v["instrument"], 1);
        assert_eq!(v["kind"], "top_of_book");
        assert_eq!(v["update_id"], "18446744073709551615");
        assert_eq!(v["ask_qty"], "0.001");
        assert_eq!(v["recv_ns"], 100);
        assert_eq!(v["decode_ns"], 150);
        let stale = MarketEvent::new(InstrumentId(1), MarketData::Stale, Stamps::ZERO);
        let v: serde_json::Value = serde_json::to_value(stale).unwrap();
        assert_eq!(v["kind"], "stale");
    }
}
