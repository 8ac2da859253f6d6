//! Request authentication: HMAC-SHA256 (hex, case-insensitive) and Ed25519
//! (base64) signature checks over the exact payload bytes, and the
//! `timestamp` / `recvWindow` check, with the venue's error codes.
//!
//! This module owns cryptographic checks only. It never builds payloads
//! (the callers do, per protocol) and never reads a clock (time comes in).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::ApiErr;
use super::params::Params;
use crate::exchange::AccountSpec;

/// -1022.
pub(crate) fn bad_signature() -> ApiErr {
    ApiErr::new(
        400,
        -1022,
        "Signature for this request is not valid.".into(),
    )
}

/// -2015.
pub(crate) fn bad_key() -> ApiErr {
    ApiErr::new(
        401,
        -2015,
        "Invalid API-key, IP, or permissions for action.".into(),
    )
}

/// Lowercase hex HMAC-SHA256 of `payload` under `secret`.
pub(crate) fn hmac_hex(secret: &[u8], payload: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        // HMAC accepts keys of any length; unreachable in practice.
        return String::new();
    };
    mac.update(payload);
    let out = mac.finalize().into_bytes();
    let mut s = String::with_capacity(64);
    for b in out {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    s
}

/// Whether `sig` is a valid Ed25519 signature (standard base64) of
/// `payload` under the 32-byte public key.
pub(crate) fn ed25519_ok(public: &[u8; 32], payload: &[u8], sig: &str) -> bool {
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(sig.trim()) else {
        return false;
    };
    let Ok(sig) = ed25519_dalek::Signature::from_slice(&bytes) else {
        return false;
    };
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(public) else {
        return false;
    };
    key.verify_strict(payload, &sig).is_ok()
}

/// Verifies `sig` over `payload` for the account: HMAC when the account has
/// a secret and the signature is 64 hex digits (case-insensitive), Ed25519
/// when it has a public key. -1022 otherwise.
pub(crate) fn verify(spec: &AccountSpec, payload: &[u8], sig: &str) -> Result<(), ApiErr> {
    if !spec.secret.is_empty()
        && sig.len() == 64
        && hmac_hex(spec.secret.as_bytes(), payload).eq_ignore_ascii_case(sig)
    {
        return Ok(());
    }
    if let Some(pk) = &spec.ed25519_public
        && ed25519_ok(pk, payload, sig)
    {
        return Ok(());
    }
    Err(bad_signature())
}

/// Checks `timestamp` (ms or µs) against `now_us` with `recvWindow` (ms, up
/// to 3 decimals, default 5000, at most 60000): the venue accepts
/// `timestamp < serverTime + 1000 ms` and `serverTime - timestamp <=
/// recvWindow`. -1102 missing timestamp, -1100 malformed, -1131 bad
/// recvWindow, -1021 outside the window.
pub(crate) fn check_time(p: &Params, now_us: u64) -> Result<(), ApiErr> {
    let ts = p.req("timestamp")?;
    let ts: u64 = ts.parse().map_err(|_| {
        ApiErr::new(
            400,
            -1100,
            "Illegal characters found in parameter 'timestamp'; legal range is '^[0-9]{1,20}$'."
                .into(),
        )
    })?;
    // Microsecond timestamps have 16 digits today; milliseconds 13.
    let ts_us = if ts >= 100_000_000_000_000 {
        ts
    } else {
        ts.saturating_mul(1000)
    };
    let window_us = match p.opt("recvWindow") {
        None => 5_000_000,
        Some(w) => parse_recv_window_us(w)
            .ok_or_else(|| ApiErr::new(400, -1131, "recvWindow must be less than 60000".into()))?,
    };
    if ts_us >= now_us + 1_000_000 {
        return Err(ApiErr::new(
            400,
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.".into(),
        ));
    }
    if now_us.saturating_sub(ts_us) > window_us {
        return Err(ApiErr::new(
            400,
            -1021,
            "Timestamp for this request is outside of the recvWindow.".into(),
        ));
    }
    Ok(())
}

