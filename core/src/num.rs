//! Fixed-point money: [`Price`], [`Qty`] and [`Notional`].
//!
//! This module owns Talon's number types and their exact conversions to and
//! from decimal text and `rust_decimal::Decimal`. It never uses a float, never
//! allocates (parsing and formatting work on the stack), and never panics on
//! any input: every failure is a small `Copy` [`NumError`].
//!
//! # Representation
//!
//! | type         | storage | value                | range                                   |
//! |--------------|---------|----------------------|-----------------------------------------|
//! | [`Price`]    | `i64`   | `raw / 10^8`         | `i64::MIN..=i64::MAX` raw (±92 233 720 368.54775807) |
//! | [`Qty`]      | `i64`   | `raw / 10^8`         | same as `Price`                         |
//! | [`Notional`] | `i128`  | `raw / 10^8`         | `±(2^96 − 1)` raw (±792 281 625 142 643 375 935.43950335) |
//!
//! [`SCALE`] = 10^[`DECIMALS`] covers Binance's 8 decimals. `Notional` is
//! bounded by the 96-bit mantissa of `Decimal`, so every `Notional` converts to
//! a `Decimal` exactly, and the product of any two in-range prices and
//! quantities that would leave that range is reported (`None`), not wrapped.
//!
//! `Price` and `Qty` are signed: arithmetic may produce a negative difference
//! (a price offset, a quantity delta) and it prints with a leading `-`.
//! Venue text never carries a sign, so their parsers reject one.
//!
//! # Text grammar (`parse`, `parse_bytes`, serde)
//!
//! ```text
//! price/qty := digits [ "." digits ]
//! notional  := [ "-" | "+" ] digits [ "." digits ]
//! digits    := [0-9]+
//! ```
//!
//! * At least one digit on each side of a `.`: `".5"`, `"1."` and `"."` are
//!   [`NumError::MissingDigits`]. Leading zeros are accepted (`"007.5"`).
//! * At most 8 significant fraction digits. Digits past the 8th are accepted
//!   only if they are all `0` (the value is still exact: `"0.1000000000"`
//!   parses); a non-zero digit past the 8th is [`NumError::TooManyDecimals`].
//! * `Price`/`Qty` reject `-` and `+` ([`NumError::SignNotAllowed`]);
//!   `Notional` accepts either (it holds PnL).
//! * No whitespace, exponent, `_` or thousands separator
//!   ([`NumError::InvalidChar`] with the byte offset).
//!
//! # Canonical text (`Display`)
//!
//! `Display` prints the shortest exact form: trailing fraction zeros and a
//! bare `.` are trimmed, the integer part has no leading zeros, zero is `"0"`
//! and never `"-0"` (`"0.00100000"` prints as `"0.001"`, `"5.0"` as `"5"`).
//! [`Price::fixed`] (and the same on `Qty`/`Notional`) prints exactly 8
//! fraction digits, Binance's wire form (`"0.00100000"`). Both honour width and
//! alignment (`{:>12}`). Serde writes the canonical form.
//!
//! Properties (proptests below): for every string `s` in the grammar,
//! `parse(s).to_string() == canonical(s)`; for every raw value `x ≥ 0`,
//! `parse(x.to_string()) == x` and `parse(x.fixed().to_string()) == x`;
//! `Decimal` conversions round-trip every raw value.
//!
//! # Arithmetic
//!
//! `checked_add` / `checked_sub` return `None` on overflow (for `Notional`:
//! on leaving `±(2^96 − 1)`). [`Price::checked_notional`] is
//! `raw_price × raw_qty / 10^8` computed exactly in `i128` and **truncated
//! toward zero** to 8 decimals: a notional is never overstated, so a
//! min-notional check on it is conservative.

use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};

/// Fraction digits of every fixed-point type.
pub const DECIMALS: u32 = 8;
/// Raw units per whole unit: `10^DECIMALS`.
pub const SCALE: i64 = 100_000_000;

/// `SCALE` as `u128`, for magnitude maths.
const SCALE_U128: u128 = SCALE as u128;
/// Largest `Notional` magnitude: the 96-bit mantissa of `Decimal`.
const NOTIONAL_MAX_RAW: i128 = (1i128 << 96) - 1;
/// Largest `Price`/`Qty` magnitude accepted by the parsers.
const I64_MAX_MAG: u128 = i64::MAX as u128;
/// Room for the longest formatted value: sign, 29 integer digits, '.', 8 digits.
const FMT_BUF: usize = 48;

