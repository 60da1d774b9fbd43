"""OrderService gRPC handlers: authorization by ownership, validation, then one atomic change."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from orders.v1 import orders_pb2, orders_pb2_grpc

from order_svc import domain
from order_svc.accounts import Accounts
from order_svc.dispute_hooks import DisputeHooks
from order_svc.domain import IN_TRANSIT, Escrow, Status
from order_svc.protection import ProtectionClock
from order_svc.repository import FreezesChanged, OrderRepository, precondition
from order_svc.store import OrderRow
from order_svc.views import order_to_proto
from platform_common.auth import Caller, Role, current_caller, require_internal
from platform_common.errors import FailedPrecondition, InvalidArgument, PermissionDenied, Unavailable
from platform_common.paging import page_size
from platform_common.server import MethodRoles, roles
from workflows.order_protection import ProtectionState, parse_iso

SERVICE_NAME = "orders.v1.OrderService"
# The token subject of the orders worker (workflows/worker.py): CompleteOrder, RecordProtection.
ORDERS_WORKER = "worker-orders"
# The token subject of the disputes worker: the only caller of the protection freeze hooks.
DISPUTES_WORKER = "worker-disputes"

B, S, A, SVC = Role.BUYER, Role.SELLER, Role.ARBITER, Role.SERVICE
METHOD_ROLES: MethodRoles = {
    "CreateOrder": roles(SVC),
    "GetOrder": roles(B, S, A, SVC),
    "ListOrders": roles(B, S, A, SVC),
    "MarkShipped": roles(S, SVC),
    "MarkDelivered": roles(SVC),
    "ConfirmReceipt": roles(B),
    "ExtendProtection": roles(S),
    "CancelOrder": roles(B, SVC),
    "CompleteOrder": roles(SVC),
    "RecordProtection": roles(SVC),
    "FreezeProtection": roles(SVC),
    "UnfreezeProtection": roles(SVC),
    "SetAccountBlocked": roles(SVC),
    "GetAccountStatus": roles(B, S, A, SVC),
}

_REASONS = {
    orders_pb2.COMPLETION_REASON_BUYER_CONFIRMED: "BUYER_CONFIRMED",
    orders_pb2.COMPLETION_REASON_PROTECTION_EXPIRED: "PROTECTION_EXPIRED",
}


# Shipments retried when a dispute freezes or releases the order meanwhile (each retry catches the
# clock up with the order first).
_SHIP_ATTEMPTS = 5


def _now() -> datetime:
    return datetime.now(UTC)


def _clock_values(state: ProtectionState, carrier: str, tracking: str, now: datetime) -> dict[str, Any]:
    """The order's columns once shipped with the clock `state` (running, or frozen by disputes)."""
    return {
        "status": Status.SHIPPED.value,
        "carrier": carrier,
        "tracking_number": tracking,
        "shipped_at": now,
        "protection_expires_at": None if state.expires_at is None else parse_iso(state.expires_at),
        "protection_frozen": state.frozen,
        "protection_remaining_s": state.remaining_us // 1_000_000,
        "extended_days": state.extended_days,
    }


def _check_party(row: OrderRow, caller: Caller) -> None:
    """Buyers and sellers act only on their own orders; arbiters and services on any."""
    if caller.role is Role.BUYER and caller.id != row.buyer_id:
        raise PermissionDenied(f"order {row.id} belongs to another buyer")
    if caller.role is Role.SELLER and caller.id != row.seller_id:
        raise PermissionDenied(f"order {row.id} belongs to another seller")


