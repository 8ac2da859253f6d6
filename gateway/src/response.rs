//! # WS API inbound decoding: responses and user-data events, zero allocation
//!
//! Owns [`decode_inbound`], which turns one text frame received on a
//! Binance WebSocket API connection into a borrowed [`Inbound`] view, and
//! the helpers that read what a response's raw `result` holds: an order
//! report ([`decode_order_result`], [`OrderResults`] for the arrays of
//! `openOrders.status` / `openOrders.cancelAll`, [`Fills`] of a `FULL`
//! `order.place`), the `time` result ([`decode_server_time`]) and
//! `exchangeInfo`'s rate limits ([`decode_exchange_rate_limits`]). It never
//! allocates, never panics on any input, never recurses without bound (the
//! feed's validated scanner, `talon_feed::decode::Cursor`, walks skipped
//! values with a bounded bit stack) and never goes through a float: prices
//! and quantities are `Price`/`Qty` parsed exactly, ids and times integers.
//! A frame it cannot decode is a small `Copy` [`ResponseError`] the gateway
//! counts by reason in [`ResponseCounters`].
//!
//! ## What a frame may be
//!
//! | shape | decoded as |
//! |---|---|
//! | `{"id":…,"status":…,"result"\|"error":…,"rateLimits":[…],"retryAfter":…}` | [`Inbound::Response`] |
//! | `{"subscriptionId":n,"event":{"e":"executionReport",…}}` | [`Inbound::Execution`] |
//! | `… "e":"outboundAccountPosition"` / `"balanceUpdate"` | [`Inbound::AccountPosition`] / [`Inbound::BalanceUpdate`] (counted, not forwarded) |
//! | `{"event":{"e":"serverShutdown"\|"eventStreamTerminated",…}}` | [`Inbound::SessionEvent`] |
//! | any other `e` (`listStatus`, `externalLockUpdate`, …) | [`Inbound::OtherEvent`] with its name |
//! | legacy `{"stream":…,"data":{event}}` (the retired listenKey stream) or a bare `{"e":…}` event (old captures) | decoded like the `event` wrapper |
//!
//! ## Rules
//!
//! * The frame must be exactly one JSON object (fully validated, also in
//!   skipped fields), with only whitespace after it. Field order does not
//!   matter; unknown fields of any type are skipped; a field this decoder
//!   reads appearing twice in one object is [`ResponseError::DuplicateKey`].
//!   Keys are compared as raw bytes: an escaped key (`"\u0073"`) never
//!   matches a known field (the venue never escapes keys) and is skipped.
//! * `id`: Talon sends integer ids, so [`Response::id`] is `Some` only for a
//!   non-negative JSON integer. A string id (other clients, the doc
//!   examples) is returned raw in [`Response::id_text`] with `id: None`;
//!   `null` or a missing id (e.g. the venue's unsolicited `-2015` when a key
//!   is revoked) gives both `None`. A negative or fractional id is
//!   [`ResponseError::WrongType`].
//! * Integers: no sign (except where the venue sends `-1`: `t`, error
//!   `code`), fraction or exponent (`WrongType`), in range (`NumberOverflow`).
//! * Prices/quantities are JSON strings parsed by `Price::parse_bytes` /
//!   `Qty::parse_bytes` (at most 8 decimals, no sign); anything else is
//!   `BadDecimal`. Strings returned as identifiers (symbol, enums, assets)
//!   must be unescaped (`EscapedString`); an error `msg` and a string `id`
//!   are returned raw, escapes and all.
//! * executionReport: `N` may be `null`, `C` may be `""` (both mean "none");
//!   `t` = -1 means "not a trade". Required: `e E s c S x X i l z L n T t`.
//! * A `rateLimits` array holds at most [`RateLimits::CAPACITY`] entries
//!   ([`ResponseError::TooManyEntries`] beyond that).

use talon_core::event::{
    ClientOrderId, ExecReport, FeeAsset, OrderStatus, OrderType, Side, Stamps,
};
use talon_core::instrument::InstrumentId;
use talon_core::num::{Price, Qty};
use talon_feed::decode::{Cursor, DecodeError, RawStr};

// ---------------------------------------------------------------------------
// Errors and counters
// ---------------------------------------------------------------------------

/// Why an inbound frame (or a `result` helper's input) was not decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[repr(u8)]
pub enum ResponseError {
    /// Empty or whitespace-only input.
    #[error("empty frame")]
    Empty = 0,
    /// Not valid JSON (syntax, truncation, bad escape, control byte).
    #[error("malformed JSON")]
    Malformed = 1,
    /// Non-whitespace after the top-level value.
    #[error("trailing data")]
    TrailingData = 2,
    /// The value (or a wrapper's payload) is not an object where one is due.
    #[error("not a JSON object")]
    NotAnObject = 3,
    /// Nesting deeper than the scanner's bound.
    #[error("nesting too deep")]
    TooDeep = 4,
    /// A string is not UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8 = 5,
    /// Input larger than 4 GiB.
    #[error("frame too large")]
    TooLarge = 6,
    /// An escape in a string returned as an identifier or parsed as a number.
    #[error("escape in an identifier or decimal string")]
    EscapedString = 7,
    /// A field this decoder reads appears twice in one object.
    #[error("duplicate field")]
    DuplicateKey = 8,
    /// A required field is missing.
    #[error("required field missing")]
    MissingField = 9,
    /// A field has the wrong JSON type or integer shape.
    #[error("field has the wrong type")]
    WrongType = 10,
    /// An integer does not fit its type.
    #[error("integer out of range")]
    NumberOverflow = 11,
    /// A price/quantity string is not an exact 8-decimal value.
    #[error("invalid decimal")]
    BadDecimal = 12,
    /// A client order id breaks the venue's `[.A-Z:/a-z0-9_-]{1,36}`.
    #[error("invalid client order id")]
    BadClientOrderId = 13,
    /// An enum string (side, status, execution type, interval…) unknown here.
    #[error("unknown enum value")]
    UnknownEnum = 14,
    /// An object of no known shape.
    #[error("unknown message")]
    UnknownMessage = 15,
    /// An order-list report where an order report was expected.
    #[error("order list report, not an order")]
    OrderList = 16,
    /// More entries than the fixed array holds.
    #[error("too many entries")]
    TooManyEntries = 17,
}

