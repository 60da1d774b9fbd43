"""The openings register: one row per dispute opened, with its life cycle (dispute_svc/store.py
OpeningRow). Every transition is one conditional UPDATE, so concurrent OpenDispute calls, the
reconciler and several DisputeService replicas agree on who may start or abandon an opening."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from dispute_svc.store import ABANDONING, OPENING, STARTED, DisputeRow, OpeningRow
from platform_common.sql import SqlStore


class OpeningRaced(Exception):
    """Another call recorded an opening first (this very request, or another one on the order)."""


@dataclass(frozen=True)
class PastDispute:
    """One dispute of an order as far as opening rules care. `status` is "" until the workflow's
    first record reaches the read model (a moment after opening)."""

    dispute_id: str
    attempt: int
    created_at: datetime
    status: str
    resolution: str
    state: str = STARTED
    lease_until: datetime | None = None
    buyer_id: str = ""
    request_id: str = ""
    token: str = ""
    inflight: int = 0

    def being_opened(self, now: datetime) -> bool:
        """An OpenDispute call is starting it right now (a call is in it, within its lease).
        An opening nobody is in any more is not: it is settled (started or abandoned) at once."""
        return (
            self.state == OPENING
            and self.inflight > 0
            and self.lease_until is not None
            and self.lease_until > now
        )


def _changed(result: object) -> bool:
    return bool(getattr(result, "rowcount", 0))


class Openings:
    def __init__(self, sql: SqlStore) -> None:
        self._sql = sql

    async def by_request(self, buyer_id: str, request_id: str) -> OpeningRow | None:
        return await self._sql.run(self._by_request, buyer_id, request_id)

    def _by_request(self, buyer_id: str, request_id: str) -> OpeningRow | None:
        with self._sql.sessions() as s:
            return s.scalar(
                select(OpeningRow).where(OpeningRow.buyer_id == buyer_id, OpeningRow.request_id == request_id)
            )

    async def order_history(self, order_id: str) -> list[PastDispute]:
        """The order's disputes that count (abandoned openings do not), oldest first."""
        return await self._sql.run(self._order_history, order_id)

    def _order_history(self, order_id: str) -> list[PastDispute]:
        with self._sql.sessions() as s:
            rows = s.execute(
                select(OpeningRow, DisputeRow.status, DisputeRow.resolution)
                .outerjoin(DisputeRow, DisputeRow.dispute_id == OpeningRow.dispute_id)
                .where(OpeningRow.order_id == order_id, OpeningRow.state != ABANDONING)
                .order_by(OpeningRow.attempt)
            ).all()
            return [
                PastDispute(
                    o.dispute_id,
                    o.attempt or 0,
                    o.created_at,
                    status or "",
                    resolution or "",
                    o.state,
                    o.lease_until,
                    o.buyer_id,
                    o.request_id,
                    o.token,
                    o.inflight,
                )
                for o, status, resolution in rows
            ]

    async def add(self, row: OpeningRow) -> None:
        await self._sql.write(self._add, row)

    def _add(self, row: OpeningRow) -> None:
        try:
            with self._sql.sessions.begin() as s:
                s.add(row)
        except IntegrityError:
            raise OpeningRaced() from None

    async def revive(self, dispute_id: str, attempt: int, token: str, lease_until: datetime) -> None:
        """An abandoned opening of the same request becomes a new opening attempt."""
        await self._sql.write(self._revive, dispute_id, attempt, token, lease_until)

    def _revive(self, dispute_id: str, attempt: int, token: str, lease_until: datetime) -> None:
        try:
            with self._sql.sessions.begin() as s:
                result = s.execute(
                    update(OpeningRow)
                    .where(OpeningRow.dispute_id == dispute_id, OpeningRow.state == ABANDONING)
                    .values(state=OPENING, attempt=attempt, token=token, inflight=1, lease_until=lease_until)
                )
                if not _changed(result):
                    raise OpeningRaced()
        except IntegrityError:
            raise OpeningRaced() from None

    async def enter(self, dispute_id: str, lease_until: datetime) -> OpeningRow | None:
        """Join an opening in progress (a retry of the same request): one more call in flight,
        the lease extended. None if it is no longer OPENING."""
        return await self._sql.write(self._enter, dispute_id, lease_until)

    def _enter(self, dispute_id: str, lease_until: datetime) -> OpeningRow | None:
        with self._sql.sessions.begin() as s:
            result = s.execute(
                update(OpeningRow)
                .where(OpeningRow.dispute_id == dispute_id, OpeningRow.state == OPENING)
                .values(inflight=OpeningRow.inflight + 1, lease_until=lease_until)
            )
            return s.get(OpeningRow, dispute_id) if _changed(result) else None

    async def refresh(self, dispute_id: str, token: str, lease_until: datetime) -> bool:
        """Extend the lease right before starting the workflow; False if the opening was taken
        from this call (abandoned after its lease ran out)."""
        return await self._sql.write(self._refresh, dispute_id, token, lease_until)

    def _refresh(self, dispute_id: str, token: str, lease_until: datetime) -> bool:
        with self._sql.sessions.begin() as s:
            result = s.execute(
                update(OpeningRow)
                .where(
                    OpeningRow.dispute_id == dispute_id,
                    OpeningRow.state == OPENING,
                    OpeningRow.token == token,
                )
                .values(lease_until=lease_until)
            )
            return _changed(result)

    async def leave(self, dispute_id: str) -> None:
        """A call that failed leaves the opening; the last one out may abandon it."""
        await self._sql.write(self._leave, dispute_id)

    def _leave(self, dispute_id: str) -> None:
        with self._sql.sessions.begin() as s:
            s.execute(
                update(OpeningRow)
                .where(
                    OpeningRow.dispute_id == dispute_id, OpeningRow.state == OPENING, OpeningRow.inflight > 0
                )
                .values(inflight=OpeningRow.inflight - 1)
            )

    async def mark_started(self, dispute_id: str) -> None:
        await self._sql.write(self._mark_started, dispute_id)

    def _mark_started(self, dispute_id: str) -> None:
        with self._sql.sessions.begin() as s:
            s.execute(
                update(OpeningRow)
                .where(OpeningRow.dispute_id == dispute_id, OpeningRow.state == OPENING)
                .values(state=STARTED, inflight=0, lease_until=None)
            )

    async def begin_abandon(self, dispute_id: str, token: str, now: datetime) -> bool:
        """Claim an opening for abandonment: only if no call is in flight (or their lease has run
        out) and nobody revived it since. Its attempt number is given back at once."""
        return await self._sql.write(self._begin_abandon, dispute_id, token, now)

    def _begin_abandon(self, dispute_id: str, token: str, now: datetime) -> bool:
        idle = or_(OpeningRow.inflight == 0, OpeningRow.lease_until.is_(None), OpeningRow.lease_until < now)
        with self._sql.sessions.begin() as s:
            result = s.execute(
                update(OpeningRow)
                .where(
                    OpeningRow.dispute_id == dispute_id,
                    OpeningRow.state == OPENING,
                    OpeningRow.token == token,
                    idle,
                )
                .values(state=ABANDONING, attempt=None, inflight=0, lease_until=None)
            )
            return _changed(result)

    async def finish_abandon(self, dispute_id: str, token: str) -> None:
        """The order's hold is gone: forget the opening."""
        await self._sql.write(self._finish_abandon, dispute_id, token)

    def _finish_abandon(self, dispute_id: str, token: str) -> None:
        with self._sql.sessions.begin() as s:
            s.execute(
                delete(OpeningRow).where(
                    OpeningRow.dispute_id == dispute_id,
                    OpeningRow.state == ABANDONING,
                    OpeningRow.token == token,
                )
            )

    async def unresolved(self, now: datetime) -> list[OpeningRow]:
        """Openings nobody is working on: OPENING past its lease, or ABANDONING."""
        return await self._sql.run(self._unresolved, now)

    def _unresolved(self, now: datetime) -> list[OpeningRow]:
        stale = and_(
            OpeningRow.state == OPENING,
            or_(OpeningRow.lease_until.is_(None), OpeningRow.lease_until < now),
        )
        with self._sql.sessions() as s:
            query = select(OpeningRow).where(or_(stale, OpeningRow.state == ABANDONING))
            return list(s.scalars(query.limit(100)))
