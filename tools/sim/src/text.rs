//! Fast JSON text helpers for generated messages: integers, 8-decimal
//! fixed-point strings (the venue's wire form, `"0.00100000"`) and string
//! escaping.
//!
//! This module owns byte-level formatting only. It never allocates beyond
//! growing the caller's buffer and never goes through a float.

/// Appends the decimal digits of `v`.
pub(crate) fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Appends `raw / 10^8` with exactly 8 fraction digits (`100000` →
/// `0.00100000`); a negative value gets a leading `-`.
pub(crate) fn push_fixed8(out: &mut Vec<u8>, raw: i64) {
    if raw < 0 {
        out.push(b'-');
    }
    let m = raw.unsigned_abs();
    push_u64(out, m / 100_000_000);
    out.push(b'.');
    let frac = m % 100_000_000;
    let mut digits = [b'0'; 8];
    let mut f = frac;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (f % 10) as u8;
        f /= 10;
    }
    out.extend_from_slice(&digits);
}

/// Appends `"<fixed8>"` (a quoted decimal string).
pub(crate) fn push_qfixed8(out: &mut Vec<u8>, raw: i64) {
    out.push(b'"');
    push_fixed8(out, raw);
    out.push(b'"');
}

/// Appends a JSON string literal for `s` (quotes, backslashes and control
/// characters escaped).
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(b"0123456789abcdef"[usize::from(b >> 4)]);
                out.push(b"0123456789abcdef"[usize::from(b & 0xf)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use talon_core::num::Price;

    #[test]
    fn fixed8_matches_core_formatting() {
        for raw in [
            0i64,
            1,
            99,
            100_000,
            100_000_000,
            6_500_012_345_678,
            i64::MAX,
            -5,
        ] {
            let mut out = Vec::new();
            push_fixed8(&mut out, raw);
            assert_eq!(
                String::from_utf8(out).unwrap_or_default(),
                Price::from_raw(raw).fixed().to_string()
            );
        }
        let mut out = Vec::new();
        push_u64(&mut out, u64::MAX);
        push_json_str(&mut out, "a\"b\\\n");
        assert_eq!(out, b"18446744073709551615\"a\\\"b\\\\\\u000a\"");
    }
}
