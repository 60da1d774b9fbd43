"""The events outbox on SQLite and PostgreSQL under concurrency: many disputes recorded and
messaged at once while a reader follows the feed. The reader never misses an event (cursors
commit in order), each dispute's sequence has no gap or repeat, and nothing is written twice."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime

import pytest
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb

from dispute_svc.model import Party
from dispute_svc.outbox import Audience
from dispute_svc.repository import DisputeRepository, Recorded
from dispute_svc.threads import NewMessage
from platform_common.timestamps import to_timestamp

pytestmark = pytest.mark.integration

DISPUTES = 12
RECORDS = 8  # revisions per dispute, one timeline entry each
MESSAGES = 4  # per dispute


def snapshot(dispute_id: str, entries: int) -> pb.Dispute:
    at = to_timestamp(datetime.now(UTC))
    return pb.Dispute(
        dispute_id=dispute_id,
        order_id=str(uuid.uuid4()),
        buyer_id=f"buyer-{dispute_id[:4]}",
        seller_id="seller-1",
        status=pb.DISPUTE_STATUS_AWAITING_SELLER_RESPONSE,
        policy_version="2026-11-standard",
        opened_at=at,
        updated_at=at,
        timeline=[
            common_pb2.TimelineEntry(at=at, action="CLAIM_MODIFIED", detail=str(i)) for i in range(entries)
        ],
    )


async def test_a_reader_following_concurrent_writers_misses_nothing(dispute_repo: DisputeRepository) -> None:
    ids = [str(uuid.uuid4()) for _ in range(DISPUTES)]
    now = datetime.now(UTC)
    for d in ids:  # every dispute exists before the storm (the first record creates the row)
        assert await dispute_repo.record(
            Recorded(snapshot(d, 1), 1, "AWAITING_SELLER_RESPONSE", "", now, now)
        )

    async def records(d: str) -> None:
        for revision in range(2, RECORDS + 1):
            # Retries and reordering: each revision is sent twice, sometimes the older one late.
            await dispute_repo.record(
                Recorded(snapshot(d, revision), revision, "AWAITING_SELLER_RESPONSE", "", now, now)
            )
            await asyncio.sleep(random.random() / 200)
            await dispute_repo.record(
                Recorded(snapshot(d, revision - 1), revision - 1, "AWAITING_SELLER_RESPONSE", "", now, now)
            )

    async def messages(d: str) -> None:
        for i in range(MESSAGES):
            m = NewMessage(d, f"r{i}", f"fp{i}", f"buyer-{d[:4]}", Party.BUYER, f"hello {i}", [], False)
            await dispute_repo.post_message(m)
            await dispute_repo.post_message(m)  # a retried key is the same message, not a second event

    seen: list[pb.DisputeEvent] = []
    writing = True

    async def reader() -> None:
        cursor = 0
        while True:
            done = not writing
            page = await dispute_repo.events(Audience(), cursor, limit=7)
            seen.extend(page.events)
            cursor = page.scanned
            if done and not page.events:
                return
            await asyncio.sleep(0.001)

    following = asyncio.create_task(reader())
    await asyncio.gather(*(records(d) for d in ids), *(messages(d) for d in ids))
    writing = False
    await following

    expected = DISPUTES * (RECORDS + MESSAGES)
    assert await dispute_repo.head() == expected
    assert [e.cursor for e in seen] == list(range(1, expected + 1)), (
        "the follower saw every cursor once, in order"
    )
    for d in ids:
        mine = [e for e in seen if e.dispute_id == d]
        assert [e.sequence for e in mine] == list(range(1, RECORDS + MESSAGES + 1))
        assert [e.entry.detail for e in mine if e.type != "dispute.message_posted"] == [
            str(i) for i in range(RECORDS)
        ]
        assert [e.message.text for e in mine if e.type == "dispute.message_posted"] == [
            f"hello {i}" for i in range(MESSAGES)
        ]


async def test_racing_first_records_of_one_dispute_write_each_event_once(
    dispute_repo: DisputeRepository,
) -> None:
    """Retries of a dispute's first records, all at once (the row does not exist yet): one wins
    each revision, and the events are each entry once, numbered 1, 2, 3, ..."""
    ids = [str(uuid.uuid4()) for _ in range(6)]
    now = datetime.now(UTC)

    async def record(d: str, revision: int) -> None:
        await dispute_repo.record(
            Recorded(snapshot(d, revision), revision, "AWAITING_SELLER_RESPONSE", "", now, now)
        )

    await asyncio.gather(*(record(d, r) for d in ids for r in (1, 2, 3, 1, 3, 2) for _ in range(2)))
    for d in ids:
        page = await dispute_repo.events(Audience(), 0, dispute_id=d, limit=50)
        assert [e.sequence for e in page.events] == [1, 2, 3]
        assert [e.entry.detail for e in page.events] == ["0", "1", "2"]
