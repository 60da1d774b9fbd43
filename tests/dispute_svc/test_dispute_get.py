"""GetDispute's allowed actions in DisputeService, with the workflow and the read model as fakes:
who is asked about (the token's role and id), how the workflow's times are read at the
service's clock, and what a read-model answer says about them; and DisputeClient's one query,
also against a worker of the previous release (time-skipping)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from disputes.v1 import disputes_pb2 as pb
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from dispute_svc.client import DisputeClient
from dispute_svc.model import (
    WORKFLOW_NAME,
    ActionCaller,
    ActionKind,
    AllowedAction,
    DisputeInput,
    DisputeState,
    DisputeStatus,
    DisputeView,
    Party,
    Solution,
    SolutionType,
    workflow_id,
)
from dispute_svc.policy import STANDARD
from dispute_svc.server import DisputeService
from dispute_svc.views import as_of, render
from platform_common.auth import Caller, Role, set_current_caller
from platform_common.errors import PermissionDenied, Unavailable
from tests.dispute_svc.dispute_harness import Harness, dispute_id

DISPUTE_ID = str(uuid.uuid4())
NOW = datetime.now(UTC)


def _at(days: float) -> str:
    return (NOW + timedelta(days=days)).isoformat()


def _input(dispute_id: str) -> DisputeInput:
    claim = Solution(SolutionType.PARTIAL_REFUND, 4_000, False)
    return DisputeInput(
        dispute_id, str(uuid.uuid4()), "buyer-1", "seller-1", 10_000, "EUR", "2026-11-standard",
        "COLOR_NOT_AS_DESCRIBED", True, claim, "the colour is wrong",
    )  # fmt: skip


def _view() -> DisputeView:
    state = DisputeState(
        status=DisputeStatus.AWAITING_SELLER_RESPONSE,
        opened_at=_at(-4),
        updated_at=_at(-4),
        claim=Solution(SolutionType.PARTIAL_REFUND, 4_000, False),
        description="the colour is wrong",
        seller_due=_at(11),
    )
    return DisputeView(
        DISPUTE_ID, str(uuid.uuid4()), "buyer-1", "seller-1", 10_000, "EUR", "2026-11-standard",
        "COLOR_NOT_AS_DESCRIBED", True, 1, state, [],
    )  # fmt: skip


# As the workflow answers at its last task, four days ago: since then the buyer's wait has
# passed, and one window (made up for the test) has ended.
ANSWER = [
    AllowedAction(ActionKind.MODIFY_DISPUTE, _at(11)),
    AllowedAction(ActionKind.ESCALATE_DISPUTE, _at(11), _at(-1)),
    AllowedAction(ActionKind.SUBMIT_INFORMATION, _at(-0.5)),
    AllowedAction(ActionKind.SEND_MESSAGE),
]


@dataclass
class FakeWorkflows:
    down: bool = False
    asked: list[ActionCaller] = field(default_factory=list)

    async def view_for(
        self, dispute_id: str, caller: ActionCaller, timeout_s: float = 10.0
    ) -> tuple[DisputeView, list[AllowedAction] | None]:
        self.asked.append(caller)
        if self.down:
            raise Unavailable("the disputes worker is down")
        return _view(), list(ANSWER)


def _service(workflows: FakeWorkflows) -> DisputeService:
    async def get(dispute_id: str) -> pb.Dispute:
        return render(_view())  # the read model's copy

    async def head() -> int:
        return 0

    async def latest_messages(dispute_id: str, *, with_notes: bool) -> tuple[list[pb.DisputeMessage], int]:
        return [], 0  # no thread: GetDispute's timeline is the workflow's

    repo: Any = SimpleNamespace(openings=None, get=get, head=head, latest_messages=latest_messages)
    hooks: Any = SimpleNamespace()
    return DisputeService(repo, workflows, peers=None, policy=STANDARD, hooks=hooks)  # type: ignore[arg-type]


async def _get(workflows: FakeWorkflows, caller: Caller) -> pb.GetDisputeResponse:
    set_current_caller(caller)
    context: Any = SimpleNamespace(time_remaining=lambda: None)
    return await _service(workflows).GetDispute(pb.GetDisputeRequest(dispute_id=DISPUTE_ID), context)


async def test_the_buyer_gets_its_actions_as_they_stand_now() -> None:
    workflows = FakeWorkflows()
    resp = await _get(workflows, Caller("buyer-1", Role.BUYER))
    assert workflows.asked == [ActionCaller(Party.BUYER, "buyer-1")]
    assert resp.allowed_actions_known and resp.dispute.dispute_id == DISPUTE_ID
    assert [
        (a.action, a.HasField("allowed_until"), a.HasField("allowed_from")) for a in resp.allowed_actions
    ] == [
        (pb.DISPUTE_ACTION_MODIFY_DISPUTE, True, False),
        (pb.DISPUTE_ACTION_ESCALATE_DISPUTE, True, False),  # the wait is over: allowed now
        (pb.DISPUTE_ACTION_SEND_MESSAGE, False, False),
    ]
    assert resp.allowed_actions[0].allowed_until.ToDatetime(tzinfo=UTC) == datetime.fromisoformat(_at(11))


async def test_the_workflow_is_asked_about_the_tokens_role_and_id_together() -> None:
    workflows = FakeWorkflows()
    with pytest.raises(PermissionDenied):  # a seller token carrying the buyer's id is not the buyer
        await _get(workflows, Caller("buyer-1", Role.SELLER))
    await _get(workflows, Caller("support", Role.SERVICE))
    assert workflows.asked == [ActionCaller(Party.SELLER, "buyer-1"), ActionCaller(Party.SERVICE, "support")]


async def test_from_the_read_model_the_actions_are_unknown_not_none() -> None:
    resp = await _get(FakeWorkflows(down=True), Caller("buyer-1", Role.BUYER))
    assert resp.dispute.dispute_id == DISPUTE_ID
    assert not resp.allowed_actions_known and not resp.allowed_actions


def test_a_wait_still_running_keeps_its_allowed_from_and_an_ended_window_goes() -> None:
    early = NOW - timedelta(days=4)
    assert as_of(ANSWER, early) == ANSWER
    assert [a.action for a in as_of(ANSWER, NOW)] == ["MODIFY_DISPUTE", "ESCALATE_DISPUTE", "SEND_MESSAGE"]
    assert as_of(ANSWER, NOW)[1].allowed_from == ""
    assert as_of(ANSWER, NOW + timedelta(days=12)) == [ANSWER[-1]]


@workflow.defn(name=WORKFLOW_NAME, sandboxed=False)
class PreviousReleaseWorkflow:
    """A disputes worker of the previous release: it knows the `view` query only."""

    @workflow.run
    async def run(self, inp: DisputeInput) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.query
    def view(self) -> DisputeView:
        return _view()


async def test_the_client_asks_once_and_understands_a_worker_of_the_previous_release(
    disputes: Harness, time_env: WorkflowEnvironment
) -> None:
    client = DisputeClient(time_env.client)
    h = await disputes.open()
    view, actions = await client.view_for(dispute_id(h), ActionCaller(Party.SELLER, "seller-1"))
    assert view.dispute_id == dispute_id(h) and actions is not None
    assert [a.action for a in actions] == ["RESPOND_AS_SELLER", "SEND_MESSAGE"]

    queue, old_id = f"old-{uuid.uuid4()}", str(uuid.uuid4())
    async with Worker(time_env.client, task_queue=queue, workflows=[PreviousReleaseWorkflow]):
        old = await time_env.client.start_workflow(
            WORKFLOW_NAME, _input(old_id), id=workflow_id(old_id), task_queue=queue
        )
        try:
            view, actions = await client.view_for(old_id, ActionCaller(Party.SELLER, "seller-1"))
            assert view.dispute_id == DISPUTE_ID and actions is None  # the view alone: actions unknown
        finally:
            await old.terminate("test finished")
