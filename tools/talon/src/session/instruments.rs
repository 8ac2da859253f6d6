//! The instrument table of a session, from the venue's `exchangeInfo`.
//!
//! Owns [`fetch_instruments`] (one blocking `GET /api/v3/exchangeInfo?symbols=…`
//! over the feed's HTTP client, plain or TLS, before any hot thread starts)
//! and [`parse_exchange_info`] (symbols, base/quote assets and the
//! `PRICE_FILTER`, `LOT_SIZE` and `NOTIONAL`/`MIN_NOTIONAL` filters, exact
//! decimals, never through a float). Start-up only: it blocks and
//! allocates.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use talon_core::clock::{MonotonicClock, NanoClock};
use talon_core::instrument::{Filters, InstrumentSpec, InstrumentTable, Symbol};
use talon_core::num::{Notional, Price, Qty};
use talon_feed::config::Endpoint;
use talon_feed::http::{HttpGet, HttpPoll, HttpTarget};
use talon_feed::net::resolve;
use talon_feed::tls::{client_config, server_name};

/// Why the instrument table could not be built.
#[derive(Debug, thiserror::Error)]
pub enum InstrumentsError {
    /// The request failed (connect, TLS, timeout, HTTP status).
    #[error("GET {url}: {reason}")]
    Fetch {
        /// The URL requested.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The body is not the venue's `exchangeInfo` shape.
    #[error("exchangeInfo: {0}")]
    Parse(String),
    /// A configured symbol is not listed by the venue.
    #[error("symbols: `{0}` is not listed by the venue's exchangeInfo")]
    Missing(String),
}

/// Fetches `exchangeInfo` for `symbols` from `http_base` (blocking, at most
/// `timeout`) and builds the table, in `symbols` order.
pub fn fetch_instruments(
    http_base: &str,
    extra_root_der: Option<&[u8]>,
    symbols: &[String],
    timeout: Duration,
) -> Result<InstrumentTable, InstrumentsError> {
    let list: Vec<String> = symbols.iter().map(|s| format!("%22{s}%22")).collect();
    let url = format!(
        "{}/api/v3/exchangeInfo?symbols=%5B{}%5D",
        http_base.trim_end_matches('/'),
        list.join(",")
    );
    let fail = |reason: String| InstrumentsError::Fetch {
        url: url.clone(),
        reason,
    };
    let ep = Endpoint::parse(http_base, "venue.http_base").map_err(|e| fail(e.to_string()))?;
    let addrs = resolve(&ep.host, ep.port).map_err(|e| fail(e.to_string()))?;
    let addr = *addrs
        .first()
        .ok_or_else(|| fail("host resolved to nothing".into()))?;
    let tls = if ep.tls {
        let cfg = client_config(true, extra_root_der).map_err(|e| fail(e.to_string()))?;
        Some((
            Arc::clone(&cfg),
            server_name(&ep.host).map_err(|e| fail(e.to_string()))?,
        ))
    } else {
        None
    };
    let host = if ep.port == if ep.tls { 443 } else { 80 } {
        ep.host.clone()
    } else {
        ep.authority()
    };
    let mut http = HttpGet::new(HttpTarget { addr, host, tls }, 16 << 20, timeout);
    let clock = MonotonicClock::new();
    let path = format!(
        "{}/api/v3/exchangeInfo?symbols=%5B{}%5D",
        ep.base_path,
        list.join(",")
    );
    http.start(&path, clock.now())
        .map_err(|e| fail(e.to_string()))?;
    let deadline = Instant::now() + timeout;
    loop {
        match http.poll(clock.now()).map_err(|e| fail(e.to_string()))? {
            HttpPoll::Done => break,
            HttpPoll::Idle => return Err(fail("request vanished".into())),
            HttpPoll::Pending => {
                if Instant::now() > deadline {
                    return Err(fail("timed out".into()));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    if http.status() != 200 {
        let body = String::from_utf8_lossy(http.body());
        let body: String = body.chars().take(200).collect();
        return Err(fail(format!("HTTP {}: {body}", http.status())));
    }
    parse_exchange_info(http.body(), symbols)
}

fn field<'a>(v: &'a Value, name: &str, ctx: &str) -> Result<&'a str, InstrumentsError> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| InstrumentsError::Parse(format!("{ctx}: `{name}` missing or not a string")))
}

fn dec<T, E: std::fmt::Display>(
    v: &Value,
    name: &str,
    ctx: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<T, InstrumentsError> {
    let s = field(v, name, ctx)?;
    parse(s).map_err(|e| InstrumentsError::Parse(format!("{ctx}: `{name}` = {s:?}: {e}")))
}

/// Builds the table from an `exchangeInfo` body, for `symbols` in order.
pub fn parse_exchange_info(
    body: &[u8],
    symbols: &[String],
) -> Result<InstrumentTable, InstrumentsError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| InstrumentsError::Parse(format!("not JSON: {e}")))?;
    let listed = root
        .get("symbols")
        .and_then(Value::as_array)
        .ok_or_else(|| InstrumentsError::Parse("`symbols` missing".into()))?;
    let mut table = InstrumentTable::new();
    for want in symbols {
        let s = listed
            .iter()
            .find(|s| s.get("symbol").and_then(Value::as_str) == Some(want.as_str()))
            .ok_or_else(|| InstrumentsError::Missing(want.clone()))?;
        let ctx = want.as_str();
        let sym = |name: &str| -> Result<Symbol, InstrumentsError> {
            let text = field(s, name, ctx)?;
            Symbol::new(text)
                .map_err(|e| InstrumentsError::Parse(format!("{ctx}: `{name}` = {text:?}: {e}")))
        };
        let mut filters = Filters::default();
        for f in s
            .get("filters")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            match f.get("filterType").and_then(Value::as_str) {
                Some("PRICE_FILTER") => {
                    filters.tick_size = dec(f, "tickSize", ctx, Price::parse)?;
                    filters.min_price = dec(f, "minPrice", ctx, Price::parse)?;
                    filters.max_price = dec(f, "maxPrice", ctx, Price::parse)?;
                }
                Some("LOT_SIZE") => {
                    filters.step_size = dec(f, "stepSize", ctx, Qty::parse)?;
                    filters.min_qty = dec(f, "minQty", ctx, Qty::parse)?;
                    filters.max_qty = dec(f, "maxQty", ctx, Qty::parse)?;
                }
                Some("NOTIONAL") => {
                    filters.min_notional = dec(f, "minNotional", ctx, Notional::parse)?;
                    if f.get("maxNotional").is_some() {
                        filters.max_notional = Some(dec(f, "maxNotional", ctx, Notional::parse)?);
                    }
                }
                Some("MIN_NOTIONAL") => {
                    filters.min_notional = dec(f, "minNotional", ctx, Notional::parse)?;
                }
                _ => {}
            }
        }
        table
            .insert(InstrumentSpec {
                symbol: sym("symbol")?,
                base_asset: sym("baseAsset")?,
                quote_asset: sym("quoteAsset")?,
                filters,
            })
            .map_err(|e| InstrumentsError::Parse(e.to_string()))?;
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const BODY: &str = r#"{"symbols":[
      {"symbol":"ETHUSDT","baseAsset":"ETH","quoteAsset":"USDT","filters":[
        {"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},
        {"filterType":"LOT_SIZE","minQty":"0.00010000","maxQty":"9000.00000000","stepSize":"0.00010000"},
        {"filterType":"NOTIONAL","minNotional":"5.00000000","maxNotional":"9000000.00000000"}]},
      {"symbol":"BTCUSDT","baseAsset":"BTC","quoteAsset":"USDT","filters":[
        {"filterType":"PRICE_FILTER","minPrice":"0.01","maxPrice":"1000000","tickSize":"0.01"},
        {"filterType":"LOT_SIZE","minQty":"0.00001","maxQty":"9000","stepSize":"0.00001"},
        {"filterType":"MIN_NOTIONAL","minNotional":"10"}]}]}"#;

    #[test]
    fn builds_the_table_in_config_order_with_exact_filters() {
        let t =
            parse_exchange_info(BODY.as_bytes(), &["BTCUSDT".into(), "ETHUSDT".into()]).unwrap();
        assert_eq!(t.len(), 2);
        let btc = t.get(t.id_of("BTCUSDT").unwrap()).unwrap();
        assert_eq!(t.id_of("BTCUSDT").unwrap().0, 0);
        assert_eq!(btc.base_asset.as_str(), "BTC");
        assert_eq!(btc.filters.tick_size, Price::parse("0.01").unwrap());
        assert_eq!(btc.filters.step_size, Qty::parse("0.00001").unwrap());
        assert_eq!(btc.filters.min_notional, Notional::parse("10").unwrap());
        let eth = t.get(t.id_of("ETHUSDT").unwrap()).unwrap();
        assert_eq!(eth.filters.min_qty, Qty::parse("0.0001").unwrap());
        assert_eq!(
            eth.filters.max_notional,
            Some(Notional::parse("9000000").unwrap())
        );
    }

    #[test]
    fn a_missing_symbol_or_a_bad_number_is_an_error_naming_it() {
        let e = parse_exchange_info(BODY.as_bytes(), &["SOLUSDT".into()]).unwrap_err();
        assert!(e.to_string().contains("SOLUSDT"), "{e}");
        let bad = BODY.replace("\"0.01\"", "\"1e-2\"");
        let e = parse_exchange_info(bad.as_bytes(), &["BTCUSDT".into()]).unwrap_err();
        assert!(e.to_string().contains("BTCUSDT"), "{e}");
        assert!(parse_exchange_info(b"{}", &["BTCUSDT".into()]).is_err());
        assert!(parse_exchange_info(b"not json", &["BTCUSDT".into()]).is_err());
    }
}
