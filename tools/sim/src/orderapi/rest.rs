//! REST order endpoints: `POST`/`DELETE`/`GET /api/v3/order`,
//! `GET`/`DELETE /api/v3/openOrders`, `GET /api/v3/account`,
//! `POST /api/v3/order/cancelReplace`. Parameters come from the query string,
//! the form body or both; the signature is HMAC-SHA256 (or Ed25519) over
//! the raw query string immediately followed by the raw body (no `&`
//! between, order and percent-encoding as sent) with the `signature` pair
//! taken out; the key is the `X-MBX-APIKEY` header. Responses carry
//! `X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S/-1D` on order placements,
//! and `Retry-After` (seconds) on 429/418.
//!
//! This module owns REST request handling for orders. It never touches the
//! socket (`conn.rs` writes the reply) and never matches orders.

use super::auth::{bad_key, check_time, verify};
use super::params::{Params, missing, strip_signature};
use super::{ApiErr, Fault, Method};
use crate::exchange::AccountId;
use crate::http::now_ms;
use crate::server::Shared;
use crate::stats::inc;

/// A REST reply.
#[derive(Debug)]
pub(crate) struct RestReply {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) fault: Fault,
}

/// The order method for a REST request, `None` if the path is not an order
/// endpoint, `Some(Err(()))` for a known path with the wrong HTTP method.
pub(crate) fn route(method: &str, path: &str) -> Option<Result<Method, ()>> {
    let m = match (path, method) {
        ("/api/v3/order", "POST") => Method::Place,
        ("/api/v3/order", "DELETE") => Method::Cancel,
        ("/api/v3/order", "GET") => Method::Status,
        ("/api/v3/openOrders", "GET") => Method::OpenOrders,
        ("/api/v3/openOrders", "DELETE") => Method::CancelAll,
        ("/api/v3/account", "GET") => Method::Account,
        ("/api/v3/order/cancelReplace", "POST") => Method::CancelReplace,
        (
            "/api/v3/order"
            | "/api/v3/openOrders"
            | "/api/v3/account"
            | "/api/v3/order/cancelReplace",
            _,
        ) => {
            return Some(Err(()));
        }
        _ => return None,
    };
    Some(Ok(m))
}

fn retry_after_secs(e: &ApiErr, now: u64) -> Option<String> {
    e.retry_after_ms
        .map(|t| t.saturating_sub(now).div_ceil(1000).max(1).to_string())
}

/// The reply for a request refused by the REQUEST_WEIGHT limit (any
/// endpoint): the venue's body, `Retry-After`, the weight header.
pub(crate) fn limited(sh: &Shared, e: &ApiErr) -> RestReply {
    let now = now_ms();
    let mut headers = vec![(
        "X-MBX-USED-WEIGHT-1M",
        sh.api.limiter.usage(None, now).weight.to_string(),
    )];
    if let Some(s) = retry_after_secs(e, now) {
        headers.push(("Retry-After", s));
    }
    RestReply {
        status: e.status,
        body: e.body(),
        headers,
        fault: Fault::None,
    }
}

/// Handles one order-endpoint request.
pub(crate) fn handle(
    sh: &Shared,
    m: Method,
    raw_query: &str,
    raw_body: &str,
    api_key: Option<&str>,
) -> RestReply {
    let now = now_ms();
    let p = Params::from_rest(raw_query, raw_body);
    let mut account: Option<AccountId> = None;
    let is_place = matches!(m, Method::Place | Method::CancelReplace);
    let outcome = (|| {
        sh.api.limiter.charge(m.weight(&p), now)?;
        if p.duplicate.is_some() {
            return Err(ApiErr::new(
                400,
                -1101,
                "Duplicate values for a parameter detected.".into(),
            ));
        }
        let key = match api_key {
            Some(k) if !k.is_empty() => k,
            _ => {
                return Err(ApiErr::new(401, -2014, "API-key format invalid.".into()));
            }
        };
        let (acct, spec) = {
            let ex = super::lock(&sh.api.exchange);
            let id = ex.account_by_key(key).ok_or_else(bad_key)?;
            (id, ex.account_spec(id).clone())
        };
        let (q, qsig) = strip_signature(raw_query);
        let (b, bsig) = strip_signature(raw_body);
        let sig = qsig.or(bsig).ok_or_else(|| missing("signature"))?;
        let mut payload = q;
        payload.push_str(&b);
        verify(&spec, payload.as_bytes(), &sig)?;
        let now_us = now.saturating_mul(1000);
        check_time(&p, now_us)?;
        account = Some(acct);
        Ok((acct, key.to_string()))
    })();
    let (result, fault) = match outcome {
        Ok((acct, key)) => {
            let o = sh.api.exec(sh, m, &p, acct, &key, "rest");
            (o.result, o.fault)
        }
        Err(e) => {
            if is_place {
                inc(&sh.stats.orders_rejected);
                sh.api.record(super::ReceivedOrder {
                    account: None,
                    api_key: api_key.unwrap_or("").to_string(),
                    client_order_id: p.opt("newClientOrderId").unwrap_or("").to_string(),
                    accepted: false,
                    code: Some(e.code),
                    via: "rest",
                });
            }
            (Err(e), Fault::None)
        }
    };
    let u = sh.api.limiter.usage(account, now_ms());
    let mut headers = vec![("X-MBX-USED-WEIGHT-1M", u.weight.to_string())];
    if is_place && account.is_some() {
        headers.push(("X-MBX-ORDER-COUNT-10S", u.orders_10s.to_string()));
        headers.push(("X-MBX-ORDER-COUNT-1D", u.orders_day.to_string()));
    }
    match result {
        Ok(body) => RestReply {
            status: 200,
            body,
            headers,
            fault,
        },
        Err(e) => {
            if let Some(s) = retry_after_secs(&e, now_ms()) {
                headers.push(("Retry-After", s));
            }
            let body = match &e.data {
                // cancelReplace failures: {"code","msg","data":{…}}.
                Some(d) => {
                    let mut out = Vec::new();
                    super::render::Obj::new(&mut out)
                        .i64("code", i64::from(e.code))
                        .str("msg", &e.msg)
                        .raw("data", d)
                        .end();
                    out
                }
                None => e.body(),
            };
            RestReply {
                status: e.status,
                body,
                headers,
                fault,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_retry_after() {
        assert_eq!(route("POST", "/api/v3/order"), Some(Ok(Method::Place)));
        assert_eq!(
            route("DELETE", "/api/v3/openOrders"),
            Some(Ok(Method::CancelAll))
        );
        assert_eq!(route("PUT", "/api/v3/order"), Some(Err(())));
        assert_eq!(route("GET", "/api/v3/depth"), None);
        let e = ApiErr::new(429, -1003, String::new()).retry_at(10_500);
        assert_eq!(retry_after_secs(&e, 9_000).as_deref(), Some("2"));
        assert_eq!(retry_after_secs(&e, 10_600).as_deref(), Some("1"));
    }
}
