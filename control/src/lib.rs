//! # talon-control: the slow, safe half
//!
//! **Status: not built yet** (tracked by the control-thread issue). This crate
//! will own the `ControlAgent`: the SQLite (WAL) state store projected
//! idempotently from the audit journal, crash recovery and reconciliation
//! with the venue, tilt and tier computation, the owner-only control socket
//! and metrics.
//!
//! Contract it will keep: the control agent never sits on the hot path. It may
//! allocate and block, but it talks to the engine only through the control
//! ring and the shared halt flag.
#![forbid(unsafe_code)]
