"""OrderService's side of OrderProtectionWorkflow: start it, and send buyer/seller actions to it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from order_svc.contract import TASK_QUEUE
from order_svc.model import (
    ConfirmReceiptInput,
    ExtendInput,
    FreezeInput,
    ProtectionInput,
    ProtectionState,
    iso,
    workflow_id,
)
from order_svc.workflow import OrderProtectionWorkflow
from platform_common import search_attributes as sa
from platform_common import ui
from platform_common.errors import FailedPrecondition, Unavailable, engine_unavailable
from platform_common.temporal_errors import translate

# How long an RPC waits for the workflow to apply an action before answering UNAVAILABLE.
_UPDATE_TIMEOUT = timedelta(seconds=30)


class ClockNotRunning(FailedPrecondition):
    """The order's protection clock has ended (the order completed) or does not exist."""


@dataclass(frozen=True)
class Started:
    # The clock as it is now: as started by this call, or as an earlier attempt left it.
    state: ProtectionState
    created: bool


class ProtectionClient:
    def __init__(self, client: Client) -> None:
        self._client = client

    async def start(
        self,
        order_id: str,
        buyer_id: str,
        seller_id: str,
        expires_at: datetime,
        window: timedelta,
        frozen_by: list[str],
    ) -> Started:
        """Start the clock, or find the one an earlier, interrupted attempt started.

        `window` runs until `expires_at`; with `frozen_by` (disputes opened before shipment) the
        clock starts frozen by them with the whole window left, and runs once they all release it.

        The workflow is started before the order row changes, so no database transaction is held
        open across a network call. Whichever attempt started it, the workflow's clock is the
        one the order records.
        """
        frozen = bool(frozen_by)
        remaining_us = _us(window) if frozen else 0
        attrs = TypedSearchAttributes(
            [
                SearchAttributePair(sa.ORDER_ID, order_id),
                SearchAttributePair(sa.BUYER_ID, buyer_id),
                SearchAttributePair(sa.SELLER_ID, seller_id),
                SearchAttributePair(sa.PROTECTION_STATUS, "FROZEN" if frozen else "ACTIVE"),
                *([] if frozen else [SearchAttributePair(sa.NEXT_DEADLINE, expires_at)]),
            ]
        )
        reuse = WorkflowIDReusePolicy.REJECT_DUPLICATE
        for _ in range(2):
            try:
                await self._client.start_workflow(
                    OrderProtectionWorkflow.run,
                    # A frozen start ignores expires_at: the deadline is set when the last freeze
                    # is released, to that moment plus remaining_us.
                    ProtectionInput(
                        order_id=order_id,
                        expires_at=iso(expires_at),
                        frozen_by=list(frozen_by),
                        remaining_us=remaining_us,
                    ),
                    id=workflow_id(order_id),
                    task_queue=TASK_QUEUE,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    id_reuse_policy=reuse,
                    search_attributes=attrs,
                    static_summary=f"Buyer protection of order {order_id}",
                    static_details=ui.details(
                        [
                            ("Order", order_id),
                            ("Buyer", buyer_id),
                            ("Seller", seller_id),
                            ("Window", ui.span(window)),
                            ("Starts", "frozen by " + ", ".join(frozen_by) if frozen else "at shipment"),
                        ]
                    ),
                    rpc_timeout=timedelta(seconds=10),
                )
                state = ProtectionState(
                    order_id=order_id,
                    expires_at=None if frozen else iso(expires_at),
                    frozen=frozen,
                    frozen_by=list(frozen_by),
                    remaining_us=remaining_us,
                    extended_days=0,
                    revision=0,
                )
                return Started(state, created=True)
            except WorkflowAlreadyStartedError:
                pass
            except (RPCError, RuntimeError) as exc:
                raise engine_unavailable(exc) from exc
            handle = self._client.get_workflow_handle_for(OrderProtectionWorkflow.run, workflow_id(order_id))
            try:
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    state = await handle.query(
                        OrderProtectionWorkflow.state, rpc_timeout=timedelta(seconds=10)
                    )
                    if state.completion_reason is None:
                        return Started(state, created=False)
                    raise FailedPrecondition(f"order {order_id} has a protection window that is not running")
            except (RPCError, RuntimeError, WorkflowQueryFailedError) as exc:
                raise engine_unavailable(exc) from exc
            # A clock from an attempt whose order never shipped has ended: replace it.
            reuse = WorkflowIDReusePolicy.ALLOW_DUPLICATE
        raise FailedPrecondition(f"order {order_id}: could not start its protection window")

    async def hold_exactly(
        self, order_id: str, state: ProtectionState, frozen_by: list[str]
    ) -> ProtectionState:
        """Make the disputes holding a not-yet-recorded clock exactly `frozen_by`.

        Needed only when an earlier, interrupted shipment started the clock and disputes froze or
        released the still-PAID order since. Uses the hooks' own update ids, so a hook retried
        later is the same update. Returns the clock as it is afterwards.
        """
        for dispute_id in state.frozen_by:
            if dispute_id not in frozen_by:
                await self.unfreeze(order_id, dispute_id)
        for dispute_id in frozen_by:
            if dispute_id not in state.frozen_by:
                await self.freeze(order_id, dispute_id)
        # A deduplicated update answers with its first result: ask for the clock as it is now.
        handle = self._client.get_workflow_handle_for(OrderProtectionWorkflow.run, workflow_id(order_id))
        try:
            current: ProtectionState = await handle.query(
                OrderProtectionWorkflow.state, rpc_timeout=timedelta(seconds=10)
            )
        except (RPCError, RuntimeError, WorkflowQueryFailedError) as exc:
            raise engine_unavailable(exc) from exc
        if sorted(current.frozen_by) != sorted(frozen_by):
            raise Unavailable(f"order {order_id}: the protection window is still catching up; retry")
        return current

    async def abandon(self, order_id: str, reason: str) -> None:
        """Stop a clock whose order did not ship after all (best effort; it is harmless if left)."""
        with contextlib.suppress(RPCError):
            await self._client.get_workflow_handle(workflow_id(order_id)).terminate(reason=reason)

    async def confirm_receipt(self, order_id: str, buyer_id: str, generation: int) -> ProtectionState:
        # One update id per hold generation: a retried confirmation is the same update, applied
        # once, and one refused because a dispute held the order is not replayed after it ends.
        return await self._update(
            order_id, "confirm_receipt", ConfirmReceiptInput(buyer_id), f"confirm-receipt-{generation}"
        )

    async def extend(self, order_id: str, days: int, duration: timedelta, request_id: str) -> ProtectionState:
        micros = int(duration / timedelta(microseconds=1))
        # Temporal dedupes updates by id within a run: a retried request extends once.
        update_id = f"extend-{request_id}" if request_id else None
        return await self._update(order_id, "extend", ExtendInput(days=days, duration_us=micros), update_id)

    async def freeze(self, order_id: str, dispute_id: str, since: datetime | None = None) -> ProtectionState:
        # Per-dispute update ids: a retried freeze is the same update (the workflow also ignores
        # a dispute that already holds a freeze, e.g. across continue-as-new). `since`: when the
        # dispute's hold began, so the clock counts as paused from then.
        inp = FreezeInput(dispute_id, iso(since) if since else "")
        return await self._update(order_id, "freeze", inp, f"freeze-{dispute_id}")

    async def unfreeze(self, order_id: str, dispute_id: str, update_id: str = "") -> ProtectionState:
        """`update_id`: the dispute's own unfreeze is "unfreeze-<dispute>"; an abandoned opening
        uses its own id, so that a later dispute with the same id can still unfreeze once."""
        return await self._update(
            order_id, "unfreeze", FreezeInput(dispute_id), update_id or f"unfreeze-{dispute_id}"
        )

    async def frozen_by(self, order_id: str) -> list[str]:
        """The disputes the running clock is frozen by ([] if it has ended or never started)."""
        handle = self._client.get_workflow_handle_for(OrderProtectionWorkflow.run, workflow_id(order_id))
        try:
            state: ProtectionState = await handle.query(
                OrderProtectionWorkflow.state, rpc_timeout=timedelta(seconds=10)
            )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return []
            raise engine_unavailable(exc) from exc
        except (RuntimeError, WorkflowQueryFailedError) as exc:
            raise engine_unavailable(exc) from exc
        return [] if state.completion_reason else list(state.frozen_by)

    async def _update(self, order_id: str, name: str, arg: object, update_id: str | None) -> ProtectionState:
        handle = self._client.get_workflow_handle(workflow_id(order_id))
        try:
            state: ProtectionState = await handle.execute_update(
                name, arg, id=update_id, result_type=ProtectionState, rpc_timeout=_UPDATE_TIMEOUT
            )
            return state
        except Exception as exc:
            error = translate(
                exc,
                f"the protection window of order {order_id}",
                ClockNotRunning(f"order {order_id} has no running protection window"),
            )
            if error.reason == "ORDER_COMPLETED":
                raise ClockNotRunning(error.message) from exc
            raise error from exc


def _us(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)
