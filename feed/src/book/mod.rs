//! Local order books kept correct by the venue's snapshot + diff procedure.
//!
//! Owns [`OrderBook`] (one instrument's L2 ladder: fixed capacity per side,
//! sorted arrays, best first) and [`BookSync`] (binance-protocol.md §1,
//! "Keeping a local book correct": buffer diffs, fetch a snapshot, drop
//! stale diffs, bridge, then strict update-id continuity, with a counted
//! resync on any gap), plus what they report: [`SyncAction`] (what the feed
//! must do next), [`BookHealth`] (synced / crossed / stale, which the engine
//! uses to refuse trading) and [`SyncCounters`].
//!
//! The feed agent owns one [`BookSync`] per instrument on its own thread and
//! drives it with decoded diffs and REST snapshots; this module decides,
//! the feed acts.
//!
//! What it never does: allocate after construction (every array, including
//! the pre-snapshot diff buffer's level arena, is sized in `new`), perform
//! I/O (it asks for a snapshot through [`SyncAction::FetchSnapshot`]),
//! block, or panic on any input. It never leaves a book that claims to be
//! synced after a gap, an invalid level or a refused snapshot: each of
//! those throws the book away and is counted.

mod order_book;
mod sync;

pub use order_book::{BookError, LevelChange, OrderBook};
pub use sync::{
    BookHealth, BookSync, BufferCapacity, ResyncReason, SyncAction, SyncCounters, SyncState,
};

#[cfg(test)]
mod tests;
