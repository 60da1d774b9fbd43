"""Order rules: request validation and the order's state machine, free of I/O."""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from orders.v1 import orders_pb2

from platform_common.enums import name_of, to_proto
from platform_common.errors import InvalidArgument
from platform_common.money import validate_money
from platform_common.validate import require_uuid

DEFAULT_PROTECTION_DAYS = 60
MAX_PROTECTION_DAYS = 180
DEFAULT_HANDLING_DAYS = 7
MAX_HANDLING_DAYS = 60
MAX_EXTENSION_DAYS = 90
# After completion the buyer can still open a dispute for this long.
COMPLETION_GRACE_DAYS = 15
MAX_ITEMS = 100
MAX_QUANTITY = 10_000

_TRACKING = re.compile(r"^[A-Za-z0-9-]{4,64}$")


class Status(enum.StrEnum):
    PAID = "PAID"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    # Ended with the whole payment refunded to the buyer: the seller keeps nothing.
    REFUNDED = "REFUNDED"

    def to_proto(self) -> orders_pb2.OrderStatus.ValueType:
        return to_proto(orders_pb2.OrderStatus, self)  # type: ignore[no-any-return]


class Escrow(enum.StrEnum):
    HELD = "HELD"
    RELEASED = "RELEASED"
    RETURNED = "RETURNED"

    def to_proto(self) -> orders_pb2.EscrowStatus.ValueType:
        return to_proto(orders_pb2.EscrowStatus, self)  # type: ignore[no-any-return]


# Orders whose protection clock runs.
IN_TRANSIT = (Status.SHIPPED, Status.DELIVERED)
# Orders whose escrow still holds the payment (a dispute may hold them, a refund may settle).
OPEN = (Status.PAID, *IN_TRANSIT)


def status_from_proto(value: int) -> Status | None:
    try:
        name = name_of(orders_pb2.OrderStatus, value)
        return Status(name) if name else None
    except ValueError:
        raise InvalidArgument(f"status {value} is not a known order status") from None


def require_text(value: str, field: str, max_len: int, min_len: int = 1) -> str:
    stripped = value.strip()
    if len(stripped) < min_len:
        raise InvalidArgument(
            f"{field} is required" if min_len == 1 else f"{field} needs >= {min_len} characters"
        )
    if len(value) > max_len:
        raise InvalidArgument(f"{field} must be at most {max_len} characters (got {len(value)})")
    if any(ord(c) < 32 for c in value):
        raise InvalidArgument(f"{field} must not contain control characters")
    return stripped


def require_order_id(value: str) -> str:
    return require_uuid(value, "order_id")


def days_or_default(value: int, field: str, default: int, maximum: int) -> int:
    if value == 0:
        return default
    if not 1 <= value <= maximum:
        raise InvalidArgument(f"{field} must be between 1 and {maximum} days (got {value})")
    return value


@dataclass(frozen=True)
class NewOrder:
    request_id: str
    buyer_id: str
    seller_id: str
    total_minor: int
    currency: str
    items: list[dict[str, Any]]
    payment_method_type: int
    payment_reference: str
    protection_days: int
    handling_days: int
    fingerprint: str


def validate_create(req: orders_pb2.CreateOrderRequest) -> NewOrder:
    request_id = require_text(req.request_id, "request_id", 128)
    buyer_id = require_text(req.buyer_id, "buyer_id", 128)
    seller_id = require_text(req.seller_id, "seller_id", 128)
    if buyer_id == seller_id:
        raise InvalidArgument("buyer_id and seller_id must differ")
    if not req.HasField("total"):
        raise InvalidArgument("total is required")
    total = validate_money(req.total.minor_units, req.total.currency, "total")
    if len(req.items) > MAX_ITEMS:
        raise InvalidArgument(f"at most {MAX_ITEMS} items per order (got {len(req.items)})")
    items: list[dict[str, Any]] = []
    items_sum = 0
    for i, item in enumerate(req.items):
        where = f"items[{i}]"
        title = require_text(item.title, f"{where}.title", 200)
        sku = require_text(item.sku, f"{where}.sku", 64, min_len=0)
        if not 1 <= item.quantity <= MAX_QUANTITY:
            raise InvalidArgument(
                f"{where}.quantity must be between 1 and {MAX_QUANTITY} (got {item.quantity})"
            )
        price = validate_money(item.unit_price.minor_units, item.unit_price.currency, f"{where}.unit_price")
        if price.currency != total.currency:
            raise InvalidArgument(
                f"{where}.unit_price.currency {price.currency} differs from total.currency {total.currency}"
            )
        items_sum += price.minor_units * item.quantity
        items.append(
            {
                "sku": sku,
                "title": title,
                "quantity": item.quantity,
                "unit_price_minor": price.minor_units,
            }
        )
    if items and items_sum != total.minor_units:
        raise InvalidArgument(
            f"total.minor_units {total.minor_units} differs from the sum of items {items_sum}"
        )
    if (
        not req.HasField("payment_method")
        or req.payment_method.type == orders_pb2.PAYMENT_METHOD_TYPE_UNSPECIFIED
    ):
        raise InvalidArgument("payment_method.type is required (refunds go back to it)")
    if req.payment_method.type not in orders_pb2.PaymentMethodType.values():
        raise InvalidArgument(f"payment_method.type {req.payment_method.type} is not a known type")
    reference = require_text(req.payment_method.reference, "payment_method.reference", 128)
    return NewOrder(
        request_id=request_id,
        buyer_id=buyer_id,
        seller_id=seller_id,
        total_minor=total.minor_units,
        currency=total.currency,
        items=items,
        payment_method_type=req.payment_method.type,
        payment_reference=reference,
        protection_days=days_or_default(
            req.protection_days, "protection_days", DEFAULT_PROTECTION_DAYS, MAX_PROTECTION_DAYS
        ),
        handling_days=days_or_default(
            req.handling_days, "handling_days", DEFAULT_HANDLING_DAYS, MAX_HANDLING_DAYS
        ),
        fingerprint=hashlib.sha256(req.SerializeToString(deterministic=True)).hexdigest(),
    )


def validate_shipment(req: orders_pb2.MarkShippedRequest) -> tuple[str, str]:
    carrier = require_text(req.carrier, "carrier", 64)
    tracking = req.tracking_number.strip()
    if not tracking:
        raise InvalidArgument("tracking_number is required")
    if not _TRACKING.match(tracking):
        raise InvalidArgument("tracking_number must be 4..64 letters, digits or dashes")
    return carrier, tracking


def validate_extension_days(days: int) -> int:
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise InvalidArgument(f"days must be between 1 and {MAX_EXTENSION_DAYS} (got {days})")
    return days
