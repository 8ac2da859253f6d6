//! WebSocket API request encoding and signing into fixed buffers.
//!
//! Owns [`RequestEncoder`], [`Auth`], [`ParamValue`] and [`EncodeError`].
//! Every method writes one complete request frame text
//! (`{"id":<u64>,"method":"…","params":{…}}`) into a buffer allocated once
//! by [`RequestEncoder::new`] and returns it as `&[u8]`. Signed requests
//! follow the venue's WS API rule (binance-protocol.md §2): every param
//! except `signature`, sorted by name in byte order, joined as `k=v` with
//! `&`, raw values, no percent-encoding. The encoder writes the params in
//! that sorted order and builds the `k=v&…` payload in a second scratch
//! buffer in the same pass, then signs it and appends `"signature"` as the
//! last param. JSON param order does not matter to the venue; writing them
//! sorted keeps JSON and payload in step. The last signing payload stays
//! readable through [`RequestEncoder::last_payload`] (for `-1022`
//! debugging with `talon sign`).
//!
//! Values as the venue wants them: prices and quantities in the exact
//! shortest decimal form (`Price`/`Qty` `Display`: `52000`, `0.01`), enums
//! upper case (`BUY`, `LIMIT`, `GTC`), `timestamp`/`recvWindow`/`id` as JSON
//! integers (the venue signs numbers in their textual form). `order.place`
//! asks for `newOrderRespType=RESULT`, so the ack carries `status` and
//! `executedQty`. A `recv_window_ms` of 0 means "send no `recvWindow`" (the
//! venue's default, 5000 ms, applies).
//!
//! Inputs are validated, never trusted: symbols must be valid
//! [`Symbol`]s (`A-Z0-9`, 1–20 bytes), client order ids non-empty (their
//! type admits only `[.A-Z:/a-z0-9_-]`), API keys printable ASCII without
//! `"`, `\`, `&`, `=` — so the fast methods never need JSON escaping and no
//! value can smuggle a param into the signed payload. The general
//! [`RequestEncoder::signed`] escapes string values for JSON instead.
//!
//! Hot path: no allocation after `new`, no locks, no clock reads (the caller
//! passes `timestamp_ms`, e.g. from `ServerTime`), no panics on any input —
//! a buffer that is too small is [`EncodeError::BufferTooSmall`].

use talon_core::event::{
    ClientOrderId, OrderCommand, OrderCommandKind, OrderType, Side, TimeInForce,
};
use talon_core::instrument::Symbol;

use crate::sign::{Ed25519Signer, HmacSigner};

/// Why a request could not be encoded. Small and `Copy`; no text inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum EncodeError {
    /// The output or payload buffer is too small for this request.
    #[error("request does not fit the encoder's buffer")]
    BufferTooSmall,
    /// A symbol that is not a valid venue symbol (`A-Z0-9`, 1–20 bytes).
    #[error("invalid symbol")]
    InvalidSymbol,
    /// An empty client order id where one is required.
    #[error("missing client order id")]
    MissingClientOrderId,
    /// An API key that is empty or has a byte outside printable ASCII, or
    /// one of `"`, `\`, `&`, `=`.
    #[error("invalid API key")]
    InvalidApiKey,
    /// `order_place` was given a command that is not `OrderCommandKind::New`.
    #[error("order command is not a new order")]
    NotANewOrder,
    /// A zero or negative quantity.
    #[error("quantity must be positive")]
    NonPositiveQty,
    /// A zero or negative price on a priced order type.
    #[error("price must be positive")]
    NonPositivePrice,
    /// `signed`: a param name that is empty, not ASCII alphanumeric, or
    /// `signature`.
    #[error("invalid param name")]
    InvalidParamName,
    /// `signed`: the same param name twice (including `apiKey` from `Auth`).
    #[error("duplicate param name")]
    DuplicateParam,
    /// `signed`: more than [`MAX_PARAMS`] params.
    #[error("too many params")]
    TooManyParams,
    /// `signed`: a method name outside `[A-Za-z0-9./_]` or empty.
    #[error("invalid method name")]
    InvalidMethod,
}

impl EncodeError {
    /// A stable snake_case name for counters and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            EncodeError::BufferTooSmall => "buffer_too_small",
            EncodeError::InvalidSymbol => "invalid_symbol",
            EncodeError::MissingClientOrderId => "missing_client_order_id",
            EncodeError::InvalidApiKey => "invalid_api_key",
            EncodeError::NotANewOrder => "not_a_new_order",
            EncodeError::NonPositiveQty => "non_positive_qty",
            EncodeError::NonPositivePrice => "non_positive_price",
            EncodeError::InvalidParamName => "invalid_param_name",
            EncodeError::DuplicateParam => "duplicate_param",
            EncodeError::TooManyParams => "too_many_params",
            EncodeError::InvalidMethod => "invalid_method",
        }
    }
}

/// How a request is authenticated.
#[derive(Clone, Copy, Debug)]
pub enum Auth<'a> {
    /// HMAC key: `apiKey` is sent and the params are signed (`signature`).
    Hmac {
        /// The API key (sent in clear as `apiKey`).
        api_key: &'a str,
        /// The signer holding the matching secret.
        signer: &'a HmacSigner,
    },
    /// After `session.logon`: only `timestamp` (+ `recvWindow`) is sent, no
    /// `apiKey`, no signature.
    Session,
}

/// A param value for [`RequestEncoder::signed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamValue<'a> {
    /// A JSON string (escaped in the JSON as needed; signed raw).
    Str(&'a str),
    /// A JSON integer (signed in its decimal text form).
    Int(u64),
}

/// Most params [`RequestEncoder::signed`] accepts (including `apiKey`).
pub const MAX_PARAMS: usize = 24;

/// A request encoder with its output and payload buffers.
#[derive(Debug)]
pub struct RequestEncoder {
    /// Request frame text.
    out: Vec<u8>,
    /// Signing payload scratch.
    payload: Vec<u8>,
    /// Bytes of `payload` used by the last signed request (0 if unsigned).
    payload_len: usize,
}

