//! Tests of the exchange core: every rejection path, matching outcomes,
//! STP, market-print fills, cancel/status, the user data events of each
//! scenario, and a property test of the books' invariants.

#![allow(clippy::unwrap_used)]

use talon_core::num::{Notional, Price, Qty};

use super::*;

const A: AccountId = AccountId(0);
const B: AccountId = AccountId(1);
const C: AccountId = AccountId(2);
const NOW: u64 = 1_700_000_000_000;

fn p(s: &str) -> Price {
    Price::parse(s).unwrap()
}
fn q(s: &str) -> Qty {
    Qty::parse(s).unwrap()
}

fn sym_spec(symbol: &str, base: &str) -> SymbolSpec {
    SymbolSpec {
        symbol: symbol.to_string(),
        base: base.to_string(),
        quote: "USDT".to_string(),
        tick_size: p("0.01"),
        step_size: q("0.001"),
        min_qty: q("0.001"),
        max_qty: q("1000"),
        min_notional: Notional::parse("5").unwrap(),
        max_notional: Notional::parse("9000000").unwrap(),
        start_price: p("100"),
        typical_qty: q("1"),
    }
}

fn account(key: &str) -> AccountSpec {
    AccountSpec {
        api_key: key.to_string(),
        secret: format!("{key}-secret"),
        ed25519_public: None,
        balances: vec![("BTC".into(), q("10")), ("USDT".into(), q("100000"))],
    }
}

const FEES: FeeSchedule = FeeSchedule {
    maker: Qty::from_raw(100_000), // 0.1 %
    taker: Qty::from_raw(200_000), // 0.2 %
};

fn exchange() -> Exchange {
    Exchange::new(
        &[sym_spec("BTCUSDT", "BTC"), sym_spec("ETHUSDT", "ETH")],
        &[account("a"), account("b"), account("c")],
        FEES,
    )
}

/// Bids 100/99/98 × 1/2/3, asks 101/102/103 × 1/2/3.
fn book() -> BookView {
    BookView {
        symbol: "BTCUSDT".into(),
        last_update_id: 1,
        bids: vec![(p("100"), q("1")), (p("99"), q("2")), (p("98"), q("3"))],
        asks: vec![(p("101"), q("1")), (p("102"), q("2")), (p("103"), q("3"))],
    }
}

fn empty_book() -> BookView {
    BookView {
        symbol: "BTCUSDT".into(),
        last_update_id: 1,
        bids: vec![],
        asks: vec![],
    }
}

fn limit(side: OrderSide, price: &str, qty: &str, tif: Tif, cid: &str) -> NewOrder {
    NewOrder {
        symbol: "BTCUSDT".into(),
        side,
        kind: OrderKind::Limit,
        tif: Some(tif),
        price: Some(p(price)),
        quantity: Some(q(qty)),
        quote_order_qty: None,
        client_order_id: cid.into(),
        stp: None,
    }
}

fn market(side: OrderSide, qty: Option<&str>, quote: Option<&str>, cid: &str) -> NewOrder {
    NewOrder {
        kind: OrderKind::Market,
        tif: None,
        price: None,
        quantity: qty.map(q),
        quote_order_qty: quote.map(q),
        ..limit(side, "1", "1", Tif::Gtc, cid)
    }
}

fn maker(side: OrderSide, price: &str, qty: &str, cid: &str) -> NewOrder {
    NewOrder {
        kind: OrderKind::LimitMaker,
        tif: None,
        ..limit(side, price, qty, Tif::Gtc, cid)
    }
}

use OrderSide::{Buy, Sell};

fn bal(x: &Exchange, a: AccountId, asset: &str) -> (Qty, Qty) {
    let b = x
        .account(a)
        .balances
        .into_iter()
        .find(|b| b.asset == asset)
        .unwrap();
    (b.free, b.locked)
}

/// "A:NEW" / "B:TRADE" / "A:POS[BTC,USDT]" / "A:BAL" per event.
fn kinds(events: &[(AccountId, UserEvent)]) -> Vec<String> {
    events
        .iter()
        .map(|(a, e)| {
            let who = ["A", "B", "C"][a.0 as usize];
            match e {
                UserEvent::Execution(r) => format!("{who}:{:?}", r.exec_type),
                UserEvent::AccountPosition { balances, .. } => {
                    let assets: Vec<&str> = balances.iter().map(|b| b.asset.as_str()).collect();
                    format!("{who}:POS[{}]", assets.join(","))
                }
                UserEvent::BalanceUpdate { .. } => format!("{who}:BAL"),
            }
        })
        .collect()
}

fn reports(events: &[(AccountId, UserEvent)]) -> Vec<&ExecutionReport> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            UserEvent::Execution(r) => Some(&**r),
            _ => None,
        })
        .collect()
}

fn err(code: i32, msg: &str) -> ApiError {
    ApiError {
        code,
        msg: msg.into(),
    }
}

// ---- rejections ----

