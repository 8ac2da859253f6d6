//! The exchange core's stored state: symbols with their resting-order
//! queues, accounts with balances and order history, and orders.
//!
//! Owns the data layout and the small conversions from it to the contract's
//! views. It never decides anything (matching and rules live in
//! `matching.rs` and `mod.rs`) and never reads a clock or does I/O.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use talon_core::num::{Price, Qty};

use super::{
    AccountId, AccountSpec, Balance, OrderKind, OrderSide, OrderView, StpMode, Tif,
    VenueOrderStatus,
};
use crate::config::SymbolSpec;

/// One symbol: its spec, its trade id counter and its resting orders.
///
/// Resting orders are keyed so that ascending iteration is priority order:
/// bids by (−price, order id), asks by (price, order id). Order ids grow,
/// so the id is the time priority.
#[derive(Debug)]
pub(super) struct Sym {
    pub(super) spec: SymbolSpec,
    pub(super) next_trade_id: u64,
    pub(super) bids: BTreeSet<(i64, u64)>,
    pub(super) asks: BTreeSet<(i64, u64)>,
}

impl Sym {
    /// The queue key of a resting order.
    pub(super) fn key(side: OrderSide, price: Price, id: u64) -> (i64, u64) {
        match side {
            OrderSide::Buy => (price.raw().saturating_neg(), id),
            OrderSide::Sell => (price.raw(), id),
        }
    }

    /// The queue of resting orders on `side`.
    pub(super) fn queue_mut(&mut self, side: OrderSide) -> &mut BTreeSet<(i64, u64)> {
        match side {
            OrderSide::Buy => &mut self.bids,
            OrderSide::Sell => &mut self.asks,
        }
    }

    /// The queue of resting orders on `side`.
    pub(super) fn queue(&self, side: OrderSide) -> &BTreeSet<(i64, u64)> {
        match side {
            OrderSide::Buy => &self.bids,
            OrderSide::Sell => &self.asks,
        }
    }

    /// Takes the next trade id.
    pub(super) fn take_trade_id(&mut self) -> u64 {
        let id = self.next_trade_id;
        self.next_trade_id += 1;
        id
    }
}

/// Free and locked amounts of one asset, raw 1e-8 units (i128 so that no
/// sum can overflow; views saturate into `Qty`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Bal {
    pub(super) free: i128,
    pub(super) locked: i128,
}

/// One account.
#[derive(Debug)]
pub(super) struct Account {
    pub(super) spec: AccountSpec,
    pub(super) balances: BTreeMap<String, Bal>,
    /// Open order ids (ascending = oldest first).
    pub(super) open: BTreeSet<u64>,
    /// Closed orders, oldest first, at most `CLOSED_ORDERS_KEPT`.
    pub(super) closed: VecDeque<Order>,
    pub(super) update_ms: u64,
}

impl Account {
    /// The balance entry of `asset` (created at zero).
    pub(super) fn bal(&mut self, asset: &str) -> &mut Bal {
        self.balances.entry(asset.to_string()).or_default()
    }

    /// The view of one asset's balance.
    pub(super) fn balance_view(&self, asset: &str) -> Balance {
        let b = self.balances.get(asset).copied().unwrap_or_default();
        Balance {
            asset: asset.to_string(),
            free: qty_sat(b.free),
            locked: qty_sat(b.locked),
        }
    }
}

/// An order, open or closed.
#[derive(Clone, Debug)]
pub(super) struct Order {
    pub(super) account: AccountId,
    pub(super) sym: usize,
    pub(super) id: u64,
    pub(super) client_id: String,
    pub(super) side: OrderSide,
    pub(super) kind: OrderKind,
    pub(super) tif: Tif,
    /// Limit price (0 for MARKET).
    pub(super) price: Price,
    /// Original base quantity (MARKET by quote: the planned = executed
    /// quantity).
    pub(super) orig_qty: i64,
    /// Original quote quantity (MARKET by quote), else 0.
    pub(super) orig_quote: i64,
    pub(super) executed: i64,
    pub(super) cum_quote: i64,
    pub(super) status: VenueOrderStatus,
    pub(super) stp: StpMode,
    pub(super) time_ms: u64,
    pub(super) update_ms: u64,
    pub(super) working_ms: Option<u64>,
    pub(super) is_working: bool,
    /// Asset locked for this order (quote for buys, base for sells).
    pub(super) lock_asset: String,
    /// What is still locked for it.
    pub(super) locked: i128,
}

impl Order {
    /// Base quantity still to fill.
    pub(super) fn remaining(&self) -> i64 {
        self.orig_qty.saturating_sub(self.executed).max(0)
    }

    /// The contract view.
    pub(super) fn view(&self, symbol: &str) -> OrderView {
        OrderView {
            symbol: symbol.to_string(),
            order_id: self.id,
            client_order_id: self.client_id.clone(),
            orig_client_order_id: None,
            price: self.price,
            orig_qty: Qty::from_raw(self.orig_qty),
            executed_qty: Qty::from_raw(self.executed),
            cumulative_quote_qty: Qty::from_raw(self.cum_quote),
            orig_quote_order_qty: Qty::from_raw(self.orig_quote),
            status: self.status,
            tif: self.tif,
            kind: self.kind,
            side: self.side,
            stp: self.stp,
            time_ms: self.time_ms,
            update_time_ms: self.update_ms,
            working_time_ms: self.working_ms,
            is_working: self.is_working,
        }
    }
}

/// Saturating conversion of an internal i128 amount into a `Qty`.
pub(super) fn qty_sat(raw: i128) -> Qty {
    Qty::from_raw(i64::try_from(raw).unwrap_or(if raw < 0 { i64::MIN } else { i64::MAX }))
}

/// `price × qty` in raw 1e-8 quote units, truncated toward zero.
pub(super) fn quote_of(price: Price, qty: i64) -> i128 {
    i128::from(price.raw()) * i128::from(qty) / i128::from(talon_core::num::SCALE)
}

/// `amount × rate` (rate a fraction at 1e-8), truncated toward zero.
pub(super) fn fee_of(amount: i128, rate: Qty) -> i128 {
    amount * i128::from(rate.raw()) / i128::from(talon_core::num::SCALE)
}

/// Accounts and assets whose balances an operation touched, in first-touch
/// order (one `outboundAccountPosition` per account at the end).
#[derive(Debug, Default)]
pub(super) struct Touched {
    pub(super) list: Vec<(AccountId, Vec<String>)>,
}

impl Touched {
    pub(super) fn add(&mut self, account: AccountId, asset: &str) {
        match self.list.iter_mut().find(|(a, _)| *a == account) {
            Some((_, assets)) => {
                if !assets.iter().any(|x| x == asset) {
                    assets.push(asset.to_string());
                }
            }
            None => self.list.push((account, vec![asset.to_string()])),
        }
    }
}
