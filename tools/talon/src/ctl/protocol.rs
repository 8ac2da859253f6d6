//! The control-socket protocol: one JSON request per line, one JSON
//! response per line.
//!
//! Owns [`Request`] (parsed and validated from a line, every error naming
//! the offending field), [`CtlErrorBody`] and its codes, [`Backend`] (what
//! the protocol needs from a running session) and [`Dispatcher`] (executes
//! requests against a backend, with the bounded idempotency map and the
//! operator-halt record). It never touches a socket and never panics on any
//! input; it runs on the control socket's own threads, never on the hot
//! path.
//!
//! Request: `{"cmd": "status" | "positions" | "orders" | "metrics" | "halt"
//! | "resume" | "cancel-all", <fields>, "id"?: any, "idempotency_key"?:
//! string}`. Response: `{"ok": true, "result": …, "id"?: …}` or `{"ok":
//! false, "error": {"code": …, "field"?: …, "message": …}, "id"?: …}`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value, json};
use talon_core::event::ControlCommand;
use talon_core::halt::{HaltFlag, HaltReason};
use talon_core::instrument::InstrumentId;

/// Longest accepted request line in bytes (newline excluded).
pub const MAX_LINE: usize = 64 * 1024;
/// The exact confirmation text `halt` requires.
pub const HALT_CONFIRMATION: &str = "HALT TRADING NOW";
/// Shortest accepted halt reason, in characters.
pub const MIN_HALT_REASON: usize = 10;
/// Longest accepted halt reason, in characters.
pub const MAX_HALT_REASON: usize = 512;
/// Longest accepted idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;
/// Idempotency keys remembered (oldest forgotten first).
pub const IDEMPOTENCY_CAPACITY: usize = 1024;

/// Error codes of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The line is not valid UTF-8 JSON.
    BadJson,
    /// The JSON is not an object.
    BadRequest,
    /// `cmd` names no command.
    UnknownCommand,
    /// A field is missing, of the wrong type or out of range.
    BadField,
    /// A field the command does not take.
    UnknownField,
    /// The line is longer than [`MAX_LINE`]; the connection is closed.
    LineTooLong,
    /// Too many connections; this one is closed.
    Busy,
    /// The session could not take the command (control inbox full).
    Unavailable,
    /// The idempotency key was used before for a different command.
    IdempotencyConflict,
}

/// The `error` object of a failed response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CtlErrorBody {
    /// What kind of error.
    pub code: ErrorCode,
    /// The request field at fault, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A human explanation.
    pub message: String,
}

impl CtlErrorBody {
    /// An error with no field.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> CtlErrorBody {
        CtlErrorBody {
            code,
            field: None,
            message: message.into(),
        }
    }

    /// An error naming `field`.
    pub fn field(code: ErrorCode, field: &str, message: impl Into<String>) -> CtlErrorBody {
        CtlErrorBody {
            code,
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
}

/// A validated command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Health and its components.
    Status,
    /// Positions from the engine.
    Positions,
    /// Open orders and order counters.
    Orders,
    /// Every counter.
    Metrics,
    /// Operator halt.
    Halt {
        /// Why (at least [`MIN_HALT_REASON`] characters).
        reason: String,
    },
    /// Leave an operator halt.
    Resume,
    /// Cancel every open order, or those of `symbol`.
    CancelAll {
        /// One symbol, or every instrument.
        symbol: Option<String>,
    },
}

impl Command {
    /// The command's wire name.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Status => "status",
            Command::Positions => "positions",
            Command::Orders => "orders",
            Command::Metrics => "metrics",
            Command::Halt { .. } => "halt",
            Command::Resume => "resume",
            Command::CancelAll { .. } => "cancel-all",
        }
    }
}

/// A parsed request line.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The command.
    pub command: Command,
    /// Echoed in the response.
    pub id: Option<Value>,
    /// Retry key: a second request with it returns the first result.
    pub idempotency_key: Option<String>,
}

/// Fields every request may carry.
const COMMON_FIELDS: [&str; 3] = ["cmd", "id", "idempotency_key"];

fn str_field<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, CtlErrorBody> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(CtlErrorBody::field(
            ErrorCode::BadField,
            name,
            format!("`{name}` must be a string"),
        )),
    }
}

