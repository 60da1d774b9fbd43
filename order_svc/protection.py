"""OrderService's side of OrderProtectionWorkflow: start it, and send buyer/seller actions to it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from platform_common.errors import DomainError, FailedPrecondition, Unavailable
from workflows import search_attributes as sa
from workflows.order_protection import (
    ConfirmReceiptInput,
    ExtendInput,
    OrderProtectionWorkflow,
    ProtectionInput,
    ProtectionState,
    iso,
    parse_iso,
    workflow_id,
)
from workflows.task_queues import ORDERS

# How long an RPC waits for the workflow to apply an action before answering UNAVAILABLE.
_UPDATE_TIMEOUT = timedelta(seconds=30)


@dataclass(frozen=True)
class Started:
    expires_at: datetime
    created: bool


class ProtectionClock:
    def __init__(self, client: Client) -> None:
        self._client = client

    async def start(self, order_id: str, buyer_id: str, seller_id: str, expires_at: datetime) -> Started:
        """Start the clock, or find the one an earlier, interrupted attempt started.

        The workflow is started before the order row changes, so no database transaction is held
        open across a network call. Whichever attempt started it, the workflow's deadline is the
        one the order records.
        """
        try:
            await self._client.start_workflow(
                OrderProtectionWorkflow.run,
                ProtectionInput(order_id=order_id, expires_at=iso(expires_at)),
                id=workflow_id(order_id),
                task_queue=ORDERS,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(sa.ORDER_ID, order_id),
                        SearchAttributePair(sa.BUYER_ID, buyer_id),
                        SearchAttributePair(sa.SELLER_ID, seller_id),
                        SearchAttributePair(sa.PROTECTION_STATUS, "ACTIVE"),
                        SearchAttributePair(sa.NEXT_DEADLINE, expires_at),
                    ]
                ),
                rpc_timeout=timedelta(seconds=10),
            )
            return Started(expires_at, created=True)
        except WorkflowAlreadyStartedError:
            pass
        except RPCError as exc:
            raise _unavailable(exc) from exc
        try:
            state = await self._client.get_workflow_handle_for(
                OrderProtectionWorkflow.run, workflow_id(order_id)
            ).query(OrderProtectionWorkflow.state, rpc_timeout=timedelta(seconds=10))
        except RPCError as exc:
            raise _unavailable(exc) from exc
        if state.expires_at is None or state.completion_reason is not None:
            raise FailedPrecondition(f"order {order_id} already has a protection window that is not running")
        return Started(parse_iso(state.expires_at), created=False)

    async def abandon(self, order_id: str, reason: str) -> None:
        """Stop a clock whose order did not ship after all (best effort; it is harmless if left)."""
        with contextlib.suppress(RPCError):
            await self._client.get_workflow_handle(workflow_id(order_id)).terminate(reason=reason)

    async def confirm_receipt(self, order_id: str, buyer_id: str) -> ProtectionState:
        # A fixed update id makes a retried confirmation the same update, applied once.
        return await self._update(
            order_id, "confirm_receipt", ConfirmReceiptInput(buyer_id), "confirm-receipt"
        )

    async def extend(self, order_id: str, days: int, duration: timedelta) -> ProtectionState:
        micros = int(duration / timedelta(microseconds=1))
        return await self._update(order_id, "extend", ExtendInput(days=days, duration_us=micros), None)

    async def _update(self, order_id: str, name: str, arg: object, update_id: str | None) -> ProtectionState:
        handle = self._client.get_workflow_handle(workflow_id(order_id))
        try:
            state: ProtectionState = await handle.execute_update(
                name, arg, id=update_id, result_type=ProtectionState, rpc_timeout=_UPDATE_TIMEOUT
            )
            return state
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError):
                raise FailedPrecondition(cause.message) from exc
            raise FailedPrecondition(f"protection window refused {name}: {cause}") from exc
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise FailedPrecondition(f"order {order_id} has no running protection window") from exc
            if exc.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise Unavailable(
                    f"the protection window did not answer {name} in time; it may still apply it, "
                    "and retrying is safe"
                ) from exc
            raise _unavailable(exc) from exc


def _unavailable(exc: RPCError) -> DomainError:
    return Unavailable(
        f"workflow engine unavailable ({exc.status.name}: {exc.message}); nothing was changed, retry later"
    )