impl ResponseError {
    /// Every reason, in discriminant order (`ALL[i] as usize == i`).
    pub const ALL: &'static [ResponseError] = &[
        ResponseError::Empty,
        ResponseError::Malformed,
        ResponseError::TrailingData,
        ResponseError::NotAnObject,
        ResponseError::TooDeep,
        ResponseError::InvalidUtf8,
        ResponseError::TooLarge,
        ResponseError::EscapedString,
        ResponseError::DuplicateKey,
        ResponseError::MissingField,
        ResponseError::WrongType,
        ResponseError::NumberOverflow,
        ResponseError::BadDecimal,
        ResponseError::BadClientOrderId,
        ResponseError::UnknownEnum,
        ResponseError::UnknownMessage,
        ResponseError::OrderList,
        ResponseError::TooManyEntries,
    ];

    /// Number of reasons.
    pub const COUNT: usize = ResponseError::ALL.len();

    /// A stable snake_case name for metrics and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResponseError::Empty => "empty",
            ResponseError::Malformed => "malformed",
            ResponseError::TrailingData => "trailing_data",
            ResponseError::NotAnObject => "not_an_object",
            ResponseError::TooDeep => "too_deep",
            ResponseError::InvalidUtf8 => "invalid_utf8",
            ResponseError::TooLarge => "too_large",
            ResponseError::EscapedString => "escaped_string",
            ResponseError::DuplicateKey => "duplicate_key",
            ResponseError::MissingField => "missing_field",
            ResponseError::WrongType => "wrong_type",
            ResponseError::NumberOverflow => "number_overflow",
            ResponseError::BadDecimal => "bad_decimal",
            ResponseError::BadClientOrderId => "bad_client_order_id",
            ResponseError::UnknownEnum => "unknown_enum",
            ResponseError::UnknownMessage => "unknown_message",
            ResponseError::OrderList => "order_list",
            ResponseError::TooManyEntries => "too_many_entries",
        }
    }

    /// Index into per-reason arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    fn from_scan(e: DecodeError) -> ResponseError {
        match e {
            DecodeError::Empty => ResponseError::Empty,
            DecodeError::TrailingData => ResponseError::TrailingData,
            DecodeError::NotAnObject => ResponseError::NotAnObject,
            DecodeError::TooDeep => ResponseError::TooDeep,
            DecodeError::InvalidUtf8 => ResponseError::InvalidUtf8,
            DecodeError::TooLarge => ResponseError::TooLarge,
            // The scanner itself only reports the reasons above and
            // `Malformed`; anything else would be a syntax failure too.
            _ => ResponseError::Malformed,
        }
    }
}

impl From<DecodeError> for ResponseError {
    fn from(e: DecodeError) -> Self {
        ResponseError::from_scan(e)
    }
}

/// Per-reason counts of rejected frames. Plain `u64`s owned by the gateway
/// thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseCounters {
    by_reason: [u64; ResponseError::COUNT],
}

impl ResponseCounters {
    /// All zero.
    pub const fn new() -> Self {
        Self {
            by_reason: [0; ResponseError::COUNT],
        }
    }

    /// Counts one rejection.
    #[inline]
    pub fn record(&mut self, reason: ResponseError) {
        if let Some(c) = self.by_reason.get_mut(reason.index()) {
            *c = c.saturating_add(1);
        }
    }

    /// Rejections for `reason`.
    pub fn get(&self, reason: ResponseError) -> u64 {
        self.by_reason.get(reason.index()).copied().unwrap_or(0)
    }

    /// All rejections.
    pub fn total(&self) -> u64 {
        self.by_reason
            .iter()
            .fold(0u64, |a, &b| a.saturating_add(b))
    }
}

// ---------------------------------------------------------------------------
// Generic field scanning
// ---------------------------------------------------------------------------

/// A field's value as found: spans of the input, nothing copied.
#[derive(Clone, Copy, Debug, Default)]
enum Val<'a> {
    #[default]
    Absent,
    Str(RawStr<'a>),
    Num(&'a [u8]),
    Bool,
    Null,
    Obj(&'a [u8]),
    Arr(&'a [u8]),
    /// An object scanned in place into the nested slots.
    Nested,
}

impl<'a> Val<'a> {
    fn is_absent(&self) -> bool {
        matches!(self, Val::Absent)
    }
}

fn open(input: &[u8]) -> Result<Cursor<'_>, ResponseError> {
    if u32::try_from(input.len()).is_err() {
        return Err(ResponseError::TooLarge);
    }
    let mut cur = Cursor::new(input);
    match cur.peek_ws() {
        None => Err(ResponseError::Empty),
        Some(b'{') => Ok(cur),
        Some(_) => Err(ResponseError::NotAnObject),
    }
}

/// Reads one value (cursor on its first byte).
fn read_value<'a>(cur: &mut Cursor<'a>) -> Result<Val<'a>, ResponseError> {
    match cur.peek() {
        Some(b'"') => Ok(Val::Str(cur.string()?)),
        Some(b'-' | b'0'..=b'9') => Ok(Val::Num(cur.number()?)),
        Some(b't') => cur.literal(b"true").map(|()| Val::Bool).map_err(Into::into),
        Some(b'f') => cur
            .literal(b"false")
            .map(|()| Val::Bool)
            .map_err(Into::into),
        Some(b'n') => cur.literal(b"null").map(|()| Val::Null).map_err(Into::into),
        Some(open @ (b'{' | b'[')) => {
            let start = cur.pos();
            cur.skip_value()?;
            let span = cur.slice(start, cur.pos());
            Ok(if open == b'{' {
                Val::Obj(span)
            } else {
                Val::Arr(span)
            })
        }
        _ => Err(ResponseError::Malformed),
    }
}

/// Which keys of an object nest (scanned in place) and the slots they fill.
type Nest<'s, 'a, const N: usize> = (fn(usize) -> bool, &'s mut [Val<'a>; N]);

/// Scans one object (cursor before its `{`): every key `key_of` knows is
/// stored in `slots`; a key for which `nest_key` is true whose value is an
/// object is scanned in place into `nested` (one level only).
fn scan_object<'a, const N: usize>(
    cur: &mut Cursor<'a>,
    key_of: fn(&[u8]) -> Option<usize>,
    slots: &mut [Val<'a>; N],
    mut nested: Option<Nest<'_, 'a, N>>,
) -> Result<(), ResponseError> {
    cur.expect_ws(b'{')?;
    if cur.peek_ws() == Some(b'}') {
        cur.set_pos(cur.pos() + 1);
        return Ok(());
    }
    loop {
        cur.skip_ws();
        let key = cur.string()?;
        cur.expect_ws(b':')?;
        cur.skip_ws();
        let idx = if key.escaped { None } else { key_of(key.raw) };
        match idx.and_then(|i| slots.get(i).map(|v| (i, v.is_absent()))) {
            None => cur.skip_value()?,
            Some((_, false)) => return Err(ResponseError::DuplicateKey),
            Some((i, true)) => {
                let val = match nested.as_mut() {
                    Some((is_nest, inner)) if is_nest(i) && cur.peek() == Some(b'{') => {
                        scan_object(cur, key_of, inner, None)?;
                        Val::Nested
                    }
                    _ => read_value(cur)?,
                };
                if let Some(s) = slots.get_mut(i) {
                    *s = val;
                }
            }
        }
        match cur.peek_ws() {
            Some(b',') => cur.set_pos(cur.pos() + 1),
            Some(b'}') => {
                cur.set_pos(cur.pos() + 1);
                return Ok(());
            }
            _ => return Err(ResponseError::Malformed),
        }
    }
}

