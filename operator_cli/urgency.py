"""How urgent a deadline looks: one home for the thresholds, so every table colours the same.

Judged in the platform's own days (DP_DAY_SECONDS), the unit every rule is written in: on a
demo stack whose day lasts a minute, "less than a day left" is still the moment to act. In
production a day is 86400 s and the two readings agree.
"""

from __future__ import annotations

from datetime import timedelta

# Passed, or less than this many days left: act now.
RED_BELOW_DAYS = 1
# Less than this many days left: soon.
YELLOW_BELOW_DAYS = 3

RED, YELLOW, GREEN = "red", "yellow", "green"
# A paused clock (protection frozen during a dispute) is not running out.
PAUSED = "blue"


def colour(remaining: timedelta, day: timedelta) -> str:
    """The colour of a deadline `remaining` from now (negative once passed)."""
    if remaining < RED_BELOW_DAYS * day:
        return RED
    if remaining < YELLOW_BELOW_DAYS * day:
        return YELLOW
    return GREEN
