//! Everything one duty cycle touches apart from the socket: order intake,
//! the send queues, request encoding, response and user-data handling, the
//! order table, timers and exec-report delivery.
//!
//! Owns `Core` (split from the [`WsClient`] so the socket's message
//! callback can borrow it while the socket is polled). Functions that send
//! take the `WsClient` as an argument; the message callback never sends (it
//! queues: status queries, cancels to resend, a reconnect request) and the
//! cycle sends after the poll.
//!
//! Hot path rules kept here: no allocation (fixed queues, fixed tables,
//! the encoder's preallocated buffers, borrowed decoding), no locks, no
//! blocking, no panics on any input: every unexpected event is counted and
//! dropped, never unwrapped.

use std::sync::Arc;

use talon_core::clock::{NanoClock, Nanos, unix_nanos};
use talon_core::event::{
    ClientOrderId, ExecReport, OrderCommand, OrderCommandKind, OrderStatus, Side, Stamps,
};
use talon_core::halt::HaltFlag;
use talon_core::instrument::{InstrumentId, Symbol};
use talon_core::num::{Price, Qty, SCALE};
use talon_core::ring::{ExecProducer, OrderConsumer};
use talon_feed::error::TransportError;
use talon_feed::ws::WsClient;

use super::outbound::{FixedQueue, Pending, PendingTable, ReqKind};
use super::session::Phase;
use crate::breaker::CircuitBreaker;
use crate::counters::{GatewayCounter, GatewayCounters, VenueCode};
use crate::error::LocalReject;
use crate::latency::GatewayLatency;
use crate::order_state::{OrderEntry, OrderEvent, OrderTable, ReportOutcome, TableError};
use crate::rate_limit::{RateLimitConfig, RateLimiter, RequestKind, retry_after_local};
use crate::request::{Auth, EncodeError, RequestEncoder};
use crate::response::{
    ExecType, ExecutionEvent, Inbound, OrderResult, OrderResults, RateLimits, Response,
    SessionEventKind, decode_exchange_rate_limits, decode_inbound, decode_order_result,
    decode_server_time,
};
use crate::server_time::ServerTime;
use crate::sign::{Ed25519Signer, HmacSigner};

/// Weight of `order.status` (binance-protocol.md §2).
const STATUS_WEIGHT: u32 = 4;
/// Weight of `openOrders.status` with a symbol.
const OPEN_ORDERS_WEIGHT: u32 = 6;
/// Pending requests are checked for timeouts at most this often.
const SCAN_INTERVAL_NS: u64 = 50_000_000;

/// The signing key.
pub(crate) enum Signer {
    Hmac(HmacSigner),
    Ed25519(Ed25519Signer),
}

/// One configured symbol.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub(crate) id: InstrumentId,
    pub(crate) symbol: Symbol,
    pub(crate) base: Symbol,
    pub(crate) quote: Symbol,
}

/// Settings copied out of the config.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) recv_window_ms: u32,
    pub(crate) ack_timeout_ns: u64,
    pub(crate) request_timeout_ns: u64,
    pub(crate) session_id: u32,
    pub(crate) time_samples: u32,
    pub(crate) max_commands: usize,
}

/// What the socket must do after the poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendFailure {
    /// The frame was not queued (buffer full / not open): nothing left.
    NotSent,
    /// The write failed after queueing: the request may have gone out.
    MaybeSent,
}

/// What an encode-and-write closure returns: the encoder's verdict, then
/// the socket's.
pub(crate) type Sent = Result<Result<(), TransportError>, EncodeError>;

/// Writes an encoded frame.
fn write(frame: Result<&[u8], EncodeError>, ws: &mut WsClient) -> Sent {
    Ok(ws.send_text(frame?))
}

/// What a request encoder needs, borrowed from the core for one send.
pub(crate) struct Ctx<'a> {
    pub(crate) id: u64,
    pub(crate) ts: u64,
    pub(crate) rw: u32,
    pub(crate) auth: &'a Auth<'a>,
    pub(crate) symbol: &'a str,
    pub(crate) api_key: &'a str,
    pub(crate) signer: &'a Signer,
    pub(crate) slots: &'a [Slot],
}

fn send_failure(e: TransportError) -> SendFailure {
    match e {
        TransportError::WriteBufferFull | TransportError::NotConnected => SendFailure::NotSent,
        _ => SendFailure::MaybeSent,
    }
}

pub(crate) struct Core<C: NanoClock> {
    pub(crate) clock: C,
    pub(crate) s: Settings,
    pub(crate) api_key: String,
    pub(crate) signer: Signer,
    pub(crate) enc: RequestEncoder,
    pub(crate) server_time: ServerTime,
    pub(crate) limiter: RateLimiter,
    pub(crate) limiter_cfg: RateLimitConfig,
    /// The `exchangeInfo` limits the limiter was built from.
    pub(crate) limits_seen: Option<RateLimits>,
    pub(crate) breaker: CircuitBreaker,
    pub(crate) table: OrderTable,
    pub(crate) pending: PendingTable,
    pub(crate) next_id: u64,
    pub(crate) cancel_q: FixedQueue<OrderCommand>,
    pub(crate) new_q: FixedQueue<OrderCommand>,
    /// A cancel the full cancel queue could not take (backpressure on the
    /// order ring: nothing more is popped until it fits).
    pub(crate) stash: Option<OrderCommand>,
    /// Ack deadlines of sent orders, in send order.
    pub(crate) deadlines: FixedQueue<(Nanos, ClientOrderId)>,
    /// `order.status` queries to send.
    pub(crate) queries: FixedQueue<(InstrumentId, ClientOrderId)>,
    pub(crate) orders: OrderConsumer,
    pub(crate) exec: ExecProducer,
    /// Reports the full exec ring refused, in order (never dropped).
    pub(crate) overflow: FixedQueue<ExecReport>,
    pub(crate) halt: Arc<HaltFlag>,
    pub(crate) counters: Arc<GatewayCounters>,
    /// Per-order internal latency (recorded as each order is written).
    pub(crate) latency: Arc<GatewayLatency>,
    pub(crate) slots: Vec<Slot>,
    /// Slot index by instrument id.
    pub(crate) by_id: Vec<Option<usize>>,
    pub(crate) phase: Phase,
    /// A sync request of the current phase is in flight.
    pub(crate) in_flight: bool,
    pub(crate) time_got: u32,
    pub(crate) open_left: usize,
    pub(crate) reconnect_requested: bool,
    /// The limiter is holding sends back (counted once per episode).
    pub(crate) throttled: bool,
    pub(crate) last_scan: Nanos,
    /// Breaker opens already mirrored into the counters.
    pub(crate) breaker_opens_seen: u64,
}

