"""DisputeService's side of DisputeWorkflow: start it with its first update, send actions as
updates, read it with a query, and turn the workflow's refusals into API errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
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

from dispute_svc.contract import TASK_QUEUE
from dispute_svc.model import ActionCaller, AllowedAction, DisputeInput, DisputeView, workflow_id
from dispute_svc.workflow import DisputeWorkflow
from dispute_svc.workflow_webhooks import WebhookDeliveryWorkflow, WebhookInput
from dispute_svc.workflow_webhooks import workflow_id as webhook_workflow_id
from platform_common import search_attributes as sa
from platform_common import ui
from platform_common.errors import DomainError, NotFound, Unavailable, engine_unavailable
from platform_common.money import Money
from platform_common.temporal_errors import translate

_TIMEOUT = timedelta(seconds=30)
# The whole update-with-start, retries included (the SDK re-sends it until the update is
# accepted): a bounded call, so an opening's lease outlives it.
OPEN_BUDGET_S = 60.0
# Update-with-start refused before admission for a passing reason: tried again after these waits.
_NOT_ADMITTED = frozenset({RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.ABORTED})
_ADMIT_RETRIES = (0.2, 0.5, 1.0)
log = logging.getLogger(__name__)


class StartNotSent(Unavailable):
    """Temporal could not be reached: the start never arrived, so it cannot commit later."""


def _static_details(inp: DisputeInput) -> str:
    """What never changes about the dispute, as the Temporal UI shows it."""
    claim = inp.solution
    return ui.details(
        [
            ("Order", inp.order_id),
            ("Paid", str(Money(inp.paid_minor, inp.currency))),
            ("Reason", f"{inp.reason} (goods {'received' if inp.goods_received else 'not received'})"),
            (
                "Claim",
                f"{claim.type} {Money(claim.amount_minor, inp.currency)}"
                + (", return" if claim.return_goods else ""),
            ),
            ("Buyer", inp.buyer_id),
            ("Seller", inp.seller_id),
            ("Opened", inp.opened_at),
            ("Policy", inp.policy_version),
        ]
    )


class DisputeClient:
    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def temporal(self) -> Client:
        return self._client

    async def open(self, inp: DisputeInput, request_id: str, review: bool = False) -> DisputeView:
        """Start the dispute and read it back in one round trip. The update id is the request id:
        a retried OpenDispute is the same update on the same workflow and gets the same answer.
        `review`: the buyer reached the policy's review threshold (search attribute BuyerReview)."""

        def start() -> WithStartWorkflowOperation[DisputeWorkflow, DisputeView]:
            # One per attempt: an operation is used once.
            return WithStartWorkflowOperation(
                DisputeWorkflow.run,
                inp,
                id=workflow_id(inp.dispute_id),
                task_queue=TASK_QUEUE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(sa.DISPUTE_ID, inp.dispute_id),
                        SearchAttributePair(sa.ORDER_ID, inp.order_id),
                        SearchAttributePair(sa.BUYER_ID, inp.buyer_id),
                        SearchAttributePair(sa.SELLER_ID, inp.seller_id),
                        SearchAttributePair(sa.DISPUTE_STATUS, "AWAITING_SELLER_RESPONSE"),
                        SearchAttributePair(sa.SLA_BREACHED, False),
                        *([SearchAttributePair(sa.BUYER_REVIEW, sa.FLAGGED)] if review else []),
                    ]
                ),
                static_summary=f"Dispute on order {inp.order_id} ({inp.reason})",
                static_details=_static_details(inp),
            )

        try:
            async with asyncio.timeout(OPEN_BUDGET_S):
                return await self._open(start, inp, request_id)
        except WorkflowAlreadyStartedError:
            # The dispute exists and has already closed: the retry reads it.
            return await self.view(inp.dispute_id)
        except TimeoutError:
            raise Unavailable(
                "the dispute did not answer in time; it may still open: retry with the same request_id"
            ) from None
        except Exception as exc:
            if (isinstance(exc, RPCError) and exc.status == RPCStatusCode.UNAVAILABLE) or isinstance(
                exc, RuntimeError
            ):
                raise StartNotSent(engine_unavailable(exc).message) from exc
            raise self._translate(exc, inp.dispute_id) from exc

    async def _open(
        self,
        start: Callable[[], WithStartWorkflowOperation[DisputeWorkflow, DisputeView]],
        inp: DisputeInput,
        request_id: str,
    ) -> DisputeView:
        """Update-with-start, tried again when Temporal did not admit it for a reason that
        passes (seen once in many runs on a fresh dev server: FAILED_PRECONDITION): the same
        update id on the same workflow id, so a retry never opens twice."""
        for attempt in range(len(_ADMIT_RETRIES) + 1):
            try:
                return await self._client.execute_update_with_start_workflow(
                    DisputeWorkflow.opened,
                    inp.buyer_id,
                    start_workflow_operation=start(),
                    id=f"open-{request_id}",
                    rpc_timeout=_TIMEOUT,
                )
            except RPCError as exc:
                # "Workflow Task in failed state" lasts until the worker is fixed: no use waiting.
                lasting = "failed state" in exc.message
                if exc.status not in _NOT_ADMITTED or lasting or attempt == len(_ADMIT_RETRIES):
                    raise
                log.warning(
                    "dispute %s: opening not admitted (%s: %s); trying again",
                    inp.dispute_id,
                    exc.status.name,
                    exc.message,
                )
                await asyncio.sleep(_ADMIT_RETRIES[attempt])
        raise AssertionError("unreachable")

    def _handle(self, dispute_id: str) -> WorkflowHandle[DisputeWorkflow, DisputeView]:
        # Typed here: mypy cannot always infer it from the workflow's many bases without a cache.
        return self._client.get_workflow_handle_for(DisputeWorkflow.run, workflow_id(dispute_id))

    async def act(self, dispute_id: str, update: Any, arg: object) -> DisputeView:
        handle = self._handle(dispute_id)
        try:
            view: DisputeView = await handle.execute_update(update, arg, rpc_timeout=_TIMEOUT)
            return view
        except Exception as exc:
            raise self._translate(exc, dispute_id) from exc

    async def view(self, dispute_id: str, timeout_s: float = 10.0) -> DisputeView:
        """The dispute as its workflow sees it. `timeout_s` bounds the wait: a query waits for a
        worker, so with the disputes worker down it times out (UNAVAILABLE) rather than hangs."""
        handle = self._handle(dispute_id)
        try:
            # The SDK retries a query that timed out; the caller's patience bounds them all.
            async with asyncio.timeout(timeout_s):
                return await handle.query(DisputeWorkflow.view, rpc_timeout=timedelta(seconds=timeout_s))
        except TimeoutError:
            raise Unavailable(f"dispute {dispute_id} did not answer within {timeout_s:g} s") from None
        except Exception as exc:
            raise self._translate(exc, dispute_id) from exc

    async def view_for(
        self, dispute_id: str, caller: ActionCaller, timeout_s: float = 10.0
    ) -> tuple[DisputeView, list[AllowedAction] | None]:
        """The dispute and the actions `caller` may take on it, in one query (GetDispute).
        A worker of the previous release does not know that query (services are deployed
        first): then the view alone, with None for the actions (unknown). `timeout_s` bounds
        both, as in `view`."""
        handle = self._handle(dispute_id)
        rpc_timeout = timedelta(seconds=timeout_s)
        try:
            async with asyncio.timeout(timeout_s):
                try:
                    got = await handle.query(DisputeWorkflow.view_for, caller, rpc_timeout=rpc_timeout)
                    return got.view, got.actions
                except WorkflowQueryFailedError:
                    return await handle.query(DisputeWorkflow.view, rpc_timeout=rpc_timeout), None
        except TimeoutError:
            raise Unavailable(f"dispute {dispute_id} did not answer within {timeout_s:g} s") from None
        except Exception as exc:
            raise self._translate(exc, dispute_id) from exc

    async def started(self, dispute_id: str) -> bool:
        """Whether the dispute's workflow exists at all (an unclear start is settled by asking)."""
        try:
            await self._client.get_workflow_handle(workflow_id(dispute_id)).describe(
                rpc_timeout=timedelta(seconds=10)
            )
            return True
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise translate(exc, f"dispute {dispute_id}") from exc
        except RuntimeError as exc:  # the lazy client's first connect failed
            raise translate(exc, f"dispute {dispute_id}") from exc

    @staticmethod
    def _translate(exc: Exception, dispute_id: str) -> DomainError:
        # A closed workflow takes no updates: NOT_FOUND means no such dispute, or a closed one.
        return translate(
            exc, f"dispute {dispute_id}", NotFound(f"dispute {dispute_id} not found or already closed")
        )


