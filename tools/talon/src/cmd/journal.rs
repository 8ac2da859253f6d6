//! `talon journal`: inspect, verify, tail and export the audit journal.
//!
//! All of these are readers: they map the segment files read-only and never
//! modify them (cutting a torn tail is the writer's job, on open), so they are
//! safe to run against a live journal.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use talon_core::event::{
    ControlMsg, Decision, ExecReport, JournalPayload, MarketEvent, OrderCommand,
};
use talon_core::journal::{self, JournalReader, JournalTailer, Record, RecordKind};

#[derive(Debug, Subcommand)]
pub(crate) enum JournalCommand {
    /// Summarise a journal: segments, sequence range, records by kind.
    Inspect(InspectArgs),
    /// Check every record's CRC and sequence; exit 0 when consistent up to at
    /// most a torn tail, 1 when there is corruption before the tail.
    Verify(VerifyArgs),
    /// Print the last records and follow a live journal as it grows.
    Tail(TailArgs),
    /// Write records as JSON lines (seq, ts_ns, kind, decoded payload).
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The journal directory.
    dir: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The journal directory.
    dir: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    /// The journal directory.
    dir: PathBuf,
    /// Start at this sequence (default: the last --lines records).
    #[arg(long, value_name = "SEQ")]
    from: Option<u64>,
    /// How many existing records to show before following.
    #[arg(short = 'n', long, default_value_t = 10)]
    lines: u64,
    /// Print what is there and exit instead of following.
    #[arg(long)]
    no_follow: bool,
    /// Print records as JSON lines.
    #[arg(long)]
    json: bool,
    /// How often to look for new records when idle, in milliseconds.
    #[arg(long, default_value_t = 10, value_name = "MS")]
    poll_ms: u64,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The journal directory.
    dir: PathBuf,
    /// First sequence to export (inclusive).
    #[arg(long, value_name = "SEQ")]
    from: Option<u64>,
    /// Last sequence to export (inclusive).
    #[arg(long, value_name = "SEQ")]
    to: Option<u64>,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub(crate) fn run(command: JournalCommand) -> anyhow::Result<ExitCode> {
    match command {
        JournalCommand::Inspect(a) => inspect(&a),
        JournalCommand::Verify(a) => verify(&a),
        JournalCommand::Tail(a) => tail(&a),
        JournalCommand::Export(a) => export(&a),
    }
}

fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        dir.is_dir(),
        "journal directory {} does not exist",
        dir.display()
    );
    Ok(())
}

