"""Rendering ledger rows as the buyer-visible refund tracker."""

from __future__ import annotations

from common.v1 import common_pb2
from refunds.v1 import refunds_pb2

from platform_common.enums import to_proto
from platform_common.timestamps import to_timestamp
from refund_svc.store import RefundEventRow, RefundRow


def status(value: str) -> refunds_pb2.RefundStatus.ValueType:
    return to_proto(refunds_pb2.RefundStatus, value)  # type: ignore[no-any-return]


def refund_to_proto(row: RefundRow, events: list[RefundEventRow]) -> refunds_pb2.Refund:
    refund = refunds_pb2.Refund(
        refund_id=row.id,
        idempotency_key=row.idempotency_key,
        order_id=row.order_id,
        dispute_id=row.dispute_id,
        buyer_id=row.buyer_id,
        seller_id=row.seller_id,
        amount=common_pb2.Money(minor_units=row.amount_minor, currency=row.currency),
        status=status(row.status),
        reason=row.reason,
        payment_method_reference=row.payment_reference,
        provider_reference=row.provider_reference,
        expected_by=to_timestamp(row.expected_by),
        overdue=row.overdue,
        failure_reason=row.failure_reason,
        attempts=row.attempts,
        status_history=[
            refunds_pb2.RefundStatusChange(status=status(e.status), at=to_timestamp(e.at), detail=e.detail)
            for e in events
        ],
        created_at=to_timestamp(row.created_at),
        updated_at=to_timestamp(row.updated_at),
        kind=to_proto(refunds_pb2.RefundKind, row.kind),
        issuer=row.issuer,
        settlement_mismatch=row.settlement_mismatch,
    )
    if row.refunded_at is not None:
        refund.refunded_at.CopyFrom(to_timestamp(row.refunded_at))
    return refund
