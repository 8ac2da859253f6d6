//! Request parameters as the order side receives them: WebSocket API
//! `params` objects (kept as raw JSON so numbers keep their textual form for
//! signing) and REST query strings / form bodies (percent-decoded values,
//! raw text kept for signing), plus typed getters that fail with the venue's
//! codes and messages.
//!
//! This module owns parsing only. It never checks signatures or rate limits
//! and never touches the exchange.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use talon_core::num::{NumError, Price, Qty};

use super::ApiErr;
use crate::http::percent_decode;

/// One parameter's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Value {
    /// The value as signed: a JSON string unescaped, any other JSON value
    /// as its raw text; a REST value percent-decoded.
    pub(crate) text: String,
    /// JSON `null` (treated as absent by the getters).
    pub(crate) null: bool,
}

/// Parameters of one request, by name (byte order, which is also the WS API
/// signing order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Params {
    map: BTreeMap<String, Value>,
    /// A REST parameter was sent twice.
    pub(crate) duplicate: Option<String>,
}

impl Params {
    /// Parses a WS API `params` object (`None` = no params).
    pub(crate) fn from_ws(raw: Option<&RawValue>) -> Result<Params, ApiErr> {
        let Some(raw) = raw else {
            return Ok(Params::default());
        };
        if raw.get().trim() == "null" {
            return Ok(Params::default());
        }
        let obj: BTreeMap<String, &RawValue> = serde_json::from_str(raw.get())
            .map_err(|_| ApiErr::new(400, -1135, "Invalid JSON Request".into()))?;
        let mut map = BTreeMap::new();
        for (k, v) in obj {
            let t = v.get().trim();
            let value = if t.starts_with('"') {
                let s: String = serde_json::from_str(t)
                    .map_err(|_| ApiErr::new(400, -1135, "Invalid JSON Request".into()))?;
                Value {
                    text: s,
                    null: false,
                }
            } else {
                Value {
                    text: t.to_string(),
                    null: t == "null",
                }
            };
            map.insert(k, value);
        }
        Ok(Params {
            map,
            duplicate: None,
        })
    }

    /// Parses REST parameters from the raw query string and the raw form
    /// body (either may be empty), percent-decoding names and values.
    pub(crate) fn from_rest(query: &str, body: &str) -> Params {
        let mut p = Params::default();
        for part in query.split('&').chain(body.split('&')) {
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let k = percent_decode(k);
            if p.map.contains_key(&k) {
                p.duplicate.get_or_insert(k);
                continue;
            }
            p.map.insert(
                k,
                Value {
                    text: percent_decode(v),
                    null: false,
                },
            );
        }
        p
    }

    /// Sets a parameter (tests, and the session's implied `apiKey`).
    #[cfg(test)]
    pub(crate) fn set(&mut self, k: &str, v: &str) {
        self.map.insert(
            k.to_string(),
            Value {
                text: v.to_string(),
                null: false,
            },
        );
    }

    /// The WS API signing payload: every param except `signature`, sorted
    /// by name, `k=v` joined with `&`, raw UTF-8.
    pub(crate) fn ws_payload(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.map {
            if k == "signature" {
                continue;
            }
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(&v.text);
        }
        out
    }

    /// The value, if present and not null.
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.map.get(k).filter(|v| !v.null).map(|v| v.text.as_str())
    }

    /// Whether `k` was sent (null included).
    pub(crate) fn has(&self, k: &str) -> bool {
        self.map.contains_key(k)
    }

    /// A mandatory parameter: -1102 when absent, null or empty.
    pub(crate) fn req(&self, k: &str) -> Result<&str, ApiErr> {
        match self.get(k) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(missing(k)),
        }
    }

    /// An optional non-empty parameter.
    pub(crate) fn opt(&self, k: &str) -> Option<&str> {
        self.get(k).filter(|v| !v.is_empty())
    }

    /// An optional unsigned integer (-1100 when not one).
    pub(crate) fn opt_u64(&self, k: &str) -> Result<Option<u64>, ApiErr> {
        match self.opt(k) {
            None => Ok(None),
            Some(v) => v.parse::<u64>().map(Some).map_err(|_| illegal_int(k)),
        }
    }

    /// An optional price (-1100 illegal, -1111 precision).
    pub(crate) fn opt_price(&self, k: &str) -> Result<Option<Price>, ApiErr> {
        match self.opt(k) {
            None => Ok(None),
            Some(v) => Price::parse(v).map(Some).map_err(|e| num_err(k, e)),
        }
    }

    /// An optional quantity (-1100 illegal, -1111 precision).
    pub(crate) fn opt_qty(&self, k: &str) -> Result<Option<Qty>, ApiErr> {
        match self.opt(k) {
            None => Ok(None),
            Some(v) => Qty::parse(v).map(Some).map_err(|e| num_err(k, e)),
        }
    }

    /// An optional boolean (`true`/`false`, -1100 otherwise).
    pub(crate) fn opt_bool(&self, k: &str) -> Result<Option<bool>, ApiErr> {
        match self.opt(k) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(ApiErr::new(
                400,
                -1100,
                format!(
                    "Illegal characters found in parameter '{k}'; legal range is 'true, false'."
                ),
            )),
        }
    }
}

