//! Decision records: what the engine decided about one intent, and why.
//!
//! Owns [`Decision`] (the intent, the client order id assigned, the risk
//! [`Verdict`] with its reason, the trading state, the origin and the
//! stamps), [`DecisionOrigin`] and [`DecisionOutcome`], and its journal
//! encoding (record kind [`RecordKind::Decision`]). The engine journals one
//! `Decision` for every intent it checks, *before* the `OrderCommand` it may
//! lead to, so `talon journal export` shows each order with its verdict
//! first. If the order ring then refuses the command, a second `Decision`
//! with outcome [`DecisionOutcome::NotSent`] records that it never left.
//!
//! Plain data: `Copy`, fixed size, no heap. Nothing here decides, reads a
//! clock or allocates.
//!
//! Version 1 layout (105 bytes, little-endian):
//!
//! ```text
//!  0 instrument u16 | 2 action u8 (OrderCommandKind) | 3 side u8 | 4 order_type u8
//!  5 time_in_force u8 | 6 state u8 (TradingState) | 7 origin u8 | 8 outcome u8
//!  9 flags u8 (bit 0 has stop, bit 1 has tag) | 10 verdict u16 (0 approved, else reason code)
//! 12 price i64 | 20 qty i64 | 28 stop i64 | 36 tag u64
//! 44 client_order_id len u8 | 45 client_order_id [u8; 36] (zero-padded)
//! 81 trigger.recv u64 | 89 trigger.decode u64 | 97 decide u64 | 105
//! ```

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::clock::Nanos;
use crate::engine::risk::{TradingState, Verdict};
use crate::event::codec::{JournalPayload, PayloadError};
use crate::event::order::{ClientOrderId, OrderCommandKind, OrderType, Side, TimeInForce};
use crate::event::stamp::Stamps;
use crate::instrument::InstrumentId;
use crate::journal::RecordKind;
use crate::num::{Price, Qty};

wire_enum! {
    /// Who asked for the decided action.
    DecisionOrigin {
        /// The strategy's intent.
        Strategy = 1 => "strategy",
        /// The engine itself (cancel-all on a halt or a daily-loss breach).
        Engine = 2 => "engine",
        /// A control message (`CancelAll`).
        Control = 3 => "control",
    }
}

wire_enum! {
    /// Which step of the decision the record is.
    DecisionOutcome {
        /// Checked and journaled; an approved action's `OrderCommand`
        /// follows.
        Decided = 1 => "decided",
        /// The approved command was journaled but the order ring was full:
        /// it was not sent.
        NotSent = 2 => "not_sent",
    }
}

/// One engine decision (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Decision {
    /// Instrument.
    pub instrument: InstrumentId,
    /// New order, cancel or cancel-all.
    pub action: OrderCommandKind,
    /// Side (new orders; `Buy` otherwise).
    pub side: Side,
    /// Order type (new orders; `Limit` otherwise).
    pub order_type: OrderType,
    /// Time in force (new orders; `Gtc` otherwise).
    pub time_in_force: TimeInForce,
    /// The engine's trading state when it decided.
    pub state: TradingState,
    /// Who asked.
    pub origin: DecisionOrigin,
    /// Decided, or not sent after all.
    pub outcome: DecisionOutcome,
    /// Risk's verdict (cancels are always approved).
    pub verdict: Verdict,
    /// Limit price (zero for cancels).
    pub price: Price,
    /// Quantity (zero for cancels).
    pub qty: Qty,
    /// The stop the strategy declared, if any.
    pub stop: Option<Price>,
    /// The marked tick a bench order reacts to, if any.
    pub tag: Option<u64>,
    /// The id assigned (new orders), or the order to cancel; empty for a
    /// rejected new order and for cancel-all.
    pub client_order_id: ClientOrderId,
    /// Stamps of the triggering market event (zero if none).
    pub trigger: Stamps,
    /// When the engine decided.
    pub decide: Nanos,
}

const _: () = assert!(size_of::<Decision>() <= 192);

