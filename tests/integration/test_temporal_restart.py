"""The Temporal server stops and restarts on its SQLite file in the middle of a protection
window; the workflow still completes the order on time. Its own stack: it restarts Temporal."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, timedelta
from pathlib import Path

import grpc
import pytest
from orders.v1 import orders_pb2

from platform_common.auth import Role
from tests.harness.fixtures import make_stack
from tests.integration.conftest import open_api
from tests.integration.test_orders_protection import wait_for_status

DAY_SECONDS = 0.5  # a 60-day window lasts 30 s: room for a slow stop and restart


async def test_protection_window_survives_a_temporal_restart(tmp_path: Path) -> None:
    stack = make_stack(tmp_path, DAY_SECONDS)
    try:
        await asyncio.to_thread(stack.start)
        async with open_api(stack) as api:
            order = await api.ship(await api.create_order(protection_days=60))
            expires = order.protection.expires_at.ToDatetime(tzinfo=UTC)

            await asyncio.sleep(3)
            await asyncio.to_thread(stack.temporal.stop)
            down_at = time.monotonic()

            # While Temporal is down, reads still work and actions fail cleanly, changing nothing.
            during = await api.get(order)
            assert during.status == orders_pb2.ORDER_STATUS_SHIPPED
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await api.orders.ExtendProtection(
                    orders_pb2.ExtendProtectionRequest(order_id=order.order_id, days=10),
                    metadata=api.auth(order.seller_id, Role.SELLER),
                    timeout=60,
                )
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value.details()
            assert (await api.get(order)).protection.expires_at == order.protection.expires_at

            await asyncio.sleep(max(0.0, 4 - (time.monotonic() - down_at)))
            await asyncio.to_thread(stack.temporal.start)
            assert expires > expires.now(UTC), "the restart must happen before the window ends"

            done = await wait_for_status(api, order, orders_pb2.ORDER_STATUS_COMPLETED, 60)
            assert done.completion_reason == orders_pb2.COMPLETION_REASON_PROTECTION_EXPIRED
            assert done.escrow_status == orders_pb2.ESCROW_STATUS_RELEASED
            lateness = done.completed_at.ToDatetime(tzinfo=UTC) - expires
            assert timedelta(0) <= lateness < timedelta(seconds=5), lateness
    finally:
        await asyncio.to_thread(stack.stop)