/// A cursor writing into a fixed slice.
struct Cursor<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl Cursor<'_> {
    #[inline]
    fn put(&mut self, s: &[u8]) -> Result<(), EncodeError> {
        let end = self
            .len
            .checked_add(s.len())
            .ok_or(EncodeError::BufferTooSmall)?;
        let dst = self
            .buf
            .get_mut(self.len..end)
            .ok_or(EncodeError::BufferTooSmall)?;
        dst.copy_from_slice(s);
        self.len = end;
        Ok(())
    }

    #[inline]
    fn byte(&mut self, b: u8) -> Result<(), EncodeError> {
        let dst = self
            .buf
            .get_mut(self.len)
            .ok_or(EncodeError::BufferTooSmall)?;
        *dst = b;
        self.len += 1;
        Ok(())
    }
}

/// `v` in decimal into the tail of `buf`; returns the digits.
#[inline]
fn u64_text(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Length of the longest fixed-point text: `-` + 11 integer digits + `.` +
/// 8 fraction digits.
const FIXED_BUF: usize = 24;

/// `raw / 10^8` in the shortest exact form (trailing fraction zeros and a
/// bare `.` trimmed), exactly as `Price`/`Qty` `Display` prints it.
#[inline]
fn fixed8_text(raw: i64, buf: &mut [u8; FIXED_BUF]) -> &[u8] {
    let mag = raw.unsigned_abs();
    let int = mag / 100_000_000;
    let mut frac = mag % 100_000_000;
    let mut end = buf.len();
    if frac != 0 {
        let mut digits = 8;
        while frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        for _ in 0..digits {
            end -= 1;
            buf[end] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        end -= 1;
        buf[end] = b'.';
    }
    let mut i = end;
    let mut v = int;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if raw < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..buf.len()]
}

/// One request being written: the JSON frame and (when signing) the payload.
struct Req<'b> {
    json: Cursor<'b>,
    payload: Cursor<'b>,
    sign: bool,
    first: bool,
    /// The previous key, to check the sorted order in debug builds.
    #[cfg(debug_assertions)]
    last_key: &'b [u8],
}

impl<'b> Req<'b> {
    /// `{"id":<id>,"method":"<method>"` — `method` must be JSON-safe.
    fn start(
        out: &'b mut [u8],
        payload: &'b mut [u8],
        id: u64,
        method: &[u8],
        sign: bool,
    ) -> Result<Req<'b>, EncodeError> {
        let mut json = Cursor { buf: out, len: 0 };
        json.put(b"{\"id\":")?;
        json.put(u64_text(id, &mut [0; 20]))?;
        json.put(b",\"method\":\"")?;
        json.put(method)?;
        json.byte(b'"')?;
        Ok(Req {
            json,
            payload: Cursor {
                buf: payload,
                len: 0,
            },
            sign,
            first: true,
            #[cfg(debug_assertions)]
            last_key: b"",
        })
    }

    /// Key prefix in both outputs: `,"params":{"key":` / `"key":` and
    /// `key=` / `&key=`. `key` must be JSON-safe.
    #[inline]
    fn key(&mut self, key: &[u8]) -> Result<(), EncodeError> {
        #[cfg(debug_assertions)]
        {
            debug_assert!(self.first || self.last_key < key, "params out of order");
        }
        if self.first {
            self.json.put(b",\"params\":{\"")?;
        } else {
            self.json.put(b",\"")?;
            if self.sign {
                self.payload.byte(b'&')?;
            }
        }
        self.first = false;
        self.json.put(key)?;
        self.json.put(b"\":")?;
        if self.sign {
            self.payload.put(key)?;
            self.payload.byte(b'=')?;
        }
        Ok(())
    }

    /// A string param whose value needs no JSON escaping (validated).
    #[inline]
    fn str_param(&mut self, key: &'static [u8], value: &[u8]) -> Result<(), EncodeError> {
        self.key(key)?;
        self.json.byte(b'"')?;
        self.json.put(value)?;
        self.json.byte(b'"')?;
        if self.sign {
            self.payload.put(value)?;
        }
        #[cfg(debug_assertions)]
        {
            self.last_key = key;
        }
        Ok(())
    }

    /// A JSON integer param.
    #[inline]
    fn int_param(&mut self, key: &'static [u8], value: u64) -> Result<(), EncodeError> {
        let mut buf = [0u8; 20];
        let text = u64_text(value, &mut buf);
        self.key(key)?;
        self.json.put(text)?;
        if self.sign {
            self.payload.put(text)?;
        }
        #[cfg(debug_assertions)]
        {
            self.last_key = key;
        }
        Ok(())
    }

    /// A param from [`RequestEncoder::signed`]: `key` validated
    /// alphanumeric, string values JSON-escaped, signed raw.
    fn any_param(&mut self, key: &[u8], value: ParamValue<'_>) -> Result<(), EncodeError> {
        self.key(key)?;
        match value {
            ParamValue::Int(v) => {
                let mut buf = [0u8; 20];
                let text = u64_text(v, &mut buf);
                self.json.put(text)?;
                if self.sign {
                    self.payload.put(text)?;
                }
            }
            ParamValue::Str(s) => {
                self.json.byte(b'"')?;
                json_escape(&mut self.json, s.as_bytes())?;
                self.json.byte(b'"')?;
                if self.sign {
                    self.payload.put(s.as_bytes())?;
                }
            }
        }
        Ok(())
    }

    /// The `recvWindow` param unless it is 0 (venue default).
    #[inline]
    fn recv_window(&mut self, recv_window_ms: u32) -> Result<(), EncodeError> {
        if recv_window_ms == 0 {
            Ok(())
        } else {
            self.int_param(b"recvWindow", u64::from(recv_window_ms))
        }
    }

    /// Closes the params (if any) and the request; returns the frame length.
    fn finish(mut self) -> Result<usize, EncodeError> {
        if !self.first {
            self.json.byte(b'}')?;
        }
        self.json.byte(b'}')?;
        Ok(self.json.len)
    }

    /// Appends `"signature":"<64 hex>"` over the payload; closes.
    fn finish_hmac(mut self, signer: &HmacSigner) -> Result<(usize, usize), EncodeError> {
        let mut sig = [0u8; 64];
        signer.sign_hex(
            self.payload.buf.get(..self.payload.len).unwrap_or_default(),
            &mut sig,
        );
        self.sig_param(&sig)?;
        let p = self.payload.len;
        Ok((self.finish()?, p))
    }

    /// Appends `"signature":"<88 base64>"` over the payload; closes.
    fn finish_ed25519(mut self, signer: &Ed25519Signer) -> Result<(usize, usize), EncodeError> {
        let mut sig = [0u8; 88];
        signer.sign_base64(
            self.payload.buf.get(..self.payload.len).unwrap_or_default(),
            &mut sig,
        );
        self.sig_param(&sig)?;
        let p = self.payload.len;
        Ok((self.finish()?, p))
    }

    fn sig_param(&mut self, sig: &[u8]) -> Result<(), EncodeError> {
        // `signature` is not part of the payload and must come last in the
        // JSON only by convention; write it without touching the payload.
        self.json.put(if self.first {
            b",\"params\":{\"signature\":\""
        } else {
            b",\"signature\":\""
        })?;
        self.first = false;
        self.json.put(sig)?;
        self.json.byte(b'"')
    }
}

