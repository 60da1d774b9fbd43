"""Names and payloads of the order activities, importable by workflows without gRPC."""

from __future__ import annotations

from dataclasses import dataclass, field

# The domain's own task queue: its worker polls only this, so each domain scales and deploys alone.
TASK_QUEUE = "orders"

COMPLETE_ORDER = "complete_order"
RECORD_PROTECTION = "record_protection"


@dataclass
class CompleteOrderInput:
    order_id: str
    reason: str
    # ISO-8601 with offset.
    completed_at: str


@dataclass
class HoldInfo:
    dispute_id: str
    # ISO-8601: when the dispute's hold began (the clock counts as paused from then).
    held_at: str


@dataclass
class CompleteOrderResult:
    # Disputes holding the order: it did not complete (older workers returned nothing).
    held_by: list[HoldInfo] = field(default_factory=list)


@dataclass
class RecordProtectionInput:
    order_id: str
    # Monotonic per order: the service ignores a revision it has already stored.
    revision: int
    expires_at: str | None
    frozen: bool
    remaining_us: int
    extended_days: int