#[test]
fn filters_reject_with_the_venues_codes_in_order() {
    let mut x = exchange();
    let bk = book();
    let cases: Vec<(NewOrder, &str)> = vec![
        (limit(Buy, "100.005", "1", Tif::Gtc, "c1"), "PRICE_FILTER"),
        (limit(Buy, "0.001", "1", Tif::Gtc, "c1"), "PRICE_FILTER"),
        (
            limit(Buy, "1000000.01", "1", Tif::Gtc, "c1"),
            "PRICE_FILTER",
        ),
        // price checked before quantity
        (
            limit(Buy, "100.005", "0.0001", Tif::Gtc, "c1"),
            "PRICE_FILTER",
        ),
        (limit(Buy, "100", "0.0005", Tif::Gtc, "c1"), "LOT_SIZE"),
        (limit(Buy, "100", "1000.001", Tif::Gtc, "c1"), "LOT_SIZE"),
        (limit(Buy, "100", "1.0005", Tif::Gtc, "c1"), "LOT_SIZE"),
        (market(Sell, Some("0.0001"), None, "c1"), "LOT_SIZE"),
        // 100 × 0.01 = 1 < 5
        (limit(Buy, "100", "0.01", Tif::Gtc, "c1"), "NOTIONAL"),
        // 10000 × 1000 = 10,000,000 > 9,000,000
        (limit(Sell, "10000", "1000", Tif::Gtc, "c1"), "NOTIONAL"),
        // MARKET by quantity: mid 100.5 × 0.04 = 4.02 < 5
        (market(Buy, Some("0.04"), None, "c1"), "NOTIONAL"),
        (market(Buy, None, Some("4.99"), "c1"), "NOTIONAL"),
    ];
    // With a zero minQty and tick in the spec, zero/negative values still fail.
    let mut zero = sym_spec("BTCUSDT", "BTC");
    zero.min_qty = Qty::ZERO;
    zero.tick_size = Price::ZERO;
    zero.min_notional = Notional::ZERO;
    let mut z = Exchange::new(&[zero], &[account("a")], FEES);
    let cases_zero = [
        (limit(Buy, "0", "1", Tif::Gtc, "z"), "PRICE_FILTER"),
        (
            NewOrder {
                price: Some(Price::from_raw(-1)),
                ..limit(Buy, "1", "1", Tif::Gtc, "z")
            },
            "PRICE_FILTER",
        ),
        (limit(Buy, "100", "0", Tif::Gtc, "z"), "LOT_SIZE"),
    ];
    for (order, filter) in cases_zero {
        let got = z.place(A, &order, &bk, NOW);
        assert_eq!(got, Err(err(-1013, &format!("Filter failure: {filter}"))));
    }
    for (order, filter) in cases {
        let got = x.place(A, &order, &bk, NOW);
        assert_eq!(
            got,
            Err(err(-1013, &format!("Filter failure: {filter}"))),
            "{order:?}"
        );
    }
    assert!(x.take_events().is_empty(), "rejections queue no events");
    assert_eq!(bal(&x, A, "USDT"), (q("100000"), Qty::ZERO));
    // MARKET by quantity passes NOTIONAL at the mid: 100.5 × 0.05 = 5.025.
    assert!(
        x.place(A, &market(Buy, Some("0.05"), None, "ok"), &bk, NOW)
            .is_ok()
    );
    x.check_invariants().unwrap();
}

#[test]
fn max_num_orders_is_200_per_account_and_symbol() {
    let mut x = exchange();
    let bk = book();
    for i in 0..MAX_NUM_ORDERS {
        let o = limit(Buy, "50", "0.1", Tif::Gtc, &format!("o{i}"));
        x.place(A, &o, &bk, NOW).unwrap();
    }
    assert_eq!(x.open_count(A, "BTCUSDT"), 200);
    let o = limit(Buy, "50", "0.1", Tif::Gtc, "one-more");
    assert_eq!(
        x.place(A, &o, &bk, NOW),
        Err(err(-1013, "Filter failure: MAX_NUM_ORDERS"))
    );
    // Another account and another symbol are not limited by it.
    assert!(x.place(B, &o, &bk, NOW).is_ok());
    let mut eth = o.clone();
    eth.symbol = "ETHUSDT".into();
    assert!(x.place(A, &eth, &empty_book(), NOW).is_ok());
    x.check_invariants().unwrap();
}

#[test]
fn insufficient_balance_for_each_kind() {
    let mut x = exchange();
    let bk = book();
    let insufficient = Err(err(
        -2010,
        "Account has insufficient balance for requested action.",
    ));
    // LIMIT buy locks price × qty: 100 × 1000 > 100,000 (by 0.01 × 1000).
    assert_eq!(
        x.place(A, &limit(Buy, "100.01", "1000", Tif::Gtc, "x"), &bk, NOW),
        insufficient
    );
    // LIMIT sell locks the base.
    assert_eq!(
        x.place(A, &limit(Sell, "200", "10.001", Tif::Gtc, "x"), &bk, NOW),
        insufficient
    );
    // MARKET sell by quantity.
    assert_eq!(
        x.place(A, &market(Sell, Some("10.5"), None, "x"), &bk, NOW),
        insufficient
    );
    // MARKET buy by quote above the free quote.
    assert_eq!(
        x.place(A, &market(Buy, None, Some("100000.01"), "x"), &bk, NOW),
        insufficient
    );
    // MARKET buy by quantity: checked against the book's fill cost
    // (1×101 + 2×102 + 3×103 = 614), not a limit price.
    x.adjust_balance(C, "USDT", -(q("99500").raw()), NOW);
    assert_eq!(bal(&x, C, "USDT").0, q("500"));
    assert_eq!(
        x.place(C, &market(Buy, Some("6"), None, "x"), &bk, NOW),
        insufficient
    );
    assert!(
        x.place(C, &market(Buy, Some("4"), None, "x"), &bk, NOW)
            .is_ok()
    ); // 101+204+103 = 408
    // Exactly the balance is enough.
    assert!(
        x.place(A, &limit(Buy, "100", "1000", Tif::Gtc, "all"), &bk, NOW)
            .is_ok()
    );
    assert_eq!(bal(&x, A, "USDT"), (Qty::ZERO, q("100000")));
    x.check_invariants().unwrap();
}

#[test]
fn duplicate_client_id_among_open_orders() {
    let mut x = exchange();
    let bk = book();
    x.place(A, &limit(Buy, "90", "1", Tif::Gtc, "dup"), &bk, NOW)
        .unwrap();
    let again = x.place(A, &limit(Sell, "200", "1", Tif::Gtc, "dup"), &bk, NOW);
    assert_eq!(again, Err(err(-2010, "Duplicate order sent.")));
    // Another account may use it; after the cancel, so may A.
    assert!(
        x.place(B, &limit(Buy, "90", "1", Tif::Gtc, "dup"), &bk, NOW)
            .is_ok()
    );
    x.cancel(A, "BTCUSDT", &OrderRef::ClientId("dup".into()), "cx", NOW)
        .unwrap();
    assert!(
        x.place(A, &limit(Buy, "90", "1", Tif::Gtc, "dup"), &bk, NOW)
            .is_ok()
    );
}

