//! `talon bench tick-to-trade`: the headline latency of the product, from a
//! marked trade written by the simulator to the order it caused read back.
//!
//! Owns the command's flags ([`TickArgs`]), the run plan (rates × the
//! layouts this machine's cores allow), one measured run ([`run_one`]) and
//! the report: markdown, JSON and an HDR percentile plot (hand-written
//! SVG), written to `<out>/tick-to-trade-<UTC time>/`, optionally appended to
//! `docs/BENCHMARKS.md` (`--append-benchmarks PATH`: appending is explicit,
//! never the default).
//!
//! # One run (one rate, one layout)
//!
//! 1. `talon sim` is spawned as a separate process (this binary,
//!    `std::env::current_exe()`): BTCUSDT only (trade ids are per symbol),
//!    `--rate N`, `--mark-every M` (M chosen so that about
//!    `--orders-per-sec` trades are marked), ORDERS/weight limits raised and
//!    a well-funded account;
//! 2. in this process: a [`Session`] (the assembly `talon run` uses, with
//!    [`VenueChoice::External`] pointing at the simulator): the instrument
//!    table from the simulator's exchangeInfo, rings, a journal in the report
//!    folder, the feed (bookTicker, trade and per-event depth — every kind
//!    but aggTrade, whose aggregate ids are not trade ids: the feed receives
//!    ≈ 0.9 × N msgs/s), the engine with the `bench` strategy (same
//!    `mark_every`, permissive risk limits), the gateway and the control
//!    agent, on runners as the layout says. All agents share one clock so
//!    the stamps are comparable;
//! 3. once the session is ready (gateway session synced, the feed healthy:
//!    the session's control agent switches the engine ready), after
//!    `--warmup` seconds the simulator's wire-to-wire histogram is reset and
//!    the gateway's latency recording ([`Session::gateway_latency`]) starts,
//!    and a bare loopback TCP echo (512 B, one round trip per millisecond,
//!    blocking sockets, TCP_NODELAY) runs alongside for `--duration` seconds;
//! 4. results: wire-to-wire from the simulator (`GET /sim/v1/marks`,
//!    simulator clock at both ends), internal and its five stages from the
//!    gateway ([`GatewayLatency`]), the echo's round trip, counters.
//!
//! Targets checked (reported, never asserted): internal p50 ≤ 3 µs and p99
//! ≤ 20 µs at 10,000 msgs/s; wire-to-wire p50 ≤ 1.5 × the loopback round
//! trip p50 of the same run.
//!
//! Cold path only: this module allocates, blocks and spawns freely; the hot
//! path it measures is the agents'. It never kills a process it did not
//! start (only its own simulator child, by handle).
#![allow(
    clippy::float_arithmetic,
    reason = "benchmark reporting: ratios, rates, µs formatting and plot coordinates"
)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use talon_benches::machine::MachineInfo;
use talon_cli::session::{Session, SessionConfig, VenueChoice};
use talon_core::agent::{AgentRole, MachineCores, ThreadLayout};
use talon_core::engine::agent::LatencyHistogram;
use talon_core::engine::config::EngineConfig;
use talon_core::journal::JournalConfig;
use talon_feed::config::{DepthSpeed, StreamSet};
use talon_feed::counters::FeedCounter;
use talon_gateway::config::{AuthSecret, Credentials, Secret};
use talon_gateway::latency::{GatewayLatency, OrderStage};
use talon_sim::MarksReport;
use talon_sim::marks::CurvePoint;

/// The rates measured by default, market messages/s.
pub(crate) const DEFAULT_RATES: [u64; 3] = [1_000, 10_000, 100_000];
/// The symbol (trade ids are per symbol: one symbol only).
const SYMBOL: &str = "BTCUSDT";
/// The simulator account the bench trades on.
const API_KEY: &str = "talon-bench-key";
const API_SECRET: &str = "talon-bench-secret";
/// Bytes per loopback echo (a signed order.place frame is ~450–600 B).
const ECHO_BYTES: usize = 512;
/// Roughly one generator step in eighteen market messages is a trade.
const MSGS_PER_TRADE: u64 = 18;
/// Internal targets at 10,000 msgs/s, ns.
const INTERNAL_P50_TARGET_NS: u64 = 3_000;
const INTERNAL_P99_TARGET_NS: u64 = 20_000;
/// Wire-to-wire p50 ≤ this × loopback p50.
const WIRE_TO_LOOPBACK_TARGET: f64 = 1.5;
/// The rate the internal targets apply to.
const TARGET_RATE: u64 = 10_000;

/// `talon bench tick-to-trade` flags.
#[derive(Debug, Args)]
pub(crate) struct TickArgs {
    /// Market messages/s (comma-separated; default 1000,10000,100000).
    #[arg(long, value_delimiter = ',', value_name = "N,N,…")]
    pub(crate) rate: Option<Vec<u64>>,
    /// Measured seconds per run (after the warm-up).
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub(crate) duration: u64,
    /// Thread layouts (comma-separated presets: dedicated, shared,
    /// single-thread; default: all, those the cores do not allow are
    /// skipped with the reason).
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    pub(crate) layout: Option<Vec<String>>,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "PATH")]
    pub(crate) json: Option<PathBuf>,
    /// Report folder (a `tick-to-trade-<UTC time>` directory is made in it).
    #[arg(long, default_value = "target/bench-reports", value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// Append the summary to this markdown file (e.g. docs/BENCHMARKS.md);
    /// nothing is appended without it.
    #[arg(long, value_name = "PATH")]
    pub(crate) append_benchmarks: Option<PathBuf>,
    /// Unmeasured seconds after the engine is ready.
    #[arg(long, default_value_t = 1, value_name = "SECS")]
    pub(crate) warmup: u64,
    /// Mark every Nth trade id (default: chosen per rate for about
    /// --orders-per-sec orders).
    #[arg(long, value_name = "N")]
    pub(crate) mark_every: Option<u64>,
    /// Marked orders per second to aim for when --mark-every is not given.
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub(crate) orders_per_sec: u64,
}

