//! Journal encoding of the events.
//!
//! Owns the [`JournalPayload`] trait and its implementations: each event is
//! written field by field, little-endian, at fixed offsets, into exactly
//! `ENCODED_LEN` bytes. No `unsafe`, no transmute, no dependence on the
//! in-memory layout (padding is never written), no allocation. Decoding
//! validates every enum byte, flag bit, client order id and notional range,
//! and never panics on any input; trailing bytes after `ENCODED_LEN` (journal
//! alignment padding) are ignored. A new field means a new `VERSION`; old
//! versions stay decodable.
//!
//! Version 1 layouts (byte offsets):
//!
//! ```text
//! MarketEvent (60 B)
//!  0 instrument u16 | 2 kind u8 | 3 flags u8 | 4 id u64 | 12 price i64 | 20 qty i64
//! 28 price2 i64 | 36 aux u64 | 44 recv u64 | 52 decode u64
//!
//! OrderCommand (99 B)
//!  0 instrument u16 | 2 kind u8 | 3 side u8 | 4 order_type u8 | 5 time_in_force u8
//!  6 price i64 | 14 qty i64 | 22 client_order_id len u8 | 23 client_order_id [u8; 36] (zero-padded)
//! 59 trigger.recv u64 | 67 trigger.decode u64 | 75 decide u64 | 83 journal u64 | 91 send u64
//!
//! ExecReport (126 B)
//!  0 instrument u16 | 2 status u8 | 3 side u8 | 4 fee_asset u8 | 5 reject_code i32
//!  9 venue_order_id u64 | 17 trade_id u64 | 25 last_price i64 | 33 last_qty i64
//! 41 cum_qty i64 | 49 fee i64 | 57 venue_time_ms u64 | 65 recv u64 | 73 decode u64
//! 81 apply u64 | 89 client_order_id len u8 | 90 client_order_id [u8; 36]
//!
//! ControlMsg (84 B)
//!  0 command_id u64 | 8 tag u8 | 9 body [u8; 51] (per tag, zero-filled after its fields):
//!      1 halt:                 9 reason u8
//!      2 resume:               —
//!      3 cancel_all:           9 has_instrument u8 (0/1) | 10 instrument u16
//!      4 set_limits:           9 has_instrument u8 | 10 instrument u16
//!                             12 max_order_notional i128 | 28 daily_loss_limit i128
//!                             44 max_position i64 | 52 max_open_orders u32 | 56 max_orders_per_sec u32
//!      5 set_tilt_multiplier:  9 bps u16
//! 60 recv u64 | 68 decode u64 | 76 apply u64
//! ```

use crate::clock::Nanos;
use crate::event::control::{ControlCommand, ControlMsg};
use crate::event::exec::{ExecReport, FeeAsset, OrderStatus};
use crate::event::market::{FLAG_ASK_SIDE, FLAG_BUYER_IS_MAKER, MarketEvent, MarketKind};
use crate::event::order::{
    ClientOrderId, OrderCommand, OrderCommandKind, OrderType, Side, TimeInForce,
};
use crate::event::stamp::Stamps;
use crate::halt::HaltReason;
use crate::instrument::InstrumentId;
use crate::journal::RecordKind;
use crate::num::{Notional, Price, Qty};

/// An event that can be written to and read from a journal record payload.
pub trait JournalPayload: Sized {
    /// The record kind stored in the journal header.
    const KIND: RecordKind;
    /// The payload format version written by `encode`.
    const VERSION: u16;
    /// Exact payload length written by `encode`.
    const ENCODED_LEN: usize;
    /// Writes exactly ENCODED_LEN bytes into out[..ENCODED_LEN]; Err if out is too short.
    fn encode(&self, out: &mut [u8]) -> Result<(), PayloadError>;
    /// Reads a payload written with format `version`.
    fn decode(bytes: &[u8], version: u16) -> Result<Self, PayloadError>;
}

