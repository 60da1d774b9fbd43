"""The dispute Policy carries the numbers of docs/rules.md, and versions are immutable and distinct."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import timedelta

import pytest

from dispute_svc.policy import DEFAULT_VERSION, POLICIES, SellerTimeoutAction, for_new_disputes, policy
from refund_svc.rules import RETRY_WINDOW_DAYS


def test_standard_numbers_match_the_rules() -> None:
    p = policy(DEFAULT_VERSION)
    assert (p.min_days_after_shipment, p.max_disputes_per_order) == (5, 3)
    assert (p.seller_response_days, p.buyer_response_days, p.buyer_min_wait_to_escalate_days) == (15, 7, 3)
    assert (p.info_request_days, p.arbitration_target_days, p.arbitration_max_days, p.appeal_window_days) == (
        5,
        7,
        60,
        7,
    )
    assert (p.return_ship_days, p.return_confirm_days, p.refund_failed_final_days) == (10, 15, 30)
    assert p.description_max_chars == 2000
    assert p.seller_timeout_action is SellerTimeoutAction.ESCALATE
    assert p.days(15) == timedelta(days=15)


def test_options_and_demo() -> None:
    assert policy("2026-11-refund-on-silence").seller_timeout_action is SellerTimeoutAction.REFUND_BUYER
    assert policy("demo").days(15) == timedelta(minutes=15)
    assert len({p.version for p in POLICIES.values()}) == len(POLICIES)
    with pytest.raises(ValueError, match="unknown policy"):
        policy("2025-draft")
    with pytest.raises(FrozenInstanceError):
        policy(DEFAULT_VERSION).seller_response_days = 30  # type: ignore[misc]


def test_new_disputes_run_on_the_platforms_one_day() -> None:
    """DP_DAY_SECONDS scales new disputes exactly as it scales orders and refunds; the day is
    written into the version, so a dispute keeps it, and a policy cannot bring its own."""
    assert for_new_disputes(DEFAULT_VERSION, 86_400) is policy(DEFAULT_VERSION)
    scaled = for_new_disputes(DEFAULT_VERSION, 0.5)
    assert scaled.version == f"{DEFAULT_VERSION}@0.5s"
    assert scaled.days(15) == timedelta(seconds=7.5)
    assert policy(scaled.version) == scaled  # what an in-flight dispute looks up again
    with pytest.raises(ValueError, match="DP_DAY_SECONDS"):
        for_new_disputes(f"{DEFAULT_VERSION}@0.5s", 0.5)
    with pytest.raises(ValueError, match="own day length"):
        for_new_disputes("demo", 86_400)
    with pytest.raises(ValueError, match="DP_DAY_SECONDS must be"):
        for_new_disputes(DEFAULT_VERSION, 2 * 86_400)
    assert for_new_disputes(DEFAULT_VERSION, 1 / 3).days(3) == timedelta(seconds=1)  # not rounded to 6 digits


def test_the_dispute_gives_a_payout_up_when_refundservice_does() -> None:
    """The one number two domains must agree on until GetRefund reports finality (docs/rules.md,
    "Known duplicates")."""
    assert policy(DEFAULT_VERSION).refund_failed_final_days == RETRY_WINDOW_DAYS
