"""The dispute domain's pure rules, every branch, without a server: what an action may say
(dispute_svc/rules.py) and who may open a dispute on which order, when (dispute_svc/opening.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from common.v1 import common_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from orders.v1 import orders_pb2
from temporalio.exceptions import ApplicationError

from dispute_svc import opening
from dispute_svc.model import Resolution, Solution, SolutionType
from dispute_svc.openings import PastDispute
from dispute_svc.policy import STANDARD
from dispute_svc.rules import (
    EVIDENCE_PER_ACTION,
    MESSAGE_MAX_CHARS,
    check_amount,
    check_counter_offer,
    check_evidence,
    check_solution,
    check_text,
)
from dispute_svc.store import OPENING, STARTED
from platform_common.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    PermissionDenied,
    ResourceExhausted,
)
from platform_common.refusals import Refusal

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
FULL, PARTIAL = SolutionType.FULL_REFUND, SolutionType.PARTIAL_REFUND


def refused(check: Callable[..., None], *args: Any, **kwargs: Any) -> str:
    """The refusal's message; every rule refuses as INVALID_ARGUMENT, never retried."""
    with pytest.raises(ApplicationError) as err:
        check(*args, **kwargs)
    assert err.value.type == Refusal.INVALID_ARGUMENT and err.value.non_retryable
    return err.value.message


# --- what an action may say -------------------------------------------------------------------


def test_text_counts_characters_and_refuses_blank_required_text() -> None:
    check_text("", "message")
    check_text("é" * MESSAGE_MAX_CHARS, "message", required=True)  # characters, not bytes
    assert "required" in refused(check_text, "   ", "message", required=True)
    assert "at most 2000" in refused(check_text, "x" * (MESSAGE_MAX_CHARS + 1), "message")
    assert "at most 64" in refused(check_text, "x" * 65, "carrier", max_chars=64)


def test_evidence_ids_are_bounded_distinct_and_sometimes_required() -> None:
    check_evidence([])
    check_evidence([f"e{i}" for i in range(EVIDENCE_PER_ACTION)])
    assert "at least one" in refused(check_evidence, [], required=True)
    assert "at most 20" in refused(check_evidence, [f"e{i}" for i in range(EVIDENCE_PER_ACTION + 1)])
    assert "repeat" in refused(check_evidence, ["a", "a"])


def test_amounts_stay_within_what_was_paid() -> None:
    check_amount(1, 100)
    check_amount(100, 100)
    check_amount(0, 100, allow_zero=True)
    assert "between 1 and 100" in refused(check_amount, 0, 100)
    assert "between 1 and 100" in refused(check_amount, 101, 100)
    assert "between 0 and 100" in refused(check_amount, -1, 100, allow_zero=True)


def test_a_claim_is_a_full_refund_of_the_amount_paid_or_a_partial_one() -> None:
    check_solution(Solution(FULL, 100, False), 100, goods_received=False)
    check_solution(Solution(PARTIAL, 40, True), 100, goods_received=True)
    assert "unknown solution type" in refused(check_solution, Solution("GIFT", 1, False), 100, True)  # type: ignore[arg-type]
    assert "between 1 and 100" in refused(check_solution, Solution(PARTIAL, 101, False), 100, True)
    assert "full refund is the amount paid" in refused(check_solution, Solution(FULL, 99, False), 100, True)
    assert "not received" in refused(check_solution, Solution(PARTIAL, 50, False), 100, False)
    assert "not received" in refused(check_solution, Solution(FULL, 100, True), 100, False)


def test_a_counter_offer_offers_less_or_asks_for_the_goods_back() -> None:
    check_counter_offer(Solution(PARTIAL, 99, False), 100)
    check_counter_offer(Solution(FULL, 100, True), 100)
    assert "less than the amount paid" in refused(check_counter_offer, Solution(PARTIAL, 100, False), 100)
    assert "requires a return" in refused(check_counter_offer, Solution(FULL, 100, False), 100)


