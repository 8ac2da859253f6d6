//! The simulator's matching engine and accounts: the venue behind the order
//! side's wire protocols (WebSocket API and REST, in `orderapi`).
//!
//! Owns accounts (API keys, balances free/locked), open orders per account
//! and symbol, matching (marketable orders fill against the simulated book
//! and against other accounts' resting orders, price-time priority, partial
//! fills across levels, fees), resting-order fills when the simulated market
//! trades through them, self-trade prevention, filter checks, and the user
//! data events (`executionReport`, `outboundAccountPosition`,
//! `balanceUpdate`) each change produces.
//!
//! It never parses or renders wire text, never checks signatures or rate
//! limits (the wire layer does), never reads a clock (times come in as
//! arguments) and never moves the simulated market: the generator's book is
//! the other participants' liquidity, read as a [`BookView`] at the instant
//! an order arrives, and our orders do not consume it (documented behaviour:
//! liquidity is replenished at once).
//!
//! # Documented behaviours
//!
//! - **Liquidity is not consumed.** A marketable order walks the
//!   [`BookView`] it is given (best price first, partial fills across
//!   levels) but the generator's book is not changed; the next order sees
//!   the same levels. Other accounts' resting orders *are* consumed.
//! - **Queue priority at one price:** resting account orders fill before the
//!   simulated book's level at the same price (they are treated as having
//!   joined first); among account orders, price then time (order id).
//! - **Market trades through resting orders** ([`Exchange::on_market_trade`]):
//!   a sell-aggressor print at `P` fills resting buys priced `>= P`, a
//!   buy-aggressor print fills resting sells `<= P` — an **equal price
//!   fills** (optimistic queue position) — at the resting order's own price,
//!   as maker, in price-time order, up to the printed quantity in total.
//!   Resting orders that the book moves through without a print do not fill.
//! - **Self-trade prevention** follows the taker's mode; the default for
//!   orders without one is [`DEFAULT_STP`] = EXPIRE_MAKER, as the
//!   simulator's `exchangeInfo` `defaultSelfTradePreventionMode` says. An
//!   order expired by STP gets `x=TRADE_PREVENTION`, `X=EXPIRED_IN_MATCH`.
//! - **Expiry reasons:** IOC remainder `UNFILLED_IOC_QUANTITY_EXPIRED`, FOK
//!   `UNFILLED_FOK_ORDER_EXPIRED` (no fills at all), MARKET by quantity that
//!   runs out of liquidity `INSUFFICIENT_LIQUIDITY`. A MARKET by
//!   `quoteOrderQty` is FILLED with `origQty` = what it could buy/sell
//!   (quantity per level rounded down to the step), EXPIRED if nothing.
//! - **Filters** (-1013, in this order): PRICE_FILTER (tick ≤ price ≤
//!   [`MAX_PRICE`], on the tick grid), LOT_SIZE (quantity orders: min/max,
//!   step grid from minQty), NOTIONAL (LIMIT/LIMIT_MAKER: min and max of
//!   price × qty; MARKET by quantity: min only, at the book's mid or its one
//!   side's best price, skipped when the book is empty; MARKET by quote:
//!   the quote amount against min), MAX_NUM_ORDERS ([`MAX_NUM_ORDERS`] open
//!   per account and symbol). Then -2010: duplicate open client id (any
//!   symbol of the account), LIMIT_MAKER that would take (any crossing
//!   liquidity, own orders included), insufficient free balance for the
//!   lock (LIMIT buy: price × qty quote; sells: the base; MARKET buy by
//!   quantity: the planned fill cost; MARKET buy by quote: the quote
//!   amount; MARKET sell by quote: the planned base).
//! - **Locks:** a priced buy keeps exactly `price × remaining` locked after
//!   each fill (price improvement goes back to free, as on the venue);
//!   whatever is left when an order ends is released.
//! - **Events:** every accepted order gets `NEW` first, then `TRADE` per
//!   fill (makers of other accounts get theirs at the same time), then
//!   `EXPIRED`/`TRADE_PREVENTION` if it ends that way, then one
//!   `outboundAccountPosition` per touched account with the touched assets.
//! - **Ids:** order ids start at [`FIRST_ORDER_ID`] (above 2^32), trade ids
//!   per symbol at [`FIRST_TRADE_ID`] (clear of the generator's public trade
//!   ids), execution ids at [`FIRST_EXECUTION_ID`]; all increase by one.
//! - **Money:** balances in 1e-8 units; a fill's quote is `price × qty`
//!   truncated to 1e-8, the fee `amount × rate` truncated, charged in the
//!   received asset and credited to the exchange fee account
//!   ([`Exchange::fees_collected`]). Fills against the simulated book move
//!   assets in or out of the accounts; that flow is tracked
//!   ([`Exchange::market_flow`]) so [`Exchange::check_invariants`] can prove
//!   conservation.
//!
//! THIS FILE IS THE INTERFACE CONTRACT between the exchange core and the
//! wire layer. Signatures and types here may gain fields/methods but must
//! not change shape without updating both sides.

