//! [`BookSync`]: the venue's snapshot + diff procedure for one instrument,
//! with its fixed-capacity pre-snapshot buffer, health and counters.
//!
//! This module never allocates after [`BookSync::new`], never performs I/O
//! (it *tells* the feed to fetch a snapshot through [`SyncAction`]), never
//! blocks and never panics on any input (ids, level values, call order).

use talon_core::event::Side;
use talon_core::num::{Price, Qty};

use super::order_book::OrderBook;

/// Where [`BookSync`] is in the procedure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SyncState {
    /// Buffering diffs until a snapshot arrives (steps 1–3). The book is
    /// empty.
    AwaitingSnapshot = 1,
    /// The snapshot is loaded (book id = its `lastUpdateId`) but no diff has
    /// yet bridged it (step 4's `U <= lastUpdateId+1 <= u`). The book is
    /// the venue's state at that id, but it is not yet proven to connect to
    /// the stream, so it does not count as synced.
    Bridging = 2,
    /// Snapshot bridged, every diff since applied in strict continuity.
    Synced = 3,
}

impl SyncState {
    /// A stable lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SyncState::AwaitingSnapshot => "awaiting_snapshot",
            SyncState::Bridging => "bridging",
            SyncState::Synced => "synced",
        }
    }
}

/// Why [`BookSync`] wants a (new) snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ResyncReason {
    /// First start of the procedure (or after [`BookSync::on_snapshot_failed`]).
    Start = 1,
    /// The snapshot's `lastUpdateId` was older than the first buffered `U`
    /// (step 3), or the first diff after a diff-less snapshot started past
    /// `lastUpdateId + 1`.
    SnapshotTooOld = 2,
    /// A diff skipped update ids (`U > book id + 1`).
    Gap = 3,
    /// The pre-snapshot buffer was full.
    BufferOverflow = 4,
    /// A diff with `U > u`, or a level with a non-positive price or negative
    /// quantity, in a diff or snapshot.
    InvalidUpdate = 5,
    /// The caller forced it ([`BookSync::reset`]: md ring full, reconnect).
    Forced = 6,
}

impl ResyncReason {
    /// A stable lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResyncReason::Start => "start",
            ResyncReason::SnapshotTooOld => "snapshot_too_old",
            ResyncReason::Gap => "gap",
            ResyncReason::BufferOverflow => "buffer_overflow",
            ResyncReason::InvalidUpdate => "invalid_update",
            ResyncReason::Forced => "forced",
        }
    }
}

/// What the feed must do after handing [`BookSync`] a diff or snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyncAction {
    /// The diff was buffered while awaiting a snapshot that is already
    /// requested: nothing to do.
    Buffered,
    /// The book changed (diff applied, or snapshot loaded and any buffered
    /// diffs replayed). Read [`BookSync::book`] / [`BookSync::health`].
    Applied,
    /// Nothing changed: a diff already covered by the book (`u <= book id`),
    /// or a snapshot that was not awaited. Counted.
    Ignored,
    /// Request `GET /api/v3/depth` now and hand the reply to
    /// [`BookSync::on_snapshot`]. Returned once per needed snapshot: later
    /// diffs return [`SyncAction::Buffered`] until the snapshot (or
    /// [`BookSync::on_snapshot_failed`]) arrives.
    FetchSnapshot(ResyncReason),
}

/// Whether the engine may trust the book. See [`BookHealth::is_tradeable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BookHealth {
    /// Procedure state; only [`SyncState::Synced`] is usable.
    pub state: SyncState,
    /// Best bid ≥ best ask after the last change.
    pub crossed: bool,
    /// Set by the caller from the stale detector ([`BookSync::set_stale`]).
    pub stale: bool,
}

impl BookHealth {
    /// The book is synced (snapshot bridged, strict continuity since).
    #[inline]
    pub const fn is_synced(&self) -> bool {
        matches!(self.state, SyncState::Synced)
    }

    /// Synced, not crossed and not stale: the only state the engine may
    /// trade on.
    #[inline]
    pub const fn is_tradeable(&self) -> bool {
        self.is_synced() && !self.crossed && !self.stale
    }
}

