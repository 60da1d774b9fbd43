"""OrderService gRPC handlers: authorization by ownership, validation, then one atomic change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from disputes.v1 import disputes_pb2_grpc
from orders.v1 import orders_pb2, orders_pb2_grpc

from order_svc import rules
from order_svc.accounts import Accounts
from order_svc.client import ProtectionClient
from order_svc.dispute_hooks import DisputeHooks
from order_svc.internal import InternalRpcs
from order_svc.model import ProtectionState, parse_iso
from order_svc.repository import FreezesChanged, OrderRepository, precondition
from order_svc.rules import IN_TRANSIT, Status
from order_svc.server_events import OrderEventsApi
from order_svc.store import OrderRow
from order_svc.views import order_to_proto
from platform_common import access
from platform_common.arbiters import require_escalated_order
from platform_common.auth import ACCOUNT_ID_MAX_CHARS, ORDER_API, Caller, Role, current_caller
from platform_common.errors import FailedPrecondition, InvalidArgument, PermissionDenied, Unavailable
from platform_common.feeds import HeadWatcher, WatchSlots
from platform_common.paging import page_size
from platform_common.server import MethodRoles
from platform_common.validate import not_in_future, require_timestamp, storable

SERVICE_NAME = ORDER_API
METHOD_ROLES: MethodRoles = access.ORDERS

# Shipments retried when a dispute holds or releases the order meanwhile (each retry catches the
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
    """Buyers and sellers act only on their own orders (role and id together)."""
    if caller.role is Role.BUYER and not caller.is_(Role.BUYER, row.buyer_id):
        raise PermissionDenied("this order belongs to another buyer")
    if caller.role is Role.SELLER and not caller.is_(Role.SELLER, row.seller_id):
        raise PermissionDenied("this order belongs to another seller")


class OrderService(InternalRpcs, OrderEventsApi, orders_pb2_grpc.OrderServiceServicer):
    def __init__(
        self,
        repo: OrderRepository,
        workflows: ProtectionClient,
        day: timedelta,
        disputes: disputes_pb2_grpc.DisputeServiceStub,
    ) -> None:
        self._repo = repo
        self._workflows = workflows
        self._day = day
        self._disputes = disputes
        self._hooks = DisputeHooks(repo, workflows)
        self._accounts = Accounts(repo)
        # The event feed's head, polled while any WatchOrderEvents stream waits.
        self._head = HeadWatcher(repo.head)
        self._slots = WatchSlots()

    async def _view(self, order_id: str) -> orders_pb2.Order:
        return order_to_proto(await self._repo.data(order_id), self._day, _now())

    async def _held_by(self, order_id: str) -> list[str]:
        return [h.dispute_id for h in (await self._repo.data(order_id)).holds]

    async def _owned(self, order_id: str) -> OrderRow:
        order_id = rules.require_order_id(order_id)
        row = await self._repo.get(order_id)
        caller = current_caller()
        _check_party(row, caller)
        if caller.role is Role.ARBITER:
            await require_escalated_order(self._disputes, row.id)
        return row

    async def CreateOrder(
        self, request: orders_pb2.CreateOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.CreateOrderResponse:
        new = rules.validate_create(request)
        row = await self._repo.create(new, _now(), current_caller())
        return orders_pb2.CreateOrderResponse(order=await self._view(row.id))

    async def GetOrder(
        self, request: orders_pb2.GetOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.GetOrderResponse:
        row = await self._owned(request.order_id)
        return orders_pb2.GetOrderResponse(order=await self._view(row.id))

    async def CountOrders(
        self, request: orders_pb2.CountOrdersRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.CountOrdersResponse:
        if bool(request.buyer_id) == bool(request.seller_id):
            raise InvalidArgument("exactly one of buyer_id or seller_id is required")
        account = request.buyer_id or request.seller_id
        if len(account) > ACCOUNT_ID_MAX_CHARS:
            raise InvalidArgument(f"buyer_id and seller_id are at most {ACCOUNT_ID_MAX_CHARS} characters")
        storable(account, "buyer_id" if request.buyer_id else "seller_id")
        if not request.HasField("created_since"):
            raise InvalidArgument("created_since is required")
        since = require_timestamp(request.created_since, "created_since")
        count, disputed = await self._repo.count_orders(request.buyer_id, request.seller_id, since)
        return orders_pb2.CountOrdersResponse(count=count, disputed=disputed)

    async def ListOrders(
        self, request: orders_pb2.ListOrdersRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.ListOrdersResponse:
        caller = current_caller()
        if bool(request.buyer_id) == bool(request.seller_id):
            raise InvalidArgument("exactly one of buyer_id or seller_id is required")
        if len(request.buyer_id or request.seller_id) > 128:
            raise InvalidArgument("buyer_id and seller_id are at most 128 characters")
        if caller.role is Role.BUYER and request.buyer_id != caller.id:
            raise PermissionDenied("buyers may only list their own orders (buyer_id = your id)")
        if caller.role is Role.SELLER and request.seller_id != caller.id:
            raise PermissionDenied("sellers may only list their own orders (seller_id = your id)")
        size = page_size(request.page.page_size)
        status = rules.status_from_proto(request.status)
        rows, token = await self._repo.list_orders(
            buyer_id=request.buyer_id,
            seller_id=request.seller_id,
            status=status,
            page_size=size,
            page_token=request.page.page_token,
        )
        now = _now()
        return orders_pb2.ListOrdersResponse(
            orders=[order_to_proto(d, self._day, now) for d in await self._repo.page_data(rows)],
            next_page_token=token,
        )

    async def MarkShipped(
        self, request: orders_pb2.MarkShippedRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.MarkShippedResponse:
        row = await self._owned(request.order_id)
        carrier, tracking = rules.validate_shipment(request)
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
                # Disputes opened before shipment hold the order already: the clock starts
                # frozen by them, with the whole window left for when they end.
                pending = await self._held_by(row.id)
                started = await self._workflows.start(
                    row.id, row.buyer_id, row.seller_id, now + window, window, pending
                )
                created = created or started.created
                state = started.state
                if sorted(state.frozen_by) != sorted(pending):
                    # An earlier attempt's clock, started before disputes froze or released the
                    # order: bring it to the order's current freezes.
                    row = await self._repo.get(row.id)
                    if row.status != Status.PAID:
                        raise FailedPrecondition(
                            f"order {row.id} is {row.status}; only PAID orders can be shipped"
                        )
                    pending = await self._held_by(row.id)
                    state = await self._workflows.hold_exactly(row.id, state, pending)
                try:
                    await self._repo.ship(
                        row.id, pending, _clock_values(state, carrier, tracking, now), event
                    )
                    break
                except FreezesChanged:
                    row = await self._repo.get(row.id)  # a dispute moved first: catch up, retry
            else:
                raise Unavailable(
                    f"order {row.id}: disputes kept freezing or releasing it while shipping; retry"
                )
        except FailedPrecondition:
            current = await self._repo.get(row.id)
            if created and current.status not in {s.value for s in (*IN_TRANSIT, Status.COMPLETED)}:
                await self._workflows.abandon(row.id, f"order became {current.status} while shipping")
            raise
        return orders_pb2.MarkShippedResponse(order=await self._view(row.id))

    async def MarkDelivered(
        self, request: orders_pb2.MarkDeliveredRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.MarkDeliveredResponse:
        row = await self._owned(request.order_id)
        now = _now()
        at = now
        if request.HasField("delivered_at"):
            at = require_timestamp(
                request.delivered_at, "delivered_at", not_after=not_in_future(now), not_before=row.shipped_at
            )
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
        data = await self._repo.data(row.id)
        if data.holds:
            raise FailedPrecondition(
                f"a dispute is open on order {row.id}; receipt can be confirmed once it ends", "DISPUTE_OPEN"
            )
        await self._workflows.confirm_receipt(row.id, row.buyer_id, data.holds_ever)
        return orders_pb2.ConfirmReceiptResponse(order=await self._view(row.id))

    async def ExtendProtection(
        self, request: orders_pb2.ExtendProtectionRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.ExtendProtectionResponse:
        row = await self._owned(request.order_id)
        days = rules.validate_extension_days(request.days)
        if row.status not in IN_TRANSIT:
            raise FailedPrecondition(
                f"order {row.id} is {row.status}; protection runs only on shipped orders"
            )
        request_id = rules.require_text(request.request_id, "request_id", 128, min_len=0)
        await self._workflows.extend(row.id, days, self._day * days, request_id)
        return orders_pb2.ExtendProtectionResponse(order=await self._view(row.id))

    async def CancelOrder(
        self, request: orders_pb2.CancelOrderRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.CancelOrderResponse:
        row = await self._owned(request.order_id)
        reason = rules.require_text(request.reason, "reason", 500, min_len=0)
        await self._repo.ledger.cancel(row.id, reason, _now(), current_caller())
        return orders_pb2.CancelOrderResponse(order=await self._view(row.id))

    # --- account flags ------------------------------------------------------------------------

    async def SetAccountBlocked(
        self, request: orders_pb2.SetAccountBlockedRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.SetAccountBlockedResponse:
        return orders_pb2.SetAccountBlockedResponse(account=await self._accounts.set_blocked(request))

    async def GetAccountStatus(
        self, request: orders_pb2.GetAccountStatusRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.GetAccountStatusResponse:
        return orders_pb2.GetAccountStatusResponse(account=await self._accounts.get_status(request))