impl<C: NanoClock + Clone> Core<C> {
    // ------------------------------------------------------------------
    // Exec reports
    // ------------------------------------------------------------------

    /// Delivers `r` to the engine, in order: through the overflow queue
    /// whenever it holds anything (never dropped; see the agent docs for
    /// why the overflow cannot fill).
    pub(crate) fn emit(&mut self, r: ExecReport) {
        self.counters.increment(GatewayCounter::ExecReports);
        if !self.overflow.is_empty() {
            self.hold(r);
            return;
        }
        if let Err(full) = self.exec.push(r) {
            self.counters.increment(GatewayCounter::ExecRingFull);
            self.hold(full.into_inner());
        }
    }

    fn hold(&mut self, r: ExecReport) {
        if self.overflow.push(r).is_err() {
            // Unreachable by construction (the cycle stops taking input
            // while the overflow holds anything and the overflow is sized
            // for a whole cycle's output); counted rather than panicking.
            self.counters.increment(GatewayCounter::ExecRingFull);
        }
    }

    /// Moves held reports to the ring; returns how many moved.
    pub(crate) fn flush_overflow(&mut self) -> usize {
        let mut n = 0;
        while let Some(r) = self.overflow.front().copied() {
            if self.exec.push(r).is_err() {
                break;
            }
            self.overflow.pop();
            n += 1;
        }
        n
    }

    fn stamps(&self, recv: Nanos) -> Stamps {
        Stamps {
            recv,
            decode: self.clock.now(),
        }
    }

    /// A report the gateway makes itself (ack, local reject, unknown, ...).
    fn local_report(
        &self,
        instrument: InstrumentId,
        side: Side,
        id: ClientOrderId,
        status: OrderStatus,
        reject_code: i32,
        recv: Nanos,
    ) -> ExecReport {
        ExecReport {
            instrument,
            status,
            side,
            reject_code,
            client_order_id: id,
            stamps: self.stamps(recv),
            ..ExecReport::ZERO
        }
    }

    /// Refuses a new order locally (never sent).
    fn reject_local(&mut self, cmd: &OrderCommand, why: LocalReject, now: Nanos) {
        self.counters.local_reject(why);
        let r = self.local_report(
            cmd.instrument,
            cmd.side,
            cmd.client_order_id,
            OrderStatus::Rejected,
            why.code(),
            now,
        );
        self.emit(r);
    }

    // ------------------------------------------------------------------
    // Order intake
    // ------------------------------------------------------------------

    /// Takes up to `max_commands` commands from the order ring.
    pub(crate) fn take_commands(&mut self, now: Nanos) -> usize {
        let mut n = 0;
        while n < self.s.max_commands {
            let cmd = match self.stash.take() {
                Some(c) => c,
                None => match self.orders.pop() {
                    Some(c) => c,
                    None => break,
                },
            };
            n += 1;
            match cmd.kind {
                OrderCommandKind::New => {
                    // `send` holds the pop time while the order waits in
                    // the gateway (latency stage `encode_sign`).
                    let mut cmd = cmd;
                    cmd.send = self.clock.now();
                    self.accept_new(cmd, now)
                }
                OrderCommandKind::Cancel | OrderCommandKind::CancelAll => {
                    if self.slot_of(cmd.instrument).is_none() {
                        self.reject_cancel_local(&cmd, LocalReject::UnknownInstrument, now);
                    } else if let Err(c) = self.cancel_q.push(cmd) {
                        // Backpressure: keep it, stop popping.
                        self.stash = Some(c);
                        break;
                    }
                }
            }
        }
        n
    }

    fn accept_new(&mut self, cmd: OrderCommand, now: Nanos) {
        let id = cmd.client_order_id;
        let why = if self.halt.is_halted() {
            Some(LocalReject::Halted)
        } else if self.slot_of(cmd.instrument).is_none() {
            Some(LocalReject::UnknownInstrument)
        } else if id.is_empty()
            || id
                .session_seq()
                .is_some_and(|(session, _)| session != self.s.session_id)
            || self.t_status(&id).is_some()
        {
            Some(LocalReject::InvalidOrder)
        } else if self.phase != Phase::Ready {
            Some(LocalReject::NotConnected)
        } else if self.new_q.is_full() {
            Some(LocalReject::QueueFull)
        } else {
            None
        };
        match why {
            Some(w) => self.reject_local(&cmd, w, now),
            None => {
                // Cannot fail: fullness checked above.
                let _ = self.new_q.push(cmd);
            }
        }
    }

    /// A cancel the gateway cannot send: reported as a cancel reject.
    fn reject_cancel_local(&mut self, cmd: &OrderCommand, why: LocalReject, now: Nanos) {
        self.counters.increment(GatewayCounter::CancelRejects);
        let status = self
            .t_status(&cmd.client_order_id)
            .unwrap_or(OrderStatus::Rejected);
        let r = self.local_report(
            cmd.instrument,
            cmd.side,
            cmd.client_order_id,
            status,
            why.code(),
            now,
        );
        self.emit(r);
    }

