//! Property test: `BookSync` is never silently wrong.
//!
//! A reference venue keeps a `BTreeMap` book and emits a stream of diffs
//! (consecutive update-id ranges of random width, random level changes).
//! The stream is delivered with random faults (drops, duplicates, adjacent
//! swaps) and the venue serves snapshots when `BookSync` asks, after a
//! random delay and sometimes from a lagging cache (older than the stream).
//!
//! After every call, whenever `BookSync` holds a book (bridging or synced)
//! that book must equal the venue's book at exactly the book's update id;
//! otherwise it must be awaiting a snapshot (a flagged resync). With no
//! faults and no lag it must end synced, equal to the venue, with 0 gaps.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use talon_core::event::Side;
use talon_core::num::{Price, Qty};
use talon_feed::book::{BookSync, BufferCapacity, SyncAction, SyncState};

type Map = BTreeMap<i64, i64>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct VenueBook {
    bids: Map,
    asks: Map,
}

#[derive(Clone, Debug)]
struct Diff {
    first: u64,
    last: u64,
    bids: Vec<(i64, i64)>,
    asks: Vec<(i64, i64)>,
}

/// One generated change: (is_ask, price index, qty; 0 deletes).
type Change = (bool, i64, i64);

fn lv(v: &[(i64, i64)]) -> impl Iterator<Item = (Price, Qty)> + '_ {
    v.iter()
        .map(|&(p, q)| (Price::from_raw(p), Qty::from_raw(q)))
}

/// Bids on prices 1..=40, asks on 41..=80 (never crossed), in 0.01 ticks.
fn price(is_ask: bool, idx: i64) -> i64 {
    (if is_ask { 41 + idx } else { 1 + idx }) * 1_000_000
}

/// The venue: its book after each diff (index 0 = before the first diff).
struct Venue {
    diffs: Vec<Diff>,
    /// `states[k]` = book after `k` diffs, with id `ids[k]`.
    states: Vec<VenueBook>,
    ids: Vec<u64>,
}

impl Venue {
    fn build(base_id: u64, initial: &[Change], steps: &[(u64, Vec<Change>)]) -> Venue {
        let mut book = VenueBook::default();
        for &(is_ask, idx, q) in initial {
            let side = if is_ask {
                &mut book.asks
            } else {
                &mut book.bids
            };
            if q > 0 {
                side.insert(price(is_ask, idx), q);
            }
        }
        let mut states = vec![book.clone()];
        let mut ids = vec![base_id];
        let mut diffs = Vec::new();
        let mut id = base_id;
        for (width, changes) in steps {
            let first = id + 1;
            id += width;
            let mut d = Diff {
                first,
                last: id,
                bids: Vec::new(),
                asks: Vec::new(),
            };
            // Levels within one diff are distinct (the venue lists each
            // changed level once, with its final quantity).
            let mut latest: BTreeMap<(bool, i64), i64> = BTreeMap::new();
            for &(is_ask, idx, q) in changes {
                latest.insert((is_ask, price(is_ask, idx)), q);
            }
            for ((is_ask, p), q) in latest {
                let side = if is_ask {
                    &mut book.asks
                } else {
                    &mut book.bids
                };
                if q == 0 {
                    side.remove(&p);
                } else {
                    side.insert(p, q);
                }
                if is_ask { &mut d.asks } else { &mut d.bids }.push((p, q));
            }
            diffs.push(d);
            states.push(book.clone());
            ids.push(id);
        }
        Venue { diffs, states, ids }
    }
}

fn book_of(sync: &BookSync) -> VenueBook {
    let side = |s| {
        sync.book()
            .levels(s)
            .map(|(p, q): (Price, Qty)| (p.raw(), q.raw()))
            .collect::<Map>()
    };
    VenueBook {
        bids: side(Side::Buy),
        asks: side(Side::Sell),
    }
}

/// The invariant: a held book equals the venue's book at its id.
fn check(
    sync: &BookSync,
    venue: &Venue,
    by_id: &HashMap<u64, usize>,
    when: &str,
) -> Result<(), TestCaseError> {
    match sync.state() {
        SyncState::AwaitingSnapshot => {
            prop_assert!(
                sync.book().is_empty(),
                "{when}: awaiting with a non-empty book"
            );
            prop_assert!(!sync.health().is_synced());
        }
        SyncState::Bridging | SyncState::Synced => {
            let id = sync.book().last_update_id();
            let k = by_id.get(&id);
            prop_assert!(k.is_some(), "{when}: book id {id} is not a venue state");
            let k = *k.unwrap();
            prop_assert_eq!(&book_of(sync), &venue.states[k], "{} (id {})", when, id);
            prop_assert!(!sync.health().crossed);
        }
    }
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    None,
    Drop,
    Duplicate,
    SwapWithNext,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        12 => Just(Fault::None),
        1 => Just(Fault::Drop),
        1 => Just(Fault::Duplicate),
        1 => Just(Fault::SwapWithNext),
    ]
}

