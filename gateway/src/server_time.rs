//! Server-time offset tracking for the venue's `timestamp` / `recvWindow`.
//!
//! Owns [`ServerTime`]: the estimated offset `server − local` from `time`
//! round trips. Each sample is a request sent at local wall time `send`, a
//! reply received at `recv` and the server's `serverTime` in milliseconds.
//! The server read its clock somewhere inside the round trip; the midpoint
//! `send + rtt / 2` is the estimate with the smallest worst-case error
//! (±rtt/2), so the sample with the **lowest round-trip time** among the
//! last [`WINDOW`] samples is the one used. Older samples age out, so a
//! drifting local clock is followed.
//!
//! Signed requests then use [`ServerTime::timestamp_ms`]: local wall time
//! plus the offset, truncated to the millisecond (never rounded up, since
//! the venue rejects a `timestamp` more than 1000 ms ahead of its clock but
//! accepts one up to `recvWindow` behind).
//!
//! Pure arithmetic over a fixed array: no clock reads (the caller passes
//! times, e.g. from `talon_core::clock::unix_nanos`), no allocation, no
//! panics (all sums saturate; samples with `recv < send` are ignored and
//! counted).

use talon_core::clock::Nanos;

/// How many recent samples are kept; the offset comes from the one with the
/// lowest round-trip time among them.
pub const WINDOW: usize = 8;

const NS_PER_MS: i128 = 1_000_000;

/// One accepted `time` round trip.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sample {
    /// `recv − send`, nanoseconds.
    rtt_ns: u64,
    /// `server − midpoint`, nanoseconds.
    offset_ns: i64,
}

/// Server-minus-local clock offset from `time` round trips.
#[derive(Clone, Debug, Default)]
pub struct ServerTime {
    samples: [Sample; WINDOW],
    /// Samples stored so far (saturates at `WINDOW`).
    len: usize,
    /// Slot the next sample overwrites.
    next: usize,
    /// Index of the lowest-RTT sample in `samples[..len]`.
    best: usize,
    /// Samples ignored because `recv < send`.
    rejected: u64,
}

impl ServerTime {
    /// No samples yet: offset 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a round trip: request sent at `local_send`, reply received at
    /// `local_recv` (both local Unix wall time), carrying `server_ms`.
    /// A sample with `local_recv < local_send` is ignored and counted in
    /// [`ServerTime::rejected_samples`].
    pub fn on_sample(&mut self, local_send: Nanos, local_recv: Nanos, server_ms: u64) {
        let Some(rtt_ns) = local_recv.0.checked_sub(local_send.0) else {
            self.rejected = self.rejected.saturating_add(1);
            return;
        };
        let midpoint = i128::from(local_send.0) + i128::from(rtt_ns / 2);
        let offset = i128::from(server_ms) * NS_PER_MS - midpoint;
        let offset_ns =
            i64::try_from(offset).unwrap_or(if offset < 0 { i64::MIN } else { i64::MAX });
        self.samples[self.next] = Sample { rtt_ns, offset_ns };
        self.next = (self.next + 1) % WINDOW;
        self.len = (self.len + 1).min(WINDOW);
        // Recompute over the window: the slot just overwritten may have been
        // the best one. WINDOW is small; ties keep the earliest slot.
        let mut best = 0;
        for i in 1..self.len {
            if self.samples[i].rtt_ns < self.samples[best].rtt_ns {
                best = i;
            }
        }
        self.best = best;
    }

    /// True once a sample has been accepted.
    pub fn has_sample(&self) -> bool {
        self.len > 0
    }

    /// The offset `server − local` in nanoseconds (0 without a sample).
    pub fn offset_ns(&self) -> i64 {
        if self.len == 0 {
            0
        } else {
            self.samples[self.best].offset_ns
        }
    }

    /// The offset `server − local` in milliseconds, rounded toward negative
    /// infinity (0 without a sample).
    pub fn offset_ms(&self) -> i64 {
        self.offset_ns().div_euclid(1_000_000)
    }

    /// Round-trip time of the sample in use (`None` without a sample).
    pub fn best_rtt_ns(&self) -> Option<u64> {
        (self.len > 0).then(|| self.samples[self.best].rtt_ns)
    }

    /// Samples ignored because the reply came "before" the request.
    pub fn rejected_samples(&self) -> u64 {
        self.rejected
    }

