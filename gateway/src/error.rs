//! The gateway's errors: start-up failures and the Talon-local reject codes.
//!
//! Owns [`ConfigError`] (a refused configuration value, naming its key),
//! [`GatewayError`] (the agent could not be built: config, DNS, TLS set-up,
//! credentials, instruments) and [`LocalReject`] (why the gateway refused a
//! new order itself, without asking the venue — a small `Copy` enum with a
//! stable negative code that travels in `ExecReport::reject_code`).
//!
//! ## Reject codes
//! Venue codes are Binance's (`-1013`, `-2010`, …, all in `-1000..=-3999`).
//! Talon's own refusals use `-9001..` so the engine can always tell "the
//! venue said no" from "the gateway never sent it":
//!
//! | code | [`LocalReject`] | when |
//! |---|---|---|
//! | -9001 | `Halted` | the process-wide halt flag is set |
//! | -9002 | `BreakerOpen` | the circuit breaker is open (or half-open with its probe in flight) |
//! | -9003 | `NotConnected` | the session is not ready (connecting, syncing, resyncing), or the connection was lost before the order went out |
//! | -9004 | `QueueFull` | the new-order queue is full |
//! | -9005 | `TableFull` | the order table has no free slot |
//! | -9006 | `UnknownInstrument` | the instrument is not configured on this gateway |
//! | -9007 | `InvalidOrder` | empty / duplicate client order id, or a field the encoder refused |
//! | -9008 | `PendingFull` | every request id slot is waiting for a response |
//!
//! Never allocates on the hot path: [`LocalReject`] is `Copy`; the `String`
//! in [`ConfigError`] / [`GatewayError`] exists only at start-up.

/// A configuration value was refused. Cold path: built once at start-up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("gateway config `{key}`: {reason}")]
pub struct ConfigError {
    /// The offending key, dotted (`reconnect.initial_ms`).
    pub key: &'static str,
    /// Why it was refused.
    pub reason: String,
}

impl ConfigError {
    /// A refusal of `key` because of `reason`.
    pub fn new(key: &'static str, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            key,
            reason: reason.into(),
        }
    }
}

/// The gateway agent could not be built (before its first duty cycle).
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The signing key could not be loaded (the key text is never shown).
    #[error("signing key: {0}")]
    Key(String),
    /// TLS set-up or host resolution failed.
    #[error("transport set-up: {0}")]
    Transport(String),
    /// A configured symbol is not in the instrument table.
    #[error("symbol `{0}` is not in the instrument table")]
    UnknownSymbol(String),
}

impl From<talon_feed::error::FeedError> for GatewayError {
    fn from(e: talon_feed::error::FeedError) -> Self {
        GatewayError::Transport(e.to_string())
    }
}

/// Why the gateway refused a new order locally (never sent to the venue).
/// The code goes into `ExecReport::reject_code` (see the module table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[repr(i32)]
pub enum LocalReject {
    /// The halt flag is set.
    #[error("halted")]
    Halted = -9001,
    /// The circuit breaker is open.
    #[error("circuit breaker open")]
    BreakerOpen = -9002,
    /// The session is not ready (or the connection was lost before sending).
    #[error("not connected")]
    NotConnected = -9003,
    /// The new-order queue is full.
    #[error("new-order queue full")]
    QueueFull = -9004,
    /// The order table is full.
    #[error("order table full")]
    TableFull = -9005,
    /// The instrument is not configured on this gateway.
    #[error("unknown instrument")]
    UnknownInstrument = -9006,
    /// Empty or duplicate client order id, or a field the encoder refused.
    #[error("invalid order")]
    InvalidOrder = -9007,
    /// No free request id slot.
    #[error("pending-request table full")]
    PendingFull = -9008,
}

impl LocalReject {
    /// Number of reasons.
    pub const COUNT: usize = 8;

    /// Every reason in code order.
    pub const ALL: [LocalReject; LocalReject::COUNT] = [
        LocalReject::Halted,
        LocalReject::BreakerOpen,
        LocalReject::NotConnected,
        LocalReject::QueueFull,
        LocalReject::TableFull,
        LocalReject::UnknownInstrument,
        LocalReject::InvalidOrder,
        LocalReject::PendingFull,
    ];

    /// The code carried in `ExecReport::reject_code`.
    #[inline]
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The reason of a Talon-local code, `None` for anything else (venue
    /// codes, zero).
    pub const fn from_code(code: i32) -> Option<LocalReject> {
        match code {
            -9001 => Some(LocalReject::Halted),
            -9002 => Some(LocalReject::BreakerOpen),
            -9003 => Some(LocalReject::NotConnected),
            -9004 => Some(LocalReject::QueueFull),
            -9005 => Some(LocalReject::TableFull),
            -9006 => Some(LocalReject::UnknownInstrument),
            -9007 => Some(LocalReject::InvalidOrder),
            -9008 => Some(LocalReject::PendingFull),
            _ => None,
        }
    }

    /// Dense index (0..COUNT) for counters.
    #[inline]
    pub const fn index(self) -> usize {
        (-9001 - self.code()) as usize
    }

    /// A stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            LocalReject::Halted => "halted",
            LocalReject::BreakerOpen => "breaker_open",
            LocalReject::NotConnected => "not_connected",
            LocalReject::QueueFull => "queue_full",
            LocalReject::TableFull => "table_full",
            LocalReject::UnknownInstrument => "unknown_instrument",
            LocalReject::InvalidOrder => "invalid_order",
            LocalReject::PendingFull => "pending_full",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_codes_round_trip_and_stay_out_of_the_venue_range() {
        for (i, r) in LocalReject::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(LocalReject::from_code(r.code()), Some(*r));
            assert!(r.code() <= -9000, "{} collides with venue codes", r.code());
            assert!(!r.as_str().is_empty());
        }
        for venue in [
            -1013, -1021, -1022, -2010, -2011, -2013, -2015, 0, -9000, -9009,
        ] {
            assert_eq!(LocalReject::from_code(venue), None);
        }
    }

    #[test]
    fn config_error_names_the_key() {
        let e = ConfigError::new("recv_window_ms", "too big");
        assert_eq!(e.to_string(), "gateway config `recv_window_ms`: too big");
    }
}
