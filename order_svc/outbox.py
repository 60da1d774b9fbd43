"""The order events outbox: every entry of an order's timeline becomes one event, written in the
transaction that writes the entry, and read back by cursor for ListOrderEvents, WatchOrderEvents
and the webhook deliveries.

Why a session hook and not a call beside each timeline write: every writer of the order's
store adds OrderEventRow entries (repository.py, ledger.py), and the hook sees each of them at
flush, then writes their events just before the same transaction commits, with the order as
it stands at that moment. An entry cannot be written without its event, nor an event without
its entry, and a transaction that rolls back leaves neither.

A per-order `seq` comes from the order's row (locked by every writer: FOR UPDATE or the update
itself), the global cursor from the one counter row (platform_common/outbox.py), taken last so
the lock order is always the order first, then the counter.

Runs inside OrderRepository's blocking sessions (no asyncio here).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from orders.v1 import orders_pb2
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from order_svc.events import type_of
from order_svc.ledger import entries_of, holds_of
from order_svc.store import OrderData, OrderEventCursorRow, OrderEventRow, OrderOutboxRow, OrderRow
from order_svc.views import order_to_proto, timeline_entry
from platform_common import outbox
from platform_common.outbox import Page
from platform_common.timestamps import to_timestamp

_STAGED = "order_outbox.staged"


@dataclass(frozen=True)
class Audience:
    """Whose events a reader may see: a buyer's or seller's own orders; services all."""

    buyer_id: str = ""
    seller_id: str = ""


def install(sessions: sessionmaker[Session], day: timedelta) -> None:
    """Make every session of the order store write the outbox with its timeline entries."""

    def stage(s: Session, *_: Any) -> None:
        s.info.setdefault(_STAGED, []).extend(o for o in s.new if isinstance(o, OrderEventRow))

    def write(s: Session) -> None:
        s.flush()  # stages what is still pending, and gives every entry its id (insert order)
        staged: list[OrderEventRow] = s.info.pop(_STAGED, [])
        if staged:
            _write(s, sorted(staged, key=lambda e: e.id), day)

    def forget(s: Session, *_: Any) -> None:
        s.info.pop(_STAGED, None)

    event.listen(sessions, "before_flush", stage)
    event.listen(sessions, "before_commit", write)
    event.listen(sessions, "after_rollback", forget)


def _write(s: Session, entries: list[OrderEventRow], day: timedelta) -> None:
    now = datetime.now(UTC)
    per_order: dict[str, list[OrderEventRow]] = defaultdict(list)
    for e in entries:
        per_order[e.order_id].append(e)
    rows, orders = {}, {}
    for order_id in per_order:
        # Re-read after the flush: a writer may have changed the row by a bulk UPDATE that left
        # the loaded copy as it was, and the event shows the order as this transaction leaves it.
        row = s.get(OrderRow, order_id, with_for_update=True, populate_existing=True)
        assert row is not None, "a timeline entry references its order"
        rows[order_id], orders[order_id] = row, _snapshot(s, row, day, now)
    # The global counter last, and only for the writes: its lock is held to commit.
    cursor = outbox.take_cursors(s, OrderEventCursorRow, len(entries))
    for order_id, mine in per_order.items():
        row, order = rows[order_id], orders[order_id]
        for e in mine:
            row.event_seq += 1
            entry = timeline_entry(e)
            ev = orders_pb2.OrderEvent(
                cursor=cursor,
                event_id=f"{order_id}:{row.event_seq}",
                type=type_of(e.action),
                order_id=order_id,
                sequence=row.event_seq,
                occurred_at=entry.at,
                recorded_at=to_timestamp(now),
                entry=entry,
                order=order,
            )
            s.add(
                OrderOutboxRow(
                    cursor=cursor,
                    order_id=order_id,
                    seq=row.event_seq,
                    type=ev.type,
                    buyer_id=row.buyer_id,
                    seller_id=row.seller_id,
                    recorded_at=now,
                    body=ev.SerializeToString(),
                )
            )
            cursor += 1


def _snapshot(s: Session, row: OrderRow, day: timedelta, now: datetime) -> orders_pb2.Order:
    data = OrderData(row, [], holds_of(s, row.id), entries_of(s, [row.id])[row.id])
    return order_to_proto(data, day, now)


def head(s: Session) -> int:
    return outbox.head(s, OrderEventCursorRow)


def read(
    s: Session, audience: Audience, after: int, *, order_id: str = "", types: Sequence[str] = (), limit: int
) -> Page[orders_pb2.OrderEvent]:
    """Events after `after` that the audience may see, oldest first, at most `limit`."""
    top = head(s)
    query = select(OrderOutboxRow.body, OrderOutboxRow.cursor).where(
        OrderOutboxRow.cursor > after, OrderOutboxRow.cursor <= top
    )
    if audience.buyer_id:
        query = query.where(OrderOutboxRow.buyer_id == audience.buyer_id)
    elif audience.seller_id:
        query = query.where(OrderOutboxRow.seller_id == audience.seller_id)
    if order_id:
        query = query.where(OrderOutboxRow.order_id == order_id)
    if types:
        query = query.where(OrderOutboxRow.type.in_(list(types)))
    rows = s.execute(query.order_by(OrderOutboxRow.cursor).limit(limit)).all()
    events = [orders_pb2.OrderEvent.FromString(body) for body, _ in rows]
    return Page(events, outbox.scanned_to([int(c) for _, c in rows], limit, after, top))
