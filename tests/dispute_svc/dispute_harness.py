"""Time-skipping harness for DisputeWorkflow: the workflow for real, its services as in-memory fakes.

Fakes are allowed here because these are unit tests of workflow logic; the integration suite runs
the same workflow against the real services.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from dispute_svc import contract as api
from dispute_svc.model import DisputeInput, DisputeView, Solution, workflow_id
from dispute_svc.workflow import DisputeWorkflow

PAID = 10_000
Handle = WorkflowHandle[DisputeWorkflow, DisputeView]


@dataclass
class FakeServices:
    frozen: dict[str, set[str]] = field(default_factory=dict)
    freeze_calls: int = 0
    holds: dict[str, bool] = field(default_factory=dict)
    hold_calls: list[tuple[str, bool]] = field(default_factory=list)
    refunds: dict[str, tuple[str, int]] = field(default_factory=dict)
    refund_status: str = "REFUNDED"
    refuse_refunds: bool = False
    # Simulates RefundService being down for status reads.
    refunds_down: bool = False
    records: dict[str, int] = field(default_factory=dict)
    bound: dict[str, list[str]] = field(default_factory=dict)
    # Simulates DisputeService being down: every read-model write fails while set.
    records_down: bool = False

    def paid(self, dispute_id: str) -> list[int]:
        return [amount for key, (_, amount) in sorted(self.refunds.items()) if f"/{dispute_id}/" in key]

    def activities(self) -> list[Callable[..., Awaitable[object]]]:
        @activity.defn(name=api.FREEZE_ORDER)
        async def freeze(h: api.OrderHold) -> None:
            self.freeze_calls += 1
            self.frozen.setdefault(h.order_id, set()).add(h.dispute_id)

        @activity.defn(name=api.UNFREEZE_ORDER)
        async def unfreeze(h: api.OrderHold) -> None:
            self.frozen.setdefault(h.order_id, set()).discard(h.dispute_id)

        @activity.defn(name=api.SET_LEGAL_HOLD)
        async def legal_hold(h: api.LegalHold) -> None:
            self.holds[h.dispute_id] = h.hold
            self.hold_calls.append((h.dispute_id, h.hold))

        @activity.defn(name=api.ISSUE_REFUND)
        async def issue(r: api.RefundOrder) -> api.RefundResult:
            if self.refuse_refunds:
                raise ApplicationError("over the amount paid", type=api.REFUND_REFUSED, non_retryable=True)
            refund_id, _ = self.refunds.setdefault(r.idempotency_key, (str(uuid.uuid4()), r.amount_minor))
            return api.RefundResult(refund_id, "PENDING")

        @activity.defn(name=api.REFUND_STATUSES)
        async def statuses(ids: list[str]) -> list[str]:
            if self.refunds_down:
                raise ApplicationError("RefundService unavailable", non_retryable=True)
            return [self.refund_status for _ in ids]

        @activity.defn(name=api.RECORD_DISPUTE_STATE)
        async def record(view: DisputeView) -> None:
            if self.records_down:
                # Non-retryable so the local activity gives up at once (in production it gives up
                # after minutes of retries, which the time-skipping server cannot skip).
                raise ApplicationError("DisputeService unavailable", non_retryable=True)
            self.records[view.dispute_id] = max(self.records.get(view.dispute_id, 0), view.state.revision)

        @activity.defn(name=api.ATTACH_EVIDENCE)
        async def attach(b: api.EvidenceBinding) -> None:
            bound = self.bound.setdefault(b.dispute_id, [])
            if len(set(bound) | set(b.evidence_ids)) > 20:
                raise ApplicationError(
                    "a dispute holds at most 20 files", type=api.EVIDENCE_REFUSED, non_retryable=True
                )
            bound += [e for e in b.evidence_ids if e not in bound]

        return [freeze, unfreeze, legal_hold, issue, statuses, record, attach]


Opener = Callable[..., Awaitable[Handle]]


@dataclass
class Harness:
    env: WorkflowEnvironment
    fakes: FakeServices
    open: Opener


@pytest.fixture
async def disputes(time_env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    queue = f"disputes-{uuid.uuid4()}"
    fakes = FakeServices()
    handles: list[Handle] = []
    async with Worker(
        time_env.client, task_queue=queue, workflows=[DisputeWorkflow], activities=fakes.activities()
    ):

        async def start(
            policy_version: str = "2026-11-standard",
            received: bool = True,
            solution: Solution | None = None,
            max_updates_per_run: int = 500,
            opened_at: str = "",
        ) -> Handle:
            dispute_id = str(uuid.uuid4())
            if solution is None:
                solution = (
                    Solution("PARTIAL_REFUND", 4_000, False)
                    if received
                    else Solution("FULL_REFUND", PAID, False)
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
                    evidence_ids=["ev-open-1"],
                    max_updates_per_run=max_updates_per_run,
                    opened_at=opened_at,
                ),
                id=workflow_id(dispute_id),
                task_queue=queue,
            )
            handles.append(handle)
            return handle

        yield Harness(time_env, fakes, start)
        # Let in-flight tasks and activities finish first (a skipped second waits for them):
        # terminating a workflow mid-task leaves the time-skipping server's clock locked for good.
        await time_env.sleep(timedelta(seconds=1))
        for h in handles:
            with contextlib.suppress(RPCError):
                await h.terminate("test finished")


async def refused(kind: str, call: Awaitable[object]) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await call
    cause = err.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == kind, cause
    return cause.message


def dispute_id(h: Handle) -> str:
    return h.id.removeprefix("dispute/")


def actions(view: DisputeView) -> list[str]:
    return [e.action for e in view.state.timeline]