/// Parses and validates one request line (without its newline). The
/// request `id`, when it could be read, comes back with the error so the
/// response can echo it.
pub fn parse_request(line: &[u8]) -> Result<Request, (CtlErrorBody, Option<Value>)> {
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        (
            CtlErrorBody::new(ErrorCode::BadJson, format!("not JSON: {e}")),
            None,
        )
    })?;
    let Value::Object(obj) = value else {
        return Err((
            CtlErrorBody::new(ErrorCode::BadRequest, "a request is a JSON object"),
            None,
        ));
    };
    let id = obj.get("id").cloned();
    parse_object(&obj).map_err(|e| (e, id))
}

fn parse_object(obj: &Map<String, Value>) -> Result<Request, CtlErrorBody> {
    let cmd = str_field(obj, "cmd")?
        .ok_or_else(|| CtlErrorBody::field(ErrorCode::BadField, "cmd", "`cmd` is required"))?;
    let idempotency_key = str_field(obj, "idempotency_key")?.map(str::to_owned);
    if let Some(k) = &idempotency_key
        && (k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY)
    {
        return Err(CtlErrorBody::field(
            ErrorCode::BadField,
            "idempotency_key",
            format!("`idempotency_key` must be 1..={MAX_IDEMPOTENCY_KEY} bytes"),
        ));
    }
    let (command, extra): (Command, &[&str]) = match cmd {
        "status" => (Command::Status, &[]),
        "positions" => (Command::Positions, &[]),
        "orders" => (Command::Orders, &[]),
        "metrics" => (Command::Metrics, &[]),
        "resume" => (Command::Resume, &[]),
        "cancel-all" => {
            let symbol = str_field(obj, "symbol")?.map(str::to_owned);
            (Command::CancelAll { symbol }, &["symbol"])
        }
        "halt" => {
            let reason = str_field(obj, "reason")?.ok_or_else(|| {
                CtlErrorBody::field(ErrorCode::BadField, "reason", "`reason` is required")
            })?;
            let n = reason.trim().chars().count();
            if !(MIN_HALT_REASON..=MAX_HALT_REASON).contains(&n) {
                return Err(CtlErrorBody::field(
                    ErrorCode::BadField,
                    "reason",
                    format!(
                        "`reason` must be {MIN_HALT_REASON} to {MAX_HALT_REASON} characters (got {n})"
                    ),
                ));
            }
            let confirm = str_field(obj, "confirm")?;
            if confirm != Some(HALT_CONFIRMATION) {
                return Err(CtlErrorBody::field(
                    ErrorCode::BadField,
                    "confirm",
                    format!("`confirm` must be exactly \"{HALT_CONFIRMATION}\""),
                ));
            }
            (
                Command::Halt {
                    reason: reason.trim().to_owned(),
                },
                &["reason", "confirm"],
            )
        }
        other => {
            let shown: String = other.chars().take(64).collect();
            return Err(CtlErrorBody::field(
                ErrorCode::UnknownCommand,
                "cmd",
                format!(
                    "unknown command `{shown}` (status, positions, orders, metrics, halt, resume, cancel-all)"
                ),
            ));
        }
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !COMMON_FIELDS.contains(&k.as_str()) && !extra.contains(&k.as_str()))
    {
        let shown: String = k.chars().take(64).collect();
        return Err(CtlErrorBody::field(
            ErrorCode::UnknownField,
            &shown,
            format!("`{cmd}` takes no field `{shown}`"),
        ));
    }
    Ok(Request {
        command,
        id: obj.get("id").cloned(),
        idempotency_key,
    })
}

/// A response line's JSON (without the newline).
pub fn response(result: Result<Value, CtlErrorBody>, id: Option<Value>) -> Value {
    let mut out = match result {
        Ok(v) => json!({"ok": true, "result": v}),
        Err(e) => json!({"ok": false, "error": e}),
    };
    if let (Some(id), Value::Object(m)) = (id, &mut out) {
        m.insert("id".to_owned(), id);
    }
    out
}