/// Counters of one [`BookSync`] (plain `u64`s: its owner is one thread; the
/// feed copies them into its shared counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SyncCounters {
    /// Diffs handed to [`BookSync::on_diff`].
    pub diffs: u64,
    /// Diffs applied to the book (live or replayed from the buffer).
    pub diffs_applied: u64,
    /// Snapshots loaded into the book.
    pub snapshots_loaded: u64,
    /// Times the book was thrown away and the procedure restarted, for any
    /// reason but the first start and a too-old snapshot (gaps, overflows,
    /// invalid updates, forced resets).
    pub resyncs: u64,
    /// Gaps detected (`U > book id + 1`), live or while replaying the buffer.
    pub gaps: u64,
    /// Diffs dropped because the book already covered them (`u <= book id`).
    pub stale_diffs_dropped: u64,
    /// Snapshots refused as older than the stream (step 3), each followed by
    /// a new fetch.
    pub snapshot_refetches: u64,
    /// Pre-snapshot buffer overflows (each restarted the procedure).
    pub buffer_overflows: u64,
    /// Diffs or snapshots with invalid ids or levels.
    pub invalid_updates: u64,
    /// Snapshots received while not awaiting one (ignored).
    pub unexpected_snapshots: u64,
    /// Forced resyncs ([`BookSync::reset`]).
    pub forced_resyncs: u64,
    /// Times the book became crossed.
    pub crossed: u64,
    /// Levels not stored because a side was full ([`OrderBook::levels_dropped`]).
    pub levels_dropped: u64,
}

/// Capacity of the pre-snapshot diff buffer (fixed at construction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BufferCapacity {
    /// Diffs held while awaiting a snapshot.
    pub diffs: usize,
    /// Price levels (bids + asks, all buffered diffs together) held.
    pub levels: usize,
}

impl Default for BufferCapacity {
    /// 1024 diffs / 65 536 levels: at `@100ms` that is 100 s of diffs, far
    /// longer than a snapshot round trip; about 1 MiB of levels.
    fn default() -> BufferCapacity {
        BufferCapacity {
            diffs: 1024,
            levels: 65_536,
        }
    }
}

/// One buffered diff: ids and where its levels live in the arena.
#[derive(Clone, Copy, Debug, Default)]
struct BufferedDiff {
    first: u64,
    last: u64,
    start: usize,
    bids: usize,
    asks: usize,
}

/// Full (which part, for the counters' sake, is not distinguished).
#[derive(Clone, Copy, Debug)]
struct BufferFull;

/// Fixed-capacity FIFO of diffs whose levels are copied into a preallocated
/// arena.
#[derive(Clone, Debug)]
struct DiffBuffer {
    diffs: Box<[BufferedDiff]>,
    len: usize,
    levels: Box<[(Price, Qty)]>,
    levels_len: usize,
}

impl DiffBuffer {
    fn new(cap: BufferCapacity) -> DiffBuffer {
        DiffBuffer {
            diffs: vec![BufferedDiff::default(); cap.diffs].into_boxed_slice(),
            len: 0,
            levels: vec![(Price::ZERO, Qty::ZERO); cap.levels].into_boxed_slice(),
            levels_len: 0,
        }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.levels_len = 0;
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn first_u(&self) -> Option<u64> {
        if self.len == 0 {
            None
        } else {
            Some(self.diffs[0].first)
        }
    }

    fn copy_levels(
        &mut self,
        levels: impl IntoIterator<Item = (Price, Qty)>,
    ) -> Result<usize, BufferFull> {
        let mut n = 0;
        for level in levels {
            let slot = self.levels.get_mut(self.levels_len).ok_or(BufferFull)?;
            *slot = level;
            self.levels_len += 1;
            n += 1;
        }
        Ok(n)
    }

    /// Appends a diff; on `Err` the buffer is unchanged (a half-copied diff
    /// is rolled back) but the iterators may have been partly consumed.
    fn push(
        &mut self,
        first: u64,
        last: u64,
        bids: impl IntoIterator<Item = (Price, Qty)>,
        asks: impl IntoIterator<Item = (Price, Qty)>,
    ) -> Result<(), BufferFull> {
        if self.len == self.diffs.len() {
            return Err(BufferFull);
        }
        let start = self.levels_len;
        let copied = self
            .copy_levels(bids)
            .and_then(|b| self.copy_levels(asks).map(|a| (b, a)));
        match copied {
            Ok((bids, asks)) => {
                self.diffs[self.len] = BufferedDiff {
                    first,
                    last,
                    start,
                    bids,
                    asks,
                };
                self.len += 1;
                Ok(())
            }
            Err(e) => {
                self.levels_len = start;
                Err(e)
            }
        }
    }

    /// Removes the first `n` diffs, keeping the rest in order.
    fn drop_front(&mut self, n: usize) {
        if n >= self.len {
            self.clear();
            return;
        }
        let level_start = self.diffs[n].start;
        self.levels.copy_within(level_start..self.levels_len, 0);
        self.levels_len -= level_start;
        self.diffs.copy_within(n..self.len, 0);
        self.len -= n;
        for d in &mut self.diffs[..self.len] {
            d.start -= level_start;
        }
    }
}

/// How a diff relates to the book's update id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// `u <= book id`: already in the book.
    Covered,
    /// `U > book id + 1`: updates were missed.
    Missed,
    /// `U <= book id + 1 <= u`: apply.
    Apply,
}

