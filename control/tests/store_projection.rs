//! Store projection: a real journal written with `JournalWriter`, projected
//! by the `Projector`; idempotent re-application; a crash mid-batch; a
//! proptest comparing random batching and re-application with one pass.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use proptest::prelude::*;
use talon_control::store::{Projector, Store, StoreError};
use talon_core::clock::Nanos;
use talon_core::engine::risk::{RejectReason, TradingState, Verdict};
use talon_core::event::{
    ClientOrderId, ControlCommand, ControlMsg, Decision, DecisionOrigin, DecisionOutcome,
    ExecReport, FeeAsset, JournalPayload, OrderCommand, OrderStatus, OrderType, Side, TimeInForce,
};
use talon_core::halt::HaltReason;
use talon_core::instrument::InstrumentId;
use talon_core::journal::{JournalConfig, JournalReader, JournalWriter, Record, RecordKind};
use talon_core::num::{Price, Qty};

/// An owned journal record.
#[derive(Clone, Debug)]
struct Rec {
    seq: u64,
    ts: u64,
    kind: RecordKind,
    version: u16,
    payload: Vec<u8>,
}

impl Rec {
    fn view(&self) -> Record<'_> {
        Record {
            seq: self.seq,
            ts: Nanos(self.ts),
            kind: self.kind.as_u16(),
            version: self.version,
            payload: &self.payload,
        }
    }
}

fn enc<T: JournalPayload>(v: &T) -> (RecordKind, u16, Vec<u8>) {
    let mut buf = vec![0u8; T::ENCODED_LEN];
    v.encode(&mut buf).unwrap();
    (T::KIND, T::VERSION, buf)
}

fn px(s: &str) -> Price {
    Price::parse(s).unwrap()
}
fn qty(s: &str) -> Qty {
    Qty::parse(s).unwrap()
}
fn id(n: u64) -> ClientOrderId {
    ClientOrderId::from_session_seq(3, n)
}

fn new_order(n: u64, side: Side, p: &str, q: &str) -> OrderCommand {
    OrderCommand::new_order(
        InstrumentId(1),
        side,
        OrderType::Limit,
        TimeInForce::Gtc,
        px(p),
        qty(q),
        id(n),
    )
}

