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
    disputed_orders: int
    outcomes: dict[str, int]  # closed disputes by resolution
    still_open: int
    lost: int
    response_times: list[timedelta]
    silent: int


def _history(rows: list[Any]) -> History:
    outcomes: dict[str, int] = {}
    still_open = 0
    for r in rows:
        if r.status in CLOSED:
            outcomes[r.resolution or "UNSPECIFIED"] = outcomes.get(r.resolution or "UNSPECIFIED", 0) + 1
        else:
            still_open += 1
    return History(
        disputes=len(rows),
        disputed_orders=len({r.order_id for r in rows}),
        outcomes=outcomes,
        still_open=still_open,
        lost=sum(r.status == LOST for r in rows),
        response_times=[r.seller_answered_at - r.opened_at for r in rows if r.seller_answered_at is not None],
        silent=sum(bool(r.seller_silent) for r in rows),
    )


class PartyHistories:
    def __init__(self, sql: SqlStore) -> None:
        self._sql = sql

    async def of(self, *, buyer_id: str = "", seller_id: str = "", since: datetime) -> History:
        return await self._sql.run(self._of, buyer_id, seller_id, since)

    def _of(self, buyer_id: str, seller_id: str, since: datetime) -> History:
        """Through the (buyer|seller, opened_at) indexes."""
        party = DisputeRow.buyer_id == buyer_id if buyer_id else DisputeRow.seller_id == seller_id
        query = select(
            DisputeRow.order_id,
            DisputeRow.status,
            DisputeRow.resolution,
            DisputeRow.opened_at,
            DisputeRow.seller_answered_at,
            DisputeRow.seller_silent,
        ).where(party, DisputeRow.opened_at >= since)
        with self._sql.sessions() as s:
            return _history(list(s.execute(query)))

    async def opened_by(self, buyer_id: str, since: datetime) -> int:
        return await self._sql.run(self._opened_by, buyer_id, since)

    def _opened_by(self, buyer_id: str, since: datetime) -> int:
        query = select(func.count()).where(DisputeRow.buyer_id == buyer_id, DisputeRow.opened_at >= since)
        with self._sql.sessions() as s:
            return int(s.execute(query).scalar_one())


def median(values: list[timedelta]) -> timedelta | None:
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values)) if values else None
