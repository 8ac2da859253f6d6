//! Differential test: the fast decoder against an independent reference
//! (serde_json::Value + rust_decimal, in `decode_support`) on every fixture
//! message and on ≥ 100,000 proptest-generated messages (random field order,
//! random extra fields of every JSON type, random whitespace, random valid
//! decimals including edge values, combined wrapper or not, both wrapper key
//! orders, and a share of deliberately invalid values). Results must be
//! identical: equal values when both accept, rejection by both otherwise.
#![allow(clippy::unwrap_used)]

mod decode_support;

use decode_support::{RefErr, all_fixture_messages, check_agree, ref_decimal};
use proptest::prelude::*;
use proptest::test_runner::Config;
use talon_core::num::{Price, Qty};

#[test]
fn every_fixture_message_agrees_with_the_reference() {
    let mut decoded = 0;
    let mut total = 0;
    for (name, m) in all_fixture_messages() {
        total += 1;
        if check_agree(&m) {
            decoded += 1;
        } else {
            eprintln!("fixture {name}: rejected by both");
        }
    }
    eprintln!("{decoded} of {total} fixture messages decoded");
    // The 265-frame session (2 klines aside), 84 bookTicker, 177 depth
    // diffs, snapshots, trades and control replies: 550 messages decode.
    assert!(decoded >= 550, "{decoded} of {total}");
}

// ---------------------------------------------------------------------------
// Generator. A message is a list of (key, rendered value) fields plus layout
// choices; whitespace and field order come from a proptest-drawn seed.

/// A tiny deterministic RNG for layout (whitespace, order) from a drawn seed.
struct Layout(u64);

impl Layout {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn ws(&mut self) -> &'static str {
        const WS: [&str; 8] = ["", "", "", "", " ", "\n", "\t ", "\r\n  "];
        WS[(self.next() % 8) as usize]
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// An arbitrary JSON value for extra fields.
#[derive(Clone, Debug)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            // Some non-ASCII as \u escapes (surrogate pairs beyond the BMP).
            c if (c as u32) > 0x7F && (c as u32).is_multiple_of(3) => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn render(j: &J, l: &mut Layout, out: &mut String) {
    match j {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Num(n) => out.push_str(n),
        J::Str(s) => out.push_str(&json_string(s)),
        J::Arr(v) => {
            out.push('[');
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(l.ws());
                render(x, l, out);
                out.push_str(l.ws());
            }
            out.push(']');
        }
        J::Obj(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(l.ws());
                out.push_str(&json_string(k));
                out.push_str(l.ws());
                out.push(':');
                out.push_str(l.ws());
                render(x, l, out);
                out.push_str(l.ws());
            }
            out.push('}');
        }
    }
}

/// Extra field names: never a name the decoder reads.
const EXTRA_KEYS: &[&str] = &[
    "c",
    "d",
    "g",
    "h",
    "i",
    "j",
    "k",
    "n",
    "o",
    "r",
    "v",
    "w",
    "x",
    "y",
    "z",
    "C",
    "D",
    "F",
    "G",
    "H",
    "I",
    "L",
    "M",
    "N",
    "O",
    "P",
    "Q",
    "R",
    "S",
    "V",
    "W",
    "X",
    "Y",
    "Z",
    "",
    "é",
    "bid",
    "ids",
    "streams",
    "xStream",
    "lastUpdateID",
    "Data",
    "k_1",
    "E ",
    " e",
    "\u{1}",
];

const EXTRA_STRINGS: &[&str] = &[
    "",
    "a",
    "BTCUSDT",
    "\"}]{[,:\\",
    "é😀",
    "\u{0}\u{1f}\u{7f}",
    "x y z",
    "𝄞",
    "\\u0041",
];

const EXTRA_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-0.0",
    "1E+2",
    "1e-7",
    "3.14159",
    "-12345678901234567890",
    "123456789012345678901234567890",
    "18446744073709551615",
    "9223372036854775807",
];