#[test]
fn limit_maker_that_would_take_is_rejected() {
    let mut x = exchange();
    let bk = book();
    let take = Err(err(-2010, "Order would immediately match and take."));
    assert_eq!(x.place(A, &maker(Buy, "101", "1", "m"), &bk, NOW), take);
    assert_eq!(x.place(A, &maker(Sell, "99.5", "1", "m"), &bk, NOW), take);
    // Against another account's resting order inside the spread.
    x.place(B, &maker(Sell, "100.5", "1", "b"), &bk, NOW)
        .unwrap();
    assert_eq!(x.place(A, &maker(Buy, "100.5", "1", "m"), &bk, NOW), take);
    // Not crossing: rests as NEW, working.
    let r = x
        .place(A, &maker(Buy, "100.49", "1", "m"), &bk, NOW)
        .unwrap();
    assert_eq!(r.order.status, VenueOrderStatus::New);
    assert!(r.order.is_working && r.fills.is_empty());
    assert_eq!(r.order.kind, OrderKind::LimitMaker);
    x.check_invariants().unwrap();
}

// ---- matching ----

#[test]
fn partial_fills_across_three_levels_with_fees_and_events() {
    let mut x = exchange();
    x.take_events();
    let r = x
        .place(A, &limit(Buy, "103", "5", Tif::Gtc, "sweep"), &book(), NOW)
        .unwrap();
    let got: Vec<(Price, Qty, Qty, bool)> = r
        .fills
        .iter()
        .map(|f| (f.price, f.qty, f.commission, f.is_maker))
        .collect();
    // Taker fee 0.2 % of the base received.
    assert_eq!(
        got,
        vec![
            (p("101"), q("1"), q("0.002"), false),
            (p("102"), q("2"), q("0.004"), false),
            (p("103"), q("2"), q("0.004"), false),
        ]
    );
    assert!(r.fills.iter().all(|f| f.commission_asset == "BTC"));
    assert_eq!(
        r.fills.iter().map(|f| f.trade_id).collect::<Vec<_>>(),
        vec![FIRST_TRADE_ID, FIRST_TRADE_ID + 1, FIRST_TRADE_ID + 2]
    );
    assert_eq!(r.order.status, VenueOrderStatus::Filled);
    assert_eq!(r.order.executed_qty, q("5"));
    assert_eq!(r.order.cumulative_quote_qty, q("511")); // 101 + 204 + 206
    assert!(!r.order.is_working);
    assert_eq!(bal(&x, A, "USDT"), (q("99489"), Qty::ZERO));
    assert_eq!(bal(&x, A, "BTC"), (q("14.99"), Qty::ZERO));
    assert_eq!(x.fees_collected(), vec![("BTC".to_string(), q("0.01"))]);

    let ev = x.take_events();
    assert_eq!(
        kinds(&ev),
        ["A:New", "A:Trade", "A:Trade", "A:Trade", "A:POS[USDT,BTC]"]
    );
    let reps = reports(&ev);
    let z: Vec<(Qty, Qty, VenueOrderStatus)> = reps
        .iter()
        .map(|r| {
            (
                r.order.executed_qty,
                r.order.cumulative_quote_qty,
                r.order.status,
            )
        })
        .collect();
    assert_eq!(
        z,
        vec![
            (Qty::ZERO, Qty::ZERO, VenueOrderStatus::New),
            (q("1"), q("101"), VenueOrderStatus::PartiallyFilled),
            (q("3"), q("305"), VenueOrderStatus::PartiallyFilled),
            (q("5"), q("511"), VenueOrderStatus::Filled),
        ]
    );
    assert!(
        reps.windows(2)
            .all(|w| w[1].execution_id == w[0].execution_id + 1)
    );
    assert_eq!(reps[0].execution_id, FIRST_EXECUTION_ID);
    assert_eq!(reps[3].fill.as_ref().unwrap().qty, q("2"));
    assert!(reps[0].fill.is_none());
    if let UserEvent::AccountPosition { balances, .. } = &ev[4].1 {
        assert_eq!(balances[0].free, q("99489"));
        assert_eq!(balances[1].free, q("14.99"));
    }
    // Liquidity is not consumed: the same sweep fills the same way again.
    let again = x
        .place(A, &limit(Buy, "103", "5", Tif::Gtc, "sweep2"), &book(), NOW)
        .unwrap();
    assert_eq!(again.fills.len(), 3);
    assert_eq!(again.fills[0].trade_id, FIRST_TRADE_ID + 3);
    assert!(again.order.order_id > r.order.order_id && r.order.order_id > 1 << 32);
    x.check_invariants().unwrap();
}

#[test]
fn ioc_remainder_expires_and_releases_its_lock() {
    let mut x = exchange();
    let r = x
        .place(A, &limit(Buy, "102", "7", Tif::Ioc, "ioc"), &book(), NOW)
        .unwrap();
    assert_eq!(r.fills.len(), 2);
    assert_eq!(r.order.status, VenueOrderStatus::Expired);
    assert_eq!(r.order.executed_qty, q("3"));
    assert_eq!(bal(&x, A, "USDT"), (q("99695"), Qty::ZERO)); // 101 + 204
    let ev = x.take_events();
    assert_eq!(
        kinds(&ev),
        [
            "A:New",
            "A:Trade",
            "A:Trade",
            "A:Expired",
            "A:POS[USDT,BTC]"
        ]
    );
    let last = reports(&ev)[3];
    assert_eq!(last.expiry_reason, Some("UNFILLED_IOC_QUANTITY_EXPIRED"));
    assert_eq!(last.order.status, VenueOrderStatus::Expired);
    // IOC with nothing marketable: NEW then EXPIRED, no fills.
    let r = x
        .place(A, &limit(Buy, "90", "1", Tif::Ioc, "ioc2"), &book(), NOW)
        .unwrap();
    assert!(r.fills.is_empty());
    assert_eq!(r.order.status, VenueOrderStatus::Expired);
    assert_eq!(x.open_count(A, "BTCUSDT"), 0);
    x.check_invariants().unwrap();
}

#[test]
fn fok_fills_in_full_or_expires_without_fills() {
    let mut x = exchange();
    let r = x
        .place(
            A,
            &limit(Buy, "102", "3.001", Tif::Fok, "fok"),
            &book(),
            NOW,
        )
        .unwrap();
    assert!(r.fills.is_empty());
    assert_eq!(r.order.status, VenueOrderStatus::Expired);
    assert_eq!(r.order.executed_qty, Qty::ZERO);
    assert_eq!(bal(&x, A, "USDT"), (q("100000"), Qty::ZERO));
    let ev = x.take_events();
    assert_eq!(kinds(&ev), ["A:New", "A:Expired", "A:POS[USDT]"]);
    assert_eq!(
        reports(&ev)[1].expiry_reason,
        Some("UNFILLED_FOK_ORDER_EXPIRED")
    );

    let r = x
        .place(A, &limit(Buy, "102", "3", Tif::Fok, "fok2"), &book(), NOW)
        .unwrap();
    assert_eq!(r.fills.len(), 2);
    assert_eq!(r.order.status, VenueOrderStatus::Filled);
    x.check_invariants().unwrap();
}

