"""Dispute activities: every side effect of DisputeWorkflow, each a call to the owning service.

All are idempotent: freeze/unfreeze are keyed by dispute id, legal hold is a state, refunds are
keyed by "dispute/<id>/round/<n>", and the read model ignores stale revisions.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import grpc
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2, disputes_pb2_grpc
from evidence.v1 import evidence_pb2, evidence_pb2_grpc
from orders.v1 import orders_pb2, orders_pb2_grpc
from refunds.v1 import refunds_pb2, refunds_pb2_grpc
from temporalio import activity
from temporalio.exceptions import ApplicationError

from dispute_svc import contract as api
from dispute_svc.model import DisputeView
from dispute_svc.views import render
from platform_common.enums import name_of
from platform_common.timestamps import to_timestamp

log = logging.getLogger("activities.disputes")
# EvidenceService answers that no retry changes (DisputeService dry-ran the same request first,
# so these mean a race between two actions, not a bad request).
_EVIDENCE_FINAL = (
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
)
_HOPELESS = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
)


def _fail(service: str, exc: grpc.aio.AioRpcError) -> ApplicationError:
    """A refusal no retry can fix fails the activity for good; anything else is retried."""
    return ApplicationError(
        f"{service} refused: {exc.code().name}: {exc.details()}",
        type=exc.code().name,
        non_retryable=exc.code() in _HOPELESS,
    )


class DisputeActivities:
    def __init__(
        self,
        orders: orders_pb2_grpc.OrderServiceStub,
        evidence: evidence_pb2_grpc.EvidenceServiceStub,
        refunds: refunds_pb2_grpc.RefundServiceStub,
        disputes: disputes_pb2_grpc.DisputeServiceStub,
    ) -> None:
        self._orders, self._evidence, self._refunds, self._disputes = orders, evidence, refunds, disputes

    @activity.defn(name=api.FREEZE_ORDER)
    async def freeze_order(self, h: api.OrderHold) -> None:
        await self._hold(h, freeze=True)

    @activity.defn(name=api.UNFREEZE_ORDER)
    async def unfreeze_order(self, h: api.OrderHold) -> None:
        await self._hold(h, freeze=False)

    async def _hold(self, h: api.OrderHold, *, freeze: bool) -> None:
        try:
            if freeze:
                await self._orders.FreezeProtection(
                    orders_pb2.FreezeProtectionRequest(order_id=h.order_id, dispute_id=h.dispute_id),
                    timeout=30,
                )
            else:
                await self._orders.UnfreezeProtection(
                    orders_pb2.UnfreezeProtectionRequest(order_id=h.order_id, dispute_id=h.dispute_id),
                    timeout=30,
                )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                # A cancelled order has no clock to freeze or release: nothing to do.
                log.info(
                    "order %s: %s skipped (%s)", h.order_id, "freeze" if freeze else "unfreeze", exc.details()
                )
                return
            raise _fail("OrderService", exc) from exc

    @activity.defn(name=api.SET_LEGAL_HOLD)
    async def set_legal_hold(self, h: api.LegalHold) -> None:
        try:
            await self._evidence.SetLegalHold(
                evidence_pb2.SetLegalHoldRequest(dispute_id=h.dispute_id, legal_hold=h.hold), timeout=60
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return  # no evidence was ever registered for the dispute: nothing to seal
            raise _fail("EvidenceService", exc) from exc

    @activity.defn(name=api.ATTACH_EVIDENCE)
    async def attach_evidence(self, b: api.EvidenceBinding) -> None:
        request = evidence_pb2.AttachEvidenceRequest(
            dispute_id=b.dispute_id, order_id=b.order_id, evidence_ids=b.evidence_ids, at_opening=b.at_opening
        )
        try:
            await self._evidence.AttachEvidence(request, timeout=30)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _EVIDENCE_FINAL:
                raise ApplicationError(
                    exc.details() or exc.code().name, type=api.EVIDENCE_REFUSED, non_retryable=True
                ) from exc
            raise _fail("EvidenceService", exc) from exc

    @activity.defn(name=api.ISSUE_REFUND)
    async def issue_refund(self, r: api.RefundOrder) -> api.RefundResult:
        request = refunds_pb2.IssueRefundRequest(
            idempotency_key=r.idempotency_key,
            order_id=r.order_id,
            dispute_id=r.dispute_id,
            amount=common_pb2.Money(minor_units=r.amount_minor, currency=r.currency),
            reason=r.reason[:500],
            kind=refunds_pb2.REFUND_KIND_DISPUTE,
        )
        try:
            resp = await self._refunds.IssueRefund(request, timeout=30)
        except grpc.aio.AioRpcError as exc:
            # Turned down for good (e.g. it would exceed the amount paid). ALREADY_EXISTS is not a
            # refusal: the key is ours, so it is retried like any other error and looked into.
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                raise ApplicationError(
                    exc.details() or "refused", type=api.REFUND_REFUSED, non_retryable=True
                ) from exc
            raise _fail("RefundService", exc) from exc
        status = name_of(refunds_pb2.RefundStatus, resp.refund.status)
        return api.RefundResult(resp.refund.refund_id, status)

    @activity.defn(name=api.REFUND_STATUSES)
    async def refund_statuses(self, refund_ids: list[str]) -> list[str]:
        out = []
        for refund_id in refund_ids:
            try:
                resp = await self._refunds.GetRefund(
                    refunds_pb2.GetRefundRequest(refund_id=refund_id), timeout=10
                )
            except grpc.aio.AioRpcError as exc:
                raise _fail("RefundService", exc) from exc
            out.append(name_of(refunds_pb2.RefundStatus, resp.refund.status))
        return out

    @activity.defn(name=api.RECORD_DISPUTE_STATE)
    async def record_dispute_state(self, view: DisputeView) -> None:
        request = disputes_pb2.RecordDisputeStateRequest(dispute=render(view), revision=view.state.revision)
        try:
            await self._disputes.RecordDisputeState(request, timeout=10)
        except grpc.aio.AioRpcError as exc:
            raise _fail("DisputeService", exc) from exc


class WebhookActivities:
    """The webhook delivery workflow's side effects: both are DisputeService's (it owns the
    subscriptions, the outbox and the HTTP), called as the disputes worker."""

    def __init__(self, disputes: disputes_pb2_grpc.DisputeServiceStub) -> None:
        self._disputes = disputes

    @activity.defn(name=api.DELIVER_WEBHOOKS)
    async def deliver_webhooks(self, p: api.WebhookPull) -> api.WebhookOutcome:
        call = asyncio.ensure_future(
            self._disputes.DeliverWebhookEvents(
                disputes_pb2.DeliverWebhookEventsRequest(
                    subscription_id=p.subscription_id, wait_seconds=p.wait_seconds
                ),
                timeout=p.wait_seconds + 60,
            )
        )
        try:
            # Heartbeats while the call runs: a worker that dies is noticed in seconds, not at
            # the activity's timeout, and the delivery goes on from another worker.
            while not call.done():
                activity.heartbeat()
                await asyncio.wait({call}, timeout=api.WEBHOOK_HEARTBEAT_S)
            resp = call.result()
        except grpc.aio.AioRpcError as exc:
            raise _fail("DisputeService", exc) from exc
        finally:
            call.cancel()
        since = (
            resp.failing_since.ToDatetime(tzinfo=UTC).isoformat() if resp.HasField("failing_since") else ""
        )
        outcome = name_of(disputes_pb2.DeliveryOutcome, resp.outcome)
        return api.WebhookOutcome(outcome, resp.delivered, resp.error, since)

    @activity.defn(name=api.DISABLE_WEBHOOK)
    async def disable_webhook(self, d: api.WebhookDisable) -> bool:
        since = to_timestamp(datetime.fromisoformat(d.failing_since)) if d.failing_since else None
        try:
            resp = await self._disputes.DisableWebhookSubscription(
                disputes_pb2.DisableWebhookSubscriptionRequest(
                    subscription_id=d.subscription_id, reason=d.reason, failing_since=since
                ),
                timeout=30,
            )
        except grpc.aio.AioRpcError as exc:
            raise _fail("DisputeService", exc) from exc
        return bool(resp.disabled)