/// What the protocol needs from a running session. Implemented for the
/// session by [`super::SessionBackend`]; by a fake in tests.
pub trait Backend: Send + Sync + 'static {
    /// The process halt flag the gateway checks before every send.
    fn halt_flag(&self) -> &HaltFlag;
    /// Hands `command` to the engine; `false` if it could not be queued.
    fn send_control(&self, command: ControlCommand) -> bool;
    /// The instrument of `symbol`.
    fn instrument(&self, symbol: &str) -> Option<InstrumentId>;
    /// Status components (health is derived from them).
    fn status(&self) -> StatusParts;
    /// The `positions` result.
    fn positions(&self) -> Value;
    /// The `orders` result.
    fn orders(&self) -> Value;
    /// The `metrics` result.
    fn metrics(&self) -> Value;
}

/// One ring's fill level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RingLevel {
    /// `md`, `order`, `exec`, `control`.
    pub name: String,
    /// Slots.
    pub capacity: u64,
    /// Values in flight now.
    pub in_flight: u64,
    /// Largest occupancy seen.
    pub high_water: u64,
    /// Pushes refused because it was full.
    pub full: u64,
}

/// The components of `status`, as the backend reads them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusParts {
    /// Engine trading state (`active`, `reducing`, `halted`).
    pub trading_state: String,
    /// The engine's latched halt reason, if any.
    pub engine_halt_reason: Option<String>,
    /// The engine is switched ready.
    pub engine_ready: bool,
    /// The feed's connection is open and receiving.
    pub feed_connected: bool,
    /// Market messages received so far.
    pub market_messages: u64,
    /// Per-symbol feed health.
    pub instruments: Vec<(String, bool)>,
    /// The gateway's session is ready.
    pub gateway_ready: bool,
    /// Open orders.
    pub open_orders: u64,
    /// Journal directory.
    pub journal_dir: String,
    /// Records the engine journaled this session.
    pub journal_records: u64,
    /// Next journal sequence at start (recovery).
    pub journal_start_seq: u64,
    /// Ring fill levels.
    pub rings: Vec<RingLevel>,
    /// Seconds since the session started.
    pub uptime_s: u64,
}

/// The operator halt currently in force (set by `halt`, cleared by
/// `resume`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HaltRecord {
    /// The operator's reason.
    pub reason: String,
    /// Unix time of the halt, nanoseconds.
    pub at_unix_ns: u64,
}

/// Executes requests against a [`Backend`] (shared by every connection).
#[derive(Debug)]
pub struct Dispatcher<B> {
    backend: B,
    state: Mutex<DispatchState>,
}

#[derive(Debug, Default)]
struct DispatchState {
    /// key → (command name, stored response result).
    results: HashMap<String, (&'static str, Result<Value, CtlErrorBody>)>,
    order: VecDeque<String>,
    halt: Option<HaltRecord>,
}

fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos()
        .try_into()
        .unwrap_or(u64::MAX)
}

