//! Known-answer tests for request signing, read from the venue fixtures.
//!
//! * every vector of `feed/tests/fixtures/binance/signature_vectors.json`
//!   (HMAC: WS API ascii and non-ascii, REST, REST percent-encoded, REST
//!   query+body; Ed25519: the FIX logon vector and the derived WS API one);
//! * every signed `ws_api_*_request*.json` doc example re-encoded by
//!   [`RequestEncoder`] reproduces the documented signature, through the
//!   dedicated methods where their param set matches and through
//!   `RequestEncoder::signed` for the rest;
//! * signing and encoding allocate nothing (counting global allocator).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use ed25519_dalek::pkcs8::DecodePublicKey as _;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use serde_json::Value;
use talon_core::event::{ClientOrderId, OrderCommand, OrderType, Side, TimeInForce};
use talon_core::instrument::InstrumentId;
use talon_core::num::{Price, Qty};
use talon_gateway::request::{Auth, ParamValue, RequestEncoder};
use talon_gateway::sign::{Ed25519Signer, HmacSigner};
use talon_testkit::{CountingAllocator, allocations};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../feed/tests/fixtures/binance")
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_dir().join(name)).expect("fixture");
    serde_json::from_str(&text).expect("fixture json")
}

fn vectors() -> Value {
    fixture("signature_vectors.json")
}

fn hex_of(s: &HmacSigner, payload: &[u8]) -> String {
    let mut out = [0u8; 64];
    s.sign_hex(payload, &mut out);
    String::from_utf8(out.to_vec()).unwrap()
}

fn b64_of(s: &Ed25519Signer, payload: &[u8]) -> String {
    let mut out = [0u8; 88];
    s.sign_base64(payload, &mut out);
    String::from_utf8(out.to_vec()).unwrap()
}

const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const DOC_API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";

#[test]
fn every_hmac_vector_in_the_fixture() {
    let v = vectors();
    let list = v["hmac_sha256"].as_array().unwrap();
    let ids: Vec<&str> = list.iter().map(|x| x["id"].as_str().unwrap()).collect();
    // The fixture's five vectors, none silently skipped.
    assert_eq!(
        ids,
        [
            "wsapi_ascii",
            "wsapi_nonascii",
            "rest_ascii",
            "rest_nonascii",
            "rest_query_plus_body_legacy"
        ]
    );
    for x in list {
        let signer = HmacSigner::new(x["secretKey"].as_str().unwrap().as_bytes());
        let payload = x["payload"].as_str().unwrap();
        assert_eq!(
            hex_of(&signer, payload.as_bytes()),
            x["signature_hex"].as_str().unwrap(),
            "vector {}",
            x["id"]
        );
        // Case-insensitive at the venue, but ours is lowercase.
        let mut out = [0u8; 64];
        signer.sign_hex(payload.as_bytes(), &mut out);
        assert!(out.iter().all(|c| !c.is_ascii_uppercase()));
    }
    // The non-ascii payload is signed as raw UTF-8 (multi-byte symbol).
    assert!(
        list[1]["payload"]
            .as_str()
            .unwrap()
            .contains("symbol=１２３４５６")
    );
}

#[test]
fn every_ed25519_vector_in_the_fixture() {
    let v = vectors();
    let list = v["ed25519"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    for x in list {
        let pem = x["private_key_pem"].as_str().unwrap();
        let signer = Ed25519Signer::from_pkcs8_pem(pem).unwrap();
        let payload = x["payload"].as_str().unwrap();
        let want = x["signature_base64"].as_str().unwrap();
        assert_eq!(
            b64_of(&signer, payload.as_bytes()),
            want,
            "vector {}",
            x["id"]
        );
        // Same key from DER (the PEM body) signs the same.
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64_decode(&body);
        let from_der = Ed25519Signer::from_pkcs8_der(&der).unwrap();
        assert_eq!(b64_of(&from_der, payload.as_bytes()), want);
        assert_eq!(from_der.public_key(), signer.public_key());
    }
    // The FIX vector's payload is SOH-joined and its public key is published.
    let fix = &list[0];
    assert_eq!(fix["id"], "fix_logon");
    let payload = fix["payload"].as_str().unwrap();
    assert_eq!(payload.bytes().filter(|&b| b == 1).count(), 4);
    let public =
        VerifyingKey::from_public_key_pem(fix["public_key_pem"].as_str().unwrap()).unwrap();
    let signer = Ed25519Signer::from_pkcs8_pem(fix["private_key_pem"].as_str().unwrap()).unwrap();
    assert_eq!(signer.public_key(), public.to_bytes());
    let sig = Signature::from_bytes(&signer.sign_raw(payload.as_bytes()));
    assert!(public.verify(payload.as_bytes(), &sig).is_ok());
}

/// A minimal standard-base64 decoder for the test (padding ignored).
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64 {c}"),
        }
    };
    let clean: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::new();
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// The documented signature of a request fixture and its params (without
/// `signature`) as `signed` takes them.
fn request_fixture(name: &str) -> (String, String, Vec<(String, Value)>) {
    let v = fixture(name);
    let method = v["method"].as_str().unwrap().to_owned();
    let params = v["params"].as_object().unwrap();
    let sig = params["signature"].as_str().unwrap().to_owned();
    let rest = params
        .iter()
        .filter(|(k, _)| *k != "signature")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (method, sig, rest)
}

