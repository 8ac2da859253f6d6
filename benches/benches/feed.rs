//! `feed_throughput`: the highest rate from talon-sim over loopback into the
//! md ring with zero loss, conflation beyond it, and socket-read → event
//! latency. Prints a markdown table (`-- --json` for JSON); never asserts on
//! timings. Run: `cargo bench -p talon-benches --bench feed`.

use std::process::ExitCode;

use talon_benches::report::bench_main;
use talon_benches::{FeedBenchConfig, run_feed_bench};

fn main() -> ExitCode {
    bench_main("feed", run_feed_bench(&FeedBenchConfig::default()))
}