mod matching;
mod state;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use talon_core::num::{Price, Qty, SCALE};

use crate::config::SymbolSpec;
use crate::market::{BookView, TradePrint};
use state::{Account, Order, Sym, Touched, qty_sat};

/// Index of an account in the exchange (dense, from 0, in config order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub u32);

/// An account as configured (`--account API_KEY:SECRET[:ASSET=AMOUNT,...]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSpec {
    /// The API key clients send (`X-MBX-APIKEY`, `apiKey`).
    pub api_key: String,
    /// HMAC-SHA256 secret (the bytes of the text as given).
    pub secret: String,
    /// Optional Ed25519 public key (32 raw bytes) for `session.logon`.
    pub ed25519_public: Option<[u8; 32]>,
    /// Starting free balances per asset.
    pub balances: Vec<(String, Qty)>,
}

/// `side`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderSide {
    /// BUY
    Buy,
    /// SELL
    Sell,
}

/// `type` (the simulator supports these three; others are -1116/-1013 at
/// the wire layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderKind {
    /// LIMIT (requires timeInForce, price, quantity)
    Limit,
    /// MARKET (quantity or quoteOrderQty)
    Market,
    /// LIMIT_MAKER (price, quantity; rejected if it would take)
    LimitMaker,
}

/// `timeInForce`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tif {
    /// GTC
    Gtc,
    /// IOC
    Ioc,
    /// FOK
    Fok,
}

/// `selfTradePreventionMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StpMode {
    /// NONE
    None,
    /// EXPIRE_TAKER
    ExpireTaker,
    /// EXPIRE_MAKER
    ExpireMaker,
    /// EXPIRE_BOTH
    ExpireBoth,
}

/// `status` / `X`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VenueOrderStatus {
    /// NEW
    New,
    /// PARTIALLY_FILLED
    PartiallyFilled,
    /// FILLED
    Filled,
    /// CANCELED
    Canceled,
    /// REJECTED
    Rejected,
    /// EXPIRED
    Expired,
    /// EXPIRED_IN_MATCH (self-trade prevention)
    ExpiredInMatch,
}

/// `x` of an executionReport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecType {
    /// NEW
    New,
    /// CANCELED
    Canceled,
    /// REPLACED
    Replaced,
    /// REJECTED
    Rejected,
    /// TRADE
    Trade,
    /// EXPIRED
    Expired,
    /// TRADE_PREVENTION
    TradePrevention,
}

/// A validated new-order request (the wire layer has parsed the text,
/// checked presence and precision of every field for the type, and
/// generated a client order id when none was sent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// Upper-case symbol (known to exist).
    pub symbol: String,
    /// Side.
    pub side: OrderSide,
    /// Type.
    pub kind: OrderKind,
    /// Time in force (LIMIT: required; LIMIT_MAKER/MARKET: `None`).
    pub tif: Option<Tif>,
    /// Limit price (LIMIT, LIMIT_MAKER).
    pub price: Option<Price>,
    /// Base quantity (LIMIT, LIMIT_MAKER, MARKET by quantity).
    pub quantity: Option<Qty>,
    /// Quote quantity (MARKET by quoteOrderQty), in quote units at 1e-8.
    pub quote_order_qty: Option<Qty>,
    /// `newClientOrderId` (generated by the wire layer if absent).
    pub client_order_id: String,
    /// `selfTradePreventionMode` (`None` = [`DEFAULT_STP`], EXPIRE_MAKER as
    /// the simulator's exchangeInfo `defaultSelfTradePreventionMode`).
    pub stp: Option<StpMode>,
}

