"""Buyer protection over gRPC on the real stack (one policy day = DAY_SECONDS of real time)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, timedelta

import grpc
from orders.v1 import orders_pb2
from temporalio.client import Client, WorkflowHandle

from order_svc.model import FreezeInput, ProtectionState, workflow_id
from order_svc.workflow import OrderProtectionWorkflow
from platform_common.auth import Role
from tests.harness.fixtures import DAY_SECONDS
from tests.integration.conftest import Api

DAY = timedelta(seconds=DAY_SECONDS)


async def wait_for_status(api: Api, order: orders_pb2.Order, status: int, timeout: float) -> orders_pb2.Order:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = await api.get(order)
        if current.status == status:
            return current
        await asyncio.sleep(0.1)
    raise AssertionError(
        f"order {order.order_id} never reached {orders_pb2.OrderStatus.Name(status)}: {current}"
    )


async def test_expiry_completes_the_order_and_releases_escrow(api: Api) -> None:
    default = await api.ship(await api.create_order())
    assert default.protection.days == 60  # the default window
    expiry = default.protection.expires_at.ToDatetime(tzinfo=UTC)
    assert expiry - default.shipment.shipped_at.ToDatetime(tzinfo=UTC) == 60 * DAY
    # Watched to its end on a shorter window (60 days would be 30 s here).
    order = await api.ship(await api.create_order(protection_days=12))
    expires = order.protection.expires_at.ToDatetime(tzinfo=UTC)
    shipped = order.shipment.shipped_at.ToDatetime(tzinfo=UTC)
    assert expires - shipped == 12 * DAY
    [deadline] = order.deadlines
    assert deadline.kind == "PROTECTION_EXPIRES" and deadline.due_at == order.protection.expires_at

    await asyncio.sleep(6 * DAY_SECONDS)
    assert (await api.get(order)).status == orders_pb2.ORDER_STATUS_SHIPPED  # not before its time

    done = await wait_for_status(api, order, orders_pb2.ORDER_STATUS_COMPLETED, 12 * DAY_SECONDS + 20)
    assert done.completion_reason == orders_pb2.COMPLETION_REASON_PROTECTION_EXPIRED
    assert done.escrow_status == orders_pb2.ESCROW_STATUS_RELEASED
    completed = done.completed_at.ToDatetime(tzinfo=UTC)
    assert timedelta(0) <= completed - expires < timedelta(seconds=3)
    assert done.escrow_released_at == done.completed_at
    [grace] = done.deadlines
    assert grace.kind == "DISPUTE_GRACE_ENDS"
    assert grace.due_at.ToDatetime(tzinfo=UTC) - completed == 15 * DAY
    assert [e.action for e in done.timeline] == [
        "ORDER_CREATED",
        "ORDER_SHIPPED",
        "ORDER_COMPLETED",
    ]


async def test_confirm_receipt_completes_at_once(api: Api) -> None:
    order = await api.ship(await api.create_order(protection_days=90))
    buyer = api.auth(order.buyer_id, Role.BUYER)
    started = time.time()
    done = (
        await api.orders.ConfirmReceipt(
            orders_pb2.ConfirmReceiptRequest(order_id=order.order_id), metadata=buyer
        )
    ).order
    assert done.status == orders_pb2.ORDER_STATUS_COMPLETED
    assert done.completion_reason == orders_pb2.COMPLETION_REASON_BUYER_CONFIRMED
    assert done.escrow_status == orders_pb2.ESCROW_STATUS_RELEASED
    assert abs(done.completed_at.ToDatetime(tzinfo=UTC).timestamp() - started) < 5
    again = (
        await api.orders.ConfirmReceipt(
            orders_pb2.ConfirmReceiptRequest(order_id=order.order_id), metadata=buyer
        )
    ).order
    assert again.completed_at == done.completed_at  # a retried confirmation changes nothing

    seller = api.auth(order.seller_id, Role.SELLER)
    try:
        await api.orders.ExtendProtection(
            orders_pb2.ExtendProtectionRequest(order_id=order.order_id, days=5), metadata=seller
        )
        raise AssertionError("extending a completed order must fail")
    except grpc.aio.AioRpcError as err:
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_extend_protection_moves_the_expiry(api: Api) -> None:
    order = await api.ship(await api.create_order(protection_days=8))
    before = order.protection.expires_at.ToDatetime(tzinfo=UTC)
    seller = api.auth(order.seller_id, Role.SELLER)
    extended = (
        await api.orders.ExtendProtection(
            orders_pb2.ExtendProtectionRequest(order_id=order.order_id, days=6), metadata=seller
        )
    ).order
    after = extended.protection.expires_at.ToDatetime(tzinfo=UTC)
    assert after - before == 6 * DAY
    assert extended.protection.extended_days == 6
    assert extended.deadlines[0].due_at == extended.protection.expires_at

    await asyncio.sleep((before - before.now(UTC)).total_seconds() + 1.5)  # past the original expiry
    assert (await api.get(order)).status == orders_pb2.ORDER_STATUS_SHIPPED
    done = await wait_for_status(api, order, orders_pb2.ORDER_STATUS_COMPLETED, 6 * DAY_SECONDS + 20)
    assert timedelta(0) <= done.completed_at.ToDatetime(tzinfo=UTC) - after < timedelta(seconds=3)
    actions = [e.action for e in done.timeline]
    assert actions == ["ORDER_CREATED", "ORDER_SHIPPED", "PROTECTION_EXTENDED", "ORDER_COMPLETED"]


async def test_freeze_pauses_the_clock_and_get_order_shows_it(api: Api, temporal_client: Client) -> None:
    order = await api.ship(await api.create_order(protection_days=8))
    handle: WorkflowHandle[OrderProtectionWorkflow, ProtectionState] = (
        temporal_client.get_workflow_handle_for(OrderProtectionWorkflow.run, workflow_id(order.order_id))
    )
    await handle.execute_update(OrderProtectionWorkflow.freeze, FreezeInput("dispute-1"))
    frozen = await api.get(order)
    assert frozen.protection.frozen and not frozen.protection.HasField("expires_at")
    assert frozen.deadlines[0].paused
    assert 0 < frozen.deadlines[0].remaining_seconds <= 8 * DAY_SECONDS
    await asyncio.sleep(10 * DAY_SECONDS)  # longer than the whole window
    assert (await api.get(order)).status == orders_pb2.ORDER_STATUS_SHIPPED
    state = await handle.execute_update(OrderProtectionWorkflow.unfreeze, FreezeInput("dispute-1"))
    thawed = await api.get(order)
    assert not thawed.protection.frozen
    assert [e.action for e in thawed.timeline][-2:] == ["PROTECTION_FROZEN", "PROTECTION_RESUMED"]
    assert thawed.protection.expires_at.ToDatetime(tzinfo=UTC).isoformat() == state.expires_at


async def test_operators_find_the_protection_workflow_by_order(api: Api, temporal_client: Client) -> None:
    order = await api.ship(await api.create_order())
    query = f'OrderId = "{order.order_id}" AND SellerId = "{order.seller_id}" AND ProtectionStatus = "ACTIVE"'
    for _ in range(50):  # visibility is eventually consistent
        found = [w.id async for w in temporal_client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.2)
    assert found == [workflow_id(order.order_id)]
