//! The simulator's order side on the wire: the WebSocket API at
//! `/ws-api/v3` ([`wsapi`]) and the REST order endpoints ([`rest`]) in front
//! of the exchange core ([`crate::exchange`]), with authentication
//! ([`auth`]), parameters ([`params`]), the venue's rate limits
//! ([`limits`]), response rendering ([`render`]), order-side fault
//! injection, the order log, and user data delivery to subscribed WebSocket
//! API connections.
//!
//! Both protocols share [`OrderApi::exec`]: the same validation, the same
//! venue error codes and messages, the same exchange calls. Every exchange
//! call (and every generator step, see `server.rs`) is followed by handing
//! the events it queued to the account's subscribed connections, in the
//! order they happened (a dispatch lock taken before the exchange lock is
//! released keeps that order across threads).
//!
//! Choices where the venue's behaviour is not documented: an unknown
//! method is -1020 "This operation is not supported."; malformed request
//! JSON is -1135 "Invalid JSON Request"; `session.logon` with a key that
//! has no Ed25519 public key is -1022; `userDataStream.subscribe` without a
//! logon is -1002; the simulator's supported order types are LIMIT, MARKET,
//! LIMIT_MAKER (stop/take-profit types are -1013).
//!
//! This module never matches orders (the exchange does), never reads the
//! socket directly (`conn.rs` hands it messages and requests) and never
//! moves the simulated market.

pub(crate) mod auth;
pub(crate) mod limits;
pub(crate) mod params;
pub(crate) mod render;
pub(crate) mod rest;
pub(crate) mod wsapi;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::config::{OrderFaults, SimConfig};
use crate::exchange::{
    AccountId, Exchange, ExecType, NewOrder, OrderKind, OrderRef, OrderSide, StpMode, Tif,
    UserEvent, VenueOrderStatus,
};
use crate::market::BookView;
use crate::server::Shared;
use crate::stats::inc;
use limits::{Limiter, RateLimitStats};
use params::{Params, missing};
use render::RespType;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoning means a connection thread panicked; the data is plain state.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A venue error as the order side renders it: HTTP/WS status, code, msg,
/// optional `data` (raw JSON) and, for 429/418, when to retry (epoch ms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiErr {
    pub(crate) status: u16,
    pub(crate) code: i32,
    pub(crate) msg: String,
    pub(crate) data: Option<Vec<u8>>,
    pub(crate) retry_after_ms: Option<u64>,
}

impl ApiErr {
    pub(crate) fn new(status: u16, code: i32, msg: String) -> ApiErr {
        ApiErr {
            status,
            code,
            msg,
            data: None,
            retry_after_ms: None,
        }
    }

    pub(crate) fn retry_at(mut self, ms: u64) -> ApiErr {
        self.retry_after_ms = Some(ms);
        self
    }

    /// `{"code":…,"msg":…}` (REST body; also inside cancelReplace data).
    pub(crate) fn body(&self) -> Vec<u8> {
        crate::http::error_body(i64::from(self.code), &self.msg)
    }
}

impl From<crate::exchange::ApiError> for ApiErr {
    fn from(e: crate::exchange::ApiError) -> ApiErr {
        ApiErr::new(400, e.code, e.msg)
    }
}

/// One order request the simulator received (`order.place`, `POST
/// /api/v3/order`, the new order of a cancel-replace), in arrival order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedOrder {
    /// The authenticated account (`None` when authentication failed).
    pub account: Option<AccountId>,
    /// The API key sent ("" if none).
    pub api_key: String,
    /// `newClientOrderId` as sent, or the generated one ("" if the request
    /// failed before one was assigned).
    pub client_order_id: String,
    /// The exchange accepted the order.
    pub accepted: bool,
    /// The error code when not accepted.
    pub code: Option<i32>,
    /// `"ws"` or `"rest"`.
    pub via: &'static str,
}

/// What the wire layer does with a reply (order faults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    /// Send the reply after this delay.
    Delay(Duration),
    /// Close the connection abruptly instead of replying.
    Drop,
}

/// The result of one order-side method.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) result: Result<Vec<u8>, ApiErr>,
    /// The request was an order placement (report ORDERS usage).
    pub(crate) orders: bool,
    pub(crate) fault: Fault,
}

