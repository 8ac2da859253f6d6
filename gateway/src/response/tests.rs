#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;
use talon_core::clock::Nanos;

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../feed/tests/fixtures/binance")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn response(bytes: &[u8]) -> Response<'_> {
    match decode_inbound(bytes) {
        Ok(Inbound::Response(r)) => r,
        other => panic!("not a response: {other:?}"),
    }
}

fn cid(s: &str) -> ClientOrderId {
    ClientOrderId::new(s).unwrap()
}

#[test]
fn order_place_result_fixture() {
    let f = fixture("ws_api_order_place_response.json");
    let r = response(&f);
    assert_eq!(r.id, None);
    assert_eq!(
        r.id_text,
        Some(&b"e2a85d9f-07a5-4f94-8d5f-789dc3deb097"[..])
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.error, None);
    assert_eq!(r.retry_after_ms, None);
    let limits: Vec<_> = r.rate_limits.iter().collect();
    assert_eq!(
        limits,
        vec![
            RateLimit {
                kind: RateLimitKind::Orders,
                interval: RateInterval::Second,
                interval_num: 10,
                limit: 50,
                count: Some(12)
            },
            RateLimit {
                kind: RateLimitKind::Orders,
                interval: RateInterval::Day,
                interval_num: 1,
                limit: 160_000,
                count: Some(4043)
            },
            RateLimit {
                kind: RateLimitKind::RequestWeight,
                interval: RateInterval::Minute,
                interval_num: 1,
                limit: 6000,
                count: Some(321)
            },
        ]
    );
    let o = decode_order_result(r.result.unwrap()).unwrap();
    assert_eq!(o.symbol, b"BTCUSDT");
    assert_eq!(o.order_id, 12_510_053_279);
    assert_eq!(o.client_order_id, cid("a097fe6304b20a7e4fc436"));
    assert_eq!(o.orig_client_order_id, None);
    assert_eq!(o.status, Some(VenueOrderStatus::New));
    assert_eq!(o.order_status(), Some(OrderStatus::New));
    assert_eq!(o.price, Some(Price::parse("0.1").unwrap()));
    assert_eq!(o.orig_qty, Some(Qty::parse("10").unwrap()));
    assert_eq!(o.executed_qty, Some(Qty::ZERO));
    assert_eq!(o.side, Some(Side::Buy));
    assert_eq!(o.talon_order_type(), Some(OrderType::Limit));
    assert_eq!(o.time_ms, Some(1_655_716_096_505));
    assert_eq!(o.fills().count(), 0);
}

#[test]
fn order_place_ack_and_full_fixtures() {
    let f = fixture("ws_api_order_place_response_ack.json");
    let o = decode_order_result(response(&f).result.unwrap()).unwrap();
    assert_eq!(o.order_id, 12_569_099_453);
    assert_eq!(o.client_order_id, cid("4d96324ff9d44481926157ec08158a40"));
    assert_eq!((o.status, o.executed_qty, o.side), (None, None, None));
    assert_eq!(o.order_status(), None);
    assert_eq!(o.time_ms, Some(1_660_801_715_639));

    let f = fixture("ws_api_order_place_response_full.json");
    let o = decode_order_result(response(&f).result.unwrap()).unwrap();
    assert_eq!(o.order_status(), Some(OrderStatus::Filled));
    assert_eq!(o.executed_qty, Some(Qty::parse("0.00847").unwrap()));
    assert_eq!(o.cum_quote, Some(Qty::parse("198.335215").unwrap()));
    let fills: Vec<_> = o.fills().map(Result::unwrap).collect();
    assert_eq!(fills.len(), 2);
    assert_eq!(fills[0].trade_id, 1_650_422_481);
    assert_eq!(fills[0].price, Price::parse("23416.1").unwrap());
    assert_eq!(fills[0].qty, Qty::parse("0.00635").unwrap());
    assert_eq!(fills[0].commission, Qty::ZERO);
    assert_eq!(fills[0].commission_asset, b"BNB");
    assert_eq!(fills[1].trade_id, 1_650_422_482);
    let total = fills[0].qty.checked_add(fills[1].qty).unwrap();
    assert_eq!(Some(total), o.executed_qty);
}