#[inline]
fn classify(book_id: u64, first: u64, last: u64) -> Step {
    if last <= book_id {
        Step::Covered
    } else if first > book_id.saturating_add(1) {
        Step::Missed
    } else {
        Step::Apply
    }
}

/// The venue's snapshot + diff procedure for one instrument
/// (binance-protocol.md §1, "Keeping a local book correct"), driving an
/// [`OrderBook`].
///
/// # The procedure, as implemented
///
/// 1. **Awaiting a snapshot** ([`SyncState::AwaitingSnapshot`]): every diff
///    is copied into the pre-snapshot buffer. The first one returns
///    [`SyncAction::FetchSnapshot`]; the rest [`SyncAction::Buffered`]. The
///    `U` of the first buffered diff is remembered.
/// 2. **Snapshot** ([`BookSync::on_snapshot`]): if its `lastUpdateId` is
///    below that first `U`, it is refused ([`SyncAction::FetchSnapshot`]
///    with [`ResyncReason::SnapshotTooOld`], buffer kept). Otherwise it is
///    loaded (book id = `lastUpdateId`, state [`SyncState::Bridging`]) and
///    the buffer is replayed through the rules below.
/// 3. **Bridging**: diffs with `u <= book id` are dropped; the first other
///    one must satisfy `U <= id+1 <= u`, and is applied (state
///    [`SyncState::Synced`]). If it starts past `id+1` instead, the
///    snapshot is too old (no diff had been seen before it) or a gap
///    (diffs had been seen): the book is thrown away.
/// 4. **Synced**, for each diff: `u <= book id` → ignored (the venue says
///    `u < id`; a diff ending exactly at the book id only repeats values the
///    book already holds, so ignoring it is the same book); `U > id + 1` →
///    **gap**: counted, the book is cleared, the state goes back to
///    awaiting a snapshot (health no longer synced), the offending diff is
///    buffered as the new first one and [`SyncAction::FetchSnapshot`] is
///    returned; otherwise every level is set (qty 0 deletes) and
///    book id = `u`.
///
/// A gap found while replaying the buffer restarts the same way, keeping
/// the buffered diffs from the gap on (they are valid stream events).
///
/// **Buffer overflow.** The buffer holds [`BufferCapacity::diffs`] diffs and
/// [`BufferCapacity::levels`] levels in preallocated arrays. When a diff
/// does not fit, the buffer is emptied and the procedure restarts with that
/// diff as the new first buffered one (if it fits on its own; otherwise it
/// is lost and the next diff becomes the first). Counted in
/// `buffer_overflows` and `resyncs`. This stays correct: every discarded
/// diff ends before the new first `U`, so any snapshot that passes step 2
/// already contains it. A snapshot already in flight is still used if it
/// is new enough; otherwise step 2 asks for another.
///
/// **Invalid input** (a diff with `U > u`, a non-positive price or a
/// negative quantity) restarts the procedure ([`ResyncReason::InvalidUpdate`]):
/// a partly applied diff never stays in a book that claims to be synced.
///
/// A crossed book is only flagged ([`BookHealth::crossed`]), not resynced:
/// the feed decides (e.g. [`BookSync::reset`] if it persists).
///
/// # Cost
///
/// A live diff costs one [`OrderBook::apply_level`] per level. A snapshot
/// costs loading it plus replaying the buffer. Nothing allocates after
/// [`BookSync::new`].
///
/// ```
/// use talon_feed::book::{BookSync, BufferCapacity, ResyncReason, SyncAction, SyncState};
/// use talon_core::num::{Price, Qty};
/// let l = |p: i64, q: i64| (Price::from_raw(p), Qty::from_raw(q));
/// let none = || std::iter::empty();
/// let mut sync = BookSync::new(100, BufferCapacity::default());
/// assert_eq!(sync.on_diff(8, 10, [l(99, 1)], none()), SyncAction::FetchSnapshot(ResyncReason::Start));
/// assert_eq!(sync.on_diff(11, 12, none(), [l(101, 2)]), SyncAction::Buffered);
/// // Snapshot at 10: the first diff (u = 10) is dropped, 11..12 bridges it.
/// assert_eq!(sync.on_snapshot(10, [l(99, 1)], [l(102, 1)]), SyncAction::Applied);
/// assert_eq!(sync.state(), SyncState::Synced);
/// assert_eq!(sync.book().best_ask(), Some(l(101, 2)));
/// // A gap: 14 > 12 + 1.
/// assert_eq!(sync.on_diff(14, 15, none(), none()), SyncAction::FetchSnapshot(ResyncReason::Gap));
/// assert!(!sync.health().is_synced());
/// assert_eq!(sync.counters().gaps, 1);
/// ```
#[derive(Clone, Debug)]
pub struct BookSync {
    book: OrderBook,
    buffer: DiffBuffer,
    state: SyncState,
    /// A snapshot was asked for (FetchSnapshot returned) and not answered.
    snapshot_requested: bool,
    /// Why the next FetchSnapshot is needed.
    pending_reason: ResyncReason,
    /// Bridging: a diff continuous with the snapshot's past was seen (a
    /// buffered or dropped diff), so a later jump is a gap, not a too-old
    /// snapshot.
    bridge_seen: bool,
    crossed: bool,
    stale: bool,
    counters: SyncCounters,
}

