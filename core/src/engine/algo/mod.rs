//! Execution algorithms: a parent order worked over time by child orders.
//!
//! Owns the parent-order types ([`ParentOrder`], [`AlgoKind`],
//! [`Profile`]), the [`AlgoRunner`] state machine that works one parent,
//! the child intents it emits ([`ChildIntent`] into a fixed [`ChildBuf`]),
//! the seeded [`SplitMix64`] used for iceberg sizes and delays, and the
//! serde form a parent takes in config ([`AlgoConfig`]).
//!
//! An algo never reads a clock (time arrives as `now: Nanos`), never
//! allocates after [`AlgoRunner::start`], never uses `f64`, never panics on
//! any input, and never assigns client order ids, checks risk, journals or
//! sends: the engine does all of that with the [`ChildOrder`]s it is handed,
//! and reports back with [`AlgoRunner::on_fill`] and
//! [`AlgoRunner::on_child_closed`].
//!
//! # The contract
//!
//! ```text
//! AlgoRunner::start(parent, &filters, arrival_mid, now, seed) -> Result<AlgoRunner, AlgoError>
//! runner.on_tick(now, Touch { bid, ask }, &mut ChildBuf)   // market data or a timer
//! runner.on_fill(ChildId, qty, price, now)                 // a child (partial) fill
//! runner.on_child_closed(ChildId, ChildEnd, now)           // expired / cancelled / rejected
//! runner.cancel(&mut ChildBuf)                             // the caller gives up
//! runner.state() -> AlgoState                              // Working → Done | Aborted(reason)
//! ```
//!
//! * **One child at a time**, for every algo. A new child is sized from
//!   `parent.qty − filled`, so `filled + open child qty ≤ parent qty` holds
//!   at every step: the algo can never over-fill the parent, even with late
//!   fills after a cancel. When every child fills in full, the child
//!   quantities sum to exactly the parent quantity. A child whose unfilled
//!   remainder is closed (IOC expiry, external cancel, reject) hands that
//!   remainder back to later children.
//! * **Filters**: every child qty is rounded *down* onto the step grid
//!   ([`Filters::floor_qty`]) and capped at `max_qty`; a child below
//!   `min_qty` or `min_notional` is not sent. When what is left of the parent
//!   can no longer form a valid child, the runner ends [`AlgoState::Done`]
//!   and reports that remainder as [`AlgoRunner::residual`].
//! * **Price impact**: on each tick, the adverse move of the mid from the
//!   arrival mid (buy: mid up, sell: mid down), in basis points of the
//!   arrival mid, is compared with `max_impact_bps`; strictly beyond it the
//!   runner becomes `Aborted(PriceImpact)` and emits a cancel for the
//!   outstanding child. Exactly at the bound it keeps working.
//! * **Rejects**: [`MAX_CONSECUTIVE_REJECTS`] rejected children in a row
//!   (or the one child of a market algo) end the runner `Aborted(Rejected)`.
//! * **State** only moves forward: `Working → Done` or
//!   `Working → Aborted(_)`. Fills for the open child still count after the
//!   end (a cancel can race a fill).
//!
//! # The algorithms
//!
//! | kind | children | price | time in force |
//! |------|----------|-------|---------------|
//! | [`AlgoKind::Market`] | one, the whole qty | `Market` at the far touch (informational), or a limit at `limit_price` if set | IOC |
//! | [`AlgoKind::Limit`] | one resting child for the remainder, re-posted on the next tick after an expiry, external cancel or reject | `limit_price` | GTC |
//! | [`AlgoKind::Iceberg`] | slices of `display_qty × (1 ± variance_bps)`, the next one a random `min_delay ..= max_delay` after the previous closed | `limit_price` | GTC |
//! | [`AlgoKind::Twap`] | at the start of slice `k` of `slices` equal periods, up to a cumulative `qty × (k+1)/slices` | far touch, capped at `limit_price` | IOC |
//! | [`AlgoKind::Vwap`] | at the start of bucket `b` of the profile's equal buckets, up to a cumulative `qty × W(0..=b)/W` | far touch, capped at `limit_price` | IOC |
//!
//! TWAP/VWAP slices are **IOC limits at the far touch** (buy at the ask, sell
//! at the bid), never above (buy) / below (sell) `limit_price`: they take
//! what is there now and any unfilled part is caught up by the next slice,
//! because targets are cumulative. A slice is skipped while the touch is
//! beyond the limit. After the last slice, the remaining qty is retried once
//! per slice period until filled, cancelled or aborted. A TWAP/VWAP slice
//! whose leftover could never form a valid child (below `min_qty` or
//! `min_notional`) takes that leftover with it, running ahead of the
//! schedule by less than one minimum order; an iceberg never does (it would
//! show more than its slice), so its last sub-minimum remainder becomes the
//! residual.
//!
//! # Refinements of the BRIEF5 contract
//!
//! * `start` also takes the instrument's [`Filters`]; `on_tick` takes the
//!   [`Touch`] (bid and ask: the far touch prices IOC slices, the mid is
//!   `(bid + ask) / 2`) instead of a bare mid.
//! * `on_fill` and `on_child_closed` take the [`ChildId`] (stale or unknown
//!   reports are ignored and counted) and `now` (the iceberg's delay runs
//!   from the moment a slice is gone).
//! * Iceberg delays are `min_delay_ns ..= max_delay_ns` here and
//!   `min_delay_ms`/`max_delay_ms` in [`AlgoConfig`]; TWAP/VWAP durations
//!   likewise.
//!
//! ```
//! use talon_core::clock::Nanos;
//! use talon_core::engine::algo::*;
//! use talon_core::event::{Side, TimeInForce};
//! use talon_core::instrument::{Filters, InstrumentId};
//! use talon_core::num::{Price, Qty};
//!
//! let parent = ParentOrder {
//!     instrument: InstrumentId(0),
//!     side: Side::Buy,
//!     qty: Qty::parse("1")?,
//!     limit_price: None,
//!     kind: AlgoKind::Twap { duration_ns: 4_000, slices: 4 },
//!     max_impact_bps: 50,
//! };
//! let filters = Filters { step_size: Qty::parse("0.001")?, ..Filters::default() };
//! let touch = Touch { bid: Price::parse("99.99")?, ask: Price::parse("100.01")? };
//! let mut algo = AlgoRunner::start(parent, &filters, touch.mid(), Nanos(0), 7)?;
//! let mut out = ChildBuf::new();
//!
//! algo.on_tick(Nanos(0), touch, &mut out);
//! let ChildIntent::Place(child) = out.as_slice()[0] else { unreachable!() };
//! assert_eq!((child.qty, child.tif), (Qty::parse("0.25")?, TimeInForce::Ioc));
//! algo.on_fill(child.id, child.qty, child.price, Nanos(0));
//! assert_eq!(algo.filled(), Qty::parse("0.25")?);
//!
//! // The mid runs 60 bps against the buyer: abort.
//! out.clear();
//! let up = Touch { bid: Price::parse("100.59")?, ask: Price::parse("100.61")? };
//! algo.on_tick(Nanos(1_000), up, &mut out);
//! assert_eq!(algo.state(), AlgoState::Aborted(AbortReason::PriceImpact));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Filters::floor_qty`]: crate::instrument::Filters::floor_qty
//! [`Filters`]: crate::instrument::Filters