/// An arbitrary JSON value for an extra field, drawn from the layout RNG
/// (cheaper than a recursive proptest strategy; the seed is proptest's).
fn extra_json(l: &mut Layout, depth: u32) -> J {
    let pick = l.next() % if depth >= 3 { 4 } else { 6 };
    match pick {
        0 => J::Null,
        1 => J::Bool(l.next().is_multiple_of(2)),
        2 => {
            if l.next().is_multiple_of(2) {
                J::Num(EXTRA_NUMBERS[(l.next() % EXTRA_NUMBERS.len() as u64) as usize].to_owned())
            } else {
                J::Num((l.next() as i64).to_string())
            }
        }
        3 => J::Str(EXTRA_STRINGS[(l.next() % EXTRA_STRINGS.len() as u64) as usize].to_owned()),
        4 => {
            let n = l.next() % 4;
            J::Arr((0..n).map(|_| extra_json(l, depth + 1)).collect())
        }
        _ => {
            let n = l.next() % 4;
            J::Obj(
                (0..n)
                    .map(|_| {
                        let k = EXTRA_KEYS[(l.next() % EXTRA_KEYS.len() as u64) as usize];
                        (k.to_owned(), extra_json(l, depth + 1))
                    })
                    .collect(),
            )
        }
    }
}

fn any_string() -> impl Strategy<Value = String> {
    prop::sample::select(EXTRA_STRINGS).prop_map(str::to_owned)
}

/// A valid venue decimal, including edge values and odd but legal forms
/// (leading zeros, trailing zeros past 8 decimals, no fraction).
fn valid_decimal() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0i64..=i64::MAX).prop_map(|raw| Price::from_raw(raw).fixed().to_string()),
        2 => (0i64..=i64::MAX).prop_map(|raw| Qty::from_raw(raw).to_string()),
        2 => (0u64..100_000, 0u32..=8).prop_map(|(v, d)| {
            let s = format!("{v:0>9}");
            let (i, f) = s.split_at(9 - d as usize);
            if f.is_empty() { i.to_owned() } else { format!("{i}.{f}") }
        }),
        1 => prop::sample::select(vec![
            "0", "0.0", "0.00000000", "0.00000001", "92233720368.54775807",
            "92233720368.547758070000", "00000000000000001.5", "1.100000000000",
            "1", "10", "99999999999.99999999",
        ]).prop_map(str::to_owned),
    ]
}

/// A decimal the decoder must reject (and so must the reference).
fn invalid_decimal() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "-1",
        "+1",
        ".5",
        "1.",
        "1.000000001",
        "0.123456789",
        "1e5",
        "1,5",
        " 1",
        "92233720368.54775808",
        "99999999999.999999999",
        "100000000000",
        "NaN",
        "1..2",
    ])
    .prop_map(str::to_owned)
}

const EDGE_DECIMALS: &[&str] = &[
    "0",
    "0.0",
    "0.00000000",
    "0.00000001",
    "92233720368.54775807",
    "92233720368.547758070000",
    "00000000000000001.5",
    "1.100000000000",
    "1",
    "10",
    "99999999999.99999999",
];

const INVALID_DECIMALS: &[&str] = &[
    "",
    "-1",
    "+1",
    ".5",
    "1.",
    "1.000000001",
    "0.123456789",
    "1e5",
    "1,5",
    " 1",
    "92233720368.54775808",
    "99999999999.999999999",
    "100000000000",
    "NaN",
    "1..2",
];

/// A decimal field value (JSON text) from two drawn numbers: mostly valid
/// strings (full range at 8 fixed decimals, canonical form, small values with
/// 0..=8 decimals, edge values); 1 in 200 an invalid string; 1 in 200 a JSON
/// number (wrong type). Plain functions of proptest-drawn values keep the
/// per-message cost low enough for 100,000 messages in a debug build.
fn make_decimal(r: u64, mode: u8) -> String {
    let raw = (r >> 1) as i64;
    match mode % 200 {
        0 => format!(
            "\"{}\"",
            INVALID_DECIMALS[(r % INVALID_DECIMALS.len() as u64) as usize]
        ),
        1 => "1.5".to_owned(),
        2..=9 => format!(
            "\"{}\"",
            EDGE_DECIMALS[(r % EDGE_DECIMALS.len() as u64) as usize]
        ),
        10..=99 => format!("\"{}\"", Price::from_raw(raw).fixed()),
        100..=149 => format!("\"{}\"", Qty::from_raw(raw)),
        _ => {
            let d = (r % 9) as usize;
            let v = format!("{:0>9}", (r >> 8) % 100_000_000_000);
            let (i, f) = v.split_at(v.len() - d);
            if f.is_empty() {
                format!("\"{i}\"")
            } else {
                format!("\"{i}.{f}\"")
            }
        }
    }
}

