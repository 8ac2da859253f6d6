//! The REST side of the simulator: `GET /api/v3/ping`, `/api/v3/time`,
//! `/api/v3/exchangeInfo` and `/api/v3/depth`, with the venue's bodies,
//! error JSON (`{"code":-1121,"msg":"Invalid symbol."}`) and statuses, plus
//! the small HTTP/1.1 helpers (query parsing, response writing) shared with
//! the WebSocket upgrade path. The order endpoints (`/api/v3/order`,
//! `/api/v3/openOrders`, `/api/v3/account`) live in `orderapi::rest`;
//! `exchangeInfo` reports the configured rate limits.
//!
//! This module owns request routing and response bodies. It never reads
//! from a socket (the connection module hands it parsed requests) and never
//! mutates the market: the depth snapshot is taken under the market lock,
//! so its `lastUpdateId` is exactly the book it lists.

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::server::Shared;
use crate::text::push_json_str;

/// A REST answer.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    /// Request weight charged (venue weights).
    pub(crate) weight: u64,
}

/// Wall-clock ms since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Splits a request target into path and decoded query pairs.
pub(crate) fn parse_target(target: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    (percent_decode(path), pairs)
}

/// Decodes `%XX` escapes and `+` (as space) in a URL component; invalid
/// escapes are kept literally.
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        408 => "Request Timeout",
        409 => "Conflict",
        418 => "I'm a teapot",
        429 => "Too Many Requests",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

/// Writes a complete HTTP/1.1 response with a JSON body.
pub(crate) fn write_response(
    w: &mut impl Write,
    status: u16,
    body: &[u8],
    used_weight: Option<u64>,
    keep_alive: bool,
) -> io::Result<()> {
    let extra = used_weight.map(|wt| ("X-MBX-USED-WEIGHT-1M", wt.to_string()));
    write_response_with(w, status, body, extra.as_slice(), keep_alive)
}

/// Writes a complete HTTP/1.1 response with a JSON body and extra headers.
pub(crate) fn write_response_with(
    w: &mut impl Write,
    status: u16,
    body: &[u8],
    headers: &[(&str, String)],
    keep_alive: bool,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: {}\r\n",
        reason(status),
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    w.write_all(head.as_bytes())?;
    w.write_all(body)?;
    w.flush()
}

/// The venue's error body.
pub(crate) fn error_body(code: i64, msg: &str) -> Vec<u8> {
    let mut out = b"{\"code\":".to_vec();
    out.extend_from_slice(code.to_string().as_bytes());
    out.extend_from_slice(b",\"msg\":");
    push_json_str(&mut out, msg);
    out.push(b'}');
    out
}

fn err(status: u16, code: i64, msg: &str, weight: u64) -> Response {
    Response {
        status,
        body: error_body(code, msg),
        weight,
    }
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Depth weight by limit (venue table).
fn depth_weight(limit: usize) -> u64 {
    match limit {
        0..=100 => 5,
        101..=500 => 25,
        501..=1000 => 50,
        _ => 250,
    }
}

/// Answers one REST request.
pub(crate) fn rest(sh: &Shared, method: &str, path: &str, query: &[(String, String)]) -> Response {
    if method != "GET" {
        return err(
            405,
            -1000,
            &format!("Method {method} is not supported for {path}."),
            1,
        );
    }
    match path {
        "/api/v3/ping" => Response {
            status: 200,
            body: b"{}".to_vec(),
            weight: 1,
        },
        "/api/v3/time" => Response {
            status: 200,
            body: format!("{{\"serverTime\":{}}}", now_ms()).into_bytes(),
            weight: 1,
        },
        "/api/v3/exchangeInfo" => exchange_info(sh, query),
        "/api/v3/depth" => depth(sh, query),
        "/sim/v1/marks" => marks(sh, query),
        _ => err(404, -1000, &format!("Unknown endpoint: GET {path}"), 1),
    }
}

/// `GET /sim/v1/marks[?reset=true]`: the wire-to-wire report (simulator
/// tooling, not a venue endpoint); `reset=true` clears it after answering.
fn marks(sh: &Shared, query: &[(String, String)]) -> Response {
    let r = if param(query, "reset") == Some("true") {
        sh.marks.take_report()
    } else {
        sh.marks.report()
    };
    match serde_json::to_vec(&r) {
        Ok(body) => Response {
            status: 200,
            body,
            weight: 1,
        },
        Err(e) => err(500, -1000, &e.to_string(), 1),
    }
}

fn depth(sh: &Shared, query: &[(String, String)]) -> Response {
    let Some(symbol) = param(query, "symbol").filter(|s| !s.is_empty()) else {
        return err(
            400,
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            5,
        );
    };
    let limit = match param(query, "limit") {
        None => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(5000),
            _ => {
                return err(
                    400,
                    -1100,
                    "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.",
                    5,
                );
            }
        },
    };
    let weight = depth_weight(limit);
    let upper = symbol.to_ascii_uppercase();
    if upper != symbol {
        return err(400, -1121, "Invalid symbol.", weight);
    }
    if let Some(market) = &sh.market {
        let m = market.lock().unwrap_or_else(|e| e.into_inner());
        let mut body = Vec::with_capacity(64 + limit * 40);
        match m.symbol_index(symbol) {
            Some(i) if m.snapshot_json(i, limit, &mut body) => Response {
                status: 200,
                body,
                weight,
            },
            _ => err(400, -1121, "Invalid symbol.", weight),
        }
    } else {
        let snaps = sh.tape_snapshots.lock().unwrap_or_else(|e| e.into_inner());
        match snaps.get(symbol) {
            Some(body) => Response {
                status: 200,
                body: body.clone(),
                weight,
            },
            None => err(400, -1121, "Invalid symbol.", weight),
        }
    }
}

