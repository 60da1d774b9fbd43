"""DisputeWorkflow's negotiation phase on the time-skipping server (no activities involved)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from workflows.dispute import (
    BuyerAction,
    DisputeInput,
    DisputeView,
    DisputeWorkflow,
    Modification,
    SellerResponse,
    Solution,
    workflow_id,
)

DAY = timedelta(days=1)
PAID = 10_000
Handle = WorkflowHandle[DisputeWorkflow, DisputeView]
Opener = Callable[..., Awaitable[Handle]]


@pytest.fixture
async def open_dispute(time_env: WorkflowEnvironment) -> AsyncIterator[Opener]:
    queue = f"disputes-{uuid.uuid4()}"
    handles: list[Handle] = []
    async with Worker(time_env.client, task_queue=queue, workflows=[DisputeWorkflow]):

        async def start(policy_version: str = "2026-11-standard", received: bool = True) -> Handle:
            dispute_id = str(uuid.uuid4())
            solution = (
                Solution("PARTIAL_REFUND", 4_000, True) if received else Solution("FULL_REFUND", PAID, False)
            )
            handle = await time_env.client.start_workflow(
                DisputeWorkflow.run,
                DisputeInput(
                    dispute_id=dispute_id,
                    order_id=str(uuid.uuid4()),
                    buyer_id="buyer-1",
                    seller_id="seller-1",
                    paid_minor=PAID,
                    currency="EUR",
                    policy_version=policy_version,
                    reason="COLOR_NOT_AS_DESCRIBED" if received else "NOT_DELIVERED",
                    goods_received=received,
                    solution=solution,
                    description="Цвет не тот — the colour is wrong",
                ),
                id=workflow_id(dispute_id),
                task_queue=queue,
            )
            handles.append(handle)
            return handle

        yield start
        for h in handles:
            with contextlib.suppress(RPCError):
                await h.terminate("test finished")


async def refused(kind: str, call: Awaitable[object]) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await call
    cause = err.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == kind, cause


async def test_seller_accepts_the_claim(open_dispute: Opener) -> None:
    h = await open_dispute()
    view = await h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "ACCEPT"))
    assert view.outcome == "SETTLED" and view.settlement == Solution("PARTIAL_REFUND", 4_000, True)
    done = await h.result()
    assert [e.action for e in done.timeline] == ["DISPUTE_OPENED", "SELLER_ACCEPTED"]


async def test_counter_offer_accepted_with_numbered_versions(open_dispute: Opener) -> None:
    h = await open_dispute()
    offer = Solution("PARTIAL_REFUND", 2_500, False)
    view = await h.execute_update(
        DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "COUNTER_OFFER", "half, keep it", offer)
    )
    assert view.status == "AWAITING_BUYER_RESPONSE" and view.buyer_due and view.seller_due is None
    await refused(
        "FailedPrecondition",
        h.execute_update(DisputeWorkflow.accept_offer, BuyerAction("buyer-1", offer_version=1)),
    )
    done = await h.execute_update(DisputeWorkflow.accept_offer, BuyerAction("buyer-1", offer_version=2))
    assert done.outcome == "SETTLED" and done.settlement == offer
    assert [(v.number, v.party, v.kind) for v in done.versions] == [
        (1, "BUYER", "CLAIM"),
        (2, "SELLER", "COUNTER_OFFER"),
    ]


async def test_rejection_then_buyer_escalates_at_once(open_dispute: Opener) -> None:
    h = await open_dispute()
    await h.execute_update(
        DisputeWorkflow.respond_as_seller,
        SellerResponse("seller-1", "COUNTER_OFFER", "", Solution("PARTIAL_REFUND", 1_000, False)),
    )
    view = await h.execute_update(DisputeWorkflow.reject_offer, BuyerAction("buyer-1", escalate=True))
    assert view.outcome == "ESCALATED"  # on day 0: rejecting an offer allows escalating at once


async def test_escalation_waits_3_days_otherwise(open_dispute: Opener, time_env: WorkflowEnvironment) -> None:
    h = await open_dispute()
    await refused("FailedPrecondition", h.execute_update(DisputeWorkflow.escalate, BuyerAction("buyer-1")))
    await time_env.sleep(3 * DAY + timedelta(minutes=1))
    assert (await h.execute_update(DisputeWorkflow.escalate, BuyerAction("buyer-1"))).outcome == "ESCALATED"


async def test_silent_seller_escalates_after_15_days(
    open_dispute: Opener, time_env: WorkflowEnvironment
) -> None:
    h = await open_dispute()
    start = await time_env.get_current_time()
    await time_env.sleep(14 * DAY)
    assert (await h.query(DisputeWorkflow.view)).outcome == ""
    done = await h.result()
    assert done.outcome == "ESCALATED" and done.timeline[-1].action == "AUTO_ESCALATED"
    assert abs(datetime.fromisoformat(done.timeline[-1].at) - (start + 15 * DAY)) < timedelta(seconds=5)


async def test_silent_seller_refunds_the_buyer_under_that_policy(open_dispute: Opener) -> None:
    h = await open_dispute(policy_version="2026-11-refund-on-silence")
    done = await h.result()
    assert done.outcome == "SETTLED" and done.settlement == Solution("PARTIAL_REFUND", 4_000, True)
    assert done.timeline[-1].action == "SELLER_TIMEOUT_REFUND"


async def test_silent_buyer_escalates_7_days_after_an_offer(
    open_dispute: Opener, time_env: WorkflowEnvironment
) -> None:
    h = await open_dispute()
    await time_env.sleep(2 * DAY)
    await h.execute_update(
        DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "REJECT", "item was fine")
    )
    await time_env.sleep(6 * DAY)
    assert (await h.query(DisputeWorkflow.view)).outcome == ""
    done = await h.result()
    assert done.outcome == "ESCALATED" and "buyer" in done.timeline[-1].detail


async def test_modification_restarts_the_seller_window(
    open_dispute: Opener, time_env: WorkflowEnvironment
) -> None:
    h = await open_dispute()
    await time_env.sleep(10 * DAY)
    view = await h.execute_update(
        DisputeWorkflow.modify,
        Modification("buyer-1", Solution("PARTIAL_REFUND", 3_000, False), "new photos attached", ["ev-9"]),
    )
    now = await time_env.get_current_time()
    assert view.seller_due is not None
    assert abs(datetime.fromisoformat(view.seller_due) - (now + 15 * DAY)) < timedelta(seconds=5)
    await time_env.sleep(10 * DAY)  # 20 days after opening: the first window would have ended
    assert (await h.query(DisputeWorkflow.view)).outcome == ""
    assert [v.kind for v in view.versions] == ["CLAIM", "MODIFICATION"]


async def test_wrong_party_wrong_state_and_bad_input_are_refused_before_history(open_dispute: Opener) -> None:
    h = await open_dispute(received=False)

    async def accepted_updates() -> int:
        history = await h.fetch_history()
        return sum(e.HasField("workflow_execution_update_accepted_event_attributes") for e in history.events)

    await refused(
        "PermissionDenied",
        h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-2", "ACCEPT")),
    )
    await refused("PermissionDenied", h.execute_update(DisputeWorkflow.cancel, BuyerAction("buyer-2")))
    await refused(
        "FailedPrecondition", h.execute_update(DisputeWorkflow.reject_offer, BuyerAction("buyer-1"))
    )
    await refused(
        "InvalidArgument",
        h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "REJECT")),
    )
    # Not received: only a full refund without return is a valid solution.
    await refused(
        "InvalidArgument",
        h.execute_update(
            DisputeWorkflow.respond_as_seller,
            SellerResponse("seller-1", "COUNTER_OFFER", "", Solution("PARTIAL_REFUND", 10, False)),
        ),
    )
    await refused(
        "InvalidArgument",
        h.execute_update(
            DisputeWorkflow.modify, Modification("buyer-1", Solution("FULL_REFUND", PAID + 1, False), "x")
        ),
    )
    await refused(
        "InvalidArgument",
        h.execute_update(
            DisputeWorkflow.modify, Modification("buyer-1", Solution("FULL_REFUND", PAID, False), "x" * 2001)
        ),
    )
    # Validators refused all of them: no update reached history and the state is unchanged.
    assert await accepted_updates() == 0
    view = await h.query(DisputeWorkflow.view)
    assert view.status == "AWAITING_SELLER_RESPONSE" and [e.action for e in view.timeline] == [
        "DISPUTE_OPENED"
    ]
    assert (await h.execute_update(DisputeWorkflow.cancel, BuyerAction("buyer-1"))).outcome == "CANCELLED"
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):
        await h.execute_update(
            DisputeWorkflow.modify, Modification("buyer-1", Solution("FULL_REFUND", PAID, False), "again")
        )
