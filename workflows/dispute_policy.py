"""Dispute Policy: every window and limit of DESIGN §4, versioned.

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
    completion_grace_days: int = 15
    max_disputes_per_order: int = 3
    description_max_chars: int = 2_000
    opening_max_images: int = 3
    opening_max_videos: int = 1
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
    # Refunds
    refund_expected_business_days: int = 7
    refund_max_days: int = 20
    # A refund FAILED this long without an operator retry is final (RefundService's own window).
    refund_failed_final_days: int = 30

    def days(self, n: int) -> timedelta:
        return timedelta(seconds=self.day_seconds * n)


STANDARD = Policy(version="2026-11-standard")
POLICIES: dict[str, Policy] = {
    p.version: p
    for p in (
        STANDARD,
        # Policy option of DESIGN §4: a silent seller refunds the buyer instead of escalating.
        replace(
            STANDARD,
            version="2026-11-refund-on-silence",
            seller_timeout_action=SellerTimeoutAction.REFUND_BUYER,
        ),
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
