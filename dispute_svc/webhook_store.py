"""Webhook subscriptions in DisputeService's store: who is sent what, and how far deliveries got.

The delivery state lives here, not in the delivery workflow: the cursor advances in the same
place the events are read from, after each 2xx, so a crash anywhere re-sends at most the event
in flight (at least once), and a replay or a deletion is one row update that the next delivery
sees. The lease makes deliveries of one subscription one at a time even when an activity
attempt that timed out is still running, so events never overtake each other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from disputes.v1 import disputes_pb2 as pb
from sqlalchemy import delete, select

from dispute_svc import outbox
from dispute_svc.store import ACTIVE, DISABLED, WebhookRow
from platform_common.enums import to_proto
from platform_common.errors import AlreadyExists, ResourceExhausted
from platform_common.sql import SqlStore
from platform_common.timestamps import to_timestamp

# Subscriptions one service identity may hold.
MAX_PER_OWNER = 20


@dataclass(frozen=True)
class Target:
    """What one delivery needs: where, how to sign, which events, from where."""

    subscription_id: str
    url: str
    secret: str
    types: list[str]
    cursor: int
    # The order feed's position (-1: not started, take its head).
    order_cursor: int


def view(row: WebhookRow) -> pb.WebhookSubscription:
    return pb.WebhookSubscription(
        subscription_id=row.subscription_id,
        owner=row.owner,
        url=row.url,
        event_types=row.types.split(),
        status=to_proto(pb.WebhookStatus, row.status),
        disabled_reason=row.disabled_reason,
        delivered_cursor=row.cursor,
        order_delivered_cursor=row.order_cursor,
        delivered_count=row.delivered,
        failing_since=to_timestamp(row.failing_since) if row.failing_since else None,
        last_error=row.last_error,
        last_attempt_at=to_timestamp(row.last_attempt_at) if row.last_attempt_at else None,
        created_at=to_timestamp(row.created_at),
    )


class WebhookStore:
    def __init__(self, sql: SqlStore) -> None:
        self._sql = sql

    async def create(
        self,
        owner: str,
        request_id: str,
        url: str,
        types: list[str],
        secret: str,
        after: int | None,
        order_after: int,
        now: datetime,
    ) -> tuple[pb.WebhookSubscription, str]:
        """The new subscription and its secret; for a retried request_id, the one it made.
        `after`: the dispute feed's start (None: its head); `order_after`: the order feed's."""
        return await self._sql.write(
            self._create, owner, request_id, url, types, secret, after, order_after, now
        )

    def _create(
        self,
        owner: str,
        request_id: str,
        url: str,
        types: list[str],
        secret: str,
        after: int | None,
        order_after: int,
        now: datetime,
    ) -> tuple[pb.WebhookSubscription, str]:
        with self._sql.sessions.begin() as s:
            if request_id:
                made = s.scalars(
                    select(WebhookRow).where(WebhookRow.owner == owner, WebhookRow.request_id == request_id)
                ).first()
                if made is not None:
                    if made.url != url or made.types != " ".join(types):
                        raise AlreadyExists(
                            f"request_id {request_id!r} was already used for another subscription"
                        )
                    return view(made), made.secret
            held = s.scalars(select(WebhookRow.subscription_id).where(WebhookRow.owner == owner)).all()
            if len(held) >= MAX_PER_OWNER:
                raise ResourceExhausted(
                    f"at most {MAX_PER_OWNER} webhook subscriptions per service; delete one"
                )
            row = WebhookRow(
                subscription_id=str(uuid.uuid4()),
                owner=owner,
                url=url,
                types=" ".join(types),
                secret=secret,
                status=ACTIVE,
                disabled_reason="",
                cursor=outbox.head(s) if after is None else after,
                order_cursor=order_after,
                delivered=0,
                last_error="",
                created_at=now,
                lease_token="",
                request_id=request_id or None,
            )
            s.add(row)
            return view(row), secret

    async def made(self, owner: str, request_id: str) -> bool:
        """Whether `owner` already made a subscription with this request_id (a retry)."""
        return await self._sql.run(self._made, owner, request_id)

    def _made(self, owner: str, request_id: str) -> bool:
        with self._sql.sessions() as s:
            query = select(WebhookRow.subscription_id).where(
                WebhookRow.owner == owner, WebhookRow.request_id == request_id
            )
            return s.scalars(query).first() is not None

    async def active(self) -> list[str]:
        """Every subscription that should have a delivery workflow running."""
        return await self._sql.run(self._active)

    def _active(self) -> list[str]:
        with self._sql.sessions() as s:
            return list(
                s.scalars(select(WebhookRow.subscription_id).where(WebhookRow.status == ACTIVE)).all()
            )

    async def owned(self, owner: str) -> list[pb.WebhookSubscription]:
        return await self._sql.run(self._owned, owner)

    def _owned(self, owner: str) -> list[pb.WebhookSubscription]:
        with self._sql.sessions() as s:
            rows = s.scalars(
                select(WebhookRow).where(WebhookRow.owner == owner).order_by(WebhookRow.created_at)
            ).all()
            return [view(r) for r in rows]

    async def get(self, subscription_id: str) -> pb.WebhookSubscription | None:
        return await self._sql.run(self._get, subscription_id)

    def _get(self, subscription_id: str) -> pb.WebhookSubscription | None:
        with self._sql.sessions() as s:
            row = s.get(WebhookRow, subscription_id)
            return None if row is None else view(row)

    async def delete(self, subscription_id: str) -> None:
        await self._sql.write(self._delete, subscription_id)

    def _delete(self, subscription_id: str) -> None:
        with self._sql.sessions.begin() as s:
            s.execute(delete(WebhookRow).where(WebhookRow.subscription_id == subscription_id))

    async def replay(
        self, subscription_id: str, after: int, order_after: int | None
    ) -> pb.WebhookSubscription | None:
        """Deliver again from `after` (and from `order_after` on the order feed, if given)."""
        return await self._sql.write(self._replay, subscription_id, after, order_after)

    def _replay(
        self, subscription_id: str, after: int, order_after: int | None
    ) -> pb.WebhookSubscription | None:
        with self._sql.sessions.begin() as s:
            row = s.get(WebhookRow, subscription_id, with_for_update=not self._sql.is_sqlite)
            if row is None:
                return None
            if order_after is not None:
                row.order_cursor = order_after
            row.cursor, row.status, row.disabled_reason = after, ACTIVE, ""
            row.failing_since, row.last_error = None, ""
            # A delivery in flight loses its lease: it stops instead of moving the cursor on.
            row.lease_token, row.lease_until = "", None
            return view(row)

    async def disable(self, subscription_id: str, reason: str, failing_since: datetime | None) -> bool:
        """Disable a subscription that is still failing since `failing_since`; False if it was
        replayed (which clears that), deleted or disabled meanwhile."""
        return await self._sql.write(self._disable, subscription_id, reason, failing_since)

    def _disable(self, subscription_id: str, reason: str, failing_since: datetime | None) -> bool:
        with self._sql.sessions.begin() as s:
            row = s.get(WebhookRow, subscription_id, with_for_update=not self._sql.is_sqlite)
            if row is None or row.status != ACTIVE or row.failing_since is None:
                return False
            if failing_since is not None and row.failing_since != failing_since:
                return False
            row.status, row.disabled_reason = DISABLED, reason[:1024]
            row.lease_token, row.lease_until = "", None
            return True

    # --- one delivery ----------------------------------------------------------------------

    async def lease(self, subscription_id: str, token: str, now: datetime, hold: timedelta) -> Target | str:
        """Take the subscription for one delivery: its target, or why not ("GONE", "BUSY")."""
        return await self._sql.write(self._lease, subscription_id, token, now, hold)

    def _lease(self, subscription_id: str, token: str, now: datetime, hold: timedelta) -> Target | str:
        with self._sql.sessions.begin() as s:
            row = s.get(WebhookRow, subscription_id, with_for_update=not self._sql.is_sqlite)
            if row is None or row.status != ACTIVE:
                return "GONE"
            if row.lease_until is not None and row.lease_until > now and row.lease_token != token:
                return "BUSY"
            row.lease_token, row.lease_until, row.last_attempt_at = token, now + hold, now
            return Target(
                row.subscription_id, row.url, row.secret, row.types.split(), row.cursor, row.order_cursor
            )

    async def advance(
        self,
        subscription_id: str,
        token: str,
        cursor: int,
        order_cursor: int,
        delivered: int,
        hold_until: datetime,
    ) -> bool:
        """Deliveries reached `cursor` and `order_cursor` on the two feeds (`delivered` more
        events got a 2xx), and the lease is held
        until `hold_until`. False if the lease was lost (deleted, replayed, disabled, or taken over
        after it lapsed): the delivery stops. A holder that dies lets its lease lapse within
        seconds, since every step renews it only a little ahead."""
        return await self._sql.write(
            self._advance, subscription_id, token, cursor, order_cursor, delivered, hold_until
        )

    def _advance(
        self,
        subscription_id: str,
        token: str,
        cursor: int,
        order_cursor: int,
        delivered: int,
        hold_until: datetime,
    ) -> bool:
        with self._sql.sessions.begin() as s:
            row = s.get(WebhookRow, subscription_id, with_for_update=not self._sql.is_sqlite)
            if row is None or row.lease_token != token or row.status != ACTIVE:
                return False
            row.cursor = max(row.cursor, cursor)
            row.order_cursor = max(row.order_cursor, order_cursor)
            row.delivered += delivered
            row.lease_until = hold_until
            if delivered:
                row.failing_since, row.last_error = None, ""
            return True

    async def release(
        self, subscription_id: str, token: str, error: str | None, now: datetime
    ) -> datetime | None:
        """End the delivery. An error: the subscription is failing (since when: returned); ""
        it is not; None (the call was cut short) says nothing about the receiver."""
        return await self._sql.write(self._release, subscription_id, token, error, now)

    def _release(self, subscription_id: str, token: str, error: str | None, now: datetime) -> datetime | None:
        with self._sql.sessions.begin() as s:
            row = s.get(WebhookRow, subscription_id, with_for_update=not self._sql.is_sqlite)
            if row is None or row.lease_token != token:
                return None
            row.lease_token, row.lease_until = "", None
            if error:
                row.failing_since = row.failing_since or now
                row.last_error = error[:1024]
            elif error == "":
                row.failing_since, row.last_error = None, ""
            return row.failing_since