fn decision(n: u64, side: Side, p: &str, q: &str, verdict: Verdict) -> Decision {
    Decision {
        instrument: InstrumentId(1),
        action: talon_core::event::OrderCommandKind::New,
        side,
        state: TradingState::Active,
        origin: DecisionOrigin::Strategy,
        outcome: DecisionOutcome::Decided,
        verdict,
        price: px(p),
        qty: qty(q),
        client_order_id: if verdict.is_approved() {
            id(n)
        } else {
            ClientOrderId::EMPTY
        },
        ..Decision::ZERO
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    n: u64,
    side: Side,
    status: OrderStatus,
    trade_id: u64,
    p: &str,
    q: &str,
    cum: &str,
) -> ExecReport {
    ExecReport {
        instrument: InstrumentId(1),
        status,
        side,
        venue_order_id: 1000 + n,
        trade_id,
        last_price: px(p),
        last_qty: qty(q),
        cum_qty: qty(cum),
        fee: if trade_id != 0 {
            qty("0.001")
        } else {
            Qty::ZERO
        },
        fee_asset: if trade_id != 0 {
            FeeAsset::Quote
        } else {
            FeeAsset::None
        },
        client_order_id: id(n),
        ..ExecReport::ZERO
    }
}

/// A realistic session: decisions, orders, acks, partial and full fills, a
/// cancel, a rejected decision, a halt, market/blob records in between.
fn scenario() -> Vec<(RecordKind, u16, Vec<u8>)> {
    use OrderStatus::*;
    use Side::*;
    vec![
        (RecordKind::Blob, 1, b"tape".to_vec()),
        enc(&decision(1, Buy, "100.5", "2", Verdict::Approved)),
        enc(&new_order(1, Buy, "100.5", "2")),
        enc(&report(1, Buy, New, 0, "0", "0", "0")),
        enc(&report(1, Buy, PartiallyFilled, 77, "100.5", "0.5", "0.5")),
        enc(&report(1, Buy, Filled, 78, "100.25", "1.5", "2")),
        enc(&decision(2, Sell, "101", "1", Verdict::Approved)),
        enc(&new_order(2, Sell, "101", "1")),
        enc(&report(2, Sell, New, 0, "0", "0", "0")),
        enc(&report(2, Sell, PartiallyFilled, 79, "101", "0.25", "0.25")),
        enc(&OrderCommand::cancel(InstrumentId(1), id(2))),
        enc(&report(2, Sell, Canceled, 0, "0", "0", "0.25")),
        enc(&decision(
            9,
            Buy,
            "99",
            "50",
            Verdict::Rejected(RejectReason::NotReducing),
        )),
        enc(&ControlMsg::new(
            42,
            ControlCommand::Halt {
                reason: HaltReason::Operator,
            },
        )),
        enc(&ControlMsg::new(43, ControlCommand::Resume)),
        (RecordKind::Blob, 1, b"end".to_vec()),
    ]
}

fn write_journal(dir: &Path, records: &[(RecordKind, u16, Vec<u8>)]) {
    let mut config = JournalConfig::new(dir);
    config.segment_size = 64 * 1024;
    let (mut w, _) = JournalWriter::open(config).unwrap();
    for (i, (kind, version, payload)) in records.iter().enumerate() {
        w.append(*kind, *version, Nanos(i as u64 + 1), payload)
            .unwrap();
    }
}

fn read_journal(dir: &Path) -> Vec<Rec> {
    let mut r = JournalReader::open(dir).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next() {
        let rec = rec.unwrap();
        out.push(Rec {
            seq: rec.seq,
            ts: rec.ts.0,
            kind: rec.kind().unwrap(),
            version: rec.version,
            payload: rec.payload.to_vec(),
        });
    }
    out
}

/// Every projected table, row by row, as text (row ids excluded).
fn dump(store: &Store) -> Vec<String> {
    let queries = [
        "SELECT client_order_id, instrument, side, order_type, time_in_force, price, qty, status,
            cum_qty, venue_order_id, source, cancel_requested_seq, created_seq, updated_seq
         FROM orders ORDER BY client_order_id",
        "SELECT trade_id, instrument, client_order_id, venue_order_id, side, qty, price, fee,
            fee_asset, venue_time_ms, seq FROM fills ORDER BY seq",
        "SELECT * FROM positions ORDER BY instrument",
        "SELECT * FROM audit_events ORDER BY seq",
        "SELECT * FROM decisions ORDER BY seq",
        "SELECT seq, command_id, command, applied FROM control_commands ORDER BY seq",
        "SELECT * FROM halts ORDER BY seq",
        "SELECT * FROM sessions ORDER BY session",
        "SELECT * FROM projection_state",
    ];
    let mut out = Vec::new();
    for q in queries {
        let mut stmt = store.conn().prepare(q).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let cols: Vec<String> = (0..n)
                .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                .collect();
            out.push(cols.join("|"));
        }
        out.push("--".into());
    }
    out
}

