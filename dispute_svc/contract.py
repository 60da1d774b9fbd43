"""Names and payloads of the dispute activities, importable by workflows without gRPC."""

from __future__ import annotations

from dataclasses import dataclass

# The domain's own task queue: its worker polls only this, so each domain scales and deploys alone.
TASK_QUEUE = "disputes"

FREEZE_ORDER = "dispute_freeze_order"
UNFREEZE_ORDER = "dispute_unfreeze_order"
SET_LEGAL_HOLD = "dispute_set_legal_hold"
ISSUE_REFUND = "dispute_issue_refund"
REFUND_STATUSES = "dispute_refund_statuses"
RECORD_DISPUTE_STATE = "record_dispute_state"
ATTACH_EVIDENCE = "dispute_attach_evidence"

# ApplicationError type: RefundService turned the refund down for good (e.g. it would exceed the
# amount paid because of other refunds on the order).
REFUND_REFUSED = "RefundRefused"
# EvidenceService refused to bind files for good (e.g. two concurrent actions passed their checks
# but together exceed the dispute's totals).
EVIDENCE_REFUSED = "EvidenceRefused"


@dataclass
class EvidenceBinding:
    dispute_id: str
    order_id: str
    evidence_ids: list[str]
    # The first binding registers the dispute with EvidenceService, with the opening limits.
    at_opening: bool


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


# --- webhook deliveries (WebhookDeliveryWorkflow) --------------------------------------------

DELIVER_WEBHOOKS = "dispute_deliver_webhooks"
DISABLE_WEBHOOK = "dispute_disable_webhook"
# Outcomes of one delivery call (disputes.v1 DeliveryOutcome without its prefix).
DELIVERED, FAILED, BUSY, GONE = "OK", "FAILED", "BUSY", "GONE"
# The delivery activity heartbeats this often; the workflow gives it three times as long.
WEBHOOK_HEARTBEAT_S = 3.0


@dataclass
class WebhookPull:
    subscription_id: str
    wait_seconds: int


@dataclass
class WebhookOutcome:
    outcome: str
    delivered: int = 0
    error: str = ""
    # ISO-8601 while the subscription is failing: since when (DisputeService's record).
    failing_since: str = ""


@dataclass
class WebhookDisable:
    subscription_id: str
    reason: str
    # The failing_since DisputeService reported (ISO-8601): a replay since then wins.
    failing_since: str = ""
