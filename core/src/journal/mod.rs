//! (being written)
mod kind;
pub use kind::RecordKind;
