//! `decode`: ns per venue message, Talon's zero-allocation decoder beside
//! serde_json + rust_decimal, per message kind. Prints a markdown table
//! (`-- --json` for JSON); never asserts on timings. Run:
//! `cargo bench -p talon-benches --bench decode`.

use std::process::ExitCode;

use talon_benches::{DecodeBenchConfig, run_decode_bench};

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; only `--json` changes anything.
    let json = std::env::args().any(|a| a == "--json");
    match run_decode_bench(&DecodeBenchConfig::default()) {
        Ok(report) if json => {
            println!("{:#}", report.to_json());
            ExitCode::SUCCESS
        }
        Ok(report) => {
            print!("{}", report.to_markdown());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("decode: {e}");
            ExitCode::FAILURE
        }
    }
}
