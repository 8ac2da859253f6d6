//! The decoded message types: borrowed views of one venue message with its
//! numbers already in fixed point, and their conversion to
//! `talon_core::event::MarketEvent`s.
//!
//! Owns [`Decoded`], [`BookTicker`], [`TradeMsg`], [`AggTradeMsg`],
//! [`DepthUpdate`], [`DepthSnapshot`], [`ControlReply`], [`ReplyId`] and
//! [`Levels`]. Nothing here allocates; the views borrow the input buffer.
//! Strings are returned as the raw bytes between the quotes (the decoder
//! refuses escapes in symbols and stream names, so those are exactly the
//! text; a control reply's `msg` and string `id` are raw JSON string
//! content, escapes not decoded).

use talon_core::event::{DepthLevel, MarketData, MarketEvent, Side, Stamps, TopOfBook, Trade};
use talon_core::instrument::{InstrumentId, Symbol};
use talon_core::num::{Price, Qty};

use super::scan::Cursor;

/// One venue message, decoded without allocation; borrows the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// `<symbol>@bookTicker` (recognised by shape: `u`, `s`, `b`, `B`, `a`,
    /// `A` and no `e`, or `e` = `"bookTicker"`).
    BookTicker(BookTicker<'a>),
    /// `<symbol>@trade` (`e` = `"trade"`).
    Trade(TradeMsg<'a>),
    /// `<symbol>@aggTrade` (`e` = `"aggTrade"`).
    AggTrade(AggTradeMsg<'a>),
    /// `<symbol>@depth[@100ms]` diff (`e` = `"depthUpdate"`).
    DepthUpdate(DepthUpdate<'a>),
    /// Partial depth `<symbol>@depth<N>[@100ms]` or a REST `/api/v3/depth`
    /// body (recognised by `lastUpdateId`).
    DepthSnapshot(DepthSnapshot<'a>),
    /// A reply to a control method, a venue error or a `serverShutdown`
    /// event: nothing for the engine, something for the connection.
    Control(ControlReply<'a>),
}

impl Decoded<'_> {
    /// The normalized kind name used by `talon decode`: `book_ticker`,
    /// `trade`, `agg_trade`, `depth_update`, `depth_snapshot`, or the
    /// control reply's name.
    pub const fn kind_name(&self) -> &'static str {
        match self {
            Decoded::BookTicker(_) => "book_ticker",
            Decoded::Trade(_) => "trade",
            Decoded::AggTrade(_) => "agg_trade",
            Decoded::DepthUpdate(_) => "depth_update",
            Decoded::DepthSnapshot(_) => "depth_snapshot",
            Decoded::Control(c) => c.kind_name(),
        }
    }
}

/// Best bid and ask of one symbol (`bookTicker`). The venue sends no event
/// time: stamp it on arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookTicker<'a> {
    /// `s`, as sent (upper case).
    pub symbol: &'a [u8],
    /// `u`, the order book update id.
    pub update_id: u64,
    /// `b`.
    pub bid_price: Price,
    /// `B`.
    pub bid_qty: Qty,
    /// `a`.
    pub ask_price: Price,
    /// `A`.
    pub ask_qty: Qty,
}

impl BookTicker<'_> {
    /// The `TopOfBook` event for `instrument`.
    pub const fn to_event(&self, instrument: InstrumentId, stamps: Stamps) -> MarketEvent {
        MarketEvent::new(
            instrument,
            MarketData::TopOfBook(TopOfBook {
                update_id: self.update_id,
                bid_price: self.bid_price,
                bid_qty: self.bid_qty,
                ask_price: self.ask_price,
                ask_qty: self.ask_qty,
            }),
            stamps,
        )
    }
}

/// One public trade (`trade`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeMsg<'a> {
    /// `s`, as sent.
    pub symbol: &'a [u8],
    /// `E`, event time in Unix ms.
    pub event_time_ms: u64,
    /// `t`.
    pub trade_id: u64,
    /// `p`.
    pub price: Price,
    /// `q`.
    pub qty: Qty,
    /// `T`, trade time in Unix ms.
    pub trade_time_ms: u64,
    /// `m`.
    pub buyer_is_maker: bool,
}

impl TradeMsg<'_> {
    /// The `Trade` event for `instrument`.
    pub const fn to_event(&self, instrument: InstrumentId, stamps: Stamps) -> MarketEvent {
        MarketEvent::new(
            instrument,
            MarketData::Trade(Trade {
                trade_id: self.trade_id,
                price: self.price,
                qty: self.qty,
                buyer_is_maker: self.buyer_is_maker,
                trade_time_ms: self.trade_time_ms,
            }),
            stamps,
        )
    }
}

