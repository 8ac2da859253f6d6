//! The gateway's session state machine: what the connection is doing.
//!
//! Owns [`SessionState`] (public, for observers and tests) and [`Phase`]
//! (the sync step the duty cycle drives). The transitions, each driven by
//! the response to the one request of the step in flight:
//!
//! ```text
//!  Disconnected ──connect──▶ Connecting ──ws open──▶ Time ×N ──▶ ExchangeInfo
//!       ▲                                                            │
//!       │ connection lost / serverShutdown / sync error              ▼
//!       └──────────────── Ready ◀── OpenOrders ◀── Subscribe ◀── [Logon (Ed25519)]
//! ```
//!
//! * `Time`: `time` sent `time_samples` times, one at a time, each round
//!   trip a [`crate::server_time::ServerTime`] sample.
//! * `ExchangeInfo`: the configured symbols' `exchangeInfo`; its
//!   `rateLimits` configure the [`crate::rate_limit::RateLimiter`] (the
//!   gateway never assumes a limit).
//! * `Logon` (Ed25519 keys only): `session.logon`; afterwards requests carry
//!   no signature.
//! * `Subscribe`: `userDataStream.subscribe` (after logon) or
//!   `userDataStream.subscribe.signature` (HMAC).
//! * `OpenOrders`: `openOrders.status` per symbol (resync). Then every
//!   non-terminal order of the table is queried by client order id, and the
//!   session is `Ready`: new orders are accepted, held cancels go out.
//!
//! Nothing here resends an order: a `PendingNew`/`Unknown` order is only
//! ever *queried*. That is what makes "exactly one live order per client
//! order id" hold across reconnects.

/// What the gateway's connection is doing (readable by observers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// No connection; a reconnect is scheduled (backoff).
    Disconnected,
    /// TCP connect, TLS or WebSocket upgrade in progress.
    Connecting,
    /// Connected: server time, limits, logon and user-data subscription.
    Syncing,
    /// Connected and synced: open orders and unresolved orders are being
    /// reconciled.
    Resyncing,
    /// New orders are accepted.
    Ready,
}

impl SessionState {
    /// A stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SessionState::Disconnected => "disconnected",
            SessionState::Connecting => "connecting",
            SessionState::Syncing => "syncing",
            SessionState::Resyncing => "resyncing",
            SessionState::Ready => "ready",
        }
    }
}

/// The sync step of an open connection (`Down` while not open).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not connected (or the WebSocket is not open yet).
    Down,
    /// Collecting server-time samples.
    Time,
    /// Waiting for `exchangeInfo`.
    ExchangeInfo,
    /// Waiting for `session.logon`.
    Logon,
    /// Waiting for the user-data subscription.
    Subscribe,
    /// Waiting for `openOrders.status` answers.
    OpenOrders,
    /// Trading.
    Ready,
}

impl Phase {
    /// The public view of this phase.
    pub(crate) const fn state(self) -> SessionState {
        match self {
            Phase::Down => SessionState::Disconnected,
            Phase::Time | Phase::ExchangeInfo | Phase::Logon | Phase::Subscribe => {
                SessionState::Syncing
            }
            Phase::OpenOrders => SessionState::Resyncing,
            Phase::Ready => SessionState::Ready,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_map_to_public_states() {
        assert_eq!(Phase::Down.state(), SessionState::Disconnected);
        for p in [
            Phase::Time,
            Phase::ExchangeInfo,
            Phase::Logon,
            Phase::Subscribe,
        ] {
            assert_eq!(p.state(), SessionState::Syncing);
        }
        assert_eq!(Phase::OpenOrders.state(), SessionState::Resyncing);
        assert_eq!(Phase::Ready.state(), SessionState::Ready);
        assert_eq!(SessionState::Ready.as_str(), "ready");
    }
}
