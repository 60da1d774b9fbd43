"""Order activities: call OrderService's internal RPCs with a service token.

Both RPCs are idempotent (CompleteOrder on a completed order is a no-op; RecordProtection ignores
stale revisions), so Temporal's retries cannot double-apply anything.
"""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from orders.v1 import orders_pb2, orders_pb2_grpc
from temporalio import activity
from temporalio.exceptions import ApplicationError

from order_svc.contract import (
    COMPLETE_ORDER,
    RECORD_PROTECTION,
    CompleteOrderInput,
    CompleteOrderResult,
    HoldInfo,
    RecordProtectionInput,
)

# Statuses that retrying cannot fix: surface them to the workflow at once.
_PERMANENT = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
}
_REASONS = {
    "BUYER_CONFIRMED": orders_pb2.COMPLETION_REASON_BUYER_CONFIRMED,
    "PROTECTION_EXPIRED": orders_pb2.COMPLETION_REASON_PROTECTION_EXPIRED,
}
_CALL_TIMEOUT_S = 10.0


def _permanent(exc: grpc.aio.AioRpcError) -> ApplicationError:
    return ApplicationError(
        f"OrderService refused: {exc.code().name}: {exc.details()}",
        type=exc.code().name,
        non_retryable=True,
    )


class OrderActivities:
    def __init__(self, stub: orders_pb2_grpc.OrderServiceStub) -> None:
        self._stub = stub

    @activity.defn(name=COMPLETE_ORDER)
    async def complete_order(self, inp: CompleteOrderInput) -> CompleteOrderResult:
        at = Timestamp()
        at.FromDatetime(datetime.fromisoformat(inp.completed_at))
        try:
            resp = await self._stub.CompleteOrder(
                orders_pb2.CompleteOrderRequest(
                    order_id=inp.order_id, reason=_REASONS[inp.reason], completed_at=at
                ),
                timeout=_CALL_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _PERMANENT:
                raise _permanent(exc) from exc
            raise
        return CompleteOrderResult(
            [HoldInfo(h.dispute_id, h.held_at.ToDatetime(tzinfo=UTC).isoformat()) for h in resp.held_by]
        )

    @activity.defn(name=RECORD_PROTECTION)
    async def record_protection(self, inp: RecordProtectionInput) -> None:
        req = orders_pb2.RecordProtectionRequest(
            order_id=inp.order_id,
            revision=inp.revision,
            frozen=inp.frozen,
            remaining_seconds=inp.remaining_us // 1_000_000,
            extended_days=inp.extended_days,
        )
        if inp.expires_at is not None:
            req.expires_at.FromDatetime(datetime.fromisoformat(inp.expires_at))
        try:
            await self._stub.RecordProtection(req, timeout=_CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _PERMANENT:
                raise _permanent(exc) from exc
            raise
