//! `talon sim`: the Binance-compatible exchange simulator on loopback.
//!
//! A thin shell: the flags and the behaviour live in the `talon-sim`
//! library ([`talon_sim::SimArgs`], [`talon_sim::run_cli`]), so tests and
//! benchmarks start exactly the simulator an operator runs.

use std::process::ExitCode;

use anyhow::Context;

pub(crate) use talon_sim::SimArgs;

pub(crate) fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    talon_sim::run_cli(args).context("talon sim failed")?;
    Ok(ExitCode::SUCCESS)
}
