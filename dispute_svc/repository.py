"""DisputeService's store: the read model that RecordDisputeState keeps current, and the
openings register (dispute_svc/openings.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from common.v1 import common_pb2
from disputes.v1 import disputes_pb2
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispute_svc import outbox, threads
from dispute_svc.events import BUYER_FLAGGED, type_of
from dispute_svc.gauges import dispute_gauges
from dispute_svc.openings import Openings
from dispute_svc.outbox import Audience
from dispute_svc.queue import ArbitrationQueue, queue_columns, record_decisions
from dispute_svc.signals import PartyHistories, signal_columns
from dispute_svc.store import ABANDONED, ABANDONING, MIGRATIONS, OPENING, STARTED, DisputeRow, OpeningRow
from dispute_svc.webhook_store import WebhookStore
from platform_common.access import DISPUTE_SVC
from platform_common.metrics import Gauge
from platform_common.outbox import Page
from platform_common.paging import keyset, split_page
from platform_common.sql import SqlStore
from platform_common.timestamps import to_timestamp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recorded:
    """A validated RecordDisputeState: the snapshot and the columns lists filter on."""

    dispute: disputes_pb2.Dispute
    revision: int
    status: str
    resolution: str
    opened_at: datetime
    updated_at: datetime


def _revive_abandoned(s: Session, d: disputes_pb2.Dispute) -> None:
    """An opening settled as never started, whose workflow then did start (a start that
    committed after every grace): it counts again, with its attempt number if still free, so
    the opening rules see the dispute. Should never happen; loud if it does."""
    opening = s.get(OpeningRow, d.dispute_id)
    if opening is None or opening.state != ABANDONED:
        return
    log.error("dispute %s started after its opening was abandoned; counting it again", d.dispute_id)
    try:
        with s.begin_nested():
            opening.state, opening.attempt = STARTED, d.attempt
    except IntegrityError:
        log.error(
            "dispute %s: attempt %d on order %s is taken; kept without one",
            d.dispute_id,
            d.attempt,
            d.order_id,
        )
        opening.state, opening.attempt = STARTED, None


class DisputeRepository:
    def __init__(self, url: str) -> None:
        self._sql = SqlStore(url, MIGRATIONS, "dispute-db")
        self.openings = Openings(self._sql)
        self.webhooks = WebhookStore(self._sql)
        self.queue = ArbitrationQueue(self._sql)
        self.histories = PartyHistories(self._sql)

    def close(self) -> None:
        self._sql.close()

    def gauges(self) -> list[Gauge]:
        """The platform gauges (dispute_svc/gauges.py), read now: called by a metrics scrape."""
        with self._sql.sessions() as s:
            return dispute_gauges(s)

    # --- read model ---------------------------------------------------------------------------

    async def record(self, record: Recorded) -> bool:
        return await self._sql.write(self._record, record)

    def _record(self, r: Recorded) -> bool:
        d, revision = r.dispute, r.revision
        values = {
            "order_id": d.order_id,
            "buyer_id": d.buyer_id,
            "seller_id": d.seller_id,
            "status": r.status,
            "escalated": d.HasField("escalated_at"),
            "resolution": r.resolution,
            "opened_at": r.opened_at,
            "updated_at": r.updated_at,
            "revision": revision,
            "snapshot": d.SerializeToString(),
            **queue_columns(d),
            **signal_columns(d),
        }
        with self._sql.sessions.begin() as s:
            # The workflow records itself, so it exists: its opening has started.
            s.execute(
                update(OpeningRow)
                .where(OpeningRow.dispute_id == d.dispute_id, OpeningRow.state.in_((OPENING, ABANDONING)))
                .values(state=STARTED, inflight=0, lease_until=None, settle_after=None)
            )
            _revive_abandoned(s, d)
            row = s.get(DisputeRow, d.dispute_id, with_for_update=not self._sql.is_sqlite)
            if row is None:
                fresh = DisputeRow(dispute_id=d.dispute_id, timeline_recorded=0, event_seq=0, **values)
                try:
                    with s.begin_nested():
                        s.add(fresh)
                except IntegrityError:  # a concurrent first record won; compare revisions with it
                    row = s.get(DisputeRow, d.dispute_id, with_for_update=not self._sql.is_sqlite)
                    assert row is not None
                else:
                    outbox.append_timeline(s, fresh, d, datetime.now(UTC))
                    record_decisions(s, d)
                    return True
            if row.revision >= revision:
                return False
            if row.timeline_recorded < 0:
                # Recorded before the outbox existed (migration 0004): its events start after
                # what it had then, so an old dispute's past is not announced as news.
                row.timeline_recorded = len(disputes_pb2.Dispute.FromString(row.snapshot).timeline)
            for key, value in values.items():
                setattr(row, key, value)
            # In this transaction: the events and the state they describe commit together or not at all.
            outbox.append_timeline(s, row, d, datetime.now(UTC))
            record_decisions(s, d)
            return True

    async def get(self, dispute_id: str) -> disputes_pb2.Dispute | None:
        return await self._sql.run(self._get, dispute_id)

    def _get(self, dispute_id: str) -> disputes_pb2.Dispute | None:
        with self._sql.sessions() as s:
            row = s.get(DisputeRow, dispute_id)
            return None if row is None else disputes_pb2.Dispute.FromString(row.snapshot)

    async def search(
        self,
        *,
        buyer_id: str,
        seller_id: str,
        status: str,
        order_id: str,
        size: int,
        token: str,
        escalated_only: bool = False,
    ) -> tuple[list[disputes_pb2.Dispute], str]:
        return await self._sql.run(
            self._list, buyer_id, seller_id, status, order_id, size, token, escalated_only
        )

    def _list(
        self,
        buyer_id: str,
        seller_id: str,
        status: str,
        order_id: str,
        size: int,
        token: str,
        escalated_only: bool,
    ) -> tuple[list[disputes_pb2.Dispute], str]:
        query = select(DisputeRow)
        if escalated_only:
            query = query.where(DisputeRow.escalated.is_(True))
        for column, value in (
            (DisputeRow.buyer_id, buyer_id),
            (DisputeRow.seller_id, seller_id),
            (DisputeRow.status, status),
            (DisputeRow.order_id, order_id),
        ):
            if value:
                query = query.where(column == value)
        query = keyset(query, DisputeRow.opened_at, DisputeRow.dispute_id, size, token)
        with self._sql.sessions() as s:
            rows = list(s.scalars(query).all())
        page, next_token = split_page(rows, size, lambda r: (r.opened_at, r.dispute_id))
        return [disputes_pb2.Dispute.FromString(r.snapshot) for r in page], next_token

    # --- events and threads -------------------------------------------------------------------

    async def events(
        self,
        audience: Audience,
        after: int,
        *,
        dispute_id: str = "",
        types: list[str] | None = None,
        limit: int,
    ) -> Page[disputes_pb2.DisputeEvent]:
        return await self._sql.run(self._events, audience, after, dispute_id, types or [], limit)

    def _events(
        self, audience: Audience, after: int, dispute_id: str, types: list[str], limit: int
    ) -> Page[disputes_pb2.DisputeEvent]:
        with self._sql.sessions() as s:
            return outbox.read(s, audience, after, dispute_id=dispute_id, types=types, limit=limit)

    async def head(self) -> int:
        return await self._sql.run(self._head)

    def _head(self) -> int:
        with self._sql.sessions() as s:
            return outbox.head(s)

    async def row_facts(self, dispute_id: str) -> tuple[str, str, str, bool, list[str]] | None:
        """(buyer, seller, status, escalated, evidence ids) as recorded, or None if never recorded."""
        return await self._sql.run(self._row_facts, dispute_id)

    def _row_facts(self, dispute_id: str) -> tuple[str, str, str, bool, list[str]] | None:
        with self._sql.sessions() as s:
            row = s.get(DisputeRow, dispute_id)
            if row is None:
                return None
            evidence = list(disputes_pb2.Dispute.FromString(row.snapshot).evidence_ids)
            return row.buyer_id, row.seller_id, row.status, row.escalated, evidence

    async def flag_for_review(self, d: disputes_pb2.Dispute, detail: str) -> bool:
        """Write the team-only event flagging the buyer for review; False if it was written."""
        return await self._sql.write(self._flag_for_review, d, detail)

    def _flag_for_review(self, d: disputes_pb2.Dispute, detail: str) -> bool:
        now = datetime.now(UTC)
        entry = common_pb2.TimelineEntry(
            at=to_timestamp(now),
            actor=common_pb2.Actor(id=DISPUTE_SVC, role=common_pb2.ROLE_SERVICE),
            action=BUYER_FLAGGED,
            detail=detail,
        )
        try:
            with self._sql.sessions.begin() as s:
                outbox.append_team_event(s, d, type_of(BUYER_FLAGGED), entry, now)
        except IntegrityError:
            return False  # one per dispute: a retried opening wrote it already
        return True

    async def post_message(
        self, m: threads.NewMessage, *, check_only: bool = False
    ) -> disputes_pb2.DisputeMessage | None:
        """Send a message (or, with check_only, only check that it would be accepted now: the
        thread's rule, the key, the rate). Returns the message (an earlier one for a retried key)."""
        return await self._sql.write(self._post_message, m, check_only)

    def _post_message(self, m: threads.NewMessage, check_only: bool) -> disputes_pb2.DisputeMessage | None:
        now = datetime.now(UTC)
        with self._sql.sessions.begin() as s:
            row = s.get(DisputeRow, m.dispute_id, with_for_update=not self._sql.is_sqlite)
            assert row is not None, "post_message after row_facts found the dispute"
            sent = threads.existing(s, m)
            if sent is not None:
                return sent
            threads.may_write(row, m.party, m.internal)
            threads.check_rate(s, row, m, now)
            if check_only:
                return None
            return threads.post(s, row, m, now)

    async def messages(
        self, dispute_id: str, *, with_notes: bool, size: int, token: str
    ) -> tuple[list[disputes_pb2.DisputeMessage], str]:
        return await self._sql.run(self._messages, dispute_id, with_notes, size, token)

    def _messages(
        self, dispute_id: str, with_notes: bool, size: int, token: str
    ) -> tuple[list[disputes_pb2.DisputeMessage], str]:
        with self._sql.sessions() as s:
            return threads.page(s, dispute_id, with_notes=with_notes, size=size, token=token)

    async def latest_messages(
        self, dispute_id: str, *, with_notes: bool
    ) -> tuple[list[disputes_pb2.DisputeMessage], int]:
        return await self._sql.run(self._latest_messages, dispute_id, with_notes)

    def _latest_messages(
        self, dispute_id: str, with_notes: bool
    ) -> tuple[list[disputes_pb2.DisputeMessage], int]:
        with self._sql.sessions() as s:
            return threads.latest(s, dispute_id, with_notes=with_notes)
