"""Record the committed histories that the replay test guards.

Run `python -m tests.replay.record` only when adding a path or after a deliberate, patched
change; never to make a failing replay test pass (that failure is the non-determinism alarm).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from deploy.binaries import temporal_test_server
from tests.conftest import register_search_attributes
from tests.unit.test_order_protection import FakeOrders
from workflows.order_protection import (
    ConfirmReceiptInput,
    ExtendInput,
    FreezeInput,
    OrderProtectionWorkflow,
    ProtectionInput,
    ProtectionState,
    iso,
)

HISTORIES = Path(__file__).parent / "histories"
DAY = timedelta(days=1)
Handle = WorkflowHandle[OrderProtectionWorkflow, ProtectionState]


async def _expiry(env: WorkflowEnvironment, h: Handle) -> None:
    await h.result()


async def _confirm(env: WorkflowEnvironment, h: Handle) -> None:
    await env.sleep(2 * DAY)
    await h.execute_update(OrderProtectionWorkflow.confirm_receipt, ConfirmReceiptInput("buyer-1"))
    await h.result()


async def _extend(env: WorkflowEnvironment, h: Handle) -> None:
    await env.sleep(5 * DAY)
    micros = int(7 * DAY / timedelta(microseconds=1))
    await h.execute_update(OrderProtectionWorkflow.extend, ExtendInput(days=7, duration_us=micros))
    await h.result()


async def _freeze(env: WorkflowEnvironment, h: Handle) -> None:
    await env.sleep(20 * DAY)
    await h.execute_update(OrderProtectionWorkflow.freeze, FreezeInput("dispute-1"))
    await env.sleep(10 * DAY)
    await h.execute_update(OrderProtectionWorkflow.unfreeze, FreezeInput("dispute-1"))
    await h.result()


PATHS: dict[str, Callable[[WorkflowEnvironment, Handle], Awaitable[None]]] = {
    "order_protection_expiry": _expiry,
    "order_protection_confirm_receipt": _confirm,
    "order_protection_extend": _extend,
    "order_protection_freeze_unfreeze": _freeze,
}


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=temporal_test_server())
    try:
        await register_search_attributes(env.client)
        orders = FakeOrders()
        async with Worker(
            env.client,
            task_queue="record",
            workflows=[OrderProtectionWorkflow],
            activities=[orders.complete_order, orders.record_protection],
        ):
            for name, drive in PATHS.items():
                now = await env.get_current_time()
                handle = await env.client.start_workflow(
                    OrderProtectionWorkflow.run,
                    ProtectionInput(order_id=f"order-{name}", expires_at=iso(now + 60 * DAY)),
                    id=f"order-protection/{name}",
                    task_queue="record",
                )
                await drive(env, handle)
                history = await handle.fetch_history()
                path = HISTORIES / f"{name}.json"
                path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
                print(f"wrote {path} ({len(history.events)} events)")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