fn decimal_value() -> impl Strategy<Value = String> {
    (any::<u64>(), any::<u8>()).prop_map(|(r, m)| make_decimal(r, m))
}

/// A u64 field value: mostly valid; 1 in 200 a float, negative, overflow,
/// string or null.
fn make_id(r: u64, mode: u8) -> String {
    const EDGE: &[u64] = &[0, 1, u64::MAX, 1_633_998_523_963, 499_869_752];
    const BAD: &[&str] = &[
        "18446744073709551616",
        "1.0",
        "-1",
        "1e3",
        "\"5\"",
        "null",
        "99999999999999999999999",
    ];
    match mode % 200 {
        0 => BAD[(r % BAD.len() as u64) as usize].to_owned(),
        1..=20 => EDGE[(r % EDGE.len() as u64) as usize].to_string(),
        21..=100 => (r >> (r % 64)).to_string(),
        _ => r.to_string(),
    }
}

fn id_value() -> impl Strategy<Value = String> {
    (any::<u64>(), any::<u8>()).prop_map(|(r, m)| make_id(r, m))
}

fn symbol() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "BTCUSDT",
        "ETHBTC",
        "NKNUSDT",
        "1000SATSUSDT",
        "A",
        "LONGSYMBOLNAME20CHRS",
        "RUNEEUR",
    ])
    .prop_map(str::to_owned)
}

/// A levels array: 0..12 pairs from a drawn seed; 1 in 100 an invalid shape.
fn levels_value() -> impl Strategy<Value = String> {
    (any::<u64>(), any::<u8>()).prop_map(|(seed, mode)| {
        const BAD: &[&str] = &[
            "[[\"1\"]]",
            "[[\"1\",\"2\",\"3\"]]",
            "[[1,2]]",
            "[\"1\",\"2\"]",
            "{}",
            "[[\"1\",\"0.123456789\"]]",
            "[[\"1\",\"2\"],]",
        ];
        if mode % 100 == 0 {
            return BAD[(seed % BAD.len() as u64) as usize].to_owned();
        }
        let mut l = Layout(seed | 1);
        let n = l.next() % 12;
        let inner: Vec<String> = (0..n)
            .map(|_| {
                // Valid decimals only here (mode 2..200): the invalid share
                // comes from BAD above.
                let p = make_decimal(l.next(), 2 + (l.next() % 198) as u8);
                let q = make_decimal(l.next(), 2 + (l.next() % 198) as u8);
                format!("[{p},{}{q}]", l.ws())
            })
            .collect();
        format!("[{}]", inner.join(","))
    })
}

fn bool_value() -> impl Strategy<Value = String> {
    any::<u8>().prop_map(|m| match m {
        0 => "\"true\"".to_owned(),
        m => (m % 2 == 0).to_string(),
    })
}

