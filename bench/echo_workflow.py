"""The smallest workflow with an update: the baseline for `execute_update` rates."""

from __future__ import annotations

from temporalio import workflow


@workflow.defn(name="BenchEcho")
class EchoWorkflow:
    def __init__(self) -> None:
        self._count = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self._count < 0)  # never: terminated by the bench
        return self._count

    @workflow.update
    def bump(self, value: int) -> int:
        self._count += 1
        return value


@workflow.defn(name="BenchOpened")
class OpenedWorkflow:
    """The baseline for OpenDispute's update-with-start: a workflow whose first update answers
    and whose run then ends (no timers, no activities)."""

    def __init__(self) -> None:
        self._opened = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._opened)

    @workflow.update
    def opened(self, value: int) -> int:
        self._opened = True
        return value