#[test]
fn gtc_remainder_rests_with_the_venues_lock() {
    let mut x = exchange();
    let r = x
        .place(A, &limit(Buy, "101.5", "2", Tif::Gtc, "gtc"), &book(), NOW)
        .unwrap();
    assert_eq!(r.fills.len(), 1);
    assert_eq!(r.order.status, VenueOrderStatus::PartiallyFilled);
    assert!(r.order.is_working);
    assert_eq!(r.order.working_time_ms, Some(NOW));
    // Paid 101; keeps 1 × 101.5 locked; the 0.5 improvement is free again.
    assert_eq!(bal(&x, A, "USDT"), (q("99797.5"), q("101.5")));
    let ev = x.take_events();
    assert_eq!(kinds(&ev), ["A:New", "A:Trade", "A:POS[USDT,BTC]"]);
    let open = x.open_orders(A, Some("BTCUSDT"));
    assert_eq!(open.len(), 1);
    assert_eq!(open[0], r.order);
    assert_eq!(x.open_orders(A, None), open);
    assert!(x.open_orders(A, Some("ETHUSDT")).is_empty());
    x.check_invariants().unwrap();
}

#[test]
fn market_orders_by_quantity() {
    let mut x = exchange();
    let r = x
        .place(A, &market(Sell, Some("4"), None, "ms"), &book(), NOW)
        .unwrap();
    let px: Vec<(Price, Qty)> = r.fills.iter().map(|f| (f.price, f.qty)).collect();
    assert_eq!(
        px,
        vec![(p("100"), q("1")), (p("99"), q("2")), (p("98"), q("1"))]
    );
    assert_eq!(r.order.status, VenueOrderStatus::Filled);
    assert_eq!(r.order.price, Price::ZERO);
    assert_eq!(r.order.tif, Tif::Gtc);
    // Received 396 USDT less 0.2 % (in USDT).
    assert!(r.fills.iter().all(|f| f.commission_asset == "USDT"));
    assert_eq!(bal(&x, A, "USDT"), (q("100395.208"), Qty::ZERO));
    assert_eq!(bal(&x, A, "BTC"), (q("6"), Qty::ZERO));

    // More than the book holds: fills what is there, the rest expires.
    x.take_events();
    let r = x
        .place(A, &market(Buy, Some("10"), None, "mb"), &book(), NOW)
        .unwrap();
    assert_eq!(r.order.executed_qty, q("6"));
    assert_eq!(r.order.status, VenueOrderStatus::Expired);
    let ev = x.take_events();
    assert_eq!(
        reports(&ev).last().unwrap().expiry_reason,
        Some("INSUFFICIENT_LIQUIDITY")
    );

    // No liquidity at all.
    let r = x
        .place(A, &market(Buy, Some("1"), None, "mc"), &empty_book(), NOW)
        .unwrap();
    assert!(r.fills.is_empty());
    assert_eq!(r.order.status, VenueOrderStatus::Expired);
    assert_eq!(
        kinds(&x.take_events()),
        ["A:New", "A:Expired", "A:POS[USDT]"]
    );
    x.check_invariants().unwrap();
}

#[test]
fn market_by_quote_order_qty_spends_up_to_the_amount() {
    let mut x = exchange();
    let r = x
        .place(A, &market(Buy, None, Some("250"), "qb"), &book(), NOW)
        .unwrap();
    // 1 @ 101 (101), then 149 / 102 = 1.4607… → 1.460 (148.92); 0.08 left
    // buys less than one step at 103.
    let px: Vec<(Price, Qty)> = r.fills.iter().map(|f| (f.price, f.qty)).collect();
    assert_eq!(px, vec![(p("101"), q("1")), (p("102"), q("1.46"))]);
    assert_eq!(r.order.status, VenueOrderStatus::Filled);
    assert_eq!(r.order.orig_qty, q("2.46"));
    assert_eq!(r.order.executed_qty, q("2.46"));
    assert_eq!(r.order.cumulative_quote_qty, q("249.92"));
    assert_eq!(r.order.orig_quote_order_qty, q("250"));
    assert_eq!(bal(&x, A, "USDT"), (q("99750.08"), Qty::ZERO));

    let r = x
        .place(A, &market(Sell, None, Some("150"), "qs"), &book(), NOW)
        .unwrap();
    // 1 @ 100, then 50 / 99 = 0.50505… → 0.505 (49.995).
    let px: Vec<(Price, Qty)> = r.fills.iter().map(|f| (f.price, f.qty)).collect();
    assert_eq!(px, vec![(p("100"), q("1")), (p("99"), q("0.505"))]);
    assert_eq!(r.order.cumulative_quote_qty, q("149.995"));
    assert_eq!(r.order.status, VenueOrderStatus::Filled);

    // Nothing to buy: EXPIRED.
    let r = x
        .place(A, &market(Buy, None, Some("50"), "qe"), &empty_book(), NOW)
        .unwrap();
    assert_eq!(r.order.status, VenueOrderStatus::Expired);
    assert!(r.fills.is_empty());
    x.check_invariants().unwrap();
}