/// What the generated message is, with its required fields rendered.
fn payload() -> impl Strategy<Value = (&'static str, Vec<(String, String)>)> {
    let f = |k: &str, v: String| (k.to_owned(), v);
    prop_oneof![
        (
            symbol(),
            id_value(),
            decimal_value(),
            decimal_value(),
            decimal_value(),
            decimal_value()
        )
            .prop_map(move |(s, u, b, bq, a, aq)| (
                "bookTicker",
                vec![
                    f("u", u),
                    f("s", format!("\"{s}\"")),
                    f("b", b),
                    f("B", bq),
                    f("a", a),
                    f("A", aq),
                ]
            )),
        (
            symbol(),
            id_value(),
            id_value(),
            decimal_value(),
            decimal_value(),
            id_value(),
            bool_value()
        )
            .prop_map(move |(s, e, t, p, q, tt, m)| (
                "trade",
                vec![
                    f("e", "\"trade\"".into()),
                    f("E", e),
                    f("s", format!("\"{s}\"")),
                    f("t", t),
                    f("p", p),
                    f("q", q),
                    f("T", tt),
                    f("m", m),
                ]
            )),
        (
            symbol(),
            id_value(),
            id_value(),
            decimal_value(),
            decimal_value(),
            (id_value(), id_value(), id_value()),
            bool_value()
        )
            .prop_map(move |(s, e, a, p, q, (ff, l, t), m)| (
                "aggTrade",
                vec![
                    f("e", "\"aggTrade\"".into()),
                    f("E", e),
                    f("s", format!("\"{s}\"")),
                    f("a", a),
                    f("p", p),
                    f("q", q),
                    f("f", ff),
                    f("l", l),
                    f("T", t),
                    f("m", m),
                ]
            )),
        (
            symbol(),
            id_value(),
            id_value(),
            id_value(),
            levels_value(),
            levels_value()
        )
            .prop_map(move |(s, e, uu, u, b, a)| (
                "depthUpdate",
                vec![
                    f("e", "\"depthUpdate\"".into()),
                    f("E", e),
                    f("s", format!("\"{s}\"")),
                    f("U", uu),
                    f("u", u),
                    f("b", b),
                    f("a", a),
                ]
            )),
        (id_value(), levels_value(), levels_value()).prop_map(move |(u, b, a)| (
            "depth20",
            vec![f("lastUpdateId", u), f("bids", b), f("asks", a),]
        )),
        (
            prop_oneof![
                Just("null".to_owned()),
                Just("[\"btcusdt@trade\"]".to_owned()),
                Just("true".to_owned())
            ],
            prop_oneof![
                any::<i64>().prop_map(|i| i.to_string()),
                Just("null".to_owned()),
                Just("\"sub-1_x\"".to_owned())
            ]
        )
            .prop_map(move |(r, id)| ("result", vec![f("result", r), f("id", id)])),
        (any::<i64>(), any_string(), any::<u32>()).prop_map(move |(code, msg, id)| (
            "error",
            vec![
                f(
                    "error",
                    format!("{{\"code\":{code},\"msg\":{}}}", json_string(&msg))
                ),
                f("id", id.to_string()),
            ]
        )),
        id_value().prop_map(move |e| (
            "serverShutdown",
            vec![f("e", "\"serverShutdown\"".into()), f("E", e),]
        )),
    ]
}

#[derive(Clone, Debug)]
struct GenMsg {
    kind: &'static str,
    fields: Vec<(String, String)>,
    /// How many extra fields (their content comes from `seed`).
    extras: usize,
    /// None: raw payload; Some(stream_first): combined wrapper.
    wrapper: Option<bool>,
    drop_field: Option<usize>,
    /// Render in the venue's exact layout (key order as generated, no
    /// whitespace or extra fields, trade `M` added, stream first): the
    /// decoder's venue-layout fast path handles these.
    venue: bool,
    seed: u64,
}

fn gen_msg() -> impl Strategy<Value = GenMsg> {
    (
        payload(),
        0usize..4,
        prop_oneof![Just(None), Just(Some(true)), Just(Some(false))],
        prop_oneof![40 => Just(None), 1 => (0usize..16).prop_map(Some)],
        any::<u64>(),
        prop_oneof![2 => Just(false), 1 => Just(true)],
    )
        .prop_map(
            |((kind, fields), extras, wrapper, drop_field, seed, venue)| GenMsg {
                kind,
                fields,
                extras,
                wrapper,
                drop_field,
                venue,
                seed,
            },
        )
}

/// The venue's exact layout: `{"k":v,…}`, fields in generated (venue)
/// order, a trade's `M` last, `{"stream":…,"data":…}` stream first.
fn render_venue(m: &GenMsg) -> String {
    let mut members: Vec<(String, String)> = m.fields.clone();
    if let Some(i) = m.drop_field.filter(|&i| i < members.len()) {
        members.remove(i);
    }
    if matches!(m.kind, "trade" | "aggTrade") {
        members.push(("M".to_owned(), "true".to_owned()));
    }
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("{}:{v}", json_string(k)))
        .collect();
    let payload = format!("{{{}}}", body.join(","));
    match m.wrapper {
        None => payload,
        Some(_) => {
            let stream = match m.kind {
                "depth20" => "btcusdt@depth20@100ms",
                "bookTicker" => "ethusdt@bookTicker",
                _ => "ethbtc@trade",
            };
            format!("{{\"stream\":\"{stream}\",\"data\":{payload}}}")
        }
    }
}

