//! The feed's own counters, readable from any thread.
//!
//! Owns [`FeedCounter`] (one documented variant per counter) and
//! [`FeedCounters`]: a fixed array of cache-line-padded `AtomicU64`s, plus one
//! slot per decoder error reason, shared by `Arc` between the feed thread
//! (the single writer) and observers (`talon watch`, metrics, tests).
//!
//! Never allocates after construction, never blocks. Every slot has exactly
//! one writer, the feed's thread, which adds with a `Relaxed` load and a
//! `Relaxed` store (no read-modify-write): `Relaxed` suffices because a
//! counter never publishes other memory, and a reader only needs some recent
//! value, which cache coherence delivers.

use std::fmt;

use talon_core::counters::CounterSlot as Slot;

/// One feed counter. Codes are the variant order and index [`FeedCounters`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum FeedCounter {
    /// WebSocket data messages received (text or binary, after reassembly).
    Messages = 0,
    /// Payload bytes read from the market-data socket (after TLS).
    Bytes,
    /// Messages the decoder refused (sum over all reasons).
    DecodeErrors,
    /// Messages for a symbol that is not configured (skipped).
    UnknownSymbol,
    /// Control replies and ignored venue events (subscription acks, errors,
    /// `serverShutdown`).
    ControlMessages,
    /// Top-of-book updates decoded.
    BookTickers,
    /// Trades (and aggregated trades) decoded.
    Trades,
    /// Depth diff messages decoded.
    DepthUpdates,
    /// Market events pushed onto the md ring.
    EventsPushed,
    /// Top-of-book or status events conflated (latest wins) because the md
    /// ring was full.
    Conflated,
    /// Trades the full md ring refused (trades are facts: they cannot be
    /// conflated, so each refusal is dropped and counted here).
    TradesDropped,
    /// Book resyncs started (gap, forced, reconnect), over all instruments.
    Resyncs,
    /// Gaps in the diff stream (`U > book id + 1`).
    Gaps,
    /// Resyncs forced because the md ring could not take a depth level.
    ForcedResyncs,
    /// REST depth snapshots fetched and handed to a book.
    Snapshots,
    /// REST snapshot requests that failed (transport, status, decode).
    SnapshotFailures,
    /// Market-data connections established (WebSocket open).
    Connects,
    /// Reconnects scheduled after a connection ended or failed.
    Reconnects,
    /// Connection attempts that failed before the WebSocket opened.
    ConnectFailures,
    /// Pings we sent.
    PingsSent,
    /// Instruments marked stale.
    StaleMarks,
    /// Instruments marked fresh again.
    FreshMarks,
    /// Connection attempts delayed by the attempt budget
    /// (`reconnect.max_attempts` per `reconnect.attempt_window_ms`).
    ConnectsThrottled,
    /// Snapshot requests delayed by the REST weight budget
    /// (`snapshot_weight_per_min`).
    SnapshotsThrottled,
}

impl FeedCounter {
    /// Number of counters.
    pub const COUNT: usize = 24;

    /// Every counter in code order.
    pub const ALL: [FeedCounter; FeedCounter::COUNT] = [
        FeedCounter::Messages,
        FeedCounter::Bytes,
        FeedCounter::DecodeErrors,
        FeedCounter::UnknownSymbol,
        FeedCounter::ControlMessages,
        FeedCounter::BookTickers,
        FeedCounter::Trades,
        FeedCounter::DepthUpdates,
        FeedCounter::EventsPushed,
        FeedCounter::Conflated,
        FeedCounter::TradesDropped,
        FeedCounter::Resyncs,
        FeedCounter::Gaps,
        FeedCounter::ForcedResyncs,
        FeedCounter::Snapshots,
        FeedCounter::SnapshotFailures,
        FeedCounter::Connects,
        FeedCounter::Reconnects,
        FeedCounter::ConnectFailures,
        FeedCounter::PingsSent,
        FeedCounter::StaleMarks,
        FeedCounter::FreshMarks,
        FeedCounter::ConnectsThrottled,
        FeedCounter::SnapshotsThrottled,
    ];

