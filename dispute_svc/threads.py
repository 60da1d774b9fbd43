"""Dispute threads: messages and internal notes, kept in DisputeService's store.

Why not in the workflow: a thread can run to thousands of messages, and every one in the
workflow's state would be carried in each update's answer, each read-model record and each
continue-as-new. Here a message is one row, written in one transaction with its event (the
outbox) under the dispute's read-model row lock, so the thread, the events and the closing of
the dispute are in one order: no message is accepted after the recorded close.

Runs inside DisputeRepository's blocking sessions (no asyncio here).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispute_svc import outbox
from dispute_svc.events import MESSAGE_POSTED
from dispute_svc.model import Party
from dispute_svc.policy import policy
from dispute_svc.requests import rule
from dispute_svc.rules import check_may_message
from dispute_svc.store import DisputeRow, MessageRow
from platform_common.enums import to_proto
from platform_common.errors import AlreadyExists, InvalidArgument, ResourceExhausted
from platform_common.timestamps import to_timestamp

RATE_LIMITED = "RATE_LIMITED"
# The thread's latest messages GetDispute merges into the timeline (the rest: ListMessages).
TIMELINE_MESSAGES = 20


@dataclass(frozen=True)
class NewMessage:
    dispute_id: str
    request_id: str
    fingerprint: str
    author_id: str
    party: Party
    text: str
    evidence_ids: list[str]
    internal: bool


def entry(m: pb.DisputeMessage) -> common_pb2.TimelineEntry:
    """A message as the timeline shows it."""
    return common_pb2.TimelineEntry(
        at=m.sent_at,
        actor=m.author,
        action="INTERNAL_NOTE" if m.internal else "MESSAGE_POSTED",
        detail=m.text,
    )


def may_write(row: DisputeRow, party: Party, internal: bool) -> None:
    """The thread's rule (dispute_svc/rules.py) on the dispute as recorded."""
    rule(check_may_message, row.status, party, row.escalated, internal=internal)


def existing(s: Session, m: NewMessage) -> pb.DisputeMessage | None:
    """The message a retried request already sent (ALREADY_EXISTS if the key was used for another)."""
    found = s.scalars(
        select(MessageRow).where(
            MessageRow.dispute_id == m.dispute_id,
            MessageRow.author_id == m.author_id,
            MessageRow.request_id == m.request_id,
        )
    ).first()
    if found is None:
        return None
    if found.fingerprint != m.fingerprint or found.author_role != m.party:
        raise AlreadyExists(f"request_id {m.request_id!r} was already used for a different message")
    return pb.DisputeMessage.FromString(found.body)


def check_rate(s: Session, row: DisputeRow, m: NewMessage, now: datetime) -> None:
    """The dispute's policy bounds how fast one sender writes: on this dispute, and on all."""
    p = policy(pb.Dispute.FromString(row.snapshot).policy_version)
    since = now - timedelta(seconds=p.message_window_seconds)
    recent = (
        select(func.count())
        .select_from(MessageRow)
        .where(MessageRow.author_id == m.author_id, MessageRow.sent_at > since)
    )
    here = s.execute(recent.where(MessageRow.dispute_id == m.dispute_id)).scalar_one()
    if here >= p.message_limit:
        raise ResourceExhausted(
            f"at most {p.message_limit} messages per sender and dispute in {p.message_window_seconds} s; "
            "wait and retry",
            RATE_LIMITED,
        )
    if s.execute(recent).scalar_one() >= p.sender_message_limit:
        raise ResourceExhausted(
            f"at most {p.sender_message_limit} messages per sender in {p.message_window_seconds} s on all "
            "disputes; wait and retry",
            RATE_LIMITED,
        )


def post(s: Session, row: DisputeRow, m: NewMessage, now: datetime) -> pb.DisputeMessage:
    """Write the message and, unless it is an internal note, its event; `row` is locked."""
    position = int(
        s.execute(
            select(func.coalesce(func.max(MessageRow.position), 0)).where(
                MessageRow.dispute_id == m.dispute_id
            )
        ).scalar_one()
    )
    message = pb.DisputeMessage(
        message_id=str(uuid.uuid4()),
        dispute_id=m.dispute_id,
        author=common_pb2.Actor(id=m.author_id, role=to_proto(common_pb2.Role, m.party)),
        text=m.text,
        evidence_ids=m.evidence_ids,
        internal=m.internal,
        sent_at=to_timestamp(now),
    )
    s.add(
        MessageRow(
            message_id=message.message_id,
            dispute_id=m.dispute_id,
            author_id=m.author_id,
            author_role=m.party,
            request_id=m.request_id,
            fingerprint=m.fingerprint,
            internal=m.internal,
            sent_at=now,
            position=position + 1,
            body=message.SerializeToString(),
        )
    )
    if not m.internal:  # notes are never events: nothing a party could be sent
        dispute = pb.Dispute.FromString(row.snapshot)
        outbox.append(s, row, dispute, [(MESSAGE_POSTED, entry(message), message)], now)
    return message


def _token(position: int) -> str:
    return base64.urlsafe_b64encode(f"m{position}".encode()).decode()


def _position(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token.encode()).decode()
        if len(token) > 64 or not raw.startswith("m") or not raw[1:].isdigit() or len(raw) > 19:
            raise ValueError(token)
        value = int(raw[1:])
        if value < 0:
            raise ValueError(token)
        return value
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(
            "page_token is malformed; pass the next_page_token of the previous page"
        ) from None


def page(
    s: Session, dispute_id: str, *, with_notes: bool, size: int, token: str
) -> tuple[list[pb.DisputeMessage], str]:
    """Oldest first, from after the token's position."""
    after = _position(token) if token else 0
    query = select(MessageRow.body, MessageRow.position).where(
        MessageRow.dispute_id == dispute_id, MessageRow.position > after
    )
    if not with_notes:
        query = query.where(MessageRow.internal.is_(False))
    rows = s.execute(query.order_by(MessageRow.position).limit(size + 1)).all()
    more = len(rows) > size
    rows = rows[:size]
    messages = [pb.DisputeMessage.FromString(body) for body, _ in rows]
    return messages, _token(int(rows[-1][1])) if more else ""


def latest(s: Session, dispute_id: str, *, with_notes: bool) -> tuple[list[pb.DisputeMessage], int]:
    """The newest TIMELINE_MESSAGES (oldest first) and how many the caller may see in all."""
    where = [MessageRow.dispute_id == dispute_id]
    if not with_notes:
        where.append(MessageRow.internal.is_(False))
    total = int(s.execute(select(func.count()).select_from(MessageRow).where(*where)).scalar_one())
    rows = s.scalars(
        select(MessageRow.body).where(*where).order_by(MessageRow.position.desc()).limit(TIMELINE_MESSAGES)
    ).all()
    return [pb.DisputeMessage.FromString(b) for b in reversed(rows)], total
