//! The official Binance Python SDK (`binance-sdk-spot` from PyPI) places,
//! queries and cancels LIMIT orders on `talon sim`, over REST and over the
//! WebSocket API, and what it parses is checked field by field.
//!
//! The scenario, narrated:
//! 1. A Python venv with the SDK is made under the target dir, keyed by a hash
//!    of `tests/interop/requirements.txt` (exact pins with sha256 hashes) and
//!    of the interpreter's version, so repeated local runs reuse it; a clean
//!    clone (CI) builds it from scratch from PyPI. It is built in a scratch
//!    directory and renamed into place only once pip succeeded, so a killed
//!    run never leaves a half-made venv that looks ready.
//! 2. The `talon` binary of this workspace is built (`cargo build -p talon
//!    --profile test`, the profile `cargo test` builds it with, so its
//!    dependencies are reused; a no-op when fresh) unless `TALON_BIN` names
//!    another one.
//! 3. `talon sim` starts as its own process on 127.0.0.1 port 0 with one
//!    funded HMAC account; its first stdout line gives the address.
//! 4. `tests/interop/sdk_roundtrip.py` drives the SDK against it (REST base
//!    `http://ADDR`, WS API `ws://ADDR/ws-api/v3`) and exits non-zero with a
//!    `MISMATCH:` line on the first difference from what the venue returns.
//! 5. The test asserts the script passed, showing the script's and the
//!    simulator's output when it did not.
//!
//! Every child runs under a deadline and is killed on the way out (a guard
//! with `Drop`), so a hung SDK or simulator fails the test instead of hanging.
//!
//! This test owns its venv cache (`target/<profile>/interop-venv/`) and its
//! children. It must never install into the user's own Python environment,
//! never reach anything but PyPI (through pip) and loopback, and never leave
//! a simulator or script process running.
//!
//! Environment: `TALON_BIN` (use this `talon` binary), `TALON_PYTHON` (the
//! interpreter used to make the venv, default `python3`),
//! `TALON_INTEROP_SKIP=1` (skip, for offline machines: prints why; ignored
//! when `CI` is set, so CI always runs it). What the SDK needs from the simulator: `tests/interop/NOTES.md`.
#![forbid(unsafe_code)]

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// An HMAC account the simulator is started with (64-character key and secret
/// like the venue's).
const API_KEY: &str = "talonInteropKey0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM";
const API_SECRET: &str = "talonInteropSecret0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHI";
const BALANCES: &str = "USDT=100000,BTC=10";
const SYMBOL: &str = "BTCUSDT";

