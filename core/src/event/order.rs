//! Order commands from the engine to the gateway.
//!
//! Owns [`OrderCommand`] (new, cancel, cancel-all), its enums ([`Side`],
//! [`OrderType`], [`TimeInForce`], [`OrderCommandKind`]) and
//! [`ClientOrderId`], the inline id Binance echoes back on every report.
//! An `OrderCommand` is journaled before it is pushed to the gateway. This
//! module never checks risk, never allocates, and never reads a clock.
//!
//! Layout (`#[repr(C)]`, 104 bytes, align 8):
//!
//! ```text
//!  0       2      3      4          5               6     8
//!  +-------+------+------+----------+---------------+-----+
//!  | instr | kind | side | ord_type | time_in_force | pad |
//!  +-------+------+------+----------+---------------+-----+
//!  8 price: Price (i64)         16 qty: Qty (i64)
//! 24 client_order_id: ClientOrderId (36 bytes + len u8)  61 pad to 64
//! 64 trigger: Stamps (recv, decode)   80 decide   88 journal   96 send   104
//! ```

use std::fmt;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::clock::Nanos;
use crate::event::stamp::Stamps;
use crate::instrument::InstrumentId;
use crate::num::{Price, Qty};

wire_enum! {
    /// Buy or sell; for a book level, `Buy` is the bid side and `Sell` the ask.
    Side {
        /// Buy / bid.
        Buy = 1 => "buy",
        /// Sell / ask.
        Sell = 2 => "sell",
    }
}

impl Side {
    /// The other side.
    #[inline]
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

wire_enum! {
    /// Order type (Binance `type`).
    OrderType {
        /// Resting limit order.
        Limit = 1 => "limit",
        /// Market order (price ignored).
        Market = 2 => "market",
        /// Post-only limit order (`LIMIT_MAKER`): rejected if it would take.
        LimitMaker = 3 => "limit_maker",
    }
}

wire_enum! {
    /// Time in force (Binance `timeInForce`).
    TimeInForce {
        /// Good till cancelled.
        Gtc = 1 => "gtc",
        /// Immediate or cancel.
        Ioc = 2 => "ioc",
        /// Fill or kill.
        Fok = 3 => "fok",
    }
}

wire_enum! {
    /// What an [`OrderCommand`] asks the gateway to do.
    OrderCommandKind {
        /// Place an order.
        New = 1 => "new",
        /// Cancel the order whose id is `client_order_id`.
        Cancel = 2 => "cancel",
        /// Cancel every open order on `instrument`.
        CancelAll = 3 => "cancel_all",
    }
}

/// Why text is not a valid [`ClientOrderId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ClientOrderIdError {
    /// Empty input.
    #[error("empty client order id")]
    Empty,
    /// Longer than 36 bytes.
    #[error("client order id longer than 36 bytes")]
    TooLong,
    /// A byte outside `[.A-Z:/a-z0-9_-]`.
    #[error("invalid client order id byte at {pos}")]
    InvalidChar {
        /// Byte offset of the offending byte.
        pos: usize,
    },
}

/// A client order id, stored inline: Binance's `^[.A-Z:/a-z0-9_-]{1,36}$`.
///
/// [`ClientOrderId::EMPTY`] (length 0) stands for "no id" (a cancel-all).
/// Bytes past the length are always zero, so derived equality and hashing
/// are those of the text.
///
/// Talon's own ids come from [`ClientOrderId::from_session_seq`]:
/// `tl` + the session as 10 zero-padded decimal digits + `-` + the sequence
/// as 20 zero-padded decimal digits (33 bytes, e.g.
/// `tl0000000007-00000000000000000042`). Fixed width makes text order equal
/// numeric order, and [`ClientOrderId::session_seq`] parses it back, so a
/// restart can resume after the highest sequence it finds. Bench orders
/// reacting to a marked tick use [`ClientOrderId::for_tick`] instead (`tk`
/// prefix, same widths), parsed back by [`ClientOrderId::tick`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct ClientOrderId {
    bytes: [u8; ClientOrderId::MAX_LEN],
    len: u8,
}

/// Length of a [`ClientOrderId::from_session_seq`] id.
const SESSION_SEQ_LEN: usize = 2 + 10 + 1 + 20;

