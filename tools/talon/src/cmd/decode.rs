//! `talon decode [FILE|-]`: raw venue messages in, normalized JSON lines out,
//! through the feed's own hot decoder (`talon_feed::decode::decode`).
//!
//! Input: one JSON message per line (raw stream payloads, combined-stream
//! wrappers `{"stream":…,"data":…}`, control replies, REST depth bodies);
//! blank lines are skipped. Output: one JSON line per message, in input
//! order:
//!
//! ```text
//! {"kind":"book_ticker","stream":"nknusdt@bookTicker","symbol":"NKNUSDT","update_id":499869768,"bid_price":"0.3521","bid_qty":"672","ask_price":"0.3526","ask_qty":"3199"}
//! {"kind":"depth_update","symbol":"NKNUSDT","event_time_ms":…,"first_update_id":…,"last_update_id":…,"bids":[["0.3513","6195"]],"asks":[]}
//! {"line":7,"error":"unknown_event","message":"unknown event type"}
//! ```
//!
//! Kinds: `book_ticker`, `trade`, `agg_trade`, `depth_update`,
//! `depth_snapshot`, and for control traffic `control_result`,
//! `control_error`, `server_shutdown`. Ids and times are JSON integers,
//! prices and quantities exact decimal strings (shortest form), depth levels
//! `[price, qty]` pairs; `stream` appears for wrapped messages. A line that
//! does not decode prints an error object with its 1-based line number and
//! the decoder's reason. Exit status: 0 if every message decoded, 1 if any
//! failed (a summary by reason goes to stderr), 2 on an I/O error.
//!
//! Cold path: allocation is fine here; the decoding itself is the hot one.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use serde_json::Value;
use talon_core::num::{Price, Qty};
use talon_feed::decode::{
    ControlReply, DecodeCounters, Decoded, Envelope, Levels, ReplyId, decode,
};

/// Decode raw venue messages (one JSON per line) into normalized JSON lines.
#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// File to read; `-` or nothing reads standard input.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
}

/// One normalized output line.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Out<'a> {
    BookTicker {
        #[serde(skip_serializing_if = "Option::is_none")]
        stream: Option<&'a str>,
        symbol: &'a str,
        update_id: u64,
        bid_price: Price,
        bid_qty: Qty,
        ask_price: Price,
        ask_qty: Qty,
    },
    Trade {
        #[serde(skip_serializing_if = "Option::is_none")]
        stream: Option<&'a str>,
        symbol: &'a str,
        event_time_ms: u64,
        trade_id: u64,
        price: Price,
        qty: Qty,
        trade_time_ms: u64,
        buyer_is_maker: bool,
    },
    AggTrade {
        #[serde(skip_serializing_if = "Option::is_none")]
        stream: Option<&'a str>,
        symbol: &'a str,
        event_time_ms: u64,
        agg_trade_id: u64,
        price: Price,
        qty: Qty,
        first_trade_id: u64,
        last_trade_id: u64,
        trade_time_ms: u64,
        buyer_is_maker: bool,
    },
    DepthUpdate {
        #[serde(skip_serializing_if = "Option::is_none")]
        stream: Option<&'a str>,
        symbol: &'a str,
        event_time_ms: u64,
        first_update_id: u64,
        last_update_id: u64,
        bids: Vec<(Price, Qty)>,
        asks: Vec<(Price, Qty)>,
    },
    DepthSnapshot {
        #[serde(skip_serializing_if = "Option::is_none")]
        stream: Option<&'a str>,
        /// From the stream name (lower case as sent); absent for REST
        /// bodies and raw partial-depth payloads.
        #[serde(skip_serializing_if = "Option::is_none")]
        symbol: Option<&'a str>,
        last_update_id: u64,
        bids: Vec<(Price, Qty)>,
        asks: Vec<(Price, Qty)>,
    },
    ControlResult {
        #[serde(skip_serializing_if = "Option::is_none")]
        stream: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        result: Value,
    },
    ControlError {
        #[serde(skip_serializing_if = "Option::is_none")]
        stream: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        code: i64,
        msg: String,
    },
    ServerShutdown {
        #[serde(skip_serializing_if = "Option::is_none")]
        stream: Option<&'a str>,
        event_time_ms: u64,
    },
}

