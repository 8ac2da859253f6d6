//! `talon run`: a trading session in the foreground.
//!
//! Owns the command's flags and its terminal output: the thread layout at
//! start, a status line every second, the human summary at the end and the
//! optional JSON summary file. With no arguments it is a paper session
//! against the embedded simulator (BTCUSDT + ETHUSDT, `quote`). Ctrl-C or
//! `--duration` ends it cleanly ([`Session::stop`]). Everything else comes
//! from `--config FILE` and `TALON_*` environment variables (see
//! [`talon_cli::run_config`]). It never prints a secret.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use talon_cli::run_config::{EnvVars, LayoutSetting, RunConfig};
use talon_cli::session::Session;

/// `talon run` flags.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// TOML config file (see `talon_cli::run_config` for the keys;
    /// `TALON_<SECTION>__<KEY>` environment variables override it).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (journal, session counter) [default: ./talon-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,
    /// Write the end-of-session summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    summary_json: Option<PathBuf>,
    /// Thread layout preset (`default`, `dedicated`, `shared`,
    /// `single-thread`), overriding the config.
    #[arg(long, value_name = "NAME")]
    layout: Option<String>,
    /// Seconds between status lines (0 = none).
    #[arg(long, value_name = "SECS", default_value_t = 1)]
    status_interval: u64,
    /// How long to wait for the feed and the gateway to be ready.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    ready_timeout: u64,
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = RunConfig::load(args.config.as_deref(), EnvVars::from_process())
        .context("talon run: configuration")?;
    if let Some(d) = args.data_dir {
        cfg.data_dir = d;
    }
    if let Some(l) = args.layout {
        cfg.layout = Some(LayoutSetting::Name(l));
    }
    let session_cfg = cfg
        .into_session_config()
        .context("talon run: configuration")?;

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        // Release: pairs with the Acquire load in the status loop.
        ctrlc::set_handler(move || stop.store(true, Ordering::Release))
            .context("installing the Ctrl-C handler")?;
    }

    let session = Session::start(session_cfg).context("talon run: starting the session")?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "talon run: session {} on {} ({}), journal {}",
        session.session_id(),
        session.venue(),
        session
            .instruments()
            .iter()
            .map(|(_, s)| s.symbol.as_str().to_owned())
            .collect::<Vec<_>>()
            .join("+"),
        session.journal_dir().display()
    )?;
    if let Some(sock) = session.control_socket() {
        writeln!(
            out,
            "talon run: control socket {} (talon ctl --socket {} status)",
            sock.display(),
            sock.display()
        )?;
    }
    writeln!(
        out,
        "talon run: store {} (the journal projected into SQLite)",
        session.store_path().display()
    )?;
    if let Some(addr) = session.metrics_addr() {
        writeln!(out, "talon run: metrics http://{addr}/metrics")?;
    }
    write!(out, "{}", session.layout_table())?;
    out.flush()?;

    let start = Instant::now();
    let deadline = args.duration.map(|s| start + Duration::from_secs(s));
    let ready_by = start + Duration::from_secs(args.ready_timeout);
    let interval = Duration::from_secs(args.status_interval);
    let mut next_status = start + interval;
    let mut announced_ready = false;
    let mut failure: Option<String> = None;
    loop {
        // Acquire: pairs with the Release store in the Ctrl-C handler.
        if stop.load(Ordering::Acquire) {
            writeln!(out, "talon run: Ctrl-C, stopping")?;
            break;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        if let Some(f) = session.fault() {
            failure = Some(f);
            break;
        }
        if !announced_ready && session.engine().is_ready() {
            announced_ready = true;
            writeln!(
                out,
                "talon run: feed and gateway ready after {} ms, trading",
                now.duration_since(start).as_millis()
            )?;
        } else if !announced_ready && now >= ready_by {
            failure = Some(format!(
                "not ready after {} s (gateway ready: {}, feed ready: {})",
                args.ready_timeout,
                session.readiness().gateway_ready(),
                session.readiness().feed_ready()
            ));
            break;
        }
        if !interval.is_zero() && now >= next_status {
            writeln!(out, "{}", session.status())?;
            out.flush()?;
            next_status += interval;
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let summary = session.stop().context("talon run: stopping the session")?;
    writeln!(out)?;
    write!(out, "{summary}")?;
    out.flush()?;
    if let Some(path) = &args.summary_json {
        let json = serde_json::to_string_pretty(&summary).context("encoding the summary")?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("--summary-json: writing {}", path.display()))?;
    }
    if let Some(f) = failure {
        eprintln!("talon run: error: {f}");
        return Ok(ExitCode::from(1));
    }
    if !summary.clean {
        eprintln!("talon run: error: the session did not stop cleanly");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
