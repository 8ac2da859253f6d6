//! The gateway's counters, readable from any thread.
//!
//! Owns [`GatewayCounter`] (one documented variant per counter),
//! [`VenueCode`] (buckets of venue reject codes) and [`GatewayCounters`]: a
//! fixed array of cache-line-padded `AtomicU64`s (one per counter, one per
//! venue-code bucket, one per [`LocalReject`] reason), shared by `Arc`
//! between the gateway thread (the single writer) and observers (`talon
//! watch`, metrics, tests).
//!
//! Never allocates after construction, never blocks. Every slot has exactly
//! one writer, the gateway's thread, which adds with a `Relaxed` load and a
//! `Relaxed` store (no read-modify-write): `Relaxed` suffices because a
//! counter never publishes other memory, and a reader only needs some recent
//! value, which cache coherence delivers.

use std::fmt;

use crate::error::LocalReject;
use talon_core::counters::CounterSlot as Slot;

/// One gateway counter. Codes are the variant order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum GatewayCounter {
    /// `order.place` requests written to the socket.
    OrdersSent = 0,
    /// `order.cancel` requests written.
    CancelsSent,
    /// `openOrders.cancelAll` requests written.
    CancelAllsSent,
    /// Status queries written (`order.status`, `openOrders.status`).
    QueriesSent,
    /// Orders acknowledged (first `New` report of an order).
    Acks,
    /// Fills (reports with a positive last quantity).
    Fills,
    /// Exec reports pushed onto the exec ring.
    ExecReports,
    /// New orders rejected by the venue (sum over [`VenueCode`] buckets).
    VenueRejects,
    /// Cancels (and cancel-alls) the venue refused.
    CancelRejects,
    /// New orders refused locally (sum over [`LocalReject`] reasons).
    LocalRejects,
    /// 429 responses (rate limited by the venue).
    RateLimited429,
    /// 418 responses (IP banned by the venue).
    Banned418,
    /// Times a send waited for the local rate limiter (once per throttled
    /// episode, not per duty cycle).
    ThrottledWaits,
    /// WebSocket connections established.
    Connects,
    /// Reconnects scheduled after a connection ended or failed.
    Reconnects,
    /// Connection attempts that failed before the session opened.
    ConnectFailures,
    /// Open-order resyncs completed (every session start).
    Resyncs,
    /// Orders whose state was adopted from a status query or the venue's
    /// open-order list.
    OrdersAdopted,
    /// Orders resolved as never placed (`-2013` from `order.status`).
    OrdersNeverPlaced,
    /// Duplicate trade ids dropped.
    DuplicateTradesDropped,
    /// Exec events whose cumulative quantity went backwards (dropped).
    StaleExecEvents,
    /// Exec events for an order the gateway does not hold (dropped).
    UnknownOrderEvents,
    /// Exec events the order state machine refused (never a panic).
    IllegalTransitions,
    /// Orders that got no ack within `ack_timeout_ms` (→ Unknown → query).
    AckTimeouts,
    /// Non-order requests that got no response in time.
    RequestTimeouts,
    /// Times the circuit breaker opened.
    BreakerOpens,
    /// Exec reports the full exec ring refused (held, retried; never
    /// dropped).
    ExecRingFull,
    /// Frames the response decoder refused.
    DecodeErrors,
    /// Responses with no matching pending request.
    UnmatchedResponses,
    /// Session events (`serverShutdown`, `eventStreamTerminated`, key
    /// revoked).
    SessionEvents,
    /// Account events (`outboundAccountPosition`, `balanceUpdate`): counted,
    /// not forwarded.
    AccountEvents,
    /// Session sync requests the venue refused (time, exchangeInfo, logon,
    /// subscription, open orders): the connection is dropped and retried
    /// with backoff; the venue code is counted in its bucket.
    SyncFailures,
    /// Bytes read from the socket (after TLS).
    Bytes,
    /// Frames received.
    Messages,
}

impl GatewayCounter {
    /// Number of counters.
    pub const COUNT: usize = 34;