/// A layout to run, or why it is skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LayoutPlan {
    pub(crate) name: String,
    pub(crate) layout: Result<ThreadLayout, String>,
}

/// What the flags resolve to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) rates: Vec<u64>,
    pub(crate) layouts: Vec<LayoutPlan>,
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
}

impl TickArgs {
    /// Validates the flags and fits the layouts to `cores`.
    pub(crate) fn plan(&self, cores: &MachineCores) -> anyhow::Result<Plan> {
        let rates = match &self.rate {
            Some(r) if r.is_empty() => bail!("--rate: give at least one rate"),
            Some(r) => r.clone(),
            None => DEFAULT_RATES.to_vec(),
        };
        if let Some(bad) = rates.iter().find(|r| !(1..=10_000_000).contains(*r)) {
            bail!("--rate {bad}: not in 1..=10000000");
        }
        if self.duration == 0 {
            bail!("--duration: at least 1 second");
        }
        if self.mark_every == Some(0) {
            bail!("--mark-every: at least 1");
        }
        if self.orders_per_sec == 0 {
            bail!("--orders-per-sec: at least 1");
        }
        let names: Vec<String> = match &self.layout {
            Some(l) if l.is_empty() => bail!("--layout: give at least one layout"),
            Some(l) => l.clone(),
            None => ThreadLayout::PRESETS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        };
        let mut layouts = Vec::new();
        for name in names {
            let Some(layout) = ThreadLayout::preset_for(&name, cores) else {
                bail!(
                    "--layout {name}: unknown (expected {})",
                    ThreadLayout::PRESETS.join(", ")
                );
            };
            let layout = layout
                .validate(cores)
                .map(|()| layout)
                .map_err(|e| format!("needs more cores than this machine has {cores}: {e}"));
            layouts.push(LayoutPlan { name, layout });
        }
        Ok(Plan {
            rates,
            layouts,
            duration: Duration::from_secs(self.duration),
            warmup: Duration::from_secs(self.warmup),
        })
    }

    /// `mark_every` for `rate`: the flag, or about `orders_per_sec` marked
    /// trades per second.
    pub(crate) fn mark_every_for(&self, rate: u64) -> u64 {
        self.mark_every
            .unwrap_or_else(|| (rate / MSGS_PER_TRADE / self.orders_per_sec).max(1))
    }
}

// ----------------------------------------------------------------------
// Results
// ----------------------------------------------------------------------

/// Percentiles of one latency distribution, ns, with its HDR curve.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct Dist {
    pub(crate) count: u64,
    pub(crate) p50_ns: u64,
    pub(crate) p90_ns: u64,
    pub(crate) p99_ns: u64,
    pub(crate) p999_ns: u64,
    pub(crate) max_ns: u64,
    pub(crate) curve: Vec<CurvePoint>,
}

impl Dist {
    fn from_histogram(h: &LatencyHistogram) -> Dist {
        let s = h.summary();
        let mut curve = Vec::new();
        if s.count > 0 {
            for k in 0..=60u32 {
                let tail = 10f64.powf(-f64::from(k) / 10.0);
                if k > 0 && tail * (s.count as f64) < 1.0 - 1e-9 {
                    break;
                }
                let ppm = ((1.0 - tail) * 1_000_000.0).round() as u32;
                curve.push(CurvePoint {
                    percentile: (1.0 - tail) * 100.0,
                    value_ns: h.value_at_ppm(ppm),
                });
            }
            curve.push(CurvePoint {
                percentile: 100.0,
                value_ns: s.max,
            });
        }
        Dist {
            count: s.count,
            p50_ns: s.p50,
            p90_ns: s.p90,
            p99_ns: s.p99,
            p999_ns: s.p999,
            max_ns: s.max,
            curve,
        }
    }

    fn from_marks(m: &MarksReport) -> Dist {
        Dist {
            count: m.matched,
            p50_ns: m.p50_ns,
            p90_ns: m.p90_ns,
            p99_ns: m.p99_ns,
            p999_ns: m.p999_ns,
            max_ns: m.max_ns,
            curve: m.curve.clone(),
        }
    }
}

/// One stage of the internal breakdown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct StageDist {
    pub(crate) stage: &'static str,
    pub(crate) label: &'static str,
    pub(crate) dist: Dist,
}

/// One measured run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct RunResult {
    pub(crate) layout: String,
    /// The layout's threads, one line each.
    pub(crate) threads: Vec<String>,
    pub(crate) rate: u64,
    pub(crate) mark_every: u64,
    pub(crate) duration_s: f64,
    /// Market messages the feed received per second in the window.
    pub(crate) received_per_sec: f64,
    pub(crate) orders_sent: u64,
    pub(crate) fills: u64,
    pub(crate) risk_rejects: u64,
    pub(crate) venue_rejects: u64,
    /// Tick-tagged orders the simulator could not match to a mark.
    pub(crate) unmatched: u64,
    pub(crate) wire_to_wire: Dist,
    pub(crate) loopback_rtt: Dist,
    pub(crate) internal: Dist,
    pub(crate) stages: Vec<StageDist>,
    /// Anything that went wrong (halts, agent exits), empty when clean.
    pub(crate) warnings: Vec<String>,
}

/// A layout not run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Skipped {
    pub(crate) layout: String,
    pub(crate) reason: String,
}

/// One target check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct CheckResult {
    pub(crate) layout: String,
    pub(crate) rate: u64,
    pub(crate) check: String,
    pub(crate) value: f64,
    pub(crate) target: f64,
    pub(crate) unit: &'static str,
    pub(crate) met: bool,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct TickReport {
    pub(crate) machine: MachineInfo,
    pub(crate) command: String,
    pub(crate) runs: Vec<RunResult>,
    pub(crate) skipped: Vec<Skipped>,
    pub(crate) checks: Vec<CheckResult>,
}

