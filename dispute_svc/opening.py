"""Who may open a dispute on which order, and when (docs/rules.md, "Opening a dispute").

Each refusal has its own status code, message and machine-readable reason (trailing metadata
"dp-error-reason"), so a client can tell "too early" from "too late" from "limit reached".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orders.v1 import orders_pb2

from dispute_svc.model import CLOSED, SETTLING_RESOLUTIONS
from dispute_svc.openings import PastDispute
from dispute_svc.policy import Policy
from dispute_svc.store import STARTED
from platform_common.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    PermissionDenied,
    ResourceExhausted,
)

# Reasons, one per rule.
NOT_ORDER_BUYER = "NOT_ORDER_BUYER"
BUYER_BLOCKED = "BUYER_BLOCKED"
ORDER_SETTLED = "ORDER_ALREADY_SETTLED"
DISPUTE_OPEN = "DISPUTE_ALREADY_OPEN"
MAX_DISPUTES = "MAX_DISPUTES_REACHED"
ORDER_CANCELLED = "ORDER_CANCELLED"
ORDER_REFUNDED = "ORDER_REFUNDED"
TOO_EARLY = "TOO_EARLY"
WINDOW_CLOSED = "WINDOW_CLOSED"


def _when(ts: datetime) -> str:
    return ts.isoformat(timespec="seconds")


def check_parties(order: orders_pb2.Order, caller_id: str, blocked: bool) -> None:
    if order.buyer_id != caller_id:
        raise PermissionDenied(
            f"order {order.order_id} is not yours: only its buyer may open a dispute", NOT_ORDER_BUYER
        )
    if blocked:
        raise PermissionDenied(
            "your account is blocked from opening disputes; contact support", BUYER_BLOCKED
        )


def check_history(order_id: str, history: list[PastDispute], policy: Policy) -> int:
    """The attempt number of a new dispute on the order, or the refusal."""
    for past in history:
        if past.resolution in SETTLING_RESOLUTIONS:
            raise FailedPrecondition(
                f"dispute {past.dispute_id} on order {order_id} already ended with {past.resolution}; "
                "the order cannot be disputed again",
                ORDER_SETTLED,
            )
    for past in history:
        if past.state != STARTED:  # OPENING, or ABANDONING: not yet known never to have started
            raise AlreadyExists(
                f"another dispute is being opened on order {order_id} at this moment; "
                "if that opening fails, this order can be disputed again at once",
                DISPUTE_OPEN,
            )
        if past.status not in CLOSED:
            raise AlreadyExists(
                f"dispute {past.dispute_id} is already open on order {order_id}", DISPUTE_OPEN
            )
    if len(history) >= policy.max_disputes_per_order:
        raise ResourceExhausted(
            f"order {order_id} already had {len(history)} disputes (at most {policy.max_disputes_per_order})",
            MAX_DISPUTES,
        )
    return len(history) + 1


def check_window(order: orders_pb2.Order, policy: Policy, now: datetime) -> None:
    """From `min_days_after_shipment` after shipment (or once the ship-by date passed without a
    shipment), while protection is active, or within the completion grace. Every date but the
    first is the order's own deadline, as OrderService reports it."""
    status = order.status
    if status == orders_pb2.ORDER_STATUS_CANCELLED:
        raise FailedPrecondition(f"order {order.order_id} was cancelled", ORDER_CANCELLED)
    if status == orders_pb2.ORDER_STATUS_REFUNDED:
        raise FailedPrecondition(
            f"order {order.order_id} was refunded in full; there is nothing left to dispute", ORDER_REFUNDED
        )
    if status == orders_pb2.ORDER_STATUS_PAID:
        ship_by = next((d for d in order.deadlines if d.kind == "SHIP_BY"), None)
        if ship_by is not None and now < ship_by.due_at.ToDatetime(tzinfo=now.tzinfo):
            due = ship_by.due_at.ToDatetime(tzinfo=now.tzinfo)
            raise FailedPrecondition(
                f"order {order.order_id} is not shipped yet; a dispute is possible from {_when(due)} "
                "if it is still not shipped",
                TOO_EARLY,
            )
        return
    if status in (orders_pb2.ORDER_STATUS_SHIPPED, orders_pb2.ORDER_STATUS_DELIVERED):
        shipped = order.shipment.shipped_at.ToDatetime(tzinfo=now.tzinfo)
        earliest = shipped + policy.days(policy.min_days_after_shipment)
        if now < earliest:
            raise FailedPrecondition(
                f"a dispute is possible from {_when(earliest)}, {policy.min_days_after_shipment} days after shipment",
                TOO_EARLY,
            )
        p = order.protection
        if p.frozen or (p.HasField("expires_at") and now < p.expires_at.ToDatetime(tzinfo=now.tzinfo)):
            return
        raise FailedPrecondition(f"buyer protection of order {order.order_id} has ended", WINDOW_CLOSED)
    if status == orders_pb2.ORDER_STATUS_COMPLETED:
        # The completion grace is OrderService's number: its GetOrder shows the deadline while it
        # runs, and this check reads that very deadline, so the two can never disagree.
        completed = order.completed_at.ToDatetime(tzinfo=now.tzinfo)
        grace = next((d for d in order.deadlines if d.kind == "DISPUTE_GRACE_ENDS"), None)
        if grace is not None and now <= grace.due_at.ToDatetime(tzinfo=now.tzinfo):
            return
        raise FailedPrecondition(
            f"order {order.order_id} completed on {_when(completed)} and its dispute grace has ended",
            WINDOW_CLOSED,
        )
    raise FailedPrecondition(f"order {order.order_id} cannot be disputed in its state", WINDOW_CLOSED)


