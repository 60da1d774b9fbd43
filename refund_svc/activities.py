"""Refund activities: the payment provider through its adapter, the ledger through RefundService.

Every call is idempotent: the provider dedupes by `provider_key`, RecordRefundStatus by revision.
"""

from __future__ import annotations

from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from refunds.v1 import refunds_pb2, refunds_pb2_grpc
from temporalio import activity
from temporalio.exceptions import ApplicationError

from platform_common.enums import to_proto
from refund_svc.contract import (
    POLL_REFUND,
    PROVIDER_REJECTED,
    RECORD_REFUND_STATUS,
    SUBMIT_REFUND,
    ProviderState,
    RecordRefundStatusInput,
    SubmitRefundInput,
)
from refund_svc.provider.adapter import PaymentProvider, ProviderRefund, ProviderRejected, ProviderUnavailable


def _state(refund: ProviderRefund) -> ProviderState:
    return ProviderState(
        refund.reference,
        refund.status,
        refund.decline_reason,
        refund.settled_at,
        refund.amount_minor,
        refund.currency,
        refund.idempotency_key,
    )


class RefundActivities:
    def __init__(self, provider: PaymentProvider, ledger: refunds_pb2_grpc.RefundServiceStub) -> None:
        self._provider = provider
        self._ledger = ledger

    @activity.defn(name=SUBMIT_REFUND)
    async def submit_refund(self, inp: SubmitRefundInput) -> ProviderState:
        try:
            refund = await self._provider.create_refund(
                idempotency_key=inp.provider_key,
                payment_reference=inp.payment_reference,
                amount_minor=inp.amount_minor,
                currency=inp.currency,
            )
        except ProviderRejected as exc:
            raise ApplicationError(str(exc), type=PROVIDER_REJECTED, non_retryable=True) from exc
        except ProviderUnavailable as exc:
            raise ApplicationError(str(exc), type="ProviderUnavailable") from exc  # retried with backoff
        return _state(refund)

    @activity.defn(name=POLL_REFUND)
    async def poll_refund(self, reference: str) -> ProviderState:
        try:
            return _state(await self._provider.get_refund(reference))
        except ProviderRejected as exc:
            raise ApplicationError(str(exc), type=PROVIDER_REJECTED, non_retryable=True) from exc
        except ProviderUnavailable as exc:
            raise ApplicationError(str(exc), type="ProviderUnavailable") from exc

    @activity.defn(name=RECORD_REFUND_STATUS)
    async def record_refund_status(self, inp: RecordRefundStatusInput) -> None:
        at = Timestamp()
        at.FromDatetime(datetime.fromisoformat(inp.at))
        request = refunds_pb2.RecordRefundStatusRequest(
            refund_id=inp.refund_id,
            revision=inp.revision,
            status=to_proto(refunds_pb2.RefundStatus, inp.status),
            at=at,
            provider_reference=inp.provider_reference,
            failure_reason=inp.failure_reason,
            overdue=inp.overdue,
            attempts=inp.attempts,
            detail=inp.detail[:500],
            final=inp.final,
            settlement_mismatch=inp.settlement_mismatch,
        )
        try:
            await self._ledger.RecordRefundStatus(request, timeout=10)
        except grpc.aio.AioRpcError as exc:
            # Only a malformed request is hopeless; anything else is retried until the ledger takes
            # it, so a refund is never left untracked because of a transient refusal.
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise ApplicationError(
                    f"RefundService refused: {exc.code().name}: {exc.details()}",
                    type=exc.code().name,
                    non_retryable=True,
                ) from exc
            raise
