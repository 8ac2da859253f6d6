//! The venue-layout fast path: Binance's exact frame bytes, matched in
//! order, tried before the general scanner.
//!
//! Owns [`decode`] and [`snapshot`]. Binance (and the simulator, which
//! copies it) writes every market-data payload with the same keys in the
//! same order, no whitespace and no extra fields besides the trade's `M`.
//! This module matches those frames literally: each key with its quotes,
//! colon and comma is compared as one byte string, and each value is read
//! by a routine for the one shape the venue sends (a `u64` digit run, a
//! `"digits.digits"` decimal, a plain symbol, `true`/`false`, a levels
//! array). The layouts it accepts:
//!
//! ```text
//! wrapper      {"stream":"<plain>","data":<payload>}      (or a bare <payload>)
//! bookTicker   {"u":N,"s":S,"b":D,"B":D,"a":D,"A":D}
//! trade        {"e":"trade","E":N,"s":S,"t":N,"p":D,"q":D[,"b":N,"a":N],"T":N,"m":B,"M":B}
//! aggTrade     {"e":"aggTrade","E":N,"s":S,"a":N,"p":D,"q":D,"f":N,"l":N,"T":N,"m":B,"M":B}
//! depthUpdate  {"e":"depthUpdate","E":N,"s":S,"U":N,"u":N,"b":L,"a":L}
//! partial/REST {"lastUpdateId":N,"bids":L,"asks":L}
//! then only JSON whitespace to the end of the input
//! ```
//!
//! It returns `Some` only for an input that matches one of these layouts
//! completely, and then exactly the value the general scanner returns for
//! it; on any mismatch, anywhere, it returns `None` and the caller runs the
//! general scanner, which gives the verdict. It never returns an error, so
//! every rejection (duplicate key, escape, bad decimal, overflow, leading
//! zero, trailing data, invalid UTF-8, …) keeps the general path's reason.
//! Why a match is identical:
//!
//! * Integers: `0` or `[1-9][0-9]*` without overflow, followed (checked by
//!   the next literal) by `,` or `}`: a JSON integer that `parse_u64`
//!   reads to the same value. A sign, fraction, exponent, a leading zero
//!   before a digit or a value above `u64::MAX` declines.
//! * Decimals: `"digits{1,10}[.digits{8}]"` is computed like `fixed.rs`'s
//!   own fast path (property-tested equal to `parse_bytes`); any other
//!   string content without a backslash is handed to the very
//!   `fixed::price` / `fixed::qty` the general path calls, and declines if
//!   it fails.
//! * Strings returned as is (symbol, stream): bytes `0x20..=0x7F` except
//!   `"` and `\` up to the closing quote: a JSON string without escapes,
//!   valid ASCII, which the general scanner returns as the same bytes.
//!   Anything else (escape, control byte, non-ASCII) declines.
//! * Levels: `[` `["D","D"]`,… `]` with no whitespace; the same span and
//!   count the general path validates (`Levels` compares both).
//! * Keys are fixed and distinct, so no duplicate can be present; the only
//!   member the general path skips, the trade's `M` (and a trade's legacy
//!   `b`/`a` ids, read but unused), must be `true`/`false` (resp. a valid
//!   integer) here.
//!
//! Never allocates, never panics (every read is `get`), no recursion.

use talon_core::num::{Price, Qty};

use super::Envelope;
use super::fields::stream_symbol;
use super::fixed;
use super::message::{
    AggTradeMsg, BookTicker, Decoded, DepthSnapshot, DepthUpdate, Levels, TradeMsg,
};

/// A decimal string as read: its raw value (venue shape) or its content
/// (any other shape, for `fixed::price` / `fixed::qty` to decide).
enum Dec<'a> {
    Raw(i64),
    Text(&'a [u8]),
}

