//! `talon bench tick-to-trade`, driven as an operator would, one short run:
//! the simulator child, the pipeline and the report folder (markdown, JSON,
//! SVG), the `--json` copy and the explicit `--append-benchmarks`. Checks
//! shapes and counts, never timings.
#![allow(clippy::unwrap_used)]
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("talon-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn one_short_run_writes_the_report_folder() {
    let dir = scratch("bench-tick");
    let out = dir.join("reports");
    let json = dir.join("copy.json");
    let bench_md = dir.join("BENCHMARKS.md");
    std::fs::write(&bench_md, "# Benchmarks\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_talon"))
        .args([
            "bench",
            "tick-to-trade",
            "--rate",
            "1000",
            "--duration",
            "1",
        ])
        .args(["--layout", "single-thread,dedicated", "--warmup", "0"])
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .arg(&json)
        .arg("--append-benchmarks")
        .arg(&bench_md)
        .stdin(Stdio::null())
        .output()
        .expect("talon runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("| **wire-to-wire** |"), "{stdout}");
    assert!(stdout.contains("↳ encode + sign"), "{stdout}");
    assert!(stdout.contains("↳ socket write (syscall)"), "{stdout}");

    let folders: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("tick-to-trade-"))
        })
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let f = &folders[0];
    let md = std::fs::read_to_string(f.join("report.md")).unwrap();
    assert!(md.contains("layout `single-thread`"), "{md}");
    let svg = std::fs::read_to_string(f.join("percentiles.svg")).unwrap();
    assert!(
        svg.starts_with("<svg ") && svg.contains("<polyline"),
        "{svg}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(f.join("report.json")).unwrap()).unwrap();
    let copy: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report, copy);

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), if cores < 4 { 1 } else { 2 });
    let r = &runs[0];
    assert_eq!(r["layout"], "single-thread");
    assert_eq!(r["rate"], 1000);
    assert!(r["orders_sent"].as_u64().unwrap() > 0, "{r}");
    assert!(r["wire_to_wire"]["count"].as_u64().unwrap() > 0, "{r}");
    assert!(r["internal"]["count"].as_u64().unwrap() > 0, "{r}");
    assert!(r["loopback_rtt"]["count"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["stages"].as_array().unwrap().len(), 6);
    assert!(r["warnings"].as_array().unwrap().is_empty(), "{r}");
    // Skipped only when this machine lacks the cores for it.
    let skipped = report["skipped"].as_array().unwrap();
    if cores < 4 {
        assert_eq!(skipped[0]["layout"], "dedicated");
        assert!(stdout.contains("layout dedicated: skipped"), "{stdout}");
    }

    let appended = std::fs::read_to_string(&bench_md).unwrap();
    assert!(appended.starts_with("# Benchmarks\n"));
    assert!(
        appended.contains("## talon bench tick-to-trade"),
        "{appended}"
    );
    assert!(appended.contains("| single-thread | 1,000 |"), "{appended}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_flags_fail_with_the_reason() {
    let o = Command::new(env!("CARGO_BIN_EXE_talon"))
        .args(["bench", "tick-to-trade", "--layout", "triple"])
        .stdin(Stdio::null())
        .output()
        .expect("talon runs");
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("--layout triple"), "{stderr}");
}
