"""Words for people watching the platform: workflow summaries and details in the Temporal UI,
and the operator CLI's tables. One home, so a deadline reads the same everywhere.

Imported by workflows (inside Temporal's sandbox): pure functions, no I/O, no clock of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from platform_common.currencies import format_minor

_UNITS = ((86_400, "day", "days"), (3_600, "h", "h"), (60, "min", "min"), (1, "s", "s"))


def span(delta: timedelta) -> str:
    """A duration in its two largest units: "3 days 4 h", "2 h 5 min", "40 s"."""
    seconds = int(abs(delta.total_seconds()))
    parts: list[str] = []
    for size, one, many in _UNITS:
        n, seconds = divmod(seconds, size)
        if n or (size == 1 and not parts):
            parts.append(f"{n} {one if n == 1 else many}")
        if len(parts) == 2:
            break
    return " ".join(parts)


def in_words(delta: timedelta) -> str:
    """How far a deadline is from now: "in 3 days 4 h", or "2 h 5 min ago" once passed."""
    return f"in {span(delta)}" if delta.total_seconds() >= 0 else f"{span(delta)} ago"


def days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def details(rows: Iterable[tuple[str, str]]) -> str:
    """Markdown the Temporal UI renders: one bold label and its value per line."""
    return "\n".join(f"**{label}:** {value}" for label, value in rows if value)


def amount(minor_units: int, currency: str) -> str:
    return format_minor(minor_units, currency)