def _deadline(order: orders_pb2.Order, kind: str, now: datetime) -> datetime | None:
    found = next((d for d in order.deadlines if d.kind == kind), None)
    return found.due_at.ToDatetime(tzinfo=now.tzinfo) if found is not None else None


def opening_window(
    order: orders_pb2.Order, policy: Policy, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """From when until when the order can be disputed, read from the same dates `check_window`
    reads (None: no such bound — an unshipped order has no end yet, a frozen clock neither)."""
    status = order.status
    if status == orders_pb2.ORDER_STATUS_PAID:
        return _deadline(order, "SHIP_BY", now), None
    if status in (orders_pb2.ORDER_STATUS_SHIPPED, orders_pb2.ORDER_STATUS_DELIVERED):
        opens = order.shipment.shipped_at.ToDatetime(tzinfo=now.tzinfo) + policy.days(
            policy.min_days_after_shipment
        )
        p = order.protection
        closes = (
            None if p.frozen or not p.HasField("expires_at") else p.expires_at.ToDatetime(tzinfo=now.tzinfo)
        )
        return opens, closes
    if status == orders_pb2.ORDER_STATUS_COMPLETED:
        return None, _deadline(order, "DISPUTE_GRACE_ENDS", now)
    return None, None


@dataclass(frozen=True)
class Eligibility:
    """What CheckDisputeEligibility answers: the opening rules' verdict without opening anything."""

    reason: str  # "" when a dispute can be opened now
    message: str
    opens_at: datetime | None
    closes_at: datetime | None
    remaining_attempts: int


def eligibility(
    order: orders_pb2.Order,
    buyer_id: str,
    blocked: bool,
    history: list[PastDispute],
    policy: Policy,
    now: datetime,
) -> Eligibility:
    """The very checks OpenDispute runs, in its order, stopped at the first refusal."""
    opens, closes = opening_window(order, policy, now)
    remaining = max(policy.max_disputes_per_order - len(history), 0)
    try:
        check_parties(order, buyer_id, blocked)
        check_history(order.order_id, history, policy)
        check_window(order, policy, now)
    except DomainError as refusal:
        return Eligibility(refusal.reason, refusal.message, opens, closes, remaining)
    return Eligibility("", "", opens, closes, remaining)