impl Decision {
    /// An approved cancel-all of `instrument` by the engine, for tests.
    pub const ZERO: Decision = Decision {
        instrument: InstrumentId(0),
        action: OrderCommandKind::CancelAll,
        side: Side::Buy,
        order_type: OrderType::Limit,
        time_in_force: TimeInForce::Gtc,
        state: TradingState::Halted,
        origin: DecisionOrigin::Engine,
        outcome: DecisionOutcome::Decided,
        verdict: Verdict::Approved,
        price: Price::ZERO,
        qty: Qty::ZERO,
        stop: None,
        tag: None,
        client_order_id: ClientOrderId::EMPTY,
        trigger: Stamps::ZERO,
        decide: Nanos::ZERO,
    };
}

impl Default for Decision {
    fn default() -> Self {
        Decision::ZERO
    }
}

const FLAG_STOP: u8 = 1;
const FLAG_TAG: u8 = 2;

/// Reads fixed-width little-endian fields, never panicking.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], PayloadError> {
        let got = self.b.len();
        let s = self
            .b
            .get(self.pos..self.pos + N)
            .ok_or(PayloadError::TooShort {
                needed: self.pos + N,
                got,
            })?;
        self.pos += N;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, PayloadError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, PayloadError> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, PayloadError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn i64(&mut self) -> Result<i64, PayloadError> {
        Ok(i64::from_le_bytes(self.take()?))
    }
    fn enum_u8<T>(
        &mut self,
        field: &'static str,
        f: fn(u8) -> Option<T>,
    ) -> Result<T, PayloadError> {
        let v = self.u8()?;
        f(v).ok_or(PayloadError::InvalidDiscriminant { field, value: v })
    }
}

impl JournalPayload for Decision {
    const KIND: RecordKind = RecordKind::Decision;
    const VERSION: u16 = 1;
    const ENCODED_LEN: usize = 105;

