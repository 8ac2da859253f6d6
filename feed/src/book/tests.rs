//! Unit tests of [`BookSync`]: one test per rule of the procedure.
#![allow(clippy::unwrap_used)]

use super::*;
use talon_core::event::Side;
use talon_core::num::{Price, Qty};

type L = (Price, Qty);

fn l(p: i64, q: i64) -> L {
    (Price::from_raw(p), Qty::from_raw(q))
}
fn none() -> std::iter::Empty<L> {
    std::iter::empty()
}
fn sync() -> BookSync {
    BookSync::new(
        16,
        BufferCapacity {
            diffs: 8,
            levels: 32,
        },
    )
}
fn side(s: &BookSync, side: Side) -> Vec<(i64, i64)> {
    s.book()
        .levels(side)
        .map(|(p, q)| (p.raw(), q.raw()))
        .collect()
}
/// Snapshot at `id`: bid 100x1, ask 110x1.
fn load(s: &mut BookSync, id: u64) -> SyncAction {
    s.on_snapshot(id, [l(100, 1)], [l(110, 1)])
}

#[test]
fn first_diff_asks_for_a_snapshot_then_buffers() {
    let mut s = sync();
    assert_eq!(s.state(), SyncState::AwaitingSnapshot);
    assert_eq!(
        s.on_diff(5, 6, [l(100, 2)], none()),
        SyncAction::FetchSnapshot(ResyncReason::Start)
    );
    assert!(s.snapshot_requested());
    assert_eq!(s.on_diff(7, 7, none(), none()), SyncAction::Buffered);
    assert_eq!(s.buffered(), 2);
    assert!(s.book().is_empty());
    assert!(!s.health().is_synced());
    assert!(!s.health().is_tradeable());
}

#[test]
fn buffered_diffs_covered_by_the_snapshot_are_dropped() {
    let mut s = sync();
    let _ = s.on_diff(1, 3, [l(100, 7)], none()); // u = 3 <= 4: dropped
    let _ = s.on_diff(4, 4, [l(100, 8)], none()); // u = 4 <= 4: dropped
    let _ = s.on_diff(5, 6, [l(99, 1)], none()); // bridges 4+1
    assert_eq!(load(&mut s, 4), SyncAction::Applied);
    assert_eq!(s.state(), SyncState::Synced);
    assert_eq!(
        side(&s, Side::Buy),
        [(100, 1), (99, 1)],
        "dropped diffs not applied"
    );
    assert_eq!(s.book().last_update_id(), 6);
    let c = s.counters();
    assert_eq!(
        (c.stale_diffs_dropped, c.diffs_applied, c.snapshots_loaded),
        (2, 1, 1)
    );
    assert_eq!(s.buffered(), 0);
}

#[test]
fn synced_diff_already_covered_is_ignored() {
    let mut s = sync();
    let _ = s.on_diff(5, 6, none(), none());
    let _ = load(&mut s, 6);
    let _ = s.on_diff(7, 9, [l(100, 5)], none());
    assert_eq!(s.state(), SyncState::Synced);
    // u = 8 < 9 and u = 9 = id: both already in the book.
    assert_eq!(s.on_diff(7, 8, [l(100, 1)], none()), SyncAction::Ignored);
    assert_eq!(s.on_diff(9, 9, [l(100, 2)], none()), SyncAction::Ignored);
    assert_eq!(side(&s, Side::Buy), [(100, 5)]);
    assert_eq!(s.counters().stale_diffs_dropped, 3); // 5..6 during replay too
    assert_eq!(s.counters().gaps, 0);
}

#[test]
fn first_applicable_diff_may_straddle_the_snapshot_id() {
    // U = 8 <= 10 + 1 <= u = 12.
    let mut s = sync();
    let _ = s.on_diff(8, 12, none(), [l(110, 0), l(111, 3)]);
    assert_eq!(load(&mut s, 10), SyncAction::Applied);
    assert_eq!(s.state(), SyncState::Synced);
    assert_eq!(side(&s, Side::Sell), [(111, 3)]);
    assert_eq!(s.book().last_update_id(), 12);
}

