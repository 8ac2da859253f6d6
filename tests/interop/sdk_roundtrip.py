#!/usr/bin/env python3
"""Drive `talon sim` with the official Binance Python SDK (binance-sdk-spot).

Places, queries and cancels one LIMIT order through the SDK's REST client and
one through its WebSocket API client, and checks what the SDK *parses* from the
simulator's answers: the model class it returns (the SDK silently falls back to
a raw dict, or to relaxed typing with a logged warning, when a response does
not fit its pydantic models, so both are treated as failures here), ids, client
order ids, statuses NEW then CANCELED, price/quantity strings, timestamps, rate
limits and the venue's error codes for cancelling an already-cancelled order.

Exits 0 when every check passed, 1 with a `MISMATCH:` line naming the first
failed check otherwise, 2 on a usage or environment problem. Every network
call is bounded (SDK timeouts plus a whole-script alarm).

Usage:
  sdk_roundtrip.py --rest http://127.0.0.1:PORT --ws ws://127.0.0.1:PORT/ws-api/v3 \
      --key KEY --secret SECRET [--symbol BTCUSDT] [--timeout-s 90]
"""

import argparse
import asyncio
import logging
import os
import re
import signal
import sys
import time
from decimal import Decimal

from binance_common.errors import BadRequestError, ClientError
from binance_sdk_spot.rest_api.models import (
    DeleteOrderResponse,
    GetOrderResponse,
    NewOrderResponse,
)
from binance_sdk_spot.spot import (
    ConfigurationRestAPI,
    ConfigurationWebSocketAPI,
    Spot,
)
from binance_sdk_spot.websocket_api.models import (
    OrderCancelResponse,
    OrderPlaceResponse,
    OrderStatusResponse,
)

# The venue prints every spot price and quantity with exactly 8 decimals.
EIGHT_DECIMALS = re.compile(r"^[0-9]+\.[0-9]{8}$")
QTY = Decimal("0.001")
CLOCK_SLACK_MS = 120_000


class Mismatch(Exception):
    """A check failed: what the SDK parsed is not what the venue would give."""


class WarningTrap(logging.Handler):
    """Collects the SDK's WARNING/ERROR log records.

    binance-common logs (instead of raising) when a response does not fit its
    model ("did not match the declared types", "Failed to parse"), when a
    WebSocket connect fails, and when a WS API reply times out or errors.
    """

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())

    def check(self, step):
        if self.records:
            found = self.records[:]
            self.records.clear()
            raise Mismatch(f"{step}: the SDK logged {found!r}")


def check(cond, what):
    if not cond:
        raise Mismatch(what)


def check_eq(actual, expected, what):
    if actual != expected:
        raise Mismatch(f"{what}: got {actual!r}, expected {expected!r}")


def check_decimal(text, expected, what):
    check(isinstance(text, str), f"{what}: {text!r} is not a JSON string")
    check(
        EIGHT_DECIMALS.match(text) is not None,
        f"{what}: {text!r} is not a venue-style 8-decimal string",
    )
    check_eq(Decimal(text), expected, what)


def check_recent_ms(value, what):
    check(
        isinstance(value, int) and not isinstance(value, bool),
        f"{what}: {value!r} is not an integer",
    )
    now = int(time.time() * 1000)
    check(
        abs(now - value) < CLOCK_SLACK_MS,
        f"{what}: {value} ms is not near now ({now} ms)",
    )


def check_order_fields(o, *, symbol, order_id, client_order_id, price, status, what):
    """Fields every order report carries (place RESULT/FULL, status, cancel)."""
    check_eq(o.symbol, symbol, f"{what} symbol")
    if order_id is None:
        check(
            isinstance(o.order_id, int) and o.order_id > 0,
            f"{what} orderId: {o.order_id!r} is not a positive integer",
        )
    else:
        check_eq(o.order_id, order_id, f"{what} orderId")
    if client_order_id is not None:
        check_eq(o.client_order_id, client_order_id, f"{what} clientOrderId")
    check_eq(o.order_list_id, -1, f"{what} orderListId")
    check_decimal(o.price, price, f"{what} price")
    check_decimal(o.orig_qty, QTY, f"{what} origQty")
    check_decimal(o.executed_qty, Decimal(0), f"{what} executedQty")
    check_decimal(o.cummulative_quote_qty, Decimal(0), f"{what} cummulativeQuoteQty")
    check_decimal(o.orig_quote_order_qty, Decimal(0), f"{what} origQuoteOrderQty")
    check_eq(o.status, status, f"{what} status")
    check_eq(o.time_in_force, "GTC", f"{what} timeInForce")
    check_eq(o.type, "LIMIT", f"{what} type")
    check_eq(o.side, "BUY", f"{what} side")
    check(
        isinstance(o.self_trade_prevention_mode, str),
        f"{what} selfTradePreventionMode missing: {o.self_trade_prevention_mode!r}",
    )


