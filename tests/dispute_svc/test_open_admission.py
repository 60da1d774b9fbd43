"""An opening Temporal does not admit for a passing reason is tried again, with a fresh
operation and the same ids; one it refuses for good is not."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from dispute_svc import client as client_module
from dispute_svc.client import DisputeClient
from dispute_svc.model import DisputeInput, Solution, SolutionType
from platform_common.errors import Unavailable


def _input() -> DisputeInput:
    claim = Solution(SolutionType.FULL_REFUND, 10_000, False)
    return DisputeInput(
        str(uuid.uuid4()), str(uuid.uuid4()), "buyer-1", "seller-1", 10_000, "EUR", "2026-11-standard",
        "NOT_DELIVERED", False, claim, "never came",
    )  # fmt: skip


class Refusing:
    """Stands in for the Temporal client: refuses `times` times, then answers."""

    def __init__(self, status: RPCStatusCode, times: int, message: str = "not now") -> None:
        self.status, self.times, self.message = status, times, message
        self.calls: list[tuple[str, Any]] = []

    async def execute_update_with_start_workflow(self, update: Any, arg: Any, **kw: Any) -> str:
        self.calls.append((kw["id"], kw["start_workflow_operation"]))
        if len(self.calls) <= self.times:
            raise RPCError(self.message, self.status, b"")
        return "opened"


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "_ADMIT_RETRIES", (0.0, 0.0, 0.0))


async def test_a_passing_refusal_is_tried_again_with_a_fresh_operation() -> None:
    fake = Refusing(RPCStatusCode.FAILED_PRECONDITION, 2)
    got = await DisputeClient(fake).open(_input(), "req-1")  # type: ignore[arg-type]
    assert got == "opened"  # type: ignore[comparison-overlap]
    assert [i for i, _ in fake.calls] == ["open-req-1"] * 3
    operations = [op for _, op in fake.calls]
    assert len({id(op) for op in operations}) == 3  # an operation is used once
    assert len({op._start_workflow_input.id for op in operations}) == 1


async def test_it_gives_up_after_the_last_retry_and_never_retries_other_refusals() -> None:
    fake = Refusing(RPCStatusCode.FAILED_PRECONDITION, 99)
    with pytest.raises(Unavailable):
        await DisputeClient(fake).open(_input(), "req-2")  # type: ignore[arg-type]
    assert len(fake.calls) == 4
    other = Refusing(RPCStatusCode.INVALID_ARGUMENT, 99)
    with pytest.raises(Unavailable):
        await DisputeClient(other).open(_input(), "req-3")  # type: ignore[arg-type]
    assert len(other.calls) == 1
    stuck = Refusing(RPCStatusCode.FAILED_PRECONDITION, 99, "Workflow Task in failed state.")
    with pytest.raises(Unavailable):
        await DisputeClient(stuck).open(_input(), "req-4")  # type: ignore[arg-type]
    assert len(stuck.calls) == 1  # lasts until the worker is fixed: not waited for