/// A forward matcher over one input. Every method consumes on success and
/// returns `None` on mismatch (after which the matcher is abandoned).
struct P<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> P<'a> {
    /// Whether the input continues with `lit` here; consumes it if so.
    #[inline(always)]
    fn eat(&mut self, lit: &[u8]) -> bool {
        let end = self.i + lit.len();
        if self.b.get(self.i..end) == Some(lit) {
            self.i = end;
            true
        } else {
            false
        }
    }

    /// `lit` or decline.
    #[inline(always)]
    fn lit(&mut self, lit: &[u8]) -> Option<()> {
        self.eat(lit).then_some(())
    }

    /// A JSON integer in `u64`: `0` or `[1-9][0-9]*`, no overflow.
    #[inline(always)]
    fn uint(&mut self) -> Option<u64> {
        let first = self.b.get(self.i)?.wrapping_sub(b'0');
        if first > 9 {
            return None;
        }
        self.i += 1;
        let mut v = u64::from(first);
        if first == 0 {
            // "0" then a digit is not one JSON number: the next literal
            // (`,` or `}`) fails on it.
            return Some(0);
        }
        while let Some(&c) = self.b.get(self.i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            v = v.checked_mul(10)?.checked_add(u64::from(d))?;
            self.i += 1;
        }
        Some(v)
    }

    /// `true` or `false`.
    #[inline(always)]
    fn boolean(&mut self) -> Option<bool> {
        if self.eat(b"true") {
            Some(true)
        } else if self.eat(b"false") {
            Some(false)
        } else {
            None
        }
    }

    /// The content of a string without escapes, control or non-ASCII bytes;
    /// the cursor is just after the opening quote, and ends after the
    /// closing one.
    #[inline(always)]
    fn plain(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        loop {
            let c = *self.b.get(self.i)?;
            if c == b'"' {
                break;
            }
            if !(0x20..0x80).contains(&c) || c == b'\\' {
                return None;
            }
            self.i += 1;
        }
        let s = self.b.get(start..self.i)?;
        self.i += 1;
        Some(s)
    }

    /// A decimal string, cursor on its opening quote.
    #[inline(always)]
    fn decimal(&mut self) -> Option<Dec<'a>> {
        if self.b.get(self.i) != Some(&b'"') {
            return None;
        }
        let start = self.i + 1;
        let mut i = start;
        let mut int: u64 = 0;
        while let Some(&c) = self.b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            int = int * 10 + u64::from(d);
            i += 1;
            if i - start > 10 {
                return self.decimal_text(start);
            }
        }
        if i == start {
            return self.decimal_text(start);
        }
        // int < 10^10: int * 10^8 + frac < 10^18 < i64::MAX.
        match self.b.get(i) {
            Some(b'"') => {
                self.i = i + 1;
                i64::try_from(int * 100_000_000).ok().map(Dec::Raw)
            }
            Some(b'.') => {
                let frac = self
                    .b
                    .get(i + 1..i + 9)
                    .and_then(|f| <[u8; 8]>::try_from(f).ok())
                    .and_then(|w| fixed::eight_digits(u64::from_le_bytes(w)));
                match (frac, self.b.get(i + 9)) {
                    (Some(frac), Some(b'"')) => {
                        self.i = i + 10;
                        i64::try_from(int * 100_000_000 + frac).ok().map(Dec::Raw)
                    }
                    _ => self.decimal_text(start),
                }
            }
            _ => self.decimal_text(start),
        }
    }

    /// Any other decimal string: its content up to the closing quote (no
    /// backslash), for `fixed` to parse exactly as the general path does.
    #[cold]
    #[inline(never)]
    fn decimal_text(&mut self, start: usize) -> Option<Dec<'a>> {
        self.i = start;
        self.plain().map(Dec::Text)
    }

    #[inline(always)]
    fn price(&mut self) -> Option<Price> {
        match self.decimal()? {
            Dec::Raw(r) => Some(Price::from_raw(r)),
            Dec::Text(t) => fixed::price(t).ok(),
        }
    }

    #[inline(always)]
    fn qty(&mut self) -> Option<Qty> {
        match self.decimal()? {
            Dec::Raw(r) => Some(Qty::from_raw(r)),
            Dec::Text(t) => fixed::qty(t).ok(),
        }
    }

    /// `[]` or `[["D","D"],…]`, no whitespace: the span and pair count.
    fn levels(&mut self) -> Option<Levels<'a>> {
        let start = self.i;
        self.lit(b"[")?;
        let mut n: u32 = 0;
        if !self.eat(b"]") {
            loop {
                self.lit(b"[")?;
                self.price()?;
                self.lit(b",")?;
                self.qty()?;
                self.lit(b"]")?;
                n = n.checked_add(1)?;
                if self.eat(b"]") {
                    break;
                }
                self.lit(b",")?;
            }
        }
        Some(Levels::validated(self.b.get(start..self.i)?, n))
    }

    /// Only JSON whitespace is left.
    #[inline(always)]
    fn at_end(&self) -> bool {
        self.b
            .get(self.i..)
            .is_some_and(|r| r.iter().all(|&c| matches!(c, b' ' | b'\t' | b'\n' | b'\r')))
    }
}

/// One input in a venue layout → its envelope, or `None` (run the general
/// scanner).
#[inline]
pub(super) fn decode(input: &[u8]) -> Option<Envelope<'_>> {
    u32::try_from(input.len()).ok()?;
    let mut p = P { b: input, i: 0 };
    let env = if p.eat(b"{\"stream\":\"") {
        let stream = p.plain()?;
        p.lit(b",\"data\":")?;
        let message = payload(&mut p, Some(stream))?;
        p.lit(b"}")?;
        Envelope {
            stream: Some(stream),
            message,
        }
    } else {
        Envelope {
            stream: None,
            message: payload(&mut p, None)?,
        }
    };
    p.at_end().then_some(env)
}

/// A REST depth body in the venue layout, or `None`.
pub(super) fn snapshot(input: &[u8]) -> Option<DepthSnapshot<'_>> {
    u32::try_from(input.len()).ok()?;
    let mut p = P { b: input, i: 0 };
    p.lit(b"{\"lastUpdateId\":")?;
    let s = depth_snapshot(&mut p, None)?;
    p.at_end().then_some(s)
}