/// Which order a cancel/status refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderRef {
    /// `orderId`
    OrderId(u64),
    /// `origClientOrderId`
    ClientId(String),
}

/// One fill of an order (a `fills[]` entry / one TRADE executionReport).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fill {
    /// Trade price.
    pub price: Price,
    /// Trade quantity (base).
    pub qty: Qty,
    /// Commission charged.
    pub commission: Qty,
    /// Asset the commission is in (received asset: base for a buy, quote
    /// for a sell).
    pub commission_asset: String,
    /// Venue trade id (unique per symbol, increasing).
    pub trade_id: u64,
    /// Maker side of this trade?
    pub is_maker: bool,
}

/// An order as the venue reports it (RESULT / order.status shape).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderView {
    /// Symbol.
    pub symbol: String,
    /// Venue order id (starts at a value above 2^32, increasing).
    pub order_id: u64,
    /// The order's client id (after a cancel: see `orig_client_order_id`).
    pub client_order_id: String,
    /// For cancel reports: the cancelled order's client id.
    pub orig_client_order_id: Option<String>,
    /// Limit price (0 for MARKET).
    pub price: Price,
    /// Original quantity (for MARKET by quote: the executed quantity).
    pub orig_qty: Qty,
    /// Executed quantity.
    pub executed_qty: Qty,
    /// Cumulative quote quantity (Σ price·qty, truncated to 1e-8).
    pub cumulative_quote_qty: Qty,
    /// Original quote order quantity (0 unless MARKET by quote).
    pub orig_quote_order_qty: Qty,
    /// Status.
    pub status: VenueOrderStatus,
    /// Time in force (MARKET reports GTC as the venue does).
    pub tif: Tif,
    /// Type.
    pub kind: OrderKind,
    /// Side.
    pub side: OrderSide,
    /// STP mode.
    pub stp: StpMode,
    /// Creation time (ms).
    pub time_ms: u64,
    /// Last update time (ms).
    pub update_time_ms: u64,
    /// Time it started working (ms), if it did.
    pub working_time_ms: Option<u64>,
    /// On the book?
    pub is_working: bool,
}

/// What `place` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaceResult {
    /// The order after matching.
    pub order: OrderView,
    /// Fills in execution order.
    pub fills: Vec<Fill>,
}

/// A venue error: `{"code":…,"msg":…}`, rendered by the wire layer with
/// HTTP/WS status 400.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// Binance code (e.g. -2010, -2011, -2013, -1013).
    pub code: i32,
    /// Binance message (e.g. "Unknown order sent.").
    pub msg: String,
}

/// One balance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Balance {
    /// Asset.
    pub asset: String,
    /// Free.
    pub free: Qty,
    /// Locked in open orders.
    pub locked: Qty,
}

/// `account.status` / `GET /api/v3/account` content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountView {
    /// Maker commission rate as a fraction at 1e-8 (e.g. 0.001 = 100_000).
    pub maker_commission: Qty,
    /// Taker commission rate, same scale.
    pub taker_commission: Qty,
    /// All balances (including zeros).
    pub balances: Vec<Balance>,
    /// Last update time (ms).
    pub update_time_ms: u64,
}

/// An `executionReport` (field letters in the comments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionReport {
    /// E (event time ms)
    pub event_time_ms: u64,
    /// The order's state after this execution (s, c, S, o, f, q, p, X, i, z,
    /// Z, O, W, V, Q, w come from here).
    pub order: OrderView,
    /// x
    pub exec_type: ExecType,
    /// C: original client id for a cancel ("" otherwise)
    pub orig_client_order_id: String,
    /// r: reject reason ("NONE")
    pub reject_reason: &'static str,
    /// The fill of this execution (l, L, n, N, t, m, Y), if a TRADE.
    pub fill: Option<Fill>,
    /// T (transaction time ms)
    pub transaction_time_ms: u64,
    /// I (execution id, unique, increasing)
    pub execution_id: u64,
    /// eR expiry reason for EXPIRED (e.g. UNFILLED_IOC_QUANTITY_EXPIRED).
    pub expiry_reason: Option<&'static str>,
}