/// -1102 for a missing mandatory parameter (venue wording).
pub(crate) fn missing(k: &str) -> ApiErr {
    ApiErr::new(
        400,
        -1102,
        format!("Mandatory parameter '{k}' was not sent, was empty/null, or malformed."),
    )
}

fn illegal_int(k: &str) -> ApiErr {
    ApiErr::new(
        400,
        -1100,
        format!("Illegal characters found in parameter '{k}'; legal range is '^[0-9]{{1,20}}$'."),
    )
}

fn num_err(k: &str, e: NumError) -> ApiErr {
    match e {
        NumError::TooManyDecimals => ApiErr::new(
            400,
            -1111,
            format!("Parameter '{k}' has too much precision."),
        ),
        _ => ApiErr::new(
            400,
            -1100,
            format!(
                "Illegal characters found in parameter '{k}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'."
            ),
        ),
    }
}

/// Removes the `signature=…` pair from a raw query string or body,
/// returning the rest as sent (the REST signing input) and the signature.
pub(crate) fn strip_signature(raw: &str) -> (String, Option<String>) {
    let mut sig = None;
    let mut kept: Vec<&str> = Vec::new();
    for part in raw.split('&') {
        if let Some(v) = part.strip_prefix("signature=") {
            if sig.is_none() {
                sig = Some(percent_decode(v));
            }
            continue;
        }
        kept.push(part);
    }
    (kept.join("&"), sig)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ws(text: &str) -> Params {
        let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
        Params::from_ws(Some(&raw)).unwrap()
    }

    #[test]
    fn ws_params_keep_number_text_and_sort_by_bytes() {
        let p = ws(
            r#"{"timestamp":1645423376532,"timeInForce":"GTC","price":"52000.00","recvWindow":100,"quantity":0.01000000,"x":true,"signature":"ab"}"#,
        );
        assert_eq!(
            p.ws_payload(),
            "price=52000.00&quantity=0.01000000&recvWindow=100&timeInForce=GTC&timestamp=1645423376532&x=true"
        );
        assert_eq!(p.get("quantity"), Some("0.01000000"));
        let p = ws(r#"{"symbol":"\u0031\uff12","a":null}"#);
        assert_eq!(p.get("symbol"), Some("1２"));
        assert_eq!(p.get("a"), None);
        assert!(p.has("a"));
        assert_eq!(p.req("a").unwrap_err().code, -1102);
        let raw: Box<RawValue> = serde_json::from_str("[1,2]").unwrap();
        assert_eq!(Params::from_ws(Some(&raw)).unwrap_err().code, -1135);
    }

    #[test]
    fn rest_params_decode_and_detect_duplicates() {
        let p = Params::from_rest("symbol=%EF%BC%91&side=BUY", "quantity=1&side=SELL");
        assert_eq!(p.get("symbol"), Some("１"));
        assert_eq!(p.get("side"), Some("BUY"));
        assert_eq!(p.duplicate.as_deref(), Some("side"));
        assert_eq!(
            strip_signature("a=1&signature=abc&b=2"),
            ("a=1&b=2".to_string(), Some("abc".to_string()))
        );
        assert_eq!(strip_signature("a=1"), ("a=1".to_string(), None));
    }

    #[test]
    fn typed_getters_use_venue_codes() {
        let mut p = Params::default();
        p.set("price", "0.123456789");
        p.set("quantity", "1e5");
        p.set("orderId", "-1");
        p.set("flag", "yes");
        assert_eq!(p.opt_price("price").unwrap_err().code, -1111);
        assert_eq!(p.opt_qty("quantity").unwrap_err().code, -1100);
        assert_eq!(p.opt_u64("orderId").unwrap_err().code, -1100);
        assert_eq!(p.opt_bool("flag").unwrap_err().code, -1100);
        assert_eq!(p.opt_qty("none").unwrap(), None);
        let e = p.req("symbol").unwrap_err();
        assert_eq!(
            e.msg,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
        );
    }
}
