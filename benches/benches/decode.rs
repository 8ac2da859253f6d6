//! `decode`: ns per venue message, Talon's zero-allocation decoder beside
//! serde_json + rust_decimal, per message kind. Prints a markdown table
//! (`-- --json` for JSON); never asserts on timings. Run:
//! `cargo bench -p talon-benches --bench decode`.

use std::process::ExitCode;

use talon_benches::report::bench_main;
use talon_benches::{DecodeBenchConfig, run_decode_bench};

fn main() -> ExitCode {
    bench_main("decode", run_decode_bench(&DecodeBenchConfig::default()))
}