#[test]
fn other_accounts_resting_orders_fill_first_and_get_their_reports() {
    let mut x = exchange();
    let bk = book();
    // B sells inside the spread and at the best ask (ahead of the book's level).
    x.place(B, &limit(Sell, "100.5", "1", Tif::Gtc, "b1"), &bk, NOW)
        .unwrap();
    x.place(B, &limit(Sell, "101", "0.5", Tif::Gtc, "b2"), &bk, NOW)
        .unwrap();
    x.take_events();
    let r = x
        .place(A, &limit(Buy, "101", "2", Tif::Gtc, "a"), &bk, NOW)
        .unwrap();
    let px: Vec<(Price, Qty, bool)> = r
        .fills
        .iter()
        .map(|f| (f.price, f.qty, f.is_maker))
        .collect();
    assert_eq!(
        px,
        vec![
            (p("100.5"), q("1"), false),
            (p("101"), q("0.5"), false),
            (p("101"), q("0.5"), false)
        ]
    );
    assert_eq!(r.order.status, VenueOrderStatus::Filled);
    let ev = x.take_events();
    assert_eq!(
        kinds(&ev),
        [
            "A:New",
            "A:Trade",
            "B:Trade",
            "A:Trade",
            "B:Trade",
            "A:Trade",
            "A:POS[USDT,BTC]",
            "B:POS[BTC,USDT]"
        ]
    );
    let reps = reports(&ev);
    // Both sides of one trade share its trade id; the maker pays the maker
    // fee in the quote it receives.
    let (ta, mb) = (
        reps[1].fill.as_ref().unwrap(),
        reps[2].fill.as_ref().unwrap(),
    );
    assert_eq!(ta.trade_id, mb.trade_id);
    assert!(mb.is_maker && !ta.is_maker);
    assert_eq!(
        (mb.commission, mb.commission_asset.as_str()),
        (q("0.1005"), "USDT")
    );
    assert_eq!(reps[2].order.status, VenueOrderStatus::Filled);
    assert_eq!(x.open_count(B, "BTCUSDT"), 0);
    // B sold 1.5 BTC for 100.5 + 50.5 = 151 USDT less 0.1 %.
    assert_eq!(bal(&x, B, "BTC"), (q("8.5"), Qty::ZERO));
    assert_eq!(bal(&x, B, "USDT"), (q("100150.849"), Qty::ZERO));
    x.check_invariants().unwrap();
}

// ---- self-trade prevention ----

/// A rests a sell 1 @ 101 (ahead of the book's 101 level), then buys 2 @ 101
/// IOC with `stp`.
fn stp_case(stp: Option<StpMode>) -> (Exchange, PlaceResult, Vec<(AccountId, UserEvent)>, u64) {
    let mut x = exchange();
    let rest = x
        .place(A, &limit(Sell, "101", "1", Tif::Gtc, "own"), &book(), NOW)
        .unwrap();
    x.take_events();
    let mut o = limit(Buy, "101", "2", Tif::Ioc, "taker");
    o.stp = stp;
    let r = x.place(A, &o, &book(), NOW).unwrap();
    let ev = x.take_events();
    x.check_invariants().unwrap();
    (x, r, ev, rest.order.order_id)
}

#[test]
fn stp_expire_taker() {
    let (x, r, ev, own) = stp_case(Some(StpMode::ExpireTaker));
    assert!(r.fills.is_empty());
    assert_eq!(r.order.status, VenueOrderStatus::ExpiredInMatch);
    assert_eq!(kinds(&ev), ["A:New", "A:TradePrevention", "A:POS[USDT]"]);
    assert_eq!(
        reports(&ev)[1].order.status,
        VenueOrderStatus::ExpiredInMatch
    );
    let m = x.status(A, "BTCUSDT", &OrderRef::OrderId(own)).unwrap();
    assert_eq!(m.status, VenueOrderStatus::New, "the maker stays");
}

#[test]
fn stp_expire_maker_and_default() {
    for stp in [Some(StpMode::ExpireMaker), None] {
        let (x, r, ev, own) = stp_case(stp);
        // The own order expires, the taker continues into the book's 101.
        assert_eq!(r.fills.len(), 1);
        assert_eq!(r.order.executed_qty, q("1"));
        assert_eq!(r.order.status, VenueOrderStatus::Expired);
        assert_eq!(r.order.stp, StpMode::ExpireMaker);
        assert_eq!(
            kinds(&ev),
            [
                "A:New",
                "A:TradePrevention",
                "A:Trade",
                "A:Expired",
                "A:POS[USDT,BTC]"
            ]
        );
        let reps = reports(&ev);
        assert_eq!(reps[1].order.order_id, own);
        assert_eq!(reps[1].order.status, VenueOrderStatus::ExpiredInMatch);
        let m = x.status(A, "BTCUSDT", &OrderRef::OrderId(own)).unwrap();
        assert_eq!(m.status, VenueOrderStatus::ExpiredInMatch);
        assert_eq!(
            bal(&x, A, "BTC").1,
            Qty::ZERO,
            "the maker's lock is released"
        );
    }
}

#[test]
fn stp_expire_both() {
    let (x, r, ev, own) = stp_case(Some(StpMode::ExpireBoth));
    assert!(r.fills.is_empty());
    assert_eq!(r.order.status, VenueOrderStatus::ExpiredInMatch);
    assert_eq!(
        kinds(&ev),
        [
            "A:New",
            "A:TradePrevention",
            "A:TradePrevention",
            "A:POS[USDT,BTC]"
        ]
    );
    let m = x.status(A, "BTCUSDT", &OrderRef::OrderId(own)).unwrap();
    assert_eq!(m.status, VenueOrderStatus::ExpiredInMatch);
}

#[test]
fn stp_none_allows_the_self_trade() {
    let (x, r, ev, own) = stp_case(Some(StpMode::None));
    assert_eq!(r.fills.len(), 2);
    assert_eq!(r.order.status, VenueOrderStatus::Filled);
    assert_eq!(
        kinds(&ev),
        ["A:New", "A:Trade", "A:Trade", "A:Trade", "A:POS[USDT,BTC]"]
    );
    let m = x.status(A, "BTCUSDT", &OrderRef::OrderId(own)).unwrap();
    assert_eq!(m.status, VenueOrderStatus::Filled);
}

#[test]
fn stp_taker_fills_other_accounts_before_expiring() {
    let mut x = exchange();
    x.place(B, &limit(Sell, "100.5", "1", Tif::Gtc, "b"), &book(), NOW)
        .unwrap();
    x.place(A, &limit(Sell, "100.9", "1", Tif::Gtc, "own"), &book(), NOW)
        .unwrap();
    x.take_events();
    let mut o = limit(Buy, "101", "3", Tif::Gtc, "t");
    o.stp = Some(StpMode::ExpireTaker);
    let r = x.place(A, &o, &book(), NOW).unwrap();
    assert_eq!(r.fills.len(), 1);
    assert_eq!(r.order.status, VenueOrderStatus::ExpiredInMatch);
    assert_eq!(r.order.executed_qty, q("1"));
    assert!(!r.order.is_working, "a GTC expired in match does not rest");
    assert_eq!(
        kinds(&x.take_events()),
        [
            "A:New",
            "A:Trade",
            "B:Trade",
            "A:TradePrevention",
            "A:POS[USDT,BTC]",
            "B:POS[BTC,USDT]"
        ]
    );
    x.check_invariants().unwrap();
}