impl<B: Backend> Dispatcher<B> {
    /// A dispatcher with an empty idempotency map.
    pub fn new(backend: B) -> Dispatcher<B> {
        Dispatcher {
            backend,
            state: Mutex::new(DispatchState::default()),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    fn state(&self) -> std::sync::MutexGuard<'_, DispatchState> {
        // A panic while holding the lock cannot leave the map inconsistent
        // in a way that matters (worst case a stored result is missing).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles one request line and returns the response JSON.
    pub fn handle_line(&self, line: &[u8]) -> Value {
        match parse_request(line) {
            Ok(req) => {
                let id = req.id.clone();
                response(self.execute(&req), id)
            }
            Err((e, id)) => response(Err(e), id),
        }
    }

    /// Executes `req`, or returns the stored result of its idempotency key.
    pub fn execute(&self, req: &Request) -> Result<Value, CtlErrorBody> {
        let name = req.command.name();
        let Some(key) = &req.idempotency_key else {
            return self.run(&req.command);
        };
        // Held across the execution so two concurrent retries with the same
        // key execute once. Commands are short (no blocking I/O).
        let mut st = self.state();
        if let Some((cmd, stored)) = st.results.get(key) {
            if *cmd != name {
                return Err(CtlErrorBody::field(
                    ErrorCode::IdempotencyConflict,
                    "idempotency_key",
                    format!("this key was used for `{cmd}`"),
                ));
            }
            return stored.clone();
        }
        let result = self.run_locked(&req.command, &mut st);
        if st.order.len() >= IDEMPOTENCY_CAPACITY
            && let Some(old) = st.order.pop_front()
        {
            st.results.remove(&old);
        }
        st.order.push_back(key.clone());
        st.results.insert(key.clone(), (name, result.clone()));
        result
    }

    fn run(&self, command: &Command) -> Result<Value, CtlErrorBody> {
        let mut st = self.state();
        self.run_locked(command, &mut st)
    }

    fn run_locked(&self, command: &Command, st: &mut DispatchState) -> Result<Value, CtlErrorBody> {
        let b = &self.backend;
        match command {
            Command::Status => Ok(self.status(st)),
            Command::Positions => Ok(b.positions()),
            Command::Orders => Ok(b.orders()),
            Command::Metrics => Ok(b.metrics()),
            Command::Halt { reason } => {
                // The flag first: the gateway checks it before every send,
                // so once it is set no new order can leave, whatever the
                // engine thread is doing. Only then is the halt
                // acknowledged.
                let newly = b.halt_flag().halt(HaltReason::Operator);
                let flag_reason = b.halt_flag().reason().map_or("none", HaltReason::as_str);
                // Then the engine latches the halt and cancels everything.
                let engine_notified = b.send_control(ControlCommand::Halt {
                    reason: HaltReason::Operator,
                });
                let at = unix_ns();
                if st.halt.is_none() {
                    st.halt = Some(HaltRecord {
                        reason: reason.clone(),
                        at_unix_ns: at,
                    });
                }
                Ok(json!({
                    "halted": b.halt_flag().is_halted(),
                    "flag_reason": flag_reason,
                    "already_halted": !newly,
                    "engine_notified": engine_notified,
                    "halt": st.halt,
                }))
            }
            Command::Resume => {
                if !b.send_control(ControlCommand::Resume) {
                    return Err(CtlErrorBody::new(
                        ErrorCode::Unavailable,
                        "the control inbox is full; retry",
                    ));
                }
                let previous = st.halt.take();
                Ok(json!({"resume_sent": true, "previous_halt": previous}))
            }
            Command::CancelAll { symbol } => {
                let instrument = match symbol {
                    None => None,
                    Some(s) => Some(b.instrument(s).ok_or_else(|| {
                        CtlErrorBody::field(
                            ErrorCode::BadField,
                            "symbol",
                            format!(
                                "unknown symbol `{}`",
                                s.chars().take(32).collect::<String>()
                            ),
                        )
                    })?),
                };
                if !b.send_control(ControlCommand::CancelAll { instrument }) {
                    return Err(CtlErrorBody::new(
                        ErrorCode::Unavailable,
                        "the control inbox is full; retry",
                    ));
                }
                Ok(json!({"cancel_all_sent": true, "symbol": symbol}))
            }
        }
    }

    fn status(&self, st: &DispatchState) -> Value {
        let p = self.backend.status();
        let flag = self.backend.halt_flag().reason();
        let halted = flag.is_some() || p.trading_state == "halted";
        let unhealthy_instruments: Vec<&str> = p
            .instruments
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(s, _)| s.as_str())
            .collect();
        // A ring more than half full is a consumer falling behind.
        let ring_pressure = p.rings.iter().any(|r| r.in_flight * 2 > r.capacity);
        let fault = matches!(
            flag,
            Some(
                HaltReason::AgentError
                    | HaltReason::AgentPanic
                    | HaltReason::StartupFailed
                    | HaltReason::JournalFailure
            )
        );
        let health = if fault || !p.gateway_ready || !p.feed_connected {
            "unhealthy"
        } else if halted || !unhealthy_instruments.is_empty() || ring_pressure {
            "degraded"
        } else {
            "healthy"
        };
        let trading = if flag.is_some() {
            "HALTED".to_owned()
        } else {
            p.trading_state.to_uppercase()
        };
        json!({
            "health": health,
            "trading_state": trading,
            "engine_state": p.trading_state,
            "engine_ready": p.engine_ready,
            "halt": {
                "halted": halted,
                "flag_reason": flag.map(HaltReason::as_str),
                "engine_reason": p.engine_halt_reason,
                "operator": st.halt,
            },
            "feed": {
                "connected": p.feed_connected,
                "market_messages": p.market_messages,
                "instruments": p.instruments.iter().map(|(s, ok)| {
                    (s.clone(), Value::from(if *ok { "healthy" } else { "unhealthy" }))
                }).collect::<Map<String, Value>>(),
            },
            "gateway": {"ready": p.gateway_ready},
            "orders": {"open": p.open_orders},
            "journal": {
                "dir": p.journal_dir,
                "start_seq": p.journal_start_seq,
                "records_this_session": p.journal_records,
                "position": p.journal_start_seq.saturating_add(p.journal_records),
            },
            "rings": p.rings,
            "uptime_s": p.uptime_s,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[derive(Debug, Default)]
    struct Fake {
        halt: HaltFlag,
        sent: Mutex<Vec<(ControlCommand, bool)>>,
        executions: AtomicUsize,
        inbox_full: bool,
    }

    impl Backend for Fake {
        fn halt_flag(&self) -> &HaltFlag {
            &self.halt
        }
        fn send_control(&self, command: ControlCommand) -> bool {
            // Records whether the flag was already set when the engine was
            // told: the halt ordering under test.
            self.sent
                .lock()
                .unwrap()
                .push((command, self.halt.is_halted()));
            !self.inbox_full
        }
        fn instrument(&self, symbol: &str) -> Option<InstrumentId> {
            (symbol == "BTCUSDT").then_some(InstrumentId(0))
        }
        fn status(&self) -> StatusParts {
            StatusParts {
                trading_state: "active".into(),
                engine_halt_reason: None,
                engine_ready: true,
                feed_connected: true,
                market_messages: 5,
                instruments: vec![("BTCUSDT".into(), true)],
                gateway_ready: true,
                open_orders: 0,
                journal_dir: "/j".into(),
                journal_records: 3,
                journal_start_seq: 1,
                rings: vec![],
                uptime_s: 1,
            }
        }
        fn positions(&self) -> Value {
            self.executions.fetch_add(1, Ordering::Relaxed);
            json!([])
        }
        fn orders(&self) -> Value {
            json!({"open": 0})
        }
        fn metrics(&self) -> Value {
            json!({})
        }
    }

    fn err_of(line: &str) -> CtlErrorBody {
        parse_request(line.as_bytes()).unwrap_err().0
    }

    #[test]
    fn parses_every_command() {
        for (line, cmd) in [
            (r#"{"cmd":"status"}"#, Command::Status),
            (r#"{"cmd":"positions"}"#, Command::Positions),
            (r#"{"cmd":"orders"}"#, Command::Orders),
            (r#"{"cmd":"metrics"}"#, Command::Metrics),
            (r#"{"cmd":"resume"}"#, Command::Resume),
            (
                r#"{"cmd":"cancel-all"}"#,
                Command::CancelAll { symbol: None },
            ),
            (
                r#"{"cmd":"cancel-all","symbol":"BTCUSDT"}"#,
                Command::CancelAll {
                    symbol: Some("BTCUSDT".into()),
                },
            ),
            (
                r#"{"cmd":"halt","reason":"  venue is misbehaving ","confirm":"HALT TRADING NOW"}"#,
                Command::Halt {
                    reason: "venue is misbehaving".into(),
                },
            ),
        ] {
            let r = parse_request(line.as_bytes()).unwrap();
            assert_eq!(r.command, cmd, "{line}");
        }
        let r = parse_request(br#"{"cmd":"status","id":[1,"x"],"idempotency_key":"k1"}"#).unwrap();
        assert_eq!(r.id, Some(json!([1, "x"])));
        assert_eq!(r.idempotency_key.as_deref(), Some("k1"));
    }

    #[test]
    fn errors_name_the_field() {
        let e = err_of(r#"{"cmd":"launch"}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::UnknownCommand, Some("cmd"))
        );
        let e = err_of(r#"{"id":1}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::BadField, Some("cmd"))
        );
        let e = err_of(r#"{"cmd":7}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::BadField, Some("cmd"))
        );
        let e = err_of(r#"{"cmd":"halt","reason":"too short","confirm":"HALT TRADING NOW"}"#);
        assert_eq!(e.field.as_deref(), Some("reason"));
        let e = err_of(r#"{"cmd":"halt","confirm":"HALT TRADING NOW"}"#);
        assert_eq!(e.field.as_deref(), Some("reason"));
        let e = err_of(
            r#"{"cmd":"halt","reason":"a long enough reason","confirm":"halt trading now"}"#,
        );
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::BadField, Some("confirm"))
        );
        let e = err_of(r#"{"cmd":"halt","reason":"a long enough reason"}"#);
        assert_eq!(e.field.as_deref(), Some("confirm"));
        let e = err_of(r#"{"cmd":"halt","reason":12345678901,"confirm":"HALT TRADING NOW"}"#);
        assert_eq!(e.field.as_deref(), Some("reason"));
        let e = err_of(r#"{"cmd":"cancel-all","symbol":false}"#);
        assert_eq!(e.field.as_deref(), Some("symbol"));
        let e = err_of(r#"{"cmd":"status","verbose":true}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::UnknownField, Some("verbose"))
        );
        let e = err_of(r#"{"cmd":"status","idempotency_key":5}"#);
        assert_eq!(e.field.as_deref(), Some("idempotency_key"));
        let e = err_of(r#"{"cmd":"status","idempotency_key":""}"#);
        assert_eq!(e.field.as_deref(), Some("idempotency_key"));
        assert_eq!(err_of("[1,2]").code, ErrorCode::BadRequest);
        assert_eq!(err_of("{not json").code, ErrorCode::BadJson);
        let (e, _) = parse_request(&[0xff, 0xfe, 0x00, 0x7b]).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadJson);
        // The id is echoed even with an error.
        let (_, id) = parse_request(br#"{"cmd":"nope","id":"abc"}"#).unwrap_err();
        assert_eq!(id, Some(json!("abc")));
    }

    #[test]
    fn halt_sets_the_flag_before_telling_the_engine() {
        let d = Dispatcher::new(Fake::default());
        let v = d.handle_line(
            br#"{"cmd":"halt","reason":"operator test halt","confirm":"HALT TRADING NOW","id":9}"#,
        );
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["id"], 9);
        assert_eq!(v["result"]["halted"], true);
        assert_eq!(v["result"]["halt"]["reason"], "operator test halt");
        assert!(d.backend().halt.is_halted());
        let sent = d.backend().sent.lock().unwrap().clone();
        assert_eq!(
            sent,
            vec![(
                ControlCommand::Halt {
                    reason: HaltReason::Operator
                },
                true
            )]
        );
        let s = d.handle_line(br#"{"cmd":"status"}"#);
        assert_eq!(s["result"]["trading_state"], "HALTED", "{s}");
        assert_eq!(s["result"]["health"], "degraded");
        assert_eq!(
            s["result"]["halt"]["operator"]["reason"],
            "operator test halt"
        );
        assert!(
            s["result"]["halt"]["operator"]["at_unix_ns"]
                .as_u64()
                .unwrap()
                > 0
        );
        let r = d.handle_line(br#"{"cmd":"resume"}"#);
        assert_eq!(r["ok"], true);
        assert_eq!(r["result"]["previous_halt"]["reason"], "operator test halt");
        let s = d.handle_line(br#"{"cmd":"status"}"#);
        assert!(s["result"]["halt"]["operator"].is_null());
    }

    #[test]
    fn a_refused_halt_changes_nothing() {
        let d = Dispatcher::new(Fake::default());
        let v = d.handle_line(br#"{"cmd":"halt","reason":"operator test halt","confirm":"yes"}"#);
        assert_eq!(v["ok"], false);
        assert_eq!(v["error"]["field"], "confirm");
        assert!(!d.backend().halt.is_halted());
        assert!(d.backend().sent.lock().unwrap().is_empty());
    }

    #[test]
    fn status_reports_health() {
        let d = Dispatcher::new(Fake::default());
        let s = d.handle_line(br#"{"cmd":"status"}"#);
        assert_eq!(s["ok"], true);
        assert_eq!(s["result"]["health"], "healthy");
        assert_eq!(s["result"]["trading_state"], "ACTIVE");
        assert_eq!(s["result"]["feed"]["instruments"]["BTCUSDT"], "healthy");
        assert_eq!(s["result"]["journal"]["position"], 4);
        d.backend().halt.halt(HaltReason::AgentPanic);
        let s = d.handle_line(br#"{"cmd":"status"}"#);
        assert_eq!(s["result"]["health"], "unhealthy");
    }

    #[test]
    fn cancel_all_resolves_the_symbol() {
        let d = Dispatcher::new(Fake::default());
        let v = d.handle_line(br#"{"cmd":"cancel-all","symbol":"BTCUSDT"}"#);
        assert_eq!(v["ok"], true, "{v}");
        let v = d.handle_line(br#"{"cmd":"cancel-all","symbol":"DOGEUSDT"}"#);
        assert_eq!(v["error"]["field"], "symbol");
        let v = d.handle_line(br#"{"cmd":"cancel-all"}"#);
        assert_eq!(v["ok"], true);
        let sent: Vec<ControlCommand> = d
            .backend()
            .sent
            .lock()
            .unwrap()
            .iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(
            sent,
            vec![
                ControlCommand::CancelAll {
                    instrument: Some(InstrumentId(0))
                },
                ControlCommand::CancelAll { instrument: None }
            ]
        );
    }

    #[test]
    fn a_full_inbox_is_reported() {
        let d = Dispatcher::new(Fake {
            inbox_full: true,
            ..Fake::default()
        });
        let v = d.handle_line(br#"{"cmd":"resume"}"#);
        assert_eq!(v["error"]["code"], "unavailable");
        // A halt still holds: the flag does not need the inbox.
        let v = d.handle_line(
            br#"{"cmd":"halt","reason":"operator test halt","confirm":"HALT TRADING NOW"}"#,
        );
        assert_eq!(v["ok"], true);
        assert_eq!(v["result"]["engine_notified"], false);
        assert!(d.backend().halt.is_halted());
    }

    #[test]
    fn an_idempotency_key_executes_once() {
        let d = Dispatcher::new(Fake::default());
        let line = br#"{"cmd":"cancel-all","idempotency_key":"c-1"}"#;
        let a = d.handle_line(line);
        let b = d.handle_line(line);
        assert_eq!(a, b);
        assert_eq!(d.backend().sent.lock().unwrap().len(), 1);
        // Another key executes again.
        d.handle_line(br#"{"cmd":"cancel-all","idempotency_key":"c-2"}"#);
        assert_eq!(d.backend().sent.lock().unwrap().len(), 2);
        // The same key for another command is refused, naming the field.
        let c = d.handle_line(br#"{"cmd":"resume","idempotency_key":"c-1"}"#);
        assert_eq!(c["error"]["code"], "idempotency_conflict");
        assert_eq!(c["error"]["field"], "idempotency_key");
        assert_eq!(d.backend().sent.lock().unwrap().len(), 2);
        // Errors are stored too: a retried bad symbol stays an error.
        let e1 = d.handle_line(br#"{"cmd":"cancel-all","symbol":"X","idempotency_key":"e"}"#);
        let e2 = d.handle_line(br#"{"cmd":"cancel-all","symbol":"X","idempotency_key":"e"}"#);
        assert_eq!(e1, e2);
        assert_eq!(e1["ok"], false);
    }

    #[test]
    fn the_idempotency_map_is_bounded() {
        let d = Dispatcher::new(Fake::default());
        for i in 0..IDEMPOTENCY_CAPACITY + 10 {
            let line = format!(r#"{{"cmd":"positions","idempotency_key":"k{i}"}}"#);
            d.handle_line(line.as_bytes());
        }
        assert_eq!(d.state().results.len(), IDEMPOTENCY_CAPACITY);
        let n = d.backend().executions.load(Ordering::Relaxed);
        // The oldest key was forgotten: it executes again.
        d.handle_line(br#"{"cmd":"positions","idempotency_key":"k0"}"#);
        assert_eq!(d.backend().executions.load(Ordering::Relaxed), n + 1);
        // A recent one is still remembered.
        let last = format!("k{}", IDEMPOTENCY_CAPACITY + 9);
        let line = format!(r#"{{"cmd":"positions","idempotency_key":"{last}"}}"#);
        d.handle_line(line.as_bytes());
        assert_eq!(d.backend().executions.load(Ordering::Relaxed), n + 1);
    }
}
