//! Order entry and matching: the checks of `place`, the match plan against
//! resting orders and the simulated book, its execution (fills, fees,
//! balances, STP, reports) and fills of resting orders by market prints.
//!
//! A place is planned first without touching any state (so FOK, balance
//! and LIMIT_MAKER decisions see exactly what would happen) and then
//! executed step by step. It never mutates the simulated book (the
//! [`BookView`] is read-only: liquidity is not consumed), never reads a
//! clock and never does I/O.

use talon_core::num::{Price, Qty, SCALE};

use super::state::{Order, Sym, Touched, fee_of, quote_of};
use super::{
    AccountId, ApiError, DEFAULT_STP, ER_FOK, ER_IOC, ER_LIQUIDITY, Exchange, ExecType,
    ExecutionReport, Fill, MAX_NUM_ORDERS, MAX_PRICE, MSG_DUPLICATE, MSG_INSUFFICIENT,
    MSG_WOULD_TAKE, NewOrder, OrderKind, OrderSide, PlaceResult, StpMode, Tif, VenueOrderStatus,
    on_grid,
};
use crate::market::BookView;

/// Where liquidity comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src {
    /// A resting order (by id).
    Resting(u64),
    /// A level of the simulated book (external counterparty).
    Book,
}

/// One planned step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Trade `qty` at `price` against `src`.
    Match { src: Src, price: Price, qty: i64 },
    /// STP: expire this resting order of the taker's own account.
    ExpireMaker(u64),
    /// STP: the taker expires here.
    ExpireTaker,
}

/// What a taker would do.
#[derive(Debug, Default)]
struct Plan {
    steps: Vec<Step>,
    /// Base quantity it would trade.
    qty: i64,
    /// Quote amount it would trade.
    quote: i128,
    /// Any crossing liquidity at all (LIMIT_MAKER check).
    crosses: bool,
}

/// How much the taker wants.
#[derive(Clone, Copy, Debug)]
enum Want {
    Base(i64),
    Quote(i128),
}