    /// The slot index.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            FeedCounter::Messages => "messages",
            FeedCounter::Bytes => "bytes",
            FeedCounter::DecodeErrors => "decode_errors",
            FeedCounter::UnknownSymbol => "unknown_symbol",
            FeedCounter::ControlMessages => "control_messages",
            FeedCounter::BookTickers => "book_tickers",
            FeedCounter::Trades => "trades",
            FeedCounter::DepthUpdates => "depth_updates",
            FeedCounter::EventsPushed => "events_pushed",
            FeedCounter::Conflated => "conflated",
            FeedCounter::TradesDropped => "trades_dropped",
            FeedCounter::Resyncs => "resyncs",
            FeedCounter::Gaps => "gaps",
            FeedCounter::ForcedResyncs => "forced_resyncs",
            FeedCounter::Snapshots => "snapshots",
            FeedCounter::SnapshotFailures => "snapshot_failures",
            FeedCounter::Connects => "connects",
            FeedCounter::Reconnects => "reconnects",
            FeedCounter::ConnectFailures => "connect_failures",
            FeedCounter::PingsSent => "pings_sent",
            FeedCounter::StaleMarks => "stale_marks",
            FeedCounter::FreshMarks => "fresh_marks",
            FeedCounter::ConnectsThrottled => "connects_throttled",
            FeedCounter::SnapshotsThrottled => "snapshots_throttled",
        }
    }
}

impl fmt::Display for FeedCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The feed's counters: [`FeedCounter`] slots plus one slot per decoder
/// error reason. One writer (the feed thread); any number of readers.
pub struct FeedCounters {
    slots: [Slot; FeedCounter::COUNT],
    decode_reasons: Box<[Slot]>,
}

impl FeedCounters {
    /// Zeroed counters with `decode_reasons` per-reason decode-error slots.
    pub fn new(decode_reasons: usize) -> FeedCounters {
        FeedCounters {
            slots: Default::default(),
            decode_reasons: (0..decode_reasons).map(|_| Slot::default()).collect(),
        }
    }

    /// Adds `n` to `c`. Feed thread only (single writer).
    #[inline]
    pub fn add(&self, c: FeedCounter, n: u64) {
        self.slots[c.index()].add(n);
    }

    /// Adds one to `c`. Feed thread only (single writer).
    #[inline]
    pub fn increment(&self, c: FeedCounter) {
        self.add(c, 1);
    }

    /// Counts one decode error with reason code `reason` (also adds to
    /// [`FeedCounter::DecodeErrors`]). An out-of-range code is counted in
    /// the total only. Feed thread only.
    #[inline]
    pub fn decode_error(&self, reason: usize) {
        self.increment(FeedCounter::DecodeErrors);
        if let Some(s) = self.decode_reasons.get(reason) {
            s.add(1);
        }
    }

    /// The current value of `c` (any thread).
    #[inline]
    pub fn get(&self, c: FeedCounter) -> u64 {
        self.slots[c.index()].get()
    }

    /// Decode errors counted with reason code `reason` (0 if out of range).
    pub fn decode_errors_for(&self, reason: usize) -> u64 {
        self.decode_reasons.get(reason).map_or(0, Slot::get)
    }

    /// Number of per-reason decode-error slots.
    pub fn decode_reason_count(&self) -> usize {
        self.decode_reasons.len()
    }

    /// Every counter with its current value (a racy but per-slot exact view).
    pub fn snapshot(&self) -> [(FeedCounter, u64); FeedCounter::COUNT] {
        FeedCounter::ALL.map(|c| (c, self.get(c)))
    }
}

impl fmt::Debug for FeedCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (c, v) in self.snapshot() {
            m.entry(&c.as_str(), &v);
        }
        m.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_table() {
        for (i, c) in FeedCounter::ALL.iter().enumerate() {
            assert_eq!(c.index(), i, "{c}");
        }
        let mut names: Vec<_> = FeedCounter::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FeedCounter::COUNT);
    }

    #[test]
    fn add_get_and_decode_reasons() {
        let c = FeedCounters::new(3);
        c.add(FeedCounter::Bytes, 100);
        c.increment(FeedCounter::Bytes);
        c.decode_error(1);
        c.decode_error(1);
        c.decode_error(7); // out of range: total only
        assert_eq!(c.get(FeedCounter::Bytes), 101);
        assert_eq!(c.get(FeedCounter::DecodeErrors), 3);
        assert_eq!(c.decode_errors_for(1), 2);
        assert_eq!(c.decode_errors_for(0), 0);
        assert_eq!(c.decode_errors_for(7), 0);
        assert_eq!(c.decode_reason_count(), 3);
        assert!(format!("{c:?}").contains("\"bytes\": 101"));
    }

    #[test]
    fn readable_from_another_thread() {
        let c = std::sync::Arc::new(FeedCounters::new(0));
        c.add(FeedCounter::Messages, 5);
        let r = std::sync::Arc::clone(&c);
        let seen = std::thread::spawn(move || r.get(FeedCounter::Messages))
            .join()
            .expect("reader thread");
        assert_eq!(seen, 5);
    }
}