def check_status_fields(o, what, working):
    """Extra fields of an order.status / GET /api/v3/order answer."""
    check_recent_ms(o.time, f"{what} time")
    check_recent_ms(o.update_time, f"{what} updateTime")
    check(o.update_time >= o.time, f"{what}: updateTime {o.update_time} < time {o.time}")
    if working is None:
        check(isinstance(o.is_working, bool), f"{what} isWorking: {o.is_working!r} is not a bool")
    else:
        check_eq(o.is_working, working, f"{what} isWorking")
    check_decimal(o.stop_price, Decimal(0), f"{what} stopPrice")
    check_decimal(o.iceberg_qty, Decimal(0), f"{what} icebergQty")


def pick_price(spot, symbol):
    """A BUY price ~10 % under the best bid: rests, never fills, passes the
    venue's percent-price filter, and is a whole number (valid for any tick
    size up to 1)."""
    depth = spot.rest_api.depth(symbol=symbol, limit=5).data()
    check(
        hasattr(depth, "bids") and depth.bids,
        f"depth: no bids parsed from GET /api/v3/depth: {depth!r}",
    )
    best_bid = Decimal(depth.bids[0][0])
    price = (best_bid * Decimal("0.9")).to_integral_value()
    check(price > 0, f"depth: best bid {best_bid} too small to price under")
    return price


def rest_roundtrip(spot, trap, symbol, price, tag):
    api = spot.rest_api
    cid = f"interop-rest-{tag}"

    resp = api.new_order(
        symbol=symbol,
        side="BUY",
        type="LIMIT",
        time_in_force="GTC",
        quantity=float(QTY),
        price=float(price),
        new_client_order_id=cid,
    )
    placed = resp.data()
    trap.check("REST POST /api/v3/order")
    check(
        isinstance(placed, NewOrderResponse),
        f"REST POST /api/v3/order: parsed as {type(placed).__name__}, not NewOrderResponse: {placed!r}",
    )
    check_order_fields(
        placed, symbol=symbol, order_id=None, client_order_id=cid, price=price,
        status="NEW", what="REST new_order",
    )
    check_recent_ms(placed.transact_time, "REST new_order transactTime")
    check_recent_ms(placed.working_time, "REST new_order workingTime")
    # LIMIT orders default to the FULL response: a resting order has no fills.
    check_eq(placed.fills, [], "REST new_order fills (FULL response)")
    types = {(r.rateLimitType, r.interval) for r in resp.rate_limits}
    check(
        ("REQUEST_WEIGHT", "MINUTE") in types,
        f"REST new_order: no X-MBX-USED-WEIGHT-1M header parsed: {resp.rate_limits!r}",
    )
    check(
        any(t == "ORDERS" for t, _ in types),
        f"REST new_order: no X-MBX-ORDER-COUNT-* header parsed: {resp.rate_limits!r}",
    )
    oid = placed.order_id
    print(f"ok: REST new_order  orderId={oid} clientOrderId={cid} status=NEW price={placed.price} origQty={placed.orig_qty}")

    for key, kwargs in (("orderId", {"order_id": oid}), ("origClientOrderId", {"orig_client_order_id": cid})):
        got = api.get_order(symbol=symbol, **kwargs).data()
        trap.check(f"REST GET /api/v3/order by {key}")
        check(
            isinstance(got, GetOrderResponse),
            f"REST get_order by {key}: parsed as {type(got).__name__}: {got!r}",
        )
        check_order_fields(
            got, symbol=symbol, order_id=oid, client_order_id=cid, price=price,
            status="NEW", what=f"REST get_order by {key}",
        )
        check_status_fields(got, f"REST get_order by {key}", working=True)
        print(f"ok: REST get_order by {key}  status=NEW isWorking=True")

    cancelled = api.delete_order(symbol=symbol, orig_client_order_id=cid).data()
    trap.check("REST DELETE /api/v3/order")
    check(
        isinstance(cancelled, DeleteOrderResponse),
        f"REST delete_order: parsed as {type(cancelled).__name__}: {cancelled!r}",
    )
    check_order_fields(
        cancelled, symbol=symbol, order_id=oid, client_order_id=None, price=price,
        status="CANCELED", what="REST delete_order",
    )
    check_eq(cancelled.orig_client_order_id, cid, "REST delete_order origClientOrderId")
    check(
        isinstance(cancelled.client_order_id, str)
        and cancelled.client_order_id
        and cancelled.client_order_id != cid,
        f"REST delete_order clientOrderId: {cancelled.client_order_id!r} is not a fresh cancel id",
    )
    check_recent_ms(cancelled.transact_time, "REST delete_order transactTime")
    print(f"ok: REST delete_order  status=CANCELED origClientOrderId={cid} clientOrderId={cancelled.client_order_id}")

    got = api.get_order(symbol=symbol, order_id=oid).data()
    trap.check("REST GET /api/v3/order after cancel")
    check(isinstance(got, GetOrderResponse), f"REST get_order after cancel: {got!r}")
    check_order_fields(
        got, symbol=symbol, order_id=oid, client_order_id=cid, price=price,
        status="CANCELED", what="REST get_order after cancel",
    )
    check_status_fields(got, "REST get_order after cancel", working=None)
    print("ok: REST get_order after cancel  status=CANCELED")

    try:
        again = api.delete_order(symbol=symbol, order_id=oid).data()
    except BadRequestError as e:
        check_eq(e.status_code, -2011, "REST second delete_order error code")
        check(bool(e.error_message), "REST second delete_order: empty msg")
        print(f"ok: REST second delete_order  rejected code={e.status_code} msg={e.error_message!r}")
    except ClientError as e:
        raise Mismatch(f"REST second delete_order: not a 400 with a JSON body: {e!r}")
    else:
        raise Mismatch(f"REST second delete_order: accepted, got {again!r}")
    trap.records.clear()  # the SDK logs nothing for REST errors, but be tolerant
    return oid