/// Why a decimal string or `Decimal` could not become a fixed-point number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum NumError {
    /// The input is empty.
    #[error("empty number")]
    Empty,
    /// A `-` or `+` where the type does not take a sign (`Price`, `Qty`).
    #[error("sign not allowed")]
    SignNotAllowed,
    /// A byte that is not a digit, or a second `.`, or a sign not in front.
    #[error("invalid character at byte {pos}")]
    InvalidChar {
        /// Byte offset of the first offending byte in the input.
        pos: usize,
    },
    /// No digit before or after the `.` (`".5"`, `"1."`, `"."`, `"-"`).
    #[error("missing digits")]
    MissingDigits,
    /// A non-zero digit past the 8th fraction digit.
    #[error("more than 8 decimals")]
    TooManyDecimals,
    /// The value is outside the type's range.
    #[error("number out of range")]
    Overflow,
}

/// Whether a parser accepts a leading sign.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SignPolicy {
    Reject,
    Accept,
}

/// Parses the grammar in the module docs into `(negative, magnitude)`, where
/// magnitude = value × 10^8 and magnitude ≤ `max`. Never allocates.
fn parse_raw(bytes: &[u8], sign: SignPolicy, max: u128) -> Result<(bool, u128), NumError> {
    let Some(&first) = bytes.first() else {
        return Err(NumError::Empty);
    };
    let (negative, start) = match first {
        b'-' | b'+' if sign == SignPolicy::Reject => return Err(NumError::SignNotAllowed),
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let body = bytes.get(start..).unwrap_or_default();

    // Pass 1: structure. Finds the '.', rejects any other non-digit.
    let mut dot: Option<usize> = None;
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'0'..=b'9' => {}
            b'.' if dot.is_none() => dot = Some(i),
            _ => return Err(NumError::InvalidChar { pos: start + i }),
        }
    }
    let (int_digits, frac_digits) = match dot {
        Some(d) => (
            body.get(..d).unwrap_or_default(),
            body.get(d + 1..).unwrap_or_default(),
        ),
        None => (body, &[][..]),
    };
    if int_digits.is_empty() || (dot.is_some() && frac_digits.is_empty()) {
        return Err(NumError::MissingDigits);
    }
    let (significant, excess) = frac_digits.split_at(frac_digits.len().min(DECIMALS as usize));
    if excess.iter().any(|&b| b != b'0') {
        return Err(NumError::TooManyDecimals);
    }

    // Pass 2: value. The integer accumulator is capped at `max` at every step,
    // so it cannot overflow u128 however many digits the input has.
    let int_max = max / SCALE_U128;
    let mut int: u128 = 0;
    for &b in int_digits {
        int = int * 10 + u128::from(b - b'0');
        if int > int_max {
            return Err(NumError::Overflow);
        }
    }
    let mut frac: u128 = 0;
    for &b in significant {
        frac = frac * 10 + u128::from(b - b'0');
    }
    for _ in significant.len()..DECIMALS as usize {
        frac *= 10;
    }
    // int ≤ max / SCALE, so int * SCALE + frac < max + SCALE: no u128 overflow.
    let magnitude = int * SCALE_U128 + frac;
    if magnitude > max {
        return Err(NumError::Overflow);
    }
    Ok((negative, magnitude))
}

/// Writes `magnitude / 10^8` with sign into the tail of `buf` and returns the
/// start index. `trim` removes trailing fraction zeros (and a bare `.`).
fn format_raw(buf: &mut [u8; FMT_BUF], negative: bool, magnitude: u128, trim: bool) -> usize {
    let mut int = magnitude / SCALE_U128;
    let mut frac = magnitude % SCALE_U128;
    let mut frac_len = DECIMALS as usize;
    if trim {
        while frac_len > 0 && frac.is_multiple_of(10) {
            frac /= 10;
            frac_len -= 1;
        }
    }
    let mut pos = FMT_BUF;
    if frac_len > 0 {
        for _ in 0..frac_len {
            pos -= 1;
            buf[pos] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        pos -= 1;
        buf[pos] = b'.';
    }
    loop {
        pos -= 1;
        buf[pos] = b'0' + (int % 10) as u8;
        int /= 10;
        if int == 0 {
            break;
        }
    }
    if negative && magnitude != 0 {
        pos -= 1;
        buf[pos] = b'-';
    }
    pos
}

/// Formats into `f` with padding/alignment honoured. No allocation.
fn fmt_raw(f: &mut fmt::Formatter<'_>, negative: bool, magnitude: u128, trim: bool) -> fmt::Result {
    let mut buf = [0u8; FMT_BUF];
    let start = format_raw(&mut buf, negative, magnitude, trim);
    // The buffer holds only ASCII digits, '.' and '-': always UTF-8.
    let text = std::str::from_utf8(&buf[start..]).map_err(|_| fmt::Error)?;
    f.pad(text)
}

/// Serializes the canonical form as a string without allocating.
fn serialize_raw<S: Serializer>(s: S, negative: bool, magnitude: u128) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; FMT_BUF];
    let start = format_raw(&mut buf, negative, magnitude, true);
    let text = std::str::from_utf8(&buf[start..]).map_err(serde::ser::Error::custom)?;
    s.serialize_str(text)
}