#[test]
fn snapshot_loaded_before_any_diff_bridges_on_the_next_one() {
    let mut s = sync();
    assert_eq!(s.take_fetch_request(), Some(ResyncReason::Start));
    assert_eq!(s.take_fetch_request(), None, "asked once");
    assert_eq!(load(&mut s, 20), SyncAction::Applied);
    assert_eq!(s.state(), SyncState::Bridging);
    assert!(!s.health().is_synced(), "not bridged yet");
    assert_eq!(s.on_diff(15, 20, none(), none()), SyncAction::Ignored);
    assert_eq!(s.on_diff(21, 21, [l(101, 1)], none()), SyncAction::Applied);
    assert_eq!(s.state(), SyncState::Synced);
    assert!(s.health().is_tradeable());
}

#[test]
fn first_diff_past_a_diffless_snapshot_means_the_snapshot_is_too_old() {
    let mut s = sync();
    let _ = load(&mut s, 20);
    // Stream starts at 25: updates 21..24 are in neither.
    assert_eq!(
        s.on_diff(25, 26, [l(90, 1)], none()),
        SyncAction::FetchSnapshot(ResyncReason::SnapshotTooOld)
    );
    assert_eq!(s.state(), SyncState::AwaitingSnapshot);
    assert!(s.book().is_empty());
    assert_eq!(s.buffered(), 1, "the diff starts the new buffer");
    let c = s.counters();
    assert_eq!((c.snapshot_refetches, c.gaps, c.resyncs), (1, 0, 0));
    assert_eq!(load(&mut s, 25), SyncAction::Applied);
    assert_eq!(s.state(), SyncState::Synced);
    assert_eq!(side(&s, Side::Buy), [(100, 1), (90, 1)]);
}

#[test]
fn bridging_jump_after_dropped_diffs_is_a_gap() {
    let mut s = sync();
    let _ = s.on_diff(5, 10, none(), none());
    assert_eq!(load(&mut s, 10), SyncAction::Applied);
    assert_eq!(s.state(), SyncState::Bridging);
    assert_eq!(
        s.on_diff(13, 14, none(), none()),
        SyncAction::FetchSnapshot(ResyncReason::Gap)
    );
    assert_eq!(s.counters().gaps, 1);
    assert_eq!(s.counters().resyncs, 1);
}

#[test]
fn snapshot_older_than_first_buffered_u_is_refetched() {
    let mut s = sync();
    let _ = s.on_diff(50, 52, [l(100, 9)], none());
    let _ = s.on_diff(53, 53, none(), none());
    // 49 < 50: updates up to 49 only; refuse, keep the buffer.
    assert_eq!(
        load(&mut s, 49),
        SyncAction::FetchSnapshot(ResyncReason::SnapshotTooOld)
    );
    assert_eq!(s.state(), SyncState::AwaitingSnapshot);
    assert!(s.book().is_empty());
    assert_eq!(s.buffered(), 2);
    assert!(s.snapshot_requested());
    assert_eq!(s.on_diff(54, 54, none(), none()), SyncAction::Buffered);
    assert_eq!(s.counters().snapshot_refetches, 1);
    // The venue's rule is strict: lastUpdateId == first U is fine.
    assert_eq!(load(&mut s, 50), SyncAction::Applied);
    assert_eq!(s.state(), SyncState::Synced);
    assert_eq!(s.book().last_update_id(), 54);
    assert_eq!(side(&s, Side::Buy), [(100, 9)]);
}

#[test]
fn gap_while_synced_forces_a_counted_resync() {
    let mut s = sync();
    let _ = s.on_diff(1, 2, none(), none());
    let _ = load(&mut s, 2);
    let _ = s.on_diff(3, 4, [l(101, 1)], none());
    assert!(s.health().is_synced());
    // 6 > 4 + 1: update 5 was missed.
    assert_eq!(
        s.on_diff(6, 7, [l(102, 1)], none()),
        SyncAction::FetchSnapshot(ResyncReason::Gap)
    );
    assert_eq!(s.state(), SyncState::AwaitingSnapshot);
    assert!(s.book().is_empty(), "book thrown away");
    assert_eq!(s.book().last_update_id(), 0);
    assert!(!s.health().is_synced());
    let c = s.counters();
    assert_eq!((c.gaps, c.resyncs), (1, 1));
    assert_eq!(s.buffered(), 1, "the gap diff is the new first buffered");
    assert_eq!(s.on_diff(8, 8, none(), none()), SyncAction::Buffered);
}