impl Outcome {
    fn ok(body: Vec<u8>) -> Outcome {
        Outcome {
            result: Ok(body),
            orders: false,
            fault: Fault::None,
        }
    }

    fn err(e: ApiErr) -> Outcome {
        Outcome {
            result: Err(e),
            orders: false,
            fault: Fault::None,
        }
    }
}

/// Where user data for a WebSocket API connection goes (implemented by the
/// connection module).
pub(crate) trait Sink: Send + Sync + fmt::Debug {
    /// Queues a text frame for the connection.
    fn send(&self, sh: &Shared, text: Vec<u8>);
}

#[derive(Debug)]
struct Sub {
    conn: u64,
    id: u64,
    account: AccountId,
    sink: Arc<dyn Sink>,
}

/// The order log: the newest [`LOG_CAPACITY`] requests, and how many older
/// ones were dropped.
#[derive(Debug, Default)]
struct OrderLog {
    entries: std::collections::VecDeque<ReceivedOrder>,
    dropped: u64,
}

/// Runtime fault state.
#[derive(Debug, Default)]
struct FaultState {
    cfg: OrderFaults,
    accepted: u64,
}

/// Order methods shared by the two protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Place,
    Cancel,
    CancelReplace,
    CancelAll,
    Status,
    OpenOrders,
    Account,
}

impl Method {
    /// Venue request weight.
    pub(crate) fn weight(self, p: &Params) -> u64 {
        match self {
            Method::Place | Method::Cancel | Method::CancelReplace | Method::CancelAll => 1,
            Method::Status => 4,
            Method::OpenOrders => {
                if p.opt("symbol").is_some() {
                    6
                } else {
                    80
                }
            }
            Method::Account => 20,
        }
    }
}

/// The order side's shared state.
#[derive(Debug)]
pub(crate) struct OrderApi {
    pub(crate) exchange: Mutex<Exchange>,
    pub(crate) limiter: Limiter,
    faults: Mutex<FaultState>,
    log: Mutex<OrderLog>,
    subs: Mutex<Vec<Sub>>,
    /// Held while events are handed out (taken before the exchange lock is
    /// released, so events of different threads keep their order).
    dispatch: Mutex<()>,
    next_conn: AtomicU64,
    next_sub: AtomicU64,
    id_seq: AtomicU64,
    id_salt: u64,
}

/// Events taken from the exchange, to be delivered (holds the dispatch
/// lock so nothing overtakes them).
pub(crate) struct Pending<'a> {
    _guard: MutexGuard<'a, ()>,
    events: Vec<(AccountId, UserEvent)>,
}

impl OrderApi {
    pub(crate) fn new(cfg: &SimConfig) -> OrderApi {
        OrderApi {
            exchange: Mutex::new(Exchange::new(&cfg.symbols, &cfg.accounts, cfg.fees)),
            limiter: Limiter::new(cfg.rate_limits.clone()),
            faults: Mutex::new(FaultState {
                cfg: cfg.order_faults.clone(),
                accepted: 0,
            }),
            log: Mutex::new(OrderLog::default()),
            subs: Mutex::new(Vec::new()),
            dispatch: Mutex::new(()),
            next_conn: AtomicU64::new(1),
            next_sub: AtomicU64::new(0),
            id_seq: AtomicU64::new(0),
            id_salt: cfg.seed ^ crate::http::now_ms(),
        }
    }