    /// Every counter in code order.
    pub const ALL: [GatewayCounter; GatewayCounter::COUNT] = [
        GatewayCounter::OrdersSent,
        GatewayCounter::CancelsSent,
        GatewayCounter::CancelAllsSent,
        GatewayCounter::QueriesSent,
        GatewayCounter::Acks,
        GatewayCounter::Fills,
        GatewayCounter::ExecReports,
        GatewayCounter::VenueRejects,
        GatewayCounter::CancelRejects,
        GatewayCounter::LocalRejects,
        GatewayCounter::RateLimited429,
        GatewayCounter::Banned418,
        GatewayCounter::ThrottledWaits,
        GatewayCounter::Connects,
        GatewayCounter::Reconnects,
        GatewayCounter::ConnectFailures,
        GatewayCounter::Resyncs,
        GatewayCounter::OrdersAdopted,
        GatewayCounter::OrdersNeverPlaced,
        GatewayCounter::DuplicateTradesDropped,
        GatewayCounter::StaleExecEvents,
        GatewayCounter::UnknownOrderEvents,
        GatewayCounter::IllegalTransitions,
        GatewayCounter::AckTimeouts,
        GatewayCounter::RequestTimeouts,
        GatewayCounter::BreakerOpens,
        GatewayCounter::ExecRingFull,
        GatewayCounter::DecodeErrors,
        GatewayCounter::UnmatchedResponses,
        GatewayCounter::SessionEvents,
        GatewayCounter::AccountEvents,
        GatewayCounter::SyncFailures,
        GatewayCounter::Bytes,
        GatewayCounter::Messages,
    ];

    /// The slot index.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            GatewayCounter::OrdersSent => "orders_sent",
            GatewayCounter::CancelsSent => "cancels_sent",
            GatewayCounter::CancelAllsSent => "cancel_alls_sent",
            GatewayCounter::QueriesSent => "queries_sent",
            GatewayCounter::Acks => "acks",
            GatewayCounter::Fills => "fills",
            GatewayCounter::ExecReports => "exec_reports",
            GatewayCounter::VenueRejects => "venue_rejects",
            GatewayCounter::CancelRejects => "cancel_rejects",
            GatewayCounter::LocalRejects => "local_rejects",
            GatewayCounter::RateLimited429 => "rate_limited_429",
            GatewayCounter::Banned418 => "banned_418",
            GatewayCounter::ThrottledWaits => "throttled_waits",
            GatewayCounter::Connects => "connects",
            GatewayCounter::Reconnects => "reconnects",
            GatewayCounter::ConnectFailures => "connect_failures",
            GatewayCounter::Resyncs => "resyncs",
            GatewayCounter::OrdersAdopted => "orders_adopted",
            GatewayCounter::OrdersNeverPlaced => "orders_never_placed",
            GatewayCounter::DuplicateTradesDropped => "duplicate_trades_dropped",
            GatewayCounter::StaleExecEvents => "stale_exec_events",
            GatewayCounter::UnknownOrderEvents => "unknown_order_events",
            GatewayCounter::IllegalTransitions => "illegal_transitions",
            GatewayCounter::AckTimeouts => "ack_timeouts",
            GatewayCounter::RequestTimeouts => "request_timeouts",
            GatewayCounter::BreakerOpens => "breaker_opens",
            GatewayCounter::ExecRingFull => "exec_ring_full",
            GatewayCounter::DecodeErrors => "decode_errors",
            GatewayCounter::UnmatchedResponses => "unmatched_responses",
            GatewayCounter::SessionEvents => "session_events",
            GatewayCounter::AccountEvents => "account_events",
            GatewayCounter::SyncFailures => "sync_failures",
            GatewayCounter::Bytes => "bytes",
            GatewayCounter::Messages => "messages",
        }
    }
}

