//! `talon ctl` against a running `talon run --duration` process: status
//! (readable and `--json`), a refused halt naming the field, a halt shown
//! as HALTED in status, resume; the session still ends cleanly.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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

fn talon() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_talon"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TALON_") {
            c.env_remove(k);
        }
    }
    c
}

fn ctl(data: &Path, args: &[&str]) -> Output {
    talon()
        .arg("ctl")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn talon_ctl_talks_to_a_running_session() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("run.toml");
    std::fs::write(&cfg, POLITE).unwrap();
    let data = dir.path().join("data");
    let run = talon()
        .args([
            "run",
            "--duration",
            "12",
            "--status-interval",
            "0",
            "--config",
        ])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait (bounded) until the session answers and its engine is active.
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let out = ctl(&data, &["--json", "status"]);
        let last = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if v["result"]["trading_state"] == "ACTIVE" {
                break;
            }
        }
        assert!(Instant::now() < end, "never active: {last}");
        std::thread::sleep(Duration::from_millis(200));
    }

    let out = ctl(&data, &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("health: "), "{text}");
    assert!(text.contains("gateway.ready: true"), "{text}");

    let out = ctl(
        &data,
        &[
            "halt",
            "--reason",
            "cli test halt reason",
            "--confirm",
            "halt now",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad_field") && err.contains("confirm"),
        "{err}"
    );

    let out = ctl(
        &data,
        &[
            "halt",
            "--reason",
            "cli test halt reason",
            "--confirm",
            "HALT TRADING NOW",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ctl(&data, &["--json", "status"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["result"]["trading_state"], "HALTED", "{v}");
    assert_eq!(
        v["result"]["halt"]["operator"]["reason"],
        "cli test halt reason"
    );

    let out = ctl(&data, &["resume"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ctl(&data, &["positions"]);
    assert!(out.status.success());
    // `talon ctl metrics` prints the Prometheus text exposition.
    let out = ctl(&data, &["metrics"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("# TYPE talon_"), "{text}");
    assert!(
        text.lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .all(|l| l.starts_with("talon_")),
        "{text}"
    );
    let out = ctl(&data, &["--json", "nope"]);
    assert!(!out.status.success());

    let out = run.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!data.join("talon.sock").exists());
}
