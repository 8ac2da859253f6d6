//! `ring_hop_one_to_one`: one-way ring hop latency, Talon's ring beside raw
//! rtrb, crossbeam `ArrayQueue` and std `sync_channel`, on separate cores and
//! on one shared core. Prints a markdown table (`-- --json` for JSON); never
//! asserts on timings. Run: `cargo bench -p talon-benches --bench ring_hop_one_to_one`.

use std::process::ExitCode;

use talon_benches::report::bench_main;
use talon_benches::{RingBenchConfig, run_ring_bench};

fn main() -> ExitCode {
    bench_main(
        "ring_hop_one_to_one",
        run_ring_bench(&RingBenchConfig::default()),
    )
}