#[test]
fn every_signed_doc_request_is_reproduced_by_the_general_encoder() {
    let signer = HmacSigner::new(DOC_SECRET.as_bytes());
    let auth = Auth::Hmac {
        api_key: DOC_API_KEY,
        signer: &signer,
    };
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ws_api_") && n.contains("_request"))
        .collect();
    names.sort();
    let mut checked = 0;
    let mut enc = RequestEncoder::new(2048);
    for name in &names {
        let v = fixture(name);
        if v["params"]["signature"].is_null() {
            continue;
        }
        let (method, want, params) = request_fixture(name);
        assert_eq!(
            params.iter().find(|(k, _)| k == "apiKey").unwrap().1,
            DOC_API_KEY
        );
        let typed: Vec<(&str, ParamValue<'_>)> = params
            .iter()
            .filter(|(k, _)| k != "apiKey")
            .map(|(k, v)| {
                let pv = match v {
                    Value::String(s) => ParamValue::Str(s),
                    Value::Number(n) => ParamValue::Int(n.as_u64().unwrap()),
                    other => panic!("{name}: unexpected param {other}"),
                };
                (k.as_str(), pv)
            })
            .collect();
        let frame = enc.signed(7, &method, &typed, &auth).unwrap().to_vec();
        let parsed: Value = serde_json::from_slice(&frame).unwrap();
        assert_eq!(parsed["params"]["signature"], want.as_str(), "{name}");
        assert_eq!(parsed["method"], method.as_str());
        assert_eq!(parsed["id"], 7);
        // Every fixture param came through with its JSON type.
        let original = fixture(name);
        for (k, v) in original["params"].as_object().unwrap() {
            assert_eq!(&parsed["params"][k], v, "{name}: {k}");
        }
        checked += 1;
    }
    // account.status, openOrders.cancelAll, openOrders.status, order.cancel,
    // order.place (ascii + non-ascii), order.status, session.logon.
    assert_eq!(checked, 8, "{names:?}");
}

#[test]
fn wsapi_order_place_doc_example_reproduces_aa1b5712() {
    let signer = HmacSigner::new(DOC_SECRET.as_bytes());
    let auth = Auth::Hmac {
        api_key: DOC_API_KEY,
        signer: &signer,
    };
    let mut enc = RequestEncoder::new(1024);
    // The doc's params in the doc's (unsorted) order; prices in the doc's
    // textual form, which the venue signs as sent.
    let frame = enc
        .signed(
            1,
            "order.place",
            &[
                ("symbol", ParamValue::Str("BTCUSDT")),
                ("side", ParamValue::Str("SELL")),
                ("type", ParamValue::Str("LIMIT")),
                ("timeInForce", ParamValue::Str("GTC")),
                ("quantity", ParamValue::Str("0.01000000")),
                ("price", ParamValue::Str("52000.00")),
                ("recvWindow", ParamValue::Int(100)),
                ("timestamp", ParamValue::Int(1_645_423_376_532)),
            ],
            &auth,
        )
        .unwrap()
        .to_vec();
    let v = vectors();
    assert_eq!(
        enc.last_payload(),
        v["hmac_sha256"][0]["payload"].as_str().unwrap().as_bytes()
    );
    let parsed: Value = serde_json::from_slice(&frame).unwrap();
    assert_eq!(
        parsed["params"]["signature"],
        "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
    );
}

#[test]
fn dedicated_methods_reproduce_the_doc_requests() {
    let signer = HmacSigner::new(DOC_SECRET.as_bytes());
    let auth = Auth::Hmac {
        api_key: DOC_API_KEY,
        signer: &signer,
    };
    let mut enc = RequestEncoder::new(1024);
    let sig = |frame: &[u8]| -> String {
        let v: Value = serde_json::from_slice(frame).unwrap();
        v["params"]["signature"].as_str().unwrap().to_owned()
    };

    // order.cancel by origClientOrderId, no recvWindow (0 = omitted).
    let (_, want, _) = request_fixture("ws_api_order_cancel_request.json");
    let orig = ClientOrderId::new("4d96324ff9d44481926157").unwrap();
    let f = enc
        .order_cancel(1, "BTCUSDT", &orig, 1_660_801_715_830, 0, &auth)
        .unwrap();
    assert_eq!(sig(f), want);

    let (_, want, _) = request_fixture("ws_api_openOrders_cancelAll_request.json");
    let f = enc
        .open_orders_cancel_all(2, "BTCUSDT", 1_660_805_557_200, 0, &auth)
        .unwrap();
    assert_eq!(sig(f), want);

    let (_, want, _) = request_fixture("ws_api_openOrders_status_request.json");
    let f = enc
        .open_orders_status(3, Some("BTCUSDT"), 1_660_813_156_812, 0, &auth)
        .unwrap();
    assert_eq!(sig(f), want);

    // order.place through the typed path: the canonical decimal form
    // (52000, 0.01) plus newClientOrderId and newOrderRespType — a payload
    // different from the doc's, whose HMAC was computed independently with
    // `openssl dgst -sha256 -hmac <doc secret>`.
    let cmd = OrderCommand::new_order(
        InstrumentId(1),
        Side::Sell,
        OrderType::Limit,
        TimeInForce::Gtc,
        Price::parse("52000.00").unwrap(),
        Qty::parse("0.01000000").unwrap(),
        ClientOrderId::from_session_seq(7, 42),
    );
    let f = enc
        .order_place(4, "BTCUSDT", &cmd, 1_645_423_376_532, 100, &auth)
        .unwrap()
        .to_vec();
    assert_eq!(
        std::str::from_utf8(enc.last_payload()).unwrap(),
        "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A\
         &newClientOrderId=tl0000000007-00000000000000000042&newOrderRespType=RESULT\
         &price=52000&quantity=0.01&recvWindow=100&side=SELL&symbol=BTCUSDT\
         &timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
    );
    assert_eq!(
        sig(&f),
        "2f04ca20c001b941e123483407e83d290cd769419b5d0504b15c2808f4438e7d"
    );
}

#[test]
fn session_logon_is_signed_with_ed25519_and_verifies() {
    let v = vectors();
    let pem = v["ed25519"][0]["private_key_pem"].as_str().unwrap();
    let signer = Ed25519Signer::from_pkcs8_pem(pem).unwrap();
    let mut enc = RequestEncoder::new(1024);
    let frame = enc
        .session_logon(
            9,
            "4yNzx3yWC5bS6YTwEkSRaC0nRmSQIIStAUOh1b6kqaBrTLIhjCpI5lJH8q8R8WNO",
            &signer,
            1_649_729_878_532,
            5000,
        )
        .unwrap()
        .to_vec();
    let parsed: Value = serde_json::from_slice(&frame).unwrap();
    assert_eq!(parsed["method"], "session.logon");
    let p = &parsed["params"];
    assert_eq!(p["timestamp"], 1_649_729_878_532u64);
    assert_eq!(p["recvWindow"], 5000);
    let payload = "apiKey=4yNzx3yWC5bS6YTwEkSRaC0nRmSQIIStAUOh1b6kqaBrTLIhjCpI5lJH8q8R8WNO&recvWindow=5000&timestamp=1649729878532";
    assert_eq!(enc.last_payload(), payload.as_bytes());
    let sig_b64 = p["signature"].as_str().unwrap();
    assert_eq!(sig_b64.len(), 88);
    let sig = Signature::from_slice(&base64_decode(sig_b64)).unwrap();
    let public = VerifyingKey::from_bytes(&signer.public_key()).unwrap();
    assert!(public.verify(payload.as_bytes(), &sig).is_ok());
    assert!(public.verify(b"tampered", &sig).is_err());
}

#[test]
fn signing_and_encoding_allocate_nothing() {
    let hmac = HmacSigner::new(DOC_SECRET.as_bytes());
    let v = vectors();
    let ed = Ed25519Signer::from_pkcs8_pem(v["ed25519"][0]["private_key_pem"].as_str().unwrap())
        .unwrap();
    let auth = Auth::Hmac {
        api_key: DOC_API_KEY,
        signer: &hmac,
    };
    let mut enc = RequestEncoder::new(1024);
    let mut small = RequestEncoder::new(40);
    let cmds: Vec<OrderCommand> = (0..64u64)
        .map(|i| {
            OrderCommand::new_order(
                InstrumentId(1),
                if i % 2 == 0 { Side::Buy } else { Side::Sell },
                [OrderType::Limit, OrderType::Market, OrderType::LimitMaker][(i % 3) as usize],
                TimeInForce::ALL[(i % 3) as usize],
                Price::from_raw(6_500_000_000_000 + i as i64 * 1_000_000),
                Qty::from_raw(1 + i as i64 * 12_345),
                ClientOrderId::from_session_seq(3, i),
            )
        })
        .collect();
    let mut hex = [0u8; 64];
    let mut b64 = [0u8; 88];
    let mut sink = 0usize;

    allocations::track_current_thread(true);
    allocations::start();
    for (i, cmd) in cmds.iter().enumerate() {
        let ts = 1_700_000_000_000 + i as u64;
        hmac.sign_hex(b"symbol=BTCUSDT&side=BUY", &mut hex);
        ed.sign_base64(b"apiKey=x&timestamp=1", &mut b64);
        sink += enc
            .order_place(i as u64, "BTCUSDT", cmd, ts, 5000, &auth)
            .unwrap()
            .len();
        sink += enc
            .order_place(i as u64, "BTCUSDT", cmd, ts, 0, &Auth::Session)
            .unwrap()
            .len();
        sink += enc
            .order_cancel(1, "BTCUSDT", &cmd.client_order_id, ts, 5000, &auth)
            .unwrap()
            .len();
        sink += enc
            .order_status(2, "BTCUSDT", &cmd.client_order_id, ts, 5000, &auth)
            .unwrap()
            .len();
        sink += enc
            .open_orders_cancel_all(3, "BTCUSDT", ts, 5000, &auth)
            .unwrap()
            .len();
        sink += enc
            .open_orders_status(4, None, ts, 5000, &auth)
            .unwrap()
            .len();
        sink += enc
            .session_logon(5, DOC_API_KEY, &ed, ts, 5000)
            .unwrap()
            .len();
        sink += enc.user_data_subscribe(6).unwrap().len();
        sink += enc
            .user_data_subscribe_signature(7, DOC_API_KEY, &hmac, ts, 5000)
            .unwrap()
            .len();
        sink += enc.time(8).unwrap().len();
        sink += enc.exchange_info(9, &["BTCUSDT", "ETHUSDT"]).unwrap().len();
        sink += enc
            .signed(
                10,
                "account.status",
                &[("timestamp", ParamValue::Int(ts))],
                &auth,
            )
            .unwrap()
            .len();
        // Errors allocate nothing either.
        sink += usize::from(
            small
                .order_place(1, "BTCUSDT", cmd, ts, 5000, &auth)
                .is_err(),
        );
        sink += usize::from(
            enc.order_place(1, "btc usdt", cmd, ts, 5000, &auth)
                .is_err(),
        );
    }
    let n = allocations::stop();
    // The counter works in this binary: one allocation in the window counts.
    allocations::start();
    let probe = std::hint::black_box(Vec::<u8>::with_capacity(16));
    let probe_count = allocations::stop();
    drop(probe);
    allocations::track_current_thread(false);
    assert!(sink > 64 * 1000);
    assert_eq!(n, 0, "allocations while signing/encoding");
    assert!(probe_count >= 1, "the counting allocator is not counting");
}
