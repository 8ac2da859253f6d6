//! Execution reports from the gateway to the engine.
//!
//! Owns [`ExecReport`] (an order acknowledgement, fill, cancel, rejection or
//! expiry, decoded from the venue's user data stream or order responses),
//! [`OrderStatus`] and [`FeeAsset`]. The engine applies reports to its
//! positions and journals them. This module never allocates, never reads a
//! clock and never decides anything.
//!
//! Layout (`#[repr(C)]`, exactly 128 bytes, align 8):
//!
//! ```text
//!   0 instrument u16   2 status u8   3 side u8   4 reject_code i32
//!   8 venue_order_id u64        16 trade_id u64 (0 = not a fill)
//!  24 last_price Price          32 last_qty Qty
//!  40 cum_qty Qty               48 fee Qty (in fee_asset units)
//!  56 venue_time_ms u64
//!  64 stamps Stamps (recv 64, decode 72)   80 apply Nanos
//!  88 client_order_id (36 bytes + len u8)  125 fee_asset u8   126 padding   128
//! ```
//!
//! The order's own limit price is not repeated here: the engine has it from
//! the `OrderCommand` with the same client order id (and 8 more bytes would
//! not fit the 128-byte budget).

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::clock::Nanos;
use crate::event::order::{ClientOrderId, Side};
use crate::event::stamp::Stamps;
use crate::instrument::InstrumentId;
use crate::num::{Price, Qty};

wire_enum! {
    /// An order's state on the venue, as DESIGN §6's state machine names it.
    OrderStatus {
        /// Sent, not yet acknowledged.
        PendingNew = 1 => "pending_new",
        /// Accepted and open.
        New = 2 => "new",
        /// Partly filled, still open.
        PartiallyFilled = 3 => "partially_filled",
        /// Completely filled.
        Filled = 4 => "filled",
        /// Cancelled (by us or the venue).
        Canceled = 5 => "canceled",
        /// Refused by the venue; see `reject_code`.
        Rejected = 6 => "rejected",
        /// Expired (IOC/FOK remainder, or venue expiry).
        Expired = 7 => "expired",
        /// Not known after a timeout: the gateway must query the venue.
        Unknown = 8 => "unknown",
    }
}

impl OrderStatus {
    /// True if the order can change no more.
    #[inline]
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled
                | OrderStatus::Canceled
                | OrderStatus::Rejected
                | OrderStatus::Expired
        )
    }
}

wire_enum! {
    /// Which asset a fill's fee was charged in.
    FeeAsset {
        /// No fee (not a fill, or zero commission).
        None = 1 => "none",
        /// The instrument's base asset.
        Base = 2 => "base",
        /// The instrument's quote asset.
        Quote = 3 => "quote",
        /// A third asset (e.g. BNB fee discount); its name is in the
        /// venue's report, which reconciliation records.
        Other = 4 => "other",
    }
}

/// An execution report: plain data, one per venue update of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct ExecReport {
    /// Instrument of the order.
    pub instrument: InstrumentId,
    /// Order status after this update.
    pub status: OrderStatus,
    /// Order side.
    pub side: Side,
    /// Venue error code for a rejection (Binance's negative `code`), else 0.
    pub reject_code: i32,
    /// Venue order id (`orderId`).
    pub venue_order_id: u64,
    /// Venue trade id of this fill (`t`), or 0 if this update is not a fill.
    pub trade_id: u64,
    /// Price of this fill (`L`), zero if not a fill.
    pub last_price: Price,
    /// Quantity of this fill (`l`), zero if not a fill.
    pub last_qty: Qty,
    /// Cumulative filled quantity (`z`).
    pub cum_qty: Qty,
    /// Fee charged for this fill (`n`), in `fee_asset` units.
    pub fee: Qty,
    /// Venue transaction time in Unix milliseconds (`T`).
    pub venue_time_ms: u64,
    /// Receive and decode stamps.
    pub stamps: Stamps,
    /// The engine applied the report.
    pub apply: Nanos,
    /// The order's client id (`c`; for a cancel, the cancelled order's id).
    pub client_order_id: ClientOrderId,
    /// Asset `fee` is in.
    pub fee_asset: FeeAsset,
}

