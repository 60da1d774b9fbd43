"""Dispute Policy: every window and count of a dispute's life, versioned.

A dispute stores the version it opened under in its workflow input, so publishing a new policy
never changes a dispute in flight. Durations are in policy days; the "demo" policy makes a day
one minute so a whole case can be watched locally.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import timedelta


class SellerTimeoutAction(enum.StrEnum):
    ESCALATE = "ESCALATE"
    REFUND_BUYER = "REFUND_BUYER"


@dataclass(frozen=True)
class Policy:
    version: str
    day_seconds: float = 86_400
    # Opening
    min_days_after_shipment: int = 5
    max_disputes_per_order: int = 3
    description_max_chars: int = 2_000
    # Bounds that keep a dispute's state (and every update's answer) far below Temporal's limits.
    max_versions: int = 60
    max_info_requests: int = 20
    # Negotiation
    seller_response_days: int = 15
    seller_timeout_action: SellerTimeoutAction = SellerTimeoutAction.ESCALATE
    buyer_response_days: int = 7
    buyer_min_wait_to_escalate_days: int = 3
    # Arbitration
    info_request_days: int = 5
    arbitration_target_days: int = 7
    arbitration_max_days: int = 60
    appeal_window_days: int = 7
    # Returns
    return_ship_days: int = 10
    return_confirm_days: int = 15
    # Refunds: a payout FAILED this long without a successful retry is given up (RefundService
    # makes such a refund final after its own retry window of the same length).
    refund_failed_final_days: int = 30
    # Messages: at most message_limit per sender and dispute, and sender_message_limit per sender
    # on all their disputes, within message_window_seconds. Real seconds, not policy days: it
    # bounds how fast a client may write, whatever the day length.
    message_limit: int = 30
    sender_message_limit: int = 300
    message_window_seconds: int = 3_600
    # Party signals for arbiters: the window they cover, and how many disputes opened in it flag
    # a buyer for review (a flag for people to look at, never a block).
    signal_window_days: int = 90
    buyer_review_disputes: int = 5

    def days(self, n: int) -> timedelta:
        return timedelta(seconds=self.day_seconds * n)


STANDARD = Policy(version="2026-11-standard")
POLICIES: dict[str, Policy] = {
    p.version: p
    for p in (
        STANDARD,
        # Policy option: a silent seller refunds the buyer instead of escalating.
        replace(
            STANDARD,
            version="2026-11-refund-on-silence",
            seller_timeout_action=SellerTimeoutAction.REFUND_BUYER,
        ),
        # Kept so that disputes opened under it keep replaying with its one-minute day; new
        # setups scale every domain at once with DP_DAY_SECONDS instead (for_new_disputes).
        replace(STANDARD, version="demo", day_seconds=60),
    )
}
DEFAULT_VERSION = STANDARD.version


def policy(version: str) -> Policy:
    """The policy a version names. "<version>@<seconds>s" is that policy with shorter days.

    The scaled form exists for local runs and integration tests (e.g. "2026-11-standard@0.5s");
    it is part of the version string, so a dispute keeps its day length however it is configured.
    """
    base, _, scale = version.partition("@")
    try:
        found = POLICIES[base]
    except KeyError:
        raise ValueError(f"unknown policy version {base!r} (known: {', '.join(sorted(POLICIES))})") from None
    if not scale:
        return found
    try:
        seconds = float(scale.removesuffix("s")) if scale.endswith("s") else -1.0
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 86_400:
        raise ValueError(f"policy {version!r}: a scaled day is written like '@0.5s' (0 < seconds <= 86400)")
    return replace(found, version=version, day_seconds=seconds)


def for_new_disputes(version: str, day_seconds: float) -> Policy:
    """The policy DisputeService opens new disputes under: `version` on the platform's one time
    scale (DP_DAY_SECONDS, which also drives order protection, refunds and the payment
    simulator). A shorter day is written into the version ("2026-11-standard@0.5s"), so each
    dispute keeps the day length it opened with, whatever is configured later."""
    if "@" in version:
        raise ValueError(
            f"policy {version!r}: the day length is the platform's DP_DAY_SECONDS, not part of DP_DISPUTE_POLICY"
        )
    base = policy(version)
    if base.day_seconds != STANDARD.day_seconds:
        raise ValueError(
            f"policy {version!r} has its own day length; use {DEFAULT_VERSION} with DP_DAY_SECONDS"
        )
    if not 0 < day_seconds <= base.day_seconds:
        raise ValueError(f"DP_DAY_SECONDS must be in (0, {base.day_seconds:g}] (got {day_seconds:g})")
    return base if day_seconds == base.day_seconds else policy(f"{version}@{day_seconds:.12g}s")