    /// A fresh connection id (for subscriptions).
    pub(crate) fn conn_id(&self) -> u64 {
        // Relaxed: a unique-id counter.
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// A random-looking 22-character client order id, like the venue's.
    pub(crate) fn gen_client_id(&self) -> String {
        // Relaxed: a unique-id counter.
        gen_id(self.id_salt, self.id_seq.fetch_add(1, Ordering::Relaxed))
    }

    /// Current order faults.
    pub(crate) fn faults(&self) -> OrderFaults {
        lock(&self.faults).cfg.clone()
    }

    /// Replaces the order faults (the accepted-order counter keeps going).
    pub(crate) fn set_faults(&self, f: OrderFaults) {
        lock(&self.faults).cfg = f;
    }

    /// Changes the order faults in place.
    pub(crate) fn update_faults(&self, f: impl FnOnce(&mut OrderFaults)) {
        f(&mut lock(&self.faults).cfg);
    }

    /// The order log.
    pub(crate) fn orders_received(&self) -> Vec<ReceivedOrder> {
        lock(&self.log).entries.iter().cloned().collect()
    }

    pub(crate) fn rate_limit_stats(&self) -> RateLimitStats {
        self.limiter.stats()
    }

    /// Logs one order request. The strings are the client's (a banned or
    /// unauthenticated client included), so each is clipped and the log
    /// keeps the newest [`LOG_CAPACITY`] entries: a hostile client cannot
    /// grow the simulator's memory without bound.
    fn record(&self, mut r: ReceivedOrder) {
        r.api_key = clip(r.api_key);
        r.client_order_id = clip(r.client_order_id);
        let mut log = lock(&self.log);
        if log.entries.len() >= LOG_CAPACITY {
            log.entries.pop_front();
            log.dropped += 1;
        }
        log.entries.push_back(r);
    }

    /// Entries dropped from the full order log (oldest first).
    pub(crate) fn orders_dropped_from_log(&self) -> u64 {
        lock(&self.log).dropped
    }

    /// Takes the exchange's queued events under its lock and the dispatch
    /// lock.
    pub(crate) fn take<'a>(&'a self, ex: &mut Exchange) -> Pending<'a> {
        let guard = lock(&self.dispatch);
        Pending {
            _guard: guard,
            events: ex.take_events(),
        }
    }

    /// Delivers events to every subscribed connection of their account;
    /// an order's first fill gives back its unfilled-order count.
    pub(crate) fn deliver(&self, sh: &Shared, pending: Pending<'_>) {
        if pending.events.is_empty() {
            return;
        }
        let now = crate::http::now_ms();
        let subs = lock(&self.subs);
        for (account, ev) in &pending.events {
            if let UserEvent::Execution(r) = ev
                && r.exec_type == ExecType::Trade
            {
                if let Some(f) = &r.fill
                    && f.qty == r.order.executed_qty
                {
                    self.limiter.order_filled(*account, now);
                }
                if r.order.status == VenueOrderStatus::Filled {
                    inc(&sh.stats.orders_filled);
                }
            }
            let mut payload: Option<Vec<u8>> = None;
            for s in subs.iter().filter(|s| s.account == *account) {
                let p = payload.get_or_insert_with(|| render::user_event(ev));
                s.sink.send(sh, render::wrap_event(s.id, p));
                inc(&sh.stats.user_events_sent);
            }
        }
    }

    /// Calls `f` on the exchange and delivers what it queued.
    pub(crate) fn with_exchange<R>(&self, sh: &Shared, f: impl FnOnce(&mut Exchange) -> R) -> R {
        self.with_exchange_then(sh, f, |_| {})
    }

    /// As [`Self::with_exchange`], running `before_delivery` on the result
    /// before the user data it caused goes out (so the order log holds an
    /// order before any client can see its `executionReport`).
    pub(crate) fn with_exchange_then<R>(
        &self,
        sh: &Shared,
        f: impl FnOnce(&mut Exchange) -> R,
        before_delivery: impl FnOnce(&R),
    ) -> R {
        let mut ex = lock(&self.exchange);
        let r = f(&mut ex);
        before_delivery(&r);
        let pending = self.take(&mut ex);
        drop(ex);
        self.deliver(sh, pending);
        r
    }

    /// Adds a user data subscription; returns its id.
    pub(crate) fn subscribe(&self, conn: u64, account: AccountId, sink: Arc<dyn Sink>) -> u64 {
        // Relaxed: a unique-id counter.
        let id = self.next_sub.fetch_add(1, Ordering::Relaxed);
        lock(&self.subs).push(Sub {
            conn,
            id,
            account,
            sink,
        });
        id
    }

    /// Removes one subscription of the connection (`None`: all of them);
    /// returns how many were removed.
    pub(crate) fn unsubscribe(&self, conn: u64, id: Option<u64>) -> usize {
        let mut subs = lock(&self.subs);
        let before = subs.len();
        subs.retain(|s| !(s.conn == conn && id.is_none_or(|i| i == s.id)));
        before - subs.len()
    }

    /// The connection's subscriptions (id, account).
    pub(crate) fn subscriptions(&self, conn: u64) -> Vec<(u64, AccountId)> {
        lock(&self.subs)
            .iter()
            .filter(|s| s.conn == conn)
            .map(|s| (s.id, s.account))
            .collect()
    }

    /// The simulated book for an order (empty in replay mode).
    fn book(sh: &Shared, symbol: &str) -> BookView {
        let empty = || BookView {
            symbol: symbol.to_string(),
            last_update_id: 0,
            bids: Vec::new(),
            asks: Vec::new(),
        };
        let Some(m) = &sh.market else {
            return empty();
        };
        let m = lock(m);
        m.symbol_index(symbol)
            .and_then(|i| m.view(i, usize::MAX))
            .unwrap_or_else(empty)
    }

    fn known_symbol(sh: &Shared, p: &Params) -> Result<String, ApiErr> {
        let s = p.req("symbol")?;
        if sh.cfg.symbols.iter().any(|x| x.symbol == s) {
            Ok(s.to_string())
        } else {
            Err(ApiErr::new(400, -1121, "Invalid symbol.".into()))
        }
    }

    /// Runs one order method for an authenticated account.
    pub(crate) fn exec(
        &self,
        sh: &Shared,
        m: Method,
        p: &Params,
        account: AccountId,
        api_key: &str,
        via: &'static str,
    ) -> Outcome {
        let now = crate::http::now_ms();
        match m {
            Method::Place => self.place(sh, p, account, api_key, via, now),
            Method::Cancel => {
                let r = (|| {
                    let symbol = Self::known_symbol(sh, p)?;
                    let which = order_ref(p, "orderId", "origClientOrderId")?;
                    let new_id = self.new_client_id(p, "newClientOrderId")?;
                    let restrictions = p.opt("cancelRestrictions");
                    let v = self.with_exchange(sh, |ex| {
                        check_restrictions(ex, account, &symbol, &which, restrictions)?;
                        ex.cancel(account, &symbol, &which, &new_id, now)
                            .map_err(ApiErr::from)
                    })?;
                    Ok(render::cancel_report(&v))
                })();
                let mut o = match r {
                    Ok(b) => Outcome::ok(b),
                    Err(e) => Outcome::err(e),
                };
                o.fault = self.reply_delay();
                o
            }
            Method::CancelReplace => self.cancel_replace(sh, p, account, api_key, via, now),
            Method::CancelAll => {
                let r = (|| {
                    let symbol = Self::known_symbol(sh, p)?;
                    let v = self.with_exchange(sh, |ex| {
                        ex.cancel_all(account, &symbol, now).map_err(ApiErr::from)
                    })?;
                    let items: Vec<Vec<u8>> = v.iter().map(render::cancel_report).collect();
                    Ok(render::array(&items))
                })();
                let mut o = match r {
                    Ok(b) => Outcome::ok(b),
                    Err(e) => Outcome::err(e),
                };
                o.fault = self.reply_delay();
                o
            }
            Method::Status => {
                let r = (|| {
                    let symbol = Self::known_symbol(sh, p)?;
                    let which = order_ref(p, "orderId", "origClientOrderId")?;
                    let v = lock(&self.exchange).status(account, &symbol, &which)?;
                    Ok(render::order_status(&v))
                })();
                match r {
                    Ok(b) => Outcome::ok(b),
                    Err(e) => Outcome::err(e),
                }
            }
            Method::OpenOrders => {
                let r = (|| {
                    let symbol = match p.opt("symbol") {
                        Some(_) => Some(Self::known_symbol(sh, p)?),
                        None => None,
                    };
                    let v = lock(&self.exchange).open_orders(account, symbol.as_deref());
                    let items: Vec<Vec<u8>> = v.iter().map(render::order_status).collect();
                    Ok(render::array(&items))
                })();
                match r {
                    Ok(b) => Outcome::ok(b),
                    Err(e) => Outcome::err(e),
                }
            }
            Method::Account => match p.opt_bool("omitZeroBalances") {
                Ok(omit) => {
                    let a = lock(&self.exchange).account(account);
                    Outcome::ok(render::account(
                        &a,
                        1_000_000 + u64::from(account.0),
                        omit.unwrap_or(false),
                    ))
                }
                Err(e) => Outcome::err(e),
            },
        }
    }

    fn reply_delay(&self) -> Fault {
        let d = lock(&self.faults).cfg.ack_delay;
        if d.is_zero() {
            Fault::None
        } else {
            Fault::Delay(d)
        }
    }

    fn new_client_id(&self, p: &Params, key: &str) -> Result<String, ApiErr> {
        match p.opt(key) {
            None => Ok(self.gen_client_id()),
            Some(id) => {
                if id.len() <= 36
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                {
                    Ok(id.to_string())
                } else {
                    Err(ApiErr::new(
                        400,
                        -1100,
                        format!(
                            "Illegal characters found in parameter '{key}'; legal range is '^[a-zA-Z0-9-_.]{{1,36}}$'."
                        ),
                    ))
                }
            }
        }
    }

    /// Parses and validates a new order; returns it and its response type.
    fn parse_order(&self, sh: &Shared, p: &Params) -> Result<(NewOrder, RespType), ApiErr> {
        let symbol = Self::known_symbol(sh, p)?;
        let side = match p.req("side")? {
            "BUY" => OrderSide::Buy,
            "SELL" => OrderSide::Sell,
            _ => return Err(ApiErr::new(400, -1117, "Invalid side.".into())),
        };
        let kind = match p.req("type")? {
            "LIMIT" => OrderKind::Limit,
            "MARKET" => OrderKind::Market,
            "LIMIT_MAKER" => OrderKind::LimitMaker,
            "STOP_LOSS" | "STOP_LOSS_LIMIT" | "TAKE_PROFIT" | "TAKE_PROFIT_LIMIT" => {
                return Err(ApiErr::new(
                    400,
                    -1013,
                    "This order type is not supported by the simulator.".into(),
                ));
            }
            _ => return Err(ApiErr::new(400, -1116, "Invalid orderType.".into())),
        };
        let not_required = |k: &str| -> Result<(), ApiErr> {
            if p.opt(k).is_some() {
                Err(ApiErr::new(
                    400,
                    -1106,
                    format!("Parameter '{k}' sent when not required."),
                ))
            } else {
                Ok(())
            }
        };
        let tif = match p.opt("timeInForce") {
            None => None,
            Some("GTC") => Some(Tif::Gtc),
            Some("IOC") => Some(Tif::Ioc),
            Some("FOK") => Some(Tif::Fok),
            Some(_) => return Err(ApiErr::new(400, -1115, "Invalid timeInForce.".into())),
        };
        let price = p.opt_price("price")?;
        let quantity = p.opt_qty("quantity")?;
        let quote = p.opt_qty("quoteOrderQty")?;
        match kind {
            OrderKind::Limit => {
                if tif.is_none() {
                    return Err(missing("timeInForce"));
                }
                if price.is_none() {
                    return Err(missing("price"));
                }
                if quantity.is_none() {
                    return Err(missing("quantity"));
                }
                not_required("quoteOrderQty")?;
            }
            OrderKind::LimitMaker => {
                if price.is_none() {
                    return Err(missing("price"));
                }
                if quantity.is_none() {
                    return Err(missing("quantity"));
                }
                not_required("timeInForce")?;
                not_required("quoteOrderQty")?;
            }
            OrderKind::Market => {
                not_required("price")?;
                not_required("timeInForce")?;
                match (quantity, quote) {
                    (None, None) => {
                        return Err(ApiErr::new(
                            400,
                            -1102,
                            "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
                                .into(),
                        ));
                    }
                    (Some(_), Some(_)) => not_required("quoteOrderQty")?,
                    _ => {}
                }
            }
        }
        let stp = match p.opt("selfTradePreventionMode") {
            None => None,
            Some("NONE") => Some(StpMode::None),
            Some("EXPIRE_TAKER") => Some(StpMode::ExpireTaker),
            Some("EXPIRE_MAKER") => Some(StpMode::ExpireMaker),
            Some("EXPIRE_BOTH") => Some(StpMode::ExpireBoth),
            Some(_) => {
                return Err(ApiErr::new(
                    400,
                    -1100,
                    "Illegal characters found in parameter 'selfTradePreventionMode'; legal range is 'NONE, EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH'.".into(),
                ));
            }
        };
        let rt = match p.opt("newOrderRespType") {
            None => match kind {
                OrderKind::Limit | OrderKind::Market => RespType::Full,
                OrderKind::LimitMaker => RespType::Ack,
            },
            Some("ACK") => RespType::Ack,
            Some("RESULT") => RespType::Result,
            Some("FULL") => RespType::Full,
            Some(_) => {
                return Err(ApiErr::new(
                    400,
                    -1100,
                    "Illegal characters found in parameter 'newOrderRespType'; legal range is 'ACK, RESULT, FULL'.".into(),
                ));
            }
        };
        let client_order_id = self.new_client_id(p, "newClientOrderId")?;
        Ok((
            NewOrder {
                symbol,
                side,
                kind,
                tif: if kind == OrderKind::Limit { tif } else { None },
                price,
                quantity,
                quote_order_qty: if quantity.is_none() { quote } else { None },
                client_order_id,
                stp,
            },
            rt,
        ))
    }

    /// `order.place` / `POST /api/v3/order`: log, injected rejections,
    /// validation, the ORDERS limit, the exchange, drop/delay faults.
    #[allow(clippy::too_many_arguments)]
    fn place(
        &self,
        sh: &Shared,
        p: &Params,
        account: AccountId,
        api_key: &str,
        via: &'static str,
        now: u64,
    ) -> Outcome {
        let sent_id = p.opt("newClientOrderId").unwrap_or("").to_string();
        let rec = ReceivedOrder {
            account: Some(account),
            api_key: api_key.to_string(),
            client_order_id: sent_id,
            accepted: false,
            code: None,
            via,
        };
        // Injected rejection.
        let injected = {
            let mut f = lock(&self.faults);
            if f.cfg.reject_next > 0 {
                f.cfg.reject_next -= 1;
                Some(ApiErr::new(
                    if f.cfg.reject_code == -1007 { 408 } else { 400 },
                    f.cfg.reject_code,
                    f.cfg.reject_msg.clone(),
                ))
            } else {
                None
            }
        };
        // The log entry is written before the order's user data goes out
        // (tests read the log as soon as a client sees the order).
        let mut pending_rec = Some(rec);
        let result = (|| {
            if let Some(e) = injected {
                return Err(e);
            }
            let (order, rt) = self.parse_order(sh, p)?;
            if let Some(rec) = pending_rec.as_mut() {
                rec.client_order_id.clone_from(&order.client_order_id);
            }
            self.limiter.charge_order(account, now)?;
            let book = Self::book(sh, &order.symbol);
            let r = self.with_exchange_then(
                sh,
                |ex| ex.place(account, &order, &book, now),
                |r| {
                    if let Some(mut rec) = pending_rec.take() {
                        rec.accepted = r.is_ok();
                        rec.code = r.as_ref().err().map(|e| e.code);
                        self.record(rec);
                    }
                },
            )?;
            Ok(render::place_result(&r.order, &r.fills, rt))
        })();
        if let Some(mut rec) = pending_rec {
            rec.accepted = result.is_ok();
            rec.code = result.as_ref().err().map(|e| e.code);
            self.record(rec);
        }
        let fault = if result.is_ok() {
            inc(&sh.stats.orders_placed);
            let mut f = lock(&self.faults);
            f.accepted += 1;
            let n = f.accepted;
            if f.cfg.drop_after_accept_next > 0 {
                f.cfg.drop_after_accept_next -= 1;
                Fault::Drop
            } else if f
                .cfg
                .drop_after_accept_every
                .is_some_and(|k| k > 0 && n.is_multiple_of(k))
            {
                Fault::Drop
            } else if !f.cfg.ack_delay.is_zero() {
                Fault::Delay(f.cfg.ack_delay)
            } else {
                Fault::None
            }
        } else {
            inc(&sh.stats.orders_rejected);
            self.reply_delay()
        };
        if fault == Fault::Drop {
            inc(&sh.stats.order_fault_drops);
        }
        Outcome {
            result,
            orders: true,
            fault,
        }
    }

    /// `order.cancelReplace`: cancel then place, per `cancelReplaceMode`,
    /// with the venue's 409 / -2021 and 400 / -2022 shapes.
    fn cancel_replace(
        &self,
        sh: &Shared,
        p: &Params,
        account: AccountId,
        api_key: &str,
        via: &'static str,
        now: u64,
    ) -> Outcome {
        let pre = (|| {
            let symbol = Self::known_symbol(sh, p)?;
            let allow = match p.req("cancelReplaceMode")? {
                "STOP_ON_FAILURE" => false,
                "ALLOW_FAILURE" => true,
                _ => {
                    return Err(ApiErr::new(
                        400,
                        -1100,
                        "Illegal characters found in parameter 'cancelReplaceMode'; legal range is 'STOP_ON_FAILURE, ALLOW_FAILURE'.".into(),
                    ));
                }
            };
            let which = order_ref(p, "cancelOrderId", "cancelOrigClientOrderId")?;
            let new_id = self.new_client_id(p, "cancelNewClientOrderId")?;
            // The new order's parameters must be valid before anything happens.
            self.parse_order(sh, p)?;
            Ok((symbol, allow, which, new_id))
        })();
        let (symbol, allow, which, new_id) = match pre {
            Ok(v) => v,
            Err(e) => {
                let mut o = Outcome::err(e);
                o.orders = true;
                return o;
            }
        };
        let restrictions = p.opt("cancelRestrictions");
        let cancel = self.with_exchange(sh, |ex| {
            check_restrictions(ex, account, &symbol, &which, restrictions)?;
            ex.cancel(account, &symbol, &which, &new_id, now)
                .map_err(ApiErr::from)
        });
        let cancel_json = match &cancel {
            Ok(v) => render::cancel_report(v),
            Err(e) => e.body(),
        };
        if cancel.is_err() && !allow {
            let mut data = Vec::new();
            render::Obj::new(&mut data)
                .str("cancelResult", "FAILURE")
                .str("newOrderResult", "NOT_ATTEMPTED")
                .raw("cancelResponse", &cancel_json)
                .null("newOrderResponse")
                .end();
            let mut e = ApiErr::new(400, -2022, "Order cancel-replace failed.".into());
            e.data = Some(data);
            let mut o = Outcome::err(e);
            o.orders = true;
            return o;
        }
        let placed = self.place(sh, p, account, api_key, via, now);
        let new_json = match &placed.result {
            Ok(b) => b.clone(),
            Err(e) => e.body(),
        };
        let res = |b: bool| if b { "SUCCESS" } else { "FAILURE" };
        let mut data = Vec::new();
        render::Obj::new(&mut data)
            .str("cancelResult", res(cancel.is_ok()))
            .str("newOrderResult", res(placed.result.is_ok()))
            .raw("cancelResponse", &cancel_json)
            .raw("newOrderResponse", &new_json)
            .end();
        let result = match (cancel.is_ok(), placed.result.is_ok()) {
            (true, true) => Ok(data),
            (false, false) => {
                let mut e = ApiErr::new(400, -2022, "Order cancel-replace failed.".into());
                e.data = Some(data);
                Err(e)
            }
            _ => {
                let mut e =
                    ApiErr::new(409, -2021, "Order cancel-replace partially failed.".into());
                e.data = Some(data);
                Err(e)
            }
        };
        Outcome {
            result,
            orders: true,
            fault: placed.fault,
        }
    }
}

