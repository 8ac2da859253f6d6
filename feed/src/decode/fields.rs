//! One forward pass over a message object into fixed slots, then the
//! message built from the slots once its kind is known.
//!
//! Owns the key table (every field name any decoded kind reads), the slot
//! array (`[Slot; KEYS]`, a few hundred bytes on the stack: spans into the
//! input, no copies) and the per-kind builders. The pass is independent of
//! field order: a kind is decided only after the whole object was read, so
//! `e` (or a wrapper's `stream`) may come last. Fields not in the table are
//! skipped (validated, any type, any nesting). A table field seen twice in one
//! object is [`DecodeError::DuplicateKey`]: the venue never sends one, and
//! "first wins" or "last wins" would each silently pick a number.
//!
//! Never allocates, never panics, never recurses beyond the one level of a
//! combined-stream wrapper's `data`.

use talon_core::num::{Price, Qty};

use super::error::DecodeError;
use super::fixed;
use super::message::{
    AggTradeMsg, BookTicker, ControlReply, Decoded, DepthSnapshot, DepthUpdate, Levels, ReplyId,
    TradeMsg,
};
use super::scan::{Cursor, unescape_ascii_key};

/// Field names the decoder reads. `Stream` and `Data` only at the top level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Key {
    /// `e`: event type.
    EvType,
    /// `E`: event time.
    EvTime,
    /// `s`: symbol.
    Sym,
    /// `u`: (last) update id.
    LowU,
    /// `U`: first update id.
    UpU,
    /// `b`: bid price, bid levels, or (old trades) buyer order id.
    LowB,
    /// `B`: bid qty.
    UpB,
    /// `a`: ask price, ask levels, agg trade id, or (old trades) seller order id.
    LowA,
    /// `A`: ask qty.
    UpA,
    /// `t`: trade id.
    LowT,
    /// `T`: trade time.
    UpT,
    /// `p`: price.
    P,
    /// `q`: quantity.
    Q,
    /// `m`: buyer is maker.
    M,
    /// `f`: first trade id.
    F,
    /// `l`: last trade id.
    L,
    /// `lastUpdateId`.
    LastUpdateId,
    /// `bids`.
    Bids,
    /// `asks`.
    Asks,
    /// `result`.
    Result,
    /// `id`.
    Id,
    /// `error`.
    Error,
    /// `stream` (wrapper).
    Stream,
    /// `data` (wrapper).
    Data,
}

const KEYS: usize = Key::Data as usize + 1;

impl Key {
    #[inline]
    fn lookup(k: &[u8], top: bool) -> Option<Key> {
        Some(match k {
            [c] => match c {
                b'e' => Key::EvType,
                b'E' => Key::EvTime,
                b's' => Key::Sym,
                b'u' => Key::LowU,
                b'U' => Key::UpU,
                b'b' => Key::LowB,
                b'B' => Key::UpB,
                b'a' => Key::LowA,
                b'A' => Key::UpA,
                b't' => Key::LowT,
                b'T' => Key::UpT,
                b'p' => Key::P,
                b'q' => Key::Q,
                b'm' => Key::M,
                b'f' => Key::F,
                b'l' => Key::L,
                _ => return None,
            },
            b"lastUpdateId" => Key::LastUpdateId,
            b"bids" => Key::Bids,
            b"asks" => Key::Asks,
            b"result" => Key::Result,
            b"id" => Key::Id,
            b"error" => Key::Error,
            b"stream" if top => Key::Stream,
            b"data" if top => Key::Data,
            _ => return None,
        })
    }

    /// Keys whose array value is read as depth levels.
    #[inline]
    fn holds_levels(self) -> bool {
        matches!(self, Key::LowB | Key::LowA | Key::Bids | Key::Asks)
    }
}

/// JSON type of a slot's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Kind {
    #[default]
    Absent,
    /// A string without escapes.
    Str,
    /// A string with at least one escape.
    StrEsc,
    Num,
    True,
    False,
    Null,
    Arr,
    Obj,
    /// An array validated as depth levels; `aux` = count.
    Levels,
    /// An array under a levels key that is not valid levels; `aux` = reason.
    BadLevels,
}

/// One field's value: its type and its span in the input (strings include
/// their quotes).
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    kind: Kind,
    aux: u32,
    start: u32,
    end: u32,
}

/// The slots of one object.
#[derive(Debug)]
pub(super) struct Fields<'a> {
    buf: &'a [u8],
    slots: [Slot; KEYS],
}

