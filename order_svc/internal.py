"""OrderService's internal RPCs: the side effects of workflows and of peer services.

Each has one owner in the access table (platform_common/access.py): the orders worker completes
orders and records the clock, the disputes worker freezes and releases, DisputeService holds an
order while it opens a dispute, RefundService keeps the escrow ledger in step with refunds.
Every one is idempotent, because its caller retries until it gets an answer.
"""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from orders.v1 import orders_pb2

from order_svc import rules
from order_svc.dispute_hooks import DisputeHooks
from order_svc.escrow import EntryState
from order_svc.repository import OrderRepository
from order_svc.views import hold_to_proto
from platform_common.auth import current_caller
from platform_common.enums import parse
from platform_common.errors import InvalidArgument
from platform_common.money import validate_money
from platform_common.validate import require_timestamp, require_uuid

_REASONS = {
    orders_pb2.COMPLETION_REASON_BUYER_CONFIRMED: "BUYER_CONFIRMED",
    orders_pb2.COMPLETION_REASON_PROTECTION_EXPIRED: "PROTECTION_EXPIRED",
}
_MAX_REMAINING_S = 10 * 366 * 86_400


def _now() -> datetime:
    return datetime.now(UTC)


class InternalRpcs:
    _repo: OrderRepository
    _hooks: DisputeHooks

    async def _view(self, order_id: str) -> orders_pb2.Order:  # provided by OrderService
        raise NotImplementedError

    async def CompleteOrder(
        self, request: orders_pb2.CompleteOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.CompleteOrderResponse:
        order_id = rules.require_order_id(request.order_id)
        reason = _REASONS.get(request.reason)
        if reason is None:
            raise InvalidArgument("reason must be BUYER_CONFIRMED or PROTECTION_EXPIRED")
        if not request.HasField("completed_at"):
            raise InvalidArgument("completed_at is required")
        # The workflow's clock says when protection ended; a skew against this clock is not an error.
        at = require_timestamp(request.completed_at, "completed_at")
        done = await self._repo.ledger.complete(order_id, reason, at, current_caller())
        return orders_pb2.CompleteOrderResponse(
            order=await self._view(order_id),
            held_by=[hold_to_proto(h) for h in done.holds],
        )

    async def RecordProtection(
        self, request: orders_pb2.RecordProtectionRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.RecordProtectionResponse:
        order_id = rules.require_order_id(request.order_id)
        if request.revision <= 0:
            raise InvalidArgument("revision must be positive")
        if request.frozen == request.HasField("expires_at"):
            raise InvalidArgument("exactly one of expires_at (running) or frozen must be set")
        if not 0 <= request.remaining_seconds <= _MAX_REMAINING_S:
            raise InvalidArgument(f"remaining_seconds must be 0..{_MAX_REMAINING_S}")
        if not 0 <= request.extended_days <= 100_000:
            raise InvalidArgument("extended_days must not be negative")
        expires = (
            require_timestamp(request.expires_at, "expires_at") if request.HasField("expires_at") else None
        )
        values = {
            "protection_expires_at": expires,
            "protection_frozen": request.frozen,
            "protection_remaining_s": request.remaining_seconds,
            "extended_days": request.extended_days,
        }
        await self._repo.record_protection(order_id, request.revision, values, _now(), current_caller())
        return orders_pb2.RecordProtectionResponse(order=await self._view(order_id))

    # --- disputes -----------------------------------------------------------------------------

    async def FreezeProtection(
        self, request: orders_pb2.FreezeProtectionRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.FreezeProtectionResponse:
        order_id = await self._hooks.freeze(request.order_id, request.dispute_id, _now(), current_caller())
        return orders_pb2.FreezeProtectionResponse(order=await self._view(order_id))

    async def UnfreezeProtection(
        self, request: orders_pb2.UnfreezeProtectionRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.UnfreezeProtectionResponse:
        order_id = await self._hooks.release(
            request.order_id, request.dispute_id, None, _now(), current_caller()
        )
        return orders_pb2.UnfreezeProtectionResponse(order=await self._view(order_id))

    async def HoldForDispute(
        self, request: orders_pb2.HoldForDisputeRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.HoldForDisputeResponse:
        caller = current_caller()
        if request.release:
            # Empty for the holds of openings recorded before openings had tokens.
            if len(request.token) > 64:
                raise InvalidArgument("token must be at most 64 characters")
            order_id = await self._hooks.release(
                request.order_id, request.dispute_id, request.token, _now(), caller
            )
            return orders_pb2.HoldForDisputeResponse(order=await self._view(order_id), held=False)
        order_id, held = await self._hooks.hold(
            request.order_id, request.dispute_id, request.token, _now(), caller
        )
        return orders_pb2.HoldForDisputeResponse(order=await self._view(order_id), held=held)

    # --- refunds ------------------------------------------------------------------------------

    async def RecordRefund(
        self, request: orders_pb2.RecordRefundRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.RecordRefundResponse:
        order_id = rules.require_order_id(request.order_id)
        refund_id = require_uuid(request.refund_id, "refund_id")
        if not request.HasField("amount"):
            raise InvalidArgument("amount is required")
        amount = validate_money(request.amount.minor_units, request.amount.currency, "amount")
        state = EntryState(parse(orders_pb2.EscrowEntryState, request.state, "state"))
        reason = rules.require_text(request.reason, "reason", 32)
        issuer = rules.require_text(request.issuer, "issuer", 128)
        await self._repo.ledger.record_refund(
            order_id, refund_id, amount, state, reason, issuer, _now(), current_caller()
        )
        return orders_pb2.RecordRefundResponse(order=await self._view(order_id))