class WebhookClient:
    """DisputeService's handle on the webhook delivery workflows (one per subscription)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def start(self, subscription_id: str, day_seconds: float, *, wake: bool = True) -> None:
        """Start the subscription's deliveries (a running one is kept) and, with `wake`, wake it:
        a replay or a re-enable is delivered now, not after a pending backoff."""
        try:
            handle = await self._client.start_workflow(
                WebhookDeliveryWorkflow.run,
                WebhookInput(subscription_id, day_seconds),
                id=webhook_workflow_id(subscription_id),
                task_queue=TASK_QUEUE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                static_summary=f"Webhook deliveries of subscription {subscription_id}",
                rpc_timeout=_TIMEOUT,
            )
            if wake:
                await handle.signal(WebhookDeliveryWorkflow.wake, rpc_timeout=_TIMEOUT)
        except Exception as exc:
            raise translate(exc, f"webhook subscription {subscription_id}") from exc

    async def stop(self, subscription_id: str) -> None:
        """End the deliveries of a deleted subscription now (best effort: without this, the
        workflow ends at its next call, which finds the subscription gone)."""
        handle = self._client.get_workflow_handle(webhook_workflow_id(subscription_id))
        with contextlib.suppress(RPCError, RuntimeError):
            await handle.terminate("subscription deleted", rpc_timeout=_TIMEOUT)
