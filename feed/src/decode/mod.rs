//! # Venue message decoder: Binance Spot market-data JSON → fixed point
//!
//! Owns the zero-allocation scanner that turns one WebSocket text frame (or a
//! REST depth body) into a borrowed [`Decoded`] view with prices and
//! quantities as [`Price`](talon_core::num::Price) /
//! [`Qty`](talon_core::num::Qty) and ids and times as `u64`, plus the
//! conversions to `talon_core::event::MarketEvent`. It never allocates,
//! never panics on any input, never recurses without bound, never goes
//! through a float and never returns a number it did not read exactly: a
//! message it cannot decode exactly is a [`DecodeError`] (a small `Copy`
//! reason that the feed counts in [`DecodeCounters`] and skips).
//!
//! ## What it reads
//!
//! Any field order is accepted (the general scanner); the venue's own
//! layout takes a fast path with identical results (see "Fast path").
//!
//! | kind | recognised by | fields read |
//! |---|---|---|
//! | [`BookTicker`] | no `e` and a `u` (or `e`=`bookTicker`) | `u` `s` `b` `B` `a` `A` |
//! | [`TradeMsg`] | `e`=`trade` | `E` `s` `t` `p` `q` `T` `m` |
//! | [`AggTradeMsg`] | `e`=`aggTrade` | `E` `s` `a` `p` `q` `f` `l` `T` `m` |
//! | [`DepthUpdate`] | `e`=`depthUpdate` | `E` `s` `U` `u` `b` `a` |
//! | [`DepthSnapshot`] | no `e` and a `lastUpdateId` | `lastUpdateId` `bids` `asks` (+ symbol from the stream name) |
//! | [`ControlReply::Result`] | no `e` and a `result` | `result` (raw JSON), `id` |
//! | [`ControlReply::Error`] | no `e` and an `error` | `error.code`, `error.msg`, `id` |
//! | [`ControlReply::ServerShutdown`] | `e`=`serverShutdown` | `E` |
//!
//! Any other `e` is [`DecodeError::UnknownEvent`] (e.g. `kline`); an object
//! of no known shape is [`DecodeError::UnknownMessage`]. A combined-stream
//! wrapper `{"stream":…,"data":{…}}` is recognised by its `data` member, in
//! either key order: the payload object is scanned in the same pass into its
//! own slots and built once the whole wrapper (and so the stream name) has
//! been read.
//!
//! ## Rules (the differential test's reference implements the same)
//!
//! * The input must be exactly one JSON object (RFC 8259: strings, escapes,
//!   UTF-8, number grammar, literals and whitespace are all validated, also in
//!   skipped fields), with only whitespace after it.
//! * Field order does not matter; unknown fields of any type and nesting are
//!   skipped (nesting up to 100 levels); unknown fields may repeat.
//! * A field the decoder reads (any name in the table above, `stream`,
//!   `data`) appearing twice in one object is [`DecodeError::DuplicateKey`].
//!   Keys are compared after decoding escapes (`"\u0073"` is `s`).
//! * Prices and quantities are JSON strings in the grammar of
//!   `talon_core::num` (digits, optional `.` and digits, at most 8
//!   significant decimals, no sign, no exponent), parsed with
//!   `Price::parse_bytes` / `Qty::parse_bytes` behind an exact `u64` fast
//!   path for the venue's usual shape (`fixed.rs`, checked equal to
//!   `parse_bytes` by a property test). A JSON number there is
//!   [`DecodeError::WrongType`].
//! * Ids and times are JSON integers into `u64`: a sign, fraction or
//!   exponent is `WrongType`, more than `u64::MAX` is `NumberOverflow`.
//! * Strings the decoder returns or parses (symbol, stream, `e`, prices,
//!   quantities) must not contain escapes ([`DecodeError::EscapedString`]):
//!   the venue sends them as plain ASCII, and decoding an escape would need a
//!   copy. A control reply's `msg` and string `id` are returned raw.
//! * Depth levels are arrays of exactly two strings `[price, qty]`.
//! * Numbers in skipped fields (and in a raw `result`) are checked against
//!   the JSON grammar only; their magnitude is never evaluated, so `1e400`
//!   there is accepted (serde_json would refuse it as beyond `f64`).
//!
//! ## Fast path (venue layout)
//!
//! Binance, and the simulator, write each kind with the same keys in the
//! same order and no whitespace. [`decode`] first tries `venue.rs`, which
//! matches exactly these frames, keys compared as literal bytes in order:
//!
//! ```text
//! wrapper      {"stream":"…","data":<payload>}   or a bare <payload>
//! bookTicker   {"u":N,"s":"…","b":"D","B":"D","a":"D","A":"D"}
//! trade        {"e":"trade","E":N,"s":"…","t":N,"p":"D","q":"D"[,"b":N,"a":N],"T":N,"m":B,"M":B}
//! aggTrade     {"e":"aggTrade","E":N,"s":"…","a":N,"p":"D","q":"D","f":N,"l":N,"T":N,"m":B,"M":B}
//! depthUpdate  {"e":"depthUpdate","E":N,"s":"…","U":N,"u":N,"b":L,"a":L}
//! depth N/REST {"lastUpdateId":N,"bids":L,"asks":L}     (also in decode_snapshot)
//! followed only by JSON whitespace
//! ```
//!
//! Each value is read by a routine for the venue's one shape: `N` a JSON
//! integer (`0` or no leading zero) into `u64` without overflow, `D` a
//! decimal string (`digits.8 digits` computed in `u64` like `fixed.rs`,
//! anything else handed to the same `fixed::price`/`qty` the general path
//! calls), `"…"` a string of printable ASCII without `\`, `B`
//! `true`/`false`, `L` a levels array without whitespace.
//!
//! Results are identical by construction: the fast path never returns an
//! error, only `Some` (a full match) or `None`. It returns `Some` only when
//! the whole input is one of those layouts, and then every value is read
//! with the rules the general path applies to the same bytes; the keys are
//! fixed and distinct, so there is nothing to deduplicate or skip. On any
//! mismatch — other key order, whitespace, extra or missing fields, escapes,
//! non-ASCII, a sign, fraction or exponent in an id, a leading zero, an
//! overflowing id, a decimal `fixed` rejects (more than 8 decimals, out of
//! range), trailing bytes, a truncated frame — it declines, and the general
//! scanner below decides, with its own reason. `decode_venue_layout` and
//! `decode_general` expose the two halves; the tests check `Some` ⇒ equal to
//! the general result on fixtures, simulator frames and generated near
//! misses, and that the fast path fires on every fixture and simulator frame
//! of these kinds.
//!
//! ## Cost
//!
//! Venue layout: one pass of literal compares and digit loops (bookTicker
//! ≈ 50 ns, see `talon bench decode`). Otherwise: one forward pass over the
//! bytes with byte-level key matching; UTF-8 is checked only for strings
//! holding a non-ASCII byte; depth level arrays are validated during the
//! pass and parsed again when iterated.

