"""The orders domain's pure rules (order_svc/rules.py), every branch, without a server."""

from __future__ import annotations

from typing import Any

import pytest
from common.v1 import common_pb2
from orders.v1 import orders_pb2

from order_svc import rules
from platform_common.errors import InvalidArgument


def _create(**fields: Any) -> orders_pb2.CreateOrderRequest:
    base: dict[str, Any] = {
        "request_id": "r-1",
        "buyer_id": "b-1",
        "seller_id": "s-1",
        "total": common_pb2.Money(minor_units=2_000, currency="EUR"),
        "payment_method": orders_pb2.PaymentMethod(type=orders_pb2.PAYMENT_METHOD_TYPE_CARD, reference="tok"),
    }
    return orders_pb2.CreateOrderRequest(**{**base, **fields})


def _item(
    qty: int = 2, minor: int = 1_000, currency: str = "EUR", title: str = "Mug"
) -> orders_pb2.OrderItem:
    return orders_pb2.OrderItem(
        sku="m-1",
        title=title,
        quantity=qty,
        unit_price=common_pb2.Money(minor_units=minor, currency=currency),
    )


def test_an_order_gets_the_default_windows_and_a_fingerprint() -> None:
    new = rules.validate_create(_create(items=[_item()]))
    assert (new.protection_days, new.handling_days) == (
        rules.DEFAULT_PROTECTION_DAYS,
        rules.DEFAULT_HANDLING_DAYS,
    )
    assert new.items == [{"sku": "m-1", "title": "Mug", "quantity": 2, "unit_price_minor": 1_000}]
    assert new.fingerprint == rules.validate_create(_create(items=[_item()])).fingerprint
    assert rules.validate_create(_create(protection_days=180, handling_days=60)).protection_days == 180


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"request_id": " "}, "request_id is required"),
        ({"buyer_id": "x" * 129}, "at most 128"),
        ({"seller_id": "b-1"}, "must differ"),
        ({"total": None}, "total is required"),
        ({"items": [_item()] * (rules.MAX_ITEMS + 1)}, "at most 100 items"),
        ({"items": [_item(qty=0)]}, "quantity"),
        ({"items": [_item(currency="USD")]}, "differs from total.currency"),
        ({"items": [_item(qty=1)]}, "differs from the sum of items"),
        ({"items": [_item(title="a\x07b")]}, "control characters"),
        ({"payment_method": None}, "payment_method.type is required"),
        ({"payment_method": orders_pb2.PaymentMethod(type=99, reference="t")}, "not a known type"),  # type: ignore[arg-type]
        ({"protection_days": 181}, "between 1 and 180"),
        ({"handling_days": -1}, "between 1 and 60"),
    ],
)
def test_a_bad_order_is_refused_with_its_reason(fields: dict[str, Any], words: str) -> None:
    request = _create(**{k: v for k, v in fields.items() if v is not None})
    for name in [k for k, v in fields.items() if v is None]:
        request.ClearField(name)
    with pytest.raises(InvalidArgument, match=words):
        rules.validate_create(request)


def test_shipments_extensions_and_statuses() -> None:
    assert rules.validate_shipment(
        orders_pb2.MarkShippedRequest(carrier=" DHL ", tracking_number=" JD-0142 ")
    ) == (
        "DHL",
        "JD-0142",
    )
    with pytest.raises(InvalidArgument, match="tracking_number is required"):
        rules.validate_shipment(orders_pb2.MarkShippedRequest(carrier="DHL"))
    with pytest.raises(InvalidArgument, match=r"4\.\.64"):
        rules.validate_shipment(orders_pb2.MarkShippedRequest(carrier="DHL", tracking_number="a b c d"))
    assert rules.validate_extension_days(rules.MAX_EXTENSION_DAYS) == rules.MAX_EXTENSION_DAYS
    with pytest.raises(InvalidArgument, match="between 1 and 90"):
        rules.validate_extension_days(0)
    assert rules.status_from_proto(orders_pb2.ORDER_STATUS_UNSPECIFIED) is None
    assert rules.status_from_proto(orders_pb2.ORDER_STATUS_REFUNDED) is rules.Status.REFUNDED
    with pytest.raises(InvalidArgument, match="not a known order status"):
        rules.status_from_proto(99)
    assert rules.Status.SHIPPED.to_proto() == orders_pb2.ORDER_STATUS_SHIPPED
    assert rules.Escrow.RETURNED.to_proto() == orders_pb2.ESCROW_STATUS_RETURNED