impl<'a> Fields<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            slots: [Slot::default(); KEYS],
        }
    }

    #[inline]
    fn slot(&self, k: Key) -> Slot {
        self.slots.get(k as usize).copied().unwrap_or_default()
    }

    #[inline]
    fn has(&self, k: Key) -> bool {
        self.slot(k).kind != Kind::Absent
    }

    #[inline]
    fn span(&self, s: Slot) -> &'a [u8] {
        self.buf
            .get(s.start as usize..s.end as usize)
            .unwrap_or_default()
    }

    /// The text between the quotes of a string slot.
    #[inline]
    fn content(&self, s: Slot) -> &'a [u8] {
        self.buf
            .get(s.start as usize + 1..(s.end as usize).saturating_sub(1))
            .unwrap_or_default()
    }

    /// A string returned or parsed as is: no escapes.
    #[inline]
    fn plain_str(&self, k: Key) -> Result<&'a [u8], DecodeError> {
        let s = self.slot(k);
        match s.kind {
            Kind::Str => Ok(self.content(s)),
            Kind::StrEsc => Err(DecodeError::EscapedString),
            Kind::Absent => Err(DecodeError::MissingField),
            _ => Err(DecodeError::WrongType),
        }
    }

    #[inline]
    fn price(&self, k: Key) -> Result<Price, DecodeError> {
        fixed::price(self.plain_str(k)?)
    }

    #[inline]
    fn qty(&self, k: Key) -> Result<Qty, DecodeError> {
        fixed::qty(self.plain_str(k)?)
    }

    #[inline]
    fn u64(&self, k: Key) -> Result<u64, DecodeError> {
        let s = self.slot(k);
        match s.kind {
            Kind::Num => parse_u64(self.span(s)),
            Kind::Absent => Err(DecodeError::MissingField),
            _ => Err(DecodeError::WrongType),
        }
    }

    #[inline]
    fn bool(&self, k: Key) -> Result<bool, DecodeError> {
        match self.slot(k).kind {
            Kind::True => Ok(true),
            Kind::False => Ok(false),
            Kind::Absent => Err(DecodeError::MissingField),
            _ => Err(DecodeError::WrongType),
        }
    }

    fn levels(&self, k: Key) -> Result<Levels<'a>, DecodeError> {
        let s = self.slot(k);
        match s.kind {
            Kind::Levels => Ok(Levels::validated(self.span(s), s.aux)),
            Kind::BadLevels => Err(u8::try_from(s.aux)
                .ok()
                .and_then(DecodeError::from_u8)
                .unwrap_or(DecodeError::BadLevel)),
            Kind::Absent => Err(DecodeError::MissingField),
            _ => Err(DecodeError::WrongType),
        }
    }

    fn reply_id(&self) -> Result<ReplyId<'a>, DecodeError> {
        let s = self.slot(Key::Id);
        match s.kind {
            Kind::Absent => Ok(ReplyId::Absent),
            Kind::Null => Ok(ReplyId::Null),
            Kind::Num => parse_i64(self.span(s)).map(ReplyId::Int),
            Kind::Str | Kind::StrEsc => Ok(ReplyId::Str(self.content(s))),
            _ => Err(DecodeError::WrongType),
        }
    }
}

/// A validated JSON number as `u64`: a negative, fractional or exponent form
/// is `WrongType`, more than `u64::MAX` is `NumberOverflow`.
#[inline]
fn parse_u64(text: &[u8]) -> Result<u64, DecodeError> {
    let mut v: u64 = 0;
    for &b in text {
        let d = match b {
            b'0'..=b'9' => u64::from(b - b'0'),
            _ => return Err(DecodeError::WrongType),
        };
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(d))
            .ok_or(DecodeError::NumberOverflow)?;
    }
    if text.is_empty() {
        return Err(DecodeError::WrongType);
    }
    Ok(v)
}

/// A validated JSON number as `i64` (integers only).
fn parse_i64(text: &[u8]) -> Result<i64, DecodeError> {
    let (neg, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return Err(DecodeError::WrongType);
    }
    let mut v: i64 = 0;
    for &b in digits {
        let d = match b {
            b'0'..=b'9' => i64::from(b - b'0'),
            _ => return Err(DecodeError::WrongType),
        };
        // Accumulate negatively so i64::MIN is reachable.
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_sub(d))
            .ok_or(DecodeError::NumberOverflow)?;
    }
    if neg {
        Ok(v)
    } else {
        v.checked_neg().ok_or(DecodeError::NumberOverflow)
    }
}

