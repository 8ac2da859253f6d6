//! The `talon` binary, driven as an operator would: journal tools against
//! journals written through `talon-core`, and layout checks.
#![allow(clippy::unwrap_used)]
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use talon_core::clock::Nanos;
use talon_core::event::{
    ClientOrderId, JournalPayload, MarketData, MarketEvent, OrderCommand, OrderType, Side, Stamps,
    TimeInForce, TopOfBook,
};
use talon_core::instrument::InstrumentId;
use talon_core::journal::{JournalConfig, JournalWriter, RecordKind};
use talon_core::num::{Price, Qty};

fn talon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_talon"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("talon runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn market_event(i: u64) -> MarketEvent {
    MarketEvent::new(
        InstrumentId(1),
        MarketData::TopOfBook(TopOfBook {
            update_id: i,
            bid_price: Price::parse("65000.25").unwrap(),
            bid_qty: Qty::parse("1.5").unwrap(),
            ask_price: Price::parse("65000.26").unwrap(),
            ask_qty: Qty::parse("0.75").unwrap(),
        }),
        Stamps {
            recv: Nanos(1_000 + i),
            decode: Nanos(1_100 + i),
        },
    )
}

fn order(i: u64) -> OrderCommand {
    OrderCommand::new_order(
        InstrumentId(1),
        Side::Buy,
        OrderType::Limit,
        TimeInForce::Ioc,
        Price::parse("65000.25").unwrap(),
        Qty::parse("0.01").unwrap(),
        ClientOrderId::from_session_seq(3, i),
    )
}

fn append<T: JournalPayload>(w: &mut JournalWriter, ts: u64, event: &T) -> u64 {
    let mut buf = [0u8; 256];
    event.encode(&mut buf).unwrap();
    w.append(T::KIND, T::VERSION, Nanos(ts), &buf[..T::ENCODED_LEN])
        .unwrap()
}

/// Writes `pairs` market-event + order pairs and one blob; returns the
/// journal dir, the writer (still open) and the byte position after the
/// last record.
fn journal_with(pairs: u64) -> (tempfile::TempDir, PathBuf, JournalWriter) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let mut config = JournalConfig::new(&dir);
    config.segment_size = 64 * 1024;
    let (mut w, _) = JournalWriter::open(config).unwrap();
    for i in 0..pairs {
        append(&mut w, 10 * i, &market_event(i));
        append(&mut w, 10 * i + 5, &order(i));
    }
    w.append(RecordKind::Blob, 1, Nanos(u64::MAX), b"\x01\x02hello")
        .unwrap();
    (tmp, dir, w)
}

fn active_segment(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "journal"))
        .collect();
    files.sort();
    // The last file may be a spare prepared ahead (zero header); the active
    // one is the last with a non-zero magic.
    files
        .into_iter()
        .rev()
        .find(|p| {
            let mut magic = [0u8; 8];
            std::fs::File::open(p)
                .unwrap()
                .read_exact(&mut magic)
                .unwrap();
            magic != [0; 8]
        })
        .unwrap()
}

#[test]
fn version_and_help_are_there() {
    let v = talon(&["--version"]);
    assert!(v.status.success());
    assert!(stdout(&v).starts_with("talon "), "{}", stdout(&v));
    for sub in [
        &["--help"][..],
        &["journal", "--help"],
        &["journal", "verify", "--help"],
        &["layout", "--help"],
        &["bench", "--help"],
        &["bench", "ring", "--help"],
    ] {
        let h = talon(sub);
        assert!(h.status.success(), "{sub:?}: {}", stderr(&h));
        assert!(stdout(&h).contains("Usage:"), "{sub:?}");
    }
}

