"""Party histories over the read model on SQLite and PostgreSQL: which window they cover, the
seller's first answer and a silence told apart from a buyer's (an automatic escalation after the
seller answered is the buyer's silence, not the seller's), outcomes and losses; and the buyer's
openings the review threshold counts, from the openings register."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb

from dispute_svc.repository import DisputeRepository, Recorded
from dispute_svc.store import ABANDONED, OPENING, STARTED, OpeningRow
from platform_common.timestamps import to_timestamp

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def snapshot(
    buyer: str, seller: str, opened: datetime, status: str, steps: list[tuple[float, str]], order: str = ""
) -> Recorded:
    """A dispute opened at `opened` whose timeline has `steps` (hours after opening, action)."""
    d = pb.Dispute(
        dispute_id=str(uuid.uuid4()),
        order_id=order or str(uuid.uuid4()),
        buyer_id=buyer,
        seller_id=seller,
        status=pb.DisputeStatus.Value(f"DISPUTE_STATUS_{status}"),
        opened_at=to_timestamp(opened),
        updated_at=to_timestamp(opened),
        timeline=[common_pb2.TimelineEntry(at=to_timestamp(opened), action="DISPUTE_OPENED")]
        + [
            common_pb2.TimelineEntry(at=to_timestamp(opened + timedelta(hours=h)), action=a) for h, a in steps
        ],
    )
    resolution = "SELLER_ACCEPTED" if status == "CLOSED_REFUNDED" else ""
    return Recorded(d, 1, status, resolution, opened, opened)


async def test_histories_count_the_window_answers_silences_and_losses(
    dispute_repo: DisputeRepository,
) -> None:
    since = NOW - timedelta(days=90)
    shared_order = str(uuid.uuid4())
    seeded = [
        # answered after 2 h, lost
        snapshot("b1", "s1", NOW - timedelta(days=1), "CLOSED_REFUNDED", [(2, "SELLER_ACCEPTED")]),
        # silent: escalated by itself before any answer
        snapshot("b1", "s1", NOW - timedelta(days=2), "UNDER_ARBITRATION", [(360, "AUTO_ESCALATED")]),
        # silent: the policy refunded the buyer
        snapshot("b2", "s1", NOW - timedelta(days=3), "CLOSED_REFUNDED", [(360, "SELLER_TIMEOUT_REFUND")]),
        # answered after 10 h; the buyer's silence escalated it afterwards: not the seller's
        snapshot(
            "b1",
            "s1",
            NOW - timedelta(days=4),
            "UNDER_ARBITRATION",
            [(10, "COUNTER_OFFER"), (200, "AUTO_ESCALATED")],
        ),
        # a second dispute on the same order (one disputed order), cancelled before any answer
        snapshot("b1", "s1", NOW - timedelta(days=5), "CLOSED_CANCELLED", [(1, "CANCELLED")], shared_order),
        snapshot("b1", "s1", NOW - timedelta(days=6), "CLOSED_CANCELLED", [(1, "CANCELLED")], shared_order),
        # outside the window, and another seller's
        snapshot("b1", "s1", NOW - timedelta(days=91), "CLOSED_REFUNDED", [(1, "SELLER_ACCEPTED")]),
        snapshot("b1", "s2", NOW - timedelta(days=1), "AWAITING_SELLER_RESPONSE", []),
        # still inside the seller's window: neither an answer nor a silence yet
        snapshot("b3", "s1", NOW - timedelta(hours=1), "AWAITING_SELLER_RESPONSE", []),
    ]
    for r in seeded:
        assert await dispute_repo.record(r)

    seller = await dispute_repo.histories.of(seller_id="s1", since=since)
    assert seller.disputes == 7 and seller.still_open == 3
    assert seller.lost == 2 and seller.silent == 2 and seller.answered == 2
    # 2 silences of the 4 disputes whose window ended: not of all 7 (two were cancelled first,
    # one is still in its window)
    assert seller.silent_share == 0.5
    assert sorted(seller.response_times) == [timedelta(hours=2), timedelta(hours=10)]
    buyer = await dispute_repo.histories.of(buyer_id="b1", since=since)
    assert buyer.disputes == 6 and buyer.still_open == 3
    assert buyer.outcomes == {"SELLER_ACCEPTED": 1, "UNSPECIFIED": 2}
    nobody = await dispute_repo.histories.of(buyer_id="nobody", since=since)
    assert (nobody.disputes, nobody.silent_share, nobody.outcomes) == (0, 0.0, {})


def opening(buyer: str, created: datetime, state: str) -> OpeningRow:
    return OpeningRow(
        dispute_id=str(uuid.uuid4()),
        order_id=str(uuid.uuid4()),
        buyer_id=buyer,
        request_id=str(uuid.uuid4()),
        fingerprint="f",
        attempt=None if state == ABANDONED else 1,
        created_at=created,
        state=state,
        token="t",
        inflight=1 if state == OPENING else 0,
    )


async def test_the_review_count_reads_the_openings_register(dispute_repo: DisputeRepository) -> None:
    """Written before OpenDispute answers, so openings in quick succession each count the ones
    before them (the read model would not have them yet). Abandoned ones never started."""
    buyer = f"b-{uuid.uuid4().hex[:8]}"
    rows = [
        opening(buyer, NOW - timedelta(days=1), STARTED),
        opening(buyer, NOW - timedelta(days=2), STARTED),
        opening(buyer, NOW - timedelta(seconds=1), OPENING),  # another call opening right now
        opening(buyer, NOW - timedelta(days=3), ABANDONED),
        opening(buyer, NOW - timedelta(days=91), STARTED),  # outside the window
        opening("someone-else", NOW, STARTED),
    ]
    for r in rows:
        await dispute_repo.openings.add(r)
    since = NOW - timedelta(days=90)
    this = opening(buyer, NOW, OPENING)
    await dispute_repo.openings.add(this)
    assert await dispute_repo.openings.opened_by(buyer, since, besides=this.dispute_id) == 3
    assert await dispute_repo.openings.opened_by(buyer, NOW - timedelta(days=1, hours=1), besides="") == 3
    assert await dispute_repo.openings.opened_by("nobody", since, besides="") == 0
