"""Names and payloads of the dispute activities, importable by workflows without gRPC."""

from __future__ import annotations

from dataclasses import dataclass

FREEZE_ORDER = "dispute_freeze_order"
UNFREEZE_ORDER = "dispute_unfreeze_order"
SET_LEGAL_HOLD = "dispute_set_legal_hold"
ISSUE_REFUND = "dispute_issue_refund"
REFUND_STATUSES = "dispute_refund_statuses"
RECORD_DISPUTE_STATE = "record_dispute_state"

# ApplicationError type: RefundService turned the refund down for good (e.g. it would exceed the
# amount paid because of other refunds on the order).
REFUND_REFUSED = "RefundRefused"


@dataclass
class OrderHold:
    order_id: str
    dispute_id: str


@dataclass
class LegalHold:
    dispute_id: str
    hold: bool


@dataclass
class RefundOrder:
    # "dispute/<dispute_id>/round/<n>": RefundService returns the same refund for a retried key.
    idempotency_key: str
    order_id: str
    dispute_id: str
    amount_minor: int
    currency: str
    reason: str


@dataclass
class RefundResult:
    refund_id: str
    status: str