mod error;
mod fields;
mod fixed;
mod message;
mod scan;
mod venue;

pub use error::{DecodeCounters, DecodeError};
pub use message::{
    AggTradeMsg, BookTicker, ControlReply, Decoded, DepthSnapshot, DepthUpdate, LevelEvents,
    Levels, LevelsIter, ReplyId, TradeMsg,
};

/// The byte-level JSON scanner (`scan.rs`), shared with the gateway's
/// response decoder: validates as it goes, hands out spans, never allocates.
pub use scan::{Cursor, RawStr};

use fields::Fields;

/// One decoded message and, for a combined-stream frame, its stream name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// `stream` of a `{"stream":…,"data":…}` wrapper (raw, e.g.
    /// `btcusdt@bookTicker`); `None` for a raw payload.
    pub stream: Option<&'a [u8]>,
    /// The payload.
    pub message: Decoded<'a>,
}

/// Checks the input's size and finds the top-level object's `{`.
#[inline]
fn open(input: &[u8]) -> Result<Cursor<'_>, DecodeError> {
    if u32::try_from(input.len()).is_err() {
        return Err(DecodeError::TooLarge);
    }
    let mut cur = Cursor::new(input);
    match cur.peek_ws() {
        None => Err(DecodeError::Empty),
        Some(b'{') => Ok(cur),
        Some(_) => Err(DecodeError::NotAnObject),
    }
}

/// Decodes one venue message: a raw stream payload, a combined-stream
/// wrapper, or a control reply. Never allocates; borrows `input`.
///
/// ```
/// use talon_feed::decode::{decode, Decoded};
/// let env = decode(br#"{"stream":"btcusdt@bookTicker","data":{"u":400900217,"s":"BTCUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}}"#)?;
/// assert_eq!(env.stream, Some(&b"btcusdt@bookTicker"[..]));
/// let Decoded::BookTicker(t) = env.message else { panic!() };
/// assert_eq!(t.update_id, 400900217);
/// assert_eq!(t.bid_price.to_string(), "25.3519");
/// # Ok::<(), talon_feed::decode::DecodeError>(())
/// ```
#[inline]
pub fn decode(input: &[u8]) -> Result<Envelope<'_>, DecodeError> {
    match venue::decode(input) {
        Some(env) => Ok(env),
        None => decode_general(input),
    }
}

/// The venue-layout fast path alone: `Some` for an input in one of the
/// exact layouts listed under "Fast path" above (then equal to what
/// [`decode_general`] returns), `None` for anything else. [`decode`] tries
/// this first; exposed for tests and benchmarks.
#[inline]
pub fn decode_venue_layout(input: &[u8]) -> Option<Envelope<'_>> {
    venue::decode(input)
}

/// The general scanner alone (any key order, whitespace, extra fields; every
/// rejection with its reason). [`decode`] runs it when the fast path
/// declines; exposed for tests and benchmarks.
#[inline(never)]
pub fn decode_general(input: &[u8]) -> Result<Envelope<'_>, DecodeError> {
    let mut cur = open(input)?;
    let mut top = Fields::new(input);
    let mut data = Fields::new(input);
    fields::scan_object(&mut cur, &mut top, Some(&mut data))?;
    if !cur.at_end_ws() {
        return Err(DecodeError::TrailingData);
    }
    match fields::wrapper_stream(&top)? {
        Some(stream) => Ok(Envelope {
            stream: Some(stream),
            message: fields::build(&data, Some(stream))?,
        }),
        None => Ok(Envelope {
            stream: None,
            message: fields::build(&top, None)?,
        }),
    }
}

/// Decodes a REST `GET /api/v3/depth` body
/// (`{"lastUpdateId":…,"bids":[…],"asks":[…]}`); the snapshot's `symbol` is
/// `None` (the caller knows what it asked for).
pub fn decode_snapshot(input: &[u8]) -> Result<DepthSnapshot<'_>, DecodeError> {
    if let Some(s) = venue::snapshot(input) {
        return Ok(s);
    }
    let mut cur = open(input)?;
    let mut f = Fields::new(input);
    fields::scan_object(&mut cur, &mut f, None)?;
    if !cur.at_end_ws() {
        return Err(DecodeError::TrailingData);
    }
    fields::snapshot(&f, None)
}

#[cfg(test)]
mod tests;