#[test]
fn cancel_status_and_open_orders_fixtures() {
    let f = fixture("ws_api_order_cancel_response.json");
    let o = decode_order_result(response(&f).result.unwrap()).unwrap();
    assert_eq!(o.client_order_id, cid("91fe37ce9e69c90d6358c0"));
    assert_eq!(o.orig_client_order_id, Some(cid("4d96324ff9d44481926157")));
    assert_eq!(o.order_client_id(), cid("4d96324ff9d44481926157"));
    assert_eq!(o.order_status(), Some(OrderStatus::Canceled));
    assert_eq!(o.side, Some(Side::Sell));

    let f = fixture("ws_api_order_status_response.json");
    let r = response(&f);
    assert_eq!(r.rate_limits.iter().next().unwrap().count, Some(4));
    let o = decode_order_result(r.result.unwrap()).unwrap();
    assert_eq!(o.order_status(), Some(OrderStatus::Filled));
    assert_eq!(o.time_ms, Some(1_660_801_715_639));
    assert_eq!(o.update_time_ms, Some(1_660_801_717_945));

    let f = fixture("ws_api_openOrders_status_response.json");
    let r = response(&f);
    let all: Vec<_> = OrderResults::new(r.result.unwrap()).collect();
    assert_eq!(all.len(), 1);
    let o = all[0].unwrap();
    assert_eq!(o.order_status(), Some(OrderStatus::PartiallyFilled));
    assert_eq!(o.executed_qty, Some(Qty::parse("0.0072").unwrap()));

    // cancelAll: one order report, then an OCO list report (skipped by
    // callers as OrderList).
    let f = fixture("ws_api_openOrders_cancelAll_response.json");
    let r = response(&f);
    let all: Vec<_> = OrderResults::new(r.result.unwrap()).collect();
    assert_eq!(all.len(), 2);
    let o = all[0].unwrap();
    assert_eq!(o.order_client_id(), cid("4d96324ff9d44481926157"));
    assert_eq!(o.order_status(), Some(OrderStatus::Canceled));
    assert_eq!(all[1], Err(ResponseError::OrderList));
    assert_eq!(OrderResults::new(b"[]").count(), 0);
}

#[test]
fn other_response_fixtures() {
    let f = fixture("ws_api_time_response_no_ratelimits.json");
    let r = response(&f);
    assert_eq!(r.id, Some(2));
    assert!(r.rate_limits.is_empty());
    assert_eq!(decode_server_time(r.result.unwrap()), Ok(1_656_400_527_891));

    let f = fixture("ws_api_session_logon_response.json");
    let r = response(&f);
    assert_eq!(decode_server_time(r.result.unwrap()), Ok(1_649_729_878_630));

    for name in [
        "ws_api_account_status_response.json",
        "ws_api_userDataStream_subscribe_response.json",
    ] {
        let f = fixture(name);
        let r = response(&f);
        assert_eq!(r.status, 200, "{name}");
        assert!(r.result.is_some(), "{name}");
        // Not an order report.
        assert!(decode_order_result(r.result.unwrap()).is_err(), "{name}");
    }
}

#[test]
fn error_fixtures() {
    let f = fixture("ws_api_error.json");
    let r = response(&f);
    assert_eq!(r.status, 400);
    let e = r.error.unwrap();
    assert_eq!(e.code, -2010);
    assert_eq!(
        e.msg,
        b"Account has insufficient balance for requested action."
    );
    assert_eq!(r.result, None);
    assert_eq!(r.rate_limits.len(), 3);
    assert!(!r.is_rate_limited());

    let f = fixture("ws_api_error_ip_banned.json");
    let r = response(&f);
    assert_eq!(r.status, 418);
    assert!(r.is_rate_limited());
    assert_eq!(r.error.unwrap().code, -1003);
    assert_eq!(r.retry_after_ms, Some(1_659_146_400_000));
}