/// Scans a whole input that must be exactly one object.
fn scan_whole<'a, const N: usize>(
    input: &'a [u8],
    key_of: fn(&[u8]) -> Option<usize>,
    slots: &mut [Val<'a>; N],
) -> Result<(), ResponseError> {
    let mut cur = open(input)?;
    scan_object(&mut cur, key_of, slots, None)?;
    if cur.at_end_ws() {
        Ok(())
    } else {
        Err(ResponseError::TrailingData)
    }
}

fn slot<'a, const N: usize>(slots: &[Val<'a>; N], i: usize) -> Val<'a> {
    slots.get(i).copied().unwrap_or_default()
}

/// Digits of a validated JSON number → `u64` (no sign/fraction/exponent).
fn digits_u64(num: &[u8]) -> Result<u64, ResponseError> {
    if num.is_empty() {
        return Err(ResponseError::WrongType);
    }
    let mut v: u64 = 0;
    for &b in num {
        if !b.is_ascii_digit() {
            return Err(ResponseError::WrongType);
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(ResponseError::NumberOverflow)?;
    }
    Ok(v)
}

fn num_u64(v: Val<'_>) -> Result<u64, ResponseError> {
    match v {
        Val::Num(n) => digits_u64(n),
        Val::Absent => Err(ResponseError::MissingField),
        _ => Err(ResponseError::WrongType),
    }
}

fn num_i64(v: Val<'_>) -> Result<i64, ResponseError> {
    match v {
        Val::Num(n) => match n.split_first() {
            Some((b'-', mag)) => {
                let m = digits_u64(mag)?;
                if m > i64::MAX as u64 + 1 {
                    return Err(ResponseError::NumberOverflow);
                }
                Ok(0i64.wrapping_sub_unsigned(m))
            }
            _ => i64::try_from(digits_u64(n)?).map_err(|_| ResponseError::NumberOverflow),
        },
        Val::Absent => Err(ResponseError::MissingField),
        _ => Err(ResponseError::WrongType),
    }
}

fn opt_u64(v: Val<'_>) -> Result<Option<u64>, ResponseError> {
    match v {
        Val::Absent | Val::Null => Ok(None),
        v => num_u64(v).map(Some),
    }
}

/// An unescaped string (identifier).
fn ident<'a>(v: Val<'a>) -> Result<&'a [u8], ResponseError> {
    match v {
        Val::Str(s) if s.escaped => Err(ResponseError::EscapedString),
        Val::Str(s) => Ok(s.raw),
        Val::Absent => Err(ResponseError::MissingField),
        _ => Err(ResponseError::WrongType),
    }
}

fn opt_ident<'a>(v: Val<'a>) -> Result<Option<&'a [u8]>, ResponseError> {
    match v {
        Val::Absent | Val::Null => Ok(None),
        v => ident(v).map(Some),
    }
}

fn price(v: Val<'_>) -> Result<Price, ResponseError> {
    Price::parse_bytes(ident(v)?).map_err(|_| ResponseError::BadDecimal)
}

fn qty(v: Val<'_>) -> Result<Qty, ResponseError> {
    Qty::parse_bytes(ident(v)?).map_err(|_| ResponseError::BadDecimal)
}

fn opt_price(v: Val<'_>) -> Result<Option<Price>, ResponseError> {
    match v {
        Val::Absent => Ok(None),
        v => price(v).map(Some),
    }
}

fn opt_qty(v: Val<'_>) -> Result<Option<Qty>, ResponseError> {
    match v {
        Val::Absent => Ok(None),
        v => qty(v).map(Some),
    }
}

fn client_id(v: Val<'_>) -> Result<ClientOrderId, ResponseError> {
    ClientOrderId::from_bytes(ident(v)?).map_err(|_| ResponseError::BadClientOrderId)
}

/// Absent, `null` or `""` → [`ClientOrderId::EMPTY`].
fn client_id_or_empty(v: Val<'_>) -> Result<ClientOrderId, ResponseError> {
    match v {
        Val::Absent | Val::Null => Ok(ClientOrderId::EMPTY),
        Val::Str(s) if !s.escaped && s.raw.is_empty() => Ok(ClientOrderId::EMPTY),
        v => client_id(v),
    }
}

fn side(v: Val<'_>) -> Result<Side, ResponseError> {
    match ident(v)? {
        b"BUY" => Ok(Side::Buy),
        b"SELL" => Ok(Side::Sell),
        _ => Err(ResponseError::UnknownEnum),
    }
}

// ---------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------

/// The venue's order status (`X`, `status`), all of its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VenueOrderStatus {
    /// `NEW`
    New,
    /// `PENDING_NEW`
    PendingNew,
    /// `PARTIALLY_FILLED`
    PartiallyFilled,
    /// `FILLED`
    Filled,
    /// `CANCELED`
    Canceled,
    /// `PENDING_CANCEL` (documented as unused)
    PendingCancel,
    /// `REJECTED`
    Rejected,
    /// `EXPIRED`
    Expired,
    /// `EXPIRED_IN_MATCH` (self-trade prevention)
    ExpiredInMatch,
}

impl VenueOrderStatus {
    /// Parses the venue's text.
    pub fn parse(b: &[u8]) -> Option<VenueOrderStatus> {
        Some(match b {
            b"NEW" => VenueOrderStatus::New,
            b"PENDING_NEW" => VenueOrderStatus::PendingNew,
            b"PARTIALLY_FILLED" => VenueOrderStatus::PartiallyFilled,
            b"FILLED" => VenueOrderStatus::Filled,
            b"CANCELED" => VenueOrderStatus::Canceled,
            b"PENDING_CANCEL" => VenueOrderStatus::PendingCancel,
            b"REJECTED" => VenueOrderStatus::Rejected,
            b"EXPIRED" => VenueOrderStatus::Expired,
            b"EXPIRED_IN_MATCH" => VenueOrderStatus::ExpiredInMatch,
            _ => return None,
        })
    }

