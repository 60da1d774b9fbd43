"""RefundService: the exactly-once refund ledger in front of RefundWorkflow."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import grpc
from orders.v1 import orders_pb2, orders_pb2_grpc
from refunds.v1 import refunds_pb2, refunds_pb2_grpc

from platform_common.auth import Caller, Role, current_caller, require_internal
from platform_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Unavailable,
)
from platform_common.money import Money, validate_money
from platform_common.paging import page_size
from platform_common.server import MethodRoles, roles
from platform_common.validate import fetch_order, require_uuid
from refund_svc.repository import NewRefund, OrderFacts, RefundRepository
from refund_svc.runner import RefundRunner, expected_by
from refund_svc.store import RefundRow
from refund_svc.views import refund_to_proto

SERVICE_NAME = "refunds.v1.RefundService"
# The token subject of the refunds worker (workflows/worker.py), the only caller of internal RPCs.
REFUNDS_WORKER = "worker-refunds"

B, S, A, SVC = Role.BUYER, Role.SELLER, Role.ARBITER, Role.SERVICE
METHOD_ROLES: MethodRoles = {
    "IssueRefund": roles(SVC),
    "GetRefund": roles(B, S, A, SVC),
    "ListRefunds": roles(B, S, A, SVC),
    "RetryRefund": roles(SVC),
    "RecordRefundStatus": roles(SVC),
}

_KEY = re.compile(r"^[A-Za-z0-9._:/@-]{1,200}$")
_STATUSES = {"PENDING", "PROCESSING", "REFUNDED", "FAILED"}


def _now() -> datetime:
    return datetime.now(UTC)


def _text(value: str, field: str, max_len: int, required: bool = True) -> str:
    if required and not value.strip():
        raise InvalidArgument(f"{field} is required")
    if len(value) > max_len:
        raise InvalidArgument(f"{field} must be at most {max_len} characters (got {len(value)})")
    return value.strip()


def _check_party(buyer_id: str, seller_id: str, caller: Caller, what: str) -> None:
    if caller.role is Role.BUYER and caller.id != buyer_id:
        raise PermissionDenied(f"{what} belongs to another buyer")
    if caller.role is Role.SELLER and caller.id != seller_id:
        raise PermissionDenied(f"{what} belongs to another seller")


class RefundService(refunds_pb2_grpc.RefundServiceServicer):
    def __init__(
        self,
        repo: RefundRepository,
        runner: RefundRunner,
        orders: orders_pb2_grpc.OrderServiceStub,
        day: timedelta,
    ) -> None:
        self._repo = repo
        self._runner = runner
        self._orders = orders
        self._day = day

    async def IssueRefund(
        self, request: refunds_pb2.IssueRefundRequest, context: grpc.aio.ServicerContext
    ) -> refunds_pb2.IssueRefundResponse:
        key = request.idempotency_key
        if not _KEY.match(key):
            raise InvalidArgument("idempotency_key must be 1..200 characters of letters, digits and ._:/@-")
        order_id = require_uuid(request.order_id, "order_id")
        dispute_id = _text(request.dispute_id, "dispute_id", 128, required=False)
        if not request.HasField("amount"):
            raise InvalidArgument("amount is required")
        amount = validate_money(request.amount.minor_units, request.amount.currency, "amount")
        reason = _text(request.reason, "reason", 500)
        fingerprint = hashlib.sha256(
            "\x1f".join([order_id, dispute_id, str(amount.minor_units), amount.currency, reason]).encode()
        ).hexdigest()

        existing = await self._repo.by_key(key)
        if existing is None:
            order = await fetch_order(self._orders, order_id)
            if order.status == orders_pb2.ORDER_STATUS_CANCELLED:
                raise FailedPrecondition(f"order {order_id} is cancelled; its payment was already returned")
            if order.total.currency != amount.currency:
                raise InvalidArgument(
                    f"amount.currency {amount.currency} differs from the order's currency {order.total.currency}"
                )
            facts = OrderFacts(
                order_id=order_id,
                buyer_id=order.buyer_id,
                seller_id=order.seller_id,
                paid=Money(order.total.minor_units, order.total.currency),
                payment_reference=order.payment_method.reference,
            )
            now = _now()
            new = NewRefund(key, fingerprint, order_id, dispute_id, amount, reason)
            row, created = await self._repo.create(new, facts, now, expected_by(now, self._day))
        else:
            row, created = existing, False
        if not created and row.fingerprint != fingerprint:
            raise AlreadyExists(
                f"idempotency_key {key!r} was already used for refund {row.id} with different content"
            )
        if row.revision == 0:  # no workflow has reported yet: (re)start it; idempotent
            try:
                await self._runner.start(row)
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
        _check_party(row.buyer_id, row.seller_id, current_caller(), f"refund {row.id}")
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
        caller = current_caller()
        order_id = require_uuid(request.order_id, "order_id") if request.order_id else ""
        if order_id:
            balance = await self._repo.balance(order_id)
            if balance is None:
                return refunds_pb2.ListRefundsResponse()  # no refund was ever issued for it
            _check_party(balance.buyer_id, balance.seller_id, caller, f"order {order_id}")
        rows, token = await self._repo.list_refunds(
            order_id=order_id,
            dispute_id=request.dispute_id,
            page_size=size,
            page_token=request.page.page_token,
        )
        for row, _ in rows:
            _check_party(row.buyer_id, row.seller_id, caller, f"refund {row.id}")
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
        if row.status != "FAILED":
            raise FailedPrecondition(f"refund {row.id} is {row.status}; only FAILED refunds can be retried")
        await self._runner.retry(row, current_caller().id, note)
        return refunds_pb2.RetryRefundResponse(refund=await self._view(row.id))

    async def RecordRefundStatus(
        self, request: refunds_pb2.RecordRefundStatusRequest, context: grpc.aio.ServicerContext
    ) -> refunds_pb2.RecordRefundStatusResponse:
        require_internal(REFUNDS_WORKER)
        refund_id = require_uuid(request.refund_id, "refund_id")
        if request.revision <= 0:
            raise InvalidArgument("revision must be positive")
        status = refunds_pb2.RefundStatus.Name(request.status).removeprefix("REFUND_STATUS_")
        if status not in _STATUSES:
            raise InvalidArgument("status must be PENDING, PROCESSING, REFUNDED or FAILED")
        if not request.HasField("at"):
            raise InvalidArgument("at is required")
        at = request.at.ToDatetime(tzinfo=UTC)
        values: dict[str, object] = {
            "status": status,
            "failure_reason": request.failure_reason,
            "overdue": request.overdue,
            "attempts": request.attempts,
        }
        if request.provider_reference:
            values["provider_reference"] = request.provider_reference
        if status == "REFUNDED":
            values["refunded_at"] = at
        release = status == "FAILED" and request.final
        await self._repo.record_status(refund_id, request.revision, values, at, request.detail[:500], release)
        return refunds_pb2.RecordRefundStatusResponse(refund=await self._view(refund_id))