/// Reads `[["p","q"], …]` at the cursor; returns the pair count. Any
/// failure (structural or semantic) is reported; the caller re-validates
/// the span as plain JSON to tell the two apart.
fn parse_levels(cur: &mut Cursor<'_>) -> Result<u32, DecodeError> {
    cur.expect_ws(b'[')?;
    let mut n: u32 = 0;
    if cur.peek_ws() == Some(b']') {
        cur.set_pos(cur.pos() + 1);
        return Ok(0);
    }
    loop {
        cur.expect_ws(b'[')?;
        cur.skip_ws();
        let p = cur.string()?;
        cur.expect_ws(b',')?;
        cur.skip_ws();
        let q = cur.string()?;
        cur.expect_ws(b']')?;
        if p.escaped || q.escaped {
            return Err(DecodeError::EscapedString);
        }
        fixed::price(p.raw)?;
        fixed::qty(q.raw)?;
        n = n.checked_add(1).ok_or(DecodeError::TooLarge)?;
        cur.skip_ws();
        match cur.peek() {
            Some(b',') => cur.set_pos(cur.pos() + 1),
            Some(b']') => {
                cur.set_pos(cur.pos() + 1);
                return Ok(n);
            }
            _ => return Err(DecodeError::Malformed),
        }
    }
}

/// Reads one value into a slot; the cursor is on its first byte.
#[inline]
fn read_value(cur: &mut Cursor<'_>, key: Key) -> Result<Slot, DecodeError> {
    let start = cur.pos();
    let (kind, aux) = match cur.peek() {
        Some(b'"') => {
            let s = cur.string()?;
            (if s.escaped { Kind::StrEsc } else { Kind::Str }, 0)
        }
        Some(b'-' | b'0'..=b'9') => {
            cur.number()?;
            (Kind::Num, 0)
        }
        Some(b't') => {
            cur.literal(b"true")?;
            (Kind::True, 0)
        }
        Some(b'f') => {
            cur.literal(b"false")?;
            (Kind::False, 0)
        }
        Some(b'n') => {
            cur.literal(b"null")?;
            (Kind::Null, 0)
        }
        Some(b'[') if key.holds_levels() => match parse_levels(cur) {
            Ok(n) => (Kind::Levels, n),
            Err(e) => {
                // Valid JSON but not levels → the reason; invalid JSON → the
                // syntax error from the plain skip.
                cur.set_pos(start);
                cur.skip_value()?;
                let reason = match e {
                    DecodeError::BadDecimal
                    | DecodeError::TooManyDecimals
                    | DecodeError::EscapedString
                    | DecodeError::TooLarge => e,
                    _ => DecodeError::BadLevel,
                };
                (Kind::BadLevels, u32::from(reason as u8))
            }
        },
        Some(b'[') => {
            cur.skip_value()?;
            (Kind::Arr, 0)
        }
        Some(b'{') => {
            cur.skip_value()?;
            (Kind::Obj, 0)
        }
        _ => return Err(DecodeError::Malformed),
    };
    Ok(Slot {
        kind,
        aux,
        start: start as u32,
        end: cur.pos() as u32,
    })
}

/// Scans one object (cursor on `{`) into `f`. With `data = Some(..)` this is
/// the top level: `stream` is a field and an object under `data` is scanned
/// into `data` in the same pass.
pub(super) fn scan_object<'a>(
    cur: &mut Cursor<'a>,
    f: &mut Fields<'a>,
    mut data: Option<&mut Fields<'a>>,
) -> Result<(), DecodeError> {
    cur.expect_ws(b'{')?;
    if cur.peek_ws() == Some(b'}') {
        cur.set_pos(cur.pos() + 1);
        return Ok(());
    }
    let top = data.is_some();
    loop {
        cur.skip_ws();
        let k = cur.string()?;
        let key = if k.escaped {
            let mut tmp = [0u8; 16];
            unescape_ascii_key(k.raw, &mut tmp)
                .and_then(|n| tmp.get(..n))
                .and_then(|kk| Key::lookup(kk, top))
        } else {
            Key::lookup(k.raw, top)
        };
        cur.expect_ws(b':')?;
        cur.skip_ws();
        match key {
            None => cur.skip_value()?,
            Some(key) => {
                let idx = key as usize;
                if f.slots.get(idx).is_some_and(|s| s.kind != Kind::Absent) {
                    return Err(DecodeError::DuplicateKey);
                }
                let slot = match (key, data.as_deref_mut()) {
                    (Key::Data, Some(d)) if cur.peek() == Some(b'{') => {
                        let start = cur.pos();
                        scan_object(cur, d, None)?;
                        Slot {
                            kind: Kind::Obj,
                            aux: 0,
                            start: start as u32,
                            end: cur.pos() as u32,
                        }
                    }
                    _ => read_value(cur, key)?,
                };
                if let Some(s) = f.slots.get_mut(idx) {
                    *s = slot;
                }
            }
        }
        cur.skip_ws();
        match cur.peek() {
            Some(b',') => cur.set_pos(cur.pos() + 1),
            Some(b'}') => {
                cur.set_pos(cur.pos() + 1);
                return Ok(());
            }
            _ => return Err(DecodeError::Malformed),
        }
    }
}