/// One user data event, in the order the venue would send them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserEvent {
    /// `executionReport`
    Execution(Box<ExecutionReport>),
    /// `outboundAccountPosition`: balances that changed (E, u, B[a,f,l]).
    AccountPosition {
        /// E
        event_time_ms: u64,
        /// u
        update_time_ms: u64,
        /// B
        balances: Vec<Balance>,
    },
    /// `balanceUpdate` (a, d, T) — from [`Exchange::adjust_balance`].
    BalanceUpdate {
        /// E
        event_time_ms: u64,
        /// a
        asset: String,
        /// d (signed delta, 1e-8)
        delta: i64,
        /// T
        clear_time_ms: u64,
    },
}

/// Fees: maker/taker rates as fractions at 1e-8 (venue default 0.1 % =
/// 100_000).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeSchedule {
    /// Maker rate.
    pub maker: Qty,
    /// Taker rate.
    pub taker: Qty,
}

/// `MAX_NUM_ORDERS.maxNumOrders`: open orders per account and symbol.
pub const MAX_NUM_ORDERS: usize = 200;
/// `PRICE_FILTER.maxPrice` (as the simulator's exchangeInfo reports it);
/// `minPrice` is the tick size.
pub const MAX_PRICE: Price = Price::from_raw(1_000_000 * SCALE);
/// Closed orders kept per account for status queries (oldest dropped).
pub const CLOSED_ORDERS_KEPT: usize = 10_000;
/// STP mode of orders that do not name one.
pub const DEFAULT_STP: StpMode = StpMode::ExpireMaker;
/// The first order id (ids exceed 2^32 like the venue's).
pub const FIRST_ORDER_ID: u64 = 12_000_000_000;
/// The first trade id of each symbol.
pub const FIRST_TRADE_ID: u64 = 100_000_000_000;
/// The first execution id (`I`).
pub const FIRST_EXECUTION_ID: u64 = 50_000_000_000;

/// -2010 texts.
const MSG_INSUFFICIENT: &str = "Account has insufficient balance for requested action.";
const MSG_DUPLICATE: &str = "Duplicate order sent.";
const MSG_WOULD_TAKE: &str = "Order would immediately match and take.";
const MSG_UNKNOWN_ORDER: &str = "Unknown order sent.";
const MSG_NO_SUCH_ORDER: &str = "Order does not exist.";

/// Expiry reasons (`eR`).
const ER_IOC: &str = "UNFILLED_IOC_QUANTITY_EXPIRED";
const ER_FOK: &str = "UNFILLED_FOK_ORDER_EXPIRED";
const ER_LIQUIDITY: &str = "INSUFFICIENT_LIQUIDITY";

impl ApiError {
    fn new(code: i32, msg: &str) -> ApiError {
        ApiError {
            code,
            msg: msg.to_string(),
        }
    }
    fn filter(name: &str) -> ApiError {
        ApiError::new(-1013, &format!("Filter failure: {name}"))
    }
}

/// Placeholder spec returned for an account id that does not exist.
static NO_ACCOUNT: AccountSpec = AccountSpec {
    api_key: String::new(),
    secret: String::new(),
    ed25519_public: None,
    balances: Vec::new(),
};

/// The exchange: accounts, open orders, matching. Lives behind a mutex in
/// the simulator's shared state; every method is called with the current
/// time in ms.
#[derive(Debug)]
pub struct Exchange {
    syms: Vec<Sym>,
    accounts: Vec<Account>,
    fees: FeeSchedule,
    /// Open orders by id (resting, or the taker while it matches).
    open: HashMap<u64, Order>,
    next_order_id: u64,
    next_exec_id: u64,
    next_generated_id: u64,
    events: Vec<(AccountId, UserEvent)>,
    /// The exchange fee account.
    fee_account: BTreeMap<String, i128>,
    /// Net amounts the simulated market (the book's other participants)
    /// delivered into the accounts.
    market_flow: BTreeMap<String, i128>,
    /// Starting totals plus `adjust_balance` deltas, per asset.
    endowment: BTreeMap<String, i128>,
}

