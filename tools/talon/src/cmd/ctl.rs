//! `talon ctl`: the control-socket client.
//!
//! Owns the subcommand's arguments and the readable rendering of responses.
//! Sends one request line to `<data_dir>/talon.sock` (or `--socket`),
//! prints the response (readable, or the raw JSON with `--json`) and exits
//! 0 on `ok`, 1 on an error response. It never retries a command by itself.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use talon_cli::ctl::{SOCKET_NAME, request};

/// `talon ctl` arguments.
#[derive(Debug, Args)]
pub(crate) struct CtlArgs {
    /// The control socket (default: `<data-dir>/talon.sock`).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// The session's data directory.
    #[arg(long, default_value = "./talon-data")]
    data_dir: PathBuf,
    /// Print the raw JSON response.
    #[arg(long)]
    json: bool,
    /// Idempotency key: a retry with the same key executes once.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Seconds to wait for the response.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
    #[command(subcommand)]
    command: CtlCommand,
}

/// A control command.
#[derive(Debug, Subcommand)]
pub(crate) enum CtlCommand {
    /// Health, trading state, feed/gateway/journal/rings.
    Status,
    /// Positions per instrument.
    Positions,
    /// Open orders and order counters.
    Orders,
    /// Every counter as JSON.
    Metrics,
    /// Halt trading: nothing new leaves, open orders are cancelled.
    Halt {
        /// Why (at least 10 characters).
        #[arg(long)]
        reason: String,
        /// Must be exactly "HALT TRADING NOW".
        #[arg(long)]
        confirm: String,
    },
    /// Leave an operator halt.
    Resume,
    /// Cancel every open order (or one symbol's).
    CancelAll {
        /// Only this symbol.
        #[arg(long)]
        symbol: Option<String>,
    },
}

fn request_json(c: &CtlCommand) -> Value {
    match c {
        CtlCommand::Status => json!({"cmd": "status"}),
        CtlCommand::Positions => json!({"cmd": "positions"}),
        CtlCommand::Orders => json!({"cmd": "orders"}),
        CtlCommand::Metrics => json!({"cmd": "metrics"}),
        CtlCommand::Halt { reason, confirm } => {
            json!({"cmd": "halt", "reason": reason, "confirm": confirm})
        }
        CtlCommand::Resume => json!({"cmd": "resume"}),
        CtlCommand::CancelAll { symbol } => match symbol {
            Some(s) => json!({"cmd": "cancel-all", "symbol": s}),
            None => json!({"cmd": "cancel-all"}),
        },
    }
}

/// Flattens `v` into `path: value` lines.
fn render(prefix: &str, v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                render(&p, x, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let key = x
                    .get("symbol")
                    .or_else(|| x.get("name"))
                    .and_then(Value::as_str)
                    .map_or_else(|| i.to_string(), str::to_owned);
                render(&format!("{prefix}[{key}]"), x, out);
            }
        }
        Value::String(s) => out.push_str(&format!("{prefix}: {s}\n")),
        other => out.push_str(&format!("{prefix}: {other}\n")),
    }
}

/// Runs `talon ctl`.
pub(crate) fn run(a: CtlArgs) -> anyhow::Result<ExitCode> {
    let path = a.socket.unwrap_or_else(|| a.data_dir.join(SOCKET_NAME));
    let mut req = request_json(&a.command);
    if let (Some(k), Value::Object(m)) = (a.idempotency_key, &mut req) {
        m.insert("idempotency_key".into(), Value::String(k));
    }
    let resp = request(&path, &req, Duration::from_secs(a.timeout.max(1)))
        .with_context(|| format!("control socket {}", path.display()))?;
    let ok = resp.get("ok").and_then(Value::as_bool) == Some(true);
    let prometheus = resp
        .get("result")
        .and_then(|r| r.get("prometheus"))
        .and_then(Value::as_str);
    if a.json {
        println!("{resp}");
    } else if let (true, CtlCommand::Metrics, Some(text)) = (ok, &a.command, prometheus) {
        // `talon ctl metrics`: the Prometheus text exposition, as /metrics serves it.
        print!("{text}");
    } else if ok {
        let mut out = String::new();
        render("", resp.get("result").unwrap_or(&Value::Null), &mut out);
        print!("{out}");
    } else {
        let e = resp.get("error").unwrap_or(&Value::Null);
        let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let field = s("field");
        let field = if field.is_empty() {
            String::new()
        } else {
            format!(" (field `{field}`)")
        };
        eprintln!("talon ctl: {}{field}: {}", s("code"), s("message"));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_nested_results_as_lines() {
        let mut out = String::new();
        render(
            "",
            &json!({"health": "healthy", "feed": {"connected": true},
                    "positions": [{"symbol": "BTCUSDT", "qty": "0.1"}]}),
            &mut out,
        );
        assert!(out.contains("health: healthy\n"), "{out}");
        assert!(out.contains("feed.connected: true\n"), "{out}");
        assert!(out.contains("positions[BTCUSDT].qty: 0.1\n"), "{out}");
    }

    #[test]
    fn builds_requests() {
        let r = request_json(&CtlCommand::Halt {
            reason: "reason text here".into(),
            confirm: "HALT TRADING NOW".into(),
        });
        assert_eq!(r["cmd"], "halt");
        assert_eq!(r["confirm"], "HALT TRADING NOW");
        let r = request_json(&CtlCommand::CancelAll { symbol: None });
        assert_eq!(r, json!({"cmd": "cancel-all"}));
    }
}
