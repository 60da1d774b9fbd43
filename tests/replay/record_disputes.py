"""DisputeWorkflow paths recorded for the replay test (run through `python -m tests.replay.record`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from dispute_svc import contract as api
from dispute_svc.model import (
    AppealAction,
    BuyerAction,
    DecisionAction,
    DisputeInput,
    DisputeView,
    EvidenceAddition,
    InfoRequestAction,
    Modification,
    ReturnReceipt,
    ReturnShipmentAction,
    SellerResponse,
    Solution,
    workflow_id,
)
from dispute_svc.workflow import DisputeWorkflow
from dispute_svc.workflow_webhooks import WebhookDeliveryWorkflow, WebhookInput
from tests.dispute_svc.dispute_harness import PAID, FakeServices

DAY = timedelta(days=1)
Handle = WorkflowHandle[DisputeWorkflow, DisputeView]
U = DisputeWorkflow


async def _seller_accepts(env: WorkflowEnvironment, h: Handle) -> None:
    await env.sleep(2 * DAY)
    await h.execute_update(U.respond_as_seller, SellerResponse("seller-1", "ACCEPT", claim_version=1))


async def _counter_offer_accepted(env: WorkflowEnvironment, h: Handle) -> None:
    await h.execute_update(
        U.respond_as_seller,
        SellerResponse("seller-1", "COUNTER_OFFER", "half", Solution("PARTIAL_REFUND", 2_000, False)),
    )
    await env.sleep(DAY)
    await h.execute_update(U.accept_offer, BuyerAction("buyer-1", offer_version=2))


async def _arbitration_appeal(env: WorkflowEnvironment, h: Handle) -> None:
    await h.execute_update(U.respond_as_seller, SellerResponse("seller-1", "REJECT", "it was fine"))
    await h.execute_update(U.escalate, BuyerAction("buyer-1", message="decide please"))
    await h.execute_update(U.request_information, InfoRequestAction("arb-1", "SELLER", "tracking?"))
    await env.sleep(6 * DAY)  # missed
    await h.execute_update(U.decide, DecisionAction("arb-1", 3_000, False, "partly"))
    await env.sleep(DAY)
    await h.execute_update(U.appeal, AppealAction("buyer-1", "label", ["ev-label"]))
    await h.execute_update(U.decide, DecisionAction("arb-2", 5_000, False, "label proves it"))


async def _silent_seller_sla(env: WorkflowEnvironment, h: Handle) -> None:
    await env.sleep(15 * DAY + timedelta(hours=1))  # auto-escalated
    await env.sleep(61 * DAY)  # target missed, SLA breached
    await h.execute_update(U.decide, DecisionAction("arb-1", 0, False, "no fault"))


async def _return_auto_confirmed(env: WorkflowEnvironment, h: Handle) -> None:
    await h.execute_update(
        U.modify, Modification("buyer-1", Solution("PARTIAL_REFUND", 6_000, True), "return it")
    )
    await h.execute_update(U.respond_as_seller, SellerResponse("seller-1", "ACCEPT"))
    await h.execute_update(U.submit_return_shipment, ReturnShipmentAction("buyer-1", "DHL", "RET-1"))


async def _return_contested(env: WorkflowEnvironment, h: Handle) -> None:
    await h.execute_update(
        U.modify, Modification("buyer-1", Solution("PARTIAL_REFUND", 6_000, True), "return it")
    )
    await h.execute_update(U.respond_as_seller, SellerResponse("seller-1", "ACCEPT"))
    await h.execute_update(U.submit_return_shipment, ReturnShipmentAction("buyer-1", "DHL", "RET-1"))
    await h.execute_update(U.confirm_return, ReturnReceipt("seller-1", True, "empty box", ["ev-box"]))
    await h.execute_update(U.decide, DecisionAction("arb-1", 1_000, False, "partly used"))


async def _return_not_shipped(env: WorkflowEnvironment, h: Handle) -> None:
    await h.execute_update(U.modify, Modification("buyer-1", Solution("FULL_REFUND", PAID, True), ""))
    await h.execute_update(U.respond_as_seller, SellerResponse("seller-1", "ACCEPT"))


async def _cancelled(env: WorkflowEnvironment, h: Handle) -> None:
    await env.sleep(DAY)
    await h.execute_update(U.cancel, BuyerAction("buyer-1", message="sorted out"))


PATHS: dict[str, Callable[[WorkflowEnvironment, Handle], Awaitable[None]]] = {
    "dispute_seller_accepts": _seller_accepts,
    "dispute_counter_offer_accepted": _counter_offer_accepted,
    "dispute_arbitration_appeal": _arbitration_appeal,
    "dispute_silent_seller_sla": _silent_seller_sla,
    "dispute_return_auto_confirmed": _return_auto_confirmed,
    "dispute_return_contested": _return_contested,
    "dispute_return_not_shipped": _return_not_shipped,
    "dispute_cancelled": _cancelled,
}


def _input(name: str) -> DisputeInput:
    return DisputeInput(
        dispute_id=name,
        order_id=f"order-{name}",
        buyer_id="buyer-1",
        seller_id="seller-1",
        paid_minor=PAID,
        currency="EUR",
        policy_version="2026-11-standard",
        reason="COLOR_NOT_AS_DESCRIBED",
        goods_received=True,
        solution=Solution("PARTIAL_REFUND", 4_000, False),
        description="wrong colour",
        evidence_ids=["ev-1"],
    )


async def record(
    env: WorkflowEnvironment, save: Callable[[str, WorkflowHandle[Any, Any]], Awaitable[None]]
) -> None:
    fakes = FakeServices()
    async with Worker(
        env.client, task_queue="record-disputes", workflows=[DisputeWorkflow], activities=fakes.activities()
    ):
        for name, drive in PATHS.items():
            handle = await env.client.start_workflow(
                DisputeWorkflow.run,
                _input(name),
                id=workflow_id(name),
                task_queue="record-disputes",
            )
            await drive(env, handle)
            await handle.result()
            await save(name, handle)
        # Accepted by OpenDispute three days before a worker first ran it: its clocks run from then.
        name = "dispute_opened_while_worker_down"
        accepted = (await env.get_current_time()) - 3 * DAY
        handle = await env.client.start_workflow(
            DisputeWorkflow.run,
            replace(_input(name), opened_at=accepted.isoformat()),
            id=workflow_id(name),
            task_queue="record-disputes",
        )
        await _seller_accepts(env, handle)
        await handle.result()
        await save(name, handle)
        # Continue-as-new: the last run of a dispute that rolled over twice.
        name = "dispute_continue_as_new"
        handle = await env.client.start_workflow(
            DisputeWorkflow.run,
            replace(_input(name), reason="DAMAGED", evidence_ids=[], max_updates_per_run=2),
            id=workflow_id(name),
            task_queue="record-disputes",
        )
        for amount in (3_000, 2_000):
            await handle.execute_update(
                U.modify, Modification("buyer-1", Solution("PARTIAL_REFUND", amount, False), "")
            )
            await handle.execute_update(
                U.respond_as_seller,
                SellerResponse(
                    "seller-1", "COUNTER_OFFER", "less", Solution("PARTIAL_REFUND", amount - 500, False)
                ),
            )
        await env.sleep(timedelta(seconds=2))
        await handle.execute_update(U.accept_offer, BuyerAction("buyer-1", offer_version=5))
        latest: Handle = env.client.get_workflow_handle_for(DisputeWorkflow.run, handle.id)
        await latest.result()
        await save(name, latest)
        # Recorded by the code that writes the events outbox: the read model is recorded by a
        # regular activity after each task commits (patch record-state-after-commit).
        # (Each suffix names the code that recorded it: "_recorded_after_commit" before the patch
        # deadlines-before-effects, "_deadlines_first" with it. Files already there are kept.)
        generations = [
            (
                "_recorded_after_commit",
                ("dispute_seller_accepts", "dispute_arbitration_appeal", "dispute_cancelled"),
            ),
            (
                "_deadlines_first",
                ("dispute_silent_seller_sla", "dispute_return_auto_confirmed", "dispute_return_contested"),
            ),
        ]
        for suffix, base in ((suffix, base) for suffix, bases in generations for base in bases):
            name = f"{base}{suffix}"
            handle = await env.client.start_workflow(
                DisputeWorkflow.run, _input(name), id=workflow_id(name), task_queue="record-disputes"
            )
            await PATHS[base](env, handle)
            await handle.result()
            await save(name, handle)
        # A message that names files: they join the dispute through the add_evidence update.
        name = "dispute_message_evidence"
        handle = await env.client.start_workflow(
            DisputeWorkflow.run, _input(name), id=workflow_id(name), task_queue="record-disputes"
        )
        await handle.execute_update(U.add_evidence, EvidenceAddition("seller-1", "SELLER", ["ev-seller-1"]))
        await _seller_accepts(env, handle)
        await handle.result()
        await save(name, handle)
    await record_webhooks(env, save)


class _ScriptedDeliveries:
    """Two failures, a success, then the subscription is gone."""

    def __init__(self) -> None:
        self.calls = 0

    @activity.defn(name=api.DELIVER_WEBHOOKS)
    async def deliver(self, p: api.WebhookPull) -> api.WebhookOutcome:
        self.calls += 1
        if self.calls <= 2:
            return api.WebhookOutcome(api.FAILED, 0, "event x: HTTP 503", "2026-12-01T10:00:00+00:00")
        if self.calls == 3:
            return api.WebhookOutcome(api.DELIVERED, 5)
        return api.WebhookOutcome(api.GONE)

    @activity.defn(name=api.DISABLE_WEBHOOK)
    async def disable(self, d: api.WebhookDisable) -> bool:
        return True


async def record_webhooks(
    env: WorkflowEnvironment, save: Callable[[str, WorkflowHandle[Any, Any]], Awaitable[None]]
) -> None:
    script = _ScriptedDeliveries()
    async with Worker(
        env.client,
        task_queue="record-webhooks",
        workflows=[WebhookDeliveryWorkflow],
        activities=[script.deliver, script.disable],
    ):
        name = "dispute_webhook_deliveries"
        handle = await env.client.start_workflow(
            WebhookDeliveryWorkflow.run,
            WebhookInput("sub-record", 86_400),
            id=f"webhook/{name}",
            task_queue="record-webhooks",
        )
        await handle.result()
        await save(name, handle)