    /// Talon's status. `PENDING_CANCEL` is still open: `PartiallyFilled` if
    /// anything filled (`filled`), else `New`. Both expiries are `Expired`.
    pub fn to_order_status(self, filled: bool) -> OrderStatus {
        match self {
            VenueOrderStatus::New => OrderStatus::New,
            VenueOrderStatus::PendingNew => OrderStatus::PendingNew,
            VenueOrderStatus::PartiallyFilled => OrderStatus::PartiallyFilled,
            VenueOrderStatus::Filled => OrderStatus::Filled,
            VenueOrderStatus::Canceled => OrderStatus::Canceled,
            VenueOrderStatus::PendingCancel if filled => OrderStatus::PartiallyFilled,
            VenueOrderStatus::PendingCancel => OrderStatus::New,
            VenueOrderStatus::Rejected => OrderStatus::Rejected,
            VenueOrderStatus::Expired | VenueOrderStatus::ExpiredInMatch => OrderStatus::Expired,
        }
    }
}

/// Execution type `x` of an executionReport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecType {
    /// `NEW`
    New,
    /// `CANCELED`
    Canceled,
    /// `REPLACED`
    Replaced,
    /// `REJECTED`
    Rejected,
    /// `TRADE`
    Trade,
    /// `EXPIRED`
    Expired,
    /// `TRADE_PREVENTION`
    TradePrevention,
}

impl ExecType {
    /// Parses the venue's text.
    pub fn parse(b: &[u8]) -> Option<ExecType> {
        Some(match b {
            b"NEW" => ExecType::New,
            b"CANCELED" => ExecType::Canceled,
            b"REPLACED" => ExecType::Replaced,
            b"REJECTED" => ExecType::Rejected,
            b"TRADE" => ExecType::Trade,
            b"EXPIRED" => ExecType::Expired,
            b"TRADE_PREVENTION" => ExecType::TradePrevention,
            _ => return None,
        })
    }
}

/// `rateLimitType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateLimitKind {
    /// `REQUEST_WEIGHT` (per IP).
    RequestWeight,
    /// `ORDERS` (per account, unfilled orders).
    Orders,
    /// `RAW_REQUESTS`.
    RawRequests,
}

/// `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateInterval {
    /// `SECOND`
    Second,
    /// `MINUTE`
    Minute,
    /// `HOUR`
    Hour,
    /// `DAY`
    Day,
}

impl RateInterval {
    /// Length of one unit in milliseconds.
    pub const fn unit_ms(self) -> u64 {
        match self {
            RateInterval::Second => 1_000,
            RateInterval::Minute => 60_000,
            RateInterval::Hour => 3_600_000,
            RateInterval::Day => 86_400_000,
        }
    }
}

/// One rate limit: from `exchangeInfo` (`count: None`) or a response's
/// `rateLimits` usage (`count: Some`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RateLimit {
    /// Which limit.
    pub kind: RateLimitKind,
    /// Interval unit.
    pub interval: RateInterval,
    /// Number of units per window.
    pub interval_num: u32,
    /// The venue's limit per window.
    pub limit: u64,
    /// The venue's count in the current window (usage reports only).
    pub count: Option<u64>,
}

impl RateLimit {
    /// Window length in milliseconds (`interval_num` × unit).
    pub const fn window_ms(&self) -> u64 {
        self.interval
            .unit_ms()
            .saturating_mul(self.interval_num as u64)
    }
}

/// A fixed array of up to [`RateLimits::CAPACITY`] rate limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RateLimits {
    items: [Option<RateLimit>; RateLimits::CAPACITY],
    len: u8,
}

/// A response's `rateLimits` (usage counts).
pub type RateLimitUsage = RateLimits;

impl RateLimits {
    /// Most entries held.
    pub const CAPACITY: usize = 8;

    /// Empty.
    pub const fn new() -> Self {
        Self {
            items: [None; RateLimits::CAPACITY],
            len: 0,
        }
    }

    /// Appends; `TooManyEntries` when full.
    pub fn push(&mut self, r: RateLimit) -> Result<(), ResponseError> {
        let slot = self
            .items
            .get_mut(usize::from(self.len))
            .ok_or(ResponseError::TooManyEntries)?;
        *slot = Some(r);
        self.len += 1;
        Ok(())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True if none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = RateLimit> + '_ {
        self.items.iter().take(self.len()).filter_map(|r| *r)
    }
}

const RL_TYPE: usize = 0;
const RL_INTERVAL: usize = 1;
const RL_NUM: usize = 2;
const RL_LIMIT: usize = 3;
const RL_COUNT: usize = 4;

fn rl_key(k: &[u8]) -> Option<usize> {
    Some(match k {
        b"rateLimitType" => RL_TYPE,
        b"interval" => RL_INTERVAL,
        b"intervalNum" => RL_NUM,
        b"limit" => RL_LIMIT,
        b"count" => RL_COUNT,
        _ => return None,
    })
}

fn rate_limit(obj: &[u8]) -> Result<RateLimit, ResponseError> {
    let mut s = [Val::Absent; 5];
    scan_whole(obj, rl_key, &mut s)?;
    let kind = match ident(slot(&s, RL_TYPE))? {
        b"REQUEST_WEIGHT" => RateLimitKind::RequestWeight,
        b"ORDERS" => RateLimitKind::Orders,
        b"RAW_REQUESTS" => RateLimitKind::RawRequests,
        _ => return Err(ResponseError::UnknownEnum),
    };
    let interval = match ident(slot(&s, RL_INTERVAL))? {
        b"SECOND" => RateInterval::Second,
        b"MINUTE" => RateInterval::Minute,
        b"HOUR" => RateInterval::Hour,
        b"DAY" => RateInterval::Day,
        _ => return Err(ResponseError::UnknownEnum),
    };
    let interval_num =
        u32::try_from(num_u64(slot(&s, RL_NUM))?).map_err(|_| ResponseError::NumberOverflow)?;
    Ok(RateLimit {
        kind,
        interval,
        interval_num,
        limit: num_u64(slot(&s, RL_LIMIT))?,
        count: opt_u64(slot(&s, RL_COUNT))?,
    })
}

