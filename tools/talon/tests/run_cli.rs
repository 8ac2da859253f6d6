//! `talon run`, run as an operator would: a short paper session against the
//! embedded simulator, and configuration errors that name the key.
//!
//! The sessions use a config whose threads yield or back off instead of
//! busy-spinning, so they pass on a small, shared machine.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

/// Threads that never busy-spin; small journal segments.
const POLITE: &str = r#"
[journal]
segment_size = 4194304

[[layout.thread]]
name = "hot"
agents = ["feed", "engine"]
idle = { strategy = "yield" }

[[layout.thread]]
name = "gateway"
agents = ["gateway"]
idle = { strategy = "backoff" }

[[layout.thread]]
name = "control"
agents = ["control"]
idle = { strategy = "backoff" }
"#;

fn talon(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_talon"));
    c.args(args);
    // The session must not pick up the caller's overrides or keys.
    for (k, _) in std::env::vars() {
        if k.starts_with("TALON_") {
            c.env_remove(k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn a_paper_session_trades_prints_its_layout_and_status_and_writes_a_json_summary() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "run.toml", POLITE);
    let data = dir.path().join("data");
    let json = dir.path().join("s.json");
    let out = talon(
        &[
            "run",
            "--duration",
            "3",
            "--config",
            &cfg,
            "--data-dir",
            data.to_str().unwrap(),
            "--summary-json",
            json.to_str().unwrap(),
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");

    // The layout: every thread with its agents, core and idle strategy.
    assert!(stdout.contains("thread layout:"), "{stdout}");
    assert!(stdout.contains("agents feed+engine"), "{stdout}");
    assert!(stdout.contains("idle { strategy = \"yield\" }"), "{stdout}");
    assert!(stdout.contains("agents control"), "{stdout}");
    // Status lines, then the human summary.
    let status_lines = stdout.lines().filter(|l| l.contains(" md ")).count();
    assert!(status_lines >= 1, "{stdout}");
    assert!(stdout.contains("t2t p50"), "{stdout}");
    assert!(stdout.contains("summary"), "{stdout}");
    assert!(stdout.contains("tick-to-trade"), "{stdout}");

    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for key in [
        "market_messages",
        "orders_sent",
        "fills",
        "rejects_by_reason",
        "positions",
        "realised_pnl",
        "tick_to_trade_ns",
    ] {
        assert!(s.get(key).is_some(), "summary lacks {key}: {s}");
    }
    assert!(s["market_messages"].as_u64().unwrap() > 0, "{s}");
    assert!(s["orders_sent"].as_u64().unwrap() > 0, "{s}");
    assert!(s["fills"].as_u64().unwrap() > 0, "{s}");
    assert!(s["tick_to_trade_ns"]["p50"].as_u64().unwrap() > 0, "{s}");
    assert!(
        s["tick_to_trade_ns"]["p99"].as_u64().unwrap()
            >= s["tick_to_trade_ns"]["p50"].as_u64().unwrap()
    );
    assert!(s["rejects_by_reason"].is_object());
    let positions = s["positions"].as_array().unwrap();
    let symbols: Vec<&str> = positions
        .iter()
        .map(|p| p["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(symbols, ["BTCUSDT", "ETHUSDT"]);
    // Amounts are exact decimal strings.
    assert!(s["realised_pnl"].is_string(), "{s}");
    // A clean stop: every quote cancelled and acknowledged.
    assert_eq!(s["open_orders_at_stop"], 0, "{s}");
    assert_eq!(s["clean"], true, "{s}");

    // The journal and the session counter are in the data directory.
    assert!(data.join("journal").is_dir());
    assert_eq!(
        std::fs::read_to_string(data.join("session"))
            .unwrap()
            .trim(),
        "1"
    );
    assert!(s["journal_records"].as_u64().unwrap() > 0, "{s}");
}

#[test]
fn a_bad_config_file_fails_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = write(
        dir.path(),
        "bad.toml",
        "[feed]\nstale_after_ms = \"soon\"\n",
    );
    let out = talon(
        &[
            "run",
            "--config",
            &cfg,
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("feed.stale_after_ms"), "{stderr}");
    // Nothing was started: no session number was taken.
    assert!(!data.join("session").exists());

    let cfg = write(
        dir.path(),
        "bad2.toml",
        "[engine.risk]\nmax_posiiton = \"1\"\n",
    );
    let out = talon(
        &[
            "run",
            "--config",
            &cfg,
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("engine.risk.max_posiiton"), "{stderr}");
}

#[test]
fn an_environment_override_error_names_the_variable_and_secrets_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = talon(
        &["run", "--data-dir", data.to_str().unwrap()],
        &[("TALON_ENGINE__RISK__MAX_OPEN_ORDERS", "0")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("engine.risk.max_open_orders"), "{stderr}");
    assert!(
        stderr.contains("TALON_ENGINE__RISK__MAX_OPEN_ORDERS"),
        "{stderr}"
    );

    // The real venue without a key: refused before anything connects, and
    // a given secret never appears in the output.
    let out = talon(
        &["run", "--data-dir", data.to_str().unwrap()],
        &[
            ("TALON_VENUE__KIND", "testnet"),
            ("TALON_API_SECRET", "s3cr3t-value"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("TALON_API_KEY"), "{stderr}");
    assert!(!stderr.contains("s3cr3t-value") && !stdout.contains("s3cr3t-value"));
}
