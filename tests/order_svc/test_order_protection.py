"""OrderProtectionWorkflow on the time-skipping server: 60-day windows run in milliseconds.

Activities are in-process fakes that record calls: these tests are about the workflow's clock
logic; the real OrderService is exercised by the integration suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from order_svc.contract import (
    COMPLETE_ORDER,
    RECORD_PROTECTION,
    CompleteOrderInput,
    CompleteOrderResult,
    HoldInfo,
    RecordProtectionInput,
)
from order_svc.model import (
    ConfirmReceiptInput,
    ExtendInput,
    FreezeInput,
    ProtectionInput,
    ProtectionState,
    iso,
    parse_iso,
    workflow_id,
)
from order_svc.workflow import OrderProtectionWorkflow
from platform_common import search_attributes as sa

DAY = timedelta(days=1)
DAY_US = DAY // timedelta(microseconds=1)
SECOND = timedelta(seconds=1)


@dataclass
class FakeOrders:
    completions: list[CompleteOrderInput] = field(default_factory=list)
    records: list[RecordProtectionInput] = field(default_factory=list)
    # Disputes holding the order (OrderService refuses to complete it while any does).
    holds: list[HoldInfo] = field(default_factory=list)
    refused: list[CompleteOrderInput] = field(default_factory=list)
    # Runs while a completion is on its way (e.g. the dispute ends meanwhile).
    during_completion: Callable[[], Awaitable[None]] | None = None

    @activity.defn(name=COMPLETE_ORDER)
    async def complete_order(self, inp: CompleteOrderInput) -> CompleteOrderResult | None:
        if self.holds:
            self.refused.append(inp)
            held = CompleteOrderResult(list(self.holds))
            if self.during_completion is not None:
                step, self.during_completion = self.during_completion, None
                await step()
            return held
        self.completions.append(inp)
        return None

    # Recordings OrderService refuses for good (a non-retryable error), then it accepts again.
    refuse_records: int = 0

    @activity.defn(name=RECORD_PROTECTION)
    async def record_protection(self, inp: RecordProtectionInput) -> None:
        if self.refuse_records:
            self.refuse_records -= 1
            raise ApplicationError(
                "OrderService refused: PERMISSION_DENIED", type="PERMISSION_DENIED", non_retryable=True
            )
        self.records.append(inp)


@dataclass
class Running:
    env: WorkflowEnvironment
    orders: FakeOrders
    handle: WorkflowHandle[OrderProtectionWorkflow, ProtectionState]
    expires_at: datetime

    async def state(self) -> ProtectionState:
        return await self.handle.query(OrderProtectionWorkflow.state)


@pytest.fixture
async def running(time_env: WorkflowEnvironment) -> AsyncIterator[Running]:
    orders = FakeOrders()
    queue = f"orders-{uuid.uuid4()}"
    async with Worker(
        time_env.client,
        task_queue=queue,
        workflows=[OrderProtectionWorkflow],
        activities=[orders.complete_order, orders.record_protection],
    ):
        now = await time_env.get_current_time()
        expires = now + 60 * DAY
        order_id = str(uuid.uuid4())
        handle = await time_env.client.start_workflow(
            OrderProtectionWorkflow.run,
            ProtectionInput(order_id=order_id, expires_at=iso(expires)),
            id=workflow_id(order_id),
            task_queue=queue,
        )
        yield Running(time_env, orders, handle, expires)
        with contextlib.suppress(RPCError):  # already closed
            await handle.terminate("test finished")  # would hold the shared test server's clock


async def test_expiry_after_60_days_completes_order_and_releases_escrow(running: Running) -> None:
    await running.env.sleep(59 * DAY)
    assert running.orders.completions == []
    assert (await running.state()).completion_reason is None

    result = await running.handle.result()  # the server skips the remaining day
    assert result.completion_reason == "PROTECTION_EXPIRED"
    [done] = running.orders.completions
    assert done.reason == "PROTECTION_EXPIRED"
    assert abs(parse_iso(done.completed_at) - running.expires_at) < SECOND


async def test_confirm_receipt_completes_at_once(running: Running) -> None:
    await running.env.sleep(3 * DAY)
    state = await running.handle.execute_update(
        OrderProtectionWorkflow.confirm_receipt, ConfirmReceiptInput("b1")
    )
    assert state.completion_reason == "BUYER_CONFIRMED"
    [done] = running.orders.completions
    assert done.reason == "BUYER_CONFIRMED"
    assert abs(parse_iso(done.completed_at) - (running.expires_at - 57 * DAY)) < SECOND
    assert (await running.handle.result()).completion_reason == "BUYER_CONFIRMED"


async def test_extend_moves_expiry(running: Running) -> None:
    await running.env.sleep(10 * DAY)
    state = await running.handle.execute_update(
        OrderProtectionWorkflow.extend,
        ExtendInput(days=15, duration_us=int(15 * DAY / timedelta(microseconds=1))),
    )
    assert state.expires_at == iso(running.expires_at + 15 * DAY)
    assert state.extended_days == 15
    assert running.orders.records[-1].expires_at == iso(running.expires_at + 15 * DAY)

    await running.env.sleep(55 * DAY)  # day 65: the original window has passed
    assert running.orders.completions == []
    result = await running.handle.result()
    assert result.completion_reason == "PROTECTION_EXPIRED"
    assert (
        abs(parse_iso(running.orders.completions[0].completed_at) - (running.expires_at + 15 * DAY)) < SECOND
    )


async def test_freeze_ten_days_moves_expiry_by_exactly_ten_days(running: Running) -> None:
    await running.env.sleep(55 * DAY)
    frozen = await running.handle.execute_update(OrderProtectionWorkflow.freeze, FreezeInput("d1"))
    assert frozen.frozen and frozen.expires_at is None
    assert abs(timedelta(microseconds=frozen.remaining_us) - 5 * DAY) < SECOND

    await running.env.sleep(10 * DAY)  # past the original expiry while frozen
    assert running.orders.completions == []

    thawed = await running.handle.execute_update(OrderProtectionWorkflow.unfreeze, FreezeInput("d1"))
    assert not thawed.frozen
    assert thawed.expires_at is not None
    # The remaining time is kept to the microsecond; only the clock reading between the two
    # updates (the 10 days slept) moves the deadline.
    assert abs(parse_iso(thawed.expires_at) - (running.expires_at + 10 * DAY)) < SECOND
    assert thawed.remaining_us == 0

    result = await running.handle.result()
    assert result.completion_reason == "PROTECTION_EXPIRED"
    assert abs(parse_iso(running.orders.completions[0].completed_at) - parse_iso(thawed.expires_at)) < SECOND


async def test_two_disputes_keep_the_clock_frozen_until_both_end(running: Running) -> None:
    await running.handle.execute_update(OrderProtectionWorkflow.freeze, FreezeInput("d1"))
    await running.handle.execute_update(OrderProtectionWorkflow.freeze, FreezeInput("d1"))  # retried
    await running.handle.execute_update(OrderProtectionWorkflow.freeze, FreezeInput("d2"))
    await running.handle.execute_update(OrderProtectionWorkflow.unfreeze, FreezeInput("d1"))
    state = await running.state()
    assert state.frozen and state.frozen_by == ["d2"]
    await running.env.sleep(100 * DAY)
    assert running.orders.completions == []
    await running.handle.execute_update(OrderProtectionWorkflow.unfreeze, FreezeInput("d2"))
    assert not (await running.state()).frozen


async def test_actions_on_a_completed_order_are_refused(running: Running) -> None:
    await running.handle.execute_update(OrderProtectionWorkflow.confirm_receipt, ConfirmReceiptInput("b1"))
    await running.handle.result()
    for update, arg in [
        (OrderProtectionWorkflow.confirm_receipt, ConfirmReceiptInput("b1")),
        (OrderProtectionWorkflow.extend, ExtendInput(days=1, duration_us=1)),
        (OrderProtectionWorkflow.freeze, FreezeInput("d1")),
    ]:
        # The run has closed: the server refuses the update (OrderService maps this to
        # FAILED_PRECONDITION); while it is closing, the validator does.
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):
            await running.handle.execute_update(update, arg)  # type: ignore[call-overload]
    assert len(running.orders.completions) == 1


async def test_extend_validator_refuses_non_positive_days(running: Running) -> None:
    with pytest.raises(WorkflowUpdateFailedError):
        await running.handle.execute_update(
            OrderProtectionWorkflow.extend, ExtendInput(days=0, duration_us=0)
        )
    history = await running.handle.fetch_history()
    assert not any(e.HasField("workflow_execution_update_accepted_event_attributes") for e in history.events)


# --- dispute holds: recorded by OpenDispute before the clock hears of them ---------------------


async def test_a_hold_refuses_the_completion_and_freezes_the_clock_from_when_it_began(
    running: Running,
) -> None:
    """The disputes worker is down: the dispute's freeze never arrives, but OpenDispute held the
    order 6 hours before the window ended. The clock must not complete; it freezes with exactly
    those 6 hours left, and runs them once the dispute ends."""
    held_at = running.expires_at - timedelta(hours=6)
    running.orders.holds = [HoldInfo("d1", iso(held_at))]
    await running.env.sleep(61 * DAY)
    assert running.orders.completions == [] and len(running.orders.refused) == 1
    state = await running.state()
    assert state.frozen and state.frozen_by == ["d1"] and state.completion_reason is None
    assert abs(timedelta(microseconds=state.remaining_us) - timedelta(hours=6)) < SECOND
    assert running.orders.records[-1].frozen  # the order shows the paused clock

    await running.env.sleep(30 * DAY)  # frozen: nothing happens however long the dispute lasts
    assert running.orders.completions == []
    running.orders.holds = []
    thawed = await running.handle.execute_update(OrderProtectionWorkflow.unfreeze, FreezeInput("d1"))
    assert thawed.expires_at is not None
    result = await running.handle.result()
    assert result.completion_reason == "PROTECTION_EXPIRED"
    [done] = running.orders.completions
    assert abs(parse_iso(done.completed_at) - (parse_iso(thawed.expires_at))) < SECOND


async def test_confirm_receipt_under_a_hold_is_refused_and_freezes(running: Running) -> None:
    await running.env.sleep(10 * DAY)
    now = await running.env.get_current_time()
    running.orders.holds = [HoldInfo("d1", iso(now - DAY))]
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await running.handle.execute_update(
            OrderProtectionWorkflow.confirm_receipt, ConfirmReceiptInput("b1")
        )
    assert "dispute holds" in str(refused.value.cause)
    state = await running.state()
    assert state.frozen and state.completion_reason is None
    assert abs(timedelta(microseconds=state.remaining_us) - 51 * DAY) < SECOND  # paused since the hold


async def test_a_late_freeze_counts_from_when_the_hold_began(running: Running) -> None:
    await running.env.sleep(20 * DAY)
    now = await running.env.get_current_time()
    # The hold began 3 days ago; the freeze only reaches the clock now.
    frozen = await running.handle.execute_update(
        OrderProtectionWorkflow.freeze, FreezeInput("d1", iso(now - 3 * DAY))
    )
    assert abs(timedelta(microseconds=frozen.remaining_us) - 43 * DAY) < SECOND
    # A hold from before the clock last resumed cannot reach back past that moment.
    await running.handle.execute_update(OrderProtectionWorkflow.unfreeze, FreezeInput("d1"))
    again = await running.handle.execute_update(
        OrderProtectionWorkflow.freeze, FreezeInput("d2", iso(now - 30 * DAY))
    )
    assert abs(timedelta(microseconds=again.remaining_us) - 43 * DAY) < SECOND


async def test_a_dispute_that_ends_while_the_refused_completion_comes_back_is_not_waited_for(
    running: Running,
) -> None:
    """The hold is released (and its unfreeze sent) while CompleteOrder's refusal is still on its
    way back: the clock must not freeze for a hold that is already over; it completes."""
    now = await running.env.get_current_time()
    running.orders.holds = [HoldInfo("d1", iso(now))]

    async def dispute_ends() -> None:
        running.orders.holds = []
        await running.handle.execute_update(OrderProtectionWorkflow.unfreeze, FreezeInput("d1"))

    running.orders.during_completion = dispute_ends
    result = await running.handle.result()
    assert result.completion_reason == "PROTECTION_EXPIRED" and not result.frozen_by
    assert len(running.orders.refused) == 1 and len(running.orders.completions) == 1


async def test_confirm_receipt_is_refused_by_the_validator_while_frozen(running: Running) -> None:
    await running.handle.execute_update(OrderProtectionWorkflow.freeze, FreezeInput("d1"))
    with pytest.raises(WorkflowUpdateFailedError):
        await running.handle.execute_update(
            OrderProtectionWorkflow.confirm_receipt, ConfirmReceiptInput("b1")
        )
    history = await running.handle.fetch_history()
    accepted = [
        e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert len(accepted) == 1  # only the freeze: the refused confirmation left nothing behind
    await running.handle.execute_update(OrderProtectionWorkflow.unfreeze, FreezeInput("d1"))
    done = await running.handle.execute_update(
        OrderProtectionWorkflow.confirm_receipt, ConfirmReceiptInput("b1")
    )
    assert done.completion_reason == "BUYER_CONFIRMED"


async def test_handlers_answer_once_the_main_loop_recorded_their_change(running: Running) -> None:
    """Side effects run from the main loop (EFFECTS_FROM_MAIN_LOOP): concurrent actions each
    answer only after the clock, with their change in it, is recorded on the order, and changes
    that arrive together are recorded together rather than once each."""
    freezes = [
        running.handle.execute_update(OrderProtectionWorkflow.freeze, FreezeInput(f"d-{i}")) for i in range(4)
    ]
    answers = await asyncio.gather(*freezes)
    final = await running.state()
    assert sorted(final.frozen_by) == [f"d-{i}" for i in range(4)]
    records = running.orders.records
    assert records and records[-1].revision == final.revision and records[-1].frozen
    for answer in answers:
        assert any(r.revision >= answer.revision for r in records)  # recorded before it answered
    assert len(records) <= 4
    history = await running.handle.fetch_history()
    markers = [e for e in history.events if e.marker_recorded_event_attributes.marker_name == "core_patch"]
    assert markers, "new executions take the patched branch"


async def test_a_confirmation_meets_a_freeze_that_came_first_in_the_loop(running: Running) -> None:
    """Accepted while the clock ran, a confirmation is carried out by the main loop; if a dispute
    froze the clock in between, the order is held: the confirmation is refused, nothing completes."""
    confirm = asyncio.ensure_future(
        running.handle.execute_update(OrderProtectionWorkflow.confirm_receipt, ConfirmReceiptInput("b1"))
    )
    freeze = asyncio.ensure_future(
        running.handle.execute_update(OrderProtectionWorkflow.freeze, FreezeInput("d-1"))
    )
    results = await asyncio.gather(confirm, freeze, return_exceptions=True)
    state = await running.state()
    if state.completion_reason is None:  # the freeze was first: the confirmation was refused
        assert isinstance(results[0], WorkflowUpdateFailedError)
        assert state.frozen_by == ["d-1"] and running.orders.completions == []
    else:  # the confirmation was first: the freeze came too late (validator) and nothing is held
        assert state.completion_reason == "BUYER_CONFIRMED" and isinstance(
            results[1], WorkflowUpdateFailedError
        )
        assert [c.reason for c in running.orders.completions] == ["BUYER_CONFIRMED"]


async def test_a_recording_refused_for_good_fails_that_action_and_never_the_clock(running: Running) -> None:
    """A side effect run by the main loop that fails for good fails the action that waited for it
    (as when the handler ran it itself); the clock keeps running and later actions are recorded."""
    running.orders.refuse_records = 1
    with pytest.raises(WorkflowUpdateFailedError):
        await running.handle.execute_update(OrderProtectionWorkflow.extend, ExtendInput(5, 5 * DAY_US))
    state = await running.handle.execute_update(OrderProtectionWorkflow.extend, ExtendInput(1, DAY_US))
    assert state.extended_days == 6 and running.orders.records[-1].extended_days == 6
    result = await running.handle.result()  # still alive: the window ends and the order completes
    assert result.completion_reason == "PROTECTION_EXPIRED"


async def test_nothing_is_recorded_after_the_confirmation_completed_the_order(running: Running) -> None:
    """Changes accepted together with a confirmation are recorded before it is carried out; the
    completed clock is never recorded as running again."""
    first = running.handle.execute_update(OrderProtectionWorkflow.extend, ExtendInput(1, DAY_US))
    confirm = running.handle.execute_update(
        OrderProtectionWorkflow.confirm_receipt, ConfirmReceiptInput("b1")
    )
    second = running.handle.execute_update(OrderProtectionWorkflow.extend, ExtendInput(2, 2 * DAY_US))
    results = await asyncio.gather(first, confirm, second, return_exceptions=True)
    assert not isinstance(results[1], BaseException) and results[1].completion_reason == "BUYER_CONFIRMED"
    [done] = running.orders.completions
    assert all(r.revision < results[1].revision for r in running.orders.records)  # none after it
    history = await running.handle.fetch_history()
    upserts = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for e in history.events
        if e.HasField("upsert_workflow_search_attributes_event_attributes")
    ]
    statuses = [u[sa.PROTECTION_STATUS.name].data for u in upserts if sa.PROTECTION_STATUS.name in u]
    assert statuses[-1] == b'"COMPLETED"' and done.reason == "BUYER_CONFIRMED"
