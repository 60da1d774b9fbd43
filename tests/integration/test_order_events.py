"""Order events on the real stack: an order's life through a dispute becomes its events, one
per timeline entry; who may read which; the watch stream resumes without gap or duplicate and
goes live."""

from __future__ import annotations

import asyncio

import grpc
from disputes.v1 import disputes_pb2 as dpb
from orders.v1 import orders_pb2 as pb

from order_svc.events import TYPES
from platform_common import access
from platform_common.auth import Role
from tests.integration.conftest import Api
from tests.integration.disputes_api import (
    disputable,
    disputes,
    eventually,
    open_dispute,
    refused,
    status_becomes,
)
from tests.integration.test_dispute_events import notifier


async def order_events(api: Api, metadata: list[tuple[str, str]], order_id: str = "") -> list[pb.OrderEvent]:
    out: list[pb.OrderEvent] = []
    after = 0
    while True:
        page = await api.orders.ListOrderEvents(
            pb.ListOrderEventsRequest(after_cursor=after, order_id=order_id, page_size=500), metadata=metadata
        )
        out += page.events
        if not page.events:
            return out
        after = page.next_cursor


async def collect(
    api: Api, metadata: list[tuple[str, str]], after: int, order_id: str, count: int
) -> tuple[list[pb.OrderEvent], int]:
    """Read a watch until `count` events arrived; returns them and the last cursor seen."""
    got: list[pb.OrderEvent] = []
    last = after
    call = api.orders.WatchOrderEvents(
        pb.WatchOrderEventsRequest(after_cursor=after, order_id=order_id), metadata=metadata
    )
    async for item in call:
        if item.HasField("event"):
            got.append(item.event)
            last = item.event.cursor
            if len(got) == count:
                break
        else:
            last = max(last, item.heartbeat.cursor)
    call.cancel()
    return got, last


async def test_an_orders_life_through_a_dispute_is_its_events(api: Api) -> None:
    (case,) = await disputable(api)
    d = await open_dispute(api, case)
    await disputes(api).RespondAsSeller(
        dpb.RespondAsSellerRequest(dispute_id=d.dispute_id, response_type=dpb.SELLER_RESPONSE_TYPE_ACCEPT),
        metadata=api.auth(case.seller, Role.SELLER),
    )
    await status_becomes(api, d.dispute_id, dpb.DISPUTE_STATUS_CLOSED_REFUNDED)
    order_id = case.order.order_id

    async def released() -> bool:
        got = await order_events(api, notifier(api), order_id)
        return any(e.type == "order.dispute_hold_released" for e in got)

    await eventually(released, 20, "the hold's release")
    got = await order_events(api, notifier(api), order_id)
    timeline = (await api.get(case.order)).timeline
    assert [e.entry.action for e in got] == [t.action for t in timeline], "one event per timeline entry"
    assert [e.sequence for e in got] == list(range(1, len(got) + 1))
    assert [e.cursor for e in got] == sorted({e.cursor for e in got})
    assert all(e.type in TYPES and e.event_id == f"{order_id}:{e.sequence}" for e in got)
    types = [e.type for e in got]
    for expected in (
        "order.created",
        "order.shipped",
        "order.dispute_hold",
        "order.protection_paused",
        "order.refund_recorded",
        "order.dispute_hold_released",
        "order.protection_resumed",
    ):
        assert expected in types, types
    settled = next(e for e in got if e.entry.action == "REFUND_SETTLED")
    assert settled.order.escrow.refunded.minor_units == 4_000 and not settled.order.timeline
    assert got[0].order.status == pb.ORDER_STATUS_PAID and got[1].order.status == pb.ORDER_STATUS_SHIPPED


async def test_parties_read_only_their_own_orders_events(api: Api) -> None:
    mine, other = await api.create_order(), await api.create_order()
    await api.ship(other)
    buyer = api.auth(mine.buyer_id, Role.BUYER)
    seen = await order_events(api, buyer)
    assert seen and {e.order.buyer_id for e in seen} == {mine.buyer_id}
    assert {e.order_id for e in seen} == {mine.order_id}
    seller = await order_events(api, api.auth(other.seller_id, Role.SELLER))
    assert {e.order_id for e in seller} == {other.order_id} and len(seller) == 2
    # Another buyer's order by id: nothing of it (the feed never says whether it exists).
    page = await api.orders.ListOrderEvents(
        pb.ListOrderEventsRequest(order_id=other.order_id), metadata=buyer
    )
    assert list(page.events) == []
    everything = await order_events(api, notifier(api))
    assert len(everything) > len(seen) + len(seller)
    # Arbiters follow disputes, not orders; nor may a service that does not subscribe.
    for who in (api.auth("arbiter-1", Role.ARBITER), api.service(access.CARRIER)):
        await refused(
            grpc.StatusCode.PERMISSION_DENIED,
            api.orders.ListOrderEvents(pb.ListOrderEventsRequest(), metadata=who),
        )
    for bad in (
        pb.ListOrderEventsRequest(types=["order.nope"]),
        pb.ListOrderEventsRequest(types=["dispute.opened"]),
        pb.ListOrderEventsRequest(after_cursor=10**15),
        pb.ListOrderEventsRequest(after_cursor=-1),
        pb.ListOrderEventsRequest(order_id="not-a-uuid"),
        pb.ListOrderEventsRequest(page_size=501),
    ):
        await refused(
            grpc.StatusCode.INVALID_ARGUMENT, api.orders.ListOrderEvents(bad, metadata=notifier(api))
        )


async def test_watch_resumes_without_gap_or_duplicate_and_goes_live(api: Api) -> None:
    order = await api.create_order()
    await api.ship(order)
    await api.orders.MarkDelivered(
        pb.MarkDeliveredRequest(order_id=order.order_id), metadata=api.service(access.CARRIER)
    )
    expected = await order_events(api, notifier(api), order.order_id)
    assert [e.type for e in expected] == ["order.created", "order.shipped", "order.delivered"]
    buyer = api.auth(order.buyer_id, Role.BUYER)
    first, cursor = await asyncio.wait_for(collect(api, buyer, 0, order.order_id, 2), 20)
    rest, cursor = await asyncio.wait_for(collect(api, buyer, cursor, order.order_id, 1), 20)
    assert [e.event_id for e in first + rest] == [e.event_id for e in expected]
    # Live: the buyer confirms receipt while the stream waits.
    waiting = asyncio.create_task(asyncio.wait_for(collect(api, buyer, cursor, order.order_id, 1), 20))
    await asyncio.sleep(0.5)
    await api.orders.ConfirmReceipt(pb.ConfirmReceiptRequest(order_id=order.order_id), metadata=buyer)
    (live,), _ = await waiting
    assert live.type == "order.completed" and live.order.status == pb.ORDER_STATUS_COMPLETED
    assert live.sequence == 4 and live.cursor > cursor