// ---- market prints ----

#[test]
fn market_prints_fill_resting_orders_in_price_time_order() {
    let mut x = exchange();
    let bk = empty_book();
    x.place(A, &limit(Buy, "100", "1", Tif::Gtc, "a"), &bk, NOW)
        .unwrap();
    x.place(B, &limit(Buy, "100.5", "2", Tif::Gtc, "b"), &bk, NOW)
        .unwrap();
    x.place(C, &limit(Buy, "100", "1", Tif::Gtc, "c"), &bk, NOW)
        .unwrap();
    x.place(C, &limit(Buy, "99.5", "1", Tif::Gtc, "c2"), &bk, NOW)
        .unwrap();
    x.place(A, &limit(Sell, "102", "1", Tif::Gtc, "as"), &bk, NOW)
        .unwrap();
    x.take_events();
    // A buy-aggressor print never touches bids, and 101.99 < 102.
    x.on_market_trade("BTCUSDT", p("101.99"), q("5"), false, NOW + 1);
    assert!(x.take_events().is_empty());
    // Sell aggressor at 100 for 2.5: B (100.5) first, then A (100, older
    // than C's 100) for 0.5; an equal price fills; C untouched.
    x.on_market_trade("BTCUSDT", p("100"), q("2.5"), true, NOW + 2);
    let ev = x.take_events();
    assert_eq!(
        kinds(&ev),
        ["B:Trade", "A:Trade", "B:POS[USDT,BTC]", "A:POS[USDT,BTC]"]
    );
    let reps = reports(&ev);
    let f0 = reps[0].fill.as_ref().unwrap();
    assert_eq!((f0.price, f0.qty, f0.is_maker), (p("100.5"), q("2"), true));
    assert_eq!(f0.commission, q("0.002")); // maker 0.1 % of 2 BTC
    assert_eq!(reps[0].order.status, VenueOrderStatus::Filled);
    let f1 = reps[1].fill.as_ref().unwrap();
    assert_eq!((f1.price, f1.qty), (p("100"), q("0.5")));
    assert_eq!(reps[1].order.status, VenueOrderStatus::PartiallyFilled);
    assert_eq!(reps[1].transaction_time_ms, NOW + 2);
    assert_eq!(x.open_count(C, "BTCUSDT"), 2);
    assert_eq!(bal(&x, A, "USDT").1, q("50"));
    // Buy aggressor at exactly 102 lifts A's sell.
    x.on_market_trade("BTCUSDT", p("102"), q("0.4"), false, NOW + 3);
    let ev = x.take_events();
    assert_eq!(kinds(&ev), ["A:Trade", "A:POS[BTC,USDT]"]);
    assert_eq!(bal(&x, A, "BTC").1, q("0.6"));
    // Unknown symbol, zero qty: nothing.
    x.on_market_trade("NOPE", p("1"), q("1"), true, NOW);
    x.on_market_trade("BTCUSDT", p("100"), Qty::ZERO, true, NOW);
    assert!(x.take_events().is_empty());
    x.check_invariants().unwrap();
}

// ---- cancel / status ----

#[test]
fn cancel_reports_old_and_new_client_ids() {
    let mut x = exchange();
    let r = x
        .place(A, &limit(Buy, "90", "1", Tif::Gtc, "orig"), &book(), NOW)
        .unwrap();
    x.take_events();
    let v = x
        .cancel(
            A,
            "BTCUSDT",
            &OrderRef::OrderId(r.order.order_id),
            "newid",
            NOW + 5,
        )
        .unwrap();
    assert_eq!(v.client_order_id, "newid");
    assert_eq!(v.orig_client_order_id.as_deref(), Some("orig"));
    assert_eq!(v.status, VenueOrderStatus::Canceled);
    assert_eq!(bal(&x, A, "USDT"), (q("100000"), Qty::ZERO));
    let ev = x.take_events();
    assert_eq!(kinds(&ev), ["A:Canceled", "A:POS[USDT]"]);
    let rep = reports(&ev)[0];
    assert_eq!(rep.order.client_order_id, "newid");
    assert_eq!(rep.orig_client_order_id, "orig");
    // Status by the original client id finds the closed order.
    let s = x
        .status(A, "BTCUSDT", &OrderRef::ClientId("orig".into()))
        .unwrap();
    assert_eq!(s.status, VenueOrderStatus::Canceled);
    assert_eq!(s.client_order_id, "orig");
    assert_eq!(s.update_time_ms, NOW + 5);
    // Cancelling it again: unknown.
    let again = x.cancel(
        A,
        "BTCUSDT",
        &OrderRef::OrderId(r.order.order_id),
        "n2",
        NOW,
    );
    assert_eq!(again, Err(err(-2011, "Unknown order sent.")));
    x.check_invariants().unwrap();
}

#[test]
fn unknown_orders_on_cancel_cancel_all_and_status() {
    let mut x = exchange();
    let unknown = Err(err(-2011, "Unknown order sent."));
    let missing = Err(err(-2013, "Order does not exist."));
    assert_eq!(
        x.cancel(A, "BTCUSDT", &OrderRef::OrderId(1), "n", NOW),
        unknown
    );
    assert_eq!(
        x.cancel(A, "BTCUSDT", &OrderRef::ClientId("zz".into()), "n", NOW),
        unknown.clone()
    );
    assert_eq!(
        x.cancel_all(A, "BTCUSDT", NOW),
        unknown.clone().map(|_: OrderView| vec![])
    );
    assert_eq!(x.status(A, "BTCUSDT", &OrderRef::OrderId(1)), missing);
    // Another account's order, or the wrong symbol, is not found.
    let r = x
        .place(B, &limit(Buy, "90", "1", Tif::Gtc, "b"), &book(), NOW)
        .unwrap();
    let id = OrderRef::OrderId(r.order.order_id);
    assert_eq!(x.status(A, "BTCUSDT", &id), missing);
    assert_eq!(x.status(B, "ETHUSDT", &id), missing);
    assert_eq!(x.cancel(A, "BTCUSDT", &id, "n", NOW), unknown);
    assert_eq!(
        x.status(B, "BTCUSDT", &id).unwrap().status,
        VenueOrderStatus::New
    );
    // A filled order can be queried but not cancelled.
    let f = x
        .place(A, &market(Buy, Some("1"), None, "m"), &book(), NOW)
        .unwrap();
    let fid = OrderRef::OrderId(f.order.order_id);
    assert_eq!(
        x.status(A, "BTCUSDT", &fid).unwrap().status,
        VenueOrderStatus::Filled
    );
    assert_eq!(x.cancel(A, "BTCUSDT", &fid, "n", NOW), unknown);
    // Bad account / symbol never panic.
    assert_eq!(x.status(AccountId(99), "BTCUSDT", &fid), missing);
    assert_eq!(x.account_spec(AccountId(99)).api_key, "");
    assert!(x.account(AccountId(99)).balances.is_empty());
    assert_eq!(x.open_count(A, "NOPE"), 0);
    assert!(x.take_events().iter().all(|(a, _)| *a != AccountId(99)));
}

