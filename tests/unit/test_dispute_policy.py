"""The dispute Policy carries DESIGN §4's numbers, and versions are immutable and distinct."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import timedelta

import pytest

from workflows.dispute_policy import DEFAULT_VERSION, POLICIES, SellerTimeoutAction, policy


def test_standard_numbers_match_the_design() -> None:
    p = policy(DEFAULT_VERSION)
    assert (p.min_days_after_shipment, p.completion_grace_days, p.max_disputes_per_order) == (5, 15, 3)
    assert (p.seller_response_days, p.buyer_response_days, p.buyer_min_wait_to_escalate_days) == (15, 7, 3)
    assert (p.info_request_days, p.arbitration_target_days, p.arbitration_max_days, p.appeal_window_days) == (
        5,
        7,
        60,
        7,
    )
    assert (p.return_ship_days, p.return_confirm_days, p.refund_max_days) == (10, 15, 20)
    assert (p.opening_max_images, p.opening_max_videos, p.description_max_chars) == (3, 1, 2000)
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