/// One aggregated trade (`aggTrade`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AggTradeMsg<'a> {
    /// `s`, as sent.
    pub symbol: &'a [u8],
    /// `E`, event time in Unix ms.
    pub event_time_ms: u64,
    /// `a`, the aggregate trade id.
    pub agg_trade_id: u64,
    /// `p`.
    pub price: Price,
    /// `q`.
    pub qty: Qty,
    /// `f`.
    pub first_trade_id: u64,
    /// `l`.
    pub last_trade_id: u64,
    /// `T`, trade time in Unix ms.
    pub trade_time_ms: u64,
    /// `m`.
    pub buyer_is_maker: bool,
}

impl AggTradeMsg<'_> {
    /// The `Trade` event for `instrument`; its `trade_id` is the aggregate
    /// id `a` (the individual ids `f..=l` do not fit the event).
    pub const fn to_event(&self, instrument: InstrumentId, stamps: Stamps) -> MarketEvent {
        MarketEvent::new(
            instrument,
            MarketData::Trade(Trade {
                trade_id: self.agg_trade_id,
                price: self.price,
                qty: self.qty,
                buyer_is_maker: self.buyer_is_maker,
                trade_time_ms: self.trade_time_ms,
            }),
            stamps,
        )
    }
}

/// A depth diff (`depthUpdate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthUpdate<'a> {
    /// `s`, as sent.
    pub symbol: &'a [u8],
    /// `E`, event time in Unix ms.
    pub event_time_ms: u64,
    /// `U`, first update id in the event.
    pub first_update_id: u64,
    /// `u`, final update id in the event.
    pub last_update_id: u64,
    /// `b`: changed bid levels (qty 0 removes the level).
    pub bids: Levels<'a>,
    /// `a`: changed ask levels.
    pub asks: Levels<'a>,
}

impl<'a> DepthUpdate<'a> {
    /// One `DepthLevel` event per changed level, bids first, each carrying
    /// `u` and `E`.
    pub fn events(&self, instrument: InstrumentId, stamps: Stamps) -> LevelEvents<'a> {
        LevelEvents::new(
            self.bids,
            self.asks,
            instrument,
            stamps,
            self.last_update_id,
            self.event_time_ms,
        )
    }
}

/// A full or partial book: partial depth stream payload or REST snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthSnapshot<'a> {
    /// The symbol part of the combined stream name (`btcusdt` of
    /// `btcusdt@depth20@100ms`, lower case as in the stream name), or `None`
    /// for a REST body or a raw (not combined) partial depth stream, which
    /// carry no symbol. See [`DepthSnapshot::symbol_upper`].
    pub symbol: Option<&'a [u8]>,
    /// `lastUpdateId`.
    pub last_update_id: u64,
    /// `bids`, best first as sent.
    pub bids: Levels<'a>,
    /// `asks`, best first as sent.
    pub asks: Levels<'a>,
}

impl<'a> DepthSnapshot<'a> {
    /// [`DepthSnapshot::symbol`] upper-cased into an inline [`Symbol`]
    /// (no allocation), or `None` if absent or not a valid symbol.
    pub fn symbol_upper(&self) -> Option<Symbol> {
        let s = self.symbol?;
        let mut buf = [0u8; Symbol::MAX_LEN];
        let out = buf.get_mut(..s.len())?;
        for (o, &b) in out.iter_mut().zip(s) {
            *o = b.to_ascii_uppercase();
        }
        Symbol::from_bytes(out).ok()
    }

    /// One `DepthLevel` event per level, bids first; `update_id` is
    /// `lastUpdateId` and the event time is 0 (a snapshot carries none).
    pub fn events(&self, instrument: InstrumentId, stamps: Stamps) -> LevelEvents<'a> {
        LevelEvents::new(
            self.bids,
            self.asks,
            instrument,
            stamps,
            self.last_update_id,
            0,
        )
    }
}

/// The `id` of a control reply: the venue echoes what the request sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyId<'a> {
    /// No `id` field.
    Absent,
    /// `"id": null`.
    Null,
    /// An integer id (int64).
    Int(i64),
    /// A string id: raw JSON string content, escapes not decoded.
    Str(&'a [u8]),
}

/// Control traffic on a market stream connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlReply<'a> {
    /// `{"result": …, "id": …}`: a SUBSCRIBE/UNSUBSCRIBE ack (`null`) or a
    /// LIST_SUBSCRIPTIONS / GET_PROPERTY answer.
    Result {
        /// The echoed request id.
        id: ReplyId<'a>,
        /// The `result` value as raw JSON text (validated), e.g. `null` or
        /// `["btcusdt@trade"]`.
        result: &'a [u8],
    },
    /// `{"error": {"code": …, "msg": …}, "id": …}`.
    Error {
        /// The echoed request id.
        id: ReplyId<'a>,
        /// `error.code`.
        code: i64,
        /// `error.msg`: raw JSON string content, escapes not decoded.
        msg: &'a [u8],
    },
    /// `{"e": "serverShutdown", "E": …}`: the venue will close the
    /// connection; reconnect now.
    ServerShutdown {
        /// `E`, event time in Unix ms.
        event_time_ms: u64,
    },
}