#[test]
fn continuity_after_a_resync() {
    let mut s = sync();
    let _ = s.on_diff(1, 2, none(), none());
    let _ = load(&mut s, 2);
    let _ = s.on_diff(6, 7, [l(102, 1)], none()); // gap
    let _ = s.on_diff(8, 9, none(), [l(109, 4)]);
    // New snapshot at 7 (contains 102 already).
    assert_eq!(
        s.on_snapshot(7, [l(100, 1), l(102, 1)], [l(110, 1)]),
        SyncAction::Applied
    );
    assert_eq!(s.state(), SyncState::Synced);
    assert_eq!(s.book().last_update_id(), 9);
    assert_eq!(side(&s, Side::Sell), [(109, 4), (110, 1)]);
    assert_eq!(s.on_diff(10, 10, [l(102, 0)], none()), SyncAction::Applied);
    assert_eq!(side(&s, Side::Buy), [(100, 1)]);
    assert_eq!(
        s.on_diff(12, 12, none(), none()),
        SyncAction::FetchSnapshot(ResyncReason::Gap)
    );
    assert_eq!(s.counters().gaps, 2);
    assert_eq!(s.counters().snapshots_loaded, 2);
}

#[test]
fn gap_inside_the_buffer_restarts_keeping_the_later_diffs() {
    let mut s = sync();
    let _ = s.on_diff(10, 11, [l(90, 1)], none());
    let _ = s.on_diff(12, 12, [l(91, 1)], none());
    let _ = s.on_diff(14, 15, [l(92, 1)], none()); // 13 missing
    let _ = s.on_diff(16, 16, [l(93, 1)], none());
    assert_eq!(
        s.on_snapshot(10, [l(100, 1)], none()),
        SyncAction::FetchSnapshot(ResyncReason::Gap)
    );
    assert_eq!(s.state(), SyncState::AwaitingSnapshot);
    assert!(s.book().is_empty());
    assert_eq!(s.buffered(), 2, "14..15 and 16 kept");
    assert_eq!(s.counters().gaps, 1);
    assert_eq!(s.on_snapshot(14, [l(100, 1)], none()), SyncAction::Applied);
    assert_eq!(s.state(), SyncState::Synced);
    assert_eq!(s.book().last_update_id(), 16);
    assert_eq!(side(&s, Side::Buy), [(100, 1), (93, 1), (92, 1)]);
}

#[test]
fn buffer_overflow_by_diff_count_restarts_with_the_new_diff() {
    let mut s = BookSync::new(
        8,
        BufferCapacity {
            diffs: 2,
            levels: 32,
        },
    );
    let _ = s.on_diff(1, 1, [l(50, 1)], none());
    let _ = s.on_diff(2, 2, [l(51, 1)], none());
    assert_eq!(
        s.on_diff(3, 3, [l(52, 1)], none()),
        SyncAction::Buffered,
        "request in flight"
    );
    let c = s.counters();
    assert_eq!((c.buffer_overflows, c.resyncs), (1, 1));
    assert_eq!(s.buffered(), 1);
    // A snapshot older than the new first U (3) is refused: 1 and 2 are gone.
    assert_eq!(
        s.on_snapshot(2, [l(50, 1), l(51, 1)], none()),
        SyncAction::FetchSnapshot(ResyncReason::SnapshotTooOld)
    );
    assert_eq!(s.on_snapshot(3, [l(50, 1)], none()), SyncAction::Applied);
    assert_eq!(s.state(), SyncState::Bridging, "3 covered; waiting for 4");
    assert_eq!(s.on_diff(4, 4, none(), none()), SyncAction::Applied);
    assert_eq!(s.state(), SyncState::Synced);
}

#[test]
fn buffer_overflow_by_levels_loses_that_diff_and_restarts() {
    let mut s = BookSync::new(
        8,
        BufferCapacity {
            diffs: 8,
            levels: 3,
        },
    );
    let _ = s.on_diff(1, 1, [l(50, 1), l(51, 1)], none());
    // Two more levels do not fit in 3.
    assert_eq!(
        s.on_diff(2, 2, [l(52, 1)], [l(60, 1)]),
        SyncAction::Buffered
    );
    assert_eq!(s.buffered(), 0, "that diff is lost; nothing buffered");
    assert_eq!(s.counters().buffer_overflows, 1);
    let _ = s.on_diff(3, 3, none(), [l(61, 1)]);
    assert_eq!(s.buffered(), 1);
    // After the request failed, the next overflow asks again.
    s.on_snapshot_failed();
    assert!(!s.snapshot_requested());
    assert_eq!(
        s.on_diff(4, 4, [l(1, 1), l(2, 1), l(3, 1)], none()),
        SyncAction::FetchSnapshot(ResyncReason::BufferOverflow)
    );
    assert_eq!(s.counters().buffer_overflows, 2);
}