fn render_msg(m: &GenMsg) -> String {
    if m.venue {
        return render_venue(m);
    }
    let mut l = Layout(m.seed | 1);
    let mut members: Vec<(String, String)> = m.fields.clone();
    if let Some(i) = m.drop_field.filter(|&i| i < members.len()) {
        members.remove(i);
    }
    for _ in 0..m.extras {
        // Unknown keys may repeat: both decoders skip them.
        let k = EXTRA_KEYS[(l.next() % EXTRA_KEYS.len() as u64) as usize];
        let v = extra_json(&mut l, 0);
        let mut s = String::new();
        render(&v, &mut l, &mut s);
        members.push((k.to_owned(), s));
    }
    l.shuffle(&mut members);
    let mut payload = String::from("{");
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            payload.push(',');
        }
        payload.push_str(l.ws());
        payload.push_str(&json_string(k));
        payload.push_str(l.ws());
        payload.push(':');
        payload.push_str(l.ws());
        payload.push_str(v);
        payload.push_str(l.ws());
    }
    payload.push('}');
    match m.wrapper {
        None => format!("{}{payload}{}", l.ws(), l.ws()),
        Some(stream_first) => {
            let stream = match m.kind {
                "depth20" => "btcusdt@depth20@100ms",
                "serverShutdown" => "!serverShutdown",
                "bookTicker" => "ethusdt@bookTicker",
                _ => "ethbtc@trade",
            };
            let (a, b) = (
                format!("\"stream\"{}:{}\"{stream}\"", l.ws(), l.ws()),
                format!("\"data\"{}:{}{payload}", l.ws(), l.ws()),
            );
            let (first, second) = if stream_first { (a, b) } else { (b, a) };
            format!(
                "{}{{{}{first}{},{}{second}{}}}{}",
                l.ws(),
                l.ws(),
                l.ws(),
                l.ws(),
                l.ws(),
                l.ws()
            )
        }
    }
}

/// Messages per proptest case; cases × this ≥ 100,000.
const BATCH: usize = 100;

proptest! {
    #![proptest_config(Config {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000),
        failure_persistence: None,
        ..Config::default()
    })]

    /// 1,000 cases × 100 messages = 100,000 generated messages.
    #[test]
    fn generated_messages_agree_with_the_reference(batch in prop::collection::vec(gen_msg(), BATCH)) {
        let mut ok = 0usize;
        let mut fast = 0usize;
        for m in &batch {
            let text = render_msg(m);
            if check_agree(text.as_bytes()) {
                ok += 1;
            }
            if talon_feed::decode::decode_venue_layout(text.as_bytes()).is_some() {
                fast += 1;
            }
        }
        // About a third are rendered in the venue layout: the fast path
        // must be among what is compared.
        prop_assert!(fast > 0, "no message of the batch took the fast path");
        // Most generated messages are valid: the comparison is on values,
        // not only on rejections.
        prop_assert!(ok * 2 > batch.len(), "only {} of {} decoded", ok, batch.len());
    }

    #[test]
    fn decimal_rules_match_the_reference(s in prop_oneof![valid_decimal(), invalid_decimal(), "[0-9.e+-]{0,24}"]) {
        let fast = Price::parse_bytes(s.as_bytes());
        let reference = ref_decimal(&s);
        match (fast, reference) {
            (Ok(p), Ok(d)) => prop_assert_eq!(p.to_decimal(), d),
            (Err(talon_core::num::NumError::TooManyDecimals), Err(RefErr::TooManyDecimals)) => {}
            (Err(e), Err(r)) => prop_assert!(
                e != talon_core::num::NumError::TooManyDecimals && r != RefErr::TooManyDecimals,
                "{e:?} vs {r:?} on {s:?}"
            ),
            (f, r) => prop_assert!(false, "fast {f:?} vs reference {r:?} on {s:?}"),
        }
    }
}

#[test]
fn specific_rejections_match_reason() {
    use talon_feed::decode::{DecodeError, decode};
    let tmpl = |b: &str| format!(r#"{{"u":1,"s":"X","b":{b},"B":"1","a":"1","A":"1"}}"#);
    for (b, fast, reference) in [
        (
            "\"1.000000001\"",
            DecodeError::TooManyDecimals,
            RefErr::TooManyDecimals,
        ),
        ("\"-1\"", DecodeError::BadDecimal, RefErr::Decimal),
        ("1", DecodeError::WrongType, RefErr::Type),
    ] {
        let t = tmpl(b);
        assert_eq!(decode(t.as_bytes()).map(|_| ()), Err(fast));
        assert_eq!(
            decode_support::reference(t.as_bytes()).map(|_| ()),
            Err(reference)
        );
    }
}
