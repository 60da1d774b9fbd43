"""Names and payloads of the refund activities, importable by workflows without gRPC or HTTP."""

from __future__ import annotations

import enum
from dataclasses import dataclass

# The domain's own task queue: its worker polls only this, so each domain scales and deploys alone.
TASK_QUEUE = "refunds"

SUBMIT_REFUND = "submit_refund"
POLL_REFUND = "poll_refund"
RECORD_REFUND_STATUS = "record_refund_status"


class RefundStatus(enum.StrEnum):
    """A refund's status: refunds.v1 RefundStatus without its prefix (the strings are in the
    ledger and in workflow histories: keep them)."""

    PENDING = "PENDING"  # in the ledger, not yet accepted by the provider
    PROCESSING = "PROCESSING"  # accepted by the provider, settling
    REFUNDED = "REFUNDED"  # settled to the original payment method
    FAILED = "FAILED"  # declined or rejected; an operator may retry it within the retry window


# ApplicationError types raised by the activities.
PROVIDER_REJECTED = "ProviderRejected"


@dataclass
class SubmitRefundInput:
    refund_id: str
    # Sent to the provider: "<ledger idempotency key>:<attempt>", so activity retries of one attempt
    # can never create a second provider refund.
    provider_key: str
    payment_reference: str
    amount_minor: int
    currency: str


@dataclass
class ProviderState:
    reference: str
    # "processing", "succeeded" or "declined"
    status: str
    decline_reason: str = ""
    settled_at: str = ""
    # What the provider says it refunded, and under which key ("<ledger key>:<attempt>"); checked
    # against the refund before a report counts (empty in reports from older versions).
    amount_minor: int = 0
    currency: str = ""
    provider_key: str = ""


@dataclass
class RecordRefundStatusInput:
    refund_id: str
    revision: int
    status: RefundStatus
    at: str
    provider_reference: str
    failure_reason: str
    overdue: bool
    attempts: int
    detail: str
    # FAILED for good (retry window over): RefundService releases the reserved amount.
    final: bool = False
    # A settlement report disagreed with the refund and was ignored: flagged for operators.
    settlement_mismatch: bool = False