#[test]
fn zero_capacity_buffer_never_panics() {
    let mut s = BookSync::new(
        0,
        BufferCapacity {
            diffs: 0,
            levels: 0,
        },
    );
    assert_eq!(
        s.on_diff(1, 1, [l(1, 1)], none()),
        SyncAction::FetchSnapshot(ResyncReason::BufferOverflow)
    );
    assert_eq!(s.on_snapshot(1, [l(1, 1)], none()), SyncAction::Applied);
    assert_eq!(s.on_diff(2, 2, [l(1, 0)], none()), SyncAction::Applied);
    assert!(s.health().is_synced());
}

#[test]
fn invalid_diff_ids_and_levels_restart() {
    let mut s = sync();
    let _ = s.on_diff(1, 1, none(), none());
    let _ = load(&mut s, 1);
    let _ = s.on_diff(2, 2, none(), none());
    assert!(s.health().is_synced());
    assert_eq!(
        s.on_diff(4, 3, none(), none()),
        SyncAction::FetchSnapshot(ResyncReason::InvalidUpdate)
    );
    assert!(s.book().is_empty());
    let _ = load(&mut s, 2);
    let _ = s.on_diff(3, 3, none(), none());
    assert!(s.health().is_synced());
    // Second level invalid: the first was applied, so the book must go.
    assert_eq!(
        s.on_diff(4, 4, [l(100, 3), l(101, -1)], none()),
        SyncAction::FetchSnapshot(ResyncReason::InvalidUpdate)
    );
    assert_eq!(s.state(), SyncState::AwaitingSnapshot);
    assert!(s.book().is_empty());
    let c = s.counters();
    assert_eq!((c.invalid_updates, c.resyncs), (2, 2));
}

#[test]
fn invalid_snapshot_keeps_the_buffer_and_refetches() {
    let mut s = sync();
    let _ = s.on_diff(5, 6, none(), none());
    assert_eq!(
        s.on_snapshot(6, [l(0, 1)], none()),
        SyncAction::FetchSnapshot(ResyncReason::InvalidUpdate)
    );
    assert_eq!(s.buffered(), 1);
    assert_eq!(s.counters().invalid_updates, 1);
    assert_eq!(load(&mut s, 6), SyncAction::Applied);
}

#[test]
fn invalid_level_in_a_buffered_diff_restarts_on_replay() {
    let mut s = sync();
    let _ = s.on_diff(5, 6, [l(100, -5)], none());
    assert_eq!(
        load(&mut s, 5),
        SyncAction::FetchSnapshot(ResyncReason::InvalidUpdate)
    );
    assert!(s.book().is_empty());
    assert_eq!(s.buffered(), 0);
}

#[test]
fn unexpected_snapshot_is_ignored_and_counted() {
    let mut s = sync();
    let _ = s.on_diff(1, 1, none(), none());
    let _ = load(&mut s, 1);
    let _ = s.on_diff(2, 2, none(), none());
    assert_eq!(s.on_snapshot(99, [l(1, 1)], none()), SyncAction::Ignored);
    assert_eq!(s.book().last_update_id(), 2);
    assert_eq!(s.counters().unexpected_snapshots, 1);
}

#[test]
fn forced_reset_is_counted_and_asks_on_the_next_diff() {
    let mut s = sync();
    let _ = s.on_diff(1, 1, none(), none());
    let _ = load(&mut s, 1);
    let _ = s.on_diff(2, 2, none(), none());
    s.reset();
    assert_eq!(s.state(), SyncState::AwaitingSnapshot);
    assert!(s.book().is_empty());
    assert!(!s.snapshot_requested());
    let c = s.counters();
    assert_eq!((c.forced_resyncs, c.resyncs, c.gaps), (1, 1, 0));
    assert_eq!(
        s.on_diff(3, 3, none(), none()),
        SyncAction::FetchSnapshot(ResyncReason::Forced)
    );
    assert_eq!(load(&mut s, 3), SyncAction::Applied);
    assert_eq!(s.on_diff(4, 4, none(), none()), SyncAction::Applied);
    assert!(s.health().is_synced());
}