mod config;
mod rng;
mod runner;
#[cfg(test)]
mod tests;

pub use config::{
    AlgoConfig, AlgoConfigError, AlgoKindConfig, IcebergConfig, TwapConfig, VwapConfig,
};
pub use rng::SplitMix64;
pub use runner::AlgoRunner;

use crate::event::{OrderType, Side, TimeInForce};
use crate::instrument::InstrumentId;
use crate::num::{Price, Qty};

/// Most buckets a VWAP volume profile may have (e.g. 48 half-hours).
pub const MAX_PROFILE_BUCKETS: usize = 48;

/// How many children a [`ChildBuf`] holds. One tick emits at most one.
pub const CHILD_BUF_CAPACITY: usize = 4;

/// Rejected children in a row after which a runner aborts.
pub const MAX_CONSECUTIVE_REJECTS: u32 = 3;

/// Most slices a TWAP may have.
pub const MAX_TWAP_SLICES: u32 = 100_000;

/// A VWAP volume profile: up to [`MAX_PROFILE_BUCKETS`] relative weights,
/// one per equal time bucket. A fixed array, so a runner holds it inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Profile {
    weights: [u32; MAX_PROFILE_BUCKETS],
    len: u8,
}

impl Profile {
    /// A profile of `weights` (1 ..= [`MAX_PROFILE_BUCKETS`] of them, not
    /// all zero); the error says which rule failed.
    pub fn new(weights: &[u32]) -> Result<Profile, AlgoError> {
        if weights.is_empty() {
            return Err(AlgoError::invalid("kind.vwap.profile", "must not be empty"));
        }
        if weights.len() > MAX_PROFILE_BUCKETS {
            return Err(AlgoError::invalid(
                "kind.vwap.profile",
                "has more than 48 buckets",
            ));
        }
        if weights.iter().all(|&w| w == 0) {
            return Err(AlgoError::invalid(
                "kind.vwap.profile",
                "must have a positive weight",
            ));
        }
        let mut p = Profile {
            weights: [0; MAX_PROFILE_BUCKETS],
            len: 0,
        };
        for (slot, &w) in p.weights.iter_mut().zip(weights) {
            *slot = w;
        }
        // weights.len() ≤ 48 was checked above.
        p.len = u8::try_from(weights.len()).unwrap_or(0);
        Ok(p)
    }