/// `Decimal` → raw at scale 8, exact or an error. Normalises first, so
/// `1.000000000` (9 decimals, all zero) is accepted.
fn decimal_to_raw(d: Decimal) -> Result<i128, NumError> {
    let n = d.normalize();
    let scale = n.scale();
    if scale > DECIMALS {
        return Err(NumError::TooManyDecimals);
    }
    // |mantissa| < 2^96 and the factor ≤ 10^8 < 2^27: the product fits i128.
    n.mantissa()
        .checked_mul(10i128.pow(DECIMALS - scale))
        .ok_or(NumError::Overflow)
}

/// Raw at scale 8 (|raw| < 2^96) → `Decimal`, exact and infallible.
fn raw_to_decimal(raw: i128) -> Decimal {
    let magnitude = raw.unsigned_abs();
    // Callers guarantee |raw| ≤ 2^96 − 1, so the three 32-bit words hold it.
    let lo = magnitude as u32;
    let mid = (magnitude >> 32) as u32;
    let hi = (magnitude >> 64) as u32;
    Decimal::from_parts(lo, mid, hi, raw < 0, DECIMALS)
}

/// A fixed-point value printed with exactly 8 fraction digits (`"0.00100000"`),
/// from [`Price::fixed`], [`Qty::fixed`] or [`Notional::fixed`].
#[derive(Clone, Copy, Debug)]
pub struct Fixed8 {
    negative: bool,
    magnitude: u128,
}

impl fmt::Display for Fixed8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_raw(f, self.negative, self.magnitude, false)
    }
}

