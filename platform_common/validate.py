"""Request checks every service needs, with the same wording everywhere: ids, timestamps, enums,
and how a caller-supplied value may appear in an error message."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from orders.v1 import orders_pb2, orders_pb2_grpc

from platform_common.errors import InvalidArgument, NotFound, Unavailable

# What google.protobuf.Timestamp can hold: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
TIMESTAMP_MIN_SECONDS = -62_135_596_800
TIMESTAMP_MAX_SECONDS = 253_402_300_799
# Instants the platform ever records (an order, a delivery, a deadline): anything outside is a
# client bug or an attack, refused rather than stored.
PLAUSIBLE_FROM = datetime(2000, 1, 1, tzinfo=UTC)
PLAUSIBLE_UNTIL = datetime(2100, 1, 1, tzinfo=UTC)
# Clock skew tolerated for "not in the future" checks.
FUTURE_SKEW = timedelta(minutes=5)
ID_SHOWN = 64


def short(value: str, limit: int = ID_SHOWN) -> str:
    """A caller-supplied value as an error message may quote it: never more than `limit` chars."""
    return value if len(value) <= limit else value[:limit] + "\u2026"


def require_uuid(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(f"{field} is required")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument(f"{field} {short(value)!r} is not a valid id (UUID)") from None


def require_timestamp(
    ts: Timestamp,
    field: str,
    *,
    not_after: datetime | None = None,
    not_before: datetime | None = None,
) -> datetime:
    """A Timestamp as an aware UTC datetime, refused (INVALID_ARGUMENT) outside the range protobuf
    defines, outside PLAUSIBLE_FROM..PLAUSIBLE_UNTIL, or outside the field's own bounds."""
    if not TIMESTAMP_MIN_SECONDS <= ts.seconds <= TIMESTAMP_MAX_SECONDS:
        raise InvalidArgument(f"{field}.seconds {ts.seconds} is outside 0001-01-01..9999-12-31")
    if not 0 <= ts.nanos <= 999_999_999:
        raise InvalidArgument(f"{field}.nanos must be 0..999999999 (got {ts.nanos})")
    at = ts.ToDatetime(tzinfo=UTC)
    if not PLAUSIBLE_FROM <= at < PLAUSIBLE_UNTIL:
        raise InvalidArgument(
            f"{field} {at.isoformat()} is outside {PLAUSIBLE_FROM.year}..{PLAUSIBLE_UNTIL.year - 1}"
        )
    if not_after is not None and at > not_after:
        raise InvalidArgument(f"{field} {at.isoformat()} is in the future")
    if not_before is not None and at < not_before:
        raise InvalidArgument(f"{field} {at.isoformat()} is before {not_before.isoformat()}")
    return at


def storable(value: str, field: str) -> str:
    """Free text a database can keep: PostgreSQL text cannot hold a NUL character, and a value
    that one backend refuses and another keeps is refused on both, before anything is written."""
    if "\x00" in value:
        raise InvalidArgument(f"{field} must not contain NUL characters")
    return value


def not_in_future(now: datetime) -> datetime:
    return now + FUTURE_SKEW


async def fetch_order(orders: orders_pb2_grpc.OrderServiceStub, order_id: str) -> orders_pb2.Order:
    """Another service's view of an order (buyer, seller, amount paid, payment method)."""
    try:
        resp = await orders.GetOrder(orders_pb2.GetOrderRequest(order_id=order_id), timeout=10)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            raise NotFound(f"order {short(order_id)} not found") from exc
        raise Unavailable(
            f"OrderService unavailable ({exc.code().name}); nothing was changed, retry"
        ) from exc
    order: orders_pb2.Order = resp.order
    return order
