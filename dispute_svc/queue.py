"""The arbitration queue and arbiters' workload, over the read model.

What a waiting dispute's place in the queue is (its first SLA deadline), who holds it, and which
decisions each arbiter made are read off the dispute snapshot the workflow records
(`queue_columns`, `decision_rows`): the workflow stays the one source of its deadlines. Queries
are keyset-paged on (first deadline, dispute id) through the `ix_disputes_queue` index, and
counted with the same index, so a large read model answers in milliseconds.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from dispute_svc.model import ARBITRATING, DeadlineKind
from dispute_svc.store import DecisionRow, DisputeRow
from platform_common.paging import keyset, split_page
from platform_common.sql import SqlStore

# The deadlines of an arbitration's SLA, in the order a tie is read.
SLA_KINDS = (DeadlineKind.INFO_RESPONSE_DUE, DeadlineKind.ARBITRATION_TARGET, DeadlineKind.ARBITRATION_MAX)
WAITING_STATUSES = tuple(str(s) for s in ARBITRATING)
# Timeline actions that start an arbitration round (its decision's time is counted from there).
ROUND_STARTS = ("ESCALATED", "AUTO_ESCALATED", "RETURN_CONTESTED", "APPEALED")
# GetArbiterWorkload's reporting window (real days: a figure for people, not a policy clock).
WORKLOAD_DAYS = 7


def _at(ts: Any) -> datetime:
    at: datetime = ts.ToDatetime(tzinfo=UTC)
    return at


# A dispute under arbitration always lists its target and maximum; one without would sort last.
NO_DEADLINE = datetime(9999, 1, 1, tzinfo=UTC)
_TOKEN_LATEST = datetime(9999, 12, 31, tzinfo=UTC)  # a page may end on a dispute without a deadline


def queue_columns(d: pb.Dispute) -> dict[str, Any]:
    """The queue's columns of one recorded snapshot."""
    waiting = pb.DisputeStatus.Name(d.status).removeprefix("DISPUTE_STATUS_") in WAITING_STATUSES
    sla = [(dl.kind, _at(dl.due_at)) for dl in d.deadlines if dl.kind in SLA_KINDS and dl.HasField("due_at")]
    target = next((at for kind, at in sla if kind == DeadlineKind.ARBITRATION_TARGET), None)
    return {
        "waiting": waiting,
        "arbiter_id": d.arbiter_id,
        "sla_due": min((at for _, at in sla), default=NO_DEADLINE) if waiting else None,
        "sla_target": target if waiting else None,
        "sla_breached": d.sla_breached,
    }


def decision_rows(d: pb.Dispute) -> list[DecisionRow]:
    """Each decision of the snapshot, with the start of its round."""
    starts = sorted(_at(e.at) for e in d.timeline if e.action in ROUND_STARTS)
    rows = []
    for x in d.decisions:
        decided = _at(x.decided_at)
        began = max((at for at in starts if at <= decided), default=decided)
        rows.append(
            DecisionRow(
                dispute_id=d.dispute_id,
                round=x.round,
                arbiter_id=x.arbiter_id,
                decided_at=decided,
                started_at=began,
            )
        )
    return rows


def record_decisions(s: Session, d: pb.Dispute) -> None:
    """Add the snapshot's new decisions (decisions are never changed once made)."""
    known = set(s.scalars(select(DecisionRow.round).where(DecisionRow.dispute_id == d.dispute_id)))
    for row in decision_rows(d):
        if row.round not in known:
            s.add(row)


@dataclass(frozen=True)
class QueueEntry:
    dispute: pb.Dispute
    due: datetime | None
    target: datetime | None
    breached: bool


@dataclass(frozen=True)
class Counts:
    waiting: int
    unassigned: int
    target_missed: int
    breached: int
    by_status: dict[str, int]


@dataclass(frozen=True)
class Workload:
    arbiter_id: str
    open_assigned: int
    decided: int
    median: timedelta | None