    fn encode(&self, out: &mut [u8]) -> Result<(), PayloadError> {
        let got = out.len();
        let buf = out
            .get_mut(..Self::ENCODED_LEN)
            .ok_or(PayloadError::TooShort {
                needed: Self::ENCODED_LEN,
                got,
            })?;
        let mut pos = 0;
        let mut put = |bytes: &[u8]| {
            if let Some(dst) = buf.get_mut(pos..pos + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
            pos += bytes.len();
        };
        let flags = if self.stop.is_some() { FLAG_STOP } else { 0 }
            | if self.tag.is_some() { FLAG_TAG } else { 0 };
        put(&self.instrument.0.to_le_bytes());
        put(&[
            self.action.as_u8(),
            self.side.as_u8(),
            self.order_type.as_u8(),
            self.time_in_force.as_u8(),
            self.state.as_u8(),
            self.origin.as_u8(),
            self.outcome.as_u8(),
            flags,
        ]);
        put(&self.verdict.code().to_le_bytes());
        put(&self.price.raw().to_le_bytes());
        put(&self.qty.raw().to_le_bytes());
        put(&self.stop.map_or(0, Price::raw).to_le_bytes());
        put(&self.tag.unwrap_or(0).to_le_bytes());
        let id = self.client_order_id.as_bytes();
        let mut id_buf = [0u8; ClientOrderId::MAX_LEN];
        if let Some(dst) = id_buf.get_mut(..id.len()) {
            dst.copy_from_slice(id);
        }
        // ≤ 36: a ClientOrderId is never longer.
        put(&[id.len() as u8]);
        put(&id_buf);
        put(&self.trigger.recv.0.to_le_bytes());
        put(&self.trigger.decode.0.to_le_bytes());
        put(&self.decide.0.to_le_bytes());
        debug_assert_eq!(pos, Self::ENCODED_LEN);
        Ok(())
    }

    fn decode(bytes: &[u8], version: u16) -> Result<Self, PayloadError> {
        if version != Self::VERSION {
            return Err(PayloadError::UnknownVersion { version });
        }
        if bytes.len() < Self::ENCODED_LEN {
            return Err(PayloadError::TooShort {
                needed: Self::ENCODED_LEN,
                got: bytes.len(),
            });
        }
        let mut r = Cursor { b: bytes, pos: 0 };
        let instrument = InstrumentId(r.u16()?);
        let action = r.enum_u8("decision_action", OrderCommandKind::from_u8)?;
        let side = r.enum_u8("side", Side::from_u8)?;
        let order_type = r.enum_u8("order_type", OrderType::from_u8)?;
        let time_in_force = r.enum_u8("time_in_force", TimeInForce::from_u8)?;
        let state = r.enum_u8("trading_state", TradingState::from_u8)?;
        let origin = r.enum_u8("decision_origin", DecisionOrigin::from_u8)?;
        let outcome = r.enum_u8("decision_outcome", DecisionOutcome::from_u8)?;
        let flags = r.u8()?;
        if flags & !(FLAG_STOP | FLAG_TAG) != 0 {
            return Err(PayloadError::InvalidDiscriminant {
                field: "decision_flags",
                value: flags,
            });
        }
        let code = r.u16()?;
        let verdict =
            Verdict::from_code(code).ok_or(PayloadError::OutOfRange { field: "verdict" })?;
        let price = Price::from_raw(r.i64()?);
        let qty = Qty::from_raw(r.i64()?);
        let stop = Price::from_raw(r.i64()?);
        let tag = r.u64()?;
        let len = usize::from(r.u8()?);
        let id_bytes: [u8; ClientOrderId::MAX_LEN] = r.take()?;
        let client_order_id = match len {
            0 => ClientOrderId::EMPTY,
            n => id_bytes
                .get(..n)
                .and_then(|b| ClientOrderId::from_bytes(b).ok())
                .ok_or(PayloadError::InvalidClientOrderId)?,
        };
        let trigger = Stamps {
            recv: Nanos(r.u64()?),
            decode: Nanos(r.u64()?),
        };
        let decide = Nanos(r.u64()?);
        Ok(Decision {
            instrument,
            action,
            side,
            order_type,
            time_in_force,
            state,
            origin,
            outcome,
            verdict,
            price,
            qty,
            stop: (flags & FLAG_STOP != 0).then_some(stop),
            tag: (flags & FLAG_TAG != 0).then_some(tag),
            client_order_id,
            trigger,
            decide,
        })
    }
}

impl Serialize for Decision {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Id(u64);
        impl Serialize for Id {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }
        let mut st = s.serialize_struct("Decision", 19)?;
        st.serialize_field("instrument", &self.instrument)?;
        st.serialize_field("action", &self.action)?;
        st.serialize_field("side", &self.side)?;
        st.serialize_field("order_type", &self.order_type)?;
        st.serialize_field("time_in_force", &self.time_in_force)?;
        st.serialize_field("price", &self.price)?;
        st.serialize_field("qty", &self.qty)?;
        st.serialize_field("stop", &self.stop)?;
        st.serialize_field("tag", &self.tag.map(Id))?;
        st.serialize_field("client_order_id", &self.client_order_id)?;
        st.serialize_field("verdict", self.verdict.as_str())?;
        st.serialize_field("verdict_code", &self.verdict.code())?;
        st.serialize_field("state", &self.state)?;
        st.serialize_field("origin", &self.origin)?;
        st.serialize_field("outcome", &self.outcome)?;
        st.serialize_field("trigger_recv_ns", &self.trigger.recv.0)?;
        st.serialize_field("trigger_decode_ns", &self.trigger.decode.0)?;
        st.serialize_field("decide_ns", &self.decide.0)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::engine::risk::RejectReason;
    use proptest::prelude::*;

    fn sample() -> Decision {
        Decision {
            instrument: InstrumentId(3),
            action: OrderCommandKind::New,
            side: Side::Sell,
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Ioc,
            state: TradingState::Reducing,
            origin: DecisionOrigin::Strategy,
            outcome: DecisionOutcome::Decided,
            verdict: Verdict::Rejected(RejectReason::MaxPosition),
            price: Price::parse("27000.5").unwrap(),
            qty: Qty::parse("0.001").unwrap(),
            stop: Some(Price::parse("26900").unwrap()),
            tag: Some(u64::MAX),
            client_order_id: ClientOrderId::for_tick(7, u64::MAX),
            trigger: Stamps {
                recv: Nanos(10),
                decode: Nanos(20),
            },
            decide: Nanos(30),
        }
    }