/// Defines an `i64` fixed-point newtype (`Price`, `Qty`).
macro_rules! fixed_i64 {
    ($(#[$doc:meta])* $name:ident, $expecting:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Zero.
            pub const ZERO: $name = $name(0);
            /// The largest value (`92233720368.54775807`).
            pub const MAX: $name = $name(i64::MAX);
            /// One whole unit (`1`).
            pub const ONE: $name = $name(SCALE);

            /// The value `raw / 10^8`. Every `i64` is valid.
            #[inline]
            pub const fn from_raw(raw: i64) -> $name {
                $name(raw)
            }

            /// The raw count of 10^-8 units.
            #[inline]
            pub const fn raw(self) -> i64 {
                self.0
            }

            /// Parses venue text exactly (grammar in the module docs; no sign).
            ///
            /// ```
            /// # use talon_core::num::*;
            #[doc = concat!("assert_eq!(", stringify!($name), "::parse(\"0.00100000\")?.raw(), 100_000);")]
            #[doc = concat!("assert_eq!(", stringify!($name), "::parse(\"-1\"), Err(NumError::SignNotAllowed));")]
            /// # Ok::<(), NumError>(())
            /// ```
            #[inline]
            pub fn parse(s: &str) -> Result<$name, NumError> {
                $name::parse_bytes(s.as_bytes())
            }

            /// Parses ASCII bytes exactly, without allocating (for the
            /// zero-allocation JSON decoders).
            #[inline]
            pub fn parse_bytes(bytes: &[u8]) -> Result<$name, NumError> {
                let (_, magnitude) = parse_raw(bytes, SignPolicy::Reject, I64_MAX_MAG)?;
                // magnitude ≤ i64::MAX was checked by parse_raw.
                i64::try_from(magnitude).map($name).map_err(|_| NumError::Overflow)
            }

            /// `self + rhs`, or `None` on overflow.
            #[inline]
            pub const fn checked_add(self, rhs: $name) -> Option<$name> {
                match self.0.checked_add(rhs.0) {
                    Some(v) => Some($name(v)),
                    None => None,
                }
            }

            /// `self - rhs` (may be negative), or `None` on overflow.
            #[inline]
            pub const fn checked_sub(self, rhs: $name) -> Option<$name> {
                match self.0.checked_sub(rhs.0) {
                    Some(v) => Some($name(v)),
                    None => None,
                }
            }

            /// True if the value is zero.
            #[inline]
            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }

            /// True if the value is greater than zero.
            #[inline]
            pub const fn is_positive(self) -> bool {
                self.0 > 0
            }

            /// The exact value as a `Decimal` (scale 8). Never fails.
            #[inline]
            pub fn to_decimal(self) -> Decimal {
                raw_to_decimal(i128::from(self.0))
            }

            /// A `Display` with exactly 8 fraction digits (Binance's wire form).
            #[inline]
            pub const fn fixed(self) -> Fixed8 {
                Fixed8 {
                    negative: self.0 < 0,
                    magnitude: self.0.unsigned_abs() as u128,
                }
            }
        }

        impl fmt::Display for $name {
            /// The canonical (trimmed) form, e.g. `0.001`.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_raw(f, self.0 < 0, self.0.unsigned_abs() as u128, true)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl TryFrom<Decimal> for $name {
            type Error = NumError;

            /// Exact: errors if the normalised value has more than 8
            /// decimals or is out of range. Negative values are accepted.
            fn try_from(d: Decimal) -> Result<$name, NumError> {
                let raw = decimal_to_raw(d)?;
                i64::try_from(raw).map($name).map_err(|_| NumError::Overflow)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize_raw(s, self.0 < 0, self.0.unsigned_abs() as u128)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            /// From a decimal string, with the same grammar as `parse`.
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::parse(v).map_err(E::custom)
                    }
                    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<$name, E> {
                        $name::parse_bytes(v).map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

fixed_i64!(
    /// A price: `i64` count of 10^-8 quote units. Parsed from venue text
    /// without a sign; differences may be negative.
    Price,
    "a decimal price string such as \"27123.45\""
);

fixed_i64!(
    /// A quantity: `i64` count of 10^-8 base units. Parsed from venue text
    /// without a sign; deltas may be negative.
    Qty,
    "a decimal quantity string such as \"0.001\""
);

impl Price {
    /// `self × qty` as a notional: `raw_price × raw_qty / 10^8` computed exactly
    /// in `i128`, truncated toward zero. `None` if the result is outside the
    /// `Notional` range (only for products above ~7.9 × 10^20).
    ///
    /// ```
    /// # use talon_core::num::*;
    /// let n = Price::parse("27000.5")?.checked_notional(Qty::parse("0.002")?);
    /// assert_eq!(n, Some(Notional::parse("54.001")?));
    /// # Ok::<(), NumError>(())
    /// ```
    #[inline]
    pub fn checked_notional(self, qty: Qty) -> Option<Notional> {
        // |i64 × i64| ≤ 2^126 < 2^127: the product itself cannot overflow.
        let product = i128::from(self.0).checked_mul(i128::from(qty.0))?;
        Notional::from_raw(product / i128::from(SCALE))
    }
}

/// A notional, PnL or fee amount: `i128` count of 10^-8 quote units, bounded
/// to `±(2^96 − 1)` raw so that it always converts exactly to `Decimal`.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Notional(i128);

impl Notional {
    /// Zero.
    pub const ZERO: Notional = Notional(0);
    /// The largest value: raw `2^96 − 1`.
    pub const MAX: Notional = Notional(NOTIONAL_MAX_RAW);
    /// The smallest value: raw `−(2^96 − 1)`.
    pub const MIN: Notional = Notional(-NOTIONAL_MAX_RAW);

    /// The value `raw / 10^8`, or `None` if `|raw| > 2^96 − 1`.
    #[inline]
    pub const fn from_raw(raw: i128) -> Option<Notional> {
        if raw > NOTIONAL_MAX_RAW || raw < -NOTIONAL_MAX_RAW {
            None
        } else {
            Some(Notional(raw))
        }
    }

    /// The raw count of 10^-8 units.
    #[inline]
    pub const fn raw(self) -> i128 {
        self.0
    }

    /// Parses text exactly; a leading `-` or `+` is allowed.
    ///
    /// ```
    /// # use talon_core::num::*;
    /// assert_eq!(Notional::parse("-12.5")?.to_string(), "-12.5");
    /// # Ok::<(), NumError>(())
    /// ```
    #[inline]
    pub fn parse(s: &str) -> Result<Notional, NumError> {
        Notional::parse_bytes(s.as_bytes())
    }

    /// Parses ASCII bytes exactly, without allocating.
    #[inline]
    pub fn parse_bytes(bytes: &[u8]) -> Result<Notional, NumError> {
        let (negative, magnitude) = parse_raw(bytes, SignPolicy::Accept, NOTIONAL_MAX_RAW as u128)?;
        let raw = i128::try_from(magnitude).map_err(|_| NumError::Overflow)?;
        Ok(Notional(if negative { -raw } else { raw }))
    }

    /// `self + rhs`, or `None` outside the range.
    #[inline]
    pub const fn checked_add(self, rhs: Notional) -> Option<Notional> {
        match self.0.checked_add(rhs.0) {
            Some(v) => Notional::from_raw(v),
            None => None,
        }
    }

    /// `self - rhs`, or `None` outside the range.
    #[inline]
    pub const fn checked_sub(self, rhs: Notional) -> Option<Notional> {
        match self.0.checked_sub(rhs.0) {
            Some(v) => Notional::from_raw(v),
            None => None,
        }
    }

    /// True if the value is zero.
    #[inline]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// True if the value is below zero.
    #[inline]
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The exact value as a `Decimal` (scale 8). Never fails: the range is
    /// that of `Decimal`'s mantissa.
    #[inline]
    pub fn to_decimal(self) -> Decimal {
        raw_to_decimal(self.0)
    }

    /// A `Display` with exactly 8 fraction digits.
    #[inline]
    pub const fn fixed(self) -> Fixed8 {
        Fixed8 {
            negative: self.0 < 0,
            magnitude: self.0.unsigned_abs(),
        }
    }
}

impl std::ops::Neg for Notional {
    type Output = Notional;

    /// Exact: the range is symmetric.
    #[inline]
    fn neg(self) -> Notional {
        Notional(-self.0)
    }
}

impl fmt::Display for Notional {
    /// The canonical (trimmed) form, e.g. `-12.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_raw(f, self.0 < 0, self.0.unsigned_abs(), true)
    }
}

impl fmt::Debug for Notional {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Notional({self})")
    }
}

impl TryFrom<Decimal> for Notional {
    type Error = NumError;

    /// Exact: errors if the normalised value has more than 8 decimals or
    /// its raw value leaves `±(2^96 − 1)`.
    fn try_from(d: Decimal) -> Result<Notional, NumError> {
        Notional::from_raw(decimal_to_raw(d)?).ok_or(NumError::Overflow)
    }
}

impl Serialize for Notional {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_raw(s, self.0 < 0, self.0.unsigned_abs())
    }
}

