//! Unit tests of the decoder, one group per message kind and per rule.
#![allow(clippy::unwrap_used)]

use talon_core::clock::Nanos;
use talon_core::event::{MarketData, Side, Stamps};
use talon_core::instrument::InstrumentId;
use talon_core::num::{Price, Qty};

use super::*;

fn p(s: &str) -> Price {
    Price::parse(s).unwrap()
}
fn q(s: &str) -> Qty {
    Qty::parse(s).unwrap()
}
fn msg(s: &str) -> Decoded<'_> {
    decode(s.as_bytes()).unwrap().message
}
fn err(s: &str) -> DecodeError {
    decode(s.as_bytes()).unwrap_err()
}

const BOOK: &str = r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;

#[test]
fn book_ticker_raw_and_wrapped_in_both_key_orders() {
    let expect = BookTicker {
        symbol: b"BNBUSDT",
        update_id: 400_900_217,
        bid_price: p("25.3519"),
        bid_qty: q("31.21"),
        ask_price: p("25.3652"),
        ask_qty: q("40.66"),
    };
    assert_eq!(msg(BOOK), Decoded::BookTicker(expect));
    let raw = decode(BOOK.as_bytes()).unwrap();
    assert_eq!(raw.stream, None);
    for wrapped in [
        format!(r#"{{"stream":"bnbusdt@bookTicker","data":{BOOK}}}"#),
        format!(r#"{{"data":{BOOK},"stream":"bnbusdt@bookTicker"}}"#),
        format!("\n {{ \"data\" :\t{BOOK} ,\r\n \"stream\" : \"bnbusdt@bookTicker\" }} \n"),
    ] {
        let env = decode(wrapped.as_bytes()).unwrap();
        assert_eq!(env.stream, Some(&b"bnbusdt@bookTicker"[..]));
        assert_eq!(env.message, Decoded::BookTicker(expect));
    }
    // Reversed field order, whitespace everywhere, unknown fields of every type.
    let shuffled = r#" { "A" : "40.66" , "x":{"y":[1,{"z":null}],"w":"}"}, "a":"25.3652", "B":"31.21",
        "n": -1.5e-3, "k": true, "b":"25.35190000", "arr": [[], {}], "s":"BNBUSDT", "u": 400900217 } "#;
    assert_eq!(msg(shuffled), Decoded::BookTicker(expect));
    // e = "bookTicker" (futures style) is accepted too.
    let with_e = r#"{"e":"bookTicker","u":1,"s":"X","b":"1","B":"2","a":"3","A":"4"}"#;
    assert!(matches!(msg(with_e), Decoded::BookTicker(_)));
}

#[test]
fn book_ticker_to_event() {
    let Decoded::BookTicker(t) = msg(BOOK) else {
        panic!()
    };
    let stamps = Stamps {
        recv: Nanos(10),
        decode: Nanos(20),
    };
    let ev = t.to_event(InstrumentId(3), stamps);
    assert_eq!(ev.instrument, InstrumentId(3));
    assert_eq!(ev.stamps, stamps);
    let MarketData::TopOfBook(top) = ev.data() else {
        panic!()
    };
    assert_eq!(top.update_id, 400_900_217);
    assert_eq!(top.bid_price, p("25.3519"));
    assert_eq!(top.ask_qty, q("40.66"));
}

#[test]
fn trade_and_agg_trade() {
    let t = r#"{"e":"trade","E":1790649901913,"s":"BTCUSDT","t":6720857582,"p":"83034.29000000","q":"0.00062000","b":88,"a":50,"T":1790649901914,"m":true,"M":true}"#;
    let Decoded::Trade(tr) = msg(t) else { panic!() };
    assert_eq!(
        tr,
        TradeMsg {
            symbol: b"BTCUSDT",
            event_time_ms: 1_790_649_901_913,
            trade_id: 6_720_857_582,
            price: p("83034.29"),
            qty: q("0.00062"),
            trade_time_ms: 1_790_649_901_914,
            buyer_is_maker: true,
        }
    );
    let MarketData::Trade(ev) = tr.to_event(InstrumentId(1), Stamps::ZERO).data() else {
        panic!()
    };
    assert_eq!(ev.trade_id, 6_720_857_582);
    assert_eq!(ev.trade_time_ms, 1_790_649_901_914);
    assert!(ev.buyer_is_maker);

    let a = r#"{"M":true,"m":false,"T":1633998523963,"l":19862791,"f":19862790,"q":"58.00000000","p":"0.35280000","a":15683430,"s":"NKNUSDT","E":1633998523960,"e":"aggTrade"}"#;
    let Decoded::AggTrade(ag) = msg(a) else {
        panic!()
    };
    assert_eq!(
        ag,
        AggTradeMsg {
            symbol: b"NKNUSDT",
            event_time_ms: 1_633_998_523_960,
            agg_trade_id: 15_683_430,
            price: p("0.3528"),
            qty: q("58"),
            first_trade_id: 19_862_790,
            last_trade_id: 19_862_791,
            trade_time_ms: 1_633_998_523_963,
            buyer_is_maker: false,
        }
    );
    let MarketData::Trade(ev) = ag.to_event(InstrumentId(1), Stamps::ZERO).data() else {
        panic!()
    };
    assert_eq!(ev.trade_id, 15_683_430);
    assert!(!ev.buyer_is_maker);
}

#[test]
fn depth_update_levels_and_events() {
    let d = r#"{"stream":"nknusdt@depth@100ms","data":{"e":"depthUpdate","E":1633998512068,"s":"NKNUSDT","U":499869750,"u":499869752,"b":[["0.35130000","6195.00000000"], [ "0.34750000" , "0" ] ],"a":[]}}"#;
    let Decoded::DepthUpdate(u) = msg(d) else {
        panic!()
    };
    assert_eq!(u.symbol, b"NKNUSDT");
    assert_eq!(
        (u.first_update_id, u.last_update_id),
        (499_869_750, 499_869_752)
    );
    assert_eq!(u.bids.len(), 2);
    assert!(u.asks.is_empty());
    let bids: Vec<_> = u.bids.iter().collect();
    assert_eq!(
        bids,
        vec![(p("0.3513"), q("6195")), (p("0.3475"), Qty::ZERO)]
    );
    let evs: Vec<_> = u.events(InstrumentId(2), Stamps::ZERO).collect();
    assert_eq!(evs.len(), 2);
    let MarketData::DepthLevel(l) = evs[1].data() else {
        panic!()
    };
    assert_eq!(l.side, Side::Buy);
    assert_eq!(l.update_id, 499_869_752);
    assert_eq!(l.event_time_ms, 1_633_998_512_068);
    assert_eq!(l.qty, Qty::ZERO);

    let two_sides = r#"{"e":"depthUpdate","E":1,"s":"X","U":5,"u":6,"b":[],"a":[["2","3"]]}"#;
    let Decoded::DepthUpdate(u) = msg(two_sides) else {
        panic!()
    };
    let evs: Vec<_> = u.events(InstrumentId(2), Stamps::ZERO).collect();
    let MarketData::DepthLevel(l) = evs[0].data() else {
        panic!()
    };
    assert_eq!((l.side, l.price, l.qty), (Side::Sell, p("2"), q("3")));
}

#[test]
fn partial_depth_takes_its_symbol_from_the_stream_name() {
    let body =
        r#"{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"],["0.0027","1"]]}"#;
    for wrapped in [
        format!(r#"{{"stream":"bnbbtc@depth5@100ms","data":{body}}}"#),
        format!(r#"{{"data":{body},"stream":"bnbbtc@depth5@100ms"}}"#),
    ] {
        let Decoded::DepthSnapshot(s) = msg(&wrapped) else {
            panic!()
        };
        assert_eq!(s.symbol, Some(&b"bnbbtc"[..]));
        assert_eq!(s.symbol_upper().unwrap().as_str(), "BNBBTC");
        assert_eq!(s.last_update_id, 160);
        assert_eq!(s.asks.len(), 2);
        assert_eq!(s.events(InstrumentId(0), Stamps::ZERO).count(), 3);
    }
    let Decoded::DepthSnapshot(s) = msg(body) else {
        panic!()
    };
    assert_eq!(s.symbol, None);
    let rest = decode_snapshot(body.as_bytes()).unwrap();
    assert_eq!(rest, s);
    assert_eq!(
        decode_snapshot(br#"{"code":-1121,"msg":"Invalid symbol."}"#),
        Err(DecodeError::MissingField)
    );
}

#[test]
fn control_messages() {
    assert_eq!(
        msg(r#"{"result":null,"id":1}"#),
        Decoded::Control(ControlReply::Result {
            id: ReplyId::Int(1),
            result: b"null"
        })
    );
    assert_eq!(
        msg(r#"{"id":"abc","result":["btcusdt@trade", "x"]}"#),
        Decoded::Control(ControlReply::Result {
            id: ReplyId::Str(b"abc"),
            result: br#"["btcusdt@trade", "x"]"#
        })
    );
    assert_eq!(
        msg(r#"{"result":null,"id":null}"#),
        Decoded::Control(ControlReply::Result {
            id: ReplyId::Null,
            result: b"null"
        })
    );
    assert_eq!(
        msg(r#"{"error":{"code":2,"msg":"Invalid request: \"x\"","extra":[1]},"id":-7}"#),
        Decoded::Control(ControlReply::Error {
            id: ReplyId::Int(-7),
            code: 2,
            msg: br#"Invalid request: \"x\""#
        })
    );
    assert_eq!(
        err(r#"{"error":{"code":2},"id":1}"#),
        DecodeError::MissingField
    );
    assert_eq!(
        err(r#"{"error":{"code":"2","msg":""},"id":1}"#),
        DecodeError::WrongType
    );
    assert_eq!(err(r#"{"error":5,"id":1}"#), DecodeError::WrongType);
    assert_eq!(err(r#"{"result":null,"id":1.5}"#), DecodeError::WrongType);
    let env =
        decode(br#"{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1770123456789}}"#)
            .unwrap();
    assert_eq!(
        env.message,
        Decoded::Control(ControlReply::ServerShutdown {
            event_time_ms: 1_770_123_456_789
        })
    );
    assert_eq!(env.message.kind_name(), "server_shutdown");
}

#[test]
fn typed_errors() {
    let cases: &[(&str, DecodeError)] = &[
        ("", DecodeError::Empty),
        (" \n\t ", DecodeError::Empty),
        ("[1]", DecodeError::NotAnObject),
        ("{}", DecodeError::UnknownMessage),
        (r#"{"u":1"#, DecodeError::Malformed),
        (r#"{"u":1} x"#, DecodeError::TrailingData),
        (r#"{"u":1}{}"#, DecodeError::TrailingData),
        (r#"{"e":"kline","E":1,"k":{}}"#, DecodeError::UnknownEvent),
        (r#"{"e":5}"#, DecodeError::WrongType),
        (r#"{"e":"tr\u0061de"}"#, DecodeError::EscapedString),
        (
            r#"{"u":1,"s":"X","b":"1","B":"2","a":"3"}"#,
            DecodeError::MissingField,
        ),
        (
            r#"{"u":"1","s":"X","b":"1","B":"2","a":"3","A":"4"}"#,
            DecodeError::WrongType,
        ),
        (
            r#"{"u":1,"s":"X","b":1.5,"B":"2","a":"3","A":"4"}"#,
            DecodeError::WrongType,
        ),
        (
            r#"{"u":-1,"s":"X","b":"1","B":"2","a":"3","A":"4"}"#,
            DecodeError::WrongType,
        ),
        (
            r#"{"u":1e3,"s":"X","b":"1","B":"2","a":"3","A":"4"}"#,
            DecodeError::WrongType,
        ),
        (
            r#"{"u":18446744073709551616,"s":"X","b":"1","B":"2","a":"3","A":"4"}"#,
            DecodeError::NumberOverflow,
        ),
        (
            r#"{"u":1,"s":"X","b":"1.000000001","B":"2","a":"3","A":"4"}"#,
            DecodeError::TooManyDecimals,
        ),
        (
            r#"{"u":1,"s":"X","b":"-1","B":"2","a":"3","A":"4"}"#,
            DecodeError::BadDecimal,
        ),
        (
            r#"{"u":1,"s":"X","b":"1e5","B":"2","a":"3","A":"4"}"#,
            DecodeError::BadDecimal,
        ),
        (
            r#"{"u":1,"s":"X","b":"","B":"2","a":"3","A":"4"}"#,
            DecodeError::BadDecimal,
        ),
        (
            r#"{"u":1,"s":"X","b":"92233720368.54775808","B":"2","a":"3","A":"4"}"#,
            DecodeError::BadDecimal,
        ),
        (
            r#"{"u":1,"s":"X","b":"\u0031","B":"2","a":"3","A":"4"}"#,
            DecodeError::EscapedString,
        ),
        (
            r#"{"u":1,"s":"X\n","b":"1","B":"2","a":"3","A":"4"}"#,
            DecodeError::EscapedString,
        ),
        (
            r#"{"u":1,"u":1,"s":"X","b":"1","B":"2","a":"3","A":"4"}"#,
            DecodeError::DuplicateKey,
        ),
        (
            r#"{"u":1,"\u0075":1,"s":"X","b":"1","B":"2","a":"3","A":"4"}"#,
            DecodeError::DuplicateKey,
        ),
        (
            r#"{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["1","2","3"]],"a":[]}"#,
            DecodeError::BadLevel,
        ),
        (
            r#"{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[[1,2]],"a":[]}"#,
            DecodeError::BadLevel,
        ),
        (
            r#"{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["1","2"]],"a":[["1","0.123456789"]]}"#,
            DecodeError::TooManyDecimals,
        ),
        (
            r#"{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["1","2"],],"a":[]}"#,
            DecodeError::Malformed,
        ),
        (
            r#"{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":{},"a":[]}"#,
            DecodeError::WrongType,
        ),
        (
            r#"{"e":"trade","E":1,"s":"X","t":1,"p":"1","q":"1","T":1,"m":"true"}"#,
            DecodeError::WrongType,
        ),
        (r#"{"stream":"x","data":[1]}"#, DecodeError::NotAnObject),
        (r#"{"data":{"u":1}}"#, DecodeError::MissingField),
        (r#"{"stream":5,"data":{}}"#, DecodeError::WrongType),
        (
            r#"{"stream":"a","data":{},"data":{}}"#,
            DecodeError::DuplicateKey,
        ),
        (
            r#"{"stream":"a","data":{"e":"kline"}}"#,
            DecodeError::UnknownEvent,
        ),
    ];
    for (input, want) in cases {
        assert_eq!(decode(input.as_bytes()).map(|_| ()), Err(*want), "{input}");
    }
    // Non-UTF-8 in a skipped string is still rejected (the input is JSON).
    let mut bad = br#"{"u":1,"s":"X","b":"1","B":"2","a":"3","A":"4","z":""}"#.to_vec();
    let at = bad.len() - 2;
    bad.insert(at, 0xC3);
    assert_eq!(decode(&bad).map(|_| ()), Err(DecodeError::InvalidUtf8));
}

#[test]
fn extreme_values_are_exact() {
    let s = r#"{"u":18446744073709551615,"s":"X","b":"92233720368.54775807","B":"0.00000001","a":"0","A":"0.10000000000"}"#;
    let Decoded::BookTicker(t) = msg(s) else {
        panic!()
    };
    assert_eq!(t.update_id, u64::MAX);
    assert_eq!(t.bid_price, Price::MAX);
    assert_eq!(t.bid_qty, Qty::from_raw(1));
    assert_eq!(t.ask_price, Price::ZERO);
    assert_eq!(t.ask_qty, q("0.1"));
}

#[test]
fn never_panics_on_prefixes_of_valid_messages() {
    let full = r#"{"stream":"nknusdt@depth@100ms","data":{"e":"depthUpdate","E":1633998512068,"s":"NKNUSDT","U":499869750,"u":499869752,"b":[["0.35130000","6195.00000000"]],"a":[],"x":{"y":"\ud83d\ude00"}}}"#;
    for n in 0..full.len() {
        assert!(decode(&full.as_bytes()[..n]).is_err(), "prefix {n} decoded");
    }
    assert!(decode(full.as_bytes()).is_ok());
}
