//! Simulator statistics: shared atomic counters and the [`SimStats`]
//! snapshot returned by `SimHandle::stats`.
//!
//! This module owns counting only. Every counter is a monotonic `AtomicU64`
//! updated with `Relaxed` ordering: they are statistics, nothing else is
//! published through them, and a snapshot is allowed to mix slightly
//! different instants. It never blocks and never allocates per update.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::streams::KIND_COUNT;

/// Live counters (shared by every thread of a simulator).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sent_by_kind: [AtomicU64; KIND_COUNT],
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) control_replies: AtomicU64,
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_open: AtomicU64,
    pub(crate) ws_connections: AtomicU64,
    pub(crate) tls_connections: AtomicU64,
    pub(crate) handshake_failures: AtomicU64,
    pub(crate) rest_requests: AtomicU64,
    pub(crate) pings_sent: AtomicU64,
    pub(crate) pongs_received: AtomicU64,
    pub(crate) pong_timeouts: AtomicU64,
    pub(crate) lifetime_closes: AtomicU64,
    pub(crate) slow_consumer_closes: AtomicU64,
    pub(crate) fault_drops: AtomicU64,
    pub(crate) fault_gaps: AtomicU64,
    pub(crate) fault_malformed: AtomicU64,
    pub(crate) fault_stalls: AtomicU64,
    pub(crate) deflate_negotiated: AtomicU64,
    pub(crate) deflate_rejected: AtomicU64,
    pub(crate) generated_messages: AtomicU64,
    pub(crate) generator_steps: AtomicU64,
    pub(crate) generator_overruns: AtomicU64,
    pub(crate) replayed_messages: AtomicU64,
    pub(crate) ws_api_requests: AtomicU64,
    pub(crate) orders_placed: AtomicU64,
    pub(crate) orders_rejected: AtomicU64,
    pub(crate) orders_filled: AtomicU64,
    pub(crate) order_fault_drops: AtomicU64,
    pub(crate) user_events_sent: AtomicU64,
}

/// Adds `n` to a counter (Relaxed: see the module docs).
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Increments a counter.
pub(crate) fn inc(c: &AtomicU64) {
    add(c, 1);
}

/// Decrements a counter, never below zero.
pub(crate) fn dec(c: &AtomicU64) {
    // Relaxed: statistics only.
    let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
}

fn get(c: &AtomicU64) -> u64 {
    // Relaxed: statistics only.
    c.load(Ordering::Relaxed)
}

/// A snapshot of the simulator's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SimStats {
    /// Market messages written to clients, all kinds.
    pub messages_sent: u64,
    /// `bookTicker` messages written.
    pub book_ticker_sent: u64,
    /// `trade` messages written.
    pub trade_sent: u64,
    /// `aggTrade` messages written.
    pub agg_trade_sent: u64,
    /// Diff-depth (`depthUpdate`) messages written.
    pub depth_diff_sent: u64,
    /// Partial-depth messages written.
    pub depth_partial_sent: u64,
    /// Other (replayed) messages written.
    pub other_sent: u64,
    /// Bytes of WebSocket frames written (market, control, ping).
    pub bytes_sent: u64,
    /// Replies to SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / properties.
    pub control_replies: u64,
    /// TCP connections accepted.
    pub connections_total: u64,
    /// Connections currently open.
    pub connections_open: u64,
    /// Connections upgraded to WebSocket.
    pub ws_connections: u64,
    /// Connections that used TLS.
    pub tls_connections: u64,
    /// Failed TLS/WebSocket/HTTP handshakes.
    pub handshake_failures: u64,
    /// REST requests answered (errors included).
    pub rest_requests: u64,
    /// Ping frames sent.
    pub pings_sent: u64,
    /// Pong frames received that echoed the outstanding ping.
    pub pongs_received: u64,
    /// Connections closed for not answering a ping in time.
    pub pong_timeouts: u64,
    /// Connections closed at the end of their lifetime.
    pub lifetime_closes: u64,
    /// Connections closed for falling too far behind.
    pub slow_consumer_closes: u64,
    /// Fault: connections dropped after N messages.
    pub fault_drops: u64,
    /// Fault: diff messages skipped (gaps injected).
    pub fault_gaps: u64,
    /// Fault: malformed messages sent.
    pub fault_malformed: u64,
    /// Fault: stalls performed.
    pub fault_stalls: u64,
    /// Connections that negotiated permessage-deflate.
    pub deflate_negotiated: u64,
    /// Offers of permessage-deflate that were not negotiated.
    pub deflate_rejected: u64,
    /// Real-time messages produced by the generator (the pacing unit).
    pub generated_messages: u64,
    /// Generator steps (book events).
    pub generator_steps: u64,
    /// Times the generator fell > 250 ms behind its rate and re-anchored.
    pub generator_overruns: u64,
    /// Tape entries replayed.
    pub replayed_messages: u64,
    /// WebSocket API requests received.
    pub ws_api_requests: u64,
    /// Orders the exchange accepted (WS API and REST).
    pub orders_placed: u64,
    /// Order placements rejected (any error code).
    pub orders_rejected: u64,
    /// Orders that became FILLED.
    pub orders_filled: u64,
    /// Connections dropped after accepting an order (fault).
    pub order_fault_drops: u64,
    /// User data events delivered to subscribed connections.
    pub user_events_sent: u64,
}

