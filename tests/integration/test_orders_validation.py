"""Every bad OrderService request gets its exact status code and leaves the order unchanged."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import grpc
import jwt
import pytest
from common.v1 import common_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from orders.v1 import orders_pb2

from platform_common import access
from platform_common.auth import ALL_APIS, ISSUER, Role, mint_token
from tests.integration.conftest import Api, stable

C = grpc.StatusCode


async def expect(code: grpc.StatusCode, call: object) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    assert err.value.code() == code, err.value.details()
    details = err.value.details() or ""
    assert details, "every refusal carries a human-readable message"
    return details


def create_request(**overrides: object) -> orders_pb2.CreateOrderRequest:
    req = orders_pb2.CreateOrderRequest(
        request_id=str(uuid.uuid4()),
        buyer_id=f"buyer-{uuid.uuid4().hex[:8]}",
        seller_id="seller-1",
        total=common_pb2.Money(minor_units=2_000, currency="USD"),
        items=[
            orders_pb2.OrderItem(
                sku="A",
                title="Mug",
                quantity=2,
                unit_price=common_pb2.Money(minor_units=1_000, currency="USD"),
            )
        ],
        payment_method=orders_pb2.PaymentMethod(
            type=orders_pb2.PAYMENT_METHOD_TYPE_CARD, reference="card_tok_1"
        ),
    )
    for field, value in overrides.items():
        if value is None:
            req.ClearField(field)  # type: ignore[arg-type]
        elif field == "items":
            del req.items[:]
            req.items.extend(value)  # type: ignore[arg-type]
        elif isinstance(value, common_pb2.Money | orders_pb2.PaymentMethod):
            getattr(req, field).CopyFrom(value)
        else:
            setattr(req, field, value)
    return req


def usd(minor: int, currency: str = "USD") -> common_pb2.Money:
    return common_pb2.Money(minor_units=minor, currency=currency)


BAD_CREATES: dict[str, dict[str, object]] = {
    "missing request_id": {"request_id": ""},
    "missing buyer": {"buyer_id": ""},
    "missing seller": {"seller_id": "  "},
    "buyer is seller": {"seller_id": "same", "buyer_id": "same"},
    "missing total": {"total": None},
    "zero total": {"total": usd(0), "items": []},
    "negative total": {"total": usd(-500), "items": []},
    "unknown currency": {"total": usd(2_000, "XYZ"), "items": []},
    "lower-case currency": {"total": usd(2_000, "usd"), "items": []},
    "missing currency": {"total": usd(2_000, ""), "items": []},
    "items do not sum to total": {"total": usd(2_001)},
    "item quantity zero": {"items": [orders_pb2.OrderItem(title="Mug", quantity=0, unit_price=usd(1_000))]},
    "item without title": {"items": [orders_pb2.OrderItem(title="", quantity=2, unit_price=usd(1_000))]},
    "item in another currency": {
        "items": [orders_pb2.OrderItem(title="Mug", quantity=2, unit_price=usd(1_000, "EUR"))]
    },
    "missing payment method": {"payment_method": None},
    "payment method without reference": {
        "payment_method": orders_pb2.PaymentMethod(type=orders_pb2.PAYMENT_METHOD_TYPE_CARD)
    },
    "protection days too long": {"protection_days": 500},
    "negative protection days": {"protection_days": -1},
    "negative handling days": {"handling_days": -3},
    "over-long buyer id": {"buyer_id": "b" * 129},
}


@pytest.mark.parametrize("case", list(BAD_CREATES))
async def test_create_order_rejects_bad_input_and_writes_nothing(api: Api, case: str) -> None:
    req = create_request(**BAD_CREATES[case])
    await expect(C.INVALID_ARGUMENT, api.orders.CreateOrder(req, metadata=api.checkout()))
    if req.buyer_id and len(req.buyer_id) <= 128:
        listed = await api.orders.ListOrders(
            orders_pb2.ListOrdersRequest(buyer_id=req.buyer_id), metadata=api.service()
        )
        assert list(listed.orders) == []


async def test_create_order_is_idempotent_on_request_id(api: Api) -> None:
    req = create_request()
    first = (await api.orders.CreateOrder(req, metadata=api.checkout())).order
    again = (await api.orders.CreateOrder(req, metadata=api.checkout())).order
    assert again.order_id == first.order_id
    assert first.status == orders_pb2.ORDER_STATUS_PAID
    assert first.escrow_status == orders_pb2.ESCROW_STATUS_HELD
    assert first.protection.days == 60 and first.handling_days == 7
    assert [d.kind for d in first.deadlines] == ["SHIP_BY"]
    req.total.minor_units = 3_000
    del req.items[:]
    details = await expect(C.ALREADY_EXISTS, api.orders.CreateOrder(req, metadata=api.checkout()))
    assert first.order_id in details
    listed = await api.orders.ListOrders(
        orders_pb2.ListOrdersRequest(buyer_id=req.buyer_id), metadata=api.service()
    )
    assert [o.order_id for o in listed.orders] == [first.order_id]


# --- authentication and roles ---------------------------------------------------------------


def forged(secret: str = "x" * 48, **claims: object) -> list[tuple[str, str]]:
    now = int(time.time())
    body = {
        "sub": "checkout",
        "role": "service",
        "iss": ISSUER,
        "aud": list(ALL_APIS),
        "iat": now,
        "exp": now + 600,
        **claims,
    }
    body = {k: v for k, v in body.items() if v is not None}
    return [("authorization", f"Bearer {jwt.encode(body, secret, algorithm='HS256')}")]


async def test_unauthenticated_calls_are_refused(api: Api) -> None:
    req = create_request()
    secret = api.stack.secrets.jwt_secret
    cases: dict[str, list[tuple[str, str]]] = {
        "no token": [],
        "bad signature": forged(),
        "expired": forged(secret, exp=int(time.time()) - 10),
        "not bearer": [("authorization", "Basic Y2hlY2tvdXQ6cGFzcw==")],
        "garbage": [("authorization", "Bearer not.a.jwt")],
        "unknown role": forged(secret, role="admin"),
        "wrong issuer": forged(secret, iss="someone-else"),
        "no subject": forged(secret, sub=""),
        # Claims the platform requires to be well-formed, not merely present.
        "string exp": forged(secret, exp=str(int(time.time()) + 600)),
        "valid for a century": forged(secret, exp=int(time.time()) + 100 * 365 * 86_400),
        "no audience": forged(secret, aud=None),
        "another audience": forged(secret, aud=["billing.v1.Ledger"]),
        "two tokens": [*forged(secret), *forged(secret, sub="support")],
    }
    for name, metadata in cases.items():
        try:
            await api.orders.CreateOrder(req, metadata=metadata)
        except grpc.aio.AioRpcError as refused:
            assert refused.code() == C.UNAUTHENTICATED and refused.details(), name
        else:
            raise AssertionError(f"{name}: accepted")
    listed = await api.orders.ListOrders(
        orders_pb2.ListOrdersRequest(buyer_id=req.buyer_id), metadata=api.service()
    )
    assert list(listed.orders) == []


async def test_every_rpc_refuses_roles_it_does_not_serve(api: Api) -> None:
    order = await api.create_order()
    before = stable(await api.get(order))
    oid = order.order_id
    calls: dict[Role, list[Callable[[list[tuple[str, str]]], object]]] = {
        Role.BUYER: [
            lambda md: api.orders.CreateOrder(create_request(buyer_id=order.buyer_id), metadata=md),
            lambda md: api.orders.MarkShipped(
                orders_pb2.MarkShippedRequest(order_id=oid, carrier="DHL", tracking_number="ABCD1234"),
                metadata=md,
            ),
            lambda md: api.orders.MarkDelivered(orders_pb2.MarkDeliveredRequest(order_id=oid), metadata=md),
            lambda md: api.orders.ExtendProtection(
                orders_pb2.ExtendProtectionRequest(order_id=oid, days=5), metadata=md
            ),
            lambda md: api.orders.CompleteOrder(
                orders_pb2.CompleteOrderRequest(
                    order_id=oid, reason=orders_pb2.COMPLETION_REASON_BUYER_CONFIRMED
                ),
                metadata=md,
            ),
            lambda md: api.orders.RecordProtection(
                orders_pb2.RecordProtectionRequest(order_id=oid, revision=99, frozen=True),
                metadata=md,
            ),
        ],
        Role.SELLER: [
            lambda md: api.orders.ConfirmReceipt(orders_pb2.ConfirmReceiptRequest(order_id=oid), metadata=md),
            lambda md: api.orders.CancelOrder(orders_pb2.CancelOrderRequest(order_id=oid), metadata=md),
            lambda md: api.orders.MarkDelivered(orders_pb2.MarkDeliveredRequest(order_id=oid), metadata=md),
        ],
        Role.ARBITER: [
            lambda md: api.orders.MarkShipped(
                orders_pb2.MarkShippedRequest(order_id=oid, carrier="DHL", tracking_number="ABCD1234"),
                metadata=md,
            ),
            lambda md: api.orders.ConfirmReceipt(orders_pb2.ConfirmReceiptRequest(order_id=oid), metadata=md),
            lambda md: api.orders.CancelOrder(orders_pb2.CancelOrderRequest(order_id=oid), metadata=md),
        ],
        Role.SERVICE: [
            lambda md: api.orders.ConfirmReceipt(orders_pb2.ConfirmReceiptRequest(order_id=oid), metadata=md),
            lambda md: api.orders.ExtendProtection(
                orders_pb2.ExtendProtectionRequest(order_id=oid, days=5), metadata=md
            ),
        ],
    }
    owners = {
        Role.BUYER: order.buyer_id,
        Role.SELLER: order.seller_id,
        Role.ARBITER: "arb-1",
        Role.SERVICE: "svc",
    }
    for role, role_calls in calls.items():
        for call in role_calls:
            await expect(C.PERMISSION_DENIED, call(api.auth(owners[role], role)))
    assert stable(await api.get(order)) == before


async def test_other_parties_cannot_read_or_act_on_an_order(api: Api) -> None:
    order = await api.ship(await api.create_order())
    before = stable(await api.get(order))
    other_buyer = api.auth("someone-else", Role.BUYER)
    other_seller = api.auth("another-shop", Role.SELLER)
    oid = order.order_id
    await expect(
        C.PERMISSION_DENIED,
        api.orders.GetOrder(orders_pb2.GetOrderRequest(order_id=oid), metadata=other_buyer),
    )
    await expect(
        C.PERMISSION_DENIED,
        api.orders.GetOrder(orders_pb2.GetOrderRequest(order_id=oid), metadata=other_seller),
    )
    await expect(
        C.PERMISSION_DENIED,
        api.orders.ConfirmReceipt(orders_pb2.ConfirmReceiptRequest(order_id=oid), metadata=other_buyer),
    )
    await expect(
        C.PERMISSION_DENIED,
        api.orders.ExtendProtection(
            orders_pb2.ExtendProtectionRequest(order_id=oid, days=3), metadata=other_seller
        ),
    )
    await expect(
        C.PERMISSION_DENIED,
        api.orders.CancelOrder(orders_pb2.CancelOrderRequest(order_id=oid), metadata=other_buyer),
    )
    await expect(
        C.PERMISSION_DENIED,
        api.orders.ListOrders(orders_pb2.ListOrdersRequest(buyer_id=order.buyer_id), metadata=other_buyer),
    )
    await expect(
        C.PERMISSION_DENIED,
        api.orders.ListOrders(orders_pb2.ListOrdersRequest(seller_id=order.seller_id), metadata=other_seller),
    )
    assert stable(await api.get(order)) == before
    # Arbiters act on escalated disputes: an order without one is not theirs to read.
    await expect(
        C.PERMISSION_DENIED,
        api.orders.GetOrder(orders_pb2.GetOrderRequest(order_id=oid), metadata=api.auth("arb", Role.ARBITER)),
    )


async def test_unknown_and_malformed_order_ids(api: Api) -> None:
    md = api.service()
    await expect(
        C.INVALID_ARGUMENT,
        api.orders.GetOrder(orders_pb2.GetOrderRequest(order_id=""), metadata=md),
    )
    await expect(
        C.INVALID_ARGUMENT,
        api.orders.GetOrder(orders_pb2.GetOrderRequest(order_id="not-a-uuid"), metadata=md),
    )
    await expect(
        C.NOT_FOUND,
        api.orders.GetOrder(orders_pb2.GetOrderRequest(order_id=str(uuid.uuid4())), metadata=md),
    )
    seller = api.auth("seller-x", Role.SELLER)
    await expect(
        C.NOT_FOUND,
        api.orders.MarkShipped(
            orders_pb2.MarkShippedRequest(
                order_id=str(uuid.uuid4()), carrier="DHL", tracking_number="ABCD1234"
            ),
            metadata=seller,
        ),
    )


# --- state machine ----------------------------------------------------------------------------


async def test_mark_shipped_bad_input_and_wrong_states(api: Api) -> None:
    order = await api.create_order()
    seller = api.auth(order.seller_id, Role.SELLER)
    oid = order.order_id
    before = stable(await api.get(order))
    for carrier, tracking in [
        ("", "ABCD1234"),
        ("DHL", ""),
        ("DHL", "AB"),
        ("DHL", "has spaces 123"),
        ("x" * 65, "ABCD1234"),
    ]:
        await expect(
            C.INVALID_ARGUMENT,
            api.orders.MarkShipped(
                orders_pb2.MarkShippedRequest(order_id=oid, carrier=carrier, tracking_number=tracking),
                metadata=seller,
            ),
        )
    assert stable(await api.get(order)) == before

    shipped = await api.ship(order)
    assert shipped.status == orders_pb2.ORDER_STATUS_SHIPPED
    snapshot = stable(await api.get(order))
    details = await expect(
        C.FAILED_PRECONDITION,
        api.orders.MarkShipped(
            orders_pb2.MarkShippedRequest(order_id=oid, carrier="UPS", tracking_number="1Z999"),
            metadata=seller,
        ),
    )
    assert "SHIPPED" in details
    assert stable(await api.get(order)) == snapshot

    cancelled = await api.create_order()
    await api.orders.CancelOrder(
        orders_pb2.CancelOrderRequest(order_id=cancelled.order_id, reason="changed my mind"),
        metadata=api.auth(cancelled.buyer_id, Role.BUYER),
    )
    snap = stable(await api.get(cancelled))
    assert (
        snap.status == orders_pb2.ORDER_STATUS_CANCELLED
        and snap.escrow_status == orders_pb2.ESCROW_STATUS_RETURNED
    )
    details = await expect(
        C.FAILED_PRECONDITION,
        api.orders.MarkShipped(
            orders_pb2.MarkShippedRequest(
                order_id=cancelled.order_id, carrier="DHL", tracking_number="ABCD1234"
            ),
            metadata=api.auth(cancelled.seller_id, Role.SELLER),
        ),
    )
    assert "CANCELLED" in details
    assert stable(await api.get(cancelled)) == snap


async def test_mark_delivered_rules(api: Api) -> None:
    order = await api.create_order()
    md = api.service(access.CARRIER)
    await expect(
        C.FAILED_PRECONDITION,
        api.orders.MarkDelivered(orders_pb2.MarkDeliveredRequest(order_id=order.order_id), metadata=md),
    )
    await api.ship(order)
    future = Timestamp()
    future.FromSeconds(int(time.time()) + 86_400)
    await expect(
        C.INVALID_ARGUMENT,
        api.orders.MarkDelivered(
            orders_pb2.MarkDeliveredRequest(order_id=order.order_id, delivered_at=future),
            metadata=md,
        ),
    )
    past = Timestamp()
    past.FromSeconds(int(time.time()) - 86_400)
    await expect(
        C.INVALID_ARGUMENT,
        api.orders.MarkDelivered(
            orders_pb2.MarkDeliveredRequest(order_id=order.order_id, delivered_at=past), metadata=md
        ),
    )
    delivered = (
        await api.orders.MarkDelivered(orders_pb2.MarkDeliveredRequest(order_id=order.order_id), metadata=md)
    ).order
    assert delivered.status == orders_pb2.ORDER_STATUS_DELIVERED and delivered.shipment.HasField(
        "delivered_at"
    )
    snap = stable(await api.get(order))
    await expect(
        C.FAILED_PRECONDITION,
        api.orders.MarkDelivered(orders_pb2.MarkDeliveredRequest(order_id=order.order_id), metadata=md),
    )
    assert stable(await api.get(order)) == snap


async def test_confirm_receipt_and_extend_in_wrong_states(api: Api) -> None:
    paid = await api.create_order()
    buyer = api.auth(paid.buyer_id, Role.BUYER)
    seller = api.auth(paid.seller_id, Role.SELLER)
    snap = stable(await api.get(paid))
    await expect(
        C.FAILED_PRECONDITION,
        api.orders.ConfirmReceipt(orders_pb2.ConfirmReceiptRequest(order_id=paid.order_id), metadata=buyer),
    )
    await expect(
        C.FAILED_PRECONDITION,
        api.orders.ExtendProtection(
            orders_pb2.ExtendProtectionRequest(order_id=paid.order_id, days=5), metadata=seller
        ),
    )
    for days in (0, -2, 91):
        await expect(
            C.INVALID_ARGUMENT,
            api.orders.ExtendProtection(
                orders_pb2.ExtendProtectionRequest(order_id=paid.order_id, days=days),
                metadata=seller,
            ),
        )
    assert stable(await api.get(paid)) == snap
    complete = orders_pb2.CompleteOrderRequest(
        order_id=paid.order_id,
        reason=orders_pb2.COMPLETION_REASON_PROTECTION_EXPIRED,
        completed_at=Timestamp(seconds=int(time.time())),
    )
    # Internal RPCs: only the orders worker, not every platform service, may release escrow.
    await expect(C.PERMISSION_DENIED, api.orders.CompleteOrder(complete, metadata=api.service()))
    await expect(C.PERMISSION_DENIED, api.orders.CompleteOrder(complete, metadata=api.checkout()))
    worker = api.auth("worker-orders", Role.SERVICE)
    await expect(C.FAILED_PRECONDITION, api.orders.CompleteOrder(complete, metadata=worker))
    assert stable(await api.get(paid)) == snap


async def test_cancel_only_before_shipment(api: Api) -> None:
    order = await api.ship(await api.create_order())
    snap = stable(await api.get(order))
    await expect(
        C.FAILED_PRECONDITION,
        api.orders.CancelOrder(
            orders_pb2.CancelOrderRequest(order_id=order.order_id),
            metadata=api.auth(order.buyer_id, Role.BUYER),
        ),
    )
    await expect(
        C.INVALID_ARGUMENT,
        api.orders.CancelOrder(
            orders_pb2.CancelOrderRequest(order_id=order.order_id, reason="r" * 501),
            metadata=api.auth(order.buyer_id, Role.BUYER),
        ),
    )
    assert stable(await api.get(order)) == snap


async def test_list_orders_pagination_and_bad_requests(api: Api) -> None:
    buyer = f"buyer-{uuid.uuid4().hex[:8]}"
    made = [await api.create_order(buyer=buyer) for _ in range(5)]
    md = api.auth(buyer, Role.BUYER)
    seen: list[str] = []
    token = ""
    while True:
        page = await api.orders.ListOrders(
            orders_pb2.ListOrdersRequest(
                buyer_id=buyer, page=common_pb2.PageRequest(page_size=2, page_token=token)
            ),
            metadata=md,
        )
        assert len(page.orders) <= 2
        seen += [o.order_id for o in page.orders]
        token = page.next_page_token
        if not token:
            break
    assert seen == [o.order_id for o in reversed(made)]  # newest first, each once
    shipped = await api.ship(made[0])
    only = await api.orders.ListOrders(
        orders_pb2.ListOrdersRequest(buyer_id=buyer, status=orders_pb2.ORDER_STATUS_SHIPPED),
        metadata=md,
    )
    assert [o.order_id for o in only.orders] == [shipped.order_id]

    await expect(
        C.INVALID_ARGUMENT,
        api.orders.ListOrders(orders_pb2.ListOrdersRequest(), metadata=api.service()),
    )
    await expect(
        C.INVALID_ARGUMENT,
        api.orders.ListOrders(
            orders_pb2.ListOrdersRequest(buyer_id=buyer, seller_id="s"), metadata=api.service()
        ),
    )
    await expect(
        C.INVALID_ARGUMENT,
        api.orders.ListOrders(
            orders_pb2.ListOrdersRequest(buyer_id=buyer, page=common_pb2.PageRequest(page_size=101)),
            metadata=md,
        ),
    )
    await expect(
        C.INVALID_ARGUMENT,
        api.orders.ListOrders(
            orders_pb2.ListOrdersRequest(buyer_id=buyer, page=common_pb2.PageRequest(page_token="%%%")),
            metadata=md,
        ),
    )


async def test_tokens_from_another_deployment_are_refused(api: Api) -> None:
    other = mint_token("checkout", Role.SERVICE, "y" * 64)
    await expect(
        C.UNAUTHENTICATED,
        api.orders.GetOrder(
            orders_pb2.GetOrderRequest(order_id=str(uuid.uuid4())),
            metadata=[("authorization", f"Bearer {other}")],
        ),
    )