impl fmt::Display for GatewayCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Buckets of venue error codes (new-order and cancel rejects).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum VenueCode {
    /// -1003 TOO_MANY_REQUESTS (and 418 bans).
    TooManyRequests = 0,
    /// -1007 TIMEOUT (outcome unknown).
    Timeout,
    /// -1013 INVALID_MESSAGE (filter failure).
    Filter,
    /// -1015 TOO_MANY_ORDERS.
    TooManyOrders,
    /// -1021 INVALID_TIMESTAMP.
    Timestamp,
    /// -1022 INVALID_SIGNATURE.
    Signature,
    /// -2010 NEW_ORDER_REJECTED.
    NewOrderRejected,
    /// -2011 CANCEL_REJECTED.
    CancelRejected,
    /// -2013 NO_SUCH_ORDER.
    NoSuchOrder,
    /// -2015 REJECTED_MBX_KEY.
    BadKey,
    /// Any code with an HTTP 5xx status (outcome unknown).
    ServerError,
    /// -1100..=-1199 (parameter errors).
    Parameter,
    /// Anything else.
    Other,
}

impl VenueCode {
    /// Number of buckets.
    pub const COUNT: usize = 13;

    /// Every bucket in code order.
    pub const ALL: [VenueCode; VenueCode::COUNT] = [
        VenueCode::TooManyRequests,
        VenueCode::Timeout,
        VenueCode::Filter,
        VenueCode::TooManyOrders,
        VenueCode::Timestamp,
        VenueCode::Signature,
        VenueCode::NewOrderRejected,
        VenueCode::CancelRejected,
        VenueCode::NoSuchOrder,
        VenueCode::BadKey,
        VenueCode::ServerError,
        VenueCode::Parameter,
        VenueCode::Other,
    ];

    /// The bucket of a response's HTTP-like `status` and error `code`.
    pub const fn of(status: u16, code: i32) -> VenueCode {
        if status >= 500 {
            return VenueCode::ServerError;
        }
        match code {
            -1003 => VenueCode::TooManyRequests,
            -1007 => VenueCode::Timeout,
            -1013 => VenueCode::Filter,
            -1015 => VenueCode::TooManyOrders,
            -1021 => VenueCode::Timestamp,
            -1022 => VenueCode::Signature,
            -2010 => VenueCode::NewOrderRejected,
            -2011 => VenueCode::CancelRejected,
            -2013 => VenueCode::NoSuchOrder,
            -2015 => VenueCode::BadKey,
            -1199..=-1100 => VenueCode::Parameter,
            _ => VenueCode::Other,
        }
    }

    /// The slot index.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            VenueCode::TooManyRequests => "too_many_requests",
            VenueCode::Timeout => "timeout",
            VenueCode::Filter => "filter",
            VenueCode::TooManyOrders => "too_many_orders",
            VenueCode::Timestamp => "timestamp",
            VenueCode::Signature => "signature",
            VenueCode::NewOrderRejected => "new_order_rejected",
            VenueCode::CancelRejected => "cancel_rejected",
            VenueCode::NoSuchOrder => "no_such_order",
            VenueCode::BadKey => "bad_key",
            VenueCode::ServerError => "server_error",
            VenueCode::Parameter => "parameter",
            VenueCode::Other => "other",
        }
    }
}

/// The gateway's counters. One writer (the gateway thread); any number of
/// readers.
pub struct GatewayCounters {
    slots: [Slot; GatewayCounter::COUNT],
    venue: [Slot; VenueCode::COUNT],
    local: [Slot; LocalReject::COUNT],
}

impl Default for GatewayCounters {
    fn default() -> Self {
        GatewayCounters::new()
    }
}

impl GatewayCounters {
    /// Zeroed counters.
    pub fn new() -> GatewayCounters {
        GatewayCounters {
            slots: std::array::from_fn(|_| Slot::default()),
            venue: Default::default(),
            local: Default::default(),
        }
    }

    /// Adds `n` to `c`. Gateway thread only (single writer).
    #[inline]
    pub fn add(&self, c: GatewayCounter, n: u64) {
        self.slots[c.index()].add(n);
    }

    /// Adds one to `c`. Gateway thread only.
    #[inline]
    pub fn increment(&self, c: GatewayCounter) {
        self.add(c, 1);
    }

