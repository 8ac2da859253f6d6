//! `feed_throughput`: the highest rate from talon-sim over loopback into the
//! md ring with zero loss, conflation beyond it, and socket-read → event
//! latency. Prints a markdown table (`-- --json` for JSON); never asserts on
//! timings. Run: `cargo bench -p talon-benches --bench feed`.

use std::process::ExitCode;

use talon_benches::{FeedBenchConfig, run_feed_bench};

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; only `--json` changes anything.
    let json = std::env::args().any(|a| a == "--json");
    match run_feed_bench(&FeedBenchConfig::default()) {
        Ok(report) if json => {
            println!("{:#}", report.to_json());
            ExitCode::SUCCESS
        }
        Ok(report) => {
            print!("{}", report.to_markdown());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("feed: {e}");
            ExitCode::FAILURE
        }
    }
}