const VENV_CREATE_TIMEOUT: Duration = Duration::from_secs(180);
const PIP_TIMEOUT: Duration = Duration::from_secs(900);
const CARGO_BUILD_TIMEOUT: Duration = Duration::from_secs(1800);
const SIM_START_TIMEOUT: Duration = Duration::from_secs(30);
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `target/<profile>/deps/<this test>` → `target/<profile>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// Output of a finished child: exit success and its stdout/stderr text.
#[derive(Debug)]
struct Finished {
    success: bool,
    status: String,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn describe(&self) -> String {
        format!(
            "exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Kills (and reaps) the child when dropped, whatever path the test takes.
#[derive(Debug)]
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Runs `cmd` to completion with stdout/stderr in files under `log_dir`,
/// killing it after `timeout`. Panics (with the output so far) on timeout.
fn run_bounded(mut cmd: Command, what: &str, log_dir: &Path, timeout: Duration) -> Finished {
    let out_path = log_dir.join(format!("{what}.stdout"));
    let err_path = log_dir.join(format!("{what}.stderr"));
    let out = File::create(&out_path).expect("stdout log file");
    let err = File::create(&err_path).expect("stderr log file");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    let mut guard = KillOnDrop(child);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match guard.0.try_wait().expect("wait on child") {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => break None,
            None => thread::sleep(Duration::from_millis(50)),
        }
    };
    drop(guard);
    let finished = Finished {
        success: status.is_some_and(|s| s.success()),
        status: status.map_or_else(|| format!("killed after {timeout:?}"), |s| s.to_string()),
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    };
    assert!(
        status.is_some(),
        "{what} did not finish within {timeout:?}\n{}",
        finished.describe()
    );
    finished
}

/// FNV-1a 64: a stable content key for the venv cache directory.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// Removes scratch venvs (`*.building-<pid>`) left by runs killed more than
/// an hour ago; a live run's scratch directory is younger than that.
fn remove_stale_scratch(cache: &Path) {
    let Ok(entries) = fs::read_dir(cache) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(3600));
        if stale && entry.file_name().to_string_lossy().contains(".building-") {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The venv with the pinned SDK: reused when ready, else made from scratch.
fn ensure_venv(log_dir: &Path) -> PathBuf {
    let python = std::env::var("TALON_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let mut version_cmd = Command::new(&python);
    version_cmd.arg("--version");
    let version = run_bounded(version_cmd, "python-version", log_dir, VENV_CREATE_TIMEOUT);
    assert!(
        version.success,
        "the interop test needs Python 3 with the venv module ({python}); \
         set TALON_PYTHON, or TALON_INTEROP_SKIP=1 to skip\n{}",
        version.describe()
    );
    let requirements = interop_dir().join("requirements.txt");
    let req_bytes = fs::read(&requirements).expect("tests/interop/requirements.txt");
    let key = fnv1a(&[
        &req_bytes,
        version.stdout.as_bytes(),
        version.stderr.as_bytes(),
        python.as_bytes(),
    ]);
    let cache = profile_dir().join("interop-venv");
    let venv = cache.join(format!("{key:016x}"));
    if venv_python(&venv).exists() && venv.join(".talon-ready").exists() {
        eprintln!("interop: reusing venv {}", venv.display());
        return venv;
    }
    fs::create_dir_all(&cache).expect("venv cache dir");
    remove_stale_scratch(&cache);
    let scratch = cache.join(format!("{key:016x}.building-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    eprintln!("interop: creating venv {}", scratch.display());
    let mut create = Command::new(&python);
    create.args(["-m", "venv"]).arg(&scratch);
    let created = run_bounded(create, "venv", log_dir, VENV_CREATE_TIMEOUT);
    assert!(
        created.success,
        "`{python} -m venv` failed (on Debian/Ubuntu install python3-venv)\n{}",
        created.describe()
    );
    let mut pip = Command::new(venv_python(&scratch));
    pip.args([
        "-m",
        "pip",
        "install",
        "--no-input",
        "--disable-pip-version-check",
        "--require-hashes",
        "--only-binary",
        ":all:",
        "-r",
    ])
    .arg(&requirements);
    let installed = run_bounded(pip, "pip-install", log_dir, PIP_TIMEOUT);
    if !installed.success {
        let _ = fs::remove_dir_all(&scratch);
        panic!(
            "pip could not install tests/interop/requirements.txt from PyPI \
             (needs network; TALON_INTEROP_SKIP=1 skips this test)\n{}",
            installed.describe()
        );
    }
    fs::write(scratch.join(".talon-ready"), b"ok\n").expect("venv ready marker");
    // The venv is only ever run as `<venv>/bin/python`, which finds its
    // prefix from its own location, so moving the directory is safe.
    match fs::rename(&scratch, &venv) {
        Ok(()) => venv,
        Err(_) if venv.join(".talon-ready").exists() => {
            // Another run finished the same venv first: use that one.
            let _ = fs::remove_dir_all(&scratch);
            venv
        }
        Err(_) => {
            let _ = fs::remove_dir_all(&venv);
            fs::rename(&scratch, &venv).expect("move the new venv into place");
            venv
        }
    }
}

/// The `talon` binary: `TALON_BIN`, else this workspace's, built now.
fn talon_bin(log_dir: &Path) -> PathBuf {
    if let Some(bin) = std::env::var_os("TALON_BIN") {
        eprintln!("interop: using TALON_BIN={}", bin.to_string_lossy());
        return PathBuf::from(bin);
    }
    let profile = profile_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut build = Command::new(cargo);
    build
        .current_dir(workspace_root())
        .args(["build", "-p", "talon", "--bin", "talon"]);
    // `cargo test` builds every non-test unit (the `talon` binary of the CLI's
    // own integration tests included) with the `test` profile into
    // target/debug: asking for the same profile reuses all of its
    // dependencies under `cargo test --workspace` (at most the `talon` crate
    // itself is rebuilt, its features resolved without dev-dependencies)
    // instead of a second build of the whole tree.
    let cargo_profile = match profile.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "test",
        Some(name) => name,
    };
    build.args(["--profile", cargo_profile]);
    let built = run_bounded(build, "cargo-build-talon", log_dir, CARGO_BUILD_TIMEOUT);
    assert!(
        built.success,
        "cargo build -p talon failed\n{}",
        built.describe()
    );
    let bin = profile.join(if cfg!(windows) { "talon.exe" } else { "talon" });
    assert!(bin.exists(), "no talon binary at {}", bin.display());
    bin
}

/// A running `talon sim`; killed when dropped.
#[derive(Debug)]
struct Sim {
    _child: KillOnDrop,
    addr: String,
    stderr_path: PathBuf,
}

impl Sim {
    fn start(bin: &Path, log_dir: &Path) -> Sim {
        let stderr_path = log_dir.join("sim.stderr");
        let mut child = Command::new(bin)
            .args(["sim", "--listen", "127.0.0.1:0", "--symbols", SYMBOL])
            .args(["--rate", "200"])
            .arg("--account")
            .arg(format!("{API_KEY}:{API_SECRET}:{BALANCES}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(File::create(&stderr_path).expect("sim log")))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} sim: {e}", bin.display()));
        let stdout = child.stdout.take().expect("sim stdout");
        let guard = KillOnDrop(child);
        // First line gives the address; the rest is drained so the
        // simulator never blocks on a full pipe.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = tx.send(first);
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        let sim_log = || fs::read_to_string(&stderr_path).unwrap_or_default();
        let first = rx.recv_timeout(SIM_START_TIMEOUT).unwrap_or_else(|_| {
            panic!(
                "talon sim printed no first line within {SIM_START_TIMEOUT:?}\n--- sim stderr ---\n{}",
                sim_log()
            )
        });
        let addr = first
            .trim()
            .strip_prefix("talon sim listening on ws://")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line from talon sim: {first:?}\n--- sim stderr ---\n{}",
                    sim_log()
                )
            })
            .to_string();
        Sim {
            _child: guard,
            addr,
            stderr_path,
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

#[test]
fn binance_python_sdk_places_queries_and_cancels_over_rest_and_ws_api() {
    // CI must run this test: the skip switch is for offline workstations only.
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    if !in_ci && std::env::var("TALON_INTEROP_SKIP").is_ok_and(|v| v == "1") {
        eprintln!("interop: TALON_INTEROP_SKIP=1, skipping the Binance SDK interop test");
        return;
    }
    let logs = tempfile::tempdir().expect("log dir");
    let venv = ensure_venv(logs.path());
    let bin = talon_bin(logs.path());
    let sim = Sim::start(&bin, logs.path());
    eprintln!("interop: talon sim at {}", sim.addr);

    let mut script = Command::new(venv_python(&venv));
    script
        .arg("-u")
        .arg(interop_dir().join("sdk_roundtrip.py"))
        .args(["--rest", &format!("http://{}", sim.addr)])
        .args(["--ws", &format!("ws://{}/ws-api/v3", sim.addr)])
        .args(["--key", API_KEY, "--secret", API_SECRET, "--symbol", SYMBOL])
        .args(["--timeout-s", &(SCRIPT_TIMEOUT.as_secs() - 10).to_string()])
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let run = run_bounded(script, "sdk-roundtrip", logs.path(), SCRIPT_TIMEOUT);
    assert!(
        run.success && run.stdout.contains("PASS:"),
        "the Binance SDK round trip failed against talon sim at {}\n{}\n--- sim stderr ---\n{}",
        sim.addr,
        run.describe(),
        sim.log()
    );
    // The checks that passed, for the test log (`--nocapture`).
    eprintln!("{}", run.stdout);
    // Both orders were placed and cancelled through the SDK: one line each.
    for step in [
        "ok: REST new_order",
        "ok: REST delete_order",
        "ok: WS order.place",
        "ok: WS order.cancel",
    ] {
        assert!(
            run.stdout.contains(step),
            "missing step {step:?}\n{}",
            run.describe()
        );
    }
}