/// The target checks of `runs`.
pub(crate) fn checks(runs: &[RunResult]) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for r in runs {
        if r.rate == TARGET_RATE && r.internal.count > 0 {
            out.push(CheckResult {
                layout: r.layout.clone(),
                rate: r.rate,
                check: "internal p50".into(),
                value: r.internal.p50_ns as f64 / 1000.0,
                target: INTERNAL_P50_TARGET_NS as f64 / 1000.0,
                unit: "µs",
                met: r.internal.p50_ns <= INTERNAL_P50_TARGET_NS,
            });
            out.push(CheckResult {
                layout: r.layout.clone(),
                rate: r.rate,
                check: "internal p99".into(),
                value: r.internal.p99_ns as f64 / 1000.0,
                target: INTERNAL_P99_TARGET_NS as f64 / 1000.0,
                unit: "µs",
                met: r.internal.p99_ns <= INTERNAL_P99_TARGET_NS,
            });
        }
        if r.wire_to_wire.count > 0 && r.loopback_rtt.count > 0 && r.loopback_rtt.p50_ns > 0 {
            let ratio = r.wire_to_wire.p50_ns as f64 / r.loopback_rtt.p50_ns as f64;
            out.push(CheckResult {
                layout: r.layout.clone(),
                rate: r.rate,
                check: "wire-to-wire p50 / loopback RTT p50".into(),
                value: ratio,
                target: WIRE_TO_LOOPBACK_TARGET,
                unit: "x",
                met: ratio <= WIRE_TO_LOOPBACK_TARGET,
            });
        }
    }
    out
}

// ----------------------------------------------------------------------
// Formatting
// ----------------------------------------------------------------------

/// `812 ns`, `2.41 µs`, `1.20 ms`.
pub(crate) fn fmt_ns(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.2} µs", ns as f64 / 1e3)
    } else {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
}

/// `1,000`, `100,000`.
pub(crate) fn fmt_int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn dist_row(out: &mut String, what: &str, d: &Dist) {
    let _ = writeln!(
        out,
        "| {what} | {} | {} | {} | {} | {} | {} |",
        d.count,
        fmt_ns(d.p50_ns),
        fmt_ns(d.p90_ns),
        fmt_ns(d.p99_ns),
        fmt_ns(d.p999_ns),
        fmt_ns(d.max_ns)
    );
}

impl TickReport {
    /// The printed / `report.md` form.
    pub(crate) fn to_markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(out, "### talon bench tick-to-trade\n");
        let _ = writeln!(
            out,
            "{} · {} cores · kernel {} · {} · commit {}\n",
            m.cpu_model,
            m.cores,
            m.kernel,
            m.date_utc,
            m.git_commit.as_deref().unwrap_or("unknown")
        );
        let _ = writeln!(out, "`{}`\n", self.command);
        let _ = writeln!(
            out,
            "wire-to-wire: simulator clock, marked trade frame written → the order it caused read back \
             (`talon sim` in its own process). internal: the feed's socket read returned → the order's \
             bytes written by the gateway (the write call returned); its stages add up to it, and every \
             stage before the socket write is Talon's own code. loopback RTT: a bare 512 B TCP echo \
             over 127.0.0.1 measured during the same run (the floor).\n"
        );
        for s in &self.skipped {
            let _ = writeln!(out, "layout `{}` skipped: {}\n", s.layout, s.reason);
        }
        for r in &self.runs {
            let _ = writeln!(
                out,
                "#### layout `{}` · {} msgs/s ({:.0} received/s) · mark every {} · {} orders, {} fills, {} risk rejects, {} venue rejects, {} unmatched\n",
                r.layout,
                fmt_int(r.rate),
                r.received_per_sec,
                r.mark_every,
                r.orders_sent,
                r.fills,
                r.risk_rejects,
                r.venue_rejects,
                r.unmatched
            );
            let _ = writeln!(out, "threads: {}\n", r.threads.join("; "));
            let _ = writeln!(out, "| measure | n | p50 | p90 | p99 | p99.9 | max |");
            let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|");
            dist_row(&mut out, "**wire-to-wire**", &r.wire_to_wire);
            dist_row(&mut out, "loopback TCP RTT (floor)", &r.loopback_rtt);
            dist_row(&mut out, "**internal**", &r.internal);
            for s in &r.stages {
                dist_row(&mut out, &format!("↳ {}", s.label), &s.dist);
            }
            out.push('\n');
            for w in &r.warnings {
                let _ = writeln!(out, "warning: {w}\n");
            }
        }
        if !self.checks.is_empty() {
            let _ = writeln!(out, "#### checks\n");
            let _ = writeln!(out, "| layout | rate | check | value | target | met |");
            let _ = writeln!(out, "|---|--:|---|--:|--:|:-:|");
            for c in &self.checks {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.2} {} | ≤ {:.2} {} | {} |",
                    c.layout,
                    fmt_int(c.rate),
                    c.check,
                    c.value,
                    c.unit,
                    c.target,
                    c.unit,
                    if c.met { "yes" } else { "no" }
                );
            }
            out.push('\n');
        }
        out
    }

    /// The summary appended to `docs/BENCHMARKS.md`.
    pub(crate) fn summary_markdown(&self, report_dir: &Path) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n## talon bench tick-to-trade ({}, {}, {} cores, commit {})\n",
            m.date_utc,
            m.cpu_model,
            m.cores,
            m.git_commit.as_deref().unwrap_or("unknown")
        );
        let _ = writeln!(
            out,
            "`{}` — full report (tables, stage breakdown, percentile plot): `{}`\n",
            self.command,
            report_dir.display()
        );
        for s in &self.skipped {
            let _ = writeln!(out, "layout `{}` skipped: {}\n", s.layout, s.reason);
        }
        let _ = writeln!(
            out,
            "| layout | msgs/s | orders | wire-to-wire p50 / p99 | loopback RTT p50 | wire / loopback | internal p50 / p99 / p99.9 |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|");
        for r in &self.runs {
            let ratio = if r.loopback_rtt.p50_ns > 0 {
                format!(
                    "{:.2}x",
                    r.wire_to_wire.p50_ns as f64 / r.loopback_rtt.p50_ns as f64
                )
            } else {
                "—".into()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} / {} | {} | {} | {} / {} / {} |",
                r.layout,
                fmt_int(r.rate),
                r.orders_sent,
                fmt_ns(r.wire_to_wire.p50_ns),
                fmt_ns(r.wire_to_wire.p99_ns),
                fmt_ns(r.loopback_rtt.p50_ns),
                ratio,
                fmt_ns(r.internal.p50_ns),
                fmt_ns(r.internal.p99_ns),
                fmt_ns(r.internal.p999_ns)
            );
        }
        let met = self.checks.iter().filter(|c| c.met).count();
        let _ = writeln!(
            out,
            "\nTargets (internal p50 ≤ 3 µs, p99 ≤ 20 µs at 10,000 msgs/s; wire-to-wire p50 ≤ 1.5× loopback): {met} of {} checks met{}",
            self.checks.len(),
            if met == self.checks.len() {
                String::new()
            } else {
                format!(
                    " (missed: {})",
                    self.checks
                        .iter()
                        .filter(|c| !c.met)
                        .map(|c| format!(
                            "{} {} {}: {:.2} {}",
                            c.layout,
                            fmt_int(c.rate),
                            c.check,
                            c.value,
                            c.unit
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            }
        );
        out
    }
}

// ----------------------------------------------------------------------
// SVG
// ----------------------------------------------------------------------

/// One curve of the plot.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Series {
    pub(crate) label: String,
    pub(crate) color: &'static str,
    pub(crate) dash: &'static str,
    pub(crate) count: u64,
    pub(crate) points: Vec<CurvePoint>,
}