fn rate_limits(arr: &[u8]) -> Result<RateLimits, ResponseError> {
    let mut out = RateLimits::new();
    for item in RawArray::new(arr) {
        out.push(rate_limit(item?)?)?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Raw arrays
// ---------------------------------------------------------------------------

/// Iterates the elements of a raw JSON array (as found in a `result`), each
/// as its raw bytes, validating as it goes; stops after the first error.
#[derive(Debug)]
pub struct RawArray<'a> {
    cur: Cursor<'a>,
    started: bool,
    done: bool,
}

impl<'a> RawArray<'a> {
    /// Over `raw`, which should be a JSON array (anything else yields one
    /// `NotAnObject`/`Malformed` error).
    pub fn new(raw: &'a [u8]) -> Self {
        Self {
            cur: Cursor::new(raw),
            started: false,
            done: false,
        }
    }

    fn step(&mut self) -> Result<Option<&'a [u8]>, ResponseError> {
        if !self.started {
            self.started = true;
            match self.cur.peek_ws() {
                Some(b'[') => self.cur.set_pos(self.cur.pos() + 1),
                None => return Err(ResponseError::Empty),
                Some(_) => return Err(ResponseError::WrongType),
            }
            if self.cur.peek_ws() == Some(b']') {
                self.cur.set_pos(self.cur.pos() + 1);
                return self.end();
            }
        } else {
            match self.cur.peek_ws() {
                Some(b',') => self.cur.set_pos(self.cur.pos() + 1),
                Some(b']') => {
                    self.cur.set_pos(self.cur.pos() + 1);
                    return self.end();
                }
                _ => return Err(ResponseError::Malformed),
            }
        }
        self.cur.skip_ws();
        let start = self.cur.pos();
        self.cur.skip_value()?;
        Ok(Some(self.cur.slice(start, self.cur.pos())))
    }

    fn end(&mut self) -> Result<Option<&'a [u8]>, ResponseError> {
        if self.cur.at_end_ws() {
            Ok(None)
        } else {
            Err(ResponseError::TrailingData)
        }
    }
}

impl<'a> Iterator for RawArray<'a> {
    type Item = Result<&'a [u8], ResponseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(v)) => Some(Ok(v)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Inbound frames
// ---------------------------------------------------------------------------

/// Everything a WS API connection receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// A response to a request.
    Response(Response<'a>),
    /// A user-data `executionReport`.
    Execution(ExecutionEvent<'a>),
    /// `outboundAccountPosition` (balances after a change): counted, not forwarded.
    AccountPosition,
    /// `balanceUpdate` (deposit, withdrawal, transfer): counted, not forwarded.
    BalanceUpdate,
    /// The server or the event stream is going away.
    SessionEvent(SessionEventKind),
    /// Any other user-data event type (`listStatus`, `externalLockUpdate`,
    /// a new one): its `e`, so the gateway can count it.
    OtherEvent(&'a [u8]),
}

/// Session-level events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionEventKind {
    /// `serverShutdown`: reconnect soon.
    ServerShutdown,
    /// `eventStreamTerminated`: the user-data subscription ended (resubscribe).
    EventStreamTerminated,
}

/// A response envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response<'a> {
    /// Integer request id (Talon's); `None` for a string, `null` or missing id.
    pub id: Option<u64>,
    /// A string id, raw (between the quotes, escapes undecoded).
    pub id_text: Option<&'a [u8]>,
    /// HTTP-like status (200, 400, 403, 409, 418, 429, 5xx).
    pub status: u16,
    /// The error, when `error` is present.
    pub error: Option<VenueError<'a>>,
    /// The raw `result` JSON (object or array); `None` if absent or null.
    pub result: Option<&'a [u8]>,
    /// The `rateLimits` usage (empty if absent).
    pub rate_limits: RateLimitUsage,
    /// `retryAfter` (epoch ms): top-level (429) or `error.data.retryAfter` (418).
    pub retry_after_ms: Option<u64>,
}

impl Response<'_> {
    /// True for status 429 or 418 (rate limited / banned).
    pub fn is_rate_limited(&self) -> bool {
        matches!(self.status, 418 | 429)
    }
}

/// A venue error `{"code":…,"msg":…}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VenueError<'a> {
    /// The venue's code (negative).
    pub code: i32,
    /// The message, raw JSON string contents.
    pub msg: &'a [u8],
}

// Keys of the envelope and of the events (one table: no collisions).
const K_ID: usize = 0;
const K_STATUS: usize = 1;
const K_RESULT: usize = 2;
const K_ERROR: usize = 3;
const K_RATE_LIMITS: usize = 4;
const K_RETRY_AFTER: usize = 5;
const K_SUBSCRIPTION: usize = 6;
const K_EVENT: usize = 7;
const K_STREAM: usize = 8;
const K_DATA: usize = 9;
const E_E: usize = 10;
const E_TIME: usize = 11;
const E_SYMBOL: usize = 12;
const E_CLIENT: usize = 13;
const E_SIDE: usize = 14;
const E_TYPE: usize = 15;
const E_QTY: usize = 16;
const E_PRICE: usize = 17;
const E_ORIG_CLIENT: usize = 18;
const E_EXEC_TYPE: usize = 19;
const E_STATUS: usize = 20;
const E_REJECT: usize = 21;
const E_ORDER_ID: usize = 22;
const E_LAST_QTY: usize = 23;
const E_CUM_QTY: usize = 24;
const E_LAST_PRICE: usize = 25;
const E_FEE: usize = 26;
const E_FEE_ASSET: usize = 27;
const E_TX_TIME: usize = 28;
const E_TRADE_ID: usize = 29;
const KEYS: usize = 30;

fn top_key(k: &[u8]) -> Option<usize> {
    Some(match k {
        b"id" => K_ID,
        b"status" => K_STATUS,
        b"result" => K_RESULT,
        b"error" => K_ERROR,
        b"rateLimits" => K_RATE_LIMITS,
        b"retryAfter" => K_RETRY_AFTER,
        b"subscriptionId" => K_SUBSCRIPTION,
        b"event" => K_EVENT,
        b"stream" => K_STREAM,
        b"data" => K_DATA,
        b"e" => E_E,
        b"E" => E_TIME,
        b"s" => E_SYMBOL,
        b"c" => E_CLIENT,
        b"S" => E_SIDE,
        b"o" => E_TYPE,
        b"q" => E_QTY,
        b"p" => E_PRICE,
        b"C" => E_ORIG_CLIENT,
        b"x" => E_EXEC_TYPE,
        b"X" => E_STATUS,
        b"r" => E_REJECT,
        b"i" => E_ORDER_ID,
        b"l" => E_LAST_QTY,
        b"z" => E_CUM_QTY,
        b"L" => E_LAST_PRICE,
        b"n" => E_FEE,
        b"N" => E_FEE_ASSET,
        b"T" => E_TX_TIME,
        b"t" => E_TRADE_ID,
        _ => return None,
    })
}

fn is_wrapper_key(i: usize) -> bool {
    i == K_EVENT || i == K_DATA
}

