"""Party signals for the arbitration team: the buyer's dispute history and the seller's defect
rate over the policy's signal window, computed when an arbiter asks, from DisputeService's read
model and OrderService's order counts.

Why computed on read: they change with every dispute of either party, on any order, so storing
them per dispute would be stale at once. They appear only in GetDispute's answer to arbiters and
leads (never in the Dispute message, so no event, webhook or list can carry them), and a buyer
who reaches `Policy.buyer_review_disputes` is flagged for review: never blocked by it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from disputes.v1 import disputes_pb2 as pb
from sqlalchemy import func, select

from dispute_svc.model import CLOSED
from dispute_svc.store import DisputeRow
from platform_common.sql import SqlStore

SELLER_ANSWERS = ("SELLER_ACCEPTED", "COUNTER_OFFER", "REJECT")
# The seller's window ended without a word: the policy refunded, or the dispute escalated itself.
SELLER_SILENT = ("SELLER_TIMEOUT_REFUND", "AUTO_ESCALATED")
LOST = "CLOSED_REFUNDED"


def signal_columns(d: pb.Dispute) -> dict[str, Any]:
    """The read-model columns signals need, from one recorded snapshot: the seller's first
    answer, and whether the seller's window ran out in silence (an automatic escalation or a
    timeout refund before any answer: a buyer's silence can only follow an answer)."""
    for e in d.timeline:
        if e.action in SELLER_ANSWERS:
            return {"seller_answered_at": e.at.ToDatetime(tzinfo=UTC), "seller_silent": False}
        if e.action in SELLER_SILENT:
            return {"seller_answered_at": None, "seller_silent": True}
    return {"seller_answered_at": None, "seller_silent": False}


@dataclass(frozen=True)
class History:
    """One party's disputes in the window, as the read model has them."""

    disputes: int
    outcomes: dict[str, int]  # closed disputes by resolution
    still_open: int
    lost: int
    response_times: list[timedelta]  # opening to the seller's first answer, answered ones only
    silent: int
    answered: int

    @property
    def silent_share(self) -> float:
        """Silences among the disputes whose seller window has ended: one still inside it has
        neither answered nor run out, and counting it would understate the share."""
        ended = self.silent + self.answered
        return self.silent / ended if ended else 0.0


class PartyHistories:
    def __init__(self, sql: SqlStore) -> None:
        self._sql = sql

    async def of(self, *, buyer_id: str = "", seller_id: str = "", since: datetime) -> History:
        return await self._sql.run(self._of, buyer_id, seller_id, since)

    def _of(self, buyer_id: str, seller_id: str, since: datetime) -> History:
        """Counted in the store (one row per status, resolution and seller answer), through the
        (buyer|seller, opened_at) indexes; only the answered disputes' two times come back, for
        the median."""
        party = DisputeRow.buyer_id == buyer_id if buyer_id else DisputeRow.seller_id == seller_id
        window = (party, DisputeRow.opened_at >= since)
        answered = DisputeRow.seller_answered_at.is_not(None)
        groups = (
            select(DisputeRow.status, DisputeRow.resolution, DisputeRow.seller_silent, answered, func.count())
            .where(*window)
            .group_by(DisputeRow.status, DisputeRow.resolution, DisputeRow.seller_silent, answered)
        )
        times = select(DisputeRow.opened_at, DisputeRow.seller_answered_at).where(*window, answered)
        with self._sql.sessions() as s:
            counted = list(s.execute(groups))
            waits = [at - opened for opened, at in s.execute(times) if at is not None]
        outcomes: dict[str, int] = {}
        for status, resolution, _, _, n in counted:
            if status in CLOSED:
                outcomes[resolution or "UNSPECIFIED"] = outcomes.get(resolution or "UNSPECIFIED", 0) + n
        return History(
            disputes=sum(n for *_, n in counted),
            outcomes=outcomes,
            still_open=sum(n for status, *_, n in counted if status not in CLOSED),
            lost=sum(n for status, *_, n in counted if status == LOST),
            response_times=waits,
            silent=sum(n for _, _, silent, _, n in counted if silent),
            # From the same statement as `silent` (not len(waits): another statement may see
            # another snapshot).
            answered=sum(n for *_, was_answered, n in counted if was_answered),
        )


def median(values: list[timedelta]) -> timedelta | None:
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values)) if values else None
