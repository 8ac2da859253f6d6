//! The process-wide halt switch.
//!
//! Owns [`HaltFlag`], the one piece of mutable state (with [`crate::counters`]
//! and the rings) that every agent shares, and [`HaltReason`], why it was
//! thrown. A halt means "stop opening risk": the engine and the gateway check
//! [`HaltFlag::is_halted`] before every send (defence in depth, DESIGN.md §1);
//! threads keep running so exec reports and cancels still flow. An
//! [`crate::agent::AgentRunner`] whose agent fails or panics throws it.
//!
//! This module never allocates, never blocks and never panics. The flag is
//! shared by `Arc` and passed in at construction; it is not a global.
//!
//! ## Representation
//!
//! The flag and its reason are **one** `AtomicU16` (0 = running, otherwise the
//! [`HaltReason`] code) in a `CachePadded` slot, rather than an `AtomicBool`
//! beside a separate reason word: with a single word a reader can never see
//! "halted" with a reason that belongs to an earlier or later halt, and a halt
//! racing with [`HaltFlag::clear`] can never be lost between two stores.
//!
//! ```
//! use talon_core::halt::{HaltFlag, HaltReason};
//! let flag = HaltFlag::new();
//! assert!(!flag.is_halted());
//! assert!(flag.halt(HaltReason::Operator));
//! assert!(!flag.halt(HaltReason::DailyLoss)); // first reason wins
//! assert_eq!(flag.reason(), Some(HaltReason::Operator));
//! flag.clear();
//! assert_eq!(flag.reason(), None);
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU16, Ordering};

use crossbeam_utils::CachePadded;

/// Why trading was halted. `#[repr(u16)]` so it fits the flag's word and can
/// be journaled; 0 is reserved for "not halted".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum HaltReason {
    /// An operator asked for it (control socket `halt`).
    Operator = 1,
    /// An agent's `on_start` or `do_work` returned an error.
    AgentError = 2,
    /// An agent panicked; its runner caught the unwind.
    AgentPanic = 3,
    /// A runner could not start: its core pin could not be honoured.
    StartupFailed = 4,
    /// The daily loss limit was breached (risk).
    DailyLoss = 5,
    /// Tilt reached LOCKED.
    TiltLocked = 6,
    /// Reconciliation with the exchange found a discrepancy.
    Reconciliation = 7,
    /// The audit journal could not be written: nothing may leave unjournaled.
    JournalFailure = 8,
}

impl HaltReason {
    /// Every reason, in code order.
    pub const ALL: [HaltReason; 8] = [
        HaltReason::Operator,
        HaltReason::AgentError,
        HaltReason::AgentPanic,
        HaltReason::StartupFailed,
        HaltReason::DailyLoss,
        HaltReason::TiltLocked,
        HaltReason::Reconciliation,
        HaltReason::JournalFailure,
    ];

    /// The wire/journal code (never 0).
    #[inline]
    pub const fn as_u16(self) -> u16 {
        self as u16
    }

    /// The reason for a code, `None` for 0 or an unknown code.
    pub const fn from_u16(code: u16) -> Option<HaltReason> {
        Some(match code {
            1 => HaltReason::Operator,
            2 => HaltReason::AgentError,
            3 => HaltReason::AgentPanic,
            4 => HaltReason::StartupFailed,
            5 => HaltReason::DailyLoss,
            6 => HaltReason::TiltLocked,
            7 => HaltReason::Reconciliation,
            8 => HaltReason::JournalFailure,
            _ => return None,
        })
    }

    /// A stable snake_case name for display at the edge (status, logs, JSON).
    pub const fn as_str(self) -> &'static str {
        match self {
            HaltReason::Operator => "operator",
            HaltReason::AgentError => "agent_error",
            HaltReason::AgentPanic => "agent_panic",
            HaltReason::StartupFailed => "startup_failed",
            HaltReason::DailyLoss => "daily_loss",
            HaltReason::TiltLocked => "tilt_locked",
            HaltReason::Reconciliation => "reconciliation",
            HaltReason::JournalFailure => "journal_failure",
        }
    }
}