fn inspect(args: &InspectArgs) -> anyhow::Result<ExitCode> {
    ensure_dir(&args.dir)?;
    let segments = journal::inspect(&args.dir)
        .with_context(|| format!("cannot inspect journal {}", args.dir.display()))?;
    let mut by_kind: Vec<(u16, u64, u64)> = Vec::new(); // (kind, records, payload bytes)
    let mut first = None;
    let mut last = None;
    let mut reader = JournalReader::open(&args.dir)
        .with_context(|| format!("cannot open journal {}", args.dir.display()))?;
    while let Some(rec) = reader.next() {
        let rec = rec.with_context(|| format!("reading journal {}", args.dir.display()))?;
        first.get_or_insert(rec.seq);
        last = Some(rec.seq);
        let len = rec.payload.len() as u64;
        match by_kind.iter_mut().find(|(k, _, _)| *k == rec.kind) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 += len;
            }
            None => by_kind.push((rec.kind, 1, len)),
        }
    }
    by_kind.sort_unstable();
    if args.json {
        let kinds: Vec<Value> = by_kind
            .iter()
            .map(|(k, n, bytes)| json!({"kind": kind_name(*k), "kind_id": k, "records": n, "payload_bytes": bytes}))
            .collect();
        let out = json!({
            "dir": args.dir.display().to_string(),
            "segments": serde_json::to_value(&segments)?,
            "first_seq": first,
            "last_seq": last,
            "kinds": kinds,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("journal {}", args.dir.display());
    println!(
        "{:<28} {:>7} {:>12} {:>12} {:>10} {:>12} {:>12}",
        "segment", "index", "first seq", "last seq", "records", "used bytes", "capacity"
    );
    for s in &segments {
        println!(
            "{:<28} {:>7} {:>12} {:>12} {:>10} {:>12} {:>12}",
            s.path.file_name().map_or_else(
                || s.path.display().to_string(),
                |n| n.to_string_lossy().into_owned()
            ),
            s.index,
            opt(s.first_seq),
            opt(s.last_seq),
            s.records,
            s.bytes_used,
            s.capacity
        );
        println!("{:<28} state: {:?}", "", s.state);
    }
    match (first, last) {
        (Some(f), Some(l)) => println!("sequence {f}..={l} ({} records)", l - f + 1),
        _ => println!("no records"),
    }
    for (k, n, bytes) in &by_kind {
        println!(
            "  {:<16} {:>10} records {:>14} payload bytes",
            kind_name(*k),
            n,
            bytes
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    ensure_dir(&args.dir)?;
    let report = journal::verify(&args.dir)
        .with_context(|| format!("cannot verify journal {}", args.dir.display()))?;
    let consistent = report.corruption.is_none();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("journal {}", args.dir.display());
        println!("segments:        {}", report.segments);
        println!("records:         {}", report.records);
        println!("first sequence:  {}", opt(report.first_seq));
        println!("last sequence:   {}", opt(report.last_seq));
        println!(
            "torn tail bytes: {} (cut by the writer on its next open)",
            report.torn_tail_bytes
        );
        match &report.corruption {
            None => println!("result:          consistent"),
            Some(c) => println!(
                "result:          CORRUPT: {} in segment {} at byte offset {}",
                c.reason, c.segment, c.offset
            ),
        }
    }
    Ok(if consistent {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn tail(args: &TailArgs) -> anyhow::Result<ExitCode> {
    ensure_dir(&args.dir)?;
    let from = match args.from {
        Some(seq) => seq,
        None => {
            let report = journal::verify(&args.dir)
                .with_context(|| format!("cannot read journal {}", args.dir.display()))?;
            match (report.first_seq, report.last_seq) {
                (Some(first), Some(last)) => {
                    last.saturating_sub(args.lines.saturating_sub(1)).max(first)
                }
                _ => 0,
            }
        }
    };
    let mut tailer = JournalTailer::open(&args.dir, from)
        .with_context(|| format!("cannot open journal {}", args.dir.display()))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut write_error = None;
    loop {
        let n = tailer
            .poll(1024, |rec| {
                if write_error.is_none() {
                    let line = if args.json {
                        record_json(&rec).to_string()
                    } else {
                        record_text(&rec)
                    };
                    if let Err(e) = writeln!(out, "{line}") {
                        write_error = Some(e);
                    }
                }
            })
            .with_context(|| format!("following journal {}", args.dir.display()))?;
        if let Some(e) = write_error.take() {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(e).context("writing to standard output");
        }
        if n == 0 {
            if let Err(e) = out.flush() {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(ExitCode::SUCCESS);
                }
                return Err(e).context("writing to standard output");
            }
            if args.no_follow {
                return Ok(ExitCode::SUCCESS);
            }
            std::thread::sleep(Duration::from_millis(args.poll_ms.max(1)));
        }
    }
}

fn export(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    ensure_dir(&args.dir)?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut reader = JournalReader::open_from(&args.dir, args.from.unwrap_or(0))
        .with_context(|| format!("cannot open journal {}", args.dir.display()))?;
    let to = args.to.unwrap_or(u64::MAX);
    let mut exported = 0u64;
    while let Some(rec) = reader.next() {
        let rec = rec.with_context(|| format!("reading journal {}", args.dir.display()))?;
        if rec.seq > to {
            break;
        }
        if let Err(e) = writeln!(out, "{}", record_json(&rec)) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(e).context("writing the export");
        }
        exported += 1;
    }
    out.flush().context("writing the export")?;
    if let Some(path) = &args.output {
        eprintln!("exported {exported} records to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn kind_name(kind: u16) -> String {
    RecordKind::from_u16(kind)
        .map_or_else(|| format!("unknown({kind})"), |k| k.as_str().to_string())
}

/// One record as a JSON object: header fields plus the decoded payload for
/// kinds this build knows, or the raw bytes in hex for the rest.
pub(crate) fn record_json(rec: &Record<'_>) -> Value {
    let payload = match rec.kind() {
        Some(RecordKind::MarketEvent) => decoded::<MarketEvent>(rec),
        Some(RecordKind::OrderCommand) => decoded::<OrderCommand>(rec),
        Some(RecordKind::ExecReport) => decoded::<ExecReport>(rec),
        Some(RecordKind::ControlMsg) => decoded::<ControlMsg>(rec),
        Some(RecordKind::Decision) => decoded::<Decision>(rec),
        Some(RecordKind::Blob) | None => json!({ "hex": hex(rec.payload) }),
    };
    json!({
        "seq": rec.seq,
        "ts_ns": rec.ts.as_u64(),
        "kind": kind_name(rec.kind),
        "version": rec.version,
        "len": rec.payload.len(),
        "payload": payload,
    })
}

fn decoded<T: JournalPayload + serde::Serialize>(rec: &Record<'_>) -> Value {
    match T::decode(rec.payload, rec.version) {
        Ok(event) => {
            serde_json::to_value(event).unwrap_or_else(|e| json!({ "encode_error": e.to_string() }))
        }
        Err(e) => json!({ "decode_error": e.to_string(), "hex": hex(rec.payload) }),
    }
}

fn record_text(rec: &Record<'_>) -> String {
    let payload = record_json(rec)
        .get("payload")
        .map(Value::to_string)
        .unwrap_or_default();
    format!(
        "seq={} ts_ns={} kind={} v{} len={} {}",
        rec.seq,
        rec.ts.as_u64(),
        kind_name(rec.kind),
        rec.version,
        rec.payload.len(),
        payload
    )
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

#[cfg(test)]
mod decision_export_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use talon_core::clock::Nanos;
    use talon_core::engine::risk::{RejectReason, Verdict};

    #[test]
    fn decisions_export_as_json() {
        let d = Decision {
            verdict: Verdict::Rejected(RejectReason::PriceBand),
            ..Decision::ZERO
        };
        let mut buf = [0u8; Decision::ENCODED_LEN];
        d.encode(&mut buf).unwrap();
        let rec = Record {
            seq: 9,
            ts: Nanos(5),
            kind: RecordKind::Decision.as_u16(),
            version: Decision::VERSION,
            payload: &buf,
        };
        let v = record_json(&rec);
        assert_eq!(v["kind"], "decision");
        assert_eq!(v["payload"]["verdict"], "price_band");
        assert_eq!(v["payload"]["action"], "cancel_all");
    }
}