impl ClientOrderId {
    /// The longest id Binance accepts.
    pub const MAX_LEN: usize = 36;

    /// No id.
    pub const EMPTY: ClientOrderId = ClientOrderId {
        bytes: [0; ClientOrderId::MAX_LEN],
        len: 0,
    };

    /// True for the bytes Binance allows.
    #[inline]
    const fn allowed(b: u8) -> bool {
        matches!(b, b'.' | b'A'..=b'Z' | b':' | b'/' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-')
    }

    /// Validates and copies `s`.
    ///
    /// ```
    /// # use talon_core::event::ClientOrderId;
    /// assert_eq!(ClientOrderId::new("web_1a2B:x/y.z-9")?.as_str(), "web_1a2B:x/y.z-9");
    /// assert!(ClientOrderId::new("has space").is_err());
    /// # Ok::<(), talon_core::event::ClientOrderIdError>(())
    /// ```
    #[inline]
    pub fn new(s: &str) -> Result<ClientOrderId, ClientOrderIdError> {
        ClientOrderId::from_bytes(s.as_bytes())
    }

    /// Validates and copies raw bytes (straight from a wire buffer; no
    /// allocation).
    pub fn from_bytes(b: &[u8]) -> Result<ClientOrderId, ClientOrderIdError> {
        if b.is_empty() {
            return Err(ClientOrderIdError::Empty);
        }
        if b.len() > ClientOrderId::MAX_LEN {
            return Err(ClientOrderIdError::TooLong);
        }
        let mut bytes = [0u8; ClientOrderId::MAX_LEN];
        for (i, &c) in b.iter().enumerate() {
            if !ClientOrderId::allowed(c) {
                return Err(ClientOrderIdError::InvalidChar { pos: i });
            }
            bytes[i] = c;
        }
        Ok(ClientOrderId {
            bytes,
            // len ≤ 36 was checked above.
            len: b.len() as u8,
        })
    }

    /// Talon's id for order `seq` of session `session` (format in the type
    /// docs). No allocation; unique per `(session, seq)`.
    ///
    /// ```
    /// # use talon_core::event::ClientOrderId;
    /// let id = ClientOrderId::from_session_seq(7, 42);
    /// assert_eq!(id.as_str(), "tl0000000007-00000000000000000042");
    /// assert_eq!(id.session_seq(), Some((7, 42)));
    /// ```
    pub const fn from_session_seq(session: u32, seq: u64) -> ClientOrderId {
        ClientOrderId::fixed_width(*b"tl", session, seq)
    }

    /// The id of a bench order reacting to marked tick `tick` (the
    /// simulator's trade id) in session `session`: `tk` + the session as 10
    /// zero-padded digits + `-` + the tick as 20 zero-padded digits (33
    /// bytes). The latency benchmark finds the tick in the order it reads
    /// back with [`ClientOrderId::tick`]. No allocation.
    ///
    /// ```
    /// # use talon_core::event::ClientOrderId;
    /// let id = ClientOrderId::for_tick(7, 1000);
    /// assert_eq!(id.as_str(), "tk0000000007-00000000000000001000");
    /// assert_eq!(id.tick(), Some(1000));
    /// assert_eq!(id.session_seq(), None);
    /// ```
    pub const fn for_tick(session: u32, tick: u64) -> ClientOrderId {
        ClientOrderId::fixed_width(*b"tk", session, tick)
    }

    /// `prefix` + `session` (10 digits) + `-` + `n` (20 digits).
    const fn fixed_width(prefix: [u8; 2], session: u32, n: u64) -> ClientOrderId {
        let mut bytes = [0u8; ClientOrderId::MAX_LEN];
        bytes[0] = prefix[0];
        bytes[1] = prefix[1];
        let mut s = session;
        let mut i = 11;
        loop {
            bytes[i] = b'0' + (s % 10) as u8;
            s /= 10;
            if i == 2 {
                break;
            }
            i -= 1;
        }
        bytes[12] = b'-';
        let mut q = n;
        let mut i = SESSION_SEQ_LEN - 1;
        loop {
            bytes[i] = b'0' + (q % 10) as u8;
            q /= 10;
            if i == 13 {
                break;
            }
            i -= 1;
        }
        ClientOrderId {
            bytes,
            len: SESSION_SEQ_LEN as u8,
        }
    }

    /// `(session, n)` if this id is `prefix` in the fixed-width format.
    fn parse_fixed_width(&self, prefix: &[u8; 2]) -> Option<(u32, u64)> {
        let b = self.as_bytes();
        if b.len() != SESSION_SEQ_LEN || !b.starts_with(prefix) || b.get(12) != Some(&b'-') {
            return None;
        }
        let session = digits(b.get(2..12)?)?;
        let n = digits(b.get(13..)?)?;
        Some((u32::try_from(session).ok()?, n))
    }

    /// `(session, seq)` if this id has the `from_session_seq` format.
    pub fn session_seq(&self) -> Option<(u32, u64)> {
        self.parse_fixed_width(b"tl")
    }

    /// The marked tick if this id has the [`ClientOrderId::for_tick`] format.
    pub fn tick(&self) -> Option<u64> {
        self.session_tick().map(|(_, t)| t)
    }

    /// `(session, tick)` if this id has the [`ClientOrderId::for_tick`] format.
    pub fn session_tick(&self) -> Option<(u32, u64)> {
        self.parse_fixed_width(b"tk")
    }

    /// True for [`ClientOrderId::EMPTY`].
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The id bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The id text (`""` for `EMPTY`).
    #[inline]
    pub fn as_str(&self) -> &str {
        // Constructors admit only ASCII, so this is always Ok.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

/// Parses all-decimal `b` into a `u64`, `None` on a non-digit or overflow.
fn digits(b: &[u8]) -> Option<u64> {
    b.iter().try_fold(0u64, |acc, &c| {
        if !c.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
    })
}

impl Default for ClientOrderId {
    fn default() -> Self {
        ClientOrderId::EMPTY
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Debug for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientOrderId({})", self.as_str())
    }
}

impl Serialize for ClientOrderId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A command from the engine to the gateway. Plain data: fields a kind does
/// not use are zero (`price`/`qty` for cancels, `client_order_id` for
/// cancel-all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct OrderCommand {
    /// Instrument the command is for.
    pub instrument: InstrumentId,
    /// New, cancel or cancel-all.
    pub kind: OrderCommandKind,
    /// Order side.
    pub side: Side,
    /// Order type.
    pub order_type: OrderType,
    /// Time in force (ignored by the venue for market orders).
    pub time_in_force: TimeInForce,
    /// Limit price (zero for market orders and cancels).
    pub price: Price,
    /// Order quantity (zero for cancels).
    pub qty: Qty,
    /// `New`: the new order's id. `Cancel`: the id of the order to cancel.
    /// `CancelAll`: [`ClientOrderId::EMPTY`].
    pub client_order_id: ClientOrderId,
    /// Stamps of the market event that triggered the decision (zero if the
    /// command was not market-triggered).
    pub trigger: Stamps,
    /// Strategy and risk decided.
    pub decide: Nanos,
    /// Appended to the journal.
    pub journal: Nanos,
    /// Gateway wrote the request to the socket.
    pub send: Nanos,
}

const _: () = assert!(size_of::<OrderCommand>() <= 128);
const _: () = assert!(size_of::<OrderCommand>() == 104);

impl OrderCommand {
    /// An all-default command (a zero-quantity GTC limit buy on instrument
    /// 0 with no id), for tests and benches.
    pub const ZERO: OrderCommand = OrderCommand {
        instrument: InstrumentId(0),
        kind: OrderCommandKind::New,
        side: Side::Buy,
        order_type: OrderType::Limit,
        time_in_force: TimeInForce::Gtc,
        price: Price::ZERO,
        qty: Qty::ZERO,
        client_order_id: ClientOrderId::EMPTY,
        trigger: Stamps::ZERO,
        decide: Nanos::ZERO,
        journal: Nanos::ZERO,
        send: Nanos::ZERO,
    };

    /// A new order; stamps zero.
    pub const fn new_order(
        instrument: InstrumentId,
        side: Side,
        order_type: OrderType,
        time_in_force: TimeInForce,
        price: Price,
        qty: Qty,
        client_order_id: ClientOrderId,
    ) -> OrderCommand {
        OrderCommand {
            instrument,
            kind: OrderCommandKind::New,
            side,
            order_type,
            time_in_force,
            price,
            qty,
            client_order_id,
            ..OrderCommand::ZERO
        }
    }

    /// Cancel the order `client_order_id` on `instrument`.
    pub const fn cancel(instrument: InstrumentId, client_order_id: ClientOrderId) -> OrderCommand {
        OrderCommand {
            instrument,
            kind: OrderCommandKind::Cancel,
            client_order_id,
            ..OrderCommand::ZERO
        }
    }

    /// Cancel every open order on `instrument`.
    pub const fn cancel_all(instrument: InstrumentId) -> OrderCommand {
        OrderCommand {
            instrument,
            kind: OrderCommandKind::CancelAll,
            ..OrderCommand::ZERO
        }
    }
}

impl Default for OrderCommand {
    fn default() -> Self {
        OrderCommand::ZERO
    }
}

impl Serialize for OrderCommand {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("OrderCommand", 14)?;
        st.serialize_field("instrument", &self.instrument)?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("side", &self.side)?;
        st.serialize_field("order_type", &self.order_type)?;
        st.serialize_field("time_in_force", &self.time_in_force)?;
        st.serialize_field("price", &self.price)?;
        st.serialize_field("qty", &self.qty)?;
        st.serialize_field("client_order_id", &self.client_order_id)?;
        st.serialize_field("trigger_recv_ns", &self.trigger.recv.0)?;
        st.serialize_field("trigger_decode_ns", &self.trigger.decode.0)?;
        st.serialize_field("decide_ns", &self.decide.0)?;
        st.serialize_field("journal_ns", &self.journal.0)?;
        st.serialize_field("send_ns", &self.send.0)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn enums_round_trip_through_u8() {
        for s in Side::ALL {
            assert_eq!(Side::from_u8(s.as_u8()), Some(*s));
            assert_eq!(s.opposite().opposite(), *s);
        }
        for t in OrderType::ALL {
            assert_eq!(OrderType::from_u8(t.as_u8()), Some(*t));
        }
        for t in TimeInForce::ALL {
            assert_eq!(TimeInForce::from_u8(t.as_u8()), Some(*t));
        }
        for k in OrderCommandKind::ALL {
            assert_eq!(OrderCommandKind::from_u8(k.as_u8()), Some(*k));
        }
        assert_eq!(Side::from_u8(0), None);
        assert_eq!(OrderType::from_u8(4), None);
        assert_eq!(OrderType::LimitMaker.as_str(), "limit_maker");
        assert_eq!(TimeInForce::Ioc.to_string(), "ioc");
    }

    #[test]
    fn client_order_id_rules() {
        assert_eq!(ClientOrderId::new(""), Err(ClientOrderIdError::Empty));
        assert_eq!(
            ClientOrderId::new(&"a".repeat(37)),
            Err(ClientOrderIdError::TooLong)
        );
        assert_eq!(
            ClientOrderId::new(&"a".repeat(36)).unwrap().as_str().len(),
            36
        );
        assert_eq!(
            ClientOrderId::new("ab cd"),
            Err(ClientOrderIdError::InvalidChar { pos: 2 })
        );
        assert_eq!(
            ClientOrderId::new("a+b"),
            Err(ClientOrderIdError::InvalidChar { pos: 1 })
        );
        assert_eq!(
            ClientOrderId::new("é"),
            Err(ClientOrderIdError::InvalidChar { pos: 0 })
        );
        assert!(ClientOrderId::EMPTY.is_empty());
        assert_eq!(ClientOrderId::EMPTY.as_str(), "");
        assert_eq!(
            ClientOrderId::new("x").unwrap(),
            ClientOrderId::new("x").unwrap()
        );
    }

    #[test]
    fn session_seq_format_extremes() {
        let max = ClientOrderId::from_session_seq(u32::MAX, u64::MAX);
        assert_eq!(max.as_str(), "tl4294967295-18446744073709551615");
        assert_eq!(max.session_seq(), Some((u32::MAX, u64::MAX)));
        let zero = ClientOrderId::from_session_seq(0, 0);
        assert_eq!(zero.as_str(), "tl0000000000-00000000000000000000");
        assert_eq!(ClientOrderId::new(zero.as_str()), Ok(zero));
        assert_eq!(ClientOrderId::new("web_123").unwrap().session_seq(), None);
        // Session digits above u32::MAX are not ours.
        let big = ClientOrderId::new("tl9999999999-00000000000000000001").unwrap();
        assert_eq!(big.session_seq(), None);
    }

    #[test]
    fn constructors_fill_the_kind() {
        let id = ClientOrderId::from_session_seq(1, 2);
        let p = Price::from_raw(100);
        let q = Qty::from_raw(5);
        let n = OrderCommand::new_order(
            InstrumentId(3),
            Side::Sell,
            OrderType::LimitMaker,
            TimeInForce::Gtc,
            p,
            q,
            id,
        );
        assert_eq!(
            (n.kind, n.side, n.price, n.qty),
            (OrderCommandKind::New, Side::Sell, p, q)
        );
        let c = OrderCommand::cancel(InstrumentId(3), id);
        assert_eq!(
            (c.kind, c.client_order_id, c.qty),
            (OrderCommandKind::Cancel, id, Qty::ZERO)
        );
        let a = OrderCommand::cancel_all(InstrumentId(3));
        assert!(a.client_order_id.is_empty());
        assert_eq!(a.kind, OrderCommandKind::CancelAll);
    }

    #[test]
    fn serializes_for_export() {
        let mut cmd = OrderCommand::new_order(
            InstrumentId(2),
            Side::Buy,
            OrderType::Limit,
            TimeInForce::Ioc,
            Price::parse("27000.5").unwrap(),
            Qty::parse("0.001").unwrap(),
            ClientOrderId::new("abc").unwrap(),
        );
        cmd.decide = Nanos(10);
        let v: serde_json::Value = serde_json::to_value(cmd).unwrap();
        assert_eq!(v["kind"], "new");
        assert_eq!(v["side"], "buy");
        assert_eq!(v["time_in_force"], "ioc");
        assert_eq!(v["price"], "27000.5");
        assert_eq!(v["qty"], "0.001");
        assert_eq!(v["client_order_id"], "abc");
        assert_eq!(v["instrument"], 2);
        assert_eq!(v["decide_ns"], 10);
    }

    #[test]
    fn tick_ids_are_distinct_from_session_ids() {
        let t = ClientOrderId::for_tick(3, 77);
        assert_eq!(t.as_str(), "tk0000000003-00000000000000000077");
        assert_eq!(t.tick(), Some(77));
        assert_eq!(t.session_tick(), Some((3, 77)));
        assert_eq!(t.session_seq(), None);
        let s = ClientOrderId::from_session_seq(3, 77);
        assert_eq!(s.tick(), None);
        assert_ne!(s, t);
        let max = ClientOrderId::for_tick(u32::MAX, u64::MAX);
        assert_eq!(max.as_str(), "tk4294967295-18446744073709551615");
        assert_eq!(max.tick(), Some(u64::MAX));
        assert_eq!(
            ClientOrderId::new("tk0000000003-0000000000000000007x")
                .unwrap()
                .tick(),
            None
        );
        assert_eq!(
            ClientOrderId::new("tk9999999999-00000000000000000001")
                .unwrap()
                .tick(),
            None
        );
    }

    proptest! {
        #[test]
        fn tick_round_trips(session in any::<u32>(), tick in any::<u64>()) {
            let id = ClientOrderId::for_tick(session, tick);
            prop_assert_eq!(id.session_tick(), Some((session, tick)));
            prop_assert_eq!(ClientOrderId::new(id.as_str()), Ok(id));
        }

        #[test]
        fn session_seq_round_trips(session in any::<u32>(), seq in any::<u64>()) {
            let id = ClientOrderId::from_session_seq(session, seq);
            prop_assert_eq!(id.session_seq(), Some((session, seq)));
            prop_assert_eq!(ClientOrderId::new(id.as_str()), Ok(id));
        }

        #[test]
        fn valid_ids_are_accepted(s in "[.A-Z:/a-z0-9_-]{1,36}") {
            let id = ClientOrderId::new(&s).unwrap();
            prop_assert_eq!(id.as_str(), s.as_str());
        }

        #[test]
        fn garbage_ids_never_panic(b in proptest::collection::vec(any::<u8>(), 0..48)) {
            if let Ok(id) = ClientOrderId::from_bytes(&b) {
                prop_assert_eq!(id.as_bytes(), &b[..]);
            }
        }
    }
}
