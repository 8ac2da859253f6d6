//! # talon-control: the slow, safe half
//!
//! The control agent's crate. What exists today:
//!
//! | module | owns |
//! |--------|------|
//! | [`store`] | the SQLite (WAL) state store: versioned schema, idempotent projection of the audit journal, the [`store::Projector`] that tails it |
//!
//! Not built yet (tracked by the control-thread issue): the `ControlAgent`
//! itself, crash recovery and reconciliation with the venue, tilt and tier
//! computation, the owner-only control socket and metrics.
//!
//! Contract the crate keeps: nothing here sits on the hot path. It may
//! allocate and block, but it talks to the engine only through the journal
//! (read-only), the control ring and the shared halt flag.
#![forbid(unsafe_code)]

pub mod store;
