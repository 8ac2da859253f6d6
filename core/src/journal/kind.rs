//! What a journal record's payload is.
//!
//! Owns [`RecordKind`], the closed set of payload types the journal knows.
//! The journal itself treats payloads as opaque bytes; the kind tells readers
//! (export, replay, the control agent's projection) how to decode them. A
//! reader meeting a kind it does not know reports it raw and skips it: new
//! kinds never break old tools.

/// The payload type of a journal record, stored as a `u16` in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum RecordKind {
    /// A `MarketEvent` (the feed's tape, or the market event a decision reacted to).
    MarketEvent = 1,
    /// An `OrderCommand` the engine decided to send (written before it is pushed).
    OrderCommand = 2,
    /// An `ExecReport` received from the venue.
    ExecReport = 3,
    /// A `ControlMsg` the engine applied.
    ControlMsg = 4,
    /// A `Decision`: the engine's verdict on one intent (written before the
    /// `OrderCommand` it may lead to).
    Decision = 5,
    /// Opaque bytes: benchmarks, tests and tools that journal their own data.
    Blob = 0x7F00,
}

impl RecordKind {
    /// Every kind, for tables and tests.
    pub const ALL: [RecordKind; 6] = [
        RecordKind::MarketEvent,
        RecordKind::OrderCommand,
        RecordKind::ExecReport,
        RecordKind::ControlMsg,
        RecordKind::Decision,
        RecordKind::Blob,
    ];

    /// The kind stored as `raw`, if this build knows it.
    #[inline]
    pub const fn from_u16(raw: u16) -> Option<RecordKind> {
        match raw {
            1 => Some(RecordKind::MarketEvent),
            2 => Some(RecordKind::OrderCommand),
            3 => Some(RecordKind::ExecReport),
            4 => Some(RecordKind::ControlMsg),
            5 => Some(RecordKind::Decision),
            0x7F00 => Some(RecordKind::Blob),
            _ => None,
        }
    }

    /// The stored value.
    #[inline]
    pub const fn as_u16(self) -> u16 {
        self as u16
    }

    /// A stable lower-case name for exports and reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordKind::MarketEvent => "market_event",
            RecordKind::OrderCommand => "order_command",
            RecordKind::ExecReport => "exec_report",
            RecordKind::ControlMsg => "control_msg",
            RecordKind::Decision => "decision",
            RecordKind::Blob => "blob",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_u16() {
        for kind in RecordKind::ALL {
            assert_eq!(RecordKind::from_u16(kind.as_u16()), Some(kind));
        }
        assert_eq!(RecordKind::from_u16(0), None);
        assert_eq!(RecordKind::from_u16(999), None);
    }
}