#[test]
fn crossed_and_stale_flags_gate_tradeability() {
    let mut s = sync();
    let _ = s.on_diff(1, 1, none(), none());
    let _ = load(&mut s, 1);
    let _ = s.on_diff(2, 2, none(), none());
    assert!(s.health().is_tradeable());
    s.set_stale(true);
    assert!(s.health().stale);
    assert!(!s.health().is_tradeable());
    s.set_stale(false);
    assert_eq!(s.on_diff(3, 3, [l(110, 1)], none()), SyncAction::Applied);
    let h = s.health();
    assert!(h.crossed && h.is_synced() && !h.is_tradeable());
    assert_eq!(s.counters().crossed, 1);
    let _ = s.on_diff(4, 4, [l(110, 0)], none());
    assert!(s.health().is_tradeable());
    // A crossed snapshot is flagged too.
    s.reset();
    let _ = s.on_diff(5, 5, none(), none());
    assert_eq!(
        s.on_snapshot(5, [l(120, 1)], [l(110, 1)]),
        SyncAction::Applied
    );
    assert!(s.health().crossed);
    assert_eq!(s.counters().crossed, 2);
}

#[test]
fn levels_beyond_capacity_are_counted_through_the_sync() {
    let mut s = BookSync::new(2, BufferCapacity::default());
    let _ = s.on_diff(1, 1, none(), none());
    let _ = s.on_snapshot(1, [l(10, 1), l(9, 1), l(8, 1)], none());
    assert_eq!(s.counters().levels_dropped, 1);
    let _ = s.on_diff(2, 2, [l(7, 1)], none());
    assert_eq!(s.counters().levels_dropped, 2);
    assert!(s.health().is_synced());
}

#[test]
fn extreme_ids_never_panic() {
    let mut s = sync();
    let _ = s.on_diff(u64::MAX, u64::MAX, none(), none());
    assert_eq!(s.on_snapshot(u64::MAX, none(), none()), SyncAction::Applied);
    assert_eq!(
        s.on_diff(u64::MAX, u64::MAX, none(), none()),
        SyncAction::Ignored
    );
    assert_eq!(s.on_diff(0, 0, none(), none()), SyncAction::Ignored);
    let mut s = sync();
    let _ = s.on_diff(0, 0, none(), none());
    let _ = s.on_snapshot(0, none(), none());
    assert_eq!(s.on_diff(1, u64::MAX, none(), none()), SyncAction::Applied);
}

#[test]
fn names_are_stable() {
    assert_eq!(SyncState::Synced.as_str(), "synced");
    assert_eq!(ResyncReason::SnapshotTooOld.as_str(), "snapshot_too_old");
}

#[test]
fn gap_diff_too_big_for_the_buffer_is_counted_not_hidden() {
    let mut s = BookSync::new(
        8,
        BufferCapacity {
            diffs: 4,
            levels: 1,
        },
    );
    let _ = s.on_diff(1, 1, none(), none());
    let _ = load(&mut s, 1);
    let _ = s.on_diff(2, 2, none(), none());
    assert_eq!(
        s.on_diff(5, 5, [l(90, 1), l(91, 1)], none()),
        SyncAction::FetchSnapshot(ResyncReason::Gap)
    );
    assert_eq!(s.buffered(), 0);
    let c = s.counters();
    assert_eq!((c.gaps, c.resyncs, c.buffer_overflows), (1, 1, 1));
    // The next diff (U = 6) is the first buffered: a snapshot at 5 is
    // refused (5 < 6, the venue's strict rule), one at 6 accepted.
    let _ = s.on_diff(6, 6, none(), none());
    assert_eq!(
        load(&mut s, 5),
        SyncAction::FetchSnapshot(ResyncReason::SnapshotTooOld)
    );
    assert_eq!(load(&mut s, 6), SyncAction::Applied);
}

#[test]
fn invalid_diff_while_a_snapshot_is_in_flight_does_not_ask_twice() {
    let mut s = sync();
    let _ = s.on_diff(5, 6, none(), none());
    assert!(s.snapshot_requested());
    assert_eq!(s.on_diff(8, 7, none(), none()), SyncAction::Ignored);
    assert_eq!(s.buffered(), 0, "the buffer restarted");
    assert_eq!(s.on_diff(8, 9, none(), none()), SyncAction::Buffered);
    // The in-flight snapshot at 6 predates the new first U (8): refetch.
    assert_eq!(
        load(&mut s, 6),
        SyncAction::FetchSnapshot(ResyncReason::SnapshotTooOld)
    );
    assert_eq!(load(&mut s, 8), SyncAction::Applied);
    assert!(s.health().is_synced());
    assert_eq!(s.counters().invalid_updates, 1);
}