    /// The weights, one per bucket.
    pub fn weights(&self) -> &[u32] {
        self.weights.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

/// Which algorithm works the parent, with its parameters. Times are
/// nanoseconds of the passed-in clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlgoKind {
    /// One IOC child for the whole quantity.
    Market,
    /// One resting GTC child at `limit_price` (required).
    Limit,
    /// Resting GTC slices at `limit_price` (required) showing about
    /// `display_qty` at a time.
    Iceberg {
        /// The mean slice size, > 0.
        display_qty: Qty,
        /// Slice size spread in basis points of `display_qty`
        /// (2000 = ±20 %), ≤ 5000.
        variance_bps: u32,
        /// Shortest wait after a slice closes before the next one.
        min_delay_ns: u64,
        /// Longest such wait, ≥ `min_delay_ns`.
        max_delay_ns: u64,
    },
    /// `slices` IOC slices evenly over `duration_ns`.
    Twap {
        /// Total schedule length, ≥ `slices`.
        duration_ns: u64,
        /// Number of slices, 1 ..= [`MAX_TWAP_SLICES`].
        slices: u32,
    },
    /// One IOC slice per profile bucket over `duration_ns`, sized by the
    /// bucket's weight.
    Vwap {
        /// Total schedule length, ≥ the number of buckets.
        duration_ns: u64,
        /// Relative volume per equal bucket.
        profile: Profile,
    },
}

impl AlgoKind {
    /// A stable lower-case name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            AlgoKind::Market => "market",
            AlgoKind::Limit => "limit",
            AlgoKind::Iceberg { .. } => "iceberg",
            AlgoKind::Twap { .. } => "twap",
            AlgoKind::Vwap { .. } => "vwap",
        }
    }
}

/// A parent order: what to buy or sell, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParentOrder {
    /// The instrument every child trades.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Total quantity, > 0.
    pub qty: Qty,
    /// Worst price any child may trade at; required for `Limit` and
    /// `Iceberg`, a cap for the others.
    pub limit_price: Option<Price>,
    /// The algorithm.
    pub kind: AlgoKind,
    /// Abort when the mid has moved more than this many basis points of the
    /// arrival mid against the parent. 1 ..= 10 000.
    pub max_impact_bps: u32,
}