impl Exchange {
    /// `place` (see its docs).
    pub(super) fn place_order(
        &mut self,
        account: AccountId,
        req: &NewOrder,
        book: &BookView,
        now_ms: u64,
    ) -> Result<PlaceResult, ApiError> {
        if self.acct(account).is_none() {
            return Err(ApiError::new(
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            ));
        }
        let si = self
            .sym_index(&req.symbol)
            .ok_or_else(|| ApiError::new(-1121, "Invalid symbol."))?;
        // The book only counts if it is this symbol's.
        let empty = BookView {
            symbol: req.symbol.clone(),
            last_update_id: 0,
            bids: Vec::new(),
            asks: Vec::new(),
        };
        let book = if book.symbol == req.symbol {
            book
        } else {
            &empty
        };
        let spec = self.syms[si].spec.clone();

        // Shape (the wire layer validates; never trust it to the point of panicking).
        let missing = |name: &str| {
            ApiError::new(
                -1102,
                &format!(
                    "Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
                ),
            )
        };
        let (limit, tif) = match req.kind {
            OrderKind::Limit => (
                Some(req.price.ok_or_else(|| missing("price"))?),
                req.tif.ok_or_else(|| missing("timeInForce"))?,
            ),
            OrderKind::LimitMaker => (Some(req.price.ok_or_else(|| missing("price"))?), Tif::Gtc),
            OrderKind::Market => (None, Tif::Gtc),
        };
        let want = match (req.kind, req.quantity, req.quote_order_qty) {
            (OrderKind::Market, None, Some(q)) => Want::Quote(i128::from(q.raw())),
            (OrderKind::Market, Some(_), Some(_)) => {
                return Err(ApiError::new(
                    -1106,
                    "Parameter 'quoteOrderQty' sent when not required.",
                ));
            }
            (OrderKind::Market, None, None) => {
                return Err(ApiError::new(
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                ));
            }
            (_, Some(q), _) => Want::Base(q.raw()),
            (_, None, _) => return Err(missing("quantity")),
        };

        // Filters, in the venue's order.
        if let Some(p) = limit
            && (!p.is_positive()
                || p < spec.tick_size
                || p > MAX_PRICE
                || !on_grid(p.raw(), spec.tick_size.raw(), spec.tick_size.raw()))
        {
            return Err(ApiError::filter("PRICE_FILTER"));
        }
        if let Want::Base(q) = want
            && (q <= 0
                || q < spec.min_qty.raw()
                || q > spec.max_qty.raw()
                || !on_grid(q, spec.min_qty.raw(), spec.step_size.raw()))
        {
            return Err(ApiError::filter("LOT_SIZE"));
        }
        let notional: Option<i128> = match (limit, want) {
            (Some(p), Want::Base(q)) => Some(quote_of(p, q)),
            (None, Want::Quote(q)) => Some(q),
            (None, Want::Base(q)) => reference_price(book).map(|p| quote_of(p, q)),
            (Some(_), Want::Quote(_)) => None,
        };
        if let Some(n) = notional {
            let too_big = limit.is_some() && n > spec.max_notional.raw();
            if n < spec.min_notional.raw() || too_big {
                return Err(ApiError::filter("NOTIONAL"));
            }
        }
        if self.count_open(account, si) >= MAX_NUM_ORDERS {
            return Err(ApiError::filter("MAX_NUM_ORDERS"));
        }

        // Matching engine checks.
        let dup = self.open_ids(account, None).iter().any(|id| {
            self.open
                .get(id)
                .is_some_and(|o| o.client_id == req.client_order_id)
        });
        if dup {
            return Err(ApiError::new(-2010, MSG_DUPLICATE));
        }
        let stp = req.stp.unwrap_or(DEFAULT_STP);
        let plan = self.plan(si, account, req.side, limit, want, stp, book);
        if req.kind == OrderKind::LimitMaker && plan.crosses {
            return Err(ApiError::new(-2010, MSG_WOULD_TAKE));
        }
        let (lock_asset, lock) = match (req.side, limit, want) {
            (OrderSide::Buy, Some(p), Want::Base(q)) => (spec.quote.clone(), quote_of(p, q)),
            (OrderSide::Buy, _, Want::Quote(q)) => (spec.quote.clone(), q),
            (OrderSide::Buy, None, Want::Base(_)) => (spec.quote.clone(), plan.quote),
            (OrderSide::Sell, _, Want::Base(q)) => (spec.base.clone(), i128::from(q)),
            (OrderSide::Sell, _, Want::Quote(_)) => (spec.base.clone(), i128::from(plan.qty)),
        };
        let free = self
            .acct(account)
            .and_then(|a| a.balances.get(&lock_asset))
            .map_or(0, |b| b.free);
        if lock > free {
            return Err(ApiError::new(-2010, MSG_INSUFFICIENT));
        }

        // Accepted: lock, NEW, match, finish.
        let id = self.next_order_id;
        self.next_order_id += 1;
        let (orig_qty, orig_quote) = match want {
            Want::Base(q) => (q, 0),
            Want::Quote(q) => (plan.qty, i64::try_from(q).unwrap_or(i64::MAX)),
        };
        let mut taker = Order {
            account,
            sym: si,
            id,
            client_id: req.client_order_id.clone(),
            side: req.side,
            kind: req.kind,
            tif,
            price: limit.unwrap_or(Price::ZERO),
            orig_qty,
            orig_quote,
            executed: 0,
            cum_quote: 0,
            status: VenueOrderStatus::New,
            stp,
            time_ms: now_ms,
            update_ms: now_ms,
            working_ms: Some(now_ms),
            is_working: false,
            lock_asset: lock_asset.clone(),
            locked: lock,
        };
        let mut touched = Touched::default();
        if let Some(a) = self.acct_mut(account) {
            let b = a.bal(&lock_asset);
            b.free -= lock;
            b.locked += lock;
            a.update_ms = now_ms;
            a.open.insert(id);
        }
        touched.add(account, &lock_asset);
        self.report(&taker, ExecType::New, None, None, now_ms);

        let mut fills = Vec::new();
        let fok_short = tif == Tif::Fok && plan.qty < orig_qty;
        let mut stp_expired = false;
        if !fok_short {
            for step in plan.steps {
                match step {
                    Step::Match { src, price, qty } => {
                        let fill = self.trade(&mut taker, src, price, qty, now_ms, &mut touched);
                        fills.push(fill);
                    }
                    Step::ExpireMaker(mid) => self.expire_maker(mid, now_ms, &mut touched),
                    Step::ExpireTaker => stp_expired = true,
                }
            }
        }

        // The taker's outcome.
        let done = taker.remaining() == 0 && taker.executed > 0;
        let ending: Option<(VenueOrderStatus, ExecType, Option<&'static str>)> =
            if stp_expired && !done {
                Some((
                    VenueOrderStatus::ExpiredInMatch,
                    ExecType::TradePrevention,
                    None,
                ))
            } else if done {
                None
            } else if fok_short {
                Some((VenueOrderStatus::Expired, ExecType::Expired, Some(ER_FOK)))
            } else {
                match (req.kind, tif) {
                    (OrderKind::Market, _) => Some((
                        VenueOrderStatus::Expired,
                        ExecType::Expired,
                        Some(ER_LIQUIDITY),
                    )),
                    (_, Tif::Ioc | Tif::Fok) => {
                        Some((VenueOrderStatus::Expired, ExecType::Expired, Some(ER_IOC)))
                    }
                    _ => None, // rests
                }
            };
        taker.update_ms = now_ms;
        let symbol = spec.symbol.clone();
        let rests = ending.is_none() && !done;
        if rests {
            taker.is_working = true;
            let key = Sym::key(taker.side, taker.price, taker.id);
            self.syms[si].queue_mut(taker.side).insert(key);
            let view = taker.view(&symbol);
            self.open.insert(id, taker);
            self.emit_positions(&touched, now_ms);
            return Ok(PlaceResult { order: view, fills });
        }
        if let Some((status, exec, reason)) = ending {
            taker.status = status;
            self.report(&taker, exec, None, reason, now_ms);
        }
        self.release_lock(&mut taker, &mut touched, now_ms);
        let view = taker.view(&symbol);
        self.close(taker);
        self.emit_positions(&touched, now_ms);
        Ok(PlaceResult { order: view, fills })
    }

    /// What a taker would do against the resting orders and `book`, best
    /// price first, resting orders before the book at one price; pure.
    #[allow(
        clippy::too_many_arguments,
        reason = "one internal call site; the arguments are the order's terms"
    )]
    fn plan(
        &self,
        si: usize,
        account: AccountId,
        side: OrderSide,
        limit: Option<Price>,
        want: Want,
        stp: StpMode,
        book: &BookView,
    ) -> Plan {
        let sym = &self.syms[si];
        let step = sym.spec.step_size.raw().max(1);
        // Opposite side, in priority order.
        let resting: Vec<(Price, u64)> = sym
            .queue(opposite(side))
            .iter()
            .map(|&(k, id)| {
                let p = match side {
                    OrderSide::Buy => k,
                    OrderSide::Sell => k.saturating_neg(),
                };
                (Price::from_raw(p), id)
            })
            .collect();
        let levels = match side {
            OrderSide::Buy => &book.asks,
            OrderSide::Sell => &book.bids,
        };
        // `a` is at least as good as `b` for this taker.
        let better_or_eq = |a: Price, b: Price| match side {
            OrderSide::Buy => a <= b,
            OrderSide::Sell => a >= b,
        };
        let within = |p: Price| limit.is_none_or(|l| better_or_eq(p, l));
        let mut cands: Vec<(Price, Src, i64)> = Vec::new();
        let (mut i, mut j) = (0, 0);
        loop {
            let r = resting.get(i);
            let l = levels.get(j);
            let next = match (r, l) {
                (Some(&(rp, id)), Some(&(lp, _))) if better_or_eq(rp, lp) => {
                    i += 1;
                    (rp, Src::Resting(id), 0)
                }
                (Some(&(rp, id)), None) => {
                    i += 1;
                    (rp, Src::Resting(id), 0)
                }
                (_, Some(&(lp, lq))) => {
                    j += 1;
                    (lp, Src::Book, lq.raw())
                }
                (None, None) => break,
            };
            if !within(next.0) {
                // The merged stream is in priority order: nothing after this
                // is within the limit either.
                break;
            }
            cands.push(next);
        }

        let mut plan = Plan {
            crosses: !cands.is_empty(),
            ..Plan::default()
        };
        let mut want = want;
        for (price, src, level_qty) in cands {
            if price.raw() <= 0 {
                continue;
            }
            let avail = match src {
                Src::Book => level_qty,
                Src::Resting(id) => {
                    let Some(m) = self.open.get(&id) else {
                        continue;
                    };
                    if m.account == account && stp != StpMode::None {
                        match stp {
                            StpMode::ExpireMaker => {
                                plan.steps.push(Step::ExpireMaker(id));
                                continue;
                            }
                            StpMode::ExpireBoth => {
                                plan.steps.push(Step::ExpireMaker(id));
                                plan.steps.push(Step::ExpireTaker);
                            }
                            _ => plan.steps.push(Step::ExpireTaker),
                        }
                        return plan;
                    }
                    m.remaining()
                }
            };
            if avail <= 0 {
                continue;
            }
            let qty = match want {
                Want::Base(rem) => rem.min(avail),
                Want::Quote(rem) => {
                    let affordable = rem * i128::from(SCALE) / i128::from(price.raw());
                    let affordable = i64::try_from(affordable).unwrap_or(i64::MAX);
                    (affordable - affordable % step).min(avail)
                }
            };
            if qty <= 0 {
                break; // the rest of a quote amount buys less than a step
            }
            let quote = quote_of(price, qty);
            plan.steps.push(Step::Match { src, price, qty });
            plan.qty += qty;
            plan.quote += quote;
            want = match want {
                Want::Base(rem) => Want::Base(rem - qty),
                Want::Quote(rem) => Want::Quote(rem - quote),
            };
            if matches!(want, Want::Base(0) | Want::Quote(0)) {
                break;
            }
        }
        plan
    }

    /// One trade of the taker against a resting order or the book.
    fn trade(
        &mut self,
        taker: &mut Order,
        src: Src,
        price: Price,
        qty: i64,
        now_ms: u64,
        touched: &mut Touched,
    ) -> Fill {
        let si = taker.sym;
        let trade_id = self.syms[si].take_trade_id();
        let fill = self.settle(taker, price, qty, trade_id, false, now_ms, touched);
        self.report(taker, ExecType::Trade, Some(fill.clone()), None, now_ms);
        match src {
            Src::Book => self.flow(si, taker.side, qty, price),
            Src::Resting(mid) => {
                if let Some(mut maker) = self.open.remove(&mid) {
                    let mf = self.settle(&mut maker, price, qty, trade_id, true, now_ms, touched);
                    self.report(&maker, ExecType::Trade, Some(mf), None, now_ms);
                    self.after_maker_fill(maker, touched, now_ms);
                }
            }
        }
        fill
    }

    /// Files a maker after a fill: back into the open set, or closed (lock
    /// residue released) when filled.
    fn after_maker_fill(&mut self, mut maker: Order, touched: &mut Touched, now_ms: u64) {
        if maker.remaining() == 0 {
            self.unqueue(&maker);
            maker.is_working = false;
            self.release_lock(&mut maker, touched, now_ms);
            self.close(maker);
        } else {
            self.open.insert(maker.id, maker);
        }
    }

    /// STP: expires a resting order of the taker's account.
    fn expire_maker(&mut self, id: u64, now_ms: u64, touched: &mut Touched) {
        let Some(mut o) = self.open.remove(&id) else {
            return;
        };
        self.unqueue(&o);
        o.status = VenueOrderStatus::ExpiredInMatch;
        o.update_ms = now_ms;
        o.is_working = false;
        self.release_lock(&mut o, touched, now_ms);
        self.report(&o, ExecType::TradePrevention, None, None, now_ms);
        self.close(o);
    }

    /// Moves the balances of one side of a trade: the paid asset leaves the
    /// order's lock, the received asset (less the fee) goes to free, the
    /// fee to the exchange. Updates the order's executed amounts/status.
    #[allow(
        clippy::too_many_arguments,
        reason = "internal; the arguments are one trade's terms"
    )]
    fn settle(
        &mut self,
        o: &mut Order,
        price: Price,
        qty: i64,
        trade_id: u64,
        is_maker: bool,
        now_ms: u64,
        touched: &mut Touched,
    ) -> Fill {
        let (base, quote_asset) = {
            let s = &self.syms[o.sym].spec;
            (s.base.clone(), s.quote.clone())
        };
        let quote = quote_of(price, qty);
        let rate = if is_maker {
            self.fees.maker
        } else {
            self.fees.taker
        };
        let (paid_asset, paid, got_asset, got) = match o.side {
            OrderSide::Buy => (&quote_asset, quote, &base, i128::from(qty)),
            OrderSide::Sell => (&base, i128::from(qty), &quote_asset, quote),
        };
        let fee = fee_of(got, rate);
        // Proven not to exceed the lock (Σ truncated fill quotes at prices
        // no worse than the limit ≤ the truncated lock); any shortfall would
        // come out of free so the books stay whole.
        let from_lock = paid.min(o.locked).max(0);
        o.locked -= from_lock;
        if let Some(a) = self.acct_mut(o.account) {
            let pb = a.bal(paid_asset);
            pb.locked -= from_lock;
            pb.free -= paid - from_lock;
            a.bal(got_asset).free += got - fee;
            a.update_ms = now_ms;
        }
        *self.fee_account.entry(got_asset.clone()).or_default() += fee;
        touched.add(o.account, paid_asset);
        touched.add(o.account, got_asset);
        o.executed += qty;
        o.cum_quote = o
            .cum_quote
            .saturating_add(i64::try_from(quote).unwrap_or(i64::MAX));
        o.update_ms = now_ms;
        o.status = if o.remaining() == 0 {
            VenueOrderStatus::Filled
        } else {
            VenueOrderStatus::PartiallyFilled
        };
        // A priced buy keeps exactly price × remaining locked (as the venue
        // does): the price improvement and rounding residue go back to free.
        // floor(P·a) ≥ floor(P·b) + floor(P·(a−b)) keeps this non-negative.
        if o.side == OrderSide::Buy && o.kind != OrderKind::Market {
            let keep = quote_of(o.price, o.remaining());
            let excess = (o.locked - keep).max(0);
            o.locked -= excess;
            if let Some(a) = self.acct_mut(o.account) {
                let b = a.bal(paid_asset);
                b.locked -= excess;
                b.free += excess;
            }
        }
        Fill {
            price,
            qty: Qty::from_raw(qty),
            commission: super::state::qty_sat(fee),
            commission_asset: got_asset.clone(),
            trade_id,
            is_maker,
        }
    }

    /// Records that the simulated market was the counterparty of an
    /// account's `side` trade of `qty` at `price`.
    fn flow(&mut self, si: usize, side: OrderSide, qty: i64, price: Price) {
        let s = &self.syms[si].spec;
        let quote = quote_of(price, qty);
        let (base_in, quote_in) = match side {
            OrderSide::Buy => (i128::from(qty), -quote),
            OrderSide::Sell => (-i128::from(qty), quote),
        };
        let (b, q) = (s.base.clone(), s.quote.clone());
        *self.market_flow.entry(b).or_default() += base_in;
        *self.market_flow.entry(q).or_default() += quote_in;
    }

    /// Queues an executionReport for `o` in its current state.
    fn report(
        &mut self,
        o: &Order,
        exec_type: ExecType,
        fill: Option<Fill>,
        expiry_reason: Option<&'static str>,
        now_ms: u64,
    ) {
        let symbol = &self.syms[o.sym].spec.symbol;
        let report = ExecutionReport {
            event_time_ms: now_ms,
            order: o.view(symbol),
            exec_type,
            orig_client_order_id: String::new(),
            reject_reason: "NONE",
            fill,
            transaction_time_ms: now_ms,
            execution_id: 0,
            expiry_reason,
        };
        self.push_report(report, o.account);
    }

    /// `on_market_trade` (see its docs).
    pub(super) fn market_trade(
        &mut self,
        symbol: &str,
        price: Price,
        qty: Qty,
        buyer_is_maker: bool,
        now_ms: u64,
    ) {
        let Some(si) = self.sym_index(symbol) else {
            return;
        };
        if !price.is_positive() || !qty.is_positive() {
            return;
        }
        // A sell aggressor hits resting buys at or above the print; a buy
        // aggressor lifts resting sells at or below it.
        let side = if buyer_is_maker {
            OrderSide::Buy
        } else {
            OrderSide::Sell
        };
        let ids: Vec<u64> = self.syms[si]
            .queue(side)
            .iter()
            .take_while(|&&(k, _)| match side {
                OrderSide::Buy => k.saturating_neg() >= price.raw(),
                OrderSide::Sell => k <= price.raw(),
            })
            .map(|&(_, id)| id)
            .collect();
        let mut left = qty.raw();
        let mut touched = Touched::default();
        for id in ids {
            if left <= 0 {
                break;
            }
            let Some(mut maker) = self.open.remove(&id) else {
                continue;
            };
            let q = maker.remaining().min(left);
            if q <= 0 {
                self.open.insert(id, maker);
                continue;
            }
            left -= q;
            let at = maker.price;
            let trade_id = self.syms[si].take_trade_id();
            let fill = self.settle(&mut maker, at, q, trade_id, true, now_ms, &mut touched);
            self.flow(si, side, q, at);
            self.report(&maker, ExecType::Trade, Some(fill), None, now_ms);
            self.after_maker_fill(maker, &mut touched, now_ms);
        }
        self.emit_positions(&touched, now_ms);
    }
}

/// The other side.
fn opposite(side: OrderSide) -> OrderSide {
    match side {
        OrderSide::Buy => OrderSide::Sell,
        OrderSide::Sell => OrderSide::Buy,
    }
}

/// Reference price for a MARKET order's NOTIONAL check: the book's mid, or
/// its only side's best price.
fn reference_price(book: &BookView) -> Option<Price> {
    match (book.bids.first(), book.asks.first()) {
        (Some(&(b, _)), Some(&(a, _))) => Some(Price::from_raw(b.raw() + (a.raw() - b.raw()) / 2)),
        (Some(&(p, _)), None) | (None, Some(&(p, _))) => Some(p),
        (None, None) => None,
    }
}
