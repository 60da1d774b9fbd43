"""The refund domain's own numbers: how long a refund normally takes, when it is overdue, how often
it is polled, how long a failed one may still be retried. RefundService is the one owner of
these windows (they hold for refunds of every kind, dispute or not) and of the rule that all
refunds of an order together never exceed what was paid (`repository.RefundRepository.create`,
in one transaction with the order's balance row).

Counted in the platform's days (DP_DAY_SECONDS) and sent to each RefundWorkflow as microseconds
in its input, so a refund keeps the windows it started with.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from refund_svc.model import RefundPolicy

# Settlement normally takes 7 business days; past 20 days the refund is overdue (flagged, still
# tracked); a FAILED refund may be retried for 30 days, then it is final and its amount released.
EXPECTED_BUSINESS_DAYS = 7
REFUND_MAX_DAYS = 20
POLL_EVERY_DAYS = 2
RETRY_WINDOW_DAYS = 30


def calendar_days_for_business_days(start: datetime, business_days: int) -> int:
    """How many calendar days `business_days` weekdays take from `start` (weekends skipped)."""
    days, counted, weekday = 0, 0, start.weekday()
    while counted < business_days:
        days += 1
        weekday = (weekday + 1) % 7
        if weekday < 5:
            counted += 1
    return days


def expected_by(created: datetime, day: timedelta) -> datetime:
    return created + day * calendar_days_for_business_days(created, EXPECTED_BUSINESS_DAYS)


def policy(day: timedelta) -> RefundPolicy:
    us = timedelta(microseconds=1)
    return RefundPolicy(
        overdue_after_us=(day * REFUND_MAX_DAYS) // us,
        poll_every_us=(day * POLL_EVERY_DAYS) // us,
        retry_window_us=(day * RETRY_WINDOW_DAYS) // us,
    )
