"""Async facade over the SQL store: blocking SQLAlchemy calls run in a dedicated thread pool."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from orders.v1 import orders_pb2
from sqlalchemy import case, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from order_svc import outbox
from order_svc.ledger import LedgerStore, entries_of, holds_ever, holds_of
from order_svc.rules import NewOrder, Status
from order_svc.store import (
    MIGRATIONS,
    AccountRow,
    OrderData,
    OrderEventRow,
    OrderHoldRow,
    OrderRow,
    event_row,
)
from platform_common.auth import Caller
from platform_common.errors import AlreadyExists, FailedPrecondition, NotFound
from platform_common.outbox import Page
from platform_common.paging import keyset, split_page
from platform_common.sql import SqlStore


class FreezesChanged(Exception):
    """A dispute held or released a PAID order while it was being shipped."""

    def __init__(self, pending: list[str]) -> None:
        super().__init__(f"the order's holds are now {pending}")
        self.pending = pending


class OrderRepository:
    def __init__(self, url: str, day: timedelta = timedelta(days=1)) -> None:
        """`day` is the platform's day (DP_DAY_SECONDS): the deadlines the events show."""
        self._sql = SqlStore(url, MIGRATIONS, "order-db")
        self._sessions = self._sql.sessions
        self._run = self._sql.run
        # Every timeline entry written through these sessions gets its event (the outbox).
        outbox.install(self._sessions, day)
        # Escrow movements and dispute holds: the money side of the order.
        self.ledger = LedgerStore(self._sql)

    def close(self) -> None:
        self._sql.close()

    # --- reads --------------------------------------------------------------------------------

    async def get(self, order_id: str) -> OrderRow:
        return await self._run(self._get_sync, order_id)

    def _get_sync(self, order_id: str) -> OrderRow:
        with self._sessions() as s:
            row = s.get(OrderRow, order_id)
            if row is None:
                raise NotFound(f"order {order_id} not found")
            return row

    async def data(self, order_id: str) -> OrderData:
        return await self._run(self._data_sync, order_id)

    def _data_sync(self, order_id: str) -> OrderData:
        with self._sessions() as s:
            row = s.get(OrderRow, order_id)
            if row is None:
                raise NotFound(f"order {order_id} not found")
            events = s.scalars(
                select(OrderEventRow).where(OrderEventRow.order_id == order_id).order_by(OrderEventRow.id)
            ).all()
            return OrderData(
                row,
                list(events),
                holds_of(s, order_id),
                entries_of(s, [order_id])[order_id],
                holds_ever(s, order_id),
            )

    async def page_data(self, rows: list[OrderRow]) -> list[OrderData]:
        """List views: each order with its holds and escrow entries (no timeline)."""
        return await self._run(self._page_data_sync, rows)

    def _page_data_sync(self, rows: list[OrderRow]) -> list[OrderData]:
        ids = [r.id for r in rows]
        with self._sessions() as s:
            entries = entries_of(s, ids)
            holds: dict[str, list[OrderHoldRow]] = {i: [] for i in ids}
            active = select(OrderHoldRow).where(
                OrderHoldRow.order_id.in_(ids), OrderHoldRow.released_at.is_(None)
            )
            for h in s.scalars(active):
                holds[h.order_id].append(h)
        return [OrderData(r, [], holds[r.id], entries[r.id]) for r in rows]

    async def list_orders(
        self,
        *,
        buyer_id: str,
        seller_id: str,
        status: Status | None,
        page_size: int,
        page_token: str,
    ) -> tuple[list[OrderRow], str]:
        return await self._run(self._list_sync, buyer_id, seller_id, status, page_size, page_token)

    async def count_orders(self, buyer_id: str, seller_id: str, since: datetime) -> tuple[int, int]:
        return await self._run(self._count_sync, buyer_id, seller_id, since)

    def _count_sync(self, buyer_id: str, seller_id: str, since: datetime) -> tuple[int, int]:
        """Orders since `since`, and how many of them a dispute has held: through the
        (buyer|seller, created_at) index and the holds' primary key."""
        held = exists().where(OrderHoldRow.order_id == OrderRow.id)
        q = select(func.count(), func.coalesce(func.sum(case((held, 1), else_=0)), 0))
        q = q.select_from(OrderRow).where(OrderRow.created_at >= since)
        q = q.where(OrderRow.buyer_id == buyer_id) if buyer_id else q.where(OrderRow.seller_id == seller_id)
        with self._sessions() as s:
            count, disputed = s.execute(q).one()
        return int(count), int(disputed)

    def _list_sync(
        self, buyer_id: str, seller_id: str, status: Status | None, page_size: int, page_token: str
    ) -> tuple[list[OrderRow], str]:
        q = select(OrderRow)
        q = q.where(OrderRow.buyer_id == buyer_id) if buyer_id else q.where(OrderRow.seller_id == seller_id)
        if status is not None:
            q = q.where(OrderRow.status == status.value)
        q = keyset(q, OrderRow.created_at, OrderRow.id, page_size, page_token)
        with self._sessions() as s:
            rows = list(s.scalars(q).all())
        return split_page(rows, page_size, lambda r: (r.created_at, r.id))

    async def events(
        self, audience: outbox.Audience, after: int, *, order_id: str, types: list[str], limit: int
    ) -> Page[orders_pb2.OrderEvent]:
        return await self._run(self._events_sync, audience, after, order_id, types, limit)

    def _events_sync(
        self, audience: outbox.Audience, after: int, order_id: str, types: list[str], limit: int
    ) -> Page[orders_pb2.OrderEvent]:
        with self._sessions() as s:
            return outbox.read(s, audience, after, order_id=order_id, types=types, limit=limit)

    async def head(self) -> int:
        return await self._run(self._head_sync)

    def _head_sync(self) -> int:
        with self._sessions() as s:
            return outbox.head(s)

    # --- writes -------------------------------------------------------------------------------

    async def create(self, new: NewOrder, now: datetime, actor: Caller) -> OrderRow:
        return await self._sql.write(self._create_sync, new, now, actor)

    def _create_sync(self, new: NewOrder, now: datetime, actor: Caller) -> OrderRow:
        with self._sessions() as s:
            existing = s.scalar(select(OrderRow).where(OrderRow.request_id == new.request_id))
            if existing is None:
                row = OrderRow(
                    id=str(uuid.uuid4()),
                    request_id=new.request_id,
                    request_fingerprint=new.fingerprint,
                    buyer_id=new.buyer_id,
                    seller_id=new.seller_id,
                    total_minor=new.total_minor,
                    currency=new.currency,
                    items=new.items,
                    payment_method_type=new.payment_method_type,
                    payment_reference=new.payment_reference,
                    status=Status.PAID.value,
                    escrow_status="HELD",
                    escrow_released_minor=0,
                    handling_days=new.handling_days,
                    protection_days=new.protection_days,
                    extended_days=0,
                    protection_frozen=False,
                    protection_remaining_s=0,
                    protection_revision=0,
                    created_at=now,
                    updated_at=now,
                )
                try:
                    s.add(row)
                    s.flush()  # the order row first: events reference it
                    s.add(
                        _event(
                            row.id,
                            now,
                            actor,
                            "ORDER_CREATED",
                            f"paid {new.total_minor} {new.currency} minor units",
                        )
                    )
                    s.commit()
                    return row
                except IntegrityError:
                    s.rollback()  # a concurrent request with the same request_id won the insert
                    existing = s.scalar(select(OrderRow).where(OrderRow.request_id == new.request_id))
                    if existing is None:
                        raise
            if existing.request_fingerprint != new.fingerprint:
                raise AlreadyExists(
                    f"request_id {new.request_id!r} was already used for order {existing.id} "
                    "with different content"
                )
            return existing

    async def transition(
        self,
        order_id: str,
        allowed: Iterable[Status],
        values: dict[str, Any],
        event: tuple[datetime, Caller, str, str],
        refuse: Callable[[OrderRow], Exception],
    ) -> OrderRow:
        """Apply `values` only if the order is in one of `allowed` statuses, atomically."""
        allowed_values = [s.value for s in allowed]
        return await self._sql.write(self._apply, order_id, allowed_values, values, event, refuse)

    def _apply(
        self,
        order_id: str,
        allowed: list[str],
        values: dict[str, Any],
        event: tuple[datetime, Caller, str, str],
        refuse: Callable[[OrderRow], Exception],
    ) -> OrderRow:
        at, actor, action, detail = event
        with self._sessions() as s:
            result = s.execute(
                update(OrderRow)
                .where(OrderRow.id == order_id, OrderRow.status.in_(allowed))
                .values(**values, updated_at=at)
                .execution_options(synchronize_session=False)
            )
            row = s.get(OrderRow, order_id, populate_existing=True)
            if row is None:
                raise NotFound(f"order {order_id} not found")
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise refuse(row)
            s.add(_event(order_id, at, actor, action, detail))
            s.commit()
            return row

    async def ship(
        self,
        order_id: str,
        pending: list[str],
        values: dict[str, Any],
        event: tuple[datetime, Caller, str, str],
    ) -> OrderRow:
        """PAID -> SHIPPED with `values` (the clock as started included), only if the disputes
        holding the order are still `pending`, the ones the clock was started frozen by.

        Raises FailedPrecondition when the order is no longer PAID, and FreezesChanged when a
        dispute held or released the order meanwhile (the clock must catch up first).
        """
        return await self._sql.write(self._ship_sync, order_id, pending, values, event)

    def _ship_sync(
        self,
        order_id: str,
        pending: list[str],
        values: dict[str, Any],
        event: tuple[datetime, Caller, str, str],
    ) -> OrderRow:
        at, actor, action, detail = event
        with self._sessions() as s:
            row = s.get(OrderRow, order_id, with_for_update=True)  # serializes with holds
            if row is None:
                raise NotFound(f"order {order_id} not found")
            if row.status != Status.PAID.value:
                raise FailedPrecondition(f"order {row.id} is {row.status}; only PAID orders can be shipped")
            held = [h.dispute_id for h in holds_of(s, order_id)]
            if sorted(held) != sorted(pending):
                raise FreezesChanged(held)
            changes = _clock_changes(row.protection_frozen, row.extended_days, values)
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = at
            for entry in [(action, detail), *changes]:
                s.add(_event(order_id, at, actor, *entry))
            s.commit()
            return row

    async def record_protection(
        self, order_id: str, revision: int, values: dict[str, Any], at: datetime, actor: Caller
    ) -> OrderRow:
        """Store the workflow's clock if `revision` is newer; stale or repeated writes are no-ops."""
        return await self._sql.write(self._record_protection_sync, order_id, revision, values, at, actor)

    def _record_protection_sync(
        self, order_id: str, revision: int, values: dict[str, Any], at: datetime, actor: Caller
    ) -> OrderRow:
        with self._sessions() as s:
            before = s.get(OrderRow, order_id, with_for_update=True)  # serializes timeline events
            if before is None:
                raise NotFound(f"order {order_id} not found")
            was_frozen, was_extended = before.protection_frozen, before.extended_days
            result = s.execute(
                update(OrderRow)
                .where(OrderRow.id == order_id, OrderRow.protection_revision < revision)
                .values(**values, protection_revision=revision, updated_at=at)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount:  # type: ignore[attr-defined]
                for action, detail in _clock_changes(was_frozen, was_extended, values):
                    s.add(_event(order_id, at, actor, action, detail))
            s.commit()
            row = s.get(OrderRow, order_id, populate_existing=True)
            assert row is not None
            return row

    # --- accounts -----------------------------------------------------------------------------

    async def get_account(self, account_id: str) -> AccountRow | None:
        return await self._run(self._get_account_sync, account_id)

    def _get_account_sync(self, account_id: str) -> AccountRow | None:
        with self._sessions() as s:
            return s.get(AccountRow, account_id)

    async def set_account(
        self, account_id: str, blocked: bool, reason: str, at: datetime, actor: Caller
    ) -> AccountRow:
        """Upsert an account's flag. Setting the stored state again writes nothing, so a retried
        call returns the same row (updated_at included)."""
        return await self._sql.write(self._set_account_sync, account_id, blocked, reason, at, actor)

    def _set_account_sync(
        self, account_id: str, blocked: bool, reason: str, at: datetime, actor: Caller
    ) -> AccountRow:
        with self._sessions() as s:
            row = s.get(AccountRow, account_id, with_for_update=True)
            if row is None:
                row = AccountRow(
                    account_id=account_id, blocked=blocked, reason=reason, updated_at=at, updated_by=actor.id
                )
                try:
                    s.add(row)
                    s.commit()
                    return row
                except IntegrityError:
                    s.rollback()  # a concurrent first write won the insert: apply ours over it
                    row = s.get(AccountRow, account_id, with_for_update=True, populate_existing=True)
                    if row is None:
                        raise
            if (row.blocked, row.reason) != (blocked, reason):
                row.blocked, row.reason, row.updated_at, row.updated_by = blocked, reason, at, actor.id
                s.commit()
            return row


def _clock_changes(was_frozen: bool, was_extended: int, values: dict[str, Any]) -> list[tuple[str, str]]:
    """Timeline entries for what a protection-clock update changed."""
    changes: list[tuple[str, str]] = []
    expires = values["protection_expires_at"]
    if values["extended_days"] > was_extended:
        added = values["extended_days"] - was_extended
        until = f"now ends {expires.isoformat()}" if expires else "clock frozen"
        changes.append(("PROTECTION_EXTENDED", f"+{added} days; {until}"))
    if values["protection_frozen"] and not was_frozen:
        changes.append(
            ("PROTECTION_FROZEN", f"{values['protection_remaining_s']} s left, paused by a dispute")
        )
    if was_frozen and not values["protection_frozen"]:
        changes.append(("PROTECTION_RESUMED", f"now ends {expires.isoformat()}"))
    return changes


def _event(order_id: str, at: datetime, actor: Caller, action: str, detail: str) -> OrderEventRow:
    return event_row(order_id, at, actor.id, actor.role.value, action, detail)


def precondition(message: str) -> Callable[[OrderRow], Exception]:
    return lambda row: FailedPrecondition(message.format(status=row.status, id=row.id))
