"""What every service's events outbox shares: the global cursor and a page of events.

Why one counter row: events get their cursor from it under a lock held to commit, so cursors
become visible in increasing order on PostgreSQL as well as SQLite, and a reader that has seen
cursor N never finds a smaller one later. Each service keeps its own outbox and counter in its
own store (dispute_svc/outbox.py, order_svc/outbox.py); the table is the caller's, with an
integer `id` (the one row is 1) and `last`.

Runs inside the stores' blocking sessions (no asyncio here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

E = TypeVar("E")
# Events one read returns at most.
MAX_PAGE = 500


@dataclass(frozen=True)
class Page(Generic[E]):
    events: list[E]
    # Scanned up to here (past events the reader may not see, too): resume after it.
    scanned: int


def take_cursors(s: Session, counter: Any, n: int) -> int:
    """Reserve n cursors from the counter row; returns the first. The row stays locked until
    commit (PostgreSQL), so event-writing transactions commit in cursor order."""
    last = s.execute(
        update(counter).where(counter.id == 1).values(last=counter.last + n).returning(counter.last)
    ).scalar_one()
    return int(last) - n + 1


def head(s: Session, counter: Any) -> int:
    """The newest cursor given."""
    return int(s.execute(select(counter.last).where(counter.id == 1)).scalar_one())


def scanned_to(cursors: list[int], limit: int, after: int, top: int) -> int:
    """Where a read of at most `limit` rows (cursors in order) after `after`, bounded by the
    head `top`, got to: its last row when the page is full, else the head."""
    return cursors[-1] if len(cursors) == limit else max(top, after)