/// `exchangeInfo` (REST and WS API); `rateLimits` are the configured ones.
pub(crate) fn exchange_info(sh: &Shared, query: &[(String, String)]) -> Response {
    let wanted: Option<Vec<String>> = if let Some(s) = param(query, "symbol") {
        Some(vec![s.to_string()])
    } else if let Some(list) = param(query, "symbols") {
        match serde_json::from_str::<Vec<String>>(list) {
            Ok(v) => Some(v),
            Err(_) => {
                return err(
                    400,
                    -1100,
                    "Illegal characters found in parameter 'symbols'.",
                    20,
                );
            }
        }
    } else {
        None
    };
    let specs: Vec<_> = match &wanted {
        None => sh.cfg.symbols.iter().collect(),
        Some(names) => {
            let mut v = Vec::new();
            for n in names {
                match sh.cfg.symbols.iter().find(|s| &s.symbol == n) {
                    Some(s) => v.push(s),
                    None => return err(400, -1121, "Invalid symbol.", 20),
                }
            }
            v
        }
    };
    let symbols: Vec<Value> = specs
        .iter()
        .map(|s| {
            json!({
                "symbol": s.symbol,
                "status": "TRADING",
                "baseAsset": s.base,
                "baseAssetPrecision": 8,
                "quoteAsset": s.quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"],
                "icebergAllowed": true,
                "ocoAllowed": true,
                "otoAllowed": true,
                "quoteOrderQtyMarketAllowed": true,
                "allowTrailingStop": true,
                "cancelReplaceAllowed": true,
                "amendAllowed": true,
                "isSpotTradingAllowed": true,
                "isMarginTradingAllowed": false,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": s.tick_size.fixed().to_string(),
                        "maxPrice": "1000000.00000000",
                        "tickSize": s.tick_size.fixed().to_string(),
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": s.min_qty.fixed().to_string(),
                        "maxQty": s.max_qty.fixed().to_string(),
                        "stepSize": s.step_size.fixed().to_string(),
                    },
                    {
                        "filterType": "NOTIONAL",
                        "minNotional": s.min_notional.fixed().to_string(),
                        "applyMinToMarket": true,
                        "maxNotional": s.max_notional.fixed().to_string(),
                        "applyMaxToMarket": false,
                        "avgPriceMins": 5,
                    },
                    {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                ],
                "permissions": [],
                "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"],
            })
        })
        .collect();
    let body = json!({
        "timezone": "UTC",
        "serverTime": now_ms(),
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": sh.cfg.rate_limits.weight_per_minute},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": sh.cfg.rate_limits.orders_per_10s},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": sh.cfg.rate_limits.orders_per_day},
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    });
    Response {
        status: 200,
        body: body.to_string().into_bytes(),
        weight: 20,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_escapes_decode() {
        let (p, q) = parse_target("/stream?streams=btcusdt%40trade/ethusdt@depth&x");
        assert_eq!(p, "/stream");
        assert_eq!(
            q,
            vec![
                ("streams".into(), "btcusdt@trade/ethusdt@depth".into()),
                ("x".into(), String::new())
            ]
        );
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%5B%22A%22%5D"), "[\"A\"]");
        assert_eq!(
            error_body(-1121, "Invalid symbol."),
            br#"{"code":-1121,"msg":"Invalid symbol."}"#
        );
        assert_eq!(depth_weight(5000), 250);
    }
}