impl BookSync {
    /// A procedure in [`SyncState::AwaitingSnapshot`] over an
    /// [`OrderBook`] of `levels` per side, with a pre-snapshot buffer of
    /// `buffer` capacity. All memory is allocated here.
    pub fn new(levels: usize, buffer: BufferCapacity) -> BookSync {
        BookSync {
            book: OrderBook::new(levels),
            buffer: DiffBuffer::new(buffer),
            state: SyncState::AwaitingSnapshot,
            snapshot_requested: false,
            pending_reason: ResyncReason::Start,
            bridge_seen: false,
            crossed: false,
            stale: false,
            counters: SyncCounters::default(),
        }
    }

    /// The current procedure state.
    #[inline]
    pub fn state(&self) -> SyncState {
        self.state
    }

    /// The book (empty while awaiting a snapshot).
    #[inline]
    pub fn book(&self) -> &OrderBook {
        &self.book
    }

    /// Synced / crossed / stale, for the engine's refusal to trade.
    #[inline]
    pub fn health(&self) -> BookHealth {
        BookHealth {
            state: self.state,
            crossed: self.crossed,
            stale: self.stale,
        }
    }

    /// Sets the stale flag (from the feed's `StaleDetector`).
    #[inline]
    pub fn set_stale(&mut self, stale: bool) {
        self.stale = stale;
    }

    /// The counters (`levels_dropped` read from the book).
    #[inline]
    pub fn counters(&self) -> SyncCounters {
        SyncCounters {
            levels_dropped: self.book.levels_dropped(),
            ..self.counters
        }
    }

    /// Diffs currently buffered.
    #[inline]
    pub fn buffered(&self) -> usize {
        self.buffer.len
    }

    /// Whether a returned [`SyncAction::FetchSnapshot`] is still unanswered.
    #[inline]
    pub fn snapshot_requested(&self) -> bool {
        self.snapshot_requested
    }

    /// Forced resync (the md ring refused a depth event, the connection was
    /// replaced, …): the book and buffer are cleared, the state goes back to
    /// [`SyncState::AwaitingSnapshot`], counted in `forced_resyncs` and
    /// `resyncs`. The next diff returns
    /// [`SyncAction::FetchSnapshot`]`(`[`ResyncReason::Forced`]`)`, or call
    /// [`BookSync::take_fetch_request`] to fetch at once.
    pub fn reset(&mut self) {
        self.counters.forced_resyncs += 1;
        self.counters.resyncs += 1;
        self.restart(ResyncReason::Forced);
        self.snapshot_requested = false;
    }

    /// A requested snapshot could not be fetched (HTTP error, timeout): the
    /// request is forgotten, so the next diff (or
    /// [`BookSync::take_fetch_request`]) asks again. The buffer is kept.
    pub fn on_snapshot_failed(&mut self) {
        if self.state == SyncState::AwaitingSnapshot {
            self.snapshot_requested = false;
        }
    }

    /// If a snapshot is needed and not yet requested, marks it requested and
    /// returns why (for a feed that fetches without waiting for a diff).
    pub fn take_fetch_request(&mut self) -> Option<ResyncReason> {
        if self.state == SyncState::AwaitingSnapshot && !self.snapshot_requested {
            self.snapshot_requested = true;
            Some(self.pending_reason)
        } else {
            None
        }
    }

