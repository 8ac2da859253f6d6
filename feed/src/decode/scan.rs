//! The byte-level JSON scanner under the decoder: a forward-only cursor over
//! one message that validates JSON syntax as it goes (RFC 8259: strings with
//! their escapes and UTF-8, numbers, literals, whitespace, nesting) and hands
//! out spans of the input, never copies.
//!
//! It never allocates, never recurses (skipped containers are walked with a
//! 100-level bit stack; deeper nesting is [`DecodeError::TooDeep`]), and never
//! panics: every read is bounds-checked (`get`), every failure is a
//! [`DecodeError`].
//!
//! [`Cursor`] and [`RawStr`] are re-exported as `talon_feed::decode::{Cursor,
//! RawStr}` so the gateway's WS API response decoder reuses this validated
//! scanner instead of keeping a second one; the feed's decoder is unchanged.

use super::error::DecodeError;

/// Deepest container nesting accepted inside a skipped value.
pub(super) const MAX_DEPTH: u32 = 100;

/// A JSON string as found in the input: the bytes between the quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawStr<'a> {
    /// Bytes between the quotes, escapes not decoded.
    pub raw: &'a [u8],
    /// Whether `raw` contains a backslash escape.
    pub escaped: bool,
}

/// A forward-only cursor over one input buffer.
#[derive(Debug)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in every byte of `w` that a string scan must look at: `"`,
/// `\\`, a control byte (< 0x20) or a non-ASCII byte (≥ 0x80). Borrows can
/// also flag bytes *above* the first true one, never below it, so the
/// lowest flagged byte is always a true one (SWAR "has zero/has less").
#[inline]
fn special_bytes(w: u64) -> u64 {
    let q = w ^ (LO * u64::from(b'"'));
    let bs = w ^ (LO * u64::from(b'\\'));
    let eq_q = q.wrapping_sub(LO) & !q;
    let eq_bs = bs.wrapping_sub(LO) & !bs;
    let lt_space = w.wrapping_sub(LO * 0x20) & !w;
    (eq_q | eq_bs | lt_space | w) & HI
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// The current byte offset.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Moves to byte offset `pos` (a position this cursor handed out).
    #[inline]
    pub fn set_pos(&mut self, pos: usize) {
        self.pos = pos;
    }

    /// The input bytes `start..end` (empty if out of range: never panics).
    #[inline]
    pub fn slice(&self, start: usize, end: usize) -> &'a [u8] {
        self.buf.get(start..end).unwrap_or_default()
    }

    /// The byte at the cursor, without consuming it.
    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Skips JSON whitespace (space, tab, LF, CR).
    #[inline]
    pub fn skip_ws(&mut self) {
        while let Some(&b) = self.buf.get(self.pos) {
            if !is_ws(b) {
                break;
            }
            self.pos += 1;
        }
    }

    /// Skips whitespace and returns the next byte without consuming it.
    #[inline]
    pub fn peek_ws(&mut self) -> Option<u8> {
        self.skip_ws();
        self.peek()
    }

    /// Skips whitespace and consumes `b`, or fails with `Malformed`.
    #[inline]
    pub fn expect_ws(&mut self, b: u8) -> Result<(), DecodeError> {
        self.skip_ws();
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(DecodeError::Malformed)
        }
    }

    /// Whether only whitespace is left.
    pub fn at_end_ws(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.buf.len()
    }

    /// Reads a string; the cursor is on its opening quote. Validates escapes
    /// (including surrogate pairs), rejects raw control bytes and checks
    /// UTF-8 only when a non-ASCII byte was seen.
    ///
    /// Inline fast path for the common case (plain ASCII up to the closing
    /// quote, found eight bytes at a time); anything else is re-read from the
    /// start by the out-of-line [`Cursor::string_slow`].
    #[inline(always)]
    pub fn string(&mut self) -> Result<RawStr<'a>, DecodeError> {
        if self.peek() != Some(b'"') {
            return Err(DecodeError::Malformed);
        }
        let start = self.pos + 1;
        let mut i = start;
        loop {
            match self.buf.get(i..i + 8) {
                Some(chunk) => {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(chunk);
                    let m = special_bytes(u64::from_le_bytes(w));
                    if m == 0 {
                        i += 8;
                        continue;
                    }
                    i += (m.trailing_zeros() / 8) as usize;
                    break;
                }
                None => match self.buf.get(i) {
                    Some(&b) if (0x20..0x80).contains(&b) && b != b'"' && b != b'\\' => i += 1,
                    _ => break,
                },
            }
        }
        if self.buf.get(i) == Some(&b'"') {
            self.pos = i + 1;
            return Ok(RawStr {
                raw: self.slice(start, i),
                escaped: false,
            });
        }
        self.string_slow(start)
    }

    /// The general string scan from just after the opening quote at
    /// `start - 1`: escapes, control bytes, non-ASCII.
    #[cold]
    #[inline(never)]
    fn string_slow(&mut self, start: usize) -> Result<RawStr<'a>, DecodeError> {
        let mut i = start;
        let mut escaped = false;
        let mut high = false;
        loop {
            let Some(&b) = self.buf.get(i) else {
                return Err(DecodeError::Malformed);
            };
            match b {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    i = self.escape(i)?;
                }
                0..=0x1F => return Err(DecodeError::Malformed),
                0x80..=0xFF => {
                    high = true;
                    i += 1;
                }
                _ => i += 1,
            }
        }
        let raw = self.slice(start, i);
        if high && std::str::from_utf8(raw).is_err() {
            return Err(DecodeError::InvalidUtf8);
        }
        self.pos = i + 1;
        Ok(RawStr { raw, escaped })
    }

    /// Validates the escape starting at the backslash at `i`; returns the
    /// index after it.
    fn escape(&self, i: usize) -> Result<usize, DecodeError> {
        match self.buf.get(i + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
            Some(b'u') => {
                let cp = self.hex4(i + 2)?;
                match cp {
                    0xD800..=0xDBFF => {
                        // A high surrogate must be followed by \u + low surrogate.
                        if self.buf.get(i + 6) != Some(&b'\\') || self.buf.get(i + 7) != Some(&b'u')
                        {
                            return Err(DecodeError::Malformed);
                        }
                        let lo = self.hex4(i + 8)?;
                        if (0xDC00..=0xDFFF).contains(&lo) {
                            Ok(i + 12)
                        } else {
                            Err(DecodeError::Malformed)
                        }
                    }
                    0xDC00..=0xDFFF => Err(DecodeError::Malformed),
                    _ => Ok(i + 6),
                }
            }
            _ => Err(DecodeError::Malformed),
        }
    }

    fn hex4(&self, at: usize) -> Result<u32, DecodeError> {
        let digits = self.buf.get(at..at + 4).ok_or(DecodeError::Malformed)?;
        let mut v = 0u32;
        for &d in digits {
            let n = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(DecodeError::Malformed),
            };
            v = (v << 4) | u32::from(n);
        }
        Ok(v)
    }

    /// Reads a number per the JSON grammar
    /// (`-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`) and returns
    /// its text.
    #[inline]
    pub fn number(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let mut i = start;
        if self.buf.get(i) == Some(&b'-') {
            i += 1;
        }
        match self.buf.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = self.digits(i),
            _ => return Err(DecodeError::Malformed),
        }
        if self.buf.get(i) == Some(&b'.') {
            let j = self.digits(i + 1);
            if j == i + 1 {
                return Err(DecodeError::Malformed);
            }
            i = j;
        }
        if matches!(self.buf.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(self.buf.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let j = self.digits(i);
            if j == i {
                return Err(DecodeError::Malformed);
            }
            i = j;
        }
        self.pos = i;
        Ok(self.slice(start, i))
    }

    #[inline]
    fn digits(&self, mut i: usize) -> usize {
        while matches!(self.buf.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
        i
    }

    /// Consumes `lit` (`true`, `false`, `null`) or fails.
    pub fn literal(&mut self, lit: &[u8]) -> Result<(), DecodeError> {
        if self.buf.get(self.pos..self.pos + lit.len()) == Some(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(DecodeError::Malformed)
        }
    }

    /// Reads one scalar (string, number, literal); the cursor is on its first
    /// byte. Containers are not scalars.
    fn scalar(&mut self) -> Result<(), DecodeError> {
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'-' | b'0'..=b'9') => self.number().map(|_| ()),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            _ => Err(DecodeError::Malformed),
        }
    }

    /// Skips one complete value of any type, validating it; the cursor is on
    /// its first byte (after whitespace). Iterative: containers are tracked
    /// on a bit stack (1 = object, 0 = array) of [`MAX_DEPTH`] levels.
    pub fn skip_value(&mut self) -> Result<(), DecodeError> {
        let mut stack: u128 = 0;
        let mut depth: u32 = 0;
        // `true` when the next thing to read is a value, `false` when a
        // value has just ended.
        let mut want_value = true;
        loop {
            if want_value {
                match self.peek() {
                    Some(open @ (b'{' | b'[')) => {
                        if depth >= MAX_DEPTH {
                            return Err(DecodeError::TooDeep);
                        }
                        self.pos += 1;
                        let is_obj = open == b'{';
                        stack = (stack << 1) | u128::from(is_obj);
                        depth += 1;
                        let close = if is_obj { b'}' } else { b']' };
                        if self.peek_ws() == Some(close) {
                            self.pos += 1;
                            stack >>= 1;
                            depth -= 1;
                            want_value = false;
                        } else if is_obj {
                            self.member_key()?;
                        } else {
                            // Next loop reads the first element.
                        }
                    }
                    _ => {
                        self.scalar()?;
                        want_value = false;
                    }
                }
                if want_value {
                    self.skip_ws();
                }
                continue;
            }
            if depth == 0 {
                return Ok(());
            }
            let in_obj = stack & 1 == 1;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                    if in_obj {
                        self.member_key()?;
                    }
                    want_value = true;
                }
                Some(b'}') if in_obj => {
                    self.pos += 1;
                    stack >>= 1;
                    depth -= 1;
                }
                Some(b']') if !in_obj => {
                    self.pos += 1;
                    stack >>= 1;
                    depth -= 1;
                }
                _ => return Err(DecodeError::Malformed),
            }
        }
    }

    /// Inside a skipped object: reads `"key"` `:` and the whitespace up to
    /// the value.
    fn member_key(&mut self) -> Result<(), DecodeError> {
        self.skip_ws();
        self.string()?;
        self.expect_ws(b':')?;
        self.skip_ws();
        Ok(())
    }
}