/// Why a payload could not be encoded or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum PayloadError {
    /// The buffer is shorter than the format needs.
    #[error("payload buffer too short: need {needed} bytes, have {got}")]
    TooShort {
        /// Bytes the format needs.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// A format version this build cannot read.
    #[error("unknown payload version {version}")]
    UnknownVersion {
        /// The version in the record header.
        version: u16,
    },
    /// An enum byte or flag bits with no meaning.
    #[error("invalid {field} value {value}")]
    InvalidDiscriminant {
        /// The field.
        field: &'static str,
        /// The stored byte.
        value: u8,
    },
    /// A client order id that breaks Binance's rule (or a bad length byte).
    #[error("invalid client order id")]
    InvalidClientOrderId,
    /// A value outside its type's range (a `Notional` beyond ±(2^96 − 1)).
    #[error("{field} out of range")]
    OutOfRange {
        /// The field.
        field: &'static str,
    },
}

/// Fixed-offset little-endian writer over `out[..len]`.
struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut [u8], len: usize) -> Result<Writer<'a>, PayloadError> {
        let got = out.len();
        let buf = out
            .get_mut(..len)
            .ok_or(PayloadError::TooShort { needed: len, got })?;
        Ok(Writer { buf, pos: 0 })
    }

    fn bytes(&mut self, b: &[u8]) -> Result<(), PayloadError> {
        let end = self.pos + b.len();
        let got = self.buf.len();
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(PayloadError::TooShort { needed: end, got })?;
        dst.copy_from_slice(b);
        self.pos = end;
        Ok(())
    }

    fn u8(&mut self, v: u8) -> Result<(), PayloadError> {
        self.bytes(&[v])
    }
    fn u16(&mut self, v: u16) -> Result<(), PayloadError> {
        self.bytes(&v.to_le_bytes())
    }
    fn u32(&mut self, v: u32) -> Result<(), PayloadError> {
        self.bytes(&v.to_le_bytes())
    }
    fn i32(&mut self, v: i32) -> Result<(), PayloadError> {
        self.bytes(&v.to_le_bytes())
    }
    fn u64(&mut self, v: u64) -> Result<(), PayloadError> {
        self.bytes(&v.to_le_bytes())
    }
    fn i64(&mut self, v: i64) -> Result<(), PayloadError> {
        self.bytes(&v.to_le_bytes())
    }
    fn i128(&mut self, v: i128) -> Result<(), PayloadError> {
        self.bytes(&v.to_le_bytes())
    }
    fn stamps(&mut self, s: Stamps) -> Result<(), PayloadError> {
        self.u64(s.recv.0)?;
        self.u64(s.decode.0)
    }
    fn client_order_id(&mut self, id: &ClientOrderId) -> Result<(), PayloadError> {
        let b = id.as_bytes();
        let mut field = [0u8; ClientOrderId::MAX_LEN];
        field
            .get_mut(..b.len())
            .ok_or(PayloadError::InvalidClientOrderId)?
            .copy_from_slice(b);
        // b.len() ≤ MAX_LEN = 36 (checked by the get_mut above).
        self.u8(b.len() as u8)?;
        self.bytes(&field)
    }
    /// Zero-fills up to offset `to` (unused body bytes).
    fn zero_to(&mut self, to: usize) -> Result<(), PayloadError> {
        while self.pos < to {
            self.u8(0)?;
        }
        Ok(())
    }
}