/// Writes `s` as JSON string content (without quotes): `"` and `\` escaped,
/// control bytes as `\u00XX`; everything else (incl. UTF-8) raw.
fn json_escape(out: &mut Cursor<'_>, s: &[u8]) -> Result<(), EncodeError> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if b == b'"' || b == b'\\' || b < 0x20 {
            out.put(s.get(start..i).unwrap_or_default())?;
            match b {
                b'"' => out.put(b"\\\"")?,
                b'\\' => out.put(b"\\\\")?,
                _ => out.put(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ])?,
            }
            start = i + 1;
        }
    }
    out.put(s.get(start..).unwrap_or_default())
}

fn check_symbol(symbol: &str) -> Result<&[u8], EncodeError> {
    Symbol::from_bytes(symbol.as_bytes())
        .map(|_| symbol.as_bytes())
        .map_err(|_| EncodeError::InvalidSymbol)
}

fn check_api_key(key: &str) -> Result<&[u8], EncodeError> {
    let b = key.as_bytes();
    if b.is_empty()
        || !b
            .iter()
            .all(|&c| (0x21..=0x7e).contains(&c) && !matches!(c, b'"' | b'\\' | b'&' | b'='))
    {
        return Err(EncodeError::InvalidApiKey);
    }
    Ok(b)
}

fn check_client_id(id: &ClientOrderId) -> Result<&[u8], EncodeError> {
    if id.is_empty() {
        Err(EncodeError::MissingClientOrderId)
    } else {
        Ok(id.as_bytes())
    }
}

const fn side_text(s: Side) -> &'static [u8] {
    match s {
        Side::Buy => b"BUY",
        Side::Sell => b"SELL",
    }
}

const fn type_text(t: OrderType) -> &'static [u8] {
    match t {
        OrderType::Limit => b"LIMIT",
        OrderType::Market => b"MARKET",
        OrderType::LimitMaker => b"LIMIT_MAKER",
    }
}

const fn tif_text(t: TimeInForce) -> &'static [u8] {
    match t {
        TimeInForce::Gtc => b"GTC",
        TimeInForce::Ioc => b"IOC",
        TimeInForce::Fok => b"FOK",
    }
}

impl RequestEncoder {
    /// An encoder whose requests may be up to `capacity` bytes (the signing
    /// payload buffer is the same size). 1024 fits every fixed method here
    /// with room to spare; an `order.place` is about 400 bytes.
    pub fn new(capacity: usize) -> RequestEncoder {
        RequestEncoder {
            out: vec![0; capacity],
            payload: vec![0; capacity],
            payload_len: 0,
        }
    }

    /// The signing payload (`k=v&…`) of the last signed request; empty
    /// after an unsigned one or an error.
    pub fn last_payload(&self) -> &[u8] {
        self.payload.get(..self.payload_len).unwrap_or_default()
    }

