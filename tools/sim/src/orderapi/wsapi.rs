//! The WebSocket API at `/ws-api/v3`: the request envelope (`id` echoed
//! with its JSON type, `method` with an optional `v3/` prefix, `params`),
//! the response envelope (`status`, `result` | `error`, `rateLimits`
//! unless turned off per connection or request), request weights,
//! per-request HMAC/Ed25519 authentication or a `session.logon` session,
//! session methods and user data stream subscriptions.
//!
//! This module owns one connection's API session state. It never writes to
//! the socket (it returns what to send, `conn.rs` sends it) and never
//! matches orders.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value as Json;
use serde_json::value::RawValue;

use super::auth::{bad_key, bad_signature, check_time, verify};
use super::params::Params;
use super::render::Obj;
use super::{ApiErr, Fault, Method, Sink};
use crate::exchange::AccountId;
use crate::http::now_ms;
use crate::server::Shared;
use crate::stats::inc;

/// One connection's API session.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) conn: u64,
    connected_ms: u64,
    /// `session.logon`: account, key, since (ms).
    logon: Option<(AccountId, String, u64)>,
    return_rate_limits: bool,
    sink: Arc<dyn Sink>,
}

impl Session {
    /// A new session (`return_rate_limits` from `?returnRateLimits=`).
    pub(crate) fn new(conn: u64, return_rate_limits: bool, sink: Arc<dyn Sink>) -> Session {
        Session {
            conn,
            connected_ms: now_ms(),
            logon: None,
            return_rate_limits,
            sink,
        }
    }
}

/// What the connection does with a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send this text frame now.
    Reply(Vec<u8>),
    /// Send it after the delay (order fault).
    Delayed(Duration, Vec<u8>),
    /// Close the socket abruptly without replying (order fault).
    Drop,
}

