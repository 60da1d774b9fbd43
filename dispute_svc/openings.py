"""The openings register: one row per dispute opened, with its life cycle (dispute_svc/store.py
OpeningRow). Every transition is one conditional UPDATE on the row's state and token, so
concurrent OpenDispute calls, the reconciler and several DisputeService replicas agree on who
may start, settle or abandon an opening; a call that lost its opening changes nothing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from dispute_svc.store import ABANDONED, ABANDONING, OPENING, STARTED, DisputeRow, OpeningRow
from platform_common.sql import SqlStore


class OpeningRaced(Exception):
    """Another call recorded or changed the opening first: look again."""


def new_token(previous: str = "") -> str:
    """A token for an opening's incarnation, "g<generation>.<random>": OrderService lets a newer
    incarnation take a hold over, never an older one (order_svc/ledger.py `generation`)."""
    head = previous.partition(".")[0]
    generation = int(head[1:]) + 1 if head[:1] == "g" and head[1:].isdigit() else 1
    return f"g{generation}.{secrets.token_hex(12)}"


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
    settle_after: datetime | None = None

    def in_flight(self, now: datetime) -> bool:
        """An OpenDispute call is in the opening, within its lease."""
        return (
            self.state == OPENING
            and self.inflight > 0
            and self.lease_until is not None
            and self.lease_until > now
        )


# No call in the opening and nothing to wait for.
_IDLE: dict[str, object] = {"inflight": 0, "lease_until": None, "settle_after": None}


def _settleable(now: datetime) -> ColumnElement[bool]:
    return or_(OpeningRow.settle_after.is_(None), OpeningRow.settle_after < now)


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
        """Every opening of the order, oldest first (ABANDONING ones included: until settled,
        nobody can say they never started)."""
        return await self._sql.run(self._order_history, order_id)

    def _order_history(self, order_id: str) -> list[PastDispute]:
        with self._sql.sessions() as s:
            rows = s.execute(
                select(OpeningRow, DisputeRow.status, DisputeRow.resolution)
                .outerjoin(DisputeRow, DisputeRow.dispute_id == OpeningRow.dispute_id)
                .where(OpeningRow.order_id == order_id, OpeningRow.state != ABANDONED)
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
                    o.settle_after,
                )
                for o, status, resolution in rows
            ]

    async def opened_by(self, buyer_id: str, since: datetime, besides: str) -> int:
        return await self._sql.run(self._opened_by, buyer_id, since, besides)

    def _opened_by(self, buyer_id: str, since: datetime, besides: str) -> int:
        """The buyer's openings since `since` that started or are starting, other than
        `besides`: written before OpenDispute answers, so quick openings in a row each see the
        ones before them (the read model records a dispute only after its workflow has run).
        Through the (buyer_id, created_at) index."""
        query = select(func.count()).where(
            OpeningRow.buyer_id == buyer_id,
            OpeningRow.created_at >= since,
            OpeningRow.state.in_((OPENING, STARTED)),
            OpeningRow.dispute_id != besides,
        )
        with self._sql.sessions() as s:
            return int(s.execute(query).scalar_one())

    async def add(self, row: OpeningRow) -> None:
        await self._sql.write(self._add, row)

    def _add(self, row: OpeningRow) -> None:
        try:
            with self._sql.sessions.begin() as s:
                s.add(row)
        except IntegrityError:
            raise OpeningRaced() from None

    async def revive(
        self, dispute_id: str, previous: str, attempt: int, token: str, lease_until: datetime, now: datetime
    ) -> OpeningRow:
        """An abandoned opening of the same request (token `previous`) becomes a new incarnation,
        accepted now."""
        return await self._sql.write(self._revive, dispute_id, previous, attempt, token, lease_until, now)

    def _revive(
        self, dispute_id: str, previous: str, attempt: int, token: str, lease_until: datetime, now: datetime
    ) -> OpeningRow:
        try:
            with self._sql.sessions.begin() as s:
                result = s.execute(
                    update(OpeningRow)
                    .where(
                        OpeningRow.dispute_id == dispute_id,
                        OpeningRow.state == ABANDONED,
                        OpeningRow.token == previous,
                    )
                    .values(
                        state=OPENING,
                        attempt=attempt,
                        token=token,
                        inflight=1,
                        lease_until=lease_until,
                        created_at=now,
                    )
                )
                row = s.get(OpeningRow, dispute_id) if _changed(result) else None
                if row is None:
                    raise OpeningRaced()
                return row
        except IntegrityError:
            raise OpeningRaced() from None

    async def enter(self, dispute_id: str, lease_until: datetime, now: datetime) -> OpeningRow | None:
        """Join an opening in progress (a retry of the same request): one more call in flight,
        the lease extended. Joining an opening no call is in any more accepts it anew (its
        deadlines run from now). None if it is no longer OPENING."""
        return await self._sql.write(self._enter, dispute_id, lease_until, now)

    def _enter(self, dispute_id: str, lease_until: datetime, now: datetime) -> OpeningRow | None:
        with self._sql.sessions.begin() as s:
            result = s.execute(
                update(OpeningRow)
                .where(OpeningRow.dispute_id == dispute_id, OpeningRow.state == OPENING)
                .values(
                    inflight=OpeningRow.inflight + 1,
                    lease_until=lease_until,
                    created_at=case((OpeningRow.inflight == 0, now), else_=OpeningRow.created_at),
                )
            )
            return s.get(OpeningRow, dispute_id) if _changed(result) else None

    async def _transition(
        self, dispute_id: str, token: str, states: tuple[str, ...], values: dict[str, object], *when: object
    ) -> bool:
        """The one shape of every change to an opening: a conditional UPDATE on its id, state and
        token (plus `when`); False if the opening moved on meanwhile."""
        return await self._sql.write(self._transition_sync, dispute_id, token, states, values, when)

    def _transition_sync(
        self,
        dispute_id: str,
        token: str,
        states: tuple[str, ...],
        values: dict[str, object],
        when: tuple[Any, ...],
    ) -> bool:
        with self._sql.sessions.begin() as s:
            result = s.execute(
                update(OpeningRow)
                .where(
                    OpeningRow.dispute_id == dispute_id,
                    OpeningRow.state.in_(states),
                    OpeningRow.token == token,
                    *when,
                )
                .values(values)
            )
            return _changed(result)

    async def refresh(self, dispute_id: str, token: str, lease_until: datetime) -> bool:
        """Extend the lease right before acting on the opening; False if the call lost it."""
        return await self._transition(dispute_id, token, (OPENING,), {"lease_until": lease_until})

    async def leave(self, dispute_id: str, token: str, settle_after: datetime | None = None) -> None:
        """A call that failed leaves its opening (only its own incarnation's). `settle_after`:
        the call sent the start and does not know whether it arrived (a timeout, a cancelled
        call): Temporal may still be committing it, so nobody may settle the opening before."""
        values: dict[str, object] = {"inflight": OpeningRow.inflight - 1}
        if settle_after is not None:
            later = or_(OpeningRow.settle_after.is_(None), OpeningRow.settle_after < settle_after)
            values["settle_after"] = case((later, settle_after), else_=OpeningRow.settle_after)
        await self._transition(dispute_id, token, (OPENING,), values, OpeningRow.inflight > 0)

    async def mark_started(self, dispute_id: str, token: str) -> None:
        """The workflow exists: the opening (this incarnation, opening or being settled) started."""
        await self._transition(dispute_id, token, (OPENING, ABANDONING), {"state": STARTED, **_IDLE})

    async def claim(self, dispute_id: str, token: str, now: datetime) -> bool:
        """Take an opening nobody is in any more (no call in flight, or their lease ran out) to
        settle it: ABANDONING until Temporal says whether its workflow started. New openings on
        the order wait meanwhile, so no second dispute can open on a first one that did start."""
        nobody_in = or_(
            OpeningRow.inflight == 0, OpeningRow.lease_until.is_(None), OpeningRow.lease_until < now
        )
        values = {"state": ABANDONING, "inflight": 0, "lease_until": None}
        return await self._transition(dispute_id, token, (OPENING,), values, nobody_in, _settleable(now))

    async def defer(self, dispute_id: str, token: str, until: datetime) -> None:
        """Settling failed (Temporal or OrderService down): the reconciler tries again after `until`."""
        await self._transition(dispute_id, token, (ABANDONING,), {"lease_until": until})

    async def finish_abandon(self, dispute_id: str, token: str) -> None:
        """The workflow never started and the order's hold is gone: the opening is ABANDONED and
        gives its attempt number back."""
        await self._transition(
            dispute_id, token, (ABANDONING,), {"state": ABANDONED, "attempt": None, **_IDLE}
        )

    async def unresolved(self, now: datetime) -> list[OpeningRow]:
        """Openings nobody works on: OPENING with no call in it (or past its lease), or
        ABANDONING and not deferred; oldest first."""
        return await self._sql.run(self._unresolved, now)

    def _unresolved(self, now: datetime) -> list[OpeningRow]:
        free = or_(OpeningRow.lease_until.is_(None), OpeningRow.lease_until < now)
        stale = and_(OpeningRow.state == OPENING, or_(OpeningRow.inflight == 0, free), _settleable(now))
        settling = and_(OpeningRow.state == ABANDONING, free)
        with self._sql.sessions() as s:
            query = select(OpeningRow).where(or_(stale, settling)).order_by(OpeningRow.created_at)
            return list(s.scalars(query.limit(100)))