/// After the top-level scan: the stream name of a combined-stream wrapper
/// (`Some` when the top level has `data`), validated.
pub(super) fn wrapper_stream<'a>(top: &Fields<'a>) -> Result<Option<&'a [u8]>, DecodeError> {
    let d = top.slot(Key::Data);
    match d.kind {
        Kind::Absent => Ok(None),
        Kind::Obj => top.plain_str(Key::Stream).map(Some),
        _ => Err(DecodeError::NotAnObject),
    }
}

/// Builds the message of a payload object whose fields are in `f`.
/// `stream` is the wrapper's stream name, if any (it names the symbol of a
/// partial depth payload).
#[inline]
pub(super) fn build<'a>(
    f: &Fields<'a>,
    stream: Option<&'a [u8]>,
) -> Result<Decoded<'a>, DecodeError> {
    let e = f.slot(Key::EvType);
    match e.kind {
        Kind::Str => match f.content(e) {
            b"trade" => trade(f).map(Decoded::Trade),
            b"aggTrade" => agg_trade(f).map(Decoded::AggTrade),
            b"depthUpdate" => depth_update(f).map(Decoded::DepthUpdate),
            b"bookTicker" => book_ticker(f).map(Decoded::BookTicker),
            b"serverShutdown" => Ok(Decoded::Control(ControlReply::ServerShutdown {
                event_time_ms: f.u64(Key::EvTime)?,
            })),
            _ => Err(DecodeError::UnknownEvent),
        },
        Kind::StrEsc => Err(DecodeError::EscapedString),
        Kind::Absent => {
            if f.has(Key::LastUpdateId) {
                snapshot(f, stream_symbol(stream)).map(Decoded::DepthSnapshot)
            } else if f.has(Key::Result) {
                let r = f.slot(Key::Result);
                Ok(Decoded::Control(ControlReply::Result {
                    id: f.reply_id()?,
                    result: f.span(r),
                }))
            } else if f.has(Key::Error) {
                control_error(f).map(Decoded::Control)
            } else if f.has(Key::LowU) {
                book_ticker(f).map(Decoded::BookTicker)
            } else {
                Err(DecodeError::UnknownMessage)
            }
        }
        _ => Err(DecodeError::WrongType),
    }
}

/// `btcusdt` of `btcusdt@depth20@100ms`; `None` without a non-empty prefix
/// before an `@`.
pub(super) fn stream_symbol(stream: Option<&[u8]>) -> Option<&[u8]> {
    let s = stream?;
    let at = s.iter().position(|&b| b == b'@')?;
    s.get(..at).filter(|p| !p.is_empty())
}

#[inline]
fn book_ticker<'a>(f: &Fields<'a>) -> Result<BookTicker<'a>, DecodeError> {
    Ok(BookTicker {
        symbol: f.plain_str(Key::Sym)?,
        update_id: f.u64(Key::LowU)?,
        bid_price: f.price(Key::LowB)?,
        bid_qty: f.qty(Key::UpB)?,
        ask_price: f.price(Key::LowA)?,
        ask_qty: f.qty(Key::UpA)?,
    })
}

fn trade<'a>(f: &Fields<'a>) -> Result<TradeMsg<'a>, DecodeError> {
    Ok(TradeMsg {
        symbol: f.plain_str(Key::Sym)?,
        event_time_ms: f.u64(Key::EvTime)?,
        trade_id: f.u64(Key::LowT)?,
        price: f.price(Key::P)?,
        qty: f.qty(Key::Q)?,
        trade_time_ms: f.u64(Key::UpT)?,
        buyer_is_maker: f.bool(Key::M)?,
    })
}