    /// Counts one venue reject in its bucket (the caller counts the total
    /// it belongs to: new order or cancel). Gateway thread only.
    #[inline]
    pub fn venue_code(&self, bucket: VenueCode) {
        self.venue[bucket.index()].add(1);
    }

    /// Counts one local reject (and the [`GatewayCounter::LocalRejects`]
    /// total). Gateway thread only.
    #[inline]
    pub fn local_reject(&self, reason: LocalReject) {
        self.increment(GatewayCounter::LocalRejects);
        self.local[reason.index()].add(1);
    }

    /// The current value of `c` (any thread).
    #[inline]
    pub fn get(&self, c: GatewayCounter) -> u64 {
        self.slots[c.index()].get()
    }

    /// Venue rejects counted in `bucket` (any thread).
    #[inline]
    pub fn venue(&self, bucket: VenueCode) -> u64 {
        self.venue[bucket.index()].get()
    }

    /// Local rejects counted for `reason` (any thread).
    #[inline]
    pub fn local(&self, reason: LocalReject) -> u64 {
        self.local[reason.index()].get()
    }

    /// Every counter with its current value (a racy but per-slot exact view).
    pub fn snapshot(&self) -> [(GatewayCounter, u64); GatewayCounter::COUNT] {
        GatewayCounter::ALL.map(|c| (c, self.get(c)))
    }
}

impl fmt::Debug for GatewayCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (c, v) in self.snapshot() {
            if v != 0 {
                m.entry(&c.as_str(), &v);
            }
        }
        for b in VenueCode::ALL {
            let v = self.venue(b);
            if v != 0 {
                m.entry(&b.as_str(), &v);
            }
        }
        for r in LocalReject::ALL {
            let v = self.local(r);
            if v != 0 {
                m.entry(&r.as_str(), &v);
            }
        }
        m.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_tables() {
        for (i, c) in GatewayCounter::ALL.iter().enumerate() {
            assert_eq!(c.index(), i, "{c}");
        }
        let mut names: Vec<_> = GatewayCounter::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), GatewayCounter::COUNT);
        for (i, b) in VenueCode::ALL.iter().enumerate() {
            assert_eq!(b.index(), i);
        }
    }

    #[test]
    fn venue_codes_bucket_as_documented() {
        assert_eq!(VenueCode::of(400, -1013), VenueCode::Filter);
        assert_eq!(VenueCode::of(400, -1021), VenueCode::Timestamp);
        assert_eq!(VenueCode::of(400, -1022), VenueCode::Signature);
        assert_eq!(VenueCode::of(400, -2010), VenueCode::NewOrderRejected);
        assert_eq!(VenueCode::of(400, -2011), VenueCode::CancelRejected);
        assert_eq!(VenueCode::of(400, -2015), VenueCode::BadKey);
        assert_eq!(VenueCode::of(429, -1015), VenueCode::TooManyOrders);
        assert_eq!(VenueCode::of(503, -1013), VenueCode::ServerError);
        assert_eq!(VenueCode::of(400, -1102), VenueCode::Parameter);
        assert_eq!(VenueCode::of(400, -4000), VenueCode::Other);
    }

    #[test]
    fn add_get_and_reasons_from_another_thread() {
        let c = std::sync::Arc::new(GatewayCounters::new());
        c.add(GatewayCounter::OrdersSent, 5);
        c.local_reject(LocalReject::Halted);
        c.venue_code(VenueCode::Filter);
        let r = std::sync::Arc::clone(&c);
        let seen = std::thread::spawn(move || {
            (
                r.get(GatewayCounter::OrdersSent),
                r.get(GatewayCounter::LocalRejects),
                r.local(LocalReject::Halted),
                r.venue(VenueCode::Filter),
            )
        })
        .join()
        .expect("reader thread");
        assert_eq!(seen, (5, 1, 1, 1));
        assert!(format!("{c:?}").contains("\"halted\": 1"));
    }
}
