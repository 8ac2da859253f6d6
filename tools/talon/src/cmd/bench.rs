//! `talon bench`: the micro-benchmarks, printed as reports.
//!
//! Benchmarks report; they never assert. Each prints hdrhistogram percentiles
//! for Talon's component beside the usual alternative measured in the same
//! run, with ratios, so the numbers mean something on a noisy shared machine.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use talon_benches::{DecodeBenchConfig, FeedBenchConfig, JournalBenchConfig, RingBenchConfig};

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// One-way ring hop latency: Talon's ring vs rtrb, crossbeam ArrayQueue
    /// and std mpsc, on separate cores and on one shared core.
    Ring(RingArgs),
    /// Journal append latency and throughput vs raw mmap, write(2) per
    /// record and a SQLite (WAL) insert.
    Journal(JournalArgs),
    /// Venue message decode: ns per message per kind for Talon's
    /// zero-allocation decoder vs serde_json + Decimal.
    Decode(DecodeArgs),
    /// Feed throughput: the highest rate from the simulator over loopback
    /// into the md ring with zero loss, and socket read → event latency.
    Feed(FeedArgs),
}

#[derive(Debug, Args)]
pub(crate) struct FeedArgs {
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Simulator rates to step through, messages/s (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "N,N,…")]
    rates: Option<Vec<u64>>,
    /// Measured seconds per rate step.
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,
    /// Runs per step (the report shows medians across runs).
    #[arg(long, value_name = "N")]
    runs: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Messages decoded per case and run.
    #[arg(long, value_name = "N")]
    messages: Option<u64>,
    /// Runs per case (the report shows medians across runs).
    #[arg(long, value_name = "N")]
    runs: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct RingArgs {
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Messages measured per case and run.
    #[arg(long, value_name = "N")]
    messages: Option<u64>,
    /// Runs per case (the report shows medians across runs).
    #[arg(long, value_name = "N")]
    runs: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct JournalArgs {
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Records appended per case and run.
    #[arg(long, value_name = "N")]
    records: Option<u64>,
    /// Runs per case (the report shows medians across runs).
    #[arg(long, value_name = "N")]
    runs: Option<u32>,
    /// Directory for the benchmark files (default: a fresh temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub(crate) fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    let (report, json) = match command {
        BenchCommand::Ring(a) => {
            let mut cfg = RingBenchConfig::default();
            if let Some(n) = a.messages {
                cfg.messages = n;
            }
            if let Some(r) = a.runs {
                cfg.runs = r;
            }
            (
                talon_benches::run_ring_bench(&cfg).context("ring benchmark failed")?,
                a.json,
            )
        }
        BenchCommand::Journal(a) => {
            let mut cfg = JournalBenchConfig::default();
            if let Some(n) = a.records {
                cfg.records = n;
            }
            if let Some(r) = a.runs {
                cfg.runs = r;
            }
            if a.dir.is_some() {
                cfg.dir = a.dir;
            }
            (
                talon_benches::run_journal_bench(&cfg).context("journal benchmark failed")?,
                a.json,
            )
        }
        BenchCommand::Decode(a) => {
            let mut cfg = DecodeBenchConfig::default();
            if let Some(n) = a.messages {
                cfg.messages = n;
            }
            if let Some(r) = a.runs {
                cfg.runs = r;
            }
            (
                talon_benches::run_decode_bench(&cfg).context("decode benchmark failed")?,
                a.json,
            )
        }
        BenchCommand::Feed(a) => {
            let mut cfg = FeedBenchConfig::default();
            if let Some(rates) = a.rates {
                anyhow::ensure!(!rates.is_empty(), "--rates: give at least one rate");
                cfg.rates = rates;
            }
            if let Some(secs) = a.duration {
                cfg.duration = std::time::Duration::from_secs(secs.max(1));
            }
            if let Some(r) = a.runs {
                cfg.runs = r;
            }
            (
                talon_benches::run_feed_bench(&cfg).context("feed benchmark failed")?,
                a.json,
            )
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        println!("{}", report.to_markdown());
    }
    Ok(ExitCode::SUCCESS)
}