#[derive(Deserialize)]
struct Req<'a> {
    #[serde(default)]
    id: Option<Json>,
    #[serde(default)]
    method: Option<Json>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn id_ok(id: &Json) -> bool {
    match id {
        Json::Null => true,
        Json::Number(n) => n.is_i64() || n.is_u64(),
        Json::String(s) => {
            !s.is_empty()
                && s.len() <= 36
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
        _ => false,
    }
}

/// The response envelope.
pub(crate) fn envelope(
    id: &Json,
    result: Result<&[u8], &ApiErr>,
    rate_limits: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let id_text = serde_json::to_string(id).unwrap_or_else(|_| "null".into());
    let mut o = Obj::new(&mut out);
    o.raw("id", id_text.as_bytes());
    match result {
        Ok(body) => {
            o.u64("status", 200).raw("result", body);
        }
        Err(e) => {
            let mut err = Vec::with_capacity(128);
            let mut eo = Obj::new(&mut err);
            eo.i64("code", i64::from(e.code)).str("msg", &e.msg);
            if let Some(d) = &e.data {
                eo.raw("data", d);
            } else if let Some(t) = e.retry_after_ms {
                let mut d = Vec::new();
                Obj::new(&mut d)
                    .u64("serverTime", now_ms())
                    .u64("retryAfter", t)
                    .end();
                eo.raw("data", &d);
            }
            eo.end();
            o.u64("status", u64::from(e.status)).raw("error", &err);
        }
    }
    if let Some(rl) = rate_limits {
        o.raw("rateLimits", rl);
    }
    o.end();
    out
}

fn limit_item(out: &mut Vec<u8>, kind: &str, interval: &str, num: u64, limit: u64, count: u64) {
    if out.len() > 1 {
        out.push(b',');
    }
    Obj::new(out)
        .str("rateLimitType", kind)
        .str("interval", interval)
        .u64("intervalNum", num)
        .u64("limit", limit)
        .u64("count", count)
        .end();
}

/// The `rateLimits` array: ORDERS (10 s, day) for order placements, then
/// REQUEST_WEIGHT, as the venue lists them.
pub(crate) fn rate_limits(sh: &Shared, account: Option<AccountId>, orders: bool) -> Vec<u8> {
    let api = &sh.api;
    let u = api.limiter.usage(account, now_ms());
    let cfg = &api.limiter.cfg;
    let mut out = vec![b'['];
    if orders && account.is_some() {
        limit_item(
            &mut out,
            "ORDERS",
            "SECOND",
            10,
            cfg.orders_per_10s,
            u.orders_10s,
        );
        limit_item(
            &mut out,
            "ORDERS",
            "DAY",
            1,
            cfg.orders_per_day,
            u.orders_day,
        );
    }
    limit_item(
        &mut out,
        "REQUEST_WEIGHT",
        "MINUTE",
        1,
        cfg.weight_per_minute,
        u.weight,
    );
    out.push(b']');
    out
}

fn session_result(s: &Session, sh: &Shared) -> Vec<u8> {
    let mut out = Vec::new();
    let mut o = Obj::new(&mut out);
    match &s.logon {
        Some((_, key, since)) => {
            o.str("apiKey", key).u64("authorizedSince", *since);
        }
        None => {
            o.null("apiKey").null("authorizedSince");
        }
    }
    let uds = !sh.api.subscriptions(s.conn).is_empty();
    o.u64("connectedSince", s.connected_ms)
        .bool("returnRateLimits", s.return_rate_limits)
        .u64("serverTime", now_ms())
        .bool("userDataStream", uds)
        .end();
    out
}

/// Authenticates a request signed with `apiKey` + `signature` over the
/// sorted params (the key's HMAC secret or Ed25519 key). Returns the
/// account and key.
fn signed(sh: &Shared, p: &Params) -> Result<(AccountId, String), ApiErr> {
    let key = p.req("apiKey")?;
    let spec = {
        let ex = super::lock(&sh.api.exchange);
        let id = ex.account_by_key(key).ok_or_else(bad_key)?;
        (id, ex.account_spec(id).clone())
    };
    let sig = p.req("signature")?;
    verify(&spec.1, p.ws_payload().as_bytes(), sig)?;
    check_time(p, now_us())?;
    Ok((spec.0, key.to_string()))
}

/// A SIGNED method: a request signature, or the logged-on session (then
/// only `timestamp` is needed).
fn authenticate(sh: &Shared, s: &Session, p: &Params) -> Result<(AccountId, String), ApiErr> {
    match &s.logon {
        Some((acct, key, _)) if !p.has("signature") => {
            if p.opt("apiKey").is_some_and(|k| k != key) {
                return Err(bad_key());
            }
            check_time(p, now_us())?;
            Ok((*acct, key.clone()))
        }
        _ => signed(sh, p),
    }
}

/// Handles one request text frame.
pub(crate) fn handle(sh: &Shared, s: &mut Session, text: &[u8]) -> Action {
    inc(&sh.stats.ws_api_requests);
    let Ok(req) = serde_json::from_slice::<Req<'_>>(text) else {
        let e = ApiErr::new(400, -1135, "Invalid JSON Request".into());
        return Action::Reply(envelope(&Json::Null, Err(&e), None));
    };
    let id = req.id.unwrap_or(Json::Null);
    if !id_ok(&id) {
        let e = ApiErr::new(
            400,
            -1135,
            "Invalid 'id' in JSON request; expected an integer, a string matching '^[a-zA-Z0-9-_]{1,36}$', or null."
                .into(),
        );
        return Action::Reply(envelope(&Json::Null, Err(&e), None));
    }
    let method = match &req.method {
        Some(Json::String(m)) => m.strip_prefix("v3/").unwrap_or(m).to_string(),
        _ => {
            let e = super::params::missing("method");
            return Action::Reply(envelope(&id, Err(&e), None));
        }
    };
    let p = match Params::from_ws(req.params) {
        Ok(p) => p,
        Err(e) => return Action::Reply(envelope(&id, Err(&e), None)),
    };
    let show_limits = match p.opt_bool("returnRateLimits") {
        Ok(v) => v.unwrap_or(s.return_rate_limits),
        Err(e) => return Action::Reply(envelope(&id, Err(&e), None)),
    };
    let (result, account, orders, fault) = dispatch(sh, s, &method, &p);
    let limits = show_limits.then(|| rate_limits(sh, account, orders));
    let text = envelope(&id, result.as_deref(), limits.as_deref());
    match fault {
        Fault::None => Action::Reply(text),
        Fault::Delay(d) => Action::Delayed(d, text),
        Fault::Drop => Action::Drop,
    }
}

