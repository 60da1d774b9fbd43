"""The events outbox: events are written inside the transaction that records what they describe,
and read back by cursor for the watch stream, the events list and the webhook deliveries.

Why a per-dispute `seq` and a global `cursor` both: consumers order one dispute's events by
`seq` (no gaps, so a missing one is visible), and resume a whole feed from a `cursor`. Both are
given under locks held to commit (the dispute's read-model row, then the one cursor row, see
platform_common/outbox.py), so they increase in commit order.

Runs inside DisputeRepository's blocking sessions (no asyncio here).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispute_svc.events import type_of
from dispute_svc.store import DisputeRow, EventCursorRow, EventRow
from platform_common import outbox
from platform_common.outbox import Page
from platform_common.timestamps import to_timestamp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Audience:
    """Whose events a reader may see: a buyer's or seller's own disputes, arbiters those escalated
    (from their escalation on), services all."""

    buyer_id: str = ""
    seller_id: str = ""
    arbiter: bool = False


def _after_escalation(d: pb.Dispute, entry: common_pb2.TimelineEntry) -> bool:
    """Arbiters see a dispute's events from its escalation on, entry by entry: one record can
    carry the seller's answer and the escalation that followed it, and only the latter is theirs."""
    if not d.HasField("escalated_at"):
        return False
    at, escalated = entry.at, d.escalated_at
    return (at.seconds, at.nanos) >= (escalated.seconds, escalated.nanos)


def append(
    s: Session,
    row: DisputeRow,
    d: pb.Dispute,
    entries: Sequence[tuple[str, common_pb2.TimelineEntry, pb.DisputeMessage | None]],
    now: datetime,
) -> list[pb.DisputeEvent]:
    """Write events for `entries` (type, timeline entry, message) of the dispute whose read-model
    row `row` is locked by this transaction, with `d` as the dispute's state to show."""
    if not entries:
        return []
    first = outbox.take_cursors(s, EventCursorRow, len(entries))
    out = []
    for i, (kind, entry, message) in enumerate(entries):
        seq = row.event_seq + 1 + i
        event = _event(d, first + i, seq, f"{d.dispute_id}:{seq}", kind, entry, now)
        event.resolution = d.resolution
        event.deadlines.extend(d.deadlines)
        if message is not None:
            event.message.CopyFrom(message)
        _store(s, event, now, parties=True, arbiter_visible=_after_escalation(d, entry))
        out.append(event)
    row.event_seq += len(entries)
    return out


# Team-only events (the buyer flagged for review) sit outside the dispute's sequence: sequence 0,
# one per dispute (the unique sequence makes a retried write a no-op), stored with no party ids
# and not arbiter-visible, so only services read them, and only when they ask for their type:
# a consumer that forwards whatever it gets (a notifier) never receives one.
TEAM_SEQUENCE = 0


def append_team_event(
    s: Session,
    d: pb.Dispute,
    kind: str,
    entry: common_pb2.TimelineEntry,
    now: datetime,
) -> pb.DisputeEvent:
    """Write the one team-only event of dispute `d` (IntegrityError if it was written before)."""
    cursor = outbox.take_cursors(s, EventCursorRow, 1)
    event = _event(d, cursor, TEAM_SEQUENCE, f"{d.dispute_id}:team", kind, entry, now)
    _store(s, event, now, parties=False, arbiter_visible=False)
    return event


def _event(
    d: pb.Dispute,
    cursor: int,
    seq: int,
    event_id: str,
    kind: str,
    entry: common_pb2.TimelineEntry,
    now: datetime,
) -> pb.DisputeEvent:
    return pb.DisputeEvent(
        cursor=cursor,
        event_id=event_id,
        type=kind,
        dispute_id=d.dispute_id,
        sequence=seq,
        occurred_at=entry.at,
        recorded_at=to_timestamp(now),
        order_id=d.order_id,
        buyer_id=d.buyer_id,
        seller_id=d.seller_id,
        status=d.status,
        entry=entry,
    )


def _store(
    s: Session, event: pb.DisputeEvent, now: datetime, *, parties: bool, arbiter_visible: bool
) -> None:
    """The event's row; without party ids (a team-only event) no buyer or seller reader matches it."""
    s.add(
        EventRow(
            cursor=event.cursor,
            dispute_id=event.dispute_id,
            seq=event.sequence,
            type=event.type,
            buyer_id=event.buyer_id if parties else "",
            seller_id=event.seller_id if parties else "",
            arbiter_visible=arbiter_visible,
            recorded_at=now,
            body=event.SerializeToString(),
        )
    )


def append_timeline(s: Session, row: DisputeRow, d: pb.Dispute, now: datetime) -> None:
    """The timeline entries the workflow recorded since the row's last record become events.

    The workflow records only committed state (a regular activity, after its task), and a
    timeline only grows, so each record extends the last one. A shorter one means a record
    from before that guarantee (a dispute opened before it, retrying a lost task): nothing
    already sent is taken back or sent again, and it is logged for operators."""
    if len(d.timeline) < row.timeline_recorded:
        log.error(
            "dispute %s recorded a timeline of %d entries after one of %d; no events written",
            d.dispute_id,
            len(d.timeline),
            row.timeline_recorded,
        )
        return
    new = d.timeline[row.timeline_recorded :]
    append(s, row, d, [(type_of(e.action), e, None) for e in new], now)
    row.timeline_recorded = len(d.timeline)


def head(s: Session) -> int:
    return outbox.head(s, EventCursorRow)


def read(
    s: Session, audience: Audience, after: int, *, dispute_id: str = "", types: Sequence[str] = (), limit: int
) -> Page[pb.DisputeEvent]:
    """Events after `after` that the audience may see, oldest first, at most `limit`."""
    top = head(s)
    query = select(EventRow.body, EventRow.cursor).where(EventRow.cursor > after, EventRow.cursor <= top)
    if audience.buyer_id:
        query = query.where(EventRow.buyer_id == audience.buyer_id)
    elif audience.seller_id:
        query = query.where(EventRow.seller_id == audience.seller_id)
    elif audience.arbiter:
        query = query.where(EventRow.arbiter_visible.is_(True))
    if dispute_id:
        query = query.where(EventRow.dispute_id == dispute_id)
    if types:
        query = query.where(EventRow.type.in_(list(types)))
    else:
        query = query.where(EventRow.seq != TEAM_SEQUENCE)
    rows = s.execute(query.order_by(EventRow.cursor).limit(limit)).all()
    events = [pb.DisputeEvent.FromString(body) for body, _ in rows]
    return Page(events, outbox.scanned_to([int(c) for _, c in rows], limit, after, top))


def count(s: Session, dispute_id: str) -> int:
    return int(
        s.execute(
            select(func.count()).select_from(EventRow).where(EventRow.dispute_id == dispute_id)
        ).scalar_one()
    )