    /// The venue `timestamp` (ms) for local Unix wall time `local_unix_now`:
    /// local time plus the offset, truncated to the millisecond, clamped at
    /// 0. Without a sample it is the local time.
    pub fn timestamp_ms(&self, local_unix_now: Nanos) -> u64 {
        let server_ns = i128::from(local_unix_now.0) + i128::from(self.offset_ns());
        let ms = server_ns.div_euclid(NS_PER_MS);
        u64::try_from(ms.max(0)).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    /// A wall-clock origin, 2024-06-27 in ns.
    const T0: u64 = 1_719_487_045_000 * MS;

    #[test]
    fn no_sample_means_local_time() {
        let st = ServerTime::new();
        assert!(!st.has_sample());
        assert_eq!(st.offset_ms(), 0);
        assert_eq!(st.best_rtt_ns(), None);
        assert_eq!(st.timestamp_ms(Nanos(T0 + 1_999_999)), T0 / MS + 1);
    }

    #[test]
    fn midpoint_of_the_round_trip() {
        // Sent at T0, received 10 ms later; server says T0/ms + 255: its
        // clock read the midpoint (T0 + 5 ms) as +255 ms → offset +250 ms.
        let mut st = ServerTime::new();
        st.on_sample(Nanos(T0), Nanos(T0 + 10 * MS), T0 / MS + 255);
        assert!(st.has_sample());
        assert_eq!(st.offset_ms(), 250);
        assert_eq!(st.best_rtt_ns(), Some(10 * MS));
        assert_eq!(st.timestamp_ms(Nanos(T0 + 100 * MS)), T0 / MS + 350);
        // Server behind local: offset negative.
        let mut st = ServerTime::new();
        st.on_sample(Nanos(T0), Nanos(T0 + 2 * MS), T0 / MS - 999);
        assert_eq!(st.offset_ms(), -1000);
        assert_eq!(st.timestamp_ms(Nanos(T0)), T0 / MS - 1000);
    }

    #[test]
    fn lowest_rtt_sample_wins_within_the_window() {
        let mut st = ServerTime::new();
        // A slow sample (40 ms RTT, asymmetric → offset 300 ms) then a fast
        // one (2 ms RTT, offset 250 ms), then more slow ones: the fast wins.
        st.on_sample(Nanos(T0), Nanos(T0 + 40 * MS), T0 / MS + 320);
        assert_eq!(st.offset_ms(), 300);
        st.on_sample(Nanos(T0 + 1000 * MS), Nanos(T0 + 1002 * MS), T0 / MS + 1251);
        assert_eq!(st.offset_ms(), 250);
        assert_eq!(st.best_rtt_ns(), Some(2 * MS));
        for i in 0..(WINDOW as u64 - 2) {
            let s = T0 + (2000 + i * 1000) * MS;
            st.on_sample(Nanos(s), Nanos(s + 30 * MS), s / MS + 15 + 400);
            assert_eq!(st.offset_ms(), 250, "sample {i}");
        }
        // The window is full; the next sample evicts the first (slow) one,
        // the one after that evicts the fast one: then the best of the
        // remaining slow ones (all offset 400, RTT 30 ms) takes over.
        let s = T0 + 20_000 * MS;
        st.on_sample(Nanos(s), Nanos(s + 30 * MS), s / MS + 15 + 400);
        assert_eq!(st.offset_ms(), 250);
        let s = T0 + 21_000 * MS;
        st.on_sample(Nanos(s), Nanos(s + 30 * MS), s / MS + 15 + 400);
        assert_eq!(st.offset_ms(), 400);
        assert_eq!(st.best_rtt_ns(), Some(30 * MS));
    }

    #[test]
    fn backwards_samples_are_ignored_and_counted() {
        let mut st = ServerTime::new();
        st.on_sample(Nanos(T0 + 5), Nanos(T0), T0 / MS + 10_000);
        assert!(!st.has_sample());
        assert_eq!(st.rejected_samples(), 1);
        st.on_sample(Nanos(T0), Nanos(T0), T0 / MS + 7);
        assert_eq!(st.offset_ms(), 7);
        assert_eq!(st.best_rtt_ns(), Some(0));
    }

    #[test]
    fn extremes_saturate_instead_of_panicking() {
        let mut st = ServerTime::new();
        st.on_sample(Nanos(u64::MAX), Nanos(u64::MAX), 0);
        assert_eq!(st.timestamp_ms(Nanos(0)), 0);
        assert!(st.offset_ms() < 0);
        let mut st = ServerTime::new();
        st.on_sample(Nanos(0), Nanos(0), u64::MAX);
        assert_eq!(st.offset_ns(), i64::MAX);
        let _ = st.timestamp_ms(Nanos(u64::MAX));
        let mut st = ServerTime::new();
        st.on_sample(Nanos(0), Nanos(u64::MAX), 0);
        let _ = st.timestamp_ms(Nanos(u64::MAX));
    }
}