fn count(store: &Store, table: &str) -> i64 {
    store
        .conn()
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn projects_a_real_journal() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join("journal");
    let records = scenario();
    write_journal(&jdir, &records);
    let store = Store::open(dir.path().join("talon.db")).unwrap();
    let mut p = Projector::new(store, &jdir, 4);
    assert_eq!(p.poll().unwrap(), 4, "bounded batch");
    assert_eq!(p.catch_up().unwrap(), records.len() - 4);
    assert_eq!(p.poll().unwrap(), 0);
    let store = p.into_store();
    assert_eq!(store.last_applied_seq(), records.len() as u64);

    let orders: Vec<(String, String, String, Option<i64>)> = store
        .conn()
        .prepare(
            "SELECT client_order_id, status, cum_qty, cancel_requested_seq FROM orders
             ORDER BY client_order_id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        orders,
        vec![
            (id(1).to_string(), "filled".into(), "2".into(), None),
            (
                id(2).to_string(),
                "canceled".into(),
                "0.25".into(),
                Some(11)
            ),
        ]
    );
    assert_eq!(count(&store, "fills"), 3);
    let (q, avg): (String, String) = store
        .conn()
        .query_row(
            "SELECT qty, avg_price FROM positions WHERE instrument = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    // Bought 0.5 @ 100.5 + 1.5 @ 100.25 = 2 @ 100.3125; sold 0.25.
    assert_eq!(q, "1.75");
    assert_eq!(avg, "100.3125");
    assert_eq!(store.position(1).unwrap().qty(), qty("1.75"));
    // 14 non-blob records audited; 3 decisions (one rejected with its reason).
    assert_eq!(count(&store, "audit_events"), 14);
    let (code, reason): (i64, String) = store
        .conn()
        .query_row(
            "SELECT verdict_code, verdict_reason FROM decisions WHERE verdict_code != 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(code, i64::from(RejectReason::NotReducing.as_u16()));
    assert_eq!(reason, RejectReason::NotReducing.as_str());
    assert_eq!(count(&store, "control_commands"), 2);
    let (hseq, hreason, hcmd): (i64, String, String) = store
        .conn()
        .query_row("SELECT seq, reason, command_id FROM halts", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(
        (hseq, hreason.as_str(), hcmd.as_str()),
        (14, "operator", "42")
    );
    let max_order_seq: i64 = store
        .conn()
        .query_row(
            "SELECT max_order_seq FROM sessions WHERE session = 3",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(max_order_seq, 2, "rejected decision has no id");
    assert_eq!(store.integrity_check().unwrap(), "ok");

    // Reopen: positions rebuilt from fills equal the projected ones, and a
    // new projector resumes after the last applied record.
    let before = dump(&store);
    let pos = store.position(1);
    drop(store);
    let store = Store::open(dir.path().join("talon.db")).unwrap();
    assert_eq!(store.position(1), pos);
    let mut p = Projector::new(store, &jdir, 4);
    assert_eq!(p.poll().unwrap(), 0);
    assert_eq!(dump(p.store()), before);
}

#[test]
fn reapplying_the_same_records_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join("journal");
    write_journal(&jdir, &scenario());
    let recs = read_journal(&jdir);
    let mut store = Store::open(dir.path().join("s.db")).unwrap();
    let r = store.apply(recs.iter().map(Rec::view)).unwrap();
    assert_eq!((r.applied, r.skipped), (recs.len(), 0));
    let once = dump(&store);
    let r = store.apply(recs.iter().map(Rec::view)).unwrap();
    assert_eq!((r.applied, r.skipped), (0, recs.len()));
    let r = store.apply(recs[3..9].iter().map(Rec::view)).unwrap();
    assert_eq!((r.applied, r.skipped), (0, 6));
    assert_eq!(dump(&store), once);
    assert_eq!(count(&store, "fills"), 3);
}

#[test]
fn a_crash_mid_batch_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join("journal");
    write_journal(&jdir, &scenario());
    let recs = read_journal(&jdir);
    let path = dir.path().join("s.db");

    let mut reference = Store::open(dir.path().join("ref.db")).unwrap();
    reference.apply(recs.iter().map(Rec::view)).unwrap();
    let expected = dump(&reference);

    {
        let mut store = Store::open(&path).unwrap();
        store.apply(recs[..3].iter().map(Rec::view)).unwrap();
        // The process "dies" half-way through the next batch: the iterator
        // panics after projecting three records inside the transaction.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = store.apply(recs[3..].iter().enumerate().map(|(i, r)| {
                assert!(i < 3, "crash");
                r.view()
            }));
        }));
        assert!(outcome.is_err());
        assert_eq!(store.last_applied_seq(), 3);
        // A gap mid-batch is refused and rolls the batch back too.
        let gap = store.apply(recs[3..6].iter().chain(recs[7..8].iter()).map(Rec::view));
        assert!(matches!(
            gap,
            Err(StoreError::SequenceGap {
                expected: 7,
                found: 8
            })
        ));
        assert_eq!(store.last_applied_seq(), 3);
        assert_eq!(count(&store, "audit_events"), 2);
        assert_eq!(count(&store, "fills"), 0);
    }
    // Reopen and replay the whole journal: the store equals one clean pass.
    let store = Store::open(&path).unwrap();
    assert_eq!(store.last_applied_seq(), 3);
    let mut p = Projector::new(store, &jdir, 5);
    p.catch_up().unwrap();
    let mut store = p.into_store();
    store.apply(recs.iter().map(Rec::view)).unwrap();
    assert_eq!(dump(&store), expected);
    assert_eq!(store.position(1), reference.position(1));
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

