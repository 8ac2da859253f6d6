//! # talon-benches: Talon's latency benchmark suite
//!
//! Micro-benchmarks that put Talon's hot-path pieces beside the usual
//! alternative, in the same run, and print hdrhistogram percentiles and ratios
//! (DESIGN.md §10, STYLE.md rule 19):
//!
//! * [`ring::run_ring_bench`] — `ring_hop_one_to_one`: one-way hop latency of
//!   Talon's ring vs raw `rtrb`, crossbeam `ArrayQueue` and
//!   `std::sync::mpsc::sync_channel`, on separate cores and on one shared core;
//! * [`journal::run_journal_bench`] — `journal_append`: Talon's journal append
//!   vs raw pre-touched mmap writes, `write(2)` per record and a SQLite WAL
//!   insert.
//!
//! * [`decode::run_decode_bench`] — `decode`: ns per venue message for
//!   Talon's zero-allocation decoder vs serde_json + `Decimal`, per kind.
//! * [`gateway_encode::run_gateway_encode_bench`] — `gateway`: ns to encode
//!   and sign one `order.place` with Talon's `RequestEncoder` vs serde_json +
//!   `format!` + the hmac crate, and (from [`gateway_roundtrip`]) the order →
//!   ack round trip against the simulator beside a bare loopback TCP echo.
//!
//! All return a [`report::BenchReport`] printable as markdown or JSON; the
//! `benches/*.rs` targets (`cargo bench -p talon-benches`) and
//! `talon bench ring|journal [--json]` are thin wrappers around them.
//!
//! Contract: benchmarks **report, never assert** — a missed target is printed,
//! not an error. They fail only when they cannot measure (a missing core, an
//! I/O error, a stalled thread). This crate is test/bench tooling, never linked
//! into an agent.
//!
//! `unsafe` is denied except for the single `MmapMut::map_mut` call of the
//! raw-mmap baseline in [`journal`], which carries its safety argument.
#![deny(unsafe_code)]
// Reporting code: ratios, rates and percent are f64 (never money); the timed
// loops themselves use integer nanoseconds only.
#![allow(clippy::float_arithmetic)]

pub mod decode;
pub mod error;
pub mod feed;
pub mod gateway_encode;
pub mod gateway_roundtrip;
pub mod journal;
pub mod machine;
pub mod report;
pub mod ring;

pub use decode::{DecodeBenchConfig, run_decode_bench};
pub use error::BenchError;
pub use feed::{FeedBenchConfig, run_feed_bench};
pub use gateway_encode::{GatewayEncodeConfig, run_gateway_encode_bench};
pub use gateway_roundtrip::{GatewayRoundTripConfig, roundtrip_section};
pub use journal::{JournalBenchConfig, run_journal_bench};
pub use report::BenchReport;
pub use ring::{RingBenchConfig, run_ring_bench};