fn change() -> impl Strategy<Value = Change> {
    (
        any::<bool>(),
        0i64..40,
        prop_oneof![1 => Just(0i64), 3 => 1i64..50],
    )
}

fn steps() -> impl Strategy<Value = Vec<(u64, Vec<Change>)>> {
    prop::collection::vec((1u64..=3, prop::collection::vec(change(), 0..5)), 10..120)
}

/// Delivers the stream (with `faults`) and serves snapshots; checks the
/// invariant after every call. Returns the sync at the end.
fn run(
    venue: &Venue,
    join: usize,
    faults: &[Fault],
    delays: &[usize],
    lags: &[usize],
    buffer: BufferCapacity,
) -> Result<BookSync, TestCaseError> {
    let by_id: HashMap<u64, usize> = venue
        .ids
        .iter()
        .enumerate()
        .map(|(k, id)| (*id, k))
        .collect();
    // Delivery order: indices into venue.diffs.
    // The subscriber joins after the venue has published `join` diffs.
    let mut order: Vec<usize> = Vec::new();
    let mut i = join.min(venue.diffs.len());
    while i < venue.diffs.len() {
        match faults[i % faults.len()] {
            Fault::None => order.push(i),
            Fault::Drop => {}
            Fault::Duplicate => {
                order.push(i);
                order.push(i);
            }
            Fault::SwapWithNext if i + 1 < venue.diffs.len() => {
                order.push(i + 1);
                order.push(i);
                i += 1;
            }
            Fault::SwapWithNext => order.push(i),
        }
        i += 1;
    }
    let mut sync = BookSync::new(128, buffer);
    // The venue's head: how many diffs it has published so far.
    let mut head = join.min(venue.diffs.len());
    // Pending snapshot: deliver after `n` more diffs.
    let mut pending: Option<usize> = None;
    let mut fetch_no = 0usize;
    for (step, &k) in order.iter().enumerate() {
        head = head.max(k + 1);
        let d = &venue.diffs[k];
        let action = sync.on_diff(d.first, d.last, lv(&d.bids), lv(&d.asks));
        check(
            &sync,
            venue,
            &by_id,
            &format!("diff #{step} ({}..{})", d.first, d.last),
        )?;
        if let SyncAction::FetchSnapshot(_) = action {
            prop_assert!(pending.is_none(), "asked twice for one snapshot");
            pending = Some(delays[fetch_no % delays.len()]);
        }
        match pending {
            Some(0) => {
                pending = None;
                // The venue serves its current book, or a lagging copy.
                let lag = lags[fetch_no % lags.len()];
                fetch_no += 1;
                let at = head.saturating_sub(lag);
                let snap = &venue.states[at];
                let snap_id = venue.ids[at];
                let bids: Vec<_> = snap.bids.iter().map(|(p, q)| (*p, *q)).collect();
                let asks: Vec<_> = snap.asks.iter().map(|(p, q)| (*p, *q)).collect();
                let action = sync.on_snapshot(snap_id, lv(&bids), lv(&asks));
                check(&sync, venue, &by_id, &format!("snapshot at {snap_id}"))?;
                if let SyncAction::FetchSnapshot(_) = action {
                    pending = Some(delays[fetch_no % delays.len()]);
                }
            }
            Some(n) => pending = Some(n - 1),
            None => {}
        }
    }
    Ok(sync)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_silently_wrong_under_faults(
        base in 1u64..1_000_000,
        initial in prop::collection::vec(change(), 0..30),
        steps in steps(),
        faults in prop::collection::vec(fault(), 1..40),
        delays in prop::collection::vec(0usize..6, 1..8),
        lags in prop::collection::vec(prop_oneof![4 => Just(0usize), 1 => 1usize..4], 1..8),
        small_buffer in any::<bool>(),
        join in 0usize..6,
    ) {
        let venue = Venue::build(base, &initial, &steps);
        let buffer = if small_buffer {
            BufferCapacity { diffs: 3, levels: 8 }
        } else {
            BufferCapacity::default()
        };
        let sync = run(&venue, join, &faults, &delays, &lags, buffer)?;
        let c = sync.counters();
        prop_assert_eq!(c.levels_dropped, 0);
        prop_assert_eq!(c.invalid_updates, 0);
        // Every diff handed in was applied, dropped as covered, buffered,
        // or is in a buffer discarded by a counted restart.
        prop_assert!(c.diffs_applied + c.stale_diffs_dropped <= c.diffs);
    }

    #[test]
    fn lagging_snapshots_alone_are_refetched_never_counted_as_gaps(
        base in 1u64..1_000_000,
        initial in prop::collection::vec(change(), 0..30),
        steps in steps(),
        delays in prop::collection::vec(0usize..6, 1..8),
        lags in prop::collection::vec(0usize..8, 1..8),
        join in 0usize..6,
    ) {
        let venue = Venue::build(base, &initial, &steps);
        let sync = run(&venue, join, &[Fault::None], &delays, &lags, BufferCapacity::default())?;
        let c = sync.counters();
        // Step 3 refuses a snapshot older than the first buffered U and
        // keeps the buffer: no book is thrown away, no gap is invented.
        prop_assert_eq!(c.gaps, 0, "{:?}", c);
        prop_assert_eq!(c.resyncs, 0, "{:?}", c);
        prop_assert!(c.snapshots_loaded <= 1);
    }

    #[test]
    fn clean_stream_syncs_with_zero_gaps_and_ends_equal(
        base in 1u64..1_000_000,
        initial in prop::collection::vec(change(), 0..30),
        steps in steps(),
        delays in prop::collection::vec(0usize..6, 1..8),
    ) {
        let venue = Venue::build(base, &initial, &steps);
        let sync = run(&venue, 0, &[Fault::None], &delays, &[0], BufferCapacity::default())?;
        let c = sync.counters();
        prop_assert_eq!(c.gaps, 0);
        prop_assert_eq!(c.resyncs, 0);
        prop_assert_eq!(c.snapshots_loaded, 1);
        // Delays are < 6 diffs and streams ≥ 10 diffs, so the snapshot is
        // served mid-stream and the next diff bridges it: always synced.
        let last = venue.diffs.len();
        prop_assert_eq!(sync.state(), SyncState::Synced, "{:?}", c);
        prop_assert_eq!(sync.book().last_update_id(), venue.ids[last]);
        prop_assert_eq!(&book_of(&sync), &venue.states[last]);
        prop_assert_eq!(c.diffs_applied + c.stale_diffs_dropped, c.diffs);
    }
}