    #[test]
    fn round_trips_and_ignores_trailing_padding() {
        let d = sample();
        let mut buf = [0xAAu8; 112];
        d.encode(&mut buf).unwrap();
        assert_eq!(Decision::decode(&buf, 1).unwrap(), d);
        let mut short = [0u8; 104];
        assert!(matches!(
            d.encode(&mut short),
            Err(PayloadError::TooShort { needed: 105, .. })
        ));
        assert!(matches!(
            Decision::decode(&buf[..104], 1),
            Err(PayloadError::TooShort { .. })
        ));
        assert_eq!(
            Decision::decode(&buf, 2),
            Err(PayloadError::UnknownVersion { version: 2 })
        );
        let z = Decision::ZERO;
        z.encode(&mut buf).unwrap();
        assert_eq!(Decision::decode(&buf, 1).unwrap(), z);
    }

    #[test]
    fn rejects_bad_bytes() {
        let mut buf = [0u8; 105];
        sample().encode(&mut buf).unwrap();
        let mut bad = buf;
        bad[7] = 9;
        assert!(matches!(
            Decision::decode(&bad, 1),
            Err(PayloadError::InvalidDiscriminant {
                field: "decision_origin",
                ..
            })
        ));
        let mut bad = buf;
        bad[9] = 4;
        assert!(Decision::decode(&bad, 1).is_err());
        let mut bad = buf;
        bad[10] = 77;
        assert!(matches!(
            Decision::decode(&bad, 1),
            Err(PayloadError::OutOfRange { field: "verdict" })
        ));
        let mut bad = buf;
        bad[45] = b' ';
        assert_eq!(
            Decision::decode(&bad, 1),
            Err(PayloadError::InvalidClientOrderId)
        );
    }

    #[test]
    fn serializes_for_export() {
        let v: serde_json::Value = serde_json::to_value(sample()).unwrap();
        assert_eq!(v["action"], "new");
        assert_eq!(v["verdict"], "max_position");
        assert_eq!(v["verdict_code"], RejectReason::MaxPosition.as_u16());
        assert_eq!(v["state"], "reducing");
        assert_eq!(v["origin"], "strategy");
        assert_eq!(v["outcome"], "decided");
        assert_eq!(v["price"], "27000.5");
        assert_eq!(v["stop"], "26900");
        assert_eq!(v["tag"], "18446744073709551615");
        assert_eq!(v["client_order_id"], "tk0000000007-18446744073709551615");
        assert_eq!(v["decide_ns"], 30);
        let v: serde_json::Value = serde_json::to_value(Decision::ZERO).unwrap();
        assert_eq!(v["verdict"], "approved");
        assert!(v["stop"].is_null() && v["tag"].is_null());
    }

    proptest! {
        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..140)) {
            let _ = Decision::decode(&b, 1);
        }

        #[test]
        fn any_decision_round_trips(
            price in any::<i64>(), qty in any::<i64>(), stop in proptest::option::of(any::<i64>()),
            tag in proptest::option::of(any::<u64>()), code in 0usize..RejectReason::ALL.len() + 1,
            seq in any::<u64>(), state in 0usize..3,
        ) {
            let verdict = RejectReason::ALL.get(code).map_or(Verdict::Approved, |r| Verdict::Rejected(*r));
            let d = Decision {
                price: Price::from_raw(price),
                qty: Qty::from_raw(qty),
                stop: stop.map(Price::from_raw),
                tag,
                verdict,
                state: TradingState::ALL[state],
                client_order_id: ClientOrderId::from_session_seq(1, seq),
                ..sample()
            };
            let mut buf = [0u8; 105];
            d.encode(&mut buf).unwrap();
            prop_assert_eq!(Decision::decode(&buf, 1).unwrap(), d);
        }
    }
}
