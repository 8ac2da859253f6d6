//! The same paper session runs under the `shared`, `dedicated` and
//! `single-thread` thread layouts: each starts, becomes ready, places and
//! fills orders, and stops cleanly (every runner stopped, nothing left
//! open), with a journal that passes the order audit.
//!
//! Layouts are the presets fitted to this machine
//! (`ThreadLayout::preset_for`). `dedicated` needs four cores (the OS core
//! plus one per hot agent): with fewer the test prints why it is skipped
//! and returns. On machines with fewer than four cores the layouts are made
//! polite (no pinning, `yield` instead of busy-spinning: the threads, their
//! agents and their order are the preset's, only the idling differs), so a
//! 2-core CI machine is not starved; with four or more they run exactly as
//! configured. The sessions of this file run one at a time.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

mod paper_support;

use std::sync::Mutex;

use paper_support::*;
use talon_core::agent::{AgentRole, MachineCores, ThreadLayout};

/// One session at a time in this binary.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Cores the `dedicated` preset needs (see `ThreadLayout::preset_for`).
const DEDICATED_CORES: usize = 4;

fn shape(layout: &ThreadLayout) -> Vec<(String, Vec<AgentRole>)> {
    layout
        .threads
        .iter()
        .map(|t| (t.name.clone(), t.roles.clone()))
        .collect()
}

/// Runs the preset `preset` as configured by `layout = "…"` (polite on
/// machines with fewer than four cores).
fn run_layout(preset: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cores = MachineCores::detect();
    let expected = ThreadLayout::preset_for(preset, &cores).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = format!("layout = \"{preset}\"\n[journal]\nsegment_size = 4194304\n");
    let mut cfg = talon_cli::session::SessionConfig::from_toml(&text, dir.path())
        .unwrap_or_else(|e| panic!("layout {preset}: {e}"));
    assert_eq!(cfg.layout, expected, "the config resolves to the preset");
    let polite = cores.len() < DEDICATED_CORES;
    if polite {
        cfg = cfg.polite();
    }
    run_session(preset, cfg, dir.path(), polite);
}

/// Starts `cfg`, trades until a fill, stops, audits the journal.
fn run_session(
    label: &str,
    cfg: talon_cli::session::SessionConfig,
    dir: &std::path::Path,
    polite: bool,
) {
    let expected = cfg.layout.clone();
    let s = start_ready(cfg);
    assert_eq!(shape(s.layout()), shape(&expected), "{}", s.layout_table());
    if !polite {
        assert!(s.layout_name().contains(label), "{}", s.layout_name());
    }
    assert!(
        eventually(60, || {
            let sum = s.engine().summary();
            sum.orders_sent >= 2 && sum.fills >= 1
        }),
        "layout {label}: no fills: {}",
        s.status()
    );
    let venue_ids = sim_order_ids(sim(&s));
    let summary = s.stop().unwrap();
    assert!(summary.clean, "layout {label}: {summary}");
    assert_eq!(summary.open_orders_at_stop, 0, "{summary}");
    assert_eq!(
        summary.runner_exits.len(),
        expected.threads.len(),
        "{summary}"
    );
    assert!(summary.fills >= 1 && summary.orders_sent >= 2, "{summary}");

    let recs = read_journal(dir.join("journal").as_path());
    let audit = audit_orders(&recs);
    assert_venue_orders_journaled(&audit, &venue_ids);
    assert!(audit.new_orders.len() as u64 >= summary.orders_sent);
    eprintln!(
        "layout {label} ({} threads{}): {} orders, {} fills, exits {:?}",
        expected.threads.len(),
        if polite { ", polite" } else { "" },
        summary.orders_sent,
        summary.fills,
        summary.runner_exits
    );
}

#[test]
fn the_session_runs_under_the_shared_layout() {
    run_layout("shared");
}

#[test]
fn the_session_runs_under_the_dedicated_layout() {
    let have = MachineCores::detect().len();
    if have < DEDICATED_CORES {
        println!(
            "skipped: dedicated layout needs {DEDICATED_CORES} cores, this machine has {have}"
        );
        return;
    }
    run_layout("dedicated");
}

#[test]
fn the_session_runs_under_the_single_thread_layout() {
    run_layout("single-thread");
}

/// The `dedicated` shape (one thread per agent) on any machine: unpinned,
/// yielding, so it also runs where the real preset is skipped.
#[test]
fn the_dedicated_thread_shape_runs_unpinned_on_any_machine() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = paper_config("", dir.path());
    cfg.layout = ThreadLayout::dedicated()
        .without_pinning()
        .with_busy_spin_as(talon_core::agent::IdleConfig::Yield);
    assert_eq!(cfg.layout.threads.len(), 4);
    run_session("dedicated-unpinned", cfg, dir.path(), true);
}
