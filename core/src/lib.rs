//! # talon-core: the hot-path foundation shared by every Talon agent
//!
//! Talon's fast half is three pinned threads (feed, engine, gateway) joined by
//! bounded lock-free SPSC rings, with every decision written to a
//! memory-mapped audit journal before it leaves the process. This crate owns
//! what all of them share:
//!
//! * [`num`]: fixed-point [`num::Price`], [`num::Qty`] (`i64` at 1e-8) and
//!   [`num::Notional`] (`i128`), exact to and from decimal strings and
//!   `rust_decimal::Decimal`;
//! * [`instrument`]: symbols interned to small [`instrument::InstrumentId`]s
//!   with their exchange filters;
//! * [`clock`]: monotonic nanoseconds, live and manual clocks;
//! * [`event`]: the plain-data events that cross rings and land in the journal;
//! * [`ring`]: typed SPSC rings with full/high-water counters;
//! * [`agent`]: agents, idle strategies, runners, invokers and thread layouts;
//! * [`counters`] and [`halt`]: the only mutable state agents share;
//! * [`journal`]: the append-only, crash-consistent audit journal.
//!
//! ## The hot-path contract
//!
//! Code called from an agent's `do_work` on the feed, engine or gateway thread:
//!
//! * never allocates after `on_start` (proved by the counting-allocator test
//!   in `tests/no_alloc.rs`);
//! * never takes a lock and never makes a blocking syscall other than socket
//!   I/O (the journal's `msync`, when configured per record, is the one
//!   documented exception the operator opts into);
//! * never uses `f64` for money: prices, quantities and notionals are integers;
//! * never panics on any input: errors are small `Copy` enums, counted.
//!
//! `unsafe` is confined to [`journal`] (the mapped segments); every block
//! there states the invariant that makes it sound in a SAFETY comment.
#![deny(unsafe_op_in_unsafe_fn)]
// `unsafe` is denied everywhere in this crate except the journal module.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod agent;
pub mod clock;
pub mod counters;
pub mod engine;
pub mod event;
pub mod halt;
pub mod instrument;
#[allow(unsafe_code)] // mapped segments; every block carries a SAFETY comment
pub mod journal;
pub mod num;
pub mod ring;
