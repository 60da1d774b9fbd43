"""OrderProtectionWorkflow: the buyer-protection clock of one shipped order.

The deadline is an absolute time kept in workflow state, so it can be extended or frozen and is
always exact for display. Expiry or a buyer's confirmation completes the order (escrow released)
through an activity; the workflow never touches the order database itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from order_svc.contract import (
        COMPLETE_ORDER,
        RECORD_PROTECTION,
        CompleteOrderInput,
        CompleteOrderResult,
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
    )
    from platform_common import search_attributes as sa
    from platform_common import ui
    from platform_common.refusals import Refusal, refuse

WORKFLOW_NAME = "OrderProtectionWorkflow"
# Side effects (recording the clock, completing the order) run from the main loop; handlers only
# change state and wait for the loop to have done them. An execution takes this branch from its
# first action under the new code on (the marker is recorded then); what its history did before
# replays on the old branch, where handlers ran the effects themselves.
EFFECTS_FROM_MAIN_LOOP = "order-effects-from-main-loop"
BUYER_CONFIRMED = "BUYER_CONFIRMED"
PROTECTION_EXPIRED = "PROTECTION_EXPIRED"

_ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Order service outages are waited out (a completion must not be lost), with capped backoff.
_ACTIVITY_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))


# Older activity workers returned nothing from complete_order.
_COMPLETE_RESULT: Any = CompleteOrderResult | None


@workflow.defn(name=WORKFLOW_NAME)
class OrderProtectionWorkflow:
    @workflow.init
    def __init__(self, inp: ProtectionInput) -> None:
        self._order_id = inp.order_id
        self._expires_at: datetime | None = None if inp.frozen_by else parse_iso(inp.expires_at)
        self._frozen_by = list(inp.frozen_by)
        self._remaining = timedelta(microseconds=inp.remaining_us)
        self._extended_days = inp.extended_days
        self._revision = inp.revision
        self._completed_at: datetime | None = None
        self._completion_reason: str | None = None
        # When the clock last started running (a freeze never reaches back before it).
        self._running_since = parse_iso(inp.running_since) if inp.running_since else workflow.now()
        # Disputes whose unfreeze arrived while a completion was on its way to the order: their
        # holds, reported back by that completion, are over already.
        self._released_early: set[str] = set()
        # Side effects owed by the main loop (EFFECTS_FROM_MAIN_LOOP): changes made by handlers
        # and not yet recorded on the order, and buyer confirmations not yet carried out.
        self._changes = self._recorded_changes = 0
        self._confirms_asked = self._confirms_done = 0
        self._confirmed = False
        # A side effect that failed for good fails the actions that waited for it (as it did when
        # they ran it themselves), never the clock: (last change or confirmation it covered, error).
        self._record_failed: tuple[int, BaseException] | None = None
        self._confirm_failed: tuple[int, BaseException] | None = None

    @workflow.run
    async def run(self, inp: ProtectionInput) -> ProtectionState:
        # No publish at start: OrderService recorded this clock (and the search attributes) when
        # it started us; only changes are published.
        while self._completion_reason is None:
            await self._run_owed_effects()
            if self._done():
                break
            if workflow.info().is_continue_as_new_suggested():
                await self._drain()
                if self._done():
                    break  # a confirmation finished while draining: this run ends here
                workflow.continue_as_new(self._carry_over())
            workflow.set_current_details(self._current_details())
            if self._frozen_by:
                await workflow.wait_condition(lambda: not self._frozen_by or self._done() or self._owed())
                continue
            assert self._expires_at is not None
            seen = self._revision
            left = self._expires_at - workflow.now()
            if left > timedelta(0):
                try:
                    await workflow.wait_condition(
                        lambda seen=seen: self._revision != seen or self._done() or self._owed(),  # type: ignore[misc]
                        timeout=left,
                        timeout_summary="buyer protection window (the order completes when it ends)",
                    )
                    continue
                except TimeoutError:
                    pass
            expired = self._revision == seen and not self._owed()  # nothing moved the deadline
            if self._completion_reason is None and not self._frozen_by and expired:
                await self._complete(PROTECTION_EXPIRED)
        await self._drain()
        return self.state()

    def _done(self) -> bool:
        return self._completion_reason is not None

    # --- buyer / seller actions -------------------------------------------------------------

    @workflow.update
    async def confirm_receipt(self, inp: ConfirmReceiptInput) -> ProtectionState:
        if workflow.patched(EFFECTS_FROM_MAIN_LOOP):
            self._confirms_asked += 1
            asked = self._confirms_asked
            await workflow.wait_condition(lambda: self._confirms_done >= asked)
            if self._confirm_failed is not None and self._confirm_failed[0] >= asked:
                raise self._confirm_failed[1]
            completed = self._confirmed
        else:
            completed = await self._complete(BUYER_CONFIRMED)
        if not completed:
            raise refuse(
                f"a dispute holds order {self._order_id}; receipt can be confirmed once it ends",
                reason="DISPUTE_OPEN",
            )
        return self.state()

    @confirm_receipt.validator
    def _validate_confirm(self, inp: ConfirmReceiptInput) -> None:
        self._require_open()
        if self._frozen_by:  # refused here, so the refusal is not kept under the update's id
            raise refuse(
                f"a dispute holds order {self._order_id}; receipt can be confirmed once it ends",
                reason="DISPUTE_OPEN",
            )

    @workflow.update
    async def extend(self, inp: ExtendInput) -> ProtectionState:
        added = timedelta(microseconds=inp.duration_us)
        if self._expires_at is None:
            self._remaining += added
        else:
            self._expires_at += added
        self._extended_days += inp.days
        await self._record()
        return self.state()

    @extend.validator
    def _validate_extend(self, inp: ExtendInput) -> None:
        self._require_open()
        if inp.days <= 0 or inp.duration_us <= 0:
            raise refuse("extension must add a positive number of days", Refusal.INVALID_ARGUMENT)

    # --- dispute hooks: the clock stops while any dispute on the order is open ---------------

    @workflow.update
    async def freeze(self, inp: FreezeInput) -> ProtectionState:
        if inp.dispute_id in self._frozen_by:
            return self.state()  # retried freeze: nothing changes
        if self._expires_at is not None:
            since = max(parse_iso(inp.at), self._running_since) if inp.at else workflow.now()
            self._remaining = max(self._expires_at - min(since, workflow.now()), timedelta(0))
            self._expires_at = None
        self._frozen_by.append(inp.dispute_id)
        await self._record()
        return self.state()

    @freeze.validator
    def _validate_freeze(self, inp: FreezeInput) -> None:
        self._require_open()
        if not inp.dispute_id:
            raise refuse("dispute_id is required", Refusal.INVALID_ARGUMENT)

    @workflow.update
    async def unfreeze(self, inp: FreezeInput) -> ProtectionState:
        if inp.dispute_id not in self._frozen_by:
            if self._completion_reason is not None:
                self._released_early.add(inp.dispute_id)
            return self.state()  # retried or unknown unfreeze: nothing changes
        self._frozen_by.remove(inp.dispute_id)
        if not self._frozen_by:
            self._expires_at = workflow.now() + self._remaining
            self._remaining = timedelta(0)
            self._running_since = workflow.now()
        await self._record()
        return self.state()

    @unfreeze.validator
    def _validate_unfreeze(self, inp: FreezeInput) -> None:
        if not inp.dispute_id:
            raise refuse("dispute_id is required", Refusal.INVALID_ARGUMENT)

    @workflow.query
    def state(self) -> ProtectionState:
        return ProtectionState(
            order_id=self._order_id,
            expires_at=iso(self._expires_at) if self._expires_at else None,
            frozen=bool(self._frozen_by),
            frozen_by=list(self._frozen_by),
            remaining_us=_us(self._remaining),
            extended_days=self._extended_days,
            revision=self._revision,
            completed_at=iso(self._completed_at) if self._completed_at else None,
            completion_reason=self._completion_reason,
        )

    # --- internals ----------------------------------------------------------------------------

    def _require_open(self) -> None:
        if self._completion_reason is not None:
            raise refuse(
                f"order {self._order_id} is already completed ({self._completion_reason})",
                reason="ORDER_COMPLETED",
            )

    async def _record(self) -> None:
        """A handler's change, recorded on the order before the handler answers (so the caller
        reads its own change from OrderService at once). New executions leave the recording to
        the main loop and wait for it; older ones record from the handler."""
        if not workflow.patched(EFFECTS_FROM_MAIN_LOOP):
            await self._publish()
            return
        self._changes += 1
        change = self._changes
        await workflow.wait_condition(lambda: self._recorded_changes >= change)
        if self._record_failed is not None and self._record_failed[0] >= change:
            raise self._record_failed[1]

    def _current_details(self) -> str:
        """What the Temporal UI shows as the order's state now (no command: replays unchanged)."""
        if self._frozen_by:
            clock = f"frozen by {len(self._frozen_by)} dispute(s), {ui.span(self._remaining)} left"
        elif self._expires_at is not None:
            ends = self._expires_at
            clock = f"ends {ui.in_words(ends - workflow.now())} ({ends.isoformat(timespec='seconds')})"
        else:
            clock = ""
        return ui.details(
            [
                ("Protection", clock),
                ("Extended by", ui.days(self._extended_days) if self._extended_days else ""),
                ("Frozen by", ", ".join(self._frozen_by)),
                ("Completed", self._completion_reason or ""),
            ]
        )

    def _owed(self) -> bool:
        return self._recorded_changes < self._changes or self._confirms_done < self._confirms_asked

    async def _run_owed_effects(self) -> None:
        """The side effects handlers asked for, from the main loop: first every change made so far
        is recorded (so nothing is recorded after the order completes), then a confirmation is
        carried out. One recording covers all the changes made meanwhile."""
        while self._recorded_changes < self._changes:
            changes = self._changes
            try:
                if self._completion_reason is None:  # a completed clock is recorded as completed
                    await self._publish()
            except ActivityError as err:
                self._record_failed = (changes, err)
            self._recorded_changes = changes
        if self._confirms_done < self._confirms_asked:
            asked = self._confirms_asked
            try:
                # A dispute froze the clock after the confirmation was accepted: the order is held.
                self._confirmed = not self._frozen_by and await self._complete(BUYER_CONFIRMED)
            except ActivityError as err:
                self._confirm_failed = (asked, err)
            self._confirms_done = asked

    async def _drain(self) -> None:
        """Wait until every handler has finished, doing the side effects they wait for meanwhile
        (they wait for this loop: waiting for them alone would never end)."""
        while True:
            await workflow.wait_condition(lambda: workflow.all_handlers_finished() or self._owed())
            if not self._owed():
                return
            await self._run_owed_effects()

    async def _complete(self, reason: str) -> bool:
        """Complete the order; False if disputes hold it (the clock is frozen by them instead)."""
        if self._completion_reason is not None:
            return True  # expiry and a confirmation met in one task: the first one decided
        self._completion_reason = reason
        self._completed_at = workflow.now()
        self._revision += 1
        workflow.upsert_search_attributes(
            [sa.PROTECTION_STATUS.value_set("COMPLETED"), sa.NEXT_DEADLINE.value_unset()]
        )
        while True:
            result = await workflow.execute_activity(
                COMPLETE_ORDER,
                CompleteOrderInput(self._order_id, reason, iso(self._completed_at)),
                start_to_close_timeout=_ACTIVITY_TIMEOUT,
                retry_policy=_ACTIVITY_RETRY,
                result_type=_COMPLETE_RESULT,
            )
            if not (result is not None and result.held_by and workflow.patched("honour-dispute-holds")):
                return True
            # Disputes held the order before this clock heard of them (their worker may be
            # down): freeze from the moment the first hold began instead of completing. A hold
            # whose unfreeze came while this completion was on its way is over already.
            holds = [h for h in result.held_by if h.dispute_id not in self._released_early]
            self._released_early.clear()
            if not holds:
                self._completed_at = workflow.now()  # every hold it met has ended: complete now
                continue
            self._completion_reason = self._completed_at = None
            if self._expires_at is not None:
                since = max(min(parse_iso(h.held_at) for h in holds), self._running_since)
                self._remaining = max(self._expires_at - since, timedelta(0))
                self._expires_at = None
            self._frozen_by += [h.dispute_id for h in holds if h.dispute_id not in self._frozen_by]
            await self._publish()
            return False

    async def _publish(self) -> None:
        """Record the clock on the order (read model) and in search attributes."""
        self._revision += 1
        status = "FROZEN" if self._frozen_by else "ACTIVE"
        deadline = (
            sa.NEXT_DEADLINE.value_set(self._expires_at)
            if self._expires_at
            else sa.NEXT_DEADLINE.value_unset()
        )
        workflow.upsert_search_attributes([sa.PROTECTION_STATUS.value_set(status), deadline])
        await workflow.execute_activity(
            RECORD_PROTECTION,
            RecordProtectionInput(
                order_id=self._order_id,
                revision=self._revision,
                expires_at=iso(self._expires_at) if self._expires_at else None,
                frozen=bool(self._frozen_by),
                remaining_us=_us(self._remaining),
                extended_days=self._extended_days,
            ),
            start_to_close_timeout=_ACTIVITY_TIMEOUT,
            retry_policy=_ACTIVITY_RETRY,
        )

    def _carry_over(self) -> ProtectionInput:
        return ProtectionInput(
            order_id=self._order_id,
            expires_at=iso(self._expires_at or workflow.now()),
            frozen_by=list(self._frozen_by),
            remaining_us=_us(self._remaining),
            extended_days=self._extended_days,
            revision=self._revision,
            running_since=iso(self._running_since),
        )


def _us(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