    /// Hands over one diff (`U` = `first_update_id`, `u` = `last_update_id`,
    /// its bid and ask levels); returns what the feed must do next.
    #[must_use = "the feed must act on FetchSnapshot"]
    pub fn on_diff(
        &mut self,
        first_update_id: u64,
        last_update_id: u64,
        bids: impl IntoIterator<Item = (Price, Qty)>,
        asks: impl IntoIterator<Item = (Price, Qty)>,
    ) -> SyncAction {
        self.counters.diffs += 1;
        let (first, last) = (first_update_id, last_update_id);
        if first > last {
            self.counters.invalid_updates += 1;
            self.counters.resyncs += 1;
            let in_flight = self.state == SyncState::AwaitingSnapshot && self.snapshot_requested;
            self.restart(ResyncReason::InvalidUpdate);
            // A snapshot already in flight is judged against the next
            // buffered diff's U like any other: do not ask twice.
            return if in_flight {
                SyncAction::Ignored
            } else {
                self.request_fetch()
            };
        }
        match self.state {
            SyncState::AwaitingSnapshot => self.buffer_diff(first, last, bids, asks),
            SyncState::Bridging | SyncState::Synced => {
                match classify(self.book.last_update_id(), first, last) {
                    Step::Covered => {
                        self.counters.stale_diffs_dropped += 1;
                        self.bridge_seen = true;
                        SyncAction::Ignored
                    }
                    Step::Missed => {
                        let reason = self.count_missed();
                        self.restart(reason);
                        // The diff is a valid stream event: it starts the new
                        // buffer (if it alone does not fit, it is lost,
                        // counted, and the next diff becomes the first one).
                        if self.buffer.push(first, last, bids, asks).is_err() {
                            self.counters.buffer_overflows += 1;
                        }
                        self.request_fetch()
                    }
                    Step::Apply => {
                        if self.apply_levels(last, bids, asks) {
                            SyncAction::Applied
                        } else {
                            self.request_fetch()
                        }
                    }
                }
            }
        }
    }

    /// Hands over a REST snapshot (`lastUpdateId` and its levels); returns
    /// what the feed must do next. Ignored (counted) unless awaiting one.
    #[must_use = "the feed must act on FetchSnapshot"]
    pub fn on_snapshot(
        &mut self,
        last_update_id: u64,
        bids: impl IntoIterator<Item = (Price, Qty)>,
        asks: impl IntoIterator<Item = (Price, Qty)>,
    ) -> SyncAction {
        if self.state != SyncState::AwaitingSnapshot {
            self.counters.unexpected_snapshots += 1;
            return SyncAction::Ignored;
        }
        self.snapshot_requested = false;
        if let Some(first_u) = self.buffer.first_u()
            && last_update_id < first_u
        {
            // Step 3: the snapshot predates the first buffered diff.
            self.counters.snapshot_refetches += 1;
            self.pending_reason = ResyncReason::SnapshotTooOld;
            return self.request_fetch();
        }
        if self
            .book
            .apply_snapshot(last_update_id, bids, asks)
            .is_err()
        {
            // The buffer is still good; only the snapshot was bad.
            self.counters.invalid_updates += 1;
            self.pending_reason = ResyncReason::InvalidUpdate;
            return self.request_fetch();
        }
        self.counters.snapshots_loaded += 1;
        self.state = SyncState::Bridging;
        self.bridge_seen = !self.buffer.is_empty();
        self.update_crossed();
        self.replay_buffer()
    }

    /// Replays the buffered diffs against the freshly loaded snapshot.
    fn replay_buffer(&mut self) -> SyncAction {
        let mut i = 0;
        while i < self.buffer.len {
            let d = self.buffer.diffs[i];
            match classify(self.book.last_update_id(), d.first, d.last) {
                Step::Covered => self.counters.stale_diffs_dropped += 1,
                Step::Missed => {
                    // `first_u <= lastUpdateId` was checked, so a jump here is
                    // a hole between two buffered diffs: a gap.
                    self.counters.gaps += 1;
                    self.counters.resyncs += 1;
                    self.buffer.drop_front(i);
                    self.throw_book_away(ResyncReason::Gap);
                    return self.request_fetch();
                }
                Step::Apply => {
                    let bids_end = d.start + d.bids;
                    let asks_end = bids_end + d.asks;
                    let ok = match (
                        self.buffer.levels.get(d.start..bids_end),
                        self.buffer.levels.get(bids_end..asks_end),
                    ) {
                        (Some(bids), Some(asks)) => apply_to(
                            &mut self.book,
                            d.last,
                            bids.iter().copied(),
                            asks.iter().copied(),
                        ),
                        // Unreachable by construction of the buffer; treated
                        // as invalid rather than trusted.
                        _ => false,
                    };
                    if !ok {
                        self.counters.invalid_updates += 1;
                        self.counters.resyncs += 1;
                        self.restart(ResyncReason::InvalidUpdate);
                        return self.request_fetch();
                    }
                    self.after_apply();
                }
            }
            i += 1;
        }
        self.buffer.clear();
        SyncAction::Applied
    }

