//! The plain-data events that cross rings and land in the journal.
//!
//! This module owns [`MarketEvent`], [`OrderCommand`], [`ExecReport`] and
//! [`ControlMsg`], the small `#[repr(u8)]` enums they carry, the per-stage
//! nanosecond [`Stamps`], and their journal encoding ([`JournalPayload`]).
//! Every event is `Copy`, `#[repr(C)]`, holds no heap type, and has its size
//! asserted at compile time (`MarketEvent` is exactly one 64-byte cache line;
//! the others are ≤ 128 bytes). Events never allocate, never perform I/O and
//! never validate business rules (that is risk's job): they are data.
//!
//! | event          | size | produced by | consumed by      | stages stamped                  |
//! |----------------|------|-------------|------------------|---------------------------------|
//! | [`MarketEvent`]  | 64   | feed        | engine, tape     | recv, decode                    |
//! | [`OrderCommand`] | 104  | engine      | gateway, journal | trigger recv/decode, decide, journal, send |
//! | [`ExecReport`]   | 128  | gateway     | engine, journal  | recv, decode, apply             |
//! | [`ControlMsg`]   | 112  | control     | engine, journal  | recv, decode, apply             |
//!
//! Every fieldless enum here stores a `u8` starting at 1 (so an all-zero
//! buffer never decodes as a valid event), has `as_str()` (a stable
//! lower-case name) and a fallible `from_u8`. `serde::Serialize` writes the
//! JSON used by `talon journal export`: prices and quantities as decimal
//! strings, enums as their lower-case names, 64-bit venue and command ids as
//! strings (JSON readers lose precision above 2^53), nanosecond stamps and
//! venue millisecond times as numbers.

/// Defines a fieldless `#[repr(u8)]` wire enum with `ALL`, `as_u8`,
/// `from_u8`, `as_str`, `Display` and a `Serialize` that writes the name.
macro_rules! wire_enum {
    (
        $(#[$doc:meta])*
        $name:ident {
            $( $(#[$vdoc:meta])* $variant:ident = $value:literal => $text:literal, )+
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name {
            $( $(#[$vdoc])* $variant = $value, )+
        }

        impl $name {
            /// Every variant, in discriminant order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stored byte.
            #[inline]
            pub const fn as_u8(self) -> u8 {
                self as u8
            }

            /// The variant stored as `raw`, if any.
            #[inline]
            pub const fn from_u8(raw: u8) -> Option<$name> {
                match raw {
                    $( $value => Some($name::$variant), )+
                    _ => None,
                }
            }

            /// A stable lower-case name for exports and logs.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

mod codec;
mod control;
mod decision;
mod exec;
mod market;
mod order;
mod stamp;

pub use codec::{JournalPayload, PayloadError};
pub use control::{ControlCommand, ControlMsg};
pub use decision::{Decision, DecisionOrigin, DecisionOutcome};
pub use exec::{ExecReport, FeeAsset, OrderStatus};
pub use market::{DepthLevel, MarketData, MarketEvent, MarketKind, TopOfBook, Trade};
pub use order::{
    ClientOrderId, ClientOrderIdError, OrderCommand, OrderCommandKind, OrderType, Side, TimeInForce,
};
pub use stamp::Stamps;

/// Serde helpers shared by the event modules (export JSON only).
mod json {
    use crate::clock::Nanos;

    /// A 64-bit id as a decimal string (exact in every JSON reader).
    pub(super) fn u64_str<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    /// A stamp as its nanosecond count.
    pub(super) fn nanos<S: serde::Serializer>(v: &Nanos, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(v.0)
    }
}