#[test]
fn cancel_all_cancels_oldest_first_with_one_position() {
    let mut x = exchange();
    let bk = book();
    let ids: Vec<u64> = ["x", "y", "z"]
        .iter()
        .map(|c| {
            x.place(A, &limit(Buy, "90", "1", Tif::Gtc, c), &bk, NOW)
                .unwrap()
                .order
                .order_id
        })
        .collect();
    x.place(A, &limit(Sell, "200", "1", Tif::Gtc, "s"), &bk, NOW)
        .unwrap();
    let mut eth = limit(Buy, "90", "1", Tif::Gtc, "e");
    eth.symbol = "ETHUSDT".into();
    x.place(A, &eth, &empty_book(), NOW).unwrap();
    x.take_events();
    let v = x.cancel_all(A, "BTCUSDT", NOW).unwrap();
    assert_eq!(v.len(), 4);
    assert_eq!(v[..3].iter().map(|o| o.order_id).collect::<Vec<_>>(), ids);
    assert!(v.iter().all(|o| o.status == VenueOrderStatus::Canceled));
    assert_eq!(v[0].orig_client_order_id.as_deref(), Some("x"));
    assert_ne!(v[0].client_order_id, v[1].client_order_id);
    assert_eq!(
        kinds(&x.take_events()),
        [
            "A:Canceled",
            "A:Canceled",
            "A:Canceled",
            "A:Canceled",
            "A:POS[USDT,BTC]"
        ]
    );
    assert_eq!(x.open_count(A, "BTCUSDT"), 0);
    assert_eq!(x.open_count(A, "ETHUSDT"), 1);
    x.check_invariants().unwrap();
}

#[test]
fn closed_orders_are_kept_up_to_the_bound() {
    let mut x = exchange();
    let first = x
        .place(A, &market(Buy, Some("1"), None, "m0"), &empty_book(), NOW)
        .unwrap()
        .order
        .order_id;
    for i in 1..=CLOSED_ORDERS_KEPT {
        x.place(
            A,
            &market(Buy, Some("1"), None, &format!("m{i}")),
            &empty_book(),
            NOW,
        )
        .unwrap();
    }
    x.take_events();
    assert!(x.status(A, "BTCUSDT", &OrderRef::OrderId(first)).is_err());
    assert!(
        x.status(A, "BTCUSDT", &OrderRef::OrderId(first + 1))
            .is_ok()
    );
    let last = OrderRef::ClientId(format!("m{CLOSED_ORDERS_KEPT}"));
    assert_eq!(
        x.status(A, "BTCUSDT", &last).unwrap().status,
        VenueOrderStatus::Expired
    );
}

// ---- accounts ----