/// One random journal entry over a small universe of orders and trades.
fn entry() -> impl Strategy<Value = (RecordKind, u16, Vec<u8>)> {
    let order = 1u64..5;
    let side = prop_oneof![Just(Side::Buy), Just(Side::Sell)];
    let status = prop_oneof![
        Just(OrderStatus::New),
        Just(OrderStatus::PartiallyFilled),
        Just(OrderStatus::Filled),
        Just(OrderStatus::Canceled),
    ];
    prop_oneof![
        (order.clone(), side.clone()).prop_map(|(n, s)| enc(&new_order(n, s, "100", "1"))),
        (order.clone(), side.clone()).prop_map(|(n, s)| enc(&decision(
            n,
            s,
            "100",
            "1",
            Verdict::Approved
        ))),
        (order.clone(), side, status, 0u64..8, 1i64..300, 90i64..110).prop_map(
            |(n, s, st, trade, q, p)| {
                let mut r = report(n, s, st, trade, "0", "0", "0");
                if trade != 0 {
                    r.last_qty = Qty::from_raw(q * 1_000_000);
                    r.last_price = Price::from_raw(p * 100_000_000);
                }
                r.cum_qty = Qty::from_raw(q * 1_000_000);
                enc(&r)
            }
        ),
        order.prop_map(|n| enc(&OrderCommand::cancel(InstrumentId(1), id(n)))),
        (0u64..100).prop_map(|c| enc(&ControlMsg::new(
            c,
            ControlCommand::Halt {
                reason: HaltReason::DailyLoss
            }
        ))),
        Just((RecordKind::Blob, 1, vec![1, 2, 3])),
        // A payload that does not decode: audited, not fatal.
        Just((RecordKind::ExecReport, 99, vec![0; 4])),
    ]
}

fn to_recs(entries: &[(RecordKind, u16, Vec<u8>)]) -> Vec<Rec> {
    entries
        .iter()
        .enumerate()
        .map(|(i, (kind, version, payload))| Rec {
            seq: i as u64 + 1,
            ts: i as u64 * 10,
            kind: *kind,
            version: *version,
            payload: payload.clone(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_batches_and_reapplication_equal_one_pass(
        entries in proptest::collection::vec(entry(), 1..40),
        cuts in proptest::collection::vec(0usize..40, 0..6),
        rewinds in proptest::collection::vec(0usize..40, 0..6),
    ) {
        let recs = to_recs(&entries);
        let dir = tempfile::tempdir().unwrap();
        let mut one = Store::open(dir.path().join("one.db")).unwrap();
        one.apply(recs.iter().map(Rec::view)).unwrap();

        let mut batched = Store::open(dir.path().join("batched.db")).unwrap();
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (recs.len() + 1)).collect();
        bounds.push(recs.len());
        bounds.sort_unstable();
        let mut start = 0;
        for (i, end) in bounds.into_iter().enumerate() {
            // Each batch starts at or before the next record: a random
            // rewind re-delivers already applied records first.
            let rewind = rewinds.get(i).copied().unwrap_or(0).min(start);
            let from = start - rewind;
            batched.apply(recs[from..end.max(from)].iter().map(Rec::view)).unwrap();
            start = end.max(start);
        }
        prop_assert_eq!(batched.last_applied_seq(), recs.len() as u64);
        prop_assert_eq!(dump(&batched), dump(&one));
        prop_assert_eq!(batched.position(1), one.position(1));
        // And a reopened store rebuilds the same positions.
        drop(batched);
        let reopened = Store::open(dir.path().join("batched.db")).unwrap();
        prop_assert_eq!(reopened.position(1), one.position(1));
        prop_assert_eq!(reopened.integrity_check().unwrap(), "ok");
    }
}
