"""The refunds domain's own windows (refund_svc/rules.py), on the platform's day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from refund_svc import rules

DAY = timedelta(days=1)


def test_seven_business_days_skip_weekends() -> None:
    monday = datetime(2026, 11, 30, 9, tzinfo=UTC)
    friday = datetime(2026, 12, 4, 9, tzinfo=UTC)
    saturday = datetime(2026, 12, 5, 9, tzinfo=UTC)
    assert rules.calendar_days_for_business_days(monday, 7) == 9  # to Wednesday of next week
    assert rules.calendar_days_for_business_days(friday, 7) == 11
    assert rules.calendar_days_for_business_days(saturday, 1) == 2  # Monday
    assert rules.expected_by(monday, DAY) == monday + 9 * DAY
    assert rules.expected_by(monday, timedelta(seconds=0.5)) == monday + timedelta(seconds=4.5)


def test_the_workflows_windows_are_the_domains_numbers_in_microseconds() -> None:
    p = rules.policy(timedelta(seconds=0.5))
    us = 1_000_000
    assert p.overdue_after_us == rules.REFUND_MAX_DAYS * us // 2
    assert p.poll_every_us == rules.POLL_EVERY_DAYS * us // 2
    assert p.retry_window_us == rules.RETRY_WINDOW_DAYS * us // 2
    assert (rules.EXPECTED_BUSINESS_DAYS, rules.REFUND_MAX_DAYS, rules.RETRY_WINDOW_DAYS) == (7, 20, 30)
