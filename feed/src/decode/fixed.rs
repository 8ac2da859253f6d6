//! The fast path for the venue's decimal strings, in front of
//! `talon_core::num::{Price, Qty}::parse_bytes`.
//!
//! Owns [`price`] and [`qty`]. Binance sends every price and quantity as
//! 1–11 integer digits, a `.` and 8 fraction digits (`"0.35210000"`). For
//! strings of the shape `digits{1,10} [ "." digits{1,8} ]` this computes the
//! raw fixed-point value in `u64` arithmetic (the 8-digit fraction with one
//! SWAR conversion); the result is below 10^18 < `i64::MAX`, so no range
//! check can fail. Every other string (longer integer part, more than 8
//! fraction digits, a sign, a stray byte, empty) goes to `parse_bytes`,
//! which decides and reports exactly as before. The property test below
//! checks the fast path against `parse_bytes` on arbitrary strings. Never
//! allocates, never panics, never uses a float.

use talon_core::num::{Price, Qty};

use super::error::DecodeError;

/// `10^(8 - n)` for `n` fraction digits.
const POW10_FILL: [u64; 9] = [
    100_000_000,
    10_000_000,
    1_000_000,
    100_000,
    10_000,
    1_000,
    100,
    10,
    1,
];

/// Eight ASCII digits (little-endian word, first digit in the low byte) to
/// their value, or `None` if any byte is not `0`–`9`.
#[inline]
pub(super) fn eight_digits(w: u64) -> Option<u64> {
    // Each byte 0x30..=0x39: high nibble 3, and adding 6 does not carry
    // out of the low nibble.
    let hi = w & 0xF0F0_F0F0_F0F0_F0F0;
    let carry = w.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0;
    if (hi | (carry >> 4)) != 0x3333_3333_3333_3333 {
        return None;
    }
    let v = w & 0x0F0F_0F0F_0F0F_0F0F;
    let v = (v.wrapping_mul(2561)) >> 8;
    let v = ((v & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601)) >> 16;
    Some(((v & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001)) >> 32)
}

/// Raw value (× 10^8) of `digits{1,10} [ "." digits{1,8} ]`, else `None`.
#[inline]
fn fast_raw(s: &[u8]) -> Option<i64> {
    let mut int: u64 = 0;
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'0'..=b'9' => int = int * 10 + u64::from(b - b'0'),
            b'.' => break,
            _ => return None,
        }
        i += 1;
        if i > 10 {
            return None;
        }
    }
    if i == 0 {
        return None;
    }
    let frac = match s.get(i + 1..) {
        None => 0, // no '.'
        Some(f) if f.len() == 8 => {
            let w: [u8; 8] = f.try_into().ok()?;
            eight_digits(u64::from_le_bytes(w))?
        }
        Some(f) if !f.is_empty() && f.len() < 8 => {
            let mut v: u64 = 0;
            for &b in f {
                if !b.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + u64::from(b - b'0');
            }
            v * POW10_FILL.get(f.len()).copied()?
        }
        Some(_) => return None,
    };
    // int < 10^10 and frac < 10^8: the sum is < 10^18 < i64::MAX.
    i64::try_from(int * 100_000_000 + frac).ok()
}

/// A price string: the fast path, else `Price::parse_bytes`.
#[inline]
pub(super) fn price(s: &[u8]) -> Result<Price, DecodeError> {
    match fast_raw(s) {
        Some(raw) => Ok(Price::from_raw(raw)),
        None => Price::parse_bytes(s).map_err(DecodeError::from_num),
    }
}

/// A quantity string: the fast path, else `Qty::parse_bytes`.
#[inline]
pub(super) fn qty(s: &[u8]) -> Result<Qty, DecodeError> {
    match fast_raw(s) {
        Some(raw) => Ok(Qty::from_raw(raw)),
        None => Qty::parse_bytes(s).map_err(DecodeError::from_num),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fast_path_matches_parse_bytes_on_edges() {
        for s in [
            "0",
            "0.0",
            "0.00000000",
            "0.00000001",
            "0.35210000",
            "3199.00000000",
            "9999999999.99999999",
            "0000000001.5",
            "1.1",
            "12.1234567",
            "83034.29000000",
            "1.",
            ".5",
            "",
            "-1",
            "+1",
            "1e5",
            "1.000000001",
            "1.100000000",
            "92233720368.54775807",
            "92233720368.54775808",
            "1..2",
            "1.2.3",
            "12345678901",
            "1.0000000a",
            "1/000000",
            ":.00000000",
            "1.:0000000",
        ] {
            let b = s.as_bytes();
            assert_eq!(
                price(b),
                Price::parse_bytes(b).map_err(DecodeError::from_num),
                "{s:?}"
            );
            assert_eq!(
                qty(b),
                Qty::parse_bytes(b).map_err(DecodeError::from_num),
                "{s:?}"
            );
        }
        // The venue's shape takes the fast path.
        assert_eq!(fast_raw(b"0.35210000"), Some(35_210_000));
        assert_eq!(fast_raw(b"83034.29000000"), Some(8_303_429_000_000));
        assert_eq!(fast_raw(b"12345678901.00000000"), None);
    }

    proptest! {
        #[test]
        fn fast_path_equals_parse_bytes(s in "[0-9]{0,12}(\\.[0-9]{0,10})?|[0-9./:+eE-]{0,20}") {
            let b = s.as_bytes();
            prop_assert_eq!(price(b), Price::parse_bytes(b).map_err(DecodeError::from_num));
            if let Some(raw) = fast_raw(b) {
                prop_assert_eq!(Ok(raw), Price::parse_bytes(b).map(Price::raw));
            }
        }

        #[test]
        fn every_venue_shaped_value_takes_the_fast_path(raw in 0i64..1_000_000_000_000_000_000) {
            let text = Price::from_raw(raw).fixed().to_string();
            prop_assert_eq!(fast_raw(text.as_bytes()), Some(raw));
        }
    }
}