/// Decodes the escapes of a validated JSON string into `out`; returns the
/// decoded length, or `None` if it does not fit or is not ASCII. Used only
/// for escaped object keys (every key the decoder knows is short ASCII).
pub(super) fn unescape_ascii_key(raw: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut i = 0;
    let mut n = 0;
    while let Some(&b) = raw.get(i) {
        let c = if b == b'\\' {
            let e = *raw.get(i + 1)?;
            i += 2;
            match e {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 0x08,
                b'f' => 0x0C,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'u' => {
                    let h = raw.get(i..i + 4)?;
                    i += 4;
                    let mut v = 0u32;
                    for &d in h {
                        v = (v << 4) | char::from(d).to_digit(16)?;
                    }
                    // Non-ASCII (including surrogates): no known key.
                    u8::try_from(v).ok().filter(u8::is_ascii)?
                }
                _ => return None,
            }
        } else {
            i += 1;
            if !b.is_ascii() {
                return None;
            }
            b
        };
        *out.get_mut(n)? = c;
        n += 1;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn skip(s: &str) -> Result<usize, DecodeError> {
        let mut c = Cursor::new(s.as_bytes());
        c.skip_value()?;
        Ok(c.pos())
    }

    #[test]
    fn skips_every_json_type() {
        for s in [
            "1",
            "-0.5e+10",
            "\"a\\\"b\\u00e9\\ud83d\\ude00\"",
            "true",
            "false",
            "null",
            "[]",
            "{}",
            "[1, [2, {\"a\": [3, {}]}], \"x\"]",
            "{ \"k\" : { \"n\" : [ null , true ] } , \"z\" : 0 }",
        ] {
            assert_eq!(skip(s), Ok(s.len()), "{s}");
        }
        // Stops exactly at the end of the value.
        assert_eq!(skip("[1,2] ,"), Ok(5));
    }

    #[test]
    fn rejects_invalid_json() {
        for s in [
            "",
            "01",
            "1.",
            "-",
            "1e",
            ".5",
            "+1",
            "[1,]",
            "[1 2]",
            "{\"a\"}",
            "{\"a\":1,}",
            "{1:2}",
            "[}",
            "{]",
            "tru",
            "nul",
            "\"abc",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"a\u{1}b\"",
            "[[[",
        ] {
            // "01": the value "0" ends at 1; the byte after it is the caller's.
            assert!(skip(s) != Ok(s.len()), "{s:?} accepted");
        }
        let bad_utf8 = [b'"', 0xff, b'"'];
        let mut c = Cursor::new(&bad_utf8);
        assert_eq!(c.skip_value(), Err(DecodeError::InvalidUtf8));
    }

    #[test]
    fn nesting_is_bounded_without_recursion() {
        let ok = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(skip(&ok), Ok(200));
        assert_eq!(
            skip(&("[".repeat(101) + &"]".repeat(101))),
            Err(DecodeError::TooDeep)
        );
        let deep = "[".repeat(100_000);
        assert_eq!(skip(&deep), Err(DecodeError::TooDeep));
        let deep_obj = "{\"a\":".repeat(200);
        assert_eq!(skip(&deep_obj), Err(DecodeError::TooDeep));
    }

    proptest::proptest! {
        #[test]
        fn special_bytes_lowest_flag_is_the_first_special_byte(
            bytes in proptest::array::uniform8(proptest::prop_oneof![
                6 => 0x20u8..0x7F,
                1 => proptest::prelude::any::<u8>(),
                1 => proptest::sample::select(vec![b'"', b'\\', 0x1F, 0x80, 0x21, 0x5B, 0x5D]),
            ])
        ) {
            let w = u64::from_le_bytes(bytes);
            let first = bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b));
            let m = special_bytes(w);
            let got = (m != 0).then(|| (m.trailing_zeros() / 8) as usize);
            proptest::prop_assert_eq!(got, first);
        }
    }

    #[test]
    fn unescapes_ascii_keys_only() {
        let mut out = [0u8; 16];
        let n = unescape_ascii_key(br"\u0073", &mut out).unwrap();
        assert_eq!(&out[..n], b"s");
        let n = unescape_ascii_key(br"last\u0055pdateId", &mut out).unwrap();
        assert_eq!(&out[..n], b"lastUpdateId");
        assert_eq!(unescape_ascii_key(br"\u00e9", &mut out), None);
        assert_eq!(unescape_ascii_key(b"abcdefghijklmnopq", &mut out), None);
    }
}
