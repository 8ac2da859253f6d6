//! Why a venue message was not decoded, and the per-reason counts the feed
//! keeps of them.
//!
//! Owns [`DecodeError`] (a `Copy`, `#[repr(u8)]` reason with a stable name)
//! and [`DecodeCounters`] (plain `u64`s owned by the thread that decodes).
//! Nothing here allocates or formats on the hot path.

/// Why a message could not be decoded. Small and `Copy`: the feed counts it
/// and skips the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
#[repr(u8)]
pub enum DecodeError {
    /// The input is empty or only whitespace.
    #[error("empty message")]
    Empty = 0,
    /// Not valid JSON: a syntax error, a truncated message, a bad escape, a
    /// raw control byte in a string, a number outside the JSON grammar.
    #[error("malformed JSON")]
    Malformed = 1,
    /// Bytes other than whitespace after the top-level value.
    #[error("trailing data after the message")]
    TrailingData = 2,
    /// The top-level value (or the `data` of a combined-stream wrapper) is
    /// not an object.
    #[error("message is not a JSON object")]
    NotAnObject = 3,
    /// Containers nested deeper than the scanner's limit (100 inside a skipped field, below serde_json's 128 for the whole message).
    #[error("nesting too deep")]
    TooDeep = 4,
    /// A string holds bytes that are not UTF-8.
    #[error("invalid UTF-8 in a string")]
    InvalidUtf8 = 5,
    /// A backslash escape in a string the decoder returns or parses as is
    /// (a symbol, stream name, event type, price or quantity): these are
    /// plain ASCII on the venue, and decoding escapes would need a copy.
    #[error("escape sequence in a symbol, stream, event type or number string")]
    EscapedString = 6,
    /// A field the decoder reads appears twice in one object.
    #[error("duplicate field")]
    DuplicateKey = 7,
    /// A field the message kind requires is missing.
    #[error("required field missing")]
    MissingField = 8,
    /// A field has the wrong JSON type (e.g. a number where the venue sends a
    /// string decimal, a float where it sends an integer id).
    #[error("field has the wrong type")]
    WrongType = 9,
    /// An integer id or time does not fit its type (`u64`, or `i64` for a
    /// control reply id / error code).
    #[error("integer out of range")]
    NumberOverflow = 10,
    /// A price or quantity string is not a decimal Talon accepts (empty,
    /// signed, a stray character, missing digits, out of range).
    #[error("invalid decimal")]
    BadDecimal = 11,
    /// A price or quantity has a non-zero digit past the 8th decimal.
    #[error("more than 8 decimals")]
    TooManyDecimals = 12,
    /// A depth level is not a `["price","qty"]` pair of strings.
    #[error("invalid depth level")]
    BadLevel = 13,
    /// An event type (`e`) the decoder does not handle (e.g. `kline`).
    #[error("unknown event type")]
    UnknownEvent = 14,
    /// An object of no shape the decoder recognises.
    #[error("unknown message")]
    UnknownMessage = 15,
    /// The input is larger than 4 GiB (spans are 32-bit).
    #[error("message too large")]
    TooLarge = 16,
}

impl DecodeError {
    /// Every reason, in discriminant order (`ALL[i] as usize == i`).
    pub const ALL: &'static [DecodeError] = &[
        DecodeError::Empty,
        DecodeError::Malformed,
        DecodeError::TrailingData,
        DecodeError::NotAnObject,
        DecodeError::TooDeep,
        DecodeError::InvalidUtf8,
        DecodeError::EscapedString,
        DecodeError::DuplicateKey,
        DecodeError::MissingField,
        DecodeError::WrongType,
        DecodeError::NumberOverflow,
        DecodeError::BadDecimal,
        DecodeError::TooManyDecimals,
        DecodeError::BadLevel,
        DecodeError::UnknownEvent,
        DecodeError::UnknownMessage,
        DecodeError::TooLarge,
    ];

    /// How many reasons there are.
    pub const COUNT: usize = DecodeError::ALL.len();

    /// A stable snake_case name (for counters, logs and `talon decode`).
    pub const fn as_str(self) -> &'static str {
        match self {
            DecodeError::Empty => "empty",
            DecodeError::Malformed => "malformed",
            DecodeError::TrailingData => "trailing_data",
            DecodeError::NotAnObject => "not_an_object",
            DecodeError::TooDeep => "too_deep",
            DecodeError::InvalidUtf8 => "invalid_utf8",
            DecodeError::EscapedString => "escaped_string",
            DecodeError::DuplicateKey => "duplicate_key",
            DecodeError::MissingField => "missing_field",
            DecodeError::WrongType => "wrong_type",
            DecodeError::NumberOverflow => "number_overflow",
            DecodeError::BadDecimal => "bad_decimal",
            DecodeError::TooManyDecimals => "too_many_decimals",
            DecodeError::BadLevel => "bad_level",
            DecodeError::UnknownEvent => "unknown_event",
            DecodeError::UnknownMessage => "unknown_message",
            DecodeError::TooLarge => "too_large",
        }
    }

    /// The counter slot of this reason.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The reason with this discriminant.
    pub const fn from_u8(v: u8) -> Option<DecodeError> {
        if (v as usize) < DecodeError::COUNT {
            Some(DecodeError::ALL[v as usize])
        } else {
            None
        }
    }

    /// Maps a number-parse failure of a price or quantity.
    pub(super) const fn from_num(e: talon_core::num::NumError) -> DecodeError {
        match e {
            talon_core::num::NumError::TooManyDecimals => DecodeError::TooManyDecimals,
            _ => DecodeError::BadDecimal,
        }
    }
}

/// Per-reason counts of rejected messages. Plain `u64`s: owned and written by
/// the one thread that decodes (the feed agent), copied out for reporting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeCounters {
    counts: [u64; DecodeError::COUNT],
}

impl DecodeCounters {
    /// All zero.
    pub const fn new() -> Self {
        Self {
            counts: [0; DecodeError::COUNT],
        }
    }

    /// Counts one message rejected for `reason` (saturating).
    #[inline]
    pub fn record(&mut self, reason: DecodeError) {
        if let Some(c) = self.counts.get_mut(reason.index()) {
            *c = c.saturating_add(1);
        }
    }

    /// Messages rejected for `reason`.
    #[inline]
    pub fn get(&self, reason: DecodeError) -> u64 {
        self.counts.get(reason.index()).copied().unwrap_or(0)
    }

    /// Messages rejected for any reason.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.saturating_add(c))
    }

    /// `(reason, count)` for every reason, in [`DecodeError::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (DecodeError, u64)> + '_ {
        DecodeError::ALL.iter().map(|&r| (r, self.get(r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_discriminant_order_with_unique_names() {
        for (i, r) in DecodeError::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(DecodeError::from_u8(i as u8), Some(*r));
        }
        assert_eq!(DecodeError::from_u8(DecodeError::COUNT as u8), None);
        let mut names: Vec<_> = DecodeError::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DecodeError::COUNT);
    }

    #[test]
    fn counters_count_per_reason() {
        let mut c = DecodeCounters::new();
        c.record(DecodeError::Malformed);
        c.record(DecodeError::Malformed);
        c.record(DecodeError::UnknownEvent);
        assert_eq!(c.get(DecodeError::Malformed), 2);
        assert_eq!(c.get(DecodeError::UnknownEvent), 1);
        assert_eq!(c.get(DecodeError::Empty), 0);
        assert_eq!(c.total(), 3);
        assert_eq!(c.iter().filter(|&(_, n)| n > 0).count(), 2);
    }
}