const _: () = assert!(size_of::<ExecReport>() <= 128);
const _: () = assert!(size_of::<ExecReport>() == 128);

impl ExecReport {
    /// An all-default report (a `New` buy on instrument 0, no id), for tests
    /// and benches.
    pub const ZERO: ExecReport = ExecReport {
        instrument: InstrumentId(0),
        status: OrderStatus::New,
        side: Side::Buy,
        reject_code: 0,
        venue_order_id: 0,
        trade_id: 0,
        last_price: Price::ZERO,
        last_qty: Qty::ZERO,
        cum_qty: Qty::ZERO,
        fee: Qty::ZERO,
        venue_time_ms: 0,
        stamps: Stamps::ZERO,
        apply: Nanos::ZERO,
        client_order_id: ClientOrderId::EMPTY,
        fee_asset: FeeAsset::None,
    };

    /// True if this update carries a fill.
    #[inline]
    pub const fn is_fill(&self) -> bool {
        self.last_qty.is_positive()
    }
}

impl Default for ExecReport {
    fn default() -> Self {
        ExecReport::ZERO
    }
}

impl Serialize for ExecReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Id(u64);
        impl Serialize for Id {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }
        let mut st = s.serialize_struct("ExecReport", 17)?;
        st.serialize_field("instrument", &self.instrument)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("side", &self.side)?;
        st.serialize_field("client_order_id", &self.client_order_id)?;
        st.serialize_field("venue_order_id", &Id(self.venue_order_id))?;
        st.serialize_field("trade_id", &Id(self.trade_id))?;
        st.serialize_field("last_price", &self.last_price)?;
        st.serialize_field("last_qty", &self.last_qty)?;
        st.serialize_field("cum_qty", &self.cum_qty)?;
        st.serialize_field("fee", &self.fee)?;
        st.serialize_field("fee_asset", &self.fee_asset)?;
        st.serialize_field("reject_code", &self.reject_code)?;
        st.serialize_field("venue_time_ms", &self.venue_time_ms)?;
        st.serialize_field("recv_ns", &self.stamps.recv.0)?;
        st.serialize_field("decode_ns", &self.stamps.decode.0)?;
        st.serialize_field("apply_ns", &self.apply.0)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn statuses_round_trip_and_terminality() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::from_u8(s.as_u8()), Some(*s));
        }
        for f in FeeAsset::ALL {
            assert_eq!(FeeAsset::from_u8(f.as_u8()), Some(*f));
        }
        assert_eq!(OrderStatus::from_u8(0), None);
        assert_eq!(OrderStatus::from_u8(9), None);
        let terminal: Vec<_> = OrderStatus::ALL
            .iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(terminal.len(), 4);
        assert!(!OrderStatus::PartiallyFilled.is_terminal());
        assert!(!OrderStatus::Unknown.is_terminal());
    }

    #[test]
    fn serializes_for_export() {
        let r = ExecReport {
            status: OrderStatus::PartiallyFilled,
            side: Side::Sell,
            venue_order_id: 1 << 60,
            trade_id: 77,
            last_price: Price::parse("27000.01").unwrap(),
            last_qty: Qty::parse("0.5").unwrap(),
            cum_qty: Qty::parse("0.5").unwrap(),
            fee: Qty::parse("0.0135").unwrap(),
            fee_asset: FeeAsset::Quote,
            client_order_id: ClientOrderId::from_session_seq(1, 9),
            apply: Nanos(3),
            ..ExecReport::ZERO
        };
        assert!(r.is_fill());
        assert!(!ExecReport::ZERO.is_fill());
        let v: serde_json::Value = serde_json::to_value(r).unwrap();
        assert_eq!(v["status"], "partially_filled");
        assert_eq!(v["side"], "sell");
        assert_eq!(v["venue_order_id"], "1152921504606846976");
        assert_eq!(v["trade_id"], "77");
        assert_eq!(v["last_price"], "27000.01");
        assert_eq!(v["fee_asset"], "quote");
        assert_eq!(v["client_order_id"], "tl0000000001-00000000000000000009");
        assert_eq!(v["apply_ns"], 3);
    }
}