fn agg_trade<'a>(f: &Fields<'a>) -> Result<AggTradeMsg<'a>, DecodeError> {
    Ok(AggTradeMsg {
        symbol: f.plain_str(Key::Sym)?,
        event_time_ms: f.u64(Key::EvTime)?,
        agg_trade_id: f.u64(Key::LowA)?,
        price: f.price(Key::P)?,
        qty: f.qty(Key::Q)?,
        first_trade_id: f.u64(Key::F)?,
        last_trade_id: f.u64(Key::L)?,
        trade_time_ms: f.u64(Key::UpT)?,
        buyer_is_maker: f.bool(Key::M)?,
    })
}

fn depth_update<'a>(f: &Fields<'a>) -> Result<DepthUpdate<'a>, DecodeError> {
    Ok(DepthUpdate {
        symbol: f.plain_str(Key::Sym)?,
        event_time_ms: f.u64(Key::EvTime)?,
        first_update_id: f.u64(Key::UpU)?,
        last_update_id: f.u64(Key::LowU)?,
        bids: f.levels(Key::LowB)?,
        asks: f.levels(Key::LowA)?,
    })
}

pub(super) fn snapshot<'a>(
    f: &Fields<'a>,
    symbol: Option<&'a [u8]>,
) -> Result<DepthSnapshot<'a>, DecodeError> {
    Ok(DepthSnapshot {
        symbol,
        last_update_id: f.u64(Key::LastUpdateId)?,
        bids: f.levels(Key::Bids)?,
        asks: f.levels(Key::Asks)?,
    })
}

/// `{"error":{"code":…,"msg":…},"id":…}`: `code` (int64) and `msg` (string)
/// are required; other members of `error` are skipped.
fn control_error<'a>(f: &Fields<'a>) -> Result<ControlReply<'a>, DecodeError> {
    let s = f.slot(Key::Error);
    if s.kind != Kind::Obj {
        return Err(DecodeError::WrongType);
    }
    let id = f.reply_id()?;
    let mut cur = Cursor::new(f.buf);
    cur.set_pos(s.start as usize);
    cur.expect_ws(b'{')?;
    let mut code: Option<i64> = None;
    let mut msg: Option<&'a [u8]> = None;
    if cur.peek_ws() == Some(b'}') {
        return Err(DecodeError::MissingField);
    }
    loop {
        cur.skip_ws();
        let k = cur.string()?;
        cur.expect_ws(b':')?;
        cur.skip_ws();
        let mut tmp = [0u8; 16];
        let name = if k.escaped {
            unescape_ascii_key(k.raw, &mut tmp).and_then(|n| tmp.get(..n))
        } else {
            Some(k.raw)
        };
        match name {
            Some(b"code") => {
                if code.is_some() {
                    return Err(DecodeError::DuplicateKey);
                }
                if !matches!(cur.peek(), Some(b'-' | b'0'..=b'9')) {
                    cur.skip_value()?;
                    return Err(DecodeError::WrongType);
                }
                code = Some(parse_i64(cur.number()?)?);
            }
            Some(b"msg") => {
                if msg.is_some() {
                    return Err(DecodeError::DuplicateKey);
                }
                if cur.peek() != Some(b'"') {
                    return Err(DecodeError::WrongType);
                }
                msg = Some(cur.string()?.raw);
            }
            _ => cur.skip_value()?,
        }
        cur.skip_ws();
        match cur.peek() {
            Some(b',') => cur.set_pos(cur.pos() + 1),
            Some(b'}') => break,
            _ => return Err(DecodeError::Malformed),
        }
    }
    match (code, msg) {
        (Some(code), Some(msg)) => Ok(ControlReply::Error { id, code, msg }),
        _ => Err(DecodeError::MissingField),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_exact_with_overflow_detection() {
        assert_eq!(parse_u64(b"0"), Ok(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_u64(b"18446744073709551616"),
            Err(DecodeError::NumberOverflow)
        );
        assert_eq!(parse_u64(b"-1"), Err(DecodeError::WrongType));
        assert_eq!(parse_u64(b"1.0"), Err(DecodeError::WrongType));
        assert_eq!(parse_u64(b"1e3"), Err(DecodeError::WrongType));
        assert_eq!(parse_i64(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(
            parse_i64(b"9223372036854775808"),
            Err(DecodeError::NumberOverflow)
        );
        assert_eq!(parse_i64(b"-"), Err(DecodeError::WrongType));
    }

    #[test]
    fn stream_symbol_is_the_prefix() {
        assert_eq!(
            stream_symbol(Some(b"btcusdt@depth20@100ms")),
            Some(&b"btcusdt"[..])
        );
        assert_eq!(stream_symbol(Some(b"@depth")), None);
        assert_eq!(stream_symbol(Some(b"nodepth")), None);
        assert_eq!(stream_symbol(None), None);
    }
}
