"""Request checks every service needs, with the same wording everywhere."""

from __future__ import annotations

import uuid

import grpc
from orders.v1 import orders_pb2, orders_pb2_grpc

from platform_common.errors import InvalidArgument, NotFound, Unavailable


def require_uuid(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(f"{field} is required")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument(f"{field} {value[:64]!r} is not a valid id (UUID)") from None


async def fetch_order(orders: orders_pb2_grpc.OrderServiceStub, order_id: str) -> orders_pb2.Order:
    """Another service's view of an order (buyer, seller, amount paid, payment method)."""
    try:
        resp = await orders.GetOrder(orders_pb2.GetOrderRequest(order_id=order_id), timeout=10)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            raise NotFound(f"order {order_id} not found") from exc
        raise Unavailable(
            f"OrderService unavailable ({exc.code().name}); nothing was changed, retry"
        ) from exc
    order: orders_pb2.Order = resp.order
    return order