    /// Rejects every queued new order (connection lost, halt).
    pub(crate) fn reject_queued_new(&mut self, why: LocalReject, now: Nanos) {
        while let Some(cmd) = self.new_q.pop() {
            self.reject_local(&cmd, why, now);
        }
    }

    pub(crate) fn slot_of(&self, id: InstrumentId) -> Option<usize> {
        self.by_id.get(id.index()).copied().flatten()
    }

    fn slot_of_symbol(&self, symbol: &[u8]) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.symbol.as_bytes() == symbol)
    }

    // ------------------------------------------------------------------
    // Sending
    // ------------------------------------------------------------------

    /// Records a sent request under `id` (the id was checked free).
    fn record(
        &mut self,
        id: u64,
        kind: ReqKind,
        coid: ClientOrderId,
        instrument: InstrumentId,
        now: Nanos,
        unix: Nanos,
    ) {
        let _ = self.pending.insert(Pending {
            id,
            kind,
            client_order_id: coid,
            instrument,
            sent_at: now,
            sent_unix: unix,
        });
        self.next_id += 1;
    }

    /// Encodes with `f` and writes the frame. On `Ok` the request is
    /// recorded as pending. `Err(None)`: no request id slot is free (wait).
    fn send_with(
        &mut self,
        ws: &mut WsClient,
        kind: ReqKind,
        coid: ClientOrderId,
        instrument: InstrumentId,
        now: Nanos,
        f: impl FnOnce(&mut RequestEncoder, &mut WsClient, &Ctx<'_>) -> Sent,
    ) -> Result<(), Option<SendFailure>> {
        let id = self.next_id;
        if !self.pending.can_insert(id) {
            return Err(None);
        }
        let symbol = self
            .slot_of(instrument)
            .and_then(|i| self.slots.get(i))
            .map_or("", |s| s.symbol.as_str());
        let auth = match &self.signer {
            Signer::Hmac(signer) => Auth::Hmac {
                api_key: &self.api_key,
                signer,
            },
            Signer::Ed25519(_) => Auth::Session,
        };
        let ctx = Ctx {
            id,
            ts: self.server_time.timestamp_ms(Nanos(unix_nanos())),
            rw: self.s.recv_window_ms,
            auth: &auth,
            symbol,
            api_key: &self.api_key,
            signer: &self.signer,
            slots: &self.slots,
        };
        let unix = Nanos(unix_nanos());
        match f(&mut self.enc, ws, &ctx) {
            Err(_) => Err(Some(SendFailure::NotSent)),
            Ok(Ok(())) => {
                self.record(id, kind, coid, instrument, now, unix);
                Ok(())
            }
            Ok(Err(e)) => {
                let f = send_failure(e);
                if f == SendFailure::MaybeSent {
                    self.record(id, kind, coid, instrument, now, unix);
                }
                self.reconnect_requested = true;
                Err(Some(f))
            }
        }
    }

    /// Sends the request of the current sync phase if none is in flight.
    pub(crate) fn drive_session(&mut self, ws: &mut WsClient, now: Nanos) -> usize {
        if self.in_flight {
            return 0;
        }
        let none = ClientOrderId::EMPTY;
        let no_inst = InstrumentId(0);
        let r = match self.phase {
            Phase::Down | Phase::Ready => return 0,
            Phase::Time => self.send_with(ws, ReqKind::Time, none, no_inst, now, |e, ws, c| {
                write(e.time(c.id), ws)
            }),
            Phase::ExchangeInfo => {
                self.send_with(ws, ReqKind::ExchangeInfo, none, no_inst, now, |e, ws, c| {
                    // Per connection (cold path): a small Vec of names.
                    let names: Vec<&str> = c.slots.iter().map(|s| s.symbol.as_str()).collect();
                    write(e.exchange_info(c.id, &names), ws)
                })
            }
            Phase::Logon => {
                if matches!(self.signer, Signer::Hmac(_)) {
                    self.phase = Phase::Subscribe;
                    return 1;
                }
                self.send_with(ws, ReqKind::Logon, none, no_inst, now, |e, ws, c| {
                    match c.signer {
                        Signer::Ed25519(k) => {
                            write(e.session_logon(c.id, c.api_key, k, c.ts, c.rw), ws)
                        }
                        Signer::Hmac(_) => Err(EncodeError::BufferTooSmall),
                    }
                })
            }
            Phase::Subscribe => self.send_with(
                ws,
                ReqKind::Subscribe,
                none,
                no_inst,
                now,
                |e, ws, c| match c.signer {
                    Signer::Ed25519(_) => write(e.user_data_subscribe(c.id), ws),
                    Signer::Hmac(k) => write(
                        e.user_data_subscribe_signature(c.id, c.api_key, k, c.ts, c.rw),
                        ws,
                    ),
                },
            ),
            Phase::OpenOrders => {
                // One openOrders.status per symbol, all in flight at once.
                self.open_left = self.slots.len();
                for i in 0..self.slots.len() {
                    let inst = self.slots[i].id;
                    self.limiter_query(OPEN_ORDERS_WEIGHT, now);
                    let r =
                        self.send_with(ws, ReqKind::OpenOrders(i), none, inst, now, |e, ws, c| {
                            write(
                                e.open_orders_status(c.id, Some(c.symbol), c.ts, c.rw, c.auth),
                                ws,
                            )
                        });
                    if r.is_err() {
                        self.reconnect_requested = true;
                        return 1;
                    }
                }
                self.in_flight = true;
                return 1;
            }
        };
        match r {
            Ok(()) => self.in_flight = true,
            Err(None) => {}
            Err(Some(_)) => self.reconnect_requested = true,
        }
        1
    }

    /// The session is synced: query every unresolved order, go live.
    fn finish_resync(&mut self, now: Nanos) {
        let mut unresolved = 0usize;
        let Core { table, queries, .. } = self;
        t_for_each_open(table, |id, inst, _status| {
            if queries.push((inst, id)).is_ok() {
                unresolved += 1;
            }
        });
        let _ = (unresolved, now);
        self.counters.increment(GatewayCounter::Resyncs);
        self.phase = Phase::Ready;
        self.in_flight = false;
    }

    /// Charges a query's weight to the limiter (session sync: the wait is
    /// not enforced, the sync requests are few and the weight is counted).
    fn limiter_query(&mut self, weight: u32, now: Nanos) {
        let _ = self.limiter.try_acquire(RequestKind::Query(weight), now);
    }

    fn note_throttled(&mut self) {
        if !self.throttled {
            self.throttled = true;
            self.counters.increment(GatewayCounter::ThrottledWaits);
        }
    }

    /// Ready-phase sends: cancels, then status queries, then new orders.
    pub(crate) fn pump(&mut self, ws: &mut WsClient, now: Nanos) -> usize {
        if self.phase != Phase::Ready {
            return 0;
        }
        let mut work = 0;
        // Cancels and cancel-alls first.
        while let Some(cmd) = self.cancel_q.front().copied() {
            if !self.pending.can_insert(self.next_id) {
                return work;
            }
            if self.limiter.try_acquire(RequestKind::Cancel, now).is_err() {
                self.note_throttled();
                return work;
            }
            let (kind, counter) = match cmd.kind {
                OrderCommandKind::CancelAll => (ReqKind::CancelAll, GatewayCounter::CancelAllsSent),
                _ => (ReqKind::Cancel, GatewayCounter::CancelsSent),
            };
            let coid = cmd.client_order_id;
            let r = self.send_with(ws, kind, coid, cmd.instrument, now, |e, ws, c| {
                if kind == ReqKind::CancelAll {
                    write(
                        e.open_orders_cancel_all(c.id, c.symbol, c.ts, c.rw, c.auth),
                        ws,
                    )
                } else {
                    write(
                        e.order_cancel(c.id, c.symbol, &coid, c.ts, c.rw, c.auth),
                        ws,
                    )
                }
            });
            match r {
                Ok(()) => {
                    self.cancel_q.pop();
                    self.counters.increment(counter);
                    work += 1;
                }
                Err(None) => return work,
                Err(Some(SendFailure::NotSent)) if !self.reconnect_requested => {
                    // The encoder refused it (bad id): a local cancel reject.
                    self.cancel_q.pop();
                    self.reject_cancel_local(&cmd, LocalReject::InvalidOrder, now);
                }
                Err(Some(_)) => return work,
            }
        }
        // Status queries.
        while let Some((inst, coid)) = self.queries.front().copied() {
            if !self.pending.can_insert(self.next_id) {
                return work;
            }
            if self
                .limiter
                .try_acquire(RequestKind::Query(STATUS_WEIGHT), now)
                .is_err()
            {
                self.note_throttled();
                return work;
            }
            let r = self.send_with(ws, ReqKind::Status, coid, inst, now, |e, ws, c| {
                write(
                    e.order_status(c.id, c.symbol, &coid, c.ts, c.rw, c.auth),
                    ws,
                )
            });
            match r {
                Ok(()) => {
                    self.queries.pop();
                    self.counters.increment(GatewayCounter::QueriesSent);
                    work += 1;
                }
                Err(None) => return work,
                Err(Some(SendFailure::NotSent)) if !self.reconnect_requested => {
                    self.queries.pop();
                }
                Err(Some(_)) => return work,
            }
        }
        // New orders.
        while let Some(cmd) = self.new_q.front().copied() {
            if self.halt.is_halted() {
                self.reject_queued_new(LocalReject::Halted, now);
                return work + 1;
            }
            // A free request slot first: a token taken and not used would
            // count against the venue's limits for nothing.
            if !self.pending.can_insert(self.next_id) {
                return work;
            }
            if self
                .limiter
                .try_acquire(RequestKind::NewOrder, now)
                .is_err()
            {
                self.note_throttled();
                return work;
            }
            self.new_q.pop();
            work += 1;
            if !self.breaker_allow(now) {
                self.reject_local(&cmd, LocalReject::BreakerOpen, now);
                continue;
            }
            let coid = cmd.client_order_id;
            if !self.t_insert_pending(&cmd, now) {
                self.reject_local(&cmd, LocalReject::TableFull, now);
                continue;
            }
            // The last check before the bytes leave.
            if self.halt.is_halted() {
                self.t_remove(&coid);
                self.reject_local(&cmd, LocalReject::Halted, now);
                continue;
            }
            // A clone of the clock stamps the instant the signed frame is
            // ready and the write call begins (latency stages encode_sign /
            // socket_write).
            let clock = self.clock.clone();
            let mut encoded = Nanos(0);
            let r = self.send_with(ws, ReqKind::Place, coid, cmd.instrument, now, |e, ws, c| {
                let frame = e.order_place(c.id, c.symbol, &cmd, c.ts, c.rw, c.auth);
                encoded = clock.now();
                write(frame, ws)
            });
            if r.is_ok() {
                self.latency
                    .record_order(&cmd, cmd.send, encoded, self.clock.now());
            }
            match r {
                Ok(()) | Err(Some(SendFailure::MaybeSent)) => {
                    self.throttled = false;
                    self.counters.increment(GatewayCounter::OrdersSent);
                    let deadline = now.saturating_add(self.s.ack_timeout_ns);
                    // Sized like the order table: cannot be full while the
                    // table took the order.
                    let _ = self.deadlines.push((deadline, coid));
                    if self.reconnect_requested {
                        return work;
                    }
                }
                Err(Some(SendFailure::NotSent)) => {
                    self.t_remove(&coid);
                    let why = if self.reconnect_requested {
                        LocalReject::NotConnected
                    } else {
                        LocalReject::InvalidOrder
                    };
                    self.reject_local(&cmd, why, now);
                    if self.reconnect_requested {
                        return work;
                    }
                }
                Err(None) => {
                    // Checked above; keep the order rather than lose it.
                    self.t_remove(&coid);
                    let _ = self.new_q.push_front(cmd);
                    return work;
                }
            }
        }
        self.throttled = false;
        work
    }

    // ------------------------------------------------------------------
    // Inbound
    // ------------------------------------------------------------------

    /// Handles one WebSocket message (never sends: see the module docs).
    pub(crate) fn on_frame(&mut self, bytes: &[u8], recv: Nanos) {
        self.counters.increment(GatewayCounter::Messages);
        match decode_inbound(bytes) {
            Err(_) => self.counters.increment(GatewayCounter::DecodeErrors),
            Ok(Inbound::Response(r)) => self.on_response(&r, recv),
            Ok(Inbound::Execution(ev)) => self.on_execution(&ev, recv),
            Ok(Inbound::AccountPosition | Inbound::BalanceUpdate | Inbound::OtherEvent(_)) => {
                self.counters.increment(GatewayCounter::AccountEvents);
            }
            Ok(Inbound::SessionEvent(kind)) => {
                self.counters.increment(GatewayCounter::SessionEvents);
                match kind {
                    SessionEventKind::ServerShutdown | SessionEventKind::EventStreamTerminated => {
                        self.reconnect_requested = true;
                    }
                }
            }
        }
    }

    fn breaker_failure(&mut self, now: Nanos) {
        self.breaker.on_failure(now);
        self.mirror_breaker();
    }

    fn breaker_success(&mut self, now: Nanos) {
        self.breaker.on_success(now);
    }

    fn breaker_allow(&mut self, now: Nanos) -> bool {
        let ok = self.breaker.allow(now);
        self.mirror_breaker();
        ok
    }

    fn mirror_breaker(&mut self) {
        let opens = self.breaker.counters().opens;
        if opens > self.breaker_opens_seen {
            self.counters.add(
                GatewayCounter::BreakerOpens,
                opens - self.breaker_opens_seen,
            );
            self.breaker_opens_seen = opens;
        }
    }

    fn on_response(&mut self, r: &Response<'_>, recv: Nanos) {
        let now = recv;
        if !r.rate_limits.is_empty() {
            self.limiter.on_venue_usage(&r.rate_limits, now);
        }
        if r.status == 429 || r.status == 418 {
            let server_now = self.server_time.timestamp_ms(Nanos(unix_nanos()));
            let until = r
                .retry_after_ms
                .map(|ms| retry_after_local(ms, server_now, now));
            if r.status == 429 {
                self.counters.increment(GatewayCounter::RateLimited429);
                self.limiter.on_429(until, now);
            } else {
                self.counters.increment(GatewayCounter::Banned418);
                self.limiter.on_418(until, now);
            }
            self.breaker_failure(now);
        }
        let Some(id) = r.id else {
            // An unsolicited error (e.g. the key was revoked: -2015).
            self.counters.increment(GatewayCounter::SessionEvents);
            if let Some(e) = r.error {
                self.counters.venue_code(VenueCode::of(r.status, e.code));
                self.reconnect_requested = true;
            }
            return;
        };
        let Some(p) = self.pending.take(id) else {
            self.counters.increment(GatewayCounter::UnmatchedResponses);
            return;
        };
        match p.kind {
            ReqKind::Time => self.on_time(r, &p, recv),
            ReqKind::ExchangeInfo => self.on_exchange_info(r),
            ReqKind::Logon | ReqKind::Subscribe => self.on_sync_step(r),
            ReqKind::OpenOrders(_) => self.on_open_orders(r, &p, recv),
            ReqKind::Place => self.on_place(r, &p, recv),
            ReqKind::Cancel | ReqKind::CancelAll => self.on_cancel(r, &p, recv),
            ReqKind::Status => self.on_status(r, &p, recv),
        }
    }

    /// A sync request failed: count it, start over on a new connection.
    fn sync_failed(&mut self, r: &Response<'_>) {
        self.counters.increment(GatewayCounter::SyncFailures);
        if let Some(e) = r.error {
            self.counters.venue_code(VenueCode::of(r.status, e.code));
        }
        self.reconnect_requested = true;
    }

    fn on_time(&mut self, r: &Response<'_>, p: &Pending, recv: Nanos) {
        let Some(ms) = r.result.and_then(|res| decode_server_time(res).ok()) else {
            return self.sync_failed(r);
        };
        // Wall-clock receive time, derived from the monotonic stamps so
        // the sample's round trip is exactly the measured one.
        let rtt = recv.saturating_elapsed_since(p.sent_at);
        self.server_time
            .on_sample(p.sent_unix, p.sent_unix.saturating_add(rtt), ms);
        if self.phase == Phase::Time {
            self.time_got += 1;
            self.in_flight = false;
            if self.time_got >= self.s.time_samples {
                self.phase = Phase::ExchangeInfo;
            }
        }
    }

    fn on_exchange_info(&mut self, r: &Response<'_>) {
        let Some(limits) = r
            .result
            .and_then(|res| decode_exchange_rate_limits(res).ok())
        else {
            return self.sync_failed(r);
        };
        // Per connection (cold): rebuilt only when the venue's limits
        // changed, so the counts of the last windows survive a reconnect.
        if self.limits_seen != Some(limits) {
            match RateLimiter::new(&limits, self.limiter_cfg) {
                Ok(l) => {
                    self.limiter = l;
                    self.limits_seen = Some(limits);
                }
                Err(_) => return self.sync_failed(r),
            }
        }
        if self.phase == Phase::ExchangeInfo {
            self.in_flight = false;
            self.phase = match self.signer {
                Signer::Ed25519(_) => Phase::Logon,
                Signer::Hmac(_) => Phase::Subscribe,
            };
        }
    }

    fn on_sync_step(&mut self, r: &Response<'_>) {
        if r.error.is_some() || r.status != 200 {
            return self.sync_failed(r);
        }
        self.in_flight = false;
        self.phase = match self.phase {
            Phase::Logon => Phase::Subscribe,
            Phase::Subscribe => Phase::OpenOrders,
            other => other,
        };
    }

    fn on_open_orders(&mut self, r: &Response<'_>, p: &Pending, recv: Nanos) {
        if r.error.is_some() || r.status != 200 {
            return self.sync_failed(r);
        }
        if let Some(res) = r.result {
            for o in OrderResults::new(res) {
                match o {
                    Ok(o) => self.adopt(&o, p.instrument, true, recv),
                    Err(_) => self.counters.increment(GatewayCounter::DecodeErrors),
                }
            }
        }
        if self.phase == Phase::OpenOrders {
            self.open_left = self.open_left.saturating_sub(1);
            if self.open_left == 0 {
                self.finish_resync(recv);
            }
        }
    }

    fn on_place(&mut self, r: &Response<'_>, p: &Pending, recv: Nanos) {
        let id = p.client_order_id;
        let now = recv;
        if let Some(e) = r.error {
            let bucket = VenueCode::of(r.status, e.code);
            let unknown_outcome = r.status >= 500 || e.code == -1007;
            if unknown_outcome {
                // The order may or may not exist: Unknown, then query.
                self.breaker_failure(now);
                self.counters.venue_code(bucket);
                if self.t_apply(&id, OrderEvent::AckTimeout).is_ok() {
                    let (inst, side) = self
                        .t_instrument_side(&id)
                        .unwrap_or((p.instrument, Side::Buy));
                    let rep = self.local_report(inst, side, id, OrderStatus::Unknown, e.code, recv);
                    self.emit(rep);
                    let _ = self.queries.push((inst, id));
                }
                return;
            }
            if !r.is_rate_limited() {
                // A business reject: the venue answered; not a failure.
                self.breaker_success(now);
            }
            self.counters.increment(GatewayCounter::VenueRejects);
            self.counters.venue_code(bucket);
            let (inst, side) = self
                .t_instrument_side(&id)
                .unwrap_or((p.instrument, Side::Buy));
            match self.t_apply(&id, OrderEvent::Rejected) {
                Ok(_) => {
                    self.t_remove(&id);
                    let rep =
                        self.local_report(inst, side, id, OrderStatus::Rejected, e.code, recv);
                    self.emit(rep);
                }
                Err(_) => self.counters.increment(GatewayCounter::IllegalTransitions),
            }
            return;
        }
        self.breaker_success(now);
        let Some(res) = r.result else { return };
        let Ok(o) = decode_order_result(res) else {
            self.counters.increment(GatewayCounter::DecodeErrors);
            return;
        };
        // The ack: New, unless the user-data stream got there first.
        if matches!(
            self.t_status(&id),
            Some(OrderStatus::PendingNew | OrderStatus::Unknown)
        ) && self.t_apply(&id, OrderEvent::Acked).is_ok()
        {
            self.counters.increment(GatewayCounter::Acks);
            let (inst, side) = self
                .t_instrument_side(&id)
                .unwrap_or((p.instrument, Side::Buy));
            let mut rep = self.local_report(inst, side, id, OrderStatus::New, 0, recv);
            rep.venue_order_id = o.order_id;
            rep.venue_time_ms = o.time_ms.unwrap_or(0);
            self.emit(rep);
        }
    }

    fn on_cancel(&mut self, r: &Response<'_>, p: &Pending, recv: Nanos) {
        let now = recv;
        let Some(e) = r.error else {
            self.breaker_success(now);
            // The user-data stream reports the cancellation itself.
            return;
        };
        if r.is_rate_limited() {
            // Not applied: send again once the limiter allows.
            let mut cmd = if p.kind == ReqKind::CancelAll {
                OrderCommand::cancel_all(p.instrument)
            } else {
                OrderCommand::cancel(p.instrument, p.client_order_id)
            };
            cmd.side = self
                .t_instrument_side(&p.client_order_id)
                .map_or(Side::Buy, |x| x.1);
            let _ = self.cancel_q.push_front(cmd);
            return;
        }
        if r.status >= 500 || e.code == -1007 {
            self.breaker_failure(now);
            if p.kind == ReqKind::Cancel && self.t_status(&p.client_order_id).is_some() {
                let _ = self.queries.push((p.instrument, p.client_order_id));
            }
        } else {
            self.breaker_success(now);
        }
        self.counters.increment(GatewayCounter::CancelRejects);
        self.counters.venue_code(VenueCode::of(r.status, e.code));
        if p.kind == ReqKind::Cancel {
            let id = p.client_order_id;
            let status = self.t_status(&id).unwrap_or(OrderStatus::Rejected);
            let side = self.t_instrument_side(&id).map_or(Side::Buy, |x| x.1);
            let rep = self.local_report(p.instrument, side, id, status, e.code, recv);
            self.emit(rep);
        }
    }

    fn on_status(&mut self, r: &Response<'_>, p: &Pending, recv: Nanos) {
        let id = p.client_order_id;
        if let Some(e) = r.error {
            if e.code == -2013 {
                // The order never reached the venue.
                if matches!(
                    self.t_status(&id),
                    Some(OrderStatus::PendingNew | OrderStatus::Unknown)
                ) {
                    let (inst, side) = self
                        .t_instrument_side(&id)
                        .unwrap_or((p.instrument, Side::Buy));
                    if self.t_apply(&id, OrderEvent::Rejected).is_ok() {
                        self.t_remove(&id);
                        self.counters.increment(GatewayCounter::OrdersNeverPlaced);
                        let rep =
                            self.local_report(inst, side, id, OrderStatus::Rejected, -2013, recv);
                        self.emit(rep);
                    }
                }
                return;
            }
            // Try again (after the limiter allows).
            if self.t_status(&id).is_some() {
                let _ = self.queries.push((p.instrument, id));
            }
            return;
        }
        let Some(res) = r.result else { return };
        match decode_order_result(res) {
            Ok(o) => self.adopt(&o, p.instrument, false, recv),
            Err(_) => self.counters.increment(GatewayCounter::DecodeErrors),
        }
    }

    /// Applies the venue's view of an order (status query, open-order
    /// list): adopt its state, report any cumulative quantity increase.
    /// With `insert_unknown`, an open order the table does not hold (placed
    /// by an earlier session) is adopted into it.
    fn adopt(
        &mut self,
        o: &OrderResult<'_>,
        instrument: InstrumentId,
        insert_unknown: bool,
        recv: Nanos,
    ) {
        let id = o.order_client_id();
        let Some(status) = o.order_status() else {
            return;
        };
        let executed = o.executed_qty.unwrap_or(Qty::ZERO);
        if self.t_status(&id).is_none() {
            if !insert_unknown || status.is_terminal() {
                return;
            }
            let side = o.side.unwrap_or(Side::Buy);
            let mut cmd = OrderCommand::new_order(
                instrument,
                side,
                o.talon_order_type()
                    .unwrap_or(talon_core::event::OrderType::Limit),
                talon_core::event::TimeInForce::Gtc,
                o.price.unwrap_or(Price::ZERO),
                o.orig_qty.unwrap_or(Qty::ZERO),
                id,
            );
            cmd.side = side;
            if !self.t_insert_pending(&cmd, recv) {
                return;
            }
        }
        let before = self.t_cum(&id);
        if executed < before {
            self.counters.increment(GatewayCounter::StaleExecEvents);
            return;
        }
        let prev = self.t_status(&id);
        let new_status = match self.t_apply(&id, OrderEvent::StatusResolved(status)) {
            Ok(s) => s,
            Err(_) => {
                self.counters.increment(GatewayCounter::IllegalTransitions);
                return;
            }
        };
        self.counters.increment(GatewayCounter::OrdersAdopted);
        let delta = Qty::from_raw(executed.raw() - before.raw());
        if Some(new_status) == prev && delta.is_zero() {
            return;
        }
        self.t_set_cum(&id, executed, o.order_id);
        let (inst, side) = self
            .t_instrument_side(&id)
            .unwrap_or((instrument, Side::Buy));
        let mut rep = self.local_report(inst, side, id, new_status, 0, recv);
        rep.venue_order_id = o.order_id;
        rep.cum_qty = executed;
        rep.last_qty = delta;
        rep.venue_time_ms = o.update_time_ms.or(o.time_ms).unwrap_or(0);
        if delta.is_positive() {
            // Average price of the whole order: the fills themselves are
            // not in a status answer (no trade id, no fee).
            rep.last_price = avg_price(o.cum_quote.unwrap_or(Qty::ZERO), executed);
            self.counters.increment(GatewayCounter::Fills);
        }
        if prev == Some(OrderStatus::PendingNew) || prev == Some(OrderStatus::Unknown) {
            self.counters.increment(GatewayCounter::Acks);
        }
        self.emit(rep);
        if new_status.is_terminal() {
            self.t_remove(&id);
        }
    }

    fn on_execution(&mut self, ev: &ExecutionEvent<'_>, recv: Nanos) {
        let id = if ev.orig_client_order_id.is_empty() {
            ev.client_order_id
        } else {
            ev.orig_client_order_id
        };
        let Some(prev) = self.t_status(&id) else {
            self.counters.increment(GatewayCounter::UnknownOrderEvents);
            return;
        };
        let Some(slot) = self.slot_of_symbol(ev.symbol) else {
            self.counters.increment(GatewayCounter::UnknownOrderEvents);
            return;
        };
        match ev.exec_type {
            ExecType::Replaced => return,
            // Already acked by the order.place response.
            ExecType::New if !matches!(prev, OrderStatus::PendingNew | OrderStatus::Unknown) => {
                return;
            }
            _ => {}
        }
        if ev.cum_qty < self.t_cum(&id) {
            self.counters.increment(GatewayCounter::StaleExecEvents);
            return;
        }
        let s = self.slots[slot];
        let mut rep = ev.to_exec_report(s.id, s.base.as_str(), s.quote.as_str(), self.stamps(recv));
        rep.client_order_id = id;
        let status = match self.table.on_report(&rep) {
            Ok(ReportOutcome::Applied(st)) => st,
            Ok(ReportOutcome::DuplicateTrade) => {
                self.counters
                    .increment(GatewayCounter::DuplicateTradesDropped);
                return;
            }
            Err(TableError::NotFound) => {
                self.counters.increment(GatewayCounter::UnknownOrderEvents);
                return;
            }
            Err(_) => {
                self.counters.increment(GatewayCounter::IllegalTransitions);
                return;
            }
        };
        rep.status = status;
        if ev.exec_type == ExecType::New {
            self.counters.increment(GatewayCounter::Acks);
        }
        if rep.last_qty.is_positive() {
            self.counters.increment(GatewayCounter::Fills);
        }
        if ev.exec_type == ExecType::Rejected {
            self.counters.increment(GatewayCounter::VenueRejects);
        }
        self.emit(rep);
        if status.is_terminal() {
            self.t_remove(&id);
        }
    }

    // ------------------------------------------------------------------
    // Timers and connection loss
    // ------------------------------------------------------------------

    /// Orders past their ack deadline become Unknown and are queried.
    pub(crate) fn check_ack_deadlines(&mut self, now: Nanos) -> usize {
        let mut work = 0;
        while let Some((deadline, id)) = self.deadlines.front().copied() {
            if self.t_status(&id) != Some(OrderStatus::PendingNew) {
                self.deadlines.pop();
                continue;
            }
            if now < deadline {
                break;
            }
            self.deadlines.pop();
            work += 1;
            if self.t_apply(&id, OrderEvent::AckTimeout).is_err() {
                self.counters.increment(GatewayCounter::IllegalTransitions);
                continue;
            }
            self.counters.increment(GatewayCounter::AckTimeouts);
            self.breaker_failure(now);
            if let Some((inst, side)) = self.t_instrument_side(&id) {
                let rep = self.local_report(inst, side, id, OrderStatus::Unknown, 0, now);
                self.emit(rep);
                if self.phase == Phase::Ready {
                    // While disconnected the resync queries it.
                    let _ = self.queries.push((inst, id));
                }
            }
        }
        work
    }

    /// Gives up requests that got no answer in time.
    pub(crate) fn check_request_timeouts(&mut self, now: Nanos) -> usize {
        if now.saturating_elapsed_since(self.last_scan) < SCAN_INTERVAL_NS
            || self.pending.live() == 0
        {
            return 0;
        }
        self.last_scan = now;
        let timeout = self.s.request_timeout_ns;
        let mut expired_sync = false;
        let mut n = 0usize;
        let Core {
            pending,
            queries,
            cancel_q,
            ..
        } = self;
        pending.remove_where(|p| {
            if now.saturating_elapsed_since(p.sent_at) < timeout {
                return false;
            }
            n += 1;
            match p.kind {
                ReqKind::Time
                | ReqKind::ExchangeInfo
                | ReqKind::Logon
                | ReqKind::Subscribe
                | ReqKind::OpenOrders(_) => expired_sync = true,
                ReqKind::Status => {
                    let _ = queries.push((p.instrument, p.client_order_id));
                }
                ReqKind::Cancel => {
                    let _ = cancel_q.push(OrderCommand::cancel(p.instrument, p.client_order_id));
                }
                ReqKind::CancelAll => {
                    let _ = cancel_q.push(OrderCommand::cancel_all(p.instrument));
                }
                // The ack deadline handles orders.
                ReqKind::Place => {}
            }
            true
        });
        self.counters.add(GatewayCounter::RequestTimeouts, n as u64);
        if expired_sync {
            self.reconnect_requested = true;
        }
        n
    }

    /// The connection is gone: in-flight cancels and queries are queued
    /// again, queued new orders are refused (-9003), orders awaiting an ack
    /// stay in the table for the resync to resolve (never resent).
    pub(crate) fn on_connection_lost(&mut self, now: Nanos, was_open: bool) {
        self.phase = Phase::Down;
        self.in_flight = false;
        self.time_got = 0;
        self.open_left = 0;
        self.reconnect_requested = false;
        if was_open {
            self.breaker_failure(now);
        }
        let Core {
            pending,
            queries,
            cancel_q,
            ..
        } = self;
        pending.remove_where(|p| {
            match p.kind {
                ReqKind::Cancel => {
                    let _ = cancel_q.push(OrderCommand::cancel(p.instrument, p.client_order_id));
                }
                ReqKind::CancelAll => {
                    let _ = cancel_q.push(OrderCommand::cancel_all(p.instrument));
                }
                ReqKind::Status => {
                    let _ = queries.push((p.instrument, p.client_order_id));
                }
                _ => {}
            }
            true
        });
        // The resync queries every open order of the table anyway.
        while self.queries.pop().is_some() {}
        self.reject_queued_new(LocalReject::NotConnected, now);
    }

    /// The WebSocket opened: start the sync.
    pub(crate) fn on_opened(&mut self) {
        self.phase = Phase::Time;
        self.in_flight = false;
        self.time_got = 0;
        self.open_left = 0;
    }
}