impl<'de> Deserialize<'de> for Notional {
    /// From a decimal string, with the same grammar as [`Notional::parse`].
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Notional, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Notional;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal notional string such as \"-12.5\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Notional, E> {
                Notional::parse(v).map_err(E::custom)
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Notional, E> {
                Notional::parse_bytes(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    /// The canonical form of a string in the grammar: strip a '+', leading
    /// integer zeros (keep one), trailing fraction zeros and a bare '.', and
    /// the sign of zero.
    fn canonical(s: &str) -> String {
        let (neg, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let int = int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        let frac = frac.trim_end_matches('0');
        let zero = int == "0" && frac.is_empty();
        let mut out = String::new();
        if neg && !zero {
            out.push('-');
        }
        out.push_str(int);
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        out
    }

    #[test]
    fn parses_binance_forms() {
        assert_eq!(Price::parse("0.00100000").unwrap().raw(), 100_000);
        assert_eq!(Price::parse("27123.45").unwrap().raw(), 2_712_345_000_000);
        assert_eq!(Qty::parse("1").unwrap().raw(), SCALE);
        assert_eq!(Qty::parse("0").unwrap(), Qty::ZERO);
        assert_eq!(Qty::parse("0.00000001").unwrap().raw(), 1);
        assert_eq!(Qty::parse("007.50").unwrap().raw(), 750_000_000);
        assert_eq!(Qty::parse("0.1000000000").unwrap().raw(), 10_000_000);
    }

    #[test]
    fn edge_values() {
        assert_eq!(Price::parse("92233720368.54775807").unwrap(), Price::MAX);
        assert_eq!(
            Price::parse("92233720368.54775808"),
            Err(NumError::Overflow)
        );
        assert_eq!(Price::parse("92233720369"), Err(NumError::Overflow));
        assert_eq!(Price::parse(&"9".repeat(200)), Err(NumError::Overflow));
        assert_eq!(Price::MAX.to_string(), "92233720368.54775807");
        assert_eq!(
            Price::from_raw(i64::MIN).to_string(),
            "-92233720368.54775808"
        );
        assert_eq!(Price::from_raw(-1).to_string(), "-0.00000001");
        assert_eq!(Notional::MAX.to_string(), "792281625142643375935.43950335");
        assert_eq!(Notional::MIN.to_string(), "-792281625142643375935.43950335");
        assert_eq!(
            Notional::parse("792281625142643375935.43950335").unwrap(),
            Notional::MAX
        );
        assert_eq!(
            Notional::parse("-792281625142643375935.43950336"),
            Err(NumError::Overflow)
        );
        assert_eq!(Notional::from_raw(NOTIONAL_MAX_RAW + 1), None);
        assert_eq!(Notional::from_raw(i128::MIN), None);
    }

    #[test]
    fn typed_errors() {
        assert_eq!(Price::parse(""), Err(NumError::Empty));
        assert_eq!(Notional::parse(""), Err(NumError::Empty));
        assert_eq!(Price::parse("-1"), Err(NumError::SignNotAllowed));
        assert_eq!(Qty::parse("+1"), Err(NumError::SignNotAllowed));
        assert_eq!(Notional::parse("-"), Err(NumError::MissingDigits));
        assert_eq!(
            Notional::parse("+-1"),
            Err(NumError::InvalidChar { pos: 1 })
        );
        assert_eq!(Price::parse(".5"), Err(NumError::MissingDigits));
        assert_eq!(Price::parse("1."), Err(NumError::MissingDigits));
        assert_eq!(Price::parse("."), Err(NumError::MissingDigits));
        assert_eq!(Price::parse("1.2.3"), Err(NumError::InvalidChar { pos: 3 }));
        assert_eq!(Price::parse(" 1"), Err(NumError::InvalidChar { pos: 0 }));
        assert_eq!(Price::parse("1e5"), Err(NumError::InvalidChar { pos: 1 }));
        assert_eq!(Price::parse("1_000"), Err(NumError::InvalidChar { pos: 1 }));
        assert_eq!(
            Notional::parse("-1x"),
            Err(NumError::InvalidChar { pos: 2 })
        );
        assert_eq!(Price::parse("1-"), Err(NumError::InvalidChar { pos: 1 }));
        assert_eq!(Price::parse("0.000000001"), Err(NumError::TooManyDecimals));
        assert_eq!(Price::parse("0.123456789"), Err(NumError::TooManyDecimals));
        assert_eq!(
            Price::parse_bytes(&[b'1', 0xFF]),
            Err(NumError::InvalidChar { pos: 1 })
        );
    }

    #[test]
    fn display_forms() {
        let p = Price::parse("0.00100000").unwrap();
        assert_eq!(p.to_string(), "0.001");
        assert_eq!(p.fixed().to_string(), "0.00100000");
        assert_eq!(Qty::parse("5.0").unwrap().to_string(), "5");
        assert_eq!(Qty::ZERO.to_string(), "0");
        assert_eq!(Qty::ZERO.fixed().to_string(), "0.00000000");
        assert_eq!(Notional::parse("-0.0").unwrap().to_string(), "0");
        assert_eq!(
            Notional::parse("-0.5").unwrap().fixed().to_string(),
            "-0.50000000"
        );
        assert_eq!(format!("{:>8}|", Price::parse("1.5").unwrap()), "     1.5|");
        assert_eq!(format!("{:?}", Qty::ONE), "Qty(1)");
    }

    #[test]
    fn arithmetic() {
        let a = Price::parse("1.5").unwrap();
        let b = Price::parse("2.25").unwrap();
        assert_eq!(a.checked_add(b), Some(Price::parse("3.75").unwrap()));
        assert_eq!(a.checked_sub(b).unwrap().to_string(), "-0.75");
        assert_eq!(Price::MAX.checked_add(Price::from_raw(1)), None);
        assert_eq!(
            Price::from_raw(i64::MIN).checked_sub(Price::from_raw(1)),
            None
        );
        assert_eq!(
            Notional::MAX.checked_add(Notional::from_raw(1).unwrap()),
            None
        );
        assert_eq!(
            Notional::MIN.checked_sub(Notional::from_raw(1).unwrap()),
            None
        );
        assert_eq!(-Notional::MIN, Notional::MAX);
        // Truncation toward zero: 0.00000001 × 0.5 = 0.000000005 → 0.
        let tiny = Price::from_raw(1);
        assert_eq!(
            tiny.checked_notional(Qty::parse("0.5").unwrap()),
            Some(Notional::ZERO)
        );
        let neg = Price::from_raw(-3).checked_notional(Qty::parse("0.5").unwrap());
        assert_eq!(neg, Some(Notional::from_raw(-1).unwrap()));
        // Largest product leaves the Notional range.
        assert_eq!(Price::MAX.checked_notional(Qty::MAX), None);
        let big = Price::parse("1000000")
            .unwrap()
            .checked_notional(Qty::parse("1000000").unwrap());
        assert_eq!(big.unwrap().to_string(), "1000000000000");
    }

    #[test]
    fn decimal_edges() {
        let d = Decimal::from_str("1.000000000000").unwrap();
        assert_eq!(Price::try_from(d), Ok(Price::ONE));
        let d = Decimal::from_str("0.000000001").unwrap();
        assert_eq!(Price::try_from(d), Err(NumError::TooManyDecimals));
        let d = Decimal::from_str("92233720368.54775808").unwrap();
        assert_eq!(Qty::try_from(d), Err(NumError::Overflow));
        assert_eq!(Notional::try_from(Decimal::MAX), Err(NumError::Overflow));
        assert_eq!(Price::from_raw(-5).to_decimal().to_string(), "-0.00000005");
        assert_eq!(Notional::MAX.to_decimal().mantissa(), NOTIONAL_MAX_RAW);
        assert_eq!(Notional::MIN.to_decimal().mantissa(), -NOTIONAL_MAX_RAW);
    }

    #[test]
    fn serde_as_strings() {
        let p = Price::parse("27000.10").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"27000.1\"");
        assert_eq!(serde_json::from_str::<Price>("\"27000.1\"").unwrap(), p);
        assert!(serde_json::from_str::<Price>("27000.1").is_err());
        assert!(serde_json::from_str::<Price>("\"-1\"").is_err());
        let n = Notional::parse("-3.5").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"-3.5\"");
        assert_eq!(serde_json::from_str::<Notional>("\"-3.5\"").unwrap(), n);
    }

    /// Strings in the grammar: up to 11 integer digits (leading zeros allowed)
    /// and up to 8 fraction digits, optionally with a tail of zeros.
    fn valid_unsigned() -> impl Strategy<Value = String> {
        ("[0-9]{1,11}", proptest::option::of("[0-9]{1,8}"), "0{0,3}").prop_map(
            |(i, f, z)| match f {
                Some(f) => format!("{i}.{f}{z}"),
                None => i,
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn valid_strings_parse_to_canonical(s in valid_unsigned()) {
            // 11 integer digits can exceed i64 range; those must be Overflow.
            match Price::parse(&s) {
                Ok(p) => {
                    prop_assert_eq!(p.to_string(), canonical(&s));
                    let q = Qty::parse(&s).unwrap();
                    prop_assert_eq!(q.raw(), p.raw());
                    // Agrees with rust_decimal on every valid input.
                    let d = Decimal::from_str(&s).unwrap();
                    prop_assert_eq!(p.to_decimal(), d);
                    prop_assert_eq!(Price::try_from(d), Ok(p));
                }
                Err(e) => {
                    prop_assert_eq!(e, NumError::Overflow);
                    let d = Decimal::from_str(&s).unwrap();
                    prop_assert!(d > Price::MAX.to_decimal());
                }
            }
        }

        #[test]
        fn signed_strings_parse_to_canonical(neg in any::<bool>(), plus in any::<bool>(), s in valid_unsigned()) {
            let text = if neg { format!("-{s}") } else if plus { format!("+{s}") } else { s.clone() };
            let n = Notional::parse(&text).unwrap();
            prop_assert_eq!(n.to_string(), canonical(&text));
            prop_assert_eq!(n.to_decimal(), Decimal::from_str(&text).unwrap());
            if neg || plus {
                prop_assert_eq!(Price::parse(&text), Err(NumError::SignNotAllowed));
                prop_assert_eq!(Qty::parse(&text), Err(NumError::SignNotAllowed));
            }
        }

        #[test]
        fn display_round_trips_every_raw(raw in 0i64..=i64::MAX) {
            let p = Price::from_raw(raw);
            prop_assert_eq!(Price::parse(&p.to_string()), Ok(p));
            prop_assert_eq!(Price::parse(&p.fixed().to_string()), Ok(p));
            let q = Qty::from_raw(raw);
            prop_assert_eq!(Qty::parse_bytes(q.to_string().as_bytes()), Ok(q));
        }

        #[test]
        fn negative_display_is_minus_magnitude(raw in (i64::MIN + 1)..0) {
            let p = Price::from_raw(raw);
            prop_assert_eq!(p.to_string(), format!("-{}", Price::from_raw(-raw)));
        }

        #[test]
        fn notional_display_round_trips(raw in -NOTIONAL_MAX_RAW..=NOTIONAL_MAX_RAW) {
            let n = Notional::from_raw(raw).unwrap();
            prop_assert_eq!(Notional::parse(&n.to_string()), Ok(n));
            prop_assert_eq!(Notional::parse(&n.fixed().to_string()), Ok(n));
        }

        #[test]
        fn decimal_round_trips_every_raw(raw in any::<i64>(), nraw in -NOTIONAL_MAX_RAW..=NOTIONAL_MAX_RAW) {
            let p = Price::from_raw(raw);
            prop_assert_eq!(Price::try_from(p.to_decimal()), Ok(p));
            prop_assert_eq!(p.to_decimal().to_string(), p.fixed().to_string());
            let q = Qty::from_raw(raw);
            prop_assert_eq!(Qty::try_from(q.to_decimal()), Ok(q));
            let n = Notional::from_raw(nraw).unwrap();
            prop_assert_eq!(Notional::try_from(n.to_decimal()), Ok(n));
        }

        #[test]
        fn too_many_decimals_is_typed(i in "[0-9]{1,5}", f in "[0-9]{8}", d in "[1-9]", z in "[0-9]{0,3}") {
            let s = format!("{i}.{f}{d}{z}");
            prop_assert_eq!(Price::parse(&s), Err(NumError::TooManyDecimals));
            prop_assert_eq!(Notional::parse(&format!("-{s}")), Err(NumError::TooManyDecimals));
        }

        #[test]
        fn overflow_is_typed(extra in 1u64..1_000_000) {
            let s = (I64_MAX_MAG + u128::from(extra)).to_string();
            let text = format!("{}.{}", &s[..s.len() - 8], &s[s.len() - 8..]);
            prop_assert_eq!(Price::parse(&text), Err(NumError::Overflow));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let p = Price::parse_bytes(&bytes);
            let n = Notional::parse_bytes(&bytes);
            // Whatever is accepted prints back to a value that parses equal.
            if let Ok(p) = p {
                prop_assert_eq!(Price::parse(&p.to_string()), Ok(p));
            }
            if let Ok(n) = n {
                prop_assert_eq!(Notional::parse(&n.to_string()), Ok(n));
            }
        }

        #[test]
        fn decimal_like_garbage_never_panics(s in "[-+0-9.]{0,30}") {
            let _ = Price::parse(&s);
            let _ = Qty::parse(&s);
            if let Ok(n) = Notional::parse(&s) {
                prop_assert_eq!(n.to_decimal(), Decimal::from_str(&s).unwrap());
            }
        }

        #[test]
        fn notional_is_exact_truncated_product(p in any::<i64>(), q in any::<i64>()) {
            let exact = i128::from(p) * i128::from(q);
            match Price::from_raw(p).checked_notional(Qty::from_raw(q)) {
                Some(n) => {
                    prop_assert_eq!(n.raw(), exact / 100_000_000);
                    // Truncation toward zero: never overstates the magnitude.
                    prop_assert!(n.raw().unsigned_abs() * 100_000_000 <= exact.unsigned_abs());
                }
                None => prop_assert!((exact / 100_000_000).unsigned_abs() > NOTIONAL_MAX_RAW as u128),
            }
        }
    }
}
