"""OrderService's event feed: ListOrderEvents and WatchOrderEvents. A mixin of OrderService
(order_svc/server.py). Buyers and sellers read their own orders' events, services all of them;
the outbox is order_svc/outbox.py, the stream's mechanics platform_common/feeds.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
from orders.v1 import orders_pb2 as pb

from order_svc import rules
from order_svc.events import check_types
from order_svc.outbox import Audience
from order_svc.repository import OrderRepository
from platform_common.auth import Caller, Role, current_caller
from platform_common.errors import PermissionDenied
from platform_common.feeds import HeadWatcher, WatchSlots, check_cursor, follow, page_limit
from platform_common.outbox import Page
from platform_common.timestamps import to_timestamp


def audience(caller: Caller) -> Audience:
    if caller.role is Role.BUYER:
        return Audience(buyer_id=caller.id)
    if caller.role is Role.SELLER:
        return Audience(seller_id=caller.id)
    if caller.role is Role.SERVICE:
        return Audience()
    # The access table admits no other role; should it ever, it sees nothing by default.
    raise PermissionDenied("order events are for the order's buyer and seller, and services")


def _filters(order_id: str, types: list[str]) -> tuple[str, list[str]]:
    return rules.require_order_id(order_id) if order_id else "", check_types(types, "types")


class OrderEventsApi:
    _repo: OrderRepository
    _head: HeadWatcher
    _slots: WatchSlots

    async def ListOrderEvents(
        self, request: pb.ListOrderEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListOrderEventsResponse:
        order_id, types = _filters(request.order_id, list(request.types))
        size = page_limit(request.page_size)
        head = await self._repo.head()
        after = check_cursor(request.after_cursor, head)
        page = await self._repo.events(
            audience(current_caller()), after, order_id=order_id, types=types, limit=size
        )
        return pb.ListOrderEventsResponse(events=page.events, next_cursor=page.scanned, head_cursor=head)

    async def WatchOrderEvents(
        self, request: pb.WatchOrderEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchOrderEventsResponse]:
        order_id, types = _filters(request.order_id, list(request.types))
        after = check_cursor(request.after_cursor, await self._repo.head())
        caller = current_caller()
        whose = audience(caller)

        async def read(cursor: int, limit: int) -> Page[pb.OrderEvent]:
            return await self._repo.events(whose, cursor, order_id=order_id, types=types, limit=limit)

        with self._slots.hold(caller):
            async for item in follow(read, self._head, after, event=_event, beat=_heartbeat):
                yield item


def _event(e: pb.OrderEvent) -> pb.WatchOrderEventsResponse:
    return pb.WatchOrderEventsResponse(event=e)


def _heartbeat(cursor: int) -> pb.WatchOrderEventsResponse:
    return pb.WatchOrderEventsResponse(
        heartbeat=pb.OrderEventsHeartbeat(cursor=cursor, at=to_timestamp(datetime.now(UTC)))
    )