/// Decodes one inbound WS API frame. Never allocates; borrows `frame`.
///
/// ```
/// use talon_gateway::response::{decode_inbound, Inbound};
/// let f = br#"{"id":7,"status":200,"result":{"serverTime":1656400527891}}"#;
/// let Ok(Inbound::Response(r)) = decode_inbound(f) else { panic!() };
/// assert_eq!((r.id, r.status), (Some(7), 200));
/// ```
pub fn decode_inbound(frame: &[u8]) -> Result<Inbound<'_>, ResponseError> {
    let mut cur = open(frame)?;
    let mut top = [Val::Absent; KEYS];
    let mut inner = [Val::Absent; KEYS];
    scan_object(
        &mut cur,
        top_key,
        &mut top,
        Some((is_wrapper_key, &mut inner)),
    )?;
    if !cur.at_end_ws() {
        return Err(ResponseError::TrailingData);
    }
    let event = slot(&top, K_EVENT);
    let data = slot(&top, K_DATA);
    match (event, data) {
        (Val::Absent, Val::Absent) => {}
        (Val::Nested, Val::Absent) => {
            opt_u64(slot(&top, K_SUBSCRIPTION))?;
            return build_event(&inner);
        }
        (Val::Absent, Val::Nested) => {
            // Legacy listenKey / combined-stream wrapper.
            ident(slot(&top, K_STREAM))?;
            return build_event(&inner);
        }
        (Val::Nested, Val::Nested) => return Err(ResponseError::UnknownMessage),
        _ => return Err(ResponseError::NotAnObject),
    }
    if !slot(&top, E_E).is_absent() {
        // A bare event (old captures).
        return build_event(&top);
    }
    if !slot(&top, K_STATUS).is_absent() {
        return build_response(&top).map(Inbound::Response);
    }
    Err(ResponseError::UnknownMessage)
}

const ERR_CODE: usize = 0;
const ERR_MSG: usize = 1;
const ERR_DATA: usize = 2;

fn err_key(k: &[u8]) -> Option<usize> {
    Some(match k {
        b"code" => ERR_CODE,
        b"msg" => ERR_MSG,
        b"data" => ERR_DATA,
        _ => return None,
    })
}

fn retry_key(k: &[u8]) -> Option<usize> {
    (k == b"retryAfter").then_some(0)
}

fn build_response<'a>(top: &[Val<'a>; KEYS]) -> Result<Response<'a>, ResponseError> {
    let status =
        u16::try_from(num_u64(slot(top, K_STATUS))?).map_err(|_| ResponseError::NumberOverflow)?;
    let (id, id_text) = match slot(top, K_ID) {
        Val::Absent | Val::Null => (None, None),
        Val::Str(s) => (None, Some(s.raw)),
        v => (Some(num_u64(v)?), None),
    };
    let mut retry_after_ms = opt_u64(slot(top, K_RETRY_AFTER))?;
    let error = match slot(top, K_ERROR) {
        Val::Absent | Val::Null => None,
        Val::Obj(obj) => {
            let mut e = [Val::Absent; 3];
            scan_whole(obj, err_key, &mut e)?;
            let code = i32::try_from(num_i64(slot(&e, ERR_CODE))?)
                .map_err(|_| ResponseError::NumberOverflow)?;
            let msg = match slot(&e, ERR_MSG) {
                Val::Str(s) => s.raw,
                Val::Absent => &[][..],
                _ => return Err(ResponseError::WrongType),
            };
            if let Val::Obj(d) = slot(&e, ERR_DATA) {
                let mut r = [Val::Absent; 1];
                scan_whole(d, retry_key, &mut r)?;
                if retry_after_ms.is_none() {
                    retry_after_ms = opt_u64(slot(&r, 0))?;
                }
            }
            Some(VenueError { code, msg })
        }
        _ => return Err(ResponseError::WrongType),
    };
    let result = match slot(top, K_RESULT) {
        Val::Absent | Val::Null => None,
        Val::Obj(r) | Val::Arr(r) => Some(r),
        _ => return Err(ResponseError::WrongType),
    };
    let rate_limits = match slot(top, K_RATE_LIMITS) {
        Val::Absent | Val::Null => RateLimits::new(),
        Val::Arr(a) => rate_limits(a)?,
        _ => return Err(ResponseError::WrongType),
    };
    Ok(Response {
        id,
        id_text,
        status,
        error,
        result,
        rate_limits,
        retry_after_ms,
    })
}

fn build_event<'a>(ev: &[Val<'a>; KEYS]) -> Result<Inbound<'a>, ResponseError> {
    let name = ident(slot(ev, E_E))?;
    Ok(match name {
        b"executionReport" => Inbound::Execution(execution(ev)?),
        b"outboundAccountPosition" => Inbound::AccountPosition,
        b"balanceUpdate" => Inbound::BalanceUpdate,
        b"serverShutdown" => Inbound::SessionEvent(SessionEventKind::ServerShutdown),
        b"eventStreamTerminated" => Inbound::SessionEvent(SessionEventKind::EventStreamTerminated),
        other => Inbound::OtherEvent(other),
    })
}

/// A decoded `executionReport`: what an [`ExecReport`] needs, and a few
/// order fields for reconciliation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecutionEvent<'a> {
    /// `E`
    pub event_time_ms: u64,
    /// `s`
    pub symbol: &'a [u8],
    /// `c` (for a cancel: the cancel request's id)
    pub client_order_id: ClientOrderId,
    /// `C` (for a cancel: the cancelled order's id; EMPTY when `""`)
    pub orig_client_order_id: ClientOrderId,
    /// `S`
    pub side: Side,
    /// `o` raw (`LIMIT`, `MARKET`, `LIMIT_MAKER`, `STOP_LOSS`…); empty if absent.
    pub order_type: &'a [u8],
    /// `x`
    pub exec_type: ExecType,
    /// `X`
    pub order_status: VenueOrderStatus,
    /// `r` raw (`NONE`, `INSUFFICIENT_BALANCES`…); empty if absent.
    pub reject_reason: &'a [u8],
    /// `i`
    pub order_id: u64,
    /// `t`; `None` for -1 (not a trade).
    pub trade_id: Option<u64>,
    /// `l`
    pub last_qty: Qty,
    /// `z`
    pub cum_qty: Qty,
    /// `L`
    pub last_price: Price,
    /// `n`
    pub commission: Qty,
    /// `N`; `None` when null or absent.
    pub commission_asset: Option<&'a [u8]>,
    /// `T`
    pub transaction_time_ms: u64,
    /// `p` (order price), if present.
    pub price: Option<Price>,
    /// `q` (order quantity), if present.
    pub qty: Option<Qty>,
}

