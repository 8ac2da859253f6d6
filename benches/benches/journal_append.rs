//! `journal_append`: Talon's journal append latency and throughput beside raw
//! pre-touched mmap writes, `write(2)` per record and a SQLite WAL insert,
//! for 64 B and 256 B payloads. Prints a markdown table (`-- --json` for
//! JSON); never asserts on timings. Files go to the system temp dir, or to
//! `TALON_BENCH_DIR` if set. Run: `cargo bench -p talon-benches --bench journal_append`.

use std::process::ExitCode;

use talon_benches::report::bench_main;
use talon_benches::{JournalBenchConfig, run_journal_bench};

fn main() -> ExitCode {
    let cfg = JournalBenchConfig {
        dir: std::env::var_os("TALON_BENCH_DIR").map(Into::into),
        ..JournalBenchConfig::default()
    };
    bench_main("journal_append", run_journal_bench(&cfg))
}