#[test]
fn a_dropped_diff_while_synced_is_always_caught() {
    // Deterministic companion to the property: drop each diff in turn of a
    // synced stream; the sync must flag a gap every time, never carry on.
    let steps: Vec<(u64, Vec<Change>)> = (0..30)
        .map(|i| {
            (
                1 + (i % 3),
                vec![(i % 2 == 0, (i as i64) % 40, (i as i64) % 7)],
            )
        })
        .collect();
    let venue = Venue::build(100, &[(false, 3, 5), (true, 3, 5)], &steps);
    for dropped in 2..venue.diffs.len() - 1 {
        let mut sync = BookSync::new(128, BufferCapacity::default());
        let d0 = &venue.diffs[0];
        let _ = sync.on_diff(d0.first, d0.last, lv(&d0.bids), lv(&d0.asks));
        let s = &venue.states[1];
        let bids: Vec<_> = s.bids.iter().map(|(p, q)| (*p, *q)).collect();
        let asks: Vec<_> = s.asks.iter().map(|(p, q)| (*p, *q)).collect();
        assert_eq!(
            sync.on_snapshot(venue.ids[1], lv(&bids), lv(&asks)),
            SyncAction::Applied
        );
        let mut flagged = false;
        for (k, d) in venue.diffs.iter().enumerate().skip(1) {
            if k == dropped {
                continue;
            }
            let a = sync.on_diff(d.first, d.last, lv(&d.bids), lv(&d.asks));
            if k == dropped + 1 {
                assert!(
                    matches!(a, SyncAction::FetchSnapshot(_)),
                    "drop of {dropped} missed"
                );
                flagged = true;
            }
        }
        assert!(flagged);
        assert_eq!(sync.counters().gaps, 1);
    }
}