#[test]
fn verify_reports_a_clean_journal() {
    let (_tmp, dir, w) = journal_with(500);
    drop(w);
    let out = talon(&["journal", "verify", dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["records"], 1001);
    assert_eq!(report["first_seq"], 1);
    assert_eq!(report["last_seq"], 1001);
    assert_eq!(report["torn_tail_bytes"], 0);
    assert!(report["corruption"].is_null());
    assert!(report["segments"].as_u64().unwrap() > 1, "crossed rolls");

    let text = talon(&["journal", "verify", dir.to_str().unwrap()]);
    assert_eq!(text.status.code(), Some(0));
    assert!(stdout(&text).contains("consistent"), "{}", stdout(&text));
}

#[test]
fn verify_accepts_a_torn_tail_and_rejects_corruption_before_it() {
    // Torn tail: garbage where the next record would start.
    let (_tmp, dir, w) = journal_with(50);
    let pos = w.position() as u64;
    drop(w);
    let seg = active_segment(&dir);
    let mut f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.seek(SeekFrom::Start(pos)).unwrap();
    f.write_all(&[0xAB; 24]).unwrap();
    drop(f);
    let out = talon(&["journal", "verify", dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "a torn tail is not corruption");
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(report["torn_tail_bytes"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["records"], 101);

    // Corruption: one flipped payload byte in an early record, valid records after it.
    let (_tmp2, dir2, w2) = journal_with(50);
    drop(w2);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir2)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "journal"))
        .collect();
    files.sort();
    let first = &files[0];
    let mut bytes = std::fs::read(first).unwrap();
    // Segment header (64 B) + record header (32 B) + 10 bytes into the first payload.
    bytes[64 + 32 + 10] ^= 0xFF;
    std::fs::write(first, &bytes).unwrap();
    let out = talon(&["journal", "verify", dir2.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("CORRUPT"), "{}", stdout(&out));
}

#[test]
fn export_writes_decoded_json_lines() {
    let (_tmp, dir, w) = journal_with(20);
    drop(w);
    let out = talon(&["journal", "export", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 41);
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines[0]["kind"], "market_event");
    assert_eq!(lines[0]["ts_ns"], 0);
    let market = lines[0]["payload"].to_string();
    assert!(market.contains("65000.25"), "{market}");
    assert_eq!(lines[1]["kind"], "order_command");
    let order = lines[1]["payload"].to_string();
    assert!(
        order.contains("\"tl0000000003-00000000000000000000\""),
        "{order}"
    );
    assert_eq!(lines[40]["kind"], "blob");
    assert_eq!(lines[40]["payload"]["hex"], "010268656c6c6f");

    // A range, to a file.
    let file = dir.parent().unwrap().join("range.jsonl");
    let out = talon(&[
        "journal",
        "export",
        dir.to_str().unwrap(),
        "--from",
        "5",
        "--to",
        "9",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    let seqs: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, [5, 6, 7, 8, 9]);
}

#[test]
fn inspect_summarises_segments_and_kinds() {
    let (_tmp, dir, w) = journal_with(300);
    drop(w);
    let out = talon(&["journal", "inspect", dir.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["first_seq"], 1);
    assert_eq!(v["last_seq"], 601);
    let kinds = v["kinds"].as_array().unwrap();
    let count = |name: &str| {
        kinds
            .iter()
            .find(|k| k["kind"] == name)
            .map(|k| k["records"].as_u64().unwrap())
    };
    assert_eq!(count("market_event"), Some(300));
    assert_eq!(count("order_command"), Some(300));
    assert_eq!(count("blob"), Some(1));
    let text = talon(&["journal", "inspect", dir.to_str().unwrap()]);
    assert!(
        stdout(&text).contains("sequence 1..=601"),
        "{}",
        stdout(&text)
    );
}

#[test]
fn tail_shows_the_last_records_then_follows_a_live_writer() {
    let (_tmp, dir, mut w) = journal_with(10);
    let out = talon(&[
        "journal",
        "tail",
        dir.to_str().unwrap(),
        "-n",
        "3",
        "--no-follow",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("seq=19 "), "{text}");
    assert!(lines[2].starts_with("seq=21 "), "{text}");

    // Follow: start a tailer, then write across a segment roll, and read it all.
    let mut child = Command::new(env!("CARGO_BIN_EXE_talon"))
        .args([
            "journal",
            "tail",
            dir.to_str().unwrap(),
            "--from",
            "22",
            "--json",
        ])
        .args(["--poll-ms", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let child_out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(child_out).lines() {
            let Ok(line) = line else { break };
            let v: Value = serde_json::from_str(&line).unwrap();
            if tx.send(v["seq"].as_u64().unwrap()).is_err() {
                break;
            }
        }
    });
    for i in 100..600 {
        append(&mut w, i, &market_event(i));
    }
    let last = w.next_seq() - 1;
    let mut seen = Vec::new();
    while seen.last() != Some(&last) {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(seq) => seen.push(seq),
            Err(_) => break,
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    let expected: Vec<u64> = (22..=last).collect();
    assert_eq!(seen, expected, "every new record, in order, across rolls");
}

#[test]
fn journal_commands_name_a_missing_directory() {
    let out = talon(&["journal", "verify", "/nonexistent/talon-journal"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/nonexistent/talon-journal"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn layout_check_prints_the_resolved_layout_or_names_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.toml");
    std::fs::write(
        &good,
        r#"
[[thread]]
name = "hot"
agents = ["feed", "engine"]
idle = { strategy = "yield" }

[[thread]]
name = "io"
agents = ["gateway", "control"]
idle = { strategy = "backoff" }
"#,
    )
    .unwrap();
    let out = talon(&["layout", "--check", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("hot") && text.contains("gateway"), "{text}");

    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"
[[thread]]
name = "hot"
agents = ["feed", "enigne", "gateway", "control"]
"#,
    )
    .unwrap();
    let out = talon(&["layout", "--check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("thread[0].agents[1]"), "{err}");
    assert!(err.contains("enigne"), "{err}");

    let twice = tmp.path().join("twice.toml");
    std::fs::write(
        &twice,
        r#"
[[thread]]
name = "a"
agents = ["feed", "engine", "gateway"]
[[thread]]
name = "b"
agents = ["control", "feed"]
"#,
    )
    .unwrap();
    let out = talon(&["layout", "--check", twice.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("thread[1].agents[1]"),
        "{}",
        stderr(&out)
    );

    // A core this machine does not have.
    let far = tmp.path().join("far.toml");
    std::fs::write(
        &far,
        r#"
[[thread]]
name = "all"
agents = ["feed", "engine", "gateway", "control"]
core = 4096
"#,
    )
    .unwrap();
    let out = talon(&["layout", "--check", far.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("thread[0].core"), "{}", stderr(&out));

    // A preset in a file is fitted to this machine, like --preset.
    let preset_file = tmp.path().join("shared.toml");
    std::fs::write(&preset_file, "preset = \"shared\"\n").unwrap();
    let out = talon(&["layout", "--check", preset_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The default always fits the machine it runs on.
    let out = talon(&["layout"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = talon(&["layout", "--preset", "single-thread"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