/// x of a percentile: log10(1 / (1 − p)); the max (p = 100) is drawn at
/// the resolution limit, log10(count).
fn x_of(p: &CurvePoint, count: u64) -> f64 {
    if p.percentile >= 100.0 {
        (count.max(1) as f64).log10()
    } else {
        -(1.0 - p.percentile / 100.0).max(1e-12).log10()
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const PANEL_W: f64 = 980.0;
const PANEL_H: f64 = 430.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 300.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// One SVG of HDR percentile plots, one panel per `(title, series)`: x =
/// percentile on a log 1/(1−p) scale, y = latency on a log scale.
pub(crate) fn render_svg(panels: &[(String, Vec<Series>)]) -> String {
    let height = PANEL_H * panels.len().max(1) as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{PANEL_W}" height="{height}" viewBox="0 0 {PANEL_W} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect x="0" y="0" width="{PANEL_W}" height="{height}" fill="white"/>"#
    );
    for (i, (title, series)) in panels.iter().enumerate() {
        render_panel(&mut out, i as f64 * PANEL_H, title, series);
    }
    out.push_str("</svg>\n");
    out
}

fn render_panel(out: &mut String, y0: f64, title: &str, series: &[Series]) {
    let plot_w = PANEL_W - LEFT - RIGHT;
    let plot_h = PANEL_H - TOP - BOTTOM;
    let pts = || {
        series
            .iter()
            .flat_map(|s| s.points.iter().map(move |p| (s.count, p)))
    };
    let x_max = pts()
        .map(|(c, p)| x_of(p, c))
        .fold(1.0f64, f64::max)
        .ceil()
        .clamp(1.0, 7.0);
    let (lo, hi) = pts()
        .map(|(_, p)| p.value_ns.max(1) as f64)
        .fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (y_lo, y_hi) = if hi <= 0.0 {
        (2.0, 4.0)
    } else {
        let a = lo.log10().floor();
        let b = hi.log10().ceil();
        (a, if b > a { b } else { a + 1.0 })
    };
    let sx = |x: f64| LEFT + x / x_max * plot_w;
    let sy = |ns: f64| y0 + TOP + plot_h - (ns.max(1.0).log10() - y_lo) / (y_hi - y_lo) * plot_h;
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
        y0 + 24.0,
        xml_escape(title)
    );
    // Axes and grid.
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>"##,
        y0 + TOP
    );
    let labels = [
        "0%",
        "90%",
        "99%",
        "99.9%",
        "99.99%",
        "99.999%",
        "99.9999%",
        "99.99999%",
    ];
    for k in 0..=(x_max as usize) {
        let x = sx(k as f64);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            y0 + TOP,
            y0 + TOP + plot_h
        );
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            y0 + TOP + plot_h + 16.0,
            labels.get(k).copied().unwrap_or("")
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile (log 1/(1−p) scale)</text>"#,
        LEFT + plot_w / 2.0,
        y0 + TOP + plot_h + 36.0
    );
    let mut e = y_lo as i32;
    while e <= y_hi as i32 {
        let ns = 10f64.powi(e);
        let y = sy(ns);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
            LEFT + plot_w
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            fmt_ns(ns as u64)
        );
        e += 1;
    }
    let _ = writeln!(
        out,
        r#"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">latency (log scale)</text>"#,
        y0 + TOP + plot_h / 2.0,
        y0 + TOP + plot_h / 2.0
    );
    // Curves and legend.
    for (i, s) in series.iter().enumerate() {
        if !s.points.is_empty() {
            let path: Vec<String> = s
                .points
                .iter()
                .map(|p| {
                    format!(
                        "{:.1},{:.1}",
                        sx(x_of(p, s.count)),
                        sy(p.value_ns.max(1) as f64)
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                r#"<polyline fill="none" stroke="{}" stroke-width="1.8" stroke-dasharray="{}" points="{}"/>"#,
                s.color,
                s.dash,
                path.join(" ")
            );
        }
        let ly = y0 + TOP + 10.0 + i as f64 * 18.0;
        let lx = LEFT + plot_w + 16.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{}" stroke-width="2" stroke-dasharray="{}"/>"#,
            lx + 28.0,
            s.color,
            s.dash
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 34.0,
            ly + 4.0,
            xml_escape(&s.label)
        );
    }
}

/// Series style of a rate: dashes tell rates apart.
fn dash_of(rate: u64) -> &'static str {
    match rate {
        0..=2_000 => "2,3",
        2_001..=20_000 => "",
        _ => "9,4",
    }
}

