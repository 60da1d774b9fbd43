"""RefundService's side of RefundWorkflow: start it, relay provider webhooks, operator retries."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from platform_common import search_attributes as sa
from platform_common import ui
from platform_common.errors import FailedPrecondition, engine_unavailable
from platform_common.money import Money
from platform_common.temporal_errors import translate
from refund_svc.contract import TASK_QUEUE, ProviderState, RefundStatus
from refund_svc.model import RefundInput, RefundView, RetryInput, workflow_id
from refund_svc.rules import policy
from refund_svc.store import RefundRow
from refund_svc.workflow import RefundWorkflow


class RefundClient:
    def __init__(self, client: Client, day: timedelta) -> None:
        self._client = client
        self._day = day

    async def start(self, row: RefundRow) -> None:
        """Idempotent: attaches to the refund's workflow if it already runs or ran."""
        try:
            await self._client.start_workflow(
                RefundWorkflow.run,
                RefundInput(
                    refund_id=row.id,
                    idempotency_key=row.idempotency_key,
                    payment_reference=row.payment_reference,
                    amount_minor=row.amount_minor,
                    currency=row.currency,
                    created_at=row.created_at.isoformat(),
                    expected_by=row.expected_by.isoformat(),
                    policy=policy(self._day),
                ),
                id=workflow_id(row.idempotency_key),
                task_queue=TASK_QUEUE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(sa.ORDER_ID, row.order_id),
                        SearchAttributePair(sa.BUYER_ID, row.buyer_id),
                        SearchAttributePair(sa.SELLER_ID, row.seller_id),
                        SearchAttributePair(sa.DISPUTE_ID, row.dispute_id),
                        SearchAttributePair(sa.REFUND_STATUS, RefundStatus.PENDING),
                        SearchAttributePair(sa.REFUND_OVERDUE, False),
                        SearchAttributePair(sa.NEXT_DEADLINE, row.expected_by),
                    ]
                ),
                static_summary=f"Refund of {Money(row.amount_minor, row.currency)} on order {row.order_id}",
                static_details=ui.details(
                    [
                        ("Order", row.order_id),
                        ("Dispute", row.dispute_id),
                        ("Buyer", row.buyer_id),
                        ("Amount", str(Money(row.amount_minor, row.currency))),
                        ("Expected by", row.expected_by.isoformat(timespec="seconds")),
                        ("Idempotency key", row.idempotency_key),
                    ]
                ),
                rpc_timeout=timedelta(seconds=10),
            )
        except WorkflowAlreadyStartedError:
            pass  # it ran to completion already
        except RPCError as exc:
            raise engine_unavailable(exc) from exc

    async def retry(self, row: RefundRow, operator: str, note: str) -> RefundView:
        handle = self._client.get_workflow_handle_for(RefundWorkflow.run, workflow_id(row.idempotency_key))
        try:
            view: RefundView = await handle.execute_update(
                RefundWorkflow.retry, RetryInput(operator, note), rpc_timeout=timedelta(seconds=30)
            )
            return view
        except Exception as exc:
            closed = FailedPrecondition(f"refund {row.id} is closed; it can no longer be retried")
            raise translate(exc, f"refund {row.id}", closed) from exc

    async def settlement(self, provider_key: str, state: ProviderState) -> None:
        """Relay a provider webhook. The provider key is '<ledger key>:<attempt>'."""
        ledger_key = provider_key.rpartition(":")[0]
        if not ledger_key:
            return  # not one of ours: acknowledge, so the provider stops resending it
        handle = self._client.get_workflow_handle_for(RefundWorkflow.run, workflow_id(ledger_key))
        try:
            await handle.signal(RefundWorkflow.settlement, state, rpc_timeout=timedelta(seconds=10))
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            # The refund's workflow has finished (polling saw the outcome first): nothing to do.