fn execution<'a>(ev: &[Val<'a>; KEYS]) -> Result<ExecutionEvent<'a>, ResponseError> {
    let trade_id = match num_i64(slot(ev, E_TRADE_ID))? {
        -1 => None,
        t => Some(u64::try_from(t).map_err(|_| ResponseError::NumberOverflow)?),
    };
    Ok(ExecutionEvent {
        event_time_ms: num_u64(slot(ev, E_TIME))?,
        symbol: ident(slot(ev, E_SYMBOL))?,
        client_order_id: client_id(slot(ev, E_CLIENT))?,
        orig_client_order_id: client_id_or_empty(slot(ev, E_ORIG_CLIENT))?,
        side: side(slot(ev, E_SIDE))?,
        order_type: opt_ident(slot(ev, E_TYPE))?.unwrap_or_default(),
        exec_type: ExecType::parse(ident(slot(ev, E_EXEC_TYPE))?)
            .ok_or(ResponseError::UnknownEnum)?,
        order_status: VenueOrderStatus::parse(ident(slot(ev, E_STATUS))?)
            .ok_or(ResponseError::UnknownEnum)?,
        reject_reason: opt_ident(slot(ev, E_REJECT))?.unwrap_or_default(),
        order_id: num_u64(slot(ev, E_ORDER_ID))?,
        trade_id,
        last_qty: qty(slot(ev, E_LAST_QTY))?,
        cum_qty: qty(slot(ev, E_CUM_QTY))?,
        last_price: price(slot(ev, E_LAST_PRICE))?,
        commission: qty(slot(ev, E_FEE))?,
        commission_asset: opt_ident(slot(ev, E_FEE_ASSET))?,
        transaction_time_ms: num_u64(slot(ev, E_TX_TIME))?,
        price: opt_price(slot(ev, E_PRICE))?,
        qty: opt_qty(slot(ev, E_QTY))?,
    })
}

/// Venue code put in [`ExecReport::reject_code`] for an executionReport
/// rejection (`x` = `REJECTED`), which carries a reason text but no code:
/// -2010 NEW_ORDER_REJECTED, the code the same rejection has in a response.
pub const EXEC_REJECT_CODE: i32 = -2010;

impl ExecutionEvent<'_> {
    /// The [`ExecReport`] for the engine.
    ///
    /// * status from `X` ([`VenueOrderStatus::to_order_status`]);
    /// * `client_order_id` = `C` when non-empty (a cancel names the
    ///   cancelled order there), else `c`;
    /// * `trade_id` = `t`, 0 when `t` was -1;
    /// * fee asset: `None` when `N` is null or the fee is zero, `Base` /
    ///   `Quote` when `N` equals `base_asset` / `quote_asset`, else `Other`;
    /// * `reject_code` = [`EXEC_REJECT_CODE`] for `x` = `REJECTED`, else 0.
    pub fn to_exec_report(
        &self,
        instrument: InstrumentId,
        base_asset: &str,
        quote_asset: &str,
        stamps: Stamps,
    ) -> ExecReport {
        let fee_asset = match self.commission_asset {
            _ if self.commission.is_zero() => FeeAsset::None,
            None => FeeAsset::None,
            Some(a) if a == base_asset.as_bytes() => FeeAsset::Base,
            Some(a) if a == quote_asset.as_bytes() => FeeAsset::Quote,
            Some(_) => FeeAsset::Other,
        };
        ExecReport {
            instrument,
            status: self
                .order_status
                .to_order_status(self.cum_qty.is_positive()),
            side: self.side,
            reject_code: if self.exec_type == ExecType::Rejected {
                EXEC_REJECT_CODE
            } else {
                0
            },
            venue_order_id: self.order_id,
            trade_id: self.trade_id.unwrap_or(0),
            last_price: self.last_price,
            last_qty: self.last_qty,
            cum_qty: self.cum_qty,
            fee: self.commission,
            venue_time_ms: self.transaction_time_ms,
            stamps,
            apply: talon_core::clock::Nanos::ZERO,
            client_order_id: if self.orig_client_order_id.is_empty() {
                self.client_order_id
            } else {
                self.orig_client_order_id
            },
            fee_asset,
        }
    }
}

// ---------------------------------------------------------------------------
// Result helpers
// ---------------------------------------------------------------------------

/// An order report in a `result`: `order.place` (ACK / RESULT / FULL),
/// `order.cancel`, `order.status`, one element of `openOrders.status` /
/// `openOrders.cancelAll`. Fields an `ACK` lacks are `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderResult<'a> {
    /// `symbol`
    pub symbol: &'a [u8],
    /// `orderId`
    pub order_id: u64,
    /// `clientOrderId` (for a cancel: the cancel request's id)
    pub client_order_id: ClientOrderId,
    /// `origClientOrderId` (cancel reports: the cancelled order's id)
    pub orig_client_order_id: Option<ClientOrderId>,
    /// `status`
    pub status: Option<VenueOrderStatus>,
    /// `price`
    pub price: Option<Price>,
    /// `origQty`
    pub orig_qty: Option<Qty>,
    /// `executedQty`
    pub executed_qty: Option<Qty>,
    /// `cummulativeQuoteQty` (sic)
    pub cum_quote: Option<Qty>,
    /// `side`
    pub side: Option<Side>,
    /// `type` raw; empty if absent.
    pub order_type: &'a [u8],
    /// `transactTime` (place/cancel) or `time` (status)
    pub time_ms: Option<u64>,
    /// `updateTime` (status)
    pub update_time_ms: Option<u64>,
    /// `fills` raw array (FULL responses)
    pub fills_raw: Option<&'a [u8]>,
}

impl<'a> OrderResult<'a> {
    /// The order's own id: `origClientOrderId` when present (cancel
    /// reports), else `clientOrderId`.
    pub fn order_client_id(&self) -> ClientOrderId {
        self.orig_client_order_id.unwrap_or(self.client_order_id)
    }

    /// `type` as Talon's [`OrderType`], `None` for other venue types.
    pub fn talon_order_type(&self) -> Option<OrderType> {
        match self.order_type {
            b"LIMIT" => Some(OrderType::Limit),
            b"MARKET" => Some(OrderType::Market),
            b"LIMIT_MAKER" => Some(OrderType::LimitMaker),
            _ => None,
        }
    }

    /// Talon's status, if the report has one (ACK has none).
    pub fn order_status(&self) -> Option<OrderStatus> {
        let filled = self.executed_qty.is_some_and(Qty::is_positive);
        self.status.map(|s| s.to_order_status(filled))
    }

    /// The `fills` of a FULL response (empty otherwise).
    pub fn fills(&self) -> Fills<'a> {
        Fills {
            inner: self.fills_raw.map(RawArray::new),
        }
    }
}