class OrderService(orders_pb2_grpc.OrderServiceServicer):
    def __init__(self, repo: OrderRepository, clock: ProtectionClock, day: timedelta) -> None:
        self._repo = repo
        self._clock = clock
        self._day = day
        self._hooks = DisputeHooks(repo, clock)
        self._accounts = Accounts(repo)

    async def _view(self, order_id: str) -> orders_pb2.Order:
        row, events = await self._repo.get(order_id)
        return order_to_proto(row, events, self._day, _now())

    async def _owned(self, order_id: str) -> OrderRow:
        order_id = domain.require_order_id(order_id)
        row, _ = await self._repo.get(order_id)
        _check_party(row, current_caller())
        return row

    async def CreateOrder(
        self, request: orders_pb2.CreateOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.CreateOrderResponse:
        new = domain.validate_create(request)
        row = await self._repo.create(new, _now(), current_caller())
        return orders_pb2.CreateOrderResponse(order=await self._view(row.id))

    async def GetOrder(
        self, request: orders_pb2.GetOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.GetOrderResponse:
        row = await self._owned(request.order_id)
        return orders_pb2.GetOrderResponse(order=await self._view(row.id))

    async def ListOrders(
        self, request: orders_pb2.ListOrdersRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.ListOrdersResponse:
        caller = current_caller()
        if bool(request.buyer_id) == bool(request.seller_id):
            raise InvalidArgument("exactly one of buyer_id or seller_id is required")
        if caller.role is Role.BUYER and request.buyer_id != caller.id:
            raise PermissionDenied("buyers may only list their own orders (buyer_id = your id)")
        if caller.role is Role.SELLER and request.seller_id != caller.id:
            raise PermissionDenied("sellers may only list their own orders (seller_id = your id)")
        size = page_size(request.page.page_size)
        status = domain.status_from_proto(request.status)
        rows, token = await self._repo.list_orders(
            buyer_id=request.buyer_id,
            seller_id=request.seller_id,
            status=status,
            page_size=size,
            page_token=request.page.page_token,
        )
        now = _now()
        return orders_pb2.ListOrdersResponse(
            orders=[order_to_proto(r, [], self._day, now) for r in rows], next_page_token=token
        )

    async def MarkShipped(
        self, request: orders_pb2.MarkShippedRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.MarkShippedResponse:
        row = await self._owned(request.order_id)
        carrier, tracking = domain.validate_shipment(request)
        if row.status != Status.PAID:
            raise FailedPrecondition(f"order {row.id} is {row.status}; only PAID orders can be shipped")
        now = _now()
        window = self._day * row.protection_days
        event = (
            now,
            current_caller(),
            "ORDER_SHIPPED",
            f"{carrier} {tracking}; protection {row.protection_days} days",
        )
        created = False
        try:
            for _ in range(_SHIP_ATTEMPTS):
                # Disputes opened before shipment froze the order already: the clock starts
                # frozen by them, with the whole window left for when they end.
                pending = list(row.pending_freezes)
                started = await self._clock.start(
                    row.id, row.buyer_id, row.seller_id, now + window, window, pending
                )
                created = created or started.created
                state = started.state
                if sorted(state.frozen_by) != sorted(pending):
                    # An earlier attempt's clock, started before disputes froze or released the
                    # order: bring it to the order's current freezes.
                    row, _ = await self._repo.get(row.id)
                    if row.status != Status.PAID:
                        raise FailedPrecondition(
                            f"order {row.id} is {row.status}; only PAID orders can be shipped"
                        )
                    pending = list(row.pending_freezes)
                    state = await self._clock.hold_exactly(row.id, state, pending)
                try:
                    await self._repo.ship(
                        row.id, pending, _clock_values(state, carrier, tracking, now), event
                    )
                    break
                except FreezesChanged:
                    row, _ = await self._repo.get(row.id)  # a dispute moved first: catch up, retry
            else:
                raise Unavailable(
                    f"order {row.id}: disputes kept freezing or releasing it while shipping; retry"
                )
        except FailedPrecondition:
            current, _ = await self._repo.get(row.id)
            if created and current.status not in {s.value for s in (*IN_TRANSIT, Status.COMPLETED)}:
                await self._clock.abandon(row.id, f"order became {current.status} while shipping")
            raise
        return orders_pb2.MarkShippedResponse(order=await self._view(row.id))

    async def MarkDelivered(
        self, request: orders_pb2.MarkDeliveredRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.MarkDeliveredResponse:
        row = await self._owned(request.order_id)
        now = _now()
        at = request.delivered_at.ToDatetime(tzinfo=UTC) if request.HasField("delivered_at") else now
        if at > now + timedelta(minutes=5):
            raise InvalidArgument("delivered_at is in the future")
        if row.shipped_at is not None and at < row.shipped_at:
            raise InvalidArgument("delivered_at is before the shipment")
        await self._repo.transition(
            row.id,
            [Status.SHIPPED],
            {"status": Status.DELIVERED.value, "delivered_at": at},
            (now, current_caller(), "ORDER_DELIVERED", f"delivered at {at.isoformat()}"),
            precondition("order {id} is {status}; only SHIPPED orders can be marked delivered"),
        )
        return orders_pb2.MarkDeliveredResponse(order=await self._view(row.id))

    async def ConfirmReceipt(
        self, request: orders_pb2.ConfirmReceiptRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.ConfirmReceiptResponse:
        row = await self._owned(request.order_id)
        if row.status == Status.COMPLETED and row.completion_reason == "BUYER_CONFIRMED":
            return orders_pb2.ConfirmReceiptResponse(order=await self._view(row.id))  # retried call
        if row.status not in IN_TRANSIT:
            raise FailedPrecondition(f"order {row.id} is {row.status}; receipt can be confirmed once shipped")
        await self._clock.confirm_receipt(row.id, row.buyer_id)
        return orders_pb2.ConfirmReceiptResponse(order=await self._view(row.id))

    async def ExtendProtection(
        self, request: orders_pb2.ExtendProtectionRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.ExtendProtectionResponse:
        row = await self._owned(request.order_id)
        days = domain.validate_extension_days(request.days)
        if row.status not in IN_TRANSIT:
            raise FailedPrecondition(
                f"order {row.id} is {row.status}; protection runs only on shipped orders"
            )
        request_id = domain.require_text(request.request_id, "request_id", 128, min_len=0)
        await self._clock.extend(row.id, days, self._day * days, request_id)
        return orders_pb2.ExtendProtectionResponse(order=await self._view(row.id))

    async def CancelOrder(
        self, request: orders_pb2.CancelOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.CancelOrderResponse:
        row = await self._owned(request.order_id)
        reason = domain.require_text(request.reason, "reason", 500, min_len=0)
        now = _now()
        await self._repo.transition(
            row.id,
            [Status.PAID],
            {
                "status": Status.CANCELLED.value,
                "escrow_status": Escrow.RETURNED.value,
                "cancelled_at": now,
                "cancel_reason": reason,
            },
            (now, current_caller(), "ORDER_CANCELLED", reason),
            precondition("order {id} is {status}; only PAID (unshipped) orders can be cancelled"),
        )
        return orders_pb2.CancelOrderResponse(order=await self._view(row.id))

    async def CompleteOrder(
        self, request: orders_pb2.CompleteOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.CompleteOrderResponse:
        require_internal(ORDERS_WORKER)
        order_id = domain.require_order_id(request.order_id)
        reason = _REASONS.get(request.reason)
        if reason is None:
            raise InvalidArgument("reason must be BUYER_CONFIRMED or PROTECTION_EXPIRED")
        if not request.HasField("completed_at"):
            raise InvalidArgument("completed_at is required")
        at = request.completed_at.ToDatetime(tzinfo=UTC)
        row, _ = await self._repo.get(order_id)
        if row.status != Status.COMPLETED:
            with contextlib.suppress(FailedPrecondition):
                await self._repo.transition(
                    order_id,
                    IN_TRANSIT,
                    {
                        "status": Status.COMPLETED.value,
                        "completed_at": at,
                        "completion_reason": reason,
                        "escrow_status": Escrow.RELEASED.value,
                        "escrow_released_at": at,
                    },
                    (at, current_caller(), "ORDER_COMPLETED", f"{reason}; escrow released to seller"),
                    precondition("order {id} is {status}; only shipped orders can complete"),
                )
            row, _ = await self._repo.get(order_id)
            if row.status != Status.COMPLETED:  # a concurrent completion is success, not an error
                raise FailedPrecondition(
                    f"order {order_id} is {row.status}; only shipped orders can complete"
                )
        return orders_pb2.CompleteOrderResponse(order=await self._view(order_id))

    async def RecordProtection(
        self, request: orders_pb2.RecordProtectionRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.RecordProtectionResponse:
        require_internal(ORDERS_WORKER)
        order_id = domain.require_order_id(request.order_id)
        if request.revision <= 0:
            raise InvalidArgument("revision must be positive")
        if request.frozen == request.HasField("expires_at"):
            raise InvalidArgument("exactly one of expires_at (running) or frozen must be set")
        values = {
            "protection_expires_at": request.expires_at.ToDatetime(tzinfo=UTC)
            if request.HasField("expires_at")
            else None,
            "protection_frozen": request.frozen,
            "protection_remaining_s": request.remaining_seconds,
            "extended_days": request.extended_days,
        }
        await self._repo.record_protection(order_id, request.revision, values, _now(), current_caller())
        return orders_pb2.RecordProtectionResponse(order=await self._view(order_id))

    # --- dispute hooks: an open dispute freezes the protection clock -------------------------

    async def FreezeProtection(
        self, request: orders_pb2.FreezeProtectionRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.FreezeProtectionResponse:
        require_internal(DISPUTES_WORKER)
        order_id = await self._hooks.freeze(request.order_id, request.dispute_id)
        return orders_pb2.FreezeProtectionResponse(order=await self._view(order_id))

    async def UnfreezeProtection(
        self, request: orders_pb2.UnfreezeProtectionRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.UnfreezeProtectionResponse:
        require_internal(DISPUTES_WORKER)
        order_id = await self._hooks.unfreeze(request.order_id, request.dispute_id)
        return orders_pb2.UnfreezeProtectionResponse(order=await self._view(order_id))

    # --- account flags ------------------------------------------------------------------------

    async def SetAccountBlocked(
        self, request: orders_pb2.SetAccountBlockedRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.SetAccountBlockedResponse:
        return orders_pb2.SetAccountBlockedResponse(account=await self._accounts.set_blocked(request))

    async def GetAccountStatus(
        self, request: orders_pb2.GetAccountStatusRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.GetAccountStatusResponse:
        return orders_pb2.GetAccountStatusResponse(account=await self._accounts.get_status(request))
