"""RefundService: the exactly-once refund ledger in front of RefundWorkflow."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
from disputes.v1 import disputes_pb2_grpc
from orders.v1 import orders_pb2, orders_pb2_grpc
from refunds.v1 import refunds_pb2, refunds_pb2_grpc

from platform_common import access
from platform_common.arbiters import require_escalated_dispute, require_escalated_order
from platform_common.auth import REFUND_API, Caller, Role, current_caller
from platform_common.enums import parse
from platform_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Unavailable,
)
from platform_common.money import Money, validate_money
from platform_common.paging import decode_token, page_size
from platform_common.server import MethodRoles
from platform_common.validate import (
    fetch_order,
    not_in_future,
    require_timestamp,
    require_uuid,
    storable,
)
from refund_svc.client import RefundClient
from refund_svc.contract import RefundStatus
from refund_svc.escrow_sync import EscrowSync
from refund_svc.repository import NewRefund, OrderFacts, RefundRepository
from refund_svc.rules import expected_by
from refund_svc.store import RefundRow
from refund_svc.views import refund_to_proto

SERVICE_NAME = REFUND_API
METHOD_ROLES: MethodRoles = access.REFUNDS

_KEY = re.compile(r"^[A-Za-z0-9._:/@-]{1,200}$")
_DISPUTE_KEY = re.compile(r"^dispute/(?P<dispute>[0-9a-f-]{36})/round/[1-9][0-9]{0,3}$")
_STATUSES = set(RefundStatus)
DISPUTE = "DISPUTE"


def _now() -> datetime:
    return datetime.now(UTC)


def _text(value: str, field: str, max_len: int, required: bool = True) -> str:
    if required and not value.strip():
        raise InvalidArgument(f"{field} is required")
    if len(value) > max_len:
        raise InvalidArgument(f"{field} must be at most {max_len} characters (got {len(value)})")
    return storable(value, field).strip()


def _check_party(buyer_id: str, seller_id: str, caller: Caller, what: str) -> None:
    """Role and id together; `what` names only what the caller asked for, never another id."""
    if caller.role is Role.BUYER and not caller.is_(Role.BUYER, buyer_id):
        raise PermissionDenied(f"{what} belongs to another buyer")
    if caller.role is Role.SELLER and not caller.is_(Role.SELLER, seller_id):
        raise PermissionDenied(f"{what} belongs to another seller")


@dataclass(frozen=True)
class _Issue:
    key: str
    order_id: str
    dispute_id: str
    amount: Money
    reason: str
    kind: str
    fingerprint: str


def _parse_issue(request: refunds_pb2.IssueRefundRequest, caller: Caller) -> _Issue:
    """The request as the ledger records it, once the caller may issue refunds of its kind."""
    key = request.idempotency_key
    if not _KEY.match(key):
        raise InvalidArgument("idempotency_key must be 1..200 characters of letters, digits and ._:/@-")
    order_id = require_uuid(request.order_id, "order_id")
    dispute_id = require_uuid(request.dispute_id, "dispute_id") if request.dispute_id else ""
    kind = parse(refunds_pb2.RefundKind, request.kind, "kind", allow_unset=True)
    if not kind:
        if not dispute_id:
            raise InvalidArgument(f"kind is required (one of {', '.join(access.REFUND_ISSUERS)})")
        kind = DISPUTE  # the disputes worker's requests before kinds existed
    if caller.id not in access.REFUND_ISSUERS[kind]:
        raise PermissionDenied(f"{caller.describe()} may not issue {kind} refunds")
    if kind == DISPUTE:
        match = _DISPUTE_KEY.match(key)
        if not dispute_id or match is None or match["dispute"] != dispute_id:
            raise InvalidArgument(
                "a DISPUTE refund needs dispute_id and the key dispute/<dispute_id>/round/<n>"
            )
    elif dispute_id:
        raise InvalidArgument(f"a {kind} refund is not a dispute's: leave dispute_id empty")
    if not request.HasField("amount"):
        raise InvalidArgument("amount is required")
    amount = validate_money(request.amount.minor_units, request.amount.currency, "amount")
    reason = _text(request.reason, "reason", 500)
    # DISPUTE refunds keep the fingerprint they had before kinds existed: retried rounds match.
    parts = [order_id, dispute_id, str(amount.minor_units), amount.currency, reason]
    fingerprint = hashlib.sha256(
        "\x1f".join(parts if kind == DISPUTE else [*parts, kind]).encode()
    ).hexdigest()
    return _Issue(key, order_id, dispute_id, amount, reason, kind, fingerprint)


class RefundService(refunds_pb2_grpc.RefundServiceServicer):
    def __init__(
        self,
        repo: RefundRepository,
        workflows: RefundClient,
        orders: orders_pb2_grpc.OrderServiceStub,
        day: timedelta,
        disputes: disputes_pb2_grpc.DisputeServiceStub,
    ) -> None:
        self._repo = repo
        self._workflows = workflows
        self._orders = orders
        self._day = day
        self._disputes = disputes
        self.escrow = EscrowSync(repo, orders)

    async def IssueRefund(
        self, request: refunds_pb2.IssueRefundRequest, context: grpc.aio.ServicerContext
    ) -> refunds_pb2.IssueRefundResponse:
        caller = current_caller()
        issue = _parse_issue(request, caller)
        existing = await self._repo.by_key(issue.key)
        if existing is None:
            order = await fetch_order(self._orders, issue.order_id)
            if order.status == orders_pb2.ORDER_STATUS_CANCELLED:
                raise FailedPrecondition(
                    f"order {issue.order_id} is cancelled; its payment was already returned"
                )
            if order.total.currency != issue.amount.currency:
                raise InvalidArgument(
                    f"amount.currency {issue.amount.currency} differs from the order's currency {order.total.currency}"
                )
            facts = OrderFacts(
                order_id=issue.order_id,
                buyer_id=order.buyer_id,
                seller_id=order.seller_id,
                paid=Money(order.total.minor_units, order.total.currency),
                payment_reference=order.payment_method.reference,
            )
            now = _now()
            new = NewRefund(
                issue.key,
                issue.fingerprint,
                issue.order_id,
                issue.dispute_id,
                issue.amount,
                issue.reason,
                issue.kind,
                caller.id,
            )
            row, created = await self._repo.create(new, facts, now, expected_by(now, self._day))
        else:
            row, created = existing, False
        if not created and row.fingerprint != issue.fingerprint:
            raise AlreadyExists(  # the key is the caller's own: so is the refund it names
                f"idempotency_key {issue.key!r} was already used for refund {row.id} with different content"
            )
        if row.revision == 0:  # no workflow has reported yet: (re)start it; idempotent
            try:
                # The order's escrow holds the amount back from the seller before money moves.
                await self.escrow.sync(row)
                await self._workflows.start(row)
            except Unavailable as exc:
                # Kept, never discarded: the engine may have started it anyway. The recovery loop
                # starts it otherwise, and a retry with the same key returns this same refund.
                raise Unavailable(
                    f"refund {row.id} is recorded but its processing could not be started yet; "
                    "it will start automatically, and retrying with the same idempotency_key is safe"
                ) from exc
        return refunds_pb2.IssueRefundResponse(refund=await self._view(row.id))

    async def _view(self, refund_id: str) -> refunds_pb2.Refund:
        row, events = await self._repo.get(refund_id)
        return refund_to_proto(row, events)

    async def _owned(self, refund_id: str) -> RefundRow:
        row, _ = await self._repo.get(require_uuid(refund_id, "refund_id"))
        caller = current_caller()
        _check_party(row.buyer_id, row.seller_id, caller, "this refund")
        if caller.role is Role.ARBITER:
            if not row.dispute_id:
                raise PermissionDenied("arbiters see only refunds of disputes under arbitration")
            await require_escalated_dispute(self._disputes, row.dispute_id)
        return row

    async def GetRefund(
        self, request: refunds_pb2.GetRefundRequest, context: grpc.aio.ServicerContext
    ) -> refunds_pb2.GetRefundResponse:
        row = await self._owned(request.refund_id)
        return refunds_pb2.GetRefundResponse(refund=await self._view(row.id))

    async def ListRefunds(
        self, request: refunds_pb2.ListRefundsRequest, context: grpc.aio.ServicerContext
    ) -> refunds_pb2.ListRefundsResponse:
        if bool(request.order_id) == bool(request.dispute_id):
            raise InvalidArgument("exactly one of order_id or dispute_id is required")
        size = page_size(request.page.page_size)
        if request.page.page_token:
            decode_token(request.page.page_token)  # refused alike whether or not a page follows
        caller = current_caller()
        order_id = require_uuid(request.order_id, "order_id") if request.order_id else ""
        dispute_id = require_uuid(request.dispute_id, "dispute_id") if request.dispute_id else ""
        if caller.role is Role.ARBITER:
            if order_id:
                await require_escalated_order(self._disputes, order_id)
            else:
                await require_escalated_dispute(self._disputes, dispute_id)
        balance = await self._repo.balance(order_id) if order_id else None
        if order_id:
            if balance is None:
                return refunds_pb2.ListRefundsResponse()  # no refund was ever issued for it
            _check_party(balance.buyer_id, balance.seller_id, caller, "this order")
        rows, token = await self._repo.list_refunds(
            order_id=order_id, dispute_id=dispute_id, page_size=size, page_token=request.page.page_token
        )
        # A dispute's refunds share its order and parties: one check covers the page.
        for row, _ in rows[:1]:
            _check_party(row.buyer_id, row.seller_id, caller, "this dispute's refunds")
        response = refunds_pb2.ListRefundsResponse(
            refunds=[refund_to_proto(r, e) for r, e in rows], next_page_token=token
        )
        if order_id and balance is not None:
            response.refunded_total.minor_units = await self._repo.refunded_total(order_id)
            response.refunded_total.currency = balance.currency
        return response

    async def RetryRefund(
        self, request: refunds_pb2.RetryRefundRequest, context: grpc.aio.ServicerContext
    ) -> refunds_pb2.RetryRefundResponse:
        row = await self._owned(request.refund_id)
        note = _text(request.note, "note", 500)
        if row.status != RefundStatus.FAILED:
            raise FailedPrecondition(f"refund {row.id} is {row.status}; only FAILED refunds can be retried")
        await self._workflows.retry(row, current_caller().id, note)
        return refunds_pb2.RetryRefundResponse(refund=await self._view(row.id))

    async def RecordRefundStatus(
        self, request: refunds_pb2.RecordRefundStatusRequest, context: grpc.aio.ServicerContext
    ) -> refunds_pb2.RecordRefundStatusResponse:
        refund_id = require_uuid(request.refund_id, "refund_id")
        if request.revision <= 0:
            raise InvalidArgument("revision must be positive")
        status = parse(refunds_pb2.RefundStatus, request.status, "status")
        if status not in _STATUSES:
            raise InvalidArgument("status must be PENDING, PROCESSING, REFUNDED or FAILED")
        if not request.HasField("at"):
            raise InvalidArgument("at is required")
        at = require_timestamp(request.at, "at", not_after=not_in_future(_now()))
        if not 0 <= request.attempts <= 10_000:
            raise InvalidArgument("attempts must be 0..10000")
        values: dict[str, object] = {
            "status": status,
            "failure_reason": request.failure_reason[:500],
            "overdue": request.overdue,
            "attempts": request.attempts,
        }
        if request.provider_reference:
            values["provider_reference"] = request.provider_reference[:128]
        if status == RefundStatus.REFUNDED:
            values["refunded_at"] = at
        if request.settlement_mismatch:
            values["settlement_mismatch"] = True
        release = status == RefundStatus.FAILED and request.final
        await self._repo.record_status(refund_id, request.revision, values, at, request.detail[:500], release)
        row, _ = await self._repo.get(refund_id)
        # Settled or failed for good: the order's escrow follows. If OrderService is down this
        # answers UNAVAILABLE and the workflow's retry (or the recovery loop) reports it again.
        await self.escrow.sync(row)
        return refunds_pb2.RecordRefundStatusResponse(refund=await self._view(refund_id))