#[inline(always)]
fn payload<'a>(p: &mut P<'a>, stream: Option<&'a [u8]>) -> Option<Decoded<'a>> {
    if p.eat(b"{\"u\":") {
        book_ticker(p).map(Decoded::BookTicker)
    } else if p.eat(b"{\"e\":\"") {
        if p.eat(b"trade\",\"E\":") {
            trade(p).map(Decoded::Trade)
        } else if p.eat(b"depthUpdate\",\"E\":") {
            depth_update(p).map(Decoded::DepthUpdate)
        } else if p.eat(b"aggTrade\",\"E\":") {
            agg_trade(p).map(Decoded::AggTrade)
        } else {
            None
        }
    } else if p.eat(b"{\"lastUpdateId\":") {
        depth_snapshot(p, stream_symbol(stream)).map(Decoded::DepthSnapshot)
    } else {
        None
    }
}

/// After `{"u":`.
#[inline(always)]
fn book_ticker<'a>(p: &mut P<'a>) -> Option<BookTicker<'a>> {
    let update_id = p.uint()?;
    p.lit(b",\"s\":\"")?;
    let symbol = p.plain()?;
    p.lit(b",\"b\":")?;
    let bid_price = p.price()?;
    p.lit(b",\"B\":")?;
    let bid_qty = p.qty()?;
    p.lit(b",\"a\":")?;
    let ask_price = p.price()?;
    p.lit(b",\"A\":")?;
    let ask_qty = p.qty()?;
    p.lit(b"}")?;
    Some(BookTicker {
        symbol,
        update_id,
        bid_price,
        bid_qty,
        ask_price,
        ask_qty,
    })
}

/// After `{"e":"trade","E":`.
fn trade<'a>(p: &mut P<'a>) -> Option<TradeMsg<'a>> {
    let event_time_ms = p.uint()?;
    p.lit(b",\"s\":\"")?;
    let symbol = p.plain()?;
    p.lit(b",\"t\":")?;
    let trade_id = p.uint()?;
    p.lit(b",\"p\":")?;
    let price = p.price()?;
    p.lit(b",\"q\":")?;
    let qty = p.qty()?;
    if p.eat(b",\"b\":") {
        // Legacy buyer/seller order ids: read (and type-checked) by the
        // general path, not returned.
        p.uint()?;
        p.lit(b",\"a\":")?;
        p.uint()?;
    }
    p.lit(b",\"T\":")?;
    let trade_time_ms = p.uint()?;
    p.lit(b",\"m\":")?;
    let buyer_is_maker = p.boolean()?;
    p.lit(b",\"M\":")?;
    p.boolean()?;
    p.lit(b"}")?;
    Some(TradeMsg {
        symbol,
        event_time_ms,
        trade_id,
        price,
        qty,
        trade_time_ms,
        buyer_is_maker,
    })
}

/// After `{"e":"aggTrade","E":`.
fn agg_trade<'a>(p: &mut P<'a>) -> Option<AggTradeMsg<'a>> {
    let event_time_ms = p.uint()?;
    p.lit(b",\"s\":\"")?;
    let symbol = p.plain()?;
    p.lit(b",\"a\":")?;
    let agg_trade_id = p.uint()?;
    p.lit(b",\"p\":")?;
    let price = p.price()?;
    p.lit(b",\"q\":")?;
    let qty = p.qty()?;
    p.lit(b",\"f\":")?;
    let first_trade_id = p.uint()?;
    p.lit(b",\"l\":")?;
    let last_trade_id = p.uint()?;
    p.lit(b",\"T\":")?;
    let trade_time_ms = p.uint()?;
    p.lit(b",\"m\":")?;
    let buyer_is_maker = p.boolean()?;
    p.lit(b",\"M\":")?;
    p.boolean()?;
    p.lit(b"}")?;
    Some(AggTradeMsg {
        symbol,
        event_time_ms,
        agg_trade_id,
        price,
        qty,
        first_trade_id,
        last_trade_id,
        trade_time_ms,
        buyer_is_maker,
    })
}

/// After `{"e":"depthUpdate","E":`.
fn depth_update<'a>(p: &mut P<'a>) -> Option<DepthUpdate<'a>> {
    let event_time_ms = p.uint()?;
    p.lit(b",\"s\":\"")?;
    let symbol = p.plain()?;
    p.lit(b",\"U\":")?;
    let first_update_id = p.uint()?;
    p.lit(b",\"u\":")?;
    let last_update_id = p.uint()?;
    p.lit(b",\"b\":")?;
    let bids = p.levels()?;
    p.lit(b",\"a\":")?;
    let asks = p.levels()?;
    p.lit(b"}")?;
    Some(DepthUpdate {
        symbol,
        event_time_ms,
        first_update_id,
        last_update_id,
        bids,
        asks,
    })
}

/// After `{"lastUpdateId":`.
fn depth_snapshot<'a>(p: &mut P<'a>, symbol: Option<&'a [u8]>) -> Option<DepthSnapshot<'a>> {
    let last_update_id = p.uint()?;
    p.lit(b",\"bids\":")?;
    let bids = p.levels()?;
    p.lit(b",\"asks\":")?;
    let asks = p.levels()?;
    p.lit(b"}")?;
    Some(DepthSnapshot {
        symbol,
        last_update_id,
        bids,
        asks,
    })
}