impl ControlReply<'_> {
    /// `control_result`, `control_error` or `server_shutdown`.
    pub const fn kind_name(&self) -> &'static str {
        match self {
            ControlReply::Result { .. } => "control_result",
            ControlReply::Error { .. } => "control_error",
            ControlReply::ServerShutdown { .. } => "server_shutdown",
        }
    }
}

/// A `[["price","qty"], …]` array, validated during decode (structure and
/// every price and quantity), so iterating never fails. Holds the raw bytes
/// from `[` to `]`; iteration parses them again (no allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Levels<'a> {
    raw: &'a [u8],
    len: u32,
}

impl<'a> Levels<'a> {
    /// An empty level list.
    pub const EMPTY: Levels<'static> = Levels { raw: b"[]", len: 0 };

    /// Built by the decoder after validating `raw` with `len` pairs.
    pub(super) const fn validated(raw: &'a [u8], len: u32) -> Self {
        Self { raw, len }
    }

    /// Number of levels.
    #[inline]
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether there are no levels.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The raw JSON text of the array.
    pub const fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The levels in wire order.
    pub fn iter(&self) -> LevelsIter<'a> {
        let mut cur = Cursor::new(self.raw);
        // Validated: the first byte is '['.
        cur.set_pos(1);
        LevelsIter {
            cur,
            remaining: self.len,
        }
    }
}

impl<'a> IntoIterator for Levels<'a> {
    type Item = (Price, Qty);
    type IntoIter = LevelsIter<'a>;
    fn into_iter(self) -> LevelsIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Levels<'a> {
    type Item = (Price, Qty);
    type IntoIter = LevelsIter<'a>;
    fn into_iter(self) -> LevelsIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Levels`]: `(price, qty)` in wire order.
#[derive(Debug)]
pub struct LevelsIter<'a> {
    cur: Cursor<'a>,
    remaining: u32,
}

impl LevelsIter<'_> {
    fn pair(&mut self) -> Option<(Price, Qty)> {
        let c = &mut self.cur;
        if c.peek_ws() == Some(b',') {
            c.set_pos(c.pos() + 1);
        }
        c.expect_ws(b'[').ok()?;
        c.skip_ws();
        let p = c.string().ok()?;
        c.expect_ws(b',').ok()?;
        c.skip_ws();
        let q = c.string().ok()?;
        c.expect_ws(b']').ok()?;
        Some((
            Price::parse_bytes(p.raw).ok()?,
            Qty::parse_bytes(q.raw).ok()?,
        ))
    }
}

impl Iterator for LevelsIter<'_> {
    type Item = (Price, Qty);

    fn next(&mut self) -> Option<(Price, Qty)> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let r = self.pair();
        if r.is_none() {
            // Unreachable for validated levels; stop rather than misreport.
            self.remaining = 0;
        }
        r
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining as usize))
    }
}

/// `DepthLevel` events of a diff or snapshot: bids, then asks.
#[derive(Debug)]
pub struct LevelEvents<'a> {
    bids: LevelsIter<'a>,
    asks: LevelsIter<'a>,
    instrument: InstrumentId,
    stamps: Stamps,
    update_id: u64,
    event_time_ms: u64,
}

impl<'a> LevelEvents<'a> {
    fn new(
        bids: Levels<'a>,
        asks: Levels<'a>,
        instrument: InstrumentId,
        stamps: Stamps,
        update_id: u64,
        event_time_ms: u64,
    ) -> Self {
        Self {
            bids: bids.iter(),
            asks: asks.iter(),
            instrument,
            stamps,
            update_id,
            event_time_ms,
        }
    }

    fn event(&self, side: Side, (price, qty): (Price, Qty)) -> MarketEvent {
        MarketEvent::new(
            self.instrument,
            MarketData::DepthLevel(DepthLevel {
                update_id: self.update_id,
                side,
                price,
                qty,
                event_time_ms: self.event_time_ms,
            }),
            self.stamps,
        )
    }
}

impl Iterator for LevelEvents<'_> {
    type Item = MarketEvent;

    fn next(&mut self) -> Option<MarketEvent> {
        if let Some(l) = self.bids.next() {
            return Some(self.event(Side::Buy, l));
        }
        let l = self.asks.next()?;
        Some(self.event(Side::Sell, l))
    }
}