/// `cum_quote / executed` as a price (0 when nothing executed).
fn avg_price(cum_quote: Qty, executed: Qty) -> Price {
    if executed.raw() <= 0 {
        return Price::ZERO;
    }
    let p = i128::from(cum_quote.raw()) * i128::from(SCALE) / i128::from(executed.raw());
    Price::from_raw(i64::try_from(p).unwrap_or(i64::MAX))
}

// ----------------------------------------------------------------------
// The order table, through the few operations the agent needs.
// ----------------------------------------------------------------------

fn t_for_each_open(
    table: &OrderTable,
    mut f: impl FnMut(ClientOrderId, InstrumentId, OrderStatus),
) {
    for o in table.open_orders() {
        f(o.client_order_id, o.instrument, o.status);
    }
}

impl<C: NanoClock> Core<C> {
    pub(crate) fn t_status(&self, id: &ClientOrderId) -> Option<OrderStatus> {
        self.table.get(id).map(|o| o.status)
    }

    fn t_instrument_side(&self, id: &ClientOrderId) -> Option<(InstrumentId, Side)> {
        self.table.get(id).map(|o| (o.instrument, o.side))
    }

    fn t_insert_pending(&mut self, cmd: &OrderCommand, now: Nanos) -> bool {
        self.table
            .insert(OrderEntry::pending(
                cmd.client_order_id,
                cmd.instrument,
                cmd.side,
                cmd.order_type,
                cmd.price,
                cmd.qty,
                now,
            ))
            .is_ok()
    }

    fn t_apply(&mut self, id: &ClientOrderId, ev: OrderEvent) -> Result<OrderStatus, TableError> {
        let now = self.clock.now();
        self.table.apply(id, ev, now)
    }

    fn t_cum(&self, id: &ClientOrderId) -> Qty {
        self.table.get(id).map_or(Qty::ZERO, |o| o.cum_qty)
    }

    fn t_set_cum(&mut self, id: &ClientOrderId, q: Qty, venue_order_id: u64) {
        if let Some(o) = self.table.get_mut(id) {
            if q > o.cum_qty {
                o.cum_qty = q;
            }
            if venue_order_id != 0 {
                o.venue_order_id = venue_order_id;
            }
        }
    }

    pub(crate) fn t_remove(&mut self, id: &ClientOrderId) {
        let _ = self.table.remove(id);
    }
}