#[test]
fn a_429_with_top_level_retry_after() {
    let f = br#"{"id":12,"status":429,"error":{"code":-1003,"msg":"Too much request weight used; please use WebSocket Streams for live updates to avoid bans."},"retryAfter":1659146400000,"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000,"count":6001}]}"#;
    let r = response(f);
    assert_eq!((r.id, r.status), (Some(12), 429));
    assert_eq!(r.retry_after_ms, Some(1_659_146_400_000));
    assert_eq!(r.rate_limits.iter().next().unwrap().count, Some(6001));
}

#[test]
fn ids_int_string_null_missing() {
    let r = response(br#"{"id":18446744073709551615,"status":200,"result":{}}"#);
    assert_eq!((r.id, r.id_text), (Some(u64::MAX), None));
    let r = response(br#"{"id":"a\"b","status":200,"result":{}}"#);
    assert_eq!((r.id, r.id_text), (None, Some(&br#"a\"b"#[..])));
    let r = response(br#"{"id":null,"status":401,"error":{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}}"#);
    assert_eq!((r.id, r.id_text, r.status), (None, None, 401));
    assert_eq!(r.error.unwrap().code, -2015);
    let r = response(br#"{"status":200,"result":[]}"#);
    assert_eq!(r.id, None);
    assert_eq!(r.result, Some(&b"[]"[..]));
    for (bad, want) in [
        (&br#"{"id":-1,"status":200}"#[..], ResponseError::WrongType),
        (br#"{"id":1.5,"status":200}"#, ResponseError::WrongType),
        (br#"{"id":18446744073709551616,"status":200}"#, ResponseError::NumberOverflow),
        (br#"{"id":1,"status":70000}"#, ResponseError::NumberOverflow),
        (br#"{"id":1,"id":2,"status":200}"#, ResponseError::DuplicateKey),
        (br#"{"id":1,"status":"200"}"#, ResponseError::WrongType),
        (br#"{"id":1,"status":200,"result":"x"}"#, ResponseError::WrongType),
        (br#"{"id":1}"#, ResponseError::UnknownMessage),
        (br#"{"id":1,"status":200} x"#, ResponseError::TrailingData),
        (br#"[1]"#, ResponseError::NotAnObject),
        (b"  ", ResponseError::Empty),
        (br#"{"id":1,"status":200,"error":{"code":-99999999999,"msg":""}}"#, ResponseError::NumberOverflow),
        (br#"{"id":1,"status":200,"rateLimits":[{"rateLimitType":"X","interval":"MINUTE","intervalNum":1,"limit":1}]}"#, ResponseError::UnknownEnum),
    ] {
        assert_eq!(decode_inbound(bad), Err(want), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn rate_limits_array_is_bounded() {
    let one =
        r#"{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":50,"count":1}"#;
    let eight = [one; 8].join(",");
    let nine = [one; 9].join(",");
    let ok = format!(r#"{{"id":1,"status":200,"rateLimits":[{eight}]}}"#);
    assert_eq!(response(ok.as_bytes()).rate_limits.len(), 8);
    let bad = format!(r#"{{"id":1,"status":200,"rateLimits":[{nine}]}}"#);
    assert_eq!(
        decode_inbound(bad.as_bytes()),
        Err(ResponseError::TooManyEntries)
    );
}

#[test]
fn exchange_info_rate_limits() {
    let f = fixture("exchangeInfo_BTCUSDT.json");
    let l = decode_exchange_rate_limits(&f).unwrap();
    let got: Vec<_> = l
        .iter()
        .map(|r| (r.kind, r.window_ms(), r.limit, r.count))
        .collect();
    assert_eq!(
        got,
        vec![
            (RateLimitKind::RequestWeight, 60_000, 6000, None),
            (RateLimitKind::Orders, 10_000, 100, None),
            (RateLimitKind::Orders, 86_400_000, 200_000, None),
            (RateLimitKind::RawRequests, 300_000, 61_000, None),
        ]
    );
    assert_eq!(decode_server_time(&f), Ok(1_754_603_741_167));
    // Wrapped in a WS API response, the same through `result`.
    let framed = [
        &br#"{"id":3,"status":200,"result":"#[..],
        &f,
        br#","rateLimits":[]}"#,
    ]
    .concat();
    let r = response(&framed);
    assert_eq!(decode_exchange_rate_limits(r.result.unwrap()), Ok(l));
}

fn exec(bytes: &[u8]) -> ExecutionEvent<'_> {
    match decode_inbound(bytes) {
        Ok(Inbound::Execution(e)) => e,
        other => panic!("not an execution: {other:?}"),
    }
}

#[test]
fn execution_report_doc_fixture_with_null_fee_asset() {
    let f = fixture("userdata_event_executionReport_doc.json");
    let e = exec(&f);
    assert_eq!(e.symbol, b"ETHBTC");
    assert_eq!(e.client_order_id, cid("mUvoqJxFIILMdfAW5iGSOW"));
    assert_eq!(e.orig_client_order_id, ClientOrderId::EMPTY);
    assert_eq!(e.exec_type, ExecType::New);
    assert_eq!(e.order_status, VenueOrderStatus::New);
    assert_eq!(e.trade_id, None);
    assert_eq!(e.commission_asset, None);
    assert_eq!(e.order_id, 4_293_153);
    assert_eq!(e.price, Some(Price::parse("0.1026441").unwrap()));
    let stamps = Stamps::received(Nanos(5));
    let r = e.to_exec_report(InstrumentId(3), "ETH", "BTC", stamps);
    assert_eq!(r.status, OrderStatus::New);
    assert_eq!(r.trade_id, 0);
    assert_eq!(r.fee_asset, FeeAsset::None);
    assert_eq!(r.instrument, InstrumentId(3));
    assert_eq!(r.stamps, stamps);
    assert_eq!(r.venue_time_ms, 1_499_405_658_657);
    assert!(!r.is_fill());
}

#[test]
fn bare_and_legacy_execution_fixtures() {
    // executionReport_fill.json is a bare event (old listenKey capture).
    let f = fixture("executionReport_fill.json");
    let e = exec(&f);
    assert_eq!(e.exec_type, ExecType::Trade);
    assert_eq!(e.trade_id, Some(726_946_523));
    let r = e.to_exec_report(InstrumentId(1), "BTC", "USDT", Stamps::ZERO);
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!(r.trade_id, 726_946_523);
    assert_eq!(r.last_qty, Qty::parse("0.000286").unwrap());
    assert_eq!(r.cum_qty, Qty::parse("0.000286").unwrap());
    assert_eq!(r.last_price, Price::parse("52436.85").unwrap());
    assert_eq!(r.fee, Qty::parse("0.00000029").unwrap());
    assert_eq!(r.fee_asset, FeeAsset::Base);
    assert_eq!(r.venue_order_id, 5_341_783_271);
    assert_eq!(r.client_order_id, cid("YeULctvPAnHj5HXCQo9Mob"));
    assert!(r.is_fill());
    // The same fee in the quote or a third asset.
    let r = e.to_exec_report(InstrumentId(1), "ETH", "BTC", Stamps::ZERO);
    assert_eq!(r.fee_asset, FeeAsset::Quote);
    let r = e.to_exec_report(InstrumentId(1), "ETH", "USDT", Stamps::ZERO);
    assert_eq!(r.fee_asset, FeeAsset::Other);

    // executionReport_new.json: bare; n "0" with N "BTC" → no fee asset.
    let f = fixture("executionReport_new.json");
    let r = exec(&f).to_exec_report(InstrumentId(1), "BTC", "USDT", Stamps::ZERO);
    assert_eq!(
        (r.status, r.trade_id, r.fee_asset),
        (OrderStatus::New, 0, FeeAsset::None)
    );

    // The retired listenKey stream wrapper {"stream":…,"data":{…}}.
    let f = fixture("userdata_listenkey_frame_executionReport_new.json");
    let legacy = exec(&f);
    assert_eq!(legacy, exec(&fixture("executionReport_new.json")));
}

#[test]
fn account_and_session_fixtures() {
    let f = fixture("outboundAccountPosition.json"); // bare (old capture)
    assert_eq!(decode_inbound(&f), Ok(Inbound::AccountPosition));
    let f = fixture("balanceUpdate.json");
    assert_eq!(decode_inbound(&f), Ok(Inbound::BalanceUpdate));
    let f = fixture("eventStreamTerminated_doc.json");
    assert_eq!(
        decode_inbound(&f),
        Ok(Inbound::SessionEvent(
            SessionEventKind::EventStreamTerminated
        ))
    );
    let f = fixture("stream_serverShutdown_combined.json");
    assert_eq!(
        decode_inbound(&f),
        Ok(Inbound::SessionEvent(SessionEventKind::ServerShutdown))
    );
    assert_eq!(
        decode_inbound(br#"{"event":{"e":"serverShutdown","E":1}}"#),
        Ok(Inbound::SessionEvent(SessionEventKind::ServerShutdown))
    );
    let f = fixture("listStatus_doc.json");
    assert!(matches!(
        decode_inbound(&f),
        Ok(Inbound::OtherEvent(b"listStatus"))
    ));
    // Market-data frames are not WS API traffic.
    let f = fixture("trade.json");
    assert_eq!(decode_inbound(&f), Ok(Inbound::OtherEvent(&b"trade"[..])));
}

#[test]
fn every_fixture_decodes_or_fails_cleanly() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../feed/tests/fixtures/binance");
    let mut responses = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let got = decode_inbound(&bytes);
        if name.starts_with("ws_api_") && name.contains("response")
            || name.starts_with("ws_api_error")
        {
            assert!(matches!(got, Ok(Inbound::Response(_))), "{name}: {got:?}");
            responses += 1;
        }
    }
    assert_eq!(responses, 13);
}

#[test]
fn cancel_event_maps_to_the_cancelled_order_and_reject_code() {
    let f = br#"{"subscriptionId":0,"event":{"e":"executionReport","E":1,"s":"BTCUSDT","c":"cancel-1","S":"SELL","o":"LIMIT","C":"tl0000000001-00000000000000000007","x":"CANCELED","X":"CANCELED","r":"NONE","i":9,"l":"0","z":"0.5","L":"0","n":"0","N":null,"T":2,"t":-1}}"#;
    let r = exec(f).to_exec_report(InstrumentId(0), "BTC", "USDT", Stamps::ZERO);
    assert_eq!(r.client_order_id, cid("tl0000000001-00000000000000000007"));
    assert_eq!(r.status, OrderStatus::Canceled);
    assert_eq!(r.side, Side::Sell);
    assert_eq!(r.reject_code, 0);
    let f = br#"{"subscriptionId":0,"event":{"e":"executionReport","E":1,"s":"BTCUSDT","c":"x1","S":"BUY","C":"","x":"REJECTED","X":"REJECTED","r":"INSUFFICIENT_BALANCES","i":9,"l":"0","z":"0","L":"0","n":"0","N":null,"T":2,"t":-1}}"#;
    let e = exec(f);
    assert_eq!(e.reject_reason, b"INSUFFICIENT_BALANCES");
    let r = e.to_exec_report(InstrumentId(0), "BTC", "USDT", Stamps::ZERO);
    assert_eq!(
        (r.status, r.reject_code),
        (OrderStatus::Rejected, EXEC_REJECT_CODE)
    );
    // PENDING_CANCEL stays open; EXPIRED_IN_MATCH is Expired.
    assert_eq!(
        VenueOrderStatus::PendingCancel.to_order_status(true),
        OrderStatus::PartiallyFilled
    );
    assert_eq!(
        VenueOrderStatus::PendingCancel.to_order_status(false),
        OrderStatus::New
    );
    assert_eq!(
        VenueOrderStatus::ExpiredInMatch.to_order_status(true),
        OrderStatus::Expired
    );
}

#[test]
fn execution_rejections() {
    let base = r#""e":"executionReport","E":1,"s":"BTCUSDT","c":"x1","S":"BUY","x":"TRADE","X":"FILLED","i":9,"l":"1","z":"1","L":"2","n":"0","T":2"#;
    for (extra, want) in [
        (r#","t":-2"#, ResponseError::NumberOverflow),
        (r#","t":1.0"#, ResponseError::WrongType),
        (r#""#, ResponseError::MissingField),
        (r#","t":1,"l":"1""#, ResponseError::DuplicateKey),
        (r#","t":1,"N":5"#, ResponseError::WrongType),
        (r#","t":1,"C":"bad id!""#, ResponseError::BadClientOrderId),
        (r#","t":1,"p":"1.000000001""#, ResponseError::BadDecimal),
        (r#","t":1,"p":1.5"#, ResponseError::WrongType),
        (r#","t":1,"N":"B\u0054C""#, ResponseError::EscapedString),
    ] {
        let f = format!(r#"{{"subscriptionId":0,"event":{{{base}{extra}}}}}"#);
        assert_eq!(decode_inbound(f.as_bytes()), Err(want), "{f}");
    }
    let f = format!(r#"{{"subscriptionId":0,"event":{{{base},"t":1,"x":"NEWISH"}}}}"#);
    assert_eq!(
        decode_inbound(f.as_bytes()),
        Err(ResponseError::DuplicateKey)
    );
    let f = format!(r#"{{"subscriptionId":0,"event":{{{base},"t":1}},"data":{{}}}}"#);
    assert_eq!(
        decode_inbound(f.as_bytes()),
        Err(ResponseError::UnknownMessage)
    );
    let f = format!(r#"{{"subscriptionId":"0","event":{{{base},"t":1}}}}"#);
    assert_eq!(decode_inbound(f.as_bytes()), Err(ResponseError::WrongType));
    assert_eq!(
        decode_inbound(br#"{"subscriptionId":0,"event":7}"#),
        Err(ResponseError::NotAnObject)
    );
}

#[test]
fn counters_count_by_reason() {
    let mut c = ResponseCounters::new();
    for (i, r) in ResponseError::ALL.iter().enumerate() {
        assert_eq!(r.index(), i);
        assert!(!r.as_str().is_empty());
        c.record(*r);
    }
    c.record(ResponseError::Malformed);
    assert_eq!(c.get(ResponseError::Malformed), 2);
    assert_eq!(c.total(), ResponseError::COUNT as u64 + 1);
}

// ---------------------------------------------------------------------------
// Differential test against a serde_json reference
// ---------------------------------------------------------------------------

#[allow(non_snake_case, dead_code)]
#[derive(serde::Deserialize)]
struct RefExec {
    e: String,
    E: u64,
    s: String,
    c: String,
    #[serde(default)]
    C: Option<String>,
    S: String,
    #[serde(default)]
    o: Option<String>,
    x: String,
    X: String,
    #[serde(default)]
    r: Option<String>,
    i: u64,
    l: String,
    z: String,
    L: String,
    n: String,
    #[serde(default)]
    N: Option<String>,
    T: u64,
    t: i64,
    #[serde(default)]
    p: Option<String>,
    #[serde(default)]
    q: Option<String>,
}

#[derive(serde::Deserialize)]
struct RefFrame {
    #[serde(rename = "subscriptionId")]
    _subscription_id: u64,
    event: RefExec,
}

/// What `ExecutionEvent` should hold, computed from the serde reference.
fn reference(frame: &[u8]) -> ExecutionEvent<'static> {
    let f: RefFrame = serde_json::from_slice(frame).unwrap();
    let ev = f.event;
    let leak = |s: String| -> &'static [u8] { Box::leak(s.into_bytes().into_boxed_slice()) };
    ExecutionEvent {
        event_time_ms: ev.E,
        symbol: leak(ev.s),
        client_order_id: cid(&ev.c),
        orig_client_order_id: match ev.C.as_deref() {
            None | Some("") => ClientOrderId::EMPTY,
            Some(c) => cid(c),
        },
        side: if ev.S == "BUY" { Side::Buy } else { Side::Sell },
        order_type: ev.o.map(leak).unwrap_or_default(),
        exec_type: ExecType::parse(ev.x.as_bytes()).unwrap(),
        order_status: VenueOrderStatus::parse(ev.X.as_bytes()).unwrap(),
        reject_reason: ev.r.map(leak).unwrap_or_default(),
        order_id: ev.i,
        trade_id: (ev.t != -1).then(|| u64::try_from(ev.t).unwrap()),
        last_qty: Qty::parse(&ev.l).unwrap(),
        cum_qty: Qty::parse(&ev.z).unwrap(),
        last_price: Price::parse(&ev.L).unwrap(),
        commission: Qty::parse(&ev.n).unwrap(),
        commission_asset: ev.N.map(leak),
        transaction_time_ms: ev.T,
        price: ev.p.map(|p| Price::parse(&p).unwrap()),
        qty: ev.q.map(|q| Qty::parse(&q).unwrap()),
    }
}

fn decimal() -> impl Strategy<Value = String> {
    (0u64..10_000_000, 0u32..=8, any::<bool>()).prop_map(|(int, dec, pad)| {
        if dec == 0 {
            int.to_string()
        } else {
            let frac = (int % 10u64.pow(dec)).to_string();
            let frac = format!("{frac:0>width$}", width = dec as usize);
            let frac = if pad { format!("{frac:0<8}") } else { frac };
            format!("{}.{}", int / 7, frac)
        }
    })
}

fn junk_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        Just("1.5e300".to_string()),
        "[a-zA-Z0-9 é]{0,8}".prop_map(|s| format!("\"{s}\"")),
        Just(r#""esc\"\u00e9\n""#.to_string()),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3)
                .prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec(("[a-z]{2,5}", inner), 0..3).prop_map(|v| {
                let members: Vec<_> = v.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

fn client_id_text() -> impl Strategy<Value = String> {
    "[.A-Za-z0-9:/_-]{1,36}"
}

prop_compose! {
    fn exec_frame()(
        e_time in any::<u64>(),
        symbol in "[A-Z]{3,12}",
        c in client_id_text(),
        orig in prop_oneof![Just(None), Just(Some(String::new())), client_id_text().prop_map(Some)],
        side in prop_oneof![Just("BUY"), Just("SELL")],
        o in proptest::option::of(prop_oneof![Just("LIMIT"), Just("MARKET"), Just("LIMIT_MAKER"), Just("STOP_LOSS")]),
        x in prop_oneof![Just("NEW"), Just("CANCELED"), Just("REPLACED"), Just("REJECTED"), Just("TRADE"), Just("EXPIRED"), Just("TRADE_PREVENTION")],
        status in prop_oneof![Just("NEW"), Just("PENDING_NEW"), Just("PARTIALLY_FILLED"), Just("FILLED"), Just("CANCELED"), Just("PENDING_CANCEL"), Just("REJECTED"), Just("EXPIRED"), Just("EXPIRED_IN_MATCH")],
        r in proptest::option::of(prop_oneof![Just("NONE"), Just("INSUFFICIENT_BALANCES")]),
        i in any::<u64>(),
        l in decimal(), z in decimal(), ll in decimal(), n in decimal(),
        fee_asset in prop_oneof![Just(None), Just(Some("BNB")), Just(Some("BTC"))],
        fee_asset_present in any::<bool>(),
        tx in any::<u64>(),
        t in prop_oneof![Just(-1i64), 0i64..=i64::MAX],
        p in proptest::option::of(decimal()),
        q in proptest::option::of(decimal()),
        extras in proptest::collection::vec(("[a-zA-Z]{2,4}|[a-zA-Z]{1}", junk_value()), 0..5),
        order in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
        ws in any::<bool>(),
        sub_first in any::<bool>(),
    ) -> String {
        let mut members: Vec<(String, String)> = vec![
            ("e".into(), "\"executionReport\"".into()),
            ("E".into(), e_time.to_string()),
            ("s".into(), format!("\"{symbol}\"")),
            ("c".into(), format!("\"{c}\"")),
            ("S".into(), format!("\"{side}\"")),
            ("x".into(), format!("\"{x}\"")),
            ("X".into(), format!("\"{status}\"")),
            ("i".into(), i.to_string()),
            ("l".into(), format!("\"{l}\"")),
            ("z".into(), format!("\"{z}\"")),
            ("L".into(), format!("\"{ll}\"")),
            ("n".into(), format!("\"{n}\"")),
            ("T".into(), tx.to_string()),
            ("t".into(), t.to_string()),
        ];
        if let Some(orig) = orig { members.push(("C".into(), format!("\"{orig}\""))); }
        if let Some(o) = o { members.push(("o".into(), format!("\"{o}\""))); }
        if let Some(r) = r { members.push(("r".into(), format!("\"{r}\""))); }
        if fee_asset_present || fee_asset.is_some() {
            members.push(("N".into(), fee_asset.map_or("null".into(), |a| format!("\"{a}\""))));
        }
        if let Some(p) = p { members.push(("p".into(), format!("\"{p}\""))); }
        if let Some(q) = q { members.push(("q".into(), format!("\"{q}\""))); }
        let known: Vec<String> = members.iter().map(|(k, _)| k.clone()).collect();
        for (k, v) in extras {
            // Unknown keys only (a known key twice is a different test).
            if !known.contains(&k) && !["C", "o", "r", "N", "p", "q"].contains(&k.as_str()) {
                members.push((k, v));
            }
        }
        // Shuffle deterministically from `order`.
        let mut seed = order | 1;
        for idx in (1..members.len()).rev() {
            seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
            members.swap(idx, (seed % (idx as u64 + 1)) as usize);
        }
        let sep = if ws { " ,\n " } else { "," };
        let colon = if ws { " : " } else { ":" };
        let body: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\"{colon}{v}")).collect();
        let event = format!("{{{}}}", body.join(sep));
        if sub_first {
            format!("{{\"subscriptionId\":0,\"event\":{event}}}")
        } else {
            format!("{{ \"event\" : {event} , \"subscriptionId\" : 3 }}")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn execution_reports_match_serde_reference(frame in exec_frame()) {
        let want = reference(frame.as_bytes());
        let got = exec(frame.as_bytes());
        prop_assert_eq!(got, want);
    }

    #[test]
    fn hostile_bytes_never_panic(
        which in 0usize..8,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..6),
    ) {
        let names = [
            "ws_api_order_place_response_full.json",
            "ws_api_openOrders_cancelAll_response.json",
            "ws_api_error_ip_banned.json",
            "userdata_event_executionReport_doc.json",
            "executionReport_fill.json",
            "balanceUpdate.json",
            "ws_api_order_status_response.json",
            "ws_api_time_response_no_ratelimits.json",
        ];
        let mut bytes = fixture(names[which]);
        for (at, b, op) in edits {
            let i = at.index(bytes.len().max(1));
            match op {
                0 => { if let Some(x) = bytes.get_mut(i) { *x = b; } }
                1 => bytes.insert(i.min(bytes.len()), b),
                2 => { if i < bytes.len() { bytes.remove(i); } }
                _ => bytes.truncate(i),
            }
        }
        if let Ok(Inbound::Response(r)) = decode_inbound(&bytes) {
            if let Some(res) = r.result {
                let _ = decode_server_time(res);
                let _ = decode_exchange_rate_limits(res);
                if let Ok(o) = decode_order_result(res) {
                    for f in o.fills() { let _ = f; }
                }
                for o in OrderResults::new(res).take(100) { let _ = o; }
            }
        } else if let Ok(Inbound::Execution(e)) = decode_inbound(&bytes) {
            let _ = e.to_exec_report(InstrumentId(0), "BTC", "USDT", Stamps::ZERO);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_inbound(&bytes);
        let _ = decode_order_result(&bytes);
        for x in RawArray::new(&bytes).take(300) { let _ = x; }
    }
}

#[test]
fn deep_nesting_is_rejected_not_recursed() {
    let deep = format!(
        r#"{{"id":1,"status":200,"result":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(decode_inbound(deep.as_bytes()), Err(ResponseError::TooDeep));
    let deep_event = format!(r#"{{"event":{{"e":"x","k":{}}}}}"#, "[".repeat(5000));
    assert_eq!(
        decode_inbound(deep_event.as_bytes()),
        Err(ResponseError::TooDeep)
    );
}