impl ParentOrder {
    /// Checks every parameter that needs no instrument or market data; the
    /// error names the config key. [`AlgoRunner::start`] runs this first.
    pub fn validate(&self) -> Result<(), AlgoError> {
        let invalid = |key, reason| Err(AlgoError::invalid(key, reason));
        if !self.qty.is_positive() {
            return invalid("qty", "must be positive");
        }
        if self.max_impact_bps == 0 || self.max_impact_bps > 10_000 {
            return invalid("max_impact_bps", "must be 1 ..= 10000");
        }
        match self.limit_price {
            Some(limit) if !limit.is_positive() => {
                return invalid("limit_price", "must be positive");
            }
            None if matches!(self.kind, AlgoKind::Limit | AlgoKind::Iceberg { .. }) => {
                return invalid("limit_price", "is required for limit and iceberg");
            }
            _ => {}
        }
        match self.kind {
            AlgoKind::Market | AlgoKind::Limit => Ok(()),
            AlgoKind::Iceberg {
                display_qty,
                variance_bps,
                min_delay_ns,
                max_delay_ns,
            } => {
                if !display_qty.is_positive() {
                    return invalid("kind.iceberg.display_qty", "must be positive");
                }
                if variance_bps > 5_000 {
                    return invalid("kind.iceberg.variance_bps", "must be at most 5000 (±50 %)");
                }
                if max_delay_ns < min_delay_ns {
                    return invalid("kind.iceberg.max_delay_ms", "must be at least min_delay_ms");
                }
                Ok(())
            }
            AlgoKind::Twap {
                duration_ns,
                slices,
            } => {
                if slices == 0 || slices > MAX_TWAP_SLICES {
                    return invalid("kind.twap.slices", "must be 1 ..= 100000");
                }
                if duration_ns < u64::from(slices) {
                    return invalid("kind.twap.duration_ms", "must be at least 1 ns per slice");
                }
                Ok(())
            }
            AlgoKind::Vwap {
                duration_ns,
                profile,
            } => {
                let weights = profile.weights();
                if weights.iter().all(|&w| w == 0) {
                    return invalid("kind.vwap.profile", "must have a positive weight");
                }
                if duration_ns < weights.len() as u64 {
                    return invalid("kind.vwap.duration_ms", "must be at least 1 ns per bucket");
                }
                Ok(())
            }
        }
    }
}

/// The best bid and ask the runner sees on a tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Touch {
    /// Best bid.
    pub bid: Price,
    /// Best ask.
    pub ask: Price,
}

impl Touch {
    /// `(bid + ask) / 2`, rounded down to the raw unit (exact in `i128`).
    pub fn mid(&self) -> Price {
        let sum = i128::from(self.bid.raw()) + i128::from(self.ask.raw());
        // The mean of two i64 lies between them: fits i64.
        Price::from_raw(i64::try_from(sum.div_euclid(2)).unwrap_or(0))
    }

    /// Both sides positive and not crossed.
    pub fn is_valid(&self) -> bool {
        self.bid.is_positive() && self.ask.is_positive() && self.bid <= self.ask
    }
}

/// A child's number within its parent, from 1. The engine maps it to the
/// client order id it assigns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChildId(pub u32);

/// A new child order for the engine to risk-check and send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildOrder {
    /// The child's number, quoted back in fills and closes.
    pub id: ChildId,
    /// The parent's instrument.
    pub instrument: InstrumentId,
    /// The parent's side.
    pub side: Side,
    /// `Market` (market algo without a limit) or `Limit`.
    pub order_type: OrderType,
    /// `Ioc` or `Gtc` (see the module table).
    pub tif: TimeInForce,
    /// The limit price; for `Market`, the far touch it was sized against.
    pub price: Price,
    /// On the step grid, within `[min_qty, max_qty]`, notional ≥ min.
    pub qty: Qty,
}

/// What the runner asks the engine to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChildIntent {
    /// Send a new child.
    Place(ChildOrder),
    /// Cancel an outstanding child (on abort or [`AlgoRunner::cancel`]).
    Cancel {
        /// The parent's instrument.
        instrument: InstrumentId,
        /// The child to cancel.
        id: ChildId,
    },
}