impl Exchange {
    /// A new exchange for these symbols and accounts.
    pub fn new(symbols: &[SymbolSpec], accounts: &[AccountSpec], fees: FeeSchedule) -> Exchange {
        let syms: Vec<Sym> = symbols
            .iter()
            .map(|spec| Sym {
                spec: spec.clone(),
                next_trade_id: FIRST_TRADE_ID,
                bids: BTreeSet::new(),
                asks: BTreeSet::new(),
            })
            .collect();
        let mut endowment: BTreeMap<String, i128> = BTreeMap::new();
        let accounts = accounts
            .iter()
            .map(|spec| {
                let mut acct = Account {
                    spec: spec.clone(),
                    balances: BTreeMap::new(),
                    open: BTreeSet::new(),
                    closed: VecDeque::new(),
                    update_ms: 0,
                };
                for s in &syms {
                    acct.bal(&s.spec.base);
                    acct.bal(&s.spec.quote);
                }
                for (asset, amount) in &spec.balances {
                    let amount = i128::from(amount.raw().max(0));
                    acct.bal(asset).free += amount;
                    *endowment.entry(asset.clone()).or_default() += amount;
                }
                acct
            })
            .collect();
        Exchange {
            syms,
            accounts,
            fees,
            open: HashMap::new(),
            next_order_id: FIRST_ORDER_ID,
            next_exec_id: FIRST_EXECUTION_ID,
            next_generated_id: 1,
            events: Vec::new(),
            fee_account: BTreeMap::new(),
            market_flow: BTreeMap::new(),
            endowment,
        }
    }

    /// The account with this API key.
    pub fn account_by_key(&self, api_key: &str) -> Option<AccountId> {
        self.accounts
            .iter()
            .position(|a| a.spec.api_key == api_key)
            .and_then(|i| u32::try_from(i).ok())
            .map(AccountId)
    }

    /// The account's configuration (secret, Ed25519 key). An unknown id
    /// yields an empty spec (no key, no secret), never a panic.
    pub fn account_spec(&self, id: AccountId) -> &AccountSpec {
        self.acct(id).map_or(&NO_ACCOUNT, |a| &a.spec)
    }

    /// Places an order: filters (-1013 "Filter failure: PRICE_FILTER" /
    /// LOT_SIZE / NOTIONAL / MAX_NUM_ORDERS), duplicate open
    /// `newClientOrderId` (-2010 "Duplicate order sent."), balance (-2010
    /// "Account has insufficient balance for requested action."),
    /// LIMIT_MAKER that would take (-2010 "Order would immediately match and
    /// take."), FOK that cannot fill in full (EXPIRED, no fills), then
    /// matching against `book` (the simulated market at this instant) and
    /// other resting orders, STP, fees, balances. Queues the user data
    /// events it causes.
    pub fn place(
        &mut self,
        account: AccountId,
        order: &NewOrder,
        book: &BookView,
        now_ms: u64,
    ) -> Result<PlaceResult, ApiError> {
        self.place_order(account, order, book, now_ms)
    }

    /// Cancels one open order (-2011 "Unknown order sent." if not open).
    /// `new_client_order_id` becomes the report's `clientOrderId` (generated
    /// by the wire layer if absent); the old id is `orig_client_order_id`.
    pub fn cancel(
        &mut self,
        account: AccountId,
        symbol: &str,
        which: &OrderRef,
        new_client_order_id: &str,
        now_ms: u64,
    ) -> Result<OrderView, ApiError> {
        let unknown = || ApiError::new(-2011, MSG_UNKNOWN_ORDER);
        let si = self.sym_index(symbol).ok_or_else(unknown)?;
        let id = self.find_open(account, si, which).ok_or_else(unknown)?;
        let mut touched = Touched::default();
        let view = self.cancel_one(id, new_client_order_id, now_ms, &mut touched);
        self.emit_positions(&touched, now_ms);
        view.ok_or_else(unknown)
    }

