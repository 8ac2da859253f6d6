//! # `talon`: the Talon command line
//!
//! One binary for the operator: journal tools (inspect, verify, tail,
//! export), thread-layout checking, the micro-benchmarks, the simulator, and
//! `talon run` (a trading session, assembled by the `talon_cli` library:
//! [`talon_cli::session`]).
//!
//! This binary is a cold-path shell around the libraries: it parses
//! arguments, calls into `talon-core` / `talon-benches`, and turns their typed
//! errors into messages with context (`anyhow`). It never contains trading
//! logic of its own.
#![forbid(unsafe_code)]

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Talon: a low-latency execution core for crypto trading.
#[derive(Debug, Parser)]
#[command(name = "talon", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at startup; the simulator's many flags make one variant large,
// which costs nothing here.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a trading session (default: paper trading against the embedded simulator).
    Run(cmd::run::RunArgs),
    /// Read, check and follow the memory-mapped audit journal.
    #[command(subcommand)]
    Journal(cmd::journal::JournalCommand),
    /// Resolve and validate a thread layout (agents → threads → cores).
    Layout(cmd::layout::LayoutArgs),
    /// Run the Binance-compatible exchange simulator on loopback.
    Sim(cmd::sim::SimArgs),
    /// Watch the live market-data feed (top of book, rates, book health).
    Watch(cmd::watch::WatchArgs),
    /// Run the micro-benchmarks and print their reports.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// Decode raw venue messages (one JSON per line) into normalized JSON lines.
    Decode(cmd::decode::DecodeArgs),
    /// Print the signature of a payload: HMAC-SHA256 hex or Ed25519 base64.
    Sign(cmd::sign::SignArgs),
    /// Talk to a running session's control socket (status, halt, resume, …).
    Ctl(cmd::ctl::CtlArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => cmd::run::run(a),
        Command::Journal(c) => cmd::journal::run(c),
        Command::Layout(a) => cmd::layout::run(a),
        Command::Bench(c) => cmd::bench::run(c),
        Command::Decode(a) => cmd::decode::run(a),
        Command::Sim(a) => cmd::sim::run(a),
        Command::Watch(a) => cmd::watch::run(a),
        Command::Sign(a) => cmd::sign::run(a),
        Command::Ctl(a) => cmd::ctl::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("talon: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
