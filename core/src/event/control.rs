//! Control messages from the control agent to the engine.
//!
//! Owns [`ControlMsg`] and [`ControlCommand`] (halt, resume, cancel-all,
//! limit changes, tilt multiplier); the halt reason is the process-wide
//! [`HaltReason`] of [`crate::halt`]. The control agent's
//! `EngineProxy` builds them and pushes them onto the control ring; the
//! engine applies and journals them. This module never allocates, never
//! reads a clock and applies nothing itself.
//!
//! Layout of `ControlMsg` (`#[repr(C)]`, 112 bytes, align 16 because of the
//! `i128` notionals):
//!
//! ```text
//!   0 command: ControlCommand (#[repr(C, u8)] enum, 80 bytes:
//!              tag u8 at 0, payload union at 16; largest payload SetLimits)
//!  80 stamps: Stamps (recv 80, decode 88)
//!  96 apply: Nanos
//! 104 command_id: u64
//! 112
//! ```

use serde::Serialize;

use crate::clock::Nanos;
use crate::event::stamp::Stamps;
use crate::halt::HaltReason;
use crate::instrument::InstrumentId;
use crate::num::{Notional, Qty};

/// What the control agent asks the engine to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[repr(C, u8)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum ControlCommand {
    /// Stop opening risk and move to `Halted`.
    Halt {
        /// Why.
        reason: HaltReason,
    } = 1,
    /// Leave `Halted` (the engine still requires reconciliation first).
    Resume = 2,
    /// Cancel open orders on one instrument, or on all if `None`.
    CancelAll {
        /// The instrument, or `None` for every instrument.
        instrument: Option<InstrumentId>,
    } = 3,
    /// Replace risk limits, for one instrument or globally if `None`.
    SetLimits {
        /// Largest notional of one order.
        max_order_notional: Notional,
        /// Loss (as a positive amount) that triggers an automatic halt.
        daily_loss_limit: Notional,
        /// Largest absolute position.
        max_position: Qty,
        /// Most open orders at once.
        max_open_orders: u32,
        /// Most new orders per second.
        max_orders_per_sec: u32,
        /// The instrument, or `None` for the global limits.
        instrument: Option<InstrumentId>,
    } = 4,
    /// Scale order sizes by `bps / 10_000` (tilt); 0 blocks new risk.
    SetTiltMultiplier {
        /// Basis points: 10 000 = 1×.
        bps: u16,
    } = 5,
}

impl ControlCommand {
    /// The stored tag.
    #[inline]
    pub const fn tag(&self) -> u8 {
        match self {
            ControlCommand::Halt { .. } => 1,
            ControlCommand::Resume => 2,
            ControlCommand::CancelAll { .. } => 3,
            ControlCommand::SetLimits { .. } => 4,
            ControlCommand::SetTiltMultiplier { .. } => 5,
        }
    }

    /// A stable lower-case name for exports and logs.
    pub const fn as_str(&self) -> &'static str {
        match self {
            ControlCommand::Halt { .. } => "halt",
            ControlCommand::Resume => "resume",
            ControlCommand::CancelAll { .. } => "cancel_all",
            ControlCommand::SetLimits { .. } => "set_limits",
            ControlCommand::SetTiltMultiplier { .. } => "set_tilt_multiplier",
        }
    }
}

/// A control command with its id and stamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct ControlMsg {
    /// The command.
    pub command: ControlCommand,
    /// Receive and build stamps (see [`Stamps`]).
    pub stamps: Stamps,
    /// The engine applied the command.
    pub apply: Nanos,
    /// Id chosen by the control agent (its idempotency key), echoed in
    /// the journal so the control agent can see the command was applied.
    pub command_id: u64,
}

const _: () = assert!(size_of::<ControlMsg>() <= 128);
const _: () = assert!(size_of::<ControlMsg>() == 112);

impl ControlMsg {
    /// `command` with id `command_id` and no stamps.
    pub const fn new(command_id: u64, command: ControlCommand) -> ControlMsg {
        ControlMsg {
            command,
            stamps: Stamps::ZERO,
            apply: Nanos::ZERO,
            command_id,
        }
    }
}

impl Default for ControlMsg {
    /// A `Resume` with id 0.
    fn default() -> Self {
        ControlMsg::new(0, ControlCommand::Resume)
    }
}

/// The export shape: `{"command_id":"…", "command":…, <fields>, "recv_ns":…, "decode_ns":…, "apply_ns":…}`.
#[derive(Serialize)]
struct ControlMsgJson {
    #[serde(serialize_with = "super::json::u64_str")]
    command_id: u64,
    #[serde(flatten)]
    command: ControlCommand,
    #[serde(flatten)]
    stamps: Stamps,
    #[serde(rename = "apply_ns", serialize_with = "super::json::nanos")]
    apply: Nanos,
}

impl Serialize for ControlMsg {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ControlMsgJson {
            command_id: self.command_id,
            command: self.command,
            stamps: self.stamps,
            apply: self.apply,
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tags_and_names() {
        let cmds = [
            ControlCommand::Halt {
                reason: HaltReason::Operator,
            },
            ControlCommand::Resume,
            ControlCommand::CancelAll { instrument: None },
            ControlCommand::SetLimits {
                max_order_notional: Notional::ZERO,
                daily_loss_limit: Notional::ZERO,
                max_position: Qty::ZERO,
                max_open_orders: 0,
                max_orders_per_sec: 0,
                instrument: None,
            },
            ControlCommand::SetTiltMultiplier { bps: 5000 },
        ];
        let tags: Vec<u8> = cmds.iter().map(|c| c.tag()).collect();
        assert_eq!(tags, [1, 2, 3, 4, 5]);
        assert_eq!(cmds[4].as_str(), "set_tilt_multiplier");
    }

    #[test]
    fn serializes_for_export() {
        let mut msg = ControlMsg::new(
            9,
            ControlCommand::SetLimits {
                max_order_notional: Notional::parse("1000").unwrap(),
                daily_loss_limit: Notional::parse("250.5").unwrap(),
                max_position: Qty::parse("0.5").unwrap(),
                max_open_orders: 10,
                max_orders_per_sec: 5,
                instrument: Some(InstrumentId(2)),
            },
        );
        msg.apply = Nanos(77);
        let v: serde_json::Value = serde_json::to_value(msg).unwrap();
        assert_eq!(v["command_id"], "9");
        assert_eq!(v["command"], "set_limits");
        assert_eq!(v["max_order_notional"], "1000");
        assert_eq!(v["daily_loss_limit"], "250.5");
        assert_eq!(v["instrument"], 2);
        assert_eq!(v["apply_ns"], 77);
        let halt = ControlMsg::new(
            1,
            ControlCommand::Halt {
                reason: HaltReason::TiltLocked,
            },
        );
        let v: serde_json::Value = serde_json::to_value(halt).unwrap();
        assert_eq!(v["reason"], "tilt_locked");
    }
}