class ArbitrationQueue:
    def __init__(self, sql: SqlStore) -> None:
        self._sql = sql

    async def page(
        self, *, unassigned: bool, arbiter_id: str, breached: bool, size: int, token: str
    ) -> tuple[list[QueueEntry], str]:
        return await self._sql.run(self._page, unassigned, arbiter_id, breached, size, token)

    def _page(
        self, unassigned: bool, arbiter_id: str, breached: bool, size: int, token: str
    ) -> tuple[list[QueueEntry], str]:
        due = DisputeRow.sla_due
        query = select(DisputeRow).where(DisputeRow.waiting.is_(True))
        if unassigned:
            query = query.where(DisputeRow.arbiter_id == "")
        if arbiter_id:
            query = query.where(DisputeRow.arbiter_id == arbiter_id)
        if breached:
            query = query.where(DisputeRow.sla_breached.is_(True))
        # Soonest deadline first. The deadline is the key and it can move (an information
        # request answered, a new round): a dispute whose deadline moves while a caller pages may
        # show on two pages or on none; the next read from the top has it in its place.
        query = keyset(query, due, DisputeRow.dispute_id, size, token, ascending=True, latest=_TOKEN_LATEST)
        with self._sql.sessions() as s:
            rows, next_token = split_page(
                list(s.scalars(query)), size, lambda r: (r.sla_due or NO_DEADLINE, r.dispute_id)
            )
        entries = [
            QueueEntry(pb.Dispute.FromString(r.snapshot), r.sla_due, r.sla_target, r.sla_breached)
            for r in rows
        ]
        return entries, next_token

    async def counts(self, now: datetime) -> Counts:
        return await self._sql.run(self._counts, now)

    def _counts(self, now: datetime) -> Counts:
        query = (
            select(
                DisputeRow.status,
                func.count(),
                func.sum(case((DisputeRow.arbiter_id == "", 1), else_=0)),
                func.sum(case((DisputeRow.sla_target <= now, 1), else_=0)),
                func.sum(case((DisputeRow.sla_breached.is_(True), 1), else_=0)),
            )
            .where(DisputeRow.waiting.is_(True))
            .group_by(DisputeRow.status)
        )
        with self._sql.sessions() as s:
            rows = list(s.execute(query))
        by_status = dict.fromkeys(WAITING_STATUSES, 0)
        for status, n, *_ in rows:
            by_status[status] = int(n)
        return Counts(
            waiting=sum(int(r[1]) for r in rows),
            unassigned=sum(int(r[2] or 0) for r in rows),
            target_missed=sum(int(r[3] or 0) for r in rows),
            breached=sum(int(r[4] or 0) for r in rows),
            by_status=by_status,
        )

    async def workload(self, arbiter_id: str, now: datetime) -> list[Workload]:
        return await self._sql.run(self._workload, arbiter_id, now)

    def _workload(self, arbiter_id: str, now: datetime) -> list[Workload]:
        since = now - timedelta(days=WORKLOAD_DAYS)
        assigned = select(DisputeRow.arbiter_id, func.count()).where(
            DisputeRow.waiting.is_(True), DisputeRow.arbiter_id != ""
        )
        decided = select(DecisionRow.arbiter_id, DecisionRow.started_at, DecisionRow.decided_at).where(
            DecisionRow.decided_at > since
        )
        if arbiter_id:
            assigned = assigned.where(DisputeRow.arbiter_id == arbiter_id)
            decided = decided.where(DecisionRow.arbiter_id == arbiter_id)
        with self._sql.sessions() as s:
            open_by = {a: int(n) for a, n in s.execute(assigned.group_by(DisputeRow.arbiter_id))}
            times: dict[str, list[float]] = {}
            for a, began, at in s.execute(decided):
                times.setdefault(a, []).append((at - began).total_seconds())
        names = sorted({*open_by, *times} | ({arbiter_id} if arbiter_id else set()))
        return [
            Workload(
                arbiter_id=a,
                open_assigned=open_by.get(a, 0),
                decided=len(times.get(a, [])),
                median=timedelta(seconds=statistics.median(times[a])) if times.get(a) else None,
            )
            for a in names
        ]


def first_deadline(d: pb.Dispute) -> common_pb2.Deadline:
    """The dispute's first SLA deadline as it lists it (what the queue is ordered by)."""
    sla = [dl for dl in d.deadlines if dl.kind in SLA_KINDS and dl.HasField("due_at")]
    return min(
        sla,
        key=lambda dl: (_at(dl.due_at), SLA_KINDS.index(DeadlineKind(dl.kind))),
        default=common_pb2.Deadline(),
    )