// The control event journals a reason in one byte (see `event::codec`).
const _: () = {
    let mut i = 0;
    while i < HaltReason::ALL.len() {
        assert!(HaltReason::ALL[i].as_u16() < 256);
        i += 1;
    }
};

impl serde::Serialize for HaltReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for HaltReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The process-wide halt switch, shared by `Arc`.
///
/// Set by anyone ([`halt`](Self::halt)), checked by the hot agents before every
/// send ([`is_halted`](Self::is_halted), one `Acquire` load: a plain `mov` on
/// x86), cleared only by a deliberate resume ([`clear`](Self::clear)).
#[derive(Debug, Default)]
pub struct HaltFlag {
    /// 0 = running; otherwise the [`HaltReason`] code of the first halt.
    state: CachePadded<AtomicU16>,
}

impl HaltFlag {
    /// A flag in the running (not halted) state.
    pub fn new() -> HaltFlag {
        HaltFlag::default()
    }

    /// Halts with `reason`. Returns `true` if this call threw the switch,
    /// `false` if it was already halted (the first reason is kept: it is the
    /// cause, later ones are consequences).
    #[inline]
    pub fn halt(&self, reason: HaltReason) -> bool {
        // Success ordering `Release`: pairs with the `Acquire` load in
        // `is_halted`/`reason`, so whatever the halting thread wrote before
        // halting (e.g. the counter it bumped, the state that justified it) is
        // visible to a thread that observes the halt. Failure ordering
        // `Relaxed`: on failure we publish nothing and read nothing else.
        self.state
            .compare_exchange(0, reason.as_u16(), Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    /// Whether trading is halted.
    #[inline]
    pub fn is_halted(&self) -> bool {
        // `Acquire`: pairs with the `Release` in `halt` and `clear`.
        self.state.load(Ordering::Acquire) != 0
    }

    /// The reason of the current halt, `None` while running.
    #[inline]
    pub fn reason(&self) -> Option<HaltReason> {
        // `Acquire`: pairs with the `Release` in `halt` and `clear`, as in
        // `is_halted`.
        HaltReason::from_u16(self.state.load(Ordering::Acquire))
    }

    /// Resumes: back to running. Returns the reason that was cleared.
    pub fn clear(&self) -> Option<HaltReason> {
        // `AcqRel`: the `Release` half pairs with the `Acquire` in
        // `is_halted` (the resume decision's inputs are visible to whoever
        // sees "running"); the `Acquire` half pairs with the `Release` in
        // `halt`, so we report the reason we actually cleared.
        HaltReason::from_u16(self.state.swap(0, Ordering::AcqRel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn codes_round_trip_and_names_are_distinct() {
        let mut names = std::collections::HashSet::new();
        for r in HaltReason::ALL {
            assert_ne!(r.as_u16(), 0);
            assert_eq!(HaltReason::from_u16(r.as_u16()), Some(r));
            assert!(names.insert(r.as_str()));
        }
        assert_eq!(HaltReason::from_u16(0), None);
        assert_eq!(HaltReason::from_u16(999), None);
    }

    #[test]
    fn first_reason_wins_until_cleared() {
        let f = HaltFlag::new();
        assert!(!f.is_halted());
        assert_eq!(f.reason(), None);
        assert!(f.halt(HaltReason::AgentPanic));
        assert!(f.is_halted());
        assert!(!f.halt(HaltReason::Operator));
        assert_eq!(f.reason(), Some(HaltReason::AgentPanic));
        assert_eq!(f.clear(), Some(HaltReason::AgentPanic));
        assert!(!f.is_halted());
        assert_eq!(f.clear(), None);
        assert!(f.halt(HaltReason::Operator));
        assert_eq!(f.reason(), Some(HaltReason::Operator));
    }

    #[test]
    fn halt_from_another_thread_is_seen() {
        let f = Arc::new(HaltFlag::new());
        let g = Arc::clone(&f);
        std::thread::spawn(move || g.halt(HaltReason::DailyLoss))
            .join()
            .expect("halting thread");
        assert_eq!(f.reason(), Some(HaltReason::DailyLoss));
    }
}