/// Fixed-offset little-endian reader.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(
        bytes: &'a [u8],
        len: usize,
        version: u16,
        supported: u16,
    ) -> Result<Reader<'a>, PayloadError> {
        if version != supported {
            return Err(PayloadError::UnknownVersion { version });
        }
        if bytes.len() < len {
            return Err(PayloadError::TooShort {
                needed: len,
                got: bytes.len(),
            });
        }
        Ok(Reader { buf: bytes, pos: 0 })
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], PayloadError> {
        let end = self.pos + N;
        let got = self.buf.len();
        let src = self
            .buf
            .get(self.pos..end)
            .ok_or(PayloadError::TooShort { needed: end, got })?;
        let arr =
            <[u8; N]>::try_from(src).map_err(|_| PayloadError::TooShort { needed: end, got })?;
        self.pos = end;
        Ok(arr)
    }

    fn u8(&mut self) -> Result<u8, PayloadError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, PayloadError> {
        self.take().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Result<u32, PayloadError> {
        self.take().map(u32::from_le_bytes)
    }
    fn i32(&mut self) -> Result<i32, PayloadError> {
        self.take().map(i32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, PayloadError> {
        self.take().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Result<i64, PayloadError> {
        self.take().map(i64::from_le_bytes)
    }
    fn i128(&mut self) -> Result<i128, PayloadError> {
        self.take().map(i128::from_le_bytes)
    }
    fn nanos(&mut self) -> Result<Nanos, PayloadError> {
        self.u64().map(Nanos)
    }
    fn stamps(&mut self) -> Result<Stamps, PayloadError> {
        Ok(Stamps {
            recv: self.nanos()?,
            decode: self.nanos()?,
        })
    }
    fn price(&mut self) -> Result<Price, PayloadError> {
        self.i64().map(Price::from_raw)
    }
    fn qty(&mut self) -> Result<Qty, PayloadError> {
        self.i64().map(Qty::from_raw)
    }
    fn notional(&mut self, field: &'static str) -> Result<Notional, PayloadError> {
        Notional::from_raw(self.i128()?).ok_or(PayloadError::OutOfRange { field })
    }
    fn instrument(&mut self) -> Result<InstrumentId, PayloadError> {
        self.u16().map(InstrumentId)
    }
    /// A `has` byte (0/1) then a u16 id.
    fn opt_instrument(&mut self) -> Result<Option<InstrumentId>, PayloadError> {
        let has = self.u8()?;
        let id = self.instrument()?;
        match has {
            0 => Ok(None),
            1 => Ok(Some(id)),
            value => Err(PayloadError::InvalidDiscriminant {
                field: "has_instrument",
                value,
            }),
        }
    }
    /// Reads an enum byte through `from_u8`.
    fn enum_u8<T>(
        &mut self,
        field: &'static str,
        from: fn(u8) -> Option<T>,
    ) -> Result<T, PayloadError> {
        let value = self.u8()?;
        from(value).ok_or(PayloadError::InvalidDiscriminant { field, value })
    }
    /// Length byte + 36 bytes. Length 0 is `EMPTY`; bytes past the length
    /// are ignored.
    fn client_order_id(&mut self) -> Result<ClientOrderId, PayloadError> {
        let len = usize::from(self.u8()?);
        let field = self.take::<{ ClientOrderId::MAX_LEN }>()?;
        if len == 0 {
            return Ok(ClientOrderId::EMPTY);
        }
        let text = field.get(..len).ok_or(PayloadError::InvalidClientOrderId)?;
        ClientOrderId::from_bytes(text).map_err(|_| PayloadError::InvalidClientOrderId)
    }
    fn skip_to(&mut self, to: usize) {
        self.pos = self.pos.max(to);
    }
}

fn opt_instrument(w: &mut Writer<'_>, i: Option<InstrumentId>) -> Result<(), PayloadError> {
    match i {
        Some(id) => {
            w.u8(1)?;
            w.u16(id.0)
        }
        None => {
            w.u8(0)?;
            w.u16(0)
        }
    }
}

impl JournalPayload for MarketEvent {
    const KIND: RecordKind = RecordKind::MarketEvent;
    const VERSION: u16 = 1;
    const ENCODED_LEN: usize = 60;

    fn encode(&self, out: &mut [u8]) -> Result<(), PayloadError> {
        let mut w = Writer::new(out, Self::ENCODED_LEN)?;
        w.u16(self.instrument.0)?;
        w.u8(self.kind.as_u8())?;
        w.u8(self.flags)?;
        w.u64(self.id)?;
        w.i64(self.price.raw())?;
        w.i64(self.qty.raw())?;
        w.i64(self.price2.raw())?;
        w.u64(self.aux)?;
        w.stamps(self.stamps)
    }

    fn decode(bytes: &[u8], version: u16) -> Result<Self, PayloadError> {
        let mut r = Reader::new(bytes, Self::ENCODED_LEN, version, Self::VERSION)?;
        let instrument = r.instrument()?;
        let kind = r.enum_u8("market_kind", MarketKind::from_u8)?;
        let flags = r.u8()?;
        let allowed = match kind {
            MarketKind::Trade => FLAG_BUYER_IS_MAKER,
            MarketKind::DepthLevel => FLAG_ASK_SIDE,
            _ => 0,
        };
        if flags & !allowed != 0 {
            return Err(PayloadError::InvalidDiscriminant {
                field: "market_flags",
                value: flags,
            });
        }
        Ok(MarketEvent {
            instrument,
            kind,
            flags,
            id: r.u64()?,
            price: r.price()?,
            qty: r.qty()?,
            price2: r.price()?,
            aux: r.u64()?,
            stamps: r.stamps()?,
        })
    }
}

impl JournalPayload for OrderCommand {
    const KIND: RecordKind = RecordKind::OrderCommand;
    const VERSION: u16 = 1;
    const ENCODED_LEN: usize = 99;

    fn encode(&self, out: &mut [u8]) -> Result<(), PayloadError> {
        let mut w = Writer::new(out, Self::ENCODED_LEN)?;
        w.u16(self.instrument.0)?;
        w.u8(self.kind.as_u8())?;
        w.u8(self.side.as_u8())?;
        w.u8(self.order_type.as_u8())?;
        w.u8(self.time_in_force.as_u8())?;
        w.i64(self.price.raw())?;
        w.i64(self.qty.raw())?;
        w.client_order_id(&self.client_order_id)?;
        w.stamps(self.trigger)?;
        w.u64(self.decide.0)?;
        w.u64(self.journal.0)?;
        w.u64(self.send.0)
    }

    fn decode(bytes: &[u8], version: u16) -> Result<Self, PayloadError> {
        let mut r = Reader::new(bytes, Self::ENCODED_LEN, version, Self::VERSION)?;
        Ok(OrderCommand {
            instrument: r.instrument()?,
            kind: r.enum_u8("order_command_kind", OrderCommandKind::from_u8)?,
            side: r.enum_u8("side", Side::from_u8)?,
            order_type: r.enum_u8("order_type", OrderType::from_u8)?,
            time_in_force: r.enum_u8("time_in_force", TimeInForce::from_u8)?,
            price: r.price()?,
            qty: r.qty()?,
            client_order_id: r.client_order_id()?,
            trigger: r.stamps()?,
            decide: r.nanos()?,
            journal: r.nanos()?,
            send: r.nanos()?,
        })
    }
}

impl JournalPayload for ExecReport {
    const KIND: RecordKind = RecordKind::ExecReport;
    const VERSION: u16 = 1;
    const ENCODED_LEN: usize = 126;

    fn encode(&self, out: &mut [u8]) -> Result<(), PayloadError> {
        let mut w = Writer::new(out, Self::ENCODED_LEN)?;
        w.u16(self.instrument.0)?;
        w.u8(self.status.as_u8())?;
        w.u8(self.side.as_u8())?;
        w.u8(self.fee_asset.as_u8())?;
        w.i32(self.reject_code)?;
        w.u64(self.venue_order_id)?;
        w.u64(self.trade_id)?;
        w.i64(self.last_price.raw())?;
        w.i64(self.last_qty.raw())?;
        w.i64(self.cum_qty.raw())?;
        w.i64(self.fee.raw())?;
        w.u64(self.venue_time_ms)?;
        w.stamps(self.stamps)?;
        w.u64(self.apply.0)?;
        w.client_order_id(&self.client_order_id)
    }

    fn decode(bytes: &[u8], version: u16) -> Result<Self, PayloadError> {
        let mut r = Reader::new(bytes, Self::ENCODED_LEN, version, Self::VERSION)?;
        Ok(ExecReport {
            instrument: r.instrument()?,
            status: r.enum_u8("order_status", OrderStatus::from_u8)?,
            side: r.enum_u8("side", Side::from_u8)?,
            fee_asset: r.enum_u8("fee_asset", FeeAsset::from_u8)?,
            reject_code: r.i32()?,
            venue_order_id: r.u64()?,
            trade_id: r.u64()?,
            last_price: r.price()?,
            last_qty: r.qty()?,
            cum_qty: r.qty()?,
            fee: r.qty()?,
            venue_time_ms: r.u64()?,
            stamps: r.stamps()?,
            apply: r.nanos()?,
            client_order_id: r.client_order_id()?,
        })
    }
}

/// Offset of the first stamp in an encoded `ControlMsg` (end of the body).
const CONTROL_BODY_END: usize = 60;

impl JournalPayload for ControlMsg {
    const KIND: RecordKind = RecordKind::ControlMsg;
    const VERSION: u16 = 1;
    const ENCODED_LEN: usize = 84;

    fn encode(&self, out: &mut [u8]) -> Result<(), PayloadError> {
        let mut w = Writer::new(out, Self::ENCODED_LEN)?;
        w.u64(self.command_id)?;
        w.u8(self.command.tag())?;
        match self.command {
            // Every HaltReason code is < 256 (asserted in crate::halt), so one byte holds it.
            ControlCommand::Halt { reason } => w.u8(reason.as_u16() as u8)?,
            ControlCommand::Resume => {}
            ControlCommand::CancelAll { instrument } => opt_instrument(&mut w, instrument)?,
            ControlCommand::SetLimits {
                max_order_notional,
                daily_loss_limit,
                max_position,
                max_open_orders,
                max_orders_per_sec,
                instrument,
            } => {
                opt_instrument(&mut w, instrument)?;
                w.i128(max_order_notional.raw())?;
                w.i128(daily_loss_limit.raw())?;
                w.i64(max_position.raw())?;
                w.u32(max_open_orders)?;
                w.u32(max_orders_per_sec)?;
            }
            ControlCommand::SetTiltMultiplier { bps } => w.u16(bps)?,
        }
        w.zero_to(CONTROL_BODY_END)?;
        w.stamps(self.stamps)?;
        w.u64(self.apply.0)
    }

    fn decode(bytes: &[u8], version: u16) -> Result<Self, PayloadError> {
        let mut r = Reader::new(bytes, Self::ENCODED_LEN, version, Self::VERSION)?;
        let command_id = r.u64()?;
        let tag = r.u8()?;
        let command = match tag {
            1 => ControlCommand::Halt {
                reason: r.enum_u8("halt_reason", |v| HaltReason::from_u16(u16::from(v)))?,
            },
            2 => ControlCommand::Resume,
            3 => ControlCommand::CancelAll {
                instrument: r.opt_instrument()?,
            },
            4 => {
                let instrument = r.opt_instrument()?;
                ControlCommand::SetLimits {
                    max_order_notional: r.notional("max_order_notional")?,
                    daily_loss_limit: r.notional("daily_loss_limit")?,
                    max_position: r.qty()?,
                    max_open_orders: r.u32()?,
                    max_orders_per_sec: r.u32()?,
                    instrument,
                }
            }
            5 => ControlCommand::SetTiltMultiplier { bps: r.u16()? },
            value => {
                return Err(PayloadError::InvalidDiscriminant {
                    field: "control_command",
                    value,
                });
            }
        };
        r.skip_to(CONTROL_BODY_END);
        Ok(ControlMsg {
            command,
            stamps: r.stamps()?,
            apply: r.nanos()?,
            command_id,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::event::market::{DepthLevel, MarketData, TopOfBook, Trade};
    use proptest::prelude::*;

    fn price() -> impl Strategy<Value = Price> {
        any::<i64>().prop_map(Price::from_raw)
    }
    fn qty() -> impl Strategy<Value = Qty> {
        any::<i64>().prop_map(Qty::from_raw)
    }
    fn notional() -> impl Strategy<Value = Notional> {
        (-Notional::MAX.raw()..=Notional::MAX.raw()).prop_map(|r| Notional::from_raw(r).unwrap())
    }
    fn stamps() -> impl Strategy<Value = Stamps> {
        (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Stamps {
            recv: Nanos(a),
            decode: Nanos(b),
        })
    }
    fn instrument() -> impl Strategy<Value = InstrumentId> {
        any::<u16>().prop_map(InstrumentId)
    }
    fn side() -> impl Strategy<Value = Side> {
        prop::sample::select(Side::ALL)
    }
    fn coid() -> impl Strategy<Value = ClientOrderId> {
        prop_oneof![
            Just(ClientOrderId::EMPTY),
            (any::<u32>(), any::<u64>()).prop_map(|(s, q)| ClientOrderId::from_session_seq(s, q)),
            "[.A-Z:/a-z0-9_-]{1,36}".prop_map(|s| ClientOrderId::new(&s).unwrap()),
        ]
    }

    fn market_event() -> impl Strategy<Value = MarketEvent> {
        let data = prop_oneof![
            (any::<u64>(), price(), qty(), price(), qty()).prop_map(|(u, bp, bq, ap, aq)| {
                MarketData::TopOfBook(TopOfBook {
                    update_id: u,
                    bid_price: bp,
                    bid_qty: bq,
                    ask_price: ap,
                    ask_qty: aq,
                })
            }),
            (any::<u64>(), price(), qty(), any::<bool>(), any::<u64>()).prop_map(
                |(t, p, q, m, ms)| {
                    MarketData::Trade(Trade {
                        trade_id: t,
                        price: p,
                        qty: q,
                        buyer_is_maker: m,
                        trade_time_ms: ms,
                    })
                }
            ),
            (any::<u64>(), side(), price(), qty(), any::<u64>()).prop_map(|(u, s, p, q, ms)| {
                MarketData::DepthLevel(DepthLevel {
                    update_id: u,
                    side: s,
                    price: p,
                    qty: q,
                    event_time_ms: ms,
                })
            }),
            Just(MarketData::Stale),
            Just(MarketData::Fresh),
        ];
        (instrument(), data, stamps()).prop_map(|(i, d, s)| MarketEvent::new(i, d, s))
    }

    fn order_command() -> impl Strategy<Value = OrderCommand> {
        (
            (
                instrument(),
                prop::sample::select(OrderCommandKind::ALL),
                side(),
            ),
            (
                prop::sample::select(OrderType::ALL),
                prop::sample::select(TimeInForce::ALL),
            ),
            (price(), qty(), coid()),
            (stamps(), any::<u64>(), any::<u64>(), any::<u64>()),
        )
            .prop_map(
                |((i, k, s), (t, f), (p, q, c), (tr, d, j, se))| OrderCommand {
                    instrument: i,
                    kind: k,
                    side: s,
                    order_type: t,
                    time_in_force: f,
                    price: p,
                    qty: q,
                    client_order_id: c,
                    trigger: tr,
                    decide: Nanos(d),
                    journal: Nanos(j),
                    send: Nanos(se),
                },
            )
    }

    fn exec_report() -> impl Strategy<Value = ExecReport> {
        (
            (
                instrument(),
                prop::sample::select(OrderStatus::ALL),
                side(),
                any::<i32>(),
            ),
            (any::<u64>(), any::<u64>(), price(), qty(), qty(), qty()),
            (
                any::<u64>(),
                stamps(),
                any::<u64>(),
                coid(),
                prop::sample::select(FeeAsset::ALL),
            ),
        )
            .prop_map(
                |((i, st, s, rc), (vo, t, lp, lq, cq, fee), (vt, sts, ap, c, fa))| ExecReport {
                    instrument: i,
                    status: st,
                    side: s,
                    reject_code: rc,
                    venue_order_id: vo,
                    trade_id: t,
                    last_price: lp,
                    last_qty: lq,
                    cum_qty: cq,
                    fee,
                    venue_time_ms: vt,
                    stamps: sts,
                    apply: Nanos(ap),
                    client_order_id: c,
                    fee_asset: fa,
                },
            )
    }

    fn control_msg() -> impl Strategy<Value = ControlMsg> {
        let command = prop_oneof![
            prop::sample::select(HaltReason::ALL.to_vec())
                .prop_map(|r| ControlCommand::Halt { reason: r }),
            Just(ControlCommand::Resume),
            proptest::option::of(instrument())
                .prop_map(|i| ControlCommand::CancelAll { instrument: i }),
            (
                notional(),
                notional(),
                qty(),
                any::<u32>(),
                any::<u32>(),
                proptest::option::of(instrument())
            )
                .prop_map(|(mon, dll, mp, moo, mops, i)| ControlCommand::SetLimits {
                    max_order_notional: mon,
                    daily_loss_limit: dll,
                    max_position: mp,
                    max_open_orders: moo,
                    max_orders_per_sec: mops,
                    instrument: i,
                }),
            any::<u16>().prop_map(|bps| ControlCommand::SetTiltMultiplier { bps }),
        ];
        (any::<u64>(), command, stamps(), any::<u64>()).prop_map(|(id, c, s, a)| ControlMsg {
            command: c,
            stamps: s,
            apply: Nanos(a),
            command_id: id,
        })
    }

    /// encode → decode is the identity, writes exactly ENCODED_LEN bytes,
    /// and is independent of what the buffer held before.
    fn round_trip<T: JournalPayload + PartialEq + std::fmt::Debug>(
        v: &T,
    ) -> Result<(), TestCaseError> {
        let mut a = [0u8; 160];
        let mut b = [0xA5u8; 160];
        v.encode(&mut a).unwrap();
        v.encode(&mut b).unwrap();
        prop_assert_eq!(&a[..T::ENCODED_LEN], &b[..T::ENCODED_LEN]);
        prop_assert!(a[T::ENCODED_LEN..].iter().all(|&x| x == 0));
        prop_assert!(b[T::ENCODED_LEN..].iter().all(|&x| x == 0xA5));
        let back = T::decode(&a[..T::ENCODED_LEN], T::VERSION).unwrap();
        prop_assert_eq!(&back, v);
        // Trailing padding is ignored.
        prop_assert_eq!(&T::decode(&b, T::VERSION).unwrap(), v);
        Ok(())
    }

    /// Decoding arbitrary bytes returns a value or a typed error, never
    /// panics; whatever decodes re-encodes to a payload that decodes equal.
    fn garbage<T: JournalPayload + PartialEq + std::fmt::Debug>(
        bytes: &[u8],
        version: u16,
    ) -> Result<(), TestCaseError> {
        if let Ok(v) = T::decode(bytes, version) {
            let mut out = [0u8; 160];
            v.encode(&mut out).unwrap();
            prop_assert_eq!(T::decode(&out, T::VERSION).unwrap(), v);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn market_event_round_trips(ev in market_event()) {
            round_trip(&ev)?;
        }

        #[test]
        fn order_command_round_trips(cmd in order_command()) {
            round_trip(&cmd)?;
        }

        #[test]
        fn exec_report_round_trips(r in exec_report()) {
            round_trip(&r)?;
        }

        #[test]
        fn control_msg_round_trips(m in control_msg()) {
            round_trip(&m)?;
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..160), version in 0u16..3) {
            garbage::<MarketEvent>(&bytes, version)?;
            garbage::<OrderCommand>(&bytes, version)?;
            garbage::<ExecReport>(&bytes, version)?;
            garbage::<ControlMsg>(&bytes, version)?;
        }

        #[test]
        fn mutated_payloads_never_panic(
            ev in market_event(),
            cmd in order_command(),
            r in exec_report(),
            m in control_msg(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        ) {
            mutated(&ev, &flips)?;
            mutated(&cmd, &flips)?;
            mutated(&r, &flips)?;
            mutated(&m, &flips)?;
        }
    }

    /// Overwrites a few bytes of a valid payload, then checks as `garbage`.
    fn mutated<T: JournalPayload + PartialEq + std::fmt::Debug>(
        v: &T,
        flips: &[(usize, u8)],
    ) -> Result<(), TestCaseError> {
        let mut out = [0u8; 160];
        v.encode(&mut out).unwrap();
        for &(pos, byte) in flips {
            out[pos % T::ENCODED_LEN] = byte;
        }
        garbage::<T>(&out[..T::ENCODED_LEN], T::VERSION)
    }

    #[test]
    fn kinds_and_versions() {
        assert_eq!(MarketEvent::KIND, RecordKind::MarketEvent);
        assert_eq!(OrderCommand::KIND, RecordKind::OrderCommand);
        assert_eq!(ExecReport::KIND, RecordKind::ExecReport);
        assert_eq!(ControlMsg::KIND, RecordKind::ControlMsg);
        assert_eq!(
            MarketEvent::decode(&[0; 60], 2),
            Err(PayloadError::UnknownVersion { version: 2 })
        );
    }

    #[test]
    fn short_buffers_are_typed_errors() {
        let mut out = [0u8; 98];
        assert_eq!(
            OrderCommand::ZERO.encode(&mut out),
            Err(PayloadError::TooShort {
                needed: 99,
                got: 98
            })
        );
        assert_eq!(
            OrderCommand::decode(&out, 1),
            Err(PayloadError::TooShort {
                needed: 99,
                got: 98
            })
        );
        assert_eq!(
            ExecReport::decode(&[], 1),
            Err(PayloadError::TooShort {
                needed: 126,
                got: 0
            })
        );
    }

    #[test]
    fn invalid_fields_are_typed_errors() {
        // All-zero bytes: no enum uses 0.
        assert_eq!(
            MarketEvent::decode(&[0; 60], 1),
            Err(PayloadError::InvalidDiscriminant {
                field: "market_kind",
                value: 0
            })
        );
        assert_eq!(
            OrderCommand::decode(&[0; 99], 1),
            Err(PayloadError::InvalidDiscriminant {
                field: "order_command_kind",
                value: 0
            })
        );
        assert_eq!(
            ControlMsg::decode(&[0; 84], 1),
            Err(PayloadError::InvalidDiscriminant {
                field: "control_command",
                value: 0
            })
        );

        // A flag bit the kind does not use.
        let mut buf = [0u8; 60];
        MarketEvent::ZERO.encode(&mut buf).unwrap();
        buf[3] = FLAG_BUYER_IS_MAKER;
        assert_eq!(
            MarketEvent::decode(&buf, 1),
            Err(PayloadError::InvalidDiscriminant {
                field: "market_flags",
                value: 1
            })
        );

        // A client order id with a forbidden byte, or a length past 36.
        let mut cmd = OrderCommand::ZERO;
        cmd.client_order_id = ClientOrderId::new("abc").unwrap();
        let mut buf = [0u8; 99];
        cmd.encode(&mut buf).unwrap();
        assert_eq!(buf[22], 3);
        assert_eq!(&buf[23..26], b"abc");
        buf[24] = b' ';
        assert_eq!(
            OrderCommand::decode(&buf, 1),
            Err(PayloadError::InvalidClientOrderId)
        );
        buf[24] = b'b';
        buf[22] = 37;
        assert_eq!(
            OrderCommand::decode(&buf, 1),
            Err(PayloadError::InvalidClientOrderId)
        );

        // A notional beyond the Decimal range.
        let msg = ControlMsg::new(
            1,
            ControlCommand::SetLimits {
                max_order_notional: Notional::MAX,
                daily_loss_limit: Notional::ZERO,
                max_position: Qty::ZERO,
                max_open_orders: 0,
                max_orders_per_sec: 0,
                instrument: None,
            },
        );
        let mut buf = [0u8; 84];
        msg.encode(&mut buf).unwrap();
        buf[12..28].copy_from_slice(&(Notional::MAX.raw() + 1).to_le_bytes());
        assert_eq!(
            ControlMsg::decode(&buf, 1),
            Err(PayloadError::OutOfRange {
                field: "max_order_notional"
            })
        );
        buf[9] = 2;
        assert_eq!(
            ControlMsg::decode(&buf, 1),
            Err(PayloadError::InvalidDiscriminant {
                field: "has_instrument",
                value: 2
            })
        );
    }

    #[test]
    fn layout_is_little_endian_at_documented_offsets() {
        let ev = MarketEvent::new(
            InstrumentId(0x0102),
            MarketData::Trade(Trade {
                trade_id: 0x1122_3344_5566_7788,
                price: Price::from_raw(1),
                qty: Qty::from_raw(-1),
                buyer_is_maker: true,
                trade_time_ms: 5,
            }),
            Stamps {
                recv: Nanos(6),
                decode: Nanos(7),
            },
        );
        let mut b = [0u8; 60];
        ev.encode(&mut b).unwrap();
        assert_eq!(
            &b[0..4],
            &[0x02, 0x01, MarketKind::Trade.as_u8(), FLAG_BUYER_IS_MAKER]
        );
        assert_eq!(&b[4..12], &0x1122_3344_5566_7788u64.to_le_bytes());
        assert_eq!(&b[12..20], &1i64.to_le_bytes());
        assert_eq!(&b[20..28], &(-1i64).to_le_bytes());
        assert_eq!(&b[36..44], &5u64.to_le_bytes());
        assert_eq!(&b[44..52], &6u64.to_le_bytes());
        assert_eq!(&b[52..60], &7u64.to_le_bytes());

        let mut r = ExecReport::ZERO;
        r.apply = Nanos(9);
        r.client_order_id = ClientOrderId::new("z").unwrap();
        let mut b = [0u8; 126];
        r.encode(&mut b).unwrap();
        assert_eq!(&b[81..89], &9u64.to_le_bytes());
        assert_eq!((b[89], b[90]), (1, b'z'));

        let m = ControlMsg {
            apply: Nanos(3),
            ..ControlMsg::new(8, ControlCommand::SetTiltMultiplier { bps: 0x0A0B })
        };
        let mut b = [0u8; 84];
        m.encode(&mut b).unwrap();
        assert_eq!(&b[0..8], &8u64.to_le_bytes());
        assert_eq!(&b[8..11], &[5, 0x0B, 0x0A]);
        assert!(b[11..60].iter().all(|&x| x == 0));
        assert_eq!(&b[76..84], &3u64.to_le_bytes());
    }
}
