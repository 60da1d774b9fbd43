"""RefundWorkflow's data: its input (with the windows it keeps), an operator's retry, and the view
RefundService reads. Plain dataclasses, so they round-trip through Temporal's JSON converter
unchanged; shared by the workflow, its client (`client.py`) and the domain's rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from refund_svc.contract import ProviderState, RefundStatus


def workflow_id(idempotency_key: str) -> str:
    return f"refund/{idempotency_key}"


@dataclass
class RefundPolicy:
    """Durations in microseconds (a policy "day" may be shortened for demos and tests)."""

    overdue_after_us: int
    poll_every_us: int
    retry_window_us: int


@dataclass
class RefundInput:
    refund_id: str
    idempotency_key: str
    payment_reference: str
    amount_minor: int
    currency: str
    # ISO-8601 times, decided by RefundService when the refund entered the ledger.
    created_at: str
    expected_by: str
    policy: RefundPolicy
    # Carried over on continue-as-new.
    attempt: int = 1
    revision: int = 0
    overdue: bool = False
    settlements: dict[str, ProviderState] = field(default_factory=dict)


@dataclass
class RetryInput:
    operator: str
    note: str


@dataclass
class RefundView:
    refund_id: str
    status: RefundStatus
    attempt: int
    provider_reference: str
    expected_by: str
    overdue: bool
    failure_reason: str