/// The plot panels of a report: one per layout, wire-to-wire, internal and
/// loopback curves at every rate.
pub(crate) fn panels(report: &TickReport) -> Vec<(String, Vec<Series>)> {
    let mut out: Vec<(String, Vec<Series>)> = Vec::new();
    for r in &report.runs {
        let title = format!("tick-to-trade, layout {}", r.layout);
        let idx = match out.iter().position(|(t, _)| *t == title) {
            Some(i) => i,
            None => {
                out.push((title, Vec::new()));
                out.len() - 1
            }
        };
        let rate = fmt_int(r.rate);
        for (what, color, d) in [
            ("wire-to-wire", "#d62728", &r.wire_to_wire),
            ("internal", "#1f77b4", &r.internal),
            ("loopback RTT", "#7f7f7f", &r.loopback_rtt),
        ] {
            if let Some((_, series)) = out.get_mut(idx) {
                series.push(Series {
                    label: format!("{what} @ {rate}/s"),
                    color,
                    dash: dash_of(r.rate),
                    count: d.count,
                    points: d.curve.clone(),
                });
            }
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS UTC` → `YYYYMMDD-HHMMSS` (anything else: the
/// digits as they come).
pub(crate) fn folder_stamp(date_utc: &str) -> String {
    let digits: String = date_utc.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 14 {
        format!("{}-{}", &digits[..8], &digits[8..14])
    } else if digits.is_empty() {
        "unknown-time".into()
    } else {
        digits
    }
}

/// Writes `report.md`, `report.json` and `percentiles.svg` into a new
/// `tick-to-trade-<stamp>` folder under `out`; returns the folder.
pub(crate) fn write_report(report: &TickReport, out: &Path) -> anyhow::Result<PathBuf> {
    let base = out.join(format!(
        "tick-to-trade-{}",
        folder_stamp(&report.machine.date_utc)
    ));
    let mut dir = base.clone();
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = PathBuf::from(format!("{}-{n}", base.display()));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    std::fs::write(dir.join("report.md"), report.to_markdown())
        .with_context(|| format!("write {}/report.md", dir.display()))?;
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(report)? + "\n",
    )
    .with_context(|| format!("write {}/report.json", dir.display()))?;
    std::fs::write(dir.join("percentiles.svg"), render_svg(&panels(report)))
        .with_context(|| format!("write {}/percentiles.svg", dir.display()))?;
    Ok(dir)
}

// ----------------------------------------------------------------------
// Running
// ----------------------------------------------------------------------

/// The simulator child process; killed (by its handle) when dropped.
struct SimChild {
    child: Child,
    ws_base: String,
    http_base: String,
}

impl Drop for SimChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_sim(rate: u64, mark_every: u64, lifetime: Duration) -> anyhow::Result<SimChild> {
    let exe = std::env::current_exe().context("locate the talon binary")?;
    let account = format!("{API_KEY}:{API_SECRET}:USDT=100000000,BTC=10000");
    let mut child = Command::new(exe)
        .args(["sim", "--listen", "127.0.0.1:0", "--symbols", SYMBOL])
        .args(["--rate", &rate.to_string()])
        .args(["--mark-every", &mark_every.to_string()])
        .args(["--account", &account])
        .args(["--orders-per-10s", "10000000"])
        .args(["--orders-per-day", "1000000000"])
        .args(["--weight-per-minute", "100000000"])
        .args(["--stats-interval-secs", "0"])
        .args(["--duration-secs", &lifetime.as_secs().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("spawn `talon sim`")?;
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        bail!("`talon sim` has no stdout");
    };
    let mut line = String::new();
    let read = BufReader::new(stdout).read_line(&mut line);
    let mut sim = SimChild {
        child,
        ws_base: String::new(),
        http_base: String::new(),
    };
    read.context("read the `talon sim` banner")?;
    // "talon sim listening on ws://ADDR http://ADDR"
    let mut words = line.split_whitespace().skip(4);
    match (words.next(), words.next()) {
        (Some(ws), Some(http)) if ws.starts_with("ws://") && http.starts_with("http://") => {
            sim.ws_base = ws.to_owned();
            sim.http_base = http.to_owned();
            Ok(sim)
        }
        _ => bail!("unexpected `talon sim` banner {line:?}"),
    }
}

/// `GET <http_base><target>` (HTTP/1.1, `Connection: close`): the body.
fn http_get(http_base: &str, target: &str) -> anyhow::Result<String> {
    let addr: SocketAddr = http_base
        .trim_start_matches("http://")
        .parse()
        .with_context(|| format!("simulator address {http_base}"))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("GET {target}: {}", head.lines().next().unwrap_or(""));
    }
    Ok(body.to_owned())
}

fn sim_marks(http_base: &str, reset: bool) -> anyhow::Result<MarksReport> {
    let target = if reset {
        "/sim/v1/marks?reset=true"
    } else {
        "/sim/v1/marks"
    };
    let body = http_get(http_base, target)?;
    serde_json::from_str(&body).context("parse the simulator's marks report")
}

fn engine_config(mark_every: u64) -> anyhow::Result<EngineConfig> {
    let text = format!(
        r#"
session = 1
[strategy]
name = "bench"
mark_every = {mark_every}
symbols = ["{SYMBOL}"]
[risk]
max_order_notional = "100000"
max_position = "1000"
max_open_orders = 256
max_orders_per_sec = 100000
order_burst = 100000
price_band_bps = 1000
daily_loss_limit = "100000000"
"#
    );
    EngineConfig::from_toml(&text).context("engine config")
}

/// A blocking echo server and a client doing one `ECHO_BYTES` round trip
/// per millisecond until stopped.
struct Loopback {
    stop: Arc<AtomicBool>,
    hist: Arc<LatencyHistogram>,
    client: Option<std::thread::JoinHandle<()>>,
    server: Option<std::thread::JoinHandle<()>>,
}

impl Loopback {
    fn start() -> anyhow::Result<Loopback> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = std::thread::Builder::new()
            .name("bench-echo".into())
            .spawn(move || {
                let Ok((mut s, _)) = listener.accept() else {
                    return;
                };
                let _ = s.set_nodelay(true);
                let mut buf = [0u8; ECHO_BYTES];
                while s.read_exact(&mut buf).is_ok() {
                    if s.write_all(&buf).is_err() {
                        return;
                    }
                }
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let hist = Arc::new(LatencyHistogram::new());
        let mut s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let client = {
            let (stop, hist) = (Arc::clone(&stop), Arc::clone(&hist));
            std::thread::Builder::new()
                .name("bench-echo-client".into())
                .spawn(move || {
                    let out = [0x5au8; ECHO_BYTES];
                    let mut back = [0u8; ECHO_BYTES];
                    // Relaxed: a stop request; nothing is published with it.
                    while !stop.load(Ordering::Relaxed) {
                        let t0 = Instant::now();
                        if s.write_all(&out).is_err() || s.read_exact(&mut back).is_err() {
                            return;
                        }
                        let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
                        hist.record(ns);
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    let _ = s.shutdown(std::net::Shutdown::Both);
                })?
        };
        Ok(Loopback {
            stop,
            hist,
            client: Some(client),
            server: Some(server),
        })
    }

    fn finish(mut self) -> Dist {
        // Relaxed: see the client loop.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.client.take() {
            let _ = h.join();
        }
        if let Some(h) = self.server.take() {
            let _ = h.join();
        }
        Dist::from_histogram(&self.hist)
    }
}

fn describe_threads(layout: &ThreadLayout) -> Vec<String> {
    layout
        .threads
        .iter()
        .filter(|t| t.roles.iter().any(|r| *r != AgentRole::Control))
        .map(|t| {
            let roles: Vec<&str> = t
                .roles
                .iter()
                .filter(|r| **r != AgentRole::Control)
                .map(|r| r.as_str())
                .collect();
            format!(
                "{} [{}] {} {}",
                t.name,
                roles.join("+"),
                t.core
                    .map_or("unpinned".to_owned(), |c| format!("core {c}")),
                t.idle.as_str()
            )
        })
        .collect()
}

/// One run: `rate` msgs/s on `layout` (see the module docs).
fn run_one(
    name: &str,
    layout: &ThreadLayout,
    rate: u64,
    mark_every: u64,
    plan: &Plan,
    journal_dir: &Path,
) -> anyhow::Result<RunResult> {
    let lifetime = plan.duration + plan.warmup + Duration::from_secs(120);
    let sim = spawn_sim(rate, mark_every, lifetime)?;
    // The session assembly `talon run` uses (rings, journal, feed, engine,
    // gateway and control agents on the layout's threads), against the
    // simulator process.
    let _ = std::fs::remove_dir_all(journal_dir);
    std::fs::create_dir_all(journal_dir)
        .with_context(|| format!("create {}", journal_dir.display()))?;
    let mut cfg = SessionConfig::paper(journal_dir).context("session config")?;
    cfg.venue = VenueChoice::External {
        ws_base: sim.ws_base.clone(),
        http_base: sim.http_base.clone(),
    };
    cfg.symbols = vec![SYMBOL.to_owned()];
    cfg.engine = engine_config(mark_every)?;
    cfg.feed.streams = StreamSet {
        book_ticker: true,
        trade: true,
        // Not `@aggTrade`: its events carry aggregate ids, which the bench
        // strategy would take for trade ids (orders no mark matches).
        agg_trade: false,
        // `@depth`: per event on the simulator (depth_interval_ms 0).
        depth: Some(DepthSpeed::Ms1000),
    };
    cfg.gateway.credentials = Some(Credentials {
        api_key: API_KEY.into(),
        auth: AuthSecret::Hmac(Secret::new(API_SECRET.as_bytes().to_vec())),
    });
    cfg.layout = layout.clone();
    cfg.journal = JournalConfig::new(journal_dir.join("journal"));
    let session = Session::start(cfg).with_context(|| format!("start the {name} session"))?;
    let latency: Arc<GatewayLatency> = Arc::clone(session.gateway_latency());
    latency.set_recording(false);
    let engine_handle = session.engine().clone();
    let feed_counters = Arc::clone(session.feed_counters());
    let stop_session = |session: Session| -> Vec<String> {
        match session.stop() {
            // A clean stop has nothing to report; else every thread's exit.
            Ok(summary) if summary.clean => Vec::new(),
            Ok(summary) => summary
                .runner_exits
                .iter()
                .map(|e| format!("thread {e}"))
                .collect(),
            Err(e) => vec![format!("stop: {e}")],
        }
    };

    // Ready: gateway session synced, every instrument's feed healthy (the
    // session's control agent then switches the engine ready).
    if let Err(e) = session.wait_ready(Duration::from_secs(30)) {
        let exits = stop_session(session);
        bail!("not ready within 30 s: {e}; {}", exits.join("; "));
    }
    std::thread::sleep(plan.warmup);

    // The measured window.
    let _ = sim_marks(&sim.http_base, true)?;
    latency.set_recording(true);
    let loopback = Loopback::start()?;
    let received = |c: &talon_feed::counters::FeedCounters| {
        c.get(FeedCounter::BookTickers)
            + c.get(FeedCounter::Trades)
            + c.get(FeedCounter::DepthUpdates)
    };
    let e0 = engine_handle.summary();
    let m0 = received(&feed_counters);
    let t0 = Instant::now();
    std::thread::sleep(plan.duration);
    latency.set_recording(false);
    let elapsed = t0.elapsed().as_secs_f64();
    let m1 = received(&feed_counters);
    let e1 = engine_handle.summary();
    let loopback = loopback.finish();
    // Orders in flight reach the simulator within a few ms.
    std::thread::sleep(Duration::from_millis(50));
    let marks = sim_marks(&sim.http_base, false)?;

    let mut warnings = Vec::new();
    if let Some(r) = session.halt_flag().reason() {
        warnings.push(format!("halted during the run: {r:?}"));
    }
    warnings.extend(stop_session(session));
    drop(sim);
    let _ = std::fs::remove_dir_all(journal_dir);

    let stages = OrderStage::ALL[1..]
        .iter()
        .map(|s| StageDist {
            stage: s.as_str(),
            label: s.label(),
            dist: Dist::from_histogram(latency.histogram(*s)),
        })
        .collect();
    Ok(RunResult {
        layout: name.to_owned(),
        threads: describe_threads(layout),
        rate,
        mark_every,
        duration_s: elapsed,
        received_per_sec: (m1 - m0) as f64 / elapsed.max(1e-9),
        orders_sent: e1.orders_sent - e0.orders_sent,
        fills: e1.fills - e0.fills,
        risk_rejects: e1.risk_rejects - e0.risk_rejects,
        venue_rejects: e1.venue_rejects - e0.venue_rejects,
        unmatched: marks.unmatched,
        wire_to_wire: Dist::from_marks(&marks),
        loopback_rtt: loopback,
        internal: Dist::from_histogram(latency.histogram(OrderStage::Internal)),
        stages,
        warnings,
    })
}

/// `talon bench tick-to-trade`.
pub(crate) fn run(args: TickArgs) -> anyhow::Result<ExitCode> {
    let cores = MachineCores::detect();
    let plan = args.plan(&cores)?;
    let machine = MachineInfo::collect();
    let command = std::iter::once("talon".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let mut skipped = Vec::new();
    for l in &plan.layouts {
        if let Err(reason) = &l.layout {
            println!("layout {}: skipped — {reason}", l.name);
            skipped.push(Skipped {
                layout: l.name.clone(),
                reason: reason.clone(),
            });
        }
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("create {}", args.out.display()))?;
    let journal_dir = args.out.join(".tick-to-trade-journal");
    let mut runs = Vec::new();
    for l in &plan.layouts {
        let Ok(layout) = &l.layout else { continue };
        for &rate in &plan.rates {
            let mark_every = args.mark_every_for(rate);
            eprintln!(
                "talon bench tick-to-trade: layout {} at {} msgs/s (mark every {mark_every}, {} s)…",
                l.name,
                fmt_int(rate),
                plan.duration.as_secs()
            );
            let r = run_one(&l.name, layout, rate, mark_every, &plan, &journal_dir)
                .with_context(|| format!("layout {} at {rate} msgs/s", l.name))?;
            runs.push(r);
        }
    }
    let report = TickReport {
        machine,
        command,
        checks: checks(&runs),
        runs,
        skipped,
    };
    print!("{}", report.to_markdown());
    let dir = write_report(&report, &args.out)?;
    println!("report written to {}", dir.display());
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("write {}", p.display()))?;
        println!("JSON written to {}", p.display());
    }
    if let Some(p) = &args.append_benchmarks {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(p)
            .with_context(|| format!("open {}", p.display()))?;
        f.write_all(report.summary_markdown(&dir).as_bytes())
            .with_context(|| format!("append to {}", p.display()))?;
        println!("summary appended to {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: TickArgs,
    }

    fn args(v: &[&str]) -> TickArgs {
        Cli::try_parse_from(std::iter::once("x").chain(v.iter().copied()))
            .unwrap()
            .a
    }

    #[test]
    fn defaults_plan_every_rate_and_skip_layouts_the_cores_refuse() {
        let a = args(&[]);
        assert_eq!(a.duration, 5);
        assert_eq!(a.out, PathBuf::from("target/bench-reports"));
        assert!(a.append_benchmarks.is_none() && a.json.is_none());
        let two = MachineCores::from_ids([0, 1]);
        let p = a.plan(&two).unwrap();
        assert_eq!(p.rates, DEFAULT_RATES.to_vec());
        let names: Vec<&str> = p.layouts.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["dedicated", "shared", "single-thread"]);
        let dedicated = &p.layouts[0].layout;
        assert!(
            dedicated.as_ref().unwrap_err().contains("core"),
            "{dedicated:?}"
        );
        assert!(p.layouts[1].layout.is_ok() && p.layouts[2].layout.is_ok());
        // Four cores allow all three.
        let four = MachineCores::from_ids([0, 1, 2, 3]);
        assert!(
            a.plan(&four)
                .unwrap()
                .layouts
                .iter()
                .all(|l| l.layout.is_ok())
        );
    }

    #[test]
    fn flags_are_parsed_and_checked() {
        let a = args(&[
            "--rate",
            "1000,5000",
            "--duration",
            "2",
            "--layout",
            "single-thread",
            "--json",
            "r.json",
            "--out",
            "o",
            "--append-benchmarks",
            "docs/BENCHMARKS.md",
            "--mark-every",
            "3",
        ]);
        let p = a.plan(&MachineCores::from_ids([0, 1])).unwrap();
        assert_eq!(p.rates, [1000, 5000]);
        assert_eq!(p.duration, Duration::from_secs(2));
        assert_eq!(p.layouts.len(), 1);
        assert_eq!(a.mark_every_for(100_000), 3);
        assert_eq!(a.json, Some(PathBuf::from("r.json")));
        assert_eq!(
            a.append_benchmarks,
            Some(PathBuf::from("docs/BENCHMARKS.md"))
        );
        let cores = MachineCores::from_ids([0, 1]);
        for bad in [
            &["--layout", "triple"][..],
            &["--rate", "0"],
            &["--duration", "0"],
            &["--mark-every", "0"],
            &["--orders-per-sec", "0"],
        ] {
            assert!(args(bad).plan(&cores).is_err(), "{bad:?}");
        }
        assert!(Cli::try_parse_from(["x", "--rate", "fast"]).is_err());
    }

    #[test]
    fn mark_every_aims_at_the_order_rate() {
        let a = args(&[]);
        assert_eq!(a.mark_every_for(1_000), 1);
        assert_eq!(a.mark_every_for(100_000), 100_000 / MSGS_PER_TRADE / 200);
        let b = args(&["--orders-per-sec", "1"]);
        assert_eq!(b.mark_every_for(1_800), 100);
    }

    fn dist(p50: u64, count: u64) -> Dist {
        Dist {
            count,
            p50_ns: p50,
            p90_ns: p50 * 2,
            p99_ns: p50 * 4,
            p999_ns: p50 * 8,
            max_ns: p50 * 16,
            curve: vec![
                CurvePoint {
                    percentile: 0.0,
                    value_ns: p50 / 2,
                },
                CurvePoint {
                    percentile: 50.0,
                    value_ns: p50,
                },
                CurvePoint {
                    percentile: 99.0,
                    value_ns: p50 * 4,
                },
                CurvePoint {
                    percentile: 100.0,
                    value_ns: p50 * 16,
                },
            ],
        }
    }

    fn report() -> TickReport {
        let run = |layout: &str, rate, wire, internal| RunResult {
            layout: layout.into(),
            threads: vec!["hot [feed+engine] core 1 busy_spin".into()],
            rate,
            mark_every: 2,
            duration_s: 5.0,
            received_per_sec: rate as f64,
            orders_sent: 100,
            fills: 100,
            wire_to_wire: dist(wire, 100),
            loopback_rtt: dist(20_000, 5_000),
            internal: dist(internal, 100),
            stages: OrderStage::ALL[1..]
                .iter()
                .map(|s| StageDist {
                    stage: s.as_str(),
                    label: s.label(),
                    dist: dist(internal / 5, 100),
                })
                .collect(),
            ..RunResult::default()
        };
        TickReport {
            machine: MachineInfo {
                cores: 2,
                cpu_model: "Test CPU <x>".into(),
                kernel: "6.0".into(),
                date_utc: "2025-03-04 05:06:07 UTC".into(),
                git_commit: Some("abc1234".into()),
            },
            command: "talon bench tick-to-trade".into(),
            runs: vec![
                run("shared", 10_000, 25_000, 2_500),
                run("single-thread", 10_000, 40_000, 30_000),
                run("shared", 1_000, 25_000, 2_000),
            ],
            skipped: vec![Skipped {
                layout: "dedicated".into(),
                reason: "needs 4 cores".into(),
            }],
            checks: Vec::new(),
        }
    }

    #[test]
    fn checks_apply_the_targets() {
        let r = report();
        let c = checks(&r.runs);
        // 2 internal checks for each 10k run + a wire check per run.
        assert_eq!(c.len(), 2 + 2 + 3);
        let get = |layout: &str, rate: u64, check: &str| {
            c.iter()
                .find(|x| x.layout == layout && x.rate == rate && x.check.starts_with(check))
                .unwrap()
                .met
        };
        assert!(get("shared", 10_000, "internal p50"));
        assert!(get("shared", 10_000, "internal p99")); // 10 µs ≤ 20 µs
        assert!(get("shared", 10_000, "wire")); // 1.25x
        assert!(!get("single-thread", 10_000, "internal p50"));
        assert!(!get("single-thread", 10_000, "wire")); // 2x
    }

    #[test]
    fn markdown_and_summary_carry_every_run() {
        let mut r = report();
        r.checks = checks(&r.runs);
        let md = r.to_markdown();
        assert!(md.contains("layout `dedicated` skipped: needs 4 cores"));
        assert!(md.contains("| **wire-to-wire** | 100 | 25.00 µs |"), "{md}");
        assert!(md.contains("| loopback TCP RTT (floor) | 5000 | 20.00 µs |"));
        assert!(md.contains("↳ encode + sign |"));
        assert!(md.contains("↳ socket write (syscall)"));
        assert!(
            md.contains("| single-thread | 10,000 | internal p50 | 30.00 µs | ≤ 3.00 µs | no |")
        );
        let s = r.summary_markdown(Path::new("target/bench-reports/x"));
        assert!(
            s.contains("| shared | 10,000 | 100 | 25.00 µs / 100.00 µs | 20.00 µs | 1.25x |"),
            "{s}"
        );
        assert!(s.contains("checks met (missed:"));
        assert!(s.contains("target/bench-reports/x"));
    }

    #[test]
    fn svg_is_well_formed_with_a_panel_per_layout() {
        let r = report();
        let p = panels(&r);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].1.len(), 6); // 2 rates × 3 measures
        let svg = render_svg(&p);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<polyline").count(), 9);
        assert!(svg.contains("Test CPU") || !svg.contains("<x>"));
        assert!(svg.contains("99.9%") && svg.contains("wire-to-wire @ 10,000/s"));
        // No NaN or infinite coordinates.
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        // Every element is closed: the opening and closing tags balance.
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        // An empty curve still renders a legend entry, no polyline.
        let mut e = r.clone();
        e.runs[0].wire_to_wire = Dist::default();
        let svg = render_svg(&panels(&e));
        assert_eq!(svg.matches("<polyline").count(), 8);
    }

    #[test]
    fn x_positions_follow_the_log_tail_scale() {
        let p = |percentile| CurvePoint {
            percentile,
            value_ns: 1,
        };
        assert!((x_of(&p(0.0), 10) - 0.0).abs() < 1e-9);
        assert!((x_of(&p(90.0), 10) - 1.0).abs() < 1e-9);
        assert!((x_of(&p(99.9), 10) - 3.0).abs() < 1e-6);
        assert!((x_of(&p(100.0), 1000) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn report_files_are_written_to_a_fresh_folder() {
        let dir = std::env::temp_dir().join(format!("talon-tick-report-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let r = report();
        let a = write_report(&r, &dir).unwrap();
        let b = write_report(&r, &dir).unwrap();
        assert_ne!(a, b, "a second report never overwrites the first");
        assert!(a.ends_with("tick-to-trade-20250304-050607"));
        for f in ["report.md", "report.json", "percentiles.svg"] {
            assert!(a.join(f).is_file(), "{f}");
        }
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(a.join("report.json")).unwrap()).unwrap();
        assert_eq!(json["runs"].as_array().unwrap().len(), 3);
        assert_eq!(json["runs"][0]["wire_to_wire"]["p50_ns"], 25_000);
        assert_eq!(json["skipped"][0]["layout"], "dedicated");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn numbers_format_for_humans() {
        assert_eq!(fmt_ns(812), "812 ns");
        assert_eq!(fmt_ns(2_414), "2.41 µs");
        assert_eq!(fmt_ns(1_200_000), "1.20 ms");
        assert_eq!(fmt_int(100_000), "100,000");
        assert_eq!(fmt_int(999), "999");
        assert_eq!(folder_stamp("2025-03-04 05:06:07 UTC"), "20250304-050607");
        assert_eq!(folder_stamp("unknown"), "unknown-time");
    }
}