/// A line that did not decode.
#[derive(Serialize)]
struct ErrorLine {
    line: u64,
    error: &'static str,
    message: String,
}

/// Bytes the decoder returned (validated UTF-8 without escapes) as text.
fn text(b: &[u8]) -> &str {
    // The decoder checks every string it returns is UTF-8; keep a visible
    // marker rather than panicking if that ever changed.
    std::str::from_utf8(b).unwrap_or("<non-utf8>")
}

/// Raw JSON string content (escapes not decoded) → its value.
fn unescape(raw: &[u8]) -> String {
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice(&quoted).unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned())
}

fn reply_id(id: ReplyId<'_>) -> Option<Value> {
    match id {
        ReplyId::Absent => None,
        ReplyId::Null => Some(Value::Null),
        ReplyId::Int(i) => Some(Value::from(i)),
        ReplyId::Str(s) => Some(Value::String(unescape(s))),
    }
}

fn levels(l: &Levels<'_>) -> Vec<(Price, Qty)> {
    l.iter().collect()
}

/// The normalized form of one decoded message.
fn normalize<'a>(env: &Envelope<'a>) -> Out<'a> {
    let stream = env.stream.map(text);
    match env.message {
        Decoded::BookTicker(t) => Out::BookTicker {
            stream,
            symbol: text(t.symbol),
            update_id: t.update_id,
            bid_price: t.bid_price,
            bid_qty: t.bid_qty,
            ask_price: t.ask_price,
            ask_qty: t.ask_qty,
        },
        Decoded::Trade(t) => Out::Trade {
            stream,
            symbol: text(t.symbol),
            event_time_ms: t.event_time_ms,
            trade_id: t.trade_id,
            price: t.price,
            qty: t.qty,
            trade_time_ms: t.trade_time_ms,
            buyer_is_maker: t.buyer_is_maker,
        },
        Decoded::AggTrade(t) => Out::AggTrade {
            stream,
            symbol: text(t.symbol),
            event_time_ms: t.event_time_ms,
            agg_trade_id: t.agg_trade_id,
            price: t.price,
            qty: t.qty,
            first_trade_id: t.first_trade_id,
            last_trade_id: t.last_trade_id,
            trade_time_ms: t.trade_time_ms,
            buyer_is_maker: t.buyer_is_maker,
        },
        Decoded::DepthUpdate(d) => Out::DepthUpdate {
            stream,
            symbol: text(d.symbol),
            event_time_ms: d.event_time_ms,
            first_update_id: d.first_update_id,
            last_update_id: d.last_update_id,
            bids: levels(&d.bids),
            asks: levels(&d.asks),
        },
        Decoded::DepthSnapshot(d) => Out::DepthSnapshot {
            stream,
            symbol: d.symbol.map(text),
            last_update_id: d.last_update_id,
            bids: levels(&d.bids),
            asks: levels(&d.asks),
        },
        Decoded::Control(ControlReply::Result { id, result }) => Out::ControlResult {
            stream,
            id: reply_id(id),
            // Validated JSON; serde_json may still refuse a number beyond
            // f64 (`1e400`): show the raw text then.
            result: serde_json::from_slice(result)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(result).into_owned())),
        },
        Decoded::Control(ControlReply::Error { id, code, msg }) => Out::ControlError {
            stream,
            id: reply_id(id),
            code,
            msg: unescape(msg),
        },
        Decoded::Control(ControlReply::ServerShutdown { event_time_ms }) => Out::ServerShutdown {
            stream,
            event_time_ms,
        },
    }
}