/// Most entries the order log keeps.
const LOG_CAPACITY: usize = 1 << 18;
/// Most bytes of a client-supplied string the order log keeps.
const LOGGED_TEXT_MAX: usize = 64;

/// `s` cut to at most [`LOGGED_TEXT_MAX`] bytes, at a character boundary.
fn clip(mut s: String) -> String {
    if s.len() > LOGGED_TEXT_MAX {
        let mut end = LOGGED_TEXT_MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.shrink_to_fit();
    }
    s
}

/// The `n`th generated client order id for `salt`: 22 characters of
/// `[A-Za-z0-9]`, distinct for distinct `n`.
fn gen_id(salt: u64, n: u64) -> String {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::with_capacity(22);
    // 11 characters from a hash, then the sequence number itself in base 62
    // (11 digits cover 2^64), so ids never collide.
    let mut x = splitmix(salt ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    for _ in 0..11 {
        s.push(char::from(ALPHA[(x % 62) as usize]));
        x /= 62;
    }
    let mut m = n ^ (salt & 0xFFFF_FFFF);
    for _ in 0..11 {
        s.push(char::from(ALPHA[(m % 62) as usize]));
        m /= 62;
    }
    s
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// `orderId` or `origClientOrderId` (the id wins when both are sent).
fn order_ref(p: &Params, id_key: &str, client_key: &str) -> Result<OrderRef, ApiErr> {
    if let Some(id) = p.opt_u64(id_key)? {
        return Ok(OrderRef::OrderId(id));
    }
    match p.opt(client_key) {
        Some(c) => Ok(OrderRef::ClientId(c.to_string())),
        None => Err(ApiErr::new(
            400,
            -1102,
            format!("Param '{client_key}' or '{id_key}' must be sent, but both were empty/null!"),
        )),
    }
}

/// `cancelRestrictions` (ONLY_NEW / ONLY_PARTIALLY_FILLED).
fn check_restrictions(
    ex: &Exchange,
    account: AccountId,
    symbol: &str,
    which: &OrderRef,
    restrictions: Option<&str>,
) -> Result<(), ApiErr> {
    let want = match restrictions {
        None => return Ok(()),
        Some("ONLY_NEW") => VenueOrderStatus::New,
        Some("ONLY_PARTIALLY_FILLED") => VenueOrderStatus::PartiallyFilled,
        Some(_) => {
            return Err(ApiErr::new(
                400,
                -1100,
                "Illegal characters found in parameter 'cancelRestrictions'; legal range is 'ONLY_NEW, ONLY_PARTIALLY_FILLED'.".into(),
            ));
        }
    };
    match ex.status(account, symbol, which) {
        Ok(v)
            if v.status != want
                && matches!(
                    v.status,
                    VenueOrderStatus::New | VenueOrderStatus::PartiallyFilled
                ) =>
        {
            Err(ApiErr::new(
                400,
                -2011,
                "Order was not canceled due to cancel restrictions.".into(),
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn order_log_is_bounded_against_hostile_clients() {
        // A banned or unauthenticated client controls `apiKey` and
        // `newClientOrderId` (up to a 1 MiB frame each) and every attempt
        // is logged: neither an entry nor the log may grow without bound.
        let api = OrderApi::new(&SimConfig::default());
        let huge = "k".repeat(1 << 20);
        for i in 0..(LOG_CAPACITY + 10) {
            let text = if i >= LOG_CAPACITY {
                huge.clone()
            } else {
                String::new()
            };
            api.record(ReceivedOrder {
                account: None,
                api_key: text.clone(),
                client_order_id: text,
                accepted: false,
                code: Some(-1003),
                via: "ws",
            });
        }
        let log = api.orders_received();
        assert_eq!(log.len(), LOG_CAPACITY);
        assert_eq!(log.last().unwrap().api_key.len(), LOGGED_TEXT_MAX);
        assert!(log.iter().all(|r| r.api_key.len() <= LOGGED_TEXT_MAX));
        assert!(
            log.iter()
                .all(|r| r.client_order_id.len() <= LOGGED_TEXT_MAX)
        );
        assert_eq!(api.orders_dropped_from_log(), 10);
        // A multi-byte character is cut at a boundary, never split.
        let mut s = "a".repeat(LOGGED_TEXT_MAX - 1);
        s.push('\u{ff11}');
        assert_eq!(clip(s), "a".repeat(LOGGED_TEXT_MAX - 1));
    }

    #[test]
    fn generated_client_ids_look_like_the_venue() {
        let a = gen_id(42, 0);
        let b = gen_id(42, 1);
        assert_eq!(a.len(), 22);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        let ids: std::collections::HashSet<String> = (0..10_000).map(|n| gen_id(7, n)).collect();
        assert_eq!(ids.len(), 10_000);
        assert_eq!(
            order_ref(&Params::default(), "orderId", "origClientOrderId")
                .unwrap_err()
                .code,
            -1102
        );
        let mut p = Params::default();
        p.set("origClientOrderId", "x");
        assert_eq!(
            order_ref(&p, "orderId", "origClientOrderId").unwrap(),
            OrderRef::ClientId("x".into())
        );
        p.set("orderId", "12");
        assert_eq!(
            order_ref(&p, "orderId", "origClientOrderId").unwrap(),
            OrderRef::OrderId(12)
        );
    }
}