const O_SYMBOL: usize = 0;
const O_ORDER_ID: usize = 1;
const O_CLIENT: usize = 2;
const O_ORIG_CLIENT: usize = 3;
const O_STATUS: usize = 4;
const O_PRICE: usize = 5;
const O_ORIG_QTY: usize = 6;
const O_EXECUTED: usize = 7;
const O_CUM_QUOTE: usize = 8;
const O_SIDE: usize = 9;
const O_TYPE: usize = 10;
const O_TRANSACT: usize = 11;
const O_TIME: usize = 12;
const O_UPDATE: usize = 13;
const O_FILLS: usize = 14;
const O_CONTINGENCY: usize = 15;
const O_KEYS: usize = 16;

fn order_key(k: &[u8]) -> Option<usize> {
    Some(match k {
        b"symbol" => O_SYMBOL,
        b"orderId" => O_ORDER_ID,
        b"clientOrderId" => O_CLIENT,
        b"origClientOrderId" => O_ORIG_CLIENT,
        b"status" => O_STATUS,
        b"price" => O_PRICE,
        b"origQty" => O_ORIG_QTY,
        b"executedQty" => O_EXECUTED,
        b"cummulativeQuoteQty" => O_CUM_QUOTE,
        b"side" => O_SIDE,
        b"type" => O_TYPE,
        b"transactTime" => O_TRANSACT,
        b"time" => O_TIME,
        b"updateTime" => O_UPDATE,
        b"fills" => O_FILLS,
        b"contingencyType" => O_CONTINGENCY,
        _ => return None,
    })
}

/// Decodes one order report object (a `result`, or one array element).
/// An order-list report (`contingencyType`, no `orderId`) is
/// [`ResponseError::OrderList`] — Talon never places lists; a caller
/// iterating a cancel-all skips it.
pub fn decode_order_result(raw: &[u8]) -> Result<OrderResult<'_>, ResponseError> {
    let mut s = [Val::Absent; O_KEYS];
    scan_whole(raw, order_key, &mut s)?;
    if !slot(&s, O_CONTINGENCY).is_absent() {
        return Err(ResponseError::OrderList);
    }
    let time_ms = match opt_u64(slot(&s, O_TRANSACT))? {
        Some(t) => Some(t),
        None => opt_u64(slot(&s, O_TIME))?,
    };
    Ok(OrderResult {
        symbol: ident(slot(&s, O_SYMBOL))?,
        order_id: num_u64(slot(&s, O_ORDER_ID))?,
        client_order_id: client_id(slot(&s, O_CLIENT))?,
        orig_client_order_id: match slot(&s, O_ORIG_CLIENT) {
            Val::Absent | Val::Null => None,
            v => Some(client_id(v)?),
        },
        status: match opt_ident(slot(&s, O_STATUS))? {
            None => None,
            Some(b) => Some(VenueOrderStatus::parse(b).ok_or(ResponseError::UnknownEnum)?),
        },
        price: opt_price(slot(&s, O_PRICE))?,
        orig_qty: opt_qty(slot(&s, O_ORIG_QTY))?,
        executed_qty: opt_qty(slot(&s, O_EXECUTED))?,
        cum_quote: opt_qty(slot(&s, O_CUM_QUOTE))?,
        side: match slot(&s, O_SIDE) {
            Val::Absent => None,
            v => Some(side(v)?),
        },
        order_type: opt_ident(slot(&s, O_TYPE))?.unwrap_or_default(),
        time_ms,
        update_time_ms: opt_u64(slot(&s, O_UPDATE))?,
        fills_raw: match slot(&s, O_FILLS) {
            Val::Absent | Val::Null => None,
            Val::Arr(a) => Some(a),
            _ => return Err(ResponseError::WrongType),
        },
    })
}

/// The order reports of an array `result` (`openOrders.status`,
/// `openOrders.cancelAll`), one [`decode_order_result`] per element.
#[derive(Debug)]
pub struct OrderResults<'a> {
    inner: RawArray<'a>,
}

impl<'a> OrderResults<'a> {
    /// Over a raw array `result`.
    pub fn new(raw: &'a [u8]) -> Self {
        Self {
            inner: RawArray::new(raw),
        }
    }
}

impl<'a> Iterator for OrderResults<'a> {
    type Item = Result<OrderResult<'a>, ResponseError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.inner.next()?.and_then(decode_order_result))
    }
}

/// One element of a FULL response's `fills`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fill<'a> {
    /// `price`
    pub price: Price,
    /// `qty`
    pub qty: Qty,
    /// `commission`
    pub commission: Qty,
    /// `commissionAsset`
    pub commission_asset: &'a [u8],
    /// `tradeId`
    pub trade_id: u64,
}

fn fill_key(k: &[u8]) -> Option<usize> {
    Some(match k {
        b"price" => 0,
        b"qty" => 1,
        b"commission" => 2,
        b"commissionAsset" => 3,
        b"tradeId" => 4,
        _ => return None,
    })
}

/// Iterates a FULL response's `fills`.
#[derive(Debug)]
pub struct Fills<'a> {
    inner: Option<RawArray<'a>>,
}

impl<'a> Iterator for Fills<'a> {
    type Item = Result<Fill<'a>, ResponseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let raw = self.inner.as_mut()?.next()?;
        Some(raw.and_then(|obj| {
            let mut s = [Val::Absent; 5];
            scan_whole(obj, fill_key, &mut s)?;
            Ok(Fill {
                price: price(slot(&s, 0))?,
                qty: qty(slot(&s, 1))?,
                commission: qty(slot(&s, 2))?,
                commission_asset: ident(slot(&s, 3))?,
                trade_id: num_u64(slot(&s, 4))?,
            })
        }))
    }
}

/// `serverTime` of a `time` result (also of `exchangeInfo`,
/// `session.logon`).
pub fn decode_server_time(result: &[u8]) -> Result<u64, ResponseError> {
    let mut s = [Val::Absent; 1];
    scan_whole(result, |k| (k == b"serverTime").then_some(0), &mut s)?;
    num_u64(slot(&s, 0))
}

/// The `rateLimits` of an `exchangeInfo` result (the symbols and filters
/// are skipped, validated).
pub fn decode_exchange_rate_limits(result: &[u8]) -> Result<RateLimits, ResponseError> {
    let mut s = [Val::Absent; 1];
    scan_whole(result, |k| (k == b"rateLimits").then_some(0), &mut s)?;
    match slot(&s, 0) {
        Val::Arr(a) => rate_limits(a),
        Val::Absent => Err(ResponseError::MissingField),
        _ => Err(ResponseError::WrongType),
    }
}

#[cfg(test)]
mod tests;