impl Counters {
    /// Takes a snapshot.
    pub(crate) fn snapshot(&self) -> SimStats {
        let k = |i: usize| self.sent_by_kind.get(i).map_or(0, get);
        SimStats {
            messages_sent: (0..KIND_COUNT).map(k).sum(),
            book_ticker_sent: k(0),
            trade_sent: k(1),
            agg_trade_sent: k(2),
            depth_diff_sent: k(3),
            depth_partial_sent: k(4),
            other_sent: k(5),
            bytes_sent: get(&self.bytes_sent),
            control_replies: get(&self.control_replies),
            connections_total: get(&self.connections_total),
            connections_open: get(&self.connections_open),
            ws_connections: get(&self.ws_connections),
            tls_connections: get(&self.tls_connections),
            handshake_failures: get(&self.handshake_failures),
            rest_requests: get(&self.rest_requests),
            pings_sent: get(&self.pings_sent),
            pongs_received: get(&self.pongs_received),
            pong_timeouts: get(&self.pong_timeouts),
            lifetime_closes: get(&self.lifetime_closes),
            slow_consumer_closes: get(&self.slow_consumer_closes),
            fault_drops: get(&self.fault_drops),
            fault_gaps: get(&self.fault_gaps),
            fault_malformed: get(&self.fault_malformed),
            fault_stalls: get(&self.fault_stalls),
            deflate_negotiated: get(&self.deflate_negotiated),
            deflate_rejected: get(&self.deflate_rejected),
            generated_messages: get(&self.generated_messages),
            generator_steps: get(&self.generator_steps),
            generator_overruns: get(&self.generator_overruns),
            replayed_messages: get(&self.replayed_messages),
            ws_api_requests: get(&self.ws_api_requests),
            orders_placed: get(&self.orders_placed),
            orders_rejected: get(&self.orders_rejected),
            orders_filled: get(&self.orders_filled),
            order_fault_drops: get(&self.order_fault_drops),
            user_events_sent: get(&self.user_events_sent),
        }
    }
}

impl fmt::Display for SimStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent={} (bookTicker={} trade={} aggTrade={} depth={} partial={} other={}) bytes={} \
             generated={} conns={}/{} ws={} rest={} pings={} pongs={} pong_timeouts={} \
             slow_closes={} faults: drops={} gaps={} malformed={} stalls={} \
             orders: placed={} rejected={} filled={} ws_api={} user_events={}",
            self.messages_sent,
            self.book_ticker_sent,
            self.trade_sent,
            self.agg_trade_sent,
            self.depth_diff_sent,
            self.depth_partial_sent,
            self.other_sent,
            self.bytes_sent,
            self.generated_messages,
            self.connections_open,
            self.connections_total,
            self.ws_connections,
            self.rest_requests,
            self.pings_sent,
            self.pongs_received,
            self.pong_timeouts,
            self.slow_consumer_closes,
            self.fault_drops,
            self.fault_gaps,
            self.fault_malformed,
            self.fault_stalls,
            self.orders_placed,
            self.orders_rejected,
            self.orders_filled,
            self.ws_api_requests,
            self.user_events_sent,
        )
    }
}