def check_ws_envelope(resp, model, request_id, what, order_limits):
    data = resp.data()
    check(
        isinstance(data, model),
        f"{what}: parsed as {type(data).__name__}, not {model.__name__}: {data!r}",
    )
    check_eq(data.id, request_id, f"{what} id echo")
    check_eq(data.status, 200, f"{what} status")
    check(data.result is not None, f"{what}: no result")
    kinds = set()
    for r in resp.rate_limits:
        kinds.add(r.rateLimitType)
        check(
            r.limit > 0 and r.count >= 0 and r.intervalNum > 0,
            f"{what}: odd rateLimits entry {r!r}",
        )
    check("REQUEST_WEIGHT" in kinds, f"{what}: no REQUEST_WEIGHT in rateLimits {resp.rate_limits!r}")
    if order_limits:
        check("ORDERS" in kinds, f"{what}: no ORDERS in rateLimits {resp.rate_limits!r}")
    return data.result


async def ws_roundtrip(spot, trap, symbol, price, tag, rest_oid):
    api = spot.websocket_api
    cid = f"interop-ws-{tag}"
    conn = await api.create_connection()
    trap.check("WS connect")
    check(conn is not None and api.connections, "WS connect: no connection (see log)")
    try:
        rid = f"place-{tag}"
        resp = await api.order_place(
            symbol=symbol,
            side="BUY",
            type="LIMIT",
            id=rid,
            time_in_force="GTC",
            price=float(price),
            quantity=float(QTY),
            new_client_order_id=cid,
            new_order_resp_type="RESULT",
        )
        trap.check("WS order.place")
        placed = check_ws_envelope(resp, OrderPlaceResponse, rid, "WS order.place", True)
        check_order_fields(
            placed, symbol=symbol, order_id=None, client_order_id=cid, price=price,
            status="NEW", what="WS order.place",
        )
        check_recent_ms(placed.transact_time, "WS order.place transactTime")
        check_recent_ms(placed.working_time, "WS order.place workingTime")
        check(placed.fills is None, f"WS order.place: RESULT response carries fills {placed.fills!r}")
        oid = placed.order_id
        check(oid != rest_oid, f"WS order.place: orderId {oid} reused from the REST order")
        print(f"ok: WS order.place  orderId={oid} clientOrderId={cid} status=NEW price={placed.price}")

        # orderId goes out as a JSON *string* ("123"): the SDK stringifies numbers.
        rid = f"status-{tag}"
        resp = await api.order_status(symbol=symbol, id=rid, order_id=oid)
        trap.check("WS order.status")
        got = check_ws_envelope(resp, OrderStatusResponse, rid, "WS order.status", False)
        check_order_fields(
            got, symbol=symbol, order_id=oid, client_order_id=cid, price=price,
            status="NEW", what="WS order.status",
        )
        check_status_fields(got, "WS order.status", working=True)
        print("ok: WS order.status by orderId  status=NEW isWorking=True")

        rid = f"cancel-{tag}"
        resp = await api.order_cancel(symbol=symbol, id=rid, orig_client_order_id=cid)
        trap.check("WS order.cancel")
        cancelled = check_ws_envelope(resp, OrderCancelResponse, rid, "WS order.cancel", False)
        check_order_fields(
            cancelled, symbol=symbol, order_id=oid, client_order_id=None, price=price,
            status="CANCELED", what="WS order.cancel",
        )
        check_eq(cancelled.orig_client_order_id, cid, "WS order.cancel origClientOrderId")
        check(
            isinstance(cancelled.client_order_id, str)
            and cancelled.client_order_id
            and cancelled.client_order_id != cid,
            f"WS order.cancel clientOrderId: {cancelled.client_order_id!r} is not a fresh cancel id",
        )
        check_recent_ms(cancelled.transact_time, "WS order.cancel transactTime")
        print(f"ok: WS order.cancel  status=CANCELED clientOrderId={cancelled.client_order_id}")

        rid = f"status2-{tag}"
        resp = await api.order_status(symbol=symbol, id=rid, orig_client_order_id=cid)
        trap.check("WS order.status after cancel")
        got = check_ws_envelope(resp, OrderStatusResponse, rid, "WS order.status after cancel", False)
        check_order_fields(
            got, symbol=symbol, order_id=oid, client_order_id=cid, price=price,
            status="CANCELED", what="WS order.status after cancel",
        )
        check_status_fields(got, "WS order.status after cancel", working=None)
        print("ok: WS order.status by origClientOrderId after cancel  status=CANCELED")

        # A second cancel is rejected: the SDK turns the error frame into
        # data() == {"error": {...}} (and logs it, which is expected here).
        resp = await api.order_cancel(symbol=symbol, id=f"cancel2-{tag}", order_id=oid)
        err = resp.data()
        check(
            isinstance(err, dict) and isinstance(err.get("error"), dict),
            f"WS second order.cancel: expected an error object, got {err!r}",
        )
        check_eq(err["error"].get("code"), -2011, "WS second order.cancel error code")
        check(bool(err["error"].get("msg")), "WS second order.cancel: empty msg")
        trap.records.clear()
        print(f"ok: WS second order.cancel  rejected code=-2011 msg={err['error']['msg']!r}")
    finally:
        await api.close_connection(close_session=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rest", required=True, help="REST base URL, e.g. http://127.0.0.1:PORT")
    ap.add_argument("--ws", required=True, help="WS API URL, e.g. ws://127.0.0.1:PORT/ws-api/v3")
    ap.add_argument("--key", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--symbol", default="BTCUSDT")
    ap.add_argument("--timeout-s", type=int, default=90)
    args = ap.parse_args()

    def on_alarm(_sig, _frame):
        print(f"MISMATCH: the script did not finish within {args.timeout_s} s", flush=True)
        os._exit(1)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.timeout_s)

    trap = WarningTrap()
    logging.getLogger().addHandler(trap)
    logging.getLogger().setLevel(logging.INFO)
    # Show the SDK's own INFO/ERROR lines on stderr: they explain failures.
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter("sdk-log %(levelname)s %(message)s"))
    logging.getLogger().addHandler(stderr)

    spot = Spot(
        config_rest_api=ConfigurationRestAPI(
            api_key=args.key,
            api_secret=args.secret,
            base_path=args.rest,
            timeout=10_000,  # ms; a debug-build sim on a busy machine can be slow
            retries=0,  # a retried DELETE would hide what the first one did
        ),
        config_ws_api=ConfigurationWebSocketAPI(
            api_key=args.key,
            api_secret=args.secret,
            stream_url=args.ws,
            timeout=10_000,
            reconnect_attempts=1,
        ),
    )
    tag = f"{os.getpid()}-{int(time.time())}"
    try:
        price = pick_price(spot, args.symbol)
        trap.check("REST GET /api/v3/depth")
        print(f"ok: REST depth  buy price {price} (under the best bid)")
        rest_oid = rest_roundtrip(spot, trap, args.symbol, price, tag)
        asyncio.run(ws_roundtrip(spot, trap, args.symbol, price, tag, rest_oid))
    except Mismatch as e:
        print(f"MISMATCH: {e}", flush=True)
        return 1
    except Exception as e:  # an SDK exception is a failed round trip too
        print(f"MISMATCH: unexpected {type(e).__name__}: {e!r}", flush=True)
        return 1
    print("PASS: binance-sdk-spot REST and WebSocket API round trips against talon sim")
    return 0


if __name__ == "__main__":
    sys.exit(main())