/// Decodes every line of `input` to `out`; returns (messages, counters).
fn decode_stream(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> anyhow::Result<(u64, DecodeCounters)> {
    let mut counters = DecodeCounters::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut line_no = 0u64;
    let mut messages = 0u64;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf).context("read failed")? == 0 {
            break;
        }
        line_no += 1;
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        messages += 1;
        match decode(line) {
            Ok(env) => serde_json::to_writer(&mut *out, &normalize(&env))?,
            Err(e) => {
                counters.record(e);
                serde_json::to_writer(
                    &mut *out,
                    &ErrorLine {
                        line: line_no,
                        error: e.as_str(),
                        message: e.to_string(),
                    },
                )?;
            }
        }
        out.write_all(b"\n").context("write failed")?;
    }
    out.flush().context("write failed")?;
    Ok((messages, counters))
}

pub(crate) fn run(args: DecodeArgs) -> anyhow::Result<ExitCode> {
    let stdin = io::stdin();
    let mut input: Box<dyn BufRead> = match &args.file {
        Some(p) if p.as_os_str() != "-" => Box::new(BufReader::new(
            File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        )),
        _ => Box::new(stdin.lock()),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let (messages, counters) = decode_stream(&mut *input, &mut out)?;
    let failed = counters.total();
    if failed == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    let reasons: Vec<String> = counters
        .iter()
        .filter(|&(_, n)| n > 0)
        .map(|(r, n)| format!("{} {n}", r.as_str()))
        .collect();
    eprintln!(
        "talon decode: {failed} of {messages} messages failed ({})",
        reasons.join(", ")
    );
    Ok(ExitCode::from(1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn run_on(input: &str) -> (Vec<Value>, DecodeCounters) {
        let mut out = Vec::new();
        let (_, c) = decode_stream(&mut input.as_bytes(), &mut out).unwrap();
        let lines = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (lines, c)
    }

    #[test]
    fn normalizes_each_kind_and_reports_errors_with_line_numbers() {
        let input = concat!(
            r#"{"stream":"bnbusdt@bookTicker","data":{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}}"#,
            "\n\n",
            r#"{"e":"depthUpdate","E":1,"s":"X","U":5,"u":6,"b":[["1.50000000","0.00000000"]],"a":[]}"#,
            "\r\n",
            r#"{"e":"kline"}"#,
            "\n",
            r#"{"result":null,"id":"a\"b"}"#,
            "\n",
            r#"{"error":{"code":2,"msg":"bad"},"id":3}"#,
        );
        let (lines, counters) = run_on(input);
        assert_eq!(lines.len(), 5);
        let b = &lines[0];
        assert_eq!(b["kind"], "book_ticker");
        assert_eq!(b["stream"], "bnbusdt@bookTicker");
        assert_eq!(b["symbol"], "BNBUSDT");
        assert_eq!(b["update_id"], 400_900_217u64);
        assert_eq!(b["bid_price"], "25.3519");
        assert_eq!(b["ask_qty"], "40.66");
        let d = &lines[1];
        assert_eq!(d["kind"], "depth_update");
        assert!(d.get("stream").is_none());
        assert_eq!(d["first_update_id"], 5);
        assert_eq!(d["bids"], serde_json::json!([["1.5", "0"]]));
        assert_eq!(d["asks"], serde_json::json!([]));
        let e = &lines[2];
        assert_eq!(e["line"], 4, "the blank line 2 counts as a line");
        assert_eq!(e["error"], "unknown_event");
        assert_eq!(lines[3]["kind"], "control_result");
        assert_eq!(lines[3]["id"], "a\"b");
        assert_eq!(lines[3]["result"], Value::Null);
        assert_eq!(lines[4]["kind"], "control_error");
        assert_eq!(lines[4]["code"], 2);
        assert_eq!(counters.total(), 1);
    }
}