type Dispatched = (Result<Vec<u8>, ApiErr>, Option<AccountId>, bool, Fault);

fn dispatch(sh: &Shared, s: &mut Session, method: &str, p: &Params) -> Dispatched {
    let order_method = match method {
        "order.place" => Some(Method::Place),
        "order.cancel" => Some(Method::Cancel),
        "order.cancelReplace" => Some(Method::CancelReplace),
        "openOrders.cancelAll" => Some(Method::CancelAll),
        "order.status" => Some(Method::Status),
        "openOrders.status" => Some(Method::OpenOrders),
        "account.status" => Some(Method::Account),
        _ => None,
    };
    let weight = match (order_method, method) {
        (Some(m), _) => m.weight(p),
        (None, "exchangeInfo") => 20,
        (None, "ping" | "time") => 1,
        (None, _) => 2,
    };
    let now = now_ms();
    let is_place = matches!(order_method, Some(Method::Place | Method::CancelReplace));
    // Weight first: a limited or banned client gets 429/418 for anything.
    if let Err(e) = sh.api.limiter.charge(weight, now) {
        if is_place {
            sh.api.record(super::ReceivedOrder {
                account: None,
                api_key: p.opt("apiKey").unwrap_or("").to_string(),
                client_order_id: p.opt("newClientOrderId").unwrap_or("").to_string(),
                accepted: false,
                code: Some(e.code),
                via: "ws",
            });
        }
        return (Err(e), None, false, Fault::None);
    }
    if let Some(m) = order_method {
        return match authenticate(sh, s, p) {
            Ok((acct, key)) => {
                let o = sh.api.exec(sh, m, p, acct, &key, "ws");
                (o.result, Some(acct), o.orders, o.fault)
            }
            Err(e) => {
                if is_place {
                    inc(&sh.stats.orders_rejected);
                    sh.api.record(super::ReceivedOrder {
                        account: None,
                        api_key: p.opt("apiKey").unwrap_or("").to_string(),
                        client_order_id: p.opt("newClientOrderId").unwrap_or("").to_string(),
                        accepted: false,
                        code: Some(e.code),
                        via: "ws",
                    });
                }
                (Err(e), None, false, Fault::None)
            }
        };
    }
    let r: Result<Vec<u8>, ApiErr> = match method {
        "ping" => Ok(b"{}".to_vec()),
        "time" => {
            let mut out = Vec::new();
            Obj::new(&mut out).u64("serverTime", now_ms()).end();
            Ok(out)
        }
        "exchangeInfo" => exchange_info(sh, p),
        "session.logon" => logon(sh, s, p),
        "session.status" => Ok(session_result(s, sh)),
        "session.logout" => {
            s.logon = None;
            Ok(session_result(s, sh))
        }
        "userDataStream.subscribe" => match &s.logon {
            Some((acct, _, _)) => {
                let acct = *acct;
                let existing = sh
                    .api
                    .subscriptions(s.conn)
                    .into_iter()
                    .find(|(_, a)| *a == acct)
                    .map(|(id, _)| id);
                let id = existing.unwrap_or_else(|| sh.api.subscribe(s.conn, acct, s.sink.clone()));
                Ok(subscription_id(id))
            }
            None => Err(ApiErr::new(
                400,
                -1002,
                "You are not authorized to execute this request.".into(),
            )),
        },
        "userDataStream.subscribe.signature" => signed(sh, p)
            .map(|(acct, _)| subscription_id(sh.api.subscribe(s.conn, acct, s.sink.clone()))),
        "userDataStream.unsubscribe" => match p.opt_u64("subscriptionId") {
            Ok(id) => {
                if sh.api.unsubscribe(s.conn, id) == 0 && id.is_some() {
                    Err(ApiErr::new(400, -1211, "Invalid subscriptionId.".into()))
                } else {
                    Ok(b"{}".to_vec())
                }
            }
            Err(e) => Err(e),
        },
        _ => Err(ApiErr::new(
            400,
            -1020,
            "This operation is not supported.".into(),
        )),
    };
    let account = s.logon.as_ref().map(|l| l.0);
    (r, account, false, Fault::None)
}

