//! Per-stage nanosecond stamps.
//!
//! Owns [`Stamps`], the ingress pair every event carries: when its bytes
//! arrived and when they became a typed value. Later stages are named fields
//! of the events that pass them (`OrderCommand::decide`, `::journal`,
//! `::send`; `ExecReport::apply`; `ControlMsg::apply`). All stamps come from
//! clones of one [`crate::clock::MonotonicClock`] (or a `ManualClock` in
//! replay), so differences between them are stage latencies; zero means "not
//! stamped". This module never reads a clock itself: callers pass `now`.

use serde::Serialize;

use crate::clock::Nanos;

/// When an event entered the process and when it was decoded.
///
/// | event          | `recv`                                   | `decode`                         |
/// |----------------|------------------------------------------|----------------------------------|
/// | `MarketEvent`  | socket read returned the frame           | the event was built              |
/// | `OrderCommand` | `recv` of the market event that triggered it (zero if none) | its `decode` |
/// | `ExecReport`   | socket read returned the report          | the report was built             |
/// | `ControlMsg`   | the control agent received the request   | the command was built and pushed |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[repr(C)]
pub struct Stamps {
    /// Bytes received.
    #[serde(rename = "recv_ns", serialize_with = "super::json::nanos")]
    pub recv: Nanos,
    /// Typed value built.
    #[serde(rename = "decode_ns", serialize_with = "super::json::nanos")]
    pub decode: Nanos,
}

impl Stamps {
    /// Nothing stamped yet.
    pub const ZERO: Stamps = Stamps {
        recv: Nanos::ZERO,
        decode: Nanos::ZERO,
    };

    /// Stamps with `recv` set and `decode` not yet stamped.
    #[inline]
    pub const fn received(recv: Nanos) -> Stamps {
        Stamps {
            recv,
            decode: Nanos::ZERO,
        }
    }

    /// Nanoseconds from `recv` to `decode` (zero if either is missing or
    /// they are out of order).
    #[inline]
    pub const fn decode_latency(&self) -> u64 {
        if self.recv.0 == 0 || self.decode.0 == 0 {
            0
        } else {
            self.decode.saturating_elapsed_since(self.recv)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_latency_ignores_missing_stamps() {
        assert_eq!(Stamps::ZERO.decode_latency(), 0);
        assert_eq!(Stamps::received(Nanos(100)).decode_latency(), 0);
        let s = Stamps {
            recv: Nanos(100),
            decode: Nanos(350),
        };
        assert_eq!(s.decode_latency(), 250);
        let backwards = Stamps {
            recv: Nanos(350),
            decode: Nanos(100),
        };
        assert_eq!(backwards.decode_latency(), 0);
    }
}
