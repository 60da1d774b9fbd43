"""OrderProtectionWorkflow's data: its input, the actions it accepts and the state it shows.

Plain dataclasses of strings and ints, so they round-trip through Temporal's JSON converter
unchanged; times cross the payload boundary as ISO-8601 strings (readable in the Temporal UI,
and the sandbox's data converter does not decode datetime fields). Shared by the workflow, its
client (`client.py`) and the service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


def workflow_id(order_id: str) -> str:
    return f"order-protection/{order_id}"


def iso(value: datetime) -> str:
    return value.isoformat()


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass
class ProtectionInput:
    order_id: str
    expires_at: str
    # State carried across continue-as-new; defaults describe a fresh window.
    frozen_by: list[str] = field(default_factory=list)
    remaining_us: int = 0
    extended_days: int = 0
    revision: int = 0
    # When the clock last started running (ISO-8601); empty: when this run started.
    running_since: str = ""


@dataclass
class ExtendInput:
    days: int
    # Length of those days, decided by the caller's policy (a "day" is shorter in demos).
    duration_us: int


@dataclass
class FreezeInput:
    dispute_id: str
    # ISO-8601: when the dispute began to hold the order; the clock counts as paused from then
    # (never before it last resumed). Empty: now (older callers).
    at: str = ""


@dataclass
class ConfirmReceiptInput:
    buyer_id: str


@dataclass
class ProtectionState:
    order_id: str
    # None while frozen.
    expires_at: str | None
    frozen: bool
    frozen_by: list[str]
    remaining_us: int
    extended_days: int
    revision: int
    completed_at: str | None = None
    completion_reason: str | None = None