fn subscription_id(id: u64) -> Vec<u8> {
    let mut out = Vec::new();
    Obj::new(&mut out).u64("subscriptionId", id).end();
    out
}

/// `session.logon`: Ed25519 signature over the sorted params.
fn logon(sh: &Shared, s: &mut Session, p: &Params) -> Result<Vec<u8>, ApiErr> {
    let key = p.req("apiKey")?;
    let (acct, spec) = {
        let ex = super::lock(&sh.api.exchange);
        let id = ex.account_by_key(key).ok_or_else(bad_key)?;
        (id, ex.account_spec(id).clone())
    };
    let sig = p.req("signature")?;
    let Some(pk) = spec.ed25519_public else {
        return Err(bad_signature());
    };
    if !super::auth::ed25519_ok(&pk, p.ws_payload().as_bytes(), sig) {
        return Err(bad_signature());
    }
    check_time(p, now_us())?;
    s.logon = Some((acct, key.to_string(), now_ms()));
    Ok(session_result(s, sh))
}

/// `exchangeInfo` with `symbol` or `symbols` (a JSON array), as REST.
fn exchange_info(sh: &Shared, p: &Params) -> Result<Vec<u8>, ApiErr> {
    let mut q: Vec<(String, String)> = Vec::new();
    if let Some(s) = p.opt("symbol") {
        q.push(("symbol".into(), s.to_string()));
    }
    if let Some(s) = p.opt("symbols") {
        q.push(("symbols".into(), s.to_string()));
    }
    let r = crate::http::exchange_info(sh, &q);
    if r.status == 200 {
        Ok(r.body)
    } else {
        let v: Json = serde_json::from_slice(&r.body).unwrap_or(Json::Null);
        Err(ApiErr::new(
            r.status,
            v["code"]
                .as_i64()
                .and_then(|c| i32::try_from(c).ok())
                .unwrap_or(-1000),
            v["msg"].as_str().unwrap_or("").to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn envelope_echoes_id_types_and_error_data() {
        let ok = envelope(&Json::from(7), Ok(b"{}"), None);
        assert_eq!(ok, br#"{"id":7,"status":200,"result":{}}"#);
        let ok = envelope(&Json::from("a-1"), Ok(b"{}"), Some(b"[]"));
        assert_eq!(
            ok,
            br#"{"id":"a-1","status":200,"result":{},"rateLimits":[]}"#
        );
        let e = ApiErr::new(429, -1003, "x".into()).retry_at(5);
        let v: Json = serde_json::from_slice(&envelope(&Json::Null, Err(&e), None)).unwrap();
        assert_eq!(v["id"], Json::Null);
        assert_eq!(v["status"], 429);
        assert_eq!(v["error"]["code"], -1003);
        assert_eq!(v["error"]["data"]["retryAfter"], 5);
        assert!(id_ok(&Json::from(u64::MAX)));
        assert!(id_ok(&Json::from("4885f793-e5ad-4c3b-8f6c-55d891472b71")));
        assert!(!id_ok(&Json::from(1.5)));
        assert!(!id_ok(&Json::from("has space")));
        assert!(!id_ok(&Json::from(vec![1])));
        assert!(!id_ok(&Json::from("x".repeat(37))));
    }
}