    fn start(&mut self, id: u64, method: &[u8], sign: bool) -> Result<Req<'_>, EncodeError> {
        self.payload_len = 0;
        Req::start(&mut self.out, &mut self.payload, id, method, sign)
    }

    /// Writes the `apiKey` param if HMAC, else nothing. `apiKey` sorts
    /// before every other key used here.
    fn begin_signed<'s>(
        &'s mut self,
        id: u64,
        method: &[u8],
        auth: &Auth<'_>,
    ) -> Result<Req<'s>, EncodeError> {
        match *auth {
            Auth::Hmac { api_key, .. } => {
                let key = check_api_key(api_key)?;
                let mut r = self.start(id, method, true)?;
                r.str_param(b"apiKey", key)?;
                Ok(r)
            }
            Auth::Session => self.start(id, method, false),
        }
    }

    /// Closes a request begun with `begin_signed`; returns the frame.
    fn end_signed(
        &mut self,
        len_and_payload: Result<(usize, usize), EncodeError>,
    ) -> Result<&[u8], EncodeError> {
        let (len, p) = len_and_payload?;
        self.payload_len = p;
        self.out.get(..len).ok_or(EncodeError::BufferTooSmall)
    }

    fn end(&mut self, len: Result<usize, EncodeError>) -> Result<&[u8], EncodeError> {
        let len = len?;
        self.out.get(..len).ok_or(EncodeError::BufferTooSmall)
    }

    fn close(req: Req<'_>, auth: &Auth<'_>) -> Result<(usize, usize), EncodeError> {
        match *auth {
            Auth::Hmac { signer, .. } => req.finish_hmac(signer),
            Auth::Session => Ok((req.finish()?, 0)),
        }
    }

    /// `order.place` for a new-order command:
    /// `{"id":…,"method":"order.place","params":{apiKey, newClientOrderId,
    /// newOrderRespType:"RESULT", price (not MARKET), quantity, recvWindow,
    /// side, symbol, timeInForce (LIMIT only), timestamp, type, signature}}`.
    pub fn order_place(
        &mut self,
        id: u64,
        symbol: &str,
        cmd: &OrderCommand,
        timestamp_ms: u64,
        recv_window_ms: u32,
        auth: &Auth<'_>,
    ) -> Result<&[u8], EncodeError> {
        let symbol = check_symbol(symbol)?;
        if cmd.kind != OrderCommandKind::New {
            return Err(EncodeError::NotANewOrder);
        }
        let client_id = check_client_id(&cmd.client_order_id)?;
        if cmd.qty.raw() <= 0 {
            return Err(EncodeError::NonPositiveQty);
        }
        let priced = cmd.order_type != OrderType::Market;
        if priced && cmd.price.raw() <= 0 {
            return Err(EncodeError::NonPositivePrice);
        }
        let r = (|| {
            let mut r = self.begin_signed(id, b"order.place", auth)?;
            r.str_param(b"newClientOrderId", client_id)?;
            r.str_param(b"newOrderRespType", b"RESULT")?;
            let mut buf = [0u8; FIXED_BUF];
            if priced {
                r.str_param(b"price", fixed8_text(cmd.price.raw(), &mut buf))?;
            }
            r.str_param(b"quantity", fixed8_text(cmd.qty.raw(), &mut buf))?;
            r.recv_window(recv_window_ms)?;
            r.str_param(b"side", side_text(cmd.side))?;
            r.str_param(b"symbol", symbol)?;
            if cmd.order_type == OrderType::Limit {
                r.str_param(b"timeInForce", tif_text(cmd.time_in_force))?;
            }
            r.int_param(b"timestamp", timestamp_ms)?;
            r.str_param(b"type", type_text(cmd.order_type))?;
            Self::close(r, auth)
        })();
        self.end_signed(r)
    }

    /// The shared shape of `order.cancel` and `order.status` by client id.
    // Private helper taking the public methods' arguments plus the method
    // name; a struct for them would only be unpacked again here.
    #[allow(clippy::too_many_arguments)]
    fn by_client_id(
        &mut self,
        method: &[u8],
        id: u64,
        symbol: &str,
        orig: &ClientOrderId,
        timestamp_ms: u64,
        recv_window_ms: u32,
        auth: &Auth<'_>,
    ) -> Result<&[u8], EncodeError> {
        let symbol = check_symbol(symbol)?;
        let orig = check_client_id(orig)?;
        let r = (|| {
            let mut r = self.begin_signed(id, method, auth)?;
            r.str_param(b"origClientOrderId", orig)?;
            r.recv_window(recv_window_ms)?;
            r.str_param(b"symbol", symbol)?;
            r.int_param(b"timestamp", timestamp_ms)?;
            Self::close(r, auth)
        })();
        self.end_signed(r)
    }

    /// `order.cancel` by `origClientOrderId`.
    pub fn order_cancel(
        &mut self,
        id: u64,
        symbol: &str,
        orig_client_order_id: &ClientOrderId,
        timestamp_ms: u64,
        recv_window_ms: u32,
        auth: &Auth<'_>,
    ) -> Result<&[u8], EncodeError> {
        self.by_client_id(
            b"order.cancel",
            id,
            symbol,
            orig_client_order_id,
            timestamp_ms,
            recv_window_ms,
            auth,
        )
    }

    /// `order.status` by `origClientOrderId` (weight 4).
    pub fn order_status(
        &mut self,
        id: u64,
        symbol: &str,
        orig_client_order_id: &ClientOrderId,
        timestamp_ms: u64,
        recv_window_ms: u32,
        auth: &Auth<'_>,
    ) -> Result<&[u8], EncodeError> {
        self.by_client_id(
            b"order.status",
            id,
            symbol,
            orig_client_order_id,
            timestamp_ms,
            recv_window_ms,
            auth,
        )
    }

    /// `openOrders.cancelAll` for `symbol`.
    pub fn open_orders_cancel_all(
        &mut self,
        id: u64,
        symbol: &str,
        timestamp_ms: u64,
        recv_window_ms: u32,
        auth: &Auth<'_>,
    ) -> Result<&[u8], EncodeError> {
        self.symbol_scoped(
            b"openOrders.cancelAll",
            id,
            Some(symbol),
            timestamp_ms,
            recv_window_ms,
            auth,
        )
    }

    /// `openOrders.status`, for one symbol (weight 6) or all (weight 80).
    pub fn open_orders_status(
        &mut self,
        id: u64,
        symbol: Option<&str>,
        timestamp_ms: u64,
        recv_window_ms: u32,
        auth: &Auth<'_>,
    ) -> Result<&[u8], EncodeError> {
        self.symbol_scoped(
            b"openOrders.status",
            id,
            symbol,
            timestamp_ms,
            recv_window_ms,
            auth,
        )
    }

    fn symbol_scoped(
        &mut self,
        method: &[u8],
        id: u64,
        symbol: Option<&str>,
        timestamp_ms: u64,
        recv_window_ms: u32,
        auth: &Auth<'_>,
    ) -> Result<&[u8], EncodeError> {
        let symbol = symbol.map(check_symbol).transpose()?;
        let r = (|| {
            let mut r = self.begin_signed(id, method, auth)?;
            r.recv_window(recv_window_ms)?;
            if let Some(s) = symbol {
                r.str_param(b"symbol", s)?;
            }
            r.int_param(b"timestamp", timestamp_ms)?;
            Self::close(r, auth)
        })();
        self.end_signed(r)
    }

    /// `session.logon` with an Ed25519 key: `apiKey`, `recvWindow`,
    /// `timestamp`, base64 `signature`.
    pub fn session_logon(
        &mut self,
        id: u64,
        api_key: &str,
        signer: &Ed25519Signer,
        timestamp_ms: u64,
        recv_window_ms: u32,
    ) -> Result<&[u8], EncodeError> {
        let key = check_api_key(api_key)?;
        let r = (|| {
            let mut r = self.start(id, b"session.logon", true)?;
            r.str_param(b"apiKey", key)?;
            r.recv_window(recv_window_ms)?;
            r.int_param(b"timestamp", timestamp_ms)?;
            r.finish_ed25519(signer)
        })();
        self.end_signed(r)
    }

    /// `userDataStream.subscribe` (after `session.logon`; no params).
    pub fn user_data_subscribe(&mut self, id: u64) -> Result<&[u8], EncodeError> {
        let r = self
            .start(id, b"userDataStream.subscribe", false)
            .and_then(Req::finish);
        self.end(r)
    }

    /// `userDataStream.subscribe.signature`: subscribe without a logon,
    /// signed with an HMAC key.
    pub fn user_data_subscribe_signature(
        &mut self,
        id: u64,
        api_key: &str,
        signer: &HmacSigner,
        timestamp_ms: u64,
        recv_window_ms: u32,
    ) -> Result<&[u8], EncodeError> {
        let auth = Auth::Hmac { api_key, signer };
        self.symbol_scoped(
            b"userDataStream.subscribe.signature",
            id,
            None,
            timestamp_ms,
            recv_window_ms,
            &auth,
        )
    }

    /// `time` (no params).
    pub fn time(&mut self, id: u64) -> Result<&[u8], EncodeError> {
        let r = self.start(id, b"time", false).and_then(Req::finish);
        self.end(r)
    }

    /// `exchangeInfo` for `symbols` (`{"symbols":[…]}`); an empty slice asks
    /// for every symbol (no params).
    pub fn exchange_info(&mut self, id: u64, symbols: &[&str]) -> Result<&[u8], EncodeError> {
        for s in symbols {
            check_symbol(s)?;
        }
        let r = (|| {
            let mut r = self.start(id, b"exchangeInfo", false)?;
            if let Some((first, rest)) = symbols.split_first() {
                r.json.put(b",\"params\":{\"symbols\":[\"")?;
                r.json.put(first.as_bytes())?;
                for s in rest {
                    r.json.put(b"\",\"")?;
                    r.json.put(s.as_bytes())?;
                }
                r.json.put(b"\"]")?;
                r.first = false;
            }
            r.finish()
        })();
        self.end(r)
    }

    /// Any signed (or session-authenticated) request: `params` in any order
    /// are sorted by name (byte order), `apiKey` added for HMAC, string
    /// values JSON-escaped in the frame and signed raw (UTF-8, no
    /// percent-encoding), then `signature` appended. For methods without a
    /// dedicated encoder (e.g. `account.status`, `order.cancelReplace`).
    pub fn signed(
        &mut self,
        id: u64,
        method: &str,
        params: &[(&str, ParamValue<'_>)],
        auth: &Auth<'_>,
    ) -> Result<&[u8], EncodeError> {
        if method.is_empty()
            || !method
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'/' | b'_'))
        {
            return Err(EncodeError::InvalidMethod);
        }
        let mut sorted: [(&[u8], ParamValue<'_>); MAX_PARAMS] =
            [(b"", ParamValue::Int(0)); MAX_PARAMS];
        let mut n = 0;
        if let Auth::Hmac { api_key, .. } = *auth {
            check_api_key(api_key)?;
            sorted[0] = (b"apiKey", ParamValue::Str(api_key));
            n = 1;
        }
        for &(k, v) in params {
            if k.is_empty() || k == "signature" || !k.bytes().all(|c| c.is_ascii_alphanumeric()) {
                return Err(EncodeError::InvalidParamName);
            }
            let slot = sorted.get_mut(n).ok_or(EncodeError::TooManyParams)?;
            *slot = (k.as_bytes(), v);
            n += 1;
        }
        let sorted = sorted.get_mut(..n).unwrap_or_default();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if sorted.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(EncodeError::DuplicateParam);
        }
        let sign = matches!(auth, Auth::Hmac { .. });
        let r = (|| {
            let mut r = self.start(id, method.as_bytes(), sign)?;
            for &(k, v) in sorted.iter() {
                r.any_param(k, v)?;
            }
            Self::close(r, auth)
        })();
        self.end_signed(r)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use talon_core::num::{Price, Qty};

    #[test]
    fn fixed8_text_matches_display() {
        for raw in [
            0,
            1,
            10,
            100_000_000,
            5_200_000_000_000,
            1_000_000,
            123_456_789,
            -1,
            -100_000_000,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            let mut b = [0u8; FIXED_BUF];
            assert_eq!(
                std::str::from_utf8(fixed8_text(raw, &mut b)).unwrap(),
                Price::from_raw(raw).to_string(),
                "raw {raw}"
            );
        }
    }

    proptest! {
        #[test]
        fn fixed8_text_matches_display_for_any_raw(raw in any::<i64>()) {
            let mut b = [0u8; FIXED_BUF];
            prop_assert_eq!(
                std::str::from_utf8(fixed8_text(raw, &mut b)).unwrap(),
                Qty::from_raw(raw).to_string()
            );
        }

        #[test]
        fn u64_text_matches_display(v in any::<u64>()) {
            let mut buf = [0; 20];
            let want = v.to_string();
            prop_assert_eq!(u64_text(v, &mut buf), want.as_bytes());
        }
    }

    #[test]
    fn json_escape_handles_quotes_backslashes_and_controls() {
        let mut buf = [0u8; 64];
        let mut c = Cursor {
            buf: &mut buf,
            len: 0,
        };
        json_escape(&mut c, "a\"b\\c\u{1}é".as_bytes()).unwrap();
        let n = c.len;
        assert_eq!(&buf[..n], "a\\\"b\\\\c\\u0001é".as_bytes());
    }

    #[test]
    fn api_key_and_method_validation() {
        assert_eq!(check_api_key(""), Err(EncodeError::InvalidApiKey));
        assert_eq!(check_api_key("a b"), Err(EncodeError::InvalidApiKey));
        assert_eq!(check_api_key("a&b=c"), Err(EncodeError::InvalidApiKey));
        assert_eq!(check_api_key("a\"b"), Err(EncodeError::InvalidApiKey));
        assert_eq!(check_api_key("é"), Err(EncodeError::InvalidApiKey));
        assert!(check_api_key("vmPUZE6mv9SD5VNH").is_ok());
        let mut e = RequestEncoder::new(256);
        let a = Auth::Session;
        assert_eq!(e.signed(1, "", &[], &a), Err(EncodeError::InvalidMethod));
        assert_eq!(
            e.signed(1, "a\"b", &[], &a),
            Err(EncodeError::InvalidMethod)
        );
        assert_eq!(
            e.signed(1, "x", &[("signature", ParamValue::Int(1))], &a),
            Err(EncodeError::InvalidParamName)
        );
        assert_eq!(
            e.signed(
                1,
                "x",
                &[("a", ParamValue::Int(1)), ("a", ParamValue::Int(2))],
                &a
            ),
            Err(EncodeError::DuplicateParam)
        );
        let many = [("k", ParamValue::Int(0)); MAX_PARAMS + 1];
        assert_eq!(e.signed(1, "x", &many, &a), Err(EncodeError::TooManyParams));
        let s = HmacSigner::new(b"k");
        let h = Auth::Hmac {
            api_key: "K",
            signer: &s,
        };
        assert_eq!(
            e.signed(1, "x", &[("apiKey", ParamValue::Str("K"))], &h),
            Err(EncodeError::DuplicateParam)
        );
    }

    use serde_json::Value;
    use talon_core::event::ClientOrderId;
    use talon_core::instrument::InstrumentId;

    const KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";

    fn limit(side: Side, px: &str, qty: &str, seq: u64) -> OrderCommand {
        OrderCommand::new_order(
            InstrumentId(1),
            side,
            OrderType::Limit,
            TimeInForce::Gtc,
            Price::parse(px).unwrap(),
            Qty::parse(qty).unwrap(),
            ClientOrderId::from_session_seq(1, seq),
        )
    }

    fn parse(frame: &[u8]) -> Value {
        serde_json::from_slice(frame).unwrap()
    }

    /// The venue's rule, recomputed from the parsed JSON: every param but
    /// `signature`, sorted by name, `k=v` joined by `&`, numbers as text.
    fn sorted_join(params: &Value) -> String {
        let mut kv: Vec<(String, String)> = params
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "signature")
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    other => panic!("unexpected {other}"),
                };
                (k.clone(), text)
            })
            .collect();
        kv.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        kv.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    fn hex(s: &HmacSigner, p: &[u8]) -> String {
        let mut out = [0u8; 64];
        s.sign_hex(p, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn order_place_limit_has_the_right_fields_and_signature() {
        let signer = HmacSigner::new(b"secret");
        let auth = Auth::Hmac {
            api_key: KEY,
            signer: &signer,
        };
        let mut e = RequestEncoder::new(1024);
        let cmd = limit(Side::Buy, "65000.10", "0.00100000", 42);
        let f = e
            .order_place(17, "BTCUSDT", &cmd, 1_700_000_000_123, 5000, &auth)
            .unwrap()
            .to_vec();
        let v = parse(&f);
        assert!(f.starts_with(b"{\"id\":17,\"method\":\"order.place\",\"params\":{"));
        assert_eq!(v["id"], 17);
        assert_eq!(v["method"], "order.place");
        let p = &v["params"];
        assert_eq!(p["symbol"], "BTCUSDT");
        assert_eq!(p["side"], "BUY");
        assert_eq!(p["type"], "LIMIT");
        assert_eq!(p["timeInForce"], "GTC");
        assert_eq!(p["price"], "65000.1");
        assert_eq!(p["quantity"], "0.001");
        assert_eq!(p["newClientOrderId"], "tl0000000001-00000000000000000042");
        assert_eq!(p["newOrderRespType"], "RESULT");
        assert_eq!(p["apiKey"], KEY);
        assert_eq!(p["timestamp"], 1_700_000_000_123u64);
        assert_eq!(p["recvWindow"], 5000);
        assert_eq!(p.as_object().unwrap().len(), 12);
        assert_eq!(e.last_payload(), sorted_join(p).as_bytes());
        assert_eq!(
            p["signature"],
            hex(&signer, sorted_join(p).as_bytes()).as_str()
        );
        // `signature` is the last param.
        assert!(f.ends_with(
            format!("\"signature\":\"{}\"}}}}", p["signature"].as_str().unwrap()).as_bytes()
        ));
    }

    #[test]
    fn market_and_limit_maker_omit_what_the_venue_forbids() {
        let signer = HmacSigner::new(b"secret");
        let auth = Auth::Hmac {
            api_key: KEY,
            signer: &signer,
        };
        let mut e = RequestEncoder::new(1024);
        let mut cmd = limit(Side::Sell, "1", "2.5", 1);
        cmd.order_type = OrderType::Market;
        cmd.price = Price::ZERO; // a market order needs no price
        let v = parse(e.order_place(1, "ETHBTC", &cmd, 1, 0, &auth).unwrap());
        let p = &v["params"];
        assert_eq!(p["type"], "MARKET");
        assert_eq!(p["side"], "SELL");
        assert!(p.get("price").is_none() && p.get("timeInForce").is_none());
        assert!(p.get("recvWindow").is_none(), "0 = venue default");
        assert_eq!(p["quantity"], "2.5");
        cmd.order_type = OrderType::LimitMaker;
        cmd.price = Price::parse("0.05").unwrap();
        cmd.time_in_force = TimeInForce::Ioc;
        let v = parse(e.order_place(1, "ETHBTC", &cmd, 1, 0, &auth).unwrap());
        let p = &v["params"];
        assert_eq!(p["type"], "LIMIT_MAKER");
        assert_eq!(p["price"], "0.05");
        assert!(p.get("timeInForce").is_none());
        cmd.order_type = OrderType::Limit;
        for (tif, text) in [
            (TimeInForce::Gtc, "GTC"),
            (TimeInForce::Ioc, "IOC"),
            (TimeInForce::Fok, "FOK"),
        ] {
            cmd.time_in_force = tif;
            let v = parse(e.order_place(1, "ETHBTC", &cmd, 1, 0, &auth).unwrap());
            assert_eq!(v["params"]["timeInForce"], text);
        }
    }

    #[test]
    fn session_auth_sends_no_key_and_no_signature() {
        let mut e = RequestEncoder::new(1024);
        let cmd = limit(Side::Buy, "1", "1", 1);
        let v = parse(
            e.order_place(2, "BTCUSDT", &cmd, 99, 3000, &Auth::Session)
                .unwrap(),
        );
        let p = &v["params"];
        assert!(p.get("apiKey").is_none() && p.get("signature").is_none());
        assert_eq!(p["timestamp"], 99);
        assert_eq!(p["recvWindow"], 3000);
        assert_eq!(e.last_payload(), b"");
        let v = parse(e.open_orders_status(3, None, 5, 0, &Auth::Session).unwrap());
        assert_eq!(v["params"], serde_json::json!({"timestamp": 5}));
    }

    #[test]
    fn unsigned_methods() {
        let mut e = RequestEncoder::new(256);
        assert_eq!(e.time(5).unwrap(), b"{\"id\":5,\"method\":\"time\"}");
        assert_eq!(
            e.user_data_subscribe(u64::MAX).unwrap(),
            b"{\"id\":18446744073709551615,\"method\":\"userDataStream.subscribe\"}"
        );
        assert_eq!(
            e.exchange_info(1, &[]).unwrap(),
            b"{\"id\":1,\"method\":\"exchangeInfo\"}"
        );
        let v = parse(e.exchange_info(2, &["BTCUSDT", "ETHUSDT"]).unwrap());
        assert_eq!(
            v["params"],
            serde_json::json!({"symbols": ["BTCUSDT", "ETHUSDT"]})
        );
        let v = parse(e.exchange_info(2, &["BTCUSDT"]).unwrap());
        assert_eq!(v["params"]["symbols"], serde_json::json!(["BTCUSDT"]));
        assert_eq!(
            e.exchange_info(2, &["BTCUSDT", "x\""]),
            Err(EncodeError::InvalidSymbol)
        );
    }

    #[test]
    fn cancel_status_and_subscribe_signature_fields() {
        let signer = HmacSigner::new(b"s3cr3t");
        let auth = Auth::Hmac {
            api_key: KEY,
            signer: &signer,
        };
        let mut e = RequestEncoder::new(1024);
        let id = ClientOrderId::from_session_seq(9, 1);
        for (method, frame) in [
            (
                "order.cancel",
                e.order_cancel(1, "BTCUSDT", &id, 10, 100, &auth)
                    .unwrap()
                    .to_vec(),
            ),
            (
                "order.status",
                e.order_status(1, "BTCUSDT", &id, 10, 100, &auth)
                    .unwrap()
                    .to_vec(),
            ),
        ] {
            let v = parse(&frame);
            assert_eq!(v["method"], method);
            let p = &v["params"];
            assert_eq!(p["origClientOrderId"], id.as_str());
            assert_eq!(p["symbol"], "BTCUSDT");
            assert_eq!(p.as_object().unwrap().len(), 6);
            assert_eq!(
                p["signature"],
                hex(&signer, sorted_join(p).as_bytes()).as_str()
            );
        }
        let v = parse(
            e.open_orders_cancel_all(1, "BTCUSDT", 10, 100, &auth)
                .unwrap(),
        );
        assert_eq!(v["method"], "openOrders.cancelAll");
        assert_eq!(v["params"].as_object().unwrap().len(), 5);
        let v = parse(
            e.user_data_subscribe_signature(1, KEY, &signer, 10, 100)
                .unwrap(),
        );
        assert_eq!(v["method"], "userDataStream.subscribe.signature");
        let p = &v["params"];
        assert_eq!(p.as_object().unwrap().len(), 4);
        assert_eq!(
            p["signature"],
            hex(&signer, sorted_join(p).as_bytes()).as_str()
        );
    }

    #[test]
    fn invalid_inputs_are_typed_errors() {
        let signer = HmacSigner::new(b"s");
        let auth = Auth::Hmac {
            api_key: KEY,
            signer: &signer,
        };
        let mut e = RequestEncoder::new(1024);
        let good = limit(Side::Buy, "1", "1", 1);
        for sym in [
            "",
            "btcusdt",
            "BTC\"USDT",
            "BTC&USDT",
            "ＢＴＣ",
            "ABCDEFGHIJKLMNOPQRSTU",
        ] {
            assert_eq!(
                e.order_place(1, sym, &good, 1, 0, &auth),
                Err(EncodeError::InvalidSymbol),
                "{sym}"
            );
        }
        let mut c = good;
        c.client_order_id = ClientOrderId::EMPTY;
        assert_eq!(
            e.order_place(1, "BTCUSDT", &c, 1, 0, &auth),
            Err(EncodeError::MissingClientOrderId)
        );
        assert_eq!(
            e.order_cancel(1, "BTCUSDT", &ClientOrderId::EMPTY, 1, 0, &auth),
            Err(EncodeError::MissingClientOrderId)
        );
        let c = OrderCommand::cancel(InstrumentId(1), good.client_order_id);
        assert_eq!(
            e.order_place(1, "BTCUSDT", &c, 1, 0, &auth),
            Err(EncodeError::NotANewOrder)
        );
        let mut c = good;
        c.qty = Qty::ZERO;
        assert_eq!(
            e.order_place(1, "BTCUSDT", &c, 1, 0, &auth),
            Err(EncodeError::NonPositiveQty)
        );
        let mut c = good;
        c.price = Price::from_raw(-1);
        assert_eq!(
            e.order_place(1, "BTCUSDT", &c, 1, 0, &auth),
            Err(EncodeError::NonPositivePrice)
        );
        let bad = Auth::Hmac {
            api_key: "a=b",
            signer: &signer,
        };
        assert_eq!(
            e.order_place(1, "BTCUSDT", &good, 1, 0, &bad),
            Err(EncodeError::InvalidApiKey)
        );
        let ed = crate::sign::Ed25519Signer::from_pkcs8_pem(
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIIJEYWtGBrhACmb9Dvy+qa8WEf0lQOl1s4CLIAB9m89u\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        assert_eq!(
            e.session_logon(1, "", &ed, 1, 0),
            Err(EncodeError::InvalidApiKey)
        );
        assert!(e.session_logon(1, "k", &ed, 1, 0).is_ok());
        // After an error, the payload is not stale.
        assert!(e.order_place(1, "BTCUSDT", &good, 1, 0, &auth).is_ok());
        assert!(!e.last_payload().is_empty());
        let _ = e.order_place(1, "x", &good, 1, 0, &auth);
        let _ = e.time(1);
        assert_eq!(e.last_payload(), b"");
    }

    #[test]
    fn every_buffer_size_up_to_the_frame_errors_or_fits_never_panics() {
        let signer = HmacSigner::new(b"s");
        let auth = Auth::Hmac {
            api_key: KEY,
            signer: &signer,
        };
        let cmd = limit(Side::Sell, "92233720368.54775807", "0.00000001", u64::MAX);
        let full = RequestEncoder::new(1024)
            .order_place(
                u64::MAX,
                "ABCDEFGHIJKLMNOPQRST",
                &cmd,
                u64::MAX,
                u32::MAX,
                &auth,
            )
            .unwrap()
            .to_vec();
        for cap in 0..full.len() {
            let mut e = RequestEncoder::new(cap);
            assert_eq!(
                e.order_place(
                    u64::MAX,
                    "ABCDEFGHIJKLMNOPQRST",
                    &cmd,
                    u64::MAX,
                    u32::MAX,
                    &auth
                ),
                Err(EncodeError::BufferTooSmall),
                "cap {cap}"
            );
            assert!(e.time(1).is_ok() || cap < 28);
            let _ = e.exchange_info(1, &["BTCUSDT", "ETHUSDT"]);
            let _ = e.signed(1, "x", &[("a", ParamValue::Str("\"\"\""))], &auth);
        }
        let mut e = RequestEncoder::new(full.len());
        assert_eq!(
            e.order_place(
                u64::MAX,
                "ABCDEFGHIJKLMNOPQRST",
                &cmd,
                u64::MAX,
                u32::MAX,
                &auth
            )
            .unwrap(),
            &full[..]
        );
        assert!(
            full.len() < 512,
            "worst-case order.place is {} bytes",
            full.len()
        );
    }

    #[test]
    fn signed_escapes_json_but_signs_raw_text() {
        let signer = HmacSigner::new(b"s");
        let auth = Auth::Hmac {
            api_key: KEY,
            signer: &signer,
        };
        let mut e = RequestEncoder::new(1024);
        let v = parse(
            e.signed(
                1,
                "v3/order.place",
                &[
                    ("note", ParamValue::Str("a\"b\\c\n１")),
                    ("b", ParamValue::Int(0)),
                ],
                &auth,
            )
            .unwrap(),
        );
        assert_eq!(v["method"], "v3/order.place");
        assert_eq!(v["params"]["note"], "a\"b\\c\n１");
        assert_eq!(
            e.last_payload(),
            format!("apiKey={KEY}&b=0&note=a\"b\\c\n１").as_bytes()
        );
        assert_eq!(
            v["params"]["signature"],
            hex(&signer, e.last_payload()).as_str()
        );
    }

    fn arb_cmd() -> impl Strategy<Value = (OrderCommand, String)> {
        (
            prop::sample::select(vec![Side::Buy, Side::Sell]),
            prop::sample::select(vec![
                OrderType::Limit,
                OrderType::Market,
                OrderType::LimitMaker,
            ]),
            prop::sample::select(TimeInForce::ALL.to_vec()),
            1..=i64::MAX,
            1..=i64::MAX,
            any::<u32>(),
            any::<u64>(),
            "[A-Z0-9]{1,20}",
        )
            .prop_map(|(side, ty, tif, px, qty, session, seq, sym)| {
                (
                    OrderCommand::new_order(
                        InstrumentId(1),
                        side,
                        ty,
                        tif,
                        Price::from_raw(px),
                        Qty::from_raw(qty),
                        ClientOrderId::from_session_seq(session, seq),
                    ),
                    sym,
                )
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_command_parses_and_its_sorted_join_verifies(
            (cmd, sym) in arb_cmd(),
            id in any::<u64>(),
            ts in any::<u64>(),
            rw in any::<u32>(),
            key in "[A-Za-z0-9]{1,64}",
            secret in prop::collection::vec(any::<u8>(), 0..100),
            which in 0..6u8,
        ) {
            let signer = HmacSigner::new(&secret);
            let auth = Auth::Hmac { api_key: &key, signer: &signer };
            let mut e = RequestEncoder::new(1024);
            let frame = match which {
                0 => e.order_place(id, &sym, &cmd, ts, rw, &auth),
                1 => e.order_cancel(id, &sym, &cmd.client_order_id, ts, rw, &auth),
                2 => e.order_status(id, &sym, &cmd.client_order_id, ts, rw, &auth),
                3 => e.open_orders_cancel_all(id, &sym, ts, rw, &auth),
                4 => e.open_orders_status(id, (ts % 2 == 0).then_some(sym.as_str()), ts, rw, &auth),
                _ => e.user_data_subscribe_signature(id, &key, &signer, ts, rw),
            }
            .unwrap()
            .to_vec();
            let v: Value = serde_json::from_slice(&frame).unwrap();
            prop_assert_eq!(&v["id"], &Value::from(id));
            let p = &v["params"];
            prop_assert_eq!(&p["apiKey"], &Value::from(key.as_str()));
            prop_assert_eq!(&p["timestamp"], &Value::from(ts));
            if rw == 0 {
                prop_assert!(p.get("recvWindow").is_none());
            } else {
                prop_assert_eq!(&p["recvWindow"], &Value::from(rw));
            }
            let join = sorted_join(p);
            prop_assert_eq!(e.last_payload(), join.as_bytes());
            prop_assert_eq!(p["signature"].as_str().unwrap(), hex(&signer, join.as_bytes()));
            if which == 0 {
                prop_assert_eq!(p["quantity"].as_str().unwrap(), cmd.qty.to_string());
                prop_assert_eq!(p["symbol"].as_str().unwrap(), sym.as_str());
                prop_assert_eq!(p["newClientOrderId"].as_str().unwrap(), cmd.client_order_id.as_str());
                if cmd.order_type == OrderType::Market {
                    prop_assert!(p.get("price").is_none());
                } else {
                    prop_assert_eq!(p["price"].as_str().unwrap(), cmd.price.to_string());
                }
            }
        }

        #[test]
        fn signed_sorts_any_params_and_verifies(
            params in prop::collection::btree_map("[A-Za-z0-9]{1,12}", prop_oneof![
                any::<u64>().prop_map(|n| (None, n)),
                "\\PC{0,12}".prop_map(|s| (Some(s), 0u64)),
            ], 0..10),
            secret in prop::collection::vec(any::<u8>(), 0..80),
        ) {
            let params: Vec<(String, (Option<String>, u64))> =
                params.into_iter().filter(|(k, _)| k != "apiKey" && k != "signature").rev().collect();
            let typed: Vec<(&str, ParamValue<'_>)> = params
                .iter()
                .map(|(k, (s, n))| (k.as_str(), s.as_deref().map_or(ParamValue::Int(*n), ParamValue::Str)))
                .collect();
            let signer = HmacSigner::new(&secret);
            let auth = Auth::Hmac { api_key: "K", signer: &signer };
            let mut e = RequestEncoder::new(4096);
            let frame = e.signed(1, "m", &typed, &auth).unwrap().to_vec();
            let v: Value = serde_json::from_slice(&frame).unwrap();
            let join = sorted_join(&v["params"]);
            prop_assert_eq!(e.last_payload(), join.as_bytes());
            prop_assert_eq!(v["params"]["signature"].as_str().unwrap(), hex(&signer, join.as_bytes()));
            for (k, (s, n)) in &params {
                match s {
                    Some(s) => prop_assert_eq!(&v["params"][k], &Value::from(s.as_str())),
                    None => prop_assert_eq!(&v["params"][k], &Value::from(*n)),
                }
            }
        }
    }

    #[test]
    fn every_error_has_a_distinct_name() {
        use EncodeError::*;
        let all = [
            BufferTooSmall,
            InvalidSymbol,
            MissingClientOrderId,
            InvalidApiKey,
            NotANewOrder,
            NonPositiveQty,
            NonPositivePrice,
            InvalidParamName,
            DuplicateParam,
            TooManyParams,
            InvalidMethod,
        ];
        let mut names: Vec<_> = all.iter().map(|e| e.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }
}