# --- who may open a dispute ---------------------------------------------------------------------


def _ts(at: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(at)
    return out


def _order(status: int, **fields: Any) -> orders_pb2.Order:
    order = orders_pb2.Order(order_id="o-1", buyer_id="b-1", status=status)  # type: ignore[arg-type]
    for name, value in fields.items():
        if name == "deadlines":
            order.deadlines.extend(common_pb2.Deadline(kind=k, due_at=_ts(at)) for k, at in value)
        elif name == "shipped_at":
            order.shipment.shipped_at.CopyFrom(_ts(value))
        elif name == "expires_at":
            order.protection.expires_at.CopyFrom(_ts(value))
        elif name == "frozen":
            order.protection.frozen = value
        elif name == "completed_at":
            order.completed_at.CopyFrom(_ts(value))
    return order


def reason(call: Callable[[], None], kind: type[DomainError]) -> str:
    with pytest.raises(kind) as err:
        call()
    return err.value.reason


def test_only_the_orders_unblocked_buyer_opens() -> None:
    order = _order(orders_pb2.ORDER_STATUS_SHIPPED)
    opening.check_parties(order, "b-1", blocked=False)
    assert reason(lambda: opening.check_parties(order, "b-2", False), PermissionDenied) == "NOT_ORDER_BUYER"
    assert reason(lambda: opening.check_parties(order, "b-1", True), PermissionDenied) == "BUYER_BLOCKED"


def _past(status: str = "", resolution: str = "", state: str = STARTED) -> PastDispute:
    return PastDispute("d-1", 1, NOW, status, resolution, state)


def test_the_history_of_an_order_decides_the_next_attempt() -> None:
    assert opening.check_history("o-1", [], STANDARD) == 1
    cancelled = _past("CLOSED_CANCELLED", Resolution.CANCELLED_BY_BUYER)
    assert opening.check_history("o-1", [cancelled, cancelled], STANDARD) == 3
    settled = _past("CLOSED_REFUNDED", Resolution.SELLER_ACCEPTED)
    assert reason(lambda: opening.check_history("o-1", [settled], STANDARD), FailedPrecondition) == (
        "ORDER_ALREADY_SETTLED"
    )
    being_opened = _past(state=OPENING)
    assert reason(lambda: opening.check_history("o-1", [being_opened], STANDARD), AlreadyExists) == (
        "DISPUTE_ALREADY_OPEN"
    )
    still_open = _past("AWAITING_SELLER_RESPONSE")
    assert reason(lambda: opening.check_history("o-1", [still_open], STANDARD), AlreadyExists) == (
        "DISPUTE_ALREADY_OPEN"
    )
    three = [cancelled] * STANDARD.max_disputes_per_order
    assert reason(lambda: opening.check_history("o-1", three, STANDARD), ResourceExhausted) == (
        "MAX_DISPUTES_REACHED"
    )


def window(order: orders_pb2.Order, now: datetime = NOW) -> str:
    """ "" when the order may be disputed now, else the refusal's reason."""
    try:
        opening.check_window(order, STANDARD, now)
    except FailedPrecondition as exc:
        return exc.reason
    return ""


def test_the_opening_window_of_every_order_state() -> None:
    day = timedelta(days=1)
    assert window(_order(orders_pb2.ORDER_STATUS_CANCELLED)) == "ORDER_CANCELLED"
    assert window(_order(orders_pb2.ORDER_STATUS_REFUNDED)) == "ORDER_REFUNDED"
    # Unshipped: from its ship-by date (the order's own deadline).
    assert window(_order(orders_pb2.ORDER_STATUS_PAID, deadlines=[("SHIP_BY", NOW + day)])) == "TOO_EARLY"
    assert window(_order(orders_pb2.ORDER_STATUS_PAID, deadlines=[("SHIP_BY", NOW - day)])) == ""
    # Shipped: from 5 days after shipment, while protection runs (or is frozen by a dispute).
    shipped = {"shipped_at": NOW - 4 * day, "expires_at": NOW + 50 * day}
    assert window(_order(orders_pb2.ORDER_STATUS_SHIPPED, **shipped)) == "TOO_EARLY"
    assert window(_order(orders_pb2.ORDER_STATUS_SHIPPED, **{**shipped, "shipped_at": NOW - 5 * day})) == ""
    assert window(_order(orders_pb2.ORDER_STATUS_DELIVERED, shipped_at=NOW - 9 * day, frozen=True)) == ""
    ended = {"shipped_at": NOW - 61 * day, "expires_at": NOW - day}
    assert window(_order(orders_pb2.ORDER_STATUS_SHIPPED, **ended)) == "WINDOW_CLOSED"
    # Completed: within the grace OrderService reports as DISPUTE_GRACE_ENDS, and not after.
    grace = {"completed_at": NOW - 3 * day, "deadlines": [("DISPUTE_GRACE_ENDS", NOW + 12 * day)]}
    assert window(_order(orders_pb2.ORDER_STATUS_COMPLETED, **grace)) == ""
    assert window(_order(orders_pb2.ORDER_STATUS_COMPLETED, **grace), NOW + 13 * day) == "WINDOW_CLOSED"
    assert window(_order(orders_pb2.ORDER_STATUS_COMPLETED, completed_at=NOW - 20 * day)) == "WINDOW_CLOSED"
    assert window(_order(orders_pb2.ORDER_STATUS_UNSPECIFIED)) == "WINDOW_CLOSED"


def test_eligibility_is_the_opening_rules_verdict_with_the_window() -> None:
    """CheckDisputeEligibility runs the very checks of OpenDispute (parties, history, window, in
    that order) and reports the window from the dates check_window reads."""
    day = timedelta(days=1)
    cancelled = _past("CLOSED_CANCELLED", Resolution.CANCELLED_BY_BUYER)
    shipped = _order(orders_pb2.ORDER_STATUS_SHIPPED, shipped_at=NOW - 6 * day, expires_at=NOW + 54 * day)
    e = opening.eligibility(shipped, "b-1", False, [cancelled], STANDARD, NOW)
    assert (e.reason, e.remaining_attempts) == ("", 2)
    assert (e.opens_at, e.closes_at) == (NOW - day, NOW + 54 * day)
    assert opening.eligibility(shipped, "b-1", True, [], STANDARD, NOW).reason == "BUYER_BLOCKED"
    assert opening.eligibility(shipped, "b-1", False, [_past("UNDER_ARBITRATION")], STANDARD, NOW).reason == (
        "DISPUTE_ALREADY_OPEN"
    )
    early = opening.eligibility(shipped, "b-1", False, [], STANDARD, NOW - 2 * day)
    assert (early.reason, early.opens_at) == ("TOO_EARLY", NOW - day)
    frozen = _order(orders_pb2.ORDER_STATUS_DELIVERED, shipped_at=NOW - 9 * day, frozen=True)
    assert opening.eligibility(frozen, "b-1", False, [], STANDARD, NOW).closes_at is None
    unshipped = _order(orders_pb2.ORDER_STATUS_PAID, deadlines=[("SHIP_BY", NOW + day)])
    assert opening.opening_window(unshipped, STANDARD, NOW) == (NOW + day, None)
    completed = _order(
        orders_pb2.ORDER_STATUS_COMPLETED,
        completed_at=NOW,
        deadlines=[("DISPUTE_GRACE_ENDS", NOW + 15 * day)],
    )
    assert opening.opening_window(completed, STANDARD, NOW) == (None, NOW + 15 * day)
    # Every sample order of the window test: eligibility and check_window give the same verdict.
    for order in (shipped, frozen, unshipped, completed, _order(orders_pb2.ORDER_STATUS_REFUNDED)):
        assert opening.eligibility(order, "b-1", False, [], STANDARD, NOW).reason == window(order)