    /// Cancels every open order of the account on `symbol` (-2011 "Unknown
    /// order sent." if there are none, as the venue does), oldest first;
    /// each report's `clientOrderId` is a generated `simcancel…` id.
    pub fn cancel_all(
        &mut self,
        account: AccountId,
        symbol: &str,
        now_ms: u64,
    ) -> Result<Vec<OrderView>, ApiError> {
        let unknown = || ApiError::new(-2011, MSG_UNKNOWN_ORDER);
        let si = self.sym_index(symbol).ok_or_else(unknown)?;
        let ids = self.open_ids(account, Some(si));
        if ids.is_empty() {
            return Err(unknown());
        }
        let mut touched = Touched::default();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let new_id = format!("simcancel{:014}", self.next_generated_id);
            self.next_generated_id += 1;
            if let Some(v) = self.cancel_one(id, &new_id, now_ms, &mut touched) {
                out.push(v);
            }
        }
        self.emit_positions(&touched, now_ms);
        Ok(out)
    }

    /// An order of the account, open or closed (-2013 "Order does not
    /// exist." if unknown). By client id: the open order with that id, else
    /// the most recent closed one.
    pub fn status(
        &self,
        account: AccountId,
        symbol: &str,
        which: &OrderRef,
    ) -> Result<OrderView, ApiError> {
        let missing = || ApiError::new(-2013, MSG_NO_SUCH_ORDER);
        let si = self.sym_index(symbol).ok_or_else(missing)?;
        if let Some(id) = self.find_open(account, si, which) {
            return self
                .open
                .get(&id)
                .map(|o| o.view(symbol))
                .ok_or_else(missing);
        }
        let acct = self.acct(account).ok_or_else(missing)?;
        acct.closed
            .iter()
            .rev()
            .find(|o| o.sym == si && matches_ref(o, which))
            .map(|o| o.view(symbol))
            .ok_or_else(missing)
    }

    /// Open orders of the account (one symbol or all), oldest first. An
    /// unknown symbol has none.
    pub fn open_orders(&self, account: AccountId, symbol: Option<&str>) -> Vec<OrderView> {
        let si = match symbol {
            Some(s) => match self.sym_index(s) {
                Some(i) => Some(i),
                None => return Vec::new(),
            },
            None => None,
        };
        self.open_ids(account, si)
            .iter()
            .filter_map(|id| self.open.get(id))
            .map(|o| o.view(&self.syms[o.sym].spec.symbol))
            .collect()
    }

    /// Balances and commission rates (every asset the account has or any
    /// symbol trades, zeros included, by asset name).
    pub fn account(&self, account: AccountId) -> AccountView {
        let (balances, update_time_ms) = match self.acct(account) {
            Some(a) => (
                a.balances
                    .keys()
                    .map(|asset| a.balance_view(asset))
                    .collect(),
                a.update_ms,
            ),
            None => (Vec::new(), 0),
        };
        AccountView {
            maker_commission: self.fees.maker,
            taker_commission: self.fees.taker,
            balances,
            update_time_ms,
        }
    }

    /// Credits or debits a free balance (a deposit/withdrawal) and queues a
    /// `balanceUpdate` and an `outboundAccountPosition`. A debit larger
    /// than the free balance takes only what is free (the event carries
    /// the delta applied); an unknown account is ignored.
    pub fn adjust_balance(&mut self, account: AccountId, asset: &str, delta: i64, now_ms: u64) {
        let Some(acct) = self.acct_mut(account) else {
            return;
        };
        let bal = acct.bal(asset);
        let applied = i128::from(delta).max(-bal.free);
        bal.free += applied;
        acct.update_ms = now_ms;
        *self.endowment.entry(asset.to_string()).or_default() += applied;
        self.events.push((
            account,
            UserEvent::BalanceUpdate {
                event_time_ms: now_ms,
                asset: asset.to_string(),
                delta: i64::try_from(applied).unwrap_or(delta),
                clear_time_ms: now_ms,
            },
        ));
        let mut touched = Touched::default();
        touched.add(account, asset);
        self.emit_positions(&touched, now_ms);
    }

    /// The simulated market traded `qty` at `price` on `symbol` (called by
    /// the generator for every trade it prints): resting orders priced
    /// through it fill (a buy at or above a sell-aggressor print, a sell at
    /// or below a buy-aggressor print), as makers, at their own price, up
    /// to `qty` in total, in price-time priority.
    pub fn on_market_trade(
        &mut self,
        symbol: &str,
        price: Price,
        qty: Qty,
        buyer_is_maker: bool,
        now_ms: u64,
    ) {
        self.market_trade(symbol, price, qty, buyer_is_maker, now_ms);
    }

    /// [`Exchange::on_market_trade`] for one generator print.
    #[allow(
        dead_code,
        reason = "the wire layer (server.rs) calls it; allowed until that lands"
    )]
    pub(crate) fn on_trade_print(&mut self, t: &TradePrint) {
        self.market_trade(&t.symbol, t.price, t.qty, t.buyer_is_maker, t.time_ms);
    }

    /// Takes the user data events queued since the last call, per account,
    /// in the order they happened.
    pub fn take_events(&mut self) -> Vec<(AccountId, UserEvent)> {
        std::mem::take(&mut self.events)
    }

    /// Number of open orders of the account on `symbol`.
    pub fn open_count(&self, account: AccountId, symbol: &str) -> usize {
        match self.sym_index(symbol) {
            Some(si) => self.count_open(account, si),
            None => 0,
        }
    }

    /// Fees collected by the exchange so far, per asset (assets with none
    /// are absent).
    pub fn fees_collected(&self) -> Vec<(String, Qty)> {
        self.fee_account
            .iter()
            .map(|(a, v)| (a.clone(), qty_sat(*v)))
            .collect()
    }

    /// Net amounts of each asset the simulated market (fills against the
    /// book and market trades through resting orders) moved into the
    /// accounts, raw 1e-8 units (negative: moved out).
    pub fn market_flow(&self) -> Vec<(String, i128)> {
        self.market_flow
            .iter()
            .map(|(a, v)| (a.clone(), *v))
            .collect()
    }

    /// Checks the books: per asset, Σ accounts (free + locked) + fees =
    /// starting balances + `adjust_balance` deltas + market flow; each
    /// account's locked amount of each asset equals the sum of its open
    /// orders' remaining locks; no balance is negative; every open order is
    /// on its symbol's queue and in its account's open set. The first
    /// violation found, described, or `Ok`.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut totals: BTreeMap<&str, i128> = BTreeMap::new();
        for (i, a) in self.accounts.iter().enumerate() {
            let mut locks: BTreeMap<&str, i128> = BTreeMap::new();
            for id in &a.open {
                let o = self
                    .open
                    .get(id)
                    .ok_or(format!("account {i}: open {id} missing"))?;
                *locks.entry(o.lock_asset.as_str()).or_default() += o.locked;
                let key = Sym::key(o.side, o.price, o.id);
                if !self.syms[o.sym].queue(o.side).contains(&key) {
                    return Err(format!("order {id} not on its queue"));
                }
            }
            for (asset, b) in &a.balances {
                if b.free < 0 || b.locked < 0 {
                    return Err(format!("account {i} {asset}: negative {b:?}"));
                }
                let want = locks.get(asset.as_str()).copied().unwrap_or(0);
                if b.locked != want {
                    return Err(format!(
                        "account {i} {asset}: locked {} != open orders' locks {want}",
                        b.locked
                    ));
                }
                *totals.entry(asset.as_str()).or_default() += b.free + b.locked;
            }
        }
        let queued: usize = self.syms.iter().map(|s| s.bids.len() + s.asks.len()).sum();
        if queued != self.open.len() {
            return Err(format!("{queued} queued vs {} open", self.open.len()));
        }
        for (asset, v) in &self.fee_account {
            *totals.entry(asset.as_str()).or_default() += v;
        }
        let mut assets: BTreeSet<&str> = totals.keys().copied().collect();
        assets.extend(self.endowment.keys().map(String::as_str));
        assets.extend(self.market_flow.keys().map(String::as_str));
        for asset in assets {
            let have = totals.get(asset).copied().unwrap_or(0);
            let want = self.endowment.get(asset).copied().unwrap_or(0)
                + self.market_flow.get(asset).copied().unwrap_or(0);
            if have != want {
                return Err(format!("{asset}: accounts+fees {have} != expected {want}"));
            }
        }
        Ok(())
    }

    // ---- internals shared by the operations ----

    fn acct(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(id.0 as usize)
    }

    fn acct_mut(&mut self, id: AccountId) -> Option<&mut Account> {
        self.accounts.get_mut(id.0 as usize)
    }

    fn sym_index(&self, symbol: &str) -> Option<usize> {
        self.syms.iter().position(|s| s.spec.symbol == symbol)
    }

    /// Open order ids of the account (on one symbol or all), oldest first.
    fn open_ids(&self, account: AccountId, sym: Option<usize>) -> Vec<u64> {
        let Some(a) = self.acct(account) else {
            return Vec::new();
        };
        a.open
            .iter()
            .copied()
            .filter(|id| sym.is_none_or(|si| self.open.get(id).is_some_and(|o| o.sym == si)))
            .collect()
    }

    fn count_open(&self, account: AccountId, si: usize) -> usize {
        self.acct(account).map_or(0, |a| {
            a.open
                .iter()
                .filter(|id| self.open.get(id).is_some_and(|o| o.sym == si))
                .count()
        })
    }

    fn find_open(&self, account: AccountId, si: usize, which: &OrderRef) -> Option<u64> {
        let a = self.acct(account)?;
        a.open.iter().copied().find(|id| {
            self.open
                .get(id)
                .is_some_and(|o| o.sym == si && matches_ref(o, which))
        })
    }

    /// Cancels an open order: releases its lock, closes it, queues its
    /// CANCELED report. Returns the cancel view (`clientOrderId` = the new
    /// id, `origClientOrderId` = the old one).
    fn cancel_one(
        &mut self,
        id: u64,
        new_client_id: &str,
        now_ms: u64,
        touched: &mut Touched,
    ) -> Option<OrderView> {
        let mut o = self.open.remove(&id)?;
        self.unqueue(&o);
        o.status = VenueOrderStatus::Canceled;
        o.update_ms = now_ms;
        o.is_working = false;
        self.release_lock(&mut o, touched, now_ms);
        let symbol = self.syms[o.sym].spec.symbol.clone();
        let mut view = o.view(&symbol);
        view.client_order_id = new_client_id.to_string();
        view.orig_client_order_id = Some(o.client_id.clone());
        self.push_report(
            ExecutionReport {
                event_time_ms: now_ms,
                order: view.clone(),
                exec_type: ExecType::Canceled,
                orig_client_order_id: o.client_id.clone(),
                reject_reason: "NONE",
                fill: None,
                transaction_time_ms: now_ms,
                execution_id: 0,
                expiry_reason: None,
            },
            o.account,
        );
        self.close(o);
        Some(view)
    }

    /// Removes an order from its symbol's queue (no-op if not there).
    fn unqueue(&mut self, o: &Order) {
        let key = Sym::key(o.side, o.price, o.id);
        self.syms[o.sym].queue_mut(o.side).remove(&key);
    }

    /// Moves what is still locked for `o` back to free.
    fn release_lock(&mut self, o: &mut Order, touched: &mut Touched, now_ms: u64) {
        let amount = std::mem::take(&mut o.locked);
        if let Some(a) = self.acct_mut(o.account) {
            let b = a.bal(&o.lock_asset);
            b.locked -= amount;
            b.free += amount;
            a.update_ms = now_ms;
        }
        touched.add(o.account, &o.lock_asset);
    }

    /// Files a finished order under its account's closed orders.
    fn close(&mut self, o: Order) {
        if let Some(a) = self.accounts.get_mut(o.account.0 as usize) {
            a.open.remove(&o.id);
            a.closed.push_back(o);
            while a.closed.len() > CLOSED_ORDERS_KEPT {
                a.closed.pop_front();
            }
        }
    }

    /// Queues an executionReport, stamping the next execution id.
    fn push_report(&mut self, mut report: ExecutionReport, account: AccountId) {
        report.execution_id = self.next_exec_id;
        self.next_exec_id += 1;
        self.events
            .push((account, UserEvent::Execution(Box::new(report))));
    }

    /// Queues one `outboundAccountPosition` per touched account.
    fn emit_positions(&mut self, touched: &Touched, now_ms: u64) {
        for (account, assets) in &touched.list {
            let Some(a) = self.acct(*account) else {
                continue;
            };
            let balances = assets.iter().map(|asset| a.balance_view(asset)).collect();
            let update_time_ms = a.update_ms;
            self.events.push((
                *account,
                UserEvent::AccountPosition {
                    event_time_ms: now_ms,
                    update_time_ms,
                    balances,
                },
            ));
        }
    }
}

/// Does `o` answer to `which`?
fn matches_ref(o: &Order, which: &OrderRef) -> bool {
    match which {
        OrderRef::OrderId(id) => o.id == *id,
        OrderRef::ClientId(c) => o.client_id == *c,
    }
}

/// `value` is a whole number of `step`s above `min` (a step of 0 disables
/// the rule).
fn on_grid(value: i64, min: i64, step: i64) -> bool {
    step <= 0 || (value - min) % step == 0
}