/// Filler for unused [`ChildBuf`] slots; never visible through its API.
const EMPTY_INTENT: ChildIntent = ChildIntent::Cancel {
    instrument: InstrumentId(0),
    id: ChildId(0),
};

/// A fixed-capacity buffer of child intents, filled by the runner and
/// drained by the engine. Never allocates; a push into a full buffer is
/// refused (the runner then retries on the next tick) and counted.
#[derive(Clone, Copy, Debug)]
pub struct ChildBuf {
    items: [ChildIntent; CHILD_BUF_CAPACITY],
    len: usize,
    refused: u64,
}

impl Default for ChildBuf {
    fn default() -> Self {
        ChildBuf::new()
    }
}

impl ChildBuf {
    /// An empty buffer.
    pub const fn new() -> ChildBuf {
        ChildBuf {
            items: [EMPTY_INTENT; CHILD_BUF_CAPACITY],
            len: 0,
            refused: 0,
        }
    }

    /// Appends `intent`, or hands it back (and counts it) when full.
    pub fn push(&mut self, intent: ChildIntent) -> Result<(), ChildIntent> {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = intent;
                self.len += 1;
                Ok(())
            }
            None => {
                self.refused = self.refused.saturating_add(1);
                Err(intent)
            }
        }
    }

    /// Number of intents held.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// No intents held.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Intents refused because the buffer was full, since creation.
    pub const fn refused(&self) -> u64 {
        self.refused
    }

    /// Empties the buffer (the refused count is kept).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The intents in push order.
    pub fn as_slice(&self) -> &[ChildIntent] {
        self.items.get(..self.len).unwrap_or(&[])
    }

    /// The intents in push order.
    pub fn iter(&self) -> impl Iterator<Item = &ChildIntent> {
        self.as_slice().iter()
    }
}

/// How a child ended without filling in full (a full fill closes it by
/// itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ChildEnd {
    /// IOC remainder expired, or the venue expired the order.
    Expired = 1,
    /// Cancelled (by the runner's request or externally).
    Cancelled = 2,
    /// Rejected by risk, the gateway or the venue.
    Rejected = 3,
}

/// Why a runner stopped before its parent was worked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AbortReason {
    /// The mid moved beyond `max_impact_bps` against the parent.
    PriceImpact = 1,
    /// [`AlgoRunner::cancel`] was called.
    Cancelled = 2,
    /// Too many children rejected in a row.
    Rejected = 3,
}

impl AbortReason {
    /// A stable lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            AbortReason::PriceImpact => "price_impact",
            AbortReason::Cancelled => "cancelled",
            AbortReason::Rejected => "rejected",
        }
    }
}

/// Where a runner is. Moves only `Working → Done` or `Working → Aborted`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AlgoState {
    /// Sending children.
    #[default]
    Working,
    /// Nothing more will be sent: filled, or the remainder cannot form a
    /// valid child (see [`AlgoRunner::residual`]), or a market child closed.
    Done,
    /// Stopped early.
    Aborted(AbortReason),
}

impl AlgoState {
    /// `Done` or `Aborted`.
    pub const fn is_terminal(self) -> bool {
        !matches!(self, AlgoState::Working)
    }
}

/// Why a parent cannot start. `Copy`, no heap; `key` is spelled as in
/// [`AlgoConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AlgoError {
    /// A parameter is unusable.
    #[error("algo `{key}` {reason}")]
    Invalid {
        /// The config key.
        key: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The arrival mid is not a positive price.
    #[error("algo arrival mid must be positive")]
    BadArrivalMid,
    /// The whole parent quantity cannot form even one valid child under the
    /// instrument's filters (below `min_qty` or `min_notional`).
    #[error("algo parent quantity is below the instrument's minimum")]
    BelowMinimum,
}

impl AlgoError {
    const fn invalid(key: &'static str, reason: &'static str) -> AlgoError {
        AlgoError::Invalid { key, reason }
    }
}