    fn buffer_diff(
        &mut self,
        first: u64,
        last: u64,
        bids: impl IntoIterator<Item = (Price, Qty)>,
        asks: impl IntoIterator<Item = (Price, Qty)>,
    ) -> SyncAction {
        if self.buffer.len == self.buffer.diffs.len() {
            // Known full before touching the iterators: restart and keep
            // this diff as the new first one.
            self.overflow();
            let _ = self.buffer.push(first, last, bids, asks);
        } else if self.buffer.push(first, last, bids, asks).is_err() {
            // The levels did not fit: the diff is lost (its iterators were
            // consumed); the next diff becomes the first buffered one.
            self.overflow();
        }
        if self.snapshot_requested {
            SyncAction::Buffered
        } else {
            self.request_fetch()
        }
    }

    fn overflow(&mut self) {
        self.counters.buffer_overflows += 1;
        self.counters.resyncs += 1;
        self.buffer.clear();
        self.pending_reason = ResyncReason::BufferOverflow;
    }

    /// Counts a `U > id + 1` seen in Bridging/Synced and says which it is.
    fn count_missed(&mut self) -> ResyncReason {
        if self.state == SyncState::Bridging && !self.bridge_seen {
            // No diff preceded the snapshot: the stream starts after it.
            self.counters.snapshot_refetches += 1;
            ResyncReason::SnapshotTooOld
        } else {
            self.counters.gaps += 1;
            self.counters.resyncs += 1;
            ResyncReason::Gap
        }
    }

    /// Applies a diff's levels and sets the id; on an invalid level restarts
    /// (book cleared) and returns false.
    fn apply_levels(
        &mut self,
        last: u64,
        bids: impl IntoIterator<Item = (Price, Qty)>,
        asks: impl IntoIterator<Item = (Price, Qty)>,
    ) -> bool {
        if apply_to(&mut self.book, last, bids, asks) {
            self.after_apply();
            true
        } else {
            self.counters.invalid_updates += 1;
            self.counters.resyncs += 1;
            self.restart(ResyncReason::InvalidUpdate);
            false
        }
    }

    fn after_apply(&mut self) {
        self.counters.diffs_applied += 1;
        self.state = SyncState::Synced;
        self.update_crossed();
    }

    fn update_crossed(&mut self) {
        let crossed = self.book.is_crossed();
        if crossed && !self.crossed {
            self.counters.crossed += 1;
        }
        self.crossed = crossed;
    }

    /// Back to step 1 with an empty buffer.
    fn restart(&mut self, reason: ResyncReason) {
        self.buffer.clear();
        self.throw_book_away(reason);
    }

    /// Back to step 1, keeping whatever is buffered.
    fn throw_book_away(&mut self, reason: ResyncReason) {
        self.book.clear();
        self.state = SyncState::AwaitingSnapshot;
        self.crossed = false;
        self.bridge_seen = false;
        self.pending_reason = reason;
    }

    fn request_fetch(&mut self) -> SyncAction {
        self.snapshot_requested = true;
        SyncAction::FetchSnapshot(self.pending_reason)
    }
}

/// Sets every level of a diff and the book id; false on an invalid level
/// (the book is then partly updated and must be thrown away).
fn apply_to(
    book: &mut OrderBook,
    last: u64,
    bids: impl IntoIterator<Item = (Price, Qty)>,
    asks: impl IntoIterator<Item = (Price, Qty)>,
) -> bool {
    for (price, qty) in bids {
        if book.apply_level(Side::Buy, price, qty).is_err() {
            return false;
        }
    }
    for (price, qty) in asks {
        if book.apply_level(Side::Sell, price, qty).is_err() {
            return false;
        }
    }
    book.set_last_update_id(last);
    true
}
