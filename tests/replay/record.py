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
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from deploy.binaries import temporal_test_server
from order_svc.contract import HoldInfo
from order_svc.model import (
    ConfirmReceiptInput,
    ExtendInput,
    FreezeInput,
    ProtectionInput,
    ProtectionState,
    iso,
    parse_iso,
)
from order_svc.workflow import OrderProtectionWorkflow
from refund_svc.contract import ProviderState
from refund_svc.model import RefundInput, RefundView, RetryInput
from refund_svc.model import workflow_id as refund_workflow_id
from refund_svc.workflow import RefundWorkflow
from tests.conftest import register_search_attributes
from tests.order_svc.test_order_protection import FakeOrders
from tests.refund_svc.test_refund_workflow import POLICY, FakeProvider, report
from tests.replay import record_disputes

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


async def _hold_refused(env: WorkflowEnvironment, h: Handle, orders: FakeOrders) -> None:
    """A dispute held the order before the clock heard of it: the completion is refused and the
    clock freezes from the hold; the dispute ends and the rest of the window runs out."""
    expires = parse_iso((await h.query(OrderProtectionWorkflow.state)).expires_at or "")
    orders.holds = [HoldInfo("dispute-1", iso(expires - 6 * timedelta(hours=1)))]
    await env.sleep(61 * DAY)
    orders.holds = []
    await h.execute_update(OrderProtectionWorkflow.unfreeze, FreezeInput("dispute-1"))
    await h.result()


RefundHandle = WorkflowHandle[RefundWorkflow, RefundView]


async def _refund_webhook(env: WorkflowEnvironment, h: RefundHandle) -> None:
    await env.sleep(timedelta(hours=1))
    ref = (await h.query(RefundWorkflow.view)).provider_reference
    await h.signal(RefundWorkflow.settlement, report(ref, "succeeded", settled_at="t"))
    await h.result()


async def _refund_decline_retry(env: WorkflowEnvironment, h: RefundHandle) -> None:
    await env.sleep(timedelta(hours=1))
    ref = (await h.query(RefundWorkflow.view)).provider_reference
    await h.signal(RefundWorkflow.settlement, report(ref, "declined", "card closed"))
    await env.sleep(timedelta(hours=1))
    await h.execute_update(RefundWorkflow.retry, RetryInput("ops", "card re-issued"))
    await env.sleep(timedelta(hours=1))
    ref = (await h.query(RefundWorkflow.view)).provider_reference
    await h.signal(RefundWorkflow.settlement, report(ref, "succeeded", settled_at="t"))
    await h.result()


async def _refund_settlement_mismatch(env: WorkflowEnvironment, h: RefundHandle) -> None:
    """A signed report for another amount is flagged and ignored; the genuine one settles."""
    await env.sleep(timedelta(hours=1))
    ref = (await h.query(RefundWorkflow.view)).provider_reference
    await h.signal(RefundWorkflow.settlement, report(ref, "succeeded", settled_at="t", amount_minor=1))
    await env.sleep(timedelta(hours=1))
    await h.signal(RefundWorkflow.settlement, report(ref, "succeeded", settled_at="t"))
    await h.result()


async def _refund_overdue_polled(env: WorkflowEnvironment, h: RefundHandle) -> None:
    await h.result()  # the fake provider settles on the 12th poll, after the overdue flag


REFUND_PATHS: dict[str, Callable[[WorkflowEnvironment, RefundHandle], Awaitable[None]]] = {
    "refund_webhook": _refund_webhook,
    "refund_decline_retry": _refund_decline_retry,
    "refund_overdue_polled": _refund_overdue_polled,
    "refund_settlement_mismatch": _refund_settlement_mismatch,
}

PATHS: dict[str, Callable[[WorkflowEnvironment, Handle], Awaitable[None]]] = {
    "order_protection_expiry": _expiry,
    "order_protection_confirm_receipt": _confirm,
    "order_protection_extend": _extend,
    "order_protection_freeze_unfreeze": _freeze,
}


async def _save(name: str, handle: WorkflowHandle[Any, Any]) -> None:
    """Writes only new histories: committed ones were made by older code and must stay as they are."""
    path = HISTORIES / f"{name}.json"
    if path.exists():
        print(f"kept {path} (committed history)")
        return
    history = await handle.fetch_history()
    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    print(f"wrote {path} ({len(history.events)} events)")


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
                await _save(name, handle)
            name = "order_protection_hold_refused"
            now = await env.get_current_time()
            handle = await env.client.start_workflow(
                OrderProtectionWorkflow.run,
                ProtectionInput(order_id=f"order-{name}", expires_at=iso(now + 60 * DAY)),
                id=f"order-protection/{name}",
                task_queue="record",
            )
            await _hold_refused(env, handle, orders)
            await _save(name, handle)
        polls: list[str] = []
        provider = FakeProvider()

        def settle_on_12th_poll(ref: str) -> ProviderState | None:
            polls.append(ref)
            return report(ref, "succeeded", settled_at="t") if len(polls) >= 12 else None

        provider.settle = settle_on_12th_poll
        async with Worker(
            env.client,
            task_queue="record-refunds",
            workflows=[RefundWorkflow],
            activities=[provider.submit, provider.poll, provider.record],
        ):
            for name, drive_refund in REFUND_PATHS.items():
                now = await env.get_current_time()
                key = f"record:{name}"
                refund = await env.client.start_workflow(
                    RefundWorkflow.run,
                    RefundInput(
                        refund_id=f"refund-{name}",
                        idempotency_key=key,
                        payment_reference="card_tok_1",
                        amount_minor=4_999,
                        currency="EUR",
                        created_at=now.isoformat(),
                        expected_by=(now + 9 * DAY).isoformat(),
                        policy=POLICY,
                    ),
                    id=refund_workflow_id(key),
                    task_queue="record-refunds",
                )
                await drive_refund(env, refund)
                await _save(name, refund)
        await record_disputes.record(env, _save)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