#[test]
fn adjust_balance_queues_balance_update_then_position() {
    let mut x = exchange();
    x.adjust_balance(B, "BNB", 5_000_000_000, NOW);
    x.adjust_balance(B, "USDT", -(q("100001").raw()), NOW + 1); // more than free
    let ev = x.take_events();
    assert_eq!(kinds(&ev), ["B:BAL", "B:POS[BNB]", "B:BAL", "B:POS[USDT]"]);
    match &ev[2].1 {
        UserEvent::BalanceUpdate { asset, delta, .. } => {
            assert_eq!((asset.as_str(), *delta), ("USDT", -q("100000").raw()));
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(bal(&x, B, "BNB"), (q("50"), Qty::ZERO));
    assert_eq!(bal(&x, B, "USDT"), (Qty::ZERO, Qty::ZERO));
    let v = x.account(B);
    assert_eq!(
        (v.maker_commission, v.taker_commission),
        (FEES.maker, FEES.taker)
    );
    assert_eq!(v.update_time_ms, NOW + 1);
    let assets: Vec<&str> = v.balances.iter().map(|b| b.asset.as_str()).collect();
    assert_eq!(assets, ["BNB", "BTC", "ETH", "USDT"]);
    assert_eq!(x.account_by_key("b"), Some(B));
    assert_eq!(x.account_by_key("nope"), None);
    assert_eq!(x.account_spec(C).secret, "c-secret");
    x.check_invariants().unwrap();
}

// ---- property: conservation and locks ----

mod prop {
    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        Place {
            acct: u32,
            side: bool,
            kind: u8,
            tif: u8,
            ticks: i64,
            lots: i64,
            stp: u8,
            with_book: bool,
        },
        Cancel {
            acct: u32,
            nth: usize,
        },
        CancelAll {
            acct: u32,
        },
        Print {
            ticks: i64,
            lots: i64,
            buyer_is_maker: bool,
        },
        Adjust {
            acct: u32,
            amount: i64,
        },
    }

    fn op(accounts: u32) -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..accounts, any::<bool>(), 0u8..4, 0u8..3, -300i64..300, 1i64..3000, 0u8..5, any::<bool>())
                .prop_map(|(acct, side, kind, tif, ticks, lots, stp, with_book)| Op::Place {
                    acct, side, kind, tif, ticks, lots, stp, with_book
                }),
            2 => (0..accounts, 0usize..8).prop_map(|(acct, nth)| Op::Cancel { acct, nth }),
            1 => (0..accounts).prop_map(|acct| Op::CancelAll { acct }),
            2 => (-300i64..300, 1i64..5000, any::<bool>())
                .prop_map(|(ticks, lots, buyer_is_maker)| Op::Print { ticks, lots, buyer_is_maker }),
            1 => (0..accounts, -2_000_000_000_000i64..2_000_000_000_000)
                .prop_map(|(acct, amount)| Op::Adjust { acct, amount }),
        ]
    }

    /// A price `ticks` hundredths around 100.
    fn px(ticks: i64) -> Price {
        Price::from_raw(p("100").raw() + ticks * 1_000_000)
    }

    fn run(accounts: u32, ops: &[Op]) -> Result<(), TestCaseError> {
        let specs: Vec<AccountSpec> = (0..accounts).map(|i| account(&format!("k{i}"))).collect();
        let mut x = Exchange::new(&[sym_spec("BTCUSDT", "BTC")], &specs, FEES);
        let mut seq = 0u64;
        for (n, o) in ops.iter().enumerate() {
            let now = NOW + n as u64;
            match *o {
                Op::Place {
                    acct,
                    side,
                    kind,
                    tif,
                    ticks,
                    lots,
                    stp,
                    with_book,
                } => {
                    seq += 1;
                    let side = if side { Buy } else { Sell };
                    let qty = Qty::from_raw(lots * 100_000); // 0.001 steps
                    let mut order = limit(side, "1", "1", Tif::Gtc, &format!("p{seq}"));
                    order.price = Some(px(ticks));
                    order.quantity = Some(qty);
                    order.tif = Some([Tif::Gtc, Tif::Ioc, Tif::Fok][tif as usize]);
                    match kind {
                        0 => {}
                        1 => {
                            order.kind = OrderKind::LimitMaker;
                            order.tif = None;
                        }
                        2 => {
                            order.kind = OrderKind::Market;
                            order.tif = None;
                            order.price = None;
                        }
                        _ => {
                            order.kind = OrderKind::Market;
                            order.tif = None;
                            order.price = None;
                            order.quantity = None;
                            order.quote_order_qty = Some(Qty::from_raw(lots * 10_000_000));
                        }
                    }
                    order.stp = [
                        None,
                        Some(StpMode::None),
                        Some(StpMode::ExpireTaker),
                        Some(StpMode::ExpireMaker),
                        Some(StpMode::ExpireBoth),
                    ][stp as usize];
                    let bk = if with_book { book() } else { empty_book() };
                    if let Ok(r) = x.place(AccountId(acct), &order, &bk, now) {
                        let sum: i64 = r.fills.iter().map(|f| f.qty.raw()).sum();
                        prop_assert_eq!(sum, r.order.executed_qty.raw());
                        prop_assert!(r.order.executed_qty <= r.order.orig_qty);
                        prop_assert_eq!(
                            r.order.is_working,
                            x.open_orders(AccountId(acct), None)
                                .iter()
                                .any(|v| v.order_id == r.order.order_id)
                        );
                    }
                }
                Op::Cancel { acct, nth } => {
                    let open = x.open_orders(AccountId(acct), None);
                    if let Some(v) = open.get(nth) {
                        let c = x.cancel(
                            AccountId(acct),
                            "BTCUSDT",
                            &OrderRef::OrderId(v.order_id),
                            "cx",
                            now,
                        );
                        prop_assert!(c.is_ok());
                    }
                }
                Op::CancelAll { acct } => {
                    let had = x.open_count(AccountId(acct), "BTCUSDT");
                    let r = x.cancel_all(AccountId(acct), "BTCUSDT", now);
                    prop_assert_eq!(r.map(|v| v.len()).unwrap_or(0), had);
                    prop_assert_eq!(x.open_count(AccountId(acct), "BTCUSDT"), 0);
                }
                Op::Print {
                    ticks,
                    lots,
                    buyer_is_maker,
                } => {
                    x.on_market_trade(
                        "BTCUSDT",
                        px(ticks),
                        Qty::from_raw(lots * 100_000),
                        buyer_is_maker,
                        now,
                    );
                }
                Op::Adjust { acct, amount } => {
                    let asset = if amount % 2 == 0 { "USDT" } else { "BTC" };
                    x.adjust_balance(AccountId(acct), asset, amount, now);
                }
            }
            if let Err(e) = x.check_invariants() {
                return Err(TestCaseError::fail(format!("after op {n} {o:?}: {e}")));
            }
            // Execution ids strictly increase across the event stream.
            let ev = x.take_events();
            let ids: Vec<u64> = reports(&ev).iter().map(|r| r.execution_id).collect();
            prop_assert!(ids.windows(2).all(|w| w[1] > w[0]));
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
        #[test]
        fn conservation_and_locks_hold_for_random_flows(
            accounts in 2u32..4,
            ops in proptest::collection::vec(op(3), 1..80),
        ) {
            let ops: Vec<Op> = ops
                .into_iter()
                .map(|o| match o {
                    Op::Place { acct, side, kind, tif, ticks, lots, stp, with_book } =>
                        Op::Place { acct: acct % accounts, side, kind, tif, ticks, lots, stp, with_book },
                    Op::Cancel { acct, nth } => Op::Cancel { acct: acct % accounts, nth },
                    Op::CancelAll { acct } => Op::CancelAll { acct: acct % accounts },
                    Op::Adjust { acct, amount } => Op::Adjust { acct: acct % accounts, amount },
                    other => other,
                })
                .collect();
            run(accounts, &ops)?;
        }
    }

    /// The invariant check itself catches a broken book (so the property
    /// above can fail).
    #[test]
    fn the_invariant_check_detects_tampering() {
        let mut x = exchange();
        x.place(A, &limit(Buy, "90", "1", Tif::Gtc, "t"), &book(), NOW)
            .unwrap();
        x.check_invariants().unwrap();
        x.accounts[0].bal("USDT").locked += 1;
        assert!(x.check_invariants().unwrap_err().contains("locked"));
        x.accounts[0].bal("USDT").locked -= 1;
        x.accounts[1].bal("BTC").free += 1;
        assert!(x.check_invariants().unwrap_err().contains("BTC"));
        x.accounts[1].bal("BTC").free -= 1;
        *x.fee_account.entry("BTC".into()).or_default() += 1;
        assert!(x.check_invariants().is_err());
    }
}
