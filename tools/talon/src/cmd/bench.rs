//! `talon bench`: the micro-benchmarks, printed as reports.
//!
//! Benchmarks report; they never assert. Each prints hdrhistogram percentiles
//! for Talon's component beside the usual alternative measured in the same
//! run, with ratios, so the numbers mean something on a noisy shared machine.

use std::path::PathBuf;
use std::process::ExitCode;

#[path = "bench_tick.rs"]
mod bench_tick;

use anyhow::Context;
use clap::{Args, Subcommand};
use talon_benches::{
    DecodeBenchConfig, FeedBenchConfig, GatewayEncodeConfig, GatewayRoundTripConfig,
    JournalBenchConfig, RingBenchConfig,
};

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
    /// Gateway: ns to encode and sign one order.place (Talon's encoder vs
    /// serde_json + format! + hmac), and the order → ack round trip against
    /// the simulator beside a bare loopback TCP round trip.
    Gateway(GatewayArgs),
    /// Tick-to-trade: `talon sim` in its own process feeding feed → engine
    /// (`bench` strategy) → gateway; wire-to-wire, internal with its stage
    /// breakdown and a loopback TCP floor, per rate and layout; writes a
    /// report folder (markdown, JSON, SVG plot).
    TickToTrade(bench_tick::TickArgs),
}

/// Flags every benchmark takes.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Runs per case (the report shows medians across runs).
    #[arg(long, value_name = "N")]
    runs: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct FeedArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// Simulator rates to step through, messages/s (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "N,N,…")]
    rates: Option<Vec<u64>>,
    /// Measured seconds per rate step.
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// Orders encoded per case and run.
    #[arg(long, value_name = "N")]
    orders: Option<u64>,
    /// Order → ack round trips per case and run.
    #[arg(long, value_name = "N")]
    round_trips: Option<u64>,
    /// Skip the round trip against the simulator (encode + sign only).
    #[arg(long)]
    no_round_trip: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// Messages decoded per case and run.
    #[arg(long, value_name = "N")]
    messages: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct RingArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// Messages measured per case and run.
    #[arg(long, value_name = "N")]
    messages: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct JournalArgs {
    #[command(flatten)]
    report: ReportArgs,
    /// Records appended per case and run.
    #[arg(long, value_name = "N")]
    records: Option<u64>,
    /// Directory for the benchmark files (default: a fresh temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub(crate) fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    let (report, args) = match command {
        BenchCommand::TickToTrade(a) => return bench_tick::run(a),
        BenchCommand::Ring(a) => {
            let d = RingBenchConfig::default();
            let cfg = RingBenchConfig {
                messages: a.messages.unwrap_or(d.messages),
                runs: a.report.runs.unwrap_or(d.runs),
                ..d
            };
            let report = talon_benches::run_ring_bench(&cfg).context("ring benchmark failed")?;
            (report, a.report)
        }
        BenchCommand::Journal(a) => {
            let d = JournalBenchConfig::default();
            let cfg = JournalBenchConfig {
                records: a.records.unwrap_or(d.records),
                runs: a.report.runs.unwrap_or(d.runs),
                dir: a.dir.or(d.dir),
                ..d
            };
            let report =
                talon_benches::run_journal_bench(&cfg).context("journal benchmark failed")?;
            (report, a.report)
        }
        BenchCommand::Decode(a) => {
            let d = DecodeBenchConfig::default();
            let cfg = DecodeBenchConfig {
                messages: a.messages.unwrap_or(d.messages),
                runs: a.report.runs.unwrap_or(d.runs),
                ..d
            };
            let report =
                talon_benches::run_decode_bench(&cfg).context("decode benchmark failed")?;
            (report, a.report)
        }
        BenchCommand::Feed(a) => {
            if let Some(rates) = &a.rates {
                anyhow::ensure!(!rates.is_empty(), "--rates: give at least one rate");
            }
            let d = FeedBenchConfig::default();
            let cfg = FeedBenchConfig {
                rates: a.rates.unwrap_or(d.rates),
                duration: a.duration.map_or(d.duration, |secs| {
                    std::time::Duration::from_secs(secs.max(1))
                }),
                runs: a.report.runs.unwrap_or(d.runs),
                ..d
            };
            let report = talon_benches::run_feed_bench(&cfg).context("feed benchmark failed")?;
            (report, a.report)
        }
        BenchCommand::Gateway(a) => {
            let d = GatewayEncodeConfig::default();
            let roundtrip = if a.no_round_trip {
                None
            } else {
                d.roundtrip.map(|rt| GatewayRoundTripConfig {
                    samples: a.round_trips.unwrap_or(rt.samples),
                    runs: a.report.runs.map_or(rt.runs, |r| r as usize),
                    ..rt
                })
            };
            let cfg = GatewayEncodeConfig {
                orders: a.orders.unwrap_or(d.orders),
                runs: a.report.runs.unwrap_or(d.runs),
                roundtrip,
                ..d
            };
            let report = talon_benches::run_gateway_encode_bench(&cfg)
                .context("gateway benchmark failed")?;
            (report, a.report)
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        println!("{}", report.to_markdown());
    }
    Ok(ExitCode::SUCCESS)
}