/// `recvWindow` text (ms, up to 3 decimals, ≤ 60000) in µs.
fn parse_recv_window_us(w: &str) -> Option<u64> {
    let (int, frac) = w.split_once('.').unwrap_or((w, ""));
    if int.is_empty() || frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms: u64 = int.parse().ok()?;
    let mut f: u64 = 0;
    for i in 0..3 {
        f = f * 10 + frac.as_bytes().get(i).map_or(0, |b| u64::from(b - b'0'));
    }
    let us = ms.checked_mul(1000)?.checked_add(f)?;
    (us <= 60_000_000 && us > 0).then_some(us)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn vectors() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../feed/tests/fixtures/binance/signature_vectors.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn hmac_matches_every_documented_vector() {
        let v = vectors();
        let list = v["hmac_sha256"].as_array().unwrap();
        assert_eq!(list.len(), 5);
        for case in list {
            let secret = case["secretKey"].as_str().unwrap();
            let payload = case["payload"].as_str().unwrap();
            let want = case["signature_hex"].as_str().unwrap();
            assert_eq!(hmac_hex(secret.as_bytes(), payload.as_bytes()), want);
            let spec = AccountSpec {
                api_key: "k".into(),
                secret: secret.into(),
                ed25519_public: None,
                balances: vec![],
            };
            verify(&spec, payload.as_bytes(), &want.to_ascii_uppercase()).unwrap();
            let mut bad = payload.to_string();
            bad.push('x');
            assert_eq!(verify(&spec, bad.as_bytes(), want).unwrap_err().code, -1022);
        }
    }

    #[test]
    fn ws_payload_from_the_doc_request_signs_like_the_doc() {
        let req: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../feed/tests/fixtures/binance/ws_api_order_place_request.json"
            ))
            .unwrap(),
        )
        .unwrap();
        // Re-read params as raw JSON, as the server does.
        let text = serde_json::to_string(&req["params"]).unwrap();
        let raw: Box<serde_json::value::RawValue> = serde_json::from_str(&text).unwrap();
        let p = Params::from_ws(Some(&raw)).unwrap();
        let sig = p.get("signature").unwrap();
        assert_eq!(hmac_hex(SECRET.as_bytes(), p.ws_payload().as_bytes()), sig);
    }

    #[test]
    fn ed25519_derived_vector_verifies() {
        let v = vectors();
        let case = &v["ed25519"][1];
        let pem = v["ed25519"][0]["public_key_pem"].as_str().unwrap();
        let pk = crate::config::ed25519_public_from_pem(pem).unwrap();
        let payload = case["payload"].as_str().unwrap();
        let sig = case["signature_base64"].as_str().unwrap();
        assert!(ed25519_ok(&pk, payload.as_bytes(), sig));
        assert!(!ed25519_ok(&pk, b"other", sig));
        assert!(!ed25519_ok(&pk, payload.as_bytes(), "not base64!"));
        let spec = AccountSpec {
            api_key: "k".into(),
            secret: String::new(),
            ed25519_public: Some(pk),
            balances: vec![],
        };
        verify(&spec, payload.as_bytes(), sig).unwrap();
        // No secret: a hex signature is never accepted.
        assert!(verify(&spec, payload.as_bytes(), &"0".repeat(64)).is_err());
    }

    #[test]
    fn timestamps_in_ms_or_us_inside_the_window() {
        let now_us = 1_700_000_000_000_000;
        let mut p = Params::default();
        assert_eq!(check_time(&p, now_us).unwrap_err().code, -1102);
        p.set("timestamp", "1700000000000");
        check_time(&p, now_us).unwrap();
        p.set("timestamp", "1699999995000");
        check_time(&p, now_us).unwrap();
        p.set("timestamp", "1699999994999");
        assert_eq!(check_time(&p, now_us).unwrap_err().code, -1021);
        p.set("recvWindow", "60000");
        check_time(&p, now_us).unwrap();
        p.set("recvWindow", "60000.001");
        assert_eq!(check_time(&p, now_us).unwrap_err().code, -1131);
        p.set("recvWindow", "10.5");
        p.set("timestamp", "1699999999990");
        check_time(&p, now_us).unwrap();
        // Ahead by more than 1000 ms.
        p.set("timestamp", "1700000001000");
        let e = check_time(&p, now_us).unwrap_err();
        assert_eq!(e.code, -1021);
        assert!(e.msg.contains("ahead"));
        p.set("timestamp", "1700000000999");
        check_time(&p, now_us).unwrap();
        // Microseconds.
        p.set("timestamp", "1699999999999000");
        check_time(&p, now_us).unwrap();
        p.set("timestamp", "1699999989999000");
        assert_eq!(check_time(&p, now_us).unwrap_err().code, -1021);
        p.set("timestamp", "abc");
        assert_eq!(check_time(&p, now_us).unwrap_err().code, -1100);
    }
}
